/*
 * digest.c -- what spamcorral-notify's digest says and how (issue 22):
 * the wording (a template file, digest_template, or the built-in
 * English), the plain-text part, the HTML part, and the mailto: links that
 * release an entry with one tap.
 *
 * The template is read and checked once, at start: an unknown key, a
 * duplicate key or an unknown placeholder is refused with its line
 * number, so a broken translation never reaches a user.  Every value from
 * an entry (sender, subject, date) is escaped for HTML here and nowhere
 * else; the wording is escaped too (a translator's '<' is text).
 *
 * mailto: links percent-encode every byte but letters and digits, so the
 * identifiers in them ("MC%2D...") are not identifiers to sc_find_idents()
 * when a mail client quotes a link's address in a reply: only the mail the
 * link composes (its Subject and body decoded) carries them.  No link is
 * longer than SC_MAILTO_MAX bytes: "release all" is split into as many
 * links as that needs.
 *
 * Ownership: the template's strings are its own (sc_template_free); the
 * output goes to the caller's struct buf.  Errors: -1 with a reason in
 * err (loading), or -1 when a buffer ran out of memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "util.h"
#include "spamcorral/spamcorral.h"

#include "banned.h"

#define TEXT_WRAP	72	/* code points of a wrapped text line */

/* The keys, their placeholders, and the built-in English. */
static const struct {
	const char	*key;
	const char	*vars;		/* space-separated placeholder names */
	const char	*builtin;
} keys[SC_T_N] = {
	[SC_T_SUBJECT] = { "subject", "count",
	    "Spam held for you: {count} messages" },
	[SC_T_SUBJECT_ONE] = { "subject_one", "count",
	    "Spam held for you: {count} message" },
	[SC_T_INTRO] = { "intro", "count rcpt",
	    "SpamCorral is holding {count} messages for you ({rcpt}), "
	    "because they looked like spam." },
	[SC_T_INTRO_ONE] = { "intro_one", "count rcpt",
	    "SpamCorral is holding {count} message for you ({rcpt}), "
	    "because it looked like spam." },
	[SC_T_TAP] = { "tap", "",
	    "To get one delivered, tap or click its Release link and send "
	    "the mail it opens, as it is." },
	[SC_T_REPLY] = { "reply", "",
	    "Or REPLY to this message, KEEP the lines of the messages you "
	    "want (the [MC-...] line of each entry), DELETE the others, and "
	    "send the reply." },
	[SC_T_EXPIRE] = { "expire", "days",
	    "You do not need to do anything for the rest: they are deleted "
	    "after {days} days." },
	[SC_T_FROM] = { "label_from", "", "From" },
	[SC_T_SUBJ] = { "label_subject", "", "Subject" },
	[SC_T_DATE] = { "label_date", "", "Date" },
	[SC_T_SCORE] = { "label_score", "", "Score" },
	[SC_T_SCORE_OF] = { "score", "score",
	    "{score} of the spam threshold" },
	[SC_T_BUILTIN] = { "builtin", "",
	    "(built-in checker; SpamAssassin not asked)" },
	[SC_T_RELEASE] = { "release", "", "Release" },
	[SC_T_RELEASE_ALL] = { "release_all", "count",
	    "Release all {count}" },
	[SC_T_RELEASE_PART] = { "release_part", "first last",
	    "Release {first} to {last}" },
	[SC_T_NOTE] = { "note", "",
	    "(Score 100% = the threshold above which mail counts as spam.)" },
};

/* Code points in s (a bad byte counts as one). */
static size_t
cps(const char *s)
{
	size_t n = 0, k, i = 0, len = strlen(s);
	uint32_t cp;

	while (i < len) {
		k = util_utf8_len((const unsigned char *)s + i, len - i, &cp);
		i += k ? k : 1;
		n++;
	}
	return n;
}

/* Is name (n bytes) one of the space-separated words of list? */
static int
var_allowed(const char *list, const char *name, size_t n)
{
	const char *p = list;
	size_t k;

	while (*p != '\0') {
		k = strcspn(p, " ");
		if (k == n && strncmp(p, name, n) == 0)
			return 1;
		p += k;
		p += strspn(p, " ");
	}
	return 0;
}

/*
 * Checks value's placeholders against key i: "{name}" must be one of its
 * own, "{{" is a literal brace.  0, or -1 with the reason in err.
 */
static int
check_value(size_t i, const char *v, const char *file, unsigned line,
    char *err, size_t errlen)
{
	const char *p, *e;

	for (p = v; (p = strchr(p, '{')) != NULL; p = e + 1) {
		if (p[1] == '{') {
			e = p + 1;
			continue;
		}
		if ((e = strchr(p, '}')) == NULL) {
			util_seterr(err, errlen, "%s:%u: '{' without '}' in %s",
			    file, line, keys[i].key);
			return -1;
		}
		if (!var_allowed(keys[i].vars, p + 1, (size_t)(e - p - 1))) {
			util_seterr(err, errlen, "%s:%u: unknown placeholder "
			    "{%.*s} in %s (it may use: %s)", file, line,
			    (int)(e - p - 1 > 64 ? 64 : e - p - 1), p + 1,
			    keys[i].key, keys[i].vars[0] ? keys[i].vars :
			    "none");
			return -1;
		}
	}
	return 0;
}

/* One "key = value" line (trimmed, not a comment).  0 or -1 (err). */
static int
template_line(struct sc_template *t, char *l, const char *file,
    unsigned line, char *err, size_t errlen)
{
	char *eq = strchr(l, '='), *k, *v, *end;
	size_t i;

	if (eq == NULL) {
		util_seterr(err, errlen, "%s:%u: not \"key = text\"", file,
		    line);
		return -1;
	}
	*eq = '\0';
	k = l;
	for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	v = eq + 1;
	v += strspn(v, " \t");
	for (end = v + strlen(v); end > v && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	*end = '\0';
	for (i = 0; i < SC_T_N; i++)
		if (strcmp(keys[i].key, k) == 0)
			break;
	if (i == SC_T_N) {
		util_seterr(err, errlen, "%s:%u: unknown key \"%.64s\"", file,
		    line, k);
		return -1;
	}
	if (t->v[i] != NULL) {
		util_seterr(err, errlen, "%s:%u: %s given twice", file, line,
		    k);
		return -1;
	}
	if (check_value(i, v, file, line, err, errlen) == -1)
		return -1;
	if (i >= SC_T_FROM && i <= SC_T_SCORE && cps(v) > SC_LABEL_MAX) {
		util_seterr(err, errlen, "%s:%u: %s longer than %d characters",
		    file, line, k, SC_LABEL_MAX);
		return -1;
	}
	/* a header line stays short (the count adds a few digits) */
	if ((i == SC_T_SUBJECT || i == SC_T_SUBJECT_ONE) &&
	    cps(v) > SC_SUBJECT_MAX) {
		util_seterr(err, errlen, "%s:%u: %s longer than %d characters",
		    file, line, k, SC_SUBJECT_MAX);
		return -1;
	}
	if ((t->v[i] = strdup(v)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Is s (n bytes) valid UTF-8 without control characters? */
static int
text_ok(const char *s, size_t n)
{
	size_t k, i = 0;
	uint32_t cp;

	while (i < n) {
		k = util_utf8_len((const unsigned char *)s + i, n - i, &cp);
		if (k == 0 || (cp < 0x20 && cp != '\t') || cp == 0x7f ||
		    (cp >= 0x80 && cp < 0xa0))
			return 0;
		i += k;
	}
	return 1;
}

int
sc_template_parse(struct sc_template *t, const char *text, size_t len,
    const char *file, char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *nl;
	char *l;
	unsigned line = 0;
	size_t n;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	while (rc == 0 && p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if ((l = strndup(p, n)) == NULL) {
			util_seterr(err, errlen, "out of memory");
			rc = -1;
			break;
		}
		p = nl != NULL ? nl + 1 : end;
		n = strspn(l, " \t");
		if (!text_ok(l, strlen(l))) {
			util_seterr(err, errlen, "%s:%u: not UTF-8 text", file,
			    line);
			rc = -1;
		} else if (l[n] != '\0' && l[n] != '#')
			rc = template_line(t, l + n, file, line, err, errlen);
		free(l);
	}
	if (rc == -1)
		sc_template_free(t);
	return rc;
}

int
sc_template_load(const char *path, struct sc_template *t, char *err,
    size_t errlen)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f;
	int rc;

	memset(t, 0, sizeof(*t));
	if (path == NULL || path[0] == '\0')
		return 0;		/* the built-in English */
	if ((f = fopen(path, "re")) == NULL) {
		util_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
	    b.len < SC_TEMPLATE_MAX)
		buf_add(&b, chunk, n);
	rc = ferror(f);
	fclose(f);
	if (rc != 0 || b.len >= SC_TEMPLATE_MAX) {
		util_seterr(err, errlen, "%s: %s", path, rc != 0 ?
		    "read error" : "larger than 64 KiB");
		buf_free(&b);
		return -1;
	}
	rc = sc_template_parse(t, b.data ? b.data : "", b.len, path, err,
	    errlen);
	buf_free(&b);
	return rc;
}

void
sc_template_free(struct sc_template *t)
{
	size_t i;

	for (i = 0; i < SC_T_N; i++) {
		free(t->v[i]);
		t->v[i] = NULL;
	}
}

const char *
sc_template_get(const struct sc_template *t, enum sc_tkey k)
{
	if (k == SC_T_SUBJECT_ONE && t->v[k] == NULL &&
	    t->v[SC_T_SUBJECT] != NULL)
		return t->v[SC_T_SUBJECT];	/* a language without plural */
	if (k == SC_T_INTRO_ONE && t->v[k] == NULL && t->v[SC_T_INTRO] != NULL)
		return t->v[SC_T_INTRO];
	return t->v[k] != NULL ? t->v[k] : keys[k].builtin;
}

void
sc_template_put(const struct sc_template *t, enum sc_tkey k,
    const struct sc_var *vars, size_t nvars, struct buf *out)
{
	const char *p = sc_template_get(t, k), *e;
	size_t i, n;

	while (*p != '\0') {
		if (p[0] == '{' && p[1] == '{') {
			buf_addc(out, '{');
			p += 2;
			continue;
		}
		if (p[0] == '{' && (e = strchr(p, '}')) != NULL) {
			n = (size_t)(e - p - 1);
			for (i = 0; i < nvars; i++)
				if (strlen(vars[i].name) == n &&
				    strncmp(vars[i].name, p + 1, n) == 0)
					break;
			if (i < nvars)
				buf_adds(out, vars[i].value);
			p = e + 1;
			continue;
		}
		buf_addc(out, *p++);
	}
}

/* ---- escaping ---- */

/* Percent-encodes every byte of s but ASCII letters and digits. */
static void
pct(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9'))
			buf_addc(out, *p);
		else {
			buf_addc(out, '%');
			buf_addc(out, hex[*p >> 4]);
			buf_addc(out, hex[*p & 15]);
		}
}

void
sc_mailto(struct buf *out, const char *addr, const char *subject,
    const char *body)
{
	buf_adds(out, "mailto:");
	pct(out, addr);
	buf_adds(out, "?subject=");
	pct(out, subject);
	buf_adds(out, "&body=");
	pct(out, body);
}

/* The mailto: link releasing idents [from, to) into out. */
static void
mailto_group(struct buf *out, const char *robot, const char *subject,
    const char *const *idents, size_t from, size_t to)
{
	struct buf body = BUF_INIT;
	size_t i;

	for (i = from; i < to; i++)
		buf_printf(&body, "%s\r\n", idents[i]);
	sc_mailto(out, robot, subject, body.data ? body.data : "");
	buf_free(&body);
}

size_t
sc_mailto_split(const char *robot, const char *subject,
    const char *const *idents, size_t n, size_t max, size_t *ends)
{
	struct buf b = BUF_INIT;
	size_t groups = 0, from = 0, to;

	while (from < n) {
		/* greedy: as many as fit (one always goes) */
		for (to = from + 1; to < n && to - from < SC_RELEASE_MAX;
		    to++) {
			buf_reset(&b);
			mailto_group(&b, robot, subject, idents, from, to + 1);
			if (b.data == NULL || b.len > max)
				break;
		}
		ends[groups++] = to;
		from = to;
	}
	buf_free(&b);
	return groups;
}

/* ---- the parts ---- */

/*
 * Appends text wrapped at TEXT_WRAP code points (on spaces; a longer word,
 * such as a long address, is cut into pieces of TEXT_WRAP) and "\n".
 */
static void
wrap(struct buf *out, const char *s)
{
	size_t col = 0, wlen, k, i, len;
	const char *w;
	uint32_t cp;

	while (*s != '\0') {
		while (*s == ' ')
			s++;
		w = s;
		len = strlen(w);
		for (i = 0, wlen = 0; i < len && w[i] != ' ' &&
		    wlen < TEXT_WRAP; i += k ? k : 1, wlen++)
			k = util_utf8_len((const unsigned char *)w + i, len - i,
			    &cp);
		if (i == 0)
			break;
		if (col > 0 && col + 1 + wlen > TEXT_WRAP) {
			buf_addc(out, '\n');
			col = 0;
		} else if (col > 0) {
			buf_addc(out, ' ');
			col++;
		}
		buf_add(out, w, i);
		col += wlen;
		s = w + i;
	}
	buf_addc(out, '\n');
}

/* Template text k with vars, wrapped, into out. */
static void
para(const struct sc_digest *d, enum sc_tkey k, const struct sc_var *v,
    size_t nv, struct buf *out)
{
	struct buf t = BUF_INIT;

	sc_template_put(d->t, k, v, nv, &t);
	wrap(out, t.data ? t.data : "");
	buf_free(&t);
}

/* The one-entry link: Subject "Release MC-..." and the identifier. */
static void
entry_link(const struct sc_digest *d, const struct sc_digest_entry *e,
    struct buf *out)
{
	struct buf s = BUF_INIT;

	buf_printf(&s, "%s %s", sc_template_get(d->t, SC_T_RELEASE),
	    e->ident);
	sc_mailto(out, d->robot, s.data ? s.data : e->ident, e->ident);
	buf_free(&s);
}

/* "  Label:" padded so that the values of From, Subject, Date align. */
static void
label(const struct sc_digest *d, enum sc_tkey k, struct buf *out)
{
	size_t w = 0, n, i;

	for (i = SC_T_FROM; i <= SC_T_DATE; i++)
		if ((n = cps(sc_template_get(d->t, (enum sc_tkey)i))) > w)
			w = n;
	n = cps(sc_template_get(d->t, k));
	buf_printf(out, "  %s:", sc_template_get(d->t, k));
	for (; n <= w; n++)
		buf_addc(out, ' ');
}

int
sc_digest_text(const struct sc_digest *d, struct buf *out)
{
	struct buf l = BUF_INIT, score = BUF_INIT;
	char cnt[32], days[32];
	struct sc_var v[] = { { "count", cnt }, { "rcpt", d->rcpt },
	    { "days", days } };
	size_t i;

	snprintf(cnt, sizeof(cnt), "%zu", d->n);
	snprintf(days, sizeof(days), "%ld", d->days);
	para(d, d->n == 1 ? SC_T_INTRO_ONE : SC_T_INTRO, v, 2, out);
	buf_addc(out, '\n');
	para(d, SC_T_TAP, NULL, 0, out);
	para(d, SC_T_REPLY, NULL, 0, out);
	para(d, SC_T_EXPIRE, v + 2, 1, out);
	buf_addc(out, '\n');
	for (i = 0; i < d->n; i++) {
		const struct sc_digest_entry *e = &d->e[i];
		struct sc_var sv = { "score", e->score };

		buf_reset(&score);
		sc_template_put(d->t, SC_T_SCORE_OF, &sv, 1, &score);
		buf_printf(out,
		    "------------------------------------------------------------\n"
		    "[%s]\n", e->ident);
		label(d, SC_T_FROM, out);
		buf_printf(out, "%s\n", e->from);
		label(d, SC_T_SUBJ, out);
		buf_printf(out, "%s\n", e->subject);
		label(d, SC_T_DATE, out);
		buf_printf(out, "%s    %s: %s%s%s\n", e->when,
		    sc_template_get(d->t, SC_T_SCORE), score.data ?
		    score.data : "", e->builtin ? " " : "", e->builtin ?
		    sc_template_get(d->t, SC_T_BUILTIN) : "");
		/* the link on its own line, when the line stays short */
		buf_reset(&l);
		buf_printf(&l, "  %s: <", sc_template_get(d->t,
		    SC_T_RELEASE));
		entry_link(d, e, &l);
		buf_adds(&l, ">\n");
		if (l.data != NULL && l.len <= d->line_max)
			buf_add(out, l.data, l.len);
	}
	buf_adds(out,
	    "------------------------------------------------------------\n");
	para(d, SC_T_NOTE, NULL, 0, out);
	buf_free(&l);
	buf_free(&score);
	return out->data == NULL ? -1 : 0;
}

/* Inline styles: no <style> element, no class, nothing remote. */
#define ST_BODY	"margin:0;padding:8px;background:#ffffff;color:#222222;" \
		"font-family:Arial,Helvetica,sans-serif;font-size:15px;" \
		"line-height:1.4"
#define ST_TABLE "width:100%;max-width:640px;border-collapse:collapse;" \
		"table-layout:fixed"
#define ST_CELL	"padding:10px 4px;border-top:1px solid #cccccc;" \
		"vertical-align:top;overflow-wrap:anywhere;" \
		"word-wrap:break-word;word-break:break-word"
#define ST_BTN	"display:inline-block;margin-top:6px;padding:8px 16px;" \
		"background:#1f6f43;color:#ffffff;text-decoration:none;" \
		"border-radius:4px;font-weight:bold"
#define ST_IDENT "font-family:monospace;font-size:11px;color:#666666;" \
		"word-break:break-all"
#define ST_BAR	"display:inline-block;width:80px;height:8px;" \
		"background:#eeeeee;vertical-align:middle"
#define ST_FILL	"display:block;height:8px;background:#b03030"

/* One entry's row. */
static void
html_entry(const struct sc_digest *d, const struct sc_digest_entry *e,
    struct buf *out)
{
	struct buf s = BUF_INIT;
	struct sc_var sv = { "score", e->score };
	int w = e->pct < 0 ? 0 : e->pct > 100 ? 100 : (int)(e->pct + 0.5);

	buf_printf(out, "<tr><td style=\"%s\">\n<div style=\"font-weight:"
	    "bold\">", ST_CELL);
	buf_add_html(out, e->subject);
	buf_adds(out, "</div>\n<div>");
	buf_add_html(out, sc_template_get(d->t, SC_T_FROM));
	buf_adds(out, ": ");
	buf_add_html(out, e->from);
	buf_adds(out, "</div>\n<div>");
	buf_add_html(out, sc_template_get(d->t, SC_T_DATE));
	buf_adds(out, ": ");
	buf_add_html(out, e->when);
	buf_adds(out, "</div>\n<div>");
	buf_add_html(out, sc_template_get(d->t, SC_T_SCORE));
	buf_adds(out, ": ");
	if (e->pct >= 0 && e->pct < 1e6)
		buf_printf(out, "<span style=\"%s\"><span style=\"%s;width:"
		    "%d%%\">&#160;</span></span> ", ST_BAR, ST_FILL, w);
	sc_template_put(d->t, SC_T_SCORE_OF, &sv, 1, &s);
	if (e->builtin)
		buf_printf(&s, " %s", sc_template_get(d->t, SC_T_BUILTIN));
	buf_add_html(out, s.data ? s.data : "");
	buf_adds(out, "</div>\n<div><a style=\"" ST_BTN "\" href=\"");
	buf_reset(&s);
	entry_link(d, e, &s);
	buf_add_html(out, s.data ? s.data : "");
	buf_adds(out, "\">");
	buf_add_html(out, sc_template_get(d->t, SC_T_RELEASE));
	buf_printf(out, "</a></div>\n<div style=\"%s\">[", ST_IDENT);
	buf_add_html(out, e->ident);
	buf_adds(out, "]</div>\n</td></tr>\n");
	buf_free(&s);
}

/* The "release all" links, split where one would be too long. */
static int
html_all(const struct sc_digest *d, struct buf *out)
{
	const char **ids;
	size_t *ends, ng, g, from = 0, i;
	char cnt[32], a[32], b[32];
	struct sc_var v[] = { { "count", cnt }, { "first", a },
	    { "last", b } };
	struct buf s = BUF_INIT, l = BUF_INIT;

	if ((ids = calloc(d->n, sizeof(*ids))) == NULL ||
	    (ends = calloc(d->n, sizeof(*ends))) == NULL) {
		free(ids);
		return -1;
	}
	for (i = 0; i < d->n; i++)
		ids[i] = d->e[i].ident;
	snprintf(cnt, sizeof(cnt), "%zu", d->n);
	sc_template_put(d->t, SC_T_RELEASE_ALL, v, 1, &s);
	ng = sc_mailto_split(d->robot, s.data ? s.data : "", ids, d->n,
	    SC_MAILTO_MAX, ends);
	buf_adds(out, "<p>");
	for (g = 0; g < ng; g++) {
		if (ng > 1) {
			snprintf(a, sizeof(a), "%zu", from + 1);
			snprintf(b, sizeof(b), "%zu", ends[g]);
			buf_reset(&s);
			sc_template_put(d->t, SC_T_RELEASE_PART, v, 3, &s);
		}
		buf_reset(&l);
		mailto_group(&l, d->robot, s.data ? s.data : "", ids, from,
		    ends[g]);
		buf_adds(out, "<a style=\"" ST_BTN "\" href=\"");
		buf_add_html(out, l.data ? l.data : "");
		buf_adds(out, "\">");
		buf_add_html(out, s.data ? s.data : "");
		buf_adds(out, "</a>\n");
		from = ends[g];
	}
	buf_adds(out, "</p>\n");
	buf_free(&s);
	buf_free(&l);
	free(ids);
	free(ends);
	return 0;
}

int
sc_digest_html(const struct sc_digest *d, const char *title,
    struct buf *out)
{
	struct buf t = BUF_INIT;
	char cnt[32], days[32];
	struct sc_var v[] = { { "count", cnt }, { "rcpt", d->rcpt },
	    { "days", days } };
	static const enum sc_tkey paras[] = { SC_T_TAP, SC_T_REPLY,
	    SC_T_EXPIRE };
	size_t i;

	snprintf(cnt, sizeof(cnt), "%zu", d->n);
	snprintf(days, sizeof(days), "%ld", d->days);
	buf_adds(out, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8"
	    "\">\n<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">\n<title>");
	buf_add_html(out, title);
	buf_adds(out, "</title>\n</head>\n<body style=\"" ST_BODY "\">\n<p>");
	sc_template_put(d->t, d->n == 1 ? SC_T_INTRO_ONE : SC_T_INTRO, v, 2,
	    &t);
	buf_add_html(out, t.data ? t.data : "");
	buf_adds(out, "</p>\n");
	for (i = 0; i < sizeof(paras) / sizeof(paras[0]); i++) {
		buf_reset(&t);
		sc_template_put(d->t, paras[i], v + 2, 1, &t);
		buf_adds(out, "<p>");
		buf_add_html(out, t.data ? t.data : "");
		buf_adds(out, "</p>\n");
	}
	if (d->n > 1 && html_all(d, out) == -1) {
		buf_free(&t);
		return -1;
	}
	buf_adds(out, "<table role=\"presentation\" style=\"" ST_TABLE
	    "\">\n");
	for (i = 0; i < d->n; i++)
		html_entry(d, &d->e[i], out);
	buf_adds(out, "</table>\n<p style=\"font-size:13px;color:#555555\">");
	buf_add_html(out, sc_template_get(d->t, SC_T_NOTE));
	buf_adds(out, "</p>\n</body>\n</html>\n");
	buf_free(&t);
	return out->data == NULL ? -1 : 0;
}

/* ---- transfer encodings ---- */

void
sc_base64_lines(struct buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned char line[80];
	size_t n;
	int k;

	while (len > 0) {
		n = len < 57 ? len : 57;	/* 76 characters a line */
		k = EVP_EncodeBlock(line, p, (int)n);
		buf_add(out, line, (size_t)k);
		buf_addc(out, '\n');
		p += n;
		len -= n;
	}
}

void
sc_header_text(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i, k, from;
	unsigned char enc[80];
	uint32_t cp;
	int ascii = 1;

	for (i = 0; i < n; i++)
		ascii &= p[i] >= 0x20 && p[i] < 0x7f;
	if (ascii) {
		buf_add(out, s, n);
		return;
	}
	/* RFC 2047 words of at most 45 bytes (60 base64), whole UTF-8
	   sequences each, on folded lines */
	for (from = i = 0; i <= n; i += k) {
		k = i < n ? util_utf8_len(p + i, n - i, &cp) : 0;
		if (i < n && k == 0)
			k = 1;
		if (i == n || i + k - from > 45) {
			EVP_EncodeBlock(enc, p + from, (int)(i - from));
			buf_printf(out, "%s=?utf-8?b?%s?=", from ? "\n " : "",
			    enc);
			from = i;
		}
		if (i == n)
			break;
	}
}
