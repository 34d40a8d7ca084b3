/* SPDX-License-Identifier: MIT */
/*
 * scan.c - the residual scan (see scan.h for what counts as residual).
 *
 * Two passes, both read-only and bounded by the person's rows: the scope's
 * plan is rebuilt and counted (plan_build_any(), one count per step), then
 * each table outside the scope that the scope's rules say the person's rows
 * must not be left in is counted with plan_where_person().  Nothing here
 * writes, and nothing here logs: the caller says what was found.
 */
#include "util/fmacros.h"

#include "engine/scan.h"
#include "db/sql.h"
#include "engine/erase.h"
#include "util/mem.h"

#define SQL_CAP (1u << 20)

/* The identities and what the scope accepts of them. */
struct scan_ctx {
	const struct datamap *dm;     /* the map */
	const struct dm_scope *scope; /* the scope scanned */
	const struct plan_id *ids;    /* the person's identities */
	size_t nids;                  /* their number */
	size_t first_any;             /* ids from this one on: accepted whatever the scope */
};

/* True if the scope takes some given identity of kind @kind. */
static bool
kind_accepted(const struct scan_ctx *c, const char *kind)
{
	size_t i;

	for (i = 0; i < c->nids; i++)
		if (strcmp(c->ids[i].kind, kind) == 0 &&
		    (i >= c->first_any || dm_scope_has_identity(c->scope, kind)))
			return true;
	return false;
}

/* True if some link path of @t reaches a given identity (any kind, as plan_where_person()). */
static bool
reaches(const struct scan_ctx *c, const struct dm_table *t)
{
	size_t i, j;

	for (i = 0; i < t->nlinks; i++) {
		const struct dm_link *l = &t->links[i];

		if (l->kind == DM_LINK_PARENT) {
			if (reaches(c, l->parent))
				return true;
			continue;
		}
		for (j = 0; j < c->nids; j++)
			if (strcmp(c->ids[j].kind, l->identity) == 0)
				return true;
	}
	return false;
}

/* True if @anc is a parent of @t, or a parent of a parent, to any depth. */
static bool
is_ancestor(const struct dm_table *anc, const struct dm_table *t)
{
	size_t i;

	for (i = 0; i < t->nlinks; i++)
		if (t->links[i].kind == DM_LINK_PARENT &&
		    (t->links[i].parent == anc || is_ancestor(anc, t->links[i].parent)))
			return true;
	return false;
}

/* True if @t is in the scope and some part of its erase there deletes or anonymizes. */
static bool
scope_erases(const struct scan_ctx *c, const struct dm_table *t)
{
	const struct dm_erase_set *set;
	size_t i;

	if (!dm_scope_has_table(c->scope, t))
		return false;
	set = dm_erase_in(t, c->scope);
	for (i = 0; i < set->nparts; i++)
		if (set->parts[i].action != DM_RETAIN)
			return true;
	return false;
}

/*
 * True if @t, outside the scope, must hold none of the person's rows after
 * the erasure (see scan.h): it hangs off a table the scope deletes or
 * anonymizes, or an identity the scope takes names its rows directly and it
 * is not above the scope's tables.
 */
static bool
outside_checked(const struct scan_ctx *c, const struct dm_table *t)
{
	size_t i;
	bool ancestor = false;

	for (i = 0; i < c->dm->ntables && !ancestor; i++)
		if (dm_scope_has_table(c->scope, &c->dm->tables[i]))
			ancestor = is_ancestor(t, &c->dm->tables[i]);
	for (i = 0; i < t->nlinks; i++) {
		const struct dm_link *l = &t->links[i];

		if (l->kind == DM_LINK_PARENT && scope_erases(c, l->parent))
			return true;
		if (l->kind == DM_LINK_IDENTITY && !ancestor && kind_accepted(c, l->identity))
			return true;
	}
	return false;
}

/* What the scan found rows of a table to be. */
enum found_kind { FOUND_RESIDUAL, FOUND_KEPT, FOUND_ANONYMIZED };

/* Add @rows of @t to @res (merged with an entry of the same table and kind). */
static void
add_found(struct scan_result *res, const struct dm_table *t, int64_t rows, enum found_kind kind,
          bool outside)
{
	bool kept = kind == FOUND_KEPT, anonymized = kind == FOUND_ANONYMIZED;
	size_t i;

	if (kept)
		res->kept += rows;
	else if (anonymized)
		res->anonymized += rows;
	else {
		res->rows += rows;
		res->residual = true;
	}
	for (i = 0; i < res->nfound; i++)
		if (res->found[i].table == t && res->found[i].kept == kept &&
		    res->found[i].anonymized == anonymized && res->found[i].outside == outside) {
			res->found[i].rows += rows;
			return;
		}
	res->found = xrealloc(res->found, (res->nfound + 1) * sizeof(*res->found));
	res->found[res->nfound].table = t;
	res->found[res->nfound].rows = rows;
	res->found[res->nfound].kept = kept;
	res->found[res->nfound].anonymized = anonymized;
	res->found[res->nfound].outside = outside;
	res->nfound++;
}

/*
 * The rows anonymize step @s still matches into *@all, and of them those
 * already in the part's target form (every column the rewrite writes holds
 * what it writes there: erase_col_done(), the executor's own test) into
 * *@done.  One read of the step's rows (the erasure's predicate), counted
 * as they stream.
 */
static lethe_rc
count_anonymized(struct appdb *db, const struct plan_step *s, int64_t *all, int64_t *done,
                 struct lethe_err *err)
{
	struct appdb_stmt *q = NULL;
	struct col_action *c;
	struct appdb_val v;
	struct sql b;
	size_t nc, i;
	enum appdb_step st = APPDB_DONE;
	lethe_rc rc;

	*all = s->rows;
	*done = 0;
	c = erase_col_actions(s->table, s->part, &nc);
	if (nc == 0) {
		/* Nothing to rewrite: every row is as the part leaves it. */
		*done = s->rows;
		free(c);
		return LETHE_OK;
	}
	sql_init(&b, db, SQL_CAP);
	sql_add(&b, "SELECT ");
	for (i = 0; i < nc; i++) {
		if (i > 0)
			sql_add(&b, ", ");
		sql_ident(&b, c[i].name);
	}
	sql_add(&b, " FROM ");
	sql_ident(&b, s->table->name);
	sql_add(&b, " WHERE ");
	sql_fragment(&b, s->where, s->params, s->nparams);
	rc = sql_rc(&b);
	if (rc != LETHE_OK)
		lethe_err_set(err, rc, "read of '%s' too long", s->table->name);
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, sql_str(&b), &q, err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(db, q, sql_vals(&b), sql_nvals(&b));
	*all = 0;
	while (rc == LETHE_OK && (st = appdb_step(db, q, err)) == APPDB_ROW) {
		bool in_target = true;

		for (i = 0; i < nc && in_target; i++) {
			appdb_column(db, q, (int)i, &v);
			in_target = erase_col_done(&c[i], &v);
		}
		(*all)++;
		if (in_target)
			(*done)++;
	}
	if (rc == LETHE_OK && st == APPDB_ERROR)
		rc = err != NULL && err->rc != LETHE_OK ? err->rc : LETHE_E_DB;
	if (q != NULL)
		appdb_finalize(db, q);
	sql_free(&b);
	free(c);
	return rc;
}

/* The person's rows of @t, whatever the scope (plan_where_person()), into *@n. */
static lethe_rc
count_person(const struct scan_ctx *c, struct appdb *db, const struct dm_table *t, int64_t *n,
             struct lethe_err *err)
{
	struct sql q;
	lethe_rc rc;

	*n = 0;
	if (!reaches(c, t))
		return LETHE_OK;
	sql_init(&q, db, SQL_CAP);
	sql_add(&q, "SELECT count(*) FROM ");
	sql_ident(&q, t->name);
	sql_add(&q, " WHERE ");
	plan_where_person(&q, t, c->ids, c->nids);
	rc = sql_rc(&q);
	if (rc == LETHE_OK)
		rc = appdb_query_int(db, sql_str(&q), sql_vals(&q), sql_nvals(&q), n, err);
	else
		lethe_err_set(err, rc, "count of '%s' too long", t->name);
	sql_free(&q);
	return rc;
}

lethe_rc
scan_run_any(const struct datamap *dm, struct appdb *db, const char *scope_name,
             const struct plan_id *ids, size_t nids, size_t first_any, struct scan_result *res,
             struct lethe_err *err)
{
	struct scan_ctx c = {.dm = dm, .ids = ids, .nids = nids, .first_any = first_any};
	struct plan *p = NULL;
	bool *seen = NULL;
	size_t i;
	lethe_rc rc;

	memset(res, 0, sizeof(*res));
	rc = plan_build_any(dm, db, scope_name, ids, nids, first_any, true, &p, err);
	if (rc != LETHE_OK)
		return rc;
	c.scope = p->scope;
	seen = xcalloc(dm->ntables ? dm->ntables : 1, sizeof(*seen));
	/* The scope's steps: what a part deletes must be gone, what it anonymizes must be in
	 * its target form (anonymized, expected), what it retains is kept. */
	for (i = 0; rc == LETHE_OK && i < p->nsteps; i++) {
		const struct plan_step *s = &p->steps[i];
		int64_t all = s->rows, done = 0;

		if (!seen[s->table->index])
			res->tables++;
		seen[s->table->index] = true;
		if (s->rows <= 0)
			continue;
		if (s->part->action == DM_RETAIN) {
			add_found(res, s->table, s->rows, FOUND_KEPT, false);
			continue;
		}
		if (s->part->action == DM_ANONYMIZE)
			rc = count_anonymized(db, s, &all, &done, err);
		if (rc != LETHE_OK)
			break;
		if (done > 0)
			add_found(res, s->table, done, FOUND_ANONYMIZED, false);
		if (all - done > 0)
			add_found(res, s->table, all - done, FOUND_RESIDUAL, false);
	}
	/* The tables outside the scope that must not keep the person's rows either. */
	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];
		int64_t n = 0;

		if (dm_scope_has_table(p->scope, t) || !outside_checked(&c, t))
			continue;
		res->tables++;
		rc = count_person(&c, db, t, &n, err);
		if (rc == LETHE_OK && n > 0)
			add_found(res, t, n, FOUND_RESIDUAL, true);
	}
	free(seen);
	plan_free(p);
	if (rc != LETHE_OK)
		scan_result_free(res);
	return rc;
}

lethe_rc
scan_run(const struct datamap *dm, struct appdb *db, const char *scope_name,
         const struct plan_id *ids, size_t nids, struct scan_result *res, struct lethe_err *err)
{
	return scan_run_any(dm, db, scope_name, ids, nids, nids, res, err);
}

void
scan_result_free(struct scan_result *res)
{
	free(res->found);
	memset(res, 0, sizeof(*res));
}

json_t *
scan_result_json(const struct scan_result *res)
{
	json_t *found = json_array();
	size_t i;

	for (i = 0; i < res->nfound; i++) {
		json_t *f = json_pack("{s:s, s:I, s:b, s:b}", "table", res->found[i].table->name,
		                      "rows", (json_int_t)res->found[i].rows, "kept",
		                      res->found[i].kept, "outside", res->found[i].outside);

		if (res->found[i].anonymized)
			json_object_set_new(f, "anonymized", json_true());
		json_array_append_new(found, f);
	}
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "result",
	                 res->residual ? "residual" : "clean", "rows", (json_int_t)res->rows,
	                 "kept", (json_int_t)res->kept, "anonymized", (json_int_t)res->anonymized,
	                 "tables", (json_int_t)res->tables, "found", found);
}
