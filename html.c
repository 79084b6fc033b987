/*
 * html.c -- streaming detector and defanger of active HTML (see html.h).
 *
 * A byte-at-a-time tokenizer after the HTML5 one: text, tags (buffered
 * whole, up to MAX_TAG bytes, then judged and rewritten at once), comments
 * (with the HTML5 ends "-->", "--!>", "<!-->", "<!--->"), bogus comments
 * ("<!x", "<?x", "</9", ended by the first '>'), and the raw-text elements
 * (script, style, textarea, title, xmp, iframe, noembed, noframes,
 * noscript) whose content a browser does not parse as markup.  Inside a
 * raw-text element we still parse markup (foreign content such as
 * <svg><style> does), but its end tag "</name" ends any pending tag or
 * comment, as it does for the browser; a pending tag cut that way, an
 * overlong tag and a tag cut by the end of input are written with '<' as
 * "&lt;" (inert in every reading) and reported as HTML_SCRIPT.
 * The output depends only on the bytes, never on the chunking.
 * Ownership: caller owns struct html.  Errors: only ENOMEM at html_new().
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "html.h"
#include "util.h"
#include "banned.h"

#define MAX_TAG		8192
#define OUTBUF		4096
#define NAME_MAX_	15		/* longest tag name we compare */
#define SCHEME_MAX	40		/* decoded URL bytes examined */
#define PREFIX		"mc-defanged-"
#define APREFIX		"data-mc-defanged-"
#define BLANK		"about:blank#mc-defanged"

enum state {
	S_TEXT, S_TAG, S_COMMENT, S_BOGUS, S_LONGTAG
};

enum tk {
	T_OPEN, T_ENDOPEN, T_BANG, T_NAME, T_BEFORE_ATTR, T_ATTR_NAME,
	T_AFTER_NAME, T_BEFORE_VAL, T_VAL_DQ, T_VAL_SQ, T_VAL_UQ
};

struct html {
	unsigned	 mask;
	unsigned	 seen;
	html_out_fn	*out;
	void		*arg;
	enum state	 state;
	enum tk		 tk;
	int		 cstart;	/* comment: 1 after "<!--", 2 "<!---" */
	int		 cdash;		/* comment: '-' seen (0..2) */
	int		 cbang;		/* comment: "--!" seen */
	int		 esc;		/* long tag: write '<' as "&lt;" */
	char		 raw[NAME_MAX_ + 1];	/* raw-text element or "" */
	size_t		 rawlen;
	char		 tail[NAME_MAX_ + 3];	/* last bytes, in raw text */
	size_t		 taillen;
	size_t		 taglen;
	struct buf_out	 o;		/* output chunk in front of out */
	char		 tag[MAX_TAG];
	char		 ob[OUTBUF];
};

static const char *const raw_elems[] = {
	"script", "style", "textarea", "title", "xmp", "iframe", "noembed",
	"noframes", "noscript", NULL
};

static int
is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The sink of the output chunk: out never fails. */
static int
sink(void *arg, const char *p, size_t n)
{
	struct html *h = arg;

	h->out(h->arg, p, n);
	return 0;
}

static void
flush(struct html *h)
{
	(void)buf_out_flush(&h->o);
}

static void
emit(struct html *h, const char *p, size_t n)
{
	if (h->out != NULL)
		(void)buf_out_put(&h->o, p, n);
}

static void
emitc(struct html *h, char c)
{
	emit(h, &c, 1);
}

/* Writes p with every '<' as "&lt;" when esc. */
static void
emit_esc(struct html *h, const char *p, size_t n, int esc)
{
	size_t i, s;

	if (!esc) {
		emit(h, p, n);
		return;
	}
	for (s = i = 0; i < n; i++) {
		if (p[i] != '<')
			continue;
		emit(h, p + s, i - s);
		emit(h, "&lt;", 4);
		s = i + 1;
	}
	emit(h, p + s, n - s);
}

/*
 * Creates a detector (out NULL) or defanger writing through out.  mask
 * says what to neutralise; everything seen is reported by html_finish().
 * Returns NULL on ENOMEM.
 */
struct html *
html_new(unsigned mask, html_out_fn *out, void *arg)
{
	struct html *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->mask = mask;
	h->out = out;
	h->arg = arg;
	buf_out_init(&h->o, h->ob, sizeof(h->ob), sink, h);
	h->state = S_TEXT;
	return h;
}

/* Frees h; NULL is fine. */
void
html_free(struct html *h)
{
	free(h);
}

/*
 * Tag judging.
 */

struct attr {
	size_t	ns, ne;		/* name */
	size_t	vs, ve;		/* value (vs == ve == 0: none) */
	int	has_val;
};

/* Next attribute of the tag t[0..n) (t[n-1] == '>') from *pos. */
static int
next_attr(const char *t, size_t n, size_t *pos, struct attr *a)
{
	size_t p = *pos;
	char q;

	while (p < n && (is_ws((unsigned char)t[p]) || t[p] == '/'))
		p++;
	if (p >= n || t[p] == '>')
		return 0;
	a->ns = p++;
	while (p < n && !is_ws((unsigned char)t[p]) && t[p] != '/' &&
	    t[p] != '>' && t[p] != '=')
		p++;
	a->ne = p;
	a->has_val = 0;
	a->vs = a->ve = 0;
	while (p < n && is_ws((unsigned char)t[p]))
		p++;
	if (p < n && t[p] == '=') {
		p++;
		while (p < n && is_ws((unsigned char)t[p]))
			p++;
		a->has_val = 1;
		if (p < n && (t[p] == '"' || t[p] == '\'')) {
			q = t[p++];
			a->vs = p;
			while (p < n && t[p] != q)
				p++;
			a->ve = p;
			if (p < n)
				p++;
		} else {
			a->vs = p;
			while (p < n && !is_ws((unsigned char)t[p]) &&
			    t[p] != '>')
				p++;
			a->ve = p;
		}
	}
	*pos = p;
	return 1;
}

static int
name_is(const char *t, size_t n, const char *s)
{
	size_t i;

	if (strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (util_lower((unsigned char)t[i]) != s[i])
			return 0;
	return 1;
}

/*
 * Decodes the start of an attribute value for its URL scheme: entities
 * decoded, ASCII whitespace and controls dropped, lower case.
 */
static size_t
decode_scheme(const char *v, size_t n, char *out, size_t outlen)
{
	size_t i = 0, o = 0, s;
	unsigned long cp;
	int d, isnum;

	while (i < n && o + 1 < outlen) {
		unsigned char c = (unsigned char)v[i];

		if (c != '&') {
			i++;
			if (c > 0x20 && c != 0x7f)
				out[o++] = (char)util_lower(c);
			continue;
		}
		s = ++i;
		if (i < n && v[i] == '#') {
			i++;
			cp = 0;
			isnum = 0;
			if (i < n && (v[i] == 'x' || v[i] == 'X')) {
				for (i++; i < n && (d = util_hexval(
				    (unsigned char)v[i])) >= 0; i++) {
					isnum = 1;
					if (cp < 0x110000)
						cp = cp * 16 + (unsigned)d;
				}
			} else {
				for (; i < n && v[i] >= '0' && v[i] <= '9';
				    i++) {
					isnum = 1;
					if (cp < 0x110000)
						cp = cp * 10 +
						    (unsigned)(v[i] - '0');
				}
			}
			if (!isnum) {
				out[o++] = '&';
				i = s;
				continue;
			}
			if (i < n && v[i] == ';')
				i++;
			if (cp > 0x20 && cp < 0x7f)
				out[o++] = (char)util_lower((int)cp);
			else if (cp >= 0x7f)
				out[o++] = '?';
			continue;
		}
		while (i < n && i - s < 32 && (is_alpha((unsigned char)v[i]) ||
		    (v[i] >= '0' && v[i] <= '9')))
			i++;
		if (name_is(v + s, i - s, "colon"))
			out[o++] = ':';
		else if (name_is(v + s, i - s, "tab") ||
		    name_is(v + s, i - s, "newline"))
			;
		else if (i == s) {
			out[o++] = '&';
			continue;
		} else
			out[o++] = '?';
		if (i < n && v[i] == ';')
			i++;
	}
	out[o] = '\0';
	return o;
}

/* HTML_JSURL, HTML_DATAURL or 0 for an attribute value. */
static unsigned
url_class(const char *v, size_t n)
{
	static const char *const img[] = {
		"png", "gif", "jpeg", "jpg", "webp", "bmp", NULL
	};
	char d[SCHEME_MAX + 1];
	size_t k, l;
	int i;

	/* <meta http-equiv=refresh content="0; url=javascript:..."> */
	for (k = 0; k + 4 <= n && k < 64; k++)
		if (util_lower((unsigned char)v[k]) == 'u' &&
		    util_lower((unsigned char)v[k + 1]) == 'r' &&
		    util_lower((unsigned char)v[k + 2]) == 'l' && v[k + 3] == '=' &&
		    (k == 0 || v[k - 1] == ';' || is_ws((unsigned char)v[k - 1])))
			return url_class(v + k + 4, n - k - 4);
	k = decode_scheme(v, n, d, sizeof(d));
	if (strncmp(d, "javascript:", 11) == 0 ||
	    strncmp(d, "vbscript:", 9) == 0 ||
	    strncmp(d, "livescript:", 11) == 0)
		return HTML_JSURL;
	if (k < 5 || strncmp(d, "data:", 5) != 0)
		return 0;
	if (strncmp(d + 5, "image/", 6) == 0) {
		for (i = 0; img[i] != NULL; i++) {
			l = strlen(img[i]);
			if (strncmp(d + 11, img[i], l) == 0 &&
			    (d[11 + l] == ';' || d[11 + l] == ','))
				return 0;
		}
	}
	return HTML_DATAURL;
}

/* Judges and writes the complete tag h->tag. */
static void
process_tag(struct html *h)
{
	const char *t = h->tag;
	size_t n = h->taglen, i, ns, ne, pos, cur;
	struct attr a;
	char lname[NAME_MAX_ + 1], val[16];
	unsigned bit = 0, ub;
	int end = 0, rename, evt, repl, defang = h->out != NULL;

	i = 1;
	if (t[1] == '/') {
		end = 1;
		i = 2;
	}
	ns = i;
	while (i < n && !is_ws((unsigned char)t[i]) && t[i] != '/' &&
	    t[i] != '>')
		i++;
	ne = i;
	lname[0] = '\0';
	if (ne - ns <= NAME_MAX_) {
		for (i = ns; i < ne; i++)
			lname[i - ns] = (char)util_lower((unsigned char)t[i]);
		lname[ne - ns] = '\0';
	}
	if (strcmp(lname, "script") == 0)
		bit = HTML_SCRIPT;
	else if (strcmp(lname, "iframe") == 0 || strcmp(lname, "frame") ==
	    0 || strcmp(lname, "frameset") == 0)
		bit = HTML_FRAME;
	else if (strcmp(lname, "object") == 0 || strcmp(lname, "embed") ==
	    0 || strcmp(lname, "applet") == 0)
		bit = HTML_OBJECT;
	else if (strcmp(lname, "base") == 0)
		bit = HTML_REFRESH;
	else if (strcmp(lname, "form") == 0)
		bit = HTML_FORM;
	else if (strcmp(lname, "meta") == 0 && !end) {
		pos = ne;
		while (next_attr(t, n, &pos, &a)) {
			if (!a.has_val || !name_is(t + a.ns, a.ne - a.ns,
			    "http-equiv"))
				continue;
			decode_scheme(t + a.vs, a.ve - a.vs, val, sizeof(val));
			if (strcmp(val, "refresh") == 0)
				bit = HTML_REFRESH;
		}
	}
	h->seen |= bit;
	rename = bit != 0 && (h->mask & bit) && defang;

	emit(h, t, ns);
	if (rename)
		emit(h, PREFIX, sizeof(PREFIX) - 1);
	if (end) {
		emit(h, t + ns, n - ns);
		if (h->raw[0] != '\0' && strcmp(lname, h->raw) == 0) {
			h->raw[0] = '\0';
			h->rawlen = 0;
		}
		return;
	}
	cur = ns;
	pos = ne;
	while (next_attr(t, n, &pos, &a)) {
		evt = 0;
		if (a.ne - a.ns > 2 && util_lower((unsigned char)t[a.ns]) == 'o' &&
		    util_lower((unsigned char)t[a.ns + 1]) == 'n')
			evt = HTML_EVENT;
		else if (name_is(t + a.ns, a.ne - a.ns, "codebase"))
			evt = HTML_OBJECT;
		h->seen |= (unsigned)evt;
		ub = a.has_val ? url_class(t + a.vs, a.ve - a.vs) : 0;
		h->seen |= ub;
		repl = ub != 0 && (h->mask & ub);
		if (evt != 0 && (h->mask & (unsigned)evt)) {
			emit(h, t + cur, a.ns - cur);
			emit(h, APREFIX, sizeof(APREFIX) - 1);
			cur = a.ns;
		}
		if (repl) {
			emit(h, t + cur, a.vs - cur);
			emit(h, BLANK, sizeof(BLANK) - 1);
			cur = a.ve;
		}
	}
	emit(h, t + cur, n - cur);
	if (!rename && lname[0] != '\0') {
		for (i = 0; raw_elems[i] != NULL; i++)
			if (strcmp(lname, raw_elems[i]) == 0) {
				memcpy(h->raw, lname, strlen(lname) + 1);
				h->rawlen = strlen(lname);
				h->taillen = 0;
				break;
			}
	}
}

/*
 * Tokenizer step inside a tag.  Returns 1 when c ended the tag.
 */
static int
tag_step(struct html *h, int c)
{
	switch (h->tk) {
	case T_NAME:
		if (is_ws(c) || c == '/')
			h->tk = T_BEFORE_ATTR;
		else if (c == '>')
			return 1;
		break;
	case T_BEFORE_ATTR:
		if (c == '>')
			return 1;
		if (!is_ws(c) && c != '/')
			h->tk = T_ATTR_NAME;
		break;
	case T_ATTR_NAME:
		if (is_ws(c))
			h->tk = T_AFTER_NAME;
		else if (c == '/')
			h->tk = T_BEFORE_ATTR;
		else if (c == '=')
			h->tk = T_BEFORE_VAL;
		else if (c == '>')
			return 1;
		break;
	case T_AFTER_NAME:
		if (c == '/')
			h->tk = T_BEFORE_ATTR;
		else if (c == '=')
			h->tk = T_BEFORE_VAL;
		else if (c == '>')
			return 1;
		else if (!is_ws(c))
			h->tk = T_ATTR_NAME;
		break;
	case T_BEFORE_VAL:
		if (c == '"')
			h->tk = T_VAL_DQ;
		else if (c == '\'')
			h->tk = T_VAL_SQ;
		else if (c == '>')
			return 1;
		else if (!is_ws(c))
			h->tk = T_VAL_UQ;
		break;
	case T_VAL_DQ:
		if (c == '"')
			h->tk = T_BEFORE_ATTR;
		break;
	case T_VAL_SQ:
		if (c == '\'')
			h->tk = T_BEFORE_ATTR;
		break;
	case T_VAL_UQ:
		if (is_ws(c))
			h->tk = T_BEFORE_ATTR;
		else if (c == '>')
			return 1;
		break;
	default:
		break;
	}
	return 0;
}

/* Does the raw-text tail end with "</" + raw? */
static int
raw_end(const struct html *h)
{
	size_t k = h->rawlen + 2, i;

	if (h->raw[0] == '\0' || h->taillen < k)
		return 0;
	if (h->tail[h->taillen - k] != '<' ||
	    h->tail[h->taillen - k + 1] != '/')
		return 0;
	for (i = 0; i < h->rawlen; i++)
		if (util_lower((unsigned char)h->tail[h->taillen - h->rawlen + i]) !=
		    h->raw[i])
			return 0;
	return 1;
}

static void
to_bogus(struct html *h, int c)
{
	emit(h, h->tag, h->taglen);
	h->taglen = 0;
	h->state = c == '>' ? S_TEXT : S_BOGUS;
}

static void
comment_step(struct html *h, int c)
{
	if (h->cstart == 1) {
		h->cstart = 0;
		if (c == '>') {
			h->state = S_TEXT;
			return;
		}
		if (c == '-') {
			h->cstart = 2;
			return;
		}
	} else if (h->cstart == 2) {
		h->cstart = 0;
		if (c == '>') {
			h->state = S_TEXT;
			return;
		}
		h->cdash = c == '-' ? 2 : 0;
		return;
	}
	if (c == '-') {
		if (h->cbang)
			h->cdash = 1;
		else if (h->cdash < 2)
			h->cdash++;
		h->cbang = 0;
	} else if (c == '!' && h->cdash >= 2 && !h->cbang)
		h->cbang = 1;
	else if (c == '>' && h->cdash >= 2)
		h->state = S_TEXT;
	else {
		h->cdash = 0;
		h->cbang = 0;
	}
}

/* In raw text: the last bytes, to see its end tag ("</name"). */
static void
keep_tail(struct html *h, int c)
{
	if (h->taillen == sizeof(h->tail)) {
		memmove(h->tail, h->tail + 1, sizeof(h->tail) - 1);
		h->taillen--;
	}
	h->tail[h->taillen++] = (char)c;
}

static void
text_step(struct html *h, int c)
{
	if (c == '<') {
		h->state = S_TAG;
		h->tk = T_OPEN;
		h->tag[0] = '<';
		h->taglen = 1;
	} else
		emitc(h, (char)c);
}

/* S_COMMENT and S_BOGUS: written through, up to their end. */
static void
comment_or_bogus_step(struct html *h, int c)
{
	emitc(h, (char)c);
	if (raw_end(h)) {
		/* "</name" ends raw text, and this comment with it. */
		h->raw[0] = '\0';
		h->rawlen = 0;
		h->state = S_BOGUS;
		return;
	}
	if (h->state == S_BOGUS) {
		if (c == '>')
			h->state = S_TEXT;
	} else
		comment_step(h, c);
}

static void
longtag_step(struct html *h, int c)
{
	char ch = (char)c;

	emit_esc(h, &ch, 1, h->esc);
	if (tag_step(h, c))
		h->state = S_TEXT;
}

/* After '<': 1 when it was no tag and c must be stepped again as text. */
static int
tag_open_step(struct html *h, int c)
{
	if (is_alpha(c))
		h->tk = T_NAME;
	else if (c == '/')
		h->tk = T_ENDOPEN;
	else if (c == '!')
		h->tk = T_BANG;
	else if (c == '?') {
		h->tag[h->taglen++] = (char)c;
		to_bogus(h, c);
		return 0;
	} else {
		emitc(h, '<');
		h->taglen = 0;
		h->state = S_TEXT;
		return 1;
	}
	h->tag[h->taglen++] = (char)c;
	return 0;
}

/* After "</". */
static void
tag_endopen_step(struct html *h, int c)
{
	h->tag[h->taglen++] = (char)c;
	if (is_alpha(c))
		h->tk = T_NAME;
	else if (c == '>') {
		emit(h, h->tag, h->taglen);
		h->taglen = 0;
		h->state = S_TEXT;
	} else
		to_bogus(h, c);
}

/* After "<!": "<!--" opens a comment, anything else is bogus. */
static void
tag_bang_step(struct html *h, int c)
{
	h->tag[h->taglen++] = (char)c;
	if (c != '-') {
		to_bogus(h, c);
		return;
	}
	if (h->taglen == 4) {
		emit(h, h->tag, h->taglen);
		h->taglen = 0;
		h->state = S_COMMENT;
		h->cstart = 1;
		h->cdash = 0;
		h->cbang = 0;
	}
}

/*
 * In a tag's name or attributes: held until '>' and then processed.  1 when
 * the tag grew too long and c must be stepped again as S_LONGTAG.
 */
static int
tag_body_step(struct html *h, int c)
{
	int esc = (h->mask & HTML_SCRIPT) && h->out != NULL;
	size_t k;

	if (h->taglen == MAX_TAG) {
		/* Overlong tag: written through, inert when defanging. */
		h->seen |= HTML_SCRIPT;
		h->esc = esc;
		emit_esc(h, h->tag, h->taglen, esc);
		h->taglen = 0;
		h->state = S_LONGTAG;
		return 1;
	}
	h->tag[h->taglen++] = (char)c;
	if (raw_end(h) && h->taglen > h->rawlen + 2) {
		/* Raw text ends inside a pending tag: cut the tag. */
		k = h->taglen - (h->rawlen + 2);
		h->seen |= HTML_SCRIPT;
		emit_esc(h, h->tag, k, esc);
		memmove(h->tag, h->tag + k, h->taglen - k);
		h->taglen -= k;
		h->tk = T_NAME;
		return 0;
	}
	if (tag_step(h, c)) {
		process_tag(h);
		h->taglen = 0;
		h->state = S_TEXT;
	}
	return 0;
}

/* S_TAG, by tokenizer state: 1 when c must be stepped again. */
static int
in_tag_step(struct html *h, int c)
{
	switch (h->tk) {
	case T_OPEN:
		return tag_open_step(h, c);
	case T_ENDOPEN:
		tag_endopen_step(h, c);
		return 0;
	case T_BANG:
		tag_bang_step(h, c);
		return 0;
	default:
		return tag_body_step(h, c);
	}
}

/*
 * One input byte, by state.  A state that hands the byte on (a '<' that
 * opened no tag, a tag grown too long) makes it go round again.
 */
static void
step(struct html *h, int c)
{
	if (h->raw[0] != '\0')
		keep_tail(h, c);
	for (;;) {
		switch (h->state) {
		case S_TEXT:
			text_step(h, c);
			return;
		case S_COMMENT:
		case S_BOGUS:
			comment_or_bogus_step(h, c);
			return;
		case S_LONGTAG:
			longtag_step(h, c);
			return;
		case S_TAG:
			if (!in_tag_step(h, c))
				return;
			break;
		}
	}
}

/* Feeds n bytes of HTML; returns 0 (-1 is reserved for ENOMEM). */
int
html_push(struct html *h, const char *p, size_t n)
{
	size_t i, s;

	for (i = 0; i < n; i++) {
		/* Fast path: runs of plain text outside raw text. */
		if (h->state == S_TEXT && h->raw[0] == '\0' && p[i] != '<') {
			s = i;
			while (i < n && p[i] != '<')
				i++;
			emit(h, p + s, i - s);
			if (i == n)
				break;
		}
		step(h, (unsigned char)p[i]);
	}
	flush(h);
	return 0;
}

/*
 * Writes out what is held (a tag cut by the end of input is written with
 * '<' escaped when defanging) and returns the HTML_* bits seen.
 */
unsigned
html_finish(struct html *h)
{
	if (h->state == S_TAG && h->taglen > 0) {
		emit_esc(h, h->tag, h->taglen,
		    (h->mask & HTML_SCRIPT) && h->out != NULL);
		h->taglen = 0;
	}
	h->state = S_TEXT;
	flush(h);
	return h->seen;
}

/* "script,event" for the bits set, into out (NUL-terminated). */
void
html_describe(unsigned bits, char *out, size_t outlen)
{
	static const char *const words[] = {
		"script", "event", "frame", "object", "jsurl", "dataurl",
		"form", "refresh"
	};
	size_t o = 0, l, i;

	if (out == NULL || outlen == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < 8; i++) {
		if (!(bits & (1U << i)))
			continue;
		l = strlen(words[i]);
		if (o + (o > 0) + l + 1 > outlen)
			break;
		if (o > 0)
			out[o++] = ',';
		memcpy(out + o, words[i], l);
		o += l;
		out[o] = '\0';
	}
}
