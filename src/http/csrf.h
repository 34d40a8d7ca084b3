/* SPDX-License-Identifier: MIT */
/*
 * csrf.h - stateless CSRF tokens of the self-service page's forms: no
 * cookie, no server-side table.
 *
 * A token is "ISSUED.MAC": ISSUED the time it was made (epoch s, decimal)
 * and MAC the first 160 bits of HMAC-SHA256 under a key derived from the
 * anonymize key with the label "csrf", over ISSUED, the form's purpose
 * ("ask", "link") and what the form is bound to (a link's keyed hash, or
 * ""), in base32 [a-z2-7].  It is valid for CSRF_TTL_S after ISSUED (and
 * up to a minute before, for clocks a little apart).  A token made for one
 * form or link is refused by another.  Pure functions, any thread.
 */
#ifndef LETHE_HTTP_CSRF_H
#define LETHE_HTTP_CSRF_H

#include "util/fmacros.h"

#include <stdint.h>

#include "util/hash.h"

#define CSRF_TTL_S 7200   /* a form's token is valid this long (2 h) */
#define CSRF_TOKEN_MAX 64 /* bytes of a token with its NUL */

/*
 * The token of the form @purpose bound to @bound (may be NULL: "") at @now
 * under the anonymize key @key into @out.
 */
void csrf_make(const uint8_t key[HASH_KEY_LEN], const char *purpose, const char *bound, int64_t now,
               char out[CSRF_TOKEN_MAX]);
/*
 * True if @token (may be NULL) is a token csrf_make() made for @purpose and
 * @bound under @key, no older than CSRF_TTL_S at @now.  Compares in
 * constant time.
 */
bool csrf_check(const uint8_t key[HASH_KEY_LEN], const char *purpose, const char *bound,
                const char *token, int64_t now);
/* The base32 text [a-z2-7] of @n bytes @p into @out (8n/5 rounded up, + 1 bytes). */
void csrf_base32(const uint8_t *p, size_t n, char *out);

#endif /* LETHE_HTTP_CSRF_H */
