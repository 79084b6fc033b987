/*
 * safefile.c -- create, write, sync and publish a file atomically (see
 * safefile.h; names: the short prefix sfile_).  Owns the file-system
 * steps every writer of a published file shares: the corral, its markers,
 * the archive, the bypass key and the robot's state; and the lock file
 * of the notifier and the robot, which must hold across NFS clients
 * where flock() does not.
 * Failure: each step's errno is returned unchanged; what this file
 * created is removed again before it returns -1.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
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

/*
 * Did an operation whose reply was lost (NFS retransmission) take effect
 * all the same?  1 when name and tmp are one file (linkat made the link),
 * 0 when not.
 */
static int
same_file(int dirfd, const char *tmp, const char *name)
{
	struct stat a, b;

	return fstatat(dirfd, tmp, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Where renameat2(RENAME_NOREPLACE) is missing (NFS, some kernels):
 * linkat() never replaces either.  On NFS a retransmitted LINK whose
 * first reply was lost answers EEXIST although the link was made, so a
 * failed linkat() is judged by the inodes (open(2), O_EXCL on NFS); a
 * retransmitted REMOVE answers ENOENT although the name went.
 */
static int
publish_link(int dirfd, const char *tmp, const char *name)
{
	int e;

	if (linkat(dirfd, tmp, dirfd, name, 0) == -1) {
		e = errno;
		if (!same_file(dirfd, tmp, name)) {
			errno = e;
			return -1;
		}
	}
	if (unlinkat(dirfd, tmp, 0) == -1 && errno != ENOENT) {
		e = errno;
		unlinkat(dirfd, name, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int
sfile_publish(int dirfd, const char *tmp, const char *name, int flags)
{
	struct stat st;
	int e;

	if (flags == SFILE_REPLACE) {
		if (renameat(dirfd, tmp, dirfd, name) == 0)
			return 0;
		/* NFS: a retransmitted RENAME that had been done */
		e = errno;
		if (e == ENOENT && fstatat(dirfd, tmp, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 && errno == ENOENT &&
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return 0;
		errno = e;
		return -1;
	}
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	return publish_link(dirfd, tmp, name);
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

/* ---- a lock file that holds across NFS clients ---- */

/* "<host> <pid>\n" of this process; host from gethostname(). */
static void
lock_owner(char *out, size_t len, char *host, size_t hlen)
{
	size_t i;

	if (gethostname(host, hlen) == -1 || host[0] == '\0')
		snprintf(host, hlen, "localhost");
	host[hlen - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)	/* a name part, never a path */
		if (!isalnum((unsigned char)host[i]) && host[i] != '-' &&
		    host[i] != '.')
			host[i] = '_';
	snprintf(out, len, "%s %ld\n", host, (long)getpid());
}

/* Reads the lock's owner line into buf; 0, or -1 (gone, unreadable). */
static int
lock_read(int dirfd, const char *name, char *buf, size_t len, struct stat *st)
{
	ssize_t n;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1)
		return -1;
	n = fstat(fd, st) == 0 ? read(fd, buf, len - 1) : -1;
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * Is the lock held by a dead process on this host, or older than stale
 * seconds by the file server's clock (now: the mtime of our own fresh
 * file, so clocks of different hosts do not matter)?
 */
static int
lock_stale(const char *held, const char *host, const struct stat *lst,
    time_t now, int stale)
{
	char h[256];
	long pid;

	if (now - lst->st_mtime > stale)
		return 1;
	if (sscanf(held, "%255s %ld", h, &pid) != 2 || pid <= 0)
		return now - lst->st_mtime > 60;	/* half written */
	return strcmp(h, host) == 0 && kill((pid_t)pid, 0) == -1 &&
	    errno == ESRCH;
}

/*
 * Moves a stale lock aside; the one judged stale (same inode) is removed,
 * anything that took its place in between is put back.
 */
static void
lock_break(int dirfd, const char *name, const char *aside,
    const struct stat *judged)
{
	struct stat st;

	if (renameat(dirfd, name, dirfd, aside) == -1)
		return;
	if (fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (st.st_ino != judged->st_ino || st.st_dev != judged->st_dev))
		if (linkat(dirfd, aside, dirfd, name, 0) == -1) {
			/* a third took the name: that one holds */
		}
	unlinkat(dirfd, aside, 0);
}

/* One try: 1 taken, 0 held by another (held, lst filled), -1 error. */
static int
lock_try(int dirfd, const char *name, const char *mine, const char *owner,
    char *held, size_t hlen, struct stat *lst, struct stat *mst)
{
	int fd, ok, e;

	unlinkat(dirfd, mine, 0);	/* our own left-over: same host, pid */
	if ((fd = sfile_create(dirfd, mine, 0600)) == -1)
		return -1;
	ok = util_write_all(fd, owner, strlen(owner)) == 0 &&
	    fstat(fd, mst) == 0;
	if (close(fd) == -1 || !ok) {
		unlinkat(dirfd, mine, 0);
		return -1;
	}
	e = 0;
	if (linkat(dirfd, mine, dirfd, name, 0) == -1) {
		e = errno;
		ok = same_file(dirfd, mine, name);
	}
	unlinkat(dirfd, mine, 0);
	if (ok)
		return 1;
	if (e != EEXIST) {
		errno = e;
		return -1;
	}
	if (lock_read(dirfd, name, held, hlen, lst) == -1)
		held[0] = '\0', lst->st_mtime = mst->st_mtime;
	return 0;
}

int
sfile_lock(int dirfd, const char *name, int wait, int stale, char *err,
    size_t errlen)
{
	char host[200], owner[256], held[256], mine[NAME_MAX + 1];
	char aside[NAME_MAX + 1];
	struct stat lst, mst;
	time_t until = time(NULL) + wait;
	int r;

	lock_owner(owner, sizeof(owner), host, sizeof(host));
	snprintf(mine, sizeof(mine), "%s.%s.%ld", name, host, (long)getpid());
	snprintf(aside, sizeof(aside), "%s.stale.%s.%ld", name, host,
	    (long)getpid());
	for (;;) {
		memset(&lst, 0, sizeof(lst));
		if ((r = lock_try(dirfd, name, mine, owner, held,
		    sizeof(held), &lst, &mst)) == 1)
			return 0;
		if (r == -1) {
			util_seterr(err, errlen, "lock %s: %s", name,
			    strerror(errno));
			return -1;
		}
		if (held[0] != '\0' && lock_stale(held, host, &lst,
		    mst.st_mtime, stale)) {
			lock_break(dirfd, name, aside, &lst);
			continue;
		}
		if (time(NULL) >= until)
			break;
		usleep(100000);
	}
	held[strcspn(held, "\n")] = '\0';
	snprintf(err, errlen, "lock %s: held by %s", name,
	    held[0] != '\0' ? held : "?");
	errno = EWOULDBLOCK;
	return -1;
}

int
sfile_unlock(int dirfd, const char *name)
{
	char host[200], owner[256], held[256];
	struct stat st;

	lock_owner(owner, sizeof(owner), host, sizeof(host));
	if (lock_read(dirfd, name, held, sizeof(held), &st) == -1)
		return -1;
	if (strcmp(held, owner) != 0) {	/* broken as stale, taken since */
		errno = EPERM;
		return -1;
	}
	return unlinkat(dirfd, name, 0) == -1 && errno != ENOENT ? -1 : 0;
}
