/*
 * fuzz_prefs -- prefs_parse(), the spam_user_prefs file (prefs.h), on the
 * input as a file's text, then prefs_lookup() on fixed recipients and on
 * each line's first word (so rules that parse are also looked up).
 * Asserted: no crash; a refusal names the file and a line number within
 * the input ("in:N: "); an accepted table's lookups give a disposition in
 * range or none, a threshold in [0, 10000], set lines within the input,
 * and the same answer twice; a table that uses a disposition says so.
 */
#include "fuzz_common.h"
#include "conf.h"
#include "prefs.h"

static void
check_one(const struct prefs *p, const char *rcpt, unsigned lines)
{
	struct prefs_user u, u2;

	prefs_lookup(p, rcpt, &u);
	prefs_lookup(p, rcpt, &u2);
	FUZZ_CHECK(memcmp(&u, &u2, sizeof(u)) == 0, "lookup differs");
	FUZZ_CHECK(u.disposition >= -1 && u.disposition <= CONF_DISPO_DELIVER,
	    "disposition %d", u.disposition);
	FUZZ_CHECK(u.disposition == -1 || prefs_uses(p, u.disposition),
	    "disposition %d not in uses", u.disposition);
	FUZZ_CHECK(!u.has_threshold || (u.threshold >= 0 &&
	    u.threshold <= 10000), "threshold %g", u.threshold);
	FUZZ_CHECK(u.threshold_line <= lines && u.disposition_line <= lines,
	    "line past the input");
	FUZZ_CHECK((u.disposition == -1) == (u.disposition_line == 0),
	    "disposition line");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed[] = { "jo@example.org",
	    "<Jo@Example.ORG>", "a@b", "", "<>", "@", "nobody" };
	char err[512], word[PREFS_ADDR_MAX + 2];
	const char *s = (const char *)data, *nl;
	struct prefs *p;
	unsigned lines = 1, at;
	size_t i, j, k;

	fuzz_input = data;
	fuzz_input_len = size;
	fuzz_on_fail = fuzz_show_input;
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	err[0] = '\0';
	if ((p = prefs_parse(s, size, "in", err, sizeof(err))) == NULL) {
		FUZZ_CHECK(strncmp(err, "in:", 3) == 0 &&
		    sscanf(err + 3, "%u: ", &at) == 1 && at >= 1 &&
		    at <= lines, "reason \"%s\"", err);
		return 0;
	}
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_one(p, fixed[i], lines);
	for (i = 0; i < size; i = j + 1) {
		nl = memchr(s + i, '\n', size - i);
		j = nl != NULL ? (size_t)(nl - s) : size;
		for (k = 0; i + k < j && k < PREFS_ADDR_MAX + 1 &&
		    s[i + k] != ' ' && s[i + k] != '\t' && s[i + k] != '\0'; k++)
			word[k] = s[i + k];
		word[k] = '\0';
		if (word[0] == '*')
			word[0] = 'x';
		check_one(p, word, lines);
	}
	prefs_free(p);
	return 0;
}
