/* SPDX-License-Identifier: MIT */
/*
 * requests.c - confirmation codes, subjects and sealed identities of Meta
 * requests (see requests.h).  Keys: the subject uses the anonymize key
 * directly (as job subjects do); boxes use a subkey derived with
 * crypto_kdf, so one key file serves both without reusing a key for two
 * algorithms.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "meta/requests.h"
#include "util/buf.h"
#include "util/mem.h"

#define BOX_KDF_ID 1
#define BOX_KDF_CTX "lethebox"

void
meta_code_new(char out[META_CODE_LEN + 1], int64_t now)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	/* The same 32 characters in ASCII order, so time digits sort as numbers. */
	static const char ordered[] = "234567abcdefghijklmnopqrstuvwxyz";
	uint64_t t = now > META_CODE_EPOCH ? (uint64_t)(now - META_CODE_EPOCH) / 2 : 0;
	uint8_t raw[17];
	size_t i;

	/*
	 * META_CODE_TIME digits of the receipt time (2 s steps), most
	 * significant first, so codes sort by time and the code index grows at
	 * its end; then 26 digits = 130 random bits (17 bytes, 6 bits unused).
	 */
	for (i = META_CODE_TIME; i > 0; i--) {
		out[i - 1] = ordered[t & 31];
		t >>= 5;
	}
	randombytes_buf(raw, sizeof(raw));
	for (i = META_CODE_TIME; i < META_CODE_LEN; i++) {
		size_t bit = (i - META_CODE_TIME) * 5, byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)raw[byte] << 8;

		if (byte + 1 < sizeof(raw))
			v |= raw[byte + 1];
		out[i] = alphabet[(v >> (11 - shift)) & 31];
	}
	out[META_CODE_LEN] = '\0';
	sodium_memzero(raw, sizeof(raw));
}

bool
meta_code_ok(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != META_CODE_LEN)
		return false;
	for (i = 0; i < META_CODE_LEN; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
			return false;
	return true;
}

void
meta_subject(const uint8_t key[HASH_KEY_LEN], const char *app, const char *user_id,
             char out[HASH_TEXT_LEN + 1])
{
	char small[512];
	size_t na = strlen(app) + 1, nu = strlen(user_id);
	char *msg = na + nu + 5 <= sizeof(small) ? small : xmalloc(na + nu + 5);

	/* "meta" NUL app NUL user_id: no two (app, id) pairs give the same message. */
	memcpy(msg, "meta", 5);
	memcpy(msg + 5, app, na);
	memcpy(msg + 5 + na, user_id, nu);
	hash_keyed(key, msg, 5 + na + nu, out);
	sodium_memzero(msg, 5 + na + nu);
	if (msg != small)
		free(msg);
}

static void
box_key(const uint8_t key[HASH_KEY_LEN], uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
	crypto_kdf_derive_from_key(sub, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, BOX_KDF_ID,
	                           BOX_KDF_CTX, key);
}

uint8_t *
meta_box_seal(const uint8_t key[HASH_KEY_LEN], const char *app, const char *user_id, size_t *len)
{
	uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	size_t n = strlen(user_id);
	size_t total = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + n +
	               crypto_aead_xchacha20poly1305_ietf_ABYTES;
	uint8_t *box = xmalloc(total);
	unsigned long long clen = 0;

	box_key(key, sub);
	randombytes_buf(box, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    box + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen, (const uint8_t *)user_id, n,
	    (const uint8_t *)app, strlen(app), NULL, box, sub);
	sodium_memzero(sub, sizeof(sub));
	*len = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)clen;
	return box;
}

lethe_rc
meta_box_open(const uint8_t key[HASH_KEY_LEN], const char *app, const uint8_t *box, size_t len,
              char *out, size_t cap)
{
	uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned long long mlen = 0;
	const size_t np = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	int r;

	if (len < np + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
	    len - np - crypto_aead_xchacha20poly1305_ietf_ABYTES >= cap)
		return LETHE_E_FORBIDDEN;
	box_key(key, sub);
	r = crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)out, &mlen, NULL, box + np,
	                                               len - np, (const uint8_t *)app, strlen(app),
	                                               box, sub);
	sodium_memzero(sub, sizeof(sub));
	if (r != 0)
		return LETHE_E_FORBIDDEN;
	out[mlen] = '\0';
	return LETHE_OK;
}
