/*
 * pool.h -- a scanner server list as a pool (spamd_servers, clamd_servers):
 * which server the next request goes to, and each server's circuit
 * breaker.  One mechanism for both scanners: spamd.c and clamd.c ask
 * pool_pick() for a server, connect (net.c), and tell pool_done() how it
 * went.
 *
 * Policy (scanner_balance, mailcorral.conf(5)):
 *   spread    the healthy server with the fewest requests outstanding
 *             (from this process); ties go round robin.
 *   failover  the first healthy server in list order.
 * Either way a server whose breaker is open (threshold consecutive
 * failures) is skipped for its back-off; then one request tries it alone
 * (half-open trial, preferred over the healthy servers so a server that
 * came back rejoins at once); its success closes the breaker, its failure
 * opens it for another back-off.  A request whose server fails tries the
 * next pick, each server at most once.
 * When every server not yet tried is paused, pool_pick() says so
 * (*paused): clamd then fails at once (on_clamd_failure), spamd asks the
 * paused servers anyway in list order (as a single spamd always was).
 *
 * A breaker that opens is logged ("<what>-server-paused server=S
 * failures=N backoff=Ns"), one that closes again too
 * ("<what>-server-back server=S").
 * State is kept per server name, so a reload that keeps a name keeps its
 * breaker and its count; names are never forgotten (a few bytes each).
 * Ownership: the pool is its user's (static, shared by every thread);
 * server names are copied.  Threads: one mutex per pool.
 * Errors: only ENOMEM (a new name); the pick then falls back to list
 * order without state.
 */
#ifndef MC_POOL_H
#define MC_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "smfopts.h"		/* DEF_CLAMD_MAX_FAILURES_N, _BACKOFF_S */

enum pool_balance {		/* the words of scanner_balance, in order */
	POOL_SPREAD = 0,
	POOL_FAILOVER = 1
};

enum pool_outcome {
	POOL_FAIL = 0,		/* no answer: counts toward the breaker */
	POOL_OK = 1,		/* answered: closes the breaker */
	POOL_SKIP = 2		/* abandoned before an outcome: not counted */
};

struct pool_server {
	char		*name;
	unsigned	 outstanding;	/* picked, not yet done */
	unsigned	 fails;		/* consecutive */
	time_t		 open_until;
	int		 trial;		/* a half-open trial is out */
	time_t		 trial_at;
	unsigned long	 picks;		/* requests sent to it, ever */
};

struct pool {
	const char		*what;		/* "spamd", "clamd": the log's */
	pthread_mutex_t		 mu;
	struct pool_server	*srv;		/* under mu */
	size_t			 n, cap;
	unsigned		 threshold;	/* failures before the pause */
	unsigned		 backoff;	/* seconds */
	unsigned long		 turn;		/* round robin among ties */
};

#define POOL_INIT(what) { what, PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, \
	DEF_CLAMD_MAX_FAILURES_N, DEF_CLAMD_BACKOFF_S, 0 }

/* Sets the breaker's threshold and back-off (a reload); 0 keeps the
   defaults (3, 30 s).  The state of every server stays. */
void	 pool_set(struct pool *, unsigned threshold, unsigned backoff);
/*
 * The index into servers[0..n) of the next server to ask, among those
 * whose tried[i] is 0 (the caller's array of n bytes; the pick sets it):
 * a half-open trial first, then by policy.  Counts the request as
 * outstanding until pool_done().  -1 when none is left: *paused is 1 when
 * untried servers remain but all are paused.  A NULL pool picks in list
 * order, with no state.
 */
long	 pool_pick(struct pool *, char *const *servers, size_t n,
	    enum pool_balance, unsigned char *tried, time_t now, int *paused);
/*
 * Like pool_pick() but ignores the breakers (spamd's last resort): the
 * first untried server in list order, or -1.
 */
long	 pool_pick_any(struct pool *, char *const *servers, size_t n,
	    unsigned char *tried);
/*
 * Connects to the server the pool picks, then to the next pick while one
 * fails (each failure told to the pool as POOL_FAIL and to note(arg,
 * server, reason) when note is not NULL): the descriptor (net.h), with
 * the server's index in *idx (tell pool_done() its outcome).  -1 when
 * none connected; *paused as pool_pick().  any: when every server left is
 * paused, ask them anyway in list order (spamd) instead of failing (clamd).
 */
int	 pool_connect(struct pool *, char *const *servers, size_t n,
	    enum pool_balance, int any, unsigned char *tried,
	    const char *defport, int timeout_ms,
	    void (*note)(void *arg, const char *server, const char *why),
	    void *arg, size_t *idx, int *paused);
/* The outcome of a request to server (as picked): the count goes down;
   a breaker that opens or closes is logged. */
void	 pool_done(struct pool *, const char *server, enum pool_outcome,
	    time_t now);
/*
 * For tests and the log: server's requests outstanding, its picks so
 * far, and whether its breaker is open at now (1 paused, 0 not).  -1 for
 * a name the pool has not seen.
 */
int	 pool_state(struct pool *, const char *server, time_t now,
	    unsigned *outstanding, unsigned long *picks);
/* Frees the names (tests; a static pool lives as long as the process). */
void	 pool_free(struct pool *);

#endif
