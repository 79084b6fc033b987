/*
 * clamd.h -- clamd client (INSTREAM) over a pool of servers (pool.h: the
 * pick and each server's circuit breaker).
 * A scan is streamed: clamd_begin() connects to the server the pool
 * picks (the next pick when one does not accept) and sends "zINSTREAM\0"; clamd_send() sends length-prefixed
 * chunks; clamd_end() sends the terminator and reads the verdict.
 * Every connect, write and read has a deadline; raw replies never travel
 * upward (only an enum, a sanitised virus name, or an error reason).
 * Ownership: struct clamd_scan is freed by clamd_free(); the config is
 * the caller's and must outlive the scan.
 * clamd_check_message() is the adapter that feeds one scanned message's
 * parts through it.
 * Thread safety: scans are per thread; a pool and a gate are shared
 * (mutex).
 */
#ifndef MC_CLAMD_H
#define MC_CLAMD_H

#include <pthread.h>
#include <stddef.h>

#include "conf.h"		/* struct clamd_cfg */
#include "smfopts.h"

enum clamd_result {
	CLAMD_CLEAN = 0,
	CLAMD_INFECTED,
	CLAMD_OVERSIZE,		/* clamd's size limit, or our max_stream */
	CLAMD_ERROR
};

struct clamd_gate;
struct pool;
struct clamd_scan;
struct scan;

/* What clamd said about one message (clamd_check_message). */
struct clamd_verdict {
	unsigned	scans;		/* streams sent to clamd */
	unsigned	infected;	/* parts found infected */
	int		failed;		/* no verdict for some part */
	int		busy;		/* failed waiting for a connection
					   slot (not counted by a breaker) */
	int		oversize;	/* some part too large to scan */
	char		virus[128];	/* first virus name */
	char		reason[192];	/* why there was no verdict */
	char		server[128];	/* the servers that answered, ","
					   between (each once) */
};

/*
 * The adapter between the scan and clamd: streams every part that could
 * carry a virus, decoded, to clamd, in every reading of an ambiguous
 * message, plus its raw body.  Plain text is not sent.  Infected parts
 * become findings to delete (scan_add_virus).  Each stream asks the pool
 * for a server and tells it the outcome (pool NULL: the list in order, no
 * breaker); each stream holds one of the gate's connection slots (NULL:
 * no bound).  Every server paused: the stream fails at once ("clamd
 * paused after repeated failures").  0, or -1 with errno when a finding
 * could not be recorded; clamd's own failures are in *v (failed, reason).
 */
int	 clamd_check_message(struct scan *, const struct clamd_cfg *,
	    struct pool *, struct clamd_gate *, struct clamd_verdict *v);

/*
 * Takes a connection slot from gate (NULL, or cfg->max_connections 0: no
 * bound), waiting while all are in use, then connects to the server pool
 * picks (cfg->balance; the next pick when one fails, each counted by its
 * breaker) and starts INSTREAM.  The scan's deadline (read_timeout_ms)
 * starts before the wait: waiting, writing and the reply share it.  NULL
 * with the reasons in err when no slot came free before the deadline
 * (errno EBUSY: the filter was busy, clamd was not asked), every server
 * is paused by its breaker (errno EAGAIN), or no server accepts (errno
 * EIO, or ENOMEM).  clamd_end() tells the pool the outcome.
 */
struct clamd_scan	*clamd_begin(const struct clamd_cfg *, struct pool *,
			    struct clamd_gate *, char *err, size_t errlen);
/*
 * Streams bytes in chunks of at most 64 KiB.  Past max_stream, the rest
 * is dropped and the scan remembered as oversize.  If clamd closes the
 * connection (it does at its StreamMaxLength) sending stops quietly so
 * clamd_end() can read its reply.  0, or -1 on timeout/error (sticky;
 * clamd_end() then returns CLAMD_ERROR with the reason).
 */
int	 clamd_send(struct clamd_scan *, const void *, size_t);
/*
 * Sends the terminator and reads the reply (<= 4 KiB, before the deadline that
 * clamd_begin() set: read_timeout_ms for the whole scan):
 *   "stream: OK"                          CLAMD_CLEAN (or CLAMD_OVERSIZE
 *                                         when max_stream cut the stream)
 *   "stream: <name> FOUND"                CLAMD_INFECTED, name in virus
 *   "INSTREAM size limit exceeded. ERROR" CLAMD_OVERSIZE
 *   anything else, timeout, reset         CLAMD_ERROR, reason in err
 * virus gets printable ASCII only ("" unless infected).
 */
enum clamd_result clamd_end(struct clamd_scan *, char *virus, size_t vlen,
	    char *err, size_t errlen);
/*
 * For tests and fuzzing (clamd_end() uses it): maps a raw reply (reply,
 * len; not NUL-terminated) to a result as in the table above; oversize
 * turns "stream: OK" into CLAMD_OVERSIZE.  The line ends at the first NUL
 * or newline (else at len); anything but NULs and newlines after it is
 * junk (CLAMD_ERROR).  Fills virus and err as clamd_end() does.
 */
enum clamd_result clamd_parse_reply(const char *reply, size_t len,
	    int oversize, char *virus, size_t vlen, char *err, size_t errlen);
/* The server this scan went to (as configured). */
const char	*clamd_server(const struct clamd_scan *);
/*
 * Closes, then gives the connection slot back; a scan clamd_end() did not
 * judge is told to the pool as abandoned (not counted).  NULL is a no-op.
 */
void	 clamd_free(struct clamd_scan *);
/* Bytes accepted by clamd_send so far (sent or dropped). */
size_t	 clamd_sent(const struct clamd_scan *);

const char	*clamd_result_str(enum clamd_result);
/* "clean", "infected", "oversize", "error". */

/*
 * The bound on connections open to clamd at once (clamd_max_connections),
 * shared by every thread and kept across reloads (static, like the
 * breaker).  Each enter passes the bound of its configuration: the latest
 * one holds; lowered below the connections open, new scans wait until
 * enough have closed.  Waiters are woken by a leave or a raised bound.
 */
struct clamd_gate {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	unsigned	 limit;		/* the latest bound, under mu */
	unsigned	 inuse;		/* slots taken, under mu */
	unsigned long	 waited;	/* enters that had to wait, under mu */
};

#define CLAMD_GATE_INIT { PTHREAD_MUTEX_INITIALIZER, \
	PTHREAD_COND_INITIALIZER, DEF_CLAMD_MAX_CONNECTIONS_N, 0, 0 }

/*
 * Takes a slot under a bound of limit (0: no bound, nothing taken: 0),
 * waiting until deadline (util_now_ms() clock) at most.  1 taken at once,
 * 2 taken after a wait (give it back with clamd_gate_leave), 0 nothing to
 * take, -1 deadline passed.
 */
int	 clamd_gate_enter(struct clamd_gate *, unsigned limit,
	    long long deadline);
void	 clamd_gate_leave(struct clamd_gate *);

#endif
