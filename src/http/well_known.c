/* SPDX-License-Identifier: MIT */
/*
 * well_known.c - the public proof documents under /.well-known/lethe/
 * (docs/proof.md): keys.json, the Ed25519 public keys that sign receipts
 * and audit checkpoints, and audit-head.json, the latest signed head of the
 * audit chain (404 before the first checkpoint).  No API key: anyone who
 * checks a receipt or the chain needs them.
 */
#include "util/fmacros.h"

#include "http/server_internal.h"
#include "service/service.h"

void
http_well_known(struct server *s, struct request *r)
{
	struct lethe_err err = {0};
	json_t *doc = NULL;
	lethe_rc rc;

	if (strcmp(r->path, "/.well-known/lethe/keys.json") == 0) {
		doc = service_keys_json(s->svc);
		if (doc == NULL) {
			http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found",
			                  "no signing keys are configured");
			return;
		}
		http_reply_json(r, MHD_HTTP_OK, doc);
		return;
	}
	if (strcmp(r->path, "/.well-known/lethe/audit-head.json") == 0) {
		rc = service_audit_head(s->svc, &doc, &err);
		if (rc == LETHE_E_NOTFOUND) {
			http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found",
			                  "no checkpoint of the audit chain is signed yet");
			return;
		}
		if (rc != LETHE_OK) {
			http_reply_error(r, rc, "the audit chain cannot be read now");
			return;
		}
		http_reply_json(r, MHD_HTTP_OK, doc);
		return;
	}
	http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found", "no such document");
}
