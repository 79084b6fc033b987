/*
 * archq.h -- the archive search of mailcorral-archive(8): its command
 * line, the SQL it sends to the index (prepared: every value is a bound
 * parameter, the table name is the only identifier in the text), and the
 * same keys answered from an archived file's head when the index is down.
 * Pure: no I/O here, so the unit tests (test_archq) check it all.
 *
 * Key semantics, the same for the index and the files:
 *   --from/--to     envelope sender / a recipient contains the text,
 *                   letters in any case
 *   --subject       every word is in the Subject, letters in any case
 *                   (the index compares the display column under
 *                   utf8mb4_general_ci, accents folded too; the files the
 *                   raw bytes: non-ASCII letters match only themselves)
 *   --since/--until archived in [since, until)
 *   --message-id    the Message-ID, with or without its angle brackets
 *   --queue-id      the queue id
 *   --min/max-size  body bytes
 *   --spam/--virus  yes|no|unchecked: from the index only
 */
#ifndef MC_ARCHQ_H
#define MC_ARCHQ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct arc_head;

#define ARCQ_MAXWORDS	16
#define ARCQ_MAXP	(8 + ARCQ_MAXWORDS)	/* bound parameters */
#define ARCQ_LIMIT	1000			/* default --limit */
#define ARCQ_MAX_HEAD	(1024 * 1024)		/* default --max-head */

enum arcq_mode { ARCQ_SEARCH, ARCQ_SHOW, ARCQ_EXPORT, ARCQ_STATS };
enum arcq_tri { ARCQ_ANY, ARCQ_YES, ARCQ_NO, ARCQ_UNCHECKED };

/* arcq_parse()'s answers besides 0. */
#define ARCQ_HELP	1	/* --help: print the usage, exit 0 */
#define ARCQ_BAD	(-1)	/* usage error, reason in err */
#define ARCQ_PASSWORD	(-2)	/* a password on the command line */

struct arcq {
	/* the keys; NULL / -1 / ARCQ_ANY when not given */
	const char	*from, *to, *qid;
	char		 msgid[1000];		/* "<...>", "" = any */
	char		*words[ARCQ_MAXWORDS];	/* into wordbuf */
	unsigned	 nwords;
	char		 wordbuf[1024];
	long long	 since, until;		/* unix seconds, [since, until) */
	long long	 min_size, max_size;
	enum arcq_tri	 spam, virus;
	/* what to do */
	enum arcq_mode	 mode;
	const char	*arg;			/* --show ID, --export DIR */
	int		 json, files;
	long long	 limit;
	long long	 max_head;		/* bytes a scan reads for a head */
	/* where */
	const char	*config, *defaults_file, *user, *password_file;
};

struct arcq_param {
	int		 num;			/* 1: n, 0: s/len */
	long long	 n;
	char		*s;
	size_t		 len;
};

struct arcq_sql {
	struct buf	 text;
	unsigned	 np;
	struct arcq_param p[ARCQ_MAXP];
};

/*
 * Reads the command line into q (getopt_long; optind is reset).  0,
 * ARCQ_HELP, ARCQ_BAD or ARCQ_PASSWORD (-p, --password in any
 * abbreviation: refused, never read), with the reason in err.
 */
int	 arcq_parse(int argc, char **argv, struct arcq *q, char *err,
	    size_t errlen);
/* 1 when a key only the index can answer (--spam, --virus) is given. */
int	 arcq_needs_index(const struct arcq *);
/*
 * "YYYY-MM-DD" or "YYYY-MM-DD[T ]HH:MM[:SS]", UTC, to unix seconds; end:
 * the first second after it (a day for a date alone).  0 or -1.
 */
int	 arcq_time(const char *s, int end, long long *out);
/* An archive id YYYY/MM/DD/<qid>-<16 hex> (the index's msg_key): 1 or 0. */
int	 arcq_id_ok(const char *id);

/* The SELECT of the matching rows (columns: ARCQ_COLUMNS), or -1. */
int	 arcq_select(const struct arcq *, const char *table,
	    struct arcq_sql *out);
/* The per-day SELECT (day, messages, bytes, spam, virus), or -1. */
int	 arcq_stats(const struct arcq *, const char *table,
	    struct arcq_sql *out);
void	 arcq_sql_free(struct arcq_sql *);

/* The columns arcq_select() returns, in order. */
enum arcq_col {
	ARCQ_C_KEY, ARCQ_C_TIME, ARCQ_C_QID, ARCQ_C_FROM, ARCQ_C_TO,
	ARCQ_C_SUBJECT, ARCQ_C_MSGID, ARCQ_C_SIZE, ARCQ_C_ACTION, ARCQ_C_SPAM,
	ARCQ_C_VIRUS, ARCQ_NCOLS
};

/*
 * The same keys over an archived file's head (arc_read_head) archived at
 * when: 1 it matches, 0 not.  The verdict keys are not looked at (the
 * caller refuses them without the index: arcq_needs_index).
 */
int	 arcq_match(const struct arcq *, const struct arc_head *,
	    long long when);

#endif
