/* SPDX-License-Identifier: MIT */
/*
 * pool.c - worker threads for blocking work (see pool.h).
 *
 * Locking: p->mu guards the queue and the stop flag; a task is run outside
 * the lock.  pool_stop() sets stop; the workers empty the queue and exit,
 * and from then on pool_submit() runs tasks on the caller's thread.
 */
#include "util/fmacros.h"

#include <pthread.h>
#include <sys/prctl.h>

#include "jobs/pool.h"
#include "util/mem.h"

#define POOL_MAX 64

struct pool {
	pthread_mutex_t mu;      /* guards everything below */
	pthread_cond_t work;     /* a task was queued, or stop */
	struct pool_task *head;  /* queue, oldest first */
	struct pool_task *tail;  /* newest */
	bool stop;               /* finish the queue and exit; run new tasks inline */
	char name[16];           /* thread name */
	pthread_t thr[POOL_MAX]; /* workers */
	int n;                   /* workers started */
};

static void *
worker(void *arg)
{
	struct pool *p = arg;

	prctl(PR_SET_NAME, p->name, 0, 0, 0);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct pool_task *t;

		while (p->head == NULL && !p->stop)
			pthread_cond_wait(&p->work, &p->mu);
		t = p->head;
		if (t == NULL)
			break;
		p->head = t->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		t->run(t);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct pool *
pool_new(int nthreads, const char *name)
{
	struct pool *p = xcalloc(1, sizeof(*p));
	int i;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > POOL_MAX)
		nthreads = POOL_MAX;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	snprintf(p->name, sizeof(p->name), "%s", name);
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&p->thr[i], NULL, worker, p) != 0)
			break;
		p->n++;
	}
	if (p->n == 0) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->work);
		free(p);
		return NULL;
	}
	return p;
}

void
pool_submit(struct pool *p, struct pool_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->stop) {
		pthread_mutex_unlock(&p->mu);
		t->run(t);
		return;
	}
	if (p->tail != NULL)
		p->tail->next = t;
	else
		p->head = t;
	p->tail = t;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

void
pool_stop(struct pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->n; i++)
		pthread_join(p->thr[i], NULL);
	p->n = 0;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	free(p);
}
