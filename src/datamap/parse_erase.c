/* SPDX-License-Identifier: MIT */
/*
 * parse_erase.c - parsing what erasure does to a table: its 'erase' (the
 * default), its 'erase_in' (one per scope that acts otherwise) and, in
 * either, 'keep' rules that retain the rows matching a condition, with
 * their reason, while the rest gets the action (docs/datamap.md, "erase").
 *
 * Each of them becomes a struct dm_erase_set: the keep rules in file
 * order, then the action for the rest.  The default set's rest shares its
 * strings with the table's action fields (t->action ... t->retain_from),
 * which the sweeper and the ttl checks read.  Checks that need the scopes
 * run once they are parsed (dmp_check_erase_in); checks that need the
 * database's columns are in validate.c.
 */
#include "util/fmacros.h"

#include "datamap/datamap.h"
#include "datamap/datamap_internal.h"
#include "datamap/parse_internal.h"
#include "util/mem.h"

lethe_rc
dmp_parse_anon_cols(struct parser *p, yaml_node_t *n, struct dm_anon_col **out, size_t *nout)
{
	size_t i, len;
	lethe_rc rc;

	if (!ynode_is_map(n) || ynode_len(n) == 0)
		return FAIL(p, n, "'columns' must map columns to null, hash or {set: VALUE}");
	if (ymap_check_dups(&p->y, n, "columns", LETHE_E_DATAMAP, p->err) != 0)
		return LETHE_E_DATAMAP;
	len = ynode_len(n);
	*out = xcalloc(len, sizeof(**out));
	for (i = 0; i < len; i++) {
		struct dm_anon_col *a = &(*out)[i];
		yaml_node_t *k = ymap_key(&p->y, n, i), *v = ymap_val(&p->y, n, i);

		a->line = ynode_line(k);
		rc = dmp_get_ident(p, k, "column", &a->column);
		if (rc != LETHE_OK)
			return rc;
		(*nout)++;
		if (ynode_is_null(v)) {
			a->how = DM_ANON_NULL;
		} else if (ynode_is_scalar(v) && strcmp(ynode_str(v), "hash") == 0) {
			a->how = DM_ANON_HASH;
		} else if (ynode_is_map(v)) {
			static const char *const keys[] = {"set", NULL};
			yaml_node_t *s;

			rc = ymap_check_keys(&p->y, v, keys, "column action", LETHE_E_DATAMAP,
			                     p->err);
			if (rc != LETHE_OK)
				return rc;
			s = ymap_get(&p->y, v, "set");
			if (!ynode_is_scalar(s) || ynode_is_null(s))
				return FAIL(p, v, "'set' needs a value (use null to clear)");
			a->how = DM_ANON_SET;
			dmp_value_from_scalar(s, &a->set);
		} else {
			return FAIL(p, v, "column '%s': write null, hash or {set: VALUE}",
			            a->column);
		}
	}
	return LETHE_OK;
}

/* 'reason', 'for' and 'from' of a retain (@n, at line @p->ctx_line) into @e. */
static lethe_rc
parse_retain(struct parser *p, yaml_node_t *n, struct dm_erase *e)
{
	yaml_node_t *v;
	lethe_rc rc;

	v = ymap_get(&p->y, n, "reason");
	if (v == NULL || ynode_str(v) == NULL || ynode_str(v)[0] == '\0')
		return FAIL(p, n, "retain needs a 'reason' (shown to the person)");
	rc = dmp_get_text(p, v, "reason", &e->reason);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "for");
	if (v == NULL)
		return FAIL(p, n, "retain needs 'for' (how long, e.g. 10y)");
	rc = dmp_get_duration(p, v, "retain 'for'", &e->retain_for);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "from");
	if (v != NULL)
		return dmp_get_ident(p, v, "'from' column", &e->retain_from);
	return LETHE_OK;
}

/* One keep rule @n: {when, reason, for, from, columns}, a retain of the rows matching 'when'. */
static lethe_rc
parse_keep(struct parser *p, yaml_node_t *n, struct dm_erase *e)
{
	static const char *const keys[] = {"when", "reason", "for", "from", "columns", NULL};
	yaml_node_t *v;
	lethe_rc rc;

	e->line = ynode_line(n);
	e->action = DM_RETAIN;
	p->ctx_line = e->line;
	if (!ynode_is_map(n))
		return FAIL(p, n,
		            "a keep rule must be a mapping like {when: {level: error}, reason: "
		            "..., for: 90d}");
	rc = ymap_check_keys(&p->y, n, keys, "a keep rule", LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "when");
	if (v == NULL)
		return FAIL(p, n, "a keep rule needs 'when' (which rows it keeps)");
	rc = dmp_parse_conds(p, v, &e->when, &e->nwhen);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "columns");
	if (v != NULL) {
		rc = dmp_parse_anon_cols(p, v, &e->anon, &e->nanon);
		if (rc != LETHE_OK)
			return rc;
	}
	return parse_retain(p, n, e);
}

/* The action of an 'erase' or an 'erase_in' entry (@n) into @e, its keep rules into @set. */
static lethe_rc
parse_action(struct parser *p, yaml_node_t *n, struct dm_erase *e, struct dm_erase_set *set,
             const char *what)
{
	static const char *const keys[] = {"action", "columns", "reason", "for",
	                                   "from",   "keep",    NULL};
	const char *a;
	yaml_node_t *v;
	size_t i;
	lethe_rc rc;

	e->line = ynode_line(n);
	if (ynode_is_scalar(n)) {
		a = ynode_str(n);
		if (strcmp(a, "delete") == 0) {
			e->action = DM_DELETE;
			return LETHE_OK;
		}
		if (strcmp(a, "anonymize") == 0 || strcmp(a, "retain") == 0)
			return FAIL(p, n,
			            "'%s: %s' needs details: write it as a mapping with "
			            "'action: %s' and its columns",
			            what, a, a);
		return FAIL(p, n, "unknown erase action '%s' (delete, anonymize or retain)", a);
	}
	if (!ynode_is_map(n))
		return FAIL(p, n, "'%s' must be 'delete' or a mapping", what);
	rc = ymap_check_keys(&p->y, n, keys, what, LETHE_E_DATAMAP, p->err);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(&p->y, n, "action");
	a = ynode_str(v);
	if (a == NULL)
		return FAIL(p, n, "'%s' needs 'action' (delete, anonymize or retain)", what);
	if (strcmp(a, "delete") == 0)
		e->action = DM_DELETE;
	else if (strcmp(a, "anonymize") == 0)
		e->action = DM_ANONYMIZE;
	else if (strcmp(a, "retain") == 0)
		e->action = DM_RETAIN;
	else
		return FAIL(p, v, "unknown erase action '%s' (delete, anonymize or retain)", a);

	v = ymap_get(&p->y, n, "columns");
	if (e->action == DM_DELETE && v != NULL)
		return FAIL(p, v, "'columns' does not apply to delete");
	if (e->action == DM_ANONYMIZE && v == NULL)
		return FAIL(p, n, "anonymize needs 'columns' (what to do to each column)");
	if (v != NULL) {
		rc = dmp_parse_anon_cols(p, v, &e->anon, &e->nanon);
		if (rc != LETHE_OK)
			return rc;
	}
	if (e->action == DM_RETAIN) {
		rc = parse_retain(p, n, e);
	} else {
		static const char *const only[] = {"reason", "for", "from", NULL};
		const char *const *o;

		for (o = only; *o != NULL; o++)
			if (ymap_get(&p->y, n, *o) != NULL)
				return FAIL(p, ymap_get(&p->y, n, *o),
				            "'%s' belongs to 'action: retain' only", *o);
	}
	v = ymap_get(&p->y, n, "keep");
	if (rc != LETHE_OK || v == NULL)
		return rc;
	if (!ynode_is_seq(v) || ynode_len(v) == 0)
		return FAIL(p, v,
		            "'keep' must be a list of rules like {when: {level: error}, "
		            "reason: ..., for: 90d}");
	/* The keep rules come first, the rest's action (@e, copied by the caller) last. */
	set->parts = xcalloc(ynode_len(v) + 1, sizeof(*set->parts));
	for (i = 0; i < ynode_len(v); i++) {
		set->nparts++;
		rc = parse_keep(p, yseq_item(&p->y, v, i), &set->parts[i]);
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

/* Is @col one of @t's media columns? */
static bool
is_media(const struct dm_table *t, const char *col)
{
	size_t i;

	for (i = 0; i < t->nmedia; i++)
		if (strcmp(t->media[i], col) == 0)
			return true;
	return false;
}

/*
 * Checks of @set that need only the table: media columns follow their
 * row (deleted, or held with it, never rewritten; parse_table() refuses
 * anonymize on a media table), and no part rewrites a column a keep rule tests (a kept row would
 * move to another part and be erased otherwise).
 */
static lethe_rc
check_set(struct parser *p, const struct dm_table *t, const struct dm_erase_set *set)
{
	size_t i, j, k, l;

	for (i = 0; i < set->nparts; i++) {
		const struct dm_erase *e = &set->parts[i];

		for (j = 0; j < e->nanon; j++) {
			/* (An anonymize of a media table is refused as a whole, at 'media'.) */
			if (e->action != DM_ANONYMIZE && is_media(t, e->anon[j].column))
				return dmp_fail_at(
				    p, e->anon[j].line,
				    "table '%s': media column '%s' cannot be rewritten "
				    "(its file is removed with the row)",
				    t->name, e->anon[j].column);
			for (k = 0; k < set->nparts; k++)
				for (l = 0; l < set->parts[k].nwhen; l++)
					if (strcmp(set->parts[k].when[l].column,
					           e->anon[j].column) == 0)
						return dmp_fail_at(
						    p, e->anon[j].line,
						    "table '%s': column '%s' is tested by a keep "
						    "rule (line %d) and cannot be rewritten",
						    t->name, e->anon[j].column,
						    set->parts[k].when[l].line);
		}
	}
	return LETHE_OK;
}

/* One set from @n (an 'erase' or an 'erase_in' entry) into @set. */
static lethe_rc
parse_set(struct parser *p, yaml_node_t *n, struct dm_erase_set *set, const struct dm_table *t,
          const char *what)
{
	struct dm_erase rest;
	lethe_rc rc;

	memset(&rest, 0, sizeof(rest));
	set->line = ynode_line(n);
	rc = parse_action(p, n, &rest, set, what);
	if (set->parts == NULL)
		set->parts = xcalloc(1, sizeof(*set->parts));
	set->parts[set->nparts++] = rest;
	if (rc == LETHE_OK)
		rc = check_set(p, t, set);
	return rc;
}

lethe_rc
dmp_parse_erase(struct parser *p, yaml_node_t *n, yaml_node_t *in, struct dm_table *t)
{
	const struct dm_erase *rest;
	size_t i;
	lethe_rc rc;

	if (n == NULL)
		return FAIL(p, n, "table '%s' needs 'erase' (delete, anonymize or retain)",
		            t->name);
	if (in != NULL && (!ynode_is_map(in) || ynode_len(in) == 0))
		return FAIL(p, in,
		            "'erase_in' must map scope names to what erasure does in them, e.g. "
		            "{meta: {action: anonymize, columns: {bio: null}}}");
	if (in != NULL && ymap_check_dups(&p->y, in, "erase_in", LETHE_E_DATAMAP, p->err) != 0)
		return LETHE_E_DATAMAP;
	t->erase = xcalloc(1 + (in != NULL ? ynode_len(in) : 0), sizeof(*t->erase));
	t->nerase = 1;
	rc = parse_set(p, n, &t->erase[0], t, "erase");
	/* The default's rest is the table's action: its strings belong to the table now. */
	rest = &t->erase[0].parts[t->erase[0].nparts - 1];
	t->action = rest->action;
	t->anon = rest->anon;
	t->nanon = rest->nanon;
	t->reason = rest->reason;
	t->retain_for = rest->retain_for;
	t->retain_from = rest->retain_from;
	for (i = 0; rc == LETHE_OK && in != NULL && i < ynode_len(in); i++) {
		struct dm_erase_set *s = &t->erase[t->nerase++];

		rc = dmp_get_ident(p, ymap_key(&p->y, in, i), "erase_in scope", &s->scope);
		if (rc == LETHE_OK)
			rc = parse_set(p, ymap_val(&p->y, in, i), s, t, "erase_in");
		if (rc == LETHE_OK)
			s->line = ynode_line(ymap_key(&p->y, in, i));
	}
	return rc;
}

lethe_rc
dmp_check_erase_in(struct parser *p)
{
	size_t i, j;

	for (i = 0; i < p->dm->ntables; i++) {
		const struct dm_table *t = &p->dm->tables[i];

		for (j = 1; j < t->nerase; j++) {
			const struct dm_scope *sc = datamap_scope(p->dm, t->erase[j].scope);

			if (sc == NULL)
				return dmp_fail_at(
				    p, t->erase[j].line,
				    "table '%s': erase_in names scope '%s', which is "
				    "not declared under 'scopes'",
				    t->name, t->erase[j].scope);
			if (!dm_scope_has_table(sc, t))
				return dmp_fail_at(
				    p, t->erase[j].line,
				    "table '%s': erase_in names scope '%s', which does "
				    "not act on this table (add it to the scope's "
				    "'tables')",
				    t->name, t->erase[j].scope);
		}
	}
	return LETHE_OK;
}
