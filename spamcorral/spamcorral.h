/*
 * spamcorral.h -- helpers shared by spamcorral-notify (the cron digest)
 * and spamcorral-robot (the reply robot).  See doc/corral.md.
 *
 * Identifiers in a digest: "[MC-<corral id>-<token>]", token = the first
 * 16 bytes (32 lower-case hex digits) of
 *   HMAC-SHA256(K, "MC-DIGEST-v1" || lp(entry name) || lp(safe rcpt))
 * K is the bypass key (bypass_key_file), lp() a 4-byte big-endian length.
 * The token binds one corral entry to one recipient: the robot rebuilds the
 * entry name from the replier's address, so a token only works for it.
 *
 * Ownership: everything returned in a struct buf or malloc'd is the
 * caller's.  Errors: -1 (with a reason in err where given).
 */
#ifndef MC_SPAMCORRAL_H
#define MC_SPAMCORRAL_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define SC_LABEL		"MC-DIGEST-v1"
#define SC_TOKEN_HEX		32
#define SC_IDENT_MAX		(4 + 16 + 1 + SC_TOKEN_HEX + 2)
#define SC_MARK_NOTIFIED	"notified."
#define SC_DIGEST_HDR		"X-SpamCorral"
#define SC_ADDR_MAX		320

struct bypass_key;

/* Raw 32-byte key from bypass_key_file (already checked by
   bypass_key_load()).  0 or -1. */
int	 sc_key_raw(const char *path, unsigned char key[32], char *err,
	    size_t errlen);
/* token (33 bytes: 32 hex + NUL) for an entry name and its safe rcpt. */
int	 sc_token(const unsigned char key[32], const char *name,
	    const char *safe_rcpt, char out[SC_TOKEN_HEX + 1]);

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
 * characters removed, runs of spaces collapsed, cut at max_chars code
 * points (with "...").  Always NUL-terminates out.
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

/* Reads a whole file descriptor, at most max bytes (ERANGE beyond). */
int	 sc_read_fd(int fd, struct buf *out, size_t max);

/*
 * Mints a fresh bypass header for msg (header block + body) and writes
 * the message to out with any old X-MailCorral-Bypass field replaced by
 * the new one (last field of the header block).  max_age in seconds.
 */
int	 sc_rebypass(const struct bypass_key *key, long max_age,
	    const char *msg, size_t len, struct buf *out, char *err,
	    size_t errlen);

/* RFC 5322 date of t in local time. */
void	 sc_rfc5322_date(time_t t, char *out, size_t outlen);
/* 16 random upper-case hex digits. */
void	 sc_random_hex(char out[17]);

#endif
