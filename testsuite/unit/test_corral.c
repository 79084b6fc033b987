/*
 * test_corral.c -- corral names (BI-35 hostile recipients, injective,
 * parse back), atomic write/commit (0600, links, planted symlink and hard
 * link (SC-C2), 1000 names in one second and 50 recipients each (SC-C3),
 * ENOSPC leaves nothing), byte quotas (SC-C7), reading and removal rules
 * (seed 5.3), the bypass markers (SC-B5).
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corral.h"

#include <sys/syscall.h>

static int lost_remove;		/* unlinkat removes, then answers ENOENT */

/* Interposed: an NFS REMOVE whose reply was lost and that was sent again. */
int
unlinkat(int dfd, const char *name, int flags)
{
	int r = (int)syscall(SYS_unlinkat, dfd, name, flags);

	if (r == 0 && lost_remove) {
		errno = ENOENT;
		return -1;
	}
	return r;
}

static char dir[128];
static char root[64] = "/tmp";	/* a private tmpfs when we can mount one */

static int
mkdir_tmp(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/mc-corral-XXXXXX", root);
	if (mkdtemp(dir) == NULL)
		return -1;
	return chmod(dir, 0700);
}

static int
rm_tmp(void **state)
{
	char p[512];
	struct dirent *de;
	DIR *d;

	(void)state;
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
	return 0;
}

static size_t
count_entries(const char *d_, const char *prefix)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	assert_non_null(d = opendir(d_));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static const char *hostile[] = {
	"<\"../../tmp/x\"@local>", "<-oQ/tmp@local>",
	"<a;id>&`touch pwned`@local>", "<$(reboot)@local>",
	"../../etc/passwd", ".hidden@local", "-rf", "a_b@x", "a%41@x",
	"A@x", "a@x", "JBlow@Example.COM", "jblow@example.com",
	"JBlow@example.com", "a b\t\r\n@x", "\xff\xfe@x", "a/b@x", "..",
	".", "=+.-@", "a@b@C",
};

static void
check_safe_chars(const char *s)
{
	size_t i;

	assert_true(strlen(s) > 0 && strlen(s) <= CORRAL_RCPT_MAX);
	assert_true(s[0] != '.' && s[0] != '-');
	for (i = 0; s[i] != '\0'; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789.+=@-%", s[i]) == NULL)
			fail_msg("bad byte 0x%02x in %s", (unsigned char)s[i], s);
}

static void
test_names(void **state)
{
	static char safe[64][CORRAL_RCPT_MAX + 1];
	char back[512], name[16384];
	char r[CORRAL_RCPT_MAX + 1], id[17];
	const char *sp;
	size_t n = sizeof(hostile) / sizeof(hostile[0]), i, j;

	(void)state;
	assert_true(n <= 64);
	for (i = 0; i < n; i++) {
		assert_int_equal(corral_safe_rcpt(hostile[i], safe[i],
		    sizeof(safe[i])), 0);
		check_safe_chars(safe[i]);
		assert_int_equal(corral_unescape(safe[i], back, sizeof(back)),
		    0);
		sp = safe[i];
		snprintf(name, sizeof(name), "spam_to_%s_0123456789ABCDEF",
		    sp);
		assert_int_equal(corral_parse_name(name, r, sizeof(r), id,
		    sizeof(id)), 0);
		assert_string_equal(r, safe[i]);
		assert_string_equal(id, "0123456789ABCDEF");
	}
	/* Round trip: the domain is lower-cased, the local part kept. */
	assert_int_equal(corral_safe_rcpt("<JBlow@Example.COM>", safe[0],
	    sizeof(safe[0])), 0);
	assert_string_equal(safe[0], "JBlow@example.com");
	assert_int_equal(corral_safe_rcpt("jblow@EXAMPLE.com", safe[1],
	    sizeof(safe[1])), 0);
	assert_string_equal(safe[1], "jblow@example.com");
	assert_int_equal(corral_safe_rcpt("<-oQ/tmp@local>", safe[2],
	    sizeof(safe[2])), 0);
	assert_string_equal(safe[2], "%2DoQ%2Ftmp@local");
	assert_int_equal(corral_unescape(safe[2], back, sizeof(back)), 0);
	assert_string_equal(back, "-oQ/tmp@local");
	assert_int_equal(corral_safe_rcpt("a_b%c", safe[3], sizeof(safe[3])),
	    0);
	assert_string_equal(safe[3], "a%5Fb%25c");
	/* Injective: distinct canonical addresses, distinct names. */
	for (i = 0; i < n; i++)
		assert_int_equal(corral_safe_rcpt(hostile[i], safe[i],
		    sizeof(safe[i])), 0);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++) {
			char ci[512], cj[512];

			corral_unescape(safe[i], ci, sizeof(ci));
			corral_unescape(safe[j], cj, sizeof(cj));
			if (strcmp(ci, cj) != 0 &&
			    strcmp(safe[i], safe[j]) == 0)
				fail_msg("%s and %s collide", hostile[i],
				    hostile[j]);
		}
	/* Empty recipients are refused (they would name a base file). */
	assert_int_equal(corral_safe_rcpt("<>", safe[0], sizeof(safe[0])), -1);
	assert_int_equal(corral_safe_rcpt("", safe[0], sizeof(safe[0])), -1);
	/* Bad names. */
	assert_int_equal(corral_parse_name("tmp.Q1.12.3", r, sizeof(r), id,
	    sizeof(id)), -1);
	assert_int_equal(corral_parse_name("spam_to_a_0123456789abcdef", r,
	    sizeof(r), id, sizeof(id)), -1);
	assert_int_equal(corral_parse_name("spam_to_a/b_0123456789ABCDEF", r,
	    sizeof(r), id, sizeof(id)), -1);
	assert_int_equal(corral_parse_name("spam_to_.x_0123456789ABCDEF", r,
	    sizeof(r), id, sizeof(id)), -1);
	assert_int_equal(corral_parse_name("spam_to_a_b_0123456789ABCDEF", r,
	    sizeof(r), id, sizeof(id)), -1);
	assert_int_equal(corral_parse_name("spam_to_a%4_0123456789ABCDEF", r,
	    sizeof(r), id, sizeof(id)), -1);
	assert_int_equal(corral_parse_name("spam_to__0123456789ABCDEF", r,
	    sizeof(r), id, sizeof(id)), 0);
	assert_string_equal(r, "");
}

static void
test_long_names(void **state)
{
	char a[400], b[400], sa[CORRAL_RCPT_MAX + 1], sb[CORRAL_RCPT_MAX + 1];
	char back[512], name[300], r[CORRAL_RCPT_MAX + 1], id[17];

	(void)state;
	memset(a, 'x', 300);
	memcpy(a + 300, "@local", 7);
	memcpy(b, a, sizeof(a));
	b[299] = 'y';
	assert_int_equal(corral_safe_rcpt(a, sa, sizeof(sa)), 0);
	assert_int_equal(corral_safe_rcpt(b, sb, sizeof(sb)), 0);
	check_safe_chars(sa);
	assert_true(strlen(sa) == 150 + 2 + 16);
	assert_string_not_equal(sa, sb);
	assert_non_null(strstr(sa, "%%"));
	assert_int_equal(corral_unescape(sa, back, sizeof(back)), 1);
	assert_int_equal(strlen(back), 150);
	snprintf(name, sizeof(name), "spam_to_%s_0123456789ABCDEF", sa);
	assert_true(strlen(name) <= 255);
	assert_int_equal(corral_parse_name(name, r, sizeof(r), id,
	    sizeof(id)), 0);
	assert_string_equal(r, sa);
	/* Escapes are never cut in half. */
	memset(a, '_', 300);
	memcpy(a + 300, "@local", 7);
	assert_int_equal(corral_safe_rcpt(a, sa, sizeof(sa)), 0);
	check_safe_chars(sa);
	assert_int_equal(corral_unescape(sa, back, sizeof(back)), 1);
	/* Exactly 200 is kept, 201 is hashed. */
	memset(a, 'z', 200);
	a[200] = '\0';
	assert_int_equal(corral_safe_rcpt(a, sa, sizeof(sa)), 0);
	assert_string_equal(sa, a);
	a[200] = 'z';
	a[201] = '\0';
	assert_int_equal(corral_safe_rcpt(a, sa, sizeof(sa)), 0);
	assert_int_equal(strlen(sa), 168);
}

static struct corral *
open_corral(void)
{
	char err[256] = "";
	struct corral *c = corral_open(dir, err, sizeof(err));

	if (c == NULL)
		fail_msg("corral_open: %s", err);
	return c;
}

static void
put(struct corral *c, const char *const *rcpts, size_t n, const char *body,
    char id[17])
{
	struct corral_writer *w;
	char err[256] = "";

	assert_non_null(w = corral_begin(c, "4A1B2C3D", err, sizeof(err)));
	assert_int_equal(corral_write(w, body, strlen(body)), 0);
	if (corral_commit(w, rcpts, n, id, err, sizeof(err)) == -1)
		fail_msg("commit: %s", err);
}

static void
read_back(const char *name, const char *want)
{
	char p[512], buf[256];
	int fd;
	ssize_t r;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_true((fd = open(p, O_RDONLY)) >= 0);
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(r >= 0);
	buf[r] = '\0';
	assert_string_equal(buf, want);
}

static void
test_one_rcpt(void **state)
{
	const char *rc[] = { "<JBlow@Example.COM>" };
	char id[17], name[300], p[512];
	struct corral *c = open_corral();
	struct stat st;

	(void)state;
	put(c, rc, 1, "Subject: x\r\n\r\nbody\r\n", id);
	assert_int_equal(strlen(id), 16);
	snprintf(name, sizeof(name), "spam_to_JBlow@example.com_%s", id);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	read_back(name, "Subject: x\r\n\r\nbody\r\n");
	assert_int_equal(count_entries(dir, ""), 1);
	assert_int_equal(count_entries(dir, "tmp."), 0);
	/* The id starts with the hex time. */
	{
		char t[9];

		snprintf(t, sizeof(t), "%08lX", (unsigned long)time(NULL));
		assert_true(strncmp(id, t, 6) == 0);
	}
	corral_close(c);
}

static void
test_two_rcpts(void **state)
{
	const char *rc[] = { "jblow@local", "jdoe@local", "JBLOW@LOCAL" };
	char id[17], name[300], p[512], tgt[300];
	struct corral *c = open_corral();
	struct stat st;
	ssize_t n;
	int fd;

	(void)state;
	put(c, rc, 3, "multi\n", id);
	/* Base + 2 links ("JBLOW" differs from "jblow": local part kept). */
	assert_int_equal(count_entries(dir, ""), 4);
	snprintf(name, sizeof(name), "spam_to__%s", id);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(p, sizeof(p), "%s/spam_to_jdoe@local_%s", dir, id);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_true((n = readlink(p, tgt, sizeof(tgt) - 1)) > 0);
	tgt[n] = '\0';
	assert_string_equal(tgt, name);
	read_back(name, "multi\n");
	snprintf(p, sizeof(p), "spam_to_jblow@local_%s", id);
	read_back(p, "multi\n");

	/* open_entry follows our link to the base file. */
	assert_int_equal(corral_open_entry(c, p, &fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	close(fd);

	/* Removal: base kept while another link exists. */
	assert_int_equal(corral_remove_entry(c, name), -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(corral_remove_entry(c, p), 0);
	assert_int_equal(count_entries(dir, ""), 3);
	snprintf(p, sizeof(p), "spam_to_jdoe@local_%s", id);
	assert_int_equal(corral_remove_entry(c, p), 0);
	assert_int_equal(count_entries(dir, ""), 2);
	snprintf(p, sizeof(p), "spam_to_JBLOW@local_%s", id);
	assert_int_equal(corral_remove_entry(c, p), 0);
	assert_int_equal(count_entries(dir, ""), 0);
	corral_close(c);
}

static void
test_open_entry_rules(void **state)
{
	const char *rc[] = { "a@local", "b@local" };
	char id[17], p[512], base[300];
	struct corral *c = open_corral();
	struct stat st;
	int fd;

	(void)state;
	put(c, rc, 2, "x", id);
	snprintf(base, sizeof(base), "spam_to__%s", id);
	/* A link out of the corral. */
	snprintf(p, sizeof(p), "%s/spam_to_evil@x_%s", dir, id);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(corral_open_entry(c, "spam_to_evil@x_"
	    "0000000000000000", &fd, &st), -1);
	snprintf(p, sizeof(p), "spam_to_evil@x_%s", id);
	assert_int_equal(corral_open_entry(c, p, &fd, &st), -1);
	assert_int_equal(corral_remove_entry(c, p), 0);	/* link only */
	assert_int_equal(count_entries(dir, ""), 3);
	/* A link to a link. */
	snprintf(p, sizeof(p), "%s/spam_to__0000000000000001", dir);
	assert_int_equal(symlink(base, p), 0);
	snprintf(p, sizeof(p), "%s/spam_to_c@x_0000000000000001", dir);
	assert_int_equal(symlink("spam_to__0000000000000001", p), 0);
	assert_int_equal(corral_open_entry(c, "spam_to_c@x_0000000000000001",
	    &fd, &st), -1);
	assert_int_equal(corral_open_entry(c, "spam_to__0000000000000001",
	    &fd, &st), -1);
	/* A FIFO: no blocking, refused. */
	snprintf(p, sizeof(p), "%s/spam_to_f@x_0000000000000002", dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(corral_open_entry(c, "spam_to_f@x_0000000000000002",
	    &fd, &st), -1);
	/* A hard link: nlink 2. */
	{
		char p2[512];

		snprintf(p, sizeof(p), "%s/%s", dir, base);
		snprintf(p2, sizeof(p2), "%s/spam_to_h@x_0000000000000003",
		    dir);
		assert_int_equal(link(p, p2), 0);
		assert_int_equal(corral_open_entry(c, base, &fd, &st), -1);
		assert_int_equal(errno, EMLINK);
		unlink(p2);
	}
	/* Another owner. */
	snprintf(p, sizeof(p), "%s/spam_to_o@x_0000000000000004", dir);
	assert_true((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	close(fd);
	if (geteuid() == 0 && chown(p, 12345, 12345) == 0) {
		assert_int_equal(corral_open_entry(c,
		    "spam_to_o@x_0000000000000004", &fd, &st), -1);
		assert_int_equal(errno, EPERM);
	}
	/* tmp.* and junk names are not entries. */
	assert_int_equal(corral_open_entry(c, "tmp.x.1.2", &fd, &st), -1);
	assert_int_equal(corral_open_entry(c, "../etc/passwd", &fd, &st), -1);
	corral_close(c);
}

#define FROZEN_SEC	0x65A1B2C3L

static void
frozen(long *sec, long *usec)
{
	*sec = FROZEN_SEC;
	*usec = 0;
}

static char *
hash_file(const char *p, char *out, size_t n)
{
	int fd;
	ssize_t r;

	assert_true((fd = open(p, O_RDONLY)) >= 0);
	r = read(fd, out, n - 1);
	close(fd);
	assert_true(r >= 0);
	out[r] = '\0';
	return out;
}

/* dir.<name> outside the corral, holding "precious\n"; its bytes to hash. */
static void
make_victim(const char *name, char *path, size_t len, char *hash,
    size_t hashlen)
{
	int fd;

	snprintf(path, len, "%s.%s", dir, name);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >=
	    0);
	assert_int_equal(write(fd, "precious\n", 9), 9);
	close(fd);
	hash_file(path, hash, hashlen);
}

static void
test_planted_symlink(void **state)
{
	const char *rc[] = { "victim@local" };
	const char *rc2[] = { "victim@local", "other@local" };
	char victim[256], p[512], id[17], id2[17], before[64], after[64];
	char first[17];
	struct corral *c = open_corral();
	struct stat st;
	unsigned long low;

	(void)state;
	make_victim("victim", victim, sizeof(victim), before, sizeof(before));

	corral_set_clock(frozen);
	/* Plant links at every name the first 4096 tries could use. */
	for (low = 0; low < 4096; low++) {
		snprintf(p, sizeof(p), "%s/spam_to_victim@local_%08lX%08lX",
		    dir, FROZEN_SEC, low);
		assert_int_equal(symlink(victim, p), 0);
	}
	snprintf(first, sizeof(first), "%08lX%08lX", FROZEN_SEC, 0UL);
	put(c, rc, 1, "new\n", id);
	assert_true(strcmp(id, first) > 0);
	snprintf(p, sizeof(p), "%s/spam_to_victim@local_%s", dir, id);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	read_back(strrchr(p, '/') + 1, "new\n");
	/* No planted name was replaced: all 4096 are still there. */
	assert_int_equal(count_entries(dir, "spam_to_victim@local_"), 4097);
	for (low = 0; low < 4096; low++) {
		snprintf(p, sizeof(p), "%s/spam_to_victim@local_%08lX%08lX",
		    dir, FROZEN_SEC, low);
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISLNK(st.st_mode));
	}

	/* Several recipients: a planted link name forces a new id too; the
	 * base of the failed attempt is not left behind. */
	for (low = 0; low < 8192; low++) {
		snprintf(p, sizeof(p), "%s/spam_to_other@local_%08lX%08lX",
		    dir, FROZEN_SEC, low);
		(void)symlink(victim, p);
	}
	put(c, rc2, 2, "two\n", id2);
	snprintf(p, sizeof(p), "spam_to_other@local_%s", id2);
	read_back(p, "two\n");
	snprintf(p, sizeof(p), "spam_to_victim@local_%s", id2);
	read_back(p, "two\n");
	assert_int_equal(count_entries(dir, "spam_to__"), 1);
	corral_set_clock(NULL);

	assert_string_equal(hash_file(victim, after, sizeof(after)), before);
	assert_int_equal(lstat(victim, &st), 0);
	assert_int_equal(st.st_size, 9);
	unlink(victim);
	corral_close(c);
}

/* SC-C2: hard links to a file outside the corral planted at every name the
 * first 4096 tries could use: none is written through or replaced. */
static void
test_planted_hardlink(void **state)
{
	const char *rc[] = { "victim@local" };
	char victim[256], p[512], id[17], before[64], after[64];
	struct corral *c = open_corral();
	struct stat st, vst;
	unsigned long low;
	int fd;

	(void)state;
	make_victim("hardvictim", victim, sizeof(victim), before, sizeof(before));
	assert_int_equal(stat(victim, &vst), 0);

	corral_set_clock(frozen);
	for (low = 0; low < 4096; low++) {
		snprintf(p, sizeof(p), "%s/spam_to_victim@local_%08lX%08lX",
		    dir, FROZEN_SEC, low);
		assert_int_equal(link(victim, p), 0);
	}
	put(c, rc, 1, "new\n", id);
	corral_set_clock(NULL);
	snprintf(p, sizeof(p), "%s/spam_to_victim@local_%s", dir, id);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_nlink, 1);
	assert_true(st.st_ino != vst.st_ino);
	read_back(strrchr(p, '/') + 1, "new\n");
	assert_int_equal(count_entries(dir, "spam_to_victim@local_"), 4097);
	for (low = 0; low < 4096; low++) {
		snprintf(p, sizeof(p), "%s/spam_to_victim@local_%08lX%08lX",
		    dir, FROZEN_SEC, low);
		assert_int_equal(lstat(p, &st), 0);
		assert_true(st.st_ino == vst.st_ino);
	}
	assert_string_equal(hash_file(victim, after, sizeof(after)), before);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 9);
	assert_int_equal(st.st_nlink, 4097);
	/* A reader refuses the planted names (nlink > 1). */
	snprintf(p, sizeof(p), "spam_to_victim@local_%08lX%08lX", FROZEN_SEC,
	    0UL);
	assert_int_equal(corral_open_entry(c, p, &fd, NULL), -1);
	assert_int_equal(errno, EMLINK);
	unlink(victim);
	corral_close(c);
}

/* SC-C3: 200 spams with 50 recipients each in one frozen second: every
 * base file and link unique, each link leads to its own message. */
static void
test_50_rcpts_same_second(void **state)
{
	char rbuf[50][32], id[17], body[64], name[300];
	const char *rc[50];
	struct corral *c = open_corral();
	int i, j;

	(void)state;
	for (j = 0; j < 50; j++) {
		snprintf(rbuf[j], sizeof(rbuf[j]), "user%02d@local", j);
		rc[j] = rbuf[j];
	}
	corral_set_clock(frozen);
	for (i = 0; i < 200; i++) {
		snprintf(body, sizeof(body), "marker %d\n", i);
		put(c, rc, 50, body, id);
		for (j = 0; j < 50; j += 7) {
			snprintf(name, sizeof(name), "spam_to_%s_%s", rc[j], id);
			read_back(name, body);
		}
		snprintf(name, sizeof(name), "spam_to_%s_%s", rc[49], id);
		read_back(name, body);
	}
	corral_set_clock(NULL);
	assert_int_equal(count_entries(dir, "spam_to__"), 200);
	for (j = 0; j < 50; j++) {
		snprintf(name, sizeof(name), "spam_to_%s_", rc[j]);
		assert_int_equal(count_entries(dir, name), 200);
	}
	assert_int_equal(count_entries(dir, "tmp."), 0);
	corral_close(c);
}

/* One commit; returns its result, the reason in err. */
static int
try_put(struct corral *c, const char *const *rcpts, size_t n, size_t len,
    char *err, size_t errlen)
{
	struct corral_writer *w;
	char buf[4096], id[17];

	assert_true(len <= sizeof(buf));
	memset(buf, 'q', len);
	err[0] = '\0';
	assert_non_null(w = corral_begin(c, "Q", err, errlen));
	assert_int_equal(corral_write(w, buf, len), 0);
	return corral_commit(w, rcpts, n, id, err, errlen);
}

/* SC-C7: per-recipient and total byte quotas, at N and N+1. */
static void
test_quota(void **state)
{
	const char *a[] = { "a@local" }, *b[] = { "b@local" };
	const char *c1[] = { "c@local" }, *e[] = { "e@local" };
	const char *ba[] = { "b@local", "a@local" };
	const char *cd[] = { "c@local", "d@local" };
	struct corral *c = open_corral();
	char err[256], name[300];
	struct dirent *de;
	size_t n0;
	DIR *d;

	(void)state;
	corral_set_quota(c, 0, 100);
	assert_int_equal(try_put(c, a, 1, 60, err, sizeof(err)), 0);
	assert_int_equal(try_put(c, a, 1, 40, err, sizeof(err)), 0);
	n0 = count_entries(dir, "");
	/* a holds 100 of 100: one more byte is refused, nothing is left. */
	assert_int_equal(try_put(c, a, 1, 1, err, sizeof(err)), -1);
	assert_int_equal(errno, EDQUOT);
	assert_string_equal(err, "quota rcpt=a@local used=100 size=1 max=100");
	assert_int_equal(count_entries(dir, ""), n0);
	/* the question asked for one recipient of several (issue 16) */
	assert_int_equal(corral_rcpt_over_quota(c, "a@local", 1), 1);
	assert_int_equal(corral_rcpt_over_quota(c, "A@Local", 0), 0);
	assert_int_equal(corral_rcpt_over_quota(c, "b@local", 100), 0);
	assert_int_equal(corral_rcpt_over_quota(c, "b@local", 101), 1);
	/* Other recipients are unaffected. */
	assert_int_equal(try_put(c, b, 1, 60, err, sizeof(err)), 0);
	/* A message for b and a: a is over, so nothing at all is written. */
	n0 = count_entries(dir, "");
	assert_int_equal(try_put(c, ba, 2, 10, err, sizeof(err)), -1);
	assert_int_equal(errno, EDQUOT);
	assert_non_null(strstr(err, "rcpt=a@local used=100 "));
	assert_int_equal(count_entries(dir, ""), n0);
	assert_int_equal(count_entries(dir, "tmp."), 0);
	/* A link counts its base file for each recipient. */
	assert_int_equal(try_put(c, cd, 2, 50, err, sizeof(err)), 0);
	assert_int_equal(try_put(c, c1, 1, 51, err, sizeof(err)), -1);
	assert_string_equal(err, "quota rcpt=c@local used=50 size=51 max=100");
	assert_int_equal(try_put(c, c1, 1, 50, err, sizeof(err)), 0);
	/* Space comes back when an entry goes. */
	assert_non_null(d = opendir(dir));
	name[0] = '\0';
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "spam_to_a@local_", 16) == 0) {
			snprintf(name, sizeof(name), "%s", de->d_name);
			break;
		}
	closedir(d);
	assert_int_equal(corral_remove_entry(c, name), 0);
	assert_int_equal(try_put(c, a, 1, 1, err, sizeof(err)), 0);

	/* 0 = no limit; then a total of what is there plus exactly 10. */
	corral_set_quota(c, 0, 0);
	assert_int_equal(try_put(c, e, 1, 4096, err, sizeof(err)), 0);
	{
		unsigned long long tot = 0;
		struct stat st;
		char p[512];

		assert_non_null(d = opendir(dir));
		while ((de = readdir(d)) != NULL) {
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			if (strncmp(de->d_name, "spam_to_", 8) == 0 &&
			    lstat(p, &st) == 0 && S_ISREG(st.st_mode))
				tot += (unsigned long long)st.st_size;
		}
		closedir(d);
		corral_set_quota(c, tot + 10, 0);
		assert_int_equal(try_put(c, e, 1, 10, err, sizeof(err)), 0);
		assert_int_equal(try_put(c, b, 1, 1, err, sizeof(err)), -1);
		assert_int_equal(errno, EDQUOT);
		snprintf(p, sizeof(p), "quota total used=%llu size=1 max=%llu",
		    tot + 10, tot + 10);
		assert_string_equal(err, p);
	}
	assert_int_equal(count_entries(dir, "tmp."), 0);
	corral_close(c);
}

static void
test_1000_same_second(void **state)
{
	const char *rc[] = { "same@local" };
	const char *rc2[] = { "x@local", "y@local" };
	char id[17], body[64], name[300];
	struct corral *c = open_corral();
	int i;

	(void)state;
	corral_set_clock(frozen);
	for (i = 0; i < 1000; i++) {
		snprintf(body, sizeof(body), "marker %d\n", i);
		put(c, rc, 1, body, id);
		snprintf(name, sizeof(name), "spam_to_same@local_%s", id);
		read_back(name, body);
	}
	for (i = 0; i < 100; i++) {
		snprintf(body, sizeof(body), "multi %d\n", i);
		put(c, rc2, 2, body, id);
		snprintf(name, sizeof(name), "spam_to_y@local_%s", id);
		read_back(name, body);
	}
	corral_set_clock(NULL);
	assert_int_equal(count_entries(dir, "spam_to_same@local_"), 1000);
	assert_int_equal(count_entries(dir, "spam_to__"), 100);
	assert_int_equal(count_entries(dir, "spam_to_x@local_"), 100);
	assert_int_equal(count_entries(dir, "tmp."), 0);
	corral_close(c);
}

struct thr {
	struct corral	*c;
	int		 n;
};

static void *
writer_thread(void *arg)
{
	struct thr *t = arg;
	const char *rc[] = { "t@local", "u@local" };
	char id[17], err[128], body[32];
	struct corral_writer *w;
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(body, sizeof(body), "%d.%d", t->n, i);
		if ((w = corral_begin(t->c, "T", err, sizeof(err))) == NULL)
			return (void *)1;
		if (corral_write(w, body, strlen(body)) == -1 ||
		    corral_commit(w, rc, (size_t)(i % 2 + 1), id, err,
		    sizeof(err)) == -1)
			return (void *)1;
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct corral *c = open_corral();
	pthread_t th[8];
	struct thr t[8];
	void *rv;
	int i;

	(void)state;
	corral_set_clock(frozen);
	for (i = 0; i < 8; i++) {
		t[i].c = c;
		t[i].n = i;
		assert_int_equal(pthread_create(&th[i], NULL, writer_thread,
		    &t[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(th[i], &rv), 0);
		assert_null(rv);
	}
	corral_set_clock(NULL);
	assert_int_equal(count_entries(dir, "spam_to_t@local_"), 400);
	assert_int_equal(count_entries(dir, "spam_to_u@local_"), 200);
	assert_int_equal(count_entries(dir, "spam_to__"), 200);
	assert_int_equal(count_entries(dir, "tmp."), 0);
	corral_close(c);
}

static void
test_abort_and_open(void **state)
{
	struct corral_writer *w;
	struct corral *c;
	char err[256] = "", id[17];

	(void)state;
	c = open_corral();
	assert_non_null(w = corral_begin(c, "../../x y", err, sizeof(err)));
	assert_int_equal(count_entries(dir, "tmp."), 1);
	corral_abort(w);
	assert_int_equal(count_entries(dir, ""), 0);
	assert_non_null(w = corral_begin(c, "Q", err, sizeof(err)));
	assert_int_equal(corral_commit(w, NULL, 0, id, err, sizeof(err)), -1);
	assert_int_equal(count_entries(dir, ""), 0);
	corral_close(c);
	/* World-writable directory refused; a symlinked one too. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_null(corral_open(dir, err, sizeof(err)));
	assert_non_null(strstr(err, "writable"));
	assert_int_equal(chmod(dir, 0700), 0);
	{
		char l[256];

		snprintf(l, sizeof(l), "%s.lnk", dir);
		assert_int_equal(symlink(dir, l), 0);
		assert_null(corral_open(l, err, sizeof(err)));
		unlink(l);
	}
}

/* ENOSPC on a tiny tmpfs: nothing half-written is left. */
static void
test_enospc(void **state)
{
	const char *rc[] = { "a@local", "b@local", "c@local" };
	char mnt[64], err[256] = "", id[17], big[8192];
	struct corral_writer *w;
	struct corral *c;
	int i, ok;

	(void)state;
	snprintf(mnt, sizeof(mnt), "/tmp/mc-corral-fs-XXXXXX");
	assert_non_null(mkdtemp(mnt));
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k,nr_inodes=64,"
	    "mode=0700") == -1) {
		rmdir(mnt);
		skip();
	}
	assert_non_null(c = corral_open(mnt, err, sizeof(err)));
	/* 1: the data does not fit. */
	memset(big, 'x', sizeof(big));
	assert_non_null(w = corral_begin(c, "Q", err, sizeof(err)));
	ok = 0;
	for (i = 0; i < 20; i++)
		if (corral_write(w, big, sizeof(big)) == -1)
			break;
	if (corral_commit(w, rc, 1, id, err, sizeof(err)) == 0)
		ok = 1;
	assert_int_equal(ok, 0);
	assert_non_null(strstr(err, "No space left on device"));
	assert_int_equal(count_entries(mnt, ""), 0);

	/* 2: the data fits, the links do not (out of inodes). */
	{
		char name[128];
		int fd, n = 0;

		/* Fill the inodes, leaving 2 for base + one link. */
		for (;;) {
			snprintf(name, sizeof(name), "%s/fill.%d", mnt, n);
			if ((fd = open(name, O_WRONLY | O_CREAT | O_EXCL,
			    0600)) == -1)
				break;
			close(fd);
			n++;
		}
		assert_int_equal(errno, ENOSPC);
		for (i = 0; i < 2; i++) {
			snprintf(name, sizeof(name), "%s/fill.%d", mnt,
			    --n);
			unlink(name);
		}
		assert_non_null(w = corral_begin(c, "Q", err, sizeof(err)));
		assert_int_equal(corral_write(w, "small\n", 6), 0);
		assert_int_equal(corral_commit(w, rc, 3, id, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "No space left on device"));
		assert_int_equal(count_entries(mnt, "spam_to_"), 0);
		assert_int_equal(count_entries(mnt, "tmp."), 0);
		/* After freeing space it works again. */
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "%s/fill.%d", mnt, i);
			unlink(name);
		}
		assert_non_null(w = corral_begin(c, "Q", err, sizeof(err)));
		assert_int_equal(corral_write(w, "small\n", 6), 0);
		if (corral_commit(w, rc, 3, id, err, sizeof(err)) == -1)
			fail_msg("%s", err);
		assert_int_equal(count_entries(mnt, "spam_to_"), 4);
	}
	corral_close(c);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

/* The ids in the names spam_to_<rcpt>_<id> of dir, for one recipient. */
static size_t
ids_of(const char *rcpt, char (*ids)[CORRAL_ID_LEN + 1], size_t max)
{
	char r[CORRAL_RCPT_MAX + 1], id[CORRAL_ID_LEN + 1];
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (corral_parse_name(de->d_name, r, sizeof(r), id,
		    sizeof(id)) == 0 && strcmp(r, rcpt) == 0 && n < max)
			memcpy(ids[n++], id, sizeof(id));
	closedir(d);
	return n;
}

/*
 * Issue 21: hosts sharing one corral.  Two processes (two hosts: each has
 * its own counters) with one frozen clock write 200 entries each, for
 * different recipients, so no name can collide and retry: every id still
 * differs between them and carries its host, and both keep the old form
 * (16 hex digits) that digests already sent name.  The claim file refuses
 * a second host name on one host id.
 */
static void
test_hosts(void **state)
{
	static char a[200][CORRAL_ID_LEN + 1], b[200][CORRAL_ID_LEN + 1];
	const char *ra[] = { "ha@x" }, *rb[] = { "hb@x" };
	char id[CORRAL_ID_LEN + 1], err[512];
	struct corral *c;
	size_t na, nb, i, j;
	pid_t pid;
	int st;

	(void)state;
	corral_set_clock(frozen);
	if ((pid = fork()) == 0) {
		c = open_corral();
		corral_set_host(c, 0x02);
		for (i = 0; i < 200; i++)
			put(c, rb, 1, "b\n", id);
		corral_close(c);
		_exit(0);
	}
	c = open_corral();
	corral_set_host(c, 0x01);
	for (i = 0; i < 200; i++)
		put(c, ra, 1, "a\n", id);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	corral_set_clock(NULL);
	na = ids_of("ha@x", a, 200);
	nb = ids_of("hb@x", b, 200);
	assert_int_equal(na, 200);
	assert_int_equal(nb, 200);
	for (i = 0; i < na; i++) {
		assert_int_equal(strncmp(a[i], "65A1B2C301", 10), 0);
		assert_int_equal(strncmp(b[i], "65A1B2C302", 10), 0);
		for (j = 0; j < nb; j++)
			assert_string_not_equal(a[i], b[j]);
	}

	/* NFS: a removal whose reply was lost still counts as done, for a
	 * file and for a link with the base file it was the last of */
	lost_remove = 1;
	snprintf(id, sizeof(id), "%s", a[0]);
	{
		char name[CORRAL_NAME_MAX + 1];
		const char *two[] = { "l1@x", "l2@x" };

		snprintf(name, sizeof(name), "spam_to_ha@x_%s", id);
		assert_int_equal(corral_remove_entry(c, name), 0);
		assert_int_equal(ids_of("ha@x", a, 200), 199);
		lost_remove = 0;
		put(c, two, 2, "two\n", id);
		lost_remove = 1;
		snprintf(name, sizeof(name), "spam_to_l1@x_%s", id);
		assert_int_equal(corral_remove_entry(c, name), 0);
		snprintf(name, sizeof(name), "spam_to_l2@x_%s", id);
		assert_int_equal(corral_remove_entry(c, name), 0);
		assert_int_equal(count_entries(dir, "spam_to__"), 0);
	}
	lost_remove = 0;

	/* host ids from names: stable, 0..255 */
	assert_int_equal(corral_host_of_name("mx1.example"),
	    corral_host_of_name("mx1.example"));
	assert_true(corral_host_of_name("mx1.example") < 256);
	/* the claim: once per id, the same host again is fine */
	corral_set_host(c, 0x07);
	assert_int_equal(corral_claim_host(c, "mx1.example", err,
	    sizeof(err)), 0);
	assert_int_equal(corral_claim_host(c, "mx1.example", err,
	    sizeof(err)), 0);
	errno = 0;
	assert_int_equal(corral_claim_host(c, "mx2.example", err,
	    sizeof(err)), -1);
	assert_int_equal(errno, EEXIST);
	assert_non_null(strstr(err, "mx1.example"));
	corral_set_host(c, 0x08);
	assert_int_equal(corral_claim_host(c, "mx2.example", err,
	    sizeof(err)), 0);
	assert_int_equal(count_entries(dir, "host."), 2);
	assert_int_equal(count_entries(dir, "tmp."), 0);
	corral_close(c);
}

/*
 * SC-B5: the bypass markers issued.<id>.<rcpt> (the filter honours a
 * header only for a recipient it was issued for) and used.<id>.<rcpt>.
 */
static void
test_markers(void **state)
{
	static const char *badid[] = { "0123456789abcdef", "0123456789ABCDE",
	    "0123456789ABCDEF0", "../../etc/passw", "", "0123456789ABCDE/" };
	const char *id = "0123456789ABCDEF";
	char name[CORRAL_NAME_MAX + 64], path[512], other[512], buf[64];
	struct stat st;
	size_t i;
	ssize_t n;
	int dfd, fd;

	(void)state;
	/* the recipient in the safe form the entries' names use */
	assert_int_equal(corral_marker_name(CORRAL_MARK_ISSUED, id,
	    "<JBlow@Example.COM>", name, sizeof(name)), 0);
	assert_string_equal(name, "issued.0123456789ABCDEF.JBlow@example.com");
	assert_int_equal(corral_marker_name(CORRAL_MARK_USED, id,
	    "<../a/b@x>", name, sizeof(name)), 0);
	assert_string_equal(name, "used.0123456789ABCDEF.%2E.%2Fa%2Fb@x");
	for (i = 0; i < sizeof(badid) / sizeof(badid[0]); i++) {
		errno = 0;
		assert_int_equal(corral_marker_name(CORRAL_MARK_ISSUED,
		    badid[i], "a@x", name, sizeof(name)), -1);
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(corral_marker_name(CORRAL_MARK_ISSUED, id, "<>",
	    name, sizeof(name)), -1);
	assert_int_equal(corral_marker_name(CORRAL_MARK_ISSUED, id, "a@x",
	    name, 24), -1);
	assert_int_equal(errno, ENAMETOOLONG);

	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(corral_marker_name(CORRAL_MARK_ISSUED, id, "a@x",
	    name, sizeof(name)), 0);
	assert_int_equal(corral_marker_check(dfd, name), 0);
	assert_int_equal(corral_marker_make(dfd, name, "corral qid=Q\n", 1),
	    0);
	assert_int_equal(corral_marker_check(dfd, name), 1);
	assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* excl: the second use fails; otherwise the marker is kept */
	errno = 0;
	assert_int_equal(corral_marker_make(dfd, name, NULL, 1), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(corral_marker_make(dfd, name, "other\n", 0), 0);
	assert_true((fd = openat(dfd, name, O_RDONLY)) >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, 13);
	buf[n] = '\0';
	assert_string_equal(buf, "corral qid=Q\n");
	/* a full path with AT_FDCWD, as the filter uses it */
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(corral_marker_check(AT_FDCWD, path), 1);
	if (fchownat(dfd, name, 12345, 12345, AT_SYMLINK_NOFOLLOW) == 0)
		assert_int_equal(corral_marker_check(dfd, name), -1);
	assert_int_equal(unlinkat(dfd, name, 0), 0);

	/* a planted link is neither accepted nor followed */
	snprintf(other, sizeof(other), "%s/target", dir);
	assert_int_equal(symlinkat(other, dfd, name), 0);
	assert_int_equal(corral_marker_check(dfd, name), -1);
	assert_int_equal(corral_marker_make(dfd, name, "x\n", 0), -1);
	assert_int_equal(corral_marker_make(dfd, name, NULL, 1), -1);
	assert_int_equal(access(other, F_OK), -1);
	assert_int_equal(unlinkat(dfd, name, 0), 0);
	/* a FIFO (no blocking) and a directory are not markers */
	assert_int_equal(mkfifoat(dfd, name, 0600), 0);
	assert_int_equal(corral_marker_check(dfd, name), -1);
	assert_int_equal(corral_marker_make(dfd, name, "x\n", 0), -1);
	assert_int_equal(unlinkat(dfd, name, 0), 0);
	assert_int_equal(mkdirat(dfd, name, 0700), 0);
	assert_int_equal(corral_marker_check(dfd, name), -1);
	assert_int_equal(unlinkat(dfd, name, AT_REMOVEDIR), 0);
	close(dfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test_setup_teardown(test_one_rcpt, mkdir_tmp,
		    rm_tmp),
		cmocka_unit_test_setup_teardown(test_two_rcpts, mkdir_tmp,
		    rm_tmp),
		cmocka_unit_test_setup_teardown(test_open_entry_rules,
		    mkdir_tmp, rm_tmp),
		cmocka_unit_test_setup_teardown(test_planted_symlink,
		    mkdir_tmp, rm_tmp),
		{ "SC-C2 planted hard links at the next names: target "
		  "unchanged", test_planted_hardlink, mkdir_tmp, rm_tmp, NULL },
		cmocka_unit_test_setup_teardown(test_1000_same_second,
		    mkdir_tmp, rm_tmp),
		{ "SC-C3 200 spams x 50 recipients in one second: all unique",
		  test_50_rcpts_same_second, mkdir_tmp, rm_tmp, NULL },
		{ "SC-C7 per-recipient and total byte quotas",
		  test_quota, mkdir_tmp, rm_tmp, NULL },
		cmocka_unit_test_setup_teardown(test_threads, mkdir_tmp,
		    rm_tmp),
		cmocka_unit_test_setup_teardown(test_abort_and_open,
		    mkdir_tmp, rm_tmp),
		cmocka_unit_test(test_enospc),
		{ "SC-B5 bypass markers issued.<id>.<rcpt>, used.<id>.<rcpt>",
		  test_markers, mkdir_tmp, rm_tmp, NULL },
		{ "issue 21 hosts on one corral: ids apart, host claim",
		  test_hosts, mkdir_tmp, rm_tmp, NULL },
	};

	char base[] = "/tmp/mc-corral-root-XXXXXX";
	int rc, mounted = 0;

	umask(077);
	/* fsync on a real disk makes the 1000-file tests slow: use a tmpfs
	 * when we may mount one (root), else /tmp. */
	if (getenv("MC_CORRAL_TEST_DISK") == NULL && mkdtemp(base) != NULL) {
		if (mount("tmpfs", base, "tmpfs", 0, "size=64m,mode=0700") ==
		    0) {
			snprintf(root, sizeof(root), "%s", base);
			mounted = 1;
		} else
			rmdir(base);
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (mounted) {
		umount2(base, MNT_DETACH);
		rmdir(base);
	}
	return rc;
}
