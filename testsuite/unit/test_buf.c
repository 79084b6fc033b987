/*
 * test_buf.c -- buf.c's output chunk (struct buf_out), the one buffer in
 * front of clamd's INSTREAM, the rewritten body, the HTML defanger and the
 * corral writer: every byte arrives once and in order whatever the piece
 * sizes, the sink sees only full chunks until the flush, and a failing
 * sink makes the error sticky.  And buf_vec_grow(), the one growable
 * array: first capacity, doubling, contents kept, nothing moved while
 * there is room.
 */
#include "unit.h"

#include <errno.h>

#include "buf.h"

struct sink {
	char	 got[4096];
	size_t	 len;
	size_t	 calls;
	size_t	 sizes[256];
	int	 fail_at;	/* the call that fails (1-based); 0: none */
};

static int
sink_fn(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	s->calls++;
	if (s->fail_at != 0 && (int)s->calls == s->fail_at) {
		errno = ENOSPC;
		return -1;
	}
	assert_true(s->len + n <= sizeof(s->got));
	memcpy(s->got + s->len, p, n);
	s->len += n;
	if (s->calls <= 256)
		s->sizes[s->calls - 1] = n;
	return 0;
}

/* Every piece size from 1 to 40 over a chunk of 16: same bytes, full chunks. */
static void
test_pieces(void **state)
{
	char in[1000], chunk[16];
	struct buf_out o;
	struct sink s;
	size_t piece, off, n, i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7 + 3);
	for (piece = 1; piece <= 40; piece++) {
		memset(&s, 0, sizeof(s));
		buf_out_init(&o, chunk, sizeof(chunk), sink_fn, &s);
		for (off = 0; off < sizeof(in); off += n) {
			n = sizeof(in) - off < piece ? sizeof(in) - off : piece;
			assert_int_equal(buf_out_put(&o, in + off, n), 0);
		}
		assert_int_equal(s.calls, sizeof(in) / sizeof(chunk));
		assert_int_equal(buf_out_flush(&o), 0);
		assert_int_equal(s.len, sizeof(in));
		assert_memory_equal(s.got, in, sizeof(in));
		assert_int_equal(s.calls, sizeof(in) / sizeof(chunk) + 1);
		for (i = 0; i + 1 < s.calls; i++)
			assert_int_equal(s.sizes[i], sizeof(chunk));
		assert_int_equal(s.sizes[s.calls - 1], sizeof(in) % sizeof(chunk));
		/* An empty flush calls nobody. */
		assert_int_equal(buf_out_flush(&o), 0);
		assert_int_equal(s.calls, sizeof(in) / sizeof(chunk) + 1);
	}
}

/* The second sink call fails: later bytes are dropped, errno stays. */
static void
test_sticky_error(void **state)
{
	char in[100], chunk[10];
	struct buf_out o;
	struct sink s;

	(void)state;
	memset(in, 'x', sizeof(in));
	memset(&s, 0, sizeof(s));
	s.fail_at = 2;
	buf_out_init(&o, chunk, sizeof(chunk), sink_fn, &s);
	assert_int_equal(buf_out_put(&o, in, 15), 0);
	errno = 0;
	assert_int_equal(buf_out_put(&o, in, 15), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(o.err, ENOSPC);
	assert_int_equal(buf_out_put(&o, in, sizeof(in)), -1);
	errno = 0;
	assert_int_equal(buf_out_flush(&o), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.len, 10);
}

/* A sink that fails without errno reports EIO. */
static int
sink_noerrno(void *arg, const char *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	errno = 0;
	return -1;
}

static void
test_eio(void **state)
{
	char chunk[4];
	struct buf_out o;

	(void)state;
	buf_out_init(&o, chunk, sizeof(chunk), sink_noerrno, NULL);
	assert_int_equal(buf_out_put(&o, "ab", 2), 0);
	assert_int_equal(buf_out_flush(&o), -1);
	assert_int_equal(o.err, EIO);
}

static void
test_vec_grow(void **state)
{
	int *v = NULL, *nv;
	size_t cap = 0, n, caps = 0;

	(void)state;
	for (n = 0; n < 1000; n++) {
		size_t was = cap;

		nv = buf_vec_grow(v, &cap, n, sizeof(*v), 8);
		assert_non_null(nv);
		if (n < was) {
			assert_ptr_equal(nv, v);
			assert_int_equal(cap, was);
		} else {
			assert_int_equal(cap, was == 0 ? 8 : was * 2);
			caps++;
		}
		assert_true(n < cap);
		v = nv;
		v[n] = (int)n * 3;
	}
	for (n = 0; n < 1000; n++)
		assert_int_equal(v[n], (int)n * 3);
	assert_int_equal(cap, 1024);
	assert_int_equal(caps, 8);	/* 8, 16, ..., 1024 */
	free(v);
}

/* No room to double: NULL, ENOMEM, the array and cap as they were. */
static void
test_vec_grow_overflow(void **state)
{
	char one[1];
	size_t cap = SIZE_MAX / 2 + 1;

	(void)state;
	errno = 0;
	assert_null(buf_vec_grow(one, &cap, cap, 1, 8));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(cap, SIZE_MAX / 2 + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_eio),
		cmocka_unit_test(test_vec_grow),
		cmocka_unit_test(test_vec_grow_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
