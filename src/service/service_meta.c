/* SPDX-License-Identifier: MIT */
/*
 * service_meta.c - Meta's callbacks as actions of the service (see
 * service.h): a data-deletion request handed to the intake, and a
 * deauthorization applied at once.
 *
 * The data-deletion path is the server's hot path: service_meta_prepare()
 * and service_meta_submit() take no lock and look nothing up; they compute
 * the subject, seal the id and queue the request, as the front end did
 * before it called here.
 */
#include "util/fmacros.h"

#include "engine/disconnect.h"
#include "jobs/engine_opts.h"
#include "meta/requests.h"
#include "service/service_internal.h"
#include "util/timeutil.h"

void
service_meta_prepare(struct service *svc, const struct meta_app *app, const char *user_id,
                     struct intake_req *in)
{
	meta_subject(svc->cfg->key, app->name, user_id, in->subject);
	in->app = app->name;
	in->box = meta_box_seal(svc->cfg->key, app->name, user_id, &in->boxlen);
	in->now = time_now();
}

void
service_meta_submit(struct service *svc, struct intake_req *in)
{
	intake_submit(svc->intake, in);
}

lethe_rc
service_meta_deauthorize(struct service *svc, const struct meta_app *app, const char *user_id,
                         struct lethe_err *err)
{
	char subject[HASH_TEXT_LEN + 1];
	int64_t rows = 0;
	struct disconnect_opts dop;
	lethe_rc rc;

	engine_opts_disconnect(svc->cfg, &dop);
	meta_subject(svc->cfg->key, app->name, user_id, subject);
	/* The same at-once wipe as a channel disconnect (docs/internals/outbox.md). */
	pthread_mutex_lock(&svc->db_mu);
	pthread_mutex_lock(&svc->st_mu);
	rc = disconnect_identity(&dop, svc->dm, svc->db, svc->st, app->identity, user_id, &rows,
	                         err);
	pthread_mutex_unlock(&svc->st_mu);
	pthread_mutex_unlock(&svc->db_mu);
	if (rc == LETHE_OK) {
		pthread_mutex_lock(&svc->st_mu);
		rc = store_deauth_add(svc->st, app->name, subject, rows, time_now(), err);
		pthread_mutex_unlock(&svc->st_mu);
	}
	return rc;
}
