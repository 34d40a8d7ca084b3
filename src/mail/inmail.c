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
 * its part sat.  A text part's bytes come from GMime transfer-decoded; their
 * charset is converted here (part_text(): GMime's own conversion drops the
 * bytes it cannot decode).  Every string that leaves GMime is made valid
 * UTF-8 (each invalid byte becomes U+FFFD) and wiped before it is freed:
 * it is personal data.  Nothing here logs.  The string builder that makes it
 * valid is mail/textbuf.c; HTML parts become text in mail/html_text.c.
 *
 * GMime's parser builds the whole tree before the walk counts it; it
 * bounds its own nesting (1024 multipart levels, 512 message/rfc822
 * levels in 3.2.13: deeper parts are read as leaves), which a 256 KiB
 * thread stack takes (docs/internals/mail-intake.md).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <iconv.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/inmail.h"
#include "mail/mime_lib.h"
#include "mail/textbuf.h"
#include "util/mem.h"

/* @p (NUL-terminated or NULL) as a new valid UTF-8 string (see textbuf_add_text); NULL if @p is. */
static char *
clean_dup(const char *p, bool oneline, size_t max)
{
	struct textbuf s;
	char *r;

	if (p == NULL)
		return NULL;
	textbuf_init(&s, max);
	textbuf_add_text(&s, p, strlen(p), oneline);
	r = textbuf_take(&s);
	textbuf_utf8_cut(r, max);
	return r;
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

/* ---- a text part's text ---- */

/* Whether text in @charset (a charset= parameter; NULL if none) is read as UTF-8 as it is. */
static bool
charset_is_utf8(const char *charset)
{
	static const char *const same[] = {"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968"};
	size_t i;

	if (charset == NULL)
		return true;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (strcasecmp(charset, same[i]) == 0)
			return true;
	return false;
}

/*
 * The @n bytes at @p converted with @cd (to UTF-8) onto the end of @out as
 * text (textbuf_add_text()), a chunk at a time; a CR that ends a chunk
 * waits for the next one, so a CRLF split between two is still one line
 * end.  Where iconv stops at a byte the charset cannot decode (EILSEQ) or
 * at a sequence cut short by the end (EINVAL), that byte becomes U+FFFD
 * and the conversion goes on after it: GMime's charset filter skips such
 * bytes, so a Windows-1252 "M\x81ller" read "Mller", another name.
 */
static void
convert(iconv_t cd, const char *p, size_t n, struct textbuf *out)
{
	char chunk[4096], *in = (char *)(uintptr_t)p, *o;
	size_t left = n, room, used, keep = 0;
	bool bad;

	while (left > 0 && !out->cut) {
		o = chunk + keep;
		room = sizeof(chunk) - keep;
		bad = iconv(cd, &in, &left, &o, &room) == (size_t)-1 && errno != E2BIG;
		used = (size_t)(o - chunk);
		keep = !bad && used > 0 && chunk[used - 1] == '\r' ? 1 : 0;
		textbuf_add_text(out, chunk, used - keep, false);
		if (keep == 1)
			chunk[0] = '\r';
		if (bad) {
			textbuf_add_cp(out, TEXTBUF_REPLACEMENT);
			in++;
			left--;
		}
	}
	o = chunk + keep; /* a stateful charset (ISO-2022-JP) back to its initial state */
	room = sizeof(chunk) - keep;
	(void)iconv(cd, NULL, NULL, &o, &room);
	textbuf_add_text(out, chunk, (size_t)(o - chunk), false);
	sodium_memzero(chunk, sizeof(chunk));
}

/*
 * The text of the text part @obj (its @content) onto the end of @out as
 * valid UTF-8 (textbuf_add_text(): invalid bytes as U+FFFD, line ends as
 * LF, controls as spaces).  GMime decodes the transfer encoding; the
 * charset is lethe's: UTF-8, US-ASCII or none are checked as UTF-8 as they
 * are, any other charset GMime's iconv knows is converted by convert(),
 * and one it does not know is read as UTF-8.  The decoded bytes are wiped.
 */
static void
part_text(const struct mime_lib *lib, GMimeObject *obj, GMimeDataWrapper *content,
          struct textbuf *out)
{
	GMimeContentType *ct = lib->object_get_content_type(obj);
	const char *charset = ct != NULL ? lib->content_type_get_parameter(ct, "charset") : NULL;
	GMimeStream *mem = lib->stream_mem_new();
	GByteArray *ba;
	iconv_t cd = (iconv_t)-1;

	(void)lib->data_wrapper_write_to_stream(content, mem);
	ba = lib->stream_mem_get_byte_array((GMimeStreamMem *)mem);
	if (!charset_is_utf8(charset))
		cd = lib->iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1) {
		textbuf_add_text(out, (const char *)ba->data, ba->len, false);
	} else {
		convert(cd, (const char *)ba->data, ba->len, out);
		(void)lib->iconv_close(cd);
	}
	if (ba->len > 0)
		sodium_memzero(ba->data, ba->len);
	lib->object_unref(mem); /* frees the array: the stream owns it */
}

/* ---- the walk ---- */

/* What one message (the top one or a forwarded one) gathers. */
struct gather {
	struct textbuf plain; /* its text/plain parts */
	struct textbuf html;  /* its text/html parts, as text */
	bool had_plain;       /* it has a text/plain part (even an empty one) */
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
	textbuf_init(&g->plain, MAIL_IN_TEXT_MAX);
	textbuf_init(&g->html, MAIL_IN_TEXT_MAX);
	g->had_plain = false;
}

static void
gather_free(struct gather *g)
{
	textbuf_free(&g->plain);
	textbuf_free(&g->html);
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
		const struct textbuf *t;

		if (inner == NULL)
			return;
		w->forwarded++;
		gather_init(&sub);
		walk_message(w, inner, depth + 1, &sub);
		if (collect && w->rc == LETHE_OK) {
			subj = lib->message_get_subject(inner);
			t = sub.had_plain ? &sub.plain : &sub.html;
			textbuf_endline(&g->plain);
			textbuf_endline(&g->html);
			if (subj != NULL) {
				char *s = clean_dup(subj, true, MAIL_IN_SUBJECT_MAX);

				textbuf_add(&g->plain, "Subject: ", 9);
				textbuf_add(&g->plain, s, strlen(s));
				textbuf_addc(&g->plain, '\n');
				textbuf_add(&g->html, "Subject: ", 9);
				textbuf_add(&g->html, s, strlen(s));
				textbuf_addc(&g->html, '\n');
				free_wipe(s);
			}
			if (t->len > 0) {
				textbuf_add(&g->plain, t->p, t->len);
				textbuf_add(&g->html, t->p, t->len);
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
		GMimeDataWrapper *content = lib->part_get_content((GMimePart *)obj);

		g->had_plain = true;
		if (content != NULL) {
			textbuf_endline(&g->plain);
			part_text(lib, obj, content, &g->plain);
		}
	} else if (is_type(lib, obj, "text", "html")) {
		GMimeContentDisposition *cd = lib->object_get_content_disposition(obj);
		GMimeDataWrapper *content = lib->part_get_content((GMimePart *)obj);
		struct textbuf src;
		char *t;

		if ((cd != NULL && lib->content_disposition_is_attachment(cd)) || content == NULL)
			return;
		textbuf_init(&src, SIZE_MAX);
		part_text(lib, obj, content, &src);
		t = mail_in_html_text(src.p != NULL ? src.p : "", src.len, MAIL_IN_TEXT_MAX + 1);
		textbuf_free(&src);
		textbuf_endline(&g->html);
		textbuf_add_text(&g->html, t, strlen(t), false);
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
	size_t n = strlen(word);

	for (; *v != '\0'; v++)
		if (strncasecmp(v, word, n) == 0)
			return true;
	return false;
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

#define BOUNDARY_MAX 70 /* RFC 2046: a boundary is 1 to 70 characters */

/* True if the @n bytes at @p start with "boundary" (any case), then '=' (blanks around). */
static size_t
boundary_param(const char *p, size_t n)
{
	static const char name[] = "boundary";
	size_t i = sizeof(name) - 1;

	if (n < i || strncasecmp(p, name, i) != 0)
		return 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == '=' ? i + 1 : 0;
}

/*
 * Whether @raw can have at most @max_parts parts, judged before GMime
 * builds any: GMime makes a node of every part it meets, so a 10 MB mail
 * of empty parts would cost a million nodes (over a gigabyte and seconds
 * of CPU) before the walk could count them.  Every part opens with a
 * delimiter line ("--" and its multipart's boundary) and every multipart
 * closes with one, so a message of at most @max_parts parts has at most
 * 2 * @max_parts + 2 lines starting with "--" and a boundary declared in
 * it (a `boundary=` parameter anywhere, quoted or not; one named only in
 * RFC 2231 pieces is not seen, hence also a looser bound on every line
 * starting with "--").  More boundaries than @max_parts, or more such
 * lines: false.  An over-estimate (a signature's "-- " line, a quoted
 * boundary), never an under-estimate of a tree GMime would build.
 * Linear in @len times the boundaries (at most @max_parts).
 */
static bool
parts_bounded(const char *raw, size_t len, size_t max_parts)
{
	struct {
		const char *p;
		size_t n;
	} *b = xcalloc(max_parts + 1, sizeof(*b));
	size_t nb = 0, delims = 0, dashes = 0, i, j, k;
	bool ok = true, quoted;

	for (i = 0; ok && i < len; i++) {
		if (raw[i] != 'b' && raw[i] != 'B')
			continue;
		k = boundary_param(raw + i, len - i);
		if (k == 0)
			continue;
		i += k;
		while (i < len && (raw[i] == ' ' || raw[i] == '\t'))
			i++;
		quoted = i < len && raw[i] == '"';
		if (quoted)
			i++;
		/* The value: up to its closing quote, or a token up to ';' or a blank. */
		for (k = i; k < len && k - i <= BOUNDARY_MAX; k++)
			if (raw[k] == '"' || raw[k] == '\r' || raw[k] == '\n' ||
			    (!quoted && (raw[k] == ';' || raw[k] == ' ' || raw[k] == '\t')))
				break;
		if (k == i || k - i > BOUNDARY_MAX)
			continue;
		for (j = 0; j < nb && (b[j].n != k - i || memcmp(b[j].p, raw + i, k - i) != 0); j++)
			;
		if (j < nb)
			continue;
		if (nb == max_parts + 1) {
			ok = false;
			break;
		}
		b[nb].p = raw + i;
		b[nb++].n = k - i;
	}
	for (i = 0; ok && i + 2 <= len; i++) {
		if ((i > 0 && raw[i - 1] != '\n') || raw[i] != '-' || raw[i + 1] != '-')
			continue;
		dashes++;
		for (j = 0; j < nb; j++)
			if (len - i - 2 >= b[j].n && memcmp(raw + i + 2, b[j].p, b[j].n) == 0) {
				delims++;
				break;
			}
		ok = delims <= 2 * max_parts + 2 && dashes <= 16 * max_parts + 1024;
	}
	free(b);
	return ok;
}

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
	if (!parts_bounded(raw, len, lim->max_parts)) {
		rc = lethe_err_set(err, LETHE_E_TOOBIG, "mail: too many MIME parts (more than %zu)",
		                   lim->max_parts);
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
	out->text = textbuf_take(g.had_plain ? &g.plain : &g.html);
	textbuf_utf8_cut(out->text, MAIL_IN_TEXT_MAX);
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
	/* A delivery report says so in its top Content-Type: a header is enough to tell. */
	if (rc == LETHE_OK && is_type(lib, lib->message_get_mime_part(msg), "multipart", "report"))
		robot_set(&out->robot, MAIL_IN_REPORT);
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
