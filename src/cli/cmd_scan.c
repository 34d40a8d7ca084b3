/* SPDX-License-Identifier: MIT */
/*
 * cmd_scan.c - `lethe scan`: what of one person remains in the app database
 * (the residual scan, service_scan()), touching nothing.  Prints counts and
 * table names, never an identity's value.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"

/* An integer member of @o (0 if missing). */
static long long
num(const json_t *o, const char *name)
{
	return (long long)json_integer_value(json_object_get(o, name));
}

/* The scan @scan (service_scan()'s JSON) as a readable table on stdout. */
static void
print_scan(const json_t *scan)
{
	const json_t *found = json_object_get(scan, "found"), *f;
	long long rows = num(scan, "rows"), kept = num(scan, "kept");
	long long anonymized = num(scan, "anonymized");
	size_t i;

	printf("Residual scan, scope '%s': %lld tables checked.\n\n",
	       json_string_value(json_object_get(scan, "scope")), num(scan, "tables"));
	if (json_array_size(found) > 0) {
		printf("  %-24s %10s  %s\n", "table", "rows", "status");
		json_array_foreach(found, i, f)
		{
			printf("  %-24s %10lld  %s\n",
			       json_string_value(json_object_get(f, "table")), num(f, "rows"),
			       json_is_true(json_object_get(f, "kept"))
			           ? "kept (retained by the data map)"
			       : json_is_true(json_object_get(f, "anonymized"))
			           ? "anonymized (as the data map says)"
			       : json_is_true(json_object_get(f, "outside"))
			           ? "residual (outside the scope)"
			           : "residual");
		}
		fputc('\n', stdout);
	}
	if (strcmp(json_string_value(json_object_get(scan, "result")), "residual") == 0)
		printf("  residual: %lld row%s of the person remain%s.\n", rows,
		       rows == 1 ? "" : "s", rows == 1 ? "s" : "");
	else
		printf("  clean: nothing of the person remains that the data map erases.\n");
	if (kept > 0)
		printf("  kept: %lld row%s retained as the data map says.\n", kept,
		       kept == 1 ? "" : "s");
	if (anonymized > 0)
		printf("  anonymized: %lld row%s kept in anonymized form as the data map says.\n",
		       anonymized, anonymized == 1 ? "" : "s");
}

int
cmd_scan(const struct cli_args *a)
{
	struct cli_opts o;
	struct cli_env env;
	struct lethe_err err = {0};
	json_t *scan = NULL;
	int status = 0;
	lethe_rc rc;

	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	rc = cli_target_get(a, &o, &err);
	if (rc == LETHE_OK)
		rc = cli_env_open(&env, o.config, &err);
	if (rc == LETHE_OK)
		rc = service_scan(env.svc, o.scope, o.ids, o.nids, &scan, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, o.json);
		goto out;
	}
	if (o.json) {
		json_dumpf(scan, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		print_scan(scan);
	}
	status =
	    strcmp(json_string_value(json_object_get(scan, "result")), "residual") == 0 ? 1 : 0;
out:
	json_decref(scan);
	cli_env_close(&env);
	cli_opts_free(&o);
	return status;
}
