/*
 * test_conf.c -- mailcorral.conf parsing: defaults, syntax, errors with
 * file:line, bounds, the snapshot reference counts, and the keys
 * conf_prepare() loads (bypass_old_key_files, SC-B8 rotation).
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bypass.h"
#include "conf.h"
#include "confsnap.h"
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

/* The pools' keywords reach the clients; archive_db_host's nodes are
   checked at load. */
static void
test_pools(void **state)
{
	struct mc_config *cf;

	(void)state;
	cf = load_ok("spamd_servers = a:1, b:2\nclamd_servers = c d:5\n");
	assert_int_equal(cf->spamd.nservers, 2);
	assert_int_equal(cf->clamd.nservers, 2);
	assert_int_equal(cf->spamd.balance, 0);		/* spread */
	assert_int_equal(cf->clamd.balance, 0);
	assert_int_equal(cf->spamd.max_failures, 3);
	assert_int_equal(cf->spamd.backoff, 30);
	conf_free(cf);
	cf = load_ok("scanner_balance = failover\nspamd_max_failures = 5\n"
	    "spamd_backoff = 1m\nclamd_max_failures = 2\nclamd_backoff = 7s\n"
	    "archive_db_host = 10.0.0.1, [::1]:3307 unix:/run/m.sock db3\n");
	assert_int_equal(cf->spamd.balance, 1);
	assert_int_equal(cf->clamd.balance, 1);
	assert_int_equal(cf->spamd.max_failures, 5);
	assert_int_equal(cf->spamd.backoff, 60);
	assert_int_equal(cf->clamd.max_failures, 2);
	assert_int_equal(cf->clamd.backoff, 7);
	conf_free(cf);
	load_err("scanner_balance = random\n", "is not one of spread|failover");
	load_err("archive_db_host = a, ::1:3306\n",
	    "archive_db_host: config: bad server \"::1:3306\"");
	load_err("archive_db_host = a:x\n", "archive_db_host: config: bad server");
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

static void
write_key(const char *p, int byte)
{
	FILE *fp;
	int i;

	unlink(p);
	assert_non_null(fp = fopen(p, "w"));
	for (i = 0; i < BYPASS_KEY_LEN; i++)
		fprintf(fp, "%02x", byte);
	fputc('\n', fp);
	fclose(fp);
	assert_int_equal(chmod(p, 0600), 0);
}

/* conf_load() and conf_prepare() of a tag configuration with these keys. */
static int
prepare(const char *key, const char *old, struct mc_config **out, char *err,
    size_t errlen)
{
	char text[1024];

	snprintf(text, sizeof(text), "spam_disposition = tag\n"
	    "bypass_key_file = %s\nbypass_old_key_files = \"%s\"\n", key, old);
	*out = load_ok(text);
	return conf_prepare(*out, err, errlen);
}

/* A token minted by k at now, checked against cf's verify keys. */
static enum bypass_result
verify_with(const struct mc_config *cf, const struct bypass_key *k)
{
	unsigned char hash[32];
	char tok[BYPASS_HDR_MAX + 1];
	time_t now = time(NULL);

	memset(hash, 7, sizeof(hash));
	assert_true(bypass_mint(k, "0123456789ABCDEF", now, now + 60, "<m@x>",
	    5, "d", 1, hash, tok, sizeof(tok)) > 0);
	return bypass_verify(cf->verify_keys, cf->nverify_keys, tok,
	    strlen(tok), now, 3600, "<m@x>", 5, "d", 1, hash, NULL, 0);
}

/*
 * SC-B8 rotation: bypass_old_key_files verify, never sign; their files
 * pass the key's checks (regular, 0600, owner) and are never created.
 */
static void
test_old_keys(void **state)
{
	char d[] = "/tmp/mc-test-keys-XXXXXX", cur[64], o1[64], o2[64];
	char list[256], err[512];
	unsigned char raw[BYPASS_KEY_LEN];
	struct bypass_key *k1, *k2;
	struct mc_config *cf;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(cur, sizeof(cur), "%s/cur", d);
	snprintf(o1, sizeof(o1), "%s/old1", d);
	snprintf(o2, sizeof(o2), "%s/old2", d);
	write_key(o1, 0x11);
	write_key(o2, 0x22);
	memset(raw, 0x11, sizeof(raw));
	assert_non_null(k1 = bypass_key_new(raw));
	memset(raw, 0x22, sizeof(raw));
	assert_non_null(k2 = bypass_key_new(raw));

	/* none by default: only the key verifies */
	assert_int_equal(prepare(cur, "", &cf, err, sizeof(err)), 0);
	assert_int_equal(cf->nold_key_files, 0);
	assert_int_equal(cf->nverify_keys, 1);
	assert_ptr_equal(cf->verify_keys[0], cf->key);
	assert_int_equal(verify_with(cf, cf->key), BYPASS_OK);
	assert_int_equal(verify_with(cf, k1), BYPASS_UNKNOWN_KEY);
	conf_free(cf);

	/* a list (blanks and commas): the key first, then the old keys */
	snprintf(list, sizeof(list), " %s ,%s", o1, o2);
	assert_int_equal(prepare(cur, list, &cf, err, sizeof(err)), 0);
	assert_int_equal(cf->nold_key_files, 2);
	assert_string_equal(cf->old_key_files[0], o1);
	assert_string_equal(cf->old_key_files[1], o2);
	assert_int_equal(cf->nverify_keys, 3);
	assert_ptr_equal(cf->verify_keys[0], cf->key);
	assert_string_equal(bypass_key_kid(cf->verify_keys[1]),
	    bypass_key_kid(k1));
	assert_string_equal(bypass_key_kid(cf->verify_keys[2]),
	    bypass_key_kid(k2));
	assert_int_equal(verify_with(cf, k1), BYPASS_OK);
	assert_int_equal(verify_with(cf, k2), BYPASS_OK);
	assert_int_equal(verify_with(cf, cf->key), BYPASS_OK);
	/* new tokens are the key's: bypass_key_file is not an old one */
	assert_string_not_equal(bypass_key_kid(cf->key), bypass_key_kid(k1));
	conf_free(cf);

	/* the same file checks as bypass_key_file */
	assert_int_equal(chmod(o2, 0644), 0);
	assert_int_equal(prepare(cur, list, &cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bypass_old_key_files"));
	assert_non_null(strstr(err, "mode"));
	conf_free(cf);
	assert_int_equal(chmod(o2, 0600), 0);
	if (chown(o2, 12345, 12345) == 0) {
		assert_int_equal(prepare(cur, list, &cf, err, sizeof(err)),
		    -1);
		assert_non_null(strstr(err, "owned"));
		conf_free(cf);
	}
	unlink(o2);
	/* a missing old key is an error and is not created */
	assert_int_equal(prepare(cur, list, &cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bypass_old_key_files"));
	assert_int_equal(access(o2, F_OK), -1);
	conf_free(cf);
	assert_int_equal(mkdir(o2, 0700), 0);
	assert_int_equal(prepare(cur, list, &cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	conf_free(cf);
	rmdir(o2);
	assert_int_equal(symlink(o1, o2), 0);
	assert_int_equal(prepare(cur, list, &cf, err, sizeof(err)), -1);
	conf_free(cf);
	unlink(o2);

	bypass_key_free(k1);
	bypass_key_free(k2);
	unlink(o1);
	unlink(cur);
	rmdir(d);
}

/*
 * corral_host_id: "" or 0..255, checked when the configuration is
 * prepared even where nothing is corralled; anything else refused.
 */
static void
test_host_id(void **state)
{
	static const struct {
		const char	*v;
		int		 ok;
	} t[] = { { "", 1 }, { "0", 1 }, { "7", 1 }, { "255", 1 },
	    { "256", 0 }, { "-1", 0 }, { "x", 0 }, { "1x", 0 }, { " ", 0 },
	    { "0x10", 0 } };
	struct mc_config *cf;
	char text[256], err[512];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "spam_disposition = tag\n"
		    "bypass_key_file = /nonexistent/key\n"
		    "corral_host_id = \"%s\"\n", t[i].v);
		cf = load_ok(text);
		err[0] = '\0';
		r = conf_prepare(cf, err, sizeof(err));
		if (t[i].ok)
			assert_null(strstr(err, "corral_host_id"));
		else {
			assert_int_equal(r, -1);
			assert_non_null(strstr(err, "not a number 0..255"));
		}
		conf_free(cf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_pools),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_snapshots),
		cmocka_unit_test(test_host_id),
		{ "SC-B8 bypass_old_key_files: verify only, key file checks",
		  test_old_keys, NULL, NULL, NULL },
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
