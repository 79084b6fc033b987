/*
 * fuzz_names -- virus_normalize_name() and virus_check_name().
 * Byte 0 picks the output size; the rest is a decoded file name (UTF-8 or
 * junk).  Asserted: the result is NUL-terminated at the returned length,
 * fits, and holds no '/', '\\', NUL, C0/C1 control, DEL, bidi control
 * (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) or zero-width
 * character (U+200B..U+200D, U+2060, U+FEFF); it has no trailing dot or
 * blank; normalising twice changes nothing; virus_check_name() never
 * crashes and gives a known reason with a printable, terminated detail.
 */
#include "fuzz_common.h"
#include "virusfilter.h"

static struct virus_rules *rules;

static void
check_clean(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;

		FUZZ_CHECK(c != '/' && c != '\\' && c != 0 && c >= 0x20 &&
		    c != 0x7f, "byte %#x at %zu of \"%.*s\"", c, i, (int)n, s);
		if (c == 0xc2 && i + 1 < n) {
			unsigned char d = (unsigned char)s[i + 1];

			FUZZ_CHECK(d < 0x80 || d > 0x9f,
			    "C1 control U+%04X at %zu", d, i);
		}
		if ((c & 0xf0) == 0xe0 && i + 2 < n &&
		    ((unsigned char)s[i + 1] & 0xc0) == 0x80 &&
		    ((unsigned char)s[i + 2] & 0xc0) == 0x80) {
			cp = (uint32_t)(c & 0x0f) << 12 |
			    (uint32_t)((unsigned char)s[i + 1] & 0x3f) << 6 |
			    ((unsigned char)s[i + 2] & 0x3f);
			FUZZ_CHECK(!(cp >= 0x200b && cp <= 0x200f) &&
			    !(cp >= 0x202a && cp <= 0x202e) &&
			    !(cp >= 0x2066 && cp <= 0x2069) &&
			    cp != 0x2060 && cp != 0xfeff,
			    "U+%04X at %zu", (unsigned)cp, i);
		}
		if (c == 0xd8 && i + 1 < n)
			FUZZ_CHECK((unsigned char)s[i + 1] != 0x9c,
			    "U+061C at %zu", i);
	}
	FUZZ_CHECK(n == 0 || (s[n - 1] != '.' && s[n - 1] != ' '),
	    "trailing dot or blank in \"%.*s\"", (int)n, s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[4096 + 1], out2[4096 + 1];
	size_t outlen, n, n2, i;
	struct virus_hit hit;
	enum virus_reason r;
	char err[256];

	if (rules == NULL &&
	    (rules = virus_rules_new(NULL, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "virus_rules_new: %s\n", err);
		abort();
	}
	if (size < 1)
		return 0;
	outlen = data[0] < 128 ? 1 + data[0] : sizeof(out);
	memset(out, 'X', sizeof(out));
	n = virus_normalize_name((const char *)data + 1, size - 1, out,
	    outlen);
	FUZZ_CHECK(n < outlen, "length %zu, outlen %zu", n, outlen);
	FUZZ_CHECK(out[n] == '\0', "not terminated at %zu", n);
	for (i = n + 1; i < sizeof(out); i++)
		FUZZ_CHECK(out[i] == 'X' || i < outlen,
		    "wrote past outlen at %zu", i);
	check_clean(out, n);

	n2 = virus_normalize_name(out, n, out2, sizeof(out2));
	FUZZ_CHECK(n2 == n && memcmp(out, out2, n) == 0,
	    "not idempotent: \"%s\" -> \"%s\"", out, out2);

	memset(&hit, 0, sizeof(hit));
	r = virus_check_name(rules, (const char *)data + 1, size - 1, &hit);
	FUZZ_CHECK(r >= VIRUS_OK && r <= VIRUS_INFECTED, "reason %d", r);
	FUZZ_CHECK(virus_reason_str(r) != NULL, "no string for %d", r);
	FUZZ_CHECK(memchr(hit.what, '\0', sizeof(hit.what)) != NULL,
	    "detail not terminated");
	/* The normalised name is judged the same way. */
	if (outlen == sizeof(out)) {
		struct virus_hit hit2;
		enum virus_reason r2;

		memset(&hit2, 0, sizeof(hit2));
		r2 = virus_check_name(rules, out, n, &hit2);
		FUZZ_CHECK(r2 == r, "raw name gives %s, normalised \"%s\" "
		    "gives %s", virus_reason_str(r), out,
		    virus_reason_str(r2));
	}
	return 0;
}
