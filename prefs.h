/*
 * prefs.h -- the recipients' own spam settings (spam_user_prefs, issue 18
 * item 3): one file, compiled into the configuration snapshot, so a
 * SIGUSR1 reload swaps it with the rest and a bad file keeps the old one.
 *
 * File syntax, one rule a line; blank lines and '#' comments ignored:
 *
 *   PATTERN [threshold=NUMBER] [disposition=tag|trash|corral|deliver]
 *
 * PATTERN is an address (jo@example.org), or a domain as "*@domain" or
 * "@domain" (that domain only, not its subdomains); case does not matter.
 * A rule sets one or both fields.  For a recipient, each field is taken
 * from the LAST line that matches it and sets that field (file order, not
 * how specific the pattern is); a field no line sets falls back to
 * spam_threshold / spam_disposition.  NUMBER is a decimal in [0, 10000].
 *
 * Ownership and threads: a loaded table is read-only; any number of
 * threads may look up in it.  Errors: the loaders write "file:N: reason"
 * into the caller's buffer; nothing here logs.
 */
#ifndef MC_PREFS_H
#define MC_PREFS_H

#include <stddef.h>

#define PREFS_MAX_RULES	1000000	/* rules in one file */
#define PREFS_ADDR_MAX	320	/* longest pattern or address */

struct prefs;

/* One recipient's settings; a field not set by any rule is -1 / unset. */
struct prefs_user {
	int	 has_threshold;
	double	 threshold;
	int	 disposition;	/* enum conf_dispo, or -1: not set */
	unsigned threshold_line, disposition_line;	/* 0: not set */
};

/* The table in path; NULL with "path:N: reason" in err. */
struct prefs	*prefs_load(const char *path, char *err, size_t errlen);
/*
 * The table in text (len bytes; may hold anything), named name in
 * errors; what prefs_load() does with a file's content.
 */
struct prefs	*prefs_parse(const char *text, size_t len, const char *name,
		    char *err, size_t errlen);
/* The settings of rcpt ("<Jo@Example.org>" or "jo@example.org"). */
void		 prefs_lookup(const struct prefs *, const char *rcpt,
		    struct prefs_user *);
/* 1 if some rule sets disposition d (conf_prepare opens the corral). */
int		 prefs_uses(const struct prefs *, int d);
size_t		 prefs_count(const struct prefs *);
void		 prefs_free(struct prefs *);

#endif
