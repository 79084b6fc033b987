/*
 * fuzz_archive -- virus_check_archive_mem() (libarchive listing, nested
 * archives) with a small max_bytes, and virus_check_tnef_mem() on the same
 * bytes.  Asserted: a known reason, a terminated detail, and the same
 * verdict on a second call (no hidden state).
 */
#include "fuzz_common.h"
#include "virusfilter.h"

static struct virus_rules *rules;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virus_hit hit, hit2;
	enum virus_reason r, r2;
	char err[256];

	if (rules == NULL &&
	    (rules = virus_rules_new(NULL, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "virus_rules_new: %s\n", err);
		abort();
	}
	memset(&hit, 0, sizeof(hit));
	memset(&hit2, 0, sizeof(hit2));
	(void)virus_is_archive(data, size);
	r = virus_check_archive_mem(rules, data, size, 3, 64 * 1024, &hit);
	FUZZ_CHECK(r >= VIRUS_OK && r <= VIRUS_INFECTED, "reason %d", r);
	FUZZ_CHECK(memchr(hit.what, '\0', sizeof(hit.what)) != NULL,
	    "detail not terminated");
	r2 = virus_check_archive_mem(rules, data, size, 3, 64 * 1024, &hit2);
	FUZZ_CHECK(r2 == r, "second call gives %d, first %d", r2, r);

	memset(&hit, 0, sizeof(hit));
	r = virus_check_tnef_mem(rules, data, size, &hit);
	FUZZ_CHECK(r >= VIRUS_OK && r <= VIRUS_INFECTED, "tnef reason %d", r);
	FUZZ_CHECK(memchr(hit.what, '\0', sizeof(hit.what)) != NULL,
	    "tnef detail not terminated");
	return 0;
}
