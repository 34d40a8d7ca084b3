/* SPDX-License-Identifier: MIT */
/*
 * service_channel.c - channel state and channel disconnect as actions of
 * the service (see service.h), for the app API.  Both take db_mu then
 * st_mu, the service's lock order, around the engine's call.
 */
#include "util/fmacros.h"

#include "engine/batching.h"
#include "engine/disconnect.h"
#include "jobs/engine_opts.h"
#include "service/service_internal.h"
#include "util/timeutil.h"

#define STAGED_WAIT_MS 2000.0 /* wait this long for another process's staged disconnect */
#define STAGED_POLL_MS 10     /* ... looking again this often */

bool
service_channel_id_ok(const char *id)
{
	return disconnect_id_ok(id);
}

lethe_rc
service_channel_state(struct service *svc, const char *id, json_t **out, struct lethe_err *err)
{
	struct disconnect_opts dop;
	lethe_rc rc;

	engine_opts_disconnect(svc->cfg, &dop);
	pthread_mutex_lock(&svc->db_mu);
	pthread_mutex_lock(&svc->st_mu);
	rc = disconnect_state(&dop, svc->dm, svc->db, svc->st, id, out, err);
	pthread_mutex_unlock(&svc->st_mu);
	pthread_mutex_unlock(&svc->db_mu);
	return rc;
}

/*
 * disconnect_channel(), tried again every STAGED_POLL_MS for up to
 * STAGED_WAIT_MS while another process's disconnect of the channel is
 * staged (LETHE_E_BUSY: milliseconds, between its app commit and the
 * release of its jobs), with the shared connections' mutexes taken (if
 * @lock) only around each try, never while waiting.  Meta's deauthorize
 * does not wait: a 503 makes Meta retry.
 */
static lethe_rc
disconnect_waiting(struct service *svc, const struct disconnect_opts *dop, bool lock,
                   const char *id, const char *via, int64_t *disc, bool *already,
                   struct lethe_err *err)
{
	double until = time_mono_ms() + STAGED_WAIT_MS;
	lethe_rc rc;

	for (;;) {
		if (lock) {
			pthread_mutex_lock(&svc->db_mu);
			pthread_mutex_lock(&svc->st_mu);
		}
		rc =
		    disconnect_channel(dop, svc->dm, svc->db, svc->st, id, via, disc, already, err);
		if (lock) {
			pthread_mutex_unlock(&svc->st_mu);
			pthread_mutex_unlock(&svc->db_mu);
		}
		if (rc != LETHE_E_BUSY || time_mono_ms() >= until)
			return rc;
		batching_sleep_ms(STAGED_POLL_MS);
	}
}

lethe_rc
service_channel_disconnect(struct service *svc, const char *id, const char *via,
                           struct lethe_err *err)
{
	int64_t disc = 0;
	bool already = false;
	struct disconnect_opts dop;
	lethe_rc rc;

	engine_opts_disconnect(svc->cfg, &dop);
	rc = disconnect_waiting(svc, &dop, true, id, via, &disc, &already, err);
	if (rc == LETHE_OK && !already)
		outbox_kick(svc->outbox);
	return rc;
}

/* A disconnect's jobs that are dead, and that are not finished. */
static void
count_jobs(void *arg, const struct store_outbox *j)
{
	struct service_disconnect *c = arg;

	if (strcmp(j->state, "dead") == 0)
		c->dead++;
	else if (strcmp(j->state, "done") != 0)
		c->unfinished++;
}

lethe_rc
service_channel_disconnect_wait(struct service *svc, const char *id, bool wait, int64_t timeout_ms,
                                struct service_disconnect *out, struct lethe_err *err)
{
	int64_t disc = 0;
	int fixed = 0;
	struct disconnect_opts dop;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	engine_opts_disconnect(svc->cfg, &dop);
	rc = service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = outbox_key_check(svc->cfg, svc->st, err);
	/* A disconnect a crash left staged (no `lethe serve` may be running to repair it). */
	if (rc == LETHE_OK)
		rc = disconnect_recover(&dop, svc->dm, svc->db, svc->st, SERVICE_RECOVER_AGE_S,
		                        &fixed, err);
	if (rc == LETHE_OK)
		rc = disconnect_waiting(svc, &dop, false, id, "cli", &disc, &out->already, err);
	if (rc == LETHE_E_NOTFOUND)
		return rc;
	/* Also a disconnect done before (an erasure's) whose jobs are not finished yet. */
	if (rc == LETHE_OK && wait) {
		lethe_rc r2 = outbox_drive(svc->cfg, svc->dm, disc, timeout_ms, err);

		if (r2 != LETHE_OK && r2 != LETHE_E_BUSY)
			rc = r2;
	}
	if (rc == LETHE_OK)
		rc = store_outbox_list(svc->st, disc, NULL, count_jobs, out, err);
	if (rc == LETHE_OK)
		rc = disconnect_state(&dop, svc->dm, svc->db, svc->st, id, &out->state, err);
	return rc;
}
