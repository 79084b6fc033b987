/*
 * safefile.c -- create, write, sync and publish a file atomically (see
 * safefile.h; names: the short prefix sfile_).  Owns the file-system
 * steps every writer of a published file shares: the corral, its markers,
 * the archive, the bypass key and the robot's state.
 * Failure: each step's errno is returned unchanged; what this file
 * created is removed again before it returns -1.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "safefile.h"
#include "util.h"
#include "banned.h"

int
sfile_create(int dirfd, const char *name, mode_t mode)
{
	return openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
}

int
sfile_sync_close(int fd)
{
	int ok = fsync(fd) == 0, e = errno;

	if (close(fd) == -1 && ok) {
		ok = 0;
		e = errno;
	}
	errno = e;
	return ok ? 0 : -1;
}

int
sfile_publish(int dirfd, const char *tmp, const char *name, int flags)
{
	int e;

	if (flags == SFILE_REPLACE)
		return renameat(dirfd, tmp, dirfd, name);
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	/* No RENAME_NOREPLACE here: linkat never replaces either. */
	if (linkat(dirfd, tmp, dirfd, name, 0) == -1)
		return -1;
	if (unlinkat(dirfd, tmp, 0) == -1) {
		e = errno;
		unlinkat(dirfd, name, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int
sfile_put(int dirfd, const char *tmp, const char *name, const void *p,
    size_t n, mode_t mode, int flags)
{
	int fd, e;

	if ((fd = sfile_create(dirfd, tmp, mode)) == -1)
		return -1;
	if (util_write_all(fd, p, n) == -1) {
		e = errno;
		close(fd);
		goto fail;
	}
	if (sfile_sync_close(fd) == -1 ||
	    sfile_publish(dirfd, tmp, name, flags) == -1) {
		e = errno;
		goto fail;
	}
	if (dirfd != AT_FDCWD)
		(void)fsync(dirfd);
	return 0;
fail:
	unlinkat(dirfd, tmp, 0);
	errno = e;
	return -1;
}
