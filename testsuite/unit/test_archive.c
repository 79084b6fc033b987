/*
 * test_archive.c -- the mail archive's pure parts and its files: journal
 * lines round-trip every byte (no raw tab or newline), the display column
 * turns invalid UTF-8 into U+FFFD (BI-17), archive paths cannot escape
 * (SC-A2), files and directories get 0640/0750 and a planted symlink is
 * refused (SC-A3), and the archiver header's MAC binds Date, Message-ID
 * and the address (SC-B9).
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "bypass.h"
#include "conf.h"
#include "confsnap.h"
#include "mcarchive.h"
#include "spool.h"

static void
fill_row(struct arc_row *r, const char *p, size_t n)
{
	size_t f;

	for (f = 0; f < ARC_NFIELDS; f++) {
		r->f[f] = p;
		r->len[f] = n;
	}
}

static void
test_roundtrip_hostile(void **state)
{
	unsigned char all[256];
	struct arc_row in, out;
	struct buf line = BUF_INIT;
	size_t i, f, tabs = 0, nl = 0;

	(void)state;
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	fill_row(&in, (const char *)all, sizeof(all));
	in.f[ARC_F_SUBJECT] = "x'); DROP TABLE archive;--\t\r\n%41";
	in.len[ARC_F_SUBJECT] = strlen(in.f[ARC_F_SUBJECT]);
	in.f[ARC_F_FROM] = "";
	in.len[ARC_F_FROM] = 0;
	assert_int_equal(arc_encode_row(&in, &line), 0);
	for (i = 0; i < line.len; i++) {
		tabs += line.data[i] == '\t';
		nl += line.data[i] == '\n';
		assert_true((unsigned char)line.data[i] >= 0x20 ||
		    line.data[i] == '\t' || line.data[i] == '\n');
	}
	assert_int_equal(tabs, ARC_NFIELDS);
	assert_int_equal(nl, 1);
	assert_int_equal(line.data[line.len - 1], '\n');
	assert_int_equal(arc_decode_row(line.data, line.len - 1, &out), 0);
	for (f = 0; f < ARC_NFIELDS; f++) {
		assert_int_equal(out.len[f], in.len[f]);
		assert_memory_equal(out.f[f], in.f[f], in.len[f]);
	}
	buf_free(&line);
}

static void
test_decode_malformed(void **state)
{
	const char *bad[] = {
		"",
		"R2\ta",
		"R1\ta\tb",				/* too few fields */
		"R1\t%4\t\t\t\t\t\t\t\t\t\t\t\t",	/* short escape */
		"R1\t%GG\t\t\t\t\t\t\t\t\t\t\t\t",	/* not hex */
		"R1\t\x01\t\t\t\t\t\t\t\t\t\t\t\t",	/* raw control */
		"R1\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",	/* too many */
	};
	char tmp[64];
	struct arc_row r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(tmp, sizeof(tmp), "%s", bad[i]);
		assert_int_equal(arc_decode_row(tmp, strlen(tmp), &r), -1);
	}
	snprintf(tmp, sizeof(tmp), "R1\t\t\t\t\t\t\t\t\t\t\t\t\t\t");
	assert_int_equal(arc_decode_row(tmp, strlen(tmp), &r), 0);
}

static void
display_is(const char *in, size_t len, size_t maxc, const char *want,
    int want_trunc)
{
	struct buf b = BUF_INIT;
	int trunc = -1;

	arc_display(in, len, maxc, &b, &trunc);
	assert_non_null(b.data);
	assert_string_equal(b.data, want);
	assert_int_equal(trunc, want_trunc);
	buf_free(&b);
}

#define FFFD "\xef\xbf\xbd"

static void
test_display_fffd(void **state)
{
	(void)state;
	display_is("caf\xe9", 4, 998, "caf" FFFD, 0);		/* Latin-1 */
	display_is("a\xc0\xaf" "b", 4, 998, "a" FFFD FFFD "b", 0); /* overlong */
	display_is("\xed\xa0\x80", 3, 998, FFFD FFFD FFFD, 0);	/* surrogate */
	display_is("\xf0\x9f\x98\x80!", 5, 998, "\xf0\x9f\x98\x80!", 0);
	display_is("\xf4\x90\x80\x80", 4, 998, FFFD FFFD FFFD FFFD, 0);
	display_is("\xe2\x82", 2, 998, FFFD FFFD, 0);		/* cut short */
	display_is("\xc3\xa9t\xc3\xa9", 5, 998, "\xc3\xa9t\xc3\xa9", 0);
	display_is("abcdef", 6, 3, "abc", 1);			/* characters */
	display_is("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8, 1,
	    "\xf0\x9f\x98\x80", 1);
	display_is("", 0, 5, "", 0);
}

static void
test_rel_path(void **state)
{
	char p[ARC_REL_MAX];
	const char *sfx = "0123456789abcdef";
	const char *bad[] = { "../etc", "a/b", "", "4A\n1", "x y", "..",
	    "%2e%2e", "\xc3\xa9", NULL };
	char longq[80];
	size_t i;
	int slashes;

	(void)state;
	/* 2024-01-02 03:04:05 UTC */
	assert_int_equal(arc_rel_path("4A1B2C3D", 1704164645, sfx, p,
	    sizeof(p)), 0);
	assert_string_equal(p, "2024/01/02/4A1B2C3D-0123456789abcdef");
	for (i = 0; bad[i] != NULL; i++) {
		assert_false(arc_qid_ok(bad[i]));
		assert_int_equal(arc_rel_path(bad[i], 1704164645, sfx, p,
		    sizeof(p)), 0);
		assert_string_equal(p, "2024/01/02/NOQUEUE-0123456789abcdef");
	}
	assert_int_equal(arc_rel_path(NULL, 1704164645, sfx, p, sizeof(p)), 0);
	memset(longq, 'A', 65);
	longq[65] = '\0';
	assert_false(arc_qid_ok(longq));
	longq[64] = '\0';
	assert_true(arc_qid_ok(longq));
	assert_int_equal(arc_rel_path(longq, 1704164645, sfx, p, sizeof(p)), 0);
	for (slashes = 0, i = 0; p[i]; i++)
		slashes += p[i] == '/';
	assert_int_equal(slashes, 3);
	assert_null(strstr(p, ".."));
	/* the suffix must be 16 hex digits */
	assert_int_equal(arc_rel_path("A", 0, "../../x", p, sizeof(p)), -1);
	assert_int_equal(arc_rel_path("A", 0, "0123", p, sizeof(p)), -1);
	/* too small a buffer */
	assert_int_equal(arc_rel_path("A", 0, sfx, p, 10), -1);
}

/*
 * The archiver's header is the bypass format with a purpose of its own:
 * it covers the body and the address, and a header of one purpose never
 * verifies as the other.
 */
static void
test_mac(void **state)
{
	unsigned char k1[BYPASS_KEY_LEN], hash[32], hash2[32];
	struct bypass_key *a;
	const struct bypass_key *keys[1];
	char h[BYPASS_HDR_MAX + 1], id[BYPASS_ID_LEN + 1];
	const char *date = "Mon, 1 Jan 2024 10:00:00 +0000";
	const char *mid = "<abc@example.org>";
	const time_t t = 1700000000;
	int n;

	(void)state;
	memset(k1, 1, sizeof(k1));
	memset(hash, 7, sizeof(hash));
	memset(hash2, 8, sizeof(hash2));
	a = bypass_key_new(k1);
	keys[0] = a;
	n = bypass_mint_for(a, BYPASS_FOR_ARCHIVE, "archive@x.test",
	    "0123456789ABCDEF", t, t + 3600, mid, strlen(mid), date,
	    strlen(date), hash, h, sizeof(h));
	assert_true(n > 0);
#define V(p, addr, d, body, now) bypass_verify_for(keys, 1, p, addr, h, \
	(size_t)n, now, 3600, mid, strlen(mid), d, strlen(d), body, id, \
	sizeof(id))
	assert_int_equal(V(BYPASS_FOR_ARCHIVE, "archive@x.test", date, hash,
	    t), BYPASS_OK);
	assert_string_equal(id, "0123456789ABCDEF");
	assert_int_equal(V(BYPASS_FOR_ARCHIVE, "Archive@X.test", date, hash,
	    t), BYPASS_OK);
	assert_int_equal(V(BYPASS_FOR_ARCHIVE, "archive@x.test",
	    " Mon, 1 Jan 2024\r\n\t10:00:00 +0000 ", hash, t), BYPASS_OK);
	/* another body, address, date, purpose, or too late: refused */
	assert_int_equal(V(BYPASS_FOR_ARCHIVE, "archive@x.test", date, hash2,
	    t), BYPASS_BAD_MAC);
	assert_int_equal(V(BYPASS_FOR_ARCHIVE, "other@x.test", date, hash,
	    t), BYPASS_BAD_MAC);
	assert_int_equal(V(BYPASS_FOR_ARCHIVE, "archive@x.test",
	    "Mon, 1 Jan 2024 10:00:01 +0000", hash, t), BYPASS_BAD_MAC);
	assert_int_equal(V(BYPASS_FOR_RELEASE, NULL, date, hash, t),
	    BYPASS_BAD_MAC);
	assert_int_equal(V(BYPASS_FOR_ARCHIVE, "archive@x.test", date, hash,
	    t + 3601), BYPASS_EXPIRED);
#undef V
	/* a release header never verifies as an archive header */
	n = bypass_mint(a, "0123456789ABCDEF", t, t + 3600, mid, strlen(mid),
	    date, strlen(date), hash, h, sizeof(h));
	assert_true(n > 0);
	assert_int_equal(bypass_verify_for(keys, 1, BYPASS_FOR_ARCHIVE,
	    "archive@x.test", h, (size_t)n, t, 3600, mid, strlen(mid), date,
	    strlen(date), hash, id, sizeof(id)), BYPASS_BAD_MAC);
	bypass_key_free(a);
}

/* dir is a mkdtemp() name: no quoting needed */
static void
rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static struct mc_config *
config_for(const char *dir)
{
	struct mc_config *cf;
	char err[256];

	assert_int_equal(conf_load(NULL, &cf, err, sizeof(err)), 0);
	free(cf->archive_dir);
	cf->archive_dir = strdup(dir);
	return cf;
}

static struct spool *
message(void)
{
	static const char msg[] =
	    "From: a@example.org\r\n"
	    "Subject: hello\r\n"
	    "\tfolded\r\n"
	    "X-MailCorral-Bypass: v=1; secret-token\r\n"
	    "Message-ID: <m@x>\r\n"
	    "\r\n"
	    "body line\r\n";
	struct spool *sp = spool_new("/tmp", 1 << 20);

	assert_non_null(sp);
	assert_int_equal(spool_write(sp, msg, sizeof(msg) - 1), 0);
	return sp;
}

static uint64_t
body_off(void)
{
	return (uint64_t)(strstr(
	    "From: a@example.org\r\nSubject: hello\r\n\tfolded\r\n"
	    "X-MailCorral-Bypass: v=1; secret-token\r\nMessage-ID: <m@x>\r\n"
	    "\r\nbody line\r\n", "\r\n\r\n") + 4 -
	    "From: a@example.org\r\nSubject: hello\r\n\tfolded\r\n"
	    "X-MailCorral-Bypass: v=1; secret-token\r\nMessage-ID: <m@x>\r\n"
	    "\r\nbody line\r\n");
}

static void
test_file_modes_and_content(void **state)
{
	char dir[] = "/tmp/test_archive.XXXXXX", path[512], rel[ARC_REL_MAX];
	char buf[1024], *rcpts[] = { "u1@x", "u2@x" };
	struct arc_verdict v = { "accept", "no", "none", 10, 0 };
	struct mc_config *cf;
	struct arc_file *af;
	struct spool *sp;
	struct stat st;
	ssize_t n;
	int fd;

	(void)state;
	umask(077);
	assert_non_null(mkdtemp(dir));
	cf = config_for(dir);
	sp = message();
	af = arc_begin(cf, "../../etc/passwd", "s@x", rcpts, 2, sp,
	    body_off());
	assert_non_null(af);
	assert_int_equal(arc_commit(af, &v, rel, sizeof(rel)), 0);
	assert_int_equal(strncmp(rel + 11, "NOQUEUE-", 8), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	snprintf(path, sizeof(path), "%s/%.10s", dir, rel);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	snprintf(path, sizeof(path), "%s/%.4s", dir, rel);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "X-MailCorral-Envelope-From: <s@x>\r\n"));
	assert_non_null(strstr(buf, "X-MailCorral-Envelope-To: <u2@x>\r\n"));
	assert_non_null(strstr(buf, "Subject: hello\r\n\tfolded\r\n"));
	assert_non_null(strstr(buf, "\r\n\r\nbody line\r\n"));
	assert_null(strstr(buf, "secret-token"));	/* SC-B11 */
	spool_free(sp);
	conf_free(cf);
	rm_rf(dir);
}

static void
test_symlink_refused(void **state)
{
	char dir[] = "/tmp/test_archive.XXXXXX", victim[] =
	    "/tmp/test_archive_v.XXXXXX", rel[ARC_REL_MAX], path[512];
	char *rcpts[] = { "u@x" };
	struct mc_config *cf;
	struct spool *sp;
	time_t now = time(NULL);
	struct tm tm;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(victim));
	gmtime_r(&now, &tm);
	snprintf(path, sizeof(path), "%s/%04d", dir, tm.tm_year + 1900);
	assert_int_equal(symlink(victim, path), 0);
	cf = config_for(dir);
	sp = message();
	errno = 0;
	assert_null(arc_begin(cf, "ABC", "s@x", rcpts, 1, sp, body_off()));
	/* O_DIRECTORY|O_NOFOLLOW on a symlink: ENOTDIR (or ELOOP) */
	assert_true(errno == ENOTDIR || errno == ELOOP);
	/* nothing was made in the victim directory */
	snprintf(path, sizeof(path), "%s/%02d", victim, tm.tm_mon + 1);
	assert_int_equal(access(path, F_OK), -1);
	(void)rel;
	spool_free(sp);
	conf_free(cf);
	rm_rf(dir);
	rm_rf(victim);
}

static void
test_missing_dir(void **state)
{
	char *rcpts[] = { "u@x" };
	struct mc_config *cf;
	struct spool *sp;

	(void)state;
	cf = config_for("/tmp/test_archive_no_such_dir/x");
	sp = message();
	errno = 0;
	assert_null(arc_begin(cf, "ABC", "s@x", rcpts, 1, sp, body_off()));
	assert_int_equal(errno, ENOENT);
	spool_free(sp);
	conf_free(cf);
}

/*
 * Group commit: 8 threads archive 10 messages each at once; every file is
 * published with its own content, and every directory sync went through
 * the group (one request per message), in fewer batches than requests
 * only when they overlapped (not asserted: a fast disk may not).
 */
#define GC_THREADS	8
#define GC_MSGS		10

struct gc_arg {
	struct mc_config *cf;
	unsigned	  t;
	char		  rel[GC_MSGS][ARC_REL_MAX];
	int		  rc;
};

static void *
gc_thread(void *p)
{
	struct gc_arg *a = p;
	struct arc_verdict v = { "accept", "no", "none", 10, 1 };
	char *rcpts[] = { "u@x" }, qid[16];
	struct arc_file *af;
	struct spool *sp;
	unsigned i;

	for (i = 0; i < GC_MSGS; i++) {
		snprintf(qid, sizeof(qid), "T%uN%u", a->t, i);
		if ((sp = spool_new("/tmp", 1 << 20)) == NULL ||
		    spool_write(sp, "Subject: s\r\n\r\nbody\r\n", 20) == -1) {
			a->rc = -1;
			spool_free(sp);
			return NULL;
		}
		if ((af = arc_begin(a->cf, qid, "s@x", rcpts, 1, sp, 14)) ==
		    NULL || arc_commit(af, &v, a->rel[i], ARC_REL_MAX) == -1)
			a->rc = -1;
		spool_free(sp);
	}
	return NULL;
}

static void
test_group_commit(void **state)
{
	char dir[] = "/tmp/test_archive.XXXXXX", path[512], buf[512];
	char want[64];
	struct gc_arg a[GC_THREADS];
	pthread_t th[GC_THREADS];
	unsigned long b0, r0, b1, r1;
	struct mc_config *cf;
	unsigned t, i;
	ssize_t n;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	cf = config_for(dir);
	arc_sync_stats(&b0, &r0);
	for (t = 0; t < GC_THREADS; t++) {
		memset(&a[t], 0, sizeof(a[t]));
		a[t].cf = cf;
		a[t].t = t;
		assert_int_equal(pthread_create(&th[t], NULL, gc_thread,
		    &a[t]), 0);
	}
	for (t = 0; t < GC_THREADS; t++)
		pthread_join(th[t], NULL);
	arc_sync_stats(&b1, &r1);
	for (t = 0; t < GC_THREADS; t++) {
		assert_int_equal(a[t].rc, 0);
		for (i = 0; i < GC_MSGS; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir,
			    a[t].rel[i]);
			assert_int_not_equal(fd = open(path, O_RDONLY), -1);
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			assert_true(n > 0);
			buf[n] = '\0';
			snprintf(want, sizeof(want),
			    "X-MailCorral-Queue-ID: T%uN%u\r\n", t, i);
			assert_non_null(strstr(buf, want));
			assert_non_null(strstr(buf, "\r\n\r\nbody\r\n"));
		}
	}
	assert_int_equal(r1 - r0, GC_THREADS * GC_MSGS);
	assert_true(b1 - b0 >= 1 && b1 - b0 <= r1 - r0);
	print_message("group commit: %lu syncs in %lu batches\n", r1 - r0,
	    b1 - b0);
	conf_free(cf);
	rm_rf(dir);
}

/* arc_commit() cuts long values to their column and journals one line. */
static void
test_commit_journal_truncates(void **state)
{
	char dir[] = "/tmp/test_archive.XXXXXX", jpath[600], rel[ARC_REL_MAX];
	char full[600], line[8192], *rcpts[] = { "u@x" };
	struct arc_verdict v = { "tag", "yes:9.0/5.0", "none", 123, 0 };
	struct buf msgb = BUF_INIT;
	struct mc_config *cf;
	struct arc_file *af;
	struct arc_row r;
	struct spool *sp;
	uint64_t off;
	ssize_t n;
	size_t i;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	cf = config_for(dir);
	free(cf->archive_db_name);
	cf->archive_db_name = strdup("mailcorral");
	snprintf(jpath, sizeof(jpath), "%s/journal", dir);
	free(cf->archive_journal);
	cf->archive_journal = strdup(jpath);
	buf_adds(&msgb, "From: \"O'Brien \\\\\" <o@x>\r\nSubject: ");
	for (i = 0; i < 10240; i++)
		buf_addc(&msgb, 'a' + (int)(i % 26));
	buf_adds(&msgb, "\r\n\tfold\r\n\r\n");
	off = msgb.len;
	buf_adds(&msgb, "body\r\n");
	sp = spool_new("/tmp", 1 << 20);
	assert_int_equal(spool_write(sp, msgb.data, msgb.len), 0);
	af = arc_begin(cf, "Q1", "s@x", rcpts, 1, sp, off);
	assert_non_null(af);
	assert_int_equal(arc_commit(af, &v, rel, sizeof(rel)), 0);
	fd = open(jpath, O_RDONLY);
	assert_true(fd != -1);
	n = read(fd, line, sizeof(line));
	close(fd);
	assert_true(n > 0 && line[n - 1] == '\n');
	assert_null(memchr(line, '\n', (size_t)n - 1));	/* one line */
	assert_int_equal(arc_decode_row(line, (size_t)n - 1, &r), 0);
	assert_int_equal(r.len[ARC_F_SUBJECT], arc_field_max[ARC_F_SUBJECT]);
	assert_memory_equal(r.f[ARC_F_SUBJECT], "abcdefghij", 10);
	assert_int_equal(r.len[ARC_F_KEY], strlen(rel));
	assert_memory_equal(r.f[ARC_F_KEY], rel, strlen(rel));
	snprintf(full, sizeof(full), "%s/%s", dir, rel);
	assert_int_equal(r.len[ARC_F_PATH], strlen(full));
	assert_memory_equal(r.f[ARC_F_PATH], full, strlen(full));
	assert_int_equal(r.len[ARC_F_FROM], strlen("\"O'Brien \\\\\" <o@x>"));
	assert_memory_equal(r.f[ARC_F_ACTION], "tag", 3);
	assert_memory_equal(r.f[ARC_F_SIZE], "123", 3);
	assert_memory_equal(r.f[ARC_F_QID], "Q1", 2);
	buf_free(&msgb);
	spool_free(sp);
	conf_free(cf);
	rm_rf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_hostile),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_display_fffd),
		cmocka_unit_test(test_rel_path),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_file_modes_and_content),
		cmocka_unit_test(test_symlink_refused),
		cmocka_unit_test(test_missing_dir),
		cmocka_unit_test(test_commit_journal_truncates),
		cmocka_unit_test(test_group_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
