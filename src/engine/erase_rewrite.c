/* SPDX-License-Identifier: MIT */
/*
 * erase_rewrite.c - the executor's anonymize and retain steps (see erase.c
 * and docs/internals/executor.md): the columns a step writes, reading a
 * chunk of the person's rows, writing each value's target form (a keyed
 * hash is never hashed again) and recognising a row already rewritten.
 */
#include "util/fmacros.h"

#include <math.h>

#include "engine/erase_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* Target value of column action @c for current value @cur into @out. */
static void
target_of(const struct exec *x, const struct col_action *c, const struct appdb_val *cur,
          struct batching_val *out)
{
	batching_anon_target(x->o->key, c->how, c->set, cur, out);
}

/* The columns an anonymize/retain step writes: its part's list plus tokens (nulled). */
struct col_action *
erase_col_actions(const struct dm_table *t, const struct dm_erase *e, size_t *n)
{
	struct col_action *c = xcalloc(e->nanon + t->ntokens + 1, sizeof(*c));
	size_t i, j;

	*n = 0;
	for (i = 0; i < e->nanon; i++) {
		c[*n].name = e->anon[i].column;
		c[*n].how = e->anon[i].how;
		c[*n].set = &e->anon[i].set;
		(*n)++;
	}
	for (i = 0; i < t->ntokens; i++) {
		for (j = 0; j < e->nanon; j++)
			if (strcmp(e->anon[j].column, t->tokens[i]) == 0)
				break;
		if (j < e->nanon)
			continue;
		c[*n].name = t->tokens[i];
		c[*n].how = DM_ANON_NULL;
		(*n)++;
	}
	return c;
}

bool
erase_col_done(const struct col_action *c, const struct appdb_val *cur)
{
	struct appdb_val set;

	switch (c->how) {
	case DM_ANON_NULL:
		return cur->type == APPDB_NULL;
	case DM_ANON_SET:
		set = dm_value_val(c->set);
		return batching_val_equal(cur, &set);
	case DM_ANON_HASH:
		/* batching_anon_target(): NULL stays NULL, a keyed hash is never hashed again. */
		return cur->type == APPDB_NULL ||
		       (cur->type == APPDB_TEXT && hash_is_keyed(cur->s));
	}
	return false;
}

/* "UPDATE t SET c1 = ?1, ..., cn = ?n": the columns a rewrite writes. */
static void
update_head(struct exec *x, const struct dm_table *t, const struct col_action *c, size_t nc,
            struct sql *b)
{
	size_t i;

	sql_add(b, "UPDATE ");
	sql_ident(b, t->name);
	sql_add(b, " SET ");
	for (i = 0; i < nc; i++) {
		if (i > 0)
			sql_add(b, ", ");
		sql_ident(b, c[i].name);
		sql_add(b, " = ");
		sql_slot(b, (int)i + 1);
	}
}

/* update_head() + " WHERE key = ?n+1": one row's rewrite. */
static void
update_sql(struct exec *x, const struct dm_table *t, const struct col_action *c, size_t nc,
           struct sql *b)
{
	update_head(x, t, c, nc, b);
	sql_add(b, " WHERE ");
	sql_ident(b, t->key);
	sql_add(b, " = ");
	sql_slot(b, (int)nc + 1);
}

/* Is row @key of @t already in its target form?  (Probe for a pending batch.) */
lethe_rc
erase_row_anonymized(struct exec *x, const struct dm_table *t, const struct col_action *c,
                     size_t nc, const char *key, bool *out)
{
	struct appdb_stmt *q = NULL;
	struct appdb_val kv, cur;
	struct sql b;
	size_t i;
	enum appdb_step s;
	lethe_rc rc;

	*out = false;
	sql_init(&b, x->db, SQL_CAP);
	sql_add(&b, "SELECT ");
	for (i = 0; i < nc; i++) {
		if (i > 0)
			sql_add(&b, ", ");
		sql_ident(&b, c[i].name);
	}
	sql_add(&b, " FROM ");
	sql_ident(&b, t->name);
	sql_add(&b, " WHERE ");
	sql_ident(&b, t->key);
	sql_add(&b, " = ");
	sql_slot(&b, 1);
	rc = appdb_prepare(x->db, sql_str(&b), &q, x->err);
	sql_free(&b);
	if (rc != LETHE_OK)
		return rc;
	batching_tag_val(key, &kv);
	rc = appdb_bind_all(x->db, q, &kv, 1);
	s = rc == LETHE_OK ? appdb_step(x->db, q, x->err) : APPDB_ERROR;
	if (s == APPDB_ROW) {
		*out = true;
		for (i = 0; i < nc && *out; i++) {
			appdb_column(x->db, q, (int)i, &cur);
			*out = erase_col_done(&c[i], &cur);
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

/* "SELECT key, cols..., [from] FROM t" — the head of a rewrite batch's read (part @e). */
static void
select_head(struct exec *x, const struct dm_table *t, const struct dm_erase *e,
            const struct col_action *c, size_t nc, struct sql *b)
{
	size_t i;

	sql_add(b, "SELECT ");
	sql_ident(b, t->key);
	for (i = 0; i < nc; i++) {
		sql_add(b, ", ");
		sql_ident(b, c[i].name);
	}
	if (e->action == DM_RETAIN && e->retain_from != NULL) {
		sql_add(b, ", ");
		sql_ident(b, e->retain_from);
	}
	sql_add(b, " FROM ");
	sql_ident(b, t->name);
}

/* Rows a rewrite batch has read. */
struct rw_batch {
	const struct dm_table *t;   /* the table */
	const struct dm_erase *e;   /* what the step does to its rows */
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
		if (!erase_col_done(&b->c[i], &v))
			r->changed = true;
	}
	r->from = x->job_created;
	if (b->e->action == DM_RETAIN && b->e->retain_from != NULL) {
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

lethe_rc
erase_run_rewrite(struct exec *x, const struct plan_step *ps, struct store_step *ss,
                  struct erase_step_result *sr)
{
	const struct dm_table *t = ps->table;
	struct appdb_stmt *q_upd = NULL;
	struct chunk_stmts cs = {0}, ucs = {0};
	/* Updates by key only: an always-true predicate (never freed or written). */
	struct plan_step upd = {.table = ps->table,
	                        .where = (char *)appdb_dialect(x->db)->true_lit};
	struct keylist chg = {0};
	struct batching_val *cvals = NULL;
	struct sql uhead;
	bool constant;
	struct keylist k = {0};
	struct col_action *c;
	struct sql head;
	size_t nc, i, j;
	lethe_rc rc = LETHE_OK;

	c = erase_col_actions(t, ps->part, &nc);
	sql_init(&head, x->db, SQL_CAP);
	select_head(x, t, ps->part, c, nc, &head);
	/* Without keyed hashes every row gets the same values: update by key lists. */
	constant = nc > 0;
	for (i = 0; i < nc; i++)
		if (c[i].how == DM_ANON_HASH)
			constant = false;
	cvals = xcalloc(nc + 1, sizeof(*cvals));
	sql_init(&uhead, x->db, SQL_CAP);
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
		struct sql u;

		sql_init(&u, x->db, SQL_CAP);
		update_sql(x, t, c, nc, &u);
		rc = appdb_prepare(x->db, sql_str(&u), &q_upd, x->err);
		sql_free(&u);
	}
	while (rc == LETHE_OK && !ss->finished) {
		struct rw_batch b = {.t = t, .e = ps->part, .c = c, .nc = nc};
		int64_t limit = x->pace.batch, taken = 0;
		char *probe = NULL, *next_cursor = NULL;
		double t0, ms;

		if (k.pos >= k.n) {
			if (k.n > 0 && k.complete) {
				ss->finished = true;
				rc = store_step_put(x->st, x->job, ps->name, ss, x->err);
				break;
			}
			if (k.n == 0 && k.complete)
				k.complete = false; /* first pass */
			rc = erase_collect_keys(x, ps, ss->cursor, &k);
			if (rc != LETHE_OK)
				break;
			if (k.n == 0) {
				ss->finished = true;
				rc = store_step_put(x->st, x->job, ps->name, ss, x->err);
				break;
			}
		}
		rc = erase_begin_batch(x);
		if (rc != LETHE_OK)
			break;
		t0 = time_mono_ms();
		while (rc == LETHE_OK && k.pos < k.n && taken < limit) {
			size_t n = k.n - k.pos;

			if (n > KEY_CHUNK)
				n = KEY_CHUNK;
			if ((int64_t)n > limit - taken)
				n = (size_t)(limit - taken);
			rc = erase_run_chunk(x, ps, &cs, sql_str(&head), "", &k, k.pos, n, on_read,
			                     &b);
			k.pos += n;
			taken += (int64_t)n;
		}
		if (k.pos > 0)
			next_cursor = erase_val_tag(&k.v[k.pos - 1].v);
		for (i = 0; rc == LETHE_OK && i < b.n; i++) {
			struct appdb_val *v;

			if (!b.rows[i].changed)
				continue;
			if (probe == NULL)
				probe = erase_val_tag(&b.rows[i].key.v);
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

			rc = erase_run_chunk(x, &upd, &ucs, sql_str(&uhead), "", &chg, i, n,
			                     on_nothing, NULL);
		}
		free(chg.v);
		memset(&chg, 0, sizeof(chg));
		/* Before the app commit: holds, and the batch as pending (or done). */
		if (rc == LETHE_OK)
			rc = store_begin(x->st, x->err);
		for (i = 0; rc == LETHE_OK && ps->part->action == DM_RETAIN && i < b.n; i++) {
			char *key = erase_val_tag(&b.rows[i].key.v);

			rc = store_hold_add(x->st, t->name, key, x->job,
			                    b.rows[i].from + ps->part->retain_for, x->err);
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
			rc = store_step_put(x->st, x->job, ps->name, ss, x->err);
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
			rc = store_step_put(x->st, x->job, ps->name, ss, x->err);
		}
		if (rc == LETHE_OK)
			erase_after_batch(x, ms, taken, taken >= limit);
	}
	(void)sr;
	appdb_finalize(x->db, q_upd);
	erase_chunk_stmts_free(x, &cs);
	erase_chunk_stmts_free(x, &ucs);
	for (i = 0; i < nc && cvals != NULL; i++)
		free(cvals[i].buf);
	free(cvals);
	free(upd.params);
	sql_free(&uhead);
	erase_keylist_free(&k);
	sql_free(&head);
	free(c);
	return rc;
}
