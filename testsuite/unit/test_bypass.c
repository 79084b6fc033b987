/*
 * test_bypass.c -- bypass header: HMAC wrapper (RFC 4231), mint/verify,
 * every single-byte mutation rejected, bound fields, time window, key
 * file hygiene, body canonicalisation, the MAC compared only through
 * CRYPTO_memcmp (SC-B7), the corralled copy's fields
 * (bypass_corral_fields).
 */
#include "unit.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "bypass.h"
#include "corral.h"
#include "spool.h"

#define MSGID	"<20240101.abc@example.org>"
#define DATE	"Mon, 1 Jan 2024 10:00:00 +0000"
#define ID	"65A1B2C3000ABCDE"
#define T0	1700000000
#define AGE	(14 * 86400L)

static struct bypass_key *key1, *key2;
static unsigned char bh[32];

/*
 * SC-B7: this definition is linked before libcrypto, so bypass.o (from
 * libmc.a) calls it; it counts the calls, records the length, and either
 * forwards to OpenSSL's or, when forced, answers "equal".
 */
static int	cmp_calls, cmp_force_equal;
static size_t	cmp_len;

int
CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
	static int (*real)(const void *, const void *, size_t);

	cmp_calls++;
	cmp_len = len;
	if (cmp_force_equal)
		return 0;
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "CRYPTO_memcmp");
	assert_non_null(real);
	return real(a, b, len);
}

static int
setup(void **state)
{
	unsigned char k[32];
	struct bypass_hash h;

	(void)state;
	memset(k, 0x11, sizeof(k));
	key1 = bypass_key_new(k);
	memset(k, 0x22, sizeof(k));
	key2 = bypass_key_new(k);
	if (key1 == NULL || key2 == NULL || bypass_hash_init(&h) == -1 ||
	    bypass_hash_update(&h, "hello\r\n", 7) == -1 ||
	    bypass_hash_final(&h, bh) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	bypass_key_free(key1);
	bypass_key_free(key2);
	return 0;
}

static void
test_rfc4231_case2(void **state)
{
	static const unsigned char want[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
		0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
		0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
		0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	const char *data = "what do ya want for nothing?";
	unsigned char out[32];

	(void)state;
	assert_int_equal(bypass_hmac_sha256("Jefe", 4, data, strlen(data),
	    out), 0);
	assert_memory_equal(out, want, 32);
}

static int
mint(const struct bypass_key *k, time_t t, time_t x, char *out, size_t n)
{
	return bypass_mint(k, ID, t, x, MSGID, strlen(MSGID), DATE,
	    strlen(DATE), bh, out, n);
}

static enum bypass_result
verify(const char *hdr, size_t hlen, time_t now, const char *msgid,
    const char *date, const unsigned char *body)
{
	const struct bypass_key *keys[2] = { key1, key2 };
	char id[17];

	return bypass_verify(keys, 2, hdr, hlen, now, AGE, msgid,
	    strlen(msgid), date, strlen(date), body, id, sizeof(id));
}

static void
test_roundtrip(void **state)
{
	const struct bypass_key *keys[1] = { key2 };
	char hdr[300], id[17] = "";
	int n;

	(void)state;
	n = mint(key1, T0, T0 + AGE, hdr, sizeof(hdr));
	assert_true(n > 0 && (size_t)n == strlen(hdr));
	assert_true(n <= BYPASS_HDR_MAX);
	assert_non_null(strstr(hdr, bypass_key_kid(key1)));
	assert_int_equal(strncmp(hdr, "v=1; k=", 7), 0);
	assert_int_equal(bypass_verify((const struct bypass_key *const[]){
	    key2, key1 }, 2, hdr, (size_t)n, T0 + 10, AGE, MSGID,
	    strlen(MSGID), DATE, strlen(DATE), bh, id, sizeof(id)), BYPASS_OK);
	assert_string_equal(id, ID);
	/* Refolded header values still verify. */
	assert_int_equal(verify(hdr, (size_t)n, T0, "  " MSGID "\r\n",
	    "Mon, 1 Jan 2024\r\n\t10:00:00 +0000 ", bh), BYPASS_OK);
	/* Surrounding white space of the bypass header is ignored. */
	{
		char sp[320];

		snprintf(sp, sizeof(sp), " %s\r\n", hdr);
		assert_int_equal(verify(sp, strlen(sp), T0, MSGID, DATE, bh),
		    BYPASS_OK);
	}
	/* Only key2 loaded: unknown key. */
	assert_int_equal(bypass_verify(keys, 1, hdr, (size_t)n, T0, AGE,
	    MSGID, strlen(MSGID), DATE, strlen(DATE), bh, id, sizeof(id)),
	    BYPASS_UNKNOWN_KEY);
	assert_string_equal(bypass_result_str(BYPASS_BAD_MAC), "bad-mac");
	assert_string_equal(bypass_result_str(BYPASS_UNKNOWN_KEY),
	    "unknown-key");
}

static void
test_every_mutation(void **state)
{
	char hdr[300], mut[300];
	size_t n, i;
	int c, bad = 0;

	(void)state;
	n = (size_t)mint(key1, T0, T0 + 3600, hdr, sizeof(hdr));
	assert_int_equal(verify(hdr, n, T0, MSGID, DATE, bh), BYPASS_OK);
	for (i = 0; i < n; i++)
		for (c = 0; c < 256; c++) {
			if (c == (unsigned char)hdr[i])
				continue;
			memcpy(mut, hdr, n);
			mut[i] = (char)c;
			if (verify(mut, n, T0, MSGID, DATE, bh) == BYPASS_OK) {
				print_error("accepted: pos %zu byte %d\n", i, c);
				bad++;
			}
		}
	/* Truncations and one appended byte. */
	for (i = 0; i < n; i++)
		if (verify(hdr, i, T0, MSGID, DATE, bh) == BYPASS_OK)
			bad++;
	memcpy(mut, hdr, n);
	mut[n] = 'A';
	if (verify(mut, n + 1, T0, MSGID, DATE, bh) == BYPASS_OK)
		bad++;
	assert_int_equal(bad, 0);
}

/* SC-B7: the MAC decision is made by CRYPTO_memcmp over the whole MAC. */
static void
test_mac_compare(void **state)
{
	char hdr[300], *h;
	size_t n;

	(void)state;
	n = (size_t)mint(key1, T0, T0 + 3600, hdr, sizeof(hdr));
	assert_non_null(h = strstr(hdr, "; h="));
	h += 4;
	cmp_calls = 0;
	cmp_len = 0;
	assert_int_equal(verify(hdr, n, T0, MSGID, DATE, bh), BYPASS_OK);
	assert_int_equal(cmp_calls, 1);
	assert_int_equal(cmp_len, strlen(h));
	/* A wrong MAC reaches the compare and fails there ... */
	*h = *h == 'A' ? 'B' : 'A';
	cmp_calls = 0;
	assert_int_equal(verify(hdr, n, T0, MSGID, DATE, bh), BYPASS_BAD_MAC);
	assert_int_equal(cmp_calls, 1);
	/* ... and only there: with the compare forced, it verifies. */
	cmp_force_equal = 1;
	assert_int_equal(verify(hdr, n, T0, MSGID, DATE, bh), BYPASS_OK);
	cmp_force_equal = 0;
	assert_int_equal(cmp_calls, 2);
}

static void
test_bound_fields(void **state)
{
	unsigned char other[32];
	char hdr[300];
	size_t n;

	(void)state;
	n = (size_t)mint(key1, T0, T0 + 3600, hdr, sizeof(hdr));
	memcpy(other, bh, 32);
	other[31] ^= 1;
	assert_int_equal(verify(hdr, n, T0, MSGID, DATE, other),
	    BYPASS_BAD_MAC);
	assert_int_equal(verify(hdr, n, T0, MSGID,
	    "Mon, 1 Jan 2024 10:00:01 +0000", bh), BYPASS_BAD_MAC);
	assert_int_equal(verify(hdr, n, T0, "<other@example.org>", DATE, bh),
	    BYPASS_BAD_MAC);
	assert_int_equal(verify(hdr, n, T0, "", DATE, bh), BYPASS_BAD_MAC);
	/* lp() removes ambiguity between the two fields. */
	assert_int_equal(verify(hdr, n, T0, MSGID " Mon,",
	    "1 Jan 2024 10:00:00 +0000", bh), BYPASS_BAD_MAC);
}

static void
test_time_window(void **state)
{
	char hdr[300];
	size_t n;

	(void)state;
	n = (size_t)mint(key1, T0, T0 + 3600, hdr, sizeof(hdr));
	assert_int_equal(verify(hdr, n, T0 + 3599, MSGID, DATE, bh), BYPASS_OK);
	assert_int_equal(verify(hdr, n, T0 + 3600, MSGID, DATE, bh), BYPASS_OK);
	assert_int_equal(verify(hdr, n, T0 + 3601, MSGID, DATE, bh),
	    BYPASS_EXPIRED);
	assert_int_equal(verify(hdr, n, T0 - 300, MSGID, DATE, bh), BYPASS_OK);
	assert_int_equal(verify(hdr, n, T0 - 301, MSGID, DATE, bh),
	    BYPASS_EXPIRED);
	/* Lifetime longer than max_age. */
	n = (size_t)mint(key1, T0, T0 + AGE + 1, hdr, sizeof(hdr));
	assert_int_equal(verify(hdr, n, T0, MSGID, DATE, bh), BYPASS_EXPIRED);
	/* Grammar. */
	assert_int_equal(verify("v=1", 3, T0, MSGID, DATE, bh),
	    BYPASS_MALFORMED);
	{
		char big[600];

		memset(big, 'a', sizeof(big));
		assert_int_equal(verify(big, sizeof(big), T0, MSGID, DATE, bh),
		    BYPASS_MALFORMED);
	}
	assert_int_equal(bypass_mint(key1, "not-an-id", T0, T0 + 1, "", 0, "",
	    0, bh, hdr, sizeof(hdr)), -1);
	assert_int_equal(mint(key1, T0, T0 + 1, hdr, 20), -1);
}

/*
 * The one key parser (issue 16 item 7): the files the daemon accepts, the
 * same table as trust e2e SC-B16 gives the notifier and the robot, and
 * the key bytes handed to them.
 */
static void
test_key_forms(void **state)
{
#define HEXK "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
	static const struct {
		const char	*data;
		size_t		 len;
		int		 ok;
	} t[] = {
		{ HEXK "\n", 65, 1 }, { HEXK, 64, 1 }, { HEXK "\r\n", 66, 1 },
		{ HEXK " \n", 66, 1 }, { HEXK "\t", 65, 1 },
		{ HEXK "\n\n", 66, 1 },
		{ "\1\2\3\4\5\6\7\10\11\12\13\14\15\16\17\20\21\22\23\24\25"
		  "\26\27\30\31\32\33\34\35\36\37\40", 32, 1 },
		{ HEXK "0\n", 66, 0 }, { HEXK " x\n", 67, 0 },
		{ "0011\n", 5, 0 },
	};
	static const unsigned char want[BYPASS_KEY_LEN] = {
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
		0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
		0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	char dir[] = "/tmp/mc-bypass-XXXXXX", path[128], err[256];
	unsigned char got[BYPASS_KEY_LEN];
	struct bypass_key *k;
	size_t i, j;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, t[i].data, t[i].len),
		    (ssize_t)t[i].len);
		close(fd);
		k = bypass_key_load(path, 0, err, sizeof(err));
		if ((k != NULL) != t[i].ok)
			fail_msg("key form %zu: %s", i, k ? "accepted" : err);
		if (k == NULL)
			continue;
		bypass_key_bytes(k, got);
		for (j = 0; j < BYPASS_KEY_LEN; j++)
			assert_int_equal(got[j], t[i].len == 32 ?
			    (unsigned char)(j + 1) : want[j]);
		bypass_key_free(k);
	}
	unlink(path);
	rmdir(dir);
#undef HEXK
}

static void
test_key_file(void **state)
{
	char dir[] = "/tmp/mc-bypass-XXXXXX", path[128], err[256] = "";
	struct bypass_key *k, *k2;
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	assert_null(bypass_key_load(path, 0, err, sizeof(err)));
	k = bypass_key_load(path, 1, err, sizeof(err));
	if (k == NULL)
		fail_msg("%s", err);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(strlen(bypass_key_kid(k)), 8);
	/* Loading again gives the same key. */
	k2 = bypass_key_load(path, 1, err, sizeof(err));
	assert_non_null(k2);
	assert_string_equal(bypass_key_kid(k), bypass_key_kid(k2));
	bypass_key_free(k2);
	bypass_key_free(k);
	/* 0644 refused. */
	assert_int_equal(chmod(path, 0644), 0);
	err[0] = '\0';
	assert_null(bypass_key_load(path, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "mode"));
	/* Owned by someone else. */
	assert_int_equal(chmod(path, 0600), 0);
	if (chown(path, 12345, 12345) == 0) {
		assert_null(bypass_key_load(path, 0, err, sizeof(err)));
		assert_non_null(strstr(err, "owned"));
	}
	unlink(path);
	/* Short key. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abcdef\n", 7), 7);
	close(fd);
	assert_null(bypass_key_load(path, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "short"));
	unlink(path);
	/* A symlink is not followed. */
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_null(bypass_key_load(path, 1, err, sizeof(err)));
	unlink(path);
	/* Not a regular file. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_null(bypass_key_load(path, 1, err, sizeof(err)));
	rmdir(path);
	rmdir(dir);
}

static void
digest(const char *s, size_t len, size_t chunk, unsigned char out[32])
{
	struct bypass_hash h;
	size_t i, k;

	assert_int_equal(bypass_hash_init(&h), 0);
	for (i = 0; i < len; i += k) {
		k = len - i < chunk ? len - i : chunk;
		assert_int_equal(bypass_hash_update(&h, s + i, k), 0);
	}
	assert_int_equal(bypass_hash_final(&h, out), 0);
}

static void
test_body_canon(void **state)
{
	static const char crlf[] = "Line 1\r\n\r\nLine 3 \r\n.\r\nend\r\n";
	static const char lf[] = "Line 1\n\nLine 3 \n.\nend\n";
	static const char trail[] = "Line 1\r\n\r\nLine 3 \r\n.\r\nend\r\n"
	    "\r\n\n\r\n";
	static const char nofinal[] = "Line 1\n\nLine 3 \n.\nend";
	static const char bare[] = "a\rb\r\n";
	unsigned char ref[32], d[32], e[32];
	size_t c;

	(void)state;
	digest(crlf, strlen(crlf), 1000, ref);
	for (c = 1; c <= 40; c++) {
		digest(crlf, strlen(crlf), c, d);
		assert_memory_equal(ref, d, 32);
		digest(lf, strlen(lf), c, d);
		assert_memory_equal(ref, d, 32);
		digest(trail, strlen(trail), c, d);
		assert_memory_equal(ref, d, 32);
		digest(nofinal, strlen(nofinal), c, d);
		assert_memory_equal(ref, d, 32);
	}
	/* A change in content changes the hash; a bare CR is content. */
	digest("Line 1\r\n\r\nLine 3\r\n.\r\nend\r\n", 27, 5, d);
	assert_memory_not_equal(ref, d, 32);
	digest(bare, strlen(bare), 1, d);
	digest("ab\r\n", 4, 1, e);
	assert_memory_not_equal(d, e, 32);
	for (c = 1; c < 5; c++) {
		digest(bare, strlen(bare), c, e);
		assert_memory_equal(d, e, 32);
	}
	/* Empty body == "\r\n" == only blank lines (RFC 6376 3.4.3). */
	digest("", 0, 1, d);
	digest("\r\n", 2, 1, e);
	assert_memory_equal(d, e, 32);
	digest("\r\n\r\n\n", 5, 1, e);
	assert_memory_equal(d, e, 32);
}

/* The value of the field name in the CRLF block b, into out. */
static void
field_of(const char *b, const char *name, char *out, size_t outlen)
{
	const char *p = strstr(b, name), *e;

	assert_non_null(p);
	p += strlen(name);
	assert_non_null(e = strstr(p, "\r\n"));
	assert_true((size_t)(e - p) < outlen);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

/*
 * The corralled copy's fields: a Date and a Message-ID only when the
 * message has none, then a bypass header that verifies over exactly
 * those and the body [from, end) of the spool, with the bid it returns;
 * no key: refused, nothing minted.
 */
static void
test_corral_fields(void **state)
{
	static const char *const given[][2] = {
		{ NULL, NULL }, { DATE, NULL }, { NULL, MSGID }, { DATE, MSGID },
	};
	struct spool *sp = spool_new("/tmp", 1 << 20);
	struct corral_msg m = { .qid = "Q1", .body = sp, .from = 6 };
	struct buf extra = BUF_INIT;
	char bid[CORRAL_ID_LEN + 1], err[128], date[80], msgid[200];
	char hdr[512], id[CORRAL_ID_LEN + 1];
	unsigned char other[32];
	size_t i;

	(void)state;
	assert_non_null(sp);
	assert_int_equal(spool_write(sp, "X: 1\r\nhello\r\n", 13), 0);
	memset(other, 0, sizeof(other));
	for (i = 0; i < sizeof(given) / sizeof(given[0]); i++) {
		buf_free(&extra);	/* no text of the last round left */
		assert_int_equal(bypass_corral_fields(key1, AGE, &m,
		    given[i][0], given[i][1], bid, &extra, err, sizeof(err)),
		    0);
		assert_non_null(extra.data);
		assert_int_equal(strlen(bid), CORRAL_ID_LEN);
		assert_true(extra.len >= 4 &&
		    memcmp(extra.data + extra.len - 4, "\r\n\r\n", 4) == 0);
		assert_true((strstr(extra.data, "Date: ") != NULL) ==
		    (given[i][0] == NULL));
		assert_true((strstr(extra.data, "Message-ID: ") != NULL) ==
		    (given[i][1] == NULL));
		if (given[i][0] == NULL)
			field_of(extra.data, "Date: ", date, sizeof(date));
		else
			snprintf(date, sizeof(date), "%s", given[i][0]);
		if (given[i][1] == NULL) {
			field_of(extra.data, "Message-ID: ", msgid,
			    sizeof(msgid));
			assert_non_null(strstr(msgid, ".Q1@mailcorral>"));
		} else
			snprintf(msgid, sizeof(msgid), "%s", given[i][1]);
		field_of(extra.data, "X-MailCorral-Bypass: ", hdr, sizeof(hdr));
		assert_int_equal(bypass_verify((const struct bypass_key
		    *const[]){ key1 }, 1, hdr, strlen(hdr), time(NULL), AGE,
		    msgid, strlen(msgid), date, strlen(date), bh, id,
		    sizeof(id)), BYPASS_OK);
		assert_string_equal(id, bid);
		/* over the body from m.from on, nothing else */
		assert_int_equal(bypass_verify((const struct bypass_key
		    *const[]){ key1 }, 1, hdr, strlen(hdr), time(NULL), AGE,
		    msgid, strlen(msgid), date, strlen(date), other, id,
		    sizeof(id)), BYPASS_BAD_MAC);
	}
	buf_free(&extra);
	assert_int_equal(bypass_corral_fields(NULL, AGE, &m, DATE, MSGID, bid,
	    &extra, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot mint the bypass header");
	assert_true(extra.data == NULL ||
	    strstr(extra.data, "X-MailCorral-Bypass") == NULL);
	buf_free(&extra);
	spool_free(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4231_case2),
		cmocka_unit_test(test_roundtrip),
		{ "SC-B6 every single-byte mutation of a golden token rejected",
		  test_every_mutation, NULL, NULL, NULL },
		{ "SC-B7 MAC compared only through CRYPTO_memcmp",
		  test_mac_compare, NULL, NULL, NULL },
		cmocka_unit_test(test_bound_fields),
		cmocka_unit_test(test_time_window),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_key_forms),
		cmocka_unit_test(test_body_canon),
		cmocka_unit_test(test_corral_fields),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
