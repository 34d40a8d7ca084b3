/* SPDX-License-Identifier: MIT */
/*
 * media.c - the set of media stores (lethe.yaml's `media_stores:` plus the
 * store "local" of app.media_root), the calls that dispatch to a store's
 * kind, store secrets and the retry pause the remote kinds share (see
 * media.h, media_internal.h and docs/internals/media.md).
 *
 * A parsed set is never changed: every function here only reads it, so
 * threads share it freely.  Secrets are read on demand into fresh memory
 * that media_secret_free() wipes.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "media/media_internal.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/rand.h"

/* Longest store name ([a-z0-9_-]). */
#define NAME_MAX_LEN 64

/* Every configured store, "local" first. */
struct media_set {
	struct media_store **v; /* the stores, in lethe.yaml's order after "local" */
	size_t n, cap;          /* count and capacity */
};

const char *const media_common_keys[] = {"type",    "connect_timeout_ms", "timeout_ms",
                                         "retries", "backoff_ms",         NULL};

/* ---- the set ------------------------------------------------------------------- */

static void
store_free(struct media_store *m)
{
	if (m == NULL)
		return;
	if (m->ops != NULL && m->ops->free != NULL)
		m->ops->free(m);
	free(m->name);
	free(m->where);
	free(m);
}

void
media_set_free(struct media_set *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		store_free(s->v[i]);
	free(s->v);
	free(s);
}

static void
set_add(struct media_set *s, struct media_store *m)
{
	s->v = xgrow(s->v, &s->cap, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = m;
}

/* A store name is [a-z0-9_-]{1,64}: it appears in the data map, messages and the state store. */
static bool
name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* An integer @key of @n in [@min, @max] into *@out, if present. */
static lethe_rc
get_long(struct ydoc *y, yaml_node_t *n, const char *key, long min, long max, long *out,
         struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, n, key);
	const char *s = ynode_str(v);
	char *end = NULL;
	long x;

	if (v == NULL)
		return LETHE_OK;
	errno = 0;
	x = s != NULL ? strtol(s, &end, 10) : 0;
	if (s == NULL || s[0] == '\0' || errno != 0 || *end != '\0' || x < min || x > max)
		return ynode_fail(y, v, LETHE_E_CONFIG, err,
		                  "%s: expected an integer from %ld to %ld", key, min, max);
	*out = x;
	return LETHE_OK;
}

/* The common keys of store @m from mapping @n (defaults first). */
static lethe_rc
parse_common(struct ydoc *y, yaml_node_t *n, struct media_store *m, struct lethe_err *err)
{
	long retries = 4;
	lethe_rc rc;

	m->connect_timeout_ms = 5000;
	m->timeout_ms = 30000;
	m->backoff_ms = 200;
	rc = get_long(y, n, "connect_timeout_ms", 1, 600000, &m->connect_timeout_ms, err);
	if (rc == LETHE_OK)
		rc = get_long(y, n, "timeout_ms", 1, 3600000, &m->timeout_ms, err);
	if (rc == LETHE_OK)
		rc = get_long(y, n, "retries", 0, 20, &retries, err);
	if (rc == LETHE_OK)
		rc = get_long(y, n, "backoff_ms", 0, 60000, &m->backoff_ms, err);
	m->retries = (int)retries;
	return rc;
}

/* One entry of `media_stores:`: @k its name node, @v its mapping. */
static lethe_rc
parse_store(const char *dir, struct ydoc *y, yaml_node_t *k, yaml_node_t *v, struct media_set *s,
            struct lethe_err *err)
{
	const char *name = ynode_str(k), *type;
	struct media_store *m;
	lethe_rc rc;

	if (!name_ok(name))
		return ynode_fail(y, k, LETHE_E_CONFIG, err,
		                  "media_stores: a store name is 1 to 64 of a-z, 0-9, '_' and '-'");
	if (strcmp(name, MEDIA_DEFAULT) == 0)
		return ynode_fail(y, k, LETHE_E_CONFIG, err,
		                  "media_stores: the name '%s' is app.media_root's; choose another",
		                  MEDIA_DEFAULT);
	if (!ynode_is_map(v))
		return ynode_fail(y, v, LETHE_E_CONFIG, err,
		                  "media_stores.%s: expected a mapping (type: and its keys)", name);
	type = ynode_str(ymap_get(y, v, "type"));
	if (type == NULL)
		return ynode_fail(y, v, LETHE_E_CONFIG, err,
		                  "media_stores.%s: type: is required (local, s3 or cloudinary)",
		                  name);
	rc = ymap_check_dups(y, v, "a media store", LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	rc = parse_common(y, v, m, err);
	if (rc == LETHE_OK && strcmp(type, "local") == 0) {
		m->ops = &media_local_ops;
		rc = media_local_parse(dir, y, v, m, err);
	} else if (rc == LETHE_OK && strcmp(type, "s3") == 0) {
		m->ops = &media_s3_ops;
		rc = media_s3_parse(dir, y, v, m, err);
	} else if (rc == LETHE_OK && strcmp(type, "cloudinary") == 0) {
		m->ops = &media_cloudinary_ops;
		rc = media_cloudinary_parse(dir, y, v, m, err);
	} else if (rc == LETHE_OK) {
		rc = ynode_fail(y, ymap_get(y, v, "type"), LETHE_E_CONFIG, err,
		                "media_stores.%s: unknown type '%.32s' (local, s3 or cloudinary)",
		                name, type);
	}
	if (rc == LETHE_OK && (m->where == NULL || m->batch == 0 || m->batch > MEDIA_BATCH_MAX))
		rc = ynode_fail(y, v, LETHE_E_CONFIG, err, "media_stores.%s: kind %s is incomplete",
		                name, type);
	if (rc != LETHE_OK) {
		store_free(m);
		return rc;
	}
	set_add(s, m);
	return LETHE_OK;
}

lethe_rc
media_set_parse(const char *dir, const char *media_root, struct ydoc *y, yaml_node_t *root,
                struct media_set **out, struct lethe_err *err)
{
	struct media_set *s = xcalloc(1, sizeof(*s));
	yaml_node_t *sec = ymap_get(y, root, "media_stores");
	lethe_rc rc = LETHE_OK;
	size_t i;

	*out = NULL;
	/* A URL media_root makes no store: config_check_media_root() refuses it by name. */
	if (media_root != NULL && strstr(media_root, "://") == NULL)
		set_add(s, media_local_new(MEDIA_DEFAULT, media_root));
	if (sec != NULL && !ynode_is_null(sec) && !ynode_is_map(sec))
		rc = ynode_fail(y, sec, LETHE_E_CONFIG, err,
		                "media_stores: expected a mapping of store names");
	if (rc == LETHE_OK && sec != NULL && ynode_is_map(sec))
		rc = ymap_check_dups(y, sec, "media_stores", LETHE_E_CONFIG, err);
	for (i = 0; rc == LETHE_OK && sec != NULL && ynode_is_map(sec) && i < ynode_len(sec); i++)
		rc = parse_store(dir, y, ymap_key(y, sec, i), ymap_val(y, sec, i), s, err);
	if (rc != LETHE_OK) {
		media_set_free(s);
		return rc;
	}
	*out = s;
	return LETHE_OK;
}

const struct media_store *
media_set_get(const struct media_set *s, const char *name)
{
	size_t i;

	if (name == NULL)
		name = MEDIA_DEFAULT;
	for (i = 0; s != NULL && i < s->n; i++)
		if (strcmp(s->v[i]->name, name) == 0)
			return s->v[i];
	return NULL;
}

size_t
media_set_count(const struct media_set *s)
{
	return s != NULL ? s->n : 0;
}

const struct media_store *
media_set_at(const struct media_set *s, size_t i)
{
	return s != NULL && i < s->n ? s->v[i] : NULL;
}

lethe_rc
media_set_check(const struct media_set *s, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;
	size_t i;

	for (i = 0; rc == LETHE_OK && s != NULL && i < s->n; i++)
		if (s->v[i]->ops->check != NULL)
			rc = s->v[i]->ops->check(s->v[i], err);
	return rc;
}

/* ---- one store ------------------------------------------------------------------ */

const char *
media_store_name(const struct media_store *m)
{
	return m->name;
}

enum media_kind
media_store_kind(const struct media_store *m)
{
	return m->ops->kind;
}

const char *
media_kind_str(enum media_kind k)
{
	switch (k) {
	case MEDIA_LOCAL:
		return "local";
	case MEDIA_S3:
		return "s3";
	case MEDIA_CLOUDINARY:
		return "cloudinary";
	}
	return "unknown";
}

size_t
media_store_batch(const struct media_store *m)
{
	return m->batch;
}

bool
media_store_probe_cheap(const struct media_store *m)
{
	return m->ops->kind == MEDIA_LOCAL;
}

const char *
media_store_where(const struct media_store *m)
{
	return m->where;
}

/* A kind whose operation is missing (a placeholder build) refuses every call. */
static lethe_rc
not_built(const struct media_store *m, struct lethe_err *err)
{
	return lethe_err_set(err, LETHE_E_CONFIG, "media store '%s': kind %s is not built", m->name,
	                     media_kind_str(m->ops->kind));
}

lethe_rc
media_remove(const struct media_store *m, const char *const *keys, size_t n,
             enum media_outcome *out, struct lethe_err *err)
{
	size_t i;

	if (m == NULL || keys == NULL || out == NULL || n == 0 || n > m->batch)
		return lethe_err_set(err, LETHE_E_INVALID, "media_remove: %zu keys (1 to %zu)", n,
		                     m != NULL ? m->batch : (size_t)0);
	for (i = 0; i < n; i++)
		out[i] = MEDIA_FAILED;
	if (m->ops->remove == NULL)
		return not_built(m, err);
	return m->ops->remove(m, keys, n, out, err);
}

lethe_rc
media_probe(const struct media_store *m, const char *const *keys, size_t n,
            enum media_presence *out, struct lethe_err *err)
{
	size_t i;

	if (m == NULL || keys == NULL || out == NULL || n == 0 || n > MEDIA_BATCH_MAX)
		return lethe_err_set(err, LETHE_E_INVALID, "media_probe: %zu keys (1 to %d)", n,
		                     MEDIA_BATCH_MAX);
	for (i = 0; i < n; i++)
		out[i] = MEDIA_UNKNOWN;
	if (m->ops->probe == NULL)
		return not_built(m, err);
	return m->ops->probe(m, keys, n, out, err);
}

lethe_rc
media_open(const struct media_store *m, const char *key, const char *tmpdir, int64_t max_bytes,
           int *fd, int64_t *size, struct lethe_err *err)
{
	if (fd != NULL)
		*fd = -1;
	if (size != NULL)
		*size = 0;
	if (m == NULL || key == NULL || fd == NULL || size == NULL || max_bytes < 0)
		return lethe_err_set(err, LETHE_E_INVALID, "media_open: bad arguments");
	if (m->ops->open == NULL)
		return not_built(m, err);
	return m->ops->open(m, key, tmpdir, max_bytes, fd, size, err);
}

/* ---- secrets ------------------------------------------------------------------ */

lethe_rc
media_secret_parse(const char *dir, struct ydoc *y, yaml_node_t *n, struct media_secret *s,
                   struct lethe_err *err)
{
	yaml_node_t *e = ymap_get(y, n, "credentials_env"), *f = ymap_get(y, n, "credentials_file");
	const char *ev = ynode_str(e), *fv = ynode_str(f);

	memset(s, 0, sizeof(*s));
	if (e != NULL && f != NULL)
		return ynode_fail(y, n, LETHE_E_CONFIG, err,
		                  "use one of credentials_env or credentials_file, not both");
	if (e == NULL && f == NULL)
		return ynode_fail(y, n, LETHE_E_CONFIG, err,
		                  "credentials_env or credentials_file is required");
	if (e != NULL &&
	    (ev == NULL || ev[0] == '\0' ||
	     strspn(ev, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
	         strlen(ev)))
		return ynode_fail(y, e, LETHE_E_CONFIG, err,
		                  "credentials_env: expected the name of an environment variable");
	if (f != NULL && (fv == NULL || fv[0] == '\0'))
		return ynode_fail(y, f, LETHE_E_CONFIG, err, "credentials_file: expected a path");
	if (e != NULL)
		s->env = xstrdup(ev);
	else
		s->file = file_resolve(dir, fv);
	return LETHE_OK;
}

void
media_secret_clear(struct media_secret *s)
{
	free(s->env);
	free(s->file);
	s->env = s->file = NULL;
}

void (*media_wiped_hook)(const void *p, size_t n);

void
media_wipe_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	if (media_wiped_hook != NULL)
		media_wiped_hook(p, n);
	free(p);
}

/*
 * Every secret lives in a buffer of MEDIA_SECRET_BUF bytes, so the whole
 * allocation is wiped whatever was done to the string in it: split at ':'
 * (media_s3.c), moved left by trim(), cut short by a NUL.
 */
void
media_secret_free(char *secret)
{
	media_wipe_free(secret, MEDIA_SECRET_BUF);
}

/* Trim white space around @s in place; its new length. */
static size_t
trim(char *s, size_t n)
{
	size_t lead = 0;

	while (n > 0 &&
	       (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (lead < n && (s[lead] == ' ' || s[lead] == '\t'))
		lead++;
	memmove(s, s + lead, n - lead + 1);
	return n - lead;
}

/* An environment variable's value (never empty), or NULL with @err naming it. */
static const char *
env_get(const struct media_store *m, const char *var, struct lethe_err *err)
{
	const char *v = getenv(var);

	if (v == NULL || v[0] == '\0') {
		lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "media store '%s': environment variable %s is not set (it must hold the "
		    "store's credentials)",
		    m->name, var);
		return NULL;
	}
	return v;
}

/*
 * credentials_env: AWS: AWS_ACCESS_KEY_ID:AWS_SECRET_ACCESS_KEY[:AWS_SESSION_TOKEN],
 * the form every other credential of an s3 store has.
 */
static char *
secret_aws(const struct media_store *m, struct lethe_err *err)
{
	const char *id = env_get(m, "AWS_ACCESS_KEY_ID", err), *sec, *tok;
	size_t len;
	char *out;

	if (id == NULL)
		return NULL;
	sec = env_get(m, "AWS_SECRET_ACCESS_KEY", err);
	if (sec == NULL)
		return NULL;
	tok = getenv("AWS_SESSION_TOKEN");
	len = strlen(id) + 1 + strlen(sec) + (tok != NULL && tok[0] != '\0' ? 1 + strlen(tok) : 0);
	if (len > MEDIA_SECRET_MAX) {
		lethe_err_set(err, LETHE_E_CONFIG,
		              "media store '%s': the AWS_* credentials are too long", m->name);
		return NULL;
	}
	out = xcalloc(1, MEDIA_SECRET_BUF);
	snprintf(out, MEDIA_SECRET_BUF, "%s:%s%s%s", id, sec,
	         tok != NULL && tok[0] != '\0' ? ":" : "", tok != NULL ? tok : "");
	return out;
}

/*
 * The file's bytes (over MEDIA_SECRET_MAX is an error), or NULL with @err.
 * Read with read(2) straight into the secret's buffer: stdio would keep a
 * copy in its own buffer, freed unwiped by fclose().
 */
static char *
secret_file(const struct media_store *m, const char *path, struct lethe_err *err)
{
	char *out;
	size_t n = 0;
	ssize_t got = 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC), e;

	if (fd < 0) {
		lethe_err_set(err, LETHE_E_CONFIG,
		              "media store '%s': cannot read credentials file %s: %s", m->name,
		              path, strerror(errno));
		return NULL;
	}
	out = xcalloc(1, MEDIA_SECRET_BUF);
	/* One byte over the limit tells a long file from one of exactly the limit. */
	while (n < MEDIA_SECRET_MAX + 1 && got != 0) {
		got = read(fd, out + n, MEDIA_SECRET_MAX + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		n += (size_t)got;
	}
	e = errno;
	close(fd);
	if (got < 0) {
		lethe_err_set(err, LETHE_E_CONFIG,
		              "media store '%s': cannot read credentials file %s: %s", m->name,
		              path, strerror(e));
		media_secret_free(out);
		return NULL;
	}
	out[n] = '\0';
	if (n > MEDIA_SECRET_MAX) {
		lethe_err_set(err, LETHE_E_CONFIG,
		              "media store '%s': credentials file %s is too long", m->name, path);
		media_secret_free(out);
		return NULL;
	}
	return out;
}

char *
media_secret_read(const struct media_store *m, const struct media_secret *s, struct lethe_err *err)
{
	const char *what = s->env != NULL ? s->env : s->file;
	char *out = NULL;
	size_t n;

	if (s->env != NULL && strcmp(s->env, "AWS") == 0) {
		out = secret_aws(m, err);
	} else if (s->env != NULL) {
		const char *v = env_get(m, s->env, err);

		if (v == NULL)
			return NULL;
		if (strlen(v) > MEDIA_SECRET_MAX) {
			lethe_err_set(err, LETHE_E_CONFIG, "media store '%s': %s is too long",
			              m->name, s->env);
			return NULL;
		}
		out = xcalloc(1, MEDIA_SECRET_BUF);
		memcpy(out, v, strlen(v));
	} else if (s->file != NULL) {
		out = secret_file(m, s->file, err);
	} else {
		lethe_err_set(err, LETHE_E_CONFIG, "media store '%s': no credentials configured",
		              m->name);
	}
	if (out == NULL)
		return NULL;
	n = trim(out, strlen(out));
	if (n == 0) {
		lethe_err_set(err, LETHE_E_CONFIG, "media store '%s': %s is empty", m->name, what);
		media_secret_free(out);
		return NULL;
	}
	return out;
}

/* ---- retries ------------------------------------------------------------------ */

void
media_backoff(const struct media_store *m, int attempt, long retry_after_ms)
{
	double ms = (double)m->backoff_ms;
	uint32_t r = 0;
	struct timespec ts;
	int i;

	for (i = 1; i < attempt && ms < 10000.0; i++)
		ms *= 2.0;
	rand_bytes(&r, sizeof(r));
	/* +-25%: retries of many processes do not arrive together. */
	ms *= 0.75 + 0.5 * ((double)r / 4294967295.0);
	if ((double)retry_after_ms > ms)
		ms = (double)retry_after_ms;
	if (ms > 10000.0)
		ms = 10000.0;
	ts.tv_sec = (time_t)(ms / 1000.0);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
