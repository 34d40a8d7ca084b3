/* SPDX-License-Identifier: MIT */
/*
 * media_s3_conf.c - an s3 media store's section of lethe.yaml
 * (media_s3_parse()): bucket, region, endpoint, path style, prefix and
 * where the credentials live, checked before any call is made.  The calls
 * themselves are media_s3.c's; docs/media.md documents every key.
 */
#include "util/fmacros.h"

#include <string.h>

#include "media/media_s3.h"
#include "util/mem.h"

static const char *const s3_keys[] = {"bucket", "region",          "endpoint",         "path_style",
                                      "prefix", "credentials_env", "credentials_file", NULL};

/* ---- lethe.yaml ------------------------------------------------------------------- */

/* The kind's keys plus media_common_keys, NULL-terminated, into @all. */
static void
all_keys(const char **all, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; s3_keys[i] != NULL && n + 1 < cap; i++)
		all[n++] = s3_keys[i];
	for (size_t i = 0; media_common_keys[i] != NULL && n + 1 < cap; i++)
		all[n++] = media_common_keys[i];
	all[n] = NULL;
}

/* Optional string key @key of @n: *@out a copy, NULL if absent; refused if not a scalar. */
static lethe_rc
opt_str(struct ydoc *y, yaml_node_t *n, const char *key, char **out, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, n, key);
	const char *s = ynode_str(v);

	*out = NULL;
	if (v == NULL)
		return LETHE_OK;
	if (s == NULL)
		return ynode_fail(y, v, LETHE_E_CONFIG, err, "%s: expected a string", key);
	*out = xstrdup(s);
	return LETHE_OK;
}

static bool
all_of(const char *s, const char *set, size_t min, size_t max)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, set) == n;
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* An endpoint: http(s)://host[:port] with nothing after but one '/' (dropped). */
static bool
endpoint_ok(char *e)
{
	const char *host;
	size_t n = strlen(e);

	if (n > 0 && e[n - 1] == '/')
		e[--n] = '\0';
	if (strncmp(e, "https://", 8) == 0)
		host = e + 8;
	else if (strncmp(e, "http://", 7) == 0)
		host = e + 7;
	else
		return false;
	return all_of(host, LOWER_DIGITS UPPER ".-:[]", 1, 255);
}

static bool
bucket_ok(const char *b, bool path_style)
{
	size_t n = strlen(b);

	if (path_style)
		return all_of(b, LOWER_DIGITS UPPER "._-", 1, 255);
	/* A DNS name's label(s): the virtual-host style puts it in the host name. */
	return all_of(b, LOWER_DIGITS ".-", 3, 63) && b[0] != '.' && b[0] != '-' &&
	       b[n - 1] != '.' && b[n - 1] != '-';
}

static bool
prefix_ok(const char *p)
{
	for (const unsigned char *c = (const unsigned char *)p; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return strlen(p) < MEDIA_S3_KEY_MAX;
}

static lethe_rc
parse_path_style(struct ydoc *y, yaml_node_t *n, bool *out, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, n, "path_style");
	const char *s = ynode_str(v);

	*out = false;
	if (v == NULL)
		return LETHE_OK;
	if (s != NULL && strcmp(s, "true") == 0)
		*out = true;
	else if (s == NULL || strcmp(s, "false") != 0)
		return ynode_fail(y, v, LETHE_E_CONFIG, err, "path_style: expected true or false");
	return LETHE_OK;
}

lethe_rc
media_s3_parse(const char *dir, struct ydoc *y, yaml_node_t *n, struct media_store *m,
               struct lethe_err *err)
{
	struct media_s3 *s = &m->u.s3;
	const char *all[32];
	lethe_rc rc;

	m->ops = &media_s3_ops;
	all_keys(all, sizeof(all) / sizeof(all[0]));
	rc = ymap_check_keys(y, n, all, "an s3 media store", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = opt_str(y, n, "bucket", &s->bucket, err);
	if (rc == LETHE_OK)
		rc = opt_str(y, n, "region", &s->region, err);
	if (rc == LETHE_OK)
		rc = opt_str(y, n, "endpoint", &s->endpoint, err);
	if (rc == LETHE_OK)
		rc = opt_str(y, n, "prefix", &s->prefix, err);
	if (rc == LETHE_OK)
		rc = parse_path_style(y, n, &s->path_style, err);
	if (rc != LETHE_OK)
		return rc;
	if (s->region == NULL || !all_of(s->region, LOWER_DIGITS "-", 1, 64))
		return ynode_fail(
		    y, s->region != NULL ? ymap_get(y, n, "region") : n, LETHE_E_CONFIG, err,
		    "region: required, e.g. eu-west-1 (lower-case letters, digits, -)");
	if (s->bucket == NULL || !bucket_ok(s->bucket, s->path_style))
		return ynode_fail(y, s->bucket != NULL ? ymap_get(y, n, "bucket") : n,
		                  LETHE_E_CONFIG, err,
		                  s->path_style ? "bucket: required (letters, digits, . _ -)"
		                                : "bucket: required, a DNS-compatible bucket name "
		                                  "(3-63 of a-z 0-9 . -; or set path_style: true)");
	if (s->endpoint == NULL)
		s->endpoint = xasprintf("https://s3.%s.amazonaws.com", s->region);
	else if (!endpoint_ok(s->endpoint))
		return ynode_fail(y, ymap_get(y, n, "endpoint"), LETHE_E_CONFIG, err,
		                  "endpoint: expected http(s)://host[:port], without a path");
	/* AWS's certificate for *.s3.REGION.amazonaws.com covers one label: a.b.s3... fails. */
	if (!s->path_style && strchr(s->bucket, '.') != NULL &&
	    strncmp(s->endpoint, "https://", 8) == 0)
		return ynode_fail(y, ymap_get(y, n, "bucket"), LETHE_E_CONFIG, err,
		                  "bucket: a name with dots cannot be reached over https in the "
		                  "virtual-host style (the store's certificate covers one label "
		                  "before its host name): set path_style: true");
	if (s->prefix == NULL)
		s->prefix = xstrdup("");
	else if (!prefix_ok(s->prefix))
		return ynode_fail(y, ymap_get(y, n, "prefix"), LETHE_E_CONFIG, err,
		                  "prefix: no control characters, under %d bytes",
		                  MEDIA_S3_KEY_MAX);
	rc = media_secret_parse(dir, y, n, &s->credentials, err);
	if (rc != LETHE_OK)
		return rc;
	m->where = xasprintf("s3 bucket %s at %s", s->bucket, s->endpoint);
	m->batch = MEDIA_BATCH_MAX;
	return LETHE_OK;
}
