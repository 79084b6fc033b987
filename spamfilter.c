/*
 * spamfilter.c -- the spam decision (spam_decide) and the sender lists
 * behind it (see spamfilter.h): our own lists (spam_list_*) and a fast
 * path over SpamAssassin's welcome/block lists (spam_sa_*), both on one
 * glob matcher.  The statistical checker is spamstats.c, the spamd client
 * spamd.c.  Names: the short prefix spam_ on every public name.
 * Ownership: lists and SA tables are immutable once built and may be
 * shared by threads.
 * Errors: into caller buffers; nothing here logs.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "conf.h"
#include "scan.h"
#include "smfopts.h"
#include "spamd.h"
#include "spamfilter.h"
#include "util.h"
#include "banned.h"

#define ADDR_MAX	320		/* longest address or pattern */
#define SA_FILE_MAX	(16 * 1024 * 1024)	/* bytes read per SA file */
#define SA_ENTRIES_MAX	100000		/* list lines kept, all files */
#define SA_DEPTH_MAX	10		/* include nesting */
#define SA_WALK_MAX	8		/* directory depth under a '*' */
#define LIST_ENTRIES_MAX 100000

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

	if ((np = buf_vec_grow(pv->v, &pv->cap, pv->n, sizeof(*np), 32)) ==
	    NULL)
		return -1;
	pv->v = np;
	np = &pv->v[pv->n];
	np->aux = NULL;
	if ((np->pat = malloc(plen + 1)) == NULL)
		return -1;
	for (i = 0; i < plen; i++)
		np->pat[i] = (char)util_lower((unsigned char)pat[i]);
	np->pat[plen] = '\0';
	if (aux != NULL) {
		if ((np->aux = malloc(alen + 1)) == NULL) {
			free(np->pat);
			return -1;
		}
		for (i = 0; i < alen; i++)
			np->aux[i] = (char)util_lower((unsigned char)aux[i]);
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

/* ---- our own sender lists ---------------------------------------- */

struct spam_list {
	struct matcher	 m;
	size_t		 n;
};

static int
listsep(int c)
{
	return util_isspace(c) || c == ',';
}

/* Checks and adds one token; -1 with err set.  where: "" or "file:N: ". */
static int
list_token(struct patvec *pv, const char *t, size_t n, const char *where,
    char *err, size_t errlen)
{
	char buf[ADDR_MAX + 3];
	size_t i;

	if (n > ADDR_MAX) {
		util_seterr(err, errlen, "%spattern too long", where);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c < 0x21 || c == 0x7f || c == '<' || c == '>' ||
		    c == '"') {
			util_seterr(err, errlen, "%sbad character 0x%02x in pattern",
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
		util_seterr(err, errlen, "%spattern \"%.*s\" has no @ "
		    "(use *@%.*s)", where, (int)n, buf, (int)n, buf);
		return -1;
	}
	if (pv->n >= LIST_ENTRIES_MAX) {
		util_seterr(err, errlen, "%stoo many patterns", where);
		return -1;
	}
	if (patvec_add(pv, buf, n, NULL, 0) == -1) {
		util_seterr(err, errlen, "out of memory");
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
		util_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		(void)snprintf(where, sizeof(where), "%s:%zu: ", path, lineno);
		if (memchr(line, '\0', (size_t)n) != NULL) {
			util_seterr(err, errlen, "%sNUL byte", where);
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
		util_seterr(err, errlen, "%s: read error", path);
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
				util_seterr(err, errlen, "file name too long");
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
		util_seterr(err, errlen, "out of memory");
		goto fail;
	}
	l->n = pv.n;
	if (matcher_build(&l->m, &pv) == -1) {
		free(l);
		util_seterr(err, errlen, "out of memory");
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

	if (l == NULL || util_norm_addr(addr, a, sizeof(a)) == -1)
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
		p[i] = (char)util_lower((unsigned char)s[i]);
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
	if ((op = buf_vec_grow(ld->ops, &ld->cap, ld->nops, sizeof(*op),
	    64)) == NULL)
		return -1;
	ld->ops = op;
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
	while (n > 0 && util_isspace((unsigned char)s[n - 1]))
		n--;
	i = 0;
	while (i < n && util_isspace((unsigned char)s[i]))
		i++;
	if (i >= n)
		return 0;
	if (memchr(s + i, '\0', n - i) != NULL) {
		sa_err(ld, "%s:%zu: NUL byte, line ignored", file, lineno);
		return 0;
	}
	for (j = i; j < n && !util_isspace((unsigned char)s[j]); j++)
		;
	t[0].p = s + i;
	t[0].n = j - i;
	i = j;
	while (i < n && util_isspace((unsigned char)s[i]))
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
			for (j = i; j < n && !util_isspace((unsigned char)s[j]); j++)
				;
			t[nt].p = s + i;
			t[nt].n = j - i;
			i = j;
			while (i < n && util_isspace((unsigned char)s[i]))
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
		for (j = i; j < n && !util_isspace((unsigned char)s[j]); j++)
			;
		if (sa_op_add(ld, sa_cmds[k].kind, sa_cmds[k].remove, s + i,
		    j - i, NULL, 0, file, lineno) == -1)
			return -1;
		i = j;
		while (i < n && util_isspace((unsigned char)s[i]))
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
		search = DEF_SPAMASSASSIN_CONFIG;
	n = strlen(search);
	for (i = 0; i < n && rc == 0; i = j) {
		while (i < n && util_isspace((unsigned char)search[i]))
			i++;
		for (j = i; j < n && !util_isspace((unsigned char)search[j]); j++)
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
	util_seterr(err, errlen, "out of memory");
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
			relay[i] = (char)util_lower((unsigned char)relay_host[i]);
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
		if (util_norm_addr(addrs[i], a, sizeof(a)) == -1)
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

/* ---- the decision ------------------------------------------------ */

int
spam_pct(double score, double threshold)
{
	double p = threshold > 0 ? score / threshold * 100.0 : 0;

	if (p > 99999)
		p = 99999;
	if (p < -99999)
		p = -99999;
	return (int)(p + (p < 0 ? -0.5 : 0.5));
}

static const char *const checker_names[SPAM_NCHECKERS] = {
	"builtin", "spamd", "perl"
};

const char *
spam_checker_name(enum spam_checker c)
{
	return (unsigned)c < SPAM_NCHECKERS ? checker_names[c] : "?";
}

int
spam_counts(const struct mc_config *cf, enum spam_checker c)
{
	switch (c) {
	case SPAM_BUILTIN:
		return conf_builtin_counts(cf);
	case SPAM_SPAMD:
		return cf->spam_arbitron == CONF_SPAM_SPAMD;
	case SPAM_PERL:
		return 1;
	case SPAM_NCHECKERS:
		break;
	}
	return 0;
}

/* A share of its own threshold, for comparing answers. */
static double
share(const struct spam_check *c)
{
	return c->threshold > 0 ? c->score / c->threshold : c->score;
}

/* Appends "+name" (or "name") to via. */
static void
via_add(char *via, size_t len, const char *name)
{
	size_t n = strlen(via);

	snprintf(via + n, len - n, "%s%s", n > 0 ? "+" : "", name);
}

void
spam_combine(struct spam_verdict *sv)
{
	const struct spam_check *best = NULL;
	unsigned c;
	int pass;

	sv->is_spam = 0;
	sv->failed = 0;
	sv->said = 0;
	sv->via[0] = '\0';
	for (c = 0; c < SPAM_NCHECKERS; c++)
		if (sv->check[c].state == SPAM_CHECK_DONE &&
		    sv->check[c].is_spam) {
			sv->said |= 1u << c;
			via_add(sv->via, sizeof(sv->via), checker_names[c]);
		}
	sv->is_spam = sv->said != 0;
	sv->spamd_answered = sv->check[SPAM_SPAMD].state == SPAM_CHECK_DONE;
	/* the shown answer: among those that said spam, else among all */
	for (pass = sv->is_spam ? 0 : 1; pass < 2 && best == NULL; pass++)
		for (c = 0; c < SPAM_NCHECKERS; c++) {
			const struct spam_check *k = &sv->check[c];

			if (k->state != SPAM_CHECK_DONE ||
			    (pass == 0 && !k->is_spam))
				continue;
			if (best == NULL || share(k) > share(best)) {
				best = k;
				if (!sv->is_spam)
					snprintf(sv->via, sizeof(sv->via),
					    "%s", checker_names[c]);
			}
		}
	if (best != NULL) {
		sv->score = best->score;
		sv->threshold = best->threshold;
	}
	for (c = 0; c < SPAM_NCHECKERS && !sv->is_spam; c++)
		if (sv->check[c].state == SPAM_CHECK_FAILED) {
			sv->failed = 1;
			if (best == NULL)
				snprintf(sv->via, sizeof(sv->via), "%s",
				    checker_names[c]);
		}
	if (sv->via[0] == '\0')
		snprintf(sv->via, sizeof(sv->via), "none");
}

/* ---- spamd's answers, shared (spam_cache_*) ---- */

#define CACHE_WAYS	4

struct cache_ent {
	unsigned char	 key[SPAM_CACHE_KEY];
	double		 when;		/* 0: empty */
	struct spam_check answer;
};

static pthread_mutex_t	 cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_ent	*cache;
static unsigned		 cache_n;	/* entries, a multiple of CACHE_WAYS */

void
spam_cache_key(const char *user, const char *servers, const char *req,
    size_t len, unsigned char key[SPAM_CACHE_KEY])
{
	EVP_MD_CTX *ctx;
	unsigned int n = 0;
	int ok;

	memset(key, 0, SPAM_CACHE_KEY);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return;
	user = user != NULL ? user : "";
	servers = servers != NULL ? servers : "";
	/* each part ends in a NUL: no two splits give one key */
	ok = EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, user, strlen(user) + 1) == 1 &&
	    EVP_DigestUpdate(ctx, servers, strlen(servers) + 1) == 1 &&
	    EVP_DigestUpdate(ctx, req, len) == 1 &&
	    EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == SPAM_CACHE_KEY;
	if (!ok)
		memset(key, 0, SPAM_CACHE_KEY);
	EVP_MD_CTX_free(ctx);
}

/* The set of key in a table of cache_n entries.  Locked. */
static struct cache_ent *
cache_set(const unsigned char *key)
{
	uint32_t h;

	memcpy(&h, key, sizeof(h));
	return &cache[(h % (cache_n / CACHE_WAYS)) * CACHE_WAYS];
}

/* The table for size entries (made or emptied on a change).  Locked. */
static int
cache_size(unsigned size)
{
	unsigned n = (size + CACHE_WAYS - 1) / CACHE_WAYS * CACHE_WAYS;

	if (n == cache_n && cache != NULL)
		return 0;
	free(cache);
	cache = NULL;
	cache_n = 0;
	if (n == 0 || (cache = calloc(n, sizeof(*cache))) == NULL)
		return -1;
	cache_n = n;
	return 0;
}

static int
key_empty(const unsigned char *key)
{
	static const unsigned char zero[SPAM_CACHE_KEY];

	return memcmp(key, zero, SPAM_CACHE_KEY) == 0;
}

int
spam_cache_get(const unsigned char key[SPAM_CACHE_KEY], unsigned size,
    long ttl, double now, struct spam_check *out)
{
	struct cache_ent *set;
	int hit = 0, i;

	if (size == 0 || key_empty(key))
		return 0;
	pthread_mutex_lock(&cache_lock);
	if (cache_size(size) == 0) {
		set = cache_set(key);
		for (i = 0; i < CACHE_WAYS && !hit; i++)
			if (set[i].when > 0 && now - set[i].when <= ttl &&
			    now >= set[i].when &&
			    memcmp(set[i].key, key, SPAM_CACHE_KEY) == 0) {
				*out = set[i].answer;
				hit = 1;
			}
	}
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

void
spam_cache_put(const unsigned char key[SPAM_CACHE_KEY], unsigned size,
    double now, const struct spam_check *answer)
{
	struct cache_ent *set, *victim;
	int i;

	if (size == 0 || key_empty(key) || answer->state != SPAM_CHECK_DONE)
		return;
	pthread_mutex_lock(&cache_lock);
	if (cache_size(size) == 0) {
		set = cache_set(key);
		victim = &set[0];
		for (i = 0; i < CACHE_WAYS; i++) {
			if (memcmp(set[i].key, key, SPAM_CACHE_KEY) == 0) {
				victim = &set[i];
				break;
			}
			if (set[i].when < victim->when)
				victim = &set[i];
		}
		memcpy(victim->key, key, SPAM_CACHE_KEY);
		victim->when = now;
		victim->answer = *answer;
		victim->answer.cached = 0;
	}
	pthread_mutex_unlock(&cache_lock);
}

void
spam_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	free(cache);
	cache = NULL;
	cache_n = 0;
	pthread_mutex_unlock(&cache_lock);
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * spamd's answer into sv->check[SPAM_SPAMD], from the cache when an
 * identical request was answered within spamd_cache_ttl; a failure's
 * reason too (failures are never kept).
 */
static void
ask_spamd(const struct mc_config *cf, struct scan *scan, const char *rcpt,
    struct spam_verdict *sv)
{
	struct spam_check *k = &sv->check[SPAM_SPAMD];
	struct spamd_result res;
	struct buf req = BUF_INIT;
	unsigned char key[SPAM_CACHE_KEY];

	k->state = SPAM_CHECK_FAILED;
	if (spamd_request(scan, cf->spamd_max_size, &req) == -1) {
		snprintf(sv->reason, sizeof(sv->reason), "spool read failed");
		buf_free(&req);
		return;
	}
	if (cf->spamd_cache_size > 0) {
		spam_cache_key(rcpt, cf->spamd_servers, req.data ? req.data :
		    "", req.len, key);
		if (spam_cache_get(key, cf->spamd_cache_size,
		    cf->spamd_cache_ttl, mono_now(), k)) {
			k->cached = 1;
			buf_free(&req);
			return;
		}
	}
	if (spamd_check(&cf->spamd, rcpt, req.data ? req.data : "",
	    req.len, &res, sv->reason, sizeof(sv->reason)) == 0) {
		k->state = SPAM_CHECK_DONE;
		memcpy(sv->spamd_server, res.server, sizeof(sv->spamd_server));
		k->is_spam = res.is_spam;
		k->score = res.score;
		k->threshold = res.threshold;
		if (cf->spamd_cache_size > 0)
			spam_cache_put(key, cf->spamd_cache_size, mono_now(),
			    k);
	}
	buf_free(&req);
}

/* 1 and the list's verdict in sv when a listed sender decides. */
static int
listed(const struct mc_config *cf, const char *const *addrs, size_t naddr,
    size_t nown, const char *client, struct spam_verdict *sv)
{
	size_t i;

	for (i = 0; i < nown; i++)
		if (spam_list_match(cf->white, addrs[i])) {
			snprintf(sv->via, sizeof(sv->via), "whitelist");
			return 1;
		}
	for (i = 0; i < nown; i++)
		if (spam_list_match(cf->black, addrs[i])) {
			sv->is_spam = 1;
			snprintf(sv->via, sizeof(sv->via), "blacklist");
			sv->score = 100;
			return 1;
		}
	if (cf->sa != NULL && naddr > 0) {
		switch (spam_sa_check(cf->sa, addrs, naddr, client)) {
		case SPAM_SA_WELCOME:
			snprintf(sv->via, sizeof(sv->via), "sa-welcomelist");
			sv->score = -100;
			return 1;
		case SPAM_SA_BLOCK:
			sv->is_spam = 1;
			snprintf(sv->via, sizeof(sv->via), "sa-blocklist");
			sv->score = 100;
			return 1;
		case SPAM_SA_NONE:
			break;
		}
	}
	return 0;
}

void
spam_decide(const struct mc_config *cf, struct scan *scan,
    const char *const *addrs, size_t naddr, size_t nown, const char *client,
    const char *rcpt, const struct spam_check *perl, int force_spamd,
    struct spam_verdict *sv)
{
	struct spam_check *b = &sv->check[SPAM_BUILTIN];

	memset(sv, 0, sizeof(*sv));
	sv->threshold = cf->spam_threshold;
	if (listed(cf, addrs, naddr, nown, client, sv))
		return;
	if (spam_counts(cf, SPAM_BUILTIN) &&
	    scan_spam_score(scan, &b->score, NULL) == 0) {
		b->state = SPAM_CHECK_DONE;
		b->threshold = cf->spam_threshold;
		b->is_spam = b->score >= b->threshold;
	}
	if (perl != NULL && perl->state == SPAM_CHECK_DONE)
		sv->check[SPAM_PERL] = *perl;
	spam_combine(sv);
	if (spam_counts(cf, SPAM_SPAMD)) {
		/* spam by another checker is decided: spamd would add
		   nothing but its score (issue 19 item 3) */
		if (sv->is_spam && !cf->spamd_always && !force_spamd)
			sv->check[SPAM_SPAMD].state = SPAM_CHECK_SKIPPED;
		else
			ask_spamd(cf, scan, rcpt, sv);
		spam_combine(sv);
	}
}

/*
 * Appends each counted checker's answer to out when more than one counts
 * (" builtin=2.0/5.0 spamd=skipped").
 */
static void
checks_str(const struct spam_verdict *sv, char *out, size_t len)
{
	size_t n;
	unsigned c, counted = 0;

	for (c = 0; c < SPAM_NCHECKERS; c++)
		counted += sv->check[c].state != SPAM_CHECK_OFF;
	for (c = 0; c < SPAM_NCHECKERS && counted > 1; c++) {
		const struct spam_check *k = &sv->check[c];

		if ((n = strlen(out)) + 1 >= len)
			break;
		switch (k->state) {
		case SPAM_CHECK_OFF:
			break;
		case SPAM_CHECK_DONE:
			snprintf(out + n, len - n, " %s=%.1f/%.1f",
			    checker_names[c], k->score, k->threshold);
			break;
		case SPAM_CHECK_SKIPPED:
			snprintf(out + n, len - n, " %s=skipped",
			    checker_names[c]);
			break;
		case SPAM_CHECK_FAILED:
			snprintf(out + n, len - n, " %s=failed",
			    checker_names[c]);
			break;
		}
	}
}

void
spam_fields(const struct spam_verdict *sv, char *status, size_t slen,
    char *score, size_t clen)
{
	int skipped = sv->check[SPAM_SPAMD].state == SPAM_CHECK_SKIPPED;

	snprintf(status, slen, "%s, score=%.1f required=%.1f (%d%%) via=%s",
	    sv->is_spam ? "Yes" : "No", sv->score, sv->threshold,
	    spam_pct(sv->score, sv->threshold), sv->via);
	checks_str(sv, status, slen);
	snprintf(score, clen, "%.1f (%d%%)%s%s", sv->score,
	    spam_pct(sv->score, sv->threshold), skipped ? " " : "",
	    skipped ? "builtin, spamd not asked" : "");
}

void
spam_line(const struct spam_verdict *sv, char *out, size_t len)
{
	snprintf(out, len, "%s%.1f/%.1f(%d%%) via=%s",
	    sv->is_spam ? "yes:" : sv->failed ? "unchecked:" : "no:",
	    sv->score, sv->threshold, spam_pct(sv->score, sv->threshold),
	    sv->via);
	checks_str(sv, out, len);
	if (sv->check[SPAM_SPAMD].cached && strlen(out) + 1 < len)
		snprintf(out + strlen(out), len - strlen(out), " spamd-cached");
}
