/* SPDX-License-Identifier: MIT */
/*
 * test_sql.c - unit tests of the SQL builder (src/db/sql.c) and the SQLite
 * dialect (src/db/dialect_sqlite.c): quoting and identifier lists, the
 * order of the parameter vector, sticky errors, and that each dialect
 * predicate selects the rows it says it does in a real SQLite database;
 * the PostgreSQL dialect's text (src/db/dialect_pg.c, no server needed),
 * its driver's placeholder numbering and how each dialect binds identities.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "db/appdb.h"
#include "db/sql.h"
#include "engine/plan.h"
#include "util/hash.h"

static const char schema[] =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, v, \"we\"\"ird\" TEXT);"
    "INSERT INTO t(id, v) VALUES (1, 42), (2, '42'), (3, 4.5), (4, NULL),"
    " (5, '2026-01-05 10:00:00'), (6, '2026-1-5 10:00:00'), (7, '2026-01-05T10:00:00'),"
    " (8, 'anon:0123456789abcdef0123456789abcdef'), (9, 'anon:0123456789ABCDEF0123456789abcdef'),"
    " (10, 'anon:0123456789abcdef0123456789abcde'), (11, 'xnon:0123456789abcdef0123456789abcdef'),"
    " (12, 'a');";

static int
setup(void **state)
{
	static const char *const scripts[] = {schema, NULL};

	return tu_fixture_setup(state, "sql", scripts, NULL);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/* Count the rows of t where @pred (built by @q) holds, binding @q's values. */
static int64_t
count_where(struct appdb *db, struct sql *pred)
{
	struct lethe_err err = {0};
	struct sql q;
	int64_t n = -1;

	sql_init(&q, db, 4096);
	sql_add(&q, "SELECT count(*) FROM t WHERE ");
	sql_fragment(&q, sql_str(pred), sql_vals(pred), sql_nvals(pred));
	assert_int_equal(sql_rc(&q), LETHE_OK);
	assert_int_equal(appdb_query_int(db, sql_str(&q), sql_vals(&q), sql_nvals(&q), &n, &err),
	                 LETHE_OK);
	sql_free(&q);
	return n;
}

static void
test_sql_quotes_identifiers(void **state)
{
	struct tu_fixture *f = *state;
	const char *const cols[] = {"id", "we\"ird", "v"};
	struct sql q;

	sql_init(&q, f->db, 1024);
	sql_add(&q, "SELECT ");
	sql_idents(&q, cols, 3);
	sql_add(&q, " FROM ");
	sql_ident(&q, "t");
	assert_int_equal(sql_rc(&q), LETHE_OK);
	assert_string_equal(sql_str(&q), "SELECT \"id\", \"we\"\"ird\", \"v\" FROM \"t\"");
	assert_int_equal(sql_nparams(&q), 0);
	sql_free(&q);
}

static void
test_sql_params_in_placeholder_order(void **state)
{
	struct tu_fixture *f = *state;
	struct appdb_val v[2] = {{.type = APPDB_INT, .i = 1}, {.type = APPDB_TEXT, .s = "x"}};
	struct appdb_val *p;
	size_t n = 0;
	struct sql q;

	sql_init(&q, f->db, 1024);
	sql_ident(&q, "a");
	sql_add(&q, " = ");
	sql_value(&q, (struct appdb_val){.type = APPDB_TEXT, .s = "first"});
	sql_add(&q, " AND ");
	sql_in(&q, "b", v, 2);
	sql_add(&q, " LIMIT ");
	sql_slot(&q, 4);
	assert_int_equal(sql_rc(&q), LETHE_OK);
	assert_string_equal(sql_str(&q), "\"a\" = ? AND \"b\" IN (?, ?) LIMIT ?");
	assert_int_equal(sql_nparams(&q), 4); /* three values and a slot */
	assert_int_equal(sql_nvals(&q), 3);
	p = sql_params_take(&q, &n);
	assert_int_equal(n, 3);
	assert_string_equal(p[0].s, "first");
	assert_int_equal(p[1].type, APPDB_INT);
	assert_int_equal(p[1].i, 1);
	assert_string_equal(p[2].s, "x");
	assert_int_equal(sql_nvals(&q), 0);
	assert_string_equal(sql_str(&q), "\"a\" = ? AND \"b\" IN (?, ?) LIMIT ?");
	free(p);
	sql_free(&q);
}

static void
test_sql_fragment_values_come_first(void **state)
{
	struct tu_fixture *f = *state;
	struct appdb_val v = {.type = APPDB_INT, .i = 7};
	struct sql pred, q;

	sql_init(&pred, f->db, 1024);
	sql_in(&pred, "id", &v, 1);
	sql_init(&q, f->db, 1024);
	sql_add(&q, "SELECT 1 WHERE ");
	sql_fragment(&q, sql_str(&pred), sql_vals(&pred), sql_nvals(&pred));
	sql_add(&q, " AND ");
	sql_ident(&q, "v");
	sql_add(&q, " = ");
	sql_value(&q, (struct appdb_val){.type = APPDB_TEXT, .s = "later"});
	assert_string_equal(sql_str(&q), "SELECT 1 WHERE \"id\" IN (?) AND \"v\" = ?");
	assert_int_equal(sql_nvals(&q), 2);
	assert_int_equal(sql_vals(&q)[0].i, 7);
	assert_string_equal(sql_vals(&q)[1].s, "later");
	sql_free(&pred);
	sql_free(&q);
}

static void
test_sql_conds_from_the_map(void **state)
{
	struct tu_fixture *f = *state;
	struct dm_value vals[2] = {{.is_int = true, .i = 3}, {.s = "x"}};
	struct dm_cond c[2] = {{.column = "kind", .values = vals, .nvalues = 2},
	                       {.column = "state", .values = vals + 1, .nvalues = 1}};
	struct sql q;

	sql_init(&q, f->db, 1024);
	sql_add(&q, "1");
	plan_add_conds(&q, c, 2);
	assert_string_equal(sql_str(&q), "1 AND \"kind\" IN (?, ?) AND \"state\" IN (?)");
	assert_int_equal(sql_nvals(&q), 3);
	assert_int_equal(sql_vals(&q)[0].type, APPDB_INT);
	assert_int_equal(sql_vals(&q)[0].i, 3);
	assert_string_equal(sql_vals(&q)[1].s, "x");
	assert_string_equal(sql_vals(&q)[2].s, "x");
	sql_free(&q);
}

static void
test_sql_errors_are_sticky(void **state)
{
	struct tu_fixture *f = *state;
	struct sql q;
	size_t len;

	sql_init(&q, f->db, 12);
	sql_add(&q, "SELECT ");
	sql_ident(&q, "a_long_name");
	assert_int_equal(sql_rc(&q), LETHE_E_TOOBIG);
	/* After the first failure nothing more is written; the first error stays. */
	len = sql_len(&q);
	assert_true(len <= 12);
	sql_add(&q, "1");
	sql_value(&q, (struct appdb_val){.type = APPDB_INT, .i = 1});
	sql_is_integer(&q, "v");
	assert_int_equal(sql_rc(&q), LETHE_E_TOOBIG);
	assert_int_equal(sql_len(&q), len);
	sql_reset(&q);
	assert_int_equal(sql_rc(&q), LETHE_OK);
	assert_int_equal(sql_nvals(&q), 0);
	sql_add(&q, "SELECT 1");
	assert_string_equal(sql_str(&q), "SELECT 1");
	sql_free(&q);
}

/*
 * A statement cut short by the cap is never runnable: a DELETE cut before
 * its WHERE would empty the table if its text so far were prepared.
 */
static void
test_sql_cut_statement_never_runs(void **state)
{
	struct tu_fixture *f = *state;
	struct appdb_stmt *st = NULL;
	struct lethe_err err = {0};
	struct sql q;

	sql_init(&q, f->db, 16);
	sql_add(&q, "DELETE FROM ");
	sql_ident(&q, "t");
	sql_add(&q, " WHERE ");
	sql_ident(&q, "id");
	sql_add(&q, " IN (1, 2, 3, 4, 5, 6, 7, 8)");
	assert_int_equal(sql_rc(&q), LETHE_E_TOOBIG);
	assert_int_equal(sql_len(&q), strlen("DELETE FROM \"t\"")); /* runnable as it stands */
	assert_int_not_equal(appdb_prepare(f->db, sql_str(&q), &st, &err), LETHE_OK);
	assert_null(st);
	sql_free(&q);
}

static void
test_sql_sqlite_dialect_text(void **state)
{
	struct tu_fixture *f = *state;
	struct sql q;

	sql_init(&q, f->db, 4096);
	assert_string_equal(appdb_dialect(f->db)->name, "sqlite");
	sql_true(&q);
	sql_add(&q, " ");
	sql_false(&q);
	sql_add(&q, " ");
	sql_is_integer(&q, "v");
	assert_string_equal(sql_str(&q), "1 0 typeof(\"v\") = 'integer'");
	sql_reset(&q);
	sql_is_datetime_text(&q, "v");
	assert_string_equal(sql_str(&q),
	                    "typeof(\"v\") = 'text' AND \"v\" LIKE '____-__-__ __:__:__%'");
	sql_reset(&q);
	sql_is_hex_text(&q, "v", "p:", 4);
	assert_string_equal(sql_str(&q), "typeof(\"v\") = 'text' AND length(\"v\") = 4 AND \"v\" "
	                                 "GLOB 'p:[0-9a-f][0-9a-f]'");
	sql_reset(&q);
	sql_text_range(&q, "v");
	assert_string_equal(sql_str(&q), "\"v\" >= ''");
	sql_reset(&q);
	sql_no_index(&q, "\"v\" < ?");
	assert_string_equal(sql_str(&q), "+(\"v\" < ?)");
	sql_reset(&q);
	/* A prefix that is not literal in a GLOB pattern is a bug, not SQL. */
	sql_is_hex_text(&q, "v", "a*", 4);
	assert_int_equal(sql_rc(&q), LETHE_E_INTERNAL);
	sql_free(&q);
}

static void
test_sql_sqlite_dialect_selects(void **state)
{
	struct tu_fixture *f = *state;
	struct sql q;

	sql_init(&q, f->db, 4096);
	sql_is_integer(&q, "v");
	assert_int_equal(count_where(f->db, &q), 1); /* 42, not '42' or 4.5 */
	sql_reset(&q);
	sql_is_datetime_text(&q, "v");
	assert_int_equal(count_where(f->db, &q), 1); /* not 2026-1-5, not the T form */
	sql_reset(&q);
	sql_is_hex_text(&q, "v", HASH_PREFIX, HASH_TEXT_LEN);
	assert_int_equal(count_where(f->db, &q), 1); /* lower-case hex, full length, prefix */
	sql_reset(&q);
	sql_text_range(&q, "v");
	assert_int_equal(count_where(f->db, &q), 9); /* every text value, no number */
	sql_reset(&q);
	sql_no_index(&q, "id < 3");
	assert_int_equal(count_where(f->db, &q), 2);
	sql_reset(&q);
	sql_true(&q);
	assert_int_equal(count_where(f->db, &q), 12);
	sql_reset(&q);
	sql_false(&q);
	assert_int_equal(count_where(f->db, &q), 0);
	sql_reset(&q);
	/* Quoting keeps a column with a quote in its name one identifier. */
	sql_ident(&q, "we\"ird");
	sql_add(&q, " IS NULL");
	assert_int_equal(count_where(f->db, &q), 12);
	sql_free(&q);
}

/* A PostgreSQL connection for building SQL text only: no server is needed. */
static struct appdb pg_db = {.ops = &appdb_pg_ops};

static void
test_sql_pg_dialect_text(void **state)
{
	struct sql q;
	char *n;
	int np = -1;

	(void)state;
	sql_init(&q, &pg_db, 4096);
	assert_string_equal(appdb_dialect(&pg_db)->name, "postgresql");
	sql_true(&q);
	sql_add(&q, " ");
	sql_false(&q);
	sql_add(&q, " ");
	sql_value(&q, (struct appdb_val){.type = APPDB_INT, .i = 1});
	sql_add(&q, " ");
	sql_slot(&q, 2);
	assert_string_equal(sql_str(&q), "TRUE FALSE $1 $2");
	sql_reset(&q);
	/* schema.table as two identifiers, mixed case kept, inner quotes doubled. */
	sql_ident(&q, "app.People");
	sql_add(&q, " ");
	sql_ident(&q, "We\"ird");
	assert_string_equal(sql_str(&q), "\"app\".\"People\" \"We\"\"ird\"");
	sql_reset(&q);
	sql_is_integer(&q, "v");
	assert_string_equal(sql_str(&q), "pg_typeof(\"v\") IN ('smallint'::regtype, "
	                                 "'integer'::regtype, 'bigint'::regtype)");
	sql_reset(&q);
	sql_is_datetime_text(&q, "v");
	assert_string_equal(sql_str(&q),
	                    "(pg_typeof(\"v\") IN ('timestamp with time zone'::regtype, "
	                    "'timestamp without time zone'::regtype, 'date'::regtype) OR "
	                    "\"v\"::text ~ '^.{4}-.{2}-.{2} .{2}:.{2}:.{2}')");
	sql_reset(&q);
	sql_is_hex_text(&q, "v", "p:", 4);
	assert_string_equal(sql_str(&q), "\"v\"::text ~ '^p:[0-9a-f]{2}$'");
	sql_reset(&q);
	/* A column is never schema-qualified: "a.b" is one identifier. */
	sql_is_integer(&q, "a.b");
	assert_string_equal(sql_str(&q), "pg_typeof(\"a.b\") IN ('smallint'::regtype, "
	                                 "'integer'::regtype, 'bigint'::regtype)");
	sql_reset(&q);
	sql_is_datetime_text(&q, "a.b");
	assert_non_null(strstr(sql_str(&q), "(pg_typeof(\"a.b\") IN"));
	assert_non_null(strstr(sql_str(&q), " OR \"a.b\"::text ~"));
	sql_reset(&q);
	sql_is_hex_text(&q, "a.b", "p:", 4);
	assert_string_equal(sql_str(&q), "\"a.b\"::text ~ '^p:[0-9a-f]{2}$'");
	sql_reset(&q);
	sql_text_range(&q, "v");
	assert_string_equal(sql_str(&q), "FALSE");
	sql_reset(&q);
	sql_no_index(&q, "\"v\" < $1");
	assert_string_equal(sql_str(&q), "((\"v\" < $1) IS TRUE)");
	sql_reset(&q);
	sql_ident(&q, "v");
	sql_is(&q, true);
	sql_add(&q, "NULL AND ");
	sql_ident(&q, "v");
	sql_is(&q, false);
	sql_add(&q, "NULL");
	assert_string_equal(sql_str(&q),
	                    "\"v\" IS DISTINCT FROM NULL AND \"v\" IS NOT DISTINCT FROM NULL");
	sql_reset(&q);
	/* A prefix that is not literal in a regular expression is a bug, not SQL. */
	sql_is_hex_text(&q, "v", "a.", 4);
	assert_int_equal(sql_rc(&q), LETHE_E_INTERNAL);
	sql_free(&q);
	/* The engine binds by position: the driver numbers placeholders in order. */
	n = appdb_pg_numbered("SELECT $1 + \"$2\" FROM t WHERE a < $1 AND b = '$3?' AND c IN "
	                      "(?, $9) LIMIT $2",
	                      &np);
	assert_string_equal(n, "SELECT $1 + \"$2\" FROM t WHERE a < $2 AND b = '$3?' AND c IN "
	                       "($3, $4) LIMIT $5");
	assert_int_equal(np, 5);
	free(n);
}

/* An identity goes in once on PostgreSQL, typed by its column; twice on SQLite. */
static void
test_sql_identities_bound_by_dialect(void **state)
{
	struct tu_fixture *f = *state;
	struct dm_link l = {.kind = DM_LINK_IDENTITY, .identity = "uid", .column = "id"};
	struct dm_table t = {.name = "t", .key = "id", .links = &l, .nlinks = 1};
	struct plan_id ids[2] = {{.kind = "uid", .value = "42"}, {.kind = "uid", .value = "x"}};
	struct sql q;

	sql_init(&q, f->db, 4096);
	plan_where_person(&q, &t, ids, 2);
	assert_string_equal(sql_str(&q), "((\"id\" IN (?, ?, ?)))");
	assert_int_equal(sql_nvals(&q), 3);
	sql_free(&q);

	l.int_column = true; /* PostgreSQL: 42 once as an integer, x left out */
	sql_init(&q, &pg_db, 4096);
	plan_where_person(&q, &t, ids, 2);
	assert_string_equal(sql_str(&q), "((\"id\" IN ($1)))");
	assert_int_equal(sql_nvals(&q), 1);
	assert_int_equal(sql_vals(&q)[0].type, APPDB_INT);
	assert_int_equal(sql_vals(&q)[0].i, 42);
	sql_free(&q);
	sql_init(&q, &pg_db, 4096);
	plan_where_person(&q, &t, ids + 1, 1);
	assert_string_equal(sql_str(&q), "((\"id\" IN (NULL)))");
	assert_int_equal(sql_nvals(&q), 0);
	sql_free(&q);

	l.int_column = false; /* a text column: both once, as text */
	sql_init(&q, &pg_db, 4096);
	plan_where_person(&q, &t, ids, 2);
	assert_string_equal(sql_str(&q), "((\"id\" IN ($1, $2)))");
	assert_int_equal(sql_vals(&q)[0].type, APPDB_TEXT);
	assert_string_equal(sql_vals(&q)[0].s, "42");
	sql_free(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sql_quotes_identifiers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sql_params_in_placeholder_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sql_fragment_values_come_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sql_conds_from_the_map, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sql_errors_are_sticky, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sql_cut_statement_never_runs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sql_sqlite_dialect_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sql_sqlite_dialect_selects, setup, teardown),
	    cmocka_unit_test(test_sql_pg_dialect_text),
	    cmocka_unit_test_setup_teardown(test_sql_identities_bound_by_dialect, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
