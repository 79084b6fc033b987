/*
 * net.c -- stream-socket client: addresses, deadlines (see
 * net.h).  Owns every client socket the filter opens (clamd.c, spamd.c).
 * Non-blocking sockets throughout; each wait polls on the time left
 * (CLOCK_MONOTONIC, so wall-clock jumps do not matter).
 * Failure: nothing is retried here beyond the addresses of one server
 * name (the servers of a list are pool.c's); reasons go back to the
 * caller.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "util.h"
#include "banned.h"

int
net_parse(const char *spec, const char *defport, struct net_addr *a,
    char *err, size_t errlen)
{
	const char *p, *colon;
	size_t hl, pl, i;

	memset(a, 0, sizeof(*a));
	if (spec == NULL)
		goto bad;
	if (strncmp(spec, "unix:", 5) == 0) {
		pl = strlen(spec + 5);
		if (pl == 0 || pl >= sizeof(a->path)) {
			util_seterr(err, errlen, "config: bad socket path");
			return -1;
		}
		a->is_unix = 1;
		memcpy(a->path, spec + 5, pl + 1);
		return 0;
	}
	if (spec[0] == '[') {
		if ((p = strchr(spec, ']')) == NULL)
			goto bad;
		hl = (size_t)(p - spec - 1);
		if (p[1] == '\0')
			colon = NULL;
		else if (p[1] == ':')
			colon = p + 1;
		else
			goto bad;
		p = spec + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon != NULL && strchr(spec, ':') != colon)
			goto bad;	/* a bare IPv6 address needs [] */
		hl = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
		p = spec;
	}
	if (hl == 0 || hl >= sizeof(a->host))
		goto bad;
	for (i = 0; i < hl; i++)	/* no NUL, blank, control or bracket */
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f ||
		    p[i] == '[' || p[i] == ']')
			goto bad;
	memcpy(a->host, p, hl);
	a->host[hl] = '\0';
	p = colon != NULL ? colon + 1 : defport;
	pl = p != NULL ? strlen(p) : 0;
	if (pl == 0 || pl >= sizeof(a->port) ||
	    strspn(p, "0123456789") != pl)
		goto bad;
	memcpy(a->port, p, pl + 1);
	return 0;
bad:
	util_seterr(err, errlen, "config: bad server \"%.64s\"",
	    spec != NULL ? spec : "");
	return -1;
}

int
net_wait(int fd, short events, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int r;

	for (;;) {
		left = deadline - util_now_ms();
		if (left <= 0)
			return 0;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > 1000000000 ? 1000000000 : (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		return r > 0 ? 1 : 0;
	}
}

/*
 * Connects a new non-blocking socket to sa before deadline; fd or -1.
 * A local socket whose listen queue is full refuses at once with EAGAIN
 * (TCP would retransmit the SYN): the server is busy, not down, so the
 * connect is retried, backing off from 1 to 32 ms, until the deadline.
 */
static int
connect_by(const struct sockaddr *sa, socklen_t salen, int proto,
    long long deadline)
{
	socklen_t sl;
	long long left;
	int fd, r, e, pause = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    proto);
	if (fd == -1)
		return -1;
	while ((r = connect(fd, sa, salen)) == -1 && errno == EAGAIN &&
	    sa->sa_family == AF_UNIX) {
		if ((left = deadline - util_now_ms()) <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		(void)poll(NULL, 0, left < pause ? (int)left : pause);
		if (pause < 32)
			pause *= 2;
	}
	if (r == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	if ((r = net_wait(fd, POLLOUT, deadline)) != 1) {
		if (r == 0)
			errno = ETIMEDOUT;
		goto fail;
	}
	e = 0;
	sl = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
		goto fail;
	if (e == 0)
		return fd;
	errno = e;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static void
conn_err(char *err, size_t errlen, int e)
{
	if (e == ETIMEDOUT)
		util_seterr(err, errlen, "timeout: connect");
	else
		util_seterr(err, errlen, "connect: %s", strerror(e));
}

int
net_connect(const char *spec, const char *defport, int timeout_ms,
    char *err, size_t errlen)
{
	long long deadline = util_now_ms() + timeout_ms;
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un sun;
	struct net_addr a;
	int fd = -1, e = ECONNREFUSED, one = 1, r;

	if (net_parse(spec, defport, &a, err, errlen) == -1)
		return -1;
	if (a.is_unix) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, a.path, sizeof(sun.sun_path));
		if ((fd = connect_by((struct sockaddr *)&sun, sizeof(sun), 0,
		    deadline)) == -1)
			conn_err(err, errlen, errno);
		return fd;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(a.host, a.port, &hints, &res)) != 0) {
		util_seterr(err, errlen, "resolve: %s", gai_strerror(r));
		return -1;
	}
	/* One deadline for the server: a timeout ends the walk. */
	for (ai = res; ai != NULL && fd == -1 && e != ETIMEDOUT;
	    ai = ai->ai_next)
		if ((fd = connect_by(ai->ai_addr, ai->ai_addrlen,
		    ai->ai_protocol, deadline)) == -1)
			e = errno;
	freeaddrinfo(res);
	if (fd == -1) {
		conn_err(err, errlen, e);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

void
net_note_last(void *arg, const char *server, const char *why)
{
	struct net_err *e = arg;

	util_seterr(e->err, e->errlen, "%s (%.100s)", why, server);
}

void
net_note_all(void *arg, const char *server, const char *why)
{
	struct net_err *e = arg;
	size_t n;

	if (e->err == NULL || e->errlen == 0)
		return;
	n = strnlen(e->err, e->errlen);
	if (n >= e->errlen - 1)
		return;
	if (n > 0 && n + 2 < e->errlen) {
		e->err[n++] = ';';
		e->err[n++] = ' ';
		e->err[n] = '\0';
	}
	snprintf(e->err + n, e->errlen - n, "%s: %s", server, why);
}

int
net_sendv(int fd, struct iovec *iov, int niov, long long deadline)
{
	struct msghdr mh;
	ssize_t w;
	int r;

	while (niov > 0) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)niov;
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			if ((r = net_wait(fd, POLLOUT, deadline)) == 1)
				continue;
			if (r == 0)
				errno = ETIMEDOUT;
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
