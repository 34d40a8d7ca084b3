/* SPDX-License-Identifier: MIT */
/*
 * keys.h - lethe's Ed25519 signing keys: the current one, which signs
 * receipts, audit checkpoints and notices, and the older ones still
 * published so that what they signed stays verifiable (docs/proof.md).
 *
 * A secret key file holds the 32-byte seed as 64 hex digits; a public key
 * file holds the 32-byte public key in base64 (a secret key file may be
 * named as a previous key too: only its public half is used).  A key's id
 * is the first 8 bytes of BLAKE2b-256 of its public key, in hex.  A loaded
 * keyring is read-only: any thread may use it.
 */
#ifndef LETHE_AUDIT_KEYS_H
#define LETHE_AUDIT_KEYS_H

#include "util/fmacros.h"

#include <jansson.h>
#include <sodium.h>
#include <stdint.h>

#include "util/rc.h"

#define KEYS_ID_LEN 16  /* hex digits of a key id */
#define KEYS_MAX 16     /* keys a keyring holds at most */
#define KEYS_SIG_B64 89 /* base64 of a signature, with the NUL */

struct keys_key {
	uint8_t pk[crypto_sign_PUBLICKEYBYTES]; /* public key */
	uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* secret key (has_secret only) */
	bool has_secret;                        /* this key can sign */
	char id[KEYS_ID_LEN + 1];               /* key id */
};

struct keys_ring {
	struct keys_key keys[KEYS_MAX]; /* [0]: the current key (when signing) */
	size_t n;                       /* number of keys */
};

/*
 * Load the signing key from @secret_path (created with a fresh random seed,
 * mode 0600, if missing and @create; else LETHE_E_NOTFOUND) into keys[0],
 * then the @nprev keys of @prev_paths (public halves only).  @secret_path
 * NULL: no signing key (a verifier's ring).  LETHE_E_CONFIG names a file
 * that is not a key.  The ring is wiped with keys_ring_wipe().
 */
lethe_rc keys_ring_load(struct keys_ring *kr, const char *secret_path, bool create,
                        const char *const *prev_paths, size_t nprev, struct lethe_err *err);
/*
 * Load a verifier's ring from a published keys document (@text, as
 * keys_ring_json() writes it).  LETHE_E_USAGE if it is not one.
 */
lethe_rc keys_ring_parse(struct keys_ring *kr, const char *text, struct lethe_err *err);
/* Wipe the secret keys of @kr. */
void keys_ring_wipe(struct keys_ring *kr);
/* True if @kr can sign (keys[0] has its secret). */
bool keys_ring_can_sign(const struct keys_ring *kr);
/* The published keys document: {"keys":[{"id","alg","public","current"}...]}. */
json_t *keys_ring_json(const struct keys_ring *kr);
/*
 * True if @id has the form of a key id (KEYS_ID_LEN lowercase hex digits):
 * only such an id from a file may be printed.
 */
bool keys_id_ok(const char *id);
/* The key of id @id, or NULL. */
const struct keys_key *keys_ring_find(const struct keys_ring *kr, const char *id);
/*
 * Sign @msg (@len bytes) with the current key: the base64 signature into
 * @sig_b64, the key's id into @key_id.  LETHE_E_CONFIG if @kr cannot sign.
 */
lethe_rc keys_sign(const struct keys_ring *kr, const void *msg, size_t len,
                   char sig_b64[KEYS_SIG_B64], char key_id[KEYS_ID_LEN + 1], struct lethe_err *err);
/*
 * Verify base64 signature @sig_b64 of @msg by key @key_id: LETHE_OK,
 * LETHE_E_NOTFOUND (no such key in @kr) or LETHE_E_FORBIDDEN (does not verify).
 */
lethe_rc keys_verify(const struct keys_ring *kr, const char *key_id, const void *msg, size_t len,
                     const char *sig_b64, struct lethe_err *err);
/* Generate a new secret key file at @path (refuses to overwrite: LETHE_E_CONFIG). */
lethe_rc keys_generate(const char *path, struct lethe_err *err);

#endif /* LETHE_AUDIT_KEYS_H */
