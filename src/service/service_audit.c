/* SPDX-License-Identifier: MIT */
/*
 * service_audit.c - the audit chain's actions for the front ends (see
 * service.h, "the audit chain"): verify it, sign a checkpoint, the latest
 * signed head and the published keys document, plus the last checkpoint
 * `lethe serve` signs as it stops (docs/internals/proof.md).  Each takes
 * st_mu around its use of the shared state store.
 */
#include "util/fmacros.h"

#include "audit/chain.h"
#include "service/service_internal.h"
#include "util/log.h"
#include "util/timeutil.h"

/* The keys of @svc's configuration, or NULL with LETHE_E_CONFIG in @err. */
static const struct keys_ring *
audit_keys(struct service *svc, struct lethe_err *err)
{
	const struct keys_ring *kr = svc->cfg->proof.keys;

	if (kr == NULL)
		lethe_err_set(err, LETHE_E_CONFIG,
		              "the signing keys are not loaded (proof.signing_key_file)");
	return kr;
}

lethe_rc
service_audit_verify(struct service *svc, const json_t *head, struct chain_report *rep,
                     struct lethe_err *err)
{
	const struct keys_ring *kr = audit_keys(svc, err);
	lethe_rc rc;

	memset(rep, 0, sizeof(*rep));
	if (kr == NULL)
		return err->rc;
	pthread_mutex_lock(&svc->st_mu);
	rc = service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = chain_verify(svc->st, kr, head, svc->cfg->proof.checkpoint_interval, rep, err);
	pthread_mutex_unlock(&svc->st_mu);
	return rc;
}

lethe_rc
service_audit_checkpoint(struct service *svc, int64_t *seq, bool *made, struct lethe_err *err)
{
	const struct keys_ring *kr = audit_keys(svc, err);
	struct store_audit_checkpoint last;
	lethe_rc rc;

	*seq = 0;
	*made = false;
	if (kr == NULL)
		return err->rc;
	pthread_mutex_lock(&svc->st_mu);
	rc = service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = chain_checkpoint(svc->st, kr, time_now(), false, seq, err);
	*made = rc == LETHE_OK && *seq > 0;
	/* Nothing new to sign: the head is the latest checkpoint's. */
	if (rc == LETHE_OK && *seq == 0) {
		rc = store_audit_checkpoint_latest(svc->st, &last, err);
		if (rc == LETHE_OK)
			*seq = last.seq;
		if (rc == LETHE_E_NOTFOUND)
			rc = LETHE_OK;
	}
	pthread_mutex_unlock(&svc->st_mu);
	return rc;
}

lethe_rc
service_audit_head(struct service *svc, json_t **out, struct lethe_err *err)
{
	lethe_rc rc;

	*out = NULL;
	pthread_mutex_lock(&svc->st_mu);
	rc = service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = chain_head_json(svc->st, out, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_E_NOTFOUND)
		lethe_err_set(err, LETHE_E_NOTFOUND,
		              "no checkpoint of the audit chain is signed yet");
	return rc;
}

json_t *
service_keys_json(struct service *svc)
{
	return svc->cfg->proof.keys != NULL ? keys_ring_json(svc->cfg->proof.keys) : NULL;
}

void
service__audit_final(struct service *svc)
{
	struct lethe_err err = {0};
	int64_t seq = 0;

	if (svc->st == NULL || svc->cfg->proof.keys == NULL)
		return;
	pthread_mutex_lock(&svc->st_mu);
	if (chain_checkpoint(svc->st, svc->cfg->proof.keys, time_now(), false, &seq, &err) !=
	    LETHE_OK)
		log_warnx("audit: no checkpoint signed at stop: %s", err.msg);
	else if (seq > 0)
		log_info("audit: checkpoint of entry %lld signed at stop", (long long)seq);
	pthread_mutex_unlock(&svc->st_mu);
}
