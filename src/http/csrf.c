/* SPDX-License-Identifier: MIT */
/*
 * csrf.c - stateless CSRF tokens of the self-service page (see csrf.h and
 * docs/selfservice.md).  The key is derived once per call from the
 * anonymize key (HMAC of the label "lethe-csrf-v1"), so a token tells
 * nothing of that key and a new anonymize key voids every token.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/csrf.h"

#define CSRF_MAC_BYTES 20 /* 160 bits of the HMAC: 32 base32 characters */
#define CSRF_SKEW_S 60    /* a token "from the future" by this much is still fine */

void
csrf_base32(const uint8_t *p, size_t n, char *out)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint32_t acc = 0;
	int bits = 0;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = alpha[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = alpha[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

/* The MAC text of (@issued, @purpose, @bound) into @out (CSRF_MAC_BYTES in base32). */
static void
csrf_mac(const uint8_t key[HASH_KEY_LEN], const char *purpose, const char *bound, long long issued,
         char out[CSRF_TOKEN_MAX])
{
	static const char label[] = "lethe-csrf-v1";
	uint8_t k[crypto_auth_hmacsha256_BYTES], mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	char head[32];
	int n;

	crypto_auth_hmacsha256(k, (const unsigned char *)label, sizeof(label) - 1, key);
	n = snprintf(head, sizeof(head), "%lld", issued);
	crypto_auth_hmacsha256_init(&st, k, sizeof(k));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)head, (size_t)n + 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose, strlen(purpose) + 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)bound, strlen(bound) + 1);
	crypto_auth_hmacsha256_final(&st, mac);
	csrf_base32(mac, CSRF_MAC_BYTES, out);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(&st, sizeof(st));
}

void
csrf_make(const uint8_t key[HASH_KEY_LEN], const char *purpose, const char *bound, int64_t now,
          char out[CSRF_TOKEN_MAX])
{
	char mac[CSRF_TOKEN_MAX];
	int n;

	csrf_mac(key, purpose, bound != NULL ? bound : "", (long long)now, mac);
	n = snprintf(out, CSRF_TOKEN_MAX, "%lld.", (long long)now);
	memcpy(out + n, mac, strlen(mac) + 1); /* 20 digits at most + 32: fits */
}

bool
csrf_check(const uint8_t key[HASH_KEY_LEN], const char *purpose, const char *bound,
           const char *token, int64_t now)
{
	char want[CSRF_TOKEN_MAX];
	const char *dot;
	char *end = NULL;
	long long issued;
	size_t n = token != NULL ? strlen(token) : 0;

	if (n == 0 || n >= CSRF_TOKEN_MAX)
		return false;
	dot = strchr(token, '.');
	if (dot == NULL || dot == token || dot - token > 19 ||
	    strspn(token, "0123456789") != (size_t)(dot - token))
		return false;
	errno = 0;
	issued = strtoll(token, &end, 10);
	if (errno != 0 || end != dot || issued > now + CSRF_SKEW_S || now - issued > CSRF_TTL_S)
		return false;
	csrf_mac(key, purpose, bound != NULL ? bound : "", issued, want);
	if (strlen(dot + 1) != strlen(want))
		return false;
	return sodium_memcmp(dot + 1, want, strlen(want)) == 0;
}
