/* SPDX-License-Identifier: MIT */
/*
 * fuzz_s3_xml.c - libFuzzer target for src/media/media_s3_xml.c, the
 * reader of S3's XML answers.
 *
 * The input is read three ways: as any document (every callback's path
 * and text must keep the reader's caps and be NUL-terminated), as a
 * DeleteObjects answer for a few keys (each code empty or a plain word),
 * and as an <Error> document.  Then the input, stripped of control
 * characters, is a key: escaped into a DeleteResult, it must read back
 * as exactly that key with its code.  Build and run with tests/fuzz/run.
 */
#include "util/fmacros.h"

#include "media/media_s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_s3_xml: %s\n", what);
		abort();
	}
}

static lethe_rc
each(void *ctx, const char *path, const char *text, size_t len)
{
	size_t *calls = ctx;
	size_t depth = 1;

	(*calls)++;
	check(path[0] != '\0' && path[0] != '/', "path empty or rooted at '/'");
	for (const char *p = path; *p != '\0'; p++)
		depth += *p == '/';
	check(depth <= 16, "path deeper than 16");
	check(text == NULL || (len <= 8192 && text[len] == '\0'), "text not capped or terminated");
	return LETHE_OK;
}

static bool
plain_code(const char *c)
{
	for (; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9')))
			return false;
	return true;
}

static void
round_trip(const uint8_t *data, size_t size)
{
	char key[512];
	const char *keys[1] = {key};
	char codes[1][MEDIA_S3_CODE_MAX];
	size_t n = 0;
	struct buf b;

	for (size_t i = 0; i < size && n + 1 < sizeof(key); i++)
		if (data[i] >= 0x20 && data[i] != 0x7f && data[i] < 0x80)
			key[n++] = (char)data[i];
	key[n] = '\0';
	buf_init(&b, 8192);
	check(buf_adds(&b, "<DeleteResult><Error><Key>") == LETHE_OK &&
	          media_s3_xml_escape(&b, key) == LETHE_OK &&
	          buf_adds(&b, "</Key><Code>Denied</Code></Error></DeleteResult>") == LETHE_OK,
	      "escape");
	check(media_s3_delete_result(buf_str(&b), b.len, keys, 1, codes, NULL) == LETHE_OK,
	      "an escaped key does not read back");
	check(strcmp(codes[0], "Denied") == 0, "an escaped key lost its code");
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	const char *keys[] = {"k", "a&b", "u17/\xc3\xa9.jpg"};
	char codes[3][MEDIA_S3_CODE_MAX], code[MEDIA_S3_CODE_MAX];
	size_t calls = 0;

	if (size > 65536)
		return 0;
	(void)media_s3_xml_read(xml, size, each, &calls, NULL);
	if (media_s3_delete_result(xml, size, keys, 3, codes, NULL) == LETHE_OK)
		for (int i = 0; i < 3; i++)
			check(plain_code(codes[i]), "a code that is not a plain word");
	media_s3_error_code(xml, size, code);
	check(plain_code(code), "an error code that is not a plain word");
	round_trip(data, size);
	return 0;
}
