/*
 * gate.h -- the shutdown gate and the stop (gate.c; mailcorral(8),
 * STOPPING).
 *
 *   gate_enter(&t, "eom", client, qid)   0: the daemon is stopping, answer
 *   ... the callback ...                 at once without touching anything
 *   gate_leave(&t)
 *
 * gate_stop_watch() after smfi_opensocket(): a thread watches libmilter's
 * listening socket and, when a stop closes it, runs before_drain, drains the
 * gate within timeout seconds and ends the process if smfi_main() does not
 * return.  gate_stop_wait() after smfi_main() returns: when it returns, the
 * drain is done and nothing of ours runs in a callback; a watchdog then
 * gives the cleanup 10 seconds.
 */
#ifndef MC_GATE_H
#define MC_GATE_H

#include <sys/types.h>

#include <stdatomic.h>
#include <time.h>

/* One callback inside the gate; lives on the caller's stack. */
struct gate_ticket {
	const char		*step;		/* "eom", "reload", ... */
	char			 qid[32];
	char			 client[64];
	struct timespec		 since;
	struct gate_ticket	*next;
	struct gate_ticket	**prevp;
};

int	 gate_enter(struct gate_ticket *, const char *step,
	    const char *client, const char *qid);
void	 gate_leave(struct gate_ticket *);

int	 gate_stop_watch(long timeout, const char *pidfile,
	    void (*before_drain)(void), atomic_uint *sessions);
void	 gate_stop_wait(void);
void	 gate_phase(const char *);	/* for the watchdog's last words */
int	 gate_listener_fd(ino_t *);	/* libmilter's listening socket */

#endif
