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

#define META_COLS                                                                                  \
	"id, code, app, state, received_at, completed_at, job_id, no_data, runs, job_run, run_at"
#define META_NCOLS 11

/* store__row_fn: a request row (META_COLS first) into the struct store_meta_req @arg. */
static void
meta_row(sqlite3_stmt *q, void *arg)
{
	struct store_meta_req *out = arg;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(q, 0);
	store__col_text(q, 1, out->code, sizeof(out->code));
	store__col_text(q, 2, out->app, sizeof(out->app));
	store__col_text(q, 3, out->state, sizeof(out->state));
	out->received_at = sqlite3_column_int64(q, 4);
	out->completed_at = sqlite3_column_int64(q, 5);
	out->job = sqlite3_column_int64(q, 6);
	out->no_data = sqlite3_column_int(q, 7) != 0;
	out->runs = sqlite3_column_int64(q, 8);
	out->job_run = sqlite3_column_int64(q, 9);
	out->run_at = sqlite3_column_int64(q, 10);
}

/*
 * A failed read of a request is LETHE_E_STATE, never "no such request"
 * (LETHE_E_NOTFOUND): a busy or broken store must not make a status page
 * say 404.
 */
#define META_READ "reading a request"

lethe_rc
store_meta_match(struct store *st, int64_t id, const char *app, const char *subject,
                 struct store_meta_req *out, struct lethe_err *err)
{
	return store__one(st, err, META_READ, meta_row, out,
	                  "SELECT " META_COLS " FROM meta_requests WHERE id = ?1 AND app = ?2 "
	                  "AND subject = ?3",
	                  "itt", id, app, subject);
}

lethe_rc
store_meta_first_since(struct store *st, int64_t since, int64_t *id, struct lethe_err *err)
{
	lethe_rc rc;

	*id = 0;
	rc =
	    store__one(st, err, META_READ, store__row_ints, id,
	               "SELECT id FROM meta_requests WHERE received_at >= ?1 ORDER BY received_at, "
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
	sqlite3_stmt *q = NULL;
	lethe_rc rc;
	int s = SQLITE_DONE;

	rc = store__prepf(
	    st, &q, err,
	    "SELECT id, subject, received_at FROM meta_requests WHERE received_at >= ?1", "i",
	    since);
	while (rc == LETHE_OK && (s = sqlite3_step(q)) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(q, 0), (const char *)sqlite3_column_text(q, 1),
		   sqlite3_column_int64(q, 2));
	if (rc == LETHE_OK && s != SQLITE_DONE)
		rc = store__fail(st, err, "meta requests");
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_meta_insert_once(struct store *st, const char *code, const char *app, const char *subject,
                       const uint8_t *box, size_t boxlen, int64_t now, int64_t *id, bool *added,
                       struct lethe_err *err)
{
	lethe_rc rc =
	    store__execf(st, err,
	                 "INSERT INTO meta_requests (code, app, subject, identity_box, state, "
	                 "received_at) VALUES (?1, ?2, ?3, ?4, 'received', ?5) "
	                 "ON CONFLICT(code) DO NOTHING",
	                 "tttbi", code, app, subject, (const void *)box, boxlen, now);

	if (rc != LETHE_OK)
		return rc;
	*added = sqlite3_changes(st->db) > 0;
	if (*added) {
		*id = sqlite3_last_insert_rowid(st->db);
		return LETHE_OK;
	}
	rc = store__one(st, err, META_READ, store__row_ints, id,
	                "SELECT id FROM meta_requests WHERE code = ?1", "t", code);
	if (rc == LETHE_E_NOTFOUND)
		rc = lethe_err_set(err, LETHE_E_STATE, "request vanished while being stored");
	return rc;
}

lethe_rc
store_meta_by_code(struct store *st, const char *code, struct store_meta_req *out,
                   struct lethe_err *err)
{
	return store__one(st, err, META_READ, meta_row, out,
	                  "SELECT " META_COLS " FROM meta_requests WHERE code = ?1", "t", code);
}

/* What store_meta_next() reads: the request and its identity box. */
struct meta_boxed {
	struct store_meta_req *req; /* the request */
	uint8_t **box;              /* its identity box (allocated, even if empty) */
	size_t *boxlen;             /* its length */
};

/* store__row_fn: META_COLS, then the identity box, into the struct meta_boxed @arg. */
static void
meta_boxed_row(sqlite3_stmt *q, void *arg)
{
	struct meta_boxed *m = arg;
	const void *b;
	int n;

	meta_row(q, m->req);
	b = sqlite3_column_blob(q, META_NCOLS);
	n = sqlite3_column_bytes(q, META_NCOLS);
	*m->box = xmalloc(n > 0 ? (size_t)n : 1);
	if (n > 0)
		memcpy(*m->box, b, (size_t)n);
	*m->boxlen = n > 0 ? (size_t)n : 0;
}

lethe_rc
store_meta_next(struct store *st, int64_t after, struct store_meta_req *out, uint8_t **box,
                size_t *boxlen, struct lethe_err *err)
{
	struct meta_boxed m = {.req = out, .box = box, .boxlen = boxlen};

	*box = NULL;
	*boxlen = 0;
	return store__one(st, err, META_READ, meta_boxed_row, &m,
	                  "SELECT " META_COLS ", identity_box FROM meta_requests WHERE state IN "
	                  "('received', 'running') AND id > ?1 ORDER BY id LIMIT 1",
	                  "i", after);
}

/* A final state a later run asked for turns back into 'received' (store_meta_update). */
#define META_LATER "(runs > ?6 AND ?2 <> 'running')"
/* The states of a request that is done (a rerun starts it again). */
#define META_DONE "state IN ('completed', 'completed_with_retention', 'failed')"

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
	return store__execf(
	    st, err,
	    "UPDATE meta_requests SET "
	    "state = CASE WHEN " META_LATER " THEN 'received' ELSE ?2 END, "
	    "job_id = nullif(?3, 0), job_run = ?6, "
	    "no_data = CASE WHEN " META_LATER " THEN 0 ELSE ?4 END, "
	    "completed_at = CASE WHEN " META_LATER " THEN NULL WHEN ?5 > 0 THEN ?5 "
	    "ELSE completed_at END, "
	    "identity_box = CASE WHEN NOT " META_LATER " AND ?2 IN ('completed', "
	    "'completed_with_retention') THEN x'' ELSE identity_box END WHERE id = ?1",
	    "itiiii", id, state, job, (int64_t)(no_data ? 1 : 0), completed_at, run);
}

lethe_rc
store_meta_rerun(struct store *st, const char *code, int64_t run, const uint8_t *box, size_t boxlen,
                 int64_t now, bool *applied, struct lethe_err *err)
{
	lethe_rc rc;

	/* A done request starts over; a waiting or running one runs once more after. */
	rc = store__execf(st, err,
	                  "UPDATE meta_requests SET runs = ?2, run_at = ?4, identity_box = ?3, "
	                  "no_data = CASE WHEN " META_DONE " THEN 0 ELSE no_data END, "
	                  "completed_at = CASE WHEN " META_DONE " THEN NULL ELSE completed_at END, "
	                  "state = CASE WHEN " META_DONE " THEN 'received' ELSE state END "
	                  "WHERE code = ?1 AND runs < ?2",
	                  "tibi", code, run, (const void *)box, boxlen, now);
	if (applied != NULL)
		*applied = rc == LETHE_OK && sqlite3_changes(st->db) > 0;
	return rc;
}

lethe_rc
store_meta_retry_failed(struct store *st, int64_t *n, struct lethe_err *err)
{
	lethe_rc rc =
	    store__execf(st, err,
	                 "UPDATE meta_requests SET state = 'received', completed_at = NULL "
	                 "WHERE state = 'failed' AND length(identity_box) > 0",
	                 "");

	*n = rc == LETHE_OK ? sqlite3_changes(st->db) : 0;
	return rc;
}

lethe_rc
store_meta_steps(struct store *st, int64_t job, store_step_fn fn, void *arg, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(
	    st, &q, err,
	    "SELECT s.table_name, s.action, s.done, (SELECT max(until) FROM holds h "
	    "WHERE h.job_id = s.job_id AND h.table_name = s.table_name) FROM job_steps s "
	    "WHERE s.job_id = ?1 ORDER BY s.rowid",
	    "i", job);
	while (store__row(st, q, &rc, err, "reading a job's steps"))
		fn(arg, (const char *)sqlite3_column_text(q, 0),
		   (const char *)sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2),
		   sqlite3_column_int64(q, 3));
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
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(st, &q, err,
	                  "SELECT box FROM deauth_channels WHERE app = ?1 AND subject = ?2 ORDER "
	                  "BY rowid",
	                  "tt", app, subject);
	while (store__row(st, q, &rc, err, "reading the channels of a deauthorization"))
		fn(arg, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0));
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_meta_state_counts(struct store *st, store_count_fn fn, void *arg, struct lethe_err *err)
{
	return store__state_counts(st, "SELECT state, count(*) FROM meta_requests GROUP BY state",
	                           fn, arg, err);
}
