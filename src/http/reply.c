/* SPDX-License-Identifier: MIT */
/*
 * reply.c - a request as its handler sees it, and the answer it gives
 * (server_internal.h): the one map from a result to an HTTP status
 * (http_status_of()), the headers and query arguments handlers may read,
 * the replies (JSON, an error as JSON or as a page, 405), and queueing the
 * answer on its connection with lethe's headers, counted in the metrics.
 * A request is handled by one thread at a time, so nothing here locks.
 */
#include "util/fmacros.h"

#include <microhttpd.h>
#include <string.h>
#include <strings.h>

#include "http/metrics.h"
#include "http/server_internal.h"
#include "http/status_page.h"
#include "util/mem.h"
#include "util/timeutil.h"

unsigned
http_status_of(lethe_rc rc)
{
	switch (rc) {
	case LETHE_OK:
		return MHD_HTTP_OK;
	case LETHE_E_USAGE:
	case LETHE_E_INVALID:
		return MHD_HTTP_BAD_REQUEST;
	case LETHE_E_UNAUTHORIZED:
		return MHD_HTTP_UNAUTHORIZED;
	case LETHE_E_FORBIDDEN:
		return MHD_HTTP_FORBIDDEN;
	case LETHE_E_NOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case LETHE_E_CONFLICT:
		return MHD_HTTP_CONFLICT;
	case LETHE_E_LIMIT:
		return MHD_HTTP_TOO_MANY_REQUESTS;
	case LETHE_E_GONE:
		return MHD_HTTP_GONE;
	case LETHE_E_TOOBIG:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case LETHE_E_BUSY:
	case LETHE_E_DB:
	case LETHE_E_STATE:
	case LETHE_E_IO:
	case LETHE_E_UNAVAILABLE:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* ---- the request as handlers see it -------------------------------------- */

const char *
http_header(const struct request *r, const char *name)
{
	if (strcasecmp(name, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		return r->h_auth;
	if (strcasecmp(name, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
		return r->h_type;
	if (strcasecmp(name, MHD_HTTP_HEADER_ACCEPT) == 0)
		return r->h_accept;
	if (strcasecmp(name, MHD_HTTP_HEADER_ORIGIN) == 0)
		return r->h_origin;
	if (strcasecmp(name, "Sec-Fetch-Site") == 0)
		return r->h_fetch_site;
	return NULL;
}

bool
http_path_id(struct request *r, const char **rest, char *out, size_t cap, bool (*ok)(const char *),
             const char *msg)
{
	size_t n = strcspn(*rest, "/");

	if (n == 0 || n >= cap) {
		http_reply_error(r, LETHE_E_INVALID, msg);
		return false;
	}
	memcpy(out, *rest, n);
	out[n] = '\0';
	if (!ok(out)) {
		http_reply_error(r, LETHE_E_INVALID, msg);
		return false;
	}
	*rest += n;
	return true;
}

const char *
http_query(const struct request *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nargs; i++)
		if (strcmp(r->args[i][0], name) == 0)
			return r->args[i][1];
	return NULL;
}

void
http_reply(struct request *r, unsigned status, const char *type, const char *body, size_t len)
{
	free(r->rbody);
	r->rbody = xmalloc(len + 1);
	memcpy(r->rbody, body, len);
	r->rbody[len] = '\0';
	r->rlen = len;
	r->status = status;
	r->type = type;
}

void
http_reply_json(struct request *r, unsigned status, json_t *j)
{
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL) {
		http_reply(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
		           "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode\"}}", 54);
		return;
	}
	free(r->rbody);
	r->rbody = text;
	r->rlen = strlen(text);
	r->status = status;
	r->type = "application/json";
}

void
http_reply_error(struct request *r, lethe_rc rc, const char *msg)
{
	http_reply_json(
	    r, http_status_of(rc),
	    json_pack("{s:{s:s, s:s}}", "error", "code", lethe_rc_str(rc), "message", msg));
}

void
http_reply_failed(struct request *r, lethe_rc rc, const struct lethe_err *err, const char *what,
                  const struct http_failure *f, struct log_limit *lim)
{
	char msg[160];

	if (rc == LETHE_E_INVALID || rc == LETHE_E_CONFLICT || rc == LETHE_E_LIMIT ||
	    rc == LETHE_E_GONE) {
		http_reply_error(r, rc, err->msg[0] != '\0' ? err->msg : "not allowed");
		return;
	}
	if (rc == LETHE_E_NOTFOUND) {
		http_reply_error(r, rc, f->notfound);
		return;
	}
	log_warnx_limited(lim, "%s %s: %s", f->log_as, what, err->msg);
	snprintf(msg, sizeof(msg), "%s could not be %s now; nothing changed, try again", f->subject,
	         what);
	http_reply_error(r, LETHE_E_UNAVAILABLE, msg);
}

void
http_reply_status(struct request *r, unsigned status, const char *code, const char *msg)
{
	http_reply_json(r, status,
	                json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

/*
 * True if @r's errors are answered as a page: on the status page's route
 * unless JSON is asked for, and on paths outside /api/ and /v1/ when a
 * browser asks (Accept: text/html).  For error answers only.
 */
static bool
html_wanted(const struct request *r)
{
	const char *accept = r->h_accept;
	const struct selfservice_config *ss = &r->s->cfg->selfservice;

	if (accept != NULL && strstr(accept, "application/json") != NULL)
		return false;
	if (strcmp(r->path, "/data-deletion/status") == 0)
		return true;
	/* The self-service page's errors are pages, whatever the client asks (not /privacyx). */
	if (ss->enabled && strncmp(r->path, ss->path, strlen(ss->path)) == 0 &&
	    (r->path[strlen(ss->path)] == '\0' || r->path[strlen(ss->path)] == '/'))
		return true;
	if (strncmp(r->path, "/api/", 5) == 0 || strncmp(r->path, "/v1/", 4) == 0)
		return false;
	return accept != NULL && strstr(accept, "text/html") != NULL;
}

void
http_reply_failure(struct server *s, struct request *r, unsigned status, const char *code,
                   const char *msg)
{
	struct lethe_err err = {0};
	const char *title = status == MHD_HTTP_NOT_FOUND             ? "Page not found"
	                    : status == MHD_HTTP_METHOD_NOT_ALLOWED  ? "This page cannot do that"
	                    : status == MHD_HTTP_SERVICE_UNAVAILABLE ? "Please try again later"
	                    : status == MHD_HTTP_CONTENT_TOO_LARGE ||
	                            status == MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE
	                        ? "The request is too large"
	                        : "The request cannot be answered";
	char *html;

	if (!html_wanted(r)) {
		http_reply_status(r, status, code, msg);
		return;
	}
	html = status_page_error_html(s->cfg->app_name, s->cfg->contact, title, msg, &err);
	if (html == NULL) {
		http_reply_status(r, status, code, msg);
		return;
	}
	http_reply(r, status, "text/html; charset=utf-8", html, strlen(html));
	free(html);
}

void
http_reply_failure_rc(struct server *s, struct request *r, lethe_rc rc, const char *msg)
{
	http_reply_failure(s, r, http_status_of(rc), lethe_rc_str(rc), msg);
}

void
http_reply_method(struct server *s, struct request *r, const char *allow)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "use %s",
	         strcmp(allow, "GET, HEAD") == 0 ? "GET or HEAD" : allow);
	r->allow = allow;
	http_reply_failure(s, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", msg);
}

enum MHD_Result
http__queue_reply(struct request *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	r->phase = REQ_ANSWERED;
	if (r->rbody == NULL && r->dl == NULL)
		http_reply_status(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "no answer");
	/* An archive is streamed (download.c); any other reply is one buffer. */
	if (r->dl != NULL)
		resp = http__download_response(r);
	else
		resp = MHD_create_response_from_buffer(r->rlen, r->rbody, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	r->rbody = NULL;
	if (r->type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (r->type != NULL && strncmp(r->type, "text/html", 9) == 0)
		MHD_add_response_header(
		    resp, "Content-Security-Policy",
		    r->form_self ? "default-src 'none'; style-src 'self'; img-src 'self'; "
		                   "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
		                 : "default-src 'none'; style-src 'self'; img-src 'self'; "
		                   "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
	if (r->retry_after[0] != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, r->retry_after);
	if (r->allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->www_auth != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->www_auth);
	if (r->disposition[0] != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, r->disposition);
	if (r->location != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
	/*
	 * Count it now, not in the completion callback: a client that reads
	 * /metrics right after this answer must already see it.
	 */
	metrics_http(r->route, r->status, (time_mono_ms() - r->t0) / 1000.0);
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}
