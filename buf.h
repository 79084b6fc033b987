/*
 * buf.h -- growable byte buffer with an optional ceiling.
 * Invariant: data[len] == '\0' whenever data != NULL, so a buf holding text
 * can be passed as a C string; it may also hold NUL bytes (use len).
 * Ownership: the struct is the caller's; buf_free() releases the storage.
 * Errors: -1 with errno ENOMEM, or ERANGE when max would be exceeded.
 */
#ifndef MC_BUF_H
#define MC_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* 0: no ceiling */
};

#define BUF_INIT { NULL, 0, 0, 0 }

void	 buf_init(struct buf *, size_t max);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_addc(struct buf *, int);
int	 buf_adds(struct buf *, const char *);
/* s with & < > " ' as HTML entities: text or a quoted attribute value */
int	 buf_add_html(struct buf *, const char *);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
void	 buf_reset(struct buf *);		/* len = 0, keeps storage */
char	*buf_detach(struct buf *);		/* caller frees; buf emptied */
void	 buf_free(struct buf *);

/*
 * Room for one more element in a growable array v of *cap elements of size
 * bytes, n of them in use: v itself while n < *cap, else v reallocated to
 * twice the capacity (first elements when empty) and *cap updated.  NULL
 * with errno (ENOMEM) leaves v and *cap as they were; v stays the caller's.
 */
void	*buf_vec_grow(void *v, size_t *cap, size_t n, size_t size,
	    size_t first);

/*
 * struct buf_out: the output chunk in front of a writer.  Bytes gather in
 * the caller's chunk of cap bytes; each time it is full, and at
 * buf_out_flush(), they go to sink in one call.  The first sink call that
 * returns -1 makes err sticky (its errno, or EIO) and later bytes are
 * dropped, so a writer checks once, at the end.
 * Ownership: chunk and arg stay the caller's; nothing is allocated here.
 */
typedef int buf_sink_fn(void *arg, const char *, size_t);

struct buf_out {
	buf_sink_fn	*sink;
	void		*arg;
	char		*chunk;		/* caller's storage, cap bytes */
	size_t		 cap;
	size_t		 len;		/* bytes held in chunk */
	int		 err;		/* sticky errno of a failed sink call */
};

void	 buf_out_init(struct buf_out *, char *chunk, size_t cap,
	    buf_sink_fn *, void *arg);
int	 buf_out_put(struct buf_out *, const void *, size_t); /* -1: err set */
int	 buf_out_flush(struct buf_out *);			/* -1: err set */

#endif
