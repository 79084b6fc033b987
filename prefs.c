/*
 * prefs.c -- the recipients' own spam settings (see prefs.h).
 *
 * The rules are kept sorted by (kind, pattern, line): a lookup is two
 * binary searches (the whole address, then its domain) and a walk over
 * the rules of that pattern, keeping for each field the one of the
 * highest line, so "later lines win" costs nothing per rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "prefs.h"
#include "util.h"
#include "banned.h"

enum { KIND_ADDR, KIND_DOMAIN };

struct rule {
	char		*pat;		/* lower case; a domain without '@' */
	int		 kind;
	unsigned	 line;
	int		 has_threshold;
	double		 threshold;
	int		 disposition;	/* -1: not set */
};

struct prefs {
	struct rule	*r;
	size_t		 n, cap;
	unsigned	 uses;		/* 1 << disposition, for prefs_uses */
};

static const char *const dispo_words[] = {
	[CONF_DISPO_TAG] = "tag",
	[CONF_DISPO_TRASH] = "trash",
	[CONF_DISPO_CORRAL] = "corral",
	[CONF_DISPO_DELIVER] = "deliver",
};

static int
rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind - y->kind;
	if ((c = strcmp(x->pat, y->pat)) != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
pat_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != '"' &&
	    c != '=' && c != '*' && c != '#' && c != ',';
}

/* The pattern t (n bytes) into r; -1 with the reason in why. */
static int
parse_pattern(const char *t, size_t n, struct rule *r, char *why,
    size_t whylen)
{
	const char *at;
	size_t i, skip = 0;

	if (n > PREFS_ADDR_MAX) {
		snprintf(why, whylen, "pattern too long");
		return -1;
	}
	if (n >= 2 && t[0] == '*' && t[1] == '@')
		skip = 2;
	else if (n >= 1 && t[0] == '@')
		skip = 1;
	for (i = skip; i < n; i++)
		if (!pat_char_ok((unsigned char)t[i])) {
			snprintf(why, whylen, "bad character 0x%02x in pattern "
			    "(an address, *@domain or @domain)",
			    (unsigned char)t[i]);
			return -1;
		}
	at = memchr(t + skip, '@', n - skip);
	if (skip > 0 ? (n == skip || at != NULL) :
	    (at == NULL || at == t || at == t + n - 1 ||
	    memchr(at + 1, '@', (size_t)(t + n - at - 1)) != NULL)) {
		snprintf(why, whylen, "pattern \"%.*s\" is not an address, "
		    "*@domain or @domain", (int)(n > 80 ? 80 : n), t);
		return -1;
	}
	r->kind = skip > 0 ? KIND_DOMAIN : KIND_ADDR;
	if ((r->pat = strndup(t + skip, n - skip)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (i = 0; r->pat[i] != '\0'; i++)
		r->pat[i] = (char)util_lower((unsigned char)r->pat[i]);
	return 0;
}

/* One "key=value" setting t (n bytes) into r; -1 with the reason. */
static int
parse_setting(const char *t, size_t n, struct rule *r, char *why,
    size_t whylen)
{
	const char *eq = memchr(t, '=', n);
	size_t kl, vl, used, d;
	double v;

	if (eq == NULL) {
		snprintf(why, whylen, "\"%.*s\" is not key=value",
		    (int)(n > 80 ? 80 : n), t);
		return -1;
	}
	kl = (size_t)(eq - t);
	vl = n - kl - 1;
	if (kl == 9 && memcmp(t, "threshold", 9) == 0) {
		if (r->has_threshold) {
			snprintf(why, whylen, "threshold given twice");
			return -1;
		}
		used = util_parse_decimal(eq + 1, vl, &v);
		if (vl == 0 || used != vl || v < 0 || v > 10000) {
			snprintf(why, whylen, "threshold \"%.*s\" is not a "
			    "number from 0 to 10000", (int)(vl > 40 ? 40 : vl),
			    eq + 1);
			return -1;
		}
		r->has_threshold = 1;
		r->threshold = v;
		return 0;
	}
	if (kl == 11 && memcmp(t, "disposition", 11) == 0) {
		if (r->disposition != -1) {
			snprintf(why, whylen, "disposition given twice");
			return -1;
		}
		for (d = 0; d < sizeof(dispo_words) / sizeof(dispo_words[0]);
		    d++)
			if (strlen(dispo_words[d]) == vl &&
			    memcmp(dispo_words[d], eq + 1, vl) == 0)
				r->disposition = (int)d;
		if (r->disposition == -1) {
			snprintf(why, whylen, "disposition \"%.*s\" is not "
			    "tag, trash, corral or deliver",
			    (int)(vl > 40 ? 40 : vl), eq + 1);
			return -1;
		}
		return 0;
	}
	snprintf(why, whylen, "unknown setting \"%.*s\" (threshold, "
	    "disposition)", (int)(kl > 40 ? 40 : kl), t);
	return -1;
}

/* One line (no newline); 0 with nothing added for a blank line, or -1. */
static int
parse_line(struct prefs *p, const char *s, size_t n, unsigned line,
    char *why, size_t whylen)
{
	struct rule r;
	const char *hash;
	size_t i = 0, j, tok = 0;
	struct rule *nr;

	if (memchr(s, '\0', n) != NULL) {
		snprintf(why, whylen, "NUL byte");
		return -1;
	}
	if ((hash = memchr(s, '#', n)) != NULL)
		n = (size_t)(hash - s);
	memset(&r, 0, sizeof(r));
	r.disposition = -1;
	r.line = line;
	for (;;) {
		while (i < n && util_isspace((unsigned char)s[i]))
			i++;
		if (i >= n)
			break;
		for (j = i; j < n && !util_isspace((unsigned char)s[j]); j++)
			;
		if ((tok++ == 0 ? parse_pattern(s + i, j - i, &r, why,
		    whylen) : parse_setting(s + i, j - i, &r, why,
		    whylen)) == -1) {
			free(r.pat);
			return -1;
		}
		i = j;
	}
	if (tok == 0)
		return 0;
	if (tok == 1) {
		free(r.pat);
		snprintf(why, whylen, "no setting (threshold=, disposition=)");
		return -1;
	}
	if (p->n >= PREFS_MAX_RULES) {
		free(r.pat);
		snprintf(why, whylen, "more than %d rules", PREFS_MAX_RULES);
		return -1;
	}
	if (p->n == p->cap) {
		if ((nr = realloc(p->r, (p->cap ? p->cap * 2 : 64) *
		    sizeof(*nr))) == NULL) {
			free(r.pat);
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		p->r = nr;
		p->cap = p->cap ? p->cap * 2 : 64;
	}
	if (r.disposition != -1)
		p->uses |= 1u << r.disposition;
	p->r[p->n++] = r;
	return 0;
}

struct prefs *
prefs_parse(const char *text, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct prefs *p;
	char why[256];
	size_t i = 0, e;
	unsigned line = 0;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		util_seterr(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);

		e = nl != NULL ? (size_t)(nl - text) : len;
		if (++line == 0 || parse_line(p, text + i, e - i, line, why,
		    sizeof(why)) == -1) {
			util_seterr(err, errlen, "%s:%u: %s", name, line, why);
			prefs_free(p);
			return NULL;
		}
		i = e + 1;
	}
	if (p->n > 0)
		qsort(p->r, p->n, sizeof(*p->r), rule_cmp);
	return p;
}

struct prefs *
prefs_load(const char *path, char *err, size_t errlen)
{
	struct prefs *p;
	char *text = NULL;
	size_t len = 0;
	FILE *fp, *mem;
	char chunk[65536];
	size_t n;
	int bad;

	if ((fp = fopen(path, "re")) == NULL) {
		util_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((mem = open_memstream(&text, &len)) == NULL) {
		fclose(fp);
		util_seterr(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (fwrite(chunk, 1, n, mem) != n)
			break;
	bad = ferror(fp) || ferror(mem);
	fclose(fp);
	if (fclose(mem) != 0 || bad) {
		free(text);
		util_seterr(err, errlen, "%s: read error", path);
		return NULL;
	}
	p = prefs_parse(text, len, path, err, errlen);
	free(text);
	return p;
}

/* The first rule of (kind, pat), or p->n. */
static size_t
first_of(const struct prefs *p, int kind, const char *pat)
{
	size_t lo = 0, hi = p->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = p->r[mid].kind != kind ? p->r[mid].kind - kind :
		    strcmp(p->r[mid].pat, pat);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
take(const struct prefs *p, int kind, const char *pat, struct prefs_user *u)
{
	const struct rule *r;
	size_t i;

	for (i = first_of(p, kind, pat); i < p->n; i++) {
		r = &p->r[i];
		if (r->kind != kind || strcmp(r->pat, pat) != 0)
			break;
		if (r->has_threshold && r->line > u->threshold_line) {
			u->has_threshold = 1;
			u->threshold = r->threshold;
			u->threshold_line = r->line;
		}
		if (r->disposition != -1 && r->line > u->disposition_line) {
			u->disposition = r->disposition;
			u->disposition_line = r->line;
		}
	}
}

void
prefs_lookup(const struct prefs *p, const char *rcpt, struct prefs_user *u)
{
	char a[PREFS_ADDR_MAX + 1];
	const char *at;

	memset(u, 0, sizeof(*u));
	u->disposition = -1;
	if (p == NULL || p->n == 0 || util_norm_addr(rcpt, a, sizeof(a)) == -1)
		return;
	take(p, KIND_ADDR, a, u);
	if ((at = strrchr(a, '@')) != NULL && at[1] != '\0')
		take(p, KIND_DOMAIN, at + 1, u);
}

int
prefs_uses(const struct prefs *p, int d)
{
	return p != NULL && d >= 0 && d < 32 && (p->uses & (1u << d)) != 0;
}

size_t
prefs_count(const struct prefs *p)
{
	return p == NULL ? 0 : p->n;
}

void
prefs_free(struct prefs *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->r[i].pat);
	free(p->r);
	free(p);
}
