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

/* One message's spam result (spam_decide). */
struct spam_verdict {
	int		 is_spam;
	int		 failed;	/* no verdict: why in reason */
	const char	*via;		/* whitelist, sa-block, builtin, ... */
	double		 score, threshold;
	char		 reason[192];
	int		 spamd_answered;	/* spamd gave a verdict (whoever
					   decided): the corral copy says so
					   and a release teaches it ham */
};

/*
 * Decides whether a message is spam: our white and black lists first (no
 * arbitron call for a listed sender), then SpamAssassin's own lists, then
 * the configured arbitron (none, the built-in checker's score in scan, or
 * spamd).  addrs are the envelope sender (when not empty) then the From
 * addresses; the first nown are the ones our lists look at.  rcpt (may be
 * NULL) is the spamd user.  A spamd failure is sv->failed with the reason.
 */
void		 spam_decide(const struct mc_config *, struct scan *,
		    const char *const *addrs, size_t naddrs, size_t nown,
		    const char *client, const char *rcpt,
		    struct spam_verdict *sv);
/* score as a rounded percentage of threshold, capped at +-99999. */
int		 spam_pct(double score, double threshold);
/* The X-Spam-Status and X-Spam-Score values of a verdict. */
void		 spam_fields(const struct spam_verdict *, char *status,
		    size_t slen, char *score, size_t clen);

#endif
