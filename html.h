/*
 * html.h -- streaming detector and defanger of active HTML content.
 *
 * Fed decoded HTML in chunks of any size.  In detect mode (out == NULL) it
 * only reports what it saw; in defang mode it writes the HTML back through
 * out() with every active construct neutralised:
 *   <script>, <iframe>, <frame>, <object>, <embed>, <applet>, <base>,
 *   <meta http-equiv=refresh>, (and <form> when HTML_FORM is in the mask)
 *   become inert tags ("<mc-defanged-script ...>"); event-handler
 *   attributes (on*=) are renamed ("data-mc-defanged-onload="); URLs
 *   with javascript:, vbscript: and non-image data: schemes in any attribute
 *   are replaced by "about:blank#mc-defanged".
 * Tags and attribute names are matched without case, across chunk
 * boundaries, with whitespace and entity tricks in the scheme
 * ("java&#x73;cript:", "jav\tascript:") handled.  Output never grows more
 * than a constant factor of the input; state is bounded (max_tag bytes of
 * a tag are buffered; a longer tag is passed through and flagged).
 *
 * Ownership: caller owns struct html.  Errors: only ENOMEM (-1).
 */
#ifndef MC_HTML_H
#define MC_HTML_H

#include <stddef.h>

#define HTML_SCRIPT	0x0001	/* <script> */
#define HTML_EVENT	0x0002	/* on*= attributes */
#define HTML_FRAME	0x0004	/* <iframe>, <frame>, <frameset> */
#define HTML_OBJECT	0x0008	/* <object>, <embed>, <applet>, codebase= */
#define HTML_JSURL	0x0010	/* javascript:/vbscript: URLs */
#define HTML_DATAURL	0x0020	/* non-image data: URLs */
#define HTML_FORM	0x0040	/* <form> */
#define HTML_REFRESH	0x0080	/* <meta http-equiv=refresh>, <base> */
#define HTML_ALL	0x00ff

typedef void html_out_fn(void *arg, const char *, size_t);

struct html;

/* mask: what to neutralise (and report); out NULL = detect only. */
struct html	*html_new(unsigned mask, html_out_fn *out, void *arg);
int		 html_push(struct html *, const char *, size_t);
/* Flushes held bytes; returns the HTML_* bits seen. */
unsigned	 html_finish(struct html *);
void		 html_free(struct html *);
/* "script,event" for the bits set, into out (NUL-terminated). */
void		 html_describe(unsigned bits, char *out, size_t outlen);

#endif
