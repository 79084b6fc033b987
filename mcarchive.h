/*
 * mcarchive.h -- the mail archive: a local archive directory, its MariaDB
 * index, and the keyed header of the third-party archiver's copy.
 * (Not "archive.h": that name is libarchive's, used by virusfilter.c.)
 *
 * Local archive: for every accepted message, mlfi_eom() calls arc_begin()
 * early, which writes envelope lines and the message as received to a
 * temporary file (0640) under <archive_dir>/YYYY/MM/DD/ (0750, walked with
 * O_NOFOLLOW), fdatasyncs it and keeps it open; arc_commit() renames it
 * into place as <qid>-<16 hex>, fsyncs the directory (batched with other
 * messages: group commit) and appends the index row to the journal;
 * arc_abort() removes it (rejected or tempfailed mail is not archived).
 *
 * Index: the milter threads never talk to the database.  arc_commit()
 * appends one encoded line to the journal with a single write(); one
 * indexer thread (arc_start/arc_stop) inserts the rows with prepared
 * statements (INSERT .. ON DUPLICATE KEY UPDATE on the archive path, so a
 * replay adds nothing) and truncates the journal once it is all in.
 *
 * Errors: arc_begin/arc_commit log "archive-write errno=E path=P" or
 * "index-failed reason=..." themselves and return -1; the caller decides
 * (archive_required).  Ownership: struct arc_file is the caller's until
 * arc_commit() or arc_abort(), which free it.
 */
#ifndef MC_MCARCHIVE_H
#define MC_MCARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

struct mc_config;
struct spool;

#define ARC_HDR			"X-MailCorral-Archive"
#define ARC_QID_MAX		64	/* longer queue ids: NOQUEUE */
#define ARC_SUFFIX_LEN		16	/* random hex after the qid */
#define ARC_REL_MAX		(11 + ARC_QID_MAX + 1 + ARC_SUFFIX_LEN + 1)

/* Index columns, in journal and INSERT order. */
enum arc_field {
	ARC_F_KEY,		/* relative path: the unique message key */
	ARC_F_TIME,		/* archived, unix seconds */
	ARC_F_QID,
	ARC_F_SENDER,		/* envelope sender */
	ARC_F_RCPTS,		/* envelope recipients, ", " between */
	ARC_F_FROM,		/* From header, unfolded */
	ARC_F_SUBJECT,		/* Subject header, raw bytes */
	ARC_F_MSGID,
	ARC_F_DATE,
	ARC_F_SIZE,		/* body bytes */
	ARC_F_ACTION,
	ARC_F_SPAM,
	ARC_F_VIRUS,
	ARC_F_PATH,		/* the archive file's full path */
	ARC_NFIELDS
};

/* Column sizes (bytes; the display Subject: characters). */
extern const size_t arc_field_max[ARC_NFIELDS];
extern const char *const arc_field_name[ARC_NFIELDS];
#define ARC_SUBJECT_CHARS	998

struct arc_row {
	const char	*f[ARC_NFIELDS];
	size_t		 len[ARC_NFIELDS];
};

struct arc_file;

/* The verdict part of the row, known only at the end of eom. */
struct arc_verdict {
	const char	*action;
	const char	*spam;
	const char	*virus;
	uint64_t	 size;
	int		 required;	/* archive_required: see arc_commit */
};

/* 1 when archive_dir is set. */
int	 arc_enabled(const struct mc_config *);
/* 1 when the index is configured too. */
int	 arc_indexed(const struct mc_config *);

/* Start-up check: logs a warning when the directory is missing or not
   writable (creates it when archive_create_dir = yes). */
void	 arc_startup_check(const struct mc_config *);

/*
 * Writes the temporary archive file: envelope lines, then the spool
 * (headers as received, less any X-MailCorral-Bypass token, and the body),
 * fsynced.  NULL with errno on failure (logged as archive-write).
 */
struct arc_file	*arc_begin(const struct mc_config *, const char *qid,
		    const char *sender, char *const *rcpts, unsigned nrcpt,
		    struct spool *, uint64_t body_off);
/*
 * Renames the file into place and journals its index row; rel (>=
 * ARC_REL_MAX bytes) gets the path relative to archive_dir.  Frees af.
 * 0, or -1 with errno (logged) when the file could not be renamed, or
 * when the row could not be journaled and v->required is set: the file is
 * then removed, so the tempfailed message's retry is not archived twice.
 * Without v->required a row that cannot be journaled is logged
 * (index-failed reason=journal) and the file stays: 0.
 */
int	 arc_commit(struct arc_file *, const struct arc_verdict *,
	    char *rel, size_t rellen);
void	 arc_abort(struct arc_file *);

/* The indexer thread: started once the daemon runs as its user. */
int	 arc_start(void);
void	 arc_stop(void);
/*
 * Takes the index settings (journal, database) of cf, the configuration
 * just installed: the indexer and the journal use them from now on.
 * Called at start-up before any session and after each reload (as
 * pp_reload()); the archive never asks conf.c for the current snapshot.
 */
void	 arc_reload(const struct mc_config *);

/* ---- pure helpers (unit tests) ---- */

/* YYYY/MM/DD/<qid>-<suffix>; a qid not ^[A-Za-z0-9]{1,64}$ is NOQUEUE. */
int	 arc_rel_path(const char *qid, time_t when, const char *suffix,
	    char *out, size_t outlen);
int	 arc_qid_ok(const char *qid);
/*
 * UTF-8 for the display column: every byte that is not part of a
 * well-formed RFC 3629 sequence (overlong, surrogate, > U+10FFFF, stray
 * continuation) becomes U+FFFD; at most maxchars characters.  Returns the
 * output length; *trunc is set when characters were cut.
 */
size_t	 arc_display(const void *in, size_t len, size_t maxchars,
	    struct buf *out, int *trunc);
/* One journal line ("R1", tab, fields, newline) from a row. */
int	 arc_encode_row(const struct arc_row *, struct buf *out);
/* Decodes a line in place (without its newline); 0 or -1 (malformed). */
int	 arc_decode_row(char *line, size_t len, struct arc_row *);

/*
 * The third-party archiver gets its copy of delivered mail as one more
 * envelope recipient (archive_address), with a keyed header (ARC_HDR) so
 * that the copy is known on a later pass through a MailCorral
 * (arc_copy_ok) and not filtered again.  The header is the bypass header's
 * format and MAC (bypass.h) with the purpose BYPASS_FOR_ARCHIVE, bound to
 * archive_address: it covers Date, Message-ID and the canonical hash of
 * the body as delivered (bodyhash), has a random id, and expires after
 * bypass_max_age.  arc_copy_header() writes its value: its length, or 0
 * when the copy goes without it (no key, Date, Message-ID or body hash:
 * it is then filtered like any mail on that pass).
 */
int	 arc_copy_header(const struct mc_config *, const char *date,
	    const char *msgid, const unsigned char bodyhash[32], char *out,
	    size_t outlen);
/*
 * The archiver's copy on a later pass (SC-B9): every envelope recipient
 * is archive_address, there is one ARC_HDR (nmac of them, the first mac),
 * it verifies over this message's Date, Message-ID and body hash and has
 * not expired, and it is its first use here (a used.<id>.<address> marker
 * made with O_EXCL in corral_dir: single use among the hosts that share
 * that directory).  1: pass it on untouched; 0 with the reason in why.
 */
int	 arc_copy_ok(const struct mc_config *, const char *mac, unsigned nmac,
	    char *const *rcpts, unsigned nrcpt, const char *date,
	    const char *msgid, const unsigned char bodyhash[32], char *why,
	    size_t whylen);

/*
 * The archive read back (mailcorral-archive(8)).  arc_read_head() parses
 * the head of an archived file (data, len: its first bytes; total: its
 * whole length): the envelope lines the daemon wrote before
 * X-MailCorral-Queue-ID (only those), then the message's first From,
 * Subject, Message-ID and Date, unfolded as in the index row; body_off is
 * where the body starts and size its bytes (the index's size).  0, or -1
 * with errno EINVAL (not an archive file) or EFBIG (the header goes on
 * past len: the caller read too little), h then freed.  arc_head_free()
 * frees the buffers.
 */
struct arc_head {
	struct buf	 sender, rcpts, qid, from, subject, msgid, date;
	uint64_t	 body_off, size;
};
int	 arc_read_head(const char *data, size_t len, uint64_t total,
	    struct arc_head *);
void	 arc_head_free(struct arc_head *);

/*
 * A connection to the index: the daemon's indexer and the search command
 * use this one.  With defaults_file (a MariaDB option file, read for its
 * [client] and defaults_group groups), an empty user or password_file
 * leaves them to the file.  read_only: SET SESSION TRANSACTION READ ONLY.
 * The connection, or NULL with the reason in err.
 */
struct st_mysql;
struct arc_db_opts {
	const char	*host, *socket, *name, *user, *password_file;
	long		 port, timeout;
	const char	*defaults_file, *defaults_group;
	int		 read_only;
};
struct st_mysql	*arc_db_connect(const struct arc_db_opts *, char *err,
		    size_t errlen);
/* The same over archive_db_host's list in o->host: the first node that
   answers, else NULL with every node's reason in err. */
struct st_mysql	*arc_db_connect_any(const struct arc_db_opts *, char *err,
		    size_t errlen);

/* Directory syncs through the group commit so far: batches, requests. */
void	 arc_sync_stats(unsigned long *batches, unsigned long *reqs);

#endif
