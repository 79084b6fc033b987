/*
 * bypass.c -- keyed bypass header for released spam (see bypass.h): the
 * MAC, and the filter's rule for honouring it (bypass_ok, with the
 * corral's issued/used markers).  OpenSSL 3 only: EVP_MAC (HMAC,
 * SHA256), EVP_MD, CRYPTO_memcmp, RAND_priv_bytes; no deprecated calls.
 * Ownership: a key from bypass_key_load() is read-only until
 * bypass_key_free() and may be shared by threads; every call makes its
 * own OpenSSL context.
 * Failure: -1 or NULL with a reason in err where given (secrets never
 * appear in it); a header that fails any check is not honoured, so the
 * message is filtered in full.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "buf.h"
#include "bypass.h"
#include "conf.h"
#include "corral.h"
#include "safefile.h"
#include "smfopts.h"
#include "spool.h"
#include "util.h"
#include "banned.h"

/* One label per purpose: a header minted for one never verifies as the
   other (bypass.h, enum bypass_purpose). */
static const char *const labels[] = {
	[BYPASS_FOR_RELEASE] = "MC-BYPASS-v1",
	[BYPASS_FOR_ARCHIVE] = "MC-ARCHIVE-v2",
	[BYPASS_FOR_VARIANT] = "MC-VARIANT-v1",
	[BYPASS_FOR_DIGEST] = "MC-DIGESTMARK-v1",
};
#define MAC_B64LEN	43		/* base64url of 32 bytes, no padding */

struct bypass_key {
	unsigned char	 key[BYPASS_KEY_LEN];
	char		 kid[BYPASS_KID_LEN + 1];
};

static const char hexl[] = "0123456789abcdef";

/* --- MAC wrapper ------------------------------------------------------ */

static EVP_MAC_CTX *
mac_begin(const void *key, size_t klen)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	EVP_MAC *mac;
	char digest[] = "SHA256";

	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return NULL;
	ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);		/* the context holds a reference */
	if (ctx == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, key, klen, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int
mac_end(EVP_MAC_CTX *ctx, unsigned char out[32])
{
	size_t outl = 0;
	int ok;

	ok = EVP_MAC_final(ctx, out, &outl, 32) == 1 && outl == 32;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

int
bypass_hmac_sha256(const void *key, size_t klen, const void *data,
    size_t len, unsigned char out[32])
{
	EVP_MAC_CTX *ctx;

	if ((ctx = mac_begin(key, klen)) == NULL)
		return -1;
	if (EVP_MAC_update(ctx, data, len) != 1) {
		EVP_MAC_CTX_free(ctx);
		return -1;
	}
	return mac_end(ctx, out);
}

int
bypass_key_hmac(const struct bypass_key *k, const void *data, size_t len,
    unsigned char out[32])
{
	return bypass_hmac_sha256(k->key, sizeof(k->key), data, len, out);
}

/* --- keys ------------------------------------------------------------- */

struct bypass_key *
bypass_key_new(const unsigned char key[BYPASS_KEY_LEN])
{
	struct bypass_key *k;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int i;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	memcpy(k->key, key, BYPASS_KEY_LEN);
	if (EVP_Digest(key, BYPASS_KEY_LEN, md, &mdlen, EVP_sha256(),
	    NULL) != 1) {
		bypass_key_free(k);
		errno = EIO;
		return NULL;
	}
	for (i = 0; i < BYPASS_KID_LEN / 2; i++) {
		k->kid[2 * i] = hexl[md[i] >> 4];
		k->kid[2 * i + 1] = hexl[md[i] & 15];
	}
	k->kid[BYPASS_KID_LEN] = '\0';
	return k;
}

void
bypass_key_free(struct bypass_key *k)
{
	if (k == NULL)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

const char *
bypass_key_kid(const struct bypass_key *k)
{
	return k->kid;
}

void
bypass_key_bytes(const struct bypass_key *k,
    unsigned char out[BYPASS_KEY_LEN])
{
	memcpy(out, k->key, BYPASS_KEY_LEN);
}

static int
key_create(const char *path, char *err, size_t errlen)
{
	unsigned char key[BYPASS_KEY_LEN];
	char hex[2 * BYPASS_KEY_LEN + 1], tmp[PATH_MAX];
	size_t i;
	int fd, n, ok, e;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if (RAND_priv_bytes(key, sizeof(key)) != 1) {
		snprintf(err, errlen, "RAND_priv_bytes failed");
		return -1;
	}
	for (i = 0; i < sizeof(key); i++) {
		hex[2 * i] = hexl[key[i] >> 4];
		hex[2 * i + 1] = hexl[key[i] & 15];
	}
	hex[2 * BYPASS_KEY_LEN] = '\n';
	OPENSSL_cleanse(key, sizeof(key));
	if ((fd = sfile_create(AT_FDCWD, tmp, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		OPENSSL_cleanse(hex, sizeof(hex));
		return -1;
	}
	ok = util_write_all(fd, hex, sizeof(hex)) == 0;
	e = errno;
	OPENSSL_cleanse(hex, sizeof(hex));
	if (!ok)
		close(fd);
	else if (sfile_sync_close(fd) == -1) {
		ok = 0;
		e = errno;
	}
	/* Never replaces: a key created meanwhile wins. */
	if (ok && sfile_publish(AT_FDCWD, tmp, path, SFILE_NOREPLACE) == -1 &&
	    errno != EEXIST) {
		ok = 0;
		e = errno;
	}
	unlink(tmp);
	if (!ok) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

struct bypass_key *
bypass_key_load(const char *path, int create, char *err, size_t errlen)
{
	unsigned char raw[256], key[BYPASS_KEY_LEN];
	struct bypass_key *k = NULL;
	struct stat st;
	size_t len = 0, i;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT && create) {
			if (key_create(path, err, errlen) == -1)
				return NULL;
			return bypass_key_load(path, 0, err, errlen);
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto done;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %lu, not %lu", path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		goto done;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %04o, must not be accessible "
		    "by group or other (chmod 600)", path,
		    (unsigned)(st.st_mode & 07777));
		goto done;
	}
	while (len < sizeof(raw)) {
		if ((r = read(fd, raw + len, sizeof(raw) - len)) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	/* Hex: 64 digits, then only white space. */
	for (i = 0; i < len && util_hexval(raw[i]) != -1; i++)
		;
	if (i == 2 * BYPASS_KEY_LEN) {
		size_t j;

		for (j = i; j < len; j++)
			if (raw[j] != '\n' && raw[j] != '\r' && raw[j] != ' ' &&
			    raw[j] != '\t')
				break;
		if (j == len) {
			for (j = 0; j < BYPASS_KEY_LEN; j++)
				key[j] = (unsigned char)(util_hexval(raw[2 * j])
				    << 4 | util_hexval(raw[2 * j + 1]));
			k = bypass_key_new(key);
			goto made;
		}
	}
	if (len == BYPASS_KEY_LEN) {
		memcpy(key, raw, BYPASS_KEY_LEN);
		k = bypass_key_new(key);
		goto made;
	}
	if (len < BYPASS_KEY_LEN)
		snprintf(err, errlen, "%s: key too short (%zu bytes, need 32)",
		    path, len);
	else
		snprintf(err, errlen, "%s: not 64 hex digits or 32 bytes",
		    path);
	goto done;
made:
	if (k == NULL)
		snprintf(err, errlen, "%s: cannot make key", path);
done:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(key, sizeof(key));
	close(fd);
	return k;
}

/* --- body hash -------------------------------------------------------- */

int
bypass_hash_init(struct bypass_hash *h)
{
	EVP_MD *md;
	int ok;

	memset(h, 0, sizeof(*h));
	if ((md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return -1;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL) {
		EVP_MD_free(md);
		return -1;
	}
	ok = EVP_DigestInit_ex2(h->ctx, md, NULL) == 1;
	EVP_MD_free(md);
	if (!ok) {
		bypass_hash_free(h);
		return -1;
	}
	return 0;
}

struct hout {
	struct bypass_hash	*h;
	size_t			 n;
	unsigned char		 b[4096];
};

static void
hput(struct hout *o, const void *p, size_t n)
{
	if (o->n + n > sizeof(o->b)) {
		if (o->n > 0 && EVP_DigestUpdate(o->h->ctx, o->b, o->n) != 1)
			o->h->err = 1;
		o->n = 0;
		if (n > sizeof(o->b)) {
			if (EVP_DigestUpdate(o->h->ctx, p, n) != 1)
				o->h->err = 1;
			return;
		}
	}
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void
hflush(struct hout *o)
{
	if (o->n > 0 && EVP_DigestUpdate(o->h->ctx, o->b, o->n) != 1)
		o->h->err = 1;
	o->n = 0;
}

/* Starts content on a line: releases held-back empty lines first. */
static void
hcontent(struct hout *o)
{
	struct bypass_hash *h = o->h;

	if (!h->midline) {
		for (; h->nempty > 0; h->nempty--)
			hput(o, "\r\n", 2);
		h->midline = 1;
		h->any = 1;
	}
}

int
bypass_hash_update(struct bypass_hash *h, const void *p, size_t n)
{
	const unsigned char *s = p, *e = s + n, *q;
	struct hout o;

	if (h->ctx == NULL || h->err)
		return -1;
	o.h = h;
	o.n = 0;
	while (s < e) {
		if (h->cr) {
			h->cr = 0;
			if (*s == '\n') {
				s++;
				goto eol;
			}
			hcontent(&o);		/* a bare CR is content */
			hput(&o, "\r", 1);
			continue;
		}
		if (*s == '\r') {
			h->cr = 1;
			s++;
			continue;
		}
		if (*s == '\n') {
			s++;
			goto eol;
		}
		/* A run of ordinary bytes. */
		for (q = s; q < e && *q != '\r' && *q != '\n'; q++)
			;
		hcontent(&o);
		hput(&o, s, (size_t)(q - s));
		s = q;
		continue;
eol:
		if (h->midline) {
			hput(&o, "\r\n", 2);
			h->midline = 0;
		} else
			h->nempty++;
	}
	hflush(&o);
	return h->err ? -1 : 0;
}

int
bypass_hash_final(struct bypass_hash *h, unsigned char out[32])
{
	struct hout o;
	unsigned int len = 0;
	int ok;

	if (h->ctx == NULL)
		return -1;
	o.h = h;
	o.n = 0;
	if (h->cr) {
		hcontent(&o);
		hput(&o, "\r", 1);
		h->cr = 0;
	}
	/* A body without a final CRLF, or no body at all, gets one. */
	if (h->midline || !h->any)
		hput(&o, "\r\n", 2);
	hflush(&o);
	ok = !h->err && EVP_DigestFinal_ex(h->ctx, out, &len) == 1 &&
	    len == 32;
	bypass_hash_free(h);
	return ok ? 0 : -1;
}

void
bypass_hash_free(struct bypass_hash *h)
{
	if (h->ctx != NULL)
		EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

static int
hash_put(void *arg, const char *p, size_t n)
{
	return bypass_hash_update(arg, p, n);
}

int
bypass_hash_spool(struct spool *sp, uint64_t from, uint64_t to,
    unsigned char out[32])
{
	struct bypass_hash h;

	if (bypass_hash_init(&h) == -1)
		return -1;
	if (spool_copy(sp, from, to, hash_put, &h) == -1) {
		bypass_hash_free(&h);
		return -1;
	}
	return bypass_hash_final(&h, out);
}

/* --- header ----------------------------------------------------------- */

static int
lp(EVP_MAC_CTX *ctx, const void *p, size_t n)
{
	unsigned char b[4];

	if (n > UINT32_MAX)
		return -1;
	b[0] = (unsigned char)(n >> 24);
	b[1] = (unsigned char)(n >> 16);
	b[2] = (unsigned char)(n >> 8);
	b[3] = (unsigned char)n;
	return EVP_MAC_update(ctx, b, 4) == 1 &&
	    EVP_MAC_update(ctx, p, n) == 1 ? 0 : -1;
}

static int
be64(EVP_MAC_CTX *ctx, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
	return EVP_MAC_update(ctx, b, 8) == 1 ? 0 : -1;
}

static int
isws(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Header value with white space trimmed and runs collapsed; malloc'd. */
static char *
hdr_canon(const char *p, size_t n, size_t *outn)
{
	char *o;
	size_t i, k = 0;
	int sp = 0;

	if ((o = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (isws((unsigned char)p[i])) {
			sp = 1;
			continue;
		}
		if (sp && k > 0)
			o[k++] = ' ';
		sp = 0;
		o[k++] = p[i];
	}
	o[k] = '\0';
	*outn = k;
	return o;
}

/* The bound address in lower case, length-prefixed; NULL: nothing. */
static int
lp_lower(EVP_MAC_CTX *ctx, const char *s)
{
	char *l;
	size_t i, n;
	int rc;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if ((l = malloc(n + 1)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		l[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') :
		    s[i];
	rc = lp(ctx, l, n);
	free(l);
	return rc;
}

static int
compute(const struct bypass_key *k, enum bypass_purpose purpose,
    const char *bound, const char *id, uint64_t t, uint64_t x,
    const char *msgid, size_t mlen, const char *date, size_t dlen,
    const unsigned char bodyhash[32], char b64[MAC_B64LEN + 1])
{
	const char *label;
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char mac[32];
	char *cm = NULL, *cd = NULL;
	size_t cml = 0, cdl = 0, i, o = 0;
	EVP_MAC_CTX *ctx = NULL;
	int rc = -1;

	if ((unsigned)purpose >= sizeof(labels) / sizeof(labels[0]))
		return -1;
	label = labels[purpose];
	if ((cm = hdr_canon(msgid, mlen, &cml)) == NULL ||
	    (cd = hdr_canon(date, dlen, &cdl)) == NULL)
		goto out;
	if ((ctx = mac_begin(k->key, sizeof(k->key))) == NULL)
		goto out;
	if (EVP_MAC_update(ctx, (const unsigned char *)label,
	    strlen(label)) != 1 ||
	    lp(ctx, k->kid, strlen(k->kid)) == -1 ||
	    lp(ctx, id, strlen(id)) == -1 ||
	    be64(ctx, t) == -1 || be64(ctx, x) == -1 ||
	    lp(ctx, cm, cml) == -1 || lp(ctx, cd, cdl) == -1 ||
	    EVP_MAC_update(ctx, bodyhash, 32) != 1 ||
	    lp_lower(ctx, bound) == -1) {
		EVP_MAC_CTX_free(ctx);
		goto out;
	}
	if (mac_end(ctx, mac) == -1)
		goto out;
	for (i = 0; i + 3 <= 30; i += 3) {
		uint32_t v = (uint32_t)mac[i] << 16 | (uint32_t)mac[i + 1] << 8 |
		    mac[i + 2];

		b64[o++] = alpha[v >> 18 & 63];
		b64[o++] = alpha[v >> 12 & 63];
		b64[o++] = alpha[v >> 6 & 63];
		b64[o++] = alpha[v & 63];
	}
	{
		uint32_t v = (uint32_t)mac[30] << 16 | (uint32_t)mac[31] << 8;

		b64[o++] = alpha[v >> 18 & 63];
		b64[o++] = alpha[v >> 12 & 63];
		b64[o++] = alpha[v >> 6 & 63];
	}
	b64[o] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	rc = 0;
out:
	free(cm);
	free(cd);
	return rc;
}

static int
valid_id(const char *id, size_t n)
{
	size_t i;

	if (n != 16)
		return 0;
	for (i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'A' && id[i] <= 'F')))
			return 0;
	return 1;
}

int
bypass_mint(const struct bypass_key *k, const char *corral_id,
    time_t issued, time_t expires, const char *msgid, size_t mlen,
    const char *date, size_t dlen, const unsigned char bodyhash[32],
    char *out, size_t outlen)
{
	return bypass_mint_for(k, BYPASS_FOR_RELEASE, NULL, corral_id, issued,
	    expires, msgid, mlen, date, dlen, bodyhash, out, outlen);
}

int
bypass_mint_for(const struct bypass_key *k, enum bypass_purpose purpose,
    const char *bound, const char *corral_id, time_t issued, time_t expires,
    const char *msgid, size_t mlen, const char *date, size_t dlen,
    const unsigned char bodyhash[32], char *out, size_t outlen)
{
	char b64[MAC_B64LEN + 1];
	int n;

	if (k == NULL || corral_id == NULL ||
	    !valid_id(corral_id, strlen(corral_id)) || issued <= 0 ||
	    expires < issued) {
		errno = EINVAL;
		return -1;
	}
	if (compute(k, purpose, bound, corral_id, (uint64_t)issued,
	    (uint64_t)expires, msgid, mlen, date, dlen, bodyhash, b64) == -1) {
		errno = EIO;
		return -1;
	}
	n = snprintf(out, outlen, "v=1; k=%s; i=%s; t=%lld; x=%lld; h=%s",
	    k->kid, corral_id, (long long)issued, (long long)expires, b64);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENOSPC;
		return -1;
	}
	return n;
}

/* Matches the literal lit at *p; advances. */
static int
lit(const char **p, const char *e, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(e - *p) < n || memcmp(*p, s, n) != 0)
		return 0;
	*p += n;
	return 1;
}

/* A decimal without sign or leading zero, 1..18 digits. */
static int
num(const char **p, const char *e, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	if (s >= e || *s < '1' || *s > '9')
		return 0;
	while (s < e && *s >= '0' && *s <= '9') {
		if (s - *p >= 18)
			return 0;
		*v = *v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	*p = s;
	return 1;
}

/* A run of exactly n bytes accepted by ok(). */
static int
field(const char **p, const char *e, size_t n, int (*ok)(int), char *out)
{
	size_t i;

	if ((size_t)(e - *p) < n)
		return 0;
	for (i = 0; i < n; i++)
		if (!ok((unsigned char)(*p)[i]))
			return 0;
	if (out != NULL) {
		memcpy(out, *p, n);
		out[n] = '\0';
	}
	*p += n;
	return 1;
}

static int
ok_kid(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

static int
ok_id(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F');
}

static int
ok_b64(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

enum bypass_result
bypass_verify(const struct bypass_key *const *keys, size_t nkeys,
    const char *hdr, size_t hlen, time_t now, long max_age,
    const char *msgid, size_t mlen, const char *date, size_t dlen,
    const unsigned char bodyhash[32], char *id_out, size_t idlen)
{
	return bypass_verify_for(keys, nkeys, BYPASS_FOR_RELEASE, NULL, hdr,
	    hlen, now, max_age, msgid, mlen, date, dlen, bodyhash, id_out,
	    idlen);
}

enum bypass_result
bypass_verify_for(const struct bypass_key *const *keys, size_t nkeys,
    enum bypass_purpose purpose, const char *bound, const char *hdr,
    size_t hlen, time_t now, long max_age, const char *msgid, size_t mlen,
    const char *date, size_t dlen, const unsigned char bodyhash[32],
    char *id_out, size_t idlen)
{
	char kid[BYPASS_KID_LEN + 1], id[17], h[MAC_B64LEN + 1];
	char want[MAC_B64LEN + 1];
	const struct bypass_key *k = NULL;
	const char *p = hdr, *e = hdr + hlen;
	uint64_t t, x;
	size_t i;

	while (p < e && isws((unsigned char)*p))
		p++;
	while (e > p && isws((unsigned char)e[-1]))
		e--;
	if (hlen > BYPASS_HDR_MAX || e - p > BYPASS_HDR_MAX)
		return BYPASS_MALFORMED;
	if (!lit(&p, e, "v=1; k=") ||
	    !field(&p, e, BYPASS_KID_LEN, ok_kid, kid) ||
	    !lit(&p, e, "; i=") || !field(&p, e, 16, ok_id, id) ||
	    !lit(&p, e, "; t=") || !num(&p, e, &t) ||
	    !lit(&p, e, "; x=") || !num(&p, e, &x) ||
	    !lit(&p, e, "; h=") || !field(&p, e, MAC_B64LEN, ok_b64, h) ||
	    p != e)
		return BYPASS_MALFORMED;
	/* The last character carries 4 bits: the other 2 must be zero. */
	if (strchr("AEIMQUYcgkosw048", h[MAC_B64LEN - 1]) == NULL)
		return BYPASS_MALFORMED;
	if (x < t)
		return BYPASS_MALFORMED;
	for (i = 0; i < nkeys; i++)
		if (keys[i] != NULL && strcmp(keys[i]->kid, kid) == 0) {
			k = keys[i];
			break;
		}
	if (k == NULL)
		return BYPASS_UNKNOWN_KEY;
	if (now < 0 || (uint64_t)now + BYPASS_SKEW < t ||
	    (uint64_t)now > x || max_age < 0 || x - t > (uint64_t)max_age)
		return BYPASS_EXPIRED;
	if (compute(k, purpose, bound, id, t, x, msgid, mlen, date, dlen,
	    bodyhash, want) == -1)
		return BYPASS_BAD_MAC;
	if (CRYPTO_memcmp(want, h, MAC_B64LEN) != 0)
		return BYPASS_BAD_MAC;
	if (id_out != NULL && idlen > 0) {
		if (idlen < sizeof(id))
			return BYPASS_MALFORMED;
		memcpy(id_out, id, sizeof(id));
	}
	return BYPASS_OK;
}

const char *
bypass_result_str(enum bypass_result r)
{
	switch (r) {
	case BYPASS_OK:
		return "ok";
	case BYPASS_MALFORMED:
		return "malformed";
	case BYPASS_UNKNOWN_KEY:
		return "unknown-key";
	case BYPASS_EXPIRED:
		return "expired";
	case BYPASS_BAD_MAC:
		return "bad-mac";
	}
	return "unknown";
}

/* ---- the corralled copy's fields ---- */

/* Date and Message-ID when missing, then the bypass header, onto extra. */
static int
corral_fields(const struct bypass_key *k, long max_age,
    const struct corral_msg *m, const char *date_in, const char *msgid_in,
    const unsigned char hash[32], char *bid, struct buf *extra, char *err,
    size_t errlen)
{
	char date[64], msgid[160], token[512];
	const char *use_date = date_in, *use_msgid = msgid_in;
	time_t now = time(NULL);
	struct tm tm;

	if (use_date == NULL) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000",
		    &tm);
		use_date = date;
		buf_printf(extra, "Date: %s\r\n", date);
	}
	if (use_msgid == NULL) {
		if (util_random_hex(bid, CORRAL_ID_LEN, 1) == -1) {
			snprintf(err, errlen, "random id: %s", strerror(errno));
			return -1;
		}
		snprintf(msgid, sizeof(msgid), "<%s.%s@mailcorral>", bid,
		    m->qid);
		use_msgid = msgid;
		buf_printf(extra, "Message-ID: %s\r\n", msgid);
	}
	if (util_random_hex(bid, CORRAL_ID_LEN, 1) == -1) {
		snprintf(err, errlen, "random id: %s", strerror(errno));
		return -1;
	}
	if (k == NULL || bypass_mint(k, bid, now, now + max_age, use_msgid,
	    strlen(use_msgid), use_date, strlen(use_date), hash, token,
	    sizeof(token)) < 0) {
		snprintf(err, errlen, "cannot mint the bypass header");
		return -1;
	}
	buf_printf(extra, "%s: %s\r\n\r\n", SPAMHDRBYPASS, token);
	if (extra->data == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
bypass_corral_fields(const struct bypass_key *k, long max_age,
    const struct corral_msg *m, const char *date, const char *msgid,
    char *bid, struct buf *extra, char *err, size_t errlen)
{
	unsigned char hash[32];

	if (bypass_hash_spool(m->body, m->from, spool_size(m->body),
	    hash) == -1) {
		snprintf(err, errlen, "body hash failed");
		return -1;
	}
	return corral_fields(k, max_age, m, date, msgid, hash, bid, extra,
	    err, errlen);
}

/* ---- honouring the header ---- */

/* corral_dir/<kind><id>.<safe rcpt>; 0 or -1. */
static int
marker_path(const struct mc_config *cf, const char *kind, const char *id,
    const char *rcpt, char *path, size_t len)
{
	char name[CORRAL_NAME_MAX + 32];
	int n;

	if (corral_marker_name(kind, id, rcpt, name, sizeof(name)) == -1)
		return -1;
	n = snprintf(path, len, "%s/%s", cf->corral_dir, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * A verified header: was it issued for this recipient (SC-B5), and is
 * this its first use for them (SC-B3)?  A message corralled for several
 * recipients is released to each of them separately.
 */
static int
bypass_markers(const struct mc_config *cf, const char *id, const char *rcpt,
    char *why, size_t whylen)
{
	char path[4096];

	if (marker_path(cf, CORRAL_MARK_ISSUED, id, rcpt, path,
	    sizeof(path)) == -1) {
		snprintf(why, whylen, "recipient");
		return 0;
	}
	switch (corral_marker_check(AT_FDCWD, path)) {
	case 1:
		break;
	case 0:
		snprintf(why, whylen, "no-entry");
		return 0;
	default:
		snprintf(why, whylen, "marker-failed");
		return 0;
	}
	return bypass_mark_used(cf, id, rcpt, why, whylen);
}

int
bypass_mark_used(const struct mc_config *cf, const char *id,
    const char *rcpt, char *why, size_t whylen)
{
	char path[4096];

	if (marker_path(cf, CORRAL_MARK_USED, id, rcpt, path,
	    sizeof(path)) == -1) {
		snprintf(why, whylen, "recipient");
		return 0;
	}
	if (corral_marker_make(AT_FDCWD, path, NULL, 1) == -1) {
		snprintf(why, whylen, "%s", errno == EEXIST ? "used" :
		    "marker-failed");
		return 0;
	}
	snprintf(why, whylen, "%s", id);
	return 1;
}

int
bypass_local_origin(const struct mc_config *cf, const struct bypass_msg *bm,
    char *why, size_t whylen)
{
	if (cf->bypass_daemon_name[0] != '\0') {
		/* the listener proves where it came from; mailer and
		   address do not (a remote MAIL FROM:<x@local> is local) */
		if (bm->daemon == NULL ||
		    strcmp(bm->daemon, cf->bypass_daemon_name) != 0) {
			snprintf(why, whylen, "not-release-listener");
			return 0;
		}
	} else if (bm->mailer == NULL || strcmp(bm->mailer, "local") != 0 ||
	    bm->mailaddr == NULL || bm->mailaddr[0] == '\0' ||
	    strchr(bm->mailaddr, '@') != NULL) {
		snprintf(why, whylen, "not-local");
		return 0;
	}
	return 1;
}

int
bypass_ok(const struct mc_config *cf, const struct bypass_msg *bm,
    char *why, size_t whylen)
{
	char id[CORRAL_ID_LEN + 1];
	enum bypass_result r;

	if (cf->key == NULL) {
		snprintf(why, whylen, "no-key");
		return 0;
	}
	if (bm->nheaders != 1) {
		snprintf(why, whylen, "header-count=%u", bm->nheaders);
		return 0;
	}
	if (bm->nrcpt != 1) {
		snprintf(why, whylen, "recipients=%u", bm->nrcpt);
		return 0;
	}
	if (!bypass_local_origin(cf, bm, why, whylen))
		return 0;
	if (bm->date == NULL || bm->msgid == NULL) {
		snprintf(why, whylen, "bad-date");
		return 0;
	}
	if (bm->bodyhash == NULL) {
		snprintf(why, whylen, "no-body-hash");
		return 0;
	}
	r = bypass_verify(cf->verify_keys, cf->nverify_keys, bm->header,
	    strlen(bm->header), time(NULL), cf->bypass_max_age, bm->msgid,
	    strlen(bm->msgid), bm->date, strlen(bm->date), bm->bodyhash, id,
	    sizeof(id));
	if (r != BYPASS_OK) {
		snprintf(why, whylen, "%s", bypass_result_str(r));
		return 0;
	}
	return bypass_markers(cf, id, bm->rcpt, why, whylen);
}
