/*
 * clamd.c -- clamd INSTREAM client (see clamd.h).
 * Non-blocking sockets throughout; each operation polls on the time left
 * (CLOCK_MONOTONIC, so wall-clock jumps do not matter).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clamd.h"
#include "util.h"
#include "banned.h"

#define CHUNK_MAX	65536
#define REPLY_MAX	4096
#define JUNK_WAIT_MS	50	/* after the reply, wait this long for junk */

struct clamd_scan {
	const struct clamd_cfg	*cfg;
	int			 fd;
	int			 failed;	/* errno-like, sticky */
	int			 peer_closed;	/* clamd hung up mid-stream */
	int			 oversize;	/* max_stream cut the stream */
	size_t			 sent;
	char			 why[128];	/* reason when failed */
};

static int
left_ms(long long deadline)
{
	long long l = deadline - mc_now_ms();

	return l < 0 ? 0 : l > 1000000000 ? 1000000000 : (int)l;
}

/* Waits for ev; 1 ready, 0 timeout, -1 error. */
static int
wait_fd(int fd, short ev, long long deadline)
{
	struct pollfd pfd;
	int r;

	for (;;) {
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		r = poll(&pfd, 1, left_ms(deadline));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		return r > 0 ? 1 : 0;
	}
}

static void
append(char *err, size_t errlen, const char *a, const char *b)
{
	size_t n;

	if (err == NULL || errlen == 0)
		return;
	n = strnlen(err, errlen);
	if (n >= errlen - 1)
		return;
	if (n > 0 && n + 2 < errlen) {
		err[n++] = ';';
		err[n++] = ' ';
		err[n] = '\0';
	}
	snprintf(err + n, errlen - n, "%s: %s", a, b);
}

/* Connects fd (non-blocking) to sa within timeout; 0 or -1 + errno. */
static int
connect_to(int fd, const struct sockaddr *sa, socklen_t salen, int tmo)
{
	socklen_t sl;
	int r, e;

	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
	r = wait_fd(fd, POLLOUT, mc_now_ms() + tmo);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (r == -1)
		return -1;
	e = 0;
	sl = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
		return -1;
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

static int
open_server(const char *srv, int tmo, char *err, size_t errlen)
{
	char host[256];
	const char *port, *p;
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, r, one = 1;

	if (strncmp(srv, "unix:", 5) == 0) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(srv + 5) >= sizeof(sun.sun_path) || srv[5] == '\0') {
			append(err, errlen, srv, "bad socket path");
			return -1;
		}
		memcpy(sun.sun_path, srv + 5, strlen(srv + 5) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd == -1) {
			append(err, errlen, srv, strerror(errno));
			return -1;
		}
		if (connect_to(fd, (struct sockaddr *)&sun, sizeof(sun),
		    tmo) == -1) {
			append(err, errlen, srv, strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	}
	if (srv[0] == '[') {
		if ((p = strchr(srv, ']')) == NULL || p[1] != ':')
			goto bad;
		if ((size_t)(p - srv - 1) >= sizeof(host))
			goto bad;
		memcpy(host, srv + 1, (size_t)(p - srv - 1));
		host[p - srv - 1] = '\0';
		port = p + 2;
	} else {
		if ((p = strrchr(srv, ':')) == NULL ||
		    (size_t)(p - srv) >= sizeof(host))
			goto bad;
		memcpy(host, srv, (size_t)(p - srv));
		host[p - srv] = '\0';
		port = p + 1;
	}
	if (host[0] == '\0' || port[0] == '\0')
		goto bad;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		append(err, errlen, srv, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect_to(fd, ai->ai_addr, ai->ai_addrlen, tmo) == 0)
			break;
		append(err, errlen, srv, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd != -1)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
bad:
	append(err, errlen, srv, "bad server address");
	return -1;
}

static void
fail(struct clamd_scan *s, int e, const char *what)
{
	if (s->failed)
		return;
	s->failed = e ? e : EIO;
	snprintf(s->why, sizeof(s->why), "%s: %s", what,
	    e == ETIMEDOUT ? "timeout" : strerror(e));
}

/*
 * Sends the iovecs completely within read_timeout_ms.  0 ok, 1 peer
 * closed, -1 failed (s->failed set).
 */
static int
send_iov(struct clamd_scan *s, struct iovec *iov, int niov)
{
	long long deadline = mc_now_ms() + s->cfg->read_timeout_ms;
	struct msghdr mh;
	ssize_t w;
	int r;

	while (niov > 0) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)niov;
		w = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				r = wait_fd(s->fd, POLLOUT, deadline);
				if (r == 1)
					continue;
				fail(s, r == 0 ? ETIMEDOUT : errno, "write");
				return -1;
			}
			if (errno == EPIPE || errno == ECONNRESET) {
				s->peer_closed = 1;
				return 1;
			}
			fail(s, errno, "write");
			return -1;
		}
		while (niov > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			niov--;
		}
		if (niov > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

struct clamd_scan *
clamd_begin(const struct clamd_cfg *cfg, char *err, size_t errlen)
{
	struct clamd_scan *s;
	struct iovec iov;
	size_t i;
	int fd = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	for (i = 0; i < cfg->nservers && fd == -1; i++)
		fd = open_server(cfg->servers[i], cfg->connect_timeout_ms, err,
		    errlen);
	if (fd == -1) {
		if (cfg->nservers == 0)
			snprintf(err, errlen, "no clamd servers configured");
		return NULL;
	}
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "clamd: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	s->cfg = cfg;
	s->fd = fd;
	iov.iov_base = (void *)"zINSTREAM";
	iov.iov_len = sizeof("zINSTREAM");	/* with the NUL */
	if (send_iov(s, &iov, 1) != 0) {
		snprintf(err, errlen, "%s", s->failed ? s->why :
		    "connection closed by clamd");
		clamd_free(s);
		return NULL;
	}
	return s;
}

int
clamd_send(struct clamd_scan *s, const void *p, size_t n)
{
	const char *c = p;
	unsigned char hdr[4];
	struct iovec iov[2];
	size_t k;

	if (s->failed)
		return -1;
	if (s->oversize || s->peer_closed) {
		s->sent += n;
		return 0;
	}
	if (s->cfg->max_stream > 0 && s->sent + n > s->cfg->max_stream) {
		k = s->cfg->max_stream - s->sent;
		s->oversize = 1;
	} else
		k = n;
	s->sent += n;
	while (k > 0) {
		size_t m = k > CHUNK_MAX ? CHUNK_MAX : k;

		hdr[0] = (unsigned char)(m >> 24);
		hdr[1] = (unsigned char)(m >> 16);
		hdr[2] = (unsigned char)(m >> 8);
		hdr[3] = (unsigned char)m;
		iov[0].iov_base = hdr;
		iov[0].iov_len = 4;
		iov[1].iov_base = (void *)c;
		iov[1].iov_len = m;
		switch (send_iov(s, iov, 2)) {
		case -1:
			return -1;
		case 1:
			return 0;
		}
		c += m;
		k -= m;
	}
	return 0;
}

size_t
clamd_sent(const struct clamd_scan *s)
{
	return s->sent;
}

static void
sanitise(const char *p, size_t n, char *out, size_t outlen)
{
	size_t i, k = 0;

	if (outlen == 0)
		return;
	for (i = 0; i < n && k + 1 < outlen; i++)
		out[k++] = p[i] == ' ' ? '_' :
		    (p[i] > 0x20 && p[i] < 0x7f) ? p[i] : '?';
	out[k] = '\0';
}

enum clamd_result
clamd_parse_reply(const char *reply, size_t len, int oversize, char *virus,
    size_t vlen, char *err, size_t errlen)
{
	static const char ok[] = "stream: OK",
	    limit[] = "INSTREAM size limit exceeded. ERROR",
	    found[] = " FOUND", pfx[] = "stream: ";
	char safe[128];
	size_t i, line;

	if (virus != NULL && vlen > 0)
		virus[0] = '\0';
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "empty reply");
		return CLAMD_ERROR;
	}
	/* The line ends at the first NUL or newline, else at len. */
	for (line = 0; line < len && reply[line] != '\0' &&
	    reply[line] != '\n'; line++)
		;
	/* Only the terminator (and a trailing newline) may follow. */
	for (i = line; i < len; i++)
		if (reply[i] != '\0' && reply[i] != '\n') {
			sanitise(reply, len, safe, sizeof(safe));
			snprintf(err, errlen, "junk after reply: %s", safe);
			return CLAMD_ERROR;
		}
	if (line > 0 && reply[line - 1] == '\r')
		line--;

	if (line == sizeof(ok) - 1 && memcmp(reply, ok, line) == 0)
		return oversize ? CLAMD_OVERSIZE : CLAMD_CLEAN;
	if (line == sizeof(limit) - 1 && memcmp(reply, limit, line) == 0)
		return CLAMD_OVERSIZE;
	if (line > sizeof(pfx) - 1 + sizeof(found) - 1 &&
	    memcmp(reply, pfx, sizeof(pfx) - 1) == 0 &&
	    memcmp(reply + line - (sizeof(found) - 1), found,
	    sizeof(found) - 1) == 0) {
		const char *name = reply + sizeof(pfx) - 1;
		size_t nlen = line - (sizeof(pfx) - 1) - (sizeof(found) - 1);

		if (name[0] != ' ') {
			if (virus != NULL)
				sanitise(name, nlen, virus, vlen);
			return CLAMD_INFECTED;
		}
	}
	sanitise(reply, line, safe, sizeof(safe));
	snprintf(err, errlen, "unexpected reply: %s", safe);
	return CLAMD_ERROR;
}

enum clamd_result
clamd_end(struct clamd_scan *s, char *virus, size_t vlen, char *err,
    size_t errlen)
{
	char reply[REPLY_MAX];
	unsigned char zero[4] = { 0, 0, 0, 0 };
	struct iovec iov;
	long long deadline;
	size_t len = 0;
	ssize_t r;
	int w, eof = 0, done = 0;

	if (virus != NULL && vlen > 0)
		virus[0] = '\0';
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!s->failed && !s->peer_closed) {
		iov.iov_base = zero;
		iov.iov_len = 4;
		send_iov(s, &iov, 1);
	}
	if (s->failed) {
		snprintf(err, errlen, "%s", s->why);
		return CLAMD_ERROR;
	}

	/*
	 * Read until the line ends (NUL or newline), then briefly for junk
	 * after it; EOF also ends the line.
	 */
	deadline = mc_now_ms() + s->cfg->read_timeout_ms;
	while (!eof && len < REPLY_MAX) {
		if (done && wait_fd(s->fd, POLLIN, mc_now_ms() +
		    JUNK_WAIT_MS) != 1)
			break;
		w = done ? 1 : wait_fd(s->fd, POLLIN, deadline);
		if (w == 0) {
			snprintf(err, errlen, "read: timeout after %d ms",
			    s->cfg->read_timeout_ms);
			return CLAMD_ERROR;
		}
		if (w == -1) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			return CLAMD_ERROR;
		}
		r = recv(s->fd, reply + len, REPLY_MAX - len, 0);
		if (r == -1) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			snprintf(err, errlen, "read: %s", strerror(errno));
			return CLAMD_ERROR;
		}
		if (r == 0)
			eof = 1;
		if (!done && r > 0 &&
		    (memchr(reply + len, '\0', (size_t)r) != NULL ||
		    memchr(reply + len, '\n', (size_t)r) != NULL))
			done = 1;
		len += (size_t)r;
	}
	if (!done) {
		if (len == 0) {
			snprintf(err, errlen, "%s", s->peer_closed ?
			    "connection closed by clamd while sending" :
			    "connection closed by clamd without a reply");
			return CLAMD_ERROR;
		}
		if (len >= REPLY_MAX) {
			snprintf(err, errlen, "reply longer than %d bytes",
			    REPLY_MAX);
			return CLAMD_ERROR;
		}
	}
	return clamd_parse_reply(reply, len, s->oversize, virus, vlen, err,
	    errlen);
}

void
clamd_free(struct clamd_scan *s)
{
	if (s == NULL)
		return;
	if (s->fd != -1)
		close(s->fd);
	free(s);
}

const char *
clamd_result_str(enum clamd_result r)
{
	switch (r) {
	case CLAMD_CLEAN:
		return "clean";
	case CLAMD_INFECTED:
		return "infected";
	case CLAMD_OVERSIZE:
		return "oversize";
	case CLAMD_ERROR:
		return "error";
	}
	return "unknown";
}

void
clamd_breaker_init(struct clamd_breaker *b, unsigned threshold,
    unsigned backoff)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
	b->threshold = threshold ? threshold : CLAMD_BREAKER_THRESHOLD;
	b->backoff = backoff ? backoff : CLAMD_BREAKER_BACKOFF;
}

/*
 * Changes the threshold and back-off of a breaker in use (a reload), under
 * its lock, keeping its state; 0 keeps the default.
 */
void
clamd_breaker_set(struct clamd_breaker *b, unsigned threshold,
    unsigned backoff)
{
	pthread_mutex_lock(&b->mu);
	b->threshold = threshold ? threshold : CLAMD_BREAKER_THRESHOLD;
	b->backoff = backoff ? backoff : CLAMD_BREAKER_BACKOFF;
	pthread_mutex_unlock(&b->mu);
}

int
clamd_breaker_allow(struct clamd_breaker *b, time_t now)
{
	int ok;

	pthread_mutex_lock(&b->mu);
	if (b->fails < (b->threshold ? b->threshold :
	    CLAMD_BREAKER_THRESHOLD))
		ok = 1;
	else if (now < b->open_until)
		ok = 0;
	else if (b->trial && now < b->trial_at + (time_t)b->backoff)
		ok = 0;			/* one trial at a time */
	else {
		ok = 1;
		b->trial = 1;
		b->trial_at = now;
	}
	pthread_mutex_unlock(&b->mu);
	return ok;
}

void
clamd_breaker_report(struct clamd_breaker *b, int ok, time_t now)
{
	unsigned th;

	pthread_mutex_lock(&b->mu);
	th = b->threshold ? b->threshold : CLAMD_BREAKER_THRESHOLD;
	b->trial = 0;
	if (ok) {
		b->fails = 0;
		b->open_until = 0;
	} else {
		if (b->fails < th)
			b->fails++;
		if (b->fails >= th)
			b->open_until = now + (time_t)(b->backoff ?
			    b->backoff : CLAMD_BREAKER_BACKOFF);
	}
	pthread_mutex_unlock(&b->mu);
}
