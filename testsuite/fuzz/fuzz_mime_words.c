/*
 * fuzz_mime_words -- mime_decode_words() (RFC 2047 encoded words, raw
 * 8-bit as Latin-1).  Byte 0 picks the output cap (0, 1..254, 4096); the
 * rest is a header value.  Asserted: return 0 (or -1 only for ENOMEM),
 * outlen < max, out[outlen] == '\0', nothing written past max (the
 * buffer is exactly max bytes, so ASan sees any overflow), and the output
 * is deterministic (two calls agree).
 */
#include "fuzz_common.h"
#include "mime.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max, outlen, outlen2;
	char *out, *out2;
	int r, r2;

	if (size < 1)
		return 0;
	max = data[0] == 0 ? 0 : (data[0] == 255 ? 4096 : data[0]);
	/* malloc(0): ASan gives a valid pointer to zero usable bytes. */
	out = malloc(max);
	out2 = malloc(max);
	if (out == NULL || out2 == NULL)
		abort();
	outlen = (size_t)-1;
	r = mime_decode_words((const char *)data + 1, size - 1,
	    out, max, &outlen);
	if (max == 0) {
		FUZZ_CHECK(r == -1 || outlen == 0 || outlen == (size_t)-1,
		    "max 0 gave %zu bytes", outlen);
		goto done;
	}
	FUZZ_CHECK(r == 0, "returned %d", r);
	FUZZ_CHECK(outlen < max, "outlen %zu, max %zu", outlen, max);
	FUZZ_CHECK(out[outlen] == '\0', "not NUL-terminated");
	r2 = mime_decode_words((const char *)data + 1, size - 1, out2, max,
	    &outlen2);
	FUZZ_CHECK(r2 == r && outlen2 == outlen &&
	    memcmp(out, out2, outlen) == 0, "not deterministic");
done:
	free(out);
	free(out2);
	return 0;
}
