/*
 * spamcorral-robot -- the SpamCorral reply robot (seed 5.2), run from a
 * sendmail alias as the owner of the corral:
 *
 *   spamcorral: :include:/etc/mailcorral/robot.alias
 *   (robot.alias: "|/usr/sbin/spamcorral-robot -c /etc/mailcorral/mailcorral.conf")
 *
 * Reads ONE reply to a digest on stdin, finds the [MC-<id>-<token>]
 * identifiers the user kept (reply.c: the Subject and any text part,
 * decoded, HTML stripped: an edited reply, or the mail a digest's mailto:
 * link composes, issue 22), verifies each token for the replier and for
 * the content of the entry as read now (SC-C6), remails exactly those
 * bytes to the entry's recipient as a local sender (so the filter honours
 * its bypass header) and deletes what seed 5.3 allows.  Auto-replies and loops
 * (RFC 3834) are ignored; only local senders (local_domains) are heard.
 * Per sender (state.c, under the corral's flock): robot_max_failures bad
 * tokens within robot_failure_window block the sender for that long
 * (SC-R4), and the robot answers at most once per robot_reply_interval
 * (SC-R6).  Only a bad token for an entry of that recipient counts (an
 * identifier naming none is only counted in the reply line), and a block
 * never stops a valid identifier: in a blocked sender's reply the bad
 * ones are passed over unlogged, the valid ones released, so neither a
 * forged sender nor spam text copied into a digest can lock a user out of
 * their releases (issue 16).  A released entry that spamd judged
 * (X-MailCorral-Spamd) is taught to spamd as ham (TELL, robot_learn_ham),
 * once per entry; a failure to teach is logged and never holds up the
 * release (issue 18 item 4).  See doc/corral.md and spamcorral-robot(8).
 *
 * Exit: 0 (done, or ignored: see the log), EX_TEMPFAIL when sendmail, the
 * corral or the state file failed (sendmail retries; what was released is
 * gone, so a retry releases only the rest), EX_CONFIG.
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
#include "confsnap.h"
#include "corral.h"
#include "log.h"
#include "mime.h"
#include "smfopts.h"
#include "spamd.h"
#include "spamcorral/spamcorral.h"
#include "util.h"

#include "banned.h"

#define REPLY_MAX	(1024 * 1024)	/* bytes of a reply read */

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

/* The value of "; <tag>" in a bypass header value h..e, or NULL. */
static const char *
bypass_field(const char *h, const char *e, const char *tag)
{
	const char *p;
	size_t n = strlen(tag);

	if ((p = memmem(h, (size_t)(e - h), tag, n)) == NULL)
		return NULL;
	return p + n;
}

/*
 * The entry's stored bypass header: its id into id ("" when there is
 * none), and 1 when it can be sent as it is to rcpt: made with key (after
 * a rotation the filter may have dropped the old one), not used for rcpt
 * yet (the filter honours a header once per recipient: marker
 * used.<id>.<rcpt>), not expiring within ten minutes.
 */
static int
bypass_fresh(int dfd, const struct bypass_key *key, const char *rcpt,
    const char *m, size_t len, char id[CORRAL_ID_LEN + 1])
{
	const char *h = NULL, *p, *e, *kid = bypass_key_kid(key);
	char used[CORRAL_NAME_MAX + 64];
	size_t n = strlen(SPAMHDRBYPASS), i = 0;
	struct stat st;
	long long x;

	id[0] = '\0';
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
	if (h == NULL || (e = memchr(h, '\n', (size_t)(m + len - h))) ==
	    NULL)
		return 0;
	if ((p = bypass_field(h, e, "; i=")) == NULL ||
	    e - p < CORRAL_ID_LEN)
		return 0;
	for (i = 0; i < CORRAL_ID_LEN; i++)
		if (!util_isxupper(p[i]))
			return 0;
	memcpy(id, p, CORRAL_ID_LEN);
	id[CORRAL_ID_LEN] = '\0';
	if ((p = bypass_field(h, e, "; k=")) == NULL ||
	    e - p < BYPASS_KID_LEN + 1 ||
	    strncmp(p, kid, BYPASS_KID_LEN) != 0 || p[BYPASS_KID_LEN] != ';')
		return 0;	/* an older key's header */
	if (corral_marker_name(CORRAL_MARK_USED, id, rcpt, used,
	    sizeof(used)) == -1)
		return 0;
	if (fstatat(dfd, used, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return 0;	/* already used once: the filter refuses it */
	if ((p = bypass_field(h, e, "; x=")) == NULL)
		return 0;
	x = strtoll(p, NULL, 10);
	return x > (long long)time(NULL) + 600;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: spamcorral-robot [-v] [-c file] [-L logfile]\n");
}

/* What one run works with; freed in one place (main's out:). */
struct run {
	struct mc_config	*cf;
	struct sc_limits	 lim;
	struct sc_domains	 doms;
	struct sc_reply		 r;
	struct sc_ident		*ids;
	size_t			 nids;
	struct corral		*cr;
	int			 dfd;
	struct bypass_key	*bkey;
	unsigned char		 key[32];
	struct sc_state		*st;
	int			 dirty;		/* st changed: save it */
	char			 skey[CORRAL_RCPT_MAX + 1];
	char			 sender[SC_ADDR_MAX + 1];
	char			 lsafe[512];	/* sender, for the log */
	char			 safe[CORRAL_RCPT_MAX + 1];
	char			 rcpt[SC_ADDR_MAX + 1];
	char			 robot_addr[SC_ADDR_MAX + 1];
	char			 robot_local[SC_ADDR_MAX + 1];
	struct buf		 note;		/* the answer's text */
	size_t			 nrel, ngone, nbad, nold, nchanged, nexp;
	size_t			 nunknown;	/* naming no entry of theirs */
	int			 blocked;	/* bad tokens: no longer looked at */
	int			 tempfail;
	int			 learn;		/* robot_learn_ham in effect */
	int			 learn_failed;	/* spamd failed once: no more */
};

/* Why this reply gets no attention at all (loops, RFC 3834), or NULL. */
static const char *
ignore_reason(struct run *u)
{
	const char *why;

	if (strcmp(u->sender, "<>") == 0 || is_local_ignored(u->sender))
		return "null-or-daemon-sender";
	if ((why = sc_reply_loop(&u->r)) != NULL)
		return why;
	if (sc_addr_eq(u->sender, u->robot_addr) ||
	    (strchr(u->robot_addr, '@') == NULL &&
	    strcasecmp(u->robot_local, u->sender) == 0))
		return "own-address";
	return NULL;
}

/*
 * A bad token.  It counts towards the sender's limit only when it names
 * an entry of this recipient (random or copied look-alikes do not), and
 * never stops the reply: its valid identifiers are still released.
 */
static void
count_failure(struct run *u, const char *name, const char *id)
{
	struct stat st;

	u->nbad++;
	if (u->blocked)
		return;		/* logged once; valid ones still go */
	if (fstatat(u->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		u->nunknown++;
		return;
	}
	log_info("release-denied sender=%s id=%s reason=bad-token",
	    u->lsafe, id);
	u->dirty = 1;
	if (sc_state_fail(u->st, u->skey, 1, time(NULL), &u->lim) == 1) {
		u->blocked = 1;
		log_info("release-denied sender=%s reason=rate-limited "
		    "failures=%zu window=%lds: bad identifiers ignored for "
		    "%lds", u->lsafe, u->nbad - u->nunknown,
		    u->lim.failure_window, u->lim.failure_window);
	}
}

/*
 * What is remailed: the entry as stored when its bypass header is still
 * good for this recipient, else the same with a new header.  The header
 * sent is issued for the recipient first (marker issued.<id>.<rcpt>): the
 * filter honours it for them only (SC-B5), also when the entry's own
 * marker is missing.  NULL when the marker cannot be written (temporary).
 */
static const struct buf *
release_copy(struct run *u, const char *name, const struct buf *msg,
    struct buf *fresh)
{
	char id[CORRAL_ID_LEN + 1], note[CORRAL_NAME_MAX + 16], err[256];
	const struct buf *send = msg;

	if (!bypass_fresh(u->dfd, u->bkey, u->rcpt, msg->data, msg->len,
	    id)) {
		if (sc_rebypass(u->bkey, u->cf->bypass_max_age, msg->data,
		    msg->len, fresh, id, err, sizeof(err)) == -1)
			log_warnx("%s: %s (sent as stored)", name, err);
		else {
			send = fresh;
			log_info("%s: bypass header renewed", name);
		}
	}
	if (id[0] == '\0')
		return send;	/* no header: the filter filters it */
	snprintf(note, sizeof(note), "release %s\n", name);
	if (corral_marker_issue(u->dfd, id, u->rcpt, note, 0) == -1) {
		log_warn("release-failed entry=%s: bypass marker", name);
		return NULL;
	}
	return send;
}

/* Removes the recipient's marker notified.<id>: a digest may list it again. */
static void
forget_notified(const struct run *u, const char *id)
{
	char mark[CORRAL_NAME_MAX + 64];

	if (sc_notified_name(id, u->safe, mark, sizeof(mark)) == 0)
		unlinkat(u->dfd, mark, 0);
}

/* Past corral_expire_days: removed, never remailed (SC-R13). */
static void
deny_expired(struct run *u, const char *name, const struct sc_ident *id)
{
	u->nexp++;
	log_info("release-denied sender=%s entry=%s reason=expired",
	    u->lsafe, name);
	if (corral_remove_entry(u->cr, name) == -1 && errno != ENOENT)
		log_warn("remove %s", name);
	forget_notified(u, id->id);
	buf_printf(&u->note, "  expired (held for more than %ld days), "
	    "not released: MC-%s\n", u->cf->corral_expire_days,
	    id->id);
}

/* The entry could not be opened: gone (released or expired), or refused. */
static void
note_unopened(struct run *u, const char *name, const struct sc_ident *id)
{
	if (errno == ENOENT) {
		u->ngone++;
		log_info("release-none sender=%s id=%s reason=gone",
		    u->lsafe, id->id);
		buf_printf(&u->note, "  already released or expired: "
		    "MC-%s\n", id->id);
	} else {
		log_warn("release-refused sender=%s entry=%s",
		    u->lsafe, name);
		buf_printf(&u->note, "  could not be released: MC-%s\n",
		    id->id);
	}
}

/*
 * The token does not match the bytes read (t from sc_token_check): an
 * older digest's entry is listed again, a changed one is refused.  0, or -1
 * when the check itself failed.
 */
static int
deny_content(struct run *u, const char *name, const struct sc_ident *id,
    enum sc_tok t)
{
	if (t == SC_TOK_ERR) {
		log_warnx("token check failed");
		return -1;
	}
	if (t == SC_TOK_OLD) {
		/* a digest of an older version: list it again */
		u->nold++;
		log_info("release-denied sender=%s id=%s "
		    "reason=old-digest", u->lsafe, id->id);
		forget_notified(u, id->id);
		buf_printf(&u->note, "  from an older digest; it will be "
		    "listed again in your next digest: MC-%s\n",
		    id->id);
	} else {
		u->nchanged++;
		log_info("release-denied sender=%s entry=%s "
		    "reason=content-changed", u->lsafe, name);
		buf_printf(&u->note, "  not released (it changed after "
		    "the digest was made): MC-%s\n", id->id);
	}
	return 0;
}

/*
 * After a release: teaches spamd the entry as ham (TELL, robot_learn_ham)
 * when spamd answered for it (X-MailCorral-Spamd), once per entry: while
 * other recipients' links to the same base file remain, the marker
 * learned.<id> says it was taught; it goes with the last link.  A failure
 * is logged and never undoes or holds up the release: the first one in a
 * run stops teaching for the rest of the run, so a dead spamd costs one
 * deadline per reply, not one per release.
 */
static void
learn_ham(struct run *u, const char *name, const char *eid,
    const struct buf *msg)
{
	char mark[CORRAL_NAME_MAX + 1], base[CORRAL_NAME_MAX + 1], err[256];
	char note[CORRAL_NAME_MAX + 32];
	struct spamd_tell_result t;
	struct stat st;
	long long t0;
	int shared;

	if (!u->learn || !sc_spamd_answered(msg->data, msg->len))
		return;
	if (sc_learned_name(eid, mark, sizeof(mark)) == -1 ||
	    snprintf(base, sizeof(base), "spam_to__%s", eid) >=
	    (int)sizeof(base))
		return;
	/* other recipients' links still point at the base file */
	shared = fstatat(u->dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (fstatat(u->dfd, mark, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		log_info("learn-skipped entry=%s reason=already-taught", name);
		if (!shared && unlinkat(u->dfd, mark, 0) == -1)
			log_warn("remove %s", mark);
		return;
	}
	if (u->learn_failed) {
		log_warnx("learn-failed entry=%s reason=spamd failed earlier "
		    "in this run", name);
		return;
	}
	t0 = util_now_ms();
	if (spamd_tell(&u->cf->spamd, u->rcpt, 0, msg->data, msg->len, &t,
	    err, sizeof(err)) == -1) {
		u->learn_failed = 1;
		log_warnx("learn-failed entry=%s ms=%lld reason=%s", name,
		    util_now_ms() - t0, err);
		return;
	}
	log_info("learned-ham entry=%s server=%s ms=%lld result=%s", name,
	    t.server, util_now_ms() - t0, t.learned ? "learned" :
	    "not-learned");
	snprintf(note, sizeof(note), "ham %s\n", name);
	if (shared && corral_marker_make(u->dfd, mark, note, 1) == -1)
		log_warn("learned-ham entry=%s: marker %s", name, mark);
}

/*
 * One identifier.  Returns 0 to go on, -1 to stop with a temporary
 * failure.
 */
static int
release_one(struct run *u, const struct sc_ident *id)
{
	char name[CORRAL_NAME_MAX + 1];
	unsigned char hash[SC_HASH_LEN];
	struct buf msg = BUF_INIT, fresh = BUF_INIT;
	const struct buf *send;
	enum sc_tok t;
	int fd, sent;

	if (snprintf(name, sizeof(name), "spam_to_%s_%s", u->safe, id->id) >=
	    (int)sizeof(name))
		t = SC_TOK_BAD;
	else
		t = sc_token_check(u->key, name, u->safe, NULL, id->tok);
	if (t == SC_TOK_ERR) {
		log_warnx("token check failed");
		return -1;
	}
	if (t != SC_TOK_OK) {
		count_failure(u, name, id->id);
		return 0;
	}
	if (u->nrel >= SC_RELEASE_MAX) {
		log_info("release-capped sender=%s id=%s max=%d", u->lsafe,
		    id->id, SC_RELEASE_MAX);
		buf_printf(&u->note, "  not released (limit of %d per reply; "
		    "reply again): MC-%s\n", SC_RELEASE_MAX, id->id);
		return 0;
	}
	/* past corral_expire_days it is expired, whether or not the
	   notifier has deleted it yet: nothing is remailed (SC-R13) */
	if (sc_entry_expired(u->dfd, name, u->cf->corral_expire_days,
	    time(NULL)) == 1) {
		deny_expired(u, name, id);
		return 0;
	}
	if (corral_open_entry(u->cr, name, &fd, NULL) == -1) {
		note_unopened(u, name, id);
		return 0;
	}
	/* the bytes read here are the bytes hashed, checked and sent */
	sent = sc_read_hash(fd, &msg, SC_ENTRY_MAX, SC_ENTRY_MAX, hash);
	close(fd);
	if (sent == -1) {
		log_warn("read %s", name);
		buf_free(&msg);
		if (errno != ERANGE)
			return -1;
		buf_printf(&u->note, "  could not be released (too large): "
		    "MC-%s\n", id->id);
		return 0;
	}
	t = sc_token_check(u->key, name, u->safe, hash, id->tok);
	if (t != SC_TOK_OK) {
		buf_free(&msg);
		return deny_content(u, name, id, t);
	}
	if ((send = release_copy(u, name, &msg, &fresh)) == NULL) {
		buf_free(&msg);
		buf_free(&fresh);
		return -1;
	}
	sent = sc_sendmail(u->cf->sendmail_path, u->robot_local, u->rcpt,
	    send->data, send->len);
	buf_free(&fresh);
	if (sent != 0) {
		buf_free(&msg);
		log_warnx("release-failed entry=%s: %s exited %d", name,
		    u->cf->sendmail_path, sent);
		return -1;
	}
	u->nrel++;
	if (corral_remove_entry(u->cr, name) == -1)
		log_warn("remove %s", name);
	forget_notified(u, id->id);
	log_info("released sender=%s entry=%s to=%s", u->lsafe, name,
	    u->lsafe);
	buf_printf(&u->note, "  released (delivered to you): MC-%s\n", id->id);
	learn_ham(u, name, id->id, &msg);
	buf_free(&msg);
	return 0;
}

/* The short answer to a reply that held a valid identifier. */
static void
send_answer(struct run *u)
{
	struct buf m = BUF_INIT;
	char date[64], mid[17], every[96] = "";
	long iv = u->lim.reply_interval;

	if (iv >= 3600 && iv % 3600 == 0)
		snprintf(every, sizeof(every), "\n(SpamCorral answers at most "
		    "once in %ld hour%s.)\n", iv / 3600, iv == 3600 ? "" : "s");
	else if (iv > 0)
		snprintf(every, sizeof(every), "\n(SpamCorral answers at most "
		    "once in %ld minute%s.)\n", (iv + 59) / 60,
		    iv <= 60 ? "" : "s");
	if (util_random_hex(mid, 16, 1) == -1) {
		log_warnx("confirmation to %s not sent: random id: %s",
		    u->lsafe, strerror(errno));
		return;
	}
	sc_rfc5322_date(time(NULL), date, sizeof(date));
	buf_printf(&m,
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
	    "\n"
	    "SpamCorral has processed your request.\n\n%s%s",
	    u->robot_addr, u->sender, u->nrel, u->nrel == 1 ? "" : "s", date,
	    mid, strrchr(u->robot_addr, '@') ?
	    strrchr(u->robot_addr, '@') + 1 : "spamcorral.invalid",
	    SC_DIGEST_HDR, u->note.data, every);
	if (m.data == NULL || sc_sendmail(u->cf->sendmail_path, "<>",
	    u->sender, m.data, m.len) != 0)
		log_warnx("confirmation to %s not sent", u->lsafe);
	buf_free(&m);
}

int
main(int argc, char **argv)
{
	const char *conffile = DEF_CONFIG_FILE, *logfile = NULL, *why;
	char err[512], tmp[65536], until[64];
	struct buf in = BUF_INIT;
	struct run u;
	size_t i;
	time_t now, b;
	int ch, verbose = 0, fd, rc = 0, locked = 0, answer = 0, stop;
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
	memset(&u, 0, sizeof(u));
	u.dfd = -1;
	if (conf_load(conffile, &u.cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "spamcorral-robot: %s\n", err);
		return EX_CONFIG;
	}
	log_init("spamcorral-robot", log_facility(u.cf->log_facility) == -1 ?
	    LOG_MAIL : log_facility(u.cf->log_facility), verbose);
	u.lim.max_failures = u.cf->robot_max_failures;
	u.lim.failure_window = u.cf->robot_failure_window;
	u.lim.reply_interval = u.cf->robot_reply_interval;
	u.learn = u.cf->robot_learn_ham == CONF_LEARN_YES ||
	    (u.cf->robot_learn_ham == CONF_LEARN_AUTO &&
	    u.cf->spam_arbitron == CONF_SPAM_SPAMD);
	snprintf(u.robot_addr, sizeof(u.robot_addr), "%s",
	    u.cf->spamcorral_address);
	sc_local_part(u.robot_addr, u.robot_local, sizeof(u.robot_local));
	if (sc_domains_load(u.cf->local_domains, u.robot_addr, &u.doms, err,
	    sizeof(err)) == -1) {
		log_warnx("%s", err);
		rc = EX_CONFIG;
		goto out;
	}

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
		goto out;
	}
	if (sc_reply_parse(&u.r, &u.cf->limits, in.data, in.len) == -1) {
		log_warnx("out of memory");
		rc = EX_TEMPFAIL;
		goto out;
	}
	buf_free(&in);
	snprintf(u.sender, sizeof(u.sender), "%s", u.r.sender);
	if (u.sender[0] == '\0') {
		log_warnx("ignored: no envelope sender (no From_ line and no "
		    "Return-Path)");
		goto out;
	}
	log_safe(u.sender, strlen(u.sender), u.lsafe, sizeof(u.lsafe));

	/* RFC 3834 and loops: no state, no lock, no answer */
	if ((why = ignore_reason(&u)) != NULL) {
		log_info("ignored: sender=%s reason=%s", u.lsafe, why);
		goto out;
	}
	if (!sc_addr_ok(u.sender) || strchr(u.sender, '@') == NULL) {
		log_info("release-denied sender=%s reason=bad-sender",
		    u.lsafe);
		goto out;
	}
	/* digests go to local recipients only (SC-R9), so only they can
	   hold an identifier */
	if (!sc_domains_match(&u.doms, u.sender)) {
		log_info("release-denied sender=%s reason=not-local",
		    u.lsafe);
		goto out;
	}
	if (!u.r.have_from || u.r.nfrom != 1 ||
	    !sc_addr_eq(u.sender, u.r.from)) {
		char lf[400];

		log_safe(u.r.from, strlen(u.r.from), lf, sizeof(lf));
		log_info("release-denied sender=%s from=%s "
		    "reason=from-mismatch", u.lsafe, lf);
		goto out;
	}

	if ((u.ids = calloc(SC_IDENTS_MAX, sizeof(*u.ids))) == NULL) {
		log_warnx("out of memory");
		rc = EX_TEMPFAIL;
		goto out;
	}
	u.nids = u.r.text.data ? sc_find_idents(u.r.text.data, u.r.text.len,
	    u.ids, SC_IDENTS_MAX) : 0;
	sc_reply_free(&u.r);
	if (u.nids == 0) {
		log_info("release-denied sender=%s reason=no-token", u.lsafe);
		goto out;
	}

	if ((u.cr = corral_open(u.cf->corral_dir, err, sizeof(err))) ==
	    NULL) {
		log_warnx("corral %s: %s", u.cf->corral_dir, err);
		rc = EX_TEMPFAIL;
		goto out;
	}
	u.dfd = corral_dirfd(u.cr);
	/* the daemon's parser: a key it accepts is accepted here */
	if ((u.bkey = bypass_key_load(u.cf->bypass_key_file, 0, err,
	    sizeof(err))) == NULL) {
		log_warnx("bypass_key_file: %s", err);
		rc = EX_TEMPFAIL;
		goto out;
	}
	bypass_key_bytes(u.bkey, u.key);
	if (corral_safe_rcpt(u.sender, u.safe, sizeof(u.safe)) == -1 ||
	    sc_state_key(u.sender, u.skey, sizeof(u.skey)) == -1) {
		log_info("release-denied sender=%s reason=bad-sender",
		    u.lsafe);
		goto out;
	}
	/* the released mail goes to the recipient named by the entry */
	if (corral_unescape(u.safe, u.rcpt, sizeof(u.rcpt)) != 0)
		snprintf(u.rcpt, sizeof(u.rcpt), "%s", u.sender);
	if (!sc_addr_ok(u.rcpt)) {
		log_info("release-denied sender=%s reason=bad-recipient",
		    u.lsafe);
		goto out;
	}

	/* one robot or notifier at a time: releases, expiry and the
	   state file */
	if (flock(u.dfd, LOCK_EX) == -1) {
		log_warn("flock %s", u.cf->corral_dir);
		rc = EX_TEMPFAIL;
		goto out;
	}
	locked = 1;
	if ((u.st = sc_state_load(u.dfd, err, sizeof(err))) == NULL) {
		/* without its memory the robot cannot rate-limit: wait */
		log_warnx("state: %s", err);
		rc = EX_TEMPFAIL;
		goto out;
	}
	now = time(NULL);
	if ((b = sc_state_blocked(u.st, u.skey, now)) != 0) {
		struct tm tm;

		localtime_r(&b, &tm);
		strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S", &tm);
		log_info("rate-limited: sender=%s until=%s: only valid "
		    "identifiers are looked at", u.lsafe, until);
		u.blocked = 1;
	}

	for (i = 0; i < u.nids; i++) {
		stop = release_one(&u, &u.ids[i]);
		if (stop == -1)
			u.tempfail = 1;
		if (stop != 0)
			break;
	}
	log_info("reply sender=%s identifiers=%zu released=%zu gone=%zu "
	    "bad=%zu unknown=%zu old=%zu changed=%zu expired=%zu", u.lsafe,
	    u.nids, u.nrel, u.ngone, u.nbad, u.nunknown, u.nold, u.nchanged,
	    u.nexp);

	/* an answer only to a reply that held a valid identifier, and at
	   most one per reply_interval (SC-R6) */
	if (!u.tempfail && u.nrel + u.ngone + u.nold + u.nchanged +
	    u.nexp > 0 && u.note.data != NULL) {
		now = time(NULL);
		if (sc_state_may_reply(u.st, u.skey, now, &u.lim)) {
			answer = 1;
			u.dirty = 1;
			if (sc_state_replied(u.st, u.skey, now) == -1)
				log_warnx("state: out of memory");
		} else
			log_info("answer-suppressed sender=%s "
			    "reason=reply-interval", u.lsafe);
	}
	rc = u.tempfail ? EX_TEMPFAIL : 0;
out:
	/* One way out, so a sanitizer build's leak check stays quiet: a
	   robot exiting non-zero makes sendmail bounce the reply. */
	if (u.st != NULL && u.dirty && sc_state_save(u.st, u.dfd, time(NULL),
	    &u.lim, err, sizeof(err)) == -1)
		log_warnx("state: %s", err);
	if (locked)
		flock(u.dfd, LOCK_UN);
	if (answer)
		send_answer(&u);
	sc_reply_free(&u.r);
	buf_free(&u.note);
	buf_free(&in);
	free(u.ids);
	sc_state_free(u.st);
	sc_domains_free(&u.doms);
	OPENSSL_cleanse(u.key, sizeof(u.key));
	bypass_key_free(u.bkey);
	corral_close(u.cr);
	conf_free(u.cf);
	return rc;
}
