/* SPDX-License-Identifier: MIT */
/*
 * ledger_work.c - the runner's share of the ledger of erased people (see
 * ledger_work.h): before a request's erasure, its person's rows as keyed
 * hashes (engine/ledger.h), read from the app database first and then
 * written pending in short state-store transactions, until the request's
 * completion transaction makes them erased; after it, the app database's
 * restore marker.
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
	struct ledger_entries l;
	lethe_rc rc;

	/* The app database first, with no state-store lock held: callbacks and the API go on. */
	rc = ledger_collect(dm, db, cfg->key, scope, ids, nids, &l, err);
	if (rc != LETHE_OK)
		return rc;
	rc = ledger_record(st, &l, scope, request_id, time_now(), err);
	if (rc == LETHE_OK && l.n > 0)
		log_debug("request %lld: %zu rows in the ledger", (long long)request_id, l.n);
	ledger_entries_free(&l);
	return rc;
}

void
ledger_work_marker(struct appdb *db, int64_t epoch)
{
	struct lethe_err err = {0};
	/*
	 * The first erasure ever creates the marker (no earlier erasure can be
	 * undone by a restore); later ones move it only from the epoch before.
	 */
	lethe_rc rc = appdb_marker_set(db, epoch, epoch > 1 ? epoch - 1 : -1, &err);

	/* Not found: no marker, or one behind (a restore): the next start's look settles it. */
	if (rc != LETHE_OK && rc != LETHE_E_NOTFOUND)
		log_debug("the app database's restore marker was not moved: %s", err.msg);
}
