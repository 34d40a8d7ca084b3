/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mail_build.c - libFuzzer target for src/mail/message.c.
 *
 * The input is six NUL-separated fields: the sender's display name, the
 * recipient, the subject, the text, the HTML and the Message-ID a reply
 * answers (missing fields are NULL or empty; a sixth field present makes
 * the message a reply, auto_reply).  Whenever mail_build() accepts them, the message must be one a
 * relay passes on unchanged and no field can have added a header: only
 * CRLF line ends, no line over 998 bytes, 7-bit bytes only, and a header
 * block of the fixed header names, each at most once, every other line a
 * continuation.  Any breach aborts.  Build and run with tests/fuzz/run.
 */
#include "util/fmacros.h"

#include <string.h>

#include "mail/mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const headers[] = {
    "Date",         "From",           "To",           "Subject",  "Message-ID",
    "MIME-Version", "Auto-Submitted", "Content-Type", "Reply-To", "Content-Transfer-Encoding",
    "In-Reply-To",  "References"};
#define NHEADERS (sizeof(headers) / sizeof(headers[0]))

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_mail_build: %s\n", what);
		abort();
	}
}

/* Check the message @s (@n bytes) as the file comment says. */
static void
check_message(const char *s, size_t n)
{
	int seen[NHEADERS] = {0};
	bool in_headers = true;
	size_t i = 0;

	while (i < n) {
		const char *eol = memchr(s + i, '\n', n - i);
		size_t len, k;

		check(eol != NULL, "the message does not end with CRLF");
		len = (size_t)(eol - (s + i));
		check(len >= 1 && s[i + len - 1] == '\r', "a bare LF");
		len--; /* without the CR */
		check(len <= 998, "a line over 998 bytes");
		for (k = 0; k < len; k++) {
			check((unsigned char)s[i + k] < 0x80, "an 8-bit byte");
			check(s[i + k] != '\r', "a bare CR");
		}
		if (in_headers && len == 0) {
			in_headers = false;
		} else if (in_headers && s[i] != ' ' && s[i] != '\t') {
			const char *colon = memchr(s + i, ':', len);
			size_t h, nl = colon != NULL ? (size_t)(colon - (s + i)) : 0;

			check(colon != NULL, "a header line without a name");
			for (h = 0; h < NHEADERS; h++)
				if (strlen(headers[h]) == nl && memcmp(headers[h], s + i, nl) == 0)
					break;
			check(h < NHEADERS, "a header lethe does not write");
			check(++seen[h] == 1, "a header written twice");
		}
		i += len + 2;
	}
	check(!in_headers, "no body");
	check(seen[1] == 1 && seen[2] == 1 && seen[3] == 1, "From, To or Subject missing");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_config mc;
	struct mail_msg m;
	char *fields[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
	char *copy = malloc(size + 1);
	size_t i, f = 0, start = 0;
	struct lethe_err err;
	struct buf b;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (i = 0; i <= size && f < 6; i++)
		if (copy[i] == '\0') {
			fields[f++] = copy + start;
			start = i + 1;
		}
	memset(&mc, 0, sizeof(mc));
	mc.from = "privacy@example.com";
	mc.from_name = fields[0] != NULL && fields[0][0] != '\0' ? fields[0] : NULL;
	mc.reply_to = "help@example.com";
	memset(&m, 0, sizeof(m));
	m.to = fields[1] != NULL ? fields[1] : "";
	m.subject = fields[2] != NULL ? fields[2] : "";
	m.text = fields[3] != NULL ? fields[3] : "";
	m.html = fields[4];
	m.in_reply_to = fields[5];
	m.auto_reply = fields[5] != NULL;
	buf_init(&b, 1u << 22);
	if (mail_build(&mc, &m, 1800000000, &b, &err) == LETHE_OK)
		check_message(buf_str(&b), b.len);
	buf_free(&b);
	free(copy);
	return 0;
}
