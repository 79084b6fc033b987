/*
 * verdict.c -- the end-of-message decision (see verdict.h).
 *
 * One table of steps over one struct mc_verdict; a step returns
 * STEP_NEXT to let the next one look or STEP_DONE when the verdict is
 * made.  A step records what the MTA must change (header edits, the new
 * body in a spool) and never makes a change itself: no smfi_* call here.
 * The filesystem work a step must do before the answer (the corral copy
 * and its markers, the bypass's used marker, the archive file) is done
 * here, through the modules that own it.
 *
 * Ownership: the verdict owns its edits and body spool (verdict_free);
 * the message and the config snapshot are the caller's.
 * Failure: a step that fails sets a failure class with verdict_fail(),
 * which logs the fault line and makes the verdict a tempfail (or the
 * configured reject); verdict_reply() maps the class to the SMTP reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "buf.h"
#include "bypass.h"
#include "clamd.h"
#include "conf.h"
#include "corral.h"
#include "log.h"
#include "mcarchive.h"
#include "perlpool.h"
#include "pool.h"
#include "prefs.h"
#include "rewrite.h"
#include "scan.h"
#include "smfopts.h"
#include "spamd.h"
#include "spamfilter.h"
#include "spool.h"
#include "util.h"
#include "verdict.h"
#include "banned.h"

#define MC_HDR_KEEP	998	/* longest header value we keep a copy of */

enum step_rc { STEP_NEXT, STEP_DONE };

/* ---- the message as received ---- */

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

void
verdict_msg_header(struct mc_msg *m, const char *name, const char *value)
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
	if (strcasecmp(name, MC_HDR_VIRUS) == 0 &&
	    strncmp(value + strspn(value, " \t"), "unchecked", 9) == 0)
		m->virus_unchecked = 1;
	if (strcasecmp(name, ARC_HDR) == 0) {
		m->narchmac++;
		keep_first(&m->archmac, value);
		if (m->scan != NULL && scan_want_bodyhash(m->scan) == -1)
			m->err = errno;
	}
	if (strcasecmp(name, MC_HDR_VARIANT) == 0) {
		m->nvariant++;
		keep_first(&m->variant, value);
		if (m->scan != NULL && scan_want_bodyhash(m->scan) == -1)
			m->err = errno;
	}
	if (strcasecmp(name, MC_HDR_DIGEST) == 0) {
		m->ndigest++;
		keep_first(&m->digest, value);
		if (m->scan != NULL && scan_want_bodyhash(m->scan) == -1)
			m->err = errno;
	}
	if (strncasecmp(name, "X-MailCorral", 12) == 0 || is_spam_field(name))
		note_forged(m, name);
}

const unsigned char *
verdict_msg_bodyhash(struct mc_msg *m)
{
	if (m->hashed == 0)
		m->hashed = m->scan != NULL &&
		    scan_bodyhash(m->scan, m->bodyhash) == 0 ? 1 : -1;
	return m->hashed == 1 ? m->bodyhash : NULL;
}

void
verdict_msg_free(struct mc_msg *m)
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
	free(m->variant);
	free(m->digest);
	arc_abort(m->arc);
	free(m);
}

/* ---- the edit list ---- */

/* Appends one edit (strings copied); 0, or -1 with errno. */
static int
edit(struct mc_verdict *v, enum verdict_edit_op op, const char *name,
    unsigned index, const char *value)
{
	struct verdict_edit *e;
	unsigned ncap;

	if (v->nedits == v->capedits) {
		ncap = v->capedits ? v->capedits * 2 : 16;
		if ((e = realloc(v->edits, ncap * sizeof(*e))) == NULL)
			return -1;
		v->edits = e;
		v->capedits = ncap;
	}
	e = &v->edits[v->nedits];
	e->op = op;
	e->index = index;
	e->name = strdup(name);
	e->value = value != NULL ? strdup(value) : NULL;
	if (e->name == NULL || (value != NULL && e->value == NULL)) {
		free(e->name);
		free(e->value);
		errno = ENOMEM;
		return -1;
	}
	v->nedits++;
	return 0;
}

static int
add_header(struct mc_verdict *v, const char *name, const char *value)
{
	return edit(v, VERDICT_HDR_ADD, name, 0, value);
}

/* Deletes every occurrence past keep, last first (CVE-2022-48521). */
static int
delete_all(struct mc_verdict *v, const char *name, unsigned count,
    unsigned keep)
{
	unsigned i;

	for (i = count; i > keep; i--)
		if (edit(v, VERDICT_HDR_CHANGE, name, i, NULL) == -1)
			return -1;
	return 0;
}

/* Removes inbound copies of our fields; spam fields too unless keep_spam. */
static int
strip_forged(struct mc_verdict *v, int keep_spam)
{
	const struct mc_msg *m = v->m;
	unsigned i;

	for (i = 0; i < m->nforged; i++) {
		if (keep_spam && is_spam_field(m->forged[i].name))
			continue;
		if (delete_all(v, m->forged[i].name, m->forged[i].n, 0) == -1)
			return -1;
	}
	return 0;
}

/* The body is now the plain-text warning: make the headers say so. */
static int
headers_for_text(struct mc_verdict *v)
{
	const struct mc_msg *m = v->m;

	if (delete_all(v, "Content-Type", m->n_ctype, 1) == -1 ||
	    delete_all(v, "Content-Transfer-Encoding", m->n_cte, 0) == -1 ||
	    delete_all(v, "Content-Disposition", m->n_cdisp, 0) == -1)
		return -1;
	return edit(v, VERDICT_HDR_CHANGE, "Content-Type", 1,
	    "text/plain; charset=us-ascii");
}

/* Subject with the spam tag in front (never replaced, never doubled). */
static int
tag_subject(struct mc_verdict *v)
{
	const char *s = v->m->subject != NULL ? v->m->subject : "";
	const char *tag = v->cf->spam_subject_tag;
	size_t tl = strlen(tag);
	struct buf b = BUF_INIT;
	int rc;

	while (*s == ' ')
		s++;
	if (strncmp(s, tag, tl) == 0)
		buf_adds(&b, s);
	else
		buf_printf(&b, "%s%s%s", tag, *s ? " " : "", s);
	if (b.data == NULL)
		return -1;
	rc = v->m->n_subject > 0 ?
	    edit(v, VERDICT_HDR_CHANGE, "Subject", 1, b.data) :
	    add_header(v, "Subject", b.data);
	buf_free(&b);
	return rc;
}

/*
 * The archiver's copy of delivered mail: its keyed header when there can
 * be one, and archive_address as one more recipient unless it is one.
 */
static int
archiver_copy(struct mc_verdict *v)
{
	const struct mc_config *cf = v->cf;
	const struct mc_msg *m = v->m;
	struct spool *body = v->res.changed ? v->body : scan_spool(m->scan);
	uint64_t from = v->res.changed ? 0 : scan_body_offset(m->scan);
	unsigned char hash[32];
	char hdr[BYPASS_HDR_MAX + 1];
	unsigned i;

	if (cf->archive_address[0] == '\0')
		return 0;
	/* the MAC covers the body as delivered: the edits are made by now */
	if (bypass_hash_spool(body, from, spool_size(body), hash) == 0 &&
	    arc_copy_header(cf, m->date, m->msgid, hash, hdr,
	    sizeof(hdr)) > 0 && add_header(v, ARC_HDR, hdr) == -1)
		return -1;
	for (i = 0; i < m->nrcpt; i++)
		if (strcasecmp(m->rcpts[i], cf->archive_address) == 0)
			return 0;
	return edit(v, VERDICT_RCPT_ADD, cf->archive_address, 0, NULL);
}

/* ---- outcomes ---- */

static const char *const action_words[] = {
	[VERDICT_ACCEPT] = "accept",
	[VERDICT_TAG] = "tag",
	[VERDICT_BYPASS] = "bypass",
	[VERDICT_ARCHIVE_COPY] = "archive-copy",
	[VERDICT_VARIANT] = "variant",
	[VERDICT_DIGEST] = "digest",
	[VERDICT_CORRAL] = "corral",
	[VERDICT_DISCARD] = "discard",
	[VERDICT_REJECT] = "reject",
	[VERDICT_TEMPFAIL] = "tempfail",
};

const char *
verdict_action_str(enum verdict_action a)
{
	return (unsigned)a < sizeof(action_words) / sizeof(action_words[0]) ?
	    action_words[a] : "?";
}

void
verdict_fail(struct mc_verdict *v, enum verdict_fail f, const char *reason)
{
	const char *qid = v->m->qid;

	v->fail = f;
	v->action = VERDICT_TEMPFAIL;
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
	switch (f) {
	case VERDICT_FAIL_INTERNAL:
		log_msg(qid, LOG_WARNING, "internal-error reason=%s", reason);
		break;
	case VERDICT_FAIL_MODIFY:
		log_msg(qid, LOG_WARNING, "modify-failed reason=%s", reason);
		break;
	case VERDICT_FAIL_PERL:
		log_msg(qid, LOG_WARNING, "perl-failed reason=%s", reason);
		break;
	case VERDICT_FAIL_CORRAL:
		log_msg(qid, LOG_WARNING, "corral-failed reason=%s", reason);
		break;
	case VERDICT_FAIL_MIME_LIMIT:
	case VERDICT_FAIL_VIRUS:
	case VERDICT_FAIL_SITE_REJECT:
		v->action = VERDICT_REJECT;
		break;
	case VERDICT_FAIL_NONE:
	case VERDICT_FAIL_CLAMD:	/* logged where the reason is known */
	case VERDICT_FAIL_SPAMD:
	case VERDICT_FAIL_ARCHIVE:	/* logged by archive.c */
	case VERDICT_FAIL_SITE_TEMPFAIL:
		break;
	}
}

/* The errno of a failed step, as the fault line says it. */
static enum step_rc
fail_errno(struct mc_verdict *v, enum verdict_fail f, int err)
{
	verdict_fail(v, f, strerror(err != 0 ? err : EIO));
	return STEP_DONE;
}

int
verdict_delivers(const struct mc_verdict *v)
{
	return v->action == VERDICT_ACCEPT || v->action == VERDICT_TAG ||
	    v->action == VERDICT_BYPASS || v->action == VERDICT_ARCHIVE_COPY ||
	    v->action == VERDICT_VARIANT || v->action == VERDICT_DIGEST;
}

/* The reply of a site filter: printable, no '%' for libmilter. */
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

int
verdict_reply(const struct mc_verdict *v, const char **code,
    const char **xcode, char *text, size_t textlen)
{
	const char *t = NULL;

	*code = "451";
	*xcode = "4.3.0";
	switch (v->fail) {
	case VERDICT_FAIL_NONE:
		return 0;
	case VERDICT_FAIL_INTERNAL:
	case VERDICT_FAIL_MODIFY:
		t = "temporary failure in the mail filter";
		break;
	case VERDICT_FAIL_CLAMD:
		t = "virus scanner unavailable, try again later";
		break;
	case VERDICT_FAIL_SPAMD:
		t = "spam checker unavailable, try again later";
		break;
	case VERDICT_FAIL_PERL:
		t = "site filter failed, try again later";
		break;
	case VERDICT_FAIL_CORRAL:
		t = "cannot store this message now, try again later";
		break;
	case VERDICT_FAIL_ARCHIVE:
		t = "cannot archive this message now, try again later";
		break;
	case VERDICT_FAIL_MIME_LIMIT:
		*code = "554";
		*xcode = "5.6.0";
		t = "message structure exceeds this site's limits";
		break;
	case VERDICT_FAIL_VIRUS:
		*code = "554";
		*xcode = "5.7.1";
		snprintf(text, textlen, "virus found: %s", v->virus);
		return 1;
	case VERDICT_FAIL_SITE_REJECT:
		*code = "554";
		*xcode = "5.7.1";
		reply_text(v->reason, text, textlen);
		return 1;
	case VERDICT_FAIL_SITE_TEMPFAIL:
		reply_text(v->reason, text, textlen);
		return 1;
	}
	snprintf(text, textlen, "%s", t);
	return 1;
}

/* ---- the steps ---- */

/* qsort() order of strings, case-insensitive (ASCII). */
static int
strcmp_ci_ptr(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* Trouble while the message came in: nothing can be judged. */
static enum step_rc
step_internal(struct mc_verdict *v)
{
	struct mc_msg *m = v->m;

	if (m->err == 0 && m->scan != NULL && scan_finish(m->scan) == -1)
		m->err = errno ? errno : EIO;
	if (m->scan != NULL) {
		v->mime_errs = scan_errors(m->scan);
		v->size = scan_body_size(m->scan);
	}
	if (m->err != 0 || m->scan == NULL)
		return fail_errno(v, VERDICT_FAIL_INTERNAL,
		    m->err ? m->err : ENOMEM);
	return STEP_NEXT;
}

/* The archiver's own copy on a later pass goes on untouched (SC-B9). */
static enum step_rc
step_archive_copy(struct mc_verdict *v)
{
	struct mc_msg *m = v->m;
	char why[128];

	if (m->narchmac == 0)
		return STEP_NEXT;
	if (arc_copy_ok(v->cf, m->archmac, m->narchmac, m->rcpts, m->nrcpt,
	    m->date, m->msgid, verdict_msg_bodyhash(m), why, sizeof(why))) {
		v->action = VERDICT_ARCHIVE_COPY;
		return STEP_DONE;
	}
	log_msg(m->qid, LOG_NOTICE, "archive-copy-rejected reason=%s", why);
	return STEP_NEXT;
}

/*
 * The recipients of a variant copy, sorted, lower case, joined by ',':
 * what its keyed field is bound to.  NULL when out of memory.
 */
static char *
variant_bound(char *const *rcpts, unsigned n)
{
	const char **v;
	struct buf b = BUF_INIT;
	unsigned i;
	size_t k;

	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		v[i] = rcpts[i];
	qsort(v, n, sizeof(*v), strcmp_ci_ptr);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? "," : "", v[i]);
	free(v);
	if (b.data == NULL) {
		buf_adds(&b, "");
		if (b.data == NULL)
			return NULL;
	}
	for (k = 0; k < b.len; k++)
		b.data[k] = (char)util_lower((unsigned char)b.data[k]);
	return b.data;
}

/*
 * A keyed field of ours on its way back (bypass.h purpose p): it verifies
 * for bound over this Date, Message-ID and body, and is used once per
 * recipient, compared without case as the MAC binds it (the used markers
 * of the corral directory, as the archiver's copy).  1 (the id in why) or 0 (the reason in why).
 */
static int
keyed_ok(struct mc_verdict *v, enum bypass_purpose p, const char *field,
    const char *bound, char *why, size_t whylen)
{
	const struct mc_config *cf = v->cf;
	struct mc_msg *m = v->m;
	const unsigned char *hash = verdict_msg_bodyhash(m);
	const char *date = m->date ? m->date : "", *msgid = m->msgid ?
	    m->msgid : "";
	char id[BYPASS_ID_LEN + 1];
	enum bypass_result r;
	unsigned i;

	if (hash == NULL) {
		snprintf(why, whylen, "no-body-hash");
		return 0;
	}
	r = bypass_verify_for(cf->verify_keys, cf->nverify_keys, p, bound,
	    field, strlen(field), time(NULL), cf->bypass_max_age, msgid,
	    strlen(msgid), date, strlen(date), hash, id, sizeof(id));
	if (r != BYPASS_OK) {
		snprintf(why, whylen, "%s", bypass_result_str(r));
		return 0;
	}
	/* the MAC binds the recipients without case (bypass.h): so does
	   the one-use marker, or "A@x" would replay what "a@x" used */
	for (i = 0; i < m->nrcpt; i++) {
		char *lc = strdup(m->rcpts[i]);
		size_t k;
		int ok;

		if (lc == NULL) {
			snprintf(why, whylen, "out-of-memory");
			return 0;
		}
		for (k = 0; lc[k] != '\0'; k++)
			lc[k] = (char)util_lower((unsigned char)lc[k]);
		ok = bypass_mark_used(cf, id, lc, why, whylen);
		free(lc);
		if (!ok)
			return 0;
	}
	return 1;
}

/* A variant copy we sent (step_deliver): bound to exactly its recipients. */
static int
variant_ok(struct mc_verdict *v, char *why, size_t whylen)
{
	struct mc_msg *m = v->m;
	char *bound;
	int ok;

	if (m->nvariant != 1 || m->nrcpt == 0) {
		snprintf(why, whylen, "header-count=%u", m->nvariant);
		return 0;
	}
	if ((bound = variant_bound(m->rcpts, m->nrcpt)) == NULL) {
		snprintf(why, whylen, "out-of-memory");
		return 0;
	}
	ok = keyed_ok(v, BYPASS_FOR_VARIANT, m->variant, bound, why, whylen);
	free(bound);
	return ok;
}

/* A recipient's own copy on its way back goes on untouched. */
static enum step_rc
step_variant(struct mc_verdict *v)
{
	char why[128];

	if (v->m->nvariant == 0)
		return STEP_NEXT;
	if (variant_ok(v, why, sizeof(why))) {
		v->action = VERDICT_VARIANT;
		snprintf(v->extra, sizeof(v->extra), " variant=%s", why);
		return STEP_DONE;
	}
	log_msg(v->m->qid, LOG_NOTICE, "variant-rejected reason=%s", why);
	return STEP_NEXT;
}

/*
 * spamcorral-notify's digest (issue 22): one field, one recipient, sent
 * from where releases come from (bypass_local_origin), keyed for that
 * recipient.  Delivered untouched: not tagged, not corralled.  A forged
 * one (from outside, for another recipient, a copy replayed) is filtered
 * as any mail.
 */
static enum step_rc
step_digest(struct mc_verdict *v)
{
	struct mc_msg *m = v->m;
	struct bypass_msg bm;
	char why[128];

	if (m->ndigest == 0)
		return STEP_NEXT;
	memset(&bm, 0, sizeof(bm));
	bm.mailer = m->mailer;
	bm.mailaddr = m->mailaddr;
	bm.daemon = m->daemon[0] != '\0' ? m->daemon : NULL;
	if (m->ndigest != 1)
		snprintf(why, sizeof(why), "header-count=%u", m->ndigest);
	else if (m->nrcpt != 1)
		snprintf(why, sizeof(why), "recipients=%u", m->nrcpt);
	else if (bypass_local_origin(v->cf, &bm, why, sizeof(why)) &&
	    keyed_ok(v, BYPASS_FOR_DIGEST, m->digest, m->rcpts[0], why,
	    sizeof(why))) {
		v->action = VERDICT_DIGEST;
		snprintf(v->extra, sizeof(v->extra), " digest=%s", why);
		return STEP_DONE;
	}
	log_msg(m->qid, LOG_NOTICE, "digest-rejected reason=%s", why);
	return STEP_NEXT;
}

/* A structure past the limits was not read whole: the configured answer. */
static enum step_rc
step_mime_limit(struct mc_verdict *v)
{
	if (((v->mime_errs & (MIME_ERR_DEPTH | MIME_ERR_PARTS)) ||
	    scan_limits(v->m->scan) != 0) &&
	    v->cf->on_mime_limit == CONF_LIMIT_REJECT) {
		verdict_fail(v, VERDICT_FAIL_MIME_LIMIT, "mime-limit");
		return STEP_DONE;
	}
	return STEP_NEXT;
}

/*
 * Archived before any other side effect (bypass markers, corral), so
 * archive_required can still tempfail cleanly (P-ARCH-FAIL); kept only
 * if the verdict lets the message go on (verdict_archive).
 */
static enum step_rc
step_archive_begin(struct mc_verdict *v)
{
	struct mc_msg *m = v->m;

	if (!arc_enabled(v->cf))
		return STEP_NEXT;
	m->arc = arc_begin(v->cf, m->qid, m->sender, m->rcpts, m->nrcpt,
	    scan_spool(m->scan), scan_body_offset(m->scan));
	if (m->arc != NULL)
		return STEP_NEXT;
	snprintf(v->arch, sizeof(v->arch), " archive=failed");
	if (!v->cf->archive_required)
		return STEP_NEXT;
	verdict_fail(v, VERDICT_FAIL_ARCHIVE, "archive-write");
	return STEP_DONE;
}

static enum step_rc step_clamd(struct mc_verdict *);
static int rewrite_body(struct mc_verdict *);
static int filtered_header(struct mc_verdict *);
static int unchecked_headers(struct mc_verdict *);

/*
 * The checks a release makes up for (issue 16 item 4): an entry stored
 * while clamd failed (X-MailCorral-Virus: unchecked) is scanned, before
 * the one-use marker is spent, so clamd's failure answers as
 * on_clamd_failure says and a retry can still be released.  A virus is
 * answered as virus_action says (removed: the body rewritten).  0 or -1.
 */
static int
release_rescan(struct mc_verdict *v)
{
	if (v->infected && (rewrite_body(v) == -1 ||
	    (v->res.replace_all && headers_for_text(v) == -1) ||
	    filtered_header(v) == -1))
		return -1;
	return v->m->virus_unchecked ? unchecked_headers(v) : 0;
}

/* Released spam: the seeds' minimal handling, the [SPAM] tag. */
static enum step_rc
step_bypass(struct mc_verdict *v)
{
	struct mc_msg *m = v->m;
	char why[128];

	if (m->nbypass == 0)
		return STEP_NEXT;
	if (m->virus_unchecked && step_clamd(v) == STEP_DONE)
		return STEP_DONE;
	if (!v->ops->bypass(v->cf, m, why, sizeof(why))) {
		log_msg(m->qid, LOG_NOTICE, "bypass-rejected reason=%s", why);
		return STEP_NEXT;
	}
	if (strip_forged(v, 1) == -1 || release_rescan(v) == -1 ||
	    tag_subject(v) == -1 || archiver_copy(v) == -1)
		return fail_errno(v, VERDICT_FAIL_MODIFY, errno);
	v->action = VERDICT_BYPASS;
	snprintf(v->extra, sizeof(v->extra), " bypass=%s", why);
	return STEP_DONE;
}

/* What clamd said, as the decision line's virus= says it. */
static enum step_rc
clamd_outcome(struct mc_verdict *v, const struct clamd_verdict *cv)
{
	const struct mc_config *cf = v->cf;

	if (cv->infected > 0) {
		v->infected = 1;
		log_safe(cv->virus, strlen(cv->virus), v->virus,
		    sizeof(v->virus));
		if (cf->virus_action == CONF_VACT_REJECT) {
			verdict_fail(v, VERDICT_FAIL_VIRUS, v->virus);
			return STEP_DONE;
		}
		if (cf->virus_action == CONF_VACT_DISCARD) {
			v->action = VERDICT_DISCARD;
			return STEP_DONE;
		}
		return STEP_NEXT;
	}
	if (cv->failed) {
		log_msg(v->m->qid, LOG_WARNING, "clamd-failed reason=%s",
		    cv->reason);
		if (cf->on_clamd_failure == CONF_FAIL_TEMPFAIL) {
			snprintf(v->virus, sizeof(v->virus), "unchecked(%.170s)",
			    cv->reason);
			verdict_fail(v, VERDICT_FAIL_CLAMD, cv->reason);
			return STEP_DONE;
		}
		snprintf(v->virus, sizeof(v->virus), "unchecked (%.170s)",
		    cv->reason);
		return STEP_NEXT;
	}
	if (cv->oversize)
		snprintf(v->virus, sizeof(v->virus), "unchecked (too large to "
		    "scan)");
	else if (cv->scans > 0)
		snprintf(v->virus, sizeof(v->virus), "clean");
	return STEP_NEXT;
}

/* clamd over the parts that could carry a virus. */
static enum step_rc
step_clamd(struct mc_verdict *v)
{
	struct mc_msg *m = v->m;
	struct clamd_verdict cv;

	if (v->clamd_ran)
		return STEP_NEXT;	/* before a release (step_bypass) */
	v->clamd_ran = 1;
	if (v->cf->virus_arbitron == CONF_VIRUS_CLAMD) {
		memset(&cv, 0, sizeof(cv));
		if (v->ops->clamd(m->scan, v->cf, &cv) == -1)
			m->err = errno ? errno : EIO;
		v->clamd_scans = cv.scans;
		memcpy(v->clamd_server, cv.server, sizeof(v->clamd_server));
		if (clamd_outcome(v, &cv) == STEP_DONE)
			return STEP_DONE;
	}
	if (m->err != 0)
		return fail_errno(v, VERDICT_FAIL_INTERNAL, m->err);
	return STEP_NEXT;
}

/* The Perl filter's part and header changes; -1 with errno. */
static int
perl_actions(struct mc_verdict *v, const struct pp_reply *r, unsigned cnt[4])
{
	struct scan *scan = v->m->scan;
	const struct pp_action *a;
	unsigned i;
	int rc = 0;

	for (i = 0; rc == 0 && i < r->n; i++) {
		a = &r->a[i];
		switch (a->verb) {
		case PP_DROP:
			cnt[0]++;
			rc = scan_add_finding(scan, a->part, SCAN_DELETE,
			    VIRUS_SITE_FILTER, a->value, NULL, NULL, NULL);
			break;
		case PP_RENAME:
			cnt[1]++;
			rc = scan_add_finding(scan, a->part, SCAN_MANGLE,
			    VIRUS_SITE_FILTER, "", a->name, NULL, NULL);
			break;
		case PP_REPLACE:
			cnt[2]++;
			rc = scan_add_finding(scan, a->part, SCAN_REPLACE,
			    VIRUS_SITE_FILTER, "", a->name, a->type, a->path);
			break;
		case PP_HDR_ADD:
			cnt[3]++;
			rc = add_header(v, a->name, a->value);
			break;
		case PP_HDR_CHANGE:
			cnt[3]++;
			rc = edit(v, VERDICT_HDR_CHANGE, a->name, a->index,
			    a->value);
			break;
		case PP_HDR_DELETE:
			cnt[3]++;
			rc = delete_all(v, a->name, pp_msg_count(v->m->perl,
			    a->name), 0);
			break;
		}
	}
	return rc;
}

/*
 * The site's Perl filter (perlpool.c), after the virus check and before
 * the spam check.  Its part changes become findings for the rewriter,
 * its header changes edits; a whole-message verdict ends here.  Any
 * failure of the shim is P-SHIM-FAIL: 451 4.3.0.  ACCEPT vouches for the
 * message: the spam check is skipped.  SPAM is the filter's spam verdict,
 * one more checker for step_spam (a whole-message verdict ends first).
 */
static enum step_rc
step_perl(struct mc_verdict *v)
{
	static const char *const vwords[] = { "none", "accept", "reject",
	    "discard", "tempfail" };
	const struct pp_reply *r;
	char why[256];
	unsigned cnt[4] = { 0, 0, 0, 0 };
	enum step_rc rc = STEP_DONE;
	int fail = 0;

	if (v->m->perl == NULL)
		return STEP_NEXT;
	if (v->ops->perl(v->m, v->cf, v->client, &r, why, sizeof(why)) ==
	    -1) {
		snprintf(v->perl, sizeof(v->perl), " perl=failed");
		verdict_fail(v, VERDICT_FAIL_PERL, why);
		return STEP_DONE;
	}
	switch (r->verdict) {
	case PP_REJECT:
		verdict_fail(v, VERDICT_FAIL_SITE_REJECT, r->text);
		break;
	case PP_DISCARD:
		v->action = VERDICT_DISCARD;
		break;
	case PP_TEMPFAIL:
		verdict_fail(v, VERDICT_FAIL_SITE_TEMPFAIL, r->text);
		break;
	case PP_ACCEPT:
		v->perl_accept = 1;
		/* FALLTHROUGH */
	case PP_NONE:
		rc = STEP_NEXT;
		fail = perl_actions(v, r, cnt) == -1;
		break;
	}
	if (r->spam && r->verdict == PP_NONE) {
		/* a checker like the others: step_spam combines it */
		v->perl_spam.state = SPAM_CHECK_DONE;
		v->perl_spam.is_spam = 1;
		v->perl_spam.score = r->spam_score;
		v->perl_spam.threshold = v->cf->spam_threshold;
		log_safe(r->spam_reason, strlen(r->spam_reason), why,
		    sizeof(why));
		log_msg(v->m->qid, LOG_INFO, "perl-spam score=%.1f reason=%s",
		    r->spam_score, why);
	}
	snprintf(v->perl, sizeof(v->perl), " perl=%s%s(drop:%u,rename:%u,"
	    "replace:%u,headers:%u)", vwords[r->verdict],
	    r->spam && r->verdict == PP_NONE ? "+spam" : "", cnt[0], cnt[1],
	    cnt[2], cnt[3]);
	if (fail)
		return fail_errno(v, VERDICT_FAIL_MODIFY, errno);
	return rc;
}

/*
 * Whether the message is spam for a recipient with threshold= set: a
 * checker that answered says spam for them when its share of its own
 * threshold (score / threshold) is at least t / spam_threshold
 * (mailcorral.conf(5)), and the rule of spam_combine holds as for the
 * message (spam when one of them says so).  A list's verdict, a checker
 * that failed, the site filter's ACCEPT or its spam verdict, or a zero
 * threshold are the same for every recipient.  With spamd_per_user the
 * recipient's own spamd answer stands for the message's.
 */
static int
spam_for(const struct mc_verdict *v, unsigned i, const struct prefs_user *u)
{
	struct spam_verdict sv = v->sv;
	const struct spam_check *k;
	double base = v->cf->spam_threshold;
	unsigned c, asked = 0;

	if (v->rsv != NULL && v->rsv[i].own) {
		/* spamd_per_user: the recipient's own answer */
		sv.check[SPAM_SPAMD].is_spam = v->rsv[i].is_spam;
		sv.check[SPAM_SPAMD].score = v->rsv[i].score;
		sv.check[SPAM_SPAMD].threshold = v->rsv[i].threshold;
		spam_combine(&sv);
	}
	for (c = 0; c < SPAM_NCHECKERS; c++)
		asked += sv.check[c].state != SPAM_CHECK_OFF;
	if (!u->has_threshold || sv.failed || asked == 0 || base <= 0 ||
	    (sv.said & (1u << SPAM_PERL)))
		return sv.is_spam;
	for (c = 0; c < SPAM_NCHECKERS; c++) {
		k = &sv.check[c];
		if (c != SPAM_PERL && k->state == SPAM_CHECK_DONE &&
		    k->threshold > 0 && k->score * base >=
		    u->threshold * k->threshold)
			return 1;
	}
	return 0;
}

/*
 * spamd_per_user = yes: spamd is asked once more for each distinct
 * recipient after the first (whose answer, from spam_decide, is the
 * message's), as that user, with one request built once; at most
 * spamd_max_users users in all, the rest get the message's answer
 * (logged spamd-per-user-cap).  An answer that fails is on_spamd_failure:
 * tempfail, or the message's answer for that recipient (logged).
 * 0, or -1 when the message is to be tempfailed (v failed).
 */
static int
spamd_users(struct mc_verdict *v)
{
	const struct mc_config *cf = v->cf;
	struct mc_msg *m = v->m;
	struct buf req = BUF_INIT;
	struct spamd_result res;
	char err[192], safe[400];
	unsigned i, j, users = 1, capped = 0;
	int rc = 0;

	if (!cf->spamd_per_user || v->sv.failed ||
	    v->sv.check[SPAM_SPAMD].state != SPAM_CHECK_DONE || m->nrcpt < 2)
		return 0;
	if ((v->rsv = calloc(m->nrcpt, sizeof(*v->rsv))) == NULL) {
		fail_errno(v, VERDICT_FAIL_INTERNAL, ENOMEM);
		return -1;
	}
	for (i = 1; i < m->nrcpt; i++) {
		for (j = 0; j < i; j++)
			if (strcasecmp(m->rcpts[j], m->rcpts[i]) == 0)
				break;
		if (j < i) {
			v->rsv[i] = v->rsv[j];
			continue;
		}
		if (users >= (unsigned)cf->spamd_max_users) {
			capped++;
			continue;
		}
		users++;
		if (req.data == NULL && spamd_request(m->scan,
		    cf->spamd_max_size, &req) == -1) {
			snprintf(err, sizeof(err), "spool read failed");
			goto failed;
		}
		if (v->ops->spamd(cf, m->rcpts[i], req.data ? req.data : "",
		    req.len, &res, err, sizeof(err)) == 0) {
			v->rsv[i].own = 1;
			v->rsv[i].is_spam = res.is_spam;
			v->rsv[i].score = res.score;
			v->rsv[i].threshold = res.threshold;
			continue;
		}
failed:
		log_safe(m->rcpts[i], strlen(m->rcpts[i]), safe, sizeof(safe));
		log_msg(m->qid, LOG_WARNING, "spamd-failed rcpt=%s reason=%s",
		    safe, err);
		if (cf->on_spamd_failure == CONF_FAIL_TEMPFAIL) {
			verdict_fail(v, VERDICT_FAIL_SPAMD, err);
			rc = -1;
			break;
		}
	}
	if (capped > 0)
		log_msg(m->qid, LOG_NOTICE, "spamd-per-user-cap asked=%u "
		    "max=%ld unasked=%u", users, cf->spamd_max_users, capped);
	buf_free(&req);
	return rc;
}

static const unsigned char dispo_out[] = {
	[CONF_DISPO_TAG] = VOUT_TAG,
	[CONF_DISPO_TRASH] = VOUT_TRASH,
	[CONF_DISPO_CORRAL] = VOUT_CORRAL,
	[CONF_DISPO_DELIVER] = VOUT_DELIVER,
};

/* Each recipient's outcome, from their own settings or the defaults. */
static int
rcpt_outcomes(struct mc_verdict *v)
{
	const struct mc_config *cf = v->cf;
	struct mc_msg *m = v->m;
	struct prefs_user u;
	unsigned i;
	int d;

	if ((v->rout = calloc(m->nrcpt + 1, 1)) == NULL)
		return -1;
	for (i = 0; i < m->nrcpt; i++) {
		prefs_lookup(cf->prefs, m->rcpts[i], &u);
		d = u.disposition != -1 ? u.disposition : cf->spam_disposition;
		v->rout[i] = spam_for(v, i, &u) ? dispo_out[d] : VOUT_HAM;
	}
	return 0;
}

/* Recipients whose outcome is o (VOUT_COPY ignored). */
static unsigned
count_out(const struct mc_verdict *v, unsigned o)
{
	unsigned i, n = 0;

	for (i = 0; v->rout != NULL && i < v->m->nrcpt; i++)
		n += (v->rout[i] & ~VOUT_COPY) == o;
	return n;
}

/*
 * 1 when a recipient's threshold= is above spam_threshold: spam to the
 * built-in checker may then be ham to them, and spamd's answer may
 * still make it spam for them, so spamd is asked even then.
 */
static int
spamd_for_prefs(const struct mc_verdict *v)
{
	struct prefs_user u;
	unsigned i;

	for (i = 0; v->cf->prefs != NULL && i < v->m->nrcpt; i++) {
		prefs_lookup(v->cf->prefs, v->m->rcpts[i], &u);
		if (u.has_threshold && u.threshold > v->cf->spam_threshold)
			return 1;
	}
	return 0;
}

/*
 * The spam verdict: lists, then the counted checkers with the Perl
 * filter's own verdict, one decision (spam_decide); a failure as
 * configured.
 */
static enum step_rc
step_spam(struct mc_verdict *v)
{
	const struct mc_config *cf = v->cf;
	struct mc_msg *m = v->m;
	struct spam_verdict *sv = &v->sv;
	const char *addrs[1 + MC_MAX_FROM];
	size_t naddr = 0, nown, i;

	if (v->perl_accept) {
		memset(sv, 0, sizeof(*sv));
		snprintf(sv->via, sizeof(sv->via), "site-filter");
		sv->threshold = cf->spam_threshold;
	} else {
		if (m->sender[0] != '\0')
			addrs[naddr++] = m->sender;
		nown = naddr;
		for (i = 0; i < m->nfrom; i++)
			if (m->from[i] != NULL)
				addrs[naddr++] = m->from[i];
		if (cf->list_from_header)
			nown = naddr;
		spam_decide(cf, m->scan, addrs, naddr, nown, v->client,
		    m->nrcpt > 0 ? m->rcpts[0] : NULL,
		    v->perl_spam.state == SPAM_CHECK_DONE ? &v->perl_spam :
		    NULL, spamd_for_prefs(v), sv);
	}
	spam_line(sv, v->spam, sizeof(v->spam));
	if (sv->check[SPAM_SPAMD].state == SPAM_CHECK_FAILED && !sv->failed)
		log_msg(m->qid, LOG_WARNING, "spamd-failed reason=%s "
		    "decided=spam via=%s", sv->reason, sv->via);
	if (sv->failed) {
		log_msg(m->qid, LOG_WARNING, "spamd-failed reason=%s",
		    sv->reason);
		if (cf->on_spamd_failure == CONF_FAIL_TEMPFAIL) {
			verdict_fail(v, VERDICT_FAIL_SPAMD, sv->reason);
			return STEP_DONE;
		}
	}
	if (spamd_users(v) == -1)
		return STEP_DONE;
	if (rcpt_outcomes(v) == -1)
		return fail_errno(v, VERDICT_FAIL_INTERNAL, ENOMEM);
	if (m->nrcpt > 0 && count_out(v, VOUT_TRASH) == m->nrcpt) {
		v->action = VERDICT_DISCARD;
		return STEP_DONE;
	}
	return STEP_NEXT;
}

static int
sink_body(void *arg, const char *p, size_t n)
{
	struct mc_verdict *v = arg;

	if (v->body == NULL && (v->body = spool_new(v->cf->spool_dir,
	    v->cf->spool_memory)) == NULL)
		return -1;
	return spool_write(v->body, p, n);
}

/* The new body, if the findings change it, into v->body. */
static int
rewrite_body(struct mc_verdict *v)
{
	if (v->rewritten)
		return 0;	/* once: a partial corral, then delivery */
	v->rewritten = 1;
	return rw_rewrite(v->m->scan, v->cf, sink_body, v, &v->res);
}

static int
filtered_header(struct mc_verdict *v)
{
	char hdr[256];

	if (!v->res.changed)
		return 0;
	snprintf(hdr, sizeof(hdr), "removed=%u renamed=%u defanged=%u "
	    "(MailCorral %s)", v->res.removed, v->res.renamed,
	    v->res.defanged, MC_VERSION);
	return add_header(v, MC_HDR_FILTERED, hdr);
}

/* One field of a header block being edited; p NULL once deleted. */
struct field {
	const char	*p;
	size_t		 n;
	char		*own;		/* p when we wrote the field */
};

/* The index-th field named name still there, or nf when there is none. */
static size_t
find_field(const struct field *f, size_t nf, const char *name,
    unsigned index)
{
	unsigned seen = 0;
	size_t k;

	for (k = 0; k < nf; k++)
		if (f[k].p != NULL && util_field_is(f[k].p, f[k].n, name) &&
		    ++seen == index)
			break;
	return k;
}

/* Field k becomes "name: value" (value NULL: deleted); 0 or -1. */
static int
set_field(struct field *f, const char *name, const char *value)
{
	free(f->own);
	f->own = NULL;
	f->p = NULL;
	if (value == NULL)
		return 0;
	if (asprintf(&f->own, "%s: %s\r\n", name, value) == -1) {
		f->own = NULL;
		return -1;
	}
	f->p = f->own;
	f->n = strlen(f->own);
	return 0;
}

static int
grow_fields(struct field **f, size_t nf)
{
	struct field *nf_;

	if ((nf_ = realloc(*f, (nf + 1) * sizeof(**f))) == NULL)
		return -1;
	*f = nf_;
	memset(&nf_[nf], 0, sizeof(nf_[nf]));
	return 0;
}

/*
 * Applies the header edits to a header block (fields as received, CRLF),
 * as the MTA does: ADD appends, CHANGE replaces or deletes the index-th
 * field of its name still there (a missing one is added).  Onto out; 0
 * or -1.
 */
static int
edit_block(const char *p, size_t len, const struct verdict_edit *e,
    unsigned ne, struct buf *out)
{
	struct field *f = NULL;
	size_t nf = 0, i, n, k;
	unsigned j;
	int rc = -1;

	for (i = 0; i < len; i += n, nf++) {
		n = util_header_field(p + i, len - i);
		if (grow_fields(&f, nf) == -1)
			goto out;
		f[nf].p = p + i;
		f[nf].n = n;
	}
	for (j = 0; j < ne; j++) {
		if (e[j].op == VERDICT_RCPT_ADD || e[j].op == VERDICT_RCPT_DEL)
			continue;
		k = e[j].op == VERDICT_HDR_CHANGE ?
		    find_field(f, nf, e[j].name, e[j].index) : nf;
		if (k == nf) {
			if (e[j].value == NULL)
				continue;
			if (grow_fields(&f, nf) == -1)
				goto out;
			nf++;
		}
		if (set_field(&f[k], e[j].name, e[j].value) == -1)
			goto out;
	}
	for (k = 0; k < nf; k++)
		if (f[k].p != NULL && buf_add(out, f[k].p, f[k].n) == -1)
			goto out;
	rc = 0;
out:
	for (k = 0; k < nf; k++)
		free(f[k].own);
	free(f);
	return rc;
}

/*
 * Our spam fields of a copy that is spam for its recipients (a
 * recipient's own threshold may say so where the message's does not).
 */
static void
spam_fields_of_spam(const struct mc_verdict *v, char *status, size_t slen,
    char *score, size_t clen)
{
	struct spam_verdict sv = v->sv;

	sv.is_spam = 1;
	spam_fields(&sv, status, slen, score, clen);
}

/*
 * The corralled copy: the header block as received with the same edits
 * the delivered copy would get from the Perl filter and the forged-field
 * and Content-* rules, our spam fields (and X-MailCorral-Spamd when spamd
 * answered for it: spamcorral-robot teaches spamd ham on a release), then
 * the body as filtered.
 */
static int
corral_copy(struct mc_verdict *v, char **rcpts, unsigned nrcpt, char *id,
    char *err, size_t errlen)
{
	struct mc_msg *m = v->m;
	struct spool *sp = scan_spool(m->scan);
	uint64_t end = scan_body_offset(m->scan);
	struct buf raw = BUF_INIT, hdr = BUF_INIT, extra = BUF_INIT;
	struct corral_msg cm;
	char status[256], score[64], bid[CORRAL_ID_LEN + 1];
	int rc = -1;

	spam_fields_of_spam(v, status, sizeof(status), score, sizeof(score));
	if (rewrite_body(v) == -1) {
		snprintf(err, errlen, "rewrite: %s", strerror(errno));
		return -1;
	}
	if (strip_forged(v, 0) == -1 ||
	    (v->res.replace_all && headers_for_text(v) == -1) ||
	    add_header(v, MC_HDR_SPAM_STATUS, status) == -1 ||
	    add_header(v, MC_HDR_SPAM_SCORE, score) == -1 ||
	    (v->sv.spamd_answered &&
	    add_header(v, MC_HDR_SPAMD, "answered") == -1) ||
	    filtered_header(v) == -1 || unchecked_headers(v) == -1 ||
	    (end >= 2 && spool_copy(sp, 0, end - 2, (int (*)(void *,
	    const char *, size_t))buf_add, &raw) == -1) ||
	    edit_block(raw.data, raw.len, v->edits, v->nedits, &hdr) == -1) {
		snprintf(err, errlen, "header copy failed");
		goto out;
	}
	memset(&cm, 0, sizeof(cm));
	cm.qid = m->qid;
	cm.rcpts = rcpts;
	cm.nrcpt = nrcpt;
	cm.headers = hdr.data != NULL ? hdr.data : "";
	cm.hlen = hdr.len;
	cm.body = v->res.changed ? v->body : sp;
	cm.from = v->res.changed ? 0 : end;
	if (bypass_corral_fields(v->cf->key, v->cf->bypass_max_age, &cm,
	    m->date, m->msgid, bid, &extra, err, errlen) == -1)
		goto out;
	cm.extra = extra.data;
	cm.elen = extra.len;
	cm.bid = bid;
	rc = corral_message(v->cf->corral, &cm, id, err, errlen);
out:
	buf_free(&raw);
	buf_free(&hdr);
	buf_free(&extra);
	return rc;
}

/* Drops the edits made after the first n (a corral copy's). */
static void
edits_truncate(struct mc_verdict *v, unsigned n)
{
	for (; v->nedits > n; v->nedits--) {
		free(v->edits[v->nedits - 1].name);
		free(v->edits[v->nedits - 1].value);
	}
}

/*
 * One recipient's full corral must not hold up the others (issue 16
 * item 3): when some of the recipients to corral (c, nc of them) are over
 * corral_max_rcpt_size and some are not, the others are corralled as
 * usual, and those over get the tagged copy instead (their outcome
 * becomes VOUT_TAG; logged corral-over-quota).  0 with the entry's id;
 * -1 with the failure kept when every recipient, or none, is over (the
 * total quota, the disk: 451 as before).
 */
static int
corral_partial(struct mc_verdict *v, unsigned nedits, const unsigned *c,
    unsigned nc, char *id, char *err, size_t errlen)
{
	struct mc_msg *m = v->m;
	const char *sz = strstr(err, " size=");
	unsigned long long size;
	char **fit, safe[400];
	unsigned i, nfit = 0;
	int *over, rc = -1;

	/* the entry's size, as the refusal said it (corral.h) */
	if (sz == NULL || sscanf(sz, " size=%llu", &size) != 1)
		return -1;
	if ((fit = calloc(nc, sizeof(*fit))) == NULL ||
	    (over = calloc(nc, sizeof(*over))) == NULL) {
		free(fit);
		return -1;
	}
	for (i = 0; i < nc; i++) {
		if ((over[i] = corral_rcpt_over_quota(v->cf->corral,
		    m->rcpts[c[i]], size)) == -1)
			goto out;
		if (!over[i])
			fit[nfit++] = m->rcpts[c[i]];
	}
	if (nfit == 0 || nfit == nc)
		goto out;
	edits_truncate(v, nedits);
	rc = corral_copy(v, fit, nfit, id, err, errlen);
	edits_truncate(v, nedits);
	for (i = 0; rc == 0 && i < nc; i++)
		if (over[i]) {
			v->rout[c[i]] = VOUT_TAG;
			log_safe(m->rcpts[c[i]], strlen(m->rcpts[c[i]]), safe,
			    sizeof(safe));
			log_msg(m->qid, LOG_WARNING, "corral-over-quota rcpt=%s "
			    "delivered=tagged corral=%s", safe, id);
		}
	if (rc == 0)
		snprintf(v->extra, sizeof(v->extra), " corral=%s "
		    "over-quota=%u", id, nc - nfit);
out:
	free(fit);
	free(over);
	return rc;
}

/*
 * The recipients to corral share one entry: written, then (unless that
 * was everyone) they leave the transaction with those to trash.  What is
 * left goes on: the copy more of them want stays in the transaction
 * (untagged on a tie), and the others are marked VOUT_COPY for
 * step_deliver to send theirs apart.
 */
static enum step_rc
step_dispose(struct mc_verdict *v)
{
	struct mc_msg *m = v->m;
	char id[CORRAL_ID_LEN + 1], err[256], **r;
	struct buf addr = BUF_INIT;
	unsigned nedits = v->nedits, *c, nc = 0, i, nt, nu, o;
	int rc = 0;

	if (m->nrcpt == 0)
		return STEP_NEXT;	/* nothing to dispose of (the MTA
					   never sends this) */
	if ((nc = count_out(v, VOUT_CORRAL)) > 0) {
		c = calloc(nc, sizeof(*c));
		r = calloc(nc, sizeof(*r));
		if (c == NULL || r == NULL) {
			free(c);
			free(r);
			return fail_errno(v, VERDICT_FAIL_INTERNAL, ENOMEM);
		}
		for (i = 0, nc = 0; i < m->nrcpt; i++)
			if (v->rout[i] == VOUT_CORRAL) {
				c[nc] = i;
				r[nc++] = m->rcpts[i];
			}
		rc = corral_copy(v, r, nc, id, err, sizeof(err));
		free(r);
		if (rc == 0)
			snprintf(v->extra, sizeof(v->extra), " corral=%s", id);
		else if (strncmp(err, "quota rcpt=", 11) != 0 || nc < 2 ||
		    corral_partial(v, nedits, c, nc, id, err,
		    sizeof(err)) == -1) {
			free(c);
			verdict_fail(v, VERDICT_FAIL_CORRAL, err);
			return STEP_DONE;
		}
		rc = 0;
		free(c);
		if (count_out(v, VOUT_CORRAL) == m->nrcpt) {
			v->action = VERDICT_CORRAL;
			return STEP_DONE;
		}
		edits_truncate(v, nedits);	/* the entry's */
	}
	nt = count_out(v, VOUT_TAG);
	nu = count_out(v, VOUT_HAM) + count_out(v, VOUT_DELIVER);
	if (nt + nu == 0) {
		/* corralled or trashed, every one of them */
		v->action = count_out(v, VOUT_CORRAL) > 0 ? VERDICT_CORRAL :
		    VERDICT_DISCARD;
		return STEP_DONE;
	}
	v->tagged = nt > nu;
	for (i = 0; rc == 0 && i < m->nrcpt; i++) {
		o = v->rout[i];
		if (o == VOUT_CORRAL || o == VOUT_TRASH) {
			buf_reset(&addr);
			buf_printf(&addr, "<%s>", m->rcpts[i]);
			rc = addr.data == NULL ? -1 :
			    edit(v, VERDICT_RCPT_DEL, addr.data, 0, NULL);
		} else if (nt > 0 && nu > 0 && (o == VOUT_TAG) != v->tagged) {
			v->rout[i] |= VOUT_COPY;
			v->ncopy++;
		}
	}
	buf_free(&addr);
	if (rc == -1)
		return fail_errno(v, VERDICT_FAIL_MODIFY, errno);
	return STEP_NEXT;
}

/* Unchecked verdicts, said in the message itself. */
static int
unchecked_headers(struct mc_verdict *v)
{
	char hdr[256];

	if (v->m->scan != NULL && scan_views(v->m->scan) > 1 &&
	    add_header(v, MC_HDR_AMBIGUITY, "ambiguous MIME structure; every "
	    "reading was checked") == -1)
		return -1;
	if (v->sv.failed) {
		snprintf(hdr, sizeof(hdr), "unchecked (%s)", v->sv.reason);
		if (add_header(v, MC_HDR_SPAM, hdr) == -1)
			return -1;
	}
	if (strncmp(v->virus, "unchecked", 9) == 0 &&
	    add_header(v, MC_HDR_VIRUS, v->virus) == -1)
		return -1;
	return 0;
}

/* The spam tag: the Subject prefix and our two spam fields. */
static int
add_tag(struct mc_verdict *v)
{
	char status[256], score[64];

	spam_fields_of_spam(v, status, sizeof(status), score, sizeof(score));
	return tag_subject(v) == -1 ||
	    add_header(v, MC_HDR_SPAM_STATUS, status) == -1 ||
	    add_header(v, MC_HDR_SPAM_SCORE, score) == -1 ? -1 : 0;
}

/*
 * The other copy (step_dispose marked its recipients VOUT_COPY): the
 * header block as the transaction's with the tag added or not, the body
 * as delivered, and its keyed field, bound to its recipients; sent
 * through sendmail_path with the envelope sender, and its recipients
 * leave the transaction.  Without a key or if sendmail refuses, the
 * message is tempfailed: nobody gets a copy that is not theirs.
 */
static enum step_rc
send_copy(struct mc_verdict *v)
{
	const struct mc_config *cf = v->cf;
	struct mc_msg *m = v->m;
	struct spool *sp = scan_spool(m->scan);
	uint64_t end = scan_body_offset(m->scan);
	struct spool *body = v->res.changed ? v->body : sp;
	uint64_t from = v->res.changed ? 0 : end;
	const char *date = m->date ? m->date : "", *msgid = m->msgid ?
	    m->msgid : "";
	struct buf raw = BUF_INIT, hdr = BUF_INIT, addr = BUF_INIT;
	char **r, *bound = NULL, id[BYPASS_ID_LEN + 1];
	char mac[BYPASS_HDR_MAX + 1], why[128];
	unsigned char hash[32];
	unsigned nedits = v->nedits, i, n = 0;
	time_t now = time(NULL);
	int st = -1, rc = -1;

	snprintf(why, sizeof(why), "out of memory");
	if ((r = calloc(v->ncopy, sizeof(*r))) == NULL)
		goto out;
	for (i = 0; i < m->nrcpt; i++)
		if (v->rout[i] & VOUT_COPY)
			r[n++] = m->rcpts[i];
	if (cf->key == NULL) {
		snprintf(why, sizeof(why), "no bypass key");
		goto out;
	}
	if ((!v->tagged && add_tag(v) == -1) ||
	    (end >= 2 && spool_copy(sp, 0, end - 2, (int (*)(void *,
	    const char *, size_t))buf_add, &raw) == -1) ||
	    edit_block(raw.data, raw.len, v->edits, v->nedits, &hdr) == -1 ||
	    (bound = variant_bound(r, n)) == NULL)
		goto out;
	edits_truncate(v, nedits);	/* the tag was the copy's */
	if (bypass_hash_spool(body, from, spool_size(body), hash) == -1 ||
	    util_random_hex(id, BYPASS_ID_LEN, 1) == -1 ||
	    bypass_mint_for(cf->key, BYPASS_FOR_VARIANT, bound, id, now,
	    now + cf->bypass_max_age, msgid, strlen(msgid), date,
	    strlen(date), hash, mac, sizeof(mac)) == -1) {
		snprintf(why, sizeof(why), "cannot mint: %s", strerror(errno));
		goto out;
	}
	buf_printf(&hdr, "%s: %s\r\n", MC_HDR_VARIANT, mac);
	if (hdr.data == NULL)
		goto out;
	st = v->ops->remail(cf, m->sender[0] ? m->sender : "<>", r, n,
	    hdr.data, hdr.len, body, from);
	if (st != 0) {
		snprintf(why, sizeof(why), "sendmail exit %d", st);
		goto out;
	}
	rc = 0;
	for (i = 0; rc == 0 && i < n; i++) {
		buf_reset(&addr);
		buf_printf(&addr, "<%s>", r[i]);
		rc = addr.data == NULL ? -1 :
		    edit(v, VERDICT_RCPT_DEL, addr.data, 0, NULL);
	}
	log_msg(m->qid, LOG_INFO, "variant-sent rcpts=%u tagged=%s id=%s", n,
	    v->tagged ? "no" : "yes", id);
out:
	if (rc == -1)
		edits_truncate(v, nedits);
	free(r);
	free(bound);
	buf_free(&raw);
	buf_free(&hdr);
	buf_free(&addr);
	if (rc == -1) {
		verdict_fail(v, VERDICT_FAIL_MODIFY, "variant copy");
		log_msg(m->qid, LOG_WARNING, "variant-failed reason=%s", why);
		return STEP_DONE;
	}
	return STEP_NEXT;
}

/* The message goes on: filtered, marked, tagged when its copy is. */
static enum step_rc
step_deliver(struct mc_verdict *v)
{
	if (strip_forged(v, 0) == -1 || rewrite_body(v) == -1 ||
	    (v->res.replace_all && headers_for_text(v) == -1) ||
	    filtered_header(v) == -1 || unchecked_headers(v) == -1)
		return fail_errno(v, VERDICT_FAIL_MODIFY, errno);
	if (v->ncopy > 0 && send_copy(v) == STEP_DONE)
		return STEP_DONE;
	if (v->tagged) {
		if (add_tag(v) == -1)
			return fail_errno(v, VERDICT_FAIL_MODIFY, errno);
		v->action = VERDICT_TAG;
	}
	if (archiver_copy(v) == -1)
		return fail_errno(v, VERDICT_FAIL_MODIFY, errno);
	return STEP_DONE;
}

/* In this order; the first that decides ends the walk. */
static const struct {
	const char	 *name;
	enum step_rc	(*run)(struct mc_verdict *);
} steps[] = {
	{ "internal", step_internal },
	{ "archive-copy", step_archive_copy },
	{ "variant", step_variant },
	{ "digest", step_digest },
	{ "mime-limit", step_mime_limit },
	{ "archive-begin", step_archive_begin },
	{ "bypass", step_bypass },
	{ "clamd", step_clamd },
	{ "perl", step_perl },
	{ "spam", step_spam },
	{ "dispose", step_dispose },
	{ "deliver", step_deliver },
};

void
verdict_run(struct mc_verdict *v, const struct mc_config *cf,
    struct mc_msg *m, const char *client, const struct verdict_ops *ops)
{
	size_t i;

	*v = (struct mc_verdict){ .cf = cf, .m = m, .client = client,
	    .ops = ops, .action = VERDICT_ACCEPT };
	snprintf(v->virus, sizeof(v->virus), "none");
	snprintf(v->spam, sizeof(v->spam), "none");
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (steps[i].run(v) == STEP_DONE)
			break;
}

/* ---- once the verdict is final ---- */

void
verdict_archive(struct mc_verdict *v)
{
	struct mc_msg *m = v->m;
	struct arc_verdict av;
	size_t off = strlen(" archive=");

	if (m->arc == NULL)
		return;
	if (v->action == VERDICT_TEMPFAIL || v->action == VERDICT_REJECT) {
		arc_abort(m->arc);
		m->arc = NULL;
		return;
	}
	av.action = verdict_action_str(v->action);
	av.spam = v->spam;
	av.virus = v->virus;
	av.size = v->size;
	/* a corralled copy or a used bypass cannot be taken back */
	av.required = v->cf->archive_required &&
	    v->action != VERDICT_DISCARD && v->action != VERDICT_CORRAL &&
	    v->action != VERDICT_BYPASS;
	snprintf(v->arch, sizeof(v->arch), " archive=");
	if (arc_commit(m->arc, &av, v->arch + off, sizeof(v->arch) - off) ==
	    -1) {
		snprintf(v->arch, sizeof(v->arch), " archive=failed");
		if (av.required)
			verdict_fail(v, VERDICT_FAIL_ARCHIVE, "archive-commit");
	}
	m->arc = NULL;
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

/*
 * " rcpts=a:tag,b:corral,c:ham/copy": each recipient's outcome, where
 * recipients may have their own (spam_user_prefs) or the outcomes differ
 * (a corral quota); empty otherwise.  At most RCPT_LOG_MAX are named.
 */
#define RCPT_LOG_MAX	50
static void
rcpt_words(const struct mc_verdict *v, struct buf *b)
{
	static const char *const w[VOUT_N] = { "ham", "deliver", "tag",
	    "corral", "trash" };
	const struct mc_msg *m = v->m;
	char safe[400];
	unsigned i, o;
	int mixed = 0;

	if (v->rout == NULL)
		return;
	for (i = 1; i < m->nrcpt; i++)
		mixed |= v->rout[i] != v->rout[0];
	if (v->cf->prefs == NULL && !mixed)
		return;
	buf_adds(b, " rcpts=");
	for (i = 0; i < m->nrcpt && i < RCPT_LOG_MAX; i++) {
		o = v->rout[i] & ~VOUT_COPY;
		log_safe(m->rcpts[i], strlen(m->rcpts[i]), safe, sizeof(safe));
		buf_printf(b, "%s%s:%s%s", i ? "," : "", safe,
		    o < VOUT_N ? w[o] : "?",
		    v->rout[i] & VOUT_COPY ? "/copy" : "");
	}
	if (m->nrcpt > RCPT_LOG_MAX)
		buf_printf(b, ",+%u", m->nrcpt - RCPT_LOG_MAX);
}

void
verdict_log(const struct mc_verdict *v)
{
	const struct mc_msg *m = v->m;
	struct buf words = BUF_INIT, rw = BUF_INIT;
	char from[256];

	mime_words(v->mime_errs, &words);
	rcpt_words(v, &rw);
	log_safe(m->sender, strlen(m->sender), from, sizeof(from));
	log_msg(m->qid, LOG_INFO, "action=%s changes=removed:%u,renamed:%u,"
	    "defanged:%u%s%s spam=%s virus=%s clamd=%u mime=%s views=%d%s%s%s%s"
	    "%s%s%s from=<%s> nrcpt=%u size=%llu%s",
	    verdict_action_str(v->action), v->res.removed, v->res.renamed,
	    v->res.defanged, v->res.summary.len ? " " : "",
	    v->res.summary.len ? v->res.summary.data : "", v->spam, v->virus,
	    v->clamd_scans, words.data ? words.data : "ok",
	    m->scan ? scan_views(m->scan) : 0,
	    v->sv.spamd_server[0] ? " spamd-server=" : "", v->sv.spamd_server,
	    v->clamd_server[0] ? " clamd-server=" : "", v->clamd_server,
	    v->extra, v->perl, v->arch,
	    from, m->nrcpt, (unsigned long long)v->size,
	    rw.data ? rw.data : "");
	buf_free(&words);
	buf_free(&rw);
}

void
verdict_free(struct mc_verdict *v)
{
	unsigned i;

	for (i = 0; i < v->nedits; i++) {
		free(v->edits[i].name);
		free(v->edits[i].value);
	}
	free(v->edits);
	v->edits = NULL;
	v->nedits = v->capedits = 0;
	spool_free(v->body);
	v->body = NULL;
	free(v->rout);
	v->rout = NULL;
	free(v->rsv);
	v->rsv = NULL;
	rw_result_free(&v->res);
}

/* ---- the real step results ---- */

/* The clamd servers' pool (each one's breaker and load), shared by every
   thread and config. */
static struct pool verdict_clamd_pool = POOL_INIT("clamd");
/* Connections open to clamd, the same: a reload changes only the bound. */
static struct clamd_gate verdict_gate = CLAMD_GATE_INIT;

static int
real_clamd(struct scan *scan, const struct mc_config *cf,
    struct clamd_verdict *cv)
{
	pool_set(&verdict_clamd_pool, cf->clamd.max_failures,
	    cf->clamd.backoff);
	return clamd_check_message(scan, &cf->clamd, &verdict_clamd_pool,
	    &verdict_gate, cv);
}

static int
real_perl(struct mc_msg *m, const struct mc_config *cf, const char *client,
    const struct pp_reply **r, char *why, size_t whylen)
{
	pp_msg_relay(m->perl, m->relay);
	if (pp_msg_run(m->perl, cf, m->scan, m->qid, m->sender, m->rcpts,
	    m->nrcpt, client, why, whylen) == -1)
		return -1;
	*r = pp_msg_reply(m->perl);
	return 0;
}

static int
real_bypass(const struct mc_config *cf, struct mc_msg *m, char *why,
    size_t whylen)
{
	struct bypass_msg bm;

	bm.header = m->bypass;
	bm.nheaders = m->nbypass;
	bm.rcpt = m->nrcpt > 0 ? m->rcpts[0] : NULL;
	bm.nrcpt = m->nrcpt;
	bm.mailer = m->mailer;
	bm.mailaddr = m->mailaddr;
	bm.daemon = m->daemon;
	bm.date = m->date;
	bm.msgid = m->msgid;
	bm.bodyhash = verdict_msg_bodyhash(m);
	return bypass_ok(cf, &bm, why, whylen);
}

struct remail_arg {
	const char	*hdr;
	size_t		 hlen;
	struct spool	*body;
	uint64_t	 from;
	int		 fd;
};

static int
remail_put(void *arg, const char *p, size_t n)
{
	return util_write_all(((struct remail_arg *)arg)->fd, p, n);
}

static int
remail_write(void *arg, int fd)
{
	struct remail_arg *a = arg;

	a->fd = fd;
	if (util_write_all(fd, a->hdr, a->hlen) == -1 ||
	    util_write_all(fd, "\r\n", 2) == -1)
		return -1;
	return spool_copy(a->body, a->from, spool_size(a->body), remail_put,
	    a);
}

static int
real_remail(const struct mc_config *cf, const char *sender,
    char *const *rcpts, unsigned nrcpt, const char *hdr, size_t hlen,
    struct spool *body, uint64_t from)
{
	struct remail_arg a = { hdr, hlen, body, from, -1 };

	return util_sendmail(cf->sendmail_path, sender, rcpts, nrcpt,
	    remail_write, &a);
}

static int
real_spamd(const struct mc_config *cf, const char *user, const char *req,
    size_t len, struct spamd_result *res, char *err, size_t errlen)
{
	return spamd_check(&cf->spamd, user, req, len, res, err, errlen);
}

const struct verdict_ops verdict_real_ops = {
	real_clamd, real_perl, real_bypass, real_remail, real_spamd
};
