/*
 * archive.c -- the mail archive (see mcarchive.h).  Names: the short
 * prefix arc_ on every public name, and the header mcarchive.h, because
 * <archive.h> is libarchive's.
 *
 * Files: <archive_dir>/YYYY/MM/DD/<qid>-<16 hex>, written as
 * .tmp-<qid>-<hex> (O_EXCL, O_NOFOLLOW, 0640), fdatasynced, published
 * without replacing anything (safefile.c), the directory fsynced in
 * batches across messages (group_sync_dir); the date directories (0750) are opened
 * one by one with O_DIRECTORY|O_NOFOLLOW, so a planted symlink is refused,
 * never followed.
 *
 * Journal: one line per row, "R1" then each field after a tab, every byte
 * that is '%', a control byte or DEL written as %XX, so a field never holds
 * a raw tab or newline.  Appended with one write() on an O_APPEND
 * descriptor under jlock; the indexer reads the same open file and
 * truncates it under jlock once every line up to its end is in the
 * database.  A crash between insert and truncate replays rows the unique
 * key (msg_key) turns into no-ops.
 *
 * Database: MariaDB Connector/C, prepared statements only.  The table name
 * is the one identifier put into SQL text, checked against
 * ^[A-Za-z0-9_]{1,64}$ by conf.c (check_archive); every value is bound.
 *
 * Settings: a message's file uses its session's snapshot; the journal and
 * the indexer use the index settings the daemon pushes with arc_reload()
 * at start-up and on every reload, so this file never calls conf.c.
 * The archiver's copy: its keyed header (arc_copy_header, bypass.c's
 * format and MAC with a purpose of its own) and its recognition on a
 * later pass (arc_copy_ok).
 * Ownership: struct arc_file is the caller's until arc_commit()/arc_abort().
 * Failure: logged here (archive-write, index-failed); the caller answers
 * with archive_required.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <errmsg.h>

#include "buf.h"
#include "bypass.h"
#include "conf.h"
#include "log.h"
#include "mcarchive.h"
#include "net.h"
#include "safefile.h"
#include "smfopts.h"
#include "spool.h"
#include "util.h"
#include "banned.h"

#define ARC_MAX_BACKOFF	30	/* longest pause between reconnects */
#define ARC_READ_CHUNK	(256 * 1024) /* journal bytes read at a time */
#define ARC_HDR_KEEP	(64 * 1024) /* header value bytes looked at */

const char *const arc_field_name[ARC_NFIELDS] = {
	"msg_key", "archived_at", "queue_id", "env_from", "env_to",
	"hdr_from", "subject_raw", "message_id", "hdr_date", "size",
	"action", "spam", "virus", "path"
};

/* Column sizes in bytes; doc/archive-schema.sql must agree. */
const size_t arc_field_max[ARC_NFIELDS] = {
	128, 20, ARC_QID_MAX, 512, 4096, 998, 998, 998, 255, 20, 32, 160,
	192, 4096
};

/* ---- pure helpers ---- */

int
arc_qid_ok(const char *qid)
{
	size_t i;

	if (qid == NULL || *qid == '\0')
		return 0;
	for (i = 0; qid[i] != '\0'; i++)
		if (i >= ARC_QID_MAX || !isalnum((unsigned char)qid[i]) ||
		    (unsigned char)qid[i] >= 0x80)
			return 0;
	return 1;
}

static int
suffix_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return i == ARC_SUFFIX_LEN;
}

int
arc_rel_path(const char *qid, time_t when, const char *suffix, char *out,
    size_t outlen)
{
	struct tm tm;
	int n;

	if (!suffix_ok(suffix) || gmtime_r(&when, &tm) == NULL) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(out, outlen, "%04d/%02d/%02d/%s-%s", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, arc_qid_ok(qid) ? qid : "NOQUEUE",
	    suffix);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

size_t
arc_display(const void *in, size_t len, size_t maxchars, struct buf *out,
    int *trunc)
{
	const unsigned char *p = in;
	size_t i = 0, k, chars = 0, start = out->len;

	*trunc = 0;
	while (i < len) {
		if (chars == maxchars) {
			*trunc = 1;
			break;
		}
		if ((k = util_utf8_len(p + i, len - i, NULL)) == 0) {
			buf_add(out, "\xef\xbf\xbd", 3);
			i++;
		} else {
			buf_add(out, p + i, k);
			i += k;
		}
		chars++;
	}
	if (out->data == NULL)
		buf_add(out, "", 0);
	return out->len - start;
}

static int
must_escape(unsigned char c)
{
	return c == '%' || c < 0x20 || c == 0x7f;
}

int
arc_encode_row(const struct arc_row *r, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t f, i;

	if (buf_add(out, "R1", 2) == -1)
		return -1;
	for (f = 0; f < ARC_NFIELDS; f++) {
		if (buf_addc(out, '\t') == -1)
			return -1;
		p = (const unsigned char *)(r->f[f] ? r->f[f] : "");
		for (i = 0; i < r->len[f]; i++) {
			if (must_escape(p[i])) {
				if (buf_addc(out, '%') == -1 ||
				    buf_addc(out, hex[p[i] >> 4]) == -1 ||
				    buf_addc(out, hex[p[i] & 15]) == -1)
					return -1;
			} else if (buf_addc(out, p[i]) == -1)
				return -1;
		}
	}
	return buf_addc(out, '\n');
}

int
arc_decode_row(char *line, size_t len, struct arc_row *r)
{
	size_t i = 3, f = 0;
	char *w;
	int h, l;

	memset(r, 0, sizeof(*r));
	if (len < 3 || memcmp(line, "R1\t", 3) != 0)
		return -1;
	for (;;) {
		r->f[f] = w = line + i;
		while (i < len && line[i] != '\t') {
			unsigned char c = (unsigned char)line[i];

			if (c == '%') {
				if (i + 2 >= len ||
				    (h = util_hexval(line[i + 1])) == -1 ||
				    (l = util_hexval(line[i + 2])) == -1)
					return -1;
				*w++ = (char)(h << 4 | l);
				i += 3;
			} else if (c < 0x20 || c == 0x7f) {
				return -1;
			} else
				*w++ = line[i++];
		}
		r->len[f] = (size_t)(w - r->f[f]);
		if (++f == ARC_NFIELDS)
			return i == len ? 0 : -1;
		if (i == len)
			return -1;
		*w = '\0';	/* w <= line + i: at the tab or before */
		i++;
	}
}

/* ---- configuration ---- */

int
arc_enabled(const struct mc_config *cf)
{
	return cf != NULL && cf->archive_dir != NULL &&
	    cf->archive_dir[0] != '\0';
}

int
arc_indexed(const struct mc_config *cf)
{
	return arc_enabled(cf) && cf->archive_db_name[0] != '\0';
}

static const char *
errname(int e)
{
	const char *n = strerrorname_np(e);

	return n != NULL ? n : "EIO";
}

static void
write_failed(const char *qid, int e, const char *path)
{
	char safe[512];

	log_safe(path, strlen(path), safe, sizeof(safe));
	log_msg(qid, LOG_WARNING, "archive-write errno=%s path=%s",
	    errname(e), safe);
}

/* Opens archive_dir, creating it (0750) when configured to. */
static int
open_top(const struct mc_config *cf)
{
	int fd;

	fd = open(cf->archive_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && cf->archive_create_dir) {
		if (mkdir(cf->archive_dir, 0750) == -1 && errno != EEXIST)
			return -1;
		if ((fd = open(cf->archive_dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC | O_NOFOLLOW)) != -1) {
			fchmod(fd, 0750);
			log_warnx("archive_dir %s was missing: created",
			    cf->archive_dir);
		}
	}
	return fd;
}

void
arc_startup_check(const struct mc_config *cf)
{
	int fd;

	if (!arc_enabled(cf))
		return;
	if ((fd = open_top(cf)) == -1) {
		log_warnx("archive_dir %s: %s (archive-write will fail)",
		    cf->archive_dir, strerror(errno));
		return;
	}
	if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) == -1)
		log_warnx("archive_dir %s: not writable by uid %ld: %s "
		    "(archive-write will fail)", cf->archive_dir,
		    (long)geteuid(), strerror(errno));
	close(fd);
	if (arc_indexed(cf) && cf->archive_db_password_file[0] != '\0' &&
	    access(cf->archive_db_password_file, R_OK) == -1)
		log_warnx("archive_db_password_file %s: %s",
		    cf->archive_db_password_file, strerror(errno));
}

/* ---- group commit ---- */

/*
 * The directory syncs are batched across messages: a thread that needs the
 * name it published on disk queues a request and waits; one waiter at a
 * time leads, takes every request queued so far, fsyncs each directory
 * among them once, and wakes them all; requests that came in meanwhile
 * make the next batch, led by one of theirs.  Every request gets the
 * result of an fsync of its directory that began after its rename, so the
 * guarantee is that of its own fsync.  A request lives on its waiter's
 * stack; the leader reads it only while that waiter waits; gsync_lock is
 * never held across a sync.
 *
 * The files' data are not batched here: each thread fdatasyncs its own
 * file, and concurrent fdatasyncs already share the file system's journal
 * commits (ext4's jbd2 batches them); a leader syncing every file of a
 * batch in turn measured slower and dearer (doc/archive.md).
 */
struct gsync_req {
	int		 fd;		/* the directory */
	dev_t		 dev;
	ino_t		 ino;
	int		 err;		/* errno of its fsync, 0 if on disk */
	int		 done;
	struct gsync_req *next;
};

static pthread_mutex_t	 gsync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 gsync_cond = PTHREAD_COND_INITIALIZER;
static struct gsync_req	*gsync_queue;	/* under gsync_lock */
static int		 gsync_leading;	/* a batch is being synced */
static atomic_ulong	 gsync_batches, gsync_reqs;	/* for the tests */

/* The leader's work: one fsync per directory of the batch, unlocked. */
static void
gsync_batch(struct gsync_req *batch)
{
	struct gsync_req *r, *o;

	for (r = batch; r != NULL; r = r->next) {
		for (o = batch; o != r; o = o->next)
			if (o->dev == r->dev && o->ino == r->ino)
				break;
		if (o != r)
			r->err = o->err;	/* that fsync covered it */
		else
			r->err = fsync(r->fd) == 0 ? 0 : errno;
	}
}

/*
 * Waits until the entries of directory dirfd are on disk, synced with
 * those of other messages.  0, or -1 with errno of the fsync.
 */
static int
group_sync_dir(int dirfd)
{
	struct gsync_req r, *batch, *b, *next;
	struct stat st;

	if (fstat(dirfd, &st) == -1)
		return -1;
	memset(&r, 0, sizeof(r));
	r.fd = dirfd;
	r.dev = st.st_dev;
	r.ino = st.st_ino;
	pthread_mutex_lock(&gsync_lock);
	r.next = gsync_queue;
	gsync_queue = &r;
	while (!r.done) {
		if (gsync_leading) {
			pthread_cond_wait(&gsync_cond, &gsync_lock);
			continue;
		}
		gsync_leading = 1;
		batch = gsync_queue;
		gsync_queue = NULL;
		pthread_mutex_unlock(&gsync_lock);
		gsync_batch(batch);
		atomic_fetch_add(&gsync_batches, 1);
		pthread_mutex_lock(&gsync_lock);
		for (b = batch; b != NULL; b = next) {
			next = b->next;
			atomic_fetch_add(&gsync_reqs, 1);
			b->done = 1;
		}
		gsync_leading = 0;
		pthread_cond_broadcast(&gsync_cond);
	}
	pthread_mutex_unlock(&gsync_lock);
	if (r.err != 0) {
		errno = r.err;
		return -1;
	}
	return 0;
}

void
arc_sync_stats(unsigned long *batches, unsigned long *reqs)
{
	*batches = atomic_load(&gsync_batches);
	*reqs = atomic_load(&gsync_reqs);
}

/* ---- the archive file ---- */

struct arc_file {
	const struct mc_config *cf;	/* the caller's snapshot */
	char		 qid[ARC_QID_MAX + 8];
	int		 dirfd;		/* the day directory */
	int		 fd;
	time_t		 when;
	char		 rel[ARC_REL_MAX];	/* YYYY/MM/DD/qid-hex */
	char		 tmp[ARC_QID_MAX + ARC_SUFFIX_LEN + 16];
	struct arc_head	 h;	/* the row's fields as the file has them */
};

static void
arc_file_free(struct arc_file *af)
{
	if (af == NULL)
		return;
	if (af->fd != -1)
		close(af->fd);
	if (af->dirfd != -1)
		close(af->dirfd);
	arc_head_free(&af->h);
	free(af);
}

/* Opens (creating, 0750) one directory level without following links. */
static int
sub_dir(int dfd, const char *name)
{
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd != -1 || errno != ENOENT)
		return fd;
	if (mkdirat(dfd, name, 0750) == -1 && errno != EEXIST)
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd != -1)
		fchmod(fd, 0750);	/* the daemon's umask is 077 */
	return fd;
}

/* Bytes printable on one header line: control bytes become '?'. */
static void
add_clean(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		buf_addc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* Keeps the first value of a field, unfolded, up to ARC_HDR_KEEP bytes. */
static void
keep_value(struct buf *dst, const char *l, size_t n, const char *name)
{
	size_t i = strlen(name) + 1;

	if (dst->data != NULL)
		return;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	while (n > i && (l[n - 1] == '\n' || l[n - 1] == '\r'))
		n--;
	for (; i < n && dst->len < ARC_HDR_KEEP; i++)
		if (l[i] != '\r' && l[i] != '\n')
			buf_addc(dst, l[i]);
	if (dst->data == NULL)
		buf_add(dst, "", 0);
}

/* The fields of the index row, from the header line l (n bytes). */
static void
keep_fields(struct arc_head *h, const char *l, size_t n)
{
	if (util_field_is(l, n, "From"))
		keep_value(&h->from, l, n, "From");
	else if (util_field_is(l, n, "Subject"))
		keep_value(&h->subject, l, n, "Subject");
	else if (util_field_is(l, n, "Message-ID"))
		keep_value(&h->msgid, l, n, "Message-ID");
	else if (util_field_is(l, n, "Date"))
		keep_value(&h->date, l, n, "Date");
}

/* spool_copy()'s consumer. */
static int
to_buf(void *arg, const char *p, size_t n)
{
	return buf_add(arg, p, n);
}


/*
 * The header block as received, less X-MailCorral-Bypass (a bypass token
 * is never archived), with the fields the index needs noted.
 */
static int
copy_headers(struct arc_file *af, struct spool *sp, uint64_t end,
    struct buf *out)
{
	struct buf hb = BUF_INIT;
	size_t i, n;

	if (spool_copy(sp, 0, end, to_buf, &hb) == -1) {
		buf_free(&hb);
		return -1;
	}
	for (i = 0; i < hb.len; i += n) {
		const char *l = hb.data + i;

		n = util_header_field(l, hb.len - i);
		keep_fields(&af->h, l, n);
		if (!util_field_is(l, n, SPAMHDRBYPASS) &&
		    buf_add(out, l, n) == -1) {
			buf_free(&hb);
			return -1;
		}
	}
	buf_free(&hb);
	return 0;
}

/*
 * The day directory YYYY/MM/DD of rel under the archive, made as needed and
 * never through a symlink.  Its fd, or -1 (errno) with *fail_path the
 * directory that failed (path holds it).
 */
static int
open_day(const struct mc_config *cf, const char *rel, char *path,
    size_t pathlen, const char **fail_path)
{
	char part[8];
	int top, d1 = -1, d2 = -1, day = -1, e;

	if ((top = open_top(cf)) == -1)
		return -1;
	memcpy(part, rel, 4);
	part[4] = '\0';
	snprintf(path, pathlen, "%s/%.4s", cf->archive_dir, rel);
	*fail_path = path;
	if ((d1 = sub_dir(top, part)) == -1)
		goto out;
	memcpy(part, rel + 5, 2);
	part[2] = '\0';
	snprintf(path, pathlen, "%s/%.7s", cf->archive_dir, rel);
	if ((d2 = sub_dir(d1, part)) == -1)
		goto out;
	memcpy(part, rel + 8, 2);
	snprintf(path, pathlen, "%s/%.10s", cf->archive_dir, rel);
	day = sub_dir(d2, part);
out:
	e = errno;
	close(top);
	if (d1 != -1)
		close(d1);
	if (d2 != -1)
		close(d2);
	errno = e;
	return day;
}

/*
 * The head of the archived copy into head: the envelope and queue id, then
 * the message's own header as received.  0, or -1 (errno).
 */
static int
envelope_head(struct arc_file *af, const char *sender, char *const *rcpts,
    unsigned nrcpt, struct spool *sp, uint64_t body_off, struct buf *head)
{
	unsigned i;

	buf_adds(head, "X-MailCorral-Envelope-From: <");
	add_clean(head, sender ? sender : "");
	buf_adds(head, ">\r\n");
	for (i = 0; i < nrcpt; i++) {
		buf_adds(head, "X-MailCorral-Envelope-To: <");
		add_clean(head, rcpts[i]);
		buf_adds(head, ">\r\n");
	}
	buf_printf(head, "X-MailCorral-Queue-ID: %s\r\n", af->qid);
	if (body_off >= 2 && copy_headers(af, sp, body_off - 2, head) == -1)
		return -1;
	if (body_off >= 2)
		buf_adds(head, "\r\n");
	if (head->data == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* The index row's sender and recipient list, as the copy's head has them. */
static void
index_fields(struct arc_file *af, const char *sender, char *const *rcpts,
    unsigned nrcpt)
{
	unsigned i;

	add_clean(&af->h.sender, sender ? sender : "");
	for (i = 0; i < nrcpt; i++) {
		if (i > 0)
			buf_adds(&af->h.rcpts, ", ");
		add_clean(&af->h.rcpts, rcpts[i]);
	}
}

/*
 * One envelope line of ours at data[i..i+n): "<name>: <value>" with the
 * angle brackets taken off the value; 0 when it is not that field.
 */
static int
envelope_line(const char *l, size_t n, const char *name, struct buf *out)
{
	size_t i = strlen(name) + 1;

	if (!util_field_is(l, n, name))
		return 0;
	while (n > i && (l[n - 1] == '\n' || l[n - 1] == '\r'))
		n--;
	while (i < n && l[i] == ' ')
		i++;
	if (n > i && l[i] == '<' && l[n - 1] == '>') {
		i++;
		n--;
	}
	buf_add(out, l + i, n - i);
	if (out->data == NULL)
		buf_add(out, "", 0);
	return 1;
}

void
arc_head_free(struct arc_head *h)
{
	buf_free(&h->sender);
	buf_free(&h->rcpts);
	buf_free(&h->qid);
	buf_free(&h->from);
	buf_free(&h->subject);
	buf_free(&h->msgid);
	buf_free(&h->date);
}

/*
 * The reverse of envelope_head(): the envelope lines are taken only from
 * the block before X-MailCorral-Queue-ID, which the daemon writes; a
 * message's own X-MailCorral-Envelope-* field comes after it and is read
 * as part of the message (i.e. ignored).
 */
int
arc_read_head(const char *data, size_t len, uint64_t total,
    struct arc_head *h)
{
	size_t i = 0, n;
	int env = 1, blank = 0;

	memset(h, 0, sizeof(*h));
	errno = EINVAL;
	for (; i < len; i += n) {
		const char *l = data + i;

		n = util_header_field(l, len - i);
		if (n == 0 || l[0] == '\r' || l[0] == '\n') {
			blank = 1;
			break;
		}
		if (i + n >= len && total > len)
			break;		/* a line that may go on: EFBIG */
		if (env) {
			if (h->sender.data == NULL) {
				if (!envelope_line(l, n,
				    "X-MailCorral-Envelope-From", &h->sender))
					goto bad;	/* not ours */
			} else if (util_field_is(l, n,
			    "X-MailCorral-Envelope-To")) {
				if (h->rcpts.len > 0)
					buf_adds(&h->rcpts, ", ");
				envelope_line(l, n, "X-MailCorral-Envelope-To",
				    &h->rcpts);
			} else if (envelope_line(l, n,
			    "X-MailCorral-Queue-ID", &h->qid))
				env = 0;
			else
				goto bad;
			continue;
		}
		keep_fields(h, l, n);
	}
	if (!blank && total > len) {
		errno = EFBIG;	/* the header goes on past what was read */
		goto bad;
	}
	if (env)
		goto bad;
	if (i < len && data[i] == '\r')
		i++;
	if (i < len && data[i] == '\n')
		i++;
	h->body_off = i;
	h->size = total > i ? total - i : 0;
	return 0;
bad:
	arc_head_free(h);
	return -1;
}

struct arc_file *
arc_begin(const struct mc_config *cf, const char *qid, const char *sender,
    char *const *rcpts, unsigned nrcpt, struct spool *sp, uint64_t body_off)
{
	struct arc_file *af;
	struct buf head = BUF_INIT;
	char suffix[ARC_SUFFIX_LEN + 1], path[PATH_MAX];
	uint64_t size = spool_size(sp);
	const char *fail_path = cf->archive_dir;
	int e;

	if ((af = calloc(1, sizeof(*af))) == NULL) {
		write_failed(qid, ENOMEM, cf->archive_dir);
		errno = ENOMEM;
		return NULL;
	}
	af->cf = cf;
	af->fd = af->dirfd = -1;
	af->when = time(NULL);
	snprintf(af->qid, sizeof(af->qid), "%s", arc_qid_ok(qid) ? qid :
	    "NOQUEUE");
	if (util_random_hex(suffix, ARC_SUFFIX_LEN, 0) == -1)
		goto fail;
	if (arc_rel_path(qid, af->when, suffix, af->rel, sizeof(af->rel)) == -1)
		goto fail;
	snprintf(af->tmp, sizeof(af->tmp), ".tmp-%s-%s", af->qid, suffix);
	if ((af->dirfd = open_day(cf, af->rel, path, sizeof(path),
	    &fail_path)) == -1)
		goto fail;
	snprintf(path, sizeof(path), "%s/%.10s/%s", cf->archive_dir, af->rel,
	    af->tmp);
	af->fd = sfile_create(af->dirfd, af->tmp, 0640);
	if (af->fd == -1)
		goto fail;
	if (fchmod(af->fd, 0640) == -1)
		goto fail_unlink;
	/* envelope, then the message as received */
	if (envelope_head(af, sender, rcpts, nrcpt, sp, body_off, &head) ==
	    -1)
		goto fail_unlink;
	if (util_write_all(af->fd, head.data, head.len) == -1)
		goto fail_unlink;
	if (spool_copy_fd(sp, body_off, size, af->fd) == -1)
		goto fail_unlink;
	if (fdatasync(af->fd) == -1)
		goto fail_unlink;
	index_fields(af, sender, rcpts, nrcpt);
	buf_free(&head);
	return af;
fail_unlink:
	e = errno;
	unlinkat(af->dirfd, af->tmp, 0);
	errno = e;
fail:
	e = errno ? errno : EIO;
	write_failed(qid, e, fail_path);
	buf_free(&head);
	arc_file_free(af);
	errno = e;
	return NULL;
}

void
arc_abort(struct arc_file *af)
{
	if (af == NULL)
		return;
	unlinkat(af->dirfd, af->tmp, 0);
	arc_file_free(af);
}

/* ---- the journal ---- */

static pthread_mutex_t	jlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	jcond = PTHREAD_COND_INITIALIZER;
static int		jfd = -1;
static unsigned		jgen;		/* +1 when jfd changes */
static char		jpath[PATH_MAX];
static int		jstop;
static int		jrunning;
static pthread_t	jthread;

/*
 * The index settings of the installed configuration, pushed by
 * arc_reload() (as perlpool's pp_reload): the indexer and the journal
 * follow a reload without asking conf.c.  Copied under slock.
 */
struct arc_set {
	int	 indexed;
	char	 journal[PATH_MAX];
	char	 db_host[256];
	long	 db_port;
	char	 db_socket[PATH_MAX];
	char	 db_name[65];
	char	 db_user[256];
	char	 db_password_file[PATH_MAX];
	char	 db_table[65];
	long	 db_timeout;
};
static pthread_mutex_t	slock = PTHREAD_MUTEX_INITIALIZER;
static struct arc_set	aset;		/* under slock */

static int
journal_path(const struct mc_config *cf, char *out, size_t outlen)
{
	int n;

	if (cf->archive_journal[0] != '\0')
		n = snprintf(out, outlen, "%s", cf->archive_journal);
	else
		n = snprintf(out, outlen, "%s/index.journal", cf->archive_dir);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Under jlock: jfd open on the journal at path. */
static int
journal_open_locked(const char *path)
{
	char last;
	struct stat st;
	int fd;

	if (jfd != -1 && strcmp(path, jpath) == 0)
		return 0;
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	fchmod(fd, 0640);
	/* a line cut short by a crash must not swallow the next one */
	if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 &&
	    last != '\n')
		(void)!write(fd, "\n", 1);
	if (jfd != -1) {
		log_warnx("archive journal moved from %s to %s: rows left in "
		    "the old one are replayed only when it is used again",
		    jpath, path);
		close(jfd);
	}
	jfd = fd;
	jgen++;
	snprintf(jpath, sizeof(jpath), "%s", path);
	return 0;
}

static int
journal_append(const struct mc_config *cf, const char *qid,
    const struct buf *line)
{
	char safe[512], path[PATH_MAX];
	int rc = -1, e = 0, ok;

	/*
	 * The installed configuration's journal, not the connection's: after
	 * a reload that moved it, connections still on the old snapshot must
	 * not make jfd flip between the two files.
	 */
	pthread_mutex_lock(&slock);
	if (aset.indexed) {
		snprintf(path, sizeof(path), "%s", aset.journal);
		ok = 1;
	} else
		ok = journal_path(cf, path, sizeof(path)) == 0;
	pthread_mutex_unlock(&slock);
	pthread_mutex_lock(&jlock);
	if (!ok)
		e = errno = ENAMETOOLONG;
	else if (journal_open_locked(path) == 0) {
		if (util_write_all(jfd, line->data, line->len) == 0)
			rc = 0;
		else
			e = errno;
	} else
		e = errno;
	if (rc == 0)
		pthread_cond_signal(&jcond);
	pthread_mutex_unlock(&jlock);
	if (!ok)
		snprintf(path, sizeof(path), "-");
	if (rc == -1) {
		log_safe(path, strlen(path), safe, sizeof(safe));
		log_msg(qid, LOG_WARNING, "index-failed reason=journal "
		    "errno=%s path=%s", errname(e), safe);
	}
	errno = e;
	return rc;
}

/* Cuts a field to its column, saying so (BI-34). */
static void
clip(const char *qid, struct arc_row *r, enum arc_field f)
{
	if (r->len[f] > arc_field_max[f]) {
		log_msg(qid, LOG_NOTICE, "index-truncated field=%s bytes=%zu "
		    "max=%zu reason=truncated", arc_field_name[f], r->len[f],
		    arc_field_max[f]);
		r->len[f] = arc_field_max[f];
	}
}

static void
set_field(struct arc_row *r, enum arc_field f, const char *p, size_t n)
{
	r->f[f] = p != NULL ? p : "";
	r->len[f] = p != NULL ? n : 0;
}

int
arc_commit(struct arc_file *af, const struct arc_verdict *v, char *rel,
    size_t rellen)
{
	const struct mc_config *cf = af->cf;
	char name[ARC_QID_MAX + ARC_SUFFIX_LEN + 8], path[PATH_MAX];
	char when[24], size[24];
	struct buf line = BUF_INIT;
	struct arc_row r;
	size_t f;
	int rc = -1, e;

	snprintf(name, sizeof(name), "%s", strrchr(af->rel, '/') + 1);
	snprintf(path, sizeof(path), "%s/%s", cf->archive_dir, af->rel);
	if (sfile_publish(af->dirfd, af->tmp, name, SFILE_NOREPLACE) == -1) {
		e = errno;
		write_failed(af->qid, e, path);
		arc_abort(af);
		errno = e;
		return -1;
	}
	(void)group_sync_dir(af->dirfd);
	snprintf(rel, rellen, "%s", af->rel);
	if (!arc_indexed(cf)) {
		arc_file_free(af);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	snprintf(when, sizeof(when), "%lld", (long long)af->when);
	snprintf(size, sizeof(size), "%llu", (unsigned long long)v->size);
	set_field(&r, ARC_F_KEY, af->rel, strlen(af->rel));
	set_field(&r, ARC_F_TIME, when, strlen(when));
	set_field(&r, ARC_F_QID, af->qid, strlen(af->qid));
	set_field(&r, ARC_F_SENDER, af->h.sender.data, af->h.sender.len);
	set_field(&r, ARC_F_RCPTS, af->h.rcpts.data, af->h.rcpts.len);
	set_field(&r, ARC_F_FROM, af->h.from.data, af->h.from.len);
	set_field(&r, ARC_F_SUBJECT, af->h.subject.data, af->h.subject.len);
	set_field(&r, ARC_F_MSGID, af->h.msgid.data, af->h.msgid.len);
	set_field(&r, ARC_F_DATE, af->h.date.data, af->h.date.len);
	set_field(&r, ARC_F_SIZE, size, strlen(size));
	set_field(&r, ARC_F_ACTION, v->action, strlen(v->action));
	set_field(&r, ARC_F_SPAM, v->spam, strlen(v->spam));
	set_field(&r, ARC_F_VIRUS, v->virus, strlen(v->virus));
	set_field(&r, ARC_F_PATH, path, strlen(path));
	for (f = 0; f < ARC_NFIELDS; f++)
		clip(af->qid, &r, f);
	if (arc_encode_row(&r, &line) == -1 || line.data == NULL) {
		log_msg(af->qid, LOG_WARNING, "index-failed reason=out of "
		    "memory");
		errno = ENOMEM;
	} else if (journal_append(cf, af->qid, &line) == 0)
		rc = 0;
	e = errno;
	if (rc == -1 && !v->required)
		rc = 0;		/* archived, not indexed: logged */
	else if (rc == -1 && unlinkat(af->dirfd, name, 0) == 0)
		fsync(af->dirfd);
	buf_free(&line);
	arc_file_free(af);
	errno = e;
	return rc;
}

/* ---- the indexer ---- */

struct db {
	MYSQL		*my;
	MYSQL_STMT	*ins;
	char		 sig[sizeof(struct arc_set)];	/* settings it was opened with */
	unsigned	 next;		/* archive_db_host's node to try first */
	char		 node[256];	/* the node connected to, for the log */
};

static void
db_close(struct db *d)
{
	if (d->ins != NULL)
		mysql_stmt_close(d->ins);
	if (d->my != NULL)
		mysql_close(d->my);
	d->ins = NULL;
	d->my = NULL;
	d->sig[0] = '\0';
}

static void
db_sig(const struct arc_set *as, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s|%ld|%s|%s|%s|%s|%s|%ld", as->db_host,
	    as->db_port, as->db_socket, as->db_name, as->db_user,
	    as->db_password_file, as->db_table, as->db_timeout);
}

/* Reads the password file's first line; "" when none is configured. */
static int
read_password(const char *file, char *out, size_t outlen)
{
	FILE *fp;

	out[0] = '\0';
	if (file[0] == '\0')
		return 0;
	if ((fp = fopen(file, "re")) == NULL)
		return -1;
	if (fgets(out, (int)outlen, fp) == NULL)
		out[0] = '\0';
	fclose(fp);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* One statement with no parameters and no result (the CREATE TABLE). */
static int
db_exec(MYSQL *my, const char *sql)
{
	MYSQL_STMT *st;
	int rc = -1;

	if ((st = mysql_stmt_init(my)) == NULL)
		return -1;
	if (mysql_stmt_prepare(st, sql, strlen(sql)) == 0 &&
	    mysql_stmt_execute(st) == 0)
		rc = 0;
	mysql_stmt_close(st);
	return rc;
}

/*
 * Connects to one node, o->host: "host", "host:port", "[v6]:port" or
 * "unix:/path" (net.h's forms; no port: o->port), or "" for the client's
 * default (o->socket, else localhost).  The indexer and
 * mailcorral-archive(8) both connect here.  NULL with the reason in err.
 */
struct st_mysql *
arc_db_connect(const struct arc_db_opts *o, char *err, size_t errlen)
{
	char pw[512], port[16];
	unsigned int t = (unsigned int)o->timeout;
	unsigned dbport = (unsigned)o->port;
	const char *user = o->user, *pass = pw, *host = NULL, *sock;
	struct net_addr na;
	MYSQL *my;

	sock = o->socket[0] ? o->socket : NULL;
	snprintf(port, sizeof(port), "%ld", o->port);
	memset(&na, 0, sizeof(na));
	if (o->host[0] != '\0') {
		if (net_parse(o->host, port, &na, err, errlen) == -1)
			return NULL;
		if (na.is_unix)
			sock = na.path;
		else {
			host = na.host;
			dbport = (unsigned)atoi(na.port);
		}
	}
	if (read_password(o->password_file, pw, sizeof(pw)) == -1) {
		snprintf(err, errlen, "password-file errno=%s", errname(errno));
		return NULL;
	}
	if ((my = mysql_init(NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		explicit_bzero(pw, sizeof(pw));
		return NULL;
	}
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &t);
	mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &t);
	mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &t);
	mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(my, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	if (o->read_only)
		mysql_options(my, MYSQL_INIT_COMMAND,
		    "SET SESSION TRANSACTION READ ONLY");
	if (o->defaults_file != NULL) {
		/* the option file's user and password unless given here */
		mysql_options(my, MYSQL_READ_DEFAULT_FILE, o->defaults_file);
		mysql_options(my, MYSQL_READ_DEFAULT_GROUP, o->defaults_group);
		if (user[0] == '\0')
			user = NULL;
		if (o->password_file[0] == '\0')
			pass = NULL;
	}
	if (mysql_real_connect(my, host, user, pass,
	    o->name[0] ? o->name : NULL, dbport, sock, 0) == NULL) {
		explicit_bzero(pw, sizeof(pw));
		snprintf(err, errlen, "connect: %s", mysql_error(my));
		mysql_close(my);
		return NULL;
	}
	explicit_bzero(pw, sizeof(pw));
	return my;
}

/*
 * Connects to one node of archive_db_host (spec, see arc_db_connect),
 * then the table and the statement.  0, or -1 with the reason in err and
 * d closed.
 */
static int
db_open_one(struct db *d, const struct arc_set *as, const char *spec,
    char *err, size_t errlen)
{
	char sql[2048];
	const char *tbl = as->db_table;
	struct arc_db_opts o = { .host = spec, .port = as->db_port,
	    .socket = as->db_socket, .name = as->db_name, .user = as->db_user,
	    .password_file = as->db_password_file,
	    .timeout = as->db_timeout };

	db_close(d);
	if ((d->my = arc_db_connect(&o, err, errlen)) == NULL)
		return -1;
	snprintf(sql, sizeof(sql),
	    "CREATE TABLE IF NOT EXISTS `%s` ("
	    "id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
	    "msg_key VARCHAR(128) CHARACTER SET ascii NOT NULL, "
	    "archived_at DATETIME NOT NULL, "
	    "queue_id VARCHAR(64) CHARACTER SET ascii NOT NULL, "
	    "env_from VARBINARY(512) NOT NULL, "
	    "env_to VARBINARY(4096) NOT NULL, "
	    "hdr_from VARBINARY(998) NOT NULL, "
	    "subject_raw VARBINARY(998) NOT NULL, "
	    "subject VARCHAR(998) CHARACTER SET utf8mb4 "
	    "COLLATE utf8mb4_bin NOT NULL, "
	    "message_id VARBINARY(998) NOT NULL, "
	    "hdr_date VARBINARY(255) NOT NULL, "
	    "size BIGINT UNSIGNED NOT NULL, "
	    "action VARCHAR(32) CHARACTER SET ascii NOT NULL, "
	    "spam VARBINARY(160) NOT NULL, "
	    "virus VARBINARY(192) NOT NULL, "
	    "path VARBINARY(4096) NOT NULL, "
	    "UNIQUE KEY msg_key (msg_key), KEY archived_at (archived_at), "
	    "KEY queue_id (queue_id)"
	    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", tbl);
	if (db_exec(d->my, sql) == -1) {
		snprintf(err, errlen, "create-table: %s", mysql_error(d->my));
		db_close(d);
		return -1;
	}
	snprintf(sql, sizeof(sql),
	    "INSERT INTO `%s` (msg_key, archived_at, queue_id, env_from, "
	    "env_to, hdr_from, subject_raw, subject, message_id, hdr_date, "
	    "size, action, spam, virus, path) VALUES (?, FROM_UNIXTIME(?), "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	    "ON DUPLICATE KEY UPDATE id = id", tbl);
	if ((d->ins = mysql_stmt_init(d->my)) == NULL ||
	    mysql_stmt_prepare(d->ins, sql, strlen(sql)) != 0) {
		snprintf(err, errlen, "prepare: %s", d->ins ?
		    mysql_stmt_error(d->ins) : mysql_error(d->my));
		db_close(d);
		return -1;
	}
	mysql_autocommit(d->my, 0);
	db_sig(as, d->sig, sizeof(d->sig));
	return 0;
}

/*
 * The k-th node of the list hosts (blanks or commas between) into out;
 * the number of nodes.
 */
static unsigned
db_node(const char *hosts, unsigned k, char *out, size_t outlen)
{
	const char *p = hosts;
	unsigned n = 0;
	size_t len;

	out[0] = '\0';
	for (;;) {
		p += strspn(p, ", \t");
		if (*p == '\0')
			return n;
		len = strcspn(p, ", \t");
		if (n++ == k)
			snprintf(out, outlen, "%.*s", (int)len, p);
		p += len;
	}
}

/*
 * Opens the index on a node of archive_db_host: d->next first, then each
 * following one in turn (the list wraps), the first that takes it kept
 * (d->next, d->node).  0, or -1 with every node's reason in err, as
 * "reason (node); reason (node)".
 */
static int
db_open(struct db *d, const struct arc_set *as, char *err, size_t errlen)
{
	char node[256], why[256];
	unsigned n, k, i;
	size_t used;
	int rc = -1;

	db_close(d);
	err[0] = '\0';
	if ((n = db_node(as->db_host, 0, node, sizeof(node))) == 0) {
		rc = db_open_one(d, as, "", err, errlen);
		snprintf(d->node, sizeof(d->node), "default");
	}
	for (k = 0; k < n && rc == -1; k++) {
		i = (d->next + k) % n;
		(void)db_node(as->db_host, i, node, sizeof(node));
		if ((rc = db_open_one(d, as, node, why, sizeof(why))) == 0) {
			d->next = i;
			snprintf(d->node, sizeof(d->node), "%s", node);
			break;
		}
		used = strlen(err);
		snprintf(err + used, errlen - used, "%s%.150s (%.96s)",
		    used ? "; " : "", why, node);
	}
	return rc;
}

struct st_mysql *
arc_db_connect_any(const struct arc_db_opts *o, char *err, size_t errlen)
{
	struct arc_db_opts one = *o;
	char node[256], why[256];
	unsigned n, i;
	size_t used;
	MYSQL *my;

	err[0] = '\0';
	if ((n = db_node(o->host, 0, node, sizeof(node))) == 0)
		return arc_db_connect(o, err, errlen);
	for (i = 0; i < n; i++) {
		(void)db_node(o->host, i, node, sizeof(node));
		one.host = node;
		if ((my = arc_db_connect(&one, why, sizeof(why))) != NULL)
			return my;
		used = strlen(err);
		snprintf(err + used, errlen - used, "%s%.150s (%.96s)",
		    used ? "; " : "", why, node);
	}
	return NULL;
}

static void
bind_bytes(MYSQL_BIND *b, enum enum_field_types t, const char *p,
    unsigned long *len)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = t;
	b->buffer = (void *)(uintptr_t)p;
	b->buffer_length = *len;
	b->length = len;
}

static void
bind_ll(MYSQL_BIND *b, long long *v)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = v;
}

/*
 * Inserts one row.  0 done (or a row the server refuses for its data,
 * logged and skipped so it cannot block the rest); -1 the connection
 * failed (reason in err).
 */
static int
db_insert(struct db *d, struct arc_row *r, char *err, size_t errlen)
{
	MYSQL_BIND b[ARC_NFIELDS + 1];
	unsigned long len[ARC_NFIELDS + 1];
	struct buf disp = BUF_INIT;
	long long when, size;
	char qid[ARC_QID_MAX + 1];
	size_t f, k = 0;
	unsigned e;
	int trunc;

	when = strtoll(r->f[ARC_F_TIME], NULL, 10);
	size = strtoll(r->f[ARC_F_SIZE], NULL, 10);
	arc_display(r->f[ARC_F_SUBJECT], r->len[ARC_F_SUBJECT],
	    ARC_SUBJECT_CHARS, &disp, &trunc);
	for (f = 0; f < ARC_NFIELDS; f++) {
		if (f == ARC_F_TIME) {
			bind_ll(&b[k++], &when);
			continue;
		}
		if (f == ARC_F_SIZE) {
			bind_ll(&b[k++], &size);
			continue;
		}
		len[k] = (unsigned long)r->len[f];
		bind_bytes(&b[k], f == ARC_F_KEY || f == ARC_F_QID ||
		    f == ARC_F_ACTION ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB,
		    r->f[f], &len[k]);
		k++;
		if (f == ARC_F_SUBJECT) {
			len[k] = (unsigned long)disp.len;
			bind_bytes(&b[k], MYSQL_TYPE_STRING,
			    disp.data ? disp.data : "", &len[k]);
			k++;
		}
	}
	if (mysql_stmt_bind_param(d->ins, b) != 0 ||
	    mysql_stmt_execute(d->ins) != 0) {
		e = mysql_stmt_errno(d->ins);
		if (e >= CR_MIN_ERROR && e <= CR_MAX_ERROR) {
			snprintf(err, errlen, "insert: %s",
			    mysql_stmt_error(d->ins));
			buf_free(&disp);
			return -1;
		}
		log_safe(r->f[ARC_F_QID], r->len[ARC_F_QID], qid, sizeof(qid));
		log_msg(qid, LOG_WARNING, "index-failed reason=row-refused "
		    "error=%u (%s)", e, mysql_stmt_error(d->ins));
	}
	buf_free(&disp);
	return 0;
}

/*
 * Sleeps secs seconds, or less when stopping; an appended row ends the
 * sleep early only when wake is set (idle), never a back-off.
 */
static void
wait_secs(int secs, int wake)
{
	struct timespec ts, now;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	pthread_mutex_lock(&jlock);
	while (!jstop) {
		if (pthread_cond_timedwait(&jcond, &jlock, &ts) != 0 || wake)
			break;
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec > ts.tv_sec || (now.tv_sec == ts.tv_sec &&
		    now.tv_nsec >= ts.tv_nsec))
			break;
	}
	pthread_mutex_unlock(&jlock);
}

void
arc_reload(const struct mc_config *cf)
{
	struct arc_set *as;

	if ((as = calloc(1, sizeof(*as))) == NULL) {
		log_warnx("index-failed reason=out of memory: the index keeps "
		    "its settings");
		return;
	}
	as->indexed = arc_indexed(cf) &&
	    journal_path(cf, as->journal, sizeof(as->journal)) == 0;
	snprintf(as->db_host, sizeof(as->db_host), "%s", cf->archive_db_host);
	as->db_port = cf->archive_db_port;
	snprintf(as->db_socket, sizeof(as->db_socket), "%s",
	    cf->archive_db_socket);
	snprintf(as->db_name, sizeof(as->db_name), "%s", cf->archive_db_name);
	snprintf(as->db_user, sizeof(as->db_user), "%s", cf->archive_db_user);
	snprintf(as->db_password_file, sizeof(as->db_password_file), "%s",
	    cf->archive_db_password_file);
	snprintf(as->db_table, sizeof(as->db_table), "%s",
	    cf->archive_db_table);
	as->db_timeout = cf->archive_db_timeout;
	pthread_mutex_lock(&slock);
	aset = *as;
	pthread_mutex_unlock(&slock);
	free(as);
}

static int
stopping(void)
{
	int s;

	pthread_mutex_lock(&jlock);
	s = jstop;
	pthread_mutex_unlock(&jlock);
	return s;
}

/*
 * The indexer's own descriptor of the journal the appenders use, opened
 * anew when the journal was (gen); *behind when it holds rows of an earlier
 * run.  0, or -1 (errno).
 */
static int
journal_follow(const char *journal, int *fd, unsigned *gen, uint64_t *off,
    int *behind)
{
	struct stat st;
	int rc;

	pthread_mutex_lock(&jlock);
	rc = journal_open_locked(journal);
	if (rc == 0 && (*fd == -1 || *gen != jgen)) {
		if (*fd != -1)
			close(*fd);
		*fd = fcntl(jfd, F_DUPFD_CLOEXEC, 0);
		*gen = jgen;
		*off = 0;
		/* rows left by an earlier run: "replayed" when in */
		*behind = *fd != -1 && fstat(*fd, &st) == 0 &&
		    st.st_size > 0;
	}
	pthread_mutex_unlock(&jlock);
	return rc == -1 || *fd == -1 ? -1 : 0;
}

/*
 * A database connection for the settings of as, (re)opened when they
 * changed.  0, or -1 after logging and waiting the doubled *backoff.
 */
static int
db_ready(struct db *d, const struct arc_set *as, int *backoff, int *behind)
{
	char err[512], sig[sizeof(struct arc_set)];

	db_sig(as, sig, sizeof(sig));
	if (d->my != NULL && strcmp(sig, d->sig) == 0)
		return 0;
	if (db_open(d, as, err, sizeof(err)) == -1) {
		*backoff = *backoff == 0 ? 1 : *backoff * 2 >
		    ARC_MAX_BACKOFF ? ARC_MAX_BACKOFF : *backoff * 2;
		log_warnx("index-failed reason=%s retry=%ds", err, *backoff);
		*behind = 1;
		wait_secs(*backoff, 0);
		return -1;
	}
	*backoff = 0;
	log_info("index-connected db=%s table=%s node=%s", as->db_name,
	    as->db_table, d->node);
	return 0;
}

/*
 * All of the journal is in: empty it unless it grew meanwhile, and say how
 * many rows of an earlier run were replayed.
 */
static void
journal_drained(int fd, uint64_t *off, int *behind, unsigned *replayed)
{
	struct stat st;

	pthread_mutex_lock(&jlock);
	if (*off > 0 && fstat(fd, &st) == 0 &&
	    (uint64_t)st.st_size == *off && ftruncate(fd, 0) == 0)
		*off = 0;
	pthread_mutex_unlock(&jlock);
	if (*behind && *replayed > 0)
		log_info("index-replayed rows=%u", *replayed);
	if (*off == 0) {
		*behind = 0;
		*replayed = 0;
	}
}

/*
 * Inserts the complete journal lines chunk[0..n) (read at off) and commits;
 * bad lines are logged and skipped.  0, or -1 with the reason in err.
 */
static int
index_lines(struct db *d, char *chunk, size_t n, uint64_t off,
    unsigned *replayed, char *err, size_t errlen)
{
	struct arc_row r;
	size_t i, start;

	for (start = 0, i = 0; i < n; i++) {
		if (chunk[i] != '\n')
			continue;
		if (arc_decode_row(chunk + start, i - start, &r) == -1)
			log_warnx("index-failed "
			    "reason=bad-journal-line offset=%llu: skipped",
			    (unsigned long long)(off + start));
		else if (db_insert(d, &r, err, errlen) == -1)
			return -1;
		else
			(*replayed)++;
		start = i + 1;
	}
	if (mysql_commit(d->my) != 0) {
		snprintf(err, errlen, "commit: %s", mysql_error(d->my));
		return -1;
	}
	return 0;
}

/*
 * The indexer thread: follows the journal and inserts its complete lines
 * into the database, in one transaction a read; on a database error it
 * reconnects with a backoff and reads the same lines again.
 */
static void *
indexer(void *arg)
{
	struct db d;
	struct arc_set *as = NULL;
	char err[512];
	char *chunk;
	uint64_t off = 0;
	unsigned gen = 0, replayed = 0;
	int fd = -1, backoff = 0, behind = 0;
	ssize_t n;
	size_t i;

	(void)arg;
	memset(&d, 0, sizeof(d));
	if ((chunk = malloc(ARC_READ_CHUNK)) == NULL ||
	    (as = malloc(sizeof(*as))) == NULL) {
		log_warnx("index-failed reason=out of memory: indexer stops");
		free(chunk);
		free(as);
		return NULL;
	}
	while (!stopping()) {
		pthread_mutex_lock(&slock);
		*as = aset;
		pthread_mutex_unlock(&slock);
		if (!as->indexed) {
			db_close(&d);
			wait_secs(1, 1);
			continue;
		}
		if (journal_follow(as->journal, &fd, &gen, &off, &behind) ==
		    -1) {
			log_warnx("index-failed reason=journal errno=%s",
			    errname(errno));
			wait_secs(5, 0);
			continue;
		}
		if (db_ready(&d, as, &backoff, &behind) == -1)
			continue;
		n = pread(fd, chunk, ARC_READ_CHUNK, (off_t)off);
		if (n < 0) {
			log_warnx("index-failed reason=journal-read errno=%s",
			    errname(errno));
			wait_secs(5, 0);
			continue;
		}
		/* complete lines only */
		for (i = (size_t)n; i > 0 && chunk[i - 1] != '\n'; i--)
			;
		if (i == 0 && (size_t)n == ARC_READ_CHUNK) {
			log_warnx("index-failed reason=journal line longer "
			    "than %d bytes: skipped", ARC_READ_CHUNK);
			off += (uint64_t)n;
			continue;
		}
		if (i == 0) {
			journal_drained(fd, &off, &behind, &replayed);
			wait_secs(1, 1);
			continue;
		}
		if (index_lines(&d, chunk, i, off, &replayed, err,
		    sizeof(err)) == -1) {
			log_warnx("index-failed reason=%s node=%s", err,
			    d.node);
			db_close(&d);
			d.next++;	/* the next node first (db_open wraps) */
			behind = 1;
			replayed = 0;
			backoff = 1;
			wait_secs(backoff, 0);
			continue;
		}
		off += (uint64_t)i;
	}
	db_close(&d);
	if (fd != -1)
		close(fd);
	free(chunk);
	free(as);
	mysql_thread_end();
	return NULL;
}

int
arc_start(void)
{
	int e;

	if (mysql_library_init(0, NULL, NULL) != 0) {
		log_warnx("index-failed reason=mysql_library_init");
		return -1;
	}
	pthread_mutex_lock(&jlock);
	jstop = 0;
	pthread_mutex_unlock(&jlock);
	if ((e = pthread_create(&jthread, NULL, indexer, NULL)) != 0) {
		errno = e;
		log_warn("cannot start the archive indexer");
		return -1;
	}
	jrunning = 1;
	return 0;
}

void
arc_stop(void)
{
	if (!jrunning)
		return;
	pthread_mutex_lock(&jlock);
	jstop = 1;
	pthread_cond_broadcast(&jcond);
	pthread_mutex_unlock(&jlock);
	pthread_join(jthread, NULL);
	jrunning = 0;
	pthread_mutex_lock(&jlock);
	if (jfd != -1)
		close(jfd);
	jfd = -1;
	jpath[0] = '\0';
	pthread_mutex_unlock(&jlock);
	mysql_library_end();
}

/* ---- the archiver's copy ---- */

int
arc_copy_header(const struct mc_config *cf, const char *date,
    const char *msgid, const unsigned char bodyhash[32], char *out,
    size_t outlen)
{
	char id[BYPASS_ID_LEN + 1];
	time_t now = time(NULL);
	int n;

	if (cf->key == NULL || date == NULL || msgid == NULL ||
	    bodyhash == NULL || util_random_hex(id, BYPASS_ID_LEN, 1) == -1)
		return 0;
	n = bypass_mint_for(cf->key, BYPASS_FOR_ARCHIVE, cf->archive_address,
	    id, now, now + cf->bypass_max_age, msgid, strlen(msgid), date,
	    strlen(date), bodyhash, out, outlen);
	return n > 0 ? n : 0;
}

int
arc_copy_ok(const struct mc_config *cf, const char *mac, unsigned nmac,
    char *const *rcpts, unsigned nrcpt, const char *date, const char *msgid,
    const unsigned char bodyhash[32], char *why, size_t whylen)
{
	char id[BYPASS_ID_LEN + 1];
	enum bypass_result r;
	unsigned i;

	if (nmac != 1) {
		snprintf(why, whylen, "header-count=%u", nmac);
		return 0;
	}
	if (cf->archive_address[0] == '\0' || nrcpt == 0) {
		snprintf(why, whylen, "no-archive-address");
		return 0;
	}
	for (i = 0; i < nrcpt; i++)
		if (strcasecmp(rcpts[i], cf->archive_address) != 0) {
			snprintf(why, whylen, "other-recipients");
			return 0;
		}
	if (date == NULL || msgid == NULL) {
		snprintf(why, whylen, "bad-date");
		return 0;
	}
	if (bodyhash == NULL) {
		snprintf(why, whylen, "no-body-hash");
		return 0;
	}
	r = bypass_verify_for(cf->verify_keys, cf->nverify_keys,
	    BYPASS_FOR_ARCHIVE, cf->archive_address, mac, strlen(mac),
	    time(NULL), cf->bypass_max_age, msgid, strlen(msgid), date,
	    strlen(date), bodyhash, id, sizeof(id));
	if (r != BYPASS_OK) {
		snprintf(why, whylen, "%s", bypass_result_str(r));
		return 0;
	}
	/* single use where the corral directory is shared */
	return bypass_mark_used(cf, id, cf->archive_address, why, whylen);
}
