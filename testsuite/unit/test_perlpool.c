/*
 * test_perlpool.c -- the Perl shim's protocol: the value encoding, the
 * reply parser and validator (every verb, every refusal), the request's
 * header list, and one real exchange: a scanned message sent to a real
 * perl -T perlshim.pl worker and its answer parsed (perlpool.c).
 */
#include "unit.h"

#include <dirent.h>

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "confsnap.h"
#include "perlpool.h"
#include "scan.h"

static const unsigned parts[] = { 1, 2, 5 };
#define DIR	"/var/spool/mc/perl.AbC123"

static int
parse(const char *s, struct pp_reply *r, char *why, size_t whylen)
{
	return pp_parse_reply(s, strlen(s), parts, 3, DIR, r, why, whylen);
}

static void
refused(const char *s, const char *want)
{
	struct pp_reply r;
	char why[64];

	if (parse(s, &r, why, sizeof(why)) != -1)
		fail_msg("accepted: %s", s);
	if (strcmp(why, want) != 0)
		fail_msg("%s: reason %s, want %s", s, why, want);
	assert_int_equal(r.n, 0);
	assert_null(r.a);
}

static void
test_encode_roundtrip(void **state)
{
	struct buf b = BUF_INIT;
	char in[256], out[300];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)i;
	assert_int_equal(pp_encode(&b, in, sizeof(in)), 0);
	/* no blank, control byte, 8-bit byte or line end left */
	for (i = 0; i < b.len; i++)
		assert_true(b.data[i] > 0x20 && b.data[i] < 0x7f);
	assert_int_equal(pp_decode(b.data, b.len, out, sizeof(out) - 1, &n),
	    0);
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(in, out, n);
	buf_reset(&b);
	assert_int_equal(pp_encode(&b, "a b%c\r\n", 7), 0);
	assert_string_equal(b.data, "a%20b%25c%0D%0A");
	buf_free(&b);
}

static void
test_decode_errors(void **state)
{
	char out[16];
	size_t n;

	(void)state;
	assert_int_equal(pp_decode("%4", 2, out, 10, &n), -1);
	assert_int_equal(pp_decode("%", 1, out, 10, &n), -1);
	assert_int_equal(pp_decode("%zz", 3, out, 10, &n), -1);
	assert_int_equal(pp_decode("a b", 3, out, 10, &n), -1);
	assert_int_equal(pp_decode("abcdef", 6, out, 5, &n), -1);
	assert_int_equal(pp_decode("abcde", 5, out, 5, &n), 0);
	assert_int_equal(pp_decode("%41%62", 6, out, 5, &n), 0);
	assert_string_equal(out, "Ab");
	assert_int_equal(pp_decode("", 0, out, 5, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_every_verb(void **state)
{
	struct pp_reply r;
	char why[64];

	(void)state;
	assert_int_equal(parse(
	    "DROP 1 site%20policy\n"
	    "RENAME 2 new%20name.txt\n"
	    "REPLACE 5 text/plain r.txt " DIR "/replace1\n"
	    "HEADER-ADD X-Site a%20b\n"
	    "HEADER-CHANGE Subject 2 new%09subject\n"
	    "HEADER-DELETE X-Old\n"
	    "ACCEPT\n"
	    "F\n", &r, why, sizeof(why)), 0);
	assert_int_equal(r.n, 6);
	assert_int_equal(r.verdict, PP_ACCEPT);
	assert_int_equal(r.a[0].verb, PP_DROP);
	assert_int_equal(r.a[0].part, 1);
	assert_string_equal(r.a[0].value, "site policy");
	assert_int_equal(r.a[1].verb, PP_RENAME);
	assert_string_equal(r.a[1].name, "new name.txt");
	assert_int_equal(r.a[2].verb, PP_REPLACE);
	assert_int_equal(r.a[2].part, 5);
	assert_string_equal(r.a[2].type, "text/plain");
	assert_string_equal(r.a[2].path, DIR "/replace1");
	assert_int_equal(r.a[3].verb, PP_HDR_ADD);
	assert_string_equal(r.a[3].name, "X-Site");
	assert_string_equal(r.a[3].value, "a b");
	assert_int_equal(r.a[4].verb, PP_HDR_CHANGE);
	assert_int_equal(r.a[4].index, 2);
	assert_string_equal(r.a[4].value, "new subject");	/* tab: blank */
	assert_int_equal(r.a[5].verb, PP_HDR_DELETE);
	assert_string_equal(r.a[5].name, "X-Old");
	pp_reply_free(&r);

	assert_int_equal(parse("REJECT go%20away\nF\n", &r, why,
	    sizeof(why)), 0);
	assert_int_equal(r.verdict, PP_REJECT);
	assert_string_equal(r.text, "go away");
	pp_reply_free(&r);
	assert_int_equal(parse("TEMPFAIL later\nF\n", &r, why, sizeof(why)),
	    0);
	assert_int_equal(r.verdict, PP_TEMPFAIL);
	pp_reply_free(&r);
	assert_int_equal(parse("DISCARD\nF\n", &r, why, sizeof(why)), 0);
	assert_int_equal(r.verdict, PP_DISCARD);
	pp_reply_free(&r);
	assert_int_equal(parse("F\n", &r, why, sizeof(why)), 0);
	assert_int_equal(r.verdict, PP_NONE);
	assert_int_equal(r.n, 0);
	pp_reply_free(&r);
	/* an empty header value and an empty warning are allowed */
	assert_int_equal(parse("HEADER-ADD X-E \nDROP 2 \nF\n", &r, why,
	    sizeof(why)), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.a[0].value, "");
	pp_reply_free(&r);
	/* the filter died: parsed, reported as an error */
	assert_int_equal(parse("ERROR boom%0Aat%20line%201\nF\n", &r, why,
	    sizeof(why)), 0);
	assert_non_null(strstr(r.error, "boom"));
	assert_null(strchr(r.error, '\n'));
	pp_reply_free(&r);
}

static void
test_refusals(void **state)
{
	char big[PP_VALUE_MAX * 3 + 64];
	size_t i;

	(void)state;
	/* SC-P2: no terminator, or cut mid-line */
	refused("", "no-terminator");
	refused("ACCEPT\n", "no-terminator");
	refused("DROP 1 x\nHEADER-ADD X-A b", "no-terminator");
	refused("F", "no-terminator");
	refused("F\nACCEPT\n", "data-after-terminator");
	refused("F\nF\n", "data-after-terminator");
	/* unknown verbs, wrong argument counts */
	refused("EXEC rm%20-rf\nF\n", "bad-verb");
	refused("accept\nF\n", "bad-verb");
	refused("\nF\n", "bad-verb");
	refused("ACCEPT now\nF\n", "bad-arguments");
	refused("DROP 1\nF\n", "bad-arguments");
	refused("DROP 1 a b\nF\n", "bad-arguments");
	refused("REPLACE 1 text/plain x\nF\n", "bad-arguments");
	refused("HEADER-CHANGE X-A 1\nF\n", "bad-arguments");
	refused("REJECT\nF\n", "bad-arguments");
	refused("REJECT \nF\n", "empty-value");
	/* part ids */
	refused("DROP 3 x\nF\n", "bad-part");
	refused("DROP -1 x\nF\n", "bad-part");
	refused("DROP 1x x\nF\n", "bad-part");
	refused("DROP  x\nF\n", "bad-part");
	refused("RENAME 99999999999 x\nF\n", "bad-part");
	/* header names */
	refused("HEADER-ADD X%20Bad v\nF\n", "bad-header-name");
	refused("HEADER-ADD X:Bad v\nF\n", "bad-header-name");
	refused("HEADER-ADD X_Bad v\nF\n", "bad-header-name");
	refused("HEADER-ADD X-A%0D%0ABcc v\nF\n", "bad-header-name");
	refused("HEADER-ADD X-A%00 v\nF\n", "bad-header-name");
	refused("HEADER-DELETE %C3%A9\nF\n", "bad-header-name");
	refused("HEADER-ADD  v\nF\n", "bad-header-name");
	refused("HEADER-CHANGE X-A 0 v\nF\n", "bad-index");
	refused("HEADER-CHANGE X-A x v\nF\n", "bad-index");
	/* CR, LF, NUL in values (BI-31) */
	refused("HEADER-ADD X-A a%0D%0ABcc:%20evil@x.test\nF\n", "bad-value");
	refused("HEADER-ADD X-A a%0Ab\nF\n", "bad-value");
	refused("HEADER-ADD X-A a%0Db\nF\n", "bad-value");
	refused("HEADER-ADD X-A a%00b\nF\n", "bad-value");
	refused("REJECT no%0D%0A250%20ok\nF\n", "bad-value");
	refused("RENAME 1 a%0Ab\nF\n", "bad-value");
	refused("DROP 1 a%0Ab\nF\n", "bad-value");
	refused("HEADER-ADD X-A a\rb\nF\n", "bad-encoding");
	refused("HEADER-ADD X-A a%zz\nF\n", "bad-encoding");
	/* length */
	for (i = 0; i < PP_VALUE_MAX + 1; i++)
		big[i] = 'a';
	big[i] = '\0';
	{
		char line[sizeof(big) + 32];

		snprintf(line, sizeof(line), "HEADER-ADD X-A %s\nF\n", big);
		refused(line, "value-too-long");
	}
	/* REPLACE paths outside the message's directory */
	refused("REPLACE 1 text/plain x /etc/passwd\nF\n", "bad-path");
	refused("REPLACE 1 text/plain x " DIR "/../x\nF\n", "bad-path");
	refused("REPLACE 1 text/plain x " DIR "/a/b\nF\n", "bad-path");
	refused("REPLACE 1 text/plain x " DIR "/\nF\n", "bad-path");
	refused("REPLACE 1 text/plain x " DIR "\nF\n", "bad-path");
	refused("REPLACE 1 text/plain x " DIR "x/r\nF\n", "bad-path");
	refused("REPLACE 1 text/plain x " DIR "/r%00x\nF\n", "bad-path");
	refused("REPLACE 1 text/plain x " DIR "/.hidden\nF\n", "bad-path");
	refused("REPLACE 1 text%0Aplain x " DIR "/r\nF\n", "bad-value");
	refused("REPLACE 1 text x " DIR "/r\nF\n", "bad-type");
	refused("REPLACE 1 text/pl;ain x " DIR "/r\nF\n", "bad-type");
	refused("REPLACE 1 text/plain  " DIR "/r\nF\n", "empty-value");
	/* two verdicts */
	refused("ACCEPT\nREJECT no\nF\n", "two-verdicts");
	refused("DISCARD\nDISCARD\nF\n", "two-verdicts");
}

/* SPAM <score> <reason>: the filter's spam verdict (one, not with ACCEPT). */
static const struct {
	const char	*reply;
	const char	*why;		/* NULL: accepted */
	double		 score;
	const char	*reason;
} spam_cases[] = {
	{ "SPAM 7.5 site%20rule\nF\n", NULL, 7.5, "site rule" },
	{ "SPAM -2 %\nF\n", "bad-encoding", 0, NULL },
	{ "SPAM 0 \nF\n", NULL, 0, "" },
	{ "SPAM 10000 x\nF\n", NULL, 10000, "x" },
	{ "SPAM -10000.000 x\nF\n", NULL, -10000, "x" },
	{ "SPAM 12.125 x\nDROP 1 w\nHEADER-ADD X-A b\nF\n", NULL, 12.125,
	  "x" },
	{ "SPAM 1 x\nDISCARD\nF\n", NULL, 1, "x" },
	{ "SPAM 10001 x\nF\n", "bad-score", 0, NULL },
	{ "SPAM 1e3 x\nF\n", "bad-score", 0, NULL },
	{ "SPAM nan x\nF\n", "bad-score", 0, NULL },
	{ "SPAM inf x\nF\n", "bad-score", 0, NULL },
	{ "SPAM 0x10 x\nF\n", "bad-score", 0, NULL },
	{ "SPAM .5 x\nF\n", "bad-score", 0, NULL },
	{ "SPAM 5. x\nF\n", "bad-score", 0, NULL },
	{ "SPAM 5.1234 x\nF\n", "bad-score", 0, NULL },
	{ "SPAM --5 x\nF\n", "bad-score", 0, NULL },
	{ "SPAM +5 x\nF\n", "bad-score", 0, NULL },
	{ "SPAM %35 x\nF\n", "bad-score", 0, NULL },
	{ "SPAM 5\nF\n", "bad-arguments", 0, NULL },
	{ "SPAM 5 a b\nF\n", "bad-arguments", 0, NULL },
	{ "SPAM 5 a%0Ab\nF\n", "bad-value", 0, NULL },
	{ "SPAM 5 a\nSPAM 6 b\nF\n", "two-spam-verdicts", 0, NULL },
	{ "SPAM 5 a\nACCEPT\nF\n", "spam-and-accept", 0, NULL },
	{ "ACCEPT\nSPAM 5 a\nF\n", "spam-and-accept", 0, NULL },
	{ "SPAM 5 a\n", "no-terminator", 0, NULL },
};

static void
test_spam_verb(void **state)
{
	struct pp_reply r;
	char why[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(spam_cases) / sizeof(spam_cases[0]); i++) {
		if (spam_cases[i].why != NULL) {
			refused(spam_cases[i].reply, spam_cases[i].why);
			continue;
		}
		if (parse(spam_cases[i].reply, &r, why, sizeof(why)) != 0)
			fail_msg("refused (%s): %s", why, spam_cases[i].reply);
		assert_int_equal(r.spam, 1);
		assert_true(r.spam_score == spam_cases[i].score);
		assert_string_equal(r.spam_reason, spam_cases[i].reason);
		pp_reply_free(&r);
		assert_int_equal(r.spam, 0);
	}
	/* no SPAM line: no spam verdict */
	assert_int_equal(parse("ACCEPT\nF\n", &r, why, sizeof(why)), 0);
	assert_int_equal(r.spam, 0);
	pp_reply_free(&r);
}

static void
test_limits(void **state)
{
	struct buf b = BUF_INIT;
	struct pp_reply r;
	char why[64];
	unsigned i;

	(void)state;
	for (i = 0; i < PP_MAX_ACTIONS; i++)
		buf_adds(&b, "HEADER-DELETE X-A\n");
	buf_adds(&b, "F\n");
	assert_int_equal(pp_parse_reply(b.data, b.len, parts, 3, DIR, &r, why,
	    sizeof(why)), 0);
	assert_int_equal(r.n, PP_MAX_ACTIONS);
	pp_reply_free(&r);
	buf_reset(&b);
	for (i = 0; i <= PP_MAX_ACTIONS; i++)
		buf_adds(&b, "HEADER-DELETE X-A\n");
	buf_adds(&b, "F\n");
	assert_int_equal(pp_parse_reply(b.data, b.len, parts, 3, DIR, &r, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "too-many-actions");
	buf_reset(&b);
	buf_adds(&b, "HEADER-ADD X-A ");
	for (i = 0; i < PP_LINE_MAX; i++)
		buf_addc(&b, 'a');
	buf_adds(&b, "\nF\n");
	assert_int_equal(pp_parse_reply(b.data, b.len, parts, 3, DIR, &r, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "line-too-long");
	buf_free(&b);
}

static void
test_request_headers(void **state)
{
	struct pp_msg *pm;

	(void)state;
	assert_non_null(pm = pp_msg_new());
	assert_int_equal(pp_msg_header(pm, "Subject", "hi"), 0);
	assert_int_equal(pp_msg_header(pm, "X-Two", "a"), 0);
	assert_int_equal(pp_msg_header(pm, "x-two", "b\r\n\tfolded"), 0);
	assert_int_equal(pp_msg_header(pm, "X-Twofold", "c"), 0);
	assert_int_equal(pp_msg_count(pm, "X-TWO"), 2);
	assert_int_equal(pp_msg_count(pm, "Subject"), 1);
	assert_int_equal(pp_msg_count(pm, "X-Tw"), 0);
	assert_int_equal(pp_msg_count(pm, "Absent"), 0);
	pp_msg_free(pm);
}

/* conf.c: the shim's files must be absolute paths of regular files. */
static int
load_conf_text(const char *text, char *err, size_t errlen)
{
	char path[] = "/tmp/mc-unit-perlconf.XXXXXX";
	struct mc_config *cf = NULL;
	FILE *fp;
	int fd, rc;

	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs(text, fp);
	fclose(fp);
	rc = conf_load(path, &cf, err, errlen);
	conf_free(cf);
	unlink(path);
	return rc;
}

static void
test_conf_paths(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(load_conf_text("perl_filter = filter.pl\n", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not an absolute path"));
	assert_int_equal(load_conf_text("perl_filter = /nonexistent/f.pl\n",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "perl_filter"));
	assert_int_equal(load_conf_text("perl_filter = /tmp\n", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(load_conf_text("perl_filter = /etc/passwd\n"
	    "perl_shim = /nonexistent/perlshim.pl\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "perl_shim"));
	assert_int_equal(load_conf_text("perl_filter = /etc/passwd\n"
	    "perl_shim = /etc/passwd\nperl_timeout = 0\n", err,
	    sizeof(err)), -1);
	assert_int_equal(load_conf_text("perl_filter = /etc/passwd\n"
	    "perl_shim = /etc/passwd\nperl_workers = 65\n", err,
	    sizeof(err)), -1);
	assert_int_equal(load_conf_text("perl_filter = /etc/passwd\n"
	    "perl_shim = /etc/passwd\nperl_timeout = 1s\n"
	    "perl_kill_grace = 1s\nperl_workers = 64\n", err, sizeof(err)),
	    0);
	/* unset: the shim is off and its paths are not looked at */
	assert_int_equal(load_conf_text("perl_shim = relative.pl\n", err,
	    sizeof(err)), 0);
}

/* ---- one real exchange with perl -T perlshim.pl ---- */

/*
 * Reads only the part called "a b.bin", then lists the message's
 * directory: only that part's file may be there.  Subject "badfetch" asks
 * for a part that was not offered, "plant" puts a file where the message's
 * directory is to be made, so the milter cannot write the part; both
 * catch the error and accept.
 */
static const char filter_pl[] =
    "sub filter_message {\n"
    "  my ($m) = @_;\n"
    "  my $s = $m->header('subject');\n"
    "  $s = '' unless defined $s;\n"
    "  if ($s eq 'badfetch' || $s eq 'plant') {\n"
    "    my ($d) = $m->{dir} =~ /\\A(.*)\\z/;\n"
    "    if ($s eq 'plant') { open(my $fh, '>', $d) or die \"plant: $!\"; close($fh); }\n"
    "    my ($p) = $m->parts;\n"
    "    $p->{id} = 999 if $s eq 'badfetch';\n"
    "    eval { $p->content };\n"
    "    $m->add_header('X-Caught', $@);\n"
    "    $m->accept;\n"
    "    return;\n"
    "  }\n"
    "  for my $p ($m->parts) {\n"
    "    $m->drop_part($p, 'seen ' . $p->content . ' ' . $p->size) if $p->filename eq 'a b.bin';\n"
    "  }\n"
    "  $m->add_header('X-Subject', $s);\n"
    "  $m->add_header('X-Rcpt', join(',', $m->recipients));\n"
    "  if (defined $m->{dir} && opendir(my $dh, $m->{dir})) {\n"
    "    $m->add_header('X-Files', join(',', sort grep { !/\\A\\./ } readdir $dh));\n"
    "  }\n"
    "}\n1;\n";

static const char message[] =
    "Subject: hello $(id) `id`\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n"
    "--b\r\nContent-Type: application/octet-stream; name=\"a b.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n"
    "--b--\r\n";

/* Entries called perl.* in dir: the messages' directories. */
static unsigned
count_perl_dirs(const char *dir)
{
	struct dirent *de;
	unsigned n = 0;
#undef DIR	/* the parser tests' directory name, not dirent.h's type */
	DIR *d;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "perl.", 5) == 0)
			n++;
	closedir(d);
	return n;
}

/* Parses message into a new scan of cf, for the real worker. */
static struct scan *
scan_message(struct mc_config *cf)
{
	struct scan *sc;
	const char *hdr_end;

	assert_non_null(sc = scan_new(cf, "UNIT1"));
	assert_int_equal(scan_header(sc, "Subject", "hello $(id) `id`"), 0);
	assert_int_equal(scan_header(sc, "Content-Type",
	    "multipart/mixed; boundary=\"b\""), 0);
	assert_int_equal(scan_eoh(sc), 0);
	hdr_end = strstr(message, "\r\n\r\n") + 4;
	assert_int_equal(scan_body(sc, hdr_end, strlen(hdr_end)), 0);
	assert_int_equal(scan_finish(sc), 0);
	return sc;
}

/*
 * A configuration whose Perl shim is ./perlshim.pl with the filter text
 * written to dir/name (dir: a new temporary directory, also the spool),
 * one worker, installed; NULL when there is no perl or no shim here (the
 * test skips).  The filter's path goes to fpath.
 */
static struct mc_config *
worker_conf(char *dir, const char *name, const char *text, char *fpath,
    size_t fplen)
{
	struct mc_config *cf;
	char err[256], cwd[PATH_MAX], shim[PATH_MAX + 32];
	FILE *fp;

	if (access("/usr/bin/perl", X_OK) != 0 || getcwd(cwd, sizeof(cwd)) ==
	    NULL)
		return NULL;
	snprintf(shim, sizeof(shim), "%s/perlshim.pl", cwd);
	if (access(shim, R_OK) != 0)
		return NULL;
	assert_non_null(mkdtemp(dir));
	snprintf(fpath, fplen, "%s/%s", dir, name);
	assert_non_null(fp = fopen(fpath, "w"));
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(conf_load(NULL, &cf, err, sizeof(err)), 0);
	free(cf->perl_filter);
	free(cf->perl_shim);
	free(cf->spool_dir);
	cf->perl_filter = strdup(fpath);
	cf->perl_shim = strdup(shim);
	cf->spool_dir = strdup(dir);
	cf->perl_workers = 1;
	cf->perl_timeout = 20;
	cf->perl_kill_grace = 1;
	return cf;
}

static void
test_real_worker(void **state)
{
	struct mc_config *cf;
	struct scan *sc;
	struct pp_msg *pm;
	const struct pp_reply *r;
	char dir[] = "/tmp/mc-unit-perl.XXXXXX", fpath[PATH_MAX];
	char why[256], fname[32];
	char *rcpts[] = { (char *)"r1@x.test", (char *)"r2@x.test" };
	unsigned i;

	(void)state;
	if ((cf = worker_conf(dir, "filter.pl", filter_pl, fpath,
	    sizeof(fpath))) == NULL)
		skip();
	conf_install(cf);
	assert_int_equal(pp_start(cf), 0);
	assert_int_equal(pp_workers(), 1);

	sc = scan_message(cf);
	assert_non_null(pm = pp_msg_new());
	assert_int_equal(pp_msg_header(pm, "Subject", "hello $(id) `id`"), 0);
	if (pp_msg_run(pm, cf, sc, "UNIT1", "s@x.test", rcpts, 2,
	    "client [127.0.0.1]", why, sizeof(why)) != 0)
		fail_msg("pp_msg_run: %s", why);
	r = pp_msg_reply(pm);
	assert_int_equal(r->n, 4);
	assert_int_equal(r->a[0].verb, PP_DROP);
	assert_string_equal(r->a[0].value, "seen hello world 11");
	assert_int_equal(r->a[1].verb, PP_HDR_ADD);
	assert_string_equal(r->a[1].value, "hello $(id) `id`");
	assert_string_equal(r->a[2].value, "r1@x.test,r2@x.test");
	/* only the part the filter read was written (the text part was not) */
	snprintf(fname, sizeof(fname), "part%u", r->a[0].part);
	assert_string_equal(r->a[3].name, "X-Files");
	assert_string_equal(r->a[3].value, fname);
	/* the part id is one the request offered, and it is a leaf */
	{
		const struct mime_part *p;
		unsigned np;

		p = scan_parts(sc, &np);
		assert_true(r->a[0].part < np);
		assert_string_equal(p[r->a[0].part].type,
		    "application/octet-stream");
	}
	pp_msg_free(pm);	/* removes the message's directory */
	scan_free(sc);
	/* fail closed: a part the milter could not give fails the message,
	   though the filter caught the error and accepted */
	for (i = 0; i < 2; i++) {
		const char *subj = i == 0 ? "badfetch" : "plant";

		sc = scan_message(cf);
		assert_non_null(pm = pp_msg_new());
		assert_int_equal(pp_msg_header(pm, "Subject", subj), 0);
		assert_int_equal(pp_msg_run(pm, cf, sc, "UNIT3", "s@x.test",
		    rcpts, 1, "client", why, sizeof(why)), -1);
		assert_string_equal(why, i == 0 ? "bad-fetch" : "part-file");
		/* nothing read, nothing replaced: no directory was made */
		if (i == 0)
			assert_int_equal(count_perl_dirs(dir), 0);
		pp_msg_free(pm);
		scan_free(sc);
	}
	/* the same worker again: still in step */
	for (i = 0; i < 3; i++) {
		struct buf out = BUF_INIT;

		assert_int_equal(pp_exchange(cf, "UNIT2", PP_PROTO "\nEND\n",
		    14, &out, why, sizeof(why)), 0);
		assert_non_null(strstr(out.data, "HEADER-ADD X-Subject"));
		buf_free(&out);
	}
	assert_int_equal(pp_workers(), 1);
	pp_shutdown();
	assert_int_equal(pp_workers(), 0);
	conf_shutdown();
	unlink(fpath);
	assert_int_equal(rmdir(dir), 0);	/* nothing left inside */
}


/*
 * perl_filter_api = mimedefang through the real worker: the MIMEDefang
 * API's filter reads ./INPUTMSG (the whole message, LF line ends) and
 * MIME-tools' entities; its drop of the .bin part lands on MailCorral's
 * part.  The body is fed in pieces cut at every CR, so that a CRLF split
 * across the spool's pieces is seen.  A header over the request's ceiling
 * is refused (header-limit): the filter would read part of the message.
 */
static const char md_filter[] =
    "sub filter {\n"
    "  my ($e, $fname, $ext, $type) = @_;\n"
    "  return action_drop_with_warning(\"no $fname\") if $ext eq '.bin';\n"
    "  return action_accept();\n"
    "}\n"
    "sub filter_end {\n"
    "  open(my $fh, '<', './INPUTMSG') or die \"INPUTMSG: $!\";\n"
    "  binmode($fh); local $/; my $m = <$fh>; close($fh);\n"
    "  action_add_header('X-Len', length($m));\n"
    "  action_add_header('X-CR', ($m =~ tr/\\r//));\n"
    "  action_add_header('X-Sub', $Subject);\n"
    "}\n1;\n";

/* INPUTMSG's expected size: the header as scan_header rebuilds it (one
   field per line), a blank line, the body with each CRLF as LF. */
static size_t
lf_size(const char *subject, const char *body)
{
	size_t n = strlen("Subject: \n") + strlen(subject) +
	    strlen("Content-Type: multipart/mixed; boundary=\"b\"\n\n");
	const char *p;

	for (p = body; *p != '\0'; p++)
		n += !(p[0] == '\r' && p[1] == '\n');
	return n;
}

/*
 * One message through the worker: fed to the scan in pieces that end just
 * after each CR, the request's header fields added (plus big ones over the
 * ceiling when big).  0, or -1 with why.
 */
static int
md_run(struct mc_config *cf, const char *subject, const char *body, int big,
    struct pp_msg **pmp, struct scan **scp, char *why, size_t whylen)
{
	static char bigval[64 * 1024];
	char *rcpts[] = { (char *)"r1@x.test" };
	const char *p, *cr;
	unsigned k;

	assert_non_null(*scp = scan_new(cf, "UNITMD"));
	assert_int_equal(scan_header(*scp, "Subject", subject), 0);
	assert_int_equal(scan_header(*scp, "Content-Type",
	    "multipart/mixed; boundary=\"b\""), 0);
	assert_int_equal(scan_eoh(*scp), 0);
	for (p = body; *p != '\0'; p = cr + 1) {
		if ((cr = strchr(p, '\r')) == NULL)
			cr = p + strlen(p) - 1;
		assert_int_equal(scan_body(*scp, p, (size_t)(cr - p + 1)), 0);
	}
	assert_int_equal(scan_finish(*scp), 0);
	assert_non_null(*pmp = pp_msg_new());
	assert_int_equal(pp_msg_header(*pmp, "Subject", subject), 0);
	assert_int_equal(pp_msg_header(*pmp, "Content-Type",
	    "multipart/mixed; boundary=\"b\""), 0);
	memset(bigval, 'x', sizeof(bigval) - 1);
	for (k = 0; big && k < PP_REQ_HEADERS / sizeof(bigval) + 2; k++)
		assert_int_equal(pp_msg_header(*pmp, "X-Big", bigval), 0);
	return pp_msg_run(*pmp, cf, *scp, "UNITMD", "s@x.test", rcpts, 1,
	    "client", why, whylen);
}

/* The reply to md_filter: the .bin part dropped, INPUTMSG's size, no CR. */
static void
md_check(const struct pp_reply *r, const char *subject, const char *body)
{
	char want[32];

	assert_int_equal(r->n, 4);
	assert_int_equal(r->a[0].verb, PP_DROP);
	assert_string_equal(r->a[0].value, "no a b.bin");
	snprintf(want, sizeof(want), "%zu", lf_size(subject, body));
	assert_string_equal(r->a[1].name, "X-Len");
	assert_string_equal(r->a[1].value, want);
	assert_string_equal(r->a[2].value, "0");
	assert_string_equal(r->a[3].value, subject);
}

static void
test_mimedefang_worker(void **state)
{
	struct mc_config *cf = NULL;
	struct scan *sc;
	struct pp_msg *pm;
	char dir[] = "/tmp/mc-unit-md.XXXXXX", fpath[PATH_MAX];
	char why[256], subj[32];
	struct buf big = BUF_INIT;
	const char *body;
	unsigned i;

	(void)state;
	if (system("perl -MMIME::Parser -e1 2>/dev/null") != 0 ||
	    (cf = worker_conf(dir, "md-filter", md_filter, fpath,
	    sizeof(fpath))) == NULL)
		skip();
	cf->perl_filter_api = CONF_PERL_API_MIMEDEFANG;
	cf->spool_memory = 4096;	/* the big bodies spill to a file */
	conf_install(cf);
	assert_int_equal(pp_start(cf), 0);

	body = strstr(message, "\r\n\r\n") + 4;
	if (md_run(cf, "md test", body, 0, &pm, &sc, why, sizeof(why)) != 0)
		fail_msg("pp_msg_run: %s", why);
	md_check(pp_msg_reply(pm), "md test", body);
	pp_msg_free(pm);
	scan_free(sc);
	/*
	 * Spilled to a file, the spool is copied in 64 KiB pieces: lines
	 * "x\r\n" before the parts, and the subject one byte longer each
	 * time, put a CR as the last byte of a piece in one of the three.
	 */
	buf_adds(&big, "--b\r\nContent-Type: text/plain\r\n\r\n");
	for (i = 0; i < 70000 / 3; i++)
		buf_adds(&big, "x\r\n");
	buf_adds(&big, body);
	assert_non_null(big.data);
	for (i = 0; i < 3; i++) {
		snprintf(subj, sizeof(subj), "spill%.*s", (int)i, "pp");
		if (md_run(cf, subj, big.data, 0, &pm, &sc, why,
		    sizeof(why)) != 0)
			fail_msg("pp_msg_run: %s", why);
		md_check(pp_msg_reply(pm), subj, big.data);
		pp_msg_free(pm);
		scan_free(sc);
	}
	buf_free(&big);
	/* fail closed: a header over the request's ceiling, not read in part */
	assert_int_equal(md_run(cf, "md test", body, 1, &pm, &sc, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "header-limit");
	pp_msg_free(pm);
	scan_free(sc);
	assert_int_equal(count_perl_dirs(dir), 0);
	pp_shutdown();
	conf_shutdown();
	unlink(fpath);
	assert_int_equal(rmdir(dir), 0);	/* nothing left inside */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_roundtrip),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_every_verb),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_spam_verb),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_request_headers),
		cmocka_unit_test(test_conf_paths),
		cmocka_unit_test(test_real_worker),
		cmocka_unit_test(test_mimedefang_worker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
