/* SPDX-License-Identifier: MIT */
/*
 * test_receipt.c - unit tests of receipts: src/audit/receipt.c (the
 * canonical JSON of a receipt, its signature, verifying a receipt file),
 * src/engine/receipt.c (a request's receipt from the state store) and
 * src/store/receipts.c (the audit entry of a request's final transition);
 * what is signed under the same key but is not a receipt (an audit head,
 * a notice's "T.BODY") is never taken for one.
 *
 * The known answers (canonical bytes, key id, signature) were computed
 * independently with Python's json.dumps(sort_keys=True, separators=(",",
 * ":")) and cryptography's Ed25519 for the seed 01 01 ... 01.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "audit/canon.h"
#include "audit/receipt.h"
#include "engine/receipt.h"
#include "store/store.h"
#include "testutil.h"
#include "util/hash.h"

static const char canon_expected[] =
    "{\"audit\":{\"hash\":\"abababababababababababababababababababababababababababababababab\","
    "\"seq\":7},\"counts\":{\"categories\":{\"billing\":2,\"content\":3},\"no_data\":false,"
    "\"tables\":[{\"action\":\"delete\",\"category\":\"content\",\"media\":1,\"part\":"
    "\"posts\",\"rows\":3,\"table\":\"posts\"},{\"action\":\"retain\",\"category\":"
    "\"billing\",\"media\":0,\"part\":\"invoices#1\",\"rows\":2,\"table\":\"invoices\"}]},"
    "\"issuer\":\"https://privacy.example.com\",\"kept\":[{\"category\":\"billing\","
    "\"reason\":\"Tax law: 10 years\",\"rows\":2,\"table\":\"invoices\",\"until\":"
    "\"2035-11-30T01:46:40Z\"}],\"lethe_receipt\":1,\"request\":{\"completed_at\":"
    "\"2025-12-01T01:00:00Z\",\"due_at\":\"2025-12-31T00:00:00Z\",\"id\":42,\"kind\":"
    "\"erasure\",\"received_at\":\"2025-12-01T00:00:00Z\",\"scope\":\"account\",\"source\":"
    "\"app\",\"state\":\"completed_with_retention\"},\"scan\":{\"result\":\"clean\",\"rows\":0,"
    "\"secure_delete\":\"on\",\"tables\":14,\"wal\":\"truncated\"}}";
static const char key_id_expected[] = "c5e21ab1c9f6022d";
static const char sig_expected[] =
    "YRL9X73fiX9zXYBzJTlshfzoFSEn3pc6V8kalcIjvWTASdV/aOljINjdY6QJOuxGeAYXMM70mlFSJkbbaBYUBw==";

/* A temp directory with two key files: a.key (seed 01...) and b.key (seed 02...). */
struct fx {
	char dir[64];        /* TU_TMP_PREFIX "receipt-XXXXXX" */
	char a[128], b[128]; /* the key files */
	struct keys_ring kr; /* a.key's ring (signs) */
};

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char seed[80];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), TU_TMP_PREFIX "receipt-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->a, sizeof(f->a), "%s/a.key", f->dir);
	snprintf(f->b, sizeof(f->b), "%s/b.key", f->dir);
	memset(seed, '0', 64);
	for (int i = 1; i < 64; i += 2)
		seed[i] = '1';
	seed[64] = '\n';
	seed[65] = '\0';
	write_file(f->a, seed);
	for (int i = 1; i < 64; i += 2)
		seed[i] = '2';
	write_file(f->b, seed);
	if (chmod(f->a, 0600) != 0 || chmod(f->b, 0600) != 0 ||
	    keys_ring_load(&f->kr, f->a, false, NULL, 0, NULL) != LETHE_OK)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	keys_ring_wipe(&f->kr);
	tu_rm_rf(f->dir);
	free(f);
	return 0;
}

static struct receipt_table tables[] = {
    {"posts", "posts", "content", "delete", 3, 1, NULL, 0},
    {"invoices", "invoices#1", "billing", "retain", 2, 0, "Tax law: 10 years", 2080000000},
};

static void
facts(struct receipt_facts *fa)
{
	memset(fa, 0, sizeof(*fa));
	fa->issuer = "https://privacy.example.com";
	fa->id = 42;
	fa->kind = "erasure";
	fa->scope = "account";
	fa->source = "app";
	fa->state = "completed_with_retention";
	fa->received_at = 1764547200;
	fa->completed_at = 1764550800;
	fa->due_at = 1767139200;
	fa->tables = tables;
	fa->ntables = 2;
	fa->has_scan = true;
	fa->scan_result = "clean";
	fa->scan_rows = 0;
	fa->scan_tables = 14;
	fa->scan_wal = "truncated";
	fa->scan_secure_delete = 1;
	fa->audit_seq = 7;
	fa->audit_hash = "abababababababababababababababababababababababababababababababab";
}

/* The signed receipt of the test facts as file text (caller frees). */
static char *
signed_text(const struct keys_ring *kr)
{
	struct receipt_facts fa;
	struct lethe_err err = {0};
	json_t *env;
	char *text;

	facts(&fa);
	env = receipt_sign(kr, &fa, &err);
	assert_non_null(env);
	text = json_dumps(env, JSON_INDENT(2));
	json_decref(env);
	assert_non_null(text);
	return text;
}

/* The canonical bytes, key id and signature are the known answers, every time. */
static void
test_receipt_canonical_bytes_stable(void **state)
{
	struct fx *f = *state;
	struct receipt_facts fa;
	struct lethe_err err = {0};
	json_t *r, *env1, *env2;
	char *bytes, *d1, *d2;

	facts(&fa);
	r = receipt_json(&fa);
	bytes = canon_dump(r);
	assert_string_equal(bytes, canon_expected);
	free(bytes);
	json_decref(r);
	env1 = receipt_sign(&f->kr, &fa, &err);
	env2 = receipt_sign(&f->kr, &fa, &err);
	assert_non_null(env1);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(env1, "signature"), "key")),
	    key_id_expected);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(env1, "signature"), "value")),
	    sig_expected);
	d1 = json_dumps(env1, JSON_COMPACT | JSON_SORT_KEYS);
	d2 = json_dumps(env2, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(d1, d2); /* deterministic */
	free(d1);
	free(d2);
	json_decref(env1);
	json_decref(env2);
}

/* No scan, no audit entry, no times: said so, members left out, never 0 dates. */
static void
test_receipt_absent_facts(void **state)
{
	struct receipt_facts fa;
	json_t *r;
	char *bytes;

	(void)state;
	facts(&fa);
	fa.has_scan = false;
	fa.audit_seq = 0;
	fa.completed_at = 0;
	fa.due_at = 0;
	fa.state = "refused";
	fa.reason = receipt_reason("refused");
	fa.tables = NULL;
	fa.ntables = 0;
	r = receipt_json(&fa);
	bytes = canon_dump(r);
	assert_non_null(strstr(bytes, "\"scan\":{\"result\":\"not_run\"}"));
	assert_null(strstr(bytes, "\"audit\""));
	assert_null(strstr(bytes, "completed_at"));
	assert_null(strstr(bytes, "due_at"));
	assert_non_null(strstr(bytes, "\"kept\":[]"));
	assert_non_null(strstr(bytes, "\"reason\":\"refused by the operator"));
	free(bytes);
	json_decref(r);
	assert_non_null(receipt_reason("cancelled"));
	assert_null(receipt_reason("completed"));
	assert_null(receipt_reason(NULL));
}

static void
test_receipt_verify_ok(void **state)
{
	struct fx *f = *state;
	struct lethe_err err = {0};
	char key[KEYS_ID_LEN + 1];
	char *text = signed_text(&f->kr);
	json_t *r = NULL;
	char *bytes;

	assert_int_equal(receipt_verify(&f->kr, text, &r, key, &err), LETHE_OK);
	assert_string_equal(key, key_id_expected);
	bytes = canon_dump(r);
	assert_string_equal(bytes, canon_expected);
	free(bytes);
	json_decref(r);
	free(text);
}

/* Change leaf number @target (counting in document order) of @v; true once done. */
static bool
edit_leaf(json_t *v, int *n, int target)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, x)
		{
			if (edit_leaf(x, n, target))
				return true;
		}
		return false;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (edit_leaf(x, n, target))
				return true;
		}
		return false;
	}
	if ((*n)++ != target)
		return false;
	if (json_is_integer(v)) {
		json_integer_set(v, json_integer_value(v) + 1);
	} else if (json_is_string(v)) {
		char s[512];

		snprintf(s, sizeof(s), "%sx", json_string_value(v));
		json_string_set(v, s);
	} else {
		return false; /* booleans: edited by the caller */
	}
	return true;
}

/* Any one field of the receipt edited, the signature fails: every leaf in turn. */
static void
test_receipt_any_edited_field_fails(void **state)
{
	struct fx *f = *state;
	char *text = signed_text(&f->kr);
	int target, edited = 0;

	for (target = 0; target < 200; target++) {
		struct lethe_err err = {0};
		json_t *doc = json_loads(text, 0, NULL);
		char *bad;
		int n = 0;

		assert_non_null(doc);
		if (!edit_leaf(json_object_get(doc, "receipt"), &n, target)) {
			json_decref(doc);
			if (n <= target)
				break; /* past the last leaf */
			continue;
		}
		bad = json_dumps(doc, JSON_INDENT(2));
		json_decref(doc);
		/* lethe_receipt edited to 2 is caught by the signature too. */
		assert_int_equal(receipt_verify(&f->kr, bad, NULL, NULL, &err), LETHE_E_FORBIDDEN);
		free(bad);
		edited++;
	}
	assert_true(edited >= 30);
	/* The boolean, a member added, a member removed. */
	{
		struct lethe_err err = {0};
		json_t *doc = json_loads(text, 0, NULL);
		json_t *r = json_object_get(doc, "receipt");
		char *bad;

		json_object_set_new(json_object_get(r, "counts"), "no_data", json_true());
		bad = json_dumps(doc, 0);
		assert_int_equal(receipt_verify(&f->kr, bad, NULL, NULL, &err), LETHE_E_FORBIDDEN);
		free(bad);
		json_object_set_new(json_object_get(r, "counts"), "no_data", json_false());
		json_object_set_new(r, "note", json_string("all fine"));
		bad = json_dumps(doc, 0);
		assert_int_equal(receipt_verify(&f->kr, bad, NULL, NULL, &err), LETHE_E_FORBIDDEN);
		free(bad);
		json_object_del(r, "note");
		json_object_del(r, "kept");
		bad = json_dumps(doc, 0);
		assert_int_equal(receipt_verify(&f->kr, bad, NULL, NULL, &err), LETHE_E_FORBIDDEN);
		free(bad);
		json_decref(doc);
	}
	free(text);
}

/* A real number anywhere: refused, never signed, never verified. */
static void
test_receipt_real_number_rejected(void **state)
{
	struct fx *f = *state;
	struct lethe_err err = {0};
	char *text = signed_text(&f->kr);
	const char *needle = "\"tables\": 14";
	char *p = strstr(text, needle);
	size_t head, cap = strlen(text) + 3;
	char *bad;
	json_t *v;

	assert_non_null(p);
	head = (size_t)(p - text) + strlen(needle);
	bad = calloc(1, cap);
	assert_non_null(bad);
	memcpy(bad, text, head);
	snprintf(bad + head, cap - head, ".0%s", text + head); /* 14 becomes 14.0 */
	assert_int_equal(receipt_verify(&f->kr, bad, NULL, NULL, &err), LETHE_E_FORBIDDEN);
	assert_non_null(strstr(err.msg, "real number"));
	free(bad);
	free(text);
	v = json_pack("{s:f}", "x", 1.5);
	assert_null(canon_sign(&f->kr, "receipt", v, &err)); /* steals v */
}

/* Signed by a key the ring does not hold: LETHE_E_NOTFOUND; with it as a previous key: OK. */
static void
test_receipt_unknown_key(void **state)
{
	struct fx *f = *state;
	struct keys_ring other, both;
	struct lethe_err err = {0};
	const char *prev[1];
	char key[KEYS_ID_LEN + 1];
	char *text = signed_text(&f->kr);

	memset(&other, 0, sizeof(other));
	memset(&both, 0, sizeof(both));
	assert_int_equal(keys_ring_load(&other, f->b, false, NULL, 0, &err), LETHE_OK);
	assert_int_equal(receipt_verify(&other, text, NULL, key, &err), LETHE_E_NOTFOUND);
	/* Rotation: b signs now, a is a previous key, a's receipt still verifies. */
	prev[0] = f->a;
	assert_int_equal(keys_ring_load(&both, f->b, false, prev, 1, &err), LETHE_OK);
	assert_int_equal(receipt_verify(&both, text, NULL, key, &err), LETHE_OK);
	assert_string_equal(key, key_id_expected);
	keys_ring_wipe(&other);
	keys_ring_wipe(&both);
	free(text);
}

/* Not a receipt: LETHE_E_USAGE, whatever it is. */
static void
test_receipt_not_a_receipt(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[]",
	    "{}",
	    "{\"head\": {}, \"signature\": {}}",
	    "{\"receipt\": {\"issuer\": \"x\"}, \"signature\": {}}",
	    "{\"receipt\": {\"lethe_receipt\": 1}}",
	    "{\"receipt\": {\"lethe_receipt\": 1}, \"signature\": {\"alg\": \"RSA\", \"key\": "
	    "\"c5e21ab1c9f6022d\", \"value\": \"AA==\"}}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lethe_err err = {0};
		json_t *r = (json_t *)1;

		assert_int_equal(receipt_verify(&f->kr, bad[i], &r, NULL, &err), LETHE_E_USAGE);
		assert_null(r);
		assert_true(err.msg[0] != '\0');
	}
}

/*
 * Control characters are escaped as Python's json.dumps() does: \u001b, not
 * jansson's \u001B; DEL, C1 and other non-ASCII stay raw, '\\' and "\u" as text.
 */
static void
test_receipt_canon_escapes_like_python(void **state)
{
	json_t *v = json_pack("{s:s, s:s}", "b", "\x1b\x7f\\u\x01\n\xc2\x85", "a", "\xc3\xa9");
	char *bytes = canon_dump(v);

	(void)state;
	/* Python: json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False) */
	assert_string_equal(bytes,
	                    "{\"a\":\"\xc3\xa9\",\"b\":\"\\u001b\x7f\\\\u\\u0001\\n\xc2\x85\"}");
	free(bytes);
	json_decref(v);
}

/* The file text of envelope {"@field": @v, "signature": @sig} (both borrowed). */
static char *
envelope_text(const char *field, json_t *v, json_t *sig)
{
	json_t *doc = json_pack("{s:O, s:O}", field, v, "signature", sig);
	char *text = json_dumps(doc, 0);

	json_decref(doc);
	assert_non_null(text);
	return text;
}

/*
 * Domain separation (review finding 10): a signed audit head is never a
 * receipt, neither in its own envelope nor moved under "receipt" with its
 * signature; a value signed as a receipt but without "lethe_receipt": 1 is
 * refused; and a notice's signature (over "T.BODY", which starts with a
 * digit where canonical JSON starts with '{') verifies as no receipt.
 */
static void
test_receipt_other_signed_things_are_not_receipts(void **state)
{
	struct fx *f = *state;
	struct lethe_err err = {0};
	struct receipt_facts fa;
	char sig[KEYS_SIG_B64], kid[KEYS_ID_LEN + 1];
	json_t *head, *env, *r, *s;
	json_t *out = (json_t *)1;
	char *text, *bytes, *msg;
	size_t i;

	/* A head as chain_checkpoint() signs it. */
	head = json_pack("{s:I, s:s, s:I, s:s}", "at", (json_int_t)1764550800, "hash",
	                 "abababababababababababababababababababababababababababababababab", "seq",
	                 (json_int_t)7, "type", "lethe-audit-head");
	env = canon_sign(&f->kr, "head", json_incref(head), &err);
	assert_non_null(env);
	text = json_dumps(env, 0);
	assert_int_equal(receipt_verify(&f->kr, text, &out, NULL, &err), LETHE_E_USAGE);
	assert_null(out);
	free(text);
	text = envelope_text("receipt", head, json_object_get(env, "signature"));
	assert_int_equal(receipt_verify(&f->kr, text, &out, NULL, &err), LETHE_E_USAGE);
	assert_null(out);
	free(text);
	json_decref(env);
	json_decref(head);

	/* Validly signed receipts whose lethe_receipt is missing, 2, "1", true. */
	for (i = 0; i < 4; i++) {
		facts(&fa);
		r = receipt_json(&fa);
		if (i == 0)
			json_object_del(r, "lethe_receipt");
		else
			json_object_set_new(r, "lethe_receipt",
			                    i == 1   ? json_integer(2)
			                    : i == 2 ? json_string("1")
			                             : json_true());
		env = canon_sign(&f->kr, "receipt", r, &err);
		assert_non_null(env);
		text = json_dumps(env, 0);
		out = (json_t *)1;
		assert_int_equal(receipt_verify(&f->kr, text, &out, NULL, &err), LETHE_E_USAGE);
		assert_null(out);
		free(text);
		json_decref(env);
	}

	/* A notice's signature over "T." + a receipt's canonical bytes: not the receipt's. */
	facts(&fa);
	r = receipt_json(&fa);
	bytes = canon_dump(r);
	assert_int_equal(bytes[0], '{');
	msg = calloc(1, strlen(bytes) + 16);
	assert_non_null(msg);
	snprintf(msg, strlen(bytes) + 16, "1764550800.%s", bytes);
	assert_int_equal(keys_sign(&f->kr, msg, strlen(msg), sig, kid, &err), LETHE_OK);
	s = json_pack("{s:s, s:s, s:s}", "alg", "Ed25519", "key", kid, "value", sig);
	text = envelope_text("receipt", r, s);
	assert_int_equal(receipt_verify(&f->kr, text, NULL, NULL, &err), LETHE_E_FORBIDDEN);
	free(text);
	json_decref(s);
	json_decref(r);
	free(msg);
	free(bytes);
}

/* The store's part: a request's final audit entry, and a request not finished: 409. */
static void
test_receipt_from_store(void **state)
{
	struct fx *f = *state;
	struct lethe_err err = {0};
	struct store *st = NULL;
	char path[128], hash[65];
	int64_t seq = -1, id = 0;
	json_t *env = NULL;
	bool applied = false;
	struct store_request_new n = {
	    .code = "abcdefghijklmnopqrstuvwxyz234567",
	    .kind = "erasure",
	    .scope = "account",
	    .source = "app",
	    .policy = "p",
	    .subject = "anon:00000000000000000000000000000000",
	    .state = "awaiting_review",
	    .actor = "app:test",
	    .box = (const uint8_t *)"sealed",
	    .boxlen = 6,
	    .now = 1764547200,
	    .due_at = 1767139200,
	};
	struct store_transition t = {
	    .from = "awaiting_review",
	    .to = "refused",
	    .actor = "admin:ops",
	    .reason = "Alice Example owes us money",
	    .now = 1764550800,
	    .not_before = -1,
	    .expires_at = -1,
	    .completed_at = 1764550800,
	    .effects = -1,
	};
	char *text;

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(store_open(path, &st, &err), LETHE_OK);
	assert_int_equal(store_audit_final(st, 1, &seq, hash, &err), LETHE_E_NOTFOUND);
	assert_int_equal(seq, 0);
	if (store_request_insert(st, &n, &id, &err) != LETHE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(receipt_for_request(NULL, st, &f->kr, "https://x.example", id, &env, &err),
	                 LETHE_E_CONFLICT);
	assert_null(env);
	assert_non_null(strstr(err.msg, "not finished"));
	assert_int_equal(
	    receipt_for_request(NULL, st, &f->kr, "https://x.example", id + 100, &env, &err),
	    LETHE_E_NOTFOUND);
	assert_int_equal(store_begin(st, &err), LETHE_OK);
	assert_int_equal(store_request_transition(st, id, &t, &applied, &err), LETHE_OK);
	assert_int_equal(store_commit(st, &err), LETHE_OK);
	assert_true(applied);
	/* The chain's entries, as the chain owner's appends write them (any others ignored). */
	{
		char sql[1024];

		snprintf(sql, sizeof(sql),
		         "DELETE FROM audit;"
		         "INSERT INTO audit (seq, at, request_id, type, state, body, hash) VALUES "
		         "(101, 1, %lld, 'request', 'awaiting_review', '{}', zeroblob(32)),"
		         "(102, 2, %lld, 'request', 'refused', '{\"at\":2,\"request\":%lld,"
		         "\"seq\":102,\"state\":\"refused\",\"type\":\"request\"}', x'%s'),"
		         "(103, 3, %lld, 'scan', NULL, '{}', zeroblob(32)),"
		         "(104, 4, %lld, 'request', 'refused', '{}', zeroblob(32));",
		         (long long)id, (long long)id, (long long)id,
		         "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		         (long long)id + 1, (long long)id + 1);
		tu_exec_sql(path, sql);
	}
	assert_int_equal(store_audit_final(st, id, &seq, hash, &err), LETHE_OK);
	assert_int_equal(seq, 102);
	assert_string_equal(hash,
	                    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
	assert_int_equal(receipt_for_request(NULL, st, &f->kr, "https://x.example", id, &env, &err),
	                 LETHE_OK);
	text = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(text, "\"audit\":{\"hash\":\"0102030405060708090a0b0c0d0e0f10111213"
	                             "1415161718191a1b1c1d1e1f20\",\"seq\":102}"));
	assert_non_null(strstr(text, "\"state\":\"refused\""));
	assert_non_null(strstr(text, "\"reason\":\"refused by the operator"));
	assert_null(strstr(text, "Alice")); /* never the typed reason */
	assert_non_null(strstr(text, "\"scan\":{\"result\":\"not_run\"}"));
	free(text);
	assert_int_equal(receipt_verify(&f->kr, (text = json_dumps(env, 0)), NULL, NULL, &err),
	                 LETHE_OK);
	free(text);
	json_decref(env);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_receipt_canonical_bytes_stable, setup, teardown),
	    cmocka_unit_test(test_receipt_absent_facts),
	    cmocka_unit_test_setup_teardown(test_receipt_verify_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_any_edited_field_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_real_number_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_unknown_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_not_a_receipt, setup, teardown),
	    cmocka_unit_test(test_receipt_canon_escapes_like_python),
	    cmocka_unit_test_setup_teardown(test_receipt_other_signed_things_are_not_receipts,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_from_store, setup, teardown),
	};

	if (hash_init() != LETHE_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
