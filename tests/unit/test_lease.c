/* SPDX-License-Identifier: MIT */
/*
 * test_lease.c - unit tests of src/util/lease.c: the owner text of a lease
 * (format, parse) and the check whether its holder is still alive.
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

#include "util/hash.h"
#include "util/lease.h"

/* A new owner is "host:pid:nNS:nonce" with this host, this pid and 16 hex digits. */
static void
test_lease_owner_format_parses_back(void **state)
{
	char a[LEASE_OWNER_MAX], b[LEASE_OWNER_MAX], host[256] = "", theirs[256];
	const char *nonce;
	long pid = 0;

	(void)state;
	gethostname(host, sizeof(host) - 1);
	lease_owner_format(a, sizeof(a));
	lease_owner_format(b, sizeof(b));
	assert_string_not_equal(a, b); /* a fresh nonce each time */
	assert_true(lease_owner_parse(a, theirs, sizeof(theirs), &pid));
	assert_string_equal(theirs, host);
	assert_int_equal(pid, (long)getpid());
	nonce = strrchr(a, ':') + 1;
	assert_int_equal(strlen(nonce), 16);
	assert_int_equal(strspn(nonce, "0123456789abcdef"), 16);
}

static void
test_lease_owner_parse_rejects_malformed(void **state)
{
	char host[16];
	long pid = 7;

	(void)state;
	assert_true(lease_owner_parse("h:12", host, sizeof(host), &pid));
	assert_string_equal(host, "h");
	assert_int_equal(pid, 12);
	assert_true(lease_owner_parse("h:9:c", host, sizeof(host), &pid));
	assert_int_equal(pid, 9);
	pid = 7;
	assert_false(lease_owner_parse("", host, sizeof(host), &pid));
	assert_false(lease_owner_parse("nocolon", host, sizeof(host), &pid));
	assert_false(lease_owner_parse(":12:x", host, sizeof(host), &pid));
	assert_false(lease_owner_parse("h:", host, sizeof(host), &pid));
	assert_false(lease_owner_parse("h:0:x", host, sizeof(host), &pid));
	assert_false(lease_owner_parse("h:-3:x", host, sizeof(host), &pid));
	assert_false(lease_owner_parse("h:12x:y", host, sizeof(host), &pid));
	assert_false(lease_owner_parse("h:99999999999999999999:y", host, sizeof(host), &pid));
	/* The host must fit in the caller's buffer. */
	assert_false(lease_owner_parse("a-very-long-host-name:1:x", host, sizeof(host), &pid));
	assert_int_equal(pid, 7); /* a failed parse leaves the output alone */
}

/* Dead: this host and a pid that exited; alive: this process; unknown: elsewhere. */
static void
test_lease_owner_dead_on_this_host_only(void **state)
{
	char me[LEASE_OWNER_MAX], gone[LEASE_OWNER_MAX], far[LEASE_OWNER_MAX], host[256] = "";
	pid_t child;

	(void)state;
	gethostname(host, sizeof(host) - 1);
	lease_owner_format(me, sizeof(me));
	assert_false(lease_owner_dead(me));
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child); /* reaped: the pid is free */
	snprintf(gone, sizeof(gone), "%s:%ld:n%llu:0123456789abcdef", host, (long)child,
	         lease_owner_pidns(me));
	assert_true(lease_owner_dead(gone));
	/* Another host's holder is never declared dead: its lease must lapse. */
	snprintf(far, sizeof(far), "%s-elsewhere:%ld:0123456789abcdef", host, (long)child);
	assert_false(lease_owner_dead(far));
	assert_false(lease_owner_dead("not an owner"));
	snprintf(gone, sizeof(gone), "%s:0:x", host);
	assert_false(lease_owner_dead(gone));
}

/*
 * Containers may share the host's name but not its pids: a holder in another
 * pid namespace, or one whose (older) text names none, is never dead here.
 */
static void
test_lease_owner_dead_other_pid_namespace(void **state)
{
	char me[LEASE_OWNER_MAX], owner[LEASE_OWNER_MAX], host[256] = "";
	unsigned long long ns;
	pid_t child;

	(void)state;
	gethostname(host, sizeof(host) - 1);
	lease_owner_format(me, sizeof(me));
	ns = lease_owner_pidns(me);
	assert_true(ns != 0); /* Linux: /proc/self/ns/pid names it */
	snprintf(owner, sizeof(owner), "%s:%ld:n%llu:", host, (long)getpid(), ns);
	assert_true(strncmp(me, owner, strlen(owner)) == 0);
	assert_int_equal(lease_owner_pidns("h:12:0123456789abcdef"), 0);
	assert_int_equal(lease_owner_pidns("h:12:n77"), 77);
	assert_int_equal(lease_owner_pidns("h:12:nx:0123456789abcdef"), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child); /* no such pid here */
	snprintf(owner, sizeof(owner), "%s:%ld:n%llu:0123456789abcdef", host, (long)child, ns);
	assert_true(lease_owner_dead(owner)); /* this namespace: dead */
	snprintf(owner, sizeof(owner), "%s:%ld:n%llu:0123456789abcdef", host, (long)child, ns + 1);
	assert_false(lease_owner_dead(owner)); /* another namespace: maybe alive */
	snprintf(owner, sizeof(owner), "%s:%ld:0123456789abcdef", host, (long)child);
	assert_false(lease_owner_dead(owner)); /* no namespace named: wait */
	snprintf(owner, sizeof(owner), "%s:%ld:n0:0123456789abcdef", host, (long)child);
	assert_false(lease_owner_dead(owner)); /* namespace unknown: wait */
}

/* A run of this process that could not give its lease back: dead for the next run here. */
static void
test_lease_owner_abandoned_run_is_dead(void **state)
{
	char run1[LEASE_OWNER_MAX], run2[LEASE_OWNER_MAX];

	(void)state;
	lease_owner_format(run1, sizeof(run1));
	lease_owner_format(run2, sizeof(run2));
	assert_false(lease_owner_dead(run1));
	lease_owner_abandon(run1);
	assert_true(lease_owner_dead(run1));
	assert_false(lease_owner_dead(run2)); /* another run of this process: alive */
	assert_false(lease_owner_dead("far-away-host:1:0123456789abcdef"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lease_owner_format_parses_back),
	    cmocka_unit_test(test_lease_owner_parse_rejects_malformed),
	    cmocka_unit_test(test_lease_owner_dead_on_this_host_only),
	    cmocka_unit_test(test_lease_owner_dead_other_pid_namespace),
	    cmocka_unit_test(test_lease_owner_abandoned_run_is_dead),
	};

	if (hash_init() != LETHE_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
