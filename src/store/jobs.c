/* SPDX-License-Identifier: MIT */
/*
 * jobs.c - erase jobs in the state store (see store.h): the jobs, the lease
 * that lets one process run a job at a time (owner texts: util/lease.h),
 * each step's progress, and the media files of a batch still to remove.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"
#include "util/lease.h"
#include "util/mem.h"
#include "util/timeutil.h"

lethe_rc
store_job_find_active(struct store *st, const char *kind, const char *scope, const char *subject,
                      int64_t *job, int64_t *created_at, struct lethe_err *err)
{
	int64_t v[2] = {0, 0}; /* id, created_at */
	lethe_rc rc;

	rc = store__one(st, err, "finding the active job", store__row_ints, v,
	                "SELECT id, created_at FROM jobs WHERE subject = ?1 AND scope = ?2 AND "
	                "kind = ?3 AND state IN ('pending', 'running') ORDER BY id DESC LIMIT 1",
	                "ttt", subject, scope, kind);
	*job = v[0];
	*created_at = v[1];
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

lethe_rc
store_job_create(struct store *st, const char *kind, const char *scope, const char *subject,
                 int64_t now, int64_t *job, struct lethe_err *err)
{
	lethe_rc rc;

#define JOB_INSERT                                                                                 \
	"INSERT INTO jobs (kind, scope, subject, state, created_at, updated_at) "                  \
	"VALUES (?1, ?2, ?3, 'pending', ?4, ?4)"
	/* SQLite: the rowid, not RETURNING's ephemeral table (sq_last_rowid()). */
	if (sq_kind(st->c) == SQ_SQLITE) {
		rc = store__execf(st, err, JOB_INSERT, "ttti", kind, scope, subject, now);
		if (rc == LETHE_OK)
			*job = sq_last_rowid(st->c);
	} else {
		rc = store__one(st, err, "write", store__row_ints, job, JOB_INSERT " RETURNING id",
		                "ttti", kind, scope, subject, now);
	}
#undef JOB_INSERT
	return rc;
}

lethe_rc
store_job_find_or_create(struct store *st, const char *kind, const char *scope, const char *subject,
                         int64_t now, int64_t *job, int64_t *created_at, bool *created,
                         struct lethe_err *err)
{
	bool own = false;
	lethe_rc rc;

	*created = false;
	/*
	 * Under the store's write lock (BEGIN IMMEDIATE, or PostgreSQL's
	 * advisory lock before any read): the look sees a job another worker
	 * created and committed just before.
	 */
	rc = store__save(st, "SAVEPOINT job_find", &own, err);
	if (rc != LETHE_OK)
		return rc;
	rc = store_job_find_active(st, kind, scope, subject, job, created_at, err);
	if (rc == LETHE_OK && *job == 0) {
		rc = store_job_create(st, kind, scope, subject, now, job, err);
		*created_at = now;
		*created = rc == LETHE_OK;
	}
	rc = store__save_end(st, "RELEASE job_find", "ROLLBACK TO job_find", own, rc, err);
	if (rc != LETHE_OK) {
		*created = false;
		*job = 0;
	}
	return rc;
}

lethe_rc
store_job_set_state(struct store *st, int64_t job, const char *state, int64_t finished_at,
                    struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    "UPDATE jobs SET state = ?2, updated_at = ?4, "
	    "finished_at = CASE WHEN ?3 > 0 THEN ?3 ELSE finished_at END WHERE id = ?1",
	    "itii", job, state, finished_at, time_now());
}

static void
job_row(struct sq_stmt *q, void *arg)
{
	struct store_job *out = arg;

	out->id = sq_col_int(q, 0);
	out->scope = store__col_dup(q, 1);
	out->state = store__col_dup(q, 2);
	out->created_at = sq_col_int(q, 3);
	out->finished_at = sq_col_int(q, 4);
}

lethe_rc
store_job_get(struct store *st, int64_t id, struct store_job *out, struct lethe_err *err)
{
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	rc = store__one(st, err, "reading a job", job_row, out,
	                "SELECT id, scope, state, created_at, finished_at FROM jobs WHERE id = ?1",
	                "i", id);
	if (rc == LETHE_E_NOTFOUND)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no job %lld", (long long)id);
	return rc;
}

void
store_job_clear(struct store_job *j)
{
	free(j->scope);
	free(j->state);
	memset(j, 0, sizeof(*j));
}

static void
step_row(struct sq_stmt *q, void *arg)
{
	struct store_step *out = arg;

	out->done = sq_col_int(q, 0);
	out->media = sq_col_int(q, 1);
	out->cursor = store__col_dup(q, 2);
	out->pending_rows = sq_col_int(q, 3);
	out->pending_key = store__col_dup(q, 4);
	out->pending_media = sq_col_int(q, 5);
	out->finished = sq_col_int(q, 6) != 0;
	out->pending_cursor = store__col_dup(q, 7);
	out->media_missing = sq_col_int(q, 8);
	out->pending_missing = sq_col_int(q, 9);
}

lethe_rc
store_step_get(struct store *st, int64_t job, const char *table, const char *action,
               struct store_step *out, struct lethe_err *err)
{
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	rc = store__execf(st, err,
	                  "INSERT INTO job_steps (job_id, table_name, action) VALUES (?1, ?2, ?3) "
	                  "ON CONFLICT (job_id, table_name) DO NOTHING",
	                  "itt", job, table, action);
	if (rc == LETHE_OK)
		rc = store__one(
		    st, err, "reading step", step_row, out,
		    "SELECT done, media, cursor, pending_rows, pending_key, pending_media, "
		    "finished, pending_cursor, media_missing, pending_missing FROM job_steps WHERE "
		    "job_id = ?1 AND "
		    "table_name = ?2",
		    "it", job, table);
	/* The row was just made sure of: its absence is a broken store. */
	if (rc == LETHE_E_NOTFOUND)
		rc = store__fail(st, err, "reading step");
	return rc;
}

void
store_step_clear(struct store_step *s)
{
	free(s->cursor);
	free(s->pending_key);
	free(s->pending_cursor);
	memset(s, 0, sizeof(*s));
}

lethe_rc
store_step_put(struct store *st, int64_t job, const char *table, const struct store_step *s,
               struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    "UPDATE job_steps SET done = ?3, media = ?4, cursor = ?5, pending_rows = ?6, "
	    "pending_key = ?7, pending_media = ?8, finished = ?9, pending_cursor = ?10, "
	    "media_missing = ?11, pending_missing = ?12 WHERE job_id = ?1 AND table_name = ?2",
	    "itiititiitii", job, table, s->done, s->media, s->cursor, s->pending_rows,
	    s->pending_key, s->pending_media, (int64_t)(s->finished ? 1 : 0), s->pending_cursor,
	    s->media_missing, s->pending_missing);
}

void
store_media_keys_free(struct store_media_key *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(k[i].store);
		free(k[i].key);
	}
	free(k);
}

lethe_rc
store_media_add(struct store *st, int64_t job, const char *table, const char *store,
                const char *key, struct lethe_err *err)
{
	return store__execf(st, err,
	                    "INSERT INTO media_pending (job_id, table_name, store, object_key, "
	                    "removed) VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT DO NOTHING",
	                    "ittt", job, table, store, key);
}

/* The (store, key) rows @q yields into *@k / *@n. */
static lethe_rc
media_rows(struct store *st, struct sq_stmt *q, lethe_rc rc, struct store_media_key **k, size_t *n,
           struct lethe_err *err)
{
	size_t cap = 0;

	while (store__row(st, q, &rc, err, "reading media keys")) {
		*k = xgrow(*k, &cap, *n + 1, sizeof(**k));
		(*k)[*n].store = store__col_dup(q, 0);
		(*k)[*n].key = store__col_dup(q, 1);
		(*n)++;
	}
	store__unprep(st, q);
	if (rc != LETHE_OK) {
		store_media_keys_free(*k, *n);
		*k = NULL;
		*n = 0;
	}
	return rc;
}

lethe_rc
store_media_list(struct store *st, int64_t job, const char *table, struct store_media_key **k,
                 size_t *n, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	*k = NULL;
	*n = 0;
	rc = store__prepf(st, &q, err,
	                  "SELECT store, object_key FROM media_pending WHERE job_id = ?1 AND "
	                  "table_name = ?2 AND removed = 0 ORDER BY store, object_key",
	                  "it", job, table);
	return media_rows(st, q, rc, k, n, err);
}

lethe_rc
store_media_done(struct store *st, int64_t job, const char *table, const char *store,
                 const char *key, bool keep, struct lethe_err *err)
{
	if (keep)
		return store__execf(st, err,
		                    "UPDATE media_pending SET removed = 1 WHERE job_id = ?1 AND "
		                    "table_name = ?2 AND store = ?3 AND object_key = ?4",
		                    "ittt", job, table, store, key);
	return store__execf(st, err,
	                    "DELETE FROM media_pending WHERE job_id = ?1 AND table_name = ?2 AND "
	                    "store = ?3 AND object_key = ?4",
	                    "ittt", job, table, store, key);
}

lethe_rc
store_media_clear(struct store *st, int64_t job, const char *table, struct lethe_err *err)
{
	return store__execf(st, err,
	                    "DELETE FROM media_pending WHERE job_id = ?1 AND table_name = ?2 AND "
	                    "removed = 0",
	                    "it", job, table);
}

lethe_rc
store_media_removed(struct store *st, int64_t job, struct store_media_key **k, size_t *n,
                    struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	*k = NULL;
	*n = 0;
	rc = store__prepf(st, &q, err,
	                  "SELECT store, object_key FROM media_pending WHERE job_id = ?1 AND "
	                  "removed = 1 ORDER BY store, object_key",
	                  "i", job);
	return media_rows(st, q, rc, k, n, err);
}

lethe_rc
store_media_forget(struct store *st, int64_t job, struct lethe_err *err)
{
	return store__execf(st, err, "DELETE FROM media_pending WHERE job_id = ?1", "i", job);
}

lethe_rc
store_job_state_counts(struct store *st, store_count_fn fn, void *arg, struct lethe_err *err)
{
	return store__state_counts(st, "SELECT state, count(*) FROM jobs GROUP BY state", fn, arg,
	                           err);
}

lethe_rc
store_job_claim(struct store *st, int64_t job, const char *owner, int64_t now, int64_t lease_s,
                struct lethe_err *err)
{
	char *holder = NULL;
	lethe_rc rc;

	rc = store__execf(
	    st, err,
	    "UPDATE jobs SET lease_owner = ?2, lease_until = ?3 + ?4 WHERE id = ?1 AND "
	    "(lease_owner IS NULL OR lease_owner = ?2 OR lease_until < ?3)",
	    "itii", job, owner, now, lease_s);
	if (rc != LETHE_OK || sq_changes(st->c) == 1)
		return rc;
	rc = store__one(st, err, "reading a job's lease", store__row_dup, &holder,
	                "SELECT lease_owner FROM jobs WHERE id = ?1", "i", job);
	if (rc == LETHE_E_NOTFOUND)
		rc = LETHE_OK;
	if (rc == LETHE_OK && holder != NULL && lease_owner_dead(holder)) {
		/* Its process is gone (a crash): take over at once instead of waiting. */
		rc = store__execf(
		    st, err,
		    "UPDATE jobs SET lease_owner = ?2, lease_until = ?3 + ?4 WHERE id = ?1 "
		    "AND lease_owner = ?5",
		    "itiit", job, owner, now, lease_s, holder);
		if (rc == LETHE_OK && sq_changes(st->c) == 1) {
			free(holder);
			return LETHE_OK;
		}
	}
	free(holder);
	if (rc == LETHE_OK)
		rc = lethe_err_set(err, LETHE_E_BUSY,
		                   "job %lld is being run by another lethe process; it finishes "
		                   "there (or run again after %lld s)",
		                   (long long)job, (long long)lease_s);
	return rc;
}

lethe_rc
store_job_release(struct store *st, int64_t job, const char *owner, struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND "
	    "lease_owner = ?2",
	    "it", job, owner);
}
