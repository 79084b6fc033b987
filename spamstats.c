/*
 * spamstats.c -- the built-in statistical spam checker (see spamstats.h).
 * Owns the phrase weights (an Aho-Corasick automaton built once from
 * spamphrases.txt or the compiled-in text) and the per-message counters
 * fed while the MIME scan runs: phrases, hidden text, URLs, header
 * features.  Memory per message is fixed (rings, no growth with input).
 * Ownership: weights are immutable once built and shared by threads;
 * struct spamstats is the caller's, one thread at a time.
 * Failure: loaders write "file:line: ..." into the caller's buffer; the
 * checker itself cannot fail after spamstats_new().  Nothing here logs.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "mime.h"
#include "spamstats.h"
#include "util.h"
#include "banned.h"

#define PHRASE_MAX	100		/* normalised bytes per phrase */
#define PHRASES_MAX	4096
#define WEIGHTS_FILE_MAX (1024 * 1024)
#define RING		128		/* >= PHRASE_MAX + 2, power of 2 */

struct tok {
	const char	*p;
	size_t		 n;
};

/* ASCII letters and digits, and 8-bit bytes (UTF-8 letters). */
static int
isword(int c)
{
	c &= 0xff;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80;
}

/* ---- built-in statistical checker -------------------------------- */

enum feat {
	F_GTUBE, F_SHOUTING, F_SUBJ_ALL_CAPS, F_SUBJ_EXCESS_PUNCT,
	F_HTML_ONLY, F_HIDDEN_TEXT, F_URL_MANY, F_URL_IP, F_MISSING_DATE,
	F_MISSING_MID, F_FROM_NO_ADDR, F_DATE_IN_FUTURE, F_NFEAT
};

static const struct {
	const char	*name;
	double		 w;
} feat_def[F_NFEAT] = {
	{ "GTUBE",		1000 },
	{ "SHOUTING",		1.5 },	/* body mostly upper case */
	{ "SUBJ_ALL_CAPS",	1.0 },
	{ "SUBJ_EXCESS_PUNCT",	1.0 },	/* "!!!", "$$$" */
	{ "HTML_ONLY",		0.7 },
	{ "HIDDEN_TEXT",	1.2 },	/* display:none, font-size:0, white on
					   white */
	{ "URL_MANY",		1.0 },
	{ "URL_IP",		1.5 },
	{ "MISSING_DATE",	1.0 },
	{ "MISSING_MID",	0.5 },
	{ "FROM_NO_ADDR",	1.0 },	/* missing From, or no address in it */
	{ "DATE_IN_FUTURE",	1.5 },	/* more than 2 days ahead */
};

#define URL_MANY_MIN	30	/* URLs in the plain or the HTML part */
#define SHOUT_MIN	100	/* letters before SHOUTING is judged */
#define FUTURE_SLACK	(2 * 24 * 3600)

static const char gtube[] =
    "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/* Same text as the shipped spamphrases.txt. */
static const char default_weights[] =
    "phrase 2.5 viagra\n"
    "phrase 2.5 cialis\n"
    "phrase 2.0 levitra\n"
    "phrase 2.0 online pharmacy\n"
    "phrase 2.0 no prescription\n"
    "phrase 2.0 cheap meds\n"
    "phrase 2.0 enlargement\n"
    "phrase 1.5 100% free\n"
    "phrase 2.0 free money\n"
    "phrase 2.0 make money fast\n"
    "phrase 1.0 earn money\n"
    "phrase 1.5 extra income\n"
    "phrase 1.5 cash bonus\n"
    "phrase 1.5 double your\n"
    "phrase 1.5 million dollars\n"
    "phrase 1.5 investment opportunity\n"
    "phrase 1.5 crypto investment\n"
    "phrase 2.0 no credit check\n"
    "phrase 1.5 pre-approved\n"
    "phrase 1.0 lowest price\n"
    "phrase 1.5 money back guarantee\n"
    "phrase 1.0 risk free\n"
    "phrase 1.0 risk-free\n"
    "phrase 1.0 no obligation\n"
    "phrase 1.0 satisfaction guaranteed\n"
    "phrase 0.5 guaranteed\n"
    "phrase 1.5 next of kin\n"
    "phrase 1.0 wire transfer\n"
    "phrase 1.5 bank account details\n"
    "phrase 0.8 beneficiary\n"
    "phrase 1.5 dear friend\n"
    "phrase 1.0 urgent reply\n"
    "phrase 1.5 lottery\n"
    "phrase 1.0 winner\n"
    "phrase 1.5 you are a winner\n"
    "phrase 2.0 you have won\n"
    "phrase 0.5 congratulations\n"
    "phrase 1.5 act now\n"
    "phrase 1.5 limited time offer\n"
    "phrase 1.0 limited time only\n"
    "phrase 1.5 once in a lifetime\n"
    "phrase 1.0 order now\n"
    "phrase 0.8 buy now\n"
    "phrase 0.8 apply now\n"
    "phrase 0.8 call now\n"
    "phrase 0.8 click here\n"
    "phrase 0.8 click below\n"
    "phrase 1.0 special promotion\n"
    "phrase 1.0 as seen on\n"
    "phrase 1.0 miracle\n"
    "phrase 1.5 lose weight\n"
    "phrase 1.0 weight loss\n"
    "phrase 1.5 work from home\n"
    "phrase 1.0 casino\n"
    "phrase 2.0 hot singles\n"
    "phrase 2.0 meet singles\n"
    "phrase 2.0 replica watches\n"
    "phrase 2.5 this is not spam\n"
    "phrase 0.2 unsubscribe\n";

struct phrase {
	char	*text;		/* normalised */
	char	*name;		/* "PHRASE_100_free" */
	size_t	 len;
	double	 w;
	int	 feat;		/* F_GTUBE or -1 */
	int	 bound_start;	/* first/last byte is a word byte */
	int	 bound_end;
};

struct acnode {
	int		 child, sibling, fail, dict, out;
	unsigned char	 c;
};

struct spamstats_weights {
	double		 feat[F_NFEAT];
	struct phrase	*ph;
	size_t		 nph;
	struct acnode	*ac;
	size_t		 nac, acap;
	/*
	 * The automaton as a DFA over byte classes.  The stream is read
	 * normalised (ASCII lower case; white space and NUL as ' '): a
	 * byte's class is that of its normalised form, AC_SPACE for ' ',
	 * one of its own for any other byte that occurs in some phrase, 0
	 * for the rest.  delta has a row of ncls transitions per state;
	 * each holds the target's row offset (state x ncls), with the sign
	 * bit set when the target has outputs.
	 */
	unsigned char	 cls[256];
	size_t		 ncls;
	int32_t		*delta;
};
#define AC_SPACE	1

static int
ac_child(const struct spamstats_weights *w, int s, unsigned char c)
{
	int t;

	for (t = w->ac[s].child; t != -1; t = w->ac[t].sibling)
		if (w->ac[t].c == c)
			return t;
	return -1;
}

static int
ac_newnode(struct spamstats_weights *w, int parent, unsigned char c)
{
	struct acnode *n;
	int id;

	if ((n = buf_vec_grow(w->ac, &w->acap, w->nac, sizeof(*n), 256)) ==
	    NULL)
		return -1;
	w->ac = n;
	id = (int)w->nac++;
	n = &w->ac[id];
	n->child = -1;
	n->sibling = -1;
	n->fail = 0;
	n->dict = -1;
	n->out = -1;
	n->c = c;
	if (parent >= 0) {
		n->sibling = w->ac[parent].child;
		w->ac[parent].child = id;
	}
	return id;
}

/*
 * Normalises phrase text as the stream is normalised: ASCII lower case,
 * runs of white space to one space, trimmed.  Returns the length.
 */
static size_t
norm_phrase(const char *s, size_t n, char *out, size_t max)
{
	size_t i, o = 0;
	int sp = 1;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (util_isspace(c)) {
			if (!sp && o < max)
				out[o++] = ' ';
			sp = 1;
			continue;
		}
		sp = 0;
		if (o >= max)
			return max + 1;
		out[o++] = (char)util_lower(c);
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	return o;
}

/* Adds or (same text) re-weights a phrase.  -1: ENOMEM. */
static int
weights_phrase(struct spamstats_weights *w, const char *t, size_t n, double wt,
    int feat)
{
	struct phrase *np;
	size_t i, k;
	int s = 0, c;

	for (i = 0; i < n; i++) {
		if ((c = ac_child(w, s, (unsigned char)t[i])) == -1 &&
		    (c = ac_newnode(w, s, (unsigned char)t[i])) == -1)
			return -1;
		s = c;
	}
	if (w->ac[s].out >= 0) {
		w->ph[w->ac[s].out].w = wt;
		return 0;
	}
	if ((np = reallocarray(w->ph, w->nph + 1, sizeof(*np))) == NULL)
		return -1;
	w->ph = np;
	np = &w->ph[w->nph];
	memset(np, 0, sizeof(*np));
	np->len = n;
	np->w = wt;
	np->feat = feat;
	np->bound_start = feat < 0 && isword((unsigned char)t[0]);
	np->bound_end = feat < 0 && isword((unsigned char)t[n - 1]);
	if ((np->text = malloc(n + 1)) == NULL ||
	    (np->name = malloc(n + 8)) == NULL) {
		free(np->text);
		return -1;
	}
	memcpy(np->text, t, n);
	np->text[n] = '\0';
	memcpy(np->name, "PHRASE_", 7);
	for (k = 0; k < n; k++) {
		c = (unsigned char)t[k];
		np->name[7 + k] = (char)((c < 0x80 && isalnum(c)) ? c : '_');
	}
	np->name[7 + n] = '\0';
	w->ac[s].out = (int)w->nph++;
	return 0;
}

/* Failure and dictionary links, breadth first.  -1: ENOMEM. */
static int
ac_build(struct spamstats_weights *w)
{
	unsigned char ch[256], id[256];
	int *q, head = 0, tail = 0, u, v, f, t;
	size_t k;

	if ((q = calloc(w->nac, sizeof(*q))) == NULL)
		return -1;
	for (v = w->ac[0].child; v != -1; v = w->ac[v].sibling) {
		w->ac[v].fail = 0;
		q[tail++] = v;
	}
	while (head < tail) {
		u = q[head++];
		for (v = w->ac[u].child; v != -1; v = w->ac[v].sibling) {
			f = w->ac[u].fail;
			while ((t = ac_child(w, f, w->ac[v].c)) == -1 && f != 0)
				f = w->ac[f].fail;
			w->ac[v].fail = (t == -1 || t == v) ? 0 : t;
			t = w->ac[v].fail;
			w->ac[v].dict = w->ac[t].out >= 0 ? t : w->ac[t].dict;
			q[tail++] = v;
		}
	}
	/*
	 * The full transition table, so matching costs one lookup per byte
	 * instead of a walk of children and failure links.  Classes keep it
	 * small enough for the cache (a few dozen columns, not 256).  In
	 * breadth-first order a state's failure state is complete before the
	 * state.
	 */
	memset(id, 0, sizeof(id));
	for (u = 1; u < (int)w->nac; u++)
		id[w->ac[u].c] = 1;
	ch[AC_SPACE] = ' ';
	w->ncls = AC_SPACE + 1;	/* < 256: no upper case, one white space */
	for (u = 0; u < 256; u++)
		if (id[u] && u != ' ') {
			id[u] = (unsigned char)w->ncls;
			ch[w->ncls++] = (unsigned char)u;
		}
	id[' '] = AC_SPACE;
	for (u = 0; u < 256; u++) {
		v = util_lower(u);
		w->cls[u] = id[util_isspace(v) || v == 0 ? ' ' : v];
	}
	if ((w->delta = calloc(w->nac * w->ncls, sizeof(*w->delta))) == NULL) {
		free(q);
		return -1;
	}
	for (k = 1; k < w->ncls; k++)
		w->delta[k] = (t = ac_child(w, 0, ch[k])) == -1 ? 0 : t;
	for (head = 0; head < tail; head++) {
		u = q[head];
		for (k = 1; k < w->ncls; k++) {
			t = ac_child(w, u, ch[k]);
			w->delta[(size_t)u * w->ncls + k] = t != -1 ? t :
			    w->delta[(size_t)w->ac[u].fail * w->ncls + k];
		}
	}
	/* State numbers to row offsets, and the output mark. */
	for (k = 0; k < w->nac * w->ncls; k++) {
		t = w->delta[k];
		w->delta[k] = (int32_t)((uint32_t)t * w->ncls);
		if (w->ac[t].out >= 0 || w->ac[t].dict >= 0)
			w->delta[k] = (int32_t)((uint32_t)w->delta[k] |
			    0x80000000u);
	}
	free(q);
	return 0;
}

void
spamstats_weights_free(struct spamstats_weights *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->nph; i++) {
		free(w->ph[i].text);
		free(w->ph[i].name);
	}
	free(w->ph);
	free(w->ac);
	free(w->delta);
	free(w);
}

static int
weights_line(struct spamstats_weights *w, const char *s, size_t n,
    const char *file, size_t lineno, char *err, size_t errlen)
{
	char norm[PHRASE_MAX + 1];
	size_t i = 0, j, k, used;
	double v;

	if (memchr(s, '\0', n) != NULL) {
		util_seterr(err, errlen, "%s:%zu: NUL byte", file, lineno);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (s[i] == '#') {
			n = i;
			break;
		}
	i = 0;
	while (i < n && util_isspace((unsigned char)s[i]))
		i++;
	if (i >= n)
		return 0;
	for (j = i; j < n && !util_isspace((unsigned char)s[j]); j++)
		;
	if (j - i == 6 && strncasecmp(s + i, "phrase", 6) == 0) {
		for (i = j; i < n && util_isspace((unsigned char)s[i]); i++)
			;
		used = util_parse_decimal(s + i, n - i, &v);
		if (used == 0 || (i + used < n &&
		    !util_isspace((unsigned char)s[i + used]))) {
			util_seterr(err, errlen, "%s:%zu: bad weight", file, lineno);
			return -1;
		}
		k = norm_phrase(s + i + used, n - i - used, norm,
		    sizeof(norm) - 1);
		if (k == 0) {
			util_seterr(err, errlen, "%s:%zu: empty phrase", file,
			    lineno);
			return -1;
		}
		if (k > PHRASE_MAX) {
			util_seterr(err, errlen, "%s:%zu: phrase longer than %d "
			    "bytes", file, lineno, PHRASE_MAX);
			return -1;
		}
		if (v < -1000 || v > 1000) {
			util_seterr(err, errlen, "%s:%zu: weight out of range",
			    file, lineno);
			return -1;
		}
		if (w->nph >= PHRASES_MAX) {
			util_seterr(err, errlen, "%s:%zu: more than %d phrases",
			    file, lineno, PHRASES_MAX);
			return -1;
		}
		if (weights_phrase(w, norm, k, v, -1) == -1) {
			util_seterr(err, errlen, "out of memory");
			return -1;
		}
		return 0;
	}
	if (j - i == 7 && strncasecmp(s + i, "feature", 7) == 0) {
		struct tok t[2];

		for (k = 0; k < 2; k++) {
			for (i = j; i < n && util_isspace((unsigned char)s[i]); i++)
				;
			for (j = i; j < n && !util_isspace((unsigned char)s[j]); j++)
				;
			t[k].p = s + i;
			t[k].n = j - i;
		}
		for (i = j; i < n && util_isspace((unsigned char)s[i]); i++)
			;
		if (t[1].n == 0 || i < n) {
			util_seterr(err, errlen, "%s:%zu: usage: feature NAME "
			    "weight", file, lineno);
			return -1;
		}
		for (k = 0; k < F_NFEAT; k++)
			if (strlen(feat_def[k].name) == t[0].n &&
			    strncasecmp(feat_def[k].name, t[0].p, t[0].n) == 0)
				break;
		if (k == F_NFEAT) {
			util_seterr(err, errlen, "%s:%zu: unknown feature \"%.*s\"",
			    file, lineno, (int)(t[0].n > 40 ? 40 : t[0].n),
			    t[0].p);
			return -1;
		}
		if (util_parse_decimal(t[1].p, t[1].n, &v) != t[1].n ||
		    v < -1000 || v > 10000) {
			util_seterr(err, errlen, "%s:%zu: bad weight", file, lineno);
			return -1;
		}
		w->feat[k] = v;
		return 0;
	}
	util_seterr(err, errlen, "%s:%zu: unknown keyword \"%.*s\"", file, lineno,
	    (int)(j - i > 40 ? 40 : j - i), s + i);
	return -1;
}

struct spamstats_weights *
spamstats_weights_load(const char *file, char *err, size_t errlen)
{
	struct spamstats_weights *w;
	const char *text, *name;
	char *data = NULL;
	size_t len = 0, i, e, lineno = 0, k;
	FILE *fp;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		util_seterr(err, errlen, "out of memory");
		return NULL;
	}
	for (k = 0; k < F_NFEAT; k++)
		w->feat[k] = feat_def[k].w;
	{
		char g[sizeof(gtube)];

		for (k = 0; k < sizeof(gtube); k++)
			g[k] = (char)util_lower((unsigned char)gtube[k]);
		if (ac_newnode(w, -1, 0) == -1 ||
		    weights_phrase(w, g, sizeof(gtube) - 1, 0, F_GTUBE) == -1) {
			util_seterr(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (file == NULL) {
		text = default_weights;
		len = sizeof(default_weights) - 1;
		name = "(built-in)";
	} else {
		if ((fp = fopen(file, "re")) == NULL) {
			util_seterr(err, errlen, "%s: %s", file, strerror(errno));
			goto fail;
		}
		if ((data = malloc(WEIGHTS_FILE_MAX + 1)) == NULL) {
			fclose(fp);
			util_seterr(err, errlen, "out of memory");
			goto fail;
		}
		len = fread(data, 1, WEIGHTS_FILE_MAX + 1, fp);
		k = (size_t)ferror(fp);
		fclose(fp);
		if (k != 0 || len > WEIGHTS_FILE_MAX) {
			util_seterr(err, errlen, "%s: %s", file, k != 0 ?
			    "read error" : "file too large");
			goto fail;
		}
		text = data;
		name = file;
	}
	for (i = 0; i < len; i = e + 1) {
		const char *nl = memchr(text + i, '\n', len - i);

		e = nl == NULL ? len : (size_t)(nl - text);
		lineno++;
		if (weights_line(w, text + i, e - i, name, lineno, err,
		    errlen) == -1)
			goto fail;
	}
	if (ac_build(w) == -1) {
		util_seterr(err, errlen, "out of memory");
		goto fail;
	}
	free(data);
	return w;
fail:
	free(data);
	spamstats_weights_free(w);
	return NULL;
}

size_t
spamstats_weights_nphrases(const struct spamstats_weights *w)
{
	return w == NULL ? 0 : w->nph - 1;	/* GTUBE is not a phrase */
}

/* One run of the automaton over a normalised stream. */
struct acrun {
	uint64_t	 pos;		/* bytes emitted */
	int		 row;		/* the state's row in delta */
	int		 pend;		/* state with outputs, awaiting the
					   next byte for the end boundary */
	int		 sp;		/* last emitted byte was a space */
	unsigned char	 ring[RING];
};

enum hid_kind { HID_HIDE, HID_WTEXT, HID_WBG };

static const struct {
	const char	*pat;
	size_t		 len;		/* strlen(pat) */
	enum hid_kind	 kind;
	int		 font0;		/* boundary: no digit or '.' next */
} hid_pats[] = {
#define HP(s)	s, sizeof(s) - 1
	{ HP("display:none"),			HID_HIDE,	0 },
	{ HP("visibility:hidden"),		HID_HIDE,	0 },
	{ HP("font-size:0"),			HID_HIDE,	1 },
	{ HP("color:#fff"),			HID_WTEXT,	0 },
	{ HP("color:#ffffff"),			HID_WTEXT,	0 },
	{ HP("color:white"),			HID_WTEXT,	0 },
	{ HP("color=#fff"),			HID_WTEXT,	0 },
	{ HP("color=#ffffff"),			HID_WTEXT,	0 },
	{ HP("color=white"),			HID_WTEXT,	0 },
	{ HP("background:#fff"),		HID_WBG,	0 },
	{ HP("background:#ffffff"),		HID_WBG,	0 },
	{ HP("background:white"),		HID_WBG,	0 },
	{ HP("background-color:#fff"),		HID_WBG,	0 },
	{ HP("background-color:#ffffff"),	HID_WBG,	0 },
	{ HP("background-color:white"),		HID_WBG,	0 },
	{ HP("bgcolor=#fff"),			HID_WBG,	0 },
	{ HP("bgcolor=#ffffff"),		HID_WBG,	0 },
	{ HP("bgcolor=white"),			HID_WBG,	0 },
};
#undef HP
#define NHID	(sizeof(hid_pats) / sizeof(hid_pats[0]))
#define HRING	32

struct spamstats {
	const struct spamstats_weights *w;
	unsigned char	*hit;		/* per phrase */
	struct acrun	 body;
	/* HTML */
	int		 in_tag;
	int		 seen_html, seen_plain;
	uint64_t	 hpos;
	uint32_t	 hpend;		/* hid_pats bits awaiting next byte */
	unsigned char	 hring[HRING];
	unsigned char	 hsep[HRING];	/* white space or quote was dropped
					   before this byte */
	int		 hgap;
	int		 hide, wtext, wbg;
	/* URLs */
	uint64_t	 uwin;
	int		 in_host, host_html;
	size_t		 hostlen;
	char		 host[72];
	size_t		 nurl[2];
	size_t		 nurl_ip;
	/* letters */
	size_t		 letters, upper;
	/* headers */
	int		 has_date, has_mid, has_from, from_ok, date_future;
	int		 subj_caps, subj_punct;
	int		 finished;
};

struct spamstats *
spamstats_new(const struct spamstats_weights *w)
{
	struct spamstats *st;

	if (w == NULL || (st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	if ((st->hit = calloc(w->nph, 1)) == NULL) {
		free(st);
		return NULL;
	}
	st->w = w;
	st->body.sp = 1;
	return st;
}

void
spamstats_free(struct spamstats *st)
{
	if (st == NULL)
		return;
	free(st->hit);
	free(st);
}

/*
 * Outputs of state s, now that the byte after them (next) is known.  Rare,
 * so kept out of ac_emit's per-byte path.
 */
static void __attribute__((noinline))
ac_resolve(struct spamstats *st, struct acrun *r, int s, int next)
{
	const struct spamstats_weights *w = st->w;
	const struct phrase *p;
	uint64_t start;
	int o;

	for (o = w->ac[s].out >= 0 ? s : w->ac[s].dict; o != -1;
	    o = w->ac[o].dict) {
		p = &w->ph[w->ac[o].out];
		if (p->bound_end && isword(next))
			continue;
		/* The match ended at r->pos - 1. */
		start = r->pos - p->len;
		if (p->bound_start && start > 0 &&
		    isword(r->ring[(start - 1) & (RING - 1)]))
			continue;
		st->hit[w->ac[o].out] = 1;
	}
}

/*
 * Runs the automaton over n stream bytes: normalised, runs of white space
 * as one space, outputs resolved once the byte after them is known.  The
 * state stays in locals for the loop (the ring is written through r).
 */
static void
ac_feed(struct spamstats *st, struct acrun *r, const unsigned char *d,
    size_t n)
{
	const struct spamstats_weights *w = st->w;
	const int32_t *delta = w->delta;
	const unsigned char *cls = w->cls;
	size_t i;
	uint64_t pos = r->pos;
	int c, k, row = r->row, sp = r->sp, pend = r->pend;
	int32_t t;

	for (i = 0; i < n; i++) {
		c = d[i];
		if ((k = cls[c]) == AC_SPACE) {
			if (sp)
				continue;
			sp = 1;
		} else
			sp = 0;
		if (pend > 0) {
			r->pos = pos;
			ac_resolve(st, r, pend, c);
			pend = 0;
		}
		/* The ring keeps the byte as read: only isword() looks. */
		r->ring[pos++ & (RING - 1)] = (unsigned char)c;
		t = delta[row + k];
		row = t & INT32_MAX;
		if (t < 0)
			pend = row / (int)w->ncls;
	}
	r->pos = pos;
	r->row = row;
	r->sp = sp;
	r->pend = pend;
}

static void
ac_emit(struct spamstats *st, struct acrun *r, int c)
{
	unsigned char b = (unsigned char)c;

	ac_feed(st, r, &b, 1);
}

static void
ac_end(struct spamstats *st, struct acrun *r)
{
	if (r->pend > 0)
		ac_resolve(st, r, r->pend, ' ');
	r->pend = 0;
}

/* The byte before HRING-relative offset back (1 = last byte). */
static int
hring_at(const struct spamstats *st, size_t back)
{
	if (back > st->hpos || back > HRING)
		return ' ';
	return st->hring[(st->hpos - back) & (HRING - 1)];
}

static void
hid_resolve(struct spamstats *st, int next)
{
	size_t k;

	for (k = 0; k < NHID; k++) {
		if (!(st->hpend & (1u << k)))
			continue;
		if (hid_pats[k].font0 ? ((next >= '0' && next <= '9') ||
		    next == '.') : (isword(next) || next == '-'))
			continue;
		switch (hid_pats[k].kind) {
		case HID_HIDE:
			st->hide = 1;
			break;
		case HID_WTEXT:
			st->wtext = 1;
			break;
		case HID_WBG:
			st->wbg = 1;
			break;
		}
	}
	st->hpend = 0;
}

/* Raw HTML, lower case, white space and quotes dropped. */
static void
hid_byte(struct spamstats *st, int c)
{
	size_t k, n, i;
	int pc;

	c = util_lower(c & 0xff);
	if (util_isspace(c) || c == '"' || c == '\'') {
		st->hgap = 1;
		return;
	}
	if (st->hpend != 0)
		hid_resolve(st, c);
	st->hring[st->hpos & (HRING - 1)] = (unsigned char)c;
	st->hsep[st->hpos & (HRING - 1)] = (unsigned char)st->hgap;
	st->hgap = 0;
	st->hpos++;
	if (c != 'e' && c != 'n' && c != '0' && c != 'f')
		return;
	for (k = 0; k < NHID; k++) {
		n = hid_pats[k].len;
		if (n > st->hpos || hid_pats[k].pat[n - 1] != c)
			continue;
		for (i = 0; i < n; i++)
			if (hring_at(st, i + 1) != hid_pats[k].pat[n - 1 - i])
				break;
		if (i < n)
			continue;
		if (hid_pats[k].kind == HID_WTEXT) {
			/* Not background-color:, not bgcolor=. */
			pc = hring_at(st, n + 1);
			if (n < st->hpos && !st->hsep[(st->hpos - n) &
			    (HRING - 1)] && (isword(pc) || pc == '-'))
				continue;
		}
		st->hpend |= 1u << k;
	}
}

/* "http://" and "https://" as the last 7 or 8 bytes of uwin. */
#define P_HTTP	0x687474703a2f2fULL
#define P_HTTPS	0x68747470733a2f2fULL

static int
host_is_ip(const char *h, size_t n)
{
	size_t i, parts = 1, digits = 0;

	if (n == 0)
		return 0;
	if (h[0] == '[')
		return 1;		/* IPv6 literal */
	if (n > 2 && h[0] == '0' && h[1] == 'x') {
		for (i = 2; i < n; i++)
			if (!isxdigit((unsigned char)h[i]))
				return 0;
		return 1;		/* http://0xc0000201/ */
	}
	for (i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (digits == 0)
				return 0;
			parts++;
			digits = 0;
		} else if (h[i] >= '0' && h[i] <= '9')
			digits++;
		else
			return 0;
	}
	/* Dotted quad, or one big decimal number. */
	return digits > 0 && (parts == 4 || (parts == 1 && n >= 8));
}

static void
url_byte(struct spamstats *st, int is_html, int c)
{
	c = util_lower(c & 0xff);
	if (st->in_host) {
		if (c == '@') {
			st->hostlen = 0;	/* user info */
			return;
		}
		if (isword(c) || c == '.' || c == '-' || c == '[' ||
		    c == '_' || (c == ':' && st->hostlen > 0 &&
		    st->host[0] == '[' &&
		    memchr(st->host, ']', st->hostlen) == NULL) ||
		    (c == ']' && st->hostlen > 0 && st->host[0] == '[')) {
			if (st->hostlen < sizeof(st->host))
				st->host[st->hostlen] = (char)c;
			st->hostlen++;
		} else {
			if (st->hostlen <= sizeof(st->host) &&
			    host_is_ip(st->host, st->hostlen))
				st->nurl_ip++;
			st->in_host = 0;
		}
	}
	st->uwin = (st->uwin << 8) | (unsigned char)c;
	if (c == '/' && ((st->uwin & 0xffffffffffffffULL) == P_HTTP ||
	    st->uwin == P_HTTPS)) {
		if (st->in_host && st->hostlen <= sizeof(st->host) &&
		    host_is_ip(st->host, st->hostlen))
			st->nurl_ip++;
		st->in_host = 1;
		st->hostlen = 0;
		st->nurl[is_html ? 1 : 0]++;
	}
}

/*
 * url_byte() over n bytes.  Outside a host name only a '/' can start one,
 * so the bytes before it just shift through the window: memchr() finds
 * it and only the last eight are shifted in.
 */
static void
url_scan(struct spamstats *st, int is_html, const unsigned char *d, size_t n)
{
	const unsigned char *p;
	size_t i = 0, k, j;

	while (i < n) {
		if (st->in_host) {
			url_byte(st, is_html, d[i++]);
			continue;
		}
		p = memchr(d + i, '/', n - i);
		k = p != NULL ? (size_t)(p - d) : n;
		for (j = k - i > 8 ? k - 8 : i; j < k; j++)
			st->uwin = (st->uwin << 8) | (unsigned char)util_lower(d[j]);
		if (p == NULL)
			break;
		url_byte(st, is_html, d[k]);
		i = k + 1;
	}
}

/* Text (not markup): letter counts and phrases. */
static void
text_run(struct spamstats *st, const unsigned char *d, size_t n)
{
	static const uint64_t U = 1 | 1ULL << 32;
	static const uint64_t lettab[256] = {
		['a'] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
			1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		['A'] = U, U, U, U, U, U, U, U, U, U, U, U, U,
			U, U, U, U, U, U, U, U, U, U, U, U, U,
	};
	uint64_t letters = 0;	/* low half: letters, high half: upper */
	size_t i;

	for (i = 0; i < n; i++)
		letters += lettab[d[i]];
	st->letters += (uint32_t)letters;
	st->upper += letters >> 32;
	ac_feed(st, &st->body, d, n);
}

void
spamstats_text(struct spamstats *st, int is_html, const char *data,
    size_t len)
{
	const unsigned char *d = (const unsigned char *)data;
	size_t i, run = 0;

	if (st == NULL || st->finished)
		return;
	if (is_html)
		st->seen_html = 1;
	else if (len > 0)
		st->seen_plain = 1;
	url_scan(st, is_html, d, len);
	if (!is_html) {
		text_run(st, d, len);
		return;
	}
	/* The text between tags in runs; a tag reads as one space. */
	for (i = 0; i < len; i++) {
		hid_byte(st, d[i]);
		if (st->in_tag) {
			if (d[i] == '>') {
				st->in_tag = 0;
				ac_emit(st, &st->body, ' ');
				run = i + 1;
			}
		} else if (d[i] == '<') {
			text_run(st, d + run, i - run);
			st->in_tag = 1;
		}
	}
	if (!st->in_tag)
		text_run(st, d + run, len - run);
}

static const char *const months[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec"
};

/* RFC 5322 date (lenient).  Returns 0 and *t, or -1. */
static int
parse_date(const char *s, size_t n, time_t *t)
{
	char tokv[8][16];
	size_t nt = 0, i = 0, j, k;
	struct tm tm;
	long zone = 0, v[3];
	int day = -1, mon = -1, year = -1, have_time = 0;

	while (i < n && nt < 8) {
		while (i < n && (util_isspace((unsigned char)s[i]) || s[i] == ','))
			i++;
		for (j = i; j < n && !util_isspace((unsigned char)s[j]) &&
		    s[j] != ','; j++)
			;
		if (j > i) {
			k = j - i < 15 ? j - i : 15;
			memcpy(tokv[nt], s + i, k);
			tokv[nt][k] = '\0';
			nt++;
		}
		i = j;
	}
	memset(&tm, 0, sizeof(tm));
	for (k = 0; k < nt; k++) {
		char *tk = tokv[k];
		size_t m;

		if (strchr(tk, ':') != NULL && !have_time) {
			v[2] = 0;
			if (sscanf(tk, "%ld:%ld:%ld", &v[0], &v[1], &v[2]) < 2 ||
			    v[0] < 0 || v[0] > 23 || v[1] < 0 || v[1] > 59 ||
			    v[2] < 0 || v[2] > 60)
				return -1;
			tm.tm_hour = (int)v[0];
			tm.tm_min = (int)v[1];
			tm.tm_sec = (int)v[2];
			have_time = 1;
		} else if ((tk[0] == '+' || tk[0] == '-') &&
		    strlen(tk) == 5 && have_time) {
			long z = strtol(tk + 1, NULL, 10);

			zone = (z / 100) * 3600 + (z % 100) * 60;
			if (tk[0] == '-')
				zone = -zone;
		} else if (isdigit((unsigned char)tk[0])) {
			long x = strtol(tk, NULL, 10);

			if (day < 0 && strlen(tk) <= 2)
				day = (int)x;
			else if (year < 0 && mon >= 0) {
				year = (int)x;
				if (strlen(tk) <= 2)
					year += year < 50 ? 2000 : 1900;
			}
		} else if (mon < 0 && strlen(tk) >= 3) {
			for (m = 0; m < 12; m++)
				if (strncasecmp(tk, months[m], 3) == 0)
					mon = (int)m;
		}
	}
	if (day < 1 || day > 31 || mon < 0 || year < 1970 || year > 9999 ||
	    !have_time)
		return -1;
	tm.tm_mday = day;
	tm.tm_mon = mon;
	tm.tm_year = year - 1900;
	*t = timegm(&tm) - zone;
	return 0;
}

/* Some "local@domain.tld" in a From field. */
static int
has_address(const char *s, size_t n)
{
	size_t i, j, dots;

	for (i = 1; i + 1 < n; i++) {
		if (s[i] != '@')
			continue;
		if (util_isspace((unsigned char)s[i - 1]) || s[i - 1] == '<' ||
		    s[i - 1] == ',' || s[i - 1] == ':')
			continue;
		dots = 0;
		for (j = i + 1; j < n && (isword((unsigned char)s[j]) ||
		    s[j] == '-' || s[j] == '.'); j++)
			if (s[j] == '.' && j > i + 1 && j + 1 < n &&
			    isword((unsigned char)s[j + 1]))
				dots++;
		if (dots > 0)
			return 1;
	}
	return 0;
}

#define SUBJ_MAX 1024

void
spamstats_header(struct spamstats *st, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	char subj[SUBJ_MAX];
	size_t sl = 0, i, letters = 0, upper = 0, bang = 0;
	struct acrun r;
	time_t t;

	if (st == NULL || st->finished || name == NULL)
		return;
	if (value == NULL)
		vlen = 0;
	if (nlen == 4 && strncasecmp(name, "date", 4) == 0) {
		st->has_date = 1;
		if (parse_date(value, vlen, &t) == 0 &&
		    t > time(NULL) + FUTURE_SLACK)
			st->date_future = 1;
	} else if (nlen == 10 && strncasecmp(name, "message-id", 10) == 0) {
		for (i = 0; i < vlen; i++)
			if (!util_isspace((unsigned char)value[i]))
				st->has_mid = 1;
	} else if (nlen == 4 && strncasecmp(name, "from", 4) == 0) {
		st->has_from = 1;
		if (has_address(value, vlen))
			st->from_ok = 1;
	} else if (nlen == 7 && strncasecmp(name, "subject", 7) == 0) {
		if (mime_decode_words(value, vlen, subj, sizeof(subj),
		    &sl) == -1)
			sl = 0;
		if (sl >= sizeof(subj))
			sl = sizeof(subj) - 1;
		memset(&r, 0, sizeof(r));
		r.sp = 1;
		for (i = 0; i < sl; i++) {
			int c = (unsigned char)subj[i];

			if (c >= 'a' && c <= 'z')
				letters++;
			else if (c >= 'A' && c <= 'Z') {
				letters++;
				upper++;
			} else if (c == '!')
				bang++;
			if (i >= 2 && ((c == '!' && subj[i - 1] == '!' &&
			    subj[i - 2] == '!') || (c == '$' &&
			    subj[i - 1] == '$' && subj[i - 2] == '$')))
				st->subj_punct = 1;
			ac_emit(st, &r, c);
		}
		ac_end(st, &r);
		if (bang >= 4)
			st->subj_punct = 1;
		if (letters >= 8 && upper * 10 >= letters * 9)
			st->subj_caps = 1;
	}
}

static void
addfeat(struct spamstats *st, struct buf *why, double *score,
    const char *name, double w)
{
	if (w == 0)
		return;
	*score += w;
	if (why != NULL)
		(void)buf_printf(why, "%s%s=%g", why->len > 0 ? "," : "",
		    name, w);
}

void
spamstats_finish(struct spamstats *st, double *score, struct buf *why)
{
	const struct spamstats_weights *w;
	const double *f;
	size_t i;

	*score = 0;
	if (st == NULL)
		return;
	w = st->w;
	f = w->feat;
	if (!st->finished) {
		ac_end(st, &st->body);
		hid_resolve(st, ' ');
		if (st->in_host && st->hostlen <= sizeof(st->host) &&
		    host_is_ip(st->host, st->hostlen))
			st->nurl_ip++;
		st->in_host = 0;
		st->finished = 1;
	}
	for (i = 0; i < w->nph; i++)
		if (st->hit[i] && w->ph[i].feat == F_GTUBE)
			addfeat(st, why, score, "GTUBE", f[F_GTUBE]);
	for (i = 0; i < w->nph; i++)
		if (st->hit[i] && w->ph[i].feat < 0)
			addfeat(st, why, score, w->ph[i].name, w->ph[i].w);
	if (st->letters >= SHOUT_MIN && st->upper * 10 >= st->letters * 6)
		addfeat(st, why, score, "SHOUTING", f[F_SHOUTING]);
	if (st->subj_caps)
		addfeat(st, why, score, "SUBJ_ALL_CAPS", f[F_SUBJ_ALL_CAPS]);
	if (st->subj_punct)
		addfeat(st, why, score, "SUBJ_EXCESS_PUNCT",
		    f[F_SUBJ_EXCESS_PUNCT]);
	if (st->seen_html && !st->seen_plain)
		addfeat(st, why, score, "HTML_ONLY", f[F_HTML_ONLY]);
	if (st->hide || (st->wtext && st->wbg))
		addfeat(st, why, score, "HIDDEN_TEXT", f[F_HIDDEN_TEXT]);
	if (st->nurl[0] >= URL_MANY_MIN || st->nurl[1] >= URL_MANY_MIN)
		addfeat(st, why, score, "URL_MANY", f[F_URL_MANY]);
	if (st->nurl_ip > 0)
		addfeat(st, why, score, "URL_IP", f[F_URL_IP]);
	if (!st->has_date)
		addfeat(st, why, score, "MISSING_DATE", f[F_MISSING_DATE]);
	if (!st->has_mid)
		addfeat(st, why, score, "MISSING_MID", f[F_MISSING_MID]);
	if (!st->from_ok)
		addfeat(st, why, score, "FROM_NO_ADDR", f[F_FROM_NO_ADDR]);
	if (st->date_future)
		addfeat(st, why, score, "DATE_IN_FUTURE", f[F_DATE_IN_FUTURE]);
}
