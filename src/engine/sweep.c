/* SPDX-License-Identifier: MIT */
/*
 * sweep.c - TTL sweeps and the end of legal holds (see sweep.h and
 * docs/internals/sweeper.md).
 *
 * Expired rows are found through the time column's index with a bound
 * cutoff of the column's own form ("YYYY-MM-DD HH:MM:SS" text or epoch
 * seconds), so "col < ?" is an index range:
 *
 *   delete:     DELETE FROM t WHERE +(where) AND key IN (SELECT key FROM t
 *                 WHERE where ORDER BY col LIMIT ?) [RETURNING media columns]
 *   anonymize:  SELECT key, columns, col FROM t WHERE where [AND not in
 *                 target form] AND (col, key) > (cursor) ORDER BY col, key
 *                 LIMIT ? (no transaction), then UPDATE t SET ... WHERE
 *                 where AND key = ? (a keyed hash is never re-hashed).
 *
 * where = col < ? AND <col holds a value of its format> [AND when conds].
 *
 * Crash safety: deletes and rewrites are idempotent and counts are this
 * process's own (metrics), so a crash only repeats work.  Media files are
 * recorded in the state store under job 0 before the app commit and
 * removed after it; sweep_recover() settles what a crash left between the
 * two by asking whether any row still names the file.
 *
 * Locking: s->mu guards the statistics (read by sweep_metrics from other
 * threads); everything else belongs to the sweeping thread.
 *
 * This file holds the setup, the delete and anonymize batches and the
 * passes; the statements are built in sweep_sql.c, media files and legal
 * holds are in sweep_media.c, measures and statistics in sweep_stats.c.
 */
#include "util/fmacros.h"

#include <pthread.h>

#include "db/sql.h"
#include "engine/media_use.h"
#include "engine/sweep_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- setup ------------------------------------------------------------------- */

size_t
sweep_ntables(const struct datamap *dm)
{
	size_t i, n = 0;

	for (i = 0; i < dm->ntables; i++)
		if (dm->tables[i].ttl.present)
			n++;
	return n;
}

bool
sweep_wanted(const struct datamap *dm)
{
	size_t i;

	for (i = 0; i < dm->ntables; i++)
		if (dm->tables[i].ttl.present || dm_table_retains(&dm->tables[i]))
			return true;
	return false;
}

lethe_rc
sweep_check_config(const struct datamap *dm, const struct media_set *media, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc = LETHE_OK;

	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];

		if (t->nmedia > 0 && (t->ttl.present || dm_table_retains(t)))
			rc = media_check_table(t, media, err);
	}
	return rc;
}

struct sweep *
sweep_new(const struct datamap *dm, struct appdb *db, struct store *st, const struct sweep_opts *o)
{
	struct sweep *s = xcalloc(1, sizeof(*s));
	size_t i;

	s->dm = dm;
	s->db = db;
	s->st = st;
	s->o = *o;
	batching_init(&s->pace, o->batch_rows, o->max_txn_ms, o->yield_ms);
	/* Sweeps can wait; the app's writers should not: half the time is theirs. */
	s->pace.pause_as_long = true;
	/*
	 * A sweep runs for hours beside the app: grow batches gently, so one
	 * fast batch (cached pages) does not double the next into cold ones.
	 */
	s->pace.max_growth = 1.25;
	s->ntabs = sweep_ntables(dm);
	s->tabs = xcalloc(s->ntabs ? s->ntabs : 1, sizeof(*s->tabs));
	s->hold_q = xcalloc(dm->ntables ? dm->ntables : 1, sizeof(*s->hold_q));
	s->hold_batch = s->pace.batch;
	s->ntabs = 0;
	for (i = 0; i < dm->ntables; i++) {
		struct tab *tb;

		if (!dm->tables[i].ttl.present)
			continue;
		tb = &s->tabs[s->ntabs++];
		tb->t = &dm->tables[i];
		tb->st.table = tb->t;
		tb->batch = s->pace.batch;
		tb->media_dirty = tb->t->nmedia > 0;
	}
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void
sweep_destroy(struct sweep *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ntabs; i++) {
		struct tab *tb = &s->tabs[i];

		appdb_finalize(s->db, tb->del);
		appdb_finalize(s->db, tb->delk);
		appdb_finalize(s->db, tb->sel);
		appdb_finalize(s->db, tb->selc);
		appdb_finalize(s->db, tb->upd);
		free(tb->where);
		free(tb->conds);
		free(tb->params);
		sval_clear(&tb->cursor_t);
		sval_clear(&tb->cursor_k);
		sval_clear(&tb->lo);
	}
	for (i = 0; i < s->dm->ntables; i++)
		appdb_finalize(s->db, s->hold_q[i]);
	free(s->hold_q);
	free(s->tabs);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---- delete and anonymize batches -------------------------------------------- */

/* The bound values of a batch: the table's params, then @extra more. */
struct appdb_val *
sweep_batch_params(const struct tab *tb, size_t extra)
{
	struct appdb_val *v = xcalloc(tb->nparams + extra, sizeof(*v));

	memcpy(v, tb->params, tb->nparams * sizeof(*v));
	return v;
}

/*
 * One delete batch of up to @limit rows; *@got rows deleted.  Where deletes
 * leave index entries (tb->delk prepared), the batch starts at tb->lo, the
 * largest time the last one removed (rows of that time it left are still
 * >= lo), and moves lo on once it committed.
 */
static lethe_rc
delete_batch(struct sweep *s, struct tab *tb, int64_t limit, int64_t *got, struct lethe_err *err)
{
	bool cte = tb->delk != NULL, lower = cte && tb->has_lo;
	struct appdb_stmt *q = lower ? tb->delk : tb->del;
	struct appdb_val *v = sweep_batch_params(tb, tb->nparams + 2);
	size_t nv = 2 * tb->nparams;
	size_t nm = tb->t->nmedia;
	struct batching_val hi = {0};
	struct keys k = {0};
	enum appdb_step st = APPDB_DONE;
	double t0 = 0;
	lethe_rc rc;

	*got = 0;
	/* The where's values twice (outer, subquery), [the bound,] then the limit. */
	memcpy(v + tb->nparams, tb->params, tb->nparams * sizeof(*v));
	if (lower)
		v[nv++] = tb->lo.v;
	v[nv].type = APPDB_INT;
	v[nv++].i = limit;
	rc = batching_begin(s->db, err);
	if (rc == LETHE_OK) {
		t0 = time_mono_ms();
		appdb_reset(s->db, q);
		rc = appdb_bind_all(s->db, q, v, nv);
	}
	while (rc == LETHE_OK && (st = appdb_step(s->db, q, err)) == APPDB_ROW) {
		struct appdb_val c;

		if (!cte || nm > 0) {
			(*got)++;
			sweep_keys_take(s, q, tb->t, &k);
		}
		if (!cte)
			continue;
		/* CTE: media rows with max(time) last, or one row (count, max). */
		if (nm == 0) {
			appdb_column(s->db, q, 0, &c);
			*got = c.i;
		}
		appdb_column(s->db, q, nm > 0 ? (int)nm : 1, &c);
		if (hi.v.type == APPDB_NULL && c.type != APPDB_NULL)
			sval_set(&hi, &c);
	}
	if (rc == LETHE_OK && st == APPDB_ERROR)
		rc = db_fail(s, err);
	if (rc == LETHE_OK && !cte && nm == 0)
		*got = s->db->ops->changes(s->db);
	if (q != NULL)
		appdb_reset(s->db, q);
	if (rc == LETHE_OK)
		rc = sweep_commit_with_media(s, tb, tb->t->name, &k, err);
	else if (t0 > 0)
		appdb_rollback(s->db);
	if (rc == LETHE_OK) {
		double ms = time_mono_ms() - t0;

		if (hi.v.type != APPDB_NULL) {
			if (!tb->has_lo)
				tb->lo_started = time_mono_ms();
			sval_set(&tb->lo, &hi.v);
			tb->has_lo = true;
		}
		if (k.n > 0)
			rc = sweep_media_done(s, tb, tb->t->name, &k, err);
		pthread_mutex_lock(&s->mu);
		tb->st.rows += *got;
		pthread_mutex_unlock(&s->mu);
		batching_after(&s->pace, s->db, ms, *got, *got >= limit);
	}
	sval_clear(&hi);
	sweep_keys_free(&k);
	free(v);
	return rc;
}

/*
 * One anonymize batch: read up to @limit expired rows not in target form
 * after the cursor (outside any transaction), then rewrite them in one
 * write transaction; the cursor moves only once that committed.  *@seen
 * rows read, *@got rewritten.
 */
static lethe_rc
anon_batch(struct sweep *s, struct tab *tb, int64_t limit, int64_t *seen, int64_t *got,
           struct lethe_err *err)
{
	struct appdb_stmt *q = tb->has_cursor ? tb->selc : tb->sel;
	struct appdb_val *v = sweep_batch_params(tb, 3), *u = NULL;
	struct batching_val *keys = NULL, *tgt = NULL, ct = {0}, ck = {0};
	size_t n = tb->nparams, nc = tb->ncols, cap = 0, nrow = 0, i, j;
	enum appdb_step st = APPDB_DONE;
	double t0 = 0;
	lethe_rc rc;

	*seen = *got = 0;
	if (tb->has_cursor) {
		v[n++] = tb->cursor_t.v;
		v[n++] = tb->cursor_k.v;
	}
	v[n].type = APPDB_INT;
	v[n++].i = limit;
	appdb_reset(s->db, q);
	rc = appdb_bind_all(s->db, q, v, n);
	while (rc == LETHE_OK && (st = appdb_step(s->db, q, err)) == APPDB_ROW) {
		struct appdb_val cur, kv, tv;
		bool changed = false;

		(*seen)++;
		if (nrow == cap) {
			size_t old = cap, tcap = cap;

			keys = xgrow(keys, &cap, nrow + 1, sizeof(*keys));
			tgt = xgrow(tgt, &tcap, nrow + 1, (nc ? nc : 1) * sizeof(*tgt));
			memset(keys + old, 0, (cap - old) * sizeof(*keys));
			memset(tgt + old * nc, 0, (cap - old) * nc * sizeof(*tgt));
		}
		for (i = 0; i < nc; i++) {
			struct batching_val *o = &tgt[nrow * nc + i];

			appdb_column(s->db, q, (int)i + 1, &cur);
			sval_clear(o);
			batching_anon_target(s->o.key, tb->cols[i].how, &tb->cols[i].set, &cur, o);
			if (!batching_val_equal(&cur, &o->v))
				changed = true;
		}
		appdb_column(s->db, q, 0, &kv);
		appdb_column(s->db, q, (int)nc + 1, &tv);
		sval_set(&ct, &tv);
		sval_set(&ck, &kv);
		if (!changed)
			continue;
		sval_set(&keys[nrow], &kv);
		nrow++;
	}
	if (rc == LETHE_OK && st == APPDB_ERROR)
		rc = db_fail(s, err);
	appdb_reset(s->db, q);
	*got = (int64_t)nrow;
	/* The write lock only if some row needs changing. */
	if (rc == LETHE_OK && nrow > 0 && !s->o.dry_run) {
		rc = batching_begin(s->db, err);
		t0 = rc == LETHE_OK ? time_mono_ms() : 0;
		/* SET values, then the where's values, then the key (positional). */
		u = xcalloc(nc + tb->nparams + 1, sizeof(*u));
		memcpy(u + nc, tb->params, tb->nparams * sizeof(*u));
		for (j = 0; rc == LETHE_OK && j < nrow; j++) {
			for (i = 0; i < nc; i++)
				u[i] = tgt[j * nc + i].v;
			u[nc + tb->nparams] = keys[j].v;
			appdb_reset(s->db, tb->upd);
			rc = appdb_bind_all(s->db, tb->upd, u, tb->nparams + nc + 1);
			if (rc == LETHE_OK && appdb_step(s->db, tb->upd, err) == APPDB_ERROR)
				rc = db_fail(s, err);
			appdb_reset(s->db, tb->upd);
		}
		if (rc == LETHE_OK)
			rc = appdb_commit(s->db, err);
		else if (t0 > 0)
			appdb_rollback(s->db);
		if (rc == LETHE_OK)
			batching_after(&s->pace, s->db, time_mono_ms() - t0, *seen, *seen >= limit);
	}
	if (rc == LETHE_OK) {
		/* The cursor moves only past rows whose rewrite committed. */
		if (*seen > 0) {
			if (!tb->has_cursor)
				tb->walk_started = time_mono_ms();
			sval_set(&tb->cursor_t, &ct.v);
			sval_set(&tb->cursor_k, &ck.v);
			tb->has_cursor = true;
		}
		pthread_mutex_lock(&s->mu);
		tb->st.rows += *got;
		pthread_mutex_unlock(&s->mu);
	}
	for (j = 0; j < cap; j++) {
		sval_clear(&keys[j]);
		for (i = 0; i < nc; i++)
			sval_clear(&tgt[j * nc + i]);
	}
	free(keys);
	free(tgt);
	sval_clear(&ct);
	sval_clear(&ck);
	free(u);
	free(v);
	return rc;
}

/* Set ?1 of @tb to the cutoff of time @now. */
void
sweep_set_cutoff(struct tab *tb, int64_t now)
{
	int64_t cutoff = now - tb->t->ttl.after;

	if (tb->t->ttl.format == DM_TIME_UNIX) {
		tb->params[0].type = APPDB_INT;
		tb->params[0].i = cutoff;
	} else {
		time_format(cutoff, tb->cutoff_text, sizeof(tb->cutoff_text));
		tb->params[0].type = APPDB_TEXT;
		tb->params[0].s = tb->cutoff_text;
	}
}

/* Dry run of a delete table: how many rows and media files would go. */
static lethe_rc
delete_count(struct sweep *s, struct tab *tb, struct lethe_err *err)
{
	struct sql b;
	int64_t n = 0, m = 0;
	size_t i;
	lethe_rc rc;

	sql_init(&b, s->db, SQL_CAP);
	sql_add(&b, "SELECT count(*) FROM ");
	sql_ident(&b, tb->t->name);
	sql_add(&b, " WHERE ");
	sql_fragment(&b, tb->where, tb->params, tb->nparams);
	rc = sql_rc(&b);
	if (rc == LETHE_OK)
		rc = appdb_query_int(s->db, sql_str(&b), sql_vals(&b), sql_nvals(&b), &n, err);
	for (i = 0; rc == LETHE_OK && i < tb->t->nmedia; i++) {
		int64_t c = 0;

		sql_reset(&b);
		sql_add(&b, "SELECT count(*) FROM ");
		sql_ident(&b, tb->t->name);
		sql_add(&b, " WHERE ");
		sql_fragment(&b, tb->where, tb->params, tb->nparams);
		sql_add(&b, " AND ");
		sql_ident(&b, tb->t->media[i]);
		sql_add(&b, " <> ''");
		rc = sql_rc(&b);
		if (rc == LETHE_OK)
			rc = appdb_query_int(s->db, sql_str(&b), sql_vals(&b), sql_nvals(&b), &c,
			                     err);
		m += c;
	}
	if (rc != LETHE_OK && sql_rc(&b) != LETHE_OK)
		lethe_err_set(err, rc, "the sweep's count of '%s' is too long", tb->t->name);
	sql_free(&b);
	pthread_mutex_lock(&s->mu);
	tb->st.rows += n;
	tb->st.media += m;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* This table's share of a pass. */
static lethe_rc
tab_turn(struct sweep *s, struct tab *tb, int64_t now, bool *more, struct lethe_err *err)
{
	int64_t rows = 0;
	double t0 = time_mono_ms();
	lethe_rc rc = LETHE_OK;

	if (tb->where == NULL)
		rc = sweep_tab_prepare(s, tb, err);
	if (rc != LETHE_OK)
		return rc;
	sweep_set_cutoff(tb, now);
	if (!tb->odd_checked) {
		sweep_tab_odd_rows(s, tb);
		tb->odd_checked = true;
	}
	if (s->o.dry_run && tb->t->ttl.action == DM_DELETE)
		return delete_count(s, tb, err);
	if (tb->media_dirty && !s->o.dry_run && time_mono_ms() >= tb->next_settle)
		rc = sweep_media_settle(s, tb, err);
	if (tb->has_cursor && time_mono_ms() - tb->walk_started >= RESCAN_MS)
		tb->has_cursor = false;
	/* Rows the app wrote with times behind the bound: walk from the start hourly. */
	if (tb->has_lo && time_mono_ms() - tb->lo_started >= RESCAN_MS)
		tb->has_lo = false;
	s->pace.batch = tb->batch;
	while (rc == LETHE_OK && !stopped(s)) {
		int64_t limit = s->pace.batch, got = 0, seen = 0;

		if (!s->o.dry_run && limit > s->o.max_rows_per_pass - rows)
			limit = s->o.max_rows_per_pass - rows;
		if (tb->t->ttl.action == DM_DELETE) {
			rc = delete_batch(s, tb, limit, &got, err);
			seen = got;
		} else {
			rc = anon_batch(s, tb, limit, &seen, &got, err);
		}
		rows += seen;
		if (rc != LETHE_OK || seen < limit)
			break; /* drained */
		if (!s->o.dry_run && (rows >= s->o.max_rows_per_pass ||
		                      time_mono_ms() - t0 >= s->o.max_ms_per_pass)) {
			*more = true;
			break;
		}
	}
	tb->batch = s->pace.batch;
	return rc;
}

/* ---- passes, measures, statistics -------------------------------------------- */

/*
 * After one part (@what) of a pass or measure returned @r with detail @e:
 * log a failure and keep the first one in *@rc and @err.
 */
void
sweep_note_fail(const char *what, lethe_rc r, const struct lethe_err *e, lethe_rc *rc,
                struct lethe_err *err)
{
	if (r == LETHE_OK)
		return;
	log_warnx("sweep: %s: %s", what, e->msg);
	if (*rc == LETHE_OK) {
		*rc = r;
		if (err != NULL)
			*err = *e;
	}
}

lethe_rc
sweep_pass(struct sweep *s, int64_t now, bool *more, struct lethe_err *err)
{
	struct lethe_err e = {0};
	double t0 = time_mono_ms(), ms;
	size_t k;
	lethe_rc rc = LETHE_OK;

	*more = false;
	/* A failing table is logged and skipped: the others and the holds still get their turn. */
	for (k = 0; k < s->ntabs && !stopped(s); k++) {
		struct tab *tb = &s->tabs[(s->rr + k) % s->ntabs];

		if (s->o.renew != NULL && !s->o.renew(s->o.renew_arg)) {
			*more = false;
			return rc; /* another worker sweeps now */
		}
		sweep_note_fail(tb->t->name, tab_turn(s, tb, now, more, &e), &e, &rc, err);
	}
	if (!stopped(s))
		sweep_note_fail("legal holds", sweep_holds_turn(s, now, more, &e), &e, &rc, err);
	if (s->ntabs > 0)
		s->rr = (s->rr + 1) % s->ntabs;
	ms = time_mono_ms() - t0;
	pthread_mutex_lock(&s->mu);
	s->tot.passes++;
	s->tot.last_pass_ms = ms;
	if (ms > s->tot.max_pass_ms)
		s->tot.max_pass_ms = ms;
	s->tot.max_txn_ms = s->pace.max_ms;
	s->tot.txns = s->pace.txns;
	pthread_mutex_unlock(&s->mu);
	if (stopped(s))
		*more = false;
	return rc;
}

/* Epoch seconds of a time column value (0 if not in the table's format). */
