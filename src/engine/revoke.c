/* SPDX-License-Identifier: MIT */
/*
 * revoke.c - wiping connection tokens (see revoke.h).  Identifiers come from
 * the validated data map and are quoted; values are bound.
 */
#include "util/fmacros.h"

#include "engine/revoke.h"
#include "util/buf.h"
#include "util/mem.h"

#define SQL_CAP (64u * 1024)

/* UPDATE t SET tokens = NULL, disconnect columns WHERE link; adds to *@rows. */
static lethe_rc
revoke_link(struct appdb *db, const struct dm_table *t, const struct dm_link *l, const char *value,
            int64_t *rows, struct lethe_err *err)
{
	struct appdb_val *p = xcalloc(t->ndisc + 1 + 64, sizeof(*p));
	size_t np = 0, i, j;
	struct buf b;
	int64_t n = 0;
	lethe_rc rc;

	buf_init(&b, SQL_CAP);
	buf_adds(&b, "UPDATE ");
	appdb_quote(db, &b, t->name);
	buf_adds(&b, " SET ");
	for (i = 0; i < t->ntokens; i++) {
		if (i > 0)
			buf_adds(&b, ", ");
		appdb_quote(db, &b, t->tokens[i]);
		buf_adds(&b, " = NULL");
	}
	for (i = 0; i < t->ndisc; i++) {
		buf_adds(&b, ", ");
		appdb_quote(db, &b, t->disc[i].column);
		buf_adds(&b, " = ");
		if (t->disc[i].how == DM_ANON_NULL) {
			buf_adds(&b, "NULL");
			continue;
		}
		p[np++] = dm_value_val(&t->disc[i].set);
		appdb_param(db, &b, (int)np);
	}
	buf_adds(&b, " WHERE ");
	appdb_quote(db, &b, l->column);
	buf_adds(&b, " = ");
	p[np].type = APPDB_TEXT;
	p[np++].s = value;
	appdb_param(db, &b, (int)np);
	for (i = 0; i < l->nwhen && np < t->ndisc + 60; i++) {
		buf_adds(&b, " AND ");
		appdb_quote(db, &b, l->when[i].column);
		buf_adds(&b, " IN (");
		for (j = 0; j < l->when[i].nvalues && np < t->ndisc + 60; j++) {
			if (j > 0)
				buf_adds(&b, ", ");
			p[np++] = dm_value_val(&l->when[i].values[j]);
			appdb_param(db, &b, (int)np);
		}
		buf_adds(&b, ")");
	}
	rc = appdb_exec(db, buf_str(&b), p, np, &n, err);
	*rows += n;
	buf_free(&b);
	free(p);
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
