/* SPDX-License-Identifier: MIT */
/*
 * runner.c - the background job runner (see runner.h).
 *
 * Locking: the thread is a util/worker; its mutex also guards busy and
 * busy_arg.  The erasure itself runs without the lock and polls the
 * worker's stop_flag between batches.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "db/appdb.h"
#include "engine/disconnect.h"
#include "engine/erase.h"
#include "engine/plan.h"
#include "engine/request.h"
#include "jobs/engine_opts.h"
#include "jobs/exporter.h"
#include "jobs/job.h"
#include "jobs/ledger_work.h"
#include "jobs/notify.h"
#include "jobs/proof_work.h"
#include "jobs/request_work.h"
#include "jobs/restriction_work.h"
#include "jobs/runner.h"
#include "jobs/runner_end.h"
#include "jobs/scan_work.h"
#include "meta/requests.h"
#include "store/store.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/worker.h"

#define IDLE_WAIT_S 1          /* look for work at least this often */
#define RETRY_WAIT_S 5         /* after a failed attempt */
#define BUSY_SLICE_MS 10       /* while the intake is under a flood, work this long ... */
#define BUSY_PAUSE_MS 190      /* ... then pause this long (a twentieth of the time) */
#define BUSY_PAUSE_MAX_MS 4000 /* the longest pause */
#define TICK_MS 1000           /* expiry and deadline warnings at most this often */
#define PURGE_MS 3600000       /* expired mailed links purged at start, then this often */
#define SCHEDULED_EVERY 8      /* every this many turns, a due scheduled request first */
#define REQUEST_LEASE_MS (15 * 60 * 1000) /* a request's run on a shared store, renewed: */
#define RENEW_MS 60000.0                  /* once a minute while its erasure runs */

struct runner {
	const struct lethe_config *cfg; /* configuration (keys, apps, erase settings) */
	const struct datamap *dm;       /* the validated data map */
	runner_done_fn done;            /* completion callback, or NULL */
	bool (*busy)(void *);           /* the intake is under a flood (or NULL) */
	void *busy_arg;                 /* for busy */
	struct worker w;                /* the thread; its mutex guards busy, busy_arg */
	bool retried;                   /* retry_failed() ran (at start, or in the thread) */
	double last_tick;               /* time_mono_ms() of the last request_work_tick() */
	double last_purge;              /* time_mono_ms() of the last request_work_purge_links() */
	double last_checkpoint;         /* time_mono_ms() of the last proof_work_tick() check */
	struct job_fails fails;         /* erasures failed in a row: the runner thread's only */
	char owner[LEASE_OWNER_MAX]; /* its owner text for the requests it takes (shared store) */
};

/*
 * While the intake takes a flood of callbacks, erasures yield: BUSY_SLICE_MS
 * of work, then BUSY_PAUSE_MS of pause.  Answering Meta durably comes first
 * (an unanswered callback is retried and counts against the app); the
 * erasures, due within days, catch up once the flood ends and are never
 * stopped altogether.  Returns true if stopping.
 */
static bool
yield_to_intake(struct runner *r, double *slice_start)
{
	double now = time_mono_ms();
	bool (*busy)(void *);
	void *arg;

	if (now - *slice_start < BUSY_SLICE_MS)
		return false;
	pthread_mutex_lock(r->w.mu);
	busy = r->busy;
	arg = r->busy_arg;
	pthread_mutex_unlock(r->w.mu);
	/*
	 * One erasure may run far past the slice: pause in proportion, so the
	 * share stays BUSY_SLICE_MS / (BUSY_SLICE_MS + BUSY_PAUSE_MS), up to 4 s.
	 */
	if (busy != NULL && busy(arg)) {
		double worked = now - *slice_start;
		double pause = worked * BUSY_PAUSE_MS / BUSY_SLICE_MS;

		if (worker_sleep(&r->w, pause > BUSY_PAUSE_MAX_MS ? BUSY_PAUSE_MAX_MS : (int)pause))
			return true;
	}
	*slice_start = time_mono_ms();
	return false;
}

/* Where erase_run reports the job of a request as soon as it exists. */
struct job_note {
	struct store *st;                /* the runner's store */
	const struct store_request *req; /* the request */
	int64_t run;                     /* the run being done */
	const char *owner;               /* the request's lease owner (store_item_take()) */
	double renewed;                  /* time_mono_ms() of its last renewal */
};

static void
note_job(void *arg, int64_t job)
{
	struct job_note *n = arg;

	/* The status page shows progress from now on, and a crash cannot lose the job. */
	store_meta_update(n->st, n->req->id, "running", job, false, 0, n->run, NULL);
}

/*
 * The job's lease was renewed: renew the request's own (REQUEST_LEASE_MS,
 * once a minute), so a long erasure keeps it.  False: another worker took
 * it over (the erasure stops between batches; its job is resumable).
 */
static bool
renew_request(void *arg)
{
	struct job_note *n = arg;
	struct lethe_err err = {0};
	bool held = true;

	if (n->owner == NULL || time_mono_ms() - n->renewed < RENEW_MS)
		return true;
	if (store_item_take(n->st, "request", n->req->id, n->owner, REQUEST_LEASE_MS, &held,
	                    &err) != LETHE_OK) {
		log_warnx("request %lld: %s", (long long)n->req->id, err.msg);
		return true; /* the store failed: the next batch's claim says more */
	}
	n->renewed = time_mono_ms();
	return held;
}

#define DEAUTH_CHANNELS_MAX 64 /* recorded channels added to one request's erasure */

/* The channels a deauthorize recorded for a request's person (store_deauth_channels()). */
struct deauth_chans {
	const uint8_t *key;             /* anonymize key */
	const char *ad;                 /* "channel:APP", the boxes' associated data */
	char *ids[DEAUTH_CHANNELS_MAX]; /* channel keys opened */
	size_t n;                       /* number of them */
};

static void
on_deauth_box(void *arg, const void *box, size_t len)
{
	struct deauth_chans *c = arg;
	char id[32];

	if (c->n < DEAUTH_CHANNELS_MAX &&
	    meta_box_open(c->key, c->ad, box, len, id, sizeof(id)) == LETHE_OK)
		c->ids[c->n++] = xstrdup(id);
}

/*
 * The identities of request @req's erasure: its Meta identity @id, then the
 * keys of the channels a deauthorize of the same person disconnected that
 * are still the person's (the disconnect may have cleared the identity
 * column the request would find them by), under the `channel` scope's
 * identity kind.  *@ids (free it, and @c's ids) gets them, *@n their number.
 */
static lethe_rc
request_ids(struct runner *r, struct appdb *db, struct store *st, const struct store_request *req,
            const struct plan_id *id, struct deauth_chans *c, struct plan_id **ids, size_t *n,
            struct lethe_err *err)
{
	const struct dm_scope *sc = datamap_scope(r->dm, "channel");
	char *ad = xasprintf("channel:%s", req->app);
	char subject[HASH_TEXT_LEN + 1];
	size_t i;
	lethe_rc rc = LETHE_OK;

	*ids = xcalloc(DEAUTH_CHANNELS_MAX + 1, sizeof(**ids));
	(*ids)[0] = *id;
	*n = 1;
	c->key = r->cfg->key;
	c->ad = ad;
	meta_subject(r->cfg->key, req->app, id->value, subject);
	if (r->dm->channel != NULL && sc != NULL && sc->nidentities > 0)
		rc = store_deauth_channels(st, req->app, subject, on_deauth_box, c, err);
	for (i = 0; rc == LETHE_OK && i < c->n; i++) {
		bool ours = false;

		rc = disconnect_chan_owned(r->dm, db, c->ids[i], id->kind, id->value, &ours, err);
		if (rc == LETHE_OK && ours) {
			(*ids)[*n].kind = sc->identities[0];
			(*ids)[(*n)++].value = c->ids[i];
		}
	}
	free(ad);
	c->ad = NULL;
	return rc;
}

/*
 * Take scheduled request @req (not Meta's) for running: of a cancel and
 * the end of its grace period exactly one wins.  *@won false: it is no
 * longer scheduled.
 */
static lethe_rc
claim_request(struct store *st, struct store_request *req, bool *won, struct lethe_err *err)
{
	struct store_transition t = {
	    .from = "scheduled",
	    .to = "running",
	    .actor = "lethe",
	    .now = time_now(),
	    .not_before = 0,
	    .expires_at = -1,
	    .effects = -1,
	};
	lethe_rc rc = job_transition(st, req->id, &t, won, err);

	if (rc == LETHE_OK && *won)
		snprintf(req->state, sizeof(req->state), "running");
	return rc;
}

/*
 * The person of request @req: a Meta request's app-scoped id (@user_id
 * holds it) or the identities sealed for any other (*@opened, to free
 * with request_ids_free()), into *@ids, *@nids and its scope into
 * *@scope.  LETHE_E_FORBIDDEN (after logging) if they cannot be had.
 */
static lethe_rc
request_person(struct runner *r, const struct store_request *req, const uint8_t *box, size_t boxlen,
               char *user_id, size_t cap, struct plan_id *one, struct plan_id **opened,
               const struct plan_id **ids, size_t *nids, const char **scope)
{
	const struct meta_app *app;

	*opened = NULL;
	if (req->app[0] == '\0') {
		if (request_ids_open(r->cfg->key, box, boxlen, opened, nids) != LETHE_OK) {
			log_warnx("request %lld: its identities cannot be opened",
			          (long long)req->id);
			return LETHE_E_FORBIDDEN;
		}
		*ids = *opened;
		*scope = req->scope;
		return LETHE_OK;
	}
	app = config_meta_app(r->cfg, req->app);
	if (app == NULL ||
	    meta_box_open(r->cfg->key, req->app, box, boxlen, user_id, cap) != LETHE_OK) {
		log_warnx("request %lld: app '%s' is no longer configured or its identity cannot "
		          "be opened; marking it failed",
		          (long long)req->id, req->app);
		return LETHE_E_FORBIDDEN;
	}
	one->kind = app->identity;
	one->value = user_id;
	*ids = one;
	*nids = 1;
	*scope = app->scope;
	return LETHE_OK;
}

/* runner_finish() for @r (its configuration, map and completion callback). */
static lethe_rc
finish_run(struct runner *r, struct appdb *db, struct store *st, const struct store_request *req,
           const struct run_finish *f, const char **state, struct lethe_err *err)
{
	return runner_finish(r->cfg, r->dm, r->done, db, st, req, f, state, err);
}

/* The erasure ended but its end (the scan, the record) did not: logged, taken again. */
static void
end_failed(const struct store_request *req, const struct lethe_err *err)
{
	static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);

	log_warnx_limited(&lim, "request %lld: erased, but its end failed; will retry: %s",
	                  (long long)req->id, err->msg);
}

/*
 * Erase the person of request @req; records the outcome.  LETHE_E_UNAVAILABLE
 * if stopped, LETHE_E_BUSY if another process runs its job.
 */
/*
 * Mark request @id failed after its erasure failed JOB_FAILS_MAX times in a
 * row.  Its reason says why when the last run's failure is one an operator
 * may read in the request (@media_why: a media store's, naming the store
 * and never a key: erase_result.media_failure, or the residual scan's
 * scan_work_after() @media_why), else points to the log, whose messages
 * may quote the app database.
 */
static lethe_rc
fail_request(struct store *st, int64_t id, const char *media_why)
{
	char reason[JOB_REASON_MAX];

	job_fail_reason("erasure", media_why, reason);
	return job_fail(st, id, "received,scheduled,running", reason, NULL);
}

static lethe_rc
run_request(struct runner *r, struct appdb *db, struct store *st, struct store_request *req,
            const uint8_t *box, size_t boxlen)
{
	char user_id[256];
	struct plan_id one, *opened = NULL;
	const struct plan_id *ids = NULL;
	size_t nids = 0;
	const char *scope = NULL;
	bool meta = req->app[0] != '\0';
	struct plan_id *all = NULL; /* a Meta request's id and its deauthorized channels */
	struct deauth_chans chans;
	/*
	 * The run this pass does: a running request resumes the run its job
	 * belongs to (a repeat received since asked for one more, which
	 * store_meta_update() starts once this one is recorded); otherwise the
	 * latest run asked for.
	 */
	int64_t run =
	    strcmp(req->state, "running") == 0 && req->job_run > 0 ? req->job_run : req->runs;
	int64_t since = req->run_at > 0 ? req->run_at : req->received_at;
	/* The request's job belongs to an earlier, finished run. */
	bool earlier = req->job != 0 && req->job_run < run;
	struct job_note note = {.st = st, .req = req, .run = run};
	struct plan *plan = NULL;
	struct erase_opts eo;
	struct erase_result res;
	struct run_finish f; /* how the run ends: its person, scope and run set once */
	char scan_why[SCAN_WORK_WHY_MAX] = ""; /* a media store the scan could not check */
	struct lethe_err err = {0};
	int64_t total = 0;
	const char *fstate = NULL; /* the state finish_request() entered */
	int64_t erased_job = 0;    /* the job of an erasure this pass completed */
	int64_t prev_job = 0;      /* an ended job of this run before it (struct finish) */
	size_t i;
	lethe_rc rc;

	memset(&res, 0, sizeof(res));
	memset(&chans, 0, sizeof(chans));
	if (!meta && strcmp(req->state, "scheduled") == 0) {
		bool won = false;

		rc = claim_request(st, req, &won, &err);
		if (rc != LETHE_OK || !won)
			return rc; /* cancelled or refused as its grace ended */
	}
	/* A restriction erases nothing: its effects are the request. */
	if (!meta && strcmp(req->kind, "restriction") == 0) {
		rc = restriction_work_run(r->cfg, r->dm, db, st, req, box, boxlen, &err);
		if (rc == LETHE_OK && r->done != NULL && strcmp(req->state, "completed") == 0)
			r->done((double)(time_now() - since), "completed", "restriction");
		if (rc != LETHE_OK && rc != LETHE_E_UNAVAILABLE) {
			static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);

			log_warnx_limited(&lim,
			                  "request %lld: restriction not done, will retry: %s",
			                  (long long)req->id, err.msg);
		}
		if (rc != LETHE_E_UNAVAILABLE &&
		    job_fails_count(&r->fails, req->id, rc == LETHE_OK) &&
		    job_fail(st, req->id, "received,scheduled,running",
		             "the restriction failed 3 times in a row; see the log, then retry it",
		             NULL) == LETHE_OK)
			rc = LETHE_OK;
		return rc;
	}
	if (request_person(r, req, box, boxlen, user_id, sizeof(user_id), &one, &opened, &ids,
	                   &nids, &scope) != LETHE_OK) {
		if (!meta)
			return job_fail(st, req->id, "received,scheduled,running",
			                "its identities could not be opened (was the anonymize key "
			                "changed?)",
			                &err);
		return store_meta_update(st, req->id, "failed", 0, false, time_now(), run, &err);
	}
	/* Effects a policy applies at acceptance come first (no grace: this pass). */
	if (!meta && req->effects == STORE_EFFECTS_APPLY) {
		rc = request_work_effects(r->cfg, r->dm, db, st, req, box, boxlen, &err);
		if (rc != LETHE_OK)
			goto out;
	}
	/* A Meta request also erases the channels a deauthorize of the person cleared. */
	if (meta) {
		rc = request_ids(r, db, st, req, &one, &chans, &all, &nids, &err);
		if (rc != LETHE_OK)
			goto out;
		ids = all;
	}
	memset(&f, 0, sizeof(f));
	f.media_why = scan_why;
	f.ids = ids;
	f.nids = nids;
	f.scope = scope;
	f.run = run;
	f.since = since;
	prev_job = earlier ? 0 : req->job;
	f.prev_job = prev_job;
	/* Plan first (it only reads): most ids of a flood match nobody, and need one write. */
	rc = plan_build_any(r->dm, db, scope, ids, nids, meta ? 1 : nids, true, &plan, &err);
	for (i = 0; rc == LETHE_OK && i < plan->nsteps; i++)
		total += plan->steps[i].rows > 0 ? plan->steps[i].rows : 0;
	if (rc == LETHE_OK && total == 0 && req->job == 0) {
		/* The id matches nobody: nothing to erase; the page says so. */
		f.state = "completed";
		f.no_data = true;
		rc = finish_run(r, db, st, req, &f, &fstate, &err);
		goto out;
	}
	if (rc == LETHE_OK && total == 0 && earlier) {
		/*
		 * A rerun with nothing left to erase: the page keeps showing what
		 * the earlier run erased (and kept), not "no data found".
		 */
		struct store_job job;
		const char *state = "completed";
		int64_t keep = req->job;

		memset(&job, 0, sizeof(job));
		rc = store_job_get(st, req->job, &job, &err);
		if (rc == LETHE_OK && strcmp(job.state, "completed_with_retention") == 0)
			state = "completed_with_retention";
		if (rc == LETHE_E_NOTFOUND)
			keep = 0; /* (the job is gone: nothing to show) */
		if (rc == LETHE_OK || rc == LETHE_E_NOTFOUND) {
			f.state = state;
			f.job = keep;
			rc = finish_run(r, db, st, req, &f, &fstate, &err);
		}
		store_job_clear(&job);
		goto out;
	}
	/*
	 * This run's erasure ended but the request did not (a crash before its
	 * end was recorded, a scan that could not run) and nothing is left to
	 * erase: the run ends with that job -- its steps, the media keys it
	 * kept for the scan -- not with an empty new one.
	 */
	if (rc == LETHE_OK && total == 0 && !earlier && req->job != 0) {
		const char *state = NULL;

		rc = job_ended_state(st, req->job, &state, &err);
		if (rc == LETHE_OK && state != NULL) {
			f.state = state;
			f.job = req->job;
			f.erased = true;
			erased_job = req->job;
			rc = finish_run(r, db, st, req, &f, &fstate, &err);
			if (rc == LETHE_OK)
				log_info("request %lld: %s (job %lld)", (long long)req->id, fstate,
				         (long long)req->job);
			else
				end_failed(req, &err);
			goto out;
		}
	}
	if (rc == LETHE_OK)
		rc = store_meta_update(st, req->id, "running", earlier ? 0 : req->job, false, 0,
		                       run, &err);
	/* The ledger of erased people: the person's rows as keyed hashes, before any goes. */
	if (rc == LETHE_OK)
		rc = ledger_work_before(r->cfg, r->dm, db, st, req->id, scope, ids, nids, &err);
	if (rc == LETHE_OK) {
		engine_opts_erase(r->cfg, &eo);
		/* The residual scan asks the stores about the objects removed: keep their keys. */
		eo.keep_removed_media = r->cfg->proof.scan;
		eo.stop = &r->w.stop_flag;
		eo.on_job = note_job;
		eo.job_arg = &note;
		eo.on_renew = renew_request;
		note.owner = r->owner[0] != '\0' ? r->owner : NULL;
		note.renewed = time_mono_ms();
		/* One erasure at a time: a failed run's lease is this runner's to take back. */
		eo.owner = r->owner[0] != '\0' ? r->owner : NULL;
		rc = erase_run(plan, ids, nids, db, st, &eo, &res, &err);
	}
	if (rc == LETHE_OK) {
		f.state = res.state;
		f.job = res.job;
		f.erased = true;
		erased_job = res.job;
		rc = finish_run(r, db, st, req, &f, &fstate, &err);
		if (rc == LETHE_OK)
			log_info("request %lld: %s (job %lld, %.0f ms)", (long long)req->id, fstate,
			         (long long)res.job, res.elapsed_ms);
		else
			end_failed(req, &err);
	} else if (rc == LETHE_E_BUSY) {
		/* Another process runs its job, or the app database made it wait (a lock, a
		 * timeout, a lost connection): not a failure, the request is taken again. */
		static struct log_limit busy = LOG_LIMIT_INIT(10, 60000.);

		log_warnx_limited(&busy, "request %lld: not now, retried later: %s",
		                  (long long)req->id, err.msg);
	} else if (rc != LETHE_E_UNAVAILABLE) {
		static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);

		log_warnx_limited(&lim, "request %lld: erasure failed, will retry: %s",
		                  (long long)req->id, err.msg);
	}
out:
	/*
	 * A request not from Meta whose erasure fails JOB_FAILS_MAX times in a row
	 * is marked failed (visible, retryable) instead of being retried
	 * unseen; Meta's are retried until they succeed, as Meta expects.
	 */
	if (!meta && rc != LETHE_E_BUSY && rc != LETHE_E_UNAVAILABLE &&
	    job_fails_count(&r->fails, req->id, rc == LETHE_OK) &&
	    fail_request(st, req->id,
	                 res.media_failure[0] != '\0' ? res.media_failure : scan_why) == LETHE_OK) {
		/*
		 * Its erasure was done and only the end (the scan) failed: the
		 * object keys kept for the scan go.  An erasure not done keeps its
		 * records: the objects not yet removed are removed when it is run
		 * again, which resumes the same job.
		 */
		if (erased_job != 0 && scan_work_forget(st, erased_job, prev_job, &err) != LETHE_OK)
			log_warnx("request %lld: the media keys of job %lld stay recorded: %s",
			          (long long)req->id, (long long)erased_job, err.msg);
		rc = LETHE_OK;
	}
	request_ids_free(opened, opened != NULL ? nids : 0);
	for (i = 0; i < chans.n; i++) {
		sodium_memzero(chans.ids[i], strlen(chans.ids[i]));
		free(chans.ids[i]);
	}
	free(all);
	sodium_memzero(user_id, sizeof(user_id));
	erase_result_free(&res);
	plan_free(plan);
	return rc;
}

/*
 * run_request() by one worker at a time on a store several share: a request
 * another live worker runs is LETHE_E_BUSY (its job has a lease of its own,
 * but its plan, ledger entries and job creation come before it).  @req was
 * read (with its box) before the lease was taken: another worker may have run
 * and finished the request since, so it is read again under the lease and
 * run as it is now, or given back (LETHE_E_BUSY) when no longer runnable.
 */
static lethe_rc
run_request_once(struct runner *r, struct appdb *db, struct store *st,
                 const struct store_request *req)
{
	struct lethe_err err = {0};
	struct store_request now;
	uint8_t *nbox = NULL;
	size_t nlen = 0;
	bool held = false;
	lethe_rc rc;

	if (r->owner[0] == '\0')
		lease_owner_format(r->owner, sizeof(r->owner));
	rc = store_item_take(st, "request", req->id, r->owner, REQUEST_LEASE_MS, &held, &err);
	if (rc != LETHE_OK) {
		log_warnx("request %lld: %s", (long long)req->id, err.msg);
		return rc;
	}
	if (!held)
		return LETHE_E_BUSY;
	rc = store_request_get_box(st, req->id, &now, &nbox, &nlen, &err);
	if (rc == LETHE_OK &&
	    (!store_request_runnable(&now, time_now()) || strcmp(now.kind, "export") == 0))
		rc = LETHE_E_BUSY; /* finished (or changed) meanwhile: nothing to run */
	else if (rc == LETHE_OK)
		rc = run_request(r, db, st, &now, nbox, nlen);
	else if (rc == LETHE_E_NOTFOUND)
		rc = LETHE_E_BUSY;
	else
		log_warnx("request %lld: %s", (long long)req->id, err.msg);
	if (nbox != NULL)
		sodium_memzero(nbox, nlen);
	free(nbox);
	if (store_item_release(st, "request", req->id, r->owner, &err) != LETHE_OK)
		log_warnx("request %lld: %s", (long long)req->id, err.msg);
	return rc;
}

/*
 * Once per start: failed Meta requests that still hold their sealed
 * identity get another try (the right anonymize key, checked against its
 * recorded fingerprint before any runner starts, or the app's configuration
 * may be back).  One that fails again is marked failed again.  Other
 * requests wait for an operator's retry, which their history records.
 */
static void
retry_failed(struct store *st)
{
	struct lethe_err err = {0};
	int64_t n = 0;

	if (store_meta_retry_failed(st, &n, &err) != LETHE_OK)
		log_warnx("runner: %s", err.msg);
	else if (n > 0)
		log_info(
		    "runner: %lld failed requests still hold their identity; trying them again",
		    (long long)n);
}

/*
 * Before the next erasure: expire and warn (once a second), purge links
 * long expired (at start, then once an hour), then apply or
 * undo the effects of every request that has some due.  Failures are
 * logged and tried again on the next pass; they never stop the queue.
 * The runner thread's only (runner_drain() leaves all this to serve).
 */
static void
housekeeping(struct runner *r, struct appdb *db, struct store *st)
{
	struct lethe_err err = {0};
	int64_t after = 0;
	double now = time_mono_ms();
	int n;

	if (r->last_tick == 0 || now - r->last_tick >= TICK_MS) {
		r->last_tick = now;
		if (request_work_tick(r->cfg, st, time_now(), &err) != LETHE_OK)
			log_warnx("runner: %s", err.msg);
		/* A signed checkpoint of the audit chain, every proof.checkpoint_interval. */
		proof_work_tick(r->cfg, st, &r->last_checkpoint);
	}
	if (r->last_purge == 0 || now - r->last_purge >= PURGE_MS) {
		r->last_purge = now;
		if (request_work_purge_links(st, time_now(), &err) != LETHE_OK)
			log_warnx("runner: %s", err.msg);
	}
	/* At most 64 a pass, so erasures go on while a backlog of effects is worked off. */
	for (n = 0; n < 64 && !worker_stopping(&r->w); n++) {
		struct store_request req;
		uint8_t *box = NULL;
		size_t boxlen = 0;
		lethe_rc rc = store_request_effects_next(st, after, &req, &box, &boxlen, &err);

		if (rc == LETHE_OK) {
			after = req.id;
			rc = request_work_effects(r->cfg, r->dm, db, st, &req, box, boxlen, &err);
			if (rc != LETHE_OK) {
				static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);

				log_warnx_limited(&lim,
				                  "request %lld: effects not done, will retry: %s",
				                  (long long)req.id, err.msg);
			}
		}
		if (box != NULL)
			sodium_memzero(box, boxlen);
		free(box);
		if (rc == LETHE_E_NOTFOUND)
			break;
		if (rc != LETHE_OK && after == 0) {
			log_warnx("runner: %s", err.msg);
			break;
		}
	}
}

static void
runner_main(struct worker *w, void *arg)
{
	struct runner *r = arg;
	struct appdb *db = NULL;
	struct store *st = NULL;
	struct lethe_err err = {0};
	int64_t after = 0; /* requests up to this id were tried in this round */
	double slice_start = time_mono_ms();
	unsigned turn = 0; /* turns taken, for SCHEDULED_EVERY */

	/* Erasures may lag a flood of callbacks by seconds; answering Meta may not. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
		log_debug("runner: cannot lower its priority");

	for (;;) {
		struct store_request req;
		uint8_t *box = NULL;
		size_t boxlen = 0;
		lethe_rc rc;

		if (db == NULL)
			db = appdb_open(r->cfg->app_db, r->cfg->dir, &err);
		if (st == NULL && store_open(r->cfg->state_db, &st, &err) != LETHE_OK)
			st = NULL;
		if (db == NULL || st == NULL) {
			static struct log_limit lim = LOG_LIMIT_INIT(1, 60000.);

			log_warnx_limited(&lim, "runner: %s; retrying", err.msg);
			if (worker_nap(&r->w, RETRY_WAIT_S * 1000))
				break;
			continue;
		}
		if (!r->retried) {
			r->retried = true;
			retry_failed(st);
		}
		if (yield_to_intake(r, &slice_start))
			break;
		housekeeping(r, db, st);
		/*
		 * Every SCHEDULED_EVERY-th turn a scheduled request whose grace
		 * ended goes first: a flood of Meta requests keeps received ones
		 * coming and must not hold an account closure back for hours.
		 */
		rc = store_request_next(st, after, time_now(), ++turn % SCHEDULED_EVERY == 0, &req,
		                        &box, &boxlen, &err);
		if (rc == LETHE_E_NOTFOUND) {
			after = 0;
			if (worker_nap(&r->w, IDLE_WAIT_S * 1000))
				break;
			slice_start = time_mono_ms();
			continue;
		}
		if (rc == LETHE_OK) {
			after = req.id;
			rc = run_request_once(r, db, st, &req);
		}
		if (box != NULL)
			sodium_memzero(box, boxlen);
		free(box);
		if (rc == LETHE_E_UNAVAILABLE)
			break;
		/* Busy: another process runs that job; go on with the next request. */
		if (rc != LETHE_OK && rc != LETHE_E_BUSY && worker_nap(&r->w, RETRY_WAIT_S * 1000))
			break;
		if (worker_stopping(&r->w))
			break;
	}
	appdb_close(db);
	store_close(st);
}

lethe_rc
runner_start(const struct lethe_config *cfg, const struct datamap *dm, runner_done_fn done,
             struct runner **out, struct lethe_err *err)
{
	struct runner *r = xcalloc(1, sizeof(*r));

	struct store *st = NULL;
	struct lethe_err serr = {0};

	r->cfg = cfg;
	r->dm = dm;
	r->done = done;
	/*
	 * Failed requests that get another try are 'received' again before the
	 * caller answers anything (a status page must not show "failed" for a
	 * request about to run); if the store cannot be opened now, the thread
	 * does it once it can.
	 */
	if (store_open(cfg->state_db, &st, &serr) == LETHE_OK) {
		retry_failed(st);
		r->retried = true;
	}
	store_close(st);
	worker_init(&r->w, NULL);
	if (!worker_start(&r->w, "lethe-runner", runner_main, r)) {
		worker_destroy(&r->w);
		free(r);
		return lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the job runner");
	}
	*out = r;
	return LETHE_OK;
}

void
runner_set_busy(struct runner *r, bool (*busy)(void *), void *arg)
{
	pthread_mutex_lock(r->w.mu);
	r->busy_arg = arg;
	r->busy = busy;
	pthread_mutex_unlock(r->w.mu);
}

void
runner_kick(void *arg)
{
	struct runner *r = arg;

	worker_kick(&r->w);
}

void
runner_stop(struct runner *r)
{
	if (r == NULL)
		return;
	worker_stop(&r->w);
	worker_destroy(&r->w);
	free(r);
}

lethe_rc
runner_drain(const struct lethe_config *cfg, const struct datamap *dm, int64_t *done,
             int64_t *elsewhere, struct lethe_err *err)
{
	int64_t after = 0;
	struct runner r;
	struct appdb *db = NULL;
	struct store *st = NULL;
	lethe_rc rc = LETHE_OK;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.dm = dm;
	*done = 0;
	*elsewhere = 0;
	db = appdb_open(cfg->app_db, cfg->dir, err);
	if (db == NULL)
		return err ? err->rc : LETHE_E_DB;
	rc = store_open(cfg->state_db, &st, err);
	if (rc == LETHE_OK)
		retry_failed(st);
	while (rc == LETHE_OK) {
		struct store_request req;
		uint8_t *box = NULL;
		size_t boxlen = 0;

		rc = store_request_next(st, after, time_now(), false, &req, &box, &boxlen, err);
		if (rc == LETHE_E_NOTFOUND) {
			rc = LETHE_OK;
			break;
		}
		/*
		 * Only Meta's requests: the others may wait for their grace
		 * period or need the outbox key this command does not load;
		 * lethe serve runs them.  (A scheduled request is never Meta's.)
		 */
		if (rc == LETHE_OK && req.app[0] == '\0') {
			if (box != NULL)
				sodium_memzero(box, boxlen);
			free(box);
			if (strcmp(req.state, "scheduled") == 0)
				break;
			after = req.id;
			continue;
		}
		if (rc == LETHE_OK) {
			after = req.id;
			rc = run_request_once(&r, db, st, &req);
		}
		if (box != NULL)
			sodium_memzero(box, boxlen);
		free(box);
		if (rc == LETHE_OK) {
			(*done)++;
		} else if (rc == LETHE_E_BUSY) {
			/* A running server has it; it finishes there. */
			(*elsewhere)++;
			rc = LETHE_OK;
		} else {
			lethe_err_set(err, rc, "erasing request %lld failed; run again to resume",
			              (long long)req.id);
		}
	}
	appdb_close(db);
	store_close(st);
	return rc;
}
