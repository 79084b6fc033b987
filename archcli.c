/*
 * archcli.c -- mailcorral-archive(8): searches the mail archive
 * (doc/archive.md) through its MariaDB index, or, when the index is down
 * or not configured, by reading the archive files; shows one archived
 * message byte for byte, exports matches as .eml, counts per day.
 *
 * Read-only: SELECT through prepared statements (archq.c builds them,
 * archive.c's arc_db_connect() connects, the session READ ONLY); the
 * files are opened O_RDONLY|O_NOFOLLOW.  The only files it writes are
 * --export's, through safefile.c (never over an existing file).
 * Exit: 0 something found (or shown), 1 nothing, 2 error or usage,
 * 3 a key that needs the index while the index is unavailable.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <mysql.h>

#include "archq.h"
#include "buf.h"
#include "conf.h"
#include "confsnap.h"
#include "log.h"
#include "mcarchive.h"
#include "safefile.h"
#include "util.h"
#include "banned.h"

#define PROG		"mailcorral-archive"
#define EX_FOUND	0
#define EX_NONE		1
#define EX_ERROR	2
#define EX_NEEDINDEX	3
#define CHUNK		65536

/* Names an archive file may have besides its own: compressed by the site. */
static const char *const zsuffix[] = { "", ".gz", ".xz", ".zst", ".bz2" };
#define NZSUFFIX	(sizeof(zsuffix) / sizeof(zsuffix[0]))

static const char usage_text[] =
"usage: " PROG " [-c FILE] [--defaults-file FILE] [--user NAME] [KEYS]\n"
"           [--json] [--limit N] [--files] [--export DIR | --stats]\n"
"       " PROG " [-c FILE] --show ID\n"
"Searches the mail archive of mailcorral(8) (see mailcorral-archive(8)).\n"
"Keys (all given must match):\n"
"  --from TEXT        envelope sender contains TEXT (any case)\n"
"  --to TEXT          a recipient contains TEXT (any case)\n"
"  --subject WORDS    every word is in the Subject (any case)\n"
"  --since TIME       archived at or after TIME, UTC:\n"
"                     YYYY-MM-DD[ HH:MM[:SS]]\n"
"  --until TIME       archived before the end of TIME (a date: all of it)\n"
"  --message-id ID    this Message-ID (angle brackets optional)\n"
"  --queue-id QID     this queue id\n"
"  --min-size N, --max-size N   body bytes (k, M, G suffixes)\n"
"  --spam yes|no|unchecked, --virus yes|no|unchecked   (index only)\n"
"Output: one line per match: ID, time, queue id, sender, recipients, size,\n"
"  spam, virus, subject, tab-separated; --json: one JSON object a line.\n"
"  --show ID          the archived message to stdout, byte for byte\n"
"  --export DIR       also copy each match to DIR, as YYYY-MM-DD-QID-HEX.eml\n"
"  --stats            messages, bytes, spam and viruses per day\n"
"  --limit N          at most N matches (1000)\n"
"  --files            do not ask the index: read the archive files\n"
"  --max-head N       bytes of a file a scan reads for its header (1M)\n"
"Database: the archive_db_* keywords of the configuration (-c, default\n"
"  " DEF_CONFIG_FILE "); --defaults-file FILE: a MariaDB option\n"
"  file ([client] and [mailcorral-archive]) for the user and password, e.g.\n"
"  of an account with only SELECT on the table.  A password on the command\n"
"  line (-p, --password) is refused.\n"
"Without the index (down or not configured) it reads the files, with a\n"
"  warning; --spam and --virus then exit 3.\n"
"Exit: 0 found, 1 nothing found, 2 error, 3 the key needs the index.\n";

/* One match, from a row of the index or from a file's head. */
struct hit {
	const char	*id;
	long long	 when;
	const char	*f[ARCQ_NCOLS];
	size_t		 n[ARCQ_NCOLS];
	unsigned long long size;
	int		 indexed;	/* verdict columns known */
};

struct run {
	const struct arcq	*q;
	const struct mc_config	*cf;
	int			 exportfd;	/* --export's directory */
	unsigned long long	 found, errors;
	/* --stats over the files: the current day */
	char			 day[11];
	unsigned long long	 day_n, day_bytes;
};

/* ---- output ---- */

/* A field: valid UTF-8 as is, everything else as \xNN or JSON escapes. */
static void
put_field(const char *p, size_t n, int json)
{
	const unsigned char *s = (const unsigned char *)(p ? p : "");
	size_t i = 0, k;

	if (json)
		putchar('"');
	while (i < n) {
		unsigned char c = s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			putchar(c);
			i++;
		} else if (c >= 0x80 && (k = util_utf8_len(s + i, n - i,
		    NULL)) > 0) {
			fwrite(s + i, 1, k, stdout);
			i += k;
		} else {
			if (json && (c == '\\' || c == '"'))
				printf("\\%c", c);
			else if (json)
				printf(c < 0x80 ? "\\u%04x" : "\\ufffd", c);
			else if (c == '"')
				putchar(c);
			else	/* a backslash too: \xNN stays unambiguous */
				printf("\\x%02x", c);
			i++;
		}
	}
	if (json)
		putchar('"');
}

static void
iso_time(long long when, char *out, size_t outlen)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		snprintf(out, outlen, "-");
	else
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_hit(const struct hit *h, int json)
{
	static const char *const key[ARCQ_NCOLS] = {
		"id", "archived_at", "queue_id", "from", "to", "subject",
		"message_id", "size", "action", "spam", "virus"
	};
	static const int order[] = { ARCQ_C_KEY, ARCQ_C_TIME, ARCQ_C_QID,
	    ARCQ_C_FROM, ARCQ_C_TO, ARCQ_C_SIZE, ARCQ_C_SPAM, ARCQ_C_VIRUS,
	    ARCQ_C_SUBJECT, ARCQ_C_MSGID, ARCQ_C_ACTION };
	char when[32];
	size_t i, ncol = json ? ARCQ_NCOLS : 9;
	int c;

	iso_time(h->when, when, sizeof(when));
	if (json)
		putchar('{');
	for (i = 0; i < ncol; i++) {
		c = order[i];
		if (i > 0)
			fputs(json ? ", " : "\t", stdout);
		if (json)
			printf("\"%s\": ", key[c]);
		if (c == ARCQ_C_TIME)
			printf(json ? "\"%s\"" : "%s", when);
		else if (c == ARCQ_C_SIZE)
			printf("%llu", h->size);
		else if (!h->indexed && (c == ARCQ_C_SPAM ||
		    c == ARCQ_C_VIRUS || c == ARCQ_C_ACTION))
			fputs(json ? "null" : "-", stdout);
		else
			put_field(h->f[c], h->n[c], json);
	}
	if (json)
		printf(", \"source\": \"%s\"}", h->indexed ? "index" : "files");
	putchar('\n');
}

static void
print_day(const char *day, unsigned long long n, unsigned long long bytes,
    const char *spam, const char *virus, int json)
{
	if (json)
		printf("{\"day\": \"%s\", \"messages\": %llu, \"bytes\": %llu, "
		    "\"spam\": %s, \"virus\": %s}\n", day, n, bytes,
		    spam ? spam : "null", virus ? virus : "null");
	else
		printf("%s\t%llu\t%llu\t%s\t%s\n", day, n, bytes,
		    spam ? spam : "-", virus ? virus : "-");
}

/* ---- reading an archived message ---- */

static int	 sub(int, int, int);

/*
 * Opens the archived message id under dir: its own name, or that name with
 * a compression suffix (a site may gzip old days).  Each level below dir is
 * opened O_NOFOLLOW, as the daemon makes them (a planted symlink is
 * refused, never followed).  fd, *z the suffix's index (0: not
 * compressed), or -1 (errno).
 */
static int
msg_open(const char *dir, const char *id, size_t *z)
{
	char name[NAME_MAX + 1];
	size_t i = 0;
	int fd = -1, d[4] = { -1, -1, -1, -1 }, e;

	d[0] = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d[0] != -1)
		d[1] = sub(d[0], 4, atoi(id));
	if (d[1] != -1)
		d[2] = sub(d[1], 2, atoi(id + 5));
	if (d[2] != -1)
		d[3] = sub(d[2], 2, atoi(id + 8));
	for (i = 0; d[3] != -1 && i < NZSUFFIX; i++) {
		snprintf(name, sizeof(name), "%s%s", id + 11, zsuffix[i]);
		fd = openat(d[3], name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != -1 || errno != ENOENT)
			break;
	}
	e = errno;
	*z = i;
	for (i = 0; i < 4; i++)
		if (d[i] != -1)
			close(d[i]);
	errno = e;
	return fd;
}

/* The bytes of the open file, decompressed when z > 0, to sink. */
static int
msg_stream(int fd, size_t z, buf_sink_fn *sink, void *arg, char *err,
    size_t errlen)
{
	struct archive *a;
	struct archive_entry *e;
	char chunk[CHUNK];
	ssize_t n;
	int rc = 0;

	if (z == 0) {
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			if (sink(arg, chunk, (size_t)n) == -1)
				return -1;
		if (n < 0)
			snprintf(err, errlen, "%s", strerror(errno));
		return n < 0 ? -1 : 0;
	}
	if ((a = archive_read_new()) == NULL)
		return -1;
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_fd(a, fd, CHUNK) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		rc = -1;
	while (rc == 0 && (n = archive_read_data(a, chunk, sizeof(chunk))) != 0)
		if (n < 0 || sink(arg, chunk, (size_t)n) == -1)
			rc = -1;
	if (rc == -1)
		snprintf(err, errlen, "%s: cannot decompress: %s", zsuffix[z] + 1,
		    archive_error_string(a) ? archive_error_string(a) :
		    "short or damaged");
	archive_read_free(a);
	return rc;
}

static int
to_fd(void *arg, const char *p, size_t n)
{
	return util_write_all(*(int *)arg, p, n);
}

/* Writes the archived message id to fd.  0, or -1 (said on stderr). */
static int
copy_message(const struct mc_config *cf, const char *id, int fd)
{
	char err[256] = "";
	size_t z;
	int in, rc;

	if ((in = msg_open(cf->archive_dir, id, &z)) == -1) {
		fprintf(stderr, PROG ": %s: %s\n", id, strerror(errno));
		return -1;
	}
	rc = msg_stream(in, z, to_fd, &fd, err, sizeof(err));
	close(in);
	if (rc == -1)
		fprintf(stderr, PROG ": %s: %s\n", id,
		    err[0] ? err : strerror(errno));
	return rc;
}

static int
show(const struct mc_config *cf, const char *id)
{
	size_t z;
	int fd;

	if ((fd = msg_open(cf->archive_dir, id, &z)) == -1) {
		fprintf(stderr, PROG ": %s: %s\n", id, strerror(errno));
		return errno == ENOENT ? EX_NONE : EX_ERROR;
	}
	close(fd);
	return copy_message(cf, id, STDOUT_FILENO) == 0 ? EX_FOUND :
	    EX_ERROR;
}

/* --export: DIR/<id with / as ->.eml, never over an existing file. */
static void
export_hit(struct run *r, const char *id)
{
	char name[ARC_REL_MAX + 8], tmp[ARC_REL_MAX + 16], *p;
	int fd;

	snprintf(name, sizeof(name), "%s.eml", id);
	for (p = name; *p != '\0'; p++)
		if (*p == '/')
			*p = '-';
	snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
	if ((fd = sfile_create(r->exportfd, tmp, 0640)) == -1) {
		fprintf(stderr, PROG ": %s/%s: %s\n", r->q->arg, tmp,
		    strerror(errno));
		r->errors++;
		return;
	}
	if (copy_message(r->cf, id, fd) == -1) {
		close(fd);
		unlinkat(r->exportfd, tmp, 0);
		r->errors++;
		return;
	}
	if (sfile_sync_close(fd) == -1 ||
	    sfile_publish(r->exportfd, tmp, name, SFILE_NOREPLACE) == -1) {
		fprintf(stderr, PROG ": %s/%s: %s\n", r->q->arg, name,
		    strerror(errno));
		unlinkat(r->exportfd, tmp, 0);
		r->errors++;
	}
}

static void
take_hit(struct run *r, const struct hit *h)
{
	r->found++;
	if (r->q->mode == ARCQ_EXPORT)
		export_hit(r, h->id);
	print_hit(h, r->q->json);
}

/* ---- the index ---- */

static void
bind_param(MYSQL_BIND *b, struct arcq_param *p)
{
	memset(b, 0, sizeof(*b));
	if (p->num) {
		b->buffer_type = MYSQL_TYPE_LONGLONG;
		b->buffer = &p->n;
	} else {
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer = p->s;
		b->buffer_length = (unsigned long)p->len;
	}
}

/* Prepares and runs s.  The statement, or NULL (said on stderr). */
static MYSQL_STMT *
db_run(MYSQL *my, struct arcq_sql *s)
{
	MYSQL_BIND b[ARCQ_MAXP];
	MYSQL_STMT *st;
	unsigned i;

	if ((st = mysql_stmt_init(my)) == NULL)
		return NULL;
	for (i = 0; i < s->np; i++)
		bind_param(&b[i], &s->p[i]);
	if (mysql_stmt_prepare(st, s->text.data, s->text.len) != 0 ||
	    mysql_stmt_bind_param(st, b) != 0 ||
	    mysql_stmt_execute(st) != 0) {
		fprintf(stderr, PROG ": index: %s\n", mysql_stmt_error(st));
		mysql_stmt_close(st);
		return NULL;
	}
	return st;
}

/* Result buffers of a search row: column sizes of doc/archive-schema.sql. */
struct row_bufs {
	char		 key[129], qid[65], from[513], to[4097];
	char		 subject[998 * 4 + 1], msgid[999], action[33];
	char		 spam[161], virus[193];
	long long	 when, size;
	unsigned long	 len[ARCQ_NCOLS];
	MYSQL_BIND	 b[ARCQ_NCOLS];
};

static void
bind_col(struct row_bufs *rb, int c, void *p, size_t cap)
{
	MYSQL_BIND *b = &rb->b[c];

	memset(b, 0, sizeof(*b));
	b->buffer = p;
	b->length = &rb->len[c];
	if (c == ARCQ_C_TIME || c == ARCQ_C_SIZE) {
		b->buffer_type = MYSQL_TYPE_LONGLONG;
	} else {
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer_length = (unsigned long)cap - 1;
	}
}

static void
row_hit(struct row_bufs *rb, struct hit *h)
{
	char *s[ARCQ_NCOLS] = { rb->key, NULL, rb->qid, rb->from, rb->to,
	    rb->subject, rb->msgid, NULL, rb->action, rb->spam, rb->virus };
	int c;

	memset(h, 0, sizeof(*h));
	for (c = 0; c < ARCQ_NCOLS; c++)
		if (s[c] != NULL) {
			if (rb->len[c] > rb->b[c].buffer_length)
				rb->len[c] = rb->b[c].buffer_length;
			s[c][rb->len[c]] = '\0';
			h->f[c] = s[c];
			h->n[c] = rb->len[c];
		}
	h->id = rb->key;
	h->when = rb->when;
	h->size = (unsigned long long)rb->size;
	h->indexed = 1;
}

static int
index_search(struct run *r, MYSQL *my, const char *table)
{
	struct arcq_sql s;
	struct row_bufs *rb;
	struct hit h;
	MYSQL_STMT *st;
	int rc;

	if ((rb = calloc(1, sizeof(*rb))) == NULL ||
	    arcq_select(r->q, table, &s) == -1) {
		free(rb);
		return -1;
	}
	st = db_run(my, &s);
	arcq_sql_free(&s);
	if (st == NULL) {
		free(rb);
		return -1;
	}
	bind_col(rb, ARCQ_C_KEY, rb->key, sizeof(rb->key));
	bind_col(rb, ARCQ_C_TIME, &rb->when, 0);
	bind_col(rb, ARCQ_C_QID, rb->qid, sizeof(rb->qid));
	bind_col(rb, ARCQ_C_FROM, rb->from, sizeof(rb->from));
	bind_col(rb, ARCQ_C_TO, rb->to, sizeof(rb->to));
	bind_col(rb, ARCQ_C_SUBJECT, rb->subject, sizeof(rb->subject));
	bind_col(rb, ARCQ_C_MSGID, rb->msgid, sizeof(rb->msgid));
	bind_col(rb, ARCQ_C_SIZE, &rb->size, 0);
	bind_col(rb, ARCQ_C_ACTION, rb->action, sizeof(rb->action));
	bind_col(rb, ARCQ_C_SPAM, rb->spam, sizeof(rb->spam));
	bind_col(rb, ARCQ_C_VIRUS, rb->virus, sizeof(rb->virus));
	rc = mysql_stmt_bind_result(st, rb->b) == 0 &&
	    mysql_stmt_store_result(st) == 0 ? 0 : -1;
	while (rc == 0 && ((rc = mysql_stmt_fetch(st)) == 0 ||
	    rc == MYSQL_DATA_TRUNCATED)) {
		row_hit(rb, &h);
		take_hit(r, &h);
		rc = 0;
	}
	if (rc != MYSQL_NO_DATA) {
		fprintf(stderr, PROG ": index: %s\n", mysql_stmt_error(st));
		rc = -1;
	} else
		rc = 0;
	mysql_stmt_close(st);
	free(rb);
	return rc;
}

static int
index_stats(struct run *r, MYSQL *my, const char *table)
{
	struct arcq_sql s;
	MYSQL_STMT *st;
	MYSQL_BIND b[5];
	char day[16], spam[24], virus[24];
	unsigned long dlen;
	long long v[4];
	int i, rc;

	if (arcq_stats(r->q, table, &s) == -1)
		return -1;
	st = db_run(my, &s);
	arcq_sql_free(&s);
	if (st == NULL)
		return -1;
	memset(b, 0, sizeof(b));
	b[0].buffer_type = MYSQL_TYPE_STRING;
	b[0].buffer = day;
	b[0].buffer_length = sizeof(day) - 1;
	b[0].length = &dlen;
	for (i = 0; i < 4; i++) {
		b[i + 1].buffer_type = MYSQL_TYPE_LONGLONG;
		b[i + 1].buffer = &v[i];
	}
	rc = mysql_stmt_bind_result(st, b) == 0 ? 0 : -1;
	while (rc == 0 && (rc = mysql_stmt_fetch(st)) == 0) {
		day[dlen < sizeof(day) ? dlen : sizeof(day) - 1] = '\0';
		snprintf(spam, sizeof(spam), "%lld", v[2]);
		snprintf(virus, sizeof(virus), "%lld", v[3]);
		print_day(day, (unsigned long long)v[0],
		    (unsigned long long)v[1], spam, virus, r->q->json);
		r->found++;
	}
	if (rc != MYSQL_NO_DATA)
		fprintf(stderr, PROG ": index: %s\n", mysql_stmt_error(st));
	mysql_stmt_close(st);
	return rc == MYSQL_NO_DATA ? 0 : -1;
}

/* The connection, or NULL with the reason in why. */
static MYSQL *
index_open(const struct arcq *q, const struct mc_config *cf, char *why,
    size_t whylen)
{
	struct arc_db_opts o = { .host = cf->archive_db_host,
	    .port = cf->archive_db_port, .socket = cf->archive_db_socket,
	    .name = cf->archive_db_name,
	    .user = q->user ? q->user : q->defaults_file ? "" :
		cf->archive_db_user,
	    .password_file = q->defaults_file ? "" :
		cf->archive_db_password_file,
	    .timeout = cf->archive_db_timeout,
	    .defaults_file = q->defaults_file,
	    .defaults_group = "mailcorral-archive", .read_only = 1 };

	if (q->files) {
		snprintf(why, whylen, "--files");
		return NULL;
	}
	if (!arc_indexed(cf)) {
		snprintf(why, whylen, "no index configured (archive_db_name)");
		return NULL;
	}
	return arc_db_connect_any(&o, why, whylen);
}

/* ---- the files ---- */

struct keep {
	struct buf	 head;		/* the first max bytes */
	size_t		 max;		/* --max-head */
	uint64_t	 total;
};

static int
keep_head(void *arg, const char *p, size_t n)
{
	struct keep *k = arg;
	size_t room = k->max - k->head.len;

	k->total += n;
	return room > 0 ? buf_add(&k->head, p, n < room ? n : room) : 0;
}

/* A file's name in a day directory: its id's last part, and *z. */
static int
file_name_ok(const char *day, const char *name, char *id, size_t idlen,
    size_t *z)
{
	size_t n = strlen(name), i, s;

	for (i = NZSUFFIX - 1; i > 0; i--) {
		s = strlen(zsuffix[i]);
		if (n > s && strcmp(name + n - s, zsuffix[i]) == 0)
			break;
	}
	*z = i;
	n -= strlen(zsuffix[i]);
	if (snprintf(id, idlen, "%s/%.*s", day, (int)n, name) >= (int)idlen)
		return 0;
	return name[0] != '.' && arcq_id_ok(id);
}

/* One file of a day: read its head, match, and take it. */
static void
scan_file(struct run *r, int dayfd, const char *id, const char *name,
    size_t z, long long when)
{
	struct keep k = { BUF_INIT, (size_t)r->q->max_head, 0 };
	struct arc_head ah;
	struct hit h;
	char err[256] = "";
	int fd, rc;

	if ((fd = openat(dayfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1) {
		fprintf(stderr, PROG ": %s: %s\n", id, strerror(errno));
		r->errors++;
		return;
	}
	rc = msg_stream(fd, z, keep_head, &k, err, sizeof(err));
	close(fd);
	if (rc == -1 || arc_read_head(k.head.data ? k.head.data : "",
	    k.head.len, k.total, &ah) == -1) {
		/* fail closed: a head not read to its end is not matched */
		fprintf(stderr, PROG ": %s: %s: skipped\n", id, rc == -1 ?
		    err : errno == EFBIG ? "header longer than --max-head" :
		    "not an archive file");
		r->errors++;
		buf_free(&k.head);
		return;
	}
	if (arcq_match(r->q, &ah, when)) {
		if (r->q->mode == ARCQ_STATS) {
			r->found++;
			r->day_n++;
			r->day_bytes += ah.size;
		} else {
			memset(&h, 0, sizeof(h));
			h.id = h.f[ARCQ_C_KEY] = id;
			h.n[ARCQ_C_KEY] = strlen(id);
			h.when = when;
			h.size = ah.size;
#define HF(c, b) (h.f[c] = (b).data ? (b).data : "", h.n[c] = (b).len)
			HF(ARCQ_C_QID, ah.qid);
			HF(ARCQ_C_FROM, ah.sender);
			HF(ARCQ_C_TO, ah.rcpts);
			HF(ARCQ_C_SUBJECT, ah.subject);
			HF(ARCQ_C_MSGID, ah.msgid);
#undef HF
			take_hit(r, &h);
		}
	}
	arc_head_free(&ah);
	buf_free(&k.head);
}

struct dayfile {
	char		 name[NAME_MAX + 1];
	long long	 when;
};

static int
by_time(const void *a, const void *b)
{
	const struct dayfile *x = a, *y = b;

	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * The files of one day directory (day: "YYYY/MM/DD", day0: its first
 * second), in the order they were archived: the time is the file's
 * modification time when it falls on that day (it is written then),
 * else the day's start.
 */
static void
scan_day(struct run *r, int dfd, const char *day, long long day0)
{
	struct dayfile *v = NULL, *nv;
	struct dirent *de;
	struct stat st;
	size_t n = 0, cap = 0, i, z;
	char id[ARC_REL_MAX + 8];
	DIR *d;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!file_name_ok(day, de->d_name, id, sizeof(id), &z) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISREG(st.st_mode))
			continue;
		if ((nv = buf_vec_grow(v, &cap, n, sizeof(*v), 64)) == NULL) {
			fprintf(stderr, PROG ": %s: out of memory\n", day);
			r->errors++;
			break;
		}
		v = nv;
		snprintf(v[n].name, sizeof(v[n].name), "%s", de->d_name);
		v[n].when = st.st_mtime >= day0 && st.st_mtime < day0 + 86400 ?
		    (long long)st.st_mtime : day0;
		n++;
	}
	if (v != NULL)
		qsort(v, n, sizeof(*v), by_time);
	for (i = 0; v != NULL && i < n && (r->q->mode == ARCQ_STATS ||
	    r->found < (unsigned long long)r->q->limit); i++) {
		file_name_ok(day, v[i].name, id, sizeof(id), &z);
		scan_file(r, dirfd(d), id, v[i].name, z, v[i].when);
	}
	free(v);
	closedir(d);
}

static int
by_num(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * The entries of dir dfd named by exactly digits decimal digits, sorted,
 * into *out (the caller frees); their count, or -1.  dfd is closed.
 */
static int
numbered(int dfd, size_t digits, int **out)
{
	struct dirent *de;
	size_t n = 0, cap = 0, i;
	int *v = NULL, *nv;
	DIR *d;

	*out = NULL;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		for (i = 0; isdigit((unsigned char)de->d_name[i]); i++)
			;
		if (i != digits || de->d_name[i] != '\0')
			continue;
		if ((nv = buf_vec_grow(v, &cap, n, sizeof(*v), 16)) == NULL)
			break;
		v = nv;
		v[n++] = atoi(de->d_name);
	}
	closedir(d);
	if (v != NULL)
		qsort(v, n, sizeof(*v), by_num);
	*out = v;
	return (int)n;
}

static int
sub(int dfd, int width, int num)
{
	char name[16];

	snprintf(name, sizeof(name), "%0*d", width, num);
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* One day of the layout: skipped when outside [since, until). */
static void
walk_day(struct run *r, int mfd, int y, int m, int dd)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = dd };
	long long day0 = (long long)timegm(&tm);
	char day[16];
	int fd;

	if ((r->q->since >= 0 && day0 + 86400 <= r->q->since) ||
	    (r->q->until >= 0 && day0 >= r->q->until))
		return;
	snprintf(day, sizeof(day), "%04d/%02d/%02d", y, m, dd);
	if ((fd = sub(mfd, 2, dd)) == -1) {
		/* a symlink planted in the tree: refused, as by the daemon */
		fprintf(stderr, PROG ": %s/%s: %s: skipped\n",
		    r->cf->archive_dir, day, strerror(errno));
		r->errors++;
		return;
	}
	r->day_n = r->day_bytes = 0;
	scan_day(r, fd, day, day0);
	if (r->q->mode == ARCQ_STATS && r->day_n > 0) {
		snprintf(day, sizeof(day), "%04d-%02d-%02d", y, m, dd);
		print_day(day, r->day_n, r->day_bytes, NULL, NULL, r->q->json);
	}
}

/* Every YYYY/MM/DD directory of the archive, oldest first. */
static int
walk_files(struct run *r)
{
	int top, yfd, mfd, *ys, *ms, *ds, ny, nm, nd, i, j, k;
	int done = 0;

	top = open(r->cf->archive_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top == -1 || (ny = numbered(dup(top), 4, &ys)) == -1) {
		fprintf(stderr, PROG ": %s: %s\n", r->cf->archive_dir,
		    strerror(errno));
		if (top != -1)
			close(top);
		return -1;
	}
	for (i = 0; i < ny && !done; i++) {
		if ((yfd = sub(top, 4, ys[i])) == -1)
			continue;
		nm = numbered(dup(yfd), 2, &ms);
		for (j = 0; j < nm && !done; j++) {
			if ((mfd = sub(yfd, 2, ms[j])) == -1)
				continue;
			nd = numbered(dup(mfd), 2, &ds);
			for (k = 0; k < nd && !done; k++) {
				walk_day(r, mfd, ys[i], ms[j], ds[k]);
				done = r->q->mode != ARCQ_STATS &&
				    r->found >= (unsigned long long)r->q->limit;
			}
			free(ds);
			close(mfd);
		}
		free(ms);
		close(yfd);
	}
	free(ys);
	close(top);
	return 0;
}

/* ---- main ---- */

/* Where the answer comes from, and the run over it. */
static int
run_query(struct run *r)
{
	char why[512];
	MYSQL *my;
	int rc;

	if ((my = index_open(r->q, r->cf, why, sizeof(why))) != NULL) {
		rc = r->q->mode == ARCQ_STATS ?
		    index_stats(r, my, r->cf->archive_db_table) :
		    index_search(r, my, r->cf->archive_db_table);
		mysql_close(my);
		return rc;
	}
	if (arcq_needs_index(r->q)) {
		fprintf(stderr, PROG ": --spam and --virus need the index, "
		    "which is not available: %s\n", why);
		return EX_NEEDINDEX;
	}
	if (!r->q->files)
		fprintf(stderr, PROG ": warning: the index is not available "
		    "(%s): answering from the files under %s\n", why,
		    r->cf->archive_dir);
	return walk_files(r);
}

int
main(int argc, char **argv)
{
	struct arcq q;
	struct run r;
	struct mc_config *cf = NULL;
	char err[1024];
	int rc;

	rc = arcq_parse(argc, argv, &q, err, sizeof(err));
	if (rc == ARCQ_HELP) {
		fputs(usage_text, stdout);
		return EX_FOUND;
	}
	if (rc != 0) {
		fprintf(stderr, PROG ": %s\n%s", err, rc == ARCQ_BAD ?
		    "usage: " PROG " --help\n" : "");
		return EX_ERROR;
	}
	log_init(PROG, LOG_MAIL, 1);
	setlogmask(LOG_MASK(LOG_EMERG));
	if (conf_load(q.config ? q.config : DEF_CONFIG_FILE, &cf, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, PROG ": %s\n", err);
		return EX_ERROR;
	}
	if (!arc_enabled(cf)) {
		fprintf(stderr, PROG ": archive_dir is not set: no archive\n");
		conf_free(cf);
		return EX_ERROR;
	}
	if (q.mode == ARCQ_SHOW) {
		rc = show(cf, q.arg);
		conf_free(cf);
		return rc;
	}
	memset(&r, 0, sizeof(r));
	r.q = &q;
	r.cf = cf;
	r.exportfd = -1;
	if (q.mode == ARCQ_EXPORT && (r.exportfd = open(q.arg, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) == -1) {
		fprintf(stderr, PROG ": --export %s: %s\n", q.arg,
		    strerror(errno));
		conf_free(cf);
		return EX_ERROR;
	}
	rc = run_query(&r);
	if (fflush(stdout) == EOF)
		rc = -1;
	if (r.exportfd != -1) {
		fsync(r.exportfd);
		close(r.exportfd);
	}
	conf_free(cf);
	mysql_library_end();
	if (rc == EX_NEEDINDEX)
		return rc;
	return rc == -1 || r.errors > 0 ? EX_ERROR :
	    r.found > 0 ? EX_FOUND : EX_NONE;
}
