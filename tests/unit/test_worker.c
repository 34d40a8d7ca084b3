/* SPDX-License-Identifier: MIT */
/*
 * test_worker.c - unit tests of util/worker: start, kick, nap until a
 * deadline, sleep, stop while napping, a kick made before the nap, and a
 * worker sharing a mutex with its owner's state.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/timeutil.h"
#include "util/worker.h"

/* What a test thread saw; guarded by the worker's mutex. */
struct probe {
	int naps;        /* worker_nap() calls that returned */
	int stopped;     /* worker_nap() returned true */
	int64_t nap_ms;  /* how long each nap may wait */
	double slept_ms; /* the last nap's length */
	int queued;      /* work items (shared-mutex test) */
	int done;        /* items taken (shared-mutex test) */
};

/* Nap until stopped, counting naps. */
static void
napper(struct worker *w, void *arg)
{
	struct probe *p = arg;

	for (;;) {
		double t0 = time_mono_ms();
		bool stop = worker_nap(w, p->nap_ms);

		pthread_mutex_lock(w->mu);
		p->slept_ms = time_mono_ms() - t0;
		p->naps++;
		p->stopped += stop;
		pthread_mutex_unlock(w->mu);
		if (stop)
			return;
	}
}

static int
naps_of(struct worker *w, struct probe *p)
{
	int n;

	pthread_mutex_lock(w->mu);
	n = p->naps;
	pthread_mutex_unlock(w->mu);
	return n;
}

/* Wait (at most 5 s) until the thread has napped more than @n times. */
static bool
wait_naps(struct worker *w, struct probe *p, int n)
{
	for (int i = 0; i < 5000; i++) {
		if (naps_of(w, p) > n)
			return true;
		usleep(1000);
	}
	return false;
}

static void
test_worker_nap_ends_at_deadline(void **state)
{
	struct worker w;
	struct probe p = {.nap_ms = 30};

	(void)state;
	worker_init(&w, NULL);
	assert_true(worker_start(&w, "test-nap", napper, &p));
	assert_true(wait_naps(&w, &p, 0));
	/* Nobody kicked: the nap ran its 30 ms (give or take a loaded machine). */
	assert_true(p.slept_ms >= 29.0);
	worker_stop(&w);
	assert_int_equal(p.stopped, 1);
	worker_destroy(&w);
}

static void
test_worker_kick_ends_nap(void **state)
{
	struct worker w;
	struct probe p = {.nap_ms = 60000};
	int before;

	(void)state;
	worker_init(&w, NULL);
	assert_true(worker_start(&w, "test-kick", napper, &p));
	usleep(20000); /* most likely napping by now; if not, the kick waits for it */
	before = naps_of(&w, &p);
	worker_kick(&w);
	assert_true(wait_naps(&w, &p, before));
	worker_stop(&w);
	worker_destroy(&w);
}

/* Kicked before it naps: the nap must return at once (no lost kick). */
static void
kick_then_nap(struct worker *w, void *arg)
{
	struct probe *p = arg;
	double t0;

	while (!worker_stopping(w) && naps_of(w, p) == 0) {
		pthread_mutex_lock(w->mu);
		if (w->kicked) {
			pthread_mutex_unlock(w->mu);
			break;
		}
		pthread_mutex_unlock(w->mu);
		usleep(1000);
	}
	t0 = time_mono_ms();
	(void)worker_nap(w, 60000);
	pthread_mutex_lock(w->mu);
	p->slept_ms = time_mono_ms() - t0;
	p->naps++;
	pthread_mutex_unlock(w->mu);
	(void)worker_nap(w, -1); /* until stop */
}

static void
test_worker_kick_before_nap_not_lost(void **state)
{
	struct worker w;
	struct probe p = {0};

	(void)state;
	worker_init(&w, NULL);
	assert_true(worker_start(&w, "test-lost", kick_then_nap, &p));
	worker_kick(&w);
	assert_true(wait_naps(&w, &p, 0));
	assert_true(p.slept_ms < 30000.0);
	worker_stop(&w);
	worker_destroy(&w);
}

static void
test_worker_stop_while_napping(void **state)
{
	struct worker w;
	struct probe p = {.nap_ms = -1}; /* no deadline: only stop ends it */
	double t0;

	(void)state;
	worker_init(&w, NULL);
	assert_true(worker_start(&w, "test-stop", napper, &p));
	usleep(20000);
	t0 = time_mono_ms();
	worker_stop(&w);
	assert_true(time_mono_ms() - t0 < 5000.0);
	assert_int_equal(p.naps, 1);
	assert_int_equal(p.stopped, 1);
	assert_int_equal(w.stop_flag, 1);
	worker_stop(&w); /* a second stop is harmless */
	worker_destroy(&w);
}

/* Sleep ignores kicks but not stop. */
static void
sleeper(struct worker *w, void *arg)
{
	struct probe *p = arg;
	double t0 = time_mono_ms();

	(void)worker_sleep(w, 40);
	pthread_mutex_lock(w->mu);
	p->slept_ms = time_mono_ms() - t0;
	p->naps++;
	pthread_mutex_unlock(w->mu);
	p->stopped = worker_sleep(w, 60000);
}

static void
test_worker_sleep_ignores_kicks(void **state)
{
	struct worker w;
	struct probe p = {0};

	(void)state;
	worker_init(&w, NULL);
	assert_true(worker_start(&w, "test-sleep", sleeper, &p));
	worker_kick(&w);
	worker_kick(&w);
	assert_true(wait_naps(&w, &p, 0));
	assert_true(p.slept_ms >= 39.0);
	worker_stop(&w);
	assert_int_equal(p.stopped, 1);
	worker_destroy(&w);
}

/* A consumer whose queue is guarded by a mutex it shares with the worker. */
static void
consumer(struct worker *w, void *arg)
{
	struct probe *p = arg;

	pthread_mutex_lock(w->mu);
	for (;;) {
		while (p->queued == 0 && !w->stop)
			(void)worker_wait_locked(w, NULL);
		if (p->queued == 0)
			break;
		p->queued--;
		p->done++;
	}
	pthread_mutex_unlock(w->mu);
}

static void
test_worker_shared_mutex_signal(void **state)
{
	pthread_mutex_t mu;
	struct worker w;
	struct probe p = {0};

	(void)state;
	pthread_mutex_init(&mu, NULL);
	worker_init(&w, &mu);
	assert_ptr_equal(w.mu, &mu);
	assert_true(worker_start(&w, "test-shared", consumer, &p));
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&mu);
		p.queued++;
		worker_signal_locked(&w);
		pthread_mutex_unlock(&mu);
	}
	worker_stop(&w); /* the consumer drains what is queued first */
	assert_int_equal(p.done, 100);
	assert_int_equal(p.queued, 0);
	worker_destroy(&w);
	pthread_mutex_destroy(&mu);
}

static void
test_worker_wait_locked_deadline(void **state)
{
	struct worker w;
	struct timespec until;
	double t0 = time_mono_ms();
	bool signalled = true;

	(void)state;
	worker_init(&w, NULL);
	worker_deadline_us(&until, 20000);
	pthread_mutex_lock(w.mu);
	while (signalled)
		signalled = worker_wait_locked(&w, &until);
	pthread_mutex_unlock(w.mu);
	assert_true(time_mono_ms() - t0 >= 19.0);
	worker_destroy(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_worker_nap_ends_at_deadline),
	    cmocka_unit_test(test_worker_kick_ends_nap),
	    cmocka_unit_test(test_worker_kick_before_nap_not_lost),
	    cmocka_unit_test(test_worker_stop_while_napping),
	    cmocka_unit_test(test_worker_sleep_ignores_kicks),
	    cmocka_unit_test(test_worker_shared_mutex_signal),
	    cmocka_unit_test(test_worker_wait_locked_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
