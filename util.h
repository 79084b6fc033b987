/*
 * util.h -- the few small helpers several modules need: writing a whole
 * buffer to a descriptor, the monotonic clock in milliseconds, and the
 * value of a hexadecimal digit.
 * Errors: mc_write_all() returns -1 with errno from write(2) (EINTR is
 * retried); a write that makes no progress is EIO.
 */
#ifndef MC_UTIL_H
#define MC_UTIL_H

#include <stddef.h>

int		 mc_write_all(int fd, const void *, size_t);
long long	 mc_now_ms(void);		/* CLOCK_MONOTONIC */
int		 mc_hexval(int c);		/* 0-9a-fA-F, else -1 */

#endif
