/*
 * test_clamd.c -- clamd client.  Fake servers (a thread in this process)
 * for faults the real clamd cannot be made to show: a hang, garbage, the
 * size-limit reply, junk after the reply, an early close.  When
 * CLAMD_TEST_PORT is set (testsuite/stack/clamd.sh start), the real clamd
 * on 127.0.0.1:$CLAMD_TEST_PORT: EICAR, clean bytes, a clamav-testfiles
 * sample, our max_stream cap, failover from a closed port.  A pool fake
 * (a thread per connection, counting them) for clamd_max_connections.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clamd.h"
#include "conf.h"
#include "confsnap.h"
#include "log.h"
#include "pool.h"
#include "scan.h"
#include "util.h"

#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-" \
	"TEST-FILE!$H+H*"

struct fake {
	int		 lfd;
	int		 port;
	const char	*reply;		/* NULL: never answer */
	size_t		 replylen;
	int		 close_early;	/* close after reading the command */
	int		 slow_ms;	/* pause before each chunk; 8 s at most */
	size_t		 got;		/* payload bytes received */
	int		 terminated;	/* saw the zero-length chunk */
	pthread_t	 th;
};

static int
readn(int fd, void *p, size_t n)
{
	char *c = p;
	ssize_t r;

	while (n > 0) {
		if ((r = read(fd, c, n)) <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	unsigned char h[4], buf[65536];
	char cmd[10];
	uint32_t n;
	double t0;
	int fd;

	if ((fd = accept(f->lfd, NULL, NULL)) == -1)
		return NULL;
	if (readn(fd, cmd, sizeof(cmd)) == -1 ||
	    memcmp(cmd, "zINSTREAM", 10) != 0)
		goto out;
	if (f->close_early)
		goto reply;
	t0 = unit_now_s();
	for (;;) {
		if (f->slow_ms > 0) {
			if (unit_now_s() - t0 > 8.0)
				goto out;
			usleep((useconds_t)f->slow_ms * 1000);
		}
		if (readn(fd, h, 4) == -1)
			goto out;
		n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		    (uint32_t)h[2] << 8 | h[3];
		if (n == 0) {
			f->terminated = 1;
			break;
		}
		if (n > sizeof(buf))
			goto out;
		if (readn(fd, buf, n) == -1)
			goto out;
		f->got += n;
	}
reply:
	if (f->reply == NULL) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		poll(&pfd, 1, 10000);	/* hang until the client leaves */
		goto out;
	}
	(void)write(fd, f->reply, f->replylen);
out:
	close(fd);
	return NULL;
}

static void
fake_start(struct fake *f, const char *reply, size_t len)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((f->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
	f->reply = reply;
	f->replylen = len;
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
}

/*
 * The pool fake: accepts any number of connections, each in its own
 * thread, holds each scan hold_ms after the terminator, then answers
 * "stream: OK".  cur counts the connections accepted and not yet answered
 * (it drops before the answer, so a client's slot always outlives it);
 * max is the most at once.
 */
struct fakepool {
	int		 lfd;
	int		 port;
	int		 hold_ms;
	pthread_mutex_t	 mu;
	int		 cur, max, total, live;
	int		 stop;
	pthread_t	 th;
};

struct fakepool_conn {
	struct fakepool	*p;
	int		 fd;
};

static void *
fakepool_serve(void *arg)
{
	struct fakepool_conn *c = arg;
	struct fakepool *p = c->p;
	unsigned char h[4], buf[4096];
	char cmd[10];
	uint32_t n;
	int ok = readn(c->fd, cmd, sizeof(cmd)) == 0 &&
	    memcmp(cmd, "zINSTREAM", 10) == 0;

	while (ok) {
		if (readn(c->fd, h, 4) == -1) {
			ok = 0;
			break;
		}
		n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		    (uint32_t)h[2] << 8 | h[3];
		if (n == 0)
			break;
		if (n > sizeof(buf) || readn(c->fd, buf, n) == -1)
			ok = 0;
	}
	if (ok)
		usleep((useconds_t)p->hold_ms * 1000);
	pthread_mutex_lock(&p->mu);
	p->cur--;
	pthread_mutex_unlock(&p->mu);
	if (ok)
		(void)write(c->fd, "stream: OK", 11);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&p->mu);
	p->live--;
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void *
fakepool_main(void *arg)
{
	struct fakepool *p = arg;
	struct pollfd pfd = { p->lfd, POLLIN, 0 };
	struct fakepool_conn *c;
	pthread_t th;
	int fd;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		fd = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (fd)
			break;
		if (poll(&pfd, 1, 50) != 1 ||
		    (fd = accept(p->lfd, NULL, NULL)) == -1)
			continue;
		c = malloc(sizeof(*c));
		assert_non_null(c);
		c->p = p;
		c->fd = fd;
		pthread_mutex_lock(&p->mu);
		if (++p->cur > p->max)
			p->max = p->cur;
		p->total++;
		p->live++;
		pthread_mutex_unlock(&p->mu);
		assert_int_equal(pthread_create(&th, NULL, fakepool_serve, c), 0);
		pthread_detach(th);
	}
	return NULL;
}

static void
fakepool_start(struct fakepool *p, int hold_ms)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	p->hold_ms = hold_ms;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((p->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(p->lfd, 128), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sin, &sl), 0);
	p->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&p->th, NULL, fakepool_main, p), 0);
}

static void
fakepool_stop(struct fakepool *p)
{
	int live;

	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	do {
		pthread_mutex_lock(&p->mu);
		live = p->live;
		pthread_mutex_unlock(&p->mu);
		if (live > 0)
			usleep(10000);
	} while (live > 0);
	close(p->lfd);
	pthread_mutex_destroy(&p->mu);
}

/* Scans data against servers; returns the result, virus and err. */
static int fd_passing;		/* scan()'s clamd_fd_passing */

static enum clamd_result
scan(char **servers, size_t n, size_t max, const void *data, size_t len,
    size_t chunk, char *virus, size_t vlen, char *err, size_t elen)
{
	struct clamd_cfg cfg = { servers, n, 1000, 1000, max, 0, fd_passing,
	    0, 0, 0 };
	struct clamd_scan *s;
	enum clamd_result r;
	size_t i, k;

	if ((s = clamd_begin(&cfg, NULL, NULL, err, elen)) == NULL)
		return CLAMD_ERROR;
	for (i = 0; i < len; i += k) {
		k = len - i < chunk ? len - i : chunk;
		if (clamd_send(s, (const char *)data + i, k) == -1)
			break;
	}
	r = clamd_end(s, virus, vlen, err, elen);
	clamd_free(s);
	return r;
}

static enum clamd_result
fake_scan(const char *reply, size_t rlen, char *virus, char *err,
    struct fake *f)
{
	char srv[64], *servers[1] = { srv };
	enum clamd_result r;

	memset(f, 0, sizeof(*f));
	fake_start(f, reply, rlen);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f->port);
	r = scan(servers, 1, 0, "hello world", 11, 4, virus, 256, err, 256);
	fake_stop(f);
	return r;
}

static void
test_fake_replies(void **state)
{
	static const struct {
		const char		*reply;
		size_t			 len;
		enum clamd_result	 want;
		const char		*virus;
	} t[] = {
		{ "stream: OK", 11, CLAMD_CLEAN, "" },
		{ "stream: OK\n", 11, CLAMD_CLEAN, "" },
		{ "stream: Eicar-Test FOUND", 25, CLAMD_INFECTED,
		    "Eicar-Test" },
		{ "stream: Bad\x01\xff" "Name FOUND", 24, CLAMD_INFECTED,
		    "Bad??Name" },
		{ "INSTREAM size limit exceeded. ERROR", 36, CLAMD_OVERSIZE,
		    "" },
		{ "ERROR", 6, CLAMD_ERROR, "" },
		{ "stream: OK\0junk", 16, CLAMD_ERROR, "" },
		{ "\x89PNG garbage\r\n", 15, CLAMD_ERROR, "" },
		{ "stream: FOUND", 14, CLAMD_ERROR, "" },
		{ "stream:  FOUND", 15, CLAMD_ERROR, "" },
		{ "", 0, CLAMD_ERROR, "" },		/* closed, no reply */
		{ "stream: OK", 10, CLAMD_CLEAN, "" },	/* EOF ends it */
	};
	char virus[256], err[256];
	struct fake f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum clamd_result r = fake_scan(t[i].reply, t[i].len, virus,
		    err, &f);

		if (r != t[i].want)
			fail_msg("reply %zu: got %s want %s (%s)", i,
			    clamd_result_str(r), clamd_result_str(t[i].want),
			    err);
		assert_string_equal(virus, t[i].virus);
		assert_int_equal(f.got, 11);
		assert_true(f.terminated);
		if (r == CLAMD_ERROR)
			assert_true(err[0] != '\0');
	}
	/* A huge reply is cut at 4 KiB. */
	{
		static char big[8192];

		memset(big, 'A', sizeof(big));
		assert_int_equal(fake_scan(big, sizeof(big), virus, err, &f),
		    CLAMD_ERROR);
	}
}

/*
 * FS-06: each reply maps to exactly one result, with and without our own
 * max_stream cut (oversize), straight through clamd_parse_reply().
 */
static void
test_parse_table(void **state)
{
	static const struct {
		const char		*reply;
		size_t			 len;
		enum clamd_result	 want;	/* and with oversize set: */
		enum clamd_result	 want_over;
		const char		*virus;
	} t[] = {
		{ "stream: OK", 10, CLAMD_CLEAN, CLAMD_OVERSIZE, "" },
		{ "stream: OK\0", 11, CLAMD_CLEAN, CLAMD_OVERSIZE, "" },
		{ "fd[12]: OK\0", 11, CLAMD_CLEAN, CLAMD_OVERSIZE, "" },
		{ "fd[3]: Eicar FOUND\0", 19, CLAMD_INFECTED,
		    CLAMD_INFECTED, "Eicar" },
		{ "fd[]: OK\0", 9, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "fd[1x]: OK\0", 11, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "fd[12] OK\0", 10, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "fd[12]: FOUND\0", 14, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "fd[12]:  x FOUND\0", 17, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "stream: OK\n", 11, CLAMD_CLEAN, CLAMD_OVERSIZE, "" },
		{ "stream: OK\r\n\0", 13, CLAMD_CLEAN, CLAMD_OVERSIZE, "" },
		{ "stream: Eicar-Signature FOUND\0", 30, CLAMD_INFECTED,
		    CLAMD_INFECTED, "Eicar-Signature" },
		{ "stream: A b\x01\x80 FOUND\n", 20, CLAMD_INFECTED,
		    CLAMD_INFECTED, "A_b??" },
		{ "INSTREAM size limit exceeded. ERROR\0", 36, CLAMD_OVERSIZE,
		    CLAMD_OVERSIZE, "" },
		{ "INSTREAM size limit exceeded. ERROR\r\n", 37,
		    CLAMD_OVERSIZE, CLAMD_OVERSIZE, "" },
		{ "ERROR\0", 6, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "UNKNOWN COMMAND\0", 16, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "stream: OK\0junk", 15, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "stream: X FOUND\0stream: OK\0", 27, CLAMD_ERROR,
		    CLAMD_ERROR, "" },
		{ "stream: OK \0", 12, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "stream: ok\0", 11, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "stream: FOUND\0", 14, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "stream:  FOUND\0", 15, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "stream:  x FOUND\0", 17, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "\0", 1, CLAMD_ERROR, CLAMD_ERROR, "" },
		{ "", 0, CLAMD_ERROR, CLAMD_ERROR, "" },
	};
	char virus[256], err[256], *copy;
	enum clamd_result r;
	size_t i;
	int over;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (over = 0; over < 2; over++) {
			copy = malloc(t[i].len ? t[i].len : 1);
			assert_non_null(copy);
			memcpy(copy, t[i].reply, t[i].len);
			r = clamd_parse_reply(copy, t[i].len, over, virus,
			    sizeof(virus), err, sizeof(err));
			free(copy);
			if (r != (over ? t[i].want_over : t[i].want))
				fail_msg("reply %zu/%d: got %s (%s)", i, over,
				    clamd_result_str(r), err);
			assert_string_equal(virus, t[i].virus);
			if (r == CLAMD_ERROR)
				assert_true(err[0] != '\0');
			else
				assert_string_equal(err, "");
		}
	/* A short virus buffer: the name is cut, still terminated. */
	assert_int_equal(clamd_parse_reply("stream: Eicar FOUND", 19, 0, virus,
	    4, err, sizeof(err)), CLAMD_INFECTED);
	assert_string_equal(virus, "Eic");
	/* Raw bytes never reach err. */
	assert_int_equal(clamd_parse_reply("bad\r\x1b[2J\n", 9, 0, virus,
	    sizeof(virus), err, sizeof(err)), CLAMD_ERROR);
	assert_string_equal(err, "unexpected reply: bad??[2J");
}

/*
 * The FILDES fake on a unix socket: "zFILDES\0", then one byte with a
 * descriptor; it reads that file from offset 0 into got and answers
 * reply.  Anything else (an INSTREAM) gets no answer: the client fails.
 */
struct fdfake {
	int		 lfd;
	const char	*reply;
	char		 got[64];
	ssize_t		 gotlen;	/* -1: no descriptor came */
	pthread_t	 th;
};

static void *
fdfake_main(void *arg)
{
	struct fdfake *f = arg;
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;
	char cmd[8], one;
	struct iovec iov = { &one, 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	int fd, pfd;

	f->gotlen = -1;
	if ((fd = accept(f->lfd, NULL, NULL)) == -1)
		return NULL;
	if (readn(fd, cmd, sizeof(cmd)) == -1 ||
	    memcmp(cmd, "zFILDES", 8) != 0)
		goto out;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	if (recvmsg(fd, &mh, 0) != 1 || (cm = CMSG_FIRSTHDR(&mh)) == NULL ||
	    cm->cmsg_type != SCM_RIGHTS)
		goto out;
	memcpy(&pfd, CMSG_DATA(cm), sizeof(int));
	f->gotlen = pread(pfd, f->got, sizeof(f->got), 0);
	close(pfd);
	(void)write(fd, f->reply, strlen(f->reply) + 1);
out:
	close(fd);
	return NULL;
}

static enum clamd_result
fdfake_scan(struct fdfake *f, const char *reply, int pass, size_t max,
    char *virus, char *err)
{
	char path[64], srv[80], *servers[1] = { srv };
	struct sockaddr_un sun;
	enum clamd_result r;

	snprintf(path, sizeof(path), "/tmp/mc-test-clamd-fd-%d.sock",
	    (int)getpid());
	memset(f, 0, sizeof(*f));
	f->lfd = unit_unix_bound(path, 4, &sun);
	f->reply = reply;
	assert_int_equal(pthread_create(&f->th, NULL, fdfake_main, f), 0);
	snprintf(srv, sizeof(srv), "unix:%s", path);
	fd_passing = pass;
	r = scan(servers, 1, max, "hello world", 11, 4, virus, 256, err, 256);
	fd_passing = 0;
	pthread_join(f->th, NULL);
	close(f->lfd);
	unlink(path);
	return r;
}

/*
 * clamd_fd_passing to a unix: server: the part goes over as a memory
 * file, whole and from its start, in chunks as sent; clamd's "fd[N]: "
 * replies are judged as "stream: " ones; max_stream still cuts (the file
 * holds only what may be scanned) and fails closed; without fd_passing
 * the same server gets an INSTREAM.
 */
static void
test_fake_fildes(void **state)
{
	struct fdfake f;
	char virus[256], err[256];

	(void)state;
	assert_int_equal(fdfake_scan(&f, "fd[12]: OK", 1, 0, virus, err),
	    CLAMD_CLEAN);
	assert_int_equal(f.gotlen, 11);
	assert_memory_equal(f.got, "hello world", 11);
	assert_int_equal(fdfake_scan(&f, "fd[7]: Eicar-Sig FOUND", 1, 0, virus,
	    err), CLAMD_INFECTED);
	assert_string_equal(virus, "Eicar-Sig");
	assert_int_equal(fdfake_scan(&f, "fd[7]: OK", 1, 5, virus, err),
	    CLAMD_OVERSIZE);
	assert_int_equal(f.gotlen, 5);
	assert_int_equal(fdfake_scan(&f, "fd[7]: Can't open file. ERROR", 1,
	    0, virus, err), CLAMD_ERROR);
	assert_non_null(strstr(err, "unexpected reply"));
	/* fd_passing off: INSTREAM, which this fake never answers */
	assert_int_equal(fdfake_scan(&f, "fd[7]: OK", 0, 0, virus, err),
	    CLAMD_ERROR);
	assert_int_equal(f.gotlen, -1);
}

static void
test_fake_hang(void **state)
{
	char srv[64], *servers[1] = { srv }, virus[64], err[256];
	struct fake f;
	double t0, dt;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_start(&f, NULL, 0);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	t0 = unit_now_s();
	assert_int_equal(scan(servers, 1, 0, "data", 4, 4, virus,
	    sizeof(virus), err, sizeof(err)), CLAMD_ERROR);
	dt = unit_now_s() - t0;
	assert_non_null(strstr(err, "timeout"));
	assert_true(dt >= 0.9 && dt < 2.0);	/* read_timeout 1 s (+1) */
	fake_stop(&f);
}

/*
 * A clamd that keeps reading, slowly, and never answers: every write makes
 * progress, so only a deadline over the whole scan ends it (read_timeout
 * 1 s); per-write deadlines would stream all 64 MiB first.
 */
static void
test_fake_slow_reader(void **state)
{
	char srv[64], *servers[1] = { srv }, virus[64], err[256];
	size_t len = 64u << 20;
	struct fake f;
	double t0, dt;
	char *data;

	(void)state;
	assert_non_null(data = calloc(1, len));
	memset(&f, 0, sizeof(f));
	f.slow_ms = 5;
	fake_start(&f, NULL, 0);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	t0 = unit_now_s();
	assert_int_equal(scan(servers, 1, 0, data, len, 65536, virus,
	    sizeof(virus), err, sizeof(err)), CLAMD_ERROR);
	dt = unit_now_s() - t0;
	assert_non_null(strstr(err, "timeout"));
	assert_true(dt >= 0.9 && dt < 2.0);
	fake_stop(&f);
	free(data);
}

static void
test_fake_early_close(void **state)
{
	static const char r[] = "INSTREAM size limit exceeded. ERROR";
	char srv[64], *servers[1] = { srv }, virus[64], err[256];
	static char big[4 << 20];
	struct fake f;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.close_early = 1;
	fake_start(&f, r, sizeof(r));
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	/* The fake replies and closes without reading the stream: we must
	 * not die of SIGPIPE, and should report oversize or an error. */
	{
		enum clamd_result res = scan(servers, 1, 0, big, sizeof(big),
		    65536, virus, sizeof(virus), err, sizeof(err));

		assert_true(res == CLAMD_OVERSIZE || res == CLAMD_ERROR);
	}
	fake_stop(&f);
}

static void
test_closed_port_and_bad_addr(void **state)
{
	char s1[64], *servers[3] = { s1, "nonsense", "unix:/nonexistent/x" };
	char err[512], virus[64];
	double t0;

	(void)state;
	snprintf(s1, sizeof(s1), "127.0.0.1:%d", unit_closed_port());
	t0 = unit_now_s();
	assert_int_equal(scan(servers, 3, 0, "x", 1, 1, virus, sizeof(virus),
	    err, sizeof(err)), CLAMD_ERROR);
	assert_true(unit_now_s() - t0 < 1.0);
	assert_non_null(strstr(err, "Connection refused"));
	assert_non_null(strstr(err, "nonsense"));
	assert_non_null(strstr(err, "No such file"));
}

static void
test_result_str(void **state)
{
	(void)state;
	assert_string_equal(clamd_result_str(CLAMD_OVERSIZE), "oversize");
}

/* --- the real clamd --------------------------------------------------- */

static char live[64];

static int
need_live(void)
{
	const char *p = getenv("CLAMD_TEST_PORT");

	if (p == NULL || *p == '\0')
		return 0;
	snprintf(live, sizeof(live), "127.0.0.1:%s", p);
	return 1;
}

static void
test_live_eicar_clean(void **state)
{
	char *servers[1] = { live }, virus[128], err[256];
	static char clean[300000];
	size_t i;

	(void)state;
	if (!need_live())
		skip();
	assert_int_equal(scan(servers, 1, 0, EICAR, strlen(EICAR), 100, virus,
	    sizeof(virus), err, sizeof(err)), CLAMD_INFECTED);
	assert_non_null(strstr(virus, "EICAR"));
	for (i = 0; i < sizeof(clean); i++)
		clean[i] = (char)('a' + i % 26);
	assert_int_equal(scan(servers, 1, 0, clean, sizeof(clean), 70000,
	    virus, sizeof(virus), err, sizeof(err)), CLAMD_CLEAN);
	assert_string_equal(virus, "");
	/* EICAR inside other text: the .ndb body signature. */
	memcpy(clean + 200000, EICAR, strlen(EICAR));
	assert_int_equal(scan(servers, 1, 0, clean, sizeof(clean), 4096,
	    virus, sizeof(virus), err, sizeof(err)), CLAMD_INFECTED);
	assert_non_null(strstr(virus, "EICAR"));
	/* Our own cap: the EICAR after max_stream is not sent. */
	assert_int_equal(scan(servers, 1, 100000, clean, sizeof(clean), 4096,
	    virus, sizeof(virus), err, sizeof(err)), CLAMD_OVERSIZE);
}

static void
test_live_sample(void **state)
{
	char *servers[1] = { live }, virus[128], err[256];
	static char buf[4 << 20];
	ssize_t n;
	int fd;

	(void)state;
	if (!need_live())
		skip();
	fd = open("/usr/share/clamav-testfiles/clam.zip", O_RDONLY);
	if (fd == -1)
		skip();
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0);
	assert_int_equal(scan(servers, 1, 0, buf, (size_t)n, 1000, virus,
	    sizeof(virus), err, sizeof(err)), CLAMD_INFECTED);
	assert_non_null(strstr(virus, "UNOFFICIAL"));
}

static void
test_live_failover(void **state)
{
	char dead[64], *servers[2] = { dead, live }, virus[128], err[256];

	(void)state;
	if (!need_live())
		skip();
	snprintf(dead, sizeof(dead), "127.0.0.1:%d", unit_closed_port());
	assert_int_equal(scan(servers, 2, 0, EICAR, strlen(EICAR), 68, virus,
	    sizeof(virus), err, sizeof(err)), CLAMD_INFECTED);
	assert_non_null(strstr(virus, "EICAR"));
	/* A UNIX socket too, when CLAMD_TEST_SOCK names one. */
	if (getenv("CLAMD_TEST_SOCK") != NULL) {
		char us[256], *s2[1] = { us };

		snprintf(us, sizeof(us), "unix:%s", getenv("CLAMD_TEST_SOCK"));
		assert_int_equal(scan(s2, 1, 0, "clean", 5, 5, virus,
		    sizeof(virus), err, sizeof(err)), CLAMD_CLEAN);
		/* FILDES: clamd reads our memory file */
		fd_passing = 1;
		assert_int_equal(scan(s2, 1, 0, EICAR, strlen(EICAR), 7, virus,
		    sizeof(virus), err, sizeof(err)), CLAMD_INFECTED);
		assert_non_null(strstr(virus, "EICAR"));
		assert_int_equal(scan(s2, 1, 0, "clean", 5, 5, virus,
		    sizeof(virus), err, sizeof(err)), CLAMD_CLEAN);
		fd_passing = 0;
	}
}

/* ---- clamd_max_connections ------------------------------------------ */

#define GATE_THREADS	12
#define GATE_SCANS	4

struct gate_run {
	struct clamd_cfg	*cfg;
	struct clamd_gate	*gate;		/* NULL: unbounded */
	int			 clean;		/* under mu */
	pthread_mutex_t		 mu;
	char			 err[256];	/* the first failure */
};

static void *
gate_client(void *arg)
{
	struct gate_run *g = arg;
	struct clamd_scan *s;
	char err[256], virus[64];
	int i;

	for (i = 0; i < GATE_SCANS; i++) {
		enum clamd_result r = CLAMD_ERROR;

		if ((s = clamd_begin(g->cfg, NULL, g->gate, err, sizeof(err))) !=
		    NULL) {
			(void)clamd_send(s, "some bytes", 10);
			r = clamd_end(s, virus, sizeof(virus), err,
			    sizeof(err));
			clamd_free(s);
		}
		pthread_mutex_lock(&g->mu);
		if (r == CLAMD_CLEAN)
			g->clean++;
		else if (g->err[0] == '\0')
			snprintf(g->err, sizeof(g->err), "%s", err);
		pthread_mutex_unlock(&g->mu);
	}
	return NULL;
}

/* GATE_THREADS threads, GATE_SCANS scans each, against the pool fake. */
static void
gate_run(struct clamd_gate *gate, unsigned bound, int *max, int *clean)
{
	char srv[64], *servers[1] = { srv };
	struct clamd_cfg cfg = { servers, 1, 2000, 10000, 0, bound, 0, 0, 0,
	    0 };
	struct gate_run g;
	pthread_t th[GATE_THREADS];
	struct fakepool p;
	int i;

	fakepool_start(&p, 20);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", p.port);
	memset(&g, 0, sizeof(g));
	pthread_mutex_init(&g.mu, NULL);
	g.cfg = &cfg;
	g.gate = gate;
	for (i = 0; i < GATE_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, gate_client, &g),
		    0);
	for (i = 0; i < GATE_THREADS; i++)
		pthread_join(th[i], NULL);
	fakepool_stop(&p);
	if (g.clean != GATE_THREADS * GATE_SCANS)
		fail_msg("%d of %d clean; first failure: %s", g.clean,
		    GATE_THREADS * GATE_SCANS, g.err);
	assert_int_equal(p.total, GATE_THREADS * GATE_SCANS);
	*max = p.max;
	*clean = g.clean;
	pthread_mutex_destroy(&g.mu);
}

/*
 * N threads against a bound of k: at most k connections at once at the
 * fake, and every scan succeeds (they queue, none fails).  Without the
 * gate the same load opens more than k: the fake can see an overrun.
 */
static void
test_gate_bound(void **state)
{
	struct clamd_gate gate = CLAMD_GATE_INIT;
	int max, clean;

	(void)state;
	gate_run(NULL, 0, &max, &clean);
	if (max <= 3)
		fail_msg("unbounded: only %d connections at once", max);
	gate_run(&gate, 3, &max, &clean);
	if (max > 3)
		fail_msg("bound 3: %d connections at once", max);
	assert_true(max >= 1);
	assert_int_equal(gate.inuse, 0);	/* every slot given back */
	assert_true(gate.waited > 0);		/* and some had to queue */
	/* The default is Debian's clamd MaxThreads. */
	assert_int_equal(gate.limit, 3);
	{
		struct clamd_gate d = CLAMD_GATE_INIT;

		assert_int_equal(d.limit, 12);
	}
}

/*
 * A waiter whose deadline passes fails, saying it waited for a connection
 * slot (errno EBUSY: clamd was not asked), after the scan's deadline and
 * not before; once a slot is free the same scan goes through.
 */
static void
test_gate_wait_deadline(void **state)
{
	char srv[64], *servers[1] = { srv }, err[256], virus[64];
	struct clamd_cfg cfg = { servers, 1, 1000, 300, 0, 1, 0, 0, 0, 0 };
	struct clamd_gate gate = CLAMD_GATE_INIT;
	struct clamd_scan *s;
	struct fakepool p;
	double t0, dt;

	(void)state;
	fakepool_start(&p, 0);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", p.port);
	assert_int_equal(clamd_gate_enter(&gate, 1, util_now_ms() + 1000), 1);
	t0 = unit_now_s();
	errno = 0;
	assert_null(clamd_begin(&cfg, NULL, &gate, err, sizeof(err)));
	dt = unit_now_s() - t0;
	assert_int_equal(errno, EBUSY);
	assert_non_null(strstr(err, "for a clamd connection slot"));
	assert_non_null(strstr(err, "clamd_max_connections 1"));
	assert_true(dt >= 0.28 && dt < 1.5);
	assert_int_equal(p.total, 0);		/* clamd was not asked */
	clamd_gate_leave(&gate);
	assert_non_null(s = clamd_begin(&cfg, NULL, &gate, err, sizeof(err)));
	assert_int_equal(gate.inuse, 1);
	assert_int_equal(clamd_end(s, virus, sizeof(virus), err, sizeof(err)),
	    CLAMD_CLEAN);
	clamd_free(s);
	assert_int_equal(gate.inuse, 0);
	/* A failed connect gives its slot back too. */
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", unit_closed_port());
	assert_null(clamd_begin(&cfg, NULL, &gate, err, sizeof(err)));
	assert_int_equal(errno, EIO);
	assert_int_equal(gate.inuse, 0);
	fakepool_stop(&p);
}

static void *
leave_late(void *arg)
{
	usleep(200000);
	clamd_gate_leave(arg);
	return NULL;
}

/*
 * The wait counts against the scan's deadline, and a timeout after a wait
 * says how long the wait was: 200 ms for a slot, then a clamd that never
 * answers, read_timeout 600 ms from the start of the wait.
 */
static void
test_gate_wait_counts(void **state)
{
	char srv[64], *servers[1] = { srv }, err[256], virus[64];
	struct clamd_cfg cfg = { servers, 1, 1000, 600, 0, 1, 0, 0, 0, 0 };
	struct clamd_gate gate = CLAMD_GATE_INIT;
	struct clamd_scan *s;
	struct fake f;
	pthread_t th;
	double t0, dt;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_start(&f, NULL, 0);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	assert_int_equal(clamd_gate_enter(&gate, 1, util_now_ms() + 1000), 1);
	assert_int_equal(pthread_create(&th, NULL, leave_late, &gate), 0);
	t0 = unit_now_s();
	assert_non_null(s = clamd_begin(&cfg, NULL, &gate, err, sizeof(err)));
	assert_int_equal(clamd_end(s, virus, sizeof(virus), err, sizeof(err)),
	    CLAMD_ERROR);
	dt = unit_now_s() - t0;
	clamd_free(s);
	pthread_join(th, NULL);
	fake_stop(&f);
	assert_non_null(strstr(err, "read: timeout after 600 ms ("));
	assert_non_null(strstr(err, "ms of it waiting for a connection slot)"));
	assert_true(dt >= 0.55 && dt < 1.5);	/* one deadline, not two */
	assert_int_equal(gate.inuse, 0);
}

struct gate_waiter {
	struct clamd_gate	*gate;
	int			 rc;
	double			 dt;
};

static void *
gate_wait(void *arg)
{
	struct gate_waiter *w = arg;
	double t0 = unit_now_s();

	w->rc = clamd_gate_enter(w->gate, 1, util_now_ms() + 5000);
	w->dt = unit_now_s() - t0;
	return NULL;
}

/*
 * A reload changes the bound of the gate in use: the count of open
 * connections stays.  Raised, a waiter goes at once; lowered below the
 * connections open, new scans wait until enough have closed.
 */
static void
test_gate_reload(void **state)
{
	struct clamd_gate gate = CLAMD_GATE_INIT;
	struct gate_waiter w = { &gate, 0, 0 };
	long long far = util_now_ms() + 5000;
	pthread_t th;

	(void)state;
	assert_int_equal(clamd_gate_enter(&gate, 1, far), 1);
	assert_int_equal(pthread_create(&th, NULL, gate_wait, &w), 0);
	usleep(100000);				/* w waits under bound 1 */
	assert_int_equal(clamd_gate_enter(&gate, 3, far), 1);	/* raised */
	pthread_join(th, NULL);
	assert_int_equal(w.rc, 2);		/* taken after a wait */
	assert_true(w.dt < 2.0);
	assert_int_equal(gate.inuse, 3);
	/* Lowered to 2 with 3 open: a new scan waits (here: in vain). */
	assert_int_equal(clamd_gate_enter(&gate, 2, util_now_ms() + 100), -1);
	clamd_gate_leave(&gate);
	assert_int_equal(clamd_gate_enter(&gate, 2, util_now_ms() + 100), -1);
	clamd_gate_leave(&gate);
	assert_int_equal(clamd_gate_enter(&gate, 2, util_now_ms() + 100), 1);
	assert_int_equal(gate.inuse, 2);
	assert_int_equal(gate.waited, 3);	/* w and the two in vain */
	/* 0: no bound, nothing counted. */
	assert_int_equal(clamd_gate_enter(&gate, 0, 0), 0);
	assert_int_equal(gate.inuse, 2);
}

/* A message with one attachment that goes to clamd. */
static struct scan *
one_attachment(const struct mc_config *cf)
{
	static const char body[] = "--b\r\nContent-Type: text/plain\r\n\r\n"
	    "hi\r\n--b\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Disposition: attachment; filename=\"a.dat\"\r\n\r\n"
	    "some bytes\r\n--b--\r\n";
	struct scan *sc;

	assert_non_null(sc = scan_new(cf, "GATE1"));
	assert_int_equal(scan_header(sc, "Content-Type",
	    "multipart/mixed; boundary=\"b\""), 0);
	assert_int_equal(scan_eoh(sc), 0);
	assert_int_equal(scan_body(sc, body, sizeof(body) - 1), 0);
	assert_int_equal(scan_finish(sc), 0);
	return sc;
}

/*
 * The breaker counts clamd's failures, not the filter's queue: a message
 * that waited in vain for a slot fails (busy, the reason says so) as many
 * times as it likes without opening it; clamd refusing opens it at
 * clamd_max_failures.
 */
static void
test_gate_breaker(void **state)
{
	char srv[64], *servers[1] = { srv }, err[256];
	struct clamd_cfg cfg = { servers, 1, 1000, 100, 0, 1, 0, 0, 0, 0 };
	struct pool br = POOL_INIT("test");
	struct clamd_gate gate = CLAMD_GATE_INIT;
	struct clamd_verdict cv;
	struct mc_config *cf;
	struct scan *sc;
	struct fakepool p;
	int i;

	(void)state;
	log_init("test_clamd", LOG_MAIL, 0);
	setlogmask(LOG_MASK(LOG_EMERG));
	assert_int_equal(conf_load(NULL, &cf, err, sizeof(err)), 0);
	sc = one_attachment(cf);
	fakepool_start(&p, 0);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", p.port);
	/* It reaches the fake: one stream, clean. */
	assert_int_equal(clamd_check_message(sc, &cfg, &br, &gate, &cv), 0);
	assert_int_equal(cv.scans, 1);
	assert_false(cv.failed);
	/* Every slot taken: busy, five times, the breaker stays closed. */
	assert_int_equal(clamd_gate_enter(&gate, 1, util_now_ms() + 5000), 1);
	for (i = 0; i < 5; i++) {
		assert_int_equal(clamd_check_message(sc, &cfg, &br, &gate,
		    &cv), 0);
		assert_true(cv.failed);
		assert_true(cv.busy);
		assert_non_null(strstr(cv.reason, "clamd connection slot"));
	}
	assert_int_equal(pool_state(&br, srv, time(NULL), NULL, NULL), 0);
	clamd_gate_leave(&gate);
	assert_int_equal(clamd_check_message(sc, &cfg, &br, &gate, &cv), 0);
	assert_false(cv.failed);
	assert_int_equal(p.total, 2);
	fakepool_stop(&p);
	/* clamd gone: three failures open the breaker. */
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", unit_closed_port());
	for (i = 0; i < 3; i++) {
		assert_int_equal(clamd_check_message(sc, &cfg, &br, &gate,
		    &cv), 0);
		assert_true(cv.failed);
		assert_false(cv.busy);
	}
	assert_int_equal(clamd_check_message(sc, &cfg, &br, &gate, &cv), 0);
	assert_non_null(strstr(cv.reason, "paused"));
	assert_int_equal(gate.inuse, 0);
	pool_free(&br);
	scan_free(sc);
	conf_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_replies),
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_fake_fildes),
		cmocka_unit_test(test_fake_hang),
		cmocka_unit_test(test_fake_slow_reader),
		cmocka_unit_test(test_fake_early_close),
		cmocka_unit_test(test_closed_port_and_bad_addr),
		cmocka_unit_test(test_result_str),
		cmocka_unit_test(test_gate_bound),
		cmocka_unit_test(test_gate_wait_deadline),
		cmocka_unit_test(test_gate_wait_counts),
		cmocka_unit_test(test_gate_reload),
		cmocka_unit_test(test_gate_breaker),
		cmocka_unit_test(test_live_eicar_clean),
		cmocka_unit_test(test_live_sample),
		cmocka_unit_test(test_live_failover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
