/*
 * scan.c -- one message's analysis (see scan.h).
 *
 * Per view, a struct view holds the parser and the state of the leaf parts
 * that are open (a text part can hold an embedded uuencode child, so more
 * than one can be open): an HTML detector for HTML-like parts, and a small
 * spool collecting the decoded bytes of archives and TNEF containers so
 * libarchive can list them at the part's end.  Findings are made when a
 * part ends, from the rules in virusfilter.c.
 * Ownership: struct scan, its views and spool are one message's and go
 * with scan_free(); the config snapshot is the caller's to keep alive.
 * Failure: -1 with errno (ENOMEM, a spool I/O error); hostile content is
 * never a failure, only findings and MIME error bits (see scan.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "bypass.h"
#include "conf.h"
#include "html.h"
#include "log.h"
#include "scan.h"
#include "spamstats.h"
#include "spool.h"
#include "banned.h"

#define SNIFF_LEN	16
#define MAX_FINDINGS	256

struct pstate {
	unsigned	 id;
	struct html	*html;
	struct spool	*coll;		/* archive or TNEF bytes */
	int		 collect;	/* 0 undecided, 1 yes, -1 no */
	int		 tnef;
	int		 oversize;
	unsigned char	 sniff[SNIFF_LEN];
	size_t		 nsniff;
	struct pstate	*next;
};

struct view {
	struct scan	*sc;
	unsigned	 num;
	struct mime	*mime;
	struct pstate	*open;
};

struct scan {
	const struct mc_config *cf;
	const char	*qid;
	struct spool	*spool;
	struct view	 v0;
	struct view	 v1;		/* the other reading, when ambiguous */
	int		 have_v1;
	struct spamstats *stats;	/* built-in spam checker */
	struct bypass_hash hash;
	int		 hashing;
	uint64_t	 body_off;
	int		 eoh;
	unsigned	 errors;
	unsigned	 limits;	/* MIME_ERR_* of unscannable parts */
	int		 views;
	struct scan_finding *f;
	unsigned	 nf;
	int		 err;		/* sticky errno */
};

static int
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static int
any_name_ends(const struct mime_part *p, const char *const *suffixes)
{
	unsigned i;
	const char *const *s;
	char sbuf[512], *norm;
	size_t n;
	int hit;

	for (i = 0; i < p->nnames; i++) {
		/* the whole name: a cut one would lose its extension */
		if ((norm = virus_norm_lower(p->names[i], strlen(p->names[i]),
		    sbuf, sizeof(sbuf), &n)) == NULL)
			return 1;	/* out of memory: strictest */
		for (hit = 0, s = suffixes; *s != NULL && !hit; s++)
			hit = ends_with(norm, *s);
		if (norm != sbuf)
			free(norm);
		if (hit)
			return 1;
	}
	return 0;
}

static const char *const html_suffixes[] = {
	".htm", ".html", ".xhtml", ".shtml", ".svg", ".xht", NULL
};
static const char *const archive_suffixes[] = {
	".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz",
	".cab", ".arj", ".lzh", ".zst", ".cpio", NULL
};

static int
is_html(const struct mime_part *p)
{
	return strcmp(p->type, "text/html") == 0 ||
	    strcmp(p->type, "application/xhtml+xml") == 0 ||
	    strcmp(p->type, "image/svg+xml") == 0 ||
	    any_name_ends(p, html_suffixes);
}

static int
is_container(const struct mime_part *p)
{
	return (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) != 0;
}

void
scan_display_name(const char *s, char *out, size_t outlen)
{
	char norm[512];
	size_t i, o = 0;

	if (outlen == 0)
		return;
	virus_normalize_name(s, strlen(s), norm, sizeof(norm));
	for (i = 0; norm[i] != '\0' && o + 4 < outlen; i++) {
		unsigned char c = (unsigned char)norm[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			out[o++] = '_';
		else if (c >= 0x80) {
			/* one '?' per UTF-8 character */
			if ((c & 0xc0) != 0x80)
				out[o++] = '?';
		} else
			out[o++] = (char)c;
	}
	if (norm[i] != '\0' && o + 3 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void
add_finding(struct view *v, const struct mime_part *p, enum scan_act act,
    enum virus_reason reason, const char *what, unsigned html)
{
	struct scan *sc = v->sc;
	struct scan_finding *f;

	if (sc->f == NULL &&
	    (sc->f = calloc(MAX_FINDINGS, sizeof(*sc->f))) == NULL) {
		sc->err = ENOMEM;
		return;
	}
	if (sc->nf == MAX_FINDINGS) {
		/* Past this many findings the message is hopeless: the
		   last slot becomes "everything" (part 0). */
		f = &sc->f[MAX_FINDINGS - 1];
		if (f->part == 0 && f->view == 0)
			return;
		p = &mime_parts(v->mime, &(unsigned){ 0 })[0];
		act = SCAN_DELETE;
		reason = VIRUS_UNSCANNABLE;
		what = "too many dangerous parts";
	} else
		f = &sc->f[sc->nf++];
	memset(f, 0, sizeof(*f));
	f->act = act;
	f->reason = reason;
	f->view = v->num;
	f->part = p->id;
	f->html = html;
	f->p = *p;
	f->p.names = NULL;
	f->p.nnames = 0;
	if (p->nnames > 0)
		scan_display_name(p->names[p->nnames - 1], f->name,
		    sizeof(f->name));
	if (f->name[0] == '\0')
		snprintf(f->name, sizeof(f->name), "(%s part)", p->type);
	log_safe(what, strlen(what), f->what, sizeof(f->what));
}

static struct pstate *
find_state(struct view *v, unsigned id, int unlink_it)
{
	struct pstate **pp, *ps;

	for (pp = &v->open; (ps = *pp) != NULL; pp = &ps->next)
		if (ps->id == id) {
			if (unlink_it)
				*pp = ps->next;
			return ps;
		}
	return NULL;
}

static void
free_state(struct pstate *ps)
{
	if (ps->html != NULL)
		html_free(ps->html);
	spool_free(ps->coll);
	free(ps);
}

static void
cb_begin(void *arg, const struct mime_part *p)
{
	struct view *v = arg;
	const struct mc_config *cf = v->sc->cf;
	struct pstate *ps;

	if (is_container(p))
		return;
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		v->sc->err = ENOMEM;
		return;
	}
	ps->id = p->id;
	if (is_html(p) && cf->html_defang != 0 &&
	    (ps->html = html_new(cf->html_defang, NULL, NULL)) == NULL)
		v->sc->err = ENOMEM;
	ps->tnef = strcmp(p->type, "application/ms-tnef") == 0 ||
	    strcmp(p->type, "application/vnd.ms-tnef") == 0;
	if (ps->tnef || any_name_ends(p, archive_suffixes) ||
	    strcmp(p->type, "application/zip") == 0 ||
	    strcmp(p->type, "application/x-zip-compressed") == 0 ||
	    strcmp(p->type, "application/gzip") == 0 ||
	    strcmp(p->type, "application/x-7z-compressed") == 0 ||
	    strcmp(p->type, "application/x-rar-compressed") == 0 ||
	    strcmp(p->type, "application/vnd.rar") == 0 ||
	    strcmp(p->type, "application/x-tar") == 0)
		ps->collect = 1;
	ps->next = v->open;
	v->open = ps;
}

static void
collect(struct view *v, struct pstate *ps, const char *d, size_t n)
{
	const struct mc_config *cf = v->sc->cf;

	if (ps->oversize)
		return;
	if (ps->coll == NULL) {
		ps->coll = spool_new(cf->spool_dir, cf->spool_memory);
		if (ps->coll == NULL) {
			v->sc->err = errno;
			return;
		}
	}
	if (spool_size(ps->coll) + n > cf->archive_max_size) {
		ps->oversize = 1;
		return;
	}
	if (spool_write(ps->coll, d, n) == -1)
		v->sc->err = errno;
}

static void
cb_header(void *arg, const struct mime_part *p, const char *name,
    size_t nlen, const char *value, size_t vlen)
{
	struct view *v = arg;

	if (v->num == 0 && p->id == 0 && v->sc->stats != NULL)
		spamstats_header(v->sc->stats, name, nlen, value, vlen);
}

/* Body text a reader sees: what the built-in spam checker counts. */
static int
is_body_text(const struct mime_part *p)
{
	/* type[0] first: called for every piece of every part */
	return p->type[0] == 't' && (strcmp(p->type, "text/plain") == 0 ||
	    strcmp(p->type, "text/html") == 0) &&
	    !(p->flags & (MIME_PART_ATTACHMENT | MIME_PART_EMBEDDED |
	    MIME_PART_PREAMBLE | MIME_PART_EPILOGUE));
}

static void
cb_data(void *arg, const struct mime_part *p, const char *d, size_t n)
{
	struct view *v = arg;
	struct pstate *ps;
	size_t take;

	if (v->num == 0 && v->sc->stats != NULL && is_body_text(p))
		spamstats_text(v->sc->stats, p->type[5] == 'h', d, n);
	if ((ps = find_state(v, p->id, 0)) == NULL)
		return;
	if (ps->html != NULL && html_push(ps->html, d, n) == -1)
		v->sc->err = ENOMEM;
	if (ps->collect == 1) {
		collect(v, ps, d, n);
		return;
	}
	if (ps->collect == -1)
		return;
	/* Undecided: sniff the first bytes for an archive or TNEF. */
	take = SNIFF_LEN - ps->nsniff < n ? SNIFF_LEN - ps->nsniff : n;
	memcpy(ps->sniff + ps->nsniff, d, take);
	ps->nsniff += take;
	if (ps->nsniff < SNIFF_LEN && take == n)
		return;
	if (virus_is_archive(ps->sniff, ps->nsniff) ||
	    (ps->nsniff >= 4 && memcmp(ps->sniff, "\x78\x9f\x3e\x22", 4) == 0)) {
		ps->tnef = memcmp(ps->sniff, "\x78\x9f\x3e\x22", 4) == 0;
		ps->collect = 1;
		collect(v, ps, (const char *)ps->sniff, ps->nsniff);
		collect(v, ps, d + take, n - take);
	} else
		ps->collect = -1;
}

static int
may_mangle(const struct view *v, const struct mime_part *p,
    enum virus_reason r)
{
	return v->sc->cf->attachment_action == CONF_ATTACH_MANGLE &&
	    v->num == 0 && p->id != 0 &&
	    (p->flags & (MIME_PART_EMBEDDED | MIME_PART_UNSCANNABLE |
	    MIME_PART_PREAMBLE | MIME_PART_EPILOGUE)) == 0 &&
	    p->cte != MIME_CTE_UNKNOWN && r != VIRUS_PARTIAL &&
	    r != VIRUS_UNSCANNABLE;
}

static void
judge_collected(struct view *v, struct pstate *ps, struct virus_hit *hit,
    enum virus_reason *r)
{
	const struct mc_config *cf = v->sc->cf;
	const void *mem;
	int fd;

	/* A part shorter than the sniff length was never decided. */
	if (ps->collect == 0 && ps->nsniff > 0 &&
	    virus_is_archive(ps->sniff, ps->nsniff)) {
		ps->collect = 1;
		collect(v, ps, (const char *)ps->sniff, ps->nsniff);
	}
	if (ps->collect != 1 || ps->coll == NULL)
		return;
	if (ps->oversize) {
		log_msg(v->sc->qid, LOG_NOTICE, "archive-skipped reason=size "
		    "part=%u limit=%zu", ps->id, cf->archive_max_size);
		return;
	}
	if ((mem = spool_mem(ps->coll)) != NULL) {
		size_t len = (size_t)spool_size(ps->coll);

		if (ps->tnef)
			*r = virus_check_tnef_mem(cf->rules, mem, len, hit);
		else
			*r = virus_check_archive_mem(cf->rules, mem, len,
			    (unsigned)cf->archive_max_depth,
			    cf->archive_max_size, hit);
	} else if (!ps->tnef && (fd = spool_fd(ps->coll)) != -1) {
		*r = virus_check_archive_fd(cf->rules, fd,
		    (unsigned)cf->archive_max_depth, cf->archive_max_size,
		    hit);
	} else if (ps->tnef) {
		*r = VIRUS_UNSCANNABLE;
		snprintf(hit->what, sizeof(hit->what), "TNEF too large");
	}
}

/*
 * A preamble or epilogue is text no mail client should show, but some do
 * read a MIME part in it (PROPAGATION C09, C10).  One that holds a MIME
 * header line is a hidden part: it is cut.  At most HIDDEN_LOOK bytes of
 * it are read back from the spool.
 */
#define HIDDEN_LOOK	65536

static int
hidden_part(struct view *v, const struct mime_part *p)
{
	static const char *const fields[] = {
		"content-type", "content-disposition",
		"content-transfer-encoding", NULL
	};
	const char *const *f;
	char *b, *line, *end;
	size_t want, n;
	ssize_t r;
	int found = 0;

	if (p->body_end <= p->body_start)
		return 0;
	/* past what is read back: cannot tell, so strictest (BI-11) */
	if (p->body_end - p->body_start > HIDDEN_LOOK)
		return 2;
	want = (size_t)(p->body_end - p->body_start);
	if ((b = malloc(want + 1)) == NULL)
		return 1;		/* cannot look: strictest */
	r = spool_pread(v->sc->spool, b, want, p->body_start);
	n = r > 0 ? (size_t)r : 0;
	b[n] = '\0';
	for (line = b; line < b + n && !found; line = end + 1) {
		if ((end = memchr(line, '\n', (size_t)(b + n - line))) == NULL)
			end = b + n;
		for (f = fields; *f != NULL; f++) {
			size_t k = strlen(*f), i = k;

			if ((size_t)(end - line) <= k ||
			    strncasecmp(line, *f, k) != 0)
				continue;
			while (line + i < end && (line[i] == ' ' ||
			    line[i] == '\t'))
				i++;
			if (line + i < end && line[i] == ':')
				found = 1;
		}
	}
	free(b);
	return found;
}

static void
cb_end(void *arg, const struct mime_part *p)
{
	struct view *v = arg;
	struct pstate *ps;
	struct virus_hit hit;
	enum virus_reason r;
	unsigned bits;
	int hid;

	memset(&hit, 0, sizeof(hit));
	ps = find_state(v, p->id, 1);
	r = virus_check_part(v->sc->cf->rules, p, &hit);
	v->sc->limits |= p->limit;
	if (r == VIRUS_OK &&
	    (p->flags & (MIME_PART_PREAMBLE | MIME_PART_EPILOGUE)) &&
	    (hid = hidden_part(v, p)) != 0) {
		r = VIRUS_UNSCANNABLE;
		snprintf(hit.what, sizeof(hit.what), hid == 2 ? "mime-limit "
		    "reason=%s-length (over %d bytes)" : "MIME part hidden in "
		    "the %s", p->flags & MIME_PART_PREAMBLE ? "preamble" :
		    "epilogue", HIDDEN_LOOK);
	}
	if (r == VIRUS_OK && ps != NULL)
		judge_collected(v, ps, &hit, &r);
	if (r != VIRUS_OK) {
		add_finding(v, p, may_mangle(v, p, r) ? SCAN_MANGLE :
		    SCAN_DELETE, r, hit.what, 0);
	} else if (ps != NULL && ps->html != NULL &&
	    (bits = html_finish(ps->html)) != 0) {
		char words[128];

		html_describe(bits, words, sizeof(words));
		add_finding(v, p, SCAN_DEFANG, VIRUS_OK, words, bits);
	}
	if (ps != NULL)
		free_state(ps);
}

static const struct mime_cb scan_cb = {
	cb_begin, cb_data, cb_end, cb_header
};

static int
view_init(struct scan *sc, struct view *v, unsigned num)
{
	v->sc = sc;
	v->num = num;
	v->open = NULL;
	v->mime = mime_new(&sc->cf->limits,
	    num == 0 ? MIME_VIEW_FIRST : MIME_VIEW_LAST, &scan_cb, v);
	return v->mime == NULL ? -1 : 0;
}

static void
view_fini(struct view *v)
{
	struct pstate *ps;

	while ((ps = v->open) != NULL) {
		v->open = ps->next;
		free_state(ps);
	}
	mime_free(v->mime);
	v->mime = NULL;
}

struct scan *
scan_new(const struct mc_config *cf, const char *qid)
{
	struct scan *sc;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	sc->cf = cf;
	sc->qid = qid;
	if (conf_builtin_counts(cf) &&
	    (sc->stats = spamstats_new(cf->weights)) == NULL) {
		free(sc);
		return NULL;
	}
	if ((sc->spool = spool_new(cf->spool_dir, cf->spool_memory)) == NULL ||
	    view_init(sc, &sc->v0, 0) == -1) {
		scan_free(sc);
		return NULL;
	}
	return sc;
}

static int
feed(struct scan *sc, const void *p, size_t n)
{
	if (spool_write(sc->spool, p, n) == -1)
		return -1;
	if (mime_push(sc->v0.mime, p, n) == -1)
		return -1;
	if (sc->err != 0) {
		errno = sc->err;
		return -1;
	}
	return 0;
}

int
scan_header(struct scan *sc, const char *name, const char *value)
{
	struct buf line = BUF_INIT;
	const char *p;
	int rc;

	/*
	 * Rebuild the field as sendmail writes it into the delivered copy
	 * (put_vanilla_header): folds from the MTA may be LF only, so CRLF;
	 * and a line of the value that does not begin with a blank gets one.
	 * sendmail hands over a value it cut at a line end with that line end
	 * kept: without the blank the field would end in an empty line, the
	 * end of the header block, and what follows would be read as body
	 * while the delivered copy keeps it in the header.
	 */
	if (buf_adds(&line, name) == -1 || buf_add(&line, ": ", 2) == -1)
		goto fail;
	for (p = value; *p != '\0'; p++) {
		if (*p == '\n') {
			rc = buf_add(&line, "\r\n", 2);
			if (rc == 0 && p[1] != ' ' && p[1] != '\t')
				rc = buf_addc(&line, ' ');
		} else if (*p == '\r' && p[1] == '\n')
			rc = 0;
		else
			rc = buf_addc(&line, *p);
		if (rc == -1)
			goto fail;
	}
	if (buf_add(&line, "\r\n", 2) == -1)
		goto fail;
	rc = feed(sc, line.data, line.len);
	buf_free(&line);
	return rc;
fail:
	buf_free(&line);
	return -1;
}

int
scan_eoh(struct scan *sc)
{
	if (sc->eoh)
		return 0;
	sc->eoh = 1;
	if (feed(sc, "\r\n", 2) == -1)
		return -1;
	sc->body_off = spool_size(sc->spool);
	return 0;
}

int
scan_body(struct scan *sc, const void *p, size_t n)
{
	if (!sc->eoh && scan_eoh(sc) == -1)
		return -1;
	if (sc->hashing && bypass_hash_update(&sc->hash, p, n) == -1) {
		errno = EIO;
		return -1;
	}
	return feed(sc, p, n);
}

int
scan_want_bodyhash(struct scan *sc)
{
	if (sc->hashing)
		return 0;
	if (sc->eoh && scan_body_size(sc) > 0) {
		errno = EINVAL;		/* too late: body already seen */
		return -1;
	}
	if (bypass_hash_init(&sc->hash) == -1) {
		errno = ENOMEM;
		return -1;
	}
	sc->hashing = 1;
	return 0;
}

int
scan_bodyhash(struct scan *sc, unsigned char out[32])
{
	if (!sc->hashing) {
		errno = EINVAL;
		return -1;
	}
	sc->hashing = 0;
	return bypass_hash_final(&sc->hash, out);
}

int
scan_spam_score(struct scan *sc, double *score, struct buf *why)
{
	if (sc->stats == NULL)
		return -1;
	spamstats_finish(sc->stats, score, why);
	return 0;
}

/* Pushes spool bytes [from, to) into a parser. */
/* spool_copy()'s consumer: the parser of the other reading. */
static int
replay_push(void *arg, const char *p, size_t n)
{
	return mime_push(arg, p, n) == -1 ? -1 : 0;
}

static int
replay(struct scan *sc, struct mime *m, uint64_t from, uint64_t to)
{
	return spool_copy(sc->spool, from, to, replay_push, m);
}

int
scan_finish(struct scan *sc)
{
	if (!sc->eoh && scan_eoh(sc) == -1)
		return -1;
	if (mime_finish(sc->v0.mime) == -1)
		return -1;
	sc->errors = mime_errors(sc->v0.mime);
	sc->views = 1;
	if (sc->errors & MIME_ERR_AMBIGUOUS) {
		if (view_init(sc, &sc->v1, 1) == -1)
			return -1;
		sc->have_v1 = 1;
		if (replay(sc, sc->v1.mime, 0, spool_size(sc->spool)) == -1 ||
		    mime_finish(sc->v1.mime) == -1)
			return -1;
		sc->errors |= mime_errors(sc->v1.mime);
		sc->views = 2;
	}
	if (sc->err != 0) {
		errno = sc->err;
		return -1;
	}
	return 0;
}

struct dec_ctx {
	void	(*out)(void *, const char *, size_t);
	void	 *arg;
};

static void
dec_data(void *arg, const struct mime_part *p, const char *d, size_t n)
{
	struct dec_ctx *dc = arg;

	if (p->id == 0)
		dc->out(dc->arg, d, n);
}

int
scan_decode(struct scan *sc, enum mime_cte cte, uint64_t from, uint64_t to,
    void (*out)(void *, const char *, size_t), void *arg)
{
	static const char *const names[] = {
		"7bit", "8bit", "binary", "base64", "quoted-printable",
		"x-uuencode", "7bit"
	};
	const struct mime_cb cb = { NULL, dec_data, NULL, NULL };
	struct dec_ctx dc = { out, arg };
	struct mime_limits lim = sc->cf->limits;
	struct mime *m;
	char hdr[160];
	int n, rc;

	n = snprintf(hdr, sizeof(hdr), "Content-Type: application/"
	    "octet-stream\r\nContent-Transfer-Encoding: %s\r\n\r\n",
	    names[cte]);
	lim.max_depth = 1;
	if ((m = mime_new(&lim, MIME_VIEW_FIRST, &cb, &dc)) == NULL)
		return -1;
	rc = mime_push(m, hdr, (size_t)n);
	if (rc == 0)
		rc = replay(sc, m, from, to);
	if (rc == 0)
		rc = mime_finish(m);
	mime_free(m);
	return rc;
}

const struct scan_finding *
scan_findings(const struct scan *sc, unsigned *n)
{
	*n = sc->nf;
	return sc->f;
}

int
scan_add_finding(struct scan *sc, unsigned part, enum scan_act act,
    enum virus_reason reason, const char *what, const char *newname,
    const char *newtype, const char *file)
{
	const struct mime_part *p;
	struct scan_finding *f;
	unsigned n;

	p = sc->v0.mime != NULL ? mime_parts(sc->v0.mime, &n) : NULL;
	if (p == NULL || part >= n || act == SCAN_DEFANG) {
		errno = EINVAL;
		return -1;
	}
	if (file != NULL && strlen(file) >= sizeof(f->file)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	add_finding(&sc->v0, &p[part], act, reason, what != NULL ? what : "",
	    0);
	if (sc->err != 0) {
		errno = sc->err;
		return -1;
	}
	f = &sc->f[sc->nf - 1];
	if (f->part != part || f->act != act)
		return 0;	/* the "everything" slot: a cut */
	/* As given: rewrite.c makes them safe where it writes them. */
	if (newname != NULL)
		snprintf(f->newname, sizeof(f->newname), "%s", newname);
	if (newtype != NULL)
		snprintf(f->newtype, sizeof(f->newtype), "%s", newtype);
	if (file != NULL)
		snprintf(f->file, sizeof(f->file), "%s", file);
	return 0;
}

const struct mime_part *
scan_parts(const struct scan *sc, unsigned *n)
{
	return mime_parts(sc->v0.mime, n);
}

const struct mime_part *
scan_view_parts(const struct scan *sc, unsigned view, unsigned *n)
{
	*n = 0;
	if (view == 0 && sc->v0.mime != NULL)
		return mime_parts(sc->v0.mime, n);
	if (view == 1 && sc->have_v1)
		return mime_parts(sc->v1.mime, n);
	return NULL;
}

int
scan_add_virus(struct scan *sc, unsigned view, const struct mime_part *p,
    const char *virus)
{
	if ((view != 0 || sc->v0.mime == NULL) && (view != 1 || !sc->have_v1)) {
		errno = EINVAL;
		return -1;
	}
	add_finding(view == 0 ? &sc->v0 : &sc->v1, p, SCAN_DELETE,
	    VIRUS_INFECTED, virus, 0);
	if (sc->err != 0) {
		errno = sc->err;
		return -1;
	}
	return 0;
}

/* Pieces of a judged leaf: the size spool_copy() hands a parse. */
#define LEAF_CHUNK	65536

int
scan_judge_leaf(struct scan *sc, const struct mime_part *p,
    const void *data, size_t len)
{
	const char *d = data;
	size_t piece;

	if (is_container(p)) {
		errno = EINVAL;
		return -1;
	}
	/* The callbacks a parsed part gets, in the same order. */
	cb_begin(&sc->v0, p);
	while (len > 0 && sc->err == 0) {
		piece = len < LEAF_CHUNK ? len : LEAF_CHUNK;
		cb_data(&sc->v0, p, d, piece);
		d += piece;
		len -= piece;
	}
	cb_end(&sc->v0, p);
	if (sc->err != 0) {
		errno = sc->err;
		return -1;
	}
	return 0;
}

unsigned
scan_errors(const struct scan *sc)
{
	return sc->errors;
}

unsigned
scan_limits(const struct scan *sc)
{
	return sc->limits;
}

int
scan_views(const struct scan *sc)
{
	return sc->views;
}

struct spool *
scan_spool(const struct scan *sc)
{
	return sc->spool;
}

uint64_t
scan_body_offset(const struct scan *sc)
{
	return sc->body_off;
}

uint64_t
scan_body_size(const struct scan *sc)
{
	return spool_size(sc->spool) - sc->body_off;
}

void
scan_free(struct scan *sc)
{
	if (sc == NULL)
		return;
	if (sc->v0.mime != NULL)
		view_fini(&sc->v0);
	if (sc->have_v1)
		view_fini(&sc->v1);
	if (sc->stats != NULL)
		spamstats_free(sc->stats);
	if (sc->hashing)
		bypass_hash_free(&sc->hash);
	spool_free(sc->spool);
	free(sc->f);
	free(sc);
}
