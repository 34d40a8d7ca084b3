/* SPDX-License-Identifier: MIT */
/*
 * meta_routes.c - Meta's callbacks over HTTP: POST
 * /api/meta/[{app}/]data-deletion and /api/meta/[{app}/]deauthorize.
 *
 * Both check method, content type and body here, take the signed_request
 * out of the form and verify it by Meta's rules (meta/callback.h) on the
 * event thread.  A data-deletion request then goes to the intake through
 * the service (service_meta_prepare(), service_meta_submit() from
 * server.c) and its connection stays suspended until the request is
 * durable: the hot path, which allocates only the sealed id and the
 * answer.  A deauthorization runs on a worker (service_meta_deauthorize()).
 * No handler logs or echoes a user id, a code or a secret.
 */
#include "util/fmacros.h"

#include <microhttpd.h>
#include <sodium.h>
#include <strings.h>

#include "http/form.h"
#include "http/server_internal.h"
#include "meta/callback.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/*
 * Check method, content type and body; verify the signed_request of @app.
 * On failure the error reply is set and false returned.
 */
static bool
meta_verify(struct server *s, struct request *r, const struct meta_app *app, struct sr_payload *p)
{
	const char *ctype = r->h_type;
	char sr[SR_MAX_LEN + 2];
	size_t srlen = 0;
	struct lethe_err err = {0};
	lethe_rc rc;

	if (strcmp(r->method, "POST") != 0) {
		http_reply_method(s, r, "POST");
		return false;
	}
	if (r->too_big) {
		http_reply_error(r, LETHE_E_TOOBIG, "request body too large");
		return false;
	}
	if (ctype == NULL || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0 ||
	    (ctype[33] != '\0' && ctype[33] != ';' && ctype[33] != ' ')) {
		http_reply_status(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
		                  "Content-Type must be application/x-www-form-urlencoded");
		return false;
	}
	rc = form_get(r->body.data ? r->body.data : "", r->body.len, "signed_request", sr,
	              sizeof(sr), &srlen);
	if (rc == LETHE_E_NOTFOUND) {
		rc = LETHE_E_INVALID;
		lethe_err_set(&err, rc, "the form has no signed_request field");
	} else if (rc == LETHE_E_TOOBIG) {
		lethe_err_set(&err, rc, "signed_request is too long");
	} else if (rc != LETHE_OK) {
		lethe_err_set(&err, rc, "the form body is malformed");
	} else {
		rc = meta_callback_verify(sr, srlen, app->secret, app->secret_len,
		                          s->cfg->meta_max_age, time_now(), p, &err);
	}
	/* form_get() wrote at most the body's length and a NUL: not all 8 KiB. */
	sodium_memzero(sr, r->body.len < sizeof(sr) ? r->body.len + 1 : sizeof(sr));
	if (rc != LETHE_OK) {
		http_reply_error(r, rc, err.msg);
		return false;
	}
	return true;
}
/* The intake finished with a deletion request: hand it back to its connection. */
static void
meta_deletion_done(struct intake_req *in)
{
	struct request *r = (struct request *)((char *)in - offsetof(struct request, in));

	r->phase = REQ_READY;
	MHD_resume_connection(r->conn);
}

/*
 * {"url":"<@url_json (@ul bytes)><@code>","confirmation_code":"<@code>"} in a malloc'd
 * text of *@len bytes; pieces copied, not formatted (vsnprintf twice was 2%
 * of an event thread's time per callback).
 */
static char *
json_answer(const char *url_json, size_t ul, const char *code, size_t *len)
{
	static const char a[] = "{\"url\":\"", b[] = "\",\"confirmation_code\":\"", c[] = "\"}";
	size_t cl = strlen(code);
	size_t n = sizeof(a) - 1 + ul + cl + sizeof(b) - 1 + cl + sizeof(c) - 1;
	char *out = xmalloc(n + 1), *p = out;

	memcpy(p, a, sizeof(a) - 1);
	p += sizeof(a) - 1;
	memcpy(p, url_json, ul);
	p += ul;
	memcpy(p, code, cl);
	p += cl;
	memcpy(p, b, sizeof(b) - 1);
	p += sizeof(b) - 1;
	memcpy(p, code, cl);
	p += cl;
	memcpy(p, c, sizeof(c));
	*len = n;
	return out;
}

/* After resume: the answer Meta reads, or 503 when the request is not durable. */
static void
meta_deletion_finish(struct server *s, struct request *r)
{
	free((void *)r->in.box);
	r->in.box = NULL;
	if (r->in.rc != LETHE_OK) {
		http_reply_error(r, LETHE_E_UNAVAILABLE,
		                 "the request could not be recorded; try again");
		return;
	}
	/* The hot path: the code is [a-z2-7] and the URL prefix escaped once at start. */
	free(r->rbody);
	r->rbody = json_answer(s->status_url_json, s->status_url_len, r->in.code, &r->rlen);
	r->status = MHD_HTTP_OK;
	r->type = "application/json";
}

/*
 * Verify on the event thread, then hand the request to the intake; the
 * connection stays suspended until its group commit is durable.
 */
static void
meta_deletion(struct server *s, struct request *r, const struct meta_app *app)
{
	struct sr_payload p;

	r->route = "meta_data_deletion";
	if (!meta_verify(s, r, app, &p))
		return;
	service_meta_prepare(s->svc, app, meta_callback_id(&p), &r->in);
	r->in.done = meta_deletion_done;
	sodium_memzero(&p, sizeof(p));
	r->finish = meta_deletion_finish;
	r->phase = REQ_SUSPENDED;
}

/* Blocking: wipe the tokens of the person the verified request names. */
static void
meta_deauthorize_run(struct server *s, struct request *r)
{
	static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);
	struct lethe_err err = {0};
	lethe_rc rc;

	rc = service_meta_deauthorize(s->svc, r->app, r->uid, &err);
	if (rc != LETHE_OK) {
		log_warnx_limited(&lim, "deauthorize (%s): %s", r->app->name, lethe_rc_str(rc));
		http_reply_error(r, LETHE_E_UNAVAILABLE,
		                 "the deauthorization could not be applied; try again");
		return;
	}
	http_reply(r, MHD_HTTP_OK, NULL, "", 0);
}

/* Verify on the event thread; the wipe itself runs on a worker. */
static void
meta_deauthorize(struct server *s, struct request *r, const struct meta_app *app)
{
	struct sr_payload p;

	r->route = "meta_deauthorize";
	if (!meta_verify(s, r, app, &p))
		return;
	r->app = app;
	r->uid = xstrdup(meta_callback_id(&p));
	sodium_memzero(&p, sizeof(p));
	r->handler = meta_deauthorize_run;
	r->phase = REQ_SUSPENDED;
}

void
http_meta_routes(struct server *s, struct request *r)
{
	const struct meta_app *app = NULL;
	const char *rest = r->path + 10;
	size_t i;

	if (s->cfg->napps > 0 && strcmp(rest, "data-deletion") == 0) {
		meta_deletion(s, r, &s->cfg->apps[0]);
		return;
	}
	if (s->cfg->napps > 0 && strcmp(rest, "deauthorize") == 0) {
		meta_deauthorize(s, r, &s->cfg->apps[0]);
		return;
	}
	for (i = 0; i < s->cfg->napps; i++) {
		size_t n = strlen(s->cfg->apps[i].name);

		if (strncmp(rest, s->cfg->apps[i].name, n) == 0 && rest[n] == '/') {
			app = &s->cfg->apps[i];
			rest += n + 1;
			break;
		}
	}
	if (app != NULL && strcmp(rest, "data-deletion") == 0) {
		meta_deletion(s, r, app);
		return;
	}
	if (app != NULL && strcmp(rest, "deauthorize") == 0) {
		meta_deauthorize(s, r, app);
		return;
	}
	r->route = "other";
	http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found",
	                  "no such endpoint (is the app configured under meta.apps?)");
}
