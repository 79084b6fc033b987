/*
 * reply.c -- the reply robot's parser (see spamcorral.h): the envelope
 * sender, the headers that mark auto-replies and lists, the Subject and the
 * text of every text part (decoded by the MailCorral MIME parser, HTML
 * reduced to its text) and the [MC-<id>-<token>] identifiers in them.
 *
 * Input is hostile mail.  Memory is bounded: the decoded text by
 * SC_REPLY_TEXT_MAX, the MIME parser by the caller's mime_limits, the
 * identifiers by the caller's max.  No I/O, no global state: the fuzz
 * target testsuite/fuzz/fuzz_robot_reply.c drives it directly.
 * Names: sc_, as everything behind spamcorral.h.  Ownership: the parsed
 * reply's buffers are the caller's (sc_reply_free).  Failure: -1 only when
 * the MIME parser fails (ENOMEM); hostile input is never an error, it only
 * sets mime_err bits or yields no identifiers.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "corral.h"
#include "mime.h"
#include "spamcorral/spamcorral.h"
#include "util.h"

#include "banned.h"

/* Copies a header value (cut to fit) into a fixed field. */
static void
keep_value(char *dst, size_t dlen, const char *v, size_t vl)
{
	size_t k = vl < dlen - 1 ? vl : dlen - 1;

	memcpy(dst, v, k);
	dst[k] = '\0';
	if (k == 0)
		snprintf(dst, dlen, "(empty)");
}

static void
on_header(void *arg, const struct mime_part *p, const char *n, size_t nl,
    const char *v, size_t vl)
{
	struct sc_reply *r = arg;

	if (p->id != 0)
		return;
	if (sc_field_is(n, nl, "From")) {
		r->nfrom++;
		if (!r->have_from && sc_addr_extract(v, vl, r->from,
		    sizeof(r->from)) == 0)
			r->have_from = 1;
	} else if (sc_field_is(n, nl, "Subject") && !r->have_subject) {
		/* a mailto: link's reply carries its identifier here too */
		char subj[SC_SUBJECT_KEEP * 4 + 16];

		r->have_subject = 1;
		sc_clean_text(v, vl, subj, sizeof(subj), SC_SUBJECT_KEEP);
		buf_adds(&r->text, subj);
		buf_addc(&r->text, '\n');
	} else if (sc_field_is(n, nl, "Auto-Submitted")) {
		if (r->autosub[0] == '\0')
			keep_value(r->autosub, sizeof(r->autosub), v, vl);
	} else if (sc_field_is(n, nl, "Precedence")) {
		if (r->prec[0] == '\0')
			keep_value(r->prec, sizeof(r->prec), v, vl);
	} else if (nl > 5 && strncasecmp(n, "List-", 5) == 0)
		r->list = 1;		/* List-Id, List-Post, ... */
	else if (sc_field_is(n, nl, "X-Autoreply") ||
	    sc_field_is(n, nl, "X-Autorespond"))
		r->autoreply = 1;
	else if (sc_field_is(n, nl, SC_DIGEST_HDR))
		r->digest = 1;
	else if (sc_field_is(n, nl, "Return-Path") && !r->in_rp) {
		/* the envelope sender when there is no "From " line */
		r->in_rp = 1;
		if (r->sender[0] == '\0' && sc_addr_extract(v, vl, r->sender,
		    sizeof(r->sender)) == -1) {
			r->sender[0] = '\0';
			if (memchr(v, '<', vl) != NULL)
				snprintf(r->sender, sizeof(r->sender), "<>");
		}
	}
}

static void
on_begin(void *arg, const struct mime_part *p)
{
	struct sc_reply *r = arg;

	buf_reset(&r->part);
	r->html = strcmp(p->type, "text/html") == 0;
}

static void
on_data(void *arg, const struct mime_part *p, const char *d, size_t n)
{
	struct sc_reply *r = arg;
	size_t used = r->text.len + r->part.len, room;

	if (strncmp(p->type, "text/", 5) != 0 || (p->flags &
	    (MIME_PART_MULTIPART | MIME_PART_MESSAGE)))
		return;
	/* r->text never holds more than SC_REPLY_TEXT_MAX + one line end
	   per part: HTML text is never longer than its source */
	room = used < SC_REPLY_TEXT_MAX ? SC_REPLY_TEXT_MAX - used : 0;
	if (room > 0)
		buf_add(&r->part, d, n < room ? n : room);
}

static int
tag_is_block(const char *t, size_t n)
{
	static const char *const block[] = { "br", "p", "div", "tr", "td",
	    "th", "li", "ul", "ol", "table", "blockquote", "pre", "hr", "h1",
	    "h2", "h3", "h4", "h5", "h6", "dd", "dt", "title", NULL };
	size_t i;

	for (i = 0; block[i] != NULL; i++)
		if (strlen(block[i]) == n && strncasecmp(block[i], t, n) == 0)
			return 1;
	return 0;
}

/*
 * One character reference at s[0] == '&' (at most 12 bytes looked at).
 * Returns the bytes consumed and the ASCII character in *c (a space for
 * &nbsp; and for non-ASCII code points), or 0 when it is not one.
 */
static size_t
entity(const char *s, size_t n, char *c)
{
	static const struct { const char *name; char c; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
		{ "apos", '\'' }, { "nbsp", ' ' },
	};
	size_t i, e, max = n < 12 ? n : 12;
	unsigned long v = 0;

	for (e = 1; e < max && s[e] != ';'; e++)
		;
	if (e >= max || e < 2)
		return 0;
	if (s[1] == '#') {
		int hex = s[2] == 'x' || s[2] == 'X';

		i = hex ? 3 : 2;
		if (i >= e)
			return 0;
		for (; i < e; i++) {
			int d = isdigit((unsigned char)s[i]) ? s[i] - '0' :
			    hex && isxdigit((unsigned char)s[i]) ?
			    tolower((unsigned char)s[i]) - 'a' + 10 : -1;

			if (d < 0)
				return 0;
			v = v * (hex ? 16 : 10) + (unsigned long)d;
			if (v > 0x10ffff)
				return 0;
		}
		*c = v >= 0x20 && v < 0x7f ? (char)v : ' ';
		return e + 1;
	}
	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strlen(named[i].name) == e - 1 &&
		    strncasecmp(named[i].name, s + 1, e - 1) == 0) {
			*c = named[i].c;
			return e + 1;
		}
	return 0;
}

/*
 * HTML to text, enough to find identifiers: tags and comments dropped
 * (block tags become a line end, inline ones nothing, so "<b>MC-x</b>-y"
 * stays whole), character references decoded.
 */
static void
html_text(const char *h, size_t n, struct buf *out)
{
	size_t i = 0, t, k;
	char c;

	while (i < n) {
		if (h[i] == '<') {
			if (n - i >= 4 && memcmp(h + i, "<!--", 4) == 0) {
				const char *e = memmem(h + i + 4, n - i - 4,
				    "-->", 3);

				i = e != NULL ? (size_t)(e - h) + 3 : n;
				continue;
			}
			t = i + 1;
			if (t < n && h[t] == '/')
				t++;
			for (k = t; k < n && isalnum((unsigned char)h[k]); k++)
				;
			if (tag_is_block(h + t, k - t))
				buf_addc(out, '\n');
			while (k < n && h[k] != '>')
				k++;
			i = k < n ? k + 1 : n;
			continue;
		}
		if (h[i] == '&' && (k = entity(h + i, n - i, &c)) > 0) {
			buf_addc(out, c);
			i += k;
			continue;
		}
		buf_addc(out, h[i]);
		i++;
	}
}

/* Appends the part's text to r->text. */
static void
on_end(void *arg, const struct mime_part *p)
{
	struct sc_reply *r = arg;

	if (r->part.data == NULL || r->part.len == 0)
		return;
	if (r->html)
		html_text(r->part.data, r->part.len, &r->text);
	else
		buf_add(&r->text, r->part.data, r->part.len);
	buf_addc(&r->text, '\n');
	buf_reset(&r->part);
}

int
sc_reply_parse(struct sc_reply *r, const struct mime_limits *lim,
    const char *m, size_t len)
{
	static const struct mime_cb cb = { on_begin, on_data, on_end,
	    on_header };
	struct mime *mp;
	size_t start = 0, k, o;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	buf_init(&r->part, 0);
	buf_init(&r->text, 0);
	/* the "From " line sendmail's prog mailer writes first */
	if (len > 5 && memcmp(m, "From ", 5) == 0) {
		for (k = 5, o = 0; k < len && m[k] != ' ' && m[k] != '\t' &&
		    m[k] != '\n' && m[k] != '\r' && o + 1 < sizeof(r->sender);
		    k++)
			r->sender[o++] = m[k];
		r->sender[o] = '\0';
		if (o == 0)
			snprintf(r->sender, sizeof(r->sender), "<>");
		while (k < len && m[k] != '\n')
			k++;
		start = k < len ? k + 1 : k;
	}
	if ((mp = mime_new(lim, MIME_VIEW_FIRST, &cb, r)) == NULL)
		return -1;
	if (mime_push(mp, m + start, len - start) == -1 ||
	    mime_finish(mp) == -1)
		rc = -1;
	r->mime_err = mime_errors(mp);
	mime_free(mp);
	buf_free(&r->part);
	return rc;
}

void
sc_reply_free(struct sc_reply *r)
{
	buf_free(&r->part);
	buf_free(&r->text);
}

/* The first word of a header value, compared without case. */
static int
first_word_is(const char *v, const char *w)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strcspn(v, " \t;(,");
	return strlen(w) == n && strncasecmp(v, w, n) == 0;
}

const char *
sc_reply_loop(const struct sc_reply *r)
{
	if ((r->autosub[0] != '\0' && !first_word_is(r->autosub, "no")) ||
	    r->autoreply)
		return "auto-submitted";
	if (first_word_is(r->prec, "bulk") || first_word_is(r->prec, "junk") ||
	    first_word_is(r->prec, "list") ||
	    first_word_is(r->prec, "auto_reply"))
		return "precedence";
	if (r->list)
		return "list-id";
	if (r->digest)
		return "own-digest";
	return NULL;
}

size_t
sc_find_idents(const char *t, size_t len, struct sc_ident *out, size_t max)
{
	const size_t need = 3 + CORRAL_ID_LEN + 1 + SC_TOKEN_HEX;
	size_t i, k, n = 0, j;

	for (i = 0; len >= need && i <= len - need && n < max; i++) {
		const char *p = t + i;

		if ((p[0] != 'M' && p[0] != 'm') || (p[1] != 'C' &&
		    p[1] != 'c') || p[2] != '-')
			continue;
		if (i > 0 && isalnum((unsigned char)t[i - 1]))
			continue;
		for (k = 0; k < CORRAL_ID_LEN && util_hexval(p[3 + k]) != -1;
		    k++)
			;
		if (k != CORRAL_ID_LEN || p[3 + k] != '-')
			continue;
		for (k = 0; k < SC_TOKEN_HEX &&
		    util_hexval(p[4 + CORRAL_ID_LEN + k]) != -1; k++)
			;
		if (k != SC_TOKEN_HEX || (i + need < len &&
		    isalnum((unsigned char)p[need])))
			continue;
		for (k = 0; k < CORRAL_ID_LEN; k++)
			out[n].id[k] = (char)toupper((unsigned char)p[3 + k]);
		out[n].id[k] = '\0';
		for (k = 0; k < SC_TOKEN_HEX; k++)
			out[n].tok[k] = (char)tolower((unsigned char)
			    p[4 + CORRAL_ID_LEN + k]);
		out[n].tok[k] = '\0';
		for (j = 0; j < n; j++)
			if (strcmp(out[j].id, out[n].id) == 0 &&
			    strcmp(out[j].tok, out[n].tok) == 0)
				break;
		if (j == n)
			n++;
		i += need - 1;
	}
	return n;
}

void
sc_break_idents(char *s)
{
	for (; *s != '\0'; s++)
		if ((s[0] == 'M' || s[0] == 'm') && (s[1] == 'C' ||
		    s[1] == 'c') && s[2] == '-')
			s[2] = '_';
}
