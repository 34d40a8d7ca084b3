/* SPDX-License-Identifier: MIT */
/*
 * sweep_sql.c - the sweeper's statements (see sweep.c and
 * docs/internals/sweeper.md): per TTL table the where (cutoff, the time
 * column's form, the map's when conditions, for anonymize the not-yet-
 * rewritten test), the delete, select and update built from it with the
 * SQL builder, the index advice and the check for odd time values.  Every
 * database-specific construct comes from the dialect (db/sql.h).
 */
#include "util/fmacros.h"

#include "db/sql.h"
#include "engine/plan.h"
#include "engine/sweep_internal.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"

/*
 * Does an index let the sweep read only @t's expired rows that match its
 * `when`: one on (when columns..., time column), or the time column alone
 * without `when`?
 */
static bool
tab_index_fits(struct appdb *db, const struct dm_table *t)
{
	const char **lead = xcalloc(t->ttl.nwhen ? t->ttl.nwhen : 1, sizeof(*lead));
	size_t i;
	bool ok;

	for (i = 0; i < t->ttl.nwhen; i++)
		lead[i] = t->ttl.when[i].column;
	ok = db->ops->index_leads(db, t->name, lead, t->ttl.nwhen, t->ttl.column);
	free(lead);
	return ok;
}

int
sweep_check_indexes(const struct datamap *dm, struct appdb *db)
{
	size_t i, j;
	int n = 0;

	for (i = 0; i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];
		const char *dot = strchr(t->name, '.');
		struct buf b;

		if (!t->ttl.present || tab_index_fits(db, t))
			continue;
		buf_init(&b, 1024);
		/* An index is named without its table's schema (it lives there). */
		buf_addf(&b, "CREATE INDEX %s_", dot != NULL ? dot + 1 : t->name);
		for (j = 0; j < t->ttl.nwhen; j++)
			buf_addf(&b, "%s_", t->ttl.when[j].column);
		buf_addf(&b, "%s_idx ON ", t->ttl.column);
		appdb_quote(db, &b, t->name);
		buf_adds(&b, " (");
		for (j = 0; j < t->ttl.nwhen; j++) {
			appdb_quote(db, &b, t->ttl.when[j].column);
			buf_adds(&b, ", ");
		}
		appdb_quote(db, &b, t->ttl.column);
		buf_adds(&b, ");");
		if (t->ttl.nwhen == 0)
			log_warnx("%s:%d: table '%s': the ttl column '%s' has no index, so every "
			          "sweep scans the table; create one: %s",
			          dm->path, t->ttl.line, t->name, t->ttl.column, buf_str(&b));
		else
			log_warnx(
			    "%s:%d: table '%s': no index on the ttl's when columns and then "
			    "'%s', so every sweep batch re-reads the expired rows that do not "
			    "match; create one: %s",
			    dm->path, t->ttl.line, t->name, t->ttl.column, buf_str(&b));
		buf_free(&b);
		n++;
	}
	return n;
}

/*
 * Anonymize: append to @w " AND (...)", true while some column of the row
 * is not yet in its target form (null: not NULL; {set: V}: not V; hash:
 * not NULL and not a keyed hash text), so selection, backlog and lag count
 * only rows still to rewrite.  {set: V} values are added to @w's params.
 */
static void
add_not_target(const struct tab *tb, struct sql *w)
{
	size_t i;

	sql_add(w, " AND (");
	for (i = 0; i < tb->ncols; i++) {
		const struct dm_anon_col *c = &tb->cols[i];

		if (i > 0)
			sql_add(w, " OR ");
		sql_ident(w, c->column);
		if (c->how == DM_ANON_NULL) {
			sql_add(w, " IS NOT NULL");
		} else if (c->how == DM_ANON_SET) {
			sql_is(w, true);
			sql_value(w, dm_value_val(&c->set));
		} else {
			sql_add(w, " IS NOT NULL AND NOT (");
			sql_is_hex_text(w, c->column, HASH_PREFIX, HASH_TEXT_LEN);
			sql_add(w, ")");
		}
	}
	sql_add(w, ")");
}

/*
 * Append to @w " AND <the time column holds a value of its format>": epoch
 * seconds as an integer, or "YYYY-MM-DD HH:MM:SS" text.  Rows with other
 * values (text in a unix column, integers or "2026-1-5" in a datetime one)
 * would compare wrongly against the cutoff; they are left alone (counted
 * by sweep_tab_odd_rows).  The index range "col < ?" still applies.
 */
static void
add_shape(struct sql *w, const struct dm_table *t)
{
	sql_add(w, " AND ");
	if (t->ttl.format == DM_TIME_UNIX)
		sql_is_integer(w, t->ttl.column);
	else
		sql_is_datetime_text(w, t->ttl.column);
}

/*
 * Warn once about rows of @tb whose time is not in the column's format (the
 * sweep leaves them alone).  Bounded: a datetime column looks at its oldest
 * ODD_CAP expired values (numbers and epoch text sort first), a unix column
 * at text values (they sort after numbers: an index range).
 */
void
sweep_tab_odd_rows(struct sweep *s, struct tab *tb)
{
	const struct dm_table *t = tb->t;
	struct lethe_err err = {0};
	struct sql b;
	int64_t n = 0;
	lethe_rc rc;

	sql_init(&b, s->db, SQL_CAP);
	sql_add(&b, "SELECT count(*) FROM (SELECT ");
	sql_ident(&b, t->ttl.column);
	sql_add(&b, " FROM ");
	sql_ident(&b, t->name);
	sql_add(&b, " WHERE ");
	if (t->ttl.format == DM_TIME_UNIX) {
		sql_text_range(&b, t->ttl.column);
		sql_addf(&b, " LIMIT %d) AS lethe_q", ODD_CAP);
	} else {
		sql_ident(&b, t->ttl.column);
		sql_add(&b, " < ");
		sql_slot(&b, 1);
		sql_add(&b, " ORDER BY ");
		sql_ident(&b, t->ttl.column);
		sql_addf(&b, " LIMIT %d) AS lethe_q WHERE NOT (", ODD_CAP);
		sql_true(&b);
		add_shape(&b, t);
		sql_add(&b, ")");
	}
	rc = sql_rc(&b);
	if (rc != LETHE_OK)
		lethe_err_set(&err, rc, "statement too long");
	else
		rc = appdb_query_int(s->db, sql_str(&b), tb->params,
		                     t->ttl.format == DM_TIME_UNIX ? 0 : 1, &n, &err);
	if (rc != LETHE_OK)
		log_warnx("sweep: %s: checking the form of '%s': %s", t->name, t->ttl.column,
		          err.msg);
	else if (n > 0)
		log_warnx("sweep: table '%s': %s%lld rows have a '%s' that is not %s; the sweep "
		          "leaves them alone",
		          t->name, n >= ODD_CAP ? "at least " : "", (long long)n, t->ttl.column,
		          t->ttl.format == DM_TIME_UNIX ? "integer epoch seconds"
		                                        : "\"YYYY-MM-DD HH:MM:SS\" text");
	sql_free(&b);
	pthread_mutex_lock(&s->mu);
	tb->st.odd = n;
	pthread_mutex_unlock(&s->mu);
}

/*
 * The where of @tb into tb->where, tb->conds and tb->params: "col < ?" (the
 * cutoff, set per pass), the shape, the when conditions and, to anonymize,
 * the not-yet-target test.  *@shape_end gets the offset where the shape ends.
 */
static lethe_rc
tab_where(struct sweep *s, struct tab *tb, size_t *shape_end, struct lethe_err *err)
{
	const struct dm_table *t = tb->t;
	struct sql w;
	size_t i;
	lethe_rc rc;

	sql_init(&w, s->db, SQL_CAP);
	sql_ident(&w, t->ttl.column);
	sql_add(&w, " < ");
	sql_value(&w, (struct appdb_val){.type = APPDB_NULL});
	i = sql_len(&w);
	add_shape(&w, t);
	*shape_end = sql_len(&w);
	plan_add_conds(&w, t->ttl.when, t->ttl.nwhen);
	if (t->ttl.action == DM_ANONYMIZE) {
		tb->cols = dm_ttl_columns(t, &tb->ncols);
		add_not_target(tb, &w);
	}
	rc = sql_rc(&w);
	if (rc == LETHE_OK) {
		tb->where = xstrdup(sql_str(&w));
		tb->conds = xstrdup(tb->where + i);
		free(tb->params);
		tb->params = sql_params_take(&w, &tb->nparams);
		tb->cap = tb->nparams;
	} else {
		lethe_err_set(err, rc, "the sweep's statements for '%s' are too long", t->name);
	}
	sql_free(&w);
	return rc;
}

/*
 * The delete of @tb into @q (initialised by the caller; @j: where the shape
 * ends in tb->where).  SQLite: DELETE FROM t WHERE +(outer) AND key IN
 * (SELECT key FROM t WHERE where ORDER BY col LIMIT ?) [RETURNING media
 * columns].  Where deleted rows leave their index entries (PostgreSQL),
 * each batch would walk every entry the earlier ones left; there the delete
 * runs in a CTE that returns the largest time it removed, the next batch's
 * lower bound (@lower: the subquery adds "AND col >= ?" before the limit):
 *   WITH lethe_d AS (DELETE ... RETURNING [media,] col AS lethe_t)
 *   SELECT count(*), max(lethe_t) FROM lethe_d                  (no media)
 *   SELECT media..., max(lethe_t) OVER () FROM lethe_d          (media)
 * Values: the where's, the subquery's, [the bound,] the limit.
 */
lethe_rc
sweep_delete_sql(struct appdb *db, const struct tab *tb, size_t j, bool lower, struct sql *q)
{
	const struct dm_table *t = tb->t;
	bool cte = appdb_dialect(db)->deletes_keep_index_entries;
	struct sql outer;
	lethe_rc rc;

	/* The outer copy: expiry and conds, without the shape (the subquery has it). */
	sql_init(&outer, db, SQL_CAP);
	sql_ident(&outer, t->ttl.column);
	sql_add(&outer, " < ");
	sql_slot(&outer, 1);
	sql_add(&outer, tb->where + j);
	/*
	 * The where again on the outer rows (the key may not be unique), as
	 * one term the planner cannot use an index for: the rows are found by
	 * key.
	 */
	if (cte)
		sql_add(q, "WITH lethe_d AS (");
	sql_add(q, "DELETE FROM ");
	sql_ident(q, t->name);
	sql_add(q, " WHERE ");
	sql_no_index(q, sql_str(&outer));
	sql_add(q, " AND ");
	sql_ident(q, t->key);
	/* PostgreSQL: an array the planner cannot size keeps the key index (no hash join). */
	sql_add(q, cte ? " = ANY(ARRAY(SELECT " : " IN (SELECT ");
	sql_ident(q, t->key);
	sql_add(q, " FROM ");
	sql_ident(q, t->name);
	sql_add(q, " WHERE ");
	sql_add(q, tb->where);
	if (lower) {
		sql_add(q, " AND ");
		sql_ident(q, t->ttl.column);
		sql_add(q, " >= ");
		sql_slot(q, (int)tb->nparams + 1);
	}
	sql_add(q, " ORDER BY ");
	sql_ident(q, t->ttl.column);
	sql_add(q, " LIMIT ");
	sql_slot(q, (int)tb->nparams + (lower ? 2 : 1));
	sql_add(q, cte ? "))" : ")");
	if (t->nmedia > 0 || cte)
		sql_add(q, " RETURNING ");
	if (t->nmedia > 0)
		sql_idents(q, (const char *const *)t->media, t->nmedia);
	if (cte) {
		if (t->nmedia > 0)
			sql_add(q, ", ");
		sql_ident(q, t->ttl.column);
		sql_add(q, " AS lethe_t) SELECT ");
		if (t->nmedia > 0) {
			sql_idents(q, (const char *const *)t->media, t->nmedia);
			sql_add(q, ", max(lethe_t) OVER () FROM lethe_d");
		} else {
			sql_add(q, "count(*), max(lethe_t) FROM lethe_d");
		}
	}
	rc = sql_rc(&outer) != LETHE_OK ? sql_rc(&outer) : sql_rc(q);
	sql_free(&outer);
	return rc;
}

/* Prepare the delete of @tb (see sweep_delete_sql) into *@out. */
static lethe_rc
tab_delete_prepare(struct sweep *s, struct tab *tb, size_t j, bool lower, struct appdb_stmt **out,
                   struct lethe_err *err)
{
	struct sql q;
	lethe_rc rc;

	sql_init(&q, s->db, SQL_CAP);
	rc = sweep_delete_sql(s->db, tb, j, lower, &q);
	if (rc == LETHE_OK)
		rc = appdb_prepare(s->db, sql_str(&q), out, err);
	else
		lethe_err_set(err, rc, "the sweep's delete of '%s' is too long", tb->t->name);
	sql_free(&q);
	return rc;
}

/* Build the SQL of @tb and prepare its statements (see tab_ready). */
static lethe_rc
tab_build(struct sweep *s, struct tab *tb, struct lethe_err *err)
{
	const struct dm_table *t = tb->t;
	struct appdb *db = s->db;
	struct sql q, tail, qc;
	size_t i, j, lim;
	lethe_rc rc;

	rc = tab_where(s, tb, &j, err);
	if (rc != LETHE_OK)
		return rc;
	tb->indexed = tab_index_fits(db, t);
	lim = tb->nparams + 1; /* anonymize: the position of the limit */

	if (t->ttl.action == DM_DELETE) {
		rc = tab_delete_prepare(s, tb, j, false, &tb->del, err);
		if (rc == LETHE_OK && appdb_dialect(db)->deletes_keep_index_entries)
			rc = tab_delete_prepare(s, tb, j, true, &tb->delk, err);
		return rc;
	}
	sql_init(&q, db, SQL_CAP);
	/* anonymize: SELECT key, columns..., time FROM t WHERE <where> [cursor] ORDER BY ... */
	sql_add(&q, "SELECT ");
	sql_ident(&q, t->key);
	for (i = 0; i < tb->ncols; i++) {
		sql_add(&q, ", ");
		sql_ident(&q, tb->cols[i].column);
	}
	sql_add(&q, ", ");
	sql_ident(&q, t->ttl.column);
	sql_add(&q, " FROM ");
	sql_ident(&q, t->name);
	sql_add(&q, " WHERE ");
	sql_add(&q, tb->where);
	sql_init(&tail, db, SQL_CAP);
	sql_add(&tail, " ORDER BY ");
	sql_ident(&tail, t->ttl.column);
	sql_add(&tail, ", ");
	sql_ident(&tail, t->key);
	sql_add(&tail, " LIMIT ");
	/* sel: the limit is ?lim; selc: cursor ?lim, ?lim+1, limit ?lim+2 */
	sql_init(&qc, db, SQL_CAP);
	sql_add(&qc, sql_str(&q));
	sql_add(&qc, " AND (");
	sql_ident(&qc, t->ttl.column);
	sql_add(&qc, ", ");
	sql_ident(&qc, t->key);
	sql_add(&qc, ") > (");
	sql_slot(&qc, (int)lim);
	sql_add(&qc, ", ");
	sql_slot(&qc, (int)lim + 1);
	sql_add(&qc, ")");
	sql_add(&qc, sql_str(&tail));
	sql_slot(&qc, (int)lim + 2);
	sql_add(&q, sql_str(&tail));
	sql_slot(&q, (int)lim);
	rc = sql_rc(&q) != LETHE_OK ? sql_rc(&q) : sql_rc(&qc);
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, sql_str(&q), &tb->sel, err);
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, sql_str(&qc), &tb->selc, err);
	sql_free(&qc);
	sql_free(&tail);
	sql_reset(&q);
	sql_add(&q, "UPDATE ");
	sql_ident(&q, t->name);
	sql_add(&q, " SET ");
	for (i = 0; i < tb->ncols; i++) {
		if (i > 0)
			sql_add(&q, ", ");
		sql_ident(&q, tb->cols[i].column);
		sql_add(&q, " = ");
		sql_slot(&q, (int)i + 1);
	}
	/* The row is still expired and not in target form (the key may not be unique). */
	sql_add(&q, " WHERE ");
	sql_add(&q, tb->where);
	sql_add(&q, " AND ");
	sql_ident(&q, t->key);
	sql_add(&q, " = ");
	sql_slot(&q, (int)(tb->ncols + tb->nparams + 1));
	if (rc == LETHE_OK && sql_rc(&q) != LETHE_OK)
		rc = lethe_err_set(err, sql_rc(&q), "the sweep's update of '%s' is too long",
		                   t->name);
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, sql_str(&q), &tb->upd, err);
	sql_free(&q);
	return rc;
}

/* Make @tb's statements once; a failure leaves nothing half-made (tried again later). */
lethe_rc
sweep_tab_prepare(struct sweep *s, struct tab *tb, struct lethe_err *err)
{
	lethe_rc rc = tab_build(s, tb, err);

	if (rc == LETHE_OK)
		return rc;
	appdb_finalize(s->db, tb->del);
	appdb_finalize(s->db, tb->delk);
	appdb_finalize(s->db, tb->sel);
	appdb_finalize(s->db, tb->selc);
	appdb_finalize(s->db, tb->upd);
	tb->del = tb->delk = tb->sel = tb->selc = tb->upd = NULL;
	free(tb->where);
	free(tb->conds);
	tb->where = tb->conds = NULL;
	tb->nparams = 0;
	return rc;
}
