/* SPDX-License-Identifier: MIT */
/*
 * cmd_sweep.c - `lethe sweep`: TTL sweeps from the command line, once (for
 * cron) or continuously (the sweeper of `lethe serve` without the server).
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>

#include "cli/cli.h"
#include "engine/sweep.h"
#include "util/log.h"
#include "util/timeutil.h"

static void
print_summary(struct sweep *s, size_t ntabs, bool dry, int64_t now, double ms, FILE *f)
{
	struct sweep_totals tot;
	char when[32];
	size_t i;

	time_format(now, when, sizeof(when));
	fprintf(f, "Sweep at %s UTC%s\n\n", when,
	        dry ? " (dry run: nothing was changed; counts are what would go)" : "");
	fprintf(f, "  %-24s %-10s %10s\n", "table", "action", "rows");
	for (i = 0; i < ntabs; i++) {
		struct sweep_table_stats st;

		sweep_table_get(s, i, &st);
		fprintf(f, "  %-24s %-10s %10lld", st.table->name,
		        dm_action_str(st.table->ttl.action), (long long)st.rows);
		if (st.table->nmedia > 0 && st.media_missing > 0)
			fprintf(f, "   (%lld media files, %lld missing)", (long long)st.media,
			        (long long)st.media_missing);
		else if (st.table->nmedia > 0)
			fprintf(f, "   (%lld media files)", (long long)st.media);
		fputc('\n', f);
	}
	sweep_totals_get(s, &tot);
	fprintf(f, "\n  Legal holds ended: %lld", (long long)tot.holds_released);
	if (!dry)
		fprintf(f, " (%lld rows deleted)", (long long)tot.holds_rows);
	fprintf(f, "\n  %lld transactions, longest %.1f ms; %.0f ms in all.\n", (long long)tot.txns,
	        tot.max_txn_ms, ms);
}

/* Sweep until nothing expired now is left (or, dry, count it), and print what it did. */
/* *@unremoved: media files whose rows are gone but that could not be removed. */
static lethe_rc
sweep_once(struct cli_env *env, bool dry, bool json, int64_t *unremoved, struct lethe_err *err)
{
	struct sweep *s = NULL;
	int64_t now = 0;
	double t0 = time_mono_ms();
	lethe_rc rc;

	rc = service_sweep_once(env->svc, dry, &s, &now, unremoved, err);
	if (rc == LETHE_OK && json) {
		json_t *j = sweep_json(s);

		json_object_set_new(j, "now", json_integer(now));
		json_object_set_new(j, "elapsed_ms", json_real(time_mono_ms() - t0));
		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else if (rc == LETHE_OK) {
		print_summary(s, service_sweep_ntables(env->svc), dry, now, time_mono_ms() - t0,
		              stdout);
	}
	sweep_destroy(s);
	return rc;
}

/*
 * The sweeper thread until SIGINT or SIGTERM; SIGHUP and SIGUSR1 (blocked
 * in @set too) are logged and ignored, so a reload sent to every lethe
 * process does not stop this one.
 */
static lethe_rc
sweep_forever(struct cli_env *env, const sigset_t *set, struct lethe_err *err)
{
	int sig = 0;
	lethe_rc rc;

	rc = service_sweep_start(env->svc, err);
	if (rc != LETHE_OK)
		return rc;
	printf("lethe: sweeping %zu tables every %llds until SIGINT/SIGTERM\n",
	       service_sweep_ntables(env->svc), (long long)env->cfg.sweep_interval_s);
	fflush(stdout);
	for (;;) {
		sigwait(set, &sig);
		if (sig != SIGHUP && sig != SIGUSR1)
			break;
		log_info("%s ignored (lethe sweep reads its configuration only at start; SIGINT or "
		         "SIGTERM stop)",
		         sig == SIGHUP ? "SIGHUP" : "SIGUSR1");
	}
	log_info("signal %d: stopping the sweeper", sig);
	service_close(env->svc); /* stops the sweeper */
	env->svc = NULL;
	return LETHE_OK;
}

int
cmd_sweep(const struct cli_args *a)
{
	const char *config = NULL;
	bool once = false, dry = false, json = false;
	struct cli_env env;
	struct lethe_err err = {0};
	sigset_t set;
	int64_t unremoved = 0;
	int status = 0;
	lethe_rc rc;

	memset(&env, 0, sizeof(env));
	config = a->config;
	once = cli_arg_flag(a, "once");
	dry = cli_arg_flag(a, "dry-run");
	json = a->json;
	if (json && !once && !dry)
		return cli_usage_fail(a, "--json needs --once or --dry-run");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (!once && !dry)
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = cli_env_open(&env, config, &err);
	if (rc == LETHE_OK)
		rc = service_media_check(env.svc, &err);
	if (rc == LETHE_OK)
		rc = time_test_clock_check(&err);
	if (rc == LETHE_OK && !service_sweep_wanted(env.svc)) {
		printf("lethe: no table of the data map has a ttl or retain; nothing to sweep\n");
		goto out;
	}
	if (rc == LETHE_OK)
		rc = service_sweep_check(env.svc, &err);
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK && (once || dry)) {
		rc = sweep_once(&env, dry, json, &unremoved, &err);
	} else if (rc == LETHE_OK) {
		rc = sweep_forever(&env, &set, &err);
	}
	if (rc != LETHE_OK) {
		status = cli_fail(&err, json);
	} else if (unremoved > 0) {
		/* The summary is out; the files are retried by the next run. */
		fprintf(stderr, "lethe: error: %lld media files could not be removed; run again\n",
		        (long long)unremoved);
		status = 1;
	}
out:
	cli_env_close(&env);
	return status;
}
