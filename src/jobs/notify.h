/* SPDX-License-Identifier: MIT */
/*
 * notify.h - notices to the recipients of erased data (GDPR Art. 19):
 * signed webhooks delivered through the outbox, with its retries and dead
 * letters (docs/proof.md, docs/internals/proof.md "Notices to recipients").
 *
 * notify_queue() runs in the runner's completion transaction: one outbox
 * job of kind "notify" per recipient (disconnect 0, platform = the
 * recipient's name), its payload (the recipient's name and the exact JSON
 * body to POST) sealed under the outbox key.  notify_deliver() runs one
 * such job for the outbox (jobs/outbox.c): it signs the body, POSTs it and
 * records the outcome in the job.
 */
#ifndef LETHE_JOBS_NOTIFY_H
#define LETHE_JOBS_NOTIFY_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "engine/plan.h"
#include "store/store.h"

#define NOTIFY_KIND "notify"             /* the outbox kind of a notice */
#define NOTIFY_BODY_MAX (1u << 20)       /* a notice's body at most (bytes) */
#define NOTIFY_EVENT "erasure.completed" /* the body's "event" */

/*
 * In the caller's transaction, after request @request_id's final transition
 * to @state: queue one outbox job (kind "notify") per recipient of
 * proof.recipients whose events include @state, its body (with the values
 * of @ids of the kinds the recipient receives, and the signed receipt)
 * sealed under the outbox key.  Nothing without recipients, and nothing for
 * a request that is not an erasure.  LETHE_E_CONFIG if a notice is due but
 * the outbox key or the signing key is not loaded (the caller rolls back:
 * nothing is lost).  @now (epoch s) is the completion time.
 */
lethe_rc notify_queue(const struct lethe_config *cfg, const struct datamap *dm, struct store *st,
                      int64_t request_id, const char *state, const struct plan_id *ids, size_t nids,
                      int64_t now, struct lethe_err *err);

/*
 * The body of a notice as notify_queue() makes it, for tests and tools:
 * canonical JSON (caller frees) of {"event", "request": {"id", "kind",
 * "scope", "state", "completed_at"}, "identities": [{"kind", "value"}...]
 * (those of @ids whose kind @r receives, in @ids' order), "receipt"}, the
 * receipt envelope @receipt (borrowed; NULL: no "receipt" member).  NULL
 * if the body would exceed NOTIFY_BODY_MAX.
 */
char *notify_body(const struct proof_recipient *r, int64_t id, const char *kind, const char *scope,
                  const char *state, int64_t completed_at, const struct plan_id *ids, size_t nids,
                  const json_t *receipt);

/*
 * The Lethe-Signature header's value for @body (@len bytes) sent at @t
 * (epoch s): "t=T,key=ID,ed25519=B64", the signature over "T.BODY" by the
 * current key of @cfg->proof.keys, into @out (@cap bytes).
 * LETHE_E_CONFIG if no signing key is loaded.
 */
lethe_rc notify_signature(const struct lethe_config *cfg, const char *body, size_t len, int64_t t,
                          char *out, size_t cap, struct lethe_err *err);

/*
 * Run notify job @j for the outbox: @j was claimed with its box.  Opens the
 * sealed payload (LETHE_E_FORBIDDEN, @j untouched, if it is not sealed
 * under this outbox key: the outbox leaves it for a process with the right
 * key), then POSTs the body to the recipient with a fresh signature, bounded
 * by proof.notify_timeout and @deadline_ms (epoch ms, 0: none), and writes
 * the result into @j: 2xx done ("delivered"); 4xx other than 408/429, a
 * redirect, or a recipient no longer configured dead ("rejected");
 * 408/429/5xx and transport failures retried with the outbox's backoff
 * (dead after outbox.max_attempts / max_age).  Thread-safe.
 */
lethe_rc notify_deliver(const struct lethe_config *cfg, struct store_outbox *j,
                        int64_t deadline_ms);

#endif /* LETHE_JOBS_NOTIFY_H */
