/*
 * clamd.c -- the clamd INSTREAM / FILDES client (see clamd.h).  Owns the
 * conversation: chunk framing and the terminator (INSTREAM), or a memory
 * file handed over as a descriptor (FILDES, to a clamd on a unix: socket),
 * reading and judging the reply; sockets and deadlines are net.c's, which
 * server of clamd_servers pool.c's (no port: DEF_CLAMD_PORT).
 * Ownership: struct clamd_scan and its descriptor are freed by
 * clamd_free(); the configuration belongs to the config snapshot.
 * Failure: every step has a deadline; a failure is sticky and comes back
 * from clamd_end() as CLAMD_ERROR with a short reason (never the raw
 * reply), which the caller answers with on_clamd_failure.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clamd.h"
#include "mime.h"
#include "net.h"
#include "pool.h"
#include "scan.h"
#include "smfopts.h"
#include "spool.h"
#include "util.h"
#include "banned.h"

#define CHUNK_MAX	65536
#define REPLY_MAX	4096
#define JUNK_WAIT_MS	50	/* after the reply, wait this long for junk */

struct clamd_scan {
	const struct clamd_cfg	*cfg;
	struct clamd_gate	*gate;		/* a slot is held; or NULL */
	struct pool		*pool;		/* told the outcome; or NULL */
	const char		*server;	/* cfg's name of the server */
	int			 judged;	/* clamd_end() told the pool */
	int			 fd;
	int			 memfd;		/* FILDES: the part; or -1 */
	long long		 deadline;	/* of the whole scan, in ms */
	long long		 waited;	/* ms of it spent for a slot */
	int			 failed;	/* errno-like, sticky */
	int			 peer_closed;	/* clamd hung up mid-stream */
	int			 oversize;	/* max_stream cut the stream */
	size_t			 sent;
	char			 why[160];	/* reason when failed */
};

/* A timeout's reason says how much of the deadline went on the wait. */
static void
waited_note(const struct clamd_scan *s, char *p, size_t n)
{
	size_t k = strnlen(p, n);

	if (s->waited > 0 && k + 1 < n)
		snprintf(p + k, n - k, " (%lld ms of it waiting for a "
		    "connection slot)", s->waited);
}

static void
fail(struct clamd_scan *s, int e, const char *what)
{
	if (s->failed)
		return;
	s->failed = e ? e : EIO;
	snprintf(s->why, sizeof(s->why), "%s: %s", what,
	    e == ETIMEDOUT ? "timeout" : strerror(e));
	if (e == ETIMEDOUT)
		waited_note(s, s->why, sizeof(s->why));
}

/*
 * Sends the iovecs completely before the scan's deadline.  0 ok, 1 peer
 * closed, -1 failed (s->failed set).
 */
static int
send_iov(struct clamd_scan *s, struct iovec *iov, int niov)
{
	if (net_sendv(s->fd, iov, niov, s->deadline) == 0)
		return 0;
	if (errno == EPIPE || errno == ECONNRESET) {
		s->peer_closed = 1;
		return 1;
	}
	fail(s, errno, "write");
	return -1;
}

/* Is fd a unix-domain socket (a clamd on this host)? */
static int
is_local(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family == AF_UNIX;
}

/*
 * Connects to the server the pool picks (the next while one fails).  fd,
 * or -1 with errno EAGAIN (every server paused) or EIO, reasons in err.
 */
static int
clamd_connect(const struct clamd_cfg *cfg, struct pool *pool, size_t *idx,
    char *err, size_t errlen)
{
	struct net_err e = { err, errlen };
	unsigned char one, *tried = &one;
	int fd, paused;

	if (cfg->nservers == 0) {
		snprintf(err, errlen, "no clamd servers configured");
		errno = EIO;
		return -1;
	}
	if (cfg->nservers > 1 && (tried = calloc(cfg->nservers, 1)) == NULL) {
		snprintf(err, errlen, "clamd: %s", strerror(errno));
		return -1;
	}
	one = 0;
	fd = pool_connect(pool, cfg->servers, cfg->nservers,
	    (enum pool_balance)cfg->balance, 0, tried, DEF_CLAMD_PORT,
	    cfg->connect_timeout_ms, net_note_all, &e, idx, &paused);
	if (tried != &one)
		free(tried);
	if (fd == -1 && paused && (err == NULL || errlen == 0 ||
	    err[0] == '\0')) {
		snprintf(err, errlen, "clamd paused after repeated failures");
		errno = EAGAIN;
	} else if (fd == -1)
		errno = EIO;
	return fd;
}

struct clamd_scan *
clamd_begin(const struct clamd_cfg *cfg, struct pool *pool,
    struct clamd_gate *gate, char *err, size_t errlen)
{
	struct clamd_scan *s;
	struct iovec iov;
	long long t0 = util_now_ms(), deadline;
	size_t i = 0;
	int fd, held = 0, e;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/*
	 * One deadline from the wait for a slot to the answer, as spamd has:
	 * a slot that stays taken that long means clamd is stuck.
	 */
	deadline = t0 + cfg->read_timeout_ms;
	if (gate != NULL && (held = clamd_gate_enter(gate,
	    cfg->max_connections, deadline)) < 0) {
		snprintf(err, errlen, "waited %lld ms for a clamd connection "
		    "slot (clamd_max_connections %u, all in use)",
		    util_now_ms() - t0, cfg->max_connections);
		errno = EBUSY;
		return NULL;
	}
	if ((fd = clamd_connect(cfg, pool, &i, err, errlen)) == -1) {
		e = errno;
		if (held)
			clamd_gate_leave(gate);
		errno = e;
		return NULL;
	}
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "clamd: %s", strerror(errno));
		close(fd);
		pool_done(pool, cfg->servers[i], POOL_SKIP, time(NULL));
		if (held)
			clamd_gate_leave(gate);
		errno = ENOMEM;
		return NULL;
	}
	s->cfg = cfg;
	s->gate = held ? gate : NULL;
	s->pool = pool;
	s->server = cfg->servers[i];
	s->fd = fd;
	s->deadline = deadline;
	s->waited = held == 2 ? util_now_ms() - t0 : 0;
	s->memfd = -1;
	/*
	 * FILDES: clamd reads the part from our memory file; it neither
	 * receives it through the socket nor writes it to a temporary file
	 * of its own (a sixth of clamd's CPU a message with INSTREAM; what
	 * clamdscan --fdpass and clamav-milter do on a local socket).  No
	 * memory file: INSTREAM, as to a remote clamd.
	 */
	if (cfg->fd_passing && is_local(fd))
		s->memfd = memfd_create("mailcorral-clamd", MFD_CLOEXEC);
	if (s->memfd != -1)
		return s;
	iov.iov_base = (void *)"zINSTREAM";
	iov.iov_len = sizeof("zINSTREAM");	/* with the NUL */
	if (send_iov(s, &iov, 1) != 0) {
		snprintf(err, errlen, "%s", s->failed ? s->why :
		    "connection closed by clamd");
		pool_done(pool, s->server, POOL_FAIL, time(NULL));
		s->judged = 1;
		clamd_free(s);
		errno = EIO;
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
	if (s->memfd != -1) {
		if (util_write_all(s->memfd, c, k) == -1) {
			fail(s, errno, "memory file");
			return -1;
		}
		return 0;
	}
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

/*
 * The length of the reply's subject prefix: "stream: " (INSTREAM) or
 * "fd[N]: " (FILDES); 0 when the line has neither.
 */
static size_t
reply_prefix(const char *r, size_t line)
{
	size_t i;

	if (line >= 8 && memcmp(r, "stream: ", 8) == 0)
		return 8;
	if (line < 3 || memcmp(r, "fd[", 3) != 0)
		return 0;
	for (i = 3; i < line && i < 16 && r[i] >= '0' && r[i] <= '9'; i++)
		;
	if (i == 3 || i + 3 > line || memcmp(r + i, "]: ", 3) != 0)
		return 0;
	return i + 3;
}

enum clamd_result
clamd_parse_reply(const char *reply, size_t len, int oversize, char *virus,
    size_t vlen, char *err, size_t errlen)
{
	static const char limit[] = "INSTREAM size limit exceeded. ERROR",
	    found[] = " FOUND";
	char safe[128];
	size_t i, line, pfx;

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

	pfx = reply_prefix(reply, line);
	if (pfx > 0 && line == pfx + 2 && memcmp(reply + pfx, "OK", 2) == 0)
		return oversize ? CLAMD_OVERSIZE : CLAMD_CLEAN;
	if (line == sizeof(limit) - 1 && memcmp(reply, limit, line) == 0)
		return CLAMD_OVERSIZE;
	if (pfx > 0 && line > pfx + sizeof(found) - 1 &&
	    memcmp(reply + line - (sizeof(found) - 1), found,
	    sizeof(found) - 1) == 0) {
		const char *name = reply + pfx;
		size_t nlen = line - pfx - (sizeof(found) - 1);

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

/*
 * FILDES: the command, then the memory file's descriptor with one byte
 * (SCM_RIGHTS); clamd answers "fd[N]: ...".  Failures set s->failed.
 */
static void
send_fildes(struct clamd_scan *s)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct iovec iov = { (void *)"zFILDES", sizeof("zFILDES") };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t r;

	if (send_iov(s, &iov, 1) != 0)
		return;
	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	iov.iov_base = (void *)"";
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &s->memfd, sizeof(int));
	for (;;) {
		r = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
		if (r == 1)
			return;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = net_wait(s->fd, POLLOUT, s->deadline);

			if (w == 1)
				continue;
			fail(s, w == 0 ? ETIMEDOUT : errno, "write");
			return;
		}
		if (r == -1 && (errno == EPIPE || errno == ECONNRESET)) {
			s->peer_closed = 1;
			return;
		}
		fail(s, r == -1 ? errno : EIO, "write");
		return;
	}
}

/* clamd_end() but for telling the pool. */
static enum clamd_result
end_read(struct clamd_scan *s, char *virus, size_t vlen, char *err,
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
	if (!s->failed && !s->peer_closed && s->memfd != -1)
		send_fildes(s);
	else if (!s->failed && !s->peer_closed) {
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
	deadline = s->deadline;
	while (!eof && len < REPLY_MAX) {
		if (done && net_wait(s->fd, POLLIN, util_now_ms() +
		    JUNK_WAIT_MS) != 1)
			break;
		w = done ? 1 : net_wait(s->fd, POLLIN, deadline);
		if (w == 0) {
			snprintf(err, errlen, "read: timeout after %d ms",
			    s->cfg->read_timeout_ms);
			waited_note(s, err, errlen);
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

enum clamd_result
clamd_end(struct clamd_scan *s, char *virus, size_t vlen, char *err,
    size_t errlen)
{
	enum clamd_result r = end_read(s, virus, vlen, err, errlen);

	pool_done(s->pool, s->server, r == CLAMD_ERROR ? POOL_FAIL : POOL_OK,
	    time(NULL));
	s->judged = 1;
	return r;
}

const char *
clamd_server(const struct clamd_scan *s)
{
	return s->server;
}

void
clamd_free(struct clamd_scan *s)
{
	if (s == NULL)
		return;
	if (!s->judged)
		pool_done(s->pool, s->server, POOL_SKIP, time(NULL));
	if (s->fd != -1)
		close(s->fd);
	if (s->memfd != -1)
		close(s->memfd);
	if (s->gate != NULL)		/* closed first: a true bound */
		clamd_gate_leave(s->gate);
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

/* ---- one message's parts, from the scan ---------------------- */

/* Decoded bytes arrive in small pieces: clamd gets chunks of CL_CHUNK. */
#define CL_CHUNK	65536

/* The sink of the chunk: one length-prefixed INSTREAM chunk. */
static int
cl_sink(void *arg, const char *p, size_t n)
{
	return clamd_send(arg, p, n);
}

/* scan_decode()'s consumer: into the chunk; a failed send drops the rest. */
static void
cl_send(void *arg, const char *p, size_t n)
{
	(void)buf_out_put(arg, p, n);
}

static int
binary_magic(const struct mime_part *p)
{
	return p->magic_len >= 2 && (memcmp(p->magic, "MZ", 2) == 0 ||
	    memcmp(p->magic, "PK", 2) == 0 ||
	    (p->magic_len >= 4 && memcmp(p->magic, "\x7f" "ELF", 4) == 0));
}

/*
 * Parts that could carry a virus: every leaf but plain text (the seeds:
 * the text body cannot carry one), unless that text looks like a program.
 * HTML, uuencoded blocks in text, attachments of any type are sent.
 */
static int
could_carry(const struct mime_part *p)
{
	if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE |
	    MIME_PART_PREAMBLE | MIME_PART_EPILOGUE))
		return 0;
	if (p->body_end <= p->body_start)
		return 0;
	if (strcmp(p->type, "text/plain") == 0 && p->cte != MIME_CTE_UNKNOWN &&
	    !(p->flags & MIME_PART_EMBEDDED) && p->nnames == 0 &&
	    !binary_magic(p))
		return 0;
	return 1;
}

static int
cut_already(const struct scan *sc, unsigned view, unsigned id)
{
	const struct scan_finding *f;
	unsigned i, n;

	f = scan_findings(sc, &n);
	for (i = 0; i < n; i++)
		if (f[i].view == view && f[i].part == id &&
		    f[i].act == SCAN_DELETE)
			return 1;
	return 0;
}

/* Has view 0 a part with the same content bytes and encoding? */
static int
in_view0(const struct scan *sc, const struct mime_part *p)
{
	const struct mime_part *q;
	unsigned i, n;

	q = scan_view_parts(sc, 0, &n);
	for (i = 0; i < n; i++)
		if (q[i].body_start == p->body_start &&
		    q[i].body_end == p->body_end && q[i].cte == p->cte)
			return 1;
	return 0;
}

/* Adds server to sv->server unless it is there ("a,b"; what fits). */
static void
note_server(struct clamd_verdict *sv, const char *server)
{
	size_t n = strlen(sv->server), k = strlen(server);
	const char *p;

	for (p = sv->server; (p = strstr(p, server)) != NULL; p += k)
		if ((p == sv->server || p[-1] == ',') &&
		    (p[k] == '\0' || p[k] == ','))
			return;
	if (n + (n > 0) + k >= sizeof(sv->server))
		return;
	if (n > 0)
		sv->server[n++] = ',';
	memcpy(sv->server + n, server, k + 1);
}

/* One INSTREAM scan of spool bytes [from, to) decoded per cte. */
static enum clamd_result
clamd_one(struct scan *sc, const struct clamd_cfg *cc, struct pool *pl,
    struct clamd_gate *g, enum mime_cte cte, uint64_t from, uint64_t to,
    struct clamd_verdict *sv, char *virus, size_t vlen)
{
	struct clamd_scan *cs;
	struct buf_out o;
	char *chunk;
	char err[192];
	enum clamd_result r;

	if ((chunk = malloc(CL_CHUNK)) == NULL) {
		snprintf(sv->reason, sizeof(sv->reason), "out of memory");
		return CLAMD_ERROR;
	}
	if ((cs = clamd_begin(cc, pl, g, err, sizeof(err))) == NULL) {
		if (errno == EBUSY)
			sv->busy = 1;
		free(chunk);
		snprintf(sv->reason, sizeof(sv->reason), "%s", err);
		return CLAMD_ERROR;
	}
	note_server(sv, clamd_server(cs));
	buf_out_init(&o, chunk, CL_CHUNK, cl_sink, cs);
	sv->scans++;
	if (cte == MIME_CTE_UNKNOWN)
		cte = MIME_CTE_BINARY;
	if (scan_decode(sc, cte, from, to, cl_send, &o) == -1) {
		clamd_free(cs);
		free(chunk);
		snprintf(sv->reason, sizeof(sv->reason), "spool read failed");
		return CLAMD_ERROR;
	}
	(void)buf_out_flush(&o);	/* a failed send fails clamd_end */
	free(chunk);
	r = clamd_end(cs, virus, vlen, err, sizeof(err));
	clamd_free(cs);
	if (r == CLAMD_ERROR)
		snprintf(sv->reason, sizeof(sv->reason), "%s", err);
	return r;
}

/* What clamd_check_message() shares between its streams. */
struct clamd_ctx {
	struct scan		*sc;
	const struct clamd_cfg	*cc;
	struct pool		*pool;
	struct clamd_gate	*gate;
	struct clamd_verdict	*sv;
};

/*
 * One stream to the server the pool picks (clamd_begin() and clamd_end()
 * tell it the outcome).  An error, every server paused included, sets
 * sv->failed; oversize sets sv->oversize.
 */
static enum clamd_result
clamd_stream(struct clamd_ctx *x, enum mime_cte cte, uint64_t from,
    uint64_t to, char *virus, size_t vlen)
{
	struct clamd_verdict *sv = x->sv;
	enum clamd_result r;

	virus[0] = '\0';
	r = clamd_one(x->sc, x->cc, x->pool, x->gate, cte, from, to, sv, virus,
	    vlen);
	if (r == CLAMD_ERROR)
		sv->failed = 1;
	else if (r == CLAMD_OVERSIZE)
		sv->oversize = 1;
	return r;
}

/* Every part of one view that could carry a virus.  0, or -1 (errno). */
static int
clamd_view(struct clamd_ctx *x, unsigned view)
{
	const struct mime_part *p;
	struct clamd_verdict *sv = x->sv;
	unsigned i, n;
	char virus[128];
	int rc = 0;

	p = scan_view_parts(x->sc, view, &n);
	for (i = 0; i < n && !sv->failed; i++) {
		if (!could_carry(&p[i]) || cut_already(x->sc, view, p[i].id) ||
		    (view != 0 && in_view0(x->sc, &p[i])))
			continue;
		if (clamd_stream(x, p[i].cte, p[i].body_start, p[i].body_end,
		    virus, sizeof(virus)) != CLAMD_INFECTED)
			continue;
		if (sv->infected++ == 0)
			snprintf(sv->virus, sizeof(sv->virus), "%s", virus);
		if (scan_add_virus(x->sc, view, &p[i], virus) == -1)
			rc = -1;
	}
	return rc;
}

int
clamd_check_message(struct scan *sc, const struct clamd_cfg *cc,
    struct pool *pool, struct clamd_gate *gate, struct clamd_verdict *sv)
{
	struct clamd_ctx x = { sc, cc, pool, gate, sv };
	const struct mime_part *p0;
	char virus[128];
	unsigned n;
	int rc, ambiguous = scan_view_parts(sc, 1, &n) != NULL;

	memset(sv, 0, sizeof(*sv));
	rc = clamd_view(&x, 0);
	if (ambiguous && !sv->failed && clamd_view(&x, 1) == -1)
		rc = -1;
	if (ambiguous && !sv->failed && sv->infected == 0) {
		/* Ambiguous: the raw body goes too (clamd's own reading). */
		if (clamd_stream(&x, MIME_CTE_BINARY, scan_body_offset(sc),
		    spool_size(scan_spool(sc)), virus, sizeof(virus)) ==
		    CLAMD_INFECTED) {
			sv->infected++;
			snprintf(sv->virus, sizeof(sv->virus), "%s", virus);
			p0 = scan_view_parts(sc, 0, &n);
			if (scan_add_virus(sc, 0, &p0[0], virus) == -1)
				rc = -1;
		}
	}
	return rc;
}

/* ---- the bound on connections (clamd_max_connections) ------- */

int
clamd_gate_enter(struct clamd_gate *g, unsigned limit, long long deadline)
{
	struct timespec ts;
	long long ms;
	int rc = 1, waited = 0;

	if (limit == 0)
		return 0;
	pthread_mutex_lock(&g->mu);
	if (limit > g->limit)
		pthread_cond_broadcast(&g->cv);	/* raised: more may go */
	g->limit = limit;
	while (g->inuse >= g->limit) {
		if ((ms = deadline - util_now_ms()) <= 0) {
			rc = -1;
			break;
		}
		waited = 1;
		/* util_now_ms()'s clock: immune to changes of the date. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_clockwait(&g->cv, &g->mu, CLOCK_MONOTONIC,
		    &ts);
	}
	if (rc == 1)
		g->inuse++;
	if (waited) {
		g->waited++;
		if (rc == 1)
			rc = 2;
	}
	pthread_mutex_unlock(&g->mu);
	return rc;
}

void
clamd_gate_leave(struct clamd_gate *g)
{
	pthread_mutex_lock(&g->mu);
	if (g->inuse > 0)
		g->inuse--;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
}
