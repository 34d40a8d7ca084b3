/* SPDX-License-Identifier: MIT */
/*
 * service_internal.h - the service context as the service layer's own files
 * see it (service.h is what the front ends see).
 *
 * Lock order: db_mu before st_mu; no function holds either while it waits
 * on a thread (the intake, the pool, the runner).  In the daemon the
 * members are set by service_start() and never change until
 * service_stop(); a service of service_open() (one thread, no lock taken)
 * opens the state store and the sweeper when a command asks.
 */
#ifndef LETHE_SERVICE_INTERNAL_H
#define LETHE_SERVICE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "db/appdb.h"
#include "jobs/exporter.h"
#include "jobs/mailer.h"
#include "jobs/outbox.h"
#include "jobs/pg_watch.h"
#include "jobs/pool.h"
#include "jobs/runner.h"
#include "jobs/sweeper.h"
#include "meta/intake.h"
#include "meta/seen.h"
#include "service/service.h"
#include "store/store.h"
#include "util/template.h"

struct service {
	const struct lethe_config *cfg; /* configuration, secrets loaded */
	const struct datamap *dm;       /* validated data map */
	pthread_mutex_t db_mu;          /* guards db; taken before st_mu */
	struct appdb *db;               /* app database (deauthorize, channels, readiness) */
	pthread_mutex_t st_mu;          /* guards st */
	struct store *st;               /* state store (pages, readiness, records) */
	struct pool *pool;              /* worker threads of blocking handlers */
	struct intake *intake;          /* durable intake of deletion requests */
	struct runner *runner;          /* background erasures */
	struct exporter *exporter;      /* background export archives, or NULL (a command's) */
	_Atomic(struct runner *) kick;  /* runner once started: the intake's kicks go there */
	struct outbox *outbox;          /* upstream jobs of channel disconnects */
	struct sweeper *sweeper;        /* TTL sweeps, or NULL if off */
	struct pg_watch *pgwatch;       /* PostgreSQL long-transaction warning, or NULL */
	struct seen *seen;              /* an import's requests of the repeat window, or NULL */
	struct mailer *mailer;          /* the mail outbox's thread, or NULL (no mail: section) */
	struct tplset *tpl;             /* the template set (pages and mails), or NULL */
	bool quiesced;                  /* service_quiesce() ran */
	pthread_t reapply;              /* the look for restored people at start (reapply) */
	bool reapply_started;           /* that thread runs: joined by service_stop() */
	volatile int reapply_stop;      /* 1 once stopping: it stops between batches */
};

/*
 * The deadline of Meta's data-deletion requests: the shortest of the
 * policies for an erasure from source "meta" in each Meta app's scope.
 */
int64_t service__meta_deadline(const struct lethe_config *cfg);
/*
 * The outcome per category of request @req's erase job into @out (cats,
 * ncats, until), each kept item's reason as its scope's action says;
 * st_mu held by the caller.
 */
lethe_rc service__status_steps(struct service *svc, const struct store_request *req,
                               struct service_status *out, struct lethe_err *err);
/* True if scope @scope covers the person's whole account (every table of category "account"). */
bool service__erases_account(const struct service *svc, const char *scope);
/* The data map scope request @req runs in (a Meta request: its app's), or NULL. */
const char *service__request_scope(const struct service *svc, const struct store_request *req);

#define SERVICE_URL_MAX 600 /* bytes of a link's or status page's URL */

/*
 * The mailer's compose function (jobs/mailer.h), @arg the service: the
 * notice's message from the templates and the request's facts, with a
 * fresh link where the notice has one (service_mail.c).
 */
lethe_rc service__mail_compose(void *arg, const struct store_mail *m, const char *to,
                               struct mail_msg *out, bool *skip, struct lethe_err *err);
/*
 * Delete the rate windows (rate_hits) that ended, at most once a minute
 * per process (else nothing): every row older than the longest window of
 * its users that are on (selfservice.limits.window, mailbox.replies.window;
 * the keys are keyed hashes, so a row's own window is not known), so no
 * count still in its window is reset.  st_mu held, the store open, outside
 * a transaction (service_selfservice.c).
 */
lethe_rc service__rate_purge(struct service *svc, int64_t now, struct lethe_err *err);
/*
 * service__mail_compose() for a reply to an incoming mail (@m->mail_in_id
 * != 0; service_mail_reply.c): its notice (MAIL_REPLIES) rendered with the
 * mailbox's facts, "Re: " + the original subject, In-Reply-To and
 * Auto-Submitted: auto-replied.  Skipped when the incoming mail's row is
 * gone, or the request a status reply tells of is; reply_request and
 * reply_review never look at their request (the same reply whatever it
 * is, or if none was made).
 */
lethe_rc service__mail_reply_compose(struct service *svc, const struct store_mail *m,
                                     struct mail_msg *out, bool *skip, struct lethe_err *err);
/*
 * The variables every mail has into @ctx: app_name, app_label, contact,
 * contact_href, contact_is_url (service_mail.c).
 */
void service__mail_add_app(const struct service *svc, struct tpl_ctx *ctx);
/* @code and code_grouped (groups of four) into @ctx (service_mail.c). */
void service__mail_add_code(struct tpl_ctx *ctx, const char *code);
/* Wake the mailer, if the daemon runs one. */
void service__mail_kick(struct service *svc);
/*
 * A new link for request @request_id doing @purpose (verify, cancel,
 * address), valid until @expires_at: a fresh token, only its keyed hash
 * stored; its URL (server.public_url + selfservice.path + "/l/" + token)
 * into @url.  Takes st_mu (service_links.c).
 */
lethe_rc service__link_mint(struct service *svc, int64_t request_id, const char *purpose,
                            int64_t expires_at, char url[SERVICE_URL_MAX], struct lethe_err *err);
/*
 * The keyed hash (anonymize key) a link of @token is stored and looked up
 * by: of "link:" + @token, as HASH_TEXT_LEN hex characters and a NUL into
 * @out.  @token is a link token (SERVICE_LINK_TOKEN_LEN characters; a
 * longer text is cut there).  Any thread (service_links.c).
 */
void service__link_hash(const struct service *svc, const char *token, char out[HASH_TEXT_LEN + 1]);
/*
 * Carry out the effects due of request @id (and of older ones, first) now,
 * after the commit that made them due, so that the caller answers with
 * them applied or undone; failures are left to the runner
 * (service_effects.c).  Takes db_mu then st_mu: call with neither held.
 */
void service__effects_now(struct service *svc, int64_t id);
/*
 * Apply @a to request @r (as read inside the caller's transaction: st_mu
 * held, store_begin() done) at @now, as service_request_act() does, with
 * the same errors; the caller commits or rolls back (service_requests.c).
 */
lethe_rc service__request_act_txn(struct service *svc, const struct store_request *r,
                                  const struct service_request_action *a, int64_t now,
                                  struct lethe_err *err);
/*
 * True if @s is an address lethe mails a request's news to: mail_address_ok()
 * (never a dead letter later) with a dot in its domain.  The one check of
 * every address a request may be mailed at (service_requests.c).
 */
bool service__address_ok(const char *s);
/*
 * Start the thread that looks once for people of the ledger back in the
 * app database and re-applies their erasures (service_reapply.c); a
 * failure to start is logged, never fatal.  service__reapply_stop() tells
 * it to stop and joins it (a no-op if not started).
 */
void service__reapply_start(struct service *svc);
void service__reapply_stop(struct service *svc);
/* The status page URL of confirmation code @code into @url. */
void service__status_url(const struct service *svc, const char *code, char url[SERVICE_URL_MAX]);
/*
 * `lethe serve` stops: sign a last checkpoint of the audit chain if its
 * head moved (service_audit.c); failures are logged.  Before the store closes.
 */
void service__audit_final(struct service *svc);

/*
 * Open the archive of export request @request_id (service_export.c, part
 * B1) for a download through a link (service_export_links.c, part B2):
 * counts the download.  LETHE_E_CONFLICT not ready, LETHE_E_GONE deleted,
 * LETHE_E_NOTFOUND no such export.  Takes st_mu itself.
 */
lethe_rc service__export_open_id(struct service *svc, int64_t request_id,
                                 struct service_download **out, struct service_export_view *view,
                                 struct lethe_err *err);
/*
 * The "export" object of export request @r's JSON (GET /v1/requests/{id},
 * `lethe requests show`): {ready, deleted, created_at, expires_at, bytes,
 * rows, media, downloads}; st_mu held.  NULL if @r is not an export.
 */
json_t *service__export_json(struct service *svc, const struct store_request *r,
                             struct lethe_err *err, lethe_rc *rc);
/*
 * The rate limit of a new request @in of @subject at @now, in the caller's
 * transaction (st_mu held): LETHE_E_LIMIT ("one export per N days; the next
 * from YYYY-MM-DD") if it is an export not asked by an operator and the
 * person had one received within export.rate_limit that was not refused,
 * cancelled, expired or failed (and then *@in->retry_after, if wanted:
 * the seconds until latest + window); LETHE_OK otherwise.
 */
lethe_rc service__export_limit(struct service *svc, const struct service_request_in *in,
                               const char *subject, int64_t now, struct lethe_err *err);
/*
 * In an action's transaction (st_mu held): if request @r is an export whose
 * action @act (a cancel) withdraws its archive, mark the archive deleted.
 * The file goes after the commit: service__export_unlink().
 */
lethe_rc service__export_withdraw(struct service *svc, const struct store_request *r,
                                  enum service_request_act act, int64_t now, struct lethe_err *err);
/*
 * After the commit of a service__export_withdraw() (st_mu held): unlink
 * the file of request @request_id's archive if its row is marked deleted.
 * A crash before this leaves an orphan the exporter removes at start.
 */
void service__export_unlink(struct service *svc, int64_t request_id);

/*
 * A repeat of the open request @r (a self-service ask, a mail): mail its
 * news again (its current state's notice); one still awaiting
 * verification expires a link's life from @now, or later if it did
 * already (never sooner: anyone can ask with anyone's address).  A request
 * without a notification address (made while mail was off, or nothing on
 * file) is left as it is: there is nowhere to mail its news, and an ask is
 * no reason to give it one.  In the caller's transaction (st_mu held).
 */
lethe_rc service__repeat_news_txn(struct service *svc, const struct store_request *r, int64_t now,
                                  struct lethe_err *err);

/*
 * The scope a command acts in: @scope if given, else "account" when the
 * data map has it, else LETHE_E_USAGE naming the map's scopes (service_cli.c).
 */
lethe_rc service__default_scope(const struct datamap *dm, const char *scope, const char **out,
                                struct lethe_err *err);

/*
 * LETHE_E_GONE for the deleted archive of @v, its message saying why in
 * the person's words: withdrawn, never made, lost, deleted with the
 * account, or expired (service_export.c).
 */
lethe_rc service__export_gone(const struct service_export_view *v, struct lethe_err *err);

#endif /* LETHE_SERVICE_INTERNAL_H */
