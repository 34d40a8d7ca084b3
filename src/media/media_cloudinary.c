/* SPDX-License-Identifier: MIT */
/*
 * media_cloudinary.c - the cloudinary kind: assets removed, probed and read
 * through Cloudinary's Admin API (docs/internals/media.md "## cloudinary").
 *
 *   remove: DELETE {api}/v1_1/{cloud}/resources/{rt}/{type}?public_ids[]=...
 *                  &invalidate=true
 *           answer {"deleted": {"id": "deleted" | "not_found"}}
 *   probe:  GET    {api}/v1_1/{cloud}/resources/{rt}/{type}?public_ids[]=...
 *                  &max_results=500
 *           answer {"resources": [{"public_id": "id", ...}], "next_cursor": ...}
 *           (a next_cursor: the ids not listed are unknown, the probe fails)
 *   open:   GET    {api}/v1_1/{cloud}/resources/{rt}/{type}/{public_id}
 *           then its "secure_url", only under delivery_url, without credentials.
 *
 * Basic auth API_KEY:API_SECRET, read from the credentials URL for each call
 * and wiped after it.  Keys are grouped by (resource type, delivery type):
 * a delivery URL names its own.  A call that gets no answer, a 5xx, 420 or
 * 429 is tried again after media_backoff(); 401/403 is the credentials'
 * fault and not retried.  No message names a key, a public id or a secret
 * (an error body may quote a public id: it is never shown).
 * Thread-safe: a store is read-only; each call has its own easy handle.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "media/media_cloudinary.h"
#include "media/media_http.h"
#include "util/mem.h"
#include "util/urlcheck.h"

/* An Admin API answer we read into memory (100 ids of a delete, a resource's details). */
#define CLD_ANSWER_MAX (1 << 20)
/*
 * The longest URL we send (bytes): 100 public ids fit when they are short;
 * long ones are split over more calls rather than risk a front end's 414.
 */
#define CLD_URL_MAX 8000
/*
 * What follows the ids.  A delete asks the CDN to drop its cached copies
 * (else they are served for up to 30 days); a listing's max_results
 * defaults to 10 and goes up to 500 (Get resources): ask for the most.
 */
#define CLD_DELETE_TAIL "&invalidate=true"
#define CLD_PROBE_TAIL "&max_results=500"
/* Cloudinary's rate limit answer (the Admin API's "420 Rate Limited"). */
#define HTTP_RATE_LIMITED 420

static const char *const cld_keys[] = {"cloud_name",      "resource_type",    "delivery_type",
                                       "prefix",          "api_url",          "delivery_url",
                                       "credentials_env", "credentials_file", NULL};

/* Scalar @key of @n into *@out (replacing the default); @check validates it. */
static lethe_rc
get_str(struct ydoc *y, yaml_node_t *n, const char *key, bool (*check)(const char *),
        const char *expect, char **out, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, n, key);
	const char *s = ynode_str(v);
	size_t len;

	if (v == NULL)
		return LETHE_OK;
	if (s == NULL || (check != NULL && !check(s)))
		return ynode_fail(y, v, LETHE_E_CONFIG, err, "media store key '%s' expects %s", key,
		                  expect);
	free(*out);
	*out = xstrdup(s);
	len = strlen(*out);
	while (check == url_http_ok && len > 0 && (*out)[len - 1] == '/')
		(*out)[--len] = '\0';
	return LETHE_OK;
}

static bool
prefix_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return i <= 255;
}

static void cld_free(struct media_store *m);

lethe_rc
media_cloudinary_parse(const char *dir, struct ydoc *y, yaml_node_t *n, struct media_store *m,
                       struct lethe_err *err)
{
	struct media_cloudinary *c = &m->u.cld;
	const char *keys[32];
	size_t k = 0, i;
	lethe_rc rc;

	for (i = 0; cld_keys[i] != NULL; i++)
		keys[k++] = cld_keys[i];
	for (i = 0; media_common_keys[i] != NULL && k < 31; i++)
		keys[k++] = media_common_keys[i];
	keys[k] = NULL;
	c->api_url = xstrdup("https://api.cloudinary.com");
	c->delivery_url = xstrdup("https://res.cloudinary.com");
	c->resource_type = xstrdup("image");
	c->delivery_type = xstrdup("upload");
	c->prefix = xstrdup("");
	rc = ymap_check_keys(y, n, keys, "a cloudinary media store", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = get_str(y, n, "cloud_name", media_cld_cloud_ok,
		             "a cloud name ([A-Za-z0-9_-], 1-64)", &c->cloud_name, err);
	if (rc == LETHE_OK)
		rc = get_str(y, n, "resource_type", media_cld_rt_ok, "image, video or raw",
		             &c->resource_type, err);
	if (rc == LETHE_OK)
		rc = get_str(y, n, "delivery_type", media_cld_type_ok,
		             "a delivery type such as upload, private or authenticated",
		             &c->delivery_type, err);
	if (rc == LETHE_OK)
		rc = get_str(y, n, "prefix", prefix_ok,
		             "a public id prefix (no control characters)", &c->prefix, err);
	if (rc == LETHE_OK)
		rc = get_str(y, n, "api_url", url_http_ok,
		             "an http:// or https:// URL without query", &c->api_url, err);
	if (rc == LETHE_OK)
		rc = get_str(y, n, "delivery_url", url_http_ok,
		             "an http:// or https:// URL without query", &c->delivery_url, err);
	if (rc == LETHE_OK)
		rc = media_secret_parse(dir, y, n, &c->credentials, err);
	if (rc != LETHE_OK) {
		cld_free(m); /* whether or not the caller frees a store that failed to parse */
		return rc;
	}
	m->batch = MEDIA_CLD_BATCH;
	if (c->cloud_name != NULL)
		m->where = xasprintf("cloudinary cloud %s", c->cloud_name);
	else if (c->credentials.env != NULL)
		m->where = xasprintf("cloudinary cloud of $%s", c->credentials.env);
	else
		m->where = xasprintf("cloudinary cloud of %s", c->credentials.file);
	return LETHE_OK;
}

/* Read and parse the store's credentials into @cr; LETHE_E_CONFIG naming the variable or file. */
static lethe_rc
cld_cred(const struct media_store *m, struct media_cld_cred *cr, struct lethe_err *err)
{
	const struct media_cloudinary *c = &m->u.cld;
	char *secret = media_secret_read(m, &c->credentials, err);
	bool ok;

	memset(cr, 0, sizeof(*cr));
	if (secret == NULL)
		return LETHE_E_CONFIG;
	ok = media_cld_cred_parse(secret, cr);
	media_secret_free(secret);
	if (!ok)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "media store '%s': %s%s is not of the form "
		                     "cloudinary://API_KEY:API_SECRET@CLOUD",
		                     m->name, c->credentials.env ? "$" : "",
		                     c->credentials.env ? c->credentials.env : c->credentials.file);
	if (c->cloud_name != NULL && strcmp(c->cloud_name, cr->cloud) != 0) {
		media_cld_cred_clear(cr);
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "media store '%s': the credentials name another cloud than "
		                     "cloud_name %s",
		                     m->name, c->cloud_name);
	}
	return LETHE_OK;
}

static lethe_rc
cld_check(const struct media_store *m, struct lethe_err *err)
{
	struct media_cld_cred cr;
	lethe_rc rc = cld_cred(m, &cr, err);

	media_cld_cred_clear(&cr);
	return rc;
}

static void
cld_free(struct media_store *m)
{
	struct media_cloudinary *c = &m->u.cld;

	free(c->api_url);
	free(c->delivery_url);
	free(c->cloud_name);
	free(c->resource_type);
	free(c->delivery_type);
	free(c->prefix);
	media_secret_clear(&c->credentials);
	memset(c, 0, sizeof(*c));
}

/* Start over writing @fd (a retried download). */
static bool
fd_rewind(int fd)
{
	return fd < 0 || (ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
}

/*
 * Perform @q, trying again while the answer is transient (none, 5xx, 420,
 * 429).  LETHE_OK when an answer that is not transient came (any status: the
 * caller reads it); LETHE_E_UNAVAILABLE (@err naming the store) otherwise.
 */
static lethe_rc
cld_exchange(const struct media_store *m, const struct media_http_req *q, struct media_http_resp *r,
             struct lethe_err *err)
{
	int attempt;

	for (attempt = 0;; attempt++) {
		if (attempt > 0)
			media_backoff(m, attempt, r->retry_after_ms);
		if (!fd_rewind(q->out_fd))
			return lethe_err_set(err, LETHE_E_IO,
			                     "media store '%s': temporary file: %s", m->name,
			                     strerror(errno));
		media_http(m, q, r);
		if (r->status != 0 && r->status != HTTP_RATE_LIMITED && !media_http_transient(r))
			return LETHE_OK;
		if (attempt >= m->retries)
			break;
	}
	if (r->status == 0)
		return lethe_err_set(err, LETHE_E_UNAVAILABLE,
		                     "media store '%s' (%s) did not answer after %d tries: %s",
		                     m->name, m->where, attempt + 1, r->error);
	return lethe_err_set(
	    err, LETHE_E_UNAVAILABLE, "media store '%s' (%s) answered HTTP %ld after %d tries%s",
	    m->name, m->where, r->status, attempt + 1,
	    r->status == HTTP_RATE_LIMITED || r->status == 429
	        ? " (rate limited: the Admin API allows a number of calls per hour)"
	        : "");
}

/* A failure for an answer that is neither success nor transient: never quotes its body. */
static lethe_rc
cld_refused(const struct media_store *m, long status, struct lethe_err *err)
{
	if (status == 401 || status == 403)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "media store '%s' (%s) refused the credentials (HTTP %ld)",
		                     m->name, m->where, status);
	return lethe_err_set(err, LETHE_E_UNAVAILABLE, "media store '%s' (%s) answered HTTP %ld",
	                     m->name, m->where, status);
}

/* {api}/v1_1/{cloud}/resources/{rt}/{type} into @b. */
static lethe_rc
cld_base(const struct media_store *m, const char *cloud, const struct media_cld_key *k,
         struct buf *b)
{
	buf_reset(b);
	return buf_addf(b, "%s/v1_1/%s/resources/%s/%s", m->u.cld.api_url, cloud, k->rt, k->type);
}

/* The keys of one call resolved, and the groups of equal (rt, type) among them. */
struct cld_batch {
	struct media_cld_key *k; /* one per key; public_id NULL: refused */
	size_t n;                /* keys */
	size_t refused;          /* keys media_cld_key_parse() refused */
};

static void
cld_batch_init(struct cld_batch *b, const struct media_store *m, const char *cloud,
               const char *const *keys, size_t n)
{
	size_t i;

	b->k = xcalloc(n, sizeof(*b->k));
	b->n = n;
	b->refused = 0;
	for (i = 0; i < n; i++)
		if (!media_cld_key_parse(&m->u.cld, cloud, keys[i], &b->k[i]))
			b->refused++;
}

static void
cld_batch_free(struct cld_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		media_cld_key_free(&b->k[i]);
	free(b->k);
}

/* Whether key @j belongs to the group led by key @i. */
static bool
same_group(const struct cld_batch *b, size_t i, size_t j)
{
	return b->k[j].public_id != NULL && strcmp(b->k[i].rt, b->k[j].rt) == 0 &&
	       strcmp(b->k[i].type, b->k[j].type) == 0;
}

/* ?public_ids[]=ID or &public_ids[]=ID, @id percent-encoded, into @b (emptied first). */
static lethe_rc
cld_id_param(struct buf *b, const char *id, bool first)
{
	lethe_rc rc;

	buf_reset(b);
	rc = buf_adds(b, first ? "?public_ids%5B%5D=" : "&public_ids%5B%5D=");
	return rc == LETHE_OK ? media_cld_escape(b, id, false) : rc;
}

/*
 * One Admin API call over the group led by key @lead: @method on the
 * resources URL with the group's not yet @done ids and then @tail, as many
 * ids as fit in CLD_URL_MAX bytes of URL with the tail (one at least; the
 * rest stay for another call); @idx[0..*@gn) receives their key indexes and
 * @ids their public ids.  The answer is in @r.
 */
static lethe_rc
cld_group_call(const struct media_store *m, const struct media_cld_cred *cr, const char *method,
               const char *tail, const struct cld_batch *b, bool *done, size_t lead, size_t *idx,
               const char **ids, size_t *gn, struct media_http_resp *r, struct lethe_err *err)
{
	struct media_http_req q = {
	    .method = method, .userpwd = cr->userpwd, .out_fd = -1, .max_body = CLD_ANSWER_MAX};
	struct buf url, param;
	lethe_rc rc;
	size_t j;

	*gn = 0;
	buf_init(&url, CLD_URL_MAX + 4 * MEDIA_CLD_ID_MAX);
	buf_init(&param, 4 * MEDIA_CLD_ID_MAX);
	rc = cld_base(m, cr->cloud, &b->k[lead], &url);
	for (j = lead; rc == LETHE_OK && j < b->n; j++) {
		if (done[j] || !same_group(b, lead, j))
			continue;
		rc = cld_id_param(&param, b->k[j].public_id, *gn == 0);
		if (rc == LETHE_OK && *gn > 0 && url.len + param.len + strlen(tail) > CLD_URL_MAX)
			break;
		if (rc == LETHE_OK)
			rc = buf_add(&url, param.data, param.len);
		done[j] = true;
		idx[*gn] = j;
		ids[(*gn)++] = b->k[j].public_id;
	}
	if (rc == LETHE_OK)
		rc = buf_adds(&url, tail);
	q.url = buf_str(&url);
	if (rc == LETHE_OK)
		rc = cld_exchange(m, &q, r, err);
	else
		rc =
		    lethe_err_set(err, LETHE_E_INTERNAL, "media store '%s': URL too long", m->name);
	buf_free(&param);
	buf_free(&url);
	return rc;
}

static lethe_rc
cld_remove(const struct media_store *m, const char *const *keys, size_t n, enum media_outcome *out,
           struct lethe_err *err)
{
	struct media_http_resp r;
	struct media_cld_cred cr;
	struct cld_batch b = {0};
	enum media_outcome got[MEDIA_CLD_BATCH];
	const char *ids[MEDIA_CLD_BATCH];
	size_t idx[MEDIA_CLD_BATCH], gn, i, j, failed = 0;
	bool *done = NULL;
	lethe_rc rc, first = LETHE_OK;

	for (i = 0; i < n; i++)
		out[i] = MEDIA_FAILED;
	if (n > MEDIA_CLD_BATCH)
		return lethe_err_set(err, LETHE_E_INTERNAL,
		                     "media store '%s': %zu keys in one call", m->name, n);
	rc = cld_cred(m, &cr, err);
	if (rc != LETHE_OK)
		return rc;
	media_http_resp_init(&r);
	cld_batch_init(&b, m, cr.cloud, keys, n);
	done = xcalloc(n, sizeof(*done));
	for (i = 0; i < n; i++) {
		if (done[i] || b.k[i].public_id == NULL)
			continue;
		rc = cld_group_call(m, &cr, "DELETE", CLD_DELETE_TAIL, &b, done, i, idx, ids, &gn,
		                    &r, err);
		if (rc == LETHE_OK && r.status != 200)
			rc = cld_refused(m, r.status, err);
		if (rc == LETHE_OK &&
		    media_cld_delete_answer(r.body.data, r.body.len, ids, gn, got) != LETHE_OK)
			rc =
			    lethe_err_set(err, LETHE_E_UNAVAILABLE,
			                  "media store '%s' (%s) sent an answer that is not Delete "
			                  "resources' JSON",
			                  m->name, m->where);
		for (j = 0; rc == LETHE_OK && j < gn; j++)
			out[idx[j]] = got[j];
		if (rc != LETHE_OK && first == LETHE_OK)
			first = rc;
		if (rc == LETHE_E_FORBIDDEN)
			break; /* the other groups would be refused alike */
	}
	for (i = 0; i < n; i++)
		failed += out[i] == MEDIA_FAILED;
	if (first == LETHE_OK && failed > 0)
		first =
		    lethe_err_set(err, LETHE_E_UNAVAILABLE,
		                  "media store '%s' (%s) did not remove %zu of %zu assets (%zu not "
		                  "public ids or delivery URLs of this cloud)",
		                  m->name, m->where, failed, n, b.refused);
	free(done);
	cld_batch_free(&b);
	media_http_resp_free(&r);
	media_cld_cred_clear(&cr);
	return first;
}

static lethe_rc
cld_probe_chunk(const struct media_store *m, const char *const *keys, size_t n,
                enum media_presence *out, struct lethe_err *err)
{
	struct media_http_resp r;
	struct media_cld_cred cr;
	struct cld_batch b = {0};
	enum media_presence got[MEDIA_CLD_BATCH];
	const char *ids[MEDIA_CLD_BATCH];
	size_t idx[MEDIA_CLD_BATCH], gn, i, j;
	bool *done = NULL;
	lethe_rc rc = cld_cred(m, &cr, err);

	if (rc != LETHE_OK)
		return rc;
	media_http_resp_init(&r);
	cld_batch_init(&b, m, cr.cloud, keys, n);
	done = xcalloc(n, sizeof(*done));
	for (i = 0; i < n; i++) /* a key that cannot name an asset of this cloud is not in it */
		out[i] = b.k[i].public_id == NULL ? MEDIA_ABSENT : MEDIA_UNKNOWN;
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		if (done[i] || b.k[i].public_id == NULL)
			continue;
		rc = cld_group_call(m, &cr, "GET", CLD_PROBE_TAIL, &b, done, i, idx, ids, &gn, &r,
		                    err);
		if (rc == LETHE_OK && r.status != 200)
			rc = cld_refused(m, r.status, err);
		if (rc == LETHE_OK &&
		    media_cld_probe_answer(r.body.data, r.body.len, ids, gn, got) != LETHE_OK)
			rc = lethe_err_set(
			    err, LETHE_E_UNAVAILABLE,
			    "media store '%s' (%s) sent an answer that is not a resources "
			    "list",
			    m->name, m->where);
		for (j = 0; rc == LETHE_OK && j < gn; j++)
			out[idx[j]] = got[j];
		for (j = 0; rc == LETHE_OK && j < gn; j++)
			if (got[j] == MEDIA_UNKNOWN)
				rc =
				    lethe_err_set(err, LETHE_E_UNAVAILABLE,
				                  "media store '%s' (%s) listed only some of %zu "
				                  "assets asked for (a next_cursor): their absence "
				                  "is not known",
				                  m->name, m->where, gn);
	}
	free(done);
	cld_batch_free(&b);
	media_http_resp_free(&r);
	media_cld_cred_clear(&cr);
	return rc;
}

static lethe_rc
cld_probe(const struct media_store *m, const char *const *keys, size_t n, enum media_presence *out,
          struct lethe_err *err)
{
	size_t i, c;
	lethe_rc rc = LETHE_OK;

	for (i = 0; i < n; i++)
		out[i] = MEDIA_UNKNOWN;
	for (i = 0; rc == LETHE_OK && i < n; i += c) {
		c = n - i < MEDIA_CLD_BATCH ? n - i : MEDIA_CLD_BATCH;
		rc = cld_probe_chunk(m, keys + i, c, out + i, err);
	}
	return rc;
}

/* An unlinked file in @dir for the object's bytes, or -1 (errno set). */
static int
cld_tmpfile(const char *dir)
{
	char *path = xasprintf("%s/.lethe-media-XXXXXX", dir);
	int fd = mkstemp(path);

	if (fd >= 0 && unlink(path) != 0) {
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* The secure_url of @k's details into *@url; LETHE_E_NOTFOUND if the asset is not there. */
static lethe_rc
cld_details(const struct media_store *m, const struct media_cld_cred *cr,
            const struct media_cld_key *k, char **url, struct lethe_err *err)
{
	struct media_http_req q = {
	    .method = "GET", .userpwd = cr->userpwd, .out_fd = -1, .max_body = CLD_ANSWER_MAX};
	struct media_http_resp r;
	struct buf u;
	lethe_rc rc;

	*url = NULL;
	media_http_resp_init(&r);
	buf_init(&u, 3 * MEDIA_CLD_ID_MAX + 4096);
	rc = cld_base(m, cr->cloud, k, &u);
	if (rc == LETHE_OK)
		rc = buf_adds(&u, "/");
	if (rc == LETHE_OK)
		rc = media_cld_escape(&u, k->public_id, true);
	q.url = buf_str(&u);
	if (rc == LETHE_OK)
		rc = cld_exchange(m, &q, &r, err);
	if (rc == LETHE_OK && r.status == 404)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "media store '%s': asset not found",
		                   m->name);
	else if (rc == LETHE_OK && r.status != 200)
		rc = cld_refused(m, r.status, err);
	if (rc == LETHE_OK) {
		*url = media_cld_secure_url(r.body.data, r.body.len, m->u.cld.delivery_url);
		if (*url == NULL)
			rc = lethe_err_set(
			    err, LETHE_E_UNAVAILABLE,
			    "media store '%s' (%s): the asset's secure_url is not under "
			    "delivery_url %s",
			    m->name, m->where, m->u.cld.delivery_url);
	}
	buf_free(&u);
	media_http_resp_free(&r);
	return rc;
}

/* Download @url (no credentials: it is the public delivery origin) into @fd, at most @max bytes. */
static lethe_rc
cld_download(const struct media_store *m, const char *url, int fd, int64_t max, int64_t *size,
             struct lethe_err *err)
{
	struct media_http_req q = {.method = "GET", .url = url, .out_fd = fd, .max_body = max};
	struct media_http_resp r;
	lethe_rc rc;

	media_http_resp_init(&r);
	rc = cld_exchange(m, &q, &r, err);
	if (rc == LETHE_OK && r.error[0] != '\0') /* the answer came, our file took it not */
		rc = lethe_err_set(err, LETHE_E_IO, "media store '%s': %s", m->name, r.error);
	else if (rc == LETHE_OK && r.too_big)
		rc = lethe_err_set(err, LETHE_E_TOOBIG,
		                   "media store '%s': an asset is over %lld bytes", m->name,
		                   (long long)max);
	else if (rc == LETHE_OK && r.status == 404)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "media store '%s': asset not found",
		                   m->name);
	else if (rc == LETHE_OK && r.status != 200)
		rc = cld_refused(m, r.status, err);
	*size = r.written;
	media_http_resp_free(&r);
	return rc;
}

static lethe_rc
cld_open(const struct media_store *m, const char *key, const char *tmpdir, int64_t max_bytes,
         int *fd, int64_t *size, struct lethe_err *err)
{
	struct media_cld_cred cr;
	struct media_cld_key k = {0};
	char *url = NULL;
	lethe_rc rc;

	*fd = -1;
	*size = 0;
	rc = cld_cred(m, &cr, err);
	if (rc != LETHE_OK)
		return rc;
	if (!media_cld_key_parse(&m->u.cld, cr.cloud, key, &k))
		rc = lethe_err_set(err, LETHE_E_NOTFOUND,
		                   "media store '%s': a key that names no asset of this cloud",
		                   m->name);
	if (rc == LETHE_OK)
		rc = cld_details(m, &cr, &k, &url, err);
	media_cld_cred_clear(&cr);
	if (rc == LETHE_OK) {
		*fd = cld_tmpfile(tmpdir);
		if (*fd < 0)
			rc = lethe_err_set(err, LETHE_E_IO,
			                   "media store '%s': temporary file in %s: %s", m->name,
			                   tmpdir, strerror(errno));
	}
	if (rc == LETHE_OK)
		rc = cld_download(m, url, *fd, max_bytes, size, err);
	if (rc == LETHE_OK && lseek(*fd, 0, SEEK_SET) != 0)
		rc = lethe_err_set(err, LETHE_E_IO, "media store '%s': temporary file: %s", m->name,
		                   strerror(errno));
	if (rc != LETHE_OK && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	free(url);
	media_cld_key_free(&k);
	return rc;
}

const struct media_ops media_cloudinary_ops = {
    .kind = MEDIA_CLOUDINARY,
    .remove = cld_remove,
    .probe = cld_probe,
    .open = cld_open,
    .check = cld_check,
    .free = cld_free,
};
