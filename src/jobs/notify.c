/* SPDX-License-Identifier: MIT */
/*
 * notify.c - notices to the recipients of erased data (GDPR Art. 19): the
 * queuing in the runner's completion transaction and the delivery as an
 * outbox job (notify.h; docs/internals/proof.md "Notices to recipients").
 *
 * A notice's payload is "NAME\nBODY" (a recipient's name never holds a
 * newline) sealed with seal_bytes() under the outbox key for kind
 * "notify": the body may carry identity values, so it is never stored in
 * the clear, and the outbox drops the box when the job ends.  The body is
 * fixed when the job is queued (the receipt inside is signed then); each
 * try signs "T.BODY" afresh with the time of the try.
 *
 * The POST is one bounded libcurl call: never through a proxy from the
 * environment, redirects never followed, http and https only, the answer's
 * body read and dropped (at most NOTIFY_ANSWER_MAX bytes).  What reaches the
 * job's reason (shown by `lethe jobs`, logged for a dead letter) is an HTTP
 * status or libcurl's words for a transport failure, which name a host and
 * port at most (platform_transport_failed()): never the URL's path, never a
 * value of the body.
 */
#include "util/fmacros.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <time.h>

#include "audit/canon.h"
#include "audit/keys.h"
#include "engine/receipt.h"
#include "jobs/notify.h"
#include "jobs/outbox.h"
#include "platform/platform.h"
#include "util/curlinit.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/seal.h"
#include "util/timeutil.h"

#define NOTIFY_ANSWER_MAX (64u << 10) /* a recipient's answer is read up to this, then cut */
#define NOTIFY_SIG_MAX 160            /* the Lethe-Signature value */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True if @s is one of the @n strings of @list. */
static bool
listed(char *const *list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* ---- queuing ----------------------------------------------------------------------- */

char *
notify_body(const struct proof_recipient *r, int64_t id, const char *kind, const char *scope,
            const char *state, int64_t completed_at, const struct plan_id *ids, size_t nids,
            const json_t *receipt)
{
	json_t *body = json_object(), *req = json_object(), *list = json_array();
	char when[32];
	char *text = NULL;
	size_t i;

	time_format_iso(completed_at, when, sizeof(when));
	json_object_set_new(req, "id", json_integer(id));
	json_object_set_new(req, "kind", json_string(kind));
	json_object_set_new(req, "scope", json_string(scope));
	json_object_set_new(req, "state", json_string(state));
	json_object_set_new(req, "completed_at", json_string(when));
	for (i = 0; i < nids; i++)
		if (listed(r->identities, r->nidentities, ids[i].kind))
			json_array_append_new(list, json_pack("{s:s, s:s}", "kind", ids[i].kind,
			                                      "value", ids[i].value));
	json_object_set_new(body, "event", json_string(NOTIFY_EVENT));
	json_object_set_new(body, "request", req);
	json_object_set_new(body, "identities", list);
	if (receipt != NULL)
		json_object_set(body, "receipt", (json_t *)receipt);
	text = canon_dump(body);
	json_decref(body);
	if (text != NULL && strlen(text) > NOTIFY_BODY_MAX) {
		sodium_memzero(text, strlen(text));
		free(text);
		text = NULL;
	}
	return text;
}

/* Seal "NAME\nBODY" for kind notify; the caller frees the box. */
static uint8_t *
seal_notice(const struct lethe_config *cfg, const char *name, const char *body, size_t *boxlen)
{
	size_t nl = strlen(name), bl = strlen(body);
	char *plain = xmalloc(nl + 1 + bl);
	uint8_t *box;

	memcpy(plain, name, nl);
	plain[nl] = '\n';
	memcpy(plain + nl + 1, body, bl);
	box = seal_bytes(cfg->outbox.key, NOTIFY_KIND, plain, nl + 1 + bl, boxlen);
	sodium_memzero(plain, nl + 1 + bl);
	free(plain);
	return box;
}

lethe_rc
notify_queue(const struct lethe_config *cfg, const struct datamap *dm, struct store *st,
             int64_t request_id, const char *state, const struct plan_id *ids, size_t nids,
             int64_t now, struct lethe_err *err)
{
	const struct proof_config *p = &cfg->proof;
	const char *kind, *scope;
	struct store_request req;
	json_t *receipt = NULL;
	int64_t t_ms = now_ms();
	size_t i, due = 0;
	lethe_rc rc;

	for (i = 0; i < p->nrecipients; i++)
		if (listed(p->recipients[i].events, p->recipients[i].nevents, state))
			due++;
	if (due == 0)
		return LETHE_OK;
	rc = store_request_get(st, request_id, &req, err);
	if (rc != LETHE_OK)
		return rc;
	kind = req.kind[0] != '\0' ? req.kind : "erasure";
	if (strcmp(kind, "erasure") != 0)
		return LETHE_OK;
	if (!cfg->outbox.key_loaded)
		return lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "request %lld: notices to proof.recipients are sealed with the "
		    "outbox key, which is not loaded",
		    (long long)request_id);
	if (p->keys == NULL)
		return lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "request %lld: notices to proof.recipients carry a signed receipt "
		    "and the signing key is not loaded",
		    (long long)request_id);
	scope = req.scope;
	if (scope[0] == '\0' && req.app[0] != '\0') {
		const struct meta_app *app = config_meta_app(cfg, req.app);

		scope = app != NULL ? app->scope : "";
	}
	rc = receipt_for_request_scope(dm, st, p->keys, cfg->public_url, request_id, scope,
	                               &receipt, err);
	for (i = 0; rc == LETHE_OK && i < p->nrecipients; i++) {
		const struct proof_recipient *r = &p->recipients[i];
		char *body = NULL;
		uint8_t *box = NULL;
		size_t boxlen = 0;

		if (!listed(r->events, r->nevents, state))
			continue;
		body =
		    notify_body(r, request_id, kind, scope, state,
		                req.completed_at > 0 ? req.completed_at : now, ids, nids, receipt);
		if (body == NULL) {
			rc = lethe_err_set(err, LETHE_E_TOOBIG,
			                   "request %lld: the notice to '%s' would exceed %u bytes",
			                   (long long)request_id, r->name, NOTIFY_BODY_MAX);
			break;
		}
		box = seal_notice(cfg, r->name, body, &boxlen);
		sodium_memzero(body, strlen(body));
		free(body);
		rc = store_outbox_add(st, 0, NOTIFY_KIND, r->name, "pending", t_ms, box, boxlen,
		                      NULL, err);
		free(box);
	}
	json_decref(receipt);
	return rc;
}

/* ---- delivery ---------------------------------------------------------------------- */

lethe_rc
notify_signature(const struct lethe_config *cfg, const char *body, size_t len, int64_t t, char *out,
                 size_t cap, struct lethe_err *err)
{
	char sig[KEYS_SIG_B64], kid[KEYS_ID_LEN + 1], prefix[32];
	size_t pl;
	char *msg;
	lethe_rc rc;

	if (cfg->proof.keys == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "the signing key is not loaded");
	pl = (size_t)snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);
	msg = xmalloc(pl + len);
	memcpy(msg, prefix, pl);
	memcpy(msg + pl, body, len);
	rc = keys_sign(cfg->proof.keys, msg, pl + len, sig, kid, err);
	sodium_memzero(msg, pl + len);
	free(msg);
	if (rc == LETHE_OK)
		snprintf(out, cap, "t=%lld,key=%s,ed25519=%s", (long long)t, kid, sig);
	return rc;
}

/* libcurl write callback: the answer is counted and dropped, cut at NOTIFY_ANSWER_MAX. */
static size_t
answer_drop(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t *seen = userdata, n = size * nmemb;

	(void)ptr;
	*seen += n;
	return *seen > NOTIFY_ANSWER_MAX ? 0 : n;
}

/*
 * POST @body to @r with signature header @sig within @max_ms: *@status gets
 * the HTTP status (0 if none came), @detail a transport failure's words.
 */
static void
post_notice(const struct proof_recipient *r, const char *body, const char *sig, long max_ms,
            long *status, char *detail, size_t cap)
{
	struct platform_result pr;
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE], line[NOTIFY_SIG_MAX + 32];
	long os_errno = 0;
	size_t seen = 0;
	CURL *h = NULL;
	CURLcode cc;

	*status = 0;
	detail[0] = '\0';
	errbuf[0] = '\0';
	memset(&pr, 0, sizeof(pr));
	if (curlinit_once() != CURLE_OK || (h = curl_easy_init()) == NULL) {
		platform_transport_failed(r->name, NULL, curl_easy_strerror(CURLE_FAILED_INIT), 0,
		                          &pr);
		goto out;
	}
	snprintf(line, sizeof(line), "Lethe-Signature: %s", sig);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, line);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "lethe/0.1");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never a proxy from the environment */
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, max_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, max_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, answer_drop);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &seen);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	/* An answer cut at the cap still has its status. */
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && *status > 0)) {
		*status = 0;
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		platform_transport_failed(r->name, errbuf, curl_easy_strerror(cc), os_errno, &pr);
	}
out:
	snprintf(detail, cap, "%s", pr.detail);
	curl_slist_free_all(hdrs);
	if (h != NULL)
		curl_easy_cleanup(h);
}

/* The recipient of proof.recipients named @name, or NULL. */
static const struct proof_recipient *
recipient_find(const struct lethe_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->proof.nrecipients; i++)
		if (strcmp(cfg->proof.recipients[i].name, name) == 0)
			return &cfg->proof.recipients[i];
	return NULL;
}

static void
job_end(struct store_outbox *j, const char *state, const char *outcome, const char *reason)
{
	snprintf(j->state, sizeof(j->state), "%s", state);
	snprintf(j->outcome, sizeof(j->outcome), "%s", outcome);
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
}

lethe_rc
notify_deliver(const struct lethe_config *cfg, struct store_outbox *j, int64_t deadline_ms)
{
	const struct proof_recipient *r = NULL;
	struct lethe_err serr = {0};
	char sig[NOTIFY_SIG_MAX], detail[sizeof(j->reason)];
	size_t len = 0, nl;
	char *plain, *body, *cut;
	int64_t left = deadline_ms > 0 ? deadline_ms - now_ms() : INT32_MAX;
	long max_ms = (long)cfg->proof.notify_timeout_ms, status = 0;

	plain = (char *)seal_open_bytes(cfg->outbox.key, NOTIFY_KIND, j->box, j->boxlen,
	                                sizeof(j->platform) + NOTIFY_BODY_MAX, &len);
	if (plain == NULL)
		return LETHE_E_FORBIDDEN;
	cut = memchr(plain, '\n', len);
	if (cut == NULL) {
		job_end(j, "dead", "failed", "the sealed notice is malformed");
		goto out;
	}
	*cut = '\0';
	body = cut + 1;
	nl = (size_t)(cut - plain);
	/* The name in the clear must be the sealed one (the column is not authenticated). */
	if (strcmp(plain, j->platform) != 0) {
		job_end(j, "dead", "failed", "the sealed notice names another recipient");
		goto out;
	}
	r = recipient_find(cfg, plain);
	if (r == NULL) {
		job_end(
		    j, "dead", "rejected",
		    "the recipient is no longer in proof.recipients (its notice cannot be sent)");
		goto out;
	}
	if (left <= 0) {
		/* No time left for a call: it stays due, nothing was tried. */
		snprintf(j->state, sizeof(j->state), "pending");
		j->next_at_ms = now_ms();
		goto out;
	}
	if (left < max_ms)
		max_ms = (long)left;
	j->attempts++;
	if (notify_signature(cfg, body, len - nl - 1, time_now(), sig, sizeof(sig), &serr) !=
	    LETHE_OK) {
		outbox_job_failed(cfg, j, "retry", serr.msg);
		goto out;
	}
	post_notice(r, body, sig, max_ms > 0 ? max_ms : 1, &status, detail, sizeof(detail));
	j->http_status = status;
	if (status >= 200 && status < 300) {
		job_end(j, "done", "delivered", "");
	} else if (status == 0) {
		outbox_job_failed(cfg, j, "retry", detail);
	} else if (status == 408 || status == 429 || status >= 500) {
		snprintf(detail, sizeof(detail), "%s answered HTTP %ld", r->name, status);
		outbox_job_failed(cfg, j, "retry", detail);
	} else {
		snprintf(detail, sizeof(detail), "%s answered HTTP %ld%s", r->name, status,
		         status < 400 ? " (redirects are not followed: check its url)" : "");
		job_end(j, "dead", "rejected", detail);
	}
out:
	sodium_memzero(plain, len);
	free(plain);
	return LETHE_OK;
}
