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

/* The scope to scan: @scope, else "account" when the map has it, else a usage error. */
static lethe_rc
scan_scope(const struct datamap *dm, const char *scope, const char **out, struct lethe_err *err)
{
	struct buf names;
	size_t i;
	lethe_rc rc;

	*out = scope;
	if (scope != NULL)
		return LETHE_OK;
	if (datamap_scope(dm, "account") != NULL) {
		*out = "account";
		return LETHE_OK;
	}
	buf_init(&names, 4096);
	for (i = 0; i < dm->nscopes; i++)
		buf_addf(&names, "%s%s", i ? ", " : "", dm->scopes[i].name);
	rc = lethe_err_set(err, LETHE_E_USAGE,
	                   "the data map %s has no scope 'account': say which scope to scan "
	                   "with --scope (its scopes: %s)",
	                   dm->path, buf_str(&names));
	buf_free(&names);
	return rc;
}

lethe_rc
service_scan(struct service *svc, const char *scope, const struct plan_id *ids, size_t nids,
             json_t **out, struct lethe_err *err)
{
	struct scan_result res;
	struct plan *p = NULL;
	lethe_rc rc;

	*out = NULL;
	memset(&res, 0, sizeof(res));
	rc = scan_scope(svc->dm, scope, &scope, err);
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
