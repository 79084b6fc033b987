/*
 * unit.h -- common includes for the cmocka unit tests, and the helpers
 * the socket tests share (a monotonic clock in seconds, a TCP socket
 * bound on 127.0.0.1, a port there that nothing listens on).
 * cmocka needs these system headers before <cmocka.h>.
 */
#ifndef MC_UNIT_H
#define MC_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double
unit_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A TCP socket bound to a free port on 127.0.0.1 (*port), listening with
 * backlog when backlog > 0.
 */
static inline int
unit_bound(int backlog, int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (backlog > 0)
		assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * A unix stream socket bound to path (removed first) and listening with
 * backlog; its address in *sun, for connect().
 */
static inline int
unit_unix_bound(const char *path, int backlog, struct sockaddr_un *sun)
{
	int fd;

	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd != -1);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun->sun_path));
	memcpy(sun->sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)sun, sizeof(*sun)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* A port on 127.0.0.1 with nothing listening (bound, then closed). */
static inline int
unit_closed_port(void)
{
	int port;

	close(unit_bound(0, &port));
	return port;
}

#endif
