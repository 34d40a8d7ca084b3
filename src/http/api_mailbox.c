/* SPDX-License-Identifier: MIT */
/*
 * api_mailbox.c - the operator's queue of the privacy mailbox over HTTP
 * (admin keys, api.admin_keys; docs/mail-intake.md "The operator's queue"):
 *
 *   GET  /v1/mailbox?state=&outcome=&cursor=&limit=   a page of the mails
 *   POST /v1/mailbox/{id}/close                       {"reason"} optional
 *
 * {id} is a mail's number.  A front end only, like api_requests.c: the
 * admin key is checked (api_auth(): an app key never opens these), the
 * query and body parsed strictly (an unknown parameter or field, a wrong
 * type: 400 before the service is asked, so nothing changes), then one
 * service call (service_mailbox_list/close), whose result maps to the
 * status: LETHE_E_INVALID 400, LETHE_E_NOTFOUND 404, LETHE_E_CONFLICT 409,
 * anything else 503.  The answers hold no personal data (the service's
 * listing: numbers, outcomes, rules, reasons written by lethe, codes);
 * a mail's content is only for `lethe mailbox show` on the operator's
 * terminal.  The actor recorded is "admin:NAME" of the key.  Nothing a
 * client sent is echoed back or logged.
 */
#include "util/fmacros.h"

#include <microhttpd.h>

#include "http/api_channels.h"
#include "util/log.h"

#define ACTOR_MAX 80           /* "admin:" and a key's name (at most 64) */
#define MAILBOX_QUERY_MAX 256  /* bytes of a query parameter */
#define MAILBOX_REASON_MAX 160 /* bytes of a close's reason */
#define MAILBOX_LIST_MAX 1000  /* mails per page at most */
#define MAILBOX_ID_MAX 20      /* digits of a mail's number */

/*
 * The reply for a service call that failed with @rc: the service's message
 * for invalid input or a state that does not allow it (no personal data),
 * a fixed one for the rest (503, logged).
 */
static void
reply_failed(struct request *r, lethe_rc rc, const struct lethe_err *err, const char *what)
{
	static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);
	static const struct http_failure f = {"mailbox", "the mailbox", "no mail with this id"};

	http_reply_failed(r, rc, err, what, &f, &lim);
}

/* GET /v1/mailbox?state=&outcome=&cursor=&limit= */
static void
mailbox_list(struct server *s, struct request *r)
{
	static const char *const known[] = {"state", "outcome", "cursor", "limit", NULL};
	struct lethe_err err = {0};
	const char *state, *lim;
	json_t *out = NULL;
	int limit = 0;
	size_t i, j;
	lethe_rc rc;

	for (i = 0; i < r->nargs; i++) {
		for (j = 0; known[j] != NULL; j++)
			if (strcmp(known[j], r->args[i][0]) == 0)
				break;
		if (known[j] == NULL) {
			http_reply_error(r, LETHE_E_INVALID,
			                 "unknown query parameter (state, outcome, cursor, limit)");
			return;
		}
		if (r->args[i][1][0] == '\0' || strlen(r->args[i][1]) > MAILBOX_QUERY_MAX) {
			http_reply_error(r, LETHE_E_INVALID,
			                 "a query parameter is empty or longer than 256 bytes");
			return;
		}
	}
	/* open, closed or all (the default: every mail, as the service lists with NULL) */
	state = http_query(r, "state");
	if (state != NULL && strcmp(state, "open") != 0 && strcmp(state, "closed") != 0 &&
	    strcmp(state, "all") != 0) {
		http_reply_error(r, LETHE_E_INVALID, "state must be open, closed or all");
		return;
	}
	if (state != NULL && strcmp(state, "all") == 0)
		state = NULL;
	lim = http_query(r, "limit");
	if (lim != NULL) {
		char *end = NULL;
		long n = strtol(lim, &end, 10);

		/* Digits only: strtol() would take a leading space ("+" in a query) or sign. */
		if (strspn(lim, "0123456789") != strlen(lim) || end == lim || *end != '\0' ||
		    n < 1 || n > MAILBOX_LIST_MAX) {
			http_reply_error(r, LETHE_E_INVALID,
			                 "limit must be a number from 1 to 1000");
			return;
		}
		limit = (int)n;
	}
	rc = service_mailbox_list(s->svc, state, http_query(r, "outcome"), http_query(r, "cursor"),
	                          limit, &out, &err);
	if (rc != LETHE_OK)
		reply_failed(r, rc, &err, "listed");
	else
		http_reply_json(r, MHD_HTTP_OK, out);
}

/* True if @s is a mail's number: 1 to MAILBOX_ID_MAX digits, no leading 0. */
static bool
id_ok(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && n < MAILBOX_ID_MAX && s[n] == '\0' && s[0] != '0';
}

/* POST /v1/mailbox/{id}/close {"reason"} */
static void
mailbox_close(struct server *s, struct request *r, const struct api_key *key, int64_t id)
{
	struct lethe_err err = {0};
	json_error_t jerr;
	json_t *o = NULL, *v, *out = NULL;
	const char *k, *reason = NULL;
	char actor[ACTOR_MAX];
	lethe_rc rc;

	if (r->body.len > 0) {
		o = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(o)) {
			http_reply_error(r, LETHE_E_INVALID, "the body must be a JSON object");
			goto out;
		}
		json_object_foreach(o, k, v)
		{
			if (strcmp(k, "reason") != 0) {
				http_reply_error(r, LETHE_E_INVALID,
				                 "unknown field in the body (allowed: reason)");
				goto out;
			}
		}
		v = json_object_get(o, "reason");
		if (v != NULL && !json_is_null(v) &&
		    (!json_is_string(v) || json_string_length(v) == 0 ||
		     json_string_length(v) > MAILBOX_REASON_MAX ||
		     strlen(json_string_value(v)) != json_string_length(v))) {
			http_reply_error(r, LETHE_E_INVALID,
			                 "\"reason\" must be 1 to 160 bytes, without NUL");
			goto out;
		}
		reason = json_string_value(v);
	}
	snprintf(actor, sizeof(actor), "admin:%s", key->name);
	rc = service_mailbox_close(s->svc, id, actor, reason, &out, &err);
	if (rc != LETHE_OK)
		reply_failed(r, rc, &err, "changed");
	else if (out != NULL)
		http_reply_json(r, MHD_HTTP_OK, out);
	else
		http_reply_json(r, MHD_HTTP_OK,
		                json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "closed"));
out:
	json_decref(o);
}

void
http_api_mailbox(struct server *s, struct request *r)
{
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	const struct api_key *key;
	const char *rest = r->path + strlen("/v1/mailbox");
	char id[MAILBOX_ID_MAX + 1];

	r->route = "api_mailbox";
	if (rest[0] != '\0' && rest[0] != '/') {
		/* /v1/mailboxes and the like: not this route's (the API's 404, after the key). */
		api_v1(s, r);
		return;
	}
	key = api_auth(s, r, true);
	if (key == NULL)
		return;
	if (r->too_big) {
		http_reply_error(r, LETHE_E_TOOBIG, "request body too large");
		return;
	}
	if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
		if (!get)
			http_reply_method(s, r, "GET, HEAD");
		else
			mailbox_list(s, r);
		return;
	}
	rest++;
	if (!http_path_id(r, &rest, id, sizeof(id), id_ok,
	                  "the mail id must be a number (1 or more)"))
		return;
	if (strcmp(rest, "/close") != 0) {
		http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
		return;
	}
	if (strcmp(r->method, "POST") != 0) {
		http_reply_method(s, r, "POST");
		return;
	}
	mailbox_close(s, r, key, (int64_t)strtoll(id, NULL, 10));
}
