/* SPDX-License-Identifier: MIT */
/*
 * runner.h - the background job runner of `lethe serve`.
 *
 * One thread with its own app-database and state-store connections takes
 * Meta data-deletion requests in arrival order, opens the sealed identity,
 * plans and runs the erasure of the app's scope, and records the outcome on
 * the request.  Unfinished requests (a crash, a shutdown) are simply picked
 * up again: erase_run() resumes the job.  runner_kick() is thread-safe.
 */
#ifndef LETHE_JOBS_RUNNER_H
#define LETHE_JOBS_RUNNER_H

#include "config/config.h"
#include "datamap/datamap.h"

struct runner;

/*
 * Called on the runner thread when a request completes, whatever its
 * source (Meta's or any other): seconds since receipt (of its latest run),
 * the state it completed in and its kind ("erasure", ...).
 */
typedef void (*runner_done_fn)(double seconds, const char *state, const char *kind);

/* Start the runner; @cfg and @dm must outlive it. */
lethe_rc runner_start(const struct lethe_config *cfg, const struct datamap *dm, runner_done_fn done,
                      struct runner **out, struct lethe_err *err);
/*
 * Before the runner's first request: @busy(@arg) says whether the intake is
 * under a flood; while it is, the runner works a twentieth of the time.
 */
void runner_set_busy(struct runner *r, bool (*busy)(void *), void *arg);
/* Wake the runner: new requests were stored. */
void runner_kick(void *runner);
/* Stop after the current batch and join; unfinished work resumes next start. */
void runner_stop(struct runner *r);

/*
 * Run every unfinished Meta request now, on the calling thread (for
 * `lethe import-meta-ids`); *@done counts the requests finished here,
 * *@elsewhere those whose job another process (a running server) holds.
 */
lethe_rc runner_drain(const struct lethe_config *cfg, const struct datamap *dm, int64_t *done,
                      int64_t *elsewhere, struct lethe_err *err);

#endif /* LETHE_JOBS_RUNNER_H */
