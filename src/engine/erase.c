/* SPDX-License-Identifier: MIT */
/*
 * erase.c - the executor (see erase.h and docs/internals/executor.md).
 *
 * Each step works in batches; each batch is one short write transaction on
 * the app database.  Crash safety rests on two rules:
 *
 *  1. Every batch is idempotent.  A delete batch deletes the rows of a key
 *     window that still match; an anonymize/retain batch walks the key
 *     order from a cursor and only rewrites values not yet in their target
 *     form (a keyed hash is recognisable by its "anon:" prefix, so it is
 *     never re-hashed).
 *
 *  2. Counts are exact.  When a batch changed rows, its counts are written
 *     to the state store as "pending" (with what tells whether the batch
 *     committed) *before* the app commit, and folded in after it.  On resume
 *     a pending batch is probed: a delete window that holds none of the
 *     person's rows, or an anonymized row already in target form, means the
 *     batch committed.
 *
 * One process runs a job at a time (a lease in the state store).
 *
 * Children run before parents (the plan's order), so the rows a resumed step
 * still has to find are always reachable through their parents.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "engine/batching.h"
#include "db/sql.h"
#include "engine/erase.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

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
};

/* What erasure writes into one column. */
struct col_action {
	const char *name;           /* column */
	enum dm_anon how;           /* null, set, hash */
	const struct dm_value *set; /* DM_ANON_SET value */
};

/* ---- values and cursors ------------------------------------------------ */

/* A key as tagged text: "i:42", "t:abc", "r:1.5"; caller frees. */
static char *
val_tag(const struct appdb_val *v)
{
	switch (v->type) {
	case APPDB_INT:
		return xasprintf("i:%lld", (long long)v->i);
	case APPDB_REAL:
		return xasprintf("r:%.17g", v->r);
	case APPDB_TEXT:
		return xasprintf("t:%s", v->s);
	case APPDB_NULL:
	default:
		return xstrdup("n:");
	}
}

/* Target value of column action @c for current value @cur into @out. */
static void
target_of(const struct exec *x, const struct col_action *c, const struct appdb_val *cur,
          struct batching_val *out)
{
	batching_anon_target(x->o->key, c->how, c->set, cur, out);
}

/* ---- batches --------------------------------------------------------------- */

static lethe_rc
begin_batch(struct exec *x)
{
	lethe_rc rc;

	if (x->o->stop != NULL && *x->o->stop)
		return lethe_err_set(x->err, LETHE_E_UNAVAILABLE,
		                     "stopped between batches; the job resumes when run again");
	if (time_now() - x->renewed >= LEASE_S / 3) {
		rc = store_job_claim(x->st, x->job, x->owner, time_now(), LEASE_S, x->err);
		if (rc != LETHE_OK)
			return rc;
		x->renewed = time_now();
	}
	return batching_begin(x->db, x->err);
}

/*
 * Bookkeeping after a committed batch of @rows that held the write lock for
 * @ms; @full says the batch stopped because it reached its size (so the
 * size, not the data, limited it and adapting it is meaningful).
 */
static void
after_batch(struct exec *x, double ms, int64_t rows, bool full)
{
	x->res->batches++;
	if (ms > x->res->max_txn_ms)
		x->res->max_txn_ms = ms;
	x->done_total += rows;
	if (x->o->on_progress != NULL) {
		struct erase_progress p = {
		    .table = x->plan->steps[x->step].table->name,
		    .step = x->step + 1,
		    .nsteps = x->plan->nsteps,
		    .done = x->done_total,
		    .planned = x->planned_total,
		};

		x->o->on_progress(x->o->arg, &p);
	}
	batching_after(&x->pace, x->db, ms, rows, full);
}

/* Remove the media file named @key: 1 removed or already gone, 0 failed. */
static int
media_remove(struct exec *x, const char *key)
{
	return batching_media_remove(x->o->media_root, key);
}

/* ---- the person's keys ----------------------------------------------------- */

/* Keys of a step's rows, in key order: what batches walk through. */
struct keylist {
	struct batching_val *v; /* keys */
	size_t n;               /* number of keys */
	size_t pos;             /* next key to process */
	size_t cap;             /* allocated */
	bool complete;          /* the collection saw every matching row */
};

static void
keylist_free(struct keylist *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->v[i].buf);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

/*
 * Collect, in key order, the keys of rows matching the step's predicate
 * (after @cursor if given), at most KEYS_MAX of them.  Batches then walk
 * the table in key order, so each page is rewritten once, not once per
 * parent row the index walk would visit it for.  Rows are re-checked
 * against the predicate when a batch acts on them.
 */
static lethe_rc
collect_keys(struct exec *x, const struct plan_step *ps, const char *cursor, struct keylist *k)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *q = NULL;
	struct appdb_val cur;
	struct sql b;
	enum appdb_step s = APPDB_DONE;
	lethe_rc rc;

	keylist_free(k);
	sql_init(&b, x->db, SQL_CAP);
	sql_add(&b, "SELECT ");
	sql_ident(&b, t->key);
	sql_add(&b, " FROM ");
	sql_ident(&b, t->name);
	sql_add(&b, " WHERE ");
	sql_fragment(&b, ps->where, ps->params, ps->nparams);
	if (cursor != NULL) {
		sql_add(&b, " AND ");
		sql_ident(&b, t->key);
		sql_add(&b, " > ");
		batching_tag_val(cursor, &cur);
		sql_value(&b, cur);
	}
	sql_add(&b, " ORDER BY ");
	sql_ident(&b, t->key);
	sql_add(&b, " LIMIT ");
	sql_value(&b, (struct appdb_val){.type = APPDB_INT, .i = KEYS_MAX});
	rc = sql_rc(&b);
	if (rc != LETHE_OK)
		lethe_err_set(x->err, rc, "the key query of '%s' is too long", t->name);
	if (rc == LETHE_OK)
		rc = appdb_prepare(x->db, sql_str(&b), &q, x->err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(x->db, q, b.params, b.nvals);
	while (rc == LETHE_OK && (s = appdb_step(x->db, q, x->err)) == APPDB_ROW) {
		struct appdb_val v;

		k->v = xgrow(k->v, &k->cap, k->n + 1, sizeof(*k->v));
		appdb_column(x->db, q, 0, &v);
		batching_val_set(&k->v[k->n++], &v);
	}
	if (rc == LETHE_OK && s == APPDB_ERROR)
		rc = x->err ? x->err->rc : LETHE_E_DB;
	k->complete = k->n < KEYS_MAX;
	appdb_finalize(x->db, q);
	sql_free(&b);
	return rc;
}

/*
 * "<head> WHERE key IN (?, ... n) AND <pred><tail>" with predicate
 * parameters first, then the n keys.
 */
static void
by_keys_sql(const struct plan_step *ps, const char *head, size_t n, const char *tail, struct sql *b)
{
	size_t i;

	sql_add(b, head);
	sql_add(b, " WHERE ");
	sql_fragment(b, ps->where, ps->params, ps->nparams);
	sql_add(b, " AND ");
	sql_ident(b, ps->table->key);
	sql_add(b, " IN (");
	for (i = 0; i < n; i++) {
		if (i > 0)
			sql_add(b, ", ");
		sql_slot(b, (int)(ps->nparams + i + 1));
	}
	sql_add(b, ")");
	sql_add(b, tail);
}

/* A statement over up to KEY_CHUNK keys, prepared once per size used. */
struct chunk_stmts {
	struct appdb_stmt *full; /* for KEY_CHUNK keys */
	struct appdb_stmt *tail; /* for tail_n keys */
	size_t tail_n;           /* size tail was prepared for */
};

static void
chunk_stmts_free(struct exec *x, struct chunk_stmts *c)
{
	appdb_finalize(x->db, c->full);
	appdb_finalize(x->db, c->tail);
	memset(c, 0, sizeof(*c));
}

/* Run the by-keys statement on keys [from, from + n) of @k; rows go to @on_row. */
static lethe_rc
run_chunk(struct exec *x, const struct plan_step *ps, struct chunk_stmts *c, const char *head,
          const char *tail, const struct keylist *k, size_t from, size_t n,
          lethe_rc (*on_row)(struct exec *, struct appdb_stmt *, void *), void *arg)
{
	struct appdb_stmt **q = n == KEY_CHUNK ? &c->full : &c->tail;
	struct appdb_val *params;
	enum appdb_step s = APPDB_DONE;
	size_t i;
	lethe_rc rc = LETHE_OK;

	if (n != KEY_CHUNK && c->tail != NULL && c->tail_n != n) {
		appdb_finalize(x->db, c->tail);
		c->tail = NULL;
	}
	if (*q == NULL) {
		struct sql b;

		sql_init(&b, x->db, SQL_CAP);
		by_keys_sql(ps, head, n, tail, &b);
		rc = sql_rc(&b);
		if (rc != LETHE_OK)
			lethe_err_set(x->err, rc, "a batch statement of '%s' is too long",
			              ps->table->name);
		else
			rc = appdb_prepare(x->db, sql_str(&b), q, x->err);
		sql_free(&b);
		if (rc != LETHE_OK)
			return rc;
		if (n != KEY_CHUNK)
			c->tail_n = n;
	}
	params = xcalloc(ps->nparams + n, sizeof(*params));
	memcpy(params, ps->params, ps->nparams * sizeof(*params));
	for (i = 0; i < n; i++)
		params[ps->nparams + i] = k->v[from + i].v;
	appdb_reset(x->db, *q);
	rc = appdb_bind_all(x->db, *q, params, ps->nparams + n);
	while (rc == LETHE_OK && (s = appdb_step(x->db, *q, x->err)) == APPDB_ROW)
		rc = on_row(x, *q, arg);
	if (rc == LETHE_OK && s == APPDB_ERROR)
		rc = x->err ? x->err->rc : LETHE_E_DB;
	appdb_reset(x->db, *q);
	free(params);
	return rc;
}

/* ---- delete ---------------------------------------------------------------- */

/* What a delete batch has seen so far. */
struct del_batch {
	const struct dm_table *t; /* the table */
	int64_t rows;             /* rows deleted */
	char **media;             /* object keys of the deleted rows' files */
	size_t nmedia, cap;       /* count and capacity */
};

static lethe_rc
on_deleted(struct exec *x, struct appdb_stmt *q, void *arg)
{
	struct del_batch *d = arg;
	struct appdb_val v;
	size_t i;

	d->rows++;
	for (i = 0; i < d->t->nmedia; i++) {
		appdb_column(x->db, q, (int)i + 1, &v);
		if (v.type != APPDB_TEXT || v.s[0] == '\0')
			continue;
		d->media = xgrow(d->media, &d->cap, d->nmedia + 1, sizeof(char *));
		d->media[d->nmedia++] = xstrdup(v.s);
	}
	return LETHE_OK;
}

/* Fold a committed pending batch into @ss's totals (in memory). */
static void
fold_pending(struct store_step *ss)
{
	ss->done += ss->pending_rows;
	ss->pending_rows = 0;
	free(ss->pending_key);
	ss->pending_key = NULL;
	if (ss->pending_cursor != NULL) {
		free(ss->cursor);
		ss->cursor = ss->pending_cursor;
		ss->pending_cursor = NULL;
	}
}

/*
 * Remove the media files recorded for (job, @t), outside any app transaction,
 * after the rows' deletion committed.  Then, in ONE state transaction: forget
 * the removed files, count them in @ss, and (if @fold) fold the committed
 * pending batch into @ss.  A crash before that transaction repeats the
 * removals (a file already gone counts as removed) and counts them once; a
 * file that cannot be removed stays recorded, is reported in *@failed, and
 * makes the run fail so that running it again retries.
 */
static lethe_rc
media_flush(struct exec *x, const struct dm_table *t, struct store_step *ss, bool fold,
            int64_t *failed)
{
	char **keys = NULL;
	size_t n = 0, i;
	int64_t bad = 0, removed = 0;
	lethe_rc rc;

	rc = store_media_list(x->st, x->job, t->name, &keys, &n, x->err);
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		if (media_remove(x, keys[i])) {
			removed++;
			free(keys[i]);
			keys[i] = NULL;
		} else {
			bad++;
		}
	}
	if (rc == LETHE_OK)
		rc = store_begin(x->st, x->err);
	if (rc == LETHE_OK) {
		rc = store_media_clear(x->st, x->job, t->name, x->err);
		for (i = 0; rc == LETHE_OK && i < n; i++)
			if (keys[i] != NULL)
				rc = store_media_add(x->st, x->job, t->name, keys[i], x->err);
		ss->media += removed;
		if (fold)
			fold_pending(ss);
		if (rc == LETHE_OK)
			rc = store_step_put(x->st, x->job, t->name, ss, x->err);
		if (rc == LETHE_OK)
			rc = store_commit(x->st, x->err);
		else
			store_rollback(x->st);
	}
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	*failed += bad;
	if (rc == LETHE_OK && bad > 0)
		rc = lethe_err_set(x->err, LETHE_E_IO,
		                   "%lld media files of %s could not be removed (a permission or "
		                   "a directory in the way?); they stay recorded: run the same "
		                   "command again to retry",
		                   (long long)bad, t->name);
	return rc;
}

/* Append " WHERE <pred> AND key >= ? AND key <= ?": the person's rows in a key window. */
static void
window_where(struct exec *x, const struct plan_step *ps, struct buf *b)
{
	buf_adds(b, " WHERE ");
	buf_adds(b, ps->where);
	buf_adds(b, " AND ");
	appdb_quote(x->db, b, ps->table->key);
	buf_adds(b, " >= ");
	appdb_param(x->db, b, (int)ps->nparams + 1);
	buf_adds(b, " AND ");
	appdb_quote(x->db, b, ps->table->key);
	buf_adds(b, " <= ");
	appdb_param(x->db, b, (int)ps->nparams + 2);
}

/*
 * How many of the person's rows lie in the key window [lo, hi]:
 * "SELECT count(*) FROM t WHERE <pred> AND key >= lo AND key <= hi".
 * With an index on the link column this reads the index only.  A delete
 * batch's window is empty afterwards iff the batch committed.
 */
static lethe_rc
window_count(struct exec *x, const struct plan_step *ps, const char *lo, const char *hi, int64_t *n)
{
	struct appdb_val *params = xcalloc(ps->nparams + 2, sizeof(*params));
	struct buf b;
	lethe_rc rc;

	memcpy(params, ps->params, ps->nparams * sizeof(*params));
	batching_tag_val(lo, &params[ps->nparams]);
	batching_tag_val(hi, &params[ps->nparams + 1]);
	buf_init(&b, SQL_CAP);
	buf_adds(&b, "SELECT count(*) FROM ");
	appdb_quote(x->db, &b, ps->table->name);
	window_where(x, ps, &b);
	rc = appdb_query_int(x->db, buf_str(&b), params, ps->nparams + 2, n, x->err);
	buf_free(&b);
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
};

static lethe_rc
windows_start(struct exec *x, const struct plan_step *ps, struct windows *w, int64_t limit)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *q = NULL;
	struct appdb_val lo, hi, n;
	struct buf b;
	enum appdb_step s;
	lethe_rc rc;

	w->started = true;
	buf_init(&b, SQL_CAP);
	buf_adds(&b, "SELECT min(");
	appdb_quote(x->db, &b, t->key);
	buf_adds(&b, "), max(");
	appdb_quote(x->db, &b, t->key);
	buf_adds(&b, "), count(*) FROM ");
	appdb_quote(x->db, &b, t->name);
	buf_adds(&b, " WHERE ");
	buf_adds(&b, ps->where);
	rc = appdb_prepare(x->db, buf_str(&b), &q, x->err);
	buf_free(&b);
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
		w->ranged = true;
		w->lo = lo.i;
		w->max = hi.i;
		w->width = (double)(hi.i - lo.i + 1) * (double)limit / (double)n.i;
		if (w->width < 1.0)
			w->width = 1.0;
	}
	appdb_finalize(x->db, q);
	if (!w->done && !w->ranged) {
		rc = collect_keys(x, ps, NULL, &w->k);
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

			*lo = val_tag(&w->k.v[w->k.pos].v);
			*hi = val_tag(&w->k.v[end - 1].v);
			w->k.pos = end;
			return LETHE_OK;
		}
		if (w->k.complete) {
			w->done = true;
			continue;
		}
		rc = collect_keys(x, ps, NULL, &w->k);
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

static lethe_rc
run_delete(struct exec *x, const struct plan_step *ps, struct store_step *ss,
           struct erase_step_result *sr)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *q = NULL;
	struct appdb_val *params = xcalloc(ps->nparams + 2, sizeof(*params));
	struct windows w = {0};
	struct buf sql;
	size_t i;
	lethe_rc rc = LETHE_OK;

	/*
	 * One statement per batch: the person's rows inside a window of the key
	 * order.  SQLite plans it like the set-based DELETE (the link index, with
	 * a key range), so a batch costs what its share of one big DELETE would.
	 */
	buf_init(&sql, SQL_CAP);
	buf_adds(&sql, "DELETE FROM ");
	appdb_quote(x->db, &sql, t->name);
	window_where(x, ps, &sql);
	if (t->nmedia > 0) {
		/* RETURNING costs; only media tables need to learn what went. */
		buf_adds(&sql, " RETURNING ");
		appdb_quote(x->db, &sql, t->key);
		for (i = 0; i < t->nmedia; i++) {
			buf_adds(&sql, ", ");
			appdb_quote(x->db, &sql, t->media[i]);
		}
	}
	memcpy(params, ps->params, ps->nparams * sizeof(*params));
	rc = appdb_prepare(x->db, buf_str(&sql), &q, x->err);
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
			ss->finished = true;
			rc = store_step_put(x->st, x->job, t->name, ss, x->err);
			break;
		}
		rc = begin_batch(x);
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
			rc = store_begin(x->st, x->err);
			for (i = 0; rc == LETHE_OK && i < d.nmedia; i++)
				rc = store_media_add(x->st, x->job, t->name, d.media[i], x->err);
			if (rc == LETHE_OK)
				rc = store_step_put(x->st, x->job, t->name, ss, x->err);
			if (rc == LETHE_OK)
				rc = store_commit(x->st, x->err);
			else
				store_rollback(x->st);
		}
		free(lo);
		free(hi);
		for (i = 0; i < d.nmedia; i++)
			free(d.media[i]);
		free(d.media);
		if (rc == LETHE_OK)
			rc = appdb_commit(x->db, x->err);
		if (rc != LETHE_OK) {
			appdb_rollback(x->db);
			break;
		}
		ms = time_mono_ms() - t0;
		if (d.rows > 0 && t->nmedia > 0) {
			/* The window is not a cursor: deleted rows are simply gone. */
			free(ss->pending_cursor);
			ss->pending_cursor = NULL;
			rc = media_flush(x, t, ss, true, &sr->media_failed);
			if (rc != LETHE_OK)
				break;
		} else if (d.rows > 0) {
			free(ss->pending_cursor);
			ss->pending_cursor = NULL;
			fold_pending(ss);
			rc = store_step_put(x->st, x->job, t->name, ss, x->err);
			if (rc != LETHE_OK)
				break;
		}
		windows_feedback(&w, found, limit);
		after_batch(x, ms, found, found >= limit / 2);
	}
	appdb_finalize(x->db, q);
	keylist_free(&w.k);
	buf_free(&sql);
	free(params);
	return rc;
}

/* The columns an anonymize/retain step writes: its own list plus tokens (nulled). */
static struct col_action *
col_actions(const struct dm_table *t, size_t *n)
{
	struct col_action *c = xcalloc(t->nanon + t->ntokens + 1, sizeof(*c));
	size_t i, j;

	*n = 0;
	for (i = 0; i < t->nanon; i++) {
		c[*n].name = t->anon[i].column;
		c[*n].how = t->anon[i].how;
		c[*n].set = &t->anon[i].set;
		(*n)++;
	}
	for (i = 0; i < t->ntokens; i++) {
		for (j = 0; j < t->nanon; j++)
			if (strcmp(t->anon[j].column, t->tokens[i]) == 0)
				break;
		if (j < t->nanon)
			continue;
		c[*n].name = t->tokens[i];
		c[*n].how = DM_ANON_NULL;
		(*n)++;
	}
	return c;
}

/* "UPDATE t SET c1 = ?1, ..., cn = ?n": the columns a rewrite writes. */
static void
update_head(struct exec *x, const struct dm_table *t, const struct col_action *c, size_t nc,
            struct buf *b)
{
	size_t i;

	buf_adds(b, "UPDATE ");
	appdb_quote(x->db, b, t->name);
	buf_adds(b, " SET ");
	for (i = 0; i < nc; i++) {
		if (i > 0)
			buf_adds(b, ", ");
		appdb_quote(x->db, b, c[i].name);
		buf_adds(b, " = ");
		appdb_param(x->db, b, (int)i + 1);
	}
}

/* update_head() + " WHERE key = ?n+1": one row's rewrite. */
static void
update_sql(struct exec *x, const struct dm_table *t, const struct col_action *c, size_t nc,
           struct buf *b)
{
	update_head(x, t, c, nc, b);
	buf_adds(b, " WHERE ");
	appdb_quote(x->db, b, t->key);
	buf_adds(b, " = ");
	appdb_param(x->db, b, (int)nc + 1);
}

/* Is row @key of @t already in its target form?  (Probe for a pending batch.) */
static lethe_rc
row_anonymized(struct exec *x, const struct dm_table *t, const struct col_action *c, size_t nc,
               const char *key, bool *out)
{
	struct appdb_stmt *q = NULL;
	struct appdb_val kv, cur;
	struct batching_val tv;
	struct buf b;
	size_t i;
	enum appdb_step s;
	lethe_rc rc;

	*out = false;
	buf_init(&b, SQL_CAP);
	buf_adds(&b, "SELECT ");
	for (i = 0; i < nc; i++) {
		if (i > 0)
			buf_adds(&b, ", ");
		appdb_quote(x->db, &b, c[i].name);
	}
	buf_adds(&b, " FROM ");
	appdb_quote(x->db, &b, t->name);
	buf_adds(&b, " WHERE ");
	appdb_quote(x->db, &b, t->key);
	buf_adds(&b, " = ");
	appdb_param(x->db, &b, 1);
	rc = appdb_prepare(x->db, buf_str(&b), &q, x->err);
	buf_free(&b);
	if (rc != LETHE_OK)
		return rc;
	batching_tag_val(key, &kv);
	rc = appdb_bind_all(x->db, q, &kv, 1);
	s = rc == LETHE_OK ? appdb_step(x->db, q, x->err) : APPDB_ERROR;
	if (s == APPDB_ROW) {
		*out = true;
		for (i = 0; i < nc && *out; i++) {
			appdb_column(x->db, q, (int)i, &cur);
			target_of(x, &c[i], &cur, &tv);
			*out = batching_val_equal(&cur, &tv.v);
			free(tv.buf);
		}
	} else if (s == APPDB_ERROR) {
		rc = x->err ? x->err->rc : LETHE_E_DB;
	}
	appdb_finalize(x->db, q);
	return rc;
}

/* One row read by an anonymize/retain batch. */
struct arow {
	struct batching_val key;     /* the row's key */
	struct batching_val *target; /* target value per column */
	bool changed;                /* some column differs from its target */
	int64_t from;                /* retain: start of the period (epoch s) */
};

static void
arows_free(struct arow *r, size_t n, size_t nc)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free(r[i].key.buf);
		for (j = 0; j < nc; j++)
			free(r[i].target[j].buf);
		free(r[i].target);
	}
	free(r);
}

static int64_t
period_start(const struct exec *x, const struct appdb_val *v)
{
	int64_t t;

	if (v->type == APPDB_INT)
		return v->i;
	if (v->type == APPDB_TEXT && time_parse(v->s, &t) == LETHE_OK)
		return t;
	return x->job_created;
}

/* ---- anonymize / retain ---------------------------------------------------- */

/* "SELECT key, cols..., [from] FROM t" — the head of a rewrite batch's read. */
static void
select_head(struct exec *x, const struct dm_table *t, const struct col_action *c, size_t nc,
            struct buf *b)
{
	size_t i;

	buf_adds(b, "SELECT ");
	appdb_quote(x->db, b, t->key);
	for (i = 0; i < nc; i++) {
		buf_adds(b, ", ");
		appdb_quote(x->db, b, c[i].name);
	}
	if (t->action == DM_RETAIN && t->retain_from != NULL) {
		buf_adds(b, ", ");
		appdb_quote(x->db, b, t->retain_from);
	}
	buf_adds(b, " FROM ");
	appdb_quote(x->db, b, t->name);
}

/* Rows a rewrite batch has read. */
struct rw_batch {
	const struct dm_table *t;   /* the table */
	const struct col_action *c; /* columns rewritten */
	size_t nc;                  /* number of columns */
	struct arow *rows;          /* rows read */
	size_t n, cap;              /* count and capacity */
};

static lethe_rc
on_read(struct exec *x, struct appdb_stmt *q, void *arg)
{
	struct rw_batch *b = arg;
	struct arow *r;
	struct appdb_val v;
	size_t i;

	b->rows = xgrow(b->rows, &b->cap, b->n + 1, sizeof(*b->rows));
	r = &b->rows[b->n++];
	memset(r, 0, sizeof(*r));
	appdb_column(x->db, q, 0, &v);
	batching_val_set(&r->key, &v);
	r->target = xcalloc(b->nc ? b->nc : 1, sizeof(*r->target));
	for (i = 0; i < b->nc; i++) {
		appdb_column(x->db, q, (int)i + 1, &v);
		target_of(x, &b->c[i], &v, &r->target[i]);
		if (!batching_val_equal(&v, &r->target[i].v))
			r->changed = true;
	}
	r->from = x->job_created;
	if (b->t->action == DM_RETAIN && b->t->retain_from != NULL) {
		appdb_column(x->db, q, (int)b->nc + 1, &v);
		r->from = period_start(x, &v);
	}
	return LETHE_OK;
}

static lethe_rc
on_nothing(struct exec *x, struct appdb_stmt *q, void *arg)
{
	(void)x;
	(void)q;
	(void)arg;
	return LETHE_OK;
}

static lethe_rc
run_rewrite(struct exec *x, const struct plan_step *ps, struct store_step *ss,
            struct erase_step_result *sr)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *q_upd = NULL;
	struct chunk_stmts cs = {0}, ucs = {0};
	struct plan_step upd = {.table = ps->table, .where = "1"};
	struct keylist chg = {0};
	struct batching_val *cvals = NULL;
	struct buf uhead;
	bool constant;
	struct keylist k = {0};
	struct col_action *c;
	struct buf head;
	size_t nc, i, j;
	lethe_rc rc = LETHE_OK;

	c = col_actions(t, &nc);
	buf_init(&head, SQL_CAP);
	select_head(x, t, c, nc, &head);
	/* Without keyed hashes every row gets the same values: update by key lists. */
	constant = nc > 0;
	for (i = 0; i < nc; i++)
		if (c[i].how == DM_ANON_HASH)
			constant = false;
	cvals = xcalloc(nc + 1, sizeof(*cvals));
	buf_init(&uhead, SQL_CAP);
	if (constant) {
		struct appdb_val none = {.type = APPDB_NULL};

		for (i = 0; i < nc; i++)
			target_of(x, &c[i], &none, &cvals[i]);
		upd.params = xcalloc(nc, sizeof(*upd.params));
		for (i = 0; i < nc; i++)
			upd.params[i] = cvals[i].v;
		upd.nparams = nc;
		update_head(x, t, c, nc, &uhead);
	}
	if (nc > 0) {
		struct buf u;

		buf_init(&u, SQL_CAP);
		update_sql(x, t, c, nc, &u);
		rc = appdb_prepare(x->db, buf_str(&u), &q_upd, x->err);
		buf_free(&u);
	}
	while (rc == LETHE_OK && !ss->finished) {
		struct rw_batch b = {.t = t, .c = c, .nc = nc};
		int64_t limit = x->pace.batch, taken = 0;
		char *probe = NULL, *next_cursor = NULL;
		double t0, ms;

		if (k.pos >= k.n) {
			if (k.n > 0 && k.complete) {
				ss->finished = true;
				rc = store_step_put(x->st, x->job, t->name, ss, x->err);
				break;
			}
			if (k.n == 0 && k.complete)
				k.complete = false; /* first pass */
			rc = collect_keys(x, ps, ss->cursor, &k);
			if (rc != LETHE_OK)
				break;
			if (k.n == 0) {
				ss->finished = true;
				rc = store_step_put(x->st, x->job, t->name, ss, x->err);
				break;
			}
		}
		rc = begin_batch(x);
		if (rc != LETHE_OK)
			break;
		t0 = time_mono_ms();
		while (rc == LETHE_OK && k.pos < k.n && taken < limit) {
			size_t n = k.n - k.pos;

			if (n > KEY_CHUNK)
				n = KEY_CHUNK;
			if ((int64_t)n > limit - taken)
				n = (size_t)(limit - taken);
			rc = run_chunk(x, ps, &cs, buf_str(&head), "", &k, k.pos, n, on_read, &b);
			k.pos += n;
			taken += (int64_t)n;
		}
		if (k.pos > 0)
			next_cursor = val_tag(&k.v[k.pos - 1].v);
		for (i = 0; rc == LETHE_OK && i < b.n; i++) {
			struct appdb_val *v;

			if (!b.rows[i].changed)
				continue;
			if (probe == NULL)
				probe = val_tag(&b.rows[i].key.v);
			if (constant) {
				/* Same values for every row: one UPDATE per chunk of keys, below.
				 */
				chg.v = xgrow(chg.v, &chg.cap, chg.n + 1, sizeof(*chg.v));
				chg.v[chg.n].v = b.rows[i].key.v;
				chg.v[chg.n++].buf = NULL;
				continue;
			}
			v = xcalloc(nc + 1, sizeof(*v));
			for (j = 0; j < nc; j++)
				v[j] = b.rows[i].target[j].v;
			v[nc] = b.rows[i].key.v;
			appdb_reset(x->db, q_upd);
			rc = appdb_bind_all(x->db, q_upd, v, nc + 1);
			if (rc == LETHE_OK && appdb_step(x->db, q_upd, x->err) == APPDB_ERROR)
				rc = x->err ? x->err->rc : LETHE_E_DB;
			free(v);
		}
		for (i = 0; rc == LETHE_OK && i < chg.n; i += KEY_CHUNK) {
			size_t n = chg.n - i < KEY_CHUNK ? chg.n - i : KEY_CHUNK;

			rc = run_chunk(x, &upd, &ucs, buf_str(&uhead), "", &chg, i, n, on_nothing,
			               NULL);
		}
		free(chg.v);
		memset(&chg, 0, sizeof(chg));
		/* Before the app commit: holds, and the batch as pending (or done). */
		if (rc == LETHE_OK)
			rc = store_begin(x->st, x->err);
		for (i = 0; rc == LETHE_OK && t->action == DM_RETAIN && i < b.n; i++) {
			char *key = val_tag(&b.rows[i].key.v);

			rc = store_hold_add(x->st, t->name, key, x->job,
			                    b.rows[i].from + t->retain_for, x->err);
			free(key);
		}
		if (rc == LETHE_OK) {
			if (probe != NULL) {
				ss->pending_rows = (int64_t)b.n;
				free(ss->pending_key);
				ss->pending_key = probe;
				probe = NULL;
				free(ss->pending_cursor);
				ss->pending_cursor = xstrdup(next_cursor);
			} else {
				ss->done += (int64_t)b.n;
				free(ss->cursor);
				ss->cursor = xstrdup(next_cursor);
			}
			rc = store_step_put(x->st, x->job, t->name, ss, x->err);
		}
		if (rc == LETHE_OK)
			rc = store_commit(x->st, x->err);
		else
			store_rollback(x->st);
		if (rc == LETHE_OK)
			rc = appdb_commit(x->db, x->err);
		ms = time_mono_ms() - t0;
		arows_free(b.rows, b.n, nc);
		free(probe);
		free(next_cursor);
		if (rc != LETHE_OK) {
			appdb_rollback(x->db);
			break;
		}
		if (ss->pending_rows > 0) {
			ss->done += ss->pending_rows;
			ss->pending_rows = 0;
			free(ss->pending_key);
			ss->pending_key = NULL;
			free(ss->cursor);
			ss->cursor = ss->pending_cursor;
			ss->pending_cursor = NULL;
			rc = store_step_put(x->st, x->job, t->name, ss, x->err);
		}
		if (rc == LETHE_OK)
			after_batch(x, ms, taken, taken >= limit);
	}
	(void)sr;
	appdb_finalize(x->db, q_upd);
	chunk_stmts_free(x, &cs);
	chunk_stmts_free(x, &ucs);
	for (i = 0; i < nc && cvals != NULL; i++)
		free(cvals[i].buf);
	free(cvals);
	free(upd.params);
	buf_free(&uhead);
	keylist_free(&k);
	buf_free(&head);
	free(c);
	return rc;
}

/* Settle a batch left pending by a crash: did its app transaction commit? */
static lethe_rc
settle_pending(struct exec *x, const struct plan_step *ps, struct store_step *ss)
{
	const struct dm_table *t = ps->table;
	bool committed = false;
	int64_t failed = 0;
	lethe_rc rc;

	if (ss->pending_rows == 0) {
		/* Files of committed batches that could not be removed last time. */
		if (t->nmedia > 0)
			return media_flush(x, t, ss, false, &failed);
		return LETHE_OK;
	}
	if (t->action == DM_DELETE) {
		int64_t left = 1;

		/* The batch's window [pending_key, pending_cursor] is empty iff it committed. */
		rc = window_count(x, ps, ss->pending_key, ss->pending_cursor, &left);
		committed = left == 0;
		free(ss->pending_cursor);
		ss->pending_cursor = NULL;
	} else {
		size_t nc;
		struct col_action *c = col_actions(t, &nc);

		rc = row_anonymized(x, t, c, nc, ss->pending_key, &committed);
		free(c);
	}
	if (rc != LETHE_OK)
		return rc;
	log_info("%s: a batch interrupted by a crash had %s", t->name,
	         committed ? "committed; counted it" : "not committed; redoing it");
	/* Committed: its files go now, counted with the batch in one state transaction. */
	if (committed && t->nmedia > 0)
		return media_flush(x, t, ss, true, &failed);
	if (committed) {
		fold_pending(ss);
		return store_step_put(x->st, x->job, t->name, ss, x->err);
	}
	/* Not committed: the rows are still there; their files are recorded again. */
	ss->pending_rows = 0;
	free(ss->pending_key);
	ss->pending_key = NULL;
	free(ss->pending_cursor);
	ss->pending_cursor = NULL;
	rc = store_begin(x->st, x->err);
	if (rc == LETHE_OK && t->nmedia > 0)
		rc = store_media_clear(x->st, x->job, t->name, x->err);
	if (rc == LETHE_OK)
		rc = store_step_put(x->st, x->job, t->name, ss, x->err);
	if (rc == LETHE_OK)
		return store_commit(x->st, x->err);
	store_rollback(x->st);
	return rc;
}

static lethe_rc
run_step(struct exec *x, size_t i)
{
	const struct plan_step *ps = &x->plan->steps[i];
	struct erase_step_result *sr = &x->res->steps[i];
	struct store_step ss;
	lethe_rc rc;

	double t0 = time_mono_ms();
	int64_t b0 = x->res->batches;

	x->step = i;
	/* Tables differ in cost per row: start each step small and let it grow. */
	if (x->o->batch_rows == 0)
		x->pace.batch =
		    x->pace.batch / 4 > BATCHING_START ? x->pace.batch / 4 : BATCHING_START;
	rc = store_step_get(x->st, x->job, ps->table->name, dm_action_str(ps->table->action), &ss,
	                    x->err);
	if (rc != LETHE_OK)
		return rc;
	rc = settle_pending(x, ps, &ss);
	if (rc == LETHE_OK && !ps->reachable)
		ss.finished = true;
	if (rc == LETHE_OK && !ss.finished) {
		if (ps->table->action == DM_DELETE)
			rc = run_delete(x, ps, &ss, sr);
		else
			rc = run_rewrite(x, ps, &ss, sr);
	}
	sr->rows = ss.done;
	sr->media = ss.media;
	store_step_clear(&ss);
	log_debug("step %s: %lld rows, %lld transactions, %.1f ms", ps->table->name,
	          (long long)sr->rows, (long long)(x->res->batches - b0), time_mono_ms() - t0);
	return rc;
}

/* After all steps: anything deletable left (new rows, a lost commit)?  Reopen those steps. */
static lethe_rc
verify(struct exec *x, bool *again)
{
	size_t i;
	lethe_rc rc;

	*again = false;
	rc = plan_count(x->plan, x->db, x->err);
	for (i = 0; rc == LETHE_OK && i < x->plan->nsteps; i++) {
		const struct plan_step *ps = &x->plan->steps[i];
		struct store_step ss;

		if (ps->table->action != DM_DELETE || ps->rows <= 0)
			continue;
		rc = store_step_get(x->st, x->job, ps->table->name, "delete", &ss, x->err);
		if (rc != LETHE_OK)
			break;
		ss.finished = false;
		rc = store_step_put(x->st, x->job, ps->table->name, &ss, x->err);
		store_step_clear(&ss);
		*again = true;
	}
	return rc;
}

void
erase_subject(const char *scope, const struct plan_id *ids, size_t nids,
              const uint8_t key[HASH_KEY_LEN], char out[HASH_TEXT_LEN + 1])
{
	struct buf b;
	size_t *order = xcalloc(nids ? nids : 1, sizeof(size_t));
	size_t i, j;

	for (i = 0; i < nids; i++)
		order[i] = i;
	/* Insertion sort by (kind, value): the subject must not depend on argument order. */
	for (i = 1; i < nids; i++)
		for (j = i; j > 0; j--) {
			const struct plan_id *a = &ids[order[j - 1]], *b2 = &ids[order[j]];
			int c = strcmp(a->kind, b2->kind);

			if (c < 0 || (c == 0 && strcmp(a->value, b2->value) <= 0))
				break;
			size_t tmp = order[j];
			order[j] = order[j - 1];
			order[j - 1] = tmp;
		}
	buf_init(&b, SQL_CAP);
	buf_add(&b, scope, strlen(scope) + 1);
	for (i = 0; i < nids; i++) {
		buf_add(&b, ids[order[i]].kind, strlen(ids[order[i]].kind) + 1);
		buf_add(&b, ids[order[i]].value, strlen(ids[order[i]].value) + 1);
	}
	hash_keyed(key, b.data, b.len, out);
	buf_free(&b);
	free(order);
}

lethe_rc
erase_run(struct plan *plan, const struct plan_id *ids, size_t nids, struct appdb *db,
          struct store *st, const struct erase_opts *o, struct erase_result *res,
          struct lethe_err *err)
{
	struct exec x;
	char subject[HASH_TEXT_LEN + 1];
	double t0 = time_mono_ms();
	int64_t held = 0, now = o->now ? o->now : time_now();
	size_t i;
	int round;
	bool again = false, claimed = false;
	lethe_rc rc;

	memset(res, 0, sizeof(*res));
	memset(&x, 0, sizeof(x));
	x.plan = plan;
	x.db = db;
	x.st = st;
	x.o = o;
	x.res = res;
	x.err = err;
	batching_init(&x.pace, o->batch_rows, o->max_txn_ms, o->yield_ms);
	res->state = "failed";
	res->nsteps = plan->nsteps;
	res->steps = xcalloc(plan->nsteps ? plan->nsteps : 1, sizeof(*res->steps));
	for (i = 0; i < plan->nsteps; i++) {
		res->steps[i].table = plan->steps[i].table;
		if (plan->steps[i].table->nmedia > 0 && o->media_root == NULL)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "table '%s' has media columns but app.media_root is "
			                     "not configured",
			                     plan->steps[i].table->name);
		if (plan->steps[i].rows > 0)
			x.planned_total += plan->steps[i].rows;
	}

	erase_subject(plan->scope->name, ids, nids, o->key, subject);
	rc = store_job_find_active(st, "erase", plan->scope->name, subject, &x.job, &x.job_created,
	                           err);
	if (rc == LETHE_OK && x.job == 0) {
		x.job_created = now;
		rc = store_job_create(st, "erase", plan->scope->name, subject, now, &x.job, err);
	} else if (rc == LETHE_OK) {
		res->resumed = true;
		log_info("resuming job %lld", (long long)x.job);
	}
	res->job = x.job;
	if (rc == LETHE_OK) {
		char host[256] = "localhost";
		uint8_t nonce[8];
		char hex[17];

		gethostname(host, sizeof(host) - 1);
		hash_key_random_bytes(nonce, sizeof(nonce));
		hash_hex(nonce, sizeof(nonce), hex);
		snprintf(x.owner, sizeof(x.owner), "%s:%ld:%s", host, (long)getpid(), hex);
		rc = store_job_claim(st, x.job, x.owner, time_now(), LEASE_S, err);
		if (rc == LETHE_OK)
			claimed = true;
		x.renewed = time_now();
	}
	if (rc == LETHE_OK && o->on_job != NULL)
		o->on_job(o->job_arg, x.job);
	if (rc == LETHE_OK)
		rc = store_job_set_state(st, x.job, "running", 0, err);
	for (round = 0; rc == LETHE_OK && round < VERIFY_ROUNDS; round++) {
		for (i = 0; rc == LETHE_OK && i < plan->nsteps; i++)
			rc = run_step(&x, i);
		if (rc == LETHE_OK)
			rc = verify(&x, &again);
		if (!again)
			break;
	}
	if (rc == LETHE_OK && again)
		rc = lethe_err_set(err, LETHE_E_DB,
		                   "rows kept appearing for this person during erasure; run again "
		                   "once the app stops writing them");
	if (db->ops->flush != NULL)
		db->ops->flush(db);
	if (rc == LETHE_OK) {
		for (i = 0; i < plan->nsteps; i++)
			if (plan->steps[i].table->action == DM_RETAIN)
				held += res->steps[i].rows;
		res->state = held > 0 ? "completed_with_retention" : "completed";
		rc = store_job_set_state(st, x.job, res->state, o->now ? o->now : time_now(), err);
	}
	if (claimed)
		store_job_release(st, x.job, x.owner, NULL);
	res->elapsed_ms = time_mono_ms() - t0;
	return rc;
}

void
erase_result_free(struct erase_result *r)
{
	free(r->steps);
	memset(r, 0, sizeof(*r));
}

json_t *
erase_result_json(const struct erase_result *r)
{
	json_t *steps = json_array();
	size_t i;

	for (i = 0; i < r->nsteps; i++) {
		const struct erase_step_result *s = &r->steps[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "table", s->table->name, "category",
		                      s->table->category, "action", dm_action_str(s->table->action),
		                      "rows", (json_int_t)s->rows);

		if (s->table->nmedia > 0) {
			json_object_set_new(o, "media_files", json_integer(s->media));
			json_object_set_new(o, "media_failed", json_integer(s->media_failed));
		}
		if (s->table->action == DM_RETAIN)
			json_object_set_new(o, "reason", json_string(s->table->reason));
		json_array_append_new(steps, o);
	}
	return json_pack("{s:I, s:s, s:b, s:f, s:f, s:I, s:o}", "job", (json_int_t)r->job, "state",
	                 r->state, "resumed", r->resumed, "elapsed_ms", r->elapsed_ms,
	                 "max_transaction_ms", r->max_txn_ms, "transactions",
	                 (json_int_t)r->batches, "steps", steps);
}

void
erase_result_print(const struct erase_result *r, FILE *f)
{
	size_t i;
	int64_t total = 0;

	fprintf(f, "Job %lld %s%s in %.0f ms (%lld transactions, longest %.1f ms)\n\n",
	        (long long)r->job, r->state, r->resumed ? " (resumed)" : "", r->elapsed_ms,
	        (long long)r->batches, r->max_txn_ms);
	fprintf(f, "  %-24s %-14s %-10s %10s\n", "table", "category", "action", "rows");
	for (i = 0; i < r->nsteps; i++) {
		const struct erase_step_result *s = &r->steps[i];

		fprintf(f, "  %-24s %-14s %-10s %10lld", s->table->name, s->table->category,
		        dm_action_str(s->table->action), (long long)s->rows);
		if (s->table->nmedia > 0)
			fprintf(f, "   (%lld media files removed)", (long long)s->media);
		fputc('\n', f);
		total += s->rows;
	}
	fprintf(f, "\n  %lld rows.\n", (long long)total);
	for (i = 0; i < r->nsteps; i++) {
		const struct erase_step_result *s = &r->steps[i];

		if (s->table->action == DM_RETAIN && s->rows > 0)
			fprintf(f, "  Retained %lld row%s of %s: %s\n", (long long)s->rows,
			        s->rows == 1 ? "" : "s", s->table->name, s->table->reason);
		if (s->media_failed > 0)
			fprintf(f, "  WARNING: %lld media files of %s could not be removed.\n",
			        (long long)s->media_failed, s->table->name);
	}
}
