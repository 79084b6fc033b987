/*
 * fuzz_corral_name -- corral_safe_rcpt(), corral_unescape(),
 * corral_parse_name().  The input (up to its first NUL, at most 4096
 * bytes) is an envelope recipient.  Asserted for the safe form:
 *   - matches ^[A-Za-z0-9.+=@%-]*$, is not empty, <= CORRAL_RCPT_MAX
 *     bytes, does not start with '.' or '-', has no '_' or '/';
 *   - "spam_to_<safe>_<id>" parses back (corral_parse_name) into the same
 *     safe string and id;
 *   - corral_unescape() gives back the canonical recipient (<> stripped,
 *     domain after the last '@' lower-cased) exactly; for the hashed long
 *     form, a prefix of it.  So distinct canonical recipients get distinct
 *     names (injective).
 * The raw input is also given to corral_parse_name() and corral_unescape().
 */
#include <errno.h>

#include "fuzz_common.h"
#include "corral.h"

static const char ID[] = "0123456789ABCDEF";

static void
canonical(const char *r, char *out)
{
	size_t len = strlen(r), i;
	const char *at;

	if (len >= 2 && r[0] == '<' && r[len - 1] == '>') {
		r++;
		len -= 2;
	}
	memcpy(out, r, len);
	out[len] = '\0';
	if ((at = memrchr(out, '@', len)) != NULL)
		for (i = (size_t)(at - out) + 1; i < len; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] = (char)(out[i] - 'A' + 'a');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char rcpt[4097], canon[4097], safe[CORRAL_RCPT_MAX + 1];
	char name[CORRAL_NAME_MAX + 64], r2[CORRAL_NAME_MAX + 1], id[64];
	char dec[4097 * 3];
	size_t n, i, sl;
	int rc, kind;

	n = size < 4096 ? size : 4096;
	memcpy(rcpt, data, n);
	rcpt[n] = '\0';

	/* Raw input as a name and as a safe string: no crash, sane. */
	if (corral_parse_name(rcpt, r2, sizeof(r2), id, sizeof(id)) == 0) {
		FUZZ_CHECK(strlen(id) == 16, "id \"%s\"", id);
		if (r2[0] != '\0')
			FUZZ_CHECK(corral_unescape(r2, dec, sizeof(dec)) >= 0,
			    "parsed rcpt \"%s\" does not unescape", r2);
	}
	(void)corral_unescape(rcpt, dec, sizeof(dec));

	rc = corral_safe_rcpt(rcpt, safe, sizeof(safe));
	canonical(rcpt, canon);
	if (rc == -1) {
		FUZZ_CHECK(canon[0] == '\0' || errno == ENAMETOOLONG,
		    "rejected \"%s\": %s", rcpt, strerror(errno));
		return 0;
	}
	FUZZ_CHECK(canon[0] != '\0', "empty recipient accepted");
	sl = strlen(safe);
	FUZZ_CHECK(sl > 0 && sl <= CORRAL_RCPT_MAX, "length %zu", sl);
	FUZZ_CHECK(safe[0] != '.' && safe[0] != '-', "leading \"%c\"",
	    safe[0]);
	for (i = 0; i < sl; i++) {
		char c = safe[i];

		FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(".+=@%-", c) != NULL,
		    "byte %#x in \"%s\"", (unsigned char)c, safe);
	}
	FUZZ_CHECK(strchr(safe, '_') == NULL && strchr(safe, '/') == NULL,
	    "'_' or '/' in \"%s\"", safe);

	snprintf(name, sizeof(name), "spam_to_%s_%s", safe, ID);
	FUZZ_CHECK(corral_parse_name(name, r2, sizeof(r2), id,
	    sizeof(id)) == 0, "\"%s\" does not parse", name);
	FUZZ_CHECK(strcmp(r2, safe) == 0 && strcmp(id, ID) == 0,
	    "\"%s\" parses to \"%s\" \"%s\"", name, r2, id);

	kind = corral_unescape(safe, dec, sizeof(dec));
	FUZZ_CHECK(kind == 0 || kind == 1, "unescape(\"%s\") = %d", safe,
	    kind);
	if (kind == 0)
		FUZZ_CHECK(strcmp(dec, canon) == 0,
		    "\"%s\" unescapes to \"%s\", canonical \"%s\"", safe, dec,
		    canon);
	else {
		FUZZ_CHECK(strlen(canon) > 0 &&
		    strncmp(dec, canon, strlen(dec)) == 0,
		    "hashed \"%s\" prefix \"%s\" not a prefix of \"%s\"", safe,
		    dec, canon);
		FUZZ_CHECK(strlen(safe) > 18 || strlen(canon) > 0,
		    "hashed form too short");
	}
	return 0;
}
