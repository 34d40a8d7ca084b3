/* SPDX-License-Identifier: MIT */
/*
 * api_requests.c - privacy requests over HTTP: the app API's routes (app
 * keys, api.keys) and the operator API's (admin keys, api.admin_keys).
 *
 *   POST /v1/requests                        create (201; 200 for a repeat)
 *   GET  /v1/requests/{id}                   the request
 *   GET  /v1/requests/{id}/receipt           its signed receipt (finished: else 409)
 *   GET  /v1/requests/{id}/export            an export's archive, streamed (409 not
 *                                            ready, 410 deleted)
 *   POST /v1/requests/{id}/cancel            {"reason"} optional
 *   POST /v1/requests/{id}/verify            the app verified the person now
 *   POST /v1/requests/{id}/lift              {"reason"} optional (a restriction)
 *
 *   GET  /v1/admin/requests                  a page of the listing (query filters)
 *   GET  /v1/admin/requests/{id}             the request
 *   GET  /v1/admin/requests/{id}/receipt     its signed receipt
 *   POST /v1/admin/requests/{id}/approve     {"reason"} optional
 *   POST /v1/admin/requests/{id}/refuse      {"reason"} required
 *   POST /v1/admin/requests/{id}/extend      {"due_at", "reason"} required
 *   POST /v1/admin/requests/{id}/retry       {"reason"} optional
 *   POST /v1/admin/requests/{id}/cancel      {"reason"} optional
 *   POST /v1/admin/requests/{id}/lift        {"reason"} optional (a restriction)
 *
 * {id} is the request's confirmation code.  A front end only: the key is
 * checked (api_auth(): an app key never opens an admin route, nor an admin
 * key an app route), the body parsed strictly (a JSON object; an unknown
 * field, a wrong type or a missing required field is 400 before the service
 * is asked, so nothing changes), then one service call (service.h,
 * "privacy requests"), whose result maps to the status: LETHE_E_INVALID
 * 400, LETHE_E_NOTFOUND 404, LETHE_E_CONFLICT 409, LETHE_E_LIMIT 429,
 * LETHE_E_GONE 410, anything else 503.  The actor recorded is "app:NAME"
 * or "admin:NAME" of the key.  Handlers run
 * on a worker thread (the service blocks on the state store).  Nothing a
 * client sent is echoed back or logged.
 */
#include "util/fmacros.h"

#include <microhttpd.h>

#include "db/appdb.h"
#include "http/api_channels.h"
#include "meta/requests.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define ACTOR_MAX 80     /* "admin:" and a key's name (at most 64) */
#define ID_VALUE_MAX 256 /* bytes of one identity's value (REQUEST_ID_VALUE_MAX) */
#define KIND_MAX 32      /* bytes of a request kind */
#define SCOPE_MAX 64     /* bytes of a scope name */
#define NOTIFY_MAX 254   /* bytes of a notification address (RFC 5321's path) */
#define CURSOR_MAX 256   /* bytes of a listing's cursor */

/* A request body, parsed: a JSON object (owned), or the reply set and NULL. */
static json_t *
body_object(struct request *r, const char *const allowed[], const char *fields)
{
	json_error_t jerr;
	json_t *o, *v;
	const char *k;
	size_t i;

	if (r->body.len == 0)
		return json_object(); /* no body: no field */
	o = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		char msg[128];

		/* jansson's text may quote the input: only where it went wrong. */
		snprintf(msg, sizeof(msg), "the body is not valid JSON (line %d, column %d)",
		         jerr.line, jerr.column);
		http_reply_error(r, LETHE_E_INVALID, msg);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		http_reply_error(r, LETHE_E_INVALID, "the body must be a JSON object");
		return NULL;
	}
	json_object_foreach(o, k, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (allowed[i] == NULL) {
			char msg[192];

			snprintf(msg, sizeof(msg), "unknown field in the body (allowed: %s)",
			         fields);
			json_decref(o);
			http_reply_error(r, LETHE_E_INVALID, msg);
			return NULL;
		}
	}
	return o;
}

/*
 * Field @name of @o as a string of 1 .. @max bytes without a NUL into
 * *@out (NULL when absent and not @required).  False with the reply set.
 */
static bool
field_str(struct request *r, json_t *o, const char *name, bool required, size_t max,
          const char **out)
{
	json_t *v = json_object_get(o, name);
	char msg[128];

	*out = NULL;
	if (v == NULL || (json_is_null(v) && !required)) {
		if (!required)
			return true;
		snprintf(msg, sizeof(msg), "\"%s\" is required", name);
	} else if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), "\"%s\" must be a string", name);
	} else if (json_string_length(v) == 0 || json_string_length(v) > max ||
	           strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(msg, sizeof(msg), "\"%s\" must be 1 to %zu bytes, without NUL", name, max);
	} else {
		*out = json_string_value(v);
		return true;
	}
	http_reply_error(r, LETHE_E_INVALID, msg);
	return false;
}

/*
 * The reply for a service call that failed with @rc: @err's message where
 * the service says it is safe to show (invalid input, a state that does
 * not allow the action), else a fixed one; 503 for the rest, logged
 * without the request's code.
 */
static void
reply_failed(struct request *r, lethe_rc rc, const struct lethe_err *err, const char *what)
{
	static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);
	static const struct http_failure f = {"privacy request", "the request",
	                                      "no request with this id"};

	http_reply_failed(r, rc, err, what, &f, &lim);
}

/* "app:NAME" / "admin:NAME" of key @k into @out. */
static void
actor_of(const struct api_key *k, bool admin, char out[ACTOR_MAX])
{
	snprintf(out, ACTOR_MAX, "%s:%s", admin ? "admin" : "app", k->name);
}

/* POST /v1/requests */
static void
request_create(struct server *s, struct request *r, const struct api_key *key)
{
	static const char *const allowed[] = {"kind",     "scope",  "identities",
	                                      "verified", "notify", NULL};
	struct plan_id ids[SERVICE_REQ_IDS_MAX];
	struct service_request_in in;
	struct lethe_err err = {0};
	char actor[ACTOR_MAX];
	json_t *o, *idv, *v, *out = NULL;
	const char *k;
	bool repeat = false;
	int64_t retry = 0;
	size_t n = 0;
	lethe_rc rc;

	o = body_object(r, allowed, "kind, scope, identities, verified, notify");
	if (o == NULL)
		return;
	memset(&in, 0, sizeof(in));
	if (!field_str(r, o, "kind", false, KIND_MAX, &in.kind) ||
	    !field_str(r, o, "scope", false, SCOPE_MAX, &in.scope) ||
	    !field_str(r, o, "notify", false, NOTIFY_MAX, &in.notify))
		goto out;
	if (in.kind == NULL)
		in.kind = "erasure";
	/*
	 * An export's scope defaults to account (a copy of everything); any
	 * other kind names its scope: an erasure must never widen by omission.
	 */
	if (in.scope == NULL && strcmp(in.kind, "export") == 0) {
		in.scope = "account";
	} else if (in.scope == NULL) {
		http_reply_error(r, LETHE_E_INVALID, "\"scope\" is required");
		goto out;
	}
	v = json_object_get(o, "verified");
	if (v != NULL && !json_is_boolean(v)) {
		http_reply_error(r, LETHE_E_INVALID, "\"verified\" must be true or false");
		goto out;
	}
	in.verified = v != NULL && json_is_true(v);
	idv = json_object_get(o, "identities");
	if (!json_is_object(idv) || json_object_size(idv) == 0 ||
	    json_object_size(idv) > SERVICE_REQ_IDS_MAX) {
		char msg[160];

		snprintf(msg, sizeof(msg),
		         "\"identities\" must be an object of 1 to %d identities, "
		         "{\"KIND\": \"VALUE\"}",
		         SERVICE_REQ_IDS_MAX);
		http_reply_error(r, LETHE_E_INVALID, msg);
		goto out;
	}
	json_object_foreach(idv, k, v)
	{
		if (!appdb_ident_ok(k)) {
			http_reply_error(r, LETHE_E_INVALID,
			                 "an identity kind must be a name of the data map "
			                 "(letters, digits, _)");
			goto out;
		}
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > ID_VALUE_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			http_reply_error(r, LETHE_E_INVALID,
			                 "an identity's value must be a string of 1 to 256 bytes, "
			                 "without NUL");
			goto out;
		}
		ids[n].kind = k;
		ids[n].value = json_string_value(v);
		n++;
	}
	in.ids = ids;
	in.nids = n;
	in.source = "app";
	actor_of(key, false, actor);
	in.actor = actor;
	in.retry_after = &retry;
	rc = service_request_create(s->svc, &in, &out, &repeat, &err);
	/* Over the export rate limit: when the next is allowed (RFC 9110 Retry-After). */
	if (rc == LETHE_E_LIMIT && retry > 0)
		snprintf(r->retry_after, sizeof(r->retry_after), "%lld", (long long)retry);
	if (rc != LETHE_OK)
		reply_failed(r, rc, &err, "recorded");
	else
		http_reply_json(r, repeat ? MHD_HTTP_OK : MHD_HTTP_CREATED, out);
out:
	json_decref(o);
}

/* GET .../{code} */
static void
request_show(struct server *s, struct request *r, const char *code)
{
	struct lethe_err err = {0};
	json_t *out = NULL;
	lethe_rc rc;

	rc = service_request_show(s->svc, code, &out, &err);
	if (rc != LETHE_OK)
		reply_failed(r, rc, &err, "read");
	else
		http_reply_json(r, MHD_HTTP_OK, out);
}

/* GET .../{code}/receipt: a download (http_reply_receipt()). */
static void
request_receipt(struct server *s, struct request *r, const char *code)
{
	struct lethe_err err = {0};
	json_t *out = NULL;
	lethe_rc rc;

	rc = service_receipt(s->svc, code, 0, &out, &err);
	if (rc != LETHE_OK)
		reply_failed(r, rc, &err, "signed");
	else
		http_reply_receipt(r, out);
}

/* GET /v1/requests/{code}/export: the archive, streamed (http_reply_download()). */
static void
request_export(struct server *s, struct request *r, const struct api_key *key, const char *code)
{
	struct service_download *d = NULL;
	struct service_export_view v = {0};
	struct lethe_err err = {0};
	char actor[ACTOR_MAX];
	lethe_rc rc;

	actor_of(key, false, actor);
	/* The app downloads only the exports it asked for, as it acts on its own only. */
	rc = service_export_open_api(s->svc, code, "app", actor, &d, &v, &err);
	if (rc == LETHE_E_UNAVAILABLE && v.absent)
		http_reply_error(r, rc, err.msg); /* a fixed text: retry, or share export.dir */
	else if (rc != LETHE_OK)
		reply_failed(r, rc, &err, "read");
	else
		http_reply_download(r, d, &v);
}

/* The actions of POST .../{code}/ACTION: what each takes in its body. */
static const struct action_route {
	const char *name;           /* the path's last segment */
	enum service_request_act a; /* the service's action */
	bool admin;                 /* an operator API route (else the app API's) */
	bool reason;                /* takes {"reason"} */
	bool reason_required;       /* ... which must be there */
	bool due;                   /* takes {"due_at"} (required) */
} actions[] = {
    {"cancel", SERVICE_REQ_CANCEL, false, true, false, false},
    {"verify", SERVICE_REQ_VERIFY, false, false, false, false},
    {"approve", SERVICE_REQ_APPROVE, true, true, false, false},
    {"refuse", SERVICE_REQ_REFUSE, true, true, true, false},
    {"extend", SERVICE_REQ_EXTEND, true, true, true, true},
    {"retry", SERVICE_REQ_RETRY, true, true, false, false},
    {"cancel", SERVICE_REQ_CANCEL, true, true, false, false},
    {"lift", SERVICE_REQ_LIFT, false, true, false, false},
    {"lift", SERVICE_REQ_LIFT, true, true, false, false},
};

/* POST .../{code}/ACTION with the action @ar. */
static void
request_act(struct server *s, struct request *r, const struct api_key *key, const char *code,
            const struct action_route *ar)
{
	static const char *const with_due[] = {"due_at", "reason", NULL};
	static const char *const with_reason[] = {"reason", NULL};
	static const char *const none[] = {NULL};
	struct service_request_action a;
	struct lethe_err err = {0};
	char actor[ACTOR_MAX];
	const char *due = NULL;
	json_t *o, *out = NULL;
	lethe_rc rc;

	o = body_object(r,
	                ar->due      ? with_due
	                : ar->reason ? with_reason
	                             : none,
	                ar->due      ? "due_at, reason"
	                : ar->reason ? "reason"
	                             : "none");
	if (o == NULL)
		return;
	memset(&a, 0, sizeof(a));
	a.act = ar->a;
	if (ar->due && !field_str(r, o, "due_at", true, 64, &due))
		goto out;
	if (ar->reason &&
	    !field_str(r, o, "reason", ar->reason_required, SERVICE_REQ_REASON_MAX, &a.reason))
		goto out;
	if (due != NULL && time_parse(due, &a.due_at) != LETHE_OK) {
		http_reply_error(r, LETHE_E_INVALID,
		                 "\"due_at\" must be a time in RFC 3339 UTC, e.g. "
		                 "2026-12-31T00:00:00Z, or a date YYYY-MM-DD");
		goto out;
	}
	actor_of(key, ar->admin, actor);
	a.actor = actor;
	a.source = ar->admin ? NULL : "app"; /* the app acts on its own requests only */
	rc = service_request_act(s->svc, code, &a, &out, &err);
	if (rc != LETHE_OK)
		reply_failed(r, rc, &err, "changed");
	else if (out != NULL)
		http_reply_json(r, MHD_HTTP_OK, out);
	else
		request_show(s, r, code);
out:
	json_decref(o);
}

/* A filter's time: RFC 3339 UTC or a date; false with the reply set. */
static bool
query_time(struct request *r, const char *name, int64_t *out)
{
	const char *v = http_query(r, name);
	char msg[160];

	*out = 0;
	if (v == NULL)
		return true;
	if (time_parse(v, out) == LETHE_OK && *out > 0)
		return true;
	snprintf(msg, sizeof(msg),
	         "%s must be a time in RFC 3339 UTC, e.g. 2026-12-31T00:00:00Z, or a date "
	         "YYYY-MM-DD",
	         name);
	http_reply_error(r, LETHE_E_INVALID, msg);
	return false;
}

/* GET /v1/admin/requests?state=&source=&kind=&due_before=&due_after=&cursor=&limit= */
static void
request_list(struct server *s, struct request *r)
{
	static const char *const known[] = {"state",     "source", "kind",  "due_before",
	                                    "due_after", "cursor", "limit", NULL};
	struct service_request_filter f;
	struct lethe_err err = {0};
	json_t *out = NULL;
	const char *lim;
	size_t i, j;
	lethe_rc rc;

	memset(&f, 0, sizeof(f));
	for (i = 0; i < r->nargs; i++) {
		for (j = 0; known[j] != NULL; j++)
			if (strcmp(known[j], r->args[i][0]) == 0)
				break;
		if (known[j] == NULL) {
			http_reply_error(
			    r, LETHE_E_INVALID,
			    "unknown query parameter (state, source, kind, due_before, "
			    "due_after, cursor, limit)");
			return;
		}
		if (r->args[i][1][0] == '\0' || strlen(r->args[i][1]) > CURSOR_MAX) {
			http_reply_error(r, LETHE_E_INVALID,
			                 "a query parameter is empty or longer than 256 bytes");
			return;
		}
	}
	f.state = http_query(r, "state");
	f.source = http_query(r, "source");
	f.kind = http_query(r, "kind");
	f.cursor = http_query(r, "cursor");
	if (!query_time(r, "due_before", &f.due_before) ||
	    !query_time(r, "due_after", &f.due_after))
		return;
	lim = http_query(r, "limit");
	if (lim != NULL) {
		char *end = NULL;
		long n = strtol(lim, &end, 10);

		/* Digits only: strtol() would take a leading space ("+" in a query) or sign. */
		if (strspn(lim, "0123456789") != strlen(lim) || end == lim || *end != '\0' ||
		    n < 1 || n > SERVICE_REQ_LIST_MAX) {
			http_reply_error(r, LETHE_E_INVALID,
			                 "limit must be a number from 1 to 1000");
			return;
		}
		f.limit = (int)n;
	}
	rc = service_request_list(s->svc, &f, &out, &err);
	if (rc != LETHE_OK)
		reply_failed(r, rc, &err, "listed");
	else
		http_reply_json(r, MHD_HTTP_OK, out);
}

/*
 * The routes under @base ("/v1/requests" or "/v1/admin/requests") once the
 * key @key is checked: the collection, {code}, {code}/ACTION.
 */
static void
requests_route(struct server *s, struct request *r, const struct api_key *key, bool admin,
               const char *rest)
{
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	char code[META_CODE_LEN + 2];
	size_t i;

	if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
		if (admin && !get)
			http_reply_method(s, r, "GET, HEAD");
		else if (!admin && strcmp(r->method, "POST") != 0)
			http_reply_method(s, r, "POST");
		else if (admin)
			request_list(s, r);
		else
			request_create(s, r, key);
		return;
	}
	if (rest[0] != '/') {
		http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
		return;
	}
	rest++;
	if (!http_path_id(r, &rest, code, META_CODE_LEN + 1, meta_code_ok,
	                  "the request id must be a confirmation code"))
		return;
	if (rest[0] == '\0') {
		if (!get)
			http_reply_method(s, r, "GET, HEAD");
		else
			request_show(s, r, code);
		return;
	}
	if (!admin && strcmp(rest, "/export") == 0) {
		if (strcmp(r->method, "GET") != 0)
			http_reply_method(s, r, "GET");
		else
			request_export(s, r, key, code);
		return;
	}
	if (strcmp(rest, "/receipt") == 0) {
		if (!get)
			http_reply_method(s, r, "GET, HEAD");
		else
			request_receipt(s, r, code);
		return;
	}
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (actions[i].admin != admin || rest[0] != '/' ||
		    strcmp(rest + 1, actions[i].name) != 0)
			continue;
		if (strcmp(r->method, "POST") != 0)
			http_reply_method(s, r, "POST");
		else
			request_act(s, r, key, code, &actions[i]);
		return;
	}
	http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

void
http_api_requests(struct server *s, struct request *r)
{
	const struct api_key *key;

	r->route = "api_requests";
	key = api_auth(s, r, false);
	if (key == NULL)
		return;
	if (r->too_big) {
		http_reply_error(r, LETHE_E_TOOBIG, "request body too large");
		return;
	}
	requests_route(s, r, key, false, r->path + strlen("/v1/requests"));
}

void
http_api_admin(struct server *s, struct request *r)
{
	const struct api_key *key;

	r->route = "api_admin";
	key = api_auth(s, r, true);
	if (key == NULL)
		return;
	if (r->too_big) {
		http_reply_error(r, LETHE_E_TOOBIG, "request body too large");
		return;
	}
	if (strncmp(r->path, "/v1/admin/requests", 18) != 0) {
		http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
		return;
	}
	requests_route(s, r, key, true, r->path + 18);
}
