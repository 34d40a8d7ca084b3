/* SPDX-License-Identifier: MIT */
/*
 * outbox.c - running the outbox's jobs (see outbox.h).
 *
 * A job is claimed (state running, a lease) in one statement, so two
 * processes never call the platform for the same job at the same time; the
 * call runs without any lock held; its outcome is written back only if the
 * lease is still ours.  A process killed during a call leaves the job
 * running: the next claim takes it over (dead process on this host, or
 * lapsed lease) and calls again, which the platforms treat as idempotent
 * ("already revoked" counts as success).
 *
 * The worker thread sleeps until the earliest due job, a kick, or a second.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "engine/disconnect.h"
#include "engine/erase.h"
#include "engine/plan.h"
#include "jobs/engine_opts.h"
#include "jobs/notify.h"
#include "jobs/outbox.h"
#include "platform/platform.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/worker.h"

#define IDLE_MS 1000          /* look for due jobs at least this often */
#define BUSY_RETRY_MS 2000    /* a purge whose erase job another process runs */
#define KEY_RETRY_MS 60000    /* a job sealed under another outbox key */
#define RECOVER_AGE_S 10      /* staged disconnects older than this are repaired */
#define PURGE_SCOPE "channel" /* the data map scope a purge erases */

/* ---- the outbox key ------------------------------------------------------------ */

lethe_rc
outbox_key_check(const struct lethe_config *cfg, struct store *st, struct lethe_err *err)
{
	char fp[HASH_TEXT_LEN + 1];
	lethe_rc rc;

	config_key_fingerprint(cfg->outbox.key, "outbox", fp);
	rc = store_key_check(st, "outbox", fp, err);
	if (rc == LETHE_E_CONFIG)
		lethe_err_set(err, rc,
		              "the outbox key is not the one this state store's jobs are sealed "
		              "with (check outbox.key_env / outbox.key_file: every lethe "
		              "process of this state store needs the same key)");
	return rc;
}

int64_t
outbox_backoff_ms(const struct outbox_config *o, int64_t failures, uint32_t rnd)
{
	int64_t bound = o->base_ms;
	int64_t i;

	for (i = 1; i < failures && bound < o->cap_ms; i++)
		bound *= 2;
	if (bound > o->cap_ms)
		bound = o->cap_ms;
	/* Full jitter: uniform in [0, bound]. */
	return (int64_t)(((uint64_t)rnd * (uint64_t)(bound + 1)) >> 32);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- running one job ------------------------------------------------------------- */

/* A failed try: pending again after a backoff, or dead past the limits. */
static void
job_failed(const struct lethe_config *cfg, struct store_outbox *j, const char *outcome,
           const char *reason, int64_t t)
{
	const struct outbox_config *o = &cfg->outbox;

	snprintf(j->outcome, sizeof(j->outcome), "%s", outcome);
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
	if (j->attempts >= o->max_attempts) {
		snprintf(j->state, sizeof(j->state), "dead");
		snprintf(j->reason, sizeof(j->reason), "gave up after %lld attempts: %s",
		         (long long)j->attempts, reason);
	} else if (t - j->created_at_ms >= o->max_age_s * 1000) {
		snprintf(j->state, sizeof(j->state), "dead");
		snprintf(j->reason, sizeof(j->reason), "gave up after %lld s: %s",
		         (long long)o->max_age_s, reason);
	} else {
		snprintf(j->state, sizeof(j->state), "pending");
		j->next_at_ms = t + outbox_backoff_ms(o, j->attempts, randombytes_random());
	}
}

void
outbox_job_failed(const struct lethe_config *cfg, struct store_outbox *j, const char *outcome,
                  const char *reason)
{
	job_failed(cfg, j, outcome, reason, now_ms());
}

static void
job_finished(struct store_outbox *j, const char *state, const char *outcome, const char *reason)
{
	snprintf(j->state, sizeof(j->state), "%s", state);
	snprintf(j->outcome, sizeof(j->outcome), "%s", outcome);
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
}

/* A revoke or unsubscribe call, bounded by @deadline_ms (epoch ms, 0: the configured timeout). */
static void
run_call(const struct lethe_config *cfg, struct store_outbox *j, const struct outbox_payload *pl,
         int64_t deadline_ms)
{
	enum platform_op op =
	    strcmp(j->kind, "revoke") == 0 ? PLATFORM_REVOKE : PLATFORM_UNSUBSCRIBE;
	struct platform_result r;
	int64_t left = deadline_ms > 0 ? deadline_ms - now_ms() : INT32_MAX;

	memset(&r, 0, sizeof(r));
	if (left <= 0) {
		/* No time left for a call: it stays due, nothing was tried. */
		snprintf(j->state, sizeof(j->state), "pending");
		j->next_at_ms = now_ms();
		return;
	}
	j->attempts++;
	platform_call_within(cfg->platforms, j->platform, op, pl->token,
	                     pl->account[0] != '\0' ? pl->account : NULL,
	                     left < INT32_MAX ? (long)left : INT32_MAX, &r);
	j->http_status = r.http_status;
	switch (r.outcome) {
	case PLATFORM_OK:
		job_finished(j, "done", op == PLATFORM_REVOKE ? "revoked" : "unsubscribed", "");
		break;
	case PLATFORM_ALREADY:
		job_finished(j, "done",
		             op == PLATFORM_REVOKE ? "already_revoked" : "already_unsubscribed",
		             r.detail);
		break;
	case PLATFORM_UNSUPPORTED:
		job_finished(j, "done", "unsupported", r.detail);
		break;
	case PLATFORM_FAILED:
		job_finished(j, "dead", "failed", r.detail);
		break;
	case PLATFORM_RETRY:
	default:
		job_failed(cfg, j, "retry", r.detail, now_ms());
		break;
	}
}

struct purge_note {
	struct store *st;        /* where to record */
	int64_t job;             /* the outbox job */
	const char *owner;       /* its lease holder */
	int64_t lease_ms;        /* lease length */
	int64_t renewed_ms;      /* when the lease was last extended */
	const volatile int *ext; /* the caller's stop flag, or NULL */
	int64_t deadline_ms;     /* stop once past this (epoch ms), 0: never */
	volatile int stop;       /* what the erasure polls between batches */
};

/* Between batches: stop when asked or past the deadline; keep the job's lease alive. */
static void
renew_lease(void *arg, const struct erase_progress *p)
{
	struct purge_note *n = arg;
	int64_t t = now_ms();

	(void)p;
	if ((n->ext != NULL && *n->ext) || (n->deadline_ms > 0 && t >= n->deadline_ms))
		n->stop = 1;
	if (t - n->renewed_ms < n->lease_ms / 3)
		return;
	if (store_outbox_renew(n->st, n->job, n->owner, t, n->lease_ms, NULL) == LETHE_OK)
		n->renewed_ms = t;
}

static void
note_erase_job(void *arg, int64_t erase_job)
{
	struct purge_note *n = arg;

	store_outbox_set_erase_job(n->st, n->job, erase_job, NULL);
}

/* A purge: the erasure of the channel's derived data in the 'channel' scope. */
static lethe_rc
run_purge(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
          struct store *st, struct store_outbox *j, const struct outbox_payload *pl,
          const char *owner, const volatile int *stop, int64_t deadline_ms)
{
	const struct dm_scope *sc = datamap_scope(dm, PURGE_SCOPE);
	struct purge_note note = {.st = st,
	                          .job = j->id,
	                          .owner = owner,
	                          .lease_ms = cfg->outbox.lease_ms,
	                          .renewed_ms = now_ms(),
	                          .ext = stop,
	                          .deadline_ms = deadline_ms,
	                          .stop = stop != NULL ? *stop : 0};
	struct plan *plan = NULL;
	struct plan_id id;
	struct erase_opts eo;
	struct erase_result res;
	struct lethe_err err = {0};
	lethe_rc rc;

	memset(&res, 0, sizeof(res));
	if (sc == NULL || sc->nidentities == 0) {
		job_finished(j, "dead", "failed", "the data map has no 'channel' scope");
		return LETHE_OK;
	}
	j->attempts++;
	id.kind = sc->identities[0];
	id.value = pl->channel;
	rc = plan_build(dm, db, PURGE_SCOPE, &id, 1, true, &plan, &err);
	if (rc == LETHE_OK) {
		engine_opts_erase(cfg, &eo);
		eo.stop = &note.stop;
		eo.on_job = note_erase_job;
		eo.job_arg = &note;
		eo.on_progress = renew_lease;
		eo.arg = &note;
		rc = erase_run(plan, &id, 1, db, st, &eo, &res, &err);
	}
	if (rc == LETHE_OK) {
		j->erase_job = res.job;
		job_finished(j, "done", "purged", "");
	} else if (rc == LETHE_E_UNAVAILABLE) {
		/* Stopped between batches: resumes next time, not a failure. */
		j->attempts--;
		snprintf(j->state, sizeof(j->state), "pending");
		j->next_at_ms = now_ms();
	} else if (rc == LETHE_E_BUSY) {
		j->attempts--;
		snprintf(j->state, sizeof(j->state), "pending");
		j->next_at_ms = now_ms() + BUSY_RETRY_MS;
	} else {
		job_failed(cfg, j, "retry", lethe_rc_str(rc), now_ms());
	}
	erase_result_free(&res);
	plan_free(plan);
	return LETHE_OK;
}

/* Claim one due job and run it; LETHE_E_NOTFOUND if none is due. */
static lethe_rc
run_one(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
        struct store *st, int64_t disconnect_id, const char *owner, const volatile int *stop,
        int64_t deadline_ms, struct lethe_err *err)
{
	struct store_outbox j;
	struct outbox_payload *pl = xcalloc(1, sizeof(*pl));
	bool notice;
	lethe_rc rc;

	rc = store_outbox_claim(st, disconnect_id, owner, now_ms(), cfg->outbox.lease_ms, &j, err);
	if (rc != LETHE_OK) {
		free(pl);
		return rc;
	}
	/* A notice's payload is its own (notify.c): it opens and runs it, or says it cannot. */
	notice = strcmp(j.kind, NOTIFY_KIND) == 0;
	if ((notice ? notify_deliver(cfg, &j, deadline_ms)
	            : outbox_open(cfg->outbox.key, j.kind, j.box, j.boxlen, pl)) != LETHE_OK) {
		/*
		 * Sealed under another key: a process with the right key can still
		 * run it, so it waits (never a guess, never given up here).
		 */
		snprintf(j.state, sizeof(j.state), "pending");
		snprintf(j.reason, sizeof(j.reason),
		         "the sealed payload cannot be opened under this outbox key; waiting for a "
		         "process with the key it was sealed with");
		j.next_at_ms = now_ms() + KEY_RETRY_MS;
		log_warnx("outbox job %lld (%s): its payload cannot be opened under this outbox "
		          "key; left pending",
		          (long long)j.id, j.kind);
	} else if (notice) {
		/* notify_deliver() ran it. */
	} else if (strcmp(j.kind, "purge") == 0) {
		run_purge(cfg, dm, db, st, &j, pl, owner, stop, deadline_ms);
	} else {
		run_call(cfg, &j, pl, deadline_ms);
	}
	sodium_memzero(pl, sizeof(*pl));
	free(pl);
	rc = store_outbox_update(st, &j, owner, now_ms(), err);
	if (rc == LETHE_OK && strcmp(j.state, "dead") == 0)
		log_warnx("outbox job %lld (%s%s%s) is a dead letter: %s", (long long)j.id, j.kind,
		          j.platform[0] ? " " : "", j.platform, j.reason);
	else if (rc == LETHE_OK && strcmp(j.state, "done") == 0)
		log_info("outbox job %lld (%s%s%s): %s", (long long)j.id, j.kind,
		         j.platform[0] ? " " : "", j.platform, j.outcome);
	store_outbox_clear(&j);
	return rc;
}

lethe_rc
outbox_run_due(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
               struct store *st, int64_t disconnect_id, const char *owner, const volatile int *stop,
               int64_t deadline_ms, int *ran, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;

	*ran = 0;
	while (rc == LETHE_OK && (stop == NULL || *stop == 0) &&
	       (deadline_ms == 0 || now_ms() < deadline_ms) && *ran < 64) {
		rc = run_one(cfg, dm, db, st, disconnect_id, owner, stop, deadline_ms, err);
		if (rc == LETHE_OK)
			(*ran)++;
	}
	if (rc == LETHE_E_NOTFOUND)
		rc = LETHE_OK;
	return rc;
}

/* Counts a disconnect's unfinished jobs and the earliest time one is due. */
struct open_acc {
	int64_t open;       /* pending, staged or running jobs */
	int64_t open_unsub; /* of them unsubscribes (a revoke waits for them) */
	int64_t next_ms;    /* earliest next_at of a pending job that may run, 0 if none */
};

/* Jobs come by id: a disconnect's unsubscribes before its revoke. */
static void
count_open(void *arg, const struct store_outbox *j)
{
	struct open_acc *a = arg;
	bool waits = strcmp(j->kind, "revoke") == 0 && a->open_unsub > 0;

	if (strcmp(j->state, "done") == 0 || strcmp(j->state, "dead") == 0)
		return;
	a->open++;
	if (strcmp(j->kind, "unsubscribe") == 0)
		a->open_unsub++;
	if (!waits && strcmp(j->state, "pending") == 0 &&
	    (a->next_ms == 0 || j->next_at_ms < a->next_ms))
		a->next_ms = j->next_at_ms;
}

lethe_rc
outbox_drive(const struct lethe_config *cfg, const struct datamap *dm, int64_t disconnect_id,
             int64_t timeout_ms, struct lethe_err *err)
{
	struct appdb *db = NULL;
	struct store *st = NULL;
	char owner[LEASE_OWNER_MAX];
	int64_t deadline = now_ms() + timeout_ms;
	lethe_rc rc;

	lease_owner_format(owner, sizeof(owner));
	db = appdb_open(cfg->app_db, cfg->dir, err);
	if (db == NULL)
		return err ? err->rc : LETHE_E_DB;
	rc = store_open(cfg->state_db, &st, err);
	while (rc == LETHE_OK) {
		struct open_acc acc = {0, 0, 0};
		int ran = 0;
		int64_t wait;

		rc = outbox_run_due(cfg, dm, db, st, disconnect_id, owner, NULL, deadline, &ran,
		                    err);
		if (rc == LETHE_OK)
			rc = store_outbox_list(st, disconnect_id, NULL, count_open, &acc, err);
		if (rc != LETHE_OK || acc.open == 0)
			break;
		if (now_ms() >= deadline) {
			rc = lethe_err_set(err, LETHE_E_BUSY,
			                   "%lld job(s) still pending after %lld ms; `lethe serve` "
			                   "retries them (see `lethe jobs`)",
			                   (long long)acc.open, (long long)timeout_ms);
			break;
		}
		/* Sleep until the next due job (a running one elsewhere: poll). */
		wait = acc.next_ms > 0 ? acc.next_ms - now_ms() : 100;
		if (wait > deadline - now_ms())
			wait = deadline - now_ms();
		if (wait > 0) {
			struct timespec ts = {.tv_sec = wait / 1000,
			                      .tv_nsec = (long)(wait % 1000) * 1000000};

			nanosleep(&ts, NULL);
		}
	}
	store_close(st);
	appdb_close(db);
	return rc;
}

/* ---- the worker thread --------------------------------------------------------------- */

struct outbox {
	const struct lethe_config *cfg; /* configuration, keys loaded */
	const struct datamap *dm;       /* validated data map */
	struct worker w;                /* the thread (stop_flag: read by purges) */
	char owner[LEASE_OWNER_MAX];    /* this process's lease name */
};

static void
outbox_main(struct worker *w, void *arg)
{
	static struct log_limit run_log = LOG_LIMIT_INIT(10, 60000.);
	struct outbox *o = arg;
	struct appdb *db = NULL;
	struct store *st = NULL;
	struct lethe_err err = {0};
	int64_t last_recover = 0;

	for (;;) {
		int64_t next = 0, wait = IDLE_MS;
		int ran = 0, fixed = 0;
		lethe_rc rc;

		if (db == NULL)
			db = appdb_open(o->cfg->app_db, o->cfg->dir, &err);
		if (st == NULL && store_open(o->cfg->state_db, &st, &err) != LETHE_OK)
			st = NULL;
		if (db == NULL || st == NULL) {
			static struct log_limit lim = LOG_LIMIT_INIT(1, 60000.);

			log_warnx_limited(&lim, "outbox: %s; retrying", err.msg);
			if (worker_nap(w, 5000))
				break;
			continue;
		}
		if (time_now() - last_recover >= RECOVER_AGE_S) {
			struct disconnect_opts dop;

			last_recover = time_now();
			engine_opts_disconnect(o->cfg, &dop);
			if (disconnect_recover(&dop, o->dm, db, st, RECOVER_AGE_S, &fixed, &err) !=
			    LETHE_OK)
				log_warnx("outbox: recovering staged disconnects: %s", err.msg);
		}
		rc = outbox_run_due(o->cfg, o->dm, db, st, 0, o->owner, &w->stop_flag, 0, &ran,
		                    &err);
		if (rc != LETHE_OK && rc != LETHE_E_BUSY)
			log_warnx_limited(&run_log, "outbox: %s", err.msg);
		if (w->stop_flag)
			break;
		if (rc == LETHE_OK && store_outbox_next_due(st, &next, NULL) == LETHE_OK &&
		    next > 0)
			wait = next - now_ms();
		if (wait > IDLE_MS)
			wait = IDLE_MS;
		if (ran > 0 && wait < 0)
			wait = 0;
		if (wait < 1)
			wait = 1;
		if (worker_nap(w, wait))
			break;
	}
	appdb_close(db);
	store_close(st);
}

lethe_rc
outbox_start(const struct lethe_config *cfg, const struct datamap *dm, struct outbox **out,
             struct lethe_err *err)
{
	struct outbox *o = NULL;
	struct store *st = NULL;
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	/* Every process of a state store seals with one key: checked before any job runs. */
	if (dm->channel != NULL || cfg->proof.nrecipients > 0) {
		rc = store_open(cfg->state_db, &st, err);
		if (rc == LETHE_OK)
			rc = outbox_key_check(cfg, st, err);
		store_close(st);
	}
	if (rc != LETHE_OK)
		return rc;
	o = xcalloc(1, sizeof(*o));
	o->cfg = cfg;
	o->dm = dm;
	lease_owner_format(o->owner, sizeof(o->owner));
	worker_init(&o->w, NULL);
	if (!worker_start(&o->w, "lethe-outbox", outbox_main, o)) {
		worker_destroy(&o->w);
		free(o);
		return lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the outbox worker");
	}
	*out = o;
	return LETHE_OK;
}

void
outbox_kick(void *arg)
{
	struct outbox *o = arg;

	if (o == NULL)
		return;
	worker_kick(&o->w);
}

void
outbox_stop(struct outbox *o)
{
	if (o == NULL)
		return;
	worker_stop(&o->w);
	worker_destroy(&o->w);
	free(o);
}

/* ---- metrics ---------------------------------------------------------------------------- */

struct metrics_acc {
	struct buf *b; /* output */
	int64_t dead;  /* dead letters */
};

static void
count_kind(void *arg, const char *kind, const char *state, int64_t n)
{
	struct metrics_acc *a = arg;

	buf_addf(a->b, "lethe_outbox_jobs{kind=\"%s\",state=\"%s\"} %lld\n", kind, state,
	         (long long)n);
	if (strcmp(state, "dead") == 0)
		a->dead += n;
}

void
outbox_metrics(struct store *st, struct buf *b)
{
	struct metrics_acc a = {.b = b, .dead = 0};

	buf_adds(b, "# HELP lethe_outbox_jobs Outbox jobs (revoke, unsubscribe, purge, notify) by "
	            "state.\n"
	            "# TYPE lethe_outbox_jobs gauge\n");
	store_outbox_counts(st, count_kind, &a, NULL);
	buf_addf(b,
	         "# HELP lethe_outbox_dead_letters Outbox jobs that were given up.\n"
	         "# TYPE lethe_outbox_dead_letters gauge\nlethe_outbox_dead_letters %lld\n",
	         (long long)a.dead);
}
