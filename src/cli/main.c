/* SPDX-License-Identifier: MIT */
/*
 * main.c - lethe's entry point: dispatch to a command.
 */
#include "util/fmacros.h"

#include <malloc.h>
#include <sqlite3.h>

#include "cli/cli.h"
#include "util/log.h"

#ifndef LETHE_VERSION
#define LETHE_VERSION "0.1.0"
#endif

static const char usage[] =
    "usage: lethe COMMAND [OPTIONS]\n"
    "\n"
    "lethe erases, anonymizes and expires personal data in an app's database as\n"
    "its data map says: short resumable transactions, every step recorded.\n"
    "\n"
    "Commands:\n"
    "  demo    write the demo app (database, media, data map, configuration)\n"
    "  plan    show what erasing a person would do, touching nothing\n"
    "  erase   erase a person's data (resumable; run again after a crash)\n"
    "  serve   the HTTP server: Meta callbacks, status page, metrics, TTL sweeps\n"
    "  sweep   apply the data map's TTLs and end legal holds (--once for cron)\n"
    "  import-meta-ids\n"
    "          run Meta data deletions for a list of ids from the App Dashboard\n"
    "  sign-request\n"
    "          print a Meta signed_request, to test the Meta callbacks\n"
    "  disconnect\n"
    "          disconnect a channel: wipe tokens, revoke upstream, purge its data\n"
    "  jobs    list the outbox's upstream jobs and dead letters\n"
    "  api-key print a new app API key and the api: section that admits it\n"
    "  help    this text; `lethe COMMAND --help` for a command\n"
    "  version print the version\n"
    "\n"
    "Example:\n"
    "  lethe demo --dir demo\n"
    "  lethe plan  -c demo/lethe.yaml --scope account --id email=user1@example.com\n"
    "  lethe erase -c demo/lethe.yaml --scope account --id email=user1@example.com\n";

const char *cli_program = "lethe";

struct command {
	const char *name; /* what the user types */
	cli_cmd_fn fn;    /* what runs */
};

static const struct command commands[] = {
    {"demo", cmd_demo},
    {"plan", cmd_plan},
    {"erase", cmd_erase},
    {"sign-request", cmd_sign},
    {"serve", cmd_serve},
    {"import-meta-ids", cmd_import},
    {"disconnect", cmd_disconnect},
    {"jobs", cmd_jobs},
    {"api-key", cmd_apikey},
    {"sweep", cmd_sweep},
};

int
main(int argc, char **argv)
{
	const char *lv = getenv("LETHE_LOG");
	size_t i;

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
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("lethe %s\n", LETHE_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "lethe: error: unknown command '%s'\n\n%s", argv[1], usage);
	return 2;
}
