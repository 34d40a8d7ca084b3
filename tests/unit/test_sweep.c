/* SPDX-License-Identifier: MIT */
/*
 * test_sweep.c - unit tests of the TTL sweeper (engine/sweep.c), the ttl
 * part of the data map, and the test-only clock of time_now().
 */
#include "util/fmacros.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "db/sql.h"
#include "engine/sweep.h"
#include "engine/sweep_internal.h"
#include "media/media.h"
#include "store/store.h"
#include "testutil.h"
#include "util/hash.h"
#include "util/timeutil.h"

#define NOW INT64_C(1792627200) /* 2026-10-22 00:00:00 */
#define CLOCK_FILE "/tmp/lethe-test-sweep-clock"

static const char schema[] =
    "CREATE TABLE big (id INTEGER PRIMARY KEY, at TEXT, ip TEXT);"
    "CREATE INDEX big_at ON big (at);"
    "CREATE TABLE small (id INTEGER PRIMARY KEY, at INTEGER, kind TEXT);"
    "CREATE INDEX small_at ON small (at);"
    /* big: 1000 rows expired at NOW (days before 2026-09-22), 10 not */
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1010) "
    "INSERT INTO big SELECT i, CASE WHEN i <= 1000 THEN datetime(1789000000 + i, 'unixepoch') "
    "ELSE datetime(1792627200 - 3600 + i, 'unixepoch') END, '10.0.0.' || (i % 200) FROM c;"
    /* small (unix seconds, 1h ttl, only kind = 'tmp'): ids 1-3 expire, 4 is at the cutoff */
    "INSERT INTO small VALUES (1, 1792620000, 'tmp'), (2, 1792623599 - 5, 'tmp'),"
    "  (3, 1792623599, 'tmp'), (4, 1792623600, 'tmp'), (5, 1792000000, 'keep');";

static const char map_delete[] = "version: 1\n"
                                 "identities: {id: x}\n"
                                 "tables:\n"
                                 "  big:\n"
                                 "    category: logs\n"
                                 "    links: [{identity: id, column: id}]\n"
                                 "    erase: delete\n"
                                 "    ttl: {column: at, after: 30d}\n"
                                 "  small:\n"
                                 "    category: logs\n"
                                 "    links: [{identity: id, column: id}]\n"
                                 "    erase: delete\n"
                                 "    ttl: {column: at, after: 1h, when: {kind: tmp}}\n"
                                 "scopes:\n"
                                 "  s: {description: d, identities: [id], tables: all}\n";

static const char map_anon[] = "version: 1\n"
                               "identities: {id: x}\n"
                               "tables:\n"
                               "  big:\n"
                               "    category: logs\n"
                               "    links: [{identity: id, column: id}]\n"
                               "    erase: delete\n"
                               "    ttl: {column: at, after: 30d, action: anonymize, "
                               "columns: {ip: hash}}\n"
                               "  small:\n"
                               "    category: logs\n"
                               "    links: [{identity: id, column: id}]\n"
                               "    erase: delete\n"
                               "scopes:\n"
                               "  s: {description: d, identities: [id], tables: all}\n";

/* pics: two media columns; no row is expired, the files come from a crashed pass. */
static const char schema_media[] =
    "CREATE TABLE pics (id INTEGER PRIMARY KEY, at TEXT, thumb TEXT, full TEXT);"
    "CREATE INDEX pics_at ON pics (at);"
    "INSERT INTO pics VALUES (1, '2026-10-21 00:00:00', 'k-thumb', NULL),"
    "  (2, '2026-10-21 00:00:00', NULL, 'k-full');";

static const char map_media[] = "version: 1\n"
                                "identities: {id: x}\n"
                                "tables:\n"
                                "  pics:\n"
                                "    category: media\n"
                                "    links: [{identity: id, column: id}]\n"
                                "    media: [thumb, full]\n"
                                "    erase: delete\n"
                                "    ttl: {column: at, after: 30d}\n"
                                "scopes:\n"
                                "  s: {description: d, identities: [id], tables: all}\n";

static const uint8_t key[HASH_KEY_LEN] = {1, 2, 3};

static int
setup_delete(void **state)
{
	static const char *const scripts[] = {schema, NULL};

	return tu_fixture_setup(state, "sweep", scripts, map_delete);
}

static int
setup_anon(void **state)
{
	static const char *const scripts[] = {schema, NULL};

	return tu_fixture_setup(state, "sweepa", scripts, map_anon);
}

static int
setup_media(void **state)
{
	static const char *const scripts[] = {schema_media, NULL};

	return tu_fixture_setup(state, "sweepm", scripts, map_media);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

static struct sweep *
new_sweep_opts(struct tu_fixture *f, struct store **st, int64_t max_rows, bool dry)
{
	struct sweep_opts o;
	struct lethe_err err = {0};
	char path[256];

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(store_open(path, st, &err), LETHE_OK);
	memset(&o, 0, sizeof(o));
	o.max_rows_per_pass = max_rows;
	o.max_ms_per_pass = 60000;
	o.batch_rows = 50;
	o.max_txn_ms = 30;
	o.key = key;
	o.dry_run = dry;
	return sweep_new(f->dm, f->db, *st, &o);
}

static struct sweep *
new_sweep(struct tu_fixture *f, struct store **st, int64_t max_rows)
{
	return new_sweep_opts(f, st, max_rows, false);
}

static int64_t
count(struct tu_fixture *f, const char *sql)
{
	struct lethe_err err = {0};
	int64_t n = -1;

	assert_int_equal(appdb_query_int(f->db, sql, NULL, 0, &n, &err), LETHE_OK);
	return n;
}

/* The time column's format comes from its declared type. */
static void
test_sweep_formats_detected(void **state)
{
	struct tu_fixture *f = *state;

	assert_int_equal(datamap_table(f->dm, "big")->ttl.format, DM_TIME_DATETIME);
	assert_int_equal(datamap_table(f->dm, "small")->ttl.format, DM_TIME_UNIX);
}

/* A huge backlog gets its share per pass; the small table is done in the first pass. */
static void
test_sweep_round_robin_caps(void **state)
{
	struct tu_fixture *f = *state;
	struct store *st = NULL;
	struct sweep *s = new_sweep(f, &st, 100);
	struct sweep_table_stats ts;
	struct lethe_err err = {0};
	bool more = false;
	int passes = 1;

	assert_int_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
	assert_true(more);
	assert_int_equal(count(f, "SELECT count(*) FROM big"), 1010 - 100);
	/* small: rows strictly older than the cutoff and of kind tmp; 4 (at it) and 5 stay */
	assert_int_equal(count(f, "SELECT count(*) FROM small"), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM small WHERE id IN (4, 5)"), 2);
	while (more && passes < 50) {
		assert_int_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
		passes++;
	}
	assert_false(more);
	assert_int_equal(passes, 11); /* the 10th pass ends at its cap; the 11th finds none */
	assert_int_equal(count(f, "SELECT count(*) FROM big"), 10);
	sweep_table_get(s, 0, &ts);
	assert_int_equal(ts.rows, 1000);
	sweep_table_get(s, 1, &ts);
	assert_int_equal(ts.rows, 3);
	sweep_destroy(s);
	store_close(st);
}

/* Backlog and lag before a sweep, then none after it. */
static void
test_sweep_measure(void **state)
{
	struct tu_fixture *f = *state;
	struct store *st = NULL;
	struct sweep *s = new_sweep(f, &st, 100000);
	struct sweep_table_stats ts;
	struct lethe_err err = {0};
	bool more = true;

	assert_int_equal(sweep_measure(s, NOW, &err), LETHE_OK);
	sweep_table_get(s, 0, &ts);
	assert_int_equal(ts.backlog, 1000);
	assert_int_equal(ts.lag_s, NOW - 30 * 86400 - (1789000000 + 1));
	sweep_table_get(s, 1, &ts);
	assert_int_equal(ts.backlog, 3);
	assert_int_equal(ts.lag_s, NOW - 3600 - 1792620000);
	assert_int_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
	assert_false(more);
	assert_int_equal(sweep_measure(s, NOW, &err), LETHE_OK);
	sweep_table_get(s, 0, &ts);
	assert_int_equal(ts.backlog, 0);
	assert_int_equal(ts.lag_s, 0);
	sweep_destroy(s);
	store_close(st);
}

/* The lease hook: renewed @left more times, then lost; counts its calls. */
struct lease_hook {
	int left;  /* renewals that succeed */
	int calls; /* calls so far */
};

static bool
renew_hook(void *arg)
{
	struct lease_hook *h = arg;

	h->calls++;
	return h->left-- > 0;
}

/* The sweep's lease is renewed before each table's turn; lost, the pass ends there (M2). */
static void
test_sweep_renews_lease_per_table(void **state)
{
	struct tu_fixture *f = *state;
	struct store *st = NULL;
	struct sweep_opts o;
	struct sweep *s;
	struct lease_hook h = {.left = 1, .calls = 0};
	struct lethe_err err = {0};
	char path[256];
	bool more = true;

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(store_open(path, &st, &err), LETHE_OK);
	memset(&o, 0, sizeof(o));
	o.max_rows_per_pass = 100;
	o.max_ms_per_pass = 60000;
	o.batch_rows = 50;
	o.max_txn_ms = 30;
	o.key = key;
	o.renew = renew_hook;
	o.renew_arg = &h;
	s = sweep_new(f->dm, f->db, st, &o);
	/* Renewed before the first table (big: 100 rows), lost before the second. */
	assert_int_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
	assert_false(more);
	assert_int_equal(h.calls, 2);
	assert_int_equal(count(f, "SELECT count(*) FROM big"), 1010 - 100);
	assert_int_equal(count(f, "SELECT count(*) FROM small"), 5);
	sweep_destroy(s);
	store_close(st);
}

/* A dry run counts and changes nothing. */
static void
test_sweep_dry_run(void **state)
{
	struct tu_fixture *f = *state;
	struct store *st = NULL;
	struct sweep *s = new_sweep_opts(f, &st, 10, true);
	struct sweep_table_stats ts;
	struct lethe_err err = {0};
	bool more = true;

	assert_int_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
	assert_false(more);
	sweep_table_get(s, 0, &ts);
	assert_int_equal(ts.rows, 1000);
	assert_int_equal(count(f, "SELECT count(*) FROM big"), 1010);
	assert_int_equal(count(f, "SELECT count(*) FROM small"), 5);
	sweep_destroy(s);
	store_close(st);
}

/* Anonymize: expired rows get keyed hashes once; a second sweep changes nothing. */
static void
test_sweep_anonymize(void **state)
{
	struct tu_fixture *f = *state;
	struct store *st = NULL;
	struct sweep *s = new_sweep(f, &st, 100000);
	struct sweep_table_stats ts;
	struct lethe_err err = {0};
	bool more = true;

	assert_int_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
	sweep_table_get(s, 0, &ts);
	assert_int_equal(ts.rows, 1000);
	assert_int_equal(count(f, "SELECT count(*) FROM big WHERE ip LIKE 'anon:%'"), 1000);
	assert_int_equal(count(f, "SELECT count(*) FROM big WHERE id > 1000 AND ip LIKE '10.%'"),
	                 10);
	sweep_destroy(s);
	store_close(st);
	s = new_sweep(f, &st, 100000);
	assert_int_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
	sweep_table_get(s, 0, &ts);
	assert_int_equal(ts.rows, 0);
	sweep_destroy(s);
	store_close(st);
}

/*
 * Anonymize: a batch whose UPDATE fails leaves the cursor where it was, so
 * the next pass (not the hourly rescan) rewrites those rows.
 */
static void
test_sweep_anonymize_failed_batch_keeps_cursor(void **state)
{
	struct tu_fixture *f = *state;
	struct store *st = NULL;
	struct sweep *s = new_sweep(f, &st, 100000);
	struct sweep_table_stats ts;
	struct lethe_err err = {0};
	bool more = true;

	tu_exec_sql(f->path, "CREATE TRIGGER big_frozen BEFORE UPDATE ON big "
	                     "BEGIN SELECT RAISE(ABORT, 'frozen'); END;");
	assert_int_not_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
	assert_int_equal(count(f, "SELECT count(*) FROM big WHERE ip LIKE 'anon:%'"), 0);
	tu_exec_sql(f->path, "DROP TRIGGER big_frozen;");
	assert_int_equal(sweep_pass(s, NOW, &more, &err), LETHE_OK);
	sweep_table_get(s, 0, &ts);
	assert_int_equal(ts.rows, 1000);
	assert_int_equal(count(f, "SELECT count(*) FROM big WHERE ip LIKE 'anon:%'"), 1000);
	/* In target form: no backlog, no lag. */
	assert_int_equal(sweep_measure(s, NOW, &err), LETHE_OK);
	sweep_table_get(s, 0, &ts);
	assert_int_equal(ts.backlog, 0);
	assert_int_equal(ts.lag_s, 0);
	sweep_destroy(s);
	store_close(st);
}

/* Make the empty file @name under @f's media directory. */
static void
media_touch(struct tu_fixture *f, const char *name)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/media/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
}

/* Does the file @name exist under @f's media directory? */
static bool
media_exists(struct tu_fixture *f, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/media/%s", f->dir, name);
	return access(path, F_OK) == 0;
}

/*
 * Settling files a crashed pass recorded: a file a row still names, through
 * any of the table's media columns (here the second), is kept and its record
 * forgotten; a file no row names is removed.
 */
static void
test_sweep_settle_media_second_column(void **state)
{
	static const char *const keys[] = {"k-thumb", "k-full", "k-gone"};
	struct tu_fixture *f = *state;
	struct store *st = NULL;
	struct sweep_opts o;
	struct sweep *s;
	struct lethe_err err = {0};
	char path[256], root[256];
	struct store_media_key *left = NULL;
	struct media_set *set = NULL;
	struct ydoc y;
	size_t n = 0, i;

	snprintf(root, sizeof(root), "%s/media", f->dir);
	assert_int_equal(mkdir(root, 0700), 0);
	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(store_open(path, &st, &err), LETHE_OK);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		media_touch(f, keys[i]);
		assert_int_equal(store_media_add(st, 0, "pics", "local", keys[i], &err), LETHE_OK);
	}
	memset(&o, 0, sizeof(o));
	o.max_rows_per_pass = 1000;
	o.max_ms_per_pass = 60000;
	o.batch_rows = 50;
	o.max_txn_ms = 30;
	o.key = key;
	/* The store "local" of app.media_root = @root. */
	assert_int_equal(ydoc_load(&y, "lethe.yaml", "app: {}\n", LETHE_E_CONFIG, &err), LETHE_OK);
	assert_int_equal(media_set_parse(f->dir, root, &y, ydoc_root(&y), &set, &err), LETHE_OK);
	ydoc_free(&y);
	o.media = set;
	s = sweep_new(f->dm, f->db, st, &o);
	assert_int_equal(sweep_recover(s, &err), LETHE_OK);
	assert_true(media_exists(f, "k-thumb"));
	assert_true(media_exists(f, "k-full"));
	assert_false(media_exists(f, "k-gone"));
	assert_int_equal(store_media_list(st, 0, "pics", &left, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	free(left);
	sweep_destroy(s);
	store_close(st);
	media_set_free(set);
}

/* Parse errors of a ttl, with the line. */
static void
test_sweep_ttl_parse_errors(void **state)
{
	static const struct {
		const char *ttl;  /* the ttl mapping */
		const char *word; /* in the message */
	} cases[] = {
	    {"{column: at, after: 1d, format: iso}", "ttl format"},
	    {"{column: at, after: 1d, columns: {ip: null}}", "anonymize"},
	    {"{column: at, after: 1d, action: anonymize}", "columns"},
	    {"{column: at, after: 1d, action: shred}", "delete or anonymize"},
	    {"{column: at}", "after"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lethe_err err = {0};
		char text[1024];
		struct datamap *dm;

		snprintf(
		    text, sizeof(text),
		    "version: 1\nidentities: {id: x}\ntables:\n  big:\n    category: logs\n"
		    "    links: [{identity: id, column: id}]\n    erase: delete\n"
		    "    ttl: %s\nscopes:\n  s: {description: d, identities: [id], tables: all}\n",
		    cases[i].ttl);
		dm = datamap_load("m.yaml", text, &err);
		assert_null(dm);
		assert_int_equal(err.rc, LETHE_E_DATAMAP);
		assert_non_null(strstr(err.msg, cases[i].word));
		assert_non_null(strstr(err.msg, "m.yaml:8"));
	}
}

/* The test clock: epoch seconds in a file, re-read at every call; junk means real time. */
static void
test_time_now_test_clock(void **state)
{
	struct lethe_err err = {0};
	FILE *fp;

	(void)state;
	assert_true(time_is_test_clock());
	fp = fopen(CLOCK_FILE, "w");
	assert_non_null(fp);
	fputs("1792627200\n", fp);
	fclose(fp);
	assert_int_equal(time_now(), NOW);
	fp = fopen(CLOCK_FILE, "w");
	assert_non_null(fp);
	fputs("1792627201", fp);
	fclose(fp);
	assert_int_equal(time_now(), NOW + 1);
	assert_int_equal(time_test_clock_check(&err), LETHE_OK);
	fp = fopen(CLOCK_FILE, "w");
	assert_non_null(fp);
	fputs("soon", fp);
	fclose(fp);
	/* Unreadable mid-run: the last good test time, never the real clock. */
	assert_int_equal(time_now(), NOW + 1);
	/* At the start of a command: a clear error. */
	assert_int_equal(time_test_clock_check(&err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "LETHE_TEST_NOW"));
	unlink(CLOCK_FILE);
	assert_int_equal(time_now(), NOW + 1);
}

/*
 * The delete batch as text.  SQLite: unchanged, "key IN (subquery)".
 * PostgreSQL (deleted rows keep their index entries until a vacuum): the
 * subquery starts at the bound of the last batch ("col >= $"), the keys go
 * through an array (no hash join over the whole table at large limits), and
 * a CTE returns the count and the largest time removed (the next bound).
 */
static void
test_sweep_delete_sql_per_dialect(void **state)
{
	static struct appdb pg_db = {.ops = &appdb_pg_ops};
	static struct appdb sq_db = {.ops = &appdb_sqlite_ops};
	static char *media[] = {"path"};
	struct dm_table t = {.name = "messages", .key = "id"};
	struct tab tb = {.t = &t, .nparams = 1};
	struct sql q;

	(void)state;
	t.ttl.column = "received_at";
	tb.where = "\"received_at\" < $1 AND S";
	assert_true(appdb_dialect(&pg_db)->deletes_keep_index_entries);
	assert_false(appdb_dialect(&sq_db)->deletes_keep_index_entries);

	sql_init(&q, &sq_db, 4096);
	tb.where = "\"received_at\" < ? AND S";
	assert_int_equal(sweep_delete_sql(&sq_db, &tb, strlen(tb.where), false, &q), LETHE_OK);
	assert_string_equal(sql_str(&q),
	                    "DELETE FROM \"messages\" WHERE +(\"received_at\" < ?) AND \"id\" IN "
	                    "(SELECT \"id\" FROM \"messages\" WHERE \"received_at\" < ? AND S "
	                    "ORDER BY \"received_at\" LIMIT ?)");
	sql_free(&q);

	tb.where = "\"received_at\" < $1 AND S";
	sql_init(&q, &pg_db, 4096);
	assert_int_equal(sweep_delete_sql(&pg_db, &tb, strlen(tb.where), false, &q), LETHE_OK);
	assert_string_equal(
	    sql_str(&q),
	    "WITH lethe_d AS (DELETE FROM \"messages\" WHERE ((\"received_at\" < $1) IS TRUE) AND "
	    "\"id\" = ANY(ARRAY(SELECT \"id\" FROM \"messages\" WHERE \"received_at\" < $1 AND S "
	    "ORDER BY \"received_at\" LIMIT $2)) RETURNING \"received_at\" AS lethe_t) SELECT "
	    "count(*), max(lethe_t) FROM lethe_d");
	sql_free(&q);

	sql_init(&q, &pg_db, 4096);
	assert_int_equal(sweep_delete_sql(&pg_db, &tb, strlen(tb.where), true, &q), LETHE_OK);
	assert_string_equal(
	    sql_str(&q),
	    "WITH lethe_d AS (DELETE FROM \"messages\" WHERE ((\"received_at\" < $1) IS TRUE) AND "
	    "\"id\" = ANY(ARRAY(SELECT \"id\" FROM \"messages\" WHERE \"received_at\" < $1 AND S "
	    "AND \"received_at\" >= $2 ORDER BY \"received_at\" LIMIT $3)) RETURNING "
	    "\"received_at\" AS lethe_t) SELECT count(*), max(lethe_t) FROM lethe_d");
	sql_free(&q);

	/* Media columns: every removed row's files, the bound on each row. */
	t.media = media;
	t.nmedia = 1;
	sql_init(&q, &pg_db, 4096);
	assert_int_equal(sweep_delete_sql(&pg_db, &tb, strlen(tb.where), true, &q), LETHE_OK);
	assert_string_equal(
	    sql_str(&q),
	    "WITH lethe_d AS (DELETE FROM \"messages\" WHERE ((\"received_at\" < $1) IS TRUE) AND "
	    "\"id\" = ANY(ARRAY(SELECT \"id\" FROM \"messages\" WHERE \"received_at\" < $1 AND S "
	    "AND \"received_at\" >= $2 ORDER BY \"received_at\" LIMIT $3)) RETURNING \"path\", "
	    "\"received_at\" AS lethe_t) SELECT \"path\", max(lethe_t) OVER () FROM lethe_d");
	sql_free(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time_now_test_clock),
	    cmocka_unit_test_setup_teardown(test_sweep_formats_detected, setup_delete, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_round_robin_caps, setup_delete, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_measure, setup_delete, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_renews_lease_per_table, setup_delete,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_dry_run, setup_delete, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_anonymize, setup_anon, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_anonymize_failed_batch_keeps_cursor,
	                                    setup_anon, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_settle_media_second_column, setup_media,
	                                    teardown),
	    cmocka_unit_test(test_sweep_ttl_parse_errors),
	    cmocka_unit_test(test_sweep_delete_sql_per_dialect),
	};

	/* Before any time_now(): the clock is looked up once. */
	setenv("LETHE_TEST_NOW", "file:" CLOCK_FILE, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
