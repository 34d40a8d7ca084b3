/* SPDX-License-Identifier: MIT */
/*
 * test_mailin_store.c - unit tests of src/store/mailin.c: a mail_in row
 * (insert, a duplicate hash refused, found by hash, read with its boxes),
 * the operator's list (filters, keyset cursor newest first, the request's
 * code), closing a row (boxes wiped, once), the wipe of a finished
 * request's mails in the very transaction that finishes it (a transition,
 * the expiry of an unverified request; not before), and mailbox.keep's
 * prune (open unmatched rows closed, old closed rows deleted).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "store/store.h"
#include "testutil.h"

#define NOW 1700000000

static int
setup(void **state)
{
	return tu_store_setup(state, "mailin");
}

static int
teardown(void **state)
{
	return tu_store_teardown(state);
}

/* Record a mail of @hash (@outcome, @state_name, raw kept if @raw) for request @req; its id. */
static int64_t
put(struct store *st, const char *hash, const char *outcome, const char *state_name, bool raw,
    int64_t req, int64_t now)
{
	struct store_mailin_new n = {
	    .hash = hash,
	    .via = "lmtp",
	    .now = now,
	    .bytes = 1234,
	    .outcome = outcome,
	    .rule = "account-deletion",
	    .request_id = req,
	    .replied = true,
	    .state = state_name,
	    .raw_box = raw ? (const uint8_t *)"RAWBOX" : NULL,
	    .raw_len = 6,
	    .reply_box = (const uint8_t *)"REPLYBOX",
	    .reply_len = 8,
	};
	struct lethe_err err = {0};
	int64_t id = 0;

	assert_int_equal(store_mailin_insert(st, &n, &id, &err), LETHE_OK);
	assert_true(id > 0);
	return id;
}

/* A request awaiting verification (expires at @expires); its id. */
static int64_t
add_request(struct store *st, const char *code, const char *state_name, int64_t expires)
{
	struct store_request_new n = {
	    .code = code,
	    .kind = "erasure",
	    .scope = "account",
	    .source = "email",
	    .policy = "p",
	    .subject = code,
	    .state = state_name,
	    .actor = "email",
	    .box = (const uint8_t *)"box",
	    .boxlen = 3,
	    .now = NOW,
	    .due_at = NOW + 1000,
	    .expires_at = expires,
	};
	struct lethe_err err = {0};
	int64_t id = 0;

	assert_int_equal(store_request_insert(st, &n, &id, &err), LETHE_OK);
	return id;
}

/* Row @id, its boxes' presence into *@raw, *@reply. */
static void
get(struct store *st, int64_t id, struct store_mailin *m, bool *raw, bool *reply)
{
	struct lethe_err err = {0};
	uint8_t *rb = NULL, *pb = NULL;
	size_t rl = 0, pl = 0;

	assert_int_equal(store_mailin_get(st, id, m, &rb, &rl, &pb, &pl, &err), LETHE_OK);
	*raw = rb != NULL;
	*reply = pb != NULL;
	if (rb != NULL)
		assert_memory_equal(rb, "RAWBOX", 6);
	if (pb != NULL)
		assert_memory_equal(pb, "REPLYBOX", 8);
	free(rb);
	free(pb);
}

static void
test_insert_get_duplicate(void **state)
{
	struct tu_store *t = *state;
	struct store_mailin m;
	struct store_mailin_new n = {
	    .hash = "anon:aa", .via = "maildir", .now = NOW, .outcome = "robot", .state = "closed"};
	struct lethe_err err = {0};
	bool raw = false, reply = false;
	int64_t id, id2 = 0;

	id = put(t->st, "anon:aa", "request", "open", true, 0, NOW);
	get(t->st, id, &m, &raw, &reply);
	assert_true(raw && reply && m.raw_kept && m.replied);
	assert_string_equal(m.outcome, "request");
	assert_string_equal(m.state, "open");
	assert_string_equal(m.via, "lmtp");
	assert_string_equal(m.rule, "account-deletion");
	assert_int_equal(m.bytes, 1234);
	assert_int_equal(m.closed_at, 0);
	/* The same bytes again: a redelivery, nothing new. */
	assert_int_equal(store_mailin_insert(t->st, &n, &id2, &err), LETHE_E_CONFLICT);
	assert_int_equal(id2, 0);
	assert_int_equal(store_mailin_by_hash(t->st, "anon:aa", &m, &err), LETHE_OK);
	assert_int_equal(m.id, id);
	assert_int_equal(store_mailin_by_hash(t->st, "anon:bb", &m, &err), LETHE_E_NOTFOUND);
	assert_int_equal(store_mailin_get(t->st, id + 10, &m, NULL, NULL, NULL, NULL, &err),
	                 LETHE_E_NOTFOUND);
	/* A closed outcome is closed when it is recorded. */
	id2 = put(t->st, "anon:cc", "status", "closed", false, 0, NOW);
	get(t->st, id2, &m, &raw, &reply);
	assert_false(raw);
	assert_false(m.raw_kept);
	assert_int_equal(m.closed_at, NOW);
}

/* Collects the ids listed. */
struct seen {
	int64_t ids[16];
	char codes[16][64];
	size_t n;
};

static void
on_row(void *arg, const struct store_mailin *m)
{
	struct seen *s = arg;

	if (s->n < 16) {
		snprintf(s->codes[s->n], sizeof(s->codes[0]), "%s", m->code);
		s->ids[s->n++] = m->id;
	}
}

static void
list(struct store *st, const char *state_name, const char *outcome, int64_t before, int64_t limit,
     struct seen *s)
{
	struct store_mailin_filter f = {
	    .state = state_name, .outcome = outcome, .before_id = before, .limit = limit};
	struct lethe_err err = {0};

	memset(s, 0, sizeof(*s));
	assert_int_equal(store_mailin_list(st, &f, on_row, s, &err), LETHE_OK);
}

static void
test_list_cursor_filters(void **state)
{
	struct tu_store *t = *state;
	struct seen s;
	int64_t req = add_request(t->st, "code-one", "awaiting_verification", NOW + 100);
	int64_t a = put(t->st, "anon:01", "request", "open", true, req, NOW);
	int64_t b = put(t->st, "anon:02", "unmatched", "open", true, 0, NOW + 1);
	int64_t c = put(t->st, "anon:03", "robot", "closed", false, 0, NOW + 2);
	int64_t d = put(t->st, "anon:04", "unmatched", "open", true, 0, NOW + 3);

	list(t->st, NULL, NULL, 0, 2, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ids[0], d);
	assert_int_equal(s.ids[1], c);
	list(t->st, NULL, NULL, c, 2, &s); /* the next page */
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ids[0], b);
	assert_int_equal(s.ids[1], a);
	assert_string_equal(s.codes[1], "code-one");
	assert_string_equal(s.codes[0], "");
	list(t->st, NULL, NULL, a, 2, &s);
	assert_int_equal(s.n, 0);
	list(t->st, "open", NULL, 0, 10, &s);
	assert_int_equal(s.n, 3);
	list(t->st, "closed", NULL, 0, 10, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ids[0], c);
	list(t->st, "open", "unmatched", 0, 10, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ids[0], d);
	assert_int_equal(s.ids[1], b);
}

static void
test_close(void **state)
{
	struct tu_store *t = *state;
	struct store_mailin m;
	struct lethe_err err = {0};
	bool applied = false, raw = true, reply = true;
	int64_t id = put(t->st, "anon:01", "unmatched", "open", true, 0, NOW);

	assert_int_equal(
	    store_mailin_close(t->st, id, NOW + 5, "cli:alice", "spam", &applied, &err), LETHE_OK);
	assert_true(applied);
	get(t->st, id, &m, &raw, &reply);
	assert_false(raw);
	assert_false(reply);
	assert_false(m.raw_kept);
	assert_string_equal(m.state, "closed");
	assert_string_equal(m.closed_by, "cli:alice");
	assert_string_equal(m.reason, "spam");
	assert_int_equal(m.closed_at, NOW + 5);
	/* Once only. */
	assert_int_equal(store_mailin_close(t->st, id, NOW + 6, "cli:bob", NULL, &applied, &err),
	                 LETHE_OK);
	assert_false(applied);
	get(t->st, id, &m, &raw, &reply);
	assert_string_equal(m.closed_by, "cli:alice");
}

static void
test_finished_request_wipes(void **state)
{
	struct tu_store *t = *state;
	struct store_transition tr = {
	    .from = "awaiting_review",
	    .to = "scheduled",
	    .actor = "cli:alice",
	    .now = NOW + 10,
	    .not_before = -1,
	    .expires_at = -1,
	    .effects = -1,
	};
	struct store_mailin m;
	struct lethe_err err = {0};
	bool applied = false, raw = false, reply = false;
	int64_t req = add_request(t->st, "code-rev", "awaiting_review", 0);
	int64_t a = put(t->st, "anon:01", "review", "open", true, req, NOW);
	int64_t other = put(t->st, "anon:02", "unmatched", "open", true, 0, NOW);

	/* Approved: not finished, the mail is still needed. */
	assert_int_equal(store_request_transition(t->st, req, &tr, &applied, &err), LETHE_OK);
	assert_true(applied);
	get(t->st, a, &m, &raw, &reply);
	assert_true(raw);
	assert_string_equal(m.state, "open");
	/* Cancelled, in a transaction rolled back: nothing wiped either. */
	tr.from = "scheduled";
	tr.to = "cancelled";
	tr.now = NOW + 20;
	assert_int_equal(store_begin(t->st, &err), LETHE_OK);
	assert_int_equal(store_request_transition(t->st, req, &tr, &applied, &err), LETHE_OK);
	assert_true(applied);
	get(t->st, a, &m, &raw, &reply);
	assert_false(raw); /* in the transaction already */
	store_rollback(t->st);
	get(t->st, a, &m, &raw, &reply);
	assert_true(raw);
	assert_true(reply);
	/* Cancelled for good: closed by the request, its boxes gone. */
	assert_int_equal(store_request_transition(t->st, req, &tr, &applied, &err), LETHE_OK);
	get(t->st, a, &m, &raw, &reply);
	assert_false(raw);
	assert_false(reply);
	assert_string_equal(m.state, "closed");
	assert_string_equal(m.closed_by, "request");
	assert_int_equal(m.closed_at, NOW + 20);
	/* Another mail is not touched. */
	get(t->st, other, &m, &raw, &reply);
	assert_true(raw);
	assert_string_equal(m.state, "open");
}

static void
test_expired_request_wipes(void **state)
{
	struct tu_store *t = *state;
	struct store_mailin m;
	struct lethe_err err = {0};
	bool raw = false, reply = false;
	int64_t n = 0;
	int64_t req = add_request(t->st, "code-exp", "awaiting_verification", NOW + 100);
	int64_t a = put(t->st, "anon:01", "request", "open", true, req, NOW);
	/* A repeat's row of the same request. */
	int64_t b = put(t->st, "anon:02", "request", "open", true, req, NOW + 1);

	assert_int_equal(store_request_expire(t->st, NOW + 50, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	get(t->st, a, &m, &raw, &reply);
	assert_true(raw);
	assert_int_equal(store_request_expire(t->st, NOW + 100, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	get(t->st, a, &m, &raw, &reply);
	assert_false(raw);
	assert_false(reply);
	assert_string_equal(m.state, "closed");
	assert_string_equal(m.closed_by, "request");
	get(t->st, b, &m, &raw, &reply);
	assert_false(raw);
	assert_string_equal(m.state, "closed");
}

static void
test_completed_run_wipes(void **state)
{
	struct tu_store *t = *state;
	struct store_mailin m;
	struct lethe_err err = {0};
	bool raw = false, reply = false;
	int64_t req = add_request(t->st, "code-run", "scheduled", 0);
	int64_t a = put(t->st, "anon:01", "request", "open", true, req, NOW);

	/* Running: still needed; completed by the runner: closed and wiped with it. */
	assert_int_equal(store_meta_update(t->st, req, "running", 0, false, 0, 1, &err), LETHE_OK);
	get(t->st, a, &m, &raw, &reply);
	assert_true(raw);
	assert_int_equal(store_meta_update(t->st, req, "completed", 0, false, NOW + 30, 1, &err),
	                 LETHE_OK);
	get(t->st, a, &m, &raw, &reply);
	assert_false(raw);
	assert_false(reply);
	assert_string_equal(m.state, "closed");
	assert_string_equal(m.closed_by, "request");
	assert_int_equal(m.closed_at, NOW + 30);
}

static void
test_prune(void **state)
{
	struct tu_store *t = *state;
	struct store_mailin m;
	struct lethe_err err = {0};
	bool raw = false, reply = false;
	int64_t n = 0, keep = 1000;
	int64_t req = add_request(t->st, "code-open", "awaiting_verification", NOW + 100000);
	int64_t old_unmatched = put(t->st, "anon:01", "unmatched", "open", true, 0, NOW);
	int64_t old_request = put(t->st, "anon:02", "request", "open", true, req, NOW);
	int64_t old_closed = put(t->st, "anon:03", "robot", "closed", false, 0, NOW);
	int64_t new_unmatched = put(t->st, "anon:04", "unmatched", "open", true, 0, NOW + 900);

	assert_int_equal(store_mailin_prune(t->st, NOW + 999, keep, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_mailin_prune(t->st, NOW + 1001, keep, &n, &err), LETHE_OK);
	assert_int_equal(n, 2); /* old_closed deleted, old_unmatched closed */
	assert_int_equal(store_mailin_get(t->st, old_closed, &m, NULL, NULL, NULL, NULL, &err),
	                 LETHE_E_NOTFOUND);
	get(t->st, old_unmatched, &m, &raw, &reply);
	assert_false(raw);
	assert_string_equal(m.state, "closed");
	assert_string_equal(m.closed_by, "keep");
	assert_string_equal(m.reason, "kept mailbox.keep");
	/* Its request still needs it: kept while the request is open. */
	get(t->st, old_request, &m, &raw, &reply);
	assert_true(raw);
	get(t->st, new_unmatched, &m, &raw, &reply);
	assert_true(raw);
	/* The row closed by keep goes keep later. */
	assert_int_equal(store_mailin_prune(t->st, NOW + 2002, keep, &n, &err), LETHE_OK);
	assert_int_equal(store_mailin_get(t->st, old_unmatched, &m, NULL, NULL, NULL, NULL, &err),
	                 LETHE_E_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_insert_get_duplicate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_cursor_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_finished_request_wipes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired_request_wipes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_completed_run_wipes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
