/* SPDX-License-Identifier: MIT */
/*
 * restriction_work.c - a restriction request's run (restriction_work.h).
 */
#include "util/fmacros.h"

#include "jobs/restriction_work.h"

lethe_rc
restriction_work_run(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                     struct store *st, struct store_request *req, const uint8_t *box, size_t boxlen,
                     struct lethe_err *err)
{
	/* PLACEHOLDER(issue 16): apply the effects, complete the request. */
	(void)cfg;
	(void)dm;
	(void)db;
	(void)st;
	(void)req;
	(void)box;
	(void)boxlen;
	return lethe_err_set(err, LETHE_E_INTERNAL, "restriction requests are not built yet");
}
