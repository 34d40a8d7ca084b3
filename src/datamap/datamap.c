/* SPDX-License-Identifier: MIT */
/*
 * datamap.c - the parsed data map as a model: resolving it once parsed
 * (parent names to tables, the channel table, no cycle through parent
 * links), freeing it, and the queries the planner, the engine and the
 * commands ask of it (a table, a scope, an identity kind by name...).
 * Parsing the YAML is in parse.c; the checks against the live database
 * are in validate.c.
 */
#include "util/fmacros.h"

#include <stdarg.h>

#include "datamap/datamap.h"
#include "datamap/datamap_internal.h"
#include "util/mem.h"

const char *
dm_action_str(enum dm_action a)
{
	switch (a) {
	case DM_DELETE:
		return "delete";
	case DM_ANONYMIZE:
		return "anonymize";
	case DM_RETAIN:
		return "retain";
	}
	return "?";
}

const struct dm_anon_col *
dm_ttl_columns(const struct dm_table *t, size_t *n)
{
	if (t->ttl.nanon > 0) {
		*n = t->ttl.nanon;
		return t->ttl.anon;
	}
	*n = t->nanon;
	return t->anon;
}

const struct dm_erase_set *
dm_erase_in(const struct dm_table *t, const struct dm_scope *scope)
{
	size_t i;

	for (i = 1; scope != NULL && i < t->nerase; i++)
		if (strcmp(t->erase[i].scope, scope->name) == 0)
			return &t->erase[i];
	return &t->erase[0];
}

const char *
dm_media_store(const struct dm_table *t, size_t i)
{
	return t->media_store != NULL && t->media_store[i] != NULL ? t->media_store[i]
	                                                           : DM_MEDIA_DEFAULT;
}

bool
dm_table_retains(const struct dm_table *t)
{
	size_t i, j;

	for (i = 0; i < t->nerase; i++)
		for (j = 0; j < t->erase[i].nparts; j++)
			if (t->erase[i].parts[j].action == DM_RETAIN)
				return true;
	return false;
}

char *
dm_part_name(const struct dm_table *t, const struct dm_erase_set *set, size_t i)
{
	if (i + 1 >= set->nparts)
		return xstrdup(t->name);
	return xasprintf("%s#%zu", t->name, i + 1);
}

const struct dm_erase *
dm_part_find(const struct datamap *dm, const char *scope, const char *name,
             const struct dm_table **table)
{
	const struct dm_erase_set *set;
	const struct dm_table *t;
	const char *hash = strchr(name, '#');
	char *tname = hash != NULL ? xstrndup(name, (size_t)(hash - name)) : xstrdup(name);
	unsigned long n = 0;
	char *end = NULL;

	t = datamap_table(dm, tname);
	free(tname);
	if (table != NULL)
		*table = t;
	if (t == NULL)
		return NULL;
	set = dm_erase_in(t, scope != NULL ? datamap_scope(dm, scope) : NULL);
	if (hash == NULL)
		return &set->parts[set->nparts - 1];
	n = strtoul(hash + 1, &end, 10);
	if (end == hash + 1 || *end != '\0' || n == 0 || n >= set->nparts)
		return NULL;
	return &set->parts[n - 1];
}

lethe_rc
datamap_fail_at(const struct datamap *dm, struct lethe_err *err, int line, const char *fmt, ...)
{
	char msg[LETHE_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return lethe_err_set(err, LETHE_E_DATAMAP, "%s:%d: %s", dm->path, line, msg);
}

/* Depth-first search for a cycle through parent links; 0 white, 1 grey, 2 black. */
static lethe_rc
check_cycle(struct datamap *dm, struct dm_table *t, int *color, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc;

	color[t->index] = 1;
	for (i = 0; i < t->nlinks; i++) {
		struct dm_table *par = t->links[i].parent;

		if (par == NULL)
			continue;
		if (color[par->index] == 1)
			return datamap_fail_at(
			    dm, err, t->links[i].line,
			    "cycle in parent links: table '%s' reaches itself through "
			    "'%s'",
			    par->name, t->name);
		if (color[par->index] == 0) {
			rc = check_cycle(dm, par, color, err);
			if (rc != LETHE_OK)
				return rc;
		}
	}
	color[t->index] = 2;
	return LETHE_OK;
}

/*
 * The channel table is the one with 'connection'; every other table with
 * 'disconnect' or 'unsubscribe' must find its rows of a channel: through
 * 'disconnect: column' or a parent link to the channel table.
 */
static lethe_rc
resolve_channel(struct datamap *dm, struct lethe_err *err)
{
	size_t i, j;

	for (i = 0; i < dm->ntables; i++) {
		struct dm_table *t = &dm->tables[i];

		if (!t->conn.present)
			continue;
		if (dm->channel != NULL)
			return datamap_fail_at(
			    dm, err, t->conn.line,
			    "only one table may have 'connection' (it is already on "
			    "'%s')",
			    dm->channel->name);
		dm->channel = t;
	}
	for (i = 0; i < dm->ntables; i++) {
		struct dm_table *t = &dm->tables[i];

		if (t->disc_line == 0 && !t->unsub.present)
			continue;
		/*
		 * A map without a channel table may still say what Meta's deauthorize
		 * writes beside wiping a token table's tokens (the form maps had
		 * before channel disconnects: `disconnect: {set: ...}` only).
		 */
		if (dm->channel == NULL && t->ntokens > 0 && !t->unsub.present &&
		    t->disc_column == NULL && t->ndisc_when == 0)
			continue;
		if (dm->channel == NULL)
			return datamap_fail_at(
			    dm, err, t->disc_line ? t->disc_line : t->unsub.line,
			    "'%s' needs the channel table: give one table 'connection: "
			    "{platform, account, revoke_token}'",
			    t->disc_line ? "disconnect" : "unsubscribe");
		if (t == dm->channel) {
			if (t->disc_column != NULL)
				return datamap_fail_at(
				    dm, err, t->disc_line,
				    "disconnect: 'column' does not apply to the channel "
				    "table itself (its key names the channel)");
			if (t->unsub.present)
				return datamap_fail_at(
				    dm, err, t->unsub.line,
				    "'unsubscribe' belongs to the webhook table, not the "
				    "channel table");
			continue;
		}
		for (j = 0; j < t->nlinks; j++)
			if (t->links[j].parent == dm->channel)
				t->disc_link = &t->links[j];
		if (t->unsub.present && t->disc_link == NULL)
			return datamap_fail_at(
			    dm, err, t->unsub.line,
			    "table '%s' has 'unsubscribe' but no parent link to the "
			    "channel table '%s'",
			    t->name, dm->channel->name);
		if (t->disc_line != 0 && t->disc_column == NULL && t->disc_link == NULL)
			return datamap_fail_at(
			    dm, err, t->disc_line,
			    "table '%s' does not link to the channel table '%s': add "
			    "'column: COLUMN' (the column holding the channel key) to "
			    "'disconnect'",
			    t->name, dm->channel->name);
	}
	return LETHE_OK;
}

lethe_rc
datamap_resolve(struct datamap *dm, struct lethe_err *err)
{
	int *color;
	size_t i, j;
	lethe_rc rc = LETHE_OK;

	for (i = 0; i < dm->ntables; i++) {
		struct dm_table *t = &dm->tables[i];

		for (j = 0; j < i; j++)
			if (strcmp(dm->tables[j].name, t->name) == 0)
				return datamap_fail_at(dm, err, t->line,
				                       "table '%s' is mapped twice", t->name);
		for (j = 0; j < t->nlinks; j++) {
			struct dm_link *l = &t->links[j];

			if (l->kind != DM_LINK_PARENT)
				continue;
			l->parent = (struct dm_table *)datamap_table(dm, l->parent_name);
			if (l->parent == NULL)
				return datamap_fail_at(
				    dm, err, l->line,
				    "table '%s' links to parent '%s', which is not mapped "
				    "(map the parent table too)",
				    t->name, l->parent_name);
		}
	}
	rc = resolve_channel(dm, err);
	if (rc != LETHE_OK)
		return rc;
	color = xcalloc(dm->ntables ? dm->ntables : 1, sizeof(int));
	for (i = 0; i < dm->ntables && rc == LETHE_OK; i++)
		if (color[i] == 0)
			rc = check_cycle(dm, &dm->tables[i], color, err);
	free(color);
	return rc;
}

static void
conds_free(struct dm_cond *c, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free(c[i].column);
		for (j = 0; j < c[i].nvalues; j++)
			free(c[i].values[j].s);
		free(c[i].values);
	}
	free(c);
}

void
datamap_names_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Free the @n sets @e; the default's rest ([0], last part) belongs to its table. */
static void
erase_sets_free(struct dm_erase_set *e, size_t n)
{
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		for (j = 0; j < e[i].nparts; j++) {
			struct dm_erase *p = &e[i].parts[j];

			conds_free(p->when, p->nwhen);
			if (i == 0 && j + 1 == e[i].nparts)
				continue;
			for (k = 0; k < p->nanon; k++) {
				free(p->anon[k].column);
				free(p->anon[k].set.s);
			}
			free(p->anon);
			free(p->reason);
			free(p->retain_from);
		}
		free(e[i].parts);
		free(e[i].scope);
	}
	free(e);
}

void
datamap_free(struct datamap *dm)
{
	size_t i, j;

	if (dm == NULL)
		return;
	for (i = 0; i < dm->ntables; i++) {
		struct dm_table *t = &dm->tables[i];

		for (j = 0; j < t->nlinks; j++) {
			free(t->links[j].identity);
			free(t->links[j].column);
			free(t->links[j].parent_name);
			free(t->links[j].references);
			conds_free(t->links[j].when, t->links[j].nwhen);
		}
		free(t->links);
		for (j = 0; j < t->nanon; j++) {
			free(t->anon[j].column);
			free(t->anon[j].set.s);
		}
		free(t->anon);
		for (j = 0; j < t->ndisc; j++) {
			free(t->disc[j].column);
			free(t->disc[j].set.s);
		}
		free(t->disc);
		free(t->disc_column);
		conds_free(t->disc_when, t->ndisc_when);
		free(t->conn.platform);
		free(t->conn.account);
		free(t->conn.revoke_token);
		free(t->unsub.account);
		free(t->unsub.token);
		conds_free(t->unsub.when, t->unsub.nwhen);
		datamap_names_free(t->tokens, t->ntokens);
		datamap_names_free(t->media_store, t->nmedia);
		datamap_names_free(t->media, t->nmedia);
		datamap_names_free(t->secrets, t->nsecrets);
		free(t->name);
		free(t->key);
		free(t->category);
		free(t->reason);
		free(t->retain_from);
		erase_sets_free(t->erase, t->nerase);
		free(t->ttl.column);
		conds_free(t->ttl.when, t->ttl.nwhen);
		for (j = 0; j < t->ttl.nanon; j++) {
			free(t->ttl.anon[j].column);
			free(t->ttl.anon[j].set.s);
		}
		free(t->ttl.anon);
	}
	free(dm->tables);
	for (i = 0; i < dm->nidentities; i++) {
		free(dm->identities[i].name);
		free(dm->identities[i].description);
	}
	free(dm->identities);
	for (i = 0; i < dm->nscopes; i++) {
		free(dm->scopes[i].name);
		free(dm->scopes[i].description);
		datamap_names_free(dm->scopes[i].identities, dm->scopes[i].nidentities);
		datamap_names_free(dm->scopes[i].tables, dm->scopes[i].ntables);
	}
	free(dm->scopes);
	datamap_effects_free(dm);
	datamap_names_free(dm->categories, dm->ncategories);
	free(dm->path);
	free(dm);
}

const struct dm_table *
datamap_table(const struct datamap *dm, const char *name)
{
	size_t i;

	for (i = 0; i < dm->ntables; i++)
		if (dm->tables[i].name != NULL && strcmp(dm->tables[i].name, name) == 0)
			return &dm->tables[i];
	return NULL;
}

const struct dm_scope *
datamap_scope(const struct datamap *dm, const char *name)
{
	size_t i;

	for (i = 0; i < dm->nscopes; i++)
		if (strcmp(dm->scopes[i].name, name) == 0)
			return &dm->scopes[i];
	return NULL;
}

bool
datamap_has_identity(const struct datamap *dm, const char *kind)
{
	size_t i;

	for (i = 0; i < dm->nidentities; i++)
		if (strcmp(dm->identities[i].name, kind) == 0)
			return true;
	return false;
}

bool
dm_scope_has_table(const struct dm_scope *scope, const struct dm_table *t)
{
	size_t i;

	if (scope->all)
		return true;
	for (i = 0; i < scope->ntables; i++)
		if (strcmp(scope->tables[i], t->name) == 0)
			return true;
	return false;
}

bool
dm_scope_has_identity(const struct dm_scope *scope, const char *kind)
{
	size_t i;

	for (i = 0; i < scope->nidentities; i++)
		if (strcmp(scope->identities[i], kind) == 0)
			return true;
	return false;
}

struct appdb_val
dm_value_val(const struct dm_value *v)
{
	struct appdb_val a = {.type = APPDB_TEXT, .s = v->s};

	if (v->is_int) {
		a.type = APPDB_INT;
		a.i = v->i;
	}
	return a;
}

/* What a person reads for each category (datamap_category_label()). */
static const struct {
	const char *category; /* the data map's category name */
	const char *label;    /* what the person reads */
} category_labels[] = {
    {"account", "Account and profile"},
    {"content", "Posts and other content"},
    {"meta-sourced", "Data received from Meta"},
    {"messages", "Messages and comments"},
    {"analytics", "Analytics and statistics"},
    {"billing", "Billing and tax records"},
    {"logs", "Activity and request logs"},
    {"media", "Photos, videos and other files"},
    {"contacts", "Contacts"},
    {"marketing", "Marketing data"},
    {"security", "Security and sign-in records"},
    {"other", "Other data"},
};

const char *
datamap_category_label(const char *category)
{
	size_t i;

	if (category == NULL)
		return "";
	for (i = 0; i < sizeof(category_labels) / sizeof(category_labels[0]); i++)
		if (strcmp(category_labels[i].category, category) == 0)
			return category_labels[i].label;
	return category;
}

bool
dm_column_exportable(const struct dm_table *t, const char *col)
{
	size_t i;

	for (i = 0; i < t->ntokens; i++)
		if (strcmp(t->tokens[i], col) == 0)
			return false;
	for (i = 0; i < t->nsecrets; i++)
		if (strcmp(t->secrets[i], col) == 0)
			return false;
	return true;
}
