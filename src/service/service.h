/* SPDX-License-Identifier: MIT */
/*
 * service.h - the service layer: what the front ends (http/, cli/) may ask
 * of lethe, one function per action, and the context that owns what those
 * actions share.
 *
 * A struct service owns the configuration and data map it was given (read
 * only), the shared connections to the app database and the state store,
 * each behind its own mutex, and, in the daemon (service_start()), the
 * background threads: runner, outbox, sweeper, intake and the worker pool
 * of blocking HTTP handlers.  The lock order is db_mu before st_mu; every
 * function here takes and releases the locks it needs, so a front end never
 * holds one.  Functions are thread-safe unless said otherwise.  See
 * docs/internals/architecture.md.
 */
#ifndef LETHE_SERVICE_H
#define LETHE_SERVICE_H

#include "util/fmacros.h"

#include <jansson.h>

#include "config/config.h"
#include "datamap/datamap.h"
#include "engine/disconnect.h"
#include "jobs/runner.h"
#include "meta/intake.h"
#include "util/buf.h"
#include "util/rc.h"

struct service;
struct pool;

/* ---- the daemon (daemon.c) ------------------------------------------------ */

/*
 * Open the app database and the state store of @cfg and start the runner
 * (calling @on_done, may be NULL, as each request completes), the sweeper
 * (if cfg->sweep_enabled), the outbox, the intake and the worker pool.
 * @cfg (secrets and keys loaded) and @dm must outlive the service.  On
 * failure nothing is left running and *@out is NULL.  Stop with
 * service_quiesce(), then service_stop().
 */
lethe_rc service_start(const struct lethe_config *cfg, const struct datamap *dm,
                       runner_done_fn on_done, struct service **out, struct lethe_err *err);
/*
 * Stop taking work: finish what the worker pool and the intake have queued
 * (calling every completion function) and make later submissions run or
 * fail at once.  The HTTP server calls this before it stops libmicrohttpd,
 * so that no connection stays suspended.  Idempotent; NULL is a no-op.
 */
void service_quiesce(struct service *svc);
/* Quiesce, stop every thread, close the databases and free @svc.  NULL is a no-op. */
void service_stop(struct service *svc);
/* The configuration the service was started with. */
const struct lethe_config *service_config(const struct service *svc);
/* The worker pool for blocking work (the HTTP server's blocking handlers). */
struct pool *service_pool(struct service *svc);

/* ---- Meta callbacks (service_meta.c) --------------------------------------- */

/*
 * Fill @in (app, subject, sealed id, receipt time) for a data-deletion
 * request of @app about @user_id; @done is set by the caller.  The hot
 * path: no lock, no lookup; one allocation (the sealed id, in->box, freed
 * by the caller).  Then service_meta_submit().
 */
void service_meta_prepare(struct service *svc, const struct meta_app *app, const char *user_id,
                          struct intake_req *in);
/* Hand @in to the intake: in->done(in) is called exactly once (meta/intake.h). */
void service_meta_submit(struct service *svc, struct intake_req *in);
/*
 * Deauthorize: wipe the tokens of @app's person @user_id at once (as a
 * channel disconnect does) and record it.  Blocks on both databases.
 */
lethe_rc service_meta_deauthorize(struct service *svc, const struct meta_app *app,
                                  const char *user_id, struct lethe_err *err);

/* ---- channels (service_channel.c) ------------------------------------------ */

#define SERVICE_CHANNEL_ID_MAX DISCONNECT_ID_MAX /* digits of a channel id */

/* True if @id is a channel id lethe accepts: 1 to 19 decimal digits, not all zero. */
bool service_channel_id_ok(const char *id);
/* Channel @id's state as JSON into *@out (caller frees); LETHE_E_NOTFOUND if none. */
lethe_rc service_channel_state(struct service *svc, const char *id, json_t **out,
                               struct lethe_err *err);
/*
 * Disconnect channel @id (idempotent; @via says who asked: "api", "cli"),
 * then wake the outbox.  LETHE_E_NOTFOUND, LETHE_E_BUSY (in progress) and
 * LETHE_E_INVALID (err->msg safe to show) as disconnect_channel().
 */
lethe_rc service_channel_disconnect(struct service *svc, const char *id, const char *via,
                                    struct lethe_err *err);

/* ---- the status page, metrics, readiness (service_status.c) ---------------- */

#define SERVICE_STATUS_CATS 32 /* categories a status shows at most */

/* What the status page shows of one category of data. */
struct status_category {
	const char *category;       /* e.g. "messages", "meta-sourced", "billing" */
	int64_t deleted;            /* rows deleted */
	int64_t anonymized;         /* rows anonymized */
	int64_t retained;           /* rows kept under a legal hold */
	const char *reason;         /* why retained (shown to the person), or NULL */
	const char *retained_until; /* "YYYY-MM-DD" or NULL */
};

/* The facts of one data-deletion request, as its status page shows them. */
struct service_status {
	char code[64];                                    /* the confirmation code */
	char state[32];                                   /* the request's state */
	int64_t received_at;                              /* receipt of its latest run (epoch s) */
	int64_t completed_at;                             /* epoch s, 0 if not */
	char app[64];                                     /* the Meta app family */
	const char *platform;                             /* its label: "Facebook", ... */
	bool no_data;                                     /* the id matched nobody */
	bool account_remains;                             /* the scope leaves the account */
	struct status_category cats[SERVICE_STATUS_CATS]; /* outcome per category */
	char until[SERVICE_STATUS_CATS][16];              /* retained_until texts */
	size_t ncats;                                     /* categories used */
};

/*
 * The status of the request with confirmation code @code into @out (about
 * 2 KiB: not for the stack of an event thread); LETHE_E_NOTFOUND if no
 * request has it.  A code answered a moment ago and still on its way from
 * the intake is waited for (at most about 2 s).  Pointers in @out point
 * into @out or the data map.  Blocking.
 */
lethe_rc service_status_lookup(struct service *svc, const char *code, struct service_status *out,
                               struct lethe_err *err);
/* Append the state store's and the threads' Prometheus metrics to @b.  Blocking. */
void service_metrics(struct service *svc, struct buf *b);
/*
 * NULL when ready (both databases answer, the intake takes requests, enough
 * free space); else why not, static or in @msg (@cap bytes).  Blocking.
 */
const char *service_ready(struct service *svc, char *msg, size_t cap);

#endif /* LETHE_SERVICE_H */
