/* SPDX-License-Identifier: MIT */
/*
 * cmd_erase.c - `lethe erase`: run (or resume) the erasure of one person.
 */
#include "util/fmacros.h"

#include <getopt.h>
#include <jansson.h>

#include "cli/cli.h"
#include "engine/erase.h"
#include "util/timeutil.h"

static const char usage[] =
    "usage: lethe erase -c CONFIG --scope SCOPE --id KIND=VALUE [--id ...]\n"
    "                   [--batch N] [--json] [--quiet] [--no-progress]\n"
    "\n"
    "Erase one person's data in SCOPE as the data map says: delete, anonymize,\n"
    "or retain under a legal hold, table by table, in short transactions.\n"
    "Progress is recorded in the state store: if the command is interrupted\n"
    "(even killed), running the same command again finishes the job.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -s, --scope SCOPE   a scope of the data map (account, meta, channel, ...)\n"
    "  -i, --id KIND=VALUE an identity of the person; repeat for several of the\n"
    "                      same person (ids that lead to different people are\n"
    "                      refused, exit 2)\n"
    "  -b, --batch N       rows per transaction (default: adaptive, aiming at\n"
    "                      erase.max_transaction_ms)\n"
    "      --json          print the summary as JSON\n"
    "  -q, --quiet         no summary, only the exit status\n"
    "      --no-progress   no progress bar (it is shown only on a terminal)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 erased (possibly with rows retained under a legal hold),\n"
    "1 failed (run again to resume), 2 usage error, 3 configuration or data map\n"
    "invalid.\n";

static void
on_progress(void *arg, const struct erase_progress *p)
{
	progress_update(arg, p->table, p->done, p->planned);
}

int
cmd_erase(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"scope", required_argument, NULL, 's'},
	    {"id", required_argument, NULL, 'i'},
	    {"batch", required_argument, NULL, 'b'},
	    {"json", no_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"no-progress", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_opts o;
	struct cli_env env;
	struct lethe_err err = {0};
	struct plan *plan = NULL;
	struct erase_result res;
	struct progress *bar = NULL;
	char *end = NULL;
	int ch, status = 0;
	lethe_rc rc = LETHE_OK;

	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	memset(&res, 0, sizeof(res));
	optind = 1;
	while (rc == LETHE_OK &&
	       (ch = getopt_long(argc, argv, "c:s:i:b:jqh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config = optarg;
			break;
		case 's':
			o.scope = optarg;
			break;
		case 'i':
			rc = cli_add_id(&o, optarg, &err);
			break;
		case 'b':
			o.batch = strtoll(optarg, &end, 10);
			if (*end != '\0' || o.batch < 1 || o.batch > 1000000)
				rc = lethe_err_set(&err, LETHE_E_USAGE,
				                   "--batch must be a number from 1 to 1000000");
			break;
		case 'j':
			o.json = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'P':
			o.no_progress = true;
			break;
		case 'h':
			fputs(usage, stdout);
			goto out;
		default:
			fputs(usage, stderr);
			status = 2;
			goto out;
		}
	}
	if (rc == LETHE_OK)
		rc = cli_check_target(&o, argc - optind, argv + optind, &err);
	if (rc == LETHE_OK)
		rc = cli_env_open(&env, o.config, &err);
	if (rc == LETHE_OK)
		rc = time_test_clock_check(&err);
	if (rc == LETHE_OK)
		rc = service_plan(env.svc, o.scope, o.ids, o.nids, &plan, &err);
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = service_plan_check(env.svc, o.ids, o.nids, &err);
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
