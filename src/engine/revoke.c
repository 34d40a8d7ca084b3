/* SPDX-License-Identifier: MIT */
/*
 * revoke.c - wiping connection tokens (see revoke.h).  Identifiers come from
 * the validated data map and are quoted; values are bound (db/sql.h).
 */
#include "util/fmacros.h"

#include "db/sql.h"
#include "engine/plan.h"
#include "engine/revoke.h"

#define SQL_CAP (64u * 1024)

void
revoke_sql_value(struct sql *b, const struct dm_anon_col *a)
{
	if (a->how == DM_ANON_NULL)
		sql_add(b, "NULL");
	else
		sql_value(b, dm_value_val(&a->set));
}

size_t
revoke_sql_set(struct sql *b, const struct dm_table *t, bool tokens)
{
	size_t i, n = 0;

	for (i = 0; tokens && i < t->ntokens; i++, n++) {
		if (n > 0)
			sql_add(b, ", ");
		sql_ident(b, t->tokens[i]);
		sql_add(b, " = NULL");
	}
	for (i = 0; i < t->ndisc; i++, n++) {
		if (n > 0)
			sql_add(b, ", ");
		sql_ident(b, t->disc[i].column);
		sql_add(b, " = ");
		revoke_sql_value(b, &t->disc[i]);
	}
	return n;
}

/* UPDATE t SET tokens = NULL, disconnect columns WHERE link; adds to *@rows. */
static lethe_rc
revoke_link(struct appdb *db, const struct dm_table *t, const struct dm_link *l, const char *value,
            int64_t *rows, struct lethe_err *err)
{
	struct sql b;
	int64_t n = 0;
	lethe_rc rc;

	sql_init(&b, db, SQL_CAP);
	sql_add(&b, "UPDATE ");
	sql_ident(&b, t->name);
	sql_add(&b, " SET ");
	revoke_sql_set(&b, t, true);
	sql_add(&b, " WHERE ");
	sql_ident(&b, l->column);
	sql_add(&b, " = ");
	sql_value(&b, (struct appdb_val){.type = APPDB_TEXT, .s = value});
	plan_add_conds(&b, l->when, l->nwhen);
	rc = sql_rc(&b);
	if (rc != LETHE_OK)
		lethe_err_set(err, rc, "the token wipe of '%s' is too long", t->name);
	else
		rc = appdb_exec(db, sql_str(&b), sql_vals(&b), sql_nvals(&b), &n, err);
	*rows += n;
	sql_free(&b);
	return rc;
}

lethe_rc
revoke_tokens(const struct datamap *dm, struct appdb *db, const char *kind, const char *value,
              int64_t *rows, struct lethe_err *err)
{
	size_t i, j;
	lethe_rc rc;

	*rows = 0;
	rc = appdb_begin_write(db, err);
	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];

		if (t->ntokens == 0)
			continue;
		for (j = 0; rc == LETHE_OK && j < t->nlinks; j++) {
			const struct dm_link *l = &t->links[j];

			if (l->kind == DM_LINK_IDENTITY && strcmp(l->identity, kind) == 0)
				rc = revoke_link(db, t, l, value, rows, err);
		}
	}
	if (rc == LETHE_OK)
		rc = appdb_commit(db, err);
	if (rc != LETHE_OK)
		appdb_rollback(db);
	return rc;
}
