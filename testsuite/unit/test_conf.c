/*
 * test_conf.c -- mailcorral.conf parsing: defaults, syntax, errors with
 * file:line, bounds, and the snapshot reference counts.
 */
#include "unit.h"

#include <unistd.h>

#include "conf.h"
#include "html.h"

static char path[64];

static void
write_conf(const char *text)
{
	FILE *fp;

	snprintf(path, sizeof(path), "/tmp/mc-test-conf.%ld", (long)getpid());
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct mc_config *
load_ok(const char *text)
{
	struct mc_config *cf = NULL;
	char err[512] = "";

	write_conf(text);
	if (conf_load(path, &cf, err, sizeof(err)) == -1)
		fail_msg("unexpected error: %s", err);
	unlink(path);
	return cf;
}

static void
load_err(const char *text, const char *want)
{
	struct mc_config *cf = NULL;
	char err[512] = "";

	write_conf(text);
	assert_int_equal(conf_load(path, &cf, err, sizeof(err)), -1);
	assert_null(cf);
	unlink(path);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void
test_defaults(void **state)
{
	struct mc_config *cf = NULL;
	char err[256];

	(void)state;
	assert_int_equal(conf_load(NULL, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf->socket, "inet:2526@127.0.0.1");
	assert_int_equal(cf->attachment_action, CONF_ATTACH_DELETE);
	assert_int_equal(cf->limits.max_depth, 32);
	assert_int_equal(cf->limits.max_parts, 1000);
	assert_int_equal(cf->limits.max_header, 64 * 1024);
	assert_int_equal(cf->spool_memory, 1024 * 1024);
	assert_int_equal(cf->on_mime_limit, CONF_LIMIT_STRIP);
	assert_true(cf->html_defang & HTML_SCRIPT);
	assert_false(cf->html_defang & HTML_FORM);
	assert_non_null(cf->rules);
	conf_free(cf);
}

static void
test_syntax(void **state)
{
	struct mc_config *cf;

	(void)state;
	cf = load_ok("# comment\n\n  socket = unix:/tmp/x.sock   # trailing\n"
	    "ATTACHMENT_ACTION=mangle\n"
	    "warning_text = \"  keep # and \\\"quotes\\\"  \"\n"
	    "bad_extensions = +zip \\\n   -js\n"
	    "mime_max_line = 2k\r\n"
	    "milter_timeout = 2m\n"
	    "html_defang = script, form\n");
	assert_string_equal(cf->socket, "unix:/tmp/x.sock");
	assert_int_equal(cf->attachment_action, CONF_ATTACH_MANGLE);
	assert_string_equal(cf->warning_text, "  keep # and \"quotes\"  ");
	assert_string_equal(cf->bad_extensions, "+zip     -js");
	assert_int_equal(cf->limits.max_line, 2048);
	assert_int_equal(cf->milter_timeout, 120);
	assert_int_equal(cf->html_defang, HTML_SCRIPT | HTML_FORM);
	conf_free(cf);
}

static void
test_errors(void **state)
{
	(void)state;
	load_err("socket = x\nnonsense = 1\n", ":2: unknown keyword \"nonsense\"");
	load_err("\n\nmime_max_depth = 0\n", ":3: mime_max_depth: 0 is out of range");
	load_err("mime_max_parts = 12x\n", ":1: mime_max_parts: \"12x\" is not a number");
	load_err("attachment_action = burn\n", "is not one of delete|mangle");
	load_err("socket\n", ":1: expected \"keyword = value\"");
	load_err("warning_text = \"open\n", ":1: unterminated quote");
	load_err("html_defang = script bogus\n", "unknown html_defang word");
	load_err("spool_memory = 5t\n", "is not a size");
	load_err("log_facility = nosuch\n", "unknown facility");
	load_err("bad_extensions = +\n", "");
}

static void
test_missing_file(void **state)
{
	struct mc_config *cf = NULL;
	char err[256];

	(void)state;
	assert_int_equal(conf_load("/nonexistent/mailcorral.conf", &cf, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/mailcorral.conf"));
}

static void
test_snapshots(void **state)
{
	struct mc_config *a = NULL, *b = NULL, *held;
	char err[256];

	(void)state;
	assert_int_equal(conf_load(NULL, &a, err, sizeof(err)), 0);
	assert_int_equal(conf_load(NULL, &b, err, sizeof(err)), 0);
	conf_install(a);
	held = conf_acquire();
	assert_ptr_equal(held, a);
	assert_int_equal(a->refs, 2);
	conf_install(b);		/* a stays alive: still held */
	assert_int_equal(a->refs, 1);
	assert_ptr_equal(conf_acquire(), b);
	conf_release(b);
	conf_release(held);		/* frees a (ASan would see a leak) */
	conf_shutdown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_snapshots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
