/* SPDX-License-Identifier: MIT */
/*
 * store_internal.h - what the files of the state store share: struct store,
 * its statement cache, and the helpers that prepare, bind, step and reset
 * statements.  Only src/store/ includes it (and its unit test): callers
 * use store.h.
 *
 * The files, one table family each (docs/internals/store.md):
 *   store.c   open, close, transactions, connection settings, key fingerprints
 *   schema.c  the schema versions and their migration
 *   stmt.c    the statement cache and the helpers below
 *   jobs.c    erase jobs, their leases, steps and pending media files
 *   holds.c   legal holds
 *   meta.c    Meta data-deletion requests and deauthorizations
 *   outbox.c  channel disconnects and their outbox
 *   mail.c    the mail outbox (notices about requests)
 *   links.c   mailed links, by keyed hash
 *   exports.c export requests' archives, the exporter's queue, the rate limit
 *   receipts.c  what a request's receipt reads (its job's steps)
 *   audit.c   the audit chain: append, read, head, checkpoints
 *
 * Like struct store itself, nothing here is thread-safe: one connection is
 * used by one thread at a time.
 */
#ifndef LETHE_STORE_INTERNAL_H
#define LETHE_STORE_INTERNAL_H

#include "util/fmacros.h"

#include "store/sq.h"
#include "store/store.h"
#include "util/buf.h"

/* Statements a connection keeps prepared (the first ones it runs). */
#define STMT_CACHE 64

struct store {
	struct sq *c; /* the connection (sq.h) */
	struct {
		const char *sql; /* the statement's text (a string literal: compared by address) */
		struct sq_stmt *q; /* prepared once */
	} cache[STMT_CACHE];       /* statements of this connection, prepared on first use */
	bool deferred;             /* store_set_deferred_sync() was called */
	int64_t busy_ms;           /* give up on a taken write lock after this (STORE_BUSY_MS) */
	double busy_since;         /* time_mono_ms() of the first try of the current wait */
	struct buf audit_buf;      /* audit.c's body, kept between appends (cap 0: unused yet) */
	struct {
		bool valid;                     /* read or written in the open write transaction */
		int64_t seq;                    /* the chain's last seq (0: empty) */
		uint8_t hash[STORE_AUDIT_HASH]; /* its hash */
	} audit_head; /* audit.c's cached head: cleared at begin, commit, rollback, failure */
};

/* LETHE_E_STATE with "state store: @what: " and the database's last error of @st. */
lethe_rc store__fail(struct store *st, struct lethe_err *err, const char *what);
/*
 * Step @q of a multi-row read: true on a row; false at the end of the rows,
 * or (with *@rc set to LETHE_E_STATE, saying @what) when the step failed,
 * so a busy or broken store never reads as fewer rows.  False without
 * stepping if *@rc is already an error.
 */
bool store__row(struct store *st, struct sq_stmt *q, lethe_rc *rc, struct lethe_err *err,
                const char *what);

/*
 * Create (or upgrade) the schema of @st's file inside one BEGIN IMMEDIATE
 * transaction; LETHE_E_STATE if that fails or the file is of a newer
 * version than this lethe knows (@path names it in the message).
 */
lethe_rc store__migrate(struct store *st, const char *path, struct lethe_err *err);

/*
 * Prepare @sql (a string literal: the cache knows it by its address) and
 * bind its parameters 1..n in order as @types says, one variadic argument
 * each: 't' const char * (NULL binds NULL), 'i' int64_t, 'b' a const void *
 * and a size_t.  Texts and blobs are copied.  Give *@q back with
 * store__unprep() (also after a failure: *@q is then NULL).
 */
lethe_rc store__prepf(struct store *st, struct sq_stmt **q, struct lethe_err *err, const char *sql,
                      const char *types, ...);
/*
 * store__prepf, one step, store__unprep: for statements that return no
 * rows.  Binds without copying: the arguments outlive the statement's use.
 * LETHE_E_STATE if the step fails.
 */
lethe_rc store__execf(struct store *st, struct lethe_err *err, const char *sql, const char *types,
                      ...);
/* Done with @q (may be NULL): a cached statement is reset for its next use, another finalized. */
void store__unprep(struct store *st, struct sq_stmt *q);

/* Column @i of @q's row as a new string (free it), NULL if it is NULL. */
char *store__col_dup(struct sq_stmt *q, int i);
/* Column @i of @q's row into @out (@cap bytes, truncated), "" if it is NULL. */
void store__col_text(struct sq_stmt *q, int i, char *out, size_t cap);
/* Column @i of @q's row as a new buffer into *@box, *@boxlen (NULL, 0 if empty). */
void store__col_blob(struct sq_stmt *q, int i, uint8_t **box, size_t *boxlen);

/*
 * The table a job step's holds name, in SQL over job_steps s: the step's
 * table_name up to its '#' (a keep rule's step is "TABLE#N"), else all of
 * it.  @instr is the dialect's position of a substring: "instr" (SQLite)
 * or "strpos" (PostgreSQL), for SQ2().
 */
#define STORE_STEP_TABLE(instr)                                                                    \
	"CASE WHEN " instr "(s.table_name, '#') > 0 THEN substr(s.table_name, 1, " instr           \
	"(s.table_name, '#') - 1) ELSE s.table_name END"

/* The columns of a request that store__request_row() reads, in its order. */
#define STORE_REQ_COLS                                                                             \
	"id, code, app, state, received_at, completed_at, job_id, no_data, runs, job_run, "        \
	"run_at, "                                                                                 \
	"kind, scope, source, policy, due_at, not_before, expires_at, reason, effects, warned, "   \
	"verified, notify_kind, notify_ok"
#define STORE_REQ_NCOLS 24
/* The row of STORE_REQ_COLS into the struct store_request @arg (a store__row_fn). */
void store__request_row(struct sq_stmt *q, void *arg);

/*
 * Queue, in the caller's transaction, the notices of request @id entering
 * @state (mail.c): one named after the state if it has one (MAIL_NOTICES),
 * when the request has a notification address.  Call before anything
 * wipes its notify_box.
 */
lethe_rc store__mail_state(struct store *st, int64_t id, const char *state, int64_t now,
                           struct lethe_err *err);

/*
 * Move each request that @select (parameter ?1: @arg, if it has one) lists,
 * in id order,
 * to @state at @now in the caller's transaction or one of its own: its
 * history row (actor lethe, @reason may be NULL), its audit entry, then
 * @update (?1 the id, ?2 @now, each if used: an unused parameter binds
 * nothing).  *@n gets the number moved.
 */
lethe_rc store__move_each(struct store *st, const char *select, int64_t arg, int64_t now,
                          const char *state, const char *reason, const char *update, int64_t *n,
                          struct lethe_err *err);
/*
 * Append, in the caller's transaction, the chain's "request" entry of
 * request @id entering @state at @at by @actor, @reason (may be NULL): the
 * facts of the history row the caller just wrote (or of the receipt, which
 * has none), the request's own read here, the reason as a keyed hash
 * (audit.c).
 */
lethe_rc store__audit_request(struct store *st, int64_t id, int64_t at, const char *state,
                              const char *actor, const char *reason, struct lethe_err *err);
/*
 * Open a change that appends to the chain: BEGIN IMMEDIATE if @st is not in
 * a transaction (*@own true), else nothing.  End it with store__tx_end().
 */
lethe_rc store__tx_begin(struct store *st, bool *own, struct lethe_err *err);
/*
 * Have audit.c see every statement of @st that opens, ends or rolls back a
 * transaction or savepoint, so that the head it keeps during a write
 * transaction never outlives one (store_open() calls it once).
 */
void store__audit_watch(struct store *st);
/* Commit (@rc LETHE_OK) or roll back the transaction store__tx_begin() opened; returns @rc. */
lethe_rc store__tx_end(struct store *st, bool own, lethe_rc rc, struct lethe_err *err);
/*
 * Open a change that happens whole or not at all: a write transaction of
 * its own if @st is in none (*@own true), else the savepoint that
 * @savepoint ("SAVEPOINT name", a literal) sets in the caller's (which
 * PostgreSQL only allows inside a transaction).  End it with
 * store__save_end().
 */
lethe_rc store__save(struct store *st, const char *savepoint, bool *own, struct lethe_err *err);
/*
 * End what store__save() opened: on success (@rc LETHE_OK) commit it or
 * run @release ("RELEASE name"), else roll it back or run @undo
 * ("ROLLBACK TO name") and @release.  Returns the result.
 */
lethe_rc store__save_end(struct store *st, const char *release, const char *undo, bool own,
                         lethe_rc rc, struct lethe_err *err);

/* Reads the current row of @q into @out, for store__one(). */
typedef void (*store__row_fn)(struct sq_stmt *q, void *out);

/*
 * The one-row lookup: prepare @sql and bind its parameters as
 * store__prepf() does (@types and the variadic arguments, not copied: they
 * outlive the call), step once, on a row call @row(q, @out), and reset.
 * LETHE_OK if a row was read; LETHE_E_NOTFOUND if the query returned none
 * (@err untouched); a failed prepare is LETHE_E_STATE.  A failed step is
 * LETHE_E_STATE with "@what: <the database's error>" in @err ("reading" if @what
 * is NULL), so that a busy or broken store never reads as "absent".
 */
lethe_rc store__one(struct store *st, struct lethe_err *err, const char *what, store__row_fn row,
                    void *out, const char *sql, const char *types, ...);
/* store__row_fn: column i of the row as an integer into ((int64_t *)@out)[i], for every column. */
void store__row_ints(struct sq_stmt *q, void *out);
/* store__row_fn: column 0 as a new string (or NULL) into *(char **)@out. */
void store__row_dup(struct sq_stmt *q, void *out);

/*
 * The first column of the first row of @sql with one integer parameter, as
 * an integer into *@out (0 if there is no row).  A failed step is
 * LETHE_E_STATE naming @what, as in store__one().
 */
lethe_rc store__query_int(struct store *st, const char *what, const char *sql, int64_t arg,
                          int64_t *out, struct lethe_err *err);
/* Call @fn with each state of @sql's (state, count) rows. */
lethe_rc store__state_counts(struct store *st, const char *sql, store_count_fn fn, void *arg,
                             struct lethe_err *err);

#endif /* LETHE_STORE_INTERNAL_H */
