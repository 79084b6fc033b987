/*
 * util.h -- the few small helpers several modules need: writing a whole
 * buffer to a descriptor, the monotonic clock in milliseconds, and the
 * value of a hexadecimal digit.
 * UTF-8 and header-field scanning used by the archive, the corral copy
 * and the digest.
 * Errors: mc_write_all() returns -1 with errno from write(2) (EINTR is
 * retried); a write that makes no progress is EIO.
 */
#ifndef MC_UTIL_H
#define MC_UTIL_H

#include <stddef.h>
#include <stdint.h>

int		 mc_write_all(int fd, const void *, size_t);
long long	 mc_now_ms(void);		/* CLOCK_MONOTONIC */
int		 mc_hexval(int c);		/* 0-9a-fA-F, else -1 */
/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
   form, no surrogate, nothing above U+10FFFF), or 0; *cp its code point
   (cp may be NULL).  n > 0. */
size_t		 mc_utf8_len(const unsigned char *p, size_t n, uint32_t *cp);
/* Bytes of the header field that starts at p: its line and the
   continuation lines after it (those starting with a blank). */
size_t		 mc_header_field(const char *p, size_t len);
/* Nonzero if the field at line (len bytes) is named name: "name:". */
int		 mc_field_is(const char *line, size_t len, const char *name);

#endif
