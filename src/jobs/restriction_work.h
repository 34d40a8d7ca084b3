/* SPDX-License-Identifier: MIT */
/*
 * restriction_work.h - what the runner does for a request of kind
 * `restriction` (GDPR Art. 18 and 21, docs/requests.md): its policy's
 * effects (the data map's `effects:`) applied, then the request completed;
 * it stays in force, its identities kept sealed, until it is lifted
 * (state `lifted`: the effects undone by the runner's housekeeping).
 */
#ifndef LETHE_JOBS_RESTRICTION_WORK_H
#define LETHE_JOBS_RESTRICTION_WORK_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "store/store.h"
#include "util/fmacros.h"
#include "util/rc.h"

/*
 * Run restriction request @req, already claimed (state `running`), for the
 * person sealed in @box (@boxlen bytes): apply its policy's effects if they
 * are due, then complete it (running -> completed), in transactions the
 * runner's crash recovery finds again; a request whose effects are not in
 * place (dropped, or none due) fails with a reason instead.  req->state
 * gets the state entered ("completed" or "failed"; unchanged if another
 * process finished it).  Returns what the runner's failure count takes:
 * LETHE_OK once the request is completed or failed with a reason.  The
 * runner thread's only (its own connections).
 */
lethe_rc restriction_work_run(const struct lethe_config *cfg, const struct datamap *dm,
                              struct appdb *db, struct store *st, struct store_request *req,
                              const uint8_t *box, size_t boxlen, struct lethe_err *err);

#endif /* LETHE_JOBS_RESTRICTION_WORK_H */
