/* SPDX-License-Identifier: MIT */
/*
 * textbuf.h - a capped, wiping string builder for the text of an incoming
 * mail (private to src/mail: inmail.c and html_text.c).
 *
 * Everything a textbuf holds is personal data: its memory is wiped when it
 * grows and when it is freed.  Appending past the cap keeps what fits and
 * sets cut (a mail's text is cut, not refused).  textbuf_add_text() is the
 * one place bytes from a mail become valid UTF-8: each invalid byte becomes
 * U+FFFD.  Not thread-safe; one owner.  Outside textbuf.c the members are
 * read, never written.
 */
#ifndef LETHE_MAIL_TEXTBUF_H
#define LETHE_MAIL_TEXTBUF_H

#include "util/fmacros.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEXTBUF_REPLACEMENT 0xFFFD /* U+FFFD, what an invalid byte becomes */

/* A growable string with a cap; wiped when it grows or is freed. */
struct textbuf {
	char *p;    /* NUL-terminated contents, or NULL while empty */
	size_t len; /* bytes used, excluding the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* hard limit on len */
	bool cut;   /* something was dropped at max */
};

/* Prepare @s (caller-owned storage), empty, holding at most @max bytes. */
void textbuf_init(struct textbuf *s, size_t max);
/* Wipe and release the contents; @s may be initialised again. */
void textbuf_free(struct textbuf *s);
/* Append @n bytes of @p as they are, up to the cap (the rest dropped, cut set). */
void textbuf_add(struct textbuf *s, const char *p, size_t n);
/* Append the byte @c (as textbuf_add()). */
void textbuf_addc(struct textbuf *s, char c);
/* Append code point @cp (at most 0x10FFFF) as UTF-8 (as textbuf_add()). */
void textbuf_add_cp(struct textbuf *s, uint32_t cp);
/*
 * Append the @n bytes at @p as valid UTF-8 text: invalid bytes as U+FFFD,
 * CRLF and lone CR as LF, other controls but tab and LF as spaces when
 * @oneline is false; every control (LF too) as a space when it is true.
 */
void textbuf_add_text(struct textbuf *s, const char *p, size_t n, bool oneline);
/* Add a newline unless the text is empty or already ends with one. */
void textbuf_endline(struct textbuf *s);
/* The last byte of the text, '\0' if it is empty. */
char textbuf_last(const struct textbuf *s);
/* Drop (wipe) the last byte of the text; nothing if it is empty. */
void textbuf_chop(struct textbuf *s);
/* The string built so far, handed over (caller frees; @s is left empty); "" if none. */
char *textbuf_take(struct textbuf *s);
/* Length of the valid UTF-8 sequence at @p (@n > 0 bytes left), 0 if invalid. */
size_t textbuf_utf8_seq(const unsigned char *p, size_t n);
/*
 * Cut the UTF-8 string @s to at most @max bytes on a character boundary
 * (the bytes cut wiped), and drop a last character left incomplete by an
 * earlier cut.
 */
void textbuf_utf8_cut(char *s, size_t max);

#endif /* LETHE_MAIL_TEXTBUF_H */
