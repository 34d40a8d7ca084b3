/* SPDX-License-Identifier: MIT */
/*
 * ledger_work.c - the runner's share of the ledger of erased people (see
 * ledger_work.h): before a request's erasure, its person's rows as keyed
 * hashes (engine/ledger.h), pending in the state store until the
 * request's completion transaction makes them erased.
 */
#include "util/fmacros.h"

#include "engine/ledger.h"
#include "jobs/ledger_work.h"
#include "util/log.h"
#include "util/timeutil.h"

lethe_rc
ledger_work_before(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                   struct store *st, int64_t request_id, const char *scope,
                   const struct plan_id *ids, size_t nids, struct lethe_err *err)
{
	int64_t n = 0;
	lethe_rc rc;

	rc = store_begin(st, err);
	if (rc != LETHE_OK)
		return rc;
	rc =
	    ledger_collect(dm, db, st, cfg->key, request_id, scope, ids, nids, time_now(), &n, err);
	if (rc == LETHE_OK)
		rc = store_commit(st, err);
	else
		store_rollback(st);
	if (rc == LETHE_OK && n > 0)
		log_debug("request %lld: %lld rows in the ledger", (long long)request_id,
		          (long long)n);
	return rc;
}
