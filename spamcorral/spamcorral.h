/*
 * spamcorral.h -- helpers shared by spamcorral-notify (the cron digest)
 * and spamcorral-robot (the reply robot).  See doc/corral.md.
 *
 * Identifiers in a digest: "[MC-<corral id>-<token>]", token = 32
 * lower-case hex digits in two halves of 64 bits each:
 *   entry half   = HMAC-SHA256(K, "MC-DIGEST-v1" || lp(entry name) ||
 *                  lp(safe rcpt))[0..8)
 *   content half = HMAC-SHA256(K, "MC-DIGEST-v2" || lp(entry name) ||
 *                  lp(safe rcpt) || SHA-256(entry content))[0..8)
 * K is the bypass key (bypass_key_file), lp() a 4-byte big-endian length.
 * The entry half binds one corral entry to one recipient (the robot
 * rebuilds the entry name from the replier's address, so a token only
 * works for it); the content half binds the bytes the notifier listed, so
 * the robot releases exactly those (SC-C6).  A release needs both halves.
 * The entry half equals the first half of the older one-part token
 * (HMAC "MC-DIGEST-v1")[0..16), which lets the robot tell a reply to an
 * older digest from a forged identifier.
 *
 * spamcorral.c: tokens, header helpers, addresses, sendmail, local domains.
 * reply.c:      the reply parser (envelope sender, loop headers, decoded
 *               text) and the identifier finder; fuzzed by
 *               testsuite/fuzz/fuzz_robot_reply.c.
 * state.c:      the robot's per-sender rate-limit state file.
 * digest.c:     the digest's wording (digest_template), its text and HTML
 *               parts and the mailto: links (issue 22).
 *
 * Ownership: everything returned in a struct buf or malloc'd is the
 * caller's.  Errors: -1 (with a reason in err where given).
 */
#ifndef MC_SPAMCORRAL_H
#define MC_SPAMCORRAL_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "corral.h"

#define SC_LABEL		"MC-DIGEST-v1"	/* entry half */
#define SC_LABEL_CONTENT	"MC-DIGEST-v2"	/* content half */
#define SC_TOKEN_HEX		32
#define SC_HASH_LEN		32		/* SHA-256 */
#define SC_ENTRY_MAX		(64 * 1024 * 1024) /* bytes of an entry */
#define SC_IDENT_MAX		(4 + 16 + 1 + SC_TOKEN_HEX + 2)
#define SC_MARK_NOTIFIED	"notified."
#define SC_MARK_LEARNED		"learned."	/* learned.<id>: spamd taught */
#define SC_DIGEST_HDR		"X-SpamCorral"
#define SC_ADDR_MAX		320
#define SC_RELEASE_MAX		50		/* releases per reply */

struct bypass_key;
struct mime_limits;

/*
 * The token (32 hex + NUL) for an entry name, its safe rcpt and the
 * SHA-256 of the entry's content.  0 or -1.
 */
int	 sc_token(const unsigned char key[32], const char *name,
	    const char *safe_rcpt, const unsigned char hash[SC_HASH_LEN],
	    char out[SC_TOKEN_HEX + 1]);

enum sc_tok {
	SC_TOK_OK,		/* both halves verify: release */
	SC_TOK_BAD,		/* entry half wrong: forged or guessed */
	SC_TOK_CHANGED,		/* entry half right, content differs */
	SC_TOK_OLD,		/* a one-part token of an older digest */
	SC_TOK_ERR		/* HMAC failed */
};
/*
 * Checks tok (32 lower-case hex) in constant time.  hash NULL checks the
 * entry half only (the entry is gone): SC_TOK_OK or SC_TOK_BAD.
 */
enum sc_tok sc_token_check(const unsigned char key[32], const char *name,
	    const char *safe_rcpt, const unsigned char *hash, const char *tok);

/*
 * Reads fd to its end (at most max bytes: ERANGE beyond), hashing every
 * byte with SHA-256 into hash; the first keep bytes are also appended to
 * out (out may be NULL).  0 or -1 with errno.
 */
int	 sc_read_hash(int fd, struct buf *out, size_t keep, size_t max,
	    unsigned char hash[SC_HASH_LEN]);

/*
 * Local domains (local_domains): blank- or comma-separated domains,
 * "*.example.org" for every subdomain, "file:/path" for a file of them
 * (one or more per line, '#' comments: sendmail's local-host-names).
 * An empty list means the MTA's own names, as sendmail's class w holds
 * them: SC_CW_FILE (when it exists), the host's name and canonical name,
 * localhost; and the domain of spamcorral_address.  An address without
 * '@' is always local.
 */
#ifndef SC_CW_FILE
#define SC_CW_FILE	"/etc/mail/local-host-names"
#endif
struct sc_domains {
	char	**v;
	size_t	 n;
};
int	 sc_domains_load(const char *spec, const char *robot_addr,
	    struct sc_domains *, char *err, size_t errlen);
/* The same with another local-host-names file than SC_CW_FILE (tests). */
int	 sc_domains_load_cw(const char *spec, const char *robot_addr,
	    const char *cw_file, struct sc_domains *, char *err,
	    size_t errlen);
/* 1 when addr is local, else 0. */
int	 sc_domains_match(const struct sc_domains *, const char *addr);
void	 sc_domains_free(struct sc_domains *);

/*
 * Header block iterator: calls fn for every field (unfolded: CR/LF of
 * continuation lines removed, name without the colon, value with leading
 * white space trimmed).  Stops at the empty line.  Returns the offset of
 * the body (after the empty line), or len when there is none.
 */
size_t	 sc_headers(const char *msg, size_t len,
	    void (*fn)(void *, const char *name, size_t nlen,
	    const char *value, size_t vlen), void *arg);

/* Case-insensitive "name" == field name. */
int	 sc_field_is(const char *name, size_t nlen, const char *want);

/*
 * Readable single line for a digest: RFC 2047 decoded, UTF-8, control
 * characters (C0, DEL, C1) turned into spaces, bidi/zero-width format
 * characters removed, runs of spaces collapsed, cut after max_chars code
 * points (a collapsed space counts as one) with "..." appended: at most
 * max_chars + 3 code points, 4 * max_chars + 3 bytes.  outlen must be at
 * least 4 * max_chars + 12 for the cut to be marked.  Always
 * NUL-terminates out.
 */
void	 sc_clean_text(const char *in, size_t len, char *out, size_t outlen,
	    size_t max_chars);

/* The address in a From:/Return-Path value ("Name <a@b>", "a@b (c)").
   0, or -1 when none fits out. */
int	 sc_addr_extract(const char *v, size_t vlen, char *out, size_t outlen);
/* Same address: local parts equal, domains equal ignoring case. */
int	 sc_addr_eq(const char *a, const char *b);
/* Local part (before the last '@') into out. */
void	 sc_local_part(const char *addr, char *out, size_t outlen);
/* Safe to put on a sendmail command line: not empty, no leading '-', no
   control characters, no space, <= 320 bytes. */
int	 sc_addr_ok(const char *addr);

/*
 * Runs "sendmail -oi -f FROM -- RCPT" by fork/execve (no shell, minimal
 * environment) with data on stdin.  Returns the exit status (0 = sent),
 * or -1 when it could not be run.
 */
int	 sc_sendmail(const char *path, const char *from, const char *rcpt,
	    const void *data, size_t len);


/*
 * Mints a fresh bypass header for msg (header block + body) and writes
 * the message to out with any old X-MailCorral-Bypass field replaced by
 * the new one (last field of the header block).  max_age in seconds.
 * id_out (17 bytes, or NULL) gets the new header's bypass id: the caller
 * issues it for the recipient (corral.h CORRAL_MARK_ISSUED) before
 * sending, or the filter refuses the header (reason=no-entry).
 */
int	 sc_rebypass(const struct bypass_key *key, long max_age,
	    const char *msg, size_t len, struct buf *out, char *id_out,
	    char *err, size_t errlen);
/*
 * The same for any keyed field of bypass.h: minted for purpose (enum
 * bypass_purpose) and bound, in the field named field (the digest's
 * X-MailCorral-Digest, BYPASS_FOR_DIGEST, bound to its recipient).
 */
int	 sc_rekey(const struct bypass_key *key, int purpose, const char *bound,
	    const char *field, long max_age, const char *msg, size_t len,
	    struct buf *out, char *id_out, char *err, size_t errlen);

/*
 * Is the corral entry name (in the corral directory dfd) past
 * corral_expire_days at now?  Its own modification time decides (a
 * link's, not its target's), the rule spamcorral-notify expires by and
 * spamcorral-robot refuses releases by (SC-R13).  1 expired, 0 not, -1
 * with errno (ENOENT: it is gone).
 */
int	 sc_entry_expired(int dfd, const char *name, long days, time_t now);

/*
 * The marker notified.<id>.<safe rcpt> (an entry listed in a digest) into
 * out; 0, or -1 when out is too small.
 */
int	 sc_notified_name(const char *id, const char *safe, char *out,
	    size_t outlen);

/*
 * The marker learned.<id>: spamcorral-robot taught spamd the entry <id>
 * (the base file of several recipients' links) as ham, so releases to
 * the other recipients do not teach it again.  Into out; 0, or -1 when
 * out is too small.
 */
int	 sc_learned_name(const char *id, char *out, size_t outlen);
/*
 * Does the entry msg (header block + body) say spamd answered for it
 * (its X-MailCorral-Spamd field, written by the filter into corral
 * copies only)?  1 or 0.
 */
int	 sc_spamd_answered(const char *msg, size_t len);

/* RFC 5322 date of t in local time. */
void	 sc_rfc5322_date(time_t t, char *out, size_t outlen);

/* ---- reply.c ---- */

#define SC_REPLY_TEXT_MAX	(2 * 1024 * 1024) /* decoded text kept */
#define SC_IDENTS_MAX		500		/* identifiers looked at */
#define SC_SUBJECT_KEEP		1000		/* Subject characters read */

struct sc_ident {
	char	id[CORRAL_ID_LEN + 1];		/* upper-case hex */
	char	tok[SC_TOKEN_HEX + 1];		/* lower-case hex */
};

struct sc_reply {
	/* envelope sender: the "From " line, else the first Return-Path;
	   "<>" for a null sender, "" when there is neither */
	char		 sender[SC_ADDR_MAX + 1];
	char		 from[SC_ADDR_MAX + 1];	/* first From address */
	int		 have_from;
	unsigned	 nfrom;			/* From fields */
	char		 autosub[64];		/* Auto-Submitted value */
	char		 prec[64];		/* Precedence value */
	int		 list;			/* a List-* field */
	int		 autoreply;		/* X-Autoreply, X-Autorespond */
	int		 digest;		/* X-SpamCorral: our own mail */
	int		 have_subject;		/* its text is in text */
	unsigned	 mime_err;		/* MIME_ERR_* bits */
	struct buf	 text;			/* the first Subject (RFC 2047
						   decoded, SC_SUBJECT_KEEP
						   characters), then the text
						   of every text part,
						   decoded, HTML stripped */
	/* parser state */
	struct buf	 part;
	int		 html, in_rp;
};

/*
 * Parses one reply (as the prog mailer hands it over: an optional "From "
 * line, the header block, the body) with the MIME parser under lim.
 * r is filled from scratch; sc_reply_free() frees it (also after -1).
 * Returns 0, or -1 on ENOMEM.
 */
int	 sc_reply_parse(struct sc_reply *r, const struct mime_limits *lim,
	    const char *msg, size_t len);
void	 sc_reply_free(struct sc_reply *r);
/*
 * Why a reply must not be answered (RFC 3834 and our own mail):
 * "auto-submitted", "precedence", "list-id", "own-digest", or NULL.
 */
const char *sc_reply_loop(const struct sc_reply *r);
/*
 * Finds "MC-<16 hex>-<32 hex>" (case-insensitive, not inside a longer
 * word) in text, at most max of them, without duplicates, in order of
 * appearance.  Returns how many were stored in out.
 */
size_t	 sc_find_idents(const char *text, size_t len, struct sc_ident *out,
	    size_t max);
/*
 * Breaks every "MC-" (any case) in s into "MC_", so that text from a
 * spam (its Subject and From in a digest) can hold nothing
 * sc_find_idents() reads as an identifier, and is seen not to be one.
 */
void	 sc_break_idents(char *s);

/* ---- one notifier or robot at a time ---- */

/*
 * The corral's lock file, taken by spamcorral-notify and spamcorral-robot
 * for their whole run (expiry, releases, the robot's state): a hard-link
 * lock (sfile_lock(), safefile.h) that holds across hosts sharing the
 * corral over NFS, where flock() does not.  A lock whose process is gone
 * on this host, or older than SC_LOCK_STALE by the file server's clock,
 * is broken.  The robot waits SC_LOCK_WAIT_ROBOT seconds (then tempfails:
 * sendmail tries the reply again), the notifier SC_LOCK_WAIT_NOTIFY.
 */
#define SC_LOCK_FILE		".spamcorral.lock"
#define SC_LOCK_STALE		3600
#define SC_LOCK_WAIT_ROBOT	60
#define SC_LOCK_WAIT_NOTIFY	600

/*
 * Takes the lock in the corral dfd, waiting up to wait seconds; it is
 * given back by sc_corral_unlock() or at exit().  0, or -1 with err.
 */
int	 sc_corral_lock(int dfd, int wait, char *err, size_t errlen);
void	 sc_corral_unlock(void);

/* ---- state.c ---- */

/*
 * The robot's memory between runs (one run per reply): per envelope
 * sender, failed tokens in the current window, a block end, and when the
 * robot last answered.  A small text file in the corral directory, read
 * and written by the robot while it holds the corral's lock; written
 * to a temp name and renamed.  At most SC_STATE_MAX senders are kept;
 * records with nothing left to remember are dropped.
 */
#define SC_STATE_FILE		".spamcorral-robot.state"
#define SC_STATE_MAX		1000
#define SC_STATE_BYTES		(512 * 1024)

struct sc_limits {
	long	max_failures;		/* failed tokens before a block */
	long	failure_window;		/* seconds: counting window, block */
	long	reply_interval;		/* seconds between answers; 0 none */
};

struct sc_state;

/* Reads SC_STATE_FILE in dfd (absent: empty).  NULL with err on error. */
struct sc_state	*sc_state_load(int dfd, char *err, size_t errlen);
/* An empty state (tests, or when the file is unusable). */
struct sc_state	*sc_state_new(void);
/* Parses the file format into st (bad lines are skipped). */
void	 sc_state_parse(struct sc_state *st, const char *p, size_t len);
/* Formats st (after dropping stale records and capping) into out. */
int	 sc_state_format(struct sc_state *st, time_t now,
	    const struct sc_limits *lim, struct buf *out);
/* sc_state_format() + temp file + fsync + rename + directory fsync. */
int	 sc_state_save(struct sc_state *st, int dfd, time_t now,
	    const struct sc_limits *lim, char *err, size_t errlen);
void	 sc_state_free(struct sc_state *st);
/* The record key for an envelope sender (lower-cased safe form). */
int	 sc_state_key(const char *sender, char *out, size_t outlen);
/* Is this sender blocked at now?  Returns the block's end, or 0. */
time_t	 sc_state_blocked(struct sc_state *st, const char *key, time_t now);
/*
 * Counts n failed tokens for key.  Returns 1 when this makes the sender
 * blocked (until now + failure_window), 0 otherwise, -1 on ENOMEM.
 */
int	 sc_state_fail(struct sc_state *st, const char *key, unsigned n,
	    time_t now, const struct sc_limits *lim);
/* May the robot answer key now?  1 yes, 0 no. */
int	 sc_state_may_reply(struct sc_state *st, const char *key, time_t now,
	    const struct sc_limits *lim);
/* Records an answer to key at now.  0 or -1 (ENOMEM). */
int	 sc_state_replied(struct sc_state *st, const char *key, time_t now);
/* Number of records (tests). */
size_t	 sc_state_count(const struct sc_state *st);

/* ---- digest.c ---- */

#define SC_MAILTO_MAX		2000	/* bytes of a mailto: link */
#define SC_TEMPLATE_MAX		(64 * 1024)
#define SC_LABEL_MAX		24	/* code points of label_* */
#define SC_SUBJECT_MAX		150	/* code points of subject* */

/* The template's keys (spamcorral-notify(8) lists them). */
enum sc_tkey {
	SC_T_SUBJECT, SC_T_SUBJECT_ONE, SC_T_INTRO, SC_T_INTRO_ONE,
	SC_T_TAP, SC_T_REPLY, SC_T_EXPIRE, SC_T_FROM, SC_T_SUBJ, SC_T_DATE,
	SC_T_SCORE, SC_T_SCORE_OF, SC_T_BUILTIN, SC_T_RELEASE,
	SC_T_RELEASE_ALL, SC_T_RELEASE_PART, SC_T_NOTE, SC_T_N
};
/* The wording: NULL where the built-in English applies. */
struct sc_template {
	char	*v[SC_T_N];
};
struct sc_var {
	const char	*name, *value;
};
/*
 * Reads the template file at path ("" or NULL: the built-in English):
 * UTF-8 lines "key = text", '#' comments and blank lines; an unknown
 * key, a key given twice, a placeholder the key does not have ("{name}";
 * "{{" is a literal brace), a label_* longer than SC_LABEL_MAX code
 * points, a subject* longer than SC_SUBJECT_MAX, or a control character
 * (but tab) is refused with
 * "FILE:LINE: ..." in err.  Keys not given keep the built-in text.
 * 0 or -1; sc_template_free() frees it.
 */
int	 sc_template_load(const char *path, struct sc_template *,
	    char *err, size_t errlen);
/* The same from memory; file names the text in err. */
int	 sc_template_parse(struct sc_template *, const char *text,
	    size_t len, const char *file, char *err, size_t errlen);
void	 sc_template_free(struct sc_template *);
/* Key k's text, placeholders unexpanded. */
const char *sc_template_get(const struct sc_template *, enum sc_tkey k);
/* Key k's text with the placeholders named in vars expanded, into out. */
void	 sc_template_put(const struct sc_template *, enum sc_tkey k,
	    const struct sc_var *vars, size_t nvars, struct buf *out);

/* One entry of a digest, as shown (cleaned text, UTF-8). */
struct sc_digest_entry {
	const char	*ident;		/* "MC-<id>-<token>" */
	const char	*from, *subject, *when, *score;
	double		 pct;		/* of the threshold; < 0: unknown */
	int		 builtin;	/* the built-in score */
};
struct sc_digest {
	const struct sc_template	*t;
	const char			*rcpt, *robot;
	long				 days;	/* corral_expire_days */
	size_t				 line_max; /* text: longest link line */
	const struct sc_digest_entry	*e;
	size_t				 n;
};
/* The plain-text part (UTF-8, LF) into out.  0 or -1 (ENOMEM). */
int	 sc_digest_text(const struct sc_digest *, struct buf *out);
/*
 * The HTML part into out: one table row per entry, a Release button each
 * (its mailto: link) and "release all" links; inline styles only, no
 * script, nothing remote, every value escaped.  0 or -1 (ENOMEM).
 */
int	 sc_digest_html(const struct sc_digest *, const char *title,
	    struct buf *out);
/* "mailto:ADDR?subject=S&body=B", all but letters and digits %-encoded. */
void	 sc_mailto(struct buf *out, const char *addr, const char *subject,
	    const char *body);
/*
 * Splits idents[0..n) into groups whose mailto: link (subject, and one
 * identifier a line as the body) is at most max bytes and releases at
 * most SC_RELEASE_MAX: ends[g] is the end of group g (ends has room for
 * n).  A single identifier always makes a group.  Returns the groups.
 */
size_t	 sc_mailto_split(const char *robot, const char *subject,
	    const char *const *idents, size_t n, size_t max, size_t *ends);
/* data base64-encoded, 76 characters a line, into out. */
void	 sc_base64_lines(struct buf *out, const void *data, size_t len);
/* s as a header value: as it is when printable ASCII, else RFC 2047. */
void	 sc_header_text(struct buf *out, const char *s);

#endif
