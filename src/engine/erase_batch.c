/* SPDX-License-Identifier: MIT */
/*
 * erase_batch.c - what the executor's delete and rewrite steps share (see
 * erase.c and docs/internals/executor.md): row keys as state-store tags,
 * opening and closing a batch's short transaction, collecting the
 * person's keys of a step in key order, and running one statement over a
 * chunk of them.
 */
#include "util/fmacros.h"

#include "engine/erase_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- values and cursors ------------------------------------------------ */

/* A key as tagged text: "i:42", "t:abc", "r:1.5"; caller frees. */
char *
erase_val_tag(const struct appdb_val *v)
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

/* ---- batches --------------------------------------------------------------- */

lethe_rc
erase_begin_batch(struct exec *x)
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
		if (x->o->on_renew != NULL && !x->o->on_renew(x->o->job_arg))
			return lethe_err_set(x->err, LETHE_E_BUSY,
			                     "another worker took the request over; the job waits");
	}
	return batching_begin(x->db, x->err);
}

/*
 * Bookkeeping after a committed batch of @rows that held the write lock for
 * @ms; @full says the batch stopped because it reached its size (so the
 * size, not the data, limited it and adapting it is meaningful).
 */
void
erase_after_batch(struct exec *x, double ms, int64_t rows, bool full)
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

/* ---- the person's keys ----------------------------------------------------- */

void
erase_keylist_free(struct keylist *k)
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
lethe_rc
erase_collect_keys(struct exec *x, const struct plan_step *ps, const char *cursor,
                   struct keylist *k)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *q = NULL;
	struct appdb_val cur;
	struct sql b;
	enum appdb_step s = APPDB_DONE;
	lethe_rc rc;

	erase_keylist_free(k);
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
		rc = appdb_bind_all(x->db, q, sql_vals(&b), sql_nvals(&b));
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
 * "<head> WHERE <pred> AND key IN (?, ... n)<tail>" with predicate
 * parameters first, then the n keys.  Where secondary indexes do not end
 * in the key (PostgreSQL), the predicate is kept from the planner's index
 * choice: the index of its column would read all the person's rows for
 * every chunk and filter them on the keys; the key index reads the n rows.
 */
void
erase_by_keys_sql(const struct plan_step *ps, const char *head, size_t n, const char *tail,
                  struct sql *b)
{
	size_t i;

	sql_add(b, head);
	sql_add(b, " WHERE ");
	if (b->d->index_ends_in_key) {
		sql_fragment(b, ps->where, ps->params, ps->nparams);
	} else {
		b->nparams += ps->nparams;
		sql_no_index(b, ps->where);
	}
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

void
erase_chunk_stmts_free(struct exec *x, struct chunk_stmts *c)
{
	appdb_finalize(x->db, c->full);
	appdb_finalize(x->db, c->tail);
	memset(c, 0, sizeof(*c));
}

/* Run the by-keys statement on keys [from, from + n) of @k; rows go to @on_row. */
lethe_rc
erase_run_chunk(struct exec *x, const struct plan_step *ps, struct chunk_stmts *c, const char *head,
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
		erase_by_keys_sql(ps, head, n, tail, &b);
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
	if (ps->nparams > 0) /* ps->params is NULL when no value was bound */
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
