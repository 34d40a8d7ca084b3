/* SPDX-License-Identifier: MIT */
/*
 * pg_watch.c - the warning about a transaction that pins PostgreSQL's
 * xmin horizon (see pg_watch.h).
 *
 * Locking: the thread is a util/worker (its naps and stop flag); the last
 * look is kept in atomics, written by the thread (or pg_watch_check()'s
 * caller) and read by pg_watch_metrics() from the HTTP workers.
 */
#include "util/fmacros.h"

#include <stdatomic.h>

#include "jobs/pg_watch.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pq.h"
#include "util/worker.h"

#define INTERVAL_MIN_MS 1000LL  /* look at most once a second */
#define INTERVAL_MAX_MS 60000LL /* and at least once a minute */

struct pg_watch {
	const struct lethe_config *cfg; /* threshold, the directory */
	const char *targets[2];         /* the PostgreSQL URLs looked at (cfg's) */
	size_t ntargets;                /* 1 or 2 */
	struct worker w;                /* the thread */
};

/* The last look: age in ms (-1: none made), the holder's pid (0: none open). */
static _Atomic int64_t last_age_ms = -1;
static _Atomic int last_pid;

int64_t
pg_watch_interval_ms(int64_t warn_ms)
{
	int64_t ms = warn_ms / 5;

	if (ms < INTERVAL_MIN_MS)
		ms = INTERVAL_MIN_MS;
	if (ms > INTERVAL_MAX_MS)
		ms = INTERVAL_MAX_MS;
	return ms;
}

/*
 * One database's look: true with *@x filled if a transaction is open;
 * *@rc LETHE_OK or the failure (logged, rate-limited).
 */
static bool
look(struct appdb *db, struct appdb_xact *x, lethe_rc *rc)
{
	static struct log_limit lim = LOG_LIMIT_INIT(1, 600000.);
	struct lethe_err err = {0};

	*rc = appdb_oldest_xact(db, x, &err);
	if (*rc == LETHE_E_NOTFOUND) {
		*rc = LETHE_OK;
		return false;
	}
	if (*rc != LETHE_OK) {
		log_warnx_limited(&lim, "PostgreSQL: cannot look for long transactions in %s: %s",
		                  db->target, err.msg);
		return false;
	}
	return true;
}

bool
pg_watch_check(struct appdb *const *dbs, size_t n, int64_t warn_ms, lethe_rc *rcs)
{
	int64_t oldest = 0;
	int pid = 0;
	bool looked = false, warned = false;
	size_t i;

	for (i = 0; i < n; i++) {
		struct appdb_xact x;
		bool open = look(dbs[i], &x, &rcs[i]);

		if (rcs[i] != LETHE_OK)
			continue;
		looked = true;
		if (!open)
			continue;
		if (pid == 0 || x.age_ms > oldest) {
			oldest = x.age_ms;
			pid = x.pid;
		}
		if (x.age_ms < warn_ms)
			continue;
		warned = true;
		log_warnx(
		    "PostgreSQL: a transaction open for %lld s (pid %d, role '%s', "
		    "application '%s', %s) in %s holds back vacuum: rows lethe erased and its "
		    "finished work stay on disk as dead rows until it ends; end it "
		    "(pg_terminate_backend(%d)) or set idle_in_transaction_session_timeout",
		    (long long)(x.age_ms / 1000), x.pid, x.user, x.app,
		    x.state[0] != '\0' ? x.state : "state unknown", dbs[i]->target, x.pid);
	}
	if (looked) {
		atomic_store(&last_pid, pid);
		atomic_store(&last_age_ms, oldest);
	}
	return warned;
}

void
pg_watch_metrics(struct buf *b)
{
	int64_t age = atomic_load(&last_age_ms);

	if (age < 0)
		return;
	buf_addf(b,
	         "# HELP lethe_pg_oldest_transaction_seconds Age of the oldest transaction "
	         "another session keeps open in the PostgreSQL app database (holding back "
	         "vacuum), at the last look; 0 if none.\n"
	         "# TYPE lethe_pg_oldest_transaction_seconds gauge\n"
	         "lethe_pg_oldest_transaction_seconds %.3f\n"
	         "# HELP lethe_pg_oldest_transaction_pid Server pid of that transaction's "
	         "session; 0 if none.\n"
	         "# TYPE lethe_pg_oldest_transaction_pid gauge\n"
	         "lethe_pg_oldest_transaction_pid %d\n",
	         (double)age / 1000.0, atomic_load(&last_pid));
}

static void
watch_main(struct worker *w, void *arg)
{
	struct pg_watch *pw = arg;
	int64_t warn_ms = pw->cfg->long_xact_warn_s * 1000;
	int64_t every = pg_watch_interval_ms(warn_ms);
	struct appdb *dbs[2] = {NULL, NULL};
	size_t i;

	for (;;) {
		lethe_rc rcs[2] = {LETHE_OK, LETHE_OK};
		size_t n = 0;

		for (i = 0; i < pw->ntargets; i++) {
			struct lethe_err err = {0};

			if (dbs[i] == NULL)
				dbs[i] = appdb_open(pw->targets[i], pw->cfg->dir, &err);
			if (dbs[i] == NULL) {
				static struct log_limit lim = LOG_LIMIT_INIT(1, 600000.);

				log_warnx_limited(&lim, "PostgreSQL watch: %s; retrying", err.msg);
			}
		}
		/* The databases that are open, looked at together (the metrics: the oldest). */
		{
			struct appdb *open[2];
			size_t idx[2];

			for (i = 0; i < pw->ntargets; i++)
				if (dbs[i] != NULL) {
					idx[n] = i;
					open[n++] = dbs[i];
				}
			pg_watch_check(open, n, warn_ms, rcs);
			/* A lost connection: a fresh one at the next look. */
			for (i = 0; i < n; i++)
				if (rcs[i] != LETHE_OK && rcs[i] != LETHE_E_CONFIG) {
					appdb_close(dbs[idx[i]]);
					dbs[idx[i]] = NULL;
				}
		}
		if (worker_nap(w, every))
			break;
	}
	for (i = 0; i < pw->ntargets; i++)
		appdb_close(dbs[i]);
}

/*
 * True if @state names the database @app does: the same URL, or @app with
 * the session options config.c appends (app.database_options).
 */
static bool
same_database(const char *app, const char *state)
{
	size_t n = strlen(state);

	if (strncmp(app, state, n) != 0)
		return false;
	return app[n] == '\0' || strncmp(app + n, "?options=", 9) == 0 ||
	       strncmp(app + n, "&options=", 9) == 0;
}

lethe_rc
pg_watch_start(const struct lethe_config *cfg, struct pg_watch **out, struct lethe_err *err)
{
	struct pg_watch *pw;

	*out = NULL;
	if (cfg->long_xact_warn_s <= 0)
		return LETHE_OK;
	pw = xcalloc(1, sizeof(*pw));
	pw->cfg = cfg;
	/* The app database and the state store, each if on PostgreSQL; one look if the same. */
	if (pq_is_url(cfg->app_db))
		pw->targets[pw->ntargets++] = cfg->app_db;
	if (pq_is_url(cfg->state_db) && !same_database(cfg->app_db, cfg->state_db))
		pw->targets[pw->ntargets++] = cfg->state_db;
	if (pw->ntargets == 0) {
		free(pw);
		return LETHE_OK;
	}
	worker_init(&pw->w, NULL);
	if (!worker_start(&pw->w, "lethe-pgwatch", watch_main, pw)) {
		worker_destroy(&pw->w);
		free(pw);
		return lethe_err_set(err, LETHE_E_INTERNAL,
		                     "cannot start the PostgreSQL transaction watch");
	}
	*out = pw;
	return LETHE_OK;
}

void
pg_watch_stop(struct pg_watch *pw)
{
	if (pw == NULL)
		return;
	worker_stop(&pw->w);
	worker_destroy(&pw->w);
	free(pw);
}
