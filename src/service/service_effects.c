/* SPDX-License-Identifier: MIT */
/*
 * service_effects.c - a request's effects carried out by the call that
 * made them due, before it answers.
 *
 * A transition records the policy's effects as due (docs/requests.md,
 * "Crash safety") and the runner carries them out; alone, that leaves a
 * window in which the request reads `scheduled` (effects applied, the
 * docs say) while the account is still open, as long as the runner (at
 * nice 19, on a loaded machine) takes to come round.  So the link or the
 * action that accepted (or cancelled) the request does them itself once
 * its transition is committed: recorded first, acted on after the commit,
 * as the runner would.  Applying and undoing are idempotent and marked
 * done with a conditional update, so the runner doing the same meanwhile
 * is harmless, and a crash in between leaves them due for the runner.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "jobs/request_work.h"
#include "service/service_internal.h"
#include "util/log.h"

/*
 * Carry out the effects due up to request @id, in id order as the runner
 * does (of a person's requests the older's first: a lifted restriction's
 * undo before the apply of one asked since), at most SERVICE_EFFECTS_MAX.
 */
#define SERVICE_EFFECTS_MAX 64

void
service__effects_now(struct service *svc, int64_t id)
{
	struct lethe_err err = {0};
	int64_t after = 0;
	int n;

	/* A command's service without the app database leaves them to the daemon's runner. */
	if (svc->db == NULL || svc->dm == NULL || svc->st == NULL)
		return;
	pthread_mutex_lock(&svc->db_mu);
	pthread_mutex_lock(&svc->st_mu);
	for (n = 0; n < SERVICE_EFFECTS_MAX && after < id; n++) {
		struct store_request req;
		uint8_t *box = NULL;
		size_t boxlen = 0;
		lethe_rc rc = store_request_effects_next(svc->st, after, &req, &box, &boxlen, &err);

		if (rc == LETHE_OK && req.id > id)
			rc = LETHE_E_NOTFOUND; /* none due up to @id: the rest are the runner's */
		else if (rc == LETHE_OK) {
			after = req.id;
			rc = request_work_effects(svc->cfg, svc->dm, svc->db, svc->st, &req, box,
			                          boxlen, &err);
		}
		if (box != NULL)
			sodium_memzero(box, boxlen);
		free(box);
		if (rc == LETHE_E_NOTFOUND)
			break;
		if (rc != LETHE_OK) {
			/* Still due: the runner tries again on its next pass. */
			log_warnx("effects not done yet, the runner retries: %s", err.msg);
			break;
		}
	}
	pthread_mutex_unlock(&svc->st_mu);
	pthread_mutex_unlock(&svc->db_mu);
}
