/*
 * fuzz_spamstats -- the built-in statistical checker (spamstats_*).
 * Input: byte 0 the chunk schedule kind, byte 1 its seed, byte 2 bit 0
 * is_html; then header lines ("Name: value", up to the first empty line)
 * and the decoded text.  Asserted: the text fed in one chunk and in the
 * chosen schedule gives the same score (bit for bit) and the same "why"
 * list; the score is finite.
 */
#include <math.h>

#include "fuzz_common.h"
#include "buf.h"
#include "spamstats.h"

static struct spamstats_weights *weights;

static void
score(const char *hdr, size_t hlen, const char *text, size_t tlen,
    int is_html, struct fuzz_sched *s, double *sc, struct buf *why)
{
	struct spamstats *st;
	size_t i = 0, e, c;

	if ((st = spamstats_new(weights)) == NULL)
		abort();
	while (i < hlen) {
		const char *nl = memchr(hdr + i, '\n', hlen - i);

		e = nl == NULL ? hlen : (size_t)(nl - hdr);
		for (c = i; c < e && hdr[c] != ':'; c++)
			;
		if (c < e) {
			size_t v = c + 1;

			while (v < e && hdr[v] == ' ')
				v++;
			spamstats_header(st, hdr + i, c - i, hdr + v, e - v);
		}
		i = e + 1;
	}
	/*
	 * A call, even with no bytes, tells that a text/html part exists,
	 * so both ways make at least one.
	 */
	if (s == NULL || tlen == 0)
		spamstats_text(st, is_html, text, tlen);
	else
		FUZZ_FEED_CHUNKS(s, text, tlen,
		    spamstats_text(st, is_html, chunk, chunklen));
	spamstats_finish(st, sc, why);
	spamstats_free(st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_sched s;
	struct buf w1 = BUF_INIT, w2 = BUF_INIT;
	const char *p, *sep;
	size_t n, hlen;
	double s1, s2;
	char err[256];

	if (weights == NULL &&
	    (weights = spamstats_weights_load(NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "spamstats_weights_load: %s\n", err);
		abort();
	}
	if (size < 3)
		return 0;
	p = (const char *)data + 3;
	n = size - 3;
	sep = memmem(p, n, "\n\n", 2);
	hlen = sep == NULL ? 0 : (size_t)(sep - p);
	if (sep != NULL) {
		p += hlen + 2;
		n -= hlen + 2;
	}
	fuzz_sched_init(&s, data[0], data[1]);
	score((const char *)data + 3, hlen, p, n, data[2] & 1, NULL, &s1, &w1);
	score((const char *)data + 3, hlen, p, n, data[2] & 1, &s, &s2, &w2);
	FUZZ_CHECK(isfinite(s1), "score %g", s1);
	FUZZ_CHECK(memcmp(&s1, &s2, sizeof(s1)) == 0,
	    "score whole %.17g, chunked %.17g (kind %u)", s1, s2, s.kind);
	FUZZ_CHECK(w1.len == w2.len && (w1.len == 0 ||
	    memcmp(w1.data, w2.data, w1.len) == 0),
	    "why whole \"%s\", chunked \"%s\"", w1.data ? w1.data : "",
	    w2.data ? w2.data : "");
	buf_free(&w1);
	buf_free(&w2);
	return 0;
}
