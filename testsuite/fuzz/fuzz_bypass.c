/*
 * fuzz_bypass -- bypass_verify() with a fixed key, and the body hash.
 * Byte 0 picks the mode; the rest is the data:
 *   0  the data is the header value; fixed Message-ID, Date, body hash:
 *      never BYPASS_OK (only a golden token minted here verifies, and the
 *      data is checked against it);
 *   1  header = the golden token; the data is the Message-ID: BYPASS_OK
 *      exactly when the data, trimmed and with white-space runs collapsed,
 *      equals the minted Message-ID;
 *   2  the same with the Date;
 *   3  header = the golden token with bytes of the data XORed in at the
 *      positions the data names (pairs pos, value): BYPASS_OK exactly when
 *      the trimmed result is the golden token;
 *   4  bypass_hash_* over the data, whole vs. in the chunks chosen by
 *      bytes 1-2: same digest.
 * In every mode: a result from the enum, a known string, id_out written
 * only on BYPASS_OK.
 */
#include "fuzz_common.h"
#include "bypass.h"

#define ISSUED	1700000000
#define EXPIRES	(ISSUED + 7 * 86400)
#define NOW	(ISSUED + 3600)
#define MAXAGE	(14L * 86400)

static const char MSGID[] = "<fuzz.1@mailcorral.test>";
static const char DATE[] = "Tue, 14 Nov 2023 22:13:20 +0000";
static struct bypass_key *key;
static const struct bypass_key *keys[2];
static unsigned char bodyhash[32];
static char golden[BYPASS_HDR_MAX + 1];
static size_t goldenlen;

static void
init(void)
{
	unsigned char k[BYPASS_KEY_LEN];
	size_t i;
	int n;

	for (i = 0; i < sizeof(k); i++)
		k[i] = (unsigned char)(i * 7 + 1);
	for (i = 0; i < sizeof(bodyhash); i++)
		bodyhash[i] = (unsigned char)(0xa5 ^ i);
	if ((key = bypass_key_new(k)) == NULL)
		abort();
	keys[0] = key;
	keys[1] = NULL;
	n = bypass_mint(key, "0123456789ABCDEF", ISSUED, EXPIRES, MSGID,
	    strlen(MSGID), DATE, strlen(DATE), bodyhash, golden,
	    sizeof(golden));
	if (n <= 0)
		abort();
	goldenlen = (size_t)n;
}

/* Trim, collapse SP/HTAB/CR/LF runs to one space (bypass.h). */
static size_t
norm(const char *s, size_t n, char *out)
{
	size_t i, k = 0;
	int ws = 0;

	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL && s[n - 1])
		n--;
	for (i = 0; i < n && s[i] != '\0' && strchr(" \t\r\n", s[i]); i++)
		;
	for (; i < n; i++) {
		int w = s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		    s[i] == '\n';

		if (w) {
			ws = 1;
			continue;
		}
		if (ws)
			out[k++] = ' ';
		ws = 0;
		out[k++] = s[i];
	}
	return k;
}

static enum bypass_result
verify(const char *hdr, size_t hlen, const char *msgid, size_t mlen,
    const char *date, size_t dlen)
{
	char id[32];
	enum bypass_result r;

	memset(id, 'Z', sizeof(id));
	r = bypass_verify(keys, 2, hdr, hlen, NOW, MAXAGE, msgid, mlen, date,
	    dlen, bodyhash, id, sizeof(id));
	FUZZ_CHECK(r >= BYPASS_OK && r <= BYPASS_BAD_MAC, "result %d", r);
	FUZZ_CHECK(bypass_result_str(r) != NULL, "no string for %d", r);
	if (r == BYPASS_OK)
		FUZZ_CHECK(strcmp(id, "0123456789ABCDEF") == 0, "id %.17s",
		    id);
	else
		FUZZ_CHECK(id[0] == 'Z', "id_out written on failure");
	return r;
}

static int
is_golden(const char *h, size_t n)
{
	while (n > 0 && strchr(" \t\r\n", h[n - 1]) != NULL && h[n - 1])
		n--;
	while (n > 0 && h[0] != '\0' && strchr(" \t\r\n", h[0]) != NULL) {
		h++;
		n--;
	}
	return n == goldenlen && memcmp(h, golden, n) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n = size > 0 ? size - 1 : 0, i, k1, k2;
	char a[8192], b[8192], hdr[BYPASS_HDR_MAX * 2];
	enum bypass_result r;

	if (key == NULL)
		init();
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		r = verify(p, n, MSGID, strlen(MSGID), DATE, strlen(DATE));
		FUZZ_CHECK(r != BYPASS_OK || is_golden(p, n),
		    "random header verifies: \"%.*s\"", (int)n, p);
		break;
	case 1:
	case 2:
		if (n > sizeof(a))
			return 0;
		if (data[0] % 5 == 1) {
			r = verify(golden, goldenlen, p, n, DATE, strlen(DATE));
			k1 = norm(p, n, a);
			k2 = norm(MSGID, strlen(MSGID), b);
		} else {
			r = verify(golden, goldenlen, MSGID, strlen(MSGID), p,
			    n);
			k1 = norm(p, n, a);
			k2 = norm(DATE, strlen(DATE), b);
		}
		FUZZ_CHECK((r == BYPASS_OK) ==
		    (k1 == k2 && memcmp(a, b, k1) == 0),
		    "mode %d: result %s for \"%.*s\"", data[0] % 5,
		    bypass_result_str(r), (int)n, p);
		break;
	case 3:
		memcpy(hdr, golden, goldenlen);
		for (i = 0; i + 1 < n; i += 2)
			hdr[(unsigned char)p[i] % goldenlen] ^= p[i + 1];
		r = verify(hdr, goldenlen, MSGID, strlen(MSGID), DATE,
		    strlen(DATE));
		FUZZ_CHECK((r == BYPASS_OK) == is_golden(hdr, goldenlen),
		    "mutated token gives %s: \"%.*s\"", bypass_result_str(r),
		    (int)goldenlen, hdr);
		break;
	default: {
		struct bypass_hash h1, h2;
		unsigned char d1[32], d2[32];
		struct fuzz_sched s;

		if (n < 2)
			return 0;
		fuzz_sched_init(&s, (unsigned char)p[0], (unsigned char)p[1]);
		memset(&h1, 0, sizeof(h1));
		memset(&h2, 0, sizeof(h2));
		FUZZ_CHECK(bypass_hash_init(&h1) == 0 &&
		    bypass_hash_init(&h2) == 0, "hash init");
		FUZZ_CHECK(bypass_hash_update(&h1, p + 2, n - 2) == 0,
		    "hash update");
		FUZZ_FEED_CHUNKS(&s, p + 2, n - 2,
		    FUZZ_CHECK(bypass_hash_update(&h2, chunk, chunklen) == 0,
		    "hash update"));
		FUZZ_CHECK(bypass_hash_final(&h1, d1) == 0 &&
		    bypass_hash_final(&h2, d2) == 0, "hash final");
		FUZZ_CHECK(memcmp(d1, d2, 32) == 0,
		    "body hash depends on chunking (kind %u)", s.kind);
		bypass_hash_free(&h1);
		bypass_hash_free(&h2);
		break;
	}
	}
	return 0;
}
