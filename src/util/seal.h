/* SPDX-License-Identifier: MIT */
/*
 * seal.h - sealing the secrets of an outbox job (channel id, account id,
 * token; or a notice's body) with XChaCha20-Poly1305 under the outbox key.
 *
 * The engine seals when it queues a disconnect's jobs and opens when it
 * repairs a staged one; the outbox opens when it runs a job.  Both sit above
 * this file, so neither includes the other for it.  The key of each kind of
 * job is BLAKE2b(outbox key, "lethe-outbox-v1:" kind) and the kind is the
 * associated data: a box sealed for one kind never opens as another.
 * Stateless and thread-safe (libsodium must be initialised).
 */
#ifndef LETHE_SEAL_H
#define LETHE_SEAL_H

#include "util/fmacros.h"
#include "util/hash.h"
#include "util/rc.h"

#define SEAL_TOKEN_MAX 8192 /* longest token a sealed payload carries */

/* What a sealed payload holds; every member may be empty. */
struct seal_payload {
	char channel[64];           /* the channel's key in the app database */
	char account[256];          /* the platform account / page id */
	char token[SEAL_TOKEN_MAX]; /* the token the call needs */
};

/*
 * Seal the @len bytes at @plain under @key for a job of @kind; returns the
 * box (the 24-byte nonce, the ciphertext and its tag; caller frees) and its
 * length in *@boxlen.  The sealed payloads of notices (jobs/notify.c) are
 * such boxes; seal_box() seals a struct seal_payload with it.
 */
uint8_t *seal_bytes(const uint8_t key[HASH_KEY_LEN], const char *kind, const void *plain,
                    size_t len, size_t *boxlen);
/*
 * Open a box of seal_bytes() whose plaintext is at most @max bytes: returns
 * the plaintext with a NUL after it (the caller wipes and frees it) and its
 * length in *@len; NULL if the box does not verify under @key and @kind or
 * is malformed or too long.
 */
uint8_t *seal_open_bytes(const uint8_t key[HASH_KEY_LEN], const char *kind, const uint8_t *box,
                         size_t boxlen, size_t max, size_t *len);
/*
 * Seal @p under @key for a job of @kind; returns the box (caller frees) and
 * its length in *@len.  Each field of @p must be NUL-terminated in its array.
 */
uint8_t *seal_box(const uint8_t key[HASH_KEY_LEN], const char *kind, const struct seal_payload *p,
                  size_t *len);
/*
 * Open a box sealed by seal_box() into @out; LETHE_E_FORBIDDEN (and @out
 * zeroed) if it does not verify under @key and @kind or is malformed.
 */
lethe_rc seal_open(const uint8_t key[HASH_KEY_LEN], const char *kind, const uint8_t *box,
                   size_t len, struct seal_payload *out);

#endif /* LETHE_SEAL_H */
