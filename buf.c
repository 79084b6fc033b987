/*
 * buf.c -- growable byte buffer with an optional ceiling, and the output
 * chunk (struct buf_out) that writers put in front of a sink (see buf.h).
 * Ownership: the caller owns every struct and chunk; buf_free() releases a
 * buf's storage.  Errors: -1 with errno (ENOMEM, ERANGE at the ceiling, or a
 * sink's errno kept sticky in buf_out.err).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "banned.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

static int
grow(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1) {
		errno = ENOMEM;
		return -1;
	}
	need = b->len + extra + 1;
	if (b->max != 0 && need - 1 > b->max) {
		errno = ERANGE;
		return -1;
	}
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (grow(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_addc(struct buf *b, int c)
{
	char ch = (char)c;

	return buf_add(b, &ch, 1);
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_add_html(struct buf *b, const char *s)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++)
		switch (*s) {
		case '&': rc = buf_adds(b, "&amp;"); break;
		case '<': rc = buf_adds(b, "&lt;"); break;
		case '>': rc = buf_adds(b, "&gt;"); break;
		case '"': rc = buf_adds(b, "&quot;"); break;
		case '\'': rc = buf_adds(b, "&#39;"); break;
		default: rc = buf_addc(b, *s); break;
		}
	return rc;
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -1;
	if (grow(b, (size_t)n) == -1)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

char *
buf_detach(struct buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void *
buf_vec_grow(void *v, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return v;
	if (*cap == 0)
		ncap = first;
	else if (*cap > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	} else
		ncap = *cap * 2;
	if ((nv = reallocarray(v, ncap, size)) == NULL)
		return NULL;
	*cap = ncap;
	return nv;
}

void
buf_out_init(struct buf_out *o, char *chunk, size_t cap, buf_sink_fn *sink,
    void *arg)
{
	o->sink = sink;
	o->arg = arg;
	o->chunk = chunk;
	o->cap = cap;
	o->len = 0;
	o->err = 0;
}

int
buf_out_flush(struct buf_out *o)
{
	if (o->len > 0 && o->err == 0 &&
	    o->sink(o->arg, o->chunk, o->len) == -1)
		o->err = errno ? errno : EIO;
	o->len = 0;
	if (o->err != 0) {
		errno = o->err;
		return -1;
	}
	return 0;
}

int
buf_out_put(struct buf_out *o, const void *p, size_t n)
{
	const char *s = p;
	size_t take;

	while (n > 0 && o->err == 0) {
		take = o->cap - o->len < n ? o->cap - o->len : n;
		memcpy(o->chunk + o->len, s, take);
		o->len += take;
		s += take;
		n -= take;
		if (o->len == o->cap)
			buf_out_flush(o);
	}
	if (o->err != 0) {
		errno = o->err;
		return -1;
	}
	return 0;
}
