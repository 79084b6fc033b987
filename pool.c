/*
 * pool.c -- the scanner server pools: the pick and each server's circuit
 * breaker (see pool.h).  Owns no socket: the clients connect (net.c).
 * Failure: a name that cannot be recorded (ENOMEM) is picked in list
 * order without state, never refused.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "net.h"
#include "pool.h"
#include "banned.h"

/* Under mu: the state of name, created on first sight; NULL on ENOMEM. */
static struct pool_server *
find(struct pool *p, const char *name, int create)
{
	struct pool_server *v;
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->srv[i].name, name) == 0)
			return &p->srv[i];
	if (!create)
		return NULL;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;

		if ((v = realloc(p->srv, cap * sizeof(*v))) == NULL)
			return NULL;
		p->srv = v;
		p->cap = cap;
	}
	v = &p->srv[p->n];
	memset(v, 0, sizeof(*v));
	if ((v->name = strdup(name)) == NULL)
		return NULL;
	p->n++;
	return v;
}

static unsigned
threshold(const struct pool *p)
{
	return p->threshold ? p->threshold : DEF_CLAMD_MAX_FAILURES_N;
}

static unsigned
backoff(const struct pool *p)
{
	return p->backoff ? p->backoff : DEF_CLAMD_BACKOFF_S;
}

enum health { HEALTHY, TRIAL, PAUSED };

/* Under mu: what the breaker of s allows at now. */
static enum health
health(const struct pool *p, const struct pool_server *s, time_t now)
{
	if (s == NULL || s->fails < threshold(p))
		return HEALTHY;
	if (now < s->open_until)
		return PAUSED;
	if (s->trial && now < s->trial_at + (time_t)backoff(p))
		return PAUSED;		/* one trial at a time */
	return TRIAL;
}

void
pool_set(struct pool *p, unsigned th, unsigned bo)
{
	pthread_mutex_lock(&p->mu);
	p->threshold = th;
	p->backoff = bo;
	pthread_mutex_unlock(&p->mu);
}

/* Under mu: the index chosen among the untried, or -1 (see pool.h). */
static long
choose(struct pool *p, struct pool_server **st, size_t n,
    enum pool_balance bal, const unsigned char *tried, time_t now,
    int *paused)
{
	long best = -1;
	size_t k, i, start = n ? (size_t)(p->turn % n) : 0;
	enum health h;

	for (k = 0; k < n; k++) {
		/* spread: ties go to the first from the turn on */
		i = bal == POOL_SPREAD ? (start + k) % n : k;
		if (tried[i])
			continue;
		if ((h = health(p, st[i], now)) == PAUSED) {
			*paused = 1;
			continue;
		}
		if (h == TRIAL)
			return (long)i;	/* alone, and first */
		if (best == -1 || (bal == POOL_SPREAD && st[i] != NULL &&
		    st[best] != NULL &&
		    st[i]->outstanding < st[best]->outstanding))
			best = (long)i;
		if (bal == POOL_FAILOVER)
			break;
	}
	return best;
}

long
pool_pick(struct pool *p, char *const *servers, size_t n,
    enum pool_balance bal, unsigned char *tried, time_t now, int *paused)
{
	struct pool_server *stack[16], **st = stack, *s;
	long i;
	size_t k;

	*paused = 0;
	if (p == NULL)
		return pool_pick_any(NULL, servers, n, tried);
	if (n > sizeof(stack) / sizeof(stack[0]) &&
	    (st = malloc(n * sizeof(*st))) == NULL)
		return pool_pick_any(NULL, servers, n, tried);
	pthread_mutex_lock(&p->mu);
	/* created first: a new name may move the array */
	for (k = 0; k < n; k++)
		if (servers[k] != NULL)
			(void)find(p, servers[k], 1);
	for (k = 0; k < n; k++)
		st[k] = servers[k] != NULL ? find(p, servers[k], 0) : NULL;
	for (k = 0; k < n; k++)
		if (servers[k] == NULL)
			tried[k] = 1;
	i = choose(p, st, n, bal, tried, now, paused);
	if (i >= 0) {
		tried[i] = 1;
		*paused = 0;
		if ((s = st[i]) != NULL) {
			if (health(p, s, now) == TRIAL) {
				s->trial = 1;
				s->trial_at = now;
			}
			s->outstanding++;
			s->picks++;
		}
		if (bal == POOL_SPREAD)
			p->turn = (unsigned long)i + 1;
	}
	pthread_mutex_unlock(&p->mu);
	if (st != stack)
		free(st);
	return i;
}

long
pool_pick_any(struct pool *p, char *const *servers, size_t n,
    unsigned char *tried)
{
	struct pool_server *s;
	size_t i;

	for (i = 0; i < n; i++) {
		if (tried[i] || servers[i] == NULL)
			continue;
		tried[i] = 1;
		if (p != NULL) {
			pthread_mutex_lock(&p->mu);
			if ((s = find(p, servers[i], 1)) != NULL) {
				s->outstanding++;
				s->picks++;
			}
			pthread_mutex_unlock(&p->mu);
		}
		return (long)i;
	}
	return -1;
}

int
pool_connect(struct pool *p, char *const *servers, size_t n,
    enum pool_balance bal, int any, unsigned char *tried, const char *defport,
    int timeout_ms, void (*note)(void *, const char *, const char *),
    void *arg, size_t *idx, int *paused)
{
	char why[200];
	long i;
	int fd;

	*paused = 0;
	for (;;) {
		if ((i = pool_pick(p, servers, n, bal, tried, time(NULL),
		    paused)) == -1 && any && *paused)
			i = pool_pick_any(p, servers, n, tried);
		if (i == -1)
			return -1;
		why[0] = '\0';
		fd = net_connect(servers[i], defport, timeout_ms, why,
		    sizeof(why));
		if (fd != -1) {
			*idx = (size_t)i;
			*paused = 0;
			return fd;
		}
		pool_done(p, servers[i], POOL_FAIL, time(NULL));
		if (note != NULL)
			note(arg, servers[i], why);
	}
}

void
pool_done(struct pool *p, const char *server, enum pool_outcome o,
    time_t now)
{
	struct pool_server *s;
	unsigned th = 0, bo = 0;
	int opened = 0, back = 0;

	if (p == NULL || server == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	if ((s = find(p, server, 0)) == NULL)
		goto out;
	if (s->outstanding > 0)
		s->outstanding--;
	th = threshold(p);
	bo = backoff(p);
	if (o == POOL_SKIP) {
		/* a trial that never reached the server goes back */
		if (s->trial && s->fails >= th)
			s->trial = 0;
		goto out;
	}
	s->trial = 0;
	if (o == POOL_OK) {
		back = s->fails >= th;
		s->fails = 0;
		s->open_until = 0;
		goto out;
	}
	if (s->fails < th)
		opened = ++s->fails >= th;
	if (s->fails >= th)
		s->open_until = now + (time_t)bo;
out:
	pthread_mutex_unlock(&p->mu);
	if (opened)
		log_warnx("%s-server-paused server=%s failures=%u backoff=%us",
		    p->what ? p->what : "scanner", server, th, bo);
	if (back)
		log_info("%s-server-back server=%s", p->what ? p->what :
		    "scanner", server);
}

int
pool_state(struct pool *p, const char *server, time_t now,
    unsigned *outstanding, unsigned long *picks)
{
	struct pool_server *s;
	int rc = -1;

	pthread_mutex_lock(&p->mu);
	if ((s = find(p, server, 0)) != NULL) {
		if (outstanding != NULL)
			*outstanding = s->outstanding;
		if (picks != NULL)
			*picks = s->picks;
		rc = health(p, s, now) == PAUSED;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void
pool_free(struct pool *p)
{
	size_t i;

	pthread_mutex_lock(&p->mu);
	for (i = 0; i < p->n; i++)
		free(p->srv[i].name);
	free(p->srv);
	p->srv = NULL;
	p->n = p->cap = 0;
	p->turn = 0;
	pthread_mutex_unlock(&p->mu);
}
