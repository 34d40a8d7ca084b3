/* SPDX-License-Identifier: MIT */
/*
 * restriction_work.c - a restriction request's run (restriction_work.h).
 *
 * A restriction erases nothing: its policy's effects (the data map's
 * `effects:`, e.g. users.processing_restricted = 1) are the request.  They
 * are usually applied already, by the runner's housekeeping as the request
 * was accepted (request_work_effects(), the same path as an erasure's
 * accept effects); what is left here is to apply them if they are still
 * due, then complete the request with one conditional transition (running
 * -> completed: the history and the audit entry come with it).
 *
 * Crash safety: the effects are recorded applied (column effects 2) in
 * their own statement after they were carried out, and the completion is
 * a transition from `running` only, so a run cut short anywhere is found
 * again by the runner (a running request is taken first) and finishes
 * exactly once: effects applied twice set the same values, a completion
 * that already happened matches no row.  The identities stay sealed in the
 * request (store_request_wipe() spares a completed restriction) until the
 * restriction is lifted and its effects undone.
 */
#include "util/fmacros.h"

#include "jobs/job.h"
#include "jobs/request_work.h"
#include "jobs/restriction_work.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Move @req from running to @to (completed or failed, with @reason); *@applied if it did. */
static lethe_rc
finish(struct store *st, const struct store_request *req, const char *to, const char *reason,
       bool *applied, struct lethe_err *err)
{
	return job_finish(st, req->id, "running", to, reason, applied, err);
}

lethe_rc
restriction_work_run(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                     struct store *st, struct store_request *req, const uint8_t *box, size_t boxlen,
                     struct lethe_err *err)
{
	struct store_request now;
	bool applied = false;
	lethe_rc rc = LETHE_OK;

	/* Still to apply (the housekeeping has not come to it yet): now, in this pass. */
	if (req->effects == STORE_EFFECTS_APPLY)
		rc = request_work_effects(cfg, dm, db, st, req, box, boxlen, err);
	if (rc != LETHE_OK)
		return rc;
	/* What the store says now: the effects must be in place before it says "in force". */
	rc = store_request_get(st, req->id, &now, err);
	if (rc != LETHE_OK)
		return rc;
	if (strcmp(now.state, "running") != 0)
		return LETHE_OK; /* another process finished it */
	if (now.effects != STORE_EFFECTS_APPLIED) {
		/* Dropped (the identity could not be opened) or never due (no effects). */
		rc = finish(st, &now, "failed",
		            "its effects could not be applied (its identity cannot be opened, or "
		            "its policy names none); see the log",
		            &applied, err);
		if (rc == LETHE_OK && applied) {
			log_warnx("request %lld: restriction failed: effects not applied",
			          (long long)req->id);
			snprintf(req->state, sizeof(req->state), "failed");
		}
		return rc;
	}
	rc = finish(st, &now, "completed", NULL, &applied, err);
	if (rc == LETHE_OK && applied) {
		log_info("request %lld: restriction in force", (long long)req->id);
		snprintf(req->state, sizeof(req->state), "completed");
	}
	return rc;
}
