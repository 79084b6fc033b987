/*
 * spool.h -- per-message byte store: memory up to a limit, then an
 * unlinked 0600 temporary file in the spool directory, so a message is read
 * from the MTA once and its size never grows the heap past the limit.
 * Ownership: caller owns struct spool; spool_free() closes the file, which
 * was unlinked at creation, so nothing is ever left behind.
 * Errors: -1 with errno.
 */
#ifndef MC_SPOOL_H
#define MC_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool;

struct spool	*spool_new(const char *dir, size_t memmax);
int		 spool_write(struct spool *, const void *, size_t);
/* Reads up to len bytes at off; returns bytes read (0 at end) or -1. */
ssize_t		 spool_pread(struct spool *, void *, size_t, uint64_t off);
uint64_t	 spool_size(const struct spool *);
/*
 * Hands the bytes [from, to) to fn(arg, p, n) in pieces of any size (all
 * at once while the spool is in memory; p lives only during the call).
 * fn returns 0 for more, 1 to stop early (not an error), -1 to fail.
 * 0, or -1 with errno (fn's, or EIO when the spool holds fewer than to
 * bytes).
 */
int		 spool_copy(struct spool *, uint64_t from, uint64_t to,
		    int (*fn)(void *, const char *, size_t), void *arg);
/*
 * Appends the bytes [from, to) to fd at its offset: copied inside the
 * kernel (copy_file_range, no pass through user space) when the spool is
 * a file, else written.  0, or -1 with errno.
 */
int		 spool_copy_fd(struct spool *, uint64_t from, uint64_t to,
		    int fd);
/* The bytes when all are in memory, else NULL. */
const void	*spool_mem(const struct spool *);
/* A file descriptor positioned at 0 holding every byte (spills). */
int		 spool_fd(struct spool *);
void		 spool_free(struct spool *);

#endif
