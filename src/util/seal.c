/* SPDX-License-Identifier: MIT */
/*
 * seal.c - sealing an outbox job's secrets (see seal.h).
 *
 * The plaintext is each field (channel, account, token) as a 4-byte
 * big-endian length and its bytes, so any bytes an app database holds seal
 * and open unchanged.  A box is the 24-byte nonce followed by the
 * ciphertext and its tag.  Key material and plaintext are wiped after use.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "util/mem.h"
#include "util/seal.h"

#define AD_PREFIX "lethe-outbox-v1:"

/* The sealing key of @kind's payloads: BLAKE2b(outbox key, "outbox:" kind). */
static void
kind_key(const uint8_t key[HASH_KEY_LEN], const char *kind,
         uint8_t out[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
	char ctx[64];

	snprintf(ctx, sizeof(ctx), AD_PREFIX "%s", kind);
	crypto_generichash(out, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, (const uint8_t *)ctx,
	                   strlen(ctx), key, HASH_KEY_LEN);
}

/* Put @v at @out as a 4-byte big-endian length and its bytes; returns the bytes written. */
static size_t
field_put(uint8_t *out, const char *v)
{
	size_t n = strlen(v);

	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	memcpy(out + 4, v, n);
	return 4 + n;
}

/* Read one field at *@pos of @m (@len bytes) into @out (@cap bytes); false if it is bad. */
static bool
field_get(const uint8_t *m, size_t len, size_t *pos, char *out, size_t cap)
{
	size_t n;

	if (len - *pos < 4)
		return false;
	n = ((size_t)m[*pos] << 24) | ((size_t)m[*pos + 1] << 16) | ((size_t)m[*pos + 2] << 8) |
	    (size_t)m[*pos + 3];
	*pos += 4;
	if (n >= cap || len - *pos < n || memchr(m + *pos, '\0', n) != NULL)
		return false;
	memcpy(out, m + *pos, n);
	out[n] = '\0';
	*pos += n;
	return true;
}

uint8_t *
seal_bytes(const uint8_t key[HASH_KEY_LEN], const char *kind, const void *plain, size_t len,
           size_t *boxlen)
{
	const size_t np = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t *box = xmalloc(np + len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
	unsigned long long clen = 0;

	kind_key(key, kind, sub);
	randombytes_buf(box, np);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    box + np, &clen, plain, len, (const uint8_t *)kind, strlen(kind), NULL, box, sub);
	sodium_memzero(sub, sizeof(sub));
	*boxlen = np + (size_t)clen;
	return box;
}

uint8_t *
seal_open_bytes(const uint8_t key[HASH_KEY_LEN], const char *kind, const uint8_t *box,
                size_t boxlen, size_t max, size_t *len)
{
	const size_t np = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	const size_t ab = crypto_aead_xchacha20poly1305_ietf_ABYTES;
	uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned long long mlen = 0;
	uint8_t *plain = NULL;

	*len = 0;
	if (box == NULL || boxlen < np + ab || boxlen - np - ab > max)
		return NULL;
	plain = xmalloc(boxlen - np - ab + 1);
	kind_key(key, kind, sub);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL, box + np, boxlen - np,
	                                               (const uint8_t *)kind, strlen(kind), box,
	                                               sub) != 0) {
		sodium_memzero(plain, boxlen - np - ab + 1);
		free(plain);
		plain = NULL;
	} else {
		plain[mlen] = '\0';
		*len = (size_t)mlen;
	}
	sodium_memzero(sub, sizeof(sub));
	return plain;
}

uint8_t *
seal_box(const uint8_t key[HASH_KEY_LEN], const char *kind, const struct seal_payload *p,
         size_t *len)
{
	uint8_t *plain = xmalloc(sizeof(*p) + 12);
	size_t n = 0;
	uint8_t *box;

	/* Each field is NUL-terminated within its array, so this fits. */
	n += field_put(plain + n, p->channel);
	n += field_put(plain + n, p->account);
	n += field_put(plain + n, p->token);
	box = seal_bytes(key, kind, plain, n, len);
	sodium_memzero(plain, sizeof(*p) + 12);
	free(plain);
	return box;
}

lethe_rc
seal_open(const uint8_t key[HASH_KEY_LEN], const char *kind, const uint8_t *box, size_t len,
          struct seal_payload *out)
{
	size_t mlen = 0, pos = 0;
	uint8_t *plain = seal_open_bytes(key, kind, box, len, sizeof(*out) + 12, &mlen);
	lethe_rc rc = LETHE_E_FORBIDDEN;

	memset(out, 0, sizeof(*out));
	if (plain == NULL)
		return LETHE_E_FORBIDDEN;
	if (field_get(plain, mlen, &pos, out->channel, sizeof(out->channel)) &&
	    field_get(plain, mlen, &pos, out->account, sizeof(out->account)) &&
	    field_get(plain, mlen, &pos, out->token, sizeof(out->token)) && pos == mlen)
		rc = LETHE_OK;
	if (rc != LETHE_OK)
		sodium_memzero(out, sizeof(*out));
	sodium_memzero(plain, mlen + 1);
	free(plain);
	return rc;
}
