/*
 * perlpool.c -- the Perl shim's worker pool and protocol (see perlpool.h).
 *
 * Three parts: the encoding and the reply parser (pure functions, unit
 * tested and fuzzed), one message's request (part files in a private
 * directory, the request text), and the pool of worker processes.
 * Names: the short prefix pp_ (Perl pool) on every public name.
 * Ownership: struct pp_msg is one message's (its directory is removed with
 * it); the pool is global, under one mutex never held across I/O.
 * Failure: -1 with a one-word reason for "perl-failed reason="; a worker
 * that times out, dies or falls out of step is stopped and replaced.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "confsnap.h"
#include "log.h"
#include "mime.h"
#include "perlpool.h"
#include "scan.h"
#include "smfopts.h"
#include "spool.h"
#include "util.h"
#include "banned.h"

/* ---- encoding ---- */

static int
needs_escape(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '%';
}

int
pp_encode(struct buf *b, const char *p, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];
	size_t i, run;

	for (i = 0; i < len; i += run) {
		for (run = 0; i + run < len &&
		    !needs_escape((unsigned char)p[i + run]); run++)
			;
		if (run > 0) {
			if (buf_add(b, p + i, run) == -1)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[(unsigned char)p[i] >> 4];
		e[2] = hex[(unsigned char)p[i] & 15];
		if (buf_add(b, e, 3) == -1)
			return -1;
		run = 1;
	}
	return 0;
}

int
pp_decode(const char *p, size_t len, char *out, size_t max, size_t *outlen)
{
	size_t i, o = 0;
	int h, l;

	for (i = 0; i < len; i++) {
		if (o >= max)
			return -1;
		if (p[i] != '%') {
			if (needs_escape((unsigned char)p[i]))
				return -1;
			out[o++] = p[i];
			continue;
		}
		if (len - i < 3 || (h = util_hexval(p[i + 1])) < 0 ||
		    (l = util_hexval(p[i + 2])) < 0)
			return -1;
		out[o++] = (char)(h << 4 | l);
		i += 2;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* ---- the reply ---- */

#define MAX_FIELDS	6

/* Splits a line at single blanks; -1 if there are more than max fields. */
static int
split_fields(const char *line, size_t len, const char **f, size_t *fl,
    unsigned max)
{
	unsigned n = 0;
	size_t i, start = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (n == max)
			return -1;
		f[n] = line + start;
		fl[n++] = i - start;
		start = i + 1;
	}
	return (int)n;
}

static int
good_header_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > PP_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * A value the milter will pass on: decoded, at most max bytes, no CR, LF
 * or NUL (refused: BI-31); other control bytes become blanks.
 */
static int
get_value(const char *f, size_t fl, char *out, size_t max, int empty_ok,
    const char **why)
{
	size_t n, i;

	if (pp_decode(f, fl, out, max, &n) == -1) {
		*why = fl > max ? "value-too-long" : "bad-encoding";
		return -1;
	}
	if (n == 0 && !empty_ok) {
		*why = "empty-value";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (out[i] == '\r' || out[i] == '\n' || out[i] == '\0') {
			*why = "bad-value";
			return -1;
		}
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	}
	return 0;
}

static int
get_number(const char *f, size_t fl, unsigned long max, unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	if (fl == 0 || fl > 9)
		return -1;
	for (i = 0; i < fl; i++) {
		if (f[i] < '0' || f[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(f[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
get_part(const char *f, size_t fl, const unsigned *parts, unsigned nparts,
    unsigned *out)
{
	unsigned i;

	if (get_number(f, fl, 1000000000UL, out) == -1)
		return -1;
	for (i = 0; i < nparts; i++)
		if (parts[i] == *out)
			return 0;
	return -1;
}

static int
good_type(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t i;

	if (slash == NULL || slash == s || slash[1] == '\0' ||
	    strchr(slash + 1, '/') != NULL || strlen(s) >= 96)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    strchr("!#$&^_.+-/", s[i]) != NULL))
			return 0;
	return 1;
}

/* dir + "/" + a plain file name: no "..", no other slash, no dot file. */
static int
good_path(const char *path, const char *dir)
{
	size_t dl = strlen(dir), i;
	const char *name;

	if (dl == 0 || strncmp(path, dir, dl) != 0 || path[dl] != '/')
		return 0;
	name = path + dl + 1;
	if (name[0] == '\0' || name[0] == '.')
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '.' || name[i] == '_' || name[i] == '-'))
			return 0;
	return 1;
}

static int
add_action(struct pp_reply *r, struct pp_action **a)
{
	struct pp_action *na;

	if (r->n >= PP_MAX_ACTIONS)
		return -1;
	if ((na = realloc(r->a, (r->n + 1) * sizeof(*na))) == NULL)
		return -1;
	r->a = na;
	*a = &na[r->n++];
	memset(*a, 0, sizeof(**a));
	return 0;
}

static int
set_verdict(struct pp_reply *r, enum pp_verdict v, const char **why)
{
	if (r->verdict != PP_NONE) {
		*why = "two-verdicts";
		return -1;
	}
	if (v == PP_ACCEPT && r->spam) {
		*why = "spam-and-accept";
		return -1;
	}
	r->verdict = v;
	return 0;
}

/*
 * A SPAM score: an optional '-', 1 to 5 digits, optionally '.' and 1 to
 * 3 digits; within +-PP_SPAM_SCORE_MAX.  Nothing strtod would read
 * differently (no exponent, no hex, no inf or nan).  0 or -1.
 */
static int
get_score(const char *f, size_t fl, double *out)
{
	char tmp[16];
	size_t i = 0, nd = 0, nf = 0;
	int dot = 0;

	if (fl == 0 || fl >= sizeof(tmp))
		return -1;
	if (f[0] == '-')
		i++;
	for (; i < fl; i++) {
		if (f[i] == '.' && !dot && nd > 0)
			dot = 1;
		else if (f[i] >= '0' && f[i] <= '9') {
			if (dot)
				nf++;
			else
				nd++;
		} else
			return -1;
	}
	if (nd == 0 || nd > 5 || (dot && (nf == 0 || nf > 3)))
		return -1;
	memcpy(tmp, f, fl);
	tmp[fl] = '\0';
	*out = strtod(tmp, NULL);
	return *out > PP_SPAM_SCORE_MAX || *out < -PP_SPAM_SCORE_MAX ? -1 : 0;
}

/* SPAM <score> <reason>: one, and not with ACCEPT.  0 or -1 with *why. */
static int
spam_verb(struct pp_reply *r, const char *const *f, const size_t *fl,
    int nf, const char **why)
{
	if (nf != 3)
		return -1;
	if (r->spam) {
		*why = "two-spam-verdicts";
		return -1;
	}
	if (r->verdict == PP_ACCEPT) {
		*why = "spam-and-accept";
		return -1;
	}
	if (get_score(f[1], fl[1], &r->spam_score) == -1) {
		*why = "bad-score";
		return -1;
	}
	if (get_value(f[2], fl[2], r->spam_reason, PP_VALUE_MAX, 1,
	    why) == -1)
		return -1;
	r->spam = 1;
	return 0;
}

/*
 * The arguments of DROP <part> <reason>, RENAME <part> <name> and
 * REPLACE <part> <type> <name> <path> (fields f[0..nf)) as a new action.
 * 0, or -1 with the reason in *why.
 */
static int
part_action(struct pp_reply *r, enum pp_verb v, const char *const *f,
    const size_t *fl, int nf, const unsigned *parts, unsigned nparts,
    const char *dir, const char **why)
{
	struct pp_action *a;
	size_t n;

	if (nf != (v == PP_REPLACE ? 5 : 3))
		return -1;
	if (add_action(r, &a) == -1) {
		*why = "too-many-actions";
		return -1;
	}
	a->verb = v;
	if (get_part(f[1], fl[1], parts, nparts, &a->part) == -1) {
		*why = "bad-part";
		return -1;
	}
	if (v == PP_DROP)
		return get_value(f[2], fl[2], a->value, PP_VALUE_MAX,
		    1, why);
	if (v == PP_RENAME)
		return get_value(f[2], fl[2], a->name, PP_NAME_MAX, 0,
		    why);
	if (get_value(f[2], fl[2], a->type, sizeof(a->type) - 1, 0,
	    why) == -1)
		return -1;
	if (!good_type(a->type)) {
		*why = "bad-type";
		return -1;
	}
	if (get_value(f[3], fl[3], a->name, PP_NAME_MAX, 0, why) == -1)
		return -1;
	if (pp_decode(f[4], fl[4], a->path, sizeof(a->path) - 1,
	    &n) == -1 || strlen(a->path) != n ||
	    !good_path(a->path, dir)) {
		*why = "bad-path";
		return -1;
	}
	return 0;
}

/*
 * The arguments of HEADER-ADD <name> <value>, HEADER-CHANGE <name> <index>
 * <value> and HEADER-DELETE <name> as a new action.  0, or -1 with *why.
 */
static int
header_action(struct pp_reply *r, enum pp_verb v, const char *const *f,
    const size_t *fl, int nf, const char **why)
{
	struct pp_action *a;
	size_t n;
	int want = v == PP_HDR_ADD ? 3 : v == PP_HDR_CHANGE ? 4 : 2;

	if (nf != want)
		return -1;
	if (add_action(r, &a) == -1) {
		*why = "too-many-actions";
		return -1;
	}
	a->verb = v;
	if (pp_decode(f[1], fl[1], a->name, PP_NAME_MAX, &n) == -1 ||
	    !good_header_name(a->name, n) || strlen(a->name) != n) {
		*why = "bad-header-name";
		return -1;
	}
	if (v == PP_HDR_DELETE)
		return 0;
	if (v == PP_HDR_CHANGE && get_number(f[2], fl[2], 10000,
	    &a->index) == -1) {
		*why = "bad-index";
		return -1;
	}
	if (v == PP_HDR_CHANGE && a->index == 0) {
		*why = "bad-index";
		return -1;
	}
	return get_value(f[want - 1], fl[want - 1], a->value,
	    PP_VALUE_MAX, 1, why);
}

/* One reply line (without its LF); 1 for the F line, 0 ok, -1 refused. */
static int
parse_line(const char *line, size_t len, const unsigned *parts,
    unsigned nparts, const char *dir, struct pp_reply *r, const char **why)
{
	const char *f[MAX_FIELDS];
	size_t fl[MAX_FIELDS], n;
	char tmp[PP_VALUE_MAX + 1];
	int nf;

	if (len > PP_LINE_MAX) {
		*why = "line-too-long";
		return -1;
	}
	if (len == 1 && line[0] == 'F')
		return 1;
	if ((nf = split_fields(line, len, f, fl, MAX_FIELDS)) < 1) {
		*why = "bad-verb";
		return -1;
	}
#define VERB(s)	(fl[0] == sizeof(s) - 1 && memcmp(f[0], s, fl[0]) == 0)
	*why = "bad-arguments";
	if (VERB("ACCEPT") || VERB("DISCARD")) {
		if (nf != 1)
			return -1;
		return set_verdict(r, VERB("ACCEPT") ? PP_ACCEPT : PP_DISCARD,
		    why);
	}
	if (VERB("REJECT") || VERB("TEMPFAIL")) {
		if (nf != 2 || get_value(f[1], fl[1], r->text, PP_VALUE_MAX,
		    0, why) == -1)
			return -1;
		return set_verdict(r, VERB("REJECT") ? PP_REJECT :
		    PP_TEMPFAIL, why);
	}
	if (VERB("SPAM"))
		return spam_verb(r, f, fl, nf, why);
	if (VERB("ERROR")) {
		if (nf != 2 || pp_decode(f[1], fl[1], tmp, PP_VALUE_MAX,
		    &n) == -1)
			return -1;
		log_safe(tmp, n, r->error, sizeof(r->error));
		if (r->error[0] == '\0')
			snprintf(r->error, sizeof(r->error), "?");
		return 0;
	}
	if (VERB("DROP") || VERB("RENAME") || VERB("REPLACE")) {
		enum pp_verb v = VERB("DROP") ? PP_DROP : VERB("RENAME") ?
		    PP_RENAME : PP_REPLACE;

		return part_action(r, v, f, fl, nf, parts, nparts, dir, why);
	}
	if (VERB("HEADER-ADD") || VERB("HEADER-CHANGE") ||
	    VERB("HEADER-DELETE")) {
		enum pp_verb v = VERB("HEADER-ADD") ? PP_HDR_ADD :
		    VERB("HEADER-CHANGE") ? PP_HDR_CHANGE : PP_HDR_DELETE;

		return header_action(r, v, f, fl, nf, why);
	}
#undef VERB
	*why = "bad-verb";
	return -1;
}

int
pp_parse_reply(const char *p, size_t len, const unsigned *parts,
    unsigned nparts, const char *dir, struct pp_reply *r, char *why,
    size_t whylen)
{
	const char *w = "no-terminator", *nl;
	size_t i = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len > PP_REPLY_MAX) {
		w = "reply-too-long";
		goto refuse;
	}
	while (i < len) {
		if ((nl = memchr(p + i, '\n', len - i)) == NULL) {
			w = "no-terminator";	/* cut short mid-line */
			goto refuse;
		}
		rc = parse_line(p + i, (size_t)(nl - (p + i)), parts, nparts,
		    dir, r, &w);
		if (rc == -1)
			goto refuse;
		i = (size_t)(nl - p) + 1;
		if (rc == 1) {
			if (i != len) {
				w = "data-after-terminator";
				goto refuse;
			}
			return 0;
		}
	}
	w = "no-terminator";
refuse:
	snprintf(why, whylen, "%s", w);
	pp_reply_free(r);
	return -1;
}

void
pp_reply_free(struct pp_reply *r)
{
	free(r->a);
	memset(r, 0, sizeof(*r));
}

/* ---- one message ---- */

/* Answers one FETCH <part> line of the worker: appends the answer line. */
typedef void	fetch_fn(void *arg, unsigned part, struct buf *ans);

static int	exchange(const struct mc_config *, const char *qid,
		    const char *req, size_t len, struct buf *out, fetch_fn *,
		    void *arg, char *why, size_t whylen);

struct pp_msg {
	struct buf	 hdrs;		/* "HEADER n v\n" lines, encoded */
	int		 hdr_full;	/* some fields did not fit */
	char		 dir[PATH_MAX];	/* "" until named */
	int		 dir_made;	/* by us (make_dir) */
	unsigned	*parts;		/* the leaf parts offered */
	unsigned	 nparts;
	/* pp_msg_run's, for FETCH: */
	struct scan	*sc;
	const char	*qid;
	unsigned char	*fetched;	/* parts[i] written to its file */
	uint64_t	*fsize;		/* its bytes */
	char		 fetch_err[32];	/* a FETCH failed: the reason */
	char		 relay[300];	/* {_}: "name [address]" */
	int		 msg_fetched;	/* INPUTMSG written (FETCH message) */
	uint64_t	 msg_size;
	struct pp_reply	 reply;
};

struct pp_msg *
pp_msg_new(void)
{
	struct pp_msg *pm;

	if ((pm = calloc(1, sizeof(*pm))) == NULL)
		return NULL;
	buf_init(&pm->hdrs, PP_REQ_HEADERS);
	return pm;
}

void
pp_msg_relay(struct pp_msg *pm, const char *relay)
{
	snprintf(pm->relay, sizeof(pm->relay), "%s", relay);
}

int
pp_msg_header(struct pp_msg *pm, const char *name, const char *value)
{
	size_t mark = pm->hdrs.len;

	if (pm->hdr_full)
		return 0;
	if (buf_adds(&pm->hdrs, "HEADER ") == -1 ||
	    pp_encode(&pm->hdrs, name, strlen(name)) == -1 ||
	    buf_addc(&pm->hdrs, ' ') == -1 ||
	    pp_encode(&pm->hdrs, value, strlen(value)) == -1 ||
	    buf_addc(&pm->hdrs, '\n') == -1) {
		/* Past the ceiling the filter sees the first fields only. */
		pm->hdrs.len = mark;
		if (pm->hdrs.data != NULL)
			pm->hdrs.data[mark] = '\0';
		pm->hdr_full = 1;
		if (errno == ENOMEM)
			return -1;
	}
	return 0;
}

unsigned
pp_msg_count(const struct pp_msg *pm, const char *name)
{
	struct buf enc = BUF_INIT;
	const char *p, *end, *nl;
	unsigned n = 0;

	if (pm->hdrs.data == NULL || pp_encode(&enc, name, strlen(name)) ==
	    -1 || enc.data == NULL) {
		buf_free(&enc);
		return 0;
	}
	p = pm->hdrs.data;
	end = p + pm->hdrs.len;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if ((size_t)(nl - p) > 7 + enc.len && p[7 + enc.len] == ' ' &&
		    strncasecmp(p + 7, enc.data, enc.len) == 0)
			n++;
	}
	buf_free(&enc);
	return n;
}

const struct pp_reply *
pp_msg_reply(const struct pp_msg *pm)
{
	return &pm->reply;
}

/* Removes the message's directory: our part files and the filter's. */
static void
remove_dir(const char *dir)
{
	DIR *d;
	struct dirent *de;
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		/* never made (nothing was read or replaced), or a file the
		   filter put in its way */
		if (errno != ENOENT && ((errno != ENOTDIR && errno != ELOOP) ||
		    unlink(dir) == -1))
			log_warn("perl: cannot open %s", dir);
		return;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1 &&
		    (errno != EISDIR ||
		    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == -1))
			log_warn("perl: cannot remove %s/%s", dir, de->d_name);
	}
	closedir(d);
	if (rmdir(dir) == -1)
		log_warn("perl: cannot remove %s", dir);
}

void
pp_msg_free(struct pp_msg *pm)
{
	if (pm == NULL)
		return;
	if (pm->dir[0] != '\0')
		remove_dir(pm->dir);
	buf_free(&pm->hdrs);
	free(pm->parts);
	free(pm->fetched);
	free(pm->fsize);
	pp_reply_free(&pm->reply);
	free(pm);
}

struct part_file {
	int		fd;
	uint64_t	size;
	int		err;
};

static void
part_out(void *arg, const char *p, size_t n)
{
	struct part_file *pf = arg;
	ssize_t w;

	while (n > 0 && pf->err == 0) {
		if ((w = write(pf->fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			pf->err = errno;
			return;
		}
		p += w;
		n -= (size_t)w;
		pf->size += (uint64_t)w;
	}
}

static int
is_leaf(const struct mime_part *p)
{
	return !(p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE |
	    MIME_PART_PREAMBLE | MIME_PART_EPILOGUE));
}

/*
 * The message's directory, made on first use (a filter that reads no part
 * and replaces none costs no directory): 0700, or the one the shim made
 * for replace_part -- a directory of ours that no one else can enter.
 * 0, or -1 (errno).
 */
static int
make_dir(struct pp_msg *pm)
{
	struct stat st;

	if (pm->dir_made)
		return 0;
	if (mkdir(pm->dir, 0700) == -1) {
		if (errno != EEXIST || lstat(pm->dir, &st) == -1)
			return -1;
		if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
		    (st.st_mode & 077) != 0) {
			errno = ENOTDIR;
			return -1;
		}
	}
	pm->dir_made = 1;
	return 0;
}

/*
 * Creates the message directory's file name (new, ours only, no link
 * followed), its path in path.  The descriptor, or -1 (errno).
 */
static int
create_in_dir(const struct pp_msg *pm, const char *name, char *path,
    size_t len)
{
	int n;

	n = snprintf(path, len, "%s/%s", pm->dir, name);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
}

/*
 * Writes one part's decoded content to dir/part<id> (the filter asked for
 * it: FETCH); *size gets the bytes written.  0, or -1 (errno).
 */
static int
write_part(const struct pp_msg *pm, struct scan *sc,
    const struct mime_part *p, uint64_t *size)
{
	struct part_file pf = { -1, 0, 0 };
	char path[PATH_MAX + 32], name[32];

	snprintf(name, sizeof(name), "part%u", p->id);
	if ((pf.fd = create_in_dir(pm, name, path, sizeof(path))) == -1)
		return -1;
	if (p->body_end > p->body_start && scan_decode(sc, p->cte,
	    p->body_start, p->body_end, part_out, &pf) == -1 && pf.err == 0)
		pf.err = errno ? errno : EIO;
	if (close(pf.fd) == -1 && pf.err == 0)
		pf.err = errno;
	if (pf.err != 0) {
		unlink(path);	/* never half a part under its name */
		errno = pf.err;
		return -1;
	}
	*size = pf.size;
	return 0;
}

/*
 * One part's PART line: its size is the parser's count of decoded bytes,
 * its path where the file appears once the filter asks for it.
 */
static int
part_line(const struct pp_msg *pm, const struct mime_part *p,
    struct buf *req)
{
	char path[PATH_MAX + 32];
	const char *disp, *name;
	int n;

	n = snprintf(path, sizeof(path), "%s/part%u", pm->dir, p->id);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	disp = p->flags & MIME_PART_ATTACHMENT ? "attachment" :
	    p->flags & MIME_PART_INLINE ? "inline" : "";
	name = p->nnames > 0 ? p->names[p->nnames - 1] : "";
	buf_printf(req, "PART %u ", p->id);
	pp_encode(req, p->type, strlen(p->type));
	buf_addc(req, ' ');
	pp_encode(req, name, strlen(name));
	buf_addc(req, ' ');
	pp_encode(req, disp, strlen(disp));
	buf_printf(req, " %llu ", (unsigned long long)p->decoded_size);
	pp_encode(req, path, strlen(path));
	return buf_addc(req, '\n');
}

/* FETCH message: the whole message, not a part (take_fetches). */
#define PP_FETCH_MESSAGE	UINT_MAX

struct lf_out {
	int		fd;
	int		cr;	/* a CR held back: the next byte decides */
	uint64_t	size;
};

static int
lf_put(struct lf_out *o, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (util_write_all(o->fd, p, n) == -1)
		return -1;
	o->size += n;
	return 0;
}

/* Copies spool bytes with each CRLF written as LF (MIMEDefang's INPUTMSG). */
static int
lf_copy(void *arg, const char *p, size_t n)
{
	struct lf_out *o = arg;
	const char *cr, *end = p + n;

	if (o->cr && n > 0) {
		o->cr = 0;
		if (*p != '\n' && lf_put(o, "\r", 1) == -1)
			return -1;
	}
	while ((cr = memchr(p, '\r', (size_t)(end - p))) != NULL) {
		if (lf_put(o, p, (size_t)(cr - p)) == -1)
			return -1;
		p = cr + 1;
		if (p == end) {
			o->cr = 1;	/* decided by the next piece */
			return 0;
		}
		if (*p != '\n' && lf_put(o, "\r", 1) == -1)
			return -1;
	}
	return lf_put(o, p, (size_t)(end - p));
}

/*
 * Writes the whole message, header as the MTA delivers it and body as
 * received, to dir/INPUTMSG with LF line ends (the MIMEDefang API reads
 * it, perl_filter_api).  A header cut at the request's ceiling would be a
 * message read in part: refused (EFBIG), the message fails.  0, or -1.
 */
static int
write_message(const struct pp_msg *pm, uint64_t *size)
{
	struct lf_out o = { -1, 0, 0 };
	struct spool *sp = scan_spool(pm->sc);
	char path[PATH_MAX + 32];
	int err = 0;

	if (pm->hdr_full) {
		errno = EFBIG;
		return -1;
	}
	if ((o.fd = create_in_dir(pm, "INPUTMSG", path, sizeof(path))) == -1)
		return -1;
	if (spool_copy(sp, 0, spool_size(sp), lf_copy, &o) == -1 ||
	    (o.cr && lf_put(&o, "\r", 1) == -1))
		err = errno ? errno : EIO;
	if (close(o.fd) == -1 && err == 0)
		err = errno;
	if (err != 0) {
		unlink(path);
		errno = err;
		return -1;
	}
	*size = o.size;
	return 0;
}

/* FETCH message: written once; a failure fails the message as for a part. */
static void
fetch_message(struct pp_msg *pm, struct buf *ans)
{
	uint64_t size;

	if (pm->msg_fetched) {
		buf_printf(ans, "FETCHED message %llu\n",
		    (unsigned long long)pm->msg_size);
		return;
	}
	if (make_dir(pm) == -1 || write_message(pm, &size) == -1) {
		log_msg(pm->qid, LOG_WARNING, "perl: cannot write the message "
		    "to %s/INPUTMSG: %s", pm->dir, errno == EFBIG ?
		    "its header is over the request's limit" : strerror(errno));
		snprintf(pm->fetch_err, sizeof(pm->fetch_err), "%s",
		    errno == EFBIG ? "header-limit" : "message-file");
		buf_printf(ans, "FETCH-FAILED message %s\n", pm->fetch_err);
		return;
	}
	pm->msg_fetched = 1;
	pm->msg_size = size;
	buf_printf(ans, "FETCHED message %llu\n", (unsigned long long)size);
}

/*
 * The worker asked for part id (FETCH): its file is written once, and the
 * answer line goes onto ans.  A part that cannot be written fails the
 * message whatever the filter answers (pm->fetch_err): the filter may
 * have caught the error and gone on without the content.
 */
static void
fetch_part(void *arg, unsigned id, struct buf *ans)
{
	struct pp_msg *pm = arg;
	const struct mime_part *p;
	unsigned np, i;
	uint64_t size;

	if (id == PP_FETCH_MESSAGE) {
		fetch_message(pm, ans);
		return;
	}
	for (i = 0; i < pm->nparts; i++)
		if (pm->parts[i] == id)
			break;
	p = scan_parts(pm->sc, &np);
	if (i == pm->nparts || id >= np || p[id].id != id) {
		log_msg(pm->qid, LOG_WARNING, "perl: the filter asked for "
		    "part %u, not offered", id);
		snprintf(pm->fetch_err, sizeof(pm->fetch_err), "bad-fetch");
		buf_printf(ans, "FETCH-FAILED %u bad-part\n", id);
		return;
	}
	if (pm->fetched[i]) {
		buf_printf(ans, "FETCHED %u %llu\n", id,
		    (unsigned long long)pm->fsize[i]);
		return;
	}
	if (make_dir(pm) == -1 || write_part(pm, pm->sc, &p[id], &size) ==
	    -1) {
		log_msg(pm->qid, LOG_WARNING, "perl: cannot write part %u "
		    "to %s: %s", id, pm->dir, strerror(errno));
		snprintf(pm->fetch_err, sizeof(pm->fetch_err), "part-file");
		buf_printf(ans, "FETCH-FAILED %u part-file\n", id);
		return;
	}
	if (size != p[id].decoded_size)
		log_msg(pm->qid, LOG_WARNING, "perl: part %u decodes to %llu "
		    "bytes, the parser counted %llu", id,
		    (unsigned long long)size,
		    (unsigned long long)p[id].decoded_size);
	pm->fetched[i] = 1;
	pm->fsize[i] = size;
	buf_printf(ans, "FETCHED %u %llu\n", id, (unsigned long long)size);
}

static void
req_field(struct buf *req, const char *key, const char *v)
{
	buf_adds(req, key);
	buf_addc(req, ' ');
	pp_encode(req, v, strlen(v));
	buf_addc(req, '\n');
}

/*
 * The MIMEDefang API's spam_assassin_check: the built-in checker's score
 * (counted while the message was read; none when it does not count),
 * spam_threshold and the names of the features that scored.
 */
static void
spam_line(struct scan *sc, const struct mc_config *cf, struct buf *req)
{
	struct buf why = BUF_INIT;
	double score;

	if (scan_spam_score(sc, &score, &why) == -1) {
		buf_free(&why);
		return;
	}
	buf_printf(req, "SPAM-SCORE %.3f %.3f ", score, cf->spam_threshold);
	pp_encode(req, why.data != NULL ? why.data : "", why.len);
	buf_addc(req, '\n');
	buf_free(&why);
}

/*
 * The MIMEDefang API's message_contains_virus: one VIRUS line per part the
 * virus arbitron (clamd) found infected, with its signature name.  Only
 * for perl_filter_api = mimedefang (MailCorral's own API has no such line).
 */
static void
virus_lines(const struct scan *sc, struct buf *req)
{
	const struct scan_finding *f;
	unsigned n, i;

	f = scan_findings(sc, &n);
	for (i = 0; i < n; i++)
		if (f[i].reason == VIRUS_INFECTED)
			req_field(req, "VIRUS", f[i].what);
}

/* Replacement files: regular, ours (the worker's uid is ours).  0 or -1. */
static int
replacements_ok(const struct pp_reply *r)
{
	struct stat st;
	unsigned i;

	for (i = 0; i < r->n; i++) {
		if (r->a[i].verb != PP_REPLACE)
			continue;
		if (lstat(r->a[i].path, &st) == -1 || !S_ISREG(st.st_mode) ||
		    st.st_uid != geteuid())
			return -1;
	}
	return 0;
}

int
pp_msg_run(struct pp_msg *pm, const struct mc_config *cf, struct scan *sc,
    const char *qid, const char *sender, char *const *rcpts, unsigned nrcpt,
    const char *client, char *why, size_t whylen)
{
	const struct mime_part *p;
	struct buf req = BUF_INIT, reply = BUF_INIT;
	unsigned np, i;
	char err[64], hex[17];
	int n, rc = -1;

	pp_reply_free(&pm->reply);
	pm->dir_made = 0;
	/* named now, made when first needed (make_dir, replace_part) */
	if (util_random_hex(hex, sizeof(hex) - 1, 0) == -1 ||
	    (n = snprintf(pm->dir, sizeof(pm->dir), "%s/perl.%s",
	    cf->spool_dir, hex)) < 0 || (size_t)n >= sizeof(pm->dir)) {
		log_msg(qid, LOG_WARNING, "perl: cannot name a directory "
		    "under %s: %s", cf->spool_dir, strerror(errno));
		pm->dir[0] = '\0';
		snprintf(why, whylen, "tempdir");
		return -1;
	}
	p = scan_parts(sc, &np);
	free(pm->parts);
	free(pm->fetched);
	free(pm->fsize);
	pm->nparts = 0;
	pm->fetch_err[0] = '\0';
	pm->msg_fetched = 0;
	pm->sc = sc;
	pm->qid = qid;
	pm->parts = calloc(np > 0 ? np : 1, sizeof(*pm->parts));
	pm->fetched = calloc(np > 0 ? np : 1, sizeof(*pm->fetched));
	pm->fsize = calloc(np > 0 ? np : 1, sizeof(*pm->fsize));
	if (pm->parts == NULL || pm->fetched == NULL || pm->fsize == NULL) {
		snprintf(why, whylen, "out-of-memory");
		return -1;
	}
	buf_printf(&req, "%s\n", PP_PROTO);
	req_field(&req, "QID", qid);
	req_field(&req, "SENDER", sender);
	for (i = 0; i < nrcpt; i++)
		req_field(&req, "RCPT", rcpts[i]);
	req_field(&req, "CLIENT", client);
	req_field(&req, "DIR", pm->dir);
	if (pm->hdrs.len > 0)
		buf_add(&req, pm->hdrs.data, pm->hdrs.len);
	for (i = 0; i < np; i++) {
		if (!is_leaf(&p[i]))
			continue;
		if (part_line(pm, &p[i], &req) == -1) {
			snprintf(why, whylen, "part-file");
			goto out;
		}
		pm->parts[pm->nparts++] = p[i].id;
	}
	if (cf->perl_filter_api == CONF_PERL_API_MIMEDEFANG) {
		if (pm->relay[0] != '\0')
			req_field(&req, "RELAY", pm->relay);
		virus_lines(sc, &req);
		spam_line(sc, cf, &req);
	}
	buf_adds(&req, "END\n");
	if (req.data == NULL) {
		snprintf(why, whylen, "out-of-memory");
		goto out;
	}
	if (exchange(cf, qid, req.data, req.len, &reply, fetch_part, pm, why,
	    whylen) == -1)
		goto out;
	if (pm->fetch_err[0] != '\0') {
		/* logged by fetch_part; whatever the filter made of it */
		snprintf(why, whylen, "%s", pm->fetch_err);
		goto out;
	}
	if (pp_parse_reply(reply.data, reply.len, pm->parts, pm->nparts,
	    pm->dir, &pm->reply, err, sizeof(err)) == -1) {
		snprintf(why, whylen, "bad-reply:%s", err);
		goto out;
	}
	if (pm->reply.error[0] != '\0') {
		snprintf(why, whylen, "filter-died error=\"%.150s\"",
		    pm->reply.error);
		pp_reply_free(&pm->reply);
		goto out;
	}
	if (replacements_ok(&pm->reply) == -1) {
		snprintf(why, whylen, "bad-reply:bad-path");
		pp_reply_free(&pm->reply);
		goto out;
	}
	rc = 0;
out:
	buf_free(&req);
	buf_free(&reply);
	return rc;
}

/* ---- the pool ---- */

enum wstate { W_EMPTY = 0, W_STARTING, W_IDLE, W_BUSY, W_STOPPING };

struct worker {
	enum wstate	 state;
	pid_t		 pid;
	int		 in;		/* we write the request here */
	int		 out;		/* and read the reply here */
	unsigned	 gen;
	long		 served;
};

/* What a worker is started with: a copy, so a reload cannot free it. */
struct pool_cfg {
	char		 filter[PATH_MAX];
	char		 shim[PATH_MAX];
	long		 workers, timeout, grace, max_requests;
	size_t		 memory;
	int		 api;		/* enum conf_perl_api */
};

/*
 * pp_lock guards everything below; held only to change states and
 * counters, never across fork, I/O or waits.
 */
static pthread_mutex_t	 pp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker	 pp_w[PP_MAX_SLOTS];
static struct pool_cfg	 pp_cfg;
static unsigned		 pp_gen;
static int		 pp_stopping;

/* Takes cf's settings; a change starts a new generation.  Locked. */
static void
sync_cfg(const struct mc_config *cf)
{
	struct pool_cfg pc;

	memset(&pc, 0, sizeof(pc));
	snprintf(pc.filter, sizeof(pc.filter), "%s", cf->perl_filter);
	snprintf(pc.shim, sizeof(pc.shim), "%s", cf->perl_shim);
	pc.workers = cf->perl_workers;
	pc.timeout = cf->perl_timeout;
	pc.grace = cf->perl_kill_grace;
	pc.max_requests = cf->perl_max_requests;
	pc.memory = cf->perl_memory_limit;
	pc.api = cf->perl_filter_api;
	if (pp_gen == 0 || strcmp(pc.filter, pp_cfg.filter) != 0 ||
	    strcmp(pc.shim, pp_cfg.shim) != 0 || pc.memory != pp_cfg.memory ||
	    pc.api != pp_cfg.api) {
		if (pp_gen != 0)
			log_info("perl: new settings (filter %s), workers "
			    "of the old ones retire", pc.filter);
		pp_gen++;
	}
	pp_cfg = pc;
}

/* Live workers of the current generation.  Locked. */
static unsigned
live_current(void)
{
	unsigned i, n = 0;

	for (i = 0; i < PP_MAX_SLOTS; i++)
		if (pp_w[i].state != W_EMPTY && pp_w[i].state != W_STOPPING &&
		    pp_w[i].gen == pp_gen)
			n++;
	return n;
}

/* Reserves an empty slot for a new worker.  Locked; -1 if none. */
static int
reserve_slot(void)
{
	unsigned i;

	if ((long)live_current() >= pp_cfg.workers)
		return -1;
	for (i = 0; i < PP_MAX_SLOTS; i++)
		if (pp_w[i].state == W_EMPTY) {
			memset(&pp_w[i], 0, sizeof(pp_w[i]));
			pp_w[i].state = W_STARTING;
			pp_w[i].gen = pp_gen;
			pp_w[i].in = pp_w[i].out = -1;
			return (int)i;
		}
	return -1;
}

/*
 * fork + execve of perl -T shim filter; the child gets the pipes as
 * stdin/stdout, the daemon's stderr, no other descriptor, an empty signal
 * mask, default SIGPIPE, RLIMIT_AS, and a fixed environment.  Unlocked.
 * Not posix_spawn (STYLE.md section 8): it has no way to set RLIMIT_AS in
 * the child, and prlimit() after the spawn would race with the filter's
 * first allocations.  Between fork and execve the child makes only
 * async-signal-safe calls, as a child of a threaded process must.
 */
static int
spawn(const struct pool_cfg *pc, struct worker *w)
{
	/* perl -T shim [--api=mimedefang] filter */
	char *argv[] = { (char *)(uintptr_t)"perl", (char *)(uintptr_t)"-T",
	    (char *)(uintptr_t)pc->shim, (char *)(uintptr_t)pc->filter, NULL,
	    NULL };
	char *const envp[] = { (char *)(uintptr_t)"PATH=/usr/bin:/bin",
	    NULL };
	struct rlimit rl;
	struct sigaction sa;
	sigset_t none;
	int to[2], from[2];
	pid_t pid;

	if (pc->api == CONF_PERL_API_MIMEDEFANG) {
		argv[4] = argv[3];
		argv[3] = (char *)(uintptr_t)"--api=mimedefang";
	}
	if (pipe2(to, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(from, O_CLOEXEC) == -1) {
		close(to[0]);
		close(to[1]);
		return -1;
	}
	rl.rlim_cur = rl.rlim_max = (rlim_t)pc->memory;
	sigemptyset(&none);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	if ((pid = fork()) == -1) {
		close(to[0]);
		close(to[1]);
		close(from[0]);
		close(from[1]);
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here on. */
		if (dup2(to[0], STDIN_FILENO) == -1 ||
		    dup2(from[1], STDOUT_FILENO) == -1)
			_exit(126);
		close_range(3, ~0U, 0);
		sigaction(SIGPIPE, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (setrlimit(RLIMIT_AS, &rl) == -1)
			_exit(126);
		execve(MC_PERL_PATH, argv, envp);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	w->pid = pid;
	w->in = to[1];
	w->out = from[0];
	fcntl(w->in, F_SETFL, O_NONBLOCK);
	fcntl(w->out, F_SETFL, O_NONBLOCK);
	w->served = 0;
	return 0;
}

/* Waits up to ms for pid to exit; 1 reaped, 0 still running. */
static int
reap_within(pid_t pid, long long ms, int *status)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	long long end = util_now_ms() + ms;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r == -1 && errno != EINTR))
			return 1;
		if (util_now_ms() >= end)
			return 0;
		nanosleep(&tick, NULL);
	}
}

/*
 * Stops a worker as MIMEDefang's multiplexor does: close its pipes, then
 * SIGTERM after grace seconds, SIGKILL grace seconds later; reaped by
 * pid.  Unlocked (the slot is the caller's).  Returns how it ended.
 */
static void
stop_worker(struct worker *w, long grace, const char *qid, const char *why)
{
	int status = 0, how = 0;

	if (w->in != -1)
		close(w->in);
	if (w->out != -1)
		close(w->out);
	w->in = w->out = -1;
	if (w->pid <= 0)
		return;
	if (!reap_within(w->pid, grace * 1000, &status)) {
		kill(w->pid, SIGTERM);
		how = 1;
		if (!reap_within(w->pid, grace * 1000, &status)) {
			kill(w->pid, SIGKILL);
			how = 2;
			while (waitpid(w->pid, &status, 0) == -1 &&
			    errno == EINTR)
				;
		}
	}
	if (why != NULL)
		log_msg(qid, LOG_WARNING, "perl worker pid=%ld %s: %s%s "
		    "%d", (long)w->pid, why, how == 2 ? "SIGKILL, " :
		    how == 1 ? "SIGTERM, " : "", WIFSIGNALED(status) ?
		    "signal" : "exit", WIFSIGNALED(status) ?
		    WTERMSIG(status) : WEXITSTATUS(status));
	w->pid = 0;
}

/* Starts workers until the current generation has its number. */
static void
refill(void)
{
	struct pool_cfg pc;
	struct worker w;
	int slot;

	for (;;) {
		pthread_mutex_lock(&pp_lock);
		if (pp_stopping || pp_cfg.filter[0] == '\0' ||
		    (slot = reserve_slot()) == -1) {
			pthread_mutex_unlock(&pp_lock);
			return;
		}
		pc = pp_cfg;
		w = pp_w[slot];
		pthread_mutex_unlock(&pp_lock);
		if (spawn(&pc, &w) == -1) {
			log_warn("perl: cannot start a worker");
			pthread_mutex_lock(&pp_lock);
			pp_w[slot].state = W_EMPTY;
			pthread_mutex_unlock(&pp_lock);
			return;
		}
		pthread_mutex_lock(&pp_lock);
		w.state = W_IDLE;
		pp_w[slot] = w;
		pthread_mutex_unlock(&pp_lock);
	}
}

int
pp_start(const struct mc_config *cf)
{
	pthread_mutex_lock(&pp_lock);
	pp_stopping = 0;
	sync_cfg(cf);
	pthread_mutex_unlock(&pp_lock);
	if (cf->perl_filter[0] == '\0')
		return 0;
	refill();
	log_info("perl: %u workers for %s", pp_workers(), cf->perl_filter);
	return 0;
}

unsigned
pp_workers(void)
{
	unsigned i, n = 0;

	pthread_mutex_lock(&pp_lock);
	for (i = 0; i < PP_MAX_SLOTS; i++)
		if (pp_w[i].state != W_EMPTY)
			n++;
	pthread_mutex_unlock(&pp_lock);
	return n;
}

/*
 * Stops idle workers: those of older generations (after a reload), or all
 * of them.  BUSY ones belong to their message's thread.
 */
static void
stop_idle(int old_only, long grace)
{
	struct worker w;
	unsigned i;

	for (i = 0; i < PP_MAX_SLOTS; i++) {
		pthread_mutex_lock(&pp_lock);
		if (pp_w[i].state != W_IDLE ||
		    (old_only && pp_w[i].gen == pp_gen)) {
			pthread_mutex_unlock(&pp_lock);
			continue;
		}
		pp_w[i].state = W_STOPPING;
		w = pp_w[i];
		pthread_mutex_unlock(&pp_lock);
		stop_worker(&w, grace, "NOQUEUE", NULL);
		pthread_mutex_lock(&pp_lock);
		pp_w[i].state = W_EMPTY;
		pthread_mutex_unlock(&pp_lock);
	}
}

/*
 * Reaps idle workers that died on their own (killed from outside, a
 * filter that fails to load): no zombie waits for its next message.
 * Locked; returns how many went.
 */
static unsigned
reap_idle(void)
{
	unsigned i, n = 0;
	int status;

	for (i = 0; i < PP_MAX_SLOTS; i++) {
		if (pp_w[i].state != W_IDLE || pp_w[i].pid <= 0 ||
		    waitpid(pp_w[i].pid, &status, WNOHANG) != pp_w[i].pid)
			continue;
		log_warnx("perl worker pid=%ld died while idle: %s %d",
		    (long)pp_w[i].pid, WIFSIGNALED(status) ? "signal" : "exit",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
		close(pp_w[i].in);
		close(pp_w[i].out);
		memset(&pp_w[i], 0, sizeof(pp_w[i]));
		pp_w[i].state = W_EMPTY;
		n++;
	}
	return n;
}

void
pp_reload(const struct mc_config *cf)
{
	long grace;

	pthread_mutex_lock(&pp_lock);
	if (pp_stopping) {
		pthread_mutex_unlock(&pp_lock);
		return;
	}
	sync_cfg(cf);
	grace = pp_cfg.grace;
	pthread_mutex_unlock(&pp_lock);
	stop_idle(1, grace);
	refill();
}

/* A free worker for one message; -1 when none (why set). */
static int
checkout(const struct mc_config *cf, struct pool_cfg *pc, char *why,
    size_t whylen)
{
	struct mc_config *cur;
	unsigned i, old = 0;
	int slot = -1;

	pthread_mutex_lock(&pp_lock);
	if (pp_stopping) {
		pthread_mutex_unlock(&pp_lock);
		snprintf(why, whylen, "stopping");
		return -1;
	}
	/* The installed snapshot, not the session's: a session that began
	   before a reload must not bring the old settings back. */
	if ((cur = conf_acquire()) != NULL) {
		sync_cfg(cur);
		conf_release(cur);
	} else
		sync_cfg(cf);
	*pc = pp_cfg;
	reap_idle();
	for (i = 0; i < PP_MAX_SLOTS; i++) {
		if (pp_w[i].state == W_IDLE && pp_w[i].gen != pp_gen)
			old++;
		if (slot == -1 && pp_w[i].state == W_IDLE &&
		    pp_w[i].gen == pp_gen)
			slot = (int)i;
	}
	if (slot != -1)
		pp_w[slot].state = W_BUSY;
	pthread_mutex_unlock(&pp_lock);
	if (old > 0)
		stop_idle(1, pc->grace);
	if (slot != -1)
		return slot;
	refill();	/* workers that failed to start, a new generation */
	pthread_mutex_lock(&pp_lock);
	for (i = 0; i < PP_MAX_SLOTS; i++)
		if (pp_w[i].state == W_IDLE && pp_w[i].gen == pp_gen) {
			pp_w[i].state = W_BUSY;
			slot = (int)i;
			break;
		}
	pthread_mutex_unlock(&pp_lock);
	if (slot == -1)
		snprintf(why, whylen, "no-free-workers");
	return slot;
}

/*
 * Stops w, the copy of slot's worker taken under the lock when the slot
 * was marked W_STOPPING, then frees the slot and starts another worker.
 */
static void
stop_slot(int slot, struct worker *w, long grace, const char *qid,
    const char *why)
{
	stop_worker(w, grace, qid, why);
	pthread_mutex_lock(&pp_lock);
	pp_w[slot].state = W_EMPTY;
	pthread_mutex_unlock(&pp_lock);
	refill();
}

/* Back to the pool, or retired (old generation, max requests). */
static void
checkin(int slot, const char *qid)
{
	struct worker w;
	long grace;

	pthread_mutex_lock(&pp_lock);
	pp_w[slot].served++;
	/* live_current() counts this one: more than wanted after a reload
	   lowered perl_workers, it goes */
	if (!pp_stopping && pp_w[slot].gen == pp_gen &&
	    pp_w[slot].served < pp_cfg.max_requests &&
	    (long)live_current() <= pp_cfg.workers) {
		pp_w[slot].state = W_IDLE;
		pthread_mutex_unlock(&pp_lock);
		return;
	}
	pp_w[slot].state = W_STOPPING;
	w = pp_w[slot];
	grace = pp_cfg.grace;
	pthread_mutex_unlock(&pp_lock);
	stop_slot(slot, &w, grace, qid, NULL);
}

/* The worker failed: stop it, free its slot, start another. */
static void
discard(int slot, long grace, const char *qid, const char *why)
{
	struct worker w;

	pthread_mutex_lock(&pp_lock);
	pp_w[slot].state = W_STOPPING;
	w = pp_w[slot];
	pthread_mutex_unlock(&pp_lock);
	stop_slot(slot, &w, grace, qid, why);
}

/* The reply is complete once it ends with an "F" line. */
static int
has_terminator(const struct buf *b)
{
	return (b->len == 2 && memcmp(b->data, "F\n", 2) == 0) ||
	    (b->len > 2 && memcmp(b->data + b->len - 3, "\nF\n", 3) == 0);
}

/*
 * FETCH lines at the head of out, before the first reply line: each one is
 * answered onto ans (by fetch, or refused when the request offered no
 * parts) and taken out of out, which keeps only the reply.  Sets
 * *replying at the first other line; a FETCH after it is a reply line
 * with an unknown verb, refused by the parser.  -1 on a bad FETCH line.
 */
static int
take_fetches(struct buf *out, int *replying, fetch_fn *fetch, void *arg,
    struct buf *ans)
{
	const char *nl;
	size_t n;
	unsigned id;

	while (!*replying && out->len > 0) {
		if ((nl = memchr(out->data, '\n', out->len)) == NULL)
			return 0;
		n = (size_t)(nl - out->data);
		if (n < 6 || memcmp(out->data, "FETCH ", 6) != 0) {
			*replying = 1;
			return 0;
		}
		if (n == 13 && memcmp(out->data + 6, "message", 7) == 0)
			id = PP_FETCH_MESSAGE;
		else if (get_number(out->data + 6, n - 6, 1000000000UL, &id) ==
		    -1)
			return -1;
		if (fetch != NULL)
			fetch(arg, id, ans);
		else if (id == PP_FETCH_MESSAGE)
			buf_adds(ans, "FETCH-FAILED message bad-part\n");
		else
			buf_printf(ans, "FETCH-FAILED %u bad-part\n", id);
		if (ans->data == NULL || ans->len > PP_REPLY_MAX)
			return -1;
		memmove(out->data, nl + 1, out->len - n - 1);
		out->len -= n + 1;
		out->data[out->len] = '\0';
	}
	return 0;
}

int
pp_exchange(const struct mc_config *cf, const char *qid, const char *req,
    size_t len, struct buf *out, char *why, size_t whylen)
{
	return exchange(cf, qid, req, len, out, NULL, NULL, why, whylen);
}

/*
 * A worker checked out for this message, its pipes in fd_in and fd_out,
 * after at most three tries (a worker with bytes waiting, or at EOF, is
 * discarded); the slot, or -1 with the reason in why.
 */
static int
ready_worker(const struct mc_config *cf, const char *qid,
    struct pool_cfg *pc, int *fd_in, int *fd_out, char *why, size_t whylen)
{
	char tmp[8192];
	ssize_t r;
	int slot, tries;

	for (tries = 0;; tries++) {
		if ((slot = checkout(cf, pc, why, whylen)) == -1)
			return -1;
		pthread_mutex_lock(&pp_lock);
		*fd_in = pp_w[slot].in;
		*fd_out = pp_w[slot].out;
		pthread_mutex_unlock(&pp_lock);
		/* Nothing may be waiting: bytes written after the last F
		   line mean the worker is out of step with us, EOF that it
		   died.  Not this message's fault: try another worker. */
		r = read(*fd_out, tmp, sizeof(tmp));
		if (r == -1)
			return slot;
		discard(slot, pc->grace, qid, r == 0 ? "died-idle" :
		    "out-of-step");
		if (tries == 2) {
			snprintf(why, whylen, "%s", r == 0 ? "crash" :
			    "out-of-step");
			return -1;
		}
	}
}

/*
 * One request to a worker and its reply, answering the FETCH lines it
 * sends meanwhile; 0, or -1 with the reason in why (the worker is
 * discarded).
 */
static int
exchange(const struct mc_config *cf, const char *qid, const char *req,
    size_t len, struct buf *out, fetch_fn *fetch, void *arg, char *why,
    size_t whylen)
{
	struct pool_cfg pc;
	struct pollfd pfd;
	struct buf ans = BUF_INIT;	/* answers to FETCH lines */
	long long deadline, left;
	size_t sent = 0, ans_sent = 0;
	char tmp[8192];
	const char *fail = NULL;
	ssize_t r;
	int slot, fd_in, fd_out, replying = 0, writing;

	if ((slot = ready_worker(cf, qid, &pc, &fd_in, &fd_out, why,
	    whylen)) == -1)
		return -1;
	deadline = util_now_ms() + pc.timeout * 1000;
	buf_reset(out);
	while (fail == NULL) {
		if ((left = deadline - util_now_ms()) <= 0) {
			fail = "timeout";
			break;
		}
		pthread_mutex_lock(&pp_lock);
		if (pp_stopping)
			fail = "stopping";	/* the daemon is going */
		pthread_mutex_unlock(&pp_lock);
		if (fail != NULL)
			break;
		/* write at once: poll only when the pipe is full */
		if ((writing = sent < len || ans_sent < ans.len)) {
			if (sent < len)
				r = write(fd_in, req + sent, len - sent);
			else
				r = write(fd_in, ans.data + ans_sent,
				    ans.len - ans_sent);
			if (r == -1 && errno == EINTR)
				continue;
			if (r == -1 && errno != EAGAIN) {
				fail = "crash";	/* EPIPE: it is gone */
				break;
			}
			if (r >= 0) {
				if (sent < len)
					sent += (size_t)r;
				else if ((ans_sent += (size_t)r) == ans.len) {
					buf_reset(&ans);
					ans_sent = 0;
				}
				continue;
			}
		}
		pfd.fd = writing ? fd_in : fd_out;
		pfd.events = writing ? POLLOUT : POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) == -1) {
			if (errno != EINTR)
				fail = "poll";
			continue;
		}
		if (pfd.revents == 0 || writing)
			continue;
		r = read(fd_out, tmp, sizeof(tmp));
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0) {
			fail = "crash";		/* EOF before the F line */
			break;
		}
		if (out->len + (size_t)r > PP_REPLY_MAX) {
			fail = "reply-too-long";
			break;
		}
		if (buf_add(out, tmp, (size_t)r) == -1) {
			fail = "out-of-memory";
			break;
		}
		if (take_fetches(out, &replying, fetch, arg, &ans) == -1) {
			fail = "bad-fetch";
			break;
		}
		if (replying && has_terminator(out))
			break;
	}
	buf_free(&ans);
	if (fail != NULL) {
		snprintf(why, whylen, "%s", fail);
		discard(slot, pc.grace, qid, fail);
		return -1;
	}
	checkin(slot, qid);
	return 0;
}

void
pp_shutdown(void)
{
	long grace;

	pthread_mutex_lock(&pp_lock);
	pp_stopping = 1;
	grace = pp_cfg.grace > 0 ? pp_cfg.grace : 1;
	pthread_mutex_unlock(&pp_lock);
	stop_idle(0, grace);
}
