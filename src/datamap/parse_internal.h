/* SPDX-License-Identifier: MIT */
/*
 * parse_internal.h - what the parser's files share (parse.c: the map,
 * tables, links, scopes; parse_erase.c: what erasure does to a table, by
 * default and per scope).  Not for use outside src/datamap/.
 */
#ifndef LETHE_DATAMAP_PARSE_INTERNAL_H
#define LETHE_DATAMAP_PARSE_INTERNAL_H

#include "datamap/datamap.h"
#include "util/yamlutil.h"

struct parser {
	struct ydoc y;         /* the document */
	struct datamap *dm;    /* what is being filled */
	struct lethe_err *err; /* where failures go */
	int ctx_line;          /* line of the enclosing mapping, for missing keys */
};

/* Fail at @node's line, or at the enclosing mapping's line if @node is missing. */
#define FAIL(p, node, ...) dmp_fail_at((p), (node) ? ynode_line(node) : (p)->ctx_line, __VA_ARGS__)

/* Set @p's error to LETHE_E_DATAMAP "<file>:@line: <message>" and return it. */
lethe_rc dmp_fail_at(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A scalar @n that must be a plain identifier (table, column, kind) into *@out (owned). */
lethe_rc dmp_get_ident(struct parser *p, yaml_node_t *n, const char *what, char **out);
/* A scalar @n as text into *@out (owned). */
lethe_rc dmp_get_text(struct parser *p, yaml_node_t *n, const char *what, char **out);
/* A duration ("30d", "1d12h") into *@out seconds. */
lethe_rc dmp_get_duration(struct parser *p, yaml_node_t *n, const char *what, int64_t *out);
/* A scalar @n as a literal into @v: a plain integer is an INT, anything else TEXT. */
void dmp_value_from_scalar(yaml_node_t *n, struct dm_value *v);
/* A 'when' mapping of columns to a value or a list of values into *@out / *@nout. */
lethe_rc dmp_parse_conds(struct parser *p, yaml_node_t *n, struct dm_cond **out, size_t *nout);
/* 'columns' of an erase or a ttl (null, hash or {set: VALUE} each) into *@out / *@nout. */
lethe_rc dmp_parse_anon_cols(struct parser *p, yaml_node_t *n, struct dm_anon_col **out,
                             size_t *nout);
/*
 * A table's 'erase' (@n, NULL if missing) and 'erase_in' (@in, or NULL)
 * into t->erase, t->action and the fields after it (see dm_table).  The
 * scopes are not parsed yet: dmp_check_erase_in() checks them later.
 */
lethe_rc dmp_parse_erase(struct parser *p, yaml_node_t *n, yaml_node_t *in, struct dm_table *t);
/*
 * Once the scopes are parsed: every 'erase_in' of every table names a
 * declared scope that acts on the table.
 */
lethe_rc dmp_check_erase_in(struct parser *p);

#endif /* LETHE_DATAMAP_PARSE_INTERNAL_H */
