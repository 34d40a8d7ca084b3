/* SPDX-License-Identifier: MIT */
/*
 * effects.c - applying a data map effect to one person's rows (see
 * effects.h), and finding the person's channels for an effect that
 * revokes them.
 *
 * A person's rows of a table are the planner's (plan_where_person()):
 * identity columns compared with the request's identities, parent links
 * followed to any depth, whatever the scope.  Each table of the effect is
 * one "UPDATE t SET c = v, ... WHERE <person> AND NOT (c IS v AND ...)":
 * rows that already hold the values are not written again, so applying an
 * effect twice changes nothing the second time and the count is the rows
 * that changed.  Every table of one effect is updated in one write
 * transaction of the app database: all or nothing.  Identifiers come from
 * the validated data map and are quoted; every value is bound (db/sql.h).
 * Identity values are personal data: they never reach a message or a log.
 */
#include "util/fmacros.h"

#include <string.h>

#include "db/sql.h"
#include "engine/disconnect.h"
#include "engine/effects.h"
#include "engine/plan.h"
#include "engine/revoke.h"
#include "util/log.h"
#include "util/mem.h"

#define SQL_CAP (1u << 20)
#define CHANNELS_MAX 4096 /* channels of one person effects_channels() lists */

/* @ids name a person the map can find: at least one, none empty, each kind declared. */
static lethe_rc
check_ids(const struct datamap *dm, const struct plan_id *ids, size_t nids, struct lethe_err *err)
{
	size_t i;

	if (nids == 0)
		return lethe_err_set(err, LETHE_E_USAGE, "an effect needs the person's identities");
	for (i = 0; i < nids; i++) {
		if (ids[i].kind == NULL || !datamap_has_identity(dm, ids[i].kind))
			return lethe_err_set(
			    err, LETHE_E_USAGE,
			    "identity kind '%s' is not declared in the data map %s",
			    ids[i].kind ? ids[i].kind : "", dm->path);
		if (ids[i].value == NULL || ids[i].value[0] == '\0')
			return lethe_err_set(err, LETHE_E_USAGE, "identity '%s' has an empty value",
			                     ids[i].kind);
	}
	return LETHE_OK;
}

/* UPDATE the person's rows of @t to the @n columns @cols; *@rows gets the rows changed. */
static lethe_rc
update_table(struct appdb *db, const struct dm_table *t, const struct dm_anon_col *cols, size_t n,
             const struct plan_id *ids, size_t nids, int64_t *rows, struct lethe_err *err)
{
	struct sql q;
	size_t i;
	lethe_rc rc;

	*rows = 0;
	sql_init(&q, db, SQL_CAP);
	sql_add(&q, "UPDATE ");
	sql_ident(&q, t->name);
	sql_add(&q, " SET ");
	for (i = 0; i < n; i++) {
		if (i > 0)
			sql_add(&q, ", ");
		sql_ident(&q, cols[i].column);
		sql_add(&q, " = ");
		revoke_sql_value(&q, &cols[i]);
	}
	sql_add(&q, " WHERE ");
	plan_where_person(&q, t, ids, nids);
	/* Only rows that change: idempotent, and the count says what this call did. */
	sql_add(&q, " AND NOT (");
	for (i = 0; i < n; i++) {
		if (i > 0)
			sql_add(&q, " AND ");
		sql_ident(&q, cols[i].column);
		sql_is(&q, false);
		revoke_sql_value(&q, &cols[i]);
	}
	sql_add(&q, ")");
	rc = sql_rc(&q);
	if (rc != LETHE_OK)
		lethe_err_set(err, rc, "the effect's update of '%s' is too long", t->name);
	else
		rc = appdb_exec(db, sql_str(&q), sql_vals(&q), sql_nvals(&q), rows, err);
	sql_free(&q);
	return rc;
}

lethe_rc
effects_apply(const struct datamap *dm, const struct dm_effect *e, bool undo,
              const struct plan_id *ids, size_t nids, struct appdb *db, int64_t *rows,
              struct lethe_err *err)
{
	size_t i;
	lethe_rc rc;

	*rows = 0;
	rc = check_ids(dm, ids, nids, err);
	if (rc != LETHE_OK)
		return rc;
	rc = appdb_begin_write(db, err);
	if (rc != LETHE_OK)
		return rc;
	for (i = 0; rc == LETHE_OK && i < e->nsets; i++) {
		const struct dm_effect_set *s = &e->sets[i];
		int64_t n = 0;

		if ((undo ? s->nundo : s->nset) == 0)
			continue;
		rc = update_table(db, s->table, undo ? s->undo : s->set, undo ? s->nundo : s->nset,
		                  ids, nids, &n, err);
		*rows += n;
	}
	if (rc == LETHE_OK)
		rc = appdb_commit(db, err);
	if (rc != LETHE_OK) {
		appdb_rollback(db);
		*rows = 0;
	}
	return rc;
}

/* A channel key read from the app database as decimal text, or NULL if no disconnect can name it.
 */
static char *
key_text(const struct appdb_val *v)
{
	if (v->type == APPDB_INT && v->i > 0)
		return xasprintf("%lld", (long long)v->i);
	if (v->type != APPDB_TEXT || v->blob || !disconnect_id_ok(v->s))
		return NULL;
	return xstrdup(v->s);
}

void
effects_keys_free(char **keys, size_t n)
{
	size_t i;

	for (i = 0; keys != NULL && i < n; i++)
		free(keys[i]);
	free(keys);
}

lethe_rc
effects_channels(const struct datamap *dm, const struct plan_id *ids, size_t nids, struct appdb *db,
                 char ***keys, size_t *n, struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	struct appdb_stmt *st = NULL;
	size_t cap = 0;
	struct sql q;
	lethe_rc rc;

	*keys = NULL;
	*n = 0;
	rc = check_ids(dm, ids, nids, err);
	if (rc != LETHE_OK || ch == NULL)
		return rc;
	sql_init(&q, db, SQL_CAP);
	sql_add(&q, "SELECT ");
	sql_ident(&q, ch->key);
	sql_add(&q, " FROM ");
	sql_ident(&q, ch->name);
	sql_add(&q, " WHERE ");
	plan_where_person(&q, ch, ids, nids);
	sql_add(&q, " ORDER BY ");
	sql_ident(&q, ch->key);
	sql_addf(&q, " LIMIT %d", CHANNELS_MAX + 1);
	rc = sql_rc(&q);
	if (rc != LETHE_OK)
		lethe_err_set(err, rc, "the query of the person's channels is too long");
	if (rc == LETHE_OK)
		rc = appdb_prepare(db, sql_str(&q), &st, err);
	if (rc == LETHE_OK && appdb_bind_all(db, st, sql_vals(&q), sql_nvals(&q)) != LETHE_OK)
		rc = lethe_err_set(err, LETHE_E_DB, "cannot bind the channel query's parameters");
	while (rc == LETHE_OK) {
		enum appdb_step step = appdb_step(db, st, err);
		struct appdb_val v;
		char *k;

		if (step == APPDB_ERROR)
			rc = err != NULL ? err->rc : LETHE_E_DB;
		if (step != APPDB_ROW)
			break;
		if (*n >= CHANNELS_MAX) {
			rc = lethe_err_set(err, LETHE_E_TOOBIG,
			                   "the person has more than %d channels in '%s'",
			                   CHANNELS_MAX, ch->name);
			break;
		}
		appdb_column(db, st, 0, &v);
		k = key_text(&v);
		if (k == NULL) {
			log_warnx("effects: a channel of table '%s' has a key that is not a "
			          "positive integer; skipped",
			          ch->name);
			continue;
		}
		*keys = xgrow(*keys, &cap, *n + 1, sizeof(**keys));
		(*keys)[(*n)++] = k;
	}
	if (st != NULL)
		appdb_finalize(db, st);
	sql_free(&q);
	if (rc != LETHE_OK) {
		effects_keys_free(*keys, *n);
		*keys = NULL;
		*n = 0;
	}
	return rc;
}
