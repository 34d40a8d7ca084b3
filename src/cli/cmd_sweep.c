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
#include "jobs/sweeper.h"
#include "store/store.h"
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
		if (st.table->nmedia > 0)
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

/* Sweep until nothing expired at @now is left (or, dry, count it). */
/* *@unremoved: media files whose rows are gone but that could not be removed. */
static lethe_rc
sweep_once(struct cli_env *env, bool dry, bool json, int64_t *unremoved, struct lethe_err *err)
{
	struct store *st = NULL;
	struct sweep *s = NULL;
	struct sweep_opts o;
	int64_t now = time_now();
	double t0 = time_mono_ms();
	bool more = true;
	size_t i;
	lethe_rc rc, prc; /* prc: the first failure of a table (the others go on) */

	rc = store_open(env->cfg.state_db, &st, err);
	if (rc != LETHE_OK)
		return rc;
	memset(&o, 0, sizeof(o));
	o.max_rows_per_pass = env->cfg.sweep_max_rows;
	o.max_ms_per_pass = env->cfg.sweep_max_ms;
	o.batch_rows = env->cfg.batch_rows;
	o.max_txn_ms = env->cfg.max_txn_ms;
	o.yield_ms = env->cfg.yield_ms;
	o.media_root = env->cfg.media_root;
	o.key = env->cfg.key;
	o.dry_run = dry;
	/* A one-off batch job, like `lethe erase`: a large page cache and mmap reads. */
	if (!dry && env->db->ops->bulk != NULL)
		env->db->ops->bulk(env->db, true);
	s = sweep_new(env->dm, env->db, st, &o);
	/* Backlog and lag before the sweep: what it found to do (in the JSON). */
	prc = sweep_measure(s, now, err);
	if (!dry)
		rc = sweep_recover(s, err);
	/* A failing table does not stop the others: passes go on, the first error is kept. */
	while (rc == LETHE_OK && more) {
		struct lethe_err e = {0};
		lethe_rc r = sweep_pass(s, now, &more, &e);

		if (r != LETHE_OK && prc == LETHE_OK) {
			prc = r;
			*err = e;
		}
	}
	if (rc == LETHE_OK)
		rc = prc;
	if (env->db->ops->flush != NULL && !dry)
		env->db->ops->flush(env->db);
	if (rc == LETHE_OK && json) {
		json_t *j = sweep_json(s);

		json_object_set_new(j, "now", json_integer(now));
		json_object_set_new(j, "elapsed_ms", json_real(time_mono_ms() - t0));
		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else if (rc == LETHE_OK) {
		print_summary(s, sweep_ntables(env->dm), dry, now, time_mono_ms() - t0, stdout);
	}
	for (i = 0; i < sweep_ntables(env->dm); i++) {
		struct sweep_table_stats ts;

		sweep_table_get(s, i, &ts);
		*unremoved += ts.media_failed;
	}
	sweep_destroy(s);
	store_close(st);
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
	struct sweeper *w = NULL;
	int sig = 0;
	lethe_rc rc;

	rc = sweeper_start(&env->cfg, env->dm, &w, err);
	if (rc != LETHE_OK)
		return rc;
	printf("lethe: sweeping %zu tables every %llds until SIGINT/SIGTERM\n",
	       sweep_ntables(env->dm), (long long)env->cfg.sweep_interval_s);
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
	sweeper_stop(w);
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
		rc = time_test_clock_check(&err);
	if (rc == LETHE_OK && !sweep_wanted(env.dm)) {
		printf("lethe: no table of the data map has a ttl or retain; nothing to sweep\n");
		goto out;
	}
	if (rc == LETHE_OK)
		rc = sweep_check_config(env.dm, env.cfg.media_root, &err);
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK && (once || dry)) {
		sweep_check_indexes(env.dm, env.db);
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
