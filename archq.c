/*
 * archq.c -- mailcorral-archive(8)'s command line, its SQL and its
 * file matcher (see archq.h).  The SQL text is built from fixed pieces and
 * the checked table name only; every value the user gives is a bound
 * parameter (LIKE patterns escaped with '!', ESCAPE '!'), so nothing typed
 * on the command line becomes SQL.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "archq.h"
#include "buf.h"
#include "mcarchive.h"
#include "util.h"
#include "banned.h"

enum {
	O_FROM = 256, O_TO, O_SUBJECT, O_SINCE, O_UNTIL, O_MSGID, O_QID,
	O_MINSIZE, O_MAXSIZE, O_SPAM, O_VIRUS, O_SHOW, O_EXPORT, O_STATS,
	O_JSON, O_FILES, O_LIMIT, O_DEFAULTS, O_USER, O_MAXHEAD
};

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "defaults-file", required_argument, NULL, O_DEFAULTS },
	{ "user", required_argument, NULL, O_USER },
	/* only to refuse it: a password on the command line is seen by ps */
	{ "password", optional_argument, NULL, 'p' },
	{ "from", required_argument, NULL, O_FROM },
	{ "to", required_argument, NULL, O_TO },
	{ "subject", required_argument, NULL, O_SUBJECT },
	{ "since", required_argument, NULL, O_SINCE },
	{ "until", required_argument, NULL, O_UNTIL },
	{ "message-id", required_argument, NULL, O_MSGID },
	{ "queue-id", required_argument, NULL, O_QID },
	{ "min-size", required_argument, NULL, O_MINSIZE },
	{ "max-size", required_argument, NULL, O_MAXSIZE },
	{ "spam", required_argument, NULL, O_SPAM },
	{ "virus", required_argument, NULL, O_VIRUS },
	{ "show", required_argument, NULL, O_SHOW },
	{ "export", required_argument, NULL, O_EXPORT },
	{ "stats", no_argument, NULL, O_STATS },
	{ "json", no_argument, NULL, O_JSON },
	{ "files", no_argument, NULL, O_FILES },
	{ "limit", required_argument, NULL, O_LIMIT },
	{ "max-head", required_argument, NULL, O_MAXHEAD },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

int
arcq_time(const char *s, int end, long long *out)
{
	struct tm tm, back;
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, k, step = 86400;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	k = n;
	if (s[k] == 'T' || s[k] == ' ') {
		k++;
		if (sscanf(s + k, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
			return -1;
		k += n;
		step = 60;
		if (s[k] == ':') {
			if (sscanf(s + k + 1, "%2d%n", &sec, &n) != 1 || n != 2)
				return -1;
			k += 3;
			step = 1;
		}
	}
	if (s[k] == 'Z')
		k++;
	if (s[k] != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 59 || h < 0 || mi < 0 || sec < 0 || y < 1970)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1 || gmtime_r(&t, &back) == NULL ||
	    back.tm_mday != d)		/* 2026-02-30 */
		return -1;
	if (end)
		t += step;	/* --until 2026-12-08: through that day */
	*out = (long long)t;
	return 0;
}

int
arcq_id_ok(const char *id)
{
	static const char shape[] = "dddd/dd/dd/";
	size_t i, q;

	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)id[i]) :
		    id[i] != shape[i])
			return 0;
	for (q = 0; isalnum((unsigned char)id[i + q]) &&
	    (unsigned char)id[i + q] < 0x80; q++)
		;
	if (q == 0 || q > ARC_QID_MAX || id[i + q] != '-')
		return 0;
	i += q + 1;
	for (q = 0; isxdigit((unsigned char)id[i + q]); q++)
		;
	return q == ARC_SUFFIX_LEN && id[i + q] == '\0';
}

/* A size: digits, then k, M or G (1024s). */
static int
parse_size(const char *s, long long *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift != 0)
		end++;
	if (errno != 0 || *end != '\0' || v > (1ULL << (62 - shift)))
		return -1;
	*out = (long long)(v << shift);
	return 0;
}

static int
parse_tri(const char *s, enum arcq_tri *out)
{
	if (strcmp(s, "yes") == 0)
		*out = ARCQ_YES;
	else if (strcmp(s, "no") == 0)
		*out = ARCQ_NO;
	else if (strcmp(s, "unchecked") == 0)
		*out = ARCQ_UNCHECKED;
	else
		return -1;
	return 0;
}

/* Adds the white-space separated words of s. */
static int
add_words(struct arcq *q, const char *s, char *err, size_t errlen)
{
	size_t used = 0, n;
	unsigned i;

	for (i = 0; i < q->nwords; i++)
		used += strlen(q->words[i]) + 1;
	for (;;) {
		while (util_isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			return 0;
		for (n = 0; s[n] != '\0' && !util_isspace((unsigned char)s[n]);
		    n++)
			;
		if (q->nwords == ARCQ_MAXWORDS ||
		    used + n + 1 > sizeof(q->wordbuf)) {
			util_seterr(err, errlen, "--subject: at most %d words, "
			    "%zu bytes", ARCQ_MAXWORDS, sizeof(q->wordbuf));
			return -1;
		}
		q->words[q->nwords++] = memcpy(q->wordbuf + used, s, n);
		q->wordbuf[used + n] = '\0';
		used += n + 1;
		s += n;
	}
}

static int
set_msgid(struct arcq *q, const char *s, char *err, size_t errlen)
{
	size_t n;
	int wrap;

	while (util_isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && util_isspace((unsigned char)s[n - 1]))
		n--;
	wrap = n > 0 && s[0] != '<';
	if (n == 0 || n + 2 * wrap >= sizeof(q->msgid)) {
		util_seterr(err, errlen, "--message-id: 1 to %zu bytes",
		    sizeof(q->msgid) - 3);
		return -1;
	}
	snprintf(q->msgid, sizeof(q->msgid), "%s%.*s%s", wrap ? "<" : "",
	    (int)n, s, wrap ? ">" : "");
	return 0;
}

/* One option (getopt_long's ch) into q.  0, or ARCQ_BAD/ARCQ_PASSWORD. */
static int
take_option(struct arcq *q, int ch, const char *arg, char *err,
    size_t errlen)
{
	const char *name = NULL;
	int rc = 0;

	switch (ch) {
	case 'c': q->config = arg; break;
	case O_DEFAULTS: q->defaults_file = arg; break;
	case O_USER: q->user = arg; break;
	case O_FROM: q->from = arg; break;
	case O_TO: q->to = arg; break;
	case O_QID: q->qid = arg; break;
	case O_SUBJECT: return add_words(q, arg, err, errlen) == -1 ?
	    ARCQ_BAD : 0;
	case O_MSGID: return set_msgid(q, arg, err, errlen) == -1 ?
	    ARCQ_BAD : 0;
	case O_SINCE: name = "--since"; rc = arcq_time(arg, 0, &q->since);
		break;
	case O_UNTIL: name = "--until"; rc = arcq_time(arg, 1, &q->until);
		break;
	case O_MINSIZE: name = "--min-size";
		rc = parse_size(arg, &q->min_size); break;
	case O_MAXSIZE: name = "--max-size";
		rc = parse_size(arg, &q->max_size); break;
	case O_LIMIT: name = "--limit"; rc = parse_size(arg, &q->limit);
		break;
	case O_MAXHEAD: name = "--max-head";
		rc = parse_size(arg, &q->max_head); break;
	case O_SPAM: name = "--spam"; rc = parse_tri(arg, &q->spam); break;
	case O_VIRUS: name = "--virus"; rc = parse_tri(arg, &q->virus); break;
	case O_SHOW: q->mode = ARCQ_SHOW; q->arg = arg; break;
	case O_EXPORT: q->mode = ARCQ_EXPORT; q->arg = arg; break;
	case O_STATS: q->mode = ARCQ_STATS; break;
	case O_JSON: q->json = 1; break;
	case O_FILES: q->files = 1; break;
	case 'p':
		util_seterr(err, errlen, "a password on the command line is "
		    "refused (every user can read it with ps): put it in the "
		    "file archive_db_password_file names, or in an option "
		    "file given with --defaults-file");
		return ARCQ_PASSWORD;
	default:
		util_seterr(err, errlen, "unknown option or missing value");
		return ARCQ_BAD;
	}
	if (rc != 0)
		util_seterr(err, errlen, "%s: bad value \"%s\"", name, arg);
	return rc != 0 ? ARCQ_BAD : 0;
}

int
arcq_parse(int argc, char **argv, struct arcq *q, char *err, size_t errlen)
{
	int ch, rc, modes = 0;

	memset(q, 0, sizeof(*q));
	q->since = q->until = q->min_size = q->max_size = -1;
	q->limit = ARCQ_LIMIT;
	q->max_head = ARCQ_MAX_HEAD;
	optind = 0;		/* glibc: a fresh scan */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:hp::", longopts, NULL)) !=
	    -1) {
		if (ch == 'h')
			return ARCQ_HELP;
		if (ch == O_SHOW || ch == O_EXPORT || ch == O_STATS)
			modes++;
		if ((rc = take_option(q, ch, optarg, err, errlen)) != 0) {
			if (rc == ARCQ_BAD && ch == '?')
				util_seterr(err, errlen, "unknown option or "
				    "missing value: %s", argv[optind - 1]);
			return rc;
		}
	}
	if (optind != argc) {
		util_seterr(err, errlen, "unexpected argument: %s",
		    argv[optind]);
		return ARCQ_BAD;
	}
	if (modes > 1) {
		util_seterr(err, errlen, "--show, --export and --stats are "
		    "one at a time");
		return ARCQ_BAD;
	}
	if (q->mode == ARCQ_SHOW && !arcq_id_ok(q->arg)) {
		util_seterr(err, errlen, "--show: not an archive id "
		    "(YYYY/MM/DD/<queue id>-<16 hex>): %s", q->arg);
		return ARCQ_BAD;
	}
	if (q->limit == 0 || q->max_head < 1024) {
		util_seterr(err, errlen, q->limit == 0 ? "--limit: at least 1" :
		    "--max-head: at least 1k");
		return ARCQ_BAD;
	}
	return 0;
}

int
arcq_needs_index(const struct arcq *q)
{
	return q->spam != ARCQ_ANY || q->virus != ARCQ_ANY;
}

/* ---- SQL ---- */

static int
add_param(struct arcq_sql *o, int num, long long n, const char *s,
    size_t len)
{
	struct arcq_param *p;

	if (o->np == ARCQ_MAXP)
		return -1;
	p = &o->p[o->np];
	p->num = num;
	p->n = n;
	if (!num) {
		if ((p->s = malloc(len + 1)) == NULL)
			return -1;
		memcpy(p->s, s, len);
		p->s[len] = '\0';
		p->len = len;
	}
	o->np++;
	return 0;
}

/* A LIKE pattern: s anywhere, its '%', '_' and '!' taken literally. */
static int
add_like(struct arcq_sql *o, const char *s)
{
	struct buf b = BUF_INIT;
	int rc;

	buf_addc(&b, '%');
	for (; *s != '\0'; s++) {
		if (*s == '%' || *s == '_' || *s == '!')
			buf_addc(&b, '!');
		buf_addc(&b, *s);
	}
	buf_addc(&b, '%');
	rc = b.data == NULL ? -1 : add_param(o, 0, 0, b.data, b.len);
	buf_free(&b);
	return rc;
}

static const char *const spam_sql[] = {
	"",
	" AND LEFT(spam, 4) = 'yes:'",
	" AND (LEFT(spam, 3) = 'no:' OR spam = 'none')",
	" AND LEFT(spam, 10) = 'unchecked:'"
};

static const char *const virus_sql[] = {
	"",
	" AND virus NOT IN ('none', 'clean') AND LEFT(virus, 9) <> 'unchecked'",
	" AND virus IN ('none', 'clean')",
	" AND LEFT(virus, 9) = 'unchecked'"
};

/* A condition on a number, when it is given (>= 0). */
static int
add_num(struct arcq_sql *o, const char *cond, long long v)
{
	if (v < 0)
		return 0;
	buf_adds(&o->text, cond);
	return add_param(o, 1, v, NULL, 0);
}

static int
add_str(struct arcq_sql *o, const char *cond, const char *v)
{
	buf_adds(&o->text, cond);
	return add_param(o, 0, 0, v, strlen(v));
}

#define CI_LIKE	" COLLATE utf8mb4_general_ci LIKE ? ESCAPE '!'"

/* " WHERE ..." for the keys of q, its values as parameters. */
static int
add_where(const struct arcq *q, struct arcq_sql *o)
{
	unsigned i;
	int bad = 0;

	buf_adds(&o->text, " WHERE 1 = 1");
	if (q->from != NULL) {
		buf_adds(&o->text, " AND CONVERT(env_from USING utf8mb4)"
		    CI_LIKE);
		bad |= add_like(o, q->from);
	}
	if (q->to != NULL) {
		buf_adds(&o->text, " AND CONVERT(env_to USING utf8mb4)"
		    CI_LIKE);
		bad |= add_like(o, q->to);
	}
	for (i = 0; i < q->nwords; i++) {
		buf_adds(&o->text, " AND subject" CI_LIKE);
		bad |= add_like(o, q->words[i]);
	}
	bad |= add_num(o, " AND archived_at >= FROM_UNIXTIME(?)", q->since);
	bad |= add_num(o, " AND archived_at < FROM_UNIXTIME(?)", q->until);
	if (q->msgid[0] != '\0')
		bad |= add_str(o, " AND TRIM(message_id) = ?", q->msgid);
	if (q->qid != NULL)
		bad |= add_str(o, " AND queue_id = ?", q->qid);
	bad |= add_num(o, " AND size >= ?", q->min_size);
	bad |= add_num(o, " AND size <= ?", q->max_size);
	buf_adds(&o->text, spam_sql[q->spam]);
	buf_adds(&o->text, virus_sql[q->virus]);
	return bad || o->text.data == NULL ? -1 : 0;
}

int
arcq_select(const struct arcq *q, const char *table, struct arcq_sql *o)
{
	memset(o, 0, sizeof(*o));
	buf_printf(&o->text, "SELECT msg_key, UNIX_TIMESTAMP(archived_at), "
	    "queue_id, env_from, env_to, subject, message_id, size, action, "
	    "spam, virus FROM `%s`", table);
	if (add_where(q, o) == -1 ||
	    add_param(o, 1, q->limit, NULL, 0) == -1) {
		arcq_sql_free(o);
		return -1;
	}
	buf_adds(&o->text, " ORDER BY archived_at, id LIMIT ?");
	return o->text.data == NULL ? -1 : 0;
}

int
arcq_stats(const struct arcq *q, const char *table, struct arcq_sql *o)
{
	memset(o, 0, sizeof(*o));
	buf_printf(&o->text, "SELECT CAST(DATE(archived_at) AS CHAR), "
	    "COUNT(*), CAST(SUM(size) AS UNSIGNED), "
	    "CAST(SUM(LEFT(spam, 4) = 'yes:') AS UNSIGNED), "
	    "CAST(SUM(virus NOT IN ('none', 'clean') AND "
	    "LEFT(virus, 9) <> 'unchecked') AS UNSIGNED) FROM `%s`", table);
	if (add_where(q, o) == -1) {
		arcq_sql_free(o);
		return -1;
	}
	buf_adds(&o->text, " GROUP BY DATE(archived_at) "
	    "ORDER BY DATE(archived_at)");
	return o->text.data == NULL ? -1 : 0;
}

void
arcq_sql_free(struct arcq_sql *o)
{
	unsigned i;

	for (i = 0; i < o->np; i++)
		if (!o->p[i].num)
			free(o->p[i].s);
	buf_free(&o->text);
	o->np = 0;
}

/* ---- the files ---- */

/* needle in hay[0..n), ASCII letters in any case. */
static int
ci_contains(const struct buf *hay, const char *needle)
{
	size_t m = strlen(needle), i, j;
	const char *h = hay->data != NULL ? hay->data : "";

	if (m == 0)
		return 1;
	for (i = 0; i + m <= hay->len; i++) {
		for (j = 0; j < m && util_lower((unsigned char)h[i + j]) ==
		    util_lower((unsigned char)needle[j]); j++)
			;
		if (j == m)
			return 1;
	}
	return 0;
}

/* The value with white space at both ends taken off equals s. */
static int
trimmed_is(const struct buf *b, const char *s)
{
	const char *p = b->data != NULL ? b->data : "";
	size_t n = b->len, m = strlen(s);

	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return n == m && memcmp(p, s, m) == 0;
}

int
arcq_match(const struct arcq *q, const struct arc_head *h, long long when)
{
	unsigned i;

	if (q->since >= 0 && when < q->since)
		return 0;
	if (q->until >= 0 && when >= q->until)
		return 0;
	if (q->from != NULL && !ci_contains(&h->sender, q->from))
		return 0;
	if (q->to != NULL && !ci_contains(&h->rcpts, q->to))
		return 0;
	for (i = 0; i < q->nwords; i++)
		if (!ci_contains(&h->subject, q->words[i]))
			return 0;
	if (q->msgid[0] != '\0' && !trimmed_is(&h->msgid, q->msgid))
		return 0;
	if (q->qid != NULL && (h->qid.data == NULL ||
	    strcasecmp(h->qid.data, q->qid) != 0 ||
	    strlen(q->qid) != h->qid.len))
		return 0;
	if (q->min_size >= 0 && h->size < (uint64_t)q->min_size)
		return 0;
	if (q->max_size >= 0 && h->size > (uint64_t)q->max_size)
		return 0;
	return 1;
}
