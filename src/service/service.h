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
#include "engine/erase.h"
#include "engine/export.h"
#include "engine/plan.h"
#include "engine/request.h"
#include "engine/sweep.h"
#include "jobs/runner.h"
#include "meta/intake.h"
#include "meta/requests.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/rc.h"
#include "util/tplset.h"

struct service;
struct pool_task;

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
/*
 * Run @t on the daemon's worker pool (the HTTP server's blocking
 * handlers): t->run(t) is called once, on a worker, or on the calling
 * thread once the service is quiesced.  Never allocates.
 */
void service_run(struct service *svc, struct pool_task *t);

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

/* The facts of one privacy request, as its status page shows them (no personal data). */
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
	/* The request model's facts (app "": a request not from Meta). */
	char kind[16];       /* erasure, export, restriction */
	char scope[64];      /* data map scope (a Meta request: its app's) */
	char source[16];     /* meta, import, app, self-service, email, operator, restore */
	int64_t due_at;      /* deadline (epoch s), 0 if none */
	int64_t grace_until; /* scheduled: the grace period ends (epoch s), else 0 */
	int64_t expires_at;  /* awaiting_verification: it expires (epoch s), else 0 */
	char reason[520];    /* refusal or cancellation reason (for the person), else "" */
	bool erases_account; /* the scope covers the person's whole account */
	bool cancellable;    /* the person may still cancel it */
	bool overdue;        /* open (failed included) and past due_at */
	bool mail_failed;    /* a mail about it is a dead letter: the page says so */
	int verify_mail;     /* the mail with its verification link: SERVICE_VERIFY_MAIL_* */
};
/* struct service_status.verify_mail: what the page may say of the verification link's mail. */
#define SERVICE_VERIFY_MAIL_NONE 0    /* none to go (no mail, or none for its kind): say nothing */
#define SERVICE_VERIFY_MAIL_SENDING 1 /* one is pending or being sent: "we are sending" */
#define SERVICE_VERIFY_MAIL_SENT 2    /* one was sent: "the link we emailed you" */

struct tpl_ctx;
/*
 * The template variables of an outcome per category (@cats, @n), as the
 * status page and the mails show it (docs/status-page.md): the lists
 * "categories" and "retained" (category, label, counts, has_anonymized,
 * has_retained, the reason records are kept, never empty, and until when),
 * has_categories, has_retained, any_kept, has_anonymized and the totals.
 */
void service_status_vars(struct tpl_ctx *ctx, const struct status_category *cats, size_t n);

/*
 * The status of the request with confirmation code @code into @out (about
 * 3 KiB: not for the stack of an event thread), Meta's or any other
 * source's; LETHE_E_NOTFOUND if no request has it.  A code answered a
 * moment ago and still on its way from the intake is waited for (at most
 * about 2 s).  Pointers in @out point into @out or the data map.
 * Blocking.
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

/* ---- privacy requests (service_requests.c; docs/requests.md) ------------------ */

#define SERVICE_REQ_IDS_MAX REQUEST_IDS_MAX /* identities a request may name */
#define SERVICE_REQ_LIST_MAX 1000           /* requests a page of a listing holds at most */
#define SERVICE_REQ_REASON_MAX 500          /* bytes of an operator's reason */

/* A new request as a front end hands it over (strings borrowed). */
struct service_request_in {
	const char *kind;          /* "erasure" (POLICY_KINDS) */
	const char *scope;         /* data map scope, e.g. "account" */
	const char *source;        /* app, operator, self-service, email, restore */
	const struct plan_id *ids; /* the person's identities (kind, value) */
	size_t nids;               /* 1 .. SERVICE_REQ_IDS_MAX */
	bool verified;             /* the front end vouches it authenticated the person */
	const char *notify;        /* address for notices (kept sealed), or NULL */
	const char *actor;         /* who asked, for the request's history: "app:KEYNAME", "cli" */
	bool verify_by_link;       /* awaits verification by its mailed link whatever the policy */
	const char *reason;        /* recorded in its history at receipt (a restore's), or NULL */
	bool quiet;                /* no notification address: nobody is mailed (restore) */
	int64_t *retry_after;      /* out, or NULL: on LETHE_E_LIMIT, the seconds (>= 1) until
	                              the person's next export is allowed (Retry-After) */
	/* Requests by email (service_mailin.c); front ends leave these zero. */
	bool link_on_file; /* with verify_by_link: the link goes to the address on file
	                      for the identities (plan_identity_on_file()); none found:
	                      no notification address, the request expires unconfirmed */
	bool review;       /* starts awaiting_review whatever the policy: an operator
	                      checks a claim no mailed link can prove; approving it is
	                      its verification */
	/*
	 * Called inside the transaction that records the request (or resolves a
	 * repeat to the open one: @repeat), with its row id, before the commit:
	 * what it writes commits with the request or not at all; an error rolls
	 * both back and is the result.  NULL: none.
	 */
	lethe_rc (*in_txn)(void *arg, struct store *st, int64_t request_id, bool repeat,
	                   struct lethe_err *err);
	void *in_txn_arg; /* its first argument */
	bool durable;     /* its commit reaches the disk before this returns
	                     (synchronous=FULL for that commit only) */
};

/*
 * Accept a request: check it (kind, scope, identities the scope allows:
 * LETHE_E_INVALID with a message safe to show), pick its policy
 * (config/policy.h), record it with a fresh confirmation code and its due
 * date, and move it as far as its policy lets: awaiting_verification
 * (policy verify and not @in->verified), awaiting_review (policy review),
 * scheduled (grace period; the policy's effects are applied now) or
 * received (it runs at once).  A repeat of an open request (same person,
 * kind and scope, not finished) resolves to it: *@repeat true and nothing
 * changes.  The request as JSON (service_request_show()) into *@out.
 * Wakes the runner and the mailer.
 */
lethe_rc service_request_create(struct service *svc, const struct service_request_in *in,
                                json_t **out, bool *repeat, struct lethe_err *err);
/*
 * The request with confirmation code @code as JSON into *@out (caller
 * frees): {"id", "kind", "scope", "source", "policy", "state", "received_at",
 * "due_at", "grace_until", "expires_at", "completed_at", "reason",
 * "status_url", "events": [{"state", "at", "by", "reason"}], "mail":
 * [{"notice", "state", "attempts", "last_error", "sent_at"}], "result":
 * {"categories": [...]}} (times RFC 3339 UTC or null).  No personal data.
 * LETHE_E_NOTFOUND if no request has @code.
 */
lethe_rc service_request_show(struct service *svc, const char *code, json_t **out,
                              struct lethe_err *err);

/* What an operator, the app or the person does to a request. */
enum service_request_act {
	SERVICE_REQ_VERIFY,  /* awaiting_verification -> next state (the identity was verified) */
	SERVICE_REQ_APPROVE, /* awaiting_review -> scheduled / received */
	SERVICE_REQ_REFUSE,  /* awaiting_verification / awaiting_review / scheduled -> refused */
	SERVICE_REQ_CANCEL,  /* any state before running -> cancelled; effects undone */
	SERVICE_REQ_RETRY,   /* failed -> received */
	SERVICE_REQ_EXTEND,  /* any open state: a later due date */
	SERVICE_REQ_LIFT,    /* a completed restriction -> lifted; its effects undone */
};

/* The details of an action (strings borrowed). */
struct service_request_action {
	enum service_request_act act; /* what */
	const char *actor;            /* who: "app:KEYNAME", "admin:KEYNAME", "cli", "person" */
	const char *reason;           /* required for refuse and extend; optional otherwise */
	const char *source;           /* act only on requests of this source ("app"), NULL: any */
	int64_t due_at;               /* extend: the new due date (epoch s), later than today's */
	int64_t extend_by;            /* extend: or this many seconds after the current due date */
};

/*
 * Apply @a to the request with code @code, atomically against every other
 * change of it (a cancel racing the end of grace: exactly one wins).
 * LETHE_E_NOTFOUND if no request has @code, LETHE_E_CONFLICT (message
 * naming the state) if its state does not allow @a, LETHE_E_INVALID for a
 * missing or too long reason or a due date not later.  The request
 * afterwards into *@out (may be NULL).  Wakes the runner.
 */
lethe_rc service_request_act(struct service *svc, const char *code,
                             const struct service_request_action *a, json_t **out,
                             struct lethe_err *err);

/* A listing's filter: each NULL or 0 matches everything. */
struct service_request_filter {
	const char *state;  /* one state, or "open": every request not finished (failed too) */
	const char *source; /* one source */
	const char *kind;   /* one kind */
	int64_t due_before; /* due_at < this (epoch s) */
	int64_t due_after;  /* due_at >= this (epoch s) */
	const char *cursor; /* the "next" of the previous page */
	int limit;          /* page size, 1 .. SERVICE_REQ_LIST_MAX (0: 100) */
};

/*
 * A page of requests matching @f, by due date then id, into *@out:
 * {"requests": [request without events and result, ...], "next": cursor
 * or null}.  LETHE_E_INVALID for a bad state, source, kind, cursor or limit.
 */
lethe_rc service_request_list(struct service *svc, const struct service_request_filter *f,
                              json_t **out, struct lethe_err *err);

/* ---- erasures re-applied after a restore (service_reapply.c; docs/proof.md) ---- */

/*
 * Look for the people of the ledger in the app database (ledger_find())
 * and, unless @dry_run, make one erasure request per person found through
 * service_request_create(): source restore, the scope of the request that
 * erased them, the identities read from their rows, the built-in policy
 * "restore" (no verification, review or grace), nobody mailed, the reason
 * "re-applied after a restore: request #N" in its history.  An open
 * request of the same person, kind and scope is not duplicated.  A run
 * that finds someone appends one "reapply" entry to the audit chain
 * (counts and request numbers).  A person who cannot be erased again for
 * good (their scope is gone, no identity could be read, the request is
 * refused) is set aside: their entries become 'unmatched', told once.  It
 * looks whether or not a restore was detected; unless @dry_run, the app
 * database's restore marker is brought up to the state store's epoch
 * afterwards.  What it found into *@out (caller frees): {"dry_run",
 * "restore_detected", "entries", "scanned", "found", "rows", "tables":
 * [{"table", "scope", "rows"}], "requests": [{"erased_by", "scope",
 * "rows", "request" (number, null if none), "repeat", "error"?,
 * "set_aside"?}], "failed", "set_aside"}: never a value.
 * Stops with LETHE_E_UNAVAILABLE between batches once *@stop (may be NULL)
 * is non-zero.  Blocking; for a command's service or a thread of its own.
 */
lethe_rc service_reapply(struct service *svc, bool dry_run, const volatile int *stop, json_t **out,
                         struct lethe_err *err);

/* ---- the self-service page and mailed links (service_selfservice.c, service_links.c) ---- */

#define SERVICE_LINK_TOKEN_LEN 32 /* characters of a link's token: [a-z2-7], 160 random bits */

/* What the person asks for on the self-service page (strings borrowed). */
struct service_ask {
	const char *offer;  /* the offer's id (selfservice.offers) */
	const char *email;  /* the address typed */
	const char *client; /* the client's IP address as text (rate limit), or NULL */
};

/*
 * The self-service page's request: check the offer and address
 * (LETHE_E_INVALID, message safe to show), count it against the rate limits
 * (LETHE_E_LIMIT: too many from this address or client; nothing stored),
 * and make a request of source self-service naming the person by the
 * address (mail.identity), always awaiting verification by the mailed
 * link, whether or not the address belongs to anybody: the work, the
 * answer and its timing are the same (no account enumeration).  A repeat
 * of an open request mails its link (or its news) again.  Blocking.
 */
lethe_rc service_selfservice_ask(struct service *svc, const struct service_ask *a,
                                 struct lethe_err *err);

/* True if @token has the form of a link's token: SERVICE_LINK_TOKEN_LEN of [a-z2-7]. */
bool service_link_token_ok(const char *token);

/* A mailed link as its page shows it (no personal data). */
struct service_link {
	char purpose[16];    /* verify, cancel, address */
	char code[64];       /* the request's confirmation code (its status page) */
	char kind[16];       /* the request's kind */
	char scope[64];      /* its scope */
	char state[32];      /* its state now */
	int64_t expires_at;  /* when the link expires (epoch s) */
	int64_t grace_until; /* cancel: when the request runs (epoch s), else 0 */
};

/*
 * The link whose token is @token (SERVICE_LINK_TOKEN_LEN characters) into
 * @out, if it can still be used; LETHE_E_NOTFOUND for an unknown, used or
 * expired token, or one whose request moved on (one answer for all: the
 * page says the link is no longer valid).  Changes nothing: a mail
 * scanner's GET confirms nothing.  Blocking.
 */
lethe_rc service_link_show(struct service *svc, const char *token, struct service_link *out,
                           struct lethe_err *err);
/*
 * Do what the link @token is for, once: verify its request (verify),
 * cancel it (cancel, during its grace period; actor "person"), or confirm
 * its notification address (address).  The link is used in the same
 * transaction; of two uses one applies, the other is LETHE_E_NOTFOUND as
 * service_link_show().  The request afterwards into @out.  Blocking.
 */
lethe_rc service_link_use(struct service *svc, const char *token, struct service_link *out,
                          struct lethe_err *err);
/* The template set (pages and mails) the daemon loaded and checked at start. */
const struct tplset *service_templates(const struct service *svc);

/* ---- one-off commands (service_cli.c) ---------------------------------------- */

/*
 * A service over @cfg, @dm and @db (borrowed: they outlive it; @dm and @db
 * may be NULL for actions that need only the state store) for a command
 * of the CLI: no thread is started, and the state store is opened by
 * service_store_open().  Functions on it are for one thread.  Free with
 * service_close().
 */
struct service *service_open(const struct lethe_config *cfg, const struct datamap *dm,
                             struct appdb *db);
/* Close the state store if open, stop a sweeper started here, free @svc.  NULL is a no-op. */
void service_close(struct service *svc);
/* Open the state store of the configuration (once; may create it). */
lethe_rc service_store_open(struct service *svc, struct lethe_err *err);
/*
 * Load the anonymize key of @cfg and check it against the fingerprint the
 * state store records (recording it if none is): a store that records one
 * gets exactly that key back or LETHE_E_CONFIG saying which file or
 * variable to restore; a missing key file is then never replaced by a new
 * one.  A store that records none (a new one) may create the key file as
 * config_load_key() does.  Every command that opens the state store calls
 * this first.
 */
lethe_rc service_load_key(struct lethe_config *cfg, struct lethe_err *err);
/*
 * Load the outbox key of @cfg: a missing key file is created only while
 * the state store records no outbox key fingerprint; otherwise
 * LETHE_E_CONFIG saying which file or variable to restore (a new key could
 * not open the jobs sealed under the old one).  Another key than the
 * recorded one is refused later, by the outbox's own check.
 */
lethe_rc service_load_outbox_key(struct lethe_config *cfg, struct lethe_err *err);

/*
 * Before a command that may remove media files (erase, serve, sweep,
 * disconnect, import-meta-ids): app.media_root is usable
 * (config_check_media_root()), every media column of the data map names a
 * configured store (media_check_stores()), and every store can be used
 * (media_set_check(): a local root is a writable directory, a remote
 * store's credentials can be read; no network call).  LETHE_E_CONFIG
 * otherwise, naming the store, never a key or a credential.
 */
lethe_rc service_media_check(const struct service *svc, struct lethe_err *err);

/* Plan the erasure of @ids (@nids) in @scope, counted, into *@out (free with plan_free()). */
lethe_rc service_plan(struct service *svc, const char *scope, const struct plan_id *ids,
                      size_t nids, struct plan **out, struct lethe_err *err);
/* LETHE_OK if @ids name one person (plan_check_one_person()). */
lethe_rc service_plan_check(struct service *svc, const struct plan_id *ids, size_t nids,
                            struct lethe_err *err);
/*
 * Run (or resume) the erasure @plan of @ids as a one-off batch job (the app
 * database in bulk mode): opens the state store; @batch > 0 overrides the
 * configured rows per transaction; @on_progress (may be NULL) is called
 * with @arg.  @res as erase_run(); free it with erase_result_free().  A
 * job that ends (not failed) has its steps appended to the audit chain as
 * entries of no request (a failure to append is logged, not returned).
 */
lethe_rc service_erase(struct service *svc, struct plan *plan, const struct plan_id *ids,
                       size_t nids, int64_t batch,
                       void (*on_progress)(void *arg, const struct erase_progress *p), void *arg,
                       struct erase_result *res, struct lethe_err *err);

/* ---- the residual scan on demand (service_scan.c) ----------------------------- */

/*
 * `lethe scan`: what of the person @ids (@nids) remains in the app database
 * for scope @scope (NULL: account, when the map has that scope), the
 * runner's own scan after an erasure (scan_work_run()), into *@out as JSON
 * (caller decrefs): {"scope","result","rows","kept","anonymized","tables",
 * "found":[{"table","rows","kept","outside","anonymized"?}]}.
 * LETHE_E_USAGE for no scope given and no `account` scope, an unknown
 * scope, an identity kind it does not take (as a request's are checked), or
 * identities of different people (plan_check_one_person()).  Reads only.
 */
lethe_rc service_scan(struct service *svc, const char *scope, const struct plan_id *ids,
                      size_t nids, json_t **out, struct lethe_err *err);

/* One job of the outbox as `lethe jobs` lists it: the stored row and the state it shows. */
typedef void (*service_job_fn)(void *arg, const struct store_outbox *j, const char *shown);
/*
 * Every job of the outbox in stored state @stored (NULL: all), oldest
 * first, to @fn.  Needs service_store_open().
 */
lethe_rc service_jobs_list(struct service *svc, const char *stored, service_job_fn fn, void *arg,
                           struct lethe_err *err);
/*
 * Every mail of the mail outbox in state @state (pending, sending, sent,
 * dead, skipped; NULL: all), oldest first, to @fn (no recipient, no body).
 * Needs service_store_open().
 */
lethe_rc service_mail_list(struct service *svc, const char *state, store_mail_fn fn, void *arg,
                           struct lethe_err *err);

#define SERVICE_RECOVER_AGE_S 10 /* staged disconnects older than this are repaired first */

/* What a disconnect from the command line came to. */
struct service_disconnect {
	bool already;   /* it was disconnected before: nothing changed */
	json_t *state;  /* the channel's state afterwards (caller frees) */
	int dead;       /* its upstream jobs that are dead letters */
	int unfinished; /* ... and that are staged, pending or running */
};
/*
 * Disconnect channel @id from the command line (@via "cli"): check the
 * outbox key against the state store, repair disconnects a crash left
 * staged, disconnect, then (@wait) run its upstream jobs here for at most
 * @timeout_ms, and read its state into @out.  LETHE_E_NOTFOUND if no
 * channel has @id.  Opens the state store.
 */
lethe_rc service_channel_disconnect_wait(struct service *svc, const char *id, bool wait,
                                         int64_t timeout_ms, struct service_disconnect *out,
                                         struct lethe_err *err);

/* ---- TTL sweeps from the command line (service_sweep.c) ----------------------- */

/* True if a table of the data map has a ttl or retain. */
bool service_sweep_wanted(const struct service *svc);
/* Tables a sweep works through. */
size_t service_sweep_ntables(const struct service *svc);
/* The data map's TTLs fit the configuration (media_root and the like). */
lethe_rc service_sweep_check(const struct service *svc, struct lethe_err *err);
/*
 * Sweep until nothing expired now is left (@dry: count it, change
 * nothing): warns of missing indexes, opens the state store, and gives the
 * sweep (its statistics: sweep_table_get(), sweep_json(); free with
 * sweep_destroy()) in *@out and the time it swept at in *@now, also on
 * failure when one was made.  *@unremoved: media files whose rows are gone
 * but that could not be removed.
 */
lethe_rc service_sweep_once(struct service *svc, bool dry, struct sweep **out, int64_t *now,
                            int64_t *unremoved, struct lethe_err *err);
/* Start the sweeper thread (`lethe sweep` without --once); service_close() stops it. */
lethe_rc service_sweep_start(struct service *svc, struct lethe_err *err);

/* ---- importing Meta ids (service_import.c) ------------------------------------ */

/*
 * Begin an import of Meta ids: open the state store, begin one transaction
 * and load the requests of the repeat window.  Then service_import_add()
 * per id and service_import_end().
 */
lethe_rc service_import_begin(struct service *svc, struct lethe_err *err);
/*
 * Request the data deletion of @app's person @user_id as if Meta had called
 * the callback: a request of the repeat window runs once more under its
 * code (*@repeat true), else a new request is made.  Its code into @code.
 */
lethe_rc service_import_add(struct service *svc, const struct meta_app *app, const char *user_id,
                            char code[META_CODE_LEN + 1], bool *repeat, struct lethe_err *err);
/* Commit the import (@ok) or roll it back. */
lethe_rc service_import_end(struct service *svc, bool ok, struct lethe_err *err);
/*
 * Run every unfinished Meta request here (runner_drain()): *@done finished
 * here, *@elsewhere held by a running server.
 */
lethe_rc service_import_drain(struct service *svc, int64_t *done, int64_t *elsewhere,
                              struct lethe_err *err);
/* How many of the requests with the @n codes @codes matched nobody. */
lethe_rc service_import_nobody(struct service *svc, const char (*codes)[META_CODE_LEN + 1],
                               size_t n, int64_t *nobody, struct lethe_err *err);

/* ---- receipts of finished requests (service_proof.c; docs/proof.md) ----------- */

/*
 * The signed receipt (engine/receipt.h) of the request with confirmation
 * code @code, or, with @code NULL, of request number @id, into *@out
 * (caller decrefs), signed with cfg->proof.keys and naming
 * server.public_url as its issuer.  LETHE_E_NOTFOUND: no such request;
 * LETHE_E_CONFLICT: not finished (completed, completed_with_retention,
 * refused, cancelled); LETHE_E_CONFIG: no signing key loaded.  Takes st_mu
 * (opens the state store of a CLI service).
 */
lethe_rc service_receipt(struct service *svc, const char *code, int64_t id, json_t **out,
                         struct lethe_err *err);
/* ---- the audit chain (service_audit.c) ---------------------------------------- */

struct chain_report; /* audit/chain.h */

/*
 * Verify the whole audit chain and its checkpoints (chain_verify()) against
 * the keys cfg->proof.keys holds (LETHE_E_CONFIG if none are loaded);
 * @head, if not NULL, is a signed head published earlier.  Opens the state
 * store.  Free @rep with chain_report_free().
 */
lethe_rc service_audit_verify(struct service *svc, const json_t *head, struct chain_report *rep,
                              struct lethe_err *err);
/*
 * Sign a checkpoint of the chain's head now if it moved since the last one:
 * *@seq gets the entry signed (0 if the chain is empty), *@made whether a
 * new checkpoint was stored.  Needs the signing key (LETHE_E_CONFIG).
 */
lethe_rc service_audit_checkpoint(struct service *svc, int64_t *seq, bool *made,
                                  struct lethe_err *err);
/* The latest signed head (envelope "head") into *@out; LETHE_E_NOTFOUND before the first. */
lethe_rc service_audit_head(struct service *svc, json_t **out, struct lethe_err *err);
/* The published keys document of cfg->proof.keys (keys_ring_json()), or NULL if none loaded. */
json_t *service_keys_json(struct service *svc);

/* ---- exports: the operator's archive (service_export_cli.c, `lethe export`) ---- */
/*
 * The archive of the person @ids (@nids) name in @scope, as an erasure
 * would find their rows (plan_build(), plan_check_one_person(): LETHE_E_USAGE
 * naming kinds, never values), written plain (not encrypted) to the file
 * @out atomically (@out.part, fsync, rename; mode 0600), "-" for stdout, or
 * NULL for lethe-export-YYYYMMDD-HHMMSS.zip in the current directory.
 * @where (@cap bytes) gets the file written ("stdout" for "-").  A person
 * with no rows gets an archive with none.  Reads the app database only.
 * Free @res with export_result_free().
 */
lethe_rc service_export_cli(struct service *svc, const char *scope, const struct plan_id *ids,
                            size_t nids, const char *out, char *where, size_t cap,
                            struct export_result *res, struct lethe_err *err);

/* ---- exports: requests' archives and their delivery (docs/export.md) ---- */

/* An export request's archive as pages and the API see it: no personal data. */
struct service_export_view {
	char state[32];     /* the request's state */
	bool ready;         /* the archive exists and has not expired */
	bool deleted;       /* it existed and was deleted (expired, cancelled) */
	int64_t created_at; /* the archive was made (epoch s), 0 if none yet */
	int64_t expires_at; /* it and its links expire (epoch s), 0 if none yet */
	int64_t bytes;      /* the zip's size */
	int64_t rows;       /* rows in it */
	int64_t media;      /* media files in it */
	int64_t downloads;  /* downloads so far */
	char filename[128]; /* for Content-Disposition: "export-YYYY-MM-DD.zip" */
	bool mailable; /* ready, mail on and a confirmed address kept: new links can be mailed */
	bool lost;     /* deleted before its end, not cancelled: its file was found missing */
	bool erased;   /* deleted with the person's account (an erasure of it completed) */
	bool absent;   /* ready, its file not in this worker's export.dir (PostgreSQL store) */
};

/* An archive opened for download: decrypted chunk by chunk (service_download_read()). */
struct service_download;

#define SERVICE_SIZE_TEXT_MAX 32 /* bytes service_export_size_text() may write */
/*
 * An archive's size @bytes as the person reads it, the one rule of the
 * download page, the status page and the mail (decimal units, rounded to
 * the nearest): "1 byte", "512 bytes", "850 kB", "12.3 MB", "1.5 GB" into
 * @out (@cap bytes, SERVICE_SIZE_TEXT_MAX is enough).
 */
void service_export_size_text(int64_t bytes, char *out, size_t cap);

/*
 * What export request @code has (the status page).  LETHE_E_NOTFOUND if
 * no request has @code or it is not an export (service_export.c, part B1).
 */
lethe_rc service_export_view(struct service *svc, const char *code, struct service_export_view *out,
                             struct lethe_err *err);
/*
 * Open the archive of export request @code for the app API (counted as a
 * download, @actor recorded): LETHE_E_NOTFOUND (no such export, or, with
 * @source not NULL, one of another source: the app downloads only the
 * exports it asked for), LETHE_E_CONFLICT (not ready: the message names
 * the state), LETHE_E_GONE (deleted: expired or cancelled).  Close with
 * service_download_close().
 */
lethe_rc service_export_open_api(struct service *svc, const char *code, const char *source,
                                 const char *actor, struct service_download **out,
                                 struct service_export_view *view, struct lethe_err *err);
/*
 * Up to @cap bytes of the archive into @buf, *@n of them; *@n = 0 only at
 * the verified end.  LETHE_E_FORBIDDEN if the file does not verify (the
 * download must be aborted, never completed), LETHE_E_IO on a read error.
 */
lethe_rc service_download_read(struct service_download *d, void *buf, size_t cap, size_t *n,
                               struct lethe_err *err);
void service_download_close(struct service_download *d);

/*
 * A download link (purpose "download", mailed or minted by the status
 * page; service_export_links.c, part B2): show it without using it (the
 * page with the Download button; GET never consumes a link), or use it
 * (single use) and open its archive.  An unknown, used or expired link is
 * LETHE_E_NOTFOUND with one message that never says which; a deleted
 * archive LETHE_E_GONE.
 */
lethe_rc service_export_link_show(struct service *svc, const char *token,
                                  struct service_export_view *out, struct lethe_err *err);
lethe_rc service_export_link_use(struct service *svc, const char *token,
                                 struct service_download **out, struct service_export_view *view,
                                 struct lethe_err *err);
/*
 * Mail the completed export @code's "ready" notice again, with a fresh
 * single-use link, to the request's confirmed address (the status page's
 * "Send me a new download link"; the page never shows a link: its code is
 * no secret).  At most one per SERVICE_EXPORT_RESEND_S per request:
 * LETHE_E_LIMIT if one was queued less than that ago.  LETHE_E_CONFLICT
 * if its archive is not ready, LETHE_E_FORBIDDEN if no link can be mailed
 * (no confirmed address, or mail off), LETHE_E_GONE if deleted.
 */
#define SERVICE_EXPORT_RESEND_S 60
lethe_rc service_export_resend(struct service *svc, const char *code, struct lethe_err *err);

/* ---- requests by email (service_mailin.c, service_mailbox.c; docs/mail-intake.md) ---- */

/* What became of a delivered mail (no personal data). */
struct service_mailin_result {
	int64_t id;         /* its mail_in row (the earlier one for a duplicate), 0 if none */
	char outcome[16];   /* request, review, status, unmatched, robot, refused, duplicate */
	int64_t request_id; /* the request made or resolved to, 0 if none */
	bool replied;       /* a reply was queued */
};

/*
 * Take one incoming mail: the @len raw bytes at @raw, the envelope sender
 * @envelope_from (LMTP's MAIL FROM, "" for <>; NULL when unknown: a
 * Maildir's file), arrived by @via ("lmtp" or "maildir").  Understand it
 * (mail/mailbox.h) and record it, the request it makes and the reply it
 * gets in one state-store transaction (docs/mail-intake.md); LETHE_OK
 * only once that is durable, or for a duplicate of a message already
 * recorded (keyed hash of the bytes: nothing new).  A message over
 * mailbox.max_size or max_parts, or unreadable: for "lmtp" nothing is
 * stored and the result is LETHE_E_TOOBIG (over max_size) or
 * LETHE_E_INVALID (too many parts, unreadable) (err->msg fit for an SMTP
 * reply, no content); for "maildir" it is recorded as
 * refused (and answered) and the result LETHE_OK.  Any other error is
 * temporary (nothing stored): deliver again later.  @out may be NULL.
 * Never logs personal data.  Blocking; any thread.
 */
lethe_rc service_mailin_deliver(struct service *svc, const char *raw, size_t len,
                                const char *envelope_from, const char *via,
                                struct service_mailin_result *out, struct lethe_err *err);
/*
 * The mails recorded, newest first, into *@out (caller frees): {"mails":
 * [{"id", "via", "received_at", "bytes", "outcome", "rule", "reason",
 * "request" (confirmation code or null), "replied", "state", "raw_kept"}],
 * "next"}: no personal data.  @state "open", "closed" or NULL (all);
 * @outcome one outcome or NULL; @cursor the previous page's "next" or
 * NULL; @limit 1 .. 1000 (0: 100).  LETHE_E_INVALID for a bad filter.
 */
lethe_rc service_mailbox_list(struct service *svc, const char *state, const char *outcome,
                              const char *cursor, int limit, json_t **out, struct lethe_err *err);
/*
 * Mail @id with what it says, for the operator's terminal only (personal
 * data: never for a page, a log or the API): the list's fields plus
 * "from", "to", "date", "subject", "claims": [{"name", "identity",
 * "value"}], "text" while its raw message is kept (else "raw_kept":
 * false and none of these).  LETHE_E_NOTFOUND if there is no such mail.
 */
lethe_rc service_mailbox_show(struct service *svc, int64_t id, json_t **out, struct lethe_err *err);
/*
 * Close mail @id (an operator dealt with it): its raw message wiped, state
 * closed, @actor and @reason (may be NULL) recorded.  LETHE_E_NOTFOUND,
 * LETHE_E_CONFLICT if already closed.  The row afterwards (as listed)
 * into *@out (may be NULL).
 */
lethe_rc service_mailbox_close(struct service *svc, int64_t id, const char *actor,
                               const char *reason, json_t **out, struct lethe_err *err);
/*
 * Forget what mailbox.keep allows no longer at @now: open unmatched mails
 * older than it are closed (raw wiped, reason "kept mailbox.keep"), closed
 * rows older than it deleted.  The number of rows changed into *@n (may
 * be NULL).
 */
lethe_rc service_mailbox_prune(struct service *svc, int64_t now, int64_t *n, struct lethe_err *err);

#endif /* LETHE_SERVICE_H */
