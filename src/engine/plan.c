/* SPDX-License-Identifier: MIT */
/*
 * plan.c - the planner (see plan.h).
 *
 * Ordering: Kahn's algorithm over the parent graph of the whole map (not
 * only the scope), emitting a table once every table that links to it has
 * been emitted, ties in file order.  Children therefore always run before
 * the parents their predicates go through, so a resumed job still finds its
 * remaining rows.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <errno.h>

#include "engine/plan.h"
#include "db/sql.h"
#include "util/buf.h"
#include "util/mem.h"

#define SQL_CAP (1u << 20)

struct pred_ctx {
	const struct plan_id *ids;    /* the identities */
	size_t nids;                  /* number of identities */
	const struct dm_scope *scope; /* accepted identity kinds, NULL: every kind */
	size_t first_any;             /* ids from this one on: accepted whatever the scope */
	struct sql *q;                /* predicate text and parameters being built */
};

/* True if @s is a plain decimal integer that fits in int64; its value in *@out. */
static bool
int_value(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (s[0] == '\0' || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && s[1] != '\0')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool
has_ids_of(const struct pred_ctx *c, const char *kind)
{
	size_t i;

	for (i = 0; i < c->nids; i++)
		if (strcmp(c->ids[i].kind, kind) == 0 && (i >= c->first_any || c->scope == NULL ||
		                                          dm_scope_has_identity(c->scope, kind)))
			return true;
	return false;
}

/* True if some link path from @t reaches a given identity. */
static bool
reachable(const struct pred_ctx *c, const struct dm_table *t)
{
	size_t i;

	for (i = 0; i < t->nlinks; i++) {
		const struct dm_link *l = &t->links[i];

		if (l->kind == DM_LINK_IDENTITY ? has_ids_of(c, l->identity)
		                                : reachable(c, l->parent))
			return true;
	}
	return false;
}

/*
 * Append to @q the placeholders of identity value @value for link @l's
 * column, ", " before each but the first (*@first).  SQLite: as text and,
 * when it looks like an integer, also as an integer (a column without a
 * declared type holding 2 never equals '2').  A dialect that binds once
 * (PostgreSQL): once, as the column's type; a value that is no integer
 * for an integer column matches nothing and is left out.  Returns the
 * number of placeholders added.
 */
static size_t
add_id_value(struct sql *q, const struct dm_link *l, const char *value, bool *first)
{
	struct appdb_val v = {.type = APPDB_TEXT, .s = value};
	bool is_int = int_value(value, &v.i);
	size_t n = 0;

	if (sql_bind_once(q) && l->int_column && !is_int)
		return 0;
	if (!sql_bind_once(q) || !l->int_column) {
		if (!*first)
			sql_add(q, ", ");
		*first = false;
		sql_value(q, v);
		n++;
	}
	if (is_int && (!sql_bind_once(q) || l->int_column)) {
		v.type = APPDB_INT;
		if (!*first)
			sql_add(q, ", ");
		*first = false;
		sql_value(q, v);
		n++;
	}
	return n;
}

void
plan_add_conds(struct sql *q, const struct dm_cond *w, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		sql_add(q, " AND ");
		sql_ident(q, w[i].column);
		sql_add(q, " IN (");
		for (j = 0; j < w[i].nvalues; j++) {
			if (j > 0)
				sql_add(q, ", ");
			sql_value(q, dm_value_val(&w[i].values[j]));
		}
		sql_add(q, ")");
	}
}

/* Append the predicate of @t (which must be reachable). */
static void
build_pred(struct pred_ctx *c, const struct dm_table *t)
{
	size_t i, j;
	bool first = true;

	sql_add(c->q, "(");
	for (i = 0; i < t->nlinks; i++) {
		const struct dm_link *l = &t->links[i];

		if (l->kind == DM_LINK_IDENTITY ? !has_ids_of(c, l->identity)
		                                : !reachable(c, l->parent))
			continue;
		sql_add(c->q, first ? "(" : " OR (");
		first = false;
		sql_ident(c->q, l->column);
		sql_add(c->q, " IN (");
		if (l->kind == DM_LINK_IDENTITY) {
			bool firstv = true;

			for (j = 0; j < c->nids; j++)
				if (strcmp(c->ids[j].kind, l->identity) == 0)
					add_id_value(c->q, l, c->ids[j].value, &firstv);
			if (firstv)
				sql_add(c->q, "NULL"); /* no value fits the column: no row */
		} else {
			sql_add(c->q, "SELECT ");
			sql_ident(c->q, l->references ? l->references : l->parent->key);
			sql_add(c->q, " FROM ");
			sql_ident(c->q, l->parent->name);
			sql_add(c->q, " WHERE ");
			build_pred(c, l->parent);
		}
		sql_add(c->q, ")");
		plan_add_conds(c->q, l->when, l->nwhen);
		sql_add(c->q, ")");
	}
	sql_add(c->q, ")");
}

/*
 * Append to @q " AND (CASE WHEN <rule 1> THEN 0 ... ELSE 1 END) = 1", the
 * rows of part @i of @set: keep rule i's (a row goes to the first rule it
 * matches) or, for the last part, the rest.  A NULL in a tested column
 * matches no rule (a WHEN that is not true falls through).
 */
static void
add_part(struct sql *q, const struct appdb *db, const struct dm_erase_set *set, size_t i)
{
	size_t k;

	sql_add(q, " AND (CASE");
	for (k = 0; k + 1 < set->nparts; k++) {
		sql_add(q, " WHEN ");
		sql_add(q, appdb_dialect(db)->true_lit);
		plan_add_conds(q, set->parts[k].when, set->parts[k].nwhen);
		sql_add(q, k == i ? " THEN 1" : " THEN 0");
	}
	sql_add(q, i + 1 == set->nparts ? " ELSE 1 END) = 1" : " ELSE 0 END) = 1");
}

/* Children-before-parents order of all tables of @dm into @order. */
static void
order_tables(const struct datamap *dm, size_t *order)
{
	size_t *children = xcalloc(dm->ntables ? dm->ntables : 1, sizeof(size_t));
	bool *done = xcalloc(dm->ntables ? dm->ntables : 1, sizeof(bool));
	size_t i, j, n = 0;

	for (i = 0; i < dm->ntables; i++)
		for (j = 0; j < dm->tables[i].nlinks; j++)
			if (dm->tables[i].links[j].parent != NULL)
				children[dm->tables[i].links[j].parent->index]++;
	while (n < dm->ntables) {
		size_t before = n;

		for (i = 0; i < dm->ntables; i++) {
			if (done[i] || children[i] > 0)
				continue;
			done[i] = true;
			order[n++] = i;
			for (j = 0; j < dm->tables[i].nlinks; j++)
				if (dm->tables[i].links[j].parent != NULL)
					children[dm->tables[i].links[j].parent->index]--;
			break; /* restart in file order */
		}
		if (n == before)
			break; /* a cycle: impossible after datamap_load */
	}
	free(children);
	free(done);
}

lethe_rc
plan_build(const struct datamap *dm, struct appdb *db, const char *scope_name,
           const struct plan_id *ids, size_t nids, bool count, struct plan **out,
           struct lethe_err *err)
{
	return plan_build_any(dm, db, scope_name, ids, nids, nids, count, out, err);
}

lethe_rc
plan_build_any(const struct datamap *dm, struct appdb *db, const char *scope_name,
               const struct plan_id *ids, size_t nids, size_t first_any, bool count,
               struct plan **out, struct lethe_err *err)
{
	const struct dm_scope *scope = datamap_scope(dm, scope_name);
	struct plan *p = NULL;
	size_t *order = NULL;
	size_t i, j;
	struct buf accepted;
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	if (scope == NULL)
		return lethe_err_set(err, LETHE_E_USAGE, "unknown scope '%s' (see the data map %s)",
		                     scope_name, dm->path);
	if (nids == 0)
		return lethe_err_set(err, LETHE_E_USAGE, "give at least one --id KIND=VALUE");
	for (i = 0; i < nids; i++) {
		if (ids[i].value == NULL || ids[i].value[0] == '\0')
			return lethe_err_set(err, LETHE_E_USAGE, "identity '%s' has an empty value",
			                     ids[i].kind);
		if (i >= first_any || dm_scope_has_identity(scope, ids[i].kind))
			continue;
		buf_init(&accepted, 4096);
		for (j = 0; j < scope->nidentities; j++)
			buf_addf(&accepted, "%s%s", j ? ", " : "", scope->identities[j]);
		rc = lethe_err_set(err, LETHE_E_USAGE,
		                   "scope '%s' does not accept identity kind '%s' (it accepts: %s)",
		                   scope->name, ids[i].kind, buf_str(&accepted));
		buf_free(&accepted);
		return rc;
	}

	p = xcalloc(1, sizeof(*p));
	p->dm = dm;
	p->scope = scope;
	for (i = 0, j = 0; i < dm->ntables; i++)
		j += dm_erase_in(&dm->tables[i], scope)->nparts;
	p->steps = xcalloc(j ? j : 1, sizeof(*p->steps));
	order = xcalloc(dm->ntables ? dm->ntables : 1, sizeof(size_t));
	order_tables(dm, order);
	for (i = 0; i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[order[i]];
		const struct dm_erase_set *set = dm_erase_in(t, scope);

		if (!dm_scope_has_table(scope, t))
			continue;
		for (j = 0; j < set->nparts; j++) {
			struct plan_step *s = &p->steps[p->nsteps++];
			struct sql q;
			struct pred_ctx c = {
			    .ids = ids, .nids = nids, .scope = scope, .first_any = first_any};

			s->table = t;
			s->part = &set->parts[j];
			s->name = dm_part_name(t, set, j);
			s->rows = -1;
			sql_init(&q, db, SQL_CAP);
			c.q = &q;
			s->reachable = reachable(&c, t);
			if (s->reachable)
				build_pred(&c, t);
			else
				sql_false(&q);
			if (s->reachable && set->nparts > 1)
				add_part(&q, db, set, j);
			if (sql_rc(&q) != LETHE_OK) {
				sql_free(&q);
				rc = lethe_err_set(err, LETHE_E_TOOBIG,
				                   "predicate of '%s' too long", t->name);
				goto out;
			}
			s->where = xstrdup(sql_str(&q));
			s->params = sql_params_take(&q, &s->nparams);
			sql_free(&q);
		}
	}
	if (count)
		rc = plan_count(p, db, err);
out:
	free(order);
	if (rc != LETHE_OK) {
		plan_free(p);
		return rc;
	}
	*out = p;
	return LETHE_OK;
}

void
plan_free(struct plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nsteps; i++) {
		free(p->steps[i].name);
		free(p->steps[i].where);
		free(p->steps[i].params);
	}
	free(p->steps);
	free(p);
}

void
plan_where_person(struct sql *q, const struct dm_table *t, const struct plan_id *ids, size_t nids)
{
	struct pred_ctx c = {.ids = ids, .nids = nids, .scope = NULL, .q = q};

	if (reachable(&c, t))
		build_pred(&c, t);
	else
		sql_false(q);
}

/* ---- one person ------------------------------------------------------------ */

/*
 * Several identities name one person when they lead to the same top rows:
 * from the rows an identity matches, parent links are followed up to tables
 * without parent links (the demo's users), whatever the scope.  An email
 * and a user id of one account meet at its users row; an Instagram id and a
 * Facebook id of one account meet there too, through their channels and
 * projects.
 */

#define PERSON_KEYS_MAX 1000 /* top rows per table and identity compared */

/* Top rows one identity leads to: "TABLE-INDEX:TYPE VALUE" texts, sorted. */
struct row_set {
	char **keys; /* owned texts */
	size_t n;    /* number of keys */
	size_t cap;  /* capacity of keys */
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
row_set_free(struct row_set *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->keys[i]);
	free(rs->keys);
	memset(rs, 0, sizeof(*rs));
}

/* Add the keys of up to PERSON_KEYS_MAX rows of @t matching @where (@params) to @rs. */
static lethe_rc
row_set_add(struct appdb *db, const struct dm_table *t, const char *where,
            const struct appdb_val *params, size_t np, struct row_set *rs, struct lethe_err *err)
{
	struct appdb_stmt *st = NULL;
	enum appdb_step r = APPDB_DONE;
	struct sql q;
	lethe_rc rc;

	sql_init(&q, db, SQL_CAP);
	sql_add(&q, "SELECT ");
	sql_ident(&q, t->key);
	sql_add(&q, " FROM ");
	sql_ident(&q, t->name);
	sql_add(&q, " WHERE ");
	sql_fragment(&q, where, params, np);
	sql_addf(&q, " LIMIT %d", PERSON_KEYS_MAX);
	rc = sql_rc(&q);
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, sql_str(&q), &st, err);
	else
		lethe_err_set(err, rc, "query of '%s' too long", t->name);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(db, st, sql_vals(&q), sql_nvals(&q));
	sql_free(&q);
	if (rc != LETHE_OK && st == NULL)
		return rc;
	if (rc != LETHE_OK)
		lethe_err_set(err, rc, "cannot bind parameters");
	while (rc == LETHE_OK && (r = appdb_step(db, st, err)) == APPDB_ROW) {
		struct appdb_val v;
		char *k;

		appdb_column(db, st, 0, &v);
		if (v.type == APPDB_INT)
			k = xasprintf("%zu:i%lld", t->index, (long long)v.i);
		else if (v.type == APPDB_TEXT)
			k = xasprintf("%zu:t%s", t->index, v.s);
		else if (v.type == APPDB_REAL)
			k = xasprintf("%zu:r%.17g", t->index, v.r);
		else
			continue;
		rs->keys = xgrow(rs->keys, &rs->cap, rs->n + 1, sizeof(*rs->keys));
		rs->keys[rs->n++] = k;
	}
	if (rc == LETHE_OK && r == APPDB_ERROR)
		rc = err ? err->rc : LETHE_E_DB;
	appdb_finalize(db, st);
	return rc;
}

/*
 * The top rows above the rows of @t matching @where (@np parameters
 * @params), into @rs: @t's own when it has no parent link, else those of
 * every parent the rows link to.
 */
static lethe_rc
row_set_up(struct appdb *db, const struct dm_table *t, const char *where,
           const struct appdb_val *params, size_t np, struct row_set *rs, struct lethe_err *err)
{
	bool top = true;
	size_t i;
	lethe_rc rc = LETHE_OK;

	for (i = 0; rc == LETHE_OK && i < t->nlinks; i++) {
		const struct dm_link *l = &t->links[i];
		struct sql q;

		if (l->kind != DM_LINK_PARENT)
			continue;
		top = false;
		sql_init(&q, db, SQL_CAP);
		sql_ident(&q, l->references ? l->references : l->parent->key);
		sql_add(&q, " IN (SELECT ");
		sql_ident(&q, l->column);
		sql_add(&q, " FROM ");
		sql_ident(&q, t->name);
		sql_add(&q, " WHERE (");
		sql_fragment(&q, where, params, np);
		sql_add(&q, ")");
		plan_add_conds(&q, l->when, l->nwhen);
		sql_add(&q, ")");
		if (sql_rc(&q) != LETHE_OK)
			rc = lethe_err_set(err, LETHE_E_TOOBIG, "predicate of '%s' too long",
			                   l->parent->name);
		else
			rc = row_set_up(db, l->parent, sql_str(&q), sql_vals(&q), sql_nvals(&q), rs,
			                err);
		sql_free(&q);
	}
	if (top)
		rc = row_set_add(db, t, where, params, np, rs, err);
	return rc;
}

/* The top rows identity @id leads to, into @rs (sorted). */
static lethe_rc
row_set_fill(const struct datamap *dm, struct appdb *db, const struct plan_id *id,
             struct row_set *rs, struct lethe_err *err)
{
	size_t i, j;
	lethe_rc rc = LETHE_OK;

	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];

		for (j = 0; rc == LETHE_OK && j < t->nlinks; j++) {
			const struct dm_link *l = &t->links[j];
			bool firstv = true;
			struct sql q;

			if (l->kind != DM_LINK_IDENTITY || strcmp(l->identity, id->kind) != 0)
				continue;
			sql_init(&q, db, SQL_CAP);
			sql_ident(&q, l->column);
			sql_add(&q, " IN (");
			/* As in build_pred(). */
			if (add_id_value(&q, l, id->value, &firstv) == 0)
				sql_add(&q, "NULL");
			sql_add(&q, ")");
			plan_add_conds(&q, l->when, l->nwhen);
			rc = row_set_up(db, t, sql_str(&q), sql_vals(&q), sql_nvals(&q), rs, err);
			sql_free(&q);
		}
	}
	if (rs->n > 1)
		qsort(rs->keys, rs->n, sizeof(*rs->keys), cmp_str);
	return rc;
}

/* True if the sorted sets @a and @b share a row. */
static bool
row_sets_meet(const struct row_set *a, const struct row_set *b)
{
	size_t i = 0, j = 0;

	while (i < a->n && j < b->n) {
		int c = strcmp(a->keys[i], b->keys[j]);

		if (c == 0)
			return true;
		if (c < 0)
			i++;
		else
			j++;
	}
	return false;
}

static size_t
uf_find(size_t *parent, size_t i)
{
	while (parent[i] != i)
		i = parent[i] = parent[parent[i]];
	return i;
}

lethe_rc
plan_check_one_person(const struct datamap *dm, struct appdb *db, const struct plan_id *ids,
                      size_t nids, struct lethe_err *err)
{
	struct row_set *sets = NULL;
	size_t *parent = NULL;
	size_t i, j, first = SIZE_MAX;
	lethe_rc rc = LETHE_OK;

	if (nids < 2)
		return LETHE_OK;
	sets = xcalloc(nids, sizeof(*sets));
	parent = xcalloc(nids, sizeof(*parent));
	for (i = 0; i < nids; i++)
		parent[i] = i;
	for (i = 0; rc == LETHE_OK && i < nids; i++)
		rc = row_set_fill(dm, db, &ids[i], &sets[i], err);
	/* Identities that lead to a common top row are one person's; join them. */
	for (i = 0; rc == LETHE_OK && i < nids; i++)
		for (j = i + 1; j < nids; j++)
			if (row_sets_meet(&sets[i], &sets[j]))
				parent[uf_find(parent, j)] = uf_find(parent, i);
	/* Identities that lead nowhere add nothing; the others must be one group. */
	for (i = 0; rc == LETHE_OK && i < nids; i++) {
		if (sets[i].n == 0)
			continue;
		if (first == SIZE_MAX)
			first = i;
		else if (uf_find(parent, i) != uf_find(parent, first))
			rc = lethe_err_set(
			    err, LETHE_E_USAGE,
			    "--id %zu (%s) and --id %zu (%s) name different people; give "
			    "the identities of one person, or run one command per person",
			    first + 1, ids[first].kind, i + 1, ids[i].kind);
	}
	for (i = 0; i < nids; i++)
		row_set_free(&sets[i]);
	free(sets);
	free(parent);
	return rc;
}

/* The table linking identity @kind directly (its link into *@link), or NULL. */
static const struct dm_table *
identity_table(const struct datamap *dm, const char *kind, const struct dm_link **link)
{
	size_t i, j;

	for (i = 0; i < dm->ntables; i++)
		for (j = 0; j < dm->tables[i].nlinks; j++) {
			const struct dm_link *l = &dm->tables[i].links[j];

			if (l->kind == DM_LINK_IDENTITY && strcmp(l->identity, kind) == 0 &&
			    l->nwhen == 0) {
				*link = l;
				return &dm->tables[i];
			}
		}
	return NULL;
}

/* Read column @col of @t's row whose key is the row set key @key ("IDX:tTEXT" / "IDX:iN"). */
static lethe_rc
read_on_file(struct appdb *db, const struct dm_table *t, const char *col, const char *key,
             char *out, size_t cap, struct lethe_err *err)
{
	const char *k = strchr(key, ':') + 1;
	struct appdb_val v = {.type = APPDB_TEXT, .s = k + 1};
	struct appdb_stmt *st = NULL;
	struct sql q;
	lethe_rc rc;

	if (k[0] == 'i' && !int_value(k + 1, &v.i))
		return LETHE_E_NOTFOUND;
	if (k[0] == 'i')
		v.type = APPDB_INT;
	else if (k[0] != 't')
		return LETHE_E_NOTFOUND;
	sql_init(&q, db, SQL_CAP);
	sql_add(&q, "SELECT ");
	sql_ident(&q, col);
	sql_add(&q, " FROM ");
	sql_ident(&q, t->name);
	sql_add(&q, " WHERE ");
	sql_ident(&q, t->key);
	sql_add(&q, " = ");
	sql_value(&q, v);
	rc = sql_rc(&q);
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, sql_str(&q), &st, err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(db, st, sql_vals(&q), sql_nvals(&q));
	sql_free(&q);
	if (rc == LETHE_OK) {
		struct appdb_val got;

		rc = LETHE_E_NOTFOUND;
		if (appdb_step(db, st, err) == APPDB_ROW) {
			appdb_column(db, st, 0, &got);
			if (got.type == APPDB_TEXT && got.s[0] != '\0' && strlen(got.s) < cap) {
				memcpy(out, got.s, strlen(got.s) + 1);
				rc = LETHE_OK;
			}
		}
	}
	appdb_finalize(db, st);
	return rc;
}

lethe_rc
plan_identity_on_file(const struct datamap *dm, struct appdb *db, const struct plan_id *ids,
                      size_t nids, const char *kind, char *out, size_t cap, struct lethe_err *err)
{
	const struct dm_link *link = NULL;
	const struct dm_table *t = identity_table(dm, kind, &link);
	const char *found = NULL;
	struct row_set rs;
	char prefix[32];
	size_t i, j;
	lethe_rc rc = LETHE_OK;

	if (cap > 0)
		out[0] = '\0';
	if (t == NULL)
		return LETHE_E_NOTFOUND;
	for (i = 0; i < t->nlinks; i++)
		if (t->links[i].kind == DM_LINK_PARENT)
			return LETHE_E_NOTFOUND; /* only a top table: one row per person */
	snprintf(prefix, sizeof(prefix), "%zu:", t->index);
	memset(&rs, 0, sizeof(rs));
	for (i = 0; rc == LETHE_OK && i < nids; i++)
		rc = row_set_fill(dm, db, &ids[i], &rs, err);
	/* Exactly one row of the table, whichever identities led there. */
	for (j = 0; rc == LETHE_OK && j < rs.n; j++) {
		if (strncmp(rs.keys[j], prefix, strlen(prefix)) != 0)
			continue;
		if (found != NULL && strcmp(found, rs.keys[j]) != 0)
			rc = LETHE_E_NOTFOUND;
		found = rs.keys[j];
	}
	if (rc == LETHE_OK)
		rc = found != NULL ? read_on_file(db, t, link->column, found, out, cap, err)
		                   : LETHE_E_NOTFOUND;
	row_set_free(&rs);
	return rc;
}

/*
 * Count step @s's rows: "SELECT count(*)".  Where secondary indexes do not
 * end in the key (appdb_dialect.index_ends_in_key false: PostgreSQL), an
 * integer key's min and max come in the same pass ("count(*), min(key),
 * max(key)") and @s is spanned: a delete step's key windows start from
 * them (erase_delete.c) instead of reading the person's rows a second time.
 */
static lethe_rc
count_step(struct plan_step *s, struct appdb *db, struct lethe_err *err)
{
	bool span = !appdb_dialect(db)->index_ends_in_key;
	struct appdb_stmt *st = NULL;
	struct appdb_val n, lo, hi;
	struct sql q;
	lethe_rc rc;

	s->spanned = false;
	sql_init(&q, db, SQL_CAP);
	sql_add(&q, "SELECT count(*)");
	if (span) {
		sql_add(&q, ", min(");
		sql_ident(&q, s->table->key);
		sql_add(&q, "), max(");
		sql_ident(&q, s->table->key);
		sql_add(&q, ")");
	}
	sql_add(&q, " FROM ");
	sql_ident(&q, s->table->name);
	sql_add(&q, " WHERE ");
	sql_fragment(&q, s->where, s->params, s->nparams);
	rc = sql_rc(&q);
	if (rc != LETHE_OK) {
		lethe_err_set(err, rc, "count of '%s' too long", s->table->name);
	} else if (!span) {
		rc = appdb_query_int(db, sql_str(&q), sql_vals(&q), sql_nvals(&q), &s->rows, err);
	} else {
		enum appdb_step r = APPDB_ERROR;

		rc = appdb_prepare(db, sql_str(&q), &st, err);
		if (rc == LETHE_OK &&
		    appdb_bind_all(db, st, sql_vals(&q), sql_nvals(&q)) != LETHE_OK)
			rc = lethe_err_set(err, LETHE_E_DB, "cannot bind parameters");
		if (rc == LETHE_OK)
			r = appdb_step(db, st, err);
		if (rc == LETHE_OK && r == APPDB_ERROR)
			rc = err ? err->rc : LETHE_E_DB;
		s->rows = 0;
		if (rc == LETHE_OK && r == APPDB_ROW) {
			appdb_column(db, st, 0, &n);
			appdb_column(db, st, 1, &lo);
			appdb_column(db, st, 2, &hi);
			s->rows = n.type == APPDB_INT ? n.i : 0;
			if (s->rows == 0 || (lo.type == APPDB_INT && hi.type == APPDB_INT)) {
				s->spanned = true;
				s->key_lo = s->rows > 0 ? lo.i : 0;
				s->key_hi = s->rows > 0 ? hi.i : -1;
			}
		}
		appdb_finalize(db, st);
	}
	sql_free(&q);
	return rc;
}

lethe_rc
plan_count(struct plan *p, struct appdb *db, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc;

	for (i = 0; i < p->nsteps; i++) {
		struct plan_step *s = &p->steps[i];

		if (!s->reachable) {
			s->rows = 0;
			s->spanned = false;
			continue;
		}
		rc = count_step(s, db, err);
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

json_t *
plan_conds_json(const struct dm_cond *w, size_t n)
{
	json_t *o = json_object();
	size_t i, j;

	for (i = 0; i < n; i++) {
		json_t *vals = json_array();

		for (j = 0; j < w[i].nvalues; j++)
			json_array_append_new(vals, w[i].values[j].is_int
			                                ? json_integer(w[i].values[j].i)
			                                : json_string(w[i].values[j].s));
		json_object_set_new(o, w[i].column, vals);
	}
	return o;
}

json_t *
plan_to_json(const struct plan *p)
{
	json_t *steps = json_array();
	size_t i;

	for (i = 0; i < p->nsteps; i++) {
		const struct plan_step *s = &p->steps[i];
		json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:I}", "step", (int)i + 1, "table",
		                      s->table->name, "category", s->table->category, "action",
		                      dm_action_str(s->part->action), "rows", (json_int_t)s->rows);

		if (s->part->action == DM_RETAIN) {
			json_object_set_new(o, "reason", json_string(s->part->reason));
			json_object_set_new(o, "retain_seconds", json_integer(s->part->retain_for));
		}
		if (strcmp(s->name, s->table->name) != 0)
			json_object_set_new(o, "part", json_string(s->name));
		if (s->part->nwhen > 0)
			json_object_set_new(o, "when",
			                    plan_conds_json(s->part->when, s->part->nwhen));
		if (s->table->nmedia > 0)
			json_object_set_new(o, "removes_media_files", json_true());
		json_array_append_new(steps, o);
	}
	return json_pack("{s:s, s:s, s:o}", "scope", p->scope->name, "description",
	                 p->scope->description, "steps", steps);
}

void
plan_print(const struct plan *p, FILE *f)
{
	size_t i, ntables = 0;
	int64_t total = 0;

	fprintf(f, "Plan for scope '%s': %s\n\n", p->scope->name, p->scope->description);
	fprintf(f, "  %-4s %-24s %-14s %-10s %10s\n", "step", "table", "category", "action",
	        "rows");
	for (i = 0; i < p->nsteps; i++) {
		const struct plan_step *s = &p->steps[i];

		fprintf(f, "  %-4zu %-24s %-14s %-10s %10lld\n", i + 1, s->name, s->table->category,
		        dm_action_str(s->part->action), (long long)s->rows);
		if (s->rows > 0)
			total += s->rows;
		/* A table split by keep rules has one step per part; its rest is named by it. */
		if (strcmp(s->name, s->table->name) == 0)
			ntables++;
	}
	fprintf(f, "\n  %lld rows in %zu tables.\n", (long long)total, ntables);
	for (i = 0; i < p->nsteps; i++) {
		const struct plan_step *s = &p->steps[i];

		if (s->part->action == DM_RETAIN && s->rows > 0)
			fprintf(f, "  Retained: %s (%lld row%s): %s\n", s->table->name,
			        (long long)s->rows, s->rows == 1 ? "" : "s", s->part->reason);
	}
}
