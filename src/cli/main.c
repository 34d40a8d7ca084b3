/* SPDX-License-Identifier: MIT */
/*
 * main.c - lethe's entry point: process-wide settings, then the command
 * named by the first argument, from the command table (commands.c).
 */
#include "util/fmacros.h"

#include <malloc.h>
#include <sqlite3.h>

#include "cli/cli.h"
#include "util/log.h"

const char *cli_program = "lethe";

int
main(int argc, char **argv)
{
	const char *lv = getenv("LETHE_LOG");
	const struct cli_command *cmd;

	/*
	 * Blocks of 128 KiB and more come from mmap and go back to the system
	 * when freed.  glibc otherwise raises that threshold after the first
	 * such free, and then large, long-lived blocks (the repeat map's 1 MiB
	 * segments, SQLite's caches) land in the heaps, where what is freed
	 * around them stays resident.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/*
	 * No memory statistics in SQLite: they take a global mutex on every
	 * allocation, shared by all threads' connections (7% of the intake
	 * indexer's time went to mutexes).  Before any other SQLite call.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (lv != NULL && strcmp(lv, "debug") == 0)
		log_set_verbosity(2);
	if (argc > 0 && argv[0] != NULL && argv[0][0] != '\0')
		cli_program = argv[0];
	if (argc < 2) {
		cli_help_print(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		cmd = cli_command_find("help");
	else if (strcmp(argv[1], "--version") == 0)
		cmd = cli_command_find("version");
	else
		cmd = cli_command_find(argv[1]);
	if (cmd == NULL) {
		fprintf(stderr, "lethe: error: unknown command '%s'\n\n", argv[1]);
		cli_help_print(stderr);
		return 2;
	}
	return cli_run(cmd, argc - 1, argv + 1);
}
