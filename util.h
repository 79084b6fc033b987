/*
 * util.h -- the few small helpers several modules need, each written once
 * here: writing a whole buffer to a descriptor, the monotonic clock in
 * milliseconds, the value of a hexadecimal digit, ASCII lower case, the
 * error-reason writer, random hexadecimal identifiers, an address
 * normalised for the lists, and a submission through sendmail.
 * UTF-8 and header-field scanning used by the archive, the corral copy
 * and the digest.  Every public name has the util_ prefix.
 * Ownership: nothing here allocates (but util_sendmail's argument vector);
 * output goes to the caller's buffers.
 * Errors: util_write_all() returns -1 with errno from write(2) (EINTR is
 * retried); a write that makes no progress is EIO.  util_random_hex()
 * fails hard (-1, errno) when the kernel gives no randomness: there is no
 * clock fallback, the caller takes its configured failure path.
 */
#ifndef MC_UTIL_H
#define MC_UTIL_H

#include <stddef.h>
#include <stdint.h>

int		 util_write_all(int fd, const void *, size_t);
/*
 * An address as the sender lists and spam_user_prefs see it: white space
 * and one pair of <> stripped, ASCII lower case, into out.  0, or -1 when
 * it is empty or does not fit (outlen - 1 bytes at most).
 */
int		 util_norm_addr(const char *a, char *out, size_t outlen);
/*
 * Submits a message through the local MTA: "sendmail -oi -f FROM --
 * RCPT..." by fork and execve (no shell, a fixed environment, an empty
 * signal mask and default SIGPIPE in the child, which makes only
 * async-signal-safe calls: safe from a threaded daemon).  write(arg, fd)
 * writes the message to the child's stdin; the caller has SIGPIPE
 * ignored.  Each address must be 1-320 bytes without blanks or controls,
 * not starting with '-' (FROM may be "<>").  Returns sendmail's exit
 * status (0 = accepted; 75 when the message could not be written whole),
 * or -1 with errno when it could not be run (EINVAL: a bad address).
 * The argument vector is the one allocation here.
 */
int		 util_sendmail(const char *path, const char *from,
		    char *const *rcpts, size_t nrcpt,
		    int (*write)(void *arg, int fd), void *arg);
long long	 util_now_ms(void);		/* CLOCK_MONOTONIC */
int		 util_hexval(int c);		/* 0-9a-fA-F, else -1 */
/* Nonzero for 0-9 and A-F: the digits of ids and of safe names. */
static inline int
util_isxupper(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}
/* ASCII lower case; every other byte unchanged (no locale). */
static inline int
util_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}
/* ASCII white space: blank, tab, CR, LF, FF, VT (no locale). */
static inline int
util_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\f' || c == '\v';
}
/*
 * Locale-independent decimal number at s (n bytes, need not be
 * NUL-terminated): [+-]digits[.digits] or [+-].digits, finite.  The bytes
 * used (0: none), the value in *v.
 */
size_t		 util_parse_decimal(const char *s, size_t n, double *v);
/* Formats a reason into err (nothing when err is NULL or errlen 0). */
void		 util_seterr(char *err, size_t errlen, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/*
 * Writes ndig random hexadecimal digits (upper case when upper) and a NUL
 * to out (ndig + 1 bytes), from getrandom(2).  0, or -1 with errno when
 * the kernel gives no randomness (ndig > 512 is EINVAL).
 */
int		 util_random_hex(char *out, size_t ndig, int upper);
/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
   form, no surrogate, nothing above U+10FFFF), or 0; *cp its code point
   (cp may be NULL).  n > 0. */
size_t		 util_utf8_len(const unsigned char *p, size_t n, uint32_t *cp);
/* Bytes of the header field that starts at p: its line and the
   continuation lines after it (those starting with a blank). */
size_t		 util_header_field(const char *p, size_t len);
/* Nonzero if the field at line (len bytes) is named name: "name:". */
int		 util_field_is(const char *line, size_t len, const char *name);

#endif
