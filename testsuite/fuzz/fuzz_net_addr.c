/*
 * fuzz_net_addr -- net_parse(), the server address parser behind
 * clamd_servers and spamd_servers.  Byte 0 picks the default port ("783",
 * "3310" or none); the rest, up to its first NUL, is the address.
 * Asserted: 0 or -1; on failure a reason beginning "config: bad ",
 * terminated and printable up to what the input put in it; on success
 * a unix path equal to what follows "unix:", or a host of 1..255 bytes
 * without a NUL and a port of 1..7 digits, a host holding ':' only when
 * it was given in brackets, and the canonical form "[host]:port" parsing
 * back to the same host and port.
 */
#include "fuzz_common.h"
#include "net.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const defs[] = { "783", "3310", NULL };
	struct net_addr a, b;
	char *spec, canon[300], err[200];
	const char *def;
	size_t n, i;
	int rc;

	if (size < 1)
		return 0;
	def = defs[data[0] % 3];
	fuzz_input = data + 1;
	fuzz_input_len = size - 1;
	fuzz_on_fail = fuzz_show_input;
	n = strnlen((const char *)data + 1, size - 1);
	if ((spec = malloc(n + 1)) == NULL)
		return 0;
	memcpy(spec, data + 1, n);
	spec[n] = '\0';
	memset(err, 'X', sizeof(err));
	rc = net_parse(spec, def, &a, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (rc == -1) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL,
		    "err not terminated");
		FUZZ_CHECK(strncmp(err, "config: bad ", 12) == 0, "err %s",
		    err);
		free(spec);
		return 0;
	}
	if (a.is_unix) {
		FUZZ_CHECK(strncmp(spec, "unix:", 5) == 0, "unix without unix:");
		FUZZ_CHECK(strcmp(a.path, spec + 5) == 0 && a.path[0] != '\0',
		    "path \"%s\"", a.path);
		free(spec);
		return 0;
	}
	n = strlen(a.host);
	FUZZ_CHECK(n >= 1 && n <= 255, "host length %zu", n);
	FUZZ_CHECK(strlen(a.port) >= 1 && strlen(a.port) <= 7 &&
	    strspn(a.port, "0123456789") == strlen(a.port), "port \"%s\"",
	    a.port);
	FUZZ_CHECK(strchr(a.host, ':') == NULL || spec[0] == '[',
	    "bare host with ':' accepted: \"%s\"", a.host);
	if (strchr(spec + (spec[0] == '[' ? 1 : 0), ':') == NULL ||
	    (spec[0] == '[' && spec[strlen(spec) - 1] == ']'))
		FUZZ_CHECK(def != NULL && strcmp(a.port, def) == 0,
		    "no port given, got \"%s\"", a.port);
	for (i = 0; a.host[i] != '\0'; i++)
		FUZZ_CHECK(a.host[i] != ']' || spec[0] != '[',
		    "']' inside a bracketed host");
	/* brackets always: "unix:783" would be a socket path */
	snprintf(canon, sizeof(canon), "[%s]:%s", a.host, a.port);
	FUZZ_CHECK(net_parse(canon, NULL, &b, err, sizeof(err)) == 0,
	    "canonical \"%s\" refused: %s", canon, err);
	FUZZ_CHECK(!b.is_unix && strcmp(a.host, b.host) == 0 &&
	    strcmp(a.port, b.port) == 0, "\"%s\" reads back as %s %s", canon,
	    b.host, b.port);
	free(spec);
	return 0;
}
