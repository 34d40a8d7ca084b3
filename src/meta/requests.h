/* SPDX-License-Identifier: MIT */
/*
 * requests.h - what a Meta data-deletion request is made of: its
 * confirmation code, its subject (a keyed hash naming the person without
 * revealing them) and its sealed identity (the app-scoped id, encrypted so
 * the background job can run after a restart, and wiped when it is done).
 * All functions are thread-safe.
 */
#ifndef LETHE_META_REQUESTS_H
#define LETHE_META_REQUESTS_H

#include "util/fmacros.h"
#include "util/hash.h"
#include "util/rc.h"

#define META_CODE_LEN 34           /* characters of a confirmation code */
#define META_CODE_LEN_V1 32        /* ... and of one made before lethe 0.4 (still valid) */
#define META_CODE_TIME 8           /* leading characters that encode the receipt time */
#define META_CODE_EPOCH 1735689600 /* 2025-01-01T00:00:00Z: time digits count 2 s from here */

/*
 * A fresh confirmation code for a request received at @now (Unix seconds):
 * META_CODE_LEN chars of [a-z2-7] and a NUL.  The first 6 chars count
 * 2-second steps since META_CODE_EPOCH (until 2093), the next 2 the
 * position within the step in 1/1024ths (from the real clock), so codes
 * sort by receipt time and the state store's code index grows at its end
 * instead of at random places within a step; the other 26 are 130 random
 * bits.  (Codes of META_CODE_LEN_V1 had only the 6 step chars.)
 */
void meta_code_new(char out[META_CODE_LEN + 1], int64_t now);
/* The receipt time a code gives (to 2 s; Unix seconds), or 0 if it is not a code. */
int64_t meta_code_time(const char *code);
/* True if @s has the shape of a confirmation code. */
bool meta_code_ok(const char *s);
/* The subject of (@app, @user_id): "anon:" + 32 hex. */
void meta_subject(const uint8_t key[HASH_KEY_LEN], const char *app, const char *user_id,
                  char out[HASH_TEXT_LEN + 1]);
/*
 * Seal @user_id for @app with XChaCha20-Poly1305 under a subkey of @key.
 * Returns a malloc'd box (nonce || ciphertext) and its length in *@len.
 */
uint8_t *meta_box_seal(const uint8_t key[HASH_KEY_LEN], const char *app, const char *user_id,
                       size_t *len);
/* Open a box sealed for @app into @out (@cap bytes with NUL); LETHE_E_FORBIDDEN if it fails. */
lethe_rc meta_box_open(const uint8_t key[HASH_KEY_LEN], const char *app, const uint8_t *box,
                       size_t len, char *out, size_t cap);

#endif /* LETHE_META_REQUESTS_H */
