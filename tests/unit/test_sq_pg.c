/* SPDX-License-Identifier: MIT */
/*
 * test_sq_pg.c - unit tests of the SQL rewriting of src/store/sq_pg.c (no
 * server needed): parameters to "$N", INSERT OR IGNORE to ON CONFLICT DO
 * NOTHING, literals, quoted names and comments left alone.  The backend
 * against a real server: tests/e2e/test_pg_store.py.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/sq_pg.h"

static void
expect(const char *in, const char *want, int want_np)
{
	int np = -1;
	char *out = sqpg_rewrite(in, &np);

	assert_string_equal(out, want);
	assert_int_equal(np, want_np);
	free(out);
}

/* "?" numbers after the highest so far, as SQLite numbers it; "?N" keeps N. */
static void
test_sq_pg_parameters(void **state)
{
	(void)state;
	expect("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2",
	       2);
	expect("UPDATE t SET a = ?2 WHERE id = ?1 AND b = ?1",
	       "UPDATE t SET a = $2 WHERE id = $1 AND b = $1", 2);
	expect("SELECT ?3, ?", "SELECT $3, $4", 4);
	expect("SELECT 1", "SELECT 1", 0);
}

/* Nothing inside a string literal, a quoted name or a comment is a parameter. */
static void
test_sq_pg_literals(void **state)
{
	(void)state;
	expect("SELECT 'a?b', 'it''s ?', \"q?\" FROM t WHERE x = ?",
	       "SELECT 'a?b', 'it''s ?', \"q?\" FROM t WHERE x = $1", 1);
	expect("SELECT /* ? */ a -- ?\nFROM t WHERE b = ?1",
	       "SELECT /* ? */ a -- ?\nFROM t WHERE b = $1", 1);
}

/* INSERT OR IGNORE: ON CONFLICT DO NOTHING at the end, or before a top-level RETURNING. */
static void
test_sq_pg_insert_or_ignore(void **state)
{
	(void)state;
	expect("INSERT OR IGNORE INTO t (a) VALUES (?1);",
	       "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING", 1);
	expect("insert or ignore into t (a) SELECT b FROM u",
	       "insert into t (a) SELECT b FROM u ON CONFLICT DO NOTHING", 0);
	expect("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING id",
	       "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id", 1);
	/* Not the keywords inside a literal or a longer name. */
	expect("INSERT INTO t (a) VALUES ('INSERT OR IGNORE')",
	       "INSERT INTO t (a) VALUES ('INSERT OR IGNORE')", 0);
	expect("SELECT reinsert or ignore_me FROM t", "SELECT reinsert or ignore_me FROM t", 0);
}

/* SQLite's index hints go: PostgreSQL has none. */
static void
test_sq_pg_index_hints(void **state)
{
	(void)state;
	expect("SELECT a FROM requests INDEXED BY requests_exports WHERE b = ?1",
	       "SELECT a FROM requests  WHERE b = $1", 1);
	expect("SELECT a FROM t NOT INDEXED WHERE b = 'INDEXED BY x'",
	       "SELECT a FROM t  WHERE b = 'INDEXED BY x'", 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sq_pg_parameters),
	    cmocka_unit_test(test_sq_pg_literals),
	    cmocka_unit_test(test_sq_pg_insert_or_ignore),
	    cmocka_unit_test(test_sq_pg_index_hints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
