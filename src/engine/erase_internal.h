/* SPDX-License-Identifier: MIT */
/*
 * erase_internal.h - what the executor's files share (erase.c: the job,
 * steps, verification and results; erase_batch.c: short transactions and
 * the person's keys; erase_delete.c: delete steps; erase_rewrite.c:
 * anonymize and retain steps).  Not for use outside src/engine/erase*.c;
 * the API is erase.h.  One struct exec per running job, used by one thread.
 */
#ifndef LETHE_ERASE_INTERNAL_H
#define LETHE_ERASE_INTERNAL_H

#include "db/sql.h"
#include "engine/batching.h"
#include "engine/disconnect.h"
#include "engine/erase.h"
#include "util/fmacros.h"

#define SQL_CAP (1u << 20)
#define VERIFY_ROUNDS 3
#define LEASE_S 30       /* a job's lease; renewed every LEASE_S / 3 */
#define KEYS_MAX 1000000 /* keys collected per pass over a step */
#define KEY_CHUNK 500    /* keys per statement */

struct exec {
	struct plan *plan;          /* what to do */
	struct appdb *db;           /* the app database */
	struct store *st;           /* the state store */
	const struct erase_opts *o; /* options */
	struct erase_result *res;   /* what happened */
	struct lethe_err *err;      /* failure detail */
	int64_t job;                /* job id */
	int64_t job_created;        /* job creation time (epoch s) */
	struct batching pace;       /* batch size, politeness to the app */
	int64_t done_total;         /* rows processed, whole job */
	int64_t planned_total;      /* rows expected, whole job */
	size_t step;                /* current step index */
	char owner[320];            /* lease owner: "host:pid:nonce" */
	int64_t renewed;            /* when the lease was last renewed (epoch s) */
	int64_t media_unflushed;    /* the step's objects recorded and not flushed yet */
	int64_t media_leftover;     /* of those, what the last whole-chunk flush left */
	bool flush_whole;           /* erase_media_flush: whole chunks of each store's batch only */
	bool reflush;               /* erase_media_flush: records of an earlier, interrupted run */
	int64_t *chans;             /* channel keys this run's steps matched, sorted, each once */
	size_t nchans, chcap;       /* their number, allocated */
};

/* Keys of a step's rows, in key order: what batches walk through. */
struct keylist {
	struct batching_val *v; /* keys */
	size_t n;               /* number of keys */
	size_t pos;             /* next key to process */
	size_t cap;             /* allocated */
	bool complete;          /* the collection saw every matching row */
};

/* A statement over up to KEY_CHUNK keys, prepared once per size used. */
struct chunk_stmts {
	struct appdb_stmt *full; /* for KEY_CHUNK keys */
	struct appdb_stmt *tail; /* for tail_n keys */
	size_t tail_n;           /* size tail was prepared for */
};

/*
 * Bookkeeping after a committed batch of @rows that held the write lock for
 * @ms; @full says the batch stopped because it reached its size (so the
 * size, not the data, limited it and adapting it is meaningful).
 */
void erase_after_batch(struct exec *x, double ms, int64_t rows, bool full);
/*
 * Before a batch: fail with LETHE_E_UNAVAILABLE if asked to stop, renew
 * the job's lease when due, and open the app write transaction.
 */
lethe_rc erase_begin_batch(struct exec *x);
/* Finalize @c's statements and empty it. */
void erase_chunk_stmts_free(struct exec *x, struct chunk_stmts *c);
/* Is row @key of @t already in its target form?  (Probe for a pending batch.) */
lethe_rc erase_row_anonymized(struct exec *x, const struct dm_table *t, const struct col_action *c,
                              size_t nc, const char *key, bool *out);
/*
 * Collect, in key order, the keys of rows matching the step's predicate
 * (after @cursor if given), at most KEYS_MAX of them.  Batches then walk
 * the table in key order, so each page is rewritten once, not once per
 * parent row the index walk would visit it for.  Rows are re-checked
 * against the predicate when a batch acts on them.
 */
lethe_rc erase_collect_keys(struct exec *x, const struct plan_step *ps, const char *cursor,
                            struct keylist *k);
/* Free the keys of @k and empty it. */
void erase_keylist_free(struct keylist *k);
/* Fold a committed pending batch into @ss's totals (in memory). */
void erase_fold_pending(struct store_step *ss);
/*
 * End a state store transaction the caller began: if @rc is LETHE_OK, save
 * @ss as the step named @step (plan_step.name) and commit; otherwise, or
 * if the save fails, roll back.  Returns the first failure (@rc's
 * included), else LETHE_OK.
 */
lethe_rc erase_step_commit(struct exec *x, const char *step, struct store_step *ss, lethe_rc rc);
/*
 * Remove the media files recorded for (job, @t), outside any app transaction,
 * after the rows' deletion committed.  Then, in ONE state transaction: forget
 * the removed files, count them in @ss, and (if @fold) fold the committed
 * pending batch into @ss.  A crash before that transaction repeats the
 * removals (a file already gone counts as removed) and counts them once; a
 * file that cannot be removed stays recorded, is reported in *@failed, and
 * makes the run fail so that running it again retries.
 */
lethe_rc erase_media_flush(struct exec *x, const struct dm_table *t, struct store_step *ss,
                           bool fold, int64_t *failed);
/* Run the by-keys statement on keys [from, from + n) of @k; rows go to @on_row. */
lethe_rc erase_run_chunk(struct exec *x, const struct plan_step *ps, struct chunk_stmts *c,
                         const char *head, const char *tail, const struct keylist *k, size_t from,
                         size_t n, lethe_rc (*on_row)(struct exec *, struct appdb_stmt *, void *),
                         void *arg);
/*
 * Run delete step @ps to its end in batches (resuming from @ss), counting
 * into @ss and @sr; media files are removed after each batch commits.
 */
lethe_rc erase_run_delete(struct exec *x, const struct plan_step *ps, struct store_step *ss,
                          struct erase_step_result *sr);
/*
 * Run anonymize or retain step @ps to its end in batches (resuming from
 * @ss), counting into @ss and @sr.
 */
lethe_rc erase_run_rewrite(struct exec *x, const struct plan_step *ps, struct store_step *ss,
                           struct erase_step_result *sr);
/* A key as tagged text: "i:42", "t:abc", "r:1.5"; caller frees. */
char *erase_val_tag(const struct appdb_val *v);
/*
 * How many of the person's rows lie in the key window [lo, hi]:
 * "SELECT count(*) FROM t WHERE <pred> AND key >= lo AND key <= hi".
 * With an index on the link column this reads the index only.  A delete
 * batch's window is empty afterwards iff the batch committed.
 */
lethe_rc erase_window_count(struct exec *x, const struct plan_step *ps, const char *lo,
                            const char *hi, int64_t *n);
/*
 * Append to @b the batch statement of delete step @ps: "DELETE FROM t WHERE
 * <pred> AND key >= ? AND key <= ?" (slots after the predicate's), with
 * RETURNING of the key and media columns where the step needs them; the
 * predicate a no_index term if @by_key.
 */
void erase_delete_sql(const struct plan_step *ps, bool by_key, struct sql *b);
/*
 * Should a delete batch over a key window of the person's @n rows, spread
 * over @span keys (@limit of them a window), be driven by the key range
 * with the predicate as a filter (dialect @d's no_index)?  Only where
 * secondary indexes do not end in the key, and the window reads fewer rows
 * by the key than the predicate's index would (all @n): limit*span <= n*n.
 */
bool erase_window_by_key(const struct appdb_dialect *d, int64_t span, int64_t n, int64_t limit);
/*
 * Append to @b "<head> WHERE <pred> AND key IN (slots for @n keys)<tail>"
 * for step @ps: its predicate's parameters first, then the keys.  On a
 * dialect whose secondary indexes do not end in the key the predicate is
 * a no_index term, so the key index finds the rows.
 */
void erase_by_keys_sql(const struct plan_step *ps, const char *head, size_t n, const char *tail,
                       struct sql *b);

/*
 * Disconnect each of the person's channels that step @ps (on the channel
 * table) matches, source "erase", so that its revoke and unsubscribe jobs
 * are durable in the outbox before its tokens and webhook rows go; channels
 * already disconnected are left alone (erase_upstream.c).
 */
lethe_rc erase_disconnect_channels(struct exec *x, const struct plan_step *ps);
/*
 * Remember channel @key as matched by this run, once, for
 * erase_check_channels(): x->chans stays sorted, without a cap.
 */
void erase_note_channel(struct exec *x, int64_t key);
/*
 * After the steps of a round: write to the disconnected rows of channel
 * step @ps still there (kept) the columns of the channel's `disconnect:
 * set` that the erasure's disconnect held back (disconnect_held_column()).
 */
lethe_rc erase_disconnect_finish(struct exec *x, const struct plan_step *ps);
/*
 * Once the channel table's steps of a round ran (before its parents',
 * whose deletion unlinks a kept channel, and before
 * erase_disconnect_finish()): fail if a
 * channel row this run matched at the start is still there but matches no
 * step any more (a column it is found by changed meanwhile: the app, or a
 * disconnect from the API whose `set` clears the identity), instead of
 * reporting the job done with the row and its children left.  Skipped
 * when a part of the channel table rewrites such a column itself.
 */
lethe_rc erase_check_channels(struct exec *x);
/* Note disconnect @disc, queued by this run, in @r. */
void erase_result_add_disconnect(struct erase_result *r, int64_t disc);

#endif /* LETHE_ERASE_INTERNAL_H */
