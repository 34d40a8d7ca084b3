/* SPDX-License-Identifier: MIT */
/*
 * worker.h - one background thread: start, kick, nap until a deadline, stop.
 *
 * Every background thread of lethe (the job runner, the outbox, the
 * sweeper, the intake's committer, indexer and checkpointer) is a struct
 * worker: a thread, a mutex, a condition variable on CLOCK_MONOTONIC (a
 * step of the wall clock neither ends a nap early nor stretches it), a
 * kick flag and a stop flag.  A simple thread naps with worker_nap() and is
 * woken by worker_kick(); a thread that keeps its own state (a queue) under
 * the worker's mutex waits with worker_wait_locked() on its own predicate
 * and is woken with worker_signal_locked() by whoever changed that state
 * under the same mutex.  Several workers may share one mutex (the intake's
 * three threads do): pass it to worker_init().
 *
 * Thread safety: worker_kick(), worker_nap(), worker_sleep() and
 * worker_stopping() lock the worker's mutex themselves; the *_locked
 * functions expect the caller to hold it.  worker_init(), worker_start(),
 * worker_stop() and worker_destroy() are called by the thread that owns
 * the worker (start-up and shutdown), never concurrently with each other.
 */
#ifndef LETHE_WORKER_H
#define LETHE_WORKER_H

#include "util/fmacros.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

struct worker;
typedef void (*worker_fn)(struct worker *w, void *arg);

struct worker {
	pthread_mutex_t *mu;    /* the mutex guarding the fields below (own_mu or a shared one) */
	pthread_mutex_t own_mu; /* used unless worker_init() was given a shared mutex */
	pthread_cond_t cv;      /* kicks, signals and stop (CLOCK_MONOTONIC) */
	pthread_t thr;          /* the thread */
	bool started;           /* thr runs (or ran and was not joined yet) */
	bool kicked;            /* worker_kick() since the last worker_nap() */
	bool stop;              /* worker_stop() was called: finish and return */
	volatile int stop_flag; /* 1 once stopping: polled without the lock by long work */
	worker_fn fn;           /* the thread's body */
	void *arg;              /* for fn */
	char name[16];          /* thread name (top, perf) */
};

/*
 * Prepare @w: its condition variable, and its own mutex unless @shared is
 * given (then every lock of @w is of @shared, which the caller initialises
 * and destroys).  Does not start a thread.
 */
void worker_init(struct worker *w, pthread_mutex_t *shared);
/*
 * Start the thread of an initialised @w: it is named @name (at most 15
 * bytes kept) and runs @fn(@w, @arg); when @fn returns the thread ends.
 * Returns false if the thread could not be created (@w stays initialised).
 */
bool worker_start(struct worker *w, const char *name, worker_fn fn, void *arg);
/* Set the kick flag and wake the thread.  Any thread; takes the mutex. */
void worker_kick(struct worker *w);
/*
 * Wait up to @ms milliseconds (forever if negative) for a kick or stop,
 * then clear the kick flag.  A kick made before the call ends it at once
 * (no kick is lost).  Returns true if stopping.  The worker's thread only;
 * takes the mutex.
 */
bool worker_nap(struct worker *w, int64_t ms);
/*
 * Wait @ms milliseconds; only stop ends it early (kicks stay set for the
 * next worker_nap()).  Returns true if stopping.  Takes the mutex.
 */
bool worker_sleep(struct worker *w, int64_t ms);
/* True once worker_stop() was called.  Takes the mutex. */
bool worker_stopping(struct worker *w);
/*
 * @us microseconds from now as a deadline for worker_wait_locked() (on
 * CLOCK_MONOTONIC, the clock of the worker's condition variable).
 */
void worker_deadline_us(struct timespec *until, int64_t us);
/*
 * With the worker's mutex held: wait once on its condition variable until
 * signalled, or until @until (worker_deadline_us(); NULL: no deadline).
 * Returns false once @until has passed.  Spurious wakeups happen: the
 * caller loops on its own predicate, which includes w->stop.
 */
bool worker_wait_locked(struct worker *w, const struct timespec *until);

/* With the worker's mutex held: wake its thread (no flag set). */
static inline void
worker_signal_locked(struct worker *w)
{
	pthread_cond_signal(&w->cv);
}

/* With the worker's mutex held: wake every waiter on its condition variable. */
static inline void
worker_broadcast_locked(struct worker *w)
{
	pthread_cond_broadcast(&w->cv);
}

/*
 * Ask the thread to stop (w->stop, w->stop_flag, a broadcast) and join it.
 * Does not take @w's mutex while joining.  A second call, or a call for a
 * worker never started, only sets the flags.
 */
void worker_stop(struct worker *w);
/* Release what worker_init() made (the thread must be stopped or never started). */
void worker_destroy(struct worker *w);

#endif /* LETHE_WORKER_H */
