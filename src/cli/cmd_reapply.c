/* SPDX-License-Identifier: MIT */
/*
 * cmd_reapply.c - `lethe reapply`: after the app database was restored from
 * a backup, find the people lethe erased before whose rows are back and
 * erase them again, one request of source restore each (docs/proof.md).
 * It looks whether or not the restore marker shows a restore, and says
 * which.  Prints counts and request numbers, never a value.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"

/* The summary of @o (service_reapply()'s JSON) on @f. */
static void
print_summary(json_t *o, FILE *f)
{
	bool dry = json_is_true(json_object_get(o, "dry_run"));
	json_t *tables = json_object_get(o, "tables");
	json_t *reqs = json_object_get(o, "requests");
	json_int_t found = json_integer_value(json_object_get(o, "found"));
	size_t i;

	/* The command looks whatever the marker says: say what the marker said. */
	fprintf(f, "%s\n",
	        json_is_true(json_object_get(o, "restore_detected"))
	            ? "The app database's restore marker says it was restored from a backup."
	            : "The app database's restore marker shows no restore; looking anyway.");
	fprintf(f, "Looked for %lld erased rows of the ledger in %lld rows of the app database.\n",
	        (long long)json_integer_value(json_object_get(o, "entries")),
	        (long long)json_integer_value(json_object_get(o, "scanned")));
	if (found == 0) {
		fprintf(f, "Nobody erased before is back: nothing to re-apply.\n");
		return;
	}
	fprintf(f, "\n%lld people erased before are back (%lld rows):\n\n", (long long)found,
	        (long long)json_integer_value(json_object_get(o, "rows")));
	fprintf(f, "  %-24s %-16s %10s\n", "table", "scope", "rows");
	for (i = 0; i < json_array_size(tables); i++) {
		json_t *t = json_array_get(tables, i);

		fprintf(f, "  %-24s %-16s %10lld\n", json_string_value(json_object_get(t, "table")),
		        json_string_value(json_object_get(t, "scope")),
		        (long long)json_integer_value(json_object_get(t, "rows")));
	}
	fputc('\n', f);
	for (i = 0; i < json_array_size(reqs); i++) {
		json_t *r = json_array_get(reqs, i);
		json_t *n = json_object_get(r, "request");
		const char *e = json_string_value(json_object_get(r, "error"));
		long long by = (long long)json_integer_value(json_object_get(r, "erased_by"));
		const char *scope = json_string_value(json_object_get(r, "scope"));

		if (e != NULL)
			fprintf(f, "  erased by request #%lld (scope %s): not re-applied: %s%s\n",
			        by, scope, e,
			        json_is_true(json_object_get(r, "set_aside"))
			            ? " (set aside: not looked for again)"
			            : "");
		else if (dry)
			fprintf(f, "  erased by request #%lld (scope %s): would be erased again\n",
			        by, scope);
		else if (json_is_true(json_object_get(r, "repeat")))
			fprintf(
			    f,
			    "  erased by request #%lld (scope %s): request #%lld is already open\n",
			    by, scope, (long long)json_integer_value(n));
		else
			fprintf(f,
			        "  erased by request #%lld (scope %s): request #%lld erases them "
			        "again\n",
			        by, scope, (long long)json_integer_value(n));
	}
	if (dry)
		fprintf(f, "\nDry run: no request was made.\n");
}

int
cmd_reapply(const struct cli_args *a)
{
	struct cli_env env;
	struct lethe_err err = {0};
	bool dry = cli_arg_flag(a, "dry-run");
	json_t *o = NULL;
	int status = 0;
	lethe_rc rc;

	memset(&env, 0, sizeof(env));
	rc = cli_env_open(&env, a->config, &err);
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = service_reapply(env.svc, dry, NULL, &o, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, a->json);
	} else {
		if (a->json) {
			json_dumpf(o, stdout, JSON_INDENT(2));
			fputc('\n', stdout);
		} else {
			print_summary(o, stdout);
		}
		if (json_integer_value(json_object_get(o, "failed")) > 0) {
			fprintf(stderr,
			        "lethe: error: %lld people could not be erased again (see "
			        "above)\n",
			        (long long)json_integer_value(json_object_get(o, "failed")));
			status = 1;
		}
	}
	json_decref(o);
	cli_env_close(&env);
	return status;
}
