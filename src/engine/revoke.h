/* SPDX-License-Identifier: MIT */
/*
 * revoke.h - wiping a person's connection tokens at once.
 *
 * For a Meta deauthorization (and, later, a channel disconnect): in every
 * table with token columns that links directly to identity kind @kind, the
 * rows matching @value get their tokens set to NULL and the table's
 * "disconnect: set" columns written (e.g. status = 'revoked'), in one short
 * write transaction.  Non-token data stays.  Idempotent.
 */
#ifndef LETHE_REVOKE_H
#define LETHE_REVOKE_H

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "db/sql.h"

/* Wipe tokens of rows linked to (@kind, @value); *@rows gets the rows changed. */
lethe_rc revoke_tokens(const struct datamap *dm, struct appdb *db, const char *kind,
                       const char *value, int64_t *rows, struct lethe_err *err);

/* Append @a's disconnect value to @b: NULL, or the map's value (bound). */
void revoke_sql_value(struct sql *b, const struct dm_anon_col *a);

/*
 * Append a token wipe's SET list to @b: each token column of @t = NULL (only
 * if @tokens), then each "disconnect: set" column = its value, separated by
 * ", ".  Returns the number of assignments appended (0: nothing to set).
 */
size_t revoke_sql_set(struct sql *b, const struct dm_table *t, bool tokens);

#endif /* LETHE_REVOKE_H */
