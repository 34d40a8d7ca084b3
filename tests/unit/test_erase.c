/* SPDX-License-Identifier: MIT */
/*
 * test_erase.c - unit tests of the executor's batch statements
 * (src/engine/erase_delete.c, erase_batch.c) on each dialect, as text: no
 * database is needed.  On SQLite a secondary index ends in the rowid, so a
 * delete window keeps the person's predicate indexable; on PostgreSQL it
 * does not, and a batch must be driven by the key (a key range or a key
 * list) with the predicate as a filter the planner cannot index, or every
 * batch reads all the person's rows again (quadratic over the step).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "db/appdb.h"
#include "db/sql.h"
#include "engine/erase_internal.h"

/* Connections for building SQL text only: nothing is opened. */
static struct appdb pg_db = {.ops = &appdb_pg_ops};
static struct appdb sq_db = {.ops = &appdb_sqlite_ops};

/* messages of channels of the person: the demo's shape, one parameter. */
static const struct dm_table messages = {.name = "messages", .key = "id"};

static struct plan_step
step(struct appdb_val *id, const char *where)
{
	*id = (struct appdb_val){.type = APPDB_TEXT, .s = "heavy@example.com"};
	return (struct plan_step){
	    .table = &messages, .where = (char *)where, .params = id, .nparams = 1};
}

static void
test_erase_delete_window_pg_by_key(void **state)
{
	struct appdb_val id;
	struct plan_step ps = step(&id, "((\"channel_id\" IN (SELECT \"id\" FROM \"channels\" "
	                                "WHERE \"owner\" IN ($1))))");
	struct sql q;

	(void)state;
	sql_init(&q, &pg_db, 4096);
	erase_delete_sql(&ps, true, &q);
	assert_int_equal(sql_rc(&q), LETHE_OK);
	assert_string_equal(sql_str(&q),
	                    "DELETE FROM \"messages\" WHERE ((((\"channel_id\" IN (SELECT \"id\" "
	                    "FROM \"channels\" WHERE \"owner\" IN ($1))))) IS TRUE) AND \"id\" >= "
	                    "$2 AND \"id\" <= $3");
	sql_free(&q);
	/* Not by key: the predicate as it is (the link index drives). */
	sql_init(&q, &pg_db, 4096);
	erase_delete_sql(&ps, false, &q);
	assert_string_equal(
	    sql_str(&q), "DELETE FROM \"messages\" WHERE ((\"channel_id\" IN (SELECT \"id\" FROM "
	                 "\"channels\" WHERE \"owner\" IN ($1)))) AND \"id\" >= $2 AND \"id\" "
	                 "<= $3");
	sql_free(&q);
}

static void
test_erase_window_by_key_only_where_indexes_lack_the_key(void **state)
{
	const struct appdb_dialect *pg = appdb_dialect(&pg_db);
	const struct appdb_dialect *sq = appdb_dialect(&sq_db);

	(void)state;
	assert_true(pg->index_ends_in_key == false);
	assert_true(sq->index_ends_in_key);
	/* A heavy person, dense in the key order: the key range, on PostgreSQL only. */
	assert_true(erase_window_by_key(pg, 1000000, 900000, 256));
	assert_false(erase_window_by_key(sq, 1000000, 900000, 256));
	/* 20,000 rows over a million keys: a window reads 12,800 rows by key, not 20,000. */
	assert_true(erase_window_by_key(pg, 1000000, 20000, 256));
	/* 1,000 rows over a million keys: a window of 256 of them spans 256,000 rows. */
	assert_false(erase_window_by_key(pg, 1000000, 1000, 256));
	assert_false(erase_window_by_key(pg, 1000000, 0, 256));
}

static void
test_erase_by_keys_pg_filters_on_the_predicate(void **state)
{
	struct appdb_val id;
	struct plan_step ps = step(&id, "(\"channel_id\" IN ($1))");
	struct sql q;

	(void)state;
	sql_init(&q, &pg_db, 4096);
	erase_by_keys_sql(&ps, "SELECT \"id\" FROM \"messages\"", 3, " FOR UPDATE", &q);
	assert_int_equal(sql_rc(&q), LETHE_OK);
	assert_string_equal(sql_str(&q),
	                    "SELECT \"id\" FROM \"messages\" WHERE (((\"channel_id\" "
	                    "IN ($1))) IS TRUE) AND \"id\" IN ($2, $3, $4) FOR UPDATE");
	assert_int_equal(q.nparams, 4);
	sql_free(&q);
	/* SQLite: unchanged, its index on channel_id ends in the rowid. */
	sql_init(&q, &sq_db, 4096);
	erase_by_keys_sql(&ps, "SELECT \"id\" FROM \"messages\"", 3, "", &q);
	assert_string_equal(sql_str(&q), "SELECT \"id\" FROM \"messages\" WHERE (\"channel_id\" IN "
	                                 "($1)) AND \"id\" IN (?, ?, ?)");
	sql_free(&q);
}

/*
 * Every channel an erasure matched is checked: past the 4,096 an earlier
 * cap kept, each key once whatever the order and repeats (rounds).
 */
static void
test_erase_note_channel_keeps_every_key_once(void **state)
{
	struct exec x;
	int64_t k;
	size_t i;

	(void)state;
	memset(&x, 0, sizeof(x));
	for (k = 1; k <= 5000; k++)
		erase_note_channel(&x, k * 2); /* a step's page order */
	for (k = 5000; k >= 1; k--)
		erase_note_channel(&x, k * 2); /* the next round: the same keys again */
	erase_note_channel(&x, 4097);          /* out of order, past the old cap */
	erase_note_channel(&x, 1);
	erase_note_channel(&x, 4097);
	assert_int_equal(x.nchans, 5002);
	assert_int_equal(x.chans[0], 1);
	assert_int_equal(x.chans[x.nchans - 1], 10000);
	for (i = 1; i < x.nchans; i++)
		assert_true(x.chans[i - 1] < x.chans[i]);
	assert_int_equal(x.chans[2048], 4096);
	assert_int_equal(x.chans[2049], 4097);
	free(x.chans);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_erase_delete_window_pg_by_key),
	    cmocka_unit_test(test_erase_window_by_key_only_where_indexes_lack_the_key),
	    cmocka_unit_test(test_erase_by_keys_pg_filters_on_the_predicate),
	    cmocka_unit_test(test_erase_note_channel_keeps_every_key_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
