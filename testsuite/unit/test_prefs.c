/*
 * test_prefs.c -- unit tests for prefs.c (spam_user_prefs): which rule a
 * recipient gets (address, *@domain, @domain; later lines win, field by
 * field), and the refusal of every kind of bad line with its number, from
 * a string and from a file.  Table-driven: each case is a file text, a
 * recipient and the settings expected.
 */
#include "unit.h"

#include <fcntl.h>

#include "conf.h"
#include "confsnap.h"
#include "prefs.h"

#define NONE	-1.0	/* no threshold set */

static const struct lookup_case {
	const char	*text;
	const char	*rcpt;
	double		 threshold;	/* NONE: not set */
	int		 disposition;	/* -1: not set */
} lookups[] = {
	/* the three pattern forms */
	{ "jo@example.org threshold=3\n", "jo@example.org", 3, -1 },
	{ "*@example.org disposition=corral\n", "ann@example.org", NONE,
	  CONF_DISPO_CORRAL },
	{ "@example.org disposition=trash\n", "ann@example.org", NONE,
	  CONF_DISPO_TRASH },
	/* case, angle brackets and blanks do not matter */
	{ "Jo@Example.ORG disposition=deliver\n", " <JO@example.org> ", NONE,
	  CONF_DISPO_DELIVER },
	/* a domain rule is that domain only */
	{ "@example.org disposition=tag\n", "jo@sub.example.org", NONE, -1 },
	{ "@example.org disposition=tag\n", "jo@example.org.evil", NONE, -1 },
	{ "jo@example.org threshold=3\n", "xjo@example.org", NONE, -1 },
	/* later lines win, whatever the pattern's kind */
	{ "jo@example.org disposition=corral\n@example.org disposition=tag\n",
	  "jo@example.org", NONE, CONF_DISPO_TAG },
	{ "@example.org disposition=tag\njo@example.org disposition=corral\n",
	  "jo@example.org", NONE, CONF_DISPO_CORRAL },
	{ "jo@example.org threshold=2\njo@example.org threshold=9\n",
	  "jo@example.org", 9, -1 },
	/* field by field: a later line setting one field keeps the other */
	{ "@example.org threshold=4 disposition=corral\n"
	  "jo@example.org disposition=deliver\n", "jo@example.org", 4,
	  CONF_DISPO_DELIVER },
	{ "jo@example.org threshold=1 disposition=trash\n"
	  "*@example.org threshold=7.5\n", "jo@example.org", 7.5,
	  CONF_DISPO_TRASH },
	/* comments, blank lines, tabs, order of the settings */
	{ "# users\n\n  \t\njo@example.org\tdisposition=tag  threshold=0 "
	  "# mine\n", "jo@example.org", 0, CONF_DISPO_TAG },
	/* CRLF line ends */
	{ "jo@example.org threshold=6\r\n", "jo@example.org", 6, -1 },
	/* an empty file, a recipient with no '@', an empty recipient */
	{ "", "jo@example.org", NONE, -1 },
	{ "@example.org threshold=1\n", "postmaster", NONE, -1 },
	{ "@example.org threshold=1\n", "<>", NONE, -1 },
};

static void
test_lookup_table(void **state)
{
	char err[256];
	struct prefs *p;
	struct prefs_user u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
		const struct lookup_case *c = &lookups[i];

		p = prefs_parse(c->text, strlen(c->text), "t", err,
		    sizeof(err));
		if (p == NULL)
			fail_msg("case %zu: %s", i, err);
		prefs_lookup(p, c->rcpt, &u);
		if (c->threshold == NONE)
			assert_int_equal(u.has_threshold, 0);
		else {
			assert_int_equal(u.has_threshold, 1);
			assert_true(u.threshold == c->threshold);
		}
		if (u.disposition != c->disposition)
			fail_msg("case %zu: disposition %d, want %d", i,
			    u.disposition, c->disposition);
		prefs_free(p);
	}
}

static const struct bad_case {
	const char	*text;
	const char	*err;		/* the reason starts with this */
} bads[] = {
	{ "jo@example.org\n", "t:1: no setting" },
	{ "\n\njo@example.org threshold\n", "t:3: \"threshold\" is not "
	  "key=value" },
	{ "jo@example.org threshold=x\n", "t:1: threshold \"x\" is not" },
	{ "jo@example.org threshold=\n", "t:1: threshold \"\" is not" },
	{ "jo@example.org threshold=-1\n", "t:1: threshold \"-1\"" },
	{ "jo@example.org threshold=10001\n", "t:1: threshold \"10001\"" },
	{ "jo@example.org threshold=5abc\n", "t:1: threshold \"5abc\"" },
	{ "jo@example.org disposition=reject\n", "t:1: disposition "
	  "\"reject\" is not" },
	{ "jo@example.org disposition=Tag\n", "t:1: disposition \"Tag\"" },
	{ "jo@example.org colour=red\n", "t:1: unknown setting \"colour\"" },
	{ "jo@example.org threshold=1 threshold=2\n", "t:1: threshold given "
	  "twice" },
	{ "jo@example.org disposition=tag disposition=tag\n",
	  "t:1: disposition given twice" },
	{ "example.org threshold=1\n", "t:1: pattern \"example.org\" is not" },
	{ "@ threshold=1\n", "t:1: pattern \"@\" is not" },
	{ "*@ threshold=1\n", "t:1: pattern \"*@\" is not" },
	{ "jo@ threshold=1\n", "t:1: pattern \"jo@\" is not" },
	{ "a@b@c threshold=1\n", "t:1: pattern \"a@b@c\" is not" },
	{ "@a@b threshold=1\n", "t:1: pattern \"@a@b\" is not" },
	{ "*jo@example.org threshold=1\n", "t:1: bad character 0x2a" },
	{ "jo@*.example.org threshold=1\n", "t:1: bad character 0x2a" },
	{ "<jo@example.org> threshold=1\n", "t:1: bad character 0x3c" },
	{ "ok@x threshold=1\njo@ex\x01.org threshold=1\n",
	  "t:2: bad character 0x01" },
};

static void
test_bad_lines(void **state)
{
	char err[256];
	struct prefs *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		err[0] = '\0';
		p = prefs_parse(bads[i].text, strlen(bads[i].text), "t", err,
		    sizeof(err));
		if (p != NULL)
			fail_msg("case %zu accepted", i);
		if (strncmp(err, bads[i].err, strlen(bads[i].err)) != 0)
			fail_msg("case %zu: \"%s\", want \"%s...\"", i, err,
			    bads[i].err);
	}
	/* a NUL byte, a pattern too long */
	p = prefs_parse("a@b threshold=1\0\n", 17, "t", err, sizeof(err));
	assert_null(p);
	assert_string_equal(err, "t:1: NUL byte");
	{
		char big[PREFS_ADDR_MAX + 40];

		memset(big, 'a', PREFS_ADDR_MAX);
		memcpy(big + PREFS_ADDR_MAX - 6, "@x.org", 6);
		snprintf(big + PREFS_ADDR_MAX, 40, " threshold=1\n");
		p = prefs_parse(big, strlen(big), "t", err, sizeof(err));
		assert_non_null(p);
		prefs_free(p);
		memmove(big + 1, big, strlen(big) + 1);
		p = prefs_parse(big, strlen(big), "t", err, sizeof(err));
		assert_null(p);
		assert_string_equal(err, "t:1: pattern too long");
	}
}

static void
test_uses_and_count(void **state)
{
	const char *t = "a@b disposition=corral\n@c threshold=2\n";
	char err[256];
	struct prefs *p;

	(void)state;
	p = prefs_parse(t, strlen(t), "t", err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(prefs_count(p), 2);
	assert_true(prefs_uses(p, CONF_DISPO_CORRAL));
	assert_false(prefs_uses(p, CONF_DISPO_TRASH));
	assert_false(prefs_uses(NULL, CONF_DISPO_CORRAL));
	prefs_free(p);
	prefs_free(NULL);
}

/* The file loader: same rules, its path in the reason; a missing file. */
static void
test_file(void **state)
{
	char path[] = "/tmp/mc-prefs.XXXXXX", err[512], want[600];
	const char *t = "@example.org disposition=corral\nbad line\n";
	struct prefs *p;
	struct prefs_user u;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, t, 32), 32);
	close(fd);
	p = prefs_load(path, err, sizeof(err));
	assert_non_null(p);
	prefs_lookup(p, "x@example.org", &u);
	assert_int_equal(u.disposition, CONF_DISPO_CORRAL);
	prefs_free(p);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd != -1);
	assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
	close(fd);
	assert_null(prefs_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: pattern \"bad\" is not", path);
	assert_memory_equal(err, want, strlen(want));
	unlink(path);
	assert_null(prefs_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

/* The config: a bad prefs file fails conf_load (start and reload). */
static void
test_conf(void **state)
{
	char cpath[] = "/tmp/mc-prefs-conf.XXXXXX";
	char ppath[] = "/tmp/mc-prefs-file.XXXXXX", err[512], line[256];
	struct mc_config *cf;
	struct prefs_user u;
	int fd;
	FILE *fp;

	(void)state;
	assert_true((fd = mkstemp(ppath)) != -1);
	assert_true(write(fd, "jo@x.org threshold=2\n", 21) == 21);
	close(fd);
	assert_true((fd = mkstemp(cpath)) != -1);
	fp = fdopen(fd, "w");
	snprintf(line, sizeof(line), "spam_user_prefs = %s\n", ppath);
	fputs(line, fp);
	fclose(fp);
	assert_int_equal(conf_load(cpath, &cf, err, sizeof(err)), 0);
	prefs_lookup(cf->prefs, "jo@x.org", &u);
	assert_true(u.has_threshold && u.threshold == 2);
	assert_false(conf_corrals(cf));
	conf_free(cf);
	assert_true((fd = open(ppath, O_WRONLY | O_APPEND)) != -1);
	assert_true(write(fd, "jo@x.org threshold=two\n", 23) == 23);
	close(fd);
	assert_int_equal(conf_load(cpath, &cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "spam_user_prefs: "));
	assert_non_null(strstr(err, ":2: threshold \"two\""));
	unlink(ppath);
	unlink(cpath);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_table),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_uses_and_count),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
