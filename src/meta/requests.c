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
#include <time.h>

#include "meta/requests.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/rand.h"

#define BOX_KDF_ID 1
#define BOX_KDF_CTX "lethebox"

void
meta_code_new(char out[META_CODE_LEN + 1], int64_t now)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	/* The same 32 characters in ASCII order, so time digits sort as numbers. */
	static const char ordered[] = "234567abcdefghijklmnopqrstuvwxyz";
	uint64_t t = now > META_CODE_EPOCH ? (uint64_t)(now - META_CODE_EPOCH) / 2 : 0;
	struct timespec ts;
	uint8_t raw[17];
	size_t i;

	/*
	 * META_CODE_TIME digits, most significant first: the 2 s step, then
	 * its 1/1024ths from the real clock (only for order within the step:
	 * @now may be a test clock).  Then 26 digits = 130 random bits (17
	 * bytes, 6 bits unused).
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	t = (t << 10) |
	    (uint64_t)((((uint64_t)ts.tv_sec & 1) * 1000000000u + (uint64_t)ts.tv_nsec) * 1024 /
	               2000000000u);
	for (i = META_CODE_TIME; i > 0; i--) {
		out[i - 1] = ordered[t & 31];
		t >>= 5;
	}
	rand_bytes(raw, sizeof(raw));
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

int64_t
meta_code_time(const char *code)
{
	static const char ordered[] = "234567abcdefghijklmnopqrstuvwxyz";
	uint64_t t = 0;

	for (size_t i = 0; i < 6; i++) {
		const char *p = code[i] != '\0' ? strchr(ordered, code[i]) : NULL;

		if (p == NULL)
			return 0;
		t = (t << 5) | (uint64_t)(p - ordered);
	}
	return META_CODE_EPOCH + (int64_t)t * 2;
}

bool
meta_code_ok(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n != META_CODE_LEN && n != META_CODE_LEN_V1)
		return false;
	for (i = 0; i < n; i++)
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

/*
 * The box subkey of @key.  Each thread remembers the last one it derived
 * (a server has one key): a BLAKE2b per request saved.
 */
static void
box_key(const uint8_t key[HASH_KEY_LEN], uint8_t sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
	static _Thread_local uint8_t last_key[HASH_KEY_LEN];
	static _Thread_local uint8_t last_sub[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	static _Thread_local int have;

	if (!have || sodium_memcmp(last_key, key, HASH_KEY_LEN) != 0) {
		crypto_kdf_derive_from_key(last_sub, sizeof(last_sub), BOX_KDF_ID, BOX_KDF_CTX,
		                           key);
		memcpy(last_key, key, HASH_KEY_LEN);
		have = 1;
	}
	memcpy(sub, last_sub, sizeof(last_sub));
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
	rand_bytes(box, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
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
