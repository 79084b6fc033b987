/*
 * mailcorral.c -- the milter daemon: command line, daemon life (pid file,
 * signals, privilege drop), libmilter registration, the callbacks, and the
 * end-of-message decision.  Thin: the work is in scan.c (analysis) and
 * rewrite.c (the new body).
 *
 * Contexts: one struct mc_conn per SMTP connection (connect .. close), and
 * one struct mc_msg per transaction (MAIL FROM .. EOM or abort), hung off
 * the libmilter private pointer.  Trouble with one message never stops the
 * daemon: it sets msg->err and the message is tempfailed at EOM.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "buf.h"
#include "bypass.h"
#include "clamd.h"
#include "conf.h"
#include "corral.h"
#include "log.h"
#include "mcarchive.h"
#include "perlpool.h"
#include "rewrite.h"
#include "scan.h"
#include "smfopts.h"
#include "spamd.h"
#include "spamfilter.h"
#include "spool.h"
#include "util.h"
#include "banned.h"

#define MC_MAX_FROM	4	/* From header addresses matched */
#define MC_HDR_KEEP	998	/* longest header value we keep a copy of */

struct mc_msg {
	char		 qid[64];	/* sendmail {i}, else NOQUEUE */
	char		*sender;	/* envelope sender, without <> */
	char		 mailer[32];	/* {mail_mailer} */
	char		 mailaddr[256];	/* {mail_addr} */
	char		**rcpts;	/* envelope recipients, without <> */
	unsigned	 nrcpt;
	struct scan	*scan;
	struct pp_msg	*perl;		/* NULL: no Perl shim */
	int		 err;		/* sticky errno of a failure */
	/* header occurrences we may change, counted per name */
	unsigned	 n_ctype, n_cte, n_cdisp, n_subject;
	/* every distinct X-MailCorral-* / X-Spam-* name: no cap (BI-11) */
	struct mc_forged {
		char		*name;
		unsigned	 n;		/* occurrences */
	}		*forged;
	unsigned	 nforged, capforged;
	/* first values of the fields the decisions need */
	char		*subject, *date, *msgid, *bypass;
	unsigned	 nbypass;
	char		*archmac;	/* first X-MailCorral-Archive */
	unsigned	 narchmac;
	struct arc_file	*arc;		/* archive file being written */
	char		*from[MC_MAX_FROM];
	unsigned	 nfrom;
};

/* The end-of-message verdict, for the decision line. */
struct mc_verdict {
	const char	*action;	/* accept, tag, corral, discard, ... */
	sfsistat	 rc;
	char		 spam[160];	/* "8.1/5.0(162%) via=builtin" */
	char		 virus[192];	/* none, clean, NAME, unchecked(...) */
	unsigned	 clamd_scans;
	char		 extra[256];	/* corral=ID, bypass=..., reasons */
	char		 perl[128];	/* " perl=..." when the shim is on */
	struct rw_result res;
};

/* Consecutive clamd failures, shared by every thread and config. */
static struct clamd_breaker mc_breaker = CLAMD_BREAKER_INIT;

/* Steps the MTA need not wait for: their callbacks cannot fail. */
#define MC_NOREPLY	(SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)

struct mc_conn {
	struct mc_config *cf;		/* snapshot held for the connection */
	unsigned long	  noreply;	/* MC_NOREPLY steps agreed */
	char		  client[256];
	struct mc_msg	 *msg;		/* NULL between transactions */
	int		  counted;	/* in mc_sessions */
};

/* Connections between connect and close (max_sessions). */
static atomic_uint	mc_sessions;
/* Connection contexts allocated and not yet freed by mlfi_close(). */
static atomic_uint	mc_contexts;
static atomic_llong	mc_busy_logged;	/* second of the last "busy" line */

static const char	*mc_conffile;
static int		 mc_conf_given;

/* Test seam: unit tests may run the callbacks on a fake context. */
static struct mc_conn *
mc_getpriv(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

static void
mc_setpriv(SMFICTX *ctx, struct mc_conn *c)
{
	smfi_setpriv(ctx, c);
}

static void
msg_free(struct mc_msg *m)
{
	unsigned i;

	if (m == NULL)
		return;
	scan_free(m->scan);
	pp_msg_free(m->perl);
	free(m->sender);
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	for (i = 0; i < m->nforged; i++)
		free(m->forged[i].name);
	free(m->forged);
	for (i = 0; i < m->nfrom; i++)
		free(m->from[i]);
	free(m->subject);
	free(m->date);
	free(m->msgid);
	free(m->bypass);
	free(m->archmac);
	arc_abort(m->arc);
	free(m);
}

static void
set_qid(SMFICTX *ctx, struct mc_msg *m)
{
	const char *q = smfi_getsymval(ctx, "i");
	size_t i;

	if (q == NULL || *q == '\0') {
		if (m->qid[0] == '\0')
			snprintf(m->qid, sizeof(m->qid), "NOQUEUE");
		return;
	}
	for (i = 0; q[i] != '\0' && i + 1 < sizeof(m->qid); i++)
		m->qid[i] = (q[i] > 0x20 && q[i] < 0x7f) ? q[i] : '_';
	m->qid[i] = '\0';
}

/*
 * Agrees the protocol with the MTA: the actions we use, no HELO, DATA or
 * unknown commands, and no reply to each header field, the end of the
 * headers and each body chunk (100,000 header fields cost 4 s of CPU in
 * replies alone; trouble there is kept in msg->err and answered at EOM).
 */
static sfsistat
mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	const unsigned long need = SMFIF_ADDHDRS | SMFIF_CHGHDRS |
	    SMFIF_CHGBODY;
	struct mc_conn *c;

	(void)f2;
	(void)f3;
	if ((f0 & need) != need || (c = calloc(1, sizeof(*c))) == NULL)
		return SMFIS_ALL_OPTS;
	atomic_fetch_add(&mc_contexts, 1);
	*pf0 = need | (f0 & SMFIF_ADDRCPT);	/* archive_address */
	*pf1 = f1 & (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA |
	    MC_NOREPLY);
	*pf2 = *pf3 = 0;
	c->noreply = *pf1 & MC_NOREPLY;
	mc_setpriv(ctx, c);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	struct mc_conn *c = mc_getpriv(ctx);

	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			log_warn("connect: out of memory");
			return SMFIS_TEMPFAIL;
		}
		atomic_fetch_add(&mc_contexts, 1);
	}
	c->cf = conf_acquire();
	log_safe(host ? host : "unknown", strlen(host ? host : "unknown"),
	    c->client, sizeof(c->client));
	mc_setpriv(ctx, c);
	/* All busy: tempfail now rather than queue without bound. */
	if (atomic_fetch_add(&mc_sessions, 1) >= (unsigned)c->cf->max_sessions) {
		long long now = (long long)time(NULL);

		atomic_fetch_sub(&mc_sessions, 1);
		if (atomic_exchange(&mc_busy_logged, now) != now)
			log_warnx("connect from %s: max_sessions %ld reached, "
			    "tempfail", c->client, c->cf->max_sessions);
		return SMFIS_TEMPFAIL;
	}
	c->counted = 1;
	return SMFIS_CONTINUE;
}

/* Copies an address without its angle brackets and blanks. */
static char *
bare_address(const char *a)
{
	size_t n;

	while (*a == ' ' || *a == '<')
		a++;
	n = strcspn(a, ">");
	while (n > 0 && a[n - 1] == ' ')
		n--;
	return strndup(a, n);
}

static void
copy_macro(SMFICTX *ctx, const char *name, char *out, size_t outlen)
{
	const char *v = smfi_getsymval(ctx, (char *)(uintptr_t)name);

	snprintf(out, outlen, "%s", v != NULL ? v : "");
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	msg_free(c->msg);
	c->msg = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto nomem;
	c->msg = m;
	set_qid(ctx, m);
	if ((m->sender = bare_address(argv[0] ? argv[0] : "")) == NULL)
		goto nomem;
	copy_macro(ctx, "{mail_mailer}", m->mailer, sizeof(m->mailer));
	copy_macro(ctx, "{mail_addr}", m->mailaddr, sizeof(m->mailaddr));
	if ((m->scan = scan_new(c->cf, m->qid)) == NULL)
		m->err = errno ? errno : ENOMEM;
	if (c->cf->perl_filter[0] != '\0' && (m->perl = pp_msg_new()) ==
	    NULL)
		m->err = ENOMEM;
	return SMFIS_CONTINUE;
nomem:
	log_warn("envfrom: out of memory");
	return SMFIS_TEMPFAIL;
}

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct mc_conn *c = mc_getpriv(ctx);

	struct mc_msg *m;
	char **nr;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	if ((nr = realloc(m->rcpts, (m->nrcpt + 1) * sizeof(*nr))) == NULL)
		goto nomem;
	m->rcpts = nr;
	if ((m->rcpts[m->nrcpt] = bare_address(argv[0] ? argv[0] : "")) ==
	    NULL)
		goto nomem;
	m->nrcpt++;
	return SMFIS_CONTINUE;
nomem:
	log_warn("envrcpt: out of memory");
	return SMFIS_TEMPFAIL;
}

static int
is_spam_field(const char *name)
{
	return strcasecmp(name, MC_HDR_SPAM_STATUS) == 0 ||
	    strcasecmp(name, MC_HDR_SPAM_SCORE) == 0 ||
	    strcasecmp(name, "X-Spam-Flag") == 0;
}

static void
keep_first(char **dst, const char *value)
{
	if (*dst == NULL)
		*dst = strndup(value, MC_HDR_KEEP);
}

/* Addresses in a From field: <...> or words with an '@'. */
static void
note_from(struct mc_msg *m, const char *v)
{
	const char *p = v, *e;
	size_t n;

	while (*p != '\0' && m->nfrom < MC_MAX_FROM) {
		if (*p == '<') {
			e = strchr(p + 1, '>');
			n = e ? (size_t)(e - p - 1) : strlen(p + 1);
			if (memchr(p + 1, '@', n) != NULL)
				m->from[m->nfrom++] = strndup(p + 1, n);
			p += n + 1;
			continue;
		}
		n = strcspn(p, " \t,;<()\"\r\n");
		if (n > 0 && memchr(p, '@', n) != NULL && strchr(v, '<') == NULL)
			m->from[m->nfrom++] = strndup(p, n);
		p += n > 0 ? n : 1;
	}
}

/*
 * Counts one inbound field of our families, to be removed before
 * delivery.  No cap: a name not kept here would survive (BI-11); out of
 * memory sets m->err, and the message is refused for now.
 */
static void
note_forged(struct mc_msg *m, const char *name)
{
	struct mc_forged *nf;
	unsigned i, ncap;

	for (i = 0; i < m->nforged; i++)
		if (strcasecmp(m->forged[i].name, name) == 0) {
			m->forged[i].n++;
			return;
		}
	if (m->nforged == m->capforged) {
		ncap = m->capforged ? m->capforged * 2 : 8;
		if ((nf = realloc(m->forged, ncap * sizeof(*nf))) == NULL) {
			m->err = ENOMEM;
			return;
		}
		m->forged = nf;
		m->capforged = ncap;
	}
	if ((m->forged[m->nforged].name = strdup(name)) == NULL) {
		m->err = ENOMEM;
		return;
	}
	m->forged[m->nforged++].n = 1;
}

static void
note_header(struct mc_msg *m, const char *name, const char *value)
{
	if (strcasecmp(name, "Content-Type") == 0)
		m->n_ctype++;
	else if (strcasecmp(name, "Content-Transfer-Encoding") == 0)
		m->n_cte++;
	else if (strcasecmp(name, "Content-Disposition") == 0)
		m->n_cdisp++;
	else if (strcasecmp(name, "Subject") == 0) {
		m->n_subject++;
		keep_first(&m->subject, value);
	} else if (strcasecmp(name, "Date") == 0)
		keep_first(&m->date, value);
	else if (strcasecmp(name, "Message-ID") == 0)
		keep_first(&m->msgid, value);
	else if (strcasecmp(name, "From") == 0 && m->nfrom == 0)
		note_from(m, value);
	if (strcasecmp(name, SPAMHDRBYPASS) == 0) {
		m->nbypass++;
		keep_first(&m->bypass, value);
		if (m->scan != NULL && scan_want_bodyhash(m->scan) == -1)
			m->err = errno;
	}
	if (strcasecmp(name, ARC_HDR) == 0) {
		m->narchmac++;
		keep_first(&m->archmac, value);
	}
	if (strncasecmp(name, "X-MailCorral", 12) == 0 || is_spam_field(name))
		note_forged(m, name);
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	note_header(m, name, value);
	if (m->perl != NULL && pp_msg_header(m->perl, name, value) == -1)
		m->err = ENOMEM;
	if (m->err == 0 && m->scan != NULL &&
	    scan_header(m->scan, name, value) == -1)
		m->err = errno ? errno : EIO;
	return c->noreply & SMFIP_NR_HDR ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_eoh(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	if (m->err == 0 && m->scan != NULL && scan_eoh(m->scan) == -1)
		m->err = errno ? errno : EIO;
	return c->noreply & SMFIP_NR_EOH ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
mlfi_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	if (m->err == 0 && m->scan != NULL &&
	    scan_body(m->scan, data, len) == -1)
		m->err = errno ? errno : EIO;
	return c->noreply & SMFIP_NR_BODY ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static int
replace_body(void *arg, const char *p, size_t n)
{
	SMFICTX *ctx = arg;

	if (smfi_replacebody(ctx, (unsigned char *)(uintptr_t)p, (int)n) !=
	    MI_SUCCESS) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Deletes every occurrence of a field, last first (CVE-2022-48521). */
static int
delete_all(SMFICTX *ctx, const char *name, unsigned count, unsigned keep)
{
	unsigned i;

	for (i = count; i > keep; i--)
		if (smfi_chgheader(ctx, (char *)(uintptr_t)name, (int)i,
		    NULL) != MI_SUCCESS)
			return -1;
	return 0;
}

/* Removes inbound copies of our fields; spam fields too unless keep_spam. */
static int
strip_forged(SMFICTX *ctx, const struct mc_msg *m, int keep_spam)
{
	unsigned i;

	for (i = 0; i < m->nforged; i++) {
		if (keep_spam && is_spam_field(m->forged[i].name))
			continue;
		if (delete_all(ctx, m->forged[i].name, m->forged[i].n, 0) == -1)
			return -1;
	}
	return 0;
}

/* The body is now the plain-text warning: make the headers say so. */
static int
headers_for_text(SMFICTX *ctx, const struct mc_msg *m)
{
	if (delete_all(ctx, "Content-Type", m->n_ctype, 1) == -1 ||
	    delete_all(ctx, "Content-Transfer-Encoding", m->n_cte, 0) == -1 ||
	    delete_all(ctx, "Content-Disposition", m->n_cdisp, 0) == -1)
		return -1;
	if (smfi_chgheader(ctx, "Content-Type", 1,
	    "text/plain; charset=us-ascii") != MI_SUCCESS)
		return -1;
	return 0;
}

/* Subject with the spam tag in front (never replaced, never doubled). */
static void
tagged_subject(const struct mc_config *cf, const char *subject,
    struct buf *out)
{
	const char *s = subject != NULL ? subject : "";
	size_t tl = strlen(cf->spam_subject_tag);

	while (*s == ' ')
		s++;
	if (strncmp(s, cf->spam_subject_tag, tl) == 0)
		buf_adds(out, s);
	else
		buf_printf(out, "%s%s%s", cf->spam_subject_tag,
		    *s ? " " : "", s);
}

static int
tag_subject(SMFICTX *ctx, const struct mc_config *cf, const struct mc_msg *m)
{
	struct buf b = BUF_INIT;
	int rc;

	tagged_subject(cf, m->subject, &b);
	if (b.data == NULL)
		return -1;
	rc = m->n_subject > 0 ?
	    smfi_chgheader(ctx, "Subject", 1, b.data) :
	    smfi_addheader(ctx, "Subject", b.data);
	buf_free(&b);
	return rc == MI_SUCCESS ? 0 : -1;
}

static void
mime_words(unsigned errs, struct buf *b)
{
	unsigned bit;

	for (bit = 1; bit != 0 && bit <= errs; bit <<= 1)
		if (errs & bit)
			buf_printf(b, "%s%s", b->len ? "," : "",
			    mime_strerror(bit));
	if (b->len == 0)
		buf_adds(b, "ok");
}

/* ---- the bypass of released spam ---- */

/* corral_dir/<kind><id>.<safe rcpt>; 0 or -1. */
static int
marker_path(const struct mc_config *cf, const char *kind, const char *id,
    const char *rcpt, char *path, size_t len)
{
	char name[CORRAL_NAME_MAX + 32];
	int n;

	if (corral_marker_name(kind, id, rcpt, name, sizeof(name)) == -1)
		return -1;
	n = snprintf(path, len, "%s/%s", cf->corral_dir, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * A verified header: was it issued for this recipient (SC-B5), and is
 * this its first use for them (SC-B3)?  A message corralled for several
 * recipients is released to each of them separately.
 */
static int
bypass_markers(const struct mc_config *cf, const char *id, const char *rcpt,
    char *why, size_t whylen)
{
	char path[4096];

	if (marker_path(cf, CORRAL_MARK_ISSUED, id, rcpt, path,
	    sizeof(path)) == -1) {
		snprintf(why, whylen, "recipient");
		return 0;
	}
	switch (corral_marker_check(AT_FDCWD, path)) {
	case 1:
		break;
	case 0:
		snprintf(why, whylen, "no-entry");
		return 0;
	default:
		snprintf(why, whylen, "marker-failed");
		return 0;
	}
	if (marker_path(cf, CORRAL_MARK_USED, id, rcpt, path,
	    sizeof(path)) == -1) {
		snprintf(why, whylen, "recipient");
		return 0;
	}
	if (corral_marker_make(AT_FDCWD, path, NULL, 1) == -1) {
		snprintf(why, whylen, "%s", errno == EEXIST ? "used" :
		    "marker-failed");
		return 0;
	}
	snprintf(why, whylen, "%s", id);
	return 1;
}

/*
 * Released spam carries SPAMHDRBYPASS.  It is honoured only when sent by a
 * local user ({mail_mailer} local, {mail_addr} without '@'), when the MAC
 * verifies over Date, Message-ID and the body under the key or one of
 * bypass_old_key_files, when it has not expired, for one envelope
 * recipient, only for a recipient the header was issued for (marker
 * issued.<id>.<rcpt>, SC-B5) and only once per recipient (an O_EXCL
 * marker used.<id>.<rcpt>, SC-B3), both in the corral directory.  A
 * message with several recipients is refused before any marker is looked
 * at.  Returns 1 to bypass, 0 to filter normally (reason in why).
 */
static int
bypass_ok(const struct mc_config *cf, struct mc_msg *m, char *why,
    size_t whylen)
{
	unsigned char hash[32];
	char id[CORRAL_ID_LEN + 1];
	enum bypass_result r;

	if (cf->key == NULL) {
		snprintf(why, whylen, "no-key");
		return 0;
	}
	if (m->nbypass != 1) {
		snprintf(why, whylen, "header-count=%u", m->nbypass);
		return 0;
	}
	if (m->nrcpt != 1) {
		snprintf(why, whylen, "recipients=%u", m->nrcpt);
		return 0;
	}
	if (strcmp(m->mailer, "local") != 0 || m->mailaddr[0] == '\0' ||
	    strchr(m->mailaddr, '@') != NULL) {
		snprintf(why, whylen, "not-local");
		return 0;
	}
	if (m->date == NULL || m->msgid == NULL) {
		snprintf(why, whylen, "bad-date");
		return 0;
	}
	if (scan_bodyhash(m->scan, hash) == -1) {
		snprintf(why, whylen, "no-body-hash");
		return 0;
	}
	r = bypass_verify(cf->verify_keys, cf->nverify_keys, m->bypass,
	    strlen(m->bypass), time(NULL), cf->bypass_max_age, m->msgid,
	    strlen(m->msgid), m->date, strlen(m->date), hash, id, sizeof(id));
	if (r != BYPASS_OK) {
		snprintf(why, whylen, "%s", bypass_result_str(r));
		return 0;
	}
	return bypass_markers(cf, id, m->rcpts[0], why, whylen);
}

/* ---- spam ---- */

struct spam_verdict {
	int		 is_spam;
	int		 failed;	/* no verdict: why in reason */
	const char	*via;		/* whitelist, sa-block, builtin, ... */
	double		 score, threshold;
	char		 reason[192];
};

static int
pct(double score, double threshold)
{
	double p = threshold > 0 ? score / threshold * 100.0 : 0;

	if (p > 99999)
		p = 99999;
	if (p < -99999)
		p = -99999;
	return (int)(p + (p < 0 ? -0.5 : 0.5));
}

/*
 * White and blacklists first (no arbitron call for a listed sender), then
 * SpamAssassin's own lists, then the arbitron.
 */
static void
spam_decide(struct mc_conn *c, struct mc_msg *m, struct spam_verdict *sv)
{
	const struct mc_config *cf = c->cf;
	const char *addrs[1 + MC_MAX_FROM];
	size_t naddr = 0, nown, i;
	struct spamd_result res;
	struct buf req = BUF_INIT;

	memset(sv, 0, sizeof(*sv));
	sv->threshold = cf->spam_threshold;
	if (m->sender[0] != '\0')
		addrs[naddr++] = m->sender;
	nown = naddr;
	for (i = 0; i < m->nfrom; i++)
		if (m->from[i] != NULL)
			addrs[naddr++] = m->from[i];
	if (cf->list_from_header)
		nown = naddr;
	for (i = 0; i < nown; i++)
		if (spam_list_match(cf->white, addrs[i])) {
			sv->via = "whitelist";
			return;
		}
	for (i = 0; i < nown; i++)
		if (spam_list_match(cf->black, addrs[i])) {
			sv->is_spam = 1;
			sv->via = "blacklist";
			sv->score = 100;
			return;
		}
	if (cf->sa != NULL && naddr > 0) {
		switch (spam_sa_check(cf->sa, addrs, naddr, c->client)) {
		case SPAM_SA_WELCOME:
			sv->via = "sa-welcomelist";
			sv->score = -100;
			return;
		case SPAM_SA_BLOCK:
			sv->is_spam = 1;
			sv->via = "sa-blocklist";
			sv->score = 100;
			return;
		case SPAM_SA_NONE:
			break;
		}
	}
	switch (cf->spam_arbitron) {
	case CONF_SPAM_NONE:
		sv->via = "none";
		return;
	case CONF_SPAM_BUILTIN:
		sv->via = "builtin";
		if (scan_spam_score(m->scan, &sv->score, NULL) == 0)
			sv->is_spam = sv->score >= sv->threshold;
		return;
	case CONF_SPAM_SPAMD:
		sv->via = "spamd";
		if (spamd_request(m->scan, cf->spamd_max_size, &req) == -1) {
			sv->failed = 1;
			snprintf(sv->reason, sizeof(sv->reason), "spool read "
			    "failed");
		} else if (spamd_check(&cf->spamd, m->nrcpt > 0 ?
		    m->rcpts[0] : NULL, req.data ? req.data : "", req.len,
		    &res, sv->reason, sizeof(sv->reason)) == -1) {
			sv->failed = 1;
		} else {
			sv->is_spam = res.is_spam;
			sv->score = res.score;
			sv->threshold = res.threshold;
		}
		buf_free(&req);
		return;
	}
}

static void
spam_fields(const struct spam_verdict *sv, char *status, size_t slen,
    char *score, size_t clen)
{
	snprintf(status, slen, "%s, score=%.1f required=%.1f (%d%%) via=%s",
	    sv->is_spam ? "Yes" : "No", sv->score, sv->threshold,
	    pct(sv->score, sv->threshold), sv->via);
	snprintf(score, clen, "%.1f (%d%%)", sv->score,
	    pct(sv->score, sv->threshold));
}

/* ---- corral ---- */

struct body_sink {
	struct spool		*spool;
	struct bypass_hash	 hash;
};

static int
sink_body(void *arg, const char *p, size_t n)
{
	struct body_sink *bs = arg;

	if (bypass_hash_update(&bs->hash, p, n) == -1)
		return -1;
	return spool_write(bs->spool, p, n);
}

static int
writer_put(void *arg, const char *p, size_t n)
{
	return corral_write(arg, p, n);
}

/*
 * The corralled copy's header block: the fields as received, less forged
 * X-MailCorral-* and X-Spam-* fields (and the Content-* fields when the
 * body became the warning), then ours.
 */
static int
corral_headers(struct mc_msg *m, int replace_all, struct buf *out)
{
	struct spool *sp = scan_spool(m->scan);
	uint64_t end = scan_body_offset(m->scan);
	struct buf hb = BUF_INIT;
	size_t i, n;
	int skip;

	if (end < 2 || spool_copy(sp, 0, end - 2, (int (*)(void *,
	    const char *, size_t))buf_add, &hb) == -1) {
		buf_free(&hb);
		return end < 2 ? 0 : -1;
	}
	for (i = 0; i < hb.len; i += n) {
		const char *l = hb.data + i;

		n = mc_header_field(l, hb.len - i);
		skip = strncasecmp(l, "X-MailCorral", 12) == 0 ||
		    mc_field_is(l, n, MC_HDR_SPAM_STATUS) ||
		    mc_field_is(l, n, MC_HDR_SPAM_SCORE) ||
		    mc_field_is(l, n, "X-Spam-Flag") ||
		    (replace_all && (mc_field_is(l, n, "Content-Type") ||
		    mc_field_is(l, n, "Content-Transfer-Encoding") ||
		    mc_field_is(l, n, "Content-Disposition")));
		if (!skip && buf_add(out, l, n) == -1) {
			buf_free(&hb);
			return -1;
		}
	}
	buf_free(&hb);
	if (replace_all)
		buf_adds(out, "Content-Type: text/plain; charset=us-ascii\r\n");
	return 0;
}

/* Removes the issued.<bid>.* markers of the first n recipients. */
static void
unissue_markers(const struct mc_config *cf, const struct mc_msg *m,
    const char *bid, size_t n)
{
	char name[CORRAL_NAME_MAX + 32];
	size_t i;

	for (i = 0; i < n; i++)
		if (corral_marker_name(CORRAL_MARK_ISSUED, bid, m->rcpts[i],
		    name, sizeof(name)) == 0)
			unlinkat(corral_dirfd(cf->corral), name, 0);
}

/*
 * The bypass header bid is issued for every recipient of the message
 * (SC-B5: the filter honours it for them only).  Written before the
 * corral entry gets its name, so an entry never lacks its markers; a
 * recipient named twice shares one marker.  0, or -1 with nothing left.
 */
static int
issue_markers(const struct mc_config *cf, const struct mc_msg *m,
    const char *bid, char *err, size_t errlen)
{
	char note[128];
	size_t i;

	snprintf(note, sizeof(note), "corral qid=%s\n", m->qid);
	for (i = 0; i < m->nrcpt; i++) {
		if (corral_marker_issue(corral_dirfd(cf->corral), bid,
		    m->rcpts[i], note, 0) == -1) {
			snprintf(err, errlen, "marker: %s", strerror(errno));
			unissue_markers(cf, m, bid, i);
			return -1;
		}
	}
	return 0;
}

/*
 * Writes the fully filtered message, ready to remail as it is, to the
 * corral: headers (ours added, the bypass header last), then the body
 * (rewritten, or as received).  Nothing is half-written: the corral
 * module writes a temporary file, fsyncs and renames it, then links.
 */
static int
corral_message(SMFICTX *ctx, struct mc_conn *c, struct mc_msg *m,
    const struct spam_verdict *sv, struct mc_verdict *v, char *id,
    char *err, size_t errlen)
{
	const struct mc_config *cf = c->cf;
	struct body_sink bs;
	struct buf hdr = BUF_INIT, extra = BUF_INIT;
	struct corral_writer *w = NULL;
	unsigned char hash[32];
	char status[256], score[64], bid[CORRAL_ID_LEN + 1], token[512];
	char date[64], msgid[160];
	const char *use_date = m->date, *use_msgid = m->msgid;
	time_t now = time(NULL);
	struct tm tm;
	int rc = -1;

	memset(&bs, 0, sizeof(bs));
	if ((bs.spool = spool_new(cf->spool_dir, cf->spool_memory)) == NULL ||
	    bypass_hash_init(&bs.hash) == -1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (rw_rewrite(m->scan, cf, sink_body, &bs, &v->res) == -1) {
		snprintf(err, errlen, "rewrite: %s", strerror(errno));
		goto out;
	}
	if (!v->res.changed && spool_copy(scan_spool(m->scan),
	    scan_body_offset(m->scan), spool_size(scan_spool(m->scan)),
	    sink_body, &bs) == -1) {
		snprintf(err, errlen, "spool read failed");
		goto out;
	}
	if (bypass_hash_final(&bs.hash, hash) == -1) {
		snprintf(err, errlen, "body hash failed");
		goto out;
	}
	if (corral_headers(m, v->res.replace_all, &hdr) == -1) {
		snprintf(err, errlen, "header copy failed");
		goto out;
	}
	/* A copy without Date or Message-ID gets them now, so the MSP that
	   remails it has no reason to add different ones. */
	if (use_date == NULL) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000",
		    &tm);
		use_date = date;
		buf_printf(&extra, "Date: %s\r\n", date);
	}
	if (use_msgid == NULL) {
		if (util_random_hex(bid, CORRAL_ID_LEN, 1) == -1) {
			snprintf(err, errlen, "random id: %s", strerror(errno));
			goto out;
		}
		snprintf(msgid, sizeof(msgid), "<%s.%s@mailcorral>", bid,
		    m->qid);
		use_msgid = msgid;
		buf_printf(&extra, "Message-ID: %s\r\n", msgid);
	}
	spam_fields(sv, status, sizeof(status), score, sizeof(score));
	buf_printf(&extra, "%s: %s\r\n%s: %s\r\n", MC_HDR_SPAM_STATUS, status,
	    MC_HDR_SPAM_SCORE, score);
	if (v->res.changed)
		buf_printf(&extra, "%s: removed=%u renamed=%u defanged=%u "
		    "(MailCorral %s)\r\n", MC_HDR_FILTERED, v->res.removed,
		    v->res.renamed, v->res.defanged, MC_VERSION);
	if (util_random_hex(bid, CORRAL_ID_LEN, 1) == -1) {
		snprintf(err, errlen, "random id: %s", strerror(errno));
		goto out;
	}
	if (cf->key == NULL || bypass_mint(cf->key, bid, now,
	    now + cf->bypass_max_age, use_msgid, strlen(use_msgid), use_date,
	    strlen(use_date), hash, token, sizeof(token)) < 0) {
		snprintf(err, errlen, "cannot mint the bypass header");
		goto out;
	}
	buf_printf(&extra, "%s: %s\r\n\r\n", SPAMHDRBYPASS, token);
	if (hdr.data == NULL || extra.data == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((w = corral_begin(cf->corral, m->qid, err, errlen)) == NULL)
		goto out;
	if (corral_write(w, hdr.data, hdr.len) == -1 ||
	    corral_write(w, extra.data, extra.len) == -1 ||
	    spool_copy(bs.spool, 0, spool_size(bs.spool), writer_put, w) ==
	    -1) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		corral_abort(w);
		goto out;
	}
	if (issue_markers(cf, m, bid, err, errlen) == -1) {
		corral_abort(w);
		goto out;
	}
	rc = corral_commit(w, (const char *const *)m->rcpts, m->nrcpt, id,
	    err, errlen);
	if (rc == -1)
		unissue_markers(cf, m, bid, m->nrcpt);
out:
	(void)ctx;
	bypass_hash_free(&bs.hash);
	spool_free(bs.spool);
	buf_free(&hdr);
	buf_free(&extra);
	return rc;
}

/* ---- the end of the message ---- */

static void
tempfail(SMFICTX *ctx, struct mc_verdict *v, const char *text)
{
	smfi_setreply(ctx, "451", "4.3.0", (char *)(uintptr_t)text);
	v->action = "tempfail";
	v->rc = SMFIS_TEMPFAIL;
}

/*
 * The third-party archiver gets its copy of delivered mail as one more
 * envelope recipient, with a keyed header (mcarchive.h) over Date,
 * Message-ID and its address, so that the copy is known on a later pass
 * through a MailCorral (archive_copy_ok) and not filtered again.  Without
 * a key, Date or Message-ID the copy goes without the header, and is
 * filtered like any mail on that pass.
 */
static int
archiver_copy(SMFICTX *ctx, const struct mc_config *cf,
    const struct mc_msg *m)
{
	char hdr[160];
	unsigned i;

	if (cf->archive_address[0] == '\0')
		return 0;
	if (cf->key != NULL && m->date != NULL && m->msgid != NULL &&
	    arc_mac(cf->key, cf->archive_address, m->date, m->msgid, hdr,
	    sizeof(hdr)) > 0 && smfi_addheader(ctx, ARC_HDR, hdr) !=
	    MI_SUCCESS)
		return -1;
	for (i = 0; i < m->nrcpt; i++)
		if (strcasecmp(m->rcpts[i], cf->archive_address) == 0)
			return 0;
	if (smfi_addrcpt(ctx, (char *)(uintptr_t)cf->archive_address) !=
	    MI_SUCCESS)
		return -1;
	return 0;
}

/*
 * The archiver's copy on a later pass (SC-B9): every envelope recipient
 * is archive_address and the one X-MailCorral-Archive header verifies over
 * this message's Date and Message-ID.  1: pass it on untouched.
 */
static int
archive_copy_ok(const struct mc_config *cf, const struct mc_msg *m,
    char *why, size_t whylen)
{
	unsigned i;

	if (m->narchmac != 1) {
		snprintf(why, whylen, "header-count=%u", m->narchmac);
		return 0;
	}
	if (cf->archive_address[0] == '\0' || m->nrcpt == 0) {
		snprintf(why, whylen, "no-archive-address");
		return 0;
	}
	for (i = 0; i < m->nrcpt; i++)
		if (strcasecmp(m->rcpts[i], cf->archive_address) != 0) {
			snprintf(why, whylen, "other-recipients");
			return 0;
		}
	if (!arc_mac_verify(cf->verify_keys, cf->nverify_keys, m->archmac,
	    cf->archive_address, m->date, m->msgid)) {
		snprintf(why, whylen, "bad-mac");
		return 0;
	}
	return 1;
}

/* Released spam: the seeds' minimal handling, the [SPAM] tag. */
static int
do_bypass(SMFICTX *ctx, struct mc_conn *c, struct mc_msg *m,
    struct mc_verdict *v, const char *id)
{
	if (strip_forged(ctx, m, 1) == -1 || tag_subject(ctx, c->cf, m) == -1 ||
	    archiver_copy(ctx, c->cf, m) == -1)
		return -1;
	v->action = "bypass";
	snprintf(v->extra, sizeof(v->extra), " bypass=%s", id);
	return 0;
}

static int
deliver(SMFICTX *ctx, struct mc_conn *c, struct mc_msg *m,
    const struct spam_verdict *sv, struct mc_verdict *v)
{
	const struct mc_config *cf = c->cf;
	char hdr[256], status[256], score[64];

	if (strip_forged(ctx, m, 0) == -1)
		return -1;
	if (rw_rewrite(m->scan, cf, replace_body, ctx, &v->res) == -1)
		return -1;
	if (v->res.replace_all && headers_for_text(ctx, m) == -1)
		return -1;
	if (v->res.changed) {
		snprintf(hdr, sizeof(hdr), "removed=%u renamed=%u "
		    "defanged=%u (MailCorral %s)", v->res.removed,
		    v->res.renamed, v->res.defanged, MC_VERSION);
		if (smfi_addheader(ctx, MC_HDR_FILTERED, hdr) != MI_SUCCESS)
			return -1;
	}
	if (scan_views(m->scan) > 1 && smfi_addheader(ctx, MC_HDR_AMBIGUITY,
	    "ambiguous MIME structure; every reading was checked") !=
	    MI_SUCCESS)
		return -1;
	if (sv->failed) {
		snprintf(hdr, sizeof(hdr), "unchecked (%s)", sv->reason);
		if (smfi_addheader(ctx, MC_HDR_SPAM, hdr) != MI_SUCCESS)
			return -1;
	}
	if (strncmp(v->virus, "unchecked", 9) == 0 &&
	    smfi_addheader(ctx, MC_HDR_VIRUS, v->virus) != MI_SUCCESS)
		return -1;
	if (sv->is_spam) {
		spam_fields(sv, status, sizeof(status), score, sizeof(score));
		if (tag_subject(ctx, cf, m) == -1 ||
		    smfi_addheader(ctx, MC_HDR_SPAM_STATUS, status) !=
		    MI_SUCCESS ||
		    smfi_addheader(ctx, MC_HDR_SPAM_SCORE, score) != MI_SUCCESS)
			return -1;
		v->action = "tag";
	}
	return archiver_copy(ctx, cf, m);
}

/* Runs clamd over the parts that could carry a virus; 1 = verdict made. */
static int
check_viruses(SMFICTX *ctx, struct mc_conn *c, struct mc_msg *m,
    struct mc_verdict *v)
{
	const struct mc_config *cf = c->cf;
	struct clamd_verdict sv;
	char text[256];

	snprintf(v->virus, sizeof(v->virus), "none");
	if (cf->virus_arbitron != CONF_VIRUS_CLAMD)
		return 0;
	clamd_breaker_set(&mc_breaker, (unsigned)cf->clamd_max_failures,
	    (unsigned)cf->clamd_backoff);
	if (clamd_check_message(m->scan, &cf->clamd, &mc_breaker, &sv) == -1)
		m->err = errno ? errno : EIO;
	v->clamd_scans = sv.scans;
	if (sv.infected > 0) {
		log_safe(sv.virus, strlen(sv.virus), v->virus,
		    sizeof(v->virus));
		if (cf->virus_action == CONF_VACT_REJECT) {
			snprintf(text, sizeof(text), "virus found: %s",
			    v->virus);
			smfi_setreply(ctx, "554", "5.7.1", text);
			v->action = "reject";
			v->rc = SMFIS_REJECT;
			return 1;
		}
		if (cf->virus_action == CONF_VACT_DISCARD) {
			v->action = "discard";
			v->rc = SMFIS_DISCARD;
			return 1;
		}
		return 0;
	}
	if (sv.failed) {
		log_msg(m->qid, LOG_WARNING, "clamd-failed reason=%s",
		    sv.reason);
		if (cf->on_clamd_failure == CONF_FAIL_TEMPFAIL) {
			snprintf(v->virus, sizeof(v->virus), "unchecked(%.170s)",
			    sv.reason);
			tempfail(ctx, v, "virus scanner unavailable, "
			    "try again later");
			return 1;
		}
		snprintf(v->virus, sizeof(v->virus), "unchecked (%.170s)",
		    sv.reason);
		return 0;
	}
	if (sv.oversize)
		snprintf(v->virus, sizeof(v->virus), "unchecked (too large to "
		    "scan)");
	else if (sv.scans > 0)
		snprintf(v->virus, sizeof(v->virus), "clean");
	return 0;
}

/* Reply text from the site's filter: printable, no '%' for libmilter. */
static void
reply_text(const char *in, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < outlen && i < 400; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f && in[i] != '%') ?
		    in[i] : '_';
	out[i] = '\0';
	if (i == 0)
		snprintf(out, outlen, "rejected by the site's filter");
}

/*
 * The site's Perl filter (perlpool.c), after the virus check and before
 * the spam check.  Its part changes become findings for the rewriter,
 * header changes go to the MTA now; a whole-message verdict ends here.
 * Any failure of the shim is P-SHIM-FAIL: 451 4.3.0.  ACCEPT vouches for
 * the message: the spam check is skipped (*accept = 1).  Returns 1 when
 * the verdict is made, 0 to go on, -1 when a change failed.
 */
static int
check_perl(SMFICTX *ctx, struct mc_conn *c, struct mc_msg *m,
    struct mc_verdict *v, int *accept)
{
	static const char *const vwords[] = { "none", "accept", "reject",
	    "discard", "tempfail" };
	const struct pp_reply *r;
	const struct pp_action *a;
	char why[256], text[512];
	unsigned i, nd = 0, nr = 0, np = 0, nh = 0;
	int rc = 0;

	*accept = 0;
	if (m->perl == NULL)
		return 0;
	if (pp_msg_run(m->perl, c->cf, m->scan, m->qid, m->sender, m->rcpts,
	    m->nrcpt, c->client, why, sizeof(why)) == -1) {
		log_msg(m->qid, LOG_WARNING, "perl-failed reason=%s", why);
		snprintf(v->perl, sizeof(v->perl), " perl=failed");
		tempfail(ctx, v, "site filter failed, try again later");
		return 1;
	}
	r = pp_msg_reply(m->perl);
	switch (r->verdict) {
	case PP_REJECT:
		reply_text(r->text, text, sizeof(text));
		smfi_setreply(ctx, "554", "5.7.1", text);
		v->action = "reject";
		v->rc = SMFIS_REJECT;
		rc = 1;
		break;
	case PP_DISCARD:
		v->action = "discard";
		v->rc = SMFIS_DISCARD;
		rc = 1;
		break;
	case PP_TEMPFAIL:
		reply_text(r->text, text, sizeof(text));
		tempfail(ctx, v, text);
		rc = 1;
		break;
	case PP_ACCEPT:
		*accept = 1;
		break;
	case PP_NONE:
		break;
	}
	for (i = 0; rc == 0 && i < r->n; i++) {
		a = &r->a[i];
		switch (a->verb) {
		case PP_DROP:
			nd++;
			if (scan_add_finding(m->scan, a->part, SCAN_DELETE,
			    VIRUS_SITE_FILTER, a->value, NULL, NULL, NULL) == -1)
				rc = -1;
			break;
		case PP_RENAME:
			nr++;
			if (scan_add_finding(m->scan, a->part, SCAN_MANGLE,
			    VIRUS_SITE_FILTER, "", a->name, NULL, NULL) == -1)
				rc = -1;
			break;
		case PP_REPLACE:
			np++;
			if (scan_add_finding(m->scan, a->part, SCAN_REPLACE,
			    VIRUS_SITE_FILTER, "", a->name, a->type,
			    a->path) == -1)
				rc = -1;
			break;
		case PP_HDR_ADD:
			nh++;
			if (smfi_addheader(ctx, (char *)(uintptr_t)a->name,
			    (char *)(uintptr_t)a->value) != MI_SUCCESS)
				rc = -1;
			break;
		case PP_HDR_CHANGE:
			nh++;
			if (smfi_chgheader(ctx, (char *)(uintptr_t)a->name,
			    (int)a->index, (char *)(uintptr_t)a->value) !=
			    MI_SUCCESS)
				rc = -1;
			break;
		case PP_HDR_DELETE:
			nh++;
			if (delete_all(ctx, a->name, pp_msg_count(m->perl,
			    a->name), 0) == -1)
				rc = -1;
			break;
		}
	}
	snprintf(v->perl, sizeof(v->perl), " perl=%s(drop:%u,rename:%u,"
	    "replace:%u,headers:%u)", vwords[r->verdict], nd, nr, np, nh);
	return rc;
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;
	struct mc_verdict v;
	struct spam_verdict sv;
	struct buf words = BUF_INIT;
	struct arc_verdict av;
	char from[256], why[128], id[CORRAL_ID_LEN + 1], err[256];
	char arch[ARC_REL_MAX + 16];
	unsigned errs = 0;
	uint64_t size = 0;
	int perl_accept = 0;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	memset(&v, 0, sizeof(v));
	memset(&sv, 0, sizeof(sv));
	v.action = "accept";
	v.rc = SMFIS_CONTINUE;
	snprintf(v.virus, sizeof(v.virus), "none");
	snprintf(v.spam, sizeof(v.spam), "none");
	arch[0] = '\0';
	set_qid(ctx, m);
	if (m->err == 0 && m->scan != NULL && scan_finish(m->scan) == -1)
		m->err = errno ? errno : EIO;
	if (m->scan != NULL) {
		errs = scan_errors(m->scan);
		size = scan_body_size(m->scan);
	}
	if (m->err != 0 || m->scan == NULL)
		goto internal;
	if (m->narchmac > 0) {
		if (archive_copy_ok(c->cf, m, why, sizeof(why))) {
			v.action = "archive-copy";
			goto log;
		}
		log_msg(m->qid, LOG_NOTICE, "archive-copy-rejected reason=%s",
		    why);
	}
	if (((errs & (MIME_ERR_DEPTH | MIME_ERR_PARTS)) ||
	    scan_limits(m->scan) != 0) &&
	    c->cf->on_mime_limit == CONF_LIMIT_REJECT) {
		smfi_setreply(ctx, "554", "5.6.0",
		    "message structure exceeds this site's limits");
		v.action = "reject";
		v.rc = SMFIS_REJECT;
		goto log;
	}
	/* Archived before any other side effect (bypass markers,
	   corral, header changes), so archive_required can
	   still tempfail cleanly (P-ARCH-FAIL); kept only if accepted. */
	if (arc_enabled(c->cf)) {
		m->arc = arc_begin(c->cf, m->qid, m->sender, m->rcpts,
		    m->nrcpt, scan_spool(m->scan), scan_body_offset(m->scan));
		if (m->arc == NULL) {
			snprintf(arch, sizeof(arch), " archive=failed");
			if (c->cf->archive_required) {
				tempfail(ctx, &v, "cannot archive this message "
				    "now, try again later");
				goto log;
			}
		}
	}
	if (m->nbypass > 0) {
		if (bypass_ok(c->cf, m, why, sizeof(why))) {
			if (do_bypass(ctx, c, m, &v, why) == -1)
				goto fail;
			goto log;
		}
		log_msg(m->qid, LOG_NOTICE, "bypass-rejected reason=%s", why);
	}
	if (check_viruses(ctx, c, m, &v) == 1)
		goto log;
	if (m->err != 0)
		goto internal;
	switch (check_perl(ctx, c, m, &v, &perl_accept)) {
	case 1:
		goto log;
	case -1:
		goto fail;
	}
	if (perl_accept) {
		memset(&sv, 0, sizeof(sv));
		sv.via = "site-filter";
		sv.threshold = c->cf->spam_threshold;
	} else
		spam_decide(c, m, &sv);
	snprintf(v.spam, sizeof(v.spam), "%s%.1f/%.1f(%d%%) via=%s",
	    sv.is_spam ? "yes:" : sv.failed ? "unchecked:" : "no:", sv.score,
	    sv.threshold, pct(sv.score, sv.threshold), sv.via ? sv.via : "-");
	if (sv.failed) {
		log_msg(m->qid, LOG_WARNING, "spamd-failed reason=%s",
		    sv.reason);
		if (c->cf->on_spamd_failure == CONF_FAIL_TEMPFAIL) {
			tempfail(ctx, &v, "spam checker unavailable, try "
			    "again later");
			goto log;
		}
	}
	if (sv.is_spam && c->cf->spam_disposition == CONF_DISPO_TRASH) {
		v.action = "discard";
		v.rc = SMFIS_DISCARD;
		goto log;
	}
	if (sv.is_spam && c->cf->spam_disposition == CONF_DISPO_CORRAL) {
		if (corral_message(ctx, c, m, &sv, &v, id, err,
		    sizeof(err)) == -1) {
			log_msg(m->qid, LOG_WARNING, "corral-failed "
			    "reason=%s", err);
			tempfail(ctx, &v, "cannot store this message now, try "
			    "again later");
			goto log;
		}
		v.action = "corral";
		v.rc = SMFIS_DISCARD;
		snprintf(v.extra, sizeof(v.extra), " corral=%s", id);
		goto log;
	}
	if (deliver(ctx, c, m, &sv, &v) == -1)
		goto fail;
	goto log;
internal:
	log_msg(m->qid, LOG_WARNING, "internal-error reason=%s",
	    strerror(m->err ? m->err : ENOMEM));
	tempfail(ctx, &v, "temporary failure in the mail filter");
	goto log;
fail:
	log_msg(m->qid, LOG_WARNING, "modify-failed reason=%s",
	    strerror(errno ? errno : EIO));
	tempfail(ctx, &v, "temporary failure in the mail filter");
log:
	if (m->arc != NULL && (v.rc == SMFIS_TEMPFAIL || v.rc == SMFIS_REJECT)) {
		arc_abort(m->arc);
	} else if (m->arc != NULL) {
		av.action = v.action;
		av.spam = v.spam;
		av.virus = v.virus;
		av.size = size;
		/* a corralled copy or a used bypass cannot be taken back */
		av.required = c->cf->archive_required &&
		    v.rc != SMFIS_DISCARD && strcmp(v.action, "bypass") != 0;
		snprintf(arch, sizeof(arch), " archive=");
		if (arc_commit(m->arc, &av, arch + 9, sizeof(arch) - 9) == -1) {
			snprintf(arch, sizeof(arch), " archive=failed");
			if (av.required)
				tempfail(ctx, &v, "cannot archive this message "
				    "now, try again later");
		}
	}
	m->arc = NULL;
	mime_words(errs, &words);
	log_safe(m->sender, strlen(m->sender), from, sizeof(from));
	log_msg(m->qid, LOG_INFO, "action=%s changes=removed:%u,renamed:%u,"
	    "defanged:%u%s%s spam=%s virus=%s clamd=%u mime=%s views=%d%s%s%s "
	    "from=<%s> nrcpt=%u size=%llu",
	    v.action, v.res.removed, v.res.renamed, v.res.defanged,
	    v.res.summary.len ? " " : "",
	    v.res.summary.len ? v.res.summary.data : "", v.spam, v.virus,
	    v.clamd_scans, words.data, m->scan ? scan_views(m->scan) : 0,
	    v.extra, v.perl, arch, from, m->nrcpt, (unsigned long long)size);
	buf_free(&words);
	rw_result_free(&v.res);
	msg_free(m);
	c->msg = NULL;
	return v.rc;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);

	if (c != NULL) {
		msg_free(c->msg);
		c->msg = NULL;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	if (c->counted)
		atomic_fetch_sub(&mc_sessions, 1);
	msg_free(c->msg);
	conf_release(c->cf);
	free(c);
	atomic_fetch_sub(&mc_contexts, 1);
	mc_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

/*
 * Shutdown gate.  smfi_main() returns as soon as the listener stops, without
 * waiting for the sessions in flight (libmilter listener.c), and returning
 * from main() runs the exit handlers -- OpenSSL's cleanup among them --
 * under their feet: on SIGTERM with 16 sessions in EOM, TSan saw
 * bypass_mint() read libcrypto state freed by OPENSSL_cleanup(), then a
 * SEGV.  Every callback (and every reload) runs between gate_enter() and
 * gate_leave(); once main() has closed the gate, callbacks answer at once
 * without touching any state (the MTA gets a 4xx), and main() waits for
 * those still inside, at most stop_timeout seconds, before it cleans up
 * (gate_drain()).  Those still inside then are abandoned: each is logged
 * with its step, queue id, client and age, and the process leaves with
 * _exit(), which closes their connections (sendmail keeps the mail: F=T).
 *
 * Who is inside is a list of tickets that live on the callers' stacks,
 * under one mutex: it costs a lock per callback, and it is what the
 * "abandoned" lines and the stop evidence are made of.
 *
 * The whole stop is bounded (mailcorral(8), STOPPING): libmilter notices
 * the stop within 5 s (its listener polls), the drain takes at most
 * stop_timeout, and a watchdog started when smfi_main() returns ends the
 * process MC_STOP_CLEANUP seconds after the drain's deadline whatever the
 * cleanup (Perl workers, the archive indexer) is doing.
 */
#define MC_STOP_CLEANUP	10	/* seconds for the cleanup after the drain */

struct gate_ticket {
	const char		*step;		/* "eom", "reload", ... */
	char			 qid[32];
	char			 client[64];
	struct timespec		 since;
	struct gate_ticket	*next;
	struct gate_ticket	**prevp;
};

static pthread_mutex_t	 mc_gate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gate_ticket *mc_inside;		/* under mc_gate_lock */
static int		 mc_gate_closed;	/* under mc_gate_lock */
static _Atomic(const char *) mc_stop_phase = "running";

/* Enters the gate for step; 0 if it is closed (the daemon is stopping). */
static int
gate_enter(struct gate_ticket *t, const char *step, SMFICTX *ctx)
{
	struct mc_conn *c = ctx != NULL ? mc_getpriv(ctx) : NULL;

	/* Plain copies, cheap enough for every header callback. */
	t->step = step;
	t->qid[0] = t->client[0] = '\0';
	if (c != NULL) {
		memcpy(t->client, c->client, sizeof(t->client) - 1);
		t->client[sizeof(t->client) - 1] = '\0';
		if (c->msg != NULL) {
			memcpy(t->qid, c->msg->qid, sizeof(t->qid) - 1);
			t->qid[sizeof(t->qid) - 1] = '\0';
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t->since);
	pthread_mutex_lock(&mc_gate_lock);
	if (mc_gate_closed) {
		pthread_mutex_unlock(&mc_gate_lock);
		return 0;
	}
	t->next = mc_inside;
	if (mc_inside != NULL)
		mc_inside->prevp = &t->next;
	t->prevp = &mc_inside;
	mc_inside = t;
	pthread_mutex_unlock(&mc_gate_lock);
	return 1;
}

static void
gate_leave(struct gate_ticket *t)
{
	pthread_mutex_lock(&mc_gate_lock);
	*t->prevp = t->next;
	if (t->next != NULL)
		t->next->prevp = t->prevp;
	pthread_mutex_unlock(&mc_gate_lock);
}

/* Logs every callback still inside; returns how many. */
static unsigned
gate_abandon(void)
{
	struct gate_ticket *t;
	struct timespec now;
	unsigned n = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&mc_gate_lock);
	for (t = mc_inside; t != NULL; t = t->next, n++)
		log_warnx("stop: abandoning %s of queue id %s from %s, "
		    "running for %ld s: its connection is closed, the MTA "
		    "keeps the message", t->step, t->qid[0] ? t->qid : "-",
		    t->client[0] ? t->client : "-",
		    (long)(now.tv_sec - t->since.tv_sec));
	pthread_mutex_unlock(&mc_gate_lock);
	return n;
}

/*
 * Closes the gate and waits, at most secs seconds of the monotonic clock,
 * for the callbacks inside; logs how many there were and how long they
 * took, or abandons the rest.  Returns how many were abandoned.
 */
static unsigned
gate_drain(long secs)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	struct gate_ticket *t;
	long long t0 = mc_now_ms();
	unsigned n0 = 0;
	int empty;

	pthread_mutex_lock(&mc_gate_lock);
	mc_gate_closed = 1;
	for (t = mc_inside; t != NULL; t = t->next)
		n0++;
	pthread_mutex_unlock(&mc_gate_lock);
	for (;;) {
		pthread_mutex_lock(&mc_gate_lock);
		empty = mc_inside == NULL;
		pthread_mutex_unlock(&mc_gate_lock);
		if (empty || mc_now_ms() - t0 >= secs * 1000LL)
			break;
		nanosleep(&tick, NULL);
	}
	if (empty) {
		log_info("stop: %u callbacks were running, all done after "
		    "%lld ms", n0, mc_now_ms() - t0);
		return 0;
	}
	return gate_abandon();
}

/*
 * The last resort of a stop: if the process is still there secs seconds
 * after smfi_main() returned, something in the cleanup is stuck; say
 * where, and leave.
 */
static void *
stop_watchdog(void *arg)
{
	long secs = (long)(intptr_t)arg;
	struct timespec left = { secs, 0 };

	while (nanosleep(&left, &left) == -1 && errno == EINTR)
		;
	log_warnx("stop: still not done %ld s after the listener stopped "
	    "(stuck in %s); exiting now", secs, atomic_load(&mc_stop_phase));
	gate_abandon();
	_exit(EX_SOFTWARE);
	return NULL;
}

static void
stop_watchdog_start(long secs)
{
	pthread_t tid;

	if ((errno = pthread_create(&tid, NULL, stop_watchdog,
	    (void *)(intptr_t)secs)) != 0) {
		log_warn("stop: cannot start the watchdog");
		return;
	}
	pthread_detach(tid);
}

/* The callbacks libmilter sees: the mlfi_* ones inside the gate. */
#define GATED(closed_rc, step, call)	do {				\
	struct gate_ticket gated_t_;					\
	sfsistat gated_rc_;						\
									\
	if (!gate_enter(&gated_t_, (step), ctx))			\
		return (closed_rc);					\
	gated_rc_ = (call);						\
	gate_leave(&gated_t_);						\
	return gated_rc_;						\
} while (0)

static sfsistat
gated_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	GATED(SMFIS_REJECT, "negotiate", mlfi_negotiate(ctx, f0, f1, f2, f3, pf0, pf1,
	    pf2, pf3));
}

static sfsistat
gated_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	GATED(SMFIS_TEMPFAIL, "connect", mlfi_connect(ctx, host, addr));
}

static sfsistat
gated_envfrom(SMFICTX *ctx, char **argv)
{
	GATED(SMFIS_TEMPFAIL, "envfrom", mlfi_envfrom(ctx, argv));
}

static sfsistat
gated_envrcpt(SMFICTX *ctx, char **argv)
{
	GATED(SMFIS_TEMPFAIL, "envrcpt", mlfi_envrcpt(ctx, argv));
}

static sfsistat
gated_header(SMFICTX *ctx, char *name, char *value)
{
	GATED(SMFIS_TEMPFAIL, "header", mlfi_header(ctx, name, value));
}

static sfsistat
gated_eoh(SMFICTX *ctx)
{
	GATED(SMFIS_TEMPFAIL, "eoh", mlfi_eoh(ctx));
}

static sfsistat
gated_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
	GATED(SMFIS_TEMPFAIL, "body", mlfi_body(ctx, data, len));
}

static sfsistat
gated_eom(SMFICTX *ctx)
{
	GATED(SMFIS_TEMPFAIL, "eom", mlfi_eom(ctx));
}

static sfsistat
gated_abort(SMFICTX *ctx)
{
	GATED(SMFIS_CONTINUE, "abort", mlfi_abort(ctx));
}

/* With the gate closed the connection is left to the exiting process. */
static sfsistat
gated_close(SMFICTX *ctx)
{
	GATED(SMFIS_CONTINUE, "close", mlfi_close(ctx));
}

static struct smfiDesc mc_desc = {
	MC_NAME,
	SMFI_VERSION,
	SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT,
	gated_connect,
	NULL,			/* helo */
	gated_envfrom,
	gated_envrcpt,
	gated_header,
	gated_eoh,
	gated_body,
	gated_eom,
	gated_abort,
	gated_close,
	NULL,			/* unknown */
	NULL,			/* data */
	gated_negotiate
};

/* ---- daemon life ---- */

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mailcorral [-fnhV] [-c file] [-p socket] [-u user] "
	    "[-P pidfile]\n"
	    "  -c file     configuration file (default %s;\n"
	    "              built-in defaults when it does not exist)\n"
	    "  -p socket   milter socket: inet:PORT@HOST or unix:PATH\n"
	    "              (default %s)\n"
	    "  -f          stay in the foreground, log to stderr too\n"
	    "  -n          check the configuration and exit\n"
	    "  -u user     run as this user when started as root\n"
	    "  -P pidfile  write the process id here\n"
	    "  -V          print the version and exit\n"
	    "  -h          this help\n"
	    "Signals: SIGUSR1 reloads the configuration; SIGTERM stops.\n"
	    "Configuration keywords (see mailcorral.conf(5)):\n",
	    DEF_CONFIG_FILE, DEF_SOCKET);
	if (fp == stdout)
		conf_dump_defaults();
}

static void *
reloader(void *arg)
{
	sigset_t set;
	int sig;
	struct mc_config *cf;
	struct gate_ticket t;
	char err[512];

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		/* stopping: leave the config alone */
		if (!gate_enter(&t, "reload", NULL))
			return NULL;
		if (conf_load(mc_conf_given || access(mc_conffile, F_OK) == 0 ?
		    mc_conffile : NULL, &cf, err, sizeof(err)) == -1 ||
		    conf_prepare(cf, err, sizeof(err)) == -1) {
			log_warnx("reload failed, keeping the running "
			    "configuration: %s", err);
			conf_free(cf);
			gate_leave(&t);
			continue;
		}
		conf_install(cf);
		log_info("configuration reloaded from %s",
		    cf->file ? cf->file : "built-in defaults");
		pp_reload(cf);
		arc_reload(cf);
		gate_leave(&t);
	}
	return NULL;
}

static int
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user == NULL || *user == '\0' || geteuid() != 0)
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_warnx("unknown user \"%s\"", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_warn("cannot become %s", user);
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) != -1) {
		log_warnx("privileges could be regained after dropping them");
		return -1;
	}
	return 0;
}

/*
 * A filter parsing hostile mail should not do it as root (SC-C4): refuse
 * to start when root would stay root, that is when user is empty or names
 * an account with uid 0, unless allow_root says otherwise.  An unknown
 * user is left to drop_privileges() to report.
 */
static int
root_refused(const char *user, int allow)
{
	struct passwd *pw;

	if (allow || geteuid() != 0)
		return 0;
	if (user != NULL && *user != '\0' &&
	    ((pw = getpwnam(user)) == NULL || pw->pw_uid != 0))
		return 0;
	log_warnx("refusing to run as root: set user to an unprivileged "
	    "account (allow_root = yes overrides)");
	return 1;
}

static int
write_pidfile(const char *path)
{
	char line[32];
	int fd, n;

	if (path == NULL || *path == '\0')
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1) {
		log_warn("pid file %s", path);
		return -1;
	}
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write(fd, line, (size_t)n) != n) {
		log_warn("pid file %s", path);
		close(fd);
		return -1;
	}
	return close(fd);
}

static int
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

/*
 * Start-up failed after the milter socket was opened: remove it (and the
 * pid file written, if any), so that neither an MTA nor a start script
 * takes a dead filter for a live one.  Frees cf (NULL: nothing); returns
 * rc.
 */
static int
abandon(const char *sock, const char *pidfile, struct mc_config *cf, int rc)
{
	const char *path = NULL;

	if (strncmp(sock, "unix:", 5) == 0)
		path = sock + 5;
	else if (strncmp(sock, "local:", 6) == 0)
		path = sock + 6;
	else if (sock[0] == '/')
		path = sock;
	if (path != NULL && unlink(path) == -1 && errno != ENOENT)
		log_warn("cannot remove %s", path);
	if (pidfile != NULL && *pidfile != '\0' && unlink(pidfile) == -1 &&
	    errno != ENOENT)
		log_warn("cannot remove %s", pidfile);
	conf_free(cf);
	return rc;
}

/*
 * Each session may hold the milter socket, a spool file and a spamd or
 * clamd socket: raise the soft open-file limit to what max_sessions needs,
 * as far as the hard limit allows, and say so when it is not enough.
 */
static void
raise_nofile(long sessions)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)sessions * 4 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
		    want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu)",
			    (unsigned long long)rl.rlim_cur);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warnx("open files limited to %llu, below the %llu that "
		    "max_sessions %ld needs: raise the hard limit (ulimit -Hn)",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want,
		    sessions);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *user = NULL, *pidfile = NULL;
	int ch, foreground = 0, check = 0, fac;
	struct mc_config *cf;
	char err[512];
	pthread_t tid;
	sigset_t set;
	unsigned busy, nopen;

	mc_conffile = DEF_CONFIG_FILE;
	while ((ch = getopt(argc, argv, "c:p:fnu:P:Vh")) != -1) {
		switch (ch) {
		case 'c':
			mc_conffile = optarg;
			mc_conf_given = 1;
			break;
		case 'p':
			sock = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'u':
			user = optarg;
			break;
		case 'P':
			pidfile = optarg;
			break;
		case 'V':
			printf("mailcorral %s\n", MC_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (conf_load(mc_conf_given || access(mc_conffile, F_OK) == 0 ?
	    mc_conffile : NULL, &cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "mailcorral: %s\n", err);
		return EX_CONFIG;
	}
	if (check) {
		printf("%s: configuration OK\n", cf->file ? cf->file :
		    "built-in defaults");
		conf_free(cf);
		return 0;
	}
	if (sock == NULL)
		sock = cf->socket;
	if (user == NULL)
		user = cf->user;
	if (pidfile == NULL)
		pidfile = cf->pid_file;
	/*
	 * glibc gives each thread an arena up to 8 per core, and with
	 * libmilter's thread per connection that fragments: RSS crept from 34
	 * to 44 MiB over 20,000 messages at c=8, and stayed flat with 4.
	 */
	if (cf->malloc_arenas > 0)
		mallopt(M_ARENA_MAX, (int)cf->malloc_arenas);
	fac = log_facility(cf->log_facility);
	log_init(MC_NAME, fac, foreground);
	if (root_refused(user, cf->allow_root)) {
		conf_free(cf);
		return EX_CONFIG;
	}
	raise_nofile(cf->max_sessions);
	umask(077);
	signal(SIGPIPE, SIG_IGN);

	if (smfi_setconn((char *)(uintptr_t)sock) != MI_SUCCESS ||
	    smfi_register(mc_desc) != MI_SUCCESS ||
	    smfi_settimeout((int)cf->milter_timeout) != MI_SUCCESS ||
	    smfi_setbacklog((int)cf->milter_backlog) != MI_SUCCESS) {
		log_warnx("cannot set up libmilter for %s", sock);
		conf_free(cf);
		return EX_SOFTWARE;
	}
	if (smfi_opensocket(1) != MI_SUCCESS) {
		log_warnx("cannot open milter socket %s", sock);
		conf_free(cf);
		return EX_UNAVAILABLE;
	}
	if (!foreground && daemonize() == -1) {
		log_warn("cannot become a daemon");
		return abandon(sock, NULL, cf, EX_OSERR);
	}
	if (write_pidfile(pidfile) == -1)
		return abandon(sock, NULL, cf, EX_CANTCREAT);
	if (drop_privileges(user) == -1)
		return abandon(sock, pidfile, cf, EX_NOPERM);
	if (conf_prepare(cf, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", cf->file ? cf->file : "defaults", err);
		return abandon(sock, pidfile, cf, EX_CONFIG);
	}
	conf_install(cf);
	/* Perl workers run as the user we now are (SC-P1). */
	pp_start(cf);
	/*
	 * main() keeps a reference of its own to the first snapshot: sock,
	 * pidfile and cf->file point into it, and are used after smfi_main()
	 * returns, while a SIGUSR1 reload frees the snapshot it replaces once
	 * the last connection lets go (TSan: conf_free() in the reload thread,
	 * main() reading cf->file; unlink(pidfile) read freed memory).
	 */
	cf = conf_acquire();

	/*
	 * Block the signals before any thread exists, so every thread
	 * inherits the mask: SIGUSR1 is sigwait()ed by our reload thread,
	 * SIGHUP, SIGINT and SIGTERM by libmilter's signal thread, which
	 * stops smfi_main() cleanly.  Left unblocked in our thread, SIGTERM
	 * was delivered there and killed the process (no reply to sessions
	 * in flight, no log line, pid file left behind).
	 */
	arc_reload(cf);		/* before the reload thread can push */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((errno = pthread_create(&tid, NULL, reloader, NULL)) != 0) {
		log_warn("cannot start the reload thread");
		ch = abandon(sock, pidfile, NULL, EX_OSERR);
		conf_release(cf);
		conf_shutdown();
		return ch;
	}
	pthread_detach(tid);
	arc_startup_check(cf);
	if (arc_start() == -1) {
		ch = abandon(sock, pidfile, NULL, EX_OSERR);
		conf_release(cf);
		conf_shutdown();
		return ch;
	}
	log_info("mailcorral %s starting on %s (config %s)", MC_VERSION, sock,
	    cf->file ? cf->file : "built-in defaults");
	ch = smfi_main();
	log_info("mailcorral stopping (%s): waiting up to %ld s for the "
	    "sessions in flight", ch == MI_SUCCESS ? "normal" : "error",
	    cf->stop_timeout);
	stop_watchdog_start(cf->stop_timeout + MC_STOP_CLEANUP);
	atomic_store(&mc_stop_phase, "the Perl workers' shutdown");
	pp_shutdown();		/* a message stuck in a worker gives up */
	atomic_store(&mc_stop_phase, "the drain of the sessions in flight");
	busy = gate_drain(cf->stop_timeout);
	if (pidfile != NULL && *pidfile != '\0')
		unlink(pidfile);
	if (busy > 0) {
		/* No exit handlers while callbacks still run: _exit(). */
		nopen = atomic_load(&mc_contexts);
		log_warnx("stop: %u callbacks abandoned after stop_timeout "
		    "%ld s; %u sessions open in all, their connections are "
		    "closed", busy, cf->stop_timeout, nopen);
		_exit(ch == MI_SUCCESS ? 0 : EX_SOFTWARE);
	}
	atomic_store(&mc_stop_phase, "the cleanup");
	if ((nopen = atomic_load(&mc_contexts)) > 0) {
		/*
		 * Sessions that were still open when the gate closed: their
		 * close callback is refused, libmilter's threads still hold
		 * their contexts, and exiting closes their sockets (the MTA
		 * applies its F= flags).  Nothing of ours is in use, but the
		 * contexts are, so no exit handlers (LeakSanitizer's among
		 * them) either.
		 */
		log_info("%u sessions still open at exit: their connections "
		    "are closed", nopen);
		_exit(ch == MI_SUCCESS ? 0 : EX_SOFTWARE);
	}
	pp_shutdown();
	arc_stop();
	conf_release(cf);
	conf_shutdown();
	return ch == MI_SUCCESS ? 0 : EX_SOFTWARE;
}
