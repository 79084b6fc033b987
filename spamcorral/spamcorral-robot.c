/*
 * spamcorral-robot -- the SpamCorral reply robot (seed 5.2), run from a
 * sendmail alias as the owner of the corral:
 *
 *   spamcorral: :include:/etc/mailcorral/robot.alias
 *   (robot.alias: "|/usr/sbin/spamcorral-robot -c /etc/mailcorral/mailcorral.conf")
 *
 * Reads ONE reply to a digest on stdin, finds the [MC-<id>-<token>]
 * identifiers the user kept (in any text part, decoded, HTML stripped),
 * verifies each token for the replier, remails the corral entry to its
 * recipient as a local sender (so the filter honours its bypass header)
 * and deletes what seed 5.3 allows.  Auto-replies and loops (RFC 3834)
 * are ignored.  See doc/corral.md and spamcorral-robot(8).
 *
 * Exit: 0 (done, or ignored: see the log), EX_TEMPFAIL when sendmail or
 * the corral failed (sendmail retries; what was released is gone, so a
 * retry releases only the rest), EX_CONFIG.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "bypass.h"
#include "conf.h"
#include "corral.h"
#include "log.h"
#include "mime.h"
#include "smfopts.h"
#include "spamcorral/spamcorral.h"

#include "banned.h"

#define REPLY_MAX	(1024 * 1024)	/* bytes of a reply read */
#define TEXT_MAX	(2 * 1024 * 1024) /* decoded text searched */
#define TOKENS_MAX	500		/* identifiers looked at */
#define RELEASE_MAX	50		/* releases per reply */
#define ENTRY_MAX	(64 * 1024 * 1024)

struct ident {
	char	id[CORRAL_ID_LEN + 1];
	char	tok[SC_TOKEN_HEX + 1];
};

struct reply {
	char	 from[SC_ADDR_MAX + 1];
	int	 have_from, nfrom;
	char	 autosub[64], prec[64];
	int	 list_id, digest;
	/* decoded text of the current part and of all parts */
	struct buf part, text;
	int	 html;
};

static void
on_header(void *arg, const struct mime_part *p, const char *n, size_t nl,
    const char *v, size_t vl)
{
	struct reply *r = arg;
	size_t k;

	if (p->id != 0)
		return;
	if (sc_field_is(n, nl, "From")) {
		r->nfrom++;
		if (!r->have_from && sc_addr_extract(v, vl, r->from,
		    sizeof(r->from)) == 0)
			r->have_from = 1;
	} else if (sc_field_is(n, nl, "Auto-Submitted") &&
	    r->autosub[0] == '\0') {
		k = vl < sizeof(r->autosub) - 1 ? vl : sizeof(r->autosub) - 1;
		memcpy(r->autosub, v, k);
		r->autosub[k] = '\0';
		if (k == 0)
			snprintf(r->autosub, sizeof(r->autosub), "(empty)");
	} else if (sc_field_is(n, nl, "Precedence") && r->prec[0] == '\0') {
		k = vl < sizeof(r->prec) - 1 ? vl : sizeof(r->prec) - 1;
		memcpy(r->prec, v, k);
		r->prec[k] = '\0';
	} else if (sc_field_is(n, nl, "List-Id"))
		r->list_id = 1;
	else if (sc_field_is(n, nl, SC_DIGEST_HDR))
		r->digest = 1;
}

static void
on_begin(void *arg, const struct mime_part *p)
{
	struct reply *r = arg;

	buf_reset(&r->part);
	r->html = strcmp(p->type, "text/html") == 0;
}

static void
on_data(void *arg, const struct mime_part *p, const char *d, size_t n)
{
	struct reply *r = arg;

	if (strncmp(p->type, "text/", 5) != 0 || (p->flags &
	    (MIME_PART_MULTIPART | MIME_PART_MESSAGE)))
		return;
	if (r->part.len + n <= TEXT_MAX)
		buf_add(&r->part, d, n);
}

/* Appends part text to r->text; HTML tags (and comments) are dropped. */
static void
on_end(void *arg, const struct mime_part *p)
{
	struct reply *r = arg;
	size_t i;
	int intag = 0;

	if (r->part.data == NULL || r->part.len == 0)
		return;
	if (r->text.len + r->part.len > TEXT_MAX)
		return;
	if (!r->html)
		buf_add(&r->text, r->part.data, r->part.len);
	else
		for (i = 0; i < r->part.len; i++) {
			char c = r->part.data[i];

			if (c == '<')
				intag = 1;
			else if (c == '>' && intag)
				intag = 0;
			else if (!intag)
				buf_addc(&r->text, c);
		}
	buf_addc(&r->text, '\n');
	buf_reset(&r->part);
}

static int
ishex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* Finds "MC-<16 hex>-<32 hex>" (case-insensitive), deduplicated. */
static size_t
find_idents(const char *t, size_t len, struct ident *out, size_t max)
{
	size_t i, k, n = 0, j;
	const size_t need = 3 + CORRAL_ID_LEN + 1 + SC_TOKEN_HEX;

	for (i = 0; i + need <= len && n < max; i++) {
		const char *p = t + i;

		if ((p[0] != 'M' && p[0] != 'm') || (p[1] != 'C' &&
		    p[1] != 'c') || p[2] != '-')
			continue;
		if (i > 0 && isalnum((unsigned char)t[i - 1]))
			continue;
		for (k = 0; k < CORRAL_ID_LEN && ishex(p[3 + k]); k++)
			;
		if (k != CORRAL_ID_LEN || p[3 + k] != '-')
			continue;
		for (k = 0; k < SC_TOKEN_HEX && ishex(p[4 + CORRAL_ID_LEN + k]);
		    k++)
			;
		if (k != SC_TOKEN_HEX || (i + need < len &&
		    isalnum((unsigned char)p[need])))
			continue;
		for (k = 0; k < CORRAL_ID_LEN; k++)
			out[n].id[k] = (char)toupper((unsigned char)p[3 + k]);
		out[n].id[k] = '\0';
		for (k = 0; k < SC_TOKEN_HEX; k++)
			out[n].tok[k] = (char)tolower((unsigned char)
			    p[4 + CORRAL_ID_LEN + k]);
		out[n].tok[k] = '\0';
		for (j = 0; j < n; j++)
			if (strcmp(out[j].id, out[n].id) == 0 &&
			    strcmp(out[j].tok, out[n].tok) == 0)
				break;
		if (j == n)
			n++;
		i += need - 1;
	}
	return n;
}

static int
is_local_ignored(const char *addr)
{
	char lp[SC_ADDR_MAX + 1];

	sc_local_part(addr, lp, sizeof(lp));
	return strcasecmp(lp, "MAILER-DAEMON") == 0 ||
	    strcasecmp(lp, "postmaster") == 0 ||
	    strncasecmp(lp, "owner-", 6) == 0 ||
	    (strlen(lp) > 8 && strcasecmp(lp + strlen(lp) - 8, "-request")
	    == 0);
}

/* Is the bypass header of this entry still usable as it is? */
static int
bypass_fresh(int dfd, const char *m, size_t len)
{
	const char *h = NULL, *p, *e;
	char id[CORRAL_ID_LEN + 1], used[64];
	size_t n = strlen(SPAMHDRBYPASS), i = 0;
	struct stat st;
	long long x;

	/* find the field in the header block */
	while (i < len) {
		if ((m[i] == '\r' && i + 1 < len && m[i + 1] == '\n') ||
		    m[i] == '\n')
			break;		/* empty line */
		if (len - i > n && strncasecmp(m + i, SPAMHDRBYPASS, n) == 0 &&
		    m[i + n] == ':')
			h = m + i + n + 1;
		while (i < len && m[i] != '\n')
			i++;
		i++;
	}
	if (h == NULL)
		return 0;
	e = memchr(h, '\n', (size_t)(m + len - h));
	if (e == NULL)
		return 0;
	if ((p = memmem(h, (size_t)(e - h), "i=", 2)) == NULL ||
	    e - p < 2 + CORRAL_ID_LEN)
		return 0;
	memcpy(id, p + 2, CORRAL_ID_LEN);
	id[CORRAL_ID_LEN] = '\0';
	for (i = 0; i < CORRAL_ID_LEN; i++)
		if (!ishex(id[i]))
			return 0;
	snprintf(used, sizeof(used), "used.%s", id);
	if (fstatat(dfd, used, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return 0;	/* already used once: the filter refuses it */
	if ((p = memmem(h, (size_t)(e - h), "x=", 2)) == NULL)
		return 0;
	x = strtoll(p + 2, NULL, 10);
	return x > (long long)time(NULL) + 600;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: spamcorral-robot [-v] [-c file] [-L logfile]\n");
}

int
main(int argc, char **argv)
{
	static const struct mime_cb cb = { on_begin, on_data, on_end,
	    on_header };
	const char *conffile = DEF_CONFIG_FILE, *logfile = NULL;
	char err[512], sender[SC_ADDR_MAX + 1], safe[CORRAL_RCPT_MAX + 1];
	char robot_addr[SC_ADDR_MAX + 1], robot_local[SC_ADDR_MAX + 1];
	char name[CORRAL_NAME_MAX + 1], rcpt[SC_ADDR_MAX + 1];
	char tok[SC_TOKEN_HEX + 1], mark[CORRAL_NAME_MAX + 64], date[64];
	char lsafe[512], mid[17];
	unsigned char key[32];
	struct buf in = BUF_INIT, note = BUF_INIT, conf_msg = BUF_INIT;
	struct ident *ids = NULL;
	struct reply r;
	struct mc_config *cf;
	struct bypass_key *bkey = NULL;
	struct corral *cr = NULL;
	struct mime *mp;
	size_t start = 0, nids, i, nrel = 0, ngone = 0, nbad = 0;
	int ch, verbose = 0, fd, dfd, tempfail = 0, rc = 0;
	char tmp[65536];
	ssize_t n;

	while ((ch = getopt(argc, argv, "c:L:vh")) != -1) {
		switch (ch) {
		case 'c':
			conffile = optarg;
			break;
		case 'L':
			logfile = optarg;
			break;
		case 'v':
			verbose = 1;
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
	if (logfile != NULL) {
		fd = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd != -1) {
			dup2(fd, STDERR_FILENO);
			close(fd);
			verbose = 1;
		}
	}
	memset(&r, 0, sizeof(r));
	memset(key, 0, sizeof(key));
	if (conf_load(conffile, &cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "spamcorral-robot: %s\n", err);
		return EX_CONFIG;
	}
	log_init("spamcorral-robot", log_facility(cf->log_facility) == -1 ?
	    LOG_MAIL : log_facility(cf->log_facility), verbose);

	/* the reply (at most 1 MiB; the rest is read and dropped) */
	for (;;) {
		n = read(STDIN_FILENO, tmp, sizeof(tmp));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (in.len < REPLY_MAX)
			buf_add(&in, tmp, in.len + (size_t)n > REPLY_MAX ?
			    REPLY_MAX - in.len : (size_t)n);
	}
	if (in.data == NULL) {
		log_warnx("ignored: empty input");
		rc = 0;
		goto out;
	}
	snprintf(robot_addr, sizeof(robot_addr), "%s", cf->spamcorral_address);
	sc_local_part(robot_addr, robot_local, sizeof(robot_local));

	/* the envelope sender: the "From " line sendmail's prog mailer
	   writes first, else Return-Path */
	sender[0] = '\0';
	if (in.len > 5 && memcmp(in.data, "From ", 5) == 0) {
		size_t k = 5, o = 0;

		while (k < in.len && in.data[k] != ' ' && in.data[k] != '\n' &&
		    in.data[k] != '\r' && o + 1 < sizeof(sender))
			sender[o++] = in.data[k++];
		sender[o] = '\0';
		while (k < in.len && in.data[k] != '\n')
			k++;
		start = k < in.len ? k + 1 : k;
		if (o == 0)
			snprintf(sender, sizeof(sender), "<>");
	}

	memset(&r, 0, sizeof(r));
	buf_init(&r.part, 0);
	buf_init(&r.text, 0);
	if ((mp = mime_new(&cf->limits, MIME_VIEW_FIRST, &cb, &r)) == NULL ||
	    mime_push(mp, in.data + start, in.len - start) == -1 ||
	    mime_finish(mp) == -1) {
		log_warnx("out of memory");
		rc = EX_TEMPFAIL;
		goto out;
	}
	mime_free(mp);
	if (sender[0] == '\0') {
		/* no From_ line: a Return-Path header (first one) */
		struct { char *v; } rp = { NULL };
		size_t k = 0;
		const char *m = in.data + start;
		size_t ml = in.len - start;

		while (k < ml) {
			if (m[k] == '\n' || (m[k] == '\r' && k + 1 < ml &&
			    m[k + 1] == '\n'))
				break;
			if (ml - k > 12 && strncasecmp(m + k, "Return-Path:",
			    12) == 0) {
				const char *e = memchr(m + k, '\n', ml - k);

				rp.v = (char *)(m + k + 12);
				if (e == NULL || sc_addr_extract(rp.v,
				    (size_t)(e - rp.v), sender,
				    sizeof(sender)) == -1) {
					if (e != NULL && memchr(rp.v, '<',
					    (size_t)(e - rp.v)) != NULL)
						snprintf(sender, sizeof(sender),
						    "<>");
				}
				break;
			}
			while (k < ml && m[k] != '\n')
				k++;
			k++;
		}
		if (sender[0] == '\0') {
			log_warnx("ignored: no envelope sender (no From_ line "
			    "and no Return-Path)");
			rc = 0;
			goto out;
		}
	}
	log_safe(sender, strlen(sender), lsafe, sizeof(lsafe));

	/* RFC 3834 and loops */
	if (strcmp(sender, "<>") == 0 || is_local_ignored(sender)) {
		log_info("ignored: sender=%s reason=null-or-daemon-sender",
		    lsafe);
		rc = 0;
		goto out;
	}
	if (r.autosub[0] != '\0' && strncasecmp(r.autosub, "no", 2) != 0) {
		log_info("ignored: sender=%s reason=auto-submitted", lsafe);
		rc = 0;
		goto out;
	}
	if (strncasecmp(r.prec, "bulk", 4) == 0 ||
	    strncasecmp(r.prec, "junk", 4) == 0 ||
	    strncasecmp(r.prec, "list", 4) == 0) {
		log_info("ignored: sender=%s reason=precedence", lsafe);
		rc = 0;
		goto out;
	}
	if (r.list_id) {
		log_info("ignored: sender=%s reason=list-id", lsafe);
		rc = 0;
		goto out;
	}
	if (r.digest) {
		log_info("ignored: sender=%s reason=own-digest", lsafe);
		rc = 0;
		goto out;
	}
	if (sc_addr_eq(sender, robot_addr) || (strchr(robot_addr, '@') ==
	    NULL && strcasecmp(robot_local, sender) == 0)) {
		log_info("ignored: sender=%s reason=own-address", lsafe);
		rc = 0;
		goto out;
	}
	if (!sc_addr_ok(sender) || strchr(sender, '@') == NULL) {
		log_info("release-denied sender=%s reason=bad-sender", lsafe);
		rc = 0;
		goto out;
	}
	if (!r.have_from || r.nfrom != 1 || !sc_addr_eq(sender, r.from)) {
		char lf[400];

		log_safe(r.from, strlen(r.from), lf, sizeof(lf));
		log_info("release-denied sender=%s from=%s reason=from-mismatch",
		    lsafe, lf);
		rc = 0;
		goto out;
	}

	if ((ids = calloc(TOKENS_MAX, sizeof(*ids))) == NULL) {
		log_warnx("out of memory");
		rc = EX_TEMPFAIL;
		goto out;
	}
	nids = r.text.data ? find_idents(r.text.data, r.text.len, ids,
	    TOKENS_MAX) : 0;
	buf_free(&r.part);
	buf_free(&r.text);
	if (nids == 0) {
		log_info("release-denied sender=%s reason=no-token", lsafe);
		rc = 0;
		goto out;
	}

	if ((cr = corral_open(cf->corral_dir, err, sizeof(err))) == NULL) {
		log_warnx("corral %s: %s", cf->corral_dir, err);
		rc = EX_TEMPFAIL;
		goto out;
	}
	dfd = corral_dirfd(cr);
	if ((bkey = bypass_key_load(cf->bypass_key_file, 0, err,
	    sizeof(err))) == NULL || sc_key_raw(cf->bypass_key_file, key, err,
	    sizeof(err)) == -1) {
		log_warnx("bypass_key_file: %s", err);
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (corral_safe_rcpt(sender, safe, sizeof(safe)) == -1) {
		log_info("release-denied sender=%s reason=bad-sender", lsafe);
		rc = 0;
		goto out;
	}
	/* the released mail goes to the recipient named by the entry */
	if (corral_unescape(safe, rcpt, sizeof(rcpt)) != 0)
		snprintf(rcpt, sizeof(rcpt), "%s", sender);
	if (!sc_addr_ok(rcpt)) {
		log_info("release-denied sender=%s reason=bad-recipient",
		    lsafe);
		rc = 0;
		goto out;
	}
	if (flock(dfd, LOCK_EX) == -1)
		log_warn("flock %s", cf->corral_dir);

	buf_printf(&note, "SpamCorral has processed your request.\n\n");
	for (i = 0; i < nids; i++) {
		struct ident *id = &ids[i];
		struct buf msg = BUF_INIT, fresh = BUF_INIT;
		const struct buf *send;
		int sent;

		if (snprintf(name, sizeof(name), "spam_to_%s_%s", safe,
		    id->id) >= (int)sizeof(name) ||
		    sc_token(key, name, safe, tok) == -1 ||
		    CRYPTO_memcmp(tok, id->tok, SC_TOKEN_HEX) != 0) {
			nbad++;
			log_info("release-denied sender=%s id=%s "
			    "reason=bad-token", lsafe, id->id);
			continue;
		}
		if (nrel >= RELEASE_MAX) {
			log_info("release-capped sender=%s id=%s max=%d",
			    lsafe, id->id, RELEASE_MAX);
			buf_printf(&note, "  not released (limit of %d per "
			    "reply; reply again): MC-%s\n", RELEASE_MAX,
			    id->id);
			continue;
		}
		if (corral_open_entry(cr, name, &fd, NULL) == -1) {
			if (errno == ENOENT) {
				ngone++;
				log_info("release-none sender=%s id=%s "
				    "reason=gone", lsafe, id->id);
				buf_printf(&note, "  already released or "
				    "expired: MC-%s\n", id->id);
			} else {
				log_warn("release-refused sender=%s entry=%s",
				    lsafe, name);
				buf_printf(&note, "  could not be released: "
				    "MC-%s\n", id->id);
			}
			continue;
		}
		sent = sc_read_fd(fd, &msg, ENTRY_MAX);
		close(fd);
		if (sent == -1) {
			log_warn("read %s", name);
			buf_free(&msg);
			tempfail = 1;
			break;
		}
		send = &msg;
		if (!bypass_fresh(dfd, msg.data, msg.len)) {
			if (sc_rebypass(bkey, cf->bypass_max_age, msg.data,
			    msg.len, &fresh, err, sizeof(err)) == -1)
				log_warnx("%s: %s (sent as stored)", name,
				    err);
			else {
				send = &fresh;
				log_info("%s: bypass header renewed", name);
			}
		}
		sent = sc_sendmail(cf->sendmail_path, robot_local, rcpt,
		    send->data, send->len);
		buf_free(&msg);
		buf_free(&fresh);
		if (sent != 0) {
			log_warnx("release-failed entry=%s: %s exited %d",
			    name, cf->sendmail_path, sent);
			tempfail = 1;
			break;
		}
		nrel++;
		if (corral_remove_entry(cr, name) == -1)
			log_warn("remove %s", name);
		snprintf(mark, sizeof(mark), "%s%s.%s", SC_MARK_NOTIFIED,
		    id->id, safe);
		unlinkat(dfd, mark, 0);
		log_info("released sender=%s entry=%s to=%s", lsafe, name,
		    lsafe);
		buf_printf(&note, "  released (delivered to you): MC-%s\n",
		    id->id);
	}
	flock(dfd, LOCK_UN);
	log_info("reply sender=%s identifiers=%zu released=%zu gone=%zu "
	    "bad=%zu", lsafe, nids, nrel, ngone, nbad);

	/* a short confirmation, only for a reply that held a valid token */
	if (!tempfail && (nrel > 0 || ngone > 0) && note.data != NULL) {
		sc_random_hex(mid);
		sc_rfc5322_date(time(NULL), date, sizeof(date));
		buf_printf(&conf_msg,
		    "From: SpamCorral <%s>\n"
		    "To: <%s>\n"
		    "Subject: SpamCorral: %zu message%s released\n"
		    "Date: %s\n"
		    "Message-ID: <%s.reply@%s>\n"
		    "MIME-Version: 1.0\n"
		    "Content-Type: text/plain; charset=us-ascii\n"
		    "Auto-Submitted: auto-replied\n"
		    "X-Auto-Response-Suppress: All\n"
		    "Precedence: bulk\n"
		    "%s: confirmation\n"
		    "\n%s", robot_addr, sender, nrel, nrel == 1 ? "" : "s",
		    date, mid, strrchr(robot_addr, '@') ?
		    strrchr(robot_addr, '@') + 1 : "spamcorral.invalid",
		    SC_DIGEST_HDR, note.data);
		if (conf_msg.data != NULL && sc_sendmail(cf->sendmail_path,
		    "<>", sender, conf_msg.data, conf_msg.len) != 0)
			log_warnx("confirmation to %s not sent", lsafe);
	}
	rc = tempfail ? EX_TEMPFAIL : 0;
out:
	/* One way out, so a sanitizer build's leak check stays quiet: a
	   robot exiting non-zero makes sendmail bounce the reply. */
	buf_free(&r.part);
	buf_free(&r.text);
	buf_free(&note);
	buf_free(&conf_msg);
	buf_free(&in);
	free(ids);
	OPENSSL_cleanse(key, sizeof(key));
	bypass_key_free(bkey);
	corral_close(cr);
	conf_free(cf);
	return rc;
}
