/* SPDX-License-Identifier: MIT */
/*
 * service_import.c - Meta ids imported from the command line (`lethe
 * import-meta-ids`), each as if Meta had called the data-deletion callback
 * for it (see service.h).
 *
 * A request is made as the callback makes it (the subject and the sealed
 * id: service_meta_prepare()), and a repeat within the repeat window
 * resolves to the request it repeats (seen_lookup(), as the intake's
 * committer does), which runs once more.  The whole import is one
 * transaction of the state store; the requests then run on the calling
 * thread (runner_drain()) unless a running server has them.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "service/service_internal.h"
#include "util/timeutil.h"

lethe_rc
service_import_begin(struct service *svc, struct lethe_err *err)
{
	lethe_rc rc;

	rc = service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_begin(svc->st, err);
	if (rc == LETHE_OK) {
		svc->seen = seen_new();
		rc = seen_load(svc->seen, svc->st, time_now() - svc->cfg->meta_repeat, err);
	}
	return rc;
}

lethe_rc
service_import_add(struct service *svc, const struct meta_app *app, const char *user_id,
                   char code[META_CODE_LEN + 1], bool *repeat, struct lethe_err *err)
{
	struct intake_req in;
	struct store_request found;
	lethe_rc rc;

	memset(&in, 0, sizeof(in));
	service_meta_prepare(svc, app, user_id, &in);
	*repeat = false;
	rc = seen_lookup(svc->seen, svc->st, app->name, in.subject, in.now - svc->cfg->meta_repeat,
	                 &found, err);
	if (rc == LETHE_OK) {
		/* As a Meta repeat: the same request, run once more. */
		snprintf(code, META_CODE_LEN + 1, "%.*s", META_CODE_LEN, found.code);
		rc = store_meta_rerun(svc->st, found.code, found.runs + 1, in.box, in.boxlen,
		                      in.now, NULL, err);
		*repeat = true;
	} else if (rc == LETHE_E_NOTFOUND) {
		int64_t rid = 0;
		bool added = false;

		meta_code_new(code, in.now);
		rc = store_meta_insert_once(svc->st, code, app->name, in.subject, in.box, in.boxlen,
		                            in.now, service__meta_deadline(svc->cfg), &rid, &added,
		                            err);
		if (rc == LETHE_OK && added)
			rc = store_meta_set_source(svc->st, rid, "import", err);
		if (rc == LETHE_OK)
			seen_add(svc->seen, in.subject, rid);
	}
	sodium_memzero((void *)in.box, in.boxlen);
	free((void *)in.box);
	return rc;
}

lethe_rc
service_import_end(struct service *svc, bool ok, struct lethe_err *err)
{
	if (ok)
		return store_commit(svc->st, err);
	if (svc->st != NULL)
		store_rollback(svc->st);
	return LETHE_OK;
}

lethe_rc
service_import_drain(struct service *svc, int64_t *done, int64_t *elsewhere, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;

	/* The channels it erases are disconnected: their jobs are sealed with the outbox key. */
	if (svc->dm->channel != NULL && svc->cfg->outbox.key_loaded)
		rc = outbox_key_check(svc->cfg, svc->st, err);
	if (rc == LETHE_OK)
		rc = runner_drain(svc->cfg, svc->dm, done, elsewhere, err);
	return rc;
}

lethe_rc
service_import_nobody(struct service *svc, const char (*codes)[META_CODE_LEN + 1], size_t n,
                      int64_t *nobody, struct lethe_err *err)
{
	struct store_request req;
	size_t i;
	lethe_rc rc = LETHE_OK;

	*nobody = 0;
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		rc = store_request_by_code(svc->st, codes[i], &req, err);
		if (rc == LETHE_OK && req.no_data)
			(*nobody)++;
	}
	return rc;
}
