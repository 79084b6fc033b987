/*
 * rewrite.c -- findings to a new body (see rewrite.h).
 *
 * Plan: one struct edit per change, over [from, to) of the spool; edits
 * are sorted and merged so they never overlap, then the body is streamed:
 * unchanged ranges are copied from the spool, each edit writes its
 * replacement.  Output goes through a 64 KiB buf_out chunk to the caller.
 * Names: the short prefix rw_ (rewrite) on every public name.
 * Ownership: the caller's scan, config and struct rw_result (freed by
 * rw_result_free()); nothing else outlives rw_rewrite().
 * Failure: -1 with errno (spool I/O, ENOMEM, or the output callback's
 * error, sticky from the first failure on); a failed rewrite is not sent.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "html.h"
#include "log.h"
#include "rewrite.h"
#include "scan.h"
#include "spool.h"
#include "virusfilter.h"
#include "banned.h"

#define OUT_CHUNK	65536
#define HTML_LOOK	65536	/* decoded HTML searched for <body> */
#define SUMMARY_MAX	1500	/* bytes of changes listed in the log line */

enum edit_kind {
	E_DELETE,	/* drop [from, to) */
	E_MANGLE,	/* new header block for [from, to) */
	E_TRANSCODE,	/* decode, defang and/or warn, re-encode */
	E_NEWPART,	/* insert a text part at from (to == from) */
	E_WARN,		/* insert the plain warning at from (to == from) */
	E_REPLACE	/* new headers and content from a file (Perl shim) */
};

struct edit {
	enum edit_kind		 kind;
	uint64_t		 from, to;
	const struct mime_part	*p;	/* view-0 part (not E_DELETE) */
	const struct scan_finding *f;
	unsigned		 html;	/* defang mask (E_TRANSCODE) */
	int			 warn;	/* 1 plain, 2 html (E_TRANSCODE) */
};

struct rw {
	struct scan		*sc;
	const struct mc_config	*cf;
	struct rw_result	*res;
	const struct mime_part	*parts;
	unsigned		 nparts;
	struct edit		*e;
	unsigned		 ne;
	size_t			 cap;
	struct buf		 warn_plain, warn_html;
	struct buf_out		 o;	/* the rewritten body, to rw_out_fn */
};

/* ---- output ---- */

static void
out_put(struct buf_out *o, const char *p, size_t n)
{
	(void)buf_out_put(o, p, n);	/* o->err is checked by the callers */
}

static void
out_str(struct buf_out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* spool_copy()'s consumer: into the output, stopping at its error. */
static int
put_range(void *arg, const char *p, size_t n)
{
	struct buf_out *o = arg;

	out_put(o, p, n);
	return o->err == 0 ? 0 : -1;
}

static int
copy_range(struct rw *rw, uint64_t from, uint64_t to)
{
	if (rw->o.err == 0 && spool_copy(scan_spool(rw->sc), from, to,
	    put_range, &rw->o) == -1 && rw->o.err == 0)
		rw->o.err = errno ? errno : EIO;
	return rw->o.err == 0 ? 0 : -1;
}

/* ---- encoders: decoded bytes in, transfer-encoded bytes out ---- */

struct enc {
	struct buf_out	*o;
	enum mime_cte	 cte;
	unsigned char	 b64[3];
	unsigned	 nb64;
	unsigned	 col;
	int		 cr;		/* QP: last byte was CR */
};

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
b64_quantum(struct enc *en, const unsigned char *in, unsigned n)
{
	char q[4];

	q[0] = b64chars[in[0] >> 2];
	q[1] = b64chars[((in[0] & 3) << 4) | (n > 1 ? in[1] >> 4 : 0)];
	q[2] = n > 1 ? b64chars[((in[1] & 15) << 2) |
	    (n > 2 ? in[2] >> 6 : 0)] : '=';
	q[3] = n > 2 ? b64chars[in[2] & 63] : '=';
	out_put(en->o, q, 4);
	en->col += 4;
	if (en->col >= 76) {
		out_put(en->o, "\r\n", 2);
		en->col = 0;
	}
}

static void
qp_byte(struct enc *en, unsigned char c, int next_is_eol)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];
	int plain = (c >= 33 && c <= 126 && c != '=') ||
	    ((c == ' ' || c == '\t') && !next_is_eol);
	unsigned w = plain ? 1 : 3;

	if (en->col + w > 75) {
		out_put(en->o, "=\r\n", 3);
		en->col = 0;
	}
	if (plain) {
		out_put(en->o, (const char *)&c, 1);
	} else {
		e[0] = '=';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		out_put(en->o, e, 3);
	}
	en->col += w;
}

static void
enc_put(void *arg, const char *p, size_t n)
{
	struct enc *en = arg;
	const unsigned char *s = (const unsigned char *)p;
	size_t i;

	switch (en->cte) {
	case MIME_CTE_BASE64:
		for (i = 0; i < n; i++) {
			en->b64[en->nb64++] = s[i];
			if (en->nb64 == 3) {
				b64_quantum(en, en->b64, 3);
				en->nb64 = 0;
			}
		}
		break;
	case MIME_CTE_QP:
		for (i = 0; i < n; i++) {
			if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
				continue;
			if (s[i] == '\n') {
				out_put(en->o, "\r\n", 2);
				en->col = 0;
				continue;
			}
			qp_byte(en, s[i], i + 1 == n || s[i + 1] == '\r' ||
			    s[i + 1] == '\n');
		}
		break;
	default:
		out_put(en->o, p, n);
		break;
	}
}

static void
enc_finish(struct enc *en)
{
	if (en->cte == MIME_CTE_BASE64) {
		if (en->nb64 > 0)
			b64_quantum(en, en->b64, en->nb64);
		if (en->col > 0)
			out_put(en->o, "\r\n", 2);
		en->nb64 = 0;
		en->col = 0;
	}
}

/* ---- warning text ---- */

/* Printable ASCII only, no CR/LF: warning_text comes from the admin. */
static void
safe_line(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		buf_addc(b, (*s >= 0x20 && *s < 0x7f) ? *s : ' ');
}

static void
mangled_name(const struct mc_config *cf, const char *name, char *out,
    size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; name[i] != '\0' && o + 1 < outlen && o < 100; i++) {
		char c = name[i];

		out[o++] = ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '+') ? c : '_';
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, outlen, "attachment");
	o = strlen(out);
	snprintf(out + o, outlen - o, "%s", cf->mangle_suffix);
}

/* A name the site's filter chose: printable, no quotes or backslashes. */
static void
given_name(const char *name, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; name[i] != '\0' && o + 1 < outlen && o < 150; i++) {
		char c = name[i];

		out[o++] = (c > 0x20 && c < 0x7f && c != '"' && c != '\\' &&
		    c != ';' && c != '/') || c == ' ' ? c : '_';
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, outlen, "attachment");
}

/* The name a renamed part gets. */
static void
new_name(const struct mc_config *cf, const struct scan_finding *f,
    char *out, size_t outlen)
{
	if (f->newname[0] != '\0')
		given_name(f->newname, out, outlen);
	else
		mangled_name(cf, f->name, out, outlen);
}

static const char *
act_word(const struct edit *e)
{
	switch (e->kind) {
	case E_REPLACE: return "replaced";
	case E_MANGLE: return "renamed";
	case E_TRANSCODE: return "defanged";
	default: return "removed";
	}
}

/* Builds the warning texts and the log summary from the final edits. */
static void
build_warnings(struct rw *rw)
{
	const struct mc_config *cf = rw->cf;
	struct buf *wp = &rw->warn_plain, *wh = &rw->warn_html, line;
	char mname[160];
	unsigned i, more = 0;

	buf_init(&line, 0);
	safe_line(wp, cf->warning_text);
	buf_adds(wp, "\r\n");
	buf_adds(wh, "<div style=\"border:2px solid #c00;padding:4px\">"
	    "<b>");
	buf_add_html(wh, cf->warning_text);
	buf_adds(wh, "</b><br>\r\n");
	for (i = 0; i < rw->ne; i++) {
		const struct edit *e = &rw->e[i];
		const struct scan_finding *f = e->f;

		if (f == NULL)
			continue;
		buf_reset(&line);
		if (e->kind == E_REPLACE) {
			given_name(f->newname, mname, sizeof(mname));
			buf_printf(&line, "replaced \"%s\" with \"%s\": %s %s",
			    f->name, mname, virus_reason_str(f->reason),
			    f->what);
		} else if (e->kind == E_MANGLE) {
			new_name(cf, f, mname, sizeof(mname));
			buf_printf(&line, "renamed \"%s\" to \"%s\": %s %s",
			    f->name, mname, virus_reason_str(f->reason),
			    f->what);
		} else if (e->kind == E_TRANSCODE) {
			buf_printf(&line, "made active HTML inert in \"%s\": "
			    "%s", f->name, f->what);
		} else {
			buf_printf(&line, "removed \"%s\": %s %s", f->name,
			    virus_reason_str(f->reason), f->what);
		}
		buf_adds(wp, "  - ");
		safe_line(wp, line.data);
		buf_adds(wp, "\r\n");
		buf_adds(wh, "- ");
		buf_add_html(wh, line.data);
		buf_adds(wh, "<br>\r\n");
		/* The decision line has room for a few; count the rest. */
		if (rw->res->summary.len > SUMMARY_MAX) {
			more++;
			continue;
		}
		buf_printf(&rw->res->summary, "%s%s=\"%s\"(%s%s%s)",
		    rw->res->summary.len ? " " : "", act_word(e), f->name,
		    f->reason != VIRUS_OK ? virus_reason_str(f->reason) : "",
		    f->reason != VIRUS_OK && f->what[0] ? " " : "", f->what);
	}
	if (more > 0)
		buf_printf(&rw->res->summary, " +%u more", more);
	buf_adds(wp, "\r\n");
	buf_adds(wh, "</div>\r\n");
	buf_free(&line);
}

/* ---- planning ---- */

static int
add_edit(struct rw *rw, enum edit_kind k, uint64_t from, uint64_t to,
    const struct mime_part *p, const struct scan_finding *f)
{
	struct edit *ne;

	if ((ne = buf_vec_grow(rw->e, &rw->cap, rw->ne, sizeof(*ne), 16)) ==
	    NULL)
		return -1;
	rw->e = ne;
	rw->e[rw->ne++] = (struct edit){ .kind = k, .from = from, .to = to,
	    .p = p, .f = f, .html = f != NULL ? f->html : 0 };
	return 0;
}

static int
identity(enum mime_cte c)
{
	return c == MIME_CTE_7BIT || c == MIME_CTE_8BIT ||
	    c == MIME_CTE_BINARY;
}

/* The view-0 part that carries the same bytes as a finding, or NULL. */
static const struct mime_part *
match_part(const struct rw *rw, const struct scan_finding *f)
{
	unsigned i;

	if (f->view == 0)
		return f->part < rw->nparts ? &rw->parts[f->part] : NULL;
	for (i = 0; i < rw->nparts; i++)
		if (rw->parts[i].start == f->p.start &&
		    rw->parts[i].end == f->p.end &&
		    rw->parts[i].body_start == f->p.body_start &&
		    rw->parts[i].flags == f->p.flags)
			return &rw->parts[i];
	return NULL;
}

/* The range to cut to delete part p cleanly, climbing as needed. */
static const struct mime_part *
cut_target(const struct rw *rw, const struct mime_part *p)
{
	for (;;) {
		const struct mime_part *up;

		if (p->id == 0 || p->parent >= rw->nparts)
			return p;
		up = &rw->parts[p->parent];
		if ((p->flags & MIME_PART_EMBEDDED) && !identity(up->cte)) {
			p = up;		/* cannot cut inside encoded text */
			continue;
		}
		if ((up->flags & MIME_PART_MESSAGE) && p->start == p->hdr_start) {
			p = up;		/* inner message of message/rfc822 */
			continue;
		}
		return p;
	}
}

static int
plan_findings(struct rw *rw)
{
	const struct scan_finding *f;
	const struct mime_part *p;
	unsigned i, n;

	f = scan_findings(rw->sc, &n);
	for (i = 0; i < n; i++) {
		if ((p = match_part(rw, &f[i])) == NULL) {
			/* Another reading's part: cut its header lines and
			   content, so neither its name nor its bytes stay. */
			if (f[i].p.id == 0) {
				rw->res->replace_all = 1;
				continue;
			}
			if (f[i].p.body_end > f[i].p.hdr_start &&
			    add_edit(rw, E_DELETE, f[i].p.hdr_start,
			    f[i].p.body_end, NULL, &f[i]) == -1)
				return -1;
			continue;
		}
		switch (f[i].act) {
		case SCAN_REPLACE:
			if (p->id != 0 && p->hdr_start > p->start) {
				if (add_edit(rw, E_REPLACE, p->hdr_start,
				    p->body_end, p, &f[i]) == -1)
					return -1;
				break;
			}
			/* The message itself: its content goes. */
			rw->res->replace_all = 1;
			continue;
		case SCAN_MANGLE:
			if (add_edit(rw, E_MANGLE, p->hdr_start, p->body_start,
			    p, &f[i]) == -1)
				return -1;
			break;
		case SCAN_DEFANG:
			if (identity(p->cte) || p->cte == MIME_CTE_BASE64 ||
			    p->cte == MIME_CTE_QP) {
				if (add_edit(rw, E_TRANSCODE, p->body_start,
				    p->body_end, p, &f[i]) == -1)
					return -1;
				break;
			}
			/* HTML we cannot re-encode is cut out instead. */
			__attribute__((fallthrough));
		case SCAN_DELETE:
			p = cut_target(rw, p);
			if (p->id == 0) {
				rw->res->replace_all = 1;
				continue;
			}
			if (add_edit(rw, E_DELETE, p->start, p->end, NULL,
			    &f[i]) == -1)
				return -1;
			break;
		}
	}
	return 0;
}

static int
cmp_edit(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	/* An insertion (zero length) goes before what starts at its
	   offset; then a cut, so it swallows what starts with it. */
	if (x->kind != y->kind) {
		if (x->to == x->from || y->to == y->from)
			return x->to == x->from ? -1 : 1;
		return x->kind == E_DELETE ? -1 : y->kind == E_DELETE ? 1 : 0;
	}
	return x->to > y->to ? -1 : x->to < y->to;
}

/*
 * Sorts and merges: overlapping cuts become one (the first keeps its
 * finding for the summary; swallowed findings are still reported), and
 * anything overlapping a cut is dropped.
 */
static void
merge_edits(struct rw *rw)
{
	unsigned i, o = 0;

	if (rw->ne == 0)
		return;
	qsort(rw->e, rw->ne, sizeof(*rw->e), cmp_edit);
	for (i = 0; i < rw->ne; i++) {
		struct edit *cur = &rw->e[i];

		if (o > 0) {
			struct edit *prev = &rw->e[o - 1];

			if (cur->from < prev->to) {
				if (prev->kind == E_DELETE) {
					if (cur->kind == E_DELETE &&
					    cur->to > prev->to)
						prev->to = cur->to;
					continue;
				}
				if (cur->kind == E_DELETE) {
					/* a cut over an earlier edit */
					*prev = *cur;
					continue;
				}
				continue;
			}
		}
		rw->e[o++] = *cur;
	}
	rw->ne = o;
}

static int
inside_cut(const struct rw *rw, const struct mime_part *p)
{
	unsigned i;

	for (i = 0; i < rw->ne; i++)
		if ((rw->e[i].kind == E_DELETE || rw->e[i].kind ==
		    E_REPLACE) && p->body_start >=
		    rw->e[i].from && p->body_start < rw->e[i].to)
			return 1;
	return 0;
}

/*
 * Do the cuts cover all of the message's content?  Then nothing would be
 * left to hold a warning, and an empty new body is no replacement at all
 * (smfi_replacebody is never called with no bytes): the body becomes the
 * warning, as for a message that is itself a dangerous part.
 */
static int
all_cut(const struct rw *rw)
{
	uint64_t bs, be, cut = 0, a, b;
	unsigned i;

	if (rw->nparts == 0)
		return 0;
	bs = rw->parts[0].body_start;
	be = rw->parts[0].body_end;
	if (be <= bs)
		return 0;
	for (i = 0; i < rw->ne; i++) {
		if (rw->e[i].kind != E_DELETE)
			continue;
		a = rw->e[i].from > bs ? rw->e[i].from : bs;
		b = rw->e[i].to < be ? rw->e[i].to : be;
		if (b > a)
			cut += b - a;
	}
	return cut >= be - bs;
}

static int
bad_charset(const struct mime_part *p)
{
	return strncmp(p->charset, "utf-16", 6) == 0 ||
	    strncmp(p->charset, "utf-32", 6) == 0 ||
	    strncmp(p->charset, "ucs", 3) == 0 ||
	    strcmp(p->charset, "utf-7") == 0;
}

static const struct mime_part *
warn_target(const struct rw *rw, const char *type)
{
	unsigned i;

	for (i = 0; i < rw->nparts; i++) {
		const struct mime_part *p = &rw->parts[i];

		/* An ambiguous part may be something else in the other
		   reading; only plain text sent as is takes an insertion
		   at its start, harmless in any reading. */
		if (strcmp(p->type, type) != 0 || (p->flags &
		    (MIME_PART_ATTACHMENT | MIME_PART_EMBEDDED |
		    MIME_PART_PREAMBLE | MIME_PART_EPILOGUE |
		    MIME_PART_MULTIPART | MIME_PART_MESSAGE |
		    MIME_PART_UNSCANNABLE)) ||
		    ((p->flags & MIME_PART_AMBIGUOUS) &&
		    !(type[5] == 'p' && identity(p->cte))) ||
		    p->nnames > 0 || bad_charset(p) ||
		    !(identity(p->cte) || p->cte == MIME_CTE_BASE64 ||
		    p->cte == MIME_CTE_QP) || inside_cut(rw, p))
			continue;
		return p;
	}
	return NULL;
}

/* Puts the warning into text parts, or plans a new part for it. */
static int
plan_warnings(struct rw *rw)
{
	static const char *const types[] = { "text/plain", "text/html" };
	const struct mime_part *p, *first = NULL;
	unsigned i, k, placed = 0;

	for (k = 0; k < 2; k++) {
		if ((p = warn_target(rw, types[k])) == NULL)
			continue;
		placed++;
		if (k == 0 && identity(p->cte)) {
			/* Plain text as sent: insert, so a cut inside the
			   part (an embedded uuencode block) is unaffected. */
			if (add_edit(rw, E_WARN, p->body_start, p->body_start,
			    p, NULL) == -1)
				return -1;
			continue;
		}
		for (i = 0; i < rw->ne; i++)
			if (rw->e[i].p == p && rw->e[i].kind == E_TRANSCODE)
				break;
		if (i == rw->ne && add_edit(rw, E_TRANSCODE, p->body_start,
		    p->body_end, p, NULL) == -1)
			return -1;
		rw->e[i].warn = k + 1;
	}
	if (placed > 0 || rw->nparts == 0 ||
	    !(rw->parts[0].flags & MIME_PART_MULTIPART))
		return 0;
	for (i = 1; i < rw->nparts; i++)
		if (rw->parts[i].parent == 0 && rw->parts[i].start !=
		    rw->parts[i].hdr_start && !(rw->parts[i].flags &
		    (MIME_PART_PREAMBLE | MIME_PART_EPILOGUE))) {
			first = &rw->parts[i];
			break;
		}
	if (first == NULL)
		return 0;
	return add_edit(rw, E_NEWPART, first->start, first->start, first,
	    NULL);
}

/* ---- emitting ---- */

struct tc {
	struct rw	*rw;
	struct enc	 enc;
	struct html	*html;
	int		 warn;		/* pending: 2 = HTML, look for body */
	struct buf	 look;		/* decoded HTML held while looking */
};

static void
tc_emit(struct tc *t, const char *p, size_t n)
{
	char *body, *gt;

	if (t->warn != 2) {
		enc_put(&t->enc, p, n);
		return;
	}
	/* Hold HTML until "<body ...>" is seen, then warn after it. */
	if (buf_add(&t->look, p, n) == -1) {
		t->rw->o.err = ENOMEM;
		return;
	}
	body = memmem(t->look.data, t->look.len, "<body", 5);
	if (body == NULL)
		body = memmem(t->look.data, t->look.len, "<BODY", 5);
	gt = body ? memchr(body, '>', t->look.len -
	    (size_t)(body - t->look.data)) : NULL;
	if (gt == NULL && t->look.len < HTML_LOOK)
		return;
	if (gt != NULL) {
		size_t head = (size_t)(gt + 1 - t->look.data);

		enc_put(&t->enc, t->look.data, head);
		enc_put(&t->enc, t->rw->warn_html.data, t->rw->warn_html.len);
		enc_put(&t->enc, t->look.data + head, t->look.len - head);
	} else {
		enc_put(&t->enc, t->rw->warn_html.data, t->rw->warn_html.len);
		enc_put(&t->enc, t->look.data, t->look.len);
	}
	buf_free(&t->look);
	t->warn = 0;
}

static void
tc_html_out(void *arg, const char *p, size_t n)
{
	tc_emit(arg, p, n);
}

static void
tc_decoded(void *arg, const char *p, size_t n)
{
	struct tc *t = arg;

	if (t->html != NULL) {
		if (html_push(t->html, p, n) == -1)
			t->rw->o.err = ENOMEM;
	} else
		tc_emit(t, p, n);
}

static int
emit_transcode(struct rw *rw, const struct edit *e)
{
	struct tc t;
	int rc;

	memset(&t, 0, sizeof(t));
	t.rw = rw;
	t.enc.o = &rw->o;
	t.enc.cte = e->p->cte;
	buf_init(&t.look, 0);
	if (e->warn == 1)
		enc_put(&t.enc, rw->warn_plain.data, rw->warn_plain.len);
	t.warn = e->warn == 2 ? 2 : 0;
	if (e->f != NULL && e->html != 0 &&
	    (t.html = html_new(rw->cf->html_defang, tc_html_out, &t)) == NULL)
		return -1;
	rc = scan_decode(rw->sc, e->p->cte, e->from, e->to, tc_decoded, &t);
	if (t.html != NULL) {
		html_finish(t.html);
		html_free(t.html);
	}
	if (t.warn == 2) {
		/* no <body> and short: warning first, then the HTML */
		enc_put(&t.enc, rw->warn_html.data, rw->warn_html.len);
		enc_put(&t.enc, t.look.data ? t.look.data : "", t.look.len);
	}
	enc_finish(&t.enc);
	/* Base64 ends with CRLF; other encodings keep the original end. */
	buf_free(&t.look);
	if (rc == -1 && rw->o.err == 0)
		rw->o.err = errno ? errno : EIO;
	return rw->o.err == 0 ? 0 : -1;
}

static int
read_line(struct rw *rw, uint64_t off, char *out, size_t outlen)
{
	ssize_t r = spool_pread(scan_spool(rw->sc), out, outlen - 1, off);
	char *nl;

	if (r <= 0)
		return -1;
	out[r] = '\0';
	if ((nl = memchr(out, '\n', (size_t)r)) == NULL)
		return -1;
	*nl = '\0';
	while (nl > out && (nl[-1] == '\r' || nl[-1] == ' ' ||
	    nl[-1] == '\t'))
		*--nl = '\0';
	return 0;
}

static int
emit_newpart(struct rw *rw, const struct edit *e)
{
	char delim[1024];

	if (read_line(rw, e->from, delim, sizeof(delim)) == -1 ||
	    strncmp(delim, "--", 2) != 0)
		return 0;		/* no usable delimiter: skip */
	out_str(&rw->o, delim);
	out_str(&rw->o, "\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n");
	out_put(&rw->o, rw->warn_plain.data, rw->warn_plain.len);
	return rw->o.err == 0 ? 0 : -1;
}

/* Field name of a header line, lower case, without blanks or comments. */
static int
is_content_field(const char *line, size_t len, const char *want)
{
	size_t i = 0, n = strlen(want);

	while (i < len && i < n && (line[i] | 0x20) == want[i])
		i++;
	if (i != n)
		return 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && (line[i] == ':' || line[i] == '(');
}
/*
 * Header lines of [from, to) but the Content-* fields we set anew (with
 * Content-Transfer-Encoding too when cte is set).
 */
static int
keep_headers(struct rw *rw, uint64_t from, uint64_t to, int cte)
{
	char *hdr;
	size_t len = (size_t)(to - from), i = 0, start;
	int skip = 0;
	ssize_t r;

	if ((hdr = malloc(len + 1)) == NULL)
		return -1;
	r = spool_pread(scan_spool(rw->sc), hdr, len, from);
	if (r < 0 || (size_t)r != len) {
		free(hdr);
		rw->o.err = EIO;
		return -1;
	}
	while (i < len) {
		start = i;
		while (i < len && hdr[i] != '\n')
			i++;
		if (i < len)
			i++;
		if (i - start <= 2 && (hdr[start] == '\r' ||
		    hdr[start] == '\n'))
			break;
		if (hdr[start] != ' ' && hdr[start] != '\t')
			skip = is_content_field(hdr + start, i - start,
			    "content-type") || is_content_field(hdr + start,
			    i - start, "content-disposition") || (cte &&
			    is_content_field(hdr + start, i - start,
			    "content-transfer-encoding"));
		if (!skip)
			out_put(&rw->o, hdr + start, i - start);
	}
	free(hdr);
	return 0;
}

/* The Content-* fields of a part we rewrite, and the blank line. */
static void
content_fields(struct rw *rw, const char *type, const char *name, int b64)
{
	out_str(&rw->o, "Content-Type: ");
	out_str(&rw->o, type);
	out_str(&rw->o, "; name=\"");
	out_str(&rw->o, name);
	out_str(&rw->o, "\"\r\nContent-Disposition: attachment; filename=\"");
	out_str(&rw->o, name);
	out_str(&rw->o, b64 ? "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" :
	    "\"\r\n\r\n");
}


static int
emit_mangle(struct rw *rw, const struct edit *e)
{
	char mname[160];
	const char *type = "application/octet-stream";

	if (keep_headers(rw, e->from, e->to, 0) == -1)
		return -1;
	new_name(rw->cf, e->f, mname, sizeof(mname));
	if (e->f->newname[0] != '\0' && e->p != NULL && e->p->type[0] != '\0')
		type = e->p->type;	/* a rename keeps the type */
	content_fields(rw, type, mname, 0);
	return rw->o.err == 0 ? 0 : -1;
}


/*
 * A part replaced by the site's filter: its own header fields less the
 * Content-* ones, the new type and name, and the file's bytes in base64.
 * The file was checked by perlpool.c (inside the message's private
 * directory); it is opened without following links and must be regular.
 */
static int
emit_replace(struct rw *rw, const struct edit *e)
{
	char name[160], type[MIME_TYPE_MAX], tmp[16384];
	struct enc en;
	struct stat st;
	ssize_t r;
	size_t i;
	int fd;

	if ((fd = open(e->f->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		goto fail;
	}
	if (keep_headers(rw, e->from, e->p->body_start, 1) == -1) {
		close(fd);
		return -1;
	}
	given_name(e->f->newname, name, sizeof(name));
	for (i = 0; e->f->newtype[i] != '\0' && i + 1 < sizeof(type); i++) {
		char c = e->f->newtype[i];

		type[i] = (c > 0x20 && c < 0x7f && c != '"' && c != ';' &&
		    c != '\\') ? c : '_';
	}
	type[i] = '\0';
	if (i == 0)
		snprintf(type, sizeof(type), "application/octet-stream");
	content_fields(rw, type, name, 1);
	memset(&en, 0, sizeof(en));
	en.o = &rw->o;
	en.cte = MIME_CTE_BASE64;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		enc_put(&en, tmp, (size_t)r);
	close(fd);
	if (r == -1)
		goto fail;
	enc_finish(&en);
	return rw->o.err == 0 ? 0 : -1;
fail:
	log_warn("rewrite: replacement file %s", e->f->file);
	rw->o.err = errno ? errno : EIO;
	return -1;
}

static int
emit(struct rw *rw)
{
	uint64_t pos = scan_body_offset(rw->sc);
	uint64_t end = pos + scan_body_size(rw->sc);
	unsigned i;

	if (rw->res->replace_all) {
		out_put(&rw->o, rw->warn_plain.data, rw->warn_plain.len);
		(void)buf_out_flush(&rw->o);
		return rw->o.err == 0 ? 0 : -1;
	}
	for (i = 0; i < rw->ne; i++) {
		const struct edit *e = &rw->e[i];

		if (e->from < pos || e->to > end)
			continue;	/* cannot happen: offsets are ours */
		if (copy_range(rw, pos, e->from) == -1)
			return -1;
		switch (e->kind) {
		case E_DELETE:
			break;
		case E_MANGLE:
			if (emit_mangle(rw, e) == -1)
				return -1;
			break;
		case E_REPLACE:
			if (emit_replace(rw, e) == -1)
				return -1;
			break;
		case E_TRANSCODE:
			if (emit_transcode(rw, e) == -1)
				return -1;
			break;
		case E_NEWPART:
			if (emit_newpart(rw, e) == -1)
				return -1;
			break;
		case E_WARN:
			out_put(&rw->o, rw->warn_plain.data,
			    rw->warn_plain.len);
			break;
		}
		pos = e->to;
	}
	if (copy_range(rw, pos, end) == -1)
		return -1;
	(void)buf_out_flush(&rw->o);
	return rw->o.err == 0 ? 0 : -1;
}

static void
count(struct rw *rw)
{
	unsigned i, n;
	const struct scan_finding *f = scan_findings(rw->sc, &n);

	for (i = 0; i < rw->ne; i++) {
		if (rw->e[i].f == NULL)
			continue;
		if (rw->e[i].kind == E_MANGLE)
			rw->res->renamed++;
		else if (rw->e[i].kind == E_REPLACE)
			rw->res->replaced++;
		else if (rw->e[i].kind == E_TRANSCODE)
			rw->res->defanged++;
		else
			rw->res->removed++;
	}
	if (rw->res->replace_all && rw->res->removed == 0)
		rw->res->removed = n > 0 ? 1 : 0;
	(void)f;
}

int
rw_rewrite(struct scan *sc, const struct mc_config *cf, rw_out_fn *fn,
    void *arg, struct rw_result *res)
{
	struct rw rw;
	char *chunk = NULL;
	unsigned n;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	buf_init(&res->summary, 0);
	scan_findings(sc, &n);
	if (n == 0)
		return 0;
	memset(&rw, 0, sizeof(rw));
	rw.sc = sc;
	rw.cf = cf;
	rw.res = res;
	rw.parts = scan_parts(sc, &rw.nparts);
	buf_init(&rw.warn_plain, 0);
	buf_init(&rw.warn_html, 0);
	if ((chunk = malloc(OUT_CHUNK)) == NULL)
		goto out;
	buf_out_init(&rw.o, chunk, OUT_CHUNK, fn, arg);
	if (plan_findings(&rw) == -1)
		goto out;
	merge_edits(&rw);
	if (!res->replace_all && all_cut(&rw))
		res->replace_all = 1;
	if (!res->replace_all) {
		if (plan_warnings(&rw) == -1)
			goto out;
		merge_edits(&rw);
	}
	if (res->replace_all) {
		/* Report every finding: the whole body goes. */
		const struct scan_finding *f = scan_findings(sc, &n);
		unsigned i;

		rw.ne = 0;
		for (i = 0; i < n; i++)
			if (add_edit(&rw, E_DELETE, 0, 0, NULL, &f[i]) == -1)
				goto out;
	}
	count(&rw);
	build_warnings(&rw);
	if (rw.ne == 0 && !res->replace_all) {
		rc = 0;
		goto out;
	}
	res->changed = 1;
	rc = emit(&rw);
	if (rc == -1)
		errno = rw.o.err;
out:
	free(rw.e);
	free(chunk);
	buf_free(&rw.warn_plain);
	buf_free(&rw.warn_html);
	return rc;
}

void
rw_result_free(struct rw_result *res)
{
	buf_free(&res->summary);
}
