/* SPDX-License-Identifier: MIT */
/*
 * platform.c - platform names and platform_call(): build the request
 * (request.c), send it with libcurl, classify the answer (classify.c).
 *
 * Thread safety: curl_global_init() runs once (curlinit_once()) before the
 * first call; every call has its own easy handle and buffers and only reads
 * the immutable struct platforms, so calls may run in parallel.  Signals are
 * off (CURLOPT_NOSIGNAL) so timeouts work in threads.
 *
 * Safety: redirects are never followed, only http and https are allowed,
 * the answer's body is read up to the configured cap, and neither the token
 * nor a secret is logged or copied into the result.
 */
#include "util/fmacros.h"

#include <curl/curl.h>

#include "platform/platform.h"
#include "platform/request.h"
#include "util/curlinit.h"
#include "util/log.h"

static const struct {
	const char *alias;     /* as an app may store it */
	const char *canonical; /* lethe's name */
} aliases[] = {
    {"google", "google"},       {"youtube", "google"},    {"facebook", "facebook"},
    {"instagram", "instagram"}, {"linkedin", "linkedin"}, {"x", "x"},
    {"twitter", "x"},           {"tiktok", "tiktok"},
};

const char *
platform_canonical(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcasecmp(name, aliases[i].alias) == 0)
			return aliases[i].canonical;
	return NULL;
}

bool
platform_supports(const char *platform, enum platform_op op)
{
	const char *c = platform_canonical(platform);

	if (c == NULL)
		return false;
	if (op == PLATFORM_REVOKE)
		return strcmp(c, "instagram") != 0; /* Instagram Login documents no revoke */
	if (op == PLATFORM_UNSUBSCRIBE)
		return strcmp(c, "facebook") == 0 || strcmp(c, "instagram") == 0;
	return false;
}

bool
platform_has_app_token(const struct platforms *p, const char *platform)
{
	const char *c = platform_canonical(platform);
	int id = c ? platform_id_of(c) : -1;

	if (p == NULL || id < 0)
		return false;
	return p->conf[id].client_id != NULL &&
	       (p->conf[id].secret.env != NULL || p->conf[id].secret.file != NULL);
}

const char *
platform_outcome_str(enum platform_outcome o)
{
	switch (o) {
	case PLATFORM_OK:
		return "ok";
	case PLATFORM_ALREADY:
		return "already";
	case PLATFORM_RETRY:
		return "retry";
	case PLATFORM_FAILED:
		return "failed";
	case PLATFORM_UNSUPPORTED:
		return "unsupported";
	}
	return "unknown";
}

/* The answer's body, cut at the cap. */
struct body {
	struct buf b; /* what was kept */
	bool cut;     /* more arrived than the cap */
};

static size_t
body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *body = userdata;
	size_t n = size * nmemb;

	if (buf_add(&body->b, ptr, n) != LETHE_OK) {
		body->cut = true;
		return 0; /* stops the transfer: the cap is hard */
	}
	return n;
}

/*
 * Transport failures: all worth another try later.  The detail says what
 * happened as libcurl words it for this call (@errbuf: "Could not resolve
 * host: graph.facebook.com", "Failed to connect to 127.0.0.1 port 8091 after
 * 0 ms: ...", "Operation timed out after 5000 milliseconds ..."), falling back
 * to the code's generic text (@generic: curl_easy_strerror()), and adds the system's reason
 * (@os_errno, e.g. "Connection refused") when libcurl's text leaves it out.  Such texts name the
 * host and port at most; one with a '/' or a '?' could quote a URL's path or query (a Facebook user
 * id, a token) and is replaced by the code's generic text: the detail reaches the API, `lethe jobs`
 * and logs.
 */
void
platform_transport_failed(const char *name, const char *errbuf, const char *generic, long os_errno,
                          struct platform_result *out)
{
	bool own = errbuf != NULL && errbuf[0] != '\0' && strpbrk(errbuf, "/?") == NULL;
	const char *what = own ? errbuf : generic;
	const char *sys = os_errno > 0 ? strerror((int)os_errno) : NULL;
	size_t n;

	out->outcome = PLATFORM_RETRY;
	out->http_status = 0;
	snprintf(out->detail, sizeof(out->detail), "%s: %s", name, what);
	n = strlen(out->detail);
	while (n > 0 && (out->detail[n - 1] == '\n' || out->detail[n - 1] == ' '))
		out->detail[--n] = '\0';
	if (sys != NULL && strstr(out->detail, sys) == NULL)
		snprintf(out->detail + n, sizeof(out->detail) - n, " (%s)", sys);
}

/* Send @req; fill @out.  Owns the handle and header list (single exit). */
static void
send_request(const struct platforms *p, int id, const struct platform_request *req, long max_ms,
             struct platform_result *out)
{
	const char *name = p->conf[id].name;
	CURL *h = NULL;
	struct curl_slist *hdrs = NULL;
	struct body body;
	char errbuf[CURL_ERROR_SIZE];
	long status = 0, os_errno = 0;
	CURLcode cc;

	buf_init(&body.b, p->max_body);
	body.cut = false;
	errbuf[0] = '\0';
	h = curl_easy_init();
	if (h == NULL) {
		platform_transport_failed(name, NULL, curl_easy_strerror(CURLE_FAILED_INIT), 0,
		                          out);
		goto out;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (req->auth != NULL)
		hdrs = curl_slist_append(hdrs, req->auth);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, buf_str(&req->form));
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->form.len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "lethe/0.1");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	                 p->connect_timeout_ms < max_ms ? p->connect_timeout_ms : max_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, p->timeout_ms < max_ms ? p->timeout_ms : max_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && body.cut && status > 0)) {
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		platform_transport_failed(name, errbuf, curl_easy_strerror(cc), os_errno, out);
		goto out;
	}
	platform_classify(id, status, buf_str(&body.b), body.b.len, out);
	if (body.cut) {
		size_t n = strlen(out->detail);

		snprintf(out->detail + n, sizeof(out->detail) - n, " (answer cut at %zu bytes)",
		         p->max_body);
	}
out:
	curl_slist_free_all(hdrs);
	if (h != NULL)
		curl_easy_cleanup(h);
	buf_free(&body.b);
}

void
platform_call(const struct platforms *p, const char *platform, enum platform_op op,
              const char *token, const char *account_id, struct platform_result *out)
{
	platform_call_within(p, platform, op, token, account_id, p != NULL ? p->timeout_ms : 1,
	                     out);
}

void
platform_call_within(const struct platforms *p, const char *platform, enum platform_op op,
                     const char *token, const char *account_id, long max_ms,
                     struct platform_result *out)
{
	struct platform_request req;
	const char *c = platform_canonical(platform);
	int id = c ? platform_id_of(c) : -1;
	CURLcode cc;

	memset(out, 0, sizeof(*out));
	if (p == NULL) {
		out->outcome = PLATFORM_FAILED;
		snprintf(out->detail, sizeof(out->detail), "no platforms configuration loaded");
		return;
	}
	if (id < 0) {
		out->outcome = PLATFORM_UNSUPPORTED;
		snprintf(out->detail, sizeof(out->detail), "unknown platform");
		return;
	}
	cc = curlinit_once();
	if (cc != CURLE_OK) {
		platform_transport_failed(c, NULL, curl_easy_strerror(cc), 0, out);
		return;
	}
	if (platform_request_build(p, id, op, token, account_id, &req, out))
		send_request(p, id, &req, max_ms > 0 ? max_ms : 1, out);
	platform_request_free(&req);
	/*
	 * "Token invalid" does not say the subscription is gone: it stays, and
	 * this token cannot remove it.  A dead letter with the reason.
	 */
	if (op == PLATFORM_UNSUBSCRIBE && out->outcome == PLATFORM_ALREADY) {
		out->outcome = PLATFORM_FAILED;
		snprintf(out->detail, sizeof(out->detail),
		         "%s answered HTTP %ld: the token is invalid (revoked or expired), so the "
		         "subscription could not be removed",
		         c, out->http_status);
	}
	/* With no answer, what happened instead (the detail names no token, id or secret). */
	if (out->http_status == 0)
		log_info("platform %s %s: %s: %s", c,
		         op == PLATFORM_REVOKE ? "revoke" : "unsubscribe",
		         platform_outcome_str(out->outcome), out->detail);
	else
		log_info("platform %s %s: %s (HTTP %ld)", c,
		         op == PLATFORM_REVOKE ? "revoke" : "unsubscribe",
		         platform_outcome_str(out->outcome), out->http_status);
}

const char *
platform_label(const char *name, bool meta_app)
{
	static const struct {
		const char *canon; /* canonical name */
		const char *label; /* shown */
		const char *meta;  /* shown for a Meta app family of that name, or NULL */
	} labels[] = {{"google", "Google", NULL},
	              {"facebook", "Facebook", "Facebook"},
	              {"instagram", "Instagram Login", "Instagram"},
	              {"linkedin", "LinkedIn", NULL},
	              {"x", "X", NULL},
	              {"tiktok", "TikTok", NULL}};
	size_t i;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strcmp(labels[i].canon, name) == 0)
			return !meta_app                ? labels[i].label
			       : labels[i].meta != NULL ? labels[i].meta
			                                : name;
	return name;
}
