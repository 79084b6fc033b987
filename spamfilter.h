/*
 * spamfilter.h -- the spam engine: our own sender lists, a fast path over
 * SpamAssassin's welcome/block lists, a streaming statistical checker fed
 * during the MIME scan, and a spamd (SPAMC/1.5) client.
 *
 * Threads: spam_list, spam_sa and spam_weights are built once (at start-up
 * or on reload) and are read-only afterwards, so any number of threads may
 * use one of them at the same time.  Per-message state (spam_stats, the
 * spamd result) belongs to the caller and is used by one thread at a time.
 * Errors: loaders write a short reason ("file:line: ...") into the caller's
 * buffer; nothing here logs or exits, and raw spamd replies never leave
 * spamfilter.c.
 */
#ifndef MC_SPAMFILTER_H
#define MC_SPAMFILTER_H

#include <stddef.h>

struct buf;

/* ---- our own sender lists ---------------------------------------- */

/*
 * Compiles a list from a config value: patterns separated by white space
 * or commas.  "jo@example.org", "*@domain" or "@domain" (same thing), any
 * glob with '*' and '?' (whole address, case-insensitive, as SpamAssassin),
 * or "file:/path" (one pattern per line, '#' comments).
 * Returns NULL with a reason in err ("file:line: ...") on error.  An empty
 * spec gives an empty list that matches nothing.  Free with spam_list_free.
 */
struct spam_list *spam_list_new(const char *spec, char *err, size_t errlen);
/* 1 if addr ("<Jo@Example.org>" or "jo@example.org") is on the list. */
int		 spam_list_match(const struct spam_list *, const char *addr);
size_t		 spam_list_count(const struct spam_list *);
void		 spam_list_free(struct spam_list *);

/* ---- SpamAssassin list fast path --------------------------------- */

#define SPAM_SA_DEFAULT_SEARCH "/usr/share/spamassassin /etc/spamassassin " \
	"/etc/mail/spamassassin " \
	"/var/lib/spamassassin/*/updates_spamassassin_org"

enum spam_sa_verdict {
	SPAM_SA_NONE = 0,	/* on no list: ask spamd */
	SPAM_SA_WELCOME,	/* welcomelist_from(_rcvd): skip spamd, ham */
	SPAM_SA_BLOCK		/* blocklist_from: skip spamd, spam */
};

/*
 * Loads the welcome/block lists from SpamAssassin's config files.  search
 * is a white-space separated list of files or directories (a directory
 * means its *.pre then *.cf files, sorted by name); a '*' path component
 * means "every directory at and below this point" holding the rest of the
 * path.  Missing paths are skipped.  Returns NULL only when out of memory;
 * a bad or oversized file is cut short, the first such problem is written
 * to err (err[0] stays '\0' when all went well) and the rest is used.
 * def_welcomelist_from_rcvd is ignored (SA gives it -15, not a verdict).
 */
struct spam_sa	*spam_sa_load(const char *search, char *err, size_t errlen);
/*
 * Checks the sender addresses (envelope sender, From:, ...; "<>" and case
 * do not matter) against the lists.  relay_host is the connecting host's
 * name, used by the _rcvd entries (may be NULL: they never match then).
 */
enum spam_sa_verdict spam_sa_check(const struct spam_sa *,
		    const char *const *addrs, size_t naddrs,
		    const char *relay_host);
size_t		 spam_sa_count(const struct spam_sa *);
const char	*spam_sa_verdict_str(enum spam_sa_verdict);
void		 spam_sa_free(struct spam_sa *);

/* ---- built-in statistical checker -------------------------------- */

/*
 * Weights: NULL file gives the compiled-in defaults (the same text as the
 * shipped spamphrases.txt).  File lines: "phrase <weight> <text...>" and
 * "feature <NAME> <weight>"; '#' comments.  Returns NULL with
 * "file:line: ..." in err on error.
 */
struct spam_weights *spam_weights_load(const char *file, char *err,
		    size_t errlen);
size_t		 spam_weights_nphrases(const struct spam_weights *);
void		 spam_weights_free(struct spam_weights *);

/*
 * Per-message state, bounded in size.  spam_stats_header() takes the
 * top-level header fields (unfolded, name without colon);
 * spam_stats_text() the decoded content of text/plain (is_html 0) and
 * text/html (is_html 1) leaf parts in chunks of any size: the result does
 * not depend on the chunking.  spam_stats_finish() gives the score and,
 * when why is not NULL, appends "GTUBE=1000,PHRASE_viagra=2.5" to it.
 * The weights must outlive the stats.  NULL from spam_stats_new: ENOMEM.
 */
struct spam_stats *spam_stats_new(const struct spam_weights *);
void		 spam_stats_header(struct spam_stats *, const char *name,
		    size_t nlen, const char *value, size_t vlen);
void		 spam_stats_text(struct spam_stats *, int is_html,
		    const char *data, size_t len);
void		 spam_stats_finish(struct spam_stats *, double *score,
		    struct buf *why);
void		 spam_stats_free(struct spam_stats *);

/* ---- spamd client ------------------------------------------------- */

#define SPAM_SPAMD_MAX_SIZE	(500 * 1024)	/* spamc's default */

struct spam_spamd_cfg {
	char	**servers;	/* "host:port", "[v6]:port", "unix:/path" */
	size_t	  nservers;
	int	  connect_timeout_ms;	/* per server; <= 0: 2000 */
	int	  read_timeout_ms;	/* write + read, per server; <= 0: 30000 */
	size_t	  max_size;	/* request body cap; 0: SPAM_SPAMD_MAX_SIZE */
};

struct spam_spamd_result {
	int	 is_spam;
	double	 score;
	double	 threshold;
	char	 server[128];	/* the server that answered */
};

/*
 * Sends CHECK to each server in turn until one gives a verdict.  A message
 * longer than max_size is cut to max_size for the request.  user may be
 * NULL.  Returns 0 with the verdict in *res, or -1 with the last reason in
 * err: "connect: <strerror> (server)", "timeout (server)",
 * "protocol: <what> (server)", "resolve: ...", "config: ...".
 */
int		 spam_spamd_check(const struct spam_spamd_cfg *,
		    const char *user, const char *msg, size_t len,
		    struct spam_spamd_result *, char *err, size_t errlen);
/*
 * For tests and fuzzing: parses a reply header block (r, n), which need
 * not be NUL-terminated.  0 with the verdict in *res (score and threshold
 * finite), or -1 with "protocol: <what>" in err and *res zeroed.
 */
int		 spam_spamd_parse_reply(const char *r, size_t n,
		    struct spam_spamd_result *, char *err, size_t errlen);

#endif
