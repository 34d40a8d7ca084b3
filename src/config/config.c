/* SPDX-License-Identifier: MIT */
/*
 * config.c - reading lethe.yaml (see config.h).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "config/config.h"
#include "util/mem.h"
#include "util/yamlutil.h"

#define DEFAULT_KEY_ENV "LETHE_ANONYMIZE_KEY"

char *
config_resolve(const struct lethe_config *cfg, const char *rel)
{
	if (rel[0] == '/' || cfg->dir == NULL)
		return xstrdup(rel);
	return xasprintf("%s/%s", cfg->dir, rel);
}

static lethe_rc
cfail(struct ydoc *y, yaml_node_t *n, struct lethe_err *err, const char *msg, const char *key)
{
	return lethe_err_set(err, LETHE_E_CONFIG, "%s:%d: %s%s", y->path, ynode_line(n), msg, key);
}

static lethe_rc
get_str(struct ydoc *y, yaml_node_t *map, const char *key, bool required, char **out,
        struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);

	*out = NULL;
	if (v == NULL) {
		if (required)
			return cfail(y, map, err, "missing key: ", key);
		return LETHE_OK;
	}
	if (s == NULL || s[0] == '\0')
		return cfail(y, v, err, "expected a non-empty value for ", key);
	*out = xstrdup(s);
	return LETHE_OK;
}

static lethe_rc
get_int(struct ydoc *y, yaml_node_t *map, const char *key, int64_t min, int64_t max, int64_t *out,
        struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);
	char *end = NULL;
	long long x;

	if (v == NULL)
		return LETHE_OK;
	errno = 0;
	x = s ? strtoll(s, &end, 10) : 0;
	if (s == NULL || s[0] == '\0' || errno != 0 || *end != '\0' || x < min || x > max)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: %s must be an integer from %lld to %lld", y->path,
		                     ynode_line(v), key, (long long)min, (long long)max);
	*out = x;
	return LETHE_OK;
}

static lethe_rc
section(struct ydoc *y, yaml_node_t *root, const char *name, const char *const *keys,
        yaml_node_t **out, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, root, name);

	*out = v;
	if (v == NULL)
		return LETHE_OK;
	if (!ynode_is_map(v))
		return cfail(y, v, err, "expected a mapping for ", name);
	return ymap_check_keys(y, v, keys, name, LETHE_E_CONFIG, err);
}

lethe_rc
config_load(struct lethe_config *cfg, const char *path, struct lethe_err *err)
{
	static const char *const root_keys[] = {"app",       "datamap", "state",
	                                        "anonymize", "erase",   NULL};
	static const char *const app_keys[] = {"database", "media_root", NULL};
	static const char *const state_keys[] = {"database", NULL};
	static const char *const anon_keys[] = {"key_env", "key_file", NULL};
	static const char *const erase_keys[] = {"batch_rows", "max_transaction_ms", "yield_ms",
	                                         NULL};
	struct ydoc y;
	yaml_node_t *root, *app, *state, *anon, *erase;
	char *tmp = NULL, *s = NULL;
	int64_t v;
	lethe_rc rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->path = xstrdup(path);
	tmp = xstrdup(path);
	cfg->dir = xstrdup(dirname(tmp));
	free(tmp);
	cfg->max_txn_ms = 30;
	cfg->yield_ms = 10;

	rc = ydoc_load(&y, path, NULL, LETHE_E_CONFIG, err);
	if (rc != LETHE_OK) {
		ydoc_free(&y);
		return rc;
	}
	root = ydoc_root(&y);
	if (!ynode_is_map(root)) {
		rc = cfail(&y, root, err, "the configuration must be a mapping", "");
		goto out;
	}
	rc = ymap_check_keys(&y, root, root_keys, "the configuration", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = section(&y, root, "app", app_keys, &app, err);
	if (rc == LETHE_OK && app == NULL)
		rc = cfail(&y, root, err, "missing section: ", "app");
	if (rc == LETHE_OK)
		rc = get_str(&y, app, "database", true, &cfg->app_db, err);
	if (rc == LETHE_OK)
		rc = get_str(&y, app, "media_root", false, &s, err);
	if (rc == LETHE_OK && s != NULL)
		cfg->media_root = config_resolve(cfg, s);
	free(s);
	s = NULL;
	if (rc == LETHE_OK)
		rc = get_str(&y, root, "datamap", true, &s, err);
	if (rc == LETHE_OK)
		cfg->datamap_path = config_resolve(cfg, s);
	free(s);
	s = NULL;
	if (rc == LETHE_OK)
		rc = section(&y, root, "state", state_keys, &state, err);
	if (rc == LETHE_OK && state != NULL)
		rc = get_str(&y, state, "database", false, &s, err);
	if (rc == LETHE_OK)
		cfg->state_db = config_resolve(cfg, s ? s : "var/state.db");
	free(s);
	s = NULL;
	if (rc == LETHE_OK)
		rc = section(&y, root, "anonymize", anon_keys, &anon, err);
	if (rc == LETHE_OK && anon != NULL)
		rc = get_str(&y, anon, "key_env", false, &cfg->key_env, err);
	if (rc == LETHE_OK && anon != NULL)
		rc = get_str(&y, anon, "key_file", false, &s, err);
	if (rc == LETHE_OK && s != NULL)
		cfg->key_file = config_resolve(cfg, s);
	free(s);
	s = NULL;
	if (rc == LETHE_OK && cfg->key_env == NULL)
		cfg->key_env = xstrdup(DEFAULT_KEY_ENV);
	if (rc == LETHE_OK)
		rc = section(&y, root, "erase", erase_keys, &erase, err);
	if (rc == LETHE_OK && erase != NULL) {
		v = 0;
		rc = get_int(&y, erase, "batch_rows", 0, 1000000, &v, err);
		cfg->batch_rows = v;
		v = cfg->max_txn_ms;
		if (rc == LETHE_OK)
			rc = get_int(&y, erase, "max_transaction_ms", 1, 60000, &v, err);
		cfg->max_txn_ms = (int)v;
		v = cfg->yield_ms;
		if (rc == LETHE_OK)
			rc = get_int(&y, erase, "yield_ms", 0, 10000, &v, err);
		cfg->yield_ms = (int)v;
	}
out:
	ydoc_free(&y);
	return rc;
}

void
config_free(struct lethe_config *cfg)
{
	free(cfg->path);
	free(cfg->dir);
	free(cfg->app_db);
	free(cfg->media_root);
	free(cfg->datamap_path);
	free(cfg->state_db);
	free(cfg->key_env);
	free(cfg->key_file);
	sodium_memzero(cfg->key, sizeof(cfg->key));
	memset(cfg, 0, sizeof(*cfg));
}

lethe_rc
config_load_key(struct lethe_config *cfg, struct lethe_err *err)
{
	const char *env = getenv(cfg->key_env);
	char hex[2 * HASH_KEY_LEN + 2];
	char buf[256];
	FILE *f = NULL;
	size_t n;
	int fd;

	if (cfg->key_loaded)
		return LETHE_OK;
	if (env != NULL && env[0] != '\0') {
		if (hash_key_parse(env, cfg->key) != LETHE_OK)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s must hold 64 hex digits (a 32-byte key)",
			                     cfg->key_env);
		cfg->key_loaded = true;
		return LETHE_OK;
	}
	if (cfg->key_file == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "no anonymize key: set %s or anonymize.key_file in %s",
		                     cfg->key_env, cfg->path);
	f = fopen(cfg->key_file, "r");
	if (f == NULL && errno == ENOENT) {
		uint8_t key[HASH_KEY_LEN];

		hash_key_random(key);
		hash_hex(key, HASH_KEY_LEN, hex);
		fd = open(cfg->key_file, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			return lethe_err_set(err, LETHE_E_CONFIG, "cannot create key file %s: %s",
			                     cfg->key_file, strerror(errno));
		n = strlen(hex);
		hex[n] = '\n';
		if (write(fd, hex, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0) {
			close(fd);
			return lethe_err_set(err, LETHE_E_CONFIG, "cannot write key file %s",
			                     cfg->key_file);
		}
		close(fd);
		memcpy(cfg->key, key, HASH_KEY_LEN);
		cfg->key_loaded = true;
		return LETHE_OK;
	}
	if (f == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "cannot open key file %s: %s",
		                     cfg->key_file, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (hash_key_parse(buf, cfg->key) != LETHE_OK)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "key file %s must hold 64 hex digits (a 32-byte key)",
		                     cfg->key_file);
	cfg->key_loaded = true;
	return LETHE_OK;
}
