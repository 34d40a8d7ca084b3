/* SPDX-License-Identifier: MIT */
/*
 * sweep_media.c - the sweeper's media files and legal holds (see sweep.c
 * and docs/internals/sweeper.md).
 *
 * Media files named by deleted rows are recorded in the state store under
 * job 0 before the app commit and removed after it; what a crash leaves
 * between the two is settled by asking whether any row still names the
 * file.  Rows whose legal hold ended are deleted one by key, their media
 * handled the same way.  Runs in the sweeping thread only.
 */
#include "util/fmacros.h"

#include "db/sql.h"
#include "engine/media_use.h"
#include "engine/sweep_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- media ------------------------------------------------------------------- */

/*
 * Does some row of @t still name media object @key of store @store, in any
 * of its media columns of that store?  Every column's comparison has its
 * own placeholder and value.
 */
static lethe_rc
media_referenced(struct sweep *s, const struct dm_table *t, const char *store, const char *key,
                 bool *out, struct lethe_err *err)
{
	struct appdb_val v = {.type = APPDB_TEXT, .s = key};
	struct sql b;
	int64_t n = 0;
	size_t i, cols = 0;
	lethe_rc rc;

	*out = false;
	sql_init(&b, s->db, SQL_CAP);
	sql_add(&b, "SELECT count(*) FROM (SELECT 1 FROM ");
	sql_ident(&b, t->name);
	sql_add(&b, " WHERE ");
	for (i = 0; i < t->nmedia; i++) {
		if (strcmp(dm_media_store(t, i), store) != 0)
			continue;
		if (cols++ > 0)
			sql_add(&b, " OR ");
		sql_ident(&b, t->media[i]);
		sql_add(&b, " = ");
		sql_value(&b, v);
	}
	sql_add(&b, " LIMIT 1) AS lethe_q");
	rc = sql_rc(&b);
	if (rc != LETHE_OK)
		lethe_err_set(err, rc, "statement too long");
	else if (cols > 0) /* no column of that store any more: nothing names it */
		rc = appdb_query_int(s->db, sql_str(&b), sql_vals(&b), sql_nvals(&b), &n, err);
	sql_free(&b);
	*out = n > 0;
	return rc;
}

/*
 * Remove the @n objects @k (their stores grouped, media_use_remove) and
 * forget, in one state transaction, the records of those done; *@removed,
 * *@gone and *@bad count what became of them.  @done[i] (if not NULL)
 * says which were done.
 */
static lethe_rc
remove_and_forget(struct sweep *s, const char *table, const struct store_media_key *k, size_t n,
                  const bool *skip, int64_t *removed, int64_t *gone, int64_t *bad,
                  struct lethe_err *err)
{
	enum media_outcome *out = xcalloc(n ? n : 1, sizeof(*out));
	struct store_media_key *rm = xcalloc(n ? n : 1, sizeof(*rm));
	size_t *at = xcalloc(n ? n : 1, sizeof(*at));
	struct lethe_err merr = {0};
	size_t i, nrm = 0;
	lethe_rc rc = LETHE_OK;

	for (i = 0; i < n; i++) {
		if (skip != NULL && skip[i])
			continue;
		rm[nrm] = k[i];
		at[nrm++] = i;
	}
	if (nrm > 0 && media_use_remove(s->o.media, rm, nrm, out, &merr) != LETHE_OK)
		log_warnx("sweep: %s", merr.msg);
	if (n > 0)
		rc = store_begin(s->st, err);
	/* Forget the skipped ones (settled otherwise) and the ones done. */
	for (i = 0; rc == LETHE_OK && i < n; i++)
		if (skip != NULL && skip[i])
			rc = store_media_done(s->st, SWEEP_JOB, table, k[i].store, k[i].key, false,
			                      err);
	for (i = 0; rc == LETHE_OK && i < nrm; i++) {
		if (out[i] == MEDIA_FAILED) {
			(*bad)++;
			continue;
		}
		if (out[i] == MEDIA_GONE)
			(*gone)++;
		else
			(*removed)++;
		rc = store_media_done(s->st, SWEEP_JOB, table, k[at[i]].store, k[at[i]].key, false,
		                      err);
	}
	if (n > 0 && rc == LETHE_OK)
		rc = store_commit(s->st, err);
	else if (n > 0)
		store_rollback(s->st);
	free(out);
	free(rm);
	free(at);
	return rc;
}

/*
 * Settle the objects recorded for @tb's table that no batch of this
 * process saw through (a crash, a failed commit): an object no row names
 * any more is removed (its row's deletion committed), one a row still
 * names is forgotten (the row will be swept again).  Objects that cannot
 * be removed stay recorded and the table stays dirty.
 */
lethe_rc
sweep_media_settle(struct sweep *s, struct tab *tb, struct lethe_err *err)
{
	const struct dm_table *t = tb->t;
	struct store_media_key *k = NULL;
	bool *live = NULL; /* per key: still named by a row: forget it, do not remove it */
	size_t n = 0, i;
	int64_t bad = 0, removed = 0, gone = 0;
	lethe_rc rc;

	rc = store_media_list(s->st, SWEEP_JOB, t->name, &k, &n, err);
	live = xcalloc(n ? n : 1, sizeof(*live));
	for (i = 0; rc == LETHE_OK && i < n; i++)
		rc = media_referenced(s, t, k[i].store, k[i].key, &live[i], err);
	/* Forget exactly the settled keys: records another process adds meanwhile stay. */
	if (rc == LETHE_OK && n > 0)
		rc = remove_and_forget(s, t->name, k, n, live, &removed, &gone, &bad, err);
	store_media_keys_free(k, n);
	free(live);
	if (bad > 0)
		log_warnx("sweep: %lld media files of %s could not be removed; retrying in %d "
		          "minutes",
		          (long long)bad, t->name, (int)(SETTLE_MS / 60000));
	tb->media_dirty = bad > 0 || rc != LETHE_OK;
	/* Each settle reads the table once per recorded file: not every pass. */
	tb->next_settle = time_mono_ms() + SETTLE_MS;
	/*
	 * These were recorded by a pass that did not see them through: its remove
	 * call may have reached the store before it died, so one found gone
	 * (Cloudinary's not_found) counts as removed, as in erase.c's settle.
	 */
	pthread_mutex_lock(&s->mu);
	tb->st.media += removed + gone;
	tb->st.media_failed = bad;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/*
 * After the commit that deleted their rows: remove the objects @k of
 * @table that this batch recorded, and forget those records (only these:
 * another process's records are never touched here).  A local file found
 * gone counts as removed: it was there when recorded (media_record).  An
 * object that cannot be removed stays recorded and marks @tb (or, NULL,
 * the holds) dirty.
 */
lethe_rc
sweep_media_done(struct sweep *s, struct tab *tb, const char *table, const struct keys *k,
                 struct lethe_err *err)
{
	int64_t removed = 0, gone = 0, bad = 0;
	lethe_rc rc;

	rc = remove_and_forget(s, table, k->v, k->n, NULL, &removed, &gone, &bad, err);
	if (bad > 0)
		log_warnx("sweep: %lld media files of %s could not be removed; retrying later",
		          (long long)bad, table);
	if (bad > 0 || rc != LETHE_OK) {
		if (tb != NULL)
			tb->media_dirty = true;
		else
			s->holds_dirty = true;
	}
	if (tb != NULL) {
		pthread_mutex_lock(&s->mu);
		tb->st.media += removed;
		tb->st.media_missing += gone;
		tb->st.media_failed += bad;
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

/* The TTL table of @t, or NULL if it has no ttl. */
static struct tab *
tab_of(struct sweep *s, const struct dm_table *t)
{
	size_t i;

	for (i = 0; i < s->ntabs; i++)
		if (s->tabs[i].t == t)
			return &s->tabs[i];
	return NULL;
}

lethe_rc
sweep_recover(struct sweep *s, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc = LETHE_OK;
	bool dirty = false;

	/* Every table with media columns: holds may name tables without a ttl. */
	for (i = 0; rc == LETHE_OK && i < s->dm->ntables; i++) {
		struct tab tmp = {.t = &s->dm->tables[i]};
		struct tab *tb = tab_of(s, tmp.t);

		if (tmp.t->nmedia == 0)
			continue;
		if (tb == NULL)
			tb = &tmp;
		rc = sweep_media_settle(s, tb, err);
		dirty = dirty || tb->media_dirty;
	}
	s->holds_dirty = dirty || rc != LETHE_OK;
	return rc;
}

/*
 * Record the objects of @k (of rows being deleted) before the app commit.
 * A local file already gone is dropped from @k and counted in k->missing:
 * it is not lethe's to remove, nor to count as removed.
 */
static lethe_rc
media_record(struct sweep *s, const char *table, struct keys *k, struct lethe_err *err)
{
	bool *missing = xcalloc(k->n ? k->n : 1, sizeof(*missing));
	size_t i, kept = 0;
	lethe_rc rc;

	media_use_missing(s->o.media, k->v, k->n, missing);
	for (i = 0; i < k->n; i++) {
		if (missing[i]) {
			free(k->v[i].key);
			k->missing++;
		} else {
			k->v[kept++] = k->v[i];
		}
	}
	free(missing);
	k->n = kept;
	if (k->n == 0)
		return LETHE_OK;
	rc = store_begin(s->st, err);
	for (i = 0; rc == LETHE_OK && i < k->n; i++)
		rc = store_media_add(s->st, SWEEP_JOB, table, k->v[i].store, k->v[i].key, err);
	if (rc == LETHE_OK)
		return store_commit(s->st, err);
	store_rollback(s->st);
	return rc;
}

void
sweep_keys_take(struct sweep *s, struct appdb_stmt *q, const struct dm_table *t, struct keys *k)
{
	struct appdb_val v;
	size_t i;

	for (i = 0; i < t->nmedia; i++) {
		appdb_column(s->db, q, (int)i, &v);
		if (v.type != APPDB_TEXT || v.s[0] == '\0')
			continue;
		k->v = xgrow(k->v, &k->cap, k->n + 1, sizeof(*k->v));
		k->v[k->n].store = (char *)dm_media_store(t, i);
		k->v[k->n++].key = xstrdup(v.s);
	}
}

void
sweep_keys_free(struct keys *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->v[i].key);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

/*
 * Commit the open app transaction of a batch that deleted rows naming
 * media @k: the files are recorded first, removed after.  Rolls back on
 * failure.
 */
lethe_rc
sweep_commit_with_media(struct sweep *s, struct tab *tb, const char *table, struct keys *k,
                        struct lethe_err *err)
{
	lethe_rc rc = media_record(s, table, k, err);

	if (rc == LETHE_OK)
		rc = appdb_commit(s->db, err);
	if (rc != LETHE_OK) {
		appdb_rollback(s->db);
		if (tb != NULL)
			tb->media_dirty = true;
	} else if (tb != NULL && k->missing > 0) {
		pthread_mutex_lock(&s->mu);
		tb->st.media_missing += k->missing;
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

/* ---- holds ------------------------------------------------------------------- */

/* The statement deleting one row of @t by key (with its media columns). */
static lethe_rc
hold_stmt(struct sweep *s, const struct dm_table *t, struct appdb_stmt **out, struct lethe_err *err)
{
	struct sql b;
	size_t i;
	lethe_rc rc = LETHE_OK;

	if (s->hold_q[t->index] == NULL) {
		sql_init(&b, s->db, SQL_CAP);
		sql_add(&b, "DELETE FROM ");
		sql_ident(&b, t->name);
		sql_add(&b, " WHERE ");
		sql_ident(&b, t->key);
		sql_add(&b, " = ");
		sql_slot(&b, 1);
		for (i = 0; i < t->nmedia; i++) {
			sql_add(&b, i == 0 ? " RETURNING " : ", ");
			sql_ident(&b, t->media[i]);
		}
		rc = appdb_prepare(s->db, sql_str(&b), &s->hold_q[t->index], err);
		sql_free(&b);
	}
	*out = s->hold_q[t->index];
	return rc;
}

/*
 * One batch of ended holds: delete their rows in one app transaction (the
 * end-of-retention action), then forget the hold records.  A crash between
 * the two repeats the (idempotent) deletes.  *@got holds handled.
 */
static lethe_rc
holds_batch(struct sweep *s, int64_t now, int64_t limit, int64_t *got, struct lethe_err *err)
{
	struct store_hold *h = NULL;
	struct keys *k = NULL; /* per hold: the files of its row */
	size_t n = 0, i;
	int64_t rows = 0;
	double t0 = 0;
	bool open = false;
	lethe_rc rc;

	*got = 0;
	rc = store_hold_due(s->st, now, (size_t)limit, &h, &n, err);
	k = xcalloc(n ? n : 1, sizeof(*k));
	if (rc == LETHE_OK && n > 0 && !s->o.dry_run) {
		rc = batching_begin(s->db, err);
		open = rc == LETHE_OK;
		t0 = time_mono_ms();
	}
	for (i = 0; rc == LETHE_OK && i < n && !s->o.dry_run; i++) {
		const struct dm_table *t = datamap_table(s->dm, h[i].table);
		struct appdb_stmt *q = NULL;
		struct appdb_val kv;
		enum appdb_step st;

		if (t == NULL) {
			log_warnx("sweep: a hold on table '%s', which the data map no longer "
			          "names, ended; forgetting it",
			          h[i].table);
			continue;
		}
		rc = hold_stmt(s, t, &q, err);
		if (rc != LETHE_OK)
			break;
		batching_tag_val(h[i].key, &kv);
		appdb_reset(s->db, q);
		rc = appdb_bind_all(s->db, q, &kv, 1);
		while (rc == LETHE_OK && (st = appdb_step(s->db, q, err)) == APPDB_ROW)
			sweep_keys_take(s, q, t, &k[i]);
		if (rc == LETHE_OK && st == APPDB_ERROR)
			rc = db_fail(s, err);
		if (rc == LETHE_OK)
			rows += s->db->ops->changes(s->db);
		appdb_reset(s->db, q);
		if (rc == LETHE_OK && k[i].n > 0)
			rc = media_record(s, t->name, &k[i], err);
	}
	if (open && rc == LETHE_OK)
		rc = appdb_commit(s->db, err);
	if (open && rc != LETHE_OK) {
		appdb_rollback(s->db);
		s->holds_dirty = true;
	}
	if (rc == LETHE_OK && open) {
		double ms = time_mono_ms() - t0;

		/* Files of the rows just deleted, in whichever tables they were. */
		for (i = 0; rc == LETHE_OK && i < n; i++) {
			struct tab *tb = tab_of(s, datamap_table(s->dm, h[i].table));

			if (tb != NULL && k[i].missing > 0) {
				pthread_mutex_lock(&s->mu);
				tb->st.media_missing += k[i].missing;
				pthread_mutex_unlock(&s->mu);
			}
			if (k[i].n > 0)
				rc = sweep_media_done(s, tb, h[i].table, &k[i], err);
		}
		rc = rc == LETHE_OK ? store_begin(s->st, err) : rc;
		for (i = 0; rc == LETHE_OK && i < n; i++)
			rc = store_hold_remove(s->st, h[i].table, h[i].key, h[i].until, err);
		if (rc == LETHE_OK)
			rc = store_commit(s->st, err);
		else
			store_rollback(s->st);
		batching_after(&s->pace, s->db, ms, (int64_t)n, (int64_t)n >= limit);
	}
	if (rc == LETHE_OK) {
		*got = (int64_t)n;
		pthread_mutex_lock(&s->mu);
		s->tot.holds_released += (int64_t)n;
		s->tot.holds_rows += rows;
		pthread_mutex_unlock(&s->mu);
	}
	for (i = 0; i < n; i++)
		sweep_keys_free(&k[i]);
	free(k);
	store_holds_free(h, n);
	return rc;
}

lethe_rc
sweep_holds_turn(struct sweep *s, int64_t now, bool *more, struct lethe_err *err)
{
	int64_t done = 0, got = 0, n = 0;
	double t0 = time_mono_ms();
	lethe_rc rc = LETHE_OK;

	if (s->o.dry_run) {
		rc = store_hold_due_count(s->st, now, &n, err);
		pthread_mutex_lock(&s->mu);
		s->tot.holds_released += n;
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	if (s->holds_dirty && time_mono_ms() >= s->holds_next_settle) {
		rc = sweep_recover(s, err);
		s->holds_next_settle = time_mono_ms() + SETTLE_MS;
	}
	s->pace.batch = s->hold_batch;
	while (rc == LETHE_OK && !stopped(s)) {
		int64_t limit = s->pace.batch;

		if (limit > s->o.max_rows_per_pass - done)
			limit = s->o.max_rows_per_pass - done;
		rc = holds_batch(s, now, limit, &got, err);
		done += got;
		if (rc != LETHE_OK || got < limit)
			break;
		if (done >= s->o.max_rows_per_pass || time_mono_ms() - t0 >= s->o.max_ms_per_pass) {
			*more = true;
			break;
		}
	}
	s->hold_batch = s->pace.batch;
	return rc;
}
