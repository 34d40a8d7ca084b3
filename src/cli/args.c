/* SPDX-License-Identifier: MIT */
/*
 * args.c - what plan and erase share: identities, opening the configured
 * databases and data map, reporting errors.
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <sodium.h>

#include "cli/cli.h"
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
	rc = datamap_validate(env->dm, env->db, err);
	if (rc == LETHE_OK)
		env->svc = service_open(&env->cfg, env->dm, env->db);
	return rc;
}

lethe_rc
cli_load_key(struct lethe_config *cfg, struct lethe_err *err)
{
	return service_load_key(cfg, err);
}

void
cli_env_close(struct cli_env *env)
{
	service_close(env->svc);
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
