/* SPDX-License-Identifier: MIT */
/*
 * cmd_scan.c - `lethe scan`: what of one person remains in the app database
 * (the residual scan, engine/scan.h), touching nothing.  Prints counts and
 * table names, never an identity's value.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"
#include "engine/scan.h"

/* The scan @res of scope @scope as a readable table on stdout. */
static void
print_scan(const struct scan_result *res, const char *scope)
{
	size_t i;

	printf("Residual scan, scope '%s': %lld tables checked.\n\n", scope,
	       (long long)res->tables);
	if (res->nfound > 0) {
		printf("  %-24s %10s  %s\n", "table", "rows", "status");
		for (i = 0; i < res->nfound; i++) {
			const struct scan_table *f = &res->found[i];

			printf("  %-24s %10lld  %s\n", f->table->name, (long long)f->rows,
			       f->kept         ? "kept (retained by the data map)"
			       : f->anonymized ? "anonymized (as the data map says)"
			       : f->outside    ? "residual (outside the scope)"
			                       : "residual");
		}
		fputc('\n', stdout);
	}
	if (res->residual)
		printf("  residual: %lld row%s of the person remain%s.\n", (long long)res->rows,
		       res->rows == 1 ? "" : "s", res->rows == 1 ? "s" : "");
	else
		printf("  clean: nothing of the person remains that the data map erases.\n");
	if (res->kept > 0)
		printf("  kept: %lld row%s retained as the data map says.\n", (long long)res->kept,
		       res->kept == 1 ? "" : "s");
	if (res->anonymized > 0)
		printf("  anonymized: %lld row%s kept in anonymized form as the data map says.\n",
		       (long long)res->anonymized, res->anonymized == 1 ? "" : "s");
}

int
cmd_scan(const struct cli_args *a)
{
	struct cli_opts o;
	struct cli_env env;
	struct lethe_err err = {0};
	struct scan_result res;
	int status = 0;
	lethe_rc rc;

	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	memset(&res, 0, sizeof(res));
	rc = cli_target_get(a, &o, &err);
	if (rc == LETHE_OK && o.scope == NULL)
		o.scope = "account";
	if (rc == LETHE_OK)
		rc = cli_env_open(&env, o.config, &err);
	if (rc == LETHE_OK)
		rc = service_scan(env.svc, o.scope, o.ids, o.nids, &res, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, o.json);
		goto out;
	}
	if (o.json) {
		json_t *j = scan_result_json(&res);

		json_object_set_new(j, "scope", json_string(o.scope));
		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else {
		print_scan(&res, o.scope);
	}
	status = res.residual ? 1 : 0;
out:
	scan_result_free(&res);
	cli_env_close(&env);
	cli_opts_free(&o);
	return status;
}
