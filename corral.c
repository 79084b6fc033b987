/*
 * corral.c -- writing and reading the spam corral (see corral.h).
 * Files are written to tmp.<qid>.<pid>.<n>, fsynced, then published
 * under a fresh name by safefile.c (never replacing an existing name,
 * never following a planted symlink); the directory is fsynced last.
 * corral_message() stores the filter's copy: header block, the fields
 * bypass_corral_fields() made (Date, Message-ID, bypass header), the
 * body, and the issued markers of its bypass id; it mints nothing, so
 * this storage layer includes nothing of bypass.c, which sits above it.
 * Ownership: struct corral and the writer are the caller's; corral_commit()
 * and corral_abort() free the writer.  Writes go through one buf_out chunk.
 * Failure: -1 (or NULL) with errno and a reason in err; a failed commit
 * removes its temp file and links, so no half entry is ever published.
 * Nothing here logs.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "corral.h"
#include "safefile.h"
#include "spool.h"
#include "util.h"
#include "banned.h"

#define WBUFSZ		65536
#define MAX_TRIES	100000

struct corral {
	int			 dirfd;
	unsigned long long	 max_total;	/* 0: no limit */
	unsigned long long	 max_rcpt;	/* 0: no limit */
	unsigned		 host;		/* 0..255: in ids, tmp names */
};

struct corral_writer {
	struct corral	*c;
	int		 fd;
	unsigned long long size;	/* bytes written so far */
	struct buf_out	 o;		/* chunk in front of fd; sticky err */
	char		 tmp[NAME_MAX + 1];
	char		 buf[WBUFSZ];
};

static atomic_uint_fast64_t	tmpseq;		/* <n> of temp names */
static atomic_uint_fast32_t	idseq;		/* mixed into new ids */

static const char hexdig[] = "0123456789ABCDEF";

static int
safe_byte(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '.' || ch == '+' || ch == '=' ||
	    ch == '@' || ch == '-';
}

int
corral_safe_rcpt(const char *rcpt, char *out, size_t outlen)
{
	char canon[4096], safe[4096 * 3 + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *at;
	size_t len, i, n, cut;

	len = strlen(rcpt);
	if (len >= 2 && rcpt[0] == '<' && rcpt[len - 1] == '>') {
		rcpt++;
		len -= 2;
	}
	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (len >= sizeof(canon)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(canon, rcpt, len);
	canon[len] = '\0';
	if ((at = memrchr(canon, '@', len)) != NULL)
		for (i = (size_t)(at - canon) + 1; i < len; i++)
			if (canon[i] >= 'A' && canon[i] <= 'Z')
				canon[i] = (char)(canon[i] - 'A' + 'a');

	for (i = n = 0; i < len; i++) {
		unsigned char ch = (unsigned char)canon[i];

		if (safe_byte(ch) && !(i == 0 && (ch == '.' || ch == '-')))
			safe[n++] = (char)ch;
		else {
			safe[n++] = '%';
			safe[n++] = hexdig[ch >> 4];
			safe[n++] = hexdig[ch & 15];
		}
	}
	safe[n] = '\0';

	if (n > CORRAL_RCPT_MAX) {
		/* 150 bytes, never half an escape. */
		cut = 150;
		for (i = 0; i < cut; i++)
			if (safe[i] == '%') {
				if (i + 3 > cut) {
					cut = i;
					break;
				}
				i += 2;
			}
		if (EVP_Digest(canon, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
		    mdlen < 8) {
			errno = EIO;
			return -1;
		}
		n = cut;
		safe[n++] = '%';
		safe[n++] = '%';
		for (i = 0; i < 8; i++) {
			safe[n++] = hexdig[md[i] >> 4];
			safe[n++] = hexdig[md[i] & 15];
		}
		safe[n] = '\0';
	}
	if (n + 1 > outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, safe, n + 1);
	return 0;
}

/*
 * Checks a safe recipient's syntax; returns 0 plain, 1 hashed, -1 bad.
 */
static int
check_safe(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CORRAL_RCPT_MAX || s[0] == '.' || s[0] == '-')
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			if (!safe_byte((unsigned char)s[i]))
				return -1;
			continue;
		}
		if (i + 1 < len && s[i + 1] == '%') {
			size_t j;

			if (len - (i + 2) != 16)
				return -1;
			for (j = i + 2; j < len; j++)
				if (!util_isxupper(s[j]))
					return -1;
			return 1;
		}
		if (i + 2 >= len || !util_isxupper(s[i + 1]) ||
		    !util_isxupper(s[i + 2]))
			return -1;
		i += 2;
	}
	return 0;
}

int
corral_unescape(const char *safe, char *out, size_t outlen)
{
	size_t len = strlen(safe), i, n = 0;
	int kind;

	if ((kind = check_safe(safe, len)) == -1) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < len; i++) {
		int ch = (unsigned char)safe[i];

		if (ch == '%') {
			if (safe[i + 1] == '%')
				break;
			ch = util_hexval(safe[i + 1]) << 4 |
			    util_hexval(safe[i + 2]);
			i += 2;
		}
		if (n + 1 >= outlen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		out[n++] = (char)ch;
	}
	if (outlen == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[n] = '\0';
	return kind;
}

int
corral_parse_name(const char *name, char *rcpt, size_t rlen, char *id,
    size_t idlen)
{
	const char *p, *us;
	size_t len, rl, i;

	if (strncmp(name, "spam_to_", 8) != 0)
		goto bad;
	p = name + 8;
	len = strlen(p);
	if ((us = memrchr(p, '_', len)) == NULL)
		goto bad;
	rl = (size_t)(us - p);
	if (strlen(us + 1) != CORRAL_ID_LEN)
		goto bad;
	for (i = 1; i <= CORRAL_ID_LEN; i++)
		if (!util_isxupper(us[i]))
			goto bad;
	if (rl > 0 && check_safe(p, rl) == -1)
		goto bad;
	if (rlen < rl + 1 || idlen < CORRAL_ID_LEN + 1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(rcpt, p, rl);
	rcpt[rl] = '\0';
	memcpy(id, us + 1, CORRAL_ID_LEN + 1);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

struct corral *
corral_open(const char *dir, char *err, size_t errlen)
{
	struct corral *c;
	struct stat st;
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		util_seterr(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		util_seterr(err, errlen, "%s: %s", dir, strerror(errno));
		close(fd);
		return NULL;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "%s: corral directory is writable by "
		    "group or other (mode %04o)", dir,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		errno = EPERM;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		util_seterr(err, errlen, "corral: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	c->dirfd = fd;
	return c;
}

void
corral_close(struct corral *c)
{
	if (c == NULL)
		return;
	close(c->dirfd);
	free(c);
}

int
corral_dirfd(const struct corral *c)
{
	return c->dirfd;
}

/* The sink of the writer's chunk: the temp file. */
static int
wsink(void *arg, const char *p, size_t n)
{
	struct corral_writer *w = arg;

	return util_write_all(w->fd, p, n);
}

struct corral_writer *
corral_begin(struct corral *c, const char *qid, char *err, size_t errlen)
{
	struct corral_writer *w;
	char q[33];
	size_t i;
	int n;

	for (i = 0; qid != NULL && qid[i] != '\0' && i < sizeof(q) - 1; i++)
		q[i] = isalnum((unsigned char)qid[i]) ? qid[i] : 'X';
	if (i == 0)
		q[i++] = 'X';
	q[i] = '\0';
	if ((w = malloc(sizeof(*w))) == NULL) {
		util_seterr(err, errlen, "corral: %s", strerror(errno));
		return NULL;
	}
	w->c = c;
	w->size = 0;
	buf_out_init(&w->o, w->buf, sizeof(w->buf), wsink, w);
	for (;;) {
		n = snprintf(w->tmp, sizeof(w->tmp), "tmp.%02X.%s.%ld.%llu",
		    c->host, q, (long)getpid(),
		    (unsigned long long)atomic_fetch_add(&tmpseq, 1));
		if (n < 0 || (size_t)n >= sizeof(w->tmp)) {
			errno = ENAMETOOLONG;
			break;
		}
		w->fd = sfile_create(c->dirfd, w->tmp, 0600);
		if (w->fd != -1)
			return w;
		if (errno != EEXIST)	/* EEXIST: not ours, never unlink */
			break;
	}
	util_seterr(err, errlen, "create: %s", strerror(errno));
	free(w);
	return NULL;
}

static int
wflush(struct corral_writer *w)
{
	return buf_out_flush(&w->o);
}

int
corral_write(struct corral_writer *w, const void *p, size_t n)
{
	if (w->o.err != 0) {
		errno = w->o.err;
		return -1;
	}
	w->size += n;
	return buf_out_put(&w->o, p, n);
}

void
corral_set_quota(struct corral *c, unsigned long long max_total,
    unsigned long long max_rcpt)
{
	c->max_total = max_total;
	c->max_rcpt = max_rcpt;
}

static int quota_check(struct corral *, char (*)[CORRAL_RCPT_MAX + 1],
    size_t, unsigned long long, char *, size_t);

int
corral_rcpt_over_quota(struct corral *c, const char *rcpt,
    unsigned long long size)
{
	char safe[1][CORRAL_RCPT_MAX + 1], err[256];

	if (c->max_rcpt == 0)
		return 0;
	if (corral_safe_rcpt(rcpt, safe[0], sizeof(safe[0])) == -1)
		return -1;
	if (quota_check(c, safe, 1, size, err, sizeof(err)) == 0)
		return 0;
	if (errno != EDQUOT)
		return -1;
	return strncmp(err, "quota rcpt=", 11) == 0;
}

struct quota_rcpt {
	const char		*safe;
	unsigned long long	 used;
};

static int
quota_cmp(const void *a, const void *b)
{
	return strcmp(((const struct quota_rcpt *)a)->safe,
	    ((const struct quota_rcpt *)b)->safe);
}

static int link_target(int, const char *, const char *, char *, size_t);

/*
 * SC-C7: would size more bytes for these recipients exceed a quota?  One
 * pass over the directory: every spam_to_* regular file counts towards
 * the total and, when its name has one of the recipients, towards that
 * recipient; a recipient's link counts its base file.  tmp.* files and
 * entries that vanish during the pass are not counted.  Returns 0, or -1
 * (EDQUOT over a quota, reason in err; other errno: the directory could
 * not be read).
 */
static int
quota_check(struct corral *c, char (*safe)[CORRAL_RCPT_MAX + 1],
    size_t nsafe, unsigned long long size, char *err, size_t errlen)
{
	char rcpt[CORRAL_RCPT_MAX + 1], id[CORRAL_ID_LEN + 1];
	char tgt[CORRAL_NAME_MAX + 2];
	struct quota_rcpt *q, key, *hit;
	unsigned long long total = 0;
	struct dirent *de;
	struct stat st;
	size_t i;
	DIR *d;
	int fd, e;

	if ((q = calloc(nsafe, sizeof(*q))) == NULL) {
		util_seterr(err, errlen, "quota: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < nsafe; i++)
		q[i].safe = safe[i];
	qsort(q, nsafe, sizeof(*q), quota_cmp);
	if ((fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		e = errno;
		if (fd != -1)
			close(fd);
		free(q);
		util_seterr(err, errlen, "quota: read corral: %s", strerror(e));
		errno = e;
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "spam_to_", 8) != 0 ||
		    corral_parse_name(de->d_name, rcpt, sizeof(rcpt), id,
		    sizeof(id)) == -1)
			continue;
		key.safe = rcpt;
		hit = rcpt[0] == '\0' ? NULL : bsearch(&key, q, nsafe,
		    sizeof(*q), quota_cmp);
		if (de->d_type == DT_LNK)
			st.st_mode = S_IFLNK;
		else if ((de->d_type != DT_REG && de->d_type != DT_UNKNOWN) ||
		    fstatat(c->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			continue;
		if (S_ISLNK(st.st_mode)) {
			if (hit == NULL || link_target(c->dirfd, de->d_name, id,
			    tgt, sizeof(tgt)) == -1 || fstatat(c->dirfd, tgt,
			    &st, AT_SYMLINK_NOFOLLOW) == -1 ||
			    !S_ISREG(st.st_mode))
				continue;
			hit->used += (unsigned long long)st.st_size;
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		total += (unsigned long long)st.st_size;
		if (hit != NULL)
			hit->used += (unsigned long long)st.st_size;
	}
	closedir(d);
	for (i = 0; i < nsafe; i++)
		if (c->max_rcpt > 0 && q[i].used + size > c->max_rcpt) {
			snprintf(err, errlen, "quota rcpt=%s used=%llu size=%llu "
			    "max=%llu", q[i].safe, q[i].used, size,
			    c->max_rcpt);
			free(q);
			errno = EDQUOT;
			return -1;
		}
	free(q);
	if (c->max_total > 0 && total + size > c->max_total) {
		snprintf(err, errlen, "quota total used=%llu size=%llu max=%llu",
		    total, size, c->max_total);
		errno = EDQUOT;
		return -1;
	}
	return 0;
}

void
corral_abort(struct corral_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd != -1)
		close(w->fd);
	unlinkat(w->c->dirfd, w->tmp, 0);
	free(w);
}

static void (*clockfn)(long *, long *);

void
corral_set_clock(void (*fn)(long *, long *))
{
	clockfn = fn;
}

/*
 * <id>: 8 hex digits of the time, then the host (2 hex digits), then 6
 * that make it unique on this host (microseconds and a counter; a name
 * taken is retried with the next).  Ids of hosts sharing a corral never
 * meet; the form is the 16 hex digits it always was.
 */
static void
make_id(char id[CORRAL_ID_LEN + 1], unsigned host, uint32_t *low, int first)
{
	struct timeval tv;
	long sec, usec;
	uint32_t hi, u;

	if (clockfn != NULL)
		clockfn(&sec, &usec);
	else {
		gettimeofday(&tv, NULL);
		sec = (long)tv.tv_sec;
		usec = (long)tv.tv_usec;
	}
	hi = (uint32_t)sec;
	if (first)
		u = (uint32_t)usec << 4 |
		    (uint32_t)(atomic_fetch_add(&idseq, 1) & 0xf);
	else
		u = *low + 1 + (uint32_t)(atomic_fetch_add(&idseq, 1) & 0xff);
	*low = (host & 0xffu) << 24 | (u & 0xffffffu);
	snprintf(id, CORRAL_ID_LEN + 1, "%08X%08X", (unsigned)hi,
	    (unsigned)*low);
}

void
corral_set_host(struct corral *c, unsigned host)
{
	c->host = host & 0xffu;
}

unsigned
corral_host_of_name(const char *name)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(name, strlen(name), md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen < 1)
		return 0;
	return md[0];
}

/* The host name in a host.<HH> claim, or "" (unreadable, empty). */
static void
claim_read(int dfd, const char *name, char *out, size_t len)
{
	ssize_t n = -1;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) !=
	    -1) {
		n = read(fd, out, len - 1);
		close(fd);
	}
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

int
corral_claim_host(struct corral *c, const char *hostname, char *err,
    size_t errlen)
{
	char name[32], tmp[64], line[300], held[300];
	int n;

	snprintf(name, sizeof(name), "%s%02X", CORRAL_HOST_CLAIM, c->host);
	snprintf(tmp, sizeof(tmp), "tmp.%s.%ld", name, (long)getpid());
	n = snprintf(line, sizeof(line), "%s\n", hostname);
	if (n < 0 || (size_t)n >= sizeof(line) || strchr(hostname, '\n')) {
		snprintf(err, errlen, "host name too long");
		errno = EINVAL;
		return -1;
	}
	/* read first: a reload on a full disk must not fail on a claim
	   that is already there */
	claim_read(c->dirfd, name, held, sizeof(held));
	if (held[0] == '\0') {
		unlinkat(c->dirfd, tmp, 0);	/* a crashed start of ours */
		if (sfile_put(c->dirfd, tmp, name, line, (size_t)n, 0600,
		    SFILE_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST) {
			util_seterr(err, errlen, "%s: %s", name,
			    strerror(errno));
			return -1;
		}
		claim_read(c->dirfd, name, held, sizeof(held));
	}
	if (strcmp(held, hostname) == 0)
		return 0;
	snprintf(err, errlen, "host id %02X is %s's (%s in the corral): set "
	    "corral_host_id to a number no other host uses", c->host,
	    held[0] ? held : "?", name);
	errno = EEXIST;
	return -1;
}

/*
 * One corral name per distinct canonical recipient of rcpts[0..nrcpt) into
 * safe.  How many, or 0 with the reason in err.
 */
static size_t
safe_names(const char *const *rcpts, size_t nrcpt,
    char (*safe)[CORRAL_RCPT_MAX + 1], char *err, size_t errlen)
{
	size_t nsafe = 0, i, j;

	for (i = 0; i < nrcpt; i++) {
		if (corral_safe_rcpt(rcpts[i], safe[nsafe],
		    sizeof(safe[nsafe])) == -1) {
			util_seterr(err, errlen, "recipient: %s",
			    strerror(errno));
			return 0;
		}
		for (j = 0; j < nsafe; j++)
			if (strcmp(safe[j], safe[nsafe]) == 0)
				break;
		if (j == nsafe)
			nsafe++;
	}
	return nsafe;
}

/*
 * The temp file complete: the chunk written, the quotas checked, the file
 * synced and closed (w->fd is -1 after).  0, or -1 with the reason in err.
 */
static int
seal(struct corral_writer *w, char (*safe)[CORRAL_RCPT_MAX + 1],
    size_t nsafe, char *err, size_t errlen)
{
	struct corral *c = w->c;
	int r;

	if (wflush(w) == -1) {
		util_seterr(err, errlen, "write: %s", strerror(errno));
		return -1;
	}
	if ((c->max_rcpt > 0 || c->max_total > 0) &&
	    quota_check(c, safe, nsafe, w->size, err, errlen) == -1)
		return -1;
	r = sfile_sync_close(w->fd);
	w->fd = -1;
	if (r == -1) {
		util_seterr(err, errlen, "fsync: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The published name: spam_to_<rcpt>_<id>, or spam_to__<id> for several. */
static void
base_name(char *base, size_t baselen, char (*safe)[CORRAL_RCPT_MAX + 1],
    size_t nsafe, const char *id)
{
	if (nsafe == 1)
		snprintf(base, baselen, "spam_to_%s_%s", safe[0], id);
	else
		snprintf(base, baselen, "spam_to__%s", id);
}

/* A link spam_to_<rcpt>_<id> to base per recipient: how many were made. */
static size_t
link_all(struct corral *c, const char *base,
    char (*safe)[CORRAL_RCPT_MAX + 1], size_t nsafe, const char *id)
{
	char lname[CORRAL_NAME_MAX + 1];
	size_t made;

	for (made = 0; made < nsafe; made++) {
		snprintf(lname, sizeof(lname), "spam_to_%s_%s", safe[made],
		    id);
		if (symlinkat(base, c->dirfd, lname) == -1)
			break;
	}
	return made;
}

/* Removes the links of the first n recipients. */
static void
drop_links(struct corral *c, char (*safe)[CORRAL_RCPT_MAX + 1], size_t n,
    const char *id)
{
	char lname[CORRAL_NAME_MAX + 1];
	size_t j;

	for (j = 0; j < n; j++) {
		snprintf(lname, sizeof(lname), "spam_to_%s_%s", safe[j], id);
		unlinkat(c->dirfd, lname, 0);
	}
}

int
corral_commit(struct corral_writer *w, const char *const *rcpts,
    size_t nrcpt, char *id_out, char *err, size_t errlen)
{
	struct corral *c = w->c;
	char id[CORRAL_ID_LEN + 1], base[CORRAL_NAME_MAX + 1];
	char (*safe)[CORRAL_RCPT_MAX + 1] = NULL;
	size_t nsafe = 0, made;
	uint32_t low = 0;
	int tries, e, inplace = 1;	/* file still under w->tmp */

	if (nrcpt == 0) {
		snprintf(err, errlen, "no recipients");
		errno = EINVAL;
		goto fail;
	}
	if ((safe = calloc(nrcpt, sizeof(*safe))) == NULL) {
		util_seterr(err, errlen, "corral: %s", strerror(errno));
		goto fail;
	}
	if ((nsafe = safe_names(rcpts, nrcpt, safe, err, errlen)) == 0)
		goto fail;
	if (seal(w, safe, nsafe, err, errlen) == -1)
		goto fail;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		make_id(id, c->host, &low, tries == 0);
		base_name(base, sizeof(base), safe, nsafe, id);
		if (sfile_publish(c->dirfd, w->tmp, base,
		    SFILE_NOREPLACE) == -1) {
			if (errno == EEXIST)
				continue;
			util_seterr(err, errlen, "rename: %s", strerror(errno));
			goto fail;
		}
		inplace = 0;
		if (nsafe == 1)
			break;
		if ((made = link_all(c, base, safe, nsafe, id)) == nsafe)
			break;
		e = errno;
		/* Undo this attempt's links; the base goes back to tmp. */
		drop_links(c, safe, made, id);
		if (renameat(c->dirfd, base, c->dirfd, w->tmp) == -1) {
			unlinkat(c->dirfd, base, 0);
			util_seterr(err, errlen, "rename: %s", strerror(errno));
			goto fail_done;
		}
		inplace = 1;
		if (e != EEXIST) {
			util_seterr(err, errlen, "symlink: %s", strerror(e));
			errno = e;
			goto fail;
		}
	}
	if (tries == MAX_TRIES) {
		snprintf(err, errlen, "no free corral name");
		errno = EEXIST;
		goto fail;
	}
	if (fsync(c->dirfd) == -1) {
		e = errno;
		util_seterr(err, errlen, "fsync directory: %s", strerror(e));
		if (nsafe > 1)
			drop_links(c, safe, nsafe, id);
		unlinkat(c->dirfd, base, 0);
		free(safe);
		free(w);
		errno = e;
		return -1;
	}
	memcpy(id_out, id, sizeof(id));
	free(safe);
	free(w);
	return 0;

fail:
	e = errno;
	if (inplace) {
		if (w->fd != -1)
			close(w->fd);
		unlinkat(c->dirfd, w->tmp, 0);
	}
	free(safe);
	free(w);
	errno = e;
	return -1;
fail_done:
	free(safe);
	free(w);
	return -1;
}

/* Reads a link and checks that it names a base file with id. */
static int
link_target(int dfd, const char *name, const char *id, char *tgt,
    size_t tlen)
{
	char trcpt[CORRAL_RCPT_MAX + 1], tid[CORRAL_ID_LEN + 1];
	ssize_t n;

	if ((n = readlinkat(dfd, name, tgt, tlen - 1)) == -1)
		return -1;
	if ((size_t)n >= tlen - 1) {
		errno = EINVAL;
		return -1;
	}
	tgt[n] = '\0';
	if (memchr(tgt, '/', (size_t)n) != NULL ||
	    corral_parse_name(tgt, trcpt, sizeof(trcpt), tid,
	    sizeof(tid)) == -1 || trcpt[0] != '\0' ||
	    (id != NULL && strcmp(id, tid) != 0)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
corral_open_entry(struct corral *c, const char *name, int *fd_out,
    struct stat *st_out)
{
	char rcpt[CORRAL_RCPT_MAX + 1], id[CORRAL_ID_LEN + 1];
	char tgt[CORRAL_NAME_MAX + 2];
	const char *path = name;
	struct stat st;
	int fd, e;

	if (corral_parse_name(name, rcpt, sizeof(rcpt), id, sizeof(id)) == -1)
		return -1;
	if (fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (S_ISLNK(st.st_mode)) {
		if (rcpt[0] == '\0') {
			errno = ELOOP;
			return -1;
		}
		if (link_target(c->dirfd, name, id, tgt, sizeof(tgt)) == -1)
			return -1;
		path = tgt;
	}
	fd = openat(c->dirfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = ENOTSUP;
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		errno = EPERM;
		goto fail;
	}
	if (st.st_nlink != 1) {
		errno = EMLINK;
		goto fail;
	}
	*fd_out = fd;
	if (st_out != NULL)
		*st_out = st;
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Does any symlink in the corral other than skip point to tgt? */
static int
has_links(int dfd, const char *tgt, const char *id, const char *skip)
{
	char other[CORRAL_NAME_MAX + 2];
	struct dirent *de;
	size_t nl, il = strlen(id);
	DIR *d;
	int fd, found = 0;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		nl = strlen(de->d_name);
		if (nl <= il + 1 || strcmp(de->d_name + nl - il, id) != 0 ||
		    strcmp(de->d_name, tgt) == 0 ||
		    (skip != NULL && strcmp(de->d_name, skip) == 0))
			continue;
		if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
			continue;
		if (link_target(dfd, de->d_name, NULL, other,
		    sizeof(other)) == 0 && strcmp(other, tgt) == 0) {
			found = 1;
			break;
		}
	}
	closedir(d);
	return found;
}

/*
 * unlinkat() of a name just seen: ENOENT means it is gone, which is what
 * was asked (on NFS, a retransmitted REMOVE whose first reply was lost).
 */
static int
unlink_gone(int dfd, const char *name)
{
	return unlinkat(dfd, name, 0) == -1 && errno != ENOENT ? -1 : 0;
}

int
corral_remove_entry(struct corral *c, const char *name)
{
	char rcpt[CORRAL_RCPT_MAX + 1], id[CORRAL_ID_LEN + 1];
	char tgt[CORRAL_NAME_MAX + 2];
	struct stat st;
	int r;

	if (corral_parse_name(name, rcpt, sizeof(rcpt), id, sizeof(id)) == -1)
		return -1;
	if (fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISLNK(st.st_mode)) {
		if (rcpt[0] == '\0') {
			if ((r = has_links(c->dirfd, name, id, NULL)) == -1)
				return -1;
			if (r) {
				errno = EBUSY;
				return -1;
			}
		}
		return unlink_gone(c->dirfd, name);
	}
	if (link_target(c->dirfd, name, NULL, tgt, sizeof(tgt)) == -1)
		tgt[0] = '\0';	/* a bad link: remove it, touch nothing else */
	if (unlink_gone(c->dirfd, name) == -1)
		return -1;
	if (tgt[0] == '\0')
		return 0;
	if (corral_parse_name(tgt, rcpt, sizeof(rcpt), id, sizeof(id)) == -1)
		return -1;
	if ((r = has_links(c->dirfd, tgt, id, name)) == -1)
		return -1;
	if (r == 0 && unlinkat(c->dirfd, tgt, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

/* ---- bypass markers ---- */

int
corral_marker_name(const char *kind, const char *bid, const char *rcpt,
    char *out, size_t outlen)
{
	char safe[CORRAL_RCPT_MAX + 1];
	size_t i;
	int n;

	for (i = 0; bid[i] != '\0' && util_isxupper((unsigned char)bid[i]); i++)
		;
	if (i != CORRAL_ID_LEN || bid[i] != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (corral_safe_rcpt(rcpt, safe, sizeof(safe)) == -1)
		return -1;
	n = snprintf(out, outlen, "%s%s.%s", kind, bid, safe);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
corral_marker_issue(int dfd, const char *bid, const char *rcpt,
    const char *note, int excl)
{
	char name[CORRAL_NAME_MAX + 32];

	if (corral_marker_name(CORRAL_MARK_ISSUED, bid, rcpt, name,
	    sizeof(name)) == -1)
		return -1;
	return corral_marker_make(dfd, name, note, excl);
}

int
corral_marker_check(int dfd, const char *path)
{
	struct stat st;

	if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		errno = EPERM;
		return -1;
	}
	return 1;
}

int
corral_marker_make(int dfd, const char *path, const char *note, int excl)
{
	int fd, e, ok;

	fd = sfile_create(dfd, path, 0600);
	if (fd == -1) {
		if (errno != EEXIST || excl)
			return -1;
		if (corral_marker_check(dfd, path) == 1)
			return 0;
		errno = EEXIST;
		return -1;
	}
	ok = note == NULL || util_write_all(fd, note, strlen(note)) == 0;
	e = errno;
	if (close(fd) == -1 && ok) {
		ok = 0;
		e = errno;
	}
	if (!ok) {
		unlinkat(dfd, path, 0);	/* no empty or half marker */
		errno = e;
		return -1;
	}
	return 0;
}

/* ---- the filter's copy ---- */

static int
writer_put(void *arg, const char *p, size_t n)
{
	return corral_write(arg, p, n);
}

/* Removes the issued.<bid>.* markers of the first n recipients. */
static void
unissue_markers(struct corral *c, const struct corral_msg *m, size_t n)
{
	char name[CORRAL_NAME_MAX + 32];
	size_t i;

	for (i = 0; i < n; i++)
		if (corral_marker_name(CORRAL_MARK_ISSUED, m->bid, m->rcpts[i],
		    name, sizeof(name)) == 0)
			unlinkat(corral_dirfd(c), name, 0);
}

/*
 * The bypass header bid is issued for every recipient of the message
 * (SC-B5: the filter honours it for them only); a recipient named twice
 * shares one marker.  0, or -1 with nothing left.
 */
static int
issue_markers(struct corral *c, const struct corral_msg *m, char *err,
    size_t errlen)
{
	char note[128];
	size_t i;

	snprintf(note, sizeof(note), "corral qid=%s\n", m->qid);
	for (i = 0; i < m->nrcpt; i++) {
		if (corral_marker_issue(corral_dirfd(c), m->bid, m->rcpts[i],
		    note, 0) == -1) {
			snprintf(err, errlen, "marker: %s", strerror(errno));
			unissue_markers(c, m, i);
			return -1;
		}
	}
	return 0;
}

int
corral_message(struct corral *c, const struct corral_msg *m, char *id,
    char *err, size_t errlen)
{
	struct corral_writer *w;
	int rc;

	if ((w = corral_begin(c, m->qid, err, errlen)) == NULL)
		return -1;
	if (corral_write(w, m->headers, m->hlen) == -1 ||
	    corral_write(w, m->extra, m->elen) == -1 ||
	    spool_copy(m->body, m->from, spool_size(m->body), writer_put,
	    w) == -1) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		corral_abort(w);
		return -1;
	}
	if (issue_markers(c, m, err, errlen) == -1) {
		corral_abort(w);
		return -1;
	}
	rc = corral_commit(w, (const char *const *)m->rcpts, m->nrcpt, id,
	    err, errlen);
	if (rc == -1)
		unissue_markers(c, m, m->nrcpt);
	return rc;
}
