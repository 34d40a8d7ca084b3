/* SPDX-License-Identifier: MIT */
/*
 * intake.h - durable intake of Meta data-deletion requests with group commit.
 *
 * HTTP handlers submit requests and block until theirs is durable; one
 * committer thread takes everything queued, finds or creates each request
 * in ONE state-store transaction with synchronous=FULL (one fsync for the
 * whole group), then wakes the handlers.  A handler therefore answers with
 * a confirmation code only once the code can be looked up after a crash.
 * Thread-safe: any number of threads may call intake_submit().
 */
#ifndef LETHE_META_INTAKE_H
#define LETHE_META_INTAKE_H

#include <pthread.h>

#include "meta/requests.h"
#include "store/store.h"

/* One request on its way in; lives on the submitting thread's stack. */
struct intake_req {
	const char *app;              /* app family */
	const char *subject;          /* keyed hash of (app, user id) */
	const uint8_t *box;           /* sealed user id */
	size_t boxlen;                /* its length */
	int64_t now;                  /* receipt time */
	char code[META_CODE_LEN + 1]; /* out: the confirmation code */
	bool created;                 /* out: new (false: a repeat) */
	lethe_rc rc;                  /* out: LETHE_OK once durable */
	bool done;                    /* out: the committer is finished with it */
	pthread_cond_t cv;            /* signalled when done (set up by intake_submit) */
	struct intake_req *next;      /* queue link */
};

struct intake;

/*
 * Start the committer on its own connection to the state store at @path.
 * Repeats of (app, subject) received within @repeat_window seconds resolve
 * to the same request.  @on_commit (may be NULL) runs on the committer
 * thread after each group that created requests.
 */
lethe_rc intake_start(const char *path, int64_t repeat_window, void (*on_commit)(void *), void *arg,
                      struct intake **out, struct lethe_err *err);
/* Submit @r and wait until it is durable (or failed: r->rc says). */
void intake_submit(struct intake *in, struct intake_req *r);
/* Finish queued work and stop the thread. */
void intake_stop(struct intake *in);
/* Groups committed so far (for /metrics). */
int64_t intake_groups(struct intake *in);

#endif /* LETHE_META_INTAKE_H */
