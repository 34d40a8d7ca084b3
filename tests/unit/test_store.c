/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - unit tests of src/store's statement helpers (stmt.c): the
 * one-row lookup store__one() and its row readers, through the store's
 * internal header, and the result codes of the lookups built on it; and how
 * long a connection waits for a write lock another one holds (store.c).  The
 * tables' own behaviour is tested with their callers (test_outbox.c,
 * test_intake.c, test_status_page.c...).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "store/store_internal.h"
#include "testutil.h"
#include "util/timeutil.h"

static int
setup(void **state)
{
	return tu_store_setup(state, "store");
}

static int
teardown(void **state)
{
	return tu_store_teardown(state);
}

/* A row: every column through store__row_ints, the binds in order. */
static void
test_store_one_reads_a_row(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	int64_t v[3] = {0, 0, 0};

	assert_int_equal(store__one(f->st, &err, "reading", store__row_ints, v, "SELECT ?1, ?2, 7",
	                            "ii", (int64_t)5, (int64_t)-6),
	                 LETHE_OK);
	assert_int_equal(v[0], 5);
	assert_int_equal(v[1], -6);
	assert_int_equal(v[2], 7);
}

/* No row: LETHE_E_NOTFOUND, the output and the error detail untouched. */
static void
test_store_one_no_row_is_notfound(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	int64_t v = 42;

	assert_int_equal(store__one(f->st, &err, "reading", store__row_ints, &v,
	                            "SELECT 1 WHERE ?1 = 0", "i", (int64_t)1),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(v, 42);
	assert_int_equal(err.rc, LETHE_OK);
	assert_string_equal(err.msg, "");
}

/* The statement both tests below step: abs() of the smallest integer overflows. */
static lethe_rc
overflow(struct store *st, struct lethe_err *err, const char *what, int64_t *v)
{
	return store__one(st, err, what, store__row_ints, v, "SELECT abs(?1)", "i", INT64_MIN);
}

/* A failed step is LETHE_E_STATE naming @what (or "reading"), never "absent". */
static void
test_store_one_failed_step(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	int64_t v = 42;

	assert_int_equal(overflow(f->st, &err, "reading a thing", &v), LETHE_E_STATE);
	assert_int_equal(err.rc, LETHE_E_STATE);
	assert_non_null(strstr(err.msg, "state store: reading a thing: "));
	assert_non_null(strstr(err.msg, "overflow"));
	assert_int_equal(v, 42);
	memset(&err, 0, sizeof(err));
	assert_int_equal(overflow(f->st, &err, NULL, &v), LETHE_E_STATE);
	assert_non_null(strstr(err.msg, "state store: reading: "));
	/* The cached statement was reset: it runs again with other binds. */
	assert_int_equal(store__one(f->st, &err, "reading", store__row_ints, &v, "SELECT abs(?1)",
	                            "i", (int64_t)-3),
	                 LETHE_OK);
	assert_int_equal(v, 3);
}

static void
test_store_one_bad_sql_is_state(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	int64_t v = 0;

	assert_int_equal(
	    store__one(f->st, &err, NULL, store__row_ints, &v, "SELECT x FROM no_such_table", ""),
	    LETHE_E_STATE);
	assert_non_null(strstr(err.msg, "prepare"));
}

/* Texts: store__row_dup copies column 0, NULL stays NULL; binds of texts and blobs. */
static void
test_store_row_dup(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	const uint8_t blob[3] = {1, 2, 3};
	int64_t n = 0;
	char *s = NULL;

	assert_int_equal(
	    store__one(f->st, &err, "reading", store__row_dup, &s, "SELECT ?1 || 'b'", "t", "a"),
	    LETHE_OK);
	assert_string_equal(s, "ab");
	free(s);
	s = (char *)"unchanged";
	assert_int_equal(store__one(f->st, &err, "reading", store__row_dup, &s, "SELECT ?1", "t",
	                            (const char *)NULL),
	                 LETHE_OK);
	assert_null(s);
	assert_int_equal(store__one(f->st, &err, "reading", store__row_ints, &n,
	                            "SELECT length(?1)", "b", (const void *)blob, sizeof(blob)),
	                 LETHE_OK);
	assert_int_equal(n, 3);
}

/* The lookups built on store__one keep their result codes. */
static void
test_store_lookups_result_codes(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct store_job j;
	struct store_request m;
	struct store_outbox o;
	struct store_disc d;
	struct store_step s;
	int64_t job = -1, created = -1, n = -1;
	char fp[80];
	bool found = true;

	assert_int_equal(store_job_get(f->st, 999, &j, &err), LETHE_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "no job 999"));
	assert_int_equal(store_job_find_active(f->st, "erase", "s", "x", &job, &created, &err),
	                 LETHE_OK);
	assert_int_equal(job, 0);
	assert_int_equal(created, 0);
	assert_int_equal(store_job_create(f->st, "erase", "s", "x", 100, &job, &err), LETHE_OK);
	assert_int_equal(store_job_find_active(f->st, "erase", "s", "x", &n, &created, &err),
	                 LETHE_OK);
	assert_int_equal(n, job);
	assert_int_equal(created, 100);
	assert_int_equal(store_job_get(f->st, job, &j, &err), LETHE_OK);
	assert_string_equal(j.scope, "s");
	assert_string_equal(j.state, "pending");
	store_job_clear(&j);
	assert_int_equal(store_step_get(f->st, job, "t", "delete", &s, &err), LETHE_OK);
	assert_int_equal(s.done, 0);
	assert_null(s.cursor);
	store_step_clear(&s);

	assert_int_equal(store_request_by_code(f->st, "nope", &m, &err), LETHE_E_NOTFOUND);
	assert_int_equal(store_meta_first_since(f->st, 0, &n, &err), LETHE_OK);
	assert_int_equal(n, INT64_MAX);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_outbox_get(f->st, 5, &o, &err), LETHE_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "no outbox job 5"));
	assert_int_equal(store_disc_find(f->st, "nobody", &d, &err), LETHE_E_NOTFOUND);
	assert_int_equal(store_outbox_next_due(f->st, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);

	assert_int_equal(store_key_get(f->st, "anonymize", fp, sizeof(fp), &found, &err), LETHE_OK);
	assert_false(found);
	assert_int_equal(store_key_check(f->st, "anonymize", "fp-1", &err), LETHE_OK);
	assert_int_equal(store_key_check(f->st, "anonymize", "fp-1", &err), LETHE_OK);
	assert_int_equal(store_key_check(f->st, "anonymize", "fp-2", &err), LETHE_E_CONFIG);
	assert_int_equal(store_key_get(f->st, "anonymize", fp, sizeof(fp), &found, &err), LETHE_OK);
	assert_true(found);
	assert_string_equal(fp, "fp-1");
	assert_int_equal(store_ping(f->st, &err), LETHE_OK);
}

/*
 * Make every read of @table fail at its step (an integer overflow), as a
 * busy or broken store would: the table is renamed and a view of the old
 * name reads it through a failing condition.
 */
static void
break_reads(struct tu_store *f, const char *table)
{
	char path[128], sql[512];

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	snprintf(sql, sizeof(sql),
	         "ALTER TABLE %s RENAME TO %s_real; CREATE VIEW %s AS SELECT * FROM %s_real "
	         "WHERE abs(-9223372036854775807 - 1) > 0;",
	         table, table, table, table);
	tu_exec_sql(path, sql);
}

/* Assert that @rc is LETHE_E_STATE with the store's detail in @err, and clear @err. */
static void
assert_state(lethe_rc rc, struct lethe_err *err)
{
	assert_int_equal(rc, LETHE_E_STATE);
	assert_int_equal(err->rc, LETHE_E_STATE);
	assert_non_null(strstr(err->msg, "state store: "));
	assert_non_null(strstr(err->msg, "overflow"));
	memset(err, 0, sizeof(*err));
}

/*
 * A lookup whose read fails is LETHE_E_STATE, never "no such row": a caller
 * must not start a second job, record a second disconnect, accept an
 * unchecked key or answer "ready" because the store did not answer.
 */
static void
test_store_lookups_failed_read_is_state(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct store_job j;
	struct store_disc d;
	int64_t job = 0, created = 0, n = 0;
	char fp[80];
	bool found = false;

	assert_int_equal(store_job_create(f->st, "erase", "s", "x", 100, &job, &err), LETHE_OK);
	break_reads(f, "jobs");
	assert_state(store_job_find_active(f->st, "erase", "s", "x", &n, &created, &err), &err);
	assert_state(store_job_get(f->st, job, &j, &err), &err);
	assert_state(store_ping(f->st, &err), &err);
	break_reads(f, "channel_disconnects");
	assert_state(store_disc_find(f->st, "x", &d, &err), &err);
	assert_state(store_disc_next_staged(f->st, 0, &d, &err), &err);
	break_reads(f, "outbox");
	assert_state(store_outbox_next_due(f->st, &n, &err), &err);
	assert_state(store_disc_job_count(f->st, 1, &n, &err), &err);
	break_reads(f, "requests");
	assert_state(store_meta_first_since(f->st, 0, &n, &err), &err);
	break_reads(f, "holds");
	assert_state(store_hold_due_count(f->st, 0, &n, &err), &err);
	break_reads(f, "key_fingerprints");
	assert_state(store_key_get(f->st, "anonymize", fp, sizeof(fp), &found, &err), &err);
	assert_false(found);
}

/*
 * A multi-row read whose step fails is LETHE_E_STATE, never a shorter list:
 * an erasure that took a cut media list for the whole one would forget the
 * files it never saw, which would then stay on disk.
 */
static void
test_store_list_failed_read_is_state(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	int64_t job = 0;
	struct store_media_key *keys = NULL;
	size_t n = 0;

	assert_int_equal(store_job_create(f->st, "erase", "s", "x", 100, &job, &err), LETHE_OK);
	assert_int_equal(store_media_add(f->st, job, "media", "local", "a.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_add(f->st, job, "media", "local", "b.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_list(f->st, job, "media", &keys, &n, &err), LETHE_OK);
	assert_int_equal(n, 2);
	store_media_keys_free(keys, n);
	keys = NULL;
	n = 0;
	break_reads(f, "media_pending");
	assert_state(store_media_list(f->st, job, "media", &keys, &n, &err), &err);
	assert_null(keys);
	assert_int_equal(n, 0);
}

/*
 * Media keys of schema v17: (store, key) per job and table; done keys are
 * forgotten, or kept as removed for the residual scan; clear leaves the
 * removed ones; forget drops every record of the job.
 */
static void
test_store_media_keys(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct store_media_key *k = NULL;
	int64_t job = 0;
	size_t n = 0;

	assert_int_equal(store_job_create(f->st, "erase", "s", "x", 100, &job, &err), LETHE_OK);
	/* The same key in two stores is two records; a repeat is one. */
	assert_int_equal(store_media_add(f->st, job, "media", "uploads", "u17/a.jpg", &err),
	                 LETHE_OK);
	assert_int_equal(store_media_add(f->st, job, "media", "cdn", "u17/a.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_add(f->st, job, "media", "cdn", "u17/a.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_add(f->st, job, "media", "local", "b.png", &err), LETHE_OK);
	assert_int_equal(store_media_add(f->st, job, "posts", "local", "c.png", &err), LETHE_OK);
	assert_int_equal(store_media_list(f->st, job, "media", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 3);
	assert_string_equal(k[0].store, "cdn");
	assert_string_equal(k[0].key, "u17/a.jpg");
	assert_string_equal(k[1].store, "local");
	assert_string_equal(k[2].store, "uploads");
	store_media_keys_free(k, n);
	/* Done: kept as removed, or forgotten. */
	assert_int_equal(store_media_done(f->st, job, "media", "cdn", "u17/a.jpg", true, &err),
	                 LETHE_OK);
	assert_int_equal(store_media_done(f->st, job, "media", "local", "b.png", false, &err),
	                 LETHE_OK);
	assert_int_equal(store_media_list(f->st, job, "media", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(k[0].store, "uploads");
	store_media_keys_free(k, n);
	assert_int_equal(store_media_removed(f->st, job, &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(k[0].store, "cdn");
	assert_string_equal(k[0].key, "u17/a.jpg");
	store_media_keys_free(k, n);
	/* Clear: the pending ones of the table only. */
	assert_int_equal(store_media_clear(f->st, job, "media", &err), LETHE_OK);
	assert_int_equal(store_media_list(f->st, job, "media", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	free(k);
	assert_int_equal(store_media_removed(f->st, job, &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	store_media_keys_free(k, n);
	assert_int_equal(store_media_list(f->st, job, "posts", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	store_media_keys_free(k, n);
	/* Forget: everything of the job. */
	assert_int_equal(store_media_forget(f->st, job, &err), LETHE_OK);
	assert_int_equal(store_media_removed(f->st, job, &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	free(k);
	assert_int_equal(store_media_list(f->st, job, "posts", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	free(k);
}

/* A version-16 store's media records become the store "local"'s, not removed. */
static void
test_store_migrate_media_v16(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct store_media_key *k = NULL;
	char path[128];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	store_close(f->st);
	f->st = NULL;
	tu_exec_sql(path, "DROP TABLE media_pending;"
	                  "CREATE TABLE media_pending (job_id INTEGER NOT NULL, table_name TEXT "
	                  "NOT NULL, object_key TEXT NOT NULL, PRIMARY KEY (job_id, table_name, "
	                  "object_key));"
	                  "INSERT INTO media_pending VALUES (7, 'media', 'u3/a.jpg');"
	                  "INSERT INTO media_pending VALUES (0, 'media', 'u4/b.jpg');"
	                  "PRAGMA user_version = 16;");
	assert_int_equal(store_open(path, &f->st, &err), LETHE_OK);
	assert_int_equal(store_media_list(f->st, 7, "media", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(k[0].store, "local");
	assert_string_equal(k[0].key, "u3/a.jpg");
	store_media_keys_free(k, n);
	assert_int_equal(store_media_list(f->st, 0, "media", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	store_media_keys_free(k, n);
	assert_int_equal(store_media_removed(f->st, 7, &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	free(k);
	/* The new key: the same object key in another store is another record. */
	assert_int_equal(store_media_add(f->st, 7, "media", "cdn", "u3/a.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_list(f->st, 7, "media", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 2);
	store_media_keys_free(k, n);
}

/*
 * A write lock held by another connection: the store gives up after its busy
 * timeout of wall time, however long each of its 200 us sleeps really takes.
 * A timer slack of 2 ms makes every sleep last about 2 ms, as on a loaded
 * machine: counting 200 us tries (the handler before) waited ten times the
 * timeout, and an LMTP client timed out before lethe answered 451.
 */
static void
test_store_busy_timeout_is_wall_time(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	char path[128];
	sqlite3 *other = NULL;
	double t0, waited;

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(prctl(PR_SET_TIMERSLACK, 2000000UL, 0, 0, 0), 0);
	store_set_busy_timeout(f->st, 500);
	t0 = time_mono_ms();
	assert_int_equal(store_begin(f->st, &err), LETHE_E_STATE);
	waited = time_mono_ms() - t0;
	assert_int_equal(prctl(PR_SET_TIMERSLACK, 0UL, 0, 0, 0), 0); /* the default again */
	assert_non_null(strstr(err.msg, "locked"));
	assert_true(waited >= 500.0);
	assert_true(waited < 750.0);
	/* The lock released: the next transaction waits for nothing. */
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_begin(f->st, &err), LETHE_OK);
	store_rollback(f->st);
	sqlite3_close(other);
}

/* One job per subject: the look and the creation in one write transaction (M1). */
static void
test_store_job_find_or_create(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	int64_t job = 0, again = 0, created = 0;
	bool made = false;

	assert_int_equal(
	    store_job_find_or_create(f->st, "erase", "s", "y", 100, &job, &created, &made, &err),
	    LETHE_OK);
	assert_true(made);
	assert_true(job > 0);
	assert_int_equal(created, 100);
	assert_int_equal(
	    store_job_find_or_create(f->st, "erase", "s", "y", 200, &again, &created, &made, &err),
	    LETHE_OK);
	assert_false(made);
	assert_int_equal(again, job);
	assert_int_equal(created, 100);
	/* Inside a caller's transaction it nests (a savepoint): rolled back with it. */
	assert_int_equal(store_begin(f->st, &err), LETHE_OK);
	assert_int_equal(
	    store_job_find_or_create(f->st, "erase", "s", "z", 300, &job, &created, &made, &err),
	    LETHE_OK);
	assert_true(made);
	store_rollback(f->st);
	assert_int_equal(store_job_find_active(f->st, "erase", "s", "z", &job, &created, &err),
	                 LETHE_OK);
	assert_int_equal(job, 0);
}

static int returning_seen; /* statements with RETURNING that count_returning() saw */

/* SQLITE_TRACE_STMT callback: counts statements with RETURNING; forgets the audit head as
 * audit.c.
 */
static int
count_returning(unsigned type, void *ctx, void *p, void *x)
{
	struct tu_store *f = ctx;

	(void)type;
	(void)p;
	if (x == NULL)
		return 0;
	if (strstr(x, "RETURNING") != NULL)
		returning_seen++;
	if (sq_txn_sql(x))
		f->st->audit_head.valid = false;
	return 0;
}

/*
 * What every Meta callback and its run write on SQLite (the intake's
 * insert, the run's job and state) reads new ids by rowid: an INSERT ...
 * RETURNING costs SQLite an ephemeral table per execution (bench/callbacks
 * lost a third of its throughput to it).  The ids and the history are
 * those RETURNING gave.
 */
static void
test_store_hot_inserts_without_returning(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	uint8_t box[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	int64_t id = 0, again = 0, job = 0, n = -1;
	bool added = false;

	returning_seen = 0;
	sqlite3_trace_v2(sq_sqlite_handle(f->st->c), SQLITE_TRACE_STMT, count_returning, f);
	assert_int_equal(store_begin(f->st, &err), LETHE_OK);
	assert_int_equal(store_meta_insert_once(f->st, "code-1", "app", "subject-1", box,
	                                        sizeof(box), 100, 30, &id, &added, &err),
	                 LETHE_OK);
	assert_true(added);
	assert_true(id > 0);
	assert_int_equal(store_meta_insert_once(f->st, "code-1", "app", "subject-1", box,
	                                        sizeof(box), 101, 30, &again, &added, &err),
	                 LETHE_OK);
	assert_false(added);
	assert_int_equal(again, id);
	assert_int_equal(store_job_create(f->st, "erase", "s", "subject-1", 100, &job, &err),
	                 LETHE_OK);
	assert_true(job > 0);
	assert_int_equal(store_meta_update(f->st, id, "running", job, false, 0, 0, &err), LETHE_OK);
	assert_int_equal(store_commit(f->st, &err), LETHE_OK);
	store__audit_watch(f->st);
	assert_int_equal(returning_seen, 0);
	assert_int_equal(store__one(f->st, &err, NULL, store__row_ints, &n,
	                            "SELECT count(*) FROM request_events WHERE request_id = ?1 AND "
	                            "state = 'running'",
	                            "i", id),
	                 LETHE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store__one(f->st, &err, NULL, store__row_ints, &n,
	                            "SELECT count(*) FROM jobs WHERE id = ?1 AND subject = "
	                            "'subject-1'",
	                            "i", job),
	                 LETHE_OK);
	assert_int_equal(n, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_store_one_reads_a_row, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_job_find_or_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_one_no_row_is_notfound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_one_failed_step, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_one_bad_sql_is_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_row_dup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_lookups_result_codes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_lookups_failed_read_is_state, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_store_list_failed_read_is_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_media_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_migrate_media_v16, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_busy_timeout_is_wall_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_hot_inserts_without_returning, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
