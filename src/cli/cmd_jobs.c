/* SPDX-License-Identifier: MIT */
/*
 * cmd_jobs.c - `lethe jobs`: the outbox's jobs (revoke, unsubscribe, purge)
 * by state, dead letters with their reason.
 */
#include "util/fmacros.h"

#include <getopt.h>
#include <jansson.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/hash.h"
#include "util/timeutil.h"

static const char usage[] =
    "usage: lethe jobs -c CONFIG [--state STATE | --dead] [--json]\n"
    "\n"
    "List the outbox's jobs: upstream token revocations, webhook unsubscriptions\n"
    "and purges queued by channel disconnects, with their state (pending,\n"
    "running, done, dead), attempts, next try and, for dead letters, why they\n"
    "were given up.  Jobs hold no token in the clear, and none at all once done\n"
    "or dead.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "      --state STATE   only jobs in STATE (staged, pending, running, done, dead)\n"
    "      --dead          only dead letters (same as --state dead)\n"
    "      --json          JSON lines, one job per line\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 listed, 1 failure, 2 usage error, 3 configuration invalid.\n";

struct list_acc {
	bool json; /* JSON lines */
	int n;     /* jobs listed */
};

static void
fmt_ms(int64_t ms, char *out, size_t n)
{
	if (ms <= 0) {
		snprintf(out, n, "-");
		return;
	}
	time_format(ms / 1000, out, n);
}

static void
on_job(void *arg, const struct store_outbox *j)
{
	struct list_acc *a = arg;
	char next[32], fin[32];

	a->n++;
	fmt_ms(strcmp(j->state, "pending") == 0 ? j->next_at_ms : 0, next, sizeof(next));
	fmt_ms(j->finished_at_ms, fin, sizeof(fin));
	if (a->json) {
		json_t *o = json_pack(
		    "{s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:b}", "id",
		    (json_int_t)j->id, "disconnect", (json_int_t)j->disconnect_id, "kind", j->kind,
		    "platform", j->platform, "state", j->state, "outcome", j->outcome, "attempts",
		    (json_int_t)j->attempts, "next_try", next, "finished_at", fin, "http_status",
		    (json_int_t)j->http_status, "reason", j->reason, "sealed_payload", j->has_box);
		char *text = json_dumps(o, JSON_COMPACT);

		printf("%s\n", text);
		free(text);
		json_decref(o);
		return;
	}
	printf("%-6lld %-6lld %-12s %-10s %-8s %-22s %-3lld %-19s %s\n", (long long)j->id,
	       (long long)j->disconnect_id, j->kind, j->platform[0] ? j->platform : "-", j->state,
	       j->outcome[0] ? j->outcome : "-", (long long)j->attempts, next,
	       j->reason[0] ? j->reason : "");
}

int
cmd_jobs(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"state", required_argument, NULL, 's'},
	    {"dead", no_argument, NULL, 'd'},         {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	static const char *const states[] = {"staged", "pending", "running", "done", "dead", NULL};
	const char *config = NULL, *state = NULL;
	struct list_acc acc = {false, 0};
	struct lethe_config cfg;
	struct lethe_err err = {0};
	struct store *st = NULL;
	bool cfg_loaded = false;
	int ch, status = 0;
	size_t i;
	lethe_rc rc = LETHE_OK;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'd':
			state = "dead";
			break;
		case 'j':
			acc.json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc)
		rc = lethe_err_set(&err, LETHE_E_USAGE, "unexpected argument '%s'", argv[optind]);
	if (rc == LETHE_OK && config == NULL)
		rc = lethe_err_set(&err, LETHE_E_USAGE, "-c CONFIG is required");
	for (i = 0; rc == LETHE_OK && state != NULL && states[i] != NULL; i++)
		if (strcmp(states[i], state) == 0)
			break;
	if (rc == LETHE_OK && state != NULL && states[i] == NULL)
		rc = lethe_err_set(&err, LETHE_E_USAGE,
		                   "--state must be staged, pending, running, done or dead");
	if (rc == LETHE_OK && hash_init() != LETHE_OK)
		rc = lethe_err_set(&err, LETHE_E_INTERNAL, "libsodium failed to initialise");
	if (rc == LETHE_OK) {
		rc = config_load(&cfg, config, &err);
		cfg_loaded = true;
	}
	if (rc == LETHE_OK)
		rc = cli_load_key(&cfg, &err);
	if (rc == LETHE_OK)
		rc = store_open(cfg.state_db, &st, &err);
	if (rc == LETHE_OK && !acc.json)
		printf("%-6s %-6s %-12s %-10s %-8s %-22s %-3s %-19s %s\n", "JOB", "DISC", "KIND",
		       "PLATFORM", "STATE", "OUTCOME", "TRY", "NEXT TRY", "REASON");
	if (rc == LETHE_OK)
		rc = store_outbox_list(st, 0, state, on_job, &acc, &err);
	if (rc != LETHE_OK)
		status = cli_fail(&err, acc.json);
	store_close(st);
	if (cfg_loaded)
		config_free(&cfg);
	return status;
}
