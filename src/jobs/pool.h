/* SPDX-License-Identifier: MIT */
/*
 * pool.h - a small fixed pool of worker threads for blocking work.
 *
 * The HTTP server's event threads must never block on a database; handlers
 * that do run here instead, one task per suspended request.  Tasks are
 * intrusive (struct pool_task embedded in the caller's object): submitting
 * never allocates.  Thread-safe.
 */
#ifndef LETHE_JOBS_POOL_H
#define LETHE_JOBS_POOL_H

#include "util/fmacros.h"
#include "util/rc.h"

struct pool_task {
	void (*run)(struct pool_task *t); /* the work; may free the embedding object */
	struct pool_task *next;           /* queue link (pool only) */
};

struct pool;

/* Start @nthreads workers named @name (in top and perf).  NULL if none could start. */
struct pool *pool_new(int nthreads, const char *name);
/*
 * Queue @t; a worker runs t->run(t) soon, oldest first.  Once pool_stop()
 * began, t->run(t) runs at once on the calling thread instead.
 */
void pool_submit(struct pool *p, struct pool_task *t);
/* Run what is queued, then stop and join the workers.  NULL is a no-op. */
void pool_stop(struct pool *p);
/* Free a stopped pool.  NULL is a no-op. */
void pool_free(struct pool *p);

#endif /* LETHE_JOBS_POOL_H */
