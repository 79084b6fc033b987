/*
 * fuzz_common.h -- helpers shared by the libFuzzer targets in this
 * directory (see fuzz.sh).  Header-only: each target is one .c file
 * linked with the project's library sources.
 */
#ifndef MC_FUZZ_COMMON_H
#define MC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Optional: called before a failed property aborts (prints context). */
static void (*fuzz_on_fail)(void);

/*
 * A target whose input is text can name it here and set fuzz_on_fail to
 * fuzz_show_input: a failure then prints its first 300 bytes.
 */
static const uint8_t *fuzz_input;
static size_t fuzz_input_len;

static inline void
fuzz_show_input(void)
{
	fprintf(stderr, "input: \"%.*s\"\n", (int)(fuzz_input_len > 300 ?
	    300 : fuzz_input_len), (const char *)fuzz_input);
}

/* A property failed: print why and abort, so libFuzzer saves the input. */
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		if (fuzz_on_fail != NULL)				\
			fuzz_on_fail();					\
		fprintf(stderr, "FUZZ PROPERTY FAILED %s:%d: %s: ",	\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* FNV-1a, 64 bit. */
static inline uint64_t
fuzz_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n-- > 0) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}
#define FUZZ_FNV_INIT	0xcbf29ce484222325ULL

/*
 * Chunk schedules: a deterministic sequence of chunk sizes chosen by two
 * bytes (kind, seed).  Kinds: fixed sizes 1, 2, 3, 7, 64, 4096, 65535 (the
 * libmilter chunk), and pseudo-random sizes from small ranges.
 */
struct fuzz_sched {
	unsigned	kind;
	uint32_t	state;
};

static inline void
fuzz_sched_init(struct fuzz_sched *s, unsigned char kind, unsigned char seed)
{
	s->kind = kind % 10;
	s->state = 0x9e3779b9u ^ ((uint32_t)seed * 2654435761u) ^ kind;
	if (s->state == 0)
		s->state = 1;
}

static inline size_t
fuzz_sched_next(struct fuzz_sched *s)
{
	static const size_t fixed[] = { 1, 2, 3, 7, 64, 4096, 65535 };
	uint32_t x;

	if (s->kind < 7)
		return fixed[s->kind];
	x = s->state;		/* xorshift32 */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->state = x;
	switch (s->kind) {
	case 7:
		return 1 + x % 4;	/* tiny: CRLF and "--" split */
	case 8:
		return 1 + x % 80;	/* around line lengths */
	default:
		return 1 + x % 1024;
	}
}

/* Feeds (p, n) to fn in the chunks of schedule s. */
#define FUZZ_FEED_CHUNKS(s, p, n, CALL) do {				\
	size_t off_ = 0;						\
	while (off_ < (n)) {						\
		size_t k_ = fuzz_sched_next(s);				\
		if (k_ > (n) - off_)					\
			k_ = (n) - off_;				\
		{							\
			const char *chunk = (const char *)(p) + off_;	\
			size_t chunklen = k_;				\
			CALL;						\
		}							\
		off_ += k_;						\
	}								\
} while (0)

/* Writes (data, n) to path (truncating); aborts on failure. */
static inline void
fuzz_write_file(const char *path, const uint8_t *data, size_t n)
{
	FILE *fp = fopen(path, "we");

	if (fp == NULL || (n > 0 && fwrite(data, 1, n, fp) != n) ||
	    fclose(fp) != 0) {
		perror(path);
		abort();
	}
}

#endif
