/*
 * log.c -- logging to syslog and optionally stderr (see log.h).
 * Thread-safe: each line is formatted into a local buffer and written with
 * one syslog() and one write() call.
 * Ownership: the syslog ident and facility are set once by log_init();
 * nothing else is kept.  Failure: logging never fails a caller; a line
 * too long for the buffer is cut.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "banned.h"

static int	 log_stderr;
static const char *log_ident = "mailcorral";

void
log_init(const char *ident, int facility, int to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

void
log_set_stderr(int on)
{
	log_stderr = on;
}

int
log_facility(const char *name)
{
	static const struct { const char *name; int fac; } tab[] = {
		{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON },
		{ "user", LOG_USER }, { "local0", LOG_LOCAL0 },
		{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
		{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
		{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
		{ "local7", LOG_LOCAL7 },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcasecmp(name, tab[i].name) == 0)
			return tab[i].fac;
	return -1;
}

static void vlog(int, const char *, const char *, va_list, int)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int prio, const char *qid, const char *fmt, va_list ap, int err)
{
	char line[4096], stamp[32];
	size_t n = 0;
	int rc;
	struct tm tm;
	time_t now;

	if (qid != NULL) {
		rc = snprintf(line, sizeof(line), "%s: ", qid);
		if (rc > 0)
			n = (size_t)rc < sizeof(line) ? (size_t)rc : 0;
	}
	rc = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (rc > 0)
		n += (size_t)rc;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	if (err != 0 && n < sizeof(line) - 1) {
		char eb[128];
		const char *es = strerror_r(err, eb, sizeof(eb));

		snprintf(line + n, sizeof(line) - n, ": %s", es);
		n = strlen(line);
	}
	syslog(prio, "%s", line);
	if (log_stderr) {
		char out[4200];
		int m;

		now = time(NULL);
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		m = snprintf(out, sizeof(out), "%s %s[%ld]: %s\n", stamp,
		    log_ident, (long)getpid(), line);
		if (m > 0) {
			if ((size_t)m >= sizeof(out))
				m = sizeof(out) - 1;
			(void)!write(STDERR_FILENO, out, (size_t)m);
		}
	}
}

#define LOGFN(name, prio, witherr)			\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	int saved = errno;				\
							\
	va_start(ap, fmt);				\
	vlog(prio, NULL, fmt, ap, witherr ? saved : 0);	\
	va_end(ap);					\
	errno = saved;					\
}

LOGFN(log_info, LOG_INFO, 0)
LOGFN(log_warn, LOG_WARNING, 1)
LOGFN(log_warnx, LOG_WARNING, 0)
LOGFN(log_debug, LOG_DEBUG, 0)

void
log_msg(const char *qid, int prio, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(prio, qid != NULL ? qid : "NOQUEUE", fmt, ap, 0);
	va_end(ap);
	errno = saved;
}

char *
log_safe(const void *p, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i, o = 0;

	if (outlen == 0)
		return out;
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];
		int plain = c >= 0x20 && c < 0x7f && c != '\\' && c != '"';

		if (o + (plain ? 1 : 4) + 4 > outlen) {
			if (outlen > 4) {
				o = o > outlen - 4 ? outlen - 4 : o;
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
