/* SPDX-License-Identifier: MIT */
/*
 * cmd_export.c - `lethe export`: the archive of one person's data
 * (service_export_cli(), docs/export.md) written to a file or stdout.
 * Prints where it went and counts, never an identity's value.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"
#include "util/timeutil.h"

int
cmd_export(const struct cli_args *a)
{
	struct cli_opts o;
	struct cli_env env;
	struct lethe_err err = {0};
	struct export_result res;
	const char *out = cli_arg_str(a, "out", NULL);
	const char *scope;
	char where[4096];
	FILE *f;
	int status = 0;
	lethe_rc rc;

	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	memset(&res, 0, sizeof(res));
	where[0] = '\0';
	rc = cli_target_get(a, &o, &err);
	if (rc == LETHE_OK && out != NULL && out[0] == '\0')
		rc =
		    lethe_err_set(&err, LETHE_E_USAGE, "--out needs a file name (or - for stdout)");
	if (rc == LETHE_OK)
		rc = cli_env_open(&env, o.config, &err);
	if (rc == LETHE_OK)
		rc = time_test_clock_check(&err);
	if (rc == LETHE_OK)
		rc = service_export_cli(env.svc, o.scope, o.ids, o.nids, out, where, sizeof(where),
		                        &res, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, o.json);
		goto out;
	}
	/* service_export_cli() took account for a scope not given (or refused). */
	scope = o.scope != NULL ? o.scope : "account";
	/* The archive may be on stdout: the summary then goes to stderr. */
	f = out != NULL && strcmp(out, "-") == 0 ? stderr : stdout;
	if (o.json) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:O}", "file",
		                      where, "scope", scope, "rows", (json_int_t)res.rows, "kept",
		                      (json_int_t)res.kept, "media", (json_int_t)res.media,
		                      "media_missing", (json_int_t)res.media_missing, "bytes",
		                      (json_int_t)res.bytes, "sha256", res.sha256, "tables",
		                      json_object_get(res.detail, "tables"));

		json_dumpf(j, f, JSON_INDENT(2));
		fputc('\n', f);
		json_decref(j);
	} else {
		fprintf(f, "Export written to %s\n", where);
		fprintf(f, "  rows    %lld (%lld kept under a legal hold)\n", (long long)res.rows,
		        (long long)res.kept);
		fprintf(f, "  media   %lld file%s", (long long)res.media,
		        res.media == 1 ? "" : "s");
		if (res.media_missing > 0)
			fprintf(f, " (%lld named but not found)", (long long)res.media_missing);
		fprintf(f, "\n  bytes   %lld\n  sha256  %s\n", (long long)res.bytes, res.sha256);
		if (res.rows == 0)
			fprintf(f,
			        "No data of this person was found in scope '%s': the archive "
			        "holds no rows.\n",
			        scope);
	}
out:
	export_result_free(&res);
	cli_env_close(&env);
	cli_opts_free(&o);
	return status;
}
