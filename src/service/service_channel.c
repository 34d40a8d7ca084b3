/* SPDX-License-Identifier: MIT */
/*
 * service_channel.c - channel state and channel disconnect as actions of
 * the service (see service.h), for the app API.  Both take db_mu then
 * st_mu, the service's lock order, around the engine's call.
 */
#include "util/fmacros.h"

#include "engine/disconnect.h"
#include "service/service_internal.h"

bool
service_channel_id_ok(const char *id)
{
	return disconnect_id_ok(id);
}

lethe_rc
service_channel_state(struct service *svc, const char *id, json_t **out, struct lethe_err *err)
{
	lethe_rc rc;

	pthread_mutex_lock(&svc->db_mu);
	pthread_mutex_lock(&svc->st_mu);
	rc = disconnect_state(svc->cfg, svc->dm, svc->db, svc->st, id, out, err);
	pthread_mutex_unlock(&svc->st_mu);
	pthread_mutex_unlock(&svc->db_mu);
	return rc;
}

lethe_rc
service_channel_disconnect(struct service *svc, const char *id, const char *via,
                           struct lethe_err *err)
{
	int64_t disc = 0;
	bool already = false;
	lethe_rc rc;

	pthread_mutex_lock(&svc->db_mu);
	pthread_mutex_lock(&svc->st_mu);
	rc = disconnect_channel(svc->cfg, svc->dm, svc->db, svc->st, id, via, &disc, &already, err);
	pthread_mutex_unlock(&svc->st_mu);
	pthread_mutex_unlock(&svc->db_mu);
	if (rc == LETHE_OK && !already)
		outbox_kick(svc->outbox);
	return rc;
}
