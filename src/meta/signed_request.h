/* SPDX-License-Identifier: MIT */
/*
 * signed_request.h - Meta's signed_request: verify one and read its payload.
 *
 * Every Meta callback (data deletion, deauthorize) carries one field,
 * signed_request = base64url(signature) "." base64url(payload_json), where
 * signature = HMAC-SHA256(app secret, the payload segment exactly as received).
 * sr_verify() checks the shape and the signature (in constant time) before it
 * parses a single byte of JSON, then pulls out the few fields lethe uses.
 * sr_sign() builds one, for tests and `lethe sign-request`.
 *
 * Both functions are pure (no globals besides libsodium's one-time init) and
 * safe to call from any thread.  Error detail never holds the user id, the
 * payload or the secret.
 */
#ifndef LETHE_META_SIGNED_REQUEST_H
#define LETHE_META_SIGNED_REQUEST_H

#include "util/fmacros.h"
#include "util/rc.h"

#define SR_MAX_LEN 8192            /* longest signed_request accepted, bytes */
#define SR_ID_MAX 128              /* longest user_id / profile_id accepted */
#define SR_JSON_MAX_DEPTH 32       /* deepest nesting of arrays/objects in a payload */
#define SR_SIG_LEN 32              /* bytes of an HMAC-SHA256 signature */
#define SR_ALGORITHM "HMAC-SHA256" /* the only "algorithm" accepted */

/* What lethe reads from a verified payload; unknown fields are ignored. */
struct sr_payload {
	char user_id[SR_ID_MAX + 1];    /* "user_id", a JSON string (required) */
	char profile_id[SR_ID_MAX + 1]; /* "profile_id" if present (Page removal), else "" */
	int64_t issued_at;              /* "issued_at" (Unix s) */
	bool has_issued_at;             /* it was present */
	int64_t expires;                /* "expires" */
	bool has_expires;               /* it was present */
};

/*
 * Verify @sr (@len bytes, not necessarily NUL-terminated) with HMAC-SHA256
 * under @secret (@secret_len > 0 bytes, any length) and parse its payload.
 *
 * Accepted: exactly one '.', both segments non-empty base64url ([A-Za-z0-9_-]),
 * each optionally followed by up to two '=' of padding.  The HMAC covers the
 * payload segment as received, padding included.  The payload must be a JSON
 * object (no NUL, nesting <= SR_JSON_MAX_DEPTH, no duplicate keys) with
 * "algorithm" exactly SR_ALGORITHM, "user_id" a non-empty string of at most
 * SR_ID_MAX characters from [A-Za-z0-9_-], "profile_id" (if present) the same,
 * and "issued_at"/"expires" (if present) non-negative integers.
 *
 * Results: LETHE_OK and *@out filled; LETHE_E_TOOBIG if @len > SR_MAX_LEN;
 * LETHE_E_FORBIDDEN if the signature does not verify (including one that
 * does not decode to SR_SIG_LEN bytes); LETHE_E_INVALID for anything
 * malformed; LETHE_E_CONFIG if @secret is empty; LETHE_E_INTERNAL if
 * libsodium cannot initialise.  On failure *@out is zeroed and @err (may be
 * NULL) says why.  Allocates nothing the caller frees.
 */
lethe_rc sr_verify(const char *sr, size_t len, const uint8_t *secret, size_t secret_len,
                   struct sr_payload *out, struct lethe_err *err);

/*
 * Sign @payload_json (@payload_len bytes, sent as is: no validation) with
 * HMAC-SHA256 under @secret (@secret_len > 0 bytes).  Returns a malloc'd,
 * NUL-terminated "base64url(sig).base64url(payload)" without padding that
 * the caller frees; NULL only if @secret is empty or libsodium cannot
 * initialise.  Aborts on out-of-memory (see util/mem.h).
 */
char *sr_sign(const char *payload_json, size_t payload_len, const uint8_t *secret,
              size_t secret_len);

#endif /* LETHE_META_SIGNED_REQUEST_H */
