/* SPDX-License-Identifier: MIT */
/*
 * service_proof.c - the receipts of finished requests as the front ends
 * ask for them (see service.h "receipts"): by confirmation code (the API's
 * GET /v1/requests/{id}/receipt and the status page's link) and by request
 * number (`lethe receipt show`).
 *
 * The receipt is made on demand under st_mu from what the state store
 * records (engine/receipt.h); nothing is written.  A Meta request's scope
 * is its app's (service__request_scope()).
 */
#include "util/fmacros.h"

#include "engine/receipt.h"
#include "meta/requests.h"
#include "service/service_internal.h"

lethe_rc
service_receipt(struct service *svc, const char *code, int64_t id, json_t **out,
                struct lethe_err *err)
{
	struct store_request req;
	lethe_rc rc;

	*out = NULL;
	if (code != NULL && !meta_code_ok(code))
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no request has this id");
	if (svc->cfg->proof.keys == NULL || !keys_ring_can_sign(svc->cfg->proof.keys))
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "no signing key is loaded (proof.signing_key_file): receipts "
		                     "cannot be signed");
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = code != NULL ? store_request_by_code(svc->st, code, &req, err)
		                  : store_request_get(svc->st, id, &req, err);
	if (rc == LETHE_OK)
		rc = receipt_for_request_scope(svc->dm, svc->st, svc->cfg->proof.keys,
		                               svc->cfg->public_url, req.id,
		                               service__request_scope(svc, &req), out, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no request has this id");
	return rc;
}
