/*
 * spamstats.h -- the built-in statistical spam checker, fed during the
 * MIME scan: weighted phrases (spamphrases.txt), and features of the
 * header and the text (GTUBE, shouting, hidden text, many URLs, ...).
 *
 * Threads: struct spamstats_weights is built once (at start-up or on
 * reload) and read-only afterwards, so any number of threads may use it.
 * struct spamstats belongs to one message and one thread at a time.
 * Errors: the loader writes "file:line: ..." into the caller's buffer;
 * nothing here logs or exits.
 */
#ifndef MC_SPAMSTATS_H
#define MC_SPAMSTATS_H

#include <stddef.h>

struct buf;

/*
 * Weights: NULL file gives the compiled-in defaults (the same text as the
 * shipped spamphrases.txt).  File lines: "phrase <weight> <text...>" and
 * "feature <NAME> <weight>"; '#' comments.  Returns NULL with
 * "file:line: ..." in err on error.
 */
struct spamstats_weights *spamstats_weights_load(const char *file, char *err,
		    size_t errlen);
size_t		 spamstats_weights_nphrases(const struct spamstats_weights *);
void		 spamstats_weights_free(struct spamstats_weights *);

/*
 * Per-message state, bounded in size.  spamstats_header() takes the
 * top-level header fields (unfolded, name without colon);
 * spamstats_text() the decoded content of text/plain (is_html 0) and
 * text/html (is_html 1) leaf parts in chunks of any size: the result does
 * not depend on the chunking.  spamstats_finish() gives the score and,
 * when why is not NULL, appends "GTUBE=1000,PHRASE_viagra=2.5" to it.
 * The weights must outlive the stats.  NULL from spamstats_new: ENOMEM.
 */
struct spamstats *spamstats_new(const struct spamstats_weights *);
void		 spamstats_header(struct spamstats *, const char *name,
		    size_t nlen, const char *value, size_t vlen);
void		 spamstats_text(struct spamstats *, int is_html,
		    const char *data, size_t len);
void		 spamstats_finish(struct spamstats *, double *score,
		    struct buf *why);
void		 spamstats_free(struct spamstats *);

#endif
