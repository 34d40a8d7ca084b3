/* SPDX-License-Identifier: MIT */
/*
 * parse_effects.c - the data map's `effects:` section: what a privacy
 * request does at once when it is accepted (mark the account closing,
 * disable the login, revoke every grant) and what cancelling it puts back.
 *
 *   effects:
 *     close-account:
 *       description: "Sign-in is disabled and every grant is revoked"
 *       tables:
 *         users: {set: {status: closing}, undo: {status: active}}
 *       revoke: true
 *
 * Parsed by datamap_load() once the tables are resolved (parse.c calls
 * datamap_parse_effects()), with the value syntax of `disconnect: set`.
 * Checked here on their own: every table is mapped, a column is neither a
 * link column of its table (an undo would no longer find the rows) nor
 * put back by 'undo' without being set, and 'revoke' needs the channel
 * table.  validate.c checks the columns against the live database.
 * Applied by engine/effects.c; named by request policies in lethe.yaml.
 */
#include "util/fmacros.h"

#include "datamap/datamap.h"
#include "datamap/datamap_internal.h"
#include "util/mem.h"
#include "util/yamlutil.h"

#define EFFECT_NAME_MAX 63 /* characters of an effect name */

/* FAIL() (parse_internal.h): at @node's line, or the enclosing mapping's if @node is missing. */

/* An effect name: 1 to EFFECT_NAME_MAX letters, digits, '-' or '_' (as policy names). */
static bool
name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= EFFECT_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

/* True if @col of @t links its rows to a person (an identity or a parent link). */
static bool
is_link_column(const struct dm_table *t, const char *col)
{
	size_t i;

	for (i = 0; i < t->nlinks; i++)
		if (strcmp(t->links[i].column, col) == 0)
			return true;
	return false;
}

static const struct dm_anon_col *
find_col(const struct dm_anon_col *v, size_t n, const char *col)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].column, col) == 0)
			return &v[i];
	return NULL;
}

/* The columns @v (@n) of effect @e on @s: none a link column. */
static lethe_rc
check_cols(struct parser *p, const struct dm_effect *e, const struct dm_effect_set *s,
           const struct dm_anon_col *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (is_link_column(s->table, v[i].column))
			return datamap_fail_at(
			    p->dm, p->err, v[i].line,
			    "effect '%s': column '%s' links the rows of '%s' to a person: an "
			    "effect "
			    "cannot change it (its undo would no longer find the rows)",
			    e->name, v[i].column, s->table_name);
	return LETHE_OK;
}

/* One table of effect @e: TABLE: {set: {col: value}, undo: {col: value}}. */
static lethe_rc
parse_effect_table(struct parser *p, const struct dm_effect *e, yaml_node_t *k, yaml_node_t *n,
                   struct dm_effect_set *s)
{
	static const char *const keys[] = {"set", "undo", NULL};
	const char *name = ynode_str(k);
	yaml_node_t *v;
	size_t i;
	lethe_rc rc;

	s->line = ynode_line(k);
	p->ctx_line = s->line;
	if (name == NULL || !appdb_ident_ok(name))
		return FAIL(p, k, "effect '%s': '%s' is not a table name", e->name,
		            name ? name : "");
	s->table_name = xstrdup(name);
	s->table = (struct dm_table *)datamap_table(p->dm, name);
	if (s->table == NULL)
		return FAIL(p, k, "effect '%s': table '%s' is not mapped under 'tables'", e->name,
		            name);
	if (!ynode_is_map(n))
		return FAIL(
		    p, n,
		    "effect '%s': table '%s' must be a mapping like {set: {status: closing}, "
		    "undo: {status: active}}",
		    e->name, name);
	rc = ymap_check_keys(&p->y, n, keys, "an effect's table", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "set");
	if (!ynode_is_map(v) || ynode_len(v) == 0)
		return FAIL(p, v, "effect '%s': table '%s' needs 'set': {column: value}", e->name,
		            name);
	rc = datamap_parse_set(p, v, "effect set", &s->set, &s->nset);
	if (rc == LETHE_OK)
		rc = check_cols(p, e, s, s->set, s->nset);
	v = ymap_get(&p->y, n, "undo");
	if (rc != LETHE_OK || v == NULL)
		return rc;
	if (!ynode_is_map(v) || ynode_len(v) == 0)
		return FAIL(p, v,
		            "effect '%s': 'undo' of table '%s' must map columns to the values a "
		            "cancelled request puts back",
		            e->name, name);
	rc = datamap_parse_set(p, v, "effect undo", &s->undo, &s->nundo);
	for (i = 0; rc == LETHE_OK && i < s->nundo; i++)
		if (find_col(s->set, s->nset, s->undo[i].column) == NULL)
			rc = datamap_fail_at(p->dm, p->err, s->undo[i].line,
			                     "effect '%s': 'undo' puts back column '%s' of '%s', "
			                     "which its 'set' does not change",
			                     e->name, s->undo[i].column, name);
	return rc;
}

static lethe_rc
parse_effect(struct parser *p, yaml_node_t *k, yaml_node_t *n, struct dm_effect *e)
{
	static const char *const keys[] = {"description", "tables", "revoke", NULL};
	const char *name = ynode_str(k), *s;
	yaml_node_t *v;
	size_t i;
	lethe_rc rc;

	e->line = ynode_line(k);
	p->ctx_line = e->line;
	if (!name_ok(name))
		return FAIL(p, k, "effect name '%s' must be 1 to %d letters, digits, '-' or '_'",
		            name ? name : "", EFFECT_NAME_MAX);
	e->name = xstrdup(name);
	if (!ynode_is_map(n))
		return FAIL(p, n, "effect '%s' must be a mapping (description, tables, revoke)",
		            e->name);
	rc = ymap_check_keys(&p->y, n, keys, "an effect", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "description");
	s = ynode_str(v);
	if (s == NULL || s[0] == '\0')
		return FAIL(p, v,
		            "effect '%s' needs a 'description' (shown to operators and people)",
		            e->name);
	e->description = xstrdup(s);
	v = ymap_get(&p->y, n, "revoke");
	if (v != NULL) {
		s = ynode_str(v);
		if (s == NULL || (strcmp(s, "true") != 0 && strcmp(s, "false") != 0))
			return FAIL(p, v, "effect '%s': 'revoke' must be true or false", e->name);
		e->revoke = strcmp(s, "true") == 0;
	}
	if (e->revoke && p->dm->channel == NULL)
		return FAIL(p, v,
		            "effect '%s': 'revoke: true' needs the channel table: give one table "
		            "'connection: {platform, account, revoke_token}'",
		            e->name);
	v = ymap_get(&p->y, n, "tables");
	if (v == NULL && !e->revoke)
		return FAIL(p, NULL, "effect '%s' does nothing: give it 'tables' or 'revoke: true'",
		            e->name);
	if (v == NULL)
		return LETHE_OK;
	if (!ynode_is_map(v) || ynode_len(v) == 0)
		return FAIL(p, v, "effect '%s': 'tables' must map table names to {set, undo}",
		            e->name);
	rc = ymap_check_dups(&p->y, v, "an effect's tables", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	e->sets = xcalloc(ynode_len(v), sizeof(*e->sets));
	for (i = 0; rc == LETHE_OK && i < ynode_len(v); i++) {
		e->nsets++;
		rc = parse_effect_table(p, e, ymap_key(&p->y, v, i), ymap_val(&p->y, v, i),
		                        &e->sets[i]);
	}
	return rc;
}

lethe_rc
datamap_parse_effects(struct parser *p, yaml_node_t *n)
{
	struct datamap *dm = p->dm;
	size_t i;
	lethe_rc rc;

	if (ynode_is_null(n))
		return LETHE_OK;
	if (!ynode_is_map(n))
		return FAIL(p, n,
		            "'effects' must map effect names to {description, tables, revoke}");
	rc = ymap_check_dups(&p->y, n, "effects", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	dm->effects = xcalloc(ynode_len(n) ? ynode_len(n) : 1, sizeof(*dm->effects));
	for (i = 0; rc == LETHE_OK && i < ynode_len(n); i++) {
		dm->neffects++;
		rc = parse_effect(p, ymap_key(&p->y, n, i), ymap_val(&p->y, n, i), &dm->effects[i]);
	}
	return rc;
}

static void
cols_free(struct dm_anon_col *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].column);
		free(v[i].set.s);
	}
	free(v);
}

void
datamap_effects_free(struct datamap *dm)
{
	size_t i, j;

	for (i = 0; i < dm->neffects; i++) {
		struct dm_effect *e = &dm->effects[i];

		for (j = 0; j < e->nsets; j++) {
			free(e->sets[j].table_name);
			cols_free(e->sets[j].set, e->sets[j].nset);
			cols_free(e->sets[j].undo, e->sets[j].nundo);
		}
		free(e->sets);
		free(e->name);
		free(e->description);
	}
	free(dm->effects);
	dm->effects = NULL;
	dm->neffects = 0;
}

const struct dm_effect *
datamap_effect(const struct datamap *dm, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < dm->neffects; i++)
		if (strcmp(dm->effects[i].name, name) == 0)
			return &dm->effects[i];
	return NULL;
}
