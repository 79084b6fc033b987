/*
 * test_safefile.c -- safefile.c: publish, no-replace, replace, the linkat
 * fallback (renameat2 is interposed here to fail as on a file system
 * without RENAME_NOREPLACE), symlinks refused, and nothing left behind
 * when a step fails.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "safefile.h"

static int fake_errno;		/* renameat2 fails with this when set */
static int renameat2_calls;

/* Interposed: safefile.c's calls land here (the test binary wins). */
int
renameat2(int ofd, const char *from, int nfd, const char *to,
    unsigned int flags)
{
	renameat2_calls++;
	if (fake_errno != 0) {
		errno = fake_errno;
		return -1;
	}
	return (int)syscall(SYS_renameat2, ofd, from, nfd, to, flags);
}

static int
mkdir_tmp(char *dir, size_t len)
{
	snprintf(dir, len, "%s/test_safefile.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
rm_tmp(const char *dir, int dfd)
{
	char cmd[600];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* The content of name in dfd, or "" (absent). */
static const char *
slurp(int dfd, const char *name)
{
	static char b[256];
	ssize_t n;
	int fd;

	b[0] = '\0';
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW)) == -1)
		return b;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	b[n > 0 ? n : 0] = '\0';
	return b;
}

static int
exists(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
test_publish(void **state)
{
	char dir[512];
	struct stat st;
	int dfd = mkdir_tmp(dir, sizeof(dir));

	assert_true(dfd != -1);
	fake_errno = 0;
	renameat2_calls = 0;
	assert_int_equal(sfile_put(dfd, "t1", "final", "hello", 5, 0640,
	    SFILE_NOREPLACE), 0);
	assert_string_equal(slurp(dfd, "final"), "hello");
	assert_false(exists(dfd, "t1"));
	assert_int_equal(renameat2_calls, 1);
	assert_int_equal(fstatat(dfd, "final", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0640 & ~umask(077) & 0777);

	/* no-replace: the name is taken, the old content stays */
	errno = 0;
	assert_int_equal(sfile_put(dfd, "t1", "final", "other", 5, 0600,
	    SFILE_NOREPLACE), -1);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(slurp(dfd, "final"), "hello");
	assert_false(exists(dfd, "t1"));

	/* replace: the new content wins */
	assert_int_equal(sfile_put(dfd, "t1", "final", "newer", 5, 0600,
	    SFILE_REPLACE), 0);
	assert_string_equal(slurp(dfd, "final"), "newer");
	assert_false(exists(dfd, "t1"));
	rm_tmp(dir, dfd);
}

static void
test_fallback(void **state)
{
	static const int errs[] = { EINVAL, ENOSYS, ENOTSUP };
	char dir[512];
	size_t i;
	int dfd = mkdir_tmp(dir, sizeof(dir));

	assert_true(dfd != -1);
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		fake_errno = errs[i];
		renameat2_calls = 0;
		unlinkat(dfd, "final", 0);
		assert_int_equal(sfile_put(dfd, "t2", "final", "via link", 8,
		    0600, SFILE_NOREPLACE), 0);
		assert_int_equal(renameat2_calls, 1);
		assert_string_equal(slurp(dfd, "final"), "via link");
		assert_false(exists(dfd, "t2"));
		/* linkat never replaces either */
		errno = 0;
		assert_int_equal(sfile_put(dfd, "t2", "final", "lost", 4,
		    0600, SFILE_NOREPLACE), -1);
		assert_int_equal(errno, EEXIST);
		assert_string_equal(slurp(dfd, "final"), "via link");
		assert_false(exists(dfd, "t2"));
	}
	/* Another error is an error: no fallback then. */
	fake_errno = EXDEV;
	errno = 0;
	assert_int_equal(sfile_put(dfd, "t2", "other", "x", 1, 0600,
	    SFILE_NOREPLACE), -1);
	assert_int_equal(errno, EXDEV);
	assert_false(exists(dfd, "other"));
	assert_false(exists(dfd, "t2"));
	fake_errno = 0;
	rm_tmp(dir, dfd);
}

static void
test_symlinks(void **state)
{
	char dir[512];
	int dfd = mkdir_tmp(dir, sizeof(dir)), fd;

	assert_true(dfd != -1);
	fake_errno = 0;
	assert_int_equal(sfile_put(dfd, "t3", "victim", "precious", 8, 0600,
	    SFILE_NOREPLACE), 0);
	/* a symlink planted at the temporary name is not followed */
	assert_int_equal(symlinkat("victim", dfd, "t3"), 0);
	errno = 0;
	assert_int_equal(sfile_create(dfd, "t3", 0600), -1);
	assert_int_equal(errno, EEXIST);
	errno = 0;
	assert_int_equal(sfile_put(dfd, "t3", "x", "evil", 4, 0600,
	    SFILE_NOREPLACE), -1);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(slurp(dfd, "victim"), "precious");
	assert_true(exists(dfd, "t3"));		/* not ours: left alone */
	assert_false(exists(dfd, "x"));
	/* a dangling one too: nothing is created through it */
	assert_int_equal(symlinkat("created-through", dfd, "t4"), 0);
	assert_int_equal(sfile_create(dfd, "t4", 0600), -1);
	assert_false(exists(dfd, "created-through"));
	/* a symlink at the published name is not replaced */
	assert_int_equal(symlinkat("victim", dfd, "pub"), 0);
	errno = 0;
	assert_int_equal(sfile_put(dfd, "t5", "pub", "evil", 4, 0600,
	    SFILE_NOREPLACE), -1);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(slurp(dfd, "victim"), "precious");
	/* create gives a writable descriptor; sync_close closes it */
	assert_true((fd = sfile_create(dfd, "t6", 0600)) != -1);
	assert_int_equal(write(fd, "a", 1), 1);
	assert_int_equal(sfile_sync_close(fd), 0);
	assert_int_equal(close(fd), -1);	/* already closed */
	errno = 0;
	assert_int_equal(sfile_sync_close(-1), -1);
	assert_int_equal(errno, EBADF);
	rm_tmp(dir, dfd);
}

/* A failed publish leaves neither the temporary nor a half file. */
static void
test_failure_cleans(void **state)
{
	char dir[512];
	int dfd = mkdir_tmp(dir, sizeof(dir));

	assert_true(dfd != -1);
	fake_errno = 0;
	assert_int_equal(mkdirat(dfd, "adir", 0700), 0);
	assert_int_equal(mkdirat(dfd, "adir/sub", 0700), 0);
	errno = 0;
	assert_int_equal(sfile_put(dfd, "t7", "adir", "x", 1, 0600,
	    SFILE_REPLACE), -1);
	assert_true(errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST);
	assert_false(exists(dfd, "t7"));
	/* no such directory for the temporary */
	errno = 0;
	assert_int_equal(sfile_put(dfd, "nodir/t8", "y", "x", 1, 0600,
	    SFILE_NOREPLACE), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(exists(dfd, "y"));
	rm_tmp(dir, dfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_symlinks),
		cmocka_unit_test(test_failure_cleans),
	};

	umask(077);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
