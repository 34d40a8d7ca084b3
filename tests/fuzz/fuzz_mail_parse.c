/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mail_parse.c - libFuzzer target for src/mail/inmail.c and
 * src/mail/html_text.c (incoming mail parsed with GMime, loaded by
 * src/mail/mime_lib.c).
 *
 * The input is a raw message: mail_in_parse() with small limits (64 KiB,
 * 20 parts), mail_in_parse_head() and mail_in_html_text() on it.  Whatever
 * the result, every string must be valid UTF-8 within its cap, the subject
 * and the addresses one line without controls, and an accepted message
 * within its limits.  Any breach aborts.  Build and run with tests/fuzz/run.
 */
#include "util/fmacros.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/inmail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_mail_parse: %s\n", what);
		abort();
	}
}

/* Whether @s is valid UTF-8 (no overlongs, surrogates or code points over U+10FFFF). */
static bool
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t len, i;
		unsigned cp;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xC2 && *p <= 0xDF)
			len = 2, cp = *p & 0x1Fu;
		else if (*p >= 0xE0 && *p <= 0xEF)
			len = 3, cp = *p & 0x0Fu;
		else if (*p >= 0xF0 && *p <= 0xF4)
			len = 4, cp = *p & 0x07u;
		else
			return false;
		for (i = 1; i < len; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3Fu);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p += len;
	}
	return true;
}

/* A one-line string: valid UTF-8, at most @max bytes, no control characters. */
static void
check_line(const char *s, size_t max, const char *what)
{
	size_t i;

	if (s == NULL)
		return;
	check(utf8_ok(s), what);
	check(strlen(s) <= max, what);
	for (i = 0; s[i] != '\0'; i++)
		check((unsigned char)s[i] >= 0x20 && s[i] != 0x7F, what);
}

static void
check_mail(const struct mail_in *m)
{
	check(m->subject != NULL && m->text != NULL, "subject or text NULL");
	check_line(m->subject, MAIL_IN_SUBJECT_MAX, "subject");
	check_line(m->from, MAIL_IN_SUBJECT_MAX, "from");
	check_line(m->reply_to, MAIL_IN_SUBJECT_MAX, "reply_to");
	check_line(m->return_path, MAIL_IN_SUBJECT_MAX, "return_path");
	check_line(m->message_id, MAIL_IN_SUBJECT_MAX, "message_id");
	check_line(m->date, MAIL_IN_SUBJECT_MAX, "date");
	check_line(m->to, MAIL_IN_TEXT_MAX, "to");
	check(utf8_ok(m->text), "text not UTF-8");
	check(strlen(m->text) <= MAIL_IN_TEXT_MAX, "text over its cap");
	check(m->robot >= MAIL_IN_HUMAN && m->robot <= MAIL_IN_DAEMON, "robot out of range");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mail_in_limits lim = {64 * 1024, 20};
	const char *raw = (const char *)data;
	struct lethe_err err;
	struct mail_in m;
	lethe_rc rc;
	char *t;

	rc = mail_in_parse(raw, size, (size & 1) ? "" : NULL, &lim, &m, &err);
	check(rc == LETHE_OK || rc == LETHE_E_TOOBIG || rc == LETHE_E_INVALID, "unexpected result");
	check_mail(&m);
	if (rc == LETHE_OK)
		check(m.parts <= lim.max_parts && m.bytes == size, "limits not kept");
	mail_in_free(&m);
	rc = mail_in_parse_head(raw, size, NULL, &m, &err);
	check(rc == LETHE_OK || rc == LETHE_E_INVALID, "unexpected head result");
	check_mail(&m);
	check(m.text[0] == '\0', "head parse with text");
	mail_in_free(&m);
	t = mail_in_html_text(raw, size, 4096);
	check(t != NULL && strlen(t) <= 4096, "HTML text over its cap");
	free(t);
	return 0;
}
