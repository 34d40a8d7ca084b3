/* SPDX-License-Identifier: MIT */
/*
 * sweep.h - TTL sweeps: removing rows whose time is up, and releasing legal
 * holds whose period has ended.
 *
 * A table's `ttl` in the data map names a time column, a duration and
 * optionally conditions and an action.  A row expires when its time is
 * strictly older than now minus the duration (the exact cutoff second stays).
 * A pass visits every TTL table in turn (round-robin, starting one table
 * further each pass) and then the due holds; each gets at most
 * max_rows_per_pass rows and max_ms_per_pass milliseconds before the next
 * one's turn, so one huge backlog never starves a small table.  Work is
 * done in short write transactions sized like the executor's (batching.h).
 * Media files of deleted rows are recorded in the state store (job 0)
 * before the app commit and removed after it.
 *
 * A struct sweep belongs to one thread, except sweep_metrics(), which other
 * threads may call at any time (statistics are guarded by a mutex).
 */
#ifndef LETHE_SWEEP_H
#define LETHE_SWEEP_H

#include <jansson.h>

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "media/media.h"
#include "store/store.h"
#include "util/buf.h"

#define SWEEP_BACKLOG_CAP 1000000 /* backlog counts stop here (a bounded index walk) */

struct sweep_opts {
	int64_t max_rows_per_pass;     /* rows per table per pass */
	int max_ms_per_pass;           /* milliseconds per table per pass */
	int64_t batch_rows;            /* fixed rows per transaction, 0 = adaptive */
	int max_txn_ms;                /* adaptive batches aim at 60% of this */
	int yield_ms;                  /* pause after a batch while the app writes */
	const struct media_set *media; /* the media stores (media.h), or NULL: none */
	const uint8_t *key;            /* anonymize key (HASH_KEY_LEN bytes), for hash columns */
	bool dry_run;                  /* count what would go, change nothing */
	const volatile int *stop;      /* if set and non-zero, stop between batches */
	/*
	 * If set, called with @renew_arg before each table's turn of a pass
	 * (the caller renews its lease on the sweep); false ends the pass
	 * there: another worker sweeps now.
	 */
	bool (*renew)(void *renew_arg);
	void *renew_arg; /* for renew */
};

/* What the sweeper did to one TTL table (since sweep_new). */
struct sweep_table_stats {
	const struct dm_table *table; /* the table */
	int64_t rows;                 /* rows deleted or anonymized (dry run: would be) */
	int64_t media;                /* media files removed (dry run: would be) */
	int64_t media_missing;        /* media files already gone (not removed by lethe) */
	int64_t media_failed;         /* media files not removable at the last try (retried) */
	int64_t backlog;              /* expired rows left at the last measure (capped) */
	int64_t lag_s;                /* seconds the oldest of them has been expired */
	int64_t odd;                  /* rows whose time is not in the column's format (capped) */
};

/* Whole-sweeper figures (since sweep_new). */
struct sweep_totals {
	int64_t holds_released; /* hold records whose period ended and were acted on */
	int64_t holds_rows;     /* rows deleted because their hold ended */
	int64_t holds_backlog;  /* ended holds not yet released at the last measure */
	int64_t passes;         /* passes run */
	double last_pass_ms;    /* duration of the last pass */
	double max_pass_ms;     /* longest pass */
	double max_txn_ms;      /* longest write transaction */
	int64_t txns;           /* write transactions */
};

struct sweep;

/*
 * A sweeper over the TTL tables of validated map @dm, working on @db and
 * @st (both owned by the caller and used only by the caller's thread).
 * @o is copied.  Free with sweep_destroy().
 */
struct sweep *sweep_new(const struct datamap *dm, struct appdb *db, struct store *st,
                        const struct sweep_opts *o);
void sweep_destroy(struct sweep *s);
/* Number of TTL tables of the map. */
size_t sweep_ntables(const struct datamap *dm);
/*
 * Does @dm need a sweeper: some table has a ttl, or is retained (its legal
 * holds end and must be released)?
 */
bool sweep_wanted(const struct datamap *dm);
/*
 * LETHE_E_CONFIG if a table whose rows the sweeper may delete with their
 * files (a ttl, or a retain whose holds end) has a media column whose
 * store @media does not define (media_check_table()).
 */
lethe_rc sweep_check_config(const struct datamap *dm, const struct media_set *media,
                            struct lethe_err *err);
/*
 * Warn (log_warnx) about every ttl time column without an index, with the
 * exact CREATE INDEX statement to run.  Returns the number of warnings.
 */
int sweep_check_indexes(const struct datamap *dm, struct appdb *db);
/*
 * Settle media files recorded by an earlier process that stopped between
 * recording them and removing them: a file no row refers to any more is
 * removed, the others forgotten (their rows are still there).
 */
lethe_rc sweep_recover(struct sweep *s, struct lethe_err *err);
/*
 * One pass at time @now (epoch s).  *@more is set if some table or the
 * holds still had work when their share of the pass ran out.  With
 * dry_run, counts everything expired at @now and changes nothing.
 */
lethe_rc sweep_pass(struct sweep *s, int64_t now, bool *more, struct lethe_err *err);
/* Measure backlog and lag of every table and the holds at @now (bounded queries). */
lethe_rc sweep_measure(struct sweep *s, int64_t now, struct lethe_err *err);
/* Copies of the statistics: table @i (< sweep_ntables) and the totals.  Thread-safe. */
void sweep_table_get(struct sweep *s, size_t i, struct sweep_table_stats *out);
void sweep_totals_get(struct sweep *s, struct sweep_totals *out);
/* Append the Prometheus text of the statistics to @b.  Thread-safe. */
void sweep_metrics(struct sweep *s, struct buf *b);
/* The statistics as JSON (for `lethe sweep --json`). */
json_t *sweep_json(struct sweep *s);

#endif /* LETHE_SWEEP_H */
