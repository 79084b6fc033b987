/*
 * test_safefile.c -- safefile.c: publish, no-replace, replace, the linkat
 * fallback (renameat2 is interposed here to fail as on a file system
 * without RENAME_NOREPLACE), symlinks refused, and nothing left behind
 * when a step fails; NFS's lost replies (linkat interposed to make the
 * link and answer EEXIST, as a retransmitted LINK does); the lock file:
 * exclusion between processes, stale locks (dead holder, old by the
 * file's clock), and a property test of many processes counting under it.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

static int lost_reply;		/* linkat links, then fails EEXIST */
static int linkat_calls;

/* Interposed: an NFS LINK whose reply was lost and that was sent again. */
int
linkat(int ofd, const char *from, int nfd, const char *to, int flags)
{
	int r = (int)syscall(SYS_linkat, ofd, from, nfd, to, flags);

	linkat_calls++;
	if (r == 0 && lost_reply) {
		errno = EEXIST;
		return -1;
	}
	return r;
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

/* Publishing at a taken name fails EEXIST: keep stays, tmp is gone. */
static void
put_refused(int dfd, const char *tmp, const char *name, const char *keep)
{
	errno = 0;
	assert_int_equal(sfile_put(dfd, tmp, name, "lost", 4, 0600,
	    SFILE_NOREPLACE), -1);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(slurp(dfd, name), keep);
	assert_false(exists(dfd, tmp));
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
	put_refused(dfd, "t1", "final", "hello");

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
		put_refused(dfd, "t2", "final", "via link");
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

/* NFS: the link was made but its reply lost; the inode says it is ours. */
static void
test_lost_reply(void **state)
{
	char dir[512], err[300];
	int dfd = mkdir_tmp(dir, sizeof(dir));

	assert_true(dfd != -1);
	fake_errno = EINVAL;		/* no RENAME_NOREPLACE: linkat */
	lost_reply = 1;
	linkat_calls = 0;
	assert_int_equal(sfile_put(dfd, "t9", "final", "once", 4, 0600,
	    SFILE_NOREPLACE), 0);
	assert_int_equal(linkat_calls, 1);
	assert_string_equal(slurp(dfd, "final"), "once");
	assert_false(exists(dfd, "t9"));
	/* a name really taken stays an error, the old file untouched */
	put_refused(dfd, "t9", "final", "once");
	/* the lock too */
	assert_int_equal(sfile_lock(dfd, "L", 0, 3600, err, sizeof(err)), 0);
	assert_int_equal(sfile_unlock(dfd, "L"), 0);
	lost_reply = 0;
	fake_errno = 0;
	rm_tmp(dir, dfd);
}

/* Writes "<host> <pid>\n" as a holder would, mtime age seconds ago. */
static void
plant_lock(int dfd, const char *host, long pid, time_t age)
{
	struct timespec ts[2];
	char b[300];
	int fd;

	snprintf(b, sizeof(b), "%s %ld\n", host, pid);
	assert_true((fd = openat(dfd, "L", O_WRONLY | O_CREAT | O_EXCL,
	    0600)) != -1);
	assert_int_equal(write(fd, b, strlen(b)), (ssize_t)strlen(b));
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static void
test_lock(void **state)
{
	char dir[512], err[300];
	pid_t pid;
	int dfd = mkdir_tmp(dir, sizeof(dir)), st;

	assert_true(dfd != -1);
	assert_int_equal(sfile_lock(dfd, "L", 0, 3600, err, sizeof(err)), 0);
	/* another process of this host, the holder alive: it waits, fails */
	if ((pid = fork()) == 0)
		_exit(sfile_lock(dfd, "L", 1, 3600, err, sizeof(err)) == -1 &&
		    errno == EWOULDBLOCK && strstr(err, "held by") ? 0 : 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(sfile_unlock(dfd, "L"), 0);
	assert_false(exists(dfd, "L"));

	/* a holder that died on this host: broken at once */
	if ((pid = fork()) == 0)
		_exit(sfile_lock(dfd, "L", 0, 3600, err, sizeof(err)) == 0 ?
		    0 : 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(exists(dfd, "L"));
	assert_int_equal(sfile_lock(dfd, "L", 0, 3600, err, sizeof(err)), 0);
	assert_int_equal(sfile_unlock(dfd, "L"), 0);

	/* another host's: its pid means nothing here, only its age counts */
	plant_lock(dfd, "other-host.example", (long)getpid() + 100000, 60);
	errno = 0;
	assert_int_equal(sfile_lock(dfd, "L", 0, 3600, err, sizeof(err)), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_non_null(strstr(err, "other-host.example"));
	assert_int_equal(unlinkat(dfd, "L", 0), 0);
	plant_lock(dfd, "other-host.example", 1, 4000);
	assert_int_equal(sfile_lock(dfd, "L", 0, 3600, err, sizeof(err)), 0);
	/* broken as stale and taken by another since: not ours to remove */
	assert_int_equal(unlinkat(dfd, "L", 0), 0);
	plant_lock(dfd, "other-host.example", 1, 0);
	errno = 0;
	assert_int_equal(sfile_unlock(dfd, "L"), -1);
	assert_int_equal(errno, EPERM);
	assert_true(exists(dfd, "L"));
	assert_int_equal(unlinkat(dfd, "L", 0), 0);
	/* nothing of ours is left beside it */
	assert_int_equal(sfile_lock(dfd, "L", 0, 3600, err, sizeof(err)), 0);
	assert_int_equal(sfile_unlock(dfd, "L"), 0);
	assert_int_equal(rmdir(dir), 0);	/* empty: no L.<host>.<pid> left */
	rm_tmp(dir, dfd);
}

/*
 * The property a lock is for: 8 processes each add 1 to a counter file
 * 25 times by read, pause, write; under the lock no increment is lost.
 */
static void
test_lock_counts(void **state)
{
	char dir[512], b[32], err[300];
	pid_t pids[8];
	int dfd = mkdir_tmp(dir, sizeof(dir)), i, j, st, fd, bad = 0;

	assert_true(dfd != -1);
	assert_int_equal(sfile_put(dfd, "tc", "count", "0", 1, 0600,
	    SFILE_NOREPLACE), 0);
	for (i = 0; i < 8; i++) {
		if ((pids[i] = fork()) != 0)
			continue;
		for (j = 0; j < 25; j++) {
			ssize_t n;
			long v;

			if (sfile_lock(dfd, "L", 60, 3600, err, sizeof(err)) ==
			    -1)
				_exit(2);
			fd = openat(dfd, "count", O_RDWR);
			n = pread(fd, b, sizeof(b) - 1, 0);
			b[n > 0 ? n : 0] = '\0';
			v = strtol(b, NULL, 10);
			usleep(200);
			n = snprintf(b, sizeof(b), "%ld", v + 1);
			if (pwrite(fd, b, (size_t)n, 0) != n)
				_exit(3);
			close(fd);
			if (sfile_unlock(dfd, "L") == -1)
				_exit(4);
		}
		_exit(0);
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	assert_int_equal(bad, 0);
	assert_string_equal(slurp(dfd, "count"), "200");
	assert_false(exists(dfd, "L"));
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
		cmocka_unit_test(test_lost_reply),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_lock_counts),
	};

	umask(077);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
