/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - the daemon of `lethe serve`: opens the app database and the
 * state store the front ends share, and starts and stops the background
 * threads (runner, sweeper, outbox, mailer, intake, worker pool) in the
 * order they depend on each other (see service.h).
 *
 * Start: the template set (checked: a bad template refuses the start),
 * databases, intake (its flock on the intake log makes this the only
 * serve of the state store: nothing that writes requests or archives
 * starts before it), runner (the intake kicks it once it is there),
 * exporter (it locks export.dir: refused if another lethe has it), sweeper, outbox, mailer (with a
 * mail: section), pool.  Stop: the pool and the intake first (service_quiesce(): they finish their
 * queues, which hands every waiting request back to its caller), then the runner (told the intake
 * is gone first: it asks the intake whether it is busy), exporter, mailer, outbox,
 * sweeper, the databases and the template set.
 */
#include "util/fmacros.h"

#include "jobs/request_work.h"
#include "mail/templates.h"
#include "service/service_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/tplset.h"

#define BLOCKING_WORKERS 4 /* threads for handlers that wait on a database */

/* The intake moved requests into the store (its indexer thread): wake the runner if started. */
static void
intake_committed(void *arg)
{
	struct service *svc = arg;
	struct runner *r = atomic_load(&svc->kick);

	if (r != NULL)
		runner_kick(r);
}

lethe_rc
service_start(const struct lethe_config *cfg, const struct datamap *dm, runner_done_fn on_done,
              struct service **out, struct lethe_err *err)
{
	struct service *svc = xcalloc(1, sizeof(*svc));
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	svc->cfg = cfg;
	svc->dm = dm;
	atomic_init(&svc->kick, NULL);
	pthread_mutex_init(&svc->db_mu, NULL);
	pthread_mutex_init(&svc->st_mu, NULL);
	/* The policies name scopes and effects of the data map: checked before anything starts. */
	rc = policy_check(cfg, dm, err);
	if (rc == LETHE_OK)
		rc = selfservice_check(cfg, dm, err);
	if (rc == LETHE_OK)
		rc = mailbox_config_check(cfg, dm, err);
	/* Pages and mails come from one template set, read and checked once. */
	if (rc == LETHE_OK)
		rc = tplset_load(cfg->templates_dir, &svc->tpl, err);
	if (rc == LETHE_OK)
		rc = mail_templates_check(svc->tpl, err);
	if (rc == LETHE_OK) {
		svc->db = appdb_open(cfg->app_db, cfg->dir, err);
		if (svc->db == NULL)
			rc = err->rc;
	}
	if (rc == LETHE_OK)
		rc = store_open(cfg->state_db, &svc->st, err);
	/*
	 * The intake's lock first: a second serve of this state store is
	 * refused before any of its threads claims a request or sweeps.
	 */
	if (rc == LETHE_OK)
		rc = intake_start(cfg->state_db, cfg->state_files, cfg->meta_repeat,
		                  service__meta_deadline(cfg), intake_committed, svc, &svc->intake,
		                  err);
	/* No mailer will come for mail queued while mail was on: skipped, recipients wiped. */
	if (rc == LETHE_OK && !cfg->mail.enabled)
		rc = request_work_mail_off(svc->st, time_now(), err);
	if (rc == LETHE_OK)
		rc = runner_start(cfg, dm, on_done, &svc->runner, err);
	if (rc == LETHE_OK) {
		runner_set_busy(svc->runner, intake_busy, svc->intake);
		atomic_store(&svc->kick, svc->runner);
		runner_kick(svc->runner); /* what the intake moved in before */
	}
	/* Export archives are built beside the erasures, never in their queue. */
	if (rc == LETHE_OK)
		rc = exporter_start(cfg, dm, on_done, &svc->exporter, err);
	if (rc == LETHE_OK && cfg->sweep_enabled)
		rc = sweeper_start(cfg, dm, &svc->sweeper, err);
	if (rc == LETHE_OK)
		rc = outbox_start(cfg, dm, &svc->outbox, err);
	if (rc == LETHE_OK && cfg->mail.enabled) {
		struct mailer_opts mo = {.state_db = cfg->state_db,
		                         .mail = &cfg->mail,
		                         .key = cfg->key,
		                         .compose = service__mail_compose,
		                         .arg = svc};

		rc = mailer_start(&mo, &svc->mailer, err);
	}
	if (rc == LETHE_OK) {
		svc->pool = pool_new(BLOCKING_WORKERS, "lethe-http-work");
		if (svc->pool == NULL)
			rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot start worker threads");
	}
	if (rc != LETHE_OK) {
		service_stop(svc);
		return rc;
	}
	/* A restored app database: its people erased before, in a thread (no delay). */
	if (cfg->proof.reapply_at_start)
		service__reapply_start(svc);
	*out = svc;
	return LETHE_OK;
}

void
service_quiesce(struct service *svc)
{
	if (svc == NULL || svc->quiesced)
		return;
	svc->quiesced = true;
	pool_stop(svc->pool);
	intake_stop(svc->intake);
}

void
service_stop(struct service *svc)
{
	if (svc == NULL)
		return;
	service_quiesce(svc);
	service__reapply_stop(svc); /* it makes requests: before the runner and mailer go */
	pool_free(svc->pool);
	/*
	 * The runner asks the intake whether it is busy (outside its own lock):
	 * it stops before the intake is freed.  The intake is quiesced already,
	 * so nothing kicks the runner meanwhile.
	 */
	atomic_store(&svc->kick, NULL);
	if (svc->runner != NULL)
		runner_set_busy(svc->runner, NULL, NULL);
	runner_stop(svc->runner);
	exporter_stop(svc->exporter);
	intake_free(svc->intake);
	/* The mailer composes through the service (st_mu, the templates): it stops first. */
	mailer_stop(svc->mailer);
	outbox_stop(svc->outbox);
	sweeper_stop(svc->sweeper);
	appdb_close(svc->db);
	service__audit_final(svc); /* the last signed checkpoint, every thread stopped */
	store_close(svc->st);
	if (svc->tpl != NULL)
		tplset_free(svc->tpl);
	pthread_mutex_destroy(&svc->db_mu);
	pthread_mutex_destroy(&svc->st_mu);
	free(svc);
}

const struct lethe_config *
service_config(const struct service *svc)
{
	return svc->cfg;
}

void
service_run(struct service *svc, struct pool_task *t)
{
	pool_submit(svc->pool, t);
}
