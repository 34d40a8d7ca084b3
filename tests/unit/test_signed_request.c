/* SPDX-License-Identifier: MIT */
/*
 * test_signed_request.c - unit tests of src/meta/signed_request: Meta's
 * signed_request, its community test vector and Meta's sample payload, and
 * every way a forged or malformed one must be refused; and of
 * src/meta/callback (Meta's rules: a forged request is invalid, the
 * issued_at window, the id a request is about).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>

#include "meta/callback.h"
#include "meta/signed_request.h"
#include "util/mem.h"

/* Community test vector (secret "key"), see platform facts. */
#define VEC_SECRET "key"
#define VEC_PAYLOAD "{\"user_id\":\"0\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1624244156}"
#define VEC_SIG "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U"
#define VEC_PAYLOAD64                                                                              \
	"eyJ1c2VyX2lkIjoiMCIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ"
#define VEC_SR VEC_SIG "." VEC_PAYLOAD64

/* Meta's sample payload from its documentation. */
#define META_SAMPLE                                                                                \
	"{\"algorithm\":\"HMAC-SHA256\",\"expires\":1291840400,\"issued_at\":1291836800,"          \
	"\"user_id\":\"218471\"}"

static const uint8_t *
key(const char *s)
{
	return (const uint8_t *)s;
}

static lethe_rc
verify_s(const char *sr, const char *secret, struct sr_payload *p)
{
	struct lethe_err err = {0};

	return sr_verify(sr, strlen(sr), key(secret), strlen(secret), p, &err);
}

/* Sign @json with @secret and verify the result with the same secret. */
static lethe_rc
sign_verify(const char *json, size_t n, const char *secret, struct sr_payload *p)
{
	char *sr = sr_sign(json, n, key(secret), strlen(secret));
	lethe_rc rc;

	assert_non_null(sr);
	rc = verify_s(sr, secret, p);
	free(sr);
	return rc;
}

static lethe_rc
sign_verify_s(const char *json, struct sr_payload *p)
{
	return sign_verify(json, strlen(json), VEC_SECRET, p);
}

/* base64url(HMAC-SHA256(@secret, @seg)) without padding into @out (44 bytes). */
static void
sig_of(const char *seg, const char *secret, char *out)
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key(secret), strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)seg, strlen(seg));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(out, 44, mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* ---- the test vector and Meta's sample ---------------------------------- */

static void
test_sr_vector_verifies(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(verify_s(VEC_SR, VEC_SECRET, &p), LETHE_OK);
	assert_string_equal(p.user_id, "0");
	assert_string_equal(p.profile_id, "");
	assert_true(p.has_issued_at);
	assert_int_equal(p.issued_at, 1624244156);
	assert_false(p.has_expires);
}

static void
test_sr_vector_signs(void **state)
{
	char *sr;

	(void)state;
	sr = sr_sign(VEC_PAYLOAD, strlen(VEC_PAYLOAD), key(VEC_SECRET), strlen(VEC_SECRET));
	assert_non_null(sr);
	assert_string_equal(sr, VEC_SR);
	free(sr);
}

static void
test_sr_meta_sample_round_trip(void **state)
{
	struct sr_payload p;
	char *sr;

	(void)state;
	sr = sr_sign(META_SAMPLE, strlen(META_SAMPLE), key("app-secret"), 10);
	assert_non_null(sr);
	assert_null(strchr(sr, '='));
	assert_int_equal(verify_s(sr, "app-secret", &p), LETHE_OK);
	assert_string_equal(p.user_id, "218471");
	assert_true(p.has_issued_at);
	assert_int_equal(p.issued_at, 1291836800);
	assert_true(p.has_expires);
	assert_int_equal(p.expires, 1291840400);
	free(sr);
}

static void
test_sr_not_nul_terminated(void **state)
{
	struct sr_payload p;
	char buf[sizeof(VEC_SR) + 8];

	(void)state;
	memcpy(buf, VEC_SR, strlen(VEC_SR));
	memcpy(buf + strlen(VEC_SR), "AAAA.xx", 8);
	assert_int_equal(sr_verify(buf, strlen(VEC_SR), key(VEC_SECRET), 3, &p, NULL), LETHE_OK);
	assert_string_equal(p.user_id, "0");
}

static void
test_sr_long_secret(void **state)
{
	/* Longer than the HMAC block (64 bytes): libsodium hashes it first. */
	const char *secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	                     "0123456789abcdef";
	struct sr_payload p;

	(void)state;
	assert_int_equal(sign_verify(META_SAMPLE, strlen(META_SAMPLE), secret, &p), LETHE_OK);
	assert_int_equal(verify_s(VEC_SR, secret, &p), LETHE_E_FORBIDDEN);
}

/* ---- padding ------------------------------------------------------------ */

static void
test_sr_padding_accepted(void **state)
{
	/* VEC_PAYLOAD64 is 86 characters: two '=' pad it to 88. */
	const char *padded_payload = VEC_PAYLOAD64 "==";
	char sig[44], sr[256];
	struct sr_payload p;

	(void)state;
	/* Signature padded (43 + 1 '='). */
	assert_int_equal(verify_s(VEC_SIG "=." VEC_PAYLOAD64, VEC_SECRET, &p), LETHE_OK);
	assert_string_equal(p.user_id, "0");

	/* Payload padded by a signer that signed the padded segment. */
	sig_of(padded_payload, VEC_SECRET, sig);
	snprintf(sr, sizeof(sr), "%s.%s", sig, padded_payload);
	assert_int_equal(verify_s(sr, VEC_SECRET, &p), LETHE_OK);
	assert_string_equal(p.user_id, "0");

	/* Both padded. */
	snprintf(sr, sizeof(sr), "%s=.%s", sig, padded_payload);
	assert_int_equal(verify_s(sr, VEC_SECRET, &p), LETHE_OK);

	/* One '=' is enough for the decoder too. */
	sig_of(VEC_PAYLOAD64 "=", VEC_SECRET, sig);
	snprintf(sr, sizeof(sr), "%s.%s=", sig, VEC_PAYLOAD64);
	assert_int_equal(verify_s(sr, VEC_SECRET, &p), LETHE_OK);
}

static void
test_sr_padding_is_signed(void **state)
{
	struct sr_payload p;

	(void)state;
	/* The HMAC covers the payload segment as received: adding padding after
	 * signing changes the message. */
	assert_int_equal(verify_s(VEC_SIG "." VEC_PAYLOAD64 "==", VEC_SECRET, &p),
	                 LETHE_E_FORBIDDEN);
}

static void
test_sr_padding_malformed(void **state)
{
	struct sr_payload p;

	(void)state;
	/* More than two '=', '=' inside a segment, padding alone. */
	assert_int_equal(verify_s(VEC_SIG "===." VEC_PAYLOAD64, VEC_SECRET, &p), LETHE_E_INVALID);
	assert_int_equal(verify_s(VEC_SIG "." VEC_PAYLOAD64 "===", VEC_SECRET, &p),
	                 LETHE_E_INVALID);
	assert_int_equal(
	    verify_s("Mf_s6nTb=38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U." VEC_PAYLOAD64, VEC_SECRET, &p),
	    LETHE_E_INVALID);
	assert_int_equal(verify_s("==." VEC_PAYLOAD64, VEC_SECRET, &p), LETHE_E_INVALID);
	assert_int_equal(verify_s(VEC_SIG ".==", VEC_SECRET, &p), LETHE_E_INVALID);
}

/* ---- forgeries ---------------------------------------------------------- */

static void
test_sr_wrong_secret(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(verify_s(VEC_SR, "kex", &p), LETHE_E_FORBIDDEN);
	assert_int_equal(verify_s(VEC_SR, "key ", &p), LETHE_E_FORBIDDEN);
	assert_int_equal(verify_s(VEC_SR, "KEY", &p), LETHE_E_FORBIDDEN);
	assert_string_equal(p.user_id, "");
}

static void
test_sr_tampered_payload(void **state)
{
	char sr[] = VEC_SR;
	char *dot = strchr(sr, '.');
	struct sr_payload p;
	size_t i;

	(void)state;
	/* Change each payload character in turn (staying within base64url). */
	for (i = 1; dot[i] != '\0'; i++) {
		char was = dot[i];

		dot[i] = was == 'A' ? 'B' : 'A';
		assert_int_not_equal(verify_s(sr, VEC_SECRET, &p), LETHE_OK);
		dot[i] = was;
	}
	/* A change in the middle decodes fine, so only the signature catches it. */
	dot[10] = dot[10] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_s(sr, VEC_SECRET, &p), LETHE_E_FORBIDDEN);
}

static void
test_sr_tampered_signature(void **state)
{
	char sr[] = VEC_SR;
	struct sr_payload p;

	(void)state;
	sr[5] = sr[5] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_s(sr, VEC_SECRET, &p), LETHE_E_FORBIDDEN);
}

static void
test_sr_signature_length(void **state)
{
	struct sr_payload p;

	(void)state;
	/* 31 and 33 bytes decode fine but are not an HMAC-SHA256. */
	assert_int_equal(
	    verify_s("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA." VEC_PAYLOAD64, VEC_SECRET, &p),
	    LETHE_E_FORBIDDEN);
	assert_int_equal(
	    verify_s("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA." VEC_PAYLOAD64, VEC_SECRET, &p),
	    LETHE_E_FORBIDDEN);
	assert_int_equal(verify_s("AA." VEC_PAYLOAD64, VEC_SECRET, &p), LETHE_E_FORBIDDEN);
	/* The real signature with two bytes more. */
	assert_int_equal(verify_s(VEC_SIG "AAA." VEC_PAYLOAD64, VEC_SECRET, &p), LETHE_E_FORBIDDEN);
	/* Not base64 at all: a length of 4n+1, or non-zero trailing bits. */
	assert_int_equal(verify_s("A." VEC_PAYLOAD64, VEC_SECRET, &p), LETHE_E_INVALID);
	assert_int_equal(
	    verify_s("Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729V." VEC_PAYLOAD64, VEC_SECRET, &p),
	    LETHE_E_INVALID);
}

static void
test_sr_empty_secret(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(sr_verify(VEC_SR, strlen(VEC_SR), key(""), 0, &p, NULL), LETHE_E_CONFIG);
	assert_int_equal(sr_verify(VEC_SR, strlen(VEC_SR), NULL, 0, &p, NULL), LETHE_E_CONFIG);
	assert_null(sr_sign("{}", 2, key(""), 0));
	assert_null(sr_sign("{}", 2, NULL, 0));
}

/* ---- malformed ---------------------------------------------------------- */

static void
test_sr_truncated(void **state)
{
	static const char *bad[] = {
	    "",
	    ".",
	    "..",
	    VEC_SIG,
	    VEC_SIG ".",
	    "." VEC_PAYLOAD64,
	    VEC_SIG ".." VEC_PAYLOAD64,
	    VEC_SR ".",
	    VEC_SR "." VEC_PAYLOAD64,
	    "." VEC_SR,
	};
	struct sr_payload p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(verify_s(bad[i], VEC_SECRET, &p), LETHE_E_INVALID);
	assert_int_equal(sr_verify(NULL, 0, key(VEC_SECRET), 3, &p, NULL), LETHE_E_INVALID);
	/* The vector cut short anywhere is never accepted. */
	for (i = 0; i < strlen(VEC_SR); i++)
		assert_int_not_equal(sr_verify(VEC_SR, i, key(VEC_SECRET), 3, &p, NULL), LETHE_OK);
}

static void
test_sr_non_base64_chars(void **state)
{
	static const char bad_chars[] = {'+', '/', '*', ' ', '\t', '\n', '\0', '%', '"', '\xff'};
	char sr[sizeof(VEC_SR)];
	struct sr_payload p;
	size_t i, len = strlen(VEC_SR), at[] = {0, 20, 42, 44, 60, 129};
	size_t j;

	(void)state;
	for (i = 0; i < sizeof(bad_chars); i++) {
		for (j = 0; j < sizeof(at) / sizeof(at[0]); j++) {
			memcpy(sr, VEC_SR, sizeof(sr));
			sr[at[j]] = bad_chars[i];
			assert_int_equal(sr_verify(sr, len, key(VEC_SECRET), 3, &p, NULL),
			                 LETHE_E_INVALID);
		}
	}
	/* Standard base64 of the same signature ('+' and '/'). */
	assert_int_equal(
	    verify_s("Mf/s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U." VEC_PAYLOAD64, VEC_SECRET, &p),
	    LETHE_E_INVALID);
}

static void
test_sr_huge_input(void **state)
{
	char *big = xmalloc(SR_MAX_LEN + 2);
	struct sr_payload p;

	(void)state;
	memset(big, 'A', SR_MAX_LEN + 1);
	big[43] = '.';
	big[SR_MAX_LEN + 1] = '\0';
	assert_int_equal(verify_s(big, VEC_SECRET, &p), LETHE_E_TOOBIG);
	/* The cap applies before any other check. */
	memset(big, '*', SR_MAX_LEN + 1);
	assert_int_equal(verify_s(big, VEC_SECRET, &p), LETHE_E_TOOBIG);
	free(big);
}

static void
test_sr_size_boundary(void **state)
{
	/* A payload of 6111 bytes encodes to 8148 characters: 43 + 1 + 8148 = SR_MAX_LEN. */
	const char *head = "{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"pad\":\"";
	size_t n = 6111, hl = strlen(head);
	char *json = xmalloc(n + 2);
	struct sr_payload p;
	char *sr;

	(void)state;
	memcpy(json, head, hl);
	memset(json + hl, 'x', n - hl - 2);
	memcpy(json + n - 2, "\"}", 3);
	sr = sr_sign(json, n, key(VEC_SECRET), 3);
	assert_int_equal(strlen(sr), SR_MAX_LEN);
	assert_int_equal(verify_s(sr, VEC_SECRET, &p), LETHE_OK);
	assert_string_equal(p.user_id, "7");
	free(sr);

	/* One byte more of payload: over the cap. */
	memcpy(json + n - 2, "x\"}", 4);
	sr = sr_sign(json, n + 1, key(VEC_SECRET), 3);
	assert_true(strlen(sr) > SR_MAX_LEN);
	assert_int_equal(verify_s(sr, VEC_SECRET, &p), LETHE_E_TOOBIG);
	free(sr);
	free(json);
}

static void
test_sr_wrong_algorithm(void **state)
{
	static const char *bad[] = {
	    "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA1\"}",
	    "{\"user_id\":\"1\",\"algorithm\":\"hmac-sha256\"}",
	    "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256 \"}",
	    "{\"user_id\":\"1\",\"algorithm\":\"\"}",
	    "{\"user_id\":\"1\",\"algorithm\":null}",
	    "{\"user_id\":\"1\",\"algorithm\":256}",
	    "{\"user_id\":\"1\",\"algorithm\":[\"HMAC-SHA256\"]}",
	    "{\"user_id\":\"1\"}",
	    /* A NUL after the name (jansson refuses \u0000 in any string). */
	    "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\\u0000\"}",
	};
	struct sr_payload p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sign_verify_s(bad[i], &p), LETHE_E_INVALID);
}

static void
test_sr_user_id_number(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(sign_verify_s("{\"user_id\":218471,\"algorithm\":\"HMAC-SHA256\"}", &p),
	                 LETHE_E_INVALID);
	assert_int_equal(sign_verify_s("{\"user_id\":0,\"algorithm\":\"HMAC-SHA256\"}", &p),
	                 LETHE_E_INVALID);
	assert_int_equal(sign_verify_s("{\"user_id\":null,\"algorithm\":\"HMAC-SHA256\"}", &p),
	                 LETHE_E_INVALID);
	assert_int_equal(sign_verify_s("{\"user_id\":[\"1\"],\"algorithm\":\"HMAC-SHA256\"}", &p),
	                 LETHE_E_INVALID);
	assert_string_equal(p.user_id, "");
}

static void
test_sr_user_id_missing(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(sign_verify_s("{\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1}", &p),
	                 LETHE_E_INVALID);
	assert_int_equal(sign_verify_s("{\"algorithm\":\"HMAC-SHA256\",\"User_id\":\"1\"}", &p),
	                 LETHE_E_INVALID);
}

static void
test_sr_user_id_charset(void **state)
{
	static const char *bad[] = {
	    "{\"user_id\":\"\",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"1 2\",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"1/2\",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"../etc\",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"1'--\",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"\\u00e9\",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"1\\n\",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"1\\u0000\",\"algorithm\":\"HMAC-SHA256\"}",
	};
	char json[512];
	char id[SR_ID_MAX + 2];
	struct sr_payload p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sign_verify_s(bad[i], &p), LETHE_E_INVALID);

	/* Letters, digits, '_' and '-' are fine; SR_ID_MAX characters fit, one more does not. */
	assert_int_equal(
	    sign_verify_s("{\"user_id\":\"aZ09_-\",\"algorithm\":\"HMAC-SHA256\"}", &p), LETHE_OK);
	assert_string_equal(p.user_id, "aZ09_-");
	memset(id, '9', SR_ID_MAX);
	id[SR_ID_MAX] = '\0';
	snprintf(json, sizeof(json), "{\"user_id\":\"%s\",\"algorithm\":\"HMAC-SHA256\"}", id);
	assert_int_equal(sign_verify_s(json, &p), LETHE_OK);
	assert_string_equal(p.user_id, id);
	id[SR_ID_MAX] = '9';
	id[SR_ID_MAX + 1] = '\0';
	snprintf(json, sizeof(json), "{\"user_id\":\"%s\",\"algorithm\":\"HMAC-SHA256\"}", id);
	assert_int_equal(sign_verify_s(json, &p), LETHE_E_INVALID);
}

static void
test_sr_unknown_fields_ignored(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(sign_verify_s("{\"oauth_token\":\"x\",\"user\":{\"country\":\"de\","
	                               "\"locale\":\"de_DE\",\"age\":{\"min\":21}},"
	                               "\"user_id\":\"42\",\"algorithm\":\"HMAC-SHA256\","
	                               "\"list\":[1,2.5,null,true,\"s\"],\"code\":null}",
	                               &p),
	                 LETHE_OK);
	assert_string_equal(p.user_id, "42");
	assert_false(p.has_issued_at);
	assert_false(p.has_expires);
}

static void
test_sr_profile_id_parsed(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(sign_verify_s("{\"user_id\":\"0\",\"algorithm\":\"HMAC-SHA256\","
	                               "\"issued_at\":1700000000,\"profile_id\":\"104857600123\"}",
	                               &p),
	                 LETHE_OK);
	assert_string_equal(p.user_id, "0");
	assert_string_equal(p.profile_id, "104857600123");
	/* Present but not an id: refused like a bad user_id. */
	assert_int_equal(
	    sign_verify_s("{\"user_id\":\"0\",\"algorithm\":\"HMAC-SHA256\",\"profile_id\":12}",
	                  &p),
	    LETHE_E_INVALID);
	assert_int_equal(
	    sign_verify_s("{\"user_id\":\"0\",\"algorithm\":\"HMAC-SHA256\",\"profile_id\":\"\"}",
	                  &p),
	    LETHE_E_INVALID);
}

static void
test_sr_issued_at_parsed(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(sign_verify_s("{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\","
	                               "\"issued_at\":1624244156,\"expires\":0}",
	                               &p),
	                 LETHE_OK);
	assert_true(p.has_issued_at);
	assert_int_equal(p.issued_at, 1624244156);
	assert_true(p.has_expires);
	assert_int_equal(p.expires, 0);
	assert_int_equal(sign_verify_s("{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\","
	                               "\"issued_at\":9223372036854775807}",
	                               &p),
	                 LETHE_OK);
	assert_true(p.issued_at == INT64_MAX);
}

static void
test_sr_issued_at_not_integer(void **state)
{
	static const char *bad[] = {
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":\"1624244156\"}",
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1624244156.5}",
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1e9}",
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":null}",
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"expires\":true}",
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":99999999999999999999}",
	    /* Unix seconds are never negative; refusing them keeps now - issued_at in range. */
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":-1}",
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"expires\":-1291840400}",
	    "{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":-9223372036854775808}",
	};
	struct sr_payload p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sign_verify_s(bad[i], &p), LETHE_E_INVALID);
}

static void
test_sr_payload_not_object(void **state)
{
	static const char *bad[] = {
	    "",
	    "[]",
	    "\"user_id\"",
	    "null",
	    "42",
	    "{",
	    "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\"",
	    "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\"}}",
	    "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\"} {}",
	    "{'user_id':'1','algorithm':'HMAC-SHA256'}",
	    "\xef\xbb\xbf{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\",\"x\":\"\xff\"}",
	};
	struct sr_payload p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sign_verify_s(bad[i], &p), LETHE_E_INVALID);
}

static void
test_sr_payload_nul_byte(void **state)
{
	static const char json[] = "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\"}\0";
	static const char json2[] = "{\"user_id\":\"1\",\0\"algorithm\":\"HMAC-SHA256\"}";
	struct sr_payload p;

	(void)state;
	assert_int_equal(sign_verify(json, sizeof(json) - 2, VEC_SECRET, &p), LETHE_OK);
	assert_int_equal(sign_verify(json, sizeof(json) - 1, VEC_SECRET, &p), LETHE_E_INVALID);
	assert_int_equal(sign_verify(json2, sizeof(json2) - 1, VEC_SECRET, &p), LETHE_E_INVALID);
}

static void
test_sr_duplicate_keys(void **state)
{
	struct sr_payload p;

	(void)state;
	assert_int_equal(
	    sign_verify_s("{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\",\"user_id\":\"2\"}",
	                  &p),
	    LETHE_E_INVALID);
}

/*
 * Payloads the fast parser reads and payloads it leaves to jansson give the
 * same answers (tests/fuzz/fuzz_signed_request.c checks this at large).
 */
static void
test_sr_fast_and_full_parsers_agree(void **state)
{
	static const struct {
		const char *json;
		lethe_rc rc;
		const char *user;
		int64_t issued; /* -1: absent */
	} cases[] = {
	    /* read by the fast parser */
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":-0}", LETHE_OK, "7",
	     0},
	    {" {\"algorithm\" : \"HMAC-SHA256\" ,\r\n\t\"user_id\":\"ab\" } \n", LETHE_OK, "ab",
	     -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":999999999999999999}",
	     LETHE_OK, "7", 999999999999999999},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":-5}", LETHE_E_INVALID,
	     "", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"x\":true,\"y\":false,\"z\":null}",
	     LETHE_OK, "7", -1},
	    {"{}", LETHE_E_INVALID, "", -1},
	    /* left to jansson: escapes, floats, long or malformed numbers, nesting */
	    {"{\"user_id\":\"\\u0037\",\"algorithm\":\"HMAC\\u002dSHA256\"}", LETHE_OK, "7", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1e3}", LETHE_E_INVALID,
	     "", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1.0}", LETHE_E_INVALID,
	     "", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1234567890123456789}",
	     LETHE_OK, "7", 1234567890123456789},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":99999999999999999999}",
	     LETHE_E_INVALID, "", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":012}", LETHE_E_INVALID,
	     "", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"a\":truex}", LETHE_E_INVALID, "",
	     -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"a\":{\"b\":[]}}", LETHE_OK, "7",
	     -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"a\":\"\xc3\xa9\"}", LETHE_OK, "7",
	     -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"a\":\"\xc3\"}", LETHE_E_INVALID,
	     "", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",}", LETHE_E_INVALID, "", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\"} x", LETHE_E_INVALID, "", -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"\":1,\"\":2}", LETHE_E_INVALID, "",
	     -1},
	    {"{\"user_id\":\"7\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":1,\"a\":1,\"b\":1,"
	     "\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1,\"k\":1,\"l\":1,"
	     "\"m\":1,\"n\":1,\"o\":1}",
	     LETHE_OK, "7", 1},
	};
	struct sr_payload p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lethe_rc rc = sign_verify_s(cases[i].json, &p);

		if (rc != cases[i].rc)
			fail_msg("case %zu: %d, want %d", i, (int)rc, (int)cases[i].rc);
		assert_string_equal(p.user_id, cases[i].user);
		assert_int_equal(p.has_issued_at, cases[i].issued >= 0);
		if (cases[i].issued >= 0)
			assert_int_equal(p.issued_at, cases[i].issued);
	}
}

/* Base64url as strict as libsodium's: no 4k+1 lengths, no stray low bits. */
static void
test_sr_base64_strict(void **state)
{
	struct sr_payload p;
	char sr[256];

	(void)state;
	/* The vector's signature ends in 'U' (its last 2 bits 0); 'V' sets one. */
	snprintf(sr, sizeof(sr), "%.42sV.%s", VEC_SIG, VEC_PAYLOAD64);
	assert_int_equal(verify_s(sr, VEC_SECRET, &p), LETHE_E_INVALID);
	snprintf(sr, sizeof(sr), "%sA.%s", VEC_SIG, VEC_PAYLOAD64);
	assert_int_not_equal(verify_s(sr, VEC_SECRET, &p), LETHE_OK);
	snprintf(sr, sizeof(sr), "%s.%sA", VEC_SIG, VEC_PAYLOAD64);
	assert_int_not_equal(verify_s(sr, VEC_SECRET, &p), LETHE_OK);
}

static void
test_sr_depth_capped(void **state)
{
	char json[512];
	struct sr_payload p;
	size_t n;
	int i;

	(void)state;
	/* The object itself is depth 1; "x" adds SR_JSON_MAX_DEPTH - 1 arrays: allowed. */
	n = (size_t)snprintf(json, sizeof(json),
	                     "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\","
	                     "\"x\":");
	for (i = 0; i < SR_JSON_MAX_DEPTH - 1; i++)
		json[n++] = '[';
	for (i = 0; i < SR_JSON_MAX_DEPTH - 1; i++)
		json[n++] = ']';
	memcpy(json + n, "}", 2);
	assert_int_equal(sign_verify_s(json, &p), LETHE_OK);

	n = (size_t)snprintf(json, sizeof(json),
	                     "{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\","
	                     "\"x\":");
	for (i = 0; i < SR_JSON_MAX_DEPTH; i++)
		json[n++] = '[';
	for (i = 0; i < SR_JSON_MAX_DEPTH; i++)
		json[n++] = ']';
	memcpy(json + n, "}", 2);
	assert_int_equal(sign_verify_s(json, &p), LETHE_E_INVALID);

	/* Brackets inside strings (escaped quotes included) do not count. */
	assert_int_equal(sign_verify_s("{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\","
	                               "\"x\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
	                               &p),
	                 LETHE_OK);
}

/* ---- hygiene ------------------------------------------------------------ */

static void
test_sr_errors_hold_no_secrets(void **state)
{
	static const char *secret = "s3cr3t-app-secret";
	static const char *payloads[] = {
	    "{\"user_id\":\"9876543210\",\"algorithm\":\"HMAC-SHA1\"}",
	    "{\"user_id\":\"9876543210 \",\"algorithm\":\"HMAC-SHA256\"}",
	    "{\"user_id\":\"9876543210\",\"algorithm\":\"HMAC-SHA256\",\"issued_at\":\"x\"}",
	    "{\"user_id\":\"9876543210\",\"algorithm\":\"HMAC-SHA256\",\"user_id\":\"9876543210\"}",
	    "{\"user_id\":\"9876543210\",\"algorithm\":\"HMAC-SHA256\",\"profile_id\":\"9876543210!"
	    "\"}",
	    "{\"user_id\":\"9876543210\",\"algorithm\":\"HMAC-SHA256\"",
	};
	struct lethe_err err;
	struct sr_payload p;
	size_t i;
	char *sr;

	(void)state;
	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		sr = sr_sign(payloads[i], strlen(payloads[i]), key(secret), strlen(secret));
		memset(&err, 0, sizeof(err));
		assert_int_equal(sr_verify(sr, strlen(sr), key(secret), strlen(secret), &p, &err),
		                 LETHE_E_INVALID);
		assert_int_equal(err.rc, LETHE_E_INVALID);
		assert_true(err.msg[0] != '\0');
		assert_null(strstr(err.msg, "9876543210"));
		assert_null(strstr(err.msg, secret));
		/* A forgery's message neither. */
		memset(&err, 0, sizeof(err));
		assert_int_equal(sr_verify(sr, strlen(sr), key("other"), 5, &p, &err),
		                 LETHE_E_FORBIDDEN);
		assert_null(strstr(err.msg, "9876543210"));
		assert_null(strstr(err.msg, secret));
		free(sr);
	}
}

static void
test_sr_out_cleared_on_failure(void **state)
{
	struct sr_payload p;

	(void)state;
	memset(&p, 'Z', sizeof(p));
	assert_int_equal(verify_s(VEC_SR, "wrong", &p), LETHE_E_FORBIDDEN);
	assert_string_equal(p.user_id, "");
	assert_string_equal(p.profile_id, "");
	assert_false(p.has_issued_at);
	memset(&p, 'Z', sizeof(p));
	assert_int_equal(sign_verify_s("{\"user_id\":\"1\",\"algorithm\":\"HMAC-SHA256\","
	                               "\"issued_at\":1,\"expires\":\"x\"}",
	                               &p),
	                 LETHE_E_INVALID);
	assert_string_equal(p.user_id, "");
	assert_false(p.has_issued_at);
}

/* A forged request is LETHE_E_INVALID (400), as a malformed one. */
static void
test_callback_forged_is_invalid(void **state)
{
	struct sr_payload p;
	struct lethe_err err = {0};

	(void)state;
	assert_int_equal(
	    meta_callback_verify(VEC_SR, strlen(VEC_SR), key("other"), 5, 0, 0, &p, &err),
	    LETHE_E_INVALID);
	assert_int_equal(
	    meta_callback_verify(VEC_SR, strlen(VEC_SR), key(VEC_SECRET), 3, 0, 0, &p, &err),
	    LETHE_OK);
}

/* With a maximum age, issued_at must be there and within it, either way. */
static void
test_callback_issued_at_window(void **state)
{
	const int64_t at = 1624244156; /* the vector's issued_at */
	struct sr_payload p;
	struct lethe_err err = {0};
	char *sr;

	(void)state;
	assert_int_equal(
	    meta_callback_verify(VEC_SR, strlen(VEC_SR), key(VEC_SECRET), 3, 60, at + 60, &p, &err),
	    LETHE_OK);
	assert_int_equal(
	    meta_callback_verify(VEC_SR, strlen(VEC_SR), key(VEC_SECRET), 3, 60, at - 60, &p, &err),
	    LETHE_OK);
	assert_int_equal(
	    meta_callback_verify(VEC_SR, strlen(VEC_SR), key(VEC_SECRET), 3, 60, at + 61, &p, &err),
	    LETHE_E_INVALID);
	assert_non_null(strstr(err.msg, "issued_at"));
	sr = sr_sign("{\"user_id\":\"5\",\"algorithm\":\"HMAC-SHA256\"}", 41, key("k"), 1);
	assert_non_null(sr);
	assert_int_equal(meta_callback_verify(sr, strlen(sr), key("k"), 1, 60, at, &p, &err),
	                 LETHE_E_INVALID);
	assert_int_equal(meta_callback_verify(sr, strlen(sr), key("k"), 1, 0, at, &p, &err),
	                 LETHE_OK);
	free(sr);
}

/* A Page removal (user_id "0") is about its profile_id; otherwise the user_id. */
static void
test_callback_id(void **state)
{
	struct sr_payload p;

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.user_id, sizeof(p.user_id), "0");
	snprintf(p.profile_id, sizeof(p.profile_id), "777");
	assert_string_equal(meta_callback_id(&p), "777");
	snprintf(p.user_id, sizeof(p.user_id), "123");
	assert_string_equal(meta_callback_id(&p), "123");
	snprintf(p.user_id, sizeof(p.user_id), "0");
	p.profile_id[0] = '\0';
	assert_string_equal(meta_callback_id(&p), "0");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sr_vector_verifies),
	    cmocka_unit_test(test_sr_vector_signs),
	    cmocka_unit_test(test_sr_meta_sample_round_trip),
	    cmocka_unit_test(test_sr_not_nul_terminated),
	    cmocka_unit_test(test_sr_long_secret),
	    cmocka_unit_test(test_sr_padding_accepted),
	    cmocka_unit_test(test_sr_padding_is_signed),
	    cmocka_unit_test(test_sr_padding_malformed),
	    cmocka_unit_test(test_sr_wrong_secret),
	    cmocka_unit_test(test_sr_tampered_payload),
	    cmocka_unit_test(test_sr_tampered_signature),
	    cmocka_unit_test(test_sr_signature_length),
	    cmocka_unit_test(test_sr_empty_secret),
	    cmocka_unit_test(test_sr_truncated),
	    cmocka_unit_test(test_sr_non_base64_chars),
	    cmocka_unit_test(test_sr_huge_input),
	    cmocka_unit_test(test_sr_size_boundary),
	    cmocka_unit_test(test_sr_wrong_algorithm),
	    cmocka_unit_test(test_sr_fast_and_full_parsers_agree),
	    cmocka_unit_test(test_sr_base64_strict),
	    cmocka_unit_test(test_sr_user_id_number),
	    cmocka_unit_test(test_sr_user_id_missing),
	    cmocka_unit_test(test_sr_user_id_charset),
	    cmocka_unit_test(test_sr_unknown_fields_ignored),
	    cmocka_unit_test(test_sr_profile_id_parsed),
	    cmocka_unit_test(test_sr_issued_at_parsed),
	    cmocka_unit_test(test_sr_issued_at_not_integer),
	    cmocka_unit_test(test_sr_payload_not_object),
	    cmocka_unit_test(test_sr_payload_nul_byte),
	    cmocka_unit_test(test_sr_duplicate_keys),
	    cmocka_unit_test(test_sr_depth_capped),
	    cmocka_unit_test(test_sr_errors_hold_no_secrets),
	    cmocka_unit_test(test_sr_out_cleared_on_failure),
	    cmocka_unit_test(test_callback_forged_is_invalid),
	    cmocka_unit_test(test_callback_issued_at_window),
	    cmocka_unit_test(test_callback_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
