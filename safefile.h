/*
 * safefile.h -- the one way MailCorral writes a file others will read:
 * create it under a temporary name that must not exist (O_EXCL) and is
 * never a symlink (O_NOFOLLOW), write it, fsync it, then publish it under
 * its name in one step, so a reader sees the whole file or none.
 * Used by the corral (spam copies and bypass markers), the archive, the
 * bypass key and the robot's state (spamcorral/state.c).
 *
 * Publishing without replacing uses renameat2(RENAME_NOREPLACE); where
 * the file system or the kernel does not support it (EINVAL, ENOSYS,
 * ENOTSUP), linkat() then unlinkat() of the temporary name, which never
 * replaces either.  Publishing with SFILE_REPLACE is renameat().
 * Ownership: names are relative to the caller's directory descriptor
 * (AT_FDCWD for paths); descriptors returned are the caller's.
 * Errors: -1 with errno; EEXIST when the name is taken (SFILE_NOREPLACE).
 * On failure sfile_put() leaves neither the temporary nor a half file.
 * Nothing here logs.
 */
#ifndef MC_SAFEFILE_H
#define MC_SAFEFILE_H

#include <stddef.h>
#include <sys/types.h>

#define SFILE_NOREPLACE	0	/* publish fails with EEXIST if taken */
#define SFILE_REPLACE	1	/* publish replaces an existing file */

/* Creates name for writing: O_EXCL, O_NOFOLLOW, O_CLOEXEC.  fd or -1. */
int	 sfile_create(int dirfd, const char *name, mode_t mode);
/* fsync(2), then close(2); fd is closed either way.  0, or -1 (errno). */
int	 sfile_sync_close(int fd);
/*
 * Gives tmp the name name (both in dirfd) per flags, in one step.  The
 * directory is not synced (sfile_put does; callers that publish more
 * than one name sync once).  0, or -1 (EEXIST: name taken).
 */
int	 sfile_publish(int dirfd, const char *tmp, const char *name,
	    int flags);
/*
 * The whole sequence: creates tmp, writes the n bytes at p, fsyncs,
 * closes, publishes as name per flags and fsyncs the directory (not
 * with AT_FDCWD: paths are the caller's to sync).  0, or
 * -1 with errno and tmp removed (a tmp that existed before is EEXIST
 * and left alone: it is not ours).
 */
int	 sfile_put(int dirfd, const char *tmp, const char *name,
	    const void *p, size_t n, mode_t mode, int flags);

/*
 * A lock that holds across hosts sharing a directory over NFS, where
 * flock() locks per client only: a file of our own ("<name>.<host>.<pid>",
 * holding "<host> <pid>") is hard-linked to name; link(2) is atomic on the
 * server and never replaces, and a link whose reply was lost is
 * recognised by its inode.  A lock is stale, and broken, when its
 * process is gone on this host, or when it is older than stale seconds by
 * the file server's clock (hosts' clocks may differ).  Waits up to wait
 * seconds.  0 taken; -1 with errno (EWOULDBLOCK: still held, err names
 * the holder) and the reason in err.
 */
int	 sfile_lock(int dirfd, const char *name, int wait, int stale,
	    char *err, size_t errlen);
/*
 * Removes the lock if it is still ours.  0, or -1 (EPERM: it was broken
 * as stale and another holds it now; ENOENT: gone).
 */
int	 sfile_unlock(int dirfd, const char *name);

#endif
