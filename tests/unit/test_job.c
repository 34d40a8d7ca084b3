/* SPDX-License-Identifier: MIT */
/*
 * test_job.c - unit tests of src/jobs/job.c: the failure count the
 * runner, the exporter and a restriction's run share (JOB_FAILS_MAX in a
 * row fails, a success forgets, the fewest failures make room).  The
 * transitions (job_finish(), job_fail()) are the e2e tests' (a failing
 * export, erasure or restriction).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "jobs/job.h"
#include "testutil.h"

static void
test_job_fails_count(void **state)
{
	struct job_fails f;
	int64_t id;

	(void)state;
	memset(&f, 0, sizeof(f));
	/* A success of an unknown request: nothing to forget. */
	assert_false(job_fails_count(&f, 7, true));
	/* Three in a row fail it; the count starts over. */
	assert_false(job_fails_count(&f, 7, false));
	assert_false(job_fails_count(&f, 7, false));
	assert_true(job_fails_count(&f, 7, false));
	assert_false(job_fails_count(&f, 7, false));
	/* A success between failures forgets them. */
	assert_false(job_fails_count(&f, 8, false));
	assert_false(job_fails_count(&f, 8, false));
	assert_false(job_fails_count(&f, 8, true));
	assert_false(job_fails_count(&f, 8, false));
	assert_false(job_fails_count(&f, 8, false));
	assert_true(job_fails_count(&f, 8, false));
	/* More requests than slots: each counted on its own still. */
	for (id = 100; id < 100 + 2 * JOB_FAILS_TRACKED; id++)
		assert_false(job_fails_count(&f, id, false));
	assert_false(job_fails_count(&f, 100 + 2 * JOB_FAILS_TRACKED - 1, false));
	assert_true(job_fails_count(&f, 100 + 2 * JOB_FAILS_TRACKED - 1, false));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_job_fails_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
