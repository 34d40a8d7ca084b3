/* SPDX-License-Identifier: MIT */
/*
 * test_sealstream.c - unit tests of src/util/sealstream: round trips at the
 * chunk's edges and beyond, and a file that fails closed
 * (LETHE_E_FORBIDDEN, never wrong bytes) when cut short at every chunk
 * boundary and inside chunks, edited, with chunks swapped, without its
 * FINAL chunk, with bytes after it, or read with another key.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/rc.h"
#include "util/sealstream.h"

#define FRAME (4 + SEALSTREAM_CHUNK + 17) /* a full chunk on disk */

/* A fresh empty temp file; its path into @path (64 bytes). */
static int
tmp_file(char *path)
{
	int fd;

	snprintf(path, 64, "/tmp/lethe-test-ss-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

/* Encrypt @len bytes of @p into a new temp file @path under @key, finished or not. */
static void
seal_file(char *path, const uint8_t *key, const uint8_t *p, size_t len, bool finish)
{
	struct lethe_err err = {0};
	struct sealstream_w *w;
	int fd = tmp_file(path);
	size_t off = 0, step = 4093; /* odd writes: chunking is the stream's job */

	w = sealstream_w_open(fd, key, &err);
	assert_non_null(w);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		assert_int_equal(sealstream_write(w, p + off, n, &err), LETHE_OK);
		off += n;
	}
	if (finish)
		assert_int_equal(sealstream_w_finish(w, &err), LETHE_OK);
	else
		sealstream_w_abort(w);
	assert_int_equal(close(fd), 0);
}

/*
 * Read the file @path under @key to its verified end into *@out (*@n
 * bytes, caller frees).  The first failure's code, or LETHE_OK.
 */
static lethe_rc
open_all(const char *path, const uint8_t *key, uint8_t **out, size_t *n)
{
	struct lethe_err err = {0};
	struct sealstream_r *r;
	size_t cap = 1 << 16, got;
	uint8_t chunk[7777];
	lethe_rc rc = LETHE_OK;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	*out = malloc(cap);
	*n = 0;
	r = sealstream_r_open(fd, key, &err);
	if (r == NULL) {
		close(fd);
		assert_int_not_equal(err.rc, LETHE_OK);
		return err.rc;
	}
	for (;;) {
		rc = sealstream_read(r, chunk, sizeof(chunk), &got, &err);
		if (rc != LETHE_OK || got == 0)
			break;
		if (*n + got > cap) {
			cap *= 2;
			*out = realloc(*out, cap);
		}
		memcpy(*out + *n, chunk, got);
		*n += got;
	}
	/* Once failed, a stream stays failed. */
	if (rc != LETHE_OK)
		assert_int_equal(sealstream_read(r, chunk, sizeof(chunk), &got, &err), rc);
	sealstream_r_close(r);
	close(fd);
	return rc;
}

static void
expect_refused(const char *path, const uint8_t *key)
{
	uint8_t *out = NULL;
	size_t n = 0;

	assert_int_equal(open_all(path, key, &out, &n), LETHE_E_FORBIDDEN);
	free(out);
}

static uint8_t *
random_bytes(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	randombytes_buf(p, n);
	return p;
}

static void
test_sealstream_round_trips(void **state)
{
	static const size_t sizes[] = {
	    0, 1, SEALSTREAM_CHUNK - 1, SEALSTREAM_CHUNK, SEALSTREAM_CHUNK + 1, 5 * 1024 * 1024};
	uint8_t key[SEALSTREAM_KEY_LEN];
	size_t i;

	(void)state;
	sealstream_keygen(key);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = random_bytes(sizes[i]), *out = NULL;
		char path[64];
		size_t n = 0;
		struct stat sb;

		seal_file(path, key, p, sizes[i], true);
		assert_int_equal(open_all(path, key, &out, &n), LETHE_OK);
		assert_int_equal(n, sizes[i]);
		assert_memory_equal(out, p, n);
		/* Header, then ceil(len / CHUNK) chunks (one empty chunk for nothing). */
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(
		    (size_t)sb.st_size,
		    SEALSTREAM_HEADER_LEN +
		        (sizes[i] == 0 ? 1 : (sizes[i] + SEALSTREAM_CHUNK - 1) / SEALSTREAM_CHUNK) *
		            (4 + 17) +
		        sizes[i]);
		unlink(path);
		free(p);
		free(out);
	}
}

static void
test_sealstream_cut_short_anywhere_is_refused(void **state)
{
	size_t len = 3 * SEALSTREAM_CHUNK + 100, full, cut;
	uint8_t key[SEALSTREAM_KEY_LEN], *p = random_bytes(len);
	char path[64];
	struct stat sb;
	size_t k;

	(void)state;
	sealstream_keygen(key);
	seal_file(path, key, p, len, true);
	assert_int_equal(stat(path, &sb), 0);
	full = (size_t)sb.st_size;
	/* Every chunk boundary (after the header and after each chunk), and inside. */
	for (k = 0; k <= 3; k++) {
		size_t boundary = SEALSTREAM_HEADER_LEN + k * FRAME;
		size_t cuts[] = {boundary, boundary + 2, boundary + 4, boundary + 4 + 1000};
		size_t c;

		for (c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
			cut = cuts[c];
			if (cut >= full)
				continue;
			assert_int_equal(truncate(path, (off_t)cut), 0);
			expect_refused(path, key);
			unlink(path);
			seal_file(path, key, p, len, true);
		}
	}
	/* One byte short of the end, and inside the header. */
	assert_int_equal(truncate(path, (off_t)full - 1), 0);
	expect_refused(path, key);
	assert_int_equal(truncate(path, 10), 0);
	expect_refused(path, key);
	unlink(path);
	free(p);
}

/* Apply @fn to the bytes of file @path. */
static void
edit_file(const char *path, void (*fn)(uint8_t *b, size_t n))
{
	struct stat sb;
	uint8_t *b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	b = malloc((size_t)sb.st_size);
	assert_int_equal(pread(fd, b, (size_t)sb.st_size, 0), sb.st_size);
	fn(b, (size_t)sb.st_size);
	assert_int_equal(pwrite(fd, b, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	free(b);
}

static void
flip_in_second_chunk(uint8_t *b, size_t n)
{
	b[SEALSTREAM_HEADER_LEN + FRAME + 4 + 500] ^= 0x01;
}

static void
swap_first_two_chunks(uint8_t *b, size_t n)
{
	uint8_t *tmp = malloc(FRAME);

	memcpy(tmp, b + SEALSTREAM_HEADER_LEN, FRAME);
	memcpy(b + SEALSTREAM_HEADER_LEN, b + SEALSTREAM_HEADER_LEN + FRAME, FRAME);
	memcpy(b + SEALSTREAM_HEADER_LEN + FRAME, tmp, FRAME);
	free(tmp);
}

static void
flip_in_header(uint8_t *b, size_t n)
{
	b[12] ^= 0x80;
}

static void
flip_in_magic(uint8_t *b, size_t n)
{
	b[0] = 'X';
}

static void
test_sealstream_edited_swapped_or_other_key_is_refused(void **state)
{
	size_t len = 3 * SEALSTREAM_CHUNK + 100;
	uint8_t key[SEALSTREAM_KEY_LEN], other[SEALSTREAM_KEY_LEN], *p = random_bytes(len);
	void (*edits[])(uint8_t *, size_t) = {flip_in_second_chunk, swap_first_two_chunks,
	                                      flip_in_header, flip_in_magic};
	char path[64];
	size_t i;
	int fd;

	(void)state;
	sealstream_keygen(key);
	sealstream_keygen(other);
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		seal_file(path, key, p, len, true);
		edit_file(path, edits[i]);
		expect_refused(path, key);
		unlink(path);
	}
	/* Another key. */
	seal_file(path, key, p, len, true);
	expect_refused(path, other);
	/* A byte after the FINAL chunk. */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	expect_refused(path, key);
	unlink(path);
	/* No FINAL chunk: the writer aborted after full chunks. */
	seal_file(path, key, p, len, false);
	expect_refused(path, key);
	unlink(path);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sealstream_round_trips),
	    cmocka_unit_test(test_sealstream_cut_short_anywhere_is_refused),
	    cmocka_unit_test(test_sealstream_edited_swapped_or_other_key_is_refused),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
