/* SPDX-License-Identifier: MIT */
/*
 * erase.h - the executor: runs a plan against the app database in short,
 * batched, resumable write transactions, recording progress in the store.
 *
 * A job is named by its subject (a keyed hash of scope and identities), so
 * running the same erasure again resumes the unfinished job instead of
 * starting over.  Each batch is one write transaction on the app database;
 * its progress is written to the state store around the commit so that a
 * crash at any instant neither loses nor double-counts a batch (see
 * docs/internals/executor.md).  Not thread-safe: one job per connection.
 */
#ifndef LETHE_ERASE_H
#define LETHE_ERASE_H

#include <jansson.h>

#include "engine/disconnect.h"
#include "engine/plan.h"
#include "media/media.h"
#include "store/store.h"
#include "util/hash.h"

/* What the progress callback sees after each batch. */
struct erase_progress {
	const char *table; /* table of the current step */
	size_t step;       /* 1-based step number */
	size_t nsteps;     /* number of steps */
	int64_t done;      /* rows processed by the whole job so far */
	int64_t planned;   /* rows the plan counted at the start */
};

struct erase_opts {
	int64_t batch_rows;            /* fixed batch size, 0 = adaptive */
	int max_txn_ms;                /* adaptive batches aim below this */
	int yield_ms;                  /* pause after each batch while the app writes */
	const struct media_set *media; /* the media stores (media.h), or NULL: none */
	/*
	 * The erasure belongs to a request whose residual scan will run: the
	 * objects it removes stay recorded as removed (store_media_done keep)
	 * until the request ends, for the scan to look for them.
	 */
	bool keep_removed_media;
	const uint8_t *key; /* anonymize key, HASH_KEY_LEN bytes */
	int64_t now;        /* clock for new jobs (epoch s); 0 = real time */
	void (*on_progress)(void *arg, const struct erase_progress *p); /* or NULL */
	void *arg;                                                      /* for on_progress */
	const volatile int *stop; /* if set and non-zero, stop between batches (resumable) */
	void (*on_job)(void *job_arg, int64_t job); /* called once the job id is known */
	void *job_arg;                              /* for on_job */
	/*
	 * If set, called with @job_arg each time the job's lease is renewed
	 * (every LEASE_S / 3 while it runs), so a caller can renew a lease of
	 * its own on the work around the job; false stops the run between
	 * batches (LETHE_E_BUSY, resumable): the caller's lease was lost.
	 */
	bool (*on_renew)(void *job_arg);
	/*
	 * The job's lease owner text ("host:pid:nonce", util/lease.h) a caller
	 * that runs one erasure at a time keeps across its runs, or NULL for a
	 * fresh one per run.  With it, a run after one that could not release
	 * its lease (the state store's connection was lost) takes the job back
	 * at once instead of waiting for its own lease to lapse.
	 */
	const char *owner;
	/*
	 * Keys and platforms for disconnecting the channel rows the erasure
	 * acts on (erase_upstream.c); disc.outbox_key NULL: channel rows are
	 * erased without queuing their revocations (unit tests of the steps).
	 */
	struct disconnect_opts disc;
};

struct erase_step_result {
	const struct dm_table *table; /* the table */
	const struct dm_erase *part;  /* what erasure did to the step's rows */
	int64_t rows;                 /* rows deleted / anonymized / retained */
	int64_t media;                /* media files removed */
	int64_t media_missing;        /* media files already gone: not removed by lethe */
	int64_t media_failed;         /* media files that could not be removed */
};

struct erase_result {
	int64_t job;                     /* job id in the state store */
	bool resumed;                    /* an unfinished job was continued */
	const char *state;               /* completed, completed_with_retention, failed */
	struct erase_step_result *steps; /* one per plan step */
	size_t nsteps;                   /* number of steps */
	double elapsed_ms;               /* wall time of this run */
	double max_txn_ms;               /* longest write transaction of this run */
	int64_t batches;                 /* write transactions of this run */
	int64_t *discs;                  /* channel disconnects this run queued (outbox) */
	size_t ndiscs;                   /* number of them */
	/*
	 * Why media objects of this run could not be removed, for the reason
	 * of a request that fails (jobs/runner.c): "N media objects of table T
	 * could not be removed (the store's answer); they stay recorded".  The store's answer names
	 * the store, never a key (media.h), and nothing here names a person.
	 * "" when every object went.
	 */
	char media_failure[LETHE_ERR_MAX + 128];
};

/* What erasure writes into one column of an anonymize/retain part. */
struct col_action {
	const char *name;           /* column */
	enum dm_anon how;           /* null, set, hash */
	const struct dm_value *set; /* DM_ANON_SET value */
};

/*
 * The columns an anonymize/retain step of @t with erase part @e writes:
 * the part's list plus @t's tokens (nulled); *@n of them.  Free the array
 * (the names are the map's).
 */
struct col_action *erase_col_actions(const struct dm_table *t, const struct dm_erase *e, size_t *n);
/*
 * True if @cur, a value of column @c, is already what the rewrite writes
 * there (its target form): NULL for null, the set value for set, NULL or a
 * keyed hash ("anon:" + hex, never hashed again) for hash.  The executor
 * leaves a row whose columns are all in target form unwritten, and the
 * residual scan counts it as anonymized, not residual: one predicate, so
 * the two cannot disagree.
 */
bool erase_col_done(const struct col_action *c, const struct appdb_val *cur);

/* The subject name of (@scope, @ids): "anon:" + 32 hex digits. */
void erase_subject(const char *scope, const struct plan_id *ids, size_t nids,
                   const uint8_t key[HASH_KEY_LEN], char out[HASH_TEXT_LEN + 1]);

/*
 * Run (or resume) the job for @plan and @ids.  The plan must have been
 * counted.  When @o->disc.outbox_key is set and the plan acts on the
 * channel table, each round first disconnects the person's channels
 * (disconnect_channel(), source "erase": revoke and unsubscribes queued in
 * the outbox, tokens wiped; @res->discs lists them).  On failure the
 * job stays resumable and @err says why; @res is filled as far as the run
 * got.  Free @res with erase_result_free().
 */
lethe_rc erase_run(struct plan *plan, const struct plan_id *ids, size_t nids, struct appdb *db,
                   struct store *st, const struct erase_opts *o, struct erase_result *res,
                   struct lethe_err *err);
void erase_result_free(struct erase_result *r);
json_t *erase_result_json(const struct erase_result *r);
void erase_result_print(const struct erase_result *r, FILE *f);

#endif /* LETHE_ERASE_H */
