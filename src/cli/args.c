/* SPDX-License-Identifier: MIT */
/*
 * args.c - what plan and erase share: identities, opening the configured
 * databases and data map, reporting errors.
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <sodium.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/hash.h"
#include "util/mem.h"

lethe_rc
cli_add_id(struct cli_opts *o, const char *arg, struct lethe_err *err)
{
	const char *eq = strchr(arg, '=');
	char *kind;

	if (o->nids >= CLI_MAX_IDS)
		return lethe_err_set(err, LETHE_E_USAGE, "at most %d --id options", CLI_MAX_IDS);
	if (eq == NULL || eq == arg || eq[1] == '\0')
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "--id needs KIND=VALUE, e.g. --id email=alice@example.com");
	if (strlen(eq + 1) > CLI_MAX_ID_LEN)
		return lethe_err_set(err, LETHE_E_USAGE, "--id value longer than %d bytes",
		                     CLI_MAX_ID_LEN);
	kind = xstrndup(arg, (size_t)(eq - arg));
	if (!appdb_ident_ok(kind)) {
		free(kind);
		return lethe_err_set(err, LETHE_E_USAGE, "--id: bad identity kind");
	}
	o->ids[o->nids].kind = kind;
	o->ids[o->nids].value = xstrdup(eq + 1);
	o->nids++;
	return LETHE_OK;
}

void
cli_opts_free(struct cli_opts *o)
{
	size_t i;

	for (i = 0; i < o->nids; i++) {
		free((char *)o->ids[i].kind);
		free((char *)o->ids[i].value);
	}
	o->nids = 0;
}

lethe_rc
cli_env_open(struct cli_env *env, const char *config, struct lethe_err *err)
{
	lethe_rc rc;

	memset(env, 0, sizeof(*env));
	if (config == NULL)
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "-c CONFIG is required (e.g. -c demo/lethe.yaml)");
	if (hash_init() != LETHE_OK)
		return lethe_err_set(err, LETHE_E_INTERNAL, "libsodium failed to initialise");
	rc = config_load(&env->cfg, config, err);
	env->cfg_loaded = true;
	if (rc != LETHE_OK)
		return rc;
	env->db = appdb_open(env->cfg.app_db, env->cfg.dir, err);
	if (env->db == NULL)
		return err ? err->rc : LETHE_E_DB;
	env->dm = datamap_load(env->cfg.datamap_path, NULL, err);
	if (env->dm == NULL)
		return err ? err->rc : LETHE_E_DATAMAP;
	return datamap_validate(env->dm, env->db, err);
}

lethe_rc
cli_load_key(struct lethe_config *cfg, struct lethe_err *err)
{
	const char *env = getenv(cfg->key_env);
	bool from_env = env != NULL && env[0] != '\0', found = false;
	char recorded[HASH_TEXT_LEN + 1], fp[HASH_TEXT_LEN + 1];
	struct store *st = NULL;
	bool used = false;
	lethe_rc rc;

	if (cfg->key_loaded)
		return LETHE_OK;
	rc = store_open(cfg->state_db, &st, err);
	if (rc == LETHE_OK)
		rc = store_key_get(st, "anonymize", recorded, sizeof(recorded), &found, err);
	/* A store an older lethe filled records no fingerprint, yet needs its key. */
	if (rc == LETHE_OK && !found)
		rc = store_has_keyed_rows(st, &used, err);
	/* A store that records a key must get that key back, never a new one. */
	if (rc == LETHE_OK)
		rc = config_load_key_opt(cfg, !found && !used, err);
	if (rc == LETHE_E_NOTFOUND && !found) {
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "the anonymize key is missing: %s is not set and %s does not exist, but the "
		    "state store %s holds requests or jobs made with a key (by a lethe that did "
		    "not record its fingerprint yet); restore that key file (or set %s to that "
		    "key) and start again: a new key would leave them unreadable",
		    cfg->key_env, cfg->key_file, cfg->state_db, cfg->key_env);
		goto out;
	}
	if (rc == LETHE_E_NOTFOUND) {
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "the anonymize key is missing: %s is not set and %s does not exist, but the "
		    "state store %s records the fingerprint of the key its requests and jobs "
		    "were made with (%.17s...); restore that key file (or set %s to that key) "
		    "and start again: a new key would leave them unreadable",
		    cfg->key_env, cfg->key_file, cfg->state_db, recorded, cfg->key_env);
		goto out;
	}
	if (rc != LETHE_OK)
		goto out;
	config_key_fingerprint(cfg->key, "anonymize", fp);
	if (found && strcmp(fp, recorded) != 0) {
		cfg->key_loaded = false;
		sodium_memzero(cfg->key, sizeof(cfg->key));
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "the anonymize key from %s%s is not the one the state store %s was used "
		    "with: it records the fingerprint %.17s..., this key's is %.17s...; "
		    "restore the key file %s it was used with (or set %s to that key)",
		    from_env ? "environment variable " : "key file ",
		    from_env ? cfg->key_env : cfg->key_file, cfg->state_db, recorded, fp,
		    cfg->key_file != NULL ? cfg->key_file : "(anonymize.key_file)", cfg->key_env);
		goto out;
	}
	if (!found)
		rc = store_key_check(st, "anonymize", fp, err);
out:
	store_close(st);
	return rc;
}

void
cli_env_close(struct cli_env *env)
{
	datamap_free(env->dm);
	appdb_close(env->db);
	if (env->cfg_loaded)
		config_free(&env->cfg);
	memset(env, 0, sizeof(*env));
}

int
cli_fail(const struct lethe_err *err, bool json)
{
	fprintf(stderr, "lethe: error: %s\n", err->msg);
	if (json) {
		json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", lethe_rc_str(err->rc),
		                      "message", err->msg);

		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
	}
	return lethe_rc_exit(err->rc);
}

lethe_rc
cli_check_target(const struct cli_opts *o, int nrest, char **rest, struct lethe_err *err)
{
	if (nrest > 0)
		return lethe_err_set(err, LETHE_E_USAGE, "unexpected argument '%s'", rest[0]);
	if (o->scope == NULL)
		return lethe_err_set(err, LETHE_E_USAGE, "--scope is required");
	if (o->nids == 0)
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "at least one --id KIND=VALUE is required");
	return LETHE_OK;
}
