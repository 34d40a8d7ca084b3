/* SPDX-License-Identifier: MIT */
/*
 * pg_watch.h - the warning about a transaction that pins PostgreSQL's
 * xmin horizon, for `lethe serve` on a PostgreSQL app database.
 *
 * A transaction another session keeps open holds back vacuum: the dead
 * rows of lethe's erasures and of its queue pile up and everything on
 * those tables slows down, while lethe keeps working.  One thread
 * (`lethe-pgwatch`) with its own connection to the app database, and one
 * to the state store if that is another PostgreSQL database, looks at the
 * oldest such transaction of each (appdb_oldest_xact(): the app
 * database's driver serves both) every interval and, while one is older
 * than app.long_transaction_warn_s, logs one warning per interval naming
 * its pid, role, application and age (never its statements).  The last
 * look is also in /metrics (pg_watch_metrics()).  docs/scale-out.md,
 * "Failure modes".
 */
#ifndef LETHE_JOBS_PG_WATCH_H
#define LETHE_JOBS_PG_WATCH_H

#include "config/config.h"
#include "db/appdb.h"
#include "util/buf.h"

struct pg_watch;

/*
 * Start watching @cfg's app database and state store.  *@out is NULL, and
 * LETHE_OK returned, if neither is PostgreSQL or the warning is off
 * (app.long_transaction_warn_s: 0).  @cfg must outlive the watch.
 */
lethe_rc pg_watch_start(const struct lethe_config *cfg, struct pg_watch **out,
                        struct lethe_err *err);
/* Stop and join; NULL is fine. */
void pg_watch_stop(struct pg_watch *w);

/* How often the watch looks for a threshold of @warn_ms: a fifth of it, 1 s to 60 s. */
int64_t pg_watch_interval_ms(int64_t warn_ms);

/*
 * One look at each of the @n databases @dbs: every transaction open at
 * least @warn_ms logged as a warning (true returned if any), naming its
 * pid, role, application, state, age and the database, never what it ran;
 * the oldest of the look kept for the metrics (if any look succeeded).
 * @rcs[i] gets LETHE_OK or @dbs[i]'s failure (logged, rate-limited; the
 * caller reconnects).  Any thread, one at a time.
 */
bool pg_watch_check(struct appdb *const *dbs, size_t n, int64_t warn_ms, lethe_rc *rcs);

/*
 * Append the last look's Prometheus metrics to @b: the oldest transaction's
 * age in seconds and its pid (0 and 0 if none); nothing if no look was made
 * in this process.  Thread-safe.
 */
void pg_watch_metrics(struct buf *b);

#endif /* LETHE_JOBS_PG_WATCH_H */
