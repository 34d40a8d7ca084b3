/* SPDX-License-Identifier: MIT */
/*
 * pages.c - the pages of the server that are not an API: the public status
 * page of a privacy request, Meta's or any other (GET /data-deletion/status,
 * HTML or JSON), the signed receipt it links to once the request is finished
 * (GET /data-deletion/status/receipt), /healthz, /readyz, /metrics and the
 * status page's stylesheet.
 *
 * The status page, readiness and metrics block on the state store (routes
 * flagged ROUTE_BLOCKING: they run on a worker); what they show comes from
 * the service (service_status_lookup(), service_ready(), service_metrics()).
 * The status page shows no personal data (http/status_page.h).
 */
#include "util/fmacros.h"

#include <microhttpd.h>

#include "http/csrf.h"
#include "http/metrics.h"
#include "http/server_internal.h"
#include "http/status_page.h"
#include "meta/requests.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* The HTML page for an unknown code (404), or the JSON error. */
static void
status_not_found(struct server *s, struct request *r, bool json)
{
	struct lethe_err err = {0};
	char *html;

	if (json) {
		http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found",
		                  "no request has this confirmation code");
		return;
	}
	html = status_page_not_found_html(s->cfg->app_name, s->cfg->contact, &err);
	if (html == NULL) {
		http_reply_error(r, LETHE_E_INTERNAL, "cannot render the page");
		return;
	}
	http_reply(r, MHD_HTTP_NOT_FOUND, "text/html; charset=utf-8", html, strlen(html));
	free(html);
}

void
http_status_page(struct server *s, struct request *r)
{
	char typed[META_CODE_LEN + 1];
	/* The code as stored: the page's groups, or capitals, typed back still find it. */
	const char *code =
	    status_page_code_parse(http_query(r, "id"), typed, sizeof(typed)) ? typed : NULL;
	bool json = r->h_accept != NULL && strstr(r->h_accept, "application/json") != NULL;
	struct service_status *st = xcalloc(1, sizeof(*st));
	struct status_view v;
	struct service_export_view xv;
	struct lethe_err err = {0};
	char csrf[CSRF_TOKEN_MAX];
	char *html;
	lethe_rc rc;

	rc = service_status_lookup(s->svc, code, st, &err);
	if (rc == LETHE_E_NOTFOUND) {
		status_not_found(s, r, json);
		goto out;
	}
	if (rc != LETHE_OK) {
		http_reply_failure_rc(s, r, LETHE_E_UNAVAILABLE, "the status cannot be read now");
		goto out;
	}
	memset(&v, 0, sizeof(v));
	v.code = st->code;
	v.state = st->state;
	v.received_at = st->received_at;
	v.completed_at = st->completed_at;
	v.platform = st->platform;
	v.no_data = st->no_data;
	v.cats = st->cats;
	v.ncats = st->ncats;
	v.app_name = s->cfg->app_name;
	v.contact = s->cfg->contact;
	v.account_remains = st->account_remains;
	v.kind = st->kind;
	v.scope = st->scope;
	v.source = st->source;
	v.due_at = st->due_at;
	v.grace_until = st->grace_until;
	v.expires_at = st->expires_at;
	v.reason = st->reason;
	v.overdue = st->overdue;
	v.erases_account = st->erases_account;
	v.cancellable = st->cancellable;
	v.cancel_by_mail = s->cfg->mail.enabled;
	v.mail_failed = st->mail_failed;
	v.verify_mail = st->verify_mail;
	/* An export's archive: its button mails a new download link (a POST with CSRF). */
	if (strcmp(st->kind, "export") == 0 &&
	    service_export_view(s->svc, st->code, &xv, &err) == LETHE_OK) {
		v.export = &xv;
		csrf_make(s->cfg->key, "download", st->code, time_now(), csrf);
		v.download_csrf = csrf;
		r->form_self = xv.mailable; /* its button posts here (CSP form-action) */
	}
	if (json) {
		http_reply_json(r, MHD_HTTP_OK, status_page_json(&v));
		goto out;
	}
	html = status_page_html(&v, s->tpl, &err);
	if (html == NULL) {
		http_reply_error(r, LETHE_E_INTERNAL, "cannot render the page");
		goto out;
	}
	http_reply(r, MHD_HTTP_OK, "text/html; charset=utf-8", html, strlen(html));
	free(html);
out:
	free(st);
}

void
http_reply_receipt(struct request *r, json_t *env)
{
	json_t *id =
	    json_object_get(json_object_get(json_object_get(env, "receipt"), "request"), "id");
	char *text = env != NULL ? json_dumps(env, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

	if (text == NULL) {
		json_decref(env);
		http_reply_error(r, LETHE_E_INTERNAL, "cannot encode the receipt");
		return;
	}
	snprintf(r->disposition, sizeof(r->disposition),
	         "attachment; filename=\"lethe-receipt-%lld.json\"",
	         (long long)json_integer_value(id));
	json_decref(env);
	http_reply(r, MHD_HTTP_OK, "application/json", text, strlen(text));
	free(text);
}

/* An HTML page (@status) saying why the status page has no receipt to give. */
static void
receipt_page(struct server *s, struct request *r, unsigned status, const char *title,
             const char *message)
{
	struct lethe_err err = {0};
	char *html =
	    status_page_error_html(s->cfg->app_name, s->cfg->contact, title, message, &err);

	if (html == NULL) {
		http_reply_error(r, LETHE_E_INTERNAL, "cannot render the page");
		return;
	}
	http_reply(r, status, "text/html; charset=utf-8", html, strlen(html));
	free(html);
}

void
http_status_receipt(struct server *s, struct request *r)
{
	static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);
	char typed[META_CODE_LEN + 1];
	const char *code =
	    status_page_code_parse(http_query(r, "id"), typed, sizeof(typed)) ? typed : NULL;
	struct lethe_err err = {0};
	json_t *env = NULL;
	lethe_rc rc;

	/* An unknown code gets the status page's own 404: nothing more is told. */
	rc = code != NULL ? service_receipt(s->svc, code, 0, &env, &err) : LETHE_E_NOTFOUND;
	if (rc == LETHE_OK) {
		http_reply_receipt(r, env);
	} else if (rc == LETHE_E_NOTFOUND) {
		status_not_found(s, r, false);
	} else if (rc == LETHE_E_CONFLICT) {
		receipt_page(s, r, MHD_HTTP_CONFLICT, "No receipt yet",
		             "This request is not finished yet. Its receipt can be downloaded "
		             "from its status page once it is completed, refused or cancelled.");
	} else {
		log_warnx_limited(&lim, "status page receipt: %s", err.msg);
		receipt_page(s, r, MHD_HTTP_SERVICE_UNAVAILABLE, "Receipt not available",
		             "The receipt cannot be made right now. Please try again later.");
	}
}

void
http_metrics_page(struct server *s, struct request *r)
{
	struct buf b;

	buf_init(&b, 1u << 20);
	metrics_render(&b);
	service_metrics(s->svc, &b);
	http_reply(r, MHD_HTTP_OK, "text/plain; version=0.0.4", buf_str(&b), b.len);
	buf_free(&b);
}

void
http_readyz(struct server *s, struct request *r)
{
	char msg[160];
	const char *why = service_ready(s->svc, msg, sizeof(msg));

	if (why != NULL) {
		http_reply_status(r, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready", why);
		return;
	}
	http_reply(r, MHD_HTTP_OK, "application/json", "{\"ready\":true}", 14);
}

void
http_healthz(struct server *s, struct request *r)
{
	(void)s;
	http_reply(r, MHD_HTTP_OK, "text/plain", "ok\n", 3);
}

void
http_stylesheet(struct server *s, struct request *r)
{
	const char *css = status_page_css();

	(void)s;
	http_reply(r, MHD_HTTP_OK, "text/css; charset=utf-8", css, strlen(css));
}
