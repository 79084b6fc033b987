/*
 * spamcorral.c -- helpers shared by spamcorral-notify and spamcorral-robot
 * (see spamcorral.h): digest tokens, header helpers, addresses, local
 * domains, sendmail.
 * Names: the short prefix sc_ (SpamCorral), shared by the three files
 * behind spamcorral.h (spamcorral.c, reply.c, state.c).
 * Ownership: what comes back in a struct buf or malloc'd is the caller's;
 * the bypass key is the caller's and only read.
 * Failure: -1 with a reason in err where given; nothing here exits.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bypass.h"
#include "buf.h"
#include "mime.h"
#include "safefile.h"
#include "smfopts.h"
#include "spamcorral/spamcorral.h"
#include "util.h"

#include "banned.h"

static void
put_lp(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	unsigned char lp[4];

	lp[0] = (unsigned char)(n >> 24);
	lp[1] = (unsigned char)(n >> 16);
	lp[2] = (unsigned char)(n >> 8);
	lp[3] = (unsigned char)n;
	buf_add(b, lp, 4);
	buf_add(b, s, n);
}

/* HMAC-SHA256(key, label || lp(name) || lp(safe) [|| hash]). */
static int
digest_mac(const unsigned char key[32], const char *label, const char *name,
    const char *safe, const unsigned char *hash, unsigned char mac[32])
{
	struct buf b = BUF_INIT;
	int rc;

	buf_adds(&b, label);
	put_lp(&b, name);
	put_lp(&b, safe);
	if (hash != NULL)
		buf_add(&b, hash, SC_HASH_LEN);
	if (b.data == NULL)
		return -1;
	rc = bypass_hmac_sha256(key, 32, b.data, b.len, mac);
	OPENSSL_cleanse(b.data, b.len);
	buf_free(&b);
	return rc;
}

static void
to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
sc_token(const unsigned char key[32], const char *name, const char *safe,
    const unsigned char hash[SC_HASH_LEN], char out[SC_TOKEN_HEX + 1])
{
	unsigned char m1[32], m2[32], t[SC_TOKEN_HEX / 2];
	const size_t half = SC_TOKEN_HEX / 4;

	if (digest_mac(key, SC_LABEL, name, safe, NULL, m1) == -1 ||
	    digest_mac(key, SC_LABEL_CONTENT, name, safe, hash, m2) == -1)
		return -1;
	memcpy(t, m1, half);
	memcpy(t + half, m2, half);
	to_hex(t, sizeof(t), out);
	OPENSSL_cleanse(m1, sizeof(m1));
	OPENSSL_cleanse(m2, sizeof(m2));
	return 0;
}

enum sc_tok
sc_token_check(const unsigned char key[32], const char *name,
    const char *safe, const unsigned char *hash, const char *tok)
{
	unsigned char m1[32], m2[32];
	char h1[SC_TOKEN_HEX + 1], h2[SC_TOKEN_HEX + 1];
	const size_t half = SC_TOKEN_HEX / 2;	/* hex digits per half */
	enum sc_tok rc;

	memset(m2, 0, sizeof(m2));
	memset(h2, 0, sizeof(h2));
	if (strlen(tok) != SC_TOKEN_HEX)
		return SC_TOK_BAD;
	if (digest_mac(key, SC_LABEL, name, safe, NULL, m1) == -1)
		return SC_TOK_ERR;
	to_hex(m1, SC_TOKEN_HEX / 2, h1);	/* the one-part token */
	if (CRYPTO_memcmp(h1, tok, half) != 0)
		rc = SC_TOK_BAD;
	else if (hash == NULL)
		rc = SC_TOK_OK;
	else if (digest_mac(key, SC_LABEL_CONTENT, name, safe, hash, m2) ==
	    -1)
		rc = SC_TOK_ERR;
	else {
		to_hex(m2, SC_TOKEN_HEX / 4, h2);
		if (CRYPTO_memcmp(h2, tok + half, half) == 0)
			rc = SC_TOK_OK;
		else if (CRYPTO_memcmp(h1 + half, tok + half, half) == 0)
			rc = SC_TOK_OLD;
		else
			rc = SC_TOK_CHANGED;
	}
	OPENSSL_cleanse(m1, sizeof(m1));
	OPENSSL_cleanse(m2, sizeof(m2));
	OPENSSL_cleanse(h1, sizeof(h1));
	OPENSSL_cleanse(h2, sizeof(h2));
	return rc;
}

size_t
sc_headers(const char *m, size_t len, void (*fn)(void *, const char *,
    size_t, const char *, size_t), void *arg)
{
	struct buf v = BUF_INIT;
	size_t i = 0, ls, le, nend, j;

	while (i < len) {
		ls = i;
		while (i < len && m[i] != '\n')
			i++;
		le = i;			/* end of line content */
		if (i < len)
			i++;
		if (le > ls && m[le - 1] == '\r')
			le--;
		if (le == ls)		/* empty line: body follows */
			break;
		/* unfold continuation lines */
		buf_reset(&v);
		buf_add(&v, m + ls, le - ls);
		while (i < len && (m[i] == ' ' || m[i] == '\t')) {
			ls = i;
			while (i < len && m[i] != '\n')
				i++;
			le = i;
			if (i < len)
				i++;
			if (le > ls && m[le - 1] == '\r')
				le--;
			buf_add(&v, m + ls, le - ls);
		}
		if (v.data == NULL)
			continue;
		for (nend = 0; nend < v.len && v.data[nend] != ':'; nend++)
			;
		if (nend == v.len || nend == 0)
			continue;	/* not a field (or a From_ line) */
		j = nend + 1;
		while (j < v.len && (v.data[j] == ' ' || v.data[j] == '\t'))
			j++;
		fn(arg, v.data, nend, v.data + j, v.len - j);
	}
	buf_free(&v);
	return i;
}

int
sc_field_is(const char *name, size_t nlen, const char *want)
{
	return strlen(want) == nlen && strncasecmp(name, want, nlen) == 0;
}

static int
is_format_char(uint32_t c)
{
	return c == 0x061c || c == 0x00ad || (c >= 0x200b && c <= 0x200f) ||
	    (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069) ||
	    c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb);
}

void
sc_clean_text(const char *in, size_t len, char *out, size_t outlen,
    size_t max_chars)
{
	char *dec;
	size_t dlen = 0, i = 0, o = 0, nch = 0, k;
	uint32_t cp;
	int space = 1;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if ((dec = malloc(len * 4 + 16)) == NULL)
		return;
	if (mime_decode_words(in, len, dec, len * 4 + 15, &dlen) == -1) {
		memcpy(dec, in, len);
		dlen = len;
	}
	while (i < dlen && o + 8 < outlen) {
		k = util_utf8_len((const unsigned char *)dec + i, dlen - i,
		    &cp);
		if (k == 0) {		/* not UTF-8: replacement char */
			k = 1;
			cp = 0xfffd;
		}
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    cp == ' ') {
			/* a run of them is one space, and counts as one */
			if (!space && nch < max_chars) {
				out[o++] = ' ';
				nch++;
			}
			space = 1;
			i += k;
			continue;
		}
		if (is_format_char(cp)) {
			i += k;
			continue;
		}
		if (nch >= max_chars) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (cp == 0xfffd && k == 1)
			out[o++] = '?';
		else {
			memcpy(out + o, dec + i, k);
			o += k;
		}
		nch++;
		space = 0;
		i += k;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	free(dec);
}

int
sc_addr_extract(const char *v, size_t vlen, char *out, size_t outlen)
{
	const char *lt = memchr(v, '<', vlen), *gt, *s, *e;
	size_t n;

	if (lt != NULL && (gt = memchr(lt, '>', vlen - (size_t)(lt - v))) !=
	    NULL) {
		s = lt + 1;
		e = gt;
	} else {
		/* bare address: first word that holds an '@', else the
		   first word */
		const char *p = v, *end = v + vlen, *w0 = NULL, *w0e = NULL;

		s = e = NULL;
		while (p < end) {
			const char *ws;

			while (p < end && (isspace((unsigned char)*p) ||
			    *p == ','))
				p++;
			if (p < end && *p == '(') {	/* comment */
				while (p < end && *p != ')')
					p++;
				if (p < end)
					p++;
				continue;
			}
			ws = p;
			while (p < end && !isspace((unsigned char)*p) &&
			    *p != '(' && *p != ',')
				p++;
			if (p == ws)
				continue;
			if (w0 == NULL)
				w0 = ws, w0e = p;
			if (memchr(ws, '@', (size_t)(p - ws)) != NULL) {
				s = ws;
				e = p;
				break;
			}
		}
		if (s == NULL)
			s = w0, e = w0e;
		if (s == NULL)
			return -1;
	}
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	n = (size_t)(e - s);
	if (n == 0 || n >= outlen)
		return -1;
	/*
	 * A line end inside <...> (a bare CR): not an address.  Other control
	 * bytes stay, for the robot's bad-sender check to name.
	 */
	if (memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int
sc_addr_eq(const char *a, const char *b)
{
	const char *aa = strrchr(a, '@'), *bb = strrchr(b, '@');
	size_t la = aa ? (size_t)(aa - a) : strlen(a);
	size_t lb = bb ? (size_t)(bb - b) : strlen(b);

	if (la != lb || memcmp(a, b, la) != 0)
		return 0;
	if ((aa == NULL) != (bb == NULL))
		return 0;
	return aa == NULL || strcasecmp(aa, bb) == 0;
}

void
sc_local_part(const char *addr, char *out, size_t outlen)
{
	const char *at = strrchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);

	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, addr, n);
	out[n] = '\0';
}

int
sc_addr_ok(const char *addr)
{
	const unsigned char *p = (const unsigned char *)addr;

	if (*p == '\0' || *p == '-' || strlen(addr) > SC_ADDR_MAX)
		return 0;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

struct sc_data {
	const char	*p;
	size_t		 len;
};

static int
sc_write_data(void *arg, int fd)
{
	const struct sc_data *d = arg;

	return util_write_all(fd, d->p, d->len);
}

int
sc_sendmail(const char *path, const char *from, const char *rcpt,
    const void *data, size_t len)
{
	struct sc_data d = { data, len };
	char *rcpts[1] = { (char *)(uintptr_t)rcpt };
	void (*old)(int);
	int rc;

	if (!sc_addr_ok(rcpt) || (from[0] != '<' && !sc_addr_ok(from))) {
		errno = EINVAL;
		return -1;
	}
	old = signal(SIGPIPE, SIG_IGN);
	rc = util_sendmail(path, from, rcpts, 1, sc_write_data, &d);
	signal(SIGPIPE, old);
	return rc;
}

int
sc_read_hash(int fd, struct buf *out, size_t keep, size_t max,
    unsigned char hash[SC_HASH_LEN])
{
	char tmp[65536];
	EVP_MD_CTX *ctx;
	EVP_MD *md;
	unsigned int hl = 0;
	size_t total = 0, k;
	ssize_t n;
	int rc = -1, e = EIO;

	if ((md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		goto fail;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		EVP_MD_free(md);
		goto fail;
	}
	if (EVP_DigestInit_ex2(ctx, md, NULL) != 1)
		goto out;
	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1) {
			e = errno;
			goto out;
		}
		if (n == 0)
			break;
		if ((size_t)n > max - total) {
			e = ERANGE;
			goto out;
		}
		total += (size_t)n;
		if (EVP_DigestUpdate(ctx, tmp, (size_t)n) != 1)
			goto out;
		if (out != NULL && out->len < keep) {
			k = keep - out->len < (size_t)n ? keep - out->len :
			    (size_t)n;
			if (buf_add(out, tmp, k) == -1) {
				e = ENOMEM;
				goto out;
			}
		}
	}
	if (EVP_DigestFinal_ex(ctx, hash, &hl) != 1 || hl != SC_HASH_LEN)
		goto out;
	if (out != NULL && out->data == NULL && buf_add(out, "", 0) == -1) {
		e = ENOMEM;
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	if (rc == 0)
		return 0;
fail:
	errno = e;
	return -1;
}

/* ---- local domains ---- */

static int
dom_add(struct sc_domains *d, const char *p, size_t n)
{
	char **nv, *s;
	size_t i;

	while (n > 0 && p[n - 1] == '.')	/* "example.org." */
		n--;
	if (n == 0)
		return 0;
	if ((s = strndup(p, n)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	if ((nv = reallocarray(d->v, d->n + 1, sizeof(*nv))) == NULL) {
		free(s);
		return -1;
	}
	d->v = nv;
	d->v[d->n++] = s;
	return 0;
}

/* Adds every word of p (blanks, commas; '#' to the end of a line). */
static int
dom_words(struct sc_domains *d, const char *p, size_t len)
{
	size_t i = 0, w;

	while (i < len) {
		if (p[i] == '#') {
			while (i < len && p[i] != '\n')
				i++;
			continue;
		}
		if (isspace((unsigned char)p[i]) || p[i] == ',') {
			i++;
			continue;
		}
		for (w = i; i < len && !isspace((unsigned char)p[i]) &&
		    p[i] != ',' && p[i] != '#'; i++)
			;
		if (dom_add(d, p + w, i - w) == -1)
			return -1;
	}
	return 0;
}

/*
 * Adds the words of the file path ("file:" in local_domains); b is
 * scratch.  A missing file is no error when missing_ok (the MTA's
 * local-host-names on a host without one).  0, or -1 with err set.
 */
static int
dom_file(struct sc_domains *d, const char *path, int missing_ok,
    struct buf *b, char *err, size_t errlen)
{
	unsigned char h[SC_HASH_LEN];
	int fd;

	buf_reset(b);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 && missing_ok &&
	    errno == ENOENT)
		return 0;
	if (fd == -1 || sc_read_hash(fd, b, 1024 * 1024, 1024 * 1024,
	    h) == -1) {
		snprintf(err, errlen, "local_domains: %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	if (dom_words(d, b->data, b->len) == -1) {
		snprintf(err, errlen, "local_domains: out of memory");
		return -1;
	}
	return 0;
}

/*
 * The names sendmail's class w holds by default: its local-host-names
 * file (cw_file), the host's name and canonical name, and localhost.
 */
static int
dom_mta_names(struct sc_domains *d, const char *cw_file, struct buf *b,
    char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	char host[256];

	if (dom_file(d, cw_file, 1, b, err, errlen) == -1)
		return -1;
	if (dom_add(d, "localhost", strlen("localhost")) == -1)
		goto nomem;
	if (gethostname(host, sizeof(host)) == -1)
		return 0;
	host[sizeof(host) - 1] = '\0';
	if (dom_add(d, host, strlen(host)) == -1)
		goto nomem;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(host, NULL, &hints, &ai) == 0) {
		if (ai->ai_canonname != NULL && strcmp(ai->ai_canonname,
		    host) != 0 && dom_add(d, ai->ai_canonname,
		    strlen(ai->ai_canonname)) == -1) {
			freeaddrinfo(ai);
			goto nomem;
		}
		freeaddrinfo(ai);
	}
	return 0;
nomem:
	snprintf(err, errlen, "local_domains: out of memory");
	return -1;
}

int
sc_domains_load(const char *spec, const char *robot_addr,
    struct sc_domains *d, char *err, size_t errlen)
{
	return sc_domains_load_cw(spec, robot_addr, SC_CW_FILE, d, err,
	    errlen);
}

int
sc_domains_load_cw(const char *spec, const char *robot_addr,
    const char *cw_file, struct sc_domains *d, char *err, size_t errlen)
{
	const char *p = spec, *at;
	struct buf b = BUF_INIT;
	size_t n, words = 0;

	d->v = NULL;
	d->n = 0;
	while (*p != '\0') {
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " \t\r\n,");
		words++;
		if (n > 5 && strncmp(p, "file:", 5) == 0) {
			char path[4096];

			snprintf(path, sizeof(path), "%.*s", (int)(n - 5),
			    p + 5);
			if (dom_file(d, path, 0, &b, err, errlen) == -1)
				goto fail;
		} else if (dom_add(d, p, n) == -1)
			goto nomem;
		p += n;
	}
	if (words == 0) {
		if ((at = strrchr(robot_addr, '@')) != NULL &&
		    dom_add(d, at + 1, strlen(at + 1)) == -1)
			goto nomem;
		if (dom_mta_names(d, cw_file, &b, err, errlen) == -1)
			goto fail;
	}
	buf_free(&b);
	return 0;
nomem:
	snprintf(err, errlen, "local_domains: out of memory");
fail:
	buf_free(&b);
	sc_domains_free(d);
	return -1;
}

int
sc_domains_match(const struct sc_domains *d, const char *addr)
{
	const char *at = strrchr(addr, '@'), *dom;
	size_t i, dl, wl;

	if (at == NULL)
		return 1;
	dom = at + 1;
	dl = strlen(dom);
	while (dl > 0 && dom[dl - 1] == '.')
		dl--;
	for (i = 0; i < d->n; i++) {
		const char *w = d->v[i];

		if (w[0] == '*' && w[1] == '.') {
			/* "*.example.org": a subdomain, not the domain */
			wl = strlen(w + 1);	/* ".example.org" */
			if (dl > wl && strncasecmp(dom + dl - wl, w + 1, wl)
			    == 0)
				return 1;
		} else if (strlen(w) == dl && strncasecmp(dom, w, dl) == 0)
			return 1;
	}
	return 0;
}

void
sc_domains_free(struct sc_domains *d)
{
	while (d->v != NULL && d->n > 0)
		free(d->v[--d->n]);
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

struct rb_hdrs {
	char	*date, *msgid;
};

static void
rb_field(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct rb_hdrs *h = arg;

	if (sc_field_is(n, nl, "Date") && h->date == NULL)
		h->date = strndup(v, vl);
	else if (sc_field_is(n, nl, "Message-ID") && h->msgid == NULL)
		h->msgid = strndup(v, vl);
}

int
sc_rebypass(const struct bypass_key *key, long max_age, const char *m,
    size_t len, struct buf *out, char *id_out, char *err, size_t errlen)
{
	return sc_rekey(key, BYPASS_FOR_RELEASE, NULL, SPAMHDRBYPASS, max_age,
	    m, len, out, id_out, err, errlen);
}

int
sc_rekey(const struct bypass_key *key, int purpose, const char *bound,
    const char *field, long max_age, const char *m, size_t len,
    struct buf *out, char *id_out, char *err, size_t errlen)
{
	struct rb_hdrs h = { NULL, NULL };
	struct bypass_hash bh;
	unsigned char hash[32];
	char id[17], tok[512];
	const char *eol;
	size_t body, i, ls, n = strlen(field);
	time_t now = time(NULL);
	int skip = 0, rc = -1;

	body = sc_headers(m, len, rb_field, &h);
	if (h.date == NULL || h.msgid == NULL) {
		snprintf(err, errlen, "no Date or Message-ID");
		goto out;
	}
	memset(&bh, 0, sizeof(bh));
	if (bypass_hash_init(&bh) == -1 ||
	    bypass_hash_update(&bh, m + body, len - body) == -1 ||
	    bypass_hash_final(&bh, hash) == -1) {
		bypass_hash_free(&bh);
		snprintf(err, errlen, "body hash failed");
		goto out;
	}
	if (util_random_hex(id, CORRAL_ID_LEN, 1) == -1) {
		snprintf(err, errlen, "random id: %s", strerror(errno));
		goto out;
	}
	if (bypass_mint_for(key, (enum bypass_purpose)purpose, bound, id, now,
	    now + max_age, h.msgid, strlen(h.msgid), h.date, strlen(h.date),
	    hash, tok, sizeof(tok)) < 0) {
		snprintf(err, errlen, "cannot mint a %s field", field);
		goto out;
	}
	eol = memchr(m, '\n', len);
	eol = (eol != NULL && eol > m && eol[-1] == '\r') ? "\r\n" : "\n";
	/* the header block without the old field(s) */
	for (i = 0; i < body;) {
		ls = i;
		while (i < body && m[i] != '\n')
			i++;
		if (i < body)
			i++;
		if (m[ls] == '\n' || (m[ls] == '\r' && ls + 1 < body &&
		    m[ls + 1] == '\n'))
			break;		/* the empty line */
		if (m[ls] != ' ' && m[ls] != '\t')
			skip = i - ls > n && strncasecmp(m + ls,
			    field, n) == 0 && m[ls + n] == ':';
		if (!skip)
			buf_add(out, m + ls, i - ls);
	}
	buf_printf(out, "%s: %s%s%s", field, tok, eol, eol);
	buf_add(out, m + body, len - body);
	if (out->data == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (id_out != NULL)
		memcpy(id_out, id, sizeof(id));
	rc = 0;
out:
	free(h.date);
	free(h.msgid);
	return rc;
}

int
sc_entry_expired(int dfd, const char *name, long days, time_t now)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	return st.st_mtime < now - (time_t)days * 86400;
}

int
sc_notified_name(const char *id, const char *safe, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s.%s", SC_MARK_NOTIFIED, id, safe);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
sc_learned_name(const char *id, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s", SC_MARK_LEARNED, id);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static void
on_spamd_field(void *arg, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	int *answered = arg;

	if (sc_field_is(name, nlen, MC_HDR_SPAMD) && vlen >= 8 &&
	    strncasecmp(value, "answered", 8) == 0)
		*answered = 1;
}

int
sc_spamd_answered(const char *msg, size_t len)
{
	int answered = 0;

	(void)sc_headers(msg, len, on_spamd_field, &answered);
	return answered;
}

void
sc_rfc5322_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		out[0] = '\0';
}

/* ---- the corral's lock ---- */

static int lock_dfd = -1;	/* held in this directory, or -1 */
static pid_t lock_pid;		/* by this process (not a forked child) */

void
sc_corral_unlock(void)
{
	if (lock_dfd == -1 || getpid() != lock_pid)
		return;
	if (sfile_unlock(lock_dfd, SC_LOCK_FILE) == -1 && errno == EPERM)
		fprintf(stderr, "spamcorral: %s was broken as stale while "
		    "held\n", SC_LOCK_FILE);
	lock_dfd = -1;
}

int
sc_corral_lock(int dfd, int wait, char *err, size_t errlen)
{
	static int registered;

	if (sfile_lock(dfd, SC_LOCK_FILE, wait, SC_LOCK_STALE, err,
	    errlen) == -1)
		return -1;
	lock_dfd = dfd;
	lock_pid = getpid();
	if (!registered && atexit(sc_corral_unlock) == 0)
		registered = 1;
	return 0;
}
