/* SPDX-License-Identifier: MIT */
/*
 * media_s3_xml.c - the reader of S3's XML answers (media_s3.h): a
 * DeleteObjects <DeleteResult> and an <Error> document.
 *
 * Not an XML parser: a reader of the little XML that S3 and S3-compatible
 * stores send, refusing everything else, so that no input makes it do
 * more than one pass over the bytes with fixed-size state.  Stateless
 * between calls; thread-safe.
 */
#include "util/fmacros.h"

#include <string.h>

#include "media/media_s3.h"
#include "util/mem.h"

#define XML_DEPTH_MAX 16
#define XML_NAME_MAX 64
#define XML_TEXT_MAX (8 * 1024)

/* The reader's state. */
struct xr {
	const char *p;                                 /* next byte */
	const char *end;                               /* one past the last byte */
	char path[XML_DEPTH_MAX * (XML_NAME_MAX + 1)]; /* open elements joined by '/' */
	size_t path_len;                               /* bytes of path */
	size_t start[XML_DEPTH_MAX];   /* where each open element's name starts in path */
	bool has_child[XML_DEPTH_MAX]; /* the open element has a child element */
	int depth;                     /* open elements */
	struct buf text;               /* the innermost element's decoded text */
	bool root_done;                /* the root element has ended */
};

static lethe_rc
bad(struct lethe_err *err, const char *what)
{
	return lethe_err_set(err, LETHE_E_INVALID, "unexpected XML from the store: %s", what);
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
all_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_space(s[i]))
			return false;
	return true;
}

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == ':';
}

/* Append code point @cp as UTF-8; false if it is not a character XML allows. */
static bool
add_utf8(struct buf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF || cp > 0x10FFFF)
		return false;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_add(b, u, n) == LETHE_OK;
}

/* &#N; or &#xN; at @s (@n bytes, the '#' onwards, ';' excluded) into @b. */
static bool
add_charref(struct buf *b, const char *s, size_t n)
{
	bool hex = n > 1 && s[1] == 'x';
	unsigned long cp = 0;
	size_t i = hex ? 2 : 1;

	if (i >= n || n - i > 8)
		return false;
	for (; i < n; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		cp = cp * (hex ? 16 : 10) + (unsigned long)d;
	}
	return add_utf8(b, cp);
}

/* The entity at x->p ('&') into the text; false if it is not one of S3's. */
static bool
add_entity(struct xr *x)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
	const char *semi =
	    memchr(x->p, ';', (size_t)(x->end - x->p) < 12 ? (size_t)(x->end - x->p) : 12);
	size_t n;

	if (semi == NULL)
		return false;
	n = (size_t)(semi - x->p - 1);
	if (n > 0 && x->p[1] == '#') {
		if (!add_charref(&x->text, x->p + 1, n))
			return false;
	} else {
		size_t i;

		for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++)
			if (strlen(ents[i].name) == n && memcmp(x->p + 1, ents[i].name, n) == 0)
				break;
		if (i == sizeof(ents) / sizeof(ents[0]) ||
		    buf_add(&x->text, &ents[i].c, 1) != LETHE_OK)
			return false;
	}
	x->p = semi + 1;
	return true;
}

/* Text up to the next '<' into x->text, entities decoded. */
static lethe_rc
read_text(struct xr *x, struct lethe_err *err)
{
	while (x->p < x->end && *x->p != '<') {
		const char *run = x->p;

		if (*x->p == '&') {
			if (!add_entity(x))
				return bad(err, "an entity it does not send");
			continue;
		}
		while (x->p < x->end && *x->p != '<' && *x->p != '&')
			x->p++;
		if (memchr(run, '\0', (size_t)(x->p - run)) != NULL)
			return bad(err, "a NUL byte");
		if (buf_add(&x->text, run, (size_t)(x->p - run)) != LETHE_OK)
			return bad(err, "text too long");
	}
	if (x->depth == 0 && !all_space(buf_str(&x->text), x->text.len))
		return bad(err, "text outside the root element");
	return LETHE_OK;
}

/* A name at x->p: its length (1..XML_NAME_MAX), or 0. */
static size_t
read_name(struct xr *x)
{
	size_t n = 0;

	while (x->p + n < x->end && name_char(x->p[n]))
		n++;
	return n <= XML_NAME_MAX ? n : 0;
}

/* Skip attributes up to '>' or "/>": name="value" or name='value', values unread. */
static lethe_rc
skip_attrs(struct xr *x, bool *empty, struct lethe_err *err)
{
	for (;;) {
		const char *q;
		size_t n;

		while (x->p < x->end && is_space(*x->p))
			x->p++;
		if (x->p < x->end && *x->p == '>') {
			x->p++;
			*empty = false;
			return LETHE_OK;
		}
		if (x->end - x->p >= 2 && x->p[0] == '/' && x->p[1] == '>') {
			x->p += 2;
			*empty = true;
			return LETHE_OK;
		}
		n = read_name(x);
		if (n == 0)
			return bad(err, "a malformed tag");
		x->p += n;
		if (x->end - x->p < 2 || x->p[0] != '=' || (x->p[1] != '"' && x->p[1] != '\''))
			return bad(err, "a malformed attribute");
		q = memchr(x->p + 2, x->p[1], (size_t)(x->end - x->p - 2));
		if (q == NULL || memchr(x->p + 2, '<', (size_t)(q - x->p - 2)) != NULL)
			return bad(err, "a malformed attribute");
		x->p = q + 1;
	}
}

/* The end of the innermost element: the callback, then pop it. */
static lethe_rc
close_element(struct xr *x, media_s3_xml_fn fn, void *ctx, struct lethe_err *err)
{
	int d = x->depth - 1;
	lethe_rc rc;

	if (x->has_child[d] && !all_space(buf_str(&x->text), x->text.len))
		return bad(err, "mixed content");
	rc = fn(ctx, x->path, x->has_child[d] ? NULL : buf_str(&x->text),
	        x->has_child[d] ? 0 : x->text.len);
	if (rc != LETHE_OK)
		return rc;
	buf_reset(&x->text);
	x->path_len = d > 0 ? x->start[d] - 1 : 0;
	x->path[x->path_len] = '\0';
	x->depth = d;
	if (d == 0)
		x->root_done = true;
	return LETHE_OK;
}

static lethe_rc
open_element(struct xr *x, media_s3_xml_fn fn, void *ctx, struct lethe_err *err)
{
	size_t n;
	bool empty = false;
	lethe_rc rc;

	x->p++; /* '<' */
	n = read_name(x);
	if (n == 0)
		return bad(err, "a malformed tag");
	if (x->root_done || x->depth == XML_DEPTH_MAX)
		return bad(err, x->root_done ? "a second root element" : "nesting too deep");
	if (x->depth > 0) {
		if (!all_space(buf_str(&x->text), x->text.len))
			return bad(err, "mixed content");
		x->has_child[x->depth - 1] = true;
		x->path[x->path_len++] = '/';
	}
	buf_reset(&x->text);
	x->start[x->depth] = x->path_len;
	x->has_child[x->depth] = false;
	memcpy(x->path + x->path_len, x->p, n);
	x->path_len += n;
	x->path[x->path_len] = '\0';
	x->depth++;
	x->p += n;
	rc = skip_attrs(x, &empty, err);
	if (rc == LETHE_OK && empty)
		rc = close_element(x, fn, ctx, err);
	return rc;
}

static lethe_rc
end_tag(struct xr *x, media_s3_xml_fn fn, void *ctx, struct lethe_err *err)
{
	size_t n;

	x->p += 2; /* "</" */
	n = read_name(x);
	if (n == 0 || x->depth == 0)
		return bad(err, "a malformed end tag");
	if (n != x->path_len - x->start[x->depth - 1] ||
	    memcmp(x->p, x->path + x->start[x->depth - 1], n) != 0)
		return bad(err, "an end tag that does not match");
	x->p += n;
	while (x->p < x->end && is_space(*x->p))
		x->p++;
	if (x->p == x->end || *x->p != '>')
		return bad(err, "a malformed end tag");
	x->p++;
	return close_element(x, fn, ctx, err);
}

/* "<?xml ...?>" at the very start (after white space) only. */
static lethe_rc
declaration(struct xr *x, struct lethe_err *err)
{
	const char *q;

	while (x->p < x->end && is_space(*x->p))
		x->p++;
	if (x->end - x->p < 5 || memcmp(x->p, "<?xml", 5) != 0)
		return LETHE_OK;
	for (q = x->p + 5; q + 1 < x->end; q++)
		if (q[0] == '?' && q[1] == '>')
			break;
	if (q + 1 >= x->end)
		return bad(err, "an unterminated declaration");
	x->p = q + 2;
	return LETHE_OK;
}

lethe_rc
media_s3_xml_read(const char *xml, size_t len, media_s3_xml_fn fn, void *ctx, struct lethe_err *err)
{
	struct xr x;
	lethe_rc rc;

	memset(&x, 0, sizeof(x));
	x.p = xml;
	x.end = xml + len;
	buf_init(&x.text, XML_TEXT_MAX);
	rc = declaration(&x, err);
	while (rc == LETHE_OK && x.p < x.end) {
		if (*x.p != '<')
			rc = read_text(&x, err);
		else if (x.end - x.p >= 2 && x.p[1] == '/')
			rc = end_tag(&x, fn, ctx, err);
		else if (x.end - x.p >= 2 && (x.p[1] == '!' || x.p[1] == '?'))
			rc = bad(err, "a comment, DOCTYPE, CDATA or processing instruction");
		else
			rc = open_element(&x, fn, ctx, err);
	}
	if (rc == LETHE_OK && x.depth != 0)
		rc = bad(err, "an unclosed element");
	else if (rc == LETHE_OK && !x.root_done)
		rc = bad(err, "no root element");
	buf_free(&x.text);
	return rc;
}

/* ---- DeleteResult and Error ------------------------------------------------------ */

/* The state of reading a DeleteResult. */
struct delete_read {
	const char *const *keys;          /* the keys sent */
	size_t n;                         /* their number */
	char (*codes)[MEDIA_S3_CODE_MAX]; /* per key: "" or the error code */
	char *key;                        /* the current <Error>'s <Key>, or NULL */
	char code[MEDIA_S3_CODE_MAX];     /* the current <Error>'s <Code> */
	bool root_ok;                     /* the root is DeleteResult */
	struct lethe_err *err;            /* where a failure says why */
};

/* @text as an error code: letters and digits, at most MEDIA_S3_CODE_MAX - 1, else "Unknown". */
static void
set_code(char code[MEDIA_S3_CODE_MAX], const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') ||
		      (text[i] >= '0' && text[i] <= '9')))
			break;
	if (len == 0 || i < len || len >= MEDIA_S3_CODE_MAX)
		snprintf(code, MEDIA_S3_CODE_MAX, "Unknown");
	else
		snprintf(code, MEDIA_S3_CODE_MAX, "%s", text);
}

/* An <Error> has ended: mark its key's code. */
static lethe_rc
delete_error(struct delete_read *d)
{
	size_t i;

	if (d->key == NULL)
		return bad(d->err, "an Error entry without a Key");
	for (i = 0; i < d->n; i++)
		if (strcmp(d->keys[i], d->key) == 0)
			break;
	free(d->key);
	d->key = NULL;
	if (i == d->n)
		return bad(d->err, "an Error entry for a key that was not sent");
	snprintf(d->codes[i], MEDIA_S3_CODE_MAX, "%s", d->code[0] != '\0' ? d->code : "Unknown");
	d->code[0] = '\0';
	return LETHE_OK;
}

static lethe_rc
delete_fn(void *ctx, const char *path, const char *text, size_t len)
{
	struct delete_read *d = ctx;

	if (strcmp(path, "DeleteResult") == 0) {
		d->root_ok = true;
	} else if (strncmp(path, "DeleteResult", 12) != 0) {
		return bad(d->err, "not a DeleteResult");
	} else if (strcmp(path, "DeleteResult/Error/Key") == 0 && text != NULL) {
		free(d->key);
		d->key = xstrndup(text, len);
	} else if (strcmp(path, "DeleteResult/Error/Code") == 0 && text != NULL) {
		set_code(d->code, text, len);
	} else if (strcmp(path, "DeleteResult/Error") == 0) {
		return delete_error(d);
	}
	return LETHE_OK;
}

lethe_rc
media_s3_delete_result(const char *xml, size_t len, const char *const *keys, size_t n,
                       char (*codes)[MEDIA_S3_CODE_MAX], struct lethe_err *err)
{
	struct delete_read d = {.keys = keys, .n = n, .codes = codes, .err = err};
	lethe_rc rc;

	for (size_t i = 0; i < n; i++)
		codes[i][0] = '\0';
	rc = media_s3_xml_read(xml, len, delete_fn, &d, err);
	free(d.key);
	if (rc == LETHE_OK && !d.root_ok)
		rc = bad(err, "not a DeleteResult");
	return rc;
}

static lethe_rc
error_fn(void *ctx, const char *path, const char *text, size_t len)
{
	if (strcmp(path, "Error/Code") == 0 && text != NULL)
		set_code(ctx, text, len);
	return LETHE_OK;
}

void
media_s3_error_code(const char *xml, size_t len, char code[MEDIA_S3_CODE_MAX])
{
	code[0] = '\0';
	if (media_s3_xml_read(xml, len, error_fn, code, NULL) != LETHE_OK)
		code[0] = '\0';
}

lethe_rc
media_s3_xml_escape(struct buf *out, const char *s)
{
	lethe_rc rc = LETHE_OK;

	for (; rc == LETHE_OK && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			rc = buf_adds(out, "&amp;");
			break;
		case '<':
			rc = buf_adds(out, "&lt;");
			break;
		case '>':
			rc = buf_adds(out, "&gt;");
			break;
		case '"':
			rc = buf_adds(out, "&quot;");
			break;
		case '\'':
			rc = buf_adds(out, "&apos;");
			break;
		default:
			rc = buf_add(out, s, 1);
		}
	}
	return rc;
}
