/* SPDX-License-Identifier: MIT */
/*
 * export_walk.c - reading the person's rows of one plan step for the
 * archive (docs/internals/export.md), in key order, in keyset batches on
 * the table's key (never OFFSET), each statement a short read of its own.
 * Two ways, chosen per step: when the person's rows fill a good part of
 * the table's key range, the table is read in key order from the cursor,
 * the other rows skipped; otherwise keys are collected through the
 * link's index, then their rows read by key.
 */
#include "util/fmacros.h"

#include "db/sql.h"
#include "engine/batching.h"
#include "engine/export_internal.h"
#include "util/mem.h"

/*
 * Collect the next keys of step @ps after @cursor (if any), in key order, at
 * most EXPORT_KEYS of them: SELECT key FROM t WHERE (<predicate>) [AND key >
 * ?] ORDER BY key LIMIT n.  Only keys are sorted (the link column's index
 * holds them), so a batch costs no table reads.
 */
static lethe_rc
keys_collect(struct export_ctx *x, const struct plan_step *ps, const struct batching_val *cursor,
             struct batching_val *keys, size_t *nkeys)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *st = NULL;
	enum appdb_step s = APPDB_DONE;
	struct sql q;
	lethe_rc rc;

	*nkeys = 0;
	sql_init(&q, x->db, EXPORT_SQL_CAP);
	sql_add(&q, "SELECT ");
	sql_ident(&q, t->key);
	sql_add(&q, " FROM ");
	sql_ident(&q, t->name);
	sql_add(&q, " WHERE (");
	sql_fragment(&q, ps->where, ps->params, ps->nparams);
	sql_add(&q, ")");
	if (cursor != NULL) {
		sql_add(&q, " AND ");
		sql_ident(&q, t->key);
		sql_add(&q, " > ");
		sql_value(&q, cursor->v);
	}
	sql_add(&q, " ORDER BY ");
	sql_ident(&q, t->key);
	sql_addf(&q, " LIMIT %d", EXPORT_KEYS);
	rc = sql_rc(&q);
	if (rc != LETHE_OK)
		rc = lethe_err_set(x->err, rc, "export: the query of '%s' is too long", t->name);
	if (rc == LETHE_OK)
		rc = appdb_prepare(x->db, sql_str(&q), &st, x->err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(x->db, st, sql_vals(&q), sql_nvals(&q));
	while (rc == LETHE_OK && *nkeys < EXPORT_KEYS &&
	       (s = appdb_step(x->db, st, x->err)) == APPDB_ROW) {
		struct appdb_val v;

		appdb_column(x->db, st, 0, &v);
		batching_val_set(&keys[(*nkeys)++], &v);
	}
	if (rc == LETHE_OK && s == APPDB_ERROR)
		rc = x->err->rc != LETHE_OK ? x->err->rc : LETHE_E_DB;
	appdb_finalize(x->db, st);
	sql_free(&q);
	return rc;
}

/*
 * True if the @n (sorted) keys @keys are integers packed closely enough
 * that the range from the first to the last holds few other rows (at most
 * as many as the keys).
 */
static bool
keys_dense(const struct batching_val *keys, size_t n)
{
	if (keys[0].v.type != APPDB_INT || keys[n - 1].v.type != APPDB_INT)
		return false;
	return keys[n - 1].v.i - keys[0].v.i >= 0 &&
	       (uint64_t)(keys[n - 1].v.i - keys[0].v.i) < 2 * (uint64_t)n;
}

/*
 * Start @q (and @frag, its predicate without index use; the caller frees
 * both) as "SELECT key, @cols FROM t WHERE <step @ps's predicate>": the
 * start of every read of a step's rows.
 */
static void
select_where(struct export_ctx *x, const struct plan_step *ps, char *const *cols, size_t ncols,
             struct sql *q, struct sql *frag)
{
	const struct dm_table *t = ps->table;

	sql_init(frag, x->db, EXPORT_SQL_CAP);
	sql_no_index(frag, ps->where);
	sql_init(q, x->db, EXPORT_SQL_CAP);
	sql_add(q, "SELECT ");
	sql_ident(q, t->key);
	if (ncols > 0) {
		sql_add(q, ", ");
		sql_idents(q, (const char *const *)cols, ncols);
	}
	sql_add(q, " FROM ");
	sql_ident(q, t->name);
	sql_add(q, " WHERE ");
	sql_fragment(q, sql_str(frag), ps->params, ps->nparams);
}

/*
 * The rows of the @n keys @keys: SELECT key, @cols FROM t WHERE
 * <predicate, not by index> AND key IN (...) ORDER BY key (or key BETWEEN
 * the first and the last when they are dense integers), each handed to
 * @fn.  The predicate is checked again (a row may have changed since its
 * key was collected); the rows are found by key.
 */
static lethe_rc
rows_fetch(struct export_ctx *x, struct export_table *tab, const struct plan_step *ps,
           char *const *cols, size_t ncols, const struct batching_val *keys, size_t n,
           export_row_fn fn)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *st = NULL;
	enum appdb_step s = APPDB_DONE;
	struct sql q, frag;
	lethe_rc rc;
	size_t i;

	select_where(x, ps, cols, ncols, &q, &frag);
	sql_add(&q, " AND ");
	sql_ident(&q, t->key);
	if (keys_dense(keys, n)) {
		/* A range read in key order: no list to build, and few other rows in it. */
		sql_add(&q, " BETWEEN ");
		sql_value(&q, keys[0].v);
		sql_add(&q, " AND ");
		sql_value(&q, keys[n - 1].v);
	} else {
		sql_add(&q, " IN (");
		for (i = 0; i < n; i++) {
			if (i > 0)
				sql_add(&q, ", ");
			sql_value(&q, keys[i].v);
		}
		sql_add(&q, ")");
	}
	sql_add(&q, " ORDER BY ");
	sql_ident(&q, t->key);
	rc = sql_rc(&q) != LETHE_OK ? sql_rc(&q) : sql_rc(&frag);
	if (rc != LETHE_OK)
		rc = lethe_err_set(x->err, rc, "export: the query of '%s' is too long", t->name);
	if (rc == LETHE_OK)
		rc = appdb_prepare(x->db, sql_str(&q), &st, x->err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(x->db, st, sql_vals(&q), sql_nvals(&q));
	while (rc == LETHE_OK && (s = appdb_step(x->db, st, x->err)) == APPDB_ROW)
		rc = fn(x, tab, x->db, st);
	if (rc == LETHE_OK && s == APPDB_ERROR)
		rc = x->err->rc != LETHE_OK ? x->err->rc : LETHE_E_DB;
	appdb_finalize(x->db, st);
	sql_free(&q);
	sql_free(&frag);
	return rc;
}

/* The integer in *@out of "SELECT @agg(key) FROM t"; false if NULL or not an integer. */
static bool
key_bound(struct export_ctx *x, const struct dm_table *t, const char *agg, int64_t *out)
{
	struct appdb_stmt *st = NULL;
	struct appdb_val v = {0};
	struct lethe_err e2 = {0};
	bool ok = false;
	struct sql q;

	sql_init(&q, x->db, EXPORT_SQL_CAP);
	sql_addf(&q, "SELECT %s(", agg);
	sql_ident(&q, t->key);
	sql_add(&q, ") FROM ");
	sql_ident(&q, t->name);
	if (sql_rc(&q) == LETHE_OK && appdb_prepare(x->db, sql_str(&q), &st, &e2) == LETHE_OK &&
	    appdb_step(x->db, st, &e2) == APPDB_ROW) {
		appdb_column(x->db, st, 0, &v);
		ok = v.type == APPDB_INT;
		*out = v.i;
	}
	appdb_finalize(x->db, st);
	sql_free(&q);
	return ok;
}

/*
 * True if the person's @planned rows of step @ps fill at least a quarter of
 * the range of the table's integer keys: reading the table in key order
 * from the cursor, skipping the other rows, then costs less than
 * collecting keys through the link's index, which walks every remaining
 * key of the person for each batch.
 */
static bool
step_dense(struct export_ctx *x, const struct plan_step *ps, int64_t planned)
{
	int64_t lo = 0, hi = 0;

	if (planned < EXPORT_KEYS)
		return false;
	if (!key_bound(x, ps->table, "MIN", &lo) || !key_bound(x, ps->table, "MAX", &hi) || hi < lo)
		return false;
	return (uint64_t)(hi - lo) / 4 < (uint64_t)planned;
}

/*
 * Every row of step @ps, dense case (step_dense()): SELECT key, @cols FROM t
 * WHERE <predicate, not by index> AND key > <last key> ORDER BY key LIMIT n,
 * the table read in key order.
 */
static lethe_rc
step_scan(struct export_ctx *x, struct export_table *tab, const struct plan_step *ps,
          char *const *cols, size_t ncols, export_row_fn fn)
{
	const struct dm_table *t = ps->table;
	struct batching_val cursor = {0};
	bool have_cursor = false, more = true;
	lethe_rc rc = LETHE_OK;

	while (more && rc == LETHE_OK) {
		struct appdb_stmt *st = NULL;
		enum appdb_step s = APPDB_DONE;
		struct sql q, frag;
		int64_t n = 0;

		rc = export_check_stop(x);
		if (rc != LETHE_OK)
			break;
		select_where(x, ps, cols, ncols, &q, &frag);
		if (have_cursor) {
			sql_add(&q, " AND ");
			sql_ident(&q, t->key);
			sql_add(&q, " > ");
			sql_value(&q, cursor.v);
		}
		sql_add(&q, " ORDER BY ");
		sql_ident(&q, t->key);
		sql_addf(&q, " LIMIT %d", EXPORT_SCAN);
		rc = sql_rc(&q) != LETHE_OK ? sql_rc(&q) : sql_rc(&frag);
		if (rc != LETHE_OK)
			rc = lethe_err_set(x->err, rc, "export: the query of '%s' is too long",
			                   t->name);
		if (rc == LETHE_OK)
			rc = appdb_prepare(x->db, sql_str(&q), &st, x->err);
		if (rc == LETHE_OK)
			rc = appdb_bind_all(x->db, st, sql_vals(&q), sql_nvals(&q));
		while (rc == LETHE_OK && (s = appdb_step(x->db, st, x->err)) == APPDB_ROW) {
			struct appdb_val v;

			rc = fn(x, tab, x->db, st);
			appdb_column(x->db, st, 0, &v);
			free(cursor.buf);
			batching_val_set(&cursor, &v);
			have_cursor = true;
			n++;
		}
		if (rc == LETHE_OK && s == APPDB_ERROR)
			rc = x->err->rc != LETHE_OK ? x->err->rc : LETHE_E_DB;
		appdb_finalize(x->db, st);
		sql_free(&q);
		sql_free(&frag);
		more = n == EXPORT_SCAN;
	}
	free(cursor.buf);
	return rc;
}

/*
 * Every row of step @ps, in key order, as (key, @cols), to @fn: keyset
 * batches on the key (never OFFSET), each a short read of its own.
 * @planned is the step's row count (or more).  Memory: EXPORT_KEYS keys.
 */
lethe_rc
export_step_walk(struct export_ctx *x, struct export_table *tab, const struct plan_step *ps,
                 int64_t planned, char *const *cols, size_t ncols, export_row_fn fn)
{
	struct batching_val *keys;
	struct batching_val cursor = {0};
	bool have_cursor = false;
	size_t n = 0, i, j;
	lethe_rc rc = LETHE_OK;

	if (step_dense(x, ps, planned))
		return step_scan(x, tab, ps, cols, ncols, fn);
	keys = xcalloc(EXPORT_KEYS, sizeof(*keys));

	for (;;) {
		rc = export_check_stop(x);
		if (rc == LETHE_OK)
			rc = keys_collect(x, ps, have_cursor ? &cursor : NULL, keys, &n);
		for (i = 0; i < n && rc == LETHE_OK; i += EXPORT_FETCH) {
			rc = export_check_stop(x);
			if (rc == LETHE_OK)
				rc = rows_fetch(x, tab, ps, cols, ncols, keys + i,
				                n - i < EXPORT_FETCH ? n - i : EXPORT_FETCH, fn);
		}
		if (rc == LETHE_OK && n > 0) {
			free(cursor.buf);
			batching_val_set(&cursor, &keys[n - 1].v);
			have_cursor = true;
		}
		for (j = 0; j < n; j++)
			free(keys[j].buf);
		if (rc != LETHE_OK || n < EXPORT_KEYS)
			break;
	}
	free(cursor.buf);
	free(keys);
	return rc;
}
