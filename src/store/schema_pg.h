/* SPDX-License-Identifier: MIT */
/*
 * schema_pg.h - the state store's schema on PostgreSQL, derived from the
 * SQLite one (schema_pg.c).  Only src/store/ includes it (and its tests).
 */
#ifndef LETHE_STORE_SCHEMA_PG_H
#define LETHE_STORE_SCHEMA_PG_H

#include "util/fmacros.h"

#include <stdbool.h>
#include <stddef.h>

#include "store/sq.h"
#include "util/rc.h"

/* A table or index of the schema, its CREATE statement translated for PostgreSQL. */
struct store_pg_object {
	bool index;  /* an index (else a table) */
	char *name;  /* its name */
	char *table; /* the table (an index's; a table's own name) */
	char *sql;   /* CREATE TABLE / CREATE INDEX for PostgreSQL */
};

struct store_pg_catalogue {
	struct store_pg_object *items; /* tables in creation order, then indexes */
	size_t n;
};

/* @sql (a CREATE TABLE or CREATE INDEX of SQLite's catalogue) for PostgreSQL: a new string. */
char *store__pg_translate(const char *sql);

/*
 * The catalogue that SQLite's migrations @lite_sql (every version's, in
 * order) make, translated, into *@cat (free it with
 * store__pg_catalogue_free()).  LETHE_E_INTERNAL if SQLite refuses them.
 */
lethe_rc store__pg_catalogue(const char *lite_sql, struct store_pg_catalogue *cat,
                             struct lethe_err *err);
void store__pg_catalogue_free(struct store_pg_catalogue *cat);

/*
 * Bring the PostgreSQL store of @c to @version, whose SQLite schema
 * @lite_sql makes: in one transaction under the write lock, schema
 * "lethe" and its schema_version table created if missing, then what the
 * store lacks added.  LETHE_E_STATE if that fails or the store is newer.
 */
lethe_rc store__pg_migrate(struct sq *c, const char *lite_sql, int version, struct lethe_err *err);

#endif /* LETHE_STORE_SCHEMA_PG_H */
