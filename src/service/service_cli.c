/* SPDX-License-Identifier: MIT */
/*
 * service_cli.c - the service of a one-off command (see service.h): no
 * thread, one caller, the state store opened when an action needs it.
 * Plan, erase, the anonymize key's check, and the listings of the outbox's
 * jobs and of the mail outbox; the channel, sweep and import actions have their own files.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <time.h>

#include "engine/media_use.h"
#include "jobs/engine_opts.h"
#include "service/service_internal.h"
#include "util/buf.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define ERASE_JOBS_MS 60000 /* an erasure runs its channels' upstream jobs this long */

struct service *
service_open(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db)
{
	struct service *svc = xcalloc(1, sizeof(*svc));

	svc->cfg = cfg;
	svc->dm = dm;
	svc->db = db;
	pthread_mutex_init(&svc->db_mu, NULL);
	pthread_mutex_init(&svc->st_mu, NULL);
	return svc;
}

void
service_close(struct service *svc)
{
	if (svc == NULL)
		return;
	sweeper_stop(svc->sweeper);
	seen_free(svc->seen);
	store_close(svc->st);
	pthread_mutex_destroy(&svc->db_mu);
	pthread_mutex_destroy(&svc->st_mu);
	free(svc);
}

lethe_rc
service_store_open(struct service *svc, struct lethe_err *err)
{
	if (svc->st != NULL)
		return LETHE_OK;
	return store_open(svc->cfg->state_db, &svc->st, err);
}

lethe_rc
service_load_key(struct lethe_config *cfg, struct lethe_err *err)
{
	const char *env = getenv(cfg->key_env);
	bool from_env = env != NULL && env[0] != '\0', found = false;
	char recorded[HASH_TEXT_LEN + 1], fp[HASH_TEXT_LEN + 1];
	struct store *st = NULL;
	bool used = false;
	lethe_rc rc;

	if (cfg->key_loaded)
		return LETHE_OK;
	rc = store_open(cfg->state_db, &st, err);
	if (rc == LETHE_OK)
		rc = store_key_get(st, "anonymize", recorded, sizeof(recorded), &found, err);
	/* A store an older lethe filled records no fingerprint, yet needs its key. */
	if (rc == LETHE_OK && !found)
		rc = store_has_keyed_rows(st, &used, err);
	/* A store that records a key must get that key back, never a new one. */
	if (rc == LETHE_OK)
		rc = config_load_key_opt(cfg, !found && !used, err);
	if (rc == LETHE_E_NOTFOUND && !found) {
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "the anonymize key is missing: %s is not set and %s does not exist, but the "
		    "state store %s holds requests or jobs made with a key (by a lethe that did "
		    "not record its fingerprint yet); restore that key file (or set %s to that "
		    "key) and start again: a new key would leave them unreadable",
		    cfg->key_env, cfg->key_file, cfg->state_shown, cfg->key_env);
		goto out;
	}
	if (rc == LETHE_E_NOTFOUND) {
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "the anonymize key is missing: %s is not set and %s does not exist, but the "
		    "state store %s records the fingerprint of the key its requests and jobs "
		    "were made with (%.17s...); restore that key file (or set %s to that key) "
		    "and start again: a new key would leave them unreadable",
		    cfg->key_env, cfg->key_file, cfg->state_shown, recorded, cfg->key_env);
		goto out;
	}
	if (rc != LETHE_OK)
		goto out;
	config_key_fingerprint(cfg->key, "anonymize", fp);
	if (found && strcmp(fp, recorded) != 0) {
		cfg->key_loaded = false;
		sodium_memzero(cfg->key, sizeof(cfg->key));
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "the anonymize key from %s%s is not the one the state store %s was used "
		    "with: it records the fingerprint %.17s..., this key's is %.17s...; "
		    "restore the key file %s it was used with (or set %s to that key)",
		    from_env ? "environment variable " : "key file ",
		    from_env ? cfg->key_env : cfg->key_file, cfg->state_shown, recorded, fp,
		    cfg->key_file != NULL ? cfg->key_file : "(anonymize.key_file)", cfg->key_env);
		goto out;
	}
	if (!found)
		rc = store_key_check(st, "anonymize", fp, err);
out:
	store_close(st);
	return rc;
}

lethe_rc
service_load_outbox_key(struct lethe_config *cfg, struct lethe_err *err)
{
	char recorded[HASH_TEXT_LEN + 1];
	struct store *st = NULL;
	bool found = false;
	lethe_rc rc;

	if (cfg->outbox.key_loaded)
		return LETHE_OK;
	rc = store_open(cfg->state_db, &st, err);
	if (rc == LETHE_OK)
		rc = store_key_get(st, "outbox", recorded, sizeof(recorded), &found, err);
	store_close(st);
	if (rc == LETHE_OK)
		rc = config_load_outbox_key_opt(cfg, !found, err);
	if (rc == LETHE_E_NOTFOUND)
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "the outbox key is missing: %s is not set and %s does not exist, but the state "
		    "store %s records the fingerprint of the key its disconnect jobs are sealed "
		    "with (%.17s...); restore that key file (or set %s to that key) and start "
		    "again",
		    cfg->outbox.key_env, cfg->outbox.key_file, cfg->state_shown, recorded,
		    cfg->outbox.key_env);
	return rc;
}

lethe_rc
service_media_check(const struct service *svc, struct lethe_err *err)
{
	/* The URL case first: it names app.media_root, not a store. */
	lethe_rc rc = config_check_media_root(svc->cfg, err);

	if (rc == LETHE_OK)
		rc = media_check_stores(svc->dm, svc->cfg->media, err);
	if (rc == LETHE_OK)
		rc = media_set_check(svc->cfg->media, err);
	return rc;
}

lethe_rc
service_plan(struct service *svc, const char *scope, const struct plan_id *ids, size_t nids,
             struct plan **out, struct lethe_err *err)
{
	return plan_build(svc->dm, svc->db, scope, ids, nids, true, out, err);
}

lethe_rc
service_plan_check(struct service *svc, const struct plan_id *ids, size_t nids,
                   struct lethe_err *err)
{
	return plan_check_one_person(svc->dm, svc->db, ids, nids, err);
}

/*
 * Run the outbox jobs of the channels erasure @res disconnected once each,
 * now, in the foreground (at most ERASE_JOBS_MS in all): a revoke the
 * platform accepts is done when `lethe erase` returns; one that fails, or
 * waits for a retry, is left pending for `lethe serve`.
 */
static void
erase_run_jobs(struct service *svc, const struct erase_result *res)
{
	char owner[LEASE_OWNER_MAX];
	struct timespec ts;
	int64_t deadline;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ERASE_JOBS_MS;
	lease_owner_format(owner, sizeof(owner));
	for (i = 0; i < res->ndiscs; i++) {
		struct lethe_err e2 = {0};
		int ran = 0;

		if (outbox_run_due(svc->cfg, svc->dm, svc->db, svc->st, res->discs[i], owner, NULL,
		                   deadline, &ran, &e2) != LETHE_OK)
			log_warnx("erase: the upstream jobs of disconnect %lld: %s",
			          (long long)res->discs[i], e2.msg);
	}
}

lethe_rc
service_erase(struct service *svc, struct plan *plan, const struct plan_id *ids, size_t nids,
              int64_t batch, void (*on_progress)(void *arg, const struct erase_progress *p),
              void *arg, struct erase_result *res, struct lethe_err *err)
{
	struct erase_opts eo;
	lethe_rc rc;

	rc = service_store_open(svc, err);
	/* The channels it erases are disconnected: their jobs are sealed under the outbox key. */
	if (rc == LETHE_OK && svc->dm->channel != NULL && !svc->cfg->outbox.key_loaded)
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "the outbox key is not loaded (the data map has a channel table)");
	if (rc == LETHE_OK && svc->dm->channel != NULL)
		rc = outbox_key_check(svc->cfg, svc->st, err);
	if (rc != LETHE_OK)
		return rc;
	appdb_bulk(svc->db, true);
	engine_opts_erase(svc->cfg, &eo);
	if (batch > 0)
		eo.batch_rows = batch;
	eo.on_progress = on_progress;
	eo.arg = arg;
	rc = erase_run(plan, ids, nids, svc->db, svc->st, &eo, res, err);
	/* An erasure outside a request: its steps go into the audit chain (request 0). */
	if (rc == LETHE_OK && res->state != NULL && strcmp(res->state, "failed") != 0) {
		struct lethe_err aerr = {0};

		if (store_audit_job(svc->st, 0, res->job, NULL, time_now(), &aerr) != LETHE_OK)
			log_warnx("erase: job %lld is not in the audit chain: %s",
			          (long long)res->job, aerr.msg);
	}
	if (res->ndiscs > 0)
		erase_run_jobs(svc, res);
	return rc;
}

/* The listing's callback and its argument, for on_job(). */
struct job_list {
	service_job_fn fn; /* the caller's */
	void *arg;         /* its argument */
};

static void
on_job(void *arg, const struct store_outbox *j)
{
	const struct job_list *l = arg;

	l->fn(l->arg, j, disconnect_job_state(j));
}

lethe_rc
service_jobs_list(struct service *svc, const char *stored, service_job_fn fn, void *arg,
                  struct lethe_err *err)
{
	struct job_list l = {fn, arg};

	return store_outbox_list(svc->st, 0, stored, on_job, &l, err);
}

lethe_rc
service_mail_list(struct service *svc, const char *state, store_mail_fn fn, void *arg,
                  struct lethe_err *err)
{
	return store_mail_list(svc->st, state, 0, 0, fn, arg, err);
}

lethe_rc
service__default_scope(const struct datamap *dm, const char *scope, const char **out,
                       struct lethe_err *err)
{
	struct buf names;
	size_t i;
	lethe_rc rc;

	*out = scope;
	if (scope != NULL)
		return LETHE_OK;
	if (datamap_scope(dm, "account") != NULL) {
		*out = "account";
		return LETHE_OK;
	}
	buf_init(&names, 4096);
	for (i = 0; i < dm->nscopes; i++)
		buf_addf(&names, "%s%s", i ? ", " : "", dm->scopes[i].name);
	rc = lethe_err_set(err, LETHE_E_USAGE,
	                   "the data map %s has no scope 'account': name the scope "
	                   "with --scope (its scopes: %s)",
	                   dm->path, buf_str(&names));
	buf_free(&names);
	return rc;
}
