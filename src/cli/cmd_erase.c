/* SPDX-License-Identifier: MIT */
/*
 * cmd_erase.c - `lethe erase`: run (or resume) the erasure of one person.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"
#include "engine/erase.h"
#include "util/timeutil.h"

static void
on_progress(void *arg, const struct erase_progress *p)
{
	progress_update(arg, p->table, p->done, p->planned);
}

int
cmd_erase(const struct cli_args *a)
{
	struct cli_opts o;
	struct cli_env env;
	struct lethe_err err = {0};
	struct plan *plan = NULL;
	struct erase_result res;
	struct progress *bar = NULL;
	int status = 0;
	lethe_rc rc = LETHE_OK;

	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	memset(&res, 0, sizeof(res));
	rc = cli_target_get(a, &o, &err);
	o.batch = cli_arg_int(a, "batch", 0);
	o.quiet = cli_arg_flag(a, "quiet");
	o.no_progress = cli_arg_flag(a, "no-progress");
	if (rc == LETHE_OK)
		rc = cli_env_open(&env, o.config, &err);
	if (rc == LETHE_OK)
		rc = service_media_check(env.svc, &err);
	if (rc == LETHE_OK)
		rc = time_test_clock_check(&err);
	if (rc == LETHE_OK)
		rc = service_plan(env.svc, o.scope, o.ids, o.nids, &plan, &err);
	/* Several --id must name one person: a usage error (exit 2), checked first. */
	if (rc == LETHE_OK)
		rc = service_plan_check(env.svc, o.ids, o.nids, &err);
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	/* The channels it erases are disconnected: their jobs are sealed with the outbox key. */
	if (rc == LETHE_OK && env.dm->channel != NULL)
		rc = service_load_outbox_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = service_store_open(env.svc, &err);
	if (rc != LETHE_OK)
		goto fail;
	bar = progress_new(!o.json && !o.quiet && !o.no_progress);
	rc = service_erase(env.svc, plan, o.ids, o.nids, o.batch, on_progress, bar, &res, &err);
	progress_done(bar);
	if (rc != LETHE_OK)
		goto fail;
	if (o.json) {
		json_t *j = erase_result_json(&res);

		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else if (!o.quiet) {
		erase_result_print(&res, stdout);
	}
	goto out;
fail:
	status = cli_fail(&err, o.json);
out:
	erase_result_free(&res);
	plan_free(plan);
	cli_env_close(&env);
	cli_opts_free(&o);
	return status;
}
