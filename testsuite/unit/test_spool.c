/*
 * test_spool.c -- spool.c's spool_copy(), the one loop that hands a range
 * of a message to a consumer: in memory and spilled to the file, the same
 * bytes whatever the pieces; stopping early; the consumer's error; a range
 * past the end (EIO); spool_copy_fd(), the same range into a file.
 */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "spool.h"

struct sink {
	struct buf	 b;
	unsigned	 calls;
	size_t		 stop_at;	/* 1 once this many bytes are in */
	int		 fail_errno;	/* -1 with this errno on the 2nd call */
};

static int
sink(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	if (++s->calls == 2 && s->fail_errno != 0) {
		errno = s->fail_errno;
		return -1;
	}
	assert_int_equal(buf_add(&s->b, p, n), 0);
	return s->stop_at > 0 && s->b.len >= s->stop_at ? 1 : 0;
}

static void
check_both(size_t memmax)
{
	static char data[300000];
	struct spool *sp;
	struct sink s;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + i / 251);
	assert_non_null(sp = spool_new("/tmp", memmax));
	assert_int_equal(spool_write(sp, data, sizeof(data)), 0);
	assert_true((spool_mem(sp) != NULL) == (memmax >= sizeof(data)));

	/* the whole range, and a middle one */
	memset(&s, 0, sizeof(s));
	assert_int_equal(spool_copy(sp, 0, sizeof(data), sink, &s), 0);
	assert_int_equal(s.b.len, sizeof(data));
	assert_memory_equal(s.b.data, data, sizeof(data));
	buf_free(&s.b);
	memset(&s, 0, sizeof(s));
	assert_int_equal(spool_copy(sp, 1000, 234567, sink, &s), 0);
	assert_int_equal(s.b.len, 234567 - 1000);
	assert_memory_equal(s.b.data, data + 1000, 234567 - 1000);
	buf_free(&s.b);
	/* empty range: no call */
	memset(&s, 0, sizeof(s));
	assert_int_equal(spool_copy(sp, 5, 5, sink, &s), 0);
	assert_int_equal(s.calls, 0);
	/* the consumer stops early: not an error, no more calls */
	memset(&s, 0, sizeof(s));
	s.stop_at = 10;
	assert_int_equal(spool_copy(sp, 0, sizeof(data), sink, &s), 0);
	assert_int_equal(s.calls, 1);
	buf_free(&s.b);
	/* past the end: EIO, nothing handed over */
	memset(&s, 0, sizeof(s));
	errno = 0;
	assert_int_equal(spool_copy(sp, 0, sizeof(data) + 1, sink, &s), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(s.calls, 0);
	/* the consumer's error comes back with its errno (file: 2nd piece) */
	if (spool_mem(sp) == NULL) {
		memset(&s, 0, sizeof(s));
		s.fail_errno = ENOSPC;
		errno = 0;
		assert_int_equal(spool_copy(sp, 0, sizeof(data), sink, &s),
		    -1);
		assert_int_equal(errno, ENOSPC);
		assert_int_equal(s.calls, 2);
		buf_free(&s.b);
	}
	/* spool_copy_fd(): the same bytes after what fd already holds, in
	   the kernel from a file, written from memory; past the end: EIO */
	{
		char path[] = "/tmp/test_spool.XXXXXX", *got;
		int fd;

		assert_int_not_equal(fd = mkstemp(path), -1);
		unlink(path);
		assert_int_equal(write(fd, "head", 4), 4);
		assert_int_equal(spool_copy_fd(sp, 1000, 234567, fd), 0);
		assert_int_equal(spool_copy_fd(sp, 7, 7, fd), 0);
		errno = 0;
		assert_int_equal(spool_copy_fd(sp, 0, sizeof(data) + 1, fd),
		    -1);
		assert_int_equal(errno, EIO);
		assert_int_equal(lseek(fd, 0, SEEK_END), 4 + 234567 - 1000);
		assert_non_null(got = malloc(4 + 234567 - 1000));
		assert_int_equal(pread(fd, got, 4 + 234567 - 1000, 0),
		    4 + 234567 - 1000);
		assert_memory_equal(got, "head", 4);
		assert_memory_equal(got + 4, data + 1000, 234567 - 1000);
		free(got);
		close(fd);
	}
	spool_free(sp);
}

static void
test_memory(void **state)
{
	check_both(1 << 20);
}

static void
test_file(void **state)
{
	check_both(4096);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
