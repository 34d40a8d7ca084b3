/* SPDX-License-Identifier: MIT */
/* ledger_work.c - PLACEHOLDER(issue 15): the ledger owner writes this file. */
#include "util/fmacros.h"

#include "jobs/ledger_work.h"

lethe_rc
ledger_work_before(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                   struct store *st, int64_t request_id, const char *scope,
                   const struct plan_id *ids, size_t nids, struct lethe_err *err)
{
	(void)cfg, (void)dm, (void)db, (void)st, (void)request_id, (void)scope, (void)ids,
	    (void)nids, (void)err;
	return LETHE_OK;
}
