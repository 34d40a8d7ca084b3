/* SPDX-License-Identifier: MIT */
/*
 * test_audit.c - unit tests of the audit chain: appending (store/audit.c:
 * bodies, hashes, the hooks of request inserts, transitions and expiry, an
 * erase job's steps and scan) and checking and signing it (audit/chain.c:
 * a pristine chain verifies; an edited, missing, reordered or truncated
 * entry, a forged or unknown checkpoint signature and a chain rewritten
 * under a checkpoint are each reported at the right entry).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "audit/canon.h"
#include "audit/chain.h"
#include "audit/keys.h"
#include <sqlite3.h>

#include "store/store_internal.h"
#include "testutil.h"
#include "util/hash.h"

struct fx {
	struct tu_store s;
	struct keys_ring kr;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct tu_store *t = NULL;
	void *ts = NULL;
	char path[160];
	struct lethe_err err = {0};
	uint8_t key[HASH_KEY_LEN];

	if (f == NULL || hash_init() != LETHE_OK || tu_store_setup(&ts, "audit") != 0)
		return -1;
	t = ts;
	f->s = *t;
	free(t);
	snprintf(path, sizeof(path), "%s/signing.key", f->s.dir);
	if (keys_ring_load(&f->kr, path, true, NULL, 0, &err) != LETHE_OK) {
		fprintf(stderr, "keys: %s\n", err.msg);
		return -1;
	}
	memset(key, 7, sizeof(key));
	store_audit_set_key(key);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	struct tu_store *t = malloc(sizeof(*t));
	void *ts = t;

	*t = f->s;
	keys_ring_wipe(&f->kr);
	free(f);
	return tu_store_teardown(&ts);
}

/* Run @sql on the fixture's connection (tampering, as an attacker with the file would). */
static void
sql(struct fx *f, const char *text)
{
	char *msg = NULL;

	if (sqlite3_exec(sq_sqlite_handle(f->s.st->c), text, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", text, msg);
}

/* Append @n "test" entries. */
static void
append_n(struct fx *f, int n)
{
	struct lethe_err err = {0};
	int i;

	for (i = 0; i < n; i++)
		assert_int_equal(store_audit_append(f->s.st, i + 1, "reapply", NULL, 1000 + i,
		                                    "\"found\":1,\"requests\":[1,2]", NULL, &err),
		                 LETHE_OK);
}

/* The body and hash of entry @seq. */
static char *
body_of(struct fx *f, int64_t seq, uint8_t hash[32])
{
	sqlite3_stmt *q;
	char *out = NULL;

	assert_int_equal(sqlite3_prepare_v2(sq_sqlite_handle(f->s.st->c),
	                                    "SELECT body, hash FROM audit WHERE seq = ?1", -1, &q,
	                                    NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(q, 1, seq);
	if (sqlite3_step(q) == SQLITE_ROW) {
		out = strdup((const char *)sqlite3_column_text(q, 0));
		if (hash != NULL)
			memcpy(hash, sqlite3_column_blob(q, 1), 32);
	}
	sqlite3_finalize(q);
	return out;
}

/* Verify; the number of breaks, the first one's seq and text into @seq, @what. */
static size_t
verify(struct fx *f, const json_t *head, int64_t *seq, char what[240])
{
	struct chain_report rep;
	struct lethe_err err = {0};
	size_t n;

	assert_int_equal(chain_verify(f->s.st, &f->kr, head, 0, &rep, &err), LETHE_OK);
	n = rep.nbreaks;
	if (n > 0) {
		if (seq != NULL)
			*seq = rep.breaks[0].seq;
		if (what != NULL)
			snprintf(what, 240, "%s", rep.breaks[0].what);
	}
	chain_report_free(&rep);
	return n;
}

static void
checkpoint(struct fx *f, int64_t want)
{
	struct lethe_err err = {0};
	int64_t seq = -1;

	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 5000, false, &seq, &err), LETHE_OK);
	assert_int_equal(seq, want);
}

/* Verify with checkpoint interval @interval; every break (or warning if @warnings), one a line. */
static size_t
verify_lines(struct fx *f, int64_t interval, bool warnings, char *out, size_t cap)
{
	struct chain_report rep;
	struct lethe_err err = {0};
	const struct chain_break *b;
	size_t i, n, len = 0;

	assert_int_equal(chain_verify(f->s.st, &f->kr, NULL, interval, &rep, &err), LETHE_OK);
	b = warnings ? rep.warnings : rep.breaks;
	n = warnings ? rep.nwarnings : rep.nbreaks;
	out[0] = '\0';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s\n", b[i].what);
	chain_report_free(&rep);
	return n;
}

/* Append a "reapply" entry at @at. */
static void
append_at(struct fx *f, int64_t at)
{
	struct lethe_err err = {0};

	assert_int_equal(
	    store_audit_append(f->s.st, 0, "reapply", NULL, at, "\"found\":1", NULL, &err),
	    LETHE_OK);
}

/* @body is its own canonical form (sorted keys, as canon_dump() writes it). */
static void
assert_canonical(const char *body)
{
	json_t *j = json_loads(body, 0, NULL);
	char *canon;

	assert_non_null(j);
	canon = canon_dump(j);
	assert_string_equal(canon, body);
	free(canon);
	json_decref(j);
}

/* An entry's body: canonical JSON with seq and type, the fields merged in order. */
static void
test_append_body_and_hash(void **state)
{
	struct fx *f = *state;
	uint8_t h1[32], h2[32], want[32], zero[32] = {0};
	crypto_generichash_state g;
	char *b1, *b2;
	int64_t seq = 0;
	struct lethe_err err = {0};

	assert_int_equal(store_audit_append(f->s.st, 0, "reapply", NULL, 1234,
	                                    "\"found\":3,\"requests\":[12,13]", &seq, &err),
	                 LETHE_OK);
	assert_int_equal(seq, 1);
	assert_int_equal(
	    store_audit_append(f->s.st, 9, "reapply", "x", 1235, "\"zz\":\"a\\\"b\"", &seq, &err),
	    LETHE_OK);
	assert_int_equal(seq, 2);
	b1 = body_of(f, 1, h1);
	b2 = body_of(f, 2, h2);
	assert_string_equal(b1, "{\"at\":1234,\"found\":3,\"requests\":[12,13],\"seq\":1,"
	                        "\"type\":\"reapply\"}");
	assert_string_equal(b2, "{\"at\":1235,\"request\":9,\"seq\":2,\"state\":\"x\","
	                        "\"type\":\"reapply\",\"zz\":\"a\\\"b\"}");
	/* hash = BLAKE2b-256(previous || body), 32 zero bytes before entry 1. */
	crypto_generichash_init(&g, NULL, 0, 32);
	crypto_generichash_update(&g, zero, 32);
	crypto_generichash_update(&g, (const unsigned char *)b1, strlen(b1));
	crypto_generichash_final(&g, want, 32);
	assert_memory_equal(h1, want, 32);
	crypto_generichash_init(&g, NULL, 0, 32);
	crypto_generichash_update(&g, h1, 32);
	crypto_generichash_update(&g, (const unsigned char *)b2, strlen(b2));
	crypto_generichash_final(&g, want, 32);
	assert_memory_equal(h2, want, 32);
	/* The body is the canonical form of itself. */
	assert_canonical(b2);
	free(b1);
	free(b2);
	/* Fields that are not members, or that name lethe's own, are refused. */
	assert_int_equal(store_audit_append(f->s.st, 0, "reapply", NULL, 1, "found:3", NULL, &err),
	                 LETHE_E_INTERNAL);
	assert_int_equal(
	    store_audit_append(f->s.st, 0, "reapply", NULL, 1, "\"seq\":3", NULL, &err),
	    LETHE_E_INTERNAL);
	assert_int_equal(verify(f, NULL, NULL, NULL), 0);
}

/* Request "c1" awaiting review, as the tests insert it. */
static struct store_request_new
new_request(void)
{
	struct store_request_new n = {.code = "c1",
	                              .kind = "erasure",
	                              .scope = "account",
	                              .source = "app",
	                              .policy = "p",
	                              .subject = "anon:00112233445566778899aabbccddeeff",
	                              .state = "awaiting_review",
	                              .actor = "app:e2e",
	                              .box = (const uint8_t *)"x",
	                              .boxlen = 1,
	                              .now = 100,
	                              .due_at = 200};

	return n;
}

/* Its refusal by an operator, for @reason (may be NULL). */
static struct store_transition
refusal(const char *reason)
{
	struct store_transition t = {.from = "awaiting_review",
	                             .to = "refused",
	                             .actor = "admin:ops",
	                             .reason = reason,
	                             .now = 150,
	                             .not_before = -1,
	                             .expires_at = -1,
	                             .completed_at = 150,
	                             .effects = -1};

	return t;
}

/* Insert, transition and expiry append one request entry per state; reasons only as a MAC. */
static void
test_request_hooks(void **state)
{
	struct fx *f = *state;
	struct store_request_new n = new_request();
	struct store_transition t = refusal("alice@example.com asked by phone");
	struct lethe_err err = {0};
	int64_t id = 0, id2 = 0, id3 = 0, k = 0;
	bool applied = false;
	char *b;

	assert_int_equal(store_request_insert(f->s.st, &n, &id, &err), LETHE_OK);
	b = body_of(f, 1, NULL);
	assert_string_equal(b, "{\"actor\":\"app:e2e\",\"app\":\"\",\"at\":100,\"due_at\":200,"
	                       "\"kind\":\"erasure\",\"received_at\":100,\"request\":1,"
	                       "\"scope\":\"account\",\"seq\":1,\"source\":\"app\","
	                       "\"state\":\"awaiting_review\",\"subject\":"
	                       "\"anon:00112233445566778899aabbccddeeff\",\"type\":\"request\"}");
	free(b);
	assert_int_equal(store_request_transition(f->s.st, id, &t, &applied, &err), LETHE_OK);
	assert_true(applied);
	b = body_of(f, 2, NULL);
	assert_non_null(strstr(b, "\"reason_mac\":\"anon:"));
	assert_null(strstr(b, "alice"));
	assert_non_null(strstr(b, "\"state\":\"refused\""));
	assert_canonical(b);
	free(b);
	/* A transition that does not apply appends nothing. */
	assert_int_equal(store_request_transition(f->s.st, id, &t, &applied, &err), LETHE_OK);
	assert_false(applied);
	assert_null(body_of(f, 3, NULL));
	/* Two requests expire: each gets its entry. */
	n.state = "awaiting_verification";
	n.expires_at = 120;
	n.code = "c2";
	assert_int_equal(store_request_insert(f->s.st, &n, &id2, &err), LETHE_OK);
	n.code = "c3";
	assert_int_equal(store_request_insert(f->s.st, &n, &id3, &err), LETHE_OK);
	assert_int_equal(store_request_expire(f->s.st, 130, &k, &err), LETHE_OK);
	assert_int_equal(k, 2);
	b = body_of(f, 5, NULL);
	assert_non_null(strstr(b, "\"state\":\"expired\""));
	assert_non_null(strstr(b, "\"request\":2"));
	free(b);
	b = body_of(f, 6, NULL);
	assert_non_null(strstr(b, "\"state\":\"expired\""));
	assert_non_null(strstr(b, "\"request\":3"));
	free(b);
	/* Meta's store_meta_update() appends the state it enters. */
	assert_int_equal(store_meta_update(f->s.st, id2, "running", 0, false, 0, 1, &err),
	                 LETHE_OK);
	b = body_of(f, 7, NULL);
	assert_non_null(strstr(b, "\"state\":\"running\""));
	free(b);
	assert_int_equal(verify(f, NULL, NULL, NULL), 0);
}

/* An erase job's steps and its scan: one entry each, in the caller's transaction. */
static void
test_job_entries(void **state)
{
	struct fx *f = *state;
	struct store_scan scan = {.request_id = 4, .job_id = 9, .rows = 0, .tables = 3};
	struct lethe_err err = {0};
	char *b;

	snprintf(scan.result, sizeof(scan.result), "clean");
	snprintf(scan.wal, sizeof(scan.wal), "truncated");
	scan.secure_delete = 1;
	sql(f, "INSERT INTO jobs (id, kind, scope, subject, state, created_at, updated_at) "
	       "VALUES (9, 'erase', 'account', 'anon:x', 'completed', 1, 1);"
	       "INSERT INTO job_steps (job_id, table_name, action, done, media) VALUES "
	       "(9, 'posts', 'delete', 12, 3), (9, 'invoices#1', 'retain', 2, 0);"
	       "INSERT INTO holds (table_name, row_key, job_id, until) VALUES "
	       "('invoices', 'i:1', 9, 99999)");
	assert_int_equal(store_begin(f->s.st, &err), LETHE_OK);
	assert_int_equal(store_audit_job(f->s.st, 4, 9, &scan, 500, &err), LETHE_OK);
	assert_int_equal(store_commit(f->s.st, &err), LETHE_OK);
	b = body_of(f, 1, NULL);
	assert_string_equal(b, "{\"action\":\"delete\",\"at\":500,\"job\":9,\"media\":3,"
	                       "\"media_missing\":0,\"part\":\"posts\",\"request\":4,\"rows\":12,"
	                       "\"seq\":1,\"table\":\"posts\",\"type\":\"erase_step\"}");
	free(b);
	b = body_of(f, 2, NULL);
	assert_non_null(strstr(b, "\"part\":\"invoices#1\""));
	assert_non_null(strstr(b, "\"table\":\"invoices\""));
	assert_non_null(strstr(b, "\"until\":99999"));
	free(b);
	b = body_of(f, 3, NULL);
	assert_string_equal(b,
	                    "{\"at\":500,\"job\":9,\"request\":4,\"result\":\"clean\",\"rows\":0,"
	                    "\"secure_delete\":1,\"seq\":3,\"tables\":3,\"type\":\"scan\","
	                    "\"wal\":\"truncated\"}");
	free(b);
	/* A rollback takes the entries with it. */
	assert_int_equal(store_begin(f->s.st, &err), LETHE_OK);
	assert_int_equal(store_audit_job(f->s.st, 4, 9, NULL, 600, &err), LETHE_OK);
	store_rollback(f->s.st);
	assert_null(body_of(f, 4, NULL));
	assert_int_equal(verify(f, NULL, NULL, NULL), 0);
}

/* A checkpoint signs the head once per move; the published head verifies. */
static void
test_checkpoint_and_head(void **state)
{
	struct fx *f = *state;
	struct lethe_err err = {0};
	const json_t *v = NULL;
	json_t *doc = NULL;
	int64_t seq = -1;

	assert_int_equal(chain_head_json(f->s.st, &doc, &err), LETHE_E_NOTFOUND);
	checkpoint(f, 0); /* empty: nothing to sign */
	append_n(f, 3);
	checkpoint(f, 3);
	checkpoint(f, 0); /* the head did not move */
	assert_int_equal(chain_head_json(f->s.st, &doc, &err), LETHE_OK);
	assert_int_equal(canon_verify(&f->kr, doc, "head", &v, NULL, &err), LETHE_OK);
	assert_int_equal(json_integer_value(json_object_get(v, "seq")), 3);
	assert_string_equal(json_string_value(json_object_get(v, "type")), "lethe-audit-head");
	append_n(f, 2);
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 6000, false, &seq, &err), LETHE_OK);
	assert_int_equal(seq, 5);
	assert_int_equal(verify(f, doc, NULL, NULL), 0);
	json_decref(doc);
}

static void
test_verify_edited_entry(void **state)
{
	struct fx *f = *state;
	char what[240];
	int64_t seq = 0;

	append_n(f, 10);
	checkpoint(f, 10);
	sql(f, "UPDATE audit SET body = replace(body, '\"found\":1', '\"found\":2') WHERE seq = 4");
	assert_int_equal(verify(f, NULL, &seq, what), 1);
	assert_int_equal(seq, 4);
	assert_string_equal(what, "entry 4: its hash does not match its contents (edited, or "
	                          "entries reordered)");
}

static void
test_verify_missing_entries(void **state)
{
	struct fx *f = *state;
	char what[240];
	int64_t seq = 0;

	append_n(f, 10);
	sql(f, "DELETE FROM audit WHERE seq BETWEEN 5 AND 7");
	assert_int_equal(verify(f, NULL, &seq, what), 1);
	assert_int_equal(seq, 5);
	assert_string_equal(what, "entries 5..7 are missing");
}

static void
test_verify_reordered(void **state)
{
	struct fx *f = *state;
	char what[240];
	int64_t seq = 0;

	append_n(f, 10);
	sql(f, "UPDATE audit SET seq = 100 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = 7;"
	       "UPDATE audit SET seq = 7 WHERE seq = 100");
	assert_true(verify(f, NULL, &seq, what) >= 2);
	assert_int_equal(seq, 6);
	assert_non_null(strstr(what, "entry 6: its hash does not match"));
}

static void
test_verify_tail_deleted(void **state)
{
	struct fx *f = *state;
	char what[240];
	int64_t seq = 0;

	append_n(f, 10);
	checkpoint(f, 10);
	append_n(f, 2);
	sql(f, "DELETE FROM audit WHERE seq > 8");
	assert_int_equal(verify(f, NULL, &seq, what), 1);
	assert_int_equal(seq, 10);
	assert_non_null(strstr(what, "checkpoint of entry 10 (signed "));
	assert_non_null(strstr(what, "): the chain ends at entry 8: entries 9..10 were deleted"));
	/* Nor is a truncated chain signed again. */
	{
		struct lethe_err err = {0};
		int64_t s = -1;

		assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 7000, false, &s, &err),
		                 LETHE_E_CONFLICT);
	}
}

static void
test_verify_tail_deleted_with_checkpoints_needs_head(void **state)
{
	struct fx *f = *state;
	struct lethe_err err = {0};
	json_t *doc = NULL;
	char what[240];
	int64_t seq = 0;

	append_n(f, 6);
	checkpoint(f, 6);
	assert_int_equal(chain_head_json(f->s.st, &doc, &err), LETHE_OK);
	sql(f, "DELETE FROM audit WHERE seq > 4; DELETE FROM audit_checkpoints");
	assert_int_equal(verify(f, NULL, NULL, NULL), 0); /* nothing left to tell */
	assert_int_equal(verify(f, doc, &seq, what), 1);
	assert_int_equal(seq, 6);
	assert_non_null(strstr(what, "published head of entry 6"));
	assert_non_null(strstr(what, "entries 5..6 were deleted"));
	json_decref(doc);
}

static void
test_verify_forged_signature(void **state)
{
	struct fx *f = *state;
	char what[240];
	int64_t seq = 0;

	append_n(f, 5);
	checkpoint(f, 5);
	sql(f, "UPDATE audit_checkpoints SET sig = zeroblob(64)");
	assert_int_equal(verify(f, NULL, &seq, what), 1);
	assert_int_equal(seq, 5);
	assert_string_equal(what, "checkpoint of entry 5: signature does not verify");
}

static void
test_verify_unknown_key(void **state)
{
	struct fx *f = *state;
	char what[240];
	int64_t seq = 0;

	append_n(f, 5);
	checkpoint(f, 5);
	sql(f, "UPDATE audit_checkpoints SET key_id = '0123456789abcdef'");
	assert_int_equal(verify(f, NULL, &seq, what), 1);
	assert_int_equal(seq, 5);
	assert_string_equal(what,
	                    "checkpoint of entry 5: signed by an unknown key (0123456789abcdef)");
}

/* Edit an entry and recompute every hash after it: only the checkpoint tells. */
static void
test_verify_rewritten_chain(void **state)
{
	struct fx *f = *state;
	uint8_t prev[32], h[32];
	char what[240], *b;
	int64_t seq = 0, i;
	sqlite3_stmt *q;

	append_n(f, 8);
	checkpoint(f, 8);
	sql(f, "UPDATE audit SET body = replace(body, '\"found\":1', '\"found\":5') WHERE seq = 3");
	free(body_of(f, 2, prev));
	for (i = 3; i <= 8; i++) {
		b = body_of(f, i, NULL);
		crypto_generichash_state g;

		crypto_generichash_init(&g, NULL, 0, 32);
		crypto_generichash_update(&g, prev, 32);
		crypto_generichash_update(&g, (const unsigned char *)b, strlen(b));
		crypto_generichash_final(&g, h, 32);
		assert_int_equal(sqlite3_prepare_v2(sq_sqlite_handle(f->s.st->c),
		                                    "UPDATE audit SET hash = ?2 WHERE seq = ?1", -1,
		                                    &q, NULL),
		                 SQLITE_OK);
		sqlite3_bind_int64(q, 1, i);
		sqlite3_bind_blob(q, 2, h, 32, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(q), SQLITE_DONE);
		sqlite3_finalize(q);
		memcpy(prev, h, 32);
		free(b);
	}
	assert_int_equal(verify(f, NULL, &seq, what), 1);
	assert_int_equal(seq, 8);
	assert_string_equal(what, "checkpoint of entry 8: the chain's hash there is not the one "
	                          "signed (entries up to 8 were rewritten)");
}

/* A rotated key: checkpoints of the old one verify while it is a previous key. */
static void
test_verify_after_rotation(void **state)
{
	struct fx *f = *state;
	struct keys_ring nk;
	struct lethe_err err = {0};
	struct chain_report rep;
	char old[160], fresh[160];
	const char *prev[1] = {old};
	int64_t seq = 0;

	append_n(f, 4);
	checkpoint(f, 4);
	snprintf(old, sizeof(old), "%s/signing.key", f->s.dir);
	snprintf(fresh, sizeof(fresh), "%s/new.key", f->s.dir);
	assert_int_equal(keys_generate(fresh, &err), LETHE_OK);
	assert_int_equal(keys_ring_load(&nk, fresh, false, prev, 1, &err), LETHE_OK);
	append_n(f, 1);
	assert_int_equal(chain_checkpoint(f->s.st, &nk, 8000, false, &seq, &err), LETHE_OK);
	assert_int_equal(seq, 5);
	assert_int_equal(chain_verify(f->s.st, &nk, NULL, 0, &rep, &err), LETHE_OK);
	assert_int_equal(rep.nbreaks, 0);
	assert_int_equal(rep.checkpoints, 2);
	chain_report_free(&rep);
	keys_ring_wipe(&nk);
	/* Without the old key, its checkpoint's key is unknown. */
	assert_int_equal(keys_ring_load(&nk, fresh, false, NULL, 0, &err), LETHE_OK);
	assert_int_equal(chain_verify(f->s.st, &nk, NULL, 0, &rep, &err), LETHE_OK);
	assert_int_equal(rep.nbreaks, 1);
	assert_int_equal(rep.breaks[0].seq, 4);
	assert_non_null(strstr(rep.breaks[0].what, "signed by an unknown key"));
	chain_report_free(&rep);
	keys_ring_wipe(&nk);
}

/* A row's columns edited alone (its body and hash kept) are each named; a receipt's pointer too. */
static void
test_verify_edited_columns(void **state)
{
	struct fx *f = *state;
	struct store_request_new n = new_request();
	struct store_transition t = refusal(NULL);
	struct lethe_err err = {0};
	char lines[2048], hash[65];
	int64_t id = 0, id2 = 0, seq = 0;
	bool applied = false;

	assert_int_equal(store_request_insert(f->s.st, &n, &id, &err), LETHE_OK);
	assert_int_equal(store_request_transition(f->s.st, id, &t, &applied, &err), LETHE_OK);
	n.code = "c2";
	assert_int_equal(store_request_insert(f->s.st, &n, &id2, &err), LETHE_OK);
	append_n(f, 3); /* entries 4..6 */
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 0);
	assert_int_equal(store_audit_final(f->s.st, id, &seq, hash, &err), LETHE_OK);
	assert_int_equal(seq, 2);
	/* Only the state column: the receipt would point at entry 1. */
	sql(f, "UPDATE audit SET state = 'refused' WHERE seq = 1;"
	       "UPDATE audit SET state = 'awaiting_review' WHERE seq = 2");
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 2);
	assert_string_equal(lines, "entry 1: its columns do not match its body (state edited)\n"
	                           "entry 2: its columns do not match its body (state edited)\n");
	assert_int_equal(store_audit_final(f->s.st, id, &seq, hash, &err), LETHE_E_STATE);
	assert_non_null(strstr(err.msg, "audit entry 1: its columns do not match its body"));
	assert_int_equal(seq, 0);
	sql(f, "UPDATE audit SET state = 'awaiting_review' WHERE seq = 1;"
	       "UPDATE audit SET state = 'refused' WHERE seq = 2");
	/* Only request_id: request 2 would get request 1's final entry. */
	sql(f, "UPDATE audit SET request_id = 2 WHERE seq = 2");
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 1);
	assert_string_equal(lines,
	                    "entry 2: its columns do not match its body (request_id edited)\n");
	assert_int_equal(store_audit_final(f->s.st, id2, &seq, hash, &err), LETHE_E_STATE);
	sql(f, "UPDATE audit SET request_id = 1 WHERE seq = 2");
	/* at and type. */
	sql(f, "UPDATE audit SET at = 99, type = 'scan' WHERE seq = 4");
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 1);
	assert_string_equal(lines,
	                    "entry 4: its columns do not match its body (at, type edited)\n");
	sql(f, "UPDATE audit SET at = 1000, type = 'reapply' WHERE seq = 4");
	/* A state where the body has none. */
	sql(f, "UPDATE audit SET state = 'completed' WHERE seq = 5");
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 1);
	assert_string_equal(lines, "entry 5: its columns do not match its body (state edited)\n");
	sql(f, "UPDATE audit SET state = NULL WHERE seq = 5");
	/* Only seq (the last entry moved on by one): the gap, and the entry that names another. */
	sql(f, "UPDATE audit SET seq = 7 WHERE seq = 6");
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 2);
	assert_string_equal(lines, "entry 6 is missing\n"
	                           "entry 7: its columns do not match its body (seq edited)\n");
	sql(f, "UPDATE audit SET seq = 6 WHERE seq = 7");
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 0);
	assert_int_equal(store_audit_final(f->s.st, id, &seq, hash, &err), LETHE_OK);
	assert_int_equal(seq, 2);
	/* Text columns compare with the body's escaped form: a state with escapes agrees... */
	assert_int_equal(store_audit_append(f->s.st, 0, "reapply", "a\"b\\c\n\x01", 9,
	                                    "\"found\":1", &seq, &err),
	                 LETHE_OK);
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 0);
	/* ...and one character less does not. */
	sql(f, "UPDATE audit SET state = substr(state, 1, 5) WHERE seq = 7");
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 1);
	assert_string_equal(lines, "entry 7: its columns do not match its body (state edited)\n");
}

/* A checkpoint is not signed over entries that do not chain from the latest one. */
static void
test_checkpoint_refuses_a_broken_stretch(void **state)
{
	struct fx *f = *state;
	struct store_audit_checkpoint last;
	struct lethe_err err = {0};
	int64_t seq = -1;

	/* No checkpoint yet: the whole chain is looked at. */
	append_n(f, 4);
	sql(f, "UPDATE audit SET body = replace(body, '\"found\":1', '\"found\":2') WHERE seq = 2");
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 5000, false, &seq, &err),
	                 LETHE_E_CONFLICT);
	assert_int_equal(seq, 0);
	assert_string_equal(err.msg, "not signing a checkpoint: entry 2: its hash does not match "
	                             "its contents (edited, or entries reordered) (run lethe "
	                             "audit verify)");
	assert_int_equal(store_audit_checkpoint_latest(f->s.st, &last, &err), LETHE_E_NOTFOUND);
	sql(f, "UPDATE audit SET body = replace(body, '\"found\":2', '\"found\":1') WHERE seq = 2");
	checkpoint(f, 4);
	/* Since the checkpoint: an edited entry, a column, a gap; each refused. */
	append_n(f, 3); /* 5..7 */
	sql(f, "UPDATE audit SET body = replace(body, '\"found\":1', '\"found\":2') WHERE seq = 6");
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 5001, false, &seq, &err),
	                 LETHE_E_CONFLICT);
	assert_non_null(strstr(err.msg, "entry 6: its hash does not match"));
	sql(f, "UPDATE audit SET body = replace(body, '\"found\":2', '\"found\":1') WHERE seq = 6");
	sql(f, "UPDATE audit SET state = 'completed' WHERE seq = 7");
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 5001, false, &seq, &err),
	                 LETHE_E_CONFLICT);
	assert_non_null(
	    strstr(err.msg, "entry 7: its columns do not match its body (state edited)"));
	sql(f, "UPDATE audit SET state = NULL WHERE seq = 7");
	sql(f, "UPDATE audit SET seq = 99 WHERE seq = 5");
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 5001, false, &seq, &err),
	                 LETHE_E_CONFLICT);
	assert_non_null(strstr(err.msg, "entry 5 is missing"));
	sql(f, "UPDATE audit SET seq = 5 WHERE seq = 99");
	/* The checkpointed entry itself rewritten, and a forged latest checkpoint. */
	sql(f, "UPDATE audit SET hash = zeroblob(32) WHERE seq = 4");
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 5001, false, &seq, &err),
	                 LETHE_E_CONFLICT);
	assert_non_null(strstr(err.msg, "checkpoint of entry 4: the chain's hash there is not"));
	assert_int_equal(store_audit_checkpoint_latest(f->s.st, &last, &err), LETHE_OK);
	{
		sqlite3_stmt *q;

		assert_int_equal(sqlite3_prepare_v2(sq_sqlite_handle(f->s.st->c),
		                                    "UPDATE audit SET hash = ?1 WHERE seq = 4", -1,
		                                    &q, NULL),
		                 SQLITE_OK);
		sqlite3_bind_blob(q, 1, last.hash, 32, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(q), SQLITE_DONE);
		sqlite3_finalize(q);
	}
	sql(f, "UPDATE audit_checkpoints SET sig = zeroblob(64)");
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 5001, false, &seq, &err),
	                 LETHE_E_CONFLICT);
	assert_non_null(strstr(err.msg, "the latest one (of entry 4) does not verify"));
	assert_int_equal(store_audit_checkpoint_latest(f->s.st, &last, &err), LETHE_OK);
	assert_int_equal(last.seq, 4);
}

/*
 * Checkpoints deleted over a rewritten stretch, then checkpoints again: the
 * stretch no checkpoint covered in time is a warning, not a break.
 */
static void
test_verify_warns_of_entries_no_checkpoint_covered(void **state)
{
	struct fx *f = *state;
	struct lethe_err err = {0};
	char lines[2048];
	int64_t seq = 0, i;

	for (i = 0; i < 3; i++) /* 1..3 */
		append_at(f, 1000 + i);
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 1010, false, &seq, &err), LETHE_OK);
	for (i = 0; i < 3; i++) /* 4..6 */
		append_at(f, 1020 + i);
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 1030, false, &seq, &err), LETHE_OK);
	assert_int_equal(verify_lines(f, 60, true, lines, sizeof(lines)), 0);
	/* Checkpoint 6 deleted; serving goes on: entries 7..8 and their checkpoint an hour on. */
	sql(f, "DELETE FROM audit_checkpoints WHERE seq = 6");
	append_at(f, 4600);
	append_at(f, 4601);
	assert_int_equal(chain_checkpoint(f->s.st, &f->kr, 4610, false, &seq, &err), LETHE_OK);
	assert_int_equal(seq, 8);
	assert_int_equal(verify_lines(f, 60, false, lines, sizeof(lines)), 0);
	assert_int_equal(verify_lines(f, 60, true, lines, sizeof(lines)), 1);
	assert_string_equal(lines, "entries 4..6 (from 1970-01-01T00:17:00Z) were covered by no "
	                           "checkpoint within twice the checkpoint interval, though one "
	                           "was signed 1970-01-01T01:16:50Z\n");
	/* Within a longer interval they were; with none given, nothing is said. */
	assert_int_equal(verify_lines(f, 3600, true, lines, sizeof(lines)), 0);
	assert_int_equal(verify_lines(f, 0, true, lines, sizeof(lines)), 0);
	/* The newest checkpoints deleted (with the tail or not): only a head kept elsewhere tells.
	 */
	sql(f, "DELETE FROM audit_checkpoints WHERE seq = 8");
	assert_int_equal(verify_lines(f, 60, true, lines, sizeof(lines)), 0);
	assert_int_equal(verify_lines(f, 60, false, lines, sizeof(lines)), 0);
}

/*
 * The head an append keeps lives only in its write transaction: a rollback
 * to a savepoint, a commit and another connection's appends never make the
 * next append extend the wrong entry.
 */
static void
test_append_keeps_the_head_only_within_a_transaction(void **state)
{
	struct fx *f = *state;
	struct lethe_err err = {0};
	struct store *other = NULL;
	char path[128], lines[1024];
	int64_t seq = 0;

	assert_int_equal(store_begin(f->s.st, &err), LETHE_OK);
	append_at(f, 1);
	sql(f, "SAVEPOINT sp");
	append_at(f, 2); /* 2, rolled back */
	sql(f, "ROLLBACK TO sp; RELEASE sp");
	assert_int_equal(
	    store_audit_append(f->s.st, 0, "reapply", NULL, 3, "\"found\":1", &seq, &err),
	    LETHE_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(store_commit(f->s.st, &err), LETHE_OK);
	/* Another connection appends between two transactions of this one. */
	snprintf(path, sizeof(path), "%s/state.db", f->s.dir);
	assert_int_equal(store_open(path, &other, &err), LETHE_OK);
	assert_int_equal(store_begin(f->s.st, &err), LETHE_OK);
	append_at(f, 4); /* 3 */
	assert_int_equal(store_commit(f->s.st, &err), LETHE_OK);
	assert_int_equal(
	    store_audit_append(other, 0, "reapply", NULL, 5, "\"found\":1", &seq, &err), LETHE_OK);
	assert_int_equal(seq, 4);
	assert_int_equal(store_begin(f->s.st, &err), LETHE_OK);
	assert_int_equal(
	    store_audit_append(f->s.st, 0, "reapply", NULL, 6, "\"found\":1", &seq, &err),
	    LETHE_OK);
	assert_int_equal(seq, 5);
	/* A failed append forgets the head too; the transaction goes on from the stored one. */
	assert_int_equal(
	    store_audit_append(f->s.st, 0, "reapply", NULL, 7, "\"seq\":1", &seq, &err),
	    LETHE_E_INTERNAL);
	append_at(f, 8); /* 6 */
	assert_int_equal(store_commit(f->s.st, &err), LETHE_OK);
	store_close(other);
	assert_int_equal(verify_lines(f, 0, false, lines, sizeof(lines)), 0);
	assert_int_equal(verify(f, NULL, NULL, NULL), 0);
	{
		char *b = body_of(f, 6, NULL);

		assert_non_null(strstr(b, "\"at\":8,"));
		free(b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_append_body_and_hash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_hooks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_job_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_and_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_edited_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_missing_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_reordered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_tail_deleted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_tail_deleted_with_checkpoints_needs_head,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_forged_signature, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_unknown_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_rewritten_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_after_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_edited_columns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_keeps_the_head_only_within_a_transaction,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_refuses_a_broken_stretch, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_verify_warns_of_entries_no_checkpoint_covered,
	                                    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
