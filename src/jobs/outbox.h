/* SPDX-License-Identifier: MIT */
/*
 * outbox.h - durable upstream work of channel disconnects: revoke a token,
 * remove a webhook subscription, purge the channel's derived data; and the
 * notices to proof.recipients of completed erasures (kind notify, run by
 * jobs/notify.c with its own sealed payload).
 *
 * Jobs live in the state store (store_outbox_*).  The secret a call needs
 * (token, account id, channel id) is kept only in the job's payload, sealed
 * with XChaCha20-Poly1305 under the outbox key, and the payload is dropped
 * when the job ends (done or dead).  A failed call is retried with
 * exponential backoff and full jitter until outbox.max_attempts calls or
 * outbox.max_age have passed; then the job is a dead letter.  A job is run
 * by one process at a time (a lease); a job whose process died is taken
 * over.  See docs/internals/outbox.md.
 *
 * outbox_start() runs a worker thread for `lethe serve`; outbox_drive()
 * runs the jobs of one disconnect in the caller's thread (`lethe
 * disconnect`).  Both use their own connections.
 */
#ifndef LETHE_OUTBOX_H
#define LETHE_OUTBOX_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/seal.h"

#define OUTBOX_TOKEN_MAX SEAL_TOKEN_MAX /* longest token a job carries */

/*
 * A job's payload is a sealed payload (util/seal.h, shared with the engine,
 * which seals when it queues jobs); these are its names in the outbox's API.
 */
#define outbox_payload seal_payload

/* Seal @p under @key for a job of @kind (seal_box()); the caller frees the box. */
static inline uint8_t *
outbox_seal(const uint8_t key[HASH_KEY_LEN], const char *kind, const struct outbox_payload *p,
            size_t *len)
{
	return seal_box(key, kind, p, len);
}

/* Open a box sealed by outbox_seal() (seal_open()); LETHE_E_FORBIDDEN if it does not verify. */
static inline lethe_rc
outbox_open(const uint8_t key[HASH_KEY_LEN], const char *kind, const uint8_t *box, size_t len,
            struct outbox_payload *out)
{
	return seal_open(key, kind, box, len, out);
}

/*
 * Check that the outbox key of @cfg is the one @st's jobs are sealed with (a
 * keyed hash of a constant is recorded on first use, never the key);
 * LETHE_E_CONFIG with a clear message if not.
 */
lethe_rc outbox_key_check(const struct lethe_config *cfg, struct store *st, struct lethe_err *err);

/*
 * Job @j's try failed with @outcome and @reason (no secret): pending again
 * after the backoff, or dead (with the reason) past outbox.max_attempts
 * tries or outbox.max_age.  For the runners of a kind of job (notify.c).
 */
void outbox_job_failed(const struct lethe_config *cfg, struct store_outbox *j, const char *outcome,
                       const char *reason);

/*
 * Delay before the next try after @failures failed calls (>= 1): full
 * jitter, a uniform draw from [0, min(cap, base * 2^(failures-1))] ms, using
 * @rnd (uniform 32 bits) as the random source.
 */
int64_t outbox_backoff_ms(const struct outbox_config *o, int64_t failures, uint32_t rnd);

/*
 * Run due jobs of disconnect @disconnect_id (0: any) once each in this
 * thread; *@ran gets the number of calls made.  @stop, if set, is polled
 * between jobs and by purges between batches.  @deadline_ms (epoch ms, 0:
 * none) bounds it all: no job starts after it, a call's timeout is cut to
 * the time left, a purge stops (resumably) at the first batch boundary past it.
 */
lethe_rc outbox_run_due(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                        struct store *st, int64_t disconnect_id, const char *owner,
                        const volatile int *stop, int64_t deadline_ms, int *ran,
                        struct lethe_err *err);

/*
 * Run the jobs of disconnect @disconnect_id until none is pending or
 * running, or @timeout_ms passed (LETHE_E_BUSY then).  Opens its own
 * connections from @cfg.  The outbox key and the anonymize key must be loaded.
 */
lethe_rc outbox_drive(const struct lethe_config *cfg, const struct datamap *dm,
                      int64_t disconnect_id, int64_t timeout_ms, struct lethe_err *err);

/* The worker thread of `lethe serve`. */
struct outbox;
/* Start the worker; it recovers staged disconnects and runs due jobs until stopped. */
lethe_rc outbox_start(const struct lethe_config *cfg, const struct datamap *dm, struct outbox **out,
                      struct lethe_err *err);
/* Wake the worker (new jobs); @arg is the struct outbox.  Thread-safe. */
void outbox_kick(void *arg);
/* Stop the worker between two jobs and free it; NULL is fine. */
void outbox_stop(struct outbox *o);

/* Append the outbox gauges (Prometheus text) read from @st to @b. */
void outbox_metrics(struct store *st, struct buf *b);

#endif /* LETHE_OUTBOX_H */
