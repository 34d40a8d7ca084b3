/* SPDX-License-Identifier: MIT */
/*
 * store.h - lethe's own state store: jobs, their steps' progress, and the
 * legal holds erasure leaves behind.
 *
 * SQLite in WAL mode today (a file under var/ by default), behind functions
 * that a PostgreSQL implementation can provide too.  The store never holds a
 * person's identifiers in the clear: a job names its subject by a keyed hash.
 * One connection per struct store, used by one thread at a time.  Every
 * lookup reads a failed query (busy, broken) as LETHE_E_STATE, never as an
 * absent row, a zero count or "none": "none" and 0 below are answers only.
 */
#ifndef LETHE_STORE_H
#define LETHE_STORE_H

#include "util/fmacros.h"
#include "util/lease.h"
#include "util/rc.h"

struct store;

/* Progress of one step of a job, as last recorded. */
struct store_step {
	int64_t done;          /* rows processed so far */
	int64_t media;         /* media files removed so far */
	int64_t media_missing; /* media files already gone when their rows were deleted */
	char *cursor;          /* keyset cursor ("i:42" / "t:abc") or NULL */
	int64_t pending_rows;  /* rows of a batch whose commit is unconfirmed */
	char *pending_key;     /* delete: first key of the batch's window; rewrite: a changed row */
	char *pending_cursor;  /* delete: last key of the window; rewrite: cursor after the batch */
	int64_t pending_media; /* media files of that batch */
	int64_t pending_missing; /* media files of that batch already gone */
	bool finished;           /* the step found no more rows */
};

/* A job row. */
struct store_job {
	int64_t id;          /* job id */
	char *scope;         /* scope name */
	char *state;         /* pending, running, completed, completed_with_retention, failed */
	int64_t created_at;  /* epoch seconds */
	int64_t finished_at; /* epoch seconds, 0 if not finished */
};

/* Open (creating the file, its directory and schema) the store at @path. */
lethe_rc store_open(const char *path, struct store **out, struct lethe_err *err);
/*
 * A statement that finds the write lock taken retries every 200 us and
 * fails (LETHE_E_STATE, "database is locked") once STORE_BUSY_MS of wall
 * time (the monotonic clock, however long each sleep really took) have
 * passed since its first try.  An LMTP delivery answers 451 then, which an
 * MTA, waiting minutes for the answer, retries.
 */
#define STORE_BUSY_MS 10000
/* Give up waiting for @st's write lock after @ms instead (tests; 0: at once). */
void store_set_busy_timeout(struct store *st, int64_t ms);
/* Close @st (may be NULL) and free it. */
void store_close(struct store *st);

/* BEGIN IMMEDIATE: a write transaction, its lock taken now. */
lethe_rc store_begin(struct store *st, struct lethe_err *err);
lethe_rc store_commit(struct store *st, struct lethe_err *err);
/* Roll back the open transaction, if there is one. */
void store_rollback(struct store *st);

/*
 * Find the newest unfinished job of @kind for (@scope, @subject); *@job gets
 * its id (0 if none) and *@created_at its creation time.
 */
lethe_rc store_job_find_active(struct store *st, const char *kind, const char *scope,
                               const char *subject, int64_t *job, int64_t *created_at,
                               struct lethe_err *err);
/* Create a pending job; *@job gets its id. */
lethe_rc store_job_create(struct store *st, const char *kind, const char *scope,
                          const char *subject, int64_t now, int64_t *job, struct lethe_err *err);
/*
 * store_job_find_active(), else store_job_create() at @now (*@created_at =
 * @now, *@created true), in one write transaction (a savepoint inside an
 * open one): two workers erasing one subject at once get one job.
 */
lethe_rc store_job_find_or_create(struct store *st, const char *kind, const char *scope,
                                  const char *subject, int64_t now, int64_t *job,
                                  int64_t *created_at, bool *created, struct lethe_err *err);
/* Set a job's state; @finished_at 0 leaves it unset. */
lethe_rc store_job_set_state(struct store *st, int64_t job, const char *state, int64_t finished_at,
                             struct lethe_err *err);
/* Read job @id into @out (free with store_job_clear); LETHE_E_NOTFOUND if absent. */
lethe_rc store_job_get(struct store *st, int64_t id, struct store_job *out, struct lethe_err *err);
void store_job_clear(struct store_job *j);

/* Read (creating if absent) the progress of @table in @job.  Free with store_step_clear. */
lethe_rc store_step_get(struct store *st, int64_t job, const char *table, const char *action,
                        struct store_step *out, struct lethe_err *err);
void store_step_clear(struct store_step *s);
/* Write the whole progress record of @table in @job. */
lethe_rc store_step_put(struct store *st, int64_t job, const char *table,
                        const struct store_step *s, struct lethe_err *err);

/* Record that row @key of @table is held until @until (epoch s) by @job. */
lethe_rc store_hold_add(struct store *st, const char *table, const char *key, int64_t job,
                        int64_t until, struct lethe_err *err);

/* A legal hold as the sweeper sees it. */
struct store_hold {
	char *table;   /* table name */
	char *key;     /* the row's key, tagged ("i:42", "t:abc") */
	int64_t job;   /* the erase job that retained it */
	int64_t until; /* when the hold ends (epoch s) */
};

/*
 * Up to @limit holds that ended at or before @now, oldest end first, into
 * *@out (free with store_holds_free).
 */
lethe_rc store_hold_due(struct store *st, int64_t now, size_t limit, struct store_hold **out,
                        size_t *n, struct lethe_err *err);
void store_holds_free(struct store_hold *h, size_t n);
/* Forget the hold of (@table, @key) if it ends at or before @until (a renewed one stays). */
lethe_rc store_hold_remove(struct store *st, const char *table, const char *key, int64_t until,
                           struct lethe_err *err);
/* Number of holds that ended at or before @now and are not released yet. */
lethe_rc store_hold_due_count(struct store *st, int64_t now, int64_t *out, struct lethe_err *err);

/*
 * Media objects of rows being deleted (schema v17, docs/internals/media.md):
 * recorded as (store, key) before the app commit, removed from their store
 * after it, then forgotten -- or, for a request whose residual scan will
 * look for them, marked removed and forgotten when the request ends.
 * Object keys are the app's storage names and may carry user ids: the
 * store deletes them securely.  The sweeper records under job 0 (no job
 * has id 0).
 */
struct store_media_key {
	char *store; /* the media store's name (owned) */
	char *key;   /* the object key in it (owned) */
};
/* Free @n keys @k and the array. */
void store_media_keys_free(struct store_media_key *k, size_t n);
/* Record (@store, @key) of (@job, @table), not removed yet; a repeat is a no-op. */
lethe_rc store_media_add(struct store *st, int64_t job, const char *table, const char *store,
                         const char *key, struct lethe_err *err);
/* The keys of (@job, @table) not removed yet, by store then key; free with store_media_keys_free.
 */
lethe_rc store_media_list(struct store *st, int64_t job, const char *table,
                          struct store_media_key **k, size_t *n, struct lethe_err *err);
/*
 * (@store, @key) of (@job, @table) is done: with @keep it is marked removed
 * (kept for the residual scan), otherwise forgotten.
 */
lethe_rc store_media_done(struct store *st, int64_t job, const char *table, const char *store,
                          const char *key, bool keep, struct lethe_err *err);
/* Forget every key of (@job, @table) not removed yet. */
lethe_rc store_media_clear(struct store *st, int64_t job, const char *table, struct lethe_err *err);
/* The keys of @job marked removed, every table, by store then key; free as store_media_list's. */
lethe_rc store_media_removed(struct store *st, int64_t job, struct store_media_key **k, size_t *n,
                             struct lethe_err *err);
/* Forget every record of @job, removed or not (the request ended). */
lethe_rc store_media_forget(struct store *st, int64_t job, struct lethe_err *err);

/*
 * A privacy request as the status page, the API and the runner see it
 * (docs/requests.md): Meta's data-deletion requests (app set) and every
 * other source's (app "").  Texts are "" when absent.
 */
struct store_request {
	int64_t id;           /* row id */
	char code[64];        /* confirmation code */
	char app[64];         /* Meta app family name, "" if not from Meta */
	char state[32];       /* received, awaiting_verification, ..., expired */
	int64_t received_at;  /* epoch s */
	int64_t completed_at; /* epoch s, 0 if not */
	int64_t job;          /* erase job id, 0 if none yet */
	bool no_data;         /* the id matched nobody */
	int64_t runs;         /* runs asked for: 1, plus one per repeat that reran it */
	int64_t job_run;      /* the run @job belongs to, 0 if none started */
	int64_t run_at;       /* receipt time of the latest rerun (epoch s), 0 if none */
	char kind[16];        /* erasure, export, restriction */
	char scope[64];       /* data map scope, "" for a Meta request (its app's) */
	char source[16];      /* meta, import, app, self-service, email, operator */
	char policy[64];      /* the policy applied, "" for none recorded */
	int64_t due_at;       /* deadline (epoch s) */
	int64_t not_before;   /* scheduled: the grace period ends (epoch s), 0 if none */
	int64_t expires_at;   /* awaiting_verification: the request expires (epoch s), 0 */
	char reason[520];     /* latest refusal, cancellation or failure reason, "" */
	int effects;          /* STORE_EFFECTS_* */
	bool warned;          /* the deadline warning was logged */
	bool verified;        /* the identity was verified (or vouched for) */
	int notify_kind;      /* STORE_NOTIFY_*: what its notification address is */
	bool notify_ok;       /* mail may go to that address (verified or confirmed) */
};

/* A request's notification address (notify_box), column notify_kind. */
#define STORE_NOTIFY_NONE 0     /* none: no mail about it */
#define STORE_NOTIFY_IDENTITY 1 /* its email identity (or the address on file) */
#define STORE_NOTIFY_ADDRESS 2  /* an address given with it, confirmed by its own link */

/* Where a request's accept effects stand (column effects). */
#define STORE_EFFECTS_NONE 0    /* none to apply, or undone */
#define STORE_EFFECTS_APPLY 1   /* to be applied */
#define STORE_EFFECTS_APPLIED 2 /* applied */
#define STORE_EFFECTS_UNDO 3    /* to be undone (cancelled or refused after they were applied) */

/* A new request of the app, an operator or the person (not Meta's): strings borrowed. */
struct store_request_new {
	const char *code;          /* confirmation code */
	const char *kind;          /* erasure, export, restriction */
	const char *scope;         /* data map scope */
	const char *source;        /* app, operator, self-service, email */
	const char *policy;        /* the policy's name */
	const char *subject;       /* keyed hash of the identities */
	const char *state;         /* the state it starts in */
	const char *actor;         /* who asked */
	const uint8_t *box;        /* sealed identities */
	size_t boxlen;             /* its length */
	const uint8_t *notify_box; /* sealed notification address, or NULL */
	size_t notify_len;         /* its length */
	int64_t now;               /* receipt (epoch s) */
	int64_t due_at;            /* deadline (epoch s) */
	int64_t not_before;        /* scheduled: grace ends (epoch s), or 0 */
	int64_t expires_at;        /* awaiting_verification: expires (epoch s), or 0 */
	int effects;               /* STORE_EFFECTS_* */
	bool verified;             /* the identity was verified or vouched for */
	int notify_kind;           /* STORE_NOTIFY_* of notify_box */
	bool notify_ok;            /* mail may go to it from the start */
};

/*
 * Record @n; *@id gets its row id.  Its state, if not "received", is
 * recorded as its first transition (request_events); the audit chain gets
 * the entry of the state it starts in either way (its own BEGIN IMMEDIATE
 * outside a transaction).
 */
lethe_rc store_request_insert(struct store *st, const struct store_request_new *n, int64_t *id,
                              struct lethe_err *err);
/*
 * The oldest unfinished request (app "") of @subject, @kind and @scope into
 * @out, a restriction in force (completed, not lifted) counting as
 * unfinished; LETHE_E_NOTFOUND if none (a new one is not a repeat).
 */
lethe_rc store_request_find_open(struct store *st, const char *subject, const char *kind,
                                 const char *scope, struct store_request *out,
                                 struct lethe_err *err);
/* Request @id; LETHE_E_NOTFOUND if none. */
lethe_rc store_request_get(struct store *st, int64_t id, struct store_request *out,
                           struct lethe_err *err);
/* The request with confirmation code @code; LETHE_E_NOTFOUND if none. */
lethe_rc store_request_by_code(struct store *st, const char *code, struct store_request *out,
                               struct lethe_err *err);
/*
 * The next request the runner may run, with its identity box (caller
 * frees), exports left to the exporter (store_export_next()): the first
 * received or running one with an id above @after, else
 * the scheduled one whose grace ended first (not_before <= @now); with
 * @scheduled_first, that one before the others.  LETHE_E_NOTFOUND if none.
 */
lethe_rc store_request_next(struct store *st, int64_t after, int64_t now, bool scheduled_first,
                            struct store_request *out, uint8_t **box, size_t *boxlen,
                            struct lethe_err *err);
/* The identity box of request @id (caller frees; NULL and 0 once wiped). */
lethe_rc store_request_box(struct store *st, int64_t id, uint8_t **box, size_t *boxlen,
                           struct lethe_err *err);
/*
 * Request @id with its identity box (caller frees; NULL and 0 once wiped),
 * read in one statement: what a runner re-reads once it holds the
 * request's item lease (store_item_take()).  LETHE_E_NOTFOUND if none.
 */
lethe_rc store_request_get_box(struct store *st, int64_t id, struct store_request *out,
                               uint8_t **box, size_t *boxlen, struct lethe_err *err);
/*
 * Whether @r is in a state a runner acts on at @now: received, running,
 * or scheduled with its grace over (not_before <= @now).
 */
bool store_request_runnable(const struct store_request *r, int64_t now);
/*
 * The first request with an id above @after whose effects are to be
 * applied or undone (STORE_EFFECTS_APPLY, _UNDO), by id: of a person's
 * requests the older's first (a lifted restriction's undo before the apply
 * of one asked since), with its identity box (caller frees);
 * LETHE_E_NOTFOUND if none.
 */
lethe_rc store_request_effects_next(struct store *st, int64_t after, struct store_request *out,
                                    uint8_t **box, size_t *boxlen, struct lethe_err *err);

/* A conditional state change of a request (store_request_transition()). */
struct store_transition {
	const char *from;     /* comma-separated states it may be in, e.g. "scheduled,received" */
	const char *to;       /* the state it enters */
	const char *event;    /* what the history records, NULL: @to ("extended" for a new due) */
	const char *actor;    /* who: app:KEY, admin:KEY, cli, person, lethe */
	const char *reason;   /* the reason (stored in the request and its history), or NULL */
	int64_t now;          /* epoch s */
	int64_t not_before;   /* -1 keep, 0 clear, else the end of grace */
	int64_t expires_at;   /* -1 keep, 0 clear, else when it expires */
	int64_t due_at;       /* 0 keep, else the new deadline (warned anew) */
	int64_t completed_at; /* 0 keep, -1 clear, else when it finished */
	bool verified;        /* set verified */
	int effects;          /* -1 keep, -2 cancel (applied or to apply -> undo), else set */
	int reason_col;       /* STORE_REASON_*: what the request's own reason column gets */
};
#define STORE_REASON_SET 0   /* @reason, if not NULL (refusal, cancellation, failure) */
#define STORE_REASON_KEEP 1  /* unchanged: @reason goes into the history only */
#define STORE_REASON_CLEAR 2 /* cleared (a retry: the failure is over) */
/*
 * Apply @t to request @id if it is in one of t->from, in one statement
 * (of two racing changes exactly one applies), and record it in the
 * request's history.  *@applied says whether it did.  Call inside a
 * transaction (store_begin) so the change and its history are one.
 */
lethe_rc store_request_transition(struct store *st, int64_t id, const struct store_transition *t,
                                  bool *applied, struct lethe_err *err);
/* Set request @id's effects to @to if they are @from; *@applied says whether. */
lethe_rc store_request_set_effects(struct store *st, int64_t id, int from, int to, bool *applied,
                                   struct lethe_err *err);
/*
 * Wipe the identity and notification boxes of @id if it is finished and its
 * effects settled; never those of a restriction in force (completed): its
 * lift needs them to undo its effects.  A completed export keeps its
 * notification box while its archive is live (the status page mails new
 * links to it); store_export_delete() wipes it.
 */
lethe_rc store_request_wipe(struct store *st, int64_t id, struct lethe_err *err);

/* Mark request @id's notification address confirmed (its link was followed). */
lethe_rc store_request_notify_ok(struct store *st, int64_t id, struct lethe_err *err);

typedef void (*store_event_fn)(void *arg, int64_t at, const char *state, const char *actor,
                               const char *reason);
/* Call @fn for each recorded transition of request @id, oldest first. */
lethe_rc store_request_events(struct store *st, int64_t id, store_event_fn fn, void *arg,
                              struct lethe_err *err);

/* A listing's filter: NULL or 0 is off. */
struct store_request_filter {
	const char *state;  /* one state */
	bool open;          /* only requests not finished (failed ones too); state is NULL */
	const char *source; /* one source */
	const char *kind;   /* one kind */
	int64_t due_before; /* due_at < this */
	int64_t due_after;  /* due_at >= this */
	int64_t after_due;  /* the page starts after (after_due, after_id) */
	int64_t after_id;   /* ... (INT64_MIN, 0 for the first page) */
	int limit;          /* rows at most */
};
typedef void (*store_request_fn)(void *arg, const struct store_request *r);
/* Call @fn for each request matching @f, by (due_at, id). */
lethe_rc store_request_list(struct store *st, const struct store_request_filter *f,
                            store_request_fn fn, void *arg, struct lethe_err *err);
/*
 * Expire every request awaiting verification whose link expired by @now
 * (state expired, identity wiped, history and audit entry recorded, one
 * request after the other); *@n of them.  In the caller's transaction, or
 * its own BEGIN IMMEDIATE outside one.
 */
lethe_rc store_request_expire(struct store *st, int64_t now, int64_t *n, struct lethe_err *err);
/* Call @fn for up to 100 open requests due by @until that were not warned of yet. */
lethe_rc store_request_due_soon(struct store *st, int64_t until, store_request_fn fn, void *arg,
                                struct lethe_err *err);
/* Note that request @id's deadline warning was logged. */
lethe_rc store_request_set_warned(struct store *st, int64_t id, struct lethe_err *err);
/* The number of open requests (failed included) whose deadline passed before @now. */
lethe_rc store_request_overdue(struct store *st, int64_t now, int64_t *n, struct lethe_err *err);

/*
 * Record a new Meta request in state "received" (@box: the encrypted
 * identity), due @deadline_s after @now:
 * its id to *@id and *@added true; or, if a request with @code exists (a
 * retried batch, a replay of the intake log), that one's id and *@added
 * false.
 */
lethe_rc store_meta_insert_once(struct store *st, const char *code, const char *app,
                                const char *subject, const uint8_t *box, size_t boxlen, int64_t now,
                                int64_t deadline_s, int64_t *id, bool *added,
                                struct lethe_err *err);
/* Record that Meta request @id came from @source ("import": `lethe import-meta-ids`). */
lethe_rc store_meta_set_source(struct store *st, int64_t id, const char *source,
                               struct lethe_err *err);
/* Request @id if it is of (@app, @subject); LETHE_E_NOTFOUND otherwise. */
lethe_rc store_meta_match(struct store *st, int64_t id, const char *app, const char *subject,
                          struct store_request *out, struct lethe_err *err);
/* The lowest id of a request received at or after @since (INT64_MAX if none). */
lethe_rc store_meta_first_since(struct store *st, int64_t since, int64_t *id,
                                struct lethe_err *err);
/* store_meta_since() calls this for each request. */
typedef void (*store_meta_fn)(void *arg, int64_t id, const char *subject, int64_t received_at);
/* Call @fn for every Meta request received at or after @since (to load meta/seen.h). */
lethe_rc store_meta_since(struct store *st, int64_t since, store_meta_fn fn, void *arg,
                          struct lethe_err *err);
/*
 * Record the runner's progress on run @run of request @id: state, job,
 * no_data (and job_run = @run), and its history, in one savepoint; a
 * completed request's identity and notification boxes are wiped, and a
 * completed Meta request's deauth_channels rows deleted.  If a later run was asked for meanwhile
 * (runs > @run), a final state is not recorded: the request goes back to 'received' (no_data and
 * completed_at cleared, the job kept, the later run's identity kept) and
 * runs again.  A request already done (completed, either kind, or failed:
 * finished by another worker's run) is left as it is: nothing recorded.
 */
lethe_rc store_meta_update(struct store *st, int64_t id, const char *state, int64_t job,
                           bool no_data, int64_t completed_at, int64_t run, struct lethe_err *err);
/*
 * Ask for run @run of the request with @code, received at @now with the
 * identity @box (a repeat of a request already in the store): runs = @run,
 * run_at = @now, the box replaced; a finished request (completed, either
 * kind, or failed) goes back to 'received' with no_data and completed_at
 * cleared (its job, of an earlier run, stays until the new run has one);
 * a waiting or running one keeps its state and
 * store_meta_update() sends it round again.  Nothing happens if runs is
 * already @run or more (a replay of the intake log): *@applied (may be
 * NULL) says whether it changed the request.
 */
lethe_rc store_meta_rerun(struct store *st, const char *code, int64_t run, const uint8_t *box,
                          size_t boxlen, int64_t now, bool *applied, struct lethe_err *err);
/*
 * Put every failed Meta request that still holds its sealed identity back
 * to 'received' (*@n of them): a request fails when its identity cannot be
 * opened (the anonymize key was not the one it was sealed with, in a lethe
 * before the key's fingerprint was checked) or its app is no longer
 * configured; at a start both may have been put right.  Other requests
 * stay failed until an operator retries them (store_request_transition()).
 */
lethe_rc store_meta_retry_failed(struct store *st, int64_t *n, struct lethe_err *err);
typedef void (*store_step_fn)(void *arg, const char *table, const char *action, int64_t done,
                              int64_t hold_until);
/*
 * Call @fn for each step of @job (its name: the table, or "TABLE#N" for a
 * keep rule, see dm_part_name; action, rows done, latest hold end or 0).
 */
lethe_rc store_meta_steps(struct store *st, int64_t job, store_step_fn fn, void *arg,
                          struct lethe_err *err);
/*
 * Record that a deauthorize of (@app, @subject) disconnected the channel
 * whose keyed hash is @channel, its key sealed in @box (once per channel).
 */
lethe_rc store_deauth_channel_add(struct store *st, const char *app, const char *subject,
                                  const char *channel, const uint8_t *box, size_t boxlen,
                                  int64_t now, struct lethe_err *err);
/* A sealed box, for store_deauth_channels(). */
typedef void (*store_box_fn)(void *arg, const void *box, size_t len);
/* Call @fn for the box of each channel recorded for (@app, @subject), in order. */
lethe_rc store_deauth_channels(struct store *st, const char *app, const char *subject,
                               store_box_fn fn, void *arg, struct lethe_err *err);
/* Record a deauthorize callback of (@app, @subject) that wiped @rows rows. */
lethe_rc store_deauth_add(struct store *st, const char *app, const char *subject, int64_t rows,
                          int64_t now, struct lethe_err *err);
typedef void (*store_count_fn)(void *arg, const char *name, int64_t n);
/* Call @fn with each request state and its count (for /metrics). */
lethe_rc store_meta_state_counts(struct store *st, store_count_fn fn, void *arg,
                                 struct lethe_err *err);
/* Call @fn with each erase job state and its count (for /metrics). */
lethe_rc store_job_state_counts(struct store *st, store_count_fn fn, void *arg,
                                struct lethe_err *err);
/*
 * Take (or renew) the lease on @job for @owner (lease_owner_format()) until
 * @now + @lease_s.  A lease held by another owner is taken over if it has
 * expired, or if its process on this host no longer exists.  LETHE_E_BUSY
 * if another live process holds it: one job runs in one process at a time.
 */
lethe_rc store_job_claim(struct store *st, int64_t job, const char *owner, int64_t now,
                         int64_t lease_s, struct lethe_err *err);
/* Give the lease on @job back, if @owner holds it. */
lethe_rc store_job_release(struct store *st, int64_t job, const char *owner, struct lethe_err *err);
/*
 * Work only one worker of a store may do at a time (a sweep, the audit
 * chain's checkpoints, the reapply look): take or renew the lease on
 * @name for @owner (lease_owner_format()) until @now_ms + @lease_ms.
 * *@held says whether @owner holds it now.  Another owner's lease is taken
 * over once it lapsed, or at once if its process on this host no longer
 * exists; a live holder is never robbed (singletons.c).
 */
lethe_rc store_singleton_take(struct store *st, const char *name, const char *owner, int64_t now_ms,
                              int64_t lease_ms, bool *held, struct lethe_err *err);
/* Give the lease on @name back, if @owner holds it. */
lethe_rc store_singleton_release(struct store *st, const char *name, const char *owner,
                                 struct lethe_err *err);
/* True if other lethe processes may share this store's queue (a PostgreSQL store). */
bool store_shared(const struct store *st);
/*
 * On a shared store, one worker at a time works on item @id of @kind
 * ("request", "export"): the singleton "@kind:@id" for @owner, for
 * @lease_ms from now (the item's steps outside any job lease of its own).
 * *@held false: another live worker has it.  On a store of one process
 * *@held is true and nothing is written.
 */
lethe_rc store_item_take(struct store *st, const char *kind, int64_t id, const char *owner,
                         int64_t lease_ms, bool *held, struct lethe_err *err);
/* Give item @id of @kind back (after store_item_take() held it). */
lethe_rc store_item_release(struct store *st, const char *kind, int64_t id, const char *owner,
                            struct lethe_err *err);
/* A cheap query through the schema: LETHE_OK if the store answers. */
lethe_rc store_ping(struct store *st, struct lethe_err *err);
/* Make every commit of this connection durable before it returns (synchronous=FULL). */
lethe_rc store_set_durable(struct store *st, struct lethe_err *err);
/* Back to the usual syncing after store_set_durable() (synchronous=NORMAL, WAL). */
void store_set_normal_sync(struct store *st);
/*
 * Commits of this connection return before they are durable
 * (synchronous=NORMAL: in WAL mode a commit appends its frames without an
 * fsync; SQLite still syncs the WAL header when it restarts the WAL, which
 * keeps a power loss from replaying old frames) and the connection never
 * checkpoints: the caller makes its commits durable itself by syncing the
 * WAL file (STORE_WAL_SUFFIX after the store's path) with fdatasync()
 * before it relies on them, and leaves checkpoints to connections that
 * sync (store_checkpoint()).  Used by the intake, which overlaps one group's
 * fsync with the next group's work.  store_close() restores
 * synchronous=FULL first, since closing may checkpoint.
 */
lethe_rc store_set_deferred_sync(struct store *st, struct lethe_err *err);
#define STORE_WAL_SUFFIX "-wal"
/*
 * A WAL file is cut back to this size when it is reset (journal_size_limit);
 * past it, callers that checkpoint should ask for a restart.
 */
#define STORE_WAL_LIMIT (64 * 1024 * 1024)
#define STORE_WAL_LIMIT_TEXT "67108864"
/*
 * Page cache of a state-store connection (KiB; SQLite's default is 2000).
 * Its hot pages are the tails of a few b-trees; a server keeps about eight
 * connections open, and the operating system caches the file anyway.
 */
#define STORE_CACHE_KIB_TEXT "512"
/*
 * A WAL checkpoint on this connection: passive (never waits, busy is not an
 * error), or with @restart one that waits for the writer and readers so the
 * next writer starts the WAL over.  Under a steady stream of commits only a
 * restart keeps the WAL from growing without bound: a passive one never
 * catches up with the last frame.
 */
lethe_rc store_checkpoint(struct store *st, bool restart, struct lethe_err *err);
/* This connection's page cache: at most @kib KiB (SQLite's default is 2 MB). */
lethe_rc store_set_cache(struct store *st, int kib, struct lethe_err *err);

/* ---- WAL sync and checkpoints of deferred-sync connections (wal.c) ---- */

/* The WAL file of a state store, kept open for fdatasync. */
struct store_wal;
/* The WAL of the state store at @path (not opened until the first sync). */
struct store_wal *store_wal_new(const char *path);
/* Close and free @w.  NULL is a no-op. */
void store_wal_free(struct store_wal *w);
/*
 * fdatasync the WAL of @w: every commit a deferred-sync connection of that
 * store made before is then durable.  The first call opens the file and
 * fsyncs its directory.  False (and a log_warn) on failure: a later fsync
 * could "succeed" without the lost pages, so callers treat it as final.
 * One thread at a time.
 */
bool store_wal_sync(struct store_wal *w);
/*
 * True if a failed store_wal_sync() of @w is final (SQLite: the pages may
 * be gone); false if it may be tried again (PostgreSQL: a commit that
 * waits for the server's WAL flush, after a lost connection say).
 */
bool store_wal_final(const struct store_wal *w);
/* True once the WAL file of @w is past STORE_WAL_LIMIT (time for a restart). */
bool store_wal_too_big(const struct store_wal *w);
/*
 * Checkpoint on @st (a syncing connection of the store of @w): passive,
 * or a restart once the WAL is past STORE_WAL_LIMIT (see store_checkpoint()).
 */
lethe_rc store_wal_checkpoint(struct store *st, const struct store_wal *w, struct lethe_err *err);
/* fsync the directory holding @path (a new file's entry must be durable too).  False on error. */
bool store_sync_dir(const char *path);

/* ---- channel disconnects and their outbox (docs/internals/outbox.md) ---- */

/* One channel disconnect as recorded. */
struct store_disc {
	int64_t id;                  /* row id */
	char subject[64];            /* keyed hash of the channel id */
	char state[16];              /* staged, disconnected, aborted */
	char source[16];             /* api, cli, deauthorize */
	char platform[32];           /* platform of the channel, "" if unknown */
	int64_t requested_at;        /* epoch s */
	int64_t disconnected_at;     /* epoch s, 0 while staged */
	char *effects;               /* JSON object: what the at-once transaction did */
	char token_mac[80];          /* staged: keyed hash of the token read, "" if none */
	uint8_t *box;                /* staged: the sealed channel id, else NULL */
	size_t boxlen;               /* its length */
	char owner[LEASE_OWNER_MAX]; /* staged: the staging process (util/lease.h), or "" */
};

/* One outbox job as recorded. */
struct store_outbox {
	int64_t id;             /* job id */
	int64_t disconnect_id;  /* the disconnect it belongs to */
	char kind[16];          /* revoke, unsubscribe, purge */
	char platform[32];      /* canonical platform name, "" for purge */
	char state[16];         /* staged, pending, running, done, dead */
	char outcome[32];       /* final or last outcome, "" if none yet */
	int64_t attempts;       /* calls made so far */
	int64_t next_at_ms;     /* earliest next try (epoch ms) */
	int64_t created_at_ms;  /* epoch ms */
	int64_t finished_at_ms; /* epoch ms, 0 while unfinished */
	long http_status;       /* last HTTP status, 0 if none */
	char reason[160];       /* last failure or dead-letter reason (no secrets) */
	int64_t erase_job;      /* purge: the erase job, 0 if not started */
	bool has_box;           /* the sealed payload is still stored */
	uint8_t *box;           /* the sealed payload (only from store_outbox_claim) */
	size_t boxlen;          /* its length */
};

typedef void (*store_outbox_fn)(void *arg, const struct store_outbox *j);
typedef void (*store_outbox_count_fn)(void *arg, const char *kind, const char *state, int64_t n);

/* Insert @d (state, subject... as given); *@id gets its row id. */
lethe_rc store_disc_add(struct store *st, const struct store_disc *d, int64_t *id,
                        struct lethe_err *err);
/* The newest disconnect of channel @subject that is not aborted into @out (free with
 * store_disc_clear). */
lethe_rc store_disc_find(struct store *st, const char *subject, struct store_disc *out,
                         struct lethe_err *err);
/* The first staged or aborted disconnect with an id above @after (with its box);
 * LETHE_E_NOTFOUND if none. */
lethe_rc store_disc_next_staged(struct store *st, int64_t after, struct store_disc *out,
                                struct lethe_err *err);
/* Free what store_disc_find/next_staged put in @d (the box is wiped first). */
void store_disc_clear(struct store_disc *d);
/*
 * The app transaction of disconnect @id committed: mark it disconnected and
 * make its staged jobs pending, both in one savepoint (all or nothing).
 */
lethe_rc store_disc_ready(struct store *st, int64_t id, int64_t now, int64_t now_ms,
                          struct lethe_err *err);
/*
 * The app transaction of staged disconnect @id failed: mark it aborted (one
 * statement), so that recovery drops it and never applies it again.
 */
lethe_rc store_disc_abort(struct store *st, int64_t id, struct lethe_err *err);
/* The staged or aborted disconnect @id never committed: forget it and its jobs in one
 * savepoint (all or nothing). */
lethe_rc store_disc_drop(struct store *st, int64_t id, struct lethe_err *err);
/* Number of outbox jobs (any state) of disconnect @id into *@n. */
lethe_rc store_disc_job_count(struct store *st, int64_t id, int64_t *n, struct lethe_err *err);
/*
 * Repair what an interrupted state change left: staged jobs of a disconnect
 * that is disconnected become pending (due at @now_ms); staged jobs without a
 * disconnect record are deleted.  *@n gets the number of jobs changed.
 */
lethe_rc store_outbox_unstage(struct store *st, int64_t now_ms, int64_t *n, struct lethe_err *err);

/* Queue a job in @state (staged or pending) due at @now_ms; *@id (may be NULL) gets its id. */
lethe_rc store_outbox_add(struct store *st, int64_t disconnect_id, const char *kind,
                          const char *platform, const char *state, int64_t now_ms,
                          const uint8_t *box, size_t boxlen, int64_t *id, struct lethe_err *err);
/* Call @fn for each job of disconnect @disconnect_id (0: all) in @state (NULL: any), by id. */
lethe_rc store_outbox_list(struct store *st, int64_t disconnect_id, const char *state,
                           store_outbox_fn fn, void *arg, struct lethe_err *err);
/* Job @id without its box; LETHE_E_NOTFOUND if absent. */
lethe_rc store_outbox_get(struct store *st, int64_t id, struct store_outbox *out,
                          struct lethe_err *err);
/*
 * Take the next due job (of @disconnect_id, 0: any) for @owner (lease_owner_format())
 * until @now_ms + @lease_ms: a pending job whose time has come, or a running
 * one whose lease lapsed or whose process on this host died.  @out gets it
 * with its box (free with store_outbox_clear); LETHE_E_NOTFOUND if none.
 */
lethe_rc store_outbox_claim(struct store *st, int64_t disconnect_id, const char *owner,
                            int64_t now_ms, int64_t lease_ms, struct store_outbox *out,
                            struct lethe_err *err);
/*
 * Write back job @j (state, outcome, attempts, next_at_ms, http_status,
 * reason, erase_job) and release @owner's lease; a job that is done or dead
 * loses its box.  LETHE_E_BUSY if another owner took the job meanwhile.
 */
lethe_rc store_outbox_update(struct store *st, const struct store_outbox *j, const char *owner,
                             int64_t now_ms, struct lethe_err *err);
/* Extend @owner's lease of running job @id to @now_ms + @lease_ms; LETHE_E_BUSY if not held. */
lethe_rc store_outbox_renew(struct store *st, int64_t id, const char *owner, int64_t now_ms,
                            int64_t lease_ms, struct lethe_err *err);
/* Record the erase job a purge (job @id) runs, as soon as it is known. */
lethe_rc store_outbox_set_erase_job(struct store *st, int64_t id, int64_t erase_job,
                                    struct lethe_err *err);
/* Free what store_outbox_claim put in @j (the box is wiped first). */
void store_outbox_clear(struct store_outbox *j);
/* Call @fn with each (kind, state) and its number of jobs (for /metrics). */
lethe_rc store_outbox_counts(struct store *st, store_outbox_count_fn fn, void *arg,
                             struct lethe_err *err);
/*
 * The fingerprint (config_key_fingerprint()) recorded for key @name
 * ("anonymize", "outbox") into @out (@cap bytes), *@found false if none is.
 */
lethe_rc store_key_get(struct store *st, const char *name, char *out, size_t cap, bool *found,
                       struct lethe_err *err);
/*
 * Record @fingerprint for key @name if none is recorded yet; LETHE_E_CONFIG
 * if another one is (the caller says what to restore).
 */
lethe_rc store_key_check(struct store *st, const char *name, const char *fingerprint,
                         struct lethe_err *err);
/*
 * *@any true if the store holds anything made with the anonymize key (Meta
 * requests, erase jobs, channel disconnects: keyed hashes and sealed ids),
 * so a store from before key fingerprints were recorded still refuses a
 * new key.
 */
lethe_rc store_has_keyed_rows(struct store *st, bool *any, struct lethe_err *err);
/* The earliest time (ms) a pending or running job becomes due, 0 if none. */
lethe_rc store_outbox_next_due(struct store *st, int64_t *next_ms, struct lethe_err *err);

/* ---- mail (mail.c): the durable mail outbox; docs/internals/mail.md ---------- */

/*
 * Notices are queued in the same transaction as what they tell of:
 * store_request_insert(), store_request_transition() and store_meta_update()
 * queue one for each state a request enters that has a notice
 * (awaiting_verification, scheduled, completed, completed_with_retention,
 * refused, cancelled, failed; and "extended" for a new due date) when the
 * request has a notification address (notify_box, notify_kind not NONE),
 * before any wipe of that box; an insert with a STORE_NOTIFY_ADDRESS
 * address queues "address" (confirm it) first.  The recipient is copied
 * into the mail row (to_box) and wiped from it once the mail is sent, dead
 * or skipped.  Whether a notice is sent or skipped (an address not
 * confirmed) is the mailer's decision, when it sends.
 */

/* One mail of the outbox. */
struct store_mail {
	int64_t id;           /* row id */
	int64_t request_id;   /* the request it is about (0: a reply about none) */
	char code[64];        /* that request's confirmation code ("" if gone or none) */
	char notice[32];      /* mail/templates.h MAIL_NOTICES or, a reply, MAIL_REPLIES */
	char state[16];       /* pending, sending, sent, dead, skipped */
	int64_t attempts;     /* sends tried */
	int64_t next_at;      /* epoch ms: when due (pending), the lease's end (sending) */
	int64_t created_at;   /* epoch s */
	int64_t done_at;      /* epoch s: sent, dead or skipped; 0 if not */
	char last_error[256]; /* why the last try failed or it was skipped, "" */
	int64_t mail_in_id;   /* a reply: the incoming mail it answers (mail_in); 0: a notice */
};

/*
 * The notice entering @state (or the history event "extended") queues,
 * or NULL if it queues none: the states whose news a mail tells.
 */
const char *store_mail_state_notice(const char *state);
/*
 * Queue notice @notice about request @id at @now (epoch s), due at once,
 * if the request has a notification address and, for a restriction, @notice is
 * awaiting_verification (the rest tell of an erasure): *@queued says whether (may be NULL).  For
 * notices no transition queues (delayed, a link sent again, a confirmed address's first news). Call
 * inside store_begin() when it goes with a change.
 */
lethe_rc store_mail_add(struct store *st, int64_t id, const char *notice, int64_t now, bool *queued,
                        struct lethe_err *err);
/*
 * Queue reply @notice (MAIL_REPLIES) to incoming mail @mail_in_id, about request
 * @request_id (0: none), to the sealed address @to_box (request_notify_seal()), due at
 * once.  In the caller's transaction.
 */
lethe_rc store_mail_add_reply(struct store *st, int64_t mail_in_id, int64_t request_id,
                              const char *notice, const uint8_t *to_box, size_t to_len, int64_t now,
                              struct lethe_err *err);
/*
 * Claim the pending mail due first (next_at <= @now_ms), or a sending one
 * whose lease expired, for @owner until @now_ms + @lease_ms: state
 * sending, attempts + 1.  The mail into @out, its sealed recipient into
 * *@box (caller frees; NULL if wiped).  LETHE_E_NOTFOUND if none is due.
 */
lethe_rc store_mail_claim(struct store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
                          struct store_mail *out, uint8_t **box, size_t *boxlen,
                          struct lethe_err *err);
/*
 * Finish mail @id held by @owner: @state "sent", "dead" or "skipped", with
 * @why (may be NULL: no secret, no address), at @now (epoch s); the
 * recipient is wiped, and for a reply its incoming mail's reply headers
 * (mail_in.reply_box), in the same savepoint.  *@applied (may be NULL) false
 * if @owner no longer holds it.
 */
lethe_rc store_mail_finish(struct store *st, int64_t id, const char *owner, const char *state,
                           const char *why, int64_t now, bool *applied, struct lethe_err *err);
/* Put mail @id held by @owner back to pending, due at @next_ms, with @why. */
lethe_rc store_mail_retry(struct store *st, int64_t id, const char *owner, int64_t next_ms,
                          const char *why, struct lethe_err *err);
/*
 * Mail is off (no mail: section): end every pending or sending mail as
 * skipped with @why at @now (epoch s), its recipient wiped (and a reply's
 * headers, as store_mail_finish()); *@n how many.
 */
lethe_rc store_mail_skip_all(struct store *st, const char *why, int64_t now, int64_t *n,
                             struct lethe_err *err);
/*
 * The first pending mail of request @request_id (not a reply to incoming
 * mail) with an id above @after: its id into *@id, its sealed recipient
 * into *@box (caller frees; NULL if none).  LETHE_E_NOTFOUND if none.
 */
lethe_rc store_mail_request_next(struct store *st, int64_t request_id, int64_t after, int64_t *id,
                                 uint8_t **box, size_t *boxlen, struct lethe_err *err);
/* The highest mail id so far into *@id (0: none). */
lethe_rc store_mail_last_id(struct store *st, int64_t *id, struct lethe_err *err);
/* Pending mail @id ends skipped with @why at @now (epoch s), its recipient wiped. */
lethe_rc store_mail_skip(struct store *st, int64_t id, const char *why, int64_t now,
                         struct lethe_err *err);
/*
 * Pending mail @id, due at once, is claimed after the mails queued due at once
 * (replies): the reply to an incoming mail goes before the notice it caused.
 */
lethe_rc store_mail_after_replies(struct store *st, int64_t id, struct lethe_err *err);
/* The earliest next_at (ms) of a pending or sending mail, 0 if none. */
lethe_rc store_mail_next_due(struct store *st, int64_t *next_ms, struct lethe_err *err);
/* Call @fn with each mail state and its count (for /metrics: lethe_mail{state}). */
lethe_rc store_mail_counts(struct store *st, store_count_fn fn, void *arg, struct lethe_err *err);
typedef void (*store_mail_fn)(void *arg, const struct store_mail *m);
/*
 * Call @fn for each mail in state @state (NULL: all), oldest first, at most
 * @limit (0: no limit) (`lethe jobs`), or, with @request_id > 0, for each
 * mail of that request (its API answer and status page).
 */
lethe_rc store_mail_list(struct store *st, const char *state, int64_t request_id, int limit,
                         store_mail_fn fn, void *arg, struct lethe_err *err);

/* ---- links (links.c): mailed links, by keyed hash only ------------------------ */

/* One mailed link. */
struct store_link {
	int64_t request_id; /* the request it acts on */
	char purpose[16];   /* verify, cancel, address, download */
	int64_t created_at; /* epoch s */
	int64_t expires_at; /* epoch s */
	int64_t used_at;    /* epoch s, 0 if unused */
};

/* Record a link whose token hashes to @hash. */
lethe_rc store_link_add(struct store *st, const char *hash, int64_t request_id, const char *purpose,
                        int64_t now, int64_t expires_at, struct lethe_err *err);
/* The link of @hash, used or not, into @out; LETHE_E_NOTFOUND if none. */
lethe_rc store_link_get(struct store *st, const char *hash, struct store_link *out,
                        struct lethe_err *err);
/*
 * Use the link of @hash at @now: one conditional update (unused, not
 * expired), so of two uses exactly one applies: *@applied.
 */
lethe_rc store_link_use(struct store *st, const char *hash, int64_t now, bool *applied,
                        struct lethe_err *err);
/* Delete links that expired before @before (and their request is anything): *@n. */
lethe_rc store_link_purge(struct store *st, int64_t before, int64_t *n, struct lethe_err *err);

/*
 * Count a hit of @key (a keyed hash) in a fixed window of @window_s seconds
 * at @now: *@allowed false (and the hit not counted) once @limit hits fell
 * into the current window.
 */
lethe_rc store_rate_hit(struct store *st, const char *key, int64_t window_s, int64_t limit,
                        int64_t now, bool *allowed, struct lethe_err *err);
/*
 * Delete rate windows that started before @before (now - the longest
 * window of any key: they ended; see service__rate_purge()).
 */
lethe_rc store_rate_purge(struct store *st, int64_t before, struct lethe_err *err);
/*
 * Request @id, if it still awaits verification, now expires at
 * @expires_at (its confirmation link was mailed again) unless it expires
 * later already: a renewal never shortens its life.  *@applied (rate.c).
 */
lethe_rc store_request_renew(struct store *st, int64_t id, int64_t expires_at, bool *applied,
                             struct lethe_err *err);

/* ---- audit chain (audit.c): docs/internals/proof.md ---------------------------- */

/*
 * Entries are appended in the transaction of the change they record (an
 * append outside one opens its own BEGIN IMMEDIATE): store_request_insert(),
 * store_request_transition(), store_request_expire() and store_meta_update()
 * append one "request" entry per state entered.  Each entry's hash is
 * BLAKE2b-256(previous hash || body); seq counts 1, 2, 3... without gaps.
 * The chain's reading, head and checkpoint functions follow here (chain
 * owner); audit/chain.h verifies and signs.
 */

/*
 * Append the entries of erase job @job_id of request @request_id (0: not a
 * request's) in the caller's transaction: one "erase_step" entry per step
 * (table, part, action, rows, media, until) and, if @scan is not NULL, one
 * "scan" entry for it.  Nothing for @job_id 0 but the scan.
 */
struct store_scan;
lethe_rc store_audit_job(struct store *st, int64_t request_id, int64_t job_id,
                         const struct store_scan *scan, int64_t now, struct lethe_err *err);
/*
 * Append one entry of @type ("reapply", ...) about request @request_id (0:
 * none) at @now whose other members are @fields: canonical JSON members,
 * sorted, without braces (e.g. "\"found\":3,\"requests\":[12,13]"), never
 * personal data.  *@seq (may be NULL) gets its seq.
 */
lethe_rc store_audit_append(struct store *st, int64_t request_id, const char *type,
                            const char *state, int64_t now, const char *fields, int64_t *seq,
                            struct lethe_err *err);

#define STORE_AUDIT_HASH 32 /* bytes of an entry's hash (BLAKE2b-256) */
#define STORE_AUDIT_SIG 64  /* bytes of a checkpoint's Ed25519 signature */

/*
 * The key of the keyed hash `reason_mac` that stands for a free-text reason
 * (refusal, cancellation, extension...) in a request entry: the anonymize
 * key, set once per process when it is loaded (config_load_key_opt()),
 * before any thread appends.  The text never enters the chain; with no key
 * set an entry has no reason_mac.
 */
void store_audit_set_key(const uint8_t key[32]);

/* One entry as store_audit_each() reads it (pointers valid during the call). */
struct store_audit_entry {
	int64_t seq;         /* its position: 1, 2, 3... */
	int64_t at;          /* epoch s */
	int64_t request_id;  /* 0 if none */
	const char *type;    /* request, erase_step, scan, reapply */
	const char *state;   /* request entries: the state entered, else NULL */
	const char *body;    /* the canonical JSON hashed */
	size_t body_len;     /* its length */
	const uint8_t *hash; /* the stored hash */
	size_t hash_len;     /* its length (STORE_AUDIT_HASH unless tampered with) */
};
/* Called per entry; false stops the reading. */
typedef bool (*store_audit_fn)(void *arg, const struct store_audit_entry *e);
/* Call @fn for each entry of seq >= @from, in seq order. */
lethe_rc store_audit_each(struct store *st, int64_t from, store_audit_fn fn, void *arg,
                          struct lethe_err *err);
/* The chain's head: its last seq into *@seq (0 if empty) and its hash into @hash (zeros). */
lethe_rc store_audit_head(struct store *st, int64_t *seq, uint8_t hash[STORE_AUDIT_HASH],
                          struct lethe_err *err);
/*
 * The entry of request @request_id's final transition (the latest "request"
 * entry entering completed, completed_with_retention, refused or
 * cancelled): *@seq and its hash in lowercase hex into @hash.
 * LETHE_E_NOTFOUND if none; LETHE_E_STATE if its body does not name that
 * request, seq and state (its columns were edited).
 */
lethe_rc store_audit_final(struct store *st, int64_t request_id, int64_t *seq, char hash[65],
                           struct lethe_err *err);

/* A signed checkpoint of the chain's head (audit/chain.h makes and checks them). */
struct store_audit_checkpoint {
	int64_t seq;                    /* the entry whose hash is signed */
	int64_t at;                     /* when it was signed, epoch s */
	uint8_t hash[STORE_AUDIT_HASH]; /* that entry's hash */
	char key_id[17];                /* the signing key's id (audit/keys.h) */
	uint8_t sig[STORE_AUDIT_SIG];   /* Ed25519 over the canonical head */
	bool bad;                       /* the stored row is malformed (hash or sig length) */
};
/* Store @c (replacing an earlier checkpoint of the same seq if @replace). */
lethe_rc store_audit_checkpoint_add(struct store *st, const struct store_audit_checkpoint *c,
                                    bool replace, struct lethe_err *err);
/* The checkpoint of the highest seq into @out; LETHE_E_NOTFOUND if none. */
lethe_rc store_audit_checkpoint_latest(struct store *st, struct store_audit_checkpoint *out,
                                       struct lethe_err *err);
typedef void (*store_audit_checkpoint_fn)(void *arg, const struct store_audit_checkpoint *c);
/* Call @fn for each checkpoint in seq order. */
lethe_rc store_audit_checkpoints(struct store *st, store_audit_checkpoint_fn fn, void *arg,
                                 struct lethe_err *err);

/* ---- residual scans (scans.c) ------------------------------------------------ */

/* The residual scan after a request's erasure, and what became of the app DB's files. */
struct store_scan {
	int64_t request_id; /* the request */
	int64_t job_id;     /* its erase job, 0 if none ran (nothing found) */
	int64_t at;         /* epoch s */
	char result[16];    /* clean, residual */
	int64_t rows;       /* residual rows found */
	int64_t kept;       /* rows kept by retain parts */
	int64_t tables;     /* tables checked */
	char *detail;       /* JSON (scan_result_json()), owned; no personal data */
	char wal[16];       /* truncated, busy, not_wal, not_needed, not_sqlite */
	int secure_delete;  /* 1 on, 0 off, -1 not applicable */
};

/* Record @s as request @s->request_id's latest scan (replacing an earlier one). */
lethe_rc store_scan_put(struct store *st, const struct store_scan *s, struct lethe_err *err);
/* Request @request_id's latest scan into @out; LETHE_E_NOTFOUND if none. */
lethe_rc store_scan_get(struct store *st, int64_t request_id, struct store_scan *out,
                        struct lethe_err *err);
/* Free what store_scan_get() put in @s. */
void store_scan_clear(struct store_scan *s);
/*
 * The number of requests whose latest scan found rows (result residual) and
 * that are still failed (not retried, cancelled or refused since), into *@out.
 */
lethe_rc store_scan_residual_count(struct store *st, int64_t *out, struct lethe_err *err);

/* ---- receipts (receipts.c): what a request's receipt reads --------------------- */

typedef void (*store_receipt_step_fn)(void *arg, const char *table, const char *action,
                                      int64_t done, int64_t media, int64_t hold_until);
/*
 * Call @fn for each step of @job, in the order they ran: its name (the
 * table, or "TABLE#N" for a keep rule, see dm_part_name), action, rows
 * done, media files removed and the latest hold end (0 if none).
 */
lethe_rc store_receipt_steps(struct store *st, int64_t job, store_receipt_step_fn fn, void *arg,
                             struct lethe_err *err);

/* ---- the ledger of erased people (ledger.c): store_ledger.h, part of this header ---- */
#include "store/store_ledger.h"

/* ---- exports (exports.c): store_exports.h, part of this header ---- */
#include "store/store_exports.h"

/* ---- incoming mails (mailin.c): store_mailin.h, part of this header ---- */
#include "store/store_mailin.h"

#endif /* LETHE_STORE_H */
