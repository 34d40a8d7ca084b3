/* SPDX-License-Identifier: MIT */
/*
 * cmd_plan.c - `lethe plan`: show what an erasure would do, touching nothing.
 */
#include "util/fmacros.h"

#include <getopt.h>
#include <jansson.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: lethe plan -c CONFIG --scope SCOPE --id KIND=VALUE [--id ...] [--json]\n"
    "\n"
    "Print the steps an erasure of one person would take: each table in the\n"
    "order it is processed (children before parents), its category, the action\n"
    "(delete, anonymize, retain) and how many rows it matches now.  Changes nothing.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml (app database, data map, state store)\n"
    "  -s, --scope SCOPE   a scope of the data map (e.g. account, meta, channel)\n"
    "  -i, --id KIND=VALUE an identity of the person, e.g. email=alice@example.com;\n"
    "                      repeat for several identities of the same person (ids\n"
    "                      that lead to different people are refused, exit 2)\n"
    "      --json          machine-readable output\n"
    "  -h, --help          this text\n";

int
cmd_plan(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"scope", required_argument, NULL, 's'},
	    {"id", required_argument, NULL, 'i'},     {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct cli_opts o;
	struct cli_env env;
	struct lethe_err err = {0};
	struct plan *plan = NULL;
	int ch, status = 0;
	lethe_rc rc = LETHE_OK;

	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	optind = 1;
	while (rc == LETHE_OK && (ch = getopt_long(argc, argv, "c:s:i:jh", longopts, NULL)) != -1) {
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
		case 'j':
			o.json = true;
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
