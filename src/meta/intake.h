/* SPDX-License-Identifier: MIT */
/*
 * intake.h - durable intake of Meta data-deletion requests with group commit.
 *
 * HTTP handlers submit requests without waiting.  A committer thread takes
 * everything queued and finds or creates each request in ONE state-store
 * transaction; a syncer thread then makes every committed group durable
 * with one fdatasync of the WAL and calls each request's completion
 * function.  The server answers with a confirmation code only from there,
 * so only once the code can be looked up after a crash.  Thread-safe: any
 * number of threads may call intake_submit().
 */
#ifndef LETHE_META_INTAKE_H
#define LETHE_META_INTAKE_H

#include <pthread.h>

#include "meta/requests.h"
#include "util/hash.h"
#include "store/store.h"

/* One request on its way in; owned by the submitter, untouched after @done. */
struct intake_req {
	const char *app;                    /* app family */
	char subject[HASH_TEXT_LEN + 1];    /* keyed hash of (app, user id) */
	const uint8_t *box;                 /* sealed user id */
	size_t boxlen;                      /* its length */
	int64_t now;                        /* receipt time */
	void (*done)(struct intake_req *r); /* called once when durable or failed */
	char code[META_CODE_LEN + 1];       /* out: the confirmation code */
	bool created;                       /* out: new (false: a repeat) */
	int64_t id;                         /* out: the new request's id (if created) */
	lethe_rc rc;                        /* out: LETHE_OK once durable */
	struct intake_req *next;            /* queue link */
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
/*
 * Queue @r.  r->done(r) is called exactly once: on the syncer thread once
 * the group holding @r is durable (r->rc LETHE_OK) or its fsync failed; on
 * the committer thread if its transaction failed; or at once on the calling
 * thread with LETHE_E_UNAVAILABLE if the intake is stopping or an earlier
 * fsync failed (see intake.c: such a failure is permanent until restart).
 */
void intake_submit(struct intake *in, struct intake_req *r);
/* Finish queued work and stop the thread; later submits fail at once. */
void intake_stop(struct intake *in);
/* Close and free a stopped intake.  NULL is a no-op. */
void intake_free(struct intake *in);
/* Groups committed so far (for /metrics). */
int64_t intake_groups(struct intake *in);
/* WAL fsyncs so far; each made one or more groups durable (for /metrics). */
int64_t intake_syncs(struct intake *in);

#endif /* LETHE_META_INTAKE_H */
