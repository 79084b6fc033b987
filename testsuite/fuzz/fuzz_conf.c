/*
 * fuzz_conf -- conf_load() on the input as mailcorral.conf.
 * The input is written to one file in a private directory under $FUZZ_TMP
 * (fuzz.sh makes one) or /dev/shm
 * (the same path every run), after a first line
 * 'spamassassin_config = ""' so that each run does not read the system's
 * SpamAssassin files (the input may set it again).  The process works in
 * that directory, and inputs holding '/' or '*' are skipped, so no value
 * can name a file or directory outside it (a path like /dev/stdin would
 * block, "/ *" would walk the file system: the file is trusted input).
 * Asserted: no crash; on failure the error is non-empty, terminated,
 * names the file;
 * on success the snapshot says where it came from and its compiled
 * tables are there; conf_free() frees it all (LeakSanitizer).
 */
#include <unistd.h>

#include "fuzz_common.h"
#include "conf.h"
#include "confsnap.h"

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

	snprintf(dir, sizeof(dir), "%.40s/mc-fuzz-conf.XXXXXX",
	    tmp != NULL && *tmp == '/' ? tmp : "/dev/shm");
	if (mkdtemp(dir) == NULL || chdir(dir) == -1) {
		perror(dir);
		abort();
	}
	snprintf(path, sizeof(path), "%s/mailcorral.conf", dir);
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char first[] = "spamassassin_config = \"\"\n";
	struct mc_config *cf = NULL;
	char err[1024];
	uint8_t *buf;
	size_t el;
	int r;

	if (memchr(data, '/', size) != NULL || memchr(data, '*', size) != NULL)
		return 0;
	if ((buf = malloc(sizeof(first) - 1 + size)) == NULL)
		abort();
	memcpy(buf, first, sizeof(first) - 1);
	if (size > 0)
		memcpy(buf + sizeof(first) - 1, data, size);
	fuzz_write_file(path, buf, sizeof(first) - 1 + size);
	free(buf);

	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	err[0] = '\0';
	r = conf_load(path, &cf, err, sizeof(err));
	if (r == -1) {
		FUZZ_CHECK(cf == NULL, "failure with a snapshot");
		el = strlen(err);
		FUZZ_CHECK(el > 0, "failure without a reason");
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 ||
		    strcmp(err, "out of memory") == 0,
		    "error does not name the file: \"%s\"", err);
		/*
		 * Not asserted: the reason quotes the file's bytes as they
		 * are ("unknown keyword" with control bytes); the file is
		 * trusted and the daemon logs through syslog.
		 */
		return 0;
	}
	FUZZ_CHECK(r == 0 && cf != NULL, "conf_load returned %d", r);
	FUZZ_CHECK(cf->file != NULL && strcmp(cf->file, path) == 0,
	    "file \"%s\"", cf->file ? cf->file : "(null)");
	FUZZ_CHECK(cf->rules != NULL && cf->white != NULL &&
	    cf->black != NULL && cf->weights != NULL, "tables missing");
	FUZZ_CHECK(cf->limits.max_parts > 0 && cf->limits.max_depth > 0,
	    "limits max_parts %u max_depth %u", cf->limits.max_parts,
	    cf->limits.max_depth);
	conf_free(cf);
	return 0;
}
