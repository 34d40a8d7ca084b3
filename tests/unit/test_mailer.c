/* SPDX-License-Identifier: MIT */
/*
 * test_mailer.c - unit tests of the mailer's retry policy (src/jobs/mailer.c):
 * exponential backoff with full jitter, capped.  The thread itself is tested
 * end to end with a real SMTP server (tests/e2e/test_mail_outbox.py).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "jobs/mailer.h"

/* The bound doubles per failure from the base and stops at the cap; the draw is in [0, bound]. */
static void
test_mailer_backoff_full_jitter(void **state)
{
	struct mail_config mc;

	(void)state;
	memset(&mc, 0, sizeof(mc));
	mc.backoff_base_ms = 30000;
	mc.backoff_cap_ms = 3600000;
	assert_int_equal(mailer_backoff_ms(&mc, 1, 0), 0);
	assert_int_equal(mailer_backoff_ms(&mc, 1, UINT32_MAX), 30000);
	assert_int_equal(mailer_backoff_ms(&mc, 2, UINT32_MAX), 60000);
	assert_int_equal(mailer_backoff_ms(&mc, 3, UINT32_MAX), 120000);
	/* Half the draw range: about half the bound. */
	assert_in_range(mailer_backoff_ms(&mc, 3, UINT32_MAX / 2), 59999, 60001);
	/* Capped: 30 s * 2^7 = 3840 s > 1 h, and no overflow far past it. */
	assert_int_equal(mailer_backoff_ms(&mc, 8, UINT32_MAX), 3600000);
	assert_int_equal(mailer_backoff_ms(&mc, 1000000, UINT32_MAX), 3600000);
	assert_true(mailer_backoff_ms(&mc, 1000000, 12345) <= 3600000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mailer_backoff_full_jitter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
