/* SPDX-License-Identifier: MIT */
/*
 * sweeper.h - the TTL sweeper thread of `lethe serve` (and of `lethe sweep`
 * without --once).
 *
 * One thread with its own app-database and state-store connections runs
 * sweep passes (engine/sweep.h): back to back while some table still has a
 * backlog, otherwise every sweep.interval.  Under the test clock
 * (LETHE_TEST_NOW) it also wakes as soon as the clock moves.  Backlog and
 * lag are measured every 5 s (every pass under the test clock).
 * sweeper_metrics() may be called from any thread.
 */
#ifndef LETHE_JOBS_SWEEPER_H
#define LETHE_JOBS_SWEEPER_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "util/buf.h"

struct sweeper;

/*
 * Start sweeping (warning first about unindexed time columns).  *@out is
 * NULL, and LETHE_OK returned, when no table has a ttl.  The caller checks
 * sweep.enabled (`lethe serve` does; `lethe sweep` sweeps when asked).
 * @cfg (key loaded) and @dm must outlive the sweeper.
 */
lethe_rc sweeper_start(const struct lethe_config *cfg, const struct datamap *dm,
                       struct sweeper **out, struct lethe_err *err);
/* Stop after the current batch and join.  NULL is fine. */
void sweeper_stop(struct sweeper *w);
/* Append the sweeper's Prometheus metrics to @b (nothing if @w is NULL).  Thread-safe. */
void sweeper_metrics(struct sweeper *w, struct buf *b);

#endif /* LETHE_JOBS_SWEEPER_H */
