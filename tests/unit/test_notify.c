/* SPDX-License-Identifier: MIT */
/*
 * test_notify.c - notices to recipients (jobs/notify.c): the body carries
 * only the identity kinds a recipient receives, the Lethe-Signature header
 * verifies over "T.BODY" and nothing else, and a notice's payload seals
 * and opens at any length (util/seal.c: seal_bytes()), and libcurl's
 * global init is one for the process (util/curlinit.c), whichever thread
 * asks first.  The delivery itself is tested end to end
 * (tests/e2e/test_notify.py).
 */
#include "util/fmacros.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit/keys.h"
#include "jobs/notify.h"
#include "util/curlinit.h"
#include "util/hash.h"
#include "util/mem.h"
#include "util/seal.h"
#include "testutil.h"

static char *ident_kinds[] = {"email", "meta_asid"};
static char *events[] = {"completed"};

static const struct proof_recipient recipient = {
    .name = "app",
    .url = "http://127.0.0.1:1/hook",
    .identities = ident_kinds,
    .nidentities = 2,
    .events = events,
    .nevents = 1,
    .line = 1,
};

static const struct plan_id ids[] = {
    {"user_id", "42"},
    {"email", "ada@example.com"},
    {"meta_asid", "1022900000202"},
};

static void
test_notify_body_only_configured_kinds(void **state)
{
	json_t *receipt = json_pack("{s:{s:i}, s:{s:s}}", "receipt", "lethe_receipt", 1,
	                            "signature", "alg", "Ed25519");
	char *text;

	(void)state;
	text = notify_body(&recipient, 7, "erasure", "account", "completed", 1790000000, ids, 3,
	                   receipt);
	assert_non_null(text);
	/* Canonical: sorted keys, no whitespace; the user id (not configured) is absent. */
	assert_string_equal(
	    text, "{\"event\":\"erasure.completed\",\"identities\":[{\"kind\":\"email\",\"value\":"
	          "\"ada@example.com\"},{\"kind\":\"meta_asid\",\"value\":\"1022900000202\"}],"
	          "\"receipt\":{\"receipt\":{\"lethe_receipt\":1},\"signature\":{\"alg\":"
	          "\"Ed25519\"}},\"request\":{\"completed_at\":\"2026-09-21T14:13:20Z\",\"id\":7,"
	          "\"kind\":\"erasure\",\"scope\":\"account\",\"state\":\"completed\"}}");
	free(text);
	/* No receipt: no member; no identity of a configured kind: an empty list. */
	text =
	    notify_body(&recipient, 7, "erasure", "account", "completed", 1790000000, ids, 1, NULL);
	assert_non_null(text);
	assert_null(strstr(text, "\"receipt\""));
	assert_non_null(strstr(text, "\"identities\":[]"));
	assert_null(strstr(text, "42"));
	free(text);
	json_decref(receipt);
}

static void
test_notify_signature_verifies_over_time_and_body(void **state)
{
	struct lethe_config cfg;
	struct keys_ring kr;
	struct lethe_err err = {0};
	char dir[] = "/tmp/lethe-test-notify-XXXXXX", path[128], sig[200];
	const char *body = "{\"event\":\"erasure.completed\"}";
	char *t, *key, *val, *msg;

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/signing.key", dir);
	memset(&kr, 0, sizeof(kr));
	assert_int_equal(keys_ring_load(&kr, path, true, NULL, 0, &err), LETHE_OK);
	memset(&cfg, 0, sizeof(cfg));
	/* Without a signing key: a clear error, nothing signed. */
	assert_int_equal(
	    notify_signature(&cfg, body, strlen(body), 1790000000, sig, sizeof(sig), &err),
	    LETHE_E_CONFIG);
	cfg.proof.keys = &kr;
	assert_int_equal(
	    notify_signature(&cfg, body, strlen(body), 1790000000, sig, sizeof(sig), &err),
	    LETHE_OK);
	/* "t=T,key=ID,ed25519=B64" */
	t = sig;
	key = strchr(t, ',');
	assert_non_null(key);
	*key++ = '\0';
	val = strchr(key, ',');
	assert_non_null(val);
	*val++ = '\0';
	assert_string_equal(t, "t=1790000000");
	assert_int_equal(strncmp(key, "key=", 4), 0);
	assert_string_equal(key + 4, kr.keys[0].id);
	assert_int_equal(strncmp(val, "ed25519=", 8), 0);
	msg = xasprintf("1790000000.%s", body);
	assert_int_equal(keys_verify(&kr, key + 4, msg, strlen(msg), val + 8, &err), LETHE_OK);
	/* Another time or another body: the signature does not verify. */
	msg[0] = '2';
	assert_int_equal(keys_verify(&kr, key + 4, msg, strlen(msg), val + 8, &err),
	                 LETHE_E_FORBIDDEN);
	msg[0] = '1';
	msg[strlen(msg) - 3] = 'x';
	assert_int_equal(keys_verify(&kr, key + 4, msg, strlen(msg), val + 8, &err),
	                 LETHE_E_FORBIDDEN);
	free(msg);
	keys_ring_wipe(&kr);
	tu_rm_rf(dir);
}

static void
test_notify_payload_seals_at_any_length(void **state)
{
	uint8_t key[HASH_KEY_LEN], other[HASH_KEY_LEN];
	size_t n = 100000, boxlen = 0, len = 0;
	char *plain = malloc(n);
	uint8_t *box, *out;

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	hash_key_random(key);
	hash_key_random(other);
	for (size_t i = 0; i < n; i++)
		plain[i] = (char)('a' + i % 26);
	memcpy(plain, "app\n{\"value\":\"ada@example.com\"}", 31);
	box = seal_bytes(key, NOTIFY_KIND, plain, n, &boxlen);
	assert_non_null(box);
	for (size_t i = 0; i + 15 <= boxlen; i++)
		assert_true(memcmp(box + i, "ada@example.com", 15) != 0);
	out = seal_open_bytes(key, NOTIFY_KIND, box, boxlen, n, &len);
	assert_non_null(out);
	assert_int_equal(len, n);
	assert_memory_equal(out, plain, n);
	assert_int_equal(out[n], '\0');
	free(out);
	/* Over the caller's bound, another kind, another key, a changed byte: refused. */
	assert_null(seal_open_bytes(key, NOTIFY_KIND, box, boxlen, n - 1, &len));
	assert_null(seal_open_bytes(key, "revoke", box, boxlen, n, &len));
	assert_null(seal_open_bytes(other, NOTIFY_KIND, box, boxlen, n, &len));
	box[boxlen / 2] ^= 1;
	assert_null(seal_open_bytes(key, NOTIFY_KIND, box, boxlen, n, &len));
	assert_null(seal_open_bytes(key, NOTIFY_KIND, box, 10, n, &len));
	free(box);
	free(plain);
}

static void *
curl_init_thread(void *arg)
{
	*(CURLcode *)arg = curlinit_once();
	return NULL;
}

/* Threads racing to the first init all get its one result, and later callers too. */
static void
test_notify_curl_init_once_for_the_process(void **state)
{
	pthread_t t[4];
	CURLcode rc[4];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		rc[i] = CURLE_FAILED_INIT;
		assert_int_equal(pthread_create(&t[i], NULL, curl_init_thread, &rc[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(rc[i], CURLE_OK);
	}
	assert_int_equal(curlinit_once(), CURLE_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_notify_body_only_configured_kinds),
	    cmocka_unit_test(test_notify_signature_verifies_over_time_and_body),
	    cmocka_unit_test(test_notify_payload_seals_at_any_length),
	    cmocka_unit_test(test_notify_curl_init_once_for_the_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
