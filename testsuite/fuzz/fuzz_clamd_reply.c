/*
 * fuzz_clamd_reply -- clamd_parse_reply(), the mapping of a raw clamd
 * reply to a result.  Byte 0 picks the oversize flag (bit 0), vlen
 * (1..128, bits 1-7) and errlen; the rest is the reply, parsed from a
 * heap copy of exactly its size.  Asserted: one of the enum values, the
 * same with and without oversize except clean <-> oversize for
 * "stream: OK" / "fd[N]: OK"; virus and err terminated inside their lengths and
 * printable (no raw reply bytes travel upward); virus non-empty exactly
 * when infected (vlen > 1) and "" otherwise; err non-empty on
 * CLAMD_ERROR and untouched otherwise; each mapping checked against the
 * reply (the FS-06 table: clean/oversize only for the two exact lines).
 */
#include "fuzz_common.h"
#include "clamd.h"

/* Terminated inside len, bytes lo..0x7e only, nothing past len. */
static void
printable(const char *s, size_t len, int lo, const char *what)
{
	size_t i;

	FUZZ_CHECK(memchr(s, '\0', len) != NULL, "%s not terminated", what);
	FUZZ_CHECK(s[len] == 'X', "%s written past its length", what);
	for (i = 0; s[i] != '\0'; i++)
		FUZZ_CHECK(s[i] >= lo && s[i] < 0x7f,
		    "raw byte 0x%02x in %s", (unsigned char)s[i], what);
}

/* The line as clamd_parse_reply() sees it: up to NUL/LF, one CR off. */
static size_t
line_of(const char *r, size_t n)
{
	size_t l;

	for (l = 0; l < n && r[l] != '\0' && r[l] != '\n'; l++)
		;
	if (l > 0 && r[l - 1] == '\r')
		l--;
	return l;
}

static int
only_terminators_after(const char *r, size_t n)
{
	size_t i;

	for (i = 0; i < n && r[i] != '\0' && r[i] != '\n'; i++)
		;
	for (; i < n; i++)
		if (r[i] != '\0' && r[i] != '\n')
			return 0;
	return 1;
}

static enum clamd_result
run(const char *r, size_t n, int oversize, size_t vlen, size_t errlen,
    char *virus, char *err)
{
	enum clamd_result res;

	memset(virus, 'X', 130);
	memset(err, 'X', 257);
	res = clamd_parse_reply(r, n, oversize, virus, vlen, err, errlen);
	FUZZ_CHECK(res == CLAMD_CLEAN || res == CLAMD_INFECTED ||
	    res == CLAMD_OVERSIZE || res == CLAMD_ERROR, "result %d", res);
	FUZZ_CHECK(strcmp(clamd_result_str(res), "unknown") != 0,
	    "no string for %d", res);
	printable(virus, vlen, 0x21, "virus");	/* spaces become '_' */
	printable(err, errlen, 0x20, "err");
	if (res == CLAMD_INFECTED)
		FUZZ_CHECK(vlen < 2 || virus[0] != '\0', "infected, no name");
	else
		FUZZ_CHECK(virus[0] == '\0', "virus \"%s\" when %s", virus,
		    clamd_result_str(res));
	if (res == CLAMD_ERROR)
		FUZZ_CHECK(errlen < 2 || err[0] != '\0', "error, no reason");
	else
		FUZZ_CHECK(err[0] == '\0', "err \"%s\" when %s", err,
		    clamd_result_str(res));
	return res;
}

/*
 * The subject of a reply line, written out again here: "stream: "
 * (INSTREAM) or "fd[" 1 to 13 digits "]: " (FILDES).  Its length, or 0.
 */
static size_t
subject_len(const char *a, size_t l)
{
	size_t d = 0;

	if (l >= 8 && memcmp(a, "stream: ", 8) == 0)
		return 8;
	if (l < 3 || memcmp(a, "fd[", 3) != 0)
		return 0;
	while (3 + d < l && d < 13 && a[3 + d] >= '0' && a[3 + d] <= '9')
		d++;
	if (d == 0 || 3 + d + 3 > l || memcmp(a + 3 + d, "]: ", 3) != 0)
		return 0;
	return 3 + d + 3;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char limit[] = "INSTREAM size limit exceeded. ERROR";
	char virus[130], err[257], *a;
	enum clamd_result r0, r1;
	size_t n, vlen, errlen, l, nlen, sl;
	int oversize;

	if (size < 1)
		return 0;
	fuzz_input = data + 1;
	fuzz_input_len = size - 1;
	fuzz_on_fail = fuzz_show_input;
	oversize = data[0] & 1;
	vlen = 1 + (data[0] >> 1);
	errlen = data[0] & 0x80 ? 256 : 1 + (data[0] >> 1);
	n = size - 1;
	if ((a = malloc(n ? n : 1)) == NULL)
		abort();
	memcpy(a, data + 1, n);

	r0 = run(a, n, !oversize, vlen, errlen, virus, err);
	r1 = run(a, n, oversize, vlen, errlen, virus, err);
	l = line_of(a, n);
	sl = subject_len(a, l);
	if (r1 == CLAMD_CLEAN || r0 == CLAMD_CLEAN) {
		FUZZ_CHECK(sl > 0 && l == sl + 2 && memcmp(a + sl, "OK", 2) == 0 &&
		    only_terminators_after(a, n),
		    "clean, not \"stream: OK\" or \"fd[N]: OK\"");
		FUZZ_CHECK((r0 == CLAMD_CLEAN) != (r1 == CLAMD_CLEAN) &&
		    (r0 == CLAMD_OVERSIZE || r1 == CLAMD_OVERSIZE),
		    "\"stream: OK\" ignores the oversize flag");
	} else
		FUZZ_CHECK(r0 == r1, "oversize flag changes %s to %s",
		    clamd_result_str(r0), clamd_result_str(r1));
	if (r1 == CLAMD_OVERSIZE && r0 == CLAMD_OVERSIZE)
		FUZZ_CHECK(l == sizeof(limit) - 1 && memcmp(a, limit, l) == 0 &&
		    only_terminators_after(a, n), "oversize, not the limit");
	if (r1 == CLAMD_INFECTED) {
		FUZZ_CHECK(only_terminators_after(a, n) && sl > 0 &&
		    l > sl + 6 && memcmp(a + l - 6, " FOUND", 6) == 0 &&
		    a[sl] != ' ',
		    "infected, not \"stream: <name> FOUND\" or \"fd[N]: ...\"");
		nlen = l - sl - 6;
		FUZZ_CHECK(strlen(virus) == (nlen < vlen ? nlen : vlen - 1),
		    "name \"%s\" cut wrongly (%zu bytes, vlen %zu)", virus,
		    nlen, vlen);
	}
	if (!only_terminators_after(a, n))
		FUZZ_CHECK(r1 == CLAMD_ERROR, "junk after the reply gives %s",
		    clamd_result_str(r1));
	free(a);
	return 0;
}
