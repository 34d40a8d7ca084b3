/* SPDX-License-Identifier: MIT */
/*
 * test_mail_store.c - unit tests of the state store's mail outbox
 * (src/store/mail.c) and mailed links (src/store/links.c): notices queued
 * in the transaction of the change they tell of (insert, transition,
 * store_meta_update, before a wipe of the address), the mailer's claim,
 * lease, retry and end, the counts and listings, and links used once.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store_internal.h"
#include "util/lease.h"
#include "testutil.h"

#define OWNER_A "localhost:1:aaaa"
#define OWNER_B "localhost:1:bbbb"

static int
setup(void **state)
{
	return tu_store_setup(state, "mail");
}

static int
teardown(void **state)
{
	return tu_store_teardown(state);
}

static const uint8_t BOX[] = "sealed-address-box";

/* Record a request in @state with notification kind @kind (a box unless NONE). */
static int64_t
add_request(struct tu_store *f, const char *code, const char *state, int kind, bool ok)
{
	struct store_request_new n;
	struct lethe_err err = {0};
	int64_t id = 0;

	memset(&n, 0, sizeof(n));
	n.code = code;
	n.kind = "erasure";
	n.scope = "account";
	n.source = "app";
	n.policy = "p";
	n.subject = code;
	n.state = state;
	n.actor = "app:e2e";
	n.box = (const uint8_t *)"ids";
	n.boxlen = 3;
	n.notify_box = kind != STORE_NOTIFY_NONE ? BOX : NULL;
	n.notify_len = kind != STORE_NOTIFY_NONE ? sizeof(BOX) : 0;
	n.now = 1000;
	n.due_at = 1000 + 86400;
	n.not_before = strcmp(state, "scheduled") == 0 ? 2000 : 0;
	n.notify_kind = kind;
	n.notify_ok = ok;
	assert_int_equal(store_begin(f->st, &err), LETHE_OK);
	assert_int_equal(store_request_insert(f->st, &n, &id, &err), LETHE_OK);
	assert_int_equal(store_commit(f->st, &err), LETHE_OK);
	return id;
}

/* The mails of request @id, their notices joined by ',' into @out. */
struct notices {
	char text[256];
	int n;
	int with_box;
};

static void
on_mail(void *arg, const struct store_mail *m)
{
	struct notices *a = arg;
	size_t len = strlen(a->text);

	snprintf(a->text + len, sizeof(a->text) - len, "%s%s", len > 0 ? "," : "", m->notice);
	a->n++;
}

static void
notices_of(struct tu_store *f, int64_t id, struct notices *out)
{
	struct lethe_err err = {0};
	int64_t n = 0;

	memset(out, 0, sizeof(*out));
	assert_int_equal(store_mail_list(f->st, NULL, id, 0, on_mail, out, &err), LETHE_OK);
	assert_int_equal(store__query_int(f->st, NULL,
	                                  "SELECT count(*) FROM mail WHERE request_id = ?1 AND "
	                                  "to_box IS NOT NULL",
	                                  id, &n, &err),
	                 LETHE_OK);
	out->with_box = (int)n;
}

static void
transition(struct tu_store *f, int64_t id, const char *from, const char *to, const char *event,
           bool verified, bool wipe)
{
	struct store_transition t;
	struct lethe_err err = {0};
	bool applied = false;

	memset(&t, 0, sizeof(t));
	t.from = from;
	t.to = to;
	t.event = event;
	t.actor = "admin:ops";
	t.reason = "because";
	t.now = 1500;
	t.not_before = -1;
	t.expires_at = -1;
	t.due_at = event != NULL ? 1000 + 2 * 86400 : 0;
	t.completed_at = 0;
	t.verified = verified;
	t.effects = -1;
	t.reason_col = STORE_REASON_SET;
	assert_int_equal(store_begin(f->st, &err), LETHE_OK);
	assert_int_equal(store_request_transition(f->st, id, &t, &applied, &err), LETHE_OK);
	assert_true(applied);
	if (wipe)
		assert_int_equal(store_request_wipe(f->st, id, &err), LETHE_OK);
	assert_int_equal(store_commit(f->st, &err), LETHE_OK);
}

/* An insert queues its state's notice; an address given queues "address" first; none: none. */
static void
test_mail_queued_on_insert(void **state)
{
	struct tu_store *f = *state;
	struct notices a;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id;

	id = add_request(f, "c1", "scheduled", STORE_NOTIFY_IDENTITY, true);
	notices_of(f, id, &a);
	assert_string_equal(a.text, "scheduled");
	assert_int_equal(a.with_box, 1);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_int_equal(r.notify_kind, STORE_NOTIFY_IDENTITY);
	assert_true(r.notify_ok);

	id = add_request(f, "c2", "awaiting_verification", STORE_NOTIFY_ADDRESS, false);
	notices_of(f, id, &a);
	assert_string_equal(a.text, "address,awaiting_verification");
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_int_equal(r.notify_kind, STORE_NOTIFY_ADDRESS);
	assert_false(r.notify_ok);

	/* No address, or a state without a notice: no mail. */
	id = add_request(f, "c3", "scheduled", STORE_NOTIFY_NONE, false);
	notices_of(f, id, &a);
	assert_int_equal(a.n, 0);
	id = add_request(f, "c4", "awaiting_review", STORE_NOTIFY_IDENTITY, true);
	notices_of(f, id, &a);
	assert_int_equal(a.n, 0);
}

/* A refusal queues "refused" with the address, even though the same transaction wipes it. */
static void
test_mail_queued_before_wipe(void **state)
{
	struct tu_store *f = *state;
	struct notices a;
	int64_t id = add_request(f, "c1", "awaiting_review", STORE_NOTIFY_IDENTITY, true), n = 1;
	struct lethe_err err = {0};

	transition(f, id, "awaiting_review", "refused", NULL, false, true);
	notices_of(f, id, &a);
	assert_string_equal(a.text, "refused");
	assert_int_equal(a.with_box, 1);
	/* The request's own copy is gone; the mail's stays until it is sent. */
	assert_int_equal(store__query_int(f->st, NULL,
	                                  "SELECT count(*) FROM requests WHERE id = ?1 AND "
	                                  "notify_box IS NOT NULL",
	                                  id, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 0);
}

/* An extension queues "extended"; a verification of the person's address allows mail. */
static void
test_mail_extended_and_verified(void **state)
{
	struct tu_store *f = *state;
	struct notices a;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id = add_request(f, "c1", "awaiting_verification", STORE_NOTIFY_IDENTITY, false);
	int64_t id2 = add_request(f, "c2", "awaiting_verification", STORE_NOTIFY_ADDRESS, false);

	transition(f, id, "awaiting_verification", "awaiting_verification", "extended", false,
	           false);
	transition(f, id, "awaiting_verification", "scheduled", NULL, true, false);
	notices_of(f, id, &a);
	assert_string_equal(a.text, "awaiting_verification,extended,scheduled");
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_true(r.notify_ok);
	/* An address given is confirmed by its own link, not by a verification. */
	transition(f, id2, "awaiting_verification", "awaiting_review", NULL, true, false);
	assert_int_equal(store_request_get(f->st, id2, &r, &err), LETHE_OK);
	assert_false(r.notify_ok);
	assert_int_equal(store_request_notify_ok(f->st, id2, &err), LETHE_OK);
	assert_int_equal(store_request_get(f->st, id2, &r, &err), LETHE_OK);
	assert_true(r.notify_ok);
}

/* The runner's completion queues "completed" before it wipes the address; running: nothing. */
static void
test_mail_queued_on_meta_update(void **state)
{
	struct tu_store *f = *state;
	struct notices a;
	struct lethe_err err = {0};
	int64_t id = add_request(f, "c1", "scheduled", STORE_NOTIFY_IDENTITY, true), n = 1;

	assert_int_equal(store_meta_update(f->st, id, "running", 0, false, 0, 1, &err), LETHE_OK);
	assert_int_equal(store_meta_update(f->st, id, "completed", 0, true, 1600, 1, &err),
	                 LETHE_OK);
	/* Recorded again (a replay): the state is not entered twice. */
	assert_int_equal(store_meta_update(f->st, id, "completed", 0, true, 1600, 1, &err),
	                 LETHE_OK);
	notices_of(f, id, &a);
	assert_string_equal(a.text, "scheduled,completed");
	assert_int_equal(a.with_box, 2);
	assert_int_equal(store__query_int(f->st, NULL,
	                                  "SELECT count(*) FROM requests WHERE id = ?1 AND "
	                                  "notify_box IS NOT NULL",
	                                  id, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 0);
}

/* The "delayed" notice is queued by hand; a request without an address gets none. */
static void
test_mail_add(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	int64_t id = add_request(f, "c1", "awaiting_review", STORE_NOTIFY_IDENTITY, true);
	int64_t none = add_request(f, "c2", "awaiting_review", STORE_NOTIFY_NONE, false);
	bool queued = false;

	assert_int_equal(store_mail_add(f->st, id, "delayed", 1700, &queued, &err), LETHE_OK);
	assert_true(queued);
	assert_int_equal(store_mail_add(f->st, none, "delayed", 1700, &queued, &err), LETHE_OK);
	assert_false(queued);
}

/* Claim, lease, retry, finish: one holder at a time, the box wiped at the end. */
static void
test_mail_claim_retry_finish(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct store_mail m;
	uint8_t *box = NULL;
	size_t boxlen = 0;
	int64_t id = add_request(f, "c1", "scheduled", STORE_NOTIFY_IDENTITY, true), next = 0, n;
	bool applied = true;

	assert_int_equal(store_mail_next_due(f->st, &next, &err), LETHE_OK);
	assert_true(next > 0);
	assert_int_equal(store_mail_claim(f->st, OWNER_A, 10000, 5000, &m, &box, &boxlen, &err),
	                 LETHE_OK);
	assert_int_equal(m.request_id, id);
	assert_string_equal(m.code, "c1");
	assert_string_equal(m.notice, "scheduled");
	assert_string_equal(m.state, "sending");
	assert_int_equal(m.attempts, 1);
	assert_int_equal(m.next_at, 15000);
	assert_int_equal(boxlen, sizeof(BOX));
	assert_memory_equal(box, BOX, sizeof(BOX));
	free(box);
	/* Held: nobody else takes it while the lease runs. */
	assert_int_equal(store_mail_claim(f->st, OWNER_B, 12000, 5000, &m, &box, &boxlen, &err),
	                 LETHE_E_NOTFOUND);
	/* Only the holder puts it back. */
	assert_int_equal(store_mail_retry(f->st, m.id, OWNER_B, 20000, "451", &err), LETHE_E_BUSY);
	assert_int_equal(store_mail_retry(f->st, 1, OWNER_A, 20000, "451 try later", &err),
	                 LETHE_OK);
	assert_int_equal(store_mail_next_due(f->st, &next, &err), LETHE_OK);
	assert_int_equal(next, 20000);
	assert_int_equal(store_mail_claim(f->st, OWNER_A, 19999, 5000, &m, &box, &boxlen, &err),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_mail_claim(f->st, OWNER_A, 20000, 5000, &m, &box, &boxlen, &err),
	                 LETHE_OK);
	free(box);
	assert_int_equal(m.attempts, 2);
	assert_string_equal(m.last_error, "451 try later");
	/* The lease lapsed: another mailer takes it over (and the first can no longer finish). */
	assert_int_equal(store_mail_claim(f->st, OWNER_B, 25001, 5000, &m, &box, &boxlen, &err),
	                 LETHE_OK);
	free(box);
	assert_int_equal(m.attempts, 3);
	assert_int_equal(store_mail_finish(f->st, m.id, OWNER_A, "sent", NULL, 26, &applied, &err),
	                 LETHE_OK);
	assert_false(applied);
	assert_int_equal(store_mail_finish(f->st, m.id, OWNER_B, "sent", NULL, 26, &applied, &err),
	                 LETHE_OK);
	assert_true(applied);
	assert_int_equal(store__query_int(f->st, NULL,
	                                  "SELECT count(*) FROM mail WHERE id = ?1 AND to_box IS "
	                                  "NULL AND state = 'sent' AND done_at = 26",
	                                  m.id, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_mail_next_due(f->st, &next, &err), LETHE_OK);
	assert_int_equal(next, 0);
	assert_int_equal(store_mail_finish(f->st, m.id, OWNER_B, "bogus", NULL, 26, NULL, &err),
	                 LETHE_E_INTERNAL);
}

/* A mail held by a process of this host that died is taken over before its lease ends. */
static void
test_mail_claim_dead_owner(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct store_mail m;
	uint8_t *box = NULL;
	size_t boxlen = 0;
	char host[256], dead[LEASE_OWNER_MAX];

	add_request(f, "c1", "scheduled", STORE_NOTIFY_IDENTITY, true);
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	snprintf(dead, sizeof(dead), "%s:%d:n%llu:0123456789abcdef", host, 999999999,
	         lease_pidns_here());
	assert_int_equal(store_mail_claim(f->st, dead, 1000, 600000, &m, &box, &boxlen, &err),
	                 LETHE_OK);
	free(box);
	assert_int_equal(store_mail_claim(f->st, OWNER_A, 2000, 5000, &m, &box, &boxlen, &err),
	                 LETHE_OK);
	free(box);
	assert_int_equal(m.attempts, 2);
}

struct counts {
	int64_t pending, sent, dead;
};

static void
on_count(void *arg, const char *name, int64_t n)
{
	struct counts *c = arg;

	if (strcmp(name, "pending") == 0)
		c->pending = n;
	else if (strcmp(name, "sent") == 0)
		c->sent = n;
	else if (strcmp(name, "dead") == 0)
		c->dead = n;
}

/* Counts by state, listings by state with a limit. */
static void
test_mail_counts_and_list(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct counts c = {0, 0, 0};
	struct notices a;
	struct store_mail m;
	uint8_t *box = NULL;
	size_t boxlen = 0;
	int i;

	for (i = 0; i < 3; i++) {
		char code[8];

		snprintf(code, sizeof(code), "c%d", i);
		add_request(f, code, "scheduled", STORE_NOTIFY_IDENTITY, true);
	}
	assert_int_equal(store_mail_claim(f->st, OWNER_A, 10, 1000, &m, &box, &boxlen, &err),
	                 LETHE_OK);
	free(box);
	assert_int_equal(
	    store_mail_finish(f->st, m.id, OWNER_A, "dead", "550 refused", 1, NULL, &err),
	    LETHE_OK);
	assert_int_equal(store_mail_counts(f->st, on_count, &c, &err), LETHE_OK);
	assert_int_equal(c.pending, 2);
	assert_int_equal(c.dead, 1);
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_mail_list(f->st, "dead", 0, 0, on_mail, &a, &err), LETHE_OK);
	assert_int_equal(a.n, 1);
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_mail_list(f->st, NULL, 0, 2, on_mail, &a, &err), LETHE_OK);
	assert_int_equal(a.n, 2);
}

/* A link is used once, not after it expired, and purged once expired. */
static void
test_links(void **state)
{
	struct tu_store *f = *state;
	struct lethe_err err = {0};
	struct store_link l;
	bool applied = false;
	int64_t n = 0;

	assert_int_equal(store_link_add(f->st, "anon:h1", 7, "verify", 100, 200, &err), LETHE_OK);
	assert_int_equal(store_link_add(f->st, "anon:h2", 8, "cancel", 100, 150, &err), LETHE_OK);
	assert_int_equal(store_link_get(f->st, "anon:h1", &l, &err), LETHE_OK);
	assert_int_equal(l.request_id, 7);
	assert_string_equal(l.purpose, "verify");
	assert_int_equal(l.expires_at, 200);
	assert_int_equal(l.used_at, 0);
	assert_int_equal(store_link_get(f->st, "anon:none", &l, &err), LETHE_E_NOTFOUND);
	assert_int_equal(store_link_use(f->st, "anon:h1", 120, &applied, &err), LETHE_OK);
	assert_true(applied);
	assert_int_equal(store_link_use(f->st, "anon:h1", 121, &applied, &err), LETHE_OK);
	assert_false(applied);
	assert_int_equal(store_link_get(f->st, "anon:h1", &l, &err), LETHE_OK);
	assert_int_equal(l.used_at, 120);
	assert_int_equal(store_link_use(f->st, "anon:h2", 150, &applied, &err), LETHE_OK);
	assert_false(applied);
	assert_int_equal(store_link_purge(f->st, 160, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_link_get(f->st, "anon:h2", &l, &err), LETHE_E_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mail_queued_on_insert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mail_queued_before_wipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mail_extended_and_verified, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mail_queued_on_meta_update, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mail_add, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mail_claim_retry_finish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mail_claim_dead_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mail_counts_and_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_links, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
