/*
 * fuzz_sa -- the spam engine's loaders on the input as a file:
 * spam_sa_load() (the input as <dir>/in.cf, the search path is <dir>),
 * then spam_sa_check() on fixed addresses and one taken from the input;
 * spamstats_weights_load() on the same file; spam_list_new() on the input as a
 * config value and as "file:in.cf", then spam_list_match().
 * The directory is private (under $FUZZ_TMP or /dev/shm), the process
 * works in it, and
 * inputs holding '/' or '*' or more than one "include" are skipped: an
 * include can only name a file in the directory, and self-inclusion
 * stays small (SA_DEPTH_MAX levels of one include).  The files are
 * trusted input (without the cap, k lines "include in.cf" make about
 * k^SA_DEPTH_MAX file loads: a hang, not a memory error).
 * Asserted: no crash; a loader that fails writes a terminated reason
 * (weights/lists: one that names the file or is a syntax reason); the
 * verdict is one of the enum and the same on a second call.
 */
#include <strings.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "spamfilter.h"
#include "spamstats.h"

static char dir[80], path[128];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("FUZZ_TMP");

	snprintf(dir, sizeof(dir), "%.40s/mc-fuzz-sa.XXXXXX",
	    tmp != NULL && *tmp == '/' ? tmp : "/dev/shm");
	if (mkdtemp(dir) == NULL || chdir(dir) == -1) {
		perror(dir);
		abort();
	}
	snprintf(path, sizeof(path), "%s/in.cf", dir);
	atexit(cleanup);
	return 0;
}

static size_t
count_ci(const uint8_t *d, size_t n, const char *w)
{
	size_t i, k = strlen(w), c = 0;

	for (i = 0; i + k <= n; i++)
		if (strncasecmp((const char *)d + i, w, k) == 0)
			c++;
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *addrs[6];
	char err[512], first[128], *spec;
	struct spam_sa *sa;
	struct spamstats_weights *w;
	struct spam_list *l;
	enum spam_sa_verdict v, v2;
	size_t i, k;

	if (memchr(data, '/', size) != NULL ||
	    memchr(data, '*', size) != NULL ||
	    count_ci(data, size, "include") > 1)
		return 0;
	fuzz_write_file(path, data, size);

	/* An address from the input: its first token of <= 100 bytes. */
	for (i = 0; i < size && (data[i] == ' ' || data[i] == '\n'); i++)
		;
	for (k = 0; i < size && k < 100 && data[i] > ' '; i++)
		first[k++] = (char)data[i];
	first[k] = '\0';
	addrs[0] = "jo@example.org";
	addrs[1] = "<Sender@Example.COM>";
	addrs[2] = "<>";
	addrs[3] = "x@y";
	addrs[4] = first;
	addrs[5] = "";

	err[0] = 'X';
	sa = spam_sa_load(dir, err, sizeof(err));
	FUZZ_CHECK(sa != NULL, "spam_sa_load: NULL (%.100s)", err);
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL &&
	    err[0] != 'X', "err not set");
	v = spam_sa_check(sa, addrs, 6, "mx.example.org");
	v2 = spam_sa_check(sa, addrs, 6, NULL);
	FUZZ_CHECK(v >= SPAM_SA_NONE && v <= SPAM_SA_BLOCK, "verdict %d", v);
	FUZZ_CHECK(v2 >= SPAM_SA_NONE && v2 <= SPAM_SA_BLOCK, "verdict %d",
	    v2);
	FUZZ_CHECK(spam_sa_check(sa, addrs, 6, "mx.example.org") == v,
	    "verdict changes");
	FUZZ_CHECK(spam_sa_verdict_str(v) != NULL, "no verdict string");
	for (i = 0; i < 5; i++)
		(void)spam_sa_check(sa, addrs + i, 1, first);
	(void)spam_sa_count(sa);
	spam_sa_free(sa);

	err[0] = '\0';
	w = spamstats_weights_load(path, err, sizeof(err));
	if (w == NULL)
		FUZZ_CHECK(err[0] != '\0' &&
		    memchr(err, '\0', sizeof(err)) != NULL,
		    "weights: failure without a reason");
	else
		(void)spamstats_weights_nphrases(w);
	spamstats_weights_free(w);

	if ((spec = malloc(size + 1)) == NULL)
		abort();
	memcpy(spec, data, size);
	spec[size] = '\0';
	err[0] = '\0';
	l = spam_list_new(spec, err, sizeof(err));
	if (l == NULL)
		FUZZ_CHECK(err[0] != '\0', "list: failure without a reason");
	else {
		for (i = 0; i < 5; i++)
			(void)spam_list_match(l, addrs[i]);
		(void)spam_list_count(l);
	}
	spam_list_free(l);
	free(spec);

	err[0] = '\0';
	l = spam_list_new("file:in.cf", err, sizeof(err));
	if (l == NULL)
		FUZZ_CHECK(strstr(err, "in.cf") != NULL ||
		    strstr(err, "memory") != NULL,
		    "list file: reason does not name the file: \"%s\"", err);
	else
		for (i = 0; i < 5; i++)
			(void)spam_list_match(l, addrs[i]);
	spam_list_free(l);
	return 0;
}
