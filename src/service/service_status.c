/* SPDX-License-Identifier: MIT */
/*
 * service_status.c - what the public status page, /metrics and /readyz
 * read (see service.h): a request's state, deadlines and outcome per
 * category of data (Meta's requests and every other source's alike), the
 * state store's counts and the threads' counters, and whether the daemon
 * can take requests.
 *
 * A status lookup asks the state store, then the intake (a request stays
 * there until the store has it), then, for a code of the last minute, waits
 * for the intake's indexer and asks the store once more: a code answered a
 * moment ago always has its page.
 */
#include "util/fmacros.h"

#include <sys/statvfs.h>

#include "engine/request.h"
#include "jobs/scan_work.h"
#include "meta/requests.h"
#include "platform/platform.h"
#include "service/service_internal.h"
#include "util/mem.h"
#include "util/template.h"
#include "util/timeutil.h"

#define STATUS_SETTLE_MS 2000 /* longest wait for the intake before a status says not found */
/* Not ready below this much free space for the state store or the app database. */
#define READY_MIN_FREE ((int64_t)32 << 20)

/* The status being filled and the data map naming each table's category. */
struct step_acc {
	const struct datamap *dm;  /* the data map */
	struct service_status *st; /* the status */
	const char *scope;         /* the scope the request ran in, or NULL */
};

/* One step of the request's latest run, added to its category in @arg (a step_acc). */
static void
on_step(void *arg, const char *table, const char *action, int64_t done, int64_t hold_until)
{
	const struct step_acc *acc = arg;
	struct service_status *a = acc->st;
	const struct dm_table *t = NULL;
	const struct dm_erase *part = dm_part_find(acc->dm, acc->scope, table, &t);
	struct status_category *c = NULL;
	size_t i;

	if (t == NULL || done <= 0)
		return;
	for (i = 0; i < a->ncats; i++)
		if (strcmp(a->cats[i].category, t->category) == 0)
			c = &a->cats[i];
	if (c == NULL && a->ncats < SERVICE_STATUS_CATS) {
		c = &a->cats[a->ncats++];
		c->category = t->category;
	}
	if (c == NULL)
		return;
	if (strcmp(action, "delete") == 0) {
		c->deleted += done;
	} else if (strcmp(action, "anonymize") == 0) {
		c->anonymized += done;
	} else {
		c->retained += done;
		/* The step's own reason (its scope's action, or the keep rule's). */
		c->reason = part != NULL && part->reason != NULL ? part->reason : t->reason;
		if (hold_until > 0) {
			char full[32];

			time_format(hold_until, full, sizeof(full));
			snprintf(a->until[c - a->cats], sizeof(a->until[0]), "%.10s", full);
			c->retained_until = a->until[c - a->cats];
		}
	}
}

const char *
service__request_scope(const struct service *svc, const struct store_request *req)
{
	const struct meta_app *app;

	if (req->app[0] == '\0')
		return req->scope[0] != '\0' ? req->scope : NULL;
	app = config_meta_app(svc->cfg, req->app);
	return app != NULL ? app->scope : NULL;
}

lethe_rc
service__status_steps(struct service *svc, const struct store_request *req,
                      struct service_status *out, struct lethe_err *err)
{
	struct step_acc acc = {svc->dm, out, service__request_scope(svc, req)};
	int64_t job = req->job;

	return store_meta_steps(svc->st, job, on_step, &acc, err);
}

/*
 * True when scope @name leaves the person's app account in place: it does
 * not act on every table of category "account" (the demo's meta scope).
 * False for an unknown scope.
 */
static bool
account_remains(const struct service *svc, const char *name)
{
	const struct dm_scope *sc = name != NULL ? datamap_scope(svc->dm, name) : NULL;
	size_t i;

	for (i = 0; sc != NULL && i < svc->dm->ntables; i++)
		if (strcmp(svc->dm->tables[i].category, "account") == 0 &&
		    !dm_scope_has_table(sc, &svc->dm->tables[i]))
			return true;
	return false;
}

bool
service__erases_account(const struct service *svc, const char *scope)
{
	return scope != NULL && datamap_scope(svc->dm, scope) != NULL &&
	       !account_remains(svc, scope);
}

/* True if @state is one of the comma-separated states @list. */
static bool
state_in(const char *state, const char *list)
{
	size_t n = strlen(state);
	const char *p = list;

	while (n > 0 && (p = strstr(p, state)) != NULL) {
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

/*
 * The facts of @req beyond its outcome into @out: kind, scope, source,
 * deadlines, the reason the person may read, what its scope covers and
 * whether it can still be cancelled.
 */
static void
status_facts(const struct service *svc, const struct store_request *req, struct service_status *out)
{
	const struct meta_app *app =
	    req->app[0] != '\0' ? config_meta_app(svc->cfg, req->app) : NULL;
	const char *scope = req->app[0] != '\0' ? (app != NULL ? app->scope : "") : req->scope;
	bool meta = req->app[0] != '\0';

	snprintf(out->kind, sizeof(out->kind), "%s", req->kind[0] ? req->kind : "erasure");
	snprintf(out->scope, sizeof(out->scope), "%s", scope);
	snprintf(out->source, sizeof(out->source), "%s", req->source[0] ? req->source : "meta");
	out->due_at = req->due_at;
	if (strcmp(req->state, "scheduled") == 0)
		out->grace_until = req->not_before;
	if (strcmp(req->state, "awaiting_verification") == 0)
		out->expires_at = req->expires_at;
	/*
	 * Refusal and cancellation reasons are written for the person
	 * (docs/requests.md says so to operators); a failure's is lethe's note
	 * to the operator and stays in the request's history.
	 */
	if (strcmp(req->state, "refused") == 0 || strcmp(req->state, "cancelled") == 0)
		snprintf(out->reason, sizeof(out->reason), "%s", req->reason);
	out->erases_account = service__erases_account(svc, scope);
	/* The page keeps its Meta wording: only a Meta scope says the account remains. */
	out->account_remains = meta && account_remains(svc, scope);
	out->cancellable =
	    !meta && state_in(req->state, request_act_from(REQUEST_CANCEL, req->kind));
	/* As store_request_overdue() counts: open or failed, past its deadline. */
	out->overdue = req->due_at > 0 && req->due_at < time_now() &&
	               (!request_state_final(req->state) || strcmp(req->state, "failed") == 0);
}

/* What the mails of a request let its page say. */
struct mail_acc {
	bool identity;              /* the request is mailed at the person's own address */
	struct service_status *out; /* mail_failed and verify_mail set here */
};

/*
 * A mail of the request (not a reply to an incoming mail): a dead letter sets mail_failed; a
 * verification link's mail (an "awaiting_verification" notice to the person's own address: the only
 * mail with a verify link) sets verify_mail to sent, or to sending while one is pending or being
 * sent.
 */
static void
on_request_mail(void *arg, const struct store_mail *m)
{
	struct mail_acc *a = arg;

	/* A reply to an incoming mail goes to its sender, not to the request's address. */
	if (m->mail_in_id != 0)
		return;
	if (strcmp(m->state, "dead") == 0)
		a->out->mail_failed = true;
	if (!a->identity || strcmp(m->notice, "awaiting_verification") != 0)
		return;
	if (strcmp(m->state, "sent") == 0)
		a->out->verify_mail = SERVICE_VERIFY_MAIL_SENT;
	else if ((strcmp(m->state, "pending") == 0 || strcmp(m->state, "sending") == 0) &&
	         a->out->verify_mail != SERVICE_VERIFY_MAIL_SENT)
		a->out->verify_mail = SERVICE_VERIFY_MAIL_SENDING;
}

/* True (and @req set, state "received") if @code waits in the intake for the store. */
static bool
pending_request(struct service *svc, const char *code, struct store_request *req)
{
	struct intake_found f;

	if (!intake_find_code(svc->intake, code, &f))
		return false;
	memset(req, 0, sizeof(*req));
	snprintf(req->code, sizeof(req->code), "%s", code);
	snprintf(req->app, sizeof(req->app), "%s", f.app);
	snprintf(req->state, sizeof(req->state), "received");
	req->received_at = f.received_at;
	return true;
}

lethe_rc
service_status_lookup(struct service *svc, const char *code, struct service_status *out,
                      struct lethe_err *err)
{
	struct store_request req;
	struct step_acc acc = {svc->dm, out, NULL};
	lethe_rc rc = LETHE_E_NOTFOUND;

	memset(out, 0, sizeof(*out));
	/*
	 * A code answered a moment ago may still be on its way from the intake
	 * log into the store: when none is found, ask the intake (a request
	 * stays there until the store has it, so store, intake, store misses
	 * nothing), then wait for its indexer (milliseconds) and look once
	 * more.  While the store cannot be written (a full disk), the intake's
	 * answer is the page: received, nothing done yet.
	 */
	for (int pass = 0; pass < 2 && code != NULL && meta_code_ok(code); pass++) {
		if (pass == 1) {
			if (rc != LETHE_E_NOTFOUND)
				break;
			/*
			 * Only a code of the last minute can still be on its way
			 * from its callback: wait for the indexer.  Any code may
			 * have moved from the intake into the store between the
			 * two lookups above: read the store again in any case.
			 */
			if (meta_code_time(code) >= time_now() - 60)
				intake_settle(svc->intake, STATUS_SETTLE_MS);
		}
		pthread_mutex_lock(&svc->st_mu);
		rc = store_request_by_code(svc->st, code, &req, err);
		if (rc == LETHE_OK)
			acc.scope = service__request_scope(svc, &req);
		/* Counts of the latest run only (not of a run before a repeat). */
		if (rc == LETHE_OK && req.job > 0 && req.job_run >= req.runs)
			rc = store_meta_steps(svc->st, req.job, on_step, &acc, err);
		/*
		 * Its mails: the page never claims a mail went out that did not (a
		 * dead letter; the verification link emailed only once sent).
		 */
		if (rc == LETHE_OK && req.notify_kind != STORE_NOTIFY_NONE) {
			struct mail_acc ma = {req.notify_kind == STORE_NOTIFY_IDENTITY, out};

			out->mail_failed = false;
			out->verify_mail = SERVICE_VERIFY_MAIL_NONE;
			rc = store_mail_list(svc->st, NULL, req.id, 0, on_request_mail, &ma, err);
		}
		pthread_mutex_unlock(&svc->st_mu);
		if (rc == LETHE_E_NOTFOUND && pending_request(svc, code, &req)) {
			rc = LETHE_OK;
			break;
		}
	}
	if (rc != LETHE_OK)
		return rc;
	snprintf(out->code, sizeof(out->code), "%s", req.code);
	snprintf(out->state, sizeof(out->state), "%s", req.state);
	out->received_at = req.run_at > 0 ? req.run_at : req.received_at; /* the latest run */
	out->completed_at = req.completed_at;
	out->no_data = req.no_data;
	status_facts(svc, &req, out);
	snprintf(out->app, sizeof(out->app), "%s", req.app);
	out->platform = platform_label(out->app, true);
	return LETHE_OK;
}

/* The requests of each state, as store_meta_state_counts() gives them. */
struct state_counts {
	struct buf *b;              /* lethe_deletion_requests is written here at once */
	int64_t n[REQUEST_NSTATES]; /* per request_state_at() */
};

static void
count_state(void *arg, const char *state, int64_t n)
{
	struct state_counts *c = arg;
	size_t i;

	buf_addf(c->b, "lethe_deletion_requests{state=\"%s\"} %lld\n", state, (long long)n);
	for (i = 0; i < REQUEST_NSTATES; i++)
		if (strcmp(request_state_at(i), state) == 0)
			c->n[i] += n;
}

static void
count_job(void *arg, const char *state, int64_t n)
{
	buf_addf(arg, "lethe_jobs{state=\"%s\"} %lld\n", state, (long long)n);
}

/* The mail outbox's counts by state (every state, 0 if none). */
static const char *const mail_states[] = {"pending", "sending", "sent", "dead", "skipped"};

static void
count_mail(void *arg, const char *state, int64_t n)
{
	int64_t *c = arg;
	size_t i;

	for (i = 0; i < sizeof(mail_states) / sizeof(mail_states[0]); i++)
		if (strcmp(mail_states[i], state) == 0)
			c[i] = n;
}

void
service_metrics(struct service *svc, struct buf *b)
{
	struct state_counts c = {.b = b};
	int64_t overdue = 0, residual = 0, mail[5] = {0, 0, 0, 0, 0};
	size_t i;

	/* lethe_deletion_requests: every request by state, only states that have some. */
	buf_adds(b, "# HELP lethe_deletion_requests Privacy requests by state (states in use; "
	            "see lethe_requests).\n"
	            "# TYPE lethe_deletion_requests gauge\n");
	pthread_mutex_lock(&svc->st_mu);
	store_meta_state_counts(svc->st, count_state, &c, NULL);
	buf_adds(b, "# HELP lethe_requests Privacy requests of every source by state.\n"
	            "# TYPE lethe_requests gauge\n");
	for (i = 0; i < REQUEST_NSTATES; i++)
		buf_addf(b, "lethe_requests{state=\"%s\"} %lld\n", request_state_at(i),
		         (long long)c.n[i]);
	if (store_request_overdue(svc->st, time_now(), &overdue, NULL) == LETHE_OK)
		buf_addf(b,
		         "# HELP lethe_requests_overdue Open requests (failed included) past their "
		         "due date.\n# TYPE lethe_requests_overdue gauge\nlethe_requests_overdue "
		         "%lld\n",
		         (long long)overdue);
	buf_adds(b, "# HELP lethe_jobs Erasure jobs by state.\n# TYPE lethe_jobs gauge\n");
	store_job_state_counts(svc->st, count_job, b, NULL);
	outbox_metrics(svc->st, b);
	if (store_mail_counts(svc->st, count_mail, mail, NULL) == LETHE_OK) {
		buf_adds(b, "# HELP lethe_mail Mails of the mail outbox by state.\n"
		            "# TYPE lethe_mail gauge\n");
		for (i = 0; i < sizeof(mail_states) / sizeof(mail_states[0]); i++)
			buf_addf(b, "lethe_mail{state=\"%s\"} %lld\n", mail_states[i],
			         (long long)mail[i]);
	}
	/* The residual scan: requests whose latest scan found rows (they failed). */
	if (store_scan_residual_count(svc->st, &residual, NULL) == LETHE_OK)
		buf_addf(
		    b,
		    "# HELP lethe_residual_requests Failed requests whose latest residual scan "
		    "found rows of the person.\n# TYPE lethe_residual_requests gauge\n"
		    "lethe_residual_requests %lld\n",
		    (long long)residual);
	pthread_mutex_unlock(&svc->st_mu);
	buf_addf(b,
	         "# HELP lethe_residual_found_total Residual scans that found rows since start.\n"
	         "# TYPE lethe_residual_found_total counter\nlethe_residual_found_total %lld\n",
	         (long long)scan_work_residual_total());
	mailer_metrics(svc->mailer, b);
	buf_addf(b,
	         "# HELP lethe_intake_groups_total Groups written to the intake log.\n"
	         "# TYPE lethe_intake_groups_total counter\nlethe_intake_groups_total %lld\n",
	         (long long)intake_groups(svc->intake));
	buf_addf(b,
	         "# HELP lethe_intake_syncs_total fsyncs of the intake log.\n"
	         "# TYPE lethe_intake_syncs_total counter\nlethe_intake_syncs_total %lld\n",
	         (long long)intake_syncs(svc->intake));
	buf_addf(b,
	         "# HELP lethe_intake_pending Requests in the intake log not yet in the state "
	         "store.\n# TYPE lethe_intake_pending gauge\nlethe_intake_pending %lld\n",
	         (long long)intake_pending(svc->intake));
	sweeper_metrics(svc->sweeper, b);
}

/*
 * Free bytes for unprivileged writers on the filesystem holding @path, or
 * -1 if unknown; 0 if that filesystem is mounted read-only.
 */
static int64_t
free_bytes_at(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	struct statvfs sv;
	int64_t n = -1;

	if (slash == NULL)
		memcpy(dir, ".", 2);
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (statvfs(dir, &sv) == 0)
		n = (sv.f_flag & ST_RDONLY) ? 0 : (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
	free(dir);
	return n;
}

/*
 * Ready when both databases answer, the intake takes requests and its
 * indexer moves them into the state store (its last transaction did not
 * fail), and the filesystems of the state store (and intake log) and of
 * the app database have READY_MIN_FREE free.  No write: a probe costs a
 * query each, a lock and two statvfs().
 */
const char *
service_ready(struct service *svc, char *msg, size_t cap)
{
	int64_t n = 0;
	const char *why = NULL;
	lethe_rc rc;

	pthread_mutex_lock(&svc->st_mu);
	rc = store_ping(svc->st, NULL);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc != LETHE_OK)
		why = "the state store does not answer";
	if (why == NULL) {
		pthread_mutex_lock(&svc->db_mu);
		rc = appdb_query_int(svc->db, "SELECT 1", NULL, 0, &n, NULL);
		pthread_mutex_unlock(&svc->db_mu);
		if (rc != LETHE_OK)
			why = "the app database does not answer";
	}
	if (why == NULL)
		why = intake_trouble(svc->intake);
	if (why == NULL) {
		int64_t st_free = free_bytes_at(svc->cfg->state_files);
		int64_t db_free = free_bytes_at(svc->db->target);

		if ((st_free >= 0 && st_free < READY_MIN_FREE) ||
		    (db_free >= 0 && db_free < READY_MIN_FREE)) {
			snprintf(msg, cap,
			         "less than %d MiB free (or read-only) on the filesystem of the %s",
			         (int)(READY_MIN_FREE >> 20),
			         st_free >= 0 && st_free < READY_MIN_FREE ? "state store"
			                                                  : "app database");
			why = msg;
		}
	}
	return why;
}

/* ---- the outcome as template variables ----------------------------------------- */

/* One item of the "categories" or "retained" list. */
static void
add_category(struct tpl_ctx *item, const struct status_category *c)
{
	bool has_reason = c->reason != NULL && c->reason[0] != '\0';
	char date[48];
	int64_t t;

	tpl_ctx_add_str(item, "category", c->category);
	tpl_ctx_add_str(item, "label", datamap_category_label(c->category));
	tpl_ctx_add_count(item, "deleted", c->deleted);
	tpl_ctx_add_count(item, "anonymized", c->anonymized);
	tpl_ctx_add_count(item, "retained", c->retained);
	tpl_ctx_add_bool(item, "has_anonymized", c->anonymized > 0);
	tpl_ctx_add_bool(item, "has_retained", c->retained > 0);
	tpl_ctx_add_bool(item, "has_reason", has_reason);
	/*
	 * Meta asks for "a legitimate justification for any refusal to
	 * delete": never show kept records without one.
	 */
	tpl_ctx_add_str(item, "reason",
	                has_reason ? c->reason
	                           : "The law requires us to keep these records. Contact us to "
	                             "learn which obligation applies.");
	tpl_ctx_add_bool(item, "has_retained_until",
	                 c->retained_until != NULL && c->retained_until[0] != '\0');
	if (c->retained_until == NULL || c->retained_until[0] == '\0')
		return;
	tpl_ctx_add_str(item, "retained_until_iso", c->retained_until);
	if (time_parse(c->retained_until, &t) == LETHE_OK) {
		template_date(t, date, sizeof(date));
		tpl_ctx_add_str(item, "retained_until", date);
	} else {
		tpl_ctx_add_str(item, "retained_until", c->retained_until);
	}
}

/* @a + @b (@b > 0 only), saturating rather than overflowing on absurd counts. */
static int64_t
sum(int64_t a, int64_t b)
{
	return b > 0 && a <= INT64_MAX - b ? a + b : a;
}

void
service_status_vars(struct tpl_ctx *ctx, const struct status_category *cats, size_t n)
{
	int64_t tdel = 0, tanon = 0, tret = 0;
	size_t i, nret = 0;

	tpl_ctx_add_list(ctx, "categories");
	tpl_ctx_add_list(ctx, "retained");
	for (i = 0; i < n; i++) {
		const struct status_category *c = &cats[i];

		add_category(tpl_ctx_add_item(ctx, "categories"), c);
		if (c->retained > 0) {
			add_category(tpl_ctx_add_item(ctx, "retained"), c);
			nret++;
		}
		tdel = sum(tdel, c->deleted);
		tanon = sum(tanon, c->anonymized);
		tret = sum(tret, c->retained);
	}
	tpl_ctx_add_bool(ctx, "has_categories", n > 0);
	tpl_ctx_add_bool(ctx, "has_retained", nret > 0);
	/* The same, under a name no list item shadows (the table's "Kept" column). */
	tpl_ctx_add_bool(ctx, "any_kept", nret > 0);
	tpl_ctx_add_bool(ctx, "has_anonymized", tanon > 0);
	tpl_ctx_add_count(ctx, "total_deleted", tdel);
	tpl_ctx_add_count(ctx, "total_anonymized", tanon);
	tpl_ctx_add_count(ctx, "total_retained", tret);
}
