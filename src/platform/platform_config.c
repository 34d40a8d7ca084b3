/* SPDX-License-Identifier: MIT */
/*
 * platform_config.c - parsing the `platforms:` section of lethe.yaml
 * (see platform_config.h; README.md "Configuration" lists the keys).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sodium.h>

#include "platform/platform.h"
#include "platform/platform_config.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/urlcheck.h"

static const struct {
	const char *name;     /* canonical name and key under platforms: */
	const char *base_url; /* production default */
	const char *id_key;   /* key of the client id, or NULL */
	const char *sec_key;  /* prefix of the secret keys (NAME_env, NAME_file), or NULL */
	bool versioned;       /* takes api_version */
} defaults[PLATFORM_COUNT] = {
    [PLATFORM_GOOGLE] = {"google", "https://oauth2.googleapis.com", NULL, NULL, false},
    [PLATFORM_FACEBOOK] = {"facebook", "https://graph.facebook.com", "app_id", "app_secret", true},
    [PLATFORM_INSTAGRAM] = {"instagram", "https://graph.instagram.com", NULL, NULL, true},
    [PLATFORM_LINKEDIN] = {"linkedin", "https://www.linkedin.com", "client_id", "client_secret",
                           false},
    [PLATFORM_X] = {"x", "https://api.x.com", "client_id", "client_secret", false},
    [PLATFORM_TIKTOK] = {"tiktok", "https://open.tiktokapis.com", "client_key", "client_secret",
                         false},
};

#define DEFAULT_API_VERSION "v21.0"

int
platform_id_of(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < PLATFORM_COUNT; i++)
		if (strcmp(name, defaults[i].name) == 0)
			return i;
	return -1;
}

struct platforms *
platforms_new(void)
{
	struct platforms *p = xcalloc(1, sizeof(*p));
	int i;

	for (i = 0; i < PLATFORM_COUNT; i++) {
		p->conf[i].name = defaults[i].name;
		p->conf[i].base_url = xstrdup(defaults[i].base_url);
		if (defaults[i].versioned)
			p->conf[i].api_version = xstrdup(DEFAULT_API_VERSION);
	}
	p->connect_timeout_ms = 5000;
	p->timeout_ms = 15000;
	p->max_body = 64u << 10;
	return p;
}

void
platforms_free(struct platforms *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < PLATFORM_COUNT; i++) {
		free(p->conf[i].base_url);
		free(p->conf[i].api_version);
		free(p->conf[i].client_id);
		free(p->conf[i].secret.env);
		free(p->conf[i].secret.file);
	}
	free(p);
}

static lethe_rc
pfail(struct ydoc *y, yaml_node_t *n, struct lethe_err *err, const char *msg, const char *a,
      const char *b)
{
	return lethe_err_set(err, LETHE_E_CONFIG, "%s:%d: %s%s%s", y->path, ynode_line(n), msg, a,
	                     b);
}

/* A non-empty scalar @key of @map into *@out (replacing it), if present. */
static lethe_rc
get_str(struct ydoc *y, yaml_node_t *map, const char *key, const char *where, char **out,
        struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);

	if (v == NULL)
		return LETHE_OK;
	if (s == NULL || s[0] == '\0')
		return pfail(y, v, err, "expected a non-empty value for ", where, key);
	free(*out);
	*out = xstrdup(s);
	return LETHE_OK;
}

static lethe_rc
get_long(struct ydoc *y, yaml_node_t *map, const char *key, long min, long max, long *out,
         struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);
	char *end = NULL;
	long x;

	if (v == NULL)
		return LETHE_OK;
	errno = 0;
	x = s ? strtol(s, &end, 10) : 0;
	if (s == NULL || s[0] == '\0' || errno != 0 || *end != '\0' || x < min || x > max)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: platforms.%s must be an integer from %ld to %ld",
		                     y->path, ynode_line(v), key, min, max);
	*out = x;
	return LETHE_OK;
}

static bool
version_ok(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '.'))
			return false;
	return i > 0 && i <= 16;
}

static lethe_rc
parse_one(const char *dir, struct ydoc *y, yaml_node_t *v, int id, struct platform_conf *c,
          struct lethe_err *err)
{
	const char *keys[8];
	char what[40], where[48], env_key[40], file_key[40];
	char *file = NULL;
	size_t n = 0, len;
	lethe_rc rc;

	keys[n++] = "base_url";
	if (defaults[id].versioned)
		keys[n++] = "api_version";
	if (defaults[id].id_key != NULL)
		keys[n++] = defaults[id].id_key;
	if (defaults[id].sec_key != NULL) {
		snprintf(env_key, sizeof(env_key), "%s_env", defaults[id].sec_key);
		snprintf(file_key, sizeof(file_key), "%s_file", defaults[id].sec_key);
		keys[n++] = env_key;
		keys[n++] = file_key;
	}
	keys[n] = NULL;
	snprintf(what, sizeof(what), "platforms.%s", c->name);
	snprintf(where, sizeof(where), "%s.", what);
	if (!ynode_is_map(v))
		return pfail(y, v, err, "expected a mapping for ", "platforms.", c->name);
	rc = ymap_check_keys(y, v, keys, what, LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = get_str(y, v, "base_url", where, &c->base_url, err);
	if (rc == LETHE_OK) {
		len = strlen(c->base_url);
		while (len > 0 && c->base_url[len - 1] == '/')
			c->base_url[--len] = '\0';
		if (!url_http_ok(c->base_url))
			rc = pfail(y, ymap_get(y, v, "base_url"), err,
			           "expected an http:// or https:// URL without query for ", where,
			           "base_url");
	}
	if (rc == LETHE_OK && defaults[id].versioned)
		rc = get_str(y, v, "api_version", where, &c->api_version, err);
	if (rc == LETHE_OK && defaults[id].versioned && !version_ok(c->api_version))
		rc = pfail(y, ymap_get(y, v, "api_version"), err,
		           "expected a version like v21.0 for ", where, "api_version");
	if (rc == LETHE_OK && defaults[id].id_key != NULL)
		rc = get_str(y, v, defaults[id].id_key, where, &c->client_id, err);
	if (rc == LETHE_OK && defaults[id].sec_key != NULL)
		rc = get_str(y, v, env_key, where, &c->secret.env, err);
	if (rc == LETHE_OK && defaults[id].sec_key != NULL)
		rc = get_str(y, v, file_key, where, &file, err);
	if (rc == LETHE_OK && file != NULL)
		c->secret.file = file_resolve(dir, file);
	free(file);
	if (rc != LETHE_OK || defaults[id].sec_key == NULL)
		return rc;
	if (c->secret.env != NULL && c->secret.file != NULL)
		return pfail(y, v, err, "use one of ", env_key, " or _file, not both");
	/* LinkedIn and TikTok cannot revoke without the secret; Facebook's app token needs both. */
	if (c->client_id != NULL && c->secret.env == NULL && c->secret.file == NULL &&
	    id != PLATFORM_X)
		return lethe_err_set(err, LETHE_E_CONFIG, "%s:%d: %s%s needs %s or %s", y->path,
		                     ynode_line(v), where, defaults[id].id_key, env_key, file_key);
	if (c->client_id == NULL && (c->secret.env != NULL || c->secret.file != NULL))
		return lethe_err_set(err, LETHE_E_CONFIG, "%s:%d: %s%s needs %s", y->path,
		                     ynode_line(v), where, env_key, defaults[id].id_key);
	return LETHE_OK;
}

lethe_rc
platforms_parse(const char *dir, struct ydoc *y, yaml_node_t *root, struct platforms **out,
                struct lethe_err *err)
{
	static const char *const keys[] = {"connect_timeout_ms",
	                                   "timeout_ms",
	                                   "max_response_bytes",
	                                   "google",
	                                   "facebook",
	                                   "instagram",
	                                   "linkedin",
	                                   "x",
	                                   "tiktok",
	                                   NULL};
	struct platforms *p = platforms_new();
	yaml_node_t *sec = ymap_get(y, root, "platforms"), *v;
	long max_body = (long)p->max_body;
	lethe_rc rc = LETHE_OK;
	int i;

	*out = NULL;
	if (sec != NULL && !ynode_is_map(sec))
		rc = pfail(y, sec, err, "expected a mapping for ", "platforms", "");
	if (rc == LETHE_OK && sec != NULL)
		rc = ymap_check_keys(y, sec, keys, "platforms", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK && sec != NULL)
		rc = ymap_check_dups(y, sec, "platforms", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK && sec != NULL)
		rc = get_long(y, sec, "connect_timeout_ms", 1, 600000, &p->connect_timeout_ms, err);
	if (rc == LETHE_OK && sec != NULL)
		rc = get_long(y, sec, "timeout_ms", 1, 600000, &p->timeout_ms, err);
	if (rc == LETHE_OK && sec != NULL)
		rc = get_long(y, sec, "max_response_bytes", 256, 16L << 20, &max_body, err);
	p->max_body = (size_t)max_body;
	for (i = 0; rc == LETHE_OK && sec != NULL && i < PLATFORM_COUNT; i++) {
		v = ymap_get(y, sec, defaults[i].name);
		if (v != NULL)
			rc = parse_one(dir, y, v, i, &p->conf[i], err);
	}
	if (rc != LETHE_OK) {
		platforms_free(p);
		return rc;
	}
	*out = p;
	return LETHE_OK;
}

lethe_rc
platform_secret_read(const struct platform_secret *s, const char *what, char *out,
                     struct lethe_err *err)
{
	FILE *f;
	size_t n;

	out[0] = '\0';
	if (s->env != NULL) {
		const char *v = getenv(s->env);

		if (v == NULL || v[0] == '\0')
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s: environment variable %s is not set (it must hold "
			                     "the client secret)",
			                     what, s->env);
		n = strlen(v);
		if (n > PLATFORM_SECRET_MAX)
			return lethe_err_set(err, LETHE_E_CONFIG, "%s: %s is too long", what,
			                     s->env);
		memcpy(out, v, n + 1);
		return LETHE_OK;
	}
	if (s->file == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "%s: no client secret configured", what);
	f = fopen(s->file, "r");
	if (f == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "%s: cannot read secret file %s: %s",
		                     what, s->file, strerror(errno));
	n = fread(out, 1, PLATFORM_SECRET_MAX, f);
	fclose(f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		out[--n] = '\0';
	if (n == 0)
		return lethe_err_set(err, LETHE_E_CONFIG, "%s: secret file %s is empty", what,
		                     s->file);
	return LETHE_OK;
}

lethe_rc
platforms_check_secrets(const struct platforms *p, struct lethe_err *err)
{
	char secret[PLATFORM_SECRET_MAX + 1];
	char what[48];
	lethe_rc rc = LETHE_OK;
	int i;

	for (i = 0; rc == LETHE_OK && p != NULL && i < PLATFORM_COUNT; i++) {
		const struct platform_secret *s = &p->conf[i].secret;

		if (s->env == NULL && s->file == NULL)
			continue;
		snprintf(what, sizeof(what), "platforms.%s", p->conf[i].name);
		rc = platform_secret_read(s, what, secret, err);
		if (rc == LETHE_OK && s->env == NULL)
			file_warn_readable(s->file, "secret file");
		sodium_memzero(secret, sizeof(secret));
	}
	return rc;
}
