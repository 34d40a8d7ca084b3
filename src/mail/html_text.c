/* SPDX-License-Identifier: MIT */
/*
 * html_text.c - the text of an HTML-only mail (mail_in_html_text(),
 * declared in mail/inmail.h): one pass over the HTML with no tree built.
 * Tags are dropped, the ends of blocks (<br>, </p>, </div>, </li>, </tr>)
 * become newlines, comments and the content of <script> and <style> are
 * dropped, runs of white space become one space, and entities are decoded
 * (the basic five, &nbsp; and numeric ones; an unknown one is left as
 * written).  The output is capped (mail/textbuf.h) and is not yet checked
 * as UTF-8: the caller adds it with textbuf_add_text().  Nothing here logs.
 */
#include "util/fmacros.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mail/inmail.h"
#include "mail/textbuf.h"

/* Whether the tag name at @p (@n bytes) is @name, case-insensitive. */
static bool
tag_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* Find @needle (ASCII, lower case) case-insensitively in @h (@n bytes); offset or @n. */
static size_t
find_ci(const char *h, size_t n, const char *needle)
{
	size_t m = strlen(needle), i;

	for (i = 0; i + m <= n; i++)
		if (strncasecmp(h + i, needle, m) == 0)
			return i;
	return n;
}

/* The end (offset past '>') of the tag starting at @i (at '<'); quotes honoured. */
static size_t
tag_end(const char *h, size_t n, size_t i)
{
	char q = 0;

	for (i++; i < n; i++) {
		if (q != 0) {
			if (h[i] == q)
				q = 0;
		} else if (h[i] == '"' || h[i] == '\'') {
			q = h[i];
		} else if (h[i] == '>') {
			return i + 1;
		}
	}
	return n;
}

/* Append a space to @out unless it is empty or ends with a space or a newline. */
static void
html_space(struct textbuf *out)
{
	char last = textbuf_last(out);

	if (last != '\0' && last != ' ' && last != '\n')
		textbuf_addc(out, ' ');
}

/* Decode the entity at @h[@i] ('&'); on success append it and return its length, else 0. */
static size_t
entity(const char *h, size_t n, size_t i, struct textbuf *out)
{
	static const struct {
		const char *name;
		const char *text;
	} named[] = {{"amp", "&"},   {"lt", "<"},   {"gt", ">"},
	             {"quot", "\""}, {"apos", "'"}, {"nbsp", " "}};
	size_t j = i + 1, k;

	if (j < n && h[j] == '#') {
		uint32_t cp = 0;
		bool hex = j + 1 < n && (h[j + 1] == 'x' || h[j + 1] == 'X');
		size_t digits = 0;

		j += hex ? 2 : 1;
		for (; j < n && digits < 8; j++, digits++) {
			char c = h[j];
			uint32_t d;

			if (c >= '0' && c <= '9')
				d = (uint32_t)(c - '0');
			else if (hex && c >= 'a' && c <= 'f')
				d = (uint32_t)(c - 'a' + 10);
			else if (hex && c >= 'A' && c <= 'F')
				d = (uint32_t)(c - 'A' + 10);
			else
				break;
			cp = cp * (hex ? 16 : 10) + d;
		}
		if (digits == 0 || j >= n || h[j] != ';')
			return 0;
		if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			cp = TEXTBUF_REPLACEMENT;
		else if (cp < 0x20 && cp != '\t' && cp != '\n')
			cp = ' ';
		textbuf_add_cp(out, cp);
		return j + 1 - i;
	}
	for (k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
		size_t m = strlen(named[k].name);

		if (j + m < n && strncmp(h + j, named[k].name, m) == 0 && h[j + m] == ';') {
			if (named[k].text[0] == ' ')
				html_space(out); /* &nbsp; is a space like any other */
			else
				textbuf_add(out, named[k].text, strlen(named[k].text));
			return m + 2;
		}
	}
	return 0;
}

/* End the line: drop a trailing space, add a newline. */
static void
html_newline(struct textbuf *out)
{
	if (textbuf_last(out) == ' ')
		textbuf_chop(out);
	textbuf_addc(out, '\n');
}

char *
mail_in_html_text(const char *h, size_t n, size_t cap)
{
	struct textbuf out;
	size_t i = 0;

	textbuf_init(&out, cap);
	while (i < n && !out.cut) {
		char c = h[i];

		if (c == '<') {
			size_t end = tag_end(h, n, i), s = i + 1, e;
			bool closing = false;

			if (n - i >= 4 && strncmp(h + i, "<!--", 4) == 0) {
				size_t k = find_ci(h + i + 4, n - i - 4, "-->");

				i = k == n - i - 4 ? n : i + 4 + k + 3;
				continue;
			}
			if (s < n && h[s] == '/') {
				closing = true;
				s++;
			}
			for (e = s; e < n &&
			            ((h[e] >= 'a' && h[e] <= 'z') || (h[e] >= 'A' && h[e] <= 'Z') ||
			             (h[e] >= '0' && h[e] <= '9'));
			     e++)
				;
			if (e == s) { /* not a tag: a '<' of the text */
				textbuf_addc(&out, '<');
				i++;
				continue;
			}
			if (!closing &&
			    (tag_is(h + s, e - s, "script") || tag_is(h + s, e - s, "style"))) {
				const char *close =
				    tag_is(h + s, e - s, "script") ? "</script" : "</style";
				size_t k = find_ci(h + end, n - end, close);

				i = k == n - end ? n : tag_end(h, n, end + k);
				continue;
			}
			if (tag_is(h + s, e - s, "br") ||
			    (closing && (tag_is(h + s, e - s, "p") || tag_is(h + s, e - s, "div") ||
			                 tag_is(h + s, e - s, "li") || tag_is(h + s, e - s, "tr"))))
				html_newline(&out);
			i = end;
		} else if (c == '&') {
			size_t k = entity(h, n, i, &out);

			if (k == 0) {
				textbuf_addc(&out, '&');
				k = 1;
			}
			i += k;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
			html_space(&out);
			i++;
		} else {
			textbuf_addc(&out, c);
			i++;
		}
	}
	return textbuf_take(&out);
}
