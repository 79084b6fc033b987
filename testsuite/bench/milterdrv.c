/*
 * milterdrv.c -- milter protocol load driver: plays sendmail's side.
 *
 * Speaks milter protocol version 6 to a filter on unix:PATH or
 * inet:PORT@HOST with CONCURRENCY worker threads, each on its own
 * connection.  Per message: connect (once per connection), helo, MAIL with
 * macros, RCPT, the header fields of an .eml file, EOH, the body in chunks,
 * EOB, then every reply up to the final verdict.  Honours the protocol flags
 * the filter returns (SMFIP_NO*, SMFIP_NR_*, SMFIP_HDR_LEADSPC).
 * Reports throughput, latency (EOB sent -> final reply), the filter's CPU
 * per message and memory (from /proc/PID), and the count of each verdict.
 * Packets that expect no reply are queued and written together with the
 * next one that does, so the driver itself never waits on Nagle.
 * Errors: a closed connection, a timeout or garbage counts the message as an
 * error; the worker reconnects and goes on.  Never waits longer than -T.
 * Fault injection (-A MODE[:N], every Nth message, default every one): the
 * MTA gives up on the message part way -- abort: SMFIC_ABORT after half the
 * body, then the next message on the same connection; hdrclose: close the
 * connection after half the header fields; rst: reset the connection
 * (SO_LINGER 0) after half the body; quit: SMFIC_QUIT after half the body,
 * then close; eomabort: SMFIC_ABORT right after the final reply.  Injected
 * messages are counted as "aborted", not as verdicts.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DRV_VERSION	6
#define DRV_ACTIONS	0x000001ffU	/* every SMFIF_* of version 6 */
#define DRV_PROTO	0x301fffffU	/* SMFI_CURR_PROT + MDS_256K/1M */
#define DRV_MAXPKT	(64U * 1024 * 1024)
#define DRV_MAXCHUNK	65535U

/* Protocol flags (libmilter/mfdef.h). */
#define P_NOCONNECT	0x00000001U
#define P_NOHELO	0x00000002U
#define P_NOMAIL	0x00000004U
#define P_NORCPT	0x00000008U
#define P_NOBODY	0x00000010U
#define P_NOHDRS	0x00000020U
#define P_NOEOH		0x00000040U
#define P_NR_HDR	0x00000080U
#define P_NODATA	0x00000200U
#define P_NR_CONN	0x00001000U
#define P_NR_HELO	0x00002000U
#define P_NR_MAIL	0x00004000U
#define P_NR_RCPT	0x00008000U
#define P_NR_DATA	0x00010000U
#define P_NR_EOH	0x00040000U
#define P_NR_BODY	0x00080000U
#define P_HDR_LEADSPC	0x00100000U

enum verdict {
	V_CONTINUE, V_ACCEPT, V_REJECT, V_TEMPFAIL, V_DISCARD, V_ERROR,
	V_COUNT
};
static const char *vname[V_COUNT] = {
	"continue", "accept", "reject", "tempfail", "discard", "error"
};

struct hdr {
	char	*name;
	char	*value;		/* without the leading blank */
	char	*rawvalue;	/* with it (SMFIP_HDR_LEADSPC) */
};

struct msgfile {
	char		*path;
	struct hdr	*hdrs;
	size_t		 nhdrs;
	char		*body;		/* CRLF line ends */
	size_t		 bodylen;
};

struct obuf {
	char	*data;
	size_t	 len, cap;
};

struct conn {
	int		 fd;
	uint32_t	 proto;		/* flags the filter returned */
	struct obuf	 out;
	char		*in;		/* last packet read */
	size_t		 incap;
	uint32_t	 inlen;
	char		 cmd;
};

/* Options. */
static const char	*o_sock;
static int		 o_conc = 1;
static long		 o_nmsg = 100;
static double		 o_tlimit;
static double		 o_rate;	/* -r: messages per second, 0 = flat out */
static long		 o_pid;
static const char	*o_dump;
static int		 o_quiet, o_json, o_nodelay, o_unfold;
static size_t		 o_chunk = DRV_MAXCHUNK;
static int		 o_permsgs = 1;
static int		 o_timeout = 60;
enum { F_NONE, F_ABORT, F_HDRCLOSE, F_RST, F_QUIT, F_EOMABORT };
static int		 o_fault = F_NONE;
static long		 o_fevery = 1;
#define MSG_ABORTED	(-2)	/* do_msg: the injected fault happened */

static struct msgfile	*files;
static size_t		 nfiles;

static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static long		 next_msg;
static long		 done_msgs;
static long		 counts[V_COUNT];
static long		 nconnerr;
static long		 naborted;
static double		*lat;		/* ms per message, by index */
static double		*mlat;		/* MAIL .. final reply, ms */
static double		 t_start, t_end;
static volatile int	 stop_sampler;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("milterdrv: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL)
		die("out of memory");
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- corpus ---- */

static char *
readfile(const char *path, size_t *lenp)
{
	FILE *fp;
	char *data = NULL;
	size_t len = 0, cap = 0, n;

	if ((fp = fopen(path, "rb")) == NULL)
		die("%s: %s", path, strerror(errno));
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			if ((data = realloc(data, cap)) == NULL)
				die("out of memory");
		}
		n = fread(data + len, 1, cap - len, fp);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(fp))
		die("%s: read error", path);
	fclose(fp);
	*lenp = len;
	return data;
}

/* Line [p, end) without its line end; returns the start of the next line. */
static const char *
nextline(const char *p, const char *end, size_t *llen)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl ? nl : end;

	*llen = (size_t)(e - p);
	if (*llen > 0 && p[*llen - 1] == '\r')
		(*llen)--;
	return nl ? nl + 1 : end;
}

static void
addhdr(struct msgfile *m, const char *name, size_t nlen, const char *val,
    size_t vlen)
{
	struct hdr *h;
	size_t i = 0;

	m->hdrs = realloc(m->hdrs, (m->nhdrs + 1) * sizeof(*m->hdrs));
	if (m->hdrs == NULL)
		die("out of memory");
	h = &m->hdrs[m->nhdrs++];
	h->name = xstrndup(name, nlen);
	h->rawvalue = xstrndup(val, vlen);
	while (i < vlen && (val[i] == ' ' || val[i] == '\t'))
		i++;
	h->value = xstrndup(val + i, vlen - i);
}

/*
 * Split the header block into fields.  Continuation lines are kept as
 * sendmail passes them ("\n" + the line); with -U they are unfolded.
 */
static void
loadmsg(struct msgfile *m, const char *path)
{
	size_t len, llen, vlen = 0, vcap = 0, nlen = 0;
	char *data = readfile(path, &len), *val = NULL, *name = NULL;
	const char *p = data, *end = data + len, *l, *c;
	char *b;

	memset(m, 0, sizeof(*m));
	m->path = xstrndup(path, strlen(path));
	while (p < end) {
		l = p;
		p = nextline(p, end, &llen);
		if (llen == 0)
			break;
		if ((l[0] == ' ' || l[0] == '\t') && name != NULL) {
			if (vlen + llen + 2 > vcap) {
				vcap = (vlen + llen + 2) * 2;
				if ((val = realloc(val, vcap)) == NULL)
					die("out of memory");
			}
			if (!o_unfold)
				val[vlen++] = '\n';
			memcpy(val + vlen, l, llen);
			vlen += llen;
			continue;
		}
		if (name != NULL)
			addhdr(m, name, nlen, val, vlen);
		free(name);
		name = NULL;
		if ((c = memchr(l, ':', llen)) == NULL)
			continue;	/* not a field: dropped */
		nlen = (size_t)(c - l);
		while (nlen > 0 && (l[nlen - 1] == ' ' || l[nlen - 1] == '\t'))
			nlen--;
		name = xstrndup(l, nlen);
		vlen = llen - (size_t)(c + 1 - l);
		if (vlen + 2 > vcap) {
			vcap = (vlen + 2) * 2;
			if ((val = realloc(val, vcap)) == NULL)
				die("out of memory");
		}
		memcpy(val, c + 1, vlen);
	}
	if (name != NULL)
		addhdr(m, name, nlen, val, vlen);
	free(name);
	free(val);

	/* Body with CRLF line ends, as sendmail sends it. */
	m->body = b = xmalloc((size_t)(end - p) * 2 + 1);
	for (; p < end; p++) {
		if (*p == '\n' && (p == data || p[-1] != '\r'))
			*b++ = '\r';
		*b++ = *p;
	}
	m->bodylen = (size_t)(b - m->body);
	free(data);
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
loaddir(const char *dir, char ***paths, size_t *n)
{
	DIR *d;
	struct dirent *de;
	char path[PATH_MAX];
	struct stat st;
	size_t first = *n;
	int r;

	if ((d = opendir(dir)) == NULL)
		die("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		r = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (r < 0 || (size_t)r >= sizeof(path))
			continue;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		*paths = realloc(*paths, (*n + 1) * sizeof(**paths));
		if (*paths == NULL)
			die("out of memory");
		(*paths)[(*n)++] = xstrndup(path, strlen(path));
	}
	closedir(d);
	qsort(*paths + first, *n - first, sizeof(**paths), cmpstr);
}

/* ---- output buffer and packets ---- */

static void
ob_add(struct obuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 4096;
		if ((b->data = realloc(b->data, b->cap)) == NULL)
			die("out of memory");
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
put32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static uint32_t
get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | u[3];
}

/* Queue a packet: cmd, then the pieces (pointer, length) up to NULL. */
static void
pkt(struct conn *c, char cmd, ...)
{
	va_list ap;
	const char *p;
	size_t n, total = 1;
	char hdr[5];

	va_start(ap, cmd);
	while ((p = va_arg(ap, const char *)) != NULL) {
		n = va_arg(ap, size_t);
		total += n;
	}
	va_end(ap);
	put32(hdr, (uint32_t)total);
	hdr[4] = cmd;
	ob_add(&c->out, hdr, 5);
	va_start(ap, cmd);
	while ((p = va_arg(ap, const char *)) != NULL) {
		n = va_arg(ap, size_t);
		ob_add(&c->out, p, n);
	}
	va_end(ap);
}

/* Queue a macro packet: 'D', the command, name/value pairs up to NULL. */
static void
macros(struct conn *c, char cmd, ...)
{
	struct obuf b = { NULL, 0, 0 };
	va_list ap;
	const char *s;

	ob_add(&b, &cmd, 1);
	va_start(ap, cmd);
	while ((s = va_arg(ap, const char *)) != NULL)
		ob_add(&b, s, strlen(s) + 1);
	va_end(ap);
	pkt(c, 'D', b.data, b.len, (char *)NULL);
	free(b.data);
}

static int
waitfd(int fd, short ev)
{
	struct pollfd pfd;
	int r;

	pfd.fd = fd;
	pfd.events = ev;
	for (;;) {
		r = poll(&pfd, 1, o_timeout * 1000);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static int
flush(struct conn *c)
{
	size_t off = 0;
	ssize_t n;

	while (off < c->out.len) {
		if (waitfd(c->fd, POLLOUT) != 0)
			return -1;
		n = send(c->fd, c->out.data + off, c->out.len - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)n;
	}
	c->out.len = 0;
	return 0;
}

static int
readn(struct conn *c, char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if (waitfd(c->fd, POLLIN) != 0)
			return -1;
		n = recv(c->fd, p, len, MSG_DONTWAIT);
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Flush what is queued, then read one packet into c->cmd, c->in. */
static int
readpkt(struct conn *c)
{
	char hdr[4];
	uint32_t len;

	if (flush(c) != 0 || readn(c, hdr, 4) != 0)
		return -1;
	len = get32(hdr);
	if (len == 0 || len > DRV_MAXPKT) {
		errno = EPROTO;
		return -1;
	}
	if (len > c->incap) {
		c->incap = len;
		free(c->in);
		c->in = xmalloc(len);
	}
	if (readn(c, c->in, len) != 0)
		return -1;
	c->cmd = c->in[0];
	c->inlen = len - 1;
	memmove(c->in, c->in + 1, c->inlen);
	return 0;
}

/* ---- connection ---- */

static int
dial(void)
{
	struct sockaddr_un sun;
	struct addrinfo hints, *res = NULL, *ai;
	const char *path, *at;
	char port[32], host[256];
	int fd = -1, one = 1;

	if (strncmp(o_sock, "unix:", 5) == 0 ||
	    strncmp(o_sock, "local:", 6) == 0 || o_sock[0] == '/') {
		path = o_sock[0] == '/' ? o_sock : strchr(o_sock, ':') + 1;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(sun.sun_path))
			die("socket path too long");
		memcpy(sun.sun_path, path, strlen(path));
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
			close(fd);
			return -1;
		}
		return fd;
	}
	if (strncmp(o_sock, "inet:", 5) != 0 &&
	    strncmp(o_sock, "inet6:", 6) != 0)
		die("bad socket %s (unix:PATH or inet:PORT@HOST)", o_sock);
	path = strchr(o_sock, ':') + 1;
	at = strchr(path, '@');
	if (at == NULL || (size_t)(at - path) >= sizeof(port) ||
	    strlen(at + 1) >= sizeof(host))
		die("bad socket %s", o_sock);
	memcpy(port, path, (size_t)(at - path));
	port[at - path] = '\0';
	memcpy(host, at + 1, strlen(at + 1) + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0 && o_nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
hangup(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->out.len = 0;
}

/* Connect and negotiate.  0 ok, -1 error. */
static int
open_conn(struct conn *c)
{
	char b[12];

	c->out.len = 0;
	if ((c->fd = dial()) < 0)
		return -1;
	put32(b, DRV_VERSION);
	put32(b + 4, DRV_ACTIONS);
	put32(b + 8, DRV_PROTO);
	pkt(c, 'O', b, (size_t)12, (char *)NULL);
	if (readpkt(c) != 0 || c->cmd != 'O' || c->inlen < 12) {
		hangup(c);
		return -1;
	}
	c->proto = get32(c->in + 8);
	return 0;
}

/* Map a reply to a verdict; -1: not a verdict (progress etc.). */
static int
verdict_of(struct conn *c)
{
	switch (c->cmd) {
	case 'c':
		return V_CONTINUE;
	case 'a':
		return V_ACCEPT;
	case 'r':
		return V_REJECT;
	case 't':
	case '4':
	case 'f':
		return V_TEMPFAIL;
	case 'd':
		return V_DISCARD;
	case 's':
		return V_CONTINUE;
	case 'y':
		return c->inlen > 0 && c->in[0] == '5' ? V_REJECT : V_TEMPFAIL;
	default:
		return -1;
	}
}

/*
 * Wait for the answer to one step (replies progress 'p' are skipped).
 * Returns the verdict or V_ERROR.  *skip is set on SMFIR_SKIP.
 */
static int
step_reply(struct conn *c, int *skip)
{
	int v;

	for (;;) {
		if (readpkt(c) != 0)
			return V_ERROR;
		if (c->cmd == 'p')
			continue;
		if ((v = verdict_of(c)) < 0)
			return V_ERROR;
		if (skip != NULL)
			*skip = c->cmd == 's';
		return v;
	}
}

static void
dumpstr(FILE *fp, const char *p, size_t n)
{
	fwrite(p, 1, strnlen(p, n), fp);
}

/* Write a NUL-separated argument list as "a | b | c". */
static void
dumpargs(FILE *fp, const char *p, size_t n)
{
	size_t i, l;

	for (i = 0; i < n; i += l + 1) {
		l = strnlen(p + i, n - i);
		if (i > 0)
			fputs(" | ", fp);
		fwrite(p + i, 1, l, fp);
	}
}

/*
 * Read the end-of-message replies: modifications then one verdict.
 * Writes them to fp when given (body replacements collected at the end).
 */
static int
eom_replies(struct conn *c, FILE *fp, struct obuf *body)
{
	int v;
	uint32_t n;

	for (;;) {
		if (readpkt(c) != 0)
			return V_ERROR;
		if ((v = verdict_of(c)) >= 0 && c->cmd != 's') {
			if (fp != NULL) {
				fprintf(fp, "verdict: %s", vname[v]);
				if (c->cmd == 'y') {
					fputs(" ", fp);
					dumpstr(fp, c->in, c->inlen);
				}
				fputc('\n', fp);
			}
			return v;
		}
		if (fp == NULL) {
			if (strchr("hmib+-2epql", c->cmd) == NULL)
				return V_ERROR;
			continue;
		}
		switch (c->cmd) {
		case 'h':
			fputs("addheader: ", fp);
			dumpargs(fp, c->in, c->inlen);
			fputc('\n', fp);
			break;
		case 'm':
		case 'i':
			if (c->inlen < 4)
				return V_ERROR;
			n = get32(c->in);
			fprintf(fp, "%s: %u ", c->cmd == 'm' ? "chgheader" :
			    "insheader", n);
			dumpargs(fp, c->in + 4, c->inlen - 4);
			fputc('\n', fp);
			break;
		case 'b':
			ob_add(body, c->in, c->inlen);
			break;
		case '+':
		case '2':
			fputs("addrcpt: ", fp);
			dumpargs(fp, c->in, c->inlen);
			fputc('\n', fp);
			break;
		case '-':
			fputs("delrcpt: ", fp);
			dumpargs(fp, c->in, c->inlen);
			fputc('\n', fp);
			break;
		case 'e':
			fputs("chgfrom: ", fp);
			dumpargs(fp, c->in, c->inlen);
			fputc('\n', fp);
			break;
		case 'q':
			fputs("quarantine: ", fp);
			dumpstr(fp, c->in, c->inlen);
			fputc('\n', fp);
			break;
		case 'p':
		case 'l':
			break;
		default:
			return V_ERROR;
		}
	}
}

/*
 * One message.  Returns the verdict; *latency gets the EOB round trip in ms.
 * *drop is set when the connection must be closed afterwards.
 */
static int
do_msg(struct conn *c, long idx, int first, double *latency, double *whole,
    int *drop)
{
	const struct msgfile *m = &files[(size_t)idx % nfiles];
	char qid[32], from[64], rcpt[64], fromarg[80], rcptarg[80], port[2];
	char path[PATH_MAX];
	const char *val;
	struct obuf body = { NULL, 0, 0 };
	int inject = o_fault != F_NONE && (idx + 1) % o_fevery == 0;
	struct linger lg;
	FILE *fp = NULL;
	size_t i, off, n;
	double t0, t1;
	int v, skip = 0;
	uint32_t pr = c->proto;

	*drop = 0;
	snprintf(qid, sizeof(qid), "%08lX%04X", idx, (unsigned)getpid() & 0xffff);
	snprintf(from, sizeof(from), "sender%ld@example.org", idx % 1000);
	snprintf(rcpt, sizeof(rcpt), "user%ld@example.com", idx % 97);
	snprintf(fromarg, sizeof(fromarg), "<%s>", from);
	snprintf(rcptarg, sizeof(rcptarg), "<%s>", rcpt);

	if (first) {
		macros(c, 'C', "j", "mx.mailcorral.test", "_",
		    "client.example [192.0.2.1]", "{daemon_name}", "MTA-bench",
		    "{client_addr}", "192.0.2.1", (char *)NULL);
		if (!(pr & P_NOCONNECT)) {
			port[0] = (char)(2525 >> 8);
			port[1] = (char)(2525 & 0xff);
			pkt(c, 'C', "client.example", (size_t)15, "4", (size_t)1,
			    port, (size_t)2, "192.0.2.1", (size_t)10,
			    (char *)NULL);
			if (!(pr & P_NR_CONN) &&
			    (v = step_reply(c, NULL)) != V_CONTINUE) {
				*drop = 1;
				return v;
			}
		}
		if (!(pr & P_NOHELO)) {
			pkt(c, 'H', "client.example", (size_t)15, (char *)NULL);
			if (!(pr & P_NR_HELO) &&
			    (v = step_reply(c, NULL)) != V_CONTINUE) {
				*drop = 1;
				return v;
			}
		}
	}
	t0 = now();
	macros(c, 'M', "i", qid, "{mail_mailer}", "esmtp", "{mail_host}",
	    "example.org", "{mail_addr}", from, (char *)NULL);
	if (!(pr & P_NOMAIL)) {
		pkt(c, 'M', fromarg, strlen(fromarg) + 1, (char *)NULL);
		if (!(pr & P_NR_MAIL) &&
		    (v = step_reply(c, NULL)) != V_CONTINUE)
			goto early;
	}
	macros(c, 'R', "{rcpt_mailer}", "local", "{rcpt_host}", "",
	    "{rcpt_addr}", rcpt, (char *)NULL);
	if (!(pr & P_NORCPT)) {
		pkt(c, 'R', rcptarg, strlen(rcptarg) + 1, (char *)NULL);
		if (!(pr & P_NR_RCPT) &&
		    (v = step_reply(c, NULL)) != V_CONTINUE)
			goto early;
	}
	if (!(pr & P_NODATA)) {
		pkt(c, 'T', (char *)NULL);
		if (!(pr & P_NR_DATA) &&
		    (v = step_reply(c, NULL)) != V_CONTINUE)
			goto early;
	}
	if (!(pr & P_NOHDRS)) {
		for (i = 0; i < m->nhdrs; i++) {
			if (inject && o_fault == F_HDRCLOSE &&
			    i == m->nhdrs / 2) {
				(void)flush(c);
				*drop = 1;
				return MSG_ABORTED;
			}
			val = pr & P_HDR_LEADSPC ? m->hdrs[i].rawvalue :
			    m->hdrs[i].value;
			pkt(c, 'L', m->hdrs[i].name,
			    strlen(m->hdrs[i].name) + 1, val, strlen(val) + 1,
			    (char *)NULL);
			if (!(pr & P_NR_HDR) &&
			    (v = step_reply(c, NULL)) != V_CONTINUE)
				goto early;
		}
	}
	if (!(pr & P_NOEOH)) {
		pkt(c, 'N', (char *)NULL);
		if (!(pr & P_NR_EOH) &&
		    (v = step_reply(c, NULL)) != V_CONTINUE)
			goto early;
	}
	if (!(pr & P_NOBODY)) {
		for (off = 0; off < m->bodylen && !skip; off += n) {
			n = m->bodylen - off;
			if (n > o_chunk)
				n = o_chunk;
			if (inject && off + n > m->bodylen / 2 &&
			    (o_fault == F_ABORT || o_fault == F_RST ||
			    o_fault == F_QUIT)) {
				/* Half the body, then the fault. */
				n = m->bodylen / 2 - off;
				if (n > 0) {
					pkt(c, 'B', m->body + off, n,
					    (char *)NULL);
					if (!(pr & P_NR_BODY) &&
					    (v = step_reply(c, &skip)) !=
					    V_CONTINUE)
						goto early;
				}
				*drop = 1;
				if (o_fault == F_ABORT) {
					pkt(c, 'A', (char *)NULL);
					*drop = flush(c) != 0;
				} else if (o_fault == F_QUIT) {
					pkt(c, 'Q', (char *)NULL);
					(void)flush(c);
				} else {
					(void)flush(c);
					lg.l_onoff = 1;
					lg.l_linger = 0;
					setsockopt(c->fd, SOL_SOCKET,
					    SO_LINGER, &lg, sizeof(lg));
				}
				return MSG_ABORTED;
			}
			pkt(c, 'B', m->body + off, n, (char *)NULL);
			if (!(pr & P_NR_BODY) &&
			    (v = step_reply(c, &skip)) != V_CONTINUE)
				goto early;
			if (c->out.len > 1024 * 1024 && flush(c) != 0) {
				v = V_ERROR;
				goto early;
			}
		}
	}
	macros(c, 'E', "{msg_id}", "<bench@mx.mailcorral.test>", (char *)NULL);
	pkt(c, 'E', (char *)NULL);
	if (o_dump != NULL) {
		snprintf(path, sizeof(path), "%s/%ld.out", o_dump, idx);
		if ((fp = fopen(path, "w")) == NULL)
			die("%s: %s", path, strerror(errno));
		fprintf(fp, "file: %s\n", m->path);
	}
	if (flush(c) != 0) {
		v = V_ERROR;
		goto early;
	}
	t1 = now();
	v = eom_replies(c, fp, &body);
	*latency = (now() - t1) * 1000.0;
	*whole = (now() - t0) * 1000.0;
	if (fp != NULL) {
		if (body.len > 0) {
			fputs("body:\n", fp);
			fwrite(body.data, 1, body.len, fp);
		}
		fclose(fp);
	}
	free(body.data);
	if (v == V_ERROR)
		*drop = 1;
	else if (inject && o_fault == F_EOMABORT) {
		pkt(c, 'A', (char *)NULL);
		*drop = flush(c) != 0;
		return MSG_ABORTED;
	}
	return v;

early:
	/* Ended before EOB: the MTA aborts the transaction. */
	if (o_dump != NULL) {
		snprintf(path, sizeof(path), "%s/%ld.out", o_dump, idx);
		if ((fp = fopen(path, "w")) != NULL) {
			fprintf(fp, "file: %s\nverdict: %s (before eob)\n",
			    m->path, vname[v]);
			fclose(fp);
		}
	}
	*latency = 0;
	*whole = (now() - t0) * 1000.0;
	if (v == V_ERROR)
		*drop = 1;
	else
		pkt(c, 'A', (char *)NULL);
	return v;
}

/*
 * The next message's index, or -1 when all are taken or time is up.  With
 * -r, message i is not started before t_start + i / o_rate.
 */
static long
take(void)
{
	long i = -1;
	double wait = 0;

	pthread_mutex_lock(&mtx);
	if (next_msg < o_nmsg &&
	    (o_tlimit <= 0 || now() - t_start < o_tlimit)) {
		i = next_msg++;
		if (o_rate > 0)
			wait = t_start + (double)i / o_rate - now();
	}
	pthread_mutex_unlock(&mtx);
	if (wait > 0)
		usleep((useconds_t)(wait * 1e6));
	return i;
}

static void *
worker(void *arg)
{
	struct conn c;
	long idx;
	int inconn = 0, v, drop;
	double l, w;

	(void)arg;
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	while ((idx = take()) >= 0) {
		if (c.fd < 0 && open_conn(&c) != 0) {
			pthread_mutex_lock(&mtx);
			nconnerr++;
			counts[V_ERROR]++;
			lat[idx] = mlat[idx] = -1;
			done_msgs++;
			pthread_mutex_unlock(&mtx);
			usleep(10000);
			continue;
		}
		l = w = -1;
		v = do_msg(&c, idx, inconn == 0, &l, &w, &drop);
		inconn++;
		pthread_mutex_lock(&mtx);
		if (v == MSG_ABORTED) {
			naborted++;
			lat[idx] = mlat[idx] = -1;
			done_msgs++;
			pthread_mutex_unlock(&mtx);
			if (drop || inconn >= o_permsgs) {
				if (!drop) {
					pkt(&c, 'Q', (char *)NULL);
					(void)flush(&c);
				}
				hangup(&c);
				inconn = 0;
			}
			continue;
		}
		counts[v]++;
		lat[idx] = v == V_ERROR ? -1 : l;
		mlat[idx] = v == V_ERROR ? -1 : w;
		done_msgs++;
		pthread_mutex_unlock(&mtx);
		if (drop || inconn >= o_permsgs) {
			if (!drop) {
				pkt(&c, 'Q', (char *)NULL);
				(void)flush(&c);
			}
			hangup(&c);
			inconn = 0;
		}
	}
	if (c.fd >= 0) {
		pkt(&c, 'Q', (char *)NULL);
		(void)flush(&c);
		hangup(&c);
	}
	free(c.out.data);
	free(c.in);
	return NULL;
}

/* ---- /proc sampling ---- */

static int
proc_cpu(long pid, double *sec)
{
	char path[64], buf[2048], *p;
	unsigned long ut, st;
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* Skip "pid (comm) ": comm may hold blanks. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* After ")": state(3) ... utime is field 14, stime 15. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return -1;
	*sec = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

/* A "VmXXX:" value of /proc/PID/status in KiB, or -1. */
static long
proc_mem(long pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(fp);
	return v;
}

struct sample {
	long	done;
	long	rss;
};
static struct sample	*samples;
static size_t		 nsamples, samplecap;
static long		 rss_first = -1, rss_10 = -1, rss_50 = -1, rss_90 = -1,
			 rss_maxs = -1, rss_last = -1;

static void *
sampler(void *arg)
{
	long r, d;

	(void)arg;
	while (!stop_sampler) {
		r = proc_mem(o_pid, "VmRSS");
		pthread_mutex_lock(&mtx);
		d = done_msgs;
		pthread_mutex_unlock(&mtx);
		if (r >= 0) {
			if (nsamples == samplecap) {
				samplecap = samplecap ? samplecap * 2 : 1024;
				samples = realloc(samples,
				    samplecap * sizeof(*samples));
				if (samples == NULL)
					die("out of memory");
			}
			samples[nsamples].done = d;
			samples[nsamples++].rss = r;
			if (r > rss_maxs)
				rss_maxs = r;
		}
		usleep(100000);
	}
	return NULL;
}

/* VmRSS of the first sample taken once DONE messages were answered. */
static long
rss_at(long done)
{
	size_t i;

	for (i = 0; i < nsamples; i++)
		if (samples[i].done >= done)
			return samples[i].rss;
	return nsamples > 0 ? samples[nsamples - 1].rss : -1;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void
usage(void)
{
	fputs("usage: milterdrv -s SOCKET [-c CONC] [-n MSGS] [-t SECS] "
	    "[-r RATE] [-p PID] [-D DIR]\n"
	    "                 [-b CHUNK] [-m MSGS_PER_CONN] [-T TIMEOUT] "
	    "[-N] [-U] [-q] [-j]\n"
	    "                 [-A abort|hdrclose|rst|quit|eomabort[:N]]\n"
	    "                 [-d CORPUSDIR] [FILE.eml ...]\n"
	    "  -s  unix:PATH or inet:PORT@HOST     -c  worker connections "
	    "(default 1)\n"
	    "  -n  messages in all (default 100)   -t  stop after SECS\n"
	    "  -r  start at most RATE messages per second in all (paced;\n"
	    "      default: as fast as the filter answers)\n"
	    "  -p  filter pid: CPU and memory from /proc\n"
	    "  -D  write verdict and modifications to DIR/<index>.out\n"
	    "  -b  body chunk size (default and max 65535)\n"
	    "  -m  messages per connection (default 1)\n"
	    "  -T  I/O timeout in seconds (default 60)\n"
	    "  -N  TCP_NODELAY on inet sockets   -U  unfold header values\n"
	    "  -q  quiet   -j  one line of key=value\n"
	    "  -A  the MTA gives up on every Nth message (default 1): abort\n"
	    "      (SMFIC_ABORT after half the body, connection kept),\n"
	    "      hdrclose (close after half the headers), rst (reset after\n"
	    "      half the body), quit (SMFIC_QUIT after half the body),\n"
	    "      eomabort (SMFIC_ABORT after the final reply); counted as\n"
	    "      aborted (an extra line / key)\n", stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	pthread_t *th, st;
	char **paths = NULL;
	size_t npaths = 0, i, nl = 0, nm = 0;
	double cpu0 = 0, cpu1 = 0, el, *sorted, *msorted, mps, cpums = -1;
	long hwm = -1, okc;
	int ch, havecpu = 0;
	char *colon;

	while ((ch = getopt(argc, argv, "s:c:n:t:r:p:D:d:b:m:T:NUqjhA:")) != -1) {
		switch (ch) {
		case 's':
			o_sock = optarg;
			break;
		case 'c':
			o_conc = atoi(optarg);
			break;
		case 'n':
			o_nmsg = atol(optarg);
			break;
		case 't':
			o_tlimit = atof(optarg);
			break;
		case 'r':
			if ((o_rate = atof(optarg)) <= 0)
				usage();
			break;
		case 'p':
			o_pid = atol(optarg);
			break;
		case 'D':
			o_dump = optarg;
			break;
		case 'd':
			loaddir(optarg, &paths, &npaths);
			break;
		case 'b':
			o_chunk = (size_t)atol(optarg);
			break;
		case 'm':
			o_permsgs = atoi(optarg);
			break;
		case 'T':
			o_timeout = atoi(optarg);
			break;
		case 'N':
			o_nodelay = 1;
			break;
		case 'U':
			o_unfold = 1;
			break;
		case 'q':
			o_quiet = 1;
			break;
		case 'j':
			o_json = 1;
			break;
		case 'A':
			if ((colon = strchr(optarg, ':')) != NULL) {
				*colon++ = '\0';
				if ((o_fevery = atol(colon)) < 1)
					usage();
			}
			if (strcmp(optarg, "abort") == 0)
				o_fault = F_ABORT;
			else if (strcmp(optarg, "hdrclose") == 0)
				o_fault = F_HDRCLOSE;
			else if (strcmp(optarg, "rst") == 0)
				o_fault = F_RST;
			else if (strcmp(optarg, "quit") == 0)
				o_fault = F_QUIT;
			else if (strcmp(optarg, "eomabort") == 0)
				o_fault = F_EOMABORT;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	for (; optind < argc; optind++) {
		paths = realloc(paths, (npaths + 1) * sizeof(*paths));
		if (paths == NULL)
			die("out of memory");
		paths[npaths++] = argv[optind];
	}
	if (o_sock == NULL || npaths == 0 || o_conc < 1 || o_nmsg < 1 ||
	    o_chunk < 1 || o_chunk > DRV_MAXCHUNK || o_permsgs < 1 ||
	    o_timeout < 1)
		usage();
	signal(SIGPIPE, SIG_IGN);
	nfiles = npaths;
	files = xmalloc(nfiles * sizeof(*files));
	for (i = 0; i < nfiles; i++)
		loadmsg(&files[i], paths[i]);
	lat = xmalloc((size_t)o_nmsg * sizeof(*lat));
	mlat = xmalloc((size_t)o_nmsg * sizeof(*mlat));
	for (i = 0; i < (size_t)o_nmsg; i++)
		lat[i] = mlat[i] = -1;
	th = xmalloc((size_t)o_conc * sizeof(*th));

	if (o_pid > 0) {
		havecpu = proc_cpu(o_pid, &cpu0) == 0;
		if (!havecpu)
			die("no process %ld", o_pid);
		if (pthread_create(&st, NULL, sampler, NULL) != 0)
			die("pthread_create failed");
	}
	t_start = now();
	for (ch = 0; ch < o_conc; ch++)
		if (pthread_create(&th[ch], NULL, worker, NULL) != 0)
			die("pthread_create failed");
	for (ch = 0; ch < o_conc; ch++)
		pthread_join(th[ch], NULL);
	t_end = now();
	if (o_pid > 0) {
		/* Let the filter finish its close callbacks before sampling. */
		usleep(100000);
		stop_sampler = 1;
		pthread_join(st, NULL);
		if (proc_cpu(o_pid, &cpu1) != 0)
			havecpu = 0;
		hwm = proc_mem(o_pid, "VmHWM");
		rss_last = proc_mem(o_pid, "VmRSS");
		if (nsamples > 0)
			rss_first = samples[0].rss;
		rss_10 = rss_at(done_msgs / 10);
		rss_50 = rss_at(done_msgs / 2);
		rss_90 = rss_at(done_msgs * 9 / 10);
	}
	el = t_end - t_start;
	sorted = xmalloc((size_t)o_nmsg * sizeof(*sorted));
	for (i = 0; i < (size_t)next_msg; i++)
		if (lat[i] >= 0)
			sorted[nl++] = lat[i];
	qsort(sorted, nl, sizeof(*sorted), cmpd);
	msorted = xmalloc((size_t)o_nmsg * sizeof(*msorted));
	for (i = 0; i < (size_t)next_msg; i++)
		if (mlat[i] >= 0)
			msorted[nm++] = mlat[i];
	qsort(msorted, nm, sizeof(*msorted), cmpd);
	mps = el > 0 ? (double)done_msgs / el : 0;
	okc = done_msgs - counts[V_ERROR];
	if (havecpu && done_msgs > 0)
		cpums = (cpu1 - cpu0) * 1000.0 / (double)done_msgs;

	if (o_json) {
		printf("messages=%ld errors=%ld connect_errors=%ld "
		    "elapsed=%.3f msgs_per_s=%.1f p50_ms=%.3f p95_ms=%.3f "
		    "p99_ms=%.3f max_ms=%.3f msg_p50_ms=%.3f msg_p99_ms=%.3f "
		    "cpu_ms_per_msg=%.4f "
		    "peak_rss_kib=%ld rss_first_kib=%ld rss_10_kib=%ld "
		    "rss_50_kib=%ld rss_90_kib=%ld rss_end_kib=%ld "
		    "rss_max_sampled_kib=%ld accept=%ld continue=%ld "
		    "reject=%ld tempfail=%ld discard=%ld",
		    done_msgs, counts[V_ERROR], nconnerr, el, mps,
		    pct(sorted, nl, 50), pct(sorted, nl, 95),
		    pct(sorted, nl, 99), nl ? sorted[nl - 1] : 0,
		    pct(msorted, nm, 50), pct(msorted, nm, 99), cpums, hwm,
		    rss_first, rss_10, rss_50, rss_90, rss_last, rss_maxs,
		    counts[V_ACCEPT], counts[V_CONTINUE], counts[V_REJECT],
		    counts[V_TEMPFAIL], counts[V_DISCARD]);
		if (o_fault != F_NONE)
			printf(" aborted=%ld", naborted);
		putchar('\n');
	} else if (!o_quiet) {
		printf("messages      %ld (%ld ok, %ld errors, %ld connect "
		    "errors)\n", done_msgs, okc, counts[V_ERROR], nconnerr);
		printf("elapsed       %.3f s\n", el);
		printf("throughput    %.1f msgs/s\n", mps);
		printf("latency ms    p50 %.3f  p95 %.3f  p99 %.3f  max %.3f "
		    "(EOB sent -> final reply)\n", pct(sorted, nl, 50),
		    pct(sorted, nl, 95), pct(sorted, nl, 99),
		    nl ? sorted[nl - 1] : 0);
		printf("whole msg ms  p50 %.3f  p99 %.3f (MAIL sent -> final "
		    "reply)\n", pct(msorted, nm, 50), pct(msorted, nm, 99));
		if (o_pid > 0) {
			printf("filter CPU    %.4f ms/msg\n", cpums);
			printf("filter RSS    peak (VmHWM) %.1f MiB; VmRSS "
			    "first %ld, at 10%% %ld, 50%% %ld, 90%% %ld, "
			    "end %ld KiB\n", hwm / 1024.0, rss_first, rss_10,
			    rss_50, rss_90, rss_last);
		}
		printf("verdicts      accept %ld  continue %ld  reject %ld  "
		    "tempfail %ld  discard %ld  error %ld\n",
		    counts[V_ACCEPT], counts[V_CONTINUE], counts[V_REJECT],
		    counts[V_TEMPFAIL], counts[V_DISCARD], counts[V_ERROR]);
		if (o_fault != F_NONE)
			printf("aborted       %ld (fault injected by -A)\n",
			    naborted);
	}
	return counts[V_ERROR] > 0 ? 1 : 0;
}
