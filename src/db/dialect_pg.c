/* SPDX-License-Identifier: MIT */
/*
 * dialect_pg.c - how lethe spells SQL for PostgreSQL (struct appdb_dialect,
 * see appdb.h).
 *
 * Identifiers are double-quoted with inner quotes doubled, and a table
 * named "schema.table" becomes "schema"."table" (a name the data map spells
 * exactly, mixed case kept).  Placeholders are "$n"; the engine binds by
 * position as with SQLite's "?", so the driver (appdb_pg.c) numbers them in
 * order of appearance when it prepares a statement.  Truth values are TRUE
 * and FALSE.  A column's type fixes what it holds, so the storage-form
 * tests are about types and text: an integer column holds only integers
 * (pg_typeof), text never sorts among numbers (no text range), datetime
 * text and a keyed hash are regular expressions on the value as text (a
 * timestamp or date column always has the shape), and a term is kept
 * from the planner's index choice as "(pred) IS TRUE".  Values are bound
 * once, typed by the server from the column they meet (bind_once).
 */
#include "util/fmacros.h"

#include "db/appdb.h"

static lethe_rc
pg_quote_one(struct buf *b, const char *name, size_t n)
{
	size_t i;
	lethe_rc rc;

	rc = buf_add(b, "\"", 1);
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		if (name[i] == '"')
			rc = buf_add(b, "\"\"", 2);
		else
			rc = buf_add(b, name + i, 1);
	}
	if (rc == LETHE_OK)
		rc = buf_add(b, "\"", 1);
	return rc;
}

/*
 * "a.b" -> "a"."b" (a schema-qualified table); anything else one identifier.
 * Only a table name may be qualified: the predicates below name a column,
 * quoted whole (pg_quote_one), so a column "a.b" stays one identifier.
 */
static lethe_rc
pg_quote(struct buf *b, const char *name)
{
	const char *dot = strchr(name, '.');
	lethe_rc rc;

	if (dot == NULL || dot == name || dot[1] == '\0' || strchr(dot + 1, '.') != NULL)
		return pg_quote_one(b, name, strlen(name));
	rc = pg_quote_one(b, name, (size_t)(dot - name));
	if (rc == LETHE_OK)
		rc = buf_add(b, ".", 1);
	if (rc == LETHE_OK)
		rc = pg_quote_one(b, dot + 1, strlen(dot + 1));
	return rc;
}

static lethe_rc
pg_param(struct buf *b, int n)
{
	return buf_addf(b, "$%d", n);
}

/* A PostgreSQL column holds one type: text never sorts among numbers. */
static lethe_rc
pg_text_range(struct buf *b, const char *col)
{
	(void)col;
	return buf_adds(b, "FALSE");
}

static lethe_rc
pg_is_integer(struct buf *b, const char *col)
{
	lethe_rc rc = buf_adds(b, "pg_typeof(");

	if (rc == LETHE_OK)
		rc = pg_quote_one(b, col, strlen(col));
	if (rc == LETHE_OK)
		rc = buf_adds(b,
		              ") IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype)");
	return rc;
}

/*
 * "YYYY-MM-DD HH:MM:SS..." by its separators, as SQLite's LIKE, for text;
 * a timestamp or date column always has the shape (a date is midnight of
 * its day), and its type is tested first: formatting every row's time as
 * text for the regular expression would cost more than the delete.
 */
static lethe_rc
pg_is_datetime_text(struct buf *b, const char *col)
{
	lethe_rc rc = buf_adds(b, "(pg_typeof(");

	if (rc == LETHE_OK)
		rc = pg_quote_one(b, col, strlen(col));
	if (rc == LETHE_OK)
		rc = buf_adds(b, ") IN ('timestamp with time zone'::regtype, 'timestamp without "
		                 "time zone'::regtype, 'date'::regtype) OR ");
	if (rc == LETHE_OK)
		rc = pg_quote_one(b, col, strlen(col));
	if (rc == LETHE_OK)
		rc = buf_adds(b, "::text ~ '^.{4}-.{2}-.{2} .{2}:.{2}:.{2}')");
	return rc;
}

/* True if @s stands for itself in a regular expression inside a string literal. */
static bool
re_literal_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (strchr("'\\.^$|?*+()[]{}", *s) != NULL)
			return false;
	return true;
}

static lethe_rc
pg_is_hex_text(struct buf *b, const char *col, const char *prefix, size_t len)
{
	size_t n = strlen(prefix);
	lethe_rc rc;

	if (!re_literal_ok(prefix) || n > len)
		return LETHE_E_INTERNAL;
	rc = pg_quote_one(b, col, strlen(col));
	if (rc == LETHE_OK)
		rc = buf_addf(b, "::text ~ '^%s[0-9a-f]{%zu}$'", prefix, len - n);
	return rc;
}

static lethe_rc
pg_no_index(struct buf *b, const char *pred)
{
	return buf_addf(b, "((%s) IS TRUE)", pred);
}

const struct appdb_dialect appdb_pg_dialect = {
    .name = "postgresql",
    .quote = pg_quote,
    .param = pg_param,
    .true_lit = "TRUE",
    .false_lit = "FALSE",
    .is_op = " IS NOT DISTINCT FROM ",
    .is_not_op = " IS DISTINCT FROM ",
    .bind_once = true,
    .text_range = pg_text_range,
    .is_integer = pg_is_integer,
    .is_datetime_text = pg_is_datetime_text,
    .is_hex_text = pg_is_hex_text,
    .no_index = pg_no_index,
    .index_ends_in_key = false,
    .deletes_keep_index_entries = true,
};
