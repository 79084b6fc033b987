/*
 * test_archq.c -- mailcorral-archive's command line and query builder
 * (archq.c) and the archive file's head read back (arc_read_head): every
 * key parsed, a password on the command line refused in every spelling,
 * bad values refused, the SQL text holds no user byte (only '?' for each
 * bound value, LIKE patterns escaped), the file matcher answers each key,
 * and a forged envelope field inside the message is not taken.
 */
#include "unit.h"

#include <errno.h>

#include "archq.h"
#include "buf.h"
#include "mcarchive.h"

#define NARG(a)	((int)(sizeof(a) / sizeof((a)[0])))

static int
parse(int argc, char **argv, struct arcq *q, char *err, size_t errlen)
{
	err[0] = '\0';
	return arcq_parse(argc, argv, q, err, errlen);
}

static void
test_parse_keys(void **state)
{
	char *argv[] = { "mailcorral-archive", "-c", "/x.conf", "--from",
	    "Alice@", "--to", "bob", "--subject", "  two words ", "--subject",
	    "three", "--since", "2026-12-01", "--until", "2026-12-07",
	    "--message-id", " m1@ex.org ", "--queue-id", "AB12",
	    "--min-size", "2k", "--max-size", "1M", "--spam", "yes",
	    "--virus", "no", "--json", "--limit", "5",
	    "--defaults-file", "/r.cnf", "--user", "reader",
	    "--max-head", "64k" };
	struct arcq q;
	char err[256];

	(void)state;
	assert_int_equal(parse(NARG(argv), argv, &q, err, sizeof(err)), 0);
	assert_string_equal(q.config, "/x.conf");
	assert_string_equal(q.from, "Alice@");
	assert_string_equal(q.to, "bob");
	assert_int_equal(q.nwords, 3);
	assert_string_equal(q.words[0], "two");
	assert_string_equal(q.words[1], "words");
	assert_string_equal(q.words[2], "three");
	assert_int_equal(q.since, 1796083200);		/* 2026-12-01 */
	assert_int_equal(q.until, 1796688000);		/* 2026-12-08 */
	assert_string_equal(q.msgid, "<m1@ex.org>");
	assert_string_equal(q.qid, "AB12");
	assert_int_equal(q.min_size, 2048);
	assert_int_equal(q.max_size, 1048576);
	assert_int_equal(q.spam, ARCQ_YES);
	assert_int_equal(q.virus, ARCQ_NO);
	assert_true(q.json);
	assert_int_equal(q.limit, 5);
	assert_int_equal(q.mode, ARCQ_SEARCH);
	assert_string_equal(q.defaults_file, "/r.cnf");
	assert_string_equal(q.user, "reader");
	assert_int_equal(q.max_head, 65536);
	assert_true(arcq_needs_index(&q));
}

static void
test_modes(void **state)
{
	char *show[] = { "x", "--show", "2026/12/08/AB12-0123456789abcdef" };
	char *exp[] = { "x", "--export", "/tmp/out", "--from", "a" };
	char *stats[] = { "x", "--stats" };
	char *help[] = { "x", "--help" };
	struct arcq q;
	char err[256];

	(void)state;
	assert_int_equal(parse(NARG(show), show, &q, err, sizeof(err)), 0);
	assert_int_equal(q.mode, ARCQ_SHOW);
	assert_string_equal(q.arg, show[2]);
	assert_false(arcq_needs_index(&q));
	assert_int_equal(parse(NARG(exp), exp, &q, err, sizeof(err)), 0);
	assert_int_equal(q.mode, ARCQ_EXPORT);
	assert_string_equal(q.arg, "/tmp/out");
	assert_int_equal(parse(NARG(stats), stats, &q, err, sizeof(err)), 0);
	assert_int_equal(q.mode, ARCQ_STATS);
	assert_int_equal(q.limit, ARCQ_LIMIT);
	assert_int_equal(q.max_head, ARCQ_MAX_HEAD);
	assert_int_equal(parse(NARG(help), help, &q, err, sizeof(err)),
	    ARCQ_HELP);
}

/* Every spelling of a password on the command line: refused, not read. */
static void
test_password_refused(void **state)
{
	static char *spell[] = { "-p", "-psecret", "--password",
	    "--password=secret", "--pass=secret", "--passw", "-cX" };
	struct arcq q;
	char err[256], *argv[4];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(spell) / sizeof(spell[0]); i++) {
		argv[0] = "x";
		argv[1] = "--from";
		argv[2] = "a";
		argv[3] = spell[i];
		if (strcmp(spell[i], "-cX") == 0) {	/* the control */
			assert_int_equal(parse(4, argv, &q, err, sizeof(err)),
			    0);
			continue;
		}
		assert_int_equal(parse(4, argv, &q, err, sizeof(err)),
		    ARCQ_PASSWORD);
		assert_non_null(strstr(err, "ps"));
		assert_null(strstr(err, "secret"));
	}
	/* also before the other options, and with its value apart */
	argv[1] = "-p";
	argv[2] = "secret";
	argv[3] = "--stats";
	assert_int_equal(parse(4, argv, &q, err, sizeof(err)), ARCQ_PASSWORD);
}

static void
test_bad_values(void **state)
{
	static const char *bad[][3] = {
		{ "--since", "2026-13-01", "--since" },
		{ "--since", "2026-02-30", "--since" },
		{ "--until", "yesterday", "--until" },
		{ "--since", "2026-12-01 25:00", "--since" },
		{ "--min-size", "-5", "--min-size" },
		{ "--max-size", "5T", "--max-size" },
		{ "--spam", "maybe", "--spam" },
		{ "--virus", "", "--virus" },
		{ "--limit", "0", "--limit" },
		{ "--max-head", "1000", "--max-head" },
		{ "--show", "../../etc/passwd", "archive id" },
		{ "--show", "2026/12/08/AB12-0123456789abcde", "archive id" },
		{ "--show", "2026/12/08/A.B-0123456789abcdef", "archive id" },
		{ "--message-id", "  ", "--message-id" },
		{ "--bogus", "x", "unknown option" },
		{ "--from", "a", "unexpected argument" },	/* + "stray" */
	};
	struct arcq q;
	char err[256], *argv[5];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[0] = "x";
		argv[1] = (char *)bad[i][0];
		argv[2] = (char *)bad[i][1];
		n = 3;
		if (strcmp(bad[i][2], "unexpected argument") == 0)
			argv[n++] = "stray";
		assert_int_equal(parse(n, argv, &q, err, sizeof(err)),
		    ARCQ_BAD);
		if (strstr(err, bad[i][2]) == NULL)
			fail_msg("%s %s: \"%s\" lacks \"%s\"", bad[i][0],
			    bad[i][1], err, bad[i][2]);
	}
	argv[1] = "--stats";
	argv[2] = "--export";
	argv[3] = "/tmp";
	assert_int_equal(parse(4, argv, &q, err, sizeof(err)), ARCQ_BAD);
	assert_non_null(strstr(err, "one at a time"));
}

static void
test_time(void **state)
{
	long long t;

	(void)state;
	assert_int_equal(arcq_time("2026-12-08", 0, &t), 0);
	assert_int_equal(t, 1796688000);
	assert_int_equal(arcq_time("2026-12-08", 1, &t), 0);
	assert_int_equal(t, 1796688000 + 86400);
	assert_int_equal(arcq_time("2026-12-08 03:15", 0, &t), 0);
	assert_int_equal(t, 1796688000 + 3 * 3600 + 15 * 60);
	assert_int_equal(arcq_time("2026-12-08T03:15", 1, &t), 0);
	assert_int_equal(t, 1796688000 + 3 * 3600 + 16 * 60);
	assert_int_equal(arcq_time("2026-12-08T03:15:20Z", 1, &t), 0);
	assert_int_equal(t, 1796688000 + 3 * 3600 + 15 * 60 + 21);
	assert_int_equal(arcq_time("2024-02-29", 0, &t), 0);
	assert_int_equal(arcq_time("2026-02-29", 0, &t), -1);
	assert_int_equal(arcq_time("2026-12-8", 0, &t), -1);
	assert_int_equal(arcq_time("2026-12-08x", 0, &t), -1);
	assert_int_equal(arcq_time("2026-12-08 3:15", 0, &t), -1);
	assert_int_equal(arcq_time("1969-12-31", 0, &t), -1);
}

static void
test_id_ok(void **state)
{
	char longq[128];

	(void)state;
	assert_true(arcq_id_ok("2026/12/08/AB12cd-0123456789abcdef"));
	assert_true(arcq_id_ok("2026/12/08/NOQUEUE-0123456789ABCDEF"));
	assert_false(arcq_id_ok("2026/12/08/AB12-0123456789abcdef.gz"));
	assert_false(arcq_id_ok("2026/12/08/-0123456789abcdef"));
	assert_false(arcq_id_ok("2026/12/8/AB12-0123456789abcdef"));
	assert_false(arcq_id_ok("../12/08/AB12-0123456789abcdef"));
	assert_false(arcq_id_ok("2026/12/08/AB/12-0123456789abcdef"));
	assert_false(arcq_id_ok("2026/12/08/AB12-0123456789abcdeg"));
	assert_false(arcq_id_ok("2026/12/08/AB12-0123456789abcdef0"));
	assert_false(arcq_id_ok(""));
	memset(longq, 'A', sizeof(longq));
	snprintf(longq, sizeof(longq), "2026/12/08/%.*s-0123456789abcdef",
	    ARC_QID_MAX + 1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	assert_false(arcq_id_ok(longq));
}

static unsigned
count_char(const char *s, int c)
{
	unsigned n = 0;

	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

/*
 * Hostile values go to bound parameters only: the SQL text never holds a
 * byte of them, it has one '?' per parameter, and a LIKE pattern takes %,
 * _ and ! literally.
 */
static void
test_sql_bound(void **state)
{
	static const char *hostile[] = { "'; DROP TABLE t; --", "a%b_c!d",
	    "\\' OR 1=1 #", "`x`", "?" };
	char *argv[] = { "x", "--from", NULL, "--to", NULL, "--subject",
	    NULL, "--queue-id", NULL, "--message-id", NULL, "--since",
	    "2026-12-01", "--until", "2026-12-02", "--min-size", "1",
	    "--max-size", "9", "--spam", "no", "--virus", "unchecked" };
	struct arcq q;
	struct arcq_sql s;
	char err[256];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		argv[2] = argv[4] = argv[6] = argv[8] = argv[10] =
		    (char *)hostile[i];
		assert_int_equal(parse(NARG(argv), argv, &q, err, sizeof(err)),
		    0);
		assert_int_equal(arcq_select(&q, "mailcorral_archive", &s), 0);
		assert_int_equal(count_char(s.text.data, '?'), s.np);
		/* from, to, each word, qid, msgid, 2 times, 2 sizes, limit */
		assert_int_equal(s.np, 9 + q.nwords);
		if (strcmp(hostile[i], "?") != 0)
			assert_null(strstr(s.text.data, hostile[i]));
		assert_non_null(strstr(s.text.data, "FROM `mailcorral_archive`"));
		assert_non_null(strstr(s.text.data, "LEFT(spam, 3) = 'no:'"));
		assert_non_null(strstr(s.text.data,
		    "LEFT(virus, 9) = 'unchecked'"));
		for (k = 0; k < s.np; k++)
			if (!s.p[k].num && s.p[k].s[0] == '%')
				assert_int_equal(s.p[k].s[s.p[k].len - 1], '%');
		arcq_sql_free(&s);
	}
	/* the escaping of the LIKE pattern itself */
	argv[2] = "a%b_c!d";
	assert_int_equal(parse(3, argv, &q, err, sizeof(err)), 0);
	assert_int_equal(arcq_select(&q, "t", &s), 0);
	assert_int_equal(s.np, 2);
	assert_string_equal(s.p[0].s, "%a!%b!_c!!d%");
	assert_int_equal(s.p[1].n, ARCQ_LIMIT);
	arcq_sql_free(&s);
	assert_int_equal(arcq_stats(&q, "t", &s), 0);
	assert_int_equal(count_char(s.text.data, '?'), 1);
	assert_non_null(strstr(s.text.data, "GROUP BY DATE(archived_at)"));
	arcq_sql_free(&s);
}

static const char archived[] =
	"X-MailCorral-Envelope-From: <Sender@Example.org>\r\n"
	"X-MailCorral-Envelope-To: <u1@mx.test>\r\n"
	"X-MailCorral-Envelope-To: <u2@mx.test>\r\n"
	"X-MailCorral-Queue-ID: AB12cd\r\n"
	"From: a@example.org\r\n"
	"Subject: Quarterly\r\n\tREPORT due\r\n"
	"X-MailCorral-Envelope-To: <forged@evil.test>\r\n"
	"Message-ID:  <m1@example.org> \r\n"
	"Subject: second subject\r\n"
	"\r\n"
	"body line\r\n";

static void
test_read_head(void **state)
{
	struct arc_head h;
	size_t len = strlen(archived);

	(void)state;
	assert_int_equal(arc_read_head(archived, len, len, &h), 0);
	assert_string_equal(h.sender.data, "Sender@Example.org");
	assert_string_equal(h.rcpts.data, "u1@mx.test, u2@mx.test");
	assert_string_equal(h.qid.data, "AB12cd");
	assert_string_equal(h.subject.data, "Quarterly\tREPORT due");
	assert_string_equal(h.from.data, "a@example.org");
	assert_int_equal(h.size, strlen("body line\r\n"));
	assert_int_equal(h.body_off, len - h.size);
	arc_head_free(&h);
	/* a head cut short by the reader's limit is refused, not guessed */
	assert_int_equal(arc_read_head(archived, 120, len, &h), -1);
	assert_int_equal(errno, EFBIG);
	assert_null(h.sender.data);
	/* not an archive file: no envelope first, or a foreign field in it */
	assert_int_equal(arc_read_head("From: a\r\n\r\nx", 12, 12, &h), -1);
	arc_head_free(&h);
	assert_int_equal(arc_read_head("X-MailCorral-Envelope-From: <a>\r\n"
	    "From: b\r\n\r\n", 44, 44, &h), -1);
	assert_int_equal(errno, EINVAL);
	assert_null(h.sender.data);	/* freed by arc_read_head */
}

static int
match(const char *k, const char *v)
{
	char *argv[] = { "x", (char *)k, (char *)v };
	struct arc_head h;
	struct arcq q;
	char err[256];
	size_t len = strlen(archived);
	int m;

	assert_int_equal(parse(3, argv, &q, err, sizeof(err)), 0);
	assert_int_equal(arc_read_head(archived, len, len, &h), 0);
	m = arcq_match(&q, &h, 1796688000 + 3600);	/* 2026-12-08 01:00 */
	arc_head_free(&h);
	return m;
}

/* Each key answered from the file, each with a value that must miss. */
static void
test_match(void **state)
{
	(void)state;
	assert_true(match("--from", "sender@EXAMPLE"));
	assert_false(match("--from", "a@example.org"));	/* header From */
	assert_true(match("--to", "U2@MX"));
	assert_false(match("--to", "forged"));	/* after the Queue-ID line */
	assert_true(match("--subject", "report QUARTERLY"));
	assert_false(match("--subject", "report second"));
	assert_true(match("--message-id", "m1@example.org"));
	assert_true(match("--message-id", "<m1@example.org>"));
	assert_false(match("--message-id", "m1@example"));
	assert_true(match("--queue-id", "AB12cd"));
	assert_false(match("--queue-id", "AB12c"));
	assert_true(match("--min-size", "11"));
	assert_false(match("--min-size", "12"));
	assert_true(match("--max-size", "11"));
	assert_false(match("--max-size", "10"));
	assert_true(match("--since", "2026-12-08"));
	assert_true(match("--since", "2026-12-08 01:00"));
	assert_false(match("--since", "2026-12-08 01:00:01"));
	assert_true(match("--until", "2026-12-08"));
	assert_true(match("--until", "2026-12-08 01:00"));
	assert_false(match("--until", "2026-12-08 00:59"));
	assert_false(match("--until", "2026-12-07"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_keys),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_password_refused),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_id_ok),
		cmocka_unit_test(test_sql_bound),
		cmocka_unit_test(test_read_head),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
