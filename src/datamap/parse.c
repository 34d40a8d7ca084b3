/* SPDX-License-Identifier: MIT */
/*
 * parse.c - parsing the data map (datamap_load()).
 *
 * Parsing walks the YAML node tree (util/yamlutil) and fills struct datamap.
 * Every unknown key is an error, so a typo never silently turns a "delete"
 * into nothing.  Once the tables are parsed, datamap_resolve() (datamap.c)
 * turns parent names into tables and checks the parent graph for cycles;
 * the scopes are parsed after it.  Checks against the live database are in
 * validate.c.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>

#include "datamap/datamap.h"
#include "datamap/datamap_internal.h"
#include "datamap/parse_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

static const char *const default_categories[] = {
    "account", "content",  "meta-sourced", "messages", "analytics", "billing", "logs",
    "media",   "contacts", "marketing",    "security", "other",     NULL,
};

lethe_rc
dmp_fail_at(struct parser *p, int line, const char *fmt, ...)
{
	char msg[LETHE_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return lethe_err_set(p->err, LETHE_E_DATAMAP, "%s:%d: %s", p->y.path, line, msg);
}

/* A scalar that must be a plain identifier (table, column, identity kind). */
lethe_rc
dmp_get_ident(struct parser *p, yaml_node_t *n, const char *what, char **out)
{
	const char *s = ynode_str(n);

	if (n == NULL)
		return FAIL(p, n, "missing %s", what);
	if (s == NULL || s[0] == '\0')
		return FAIL(p, n, "%s must be a name", what);
	if (!appdb_ident_ok(s))
		return FAIL(p, n, "%s '%s' is not a plain identifier (letters, digits, _)", what,
		            s);
	*out = xstrdup(s);
	return LETHE_OK;
}

/* A table name: a plain identifier, or "schema.table" (two of them; PostgreSQL). */
static lethe_rc
get_table_name(struct parser *p, yaml_node_t *n, const char *what, char **out)
{
	const char *s = ynode_str(n);
	const char *dot = s != NULL ? strchr(s, '.') : NULL;
	char schema[64];

	if (dot == NULL || n == NULL)
		return dmp_get_ident(p, n, what, out);
	if ((size_t)(dot - s) >= sizeof(schema))
		return FAIL(p, n, "%s '%s': the schema's name is too long", what, s);
	memcpy(schema, s, (size_t)(dot - s));
	schema[dot - s] = '\0';
	if (!appdb_ident_ok(schema) || !appdb_ident_ok(dot + 1))
		return FAIL(p, n,
		            "%s '%s' is not a plain identifier (letters, digits, _) or "
		            "schema.table",
		            what, s);
	*out = xstrdup(s);
	return LETHE_OK;
}

lethe_rc
dmp_get_text(struct parser *p, yaml_node_t *n, const char *what, char **out)
{
	const char *s = ynode_str(n);

	if (s == NULL)
		return FAIL(p, n, "%s must be text", what);
	*out = xstrdup(s);
	return LETHE_OK;
}

lethe_rc
dmp_get_duration(struct parser *p, yaml_node_t *n, const char *what, int64_t *out)
{
	const char *s = ynode_str(n);

	if (s == NULL || duration_parse(s, out) != LETHE_OK)
		return FAIL(p, n,
		            "bad duration for %s: '%s' (write a number and a unit s, m, h, d, "
		            "w or y, e.g. 30d, 24h, 10y)",
		            what, s ? s : "");
	return LETHE_OK;
}

void
dmp_value_from_scalar(yaml_node_t *n, struct dm_value *v)
{
	const char *s = ynode_str(n);
	char *end = NULL;
	long long x;

	memset(v, 0, sizeof(*v));
	v->s = xstrdup(s);
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || s[0] == '\0')
		return;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno == 0 && end != NULL && *end == '\0' &&
	    (isdigit((unsigned char)s[0]) || s[0] == '-')) {
		v->is_int = true;
		v->i = x;
	}
}

static lethe_rc
get_names(struct parser *p, yaml_node_t *n, const char *what, char ***out, size_t *nout)
{
	size_t i, len;
	lethe_rc rc;

	if (!ynode_is_seq(n))
		return FAIL(p, n, "%s must be a list of names, e.g. [a, b]", what);
	len = ynode_len(n);
	*out = xcalloc(len ? len : 1, sizeof(char *));
	*nout = 0;
	for (i = 0; i < len; i++) {
		rc = dmp_get_ident(p, yseq_item(&p->y, n, i), what, &(*out)[i]);
		if (rc != LETHE_OK)
			return rc;
		(*nout)++;
	}
	return LETHE_OK;
}

/*
 * A table's `media:`: a list of columns (each in the store "local", i.e.
 * app.media_root) or a mapping column -> store name.  t->media_store is
 * parallel to t->media and always filled; whether lethe.yaml defines each
 * store is the engine's check (media_check_stores), the data map cannot
 * see it.
 */
static lethe_rc
get_media(struct parser *p, yaml_node_t *n, struct dm_table *t)
{
	size_t i, len;
	lethe_rc rc;

	if (!ynode_is_seq(n) && !ynode_is_map(n))
		return FAIL(p, n,
		            "media must be a list of names, e.g. [storage_key], or map columns "
		            "to media stores, e.g. {storage_key: uploads}");
	if (ynode_is_map(n) && ymap_check_dups(&p->y, n, "media", LETHE_E_DATAMAP, p->err) != 0)
		return LETHE_E_DATAMAP;
	len = ynode_len(n);
	t->media = xcalloc(len ? len : 1, sizeof(char *));
	t->media_store = xcalloc(len ? len : 1, sizeof(char *));
	t->nmedia = 0;
	for (i = 0; i < len; i++) {
		yaml_node_t *col = ynode_is_seq(n) ? yseq_item(&p->y, n, i) : ymap_key(&p->y, n, i);
		yaml_node_t *st = ynode_is_seq(n) ? NULL : ymap_val(&p->y, n, i);
		const char *name = st != NULL ? ynode_str(st) : DM_MEDIA_DEFAULT;
		char *c = NULL;

		rc = dmp_get_ident(p, col, "media column", &c);
		if (rc != LETHE_OK)
			return rc;
		if (name == NULL || name[0] == '\0' || strlen(name) > 64 ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(name)) {
			free(c);
			return FAIL(p, st,
			            "media column '%s': a media store name is 1 to 64 of a-z, "
			            "0-9, '_' and '-'",
			            ynode_str(col));
		}
		t->media[t->nmedia] = c;
		t->media_store[t->nmedia++] = xstrdup(name);
	}
	return LETHE_OK;
}

lethe_rc
dmp_parse_conds(struct parser *p, yaml_node_t *n, struct dm_cond **out, size_t *nout)
{
	size_t i, len;
	lethe_rc rc;

	if (!ynode_is_map(n) || ynode_len(n) == 0)
		return FAIL(p, n, "'when' must map columns to values, e.g. {platform: instagram}");
	if (ymap_check_dups(&p->y, n, "when", LETHE_E_DATAMAP, p->err) != 0)
		return LETHE_E_DATAMAP;
	len = ynode_len(n);
	*out = xcalloc(len, sizeof(**out));
	*nout = 0;
	for (i = 0; i < len; i++) {
		struct dm_cond *c = &(*out)[i];
		yaml_node_t *v = ymap_val(&p->y, n, i);
		size_t j;

		c->line = ynode_line(ymap_key(&p->y, n, i));
		rc = dmp_get_ident(p, ymap_key(&p->y, n, i), "condition column", &c->column);
		if (rc != LETHE_OK)
			return rc;
		(*nout)++;
		if (ynode_is_scalar(v) && !ynode_is_null(v)) {
			c->values = xcalloc(1, sizeof(*c->values));
			dmp_value_from_scalar(v, &c->values[0]);
			c->nvalues = 1;
		} else if (ynode_is_seq(v) && ynode_len(v) > 0) {
			c->values = xcalloc(ynode_len(v), sizeof(*c->values));
			for (j = 0; j < ynode_len(v); j++) {
				yaml_node_t *item = yseq_item(&p->y, v, j);

				if (!ynode_is_scalar(item) || ynode_is_null(item))
					return FAIL(p, item, "condition values must be scalars");
				dmp_value_from_scalar(item, &c->values[j]);
				c->nvalues++;
			}
		} else {
			return FAIL(p, v, "condition on '%s' needs a value or a list of values",
			            c->column);
		}
	}
	return LETHE_OK;
}

static lethe_rc
parse_link(struct parser *p, yaml_node_t *n, struct dm_link *l)
{
	static const char *const keys[] = {"identity",   "parent", "column",
	                                   "references", "when",   NULL};
	yaml_node_t *id, *parent, *v;
	lethe_rc rc;

	l->line = ynode_line(n);
	p->ctx_line = l->line;
	if (!ynode_is_map(n))
		return FAIL(p, n, "a link must be a mapping with 'identity' or 'parent'");
	rc = ymap_check_keys(&p->y, n, keys, "link", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	id = ymap_get(&p->y, n, "identity");
	parent = ymap_get(&p->y, n, "parent");
	if ((id == NULL) == (parent == NULL))
		return FAIL(p, n, "a link needs exactly one of 'identity' or 'parent'");
	if (id != NULL) {
		l->kind = DM_LINK_IDENTITY;
		rc = dmp_get_ident(p, id, "identity", &l->identity);
		if (rc != LETHE_OK)
			return rc;
		if (!datamap_has_identity(p->dm, l->identity))
			return FAIL(p, id, "identity '%s' is not declared under 'identities'",
			            l->identity);
		if (ymap_get(&p->y, n, "references") != NULL)
			return FAIL(p, n, "'references' belongs to parent links only");
	} else {
		l->kind = DM_LINK_PARENT;
		rc = get_table_name(p, parent, "parent table", &l->parent_name);
		if (rc != LETHE_OK)
			return rc;
		v = ymap_get(&p->y, n, "references");
		if (v != NULL) {
			rc = dmp_get_ident(p, v, "referenced column", &l->references);
			if (rc != LETHE_OK)
				return rc;
		}
	}
	v = ymap_get(&p->y, n, "column");
	if (v == NULL)
		return FAIL(p, n, "a link needs 'column' (the column of this table that holds %s)",
		            id ? "the identity" : "the parent's key");
	rc = dmp_get_ident(p, v, "link column", &l->column);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "when");
	if (v != NULL)
		return dmp_parse_conds(p, v, &l->when, &l->nwhen);
	return LETHE_OK;
}

static lethe_rc
parse_ttl(struct parser *p, yaml_node_t *n, struct dm_table *t)
{
	static const char *const keys[] = {"column", "after",   "when", "action",
	                                   "format", "columns", NULL};
	yaml_node_t *v;
	lethe_rc rc;

	if (!ynode_is_map(n))
		return FAIL(p, n, "'ttl' must be a mapping with 'column' and 'after'");
	rc = ymap_check_keys(&p->y, n, keys, "ttl", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	t->ttl.present = true;
	t->ttl.line = ynode_line(n);
	p->ctx_line = t->ttl.line;
	rc = dmp_get_ident(p, ymap_get(&p->y, n, "column"), "ttl column", &t->ttl.column);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "after");
	if (v == NULL)
		return FAIL(p, n, "'ttl' needs 'after' (e.g. 30d)");
	rc = dmp_get_duration(p, v, "ttl 'after'", &t->ttl.after);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "action");
	t->ttl.action = DM_DELETE;
	if (v != NULL) {
		const char *a = ynode_str(v);

		if (a != NULL && strcmp(a, "anonymize") == 0)
			t->ttl.action = DM_ANONYMIZE;
		else if (a == NULL || strcmp(a, "delete") != 0)
			return FAIL(p, v, "ttl action must be delete or anonymize");
	}
	v = ymap_get(&p->y, n, "columns");
	if (v != NULL && t->ttl.action != DM_ANONYMIZE)
		return FAIL(p, v, "ttl 'columns' applies only to 'action: anonymize'");
	if (v != NULL) {
		rc = dmp_parse_anon_cols(p, v, &t->ttl.anon, &t->ttl.nanon);
		if (rc != LETHE_OK)
			return rc;
	}
	if (t->ttl.action == DM_ANONYMIZE && t->ttl.nanon == 0 && t->nanon == 0)
		return FAIL(p, n,
		            "ttl 'action: anonymize' needs 'columns' (or the table's erase "
		            "columns)");
	if (t->ttl.action == DM_ANONYMIZE && t->nmedia > 0)
		return FAIL(p, n, "table '%s' has media columns: its ttl action must be delete",
		            t->name);
	v = ymap_get(&p->y, n, "format");
	t->ttl.format = DM_TIME_AUTO;
	if (v != NULL) {
		const char *f = ynode_str(v);

		if (f != NULL && strcmp(f, "datetime") == 0)
			t->ttl.format = DM_TIME_DATETIME;
		else if (f != NULL && strcmp(f, "unix") == 0)
			t->ttl.format = DM_TIME_UNIX;
		else
			return FAIL(p, v,
			            "ttl format must be datetime ('YYYY-MM-DD HH:MM:SS' UTC text) "
			            "or unix (epoch seconds)");
	}
	v = ymap_get(&p->y, n, "when");
	if (v != NULL)
		return dmp_parse_conds(p, v, &t->ttl.when, &t->ttl.nwhen);
	return LETHE_OK;
}

lethe_rc
datamap_parse_set(struct parser *p, yaml_node_t *set, const char *what, struct dm_anon_col **out,
                  size_t *nout)
{
	size_t i;
	lethe_rc rc;

	rc = ymap_check_dups(&p->y, set, what, LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	*out = xcalloc(ynode_len(set), sizeof(**out));
	for (i = 0; i < ynode_len(set); i++) {
		struct dm_anon_col *a = &(*out)[i];
		yaml_node_t *v = ymap_val(&p->y, set, i);

		a->line = ynode_line(ymap_key(&p->y, set, i));
		rc = dmp_get_ident(p, ymap_key(&p->y, set, i), "column", &a->column);
		if (rc != LETHE_OK)
			return rc;
		(*nout)++;
		if (ynode_is_null(v)) {
			a->how = DM_ANON_NULL;
		} else if (ynode_is_scalar(v)) {
			a->how = DM_ANON_SET;
			dmp_value_from_scalar(v, &a->set);
		} else {
			return FAIL(p, v, "%s: column '%s' needs a value or null", what, a->column);
		}
	}
	return LETHE_OK;
}

/*
 * disconnect: {set: {column: value | null}, when: {...}, column: COL} - what
 * disconnecting a channel writes to this table's rows of that channel.
 */
static lethe_rc
parse_disconnect(struct parser *p, yaml_node_t *n, struct dm_table *t)
{
	static const char *const keys[] = {"set", "when", "column", NULL};
	yaml_node_t *set, *v;
	lethe_rc rc;

	t->disc_line = ynode_line(n);
	p->ctx_line = t->disc_line;
	if (!ynode_is_map(n))
		return FAIL(p, n, "'disconnect' must be a mapping like {set: {status: revoked}}");
	rc = ymap_check_keys(&p->y, n, keys, "disconnect", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	set = ymap_get(&p->y, n, "set");
	if (!ynode_is_map(set) || ynode_len(set) == 0)
		return FAIL(p, set ? set : n, "'disconnect' needs 'set': {column: value}");
	rc = datamap_parse_set(p, set, "disconnect set", &t->disc, &t->ndisc);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "column");
	if (v != NULL) {
		rc = dmp_get_ident(p, v, "disconnect column", &t->disc_column);
		if (rc != LETHE_OK)
			return rc;
	}
	v = ymap_get(&p->y, n, "when");
	if (v != NULL)
		return dmp_parse_conds(p, v, &t->disc_when, &t->ndisc_when);
	return LETHE_OK;
}

/* connection: {platform: COL, account: COL, revoke_token: COL} - this is the channel table. */
static lethe_rc
parse_connection(struct parser *p, yaml_node_t *n, struct dm_table *t)
{
	static const char *const keys[] = {"platform", "account", "revoke_token", NULL};
	struct dm_connection *c = &t->conn;
	lethe_rc rc;
	size_t i;

	c->line = ynode_line(n);
	p->ctx_line = c->line;
	if (!ynode_is_map(n))
		return FAIL(p, n,
		            "'connection' must be a mapping like {platform: platform, account: "
		            "platform_user_id, revoke_token: access_token}");
	rc = ymap_check_keys(&p->y, n, keys, "connection", LETHE_E_DATAMAP, p->err);
	if (rc == LETHE_OK)
		rc = dmp_get_ident(p, ymap_get(&p->y, n, "platform"),
		                   "connection 'platform' column", &c->platform);
	if (rc == LETHE_OK)
		rc = dmp_get_ident(p, ymap_get(&p->y, n, "account"), "connection 'account' column",
		                   &c->account);
	if (rc == LETHE_OK)
		rc = dmp_get_ident(p, ymap_get(&p->y, n, "revoke_token"),
		                   "connection 'revoke_token' column", &c->revoke_token);
	if (rc != LETHE_OK)
		return rc;
	c->present = true;
	for (i = 0; i < t->ntokens; i++)
		if (strcmp(t->tokens[i], c->revoke_token) == 0)
			return LETHE_OK;
	return FAIL(p, ymap_get(&p->y, n, "revoke_token"),
	            "connection: revoke_token '%s' must be one of the table's 'tokens'",
	            c->revoke_token);
}

/*
 * unsubscribe: {account: COL, token: COL, when: {...}} - webhook subscriptions
 * removed upstream; token (optional) is the column of the Page token the call
 * needs, else the channel's revoke token is used.
 */
static lethe_rc
parse_unsubscribe(struct parser *p, yaml_node_t *n, struct dm_table *t)
{
	static const char *const keys[] = {"account", "token", "when", NULL};
	struct dm_unsubscribe *u = &t->unsub;
	yaml_node_t *v;
	lethe_rc rc;

	u->line = ynode_line(n);
	p->ctx_line = u->line;
	if (!ynode_is_map(n))
		return FAIL(p, n, "'unsubscribe' must be a mapping like {account: account_id}");
	rc = ymap_check_keys(&p->y, n, keys, "unsubscribe", LETHE_E_DATAMAP, p->err);
	if (rc == LETHE_OK)
		rc = dmp_get_ident(p, ymap_get(&p->y, n, "account"), "unsubscribe 'account' column",
		                   &u->account);
	if (rc == LETHE_OK && ymap_get(&p->y, n, "token") != NULL)
		rc = dmp_get_ident(p, ymap_get(&p->y, n, "token"), "unsubscribe 'token' column",
		                   &u->token);
	if (rc != LETHE_OK)
		return rc;
	u->present = true;
	v = ymap_get(&p->y, n, "when");
	if (v != NULL)
		return dmp_parse_conds(p, v, &u->when, &u->nwhen);
	return LETHE_OK;
}

static bool
category_ok(const struct datamap *dm, const char *c)
{
	size_t i;

	for (i = 0; i < dm->ncategories; i++)
		if (strcmp(dm->categories[i], c) == 0)
			return true;
	return false;
}

static lethe_rc
parse_table(struct parser *p, yaml_node_t *k, yaml_node_t *n, struct dm_table *t)
{
	static const char *const keys[] = {
	    "key",        "category",   "links",       "tokens",   "media",   "erase", "ttl",
	    "disconnect", "connection", "unsubscribe", "erase_in", "secrets", NULL};
	yaml_node_t *v;
	size_t i, j;
	lethe_rc rc;

	t->line = ynode_line(k);
	p->ctx_line = t->line;
	rc = get_table_name(p, k, "table name", &t->name);
	if (rc != LETHE_OK)
		return rc;
	if (!ynode_is_map(n))
		return FAIL(p, n, "table '%s' must be a mapping", t->name);
	rc = ymap_check_keys(&p->y, n, keys, "a table", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "key");
	if (v != NULL) {
		rc = dmp_get_ident(p, v, "key column", &t->key);
		if (rc != LETHE_OK)
			return rc;
	}
	v = ymap_get(&p->y, n, "category");
	if (v == NULL)
		return FAIL(p, n, "table '%s' needs a 'category'", t->name);
	rc = dmp_get_text(p, v, "category", &t->category);
	if (rc != LETHE_OK)
		return rc;
	if (!category_ok(p->dm, t->category))
		return FAIL(p, v,
		            "unknown category '%s' (declare it under top-level 'categories' or "
		            "use account, content, meta-sourced, messages, analytics, billing, "
		            "logs, media, contacts, marketing, security, other)",
		            t->category);
	v = ymap_get(&p->y, n, "links");
	if (!ynode_is_seq(v) || ynode_len(v) == 0)
		return FAIL(p, v ? v : n, "table '%s' needs 'links': how its rows link to a person",
		            t->name);
	t->links = xcalloc(ynode_len(v), sizeof(*t->links));
	for (i = 0; i < ynode_len(v); i++) {
		rc = parse_link(p, yseq_item(&p->y, v, i), &t->links[i]);
		t->nlinks++;
		if (rc != LETHE_OK)
			return rc;
	}
	v = ymap_get(&p->y, n, "tokens");
	if (v != NULL) {
		rc = get_names(p, v, "token column", &t->tokens, &t->ntokens);
		if (rc != LETHE_OK)
			return rc;
	}
	v = ymap_get(&p->y, n, "media");
	if (v != NULL) {
		rc = get_media(p, v, t);
		if (rc != LETHE_OK)
			return rc;
	}
	v = ymap_get(&p->y, n, "secrets");
	if (v != NULL) {
		rc = get_names(p, v, "secret column", &t->secrets, &t->nsecrets);
		if (rc != LETHE_OK)
			return rc;
		for (i = 0; i < t->nsecrets; i++)
			if (t->key != NULL && strcmp(t->secrets[i], t->key) == 0)
				return FAIL(p, v,
				            "table '%s': the key column '%s' cannot be secret (an "
				            "export names each row by it)",
				            t->name, t->key);
	}
	p->ctx_line = t->line;
	rc = dmp_parse_erase(p, ymap_get(&p->y, n, "erase"), ymap_get(&p->y, n, "erase_in"), t);
	if (rc != LETHE_OK)
		return rc;
	for (i = 0; t->nmedia > 0 && i < t->nerase; i++)
		for (j = 0; j < t->erase[i].nparts; j++)
			if (t->erase[i].parts[j].action == DM_ANONYMIZE)
				return FAIL(
				    p, ymap_get(&p->y, n, "media"),
				    "table '%s' has media columns, so its erase action must "
				    "be delete or retain (files are removed with their rows)",
				    t->name);
	v = ymap_get(&p->y, n, "disconnect");
	if (v != NULL) {
		rc = parse_disconnect(p, v, t);
		if (rc != LETHE_OK)
			return rc;
	}
	v = ymap_get(&p->y, n, "connection");
	if (v != NULL) {
		rc = parse_connection(p, v, t);
		if (rc != LETHE_OK)
			return rc;
	}
	v = ymap_get(&p->y, n, "unsubscribe");
	if (v != NULL) {
		rc = parse_unsubscribe(p, v, t);
		if (rc != LETHE_OK)
			return rc;
	}
	v = ymap_get(&p->y, n, "ttl");
	if (v != NULL)
		return parse_ttl(p, v, t);
	return LETHE_OK;
}

static lethe_rc
parse_scope(struct parser *p, yaml_node_t *k, yaml_node_t *n, struct dm_scope *s)
{
	static const char *const keys[] = {"description", "identities", "tables", NULL};
	yaml_node_t *v;
	size_t i;
	lethe_rc rc;

	s->line = ynode_line(k);
	p->ctx_line = s->line;
	rc = dmp_get_ident(p, k, "scope name", &s->name);
	if (rc != LETHE_OK)
		return rc;
	if (!ynode_is_map(n))
		return FAIL(p, n, "scope '%s' must be a mapping", s->name);
	rc = ymap_check_keys(&p->y, n, keys, "a scope", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "description");
	rc = dmp_get_text(p, v, "description", &s->description);
	if (v == NULL || rc != LETHE_OK)
		return FAIL(p, v ? v : n, "scope '%s' needs a 'description'", s->name);
	v = ymap_get(&p->y, n, "identities");
	if (v == NULL)
		return FAIL(p, n, "scope '%s' needs 'identities' (the identity kinds it accepts)",
		            s->name);
	rc = get_names(p, v, "identity", &s->identities, &s->nidentities);
	if (rc != LETHE_OK)
		return rc;
	for (i = 0; i < s->nidentities; i++)
		if (!datamap_has_identity(p->dm, s->identities[i]))
			return FAIL(p, yseq_item(&p->y, v, i),
			            "scope '%s': identity '%s' is not declared", s->name,
			            s->identities[i]);
	v = ymap_get(&p->y, n, "tables");
	if (v == NULL)
		return FAIL(p, n, "scope '%s' needs 'tables' (a list, or 'all')", s->name);
	if (ynode_is_scalar(v) && strcmp(ynode_str(v), "all") == 0) {
		s->all = true;
		return LETHE_OK;
	}
	rc = get_names(p, v, "table", &s->tables, &s->ntables);
	if (rc != LETHE_OK)
		return rc;
	for (i = 0; i < s->ntables; i++)
		if (datamap_table(p->dm, s->tables[i]) == NULL)
			return FAIL(p, yseq_item(&p->y, v, i),
			            "scope '%s': table '%s' is not mapped under 'tables'", s->name,
			            s->tables[i]);
	return LETHE_OK;
}

/* A list of non-empty text items (categories may contain '-'). */
static lethe_rc
get_names_text_ok(struct parser *p, yaml_node_t *n, char ***out, size_t *nout)
{
	size_t i, len;

	if (!ynode_is_seq(n))
		return FAIL(p, n, "'categories' must be a list, e.g. [payments, support]");
	len = ynode_len(n);
	*out = xcalloc(len ? len : 1, sizeof(char *));
	*nout = 0;
	for (i = 0; i < len; i++) {
		yaml_node_t *item = yseq_item(&p->y, n, i);
		const char *s = ynode_str(item);

		if (s == NULL || s[0] == '\0')
			return FAIL(p, item, "a category must be a non-empty name");
		(*out)[(*nout)++] = xstrdup(s);
	}
	return LETHE_OK;
}

static lethe_rc
parse_root(struct parser *p)
{
	static const char *const keys[] = {"version", "identities", "categories", "tables",
	                                   "scopes",  "effects",    NULL};
	struct datamap *dm = p->dm;
	yaml_node_t *root = ydoc_root(&p->y), *v;
	const char *const *c;
	size_t i;
	lethe_rc rc;

	p->ctx_line = 1;
	if (!ynode_is_map(root))
		return FAIL(p, root,
		            "the data map must be a mapping (version, identities, "
		            "tables, scopes)");
	rc = ymap_check_keys(&p->y, root, keys, "the data map", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, root, "version");
	if (v == NULL || ynode_str(v) == NULL || strcmp(ynode_str(v), "1") != 0)
		return FAIL(p, v ? v : root, "'version: 1' is required (the only version)");

	v = ymap_get(&p->y, root, "identities");
	if (v != NULL && ymap_check_dups(&p->y, v, "identities", LETHE_E_DATAMAP, p->err) != 0)
		return LETHE_E_DATAMAP;
	if (!ynode_is_map(v) || ynode_len(v) == 0)
		return FAIL(p, v ? v : root,
		            "'identities' must map identity kinds to descriptions");
	dm->identities = xcalloc(ynode_len(v), sizeof(*dm->identities));
	for (i = 0; i < ynode_len(v); i++) {
		struct dm_identity *id = &dm->identities[i];
		yaml_node_t *d = ymap_val(&p->y, v, i);

		rc = dmp_get_ident(p, ymap_key(&p->y, v, i), "identity kind", &id->name);
		if (rc != LETHE_OK)
			return rc;
		dm->nidentities++;
		id->description = xstrdup(ynode_str(d) ? ynode_str(d) : "");
	}

	for (c = default_categories; *c != NULL; c++) {
		dm->categories = xrealloc(dm->categories, (dm->ncategories + 1) * sizeof(char *));
		dm->categories[dm->ncategories++] = xstrdup(*c);
	}
	v = ymap_get(&p->y, root, "categories");
	if (v != NULL) {
		char **extra = NULL;
		size_t nextra = 0;

		rc = get_names_text_ok(p, v, &extra, &nextra);
		if (rc != LETHE_OK) {
			datamap_names_free(extra, nextra);
			return rc;
		}
		dm->categories =
		    xrealloc(dm->categories, (dm->ncategories + nextra) * sizeof(char *));
		for (i = 0; i < nextra; i++)
			dm->categories[dm->ncategories++] = extra[i];
		free(extra);
	}

	v = ymap_get(&p->y, root, "tables");
	if (v != NULL && ymap_check_dups(&p->y, v, "tables", LETHE_E_DATAMAP, p->err) != 0)
		return LETHE_E_DATAMAP;
	if (!ynode_is_map(v) || ynode_len(v) == 0)
		return FAIL(p, v ? v : root, "'tables' must map table names to their mapping");
	dm->tables = xcalloc(ynode_len(v), sizeof(*dm->tables));
	for (i = 0; i < ynode_len(v); i++) {
		dm->tables[i].index = i;
		dm->ntables++;
		rc = parse_table(p, ymap_key(&p->y, v, i), ymap_val(&p->y, v, i), &dm->tables[i]);
		if (rc != LETHE_OK)
			return rc;
	}
	rc = datamap_resolve(p->dm, p->err);
	if (rc != LETHE_OK)
		return rc;

	v = ymap_get(&p->y, root, "scopes");
	if (v != NULL && ymap_check_dups(&p->y, v, "scopes", LETHE_E_DATAMAP, p->err) != 0)
		return LETHE_E_DATAMAP;
	if (!ynode_is_map(v) || ynode_len(v) == 0)
		return FAIL(p, v ? v : root, "'scopes' must map scope names to their definition");
	dm->scopes = xcalloc(ynode_len(v), sizeof(*dm->scopes));
	for (i = 0; i < ynode_len(v); i++) {
		dm->nscopes++;
		rc = parse_scope(p, ymap_key(&p->y, v, i), ymap_val(&p->y, v, i), &dm->scopes[i]);
		if (rc != LETHE_OK)
			return rc;
	}
	rc = dmp_check_erase_in(p);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, root, "effects");
	if (v != NULL)
		return datamap_parse_effects(p, v);
	return LETHE_OK;
}

struct datamap *
datamap_load(const char *path, const char *text, struct lethe_err *err)
{
	struct parser p;
	lethe_rc rc;

	memset(&p, 0, sizeof(p));
	p.err = err;
	p.dm = xcalloc(1, sizeof(*p.dm));
	p.dm->path = xstrdup(path);
	rc = ydoc_load(&p.y, path, text, LETHE_E_DATAMAP, err);
	if (rc == LETHE_OK)
		rc = parse_root(&p);
	ydoc_free(&p.y);
	if (rc != LETHE_OK) {
		datamap_free(p.dm);
		return NULL;
	}
	return p.dm;
}
