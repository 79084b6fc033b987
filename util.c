/*
 * util.c -- small helpers shared by the modules (see util.h).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int
mc_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

long long
mc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
mc_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
mc_utf8_len(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t k, i;
	uint32_t c;

	if (p[0] < 0x80) {
		c = p[0];
		k = 1;
		goto done;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, c = p[0] & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
done:
	if (cp != NULL)
		*cp = c;
	return k;
}

size_t
mc_header_field(const char *p, size_t len)
{
	size_t n = 0;

	do {
		while (n < len && p[n] != '\n')
			n++;
		if (n < len)
			n++;
	} while (n < len && (p[n] == ' ' || p[n] == '\t'));
	return n;
}

int
mc_field_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}
