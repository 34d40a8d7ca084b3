/* SPDX-License-Identifier: MIT */
/*
 * worker.c - one background thread with kick, nap and stop (see worker.h).
 *
 * The mutex/condition-variable skeleton every background thread needs,
 * written once.  The condition variable runs on CLOCK_MONOTONIC, so every
 * deadline here comes from time_deadline_mono_us().  A kick is a flag set
 * under the mutex before the signal, so a kick that comes while the thread
 * is busy is seen by its next worker_nap() rather than lost; stop is a flag
 * too, so a stop that comes while it naps or works ends the nap or the next.
 * Safe as long as every access to kicked/stop holds w->mu (the functions
 * here do; callers of the *_locked functions hold it).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sys/prctl.h>

#include "util/timeutil.h"
#include "util/worker.h"

void
worker_init(struct worker *w, pthread_mutex_t *shared)
{
	memset(w, 0, sizeof(*w));
	if (shared != NULL) {
		w->mu = shared;
	} else {
		pthread_mutex_init(&w->own_mu, NULL);
		w->mu = &w->own_mu;
	}
	time_cond_init_mono(&w->cv);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	prctl(PR_SET_NAME, w->name, 0, 0, 0); /* name in top and perf */
	w->fn(w, w->arg);
	return NULL;
}

bool
worker_start(struct worker *w, const char *name, worker_fn fn, void *arg)
{
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->fn = fn;
	w->arg = arg;
	w->started = pthread_create(&w->thr, NULL, worker_main, w) == 0;
	return w->started;
}

void
worker_kick(struct worker *w)
{
	pthread_mutex_lock(w->mu);
	w->kicked = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(w->mu);
}

void
worker_deadline_us(struct timespec *until, int64_t us)
{
	time_deadline_mono_us(until, us);
}

bool
worker_wait_locked(struct worker *w, const struct timespec *until)
{
	if (until == NULL) {
		pthread_cond_wait(&w->cv, w->mu);
		return true;
	}
	return pthread_cond_timedwait(&w->cv, w->mu, until) != ETIMEDOUT;
}

bool
worker_nap(struct worker *w, int64_t ms)
{
	struct timespec until;
	bool stop;

	worker_deadline_us(&until, ms * 1000);
	pthread_mutex_lock(w->mu);
	while (!w->kicked && !w->stop)
		if (!worker_wait_locked(w, ms < 0 ? NULL : &until))
			break;
	w->kicked = false;
	stop = w->stop;
	pthread_mutex_unlock(w->mu);
	return stop;
}

bool
worker_sleep(struct worker *w, int64_t ms)
{
	struct timespec until;
	bool stop;

	worker_deadline_us(&until, ms * 1000);
	pthread_mutex_lock(w->mu);
	while (!w->stop)
		if (!worker_wait_locked(w, &until))
			break;
	stop = w->stop;
	pthread_mutex_unlock(w->mu);
	return stop;
}

bool
worker_stopping(struct worker *w)
{
	bool stop;

	pthread_mutex_lock(w->mu);
	stop = w->stop;
	pthread_mutex_unlock(w->mu);
	return stop;
}

void
worker_stop(struct worker *w)
{
	pthread_mutex_lock(w->mu);
	w->stop = true;
	w->stop_flag = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(w->mu);
	if (w->started) {
		pthread_join(w->thr, NULL);
		w->started = false;
	}
}

void
worker_destroy(struct worker *w)
{
	pthread_cond_destroy(&w->cv);
	if (w->mu == &w->own_mu)
		pthread_mutex_destroy(&w->own_mu);
}
