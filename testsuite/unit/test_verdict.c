/*
 * test_verdict.c -- the end-of-message decision (verdict.c), driven
 * directly: a message from a string, a config file written per case, and
 * the step results that need a server (clamd, the Perl shim, the bypass
 * check) from fakes.  Table-driven: every action and every failure class,
 * asserting the action, the class, the SMTP reply and the edit list; the
 * corralled copy carries the same header edits as the delivered one.
 * Everything else is real: the scan, the rewriter, the spam lists, a
 * spamd that does not answer, the corral, the archive, the keys.
 */
#include "unit.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "bypass.h"
#include "clamd.h"
#include "conf.h"
#include "confsnap.h"
#include "corral.h"
#include "mcarchive.h"
#include "perlpool.h"
#include "scan.h"
#include "smfopts.h"
#include "spamd.h"
#include "spool.h"
#include "verdict.h"

#define CRLF	"\r\n"

static char dir[128];

/* ---- fakes for the steps that ask a server ---- */

static struct clamd_verdict fake_cv;
static int fake_clamd_rc;
static struct pp_reply fake_reply;
static struct pp_action fake_actions[4];
static int fake_perl_rc;
static int fake_bypass_rc;

static int
fake_clamd(struct scan *scan, const struct mc_config *cf,
    struct clamd_verdict *cv)
{
	(void)scan;
	(void)cf;
	*cv = fake_cv;
	if (fake_clamd_rc == -1)
		errno = ENOMEM;
	return fake_clamd_rc;
}

static int
fake_perl(struct mc_msg *m, const struct mc_config *cf, const char *client,
    const struct pp_reply **r, char *why, size_t whylen)
{
	(void)m;
	(void)cf;
	(void)client;
	if (fake_perl_rc == -1) {
		snprintf(why, whylen, "timeout");
		return -1;
	}
	*r = &fake_reply;
	return 0;
}

static int
fake_bypass(const struct mc_config *cf, struct mc_msg *m, char *why,
    size_t whylen)
{
	(void)cf;
	(void)m;
	snprintf(why, whylen, "%s", fake_bypass_rc ? "0123456789ABCDEF" :
	    "bad-mac");
	return fake_bypass_rc;
}

/* The copies sent apart (send_copy): the last one, and how many. */
static int fake_remail_rc;
static unsigned fake_remails;
static char fake_remail_from[128], fake_remail_rcpts[512];
static char fake_remail_msg[16384];

static int
fake_remail(const struct mc_config *cf, const char *sender,
    char *const *rcpts, unsigned nrcpt, const char *hdr, size_t hlen,
    struct spool *body, uint64_t from)
{
	size_t n = 0, bl;
	unsigned i;

	(void)cf;
	fake_remails++;
	snprintf(fake_remail_from, sizeof(fake_remail_from), "%s", sender);
	fake_remail_rcpts[0] = '\0';
	for (i = 0; i < nrcpt; i++)
		n += snprintf(fake_remail_rcpts + n, sizeof(fake_remail_rcpts) -
		    n, "%s%s", i ? "," : "", rcpts[i]);
	bl = (size_t)(spool_size(body) - from);
	assert_true(hlen + 2 + bl < sizeof(fake_remail_msg));
	memcpy(fake_remail_msg, hdr, hlen);
	memcpy(fake_remail_msg + hlen, CRLF, 2);
	assert_int_equal(spool_pread(body, fake_remail_msg + hlen + 2, bl,
	    from), (ssize_t)bl);
	fake_remail_msg[hlen + 2 + bl] = '\0';
	return fake_remail_rc;
}

/* spamd_per_user's other users: spam when the user starts with 's'. */
static unsigned fake_spamd_calls;
static char fake_spamd_users[256];
static int fake_spamd_rc;

static int
fake_spamd(const struct mc_config *cf, const char *user, const char *req,
    size_t len, struct spamd_result *res, char *err, size_t errlen)
{
	(void)cf;
	fake_spamd_calls++;
	snprintf(fake_spamd_users + strlen(fake_spamd_users),
	    sizeof(fake_spamd_users) - strlen(fake_spamd_users), "%s;", user);
	assert_non_null(strstr(req, "Subject: hello"));
	assert_true(len > 0);
	if (fake_spamd_rc == -1) {
		snprintf(err, errlen, "timeout (fake)");
		return -1;
	}
	memset(res, 0, sizeof(*res));
	res->is_spam = user[0] == 's';
	res->score = res->is_spam ? 9 : 1;
	res->threshold = 5;
	return 0;
}

static const struct verdict_ops fake_ops = {
	fake_clamd, fake_perl, fake_bypass, fake_remail, fake_spamd
};

/* ---- set-up ---- */

static int
setup(void **state)
{
	char p[256];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mc-verdict-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(p, sizeof(p), "%s/corral", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/spool", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/archive", dir);
	mkdir(p, 0750);
	snprintf(p, sizeof(p), "%s/filter.pl", dir);
	return close(open(p, O_WRONLY | O_CREAT, 0600));
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The built-in defaults, this test's directories, then extra lines. */
static struct mc_config *
config(const char *extra)
{
	struct mc_config *cf = NULL;
	char path[256], err[512];
	const char *p, *at;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/mc.conf", dir);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp, "spool_dir = %s/spool\ncorral_dir = %s/corral\n"
	    "bypass_key_file = %s/key\nspam_arbitron = none\n", dir, dir,
	    dir);
	/* @D@ in extra is this test's directory */
	for (p = extra ? extra : ""; (at = strstr(p, "@D@")) != NULL;
	    p = at + 3)
		fprintf(fp, "%.*s%s", (int)(at - p), p, dir);
	fprintf(fp, "%s\n", p);
	fclose(fp);
	if (conf_load(path, &cf, err, sizeof(err)) == -1 ||
	    conf_prepare(cf, err, sizeof(err)) == -1)
		fail_msg("config: %s", err);
	return cf;
}

/* Feeds msg (headers, blank line, body) as the callbacks do. */
static struct mc_msg *
message(const struct mc_config *cf, const char *msg, const char *rcpt,
    int perl)
{
	struct mc_msg *m;
	const char *p = msg, *eol, *body, *colon, *v;
	char name[128], value[1024];

	assert_non_null(m = calloc(1, sizeof(*m)));
	snprintf(m->qid, sizeof(m->qid), "TESTQID");
	assert_non_null(m->sender = strdup("sender@example.org"));
	snprintf(m->mailer, sizeof(m->mailer), "esmtp");
	assert_non_null(m->rcpts = calloc(1, sizeof(char *)));
	assert_non_null(m->rcpts[0] = strdup(rcpt ? rcpt : "rcpt@example.com"));
	m->nrcpt = 1;
	assert_non_null(m->scan = scan_new(cf, m->qid));
	if (perl)
		assert_non_null(m->perl = pp_msg_new());
	assert_non_null(body = strstr(msg, CRLF CRLF));
	while (p < body + 2) {
		eol = strstr(p, CRLF);
		assert_non_null(colon = memchr(p, ':', (size_t)(eol - p)));
		snprintf(name, sizeof(name), "%.*s", (int)(colon - p), p);
		v = colon + 1 + (colon[1] == ' ');
		snprintf(value, sizeof(value), "%.*s", (int)(eol - v), v);
		verdict_msg_header(m, name, value);
		if (m->perl != NULL)
			assert_int_equal(pp_msg_header(m->perl, name, value), 0);
		assert_int_equal(scan_header(m->scan, name, value), 0);
		p = eol + 2;
	}
	assert_int_equal(scan_eoh(m->scan), 0);
	assert_int_equal(scan_body(m->scan, body + 4, strlen(body + 4)), 0);
	return m;
}

/* The edit list as "A name", "C name i", "D name i", "R addr", ';'-joined. */
static void
edits(const struct mc_verdict *v, char *out, size_t outlen)
{
	const struct verdict_edit *e;
	size_t n = 0;
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < v->nedits && n < outlen; i++) {
		e = &v->edits[i];
		if (e->op == VERDICT_HDR_ADD)
			n += snprintf(out + n, outlen - n, "%sA %s", i ? ";" :
			    "", e->name);
		else if (e->op == VERDICT_RCPT_ADD)
			n += snprintf(out + n, outlen - n, "%sR %s", i ? ";" :
			    "", e->name);
		else if (e->op == VERDICT_RCPT_DEL)
			n += snprintf(out + n, outlen - n, "%sX %s", i ? ";" :
			    "", e->name);
		else
			n += snprintf(out + n, outlen - n, "%s%c %s %u", i ?
			    ";" : "", e->value ? 'C' : 'D', e->name, e->index);
	}
}

/* The value of the first edit of op on name, or NULL. */
static const char *
edit_value(const struct mc_verdict *v, enum verdict_edit_op op,
    const char *name)
{
	unsigned i;

	for (i = 0; i < v->nedits; i++)
		if (v->edits[i].op == op && strcmp(v->edits[i].name, name) == 0)
			return v->edits[i].value;
	return NULL;
}

/* ---- the table ---- */

#define PLAIN	"From: <sender@example.org>" CRLF "To: rcpt@example.com" CRLF \
		"Subject: hello" CRLF "Date: Mon, 7 Dec 2026 10:00:00 +0000" \
		CRLF "Message-ID: <1@example.org>" CRLF
#define TEXT	CRLF "just text" CRLF
#define EXE	"MIME-Version: 1.0" CRLF \
		"Content-Type: multipart/mixed; boundary=\"b\"" CRLF CRLF \
		"--b" CRLF "Content-Type: text/plain" CRLF CRLF "hi" CRLF \
		"--b" CRLF "Content-Type: application/octet-stream" CRLF \
		"Content-Disposition: attachment; filename=\"x.exe\"" CRLF CRLF \
		"MZ" CRLF "--b--" CRLF
#define PARTS	"MIME-Version: 1.0" CRLF \
		"Content-Type: multipart/mixed; boundary=\"b\"" CRLF CRLF \
		"--b" CRLF CRLF "1" CRLF "--b" CRLF CRLF "2" CRLF \
		"--b" CRLF CRLF "3" CRLF "--b" CRLF CRLF "4" CRLF "--b--" CRLF
#define SPAMCONF "blacklist = sender@example.org\n"
#define PERLCONF "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n"
/* a body the built-in checker calls spam (its GTUBE feature) */
#define GTUBE	CRLF "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-" \
		"TEST-EMAIL*C.34X" CRLF
/* spamd as the arbitron, refusing tempfail when it is needed */
#define SPAMD_TF "spam_arbitron = spamd\non_spamd_failure = tempfail\n" \
		"spamd_connect_timeout = 1s\n"

enum fake { F_NONE, F_CLAMD_VIRUS, F_CLAMD_FAIL, F_CLAMD_ERR, F_PERL_FAIL,
	F_PERL_REJECT, F_PERL_TEMPFAIL, F_PERL_DISCARD, F_PERL_HEADERS,
	F_PERL_BADPART, F_BYPASS, F_INTERNAL, F_NOKEY, F_SPAMD_DOWN,
	F_PERL_SPAM };

struct tcase {
	const char		*name;
	const char		*conf;
	const char		*msg;
	enum fake		 fake;
	enum verdict_action	 action;
	enum verdict_fail	 fail;
	const char		*code;		/* NULL: no reply */
	const char		*xcode;
	const char		*text;		/* reply text starts so */
	const char		*edits;		/* edits() of the verdict */
};

static const struct tcase cases[] = {
	{ "accept", NULL, PLAIN TEXT, F_NONE, VERDICT_ACCEPT,
	  VERDICT_FAIL_NONE, NULL, NULL, NULL, "" },
	{ "accept, forged fields stripped", NULL,
	  PLAIN "X-Spam-Status: No" CRLF "X-MailCorral-Filtered: x" CRLF
	  "X-Spam-Status: No" CRLF TEXT, F_NONE, VERDICT_ACCEPT,
	  VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "D X-Spam-Status 2;D X-Spam-Status 1;D X-MailCorral-Filtered 1" },
	{ "accept, attachment removed", NULL, PLAIN EXE, F_NONE,
	  VERDICT_ACCEPT, VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "A X-MailCorral-Filtered" },
	{ "accept, archiver copy", "archive_address = arc@example.net\n",
	  PLAIN TEXT, F_NONE, VERDICT_ACCEPT, VERDICT_FAIL_NONE, NULL, NULL,
	  NULL, "A X-MailCorral-Archive;R arc@example.net" },
	{ "accept, the site's header edits", "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n",
	  PLAIN "X-Old: 1" CRLF TEXT, F_PERL_HEADERS, VERDICT_ACCEPT,
	  VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "A X-Site;C Subject 1;D X-Old 1" },
	{ "accept, clamd down, on_clamd_failure = accept",
	  "virus_arbitron = clamd\non_clamd_failure = accept\n", PLAIN TEXT,
	  F_CLAMD_FAIL, VERDICT_ACCEPT, VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "A X-MailCorral-Virus" },
	{ "tag", SPAMCONF, PLAIN TEXT, F_NONE, VERDICT_TAG, VERDICT_FAIL_NONE,
	  NULL, NULL, NULL, "C Subject 1;A X-Spam-Status;A X-Spam-Score" },
	/* the Perl filter's spam verdict feeds the same disposition */
	{ "tag: the site's filter says spam", PERLCONF, PLAIN TEXT,
	  F_PERL_SPAM, VERDICT_TAG, VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "C Subject 1;A X-Spam-Status;A X-Spam-Score" },
	{ "corral: the site's filter says spam",
	  PERLCONF "spam_disposition = corral\n", PLAIN TEXT, F_PERL_SPAM,
	  VERDICT_CORRAL, VERDICT_FAIL_NONE, NULL, NULL, NULL, NULL },
	{ "discard: the site's filter says spam, trash",
	  PERLCONF "spam_disposition = trash\n", PLAIN TEXT, F_PERL_SPAM,
	  VERDICT_DISCARD, VERDICT_FAIL_NONE, NULL, NULL, NULL, "" },
	{ "accept: the site's filter says nothing", PERLCONF, PLAIN TEXT,
	  F_NONE, VERDICT_ACCEPT, VERDICT_FAIL_NONE, NULL, NULL, NULL, "" },
	{ "tag: a whitelisted sender skips the site's spam verdict too",
	  PERLCONF "whitelist = sender@example.org\n",
	  PLAIN GTUBE, F_PERL_SPAM, VERDICT_ACCEPT, VERDICT_FAIL_NONE, NULL,
	  NULL, NULL, "" },
	/* either: the built-in spam decides, spamd (down) is not asked */
	{ "tag: builtin spam, spamd not asked", SPAMD_TF,
	  PLAIN GTUBE, F_SPAMD_DOWN, VERDICT_TAG, VERDICT_FAIL_NONE, NULL,
	  NULL, NULL, "C Subject 1;A X-Spam-Status;A X-Spam-Score" },
	/* spamd_always: asked, down, but the decision is spam anyway */
	{ "tag: builtin spam, spamd_always, spamd down",
	  SPAMD_TF "spamd_always = yes\n", PLAIN GTUBE,
	  F_SPAMD_DOWN, VERDICT_TAG, VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "C Subject 1;A X-Spam-Status;A X-Spam-Score" },
	/* arbitron: the built-in score does not count, spamd is needed */
	{ "tempfail: builtin spam ignored under spam_combine = arbitron",
	  SPAMD_TF "spam_combine = arbitron\n", PLAIN GTUBE,
	  F_SPAMD_DOWN, VERDICT_TEMPFAIL, VERDICT_FAIL_SPAMD, "451", "4.3.0",
	  "spam checker unavailable", "" },
	/* the site's spam verdict spares spamd too */
	{ "tag: perl spam, spamd not asked", PERLCONF SPAMD_TF
	  "spam_combine = arbitron\n", PLAIN TEXT, F_PERL_SPAM, VERDICT_TAG,
	  VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "C Subject 1;A X-Spam-Status;A X-Spam-Score" },
	{ "bypass", NULL, PLAIN "X-MailCorral-Bypass: v=1" CRLF
	  "X-Spam-Flag: YES" CRLF TEXT, F_BYPASS, VERDICT_BYPASS,
	  VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "D X-MailCorral-Bypass 1;C Subject 1" },
	{ "bypass refused: filtered as usual", NULL,
	  PLAIN "X-MailCorral-Bypass: v=1" CRLF TEXT, F_NONE, VERDICT_ACCEPT,
	  VERDICT_FAIL_NONE, NULL, NULL, NULL, "D X-MailCorral-Bypass 1" },
	{ "corral", SPAMCONF "spam_disposition = corral\n", PLAIN EXE,
	  F_NONE, VERDICT_CORRAL, VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "A X-Spam-Status;A X-Spam-Score;A X-MailCorral-Filtered" },
	{ "discard: spam_disposition = trash",
	  SPAMCONF "spam_disposition = trash\n", PLAIN TEXT, F_NONE,
	  VERDICT_DISCARD, VERDICT_FAIL_NONE, NULL, NULL, NULL, "" },
	{ "discard: virus_action = discard",
	  "virus_arbitron = clamd\nvirus_action = discard\n", PLAIN TEXT,
	  F_CLAMD_VIRUS, VERDICT_DISCARD, VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "" },
	{ "discard: the site's filter", "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n",
	  PLAIN TEXT, F_PERL_DISCARD, VERDICT_DISCARD, VERDICT_FAIL_NONE,
	  NULL, NULL, NULL, "" },
	{ "reject: virus", "virus_arbitron = clamd\nvirus_action = reject\n",
	  PLAIN TEXT, F_CLAMD_VIRUS, VERDICT_REJECT, VERDICT_FAIL_VIRUS,
	  "554", "5.7.1", "virus found: Eicar-Test", "" },
	{ "reject: MIME limit", "mime_max_parts = 2\non_mime_limit = reject\n",
	  PLAIN PARTS, F_NONE, VERDICT_REJECT, VERDICT_FAIL_MIME_LIMIT, "554",
	  "5.6.0", "message structure exceeds", "" },
	{ "reject: the site's filter", "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n",
	  PLAIN TEXT, F_PERL_REJECT, VERDICT_REJECT,
	  VERDICT_FAIL_SITE_REJECT, "554", "5.7.1", "not here_ thanks", "" },
	{ "tempfail: internal", NULL, PLAIN TEXT, F_INTERNAL,
	  VERDICT_TEMPFAIL, VERDICT_FAIL_INTERNAL, "451", "4.3.0",
	  "temporary failure in the mail filter", "" },
	{ "tempfail: internal, clamd finding lost", "virus_arbitron = clamd\n",
	  PLAIN TEXT, F_CLAMD_ERR, VERDICT_TEMPFAIL, VERDICT_FAIL_INTERNAL,
	  "451", "4.3.0", "temporary failure in the mail filter", "" },
	{ "tempfail: modify", "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n", PLAIN TEXT,
	  F_PERL_BADPART, VERDICT_TEMPFAIL, VERDICT_FAIL_MODIFY, "451",
	  "4.3.0", "temporary failure in the mail filter", "" },
	{ "tempfail: clamd",
	  "virus_arbitron = clamd\non_clamd_failure = tempfail\n", PLAIN TEXT,
	  F_CLAMD_FAIL, VERDICT_TEMPFAIL, VERDICT_FAIL_CLAMD, "451", "4.3.0",
	  "virus scanner unavailable", "" },
	{ "tempfail: spamd", "spam_arbitron = spamd\n"
	  "on_spamd_failure = tempfail\nspamd_connect_timeout = 1s\n",
	  PLAIN TEXT, F_SPAMD_DOWN, VERDICT_TEMPFAIL, VERDICT_FAIL_SPAMD,
	  "451", "4.3.0", "spam checker unavailable", "" },
	{ "accept: spamd down, on_spamd_failure = accept",
	  "spam_arbitron = spamd\nspamd_connect_timeout = 1s\n", PLAIN TEXT,
	  F_SPAMD_DOWN, VERDICT_ACCEPT, VERDICT_FAIL_NONE, NULL, NULL, NULL,
	  "A X-MailCorral-Spam" },
	{ "tempfail: perl", "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n", PLAIN TEXT,
	  F_PERL_FAIL, VERDICT_TEMPFAIL, VERDICT_FAIL_PERL, "451", "4.3.0",
	  "site filter failed", "" },
	{ "tempfail: the site's filter", "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n",
	  PLAIN TEXT, F_PERL_TEMPFAIL, VERDICT_TEMPFAIL,
	  VERDICT_FAIL_SITE_TEMPFAIL, "451", "4.3.0", "later please", "" },
	{ "tempfail: corral", SPAMCONF "spam_disposition = corral\n",
	  PLAIN TEXT, F_NOKEY, VERDICT_TEMPFAIL, VERDICT_FAIL_CORRAL, "451",
	  "4.3.0", "cannot store this message", NULL },
	{ "tempfail: archive", "archive_dir = /nonexistent/mc-archive\n"
	  "archive_required = yes\n", PLAIN TEXT, F_NONE, VERDICT_TEMPFAIL,
	  VERDICT_FAIL_ARCHIVE, "451", "4.3.0", "cannot archive", "" },
};

/* spamd's only server is a closed port. */
static void
set_fake_spamd_down(struct mc_config *cf)
{
	char *srv;

	assert_true(asprintf(&srv, "127.0.0.1:%d", unit_closed_port()) > 0);
	free(cf->spamd.servers[0]);
	cf->spamd.servers[0] = srv;
	cf->spamd.nservers = 1;
}

static void
set_fake(enum fake f, struct mc_config *cf, struct mc_msg *m)
{
	memset(&fake_cv, 0, sizeof(fake_cv));
	memset(&fake_reply, 0, sizeof(fake_reply));
	memset(fake_actions, 0, sizeof(fake_actions));
	fake_clamd_rc = fake_perl_rc = fake_bypass_rc = 0;
	fake_reply.a = fake_actions;
	switch (f) {
	case F_CLAMD_VIRUS:
		fake_cv.scans = fake_cv.infected = 1;
		snprintf(fake_cv.virus, sizeof(fake_cv.virus), "Eicar-Test");
		break;
	case F_CLAMD_FAIL:
		fake_cv.failed = 1;
		snprintf(fake_cv.reason, sizeof(fake_cv.reason), "connect");
		break;
	case F_CLAMD_ERR:
		fake_clamd_rc = -1;
		break;
	case F_PERL_FAIL:
		fake_perl_rc = -1;
		break;
	case F_PERL_REJECT:
		fake_reply.verdict = PP_REJECT;
		snprintf(fake_reply.text, sizeof(fake_reply.text),
		    "not here%% thanks");
		break;
	case F_PERL_TEMPFAIL:
		fake_reply.verdict = PP_TEMPFAIL;
		snprintf(fake_reply.text, sizeof(fake_reply.text),
		    "later please");
		break;
	case F_PERL_DISCARD:
		fake_reply.verdict = PP_DISCARD;
		break;
	case F_PERL_HEADERS:
		fake_actions[0].verb = PP_HDR_ADD;
		snprintf(fake_actions[0].name, sizeof(fake_actions[0].name),
		    "X-Site");
		snprintf(fake_actions[0].value, sizeof(fake_actions[0].value),
		    "checked");
		fake_actions[1].verb = PP_HDR_CHANGE;
		fake_actions[1].index = 1;
		snprintf(fake_actions[1].name, sizeof(fake_actions[1].name),
		    "Subject");
		snprintf(fake_actions[1].value, sizeof(fake_actions[1].value),
		    "site subject");
		fake_actions[2].verb = PP_HDR_DELETE;
		snprintf(fake_actions[2].name, sizeof(fake_actions[2].name),
		    "X-Old");
		fake_reply.n = 3;
		break;
	case F_PERL_SPAM:
		fake_reply.spam = 1;
		fake_reply.spam_score = 9.5;
		snprintf(fake_reply.spam_reason, sizeof(fake_reply.spam_reason),
		    "site rule");
		break;
	case F_PERL_BADPART:
		fake_actions[0].verb = PP_DROP;
		fake_actions[0].part = 999;
		fake_reply.n = 1;
		break;
	case F_BYPASS:
		fake_bypass_rc = 1;
		break;
	case F_INTERNAL:
		m->err = ENOMEM;
		break;
	case F_NOKEY:
		cf->key = NULL;		/* cannot mint: the corral copy fails */
		break;
	case F_SPAMD_DOWN:
		set_fake_spamd_down(cf);
		break;
	case F_NONE:
		break;
	}
}

static void
run_case(const struct tcase *t)
{
	struct mc_config *cf = config(t->conf);
	struct bypass_key *key = cf->key;
	struct mc_msg *m;
	struct mc_verdict v;
	const char *code, *xcode;
	char text[1024], got[1024];
	int perl = t->conf != NULL && strstr(t->conf, "perl_filter") != NULL;

	m = message(cf, t->msg, NULL, perl);
	set_fake(t->fake, cf, m);
	verdict_run(&v, cf, m, "client.example", &fake_ops);
	verdict_archive(&v);
	cf->key = key;
	if (v.action != t->action || v.fail != t->fail)
		fail_msg("%s: action %s fail %d, want %s fail %d (%s)", t->name,
		    verdict_action_str(v.action), v.fail,
		    verdict_action_str(t->action), t->fail, v.reason);
	if (t->code == NULL)
		assert_int_equal(verdict_reply(&v, &code, &xcode, text,
		    sizeof(text)), 0);
	else {
		assert_int_equal(verdict_reply(&v, &code, &xcode, text,
		    sizeof(text)), 1);
		assert_string_equal(code, t->code);
		assert_string_equal(xcode, t->xcode);
		if (strncmp(text, t->text, strlen(t->text)) != 0)
			fail_msg("%s: reply \"%s\", want \"%s...\"", t->name,
			    text, t->text);
	}
	edits(&v, got, sizeof(got));
	if (t->edits != NULL && strcmp(got, t->edits) != 0)
		fail_msg("%s: edits \"%s\", want \"%s\"", t->name, got,
		    t->edits);
	/* a refused or discarded message changes nothing at the MTA */
	if (!verdict_delivers(&v))
		assert_int_equal(v.action == VERDICT_CORRAL ||
		    t->edits == NULL || v.nedits == 0, 1);
	verdict_log(&v);
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
}

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/*
 * Whether spamd was asked, as the decision records it (the table sees the
 * outcome only, and a spamd failure no longer matters once another
 * checker said spam): spamd is down in every case, so "failed" means it
 * was asked.
 */
static void
test_spamd_skip(void **state)
{
	static const struct {
		const char		*conf;
		const char		*msg;
		enum fake		 fake;
		enum spam_check_state	 spamd;
		const char		*line;	/* in the decision's spam piece */
	} sc[] = {
		{ SPAMD_TF, PLAIN GTUBE, F_SPAMD_DOWN, SPAM_CHECK_SKIPPED,
		  "yes:1000.0/5.0(20000%) via=builtin builtin=1000.0/5.0 "
		  "spamd=skipped" },
		{ SPAMD_TF "spamd_always = yes\n", PLAIN GTUBE, F_SPAMD_DOWN,
		  SPAM_CHECK_FAILED, "via=builtin builtin=1000.0/5.0 "
		  "spamd=failed" },
		{ SPAMD_TF, PLAIN TEXT, F_SPAMD_DOWN, SPAM_CHECK_FAILED,
		  "unchecked:" },
		{ SPAMD_TF "spam_combine = arbitron\n", PLAIN GTUBE,
		  F_SPAMD_DOWN, SPAM_CHECK_FAILED, "unchecked:0.0/5.0(0%) "
		  "via=spamd" },
		{ PERLCONF SPAMD_TF "spam_combine = arbitron\n", PLAIN TEXT,
		  F_PERL_SPAM, SPAM_CHECK_SKIPPED, "yes:9.5/5.0(190%) via=perl "
		  "spamd=skipped perl=9.5/5.0" },
	};
	struct mc_config *cf;
	struct mc_msg *m;
	struct mc_verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
		cf = config(sc[i].conf);
		m = message(cf, sc[i].msg, NULL, strstr(sc[i].conf,
		    "perl_filter") != NULL);
		set_fake(sc[i].fake, cf, m);
		if (sc[i].fake == F_PERL_SPAM)	/* spamd down as well */
			set_fake_spamd_down(cf);
		verdict_run(&v, cf, m, "client.example", &fake_ops);
		if (v.sv.check[SPAM_SPAMD].state != sc[i].spamd ||
		    strstr(v.spam, sc[i].line) == NULL)
			fail_msg("case %zu: spamd state %d, want %d; spam "
			    "\"%s\", want \"%s\"", i,
			    v.sv.check[SPAM_SPAMD].state, sc[i].spamd, v.spam,
			    sc[i].line);
		verdict_archive(&v);
		verdict_free(&v);
		verdict_msg_free(m);
		conf_free(cf);
	}
}

/* Every action and every failure class is in the table. */
static void
test_table_covers(void **state)
{
	unsigned seen_a = 0, seen_f = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		seen_a |= 1u << cases[i].action;
		seen_f |= 1u << cases[i].fail;
	}
	/* the archive-copy, variant and digest actions have their own
	   tests (a real MAC) */
	seen_a |= 1u << VERDICT_ARCHIVE_COPY;
	seen_a |= 1u << VERDICT_VARIANT;
	seen_a |= 1u << VERDICT_DIGEST;		/* test_digest_return */
	assert_int_equal(seen_a, (1u << (VERDICT_TEMPFAIL + 1)) - 1);
	assert_int_equal(seen_f, (1u << (VERDICT_FAIL_SITE_TEMPFAIL + 1)) - 1);
}

/* The class of a reply always matches the action: 4xx tempfail, 5xx reject. */
static void
test_reply_classes(void **state)
{
	struct mc_msg m;
	struct mc_verdict v;
	const char *code, *xcode;
	char text[1024];
	int f;

	(void)state;
	memset(&m, 0, sizeof(m));
	snprintf(m.qid, sizeof(m.qid), "TESTQID");
	for (f = VERDICT_FAIL_INTERNAL; f <= VERDICT_FAIL_SITE_TEMPFAIL; f++) {
		memset(&v, 0, sizeof(v));
		v.m = &m;
		snprintf(v.virus, sizeof(v.virus), "X");
		verdict_fail(&v, (enum verdict_fail)f, "why");
		assert_int_equal(verdict_reply(&v, &code, &xcode, text,
		    sizeof(text)), 1);
		assert_true(text[0] != '\0' && strchr(text, '%') == NULL);
		if (v.action == VERDICT_REJECT)
			assert_true(code[0] == '5' && xcode[0] == '5');
		else {
			assert_int_equal(v.action, VERDICT_TEMPFAIL);
			assert_true(code[0] == '4' && xcode[0] == '4');
		}
	}
}

/* The tag keeps the subject and is never doubled. */
static void
test_tag_subject(void **state)
{
	static const char *const in[] = { "Subject: hello" CRLF,
	    "Subject: [SPAM] hello" CRLF, "" };
	static const char *const want[] = { "[SPAM] hello", "[SPAM] hello",
	    "[SPAM]" };
	struct mc_config *cf;
	struct mc_msg *m;
	struct mc_verdict v;
	char msg[512];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		cf = config(SPAMCONF);
		snprintf(msg, sizeof(msg), "From: <sender@example.org>" CRLF
		    "%s" TEXT, in[i]);
		m = message(cf, msg, NULL, 0);
		set_fake(F_NONE, cf, m);
		verdict_run(&v, cf, m, "client", &fake_ops);
		assert_int_equal(v.action, VERDICT_TAG);
		assert_string_equal(edit_value(&v, i < 2 ? VERDICT_HDR_CHANGE :
		    VERDICT_HDR_ADD, "Subject"), want[i]);
		verdict_free(&v);
		verdict_msg_free(m);
		conf_free(cf);
	}
}

/* A removed attachment: the new body is captured, not sent. */
static void
test_body_captured(void **state)
{
	struct mc_config *cf = config(NULL);
	struct mc_msg *m = message(cf, PLAIN EXE, NULL, 0);
	struct mc_verdict v;
	char body[1024];
	ssize_t n;

	(void)state;
	set_fake(F_NONE, cf, m);
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_equal(v.action, VERDICT_ACCEPT);
	assert_int_equal(v.res.removed, 1);
	assert_non_null(v.body);
	n = spool_pread(v.body, body, sizeof(body) - 1, 0);
	assert_true(n > 0);
	body[n] = '\0';
	assert_null(strstr(body, "MZ"));
	assert_non_null(strstr(body, "x.exe"));
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
}

/* The corral entry of id, read whole. */
static void
corral_entry(const char *id, char *out, size_t outlen)
{
	char p[512];
	struct dirent *de;
	DIR *d;
	FILE *fp;
	size_t n;

	snprintf(p, sizeof(p), "%s/corral", dir);
	assert_non_null(d = opendir(p));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "spam_to_", 8) == 0 &&
		    strstr(de->d_name, id) != NULL)
			break;
	assert_non_null(de);
	snprintf(p, sizeof(p), "%s/corral/%s", dir, de->d_name);
	closedir(d);
	assert_non_null(fp = fopen(p, "r"));
	n = fread(out, 1, outlen - 1, fp);
	out[n] = '\0';
	fclose(fp);
	unlink(p);
}

/*
 * The corralled copy carries the site filter's header edits and the
 * content rules, as the delivered copy would: the same edit list.
 */
static void
test_corral_copy_edits(void **state)
{
	struct mc_config *cf = config(SPAMCONF "spam_disposition = corral\n"
	    "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n");
	struct mc_msg *m = message(cf, PLAIN "X-Old: 1" CRLF
	    "X-Spam-Flag: YES" CRLF MC_HDR_SPAMD ": answered" CRLF EXE,
	    NULL, 1);
	struct mc_verdict v;
	char file[8192], *hdr_end;

	(void)state;
	set_fake(F_PERL_HEADERS, cf, m);
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_equal(v.action, VERDICT_CORRAL);
	assert_true(strncmp(v.extra, " corral=", 8) == 0);
	corral_entry(v.extra + 8, file, sizeof(file));
	assert_non_null(hdr_end = strstr(file, CRLF CRLF));
	*hdr_end = '\0';
	assert_non_null(strstr(file, "X-Site: checked" CRLF));
	assert_non_null(strstr(file, "Subject: site subject" CRLF));
	assert_null(strstr(file, "Subject: hello"));
	assert_null(strstr(file, "X-Old:"));
	assert_null(strstr(file, "X-Spam-Flag:"));
	assert_non_null(strstr(file, "X-Spam-Status: Yes"));
	assert_non_null(strstr(file, "X-MailCorral-Filtered: removed=1"));
	/* spamd did not answer (a blacklist): a forged field is removed
	   and none is added, so a release teaches spamd nothing */
	assert_null(strstr(file, MC_HDR_SPAMD));
	assert_non_null(strstr(file, SPAMHDRBYPASS ": v=1;"));
	assert_non_null(strstr(file, "Date: Mon, 7 Dec 2026"));
	assert_null(strstr(hdr_end + 4, "MZ"));
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
}

/* A run with nothing faked: its action, its edits in got. */
static enum verdict_action
run_plain(struct mc_config *cf, const char *msg, const char *rcpt,
    char *got, size_t gotlen)
{
	struct mc_msg *m = message(cf, msg, rcpt, 0);
	struct mc_verdict v;
	enum verdict_action a;

	set_fake(F_NONE, cf, m);
	verdict_run(&v, cf, m, "client", &fake_ops);
	a = v.action;
	edits(&v, got, gotlen);
	verdict_free(&v);
	verdict_msg_free(m);
	return a;
}

/*
 * The archiver's own copy (issue 16 item 1): the header minted on the
 * first pass verifies for that body once, and never for another body,
 * a second use or another recipient.
 */
static void
test_archive_copy(void **state)
{
	struct mc_config *cf = config("archive_address = arc@example.net\n");
	struct mc_msg *m;
	struct mc_verdict v;
	char mac[BYPASS_HDR_MAX + 1], msg[1024], other[1024], got[1024];
	const char *h;

	(void)state;
	/* first pass: the delivered copy gets the header and the archiver */
	m = message(cf, PLAIN TEXT, NULL, 0);
	set_fake(F_NONE, cf, m);
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_equal(v.action, VERDICT_ACCEPT);
	assert_non_null(h = edit_value(&v, VERDICT_HDR_ADD, ARC_HDR));
	snprintf(mac, sizeof(mac), "%s", h);
	assert_true(strncmp(mac, "v=1; k=", 7) == 0);
	verdict_free(&v);
	verdict_msg_free(m);
	snprintf(msg, sizeof(msg), PLAIN "%s: %s" CRLF TEXT, ARC_HDR, mac);
	/* the same header on another body: filtered, header stripped */
	snprintf(other, sizeof(other), PLAIN "%s: %s" CRLF CRLF "other text"
	    CRLF, ARC_HDR, mac);
	assert_int_equal(run_plain(cf, other, "arc@example.net", got,
	    sizeof(got)), VERDICT_ACCEPT);
	/* the same header for another recipient: filtered, header stripped */
	assert_int_equal(run_plain(cf, msg, "rcpt@example.com", got,
	    sizeof(got)), VERDICT_ACCEPT);
	assert_string_equal(got, "D " ARC_HDR " 1;A " ARC_HDR
	    ";R arc@example.net");
	/* the copy itself: passed once, untouched */
	assert_int_equal(run_plain(cf, msg, "arc@example.net", got,
	    sizeof(got)), VERDICT_ARCHIVE_COPY);
	assert_string_equal(got, "");
	/* and not twice */
	assert_int_equal(run_plain(cf, msg, "arc@example.net", got,
	    sizeof(got)), VERDICT_ACCEPT);
	conf_free(cf);
}

/* A release (a bypass the fake honours) of msg with clamd faked as f. */
static struct mc_msg *
release_run(struct mc_config *cf, const char *msg, enum fake f,
    struct mc_verdict *v)
{
	struct mc_msg *m = message(cf, msg, NULL, 0);

	set_fake(f, cf, m);
	fake_bypass_rc = 1;
	verdict_run(v, cf, m, "client", &fake_ops);
	return m;
}

/*
 * Issue 16 item 4: spam corralled while clamd failed (on_clamd_failure =
 * accept) says so in its entry, and its release is scanned before the
 * bypass is honoured; a release of a scanned entry is not scanned again.
 */
static void
test_release_unchecked(void **state)
{
	static const char conf[] = SPAMCONF "spam_disposition = corral\n"
	    "virus_arbitron = clamd\non_clamd_failure = accept\n";
	static const char rel[] = PLAIN "X-MailCorral-Virus: unchecked "
	    "(connect)" CRLF SPAMHDRBYPASS ": v=1" CRLF TEXT;
	static const char relchecked[] = PLAIN SPAMHDRBYPASS ": v=1" CRLF TEXT;
	struct mc_config *cf = config(conf);
	struct mc_msg *m;
	struct mc_verdict v;
	char file[8192];

	(void)state;
	m = message(cf, PLAIN TEXT, NULL, 0);
	set_fake(F_CLAMD_FAIL, cf, m);
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_equal(v.action, VERDICT_CORRAL);
	corral_entry(v.extra + 8, file, sizeof(file));
	assert_non_null(strstr(file, "X-MailCorral-Virus: unchecked (connect)"
	    CRLF));
	verdict_free(&v);
	verdict_msg_free(m);
	/* its release: scanned, the virus removed, still released */
	m = release_run(cf, rel, F_CLAMD_VIRUS, &v);
	assert_int_equal(v.action, VERDICT_BYPASS);
	assert_true(v.clamd_ran && v.infected);
	assert_string_equal(v.virus, "Eicar-Test");
	verdict_free(&v);
	verdict_msg_free(m);
	/* clamd still failing: marked unchecked again */
	m = release_run(cf, rel, F_CLAMD_FAIL, &v);
	assert_int_equal(v.action, VERDICT_BYPASS);
	assert_non_null(edit_value(&v, VERDICT_HDR_ADD, MC_HDR_VIRUS));
	verdict_free(&v);
	verdict_msg_free(m);
	/* the release of a scanned entry is not scanned again */
	m = release_run(cf, relchecked, F_CLAMD_VIRUS, &v);
	assert_int_equal(v.action, VERDICT_BYPASS);
	assert_false(v.clamd_ran);
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
	/* on_clamd_failure = tempfail: the release waits for clamd */
	cf = config(SPAMCONF "spam_disposition = corral\n"
	    "virus_arbitron = clamd\n");
	m = release_run(cf, rel, F_CLAMD_FAIL, &v);
	assert_int_equal(v.action, VERDICT_TEMPFAIL);
	assert_int_equal(v.fail, VERDICT_FAIL_CLAMD);
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
}

/* The archive: kept when the message goes on, dropped when refused. */
static void
test_archive_commit(void **state)
{
	static const struct {
		enum fake		 fake;
		enum verdict_action	 action;
		const char		*arch;	/* v.arch starts so */
	} t[] = {
		{ F_NONE, VERDICT_ACCEPT, " archive=2" },
		{ F_PERL_DISCARD, VERDICT_DISCARD, " archive=2" },
		{ F_PERL_TEMPFAIL, VERDICT_TEMPFAIL, "" },
		{ F_PERL_REJECT, VERDICT_REJECT, "" },
	};
	char conf[512];
	struct mc_config *cf;
	struct mc_msg *m;
	struct mc_verdict v;
	size_t i;

	(void)state;
	snprintf(conf, sizeof(conf), "archive_dir = %s/archive\n"
	    "perl_filter = @D@/filter.pl\nperl_shim = @D@/filter.pl\n", dir);
	cf = config(conf);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		m = message(cf, PLAIN TEXT, NULL, 1);
		set_fake(t[i].fake, cf, m);
		verdict_run(&v, cf, m, "client", &fake_ops);
		assert_non_null(m->arc);
		verdict_archive(&v);
		assert_null(m->arc);
		assert_int_equal(v.action, t[i].action);
		assert_true(strncmp(v.arch, t[i].arch, strlen(t[i].arch)) == 0);
		if (t[i].arch[0] == '\0')
			assert_string_equal(v.arch, "");
		verdict_free(&v);
		verdict_msg_free(m);
	}
	conf_free(cf);
}

/* ---- per-recipient dispositions (spam_user_prefs) ---- */

/* The message to the comma-separated recipients rcpts. */
static struct mc_msg *
message_to(const struct mc_config *cf, const char *msg, const char *rcpts)
{
	struct mc_msg *m = message(cf, msg, NULL, 0);
	const char *p = rcpts, *c;

	free(m->rcpts[0]);
	free(m->rcpts);
	m->rcpts = NULL;
	m->nrcpt = 0;
	for (;;) {
		c = strchr(p, ',');
		assert_non_null(m->rcpts = realloc(m->rcpts, (m->nrcpt + 1) *
		    sizeof(char *)));
		assert_non_null(m->rcpts[m->nrcpt++] = strndup(p, c ? (size_t)
		    (c - p) : strlen(p)));
		if (c == NULL)
			break;
		p = c + 1;
	}
	return m;
}

/* A prefs file in the test directory; its config line. */
static const char *
prefs_conf(const char *rules, char *conf, size_t len)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/prefs", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs(rules, fp);
	fclose(fp);
	snprintf(conf, len, SPAMCONF "spam_user_prefs = %s\n", path);
	return conf;
}

/*
 * A recipient whose threshold is above spam_threshold may need spamd's
 * answer although the built-in checker said spam: spamd is then asked
 * (down here: FAILED), and skipped when every threshold is below.
 */
static void
test_spamd_skip_prefs(void **state)
{
	static const struct {
		const char		*rule;
		enum spam_check_state	 spamd;
	} pc[] = {
		{ "rcpt@example.com threshold=3000\n", SPAM_CHECK_FAILED },
		{ "rcpt@example.com threshold=3\n", SPAM_CHECK_SKIPPED },
		{ "other@example.com threshold=3000\n", SPAM_CHECK_SKIPPED },
	};
	struct mc_config *cf;
	struct mc_msg *m;
	struct mc_verdict v;
	char path[256], conf[512];
	FILE *fp;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
		snprintf(path, sizeof(path), "%s/prefs-skip", dir);
		assert_non_null(fp = fopen(path, "w"));
		fputs(pc[i].rule, fp);
		fclose(fp);
		snprintf(conf, sizeof(conf), "spam_arbitron = spamd\n"
		    "spamd_connect_timeout = 1s\nspam_user_prefs = %s\n", path);
		cf = config(conf);
		m = message(cf, PLAIN GTUBE, NULL, 0);
		set_fake_spamd_down(cf);
		verdict_run(&v, cf, m, "client.example", &fake_ops);
		if (v.sv.check[SPAM_SPAMD].state != pc[i].spamd)
			fail_msg("%s: spamd state %d, want %d (%s)", pc[i].rule,
			    v.sv.check[SPAM_SPAMD].state, pc[i].spamd, v.spam);
		verdict_archive(&v);
		verdict_free(&v);
		verdict_msg_free(m);
		conf_free(cf);
	}
}

#define PREFS3	"a@example.com disposition=tag\n" \
		"b@example.com disposition=corral\n" \
		"c@example.com disposition=deliver\n"

static const struct rcase {
	const char		*name;
	const char		*rules;
	const char		*rcpts;
	enum verdict_action	 action;
	enum verdict_fail	 fail;
	const char		*outs;		/* rout as letters */
	const char		*copy_to;	/* NULL: no copy sent */
	int			 copy_tagged;
	int			 corral;	/* an entry was written */
	int			 remail_rc;
} rcases[] = {
	/* the issue's case: tag / corral / deliver; tie: untagged stays */
	{ "tag, corral, deliver", PREFS3,
	  "a@example.com,b@example.com,c@example.com", VERDICT_ACCEPT,
	  VERDICT_FAIL_NONE, "TCD", "a@example.com", 1, 1, 0 },
	/* two want the tag: the tagged copy stays, c gets the plain one */
	{ "tag, tag, deliver", PREFS3 "@example.com disposition=tag\n"
	  "c@example.com disposition=deliver\n",
	  "a@example.com,b@example.com,c@example.com", VERDICT_TAG,
	  VERDICT_FAIL_NONE, "TTD", "c@example.com", 0, 0, 0 },
	/* trashed and tagged: no copy, the trashed one leaves */
	{ "trash, tag", "a@example.com disposition=trash\n",
	  "a@example.com,b@example.com", VERDICT_TAG, VERDICT_FAIL_NONE,
	  "XT", NULL, 0, 0, 0 },
	{ "all trash", "@example.com disposition=trash\n",
	  "a@example.com,b@example.com", VERDICT_DISCARD, VERDICT_FAIL_NONE,
	  "XX", NULL, 0, 0, 0 },
	{ "corral and trash: nothing delivered",
	  "a@example.com disposition=corral\nb@example.com disposition=trash\n",
	  "a@example.com,b@example.com", VERDICT_CORRAL, VERDICT_FAIL_NONE,
	  "CX", NULL, 0, 1, 0 },
	{ "all corral: one entry", "@example.com disposition=corral\n",
	  "a@example.com,b@example.com", VERDICT_CORRAL, VERDICT_FAIL_NONE,
	  "CC", NULL, 0, 1, 0 },
	{ "deliver: untouched", "@example.com disposition=deliver\n",
	  "a@example.com", VERDICT_ACCEPT, VERDICT_FAIL_NONE, "D", NULL, 0,
	  0, 0 },
	/* a recipient without a rule: spam_disposition (tag) */
	{ "no rule: the default", "a@example.com disposition=deliver\n",
	  "a@example.com,z@example.net", VERDICT_ACCEPT, VERDICT_FAIL_NONE,
	  "DT", "z@example.net", 1, 0, 0 },
	/* sendmail refuses the copy: nobody gets the wrong one */
	{ "copy refused: tempfail", PREFS3,
	  "a@example.com,c@example.com", VERDICT_TEMPFAIL,
	  VERDICT_FAIL_MODIFY, "TD", "a@example.com", 1, 0, 75 },
};

static char
out_letter(unsigned o)
{
	return "HDTCX"[o & ~VOUT_COPY];
}

static void
run_rcase(const struct rcase *t)
{
	char conf[512], got[2048], outs[16], want[512];
	struct mc_config *cf = config(prefs_conf(t->rules, conf, sizeof(conf)));
	struct mc_msg *m = message_to(cf, PLAIN TEXT, t->rcpts);
	struct mc_verdict v;
	const char *p, *c;
	unsigned i, ncopy = 0;

	set_fake(F_NONE, cf, m);
	fake_remails = 0;
	fake_remail_rc = t->remail_rc;
	verdict_run(&v, cf, m, "client", &fake_ops);
	if (v.action != t->action || v.fail != t->fail)
		fail_msg("%s: action %s fail %d, want %s (%s)", t->name,
		    verdict_action_str(v.action), v.fail,
		    verdict_action_str(t->action), v.reason);
	assert_non_null(v.rout);
	for (i = 0; i < m->nrcpt; i++) {
		outs[i] = out_letter(v.rout[i]);
		ncopy += (v.rout[i] & VOUT_COPY) != 0;
	}
	outs[i] = '\0';
	if (strcmp(outs, t->outs) != 0)
		fail_msg("%s: outcomes %s, want %s", t->name, outs, t->outs);
	assert_int_equal(fake_remails, t->copy_to != NULL);
	assert_int_equal(ncopy, t->copy_to != NULL);
	assert_int_equal(strncmp(v.extra, " corral=", 8) == 0, t->corral);
	edits(&v, got, sizeof(got));
	if (t->copy_to != NULL) {
		assert_string_equal(fake_remail_rcpts, t->copy_to);
		assert_string_equal(fake_remail_from, "sender@example.org");
		/* the copy: tagged or not, keyed, filtered like the rest */
		assert_int_equal(strstr(fake_remail_msg, "Subject: [SPAM] "
		    "hello" CRLF) != NULL, t->copy_tagged);
		assert_int_equal(strstr(fake_remail_msg, "Subject: hello"
		    CRLF) != NULL, !t->copy_tagged);
		assert_int_equal(strstr(fake_remail_msg, "X-Spam-Status: Yes")
		    != NULL, t->copy_tagged);
		assert_non_null(strstr(fake_remail_msg, MC_HDR_VARIANT ": v=1;"));
		assert_non_null(strstr(fake_remail_msg, CRLF CRLF "just text"));
	}
	if (verdict_delivers(&v)) {
		/* the transaction's copy: tagged exactly when its own say */
		assert_int_equal(strstr(got, "C Subject 1") != NULL,
		    v.action == VERDICT_TAG);
		/* every recipient not delivered here leaves the envelope */
		for (i = 0; i < m->nrcpt; i++) {
			snprintf(want, sizeof(want), "X <%s>", m->rcpts[i]);
			assert_int_equal(strstr(got, want) != NULL,
			    (v.rout[i] & VOUT_COPY) || outs[i] == 'C' ||
			    outs[i] == 'X');
		}
		/* no tag edits left over from the copy */
		p = strstr(got, "A X-Spam-Status");
		c = p ? strstr(p + 1, "A X-Spam-Status") : NULL;
		assert_null(c);
		assert_int_equal(p != NULL, v.action == VERDICT_TAG);
	} else if (v.action != VERDICT_CORRAL)
		assert_int_equal(v.nedits, 0);
	verdict_log(&v);
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
}

static void
test_per_rcpt(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++)
		run_rcase(&rcases[i]);
}

/*
 * The copy sent apart comes back through the filter: its keyed field
 * passes it untouched, once per recipient, for exactly its recipients
 * and its body; a forged or replayed one is filtered as usual.
 */
static void
test_variant_return(void **state)
{
	char conf[512], copy[16384], got[2048], *body;
	struct mc_config *cf = config(prefs_conf(PREFS3, conf,
	    sizeof(conf)));
	struct mc_msg *m = message_to(cf, PLAIN TEXT,
	    "a@example.com,c@example.com");
	struct mc_verdict v;

	(void)state;
	set_fake(F_NONE, cf, m);
	fake_remail_rc = 0;
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_equal(v.action, VERDICT_ACCEPT);
	verdict_free(&v);
	verdict_msg_free(m);
	snprintf(copy, sizeof(copy), "%s", fake_remail_msg);
	/* another recipient: refused, filtered, the field stripped */
	m = message_to(cf, copy, "c@example.com");
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_equal(v.action, VERDICT_ACCEPT);
	edits(&v, got, sizeof(got));
	assert_non_null(strstr(got, "D " MC_HDR_VARIANT " 1"));
	verdict_free(&v);
	verdict_msg_free(m);
	/* another body: refused */
	assert_non_null(body = strstr(copy, CRLF CRLF "just text"));
	body[4] = 'J';
	m = message_to(cf, copy, "a@example.com");
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_not_equal(v.action, VERDICT_VARIANT);
	verdict_free(&v);
	verdict_msg_free(m);
	body[4] = 'j';
	/* its own recipient: passed untouched, once */
	m = message_to(cf, copy, "a@example.com");
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_equal(v.action, VERDICT_VARIANT);
	assert_int_equal(v.nedits, 0);
	assert_null(v.body);
	verdict_log(&v);
	verdict_free(&v);
	verdict_msg_free(m);
	m = message_to(cf, copy, "a@example.com");
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_not_equal(v.action, VERDICT_VARIANT);
	verdict_free(&v);
	verdict_msg_free(m);
	/* nor under another case of the same recipient (the MAC and the
	   one-use marker both ignore case) */
	m = message_to(cf, copy, "A@Example.COM");
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_not_equal(v.action, VERDICT_VARIANT);
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
}

/* A digest to rcpt with its keyed field (BYPASS_FOR_DIGEST), as
   spamcorral-notify makes it, into out. */
static void
digest_msg(const struct mc_config *cf, const char *rcpt, char *out,
    size_t outlen)
{
	static const char date[] = "Mon, 7 Dec 2026 10:00:00 +0000",
	    mid[] = "<d1.digest@example.com>", body[] = "Spam held" CRLF;
	struct bypass_hash h;
	unsigned char hash[32];
	char mac[BYPASS_HDR_MAX + 1];
	time_t now = time(NULL);

	memset(&h, 0, sizeof(h));
	assert_int_equal(bypass_hash_init(&h), 0);
	assert_int_equal(bypass_hash_update(&h, body, strlen(body)), 0);
	assert_int_equal(bypass_hash_final(&h, hash), 0);
	assert_true(bypass_mint_for(cf->key, BYPASS_FOR_DIGEST, rcpt,
	    "0123456789ABCDEF", now, now + 3600, mid, strlen(mid), date,
	    strlen(date), hash, mac, sizeof(mac)) > 0);
	snprintf(out, outlen, "From: <spamcorral@example.com>" CRLF
	    "Subject: Spam held for you: 1 message" CRLF "Date: %s" CRLF
	    "Message-ID: %s" CRLF "%s: %s" CRLF CRLF "%s", date, mid,
	    MC_HDR_DIGEST, mac, body);
}

/* One digest through the verdict, sent by mailer; its action. */
static enum verdict_action
digest_run(struct mc_config *cf, const char *msg, const char *rcpts,
    const char *mailer, unsigned *nedits)
{
	struct mc_msg *m = message_to(cf, msg, rcpts);
	struct mc_verdict v;
	enum verdict_action a;

	snprintf(m->mailer, sizeof(m->mailer), "%s", mailer);
	snprintf(m->mailaddr, sizeof(m->mailaddr), "spamcorral");
	set_fake(F_NONE, cf, m);
	verdict_run(&v, cf, m, "client", &fake_ops);
	a = v.action;
	*nedits = v.nedits;
	verdict_log(&v);
	verdict_free(&v);
	verdict_msg_free(m);
	return a;
}

/*
 * Issue 22: the digest passes untouched (not tagged although its sender is
 * on the blacklist here) with its own keyed field, once, for
 * its one recipient, its body, sent locally; anything else is filtered.
 */
static void
test_digest_return(void **state)
{
	struct mc_config *cf = config("spam_arbitron = builtin\n"
	    "spam_disposition = tag\n" SPAMCONF);
	char msg[4096], other[4096], *b;
	unsigned n;

	(void)state;
	digest_msg(cf, "a@example.com", msg, sizeof(msg));
	digest_msg(cf, "c@example.com", other, sizeof(other));
	/* from outside */
	assert_int_equal(digest_run(cf, msg, "a@example.com", "esmtp", &n),
	    VERDICT_TAG);
	/* for another recipient, to two, another body */
	assert_int_equal(digest_run(cf, other, "a@example.com", "local", &n),
	    VERDICT_TAG);
	assert_int_equal(digest_run(cf, msg, "a@example.com,b@example.com",
	    "local", &n), VERDICT_TAG);
	assert_non_null(b = strstr(msg, "Spam held" CRLF));
	b[0] = 's';
	assert_int_equal(digest_run(cf, msg, "a@example.com", "local", &n),
	    VERDICT_TAG);
	b[0] = 'S';
	/* its own: untouched, once */
	assert_int_equal(digest_run(cf, msg, "A@example.com", "local", &n),
	    VERDICT_DIGEST);
	assert_int_equal(n, 0);
	assert_int_equal(digest_run(cf, msg, "a@example.com", "local", &n),
	    VERDICT_TAG);
	assert_int_equal(digest_run(cf, msg, "a@EXAMPLE.com", "local", &n),
	    VERDICT_TAG);
	conf_free(cf);
}

/*
 * threshold= scales the one decision: with spam_threshold 5 a message
 * scoring s is spam for threshold=t exactly when s * 5 / 5 >= t; below
 * it the recipient gets the untagged copy.
 */
static void
test_threshold_scale(void **state)
{
	char conf[512], rules[256];
	struct mc_config *cf;
	struct mc_msg *m;
	struct mc_verdict v;
	double s;
	const char *gtube = PLAIN CRLF "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-"
	    "STANDARD-ANTI-UBE-TEST-EMAIL*C.34X" CRLF;

	(void)state;
	cf = config("spam_arbitron = builtin\nspam_threshold = 5\n");
	m = message_to(cf, gtube, "a@example.com");
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_true(v.sv.is_spam);
	s = v.sv.score;
	assert_true(s > 5 && s < 9000);
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
	snprintf(rules, sizeof(rules), "a@example.com threshold=%.4f\n"
	    "b@example.com threshold=%.4f\n", s - 0.0001, s + 0.01);
	prefs_conf(rules, conf, sizeof(conf));
	strcat(conf, "spam_arbitron = builtin\nspam_threshold = 5\n");
	cf = config(conf + strlen(SPAMCONF));
	m = message_to(cf, gtube, "a@example.com,b@example.com");
	fake_remails = 0;
	fake_remail_rc = 0;
	verdict_run(&v, cf, m, "client", &fake_ops);
	assert_int_equal(v.rout[0] & ~VOUT_COPY, VOUT_TAG);
	assert_int_equal(v.rout[1] & ~VOUT_COPY, VOUT_HAM);
	/* a tie: the untagged copy stays, the tagged one is sent */
	assert_int_equal(v.action, VERDICT_ACCEPT);
	assert_int_equal(fake_remails, 1);
	assert_string_equal(fake_remail_rcpts, "a@example.com");
	verdict_free(&v);
	verdict_msg_free(m);
	conf_free(cf);
}

/* The first recipient's spamd: one answer to one connection. */
struct one_spamd {
	int		 lfd, port;
	const char	*reply;
	pthread_t	 th;
};

static void *
one_spamd_main(void *arg)
{
	struct one_spamd *o = arg;
	char buf[8192];
	int fd;

	if ((fd = accept(o->lfd, NULL, NULL)) == -1)
		return NULL;
	while (read(fd, buf, sizeof(buf)) > 0)
		;	/* the client shuts its side down after the request */
	(void)write(fd, o->reply, strlen(o->reply));
	close(fd);
	return NULL;
}

static void
one_spamd(struct one_spamd *o, const char *reply)
{
	o->reply = reply;
	o->lfd = unit_bound(1, &o->port);
	assert_int_equal(pthread_create(&o->th, NULL, one_spamd_main, o), 0);
}

/*
 * spamd_per_user = yes: the first recipient is the message's answer (a
 * real spamd client against a one-shot server: ham), each other distinct
 * recipient is asked once (case does not matter) up to spamd_max_users,
 * and each recipient's copy follows their own answer; a failure is
 * on_spamd_failure.
 */
static void
test_spamd_per_user(void **state)
{
	static const struct {
		const char	*conf;
		const char	*rcpts;
		int		 spamd_rc;
		const char	*asked;		/* fake_spamd's users */
		const char	*outs;
		enum verdict_action action;
	} t[] = {
		{ "", "h1@x.org,s1@x.org,S1@X.org,h2@x.org", 0,
		  "s1@x.org;h2@x.org;", "HTTH", VERDICT_ACCEPT },
		{ "spamd_max_users = 2\n", "h1@x.org,s1@x.org,s2@x.org", 0,
		  "s1@x.org;", "HTH", VERDICT_ACCEPT },
		{ "", "h1@x.org,s1@x.org,s2@x.org", 0,
		  "s1@x.org;s2@x.org;", "HTT", VERDICT_TAG },
		/* a user's check fails: the message's answer for them */
		{ "", "h1@x.org,s1@x.org", -1, "s1@x.org;", "HH",
		  VERDICT_ACCEPT },
		{ "on_spamd_failure = tempfail\n", "h1@x.org,s1@x.org", -1,
		  "s1@x.org;", "", VERDICT_TEMPFAIL },
		/* spamd_per_user = no: asked once, as the first recipient */
		{ NULL, "h1@x.org,s1@x.org", 0, "", "HH", VERDICT_ACCEPT },
	};
	char conf[512], outs[16];
	struct one_spamd o;
	struct mc_config *cf;
	struct mc_msg *m;
	struct mc_verdict v;
	size_t i;
	unsigned k;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		one_spamd(&o, "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.0 / 5.0"
		    "\r\n\r\n");
		snprintf(conf, sizeof(conf), "spam_arbitron = spamd\n"
		    "spamd_servers = 127.0.0.1:%d\nspamd_per_user = %s\n%s",
		    o.port, t[i].conf ? "yes" : "no", t[i].conf ? t[i].conf :
		    "");
		cf = config(conf);
		m = message_to(cf, PLAIN TEXT, t[i].rcpts);
		fake_spamd_calls = 0;
		fake_spamd_users[0] = '\0';
		fake_spamd_rc = t[i].spamd_rc;
		fake_remail_rc = 0;
		verdict_run(&v, cf, m, "client", &fake_ops);
		pthread_join(o.th, NULL);
		close(o.lfd);
		if (v.action != t[i].action)
			fail_msg("case %zu: action %s (%s)", i,
			    verdict_action_str(v.action), v.reason);
		assert_string_equal(fake_spamd_users, t[i].asked);
		for (k = 0; v.rout != NULL && k < m->nrcpt; k++)
			outs[k] = "HDTCX"[v.rout[k] & ~VOUT_COPY];
		outs[v.rout != NULL ? k : 0] = '\0';
		if (strcmp(outs, t[i].outs) != 0)
			fail_msg("case %zu: outcomes %s, want %s", i, outs,
			    t[i].outs);
		verdict_log(&v);
		verdict_free(&v);
		verdict_msg_free(m);
		conf_free(cf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_covers),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_spamd_skip),
		cmocka_unit_test(test_spamd_skip_prefs),
		cmocka_unit_test(test_reply_classes),
		cmocka_unit_test(test_tag_subject),
		cmocka_unit_test(test_body_captured),
		cmocka_unit_test(test_corral_copy_edits),
		cmocka_unit_test(test_archive_copy),
		cmocka_unit_test(test_release_unchecked),
		cmocka_unit_test(test_archive_commit),
		cmocka_unit_test(test_per_rcpt),
		cmocka_unit_test(test_variant_return),
		cmocka_unit_test(test_digest_return),
		cmocka_unit_test(test_threshold_scale),
		cmocka_unit_test(test_spamd_per_user),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
