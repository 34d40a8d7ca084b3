/* SPDX-License-Identifier: MIT */
/*
 * sweep_stats.c - the sweeper's measures and statistics (see sweep.h and
 * docs/internals/sweeper.md): backlog and lag per table, read with
 * bounded queries, and the counters exported as Prometheus text and JSON.
 * s->mu guards what other threads read (sweep_metrics, sweep_json).
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "db/sql.h"
#include "engine/sweep_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

static int64_t
time_of(const struct appdb_val *v)
{
	int64_t t = 0;

	if (v->type == APPDB_INT)
		return v->i;
	if (v->type == APPDB_TEXT && time_parse(v->s, &t) == LETHE_OK)
		return t;
	return 0;
}

/* Backlog (capped) and lag of @tb at @now. */
static lethe_rc
tab_measure(struct sweep *s, struct tab *tb, int64_t now, struct lethe_err *err)
{
	struct appdb_val *v, mv;
	struct appdb_stmt *q = NULL;
	size_t n;
	struct sql b, cur, from;
	int64_t backlog = 0, lag = 0;
	bool bounded;
	lethe_rc rc = LETHE_OK;

	if (tb->where == NULL)
		rc = sweep_tab_prepare(s, tb, err);
	if (rc != LETHE_OK)
		return rc;
	n = tb->nparams;
	sweep_set_cutoff(tb, now);
	v = sweep_batch_params(tb, 3);
	/* Anonymize tables: only rows after the cursor are still to do. */
	sql_init(&cur, s->db, SQL_CAP);
	if (tb->t->ttl.action == DM_ANONYMIZE && tb->has_cursor) {
		sql_add(&cur, " AND (");
		sql_ident(&cur, tb->t->ttl.column);
		sql_add(&cur, ", ");
		sql_ident(&cur, tb->t->key);
		sql_add(&cur, ") > (");
		v[n++] = tb->cursor_t.v;
		sql_slot(&cur, (int)n);
		sql_add(&cur, ", ");
		v[n++] = tb->cursor_k.v;
		sql_slot(&cur, (int)n);
		sql_add(&cur, ")");
	}
	/*
	 * Without an index leading with the when columns, matching rows are
	 * found by walking the time index: look at the oldest
	 * SWEEP_BACKLOG_CAP expired rows only, so the scan stays bounded.
	 */
	bounded = !tb->indexed && tb->t->ttl.nwhen > 0;
	sql_init(&from, s->db, SQL_CAP);
	if (bounded) {
		sql_add(&from, "(SELECT * FROM ");
		sql_ident(&from, tb->t->name);
		sql_add(&from, " WHERE ");
		sql_ident(&from, tb->t->ttl.column);
		sql_add(&from, " < ");
		sql_slot(&from, 1);
		sql_add(&from, " ORDER BY ");
		sql_ident(&from, tb->t->ttl.column);
		/* Parameters are positional: the conds' values, then the cursor's. */
		sql_addf(&from, " LIMIT %d) AS lethe_r WHERE ", SWEEP_BACKLOG_CAP);
		sql_true(&from);
		sql_add(&from, tb->conds);
	} else {
		sql_ident(&from, tb->t->name);
		sql_add(&from, " WHERE ");
		sql_add(&from, tb->where);
	}
	sql_add(&from, sql_str(&cur));
	sql_init(&b, s->db, SQL_CAP);
	sql_add(&b, "SELECT count(*) FROM (SELECT 1 FROM ");
	sql_add(&b, sql_str(&from));
	sql_addf(&b, " LIMIT %d) AS lethe_q", SWEEP_BACKLOG_CAP);
	rc = sql_rc(&cur) != LETHE_OK ? sql_rc(&cur) : sql_rc(&from);
	if (rc == LETHE_OK)
		rc = sql_rc(&b);
	if (rc != LETHE_OK)
		lethe_err_set(err, rc, "the sweep's measure of '%s' is too long", tb->t->name);
	else
		rc = appdb_query_int(s->db, sql_str(&b), v, n, &backlog, err);
	if (rc == LETHE_OK && backlog > 0) {
		sql_reset(&b);
		/* Not min(): with more terms than "col < ?" it reads the whole range. */
		sql_add(&b, "SELECT ");
		sql_ident(&b, tb->t->ttl.column);
		sql_add(&b, " FROM ");
		sql_add(&b, sql_str(&from));
		sql_add(&b, " ORDER BY ");
		sql_ident(&b, tb->t->ttl.column);
		sql_add(&b, " LIMIT 1");
		rc = sql_rc(&b);
		if (rc == LETHE_OK)
			rc = appdb_prepare(s->db, sql_str(&b), &q, err);
		if (rc == LETHE_OK)
			rc = appdb_bind_all(s->db, q, v, n);
		if (rc == LETHE_OK && appdb_step(s->db, q, err) == APPDB_ROW) {
			appdb_column(s->db, q, 0, &mv);
			if (mv.type != APPDB_NULL)
				lag = now - tb->t->ttl.after - time_of(&mv);
		}
		appdb_finalize(s->db, q);
	}
	sql_free(&b);
	sql_free(&from);
	sql_free(&cur);
	free(v);
	pthread_mutex_lock(&s->mu);
	tb->st.backlog = backlog;
	tb->st.lag_s = lag > 0 ? lag : 0;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

lethe_rc
sweep_measure(struct sweep *s, int64_t now, struct lethe_err *err)
{
	struct lethe_err e = {0};
	int64_t n = 0;
	size_t i;
	lethe_rc rc = LETHE_OK;

	for (i = 0; i < s->ntabs; i++)
		sweep_note_fail(s->tabs[i].t->name, tab_measure(s, &s->tabs[i], now, &e), &e, &rc,
		                err);
	sweep_note_fail("legal holds", store_hold_due_count(s->st, now, &n, &e), &e, &rc, err);
	pthread_mutex_lock(&s->mu);
	s->tot.holds_backlog = n;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void
sweep_table_get(struct sweep *s, size_t i, struct sweep_table_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->tabs[i].st;
	pthread_mutex_unlock(&s->mu);
}

void
sweep_totals_get(struct sweep *s, struct sweep_totals *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->tot;
	pthread_mutex_unlock(&s->mu);
}

void
sweep_metrics(struct sweep *s, struct buf *b)
{
	size_t i;

	pthread_mutex_lock(&s->mu);
	buf_adds(b, "# HELP lethe_sweep_backlog_rows Expired rows not yet removed (last measure; "
	            "counts stop at 1000000).\n# TYPE lethe_sweep_backlog_rows gauge\n");
	for (i = 0; i < s->ntabs; i++)
		buf_addf(b, "lethe_sweep_backlog_rows{table=\"%s\"} %lld\n", s->tabs[i].t->name,
		         (long long)s->tabs[i].st.backlog);
	buf_adds(b, "# HELP lethe_sweep_lag_seconds How long the oldest expired row has been "
	            "expired (last measure).\n# TYPE lethe_sweep_lag_seconds gauge\n");
	for (i = 0; i < s->ntabs; i++)
		buf_addf(b, "lethe_sweep_lag_seconds{table=\"%s\"} %lld\n", s->tabs[i].t->name,
		         (long long)s->tabs[i].st.lag_s);
	buf_adds(b, "# HELP lethe_sweep_rows_total Rows removed by TTL sweeps.\n"
	            "# TYPE lethe_sweep_rows_total counter\n");
	for (i = 0; i < s->ntabs; i++)
		buf_addf(b, "lethe_sweep_rows_total{table=\"%s\",action=\"%s\"} %lld\n",
		         s->tabs[i].t->name, dm_action_str(s->tabs[i].t->ttl.action),
		         (long long)s->tabs[i].st.rows);
	buf_adds(b, "# HELP lethe_sweep_media_files_total Media files removed by TTL sweeps.\n"
	            "# TYPE lethe_sweep_media_files_total counter\n");
	for (i = 0; i < s->ntabs; i++)
		if (s->tabs[i].t->nmedia > 0)
			buf_addf(b, "lethe_sweep_media_files_total{table=\"%s\"} %lld\n",
			         s->tabs[i].t->name, (long long)s->tabs[i].st.media);
	buf_adds(b, "# HELP lethe_sweep_media_missing_total Media files of swept rows that were "
	            "already gone.\n# TYPE lethe_sweep_media_missing_total counter\n");
	for (i = 0; i < s->ntabs; i++)
		if (s->tabs[i].t->nmedia > 0)
			buf_addf(b, "lethe_sweep_media_missing_total{table=\"%s\"} %lld\n",
			         s->tabs[i].t->name, (long long)s->tabs[i].st.media_missing);
	buf_addf(b,
	         "# HELP lethe_sweep_holds_released_total Legal holds released when their period "
	         "ended.\n# TYPE lethe_sweep_holds_released_total counter\n"
	         "lethe_sweep_holds_released_total %lld\n"
	         "# HELP lethe_sweep_hold_rows_total Rows deleted when their hold ended.\n"
	         "# TYPE lethe_sweep_hold_rows_total counter\nlethe_sweep_hold_rows_total %lld\n"
	         "# HELP lethe_sweep_holds_backlog Ended holds not yet released (last measure).\n"
	         "# TYPE lethe_sweep_holds_backlog gauge\nlethe_sweep_holds_backlog %lld\n"
	         "# HELP lethe_sweep_passes_total Sweep passes.\n"
	         "# TYPE lethe_sweep_passes_total counter\nlethe_sweep_passes_total %lld\n"
	         "# HELP lethe_sweep_pass_seconds Duration of the last pass.\n"
	         "# TYPE lethe_sweep_pass_seconds gauge\nlethe_sweep_pass_seconds %.6f\n"
	         "# HELP lethe_sweep_pass_seconds_max Longest pass.\n"
	         "# TYPE lethe_sweep_pass_seconds_max gauge\nlethe_sweep_pass_seconds_max %.6f\n"
	         "# HELP lethe_sweep_transaction_seconds_max Longest sweep write transaction.\n"
	         "# TYPE lethe_sweep_transaction_seconds_max gauge\n"
	         "lethe_sweep_transaction_seconds_max %.6f\n",
	         (long long)s->tot.holds_released, (long long)s->tot.holds_rows,
	         (long long)s->tot.holds_backlog, (long long)s->tot.passes,
	         s->tot.last_pass_ms / 1000.0, s->tot.max_pass_ms / 1000.0,
	         s->tot.max_txn_ms / 1000.0);
	pthread_mutex_unlock(&s->mu);
}

json_t *
sweep_json(struct sweep *s)
{
	json_t *tables = json_array();
	struct sweep_totals tot;
	size_t i;

	for (i = 0; i < s->ntabs; i++) {
		struct sweep_table_stats st;
		json_t *o;

		sweep_table_get(s, i, &st);
		o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "table", st.table->name, "action",
		              dm_action_str(st.table->ttl.action), "rows", (json_int_t)st.rows,
		              "backlog", (json_int_t)st.backlog, "lag_seconds",
		              (json_int_t)st.lag_s);
		if (st.odd > 0)
			json_object_set_new(o, "odd_times", json_integer(st.odd));
		if (st.table->nmedia > 0) {
			json_object_set_new(o, "media_files", json_integer(st.media));
			json_object_set_new(o, "media_missing", json_integer(st.media_missing));
			json_object_set_new(o, "media_failed", json_integer(st.media_failed));
		}
		json_array_append_new(tables, o);
	}
	sweep_totals_get(s, &tot);
	return json_pack("{s:b, s:o, s:I, s:I, s:I, s:I, s:f, s:I}", "dry_run", s->o.dry_run,
	                 "tables", tables, "holds_released", (json_int_t)tot.holds_released,
	                 "hold_rows", (json_int_t)tot.holds_rows, "holds_backlog",
	                 (json_int_t)tot.holds_backlog, "passes", (json_int_t)tot.passes,
	                 "max_transaction_ms", tot.max_txn_ms, "transactions",
	                 (json_int_t)tot.txns);
}
