/* SPDX-License-Identifier: MIT */
/*
 * service_links.c - minting the links lethe mails (see service_internal.h):
 * a fresh token of 160 random bits, written in base32 [a-z2-7], of which
 * the state store keeps only the keyed hash (anonymize key) of "link:" +
 * token.  The token exists in memory while the mail is composed and in
 * the mail; a retry of the mail mints a new one.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "service/service_internal.h"
#include "util/hash.h"
#include "util/rand.h"
#include "util/timeutil.h"

#define LINK_RAW_BYTES 20 /* 160 bits: SERVICE_LINK_TOKEN_LEN base32 characters */
#define LINK_DEFAULT_PATH "/privacy"

/* @raw (LINK_RAW_BYTES) as SERVICE_LINK_TOKEN_LEN base32 characters [a-z2-7] and a NUL. */
static void
link_token(const uint8_t raw[LINK_RAW_BYTES], char out[SERVICE_LINK_TOKEN_LEN + 1])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	size_t i;

	for (i = 0; i < SERVICE_LINK_TOKEN_LEN; i++) {
		size_t bit = i * 5, byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)raw[byte] << 8;

		if (byte + 1 < LINK_RAW_BYTES)
			v |= raw[byte + 1];
		out[i] = alphabet[(v >> (11 - shift)) & 31];
	}
	out[SERVICE_LINK_TOKEN_LEN] = '\0';
}

void
service__link_hash(const struct service *svc, const char *token, char out[HASH_TEXT_LEN + 1])
{
	char input[5 + SERVICE_LINK_TOKEN_LEN + 1];
	int n = snprintf(input, sizeof(input), "link:%s", token);

	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof(input))
		n = (int)sizeof(input) - 1;
	hash_keyed(svc->cfg->key, input, (size_t)n, out);
	sodium_memzero(input, sizeof(input));
}

lethe_rc
service__link_mint(struct service *svc, int64_t request_id, const char *purpose, int64_t expires_at,
                   char url[SERVICE_URL_MAX], struct lethe_err *err)
{
	const char *path =
	    svc->cfg->selfservice.path != NULL ? svc->cfg->selfservice.path : LINK_DEFAULT_PATH;
	char token[SERVICE_LINK_TOKEN_LEN + 1];
	char hash[HASH_TEXT_LEN + 1];
	uint8_t raw[LINK_RAW_BYTES];
	int n;
	lethe_rc rc;

	url[0] = '\0';
	rand_bytes(raw, sizeof(raw));
	link_token(raw, token);
	sodium_memzero(raw, sizeof(raw));
	service__link_hash(svc, token, hash);
	n = snprintf(url, SERVICE_URL_MAX, "%s%s/l/%s", svc->cfg->public_url, path, token);
	if (n < 0 || n >= SERVICE_URL_MAX) {
		rc = lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "server.public_url and selfservice.path make a link over %d bytes",
		    SERVICE_URL_MAX - 1);
		goto out;
	}
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc =
		    store_link_add(svc->st, hash, request_id, purpose, time_now(), expires_at, err);
	pthread_mutex_unlock(&svc->st_mu);
out:
	if (rc != LETHE_OK)
		sodium_memzero(url, SERVICE_URL_MAX);
	sodium_memzero(token, sizeof(token));
	return rc;
}
