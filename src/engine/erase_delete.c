/* SPDX-License-Identifier: MIT */
/*
 * erase_delete.c - the executor's delete steps (see erase.c and
 * docs/internals/executor.md): key windows, DELETE ... RETURNING of the
 * media columns, the pending record written before the app commit, and
 * the media files removed after it.
 */
#include "util/fmacros.h"

#include <math.h>

#include "engine/erase_internal.h"
#include "engine/media_use.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- delete ---------------------------------------------------------------- */
/* What a delete batch has seen so far. */
struct del_batch {
	const struct dm_table *t;      /* the table */
	int64_t rows;                  /* rows deleted */
	struct store_media_key *media; /* the deleted rows' objects: store (not owned), key */
	size_t nmedia, cap;            /* count and capacity */
	char **keys;                   /* held tables: the deleted rows' keys, tagged */
	size_t nkeys, kcap;            /* count and capacity */
};

static lethe_rc
on_deleted(struct exec *x, struct appdb_stmt *q, void *arg)
{
	struct del_batch *d = arg;
	struct appdb_val v;
	size_t i;

	d->rows++;
	if (dm_table_retains(d->t)) {
		appdb_column(x->db, q, 0, &v);
		d->keys = xgrow(d->keys, &d->kcap, d->nkeys + 1, sizeof(char *));
		d->keys[d->nkeys++] = erase_val_tag(&v);
	}
	for (i = 0; i < d->t->nmedia; i++) {
		appdb_column(x->db, q, (int)i + 1, &v);
		if (v.type != APPDB_TEXT || v.s[0] == '\0')
			continue;
		d->media = xgrow(d->media, &d->cap, d->nmedia + 1, sizeof(*d->media));
		d->media[d->nmedia].store = (char *)dm_media_store(d->t, i);
		d->media[d->nmedia++].key = xstrdup(v.s);
	}
	return LETHE_OK;
}

lethe_rc
erase_step_commit(struct exec *x, const char *step, struct store_step *ss, lethe_rc rc)
{
	if (rc == LETHE_OK)
		rc = store_step_put(x->st, x->job, step, ss, x->err);
	if (rc == LETHE_OK)
		return store_commit(x->st, x->err);
	store_rollback(x->st);
	return rc;
}

/* Fold a committed pending batch into @ss's totals (in memory). */
void
erase_fold_pending(struct store_step *ss)
{
	ss->done += ss->pending_rows;
	ss->pending_rows = 0;
	ss->media_missing += ss->pending_missing;
	ss->pending_missing = 0;
	free(ss->pending_key);
	ss->pending_key = NULL;
	if (ss->pending_cursor != NULL) {
		free(ss->cursor);
		ss->cursor = ss->pending_cursor;
		ss->pending_cursor = NULL;
	}
}

/*
 * Keep of @k (sorted by store) only whole chunks of each store's batch, in
 * front, and free the rest (they stay recorded for a later flush): a
 * deferred flush then makes full calls only.  The number kept; *@left the
 * number left.  An unconfigured store's keys are kept (their removal fails
 * and says so).
 */
static size_t
whole_chunks(const struct media_set *set, struct store_media_key *k, size_t n, int64_t *left)
{
	size_t a = 0, kept = 0, i;

	*left = 0;
	while (a < n) {
		const struct media_store *m = media_set_get(set, k[a].store);
		size_t b = a, keep;

		while (b < n && strcmp(k[b].store, k[a].store) == 0)
			b++;
		keep = m == NULL ? b - a : (b - a) / media_store_batch(m) * media_store_batch(m);
		for (i = a; i < b; i++) {
			if (i < a + keep) {
				k[kept++] = k[i];
			} else {
				free(k[i].store);
				free(k[i].key);
				(*left)++;
			}
		}
		a = b;
	}
	return kept;
}

/*
 * Remove the media objects recorded for (job, @t), outside any app
 * transaction, after the rows' deletion committed: grouped by store, in
 * chunks of the store's batch (media_use_remove).  Then, in ONE state
 * transaction: mark the done ones (forgotten, or kept as removed for the
 * request's residual scan: erase_opts.keep_removed_media), count them in
 * @ss (REMOVED as media, GONE as media_missing, or as media when
 * x->reflush: an earlier run's call may have removed it), and (if @fold) fold the
 * committed pending batch into @ss.  A crash before that transaction
 * repeats the removals (a recorded local file already gone counts as
 * removed: it was there when its batch was recorded, see erase_run_delete)
 * and counts them once; an object that cannot be removed stays recorded,
 * is reported in *@failed, and makes the run fail so that running it again
 * retries.
 */
lethe_rc
erase_media_flush(struct exec *x, const struct dm_table *t, struct store_step *ss, bool fold,
                  int64_t *failed)
{
	struct store_media_key *k = NULL;
	enum media_outcome *out = NULL;
	struct lethe_err merr = {0};
	size_t n = 0, i;
	int64_t bad = 0, removed = 0, gone = 0, left = 0;
	lethe_rc rc;

	rc = store_media_list(x->st, x->job, t->name, &k, &n, x->err);
	if (rc == LETHE_OK && x->flush_whole)
		n = whole_chunks(x->o->media, k, n, &left);
	out = xcalloc(n ? n : 1, sizeof(*out));
	/* What became of each key is in out[]; merr says why the first failure failed. */
	if (rc == LETHE_OK && n > 0)
		(void)media_use_remove(x->o->media, k, n, out, &merr);
	if (rc == LETHE_OK)
		rc = store_begin(x->st, x->err);
	if (rc == LETHE_OK) {
		for (i = 0; rc == LETHE_OK && i < n; i++) {
			if (out[i] == MEDIA_FAILED) {
				bad++;
				continue;
			}
			if (out[i] == MEDIA_GONE && !x->reflush)
				gone++;
			else
				removed++;
			rc = store_media_done(x->st, x->job, t->name, k[i].store, k[i].key,
			                      x->o->keep_removed_media, x->err);
		}
		ss->media += removed;
		ss->media_missing += gone;
		if (fold)
			erase_fold_pending(ss);
		rc = erase_step_commit(x, t->name, ss, rc);
	}
	store_media_keys_free(k, n);
	free(out);
	*failed += bad;
	x->media_unflushed = x->media_leftover = left;
	if (rc == LETHE_OK && bad > 0)
		snprintf(
		    x->res->media_failure, sizeof(x->res->media_failure),
		    "%lld media objects of table %s could not be removed (%s); they stay recorded",
		    (long long)bad, t->name,
		    merr.msg[0] != '\0' ? merr.msg : "the store did not say why");
	if (rc == LETHE_OK && bad > 0)
		/*
		 * LETHE_E_IO whatever the store said (mrc): the rows are gone, so not a
		 * configuration error (exit 3), and LETHE_E_UNAVAILABLE means "stopped" to
		 * the runner; a failed run is retried as it always was.
		 */
		rc = lethe_err_set(x->err, LETHE_E_IO,
		                   "%lld media files of %s could not be removed (%s); they stay "
		                   "recorded: run the same command again to retry",
		                   (long long)bad, t->name, merr.msg);
	return rc;
}

/*
 * Whether a delete step of @t may leave the objects of committed batches
 * recorded until a thousand are pending, or the step ends: only when every
 * media column is in a remote store, where one call per batch of keys is
 * what costs.  Local files go after every batch, as they always have.
 */
static bool
flush_deferred(struct exec *x, const struct dm_table *t)
{
	size_t i;

	for (i = 0; i < t->nmedia; i++) {
		const struct media_store *m = media_set_get(x->o->media, dm_media_store(t, i));

		if (m == NULL || media_store_probe_cheap(m))
			return false;
	}
	return t->nmedia > 0;
}

/* Objects of one committed batch: after this many are pending, flush them. */
#define FLUSH_AT 1000

/*
 * Append " WHERE <pred> AND key >= ? AND key <= ?": the person's rows in a
 * key window.  With @by_key the predicate is a term the planner cannot use
 * an index for (appdb_dialect.no_index), so the key range drives the
 * statement and the predicate filters the rows it reads.
 */
static void
window_where(const struct plan_step *ps, bool by_key, struct sql *b)
{
	sql_add(b, " WHERE ");
	if (by_key)
		sql_no_index(b, ps->where);
	else
		sql_add(b, ps->where);
	sql_add(b, " AND ");
	sql_ident(b, ps->table->key);
	sql_add(b, " >= ");
	sql_slot(b, (int)ps->nparams + 1);
	sql_add(b, " AND ");
	sql_ident(b, ps->table->key);
	sql_add(b, " <= ");
	sql_slot(b, (int)ps->nparams + 2);
}

/*
 * How many of the person's rows lie in the key window [lo, hi]:
 * "SELECT count(*) FROM t WHERE <pred> AND key >= lo AND key <= hi".
 * With an index on the link column this reads the index only.  A delete
 * batch's window is empty afterwards iff the batch committed.
 */
lethe_rc
erase_window_count(struct exec *x, const struct plan_step *ps, const char *lo, const char *hi,
                   int64_t *n)
{
	struct appdb_val *params = xcalloc(ps->nparams + 2, sizeof(*params));
	struct sql b;
	lethe_rc rc;

	if (ps->nparams > 0) /* ps->params is NULL when no value was bound */
		memcpy(params, ps->params, ps->nparams * sizeof(*params));
	batching_tag_val(lo, &params[ps->nparams]);
	batching_tag_val(hi, &params[ps->nparams + 1]);
	sql_init(&b, x->db, SQL_CAP);
	sql_add(&b, "SELECT count(*) FROM ");
	sql_ident(&b, ps->table->name);
	window_where(ps, false, &b);
	rc = appdb_query_int(x->db, sql_str(&b), params, ps->nparams + 2, n, x->err);
	sql_free(&b);
	free(params);
	return rc;
}

/*
 * Where delete windows come from.  Integer keys (the common case) are walked
 * as key ranges [lo, lo + width) over the span of the person's keys, the
 * width adapting so a window holds about one batch of their rows: nothing
 * is collected or sorted up front.  Other keys are collected once, sorted,
 * and cut into windows of a batch each.
 */
struct windows {
	struct keylist k; /* collected keys (non-integer keys) */
	bool started;     /* the span is known */
	bool ranged;      /* integer keys: windows are ranges */
	bool done;        /* no window left */
	int64_t lo;       /* ranged: start of the next window */
	int64_t max;      /* ranged: the person's largest key when started */
	double width;     /* ranged: window width in key units */
	bool by_key;      /* ranged: the key range drives each batch (see windows_start) */
};

/*
 * Should a batch over a key window of the person's @n rows, spread over
 * @span keys, be driven by the key range rather than by the index of the
 * predicate's column?  Where secondary indexes end in the key (SQLite), the
 * column's index reads just the window: no.  Elsewhere (PostgreSQL) that
 * index reads all @n rows of the person each batch and filters them on the
 * key, quadratic over the step, while the key range reads the window's
 * @limit * @span / @n rows, the person's and others': pick the smaller.
 */
bool
erase_window_by_key(const struct appdb_dialect *d, int64_t span, int64_t n, int64_t limit)
{
	if (d->index_ends_in_key || n <= 0)
		return false;
	return (double)limit * (double)span <= (double)n * (double)n;
}

/* Ranged windows over @n rows in [@lo, @hi] (@n > 0), @limit rows a window. */
static void
windows_range(struct exec *x, struct windows *w, int64_t lo, int64_t hi, int64_t n, int64_t limit)
{
	w->ranged = true;
	w->lo = lo;
	w->max = hi;
	w->width = (double)(hi - lo + 1) * (double)limit / (double)n;
	if (w->width < 1.0)
		w->width = 1.0;
	w->by_key = erase_window_by_key(appdb_dialect(x->db), hi - lo + 1, n, limit);
}

/* Windows from the span plan_count found for @ps (ps->spanned). */
static void
spanned_start(struct exec *x, const struct plan_step *ps, struct windows *w, int64_t limit)
{
	if (ps->rows <= 0)
		w->done = true;
	else
		windows_range(x, w, ps->key_lo, ps->key_hi, ps->rows, limit);
}

/*
 * Start @w: the span of the person's keys, from the plan's count where it
 * has it, else "SELECT min(key), max(key), count(*) ... WHERE <pred>"; keys
 * that are not integers are collected.  Rows the app adds for the person
 * after the span was taken are left to verify() (erase.c), which recounts
 * and runs the step again.
 */
static lethe_rc
windows_start(struct exec *x, const struct plan_step *ps, struct windows *w, int64_t limit)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *q = NULL;
	struct appdb_val lo, hi, n;
	struct sql b;
	enum appdb_step s;
	lethe_rc rc;

	w->started = true;
	if (ps->spanned) {
		/* Counted with its key span by plan_count (fresh: verify recounts). */
		spanned_start(x, ps, w, limit);
		return LETHE_OK;
	}
	sql_init(&b, x->db, SQL_CAP);
	sql_add(&b, "SELECT min(");
	sql_ident(&b, t->key);
	sql_add(&b, "), max(");
	sql_ident(&b, t->key);
	sql_add(&b, "), count(*) FROM ");
	sql_ident(&b, t->name);
	sql_add(&b, " WHERE ");
	sql_add(&b, ps->where);
	rc = appdb_prepare(x->db, sql_str(&b), &q, x->err);
	sql_free(&b);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(x->db, q, ps->params, ps->nparams);
	s = rc == LETHE_OK ? appdb_step(x->db, q, x->err) : APPDB_ERROR;
	if (s != APPDB_ROW) {
		appdb_finalize(x->db, q);
		return rc != LETHE_OK ? rc : (x->err ? x->err->rc : LETHE_E_DB);
	}
	appdb_column(x->db, q, 0, &lo);
	appdb_column(x->db, q, 1, &hi);
	appdb_column(x->db, q, 2, &n);
	if (n.type == APPDB_INT && n.i == 0) {
		w->done = true;
	} else if (lo.type == APPDB_INT && hi.type == APPDB_INT) {
		windows_range(x, w, lo.i, hi.i, n.i, limit);
	}
	appdb_finalize(x->db, q);
	if (!w->done && !w->ranged) {
		rc = erase_collect_keys(x, ps, NULL, &w->k);
		w->done = rc == LETHE_OK && w->k.n == 0;
	}
	return rc;
}

/* The next window as tagged keys in *@lo / *@hi (caller frees); *@none if no more. */
static lethe_rc
windows_next(struct exec *x, const struct plan_step *ps, struct windows *w, int64_t limit,
             char **lo, char **hi, bool *none)
{
	lethe_rc rc = LETHE_OK;

	*lo = *hi = NULL;
	*none = false;
	for (;;) {
		if (!w->started)
			rc = windows_start(x, ps, w, limit);
		if (rc != LETHE_OK)
			return rc;
		if (w->done) {
			*none = true;
			return LETHE_OK;
		}
		if (w->ranged) {
			int64_t end;
			double span = w->width;

			if (span > (double)(w->max - w->lo))
				end = w->max;
			else
				end = w->lo + (int64_t)span - 1;
			if (end < w->lo)
				end = w->lo;
			*lo = xasprintf("i:%lld", (long long)w->lo);
			*hi = xasprintf("i:%lld", (long long)end);
			if (end >= w->max)
				w->done = true;
			else
				w->lo = end + 1;
			return LETHE_OK;
		}
		if (w->k.pos < w->k.n) {
			size_t end =
			    w->k.pos + (size_t)limit < w->k.n ? w->k.pos + (size_t)limit : w->k.n;

			*lo = erase_val_tag(&w->k.v[w->k.pos].v);
			*hi = erase_val_tag(&w->k.v[end - 1].v);
			w->k.pos = end;
			return LETHE_OK;
		}
		if (w->k.complete) {
			w->done = true;
			continue;
		}
		rc = erase_collect_keys(x, ps, NULL, &w->k);
		if (rc == LETHE_OK && w->k.n == 0)
			w->done = true;
	}
}

/* A ranged window of the current width held @found rows: aim the next at @limit. */
static void
windows_feedback(struct windows *w, int64_t found, int64_t limit)
{
	double f;

	if (!w->ranged)
		return;
	f = found > 0 ? (double)limit / (double)found : 4.0;
	if (f > 4.0)
		f = 4.0;
	if (f < 0.25)
		f = 0.25;
	w->width *= f;
	if (w->width < 1.0)
		w->width = 1.0;
}

/*
 * The batch statement of a delete step: the person's rows inside a window
 * of the key order, by the key range if @by_key (erase_window_by_key).
 * Otherwise SQLite plans it like the set-based DELETE (the link index,
 * with a key range), so a batch costs what its share of one big DELETE
 * would.
 */
void
erase_delete_sql(const struct plan_step *ps, bool by_key, struct sql *b)
{
	const struct dm_table *t = ps->table;
	size_t i;

	sql_add(b, "DELETE FROM ");
	sql_ident(b, t->name);
	window_where(ps, by_key, b);
	if (t->nmedia > 0 || dm_table_retains(t)) {
		/*
		 * RETURNING costs; only media tables need to learn what went, and
		 * tables some scope retains: a row deleted here (in a scope that
		 * deletes it) ends the hold another scope's erasure put on it.
		 */
		sql_add(b, " RETURNING ");
		sql_ident(b, t->key);
		for (i = 0; i < t->nmedia; i++) {
			sql_add(b, ", ");
			sql_ident(b, t->media[i]);
		}
	}
}

/* Prepare a delete step's batch statement (erase_delete_sql) into *@q. */
static lethe_rc
delete_prepare(struct exec *x, const struct plan_step *ps, bool by_key, struct appdb_stmt **q)
{
	const struct dm_table *t = ps->table;
	struct sql sql;
	lethe_rc rc;

	sql_init(&sql, x->db, SQL_CAP);
	erase_delete_sql(ps, by_key, &sql);
	rc = sql_rc(&sql);
	if (rc != LETHE_OK)
		lethe_err_set(x->err, rc, "the delete statement of '%s' is too long", t->name);
	else
		rc = appdb_prepare(x->db, sql_str(&sql), q, x->err);
	sql_free(&sql);
	return rc;
}

lethe_rc
erase_run_delete(struct exec *x, const struct plan_step *ps, struct store_step *ss,
                 struct erase_step_result *sr)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *q = NULL;
	struct appdb_val *params = xcalloc(ps->nparams + 2, sizeof(*params));
	struct windows w = {0};
	bool defer = flush_deferred(x, t), *missing = NULL;
	size_t i;
	lethe_rc rc = LETHE_OK;

	if (ps->nparams > 0) /* ps->params is NULL when no value was bound */
		memcpy(params, ps->params, ps->nparams * sizeof(*params));
	x->media_unflushed = x->media_leftover = 0;
	while (rc == LETHE_OK && !ss->finished) {
		struct del_batch d = {.t = t};
		enum appdb_step s = APPDB_DONE;
		int64_t limit = x->pace.batch, found;
		char *lo = NULL, *hi = NULL;
		bool none = false;
		double t0, ms;

		rc = windows_next(x, ps, &w, limit, &lo, &hi, &none);
		if (rc != LETHE_OK)
			break;
		if (none) {
			/* Objects of deferred batches go before the step is finished. */
			if (x->media_unflushed > 0)
				rc = erase_media_flush(x, t, ss, false, &sr->media_failed);
			if (rc != LETHE_OK)
				break;
			ss->finished = true;
			rc = store_step_put(x->st, x->job, t->name, ss, x->err);
			break;
		}
		if (q == NULL)
			rc = delete_prepare(x, ps, w.by_key, &q);
		if (rc == LETHE_OK)
			rc = erase_begin_batch(x);
		if (rc != LETHE_OK) {
			free(lo);
			free(hi);
			break;
		}
		t0 = time_mono_ms();
		batching_tag_val(lo, &params[ps->nparams]);
		batching_tag_val(hi, &params[ps->nparams + 1]);
		appdb_reset(x->db, q);
		rc = appdb_bind_all(x->db, q, params, ps->nparams + 2);
		while (rc == LETHE_OK && (s = appdb_step(x->db, q, x->err)) == APPDB_ROW)
			rc = on_deleted(x, q, &d);
		if (rc == LETHE_OK && s == APPDB_ERROR)
			rc = x->err ? x->err->rc : LETHE_E_DB;
		if (rc == LETHE_OK && t->nmedia == 0)
			d.rows = x->db->ops->changes(x->db);
		appdb_reset(x->db, q);
		found = d.rows;
		/* Before the app commit: the batch as pending, with its media files. */
		if (rc == LETHE_OK && d.rows > 0) {
			ss->pending_rows = d.rows;
			free(ss->pending_key);
			ss->pending_key = lo;
			free(ss->pending_cursor);
			ss->pending_cursor = hi;
			lo = hi = NULL;
			/* A file already gone is counted missing, not recorded for removal. */
			ss->pending_missing = 0;
			missing = xcalloc(d.nmedia ? d.nmedia : 1, sizeof(*missing));
			media_use_missing(x->o->media, d.media, d.nmedia, missing);
			rc = store_begin(x->st, x->err);
			for (i = 0; rc == LETHE_OK && i < d.nmedia; i++) {
				if (missing[i]) {
					ss->pending_missing++;
					continue;
				}
				rc = store_media_add(x->st, x->job, t->name, d.media[i].store,
				                     d.media[i].key, x->err);
				x->media_unflushed++;
			}
			free(missing);
			missing = NULL;
			/* Holds end with their rows (a rolled-back batch is redone). */
			for (i = 0; rc == LETHE_OK && i < d.nkeys; i++)
				rc =
				    store_hold_remove(x->st, t->name, d.keys[i], INT64_MAX, x->err);
			rc = erase_step_commit(x, t->name, ss, rc);
		}
		free(lo);
		free(hi);
		for (i = 0; i < d.nmedia; i++)
			free(d.media[i].key);
		free(d.media);
		for (i = 0; i < d.nkeys; i++)
			free(d.keys[i]);
		free(d.keys);
		if (rc == LETHE_OK)
			rc = appdb_commit(x->db, x->err);
		if (rc != LETHE_OK) {
			appdb_rollback(x->db);
			break;
		}
		ms = time_mono_ms() - t0;
		if (d.rows > 0 && t->nmedia > 0 &&
		    (!defer || x->media_unflushed >= x->media_leftover + FLUSH_AT)) {
			/* The window is not a cursor: deleted rows are simply gone. */
			free(ss->pending_cursor);
			ss->pending_cursor = NULL;
			/* Deferred: full calls now, the rest with the next ones or at the end. */
			x->flush_whole = defer;
			rc = erase_media_flush(x, t, ss, true, &sr->media_failed);
			x->flush_whole = false;
			if (rc != LETHE_OK)
				break;
		} else if (d.rows > 0) {
			free(ss->pending_cursor);
			ss->pending_cursor = NULL;
			erase_fold_pending(ss);
			rc = store_step_put(x->st, x->job, t->name, ss, x->err);
			if (rc != LETHE_OK)
				break;
		}
		windows_feedback(&w, found, limit);
		erase_after_batch(x, ms, found, found >= limit / 2);
	}
	appdb_finalize(x->db, q);
	erase_keylist_free(&w.k);
	free(params);
	return rc;
}
