/* SPDX-License-Identifier: MIT */
/*
 * job.h - what the request threads share (the runner, the exporter and a
 * restriction's run): counting a request's failures in a row, and moving a
 * request through a transition in a transaction of its own.
 *
 * A struct job_fails belongs to one thread; the functions that take a
 * store use the caller's connection, on the caller's thread.
 */
#ifndef LETHE_JOBS_JOB_H
#define LETHE_JOBS_JOB_H

#include "store/store.h"
#include "util/fmacros.h"
#include "util/rc.h"

#define JOB_FAILS_MAX 3      /* a request whose run fails this often in a row fails */
#define JOB_FAILS_TRACKED 16 /* requests whose failures are counted at once */

/* The failures in a row of the requests a thread runs (zeroed: none). */
struct job_fails {
	struct {
		int64_t id; /* a request whose run failed, 0: a free slot */
		int n;      /* ... this many times in a row */
	} t[JOB_FAILS_TRACKED];
};

/*
 * Count a failed run of request @id in @f; true once it failed
 * JOB_FAILS_MAX times in a row (its count starts over).  @ok: it
 * succeeded, forget it (false).  Past JOB_FAILS_TRACKED requests, the one
 * with the fewest failures is forgotten.
 */
bool job_fails_count(struct job_fails *f, int64_t id, bool ok);
/*
 * Apply @t to request @id in a transaction of its own
 * (store_request_transition()); *@applied says whether it did (false: the
 * request is no longer in t->from).
 */
lethe_rc job_transition(struct store *st, int64_t id, const struct store_transition *t,
                        bool *applied, struct lethe_err *err);
/*
 * The move of a request from one of the states @from (comma separated) to
 * the final state @to: actor lethe, completed at @now, with @reason (or
 * NULL); deadline, expiry and effects left as they are.
 */
struct store_transition job_final(const char *from, const char *to, const char *reason,
                                  int64_t now);
/*
 * Move request @id from one of the states @from (comma separated) to the
 * final state @to, actor lethe, completed now, with @reason (or NULL), in
 * a transaction of its own; *@applied (may be NULL) says whether it did.
 */
lethe_rc job_finish(struct store *st, int64_t id, const char *from, const char *to,
                    const char *reason, bool *applied, struct lethe_err *err);
/* Room for job_fail_reason()'s text: its words and a struct lethe_err message. */
#define JOB_REASON_MAX (LETHE_ERR_MAX + 256)

/*
 * The reason of a request whose @what ("erasure", "export") failed
 * JOB_FAILS_MAX times in a row, into @out (JOB_REASON_MAX bytes).  @why:
 * what the last run failed on, written for operators and safe to keep in
 * the request (a media store's failure: the store named, never a key, no
 * person), "the failure; retry the request"; NULL or "": an internal
 * failure whose detail only the log has, "the failure; see the log, then
 * retry it".
 */
void job_fail_reason(const char *what, const char *why, char out[JOB_REASON_MAX]);
/*
 * job_finish() to "failed" with @reason, and once applied log_warnx()
 * "request ID: failed: REASON" (@reason names no person).
 */
lethe_rc job_fail(struct store *st, int64_t id, const char *from, const char *reason,
                  struct lethe_err *err);

/*
 * *@state: "completed" or "completed_with_retention" if erase job @job
 * ended so, else NULL (running, failed, gone).  An error only if the store
 * could not be read.
 */
lethe_rc job_ended_state(struct store *st, int64_t job, const char **state, struct lethe_err *err);

#endif /* LETHE_JOBS_JOB_H */
