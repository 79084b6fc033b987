/*
 * gate.c -- the shutdown gate and the stop: every libmilter callback (and
 * every reload) runs inside the gate; a stop closes it, waits a bounded
 * time for what is inside, and ends the process even when libmilter does
 * not give control back.
 *
 * Owns: the list of callbacks inside (one mutex), the stop monitor thread
 * and the cleanup watchdog.  mailcorral.c enters and leaves around each
 * callback and hands the stop to gate_stop_watch()/gate_stop_wait().
 * Failure: a stop that overruns stop_timeout abandons what is inside, each
 * logged, and _exit()s; the MTA keeps those messages (mailcorral(8),
 * STOPPING).  Nothing here can fail a message.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"
#include "log.h"
#include "util.h"

/*
 * Shutdown gate.  smfi_main() returns as soon as the listener stops, without
 * waiting for the sessions in flight (libmilter listener.c), and returning
 * from main() runs the exit handlers -- OpenSSL's cleanup among them --
 * under their feet: on SIGTERM with 16 sessions in EOM, TSan saw
 * bypass_mint() read libcrypto state freed by OPENSSL_cleanup(), then a
 * SEGV.  Every callback (and every reload) runs between gate_enter() and
 * gate_leave(); once the stop monitor has closed the gate, callbacks
 * answer at once without touching any state (the MTA gets a 4xx), and the
 * monitor waits for those still inside, at most stop_timeout seconds,
 * before main() cleans up (gate_drain()).  Those still inside then are
 * abandoned: each is logged
 * with its step, queue id, client and age, and the process leaves with
 * _exit(), which closes their connections (sendmail keeps the mail: F=T).
 *
 * Who is inside is a list of tickets that live on the callers' stacks,
 * under one mutex: it costs a lock per callback, and it is what the
 * "abandoned" lines and the stop evidence are made of.
 *
 * The whole stop is bounded (mailcorral(8), STOPPING), and the drain does
 * not wait for smfi_main() to return: see the stop monitor below.
 */
#define MC_STOP_LISTENER 5	/* seconds libmilter may take to return */
#define MC_STOP_CLEANUP	10	/* seconds for the cleanup after the drain */

static pthread_mutex_t	 mc_gate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gate_ticket *mc_inside;		/* under mc_gate_lock */
static int		 mc_gate_closed;	/* under mc_gate_lock */
static _Atomic(const char *) mc_stop_phase = "running";

int
gate_enter(struct gate_ticket *t, const char *step, const char *client,
    const char *qid)
{
	/* Plain copies, cheap enough for every header callback. */
	t->step = step;
	t->qid[0] = t->client[0] = '\0';
	if (client != NULL) {
		memcpy(t->client, client, sizeof(t->client) - 1);
		t->client[sizeof(t->client) - 1] = '\0';
	}
	if (qid != NULL) {
		memcpy(t->qid, qid, sizeof(t->qid) - 1);
		t->qid[sizeof(t->qid) - 1] = '\0';
	}
	clock_gettime(CLOCK_MONOTONIC, &t->since);
	pthread_mutex_lock(&mc_gate_lock);
	if (mc_gate_closed) {
		pthread_mutex_unlock(&mc_gate_lock);
		return 0;
	}
	t->next = mc_inside;
	if (mc_inside != NULL)
		mc_inside->prevp = &t->next;
	t->prevp = &mc_inside;
	mc_inside = t;
	pthread_mutex_unlock(&mc_gate_lock);
	return 1;
}

void
gate_leave(struct gate_ticket *t)
{
	pthread_mutex_lock(&mc_gate_lock);
	*t->prevp = t->next;
	if (t->next != NULL)
		t->next->prevp = t->prevp;
	pthread_mutex_unlock(&mc_gate_lock);
}

/* Logs every callback still inside; returns how many. */
static unsigned
gate_abandon(void)
{
	struct gate_ticket *t;
	struct timespec now;
	unsigned n = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&mc_gate_lock);
	for (t = mc_inside; t != NULL; t = t->next, n++)
		log_warnx("stop: abandoning %s of queue id %s from %s, "
		    "running for %ld s: its connection is closed, the MTA "
		    "keeps the message", t->step, t->qid[0] ? t->qid : "-",
		    t->client[0] ? t->client : "-",
		    (long)(now.tv_sec - t->since.tv_sec));
	pthread_mutex_unlock(&mc_gate_lock);
	return n;
}

/*
 * Closes the gate and waits, at most secs seconds of the monotonic clock,
 * for the callbacks inside; logs how many there were and how long they
 * took, or abandons the rest.  Returns how many were abandoned.
 */
static unsigned
gate_drain(long secs)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	struct gate_ticket *t;
	long long t0 = util_now_ms();
	unsigned n0 = 0;
	int empty;

	pthread_mutex_lock(&mc_gate_lock);
	mc_gate_closed = 1;
	for (t = mc_inside; t != NULL; t = t->next)
		n0++;
	pthread_mutex_unlock(&mc_gate_lock);
	for (;;) {
		pthread_mutex_lock(&mc_gate_lock);
		empty = mc_inside == NULL;
		pthread_mutex_unlock(&mc_gate_lock);
		if (empty || util_now_ms() - t0 >= secs * 1000LL)
			break;
		nanosleep(&tick, NULL);
	}
	if (empty) {
		log_info("stop: %u callbacks were running, all done after "
		    "%lld ms", n0, util_now_ms() - t0);
		return 0;
	}
	return gate_abandon();
}

/*
 * The last resort of a stop: if the process is still there secs seconds
 * after the drain, something in the cleanup is stuck; say where, and
 * leave.
 */
static void *
stop_watchdog(void *arg)
{
	long secs = (long)(intptr_t)arg;
	struct timespec left = { secs, 0 };

	while (nanosleep(&left, &left) == -1 && errno == EINTR)
		;
	log_warnx("stop: still not done %ld s after the drain (stuck in %s); "
	    "exiting now", secs, atomic_load(&mc_stop_phase));
	gate_abandon();
	_exit(EX_SOFTWARE);
	return NULL;
}

static void
stop_watchdog_start(long secs)
{
	pthread_t tid;

	if ((errno = pthread_create(&tid, NULL, stop_watchdog,
	    (void *)(intptr_t)secs)) != 0) {
		log_warn("stop: cannot start the watchdog");
		return;
	}
	pthread_detach(tid);
}

/*
 * The stop monitor (issue 13).  smfi_main() cannot be trusted to return:
 * Debian builds libmilter with its worker pool (_FFR_WORKERS_POOL), whose
 * controller thread leaves as soon as it sees the stop and destroys the
 * pool's mutex and condition variable while the workers and the listener
 * still use them.  A connection accepted between the signal and the
 * listener's next look at the stop flag then left the listener blocked in
 * mi_start_session() on that mutex for ever, with every pool worker
 * (TSan build, SIGTERM with 16 sessions in flight: gdb showed the main
 * thread in mi_listener -> mi_start_session -> pthread_mutex_lock and the
 * eight workers on the same lock, the controller and the signal thread
 * gone).  So the stop does not depend on it: this thread watches the
 * listening socket, which libmilter closes at once when a stop begins
 * (SIGTERM, SIGHUP, SIGINT or an error), then drains the gate itself and,
 * if smfi_main() has not returned MC_STOP_LISTENER seconds after that,
 * ends the process.  The socket is known by its descriptor and inode
 * (libmilter keeps it private); one look every 100 ms.
 *
 * libmilter's listener holds its lock while it waits up to 5 s
 * (MI_CHK_TIME) for a connection, and the signal thread needs that lock to
 * close the socket: a stop with no traffic took 0-5 s before the drain
 * began.  Once libmilter's stop flag is up (mi_stop(), exported by
 * libmilter.so, not in mfapi.h), the monitor connects to the listening
 * socket once a second: the wait ends, the listener sees the flag and
 * leaves, and the stop takes a tick.  The poke connection sends nothing;
 * libmilter closes it at EOF without a callback.
 */
extern int mi_stop(void);	/* libmilter: MILTER_CONT (0) until a stop */

struct stop_ctl {
	int		 fd;		/* libmilter's listening socket, or -1 */
	ino_t		 ino;
	long		 timeout;	/* stop_timeout */
	const char	*pidfile;
	void		(*before_drain)(void);
	atomic_uint	*sessions;	/* sessions open, for the log */
	atomic_int	 main_back;	/* smfi_main() has returned */
	unsigned	 busy;		/* callbacks abandoned by the drain */
	pthread_t	 tid;
	int		 running;	/* tid is a running monitor */
	int		 poke;		/* our connection to the listener, or -1 */
	long long	 poked;		/* when, in ms */
};

static struct stop_ctl	 mc_stop = { .fd = -1, .poke = -1 };

/*
 * libmilter's listening socket: the one descriptor that accepts (libmilter
 * gives no handle on it).  ino: its inode, to tell when it is closed.
 */
int
gate_listener_fd(ino_t *ino)
{
	struct stat st;
	socklen_t len;
	int fd, v;

	for (fd = 0; fd < 1024; fd++) {
		v = 0;
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 &&
		    v != 0 && fstat(fd, &st) == 0) {
			*ino = st.st_ino;
			return fd;
		}
	}
	return -1;
}

static int
listener_gone(const struct stop_ctl *sc)
{
	struct stat st;

	return sc->fd >= 0 && (fstat(sc->fd, &st) == -1 ||
	    st.st_ino != sc->ino);
}

/*
 * Wakes libmilter's listener out of its wait once its stop flag is up (see
 * above): a non-blocking connection to the socket's own address, kept open
 * until the next poke or the end of the wait so the listener sees it
 * complete.  Nothing to do, or nothing possible, is not an error.
 */
static void
wake_listener(struct stop_ctl *sc)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	long long now = util_now_ms();

	if (sc->fd < 0 || mi_stop() == 0 || now - sc->poked < 1000)
		return;
	sc->poked = now;
	if (sc->poke != -1)
		close(sc->poke);
	sc->poke = -1;
	if (getsockname(sc->fd, (struct sockaddr *)&ss, &len) == -1 ||
	    (sc->poke = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)connect(sc->poke, (struct sockaddr *)&ss, len);
}

static void *
stop_monitor(void *arg)
{
	struct stop_ctl *sc = arg;
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	long long t0;

	while (!atomic_load(&sc->main_back) && !listener_gone(sc)) {
		wake_listener(sc);
		nanosleep(&tick, NULL);
	}
	if (sc->poke != -1)
		close(sc->poke);
	sc->poke = -1;
	log_info("mailcorral stopping: waiting up to %ld s for the sessions "
	    "in flight", sc->timeout);
	if (sc->before_drain != NULL) {
		atomic_store(&mc_stop_phase, "the Perl workers' shutdown");
		sc->before_drain();
	}
	atomic_store(&mc_stop_phase, "the drain of the sessions in flight");
	sc->busy = gate_drain(sc->timeout);
	if (sc->busy > 0) {
		/* No exit handlers while callbacks still run: _exit(). */
		log_warnx("stop: %u callbacks abandoned after stop_timeout "
		    "%ld s; %u sessions open in all, their connections are "
		    "closed", sc->busy, sc->timeout,
		    atomic_load(sc->sessions));
		if (sc->pidfile != NULL && *sc->pidfile != '\0')
			unlink(sc->pidfile);
		_exit(0);
	}
	atomic_store(&mc_stop_phase, "libmilter's listener");
	t0 = util_now_ms();
	while (!atomic_load(&sc->main_back) &&
	    util_now_ms() - t0 < MC_STOP_LISTENER * 1000LL)
		nanosleep(&tick, NULL);
	if (!atomic_load(&sc->main_back)) {
		log_warnx("stop: libmilter's smfi_main() has not returned %d s "
		    "after the drain (its worker pool is stuck); %u sessions "
		    "open, their connections are closed", MC_STOP_LISTENER,
		    atomic_load(sc->sessions));
		if (sc->pidfile != NULL && *sc->pidfile != '\0')
			unlink(sc->pidfile);
		_exit(0);
	}
	return NULL;
}

void
gate_phase(const char *what)
{
	atomic_store(&mc_stop_phase, what);
}

int
gate_stop_watch(long timeout, const char *pidfile, void (*before_drain)(void),
    atomic_uint *sessions)
{
	struct stop_ctl *sc = &mc_stop;

	sc->fd = gate_listener_fd(&sc->ino);
	sc->timeout = timeout;
	sc->pidfile = pidfile;
	sc->before_drain = before_drain;
	sc->sessions = sessions;
	if (sc->fd == -1)
		log_warnx("stop: libmilter's listening socket not found; a "
		    "stop waits for smfi_main() to return");
	if ((errno = pthread_create(&sc->tid, NULL, stop_monitor, sc)) != 0) {
		log_warn("stop: cannot start the stop monitor");
		return -1;
	}
	sc->running = 1;
	return 0;
}

void
gate_stop_wait(void)
{
	struct stop_ctl *sc = &mc_stop;

	atomic_store(&sc->main_back, 1);
	if (sc->running)
		pthread_join(sc->tid, NULL);
	else
		stop_monitor(sc);	/* no thread: drain here */
	sc->running = 0;
	stop_watchdog_start(MC_STOP_CLEANUP);
	gate_phase("the cleanup");
}
