/*
 * spamd.h -- the spamd client (SPAMC/1.5 CHECK and TELL) and the request
 * it sends.
 *
 * spamd_request() builds the request from a parsed message: the header
 * block and the text, with the content of non-text leaf parts left out.
 * spamd_check() asks the servers of the list as its pool picks them
 * (pool.h: scanner_balance, each server's breaker; addresses as in net.h;
 * no port: DEF_SPAMD_PORT), the next while one fails, until one gives a
 * verdict;
 * spamd_tell() teaches a message as ham or spam the same way (the
 * release robot, spamcorral-robot(8)).
 * Ownership: the configuration belongs to the config snapshot (confsnap.c),
 * everything else to the caller; nothing is kept between calls.
 * Threads: any number of checks at once (the pool is shared, under its
 * mutex).
 * Errors: a short reason into the caller's buffer; nothing here logs, and
 * raw spamd replies never leave spamd.c.
 */
#ifndef MC_SPAMD_H
#define MC_SPAMD_H

#include <stddef.h>

#include "conf.h"		/* struct spamd_cfg, conf.c fills it in */

struct buf;
struct scan;

struct spamd_result {
	int	 is_spam;
	double	 score;
	double	 threshold;
	char	 server[128];	/* the server that answered */
};

/*
 * Appends the request for spamd to out: the header block and the body
 * with the content of every non-text leaf part left out (structure kept),
 * at most max bytes.  0, or -1 (ENOMEM, or a spool read error).
 */
int	 spamd_request(const struct scan *, size_t max, struct buf *out);
/*
 * Sends CHECK to the servers the pool picks, each at most once, until one
 * gives a verdict.  A message
 * longer than max_size is cut to max_size for the request.  user may be
 * NULL.  Returns 0 with the verdict in *res, or -1 with the last reason in
 * err: "connect: <strerror> (server)", "timeout (server)",
 * "protocol: <what> (server)", "resolve: ...", "config: ...".
 */
int	 spamd_check(const struct spamd_cfg *, const char *user,
	    const char *msg, size_t len, struct spamd_result *, char *err,
	    size_t errlen);
struct spamd_tell_result {
	int	 learned;	/* DidSet: local: spamd learned it */
	char	 server[128];	/* the server that answered */
};

/*
 * Sends TELL with "Message-class: ham" (spam: "spam") and "Set: local"
 * to the servers as spamd_check() does until one answers (spamd needs
 * --allow-tell), with the deadlines, the max_size cut and the user rules
 * of spamd_check().  Returns 0 when a server answered EX_OK: t->learned is
 * 1 when it says it learned the message (DidSet: local), 0 when it did
 * not (it knew the message already, or its Bayes store is off).  -1 with
 * the last reason in err as spamd_check(): a spamd without --allow-tell
 * answers "protocol: status 69".
 */
int	 spamd_tell(const struct spamd_cfg *, const char *user, int spam,
	    const char *msg, size_t len, struct spamd_tell_result *t,
	    char *err, size_t errlen);
/*
 * For tests and fuzzing: parses a reply header block (r, n), which need
 * not be NUL-terminated.  0 with the verdict in *res (score and threshold
 * finite), or -1 with "protocol: <what>" in err and *res zeroed.
 */
int	 spamd_parse_reply(const char *r, size_t n, struct spamd_result *,
	    char *err, size_t errlen);
/*
 * The same for a TELL reply: 0 with *learned set, or -1 with "protocol:
 * <what>" in err and *learned 0.
 */
int	 spamd_parse_tell(const char *r, size_t n, int *learned, char *err,
	    size_t errlen);

#endif
