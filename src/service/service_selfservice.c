/* SPDX-License-Identifier: MIT */
/*
 * service_selfservice.c - the self-service page's actions (service.h,
 * docs/selfservice.md): a person asks with an email address, then follows
 * the mailed link to confirm the request, cancel it during its grace
 * period, or confirm a notification address.
 *
 * No account enumeration: an ask does the same work whatever the address
 * is (the rate limits, then one request of source self-service naming the
 * person by the address, awaiting verification by its link); nothing here
 * reads the app database.  An export over export.rate_limit answers as
 * any ask does (nothing made, nothing mailed).  An address nobody uses gets a request that,
 * once confirmed, completes with "no data".
 *
 * A link is known by the keyed hash of "link:" + its token only; it is
 * used in the same transaction as what it does, so of two uses one
 * applies.  Only st_mu is taken; the runner and the mailer are woken after
 * a change.  Tokens and addresses are never logged.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <sodium.h>
#include <stdatomic.h>

#include "engine/request.h"
#include "mail/mail.h"
#include "service/service_internal.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/timeutil.h"

#define PURGE_EVERY_S 60 /* rate windows that ended are deleted at most this often */

/* When the rate windows were last purged (epoch s): one daemon per process. */
static _Atomic int64_t rate_purged_at;

/* The state store of @svc, opened if this is a command's service that has not yet. */
static lethe_rc
store_ready(struct service *svc, struct lethe_err *err)
{
	return svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
}

/*
 * The address typed, as the request names the person: surrounding spaces
 * dropped, the domain lower-cased (the local part is the mailbox's own
 * business), into @out; the rate limit's form into @key: all lower-case
 * and without a "+tag" of the local part, so that name+1@, name+2@ ...
 * (one mailbox at most providers) share one quota.  False if it is not an
 * address a request is mailed at (service__address_ok(), the check
 * service_request_create() makes: what is taken here is always mailed).
 */
static bool
address_norm(const char *in, char out[MAIL_ADDR_MAX + 1], char key[MAIL_ADDR_MAX + 1])
{
	size_t n, i, k;
	char *at;

	if (in == NULL)
		return false;
	while (*in == ' ' || *in == '\t')
		in++;
	n = strlen(in);
	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n == 0 || n > MAIL_ADDR_MAX)
		return false;
	memcpy(out, in, n);
	out[n] = '\0';
	if (!service__address_ok(out))
		return false;
	at = strrchr(out, '@');
	for (i = (size_t)(at - out); i < n; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	for (i = 0, k = 0; i <= n; i++) {
		if (out[i] == '+' && out + i < at) /* skip the tag, up to the '@' */
			i = (size_t)(at - out);
		key[k++] = (char)tolower((unsigned char)out[i]);
	}
	return true;
}

/* The keyed hash of @prefix + @value into @out (HASH_TEXT_LEN + 1 bytes). */
static void
keyed(const struct service *svc, const char *prefix, const char *value, char *out)
{
	char buf[16 + MAIL_ADDR_MAX + 64];
	int n = snprintf(buf, sizeof(buf), "%s%s", prefix, value);

	hash_keyed(svc->cfg->key, buf, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : strlen(buf),
	           out);
	sodium_memzero(buf, sizeof(buf));
}

lethe_rc
service__rate_purge(struct service *svc, int64_t now, struct lethe_err *err)
{
	const struct lethe_config *cfg = svc->cfg;
	int64_t last = atomic_load(&rate_purged_at), window = 0;

	/* The longest window of any key in use: a row still counting is never deleted. */
	if (cfg->selfservice.enabled)
		window = cfg->selfservice.window_s;
	if (cfg->mailbox.enabled && cfg->mailbox.reply_window_s > window)
		window = cfg->mailbox.reply_window_s;
	if (window <= 0 || now - last < PURGE_EVERY_S ||
	    !atomic_compare_exchange_strong(&rate_purged_at, &last, now))
		return LETHE_OK;
	return store_rate_purge(svc->st, now - window, err);
}

/*
 * Count the ask against the rate limits of the address (@addr_key), the
 * client (@client, may be NULL; an IPv6 client is its /64, see
 * http/server.c) and all asks together (selfservice.limits.total), in one
 * transaction: all or none.  LETHE_E_LIMIT if any is over its limit.
 */
static lethe_rc
rate_check(struct service *svc, const char *addr_key, const char *client, int64_t now,
           struct lethe_err *err)
{
	const struct selfservice_config *ss = &svc->cfg->selfservice;
	char ka[HASH_TEXT_LEN + 1], kc[HASH_TEXT_LEN + 1], kt[HASH_TEXT_LEN + 1];
	bool ok_a = false, ok_c = true, ok_t = false;
	lethe_rc rc;

	keyed(svc, "addr:", addr_key, ka);
	if (client != NULL && client[0] != '\0')
		keyed(svc, "ip:", client, kc);
	keyed(svc, "total:", "", kt);
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	/*
	 * Windows that ended are forgotten now and then, in a statement of its
	 * own: a refused ask rolls back its hits, never the purge.
	 */
	if (rc == LETHE_OK)
		rc = service__rate_purge(svc, now, err);
	if (rc == LETHE_OK)
		rc = store_begin(svc->st, err);
	if (rc != LETHE_OK) {
		pthread_mutex_unlock(&svc->st_mu);
		return rc;
	}
	rc = store_rate_hit(svc->st, ka, ss->window_s, ss->per_address, now, &ok_a, err);
	if (rc == LETHE_OK && client != NULL && client[0] != '\0')
		rc = store_rate_hit(svc->st, kc, ss->window_s, ss->per_client, now, &ok_c, err);
	if (rc == LETHE_OK && ok_a && ok_c)
		rc = store_rate_hit(svc->st, kt, ss->window_s, ss->total, now, &ok_t, err);
	if (rc == LETHE_OK && !(ok_a && ok_c))
		rc = lethe_err_set(
		    err, LETHE_E_LIMIT,
		    "too many requests from this address or network; please try again "
		    "later");
	else if (rc == LETHE_OK && !ok_t)
		rc = lethe_err_set(err, LETHE_E_LIMIT,
		                   "too many requests in all just now; please try again later");
	if (rc == LETHE_OK)
		rc = store_commit(svc->st, err);
	else
		store_rollback(svc->st);
	pthread_mutex_unlock(&svc->st_mu);
	return rc;
}

lethe_rc
service__repeat_news_txn(struct service *svc, const struct store_request *r, int64_t now,
                         struct lethe_err *err)
{
	const char *notice =
	    r->notify_kind != STORE_NOTIFY_NONE ? store_mail_state_notice(r->state) : NULL;
	bool applied = false;
	lethe_rc rc = LETHE_OK;

	if (r->notify_kind != STORE_NOTIFY_NONE && strcmp(r->state, "awaiting_verification") == 0)
		rc = store_request_renew(svc->st, r->id, now + svc->cfg->mail.link_ttl_s, &applied,
		                         err);
	if (rc == LETHE_OK && notice != NULL)
		rc = store_mail_add(svc->st, r->id, notice, now, NULL, err);
	return rc;
}

/* A repeat of the open request @code: service__repeat_news_txn() in a transaction of its own. */
static lethe_rc
repeat_news(struct service *svc, const char *code, int64_t now, struct lethe_err *err)
{
	struct store_request r;
	lethe_rc rc;

	pthread_mutex_lock(&svc->st_mu);
	rc = store_begin(svc->st, err);
	if (rc != LETHE_OK) {
		pthread_mutex_unlock(&svc->st_mu);
		return rc;
	}
	rc = store_request_by_code(svc->st, code, &r, err);
	if (rc == LETHE_OK)
		rc = service__repeat_news_txn(svc, &r, now, err);
	if (rc == LETHE_OK)
		rc = store_commit(svc->st, err);
	else
		store_rollback(svc->st);
	pthread_mutex_unlock(&svc->st_mu);
	return rc;
}

lethe_rc
service_selfservice_ask(struct service *svc, const struct service_ask *a, struct lethe_err *err)
{
	const struct lethe_config *cfg = svc->cfg;
	const struct selfservice_offer *o;
	char addr[MAIL_ADDR_MAX + 1], key[MAIL_ADDR_MAX + 1];
	struct service_request_in in;
	struct plan_id id;
	json_t *out = NULL;
	bool repeat = false;
	int64_t now = time_now();
	lethe_rc rc;

	if (!cfg->selfservice.enabled || !cfg->mail.enabled)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "the self-service page is off");
	o = selfservice_offer(cfg, a->offer);
	if (o == NULL)
		return lethe_err_set(err, LETHE_E_INVALID, "Choose what you want us to do.");
	if (!address_norm(a->email, addr, key))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "Enter an email address like name@example.com.");
	rc = rate_check(svc, key, a->client, now, err);
	if (rc == LETHE_OK) {
		id.kind = cfg->mail.identity != NULL ? cfg->mail.identity : "email";
		id.value = addr;
		memset(&in, 0, sizeof(in));
		in.kind = o->kind;
		in.scope = o->scope;
		in.source = "self-service";
		in.ids = &id;
		in.nids = 1;
		in.verified = false;
		in.verify_by_link = true;
		in.actor = "person";
		rc = service_request_create(svc, &in, &out, &repeat, err);
		/*
		 * Over export.rate_limit (an export of this address within it): the
		 * same answer as any ask, nothing made or mailed; saying so would tell
		 * the asker that the address had asked before.
		 */
		if (rc == LETHE_E_LIMIT) {
			json_decref(out);
			out = NULL;
			rc = lethe_err_set(err, LETHE_OK, "%s",
			                   "over export.rate_limit: nothing made");
		}
	}
	if (rc == LETHE_OK && repeat)
		rc = repeat_news(svc, json_string_value(json_object_get(out, "id")), now, err);
	json_decref(out);
	sodium_memzero(addr, sizeof(addr));
	sodium_memzero(key, sizeof(key));
	if (rc == LETHE_OK)
		service__mail_kick(svc);
	return rc;
}

/* ---- mailed links ---------------------------------------------------------------- */

bool
service_link_token_ok(const char *token)
{
	return token != NULL && strlen(token) == SERVICE_LINK_TOKEN_LEN &&
	       strspn(token, "abcdefghijklmnopqrstuvwxyz234567") == SERVICE_LINK_TOKEN_LEN;
}

/*
 * True if link @l may still do what it is for to request @r at @now:
 * unused, not expired, and the request where the link's purpose applies
 * (verify: awaiting verification; cancel: not running yet, and in its
 * grace period if scheduled; address: the address not confirmed yet and
 * the request not finished: a finished request's address is wiped, so
 * nothing would ever be mailed there).
 */
static bool
link_usable(const struct store_link *l, const struct store_request *r, int64_t now)
{
	if (l->used_at != 0 || l->expires_at <= now)
		return false;
	if (strcmp(l->purpose, "verify") == 0)
		return strcmp(r->state, "awaiting_verification") == 0;
	if (strcmp(l->purpose, "cancel") == 0)
		return r->app[0] == '\0' &&
		       (strcmp(r->state, "awaiting_verification") == 0 ||
		        strcmp(r->state, "awaiting_review") == 0 ||
		        (strcmp(r->state, "scheduled") == 0 && r->not_before > now));
	if (strcmp(l->purpose, "address") == 0)
		return r->notify_kind == STORE_NOTIFY_ADDRESS && !r->notify_ok &&
		       !request_state_final(r->state);
	return false;
}

static void
link_out(const struct store_link *l, const struct store_request *r, struct service_link *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->purpose, sizeof(out->purpose), "%s", l->purpose);
	snprintf(out->code, sizeof(out->code), "%s", r->code);
	snprintf(out->kind, sizeof(out->kind), "%s", r->kind);
	snprintf(out->scope, sizeof(out->scope), "%s", r->scope);
	snprintf(out->state, sizeof(out->state), "%s", r->state);
	out->expires_at = l->expires_at;
	out->grace_until = strcmp(r->state, "scheduled") == 0 ? r->not_before : 0;
}

/* The link of @hash and its request, if usable at @now; st_mu held. */
static lethe_rc
link_find(struct service *svc, const char *hash, int64_t now, struct store_link *l,
          struct store_request *r, struct lethe_err *err)
{
	lethe_rc rc = store_link_get(svc->st, hash, l, err);

	if (rc == LETHE_OK)
		rc = store_request_get(svc->st, l->request_id, r, err);
	if (rc == LETHE_OK && !link_usable(l, r, now))
		rc = LETHE_E_NOTFOUND;
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "this link is no longer valid");
	return rc;
}

lethe_rc
service_link_show(struct service *svc, const char *token, struct service_link *out,
                  struct lethe_err *err)
{
	char hash[HASH_TEXT_LEN + 1];
	struct store_link l;
	struct store_request r;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	if (!service_link_token_ok(token))
		return lethe_err_set(err, LETHE_E_NOTFOUND, "this link is no longer valid");
	service__link_hash(svc, token, hash);
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = link_find(svc, hash, time_now(), &l, &r, err);
	if (rc == LETHE_OK)
		link_out(&l, &r, out);
	pthread_mutex_unlock(&svc->st_mu);
	return rc;
}

/* Do what link @l is for to request @r at @now; inside the caller's transaction. */
static lethe_rc
link_act(struct service *svc, const struct store_link *l, const struct store_request *r,
         int64_t now, struct lethe_err *err)
{
	struct service_request_action a;
	const char *notice;

	memset(&a, 0, sizeof(a));
	a.actor = "person";
	if (strcmp(l->purpose, "verify") == 0) {
		a.act = SERVICE_REQ_VERIFY;
		return service__request_act_txn(svc, r, &a, now, err);
	}
	if (strcmp(l->purpose, "cancel") == 0) {
		a.act = SERVICE_REQ_CANCEL;
		a.reason = "cancelled by you, with the link we emailed";
		return service__request_act_txn(svc, r, &a, now, err);
	}
	/* address: mail may go there now; it hears where the request stands. */
	{
		lethe_rc rc = store_request_notify_ok(svc->st, r->id, err);

		notice = store_mail_state_notice(r->state);
		if (rc == LETHE_OK && notice != NULL &&
		    strcmp(notice, "awaiting_verification") != 0)
			rc = store_mail_add(svc->st, r->id, notice, now, NULL, err);
		return rc;
	}
}

lethe_rc
service_link_use(struct service *svc, const char *token, struct service_link *out,
                 struct lethe_err *err)
{
	char hash[HASH_TEXT_LEN + 1];
	struct store_link l;
	struct store_request r;
	bool applied = false;
	int64_t now = time_now();
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	if (!service_link_token_ok(token))
		return lethe_err_set(err, LETHE_E_NOTFOUND, "this link is no longer valid");
	service__link_hash(svc, token, hash);
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = store_begin(svc->st, err);
	if (rc != LETHE_OK) {
		pthread_mutex_unlock(&svc->st_mu);
		return rc;
	}
	rc = link_find(svc, hash, now, &l, &r, err);
	if (rc == LETHE_OK)
		rc = store_link_use(svc->st, hash, now, &applied, err);
	if (rc == LETHE_OK && !applied)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "this link is no longer valid");
	if (rc == LETHE_OK)
		rc = link_act(svc, &l, &r, now, err);
	/* The request moved on meanwhile (a race with the runner): the link is no longer valid. */
	if (rc == LETHE_E_CONFLICT)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "this link is no longer valid");
	/*
	 * Where the request stands now, read before the commit: an error is then
	 * an error with nothing changed, and after the commit nothing can fail
	 * but the commit itself.
	 */
	if (rc == LETHE_OK)
		rc = store_request_get(svc->st, r.id, &r, err);
	if (rc == LETHE_OK)
		rc = store_commit(svc->st, err);
	if (rc != LETHE_OK)
		store_rollback(
		    svc->st); /* also after a failed commit: the transaction is still open */
	if (rc == LETHE_OK)
		link_out(&l, &r, out);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_OK) {
		log_info("request %lld: %s link followed by the person", (long long)r.id,
		         l.purpose);
		/* The page that says "scheduled" (or "cancelled") is shown with the effects done.
		 */
		service__effects_now(svc, r.id);
		if (svc->runner != NULL)
			runner_kick(svc->runner);
		service__mail_kick(svc);
	}
	return rc;
}
