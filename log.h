/*
 * log.h -- logging to syslog, and to stderr when running in the foreground.
 * log_warn() appends strerror(errno); log_warnx() does not (OpenSMTPD style).
 * log_msg() prefixes the queue id, so every line about a message starts
 * with it.  Untrusted text must go through log_safe() first.
 */
#ifndef MC_LOG_H
#define MC_LOG_H

#include <stddef.h>
#include <syslog.h>

void	 log_init(const char *ident, int facility, int to_stderr);
void	 log_set_stderr(int);
int	 log_facility(const char *name);	/* -1 if unknown */
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_msg(const char *qid, int prio, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * Copies len bytes of untrusted data into out as printable ASCII: control
 * bytes, backslash, quotes and 8-bit bytes become \xNN.  Output is capped
 * at outlen-1 bytes (cut short with "...") and NUL-terminated.  Returns out.
 */
char	*log_safe(const void *, size_t len, char *out, size_t outlen);

#endif
