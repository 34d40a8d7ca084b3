/* SPDX-License-Identifier: MIT */
/*
 * config.c - reading lethe.yaml (see config.h).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "config/config.h"
#include "db/appdb.h"
#include "media/media.h"
#include "platform/platform_config.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pq.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

#define DEFAULT_KEY_ENV "LETHE_ANONYMIZE_KEY"
#define DEFAULT_OUTBOX_KEY_ENV "LETHE_OUTBOX_KEY"

char *
config_resolve(const struct lethe_config *cfg, const char *rel)
{
	return file_resolve(cfg->dir, rel);
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

static lethe_rc
get_duration(struct ydoc *y, yaml_node_t *map, const char *key, int64_t *out, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);

	if (v == NULL)
		return LETHE_OK;
	if (s != NULL && strcmp(s, "0") == 0) {
		*out = 0;
		return LETHE_OK;
	}
	if (s == NULL || duration_parse(s, out) != LETHE_OK)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: %s must be a duration like 10m, 24h, 7d (or 0)",
		                     y->path, ynode_line(v), key);
	return LETHE_OK;
}

/* sweep: {enabled, interval, max_rows_per_pass, max_ms_per_pass} (TTL sweeps). */
/*
 * app.database_options: the PostgreSQL session's timeouts (milliseconds),
 * added to cfg->app_db's URL as libpq's "options" (-c name=value), which
 * the driver keeps (db/appdb_pg.c sets its defaults only where nothing did).
 */
static lethe_rc
parse_db_options(struct lethe_config *cfg, struct ydoc *y, yaml_node_t *app, struct lethe_err *err)
{
	static const char *const keys[] = {"lock_timeout_ms", "statement_timeout_ms",
	                                   "idle_in_transaction_timeout_ms", NULL};
	static const char *const names[] = {"lock_timeout", "statement_timeout",
	                                    "idle_in_transaction_session_timeout"};
	yaml_node_t *o = NULL;
	struct buf b;
	char *url;
	size_t i;
	lethe_rc rc = section(y, app, "database_options", keys, &o, err);

	if (rc != LETHE_OK || o == NULL)
		return rc;
	if (!pq_is_url(cfg->app_db))
		return cfail(y, o, err, "database_options apply to a PostgreSQL app database only",
		             "");
	if (strstr(cfg->app_db, "options=") != NULL)
		return cfail(y, o, err,
		             "database_options and the URL's options= would both set the "
		             "session: keep one",
		             "");
	buf_init(&b, 4096);
	for (i = 0; rc == LETHE_OK && keys[i] != NULL; i++) {
		int64_t v = -1;

		rc = get_int(y, o, keys[i], 1, 86400000, &v, err);
		if (rc == LETHE_OK && v > 0)
			buf_addf(&b, "%s-c%%20%s%%3D%lld", b.len > 0 ? "%20" : "", names[i],
			         (long long)v);
	}
	if (rc == LETHE_OK && b.len > 0) {
		url = xasprintf("%s%soptions=%s", cfg->app_db,
		                strchr(cfg->app_db, '?') != NULL ? "&" : "?", buf_str(&b));
		free(cfg->app_db);
		cfg->app_db = url;
	}
	buf_free(&b);
	return rc;
}

static lethe_rc
parse_sweep(struct lethe_config *cfg, struct ydoc *y, yaml_node_t *root, struct lethe_err *err)
{
	static const char *const keys[] = {"enabled", "interval", "max_rows_per_pass",
	                                   "max_ms_per_pass", NULL};
	yaml_node_t *sw, *v;
	int64_t n;
	lethe_rc rc;

	rc = section(y, root, "sweep", keys, &sw, err);
	if (rc != LETHE_OK || sw == NULL)
		return rc;
	v = ymap_get(y, sw, "enabled");
	if (v != NULL) {
		const char *s = ynode_str(v);

		if (s != NULL && strcmp(s, "true") == 0)
			cfg->sweep_enabled = true;
		else if (s != NULL && strcmp(s, "false") == 0)
			cfg->sweep_enabled = false;
		else
			return cfail(y, v, err, "expected true or false for ", "sweep.enabled");
	}
	v = ymap_get(y, sw, "interval");
	if (v != NULL) {
		const char *s = ynode_str(v);

		if (s == NULL || duration_parse(s, &n) != LETHE_OK || n > 86400)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s:%d: sweep.interval must be a duration from 1s to "
			                     "24h, like 1s or 1m",
			                     y->path, ynode_line(v));
		cfg->sweep_interval_s = n;
	}
	rc = get_int(y, sw, "max_rows_per_pass", 1, 10000000, &cfg->sweep_max_rows, err);
	n = cfg->sweep_max_ms;
	if (rc == LETHE_OK)
		rc = get_int(y, sw, "max_ms_per_pass", 1, 600000, &n, err);
	cfg->sweep_max_ms = (int)n;
	return rc;
}

/* server.templates: the operator's template set, a directory (util/tplset.h). */
static lethe_rc
parse_templates_dir(struct lethe_config *cfg, struct ydoc *y, yaml_node_t *srv,
                    struct lethe_err *err)
{
	struct stat st;
	char *s = NULL;
	lethe_rc rc = get_str(y, srv, "templates", false, &s, err);

	if (rc == LETHE_OK && s != NULL) {
		cfg->templates_dir = config_resolve(cfg, s);
		if (stat(cfg->templates_dir, &st) != 0 || !S_ISDIR(st.st_mode))
			rc = lethe_err_set(
			    err, LETHE_E_CONFIG, "%s:%d: server.templates: %s is not a directory",
			    y->path, ynode_line(ymap_get(y, srv, "templates")), cfg->templates_dir);
	}
	free(s);
	return rc;
}

static lethe_rc
parse_server(struct lethe_config *cfg, struct ydoc *y, yaml_node_t *root, struct lethe_err *err)
{
	static const char *const keys[] = {"listen",          "public_url",
	                                   "contact",         "app_name",
	                                   "status_template", "max_connections_per_ip",
	                                   "templates",       NULL};
	yaml_node_t *srv;
	char *s = NULL;
	size_t n;
	lethe_rc rc;

	rc = section(y, root, "server", keys, &srv, err);
	if (rc == LETHE_OK && srv != NULL)
		rc = get_str(y, srv, "listen", false, &cfg->listen, err);
	if (rc == LETHE_OK && srv != NULL)
		rc = get_str(y, srv, "public_url", false, &cfg->public_url, err);
	if (rc == LETHE_OK && srv != NULL)
		rc = get_str(y, srv, "contact", false, &cfg->contact, err);
	if (rc == LETHE_OK && srv != NULL)
		rc = get_str(y, srv, "app_name", false, &cfg->app_name, err);
	if (rc == LETHE_OK && srv != NULL)
		rc = get_str(y, srv, "status_template", false, &s, err);
	if (rc == LETHE_OK && s != NULL)
		cfg->status_template = config_resolve(cfg, s);
	free(s);
	s = NULL;
	if (rc == LETHE_OK && srv != NULL)
		rc = parse_templates_dir(cfg, y, srv, err);
	cfg->conns_per_ip = 256;
	if (rc == LETHE_OK && srv != NULL)
		rc = get_int(y, srv, "max_connections_per_ip", 0, 4096, &cfg->conns_per_ip, err);
	if (rc != LETHE_OK)
		return rc;
	if (cfg->listen == NULL)
		cfg->listen = xstrdup("127.0.0.1:8080");
	cfg->public_url_default = cfg->public_url == NULL;
	if (cfg->public_url == NULL)
		cfg->public_url = xasprintf("http://%s", cfg->listen);
	n = strlen(cfg->public_url);
	while (n > 0 && cfg->public_url[n - 1] == '/')
		cfg->public_url[--n] = '\0';
	if (cfg->contact == NULL)
		cfg->contact = xstrdup("the app's support address");
	if (cfg->app_name == NULL)
		cfg->app_name = xstrdup("this app");
	return LETHE_OK;
}

static lethe_rc
parse_app(struct lethe_config *cfg, struct ydoc *y, yaml_node_t *k, yaml_node_t *v,
          struct meta_app *a, struct lethe_err *err)
{
	static const char *const keys[] = {"secret_env", "secret_file", "identity", "scope", NULL};
	char *file = NULL;
	lethe_rc rc;

	a->line = ynode_line(k);
	a->name = xstrdup(ynode_str(k) ? ynode_str(k) : "");
	if (!appdb_ident_ok(a->name))
		return lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "%s:%d: app name '%s' must be a plain name (letters, digits, _)", y->path,
		    a->line, a->name);
	if (!ynode_is_map(v))
		return cfail(y, v, err, "expected a mapping for app ", a->name);
	rc = ymap_check_keys(y, v, keys, a->name, LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = get_str(y, v, "secret_env", false, &a->secret_env, err);
	if (rc == LETHE_OK)
		rc = get_str(y, v, "secret_file", false, &file, err);
	if (rc == LETHE_OK && file != NULL)
		a->secret_file = config_resolve(cfg, file);
	free(file);
	if (rc == LETHE_OK)
		rc = get_str(y, v, "identity", true, &a->identity, err);
	if (rc == LETHE_OK)
		rc = get_str(y, v, "scope", true, &a->scope, err);
	if (rc == LETHE_OK && (a->secret_env == NULL) == (a->secret_file == NULL))
		rc = lethe_err_set(err, LETHE_E_CONFIG,
		                   "%s:%d: app '%s' needs exactly one of secret_env or secret_file",
		                   y->path, a->line, a->name);
	return rc;
}

static lethe_rc
parse_meta(struct lethe_config *cfg, struct ydoc *y, yaml_node_t *root, struct lethe_err *err)
{
	static const char *const keys[] = {"issued_at_max_age", "repeat_window", "apps", NULL};
	yaml_node_t *meta, *apps;
	size_t i;
	lethe_rc rc;

	cfg->meta_max_age = 0;
	cfg->meta_repeat = 86400;
	rc = section(y, root, "meta", keys, &meta, err);
	if (rc != LETHE_OK || meta == NULL)
		return rc;
	rc = get_duration(y, meta, "issued_at_max_age", &cfg->meta_max_age, err);
	if (rc == LETHE_OK)
		rc = get_duration(y, meta, "repeat_window", &cfg->meta_repeat, err);
	if (rc != LETHE_OK)
		return rc;
	apps = ymap_get(y, meta, "apps");
	if (apps == NULL)
		return LETHE_OK;
	if (!ynode_is_map(apps))
		return cfail(y, apps, err, "expected a mapping of app names for ", "meta.apps");
	rc = ymap_check_dups(y, apps, "meta.apps", LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	cfg->apps = xcalloc(ynode_len(apps) + 1, sizeof(*cfg->apps));
	for (i = 0; rc == LETHE_OK && i < ynode_len(apps); i++)
		rc = parse_app(cfg, y, ymap_key(y, apps, i), ymap_val(y, apps, i),
		               &cfg->apps[cfg->napps++], err);
	return rc;
}

/* A duration in milliseconds: "250ms", or a duration like "2s", "1h" (or 0). */
static lethe_rc
get_ms(struct ydoc *y, yaml_node_t *map, const char *key, int64_t min_ms, int64_t *out,
       struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);
	size_t n = s ? strlen(s) : 0;
	int64_t x = -1;

	if (v == NULL)
		return LETHE_OK;
	if (n > 2 && strcmp(s + n - 2, "ms") == 0 && strspn(s, "0123456789") == n - 2 && n < 12)
		x = strtoll(s, NULL, 10);
	else if (s != NULL && duration_parse(s, &x) == LETHE_OK && x < INT64_MAX / 1000)
		x *= 1000;
	else
		x = -1;
	if (x < min_ms)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: %s must be a duration like 250ms, 2s, 1h (at least "
		                     "%lld ms)",
		                     y->path, ynode_line(v), key, (long long)min_ms);
	*out = x;
	return LETHE_OK;
}

static lethe_rc
parse_outbox(struct lethe_config *cfg, struct ydoc *y, yaml_node_t *root, struct lethe_err *err)
{
	static const char *const keys[] = {"backoff_base", "backoff_cap", "max_attempts", "max_age",
	                                   "lease",        "key_env",     "key_file",     NULL};
	struct outbox_config *o = &cfg->outbox;
	yaml_node_t *sec;
	char *s = NULL;
	int64_t age_ms = o->max_age_s * 1000;
	lethe_rc rc;

	rc = section(y, root, "outbox", keys, &sec, err);
	if (rc == LETHE_OK && sec != NULL) {
		rc = get_ms(y, sec, "backoff_base", 1, &o->base_ms, err);
		if (rc == LETHE_OK)
			rc = get_ms(y, sec, "backoff_cap", 1, &o->cap_ms, err);
		if (rc == LETHE_OK)
			rc = get_int(y, sec, "max_attempts", 1, 1000, &o->max_attempts, err);
		if (rc == LETHE_OK)
			rc = get_ms(y, sec, "max_age", 1000, &age_ms, err);
		if (rc == LETHE_OK)
			rc = get_ms(y, sec, "lease", 1000, &o->lease_ms, err);
		if (rc == LETHE_OK)
			rc = get_str(y, sec, "key_env", false, &o->key_env, err);
		if (rc == LETHE_OK)
			rc = get_str(y, sec, "key_file", false, &s, err);
		if (rc == LETHE_OK && o->cap_ms < o->base_ms)
			rc = cfail(y, sec, err, "outbox.backoff_cap must not be below ",
			           "backoff_base");
	}
	o->max_age_s = age_ms / 1000;
	if (s != NULL)
		o->key_file = config_resolve(cfg, s);
	else if (cfg->key_file != NULL)
		o->key_file = config_resolve(cfg, "var/outbox.key");
	free(s);
	if (o->key_env == NULL)
		o->key_env = xstrdup(DEFAULT_OUTBOX_KEY_ENV);
	return rc;
}

/*
 * The list @name of section api: (@sec), [{name: NAME, sha256: HEX}], into
 * *@out (*@n entries); absent or null: none.
 */
static lethe_rc
parse_key_list(struct ydoc *y, yaml_node_t *sec, const char *name, const char *what,
               struct api_key **out, size_t *n, struct lethe_err *err)
{
	static const char *const key_keys[] = {"name", "sha256", NULL};
	yaml_node_t *list;
	size_t i;
	lethe_rc rc = LETHE_OK;

	list = ymap_get(y, sec, name);
	if (list == NULL || ynode_is_null(list))
		return LETHE_OK;
	if (!ynode_is_seq(list))
		return cfail(y, list, err, "expected a list of {name, sha256} for ", what);
	*out = xcalloc(ynode_len(list) ? ynode_len(list) : 1, sizeof(**out));
	for (i = 0; rc == LETHE_OK && i < ynode_len(list); i++) {
		yaml_node_t *k = yseq_item(y, list, i);
		struct api_key *a = &(*out)[i];
		char *hex = NULL;
		size_t bin = 0;

		if (!ynode_is_map(k))
			return cfail(y, k, err, "expected {name: NAME, sha256: HEX} in ", what);
		rc = ymap_check_keys(y, k, key_keys, "an API key", LETHE_E_CONFIG, err);
		if (rc == LETHE_OK)
			rc = get_str(y, k, "name", true, &a->name, err);
		if (rc == LETHE_OK)
			(*n)++;
		else
			free(a->name);
		a->line = ynode_line(k);
		if (rc == LETHE_OK)
			rc = get_str(y, k, "sha256", true, &hex, err);
		if (rc == LETHE_OK &&
		    (strlen(hex) != 64 ||
		     sodium_hex2bin(a->sha256, sizeof(a->sha256), hex, 64, NULL, &bin, NULL) != 0 ||
		     bin != 32))
			rc = cfail(y, k, err, "sha256 must be 64 hex digits (the output of ",
			           "`lethe api-key`)");
		free(hex);
	}
	return rc;
}

/*
 * api: {keys: [{name: NAME, sha256: HEX}], admin_keys: [...]}: the app
 * API's keys and the operator API's; one key in both lists is refused (an
 * app key must never open the operator API).
 */
static lethe_rc
parse_api(struct lethe_config *cfg, struct ydoc *y, yaml_node_t *root, struct lethe_err *err)
{
	static const char *const keys[] = {"keys", "admin_keys", NULL};
	yaml_node_t *sec;
	size_t i, j;
	lethe_rc rc;

	rc = section(y, root, "api", keys, &sec, err);
	if (rc != LETHE_OK || sec == NULL)
		return rc;
	rc = parse_key_list(y, sec, "keys", "api.keys", &cfg->api_keys, &cfg->napi_keys, err);
	if (rc == LETHE_OK)
		rc = parse_key_list(y, sec, "admin_keys", "api.admin_keys", &cfg->admin_keys,
		                    &cfg->nadmin_keys, err);
	for (i = 0; rc == LETHE_OK && i < cfg->nadmin_keys; i++)
		for (j = 0; rc == LETHE_OK && j < cfg->napi_keys; j++)
			if (sodium_memcmp(cfg->admin_keys[i].sha256, cfg->api_keys[j].sha256, 32) ==
			    0)
				rc = lethe_err_set(
				    err, LETHE_E_CONFIG,
				    "%s:%d: api.admin_keys: this key is also in "
				    "api.keys (line %d); an admin key must be its own",
				    y->path, cfg->admin_keys[i].line, cfg->api_keys[j].line);
	return rc;
}

lethe_rc
config_load(struct lethe_config *cfg, const char *path, struct lethe_err *err)
{
	static const char *const root_keys[] = {
	    "app",       "datamap", "state",   "anonymize",    "erase",    "server", "meta",
	    "platforms", "outbox",  "api",     "sweep",        "requests", "mail",   "selfservice",
	    "proof",     "export",  "mailbox", "media_stores", NULL};
	static const char *const app_keys[] = {"database", "media_root", "database_options",
	                                       "long_transaction_warn_s", NULL};
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
	cfg->outbox.base_ms = 2000;
	cfg->outbox.cap_ms = 3600 * 1000;
	cfg->outbox.max_attempts = 12;
	cfg->outbox.max_age_s = 7 * 86400;
	cfg->outbox.lease_ms = 120 * 1000;
	cfg->sweep_enabled = true;
	cfg->sweep_interval_s = 1;
	cfg->sweep_max_rows = 50000;
	cfg->sweep_max_ms = 250;
	cfg->long_xact_warn_s = 300;

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
		rc = parse_db_options(cfg, &y, app, err);
	if (rc == LETHE_OK)
		rc = get_str(&y, app, "media_root", false, &s, err);
	/* A URL is kept as written: config_check_media_root() refuses it by name. */
	if (rc == LETHE_OK && s != NULL)
		cfg->media_root = strstr(s, "://") != NULL ? xstrdup(s) : config_resolve(cfg, s);
	free(s);
	s = NULL;
	if (rc == LETHE_OK)
		rc = media_set_parse(cfg->dir, cfg->media_root, &y, root, &cfg->media, err);
	if (rc == LETHE_OK)
		rc = get_int(&y, app, "long_transaction_warn_s", 0, 7 * 86400,
		             &cfg->long_xact_warn_s, err);
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
		cfg->state_db =
		    pq_is_url(s) ? xstrdup(s) : config_resolve(cfg, s ? s : "var/state.db");
	/*
	 * The files lethe keeps beside its store (the intake log, the default
	 * export dir and signing key) keep their names with a PostgreSQL store:
	 * var/state.db-intake0 and so on, though var/state.db is never made.
	 */
	if (rc == LETHE_OK) {
		cfg->state_files = pq_is_url(cfg->state_db) ? config_resolve(cfg, "var/state.db")
		                                            : xstrdup(cfg->state_db);
		cfg->state_shown = pq_url_redacted(cfg->state_db);
	}
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
	if (rc == LETHE_OK)
		rc = parse_server(cfg, &y, root, err);
	if (rc == LETHE_OK)
		rc = parse_meta(cfg, &y, root, err);
	if (rc == LETHE_OK)
		rc = platforms_parse(cfg->dir, &y, root, &cfg->platforms, err);
	if (rc == LETHE_OK)
		rc = parse_outbox(cfg, &y, root, err);
	/* A lease shorter than a call lets another process take the job over mid-call. */
	if (rc == LETHE_OK && cfg->outbox.lease_ms <= cfg->platforms->timeout_ms)
		rc = lethe_err_set(err, LETHE_E_CONFIG,
		                   "%s: outbox.lease (%lld ms) must be longer than "
		                   "platforms.timeout_ms (%ld ms)",
		                   cfg->path, (long long)cfg->outbox.lease_ms,
		                   cfg->platforms->timeout_ms);
	if (rc == LETHE_OK)
		rc = parse_api(cfg, &y, root, err);
	if (rc == LETHE_OK)
		rc = parse_sweep(cfg, &y, root, err);
	if (rc == LETHE_OK)
		rc = policy_parse(&cfg->requests, &y, root, err);
	if (rc == LETHE_OK)
		rc = mail_config_parse(&cfg->mail, cfg->dir, &y, root, err);
	/* After mail: the page is on by default when mail is configured. */
	if (rc == LETHE_OK)
		rc = selfservice_parse(&cfg->selfservice, cfg->mail.enabled, &y, root, err);
	if (rc == LETHE_OK)
		rc = proof_config_parse(&cfg->proof, cfg->dir, cfg->state_files, &y, root, err);
	if (rc == LETHE_OK)
		rc = export_config_parse(&cfg->exports, cfg->dir, cfg->state_files, &y, root, err);
	if (rc == LETHE_OK)
		rc = mailbox_config_parse(&cfg->mailbox, cfg->dir, &y, root, err);
out:
	ydoc_free(&y);
	return rc;
}

void
config_free(struct lethe_config *cfg)
{
	size_t i;
	free(cfg->path);
	free(cfg->dir);
	free(cfg->app_db);
	free(cfg->media_root);
	media_set_free(cfg->media);
	free(cfg->datamap_path);
	free(cfg->state_db);
	free(cfg->state_files);
	free(cfg->state_shown);
	free(cfg->key_env);
	free(cfg->key_file);
	free(cfg->listen);
	free(cfg->public_url);
	free(cfg->contact);
	free(cfg->app_name);
	free(cfg->status_template);
	free(cfg->templates_dir);
	mail_config_free(&cfg->mail);
	for (i = 0; i < cfg->napps; i++) {
		free(cfg->apps[i].name);
		free(cfg->apps[i].secret_env);
		free(cfg->apps[i].secret_file);
		free(cfg->apps[i].identity);
		free(cfg->apps[i].scope);
		if (cfg->apps[i].secret != NULL)
			sodium_memzero(cfg->apps[i].secret, cfg->apps[i].secret_len);
		free(cfg->apps[i].secret);
	}
	free(cfg->apps);
	platforms_free(cfg->platforms);
	for (i = 0; i < cfg->napi_keys; i++)
		free(cfg->api_keys[i].name);
	free(cfg->api_keys);
	policy_free(&cfg->requests);
	selfservice_free(&cfg->selfservice);
	proof_config_free(&cfg->proof);
	export_config_free(&cfg->exports);
	mailbox_config_free(&cfg->mailbox);
	for (i = 0; i < cfg->nadmin_keys; i++)
		free(cfg->admin_keys[i].name);
	free(cfg->admin_keys);
	free(cfg->outbox.key_env);
	free(cfg->outbox.key_file);
	sodium_memzero(cfg->outbox.key, sizeof(cfg->outbox.key));
	sodium_memzero(cfg->key, sizeof(cfg->key));
	memset(cfg, 0, sizeof(*cfg));
}

lethe_rc
config_check_media_root(const struct lethe_config *cfg, struct lethe_err *err)
{
	const char *root = cfg->media_root;
	struct stat sb;

	if (root == NULL)
		return LETHE_OK;
	/* Only the scheme is named: a URL may carry credentials (s3://KEY:SECRET@...). */
	if (strstr(root, "://") != NULL)
		return lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "%s: app.media_root is a URL (%.*s://...): object storage is not "
		    "supported there; app.media_root is a directory: define the bucket under "
		    "media_stores: and name it in the data map's media: (docs/media.md)",
		    cfg->path, (int)(strstr(root, "://") - root), root);
	if (stat(root, &sb) != 0)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s: app.media_root %s: %s (it must be an existing directory)",
		                     cfg->path, root, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s: app.media_root %s is not a directory", cfg->path, root);
	if (access(root, W_OK | X_OK) != 0)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s: app.media_root %s: lethe cannot remove files there: %s",
		                     cfg->path, root, strerror(errno));
	return LETHE_OK;
}

const struct meta_app *
config_meta_app(const struct lethe_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->napps; i++)
		if (strcmp(cfg->apps[i].name, name) == 0)
			return &cfg->apps[i];
	return NULL;
}
