/*
 * spamd.c -- the spamd (SPAMC/1.5 CHECK and TELL) client and the request
 * it sends (see spamd.h).  Owns the conversation with spamd: what is sent
 * (the header block and the text of the message, spamd_request) and how
 * the reply is read; sockets and deadlines are net.c's, which server of
 * spamd_servers pool.c's (spamd_pool below).
 * Ownership: the caller's configuration, message and result buffers; the
 * reply buffer lives only during one request.
 * Failure: a server that does not connect, times out or answers garbage
 * is counted by its breaker and left for the next pick; after the last,
 * -1 with that reason.  When every server left is paused they are asked
 * anyway, in list order: spamd's failure is answered per message
 * (on_spamd_failure), never by a pause.  Raw
 * replies never leave this file, only a verdict and a short reason.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mime.h"
#include "net.h"
#include "pool.h"
#include "scan.h"
#include "smfopts.h"
#include "spamd.h"
#include "spool.h"
#include "util.h"
#include "banned.h"

#define SPAMD_HDR_MAX	(64 * 1024)	/* reply header block read */

static size_t
skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && util_isspace((unsigned char)s[i]))
		i++;
	return i;
}

/*
 * From s[*i]: blanks, the separator sep, blanks and a decimal number into
 * *v; *i moves past the number.  0, or -1.
 */
static int
sep_decimal(const char *s, size_t n, size_t *i, int sep, double *v)
{
	size_t k = skip_ws(s, *i, n), u;

	if (k >= n || s[k] != sep)
		return -1;
	k = skip_ws(s, k + 1, n);
	if ((u = util_parse_decimal(s + k, n - k, v)) == 0)
		return -1;
	*i = k + u;
	return 0;
}

/* "Spam: True ; 15.0 / 5.0".  0, or -1. */
static int
parse_spam_value(const char *s, size_t n, struct spamd_result *res)
{
	size_t i, j;

	i = skip_ws(s, 0, n);
	for (j = i; j < n && isalpha((unsigned char)s[j]); j++)
		;
	if ((j - i == 4 && strncasecmp(s + i, "true", 4) == 0) ||
	    (j - i == 3 && strncasecmp(s + i, "yes", 3) == 0))
		res->is_spam = 1;
	else if ((j - i == 5 && strncasecmp(s + i, "false", 5) == 0) ||
	    (j - i == 2 && strncasecmp(s + i, "no", 2) == 0))
		res->is_spam = 0;
	else
		return -1;
	i = j;
	if (sep_decimal(s, n, &i, ';', &res->score) == -1 ||
	    sep_decimal(s, n, &i, '/', &res->threshold) == -1)
		return -1;
	return skip_ws(s, i, n) == n ? 0 : -1;
}

/*
 * Parses the reply header block.  CHECK (learned NULL): a Spam header is
 * required, its verdict into *res.  TELL (learned not NULL): the status is
 * all that is required; *learned is 1 when a DidSet header names "local".
 * 0, or -1 with err set.
 */
static int
parse_reply(const char *r, size_t n, struct spamd_result *res, int *learned,
    char *err, size_t errlen)
{
	const char *nl, *line, *colon;
	size_t i = 0, ll, j, k, d;
	int first = 1, have_spam = 0;

	while (i < n) {
		line = r + i;
		nl = memchr(line, '\n', n - i);
		ll = nl ? (size_t)(nl - line) : n - i;
		i += ll + (nl != NULL);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (first) {
			/* SPAMD/1.1 0 EX_OK */
			first = 0;
			if (ll < 8 || memcmp(line, "SPAMD/", 6) != 0) {
				util_seterr(err, errlen, "protocol: not a spamd "
				    "reply");
				return -1;
			}
			for (j = 6; j < ll && (isdigit((unsigned char)line[j]) ||
			    line[j] == '.'); j++)
				;
			if (j == 6 || j >= ll || line[j] != ' ') {
				util_seterr(err, errlen, "protocol: bad status line");
				return -1;
			}
			for (k = ++j; k < ll && isdigit((unsigned char)line[k]);
			    k++)
				;
			if (k == j || k - j > 4) {
				util_seterr(err, errlen, "protocol: bad status line");
				return -1;
			}
			if (k - j != 1 || line[j] != '0') {
				util_seterr(err, errlen, "protocol: status %.*s",
				    (int)(k - j), line + j);
				return -1;
			}
			continue;
		}
		if (ll == 0)
			break;		/* end of headers */
		if ((colon = memchr(line, ':', ll)) == NULL) {
			util_seterr(err, errlen, "protocol: bad header line");
			return -1;
		}
		j = (size_t)(colon - line);
		if (learned != NULL && j == 6 &&
		    strncasecmp(line, "DidSet", 6) == 0) {
			if (memmem(colon + 1, ll - j - 1, "local", 5) != NULL)
				*learned = 1;
		} else if (learned == NULL && j == 4 &&
		    strncasecmp(line, "Spam", 4) == 0) {
			if (have_spam++ || parse_spam_value(colon + 1,
			    ll - j - 1, res) == -1) {
				util_seterr(err, errlen, "protocol: bad Spam header");
				return -1;
			}
		} else if (j == 14 &&
		    strncasecmp(line, "Content-length", 14) == 0) {
			for (k = j + 1; k < ll && util_isspace((unsigned char)line[k]);
			    k++)
				;
			/* Bounded: the line need not be NUL-terminated. */
			for (d = k; d < ll && line[d] >= '0' && line[d] <= '9';
			    d++)
				;
			if (k == ll || d < ll || ll - k > 12) {
				util_seterr(err, errlen, "protocol: bad "
				    "Content-length");
				return -1;
			}
		}
	}
	if (first) {
		util_seterr(err, errlen, "protocol: empty reply");
		return -1;
	}
	if (!have_spam && learned == NULL) {
		util_seterr(err, errlen, "protocol: no Spam header");
		return -1;
	}
	return 0;
}

int
spamd_parse_reply(const char *r, size_t n, struct spamd_result *res,
    char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(res, 0, sizeof(*res));
	if (parse_reply(r, n, res, NULL, err, errlen) == -1) {
		memset(res, 0, sizeof(*res));
		return -1;
	}
	return 0;
}

int
spamd_parse_tell(const char *r, size_t n, int *learned, char *err,
    size_t errlen)
{
	struct spamd_result res;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	*learned = 0;
	memset(&res, 0, sizeof(res));
	if (parse_reply(r, n, &res, learned, err, errlen) == -1) {
		*learned = 0;
		return -1;
	}
	return 0;
}

/*
 * What one request asks: CHECK (learned NULL, the verdict into res) or
 * TELL (its extra headers, the outcome into *learned).
 */
struct ask {
	const char		*verb;		/* "CHECK", "TELL" */
	const char		*extra;		/* header lines, CRLF each */
	struct spamd_result	*res;
	int			*learned;	/* TELL only */
};

/* One request on a connected fd.  0, or -1 with err set. */
static int
spamd_one(int fd, const struct spamd_cfg *cfg, const struct ask *a,
    const char *user, const char *msg, size_t len, char *err, size_t errlen)
{
	char hdr[512], *rb = NULL;
	struct iovec iov[2];
	size_t rl = 0;
	long long deadline = util_now_ms() + cfg->read_timeout_ms;
	ssize_t r;
	int n, w, rc = -1;

	n = snprintf(hdr, sizeof(hdr), "%s SPAMC/1.5\r\nContent-length: %zu"
	    "\r\n%s%s%s%s\r\n", a->verb, len, a->extra,
	    user[0] != '\0' ? "User: " : "", user,
	    user[0] != '\0' ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		util_seterr(err, errlen, "config: request header too long");
		return -1;
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)n;
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	if (net_sendv(fd, iov, 2, deadline) == -1) {
		if (errno == ETIMEDOUT)
			util_seterr(err, errlen, "timeout");
		else
			util_seterr(err, errlen, "send: %s", strerror(errno));
		return -1;
	}
	(void)shutdown(fd, SHUT_WR);

	if ((rb = malloc(SPAMD_HDR_MAX + 1)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		if (rl >= SPAMD_HDR_MAX) {
			util_seterr(err, errlen,
			    "protocol: reply headers too long");
			goto out;
		}
		r = recv(fd, rb + rl, SPAMD_HDR_MAX - rl, 0);
		if (r > 0) {
			size_t from = rl > 3 ? rl - 3 : 0;

			rl += (size_t)r;
			rb[rl] = '\0';
			/* End of the header block? */
			if (memmem(rb + from, rl - from, "\r\n\r\n", 4) ||
			    memmem(rb + (from ? from + 1 : 0),
			    rl - (from ? from + 1 : 0), "\n\n", 2))
				break;
			continue;
		}
		if (r == 0)
			break;		/* EOF ends the headers too */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((w = net_wait(fd, POLLIN, deadline)) == 1)
				continue;
			if (w == 0)
				util_seterr(err, errlen, "timeout");
			else
				util_seterr(err, errlen, "recv: %s",
				    strerror(errno));
			goto out;
		}
		util_seterr(err, errlen, "recv: %s", strerror(errno));
		goto out;
	}
	if (parse_reply(rb, rl, a->res, a->learned, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	free(rb);
	return rc;
}

/* The spamd servers' pool: each one's breaker and load, kept across
   reloads (keyed by name) and shared by every thread. */
static struct pool spamd_pool = POOL_INIT("spamd");

/*
 * Asks the servers the pool picks until one answers a->verb; the
 * answering server's name into a->res->server.  0, or -1 with the last
 * reason.
 */
static int
spamd_ask(const struct spamd_cfg *cfg, const struct ask *a, const char *user,
    const char *msg, size_t len, char *err, size_t errlen)
{
	struct net_err lw = { err, errlen };
	char u[256], why[200];
	unsigned char *tried;
	size_t i, n = 0;
	int fd, paused;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(a->res, 0, sizeof(*a->res));
	if (cfg == NULL || cfg->nservers == 0 || cfg->servers == NULL) {
		util_seterr(err, errlen, "config: no spamd server");
		return -1;
	}
	/* User: printable ASCII without spaces, at most 255 bytes. */
	for (i = 0; user != NULL && user[i] != '\0' && n < sizeof(u) - 1; i++)
		if ((unsigned char)user[i] > 0x20 &&
		    (unsigned char)user[i] < 0x7f)
			u[n++] = user[i];
	u[n] = '\0';
	if (msg == NULL)
		len = 0;
	if (cfg->max_size > 0 && len > cfg->max_size)
		len = cfg->max_size;
	if ((tried = calloc(cfg->nservers, 1)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	pool_set(&spamd_pool, cfg->max_failures, cfg->backoff);
	while ((fd = pool_connect(&spamd_pool, cfg->servers, cfg->nservers,
	    (enum pool_balance)cfg->balance, 1, tried, DEF_SPAMD_PORT,
	    cfg->connect_timeout_ms, net_note_last, &lw, &i, &paused)) != -1) {
		memset(a->res, 0, sizeof(*a->res));
		if (a->learned != NULL)
			*a->learned = 0;
		why[0] = '\0';
		if (spamd_one(fd, cfg, a, u, msg, len, why,
		    sizeof(why)) == 0) {
			close(fd);
			pool_done(&spamd_pool, cfg->servers[i], POOL_OK,
			    time(NULL));
			free(tried);
			(void)snprintf(a->res->server, sizeof(a->res->server),
			    "%s", cfg->servers[i]);
			return 0;
		}
		close(fd);
		pool_done(&spamd_pool, cfg->servers[i], POOL_FAIL, time(NULL));
		net_note_last(&lw, cfg->servers[i], why);
	}
	free(tried);
	memset(a->res, 0, sizeof(*a->res));
	if (a->learned != NULL)
		*a->learned = 0;
	return -1;
}

int
spamd_check(const struct spamd_cfg *cfg, const char *user, const char *msg,
    size_t len, struct spamd_result *res, char *err, size_t errlen)
{
	const struct ask a = { "CHECK", "", res, NULL };

	return spamd_ask(cfg, &a, user, msg, len, err, errlen);
}

int
spamd_tell(const struct spamd_cfg *cfg, const char *user, int spam,
    const char *msg, size_t len, struct spamd_tell_result *t, char *err,
    size_t errlen)
{
	struct spamd_result res;
	const struct ask a = { "TELL", spam ?
	    "Message-class: spam\r\nSet: local\r\n" :
	    "Message-class: ham\r\nSet: local\r\n", &res, &t->learned };
	int rc;

	rc = spamd_ask(cfg, &a, user, msg, len, err, errlen);
	memcpy(t->server, res.server, sizeof(t->server));
	return rc;
}

/* ---- the request ------------------------------------------------- */

struct capped {
	struct buf	*out;
	size_t		 max;
};

/* spool_copy()'s consumer: append, up to max bytes in all. */
static int
add_capped(void *arg, const char *p, size_t n)
{
	struct capped *c = arg;

	if (n > c->max - c->out->len)
		n = c->max - c->out->len;
	if (buf_add(c->out, p, n) == -1)
		return -1;
	return c->out->len >= c->max ? 1 : 0;
}

/* Appends spool bytes [from, to), capped at max bytes in out. */
static int
add_spool(struct spool *sp, struct buf *out, uint64_t from, uint64_t to,
    size_t max)
{
	struct capped c = { out, max };

	if (out->len >= max)
		return 0;
	return spool_copy(sp, from, to, add_capped, &c);
}

int
spamd_request(const struct scan *sc, size_t max, struct buf *out)
{
	const struct mime_part *p;
	struct spool *sp = scan_spool(sc);
	unsigned i, n;
	uint64_t pos = 0, end = spool_size(sp);

	p = scan_parts(sc, &n);
	for (i = 0; i < n && out->len < max; i++) {
		if ((p[i].flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) ||
		    strncmp(p[i].type, "text/", 5) == 0 ||
		    p[i].body_start < pos || p[i].body_end <= p[i].body_start)
			continue;
		/* A non-text leaf: keep its headers, leave its content out. */
		if (add_spool(sp, out, pos, p[i].body_start, max) == -1)
			return -1;
		pos = p[i].body_end;
	}
	if (add_spool(sp, out, pos, end, max) == -1)
		return -1;
	return 0;
}
