/* SPDX-License-Identifier: MIT */
/*
 * disconnect_app.c - the app database side of a channel disconnect (see
 * disconnect.c): reading the channel row and its webhook subscriptions,
 * wiping tokens and applying each table's disconnect effects, and finding
 * the channels of an identity.  Statements are built with db/sql.h:
 * identifiers from the data map are quoted, every value is bound.  Runs
 * inside the caller's transaction.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "db/sql.h"
#include "engine/disconnect_internal.h"
#include "engine/plan.h"
#include "engine/revoke.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/seal.h"

/* The channel id as a bound value: an integer when it is one (disconnect_id_ok). */
static struct appdb_val
chan_val(const char *id)
{
	struct appdb_val a = {.type = APPDB_TEXT, .s = id};

	if (disconnect_id_ok(id)) {
		a.type = APPDB_INT;
		a.i = strtoll(id, NULL, 10);
	}
	return a;
}

#define PARAMS_MAX 128 /* bound values in one disconnect statement */

/* @b complete: the builder's first failure, or too many values. */
static lethe_rc
stmt_check(const struct sql *b, struct lethe_err *err)
{
	if (sql_nvals(b) > PARAMS_MAX)
		return lethe_err_set(err, LETHE_E_DATAMAP,
		                     "too many values in a disconnect statement");
	if (sql_rc(b) != LETHE_OK)
		return lethe_err_set(err, sql_rc(b), "a disconnect statement is too long");
	return LETHE_OK;
}

/* Check @b (stmt_check), prepare it as *@q and bind its values. */
static lethe_rc
stmt_prepare(struct appdb *db, const struct sql *b, struct appdb_stmt **q, struct lethe_err *err)
{
	lethe_rc rc = stmt_check(b, err);

	if (rc == LETHE_OK)
		rc = appdb_prepare(db, sql_str(b), q, err);
	if (rc == LETHE_OK)
		rc = appdb_bind_all(db, *q, sql_vals(b), sql_nvals(b));
	return rc;
}

/*
 * " WHERE" rows of @t belonging to channel @id: the channel table by its
 * key, another table by @column (naming the channel key) or else by its
 * parent link to the channel table.
 */
static lethe_rc
match_sql(const struct datamap *dm, const struct dm_table *t, const char *column, const char *id,
          struct sql *b, struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	const struct dm_link *l = t->disc_link;

	sql_add(b, " WHERE ");
	if (t == ch) {
		sql_ident(b, ch->key);
		sql_add(b, " = ");
		sql_value(b, chan_val(id));
		return LETHE_OK;
	}
	if (column != NULL) {
		sql_ident(b, column);
		sql_add(b, " = ");
		sql_value(b, chan_val(id));
		return LETHE_OK;
	}
	if (l == NULL)
		return lethe_err_set(err, LETHE_E_INTERNAL, "table '%s' has no channel link",
		                     t->name);
	sql_ident(b, l->column);
	sql_add(b, " IN (SELECT ");
	sql_ident(b, l->references ? l->references : ch->key);
	sql_add(b, " FROM ");
	sql_ident(b, ch->name);
	sql_add(b, " WHERE ");
	sql_ident(b, ch->key);
	sql_add(b, " = ");
	sql_value(b, chan_val(id));
	sql_add(b, ")");
	return LETHE_OK;
}

void
disconnect_chan_row_free(struct chan_row *c)
{
	if (c->token != NULL) {
		sodium_memzero(c->token, strlen(c->token));
		free(c->token);
	}
	memset(c, 0, sizeof(*c));
}

/* @v as text into @out (@n bytes); false (and "") if it does not fit whole. */
static bool
val_text(const struct appdb_val *v, char *out, size_t n)
{
	int len = 0;

	if (v->type == APPDB_TEXT)
		len = snprintf(out, n, "%s", v->s);
	else if (v->type == APPDB_INT)
		len = snprintf(out, n, "%lld", (long long)v->i);
	else
		out[0] = '\0';
	if (len < 0 || (size_t)len >= n) {
		out[0] = '\0';
		return false;
	}
	return true;
}

/* A token value read from the app database: *@out a copy, or @bad if it cannot be carried. */
static void
token_read(const struct appdb_val *v, char **out, bool *bad)
{
	*out = NULL;
	*bad = false;
	if (v->type != APPDB_TEXT || (v->s[0] == '\0' && !v->blob))
		return;
	if (v->blob || strlen(v->s) >= SEAL_TOKEN_MAX)
		*bad = true;
	else
		*out = xstrdup(v->s);
}

/* Read the channel row @id (inside the caller's transaction). */
lethe_rc
disconnect_chan_read(const struct datamap *dm, struct appdb *db, const char *id,
                     struct chan_row *out, struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	struct appdb_stmt *q = NULL;
	struct appdb_val v;
	struct sql b;
	size_t i;
	enum appdb_step step;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	sql_init(&b, db, SQL_CAP);
	sql_add(&b, "SELECT ");
	sql_ident(&b, ch->conn.platform);
	sql_add(&b, ", ");
	sql_ident(&b, ch->conn.account);
	sql_add(&b, ", ");
	sql_ident(&b, ch->conn.revoke_token);
	for (i = 0; i < ch->ntokens; i++) {
		/* CASE, not a truth value as a number: SQLite's 1/0, PostgreSQL's boolean. */
		sql_add(&b, i == 0 ? ", (CASE WHEN " : " + (CASE WHEN ");
		sql_ident(&b, ch->tokens[i]);
		sql_add(&b, " IS NOT NULL THEN 1 ELSE 0 END)");
	}
	sql_add(&b, " FROM ");
	sql_ident(&b, ch->name);
	rc = match_sql(dm, ch, NULL, id, &b, err);
	if (rc == LETHE_OK)
		rc = stmt_prepare(db, &b, &q, err);
	if (rc == LETHE_OK) {
		step = appdb_step(db, q, err);
		if (step == APPDB_ERROR) {
			rc = LETHE_E_DB;
		} else if (step == APPDB_ROW) {
			out->found = true;
			appdb_column(db, q, 0, &v);
			val_text(&v, out->platform, sizeof(out->platform));
			appdb_column(db, q, 1, &v);
			out->account_bad = !val_text(&v, out->account, sizeof(out->account));
			appdb_column(db, q, 2, &v);
			token_read(&v, &out->token, &out->token_bad);
			appdb_column(db, q, 3, &v);
			out->tokens = v.type == APPDB_INT ? v.i : 0;
		}
	}
	if (q != NULL)
		appdb_finalize(db, q);
	sql_free(&b);
	return rc;
}

void
disconnect_unsubs_free(struct unsub *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].account);
		if (v[i].token != NULL)
			sodium_memzero(v[i].token, strlen(v[i].token));
		free(v[i].token);
	}
	free(v);
}

/*
 * The webhook subscriptions of channel @id to remove; more than UNSUB_MAX, an
 * account id that does not fit or a Page token too long to carry is an error
 * (nothing is skipped silently).
 */
lethe_rc
disconnect_unsub_accounts(const struct datamap *dm, struct appdb *db, const char *id,
                          struct unsub **out, size_t *n, struct lethe_err *err)
{
	struct appdb_stmt *q = NULL;
	struct appdb_val v;
	char acc[256];
	struct sql b;
	size_t i;
	lethe_rc rc = LETHE_OK;

	*out = xcalloc(UNSUB_MAX, sizeof(**out));
	*n = 0;
	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];
		enum appdb_step step;
		char *tok = NULL;
		bool bad = false;

		if (!t->unsub.present)
			continue;
		sql_init(&b, db, SQL_CAP);
		sql_add(&b, "SELECT ");
		sql_ident(&b, t->unsub.account);
		sql_add(&b, ", ");
		if (t->unsub.token != NULL)
			sql_ident(&b, t->unsub.token);
		else
			sql_add(&b, "NULL");
		sql_add(&b, " FROM ");
		sql_ident(&b, t->name);
		rc = match_sql(dm, t, NULL, id, &b, err);
		plan_add_conds(&b, t->unsub.when, t->unsub.nwhen);
		sql_add(&b, " ORDER BY ");
		sql_ident(&b, t->key);
		if (rc == LETHE_OK)
			rc = stmt_prepare(db, &b, &q, err);
		while (rc == LETHE_OK) {
			step = appdb_step(db, q, err);
			if (step == APPDB_ERROR)
				rc = LETHE_E_DB;
			if (step != APPDB_ROW)
				break;
			appdb_column(db, q, 0, &v);
			if (!val_text(&v, acc, sizeof(acc)))
				rc = lethe_err_set(err, LETHE_E_INVALID,
				                   "a webhook subscription's account id in '%s' is "
				                   "longer than %zu bytes; nothing changed",
				                   t->name, sizeof(acc) - 1);
			if (rc != LETHE_OK || acc[0] == '\0')
				continue;
			appdb_column(db, q, 1, &v);
			token_read(&v, &tok, &bad);
			if (bad)
				rc = lethe_err_set(
				    err, LETHE_E_INVALID,
				    "a Page token in '%s' is binary or %d bytes or longer "
				    "and cannot be carried by a job; nothing changed",
				    t->name, SEAL_TOKEN_MAX);
			else if (*n >= UNSUB_MAX)
				rc = lethe_err_set(
				    err, LETHE_E_INVALID,
				    "the channel has more than %d webhook subscriptions "
				    "to remove; nothing changed",
				    UNSUB_MAX);
			if (rc != LETHE_OK) {
				if (tok != NULL)
					sodium_memzero(tok, strlen(tok));
				free(tok);
				continue;
			}
			(*out)[*n].account = xstrdup(acc);
			(*out)[(*n)++].token = tok;
		}
		if (q != NULL)
			appdb_finalize(db, q);
		q = NULL;
		sql_free(&b);
	}
	return rc;
}

/* The "set" of @t's disconnect as a JSON object. */
static json_t *
set_json(const struct dm_table *t)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < t->ndisc; i++) {
		const struct dm_anon_col *a = &t->disc[i];

		if (a->how == DM_ANON_NULL)
			json_object_set_new(o, a->column, json_null());
		else if (a->set.is_int)
			json_object_set_new(o, a->column, json_integer(a->set.i));
		else
			json_object_set_new(o, a->column, json_string(a->set.s));
	}
	return o;
}

static bool
conds_name(const struct dm_cond *c, size_t n, const char *column)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(c[i].column, column) == 0)
			return true;
	return false;
}

bool
disconnect_held_column(const struct datamap *dm, const char *column)
{
	const struct dm_table *ch = dm->channel;
	size_t i, j;

	if (ch == NULL)
		return false;
	for (i = 0; i < ch->nlinks; i++)
		if (strcmp(ch->links[i].column, column) == 0 ||
		    conds_name(ch->links[i].when, ch->links[i].nwhen, column))
			return true;
	for (i = 0; i < ch->nerase; i++)
		for (j = 0; j < ch->erase[i].nparts; j++)
			if (conds_name(ch->erase[i].parts[j].when, ch->erase[i].parts[j].nwhen,
			               column))
				return true;
	/* A child found through this column of the channel (`references`). */
	for (i = 0; i < dm->ntables; i++)
		for (j = 0; j < dm->tables[i].nlinks; j++) {
			const struct dm_link *l = &dm->tables[i].links[j];

			if (l->kind == DM_LINK_PARENT && l->parent == ch && l->references != NULL &&
			    strcmp(l->references, column) == 0)
				return true;
		}
	return false;
}

/*
 * " SET" list of the channel row's disconnect for an erasure: every token
 * column, and the `set` columns but those disconnect_held_column() names
 * (erase_disconnect_finish() writes them after the steps).  The number of
 * columns set.
 */
static size_t
erase_set_sql(const struct datamap *dm, const struct dm_table *t, struct sql *b)
{
	size_t i, n = 0;

	for (i = 0; i < t->ntokens; i++, n++) {
		if (n > 0)
			sql_add(b, ", ");
		sql_ident(b, t->tokens[i]);
		sql_add(b, " = NULL");
	}
	for (i = 0; i < t->ndisc; i++) {
		if (disconnect_held_column(dm, t->disc[i].column))
			continue;
		if (n++ > 0)
			sql_add(b, ", ");
		sql_ident(b, t->disc[i].column);
		sql_add(b, " = ");
		revoke_sql_value(b, &t->disc[i]);
	}
	return n;
}

/*
 * UPDATE one table's rows of channel @id as its disconnect says; *@rows
 * changed.  @erase: the channel row's columns an erasure finds it by are
 * left as they are.
 */
static lethe_rc
apply_table(const struct datamap *dm, struct appdb *db, const struct dm_table *t, const char *id,
            bool erase, int64_t *rows, struct lethe_err *err)
{
	bool is_ch = t == dm->channel;
	struct sql b;
	size_t i, n = 0;
	lethe_rc rc = LETHE_OK;

	*rows = 0;
	sql_init(&b, db, SQL_CAP);
	sql_add(&b, "UPDATE ");
	sql_ident(&b, t->name);
	sql_add(&b, " SET ");
	n = is_ch && erase ? erase_set_sql(dm, t, &b) : revoke_sql_set(&b, t, is_ch);
	rc = match_sql(dm, t, t->disc_column, id, &b, err);
	plan_add_conds(&b, t->disc_when, t->ndisc_when);
	/* Count only rows that change: a rule already disabled is not disabled again. */
	if (!is_ch && t->ndisc > 0) {
		sql_add(&b, " AND NOT (");
		for (i = 0; i < t->ndisc; i++) {
			if (i > 0)
				sql_add(&b, " AND ");
			sql_ident(&b, t->disc[i].column);
			sql_is(&b, false);
			revoke_sql_value(&b, &t->disc[i]);
		}
		sql_add(&b, ")");
	}
	if (rc == LETHE_OK)
		rc = stmt_check(&b, err);
	if (rc == LETHE_OK && n > 0)
		rc = appdb_exec(db, sql_str(&b), sql_vals(&b), sql_nvals(&b), rows, err);
	sql_free(&b);
	return rc;
}

/*
 * Wipe the channel's tokens and apply every disconnect effect (if
 * @channel_only, only the channel row's), inside the caller's transaction;
 * @effects gets {"tokens_wiped", "tables": [...]}.
 */
lethe_rc
disconnect_apply_effects(const struct datamap *dm, struct appdb *db, const char *id, int64_t tokens,
                         bool channel_only, json_t *effects, struct lethe_err *err)
{
	json_t *list = json_array();
	size_t i;
	lethe_rc rc = LETHE_OK;

	json_object_set_new(effects, "tokens_wiped", json_integer(tokens));
	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++) {
		const struct dm_table *t = &dm->tables[i];
		int64_t rows = 0;

		if (t != dm->channel && (t->ndisc == 0 || channel_only))
			continue;
		rc = apply_table(dm, db, t, id, channel_only, &rows, err);
		if (rc == LETHE_OK && t->ndisc > 0)
			json_array_append_new(list,
			                      json_pack("{s:s, s:o, s:I}", "table", t->name, "set",
			                                set_json(t), "rows", (json_int_t)rows));
	}
	json_object_set_new(effects, "tables", list);
	return rc;
}

lethe_rc
disconnect_chan_owned(const struct datamap *dm, struct appdb *db, const char *id, const char *kind,
                      const char *value, bool *ours, struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	struct appdb_stmt *q = NULL;
	struct appdb_val v;
	struct sql b;
	char text[256];
	size_t i;
	int ncols = 0, k;
	enum appdb_step step;
	lethe_rc rc;

	*ours = false;
	if (ch == NULL || !disconnect_id_ok(id))
		return LETHE_OK;
	sql_init(&b, db, SQL_CAP);
	sql_add(&b, "SELECT 1");
	for (i = 0; i < ch->nlinks; i++) {
		if (ch->links[i].kind != DM_LINK_IDENTITY ||
		    strcmp(ch->links[i].identity, kind) != 0)
			continue;
		sql_add(&b, ", ");
		sql_ident(&b, ch->links[i].column);
		ncols++;
	}
	sql_add(&b, " FROM ");
	sql_ident(&b, ch->name);
	rc = match_sql(dm, ch, NULL, id, &b, err);
	if (rc == LETHE_OK)
		rc = stmt_prepare(db, &b, &q, err);
	if (rc == LETHE_OK) {
		step = appdb_step(db, q, err);
		if (step == APPDB_ERROR)
			rc = LETHE_E_DB;
		*ours = step == APPDB_ROW;
		for (k = 1; *ours && k <= ncols; k++) {
			appdb_column(db, q, k, &v);
			/* A value too long to compare is never taken for the person's. */
			if (!val_text(&v, text, sizeof(text)) ||
			    (text[0] != '\0' && strcmp(text, value) != 0))
				*ours = false;
		}
		sodium_memzero(text, sizeof(text));
	}
	if (q != NULL)
		appdb_finalize(db, q);
	sql_free(&b);
	return rc;
}

/*
 * One page of the channels linked to identity @value by link @l, keys above
 * @after in key order: at most IDENTITY_MAX ids into @ids (*@nids).
 */
lethe_rc
disconnect_identity_page(const struct datamap *dm, struct appdb *db, const struct dm_link *l,
                         const char *value, int64_t after, char **ids, size_t *nids,
                         struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	struct appdb_stmt *q = NULL;
	struct sql b;
	char key[64];
	lethe_rc rc;

	*nids = 0;
	sql_init(&b, db, SQL_CAP);
	sql_add(&b, "SELECT ");
	sql_ident(&b, ch->key);
	sql_add(&b, " FROM ");
	sql_ident(&b, ch->name);
	sql_add(&b, " WHERE ");
	sql_ident(&b, l->column);
	sql_add(&b, " = ");
	sql_value(&b, (struct appdb_val){.type = APPDB_TEXT, .s = value});
	sql_add(&b, " AND ");
	sql_ident(&b, ch->key);
	sql_add(&b, " > ");
	sql_value(&b, (struct appdb_val){.type = APPDB_INT, .i = after});
	plan_add_conds(&b, l->when, l->nwhen);
	sql_add(&b, " ORDER BY ");
	sql_ident(&b, ch->key);
	rc = stmt_prepare(db, &b, &q, err);
	while (rc == LETHE_OK && *nids < IDENTITY_MAX) {
		struct appdb_val v;
		enum appdb_step step = appdb_step(db, q, err);

		if (step == APPDB_ERROR)
			rc = LETHE_E_DB;
		if (step != APPDB_ROW)
			break;
		appdb_column(db, q, 0, &v);
		if (val_text(&v, key, sizeof(key)) && disconnect_id_ok(key))
			ids[(*nids)++] = xstrdup(key);
		else
			log_warnx("disconnect: a channel of table '%s' has a key that is not a "
			          "positive integer; skipped",
			          ch->name);
	}
	if (q != NULL)
		appdb_finalize(db, q);
	sql_free(&b);
	return rc;
}
