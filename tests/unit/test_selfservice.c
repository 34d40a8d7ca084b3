/* SPDX-License-Identifier: MIT */
/*
 * test_selfservice.c - unit tests of the self-service page's parts: the
 * stateless CSRF tokens (http/csrf.c: made and checked, expiry, tampering,
 * another form or link), the form of a link's token, the `selfservice:`
 * section of lethe.yaml (config/selfservice.c: defaults, every error) and
 * the rate windows in the state store (store/rate.c).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config/config.h"
#include "http/csrf.h"
#include "http/server_internal.h"
#include "service/service.h"
#include "store/store.h"
#include "testutil.h"

#define NOW 1765000000

static const uint8_t key1[HASH_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t key2[HASH_KEY_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

/* ---- CSRF tokens ---- */

static void
test_csrf_roundtrip(void **state)
{
	char tok[CSRF_TOKEN_MAX];
	const char *dot;

	(void)state;
	csrf_make(key1, "ask", "", NOW, tok);
	dot = strchr(tok, '.');
	assert_non_null(dot);
	assert_int_equal(strlen(dot + 1), 32);
	assert_int_equal(strspn(dot + 1, "abcdefghijklmnopqrstuvwxyz234567"), 32);
	assert_true(csrf_check(key1, "ask", "", tok, NOW));
	assert_true(csrf_check(key1, "ask", NULL, tok, NOW + CSRF_TTL_S));
}

static void
test_csrf_expiry(void **state)
{
	char tok[CSRF_TOKEN_MAX];

	(void)state;
	csrf_make(key1, "ask", "", NOW, tok);
	assert_false(csrf_check(key1, "ask", "", tok, NOW + CSRF_TTL_S + 1));
	/* Made more than a minute "in the future": refused. */
	assert_false(csrf_check(key1, "ask", "", tok, NOW - 61));
	assert_true(csrf_check(key1, "ask", "", tok, NOW - 60));
}

static void
test_csrf_tamper(void **state)
{
	char tok[CSRF_TOKEN_MAX], t2[CSRF_TOKEN_MAX];
	size_t n;

	(void)state;
	csrf_make(key1, "link", "aaaabbbbccccddddeeeeffffgggghhhh", NOW, tok);
	assert_true(csrf_check(key1, "link", "aaaabbbbccccddddeeeeffffgggghhhh", tok, NOW));
	/* Another link, another form, another key. */
	assert_false(csrf_check(key1, "link", "aaaabbbbccccddddeeeeffffgggghhha", tok, NOW));
	assert_false(csrf_check(key1, "ask", "aaaabbbbccccddddeeeeffffgggghhhh", tok, NOW));
	assert_false(csrf_check(key2, "link", "aaaabbbbccccddddeeeeffffgggghhhh", tok, NOW));
	/* One character of the MAC changed. */
	memcpy(t2, tok, sizeof(t2));
	n = strlen(t2);
	t2[n - 1] = t2[n - 1] == 'a' ? 'b' : 'a';
	assert_false(csrf_check(key1, "link", "aaaabbbbccccddddeeeeffffgggghhhh", t2, NOW));
	/* The issued time moved (a later one would live longer). */
	snprintf(t2, sizeof(t2), "%d%s", NOW + 100, strchr(tok, '.'));
	assert_false(csrf_check(key1, "link", "aaaabbbbccccddddeeeeffffgggghhhh", t2, NOW + 100));
	/* Cut, empty, missing, malformed. */
	memcpy(t2, tok, sizeof(t2));
	t2[n - 1] = '\0';
	assert_false(csrf_check(key1, "link", "aaaabbbbccccddddeeeeffffgggghhhh", t2, NOW));
	assert_false(csrf_check(key1, "ask", "", "", NOW));
	assert_false(csrf_check(key1, "ask", "", NULL, NOW));
	assert_false(csrf_check(key1, "ask", "", ".abc", NOW));
	assert_false(csrf_check(key1, "ask", "", "-5.abc", NOW));
	assert_false(csrf_check(key1, "ask", "", "1765000000", NOW));
	assert_false(csrf_check(
	    key1, "ask", "",
	    "1765000000.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    NOW));
}

/* ---- link tokens ---- */

static void
test_link_token_format(void **state)
{
	uint8_t raw[20];
	char b32[40];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 37 + 11);
	csrf_base32(raw, sizeof(raw), b32);
	assert_int_equal(strlen(b32), SERVICE_LINK_TOKEN_LEN); /* 160 bits */
	assert_true(service_link_token_ok(b32));
	/* RFC 4648 base32, lower case: "foobar" is MZXW6YTBOI. */
	csrf_base32((const uint8_t *)"foobar", 6, b32);
	assert_string_equal(b32, "mzxw6ytboi");
	assert_true(service_link_token_ok("abcdefghijklmnopqrstuvwxyz234567"));
	assert_false(service_link_token_ok("abcdefghijklmnopqrstuvwxyz23456"));
	assert_false(service_link_token_ok("abcdefghijklmnopqrstuvwxyz2345678"));
	assert_false(service_link_token_ok("Abcdefghijklmnopqrstuvwxyz234567"));
	assert_false(service_link_token_ok("abcdefghijklmnopqrstuvwxyz234561"));
	assert_false(service_link_token_ok("abcdefghijklmnopqrstuvwxyz23456/"));
	assert_false(service_link_token_ok(""));
	assert_false(service_link_token_ok(NULL));
}

/* ---- the selfservice: section ---- */

#define CONFIG_HEAD "app: {database: app.db}\ndatamap: datamap.yaml\n"
#define MAIL "mail: {url: \"smtp://127.0.0.1:2525\", from: privacy@example.com, starttls: off}\n"

struct dir_fixture {
	char dir[64]; /* temp directory */
};

static int
setup_dir(void **state)
{
	struct dir_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%sss-XXXXXX", TU_TMP_PREFIX);
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown_dir(void **state)
{
	struct dir_fixture *f = *state;

	tu_rm_rf(f->dir);
	free(f);
	return 0;
}

/* Write CONFIG_HEAD and @text as DIR/lethe.yaml and load it into @cfg (caller frees). */
static lethe_rc
load(struct dir_fixture *f, const char *text, struct lethe_config *cfg, struct lethe_err *err)
{
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/lethe.yaml", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(CONFIG_HEAD, fp);
	fputs(text, fp);
	fclose(fp);
	memset(err, 0, sizeof(*err));
	return config_load(cfg, path, err);
}

static void
test_config_defaults(void **state)
{
	struct lethe_config cfg;
	struct lethe_err err;

	/* Without mail: off, with the defaults. */
	assert_int_equal(load(*state, "", &cfg, &err), LETHE_OK);
	assert_false(cfg.selfservice.enabled);
	assert_string_equal(cfg.selfservice.path, "/privacy");
	config_free(&cfg);
	/* With mail: on by default, one offer, the default limits. */
	assert_int_equal(load(*state, MAIL, &cfg, &err), LETHE_OK);
	assert_true(cfg.selfservice.enabled);
	assert_int_equal(cfg.selfservice.noffers, 1);
	assert_string_equal(cfg.selfservice.offers[0].id, "close-account");
	assert_string_equal(cfg.selfservice.offers[0].kind, "erasure");
	assert_string_equal(cfg.selfservice.offers[0].scope, "account");
	assert_int_equal(cfg.selfservice.per_address, 5);
	assert_int_equal(cfg.selfservice.per_client, 30);
	assert_int_equal(cfg.selfservice.total, 1000);
	assert_int_equal(cfg.selfservice.window_s, 3600);
	assert_non_null(selfservice_offer(&cfg, "close-account"));
	assert_null(selfservice_offer(&cfg, "close"));
	assert_null(selfservice_offer(&cfg, NULL));
	config_free(&cfg);
}

static void
test_config_fields(void **state)
{
	struct lethe_config cfg;
	struct lethe_err err;

	assert_int_equal(load(*state,
	                      MAIL
	                      "selfservice:\n"
	                      "  path: /account/privacy\n"
	                      "  offers:\n"
	                      "    - {id: wipe, kind: erasure, scope: profile, label: \"Wipe\"}\n"
	                      "    - {id: all, kind: erasure, scope: account, label: \"All\"}\n"
	                      "  limits: {per_address: 2, per_client: 7, total: 40, window: 10m}\n",
	                      &cfg, &err),
	                 LETHE_OK);
	assert_true(cfg.selfservice.enabled);
	assert_string_equal(cfg.selfservice.path, "/account/privacy");
	assert_int_equal(cfg.selfservice.noffers, 2);
	assert_string_equal(selfservice_offer(&cfg, "all")->scope, "account");
	assert_int_equal(cfg.selfservice.per_address, 2);
	assert_int_equal(cfg.selfservice.per_client, 7);
	assert_int_equal(cfg.selfservice.total, 40);
	assert_int_equal(cfg.selfservice.window_s, 600);
	config_free(&cfg);
	assert_int_equal(load(*state, MAIL "selfservice: {enabled: false}\n", &cfg, &err),
	                 LETHE_OK);
	assert_false(cfg.selfservice.enabled);
	config_free(&cfg);
}

/* @text must fail with LETHE_E_CONFIG naming line @line and saying @what. */
static void
refused(struct dir_fixture *f, const char *text, int line, const char *what)
{
	struct lethe_config cfg;
	struct lethe_err err;
	char at[32];

	assert_int_equal(load(f, text, &cfg, &err), LETHE_E_CONFIG);
	snprintf(at, sizeof(at), "lethe.yaml:%d:", line);
	if (strstr(err.msg, at) == NULL || strstr(err.msg, what) == NULL)
		fail_msg("'%s' does not name %s and '%s'", err.msg, at, what);
	config_free(&cfg);
}

static void
test_config_errors(void **state)
{
	refused(*state, "selfservice: {enabled: true}\n", 3, "needs the mail: section");
	refused(*state, MAIL "selfservice: {enabled: yes}\n", 4, "true or false");
	refused(*state, MAIL "selfservice: {colour: red}\n", 4, "colour");
	refused(*state, MAIL "selfservice: {path: privacy}\n", 4, "selfservice.path");
	refused(*state, MAIL "selfservice: {path: /privacy/}\n", 4, "selfservice.path");
	refused(*state, MAIL "selfservice: {path: \"/Privacy\"}\n", 4, "selfservice.path");
	refused(*state, MAIL "selfservice: {path: /v1/privacy}\n", 4, "selfservice.path");
	refused(*state, MAIL "selfservice: {path: /data-deletion}\n", 4, "selfservice.path");
	refused(*state, MAIL "selfservice: {path: \"/a//b\"}\n", 4, "selfservice.path");
	refused(*state, MAIL "selfservice: {offers: []}\n", 4, "1 to 8 offers");
	refused(*state,
	        MAIL "selfservice:\n  offers:\n    - {id: a, kind: erasure, scope: account}\n", 6,
	        "needs 'label'");
	refused(*state,
	        MAIL "selfservice:\n  offers:\n    - {id: A, kind: erasure, scope: x, label: y}\n",
	        6, "id must be");
	refused(*state,
	        MAIL "selfservice:\n  offers:\n    - {id: a, kind: erase, scope: x, label: y}\n", 6,
	        "kind must be");
	refused(*state,
	        MAIL "selfservice:\n  offers:\n"
	             "    - {id: a, kind: erasure, scope: x, label: y}\n"
	             "    - {id: a, kind: erasure, scope: z, label: w}\n",
	        7, "appears twice");
	refused(*state, MAIL "selfservice: {limits: {per_address: 0}}\n", 4, "per_address");
	refused(*state, MAIL "selfservice: {limits: {per_client: x}}\n", 4, "per_client");
	refused(*state, MAIL "selfservice: {limits: {window: soon}}\n", 4, "window");
	refused(*state, MAIL "selfservice: {limits: {burst: 3}}\n", 4, "burst");
	refused(*state, MAIL "selfservice: {limits: {total: 0}}\n", 4, "limits.total");
}

/* ---- rate windows ---- */

/* The client key of a peer at address @text (IPv6 or IPv4) into @out. */
static const char *
client_key(const char *text, char out[48])
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	memset(&s6, 0, sizeof(s6));
	memset(&s4, 0, sizeof(s4));
	if (inet_pton(AF_INET6, text, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		http_selfservice_client((const struct sockaddr *)&s6, out, 48);
	} else {
		assert_int_equal(inet_pton(AF_INET, text, &s4.sin_addr), 1);
		s4.sin_family = AF_INET;
		http_selfservice_client((const struct sockaddr *)&s4, out, 48);
	}
	return out;
}

/* An IPv6 client is counted by its /64: walking through it gets no new quota. */
static void
test_client_key(void **state)
{
	char a[48], b[48];

	(void)state;
	assert_string_equal(client_key("192.0.2.7", a), "192.0.2.7");
	assert_string_equal(client_key("::ffff:192.0.2.7", a), "192.0.2.7");
	assert_string_equal(client_key("2001:db8:1:2::1", a), "2001:db8:1:2::/64");
	assert_string_equal(client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", b), a);
	assert_string_equal(client_key("2001:db8:1:3::1", b), "2001:db8:1:3::/64");
	assert_string_equal(client_key("::1", a), "::/64");
	http_selfservice_client(NULL, a, sizeof(a));
	assert_string_equal(a, "");
}

static void
test_rate_hits(void **state)
{
	struct dir_fixture *f = *state;
	struct store *st = NULL;
	struct lethe_err err = {0};
	char path[128];
	bool ok = false;

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(store_open(path, &st, &err), LETHE_OK);
	/* Two hits allowed in a 60 s window, the third refused and not counted. */
	assert_int_equal(store_rate_hit(st, "anon:a", 60, 2, NOW, &ok, &err), LETHE_OK);
	assert_true(ok);
	assert_int_equal(store_rate_hit(st, "anon:a", 60, 2, NOW + 1, &ok, &err), LETHE_OK);
	assert_true(ok);
	assert_int_equal(store_rate_hit(st, "anon:a", 60, 2, NOW + 59, &ok, &err), LETHE_OK);
	assert_false(ok);
	/* Another key has its own window. */
	assert_int_equal(store_rate_hit(st, "anon:b", 60, 2, NOW + 59, &ok, &err), LETHE_OK);
	assert_true(ok);
	/* The window ended: a new one starts. */
	assert_int_equal(store_rate_hit(st, "anon:a", 60, 2, NOW + 60, &ok, &err), LETHE_OK);
	assert_true(ok);
	assert_int_equal(store_rate_hit(st, "anon:a", 60, 2, NOW + 61, &ok, &err), LETHE_OK);
	assert_true(ok);
	assert_int_equal(store_rate_hit(st, "anon:a", 60, 2, NOW + 62, &ok, &err), LETHE_OK);
	assert_false(ok);
	/* Purging windows that started before NOW + 60 forgets b's, not a's new one. */
	assert_int_equal(store_rate_purge(st, NOW + 60, &err), LETHE_OK);
	assert_int_equal(store_rate_hit(st, "anon:a", 60, 2, NOW + 63, &ok, &err), LETHE_OK);
	assert_false(ok);
	assert_int_equal(store_rate_hit(st, "anon:b", 60, 1, NOW + 63, &ok, &err), LETHE_OK);
	assert_true(ok);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_csrf_roundtrip),
	    cmocka_unit_test(test_csrf_expiry),
	    cmocka_unit_test(test_csrf_tamper),
	    cmocka_unit_test(test_link_token_format),
	    cmocka_unit_test_setup_teardown(test_config_defaults, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_config_fields, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_config_errors, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_rate_hits, setup_dir, teardown_dir),
	    cmocka_unit_test(test_client_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
