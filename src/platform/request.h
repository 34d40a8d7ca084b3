/* SPDX-License-Identifier: MIT */
/*
 * request.h - building a platform request and classifying its answer,
 * without any network, so both can be unit-tested (tests/unit/test_platform.c).
 * platform_call() (platform.c) glues them to libcurl.
 *
 * Internal to src/platform/; the outbox uses platform.h only.
 */
#ifndef LETHE_PLATFORM_REQUEST_H
#define LETHE_PLATFORM_REQUEST_H

#include "platform/platform.h"
#include "platform/platform_config.h"
#include "util/buf.h"

/* Cap on a request's form body (a token is far shorter). */
#define PLATFORM_FORM_MAX (32u << 10)

/* One HTTP request, ready to send.  Holds secrets: free with platform_request_free(). */
struct platform_request {
	const char *method; /* "POST" or "DELETE" (static string) */
	char *url;          /* full URL; never holds a token or secret */
	struct buf form;    /* application/x-www-form-urlencoded body (may hold secrets) */
	char *auth;         /* "Authorization: Basic ..." header line, or NULL (secret) */
};

/*
 * Build the request of @op on platform @id (enum platform_id) into @req
 * (caller-owned storage, always initialised, free with
 * platform_request_free() even on failure).  Returns true when @req is ready;
 * false with @res filled (PLATFORM_UNSUPPORTED for an undocumented endpoint,
 * PLATFORM_FAILED for a missing token, id, client id or unreadable secret)
 * when there is nothing to send.  Thread-safe: reads @p only.
 */
bool platform_request_build(const struct platforms *p, int id, enum platform_op op,
                            const char *token, const char *account_id, struct platform_request *req,
                            struct platform_result *res);
/* Wipe and free what @req holds. */
void platform_request_free(struct platform_request *req);
/*
 * Classify an HTTP answer of platform @id: status @status and body @body
 * (@len bytes, need not be NUL-terminated, may be cut at the cap) into @res.
 */
void platform_classify(int id, long status, const char *body, size_t len,
                       struct platform_result *res);
/* Append @s percent-encoded as a form value (RFC 3986 unreserved kept) to @b. */
lethe_rc platform_form_escape(struct buf *b, const char *s);

#endif /* LETHE_PLATFORM_REQUEST_H */
