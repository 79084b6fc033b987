/*
 * spamfilter.h -- the sender lists behind the spam decision: our own
 * whitelist and blacklist, and a fast path over SpamAssassin's
 * welcome/block lists.  The statistical checker is spamstats.h, the spamd
 * client spamd.h.
 *
 * Ownership and threads: spam_list and spam_sa are built once (at
 * start-up or on reload) and are read-only afterwards, so any number of
 * threads may use one of them at the same time.
 * Errors: loaders write a short reason ("file:line: ...") into the
 * caller's buffer; nothing here logs or exits.
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
 * path.  Missing paths are skipped; NULL search means
 * DEF_SPAMASSASSIN_CONFIG (smfopts.h).  Returns NULL only when out of memory;
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

/* ---- the spam decision ------------------------------------------- */

struct mc_config;
struct scan;

/*
 * The checkers whose answers make the decision, in the order the
 * decision line names them.  Which of them count is spam_counts().
 */
enum spam_checker {
	SPAM_BUILTIN,		/* the statistics counted in the scan */
	SPAM_SPAMD,		/* the arbitron SpamAssassin */
	SPAM_PERL,		/* the site's Perl filter, $msg->spam() */
	SPAM_NCHECKERS
};

enum spam_check_state {
	SPAM_CHECK_OFF = 0,	/* not counted under this configuration */
	SPAM_CHECK_DONE,	/* answered: is_spam, score, threshold */
	SPAM_CHECK_SKIPPED,	/* not asked: the message was already spam */
	SPAM_CHECK_FAILED	/* asked, no answer (the reason is sv.reason) */
};

/* One checker's answer; score and threshold on its own scale. */
struct spam_check {
	enum spam_check_state	 state;
	int			 is_spam;
	double			 score, threshold;
	int			 cached;	/* spamd: from spam_cache */
};

/*
 * One message's spam result (spam_decide), a plain value: it may be
 * copied.  A listed sender (via: whitelist, blacklist, sa-welcomelist,
 * sa-blocklist) or the Perl filter's ACCEPT (site-filter) decides alone
 * and leaves check[] OFF.  Otherwise check[] holds each checker's answer
 * and spam_combine() made the rest: spam when a counted checker said so
 * (said has bit 1 << checker for each), score and threshold the answer
 * with the highest share of its own threshold among those that said spam
 * (among all answers when none did), via the names of the checkers that
 * said spam ("builtin+spamd") or, for ham, of the one whose score is
 * shown ("none" when nothing answered).  failed: the decision lacks an
 * answer it needed (spamd silent and no other checker said spam); the
 * reason of a spamd failure is in reason either way.
 */
struct spam_verdict {
	int			 is_spam;
	int			 failed;
	char			 via[48];
	double			 score, threshold;
	char			 reason[192];
	struct spam_check	 check[SPAM_NCHECKERS];
	unsigned		 said;		/* 1u << SPAM_* that said spam */
	/* spamd gave a verdict on these bytes (whoever decided; from the
	   cache too): check[SPAM_SPAMD] DONE.  The corral copy says so
	   and a release teaches it ham (spamcorral-robot(8)). */
	int			 spamd_answered;
	/* the spamd server that answered ("": none, or the cache) */
	char			 spamd_server[128];
};

/* Short name of a checker: "builtin", "spamd", "perl". */
const char	*spam_checker_name(enum spam_checker);
/*
 * 1 if checker c counts under cf's spam_arbitron and spam_combine: the
 * built-in checker when it is the arbitron or, with spam_combine =
 * either, beside spamd; spamd when it is the arbitron; the Perl filter's
 * verdict always (the site's code stands in place of an arbitron).
 */
int		 spam_counts(const struct mc_config *, enum spam_checker);
/* The combination rule over sv->check[] (see struct spam_verdict). */
void		 spam_combine(struct spam_verdict *sv);

/*
 * Decides whether a message is spam: our white and black lists first (no
 * checker asked for a listed sender), then SpamAssassin's own lists, then
 * the counted checkers, combined by spam_combine().  spamd is not asked
 * when the built-in checker or the Perl filter already said spam, unless
 * spamd_always or force_spamd (a caller that needs spamd's score anyway:
 * a recipient's higher threshold); check[SPAM_SPAMD] is then SKIPPED.
 * addrs are the
 * envelope sender (when not empty) then the From addresses; the first
 * nown are the ones our lists look at.  rcpt (may be NULL) is the spamd
 * user.  perl (may be NULL: no Perl verdict) is the Perl filter's answer.
 */
void		 spam_decide(const struct mc_config *, struct scan *,
		    const char *const *addrs, size_t naddrs, size_t nown,
		    const char *client, const char *rcpt,
		    const struct spam_check *perl, int force_spamd,
		    struct spam_verdict *sv);
/*
 * spamd's answers shared between transactions (spamd_cache_size,
 * spamd_cache_ttl): identical requests within minutes (campaigns, lists)
 * are asked once.  The key is SHA-256 over the spamd user, the server
 * list and exactly the bytes sent, so recipients with their own spamd
 * preferences never share an answer, and only senders on no list ever
 * reach spamd (the lists decide before it).  One table for the process,
 * behind a mutex; a set-associative table of size entries (4 per set, the
 * oldest replaced); a size change (reload) empties it.  now and ttl are
 * seconds on one monotonic clock.
 */
#define SPAM_CACHE_KEY	32
void	 spam_cache_key(const char *user, const char *servers,
	    const char *req, size_t len, unsigned char key[SPAM_CACHE_KEY]);
/* 1 and the answer in *out when key was put within ttl of now; else 0. */
int	 spam_cache_get(const unsigned char key[SPAM_CACHE_KEY], unsigned size,
	    long ttl, double now, struct spam_check *out);
void	 spam_cache_put(const unsigned char key[SPAM_CACHE_KEY], unsigned size,
	    double now, const struct spam_check *);
/* Frees the table (tests, shutdown). */
void	 spam_cache_clear(void);

/* score as a rounded percentage of threshold, capped at +-99999. */
int		 spam_pct(double score, double threshold);
/*
 * The X-Spam-Status and X-Spam-Score values of a verdict.  X-Spam-Status
 * ends, when more than one checker counts, with each one's answer as
 * spam_line() gives it ("... via=builtin builtin=9.0/5.0 spamd=1.2/5.0",
 * "spamd=skipped": the robot can tell whether spamd judged the entry);
 * X-Spam-Score adds "builtin, spamd not asked" when spamd was skipped.
 */
void		 spam_fields(const struct spam_verdict *, char *status,
		    size_t slen, char *score, size_t clen);
/*
 * The decision line's spam piece: "yes:8.1/5.0(162%) via=spamd", then
 * each counted checker's answer when more than one counted
 * (" builtin=2.0/5.0 spamd=8.1/5.0", "spamd=skipped", "spamd=failed").
 */
void		 spam_line(const struct spam_verdict *, char *out, size_t len);

#endif
