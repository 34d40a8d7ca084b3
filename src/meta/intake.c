/* SPDX-License-Identifier: MIT */
/*
 * intake.c - group-commit intake of Meta requests (see intake.h).
 *
 * Locking: in->mu guards the queue, stop and the group count; the committer
 * works on a group it has detached from the queue and calls the completion
 * functions outside the lock (a completion may free its request, so the
 * next link is read first).
 */
#include "util/fmacros.h"

#include <sys/prctl.h>

#include "meta/intake.h"
#include "util/log.h"
#include "util/mem.h"

struct intake {
	struct store *st;          /* the committer's connection */
	int64_t repeat_window;     /* seconds */
	void (*on_commit)(void *); /* after a group that created requests */
	void *arg;                 /* for on_commit */
	pthread_t thr;             /* the committer */
	pthread_mutex_t mu;        /* guards everything below */
	pthread_cond_t work;       /* queue became non-empty, or stop */
	struct intake_req *head;   /* queue, oldest first */
	struct intake_req *tail;   /* last queued */
	bool stop;                 /* finish and exit */
	int64_t groups;            /* groups committed */
};

/* Find or create each request of @group in one transaction. */
static lethe_rc
commit_group(struct intake *in, struct intake_req *group, bool *created)
{
	struct intake_req *r;
	struct lethe_err err = {0};
	lethe_rc rc;

	*created = false;
	rc = store_begin(in->st, &err);
	for (r = group; rc == LETHE_OK && r != NULL; r = r->next) {
		struct store_meta_req found;

		rc = store_meta_find(in->st, r->app, r->subject, r->now - in->repeat_window, &found,
		                     &err);
		if (rc == LETHE_OK) {
			snprintf(r->code, sizeof(r->code), "%.*s", META_CODE_LEN, found.code);
			r->created = false;
			continue;
		}
		if (rc != LETHE_E_NOTFOUND)
			break;
		meta_code_new(r->code);
		r->created = true;
		*created = true;
		rc = store_meta_insert(in->st, r->code, r->app, r->subject, r->box, r->boxlen,
		                       r->now, &err);
	}
	if (rc == LETHE_OK)
		rc = store_commit(in->st, &err);
	if (rc != LETHE_OK) {
		store_rollback(in->st);
		log_warnx("intake: a group of requests could not be stored: %s", err.msg);
	}
	return rc;
}

static void *
committer(void *arg)
{
	struct intake *in = arg;

	prctl(PR_SET_NAME, "lethe-intake", 0, 0, 0); /* name in top and perf */
	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct intake_req *group, *r;
		bool created = false;
		lethe_rc rc;

		while (in->head == NULL && !in->stop)
			pthread_cond_wait(&in->work, &in->mu);
		if (in->head == NULL)
			break;
		group = in->head;
		in->head = in->tail = NULL;
		pthread_mutex_unlock(&in->mu);

		rc = commit_group(in, group, &created);

		for (r = group; r != NULL;) {
			struct intake_req *next = r->next;

			r->rc = rc;
			r->done(r);
			r = next;
		}
		if (rc == LETHE_OK && created && in->on_commit != NULL)
			in->on_commit(in->arg);
		pthread_mutex_lock(&in->mu);
		in->groups++;
	}
	pthread_mutex_unlock(&in->mu);
	return NULL;
}

lethe_rc
intake_start(const char *path, int64_t repeat_window, void (*on_commit)(void *), void *arg,
             struct intake **out, struct lethe_err *err)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	lethe_rc rc;

	*out = NULL;
	rc = store_open(path, &in->st, err);
	if (rc == LETHE_OK)
		rc = store_set_durable(in->st, err);
	if (rc != LETHE_OK) {
		store_close(in->st);
		free(in);
		return rc;
	}
	in->repeat_window = repeat_window;
	in->on_commit = on_commit;
	in->arg = arg;
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->work, NULL);
	if (pthread_create(&in->thr, NULL, committer, in) != 0) {
		store_close(in->st);
		free(in);
		return lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the intake thread");
	}
	*out = in;
	return LETHE_OK;
}

void
intake_submit(struct intake *in, struct intake_req *r)
{
	r->rc = LETHE_E_UNAVAILABLE;
	r->next = NULL;
	pthread_mutex_lock(&in->mu);
	if (in->stop) {
		pthread_mutex_unlock(&in->mu);
		r->done(r);
		return;
	}
	if (in->tail != NULL)
		in->tail->next = r;
	else
		in->head = r;
	in->tail = r;
	if (in->head == r)
		pthread_cond_signal(&in->work);
	pthread_mutex_unlock(&in->mu);
}

void
intake_stop(struct intake *in)
{
	if (in == NULL)
		return;
	pthread_mutex_lock(&in->mu);
	if (in->stop) {
		pthread_mutex_unlock(&in->mu);
		return;
	}
	in->stop = true;
	pthread_cond_broadcast(&in->work);
	pthread_mutex_unlock(&in->mu);
	pthread_join(in->thr, NULL);
}

void
intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	intake_stop(in);
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->work);
	store_close(in->st);
	free(in);
}

int64_t
intake_groups(struct intake *in)
{
	int64_t n;

	pthread_mutex_lock(&in->mu);
	n = in->groups;
	pthread_mutex_unlock(&in->mu);
	return n;
}
