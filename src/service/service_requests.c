/* SPDX-License-Identifier: MIT */
/*
 * service_requests.c - privacy requests as actions of the service (see
 * service.h and docs/requests.md): accept one under its policy, show it,
 * act on it (verify, approve, refuse, cancel, retry, extend) and list them.
 *
 * Every change is one conditional transition in the state store
 * (store_request_transition()), so of two racing changes exactly one
 * wins; the effects a policy applies at acceptance, and their undoing on
 * a cancellation, are left to the runner (jobs/request_work.c), which
 * finds them recorded (column effects) and so also finishes them after a
 * crash.  Only st_mu is taken here; the runner is woken after each change.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sodium.h>

#include "engine/request.h"
#include "meta/requests.h"
#include "service/service_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define LIST_DEFAULT 100 /* a page of a listing without a limit */
#define NOTIFY_MAX 254   /* bytes of an email address (RFC 5321) */
#define CURSOR_MAX 48    /* bytes of a listing's cursor */

int64_t
service__meta_deadline(const struct lethe_config *cfg)
{
	int64_t d = policy_for(cfg, "erasure", NULL, "meta")->deadline_s;
	size_t i;

	for (i = 0; i < cfg->napps; i++) {
		int64_t a = policy_for(cfg, "erasure", cfg->apps[i].scope, "meta")->deadline_s;

		if (a < d)
			d = a;
	}
	return d;
}

/* The state store of @svc, opened if this is a command's service that has not yet. */
static lethe_rc
store_ready(struct service *svc, struct lethe_err *err)
{
	return svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
}

static void
wake_runner(struct service *svc)
{
	if (svc->runner != NULL)
		runner_kick(svc->runner);
	if (svc->exporter != NULL)
		exporter_kick(svc->exporter);
}

static json_t *
jtext(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* ---- checking what a front end hands over -------------------------------- */

/* True if @s is 1..@max bytes of UTF-8 text without control characters. */
static bool
text_ok(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;
	json_t *j;
	size_t i;

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	j = json_string(s); /* NULL if @s is not UTF-8 */
	json_decref(j);
	return j != NULL;
}

bool
service__address_ok(const char *s)
{
	const char *at = s != NULL ? strchr(s, '@') : NULL;

	return mail_address_ok(s) && at != NULL && strchr(at, '.') != NULL;
}

/* LETHE_OK if @in may be recorded; LETHE_E_INVALID with a message safe to show otherwise. */
static lethe_rc
check_in(struct service *svc, const struct service_request_in *in, struct lethe_err *err)
{
	const struct dm_scope *sc;
	size_t i, j;

	if (in->kind == NULL || !policy_kind_ok(in->kind))
		return lethe_err_set(err, LETHE_E_INVALID, "kind must be one of: %s", POLICY_KINDS);
	if (in->source == NULL || !policy_source_ok(in->source) ||
	    strcmp(in->source, "meta") == 0 || strcmp(in->source, "import") == 0)
		return lethe_err_set(err, LETHE_E_INTERNAL, "bad source for a request");
	sc = in->scope != NULL ? datamap_scope(svc->dm, in->scope) : NULL;
	if (sc == NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "scope must name a scope of the data map");
	if (in->nids == 0 || in->nids > SERVICE_REQ_IDS_MAX)
		return lethe_err_set(err, LETHE_E_INVALID, "a request names 1 to %d identities",
		                     SERVICE_REQ_IDS_MAX);
	for (i = 0; i < in->nids; i++) {
		const struct plan_id *id = &in->ids[i];

		if (id->kind == NULL || !dm_scope_has_identity(sc, id->kind))
			return lethe_err_set(err, LETHE_E_INVALID,
			                     "identity %zu: scope '%s' takes identities of kinds "
			                     "it declares in the data map",
			                     i + 1, sc->name);
		if (!text_ok(id->value, REQUEST_ID_VALUE_MAX))
			return lethe_err_set(
			    err, LETHE_E_INVALID,
			    "identity %zu: a value is 1 to %d bytes of text without "
			    "control characters",
			    i + 1, REQUEST_ID_VALUE_MAX);
		for (j = 0; j < i; j++)
			if (strcmp(in->ids[j].kind, id->kind) == 0)
				return lethe_err_set(err, LETHE_E_INVALID,
				                     "identity %zu: kind '%s' is named twice",
				                     i + 1, id->kind);
	}
	if (in->notify != NULL && !service__address_ok(in->notify))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "notify must be an email address (at most %d bytes)",
		                     NOTIFY_MAX);
	return LETHE_OK;
}

/* ---- the request as JSON ---------------------------------------------------- */

static void
on_event(void *arg, int64_t at, const char *state, const char *actor, const char *reason)
{
	json_t *e = json_object();

	json_object_set_new(e, "state", json_string(state));
	json_object_set_new(e, "at", time_json(at));
	json_object_set_new(e, "by", json_string(actor));
	json_object_set_new(e, "reason", jtext(reason));
	json_array_append_new(arg, e);
}

/* One mail about a request, as its JSON lists it (no recipient, no body). */
static void
on_mail(void *arg, const struct store_mail *m)
{
	json_t *e = json_object();

	json_object_set_new(e, "notice", json_string(m->notice));
	json_object_set_new(e, "state", json_string(m->state));
	json_object_set_new(e, "attempts", json_integer(m->attempts));
	json_object_set_new(e, "last_error", jtext(m->last_error));
	json_object_set_new(e, "sent_at",
	                    time_json(strcmp(m->state, "sent") == 0 ? m->done_at : 0));
	json_array_append_new(arg, e);
}

/* The fields of @r every view has (no history, no result). */
static json_t *
request_json(const struct service *svc, const struct store_request *r)
{
	const struct request_policy *p =
	    request_policy_of(svc->cfg, r->policy, r->kind, r->scope, r->source);
	json_t *o = json_object();
	char *url = xasprintf("%s/data-deletion/status?id=%s", svc->cfg->public_url, r->code);

	json_object_set_new(o, "id", json_string(r->code));
	/* The number the log names a request by (a code is never logged: it opens the page). */
	json_object_set_new(o, "number", json_integer(r->id));
	json_object_set_new(o, "kind", json_string(r->kind[0] ? r->kind : "erasure"));
	json_object_set_new(o, "scope", jtext(r->scope));
	json_object_set_new(o, "source", json_string(r->source[0] ? r->source : "meta"));
	json_object_set_new(o, "app", jtext(r->app));
	json_object_set_new(o, "policy", jtext(r->policy));
	json_object_set_new(o, "state", json_string(r->state));
	json_object_set_new(o, "verified", json_boolean(r->verified || r->app[0] != '\0'));
	json_object_set_new(o, "received_at", time_json(r->received_at));
	json_object_set_new(o, "due_at", time_json(r->due_at));
	/* A grace period only where the policy has one (without, not_before is the acceptance). */
	json_object_set_new(
	    o, "grace_until",
	    time_json(strcmp(r->state, "scheduled") == 0 && p->grace_s > 0 ? r->not_before : 0));
	json_object_set_new(
	    o, "expires_at",
	    time_json(strcmp(r->state, "awaiting_verification") == 0 ? r->expires_at : 0));
	json_object_set_new(o, "completed_at", time_json(r->completed_at));
	/* Open, as the overdue gauge counts it: a failed request is still owed. */
	json_object_set_new(
	    o, "overdue",
	    json_boolean((!request_state_final(r->state) || strcmp(r->state, "failed") == 0) &&
	                 r->due_at > 0 && r->due_at < time_now()));
	json_object_set_new(o, "reason", jtext(r->reason));
	json_object_set_new(o, "status_url", json_string(url));
	free(url);
	return o;
}

/* The result per category of @r's latest run as a JSON object. */
static json_t *
result_json(struct service *svc, const struct store_request *r, struct lethe_err *err, lethe_rc *rc)
{
	struct service_status s;
	json_t *cats = json_array();
	json_t *res = json_object();
	size_t i;

	memset(&s, 0, sizeof(s));
	if (r->job > 0 && r->job_run >= r->runs)
		*rc = service__status_steps(svc, r, &s, err);
	for (i = 0; *rc == LETHE_OK && i < s.ncats; i++) {
		const struct status_category *c = &s.cats[i];
		json_t *o = json_object();

		json_object_set_new(o, "category", json_string(c->category));
		json_object_set_new(o, "deleted", json_integer(c->deleted));
		json_object_set_new(o, "anonymized", json_integer(c->anonymized));
		json_object_set_new(o, "retained", json_integer(c->retained));
		json_object_set_new(o, "reason", jtext(c->retained > 0 ? c->reason : NULL));
		json_object_set_new(o, "retained_until", jtext(c->retained_until));
		json_array_append_new(cats, o);
	}
	json_object_set_new(res, "no_data", json_boolean(r->no_data));
	json_object_set_new(res, "categories", cats);
	return res;
}

/* The whole view of @r (history, result) into *@out; st_mu held. */
static lethe_rc
full_json(struct service *svc, const struct store_request *r, json_t **out, struct lethe_err *err)
{
	json_t *o = request_json(svc, r);
	json_t *events = json_array();
	lethe_rc rc;

	/* The receipt is received_at; the history records every change after. */
	on_event(events, r->received_at, "received", r->app[0] ? "meta" : r->source, NULL);
	rc = store_request_events(svc->st, r->id, on_event, events, err);
	json_object_set_new(o, "events", events);
	/* Its mail: sent, pending, or a dead letter the operator must look into. */
	if (rc == LETHE_OK) {
		json_t *mail = json_array();

		rc = store_mail_list(svc->st, NULL, r->id, 0, on_mail, mail, err);
		json_object_set_new(o, "mail", mail);
	}
	if (rc == LETHE_OK)
		json_object_set_new(o, "result", result_json(svc, r, err, &rc));
	/* An export's archive: ready, deleted, counts (no personal data). */
	if (rc == LETHE_OK && strcmp(r->kind, "export") == 0) {
		json_t *x = service__export_json(svc, r, err, &rc);

		if (x != NULL)
			json_object_set_new(o, "export", x);
	}
	if (rc != LETHE_OK) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return LETHE_OK;
}

lethe_rc
service_request_show(struct service *svc, const char *code, json_t **out, struct lethe_err *err)
{
	struct store_request r;
	lethe_rc rc;

	*out = NULL;
	if (code == NULL || !meta_code_ok(code))
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no request has this id");
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = store_request_by_code(svc->st, code, &r, err);
	if (rc == LETHE_OK)
		rc = full_json(svc, &r, out, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no request has this id");
	return rc;
}

/* ---- accepting a request ------------------------------------------------------ */

/*
 * The request's notification address, sealed (NULL if none), its kind into
 * @n->notify_kind: the person's email identity (mail.identity) if @in names
 * one, else the address given with it (confirmed by its own link first);
 * without a mail: section, the address given and STORE_NOTIFY_NONE.
 */
static uint8_t *
notify_seal(const struct service *svc, const struct service_request_in *in,
            struct store_request_new *n, size_t *len)
{
	const char *kind = svc->cfg->mail.identity != NULL ? svc->cfg->mail.identity : "email";
	size_t i;

	*len = 0;
	if (!svc->cfg->mail.enabled) /* no mail: an address given is kept, never written to */
		return in->notify != NULL ? request_notify_seal(svc->cfg->key, in->notify, len)
		                          : NULL;
	for (i = 0; i < in->nids; i++)
		if (strcmp(in->ids[i].kind, kind) == 0 && service__address_ok(in->ids[i].value)) {
			n->notify_kind = STORE_NOTIFY_IDENTITY;
			return request_notify_seal(svc->cfg->key, in->ids[i].value, len);
		}
	if (in->notify == NULL)
		return NULL;
	n->notify_kind = STORE_NOTIFY_ADDRESS;
	return request_notify_seal(svc->cfg->key, in->notify, len);
}

/*
 * Neither an email identity nor an address given: the address the app has
 * on file for the person (the data map's mail.identity column of the one
 * row the identities lead to), sealed, as an identity address; NULL if
 * none is found.
 */
static uint8_t *
on_file_seal(struct service *svc, const struct service_request_in *in, struct store_request_new *n,
             size_t *len)
{
	const char *kind = svc->cfg->mail.identity != NULL ? svc->cfg->mail.identity : "email";
	char addr[NOTIFY_MAX + 1];
	struct lethe_err e;
	uint8_t *box = NULL;
	lethe_rc rc;

	/* A failed lookup only means no mail: the request itself goes on. */
	pthread_mutex_lock(&svc->db_mu);
	rc = plan_identity_on_file(svc->dm, svc->db, in->ids, in->nids, kind, addr, sizeof(addr),
	                           &e);
	pthread_mutex_unlock(&svc->db_mu);
	if (rc == LETHE_OK && service__address_ok(addr)) {
		n->notify_kind = STORE_NOTIFY_IDENTITY;
		box = request_notify_seal(svc->cfg->key, addr, len);
	}
	sodium_memzero(addr, sizeof(addr));
	return box;
}

/*
 * Record @reason in new request @id's history, as a change to the state
 * it starts in (@n->state) by its actor; the request's own reason column
 * (a refusal's, a cancellation's) stays empty.
 */
static lethe_rc
note_reason(struct store *st, int64_t id, const struct store_request_new *n, const char *reason,
            struct lethe_err *err)
{
	struct store_transition t = {
	    .from = n->state,
	    .to = n->state,
	    .actor = n->actor,
	    .reason = reason,
	    .now = n->now,
	    .not_before = -1,
	    .expires_at = -1,
	    .effects = -1,
	    .reason_col = STORE_REASON_KEEP,
	};
	bool applied = false;

	return store_request_transition(st, id, &t, &applied, err);
}

lethe_rc
service_request_create(struct service *svc, const struct service_request_in *in, json_t **out,
                       bool *repeat, struct lethe_err *err)
{
	const struct request_policy *p;
	struct store_request_new n;
	struct store_request r;
	char subject[HASH_TEXT_LEN + 1];
	char code[META_CODE_LEN + 1];
	uint8_t *box = NULL, *nbox = NULL;
	size_t boxlen = 0, nlen = 0;
	int64_t id = 0, now = time_now();
	lethe_rc rc;

	*out = NULL;
	*repeat = false;
	rc = check_in(svc, in, err);
	/* The daemon checked the policies at start; a command's service has not. */
	if (rc == LETHE_OK && svc->runner == NULL)
		rc = policy_check(svc->cfg, svc->dm, err);
	if (rc != LETHE_OK)
		return rc;
	/* Identities that name two people would erase both: refuse them. */
	if (in->nids > 1 && svc->db != NULL) {
		pthread_mutex_lock(&svc->db_mu);
		rc = plan_check_one_person(svc->dm, svc->db, in->ids, in->nids, err);
		pthread_mutex_unlock(&svc->db_mu);
		if (rc == LETHE_E_USAGE)
			return lethe_err_set(err, LETHE_E_INVALID,
			                     "the identities name more than one person");
		if (rc != LETHE_OK)
			return rc;
	}
	p = policy_for(svc->cfg, in->kind, in->scope, in->source);
	/* The built-in default has no effects: a restriction under it would do nothing. */
	if (strcmp(in->kind, "restriction") == 0 && p->neffects == 0)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "no restriction policy of lethe.yaml covers this request "
		                     "(scope %s, source %s): a restriction applies a policy's "
		                     "effects, and the built-in default has none",
		                     in->scope, in->source);
	memset(&n, 0, sizeof(n));
	request_subject(svc->cfg->key, in->ids, in->nids, subject);
	box = request_ids_seal(svc->cfg->key, in->ids, in->nids, &boxlen);
	/* A quiet request (an erasure re-applied after a restore) mails nobody. */
	nbox = in->quiet ? NULL : notify_seal(svc, in, &n, &nlen);
	/*
	 * Never for the self-service page: it reads nothing of the app database
	 * (no oracle).  A request by email that names an account is confirmed at
	 * the address on file for it (link_on_file): whoever asks never learns it.
	 */
	if (nbox == NULL && svc->cfg->mail.enabled && svc->db != NULL &&
	    (!in->verify_by_link || in->link_on_file) && !in->quiet)
		nbox = on_file_seal(svc, in, &n, &nlen);
	meta_code_new(code, now);
	n.code = code;
	n.kind = in->kind;
	n.scope = in->scope;
	n.source = in->source;
	n.policy = p->name;
	n.subject = subject;
	/*
	 * Confirmed by a mailed link whatever the policy says (the self-service
	 * page), or checked by an operator (a claim by email no link can prove).
	 */
	n.state = in->review           ? "awaiting_review"
	          : in->verify_by_link ? "awaiting_verification"
	                               : request_initial(p, in->verified);
	n.actor = in->actor != NULL ? in->actor : in->source;
	n.box = box;
	n.boxlen = boxlen;
	n.notify_box = nbox;
	n.notify_len = nlen;
	n.now = now;
	n.due_at = now + p->deadline_s;
	n.verified = in->verified;
	if (strcmp(n.state, "awaiting_verification") == 0)
		/* Verified by the mailed link: the request expires with it. */
		n.expires_at =
		    now + (n.notify_kind == STORE_NOTIFY_IDENTITY && svc->cfg->mail.enabled
		               ? svc->cfg->mail.link_ttl_s
		               : svc->cfg->requests.verify_ttl_s);
	/* The identity's own address may hear of the request once it is not waiting to be verified.
	 */
	n.notify_ok =
	    n.notify_kind == STORE_NOTIFY_IDENTITY && strcmp(n.state, "awaiting_verification") != 0;
	if (strcmp(n.state, "scheduled") == 0) {
		n.not_before = now + p->grace_s;
		n.effects = p->neffects > 0 ? STORE_EFFECTS_APPLY : STORE_EFFECTS_NONE;
	}
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	/* Only this commit is synced (the pragma cannot change inside a transaction). */
	if (rc == LETHE_OK && in->durable)
		rc = store_set_durable(svc->st, err);
	if (rc == LETHE_OK)
		rc = store_begin(svc->st, err);
	if (rc == LETHE_OK) {
		/* A repeat of an open request (same person, kind, scope) is that request. */
		rc = store_request_find_open(svc->st, subject, in->kind, in->scope, &r, err);
		if (rc == LETHE_OK) {
			*repeat = true;
		} else if (rc == LETHE_E_NOTFOUND) {
			/* One export per person within export.rate_limit: nothing stored if over.
			 */
			rc = service__export_limit(svc, in, subject, now, err);
			if (rc == LETHE_OK)
				rc = store_request_insert(svc->st, &n, &id, err);
			if (rc == LETHE_OK && in->reason != NULL)
				rc = note_reason(svc->st, id, &n, in->reason, err);
			if (rc == LETHE_OK)
				rc = store_request_get(svc->st, id, &r, err);
		}
		/* What the caller records with the request (an incoming mail's row). */
		if (rc == LETHE_OK && in->in_txn != NULL)
			rc = in->in_txn(in->in_txn_arg, svc->st, r.id, *repeat, err);
		if (rc == LETHE_OK)
			rc = store_commit(svc->st, err);
		else
			store_rollback(svc->st);
	}
	if (in->durable && svc->st != NULL)
		store_set_normal_sync(svc->st);
	if (rc == LETHE_OK)
		rc = full_json(svc, &r, out, err);
	pthread_mutex_unlock(&svc->st_mu);
	sodium_memzero(box, boxlen);
	free(box);
	if (nbox != NULL)
		sodium_memzero(nbox, nlen);
	free(nbox);
	if (rc == LETHE_OK && !*repeat) {
		log_info("request %lld: %s of scope %s from %s, %s (policy %s)", (long long)r.id,
		         in->kind, in->scope, in->source, n.state, p->name);
		/* Accepted at once (verified by the app): its effects are applied before the
		 * answer. */
		if (n.effects == STORE_EFFECTS_APPLY)
			service__effects_now(svc, r.id);
		wake_runner(svc);
		service__mail_kick(svc); /* its first notice was queued with it */
	}
	return rc;
}

/* ---- acting on a request -------------------------------------------------------- */

static enum request_act
act_of(enum service_request_act a)
{
	switch (a) {
	case SERVICE_REQ_VERIFY:
		return REQUEST_VERIFY;
	case SERVICE_REQ_APPROVE:
		return REQUEST_APPROVE;
	case SERVICE_REQ_REFUSE:
		return REQUEST_REFUSE;
	case SERVICE_REQ_CANCEL:
		return REQUEST_CANCEL;
	case SERVICE_REQ_RETRY:
		return REQUEST_RETRY;
	case SERVICE_REQ_LIFT:
		return REQUEST_LIFT;
	case SERVICE_REQ_EXTEND:
		break;
	}
	return REQUEST_EXTEND;
}

/* The transition @a makes of @r under policy @p into @t; LETHE_E_INVALID if @a is malformed. */
static lethe_rc
make_transition(const struct service_request_action *a, enum request_act act,
                const struct store_request *r, const struct request_policy *p, int64_t now,
                struct store_transition *t, struct lethe_err *err)
{
	bool need_reason = act == REQUEST_REFUSE || act == REQUEST_EXTEND;
	int64_t due = a->due_at; /* extend: the new due date */

	if (need_reason && (a->reason == NULL || a->reason[0] == '\0'))
		return lethe_err_set(err, LETHE_E_INVALID, "a reason is required to %s a request",
		                     request_act_name(act));
	if (a->reason != NULL && a->reason[0] != '\0' &&
	    !text_ok(a->reason, SERVICE_REQ_REASON_MAX))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "a reason is 1 to %d bytes of text without control characters",
		                     SERVICE_REQ_REASON_MAX);
	memset(t, 0, sizeof(*t));
	t->from = request_act_from(act, r->kind);
	t->to = request_act_to(act, p);
	t->actor = a->actor != NULL ? a->actor : "lethe";
	t->reason = a->reason != NULL && a->reason[0] != '\0' ? a->reason : NULL;
	t->now = now;
	t->not_before = -1;
	t->expires_at = -1;
	t->effects = -1;
	/* The request's reason is that of its refusal or cancellation; others go to the history. */
	t->reason_col = act == REQUEST_REFUSE || act == REQUEST_CANCEL ? STORE_REASON_SET
	                : act == REQUEST_RETRY                         ? STORE_REASON_CLEAR
	                                                               : STORE_REASON_KEEP;
	switch (act) {
	case REQUEST_VERIFY:
		t->verified = true;
		t->expires_at = 0;
		break;
	case REQUEST_LIFT:
		/* The restriction's effects are undone; it stays finished, as of now. */
		t->effects = -2;
		t->completed_at = now;
		break;
	case REQUEST_REFUSE:
	case REQUEST_CANCEL:
		/* Effects applied are undone; effects not applied yet never will be. */
		t->effects = -2;
		t->completed_at = now;
		t->not_before = 0;
		t->expires_at = 0;
		break;
	case REQUEST_RETRY:
		/* A Meta request runs from received, as when it came (it has no grace). */
		if (r->app[0] != '\0')
			t->to = "received";
		t->not_before = now;
		t->completed_at = -1; /* cleared: it is not finished any more */
		break;
	case REQUEST_EXTEND:
		if (a->extend_by > 0)
			due = r->due_at + a->extend_by;
		/* A failed request is still owed (and overdue): its due date may move. */
		if (request_state_final(r->state) && strcmp(r->state, "failed") != 0)
			return lethe_err_set(err, LETHE_E_CONFLICT,
			                     "a request that is %s cannot be extended", r->state);
		if (due <= r->due_at)
			return lethe_err_set(err, LETHE_E_INVALID,
			                     "the new due date must be later than the current one");
		t->to = r->state; /* the state stays; the history records "extended" */
		t->from = r->state;
		t->event = "extended";
		t->due_at = due;
		break;
	case REQUEST_APPROVE:
		/* A claim by email no link could prove: the operator's approval verifies it. */
		if (strcmp(r->source, "email") == 0)
			t->verified = true;
		break;
	}
	/* Entering scheduled: the grace period starts, the policy's effects are due. */
	if (strcmp(t->to, "scheduled") == 0 && act != REQUEST_RETRY) {
		t->not_before = now + p->grace_s;
		t->effects = p->neffects > 0 ? STORE_EFFECTS_APPLY : STORE_EFFECTS_NONE;
	}
	return LETHE_OK;
}

lethe_rc
service__request_act_txn(struct service *svc, const struct store_request *r,
                         const struct service_request_action *a, int64_t now, struct lethe_err *err)
{
	enum request_act act = act_of(a->act);
	const struct request_policy *p;
	struct store_transition t;
	bool applied = false;
	lethe_rc rc = LETHE_OK;

	/* The app acts on its own requests only (another source's verification is not its to give).
	 */
	if (a->source != NULL && strcmp(r->source, a->source) != 0)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no request of yours has this id");
	/* Meta asked for the deletion and was answered: it is carried out, never called off. */
	if (r->app[0] != '\0' && (act == REQUEST_CANCEL || act == REQUEST_REFUSE))
		return lethe_err_set(err, LETHE_E_CONFLICT,
		                     "a data-deletion request from Meta cannot be %s",
		                     act == REQUEST_CANCEL ? "cancelled" : "refused");
	p = request_policy_of(svc->cfg, r->policy, r->kind, r->scope, r->source);
	rc = make_transition(a, act, r, p, now, &t, err);
	if (rc == LETHE_OK)
		rc = store_request_transition(svc->st, r->id, &t, &applied, err);
	if (rc == LETHE_OK && !applied && act == REQUEST_LIFT)
		rc = lethe_err_set(err, LETHE_E_CONFLICT,
		                   "only a restriction in force (completed) can be lifted; this "
		                   "request is %s of kind %s",
		                   r->state, r->kind[0] != '\0' ? r->kind : "erasure");
	else if (rc == LETHE_OK && !applied)
		rc = lethe_err_set(err, LETHE_E_CONFLICT, "a request that is %s cannot be %s",
		                   r->state,
		                   act == REQUEST_VERIFY    ? "verified"
		                   : act == REQUEST_APPROVE ? "approved"
		                   : act == REQUEST_REFUSE  ? "refused"
		                   : act == REQUEST_CANCEL  ? "cancelled"
		                   : act == REQUEST_RETRY   ? "retried"
		                                            : "extended");
	/* Refused or cancelled before effects: nothing to undo, the identity can go now. */
	if (rc == LETHE_OK && (act == REQUEST_REFUSE || act == REQUEST_CANCEL))
		rc = store_request_wipe(svc->st, r->id, err);
	/* A cancelled export's archive is withdrawn with it (its file after the commit). */
	if (rc == LETHE_OK)
		rc = service__export_withdraw(svc, r, a->act, now, err);
	return rc;
}

lethe_rc
service_request_act(struct service *svc, const char *code, const struct service_request_action *a,
                    json_t **out, struct lethe_err *err)
{
	enum request_act act = act_of(a->act);
	struct store_request r;
	int64_t now = time_now();
	lethe_rc rc;

	if (out != NULL)
		*out = NULL;
	if (code == NULL || !meta_code_ok(code))
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no request has this id");
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = store_begin(svc->st, err);
	if (rc != LETHE_OK) {
		pthread_mutex_unlock(&svc->st_mu);
		return rc;
	}
	rc = store_request_by_code(svc->st, code, &r, err);
	if (rc == LETHE_E_NOTFOUND)
		lethe_err_set(err, LETHE_E_NOTFOUND, "no request has this id");
	if (rc == LETHE_OK)
		rc = service__request_act_txn(svc, &r, a, now, err);
	if (rc == LETHE_OK)
		rc = store_commit(svc->st, err);
	else
		store_rollback(svc->st);
	if (rc == LETHE_OK && act == REQUEST_CANCEL && strcmp(r.kind, "export") == 0)
		service__export_unlink(svc, r.id);
	if (rc == LETHE_OK && out != NULL) {
		rc = store_request_get(svc->st, r.id, &r, err);
		if (rc == LETHE_OK)
			rc = full_json(svc, &r, out, err);
	}
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_OK) {
		log_info("request %lld: %s by %s", (long long)r.id, request_act_name(act),
		         a->actor != NULL ? a->actor : "lethe");
		/* Accepted or cancelled: its effects are applied or undone before the answer. */
		service__effects_now(svc, r.id);
		wake_runner(svc);
		service__mail_kick(svc);
	}
	return rc;
}

/* ---- listing ----------------------------------------------------------------------- */

/* What a listing collects. */
struct list_acc {
	const struct service *svc; /* for the status URL */
	json_t *arr;               /* the requests */
	int64_t last_due, last_id; /* the last one's key */
	int n;                     /* how many */
};

static void
on_listed(void *arg, const struct store_request *r)
{
	struct list_acc *a = arg;

	json_array_append_new(a->arr, request_json(a->svc, r));
	a->last_due = r->due_at;
	a->last_id = r->id;
	a->n++;
}

/*
 * Parse a cursor "DUE.ID" (both digits only: strtoll() alone would take a
 * leading space, "+" in a query, or a sign) into its key; false if
 * malformed.
 */
static bool
cursor_parse(const char *s, int64_t *due, int64_t *id)
{
	size_t nd = strspn(s, "0123456789");
	char *end;
	long long d, i;

	if (strlen(s) > CURSOR_MAX || nd == 0 || s[nd] != '.' || s[nd + 1] == '\0' ||
	    strspn(s + nd + 1, "0123456789") != strlen(s + nd + 1))
		return false;
	errno = 0;
	d = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '.')
		return false;
	i = strtoll(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || i < 0)
		return false;
	*due = d;
	*id = i;
	return true;
}

lethe_rc
service_request_list(struct service *svc, const struct service_request_filter *f, json_t **out,
                     struct lethe_err *err)
{
	struct store_request_filter sf;
	struct list_acc acc = {.svc = svc};
	json_t *o;
	lethe_rc rc;

	*out = NULL;
	memset(&sf, 0, sizeof(sf));
	if (f->state != NULL && strcmp(f->state, "open") != 0 && !request_state_ok(f->state))
		return lethe_err_set(
		    err, LETHE_E_INVALID,
		    "state must be a request state, or open (every unfinished one)");
	if (f->source != NULL && !policy_source_ok(f->source))
		return lethe_err_set(err, LETHE_E_INVALID, "source must be one of: %s",
		                     POLICY_SOURCES);
	if (f->kind != NULL && !policy_kind_ok(f->kind))
		return lethe_err_set(err, LETHE_E_INVALID, "kind must be one of: %s", POLICY_KINDS);
	if (f->limit < 0 || f->limit > SERVICE_REQ_LIST_MAX)
		return lethe_err_set(err, LETHE_E_INVALID, "limit must be 1 to %d",
		                     SERVICE_REQ_LIST_MAX);
	sf.open = f->state != NULL && strcmp(f->state, "open") == 0;
	sf.state = sf.open ? NULL : f->state;
	sf.source = f->source;
	sf.kind = f->kind;
	sf.due_before = f->due_before;
	sf.due_after = f->due_after > 0 ? f->due_after : INT64_MIN;
	sf.after_due = INT64_MIN;
	sf.after_id = 0;
	sf.limit = f->limit > 0 ? f->limit : LIST_DEFAULT;
	if (f->cursor != NULL && !cursor_parse(f->cursor, &sf.after_due, &sf.after_id))
		return lethe_err_set(err, LETHE_E_INVALID, "cursor must be a 'next' of a listing");
	acc.arr = json_array();
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = store_request_list(svc->st, &sf, on_listed, &acc, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc != LETHE_OK) {
		json_decref(acc.arr);
		return rc;
	}
	o = json_object();
	json_object_set_new(o, "requests", acc.arr);
	if (acc.n == sf.limit) {
		char next[CURSOR_MAX + 1];

		snprintf(next, sizeof(next), "%lld.%lld", (long long)acc.last_due,
		         (long long)acc.last_id);
		json_object_set_new(o, "next", json_string(next));
	} else {
		json_object_set_new(o, "next", json_null());
	}
	*out = o;
	return LETHE_OK;
}
