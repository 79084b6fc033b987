/*
 * fuzz_spamd_reply -- spamd_parse_reply(), the spamd reply header
 * parser.  Byte 0 picks errlen (1..256); the rest is the reply.  The
 * reply is parsed from a heap copy of exactly its size (ASan sees any
 * read past it) and again NUL-terminated, as the client buffers it.
 * Asserted: the same outcome both ways; on success a "SPAMD/" status
 * line, is_spam 0 or 1, finite score and threshold, err left empty; on
 * failure a reason that is terminated inside errlen, printable, begins
 * with "protocol: " (as far as errlen lets it) and a zeroed result;
 * bytes after the blank line ending the headers do not matter.
 * spamd_parse_tell() (TELL's reply) on the same bytes: learned 0 or 1,
 * err empty on success, "protocol: " and learned 0 on failure, and it
 * accepts every reply CHECK's parser accepts (TELL needs no Spam header).
 */
#include <math.h>

#include "fuzz_common.h"
#include "spamd.h"

static int
parse(const char *r, size_t n, size_t errlen, struct spamd_result *res,
    char *err)
{
	static const struct spamd_result zero;
	size_t i;
	int rc;

	memset(err, 'X', 257);
	memset(res, 0xa5, sizeof(*res));
	rc = spamd_parse_reply(r, n, res, err, errlen);
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL, "err not terminated");
	FUZZ_CHECK(err[errlen] == 'X', "err written past errlen %zu", errlen);
	if (rc == 0) {
		FUZZ_CHECK(err[0] == '\0', "err set on success: %s", err);
		FUZZ_CHECK(n >= 6 && memcmp(r, "SPAMD/", 6) == 0,
		    "accepted without a SPAMD/ status line");
		FUZZ_CHECK(res->is_spam == 0 || res->is_spam == 1,
		    "is_spam %d", res->is_spam);
		FUZZ_CHECK(isfinite(res->score) && isfinite(res->threshold),
		    "score %g threshold %g", res->score, res->threshold);
		FUZZ_CHECK(res->server[0] == '\0', "server set");
	} else {
		FUZZ_CHECK(errlen < 2 || err[0] != '\0', "no reason");
		for (i = 0; err[i] != '\0'; i++)
			FUZZ_CHECK(err[i] >= 0x20 && err[i] < 0x7f,
			    "raw byte 0x%02x in err", (unsigned char)err[i]);
		FUZZ_CHECK(strncmp(err, "protocol: ", i < 10 ? i : 10) == 0,
		    "reason \"%s\"", err);
		FUZZ_CHECK(memcmp(res, &zero, sizeof(*res)) == 0,
		    "result not zeroed on failure");
	}
	return rc;
}

/* The TELL parser on the same reply; check_rc is CHECK's outcome. */
static void
tell(const char *r, size_t len, size_t errlen, int check_rc)
{
	char err[257];
	int rc, learned = 7;
	size_t n;

	memset(err, 'X', sizeof(err));
	rc = spamd_parse_tell(r, len, &learned, err, errlen);
	FUZZ_CHECK(rc == 0 || rc == -1, "tell rc %d", rc);
	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL, "tell err not terminated");
	FUZZ_CHECK(err[errlen] == 'X', "tell err written past errlen %zu",
	    errlen);
	if (rc == 0) {
		FUZZ_CHECK(learned == 0 || learned == 1, "learned %d", learned);
		FUZZ_CHECK(err[0] == '\0', "tell err set on success: %s", err);
	} else {
		FUZZ_CHECK(learned == 0, "learned %d on failure", learned);
		n = strlen(err);
		FUZZ_CHECK(strncmp(err, "protocol: ", n < 10 ? n : 10) == 0,
		    "tell reason \"%s\"", err);
	}
	FUZZ_CHECK(check_rc == -1 || rc == 0,
	    "a reply CHECK accepts is refused as a TELL reply: %s", err);
}

/* End of the blank line ending the headers ("\n\n" or "\n\r\n"), or 0. */
static size_t
hdr_end(const char *r, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++) {
		if (r[i] != '\n')
			continue;
		if (r[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && r[i + 1] == '\r' && r[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tail[] = "Spam: junk\r\nContent-length: -1\r\n\x01";
	struct spamd_result r1, r2;
	char e1[257], e2[257], *a, *b;
	size_t n, errlen, e;
	int rc1, rc2;

	if (size < 1)
		return 0;
	fuzz_input = data + 1;
	fuzz_input_len = size - 1;
	fuzz_on_fail = fuzz_show_input;
	errlen = 1 + data[0] % 256;
	n = size - 1;

	/* Exactly n bytes: a read past the end is an ASan error. */
	if ((a = malloc(n ? n : 1)) == NULL ||
	    (b = malloc(n + sizeof(tail))) == NULL)
		abort();
	memcpy(a, data + 1, n);
	rc1 = parse(a, n, errlen, &r1, e1);

	/* NUL-terminated, as spamd_one() hands it over. */
	memcpy(b, data + 1, n);
	b[n] = '\0';
	rc2 = parse(b, n, errlen, &r2, e2);
	FUZZ_CHECK(rc1 == rc2 && strcmp(e1, e2) == 0 &&
	    memcmp(&r1, &r2, sizeof(r1)) == 0, "NUL after the reply matters");

	/* What follows the headers is the body: ignored. */
	if ((e = hdr_end(a, n)) > 0) {
		rc2 = parse(a, e, errlen, &r2, e2);
		FUZZ_CHECK(rc1 == rc2 && strcmp(e1, e2) == 0 &&
		    memcmp(&r1, &r2, sizeof(r1)) == 0,
		    "body changes the outcome (headers end at %zu)", e);
		memcpy(b, a, e);
		memcpy(b + e, tail, sizeof(tail) - 1);
		rc2 = parse(b, e + sizeof(tail) - 1, errlen, &r2, e2);
		FUZZ_CHECK(rc1 == rc2 && strcmp(e1, e2) == 0 &&
		    memcmp(&r1, &r2, sizeof(r1)) == 0,
		    "body changes the outcome (headers end at %zu)", e);
	}
	tell(a, n, errlen, rc1);
	free(a);
	free(b);
	return 0;
}
