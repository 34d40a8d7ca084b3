/* SPDX-License-Identifier: MIT */
/*
 * textbuf.c - the capped, wiping string builder of an incoming mail's text
 * (mail/textbuf.h): growth copies into a new block and wipes the old one,
 * so no copy of a mail's text is left behind in freed memory.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/textbuf.h"
#include "util/mem.h"

void
textbuf_init(struct textbuf *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

void
textbuf_free(struct textbuf *s)
{
	if (s->p != NULL) {
		sodium_memzero(s->p, s->cap);
		free(s->p);
	}
	memset(s, 0, sizeof(*s));
}

/* Append @n bytes of @p, up to the cap (the rest dropped, cut set). */
void
textbuf_add(struct textbuf *s, const char *p, size_t n)
{
	size_t room = s->max - s->len;

	if (n > room) {
		n = room;
		s->cut = true;
	}
	if (n == 0)
		return;
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap < 256 ? 256 : s->cap;
		char *np;

		while (cap < s->len + n + 1)
			cap *= 2;
		np = xmalloc(cap);
		if (s->p != NULL) {
			memcpy(np, s->p, s->len);
			sodium_memzero(s->p, s->cap);
			free(s->p);
		}
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

void
textbuf_addc(struct textbuf *s, char c)
{
	textbuf_add(s, &c, 1);
}

/* Add a newline unless the text is empty or already ends with one. */
void
textbuf_endline(struct textbuf *s)
{
	if (s->len > 0 && s->p[s->len - 1] != '\n')
		textbuf_addc(s, '\n');
}

char
textbuf_last(const struct textbuf *s)
{
	return s->len > 0 ? s->p[s->len - 1] : '\0';
}

void
textbuf_chop(struct textbuf *s)
{
	if (s->len > 0)
		s->p[--s->len] = '\0';
}

/* The string built so far, handed over (the buffer is left empty); "" if none. */
char *
textbuf_take(struct textbuf *s)
{
	char *r = s->p != NULL ? s->p : xstrdup("");

	memset(s, 0, sizeof(*s));
	return r;
}

/* Append code point @cp as UTF-8. */
void
textbuf_add_cp(struct textbuf *s, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		textbuf_add(s, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		textbuf_add(s, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		textbuf_add(s, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		textbuf_add(s, u, 4);
	}
}

/* Length of the valid UTF-8 sequence at @p (@n bytes left), 0 if invalid. */
size_t
textbuf_utf8_seq(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		len = 2;
		cp = p[0] & 0x1F;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		len = 3;
		cp = p[0] & 0x0F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/*
 * Append the @n bytes at @p to @s as valid UTF-8 text: invalid bytes as
 * U+FFFD, CRLF and lone CR as LF, other controls but tab and LF as spaces
 * when @oneline is false; every control (LF too) as a space when it is true.
 */
void
textbuf_add_text(struct textbuf *s, const char *p, size_t n, bool oneline)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, run = 0; /* a run of bytes copied as they are */

	/* An empty part may come as NULL: nothing to add (and no pointer arithmetic on it). */
	if (n == 0)
		return;
	while (i < n) {
		size_t k = textbuf_utf8_seq(u + i, n - i);
		unsigned char c = u[i];

		if (k > 1 || (k == 1 && c >= 0x20 && c != 0x7F) ||
		    (k == 1 && c == '\t' && !oneline) || (k == 1 && c == '\n' && !oneline)) {
			i += k;
			run += k;
			continue;
		}
		textbuf_add(s, p + i - run, run);
		run = 0;
		if (k == 0) {
			textbuf_add_cp(s, TEXTBUF_REPLACEMENT);
			i++;
		} else if (c == '\r' && !oneline) {
			textbuf_addc(s, '\n');
			i += (i + 1 < n && u[i + 1] == '\n') ? 2 : 1;
		} else {
			textbuf_addc(s, ' ');
			i++;
		}
	}
	textbuf_add(s, p + i - run, run);
}

void
textbuf_utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s), k;

	if (n > max) {
		sodium_memzero(s + max, n - max);
		n = max;
	}
	for (k = n; k > 0 && n - k < 4; k--) {
		if (((unsigned char)s[k - 1] & 0xC0) != 0x80) {
			if (textbuf_utf8_seq((const unsigned char *)s + k - 1, n - k + 1) == 0)
				sodium_memzero(s + k - 1, n - k + 1);
			break;
		}
	}
}
