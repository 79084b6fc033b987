/*
 * corral.h -- the spam corral's on-disk format (seed 5.3, DESIGN.md
 * "Formats other programs rely on"), shared by the filter, the cron
 * notifier and the reply robot.
 *
 * Names:  spam_to_<safe-rcpt>_<id>   one envelope recipient (a file), or a
 *                                    symlink to the base file below
 *         spam_to__<id>              base file of a multi-recipient message
 *         tmp.*                      being written; readers skip these
 *                                    (tmp.<HH>.<qid>.<pid>.<n>: HH = host)
 *         host.<HH>                  the host that claimed host id HH
 *         issued.*, used.*           bypass markers (below)
 * <id> is 16 upper-case hex digits: 8 of the Unix time, 2 of the host
 * (corral_set_host), 6 that make it unique on that host.  Ids minted
 * before the host part (8 that make it unique) have the same form.  <safe-rcpt> never contains '_' or '/', so a name splits at its
 * last '_'.
 *
 * Ownership: struct corral and struct corral_writer belong to the caller;
 * corral_commit() and corral_abort() free the writer.
 * Errors: -1 (or NULL) with errno set and, where given, a reason in err.
 * Thread safety: one struct corral may be shared by threads; a writer
 * belongs to one thread at a time.
 */
#ifndef MC_CORRAL_H
#define MC_CORRAL_H

#include <stddef.h>
#include <sys/stat.h>

#define CORRAL_RCPT_MAX		200	/* bytes of a safe recipient */
#define CORRAL_ID_LEN		16	/* hex digits of an id */
#define CORRAL_NAME_MAX		(8 + CORRAL_RCPT_MAX + 1 + CORRAL_ID_LEN)

struct corral;
struct corral_writer;

/*
 * Canonical, file-name-safe form of an envelope recipient: <> stripped,
 * domain (after the last '@') lower-cased, bytes outside [A-Za-z0-9.+=@-]
 * and a leading '.' or '-' written as %XX.  Longer than 200 bytes: the
 * first <= 150 bytes (never half an escape), "%%" and 16 hex digits of
 * SHA-256 of the canonical address.  Injective on canonical addresses.
 * Returns 0, or -1 (EINVAL: empty recipient; ENAMETOOLONG: outlen < 201
 * and the result does not fit).
 */
int	 corral_safe_rcpt(const char *rcpt, char *out, size_t outlen);

/*
 * Decodes the %XX escapes of a safe recipient into out (NUL-terminated).
 * Returns 0 when fully decoded, 1 for a hashed long form (out holds the
 * decoded prefix only: the address is not recoverable from the name),
 * -1 (EINVAL malformed, ENAMETOOLONG out too small).
 */
int	 corral_unescape(const char *safe, char *out, size_t outlen);

/*
 * Splits a corral name "spam_to_<safe-rcpt>_<16 hex>" at its last '_'.
 * rcpt gets the safe (still escaped) recipient, "" for a base file; id
 * gets the 16 hex digits (idlen >= 17).  Returns 0 for a valid name, -1
 * (EINVAL) for anything else, including tmp.* names.
 */
int	 corral_parse_name(const char *name, char *rcpt, size_t rlen,
	    char *id, size_t idlen);

/*
 * Opens the corral directory once (O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC).
 * Refuses a directory writable by group or other.  corral_close() frees.
 */
struct corral	*corral_open(const char *dir, char *err, size_t errlen);
void		 corral_close(struct corral *);
int		 corral_dirfd(const struct corral *);

/*
 * Byte quotas (RELIABILITY SC-C7, corral flooding), checked by
 * corral_commit() before the file gets its name: max_rcpt bounds the
 * entries of one recipient (a link counts its base file's size),
 * max_total all spam_to_* files of the corral.  0 = no limit.  The check
 * lists the directory once per commit; messages committed at the same
 * moment may each pass it, so a quota can be exceeded by what is in
 * flight.  Call before the corral is shared by threads.
 */
void	 corral_set_quota(struct corral *, unsigned long long max_total,
	    unsigned long long max_rcpt);
/*
 * 1 when size more bytes for rcpt would pass its per-recipient quota
 * (the total quota is not asked), 0 when not (or no quota), -1 with
 * errno when the corral cannot be read.  For a message to several
 * recipients, one of them over quota (issue 16 item 3).
 */
int	 corral_rcpt_over_quota(struct corral *, const char *rcpt,
	    unsigned long long size);

/*
 * Several hosts on one shared corral (NFS; doc/admin-guide.md): each has
 * a host id 0..255 that goes into its entry ids and temp names, so that
 * ids, and the bypass markers named by them, never meet.  The default is
 * 0.  corral_host_of_name() derives one from a host name (first byte of
 * its SHA-256).  corral_claim_host() records "host.<HH>" holding hostname
 * (created once, never replaced) and fails (EEXIST, the other host named
 * in err) when another host name holds this id: two hosts with one id
 * would mint the same ids.  Call before the corral is shared by threads.
 */
#define CORRAL_HOST_CLAIM	"host."
void	 corral_set_host(struct corral *, unsigned host);
unsigned corral_host_of_name(const char *name);
int	 corral_claim_host(struct corral *, const char *hostname, char *err,
	    size_t errlen);

/*
 * Starts one corral file: creates tmp.<HH>.<qid>.<pid>.<n> (0600, O_EXCL,
 * O_NOFOLLOW).  qid is sanitised for the name.  NULL on error.
 */
struct corral_writer *corral_begin(struct corral *, const char *qid,
	    char *err, size_t errlen);
/* Buffered write; loops on short writes and EINTR.  0 or -1 (sticky). */
int	 corral_write(struct corral_writer *, const void *, size_t);
/*
 * Flushes, fsyncs and closes the temp file, renames it to its final name
 * with a fresh unique id (never replacing an existing name, never
 * following a planted link), makes one symlink per distinct canonical
 * recipient when there are several, and fsyncs the directory.  id_out
 * (>= 17 bytes) gets the id.  On any failure everything already created
 * is removed and -1 returned with the reason in err (e.g. "write: No
 * space left on device").  Over a quota (corral_set_quota): EDQUOT and
 * "quota rcpt=<safe-rcpt> used=N size=N max=N" or "quota total used=N
 * size=N max=N" in err.  Frees the writer in every case.
 */
int	 corral_commit(struct corral_writer *, const char *const *rcpts,
	    size_t nrcpt, char *id_out, char *err, size_t errlen);
/* Unlinks the temp file and frees the writer.  NULL is a no-op. */
void	 corral_abort(struct corral_writer *);

/*
 * Opens a corral entry for reading.  A symlink must point to a plain
 * spam_to__<id> name (same id, no '/') in the corral; the file is opened
 * O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC and fstat must show a regular
 * file owned by the euid with nlink == 1.  Returns 0 with *fd_out (the
 * caller closes it) and *st_out filled (st_out may be NULL), or -1 with
 * errno (EINVAL bad name or link, ELOOP link to a link, EPERM owner,
 * EMLINK nlink, EFTYPE-like ENOTSUP for non-regular files).
 */
int	 corral_open_entry(struct corral *, const char *name, int *fd_out,
	    struct stat *st_out);

/*
 * Removes an entry (seed 5.3): a file with a recipient or a link goes at
 * once; after removing a link, its base file goes too when no other link
 * in the corral points to it.  Removing a base file that links still
 * point to fails with EBUSY.  A name that was there when looked at and
 * is gone at the unlink counts as removed (NFS: a REMOVE sent again after
 * its reply was lost answers ENOENT).  Returns 0 or -1 with errno.
 */
int	 corral_remove_entry(struct corral *, const char *name);

/*
 * Bypass markers, files of the corral owner next to the entries
 * (doc/corral.md):
 *   issued.<bypass-id>.<safe-rcpt>  a bypass header with this id was issued
 *                                   for this recipient: by the filter for
 *                                   each recipient of a corralled message,
 *                                   by the robot for a release, by the
 *                                   notifier for a digest (one line: by
 *                                   what)
 *   used.<bypass-id>.<safe-rcpt>    the filter honoured it (empty)
 * The filter honours a bypass header only for a recipient with an issued
 * marker (RELIABILITY SC-B5), and once (SC-B3).
 */
#define CORRAL_MARK_ISSUED	"issued."
#define CORRAL_MARK_USED	"used."

/*
 * "<kind><bypass-id>.<safe-rcpt>" into out; rcpt is made safe here
 * (corral_safe_rcpt()), bid must be 16 upper-case hex digits.  Returns 0,
 * or -1 (EINVAL bad id or recipient, ENAMETOOLONG out too small).
 */
int	 corral_marker_name(const char *kind, const char *bid,
	    const char *rcpt, char *out, size_t outlen);
/*
 * Creates the marker path (relative to dfd as for openat(): AT_FDCWD with
 * a full path works), mode 0600, O_EXCL, never through a link, holding
 * note (NULL: empty).  An existing marker is an error (EEXIST) when excl;
 * otherwise it is fine if corral_marker_check() accepts it.  A failed
 * write removes the file again.  Returns 0 or -1 with errno.
 */
int	 corral_marker_make(int dfd, const char *path, const char *note,
	    int excl);
/*
 * corral_marker_name() and corral_marker_make() for the issued marker of
 * bid and rcpt in the directory dfd.  0 or -1 with errno.
 */
int	 corral_marker_issue(int dfd, const char *bid, const char *rcpt,
	    const char *note, int excl);
/*
 * Returns 1 when path is a regular file owned by the euid, 0 when there
 * is nothing at path, -1 (errno; EPERM for a link, another file type or
 * owner) otherwise.
 */
int	 corral_marker_check(int dfd, const char *path);

/*
 * Tests only: replaces the clock behind new ids (seconds, microseconds);
 * NULL restores gettimeofday().  Not for use while commits run.
 */
void	 corral_set_clock(void (*fn)(long *sec, long *usec));

/* ---- the filter's copy ---- */

struct spool;

/*
 * One message to corral, filtered and ready to remail as it is; extra
 * and bid come from bypass_corral_fields() (bypass.h), which the caller
 * runs first: corral.c stores what it is given and mints nothing.
 */
struct corral_msg {
	const char	 *qid;
	char *const	 *rcpts;
	unsigned	  nrcpt;
	const char	 *headers;	/* the filtered header block, CRLF */
	size_t		  hlen;
	const char	 *extra;	/* our fields and the blank line */
	size_t		  elen;
	const char	 *bid;		/* the bypass id in extra */
	struct spool	 *body;		/* the filtered body: [from, end) */
	unsigned long long from;
};

/*
 * Writes m to the corral c: its header block, then extra (a Date and a
 * Message-ID when it had none, so the MSP that remails it has no reason
 * to add different ones, and the bypass header minted over them and the
 * body, then the blank line), then the body.  The bypass id bid is
 * issued for every recipient (issued.<bid>.<rcpt> markers, SC-B5) before
 * the entry gets its name, so an entry never lacks its markers.  Nothing
 * is half-written: corral_commit() publishes it or removes everything.
 * 0 with the entry's id in id (>= CORRAL_ID_LEN + 1 bytes), or -1 with
 * the reason in err and nothing left behind.
 */
int	 corral_message(struct corral *, const struct corral_msg *, char *id,
	    char *err, size_t errlen);

#endif
