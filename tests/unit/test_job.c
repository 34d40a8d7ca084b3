/* SPDX-License-Identifier: MIT */
/*
 * test_job.c - unit tests of src/jobs/job.c: the failure count the
 * runner, the exporter and a restriction's run share (JOB_FAILS_MAX in a
 * row fails, a success forgets, the fewest failures make room) and the
 * failed reason it leads to (job_fail_reason()).  The
 * transitions (job_finish(), job_fail()) are the e2e tests' (a failing
 * export, erasure or restriction).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* A safe summary is the reason; without one, the log is; an overlong one is cut, not overrun. */
static void
test_job_fail_reason(void **state)
{
	char out[JOB_REASON_MAX], why[LETHE_ERR_MAX + 300];

	(void)state;
	job_fail_reason("erasure",
	                "2 media objects of table media could not be removed (media store 'up' "
	                "answered HTTP 503 SlowDown); they stay recorded",
	                out);
	assert_string_equal(out, "the erasure failed 3 times in a row: 2 media objects of table "
	                         "media could not be removed (media store 'up' answered HTTP 503 "
	                         "SlowDown); they stay recorded; retry the request");
	job_fail_reason("export", "", out);
	assert_string_equal(out, "the export failed 3 times in a row; see the log, then retry it");
	job_fail_reason("erasure", NULL, out);
	assert_string_equal(out, "the erasure failed 3 times in a row; see the log, then retry it");
	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	job_fail_reason("export", why, out);
	assert_int_equal(strlen(out), JOB_REASON_MAX - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_job_fails_count),
	    cmocka_unit_test(test_job_fail_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
