/* SPDX-License-Identifier: MIT */
/*
 * cmd_demo.c - `lethe demo`: write the reference app database.
 */
#include "util/fmacros.h"

#include "cli/cli.h"
#include "demo/demo.h"

int
cmd_demo(const struct cli_args *a)
{
	struct demo_opts d = {.users = 50, .seed = 1};
	struct lethe_err err = {0};

	d.dir = cli_arg_str(a, "dir", NULL);
	d.users = (int)cli_arg_int(a, "users", d.users);
	d.seed = (uint64_t)cli_arg_int(a, "seed", (int64_t)d.seed);
	d.heavy = cli_arg_int(a, "heavy", 0);
	d.quiet = cli_arg_flag(a, "quiet");
	d.database = cli_arg_str(a, "database", NULL);
	d.state = cli_arg_str(a, "state", NULL);
	d.force = cli_arg_flag(a, "force");
	if (demo_build(&d, &err) != LETHE_OK)
		return cli_fail(&err, false);
	if (!d.quiet)
		printf("\nTry:\n  %s plan -c %s/lethe.yaml --scope account --id "
		       "email=user1@example.com\n",
		       cli_program, d.dir);
	return 0;
}
