/* SPDX-License-Identifier: MIT */
/*
 * test_singletons.c - unit tests of src/store/singletons.c: work that one
 * worker of a store does at a time (store_singleton_take/release), on an
 * SQLite store (tests/e2e/test_pg_store.py runs the same on PostgreSQL
 * through lethe).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "testutil.h"
#include "util/lease.h"

static int
setup(void **state)
{
	return tu_store_setup(state, "single");
}

static int
teardown(void **state)
{
	return tu_store_teardown(state);
}

static bool
take(struct store *st, const char *name, const char *owner, int64_t now, int64_t lease)
{
	struct lethe_err err = {0};
	bool held = true;

	assert_int_equal(store_singleton_take(st, name, owner, now, lease, &held, &err), LETHE_OK);
	return held;
}

/* One holder at a time; it renews; others wait until it lapses or gives it back. */
static void
test_singleton_one_holder(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};

	/* Owners of other hosts: never "dead" from here, only lapsed. */
	assert_true(take(f->st, "sweep", "far-a:1:aa", 1000, 500));
	assert_false(take(f->st, "sweep", "far-b:2:bb", 1200, 500));
	assert_true(take(f->st, "proof", "far-b:2:bb", 1200, 500)); /* another name: free */
	assert_true(take(f->st, "sweep", "far-a:1:aa", 1400, 500)); /* renewed to 1900 */
	assert_false(take(f->st, "sweep", "far-b:2:bb", 1800, 500));
	assert_true(take(f->st, "sweep", "far-b:2:bb", 1901, 500)); /* lapsed: taken over */
	assert_false(take(f->st, "sweep", "far-a:1:aa", 1902, 500));
	/* Only the holder gives it back. */
	assert_int_equal(store_singleton_release(f->st, "sweep", "far-a:1:aa", &err), LETHE_OK);
	assert_false(take(f->st, "sweep", "far-a:1:aa", 1903, 500));
	assert_int_equal(store_singleton_release(f->st, "sweep", "far-b:2:bb", &err), LETHE_OK);
	assert_true(take(f->st, "sweep", "far-a:1:aa", 1904, 500));
}

/* A holder of this host whose process is gone loses it at once; a live one never. */
static void
test_singleton_dead_holder(void **state)
{
	struct tu_store *f = *state;
	char me[LEASE_OWNER_MAX], gone[LEASE_OWNER_MAX], host[256] = "";
	pid_t child;

	gethostname(host, sizeof(host) - 1);
	lease_owner_format(me, sizeof(me));
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	snprintf(gone, sizeof(gone), "%s:%ld:n%llu:0123456789abcdef", host, (long)child,
	         lease_pidns_here());
	assert_true(take(f->st, "reapply", gone, 1000, 60000));
	assert_true(take(f->st, "reapply", me, 1001, 60000)); /* its process is gone */
	assert_false(take(f->st, "reapply", gone, 1002, 60000));
	assert_false(take(f->st, "reapply", "far-c:3:cc", 1003, 60000)); /* me: alive */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_singleton_one_holder, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_singleton_dead_holder, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
