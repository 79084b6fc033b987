/*
 * fuzz_journal -- the archive index journal's line format (mcarchive.h):
 * arc_encode_row() and arc_decode_row().  The journal holds header values
 * from hostile mail, and a line the indexer misreads would put one field's
 * bytes in another column or split a row in two.
 * Two properties, on every input:
 *   1. the input cut into ARC_NFIELDS fields (at each 0xFE byte) encodes to
 *      one line, with no tab but the separators, no control byte but its
 *      final newline, and decodes back to exactly those fields;
 *   2. the input read as a journal line either is refused or decodes to
 *      fields that encode to a line decoding to the same fields again.
 */
#include "fuzz_common.h"
#include "buf.h"
#include "mcarchive.h"

static void
same_rows(const struct arc_row *a, const struct arc_row *b)
{
	size_t f;

	for (f = 0; f < ARC_NFIELDS; f++) {
		FUZZ_CHECK(a->len[f] == b->len[f], "field %zu: %zu vs %zu bytes",
		    f, a->len[f], b->len[f]);
		FUZZ_CHECK(a->len[f] == 0 ||
		    memcmp(a->f[f], b->f[f], a->len[f]) == 0,
		    "field %zu differs", f);
	}
}

/* Encodes r, checks the line's shape, decodes it into back. */
static char *
round_trip(const struct arc_row *r, struct arc_row *back)
{
	struct buf line = BUF_INIT;
	size_t i, tabs = 0;
	char *s;

	FUZZ_CHECK(arc_encode_row(r, &line) == 0, "encode failed");
	FUZZ_CHECK(line.len > 0 && line.data[line.len - 1] == '\n',
	    "no final newline");
	for (i = 0; i + 1 < line.len; i++) {
		unsigned char c = (unsigned char)line.data[i];

		if (c == '\t') {
			tabs++;
			continue;
		}
		FUZZ_CHECK(c >= 0x20 && c != 0x7f, "raw byte 0x%02x at %zu",
		    c, i);
	}
	FUZZ_CHECK(tabs == ARC_NFIELDS, "%zu tabs", tabs);
	s = buf_detach(&line);
	FUZZ_CHECK(arc_decode_row(s, strlen(s) - 1, back) == 0,
	    "own line refused");
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arc_row r, back, again;
	char *copy, *line, *line2;
	size_t f = 0, i, start = 0;

	fuzz_input = data;
	fuzz_input_len = size;
	fuzz_on_fail = fuzz_show_input;

	/* 1: fields cut at 0xFE */
	memset(&r, 0, sizeof(r));
	for (i = 0; i <= size && f < ARC_NFIELDS; i++)
		if (i == size || data[i] == 0xfe) {
			r.f[f] = (const char *)data + start;
			r.len[f++] = i - start;
			start = i + 1;
		}
	line = round_trip(&r, &back);
	same_rows(&r, &back);
	free(line);

	/* 2: the input as a journal line */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (arc_decode_row(copy, size, &back) == 0) {
		line2 = round_trip(&back, &again);
		same_rows(&back, &again);
		free(line2);
	}
	free(copy);
	return 0;
}
