/*
 * spamfilter.c -- the spam engine (see spamfilter.h).
 *
 * Four parts: our own sender lists (spam_list_*), a fast path over
 * SpamAssassin's welcome/block lists (spam_sa_*), the streaming statistical
 * checker (spam_weights_*, spam_stats_*) and the spamd client
 * (spam_spamd_check).
 * Ownership: lists, SA tables and weights are immutable once built and may
 * be shared by threads; struct spam_stats is per message.
 * Errors: into caller buffers; nothing here logs.  Raw spamd replies are
 * parsed here and only a verdict and a short reason leave this file.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mime.h"
#include "spamfilter.h"
#include "util.h"
#include "banned.h"

#define ADDR_MAX	320		/* longest address or pattern */
#define SA_FILE_MAX	(16 * 1024 * 1024)	/* bytes read per SA file */
#define SA_ENTRIES_MAX	100000		/* list lines kept, all files */
#define SA_DEPTH_MAX	10		/* include nesting */
#define SA_WALK_MAX	8		/* directory depth under a '*' */
#define LIST_ENTRIES_MAX 100000
#define PHRASE_MAX	100		/* normalised bytes per phrase */
#define PHRASES_MAX	4096
#define WEIGHTS_FILE_MAX (1024 * 1024)
#define RING		128		/* >= PHRASE_MAX + 2, power of 2 */
#define SPAMD_HDR_MAX	(64 * 1024)

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
lc(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* ASCII letters and digits, and 8-bit bytes (UTF-8 letters). */
static int
isword(int c)
{
	c &= 0xff;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80;
}

static int
isspc(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\f' || c == '\v';
}

/*
 * Locale-independent decimal number: [+-]digits[.digits] or [+-].digits.
 * Returns the number of bytes used (0: none), the value in *v.
 */
static size_t
parse_num(const char *s, size_t n, double *v)
{
	size_t i = 0, nd = 0;
	double x = 0, scale = 1;
	int neg = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (nd++ < 18)
			x = x * 10 + (s[i] - '0');
		else
			return 0;
		i++;
	}
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (nd++ < 30) {
				scale /= 10;
				x += (s[i] - '0') * scale;
			}
			i++;
		}
	}
	if (nd == 0)
		return 0;
	*v = neg ? -x : x;
	return isfinite(*v) ? i : 0;
}

/* ---- glob matcher shared by our lists and SA's ------------------- */

/*
 * SpamAssassin turns a list pattern into a regexp: '*' is ".*", '?' is "."
 * and the whole address must match.  Both strings are lower case.
 */
static int
glob_match(const char *p, const char *s)
{
	const char *sp = NULL, *ss = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			sp = ++p;
			ss = s;
		} else if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (sp != NULL) {
			p = sp;
			s = ++ss;
		} else
			return 0;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

struct pat {
	char	*pat;		/* lower case; "domain" in the dom table */
	char	*aux;		/* _rcvd domain, lower case, or NULL */
};

struct matcher {
	struct pat	*exact;	/* no wildcard, sorted */
	size_t		 nexact;
	struct pat	*dom;	/* "*@domain", sorted by domain */
	size_t		 ndom;
	struct pat	*glob;	/* everything else, in order */
	size_t		 nglob;
};

struct patvec {
	struct pat	*v;
	size_t		 n, cap;
};

static int
haswild(const char *s)
{
	return strpbrk(s, "*?") != NULL;
}

static int
patcmp(const void *a, const void *b)
{
	const struct pat *x = a, *y = b;

	return strcmp(x->pat, y->pat);
}

static int
patvec_add(struct patvec *pv, const char *pat, size_t plen,
    const char *aux, size_t alen)
{
	struct pat *np;
	size_t i;

	if (pv->n == pv->cap) {
		size_t ncap = pv->cap ? pv->cap * 2 : 32;

		np = reallocarray(pv->v, ncap, sizeof(*np));
		if (np == NULL)
			return -1;
		pv->v = np;
		pv->cap = ncap;
	}
	np = &pv->v[pv->n];
	np->aux = NULL;
	if ((np->pat = malloc(plen + 1)) == NULL)
		return -1;
	for (i = 0; i < plen; i++)
		np->pat[i] = (char)lc((unsigned char)pat[i]);
	np->pat[plen] = '\0';
	if (aux != NULL) {
		if ((np->aux = malloc(alen + 1)) == NULL) {
			free(np->pat);
			return -1;
		}
		for (i = 0; i < alen; i++)
			np->aux[i] = (char)lc((unsigned char)aux[i]);
		np->aux[alen] = '\0';
		/* "example.org." and "example.org" are the same domain. */
		while (alen > 0 && np->aux[alen - 1] == '.')
			np->aux[--alen] = '\0';
	}
	pv->n++;
	return 0;
}

static void
pats_free(struct pat *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].pat);
		free(v[i].aux);
	}
	free(v);
}

static void
matcher_free(struct matcher *m)
{
	pats_free(m->exact, m->nexact);
	pats_free(m->dom, m->ndom);
	pats_free(m->glob, m->nglob);
	memset(m, 0, sizeof(*m));
}

/* Moves the patterns of pv into m (pv is emptied).  -1: ENOMEM. */
static int
matcher_build(struct matcher *m, struct patvec *pv)
{
	size_t i, ne = 0, nd = 0, ng = 0;

	memset(m, 0, sizeof(*m));
	if (pv->n == 0)
		goto done;
	m->exact = calloc(pv->n, sizeof(struct pat));
	m->dom = calloc(pv->n, sizeof(struct pat));
	m->glob = calloc(pv->n, sizeof(struct pat));
	if (m->exact == NULL || m->dom == NULL || m->glob == NULL) {
		free(m->exact);
		free(m->dom);
		free(m->glob);
		memset(m, 0, sizeof(*m));
		return -1;
	}
	for (i = 0; i < pv->n; i++) {
		struct pat p = pv->v[i];

		if (!haswild(p.pat))
			m->exact[ne++] = p;
		else if (p.pat[0] == '*' && p.pat[1] == '@' &&
		    !haswild(p.pat + 2)) {
			memmove(p.pat, p.pat + 2, strlen(p.pat + 2) + 1);
			m->dom[nd++] = p;
		} else
			m->glob[ng++] = p;
	}
	m->nexact = ne;
	m->ndom = nd;
	m->nglob = ng;
	qsort(m->exact, ne, sizeof(struct pat), patcmp);
	qsort(m->dom, nd, sizeof(struct pat), patcmp);
done:
	free(pv->v);
	memset(pv, 0, sizeof(*pv));
	return 0;
}

typedef int (*pat_ok_fn)(const struct pat *, const void *ctx);

/* First index in sorted v whose pat is >= key. */
static size_t
lower_bound(const struct pat *v, size_t n, const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].pat, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* 1 if addr (lower case) matches an entry for which ok() agrees. */
static int
matcher_match(const struct matcher *m, const char *addr, pat_ok_fn ok,
    const void *ctx)
{
	const char *at;
	size_t i;

	for (i = lower_bound(m->exact, m->nexact, addr);
	    i < m->nexact && strcmp(m->exact[i].pat, addr) == 0; i++)
		if (ok == NULL || ok(&m->exact[i], ctx))
			return 1;
	if ((at = strrchr(addr, '@')) != NULL) {
		at++;
		for (i = lower_bound(m->dom, m->ndom, at);
		    i < m->ndom && strcmp(m->dom[i].pat, at) == 0; i++)
			if (ok == NULL || ok(&m->dom[i], ctx))
				return 1;
	}
	for (i = 0; i < m->nglob; i++)
		if (glob_match(m->glob[i].pat, addr) &&
		    (ok == NULL || ok(&m->glob[i], ctx)))
			return 1;
	return 0;
}

/*
 * Address as the lists see it: white space and one pair of <> stripped,
 * lower case.  Returns 0, or -1 if empty or too long.
 */
static int
norm_addr(const char *a, char *out, size_t outlen)
{
	size_t n, i;

	if (a == NULL)
		return -1;
	while (isspc((unsigned char)*a))
		a++;
	n = strlen(a);
	while (n > 0 && isspc((unsigned char)a[n - 1]))
		n--;
	if (n > 0 && a[0] == '<') {
		a++;
		n--;
	}
	if (n > 0 && a[n - 1] == '>')
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (char)lc((unsigned char)a[i]);
	out[n] = '\0';
	return 0;
}

/* ---- our own sender lists ---------------------------------------- */

struct spam_list {
	struct matcher	 m;
	size_t		 n;
};

static int
listsep(int c)
{
	return isspc(c) || c == ',';
}

/* Checks and adds one token; -1 with err set.  where: "" or "file:N: ". */
static int
list_token(struct patvec *pv, const char *t, size_t n, const char *where,
    char *err, size_t errlen)
{
	char buf[ADDR_MAX + 3];
	size_t i;

	if (n > ADDR_MAX) {
		seterr(err, errlen, "%spattern too long", where);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c < 0x21 || c == 0x7f || c == '<' || c == '>' ||
		    c == '"') {
			seterr(err, errlen, "%sbad character 0x%02x in pattern",
			    where, c);
			return -1;
		}
	}
	if (t[0] == '@') {
		/* "@domain" is "*@domain". */
		buf[0] = '*';
		memcpy(buf + 1, t, n);
		n++;
	} else
		memcpy(buf, t, n);
	buf[n] = '\0';
	if (strchr(buf, '@') == NULL && !haswild(buf)) {
		seterr(err, errlen, "%spattern \"%.*s\" has no @ "
		    "(use *@%.*s)", where, (int)n, buf, (int)n, buf);
		return -1;
	}
	if (pv->n >= LIST_ENTRIES_MAX) {
		seterr(err, errlen, "%stoo many patterns", where);
		return -1;
	}
	if (patvec_add(pv, buf, n, NULL, 0) == -1) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
list_tokens(struct patvec *pv, const char *s, size_t n, const char *where,
    char *err, size_t errlen)
{
	size_t i = 0, j;

	for (;;) {
		while (i < n && listsep((unsigned char)s[i]))
			i++;
		if (i >= n)
			return 0;
		for (j = i; j < n && !listsep((unsigned char)s[j]); j++)
			;
		if (list_token(pv, s + i, j - i, where, err, errlen) == -1)
			return -1;
		i = j;
	}
}

static int
list_file(struct patvec *pv, const char *path, char *err, size_t errlen)
{
	char where[PATH_MAX + 32];
	char *line = NULL, *hash;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	FILE *fp;
	int rc = 0;

	if ((fp = fopen(path, "re")) == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		(void)snprintf(where, sizeof(where), "%s:%zu: ", path, lineno);
		if (memchr(line, '\0', (size_t)n) != NULL) {
			seterr(err, errlen, "%sNUL byte", where);
			rc = -1;
			break;
		}
		if ((hash = memchr(line, '#', (size_t)n)) != NULL)
			n = hash - line;
		if (list_tokens(pv, line, (size_t)n, where, err,
		    errlen) == -1) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(fp)) {
		seterr(err, errlen, "%s: read error", path);
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}

struct spam_list *
spam_list_new(const char *spec, char *err, size_t errlen)
{
	struct patvec pv = { NULL, 0, 0 };
	struct spam_list *l;
	size_t i = 0, j, n;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	n = spec == NULL ? 0 : strlen(spec);
	while (i < n) {
		while (i < n && listsep((unsigned char)spec[i]))
			i++;
		if (i >= n)
			break;
		for (j = i; j < n && !listsep((unsigned char)spec[j]); j++)
			;
		if (j - i > 5 && strncasecmp(spec + i, "file:", 5) == 0) {
			char path[PATH_MAX];

			if (j - i - 5 >= sizeof(path)) {
				seterr(err, errlen, "file name too long");
				goto fail;
			}
			memcpy(path, spec + i + 5, j - i - 5);
			path[j - i - 5] = '\0';
			if (list_file(&pv, path, err, errlen) == -1)
				goto fail;
		} else if (list_token(&pv, spec + i, j - i, "", err,
		    errlen) == -1)
			goto fail;
		i = j;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	l->n = pv.n;
	if (matcher_build(&l->m, &pv) == -1) {
		free(l);
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	return l;
fail:
	pats_free(pv.v, pv.n);
	return NULL;
}

int
spam_list_match(const struct spam_list *l, const char *addr)
{
	char a[ADDR_MAX + 1];

	if (l == NULL || norm_addr(addr, a, sizeof(a)) == -1)
		return 0;
	return matcher_match(&l->m, a, NULL, NULL);
}

size_t
spam_list_count(const struct spam_list *l)
{
	return l == NULL ? 0 : l->n;
}

void
spam_list_free(struct spam_list *l)
{
	if (l == NULL)
		return;
	matcher_free(&l->m);
	free(l);
}

/* ---- SpamAssassin lists ------------------------------------------ */

enum sa_kind { SA_WELCOME, SA_BLOCK, SA_RCVD, SA_NKIND };

struct sa_op {
	enum sa_kind	 kind;
	int		 remove;
	size_t		 seq;
	char		*pat;		/* lower case */
	char		*dom;		/* SA_RCVD adds only */
};

struct sa_load {
	struct sa_op	*ops;
	size_t		 nops, cap;
	int		 full;		/* SA_ENTRIES_MAX reached */
	char		*err;
	size_t		 errlen;
};

struct spam_sa {
	struct matcher	 m[SA_NKIND];
	size_t		 count;
};

static void
sa_err(struct sa_load *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keeps the first problem only. */
static void
sa_err(struct sa_load *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err == NULL || ld->errlen == 0 || ld->err[0] != '\0')
		return;
	va_start(ap, fmt);
	(void)vsnprintf(ld->err, ld->errlen, fmt, ap);
	va_end(ap);
}

static char *
lcdup(const char *s, size_t n)
{
	char *p;
	size_t i;

	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		p[i] = (char)lc((unsigned char)s[i]);
	p[n] = '\0';
	return p;
}

/* -1 only on ENOMEM. */
static int
sa_op_add(struct sa_load *ld, enum sa_kind kind, int remove,
    const char *pat, size_t plen, const char *dom, size_t dlen,
    const char *file, size_t lineno)
{
	struct sa_op *op;
	size_t i;

	if (plen == 0 || plen > ADDR_MAX || dlen > ADDR_MAX) {
		sa_err(ld, "%s:%zu: address too long", file, lineno);
		return 0;
	}
	for (i = 0; i < plen; i++)
		if ((unsigned char)pat[i] < 0x21 || pat[i] == 0x7f) {
			sa_err(ld, "%s:%zu: bad byte in address", file, lineno);
			return 0;
		}
	if (ld->nops >= SA_ENTRIES_MAX) {
		if (!ld->full)
			sa_err(ld, "%s:%zu: more than %d list entries, "
			    "rest ignored", file, lineno, SA_ENTRIES_MAX);
		ld->full = 1;
		return 0;
	}
	if (ld->nops == ld->cap) {
		size_t ncap = ld->cap ? ld->cap * 2 : 64;

		op = reallocarray(ld->ops, ncap, sizeof(*op));
		if (op == NULL)
			return -1;
		ld->ops = op;
		ld->cap = ncap;
	}
	op = &ld->ops[ld->nops];
	op->kind = kind;
	op->remove = remove;
	op->seq = ld->nops;
	op->dom = NULL;
	if ((op->pat = lcdup(pat, plen)) == NULL)
		return -1;
	if (dom != NULL) {
		if ((op->dom = lcdup(dom, dlen)) == NULL) {
			free(op->pat);
			return -1;
		}
		while (dlen > 0 && op->dom[dlen - 1] == '.')
			op->dom[--dlen] = '\0';
	}
	ld->nops++;
	return 0;
}

struct tok {
	const char	*p;
	size_t		 n;
};

static const struct {
	const char	*name;
	enum sa_kind	 kind;
	int		 remove;
} sa_cmds[] = {
	{ "welcomelist_from",		SA_WELCOME,	0 },
	{ "whitelist_from",		SA_WELCOME,	0 },
	{ "blocklist_from",		SA_BLOCK,	0 },
	{ "blacklist_from",		SA_BLOCK,	0 },
	{ "unwelcomelist_from",		SA_WELCOME,	1 },
	{ "unwhitelist_from",		SA_WELCOME,	1 },
	{ "unblocklist_from",		SA_BLOCK,	1 },
	{ "unblacklist_from",		SA_BLOCK,	1 },
	{ "welcomelist_from_rcvd",	SA_RCVD,	0 },
	{ "whitelist_from_rcvd",	SA_RCVD,	0 },
	{ "unwelcomelist_from_rcvd",	SA_RCVD,	1 },
	{ "unwhitelist_from_rcvd",	SA_RCVD,	1 },
};

static int sa_load_path(struct sa_load *, const char *, int depth);

/* One line, without its newline.  -1 only on ENOMEM. */
static int
sa_line(struct sa_load *ld, const char *file, size_t lineno,
    const char *s, size_t n, int depth)
{
	struct tok t[3];
	size_t i, j, nt, k;

	/* Comments: an unescaped '#' (SA's Conf/Parser.pm). */
	for (i = 0; i < n; i++)
		if (s[i] == '#' && (i == 0 || s[i - 1] != '\\')) {
			n = i;
			break;
		}
	while (n > 0 && isspc((unsigned char)s[n - 1]))
		n--;
	i = 0;
	while (i < n && isspc((unsigned char)s[i]))
		i++;
	if (i >= n)
		return 0;
	if (memchr(s + i, '\0', n - i) != NULL) {
		sa_err(ld, "%s:%zu: NUL byte, line ignored", file, lineno);
		return 0;
	}
	for (j = i; j < n && !isspc((unsigned char)s[j]); j++)
		;
	t[0].p = s + i;
	t[0].n = j - i;
	i = j;
	while (i < n && isspc((unsigned char)s[i]))
		i++;

	if (t[0].n == 7 && strncasecmp(t[0].p, "include", 7) == 0) {
		char path[PATH_MAX];
		const char *slash;
		int len;

		if (i >= n)
			return 0;
		if (depth >= SA_DEPTH_MAX) {
			sa_err(ld, "%s:%zu: include nested too deep", file,
			    lineno);
			return 0;
		}
		slash = strrchr(file, '/');
		if (s[i] == '/' || slash == NULL)
			len = snprintf(path, sizeof(path), "%.*s",
			    (int)(n - i), s + i);
		else
			len = snprintf(path, sizeof(path), "%.*s/%.*s",
			    (int)(slash - file), file, (int)(n - i), s + i);
		if (len < 0 || (size_t)len >= sizeof(path)) {
			sa_err(ld, "%s:%zu: include path too long", file,
			    lineno);
			return 0;
		}
		return sa_load_path(ld, path, depth + 1);
	}

	for (k = 0; k < sizeof(sa_cmds) / sizeof(sa_cmds[0]); k++)
		if (strlen(sa_cmds[k].name) == t[0].n &&
		    strncasecmp(sa_cmds[k].name, t[0].p, t[0].n) == 0)
			break;
	if (k == sizeof(sa_cmds) / sizeof(sa_cmds[0]))
		return 0;		/* not a list line */

	if (sa_cmds[k].kind == SA_RCVD && !sa_cmds[k].remove) {
		/* welcomelist_from_rcvd addr domain */
		for (nt = 1; nt < 3 && i < n; nt++) {
			for (j = i; j < n && !isspc((unsigned char)s[j]); j++)
				;
			t[nt].p = s + i;
			t[nt].n = j - i;
			i = j;
			while (i < n && isspc((unsigned char)s[i]))
				i++;
		}
		if (nt != 3 || i < n) {
			sa_err(ld, "%s:%zu: %.*s needs an address and a domain",
			    file, lineno, (int)t[0].n, t[0].p);
			return 0;
		}
		return sa_op_add(ld, SA_RCVD, 0, t[1].p, t[1].n, t[2].p,
		    t[2].n, file, lineno);
	}
	while (i < n) {
		for (j = i; j < n && !isspc((unsigned char)s[j]); j++)
			;
		if (sa_op_add(ld, sa_cmds[k].kind, sa_cmds[k].remove, s + i,
		    j - i, NULL, 0, file, lineno) == -1)
			return -1;
		i = j;
		while (i < n && isspc((unsigned char)s[i]))
			i++;
	}
	return 0;
}

static int
sa_load_file(struct sa_load *ld, const char *path, int depth)
{
	char *data;
	size_t len = 0, lineno = 0, i, e;
	ssize_t r;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		if (errno != ENOENT)
			sa_err(ld, "%s: %s", path, strerror(errno));
		return 0;
	}
	if ((data = malloc(SA_FILE_MAX)) == NULL) {
		close(fd);
		return -1;
	}
	while (len < SA_FILE_MAX) {
		r = read(fd, data + len, SA_FILE_MAX - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			sa_err(ld, "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len == SA_FILE_MAX) {
		char c;

		if (read(fd, &c, 1) == 1) {
			sa_err(ld, "%s: larger than %d bytes, cut short",
			    path, SA_FILE_MAX);
			/* Drop the partial last line. */
			while (len > 0 && data[len - 1] != '\n')
				len--;
		}
	}
	close(fd);
	for (i = 0; i < len && rc == 0; i = e + 1) {
		const char *nl = memchr(data + i, '\n', len - i);

		e = nl == NULL ? len : (size_t)(nl - data);
		lineno++;
		rc = sa_line(ld, path, lineno, data + i, e - i, depth);
	}
	free(data);
	return rc;
}

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
endswith(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

/* Sorted names of dir's entries; *n set.  NULL with *n 0 if none. */
static char **
dir_names(const char *dir, size_t *n)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL, **nv;
	size_t cap = 0;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			if (cap > 100000 ||
			    (nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				break;
			v = nv;
		}
		if ((v[*n] = strdup(de->d_name)) == NULL)
			break;
		(*n)++;
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), namecmp);
	return v;
}

static void
names_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A directory: its *.pre files, then its *.cf files, each by name. */
static int
sa_load_dir(struct sa_load *ld, const char *dir, int depth)
{
	static const char *const sufs[] = { ".pre", ".cf" };
	char path[PATH_MAX];
	char **v;
	size_t n, i, k;
	int rc = 0, len;
	struct stat st;

	v = dir_names(dir, &n);
	for (k = 0; k < 2 && rc == 0; k++)
		for (i = 0; i < n && rc == 0; i++) {
			if (!endswith(v[i], sufs[k]))
				continue;
			len = snprintf(path, sizeof(path), "%s/%s", dir, v[i]);
			if (len < 0 || (size_t)len >= sizeof(path))
				continue;
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				rc = sa_load_file(ld, path, depth);
		}
	names_free(v, n);
	return rc;
}

/* Every directory at and below base holding rest: load base/.../rest. */
static int
sa_walk(struct sa_load *ld, const char *base, const char *rest, int depth,
    int level)
{
	char path[PATH_MAX];
	char **v;
	size_t n, i;
	int rc = 0, len;
	struct stat st;

	len = snprintf(path, sizeof(path), "%s/%s", base, rest);
	if (len > 0 && (size_t)len < sizeof(path) && stat(path, &st) == 0)
		rc = sa_load_path(ld, path, depth);
	if (rc != 0 || level >= SA_WALK_MAX)
		return rc;
	v = dir_names(base, &n);
	for (i = 0; i < n && rc == 0; i++) {
		len = snprintf(path, sizeof(path), "%s/%s", base, v[i]);
		if (len < 0 || (size_t)len >= sizeof(path))
			continue;
		/* lstat: never follow links down, so no loops. */
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = sa_walk(ld, path, rest, depth, level + 1);
	}
	names_free(v, n);
	return rc;
}

static int
sa_load_path(struct sa_load *ld, const char *path, int depth)
{
	const char *star;
	struct stat st;

	/* A path component that is just a star: "base/STAR/rest". */
	for (star = strchr(path, '*'); star != NULL;
	    star = strchr(star + 1, '*'))
		if ((star == path || star[-1] == '/') &&
		    (star[1] == '/' || star[1] == '\0'))
			break;
	if (star != NULL) {
		char base[PATH_MAX];
		size_t bl = (size_t)(star - path);

		if (bl >= sizeof(base))
			return 0;
		memcpy(base, path, bl);
		base[bl] = '\0';
		while (bl > 1 && base[bl - 1] == '/')
			base[--bl] = '\0';
		if (bl == 0) {
			base[0] = '/';
			base[1] = '\0';
		}
		if (star[1] == '\0')
			return sa_load_dir(ld, base, depth);
		return sa_walk(ld, base, star + 2, depth, 0);
	}
	if (stat(path, &st) == -1)
		return 0;		/* missing paths are skipped */
	if (S_ISDIR(st.st_mode))
		return sa_load_dir(ld, path, depth);
	if (S_ISREG(st.st_mode))
		return sa_load_file(ld, path, depth);
	return 0;
}

static int
opcmp(const void *a, const void *b)
{
	const struct sa_op *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if ((c = strcmp(x->pat, y->pat)) != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct spam_sa *
spam_sa_load(const char *search, char *err, size_t errlen)
{
	struct sa_load ld;
	struct patvec pv[SA_NKIND];
	struct spam_sa *sa = NULL;
	char path[PATH_MAX];
	size_t i, j, g, last, n, k;
	int rc = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(&ld, 0, sizeof(ld));
	memset(pv, 0, sizeof(pv));
	ld.err = err;
	ld.errlen = errlen;
	if (search == NULL)
		search = SPAM_SA_DEFAULT_SEARCH;
	n = strlen(search);
	for (i = 0; i < n && rc == 0; i = j) {
		while (i < n && isspc((unsigned char)search[i]))
			i++;
		for (j = i; j < n && !isspc((unsigned char)search[j]); j++)
			;
		if (j == i || j - i >= sizeof(path))
			continue;
		memcpy(path, search + i, j - i);
		path[j - i] = '\0';
		rc = sa_load_path(&ld, path, 0);
	}
	if (rc != 0)
		goto fail;

	/*
	 * SA keeps each list as a hash keyed by the lower-case address: the
	 * un* commands delete a key, a later add puts it back.  So for each
	 * (list, address) only the adds after the last removal count.
	 */
	if (ld.nops > 0)
		qsort(ld.ops, ld.nops, sizeof(*ld.ops), opcmp);
	for (g = 0; g < ld.nops; g = k) {
		last = g;
		for (k = g; k < ld.nops && ld.ops[k].kind == ld.ops[g].kind &&
		    strcmp(ld.ops[k].pat, ld.ops[g].pat) == 0; k++)
			if (ld.ops[k].remove)
				last = k + 1;
		for (i = last; i < k; i++) {
			struct sa_op *op = &ld.ops[i];

			if (op->kind != SA_RCVD) {
				/* Duplicates of a plain entry add nothing. */
				if (i > last)
					continue;
			}
			if (patvec_add(&pv[op->kind], op->pat, strlen(op->pat),
			    op->dom, op->dom ? strlen(op->dom) : 0) == -1)
				goto fail;
		}
	}
	if ((sa = calloc(1, sizeof(*sa))) == NULL)
		goto fail;
	for (k = 0; k < SA_NKIND; k++) {
		sa->count += pv[k].n;
		if (matcher_build(&sa->m[k], &pv[k]) == -1)
			goto fail;
	}
	for (i = 0; i < ld.nops; i++) {
		free(ld.ops[i].pat);
		free(ld.ops[i].dom);
	}
	free(ld.ops);
	return sa;
fail:
	seterr(err, errlen, "out of memory");
	for (i = 0; i < ld.nops; i++) {
		free(ld.ops[i].pat);
		free(ld.ops[i].dom);
	}
	free(ld.ops);
	for (k = 0; k < SA_NKIND; k++)
		pats_free(pv[k].v, pv[k].n);
	spam_sa_free(sa);
	return NULL;
}

/* _rcvd: the relay's name is the domain or ends with "." domain. */
static int
rcvd_ok(const struct pat *p, const void *ctx)
{
	const char *relay = ctx;
	size_t rl, dl;

	if (relay == NULL || p->aux == NULL || p->aux[0] == '\0')
		return 0;
	rl = strlen(relay);
	dl = strlen(p->aux);
	if (rl == dl)
		return strcmp(relay, p->aux) == 0;
	return rl > dl && relay[rl - dl - 1] == '.' &&
	    strcmp(relay + rl - dl, p->aux) == 0;
}

/*
 * In SA, USER_IN_WELCOMELIST (-100) and USER_IN_BLOCKLIST (+100) would
 * cancel out and leave the verdict to the other rules.  A fast path must
 * answer without them, so we choose: welcome wins, block applies only when
 * no welcome entry matched (an admin who welcomes a sender and blocks its
 * domain means the exception).
 */
enum spam_sa_verdict
spam_sa_check(const struct spam_sa *sa, const char *const *addrs,
    size_t naddrs, const char *relay_host)
{
	char a[ADDR_MAX + 1], relay[256];
	const char *rp = NULL;
	size_t i, n;
	int block = 0;

	if (sa == NULL || sa->count == 0)
		return SPAM_SA_NONE;
	if (relay_host != NULL && (n = strlen(relay_host)) > 0 &&
	    n < sizeof(relay)) {
		for (i = 0; i < n; i++)
			relay[i] = (char)lc((unsigned char)relay_host[i]);
		while (n > 0 && relay[n - 1] == '.')
			n--;
		relay[n] = '\0';
		/* sendmail's "[192.0.2.1]" for hosts without a name. */
		if (n > 2 && relay[0] == '[' && relay[n - 1] == ']') {
			memmove(relay, relay + 1, n - 2);
			relay[n - 2] = '\0';
		}
		rp = relay;
	}
	for (i = 0; i < naddrs; i++) {
		if (norm_addr(addrs[i], a, sizeof(a)) == -1)
			continue;
		if (matcher_match(&sa->m[SA_WELCOME], a, NULL, NULL) ||
		    matcher_match(&sa->m[SA_RCVD], a, rcvd_ok, rp))
			return SPAM_SA_WELCOME;
		if (matcher_match(&sa->m[SA_BLOCK], a, NULL, NULL))
			block = 1;
	}
	return block ? SPAM_SA_BLOCK : SPAM_SA_NONE;
}

size_t
spam_sa_count(const struct spam_sa *sa)
{
	return sa == NULL ? 0 : sa->count;
}

const char *
spam_sa_verdict_str(enum spam_sa_verdict v)
{
	switch (v) {
	case SPAM_SA_NONE:
		return "none";
	case SPAM_SA_WELCOME:
		return "welcomelist";
	case SPAM_SA_BLOCK:
		return "blocklist";
	}
	return "?";
}

void
spam_sa_free(struct spam_sa *sa)
{
	size_t k;

	if (sa == NULL)
		return;
	for (k = 0; k < SA_NKIND; k++)
		matcher_free(&sa->m[k]);
	free(sa);
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

struct spam_weights {
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
ac_child(const struct spam_weights *w, int s, unsigned char c)
{
	int t;

	for (t = w->ac[s].child; t != -1; t = w->ac[t].sibling)
		if (w->ac[t].c == c)
			return t;
	return -1;
}

static int
ac_newnode(struct spam_weights *w, int parent, unsigned char c)
{
	struct acnode *n;
	int id;

	if (w->nac == w->acap) {
		size_t ncap = w->acap ? w->acap * 2 : 256;

		if ((n = reallocarray(w->ac, ncap, sizeof(*n))) == NULL)
			return -1;
		w->ac = n;
		w->acap = ncap;
	}
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

		if (isspc(c)) {
			if (!sp && o < max)
				out[o++] = ' ';
			sp = 1;
			continue;
		}
		sp = 0;
		if (o >= max)
			return max + 1;
		out[o++] = (char)lc(c);
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	return o;
}

/* Adds or (same text) re-weights a phrase.  -1: ENOMEM. */
static int
weights_phrase(struct spam_weights *w, const char *t, size_t n, double wt,
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
ac_build(struct spam_weights *w)
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
		v = lc(u);
		w->cls[u] = id[isspc(v) || v == 0 ? ' ' : v];
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
spam_weights_free(struct spam_weights *w)
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
weights_line(struct spam_weights *w, const char *s, size_t n,
    const char *file, size_t lineno, char *err, size_t errlen)
{
	char norm[PHRASE_MAX + 1];
	size_t i = 0, j, k, used;
	double v;

	if (memchr(s, '\0', n) != NULL) {
		seterr(err, errlen, "%s:%zu: NUL byte", file, lineno);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (s[i] == '#') {
			n = i;
			break;
		}
	i = 0;
	while (i < n && isspc((unsigned char)s[i]))
		i++;
	if (i >= n)
		return 0;
	for (j = i; j < n && !isspc((unsigned char)s[j]); j++)
		;
	if (j - i == 6 && strncasecmp(s + i, "phrase", 6) == 0) {
		for (i = j; i < n && isspc((unsigned char)s[i]); i++)
			;
		used = parse_num(s + i, n - i, &v);
		if (used == 0 || (i + used < n &&
		    !isspc((unsigned char)s[i + used]))) {
			seterr(err, errlen, "%s:%zu: bad weight", file, lineno);
			return -1;
		}
		k = norm_phrase(s + i + used, n - i - used, norm,
		    sizeof(norm) - 1);
		if (k == 0) {
			seterr(err, errlen, "%s:%zu: empty phrase", file,
			    lineno);
			return -1;
		}
		if (k > PHRASE_MAX) {
			seterr(err, errlen, "%s:%zu: phrase longer than %d "
			    "bytes", file, lineno, PHRASE_MAX);
			return -1;
		}
		if (v < -1000 || v > 1000) {
			seterr(err, errlen, "%s:%zu: weight out of range",
			    file, lineno);
			return -1;
		}
		if (w->nph >= PHRASES_MAX) {
			seterr(err, errlen, "%s:%zu: more than %d phrases",
			    file, lineno, PHRASES_MAX);
			return -1;
		}
		if (weights_phrase(w, norm, k, v, -1) == -1) {
			seterr(err, errlen, "out of memory");
			return -1;
		}
		return 0;
	}
	if (j - i == 7 && strncasecmp(s + i, "feature", 7) == 0) {
		struct tok t[2];

		for (k = 0; k < 2; k++) {
			for (i = j; i < n && isspc((unsigned char)s[i]); i++)
				;
			for (j = i; j < n && !isspc((unsigned char)s[j]); j++)
				;
			t[k].p = s + i;
			t[k].n = j - i;
		}
		for (i = j; i < n && isspc((unsigned char)s[i]); i++)
			;
		if (t[1].n == 0 || i < n) {
			seterr(err, errlen, "%s:%zu: usage: feature NAME "
			    "weight", file, lineno);
			return -1;
		}
		for (k = 0; k < F_NFEAT; k++)
			if (strlen(feat_def[k].name) == t[0].n &&
			    strncasecmp(feat_def[k].name, t[0].p, t[0].n) == 0)
				break;
		if (k == F_NFEAT) {
			seterr(err, errlen, "%s:%zu: unknown feature \"%.*s\"",
			    file, lineno, (int)(t[0].n > 40 ? 40 : t[0].n),
			    t[0].p);
			return -1;
		}
		if (parse_num(t[1].p, t[1].n, &v) != t[1].n ||
		    v < -1000 || v > 10000) {
			seterr(err, errlen, "%s:%zu: bad weight", file, lineno);
			return -1;
		}
		w->feat[k] = v;
		return 0;
	}
	seterr(err, errlen, "%s:%zu: unknown keyword \"%.*s\"", file, lineno,
	    (int)(j - i > 40 ? 40 : j - i), s + i);
	return -1;
}

struct spam_weights *
spam_weights_load(const char *file, char *err, size_t errlen)
{
	struct spam_weights *w;
	const char *text, *name;
	char *data = NULL;
	size_t len = 0, i, e, lineno = 0, k;
	FILE *fp;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	for (k = 0; k < F_NFEAT; k++)
		w->feat[k] = feat_def[k].w;
	{
		char g[sizeof(gtube)];

		for (k = 0; k < sizeof(gtube); k++)
			g[k] = (char)lc((unsigned char)gtube[k]);
		if (ac_newnode(w, -1, 0) == -1 ||
		    weights_phrase(w, g, sizeof(gtube) - 1, 0, F_GTUBE) == -1) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (file == NULL) {
		text = default_weights;
		len = sizeof(default_weights) - 1;
		name = "(built-in)";
	} else {
		if ((fp = fopen(file, "re")) == NULL) {
			seterr(err, errlen, "%s: %s", file, strerror(errno));
			goto fail;
		}
		if ((data = malloc(WEIGHTS_FILE_MAX + 1)) == NULL) {
			fclose(fp);
			seterr(err, errlen, "out of memory");
			goto fail;
		}
		len = fread(data, 1, WEIGHTS_FILE_MAX + 1, fp);
		k = (size_t)ferror(fp);
		fclose(fp);
		if (k != 0 || len > WEIGHTS_FILE_MAX) {
			seterr(err, errlen, "%s: %s", file, k != 0 ?
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
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	free(data);
	return w;
fail:
	free(data);
	spam_weights_free(w);
	return NULL;
}

size_t
spam_weights_nphrases(const struct spam_weights *w)
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

struct spam_stats {
	const struct spam_weights *w;
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

struct spam_stats *
spam_stats_new(const struct spam_weights *w)
{
	struct spam_stats *st;

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
spam_stats_free(struct spam_stats *st)
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
ac_resolve(struct spam_stats *st, struct acrun *r, int s, int next)
{
	const struct spam_weights *w = st->w;
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
ac_feed(struct spam_stats *st, struct acrun *r, const unsigned char *d,
    size_t n)
{
	const struct spam_weights *w = st->w;
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
ac_emit(struct spam_stats *st, struct acrun *r, int c)
{
	unsigned char b = (unsigned char)c;

	ac_feed(st, r, &b, 1);
}

static void
ac_end(struct spam_stats *st, struct acrun *r)
{
	if (r->pend > 0)
		ac_resolve(st, r, r->pend, ' ');
	r->pend = 0;
}

/* The byte before HRING-relative offset back (1 = last byte). */
static int
hring_at(const struct spam_stats *st, size_t back)
{
	if (back > st->hpos || back > HRING)
		return ' ';
	return st->hring[(st->hpos - back) & (HRING - 1)];
}

static void
hid_resolve(struct spam_stats *st, int next)
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
hid_byte(struct spam_stats *st, int c)
{
	size_t k, n, i;
	int pc;

	c = lc(c & 0xff);
	if (isspc(c) || c == '"' || c == '\'') {
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
url_byte(struct spam_stats *st, int is_html, int c)
{
	c = lc(c & 0xff);
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
url_scan(struct spam_stats *st, int is_html, const unsigned char *d, size_t n)
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
			st->uwin = (st->uwin << 8) | (unsigned char)lc(d[j]);
		if (p == NULL)
			break;
		url_byte(st, is_html, d[k]);
		i = k + 1;
	}
}

/* Text (not markup): letter counts and phrases. */
static void
text_run(struct spam_stats *st, const unsigned char *d, size_t n)
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
spam_stats_text(struct spam_stats *st, int is_html, const char *data,
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
		while (i < n && (isspc((unsigned char)s[i]) || s[i] == ','))
			i++;
		for (j = i; j < n && !isspc((unsigned char)s[j]) &&
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
		if (isspc((unsigned char)s[i - 1]) || s[i - 1] == '<' ||
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
spam_stats_header(struct spam_stats *st, const char *name, size_t nlen,
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
			if (!isspc((unsigned char)value[i]))
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
addfeat(struct spam_stats *st, struct buf *why, double *score,
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
spam_stats_finish(struct spam_stats *st, double *score, struct buf *why)
{
	const struct spam_weights *w;
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

/* ---- spamd client ------------------------------------------------ */

/* Waits for ev on fd until deadline.  1 ready, 0 timeout, -1 error. */
static int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int r;

	for (;;) {
		left = deadline - mc_now_ms();
		if (left <= 0)
			return 0;
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			return 0;
		return 1;
	}
}

/* Connects to one server.  fd, or -1 with err set. */
static int
spamd_connect(const char *server, int timeout_ms, char *err, size_t errlen)
{
	char host[256], port[16];
	struct addrinfo hints, *res = NULL, *ai;
	const char *p, *colon;
	int64_t deadline = mc_now_ms() + timeout_ms;
	int fd = -1, r, soerr, one = 1, last = 0, gerr;
	socklen_t sl;

	if (strncmp(server, "unix:", 5) == 0) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(server + 5) == 0 ||
		    strlen(server + 5) >= sizeof(sun.sun_path)) {
			seterr(err, errlen, "config: bad socket path");
			return -1;
		}
		memcpy(sun.sun_path, server + 5, strlen(server + 5));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (fd == -1) {
			seterr(err, errlen, "connect: %s", strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			seterr(err, errlen, "connect: %s", strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	}

	if (server[0] == '[') {
		if ((p = strchr(server, ']')) == NULL ||
		    (size_t)(p - server - 1) >= sizeof(host))
			goto bad;
		memcpy(host, server + 1, (size_t)(p - server - 1));
		host[p - server - 1] = '\0';
		if (p[1] == '\0')
			colon = NULL;
		else if (p[1] == ':')
			colon = p + 1;
		else
			goto bad;
	} else {
		colon = strrchr(server, ':');
		if (colon != NULL && strchr(server, ':') != colon)
			goto bad;	/* bare IPv6 needs [] */
		r = colon ? (int)(colon - server) : (int)strlen(server);
		if (r <= 0 || (size_t)r >= sizeof(host))
			goto bad;
		memcpy(host, server, (size_t)r);
		host[r] = '\0';
	}
	if (colon == NULL)
		memcpy(port, "783", 4);
	else {
		size_t pl = strlen(colon + 1);

		if (pl == 0 || pl >= sizeof(port) ||
		    strspn(colon + 1, "0123456789") != pl)
			goto bad;
		memcpy(port, colon + 1, pl + 1);
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((gerr = getaddrinfo(host, port, &hints, &res)) != 0) {
		seterr(err, errlen, "resolve: %s", gai_strerror(gerr));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			last = errno;
			close(fd);
			fd = -1;
			continue;
		}
		r = wait_fd(fd, POLLOUT, deadline);
		if (r == 1) {
			sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &sl) == -1)
				soerr = errno;
			if (soerr == 0)
				break;
			last = soerr;
		} else
			last = r == 0 ? ETIMEDOUT : errno;
		close(fd);
		fd = -1;
		if (r == 0)
			break;		/* the deadline is per server */
	}
	freeaddrinfo(res);
	if (fd == -1) {
		if (last == ETIMEDOUT)
			seterr(err, errlen, "timeout: connect");
		else
			seterr(err, errlen, "connect: %s", strerror(last));
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
bad:
	seterr(err, errlen, "config: bad server \"%.64s\"", server);
	return -1;
}

/* 0, or -1 with err set. */
static int
send_all(int fd, const char *p, size_t n, int64_t deadline, char *err,
    size_t errlen)
{
	ssize_t w;
	int r;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = wait_fd(fd, POLLOUT, deadline)) == 1)
				continue;
			if (r == 0)
				seterr(err, errlen, "timeout");
			else
				seterr(err, errlen, "send: %s",
				    strerror(errno));
			return -1;
		}
		seterr(err, errlen, "send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* "Spam: True ; 15.0 / 5.0".  0, or -1. */
static int
parse_spam_value(const char *s, size_t n, struct spam_spamd_result *res)
{
	size_t i = 0, j, u;

	while (i < n && isspc((unsigned char)s[i]))
		i++;
	for (j = i; j < n && isalpha((unsigned char)s[j]); j++)
		;
	if ((j - i == 4 && strncasecmp(s + i, "true", 4) == 0) ||
	    (j - i == 3 && strncasecmp(s + i, "yes", 3) == 0))
		res->is_spam = 1;
	else if ((j - i == 5 && strncasecmp(s + i, "false", 5) == 0) ||
	    (j - i == 2 && strncasecmp(s + i, "no", 2) == 0))
		res->is_spam = 0;
	else
		return -1;
	for (i = j; i < n && isspc((unsigned char)s[i]); i++)
		;
	if (i >= n || s[i] != ';')
		return -1;
	for (i++; i < n && isspc((unsigned char)s[i]); i++)
		;
	if ((u = parse_num(s + i, n - i, &res->score)) == 0)
		return -1;
	for (i += u; i < n && isspc((unsigned char)s[i]); i++)
		;
	if (i >= n || s[i] != '/')
		return -1;
	for (i++; i < n && isspc((unsigned char)s[i]); i++)
		;
	if ((u = parse_num(s + i, n - i, &res->threshold)) == 0)
		return -1;
	for (i += u; i < n && isspc((unsigned char)s[i]); i++)
		;
	return i == n ? 0 : -1;
}

/* Parses the reply header block.  0, or -1 with err set. */
static int
parse_reply(const char *r, size_t n, struct spam_spamd_result *res,
    char *err, size_t errlen)
{
	const char *nl, *line, *colon;
	size_t i = 0, ll, j, k, d;
	int first = 1, have_spam = 0;

	while (i < n) {
		line = r + i;
		nl = memchr(line, '\n', n - i);
		ll = nl ? (size_t)(nl - line) : n - i;
		i += ll + (nl != NULL);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (first) {
			/* SPAMD/1.1 0 EX_OK */
			first = 0;
			if (ll < 8 || memcmp(line, "SPAMD/", 6) != 0) {
				seterr(err, errlen, "protocol: not a spamd "
				    "reply");
				return -1;
			}
			for (j = 6; j < ll && (isdigit((unsigned char)line[j]) ||
			    line[j] == '.'); j++)
				;
			if (j == 6 || j >= ll || line[j] != ' ') {
				seterr(err, errlen, "protocol: bad status line");
				return -1;
			}
			for (k = ++j; k < ll && isdigit((unsigned char)line[k]);
			    k++)
				;
			if (k == j || k - j > 4) {
				seterr(err, errlen, "protocol: bad status line");
				return -1;
			}
			if (k - j != 1 || line[j] != '0') {
				seterr(err, errlen, "protocol: status %.*s",
				    (int)(k - j), line + j);
				return -1;
			}
			continue;
		}
		if (ll == 0)
			break;		/* end of headers */
		if ((colon = memchr(line, ':', ll)) == NULL) {
			seterr(err, errlen, "protocol: bad header line");
			return -1;
		}
		j = (size_t)(colon - line);
		if (j == 4 && strncasecmp(line, "Spam", 4) == 0) {
			if (have_spam++ || parse_spam_value(colon + 1,
			    ll - j - 1, res) == -1) {
				seterr(err, errlen, "protocol: bad Spam header");
				return -1;
			}
		} else if (j == 14 &&
		    strncasecmp(line, "Content-length", 14) == 0) {
			for (k = j + 1; k < ll && isspc((unsigned char)line[k]);
			    k++)
				;
			/* Bounded: the line need not be NUL-terminated. */
			for (d = k; d < ll && line[d] >= '0' && line[d] <= '9';
			    d++)
				;
			if (k == ll || d < ll || ll - k > 12) {
				seterr(err, errlen, "protocol: bad "
				    "Content-length");
				return -1;
			}
		}
	}
	if (first) {
		seterr(err, errlen, "protocol: empty reply");
		return -1;
	}
	if (!have_spam) {
		seterr(err, errlen, "protocol: no Spam header");
		return -1;
	}
	return 0;
}

int
spam_spamd_parse_reply(const char *r, size_t n, struct spam_spamd_result *res,
    char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(res, 0, sizeof(*res));
	if (parse_reply(r, n, res, err, errlen) == -1) {
		memset(res, 0, sizeof(*res));
		return -1;
	}
	return 0;
}

static int
spamd_one(const char *server, const struct spam_spamd_cfg *cfg,
    const char *user, const char *msg, size_t len,
    struct spam_spamd_result *res, char *err, size_t errlen)
{
	char hdr[512], *rb = NULL;
	size_t rl = 0;
	int64_t deadline;
	ssize_t r;
	int fd, n, w, rc = -1;
	int cto = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 2000;
	int rto = cfg->read_timeout_ms > 0 ? cfg->read_timeout_ms : 30000;

	if ((fd = spamd_connect(server, cto, err, errlen)) == -1)
		return -1;
	deadline = mc_now_ms() + rto;
	if (user != NULL && user[0] != '\0')
		n = snprintf(hdr, sizeof(hdr), "CHECK SPAMC/1.5\r\n"
		    "Content-length: %zu\r\nUser: %s\r\n\r\n", len, user);
	else
		n = snprintf(hdr, sizeof(hdr), "CHECK SPAMC/1.5\r\n"
		    "Content-length: %zu\r\n\r\n", len);
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		seterr(err, errlen, "config: request header too long");
		goto out;
	}
	if (send_all(fd, hdr, (size_t)n, deadline, err, errlen) == -1 ||
	    send_all(fd, msg, len, deadline, err, errlen) == -1)
		goto out;
	(void)shutdown(fd, SHUT_WR);

	if ((rb = malloc(SPAMD_HDR_MAX + 1)) == NULL) {
		seterr(err, errlen, "out of memory");
		goto out;
	}
	for (;;) {
		if (rl >= SPAMD_HDR_MAX) {
			seterr(err, errlen, "protocol: reply headers too long");
			goto out;
		}
		r = recv(fd, rb + rl, SPAMD_HDR_MAX - rl, 0);
		if (r > 0) {
			size_t from = rl > 3 ? rl - 3 : 0;

			rl += (size_t)r;
			rb[rl] = '\0';
			/* End of the header block? */
			if (memmem(rb + from, rl - from, "\r\n\r\n", 4) ||
			    memmem(rb + (from ? from + 1 : 0),
			    rl - (from ? from + 1 : 0), "\n\n", 2))
				break;
			continue;
		}
		if (r == 0)
			break;		/* EOF ends the headers too */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((w = wait_fd(fd, POLLIN, deadline)) == 1)
				continue;
			if (w == 0)
				seterr(err, errlen, "timeout");
			else
				seterr(err, errlen, "recv: %s",
				    strerror(errno));
			goto out;
		}
		seterr(err, errlen, "recv: %s", strerror(errno));
		goto out;
	}
	if (parse_reply(rb, rl, res, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	free(rb);
	close(fd);
	return rc;
}

int
spam_spamd_check(const struct spam_spamd_cfg *cfg, const char *user,
    const char *msg, size_t len, struct spam_spamd_result *res, char *err,
    size_t errlen)
{
	char u[256], why[200];
	size_t i, n = 0, max;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(res, 0, sizeof(*res));
	if (cfg == NULL || cfg->nservers == 0 || cfg->servers == NULL) {
		seterr(err, errlen, "config: no spamd server");
		return -1;
	}
	/* User: printable ASCII without spaces, at most 255 bytes. */
	for (i = 0; user != NULL && user[i] != '\0' && n < sizeof(u) - 1; i++)
		if ((unsigned char)user[i] > 0x20 &&
		    (unsigned char)user[i] < 0x7f)
			u[n++] = user[i];
	u[n] = '\0';
	max = cfg->max_size > 0 ? cfg->max_size : SPAM_SPAMD_MAX_SIZE;
	if (msg == NULL)
		len = 0;
	if (len > max)
		len = max;
	for (i = 0; i < cfg->nservers; i++) {
		const char *s = cfg->servers[i];

		if (s == NULL)
			continue;
		memset(res, 0, sizeof(*res));
		why[0] = '\0';
		if (spamd_one(s, cfg, u, msg, len, res, why,
		    sizeof(why)) == 0) {
			(void)snprintf(res->server, sizeof(res->server), "%s",
			    s);
			return 0;
		}
		seterr(err, errlen, "%s (%.100s)", why, s);
	}
	memset(res, 0, sizeof(*res));
	return -1;
}
