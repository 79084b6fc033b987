/*
 * clamd.h -- clamd client (INSTREAM) with failover and a circuit breaker.
 * A scan is streamed: clamd_begin() connects to the first server that
 * accepts and sends "zINSTREAM\0"; clamd_send() sends length-prefixed
 * chunks; clamd_end() sends the terminator and reads the verdict.
 * Every connect, write and read has a deadline; raw replies never travel
 * upward (only an enum, a sanitised virus name, or an error reason).
 * Ownership: struct clamd_scan is freed by clamd_free(); the config is
 * the caller's and must outlive the scan.
 * clamd_check_message() is the adapter that feeds one scanned message's
 * parts through it.
 * Thread safety: scans are per thread; a breaker is shared (mutex).
 */
#ifndef MC_CLAMD_H
#define MC_CLAMD_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "conf.h"		/* struct clamd_cfg */
#include "smfopts.h"

enum clamd_result {
	CLAMD_CLEAN = 0,
	CLAMD_INFECTED,
	CLAMD_OVERSIZE,		/* clamd's size limit, or our max_stream */
	CLAMD_ERROR
};

struct clamd_breaker;
struct clamd_scan;
struct scan;

/* What clamd said about one message (clamd_check_message). */
struct clamd_verdict {
	unsigned	scans;		/* streams sent to clamd */
	unsigned	infected;	/* parts found infected */
	int		failed;		/* no verdict for some part */
	int		oversize;	/* some part too large to scan */
	char		virus[128];	/* first virus name */
	char		reason[192];	/* why there was no verdict */
};

/*
 * The adapter between the scan and clamd: streams every part that could
 * carry a virus, decoded, to clamd, in every reading of an ambiguous
 * message, plus its raw body.  Plain text is not sent.  Infected parts
 * become findings to delete (scan_add_virus).  The breaker is asked before
 * each stream and told the outcome.  0, or -1 with errno when a finding
 * could not be recorded; clamd's own failures are in *v (failed, reason).
 */
int	 clamd_check_message(struct scan *, const struct clamd_cfg *,
	    struct clamd_breaker *, struct clamd_verdict *v);

/*
 * Connects (trying the servers in order) and starts INSTREAM.  NULL with
 * the reasons in err when no server accepts.
 */
struct clamd_scan	*clamd_begin(const struct clamd_cfg *, char *err,
			    size_t errlen);
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
void	 clamd_free(struct clamd_scan *);	/* closes; NULL is a no-op */
/* Bytes accepted by clamd_send so far (sent or dropped). */
size_t	 clamd_sent(const struct clamd_scan *);

const char	*clamd_result_str(enum clamd_result);
/* "clean", "infected", "oversize", "error". */

/*
 * Circuit breaker shared by threads.  After threshold consecutive
 * failures, allow() refuses for backoff seconds, then lets one trial
 * through (half-open); a reported success closes it, a failure opens it
 * again.  A trial that never reports is replaced after another backoff.
 * Initialise with CLAMD_BREAKER_INIT or clamd_breaker_init() (0 picks the
 * defaults 3 and 30 s).
 */
struct clamd_breaker {
	pthread_mutex_t	 mu;
	unsigned	 threshold;
	unsigned	 backoff;	/* seconds */
	unsigned	 fails;		/* consecutive, under mu */
	time_t		 open_until;	/* under mu */
	int		 trial;		/* a half-open trial is out */
	time_t		 trial_at;
};

#define CLAMD_BREAKER_THRESHOLD	DEF_CLAMD_MAX_FAILURES_N	/* smfopts.h */
#define CLAMD_BREAKER_BACKOFF	DEF_CLAMD_BACKOFF_S
#define CLAMD_BREAKER_INIT { PTHREAD_MUTEX_INITIALIZER, \
	CLAMD_BREAKER_THRESHOLD, CLAMD_BREAKER_BACKOFF, 0, 0, 0, 0 }

void	 clamd_breaker_init(struct clamd_breaker *, unsigned threshold,
	    unsigned backoff);
/* 1: go ahead (report the outcome); 0: clamd is considered down. */
void	 clamd_breaker_set(struct clamd_breaker *, unsigned threshold,
	    unsigned backoff);
int	 clamd_breaker_allow(struct clamd_breaker *, time_t now);
void	 clamd_breaker_report(struct clamd_breaker *, int ok, time_t now);

#endif
