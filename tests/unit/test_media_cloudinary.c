/* SPDX-License-Identifier: MIT */
/*
 * test_media_cloudinary.c - unit tests of the Cloudinary kind's pure half
 * (src/media/media_cloudinary_key.c): the credentials URL, keys and
 * delivery URLs turned into (resource type, delivery type, public id),
 * percent-encoding, the classification of the Admin API's answers, and
 * the `type: cloudinary` keys of media_stores (through media_set_parse()).
 * The calls themselves are tested end to end against the loopback fake
 * (tests/e2e/test_media_cloudinary.py).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "media/media.h"
#include "media/media_cloudinary.h"
#include "util/buf.h"
#include "util/yamlutil.h"

static struct media_cloudinary store = {
    .api_url = "https://api.cloudinary.com",
    .delivery_url = "https://res.cloudinary.com",
    .cloud_name = "socio-linki",
    .resource_type = "image",
    .delivery_type = "upload",
    .prefix = "",
};

static void
test_cred_parse_good(void **state)
{
	struct media_cld_cred c;

	(void)state;
	assert_true(media_cld_cred_parse("cloudinary://123456:abc-DEF_9@socio-linki", &c));
	assert_string_equal(c.userpwd, "123456:abc-DEF_9");
	assert_string_equal(c.cloud, "socio-linki");
	media_cld_cred_clear(&c);
	assert_null(c.userpwd);
	media_cld_cred_clear(&c); /* twice is fine */
	/* An options tail (?secure_distribution=...) is not part of the cloud name. */
	assert_true(media_cld_cred_parse("cloudinary://k:s@cloud1?secure=true&x=a@b", &c));
	assert_string_equal(c.cloud, "cloud1");
	assert_string_equal(c.userpwd, "k:s");
	media_cld_cred_clear(&c);
}

static void
test_cred_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "https://k:s@cloud",
	    "cloudinary://",
	    "cloudinary://k:s@",
	    "cloudinary://k:s",
	    "cloudinary://ks@cloud",
	    "cloudinary://:s@cloud",
	    "cloudinary://k:@cloud",
	    "cloudinary://k:s:t@cloud",
	    "cloudinary://k:s@clo ud",
	    "cloudinary://k:s@cloud/x",
	    "cloudinary://k/x:s@cloud",
	    "cloudinary://k:s\n@cloud",
	    NULL,
	};
	struct media_cld_cred c;
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		if (media_cld_cred_parse(bad[i], &c))
			fail_msg("accepted credentials #%zu", i);
		assert_null(c.userpwd);
	}
	assert_false(media_cld_cred_parse(NULL, &c));
}

static void
test_names(void **state)
{
	(void)state;
	assert_true(media_cld_cloud_ok("socio-linki"));
	assert_true(media_cld_cloud_ok("Demo_1"));
	assert_false(media_cld_cloud_ok(""));
	assert_false(media_cld_cloud_ok("a/b"));
	assert_false(media_cld_cloud_ok("a.b"));
	assert_true(media_cld_rt_ok("image"));
	assert_true(media_cld_rt_ok("video"));
	assert_true(media_cld_rt_ok("raw"));
	assert_false(media_cld_rt_ok("auto"));
	assert_false(media_cld_rt_ok("Image"));
	assert_true(media_cld_type_ok("upload"));
	assert_true(media_cld_type_ok("authenticated"));
	assert_false(media_cld_type_ok("up/load"));
	assert_false(media_cld_type_ok("v1"));
	assert_false(media_cld_type_ok(""));
}

/* Parse @key against @c and compare with the expected triple (@id NULL: refused). */
static void
want_key(const struct media_cloudinary *c, const char *key, const char *rt, const char *type,
         const char *id)
{
	struct media_cld_key k;
	bool ok = media_cld_key_parse(c, "socio-linki", key, &k);

	if (id == NULL) {
		if (ok)
			fail_msg("accepted key '%s' as '%s'", key, k.public_id);
		assert_null(k.public_id);
		return;
	}
	if (!ok)
		fail_msg("refused key '%s'", key);
	assert_string_equal(k.rt, rt);
	assert_string_equal(k.type, type);
	assert_string_equal(k.public_id, id);
	media_cld_key_free(&k);
}

static void
test_key_plain(void **state)
{
	struct media_cloudinary pre = store;

	(void)state;
	want_key(&store, "u17/photo-1.jpg", "image", "upload", "u17/photo-1.jpg");
	want_key(&store, "a b+c=d~", "image", "upload", "a b+c=d~");
	pre.prefix = "app/";
	pre.resource_type = "video";
	pre.delivery_type = "private";
	want_key(&pre, "u17/clip", "video", "private", "app/u17/clip");
	want_key(&store, "", NULL, NULL, NULL);
	want_key(&store, "u17/\x01", NULL, NULL, NULL);
	want_key(&store, "tab\there", NULL, NULL, NULL);
	/* A URL elsewhere is no public id of ours. */
	want_key(&store, "https://evil.example/socio-linki/image/upload/v1/x.jpg", NULL, NULL,
	         NULL);
}

static void
test_key_delivery_url(void **state)
{
	(void)state;
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/v1712/u17/photo.jpg",
	         "image", "upload", "u17/photo");
	/* The same host over http (Cloudinary's "url" field). */
	want_key(&store, "http://res.cloudinary.com/socio-linki/video/private/v9/clip.mp4", "video",
	         "private", "clip");
	/* raw keeps its extension. */
	want_key(&store, "https://res.cloudinary.com/socio-linki/raw/upload/v3/docs/cv.pdf", "raw",
	         "upload", "docs/cv.pdf");
	/* Transformations before the version are dropped with it. */
	want_key(&store,
	         "https://res.cloudinary.com/socio-linki/image/upload/c_fill,w_100/v17/u17/a.b.png",
	         "image", "upload", "u17/a.b");
	/* Several transformation segments before the version. */
	want_key(
	    &store,
	    "https://res.cloudinary.com/socio-linki/image/upload/c_fill,w_100/e_sepia/v2/u17/p.jpg",
	    "image", "upload", "u17/p");
	/*
	 * No version: the split between transformations, folders and the id is a
	 * guess, and a wrong guess names another asset (review B1): refused.
	 */
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/u17/p.jpg", NULL,
	         NULL, NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/p.jpg", NULL, NULL,
	         NULL);
	want_key(&store,
	         "https://res.cloudinary.com/socio-linki/image/upload/c_fill,w_100/u17/p.jpg", NULL,
	         NULL, NULL);
	/* A folder called v2 after a folder, no version: not "the id p after version v2". */
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/u17/v2/p.jpg", NULL,
	         NULL, NULL);
	/* A segment before the version that is no transformation: refused. */
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/c_fill,/v2/p.jpg",
	         NULL, NULL, NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/abcd_x/v2/p.jpg",
	         NULL, NULL, NULL);
	/* Query and fragment are not part of it; percent-encoding is undone. */
	want_key(&store,
	         "https://res.cloudinary.com/socio-linki/image/upload/v1/my%20cat.jpg?_a=x#y",
	         "image", "upload", "my cat");
	/* No extension at all. */
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/v1/u17/noext",
	         "image", "upload", "u17/noext");
	/* Another cloud, a bad resource type, a bad encoding, nothing after the type: refused. */
	want_key(&store, "https://res.cloudinary.com/other/image/upload/v1/x.jpg", NULL, NULL,
	         NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/auto/upload/v1/x.jpg", NULL, NULL,
	         NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/v1/x%0a.jpg", NULL,
	         NULL, NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/v1/x%zz.jpg", NULL,
	         NULL, NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/v1/x%4", NULL, NULL,
	         NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/v1/", NULL, NULL,
	         NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/image/upload/v1/.jpg", NULL, NULL,
	         NULL);
	want_key(&store, "https://res.cloudinary.com/socio-linki/image", NULL, NULL, NULL);
}

static void
test_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(media_cld_escape(&b, "u17/a b+c&d=é~._-", false), LETHE_OK);
	assert_string_equal(buf_str(&b), "u17%2Fa%20b%2Bc%26d%3D%C3%A9~._-");
	buf_reset(&b);
	assert_int_equal(media_cld_escape(&b, "u17/a b?#", true), LETHE_OK);
	assert_string_equal(buf_str(&b), "u17/a%20b%3F%23");
	buf_free(&b);
	buf_init(&b, 4);
	assert_int_equal(media_cld_escape(&b, "abc d", false), LETHE_E_TOOBIG);
	buf_free(&b);
}

static void
test_delete_answer(void **state)
{
	static const char *const ids[] = {"a", "b", "c", "d", "a"};
	const char *body = "{\"deleted\": {\"a\": \"deleted\", \"b\": \"not_found\", "
	                   "\"c\": \"error\"}, \"partial\": false}";
	enum media_outcome out[5];

	(void)state;
	assert_int_equal(media_cld_delete_answer(body, strlen(body), ids, 5, out), LETHE_OK);
	assert_int_equal(out[0], MEDIA_REMOVED);
	assert_int_equal(out[1], MEDIA_GONE);
	assert_int_equal(out[2], MEDIA_FAILED); /* a value we do not know */
	assert_int_equal(out[3], MEDIA_FAILED); /* not listed */
	assert_int_equal(out[4], MEDIA_REMOVED);
	body = "{\"deleted\": [\"a\"]}";
	assert_int_equal(media_cld_delete_answer(body, strlen(body), ids, 2, out), LETHE_E_INVALID);
	assert_int_equal(out[0], MEDIA_FAILED);
	body = "{\"deleted\": {\"a\": \"deleted\", \"a\": \"deleted\"}}";
	assert_int_equal(media_cld_delete_answer(body, strlen(body), ids, 1, out), LETHE_E_INVALID);
	assert_int_equal(media_cld_delete_answer("<html>", 6, ids, 1, out), LETHE_E_INVALID);
	assert_int_equal(media_cld_delete_answer("", 0, ids, 1, out), LETHE_E_INVALID);
}

static void
test_probe_answer(void **state)
{
	static const char *const ids[] = {"u1/a", "u1/b", "u1/c"};
	const char *body = "{\"resources\": [{\"public_id\": \"u1/c\", \"bytes\": 3}, "
	                   "{\"public_id\": \"u1/a\"}, {\"public_id\": 7}, \"junk\"]}";
	enum media_presence out[3];

	(void)state;
	assert_int_equal(media_cld_probe_answer(body, strlen(body), ids, 3, out), LETHE_OK);
	assert_int_equal(out[0], MEDIA_PRESENT);
	assert_int_equal(out[1], MEDIA_ABSENT);
	assert_int_equal(out[2], MEDIA_PRESENT);
	body = "{\"resources\": [{\"public_id\": \"u1/a\"}], \"next_cursor\": null}";
	assert_int_equal(media_cld_probe_answer(body, strlen(body), ids, 3, out), LETHE_OK);
	assert_int_equal(out[1], MEDIA_ABSENT);
	/* More on another page (review M3): not listed here is not absent. */
	body = "{\"resources\": [{\"public_id\": \"u1/a\"}], \"next_cursor\": \"8edbc1\"}";
	assert_int_equal(media_cld_probe_answer(body, strlen(body), ids, 3, out), LETHE_OK);
	assert_int_equal(out[0], MEDIA_PRESENT);
	assert_int_equal(out[1], MEDIA_UNKNOWN);
	assert_int_equal(out[2], MEDIA_UNKNOWN);
	body = "{\"resources\": {}}";
	assert_int_equal(media_cld_probe_answer(body, strlen(body), ids, 3, out), LETHE_E_INVALID);
	assert_int_equal(out[0], MEDIA_UNKNOWN);
	body = "{\"error\": {\"message\": \"Invalid Signature\"}}";
	assert_int_equal(media_cld_probe_answer(body, strlen(body), ids, 3, out), LETHE_E_INVALID);
}

static void
test_secure_url(void **state)
{
	const char *origin = "https://res.cloudinary.com";
	const char *body;
	char *u;

	(void)state;
	body = "{\"public_id\": \"x\", \"secure_url\": "
	       "\"https://res.cloudinary.com/c/image/upload/v1/x.jpg\"}";
	u = media_cld_secure_url(body, strlen(body), origin);
	assert_non_null(u);
	assert_string_equal(u, "https://res.cloudinary.com/c/image/upload/v1/x.jpg");
	free(u);
	/* Another origin, a look-alike host, a bare origin, a space, no field: refused. */
	body = "{\"secure_url\": \"https://evil.example/c/image/upload/v1/x.jpg\"}";
	assert_null(media_cld_secure_url(body, strlen(body), origin));
	body = "{\"secure_url\": \"https://res.cloudinary.com.evil.example/x.jpg\"}";
	assert_null(media_cld_secure_url(body, strlen(body), origin));
	body = "{\"secure_url\": \"https://res.cloudinary.com/\"}";
	assert_null(media_cld_secure_url(body, strlen(body), origin));
	body = "{\"secure_url\": \"https://res.cloudinary.com/a b\"}";
	assert_null(media_cld_secure_url(body, strlen(body), origin));
	body = "{\"url\": \"https://res.cloudinary.com/c/x.jpg\"}";
	assert_null(media_cld_secure_url(body, strlen(body), origin));
}

/* media_set_parse() of @yaml: the set, or NULL with @err. */
static struct media_set *
parse(const char *yaml, struct lethe_err *err)
{
	struct media_set *s = NULL;
	struct ydoc y;

	if (ydoc_load(&y, "lethe.yaml", yaml, LETHE_E_CONFIG, err) == LETHE_OK)
		media_set_parse("/etc/lethe", NULL, &y, ydoc_root(&y), &s, err);
	ydoc_free(&y);
	return s;
}

static void
want_parse_error(const char *yaml, const char *needle)
{
	struct lethe_err err = {0};
	struct media_set *s = parse(yaml, &err);

	assert_null(s);
	assert_int_equal(err.rc, LETHE_E_CONFIG);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

static void
test_parse(void **state)
{
	struct lethe_err err = {0};
	struct media_set *s;
	const struct media_store *m;

	(void)state;
	s = parse("media_stores:\n"
	          "  cdn:\n"
	          "    type: cloudinary\n"
	          "    cloud_name: socio-linki\n"
	          "    credentials_env: CLOUDINARY_URL\n",
	          &err);
	assert_non_null(s);
	m = media_set_get(s, "cdn");
	assert_non_null(m);
	assert_int_equal(media_store_kind(m), MEDIA_CLOUDINARY);
	assert_int_equal(media_store_batch(m), 100);
	assert_false(media_store_probe_cheap(m));
	assert_string_equal(media_store_where(m), "cloudinary cloud socio-linki");
	media_set_free(s);
	/* No cloud_name: the credentials name it; trailing '/' of URLs dropped. */
	s = parse("media_stores:\n"
	          "  cdn:\n"
	          "    type: cloudinary\n"
	          "    resource_type: raw\n"
	          "    delivery_type: authenticated\n"
	          "    api_url: http://127.0.0.1:9/\n"
	          "    delivery_url: http://127.0.0.1:9/res/\n"
	          "    prefix: app/\n"
	          "    credentials_file: secrets/cld\n"
	          "    retries: 1\n",
	          &err);
	assert_non_null(s);
	m = media_set_get(s, "cdn");
	assert_string_equal(media_store_where(m), "cloudinary cloud of /etc/lethe/secrets/cld");
	media_set_free(s);
}

static void
test_parse_errors(void **state)
{
	(void)state;
	want_parse_error("media_stores:\n  c:\n    type: cloudinary\n    bucket: b\n"
	                 "    credentials_env: X\n",
	                 "lethe.yaml:4: unknown key 'bucket' in a cloudinary media store");
	want_parse_error(
	    "media_stores:\n  c:\n    type: cloudinary\n    resource_type: auto\n"
	    "    credentials_env: X\n",
	    "lethe.yaml:4: media store key 'resource_type' expects image, video or raw");
	want_parse_error("media_stores:\n  c:\n    type: cloudinary\n    delivery_type: Up\n"
	                 "    credentials_env: X\n",
	                 "lethe.yaml:4: media store key 'delivery_type'");
	want_parse_error("media_stores:\n  c:\n    type: cloudinary\n    cloud_name: a/b\n"
	                 "    credentials_env: X\n",
	                 "lethe.yaml:4: media store key 'cloud_name'");
	want_parse_error("media_stores:\n  c:\n    type: cloudinary\n    api_url: ftp://x\n"
	                 "    credentials_env: X\n",
	                 "lethe.yaml:4: media store key 'api_url' expects an http:// or https://");
	want_parse_error("media_stores:\n  c:\n    type: cloudinary\n"
	                 "    delivery_url: https://res.cloudinary.com?x=1\n"
	                 "    credentials_env: X\n",
	                 "lethe.yaml:4: media store key 'delivery_url'");
	want_parse_error("media_stores:\n  c:\n    type: cloudinary\n    prefix: \"a\\tb\"\n"
	                 "    credentials_env: X\n",
	                 "lethe.yaml:4: media store key 'prefix'");
	want_parse_error("media_stores:\n  c:\n    type: cloudinary\n    cloud_name: x\n",
	                 "credentials_env");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cred_parse_good),
	    cmocka_unit_test(test_cred_parse_bad),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_key_plain),
	    cmocka_unit_test(test_key_delivery_url),
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_delete_answer),
	    cmocka_unit_test(test_probe_answer),
	    cmocka_unit_test(test_secure_url),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
