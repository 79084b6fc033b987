/*
 * mime.h -- streaming MIME parser.
 *
 * The caller pushes a whole message (header block, blank line, body) in
 * chunks of any size with mime_push(), then calls mime_finish().  The parser
 * keeps a bounded table of parts (struct mime_part) with the byte offsets of
 * each part in the pushed stream, so a second pass over a spool can rewrite
 * the body; decoded content is handed to callbacks and never stored.
 *
 * Views: the same bytes can be read in more than one way when a message is
 * ambiguous (two Content-Type fields, two boundary= parameters, two
 * Content-Transfer-Encoding fields, ...).  A parser reads ONE view, chosen at
 * mime_new(): MIME_VIEW_FIRST takes the first occurrence (what most mail
 * clients do), MIME_VIEW_LAST the last one (what MIME::Parser does).  When
 * the parser meets such a choice it sets MIME_ERR_AMBIGUOUS, so the caller
 * can run the other view over its spool and apply the strictest verdict.
 *
 * Memory per message is bounded by struct mime_limits.  Results do not
 * depend on how the input is chunked.
 * Ownership: caller owns struct mime; pointers given to callbacks live only
 * during the call; mime_parts() stays valid until mime_free().
 * Errors: malformed input sets MIME_ERR_* bits and parsing goes on; only
 * ENOMEM makes mime_push()/mime_finish() return -1.
 */
#ifndef MC_MIME_H
#define MC_MIME_H

#include <stddef.h>
#include <stdint.h>

/*
 * Default limits: the one source for mime.c (a zero field of struct
 * mime_limits) and for the mailcorral.conf defaults (smfopts.h).
 */
#define MIME_DEF_MAX_DEPTH	32
#define MIME_DEF_MAX_PARTS	1000
#define MIME_DEF_MAX_HEADER	65536
#define MIME_DEF_MAX_HEADERS	1000
#define MIME_DEF_MAX_LINE	65536
#define MIME_DEF_MAX_BOUNDARY	200
#define MIME_DEF_MAX_PARAMS	64
#define MIME_DEF_MAX_NAME	1024
#define MIME_DEF_MAX_NAMES	16

/*
 * Every limit fails closed (BI-11): what a limit stops the parser from
 * reading makes the entity it belongs to MIME_PART_UNSCANNABLE, with the
 * limit's MIME_ERR_* bit in struct mime_part.limit.  Only what provably
 * cannot hide a name, a type or a transfer encoding is dropped quietly
 * (header fields other than Content-Type/-Disposition/-Transfer-Encoding
 * past max_headers or max_header).
 */
struct mime_limits {
	unsigned	max_depth;	/* multipart + message/rfc822 nesting */
	unsigned	max_parts;	/* part records per message */
	size_t		max_header;	/* one unfolded header field analysed */
	unsigned	max_headers;	/* header fields per entity analysed */
	size_t		max_line;	/* longer lines are never delimiters */
	size_t		max_boundary;	/* longer boundary= values are ignored */
	unsigned	max_params;	/* parameters / RFC 2231 sections per field */
	size_t		max_name;	/* bytes of a decoded file name kept (its
					   tail: the extension stays) */
	unsigned	max_names;	/* distinct file names per part */
};

enum mime_view {
	MIME_VIEW_FIRST = 0,	/* first Content-Type, first boundary, ... */
	MIME_VIEW_LAST = 1	/* last occurrence wins */
};

enum mime_cte {
	MIME_CTE_7BIT = 0,
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_UUENCODE,	/* x-uuencode, x-uue, uuencode */
	MIME_CTE_UNKNOWN	/* anything else: content cannot be decoded */
};

/* Sticky error bits (mime_errors()).  mime_strerror() names each. */
#define MIME_ERR_AMBIGUOUS	0x0001	/* duplicate CT/CTE/boundary/params */
#define MIME_ERR_DEPTH		0x0002	/* max_depth exceeded */
#define MIME_ERR_PARTS		0x0004	/* max_parts exceeded */
#define MIME_ERR_HEADER		0x0008	/* a header field was truncated */
#define MIME_ERR_HEADERS	0x0010	/* too many header fields */
#define MIME_ERR_LINE		0x0020	/* a line longer than max_line */
#define MIME_ERR_BOUNDARY	0x0040	/* boundary missing, empty or too long */
#define MIME_ERR_UNTERMINATED	0x0080	/* multipart without closing delimiter */
#define MIME_ERR_BASE64		0x0100	/* junk or mid-stream padding in base64 */
#define MIME_ERR_QP		0x0200	/* malformed quoted-printable */
#define MIME_ERR_CTE		0x0400	/* unknown transfer encoding */
#define MIME_ERR_PARAMS		0x0800	/* too many parameters / sections */
#define MIME_ERR_NUL		0x1000	/* NUL byte seen */
#define MIME_ERR_BARECR		0x2000	/* bare CR seen */
#define MIME_ERR_PARTIAL	0x4000	/* message/partial or external-body */
#define MIME_ERR_EPILOGUE	0x8000	/* content after the closing delimiter */
#define MIME_ERR_NAMES		0x10000	/* more distinct names than max_names */
#define MIME_ERR_NAMELEN	0x20000	/* a file name longer than max_name */
#define MIME_ERR_SECTIONS	0x40000	/* too many RFC 2231 sections */
#define MIME_ERR_ENCODED	0x80000	/* base64/QP/uuencoded multipart or
					   message/rfc822: unscannable */

/* Part flags (struct mime_part.flags). */
#define MIME_PART_MULTIPART	0x0001	/* multipart/<any> container */
#define MIME_PART_MESSAGE	0x0002	/* message/rfc822 (or global) container */
#define MIME_PART_ATTACHMENT	0x0004	/* Content-Disposition: attachment */
#define MIME_PART_INLINE	0x0008	/* Content-Disposition: inline */
#define MIME_PART_EMBEDDED	0x0010	/* uuencode/yEnc/BinHex block inside a
					   text part; offsets are raw and only
					   meaningful when the parent's CTE is
					   7bit/8bit/binary */
#define MIME_PART_AMBIGUOUS	0x0020	/* this part's headers were ambiguous */
#define MIME_PART_UNSCANNABLE	0x0040	/* beyond a limit, or undecodable: treat
					   as dangerous */
#define MIME_PART_TRUNCATED	0x0080	/* no closing delimiter: ran to the end */
#define MIME_PART_PREAMBLE	0x0100	/* pseudo-part: non-blank preamble */
#define MIME_PART_EPILOGUE	0x0200	/* pseudo-part: non-blank epilogue */
#define MIME_PART_NOHEADERS	0x0400	/* part had an empty header block */

#define MIME_TYPE_MAX	96

struct mime_part {
	unsigned	 id;		/* 0 = the message itself; creation order */
	unsigned	 parent;	/* enclosing part's id (0 for part 0) */
	unsigned	 depth;		/* 0 for the message */
	unsigned	 flags;		/* MIME_PART_* */
	char		 type[MIME_TYPE_MAX];	/* "text/plain", lower case;
						   default per RFC 2046 */
	char		 charset[48];	/* lower case, "" if none */
	enum mime_cte	 cte;
	/*
	 * Every file name this part carries, decoded (RFC 2047, RFC 2231,
	 * raw 8-bit) to UTF-8 but otherwise as sent: Content-Type name=,
	 * Content-Disposition filename=, duplicates, the "rest of the line"
	 * reading of unquoted names with spaces, a uuencode begin line, ...
	 * Normalising them is the rules' job (virusfilter.c).
	 */
	char		**names;	/* nnames of them (at most max_names) */
	unsigned	 nnames;
	unsigned	 limit;		/* MIME_ERR_* bits of the limits that
					   made it UNSCANNABLE, 0 if none */
	/* Offsets in the pushed stream. */
	uint64_t	 start;		/* first byte of the delimiter line that
					   opens this part ("--b"), or of the
					   part's first header if none */
	uint64_t	 hdr_start;	/* first byte of the part's header block */
	uint64_t	 body_start;	/* first byte after the blank line */
	uint64_t	 body_end;	/* end of content: before the CRLF (or LF)
					   that precedes the next delimiter */
	uint64_t	 end;		/* start of the next delimiter line, or end
					   of data */
	uint64_t	 decoded_size;	/* bytes given to part_data */
	unsigned char	 magic[16];	/* first decoded bytes */
	unsigned	 magic_len;
};

struct mime_part;
struct mime_cb {
	/* After a part's headers are parsed (names, type, cte are set). */
	void	(*part_begin)(void *arg, const struct mime_part *);
	/* Decoded content of a leaf part, in pieces of any size. */
	void	(*part_data)(void *arg, const struct mime_part *,
		    const char *, size_t);
	/* After the part's content ended (offsets are final). */
	void	(*part_end)(void *arg, const struct mime_part *);
	/* Every header field of every entity, unfolded, name without colon. */
	void	(*header)(void *arg, const struct mime_part *,
		    const char *name, size_t namelen,
		    const char *value, size_t valuelen);
};

struct mime;

struct mime	*mime_new(const struct mime_limits *, enum mime_view,
		    const struct mime_cb *, void *arg);
int		 mime_push(struct mime *, const char *, size_t);
int		 mime_finish(struct mime *);
unsigned	 mime_errors(const struct mime *);
/* One line of text per set bit, "reason" words for logs: "depth", ... */
const char	*mime_strerror(unsigned bit);
/* Part table; valid until mime_free().  Parts are in creation order. */
const struct mime_part *mime_parts(const struct mime *, unsigned *n);
/* Offset in the pushed stream where part 0's body starts (after headers). */
uint64_t	 mime_body_offset(const struct mime *);
void		 mime_free(struct mime *);

/*
 * Header-field helpers, also used by the rules, the spam checker and the
 * reply robot.  All take (pointer, length) and never read past it.
 *
 * mime_decode_words: RFC 2047 encoded-words to UTF-8 (adjacent words joined,
 * unknown charsets kept raw, malformed words left as they are); raw 8-bit
 * input that is not UTF-8 is read as Latin-1.  Output capped at max bytes.
 */
int	 mime_decode_words(const char *, size_t, char *out, size_t max,
	    size_t *outlen);

#endif
