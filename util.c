/*
 * util.c -- small helpers shared by the modules, each written once (see
 * util.h): whole writes, the monotonic clock, hex digits, decimals, the
 * error-reason writer, random hex ids, UTF-8 and header-field scanning.
 * Every public name has the util_ prefix.
 * Ownership: nothing here allocates (but util_sendmail's argument
 * vector); output goes to the caller's buffers.
 * Errors: -1 with errno (util_write_all, util_random_hex); the scanners
 * return 0 for what they do not recognise.
 */
#include <sys/random.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int
util_norm_addr(const char *a, char *out, size_t outlen)
{
	size_t n, i;

	if (a == NULL)
		return -1;
	while (util_isspace((unsigned char)*a))
		a++;
	n = strlen(a);
	while (n > 0 && util_isspace((unsigned char)a[n - 1]))
		n--;
	if (n > 0 && a[0] == '<') {
		a++;
		n--;
	}
	if (n > 0 && a[n - 1] == '>')
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (char)util_lower((unsigned char)a[i]);
	out[n] = '\0';
	return 0;
}

int
util_write_all(int fd, const void *p, size_t n)
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
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
util_hexval(int c)
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
util_parse_decimal(const char *s, size_t n, double *v)
{
	size_t i = 0, nd = 0;
	double x = 0, scale = 1;
	int neg = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (nd++ < 18)
			x = x * 10 + (s[i] - '0');
		else
			return 0;
		i++;
	}
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (nd++ < 30) {
				scale /= 10;
				x += (s[i] - '0') * scale;
			}
			i++;
		}
	}
	if (nd == 0)
		return 0;
	*v = neg ? -x : x;
	return isfinite(*v) ? i : 0;
}

void
util_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
util_random_hex(char *out, size_t ndig, int upper)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	unsigned char r[256];
	size_t i, need = (ndig + 1) / 2, got = 0;
	ssize_t n;

	if (need > sizeof(r)) {
		errno = EINVAL;
		return -1;
	}
	while (got < need) {
		n = getrandom(r + got, need - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)n;
	}
	for (i = 0; i < ndig; i++)
		out[i] = hex[(r[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[ndig] = '\0';
	return 0;
}

size_t
util_utf8_len(const unsigned char *p, size_t n, uint32_t *cp)
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
util_header_field(const char *p, size_t len)
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
util_field_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* An address sendmail's command line may carry: no option, no blank. */
static int
sendmail_addr_ok(const char *a)
{
	const unsigned char *p = (const unsigned char *)a;

	if (*p == '\0' || *p == '-' || strlen(a) > 320)
		return 0;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

int
util_sendmail(const char *path, const char *from, char *const *rcpts,
    size_t nrcpt, int (*writer)(void *, int), void *arg)
{
	char *const envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	    (char *)"LC_ALL=C", NULL };
	struct sigaction sa;
	sigset_t none;
	const char **argv;
	int pfd[2], st, wrote, e;
	size_t i;
	pid_t pid;

	if (nrcpt == 0 || (strcmp(from, "<>") != 0 &&
	    !sendmail_addr_ok(from))) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < nrcpt; i++)
		if (!sendmail_addr_ok(rcpts[i])) {
			errno = EINVAL;
			return -1;
		}
	if ((argv = calloc(nrcpt + 6, sizeof(*argv))) == NULL)
		return -1;
	argv[0] = "sendmail";
	argv[1] = "-oi";
	argv[2] = "-f";
	argv[3] = from;
	argv[4] = "--";
	for (i = 0; i < nrcpt; i++)
		argv[5 + i] = rcpts[i];
	sigemptyset(&none);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		free(argv);
		return -1;
	}
	if ((pid = fork()) == -1) {
		e = errno;
		close(pfd[0]);
		close(pfd[1]);
		free(argv);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here on. */
		if (dup2(pfd[0], STDIN_FILENO) == -1)
			_exit(127);
		sigaction(SIGPIPE, &sa, NULL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(path, (char *const *)(uintptr_t)argv, envp);
		_exit(127);
	}
	free(argv);
	close(pfd[0]);
	wrote = writer(arg, pfd[1]);
	close(pfd[1]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (wrote == -1)
		return 75;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 75;
}
