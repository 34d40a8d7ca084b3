/* SPDX-License-Identifier: MIT */
/*
 * test_pg_watch.c - unit tests of src/jobs/pg_watch.c: the warning about a
 * transaction pinning PostgreSQL's xmin horizon, over a fake driver whose
 * ops->oldest_xact answers what each test sets (no PostgreSQL needed; the
 * real query is tests/e2e/test_pg_failures.py's).  The warning names the
 * holder's pid, role, application and age and nothing it ran; /metrics
 * shows the last look; a driver without the op (SQLite) is refused.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/appdb.h"
#include "jobs/pg_watch.h"
#include "testutil.h"

/* What the fake driver's oldest_xact answers. */
static lethe_rc fake_rc;
static struct appdb_xact fake_x;

static lethe_rc
fake_oldest_xact(struct appdb *db, struct appdb_xact *out, struct lethe_err *err)
{
	(void)db;
	*out = fake_x;
	if (fake_rc != LETHE_OK && fake_rc != LETHE_E_NOTFOUND)
		return lethe_err_set(err, fake_rc, "server closed the connection unexpectedly");
	return fake_rc;
}

static const struct appdb_ops fake_ops = {.name = "fake", .oldest_xact = fake_oldest_xact};
static const struct appdb_ops bare_ops = {.name = "sqlite"};

/* Run pg_watch_check() on @n databases with stderr captured into @log (@cap bytes). */
static bool
check_logged_n(struct appdb *const *dbs, size_t n, int64_t warn_ms, lethe_rc *rcs, char *log,
               size_t cap)
{
	char path[] = "/tmp/test_pg_watch.XXXXXX";
	int fd = mkstemp(path), saved;
	bool warned;
	FILE *f;
	size_t got;

	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(dup2(fd, 2) == 2);
	warned = pg_watch_check(dbs, n, warn_ms, rcs);
	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	assert_non_null(f);
	got = fread(log, 1, cap - 1, f);
	log[got] = '\0';
	fclose(f);
	unlink(path);
	return warned;
}

/* The same on the one database @db. */
static bool
check_logged(struct appdb *db, int64_t warn_ms, lethe_rc *rc, char *log, size_t cap)
{
	return check_logged_n(&db, 1, warn_ms, rc, log, cap);
}

static void
test_pg_watch_interval(void **state)
{
	(void)state;
	/* A fifth of the threshold, between 1 s and 60 s: the default 5 min looks once a minute. */
	assert_int_equal(pg_watch_interval_ms(300000), 60000);
	assert_int_equal(pg_watch_interval_ms(3600000), 60000);
	assert_int_equal(pg_watch_interval_ms(100000), 20000);
	assert_int_equal(pg_watch_interval_ms(2000), 1000);
}

static void
test_pg_watch_check(void **state)
{
	struct appdb db = {.ops = &fake_ops, .target = "postgresql://app:***@db/app"};
	struct buf b;
	char log[4096];
	lethe_rc rc = LETHE_E_INTERNAL;

	(void)state;
	/* No look yet: nothing in /metrics. */
	buf_init(&b, 1 << 16);
	pg_watch_metrics(&b);
	assert_int_equal(b.len, 0);

	/* No transaction open: no warning, the metrics say 0. */
	fake_rc = LETHE_E_NOTFOUND;
	assert_false(check_logged(&db, 5000, &rc, log, sizeof(log)));
	assert_int_equal(rc, LETHE_OK);
	assert_string_equal(log, "");
	pg_watch_metrics(&b);
	assert_non_null(strstr(buf_str(&b), "lethe_pg_oldest_transaction_seconds 0.000\n"));
	assert_non_null(strstr(buf_str(&b), "lethe_pg_oldest_transaction_pid 0\n"));

	/* One younger than the threshold: recorded, not warned about. */
	memset(&fake_x, 0, sizeof(fake_x));
	fake_x.pid = 4242;
	fake_x.age_ms = 4999;
	snprintf(fake_x.state, sizeof(fake_x.state), "idle in transaction");
	snprintf(fake_x.user, sizeof(fake_x.user), "app");
	snprintf(fake_x.app, sizeof(fake_x.app), "psql");
	fake_rc = LETHE_OK;
	assert_false(check_logged(&db, 5000, &rc, log, sizeof(log)));
	assert_string_equal(log, "");

	/* Past it: one warning naming pid, role, application, state, age and the database. */
	fake_x.age_ms = 372500;
	assert_true(check_logged(&db, 5000, &rc, log, sizeof(log)));
	assert_int_equal(rc, LETHE_OK);
	assert_non_null(strstr(log, "open for 372 s"));
	assert_non_null(strstr(log, "pid 4242"));
	assert_non_null(strstr(log, "role 'app'"));
	assert_non_null(strstr(log, "application 'psql'"));
	assert_non_null(strstr(log, "idle in transaction"));
	assert_non_null(strstr(log, "postgresql://app:***@db/app"));
	assert_non_null(strstr(log, "holds back vacuum"));
	assert_null(strchr(strchr(log, '\n') + 1, '\n')); /* one line */
	buf_reset(&b);
	pg_watch_metrics(&b);
	assert_non_null(strstr(buf_str(&b), "lethe_pg_oldest_transaction_seconds 372.500\n"));
	assert_non_null(strstr(buf_str(&b), "lethe_pg_oldest_transaction_pid 4242\n"));

	/* A failed look: no warning about a transaction, the error for the caller to reconnect. */
	fake_rc = LETHE_E_DB;
	assert_false(check_logged(&db, 5000, &rc, log, sizeof(log)));
	assert_int_equal(rc, LETHE_E_DB);
	assert_non_null(strstr(log, "cannot look for long transactions"));
	assert_null(strstr(log, "holds back vacuum"));
	buf_free(&b);
}

/* The second database's answers (fake_oldest_xact2). */
static struct appdb_xact fake_x2;

static lethe_rc
fake_oldest_xact2(struct appdb *db, struct appdb_xact *out, struct lethe_err *err)
{
	(void)db;
	(void)err;
	*out = fake_x2;
	return LETHE_OK;
}

static const struct appdb_ops fake_ops2 = {.name = "fake", .oldest_xact = fake_oldest_xact2};

static void
test_pg_watch_two_databases(void **state)
{
	struct appdb app = {.ops = &fake_ops, .target = "postgresql://app@db/app"};
	struct appdb st = {.ops = &fake_ops2, .target = "postgresql://lethe@db/state"};
	struct appdb *dbs[2] = {&app, &st};
	lethe_rc rcs[2] = {LETHE_E_INTERNAL, LETHE_E_INTERNAL};
	struct buf b;
	char log[4096];

	(void)state;
	/* The app database has none open; the state store's is old: warned, naming it. */
	fake_rc = LETHE_E_NOTFOUND;
	memset(&fake_x2, 0, sizeof(fake_x2));
	fake_x2.pid = 77;
	fake_x2.age_ms = 9000;
	assert_true(check_logged_n(dbs, 2, 5000, rcs, log, sizeof(log)));
	assert_int_equal(rcs[0], LETHE_OK);
	assert_int_equal(rcs[1], LETHE_OK);
	assert_non_null(strstr(log, "pid 77"));
	assert_non_null(strstr(log, "postgresql://lethe@db/state"));
	assert_null(strstr(log, "postgresql://app@db/app"));
	buf_init(&b, 1 << 16);
	pg_watch_metrics(&b);
	assert_non_null(strstr(buf_str(&b), "lethe_pg_oldest_transaction_pid 77\n"));

	/* Both open: both warned about, the metrics show the older one. */
	memset(&fake_x, 0, sizeof(fake_x));
	fake_x.pid = 66;
	fake_x.age_ms = 12000;
	fake_rc = LETHE_OK;
	assert_true(check_logged_n(dbs, 2, 5000, rcs, log, sizeof(log)));
	assert_non_null(strstr(log, "pid 66"));
	assert_non_null(strstr(log, "pid 77"));
	buf_reset(&b);
	pg_watch_metrics(&b);
	assert_non_null(strstr(buf_str(&b), "lethe_pg_oldest_transaction_pid 66\n"));
	assert_non_null(strstr(buf_str(&b), "lethe_pg_oldest_transaction_seconds 12.000\n"));

	/* The app database fails: the state store's look still counts. */
	fake_rc = LETHE_E_DB;
	check_logged_n(dbs, 2, 5000, rcs, log, sizeof(log));
	assert_int_equal(rcs[0], LETHE_E_DB);
	assert_int_equal(rcs[1], LETHE_OK);
	buf_reset(&b);
	pg_watch_metrics(&b);
	assert_non_null(strstr(buf_str(&b), "lethe_pg_oldest_transaction_pid 77\n"));
	buf_free(&b);
}

static void
test_pg_watch_no_op(void **state)
{
	struct appdb db = {.ops = &bare_ops, .target = "demo.db"};
	struct lethe_err err = {0};
	struct appdb_xact x;

	(void)state;
	/* SQLite has no xmin horizon: the look is refused, not "none open". */
	assert_int_equal(appdb_oldest_xact(&db, &x, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "sqlite"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pg_watch_interval),
	    cmocka_unit_test(test_pg_watch_check),
	    cmocka_unit_test(test_pg_watch_two_databases),
	    cmocka_unit_test(test_pg_watch_no_op),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
