/*
 * virusfilter.c -- rules-based attachment checks (see virusfilter.h).
 * Names: the short prefix virus_ on every public name.
 *
 * Judges names (after normalisation), declared types, magic bytes, the
 * member names of archives (libarchive) and of TNEF winmail.dat streams.
 * Ownership: struct virus_rules is built once by virus_rules_new() and is
 * read-only afterwards, so threads may share it.  The checks keep no state
 * between calls.
 * Errors: virus_rules_new() returns NULL with a reason in err; the checks
 * never fail, they answer VIRUS_UNSCANNABLE when they cannot judge.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "mime.h"
#include "smfopts.h"
#include "virusfilter.h"
#include "banned.h"

#define ITEM_MAX	64		/* longest list item */
#define MAX_ENTRIES	10000		/* archive members judged per call */
#define HEAD_LEN	64		/* member bytes read to sniff content */
#define NAME_STACK	1024

struct strset {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

struct virus_rules {
	struct strset	exts;
	struct strset	types;
};

/* Extensions that make an inner extension dangerous ("x.exe.txt"). */
static const char *const program_exts[] = {
	"exe", "scr", "pif", "com", "bat", "cmd", "vbs", "vbe", "js", "jse",
	"wsf", "hta", "lnk", "cpl", "msi", "ps1", "jar", NULL
};

/* Names whose content we list as an archive. */
static const char *const archive_exts[] = {
	"zip", "7z", "rar", "tar", "gz", "tgz", "bz2", "tbz", "tbz2", "xz",
	"txz", "cab", "iso", "jar", "arj", "lzh", "lha", "zst", "tzst",
	"cpio", "lz", "lzma", "z", NULL
};

static const char *const reason_words[] = {
	"ok", "bad-extension", "inner-extension", "clsid", "bad-type",
	"executable", "type-mismatch", "archive-member", "archive-encrypted",
	"archive-depth", "archive-broken", "unscannable", "partial",
	"infected", "site-filter"
};

/*
 * String sets.
 */

static int
set_index(const struct strset *s, const char *p)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], p) == 0)
			return (int)i;
	return -1;
}

static int
set_add(struct strset *s, const char *p)
{
	char **nv;
	size_t n;

	if (set_index(s, p) >= 0)
		return 0;
	if ((nv = buf_vec_grow(s->v, &s->cap, s->n, sizeof(*nv), 64)) == NULL)
		return -1;
	s->v = nv;
	n = strlen(p);
	if ((s->v[s->n] = malloc(n + 1)) == NULL)
		return -1;
	memcpy(s->v[s->n], p, n + 1);
	s->n++;
	return 0;
}

static void
set_del(struct strset *s, const char *p)
{
	int i;

	if ((i = set_index(s, p)) < 0)
		return;
	free(s->v[i]);
	s->v[i] = s->v[--s->n];
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
set_has(const struct strset *s, const char *key)
{
	if (s->n == 0)
		return 0;
	return bsearch(&key, s->v, s->n, sizeof(*s->v), cmpstr) != NULL;
}

static void
set_free(struct strset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int
is_sep(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' ||
	    c == '\f' || c == '\v';
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/*
 * Parses one list into s.  defaults is used when list is NULL or starts
 * with '+' or '-'.  Returns 0, or -1 with a message in err.
 */
static int
parse_list(struct strset *s, const char *list, const char *defaults,
    int is_ext, const char *what, char *err, size_t errlen)
{
	const char *p, *tok;
	char item[ITEM_MAX + 1];
	size_t n, i;
	int relative, op;

	if (list == NULL)
		return parse_list(s, defaults, NULL, is_ext, what, err, errlen);
	for (p = list; *p != '\0' && is_sep((unsigned char)*p); p++)
		;
	relative = (*p == '+' || *p == '-');
	if (relative && defaults != NULL &&
	    parse_list(s, defaults, NULL, is_ext, what, err, errlen) == -1)
		return -1;
	while (*p != '\0') {
		for (tok = p; *p != '\0' && !is_sep((unsigned char)*p); p++)
			;
		n = (size_t)(p - tok);
		while (*p != '\0' && is_sep((unsigned char)*p))
			p++;
		op = '+';
		if (*tok == '+' || *tok == '-') {
			if (!relative) {
				snprintf(err, errlen, "%s: \"%.*s\": '+'/'-' "
				    "items need a list that starts with one",
				    what, (int)(n > ITEM_MAX ? ITEM_MAX : n),
				    tok);
				return -1;
			}
			op = *tok++;
			n--;
		}
		if (is_ext && n > 0 && *tok == '.') {
			tok++;
			n--;
		}
		if (n == 0) {
			snprintf(err, errlen, "%s: empty item", what);
			return -1;
		}
		if (n > ITEM_MAX) {
			snprintf(err, errlen, "%s: item longer than %d bytes",
			    what, ITEM_MAX);
			return -1;
		}
		if (is_ext != (memchr(tok, '/', n) == NULL)) {
			snprintf(err, errlen, "%s: \"%.*s\": %s", what,
			    (int)n, tok, is_ext ? "'/' in an extension" :
			    "not a type/subtype");
			return -1;
		}
		for (i = 0; i < n; i++) {
			if ((unsigned char)tok[i] < 0x21 ||
			    (unsigned char)tok[i] > 0x7e) {
				snprintf(err, errlen, "%s: non-printable "
				    "byte in an item", what);
				return -1;
			}
			item[i] = (char)lower((unsigned char)tok[i]);
		}
		item[n] = '\0';
		if (op == '-')
			set_del(s, item);
		else if (set_add(s, item) == -1) {
			snprintf(err, errlen, "%s: out of memory", what);
			return -1;
		}
	}
	return 0;
}

/*
 * Builds the extension and type tables; NULL lists mean the defaults of
 * smfopts.h.  Returns a table for virus_rules_free(), or NULL with err set.
 */
struct virus_rules *
virus_rules_new(const char *exts, const char *types, char *err,
    size_t errlen)
{
	struct virus_rules *r;
	char dummy[8];

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (parse_list(&r->exts, exts, DEF_BAD_EXTENSIONS, 1,
	    "bad extensions", err, errlen) == -1 ||
	    parse_list(&r->types, types, DEF_BAD_MIME_TYPES, 0,
	    "bad MIME types", err, errlen) == -1) {
		virus_rules_free(r);
		return NULL;
	}
	if (r->exts.n > 0)
		qsort(r->exts.v, r->exts.n, sizeof(char *), cmpstr);
	if (r->types.n > 0)
		qsort(r->types.v, r->types.n, sizeof(char *), cmpstr);
	return r;
}

/* Frees what virus_rules_new() built; NULL is fine. */
void
virus_rules_free(struct virus_rules *r)
{
	if (r == NULL)
		return;
	set_free(&r->exts);
	set_free(&r->types);
	free(r);
}

/*
 * Name normalisation.
 */

/* Decodes one UTF-8 sequence; returns its length, *cp = -1 if invalid. */
static size_t
u8dec(const unsigned char *s, size_t n, int32_t *cp)
{
	size_t len, i;
	uint32_t c, min;

	*cp = -1;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
		min = 0x10000;
	} else
		return 1;
	if (len > n)
		return 1;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 1;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 1;
	*cp = (int32_t)c;
	return len;
}

static int
is_space_cp(int32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f' || c == 0xa0 || c == 0x1680 ||
	    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202f || c == 0x205f || c == 0x3000;
}

static int
is_invisible_cp(int32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
	    c == 0xad || c == 0x34f || c == 0x61c || c == 0x180e ||
	    (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
	    (c >= 0x2060 && c <= 0x206f) || c == 0xfeff ||
	    (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe0000 && c <= 0xe007f);
}

/*
 * Normalises a file name for judging and display: last path component,
 * no bidi/zero-width/control characters and no '"', whitespace runs
 * collapsed to one space, no leading spaces, no trailing dots or spaces.
 * Invalid UTF-8
 * bytes become '?'.  Writes at most outlen-1 bytes plus a NUL, cut at a
 * character boundary, and returns the length.
 */
char *
virus_norm_lower(const char *name, size_t len, char *buf, size_t bufsz,
    size_t *n)
{
	char *nb = buf;
	size_t i;

	/* normalising never makes a name longer */
	if (len >= bufsz && (nb = malloc(len + 1)) == NULL)
		return NULL;
	*n = virus_normalize_name(name, len, nb, len >= bufsz ? len + 1 :
	    bufsz);
	for (i = 0; i < *n; i++)
		nb[i] = (char)lower((unsigned char)nb[i]);
	return nb;
}

size_t
virus_normalize_name(const char *name, size_t len, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t start, end, i, k, o;
	int32_t cp;
	int space;

	if (out == NULL || outlen == 0)
		return 0;
	o = 0;
	if (name == NULL)
		len = 0;
	end = len;
	while (end > 0 && (s[end - 1] == '/' || s[end - 1] == '\\'))
		end--;
	for (start = end; start > 0; start--)
		if (s[start - 1] == '/' || s[start - 1] == '\\')
			break;
	space = 0;
	for (i = start; i < end; i += k) {
		k = u8dec(s + i, end - i, &cp);
		if (is_space_cp(cp)) {
			space = (o > 0);
			continue;
		}
		/* '"' cannot be in a Windows file name: readers drop it
		   (x"tool.cmd", 3D"p.ps1" from QP read raw) */
		if (cp >= 0 && (is_invisible_cp(cp) || cp == '"'))
			continue;
		if (o + space + (cp < 0 ? 1 : k) > outlen - 1)
			break;
		if (space)
			out[o++] = ' ';
		space = 0;
		if (cp < 0)
			out[o++] = '?';
		else {
			memcpy(out + o, s + i, k);
			o += k;
		}
	}
	while (o > 0 && (out[o - 1] == '.' || out[o - 1] == ' '))
		o--;
	out[o] = '\0';
	return o;
}

/* Writes prefix and an escaped copy of s into hit->what. */
static void
set_what(struct virus_hit *hit, const char *prefix, const char *s, size_t n,
    const char *suffix)
{
	static const char hex[] = "0123456789abcdef";
	size_t o, i, max = sizeof(hit->what) - 1;
	unsigned char c;

	o = 0;
	for (; prefix != NULL && *prefix != '\0' && o < max; prefix++)
		hit->what[o++] = *prefix;
	for (i = 0; i < n && o < max; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			hit->what[o++] = (char)c;
			continue;
		}
		if (o + 4 > max)
			break;
		hit->what[o++] = '\\';
		hit->what[o++] = 'x';
		hit->what[o++] = hex[c >> 4];
		hit->what[o++] = hex[c & 15];
	}
	for (; suffix != NULL && *suffix != '\0' && o < max; suffix++)
		hit->what[o++] = *suffix;
	hit->what[o] = '\0';
}

static enum virus_reason
verdict(struct virus_hit *hit, enum virus_reason r, const char *prefix,
    const char *s, size_t n, const char *suffix)
{
	hit->reason = r;
	set_what(hit, prefix, s, n, suffix);
	return r;
}

/* "mime-limit reason=params,names": the limits that stopped the parser. */
static enum virus_reason
limit_verdict(struct virus_hit *hit, unsigned limit)
{
	char words[128];
	size_t o = 0;
	unsigned bit;
	int n;

	words[0] = '\0';
	for (bit = 1; bit != 0 && bit <= limit; bit <<= 1) {
		if (!(limit & bit))
			continue;
		n = snprintf(words + o, sizeof(words) - o, "%s%s",
		    o > 0 ? "," : "", mime_strerror(bit));
		if (n < 0 || (size_t)n >= sizeof(words) - o)
			break;
		o += (size_t)n;
	}
	return verdict(hit, VIRUS_UNSCANNABLE, "mime-limit reason=", words,
	    o, NULL);
}

static int
in_list(const char *const *l, const char *s, size_t n)
{
	for (; *l != NULL; l++)
		if (strlen(*l) == n && memcmp(*l, s, n) == 0)
			return 1;
	return 0;
}

static int
is_hexdash(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') || s[i] == '-'))
			return 0;
	return 1;
}

/* ext (not NUL-terminated, at most ITEM_MAX) in the extension table? */
static int
ext_bad(const struct virus_rules *r, const char *s, size_t n)
{
	char key[ITEM_MAX + 1];

	while (n > 0 && *s == ' ') {
		s++;
		n--;
	}
	while (n > 0 && s[n - 1] == ' ')
		n--;
	if (n == 0 || n > ITEM_MAX)
		return 0;
	memcpy(key, s, n);
	key[n] = '\0';
	return set_has(&r->exts, key);
}

/* Judges a normalised, lower-cased name. */
static enum virus_reason
judge_name(const struct virus_rules *r, const char *nb, size_t n,
    struct virus_hit *hit)
{
	const char *dot, *prev, *ob, *p, *q;
	size_t elen, plen;

	if (n == 0)
		return VIRUS_OK;
	/* "name.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}" */
	if (nb[n - 1] == '}' && (ob = memrchr(nb, '{', n)) != NULL &&
	    (size_t)(nb + n - 1 - (ob + 1)) >= 25 &&
	    is_hexdash(ob + 1, (size_t)(nb + n - 1 - (ob + 1))))
		return verdict(hit, VIRUS_CLSID, NULL, ob,
		    (size_t)(nb + n - ob), NULL);
	if ((dot = memrchr(nb, '.', n)) == NULL)
		return VIRUS_OK;
	elen = (size_t)(nb + n - dot - 1);
	if (ext_bad(r, dot + 1, elen))
		return verdict(hit, VIRUS_BAD_EXTENSION, NULL, dot, elen + 1,
		    NULL);
	/* Split archive volumes: x.zip.001, x.7z.002, x.r01, x.z01. */
	if (elen == 3 && (dot[1] == 'r' || dot[1] == 'z') &&
	    dot[2] >= '0' && dot[2] <= '9' && dot[3] >= '0' && dot[3] <= '9')
		return verdict(hit, VIRUS_UNSCANNABLE, "split archive ", dot,
		    elen + 1, NULL);
	if (elen == 3 && dot[1] >= '0' && dot[1] <= '9' && dot[2] >= '0' &&
	    dot[2] <= '9' && dot[3] >= '0' && dot[3] <= '9' && dot > nb &&
	    (prev = memrchr(nb, '.', (size_t)(dot - nb))) != NULL &&
	    in_list(archive_exts, prev + 1, (size_t)(dot - prev - 1)))
		return verdict(hit, VIRUS_UNSCANNABLE, "split archive ", prev,
		    (size_t)(nb + n - prev), NULL);
	/* Inner extensions: every component between two dots. */
	if ((p = memchr(nb, '.', n)) == NULL || p == dot)
		return VIRUS_OK;
	for (p = p + 1; p < dot; p = q + 1) {
		q = memchr(p, '.', (size_t)(dot - p + 1));
		plen = (size_t)(q - p);
		while (plen > 0 && *p == ' ') {
			p++;
			plen--;
		}
		while (plen > 0 && p[plen - 1] == ' ')
			plen--;
		if (in_list(program_exts, p, plen) && ext_bad(r, p, plen))
			return verdict(hit, VIRUS_INNER_EXTENSION, ".", p,
			    plen, NULL);
	}
	return VIRUS_OK;
}

/*
 * Judges one file name (UTF-8, as sent): normalises it, then looks at the
 * CLSID tail, the last extension, split-archive volumes and dangerous inner
 * extensions.  Returns the reason and fills hit (may be NULL).
 */
enum virus_reason
virus_check_name(const struct virus_rules *r, const char *name, size_t len,
    struct virus_hit *hit)
{
	struct virus_hit dummy;
	char sbuf[NAME_STACK], *nb;
	size_t n;
	enum virus_reason rc;

	if (hit == NULL)
		hit = &dummy;
	hit->reason = VIRUS_OK;
	hit->what[0] = '\0';
	if (r == NULL || name == NULL || len == 0)
		return VIRUS_OK;
	if ((nb = virus_norm_lower(name, len, sbuf, sizeof(sbuf), &n)) ==
	    NULL)
		return verdict(hit, VIRUS_UNSCANNABLE, "out of memory", NULL,
		    0, NULL);
	rc = judge_name(r, nb, n, hit);
	if (nb != sbuf)
		free(nb);
	return rc;
}

/*
 * Parts.
 */

static int
type_is(const char *t, const char *s)
{
	return strcmp(t, s) == 0;
}

static int
type_bad(const struct virus_rules *r, const char *t)
{
	char fam[MIME_TYPE_MAX + 2];
	const char *sl;
	size_t n;

	if (set_has(&r->types, t))
		return 1;
	if ((sl = strchr(t, '/')) == NULL)
		return 0;
	n = (size_t)(sl - t) + 1;
	if (n + 2 > sizeof(fam))
		return 0;
	memcpy(fam, t, n);
	fam[n] = '*';
	fam[n + 1] = '\0';
	return set_has(&r->types, fam);
}

/* Does the name end in one of exts?  Out of memory: yes (strictest). */
static int
name_ends(const char *name, size_t len, const char *const *exts)
{
	char sbuf[NAME_STACK], *nb;
	const char *dot;
	size_t n;
	int rc;

	if ((nb = virus_norm_lower(name, len, sbuf, sizeof(sbuf), &n)) == NULL)
		return 1;
	dot = memrchr(nb, '.', n);
	rc = dot != NULL && in_list(exts, dot + 1, (size_t)(nb + n - dot - 1));
	if (nb != sbuf)
		free(nb);
	return rc;
}

static const char *const html_exts[] = {
	"htm", "html", "xhtml", "svg", "shtml", NULL
};

static int
carries_html(const struct mime_part *p)
{
	unsigned i;

	if (type_is(p->type, "text/html") ||
	    type_is(p->type, "application/xhtml+xml") ||
	    type_is(p->type, "image/svg+xml"))
		return 1;
	for (i = 0; i < p->nnames; i++)
		if (p->names[i] != NULL && name_ends(p->names[i],
		    strlen(p->names[i]), html_exts))
			return 1;
	return 0;
}

/*
 * Content magic of a program: "MZ" (DOS/PE), ELF, Mach-O.  strict asks for
 * binary bytes after "MZ" so that text starting with "MZ" is not a program.
 * Returns a description or NULL.
 */
static const char *
exec_magic(const unsigned char *m, size_t n, int strict)
{
	size_t i;

	if (n >= 4 && memcmp(m, "\177ELF", 4) == 0)
		return "ELF program";
	if (n >= 4 && (memcmp(m, "\xfe\xed\xfa\xce", 4) == 0 ||
	    memcmp(m, "\xfe\xed\xfa\xcf", 4) == 0 ||
	    memcmp(m, "\xce\xfa\xed\xfe", 4) == 0 ||
	    memcmp(m, "\xcf\xfa\xed\xfe", 4) == 0))
		return "Mach-O program";
	if (n >= 2 && m[0] == 'M' && m[1] == 'Z') {
		if (!strict)
			return "Windows program (MZ)";
		for (i = 2; i < n; i++)
			if (m[i] < 0x09 || m[i] >= 0x80)
				return "Windows program (MZ)";
	}
	return NULL;
}

/*
 * Judges a part: flags, message/partial, unknown CTE, every name, the
 * declared type and the magic bytes, in that order.  Returns the first hit.
 */
enum virus_reason
virus_check_part(const struct virus_rules *r, const struct mime_part *p,
    struct virus_hit *hit)
{
	struct virus_hit dummy;
	const char *ex;
	char type[MIME_TYPE_MAX], pre[48];
	size_t tlen;
	unsigned i;
	int container, identity, strict;

	if (hit == NULL)
		hit = &dummy;
	hit->reason = VIRUS_OK;
	hit->what[0] = '\0';
	if (r == NULL || p == NULL)
		return VIRUS_OK;
	tlen = strnlen(p->type, sizeof(p->type) - 1);
	memcpy(type, p->type, tlen);
	type[tlen] = '\0';
	for (i = 0; i < tlen; i++)
		type[i] = (char)lower((unsigned char)type[i]);
	container = (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) ||
	    strncmp(type, "multipart/", 10) == 0 ||
	    type_is(type, "message/rfc822") || type_is(type, "message/global");

	if (p->flags & MIME_PART_UNSCANNABLE) {
		if (p->limit != 0)
			return limit_verdict(hit, p->limit);
		if (container && (p->cte == MIME_CTE_BASE64 ||
		    p->cte == MIME_CTE_QP || p->cte == MIME_CTE_UUENCODE))
			return verdict(hit, VIRUS_UNSCANNABLE, "encoded ", type,
			    tlen, " container");
		return verdict(hit, VIRUS_UNSCANNABLE,
		    "part beyond a MIME limit or undecodable", NULL, 0, NULL);
	}
	if (type_is(type, "message/partial") ||
	    type_is(type, "message/external-body"))
		return verdict(hit, VIRUS_PARTIAL, NULL, type, tlen, NULL);
	if (!container && p->cte == MIME_CTE_UNKNOWN)
		return verdict(hit, VIRUS_UNSCANNABLE,
		    "unknown transfer encoding", NULL, 0, NULL);
	for (i = 0; i < p->nnames; i++) {
		if (p->names[i] == NULL)
			continue;
		if (virus_check_name(r, p->names[i], strlen(p->names[i]),
		    hit) != VIRUS_OK)
			return hit->reason;
	}
	if (container)
		return VIRUS_OK;
	if (tlen > 0 && !carries_html(p) && type_bad(r, type))
		return verdict(hit, VIRUS_BAD_TYPE, NULL, type, tlen, NULL);
	identity = p->cte == MIME_CTE_7BIT || p->cte == MIME_CTE_8BIT ||
	    p->cte == MIME_CTE_BINARY;
	strict = strncmp(type, "text/", 5) == 0 && identity;
	if (strict && p->magic_len >= 2 && p->magic[0] == 'M' &&
	    p->magic[1] == 'Z' && p->decoded_size < 64)
		return VIRUS_OK;
	ex = exec_magic(p->magic, p->magic_len > sizeof(p->magic) ?
	    sizeof(p->magic) : p->magic_len, strict);
	if (ex != NULL) {
		snprintf(pre, sizeof(pre), "%s%s", ex, tlen > 0 ?
		    " declared " : "");
		return verdict(hit, VIRUS_EXECUTABLE, pre, type, tlen, NULL);
	}
	return VIRUS_OK;
}

/*
 * Archives.
 */

/* Nonzero if these first bytes start an archive or a compressed stream. */
int
virus_is_archive(const unsigned char *m, size_t n)
{
	if (m == NULL)
		return 0;
	if (n >= 4 && m[0] == 'P' && m[1] == 'K' &&
	    ((m[2] == 3 && m[3] == 4) || (m[2] == 5 && m[3] == 6) ||
	    (m[2] == 7 && m[3] == 8)))
		return 1;
	if (n >= 6 && memcmp(m, "7z\xbc\xaf\x27\x1c", 6) == 0)
		return 1;
	if (n >= 6 && memcmp(m, "Rar!\x1a\x07", 6) == 0)
		return 1;
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		return 1;
	if (n >= 3 && memcmp(m, "BZh", 3) == 0)
		return 1;
	if (n >= 6 && memcmp(m, "\xfd" "7zXZ\0", 6) == 0)
		return 1;
	if (n >= 4 && memcmp(m, "MSCF", 4) == 0)
		return 1;
	if (n >= 5 && m[2] == '-' && m[3] == 'l' && m[4] == 'h')
		return 1;		/* lzh: "??-lh?-" */
	if (n >= 3 && memcmp(m, "-lh", 3) == 0)
		return 1;
	if (n >= 2 && m[0] == 0x60 && m[1] == 0xea)
		return 1;
	if (n >= 4 && memcmp(m, "\x28\xb5\x2f\xfd", 4) == 0)
		return 1;
	if (n >= 6 && (memcmp(m, "070707", 6) == 0 ||
	    memcmp(m, "070701", 6) == 0 || memcmp(m, "070702", 6) == 0))
		return 1;
	return 0;
}

struct actx {
	const struct virus_rules *r;
	unsigned		 max_depth;
	size_t			 max_bytes;
	unsigned long		 entries;
	struct virus_hit	*hit;
};

static enum virus_reason scan_mem(struct actx *, const unsigned char *,
    size_t, unsigned, const char *, int);

static int
mentions_encryption(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s != NULL && (strstr(s, "ncrypt") != NULL ||
	    strstr(s, "assphrase") != NULL || strstr(s, "ecrypt") != NULL);
}

/* The file name in a gzip header (FNAME), or NULL. */
static const char *
gzip_fname(const unsigned char *d, size_t len, size_t *nlen)
{
	size_t off, end;

	if (len < 10 || d[0] != 0x1f || d[1] != 0x8b || d[2] != 8 ||
	    !(d[3] & 0x08))
		return NULL;
	off = 10;
	if (d[3] & 0x04) {
		if (len - off < 2)
			return NULL;
		off += 2 + (size_t)(d[off] | d[off + 1] << 8);
		if (off >= len)
			return NULL;
	}
	for (end = off; end < len && end - off < 4096 && d[end] != 0; end++)
		;
	if (end >= len || d[end] != 0)
		return NULL;
	*nlen = end - off;
	return (const char *)d + off;
}

/* Joins prefix "/" name into out for display. */
static void
member_path(char *out, size_t outlen, const char *prefix, const char *name,
    size_t nlen)
{
	int n;

	n = snprintf(out, outlen, "%s%s%.*s", prefix, *prefix ? "/" : "",
	    (int)(nlen > 512 ? 512 : nlen), name);
	if (n < 0)
		out[0] = '\0';
}

static enum virus_reason
member_hit(struct actx *c, enum virus_reason rc, const char *prefix,
    const char *name, size_t nlen, const char *suffix)
{
	char path[700];

	member_path(path, sizeof(path), prefix, name, nlen);
	return verdict(c->hit, rc, "member ", path, strlen(path), suffix);
}

static enum virus_reason
judge_member(struct actx *c, const char *prefix, const char *name,
    size_t nlen)
{
	struct virus_hit h;

	if (name == NULL || nlen == 0)
		return VIRUS_OK;
	if (virus_check_name(c->r, name, nlen, &h) == VIRUS_OK)
		return VIRUS_OK;
	return member_hit(c, VIRUS_ARCHIVE_MEMBER, prefix, name, nlen, NULL);
}

/*
 * Reads an entry's data into a malloc'ed buffer, at most max bytes;
 * *more is set when there was more.  Returns 0, or -1 on a read error
 * (*enc set when it mentions encryption).
 */
static int
read_data(struct archive *a, unsigned char **bufp, size_t *lenp, size_t max,
    int *more, int *enc)
{
	unsigned char *b = *bufp, *nb;
	size_t len = *lenp, cap, want;
	la_ssize_t got;

	/*
	 * Read up to max + 1 bytes: the extra byte tells whether there is
	 * more, and stays in the buffer so a later call continues exactly
	 * where this one stopped.
	 */
	cap = len > HEAD_LEN ? len : HEAD_LEN;
	*more = 0;
	while (len < max + 1) {
		if (len == cap) {
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			if ((nb = realloc(b, cap)) == NULL)
				break;
			b = nb;
		}
		if (b == NULL) {
			if ((b = malloc(cap)) == NULL)
				break;
		}
		want = cap - len;
		got = archive_read_data(a, b + len, want);
		if (got < 0) {
			*enc = mentions_encryption(a);
			*bufp = b;
			*lenp = len;
			return -1;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > max)
		*more = 1;
	*bufp = b;
	*lenp = len;
	return 0;
}

static int
is_message_name(const char *name, size_t nlen)
{
	return (nlen >= 4 && strncasecmp(name + nlen - 4, ".eml", 4) == 0) ||
	    (nlen >= 4 && strncasecmp(name + nlen - 4, ".msg", 4) == 0);
}

static int
is_archive_name(const char *name, size_t nlen)
{
	return name_ends(name, nlen, archive_exts);
}

/* Looks at one member's content: program magic, nested archive. */
static enum virus_reason
member_content(struct actx *c, struct archive *a, unsigned level,
    const char *prefix, const char *name, size_t nlen, int truncated)
{
	unsigned char *b = NULL;
	size_t len = 0;
	char path[700];
	const char *ex;
	int more = 0, enc = 0, nested;
	enum virus_reason rc = VIRUS_OK;

	if (read_data(a, &b, &len, HEAD_LEN, &more, &enc) == -1) {
		free(b);
		if (enc)
			return member_hit(c, VIRUS_ARCHIVE_ENCRYPTED, prefix,
			    name, nlen, " (encrypted)");
		return VIRUS_OK;
	}
	if ((ex = exec_magic(b, len, 1)) != NULL) {
		free(b);
		return member_hit(c, VIRUS_ARCHIVE_MEMBER, prefix, name, nlen,
		    " (program content)");
	}
	nested = virus_is_archive(b, len) || is_archive_name(name, nlen);
	if (!nested || len == 0) {
		free(b);
		return VIRUS_OK;
	}
	if (level + 1 > c->max_depth) {
		free(b);
		return member_hit(c, VIRUS_ARCHIVE_DEPTH, prefix, name, nlen,
		    " (nested too deep)");
	}
	if (more && read_data(a, &b, &len, c->max_bytes, &more, &enc) == -1) {
		free(b);
		if (enc)
			return member_hit(c, VIRUS_ARCHIVE_ENCRYPTED, prefix,
			    name, nlen, " (encrypted)");
		return VIRUS_OK;
	}
	member_path(path, sizeof(path), prefix, name, nlen);
	rc = scan_mem(c, b, len, level + 1, path, truncated || more);
	if (rc == VIRUS_OK && more)
		rc = member_hit(c, VIRUS_UNSCANNABLE, prefix, name, nlen,
		    " (larger than the archive size limit)");
	free(b);
	return rc;
}

struct msg_ctx {
	const struct virus_rules *r;
	enum virus_reason	 rc;
	struct virus_hit	 hit;
};

static void
msg_part_end(void *arg, const struct mime_part *p)
{
	struct msg_ctx *m = arg;

	if (m->rc == VIRUS_OK &&
	    !(p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)))
		m->rc = virus_check_part(m->r, p, &m->hit);
}

/*
 * A saved message (.eml, .msg) inside an archive (PROPAGATION E05): parse
 * it with the MIME parser (default limits) and judge each of its parts by
 * name, type and content.  A message larger than max_bytes is unscannable.
 */
static enum virus_reason
member_message(struct actx *c, struct archive *a, const char *prefix,
    const char *name, size_t nlen)
{
	const struct mime_cb cb = { NULL, NULL, msg_part_end, NULL };
	struct msg_ctx m;
	struct mime *mp;
	unsigned char *b = NULL;
	size_t len = 0;
	int more = 0, enc = 0;
	char what[sizeof(m.hit.what) + 16];

	memset(&m, 0, sizeof(m));
	m.r = c->r;
	if (read_data(a, &b, &len, c->max_bytes, &more, &enc) == -1) {
		free(b);
		return enc ? member_hit(c, VIRUS_ARCHIVE_ENCRYPTED, prefix,
		    name, nlen, " (encrypted)") : VIRUS_OK;
	}
	if (more) {
		free(b);
		return member_hit(c, VIRUS_UNSCANNABLE, prefix, name, nlen,
		    " (larger than the archive size limit)");
	}
	if ((mp = mime_new(NULL, MIME_VIEW_FIRST, &cb, &m)) == NULL) {
		free(b);
		return member_hit(c, VIRUS_UNSCANNABLE, prefix, name, nlen,
		    " (out of memory)");
	}
	if (len > 0)
		mime_push(mp, (const char *)b, len);
	mime_finish(mp);
	mime_free(mp);
	free(b);
	if (m.rc == VIRUS_OK)
		return VIRUS_OK;
	snprintf(what, sizeof(what), " (carries %s)", m.hit.what);
	return member_hit(c, VIRUS_ARCHIVE_MEMBER, prefix, name, nlen, what);
}

static enum virus_reason
read_failed(struct actx *c, struct archive *a, const unsigned char *data,
    size_t len, const char *prefix, int lenient)
{
	if (mentions_encryption(a))
		return verdict(c->hit, VIRUS_ARCHIVE_ENCRYPTED,
		    *prefix ? prefix : "archive", NULL, 0, " (encrypted)");
	if (!lenient && virus_is_archive(data, len))
		return verdict(c->hit, VIRUS_ARCHIVE_BROKEN,
		    *prefix ? prefix : "archive", NULL, 0, " (unreadable)");
	return VIRUS_OK;
}

/*
 * The one "member" of a bare compressed stream (gzip, bzip2, xz...): its
 * gzip name judged, its content scanned; bytes that claim an archive but
 * carry no filter are broken unless lenient.
 */
static enum virus_reason
raw_stream(struct actx *c, struct archive *a, const unsigned char *data,
    size_t len, unsigned level, const char *prefix, int truncated,
    int lenient)
{
	enum virus_reason rc;
	const char *name;
	size_t nlen;

	if (archive_filter_count(a) <= 1)
		return lenient || !virus_is_archive(data, len) ? VIRUS_OK :
		    verdict(c->hit, VIRUS_ARCHIVE_BROKEN, *prefix ? prefix :
		    "archive", NULL, 0, ": unreadable");
	if ((name = gzip_fname(data, len, &nlen)) != NULL &&
	    (rc = judge_member(c, prefix, name, nlen)) != VIRUS_OK)
		return rc;
	if (name == NULL) {
		name = "data";
		nlen = 4;
	}
	return member_content(c, a, level, prefix, name, nlen, truncated);
}

/*
 * One listed member: its names (native and UTF-8) judged, encryption
 * refused, and a regular file's content scanned (a mail as a message).
 */
static enum virus_reason
one_member(struct actx *c, struct archive *a, struct archive_entry *e,
    unsigned level, const char *prefix, int truncated)
{
	enum virus_reason rc;
	const char *name, *alt;
	size_t nlen;

	name = archive_entry_pathname(e);
	alt = archive_entry_pathname_utf8(e);
	if (name == NULL)
		name = alt;
	if (name == NULL)
		name = "";
	nlen = strlen(name);
	if ((rc = judge_member(c, prefix, name, nlen)) != VIRUS_OK)
		return rc;
	if (alt != NULL && strcmp(alt, name) != 0 &&
	    (rc = judge_member(c, prefix, alt, strlen(alt))) != VIRUS_OK)
		return rc;
	if (archive_entry_is_encrypted(e) ||
	    archive_read_has_encrypted_entries(a) > 0)
		return member_hit(c, VIRUS_ARCHIVE_ENCRYPTED, prefix, name,
		    nlen, " (encrypted)");
	if (archive_entry_filetype(e) != AE_IFREG)
		return VIRUS_OK;
	if (is_message_name(name, nlen))
		return member_message(c, a, prefix, name, nlen);
	return member_content(c, a, level, prefix, name, nlen, truncated);
}

/*
 * One libarchive pass over data.  streamable: only the zip local-header
 * reader (for concatenated zips), whose errors are not judged.
 */
static enum virus_reason
pass(struct actx *c, const unsigned char *data, size_t len, unsigned level,
    const char *prefix, int truncated, int streamable)
{
	struct archive *a;
	struct archive_entry *e;
	enum virus_reason rc = VIRUS_OK;
	int r, lenient = truncated || streamable, retries = 0, seen = 0;

	if ((a = archive_read_new()) == NULL)
		return verdict(c->hit, VIRUS_UNSCANNABLE, "out of memory",
		    NULL, 0, NULL);
	if (streamable)
		archive_read_support_format_zip_streamable(a);
	else {
		archive_read_support_filter_all(a);
		archive_read_support_format_all(a);
		archive_read_support_format_raw(a);
	}
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		rc = read_failed(c, a, data, len, prefix, lenient);
		archive_read_free(a);
		return rc;
	}
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF) {
			/* Nothing listed from bytes that claim an archive. */
			if (!seen && !lenient && virus_is_archive(data, len) &&
			    !(len >= 4 && memcmp(data, "PK\005\006", 4) == 0))
				rc = verdict(c->hit, VIRUS_ARCHIVE_BROKEN,
				    *prefix ? prefix : "archive", NULL, 0,
				    " (no members)");
			break;
		}
		seen = 1;
		if (r == ARCHIVE_RETRY && ++retries < 3)
			continue;
		if (r < ARCHIVE_WARN) {
			rc = read_failed(c, a, data, len, prefix, lenient);
			break;
		}
		if (++c->entries > MAX_ENTRIES) {
			rc = verdict(c->hit, VIRUS_UNSCANNABLE,
			    "too many archive members", NULL, 0, NULL);
			break;
		}
		if (archive_format(a) == ARCHIVE_FORMAT_RAW) {
			rc = raw_stream(c, a, data, len, level, prefix,
			    truncated, lenient);
			break;
		}
		if ((rc = one_member(c, a, e, level, prefix, truncated)) !=
		    VIRUS_OK)
			break;
	}
	archive_read_free(a);
	return rc;
}

static uint16_t
le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/*
 * Walks every zip local header in data ("PK\3\4" anywhere), so that every
 * piece of a concatenated or doctored zip has its names judged.
 */
static enum virus_reason
raw_zip_scan(struct actx *c, const unsigned char *data, size_t len,
    const char *prefix)
{
	const unsigned char *p, *end = data + len;
	size_t nlen, i;
	unsigned method, n = 0;
	enum virus_reason rc;

	for (p = data; (size_t)(end - p) >= 30 && n < MAX_ENTRIES; p++) {
		p = memmem(p, (size_t)(end - p), "PK\003\004", 4);
		if (p == NULL || (size_t)(end - p) < 30)
			break;
		method = le16(p + 8);
		nlen = le16(p + 26);
		if (le16(p + 4) > 100 || nlen == 0 || nlen > 1024 ||
		    (size_t)(end - p) - 30 < nlen ||
		    !(method == 0 || method == 8 || method == 9 ||
		    method == 12 || method == 14 || method == 93 ||
		    method == 95 || method == 98 || method == 99 ||
		    (method >= 1 && method <= 6)))
			continue;
		for (i = 0; i < nlen; i++)
			if (p[30 + i] == 0)
				break;
		if (i < nlen)
			continue;
		n++;
		if ((rc = judge_member(c, prefix, (const char *)p + 30,
		    nlen)) != VIRUS_OK)
			return rc;
		if (le16(p + 6) & 1)
			return member_hit(c, VIRUS_ARCHIVE_ENCRYPTED, prefix,
			    (const char *)p + 30, nlen, " (encrypted)");
	}
	return VIRUS_OK;
}

static enum virus_reason
scan_mem(struct actx *c, const unsigned char *data, size_t len,
    unsigned level, const char *prefix, int truncated)
{
	const unsigned char *pk;
	enum virus_reason rc;

	if (len == 0)
		return VIRUS_OK;
	if ((rc = pass(c, data, len, level, prefix, truncated, 0)) !=
	    VIRUS_OK)
		return rc;
	pk = memmem(data, len, "PK\003\004", 4);
	if (pk == NULL)
		return VIRUS_OK;
	if ((rc = pass(c, pk, len - (size_t)(pk - data), level, prefix,
	    truncated, 1)) != VIRUS_OK)
		return rc;
	return raw_zip_scan(c, data, len, prefix);
}

/*
 * Lists an archive held in memory and judges every member name, program
 * content and nested archive down to max_depth levels (0 counts as 1).
 * Returns VIRUS_OK or the first hit.
 */
enum virus_reason
virus_check_archive_mem(const struct virus_rules *r, const void *data,
    size_t len, unsigned max_depth, size_t max_bytes, struct virus_hit *hit)
{
	struct virus_hit dummy;
	struct actx c;

	if (hit == NULL)
		hit = &dummy;
	hit->reason = VIRUS_OK;
	hit->what[0] = '\0';
	if (r == NULL || data == NULL || len == 0)
		return VIRUS_OK;
	c.r = r;
	c.max_depth = max_depth ? max_depth : 1;
	c.max_bytes = max_bytes ? max_bytes : len;
	c.entries = 0;
	c.hit = hit;
	return scan_mem(&c, data, len, 1, "", 0);
}

/*
 * The same for an archive in a file: a regular file is mapped whole from
 * offset 0; anything else is read from its position up to max_bytes (more
 * than that is VIRUS_UNSCANNABLE unless a hit comes first).
 */
enum virus_reason
virus_check_archive_fd(const struct virus_rules *r, int fd,
    unsigned max_depth, size_t max_bytes, struct virus_hit *hit)
{
	struct virus_hit dummy;
	struct stat st;
	unsigned char *b = NULL, *nb, probe;
	size_t len = 0, cap = 0;
	ssize_t got;
	void *m;
	enum virus_reason rc;
	int more = 0;

	if (hit == NULL)
		hit = &dummy;
	hit->reason = VIRUS_OK;
	hit->what[0] = '\0';
	if (fstat(fd, &st) == -1)
		return verdict(hit, VIRUS_UNSCANNABLE, "cannot stat archive",
		    NULL, 0, NULL);
	if (S_ISREG(st.st_mode)) {
		if (st.st_size == 0)
			return VIRUS_OK;
		if ((uint64_t)st.st_size <= SIZE_MAX &&
		    (m = mmap(NULL, (size_t)st.st_size, PROT_READ,
		    MAP_PRIVATE, fd, 0)) != MAP_FAILED) {
			rc = virus_check_archive_mem(r, m, (size_t)st.st_size,
			    max_depth, max_bytes, hit);
			munmap(m, (size_t)st.st_size);
			return rc;
		}
	}
	if (max_bytes == 0)
		max_bytes = 64 * 1024 * 1024;
	while (len < max_bytes) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > max_bytes)
				cap = max_bytes;
			if ((nb = realloc(b, cap)) == NULL) {
				free(b);
				return verdict(hit, VIRUS_UNSCANNABLE,
				    "out of memory", NULL, 0, NULL);
			}
			b = nb;
		}
		got = read(fd, b + len, cap - len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	if (len >= max_bytes && read(fd, &probe, 1) > 0)
		more = 1;
	rc = virus_check_archive_mem(r, b, len, max_depth, max_bytes, hit);
	if (rc == VIRUS_OK && more)
		rc = verdict(hit, VIRUS_UNSCANNABLE,
		    "archive larger than the size limit", NULL, 0, NULL);
	free(b);
	return rc;
}

/*
 * TNEF (application/ms-tnef, winmail.dat).
 */

#define TNEF_SIGNATURE		0x223e9f78U
#define ATT_ATTACH_TITLE	0x00018010U
#define ATT_ATTACH_DATA		0x0006800fU
#define ATT_ATTACHMENT		0x00069005U
#define PR_ATTACH_FILENAME	0x3704
#define PR_ATTACH_LONG_FILENAME	0x3707

/* Judges a TNEF name, optionally UTF-16LE. */
static enum virus_reason
tnef_name(const struct virus_rules *r, const unsigned char *s, size_t n,
    int utf16, struct virus_hit *hit)
{
	char nb[NAME_STACK];
	struct virus_hit h;
	size_t o = 0, i;
	unsigned c;

	if (utf16) {
		for (i = 0; i + 1 < n && o + 4 < sizeof(nb); i += 2) {
			c = le16(s + i);
			if (c == 0)
				break;
			if (c >= 0xd800 && c <= 0xdfff)
				c = '?';	/* surrogates: not judged */
			if (c < 0x80)
				nb[o++] = (char)c;
			else if (c < 0x800) {
				nb[o++] = (char)(0xc0 | c >> 6);
				nb[o++] = (char)(0x80 | (c & 0x3f));
			} else {
				nb[o++] = (char)(0xe0 | c >> 12);
				nb[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
				nb[o++] = (char)(0x80 | (c & 0x3f));
			}
		}
	} else {
		for (i = 0; i < n && s[i] != 0 && o < sizeof(nb); i++)
			nb[o++] = (char)s[i];
	}
	if (virus_check_name(r, nb, o, &h) == VIRUS_OK)
		return VIRUS_OK;
	return verdict(hit, VIRUS_ARCHIVE_MEMBER, "tnef member ", nb, o,
	    NULL);
}

static size_t
pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/*
 * Walks the MAPI property list of attAttachment for the file names.
 * Lenient: stops quietly at anything it does not understand.
 */
static enum virus_reason
tnef_mapi(const struct virus_rules *r, const unsigned char *p, size_t n,
    struct virus_hit *hit)
{
	size_t off = 4, vlen, fixed;
	uint32_t count, nvals, i, v;
	unsigned type, id, base;
	enum virus_reason rc;

	if (n < 4)
		return VIRUS_OK;
	count = le32(p);
	for (i = 0; i < count && i < MAX_ENTRIES; i++) {
		if (n - off < 4)
			return VIRUS_OK;
		type = le16(p + off);
		id = le16(p + off + 2);
		off += 4;
		if (id >= 0x8000) {	/* named property */
			if (n - off < 20)
				return VIRUS_OK;
			off += 16;
			if (le32(p + off) == 0) {
				off += 8;
			} else {
				if (n - off < 8)
					return VIRUS_OK;
				vlen = le32(p + off + 4);
				off += 8;
				if (n - off < pad4(vlen) || vlen > n)
					return VIRUS_OK;
				off += pad4(vlen);
			}
			if (off > n)
				return VIRUS_OK;
		}
		base = type & 0x0fff;
		nvals = 1;
		if ((type & 0x1000) || base == 0x1e || base == 0x1f ||
		    base == 0x102 || base == 0x0d) {
			if (n - off < 4)
				return VIRUS_OK;
			nvals = le32(p + off);
			off += 4;
		}
		for (v = 0; v < nvals && v < MAX_ENTRIES; v++) {
			switch (base) {
			case 0x02: case 0x03: case 0x04: case 0x0a: case 0x0b:
				fixed = 4;
				break;
			case 0x05: case 0x06: case 0x07: case 0x14: case 0x40:
				fixed = 8;
				break;
			case 0x48:
				fixed = 16;
				break;
			case 0x1e: case 0x1f: case 0x102: case 0x0d:
				fixed = 0;
				break;
			default:
				return VIRUS_OK;
			}
			if (fixed > 0) {
				if (n - off < fixed)
					return VIRUS_OK;
				off += fixed;
				continue;
			}
			if (n - off < 4)
				return VIRUS_OK;
			vlen = le32(p + off);
			off += 4;
			if (vlen > n - off)
				return VIRUS_OK;
			if ((id == PR_ATTACH_LONG_FILENAME ||
			    id == PR_ATTACH_FILENAME) &&
			    (base == 0x1e || base == 0x1f) &&
			    (rc = tnef_name(r, p + off, vlen, base == 0x1f,
			    hit)) != VIRUS_OK)
				return rc;
			if (pad4(vlen) > n - off)
				return VIRUS_OK;
			off += pad4(vlen);
		}
	}
	return VIRUS_OK;
}

/*
 * Walks a TNEF stream and judges every attachment title, MAPI file name
 * (PR_ATTACH_LONG_FILENAME, PR_ATTACH_FILENAME) and attachment content
 * (program magic, archives).  A stream that does not parse is
 * VIRUS_UNSCANNABLE.
 */
enum virus_reason
virus_check_tnef_mem(const struct virus_rules *r, const void *data,
    size_t len, struct virus_hit *hit)
{
	const unsigned char *p = data, *a;
	struct virus_hit dummy;
	size_t off, alen;
	uint32_t id;
	unsigned n = 0;
	enum virus_reason rc;

	if (hit == NULL)
		hit = &dummy;
	hit->reason = VIRUS_OK;
	hit->what[0] = '\0';
	if (r == NULL)
		return VIRUS_OK;
	if (p == NULL || len < 6 || le32(p) != TNEF_SIGNATURE)
		return verdict(hit, VIRUS_UNSCANNABLE, "not a TNEF stream",
		    NULL, 0, NULL);
	for (off = 6; off < len; off += alen + 2) {
		if (len - off < 9 || ++n > MAX_ENTRIES)
			return verdict(hit, VIRUS_UNSCANNABLE,
			    "malformed TNEF stream", NULL, 0, NULL);
		if (p[off] != 1 && p[off] != 2)
			return verdict(hit, VIRUS_UNSCANNABLE,
			    "malformed TNEF stream", NULL, 0, NULL);
		id = le32(p + off + 1);
		alen = le32(p + off + 5);
		off += 9;
		if (alen > len - off || len - off - alen < 2)
			return verdict(hit, VIRUS_UNSCANNABLE,
			    "truncated TNEF stream", NULL, 0, NULL);
		a = p + off;
		if (id == ATT_ATTACH_TITLE &&
		    (rc = tnef_name(r, a, alen, 0, hit)) != VIRUS_OK)
			return rc;
		if (id == ATT_ATTACHMENT &&
		    (rc = tnef_mapi(r, a, alen, hit)) != VIRUS_OK)
			return rc;
		if (id == ATT_ATTACH_DATA) {
			if (exec_magic(a, alen < 16 ? alen : 16, 1) != NULL)
				return verdict(hit, VIRUS_ARCHIVE_MEMBER,
				    "tnef member with program content", NULL,
				    0, NULL);
			if (virus_is_archive(a, alen) &&
			    (rc = virus_check_archive_mem(r, a, alen, 4, alen,
			    hit)) != VIRUS_OK)
				return rc;
		}
	}
	return VIRUS_OK;
}

/* Short words for logs. */
const char *
virus_reason_str(enum virus_reason r)
{
	if ((unsigned)r >= sizeof(reason_words) / sizeof(reason_words[0]))
		return "unknown";
	return reason_words[r];
}
