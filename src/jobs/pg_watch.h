/* SPDX-License-Identifier: MIT */
/*
 * pg_watch.h - the warning about a transaction that pins PostgreSQL's
 * xmin horizon, for `lethe serve` on a PostgreSQL app database.
 *
 * A transaction another session keeps open holds back vacuum: the dead
 * rows of lethe's erasures and of its queue pile up and everything on
 * those tables slows down, while lethe keeps working.  One thread
 * (`lethe-pgwatch`) with its own connection looks at the oldest such
 * transaction (appdb_oldest_xact()) every interval and, while one is older
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
 * Start watching @cfg's app database.  *@out is NULL, and LETHE_OK
 * returned, if it is not PostgreSQL or the warning is off
 * (app.long_transaction_warn_s: 0).  @cfg must outlive the watch.
 */
lethe_rc pg_watch_start(const struct lethe_config *cfg, struct pg_watch **out,
                        struct lethe_err *err);
/* Stop and join; NULL is fine. */
void pg_watch_stop(struct pg_watch *w);

/* How often the watch looks for a threshold of @warn_ms: a fifth of it, 1 s to 60 s. */
int64_t pg_watch_interval_ms(int64_t warn_ms);

/*
 * One look on @db: the oldest open transaction recorded for the metrics
 * and, if it is at least @warn_ms old, logged as a warning (true
 * returned).  A failed look is logged (rate-limited) with LETHE_E_* returned
 * through @rc_out (may be NULL); the caller reconnects.  Any thread.
 */
bool pg_watch_check(struct appdb *db, int64_t warn_ms, lethe_rc *rc_out);

/*
 * Append the last look's Prometheus metrics to @b: the oldest transaction's
 * age in seconds and its pid (0 and 0 if none); nothing if no look was made
 * in this process.  Thread-safe.
 */
void pg_watch_metrics(struct buf *b);

#endif /* LETHE_JOBS_PG_WATCH_H */
