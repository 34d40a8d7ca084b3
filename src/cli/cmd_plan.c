/* SPDX-License-Identifier: MIT */
/*
 * cmd_plan.c - `lethe plan`: show what an erasure would do, touching nothing.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"

int
cmd_plan(const struct cli_args *a)
{
	struct cli_opts o;
	struct cli_env env;
	struct lethe_err err = {0};
	struct plan *plan = NULL;
	int status = 0;
	lethe_rc rc = LETHE_OK;

	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	rc = cli_target_get(a, &o, &err);
	if (rc == LETHE_OK)
		rc = cli_env_open(&env, o.config, &err);
	if (rc == LETHE_OK)
		rc = service_plan(env.svc, o.scope, o.ids, o.nids, &plan, &err);
	if (rc == LETHE_OK)
		rc = service_plan_check(env.svc, o.ids, o.nids, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, o.json);
		goto out;
	}
	if (o.json) {
		json_t *j = plan_to_json(plan);

		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else {
		plan_print(plan, stdout);
	}
out:
	plan_free(plan);
	cli_env_close(&env);
	cli_opts_free(&o);
	return status;
}
