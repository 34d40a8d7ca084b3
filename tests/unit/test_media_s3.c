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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <sodium.h>

#include "media/media.h"
#include "media/media_http.h"
#include "media/media_internal.h"
#include "media/media_s3.h"
#include "media/media_sigv4.h"
#include "util/md5.h"
#include "util/mem.h"

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

/* ---- the XML reader ---------------------------------------------------------------- */

static lethe_rc
delete_result(const char *xml, const char *const *keys, size_t n, char (*codes)[MEDIA_S3_CODE_MAX],
              struct lethe_err *err)
{
	return media_s3_delete_result(xml, strlen(xml), keys, n, codes, err);
}

static void
test_s3_xml_delete_result(void **state)
{
	const char *keys[] = {"u17/a.jpg", "u17/b&c <d>.jpg", "u17/\xc3\xa9\xe2\x82\xac.png", "x"};
	char codes[4][MEDIA_S3_CODE_MAX];
	struct lethe_err err = {0};

	(void)state;
	/* As S3 answers: declaration, namespace, pretty-printed, a Deleted entry too. */
	assert_int_equal(
	    delete_result("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                  "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	                  "  <Deleted><Key>u17/a.jpg</Key></Deleted>\n"
	                  "  <Error>\n"
	                  "    <Key>u17/b&amp;c &lt;d&gt;.jpg</Key>\n"
	                  "    <Code>AccessDenied</Code>\n"
	                  "    <Message>Access Denied</Message>\n"
	                  "  </Error>\n"
	                  "  <Error><Key>u17/&#233;&#x20AC;.png</Key>"
	                  "<Code>InternalError</Code><Message>x</Message></Error>\n"
	                  "</DeleteResult>\n",
	                  keys, 4, codes, &err),
	    LETHE_OK);
	assert_string_equal(codes[0], "");
	assert_string_equal(codes[1], "AccessDenied");
	assert_string_equal(codes[2], "InternalError");
	assert_string_equal(codes[3], "");
	/* Quiet mode with nothing failed: an empty result, also self-closing. */
	assert_int_equal(delete_result("<DeleteResult/>", keys, 4, codes, &err), LETHE_OK);
	for (int i = 0; i < 4; i++)
		assert_string_equal(codes[i], "");
	/* A code that is not a plain word is not repeated. */
	assert_int_equal(delete_result("<DeleteResult><Error><Key>x</Key><Code>a b</Code></Error>"
	                               "</DeleteResult>",
	                               keys, 4, codes, &err),
	                 LETHE_OK);
	assert_string_equal(codes[3], "Unknown");
}

static void
want_bad(const char *xml, const char *what)
{
	const char *keys[] = {"k"};
	char codes[1][MEDIA_S3_CODE_MAX];
	struct lethe_err err = {0};

	assert_int_equal(delete_result(xml, keys, 1, codes, &err), LETHE_E_INVALID);
	if (strstr(err.msg, what) == NULL)
		fail_msg("'%s' lacks '%s' for %s", err.msg, what, xml);
	/* The message never quotes the document (which names keys). */
	assert_null(strstr(err.msg, "<"));
}

static void
test_s3_xml_refusals(void **state)
{
	char deep[400] = "";

	(void)state;
	want_bad("", "no root element");
	want_bad("<Error><Code>AccessDenied</Code></Error>", "not a DeleteResult");
	want_bad("<DeleteResult><Error><Key>other</Key><Code>X</Code></Error></DeleteResult>",
	         "a key that was not sent");
	want_bad("<DeleteResult><Error><Code>X</Code></Error></DeleteResult>", "without a Key");
	want_bad("<DeleteResult><Error><Key>&nbsp;</Key></Error></DeleteResult>", "entity");
	want_bad("<DeleteResult><Error><Key>&#0;</Key></Error></DeleteResult>", "entity");
	want_bad("<DeleteResult><Error><Key>&#xD800;</Key></Error></DeleteResult>", "entity");
	want_bad("<DeleteResult><Error><Key>&amp</Key></Error></DeleteResult>", "entity");
	want_bad("<!DOCTYPE x [<!ENTITY a \"b\">]><DeleteResult/>", "DOCTYPE");
	want_bad("<DeleteResult><!-- c --></DeleteResult>", "comment");
	want_bad("<DeleteResult><Error><Key><![CDATA[k]]></Key></Error></DeleteResult>", "CDATA");
	want_bad("<DeleteResult>text<Error/></DeleteResult>", "mixed content");
	want_bad("<DeleteResult><Error></DeleteResult></Error>", "does not match");
	want_bad("<DeleteResult><Error>", "unclosed");
	want_bad("<DeleteResult/><DeleteResult/>", "second root");
	want_bad("<DeleteResult/>junk", "outside the root");
	want_bad("<DeleteResult a=b/>", "attribute");
	want_bad("<DeleteResult a=\"b/>", "attribute");
	want_bad("<?xml version=\"1.0\"", "declaration");
	for (int i = 0; i < 17; i++)
		strncat(deep, "<a>", sizeof(deep) - strlen(deep) - 1);
	want_bad(deep, "too deep");
}

static void
test_s3_xml_error_code(void **state)
{
	char code[MEDIA_S3_CODE_MAX];
	const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
	                  "<Message>Please reduce your request rate.</Message>"
	                  "<RequestId>1</RequestId></Error>";

	(void)state;
	media_s3_error_code(doc, strlen(doc), code);
	assert_string_equal(code, "SlowDown");
	media_s3_error_code("<html>oops", 10, code);
	assert_string_equal(code, "");
	media_s3_error_code("", 0, code);
	assert_string_equal(code, "");
}

static void
test_s3_xml_escape_round_trip(void **state)
{
	const char *keys[] = {"a&b<c>d\"e'f"};
	char codes[1][MEDIA_S3_CODE_MAX];
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(buf_adds(&b, "<DeleteResult><Error><Key>"), LETHE_OK);
	assert_int_equal(media_s3_xml_escape(&b, keys[0]), LETHE_OK);
	assert_int_equal(buf_adds(&b, "</Key><Code>Nope</Code></Error></DeleteResult>"), LETHE_OK);
	assert_non_null(strstr(buf_str(&b), "a&amp;b&lt;c&gt;d&quot;e&apos;f"));
	assert_int_equal(media_s3_delete_result(buf_str(&b), b.len, keys, 1, codes, NULL),
	                 LETHE_OK);
	assert_string_equal(codes[0], "Nope");
	buf_free(&b);
}

/* ---- lethe.yaml and targets -------------------------------------------------------- */

static lethe_rc
parse(const char *yaml, struct media_set **out, struct lethe_err *err)
{
	struct ydoc y;
	lethe_rc rc;

	memset(err, 0, sizeof(*err));
	rc = ydoc_load(&y, "lethe.yaml", yaml, LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = media_set_parse("/etc/lethe", NULL, &y, ydoc_root(&y), out, err);
	ydoc_free(&y);
	return rc;
}

static void
want_target(const struct media_store *m, const char *key, const char *query, const char *url,
            const char *uri, const char *host)
{
	struct buf u, c, h;

	buf_init(&u, 8192);
	buf_init(&c, 8192);
	buf_init(&h, 512);
	assert_int_equal(media_s3_target(m, key, query, &u, &c, &h), LETHE_OK);
	assert_string_equal(buf_str(&u), url);
	assert_string_equal(buf_str(&c), uri);
	assert_string_equal(buf_str(&h), host);
	buf_free(&u);
	buf_free(&c);
	buf_free(&h);
}

static void
test_s3_parse_and_targets(void **state)
{
	struct media_set *s = NULL;
	struct lethe_err err;
	const struct media_store *m;

	(void)state;
	assert_int_equal(parse("media_stores:\n"
	                       "  uploads:\n"
	                       "    type: s3\n"
	                       "    bucket: app-media\n"
	                       "    region: eu-west-1\n"
	                       "    prefix: p/\n"
	                       "    credentials_env: AWS\n"
	                       "  minio:\n"
	                       "    type: s3\n"
	                       "    bucket: Bkt_1\n"
	                       "    region: us-east-1\n"
	                       "    endpoint: http://127.0.0.1:9000/\n"
	                       "    path_style: true\n"
	                       "    credentials_file: secrets/minio\n"
	                       "    retries: 1\n",
	                       &s, &err),
	                 LETHE_OK);
	m = media_set_get(s, "uploads");
	assert_non_null(m);
	assert_int_equal(media_store_kind(m), MEDIA_S3);
	assert_int_equal(media_store_batch(m), 1000);
	assert_false(media_store_probe_cheap(m));
	assert_string_equal(media_store_where(m),
	                    "s3 bucket app-media at https://s3.eu-west-1.amazonaws.com");
	/* Virtual-host style: the bucket in the host; a key's segments encoded, '/' kept. */
	want_target(m, "p/u17/a b+c=d~.jpg", "",
	            "https://app-media.s3.eu-west-1.amazonaws.com/p/u17/a%20b%2Bc%3Dd~.jpg",
	            "/p/u17/a%20b%2Bc%3Dd~.jpg", "app-media.s3.eu-west-1.amazonaws.com");
	want_target(m, NULL, "delete", "https://app-media.s3.eu-west-1.amazonaws.com/?delete", "/",
	            "app-media.s3.eu-west-1.amazonaws.com");
	m = media_set_get(s, "minio");
	assert_non_null(m);
	assert_string_equal(media_store_where(m), "s3 bucket Bkt_1 at http://127.0.0.1:9000");
	assert_string_equal(m->u.s3.credentials.file, "/etc/lethe/secrets/minio");
	assert_int_equal(m->retries, 1);
	/* Path style: the bucket in the path, the port in Host. */
	want_target(m, "u17/\xc3\xa9.png", "", "http://127.0.0.1:9000/Bkt_1/u17/%C3%A9.png",
	            "/Bkt_1/u17/%C3%A9.png", "127.0.0.1:9000");
	want_target(m, NULL, "delete", "http://127.0.0.1:9000/Bkt_1?delete", "/Bkt_1",
	            "127.0.0.1:9000");
	media_set_free(s);
}

static void
s3_parse_fails(const char *body, const char *what)
{
	struct media_set *s = NULL;
	struct lethe_err err;
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), "media_stores:\n  up:\n    type: s3\n%s", body);
	assert_int_equal(parse(yaml, &s, &err), LETHE_E_CONFIG);
	assert_null(s);
	if (strstr(err.msg, what) == NULL || strstr(err.msg, "lethe.yaml:") == NULL)
		fail_msg("expected '%s' in: %s", what, err.msg);
}

static void
test_s3_parse_errors(void **state)
{
	(void)state;
	s3_parse_fails("    bucket: b1b\n    credentials_env: AWS\n", "region: required");
	s3_parse_fails("    bucket: b1b\n    region: EU\n    credentials_env: AWS\n",
	               "region: required");
	s3_parse_fails("    region: r\n    credentials_env: AWS\n", "bucket: required");
	s3_parse_fails("    bucket: My_Bucket\n    region: r\n    credentials_env: AWS\n",
	               "path_style: true");
	s3_parse_fails("    bucket: b1b\n    region: r\n    endpoint: ftp://h\n"
	               "    credentials_env: AWS\n",
	               "endpoint: expected");
	s3_parse_fails("    bucket: b1b\n    region: r\n    endpoint: https://u:p@h\n"
	               "    credentials_env: AWS\n",
	               "endpoint: expected");
	s3_parse_fails("    bucket: b1b\n    region: r\n    endpoint: https://h/path\n"
	               "    credentials_env: AWS\n",
	               "endpoint: expected");
	s3_parse_fails("    bucket: b1b\n    region: r\n    path_style: yes\n"
	               "    credentials_env: AWS\n",
	               "path_style: expected true or false");
	s3_parse_fails("    bucket: b1b\n    region: r\n    prefix: \"a\\tb\"\n"
	               "    credentials_env: AWS\n",
	               "prefix:");
	s3_parse_fails("    bucket: b1b\n    region: r\n", "credentials_env or credentials_file");
	/* Dots and virtual hosts on https: AWS's wildcard certificate would refuse the host. */
	s3_parse_fails("    bucket: media.example.com\n    region: r\n    credentials_env: AWS\n",
	               "bucket: a name with dots cannot be reached over https in the virtual-host "
	               "style");
	s3_parse_fails("    bucket: a.b\n    region: r\n    endpoint: https://minio.example:9000\n"
	               "    credentials_env: AWS\n",
	               "set path_style: true");
	s3_parse_fails("    bucket: b1b\n    region: r\n    credentials_env: AWS\n    bukket: x\n",
	               "unknown key 'bukket'");
}

/* media_set_check(): credentials readable and of the right form; never a value in a message. */
static void
test_s3_check_credentials(void **state)
{
	struct media_set *s = NULL;
	struct lethe_err err;

	(void)state;
	assert_int_equal(parse("media_stores:\n  up:\n    type: s3\n    bucket: b1b\n"
	                       "    region: r\n    credentials_env: LETHE_T_S3\n",
	                       &s, &err),
	                 LETHE_OK);
	unsetenv("LETHE_T_S3");
	assert_int_equal(media_set_check(s, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "LETHE_T_S3"));
	setenv("LETHE_T_S3", "AKIDONLYNOSECRET", 1);
	assert_int_equal(media_set_check(s, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "ACCESS_KEY_ID:SECRET_ACCESS_KEY"));
	assert_null(strstr(err.msg, "AKIDONLYNOSECRET"));
	setenv("LETHE_T_S3", "AKID:sec ret", 1);
	assert_int_equal(media_set_check(s, &err), LETHE_E_CONFIG);
	assert_null(strstr(err.msg, "sec ret"));
	setenv("LETHE_T_S3", "AKID:wJalr/K7+EXAMPLE", 1);
	assert_int_equal(media_set_check(s, &err), LETHE_OK);
	setenv("LETHE_T_S3", " AKID:wJalr/K7+EXAMPLE:FwoGZX//token= \n", 1);
	assert_int_equal(media_set_check(s, &err), LETHE_OK);
	unsetenv("LETHE_T_S3");
	media_set_free(s);
}

/* Keys S3 cannot hold: never sent; an empty or overlong one is gone, a control character refused.
 */
static void
test_s3_unnameable_keys(void **state)
{
	struct media_set *s = NULL;
	struct lethe_err err;
	const struct media_store *m;
	char longkey[1100];
	const char *keys[3];
	enum media_outcome out[3];
	enum media_presence pr[3];
	int fd = -1;
	int64_t size = 0;

	(void)state;
	/* An endpoint nothing listens on: a key that were sent would fail the call. */
	assert_int_equal(parse("media_stores:\n  up:\n    type: s3\n    bucket: b1b\n"
	                       "    region: r\n    endpoint: http://127.0.0.1:1\n"
	                       "    path_style: true\n    retries: 0\n"
	                       "    credentials_env: LETHE_T_S3K\n",
	                       &s, &err),
	                 LETHE_OK);
	setenv("LETHE_T_S3K", "AKID:secret", 1);
	m = media_set_get(s, "up");
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	keys[0] = "";
	keys[1] = longkey;
	assert_int_equal(media_remove(m, keys, 2, out, &err), LETHE_OK);
	assert_int_equal(out[0], MEDIA_GONE);
	assert_int_equal(out[1], MEDIA_GONE);
	assert_int_equal(media_probe(m, keys, 2, pr, &err), LETHE_OK);
	assert_int_equal(pr[0], MEDIA_ABSENT);
	assert_int_equal(pr[1], MEDIA_ABSENT);
	keys[2] = "u17/a\tb";
	assert_int_equal(media_remove(m, keys, 3, out, &err), LETHE_E_INVALID);
	assert_int_equal(out[2], MEDIA_FAILED);
	assert_non_null(strstr(err.msg, "control character"));
	assert_int_equal(media_open(m, "u17/a\nb", "/tmp", 100, &fd, &size, &err),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(fd, -1);
	/* A sendable key against nothing listening: UNAVAILABLE, naming the store, not the key. */
	keys[0] = "u17/secret-name.jpg";
	assert_int_equal(media_remove(m, keys, 1, out, &err), LETHE_E_UNAVAILABLE);
	assert_int_equal(out[0], MEDIA_FAILED);
	assert_non_null(strstr(err.msg, "media store 'up'"));
	assert_null(strstr(err.msg, "secret-name"));
	assert_int_equal(media_probe(m, keys, 1, pr, &err), LETHE_E_UNAVAILABLE);
	assert_int_equal(pr[0], MEDIA_UNKNOWN);
	unsetenv("LETHE_T_S3K");
	media_set_free(s);
}

/* ---- against a scripted fake (libmicrohttpd on loopback) ---------------------------- */

/* One scripted answer. */
struct answer {
	unsigned status;         /* HTTP status */
	const char *body;        /* its body ("" for none) */
	const char *retry_after; /* Retry-After value, or NULL */
};

/* The fake: answers in order (the last one repeats), and what it saw. */
struct fake {
	struct MHD_Daemon *d;     /* the server */
	int port;                 /* its port */
	pthread_mutex_t mu;       /* guards the rest */
	const struct answer *ans; /* the script */
	size_t n_ans;             /* its length */
	size_t calls;             /* requests answered */
	char method[8];           /* the last request's method */
	char url[256];            /* its path */
	char md5[64];             /* its Content-MD5, "" if none */
	bool signed_ok;           /* it had Authorization, x-amz-date and x-amz-content-sha256 */
	char body[8192];          /* its body */
	size_t body_len;          /* bytes of body */
};

static struct fake fk;

static enum MHD_Result
fake_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
             const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct MHD_Response *r;
	const struct answer *a;
	const char *v;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (*con_cls == NULL) {
		*con_cls = &fk;
		pthread_mutex_lock(&fk.mu);
		fk.body_len = 0;
		fk.body[0] = '\0';
		pthread_mutex_unlock(&fk.mu);
		return MHD_YES;
	}
	pthread_mutex_lock(&fk.mu);
	if (*upload_size > 0) {
		size_t n = *upload_size < sizeof(fk.body) - 1 - fk.body_len
		               ? *upload_size
		               : sizeof(fk.body) - 1 - fk.body_len;

		memcpy(fk.body + fk.body_len, upload, n);
		fk.body_len += n;
		fk.body[fk.body_len] = '\0';
		*upload_size = 0;
		pthread_mutex_unlock(&fk.mu);
		return MHD_YES;
	}
	a = &fk.ans[fk.calls < fk.n_ans ? fk.calls : fk.n_ans - 1];
	fk.calls++;
	snprintf(fk.method, sizeof(fk.method), "%s", method);
	snprintf(fk.url, sizeof(fk.url), "%s", url);
	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-MD5");
	snprintf(fk.md5, sizeof(fk.md5), "%s", v != NULL ? v : "");
	fk.signed_ok =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization") != NULL &&
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-date") != NULL &&
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-content-sha256") != NULL;
	pthread_mutex_unlock(&fk.mu);
	r = MHD_create_response_from_buffer(strlen(a->body), (void *)a->body,
	                                    MHD_RESPMEM_PERSISTENT);
	if (a->retry_after != NULL)
		MHD_add_response_header(r, "Retry-After", a->retry_after);
	ret = MHD_queue_response(c, a->status, r);
	MHD_destroy_response(r);
	return ret;
}

static int
fake_setup(void **state)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sa;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&fk.mu, NULL);
	fk.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                        fake_handler, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	if (fk.d == NULL)
		return -1;
	info = MHD_get_daemon_info(fk.d, MHD_DAEMON_INFO_BIND_PORT);
	fk.port = info->port;
	setenv("LETHE_T_S3F", "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
	return 0;
}

static int
fake_teardown(void **state)
{
	(void)state;
	MHD_stop_daemon(fk.d);
	pthread_mutex_destroy(&fk.mu);
	unsetenv("LETHE_T_S3F");
	return 0;
}

/* A store at the fake (prefix "p/", 2 retries, 1 ms backoff) and the script it answers with. */
static struct media_set *
fake_store(const struct answer *ans, size_t n, const struct media_store **m)
{
	struct media_set *s = NULL;
	struct lethe_err err;
	char yaml[512];

	fk.ans = ans;
	fk.n_ans = n;
	fk.calls = 0;
	snprintf(yaml, sizeof(yaml),
	         "media_stores:\n  up:\n    type: s3\n    bucket: bkt\n    region: us-east-1\n"
	         "    endpoint: http://127.0.0.1:%d\n    path_style: true\n    prefix: p/\n"
	         "    retries: 2\n    backoff_ms: 1\n    credentials_env: LETHE_T_S3F\n",
	         fk.port);
	assert_int_equal(parse(yaml, &s, &err), LETHE_OK);
	*m = media_set_get(s, "up");
	return s;
}

#define DR_OPEN                                                                                    \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult "                               \
	"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"

/* DeleteObjects: the body, its Content-MD5, the prefix; keys failing transiently sent again. */
static void
test_s3_remove_resends_transient_keys(void **state)
{
	static const struct answer ans[] = {
	    {200,
	     DR_OPEN "<Error><Key>p/b &amp; c</Key><Code>InternalError</Code><Message>m</Message>"
	             "</Error></DeleteResult>",
	     NULL},
	    {200, DR_OPEN "</DeleteResult>", NULL},
	};
	const char *keys[] = {"a", "b & c", "d"};
	enum media_outcome out[3];
	const struct media_store *m;
	struct media_set *s = fake_store(ans, 2, &m);
	struct lethe_err err = {0};
	uint8_t d[MD5_BYTES];
	char b64[32];

	(void)state;
	assert_int_equal(media_remove(m, keys, 3, out, &err), LETHE_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(out[i], MEDIA_REMOVED);
	assert_int_equal(fk.calls, 2);
	assert_string_equal(fk.method, "POST");
	assert_string_equal(fk.url, "/bkt");
	assert_true(fk.signed_ok);
	/* The second call carries only the key that failed, escaped, with the prefix. */
	assert_non_null(strstr(fk.body, "<Quiet>true</Quiet><Object><Key>p/b &amp; c</Key></Object>"
	                                "</Delete>"));
	assert_null(strstr(fk.body, "<Key>p/a</Key>"));
	md5_sum(fk.body, fk.body_len, d);
	sodium_bin2base64(b64, sizeof(b64), d, sizeof(d), sodium_base64_VARIANT_ORIGINAL);
	assert_string_equal(fk.md5, b64);
	media_set_free(s);
}

/* A whole call throttled is tried again (Retry-After honoured); to the end it fails the keys. */
static void
test_s3_remove_whole_call_retries(void **state)
{
	static const struct answer slow[] = {
	    {503, "<Error><Code>SlowDown</Code><Message>Please reduce</Message></Error>", "0"},
	    {200, DR_OPEN "</DeleteResult>", NULL},
	};
	static const struct answer down[] = {
	    {500, "<Error><Code>InternalError</Code></Error>", NULL}};
	const char *keys[] = {"u17/secret-name.jpg"};
	enum media_outcome out[1];
	const struct media_store *m;
	struct media_set *s = fake_store(slow, 2, &m);
	struct lethe_err err = {0};

	(void)state;
	assert_int_equal(media_remove(m, keys, 1, out, &err), LETHE_OK);
	assert_int_equal(out[0], MEDIA_REMOVED);
	assert_int_equal(fk.calls, 2);
	media_set_free(s);
	s = fake_store(down, 1, &m);
	assert_int_equal(media_remove(m, keys, 1, out, &err), LETHE_E_UNAVAILABLE);
	assert_int_equal(out[0], MEDIA_FAILED);
	assert_int_equal(fk.calls, 3); /* the first try and 2 retries */
	assert_non_null(strstr(err.msg, "media store 'up' answered HTTP 500 InternalError"));
	assert_null(strstr(err.msg, "secret-name"));
	media_set_free(s);
}

/* Per-key AccessDenied: those keys FAILED, the rest REMOVED, LETHE_E_FORBIDDEN, no key named. */
static void
test_s3_remove_denied_and_garbage(void **state)
{
	static const struct answer denied[] = {
	    {200,
	     DR_OPEN "<Error><Key>p/u17/x.jpg</Key><Code>AccessDenied</Code><Message>Access Denied"
	             "</Message></Error></DeleteResult>",
	     NULL}};
	static const struct answer garbage[] = {{200, "<DeleteResult><Oops>", NULL}};
	static const struct answer forbidden[] = {
	    {403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", NULL}};
	static const struct answer nobucket[] = {
	    {404, "<Error><Code>NoSuchBucket</Code></Error>", NULL}};
	static const struct answer notfound[] = {{404, "", NULL}};
	struct media_set *s2;
	const char *keys[] = {"u17/x.jpg", "u17/y.jpg"};
	enum media_outcome out[2];
	const struct media_store *m;
	struct media_set *s = fake_store(denied, 1, &m);
	struct lethe_err err = {0};

	(void)state;
	assert_int_equal(media_remove(m, keys, 2, out, &err), LETHE_E_FORBIDDEN);
	assert_int_equal(out[0], MEDIA_FAILED);
	assert_int_equal(out[1], MEDIA_REMOVED);
	assert_int_equal(fk.calls, 1); /* AccessDenied is not worth another try */
	assert_non_null(strstr(err.msg, "1 of 2 objects not removed (AccessDenied 1)"));
	assert_null(strstr(err.msg, "u17"));
	media_set_free(s);
	s = fake_store(garbage, 1, &m);
	assert_int_equal(media_remove(m, keys, 2, out, &err), LETHE_E_UNAVAILABLE);
	assert_int_equal(out[0], MEDIA_FAILED);
	assert_int_equal(out[1], MEDIA_FAILED);
	assert_non_null(strstr(err.msg, "media store 'up': DeleteObjects: unexpected XML"));
	media_set_free(s);
	s = fake_store(forbidden, 1, &m);
	assert_int_equal(media_remove(m, keys, 2, out, &err), LETHE_E_FORBIDDEN);
	assert_int_equal(fk.calls, 1);
	assert_non_null(strstr(err.msg, "403 SignatureDoesNotMatch"));
	assert_non_null(strstr(err.msg, "s3:DeleteObject"));
	media_set_free(s);
	/* A 404 to DeleteObjects is the bucket's, never "no such object". */
	s = fake_store(nobucket, 1, &m);
	assert_int_equal(media_remove(m, keys, 2, out, &err), LETHE_E_UNAVAILABLE);
	assert_int_equal(out[0], MEDIA_FAILED);
	assert_non_null(strstr(err.msg, "404 NoSuchBucket"));
	s2 = fake_store(notfound, 1, &m);
	assert_int_equal(media_remove(m, keys, 2, out, &err), LETHE_E_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "check the bucket"));
	media_set_free(s);
	media_set_free(s2);
}

/*
 * Quiet DeleteObjects with every key deleted: AWS may answer 200 with an
 * empty body; that is every key REMOVED.  Only a 200: an empty 204 is no
 * DeleteResult and fails the keys.
 */
static void
test_s3_remove_empty_answer(void **state)
{
	static const struct answer empty[] = {{200, "", NULL}};
	static const struct answer nocontent[] = {{204, "", NULL}};
	const char *keys[] = {"u17/x.jpg", "u17/y.jpg"};
	enum media_outcome out[2];
	const struct media_store *m;
	struct media_set *s = fake_store(empty, 1, &m);
	struct lethe_err err = {0};

	(void)state;
	assert_int_equal(media_remove(m, keys, 2, out, &err), LETHE_OK);
	assert_int_equal(out[0], MEDIA_REMOVED);
	assert_int_equal(out[1], MEDIA_REMOVED);
	assert_int_equal(fk.calls, 1);
	media_set_free(s);
	s = fake_store(nocontent, 1, &m);
	assert_int_equal(media_remove(m, keys, 2, out, &err), LETHE_E_UNAVAILABLE);
	assert_int_equal(out[0], MEDIA_FAILED);
	assert_int_equal(out[1], MEDIA_FAILED);
	assert_non_null(strstr(err.msg, "DeleteObjects"));
	media_set_free(s);
}

/* HEAD per key: 200 present, 404 absent, a 500 asked again. */
static void
test_s3_probe_heads(void **state)
{
	static const struct answer ans[] = {
	    {200, "", NULL}, {200, "", NULL}, {404, "", NULL}, {500, "", NULL}, {200, "", NULL}};
	static const struct answer denied[] = {{403, "", NULL}};
	const char *keys[] = {"a", "b", "c"};
	enum media_presence out[3];
	const struct media_store *m;
	struct media_set *s = fake_store(ans, 5, &m);
	struct lethe_err err = {0};

	(void)state;
	assert_int_equal(media_probe(m, keys, 3, out, &err), LETHE_OK);
	assert_int_equal(out[0], MEDIA_PRESENT);
	assert_int_equal(out[1], MEDIA_ABSENT);
	assert_int_equal(out[2], MEDIA_PRESENT);
	assert_int_equal(fk.calls, 5); /* HeadBucket, then a HEAD per key (one retried) */
	assert_string_equal(fk.method, "HEAD");
	assert_string_equal(fk.url, "/bkt/p/c");
	media_set_free(s);
	/* 403: S3 says so for a missing key without s3:ListBucket; the message says that. */
	s = fake_store(denied, 1, &m);
	assert_int_equal(media_probe(m, keys, 3, out, &err), LETHE_E_FORBIDDEN);
	assert_int_equal(out[0], MEDIA_UNKNOWN);
	assert_int_equal(out[2], MEDIA_UNKNOWN);
	assert_int_equal(fk.calls, 1); /* the store refused: the other keys are not asked */
	assert_non_null(strstr(err.msg, "s3:ListBucket"));
	media_set_free(s);
}

/*
 * The probe's HeadBucket: a 404 (wrong bucket or endpoint) or a 301 (another
 * region) fails the probe with every key UNKNOWN; no object is asked, none
 * reads ABSENT.  Before, the 404s of the HEADs made every key ABSENT.
 */
static void
test_s3_probe_checks_the_bucket(void **state)
{
	static const struct answer nobucket[] = {{404, "", NULL}};
	static const struct answer moved[] = {{301, "", NULL}};
	const char *keys[] = {"u17/a.jpg", "u17/b.jpg"};
	enum media_presence out[2];
	const struct media_store *m;
	struct media_set *s = fake_store(nobucket, 1, &m);
	struct lethe_err err = {0};

	(void)state;
	assert_int_equal(media_probe(m, keys, 2, out, &err), LETHE_E_UNAVAILABLE);
	assert_int_equal(out[0], MEDIA_UNKNOWN);
	assert_int_equal(out[1], MEDIA_UNKNOWN);
	assert_int_equal(fk.calls, 1);
	assert_string_equal(fk.method, "HEAD");
	assert_string_equal(fk.url, "/bkt");
	assert_non_null(strstr(err.msg, "media store 'up': the bucket check (HeadBucket) answered "
	                                "HTTP 404: check the bucket"));
	assert_null(strstr(err.msg, "u17"));
	media_set_free(s);
	s = fake_store(moved, 1, &m);
	assert_int_equal(media_probe(m, keys, 2, out, &err), LETHE_E_UNAVAILABLE);
	assert_int_equal(out[0], MEDIA_UNKNOWN);
	assert_int_equal(fk.calls, 1);
	assert_non_null(strstr(err.msg, "HTTP 301"));
	media_set_free(s);
}

/* GET into an unlinked temporary file: the bytes, 404 NOTFOUND, over the cap TOOBIG. */
static void
test_s3_open_gets(void **state)
{
	static const struct answer ok[] = {{500, "", NULL}, {200, "the object's bytes", NULL}};
	static const struct answer gone[] = {{404, "<Error><Code>NoSuchKey</Code></Error>", NULL}};
	const struct media_store *m;
	struct media_set *s = fake_store(ok, 2, &m);
	struct lethe_err err = {0};
	char got[64] = "";
	int64_t size = 0;
	int fd = -1;

	(void)state;
	assert_int_equal(media_open(m, "u17/a.jpg", "/tmp", 1024, &fd, &size, &err), LETHE_OK);
	assert_int_equal(size, 18);
	assert_int_equal(read(fd, got, sizeof(got) - 1), 18);
	assert_string_equal(got, "the object's bytes");
	close(fd);
	assert_string_equal(fk.url, "/bkt/p/u17/a.jpg");
	assert_int_equal(fk.calls, 2);
	fk.calls = 0;
	assert_int_equal(media_open(m, "u17/a.jpg", "/tmp", 10, &fd, &size, &err), LETHE_E_TOOBIG);
	assert_int_equal(fd, -1);
	media_set_free(s);
	s = fake_store(gone, 1, &m);
	assert_int_equal(media_open(m, "u17/a.jpg", "/tmp", 1024, &fd, &size, &err),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(fd, -1);
	assert_int_equal(media_open(m, "u17/a.jpg", "/nonexistent-dir", 1024, &fd, &size, &err),
	                 LETHE_E_IO);
	media_set_free(s);
}

/* media_http(): Retry-After as seconds and as an HTTP date, the body cap, a safe error text. */
static void
test_media_http_exchange(void **state)
{
	static char date[64];
	static struct answer ans[] = {
	    {503, "", "7"}, {429, "", date}, {200, "0123456789abcdef", NULL}};
	struct media_http_resp r;
	const struct media_store *m;
	struct media_set *s;
	char url[128];
	time_t later = time(NULL) + 5;
	struct tm tm;
	CURLcode cc;

	(void)state;
	gmtime_r(&later, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	s = fake_store(ans, 3, &m);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", fk.port);
	media_http_resp_init(&r);
	cc = media_http(
	    m,
	    &(struct media_http_req){.method = "GET", .url = url, .out_fd = -1, .max_body = 1024},
	    &r);
	assert_int_equal(cc, CURLE_OK);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.retry_after_ms, 7000);
	assert_true(media_http_transient(&r));
	cc = media_http(
	    m,
	    &(struct media_http_req){.method = "GET", .url = url, .out_fd = -1, .max_body = 1024},
	    &r);
	assert_int_equal(r.status, 429);
	assert_in_range(r.retry_after_ms, 3000, 5000);
	/* Over the cap: the answer stands, too_big says so, nothing kept past it. */
	cc = media_http(
	    m, &(struct media_http_req){.method = "GET", .url = url, .out_fd = -1, .max_body = 8},
	    &r);
	assert_int_equal(cc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_true(r.too_big);
	assert_false(media_http_transient(&r));
	assert_true(r.body.len <= 8);
	cc = media_http(
	    m,
	    &(struct media_http_req){.method = "GET", .url = url, .out_fd = -1, .max_body = 1024},
	    &r);
	assert_false(r.too_big);
	assert_string_equal(buf_str(&r.body), "0123456789abcdef");
	/* No answer: transient, and the reason names no path or query (a key could be there). */
	cc = media_http(m,
	                &(struct media_http_req){.method = "GET",
	                                         .url = "http://127.0.0.1:1/u17/secret?x=y",
	                                         .out_fd = -1,
	                                         .max_body = 1024},
	                &r);
	assert_int_not_equal(cc, CURLE_OK);
	assert_int_equal(r.status, 0);
	assert_true(media_http_transient(&r));
	assert_true(r.error[0] != '\0');
	assert_null(strpbrk(r.error, "/?"));
	/* Neither a redirect followed nor a scheme other than http(s). */
	cc = media_http(
	    m,
	    &(struct media_http_req){
	        .method = "GET", .url = "file:///etc/passwd", .out_fd = -1, .max_body = 1024},
	    &r);
	assert_int_equal(cc, CURLE_UNSUPPORTED_PROTOCOL);
	media_http_resp_free(&r);
	media_set_free(s);
}

/* What media_wiped_hook saw: blocks of the token line's length, and whether all were zero. */
static struct {
	size_t token_lines; /* blocks as long as the token's header line */
	bool all_zero;      /* every byte of every block was zero */
} hw;
static size_t hw_len; /* the token line's length */

static void
hw_hook(const void *p, size_t n)
{
	const unsigned char *b = p;

	if (n == hw_len)
		hw.token_lines++;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			hw.all_zero = false;
}

/*
 * media_http() copies the caller's header lines (to add "Expect:"): its
 * copy of a session token is wiped before it is freed, as the caller's is.
 */
static void
test_media_http_wipes_headers(void **state)
{
	static const struct answer ans[] = {{200, "", NULL}};
	const char *line = "x-amz-security-token: the-session-token-0123456789";
	struct curl_slist *hdrs = curl_slist_append(NULL, line);
	struct media_http_resp r;
	const struct media_store *m;
	struct media_set *s = fake_store(ans, 1, &m);
	char url[128];

	(void)state;
	hw_len = strlen(line);
	memset(&hw, 0, sizeof(hw));
	hw.all_zero = true;
	media_wiped_hook = hw_hook;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", fk.port);
	media_http_resp_init(&r);
	assert_int_equal(
	    media_http(
	        m,
	        &(struct media_http_req){
	            .method = "GET", .url = url, .headers = hdrs, .out_fd = -1, .max_body = 64},
	        &r),
	    CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(hw.token_lines, 1); /* media_http's copy */
	media_http_headers_free(hdrs);       /* the caller's */
	assert_int_equal(hw.token_lines, 2);
	assert_true(hw.all_zero);
	media_wiped_hook = NULL;
	media_http_resp_free(&r);
	media_set_free(s);
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
	    cmocka_unit_test(test_s3_xml_delete_result),
	    cmocka_unit_test(test_s3_xml_refusals),
	    cmocka_unit_test(test_s3_xml_error_code),
	    cmocka_unit_test(test_s3_xml_escape_round_trip),
	    cmocka_unit_test(test_s3_parse_and_targets),
	    cmocka_unit_test(test_s3_parse_errors),
	    cmocka_unit_test(test_s3_check_credentials),
	    cmocka_unit_test(test_s3_unnameable_keys),
	    cmocka_unit_test(test_s3_remove_resends_transient_keys),
	    cmocka_unit_test(test_s3_remove_whole_call_retries),
	    cmocka_unit_test(test_s3_remove_denied_and_garbage),
	    cmocka_unit_test(test_s3_remove_empty_answer),
	    cmocka_unit_test(test_s3_probe_heads),
	    cmocka_unit_test(test_s3_probe_checks_the_bucket),
	    cmocka_unit_test(test_s3_open_gets),
	    cmocka_unit_test(test_media_http_exchange),
	    cmocka_unit_test(test_media_http_wipes_headers),
	};

	return cmocka_run_group_tests(tests, fake_setup, fake_teardown);
}
