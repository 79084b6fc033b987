/*
 * fuzz_robot_reply -- the reply robot's parser (spamcorral/reply.c, linked
 * with spamcorral/spamcorral.c by fuzz.sh).  The input is one reply as the
 * prog mailer hands it over ("From " line optional).  sc_reply_parse()
 * runs under the built-in MIME limits, then sc_find_idents() searches its
 * text, and the raw input too.  Asserted:
 *   - every identifier has the exact format: id 16 upper-case hex digits,
 *     token 32 lower-case hex digits;
 *   - at most max are returned (SC_IDENTS_MAX, and a small max taken from
 *     the first byte), no two equal;
 *   - each occurs in the searched text (ignoring case), not preceded by a
 *     letter or digit;
 *   - a small max returns a prefix of the full result;
 *   - an identifier planted on a line of its own after the text is found
 *     (when the text held fewer than SC_IDENTS_MAX);
 *   - the decoded text stays within SC_REPLY_TEXT_MAX plus one line end
 *     per part; the envelope sender holds no CR or LF;
 *     sc_reply_loop() gives NULL or one of its four reasons.
 */
#include <ctype.h>

#include "fuzz_common.h"
#include "buf.h"
#include "conf.h"
#include "confsnap.h"
#include "spamcorral/spamcorral.h"

#define PLANT	"MC-0123456789ABCDEF-00112233445566778899aabbccddeeff"

static struct mc_config *cf;
static struct sc_ident ids[SC_IDENTS_MAX], ids2[SC_IDENTS_MAX];

static int
is_uhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int
is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Does "MC-<id>-<tok>" occur in t (any case), on a word start?  (A plain
   loop: strncasecmp at every offset is what libFuzzer hooks, and slow.) */
static int
occurs(const char *t, size_t len, const struct sc_ident *d)
{
	char want[4 + CORRAL_ID_LEN + SC_TOKEN_HEX + 1];
	size_t i, k, n;

	n = (size_t)snprintf(want, sizeof(want), "mc-%s-%s", d->id, d->tok);
	for (k = 0; k < n; k++)
		want[k] = (char)tolower((unsigned char)want[k]);
	for (i = 0; n <= len && i <= len - n; i++) {
		if ((t[i] | 0x20) != 'm' || (i > 0 &&
		    isalnum((unsigned char)t[i - 1])))
			continue;
		for (k = 1; k < n && tolower((unsigned char)t[i + k]) ==
		    want[k]; k++)
			;
		if (k == n)
			return 1;
	}
	return 0;
}

static size_t
check_idents(const char *t, size_t len, size_t small)
{
	size_t n, m, i, j;

	n = sc_find_idents(t, len, ids, SC_IDENTS_MAX);
	FUZZ_CHECK(n <= SC_IDENTS_MAX, "%zu identifiers", n);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(strlen(ids[i].id) == CORRAL_ID_LEN &&
		    strlen(ids[i].tok) == SC_TOKEN_HEX, "lengths of #%zu", i);
		for (j = 0; j < CORRAL_ID_LEN; j++)
			FUZZ_CHECK(is_uhex(ids[i].id[j]), "id \"%s\"",
			    ids[i].id);
		for (j = 0; j < SC_TOKEN_HEX; j++)
			FUZZ_CHECK(is_lhex(ids[i].tok[j]), "token \"%s\"",
			    ids[i].tok);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(ids[i].id, ids[j].id) != 0 ||
			    strcmp(ids[i].tok, ids[j].tok) != 0,
			    "duplicate #%zu and #%zu", j, i);
		if (len <= 65536)
			FUZZ_CHECK(occurs(t, len, &ids[i]), "MC-%s-%s is not "
			    "in the text", ids[i].id, ids[i].tok);
	}
	m = sc_find_idents(t, len, ids2, small);
	FUZZ_CHECK(m == (n < small ? n : small), "max %zu: %zu of %zu", small,
	    m, n);
	for (i = 0; i < m; i++)
		FUZZ_CHECK(strcmp(ids[i].id, ids2[i].id) == 0 &&
		    strcmp(ids[i].tok, ids2[i].tok) == 0, "prefix #%zu", i);
	return n;
}

static void
check_planted(const char *t, size_t len, size_t n)
{
	struct buf b = BUF_INIT;
	size_t k, i;

	if (n >= SC_IDENTS_MAX)
		return;
	buf_add(&b, t, len);
	buf_adds(&b, "\n> [" PLANT "]\n");
	FUZZ_CHECK(b.data != NULL, "out of memory");
	k = sc_find_idents(b.data, b.len, ids, SC_IDENTS_MAX);
	for (i = 0; i < k; i++)
		if (strcmp(ids[i].id, "0123456789ABCDEF") == 0 &&
		    strcmp(ids[i].tok, "00112233445566778899aabbccddeeff") == 0)
			break;
	FUZZ_CHECK(i < k, "planted identifier not found (%zu found)", k);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *m = (const char *)data, *why;
	struct sc_reply r;
	char err[256];
	size_t small = size > 0 ? (size_t)(data[0] % 8) + 1 : 1, n;

	if (cf == NULL && conf_load(NULL, &cf, err, sizeof(err)) == -1)
		abort();
	if (sc_reply_parse(&r, &cf->limits, m, size) == -1) {
		sc_reply_free(&r);
		return 0;	/* ENOMEM only */
	}
	FUZZ_CHECK(r.text.len <= SC_REPLY_TEXT_MAX + cf->limits.max_parts +
	    1, "text %zu bytes", r.text.len);
	FUZZ_CHECK(strpbrk(r.sender, "\r\n") == NULL, "sender \"%s\"",
	    r.sender);
	why = sc_reply_loop(&r);
	FUZZ_CHECK(why == NULL || strcmp(why, "auto-submitted") == 0 ||
	    strcmp(why, "precedence") == 0 || strcmp(why, "list-id") == 0 ||
	    strcmp(why, "own-digest") == 0, "reason \"%s\"", why);
	if (r.text.data != NULL) {
		n = check_idents(r.text.data, r.text.len, small);
		check_planted(r.text.data, r.text.len, n);
	}
	sc_reply_free(&r);
	/* the raw bytes as text */
	n = check_idents(m, size, small);
	check_planted(m, size, n);
	return 0;
}
