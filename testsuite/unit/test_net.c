/*
 * test_net.c -- net.c: every address form clamd_servers and spamd_servers
 * accept and the bad ones, the connect deadline against a listener whose
 * queue is full (SYNs are dropped: a local blackhole), a closed port, a
 * unix socket, fail-over along a list, the failure notes, and the send
 * deadline; a unix socket whose listen queue is full (busy, not down).
 */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "pool.h"
#include "util.h"

static void
test_parse(void **state)
{
	static const struct {
		const char *spec, *defport;
		int ok, is_unix;
		const char *host, *port;
	} t[] = {
		{ "127.0.0.1:783", "3310", 1, 0, "127.0.0.1", "783" },
		{ "127.0.0.1", "3310", 1, 0, "127.0.0.1", "3310" },
		{ "localhost", "783", 1, 0, "localhost", "783" },
		{ "spamd.example.org:10783", "783", 1, 0, "spamd.example.org",
		  "10783" },
		{ "[::1]:3310", "783", 1, 0, "::1", "3310" },
		{ "[::1]", "783", 1, 0, "::1", "783" },
		{ "[fe80::1%lo]:1", "783", 1, 0, "fe80::1%lo", "1" },
		{ "[localhost]:5", "783", 1, 0, "localhost", "5" },
		{ "unix:/run/clamav/clamd.ctl", "3310", 1, 1, NULL, NULL },
		{ "unix:relative.sock", "3310", 1, 1, NULL, NULL },
		/* bad */
		{ "", "783", 0, 0, NULL, NULL },
		{ "::1:783", "783", 0, 0, NULL, NULL },
		{ "::1", "783", 0, 0, NULL, NULL },
		{ "a:b:c", "783", 0, 0, NULL, NULL },
		{ "[::1", "783", 0, 0, NULL, NULL },
		{ "[::1]x", "783", 0, 0, NULL, NULL },
		{ "[::1]:", "783", 0, 0, NULL, NULL },
		{ "[]:783", "783", 0, 0, NULL, NULL },
		{ ":783", "783", 0, 0, NULL, NULL },
		{ "host:", "783", 0, 0, NULL, NULL },
		{ "host:abc", "783", 0, 0, NULL, NULL },
		{ "host:-1", "783", 0, 0, NULL, NULL },
		{ "host:12345678", "783", 0, 0, NULL, NULL },
		{ "host", NULL, 0, 0, NULL, NULL },
		{ "unix:", "783", 0, 0, NULL, NULL },
		{ "]", "783", 0, 0, NULL, NULL },
		{ "[a]b]:1", "783", 0, 0, NULL, NULL },
		{ "[[::1]]:1", "783", 0, 0, NULL, NULL },
		{ "ho st:1", "783", 0, 0, NULL, NULL },
		{ "host\t:1", "783", 0, 0, NULL, NULL },
		{ "[unix]:783", "1", 1, 0, "unix", "783" },
		{ "unix:783", "1", 1, 1, NULL, NULL },
	};
	struct net_addr a;
	char err[200], longp[300], longh[300];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err[0] = '\0';
		if ((net_parse(t[i].spec, t[i].defport, &a, err,
		    sizeof(err)) == 0) != t[i].ok)
			fail_msg("\"%s\": want %s, got err \"%s\"", t[i].spec,
			    t[i].ok ? "ok" : "refused", err);
		if (!t[i].ok) {
			assert_true(strncmp(err, "config: bad ", 12) == 0);
			continue;
		}
		assert_int_equal(a.is_unix, t[i].is_unix);
		if (t[i].is_unix) {
			assert_string_equal(a.path, t[i].spec + 5);
			continue;
		}
		assert_string_equal(a.host, t[i].host);
		assert_string_equal(a.port, t[i].port);
	}
	/* a socket path longer than sun_path, a host name of 256 bytes */
	memcpy(longp, "unix:/", 6);
	memset(longp + 6, 'p', sizeof(a.path));
	longp[6 + sizeof(a.path)] = '\0';
	assert_int_equal(net_parse(longp, "1", &a, err, sizeof(err)), -1);
	assert_string_equal(err, "config: bad socket path");
	longp[5 + sizeof(a.path) - 1] = '\0';	/* just fits */
	assert_int_equal(net_parse(longp, "1", &a, err, sizeof(err)), 0);
	memset(longh, 'h', 256);
	memcpy(longh + 256, ":1", 3);
	assert_int_equal(net_parse(longh, "1", &a, err, sizeof(err)), -1);
	longh[255] = '\0';
	assert_int_equal(net_parse(longh, "1", &a, err, sizeof(err)), 0);
	assert_int_equal(net_parse(NULL, "1", &a, err, sizeof(err)), -1);
	/* err may be NULL */
	assert_int_equal(net_parse("::1:1", "1", &a, NULL, 0), -1);
}

/* A listener on 127.0.0.1 (backlog as given, never accepting). */
static int
listener(int backlog, int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
test_connect(void **state)
{
	char srv[64], err[200];
	int lfd, port, fd, fill[64], nfill = 0, i;
	double t0, dt;

	/* closed port: refused at once */
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", unit_closed_port());
	assert_int_equal(net_connect(srv, "1", 1000, err, sizeof(err)), -1);
	assert_string_equal(err, "connect: Connection refused");
	/* bad address, unresolvable name */
	assert_int_equal(net_connect("::1:1", "1", 1000, err, sizeof(err)),
	    -1);
	assert_true(strncmp(err, "config: bad server", 18) == 0);
	assert_int_equal(net_connect("unix:/nonexistent/x.sock", "1", 1000,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "connect: No such file or directory");

	/* a listener: connected, non-blocking, close-on-exec */
	lfd = listener(8, &port);
	snprintf(srv, sizeof(srv), "[127.0.0.1]:%d", port);
	assert_true((fd = net_connect(srv, "1", 1000, err, sizeof(err))) !=
	    -1);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	close(lfd);

	/* blackhole: backlog 0, queue filled; the next SYN is dropped */
	lfd = listener(0, &port);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", port);
	for (i = 0; i < 64; i++) {
		struct sockaddr_in sin;
		struct pollfd pfd;

		fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		(void)connect(fill[nfill], (struct sockaddr *)&sin,
		    sizeof(sin));
		pfd.fd = fill[nfill++];
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 200) == 0)
			break;		/* this one hangs: queue full */
	}
	assert_true(i < 64);
	t0 = unit_now_s();
	assert_int_equal(net_connect(srv, "1", 400, err, sizeof(err)), -1);
	dt = unit_now_s() - t0;
	printf("blackhole: \"%s\" after %.3f s\n", err, dt);
	assert_string_equal(err, "timeout: connect");
	assert_true(dt >= 0.38 && dt < 1.5);
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
}

struct notes {
	int	 n;
	char	 last[300];
};

static void
note(void *arg, const char *server, const char *why)
{
	struct notes *ns = arg;

	ns->n++;
	snprintf(ns->last, sizeof(ns->last), "%s|%s", server, why);
}

/* pool_connect() without a pool: the list in order, from the untried. */
static void
test_failover(void **state)
{
	char s1[64], s3[64], path[108], *servers[4];
	unsigned char tried[4];
	struct sockaddr_un sun;
	struct notes ns;
	size_t i;
	int lfd, ufd, port, fd, paused;

	snprintf(s1, sizeof(s1), "127.0.0.1:%d", unit_closed_port());
	lfd = listener(8, &port);
	snprintf(s3, sizeof(s3), "localhost:%d", port);
	servers[0] = s1;
	servers[1] = NULL;		/* skipped */
	servers[2] = "unix:/nonexistent/spamd.sock";
	servers[3] = s3;
	memset(&ns, 0, sizeof(ns));
	memset(tried, 0, sizeof(tried));
	fd = pool_connect(NULL, servers, 4, POOL_FAILOVER, 0, tried, "1",
	    1000, note, &ns, &i, &paused);
	assert_true(fd != -1);
	assert_int_equal(i, 3);
	assert_int_equal(ns.n, 2);
	assert_false(paused);
	assert_string_equal(ns.last, "unix:/nonexistent/spamd.sock|connect: "
	    "No such file or directory");
	close(fd);
	/* the untried only: the next one after a failure */
	memset(&ns, 0, sizeof(ns));
	memset(tried, 1, 3);
	tried[3] = 0;
	assert_true((fd = pool_connect(NULL, servers, 4, POOL_FAILOVER, 0,
	    tried, "1", 1000, note, &ns, &i, &paused)) != -1);
	assert_int_equal(i, 3);
	assert_int_equal(ns.n, 0);
	close(fd);
	/* none left: every one tried once */
	memset(&ns, 0, sizeof(ns));
	memset(tried, 0, sizeof(tried));
	assert_int_equal(pool_connect(NULL, servers, 3, POOL_FAILOVER, 0,
	    tried, "1", 1000, note, &ns, &i, &paused), -1);
	assert_int_equal(ns.n, 2);
	assert_false(paused);
	assert_int_equal(pool_connect(NULL, servers, 0, POOL_FAILOVER, 0,
	    tried, "1", 1000, NULL, NULL, &i, &paused), -1);
	close(lfd);

	/* a unix socket, found after a dead one */
	snprintf(path, sizeof(path), "/tmp/test_net.%ld.sock", (long)getpid());
	ufd = unit_unix_bound(path, 4, &sun);
	snprintf(s3, sizeof(s3), "unix:%s", path);
	servers[0] = s1;
	servers[1] = s3;
	memset(tried, 0, sizeof(tried));
	assert_true((fd = pool_connect(NULL, servers, 2, POOL_FAILOVER, 0,
	    tried, "1", 1000, NULL, NULL, &i, &paused)) != -1);
	assert_int_equal(i, 1);
	close(fd);
	close(ufd);
	unlink(path);
}

static void
test_notes(void **state)
{
	char buf[40], small[12];
	struct net_err e = { buf, sizeof(buf) }, t = { small, sizeof(small) };

	buf[0] = '\0';
	net_note_all(&e, "a:1", "connect: refused");
	assert_string_equal(buf, "a:1: connect: refused");
	net_note_all(&e, "b:2", "timeout: connect");
	assert_string_equal(buf, "a:1: connect: refused; b:2: timeout: co");
	net_note_all(&e, "c:3", "more");	/* full: unchanged */
	assert_string_equal(buf, "a:1: connect: refused; b:2: timeout: co");
	net_note_last(&e, "c:3", "protocol: bad");
	assert_string_equal(buf, "protocol: bad (c:3)");
	small[0] = '\0';
	net_note_last(&t, "server", "a long reason");
	assert_string_equal(small, "a long reas");
	net_note_all(&(struct net_err){ NULL, 0 }, "x", "y");	/* no-op */
}

static void
test_sendv(void **state)
{
	static char big[1 << 20];
	struct iovec iov[2];
	int sv[2];
	double t0, dt;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	/* small: all of it, both vectors */
	iov[0].iov_base = "ab";
	iov[0].iov_len = 2;
	iov[1].iov_base = "cde";
	iov[1].iov_len = 3;
	assert_int_equal(net_sendv(sv[0], iov, 2, util_now_ms() + 1000), 0);
	{
		char got[8] = "";

		assert_int_equal(read(sv[1], got, sizeof(got)), 5);
		assert_memory_equal(got, "abcde", 5);
	}
	/* nobody reads: the deadline ends it */
	iov[0].iov_base = big;
	iov[0].iov_len = sizeof(big);
	t0 = unit_now_s();
	errno = 0;
	assert_int_equal(net_sendv(sv[0], iov, 1, util_now_ms() + 300), -1);
	dt = unit_now_s() - t0;
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(dt >= 0.28 && dt < 1.5);
	/* the peer is gone */
	close(sv[1]);
	iov[0].iov_base = big;
	iov[0].iov_len = 16;
	errno = 0;
	assert_int_equal(net_sendv(sv[0], iov, 1, util_now_ms() + 300), -1);
	assert_true(errno == EPIPE || errno == ECONNRESET);
	close(sv[0]);
}

/* Accepts one connection after 200 ms (a server that was busy). */
static void *
accept_late(void *arg)
{
	int fd;

	usleep(200000);
	fd = accept(*(int *)arg, NULL, NULL);
	return (void *)(long)fd;
}

/*
 * A local socket refuses at once (EAGAIN) while its listen queue is full,
 * as clamd's is under load (MaxConnectionQueueLength): that is a busy
 * server, so the connect waits for room until its deadline, and only a
 * queue that stays full fails, as a timeout.
 */
static void
test_unix_queue_full(void **state)
{
	char path[108], spec[120], err[128];
	struct sockaddr_un sun;
	int lfd, fill[16], nfill = 0, fd;
	pthread_t th;
	void *got;
	double t0, dt;

	snprintf(path, sizeof(path), "/tmp/test_net.q%ld.sock", (long)getpid());
	lfd = unit_unix_bound(path, 1, &sun);
	/* Fill the queue until the kernel says EAGAIN. */
	for (;;) {
		assert_true(nfill < 16);
		fill[nfill] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fill[nfill], (struct sockaddr *)&sun,
		    sizeof(sun)) == -1) {
			assert_int_equal(errno, EAGAIN);
			close(fill[nfill]);
			break;
		}
		nfill++;
	}
	snprintf(spec, sizeof(spec), "unix:%s", path);
	/* Full and staying full: a timeout, after the deadline. */
	t0 = unit_now_s();
	assert_int_equal(net_connect(spec, "1", 300, err, sizeof(err)), -1);
	dt = unit_now_s() - t0;
	assert_string_equal(err, "timeout: connect");
	assert_true(dt >= 0.28 && dt < 1.5);
	/* Room made after 200 ms: connected. */
	assert_int_equal(pthread_create(&th, NULL, accept_late, &lfd), 0);
	t0 = unit_now_s();
	fd = net_connect(spec, "1", 5000, err, sizeof(err));
	dt = unit_now_s() - t0;
	pthread_join(th, &got);
	if (fd == -1)
		fail_msg("connect: %s", err);
	assert_true(dt >= 0.15 && dt < 4.0);
	close(fd);
	if ((long)got >= 0)
		close((int)(long)got);
	while (nfill > 0)
		close(fill[--nfill]);
	close(lfd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_notes),
		cmocka_unit_test(test_sendv),
		cmocka_unit_test(test_unix_queue_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
