/*
 * spamcorral-notify -- the SpamCorral digest (seed 5.2), run by cron as
 * the owner of the corral:
 *
 *   spamcorral-notify [-v] [-c FILE] [--dry-run] [--user NAME] [--resend]
 *
 * 1. expires entries older than corral_expire_days (seed 5.3 rule: links
 *    and recipient files at once, a base file when no link points to it),
 *    stale notified.* and learned.* markers and old used.* and issued.*
 *    markers;
 * 2. sends each local recipient (local_domains) ONE digest of the
 *    entries not reported yet (marker notified.<id>.<safe rcpt>), lowest
 *    score first; each identifier's token covers the entry's content as
 *    read here (spamcorral.h), so the robot releases only what was listed.
 *    The digest (issue 22) is multipart/alternative: a text part and an
 *    HTML part (digest.c), a mailto: link per entry and "release all",
 *    worded by digest_template (checked at start), and it carries its
 *    own keyed field X-MailCorral-Digest (bypass.h BYPASS_FOR_DIGEST,
 *    bound to the recipient), so the filter delivers it untagged.
 * See doc/corral.md and spamcorral-notify(8).
 *
 * Ownership: the entries read from the corral live for one run.
 * Exit: 0; EX_TEMPFAIL when a digest could not be sent (the next run
 * sends it, its entries are not marked notified); EX_USAGE, EX_CONFIG,
 * EX_OSERR when it cannot start.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "bypass.h"
#include "conf.h"
#include "confsnap.h"
#include "corral.h"
#include "log.h"
#include "smfopts.h"
#include "spamcorral/spamcorral.h"
#include "util.h"

#include "banned.h"

#define HDR_READ_MAX	(256 * 1024)
/*
 * No line of a digest is longer than LINE_CHARS characters (RELIABILITY
 * SC-R8): the spam's From and Subject are shown after an 11-character
 * label ("  Subject: ", a translated one at most SC_LABEL_MAX characters)
 * and cut to VALUE_CHARS characters plus "...".
 */
#define LINE_CHARS	200
#define LABEL_CHARS	(2 + SC_LABEL_MAX + 2)	/* "  " label ": " */
#define VALUE_CHARS	(LINE_CHARS - LABEL_CHARS - 3)
#define VALUE_BYTES	(VALUE_CHARS * 4 + 16)	/* UTF-8, "...", NUL */
#define PCT_MAX		1e6		/* larger scores are shown as "?" */

struct entry {
	char	 name[CORRAL_NAME_MAX + 1];
	char	 safe[CORRAL_RCPT_MAX + 1];
	char	 id[CORRAL_ID_LEN + 1];
	char	 from[VALUE_BYTES];
	char	 subject[VALUE_BYTES];
	char	 score[32];
	char	 ident[SC_IDENT_MAX + 1];	/* MC-<id>-<token> */
	char	 when[32];
	double	 pct;
	int	 builtin;	/* the built-in score: spamd was not asked */
	time_t	 mtime;
	unsigned char hash[SC_HASH_LEN];	/* SHA-256 of the content */
	int	 ok;		/* read and listed */
};

static struct corral *cr;
static int dfd;
static unsigned char key[32];
static struct bypass_key *bkey;
static const struct mc_config *cf;
static int dry_run, resend;
static char robot_addr[SC_ADDR_MAX + 1], robot_local[SC_ADDR_MAX + 1];
static struct sc_domains doms;
static struct sc_template tmpl;		/* digest_template */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->safe, y->safe);

	if (c != 0)
		return c;
	if (x->pct != y->pct)
		return x->pct < y->pct ? -1 : 1;
	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* ---- expiry ---- */

static void
expire(char **names, size_t n, time_t now)
{
	time_t ulimit = now - (cf->bypass_max_age +
	    (time_t)cf->corral_expire_days * 86400 + 86400);
	char rcpt[CORRAL_RCPT_MAX + 1], id[CORRAL_ID_LEN + 1];
	char ent[CORRAL_NAME_MAX + 1];
	struct stat st;
	size_t i;
	int pass;

	/* pass 0: recipient files and links; pass 1: base files */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < n; i++) {
			if (names[i] == NULL || corral_parse_name(names[i],
			    rcpt, sizeof(rcpt), id, sizeof(id)) == -1)
				continue;
			if ((rcpt[0] == '\0') != (pass == 1))
				continue;
			if (sc_entry_expired(dfd, names[i],
			    cf->corral_expire_days, now) != 1)
				continue;
			if (corral_remove_entry(cr, names[i]) == -1) {
				if (errno != EBUSY && errno != ENOENT)
					log_warn("expire %s", names[i]);
				continue;
			}
			log_info("expired %s", names[i]);
			free(names[i]);
			names[i] = NULL;
		}
	/* markers */
	for (i = 0; i < n; i++) {
		const char *nm = names[i], *dot;

		if (nm == NULL)
			continue;
		if (strncmp(nm, SC_MARK_NOTIFIED, strlen(SC_MARK_NOTIFIED))
		    == 0) {
			nm += strlen(SC_MARK_NOTIFIED);
			if ((dot = strchr(nm, '.')) == NULL ||
			    dot - nm != CORRAL_ID_LEN)
				continue;
			if (snprintf(ent, sizeof(ent), "spam_to_%s_%.*s",
			    dot + 1, CORRAL_ID_LEN, nm) >= (int)sizeof(ent))
				continue;
			if (fstatat(dfd, ent, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
			    errno == ENOENT)
				unlinkat(dfd, names[i], 0);
		} else if (strncmp(nm, SC_MARK_LEARNED,
		    strlen(SC_MARK_LEARNED)) == 0) {
			/* the robot's learned.<id>: goes with the base file */
			nm += strlen(SC_MARK_LEARNED);
			if (strlen(nm) != CORRAL_ID_LEN ||
			    snprintf(ent, sizeof(ent), "spam_to__%s", nm) >=
			    (int)sizeof(ent))
				continue;
			if (fstatat(dfd, ent, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
			    errno == ENOENT)
				unlinkat(dfd, names[i], 0);
		} else if (strncmp(nm, CORRAL_MARK_USED,
		    strlen(CORRAL_MARK_USED)) == 0 || strncmp(nm,
		    CORRAL_MARK_ISSUED, strlen(CORRAL_MARK_ISSUED)) == 0) {
			/* outlive every header they were made for */
			if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode) && st.st_mtime < ulimit)
				unlinkat(dfd, nm, 0);
		}
	}
}

/* ---- reading an entry ---- */

struct hdrs {
	struct entry	*e;
	int		 have_from, have_subj, have_score;
	char		 status[256];
};

static void
on_field(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct hdrs *h = arg;
	struct entry *e = h->e;

	if (sc_field_is(n, nl, "From") && !h->have_from) {
		sc_clean_text(v, vl, e->from, sizeof(e->from), VALUE_CHARS);
		sc_break_idents(e->from);	/* no look-alike identifiers */
		h->have_from = 1;
	} else if (sc_field_is(n, nl, "Subject") && !h->have_subj) {
		sc_clean_text(v, vl, e->subject, sizeof(e->subject),
		    VALUE_CHARS);
		sc_break_idents(e->subject);
		h->have_subj = 1;
	} else if (sc_field_is(n, nl, MC_HDR_SPAM_SCORE) && !h->have_score) {
		/* "8.1 (162%)" */
		const char *p = memchr(v, '(', vl);

		h->have_score = 1;
		/* spam_fields(): "12.0 (240%) builtin, spamd not asked" */
		e->builtin = memmem(v, vl, "spamd not asked", 15) != NULL;
		if (p != NULL) {
			char num[32];
			size_t k = 0;

			p++;
			while (p < v + vl && k + 1 < sizeof(num) &&
			    ((*p >= '0' && *p <= '9') || *p == '.' ||
			    *p == '-'))
				num[k++] = *p++;
			num[k] = '\0';
			if (k > 0 && p < v + vl && *p == '%') {
				e->pct = strtod(num, NULL);
				h->have_score = 2;
			}
		}
	} else if (sc_field_is(n, nl, MC_HDR_SPAM_STATUS) &&
	    h->status[0] == '\0') {
		size_t k = vl < sizeof(h->status) - 1 ? vl :
		    sizeof(h->status) - 1;

		memcpy(h->status, v, k);
		h->status[k] = '\0';
	}
}

static int
read_entry(struct entry *e)
{
	struct hdrs h;
	struct stat st;
	struct buf b = BUF_INIT;
	int fd, rc;

	if (corral_open_entry(cr, e->name, &fd, &st) == -1) {
		log_warn("skipping %s", e->name);
		return -1;
	}
	/* all of it is hashed (the token covers the content, SC-C6); the
	   header block is what the digest shows */
	rc = sc_read_hash(fd, &b, HDR_READ_MAX, SC_ENTRY_MAX, e->hash);
	close(fd);
	if (rc == -1) {
		log_warn("skipping %s", e->name);
		buf_free(&b);
		return -1;
	}
	memset(&h, 0, sizeof(h));
	h.e = e;
	e->pct = -1;
	if (b.data != NULL)
		sc_headers(b.data, b.len, on_field, &h);
	buf_free(&b);
	if (h.have_score != 2 && h.status[0] != '\0') {
		/* X-Spam-Status: Yes, score=8.1 required=5.0 ... */
		const char *s = strstr(h.status, "score="),
		    *r = strstr(h.status, "required=");

		if (s != NULL && r != NULL) {
			double sc = strtod(s + 6, NULL),
			    rq = strtod(r + 9, NULL);

			if (rq > 0)
				e->pct = sc / rq * 100.0;
		}
	}
	/* a hand-made entry may say anything: "nan", "inf", 1e300 */
	if (e->pct >= 0 && e->pct < PCT_MAX)
		snprintf(e->score, sizeof(e->score), "%.0f%%", e->pct);
	else {
		snprintf(e->score, sizeof(e->score), "?");
		e->pct = 1e9;
	}
	if (!h.have_from || e->from[0] == '\0')
		snprintf(e->from, sizeof(e->from), "(no sender)");
	if (!h.have_subj || e->subject[0] == '\0')
		snprintf(e->subject, sizeof(e->subject), "(no subject)");
	e->mtime = st.st_mtime;
	e->ok = 1;
	return 0;
}

/* ---- the digest ---- */

/*
 * The digest's text and HTML parts into body (after the multipart
 * header's boundary b): what is held, how to release it, and one
 * [MC-<id>-<token>] entry per message, a mailto: link each.  0, or -1.
 */
static int
digest_body(const char *rcpt, struct entry *es, size_t n, const char *b,
    const char *title, struct buf *body)
{
	struct sc_digest_entry *de;
	struct sc_digest d;
	struct buf html = BUF_INIT;
	char tok[SC_TOKEN_HEX + 1];
	struct tm tm;
	size_t i;
	int rc = -1;

	if ((de = calloc(n, sizeof(*de))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		struct entry *e = &es[i];

		if (sc_token(key, e->name, e->safe, e->hash, tok) == -1)
			goto out;
		snprintf(e->ident, sizeof(e->ident), "MC-%s-%s", e->id, tok);
		localtime_r(&e->mtime, &tm);
		strftime(e->when, sizeof(e->when), "%Y-%m-%d %H:%M", &tm);
		de[i].ident = e->ident;
		de[i].from = e->from;
		de[i].subject = e->subject;
		de[i].when = e->when;
		de[i].score = e->score;
		de[i].pct = e->pct < PCT_MAX ? e->pct : -1;
		de[i].builtin = e->builtin;
	}
	memset(&d, 0, sizeof(d));
	d.t = &tmpl;
	d.rcpt = rcpt;
	d.robot = robot_addr;
	d.days = cf->corral_expire_days;
	d.line_max = LINE_CHARS + 1;
	d.e = de;
	d.n = n;
	buf_printf(body, "This is a multi-part message in MIME format.\n"
	    "\n--%s\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\n", b);
	if (sc_digest_text(&d, body) == -1 ||
	    sc_digest_html(&d, title, &html) == -1)
		goto out;
	buf_printf(body, "\n--%s\nContent-Type: text/html; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n\n", b);
	sc_base64_lines(body, html.data, html.len);
	buf_printf(body, "\n--%s--\n", b);
	rc = body->data == NULL ? -1 : 0;
out:
	buf_free(&html);
	free(de);
	return rc;
}

/* The digest's Subject (the count only: SC-R8), as text. */
static void
digest_subject(size_t n, struct buf *out)
{
	char cnt[32];
	struct sc_var v = { "count", cnt };

	snprintf(cnt, sizeof(cnt), "%zu", n);
	sc_template_put(&tmpl, n == 1 ? SC_T_SUBJECT_ONE : SC_T_SUBJECT, &v,
	    1, out);
}

/* The digest's header into msg.  0, or -1 (no random id). */
static int
digest_head(const char *rcpt, const char *subject, const char *mid,
    const char *b, struct buf *msg)
{
	char date[64];
	const char *dom = strrchr(robot_addr, '@');

	sc_rfc5322_date(time(NULL), date, sizeof(date));
	buf_printf(msg,
	    "From: SpamCorral <%s>\n"
	    "Reply-To: %s\n"
	    "To: <%s>\n"
	    "Subject: ", robot_addr, robot_addr, rcpt);
	sc_header_text(msg, subject);
	buf_printf(msg, "\n"
	    "Date: %s\n"
	    "Message-ID: <%s.digest@%s>\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/alternative; boundary=\"%s\"\n"
	    "Auto-Submitted: auto-generated\n"
	    "X-Auto-Response-Suppress: All\n"
	    "Precedence: bulk\n"
	    "%s: digest\n"
	    "\n", date, mid, dom ? dom + 1 : "spamcorral.invalid", b,
	    SC_DIGEST_HDR);
	return 0;
}

/* Sent: a notified marker per entry, so the next digest skips it. */
static void
mark_notified(const struct entry *es, size_t n)
{
	char mark[CORRAL_NAME_MAX + 64];
	size_t i;

	for (i = 0; i < n; i++) {
		if (sc_notified_name(es[i].id, es[i].safe, mark,
		    sizeof(mark)) == -1)
			continue;
		if (corral_marker_make(dfd, mark, NULL, 0) == -1)
			log_warn("marker %s", mark);
	}
}

/*
 * The whole digest into final, with its own keyed field (issue 22):
 * X-MailCorral-Digest, minted for this recipient with the bypass key
 * (bypass.h, BYPASS_FOR_DIGEST), so the filter delivers it untouched and
 * no other mail can pass as a digest.  0, or -1 (logged).
 */
static int
digest_make(const char *rcpt, struct entry *es, size_t n, struct buf *final)
{
	struct buf msg = BUF_INIT, subj = BUF_INIT;
	char err[256], mid[17], b[40];
	int rc = -1;

	if (util_random_hex(mid, 16, 1) == -1) {
		log_warnx("digest to %s not sent: random id: %s", rcpt,
		    strerror(errno));
		return -1;
	}
	snprintf(b, sizeof(b), "=_mc_digest_%s", mid);
	digest_subject(n, &subj);
	if (subj.data == NULL || digest_head(rcpt, subj.data, mid, b,
	    &msg) == -1 || digest_body(rcpt, es, n, b, subj.data, &msg) == -1 ||
	    msg.data == NULL) {
		log_warnx("digest for %s: out of memory", rcpt);
		goto out;
	}
	if (sc_rekey(bkey, BYPASS_FOR_DIGEST, rcpt, MC_HDR_DIGEST,
	    cf->bypass_max_age, msg.data, msg.len, final, NULL, err,
	    sizeof(err)) == -1) {
		log_warnx("digest for %s: %s", rcpt, err);
		goto out;
	}
	rc = 0;
out:
	buf_free(&subj);
	buf_free(&msg);
	return rc;
}

static int
send_digest(const char *rcpt, struct entry *es, size_t n)
{
	struct buf final = BUF_INIT;
	int rc;

	if (digest_make(rcpt, es, n, &final) == -1) {
		buf_free(&final);
		return -1;
	}
	if (dry_run) {
		printf("==== digest for %s (%zu entries)\n", rcpt, n);
		fwrite(final.data, 1, final.len, stdout);
		printf("\n");
		rc = 0;
	} else {
		rc = sc_sendmail(cf->sendmail_path, robot_local, rcpt,
		    final.data, final.len);
		if (rc != 0) {
			log_warnx("digest for %s: %s exited %d", rcpt,
			    cf->sendmail_path, rc);
			buf_free(&final);
			return -1;
		}
		log_info("digest sent to %s: %zu entries", rcpt, n);
		mark_notified(es, n);
	}
	buf_free(&final);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: spamcorral-notify [-v] [-c file] [--dry-run] "
	    "[--user name] [--resend]\n");
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "user", required_argument, NULL, 'u' },
		{ "resend", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conffile = DEF_CONFIG_FILE, *user = NULL;
	char err[512], rcpt[SC_ADDR_MAX + 1], usafe[CORRAL_RCPT_MAX + 1];
	char mark[CORRAL_NAME_MAX + 64];
	char **names = NULL;
	struct entry *es = NULL;
	struct mc_config *c;
	struct dirent *de;
	struct stat st;
	size_t nnames = 0, cap = 0, nes = 0, i, j;
	int ch, verbose = 0, fd, failed = 0, sent = 0;
	DIR *d;

	while ((ch = getopt_long(argc, argv, "c:vh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conffile = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'u':
			user = optarg;
			break;
		case 'r':
			resend = 1;
			break;
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
	umask(077);
	if (conf_load(conffile, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "spamcorral-notify: %s\n", err);
		return EX_CONFIG;
	}
	cf = c;
	log_init("spamcorral-notify", log_facility(cf->log_facility) == -1 ?
	    LOG_MAIL : log_facility(cf->log_facility), verbose || dry_run);
	if (!sc_addr_ok(cf->spamcorral_address)) {
		log_warnx("bad spamcorral_address");
		return EX_CONFIG;
	}
	snprintf(robot_addr, sizeof(robot_addr), "%s",
	    cf->spamcorral_address);
	sc_local_part(robot_addr, robot_local, sizeof(robot_local));
	if (sc_domains_load(cf->local_domains, robot_addr, &doms, err,
	    sizeof(err)) == -1) {
		log_warnx("%s", err);
		return EX_CONFIG;
	}
	/* a broken translation stops here, not in a user's mailbox */
	if (sc_template_load(cf->digest_template, &tmpl, err,
	    sizeof(err)) == -1) {
		log_warnx("digest_template: %s", err);
		if (!verbose && !dry_run)
			fprintf(stderr, "spamcorral-notify: digest_template: "
			    "%s\n", err);
		return EX_CONFIG;
	}
	if ((cr = corral_open(cf->corral_dir, err, sizeof(err))) == NULL) {
		log_warnx("corral %s: %s", cf->corral_dir, err);
		return EX_CONFIG;
	}
	dfd = corral_dirfd(cr);
	/* the daemon's parser: a key it accepts is accepted here */
	if ((bkey = bypass_key_load(cf->bypass_key_file, 0, err,
	    sizeof(err))) == NULL) {
		log_warnx("bypass_key_file: %s", err);
		if (!verbose && !dry_run)	/* not only in syslog */
			fprintf(stderr, "spamcorral-notify: bypass_key_file: "
			    "%s\n", err);
		return EX_CONFIG;
	}
	bypass_key_bytes(bkey, key);
	if (user != NULL && corral_safe_rcpt(user, usafe, sizeof(usafe)) ==
	    -1) {
		log_warnx("bad --user");
		return EX_USAGE;
	}
	/* one notifier/robot at a time on this corral */
	if (flock(dfd, LOCK_EX) == -1)
		log_warn("flock %s", cf->corral_dir);

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1
	    || (d = fdopendir(fd)) == NULL) {
		log_warn("%s", cf->corral_dir);
		return EX_OSERR;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, "tmp.", 4) == 0)
			continue;
		if (nnames == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			if ((nn = reallocarray(names, cap, sizeof(*nn))) ==
			    NULL) {
				log_warn("out of memory");
				return EX_OSERR;
			}
			names = nn;
		}
		if ((names[nnames] = strdup(de->d_name)) == NULL) {
			log_warn("out of memory");
			return EX_OSERR;
		}
		nnames++;
	}
	closedir(d);
	if (nnames > 0)
		qsort(names, nnames, sizeof(*names), name_cmp);
	if (!dry_run)
		expire(names, nnames, time(NULL));

	if ((es = calloc(nnames ? nnames : 1, sizeof(*es))) == NULL) {
		log_warn("out of memory");
		return EX_OSERR;
	}
	for (i = 0; i < nnames; i++) {
		struct entry *e = &es[nes];

		if (names[i] == NULL || corral_parse_name(names[i], e->safe,
		    sizeof(e->safe), e->id, sizeof(e->id)) == -1 ||
		    e->safe[0] == '\0')
			continue;	/* base files are never reported */
		if (user != NULL && strcmp(e->safe, usafe) != 0) {
			char local[SC_ADDR_MAX + 1];

			/* --user jblow matches jblow@any.domain too */
			if (strchr(user, '@') != NULL || corral_unescape(e->safe,
			    rcpt, sizeof(rcpt)) != 0)
				continue;
			sc_local_part(rcpt, local, sizeof(local));
			if (strcmp(local, user) != 0)
				continue;
		}
		snprintf(e->name, sizeof(e->name), "%s", names[i]);
		if (!resend && sc_notified_name(e->id, e->safe, mark,
		    sizeof(mark)) == 0 && fstatat(dfd, mark, &st,
		    AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (read_entry(e) == -1)
			continue;
		nes++;
	}
	if (nes > 0)
		qsort(es, nes, sizeof(*es), entry_cmp);
	for (i = 0; i < nes; i = j) {
		for (j = i + 1; j < nes && strcmp(es[j].safe, es[i].safe) == 0;
		    j++)
			;
		if (corral_unescape(es[i].safe, rcpt, sizeof(rcpt)) != 0) {
			log_warnx("recipient %s cannot be recovered from the "
			    "file name; not notified", es[i].safe);
			continue;
		}
		if (!sc_addr_ok(rcpt)) {
			log_warnx("recipient %s refused", es[i].safe);
			continue;
		}
		/* no digests outside the local domains: no backscatter to
		   forged or relayed recipients (SC-R9) */
		if (!sc_domains_match(&doms, rcpt)) {
			char lr[512];

			log_safe(rcpt, strlen(rcpt), lr, sizeof(lr));
			log_info("digest-skipped rcpt=%s entries=%zu "
			    "reason=not-local", lr, j - i);
			/* from cron or the timer: the owner's mail, the
			   journal (-v and --dry-run log to stderr already) */
			if (!verbose && !dry_run)
				fprintf(stderr, "spamcorral-notify: no digest "
				    "for %s (%zu entries): not in local_domains"
				    "\n", lr, j - i);
			continue;
		}
		if (send_digest(rcpt, es + i, j - i) == -1)
			failed++;
		else
			sent++;
	}
	if (verbose)
		log_info("%d digest(s) sent, %d failed", sent, failed);
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(es);
	sc_domains_free(&doms);
	sc_template_free(&tmpl);
	OPENSSL_cleanse(key, sizeof(key));
	bypass_key_free(bkey);
	corral_close(cr);
	conf_free(c);
	return failed ? EX_TEMPFAIL : 0;
}
