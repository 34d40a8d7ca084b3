/* SPDX-License-Identifier: MIT */
/*
 * validate.c - checking a parsed data map against the live app database.
 *
 * Every table and column the map names must exist in the database's
 * catalogue; only then may the planner put them (quoted) into SQL.  Messages
 * point at the map's line: "datamap.yaml:42: table 'posts' has no column
 * 'chanel_id' (columns: id, project_id, ...)".
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <string.h>

#include "datamap/datamap.h"
#include "datamap/datamap_internal.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/*
 * True if column name @c suggests a secret: it holds "password" or
 * "passwd", or ends in "secret", "token", "token_hash" or "api_key".
 */
static bool
looks_secret(const char *c)
{
	static const char *const ends[] = {"secret",  "token",  "token_hash",
	                                   "api_key", "apikey", NULL};
	char low[128];
	size_t i, n = strlen(c);

	if (n >= sizeof(low))
		return false;
	for (i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)c[i]);
	if (strstr(low, "password") != NULL || strstr(low, "passwd") != NULL)
		return true;
	for (i = 0; ends[i] != NULL; i++) {
		size_t m = strlen(ends[i]);

		if (n >= m && strcmp(low + n - m, ends[i]) == 0)
			return true;
	}
	return false;
}

static lethe_rc
need_col(const struct datamap *dm, const struct appdb_table *ti, const char *col, int line,
         const char *what, struct lethe_err *err)
{
	struct buf list;
	size_t i;
	lethe_rc rc;

	if (appdb_table_find(ti, col) >= 0)
		return LETHE_OK;
	buf_init(&list, 2048);
	for (i = 0; i < ti->ncols; i++)
		buf_addf(&list, "%s%s", i ? ", " : "", ti->cols[i].name);
	rc = datamap_fail_at(dm, err, line, "table '%s' has no column '%s' (%s; columns: %s)",
	                     ti->name, col, what, buf_str(&list));
	buf_free(&list);
	return rc;
}

static lethe_rc
need_conds(const struct datamap *dm, const struct appdb_table *ti, const struct dm_cond *c,
           size_t n, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc;

	for (i = 0; i < n; i++) {
		rc = need_col(dm, ti, c[i].column, c[i].line, "condition", err);
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

/* Does @type (a declared column type) say integers or text?  SQLite's affinity rules. */
static enum dm_time_format
format_of_type(const char *type)
{
	char up[64];
	size_t i;

	for (i = 0; i + 1 < sizeof(up) && type[i] != '\0'; i++)
		up[i] = (char)((type[i] >= 'a' && type[i] <= 'z') ? type[i] - 32 : type[i]);
	up[i] = '\0';
	if (strstr(up, "INT") != NULL)
		return DM_TIME_UNIX;
	if (strstr(up, "CHAR") != NULL || strstr(up, "CLOB") != NULL ||
	    strstr(up, "TEXT") != NULL || strstr(up, "DATE") != NULL || strstr(up, "TIME") != NULL)
		return DM_TIME_DATETIME;
	return DM_TIME_AUTO;
}

/*
 * The ttl's time column: its format (declared, or from the column's type),
 * and one stored value (the first row, cheap with or without an index) must
 * be in that format.  The value itself never reaches a message.
 */
static lethe_rc
validate_ttl(struct datamap *dm, struct dm_table *t, struct appdb *db, const struct appdb_table *ti,
             struct lethe_err *err)
{
	struct dm_ttl *ttl = &t->ttl;
	struct appdb_stmt *q = NULL;
	struct appdb_val v;
	struct buf b;
	bool ok = true;
	int64_t when;
	size_t i, j, nc;
	const struct dm_anon_col *c;
	lethe_rc rc;

	/* A delete ttl shorter than a retention would delete rows under a legal hold. */
	for (i = 0; i < t->nerase; i++)
		for (j = 0; j < t->erase[i].nparts; j++) {
			const struct dm_erase *e = &t->erase[i].parts[j];

			if (e->action == DM_RETAIN && ttl->action == DM_DELETE &&
			    ttl->after < e->retain_for)
				return datamap_fail_at(
				    dm, err, ttl->line,
				    "table '%s': the ttl (delete after %lld s) is shorter than the "
				    "retention period (%lld s): it would delete rows under a legal "
				    "hold",
				    t->name, (long long)ttl->after, (long long)e->retain_for);
			/*
			 * The sweep's delete cannot see holds: it is safe only if every
			 * hold ends before the ttl could reach its row, i.e. the period
			 * starts at the ttl's own time column (and is not longer).
			 */
			if (e->action == DM_RETAIN && ttl->action == DM_DELETE &&
			    (e->retain_from == NULL || strcmp(e->retain_from, ttl->column) != 0))
				return datamap_fail_at(
				    dm, err, ttl->line,
				    "table '%s': the ttl on '%s' could delete rows held by the "
				    "retain "
				    "of line %d before their hold ends (the hold counts from "
				    "%s%s): "
				    "give that retain 'from: %s', or remove the ttl",
				    t->name, ttl->column,
				    i == 0 && j + 1 == t->erase[i].nparts ? t->line : e->line,
				    e->retain_from != NULL ? "column " : "the erasure",
				    e->retain_from != NULL ? e->retain_from : "", ttl->column);
		}
	rc = need_col(dm, ti, ttl->column, ttl->line, "ttl column", err);
	if (rc == LETHE_OK)
		rc = need_conds(dm, ti, ttl->when, ttl->nwhen, err);
	for (i = 0; rc == LETHE_OK && i < ttl->nanon; i++) {
		rc = need_col(dm, ti, ttl->anon[i].column, ttl->anon[i].line, "ttl column", err);
		for (j = 0; rc == LETHE_OK && j < i; j++)
			if (strcmp(ttl->anon[j].column, ttl->anon[i].column) == 0)
				rc = datamap_fail_at(dm, err, ttl->anon[i].line,
				                     "column '%s' listed twice",
				                     ttl->anon[i].column);
	}
	c = dm_ttl_columns(t, &nc);
	for (i = 0; rc == LETHE_OK && ttl->action == DM_ANONYMIZE && i < nc; i++)
		if (strcmp(c[i].column, t->key) == 0 || strcmp(c[i].column, ttl->column) == 0)
			rc = datamap_fail_at(
			    dm, err, c[i].line,
			    "table '%s': a ttl anonymize cannot rewrite the key or the "
			    "time column ('%s')",
			    t->name, c[i].column);
	if (rc != LETHE_OK)
		return rc;
	if (ttl->format == DM_TIME_AUTO)
		ttl->format = format_of_type(ti->cols[appdb_table_find(ti, ttl->column)].type);
	if (ttl->format == DM_TIME_AUTO)
		return datamap_fail_at(
		    dm, err, ttl->line,
		    "table '%s': cannot tell from the type of '%s' how it stores time: "
		    "add 'format: datetime' (\"YYYY-MM-DD HH:MM:SS\" UTC text) or "
		    "'format: unix' (epoch seconds) to the ttl",
		    t->name, ttl->column);
	/*
	 * The smallest and the largest value (two index seeks): values of
	 * another type sort before (integers in a text column) or after (text
	 * in an integer column) the right ones, so a mixed column shows here.
	 */
	buf_init(&b, 4096);
	buf_adds(&b, "SELECT min(");
	appdb_quote(db, &b, ttl->column);
	buf_adds(&b, "), max(");
	appdb_quote(db, &b, ttl->column);
	buf_adds(&b, ") FROM ");
	appdb_quote(db, &b, t->name);
	rc = appdb_prepare(db, buf_str(&b), &q, err);
	buf_free(&b);
	if (rc == LETHE_OK && appdb_step(db, q, err) == APPDB_ROW) {
		for (i = 0; i < 2 && ok; i++) {
			appdb_column(db, q, (int)i, &v);
			if (v.type == APPDB_NULL)
				continue;
			if (ttl->format == DM_TIME_UNIX)
				ok = v.type == APPDB_INT;
			else
				ok = v.type == APPDB_TEXT && strlen(v.s) == 19 && v.s[10] == ' ' &&
				     time_parse(v.s, &when) == LETHE_OK;
		}
	}
	appdb_finalize(db, q);
	if (rc == LETHE_OK && !ok)
		rc = datamap_fail_at(
		    dm, err, ttl->line,
		    "table '%s': ttl column '%s' holds values that are not %s; set the "
		    "ttl's 'format' to what the column holds (datetime or unix)",
		    t->name, ttl->column,
		    ttl->format == DM_TIME_UNIX ? "integer epoch seconds (format: unix)"
		                                : "\"YYYY-MM-DD HH:MM:SS\" UTC text "
		                                  "(format: datetime)");
	return rc;
}

/* The columns erase part @e (of @t, described by @ti) names exist; the key is not rewritten. */
static lethe_rc
validate_part(const struct datamap *dm, const struct dm_table *t, const struct dm_erase *e,
              const struct appdb_table *ti, struct lethe_err *err)
{
	size_t i, j;
	lethe_rc rc = LETHE_OK;

	for (i = 0; rc == LETHE_OK && i < e->nanon; i++) {
		rc = need_col(dm, ti, e->anon[i].column, e->anon[i].line, "erase column", err);
		if (rc == LETHE_OK && strcmp(e->anon[i].column, t->key) == 0)
			rc = datamap_fail_at(dm, err, e->anon[i].line,
			                     "table '%s': the key column '%s' cannot be anonymized",
			                     t->name, t->key);
		for (j = 0; rc == LETHE_OK && j < i; j++)
			if (strcmp(e->anon[j].column, e->anon[i].column) == 0)
				rc = datamap_fail_at(dm, err, e->anon[i].line,
				                     "column '%s' listed twice", e->anon[i].column);
	}
	if (rc == LETHE_OK)
		rc = need_conds(dm, ti, e->when, e->nwhen, err);
	if (rc == LETHE_OK && e->retain_from != NULL)
		rc = need_col(dm, ti, e->retain_from,
		              e == &t->erase[0].parts[t->erase[0].nparts - 1] ? t->line : e->line,
		              "retain 'from' column", err);
	return rc;
}

static lethe_rc
validate_table(struct datamap *dm, struct dm_table *t, struct appdb *db, struct appdb_table *infos,
               struct lethe_err *err)
{
	struct appdb_table *ti = &infos[t->index];
	size_t i, j, npk = 0;
	int pk = -1;
	lethe_rc rc;

	if (t->key == NULL) {
		for (i = 0; i < ti->ncols; i++)
			if (ti->cols[i].pk) {
				npk++;
				pk = (int)i;
			}
		if (npk != 1)
			return datamap_fail_at(
			    dm, err, t->line,
			    "table '%s' has no 'key' and no single-column primary key: "
			    "name a column whose value is unique per row",
			    t->name);
		t->key = xstrdup(ti->cols[pk].name);
	}
	rc = need_col(dm, ti, t->key, t->line, "key", err);
	for (i = 0; rc == LETHE_OK && i < t->nlinks; i++) {
		struct dm_link *l = &t->links[i];

		rc = need_col(dm, ti, l->column, l->line, "link column", err);
		if (rc == LETHE_OK)
			l->int_column = ti->cols[appdb_table_find(ti, l->column)].integer;
		if (rc == LETHE_OK)
			rc = need_conds(dm, ti, l->when, l->nwhen, err);
		if (rc == LETHE_OK && l->kind == DM_LINK_PARENT && l->references != NULL)
			rc = need_col(dm, &infos[l->parent->index], l->references, l->line,
			              "referenced column of the parent", err);
		if (rc == LETHE_OK && !db->ops->column_indexed(db, t->name, l->column) &&
		    strcmp(l->column, t->key) != 0) {
			struct buf b;

			/* Quoted as the dialect quotes: a mixed-case name stays itself. */
			buf_init(&b, 1024);
			buf_adds(&b, "CREATE INDEX ON ");
			appdb_quote(db, &b, t->name);
			buf_adds(&b, " (");
			appdb_quote(db, &b, l->column);
			buf_adds(&b, ")");
			log_warnx("%s:%d: %s.%s has no index: erasure will scan the table (%s)",
			          dm->path, l->line, t->name, l->column, buf_str(&b));
			buf_free(&b);
		}
	}
	for (i = 0; rc == LETHE_OK && i < t->ntokens; i++)
		rc = need_col(dm, ti, t->tokens[i], t->line, "token column", err);
	for (i = 0; rc == LETHE_OK && i < t->nmedia; i++)
		rc = need_col(dm, ti, t->media[i], t->line, "media column", err);
	for (i = 0; rc == LETHE_OK && i < t->nsecrets; i++)
		rc = need_col(dm, ti, t->secrets[i], t->line, "secret column", err);
	/* A column that looks like a secret and would go into exports: say so (not wrong). */
	for (i = 0; rc == LETHE_OK && i < ti->ncols; i++)
		if (looks_secret(ti->cols[i].name) && dm_column_exportable(t, ti->cols[i].name))
			log_warnx("%s:%d: %s.%s looks like a secret but would go into exports "
			          "(list it under the table's 'secrets' or 'tokens')",
			          dm->path, t->line, t->name, ti->cols[i].name);
	for (i = 0; rc == LETHE_OK && i < t->nerase; i++)
		for (j = 0; rc == LETHE_OK && j < t->erase[i].nparts; j++)
			rc = validate_part(dm, t, &t->erase[i].parts[j], ti, err);
	for (i = 0; rc == LETHE_OK && i < t->ndisc; i++) {
		rc = need_col(dm, ti, t->disc[i].column, t->disc[i].line, "disconnect column", err);
		if (rc == LETHE_OK && strcmp(t->disc[i].column, t->key) == 0)
			rc =
			    datamap_fail_at(dm, err, t->disc[i].line,
			                    "table '%s': disconnect cannot set the key column '%s'",
			                    t->name, t->key);
	}
	if (rc == LETHE_OK && t->disc_column != NULL)
		rc = need_col(dm, ti, t->disc_column, t->disc_line, "disconnect 'column'", err);
	if (rc == LETHE_OK)
		rc = need_conds(dm, ti, t->disc_when, t->ndisc_when, err);
	if (rc == LETHE_OK && t->conn.present) {
		rc = need_col(dm, ti, t->conn.platform, t->conn.line, "connection platform", err);
		if (rc == LETHE_OK)
			rc = need_col(dm, ti, t->conn.account, t->conn.line, "connection account",
			              err);
	}
	if (rc == LETHE_OK && t->unsub.present) {
		rc = need_col(dm, ti, t->unsub.account, t->unsub.line, "unsubscribe account", err);
		if (rc == LETHE_OK && t->unsub.token != NULL)
			rc = need_col(dm, ti, t->unsub.token, t->unsub.line, "unsubscribe token",
			              err);
		if (rc == LETHE_OK)
			rc = need_conds(dm, ti, t->unsub.when, t->unsub.nwhen, err);
	}
	if (rc == LETHE_OK && t->ttl.present)
		rc = validate_ttl(dm, t, db, ti, err);
	return rc;
}

/* The columns @v (@n) an effect writes to @t: each exists and is not the key. */
static lethe_rc
validate_effect_cols(const struct datamap *dm, const struct dm_effect *e, const struct dm_table *t,
                     const struct appdb_table *ti, const struct dm_anon_col *v, size_t n,
                     struct lethe_err *err)
{
	size_t i;
	lethe_rc rc = LETHE_OK;

	for (i = 0; rc == LETHE_OK && i < n; i++) {
		rc = need_col(dm, ti, v[i].column, v[i].line, "effect column", err);
		if (rc == LETHE_OK && strcmp(v[i].column, t->key) == 0)
			rc =
			    datamap_fail_at(dm, err, v[i].line,
			                    "effect '%s': table '%s': an effect cannot set the key "
			                    "column '%s'",
			                    e->name, t->name, t->key);
	}
	return rc;
}

/* Every column the effects set or put back exists in its table (keys are known by now). */
static lethe_rc
validate_effects(const struct datamap *dm, const struct appdb_table *infos, struct lethe_err *err)
{
	size_t i, j;
	lethe_rc rc = LETHE_OK;

	for (i = 0; rc == LETHE_OK && i < dm->neffects; i++) {
		const struct dm_effect *e = &dm->effects[i];

		for (j = 0; rc == LETHE_OK && j < e->nsets; j++) {
			const struct dm_effect_set *s = &e->sets[j];
			const struct appdb_table *ti = &infos[s->table->index];

			rc = validate_effect_cols(dm, e, s->table, ti, s->set, s->nset, err);
			if (rc == LETHE_OK)
				rc = validate_effect_cols(dm, e, s->table, ti, s->undo, s->nundo,
				                          err);
		}
	}
	return rc;
}

lethe_rc
datamap_validate(struct datamap *dm, struct appdb *db, struct lethe_err *err)
{
	struct appdb_table *infos;
	size_t i, n = dm->ntables;
	lethe_rc rc = LETHE_OK;

	infos = xcalloc(n ? n : 1, sizeof(*infos));
	for (i = 0; i < n && rc == LETHE_OK; i++) {
		struct lethe_err e;

		rc = appdb_table_info(db, dm->tables[i].name, &infos[i], &e);
		if (rc == LETHE_E_NOTFOUND)
			rc = datamap_fail_at(dm, err, dm->tables[i].line,
			                     "no table '%s' in the app database %s",
			                     dm->tables[i].name, db->target);
		else if (rc != LETHE_OK)
			lethe_err_set(err, rc, "%s", e.msg);
	}
	/* Keys first: a parent link's default reference is the parent's key. */
	for (i = 0; i < n && rc == LETHE_OK; i++)
		rc = validate_table(dm, &dm->tables[i], db, infos, err);
	if (rc == LETHE_OK)
		rc = validate_effects(dm, infos, err);
	for (i = 0; i < n; i++)
		appdb_table_free(&infos[i]);
	free(infos);
	return rc;
}
