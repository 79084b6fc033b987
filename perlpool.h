/*
 * perlpool.h -- the Perl shim's worker pool and its protocol.
 *
 * The site's filter code is Perl (perl_filter), run by perlshim.pl in a
 * pool of persistent worker processes: /usr/bin/perl -T perlshim.pl
 * <perl_filter>, started with fork + execve (never a shell) after the
 * daemon dropped root, with RLIMIT_AS = perl_memory_limit, stdin and
 * stdout on pipes, stderr on the daemon's.  One request per message:
 *
 *   C -> shim   MC-PERL 2
 *               QID <v> | SENDER <v> | RCPT <v> | CLIENT <v> | DIR <v>
 *               HEADER <name> <value>            (each field, as received)
 *               PART <id> <type> <name> <disposition> <size> <path>
 *               END
 *   while the filter runs, any number of:
 *   shim -> C   FETCH <part>
 *   C -> shim   FETCHED <part> <size> | FETCH-FAILED <part> <reason>
 *   then the reply:
 *   shim -> C   DROP <part> <warning> | RENAME <part> <name>
 *               REPLACE <part> <type> <name> <path>
 *               HEADER-ADD <name> <value> | HEADER-CHANGE <name> <i> <value>
 *               HEADER-DELETE <name>
 *               ACCEPT | REJECT <text> | DISCARD | TEMPFAIL <text>
 *               SPAM <score> <reason>            (the filter says spam)
 *               ERROR <text>                     (the filter died)
 *               F
 *
 * Fields are separated by one space; every value is percent-encoded
 * (bytes <= 0x20, >= 0x7f and '%' as %XX), so no field holds a blank or a
 * line end.  A part file holds the DECODED content of one leaf part of
 * the primary view, in a private directory (mode 0700) under spool_dir
 * that is removed with the message; it is written only when the filter
 * first reads the part (FETCH), so a part the filter never reads costs no
 * copy.  DIR is only named in the request: the directory is made by the
 * first FETCH, or by the shim's replace_part.  <size> in PART is the parser's count of decoded bytes; FETCHED
 * gives the bytes written.  A FETCH that fails (or names a part not
 * offered) fails the message (P-SHIM-FAIL, reason part-file or bad-fetch)
 * whatever the reply says: the filter may have caught the error.
 *
 * A reply is refused as a whole (P-SHIM-FAIL: 451 4.3.0) when it lacks
 * the final F line, has an unknown verb, a bad part id, a header name
 * outside [A-Za-z0-9-]+, a value with CR, LF or NUL or longer than
 * PP_VALUE_MAX, a REPLACE file outside the message's directory, more than
 * one verdict, more than one SPAM line, SPAM with ACCEPT, a SPAM score
 * that is not a decimal number within +-PP_SPAM_SCORE_MAX, or more than
 * PP_MAX_ACTIONS lines.
 *
 * Pool: at most perl_workers workers; a message takes a free one or, when
 * all are busy, fails at once ("no free workers") -- nothing waits in a
 * queue.  The busy timeout (perl_timeout, monotonic clock, poll) closes the
 * worker's pipes, sends SIGTERM, then SIGKILL perl_kill_grace seconds
 * later; every worker is reaped by pid with waitpid() and replaced.  A
 * worker of an older configuration (SIGUSR1 changed the shim settings) or
 * one that served perl_max_requests messages is retired when it comes
 * back to the pool.  A worker found with bytes waiting before a request
 * (written after its last F line: out of step) or dead is stopped and
 * the message goes to another one.  No SIGCHLD handler.
 *
 * Ownership: struct pp_msg belongs to one message; the pool is global and
 * thread safe (one mutex, never held across I/O or waits).
 * Errors: -1 with a reason in the caller's buffer; a reason is one word,
 * for the "perl-failed reason=" log line.
 */
#ifndef MC_PERLPOOL_H
#define MC_PERLPOOL_H

#include <stddef.h>

#include "buf.h"

struct mc_config;
struct scan;

#define PP_PROTO	"MC-PERL 2"
#define PP_VALUE_MAX	900		/* decoded bytes of one value */
#define PP_NAME_MAX	128		/* header name, part file name cap */
#define PP_MAX_ACTIONS	1000		/* reply lines */
#define PP_LINE_MAX	4096		/* encoded bytes of one reply line */
#define PP_REPLY_MAX	(512 * 1024)	/* bytes of one reply */
#define PP_REQ_HEADERS	(1024 * 1024)	/* encoded header fields sent */
#define PP_MAX_SLOTS	128		/* workers alive, old and new */
#define PP_SPAM_SCORE_MAX 10000		/* |score| of a SPAM line */

enum pp_verb {
	PP_DROP, PP_RENAME, PP_REPLACE,
	PP_HDR_ADD, PP_HDR_CHANGE, PP_HDR_DELETE
};

enum pp_verdict {
	PP_NONE = 0, PP_ACCEPT, PP_REJECT, PP_DISCARD, PP_TEMPFAIL
};

struct pp_action {
	enum pp_verb	 verb;
	unsigned	 part;		/* DROP, RENAME, REPLACE */
	unsigned	 index;		/* HEADER-CHANGE: 1 = first field */
	char		 name[PP_NAME_MAX + 1];	/* header or file name */
	char		 type[96];	/* REPLACE */
	char		 path[512];	/* REPLACE: checked, in the dir */
	char		 value[PP_VALUE_MAX + 1];	/* value, warning */
};

struct pp_reply {
	enum pp_verdict	 verdict;
	char		 text[PP_VALUE_MAX + 1];	/* REJECT, TEMPFAIL */
	struct pp_action *a;		/* owned */
	unsigned	 n;
	char		 error[200];	/* ERROR: printable, "" if none */
	/* SPAM: the filter's spam verdict, a score on spam_threshold's
	   scale and a reason (printable, may be empty) */
	int		 spam;
	double		 spam_score;
	char		 spam_reason[PP_VALUE_MAX + 1];
};

/*
 * Percent-encodes len bytes onto b.  Decoding fails (-1) on a malformed
 * escape or when the result would exceed max bytes; out gets a NUL after
 * the decoded bytes (which may themselves hold NUL: use *outlen).
 */
int	 pp_encode(struct buf *, const char *, size_t);
int	 pp_decode(const char *, size_t, char *out, size_t max,
	    size_t *outlen);

/*
 * Parses and validates one reply (the bytes the shim wrote, through the F
 * line).  parts: the part ids the request offered; dir: the message's
 * directory.  0, or -1 with a reason word in why (bad-verb, no-terminator,
 * bad-header-name, bad-value, bad-part, bad-path, ...); the reply is then
 * empty.  pp_reply_free() frees what a 0 left.
 */
int	 pp_parse_reply(const char *, size_t, const unsigned *parts,
	    unsigned nparts, const char *dir, struct pp_reply *, char *why,
	    size_t whylen);
void	 pp_reply_free(struct pp_reply *);

/* One message's side of the exchange. */
struct pp_msg;

struct pp_msg	*pp_msg_new(void);
/* Records a header field as received (kept for the request). */
/* The MTA's {_} macro, "name [address]" (the MIMEDefang API's relay). */
void		 pp_msg_relay(struct pp_msg *, const char *relay);
int		 pp_msg_header(struct pp_msg *, const char *name,
		    const char *value);
/* Fields of this name received (for HEADER-CHANGE / HEADER-DELETE). */
unsigned	 pp_msg_count(const struct pp_msg *, const char *name);
/*
 * Sends the request to a worker, writes the part files it asks for, reads
 * and checks the reply.  rcpts has nrcpt entries.  0: the reply is in
 * pp_msg_reply(); -1: P-SHIM-FAIL, reason in why.
 */
int		 pp_msg_run(struct pp_msg *, const struct mc_config *,
		    struct scan *, const char *qid, const char *sender,
		    char *const *rcpts, unsigned nrcpt, const char *client,
		    char *why, size_t whylen);
const struct pp_reply *pp_msg_reply(const struct pp_msg *);
/* Removes the message's directory and frees everything. */
void		 pp_msg_free(struct pp_msg *);

/*
 * The pool.  pp_start() starts the workers of cf (nothing when perl_filter
 * is empty); call it after dropping privileges.  pp_shutdown() stops the
 * idle workers (EOF, SIGTERM, SIGKILL, reaped) and makes the busy ones
 * give up within a second (their messages are tempfailed, the workers
 * stopped by their threads); call it again once those are done.
 * pp_workers() counts workers alive.
 */
int		 pp_start(const struct mc_config *);
/* After a reload installed cf: idle workers of older settings go, the
   new settings' workers start (none when perl_filter is now empty). */
void		 pp_reload(const struct mc_config *);
void		 pp_shutdown(void);
unsigned	 pp_workers(void);

/*
 * One request/reply exchange with a free worker: writes req, reads the
 * reply through its F line into out, within cf->perl_timeout (a FETCH is
 * refused: req offers no parts).  0, or -1
 * with the reason in why (no-free-workers, timeout, crash, spawn, ...).
 */
int		 pp_exchange(const struct mc_config *, const char *qid,
		    const char *req, size_t len, struct buf *out, char *why,
		    size_t whylen);

#endif
