/* SPDX-License-Identifier: MIT */
/*
 * service_scan.c - `lethe scan`: the residual scan of one person on demand,
 * the runner's own check after each request's erasure (jobs/scan_work.h
 * scan_work_run()), once the identities' kinds are checked against the
 * scope as a request's are.  Only reads the app database; opens no state
 * store, writes nothing, logs nothing of the identities.
 */
#include "util/fmacros.h"

#include "engine/scan.h"
#include "jobs/scan_work.h"
#include "service/service_internal.h"
#include "util/buf.h"

lethe_rc
service_scan(struct service *svc, const char *scope, const struct plan_id *ids, size_t nids,
             json_t **out, struct lethe_err *err)
{
	struct scan_result res;
	struct plan *p = NULL;
	lethe_rc rc;

	*out = NULL;
	memset(&res, 0, sizeof(res));
	rc = service__default_scope(svc->dm, scope, &scope, err);
	/* The kinds the scope takes, checked as a request's are when it is taken (not counted). */
	if (rc == LETHE_OK)
		rc = plan_build(svc->dm, svc->db, scope, ids, nids, false, &p, err);
	plan_free(p);
	if (rc == LETHE_OK)
		rc = scan_work_run(svc->dm, svc->db, scope, ids, nids, &res, err);
	if (rc == LETHE_OK)
		rc = plan_check_one_person(svc->dm, svc->db, ids, nids, err);
	if (rc == LETHE_OK) {
		*out = scan_result_json(&res);
		json_object_set_new(*out, "scope", json_string(scope));
	}
	scan_result_free(&res);
	return rc;
}
