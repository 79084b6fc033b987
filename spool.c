/*
 * spool.c -- memory-then-file byte store (see spool.h).  Owns the
 * message bytes of one message and the one loop that hands a range of
 * them to a consumer (spool_copy).
 * Ownership: the caller's struct spool; its file is unlinked when made
 * and closed by spool_free(), so nothing is left behind.
 * Failure: -1 with errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"
#include "banned.h"

#define SPOOL_CHUNK	65536		/* spool_copy() reads */

struct spool {
	char		*dir;
	size_t		 memmax;
	char		*mem;
	size_t		 memlen, memcap;
	int		 fd;		/* -1 while in memory */
	uint64_t	 size;
};

struct spool *
spool_new(const char *dir, size_t memmax)
{
	struct spool *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->dir = strdup(dir)) == NULL) {
		free(s);
		return NULL;
	}
	s->memmax = memmax;
	s->fd = -1;
	return s;
}

static int
spill(struct spool *s)
{
	char path[4096];
	int fd, n;

	fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1) {
		/* Filesystems without O_TMPFILE: create and unlink at once. */
		n = snprintf(path, sizeof(path), "%s/mailcorral.XXXXXX",
		    s->dir);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
			return -1;
		unlink(path);
	}
	if (util_write_all(fd, s->mem, s->memlen) == -1) {
		close(fd);
		return -1;
	}
	free(s->mem);
	s->mem = NULL;
	s->memlen = s->memcap = 0;
	s->fd = fd;
	return 0;
}

int
spool_write(struct spool *s, const void *p, size_t n)
{
	if (s->fd == -1 && s->memlen + n > s->memmax && spill(s) == -1)
		return -1;
	if (s->fd != -1) {
		if (util_write_all(s->fd, p, n) == -1)
			return -1;
	} else {
		if (s->memlen + n > s->memcap) {
			size_t ncap = s->memcap ? s->memcap : 4096;
			char *m;

			while (ncap < s->memlen + n)
				ncap *= 2;
			if (ncap > s->memmax && s->memmax >= s->memlen + n)
				ncap = s->memmax;
			if ((m = realloc(s->mem, ncap)) == NULL)
				return -1;
			s->mem = m;
			s->memcap = ncap;
		}
		if (n > 0)
			memcpy(s->mem + s->memlen, p, n);
		s->memlen += n;
	}
	s->size += n;
	return 0;
}

ssize_t
spool_pread(struct spool *s, void *p, size_t n, uint64_t off)
{
	ssize_t r;

	if (off >= s->size)
		return 0;
	if (n > s->size - off)
		n = (size_t)(s->size - off);
	if (s->fd == -1) {
		memcpy(p, s->mem + off, n);
		return (ssize_t)n;
	}
	do {
		r = pread(s->fd, p, n, (off_t)off);
	} while (r == -1 && errno == EINTR);
	return r;
}

uint64_t
spool_size(const struct spool *s)
{
	return s->size;
}

const void *
spool_mem(const struct spool *s)
{
	if (s->fd != -1)
		return NULL;
	return s->mem != NULL ? s->mem : "";
}

int
spool_copy(struct spool *s, uint64_t from, uint64_t to,
    int (*fn)(void *, const char *, size_t), void *arg)
{
	char *chunk;
	ssize_t r;
	int rc = 0;

	if (to > s->size) {
		errno = EIO;	/* fewer bytes than the caller knows of */
		return -1;
	}
	if (from >= to)
		return 0;
	if (s->fd == -1)	/* in memory: the bytes themselves, at once */
		return fn(arg, s->mem + from, (size_t)(to - from)) == -1 ?
		    -1 : 0;
	if ((chunk = malloc(SPOOL_CHUNK)) == NULL)
		return -1;
	while (from < to && rc == 0) {
		size_t want = to - from < SPOOL_CHUNK ? (size_t)(to - from) :
		    SPOOL_CHUNK;

		if ((r = spool_pread(s, chunk, want, from)) <= 0) {
			if (r == 0)
				errno = EIO;
			rc = -1;
			break;
		}
		rc = fn(arg, chunk, (size_t)r);
		from += (uint64_t)r;
	}
	free(chunk);
	return rc == -1 ? -1 : 0;
}

static int
write_fd(void *arg, const char *p, size_t n)
{
	return util_write_all(*(int *)arg, p, n);
}

int
spool_copy_fd(struct spool *s, uint64_t from, uint64_t to, int fd)
{
	loff_t off = (loff_t)from;
	ssize_t r;

	if (to > s->size) {
		errno = EIO;
		return -1;
	}
	if (from >= to)
		return 0;
	if (s->fd == -1)
		return util_write_all(fd, s->mem + from, (size_t)(to - from));
	while ((uint64_t)off < to) {
		r = copy_file_range(s->fd, &off, fd, NULL,
		    (size_t)(to - (uint64_t)off), 0);
		if (r > 0)
			continue;
		if (r == 0) {
			errno = EIO;	/* the file is shorter than s->size */
			return -1;
		}
		if (errno == EINTR)
			continue;
		/* not between these two files here: through user space */
		if (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
		    errno == EOPNOTSUPP || errno == EBADF)
			return spool_copy(s, (uint64_t)off, to, write_fd, &fd);
		return -1;
	}
	return 0;
}

int
spool_fd(struct spool *s)
{
	if (s->fd == -1 && spill(s) == -1)
		return -1;
	if (lseek(s->fd, 0, SEEK_SET) == -1)
		return -1;
	return s->fd;
}

void
spool_free(struct spool *s)
{
	if (s == NULL)
		return;
	if (s->fd != -1)
		close(s->fd);
	free(s->mem);
	free(s->dir);
	free(s);
}
