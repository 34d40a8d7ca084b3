/* SPDX-License-Identifier: MIT */
/*
 * inmail.c - an incoming mail parsed with GMime (mail/inmail.h).
 *
 * The raw bytes are handed to GMime's parser through a memory stream that
 * borrows them (g_byte_array_new_take() + g_byte_array_steal(): no copy of
 * a 10 MB message).  The MIME tree is then walked once, depth first:
 * every part counts against max_parts, every level against
 * MAIL_IN_DEPTH_MAX, and each message (the top one and every forwarded
 * message/rfc822 one) gathers its text/plain parts and, separately, its
 * text/html parts as text; a message's text is its plain text if it had a
 * text/plain part, else its HTML's.  A forwarded message's text (after a
 * "Subject: ..." line) goes into both of its parent's gatherings, where
 * its part sat.  Every string that leaves GMime is made valid UTF-8 (each
 * invalid byte becomes U+FFFD) and wiped before it is freed: it is
 * personal data.  Nothing here logs.
 *
 * GMime's parser builds the whole tree before the walk counts it; it
 * bounds its own nesting (1024 multipart levels, 512 message/rfc822
 * levels in 3.2.13: deeper parts are read as leaves), which a 256 KiB
 * thread stack takes (docs/internals/mail-intake.md).
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/inmail.h"
#include "mail/mime_lib.h"
#include "util/mem.h"

/* A growable string with a cap; wiped when it grows or is freed. */
struct sbuf {
	char *p;
	size_t len, cap, max;
	bool cut; /* something was dropped at max */
};

static void
sb_init(struct sbuf *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

static void
sb_free(struct sbuf *s)
{
	if (s->p != NULL) {
		sodium_memzero(s->p, s->cap);
		free(s->p);
	}
	memset(s, 0, sizeof(*s));
}

/* Append @n bytes of @p, up to the cap (the rest dropped, cut set). */
static void
sb_add(struct sbuf *s, const char *p, size_t n)
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

static void
sb_addc(struct sbuf *s, char c)
{
	sb_add(s, &c, 1);
}

/* Add a newline unless the text is empty or already ends with one. */
static void
sb_endline(struct sbuf *s)
{
	if (s->len > 0 && s->p[s->len - 1] != '\n')
		sb_addc(s, '\n');
}

/* The string built so far, handed over (the buffer is left empty); "" if none. */
static char *
sb_take(struct sbuf *s)
{
	char *r = s->p != NULL ? s->p : xstrdup("");

	memset(s, 0, sizeof(*s));
	return r;
}

/* Append code point @cp as UTF-8. */
static void
sb_add_cp(struct sbuf *s, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		sb_add(s, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		sb_add(s, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		sb_add(s, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		sb_add(s, u, 4);
	}
}

#define REPLACEMENT 0xFFFD

/* Length of the valid UTF-8 sequence at @p (@n bytes left), 0 if invalid. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
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
static void
sb_add_text(struct sbuf *s, const char *p, size_t n, bool oneline)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, run = 0; /* a run of bytes copied as they are */

	while (i < n) {
		size_t k = utf8_seq(u + i, n - i);
		unsigned char c = u[i];

		if (k > 1 || (k == 1 && c >= 0x20 && c != 0x7F) ||
		    (k == 1 && c == '\t' && !oneline) || (k == 1 && c == '\n' && !oneline)) {
			i += k;
			run += k;
			continue;
		}
		sb_add(s, p + i - run, run);
		run = 0;
		if (k == 0) {
			sb_add_cp(s, REPLACEMENT);
			i++;
		} else if (c == '\r' && !oneline) {
			sb_addc(s, '\n');
			i += (i + 1 < n && u[i + 1] == '\n') ? 2 : 1;
		} else {
			sb_addc(s, ' ');
			i++;
		}
	}
	sb_add(s, p + i - run, run);
}

static void utf8_cut(char *s, size_t max);

/* @p (NUL-terminated or NULL) as a new valid UTF-8 string (see sb_add_text); NULL if @p is. */
static char *
clean_dup(const char *p, bool oneline, size_t max)
{
	struct sbuf s;
	char *r;

	if (p == NULL)
		return NULL;
	sb_init(&s, max);
	sb_add_text(&s, p, strlen(p), oneline);
	r = sb_take(&s);
	utf8_cut(r, max);
	return r;
}

/*
 * Cut the UTF-8 string @s to at most @max bytes on a character boundary,
 * and drop a last character left incomplete by an earlier cut.
 */
static void
utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s), k;

	if (n > max) {
		sodium_memzero(s + max, n - max);
		n = max;
	}
	for (k = n; k > 0 && n - k < 4; k--) {
		if (((unsigned char)s[k - 1] & 0xC0) != 0x80) {
			if (utf8_seq((const unsigned char *)s + k - 1, n - k + 1) == 0)
				sodium_memzero(s + k - 1, n - k + 1);
			break;
		}
	}
}

/* Wipe and free a string GMime allocated. */
static void
gfree_wipe(const struct mime_lib *lib, char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		lib->free(s);
	}
}

/* Wipe and free one of our strings. */
static void
free_wipe(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* ---- HTML as text ---- */

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
html_space(struct sbuf *out)
{
	if (out->len > 0 && out->p[out->len - 1] != ' ' && out->p[out->len - 1] != '\n')
		sb_addc(out, ' ');
}

/* Decode the entity at @h[@i] ('&'); on success append it and return its length, else 0. */
static size_t
entity(const char *h, size_t n, size_t i, struct sbuf *out)
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
			cp = REPLACEMENT;
		else if (cp < 0x20 && cp != '\t' && cp != '\n')
			cp = ' ';
		sb_add_cp(out, cp);
		return j + 1 - i;
	}
	for (k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
		size_t m = strlen(named[k].name);

		if (j + m < n && strncmp(h + j, named[k].name, m) == 0 && h[j + m] == ';') {
			if (named[k].text[0] == ' ')
				html_space(out); /* &nbsp; is a space like any other */
			else
				sb_add(out, named[k].text, strlen(named[k].text));
			return m + 2;
		}
	}
	return 0;
}

/* End the line: drop a trailing space, add a newline. */
static void
html_newline(struct sbuf *out)
{
	if (out->len > 0 && out->p[out->len - 1] == ' ')
		out->p[--out->len] = '\0';
	sb_addc(out, '\n');
}

char *
mail_in_html_text(const char *h, size_t n, size_t cap)
{
	struct sbuf out;
	size_t i = 0;

	sb_init(&out, cap);
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
				sb_addc(&out, '<');
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
				sb_addc(&out, '&');
				k = 1;
			}
			i += k;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
			html_space(&out);
			i++;
		} else {
			sb_addc(&out, c);
			i++;
		}
	}
	return sb_take(&out);
}

/* ---- the walk ---- */

/* What one message (the top one or a forwarded one) gathers. */
struct gather {
	struct sbuf plain; /* its text/plain parts */
	struct sbuf html;  /* its text/html parts, as text */
	bool had_plain;    /* it has a text/plain part (even an empty one) */
};

struct walk {
	const struct mime_lib *lib;
	size_t max_parts;
	size_t parts;
	size_t forwarded;
	lethe_rc rc; /* LETHE_E_TOOBIG once a limit is passed */
	struct lethe_err *err;
};

static void walk_message(struct walk *w, GMimeMessage *msg, int depth, struct gather *g);

static void
gather_init(struct gather *g)
{
	sb_init(&g->plain, MAIL_IN_TEXT_MAX);
	sb_init(&g->html, MAIL_IN_TEXT_MAX);
	g->had_plain = false;
}

static void
gather_free(struct gather *g)
{
	sb_free(&g->plain);
	sb_free(&g->html);
}

/* Whether @obj's Content-Type is @type/@subtype. */
static bool
is_type(const struct mime_lib *lib, GMimeObject *obj, const char *type, const char *subtype)
{
	GMimeContentType *ct = lib->object_get_content_type(obj);

	return ct != NULL && lib->content_type_is_type(ct, type, subtype);
}

/* Whether @obj is a text/plain part that is not an attachment. */
static bool
is_plain_body(const struct mime_lib *lib, GMimeObject *obj)
{
	GMimeContentDisposition *cd;

	if (!mime_lib_is_a(lib, obj, lib->text_part_type) || !is_type(lib, obj, "text", "plain"))
		return false;
	cd = lib->object_get_content_disposition(obj);
	return cd == NULL || !lib->content_disposition_is_attachment(cd);
}

/* Count one part at @depth; false (w->rc set) once a limit is passed. */
static bool
count_part(struct walk *w, int depth)
{
	if (w->rc != LETHE_OK)
		return false;
	if (depth > MAIL_IN_DEPTH_MAX) {
		w->rc = lethe_err_set(w->err, LETHE_E_TOOBIG,
		                      "mail: MIME parts nested too deeply (more than %d levels)",
		                      MAIL_IN_DEPTH_MAX);
		return false;
	}
	if (++w->parts > w->max_parts) {
		w->rc = lethe_err_set(w->err, LETHE_E_TOOBIG,
		                      "mail: too many MIME parts (more than %zu)", w->max_parts);
		return false;
	}
	return true;
}

/* Walk @obj at @depth; its text goes into @g when @collect. */
static void
walk_part(struct walk *w, GMimeObject *obj, int depth, struct gather *g, bool collect)
{
	const struct mime_lib *lib = w->lib;

	if (obj == NULL || !count_part(w, depth))
		return;
	if (mime_lib_is_a(lib, obj, lib->multipart_type)) {
		GMimeMultipart *mp = (GMimeMultipart *)obj;
		int n = lib->multipart_get_count(mp), i, plain = -1;

		if (collect && is_type(lib, obj, "multipart", "alternative"))
			for (i = 0; i < n && plain < 0; i++)
				if (is_plain_body(lib, lib->multipart_get_part(mp, i)))
					plain = i;
		for (i = 0; i < n && w->rc == LETHE_OK; i++)
			walk_part(w, lib->multipart_get_part(mp, i), depth + 1, g,
			          collect && (plain < 0 || plain == i));
		return;
	}
	if (mime_lib_is_a(lib, obj, lib->message_part_type)) {
		GMimeMessage *inner = lib->message_part_get_message((GMimeMessagePart *)obj);
		struct gather sub;
		const char *subj;
		const struct sbuf *t;

		if (inner == NULL)
			return;
		w->forwarded++;
		gather_init(&sub);
		walk_message(w, inner, depth + 1, &sub);
		if (collect && w->rc == LETHE_OK) {
			subj = lib->message_get_subject(inner);
			t = sub.had_plain ? &sub.plain : &sub.html;
			sb_endline(&g->plain);
			sb_endline(&g->html);
			if (subj != NULL) {
				char *s = clean_dup(subj, true, MAIL_IN_SUBJECT_MAX);

				sb_add(&g->plain, "Subject: ", 9);
				sb_add(&g->plain, s, strlen(s));
				sb_addc(&g->plain, '\n');
				sb_add(&g->html, "Subject: ", 9);
				sb_add(&g->html, s, strlen(s));
				sb_addc(&g->html, '\n');
				free_wipe(s);
			}
			if (t->len > 0) {
				sb_add(&g->plain, t->p, t->len);
				sb_add(&g->html, t->p, t->len);
			}
			g->plain.cut |= t->cut;
			g->html.cut |= t->cut;
		}
		gather_free(&sub);
		return;
	}
	if (!collect || !mime_lib_is_a(lib, obj, lib->text_part_type))
		return;
	if (is_plain_body(lib, obj)) {
		char *s = lib->text_part_get_text((GMimeTextPart *)obj);

		g->had_plain = true;
		if (s != NULL) {
			sb_endline(&g->plain);
			sb_add_text(&g->plain, s, strlen(s), false);
			gfree_wipe(lib, s);
		}
	} else if (is_type(lib, obj, "text", "html")) {
		GMimeContentDisposition *cd = lib->object_get_content_disposition(obj);
		char *s, *t;

		if (cd != NULL && lib->content_disposition_is_attachment(cd))
			return;
		s = lib->text_part_get_text((GMimeTextPart *)obj);
		if (s == NULL)
			return;
		t = mail_in_html_text(s, strlen(s), MAIL_IN_TEXT_MAX + 1);
		gfree_wipe(lib, s);
		sb_endline(&g->html);
		sb_add_text(&g->html, t, strlen(t), false);
		free_wipe(t);
	}
}

static void
walk_message(struct walk *w, GMimeMessage *msg, int depth, struct gather *g)
{
	walk_part(w, w->lib->message_get_mime_part(msg), depth, g, true);
}

/* ---- headers ---- */

/* @v without leading and trailing blanks and one pair of <> around it, as a new string. */
static char *
addr_dup(const char *v)
{
	size_t n;

	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
		v++;
	n = strlen(v);
	while (n > 0 &&
	       (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
		v++;
		n -= 2;
	}
	{
		char *r = xstrndup(v, n);
		char *c = clean_dup(r, true, MAIL_IN_SUBJECT_MAX);

		free_wipe(r);
		return c;
	}
}

/* The first mailbox's addr-spec of @list (groups skipped), or NULL. */
static char *
first_mailbox(const struct mime_lib *lib, InternetAddressList *list)
{
	int n, i;

	if (list == NULL)
		return NULL;
	n = lib->address_list_length(list);
	for (i = 0; i < n; i++) {
		InternetAddress *a = lib->address_list_get_address(list, i);
		const char *addr;

		if (!mime_lib_is_a(lib, a, lib->mailbox_type))
			continue;
		addr = lib->mailbox_get_addr((InternetAddressMailbox *)a);
		if (addr != NULL && addr[0] != '\0')
			return clean_dup(addr, true, MAIL_IN_SUBJECT_MAX);
	}
	return NULL;
}

/* Whether @v (a header value) starts with @word as a whole word, case-insensitive. */
static bool
value_is(const char *v, const char *word)
{
	size_t n = strlen(word);

	while (*v == ' ' || *v == '\t')
		v++;
	return strncasecmp(v, word, n) == 0 && (v[n] == '\0' || v[n] == ';' || v[n] == ' ' ||
	                                        v[n] == '\t' || v[n] == '\r' || v[n] == '\n');
}

/* Whether @v contains @word, case-insensitive. */
static bool
value_has(const char *v, const char *word)
{
	return find_ci(v, strlen(v), word) < strlen(v);
}

/* Keep the robot reason that comes first in the enum. */
static void
robot_set(enum mail_in_robot *r, enum mail_in_robot why)
{
	if (*r == MAIL_IN_HUMAN || why < *r)
		*r = why;
}

/* The headers of @msg into @out (not text, not parts); @envelope_from as mail_in_parse(). */
static void
read_headers(const struct mime_lib *lib, GMimeMessage *msg, const char *envelope_from,
             struct mail_in *out)
{
	GMimeHeaderList *hl = lib->object_get_header_list((GMimeObject *)msg);
	int n = hl != NULL ? lib->header_list_get_count(hl) : 0, i;
	const char *subj = lib->message_get_subject(msg), *id = lib->message_get_message_id(msg);
	InternetAddressList *to = lib->message_get_to(msg);
	char *return_path = NULL;

	for (i = 0; i < n; i++) {
		GMimeHeader *h = lib->header_list_get_header_at(hl, i);
		const char *name = lib->header_get_name(h), *v = lib->header_get_value(h);

		if (name == NULL)
			continue;
		if (v == NULL)
			v = "";
		if (strcasecmp(name, "Auto-Submitted") == 0 && !value_is(v, "no"))
			robot_set(&out->robot, MAIL_IN_AUTO_SUBMITTED);
		else if (strcasecmp(name, "Precedence") == 0 &&
		         (value_is(v, "bulk") || value_is(v, "junk") || value_is(v, "list")))
			robot_set(&out->robot, MAIL_IN_PRECEDENCE);
		else if (strcasecmp(name, "List-Id") == 0 ||
		         strcasecmp(name, "List-Unsubscribe") == 0 ||
		         strcasecmp(name, "List-Post") == 0)
			robot_set(&out->robot, MAIL_IN_LIST);
		else if (strcasecmp(name, "X-Auto-Response-Suppress") == 0 &&
		         (value_has(v, "all") || value_has(v, "oof") || value_has(v, "autoreply")))
			robot_set(&out->robot, MAIL_IN_AUTORESPONDER);
		else if (strcasecmp(name, "X-Autoreply") == 0 ||
		         strcasecmp(name, "X-Autorespond") == 0)
			robot_set(&out->robot, MAIL_IN_AUTORESPONDER);
		else if (strcasecmp(name, "Return-Path") == 0 && return_path == NULL)
			return_path = addr_dup(v);
		else if (strcasecmp(name, "Date") == 0 && out->date == NULL)
			out->date = addr_dup(v); /* trimmed (a Date is never in <>) */
	}
	if (envelope_from != NULL) {
		out->return_path = addr_dup(envelope_from);
		free_wipe(return_path);
	} else {
		out->return_path = return_path;
	}
	if (out->return_path != NULL && out->return_path[0] == '\0')
		robot_set(&out->robot, MAIL_IN_NULL_SENDER);
	out->from = first_mailbox(lib, lib->message_get_from(msg));
	out->reply_to = first_mailbox(lib, lib->message_get_reply_to(msg));
	if (out->from != NULL) {
		const char *at = strrchr(out->from, '@');
		size_t local = at != NULL ? (size_t)(at - out->from) : strlen(out->from);

		if ((local == 13 && strncasecmp(out->from, "mailer-daemon", 13) == 0) ||
		    (local == 10 && strncasecmp(out->from, "postmaster", 10) == 0))
			robot_set(&out->robot, MAIL_IN_DAEMON);
	}
	if (to != NULL && lib->address_list_length(to) > 0) {
		char *s = lib->address_list_to_string(to, NULL, FALSE);

		out->to = clean_dup(s, true, MAIL_IN_TEXT_MAX);
		gfree_wipe(lib, s);
	}
	out->message_id =
	    id != NULL && id[0] != '\0' ? clean_dup(id, true, MAIL_IN_SUBJECT_MAX) : NULL;
	out->subject = clean_dup(subj != NULL ? subj : "", true, MAIL_IN_SUBJECT_MAX);
}

/* ---- the parse ---- */

/* Parse @len bytes at @raw into *@msg with GMime (caller unrefs it and steals @ba). */
static lethe_rc
gmime_parse(const struct mime_lib *lib, const char *raw, size_t len, GByteArray **ba,
            GMimeStream **stream, GMimeMessage **msg, struct lethe_err *err)
{
	GMimeParser *parser;
	GMimeHeaderList *hl;

	/* An mbox "From " line (a Maildir file converted from an mbox) is not a header. */
	if (len >= 5 && memcmp(raw, "From ", 5) == 0) {
		const char *nl = memchr(raw, '\n', len);
		size_t skip = nl != NULL ? (size_t)(nl - raw) + 1 : len;

		raw += skip;
		len -= skip;
	}
	/* Borrowed, not copied: nothing writes to a stream the parser reads. */
	*ba = lib->byte_array_new_take((guint8 *)(uintptr_t)raw, len);
	*stream = lib->stream_mem_new_with_byte_array(*ba);
	lib->stream_mem_set_owner((GMimeStreamMem *)*stream, FALSE);
	parser = lib->parser_new_with_stream(*stream);
	*msg = lib->parser_construct_message(parser, NULL);
	lib->object_unref(parser);
	if (*msg == NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "mail: not a readable message (no header block)");
	hl = lib->object_get_header_list((GMimeObject *)*msg);
	if (hl == NULL || lib->header_list_get_count(hl) == 0)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "mail: not a readable message (no header block)");
	return LETHE_OK;
}

/* Release what gmime_parse() made. */
static void
gmime_done(const struct mime_lib *lib, GByteArray *ba, GMimeStream *stream, GMimeMessage *msg)
{
	if (msg != NULL)
		lib->object_unref(msg);
	if (stream != NULL)
		lib->object_unref(stream);
	if (ba != NULL)
		(void)lib->byte_array_steal(ba, NULL); /* frees the array, not the bytes */
}

/* Every string of @out not set yet made "" where the contract says so. */
static void
fill_empty(struct mail_in *out)
{
	if (out->subject == NULL)
		out->subject = xstrdup("");
	if (out->text == NULL)
		out->text = xstrdup("");
}

lethe_rc
mail_in_parse(const char *raw, size_t len, const char *envelope_from,
              const struct mail_in_limits *lim, struct mail_in *out, struct lethe_err *err)
{
	const struct mime_lib *lib = NULL;
	GByteArray *ba = NULL;
	GMimeStream *stream = NULL;
	GMimeMessage *msg = NULL;
	struct walk w;
	struct gather g;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	out->bytes = len;
	gather_init(&g);
	if (len > lim->max_size) {
		rc = lethe_err_set(err, LETHE_E_TOOBIG,
		                   "mail: message too large (%zu bytes; at most %zu)", len,
		                   lim->max_size);
		goto out;
	}
	if ((lib = mime_lib(err)) == NULL) {
		rc = LETHE_E_INTERNAL;
		goto out;
	}
	rc = gmime_parse(lib, raw, len, &ba, &stream, &msg, err);
	if (rc != LETHE_OK)
		goto done;
	read_headers(lib, msg, envelope_from, out);
	if (is_type(lib, lib->message_get_mime_part(msg), "multipart", "report"))
		robot_set(&out->robot, MAIL_IN_REPORT);
	memset(&w, 0, sizeof(w));
	w.lib = lib;
	w.max_parts = lim->max_parts;
	w.err = err;
	walk_message(&w, msg, 1, &g);
	out->parts = w.parts;
	out->forwarded = w.forwarded;
	if ((rc = w.rc) != LETHE_OK)
		goto done;
	out->from_html = !g.had_plain && g.html.len > 0;
	out->text_cut = g.had_plain ? g.plain.cut : g.html.cut;
	out->text = sb_take(g.had_plain ? &g.plain : &g.html);
	utf8_cut(out->text, MAIL_IN_TEXT_MAX);
done:
	gmime_done(lib, ba, stream, msg);
out:
	gather_free(&g);
	fill_empty(out);
	return rc;
}

lethe_rc
mail_in_parse_head(const char *raw, size_t len, const char *envelope_from, struct mail_in *out,
                   struct lethe_err *err)
{
	const struct mime_lib *lib = NULL;
	GByteArray *ba = NULL;
	GMimeStream *stream = NULL;
	GMimeMessage *msg = NULL;
	size_t n = len < MAIL_IN_HEADERS_MAX ? len : MAIL_IN_HEADERS_MAX, i;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	out->bytes = len;
	/* The header block only: up to the first empty line (its LF kept). */
	for (i = 0; i < n; i++)
		if (raw[i] == '\n' && ((i + 1 < n && raw[i + 1] == '\n') ||
		                       (i + 2 < n && raw[i + 1] == '\r' && raw[i + 2] == '\n'))) {
			n = i + 1;
			break;
		}
	if ((lib = mime_lib(err)) == NULL) {
		rc = LETHE_E_INTERNAL;
		goto out;
	}
	rc = gmime_parse(lib, raw, n, &ba, &stream, &msg, err);
	if (rc == LETHE_OK)
		read_headers(lib, msg, envelope_from, out);
	gmime_done(lib, ba, stream, msg);
out:
	fill_empty(out);
	return rc;
}

void
mail_in_free(struct mail_in *m)
{
	free_wipe(m->from);
	free_wipe(m->reply_to);
	free_wipe(m->return_path);
	free_wipe(m->to);
	free_wipe(m->date);
	free_wipe(m->message_id);
	free_wipe(m->subject);
	free_wipe(m->text);
	sodium_memzero(m, sizeof(*m));
}

const char *
mail_in_robot_str(enum mail_in_robot r)
{
	switch (r) {
	case MAIL_IN_HUMAN:
		return "human";
	case MAIL_IN_AUTO_SUBMITTED:
		return "auto-submitted";
	case MAIL_IN_PRECEDENCE:
		return "precedence";
	case MAIL_IN_LIST:
		return "list";
	case MAIL_IN_NULL_SENDER:
		return "null sender";
	case MAIL_IN_REPORT:
		return "delivery report";
	case MAIL_IN_AUTORESPONDER:
		return "autoresponder";
	case MAIL_IN_DAEMON:
		return "mailer daemon";
	}
	return "unknown";
}
