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
 */
#include "util/fmacros.h"

#include <pthread.h>

#include "engine/batching.h"
#include "engine/plan.h"
#include "engine/sweep.h"
#include "db/sql.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define SQL_CAP (1u << 16)
#define ODD_CAP 10000 /* odd time values counted at most (a bounded index walk) */
#define SWEEP_JOB 0   /* media_pending records of the sweeper */
/* Anonymize: walk the expired rows from the start again this often (rows the app
 * inserted meanwhile with times behind the cursor). */
#define RESCAN_MS (3600.0 * 1000.0)
/* Media files that could not be removed: settle (retry) at most this often. */
#define SETTLE_MS (600.0 * 1000.0)

/* One TTL table. */
struct tab {
	const struct dm_table *t;       /* the table */
	struct sweep_table_stats st;    /* statistics (guarded by sweep.mu) */
	const struct dm_anon_col *cols; /* anonymize: columns rewritten */
	size_t ncols;                   /* number of them */
	char *where;                    /* "col" < ?1 AND conds */
	char *conds;                    /* the " AND conds" part of where ("" without when) */
	bool indexed;                   /* an index leads with the when columns, then col */
	bool odd_checked;               /* tab_odd_rows ran */
	struct appdb_val *params;       /* ?1 (the cutoff, set per pass), then the conds' values */
	size_t nparams, cap;            /* count and capacity */
	struct appdb_stmt *del;         /* delete batch */
	struct appdb_stmt *sel;         /* anonymize: first batch (no cursor) */
	struct appdb_stmt *selc;        /* anonymize: batch after the cursor */
	struct appdb_stmt *upd;         /* anonymize: one row by key */
	int64_t batch;                  /* this table's batch size */
	bool has_cursor;                /* anonymize: cursor_t/cursor_k are set */
	double walk_started;            /* anonymize: monotonic ms the current walk began */
	struct batching_val cursor_t, cursor_k; /* anonymize: (time, key) of the last row seen */
	char cutoff_text[32];                   /* the cutoff of the current pass, as text */
	bool media_dirty;                       /* recorded media files may be left unsettled */
	double next_settle; /* monotonic ms before which media_settle does not run again */
};

struct sweep {
	const struct datamap *dm;   /* the validated map */
	struct appdb *db;           /* the app database */
	struct store *st;           /* the state store */
	struct sweep_opts o;        /* options */
	struct batching pace;       /* politeness and transaction statistics */
	struct tab *tabs;           /* TTL tables, map order */
	size_t ntabs;               /* number of them */
	size_t rr;                  /* round-robin: the table the next pass starts with */
	struct appdb_stmt **hold_q; /* per map table (by index): delete one held row */
	int64_t hold_batch;         /* batch size of hold releases */
	bool holds_dirty;           /* a hold batch failed: recorded files may be unsettled */
	double holds_next_settle;   /* monotonic ms before which holds do not settle again */
	pthread_mutex_t mu;         /* guards every tab's st and tot */
	struct sweep_totals tot;    /* whole-sweeper statistics */
};

/* Replace the value held by @o with a copy of @v. */
static void
sval_set(struct batching_val *o, const struct appdb_val *v)
{
	free(o->buf);
	batching_val_set(o, v);
}

static void
sval_clear(struct batching_val *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

static bool
stopped(const struct sweep *s)
{
	return s->o.stop != NULL && *s->o.stop;
}

static lethe_rc
db_fail(struct sweep *s, struct lethe_err *err)
{
	(void)s;
	return err != NULL && err->rc != LETHE_OK ? err->rc : LETHE_E_DB;
}

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
		if (dm->tables[i].ttl.present || dm->tables[i].action == DM_RETAIN)
			return true;
	return false;
}

lethe_rc
sweep_check_config(const struct datamap *dm, const char *media_root, struct lethe_err *err)
{
	size_t i;

	for (i = 0; i < dm->ntables && media_root == NULL; i++) {
		const struct dm_table *t = &dm->tables[i];

		if (t->nmedia > 0 && (t->ttl.present || t->action == DM_RETAIN))
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "table '%s' has media columns but app.media_root is "
			                     "not configured",
			                     t->name);
	}
	return LETHE_OK;
}

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
		struct buf b;

		if (!t->ttl.present || tab_index_fits(db, t))
			continue;
		buf_init(&b, 1024);
		buf_addf(&b, "CREATE INDEX %s_", t->name);
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
			sql_add(w, " IS NOT ");
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
 * by tab_odd_rows).  The index range "col < ?" still applies.
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
static void
tab_odd_rows(struct sweep *s, struct tab *tb)
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
		sql_addf(&b, " LIMIT %d)", ODD_CAP);
	} else {
		sql_ident(&b, t->ttl.column);
		sql_add(&b, " < ");
		sql_slot(&b, 1);
		sql_add(&b, " ORDER BY ");
		sql_ident(&b, t->ttl.column);
		sql_addf(&b, " LIMIT %d) WHERE NOT (", ODD_CAP);
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

/* Build the SQL of @tb and prepare its statements (see tab_ready). */
static lethe_rc
tab_build(struct sweep *s, struct tab *tb, struct lethe_err *err)
{
	const struct dm_table *t = tb->t;
	struct appdb *db = s->db;
	struct sql q, outer, tail, qc;
	size_t i, j, lim;
	lethe_rc rc;

	rc = tab_where(s, tb, &j, err);
	if (rc != LETHE_OK)
		return rc;
	tb->indexed = tab_index_fits(db, t);
	lim = tb->nparams + 1; /* anonymize: the position of the limit */

	sql_init(&q, db, SQL_CAP);
	if (t->ttl.action == DM_DELETE) {
		/* The delete's outer copy: expiry and conds, without the shape (the subquery has
		 * it). */
		sql_init(&outer, db, SQL_CAP);
		sql_ident(&outer, t->ttl.column);
		sql_add(&outer, " < ");
		sql_slot(&outer, 1);
		sql_add(&outer, tb->where + j);
		/*
		 * The where again on the outer rows (the key may not be unique), as
		 * one term the planner cannot use an index for: the rows are
		 * found by key.  Values: the where's, the subquery's, the limit.
		 */
		sql_add(&q, "DELETE FROM ");
		sql_ident(&q, t->name);
		sql_add(&q, " WHERE ");
		sql_no_index(&q, sql_str(&outer));
		sql_add(&q, " AND ");
		sql_ident(&q, t->key);
		sql_add(&q, " IN (SELECT ");
		sql_ident(&q, t->key);
		sql_add(&q, " FROM ");
		sql_ident(&q, t->name);
		sql_add(&q, " WHERE ");
		sql_add(&q, tb->where);
		sql_add(&q, " ORDER BY ");
		sql_ident(&q, t->ttl.column);
		sql_add(&q, " LIMIT ");
		sql_slot(&q, (int)lim);
		sql_add(&q, ")");
		if (t->nmedia > 0) {
			sql_add(&q, " RETURNING ");
			sql_idents(&q, (const char *const *)t->media, t->nmedia);
		}
		rc = sql_rc(&outer) != LETHE_OK ? sql_rc(&outer) : sql_rc(&q);
		if (rc == LETHE_OK)
			rc = appdb_prepare(db, sql_str(&q), &tb->del, err);
		else
			lethe_err_set(err, rc, "the sweep's delete of '%s' is too long", t->name);
		sql_free(&outer);
		sql_free(&q);
		return rc;
	}
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
static lethe_rc
tab_prepare(struct sweep *s, struct tab *tb, struct lethe_err *err)
{
	lethe_rc rc = tab_build(s, tb, err);

	if (rc == LETHE_OK)
		return rc;
	appdb_finalize(s->db, tb->del);
	appdb_finalize(s->db, tb->sel);
	appdb_finalize(s->db, tb->selc);
	appdb_finalize(s->db, tb->upd);
	tb->del = tb->sel = tb->selc = tb->upd = NULL;
	free(tb->where);
	free(tb->conds);
	tb->where = tb->conds = NULL;
	tb->nparams = 0;
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
		appdb_finalize(s->db, tb->sel);
		appdb_finalize(s->db, tb->selc);
		appdb_finalize(s->db, tb->upd);
		free(tb->where);
		free(tb->conds);
		free(tb->params);
		sval_clear(&tb->cursor_t);
		sval_clear(&tb->cursor_k);
	}
	for (i = 0; i < s->dm->ntables; i++)
		appdb_finalize(s->db, s->hold_q[i]);
	free(s->hold_q);
	free(s->tabs);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---- media ------------------------------------------------------------------- */

/* Does some row of @t still name media object @key? */
static lethe_rc
media_referenced(struct sweep *s, const struct dm_table *t, const char *key, bool *out,
                 struct lethe_err *err)
{
	struct appdb_val v = {.type = APPDB_TEXT, .s = key};
	struct buf b;
	int64_t n = 0;
	size_t i;
	lethe_rc rc;

	buf_init(&b, SQL_CAP);
	buf_adds(&b, "SELECT count(*) FROM (SELECT 1 FROM ");
	appdb_quote(s->db, &b, t->name);
	buf_adds(&b, " WHERE ");
	for (i = 0; i < t->nmedia; i++) {
		if (i > 0)
			buf_adds(&b, " OR ");
		appdb_quote(s->db, &b, t->media[i]);
		buf_adds(&b, " = ");
		appdb_param(s->db, &b, 1);
	}
	buf_adds(&b, " LIMIT 1)");
	rc = appdb_query_int(s->db, buf_str(&b), &v, 1, &n, err);
	buf_free(&b);
	*out = n > 0;
	return rc;
}

/*
 * Settle the files recorded for @tb's table that no batch of this process
 * saw through (a crash, a failed commit): a file no row names any more is
 * removed (its row's deletion committed), one a row still names is
 * forgotten (the row will be swept again).  Files that cannot be removed
 * stay recorded and the table stays dirty.
 */
static lethe_rc
media_settle(struct sweep *s, struct tab *tb, struct lethe_err *err)
{
	const struct dm_table *t = tb->t;
	char **keys = NULL;
	bool *settled = NULL; /* per key: removed, or still named by a row: forget it */
	size_t n = 0, i;
	int64_t bad = 0, removed = 0;
	lethe_rc rc;

	rc = store_media_list(s->st, SWEEP_JOB, t->name, &keys, &n, err);
	settled = xcalloc(n ? n : 1, sizeof(*settled));
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		bool live = false;

		rc = media_referenced(s, t, keys[i], &live, err);
		if (rc != LETHE_OK)
			break;
		if (live) {
			settled[i] = true;
		} else if (batching_media_remove(s->o.media_root, keys[i])) {
			removed++;
			settled[i] = true;
		} else {
			bad++;
		}
	}
	if (rc == LETHE_OK && n > 0) {
		/* Forget exactly the settled keys: records another process adds meanwhile stay. */
		rc = store_begin(s->st, err);
		for (i = 0; rc == LETHE_OK && i < n; i++)
			if (settled[i])
				rc = store_media_remove(s->st, SWEEP_JOB, t->name, keys[i], err);
		if (rc == LETHE_OK)
			rc = store_commit(s->st, err);
		else
			store_rollback(s->st);
	}
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(settled);
	if (bad > 0)
		log_warnx("sweep: %lld media files of %s could not be removed; retrying in %d "
		          "minutes",
		          (long long)bad, t->name, (int)(SETTLE_MS / 60000));
	tb->media_dirty = bad > 0 || rc != LETHE_OK;
	/* Each settle reads the table once per recorded file: not every pass. */
	tb->next_settle = time_mono_ms() + SETTLE_MS;
	pthread_mutex_lock(&s->mu);
	tb->st.media += removed;
	tb->st.media_failed = bad;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/*
 * After the commit that deleted their rows: remove the @n files @keys of
 * @table that this batch recorded, and forget those records (only these:
 * another process's records are never touched here).  A file that cannot
 * be removed stays recorded and marks @tb (or, NULL, the holds) dirty.
 */
static lethe_rc
media_done(struct sweep *s, struct tab *tb, const char *table, char **keys, size_t n,
           struct lethe_err *err)
{
	int64_t removed = 0, bad = 0;
	size_t i;
	lethe_rc rc;

	rc = store_begin(s->st, err);
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		if (batching_media_remove(s->o.media_root, keys[i])) {
			removed++;
			rc = store_media_remove(s->st, SWEEP_JOB, table, keys[i], err);
		} else {
			bad++;
		}
	}
	if (rc == LETHE_OK)
		rc = store_commit(s->st, err);
	else
		store_rollback(s->st);
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
		rc = media_settle(s, tb, err);
		dirty = dirty || tb->media_dirty;
	}
	s->holds_dirty = dirty || rc != LETHE_OK;
	return rc;
}

/* Record @keys (object keys of rows being deleted) before the app commit. */
static lethe_rc
media_record(struct sweep *s, const char *table, char **keys, size_t n, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc;

	if (n == 0)
		return LETHE_OK;
	rc = store_begin(s->st, err);
	for (i = 0; rc == LETHE_OK && i < n; i++)
		rc = store_media_add(s->st, SWEEP_JOB, table, keys[i], err);
	if (rc == LETHE_OK)
		return store_commit(s->st, err);
	store_rollback(s->st);
	return rc;
}

/* Object keys a DELETE ... RETURNING gave back. */
struct keys {
	char **v;      /* keys */
	size_t n, cap; /* count and capacity */
};

static void
keys_take(struct sweep *s, struct appdb_stmt *q, size_t ncols, struct keys *k)
{
	struct appdb_val v;
	size_t i;

	for (i = 0; i < ncols; i++) {
		appdb_column(s->db, q, (int)i, &v);
		if (v.type != APPDB_TEXT || v.s[0] == '\0')
			continue;
		k->v = xgrow(k->v, &k->cap, k->n + 1, sizeof(char *));
		k->v[k->n++] = xstrdup(v.s);
	}
}

static void
keys_free(struct keys *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

/*
 * Commit the open app transaction of a batch that deleted rows naming
 * media @k: the files are recorded first, removed after.  Rolls back on
 * failure.
 */
static lethe_rc
commit_with_media(struct sweep *s, struct tab *tb, const char *table, struct keys *k,
                  struct lethe_err *err)
{
	lethe_rc rc = media_record(s, table, k->v, k->n, err);

	if (rc == LETHE_OK)
		rc = appdb_commit(s->db, err);
	if (rc != LETHE_OK) {
		appdb_rollback(s->db);
		if (tb != NULL)
			tb->media_dirty = true;
	}
	return rc;
}

/* ---- delete and anonymize batches -------------------------------------------- */

/* The bound values of a batch: the table's params, then @extra more. */
static struct appdb_val *
batch_params(const struct tab *tb, size_t extra)
{
	struct appdb_val *v = xcalloc(tb->nparams + extra, sizeof(*v));

	memcpy(v, tb->params, tb->nparams * sizeof(*v));
	return v;
}

/* One delete batch of up to @limit rows; *@got rows deleted. */
static lethe_rc
delete_batch(struct sweep *s, struct tab *tb, int64_t limit, int64_t *got, struct lethe_err *err)
{
	struct appdb_val *v = batch_params(tb, tb->nparams + 1);
	size_t nv = 2 * tb->nparams + 1;
	struct keys k = {0};
	enum appdb_step st = APPDB_DONE;
	double t0 = 0;
	lethe_rc rc;

	*got = 0;
	/* The where's values twice (outer, subquery), then the limit. */
	memcpy(v + tb->nparams, tb->params, tb->nparams * sizeof(*v));
	v[nv - 1].type = APPDB_INT;
	v[nv - 1].i = limit;
	rc = batching_begin(s->db, err);
	if (rc == LETHE_OK) {
		t0 = time_mono_ms();
		appdb_reset(s->db, tb->del);
		rc = appdb_bind_all(s->db, tb->del, v, nv);
	}
	while (rc == LETHE_OK && (st = appdb_step(s->db, tb->del, err)) == APPDB_ROW) {
		(*got)++;
		keys_take(s, tb->del, tb->t->nmedia, &k);
	}
	if (rc == LETHE_OK && st == APPDB_ERROR)
		rc = db_fail(s, err);
	if (rc == LETHE_OK && tb->t->nmedia == 0)
		*got = s->db->ops->changes(s->db);
	if (tb->del != NULL)
		appdb_reset(s->db, tb->del);
	if (rc == LETHE_OK)
		rc = commit_with_media(s, tb, tb->t->name, &k, err);
	else if (t0 > 0)
		appdb_rollback(s->db);
	if (rc == LETHE_OK) {
		double ms = time_mono_ms() - t0;

		if (k.n > 0)
			rc = media_done(s, tb, tb->t->name, k.v, k.n, err);
		pthread_mutex_lock(&s->mu);
		tb->st.rows += *got;
		pthread_mutex_unlock(&s->mu);
		batching_after(&s->pace, s->db, ms, *got, *got >= limit);
	}
	keys_free(&k);
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
	struct appdb_val *v = batch_params(tb, 3), *u = NULL;
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
static void
set_cutoff(struct tab *tb, int64_t now)
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
	struct buf b;
	int64_t n = 0, m = 0;
	size_t i;
	lethe_rc rc;

	buf_init(&b, SQL_CAP);
	buf_adds(&b, "SELECT count(*) FROM ");
	appdb_quote(s->db, &b, tb->t->name);
	buf_addf(&b, " WHERE %s", tb->where);
	rc = appdb_query_int(s->db, buf_str(&b), tb->params, tb->nparams, &n, err);
	for (i = 0; rc == LETHE_OK && i < tb->t->nmedia; i++) {
		int64_t c = 0;

		buf_reset(&b);
		buf_adds(&b, "SELECT count(*) FROM ");
		appdb_quote(s->db, &b, tb->t->name);
		buf_addf(&b, " WHERE %s AND ", tb->where);
		appdb_quote(s->db, &b, tb->t->media[i]);
		buf_adds(&b, " <> ''");
		rc = appdb_query_int(s->db, buf_str(&b), tb->params, tb->nparams, &c, err);
		m += c;
	}
	buf_free(&b);
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
		rc = tab_prepare(s, tb, err);
	if (rc != LETHE_OK)
		return rc;
	set_cutoff(tb, now);
	if (!tb->odd_checked) {
		tab_odd_rows(s, tb);
		tb->odd_checked = true;
	}
	if (s->o.dry_run && tb->t->ttl.action == DM_DELETE)
		return delete_count(s, tb, err);
	if (tb->media_dirty && !s->o.dry_run && time_mono_ms() >= tb->next_settle)
		rc = media_settle(s, tb, err);
	if (tb->has_cursor && time_mono_ms() - tb->walk_started >= RESCAN_MS)
		tb->has_cursor = false;
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

/* ---- holds ------------------------------------------------------------------- */

/* The statement deleting one row of @t by key (with its media columns). */
static lethe_rc
hold_stmt(struct sweep *s, const struct dm_table *t, struct appdb_stmt **out, struct lethe_err *err)
{
	struct buf b;
	size_t i;
	lethe_rc rc = LETHE_OK;

	if (s->hold_q[t->index] == NULL) {
		buf_init(&b, SQL_CAP);
		buf_adds(&b, "DELETE FROM ");
		appdb_quote(s->db, &b, t->name);
		buf_adds(&b, " WHERE ");
		appdb_quote(s->db, &b, t->key);
		buf_adds(&b, " = ");
		appdb_param(s->db, &b, 1);
		for (i = 0; i < t->nmedia; i++) {
			buf_adds(&b, i == 0 ? " RETURNING " : ", ");
			appdb_quote(s->db, &b, t->media[i]);
		}
		rc = appdb_prepare(s->db, buf_str(&b), &s->hold_q[t->index], err);
		buf_free(&b);
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
			keys_take(s, q, t->nmedia, &k[i]);
		if (rc == LETHE_OK && st == APPDB_ERROR)
			rc = db_fail(s, err);
		if (rc == LETHE_OK)
			rows += s->db->ops->changes(s->db);
		appdb_reset(s->db, q);
		if (rc == LETHE_OK && k[i].n > 0)
			rc = media_record(s, t->name, k[i].v, k[i].n, err);
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
		for (i = 0; rc == LETHE_OK && i < n; i++)
			if (k[i].n > 0)
				rc = media_done(s, tab_of(s, datamap_table(s->dm, h[i].table)),
				                h[i].table, k[i].v, k[i].n, err);
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
		keys_free(&k[i]);
	free(k);
	store_holds_free(h, n);
	return rc;
}

static lethe_rc
holds_turn(struct sweep *s, int64_t now, bool *more, struct lethe_err *err)
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

/* ---- passes, measures, statistics -------------------------------------------- */

/*
 * After one part (@what) of a pass or measure returned @r with detail @e:
 * log a failure and keep the first one in *@rc and @err.
 */
static void
note_fail(const char *what, lethe_rc r, const struct lethe_err *e, lethe_rc *rc,
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

		note_fail(tb->t->name, tab_turn(s, tb, now, more, &e), &e, &rc, err);
	}
	if (!stopped(s))
		note_fail("legal holds", holds_turn(s, now, more, &e), &e, &rc, err);
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
		rc = tab_prepare(s, tb, err);
	if (rc != LETHE_OK)
		return rc;
	n = tb->nparams;
	set_cutoff(tb, now);
	v = batch_params(tb, 3);
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
		sql_addf(&from, " LIMIT %d) WHERE ", SWEEP_BACKLOG_CAP);
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
	sql_addf(&b, " LIMIT %d)", SWEEP_BACKLOG_CAP);
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
		note_fail(s->tabs[i].t->name, tab_measure(s, &s->tabs[i], now, &e), &e, &rc, err);
	note_fail("legal holds", store_hold_due_count(s->st, now, &n, &e), &e, &rc, err);
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
