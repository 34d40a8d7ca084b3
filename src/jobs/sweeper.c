/* SPDX-License-Identifier: MIT */
/*
 * sweeper.c - the TTL sweeper thread (see sweeper.h).
 *
 * Locking: the thread is a util/worker (its stop flag and naps); the sweep
 * itself runs without the lock and polls the worker's stop_flag between
 * batches.  Its statistics have their own lock inside engine/sweep.c.
 *
 * Of several workers sharing a store, the one holding the "sweep"
 * singleton sweeps (store_singleton_take()); the others wait for its lease
 * to lapse.
 *
 * A pass that deleted or anonymized rows ends with appdb_flush(), as an
 * erasure job does: the WAL's old page images of the expired rows go; an
 * idle pass costs no checkpoint.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "db/appdb.h"
#include "engine/sweep.h"
#include "jobs/engine_opts.h"
#include "jobs/sweeper.h"
#include "store/store.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/worker.h"

#define MEASURE_MS 5000.0 /* backlog and lag at most this often */
#define RETRY_MS 5000.0   /* after a failed pass */
#define TICK_MS 50        /* under the test clock: how often the clock is looked at */

/*
 * One worker of a store sweeps at a time (the "sweep" singleton): the
 * lease outlives the pause between passes, and is renewed before each.
 */
#define SWEEP_LEASE_MS(cfg) ((cfg)->sweep_interval_s * 2000 + 60000)
#define RENEW_MS 10000.0 /* and renewed this often during a pass (renew_sweep()) */

struct sweeper {
	const struct lethe_config *cfg; /* configuration */
	struct appdb *db;               /* the thread's app database connection */
	struct store *st;               /* the thread's state store connection */
	struct sweep *sweep;            /* the engine (statistics read by metrics) */
	size_t ntables;                 /* its TTL tables (sweep_ntables) */
	struct worker w;                /* the thread (stop_flag: read by the sweep) */
	char owner[LEASE_OWNER_MAX];    /* its owner text for the "sweep" singleton */
	double renewed;                 /* time_mono_ms() of the last take of that lease */
};

/*
 * Wait up to @ms milliseconds; under the test clock, stop waiting as soon
 * as time_now() differs from @now.  Returns true if stopping.
 */
static bool
nap(struct sweeper *w, double ms, int64_t now)
{
	bool test = time_is_test_clock();
	double end = time_mono_ms() + ms;

	for (;;) {
		double left = end - time_mono_ms();
		long step;

		if (left <= 0 || (test && time_now() != now))
			return worker_stopping(&w->w);
		step = test && left > TICK_MS ? TICK_MS : (long)left + 1;
		if (worker_sleep(&w->w, step))
			return true;
	}
}

/* Rows deleted or anonymized so far: every TTL table's, and those of ended holds. */
static int64_t
rows_changed(struct sweeper *w)
{
	struct sweep_table_stats ts;
	struct sweep_totals tot;
	int64_t n;
	size_t i;

	sweep_totals_get(w->sweep, &tot);
	n = tot.holds_rows;
	for (i = 0; i < w->ntables; i++) {
		sweep_table_get(w->sweep, i, &ts);
		n += ts.rows;
	}
	return n;
}

static void
sweeper_main(struct worker *wk, void *arg)
{
	struct sweeper *w = arg;
	struct lethe_err err = {0};
	double measured = -MEASURE_MS;
	bool test = time_is_test_clock();
	bool dirty = false; /* rows changed since the app's WAL was last truncated */
	bool held = false;  /* this worker holds the "sweep" singleton */

	/* Like the runner: sweeps may lag by a moment; answering requests may not. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
		log_debug("sweeper: cannot lower its priority");
	for (;;) {
		int64_t now = time_now(), before = rows_changed(w);
		bool more = false, was = held;
		lethe_rc rc;

		/*
		 * Another worker of this store sweeps: wait, and take over once
		 * its lease lapses (or its process on this host is gone).  The
		 * media files an earlier sweeper left are settled by the one that
		 * sweeps, when it starts to.
		 */
		rc = store_singleton_take(w->st, "sweep", w->owner, now * 1000,
		                          SWEEP_LEASE_MS(w->cfg), &held, &err);
		w->renewed = time_mono_ms();
		if (rc == LETHE_OK && !held) {
			if (was)
				log_warnx("sweep: another worker took the sweep over");
			if (nap(w, (double)w->cfg->sweep_interval_s * 1000.0, now))
				break;
			continue;
		}
		if (rc == LETHE_OK && !was && sweep_recover(w->sweep, &err) != LETHE_OK)
			log_warnx("sweep: settling media files left by an earlier run: %s",
			          err.msg);
		if (rc == LETHE_OK)
			rc = sweep_pass(w->sweep, now, &more, &err);
		/*
		 * Truncate the app's WAL once the rows changed since the last
		 * flush are all swept (or a pass failed: its committed batches
		 * left page images too), not after every pass of a backlog: each
		 * flush holds the app's writers for up to 100 ms.
		 */
		dirty = dirty || rows_changed(w) != before;
		if (dirty && (!more || rc != LETHE_OK)) {
			appdb_flush(w->db);
			dirty = false;
		}
		if (rc == LETHE_OK && (test || time_mono_ms() - measured >= MEASURE_MS)) {
			rc = sweep_measure(w->sweep, now, &err);
			measured = time_mono_ms();
		}
		if (rc != LETHE_OK) {
			static struct log_limit lim = LOG_LIMIT_INIT(1, 60000.);

			log_warnx_limited(&lim, "sweep: %s; retrying in %.0f s", err.msg,
			                  RETRY_MS / 1000.0);
			if (nap(w, RETRY_MS, now))
				break;
			continue;
		}
		if (more) {
			if (worker_stopping(wk))
				break;
			continue;
		}
		if (nap(w, (double)w->cfg->sweep_interval_s * 1000.0, now))
			break;
	}
	/* The next worker need not wait for the lease to lapse. */
	if (held && store_singleton_release(w->st, "sweep", w->owner, &err) != LETHE_OK)
		log_warnx("sweep: %s", err.msg);
}

static void
sweeper_free(struct sweeper *w)
{
	sweep_destroy(w->sweep);
	appdb_close(w->db);
	store_close(w->st);
	worker_destroy(&w->w);
	free(w);
}

/*
 * Before each table's turn of a pass: renew the "sweep" lease (at most
 * every RENEW_MS), so a pass longer than the lease keeps it.  False:
 * another worker took it over.
 */
static bool
renew_sweep(void *arg)
{
	struct sweeper *w = arg;
	struct lethe_err err = {0};
	bool held = true;

	if (time_mono_ms() - w->renewed < RENEW_MS)
		return true;
	w->renewed = time_mono_ms();
	if (store_singleton_take(w->st, "sweep", w->owner, time_now() * 1000,
	                         SWEEP_LEASE_MS(w->cfg), &held, &err) != LETHE_OK) {
		log_warnx("sweep: %s", err.msg);
		return true; /* the store failed: the next pass's take says more */
	}
	return held;
}

lethe_rc
sweeper_start(const struct lethe_config *cfg, const struct datamap *dm, struct sweeper **out,
              struct lethe_err *err)
{
	struct sweeper *w;
	struct sweep_opts o;
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	if (!sweep_wanted(dm))
		return LETHE_OK;
	rc = sweep_check_config(dm, cfg->media, err);
	if (rc != LETHE_OK)
		return rc;
	w = xcalloc(1, sizeof(*w));
	w->cfg = cfg;
	lease_owner_format(w->owner, sizeof(w->owner));
	worker_init(&w->w, NULL);
	w->db = appdb_open(cfg->app_db, cfg->dir, err);
	if (w->db == NULL)
		rc = err->rc;
	if (rc == LETHE_OK)
		rc = store_open(cfg->state_db, &w->st, err);
	if (rc != LETHE_OK) {
		sweeper_free(w);
		return rc;
	}
	sweep_check_indexes(dm, w->db);
	engine_opts_sweep(cfg, &o);
	o.stop = &w->w.stop_flag;
	o.renew = renew_sweep;
	o.renew_arg = w;
	w->sweep = sweep_new(dm, w->db, w->st, &o);
	w->ntables = sweep_ntables(dm);
	if (!worker_start(&w->w, "lethe-sweeper", sweeper_main, w)) {
		sweeper_free(w);
		return lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the sweeper");
	}
	*out = w;
	return LETHE_OK;
}

void
sweeper_stop(struct sweeper *w)
{
	if (w == NULL)
		return;
	worker_stop(&w->w);
	sweeper_free(w);
}

void
sweeper_metrics(struct sweeper *w, struct buf *b)
{
	if (w != NULL)
		sweep_metrics(w->sweep, b);
}
