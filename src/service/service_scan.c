/* SPDX-License-Identifier: MIT */
/*
 * service_scan.c - `lethe scan`: the residual scan of one person on demand
 * (engine/scan.h), the same check the runner makes after each request's
 * erasure.  Only reads the app database; opens no state store, writes
 * nothing, logs nothing of the identities.
 */
#include "util/fmacros.h"

#include "engine/scan.h"
#include "service/service_internal.h"

lethe_rc
service_scan(struct service *svc, const char *scope, const struct plan_id *ids, size_t nids,
             struct scan_result *out, struct lethe_err *err)
{
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	rc = scan_run(svc->dm, svc->db, scope != NULL ? scope : "account", ids, nids, out, err);
	if (rc == LETHE_OK)
		rc = plan_check_one_person(svc->dm, svc->db, ids, nids, err);
	if (rc != LETHE_OK)
		scan_result_free(out);
	return rc;
}
