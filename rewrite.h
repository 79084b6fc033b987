/*
 * rewrite.h -- turns a scan's findings into a new message body.
 *
 * Edits are made on the spooled bytes of the primary reading (view 0):
 * a dangerous part is cut out from its delimiter line to the next one, or
 * keeps its body under new Content-Type/Content-Disposition fields
 * (mangle); an HTML part is decoded, defanged and re-encoded in its own
 * transfer encoding.  A finding of another reading that matches no part of
 * view 0 has its header lines and content cut out, so it is gone in every
 * reading.
 * Overlapping edits merge, and a cut always wins.  A warning naming every
 * change goes into the first text/plain and text/html parts, or into a new
 * text/plain part when there is none.  When the message itself is the
 * dangerous part, the whole body becomes the warning (replace_all) and the
 * caller must change the message's Content-* header fields.
 *
 * Ownership: the caller owns struct rw_result and frees it with
 * rw_result_free().  Errors: -1 with errno (I/O, ENOMEM, or the output
 * callback's failure); a failed rewrite must not be sent.
 */
#ifndef MC_REWRITE_H
#define MC_REWRITE_H

#include <stddef.h>

#include "buf.h"

struct mc_config;
struct scan;

/* Receives the new body in pieces; returns 0, or -1 to stop. */
typedef int rw_out_fn(void *arg, const char *, size_t);

struct rw_result {
	unsigned	removed;
	unsigned	renamed;
	unsigned	defanged;
	unsigned	replaced;	/* by the site's Perl filter */
	int		replace_all;	/* body is only the warning now */
	int		changed;	/* a new body was written */
	struct buf	summary;	/* removed="x.exe"(bad-extension .exe) ... */
};

/* Plans and writes the new body if anything must change. */
int	 rw_rewrite(struct scan *, const struct mc_config *, rw_out_fn *,
	    void *arg, struct rw_result *);
void	 rw_result_free(struct rw_result *);

#endif
