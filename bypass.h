/*
 * bypass.h -- the keyed bypass header carried by released spam
 * (RELIABILITY.md "Recommended construction"):
 *
 *   v=1; k=<kid>; i=<bypass-id>; t=<issued>; x=<expires>; h=<base64url MAC>
 *   MAC = HMAC-SHA256(K, "MC-BYPASS-v1" || lp(kid) || lp(id) || be64(t) ||
 *                     be64(x) || lp(Message-ID) || lp(Date) || bodyhash)
 *
 * lp() is a 4-byte big-endian length prefix.  Message-ID and Date are the
 * header values with surrounding white space trimmed and every run of
 * white space (SP, HTAB, CR, LF: folding) collapsed to one space.
 * bodyhash is SHA-256 of the DKIM "simple" canonical body.  The bypass id
 * is 16 random upper-case hex digits; the corral's issued.<id>.<rcpt>
 * markers (corral.h) say which recipients it was issued for.
 *
 * Ownership: keys come from bypass_key_load() and go to bypass_key_free();
 * a loaded key is read-only and may be shared by threads (each call makes
 * its own OpenSSL context).  struct bypass_hash is the caller's.
 * Errors: -1 or NULL with a reason in err where given; secrets never
 * appear in err.
 */
#ifndef MC_BYPASS_H
#define MC_BYPASS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BYPASS_KEY_LEN		32
#define BYPASS_KID_LEN		8	/* lower-case hex digits */
#define BYPASS_ID_LEN		16	/* upper-case hex digits */
#define BYPASS_HDR_MAX		256	/* longest header value accepted */
#define BYPASS_SKEW		300	/* seconds t may lie in the future */

struct bypass_key;
struct spool;

/* What a header is minted for: each has its own MAC label. */
enum bypass_purpose {
	BYPASS_FOR_RELEASE = 0,		/* released spam (bypass_ok) */
	BYPASS_FOR_ARCHIVE,		/* the archiver's copy (arc_copy_ok) */
	BYPASS_FOR_VARIANT,		/* a recipient's own copy (verdict.c) */
	BYPASS_FOR_DIGEST		/* spamcorral-notify's digest (verdict.c) */
};

struct evp_md_ctx_st;
struct bypass_hash {
	struct evp_md_ctx_st	*ctx;
	size_t			 nempty;	/* empty lines held back */
	int			 cr;		/* last byte was CR */
	int			 midline;	/* current line has bytes */
	int			 any;		/* some content hashed */
	int			 err;
};

enum bypass_result {
	BYPASS_OK = 0,
	BYPASS_MALFORMED,
	BYPASS_UNKNOWN_KEY,
	BYPASS_EXPIRED,
	BYPASS_BAD_MAC
};

/*
 * Loads the key file (64 hex digits and a newline; 32 raw bytes are also
 * accepted).  Missing and create != 0: a new key from RAND_priv_bytes()
 * is written to a temp file (0600) and linked into place, so a reader
 * never sees half a key.  Refuses a file that is not regular, is
 * readable/writable by group or other, is not owned by the euid, or holds
 * fewer than 32 bytes of key.  NULL on error with the reason in err.
 */
struct bypass_key	*bypass_key_load(const char *path, int create,
			    char *err, size_t errlen);
void			 bypass_key_free(struct bypass_key *);
/* The key id: first 8 hex digits of SHA-256(key), NUL-terminated. */
const char		*bypass_key_kid(const struct bypass_key *);
/* The key's 32 bytes, for the SpamCorral tokens (spamcorral.h): the one
   key parser is bypass_key_load(). */
void			 bypass_key_bytes(const struct bypass_key *,
			    unsigned char out[BYPASS_KEY_LEN]);
/* A key from 32 bytes in memory (tests, rotation tools). */
struct bypass_key	*bypass_key_new(const unsigned char key[BYPASS_KEY_LEN]);

/*
 * One-shot HMAC-SHA256 through the EVP_MAC wrapper used by mint/verify.
 * Returns 0 or -1.
 */
int	 bypass_hmac_sha256(const void *key, size_t klen, const void *data,
	    size_t len, unsigned char out[32]);

/*
 * HMAC-SHA256 under a loaded key, for other keyed headers (the archiver
 * copy's, mcarchive.h).  Returns 0 or -1.
 */
int	 bypass_key_hmac(const struct bypass_key *, const void *data,
	    size_t len, unsigned char out[32]);

/*
 * Streaming SHA-256 of the canonical body: bare LF becomes CRLF, trailing
 * empty lines are dropped, a missing final CRLF is added (RFC 6376 3.4.3
 * "simple").  The digest does not depend on how the body is chunked.
 * init/update/final return 0 or -1; final and free release the context
 * (free is safe after final and on a zeroed struct).
 */
int	 bypass_hash_init(struct bypass_hash *);
int	 bypass_hash_update(struct bypass_hash *, const void *, size_t);
int	 bypass_hash_final(struct bypass_hash *, unsigned char out[32]);
void	 bypass_hash_free(struct bypass_hash *);
/* The canonical body hash of the spool's bytes [from, to).  0 or -1. */
int	 bypass_hash_spool(struct spool *, uint64_t from, uint64_t to,
	    unsigned char out[32]);

/*
 * Writes the header value (no name, no CRLF) into out.  corral_id must be
 * 16 upper-case hex digits; 0 < issued <= expires.  Returns its length or
 * -1 (EINVAL bad argument, ENOSPC out too small, EIO OpenSSL failure).
 */
int	 bypass_mint(const struct bypass_key *, const char *corral_id,
	    time_t issued, time_t expires, const char *msgid, size_t mlen,
	    const char *date, size_t dlen, const unsigned char bodyhash[32],
	    char *out, size_t outlen);

/*
 * Checks a header value (surrounding white space is ignored; nothing else
 * is tolerated): strict grammar, <= 256 bytes, k names one of keys,
 * t - 300 <= now <= x, 0 <= x - t <= max_age, and the MAC (compared with
 * CRYPTO_memcmp).  On BYPASS_OK, id_out (>= 17 bytes) gets the corral id.
 */
enum bypass_result bypass_verify(const struct bypass_key *const *keys,
	    size_t nkeys, const char *hdr, size_t hlen, time_t now,
	    long max_age, const char *msgid, size_t mlen, const char *date,
	    size_t dlen, const unsigned char bodyhash[32], char *id_out,
	    size_t idlen);

/*
 * bypass_mint and bypass_verify for a purpose, bound to an address
 * (BYPASS_FOR_ARCHIVE: the archive address; BYPASS_FOR_VARIANT: its
 * recipients, sorted, joined by ','; BYPASS_FOR_DIGEST: the digest's one
 * recipient; NULL: nothing, as a release).
 * bypass_mint/bypass_verify are these with BYPASS_FOR_RELEASE and NULL.
 */
int	 bypass_mint_for(const struct bypass_key *, enum bypass_purpose,
	    const char *bound, const char *id, time_t issued, time_t expires,
	    const char *msgid, size_t mlen, const char *date, size_t dlen,
	    const unsigned char bodyhash[32], char *out, size_t outlen);
enum bypass_result bypass_verify_for(const struct bypass_key *const *keys,
	    size_t nkeys, enum bypass_purpose, const char *bound,
	    const char *hdr, size_t hlen, time_t now, long max_age,
	    const char *msgid, size_t mlen, const char *date, size_t dlen,
	    const unsigned char bodyhash[32], char *id_out, size_t idlen);

/* "ok", "malformed", "unknown-key", "expired", "bad-mac". */
const char	*bypass_result_str(enum bypass_result);

/* ---- the corralled copy (corral.h, corral_message) ---- */

struct buf;
struct corral_msg;

/*
 * What the filter adds to a message it corrals, before corral_message()
 * stores it: a Date and a Message-ID field when the message has none
 * (date, msgid NULL; the Message-ID is "<hex.qid@mailcorral>"), then a
 * fresh bypass header minted under k over them and the canonical hash
 * of m's body [from, end), valid for max_age seconds, then the blank
 * line, all appended to extra.  bid (>= CORRAL_ID_LEN + 1 bytes) gets
 * the bypass id, for corral_msg.bid.  0, or -1 with the reason in err
 * ("body hash failed", "random id: ...", "cannot mint the bypass
 * header" (also when k is NULL), "out of memory").
 */
int	 bypass_corral_fields(const struct bypass_key *k, long max_age,
	    const struct corral_msg *m, const char *date, const char *msgid,
	    char *bid, struct buf *extra, char *err, size_t errlen);

/* ---- honouring the header: the filter's side ---- */

struct mc_config;

/* What the filter knows of a message carrying the bypass header. */
struct bypass_msg {
	const char		*header;	/* first bypass header value */
	unsigned		 nheaders;
	const char		*rcpt;		/* first envelope recipient */
	unsigned		 nrcpt;
	const char		*mailer;	/* {mail_mailer} */
	const char		*mailaddr;	/* {mail_addr} */
	const char		*daemon;	/* {daemon_name}; NULL: none */
	const char		*date, *msgid;	/* first values; NULL: none */
	const unsigned char	*bodyhash;	/* 32 bytes; NULL: none */
};

/*
 * Released spam carries the bypass header.  It is honoured only when sent
 * by a local user ({mail_mailer} local, {mail_addr} without '@'; with
 * bypass_daemon_name set, only when it arrived on the sendmail listener
 * of that name instead, a loopback-only DAEMON_OPTIONS(Name=...) the
 * robot and the notifier submit to: issue 16 item 6), when
 * the MAC verifies over Date, Message-ID and the body under cf's key or
 * one of bypass_old_key_files, when it has not expired, for one envelope
 * recipient, only for a recipient the header was issued for (marker
 * issued.<id>.<rcpt>, SC-B5) and only once per recipient (an O_EXCL
 * marker used.<id>.<rcpt>, SC-B3), both in the corral directory.  A
 * message with several recipients is refused before any marker is looked
 * at.  Returns 1 to bypass (the bypass id in why), 0 to filter normally
 * (the reason in why).
 */
int	 bypass_ok(const struct mc_config *, const struct bypass_msg *,
	    char *why, size_t whylen);
/*
 * bypass_ok()'s origin rule alone, for the other keyed mail that only the
 * SpamCorral programs send (the digest, BYPASS_FOR_DIGEST): 1 when bm
 * (daemon, mailer, mailaddr) came from the release listener, or from a
 * local user when bypass_daemon_name is not set; 0 with "not-local" or
 * "not-release-listener" in why.
 */
int	 bypass_local_origin(const struct mc_config *, const struct bypass_msg *,
	    char *why, size_t whylen);
/*
 * The one-use rule alone: creates used.<id>.<rcpt> in the corral
 * directory with O_EXCL.  1 (the id in why) the first time; 0 with
 * "used", "recipient" or "marker-failed" in why.
 */
int	 bypass_mark_used(const struct mc_config *, const char *id,
	    const char *rcpt, char *why, size_t whylen);

#endif
