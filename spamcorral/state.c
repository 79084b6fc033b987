/*
 * state.c -- the reply robot's per-sender state (see spamcorral.h): failed
 * tokens (SC-R4: a sender with max_failures bad identifiers within
 * failure_window is ignored for failure_window) and the last answer (SC-R6:
 * at most one answer per reply_interval).
 *
 * File: SC_STATE_FILE in the corral directory, mode 0600, owned by the
 * corral owner.  One line per sender:
 *
 *   <key> <window start> <failures> <blocked until> <last answer>
 *
 * (key = lower-cased safe form of the address, times in Unix seconds, 0 =
 * never).  The first line is a comment naming the format.  Lines that do
 * not parse are dropped, so a damaged file only forgets.  At most
 * SC_STATE_BYTES are read and SC_STATE_MAX records kept.
 *
 * Concurrency: the robot holds the corral's lock file (sc_corral_lock(),
 * good across NFS clients) from sc_state_load() to sc_state_save(); the file is replaced by rename, so a
 * reader never sees half a file.
 * Names: sc_, as everything behind spamcorral.h.  Ownership: struct
 * sc_state is the caller's (sc_state_free).  Failure: NULL or -1 with a
 * reason in err when the file cannot be read or written; the robot then
 * exits EX_TEMPFAIL.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "corral.h"
#include "safefile.h"
#include "spamcorral/spamcorral.h"
#include "util.h"

#include "banned.h"

#define STATE_TMP	SC_STATE_FILE ".new"
#define STATE_HEAD	"# spamcorral-robot state v1: key window-start " \
			"failures blocked-until last-answer"

struct rec {
	char		 key[CORRAL_RCPT_MAX + 1];
	long long	 wstart;	/* first failure of the window */
	long long	 fails;		/* failures since wstart */
	long long	 blocked;	/* ignored until then */
	long long	 replied;	/* last answer */
};

struct sc_state {
	struct rec	*v;
	size_t		 n, cap;
};

struct sc_state *
sc_state_new(void)
{
	return calloc(1, sizeof(struct sc_state));
}

void
sc_state_free(struct sc_state *st)
{
	if (st == NULL)
		return;
	free(st->v);
	free(st);
}

size_t
sc_state_count(const struct sc_state *st)
{
	return st->n;
}

static int
key_ok(const char *k, size_t n)
{
	size_t i;

	if (n == 0 || n > CORRAL_RCPT_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) &&
		    strchr(".+=@%-", k[i]) == NULL)
			return 0;
	return 1;
}

int
sc_state_key(const char *sender, char *out, size_t outlen)
{
	char *p;

	if (corral_safe_rcpt(sender, out, outlen) == -1)
		return -1;
	for (p = out; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

static struct rec *
find(struct sc_state *st, const char *key)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		if (strcmp(st->v[i].key, key) == 0)
			return &st->v[i];
	return NULL;
}

static struct rec *
find_add(struct sc_state *st, const char *key)
{
	struct rec *r;

	if ((r = find(st, key)) != NULL)
		return r;
	if (!key_ok(key, strlen(key))) {
		errno = EINVAL;
		return NULL;
	}
	if (st->n == st->cap) {
		size_t nc = st->cap ? st->cap * 2 : 16;

		if ((r = reallocarray(st->v, nc, sizeof(*r))) == NULL)
			return NULL;
		st->v = r;
		st->cap = nc;
	}
	r = &st->v[st->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->key, sizeof(r->key), "%s", key);
	return r;
}

/* Parses one line; 0 for a record, -1 for anything else. */
static int
parse_line(const char *p, size_t n, struct rec *r)
{
	char line[CORRAL_RCPT_MAX + 128], *s, *e;
	long long *f[4];
	size_t k;
	int i;

	if (n == 0 || n >= sizeof(line) || p[0] == '#')
		return -1;
	memcpy(line, p, n);
	line[n] = '\0';
	k = strcspn(line, " ");
	if (line[k] != ' ' || !key_ok(line, k))
		return -1;
	memcpy(r->key, line, k);
	r->key[k] = '\0';
	f[0] = &r->wstart;
	f[1] = &r->fails;
	f[2] = &r->blocked;
	f[3] = &r->replied;
	s = line + k;
	for (i = 0; i < 4; i++) {
		if (*s != ' ' || !isdigit((unsigned char)s[1]))
			return -1;
		errno = 0;
		*f[i] = strtoll(s + 1, &e, 10);
		if (errno != 0 || *f[i] < 0 || *f[i] > (1LL << 40))
			return -1;	/* no overflow in "time + window" */
		s = e;
	}
	return *s == '\0' ? 0 : -1;
}

void
sc_state_parse(struct sc_state *st, const char *p, size_t len)
{
	const char *e;
	struct rec r, *d;
	size_t n;

	while (len > 0) {
		e = memchr(p, '\n', len);
		n = e != NULL ? (size_t)(e - p) : len;
		if (parse_line(p, n, &r) == 0 && st->n < SC_STATE_MAX &&
		    (d = find_add(st, r.key)) != NULL)
			*d = r;		/* a later duplicate wins */
		if (e == NULL)
			break;
		len -= n + 1;
		p = e + 1;
	}
}

struct sc_state *
sc_state_load(int dfd, char *err, size_t errlen)
{
	struct sc_state *st;
	struct stat sb;
	struct buf b = BUF_INIT;
	char tmp[8192];
	ssize_t n;
	int fd;

	if ((st = sc_state_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	fd = openat(dfd, SC_STATE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return st;
		snprintf(err, errlen, "%s: %s", SC_STATE_FILE,
		    strerror(errno));
		sc_state_free(st);
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || sb.st_nlink != 1) {
		snprintf(err, errlen, "%s: not a regular file of ours with "
		    "one link", SC_STATE_FILE);
		close(fd);
		sc_state_free(st);
		return NULL;
	}
	while (b.len < SC_STATE_BYTES) {
		n = read(fd, tmp, sizeof(tmp));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_add(&b, tmp, (size_t)n) == -1)
			break;
	}
	close(fd);
	if (b.data != NULL)
		sc_state_parse(st, b.data, b.len);
	buf_free(&b);
	return st;
}

/* Nothing left to remember at now? */
static int
stale(const struct rec *r, time_t now, const struct sc_limits *lim)
{
	return r->blocked <= now &&
	    (r->fails == 0 || r->wstart + lim->failure_window <= now) &&
	    (r->replied == 0 || r->replied + lim->reply_interval <= now);
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	long long ax = x->wstart > x->replied ? x->wstart : x->replied;
	long long ay = y->wstart > y->replied ? y->wstart : y->replied;

	/* blocked senders last (kept longest), then by last activity */
	if ((x->blocked > 0) != (y->blocked > 0))
		return x->blocked > 0 ? 1 : -1;
	return ax < ay ? -1 : ax > ay;
}

int
sc_state_format(struct sc_state *st, time_t now, const struct sc_limits *lim,
    struct buf *out)
{
	size_t i, o;

	/* drop what is stale; forget blocks that ended */
	for (i = o = 0; i < st->n; i++) {
		if (stale(&st->v[i], now, lim))
			continue;
		if (st->v[i].blocked <= now)
			st->v[i].blocked = 0;
		st->v[o++] = st->v[i];
	}
	st->n = o;
	/* over the cap: the least recently active go first (flooding
	   with new senders can evict old records, but a blocked sender
	   is evicted only when every record is a blocked one) */
	if (st->n > SC_STATE_MAX) {
		qsort(st->v, st->n, sizeof(*st->v), rec_cmp);
		memmove(st->v, st->v + (st->n - SC_STATE_MAX),
		    SC_STATE_MAX * sizeof(*st->v));
		st->n = SC_STATE_MAX;
	}
	if (buf_printf(out, "%s\n", STATE_HEAD) == -1)
		return -1;
	for (i = 0; i < st->n; i++)
		if (buf_printf(out, "%s %lld %lld %lld %lld\n", st->v[i].key,
		    st->v[i].wstart, st->v[i].fails, st->v[i].blocked,
		    st->v[i].replied) == -1)
			return -1;
	return 0;
}

int
sc_state_save(struct sc_state *st, int dfd, time_t now,
    const struct sc_limits *lim, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;

	if (sc_state_format(st, now, lim, &b) == -1) {
		snprintf(err, errlen, "out of memory");
		buf_free(&b);
		return -1;
	}
	/* the corral's lock is held: the temp name is ours; a left-over
	   one is from a crashed run */
	if (unlinkat(dfd, STATE_TMP, 0) == -1 && errno != ENOENT)
		goto fail;
	if (sfile_put(dfd, STATE_TMP, SC_STATE_FILE, b.data, b.len, 0600,
	    SFILE_REPLACE) == 0) {
		buf_free(&b);
		return 0;
	}
fail:
	snprintf(err, errlen, "%s: %s", SC_STATE_FILE, strerror(errno));
	buf_free(&b);
	return -1;
}

time_t
sc_state_blocked(struct sc_state *st, const char *key, time_t now)
{
	struct rec *r = find(st, key);

	return r != NULL && r->blocked > now ? (time_t)r->blocked : 0;
}

int
sc_state_fail(struct sc_state *st, const char *key, unsigned n, time_t now,
    const struct sc_limits *lim)
{
	struct rec *r;

	if (n == 0)
		return 0;
	if ((r = find_add(st, key)) == NULL)
		return -1;
	if (r->fails == 0 || r->wstart + lim->failure_window <= now) {
		r->wstart = now;	/* a new window */
		r->fails = 0;
	}
	r->fails += n;
	if (r->fails >= lim->max_failures && r->blocked <= now) {
		r->blocked = now + lim->failure_window;
		return 1;
	}
	return 0;
}

int
sc_state_may_reply(struct sc_state *st, const char *key, time_t now,
    const struct sc_limits *lim)
{
	struct rec *r = find(st, key);

	return lim->reply_interval == 0 || r == NULL || r->replied == 0 ||
	    r->replied + lim->reply_interval <= now;
}

int
sc_state_replied(struct sc_state *st, const char *key, time_t now)
{
	struct rec *r;

	if ((r = find_add(st, key)) == NULL)
		return -1;
	r->replied = now;
	return 0;
}
