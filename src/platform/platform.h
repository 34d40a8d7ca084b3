/* SPDX-License-Identifier: MIT */
/*
 * platform.h - upstream calls to the social platforms on a channel
 * disconnect: revoke the token / grant, remove the app's webhook
 * subscription of one account or page.
 *
 * One blocking HTTPS call per platform_call(), built as the platform
 * documents it (docs/internals/platforms.md, "Endpoints"), its answer classified
 * into a platform_outcome the outbox acts on.  The interface is shared by the
 * outbox (core) and the platform clients (src/platform/); the `platforms:`
 * section of lethe.yaml is parsed by platform_config.c (platform_config.h).
 * docs/internals/platforms.md describes endpoints and classification.
 */
#ifndef LETHE_PLATFORM_H
#define LETHE_PLATFORM_H

#include "util/fmacros.h"

enum platform_op {
	PLATFORM_REVOKE,      /* revoke the token / grant upstream */
	PLATFORM_UNSUBSCRIBE, /* remove the app's webhook subscription of one account/page */
};
enum platform_outcome {
	PLATFORM_OK,          /* done */
	PLATFORM_ALREADY,     /* "already revoked / invalid token": counts as success */
	PLATFORM_RETRY,       /* network error, timeout, 408, 429, 5xx: try again later */
	PLATFORM_FAILED,      /* permanent refusal (other 4xx): dead-letter */
	PLATFORM_UNSUPPORTED, /* the platform documents no such endpoint (Instagram Login revoke) */
};
struct platform_result {
	enum platform_outcome outcome; /* what the call came to */
	long http_status;              /* HTTP status, 0 when there was no answer */
	char detail[160];              /* short explanation, never a token or secret */
};
struct platforms; /* the parsed `platforms:` section of lethe.yaml (opaque) */

/* Canonical name of a platform as an app stores it ("youtube"/"google" -> "google",
 * "twitter"/"x" -> "x", "facebook", "instagram", "linkedin", "tiktok"), NULL if unknown. */
const char *platform_canonical(const char *name);
/* True if @op exists for @platform (false: PLATFORM_UNSUPPORTED, e.g. Instagram revoke). */
bool platform_supports(const char *platform, enum platform_op op);
/*
 * Fill @out for a call that got no answer (outcome PLATFORM_RETRY): "@name:
 * " and libcurl's text for this call (@errbuf) unless it could quote a URL's
 * path or query (it holds a '/' or '?': then @generic, the code's fixed
 * text), and the system's reason for @os_errno (> 0) if the text lacks it.
 */
void platform_transport_failed(const char *name, const char *errbuf, const char *generic,
                               long os_errno, struct platform_result *out);
/* One blocking call, bounded by the configured timeout; thread-safe (own curl handle per call).
 * @account_id: the platform's user/page id (Facebook permissions, webhook unsubscribe), may be
 * NULL for token-only calls. Never logs the token. */
void platform_call(const struct platforms *p, const char *platform, enum platform_op op,
                   const char *token, const char *account_id, struct platform_result *out);
/* platform_call() bounded by @max_ms too (the lower of it and the configured timeouts). */
void platform_call_within(const struct platforms *p, const char *platform, enum platform_op op,
                          const char *token, const char *account_id, long max_ms,
                          struct platform_result *out);
const char *platform_outcome_str(enum platform_outcome o);
/*
 * How platform @name (canonical, see platform_canonical()) is named to
 * people: "Google", "Facebook", "Instagram Login", "LinkedIn", "X",
 * "TikTok"; @name itself if unknown.  With @meta_app, @name is a Meta app
 * family as a status page names it: "Facebook", "Instagram" (the family,
 * not its login product), any other name as it is.  A static string or
 * @name.
 */
const char *platform_label(const char *name, bool meta_app);
/* True if an app id and app secret are configured for @platform (the app token of a Facebook
 * revoke without a user token); reads no secret. */
bool platform_has_app_token(const struct platforms *p, const char *platform);

#endif /* LETHE_PLATFORM_H */
