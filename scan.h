/*
 * scan.h -- one message's analysis: spool, MIME parse, rules.
 *
 * The milter feeds the header fields (scan_header), the end of headers
 * (scan_eoh) and body chunks (scan_body); everything goes into one spool
 * and through the MIME parser in the same pass.  scan_finish() ends the
 * parse, reads the spool again with the other view when the MIME structure
 * was ambiguous, and leaves a list of findings: parts to delete, mangle or
 * defang, with their offsets in the spool.  The rewriter (rewrite.c) turns
 * the findings into a new body.
 *
 * Ownership: struct scan belongs to one message (struct mc_msg); it keeps
 * a reference to the config snapshot it was made with, which the caller
 * must keep alive.  Errors: -1 with errno (ENOMEM, or a spool I/O error);
 * hostile content is never an error, only findings and mime error bits.
 */
#ifndef MC_SCAN_H
#define MC_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "mime.h"
#include "virusfilter.h"

struct buf;
struct mc_config;
struct spool;

enum scan_act {
	SCAN_DELETE,		/* cut the part out */
	SCAN_MANGLE,		/* keep it, under a harmless name and type */
	SCAN_DEFANG,		/* HTML: neutralise active content in place */
	SCAN_REPLACE		/* new content from a file (the Perl shim) */
};

struct scan_finding {
	enum scan_act		 act;
	enum virus_reason	 reason;	/* VIRUS_OK for SCAN_DEFANG */
	unsigned		 view;		/* 0: the primary reading */
	unsigned		 part;		/* part id in that view */
	unsigned		 html;		/* HTML_* bits (SCAN_DEFANG) */
	struct mime_part	 p;		/* copy; names[] not kept */
	char			 name[160];	/* display name, printable */
	char			 what[160];	/* reason detail, printable */
	/* Set by scan_add_finding() only (the site's Perl filter): */
	char			 newname[160];	/* SCAN_MANGLE/REPLACE: this
						   name instead of name +
						   mangle_suffix */
	char			 newtype[MIME_TYPE_MAX]; /* SCAN_REPLACE */
	char			 file[512];	/* SCAN_REPLACE: content */
};

struct scan;

struct scan	*scan_new(const struct mc_config *, const char *qid);
int		 scan_header(struct scan *, const char *name,
		    const char *value);
int		 scan_eoh(struct scan *);
int		 scan_body(struct scan *, const void *, size_t);
int		 scan_finish(struct scan *);
void		 scan_free(struct scan *);

const struct scan_finding *scan_findings(const struct scan *, unsigned *n);
/*
 * Adds a finding made outside the rules (the site's Perl filter) for part
 * id of the primary view: SCAN_DELETE, SCAN_MANGLE under newname (kept as
 * the part's type), or SCAN_REPLACE with the content of file as newtype
 * under newname.  Strings are copied as given (capped); the rewriter
 * makes names and types safe where it writes them.  Returns 0, or
 * -1 with errno (EINVAL: no such part or action, ENOMEM, ENAMETOOLONG).
 */
int		 scan_add_finding(struct scan *, unsigned part, enum scan_act,
		    enum virus_reason, const char *what, const char *newname,
		    const char *newtype, const char *file);
/* The primary view's part table (after scan_finish). */
const struct mime_part *scan_parts(const struct scan *, unsigned *n);
/*
 * View view's part table (0 the primary reading, 1 the other reading of
 * an ambiguous message); NULL with *n 0 when there is no such view.
 */
const struct mime_part *scan_view_parts(const struct scan *, unsigned view,
		    unsigned *n);
/*
 * Adds a finding for part p of view found infected by a scanner: cut it
 * out (SCAN_DELETE, VIRUS_INFECTED), virus the name for the log.
 * 0, or -1 with errno (EINVAL: no such view, ENOMEM).
 */
int		 scan_add_virus(struct scan *, unsigned view,
		    const struct mime_part *p, const char *virus);
/*
 * Judges one leaf part whose decoded content the caller holds, through
 * the same callbacks as a part of a parsed message (names, type, magic,
 * archive or TNEF inside, HTML): findings go to scan_findings() as view
 * 0, part p->id.  The caller fills p (type, names, cte, magic, size).
 * For mailcorral-judge; scan_new() without any header or body.
 * Returns 0, or -1 with errno (EINVAL: a container; ENOMEM).
 */
int		 scan_judge_leaf(struct scan *, const struct mime_part *p,
		    const void *data, size_t len);
/* Union of the views' MIME_ERR_* bits. */
unsigned	 scan_errors(const struct scan *);
/* MIME_ERR_* limits that made some part unscannable (on_mime_limit). */
unsigned	 scan_limits(const struct scan *);
int		 scan_views(const struct scan *);	/* readings made */
struct spool	*scan_spool(const struct scan *);
uint64_t	 scan_body_offset(const struct scan *);	/* body in spool */
uint64_t	 scan_body_size(const struct scan *);

/*
 * Runs the parser over one part's body bytes [from, to) of the spool to get
 * them decoded per cte; calls out() with decoded pieces.  Used by the
 * rewriter to re-encode text parts.  Returns 0 or -1.
 */
int		 scan_decode(struct scan *, enum mime_cte, uint64_t from,
		    uint64_t to, void (*out)(void *, const char *, size_t),
		    void *arg);

/*
 * The built-in spam checker's result, from statistics counted while the
 * message was parsed (scan_new starts them when the built-in checker
 * counts: spam_counts(cf, SPAM_BUILTIN)).
 * Returns -1 when they were not counted.
 */
int		 scan_spam_score(struct scan *, double *score, struct buf *why);

/* Hash the body as it arrives (bypass header); call before the body. */
int		 scan_want_bodyhash(struct scan *);
int		 scan_bodyhash(struct scan *, unsigned char out[32]);

/* Printable, quote-free, single-line form of a name, at most outlen-1. */
void		 scan_display_name(const char *, char *out, size_t outlen);

#endif
