/* SPDX-License-Identifier: MIT */
/*
 * hash.c - keyed hashes over libsodium (see hash.h).
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <sodium.h>

#include "util/hash.h"

lethe_rc
hash_init(void)
{
	return sodium_init() < 0 ? LETHE_E_INTERNAL : LETHE_OK;
}

void
hash_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

#define HMAC_CACHE 4      /* keys remembered per thread */
#define HMAC_CACHE_KEY 64 /* longest key remembered (bytes) */

struct hmac_slot {
	uint8_t key[HMAC_CACHE_KEY];        /* the key */
	size_t len;                         /* its length; 0 = empty slot */
	crypto_auth_hmacsha256_state state; /* keyed, nothing hashed yet */
};

void
hash_hmac_init(crypto_auth_hmacsha256_state *st, const uint8_t *key, size_t len)
{
	static _Thread_local struct hmac_slot cache[HMAC_CACHE];
	static _Thread_local unsigned next;
	struct hmac_slot *slot;

	if (len == 0 || len > HMAC_CACHE_KEY) {
		crypto_auth_hmacsha256_init(st, key, len);
		return;
	}
	for (unsigned i = 0; i < HMAC_CACHE; i++)
		if (cache[i].len == len && sodium_memcmp(cache[i].key, key, len) == 0) {
			memcpy(st, &cache[i].state, sizeof(*st));
			return;
		}
	slot = &cache[next++ % HMAC_CACHE];
	crypto_auth_hmacsha256_init(&slot->state, key, len);
	memcpy(slot->key, key, len);
	slot->len = len;
	memcpy(st, &slot->state, sizeof(*st));
}

void
hash_keyed(const uint8_t key[HASH_KEY_LEN], const void *v, size_t n, char *out)
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	hash_hmac_init(&st, key, HASH_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, v, n);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, HASH_PREFIX, 5);
	hash_hex(mac, 16, out + 5);
}

bool
hash_is_keyed(const char *s)
{
	size_t i;

	if (s == NULL || strncmp(s, HASH_PREFIX, 5) != 0 || strlen(s) != HASH_TEXT_LEN)
		return false;
	for (i = 5; i < HASH_TEXT_LEN; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

lethe_rc
hash_key_parse(const char *hex, uint8_t key[HASH_KEY_LEN])
{
	size_t bin_len = 0;
	const char *end = NULL;
	const char *p = hex;
	size_t len;

	while (isspace((unsigned char)*p))
		p++;
	len = strlen(p);
	while (len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	if (len != 2 * HASH_KEY_LEN)
		return LETHE_E_CONFIG;
	if (sodium_hex2bin(key, HASH_KEY_LEN, p, len, NULL, &bin_len, &end) != 0 ||
	    bin_len != HASH_KEY_LEN)
		return LETHE_E_CONFIG;
	return LETHE_OK;
}

void
hash_key_random(uint8_t key[HASH_KEY_LEN])
{
	randombytes_buf(key, HASH_KEY_LEN);
}

void
hash_key_random_bytes(uint8_t *p, size_t n)
{
	randombytes_buf(p, n);
}
