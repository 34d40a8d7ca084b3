/* SPDX-License-Identifier: MIT */
/*
 * request.c - one small builder per platform: method, URL, form fields and
 * auth header exactly as each platform documents them (the endpoints and
 * their sources: docs/internals/platforms.md).  Tokens and secrets only ever go
 * into the form body or the Authorization header, never into the URL.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "platform/request.h"
#include "util/mem.h"

static bool
fail(struct platform_result *res, enum platform_outcome o, const char *fmt, const char *arg)
{
	res->outcome = o;
	res->http_status = 0;
	snprintf(res->detail, sizeof(res->detail), fmt, arg);
	return false;
}

lethe_rc
platform_form_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	lethe_rc rc = LETHE_OK;
	char enc[3];

	for (; rc == LETHE_OK && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			rc = buf_add(b, s, 1);
			continue;
		}
		enc[0] = '%';
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		rc = buf_add(b, enc, 3);
	}
	return rc;
}

/* Append "&name=value" (no '&' first) to the form. */
static lethe_rc
form_add(struct platform_request *req, const char *name, const char *value)
{
	lethe_rc rc = LETHE_OK;

	if (req->form.len > 0)
		rc = buf_adds(&req->form, "&");
	if (rc == LETHE_OK)
		rc = buf_adds(&req->form, name);
	if (rc == LETHE_OK)
		rc = buf_adds(&req->form, "=");
	if (rc == LETHE_OK)
		rc = platform_form_escape(&req->form, value);
	return rc;
}

/* An id that may go into a URL path: 1..64 of [A-Za-z0-9_-]. */
static bool
plain_id(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return n > 0 && n <= 64;
}

static bool
have(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Read the secret of @c, or fill @res. */
static bool
secret_get(const struct platform_conf *c, char *out, struct platform_result *res)
{
	struct lethe_err err = {0};
	char what[64];

	snprintf(what, sizeof(what), "platforms.%s", c->name);
	if (platform_secret_read(&c->secret, what, out, &err) == LETHE_OK)
		return true;
	return fail(res, PLATFORM_FAILED, "%.150s", err.msg);
}

static bool
form_done(lethe_rc rc, struct platform_result *res)
{
	if (rc == LETHE_OK)
		return true;
	return fail(res, PLATFORM_FAILED, "%s", "request over its size cap");
}

/* Google: POST {base}/revoke, form token. */
static bool
build_google(const struct platform_conf *c, const char *token, struct platform_request *req,
             struct platform_result *res)
{
	req->method = "POST";
	req->url = xasprintf("%s/revoke", c->base_url);
	return form_done(form_add(req, "token", token), res);
}

/*
 * Facebook: DELETE {base}/{ver}/{user-id}/permissions with the user token,
 * or the app token "{app-id}|{app-secret}" when there is none; the token
 * goes as the access_token form parameter.
 */
static bool
build_facebook_revoke(const struct platform_conf *c, const char *token, const char *account_id,
                      struct platform_request *req, struct platform_result *res)
{
	char secret[PLATFORM_SECRET_MAX + 1];
	char *app_token = NULL;
	bool ok;

	if (!plain_id(account_id))
		return fail(res, PLATFORM_FAILED, "%s",
		            "facebook revoke needs the user id (digits) as account id");
	req->method = "DELETE";
	req->url = xasprintf("%s/%s/%s/permissions", c->base_url, c->api_version, account_id);
	if (have(token))
		return form_done(form_add(req, "access_token", token), res);
	if (c->client_id == NULL)
		return fail(
		    res, PLATFORM_FAILED, "%s",
		    "no user token and no app token (platforms.facebook.app_id) configured");
	if (!secret_get(c, secret, res))
		return false;
	app_token = xasprintf("%s|%s", c->client_id, secret);
	ok = form_done(form_add(req, "access_token", app_token), res);
	sodium_memzero(app_token, strlen(app_token));
	sodium_memzero(secret, sizeof(secret));
	free(app_token);
	return ok;
}

/* Facebook Page / Instagram Login: DELETE {base}/{ver}/{id}/subscribed_apps. */
static bool
build_unsubscribe(const struct platform_conf *c, const char *token, const char *account_id,
                  struct platform_request *req, struct platform_result *res)
{
	if (!plain_id(account_id))
		return fail(res, PLATFORM_FAILED, "%s webhook unsubscribe needs the account id",
		            c->name);
	req->method = "DELETE";
	req->url = xasprintf("%s/%s/%s/subscribed_apps", c->base_url, c->api_version, account_id);
	return form_done(form_add(req, "access_token", token), res);
}

/* LinkedIn (community): POST {base}/oauth/v2/revoke, form token, client_id, client_secret. */
static bool
build_linkedin(const struct platform_conf *c, const char *token, struct platform_request *req,
               struct platform_result *res)
{
	char secret[PLATFORM_SECRET_MAX + 1];
	lethe_rc rc;

	if (c->client_id == NULL)
		return fail(res, PLATFORM_FAILED, "%s",
		            "linkedin revoke needs platforms.linkedin.client_id");
	if (!secret_get(c, secret, res))
		return false;
	req->method = "POST";
	req->url = xasprintf("%s/oauth/v2/revoke", c->base_url);
	rc = form_add(req, "token", token);
	if (rc == LETHE_OK)
		rc = form_add(req, "client_id", c->client_id);
	if (rc == LETHE_OK)
		rc = form_add(req, "client_secret", secret);
	sodium_memzero(secret, sizeof(secret));
	return form_done(rc, res);
}

/* X: POST {base}/2/oauth2/revoke, form token, client_id; Basic auth when confidential. */
static bool
build_x(const struct platform_conf *c, const char *token, struct platform_request *req,
        struct platform_result *res)
{
	char secret[PLATFORM_SECRET_MAX + 1];
	char *pair = NULL;
	size_t b64len;
	lethe_rc rc;

	if (c->client_id == NULL)
		return fail(res, PLATFORM_FAILED, "%s", "x revoke needs platforms.x.client_id");
	req->method = "POST";
	req->url = xasprintf("%s/2/oauth2/revoke", c->base_url);
	rc = form_add(req, "token", token);
	if (rc == LETHE_OK)
		rc = form_add(req, "client_id", c->client_id);
	if (rc != LETHE_OK || (c->secret.env == NULL && c->secret.file == NULL))
		return form_done(rc, res);
	if (!secret_get(c, secret, res))
		return false;
	pair = xasprintf("%s:%s", c->client_id, secret);
	b64len = sodium_base64_ENCODED_LEN(strlen(pair), sodium_base64_VARIANT_ORIGINAL);
	req->auth = xmalloc(b64len + sizeof("Authorization: Basic "));
	memcpy(req->auth, "Authorization: Basic ", sizeof("Authorization: Basic ") - 1);
	sodium_bin2base64(req->auth + sizeof("Authorization: Basic ") - 1, b64len,
	                  (const unsigned char *)pair, strlen(pair),
	                  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(pair, strlen(pair));
	sodium_memzero(secret, sizeof(secret));
	free(pair);
	return true;
}

/* TikTok: POST {base}/v2/oauth/revoke/, form client_key, client_secret, token. */
static bool
build_tiktok(const struct platform_conf *c, const char *token, struct platform_request *req,
             struct platform_result *res)
{
	char secret[PLATFORM_SECRET_MAX + 1];
	lethe_rc rc;

	if (c->client_id == NULL)
		return fail(res, PLATFORM_FAILED, "%s",
		            "tiktok revoke needs platforms.tiktok.client_key");
	if (!secret_get(c, secret, res))
		return false;
	req->method = "POST";
	req->url = xasprintf("%s/v2/oauth/revoke/", c->base_url);
	rc = form_add(req, "client_key", c->client_id);
	if (rc == LETHE_OK)
		rc = form_add(req, "client_secret", secret);
	if (rc == LETHE_OK)
		rc = form_add(req, "token", token);
	sodium_memzero(secret, sizeof(secret));
	return form_done(rc, res);
}

bool
platform_request_build(const struct platforms *p, int id, enum platform_op op, const char *token,
                       const char *account_id, struct platform_request *req,
                       struct platform_result *res)
{
	const struct platform_conf *c;

	memset(req, 0, sizeof(*req));
	buf_init(&req->form, PLATFORM_FORM_MAX);
	/* One allocation big enough for any usual form, so no realloc leaves a copy of a
	 * secret behind in freed memory; platform_request_free() wipes it all. */
	req->form.alloc = 4096;
	req->form.data = xcalloc(1, req->form.alloc);
	if (id < 0 || id >= PLATFORM_COUNT)
		return fail(res, PLATFORM_UNSUPPORTED, "%s", "unknown platform");
	c = &p->conf[id];
	if (!platform_supports(c->name, op))
		return fail(res, PLATFORM_UNSUPPORTED, "%s documents no such endpoint", c->name);
	/* Facebook's revoke may use the app token instead of a user token. */
	if (!have(token) && !(id == PLATFORM_FACEBOOK && op == PLATFORM_REVOKE))
		return fail(res, PLATFORM_FAILED, "%s call needs a token; none given", c->name);
	switch (id) {
	case PLATFORM_GOOGLE:
		return build_google(c, token, req, res);
	case PLATFORM_FACEBOOK:
		if (op == PLATFORM_REVOKE)
			return build_facebook_revoke(c, token, account_id, req, res);
		return build_unsubscribe(c, token, account_id, req, res);
	case PLATFORM_INSTAGRAM:
		return build_unsubscribe(c, token, account_id, req, res);
	case PLATFORM_LINKEDIN:
		return build_linkedin(c, token, req, res);
	case PLATFORM_X:
		return build_x(c, token, req, res);
	default:
		return build_tiktok(c, token, req, res);
	}
}

void
platform_request_free(struct platform_request *req)
{
	if (req->form.data != NULL)
		sodium_memzero(req->form.data, req->form.alloc);
	buf_free(&req->form);
	if (req->auth != NULL)
		sodium_memzero(req->auth, strlen(req->auth));
	free(req->auth);
	free(req->url);
	memset(req, 0, sizeof(*req));
}
