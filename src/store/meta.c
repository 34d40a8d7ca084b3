/* SPDX-License-Identifier: MIT */
/*
 * meta.c - Meta data-deletion requests and deauthorizations in the state
 * store (see store.h): recording a request once, reruns of a repeat, the
 * runner's progress, and what the status page and /metrics read.  A
 * request's person is a keyed hash; the identity is kept only sealed, and
 * only until the request completes.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define META_COLS STORE_REQ_COLS
#define META_NCOLS STORE_REQ_NCOLS
#define meta_row store__request_row

/*
 * A failed read of a request is LETHE_E_STATE, never "no such request"
 * (LETHE_E_NOTFOUND): a busy or broken store must not make a status page
 * say 404.
 */
#define META_READ "reading a request"

lethe_rc
store_meta_set_source(struct store *st, int64_t id, const char *source, struct lethe_err *err)
{
	return store__execf(st, err, "UPDATE requests SET source = ?2 WHERE id = ?1", "it", id,
	                    source);
}

lethe_rc
store_meta_match(struct store *st, int64_t id, const char *app, const char *subject,
                 struct store_request *out, struct lethe_err *err)
{
	return store__one(st, err, META_READ, meta_row, out,
	                  "SELECT " META_COLS " FROM requests WHERE id = ?1 AND app = ?2 "
	                  "AND subject = ?3",
	                  "itt", id, app, subject);
}

lethe_rc
store_meta_first_since(struct store *st, int64_t since, int64_t *id, struct lethe_err *err)
{
	lethe_rc rc;

	*id = 0;
	rc = store__one(st, err, META_READ, store__row_ints, id,
	                "SELECT id FROM requests WHERE received_at >= ?1 ORDER BY received_at, "
	                "id LIMIT 1",
	                "i", since);
	if (rc == LETHE_E_NOTFOUND) {
		*id = INT64_MAX; /* nothing received since: every request may go */
		rc = LETHE_OK;
	}
	return rc;
}

lethe_rc
store_meta_since(struct store *st, int64_t since, store_meta_fn fn, void *arg,
                 struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;
	enum sq_step s = SQ_DONE;

	rc = store__prepf(
	    st, &q, err,
	    "SELECT id, subject, received_at FROM requests WHERE received_at >= ?1 AND app <> ''",
	    "i", since);
	while (rc == LETHE_OK && (s = sq_step(q)) == SQ_ROW)
		fn(arg, sq_col_int(q, 0), sq_col_text(q, 1), sq_col_int(q, 2));
	if (rc == LETHE_OK && s != SQ_DONE)
		rc = store__fail(st, err, "meta requests");
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_meta_insert_once(struct store *st, const char *code, const char *app, const char *subject,
                       const uint8_t *box, size_t boxlen, int64_t now, int64_t deadline_s,
                       int64_t *id, bool *added, struct lethe_err *err)
{
#define INSERT_ONCE                                                                                \
	"INSERT INTO requests (code, app, subject, identity_box, state, received_at, due_at) "     \
	"VALUES (?1, ?2, ?3, ?4, 'received', ?5, ?6) ON CONFLICT(code) DO NOTHING"
	lethe_rc rc;

	/*
	 * Every Meta callback passes here (the intake's indexer): on SQLite
	 * the new id is the rowid, as RETURNING would cost an ephemeral table
	 * per row (sq_last_rowid()).
	 */
	if (sq_kind(st->c) == SQ_SQLITE) {
		rc = store__execf(st, err, INSERT_ONCE, "tttbii", code, app, subject,
		                  (const void *)box, boxlen, now, now + deadline_s);
		*added = rc == LETHE_OK && sq_changes(st->c) > 0;
		if (*added)
			*id = sq_last_rowid(st->c);
		else if (rc == LETHE_OK)
			rc = LETHE_E_NOTFOUND;
	} else {
		rc = store__one(st, err, "write", store__row_ints, id, INSERT_ONCE " RETURNING id",
		                "tttbii", code, app, subject, (const void *)box, boxlen, now,
		                now + deadline_s);
		*added = rc == LETHE_OK;
	}
#undef INSERT_ONCE
	if (rc != LETHE_E_NOTFOUND)
		return rc;
	rc = store__one(st, err, META_READ, store__row_ints, id,
	                "SELECT id FROM requests WHERE code = ?1", "t", code);
	if (rc == LETHE_E_NOTFOUND)
		rc = lethe_err_set(err, LETHE_E_STATE, "request vanished while being stored");
	return rc;
}

/* A final state a later run asked for turns back into 'received' (store_meta_update). */
#define META_LATER "(runs > ?6 AND ?2 <> 'running')"
/* The same with the parameters of the history's insert (?3 state, ?4 run). */
#define META_LATER_EV "(runs > ?4 AND ?3 <> 'running')"
/* The states of a request that is done (a rerun starts it again). */
#define META_DONE "state IN ('completed', 'completed_with_retention', 'failed')"
/*
 * What store_meta_update() records over: not a request done meanwhile (a
 * stale run of another worker must not overwrite its result).
 */
#define META_OPEN "state NOT IN ('completed', 'completed_with_retention', 'failed')"

/*
 * store_meta_update()'s notice of request @id entering @state in run @run
 * (one statement: a Meta request has no address, and a state a later run
 * turns back into 'received', or the state it is in, is not entered).
 */
static lethe_rc
meta_notice(struct store *st, int64_t id, const char *state, int64_t run, int64_t now,
            struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    "INSERT INTO mail (request_id, notice, state, to_box, next_at, "
	    "created_at) SELECT id, ?2, 'pending', notify_box, 0, ?4 FROM requests "
	    "WHERE id = ?1 AND notify_kind <> 0 AND length(notify_box) > 0 AND " META_OPEN
	    " AND state <> ?2 AND NOT (runs > ?3 AND ?2 <> 'running') AND ?2 IN "
	    "('completed', 'completed_with_retention', 'failed')",
	    "itii", id, state, run, now);
}

lethe_rc
store_meta_update(struct store *st, int64_t id, const char *state, int64_t job, bool no_data,
                  int64_t completed_at, int64_t run, struct lethe_err *err)
{
	/*
	 * A finished request no longer needs the identity: wipe it, unless a
	 * later run was asked for meanwhile: then the request goes back to
	 * 'received' (keeping this run's job) with the identity that run
	 * brought, and runs again.
	 */
	int64_t at = completed_at > 0 ? completed_at : time_now();
	char *entered = NULL;
	bool own = false;
	lethe_rc rc;

	/* The change, its history and what it frees: all or nothing (a savepoint nests). */
	rc = store__save(st, "SAVEPOINT meta_update", &own, err);
	if (rc != LETHE_OK)
		return rc;
		/* The history records each state entered (a later run's return to 'received' too).
		 */
#define EVENT_INSERT                                                                               \
	"INSERT INTO request_events (request_id, at, state, actor, reason) "                       \
	"SELECT id, ?2, CASE WHEN " META_LATER_EV " THEN 'received' ELSE ?3 END, "                 \
	"'lethe', NULL FROM requests WHERE id = ?1 AND " META_OPEN " AND state <> "                \
	"(CASE WHEN " META_LATER_EV " THEN 'received' ELSE ?3 END)"
	/* SQLite: the row read back by its rowid, not RETURNING's ephemeral table. */
	if (sq_kind(st->c) == SQ_SQLITE) {
		rc = store__execf(st, err, EVENT_INSERT, "iiti", id, at, state, run);
		if (rc == LETHE_OK && sq_changes(st->c) > 0)
			rc =
			    store__one(st, err, "reading a request event", store__row_dup, &entered,
			               "SELECT state FROM request_events WHERE rowid = ?1", "i",
			               sq_last_rowid(st->c));
		else if (rc == LETHE_OK)
			rc = LETHE_E_NOTFOUND;
	} else {
		rc = store__one(st, err, "write", store__row_dup, &entered,
		                EVENT_INSERT " RETURNING state", "iiti", id, at, state, run);
	}
#undef EVENT_INSERT
	/* Each state entered has its audit entry, in this transaction. */
	if (rc == LETHE_OK)
		rc = store__audit_request(st, id, at, entered, "lethe", NULL, err);
	else if (rc == LETHE_E_NOTFOUND)
		rc = LETHE_OK;
	free(entered);
	/*
	 * The notice of the state entered (completed, failed...), before the
	 * update below wipes the notification address: not for a state a
	 * later run turns back into 'received', nor for the state it is in.
	 */
	if (rc == LETHE_OK)
		rc = meta_notice(st, id, state, run, completed_at > 0 ? completed_at : time_now(),
		                 err);
#define UPDATE(empty)                                                                              \
	"UPDATE requests SET "                                                                     \
	"state = CASE WHEN " META_LATER " THEN 'received' ELSE ?2 END, "                           \
	"job_id = nullif(?3, 0), job_run = ?6, "                                                   \
	"no_data = CASE WHEN " META_LATER " THEN 0 ELSE ?4 END, "                                  \
	"completed_at = CASE WHEN " META_LATER " THEN NULL WHEN ?5 > 0 THEN ?5 "                   \
	"ELSE completed_at END, "                                                                  \
	"identity_box = CASE WHEN NOT " META_LATER " AND ?2 IN ('completed', "                     \
	"'completed_with_retention') THEN " empty " ELSE identity_box END, "                       \
	"notify_box = CASE WHEN NOT " META_LATER " AND ?2 IN ('completed', "                       \
	"'completed_with_retention') THEN NULL ELSE notify_box END WHERE id = ?1 "                 \
	"AND " META_OPEN
	if (rc == LETHE_OK)
		rc = store__execf(
		    st, err, SQ2(st->c, UPDATE(SQ_EMPTY_BLOB_LITE), UPDATE(SQ_EMPTY_BLOB_PG)),
		    "itiiii", id, state, job, (int64_t)(no_data ? 1 : 0), completed_at, run);
#undef UPDATE
	/*
	 * A completed Meta request no longer needs the channels its person's
	 * deauthorize recorded: they were erased with it.
	 */
	if (rc == LETHE_OK)
		rc =
		    store__execf(st, err,
		                 "DELETE FROM deauth_channels WHERE (app, subject) IN (SELECT app, "
		                 "subject FROM requests WHERE id = ?1 AND app <> '' AND state IN "
		                 "('completed', 'completed_with_retention'))",
		                 "i", id);
	/* Finished: the mails that made the request are needed no more. */
	if (rc == LETHE_OK)
		rc = store_mailin_request_finished(
		    st, id, completed_at > 0 ? completed_at : time_now(), err);
	return store__save_end(st, "RELEASE meta_update", "ROLLBACK TO meta_update", own, rc, err);
}

lethe_rc
store_meta_rerun(struct store *st, const char *code, int64_t run, const uint8_t *box, size_t boxlen,
                 int64_t now, bool *applied, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	int64_t id = 0;
	bool done = false, own = false;
	lethe_rc rc;

	if (applied != NULL)
		*applied = false;
	rc = store__tx_begin(st, &own, err);
	if (rc != LETHE_OK)
		return rc;
	rc = store__prepf(st, &q, err,
	                  "SELECT id, " META_DONE " FROM requests WHERE code = ?1 AND runs < ?2",
	                  "ti", code, run);
	if (store__row(st, q, &rc, err, "reading a repeated request")) {
		id = sq_col_int(q, 0);
		done = sq_col_int(q, 1) != 0;
	}
	store__unprep(st, q);
	/* A done request starts over; a waiting or running one runs once more after. */
	if (rc == LETHE_OK && id != 0)
		rc = store__execf(
		    st, err,
		    "UPDATE requests SET runs = ?2, run_at = ?4, identity_box = ?3, "
		    "no_data = CASE WHEN " META_DONE " THEN 0 ELSE no_data END, "
		    "completed_at = CASE WHEN " META_DONE " THEN NULL ELSE completed_at "
		    "END, state = CASE WHEN " META_DONE " THEN 'received' ELSE state END "
		    "WHERE id = ?1",
		    "iibi", id, run, (const void *)box, boxlen, now);
	/* Starting over is a transition: its history row and its audit entry. */
	if (rc == LETHE_OK && done)
		rc = store__execf(
		    st, err,
		    "INSERT INTO request_events (request_id, at, state, actor, reason) "
		    "VALUES (?1, ?2, 'received', 'lethe', NULL)",
		    "ii", id, now);
	if (rc == LETHE_OK && done)
		rc = store__audit_request(st, id, now, "received", "lethe", NULL, err);
	rc = store__tx_end(st, own, rc, err);
	if (applied != NULL)
		*applied = rc == LETHE_OK && id != 0;
	return rc;
}

lethe_rc
store_meta_retry_failed(struct store *st, int64_t *n, struct lethe_err *err)
{
	/* Each request tried again gets its history row and its audit entry. */
	return store__move_each(st,
	                        "SELECT id FROM requests WHERE state = 'failed' AND app <> '' AND "
	                        "length(identity_box) > 0 ORDER BY id",
	                        0, time_now(), "received", NULL,
	                        "UPDATE requests SET state = 'received', completed_at = NULL "
	                        "WHERE id = ?1",
	                        n, err);
}

lethe_rc
store_meta_steps(struct store *st, int64_t job, store_step_fn fn, void *arg, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	/* A keep rule's step is named "TABLE#N"; its holds name the table. */
#define STEPS(instr)                                                                               \
	"SELECT s.table_name, s.action, s.done, (SELECT max(until) FROM holds h "                  \
	"WHERE h.job_id = s.job_id AND h.table_name = " STORE_STEP_TABLE(                          \
	    instr) ") "                                                                            \
	           "FROM job_steps s WHERE s.job_id = ?1 ORDER BY s.rowid"
	rc = store__prepf(st, &q, err, SQ2(st->c, STEPS("instr"), STEPS("strpos")), "i", job);
#undef STEPS
	while (store__row(st, q, &rc, err, "reading a job's steps"))
		fn(arg, sq_col_text(q, 0), sq_col_text(q, 1), sq_col_int(q, 2), sq_col_int(q, 3));
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_deauth_add(struct store *st, const char *app, const char *subject, int64_t rows, int64_t now,
                 struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    "INSERT INTO deauthorizations (app, subject, rows_revoked, received_at) "
	    "VALUES (?1, ?2, ?3, ?4)",
	    "ttii", app, subject, rows, now);
}

lethe_rc
store_deauth_channel_add(struct store *st, const char *app, const char *subject,
                         const char *channel, const uint8_t *box, size_t boxlen, int64_t now,
                         struct lethe_err *err)
{
	return store__execf(st, err,
	                    "INSERT OR IGNORE INTO deauth_channels (app, subject, channel, box, "
	                    "received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	                    "tttbi", app, subject, channel, (const void *)box, boxlen, now);
}

lethe_rc
store_deauth_channels(struct store *st, const char *app, const char *subject, store_box_fn fn,
                      void *arg, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(st, &q, err,
	                  "SELECT box FROM deauth_channels WHERE app = ?1 AND subject = ?2 ORDER "
	                  "BY rowid",
	                  "tt", app, subject);
	while (store__row(st, q, &rc, err, "reading the channels of a deauthorization"))
		fn(arg, sq_col_blob(q, 0), sq_col_bytes(q, 0));
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_meta_state_counts(struct store *st, store_count_fn fn, void *arg, struct lethe_err *err)
{
	return store__state_counts(st, "SELECT state, count(*) FROM requests GROUP BY state", fn,
	                           arg, err);
}
