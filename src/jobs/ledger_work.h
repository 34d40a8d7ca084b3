/* SPDX-License-Identifier: MIT */
/*
 * ledger_work.h - the runner's share of the ledger of erased people:
 * before a request's erasure, its people's rows as keyed hashes
 * (engine/ledger.h), so that a backup restored later cannot bring them
 * back unseen (docs/proof.md).
 */
#ifndef LETHE_JOBS_LEDGER_WORK_H
#define LETHE_JOBS_LEDGER_WORK_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/plan.h"
#include "store/store.h"

/*
 * Before request @request_id's erasure in scope @scope of the @nids
 * identities @ids: record its pending ledger entries, read from @db first
 * (no state-store lock held meanwhile), then written in short state-store
 * transactions (a request resumed after a crash records them again,
 * replacing the earlier ones).  The completion transaction makes them
 * erased (store_ledger_finish()).
 */
lethe_rc ledger_work_before(const struct lethe_config *cfg, const struct datamap *dm,
                            struct appdb *db, struct store *st, int64_t request_id,
                            const char *scope, const struct plan_id *ids, size_t nids,
                            struct lethe_err *err);

/*
 * After a completion transaction that erased rows moved the state store's
 * restore epoch to @epoch (store_restore_epoch()): move the app database's
 * restore marker with it: created by the first (@epoch 1), then moved
 * only if it was at @epoch - 1 (a marker behind, or none, is a restore
 * the next start of lethe serve looks for).  A failure is logged at debug
 * level only: at worst the next start looks once for nothing.
 */
void ledger_work_marker(struct appdb *db, int64_t epoch);

#endif /* LETHE_JOBS_LEDGER_WORK_H */
