/* SPDX-License-Identifier: MIT */
/*
 * selfservice.c - the self-service page (selfservice.path, default
 * /privacy) and the pages its mailed links open (PATH/l/TOKEN); see
 * docs/selfservice.md.
 *
 *   GET  PATH           the form: what the person wants, an email address
 *   POST PATH           ask (service_selfservice_ask()): always the same
 *                       "check your mailbox" page, known address or not
 *   GET  PATH/l/TOKEN   what the link does, and a button: changes nothing
 *   POST PATH/l/TOKEN   do it (service_link_use()), then a page with the
 *                       outcome and the request's status page
 *
 * A download link (an export's archive; service_export_link_show/use())
 * has the same two pages: GET shows "Your data is ready" and a Download
 * button, POST uses the link and streams the zip (http_reply_download()).
 * The links' pages are served even when the page itself is off
 * (selfservice.enabled: false): a mail or a status page sent them.
 * POST /data-deletion/status/download (the status page's Download button)
 * is here too: it mints a fresh download link and answers 303 to its page.
 *
 * Every POST is checked before anything else: a cross-site Sec-Fetch-Site,
 * or an Origin that is not server.public_url's, is refused (403), and so
 * is a form without a valid CSRF token (http/csrf.h: stateless, bound to
 * the form and the link, no cookie).  Errors are readable pages of the
 * template set (web/privacy_error.html); a bad address gets the form again
 * with the error next to the field.  Nothing here redirects, sets a
 * cookie, or logs an address or a token.  The handler is blocking (the
 * state store): it runs on a worker.
 */
#include "util/fmacros.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <strings.h>
#include <time.h>

#include "http/csrf.h"
#include "http/form.h"
#include "http/server_internal.h"
#include "http/status_page.h"
#include "mail/mail.h"
#include "util/mem.h"
#include "util/template.h"
#include "util/timeutil.h"

#define SS_BODY_MAX 4096    /* bytes of a form's body: more is 413 */
#define SS_FIELD_MAX 512    /* bytes of one decoded field kept */
#define SS_TOKEN_PATH "/l/" /* a link's path under selfservice.path */
#define SS_URL_MAX 1024     /* bytes of a minted link (service.h says SERVICE_URL_MAX: 600) */

/* The embedded pages (scripts/embed.py), when the template set has none. */
extern const char web_privacy_html[];
extern const char web_privacy_sent_html[];
extern const char web_link_html[];
extern const char web_link_done_html[];
extern const char web_privacy_error_html[];
extern const char web_download_html[];

/* The template @name of the loaded set, else the embedded @builtin. */
static const char *
page_tpl(struct server *s, const char *name, const char *builtin)
{
	const struct tplset *t = service_templates(s->svc);
	const char *text = t != NULL ? tplset_get(t, name) : NULL;

	return text != NULL ? text : builtin;
}

/* A context with the variables every self-service page has. */
static void
page_ctx(struct server *s, struct tpl_ctx *ctx)
{
	tpl_ctx_init(ctx);
	status_page_ctx_common(ctx, s->cfg->app_name, s->cfg->contact);
	tpl_ctx_add_str(ctx, "action", s->cfg->selfservice.path);
}

/* Render @tpl with @ctx (freed) as the reply with @status. */
static void
page_reply(struct request *r, unsigned status, const char *tpl, struct tpl_ctx *ctx)
{
	struct lethe_err err = {0};
	char *html = template_render(tpl, ctx, &err);

	tpl_ctx_free(ctx);
	if (html == NULL) {
		http_reply_status(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		                  "cannot render the page");
		return;
	}
	http_reply(r, status, "text/html; charset=utf-8", html, strlen(html));
	free(html);
}

/* The error page with @status, @title and @message. */
static void
error_page(struct server *s, struct request *r, unsigned status, const char *title,
           const char *message)
{
	struct tpl_ctx ctx;

	page_ctx(s, &ctx);
	tpl_ctx_add_str(&ctx, "title", title);
	tpl_ctx_add_str(&ctx, "message", message);
	page_reply(r, status, page_tpl(s, "privacy_error.html", web_privacy_error_html), &ctx);
}

static void
link_invalid(struct server *s, struct request *r)
{
	error_page(s, r, MHD_HTTP_NOT_FOUND, "This link is no longer valid",
	           "The link has been used already, has expired, or was not copied whole. "
	           "You can make a new request on our privacy request page.");
}

static void
unavailable(struct server *s, struct request *r)
{
	error_page(s, r, MHD_HTTP_SERVICE_UNAVAILABLE, "Please try again later",
	           "We cannot take your request right now. Nothing was changed. Please try "
	           "again in a few minutes.");
}

/* @s seconds as "24 hours", "30 minutes", "1 day"-free plain text into @out. */
static void
duration_text(int64_t secs, char *out, size_t cap)
{
	long long v = secs;
	const char *unit = "second";

	if (secs > 0 && secs % 3600 == 0) {
		v = secs / 3600;
		unit = "hour";
	} else if (secs > 0 && secs % 60 == 0) {
		v = secs / 60;
		unit = "minute";
	}
	snprintf(out, cap, "%lld %s%s", v, unit, v == 1 ? "" : "s");
}

/*
 * The length of origin @o (@n bytes, "scheme://host[:port]") without its
 * scheme's default port (":443" of https, ":80" of http): a browser never
 * sends it, an operator may write it.
 */
static size_t
origin_len(const char *o, size_t n)
{
	if (n > 12 && strncasecmp(o, "https://", 8) == 0 && strncmp(o + n - 4, ":443", 4) == 0)
		return n - 4;
	if (n > 10 && strncasecmp(o, "http://", 7) == 0 && strncmp(o + n - 3, ":80", 3) == 0)
		return n - 3;
	return n;
}

/*
 * True if a POST may be taken: not from another site (Sec-Fetch-Site
 * cross-site), and, if it names an Origin, from server.public_url's (the
 * scheme's default port written or not), or "null" with Sec-Fetch-Site
 * same-origin.
 */
static bool
same_origin(const struct server *s, const struct request *r)
{
	const char *site = r->h_fetch_site, *pub = s->cfg->public_url, *slash;
	size_t n, m;

	if (site != NULL && strcasecmp(site, "cross-site") == 0)
		return false;
	if (r->h_origin == NULL)
		return true;
	/* "null" is what Chromium sends with a form posted from a page under
	 * Referrer-Policy: no-referrer (ours): taken only when the browser says the
	 * form came from this origin (a page cannot set Sec-Fetch-Site). */
	if (strcmp(r->h_origin, "null") == 0)
		return site != NULL && strcasecmp(site, "same-origin") == 0;
	if (pub == NULL)
		return false;
	slash = strstr(pub, "://");
	slash = slash != NULL ? strchr(slash + 3, '/') : NULL;
	n = origin_len(pub, slash != NULL ? (size_t)(slash - pub) : strlen(pub));
	m = origin_len(r->h_origin, strlen(r->h_origin));
	return m == n && strncasecmp(r->h_origin, pub, n) == 0;
}

/*
 * The checks every POST passes first: its body's size (413), its type
 * (400), its origin (403) and its CSRF token for @purpose bound to @bound
 * (403).  False with the reply set if one fails.
 */
static bool
post_ok(struct server *s, struct request *r, const char *purpose, const char *bound)
{
	char tok[CSRF_TOKEN_MAX];
	const char *type = r->h_type;

	if (r->too_big || r->body.len > SS_BODY_MAX) {
		error_page(s, r, MHD_HTTP_CONTENT_TOO_LARGE, "The request is too large",
		           "What was sent is larger than this form can be. Please fill in the form "
		           "again.");
		return false;
	}
	if (type == NULL || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0) {
		error_page(s, r, MHD_HTTP_BAD_REQUEST, "The request cannot be answered",
		           "Please send the form from our privacy request page.");
		return false;
	}
	if (!same_origin(s, r) ||
	    form_get(buf_str(&r->body), r->body.len, "csrf", tok, sizeof(tok), NULL) != LETHE_OK ||
	    !csrf_check(s->cfg->key, purpose, bound, tok, time_now())) {
		error_page(s, r, MHD_HTTP_FORBIDDEN, "Please send the form again",
		           "This form was sent from another site, or it is too old. Nothing was "
		           "changed. Open the page again and send the form from there.");
		return false;
	}
	return true;
}

void
http_selfservice_client(const struct sockaddr *sa, char *out, size_t cap)
{
	struct in6_addr a;

	out[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
		              (socklen_t)cap) == NULL)
			out[0] = '\0';
		return;
	}
	if (sa == NULL || sa->sa_family != AF_INET6)
		return;
	a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&a)) {
		if (inet_ntop(AF_INET, &a.s6_addr[12], out, (socklen_t)cap) == NULL)
			out[0] = '\0';
		return;
	}
	/* One /64 is what a site or a host usually gets whole: walking it gets no new quota. */
	memset(&a.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a, out, (socklen_t)cap) == NULL || strlen(out) + 4 > cap)
		out[0] = '\0';
	else
		memcpy(out + strlen(out), "/64", 4);
}

/* ---- the form ---------------------------------------------------------------------- */

/*
 * The form with @status: @offer checked (NULL: the first), @email as typed
 * (may be NULL) and the errors next to their fields (NULL: none).
 */
static void
form_page(struct server *s, struct request *r, unsigned status, const char *offer,
          const char *email, const char *error_offer, const char *error_email)
{
	const struct selfservice_config *ss = &s->cfg->selfservice;
	char csrf[CSRF_TOKEN_MAX], ttl[48];
	struct tpl_ctx ctx;
	size_t i;

	page_ctx(s, &ctx);
	csrf_make(s->cfg->key, "ask", "", time_now(), csrf);
	tpl_ctx_add_str(&ctx, "csrf", csrf);
	tpl_ctx_add_list(&ctx, "offers");
	for (i = 0; i < ss->noffers; i++) {
		struct tpl_ctx *it = tpl_ctx_add_item(&ctx, "offers");
		bool checked = offer != NULL && selfservice_offer(s->cfg, offer) != NULL
		                   ? strcmp(offer, ss->offers[i].id) == 0
		                   : i == 0;

		tpl_ctx_add_str(it, "id", ss->offers[i].id);
		tpl_ctx_add_str(it, "label", ss->offers[i].label);
		tpl_ctx_add_bool(it, "checked", checked);
	}
	tpl_ctx_add_str(&ctx, "email", email);
	tpl_ctx_add_str(&ctx, "error_offer", error_offer);
	tpl_ctx_add_str(&ctx, "error_email", error_email);
	tpl_ctx_add_bool(&ctx, "has_error", error_offer != NULL || error_email != NULL);
	duration_text(s->cfg->mail.link_ttl_s, ttl, sizeof(ttl));
	tpl_ctx_add_str(&ctx, "link_ttl", ttl);
	page_reply(r, status, page_tpl(s, "privacy.html", web_privacy_html), &ctx);
}

static void
ask_post(struct server *s, struct request *r)
{
	char offer[SS_FIELD_MAX], email[SS_FIELD_MAX], ttl[48];
	struct service_ask a;
	struct lethe_err err = {0};
	struct tpl_ctx ctx;
	lethe_rc ro, re, rc;

	if (!post_ok(s, r, "ask", ""))
		return;
	ro = form_get(buf_str(&r->body), r->body.len, "offer", offer, sizeof(offer), NULL);
	re = form_get(buf_str(&r->body), r->body.len, "email", email, sizeof(email), NULL);
	if (ro != LETHE_OK || selfservice_offer(s->cfg, offer) == NULL) {
		form_page(s, r, MHD_HTTP_BAD_REQUEST, NULL, re == LETHE_OK ? email : NULL,
		          "Choose what you want us to do.", NULL);
		goto out;
	}
	if (re != LETHE_OK) {
		form_page(s, r, MHD_HTTP_BAD_REQUEST, offer, NULL, NULL,
		          "Enter an email address like name@example.com.");
		goto out;
	}
	memset(&a, 0, sizeof(a));
	a.offer = offer;
	a.email = email;
	a.client = r->client[0] != '\0' ? r->client : NULL;
	rc = service_selfservice_ask(s->svc, &a, &err);
	switch (rc) {
	case LETHE_OK:
		page_ctx(s, &ctx);
		duration_text(s->cfg->mail.link_ttl_s, ttl, sizeof(ttl));
		tpl_ctx_add_str(&ctx, "link_ttl", ttl);
		page_reply(r, MHD_HTTP_OK, page_tpl(s, "privacy_sent.html", web_privacy_sent_html),
		           &ctx);
		break;
	case LETHE_E_INVALID:
		form_page(s, r, MHD_HTTP_BAD_REQUEST, offer, email, NULL,
		          "Enter an email address like name@example.com.");
		break;
	case LETHE_E_LIMIT:
		snprintf(r->retry_after, sizeof(r->retry_after), "%lld",
		         (long long)s->cfg->selfservice.window_s);
		duration_text(s->cfg->selfservice.window_s, ttl, sizeof(ttl));
		page_ctx(s, &ctx);
		tpl_ctx_add_str(&ctx, "title", "Too many requests");
		tpl_ctx_add_strf(
		    &ctx, "message",
		    "We have had too many requests just now (from this address, "
		    "this network or in all). Nothing was sent. Please try again in %s.",
		    ttl);
		page_reply(r, MHD_HTTP_TOO_MANY_REQUESTS,
		           page_tpl(s, "privacy_error.html", web_privacy_error_html), &ctx);
		break;
	default:
		unavailable(s, r);
		break;
	}
out:
	sodium_memzero(email, sizeof(email));
}

/* ---- download links ---------------------------------------------------------------- */

/* The page of a download link whose archive was deleted (410), with @why. */
static void
download_gone(struct server *s, struct request *r, const struct lethe_err *why)
{
	if (strstr(why->msg, "no copy was made") != NULL) {
		error_page(s, r, MHD_HTTP_GONE, "No copy of your data was made",
		           "The request ended before the copy of your data was made. You can ask "
		           "for a new copy on our privacy request page.");
		return;
	}
	if (strstr(why->msg, "could not be found") != NULL) {
		error_page(s, r, MHD_HTTP_GONE, "This copy of your data could not be found",
		           "The copy of your data could not be found, so it cannot be downloaded. "
		           "Please ask again for a new copy on our privacy request page.");
		return;
	}
	if (strstr(why->msg, "with the account") != NULL) {
		error_page(s, r, MHD_HTTP_GONE, "This copy of your data was deleted",
		           "Your account was closed and its data deleted, and the copy of it "
		           "with them.");
		return;
	}
	error_page(s, r, MHD_HTTP_GONE, "This copy of your data was deleted",
	           strstr(why->msg, "withdrawn") != NULL
	               ? "The request was withdrawn, so the archive of your data was deleted. "
	                 "You can ask for a new copy on our privacy request page."
	               : "The archive of your data was kept for a limited time, which has "
	                 "ended, so it was deleted. You can ask for a new copy on our privacy "
	                 "request page.");
}

static void
download_get(struct server *s, struct request *r, const char *token)
{
	struct service_export_view v;
	struct lethe_err err = {0};
	char csrf[CSRF_TOKEN_MAX], size[SERVICE_SIZE_TEXT_MAX];
	struct tpl_ctx ctx;
	lethe_rc rc = service_export_link_show(s->svc, token, &v, &err);

	if (rc == LETHE_E_NOTFOUND) {
		link_invalid(s, r);
		return;
	}
	if (rc == LETHE_E_GONE) {
		download_gone(s, r, &err);
		return;
	}
	if (rc != LETHE_OK) {
		unavailable(s, r);
		return;
	}
	page_ctx(s, &ctx);
	tpl_ctx_add_strf(&ctx, "action", "%s" SS_TOKEN_PATH "%s", s->cfg->selfservice.path, token);
	csrf_make(s->cfg->key, "link", token, time_now(), csrf);
	tpl_ctx_add_str(&ctx, "csrf", csrf);
	service_export_size_text(v.bytes, size, sizeof(size));
	tpl_ctx_add_str(&ctx, "size", size);
	tpl_ctx_add_count(&ctx, "rows", v.rows);
	tpl_ctx_add_count(&ctx, "media", v.media);
	tpl_ctx_add_bool(&ctx, "has_media", v.media > 0);
	tpl_ctx_add_time(&ctx, "created_at", v.created_at);
	tpl_ctx_add_time(&ctx, "expires_at", v.expires_at);
	page_reply(r, MHD_HTTP_OK, page_tpl(s, "download.html", web_download_html), &ctx);
}

static void
download_post(struct server *s, struct request *r, const char *token)
{
	struct service_download *d = NULL;
	struct service_export_view v;
	struct lethe_err err = {0};
	lethe_rc rc = service_export_link_use(s->svc, token, &d, &v, &err);

	if (rc == LETHE_E_NOTFOUND)
		link_invalid(s, r);
	else if (rc == LETHE_E_GONE)
		download_gone(s, r, &err);
	else if (rc != LETHE_OK)
		unavailable(s, r);
	else
		http_reply_download(r, d, &v);
}

void
http_status_download(struct server *s, struct request *r)
{
	char typed[SS_FIELD_MAX], code[SS_FIELD_MAX];
	struct lethe_err err = {0};
	lethe_rc rc;

	r->form_self = true;
	if (strcmp(r->method, "POST") != 0) {
		r->allow = "POST";
		error_page(s, r, MHD_HTTP_METHOD_NOT_ALLOWED, "This page cannot do that",
		           "Open the status page of your request and use its button.");
		return;
	}
	if (form_get(buf_str(&r->body), r->body.len, "id", typed, sizeof(typed), NULL) !=
	        LETHE_OK ||
	    !status_page_code_parse(typed, code, sizeof(code)) || code[0] == '\0') {
		error_page(s, r, MHD_HTTP_BAD_REQUEST, "The request cannot be answered",
		           "Open the status page of your request and use its button.");
		return;
	}
	if (!post_ok(s, r, "download", code))
		return;
	/* Never a link here: the code is no secret; the link goes to the request's address. */
	rc = service_export_resend(s->svc, code, &err);
	switch (rc) {
	case LETHE_OK:
		error_page(s, r, MHD_HTTP_OK, "We are sending you a new link",
		           "We are emailing a new download link to the address this request was "
		           "made with. It downloads once. Check your mailbox, and its spam folder, "
		           "in a few minutes.");
		break;
	case LETHE_E_LIMIT:
		error_page(
		    s, r, MHD_HTTP_TOO_MANY_REQUESTS, "A new link was sent a moment ago",
		    "We emailed a new download link less than a minute ago. Check your "
		    "mailbox, and its spam folder. You can ask for another link in a minute.");
		break;
	case LETHE_E_NOTFOUND:
		error_page(s, r, MHD_HTTP_NOT_FOUND, "No such request",
		           "No request has this confirmation code.");
		break;
	case LETHE_E_CONFLICT:
		error_page(s, r, MHD_HTTP_CONFLICT, "Your data is not ready yet",
		           "We are still making the copy of your data. Open the status page again "
		           "in a few minutes.");
		break;
	case LETHE_E_FORBIDDEN:
		error_page(s, r, MHD_HTTP_CONFLICT, "We cannot email a link for this request",
		           "This request has no email address we may write to. The service you "
		           "asked through hands the copy on to you.");
		break;
	case LETHE_E_GONE:
		download_gone(s, r, &err);
		break;
	default:
		unavailable(s, r);
		break;
	}
}

/* ---- the links --------------------------------------------------------------------- */

/* Add what the link's request is (the offer's label, else its kind and scope) to @ctx. */
static void
link_vars(struct server *s, struct tpl_ctx *ctx, const struct service_link *l)
{
	const struct selfservice_config *ss = &s->cfg->selfservice;
	const char *what = NULL;
	size_t i;

	for (i = 0; i < ss->noffers; i++)
		if (strcmp(ss->offers[i].kind, l->kind) == 0 &&
		    strcmp(ss->offers[i].scope, l->scope) == 0)
			what = ss->offers[i].label;
	if (what != NULL)
		tpl_ctx_add_str(ctx, "what", what);
	else
		tpl_ctx_add_strf(ctx, "what", "%s of your data (%s)", l->kind, l->scope);
	tpl_ctx_add_bool(ctx, "is_verify", strcmp(l->purpose, "verify") == 0);
	tpl_ctx_add_bool(ctx, "is_cancel", strcmp(l->purpose, "cancel") == 0);
	tpl_ctx_add_bool(ctx, "is_address", strcmp(l->purpose, "address") == 0);
	tpl_ctx_add_bool(ctx, "is_restriction", strcmp(l->kind, "restriction") == 0);
	tpl_ctx_add_str(ctx, "state", l->state);
	tpl_ctx_add_time(ctx, "expires_at", l->expires_at);
	tpl_ctx_add_bool(ctx, "has_grace", l->grace_until > 0);
	if (l->grace_until > 0)
		tpl_ctx_add_time(ctx, "grace_until", l->grace_until);
}

static void
link_get(struct server *s, struct request *r, const char *token)
{
	struct service_link l;
	struct lethe_err err = {0};
	char csrf[CSRF_TOKEN_MAX];
	struct tpl_ctx ctx;
	lethe_rc rc = service_link_show(s->svc, token, &l, &err);

	if (rc == LETHE_E_NOTFOUND) {
		download_get(s, r, token); /* not a request's link: a download's, or none */
		return;
	}
	if (rc != LETHE_OK) {
		unavailable(s, r);
		return;
	}
	page_ctx(s, &ctx);
	/* The form posts to the page itself: its path, not anything the request named. */
	tpl_ctx_add_strf(&ctx, "action", "%s" SS_TOKEN_PATH "%s", s->cfg->selfservice.path, token);
	csrf_make(s->cfg->key, "link", token, time_now(), csrf);
	tpl_ctx_add_str(&ctx, "csrf", csrf);
	link_vars(s, &ctx, &l);
	page_reply(r, MHD_HTTP_OK, page_tpl(s, "link.html", web_link_html), &ctx);
}

static void
link_post(struct server *s, struct request *r, const char *token)
{
	struct service_link l;
	struct lethe_err err = {0};
	struct tpl_ctx ctx;
	lethe_rc rc;

	if (!post_ok(s, r, "link", token))
		return;
	rc = service_link_use(s->svc, token, &l, &err);
	if (rc == LETHE_E_NOTFOUND) {
		download_post(s, r, token); /* not a request's link: a download's, or none */
		return;
	}
	if (rc != LETHE_OK) {
		unavailable(s, r);
		return;
	}
	page_ctx(s, &ctx);
	link_vars(s, &ctx, &l);
	tpl_ctx_add_strf(&ctx, "status_url", "%s/data-deletion/status?id=%s", s->cfg->public_url,
	                 l.code);
	page_reply(r, MHD_HTTP_OK, page_tpl(s, "link_done.html", web_link_done_html), &ctx);
}

void
http_selfservice(struct server *s, struct request *r)
{
	const char *rest = r->path + strlen(s->cfg->selfservice.path);
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	bool post = strcmp(r->method, "POST") == 0;

	r->form_self = true;
	if (!get && !post) {
		r->allow = "GET, HEAD, POST";
		error_page(s, r, MHD_HTTP_METHOD_NOT_ALLOWED, "This page cannot do that",
		           "Open the page in your browser and use its form.");
		return;
	}
	if (rest[0] == '\0') {
		if (get)
			form_page(s, r, MHD_HTTP_OK, NULL, NULL, NULL, NULL);
		else
			ask_post(s, r);
		return;
	}
	if (strncmp(rest, SS_TOKEN_PATH, strlen(SS_TOKEN_PATH)) == 0) {
		const char *token = rest + strlen(SS_TOKEN_PATH);

		if (!service_link_token_ok(token))
			link_invalid(s, r);
		else if (get)
			link_get(s, r, token);
		else
			link_post(s, r, token);
		return;
	}
	error_page(s, r, MHD_HTTP_NOT_FOUND, "Page not found", "There is no page at this address.");
}
