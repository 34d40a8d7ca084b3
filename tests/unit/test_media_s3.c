/* SPDX-License-Identifier: MIT */
/*
 * test_media_s3.c - unit tests of the S3 kind's parts that need no server:
 * MD5 (RFC 1321's test suite), SigV4 (AWS's published S3 examples), the
 * URI encoding of keys, the reader of S3's XML answers, the URLs built
 * path-style and virtual-host style, and the parsing of `type: s3` stores.
 * The exchange with a server is tests/e2e's (s3rver behind a verifying front).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "media/media_sigv4.h"
#include "util/md5.h"

static void
md5_hex(const char *s, char out[33])
{
	uint8_t d[MD5_BYTES];

	md5_sum(s, strlen(s), d);
	sodium_bin2hex(out, 33, d, sizeof(d));
}

/* RFC 1321, appendix A.5 "Test suite". */
static void
test_md5_rfc1321_suite(void **state)
{
	static const char *const v[][2] = {
	    {"", "d41d8cd98f00b204e9800998ecf8427e"},
	    {"a", "0cc175b9c0f1b6a831c399e269772661"},
	    {"abc", "900150983cd24fb0d6963f7d28e17f72"},
	    {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
	    {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
	    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	     "d174ab98d277d9f5a5611c2c9f419d9f"},
	    {"1234567890123456789012345678901234567890123456789012345678901234567890123456789"
	     "0",
	     "57edf4a22be3c955ac49da2e2107b67a"},
	};
	char hex[33];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		md5_hex(v[i][0], hex);
		assert_string_equal(hex, v[i][1]);
	}
}

/* Lengths around the padding's edges (55, 56, 63, 64, 65 bytes) against a second count. */
static void
test_md5_block_edges(void **state)
{
	/* md5 of 'a' repeated n times, from Python's hashlib. */
	static const struct {
		size_t n;
		const char *hex;
	} v[] = {
	    {55, "ef1772b6dff9a122358552954ad0df65"}, {56, "3b0c8ac703f828b04c6c197006d17218"},
	    {63, "b06521f39153d618550606be297466d5"}, {64, "014842d480b571495a4a0363793f7367"},
	    {65, "c743a45e0d2e6a95cb859adae0248435"},
	};
	char s[80], hex[33];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(s, 'a', v[i].n);
		s[v[i].n] = '\0';
		md5_hex(s, hex);
		assert_string_equal(hex, v[i].hex);
	}
}

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EX_KEY "AKIAIOSFODNN7EXAMPLE"
#define EX_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static void
want_sig(const char *method, const char *uri, const char *query, const struct media_sigv4_hdr *h,
         size_t nh, const char *payload, const char *auth)
{
	struct media_sigv4 s = {.method = method,
	                        .uri = uri,
	                        .query = query,
	                        .hdrs = h,
	                        .n_hdrs = nh,
	                        .payload_sha256 = payload,
	                        .access_key = EX_KEY,
	                        .secret = EX_SECRET,
	                        .region = "us-east-1",
	                        .service = "s3",
	                        .amz_date = "20130524T000000Z"};
	struct lethe_err err = {0};
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(media_sigv4_sign(&s, &b, &err), LETHE_OK);
	assert_string_equal(buf_str(&b), auth);
	buf_free(&b);
}

/*
 * The four examples of "Signature Calculations for the Authorization
 * Header: Transferring Payload in a Single Chunk (AWS Signature Version 4)",
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 * (examplebucket, AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, us-east-1).
 */
static void
test_sigv4_aws_get_object(void **state)
{
	const struct media_sigv4_hdr h[] = {
	    {"host", "examplebucket.s3.amazonaws.com"},
	    {"range", "bytes=0-9"},
	    {"x-amz-content-sha256", EMPTY_SHA},
	    {"x-amz-date", "20130524T000000Z"},
	};
	struct media_sigv4 s = {.method = "GET",
	                        .uri = "/test.txt",
	                        .query = "",
	                        .hdrs = h,
	                        .n_hdrs = 4,
	                        .payload_sha256 = EMPTY_SHA};
	char hex[SIGV4_HEX_BYTES];
	struct buf b;

	(void)state;
	/* The canonical request's hash, as the example's StringToSign shows it. */
	buf_init(&b, 4096);
	assert_int_equal(media_sigv4_canonical(&s, &b, NULL), LETHE_OK);
	media_sigv4_sha256_hex(buf_str(&b), b.len, hex);
	assert_string_equal(hex,
	                    "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	buf_free(&b);
	want_sig("GET", "/test.txt", "", h, 4, EMPTY_SHA,
	         "AWS4-HMAC-SHA256 Credential=" EX_KEY "/20130524/us-east-1/s3/aws4_request,"
	         "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
	         "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void
test_sigv4_aws_put_object(void **state)
{
	const char *payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
	/* Given in another order than the canonical one: the signer sorts. */
	const struct media_sigv4_hdr h[] = {
	    {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
	    {"host", "examplebucket.s3.amazonaws.com"},
	    {"date", "Fri, 24 May 2013 00:00:00 GMT"},
	    {"x-amz-date", "20130524T000000Z"},
	    {"x-amz-content-sha256", payload},
	};
	char hex[SIGV4_HEX_BYTES];
	struct buf key;

	(void)state;
	media_sigv4_sha256_hex("Welcome to Amazon S3.", 21, hex);
	assert_string_equal(hex, payload);
	/* The example's key "test$file.text" encodes to /test%24file.text. */
	buf_init(&key, 256);
	assert_int_equal(buf_add(&key, "/", 1), LETHE_OK);
	assert_int_equal(media_sigv4_encode(&key, "test$file.text", 14, true), LETHE_OK);
	assert_string_equal(buf_str(&key), "/test%24file.text");
	want_sig("PUT", buf_str(&key), "", h, 5, payload,
	         "AWS4-HMAC-SHA256 Credential=" EX_KEY "/20130524/us-east-1/s3/aws4_request,"
	         "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
	         "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	buf_free(&key);
}

static void
test_sigv4_aws_bucket_lifecycle(void **state)
{
	const struct media_sigv4_hdr h[] = {
	    {"host", "examplebucket.s3.amazonaws.com"},
	    {"x-amz-date", "20130524T000000Z"},
	    {"x-amz-content-sha256", EMPTY_SHA},
	};

	(void)state;
	/* A parameter without a value signs as "lifecycle=" (as our "delete" does). */
	want_sig("GET", "/", "lifecycle", h, 3, EMPTY_SHA,
	         "AWS4-HMAC-SHA256 Credential=" EX_KEY "/20130524/us-east-1/s3/aws4_request,"
	         "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
	         "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

static void
test_sigv4_aws_list_objects(void **state)
{
	const struct media_sigv4_hdr h[] = {
	    {"host", "examplebucket.s3.amazonaws.com"},
	    {"x-amz-date", "20130524T000000Z"},
	    {"x-amz-content-sha256", EMPTY_SHA},
	};

	(void)state;
	/* Given out of order: the canonical query sorts by name. */
	want_sig("GET", "/", "prefix=J&max-keys=2", h, 3, EMPTY_SHA,
	         "AWS4-HMAC-SHA256 Credential=" EX_KEY "/20130524/us-east-1/s3/aws4_request,"
	         "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
	         "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* The canonical request's shape: query sorted by name then value, header values folded. */
static void
test_sigv4_canonical_details(void **state)
{
	const struct media_sigv4_hdr h[] = {
	    {"x-amz-date", "20130524T000000Z"},
	    {"host", "  h.example   with  spaces  "},
	};
	const struct media_sigv4_hdr bad[] = {{"Host", "h"}};
	struct media_sigv4 s = {.method = "POST",
	                        .uri = "/b/k",
	                        .query = "b=2&a-=1&a=2&a=1&delete",
	                        .hdrs = h,
	                        .n_hdrs = 2,
	                        .payload_sha256 = "P"};
	struct lethe_err err = {0};
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(media_sigv4_canonical(&s, &b, NULL), LETHE_OK);
	assert_string_equal(buf_str(&b),
	                    "POST\n/b/k\na=1&a=2&a-=1&b=2&delete=\n"
	                    "host:h.example with spaces\nx-amz-date:20130524T000000Z\n\n"
	                    "host;x-amz-date\nP");
	s.hdrs = bad;
	s.n_hdrs = 1;
	assert_int_equal(media_sigv4_canonical(&s, &b, &err), LETHE_E_INVALID);
	buf_free(&b);
}

static void
test_sigv4_encode(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(media_sigv4_encode(&b, "u17/a b+c=d~e_f.g-h/\xc3\xa9*", 23, true),
	                 LETHE_OK);
	assert_string_equal(buf_str(&b), "u17/a%20b%2Bc%3Dd~e_f.g-h/%C3%A9%2A");
	buf_reset(&b);
	assert_int_equal(media_sigv4_encode(&b, "a/b", 3, false), LETHE_OK);
	assert_string_equal(buf_str(&b), "a%2Fb");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_md5_rfc1321_suite),
	    cmocka_unit_test(test_md5_block_edges),
	    cmocka_unit_test(test_sigv4_aws_get_object),
	    cmocka_unit_test(test_sigv4_aws_put_object),
	    cmocka_unit_test(test_sigv4_aws_bucket_lifecycle),
	    cmocka_unit_test(test_sigv4_aws_list_objects),
	    cmocka_unit_test(test_sigv4_canonical_details),
	    cmocka_unit_test(test_sigv4_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
