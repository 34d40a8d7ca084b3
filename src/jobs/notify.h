/* SPDX-License-Identifier: MIT */
/*
 * notify.h - notices to the recipients of erased data (GDPR Art. 19):
 * signed webhooks delivered through the outbox, with its retries and dead
 * letters (docs/proof.md).
 */
#ifndef LETHE_JOBS_NOTIFY_H
#define LETHE_JOBS_NOTIFY_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "engine/plan.h"
#include "store/store.h"

/*
 * In the caller's transaction, after request @request_id's final transition
 * to @state: queue one outbox job (kind "notify") per recipient of
 * proof.recipients whose events include @state, its body (with the values
 * of @ids of the kinds the recipient receives, and the signed receipt)
 * sealed under the outbox key.  Nothing without recipients.
 */
lethe_rc notify_queue(const struct lethe_config *cfg, const struct datamap *dm, struct store *st,
                      int64_t request_id, const char *state, const struct plan_id *ids, size_t nids,
                      int64_t now, struct lethe_err *err);

#endif /* LETHE_JOBS_NOTIFY_H */
