/*
 * virusfilter.h -- rules-based attachment checks.
 *
 * A compiled, read-only table of dangerous file-name extensions and MIME
 * types (built-in defaults from smfopts.h, or the lists in mailcorral.conf),
 * and the checks that judge a part by every name it carries, its declared
 * type, its content's magic bytes, and the member names of archives.
 * Names are normalised before judging: RFC 2047/2231 decoding is done by
 * mime.c; here we take the last path component after '/' or '\', drop
 * bidi and zero-width controls and other control characters, collapse
 * whitespace runs, strip trailing dots and spaces, and compare without
 * case.  A CLSID "{...}" tail, a dangerous inner extension
 * ("x.exe.txt", "x.pdf.exe") and a declared type that disagrees with the
 * name or content are all hits.
 *
 * Ownership: struct virus_rules is immutable after virus_rules_new() and may
 * be shared by threads.  Errors: virus_rules_new() returns NULL and writes
 * a reason into err.
 */
#ifndef MC_VIRUSFILTER_H
#define MC_VIRUSFILTER_H

#include <stddef.h>

struct mime_part;

enum virus_reason {
	VIRUS_OK = 0,
	VIRUS_BAD_EXTENSION,	/* last extension is in the table */
	VIRUS_INNER_EXTENSION,	/* a dangerous extension before the last */
	VIRUS_CLSID,		/* "{...}" class-id extension */
	VIRUS_BAD_TYPE,		/* declared MIME type is in the table */
	VIRUS_EXECUTABLE,	/* content is a program (MZ, ELF, ...) */
	VIRUS_TYPE_MISMATCH,	/* declared type disagrees with the name */
	VIRUS_ARCHIVE_MEMBER,	/* an archive member is dangerous */
	VIRUS_ARCHIVE_ENCRYPTED,/* encrypted members cannot be checked */
	VIRUS_ARCHIVE_DEPTH,	/* nested deeper than archive_max_depth */
	VIRUS_ARCHIVE_BROKEN,	/* archive we could not read */
	VIRUS_UNSCANNABLE,	/* part beyond a MIME limit, unknown CTE */
	VIRUS_PARTIAL,		/* message/partial or message/external-body */
	VIRUS_INFECTED,		/* the virus arbitron (clamd) found a virus */
	VIRUS_SITE_FILTER	/* the site's Perl filter (perlpool.c) said so */
};

struct virus_hit {
	enum virus_reason	reason;
	char			what[160];	/* printable detail: ".exe",
						   "application/hta", "member
						   setup.exe in a.zip" */
};

struct virus_rules;

/*
 * Builds the tables.  exts and types are whitespace/comma separated lists
 * ("exe scr pif", "application/x-msdownload ..."); NULL means the built-in
 * defaults from smfopts.h.  A list item "+x" adds to the defaults and "-x"
 * removes from them when the list starts with '+' or '-'.
 */
struct virus_rules *virus_rules_new(const char *exts, const char *types,
	    char *err, size_t errlen);
void	 virus_rules_free(struct virus_rules *);

/*
 * Normalises one name for judging and display (see above) into out,
 * NUL-terminated, at most outlen-1 bytes; returns the length.
 */
size_t	 virus_normalize_name(const char *name, size_t len, char *out,
	    size_t outlen);
/*
 * The whole normalised name, lower case, never cut (a cut loses the
 * extension): in buf when it fits (bufsz bytes), else in malloc'ed room.
 * Returns it (free it if it is not buf) and sets *n, or NULL (ENOMEM).
 */
char	*virus_norm_lower(const char *name, size_t len, char *buf,
	    size_t bufsz, size_t *n);

/* Judges one file name.  Returns the reason (VIRUS_OK: harmless). */
enum virus_reason virus_check_name(const struct virus_rules *,
	    const char *name, size_t len, struct virus_hit *);

/*
 * Judges a whole part: every name, the declared type, the magic bytes, the
 * flags (UNSCANNABLE, message/partial).  The first hit is returned.
 */
enum virus_reason virus_check_part(const struct virus_rules *,
	    const struct mime_part *, struct virus_hit *);

/* Nonzero if these first bytes start an archive libarchive can list. */
int	 virus_is_archive(const unsigned char *magic, size_t len);

/*
 * Lists an archive's members with libarchive and judges each name, nested
 * archives down to max_depth, reading at most max_bytes of any member.
 * Returns VIRUS_OK or the first hit.
 */
enum virus_reason virus_check_archive_mem(const struct virus_rules *,
	    const void *data, size_t len, unsigned max_depth, size_t max_bytes,
	    struct virus_hit *);
enum virus_reason virus_check_archive_fd(const struct virus_rules *, int fd,
	    unsigned max_depth, size_t max_bytes, struct virus_hit *);

/*
 * Walks a TNEF stream (application/ms-tnef, winmail.dat) and judges every
 * attachment title, MAPI file name and attachment content.  A stream that
 * does not parse is VIRUS_UNSCANNABLE.
 */
enum virus_reason virus_check_tnef_mem(const struct virus_rules *,
	    const void *data, size_t len, struct virus_hit *);

/* Short words for logs: "bad-extension", "clsid", ... */
const char *virus_reason_str(enum virus_reason);

#endif
