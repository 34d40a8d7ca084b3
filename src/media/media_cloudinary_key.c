/* SPDX-License-Identifier: MIT */
/*
 * media_cloudinary_key.c - the pure half of the Cloudinary kind: the
 * credentials URL, keys and delivery URLs, percent-encoding and the Admin
 * API's answers (media_cloudinary.h).  Thread-safe: no shared state.
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <sodium.h>

#include "media/media_cloudinary.h"
#include "util/mem.h"

#define SCHEME "cloudinary://"

static bool
is_ctl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

static bool
span_ok(const char *s, size_t n, const char *extra)
{
	size_t i;

	if (n == 0 || n > MEDIA_CLD_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      strchr(extra, ch) != NULL))
			return false;
	}
	return true;
}

bool
media_cld_cloud_ok(const char *s)
{
	return s != NULL && span_ok(s, strlen(s), "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-");
}

bool
media_cld_type_ok(const char *s)
{
	size_t i;

	if (s == NULL || !span_ok(s, strlen(s), "_"))
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] >= '0' && s[i] <= '9')
			return false;
	return true;
}

bool
media_cld_rt_ok(const char *s)
{
	return s != NULL &&
	       (strcmp(s, "image") == 0 || strcmp(s, "video") == 0 || strcmp(s, "raw") == 0);
}

bool
media_cld_cred_parse(const char *url, struct media_cld_cred *c)
{
	const char *p, *end, *at, *colon;
	size_t cloud_len;

	memset(c, 0, sizeof(*c));
	if (url == NULL || strncmp(url, SCHEME, strlen(SCHEME)) != 0)
		return false;
	p = url + strlen(SCHEME);
	end = p + strcspn(p, "?");
	at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	colon = memchr(p, ':', (size_t)(end - p));
	if (at == NULL || colon == NULL || colon > at || colon == p || colon + 1 == at)
		return false;
	for (const char *q = p; q < at; q++)
		if (is_ctl((unsigned char)*q) || *q == ' ' || *q == '/' ||
		    (*q == ':' && q != colon))
			return false;
	cloud_len = (size_t)(end - at - 1);
	if (!span_ok(at + 1, cloud_len, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-"))
		return false;
	memcpy(c->cloud, at + 1, cloud_len);
	c->cloud[cloud_len] = '\0';
	c->userpwd = xstrndup(p, (size_t)(at - p));
	return true;
}

void
media_cld_cred_clear(struct media_cld_cred *c)
{
	if (c->userpwd != NULL) {
		sodium_memzero(c->userpwd, strlen(c->userpwd));
		free(c->userpwd);
	}
	c->userpwd = NULL;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* @n bytes of @s percent-decoded into a fresh string; NULL if malformed or a control byte. */
static char *
pct_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t i, j = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '%') {
			hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				goto fail;
			ch = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (is_ctl(ch))
			goto fail;
		out[j++] = (char)ch;
	}
	out[j] = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

/*
 * Where the path of delivery URL @key starts (after "ORIGIN/"), if @key
 * lies under @origin or the same origin over the other scheme; NULL if not.
 */
static const char *
under_origin(const char *key, const char *origin)
{
	size_t n = strlen(origin);
	const char *host;

	if (strncmp(key, origin, n) == 0 && key[n] == '/')
		return key + n + 1;
	if (strncmp(origin, "https://", 8) == 0)
		host = origin + 8;
	else if (strncmp(origin, "http://", 7) == 0)
		host = origin + 7;
	else
		return NULL;
	n = strlen(host);
	if (strncmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncmp(key, "http://", 7) == 0)
		key += 7;
	else
		return NULL;
	if (strncmp(key, host, n) == 0 && key[n] == '/')
		return key + n + 1;
	return NULL;
}

/* Copy the segment at *@p (up to '/' or @end) into @dst if @ok accepts it; advance past it. */
static bool
take_seg(const char **p, const char *end, char *dst, bool (*ok)(const char *))
{
	const char *slash = memchr(*p, '/', (size_t)(end - *p));
	size_t n;

	if (slash == NULL)
		return false;
	n = (size_t)(slash - *p);
	if (n == 0 || n > MEDIA_CLD_NAME_MAX)
		return false;
	memcpy(dst, *p, n);
	dst[n] = '\0';
	*p = slash + 1;
	return ok(dst);
}

static bool
is_version(const char *s, size_t n)
{
	size_t i;

	if (n < 2 || s[0] != 'v')
		return false;
	for (i = 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * Whether segment @s (@n bytes) is a transformation: comma-separated
 * parameters, each a 1-3 letter name, '_', and a value (c_fill,w_100).
 */
static bool
is_transformation(const char *s, size_t n)
{
	size_t i = 0, name;

	while (i < n) {
		for (name = 0; i < n && s[i] >= 'a' && s[i] <= 'z'; i++)
			name++;
		if (name == 0 || name > 3 || i == n || s[i] != '_')
			return false;
		for (i++; i < n && s[i] != ','; i++)
			;
		if (i < n && ++i == n)
			return false; /* a trailing comma */
	}
	return n > 0;
}

/*
 * The start of the public id in delivery URL path @p (up to @end): past the
 * version segment (v123), when every segment before it is a transformation.
 * Without a version the split is ambiguous (c_fill/u17/p.jpg, u17/v2/p.jpg):
 * a guess could name the wrong asset, so NULL.
 */
static const char *
id_start(const char *p, const char *end)
{
	const char *s, *slash;

	for (s = p; s < end; s = slash + 1) {
		slash = memchr(s, '/', (size_t)(end - s));
		if (slash == NULL)
			return NULL;
		if (is_version(s, (size_t)(slash - s)))
			return slash + 1;
		if (!is_transformation(s, (size_t)(slash - s)))
			return NULL;
	}
	return NULL;
}

/* The public id of delivery URL path @p (after the origin) into @out. */
static bool
parse_url(const char *p, const char *cloud, struct media_cld_key *out)
{
	char seg[MEDIA_CLD_NAME_MAX + 1];
	const char *end = p + strcspn(p, "?#"), *s, *id, *dot;
	size_t n;

	if (!take_seg(&p, end, seg, media_cld_cloud_ok) || strcmp(seg, cloud) != 0)
		return false;
	if (!take_seg(&p, end, out->rt, media_cld_rt_ok) ||
	    !take_seg(&p, end, out->type, media_cld_type_ok))
		return false;
	id = id_start(p, end);
	if (id == NULL)
		return false;
	n = (size_t)(end - id);
	if (strcmp(out->rt, "raw") != 0) {
		dot = NULL;
		for (s = id; s < end; s++)
			if (*s == '.')
				dot = s;
			else if (*s == '/')
				dot = NULL;
		if (dot != NULL)
			n = (size_t)(dot - id);
	}
	if (n == 0 || n > MEDIA_CLD_ID_MAX)
		return false;
	out->public_id = pct_decode(id, n);
	if (out->public_id != NULL && out->public_id[0] == '\0') {
		free(out->public_id);
		out->public_id = NULL;
	}
	return out->public_id != NULL;
}

bool
media_cld_key_parse(const struct media_cloudinary *c, const char *cloud, const char *key,
                    struct media_cld_key *out)
{
	const char *path;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if (key == NULL || key[0] == '\0')
		return false;
	n = strlen(key);
	for (i = 0; i < n; i++)
		if (is_ctl((unsigned char)key[i]))
			return false;
	path = under_origin(key, c->delivery_url);
	if (path != NULL) {
		if (parse_url(path, cloud, out))
			return true;
		media_cld_key_free(out);
		return false;
	}
	if (strncmp(key, "https://", 8) == 0 || strncmp(key, "http://", 7) == 0)
		return false; /* a URL of another origin is no public id of ours */
	if (strlen(c->prefix) + n > MEDIA_CLD_ID_MAX)
		return false;
	snprintf(out->rt, sizeof(out->rt), "%s", c->resource_type);
	snprintf(out->type, sizeof(out->type), "%s", c->delivery_type);
	out->public_id = xasprintf("%s%s", c->prefix, key);
	return true;
}

void
media_cld_key_free(struct media_cld_key *k)
{
	free(k->public_id);
	k->public_id = NULL;
}

lethe_rc
media_cld_escape(struct buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	lethe_rc rc = LETHE_OK;
	char enc[3];

	for (; rc == LETHE_OK && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
		    (keep_slash && ch == '/')) {
			rc = buf_add(b, s, 1);
			continue;
		}
		enc[0] = '%';
		enc[1] = hex[ch >> 4];
		enc[2] = hex[ch & 15];
		rc = buf_add(b, enc, 3);
	}
	return rc;
}

lethe_rc
media_cld_delete_answer(const char *body, size_t len, const char *const *ids, size_t n,
                        enum media_outcome *out)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *deleted = json_object_get(o, "deleted");
	const char *v;
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = MEDIA_FAILED;
	if (!json_is_object(o) || !json_is_object(deleted)) {
		json_decref(o);
		return LETHE_E_INVALID;
	}
	for (i = 0; i < n; i++) {
		v = json_string_value(json_object_get(deleted, ids[i]));
		if (v != NULL && strcmp(v, "deleted") == 0)
			out[i] = MEDIA_REMOVED;
		else if (v != NULL && strcmp(v, "not_found") == 0)
			out[i] = MEDIA_GONE;
	}
	json_decref(o);
	return LETHE_OK;
}

lethe_rc
media_cld_probe_answer(const char *body, size_t len, const char *const *ids, size_t n,
                       enum media_presence *out)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *list = json_object_get(o, "resources"), *cursor;
	const char *id;
	size_t i, j;

	for (i = 0; i < n; i++)
		out[i] = MEDIA_UNKNOWN;
	if (!json_is_object(o) || !json_is_array(list)) {
		json_decref(o);
		return LETHE_E_INVALID;
	}
	/*
	 * A next_cursor means more of the listing lies on another page: an id
	 * not on this one may be there, so not listed is not absent.
	 */
	cursor = json_object_get(o, "next_cursor");
	for (i = 0; i < n; i++)
		out[i] = cursor == NULL || json_is_null(cursor) ? MEDIA_ABSENT : MEDIA_UNKNOWN;
	for (j = 0; j < json_array_size(list); j++) {
		id = json_string_value(json_object_get(json_array_get(list, j), "public_id"));
		for (i = 0; id != NULL && i < n; i++)
			if (strcmp(id, ids[i]) == 0)
				out[i] = MEDIA_PRESENT;
	}
	json_decref(o);
	return LETHE_OK;
}

char *
media_cld_secure_url(const char *body, size_t len, const char *delivery_url)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *u = json_string_value(json_object_get(o, "secure_url"));
	size_t n = strlen(delivery_url), i;
	char *out = NULL;

	if (u != NULL && strncmp(u, delivery_url, n) == 0 && u[n] == '/' && u[n + 1] != '\0') {
		for (i = 0; u[i] != '\0' && !is_ctl((unsigned char)u[i]) && u[i] != ' '; i++)
			;
		if (u[i] == '\0')
			out = xstrdup(u);
	}
	json_decref(o);
	return out;
}
