/* SPDX-License-Identifier: MIT */
/*
 * classify.c - what a platform's answer means for the outbox (the table in
 * docs/internals/platforms.md):
 *
 *   2xx                       ok (Facebook/Instagram: `true` or {"success":true};
 *                             TikTok: `{}`, or an `error` whose code is "ok")
 *   408, 429, 5xx             retry
 *   other 4xx                 failed, unless the body says the token is already
 *                             invalid / revoked / expired: already
 *   3xx                       failed (redirects are never followed)
 *
 * Only short error codes of the body reach the detail, filtered to a safe
 * alphabet: a platform that echoed a token would still not leak it whole,
 * and the codes the platforms use carry none.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <jansson.h>

#include "platform/request.h"

/* Copy at most 40 chars of @s from a safe alphabet into @out. */
static void
safe_code(const char *s, char *out, size_t n)
{
	size_t i, o = 0;

	for (i = 0; s != NULL && s[i] != '\0' && o + 1 < n && o < 40; i++) {
		char c = s[i];

		if (isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.')
			out[o++] = c;
	}
	out[o] = '\0';
}

/*
 * Lower-cased concatenation of the error texts of a body into @out (@n
 * bytes, n >= 1), for matching; nested objects ("error":{...}) included up
 * to @depth levels.  Always NUL-terminated; cut when full.
 */
static void
error_text(json_t *j, char *out, size_t n, int depth)
{
	static const char *const keys[] = {
	    "error", "error_description", "message", "code", "title", "detail", NULL};
	json_t *e;
	size_t i, o = 0;

	out[0] = '\0';
	if (!json_is_object(j) || depth <= 0)
		return;
	for (i = 0; keys[i] != NULL && o + 2 < n; i++) {
		const char *s;

		e = json_object_get(j, keys[i]);
		if (json_is_object(e)) {
			error_text(e, out + o, n - o, depth - 1);
			o += strlen(out + o);
			continue;
		}
		s = json_string_value(e);
		if (s == NULL)
			continue;
		for (; *s != '\0' && o + 2 < n; s++)
			out[o++] = (char)tolower((unsigned char)*s);
		out[o++] = ' '; /* o + 1 < n still holds: room for the NUL */
		out[o] = '\0';
	}
}

/* True if @t (lower case) says the token is already dead. */
static bool
token_dead(const char *t)
{
	if (strstr(t, "client") != NULL)
		return false; /* invalid_client: our credentials, not the token */
	return strstr(t, "invalid_token") != NULL || strstr(t, "access_token_invalid") != NULL ||
	       strstr(t, "revoked") != NULL || strstr(t, "expired") != NULL ||
	       (strstr(t, "token") != NULL && strstr(t, "invalid") != NULL);
}

/* The most telling short code of an error body. */
static const char *
error_code(json_t *j)
{
	json_t *e = json_object_get(j, "error");

	if (json_is_string(e))
		return json_string_value(e);
	if (json_is_object(e) && json_is_string(json_object_get(e, "code")))
		return json_string_value(json_object_get(e, "code"));
	if (json_is_object(e) && json_is_string(json_object_get(e, "type")))
		return json_string_value(json_object_get(e, "type"));
	return NULL;
}

static void
set(struct platform_result *res, enum platform_outcome o, const char *name, long status,
    const char *why, const char *code)
{
	char c[48];

	safe_code(code, c, sizeof(c));
	res->outcome = o;
	res->http_status = status;
	snprintf(res->detail, sizeof(res->detail), "%s answered HTTP %ld%s%s%s%s", name, status,
	         why[0] ? ": " : "", why, c[0] ? " " : "", c);
}

/* Graph API (Facebook, Instagram) errors: {"error":{"code":190,...}}. */
static bool
graph_error(json_t *j, const char *name, long status, struct platform_result *res)
{
	json_t *e = json_object_get(j, "error");
	json_int_t code;
	char num[24];

	if (!json_is_object(e) || !json_is_integer(json_object_get(e, "code")))
		return false;
	code = json_integer_value(json_object_get(e, "code"));
	snprintf(num, sizeof(num), "code=%lld", (long long)code);
	if (code == 190) /* invalid OAuth access token: expired, revoked, app removed */
		set(res, PLATFORM_ALREADY, name, status, "token already invalid", num);
	else if (code == 1 || code == 2 || code == 4 || code == 17 || code == 32 || code == 341 ||
	         code == 613 || json_is_true(json_object_get(e, "is_transient")))
		set(res, PLATFORM_RETRY, name, status, "temporary error or rate limit", num);
	else
		set(res, PLATFORM_FAILED, name, status, "refused", num);
	return true;
}

static void
classify_2xx(int id, const char *name, long status, json_t *j, struct platform_result *res)
{
	const char *code;
	char text[256];

	if (id == PLATFORM_FACEBOOK || id == PLATFORM_INSTAGRAM) {
		if (json_is_false(j) || json_is_false(json_object_get(j, "success")))
			set(res, PLATFORM_FAILED, name, status, "success is false", "");
		else if (json_is_object(j) && json_object_get(j, "error") != NULL &&
		         graph_error(j, name, status, res))
			return;
		else
			set(res, PLATFORM_OK, name, status, "", "");
		return;
	}
	if (id == PLATFORM_TIKTOK && json_is_object(j) && json_object_get(j, "error") != NULL) {
		code = error_code(j);
		if (code == NULL || code[0] == '\0' || strcmp(code, "ok") == 0) {
			set(res, PLATFORM_OK, name, status, "", "");
			return;
		}
		error_text(j, text, sizeof(text), 4);
		if (token_dead(text))
			set(res, PLATFORM_ALREADY, name, status, "token already invalid", code);
		else if (strstr(text, "rate_limit") != NULL || strstr(text, "internal") != NULL)
			set(res, PLATFORM_RETRY, name, status, "temporary error", code);
		else
			set(res, PLATFORM_FAILED, name, status, "refused", code);
		return;
	}
	set(res, PLATFORM_OK, name, status, "", "");
}

void
platform_classify(int id, long status, const char *body, size_t len, struct platform_result *res)
{
	static const char *const names[PLATFORM_COUNT] = {"google",   "facebook", "instagram",
	                                                  "linkedin", "x",        "tiktok"};
	const char *name = (id >= 0 && id < PLATFORM_COUNT) ? names[id] : "platform";
	json_t *j = NULL;
	char text[256];

	if (body != NULL && len > 0)
		j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	if (status >= 200 && status <= 299)
		classify_2xx(id, name, status, j, res);
	else if (status == 408 || status == 429 || (status >= 500 && status <= 599))
		set(res, PLATFORM_RETRY, name, status, "temporary", error_code(j));
	else if (status >= 300 && status <= 399)
		set(res, PLATFORM_FAILED, name, status, "redirect not followed", "");
	else if ((id == PLATFORM_FACEBOOK || id == PLATFORM_INSTAGRAM) &&
	         graph_error(j, name, status, res))
		;
	else {
		error_text(j, text, sizeof(text), 4);
		if (id == PLATFORM_GOOGLE && status == 400 && strstr(text, "invalid_token") != NULL)
			set(res, PLATFORM_ALREADY, name, status, "token already revoked",
			    "invalid_token");
		else if (id != PLATFORM_GOOGLE && token_dead(text))
			set(res, PLATFORM_ALREADY, name, status, "token already invalid",
			    error_code(j));
		else
			set(res, PLATFORM_FAILED, name, status, "refused", error_code(j));
	}
	json_decref(j);
}
