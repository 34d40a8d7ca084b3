/* SPDX-License-Identifier: MIT */
/*
 * signed_request.c - verify and build Meta signed_requests (see signed_request.h).
 *
 * Order of checks in sr_verify(), cheapest and least trusting first:
 * size cap, shape (one '.', two non-empty base64url segments), base64
 * decoding of both segments, signature length, HMAC in constant time, and
 * only then the JSON parse of the (now authenticated) payload.  All buffers
 * are bounded by SR_MAX_LEN before they are allocated.
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <sodium.h>

#include "meta/signed_request.h"
#include "util/hash.h"
#include "util/mem.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

static bool
b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * Check the segment @s (@n bytes): up to two trailing '=' of padding, before
 * them at least one byte and only base64url characters.  Sets *@textlen to
 * the length without padding.
 */
static bool
segment_ok(const char *s, size_t n, size_t *textlen)
{
	size_t i, pad = 0;

	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	n -= pad;
	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (!b64url_char((unsigned char)s[i]))
			return false;
	*textlen = n;
	return true;
}

/* Decode all @n characters of unpadded base64url @s into @bin (@cap bytes). */
static bool
b64url_decode(const char *s, size_t n, uint8_t *bin, size_t cap, size_t *binlen)
{
	const char *end = NULL;

	/* With a non-NULL end pointer libsodium stops quietly at a bad byte. */
	if (sodium_base642bin(bin, cap, s, n, NULL, binlen, &end, B64_VARIANT) != 0)
		return false;
	return end == s + n;
}

/*
 * True if arrays and objects in the JSON text @p (@n bytes) nest at most
 * @max deep.  Only a guard before the real parser: it does not validate.
 */
static bool
json_depth_ok(const uint8_t *p, size_t n, int max)
{
	bool in_str = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (in_str) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_str = false;
		} else if (p[i] == '"') {
			in_str = true;
		} else if (p[i] == '[' || p[i] == '{') {
			depth++;
			if (depth > max)
				return false;
		} else if (p[i] == ']' || p[i] == '}') {
			depth--;
		}
	}
	return true;
}

/* Copy the JSON string @v into @dst (SR_ID_MAX + 1 bytes) if it is a valid id. */
static bool
id_copy(const json_t *v, char *dst)
{
	const char *s;
	size_t i, n;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > SR_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!b64url_char((unsigned char)s[i]))
			return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/*
 * Read the optional member @key of @o, Unix seconds; false if present but not
 * a non-negative integer (so callers may subtract it from "now" safely).
 */
static bool
int_get(const json_t *o, const char *key, int64_t *val, bool *has)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*val = (int64_t)json_integer_value(v);
	*has = true;
	return true;
}

/* Fill @p from the authenticated JSON text @json (@n bytes). */
static lethe_rc
payload_parse(const uint8_t *json, size_t n, struct sr_payload *p, struct lethe_err *err)
{
	const json_t *alg, *pid;
	json_error_t jerr;
	json_t *root = NULL;
	lethe_rc rc = LETHE_E_INVALID;

	if (memchr(json, '\0', n) != NULL) {
		lethe_err_set(err, rc, "signed_request: payload holds a NUL byte");
		goto out;
	}
	if (!json_depth_ok(json, n, SR_JSON_MAX_DEPTH)) {
		lethe_err_set(err, rc, "signed_request: payload nests deeper than %d",
		              SR_JSON_MAX_DEPTH);
		goto out;
	}
	/* jerr.text may quote the payload: it never reaches the message. */
	root = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		lethe_err_set(err, rc, "signed_request: payload is not a JSON object");
		goto out;
	}
	alg = json_object_get(root, "algorithm");
	if (!json_is_string(alg) || strcmp(json_string_value(alg), SR_ALGORITHM) != 0) {
		lethe_err_set(err, rc, "signed_request: algorithm is not %s", SR_ALGORITHM);
		goto out;
	}
	if (!id_copy(json_object_get(root, "user_id"), p->user_id)) {
		lethe_err_set(err, rc,
		              "signed_request: user_id missing or not a string of 1 to %d "
		              "characters [A-Za-z0-9_-]",
		              SR_ID_MAX);
		goto out;
	}
	pid = json_object_get(root, "profile_id");
	if (pid != NULL && !id_copy(pid, p->profile_id)) {
		lethe_err_set(err, rc,
		              "signed_request: profile_id not a string of 1 to %d "
		              "characters [A-Za-z0-9_-]",
		              SR_ID_MAX);
		goto out;
	}
	if (!int_get(root, "issued_at", &p->issued_at, &p->has_issued_at) ||
	    !int_get(root, "expires", &p->expires, &p->has_expires)) {
		lethe_err_set(err, rc,
		              "signed_request: issued_at or expires is not a non-negative integer");
		goto out;
	}
	rc = LETHE_OK;
out:
	json_decref(root);
	return rc;
}

lethe_rc
sr_verify(const char *sr, size_t len, const uint8_t *secret, size_t secret_len,
          struct sr_payload *out, struct lethe_err *err)
{
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	uint8_t sig[SR_SIG_LEN];
	struct sr_payload p;
	const char *dot, *payload;
	size_t sig_n, payload_n, sig_text, payload_text, bin_len = 0;
	uint8_t *bin = NULL;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	if (secret == NULL || secret_len == 0)
		return lethe_err_set(err, LETHE_E_CONFIG, "signed_request: no app secret");
	if (sodium_init() < 0)
		return lethe_err_set(err, LETHE_E_INTERNAL, "libsodium failed to initialise");
	if (len > SR_MAX_LEN)
		return lethe_err_set(err, LETHE_E_TOOBIG, "signed_request: longer than %d bytes",
		                     SR_MAX_LEN);
	dot = sr != NULL ? memchr(sr, '.', len) : NULL;
	if (dot == NULL || memchr(dot + 1, '.', len - (size_t)(dot + 1 - sr)) != NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "signed_request: not two segments joined by one '.'");
	sig_n = (size_t)(dot - sr);
	payload = dot + 1;
	payload_n = len - sig_n - 1;
	if (!segment_ok(sr, sig_n, &sig_text) || !segment_ok(payload, payload_n, &payload_text))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "signed_request: a segment is empty or not base64url");

	/* One buffer, bounded by SR_MAX_LEN, for whichever segment decodes. */
	bin = xmalloc(len / 4 * 3 + 3);
	if (!b64url_decode(sr, sig_text, bin, len / 4 * 3 + 3, &bin_len)) {
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "signed_request: signature segment is not base64url");
		goto out;
	}
	if (bin_len != SR_SIG_LEN) {
		rc = lethe_err_set(err, LETHE_E_FORBIDDEN,
		                   "signed_request: signature is not %d bytes", SR_SIG_LEN);
		goto out;
	}
	memcpy(sig, bin, SR_SIG_LEN);
	if (!b64url_decode(payload, payload_text, bin, len / 4 * 3 + 3, &bin_len)) {
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "signed_request: payload segment is not base64url");
		goto out;
	}

	/* The payload segment exactly as received, padding and all. */
	hash_hmac_init(&st, secret, secret_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)payload, payload_n);
	crypto_auth_hmacsha256_final(&st, mac);
	if (sodium_memcmp(mac, sig, SR_SIG_LEN) != 0) {
		rc = lethe_err_set(err, LETHE_E_FORBIDDEN,
		                   "signed_request: signature does not verify");
		goto out;
	}

	rc = payload_parse(bin, bin_len, &p, err);
	if (rc == LETHE_OK)
		*out = p;
out:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(mac, sizeof(mac));
	sodium_memzero(&p, sizeof(p));
	free(bin);
	return rc;
}

char *
sr_sign(const char *payload_json, size_t payload_len, const uint8_t *secret, size_t secret_len)
{
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	size_t sig_sz = sodium_base64_ENCODED_LEN(SR_SIG_LEN, B64_VARIANT);
	size_t payload_sz;
	char *out;

	if (secret == NULL || secret_len == 0 || payload_len > SIZE_MAX / 2 || sodium_init() < 0)
		return NULL;
	payload_sz = sodium_base64_ENCODED_LEN(payload_len, B64_VARIANT);
	/* "sig" '.' "payload" NUL: the two encoded sizes count one NUL each. */
	out = xmalloc(sig_sz + payload_sz);
	sodium_bin2base64(out + sig_sz, payload_sz, (const unsigned char *)payload_json,
	                  payload_len, B64_VARIANT);
	crypto_auth_hmacsha256_init(&st, secret, secret_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)out + sig_sz, payload_sz - 1);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(out, sig_sz, mac, sizeof(mac), B64_VARIANT);
	out[sig_sz - 1] = '.';
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(mac, sizeof(mac));
	return out;
}
