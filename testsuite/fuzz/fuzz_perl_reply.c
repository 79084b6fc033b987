/*
 * fuzz_perl_reply -- pp_parse_reply(), the validator of what a Perl shim
 * worker answers (perlpool.c, SC-P1/SC-P2), and the value encoding.  The
 * input is the reply, parsed from a heap copy of exactly its size, with
 * part ids 0, 1, 2, 7 and the directory /spool/perl.X offered.  Asserted:
 * a refused reply leaves nothing behind; an accepted one ends with its
 * only F line, and every action it holds is safe to pass to libmilter:
 * known verbs, part ids that were offered, header names [A-Za-z0-9-]+,
 * values and names terminated, without CR, LF, NUL or other control
 * bytes, within their caps; REPLACE paths a plain name directly inside
 * the directory; at most one verdict; a SPAM verdict only without
 * ACCEPT, its score finite within +-PP_SPAM_SCORE_MAX.  Also: pp_encode() then
 * pp_decode() gives the input back, and the encoding holds no blank,
 * control byte or line end.
 */
#include "fuzz_common.h"
#include "buf.h"
#include "perlpool.h"

#define DIRNAME	"/spool/perl.X"

static const unsigned parts[] = { 0, 1, 2, 7 };

static void
clean(const char *s, size_t cap, int empty_ok, const char *what)
{
	size_t i;

	FUZZ_CHECK(memchr(s, '\0', cap + 1) != NULL, "%s not terminated",
	    what);
	FUZZ_CHECK(empty_ok || s[0] != '\0', "%s empty", what);
	for (i = 0; s[i] != '\0'; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f,
		    "control byte 0x%02x in %s", (unsigned char)s[i], what);
}

static void
header_name(const char *s)
{
	size_t i;

	FUZZ_CHECK(s[0] != '\0', "empty header name");
	for (i = 0; s[i] != '\0'; i++)
		FUZZ_CHECK((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-',
		    "header name \"%s\"", s);
	FUZZ_CHECK(i <= PP_NAME_MAX, "header name too long");
}

static void
offered(unsigned p)
{
	FUZZ_CHECK(p == 0 || p == 1 || p == 2 || p == 7, "part %u", p);
}

static void
roundtrip(const uint8_t *data, size_t size)
{
	struct buf b = BUF_INIT;
	char *out;
	size_t i, n;

	FUZZ_CHECK(pp_encode(&b, (const char *)data, size) == 0, "encode");
	for (i = 0; i < b.len; i++)
		FUZZ_CHECK(b.data[i] > 0x20 && b.data[i] < 0x7f,
		    "0x%02x in the encoding", (unsigned char)b.data[i]);
	if ((out = malloc(size + 1)) == NULL)
		abort();
	FUZZ_CHECK(pp_decode(b.data ? b.data : "", b.len, out, size, &n) ==
	    0, "decode of an encoding failed");
	FUZZ_CHECK(n == size && memcmp(out, data, size) == 0,
	    "round trip changed the bytes");
	free(out);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_reply r;
	char why[64], *a;
	unsigned i;

	fuzz_input = data;
	fuzz_input_len = size;
	fuzz_on_fail = fuzz_show_input;
	if ((a = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(a, data, size);
	memset(why, 'X', sizeof(why));
	if (pp_parse_reply(a, size, parts, 4, DIRNAME, &r, why,
	    sizeof(why)) == -1) {
		FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL && why[0],
		    "no reason");
		FUZZ_CHECK(r.n == 0 && r.a == NULL && r.verdict == PP_NONE &&
		    !r.spam, "a refused reply left actions");
		free(a);
		roundtrip(data, size);
		return 0;
	}
	FUZZ_CHECK((size == 2 && memcmp(a, "F\n", 2) == 0) || (size > 2 &&
	    memcmp(a + size - 3, "\nF\n", 3) == 0), "accepted without F");
	FUZZ_CHECK(size < 3 || memmem(a, size - 2, "\nF\n", 3) == NULL,
	    "accepted with an F line before the end");
	FUZZ_CHECK(memcmp(a, "F\n", 2) != 0 || size == 2,
	    "accepted with lines after F");
	FUZZ_CHECK(r.verdict >= PP_NONE && r.verdict <= PP_TEMPFAIL,
	    "verdict %d", r.verdict);
	if (r.verdict == PP_REJECT || r.verdict == PP_TEMPFAIL)
		clean(r.text, PP_VALUE_MAX, 0, "verdict text");
	FUZZ_CHECK(r.n <= PP_MAX_ACTIONS, "%u actions", r.n);
	if (r.spam) {
		FUZZ_CHECK(r.verdict != PP_ACCEPT, "SPAM with ACCEPT");
		FUZZ_CHECK(r.spam_score >= -PP_SPAM_SCORE_MAX &&
		    r.spam_score <= PP_SPAM_SCORE_MAX, "spam score %g",
		    r.spam_score);
		clean(r.spam_reason, PP_VALUE_MAX, 1, "spam reason");
	} else
		FUZZ_CHECK(r.spam_reason[0] == '\0', "reason without SPAM");
	clean(r.error, sizeof(r.error) - 1, 1, "error");
	for (i = 0; i < r.n; i++) {
		const struct pp_action *x = &r.a[i];

		switch (x->verb) {
		case PP_DROP:
			offered(x->part);
			clean(x->value, PP_VALUE_MAX, 1, "warning");
			break;
		case PP_RENAME:
			offered(x->part);
			clean(x->name, PP_NAME_MAX, 0, "new name");
			break;
		case PP_REPLACE:
			offered(x->part);
			clean(x->name, PP_NAME_MAX, 0, "new name");
			clean(x->type, sizeof(x->type) - 1, 0, "type");
			FUZZ_CHECK(strchr(x->type, '/') != NULL &&
			    strpbrk(x->type, " ;\"\\") == NULL, "type \"%s\"",
			    x->type);
			FUZZ_CHECK(strncmp(x->path, DIRNAME "/",
			    sizeof(DIRNAME)) == 0 && strchr(x->path +
			    sizeof(DIRNAME), '/') == NULL &&
			    x->path[sizeof(DIRNAME)] != '.' &&
			    x->path[sizeof(DIRNAME)] != '\0',
			    "path \"%s\"", x->path);
			break;
		case PP_HDR_ADD:
		case PP_HDR_CHANGE:
			header_name(x->name);
			clean(x->value, PP_VALUE_MAX, 1, "header value");
			if (x->verb == PP_HDR_CHANGE)
				FUZZ_CHECK(x->index >= 1 && x->index <= 10000,
				    "index %u", x->index);
			break;
		case PP_HDR_DELETE:
			header_name(x->name);
			break;
		default:
			FUZZ_CHECK(0, "verb %d", x->verb);
		}
	}
	pp_reply_free(&r);
	free(a);
	roundtrip(data, size);
	return 0;
}
