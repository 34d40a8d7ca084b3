/* SPDX-License-Identifier: MIT */
/*
 * hash.h - keyed hashes used to pseudonymize values and name subjects.
 *
 * A keyed hash is HMAC-SHA256(key, value) truncated to 128 bits and written
 * as "anon:" followed by 32 lowercase hex digits.  The prefix makes the
 * result recognisable, so anonymizing twice never hashes a hash (the
 * executor's idempotency depends on this).  Thread-safe once hash_init()
 * has returned.
 */
#ifndef LETHE_HASH_H
#define LETHE_HASH_H

#include "util/fmacros.h"

#include <sodium.h>

#include "util/rc.h"

#define HASH_KEY_LEN 32
#define HASH_PREFIX "anon:"
#define HASH_TEXT_LEN (5 + 32) /* length of a keyed-hash text, without NUL */

/* Initialise libsodium once; LETHE_E_INTERNAL if it cannot. */
lethe_rc hash_init(void);
/*
 * @st keyed with @key (@len bytes) for HMAC-SHA256, nothing hashed yet.  Each
 * thread keeps the keyed states of its last few keys (up to 64 bytes long):
 * keying costs two SHA-256 blocks, which a server would otherwise pay twice
 * per Meta callback.
 */
void hash_hmac_init(crypto_auth_hmacsha256_state *st, const uint8_t *key, size_t len);
/* Write the keyed hash text of @v (@n bytes) into @out (>= HASH_TEXT_LEN + 1). */
void hash_keyed(const uint8_t key[HASH_KEY_LEN], const void *v, size_t n, char *out);
/* True if @s already has the form hash_keyed() produces. */
bool hash_is_keyed(const char *s);
/* Parse 64 hex digits (surrounding whitespace allowed) into @key. */
lethe_rc hash_key_parse(const char *hex, uint8_t key[HASH_KEY_LEN]);
/* Fill @p with @n random bytes. */
void hash_key_random_bytes(uint8_t *p, size_t n);
/* Fill @key with random bytes. */
void hash_key_random(uint8_t key[HASH_KEY_LEN]);
/* Lowercase hex of @n bytes into @out (2n + 1 bytes). */
void hash_hex(const uint8_t *p, size_t n, char *out);

#endif /* LETHE_HASH_H */
