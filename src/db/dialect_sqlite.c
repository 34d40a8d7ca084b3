/* SPDX-License-Identifier: MIT */
/*
 * dialect_sqlite.c - how lethe spells SQL for SQLite (struct appdb_dialect,
 * see appdb.h).
 *
 * Everything SQLite-specific in the statements the engine builds is here:
 * double-quoted identifiers, "?" placeholders, 1 and 0 as truth values,
 * text sorting after numbers (an index range), typeof() for a value's
 * storage class, LIKE on separators for datetime text (a third of GLOB's
 * cost per row), GLOB character classes for a keyed hash, and the unary
 * "+" that keeps the planner from using an index for a term.  The
 * PostgreSQL dialect (dialect_pg.c) fills in the same table.
 */
#include "util/fmacros.h"

#include "db/appdb.h"

/* "YYYY-MM-DD HH:MM:SS..." by its separators. */
#define DATETIME_LIKE "____-__-__ __:__:__%"

static lethe_rc
sq_quote(struct buf *b, const char *name)
{
	const char *p;
	lethe_rc rc;

	rc = buf_add(b, "\"", 1);
	for (p = name; rc == LETHE_OK && *p != '\0'; p++) {
		if (*p == '"')
			rc = buf_add(b, "\"\"", 2);
		else
			rc = buf_add(b, p, 1);
	}
	if (rc == LETHE_OK)
		rc = buf_add(b, "\"", 1);
	return rc;
}

static lethe_rc
sq_param(struct buf *b, int n)
{
	(void)n;
	return buf_add(b, "?", 1);
}

static lethe_rc
sq_text_range(struct buf *b, const char *col)
{
	lethe_rc rc = sq_quote(b, col);

	if (rc == LETHE_OK)
		rc = buf_adds(b, " >= ''");
	return rc;
}

/* typeof(@col) = '@type' */
static lethe_rc
typeof_is(struct buf *b, const char *col, const char *type)
{
	lethe_rc rc = buf_adds(b, "typeof(");

	if (rc == LETHE_OK)
		rc = sq_quote(b, col);
	if (rc == LETHE_OK)
		rc = buf_addf(b, ") = '%s'", type);
	return rc;
}

static lethe_rc
sq_is_integer(struct buf *b, const char *col)
{
	return typeof_is(b, col, "integer");
}

static lethe_rc
sq_is_datetime_text(struct buf *b, const char *col)
{
	lethe_rc rc = typeof_is(b, col, "text");

	if (rc == LETHE_OK)
		rc = buf_adds(b, " AND ");
	if (rc == LETHE_OK)
		rc = sq_quote(b, col);
	if (rc == LETHE_OK)
		rc = buf_adds(b, " LIKE '" DATETIME_LIKE "'");
	return rc;
}

/* True if @s can stand in a GLOB pattern inside a string literal as itself. */
static bool
glob_literal_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (strchr("'*?[]", *s) != NULL)
			return false;
	return true;
}

static lethe_rc
sq_is_hex_text(struct buf *b, const char *col, const char *prefix, size_t len)
{
	size_t i, n = strlen(prefix);
	lethe_rc rc;

	if (!glob_literal_ok(prefix) || n > len)
		return LETHE_E_INTERNAL;
	rc = typeof_is(b, col, "text");
	if (rc == LETHE_OK)
		rc = buf_adds(b, " AND length(");
	if (rc == LETHE_OK)
		rc = sq_quote(b, col);
	if (rc == LETHE_OK)
		rc = buf_addf(b, ") = %zu AND ", len);
	if (rc == LETHE_OK)
		rc = sq_quote(b, col);
	if (rc == LETHE_OK)
		rc = buf_addf(b, " GLOB '%s", prefix);
	for (i = n; rc == LETHE_OK && i < len; i++)
		rc = buf_adds(b, "[0-9a-f]");
	if (rc == LETHE_OK)
		rc = buf_adds(b, "'");
	return rc;
}

static lethe_rc
sq_no_index(struct buf *b, const char *pred)
{
	return buf_addf(b, "+(%s)", pred);
}

const struct appdb_dialect appdb_sqlite_dialect = {
    .name = "sqlite",
    .quote = sq_quote,
    .param = sq_param,
    .true_lit = "1",
    .false_lit = "0",
    .is_op = " IS ",
    .is_not_op = " IS NOT ",
    .bind_once = false,
    .text_range = sq_text_range,
    .is_integer = sq_is_integer,
    .is_datetime_text = sq_is_datetime_text,
    .is_hex_text = sq_is_hex_text,
    .no_index = sq_no_index,
    .index_ends_in_key = true,
    .deletes_keep_index_entries = false,
};
