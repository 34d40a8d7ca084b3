/* SPDX-License-Identifier: MIT */
/*
 * intake.h - durable intake of Meta data-deletion requests with group commit.
 *
 * HTTP handlers submit requests without waiting.  A committer thread takes
 * everything queued as one group, finds repeats, appends the new requests
 * to an intake log (two files beside the state store), makes the group
 * durable with one fdatasync and calls each request's completion function;
 * an indexer thread then moves the durable requests into the state store
 * in large transactions.  The server
 * answers with a confirmation code only once its request is in the synced
 * log, so only once the code can be looked up after a crash: intake_start()
 * replays whatever the log holds that the store does not.  Thread-safe: any
 * number of threads may call intake_submit().  Details: intake.c and
 * docs/internals/jobs.md.
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
	lethe_rc rc;                        /* out: LETHE_OK once durable */
	struct intake_req *next;            /* queue link */
};

struct intake;

/*
 * Replay the intake log of the state store at @path (a file or a
 * postgresql:// URL) into the store, then start the threads.  The log's
 * files are named after @files (config's state_files: @path itself for a
 * SQLite store).  Repeats of (app, subject) received within
 * @repeat_window seconds resolve to the same request; a request is due
 * @deadline_s after its receipt (the policy of Meta's requests).  @on_commit (may be
 * NULL) runs on the indexer thread after each batch it moved into the store.
 */
lethe_rc intake_start(const char *path, const char *files, int64_t repeat_window,
                      int64_t deadline_s, void (*on_commit)(void *), void *arg, struct intake **out,
                      struct lethe_err *err);
/*
 * Queue @r.  r->done(r) is called exactly once: on the committer thread
 * once the group holding @r is durable (r->rc LETHE_OK) or its write or
 * fsync failed, or when too many requests wait for the state store
 * (INTAKE_PENDING_MAX: LETHE_E_UNAVAILABLE); or at once on the calling
 * thread with LETHE_E_UNAVAILABLE if the intake is stopping or an earlier
 * fsync failed (see intake_threads.c: such a failure is permanent until restart).
 */
void intake_submit(struct intake *in, struct intake_req *r);
/* Finish queued work and stop the thread; later submits fail at once. */
void intake_stop(struct intake *in);
/* Close and free a stopped intake.  NULL is a no-op. */
void intake_free(struct intake *in);
/*
 * Wait (at most @timeout_ms) until every request answered so far is in the
 * state store: a lookup by code that found nothing calls this and looks
 * again.  Returns at once when nothing waits for the indexer.
 */
void intake_settle(struct intake *in, int timeout_ms);
/*
 * Hold the indexer (@hold true) or let it go on: held, requests stay in the
 * log only, and a stop leaves them there for the next start to replay.  For
 * tests of that replay.
 */
void intake_hold_index(struct intake *in, bool hold);
/*
 * True while requests arrive at INTAKE_BUSY_RATE per second or more
 * (measured over windows of at least 100 ms, by this call or by the writer,
 * which gathers larger groups then).  For the runner, which yields to a
 * flood.  Takes a void * for that callback.
 */
bool intake_busy(void *intake);
#define INTAKE_BUSY_RATE 2000
/* Past this many requests written and not yet in the state store, new ones get 503. */
#define INTAKE_PENDING_MAX 65536
/* Groups written to the log so far (for /metrics). */
int64_t intake_groups(struct intake *in);
/* Log fsyncs so far; each made one or more groups durable (for /metrics). */
int64_t intake_syncs(struct intake *in);
/* Requests in the log not yet in the state store (for /metrics). */
int64_t intake_pending(struct intake *in);
/* A request answered with a code and not yet in the state store. */
struct intake_found {
	char app[64];        /* its app family */
	int64_t received_at; /* its receipt time */
};
/*
 * True (and *@out filled) if the request with confirmation code @code is in
 * the intake log and not yet in the state store: a status lookup that did
 * not find @code in the store asks here, so a code answered while the store
 * cannot be written (a full disk) still has its page.  A pending request
 * stays findable here until the store has it (so asking the store, then
 * here, then the store again misses nothing).  Scans the pending requests
 * under the map's lock: for lookups that missed the store only.
 */
bool intake_find_code(struct intake *in, const char *code, struct intake_found *out);
/*
 * NULL while the intake takes requests and its indexer moves them into the
 * state store; otherwise why not, as a static text for /readyz: the intake
 * refuses every request until a restart (a failed fsync), its last write to
 * the log failed (until a write succeeds), too many requests wait for the
 * store, or the indexer's last transaction failed (the state store cannot be
 * written: a full disk).
 */
const char *intake_trouble(struct intake *in);
/* The log files of the state store at @path: @i is 0 or 1 (malloc'd). */
char *intake_log_path(const char *path, int i);

#endif /* LETHE_META_INTAKE_H */
