/* SPDX-License-Identifier: MIT */
/*
 * test_platform.c - unit tests of src/platform: names, the `platforms:`
 * configuration, request building per platform (method, URL, form, auth
 * header, never a token in the URL), the classification of answers, and
 * platform_call() over loopback against a tiny libmicrohttpd fake for what
 * the Python fake does not cover (redirects, the body cap).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <sodium.h>

#include "config/config.h"
#include "platform/platform.h"
#include "platform/platform_config.h"
#include "platform/request.h"
#include "util/mem.h"

#define TOKEN "tok en/+=&?"
#define TOKEN_ENC "tok%20en%2F%2B%3D%26%3F"

/* Parse @text as a lethe.yaml holding a platforms: section; NULL + @err on failure. */
static struct platforms *
parse(const char *text, struct lethe_err *err)
{
	struct lethe_config cfg;
	struct platforms *p = NULL;
	struct ydoc y;

	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = "/etc/lethe";
	if (ydoc_load(&y, "test.yaml", text, LETHE_E_CONFIG, err) == LETHE_OK)
		platforms_parse(cfg.dir, &y, ydoc_root(&y), &p, err);
	ydoc_free(&y);
	return p;
}

static void
want_config_error(const char *text, const char *needle)
{
	struct lethe_err err = {0};
	struct platforms *p = parse(text, &err);

	assert_null(p);
	assert_int_equal(err.rc, LETHE_E_CONFIG);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

static const char full_config[] = "platforms:\n"
                                  "  connect_timeout_ms: 700\n"
                                  "  timeout_ms: 2500\n"
                                  "  max_response_bytes: 4096\n"
                                  "  google: {base_url: 'http://127.0.0.1:9/g/'}\n"
                                  "  facebook:\n"
                                  "    base_url: http://127.0.0.1:9/fb\n"
                                  "    api_version: v22.0\n"
                                  "    app_id: '1001'\n"
                                  "    app_secret_env: TEST_FB_SECRET\n"
                                  "  instagram: {base_url: http://127.0.0.1:9/ig}\n"
                                  "  linkedin:\n"
                                  "    client_id: li-1\n"
                                  "    client_secret_env: TEST_LI_SECRET\n"
                                  "  x: {client_id: x-1, client_secret_file: x.secret}\n"
                                  "  tiktok: {client_key: tt-1, client_secret_env: TEST_TT}\n";

static void
test_platform_names(void **state)
{
	(void)state;
	assert_string_equal(platform_canonical("youtube"), "google");
	assert_string_equal(platform_canonical("Google"), "google");
	assert_string_equal(platform_canonical("twitter"), "x");
	assert_string_equal(platform_canonical("x"), "x");
	assert_string_equal(platform_canonical("facebook"), "facebook");
	assert_string_equal(platform_canonical("instagram"), "instagram");
	assert_string_equal(platform_canonical("linkedin"), "linkedin");
	assert_string_equal(platform_canonical("tiktok"), "tiktok");
	assert_null(platform_canonical("myspace"));
	assert_null(platform_canonical(NULL));
	assert_true(platform_supports("youtube", PLATFORM_REVOKE));
	assert_true(platform_supports("facebook", PLATFORM_REVOKE));
	assert_false(platform_supports("instagram", PLATFORM_REVOKE));
	assert_true(platform_supports("instagram", PLATFORM_UNSUBSCRIBE));
	assert_true(platform_supports("facebook", PLATFORM_UNSUBSCRIBE));
	assert_false(platform_supports("twitter", PLATFORM_UNSUBSCRIBE));
	assert_false(platform_supports("myspace", PLATFORM_REVOKE));
	assert_string_equal(platform_outcome_str(PLATFORM_OK), "ok");
	assert_string_equal(platform_outcome_str(PLATFORM_ALREADY), "already");
	assert_string_equal(platform_outcome_str(PLATFORM_RETRY), "retry");
	assert_string_equal(platform_outcome_str(PLATFORM_FAILED), "failed");
	assert_string_equal(platform_outcome_str(PLATFORM_UNSUPPORTED), "unsupported");
}

static void
test_platform_config_defaults(void **state)
{
	struct lethe_err err = {0};
	struct platforms *p = parse("app: {database: x}\n", &err);

	(void)state;
	assert_non_null(p);
	assert_string_equal(p->conf[PLATFORM_GOOGLE].base_url, "https://oauth2.googleapis.com");
	assert_string_equal(p->conf[PLATFORM_FACEBOOK].base_url, "https://graph.facebook.com");
	assert_string_equal(p->conf[PLATFORM_FACEBOOK].api_version, "v21.0");
	assert_string_equal(p->conf[PLATFORM_INSTAGRAM].base_url, "https://graph.instagram.com");
	assert_string_equal(p->conf[PLATFORM_INSTAGRAM].api_version, "v21.0");
	assert_string_equal(p->conf[PLATFORM_LINKEDIN].base_url, "https://www.linkedin.com");
	assert_string_equal(p->conf[PLATFORM_X].base_url, "https://api.x.com");
	assert_string_equal(p->conf[PLATFORM_TIKTOK].base_url, "https://open.tiktokapis.com");
	assert_null(p->conf[PLATFORM_LINKEDIN].client_id);
	assert_int_equal(p->connect_timeout_ms, 5000);
	assert_int_equal(p->timeout_ms, 15000);
	assert_int_equal(p->max_body, 65536);
	assert_int_equal(platforms_check_secrets(p, &err), LETHE_OK);
	platforms_free(p);
}

static void
test_platform_config_full(void **state)
{
	struct lethe_err err = {0};
	struct platforms *p = parse(full_config, &err);

	(void)state;
	if (p == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(p->connect_timeout_ms, 700);
	assert_int_equal(p->timeout_ms, 2500);
	assert_int_equal(p->max_body, 4096);
	assert_string_equal(p->conf[PLATFORM_GOOGLE].base_url, "http://127.0.0.1:9/g");
	assert_string_equal(p->conf[PLATFORM_FACEBOOK].api_version, "v22.0");
	assert_string_equal(p->conf[PLATFORM_FACEBOOK].client_id, "1001");
	assert_string_equal(p->conf[PLATFORM_FACEBOOK].secret.env, "TEST_FB_SECRET");
	assert_string_equal(p->conf[PLATFORM_LINKEDIN].base_url, "https://www.linkedin.com");
	assert_string_equal(p->conf[PLATFORM_X].secret.file, "/etc/lethe/x.secret");
	assert_null(p->conf[PLATFORM_X].secret.env);
	assert_string_equal(p->conf[PLATFORM_TIKTOK].client_id, "tt-1");
	platforms_free(p);
}

static void
test_platform_config_errors(void **state)
{
	(void)state;
	want_config_error("platforms: [1]\n", "expected a mapping for platforms");
	want_config_error("platforms: {myspace: {}}\n", "unknown key 'myspace'");
	want_config_error("platforms: {linkedin: {client_id: a, client_secret: s3cr3t}}\n",
	                  "unknown key 'client_secret'");
	want_config_error("platforms: {google: {client_id: a}}\n", "unknown key 'client_id'");
	want_config_error("platforms: {linkedin: {client_id: a}}\n",
	                  "platforms.linkedin.client_id needs client_secret_env or "
	                  "client_secret_file");
	want_config_error("platforms: {tiktok: {client_key: a}}\n", "client_secret_env");
	want_config_error("platforms: {facebook: {app_id: '1'}}\n", "app_secret_env");
	want_config_error("platforms: {facebook: {app_secret_env: E}}\n", "needs app_id");
	want_config_error("platforms: {x: {client_id: a, client_secret_env: E, "
	                  "client_secret_file: f}}\n",
	                  "not both");
	want_config_error("platforms: {google: {base_url: ftp://h}}\n", "base_url");
	want_config_error("platforms: {google: {base_url: 'https://h/?a=1'}}\n", "base_url");
	want_config_error("platforms: {google: {base_url: 'https://u:p@h'}}\n", "base_url");
	want_config_error("platforms: {facebook: {api_version: '../v1'}}\n", "api_version");
	want_config_error("platforms: {timeout_ms: 0}\n", "platforms.timeout_ms");
	want_config_error("platforms: {connect_timeout_ms: 5s}\n", "connect_timeout_ms");
	want_config_error("platforms: {max_response_bytes: 10}\n", "max_response_bytes");
	want_config_error("platforms: {google: {base_url: ''}}\n", "non-empty");
}

static void
test_platform_secrets(void **state)
{
	char path[] = "/tmp/lethe-test-psecret-XXXXXX";
	char out[PLATFORM_SECRET_MAX + 1];
	struct platform_secret s = {0};
	struct lethe_err err = {0};
	struct platforms *p;
	FILE *f;
	int fd;

	(void)state;
	unsetenv("TEST_LI_SECRET");
	unsetenv("TEST_FB_SECRET");
	unsetenv("TEST_TT");
	p = parse(full_config, &err);
	assert_non_null(p);
	assert_int_equal(platforms_check_secrets(p, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "TEST_FB_SECRET"));
	assert_non_null(strstr(err.msg, "platforms.facebook"));
	setenv("TEST_FB_SECRET", "fb-very-secret", 1);
	assert_int_equal(platforms_check_secrets(p, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "TEST_LI_SECRET"));
	setenv("TEST_LI_SECRET", "li", 1);
	setenv("TEST_TT", "tt", 1);
	assert_int_equal(platforms_check_secrets(p, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "/etc/lethe/x.secret")); /* the file is missing */
	assert_null(strstr(err.msg, "fb-very-secret"));
	platforms_free(p);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("file-secret\r\n\n", f);
	fclose(f);
	s.file = path;
	assert_int_equal(platform_secret_read(&s, "platforms.x", out, &err), LETHE_OK);
	assert_string_equal(out, "file-secret");
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(platform_secret_read(&s, "platforms.x", out, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "is empty"));
	unlink(path);
	unsetenv("TEST_LI_SECRET");
	unsetenv("TEST_FB_SECRET");
	unsetenv("TEST_TT");
}

/* Build with the full config and the secrets set; returns the result of build. */
static bool
build(const char *platform, enum platform_op op, const char *token, const char *account,
      struct platform_request *req, struct platform_result *res)
{
	struct lethe_err err = {0};
	struct platforms *p;
	char xfile[] = "/tmp/lethe-test-pxsecret-XXXXXX";
	FILE *f;
	int fd;
	bool ok;

	setenv("TEST_FB_SECRET", "fbsecret", 1);
	setenv("TEST_LI_SECRET", "li secret", 1);
	setenv("TEST_TT", "ttsecret", 1);
	fd = mkstemp(xfile);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("xsecret\n", f);
	fclose(f);
	p = parse(full_config, &err);
	assert_non_null(p);
	free(p->conf[PLATFORM_X].secret.file);
	p->conf[PLATFORM_X].secret.file = xstrdup(xfile);
	memset(res, 0, sizeof(*res));
	ok = platform_request_build(p, platform_id_of(platform), op, token, account, req, res);
	platforms_free(p);
	unlink(xfile);
	return ok;
}

static void
want_request(const char *platform, enum platform_op op, const char *account, const char *method,
             const char *url, const char *form, const char *auth)
{
	struct platform_request req;
	struct platform_result res;

	if (!build(platform, op, TOKEN, account, &req, &res))
		fail_msg("%s: %s", platform, res.detail);
	assert_string_equal(req.method, method);
	assert_string_equal(req.url, url);
	assert_string_equal(buf_str(&req.form), form);
	if (auth == NULL)
		assert_null(req.auth);
	else
		assert_string_equal(req.auth, auth);
	assert_null(strstr(req.url, "tok en"));
	assert_null(strstr(req.url, TOKEN_ENC));
	platform_request_free(&req);
}

static void
test_platform_requests(void **state)
{
	(void)state;
	want_request("google", PLATFORM_REVOKE, NULL, "POST", "http://127.0.0.1:9/g/revoke",
	             "token=" TOKEN_ENC, NULL);
	want_request("facebook", PLATFORM_REVOKE, "123", "DELETE",
	             "http://127.0.0.1:9/fb/v22.0/123/permissions", "access_token=" TOKEN_ENC,
	             NULL);
	want_request("facebook", PLATFORM_UNSUBSCRIBE, "456", "DELETE",
	             "http://127.0.0.1:9/fb/v22.0/456/subscribed_apps", "access_token=" TOKEN_ENC,
	             NULL);
	want_request("instagram", PLATFORM_UNSUBSCRIBE, "17841", "DELETE",
	             "http://127.0.0.1:9/ig/v21.0/17841/subscribed_apps", "access_token=" TOKEN_ENC,
	             NULL);
	want_request("linkedin", PLATFORM_REVOKE, NULL, "POST",
	             "https://www.linkedin.com/oauth/v2/revoke",
	             "token=" TOKEN_ENC "&client_id=li-1&client_secret=li%20secret", NULL);
	/* base64("x-1:xsecret") */
	want_request("x", PLATFORM_REVOKE, NULL, "POST", "https://api.x.com/2/oauth2/revoke",
	             "token=" TOKEN_ENC "&client_id=x-1", "Authorization: Basic eC0xOnhzZWNyZXQ=");
	want_request("tiktok", PLATFORM_REVOKE, NULL, "POST",
	             "https://open.tiktokapis.com/v2/oauth/revoke/",
	             "client_key=tt-1&client_secret=ttsecret&token=" TOKEN_ENC, NULL);
}

static void
test_platform_request_refusals(void **state)
{
	struct platform_request req;
	struct platform_result res;

	(void)state;
	/* Facebook without a user token: the app token. */
	assert_true(build("facebook", PLATFORM_REVOKE, NULL, "123", &req, &res));
	assert_string_equal(buf_str(&req.form), "access_token=1001%7Cfbsecret");
	platform_request_free(&req);

	assert_false(build("instagram", PLATFORM_REVOKE, TOKEN, "1", &req, &res));
	assert_int_equal(res.outcome, PLATFORM_UNSUPPORTED);
	platform_request_free(&req);
	assert_false(build("google", PLATFORM_UNSUBSCRIBE, TOKEN, "1", &req, &res));
	assert_int_equal(res.outcome, PLATFORM_UNSUPPORTED);
	platform_request_free(&req);
	assert_false(build("google", PLATFORM_REVOKE, "", NULL, &req, &res));
	assert_int_equal(res.outcome, PLATFORM_FAILED);
	assert_non_null(strstr(res.detail, "needs a token"));
	platform_request_free(&req);
	assert_false(build("facebook", PLATFORM_REVOKE, TOKEN, NULL, &req, &res));
	assert_int_equal(res.outcome, PLATFORM_FAILED);
	platform_request_free(&req);
	assert_false(build("facebook", PLATFORM_UNSUBSCRIBE, TOKEN, "1/../2", &req, &res));
	assert_int_equal(res.outcome, PLATFORM_FAILED);
	platform_request_free(&req);
	assert_false(build("instagram", PLATFORM_UNSUBSCRIBE, TOKEN, "1?x=2", &req, &res));
	assert_int_equal(res.outcome, PLATFORM_FAILED);
	platform_request_free(&req);
}

static void
test_platform_unconfigured_client(void **state)
{
	struct platforms *p = platforms_new();
	struct platform_request req;
	struct platform_result res;
	static const int ids[] = {PLATFORM_LINKEDIN, PLATFORM_X, PLATFORM_TIKTOK};
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_false(
		    platform_request_build(p, ids[i], PLATFORM_REVOKE, TOKEN, NULL, &req, &res));
		assert_int_equal(res.outcome, PLATFORM_FAILED);
		assert_non_null(strstr(res.detail, "platforms."));
		platform_request_free(&req);
	}
	/* Facebook without a user token and without app credentials. */
	assert_false(
	    platform_request_build(p, PLATFORM_FACEBOOK, PLATFORM_REVOKE, NULL, "1", &req, &res));
	assert_int_equal(res.outcome, PLATFORM_FAILED);
	assert_non_null(strstr(res.detail, "app_id"));
	platform_request_free(&req);
	platforms_free(p);
}

static void
want_class(int id, long status, const char *body, enum platform_outcome want)
{
	struct platform_result res;

	memset(&res, 0, sizeof(res));
	platform_classify(id, status, body, body ? strlen(body) : 0, &res);
	if (res.outcome != want)
		fail_msg("platform %d, HTTP %ld, body %s: got %s, want %s (%s)", id, status,
		         body ? body : "(none)", platform_outcome_str(res.outcome),
		         platform_outcome_str(want), res.detail);
	assert_int_equal(res.http_status, status);
}

static void
test_platform_classify(void **state)
{
	(void)state;
	/* Google */
	want_class(PLATFORM_GOOGLE, 200, "", PLATFORM_OK);
	want_class(
	    PLATFORM_GOOGLE, 400,
	    "{\"error\":\"invalid_token\",\"error_description\":\"Token expired or revoked\"}",
	    PLATFORM_ALREADY);
	want_class(PLATFORM_GOOGLE, 400, "{\"error\":\"invalid_request\"}", PLATFORM_FAILED);
	want_class(PLATFORM_GOOGLE, 401, "{\"error\":\"invalid_token\"}", PLATFORM_FAILED);
	want_class(PLATFORM_GOOGLE, 503, "", PLATFORM_RETRY);
	/* Facebook / Instagram */
	want_class(PLATFORM_FACEBOOK, 200, "true", PLATFORM_OK);
	want_class(PLATFORM_FACEBOOK, 200, "{\"success\":true}", PLATFORM_OK);
	want_class(PLATFORM_FACEBOOK, 200, "false", PLATFORM_FAILED);
	want_class(PLATFORM_FACEBOOK, 200, "{\"success\":false}", PLATFORM_FAILED);
	want_class(PLATFORM_FACEBOOK, 400,
	           "{\"error\":{\"message\":\"Error validating access token\",\"type\":"
	           "\"OAuthException\",\"code\":190,\"error_subcode\":458}}",
	           PLATFORM_ALREADY);
	want_class(PLATFORM_INSTAGRAM, 400, "{\"error\":{\"code\":190}}", PLATFORM_ALREADY);
	want_class(PLATFORM_FACEBOOK, 400, "{\"error\":{\"code\":4}}", PLATFORM_RETRY);
	want_class(PLATFORM_FACEBOOK, 400, "{\"error\":{\"code\":100}}", PLATFORM_FAILED);
	want_class(PLATFORM_FACEBOOK, 400, "{\"error\":{\"code\":100,\"is_transient\":true}}",
	           PLATFORM_RETRY);
	want_class(PLATFORM_FACEBOOK, 403, "not json", PLATFORM_FAILED);
	/* LinkedIn */
	want_class(PLATFORM_LINKEDIN, 200, "", PLATFORM_OK);
	want_class(PLATFORM_LINKEDIN, 400,
	           "{\"error\":\"invalid_request\",\"error_description\":\"The token has been "
	           "revoked\"}",
	           PLATFORM_ALREADY);
	want_class(PLATFORM_LINKEDIN, 401,
	           "{\"error\":\"invalid_client\","
	           "\"error_description\":\"Client authentication failed: token invalid\"}",
	           PLATFORM_FAILED);
	/* X: body undocumented */
	want_class(PLATFORM_X, 200, "{\"revoked\":true}", PLATFORM_OK);
	want_class(PLATFORM_X, 204, NULL, PLATFORM_OK);
	want_class(PLATFORM_X, 200, "<html>", PLATFORM_OK);
	want_class(PLATFORM_X, 400,
	           "{\"error\":\"invalid_request\",\"error_description\":\"Value passed for the "
	           "token was invalid.\"}",
	           PLATFORM_ALREADY);
	want_class(PLATFORM_X, 401, "{\"error\":\"unauthorized_client\"}", PLATFORM_FAILED);
	want_class(PLATFORM_X, 429, "", PLATFORM_RETRY);
	want_class(PLATFORM_X, 408, "", PLATFORM_RETRY);
	/* TikTok */
	want_class(PLATFORM_TIKTOK, 200, "{}", PLATFORM_OK);
	want_class(PLATFORM_TIKTOK, 200, "{\"error\":{\"code\":\"ok\",\"message\":\"\"}}",
	           PLATFORM_OK);
	want_class(PLATFORM_TIKTOK, 200,
	           "{\"error\":\"access_token_invalid\",\"error_description\":\"x\","
	           "\"log_id\":\"1\"}",
	           PLATFORM_ALREADY);
	want_class(PLATFORM_TIKTOK, 200, "{\"error\":\"rate_limit_exceeded\"}", PLATFORM_RETRY);
	want_class(PLATFORM_TIKTOK, 200, "{\"error\":\"invalid_client\"}", PLATFORM_FAILED);
	want_class(PLATFORM_TIKTOK, 401, "{\"error\":\"access_token_invalid\",\"log_id\":\"1\"}",
	           PLATFORM_ALREADY);
	want_class(PLATFORM_TIKTOK, 400, "{\"error\":\"invalid_request\"}", PLATFORM_FAILED);
	/* Everyone: 5xx and redirects */
	want_class(PLATFORM_LINKEDIN, 500, "{\"error\":\"invalid_token\"}", PLATFORM_RETRY);
	want_class(PLATFORM_TIKTOK, 502, NULL, PLATFORM_RETRY);
	want_class(PLATFORM_GOOGLE, 302, NULL, PLATFORM_FAILED);
	want_class(PLATFORM_GOOGLE, 404, NULL, PLATFORM_FAILED);
}

static void
test_platform_detail_is_safe(void **state)
{
	struct platform_result res;
	static const char body[] = "{\"error\":\"EAAB<script>secret-token-value-that-is-long"
	                           "-enough-to-be-cut\"}";

	(void)state;
	platform_classify(PLATFORM_X, 400, body, strlen(body), &res);
	assert_int_equal(res.outcome, PLATFORM_FAILED);
	assert_null(strstr(res.detail, "<script>"));
	assert_null(strstr(res.detail, "enough-to-be-cut"));
	assert_non_null(strstr(res.detail, "x answered HTTP 400"));
}

/* Bodies whose error texts overflow the matching buffer at every offset, and nest deep. */
static void
test_platform_classify_long_bodies(void **state)
{
	struct platform_result res;
	struct buf b;
	size_t len, k;
	int i;

	(void)state;
	for (len = 240; len < 270; len++) {
		buf_init(&b, 1 << 16);
		buf_adds(&b, "{\"error\":\"");
		for (k = 0; k < len; k++)
			buf_adds(&b, "e");
		buf_adds(&b, "\",\"error_description\":\"token revoked\",\"message\":\"m\"}");
		platform_classify(PLATFORM_X, 400, b.data, b.len, &res);
		/* 256 bytes of text: "revoked" fits up to 240 e's, falls off from 249 on */
		if (len <= 240)
			assert_int_equal(res.outcome, PLATFORM_ALREADY);
		else if (len >= 249)
			assert_int_equal(res.outcome, PLATFORM_FAILED);
		buf_free(&b);
	}
	buf_init(&b, 1 << 16);
	for (i = 0; i < 200; i++)
		buf_adds(&b, "{\"error\":");
	buf_adds(&b, "\"invalid_token\"");
	for (i = 0; i < 200; i++)
		buf_adds(&b, "}");
	platform_classify(PLATFORM_TIKTOK, 400, b.data, b.len, &res);
	assert_int_equal(res.outcome, PLATFORM_FAILED); /* nested too deep to count */
	buf_free(&b);
	platform_classify(PLATFORM_TIKTOK, 400, "{\"error\":{\"error\":\"invalid_token\"}}",
	                  strlen("{\"error\":{\"error\":\"invalid_token\"}}"), &res);
	assert_int_equal(res.outcome, PLATFORM_ALREADY);
}

static void
test_platform_form_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(platform_form_escape(&b, "aZ09-._~ /+=&%|\xc3\xa9"), LETHE_OK);
	assert_string_equal(buf_str(&b), "aZ09-._~%20%2F%2B%3D%26%25%7C%C3%A9");
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(platform_form_escape(&b, "//////"), LETHE_E_TOOBIG);
	buf_free(&b);
}

/* --- platform_call() over loopback against a tiny libmicrohttpd fake ---------------------- */

/* What the fake answers and what it saw. */
struct tiny {
	struct MHD_Daemon *d; /* the server */
	int port;             /* its port */
	int mode;             /* 0 answer 200 {"success":true}, 1 redirect, 2 huge body */
	int calls;            /* requests seen */
	char method[16];      /* method of the last one */
	char url[128];        /* path of the last one */
	char body[256];       /* form body of the last one */
	size_t body_len;      /* its length */
};

static enum MHD_Result
tiny_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
             const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct tiny *t = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	static char huge[1 << 16];

	(void)version;
	if (*con_cls == NULL) {
		*con_cls = t;
		t->calls++;
		t->body_len = 0;
		snprintf(t->method, sizeof(t->method), "%s", method);
		snprintf(t->url, sizeof(t->url), "%s", url);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;

		if (n > sizeof(t->body) - 1 - t->body_len)
			n = sizeof(t->body) - 1 - t->body_len;
		memcpy(t->body + t->body_len, upload, n);
		t->body_len += n;
		t->body[t->body_len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	if (t->mode == 1) {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Location", "http://127.0.0.2:1/elsewhere");
		ret = MHD_queue_response(c, 302, r);
	} else if (t->mode == 2) {
		memset(huge, ' ', sizeof(huge));
		huge[0] = '{';
		huge[sizeof(huge) - 1] = '}';
		r = MHD_create_response_from_buffer(sizeof(huge), huge, MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(c, 200, r);
	} else {
		static const char ok[] = "{\"success\":true}";

		r = MHD_create_response_from_buffer(strlen(ok), (void *)ok, MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(c, 200, r);
	}
	MHD_destroy_response(r);
	return ret;
}

static int
tiny_setup(void **state)
{
	struct tiny *t = xcalloc(1, sizeof(*t));
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                        tiny_handler, t, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	if (t->d == NULL) {
		free(t);
		return -1;
	}
	info = MHD_get_daemon_info(t->d, MHD_DAEMON_INFO_BIND_PORT);
	t->port = info->port;
	*state = t;
	return 0;
}

static int
tiny_teardown(void **state)
{
	struct tiny *t = *state;

	MHD_stop_daemon(t->d);
	free(t);
	return 0;
}

/* platforms pointing Facebook at the tiny fake. */
static struct platforms *
tiny_platforms(const struct tiny *t)
{
	struct platforms *p = platforms_new();

	free(p->conf[PLATFORM_FACEBOOK].base_url);
	p->conf[PLATFORM_FACEBOOK].base_url = xasprintf("http://127.0.0.1:%d/graph", t->port);
	p->timeout_ms = 5000;
	p->connect_timeout_ms = 2000;
	p->max_body = 1024;
	return p;
}

static void
test_platform_call_loopback(void **state)
{
	struct tiny *t = *state;
	struct platforms *p = tiny_platforms(t);
	struct platform_result res;

	t->mode = 0;
	platform_call(p, "facebook", PLATFORM_UNSUBSCRIBE, "page token", "42", &res);
	assert_int_equal(res.outcome, PLATFORM_OK);
	assert_int_equal(res.http_status, 200);
	assert_int_equal(t->calls, 1);
	assert_string_equal(t->method, "DELETE");
	assert_string_equal(t->url, "/graph/v21.0/42/subscribed_apps");
	assert_string_equal(t->body, "access_token=page%20token");
	assert_null(strstr(res.detail, "page"));
	platforms_free(p);
}

static void
test_platform_call_never_follows_redirects(void **state)
{
	struct tiny *t = *state;
	struct platforms *p = tiny_platforms(t);
	struct platform_result res;

	t->mode = 1;
	t->calls = 0;
	platform_call(p, "facebook", PLATFORM_REVOKE, "tok", "42", &res);
	assert_int_equal(res.outcome, PLATFORM_FAILED);
	assert_int_equal(res.http_status, 302);
	assert_int_equal(t->calls, 1);
	assert_non_null(strstr(res.detail, "redirect"));
	platforms_free(p);
}

static void
test_platform_call_caps_the_body(void **state)
{
	struct tiny *t = *state;
	struct platforms *p = tiny_platforms(t);
	struct platform_result res;

	t->mode = 2;
	platform_call(p, "facebook", PLATFORM_REVOKE, "tok", "42", &res);
	/* 2xx is success even when the body is cut; the detail says it was. */
	assert_int_equal(res.outcome, PLATFORM_OK);
	assert_int_equal(res.http_status, 200);
	assert_non_null(strstr(res.detail, "cut at 1024 bytes"));
	platforms_free(p);
}

/* One thread of test_platform_call_threads. */
struct call_arg {
	const struct platforms *p;  /* shared, read-only */
	struct platform_result res; /* this thread's result */
};

static void *
call_thread(void *arg)
{
	struct call_arg *a = arg;

	platform_call(a->p, "facebook", PLATFORM_UNSUBSCRIBE, "tok", "42", &a->res);
	return NULL;
}

static void
test_platform_call_threads(void **state)
{
	struct tiny *t = *state;
	struct platforms *p = tiny_platforms(t);
	struct call_arg args[8];
	pthread_t th[8];
	int i;

	t->mode = 0;
	t->calls = 0;
	for (i = 0; i < 8; i++) {
		args[i].p = p;
		assert_int_equal(pthread_create(&th[i], NULL, call_thread, &args[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].res.outcome, PLATFORM_OK);
	}
	assert_int_equal(t->calls, 8);
	platforms_free(p);
}

static void
test_platform_call_null_config(void **state)
{
	struct platform_result res;

	(void)state;
	platform_call(NULL, "google", PLATFORM_REVOKE, "tok", NULL, &res);
	assert_int_equal(res.outcome, PLATFORM_FAILED);
}

static void
test_platform_call_unknown_platform(void **state)
{
	struct platforms *p = platforms_new();
	struct platform_result res;

	(void)state;
	platform_call(p, "myspace", PLATFORM_REVOKE, "tok", NULL, &res);
	assert_int_equal(res.outcome, PLATFORM_UNSUPPORTED);
	assert_int_equal(res.http_status, 0);
	platforms_free(p);
}

/* A loopback port nothing listens on (bound, then closed: refused at once). */
static int
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* No answer at all: the detail says what happened (libcurl's words), not "HTTP 0". */
/*
 * A transport failure's detail reaches the API, `lethe jobs` and the log:
 * libcurl's own text is kept when it names a host and port at most, and
 * replaced by the code's fixed text when it could quote a URL (whose path
 * holds a Facebook user id, or a query a token).
 */
static void
test_platform_transport_detail_quotes_no_url(void **state)
{
	struct platform_result r;

	(void)state;
	memset(&r, 0, sizeof(r));
	platform_transport_failed("google", "Could not resolve host: nohost.invalid",
	                          "Couldn't resolve host name", 0, &r);
	assert_int_equal(r.outcome, PLATFORM_RETRY);
	assert_string_equal(r.detail, "google: Could not resolve host: nohost.invalid");
	memset(&r, 0, sizeof(r));
	platform_transport_failed("facebook",
	                          "Malformed input to a URL function: "
	                          "https://graph.facebook.com/v21.0/10229000000102/permissions",
	                          "URL using bad/illegal format or missing URL", 111, &r);
	assert_null(strstr(r.detail, "10229000000102"));
	assert_string_equal(r.detail, "facebook: URL using bad/illegal format or missing URL "
	                              "(Connection refused)");
	memset(&r, 0, sizeof(r));
	platform_transport_failed("x", "weird ?token=abc", "Failure when receiving data", 0, &r);
	assert_null(strstr(r.detail, "token"));
}

static void
test_platform_call_transport_errors_say_why(void **state)
{
	struct platforms *p = platforms_new();
	struct platform_result res;
	char want[64];
	int port = closed_port();

	(void)state;
	p->connect_timeout_ms = 2000;
	p->timeout_ms = 3000;
	free(p->conf[PLATFORM_GOOGLE].base_url);
	p->conf[PLATFORM_GOOGLE].base_url = xasprintf("http://127.0.0.1:%d", port);
	platform_call(p, "google", PLATFORM_REVOKE, "tok", NULL, &res);
	assert_int_equal(res.outcome, PLATFORM_RETRY);
	assert_int_equal(res.http_status, 0);
	snprintf(want, sizeof(want), "127.0.0.1 port %d", port);
	if (strstr(res.detail, want) == NULL || strstr(res.detail, "Connection refused") == NULL)
		fail_msg("detail '%s' lacks '%s' or 'Connection refused'", res.detail, want);
	assert_null(strstr(res.detail, "tok"));
	/* .invalid never resolves (RFC 6761): no DNS server is asked for it. */
	free(p->conf[PLATFORM_GOOGLE].base_url);
	p->conf[PLATFORM_GOOGLE].base_url = xstrdup("http://nohost.invalid");
	platform_call(p, "google", PLATFORM_REVOKE, "tok", NULL, &res);
	assert_int_equal(res.outcome, PLATFORM_RETRY);
	assert_int_equal(res.http_status, 0);
	if (strstr(res.detail, "nohost.invalid") == NULL || strstr(res.detail, "resolve") == NULL)
		fail_msg("detail '%s' does not say nohost.invalid could not be resolved",
		         res.detail);
	platforms_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_platform_names),
	    cmocka_unit_test(test_platform_config_defaults),
	    cmocka_unit_test(test_platform_config_full),
	    cmocka_unit_test(test_platform_config_errors),
	    cmocka_unit_test(test_platform_secrets),
	    cmocka_unit_test(test_platform_requests),
	    cmocka_unit_test(test_platform_request_refusals),
	    cmocka_unit_test(test_platform_unconfigured_client),
	    cmocka_unit_test(test_platform_classify),
	    cmocka_unit_test(test_platform_detail_is_safe),
	    cmocka_unit_test(test_platform_classify_long_bodies),
	    cmocka_unit_test(test_platform_form_escape),
	    cmocka_unit_test(test_platform_call_loopback),
	    cmocka_unit_test(test_platform_call_never_follows_redirects),
	    cmocka_unit_test(test_platform_call_caps_the_body),
	    cmocka_unit_test(test_platform_call_threads),
	    cmocka_unit_test(test_platform_call_null_config),
	    cmocka_unit_test(test_platform_call_unknown_platform),
	    cmocka_unit_test(test_platform_call_transport_errors_say_why),
	    cmocka_unit_test(test_platform_transport_detail_quotes_no_url),
	};

	return cmocka_run_group_tests(tests, tiny_setup, tiny_teardown);
}
