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
#include "util/mem.h"
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

/* The channels a deauthorize matched, to record with the person's subject. */
struct deauth_acc {
	struct service *svc;  /* for the key and the store */
	const char *app;      /* the Meta app */
	const char *subject;  /* the person's keyed hash */
	lethe_rc rc;          /* the first failure */
	struct lethe_err err; /* its detail */
};

/*
 * disconnect_identity()'s callback, st_mu held: record channel @id under the
 * person's subject, its key sealed, so that the person's data-deletion
 * request erases it even if the disconnect cleared its identity column.
 */
static void
deauth_channel(void *arg, const char *id)
{
	struct deauth_acc *a = arg;
	char chan[HASH_TEXT_LEN + 1];
	char *ad = xasprintf("channel:%s", a->app);
	size_t len = 0;
	uint8_t *box = meta_box_seal(a->svc->cfg->key, ad, id, &len);

	disconnect_subject(a->svc->cfg->key, id, chan);
	if (a->rc == LETHE_OK)
		a->rc = store_deauth_channel_add(a->svc->st, a->app, a->subject, chan, box, len,
		                                 time_now(), &a->err);
	free(box);
	free(ad);
}

lethe_rc
service_meta_deauthorize(struct service *svc, const struct meta_app *app, const char *user_id,
                         struct lethe_err *err)
{
	char subject[HASH_TEXT_LEN + 1];
	int64_t rows = 0;
	struct disconnect_opts dop;
	struct deauth_acc acc;
	lethe_rc rc;

	engine_opts_disconnect(svc->cfg, &dop);
	meta_subject(svc->cfg->key, app->name, user_id, subject);
	memset(&acc, 0, sizeof(acc));
	acc.svc = svc;
	acc.app = app->name;
	acc.subject = subject;
	/* The same at-once wipe as a channel disconnect (docs/internals/outbox.md). */
	pthread_mutex_lock(&svc->db_mu);
	pthread_mutex_lock(&svc->st_mu);
	rc = disconnect_identity(&dop, svc->dm, svc->db, svc->st, app->identity, user_id,
	                         deauth_channel, &acc, &rows, err);
	pthread_mutex_unlock(&svc->st_mu);
	pthread_mutex_unlock(&svc->db_mu);
	if (rc == LETHE_OK && acc.rc != LETHE_OK)
		rc = lethe_err_set(err, acc.rc, "%s", acc.err.msg);
	if (rc == LETHE_OK) {
		pthread_mutex_lock(&svc->st_mu);
		rc = store_deauth_add(svc->st, app->name, subject, rows, time_now(), err);
		pthread_mutex_unlock(&svc->st_mu);
	}
	return rc;
}
