/* SPDX-License-Identifier: MIT */
/*
 * sweep_internal.h - what the sweeper's files share (sweep.c: passes and
 * batches; sweep_sql.c: its statements; sweep_media.c: media files and
 * legal holds; sweep_stats.c: measures and statistics).  Not for use
 * outside src/engine/sweep*.c; the API is sweep.h.
 *
 * Locking as in sweep.c: s->mu guards the statistics, everything else
 * belongs to the sweeping thread.
 */
#ifndef LETHE_SWEEP_INTERNAL_H
#define LETHE_SWEEP_INTERNAL_H

#include <pthread.h>

#include "engine/batching.h"
#include "engine/sweep.h"
#include "util/fmacros.h"

#define SQL_CAP (1u << 16)
#define ODD_CAP 10000 /* odd time values counted at most (a bounded index walk) */
#define SWEEP_JOB 0   /* media_pending records of the sweeper */
/* Anonymize: walk the expired rows from the start again this often (rows the app
 * inserted meanwhile with times behind the cursor). */
#define RESCAN_MS (3600.0 * 1000.0)
/* Media files that could not be removed: settle (retry) at most this often. */
#define SETTLE_MS (600.0 * 1000.0)

/* One TTL table. */
struct tab {
	const struct dm_table *t;       /* the table */
	struct sweep_table_stats st;    /* statistics (guarded by sweep.mu) */
	const struct dm_anon_col *cols; /* anonymize: columns rewritten */
	size_t ncols;                   /* number of them */
	char *where;                    /* "col" < ?1 AND conds */
	char *conds;                    /* the " AND conds" part of where ("" without when) */
	bool indexed;                   /* an index leads with the when columns, then col */
	bool odd_checked;               /* sweep_tab_odd_rows ran */
	struct appdb_val *params;       /* ?1 (the cutoff, set per pass), then the conds' values */
	size_t nparams, cap;            /* count and capacity */
	struct appdb_stmt *del;         /* delete batch */
	struct appdb_stmt *delk;        /* delete batch from the bound lo (see sweep.c) */
	bool has_lo;                    /* delk: lo is set */
	double lo_started;              /* delk: monotonic ms the bound was first set */
	struct batching_val lo;         /* delk: largest time the last delete removed */
	struct appdb_stmt *sel;         /* anonymize: first batch (no cursor) */
	struct appdb_stmt *selc;        /* anonymize: batch after the cursor */
	struct appdb_stmt *upd;         /* anonymize: one row by key */
	int64_t batch;                  /* this table's batch size */
	bool has_cursor;                /* anonymize: cursor_t/cursor_k are set */
	double walk_started;            /* anonymize: monotonic ms the current walk began */
	struct batching_val cursor_t, cursor_k; /* anonymize: (time, key) of the last row seen */
	char cutoff_text[32];                   /* the cutoff of the current pass, as text */
	bool media_dirty;                       /* recorded media files may be left unsettled */
	double next_settle; /* monotonic ms before which sweep_media_settle does not run again */
};

struct sweep {
	const struct datamap *dm;   /* the validated map */
	struct appdb *db;           /* the app database */
	struct store *st;           /* the state store */
	struct sweep_opts o;        /* options */
	struct batching pace;       /* politeness and transaction statistics */
	struct tab *tabs;           /* TTL tables, map order */
	size_t ntabs;               /* number of them */
	size_t rr;                  /* round-robin: the table the next pass starts with */
	struct appdb_stmt **hold_q; /* per map table (by index): delete one held row */
	int64_t hold_batch;         /* batch size of hold releases */
	bool holds_dirty;           /* a hold batch failed: recorded files may be unsettled */
	double holds_next_settle;   /* monotonic ms before which holds do not settle again */
	pthread_mutex_t mu;         /* guards every tab's st and tot */
	struct sweep_totals tot;    /* whole-sweeper statistics */
};

/* Replace the value held by @o with a copy of @v. */
static inline void
sval_set(struct batching_val *o, const struct appdb_val *v)
{
	free(o->buf);
	batching_val_set(o, v);
}

static inline void
sval_clear(struct batching_val *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

static inline bool
stopped(const struct sweep *s)
{
	return s->o.stop != NULL && *s->o.stop;
}

static inline lethe_rc
db_fail(struct sweep *s, struct lethe_err *err)
{
	(void)s;
	return err != NULL && err->rc != LETHE_OK ? err->rc : LETHE_E_DB;
}

/* Object keys a DELETE ... RETURNING gave back. */
struct keys {
	struct store_media_key *v; /* objects: store (the data map's, not owned), key (owned) */
	size_t n, cap;             /* count and capacity */
	int64_t missing;           /* files already gone when recorded (dropped from v) */
};

/* ---- sweep_sql.c ---- */

/* Make @tb's statements once; a failure leaves nothing half-made (tried again later). */
lethe_rc sweep_tab_prepare(struct sweep *s, struct tab *tb, struct lethe_err *err);
/*
 * The delete batch of @tb into @q (initialised by the caller on @db): see
 * sweep_sql.c.  @j: offset where the shape ends in tb->where; @lower: the
 * subquery starts at a bound (only where deletes keep index entries).
 */
lethe_rc sweep_delete_sql(struct appdb *db, const struct tab *tb, size_t j, bool lower,
                          struct sql *q);
/* Warn once about rows of @tb whose time is not in the column's format. */
void sweep_tab_odd_rows(struct sweep *s, struct tab *tb);

/* ---- sweep_media.c ---- */

/*
 * Settle the media files recorded for @tb's table that no batch saw through:
 * removed if no row names them, forgotten if one does.
 */
lethe_rc sweep_media_settle(struct sweep *s, struct tab *tb, struct lethe_err *err);
/*
 * After the commit that deleted their rows: remove the @n files @keys of
 * @table and forget this batch's records of them (@tb NULL: the holds).
 */
lethe_rc sweep_media_done(struct sweep *s, struct tab *tb, const char *table, const struct keys *k,
                          struct lethe_err *err);
/* Add the media objects of the current row of @q (its first t->nmedia columns: @t's media) to @k.
 */
void sweep_keys_take(struct sweep *s, struct appdb_stmt *q, const struct dm_table *t,
                     struct keys *k);
/* Free the keys of @k and empty it. */
void sweep_keys_free(struct keys *k);
/*
 * Commit the open app transaction of a batch that deleted rows naming
 * media @k: the files are recorded first, removed after.  Rolls back on
 * failure.
 */
lethe_rc sweep_commit_with_media(struct sweep *s, struct tab *tb, const char *table, struct keys *k,
                                 struct lethe_err *err);
/* One turn of the legal holds that ended by @now; *@more if work is left. */
lethe_rc sweep_holds_turn(struct sweep *s, int64_t now, bool *more, struct lethe_err *err);

/* ---- sweep.c ---- */

/* The bound values of a batch: the table's params, then @extra more (caller frees). */
struct appdb_val *sweep_batch_params(const struct tab *tb, size_t extra);
/* Set ?1 of @tb to the cutoff of time @now, in the time column's form. */
void sweep_set_cutoff(struct tab *tb, int64_t now);
/*
 * After one part (@what) of a pass or measure returned @r with detail @e:
 * log a failure and keep the first one in *@rc and @err.
 */
void sweep_note_fail(const char *what, lethe_rc r, const struct lethe_err *e, lethe_rc *rc,
                     struct lethe_err *err);

#endif /* LETHE_SWEEP_INTERNAL_H */
