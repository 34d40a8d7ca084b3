/* SPDX-License-Identifier: MIT */
/*
 * test_request.c - unit tests of the privacy request model: the state
 * machine (src/engine/request.c), the identities' keyed hash and box, and
 * the state store's requests (src/store/requests.c): insert, repeat,
 * conditional transitions and their history, the runner's queue, expiry,
 * deadlines, the operator's listing, and the migration of a store whose
 * Meta requests predate the model.
 */
#include "util/fmacros.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/request.h"
#include "store/store.h"
#include <sqlite3.h>

#include "store/store_internal.h"
#include "testutil.h"
#include "util/hash.h"

static const uint8_t KEY[HASH_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t OTHER_KEY[HASH_KEY_LEN] = {9, 8, 7};

/* ---- the state machine --------------------------------------------------- */

static void
test_initial_states(void **state)
{
	struct request_policy p = {.name = "p", .kind = "erasure", .deadline_s = 86400};

	(void)state;
	assert_string_equal(request_initial(&p, false), "scheduled");
	p.verify = true;
	assert_string_equal(request_initial(&p, false), "awaiting_verification");
	assert_string_equal(request_initial(&p, true), "scheduled");
	p.review = true;
	assert_string_equal(request_initial(&p, true), "awaiting_review");
	assert_string_equal(request_act_to(REQUEST_VERIFY, &p), "awaiting_review");
	p.review = false;
	assert_string_equal(request_act_to(REQUEST_VERIFY, &p), "scheduled");
	assert_string_equal(request_act_to(REQUEST_APPROVE, &p), "scheduled");
	assert_string_equal(request_act_to(REQUEST_CANCEL, &p), "cancelled");
	assert_string_equal(request_act_to(REQUEST_REFUSE, &p), "refused");
	assert_string_equal(request_act_to(REQUEST_RETRY, &p), "scheduled");
	assert_null(request_act_to(REQUEST_EXTEND, &p));
}

static void
test_act_from(void **state)
{
	(void)state;
	/* Nothing is cancelled or refused once it runs or is finished. */
	assert_null(strstr(request_act_from(REQUEST_CANCEL, "erasure"), "running"));
	assert_null(strstr(request_act_from(REQUEST_CANCEL, "erasure"), "completed"));
	assert_null(strstr(request_act_from(REQUEST_REFUSE, "erasure"), "running"));
	assert_non_null(strstr(request_act_from(REQUEST_CANCEL, "erasure"), "scheduled"));
	assert_string_equal(request_act_from(REQUEST_RETRY, "erasure"), "failed");
	assert_string_equal(request_act_from(REQUEST_APPROVE, "erasure"), "awaiting_review");
	assert_string_equal(request_act_from(REQUEST_VERIFY, "erasure"), "awaiting_verification");
	/* ... except an export, whose archive is withdrawn; only a restriction is lifted. */
	assert_non_null(strstr(request_act_from(REQUEST_CANCEL, "export"), "running"));
	assert_non_null(strstr(request_act_from(REQUEST_CANCEL, "export"), "completed"));
	assert_string_equal(request_act_from(REQUEST_LIFT, "restriction"), "completed");
	assert_string_equal(request_act_from(REQUEST_LIFT, "erasure"), "");
	assert_string_equal(request_act_to(REQUEST_LIFT, NULL), "lifted");
	assert_true(request_state_ok("lifted"));
	assert_true(request_state_final("lifted"));
	assert_true(request_state_ok("completed_with_retention"));
	assert_true(request_state_ok("expired"));
	assert_false(request_state_ok("done"));
	assert_false(request_state_ok(NULL));
	assert_true(request_state_final("cancelled"));
	assert_false(request_state_final("scheduled"));
	assert_false(request_state_final("running"));
}

/* ---- identities ------------------------------------------------------------ */

static void
test_subject_order(void **state)
{
	struct plan_id a[2] = {{"email", "ann@example.com"}, {"user_id", "42"}};
	struct plan_id b[2] = {{"user_id", "42"}, {"email", "ann@example.com"}};
	struct plan_id c[1] = {{"email", "ann@example.com"}};
	char sa[HASH_TEXT_LEN + 1], sb[HASH_TEXT_LEN + 1], sc[HASH_TEXT_LEN + 1];
	char so[HASH_TEXT_LEN + 1];

	(void)state;
	request_subject(KEY, a, 2, sa);
	request_subject(KEY, b, 2, sb);
	request_subject(KEY, c, 1, sc);
	request_subject(OTHER_KEY, a, 2, so);
	assert_string_equal(sa, sb);
	assert_string_not_equal(sa, sc);
	assert_string_not_equal(sa, so);
	assert_true(hash_is_keyed(sa));
	assert_null(strstr(sa, "ann"));
}

static void
test_ids_box(void **state)
{
	struct plan_id a[2] = {{"user_id", "42"}, {"email", "ann@example.com"}};
	struct plan_id *out = NULL;
	size_t len = 0, n = 0;
	uint8_t *box;
	char addr[64];

	(void)state;
	box = request_ids_seal(KEY, a, 2, &len);
	for (size_t i = 0; i + 4 <= len; i++)
		assert_false(memcmp(box + i, "ann@", 4) == 0);
	assert_int_equal(request_ids_open(OTHER_KEY, box, len, &out, &n), LETHE_E_FORBIDDEN);
	assert_int_equal(request_ids_open(KEY, box, len, &out, &n), LETHE_OK);
	assert_int_equal(n, 2);
	/* Sorted: email first. */
	assert_string_equal(out[0].kind, "email");
	assert_string_equal(out[0].value, "ann@example.com");
	assert_string_equal(out[1].kind, "user_id");
	assert_string_equal(out[1].value, "42");
	request_ids_free(out, n);
	/* A box of the ids is not a notification address, and an empty box is wiped. */
	assert_int_not_equal(request_notify_open(KEY, box, len, addr, sizeof(addr)), LETHE_OK);
	assert_int_equal(request_ids_open(KEY, box, 0, &out, &n), LETHE_E_NOTFOUND);
	free(box);
	box = request_notify_seal(KEY, "ann@example.com", &len);
	assert_int_equal(request_notify_open(KEY, box, len, addr, sizeof(addr)), LETHE_OK);
	assert_string_equal(addr, "ann@example.com");
	free(box);
}

/* ---- the state store --------------------------------------------------------- */

struct sfix {
	char dir[64];
	char path[128];
	struct store *st;
};

static int
store_setup(void **state)
{
	struct sfix *f = calloc(1, sizeof(*f));
	struct lethe_err err = {0};

	snprintf(f->dir, sizeof(f->dir), "/tmp/lethe-test-request-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	if (store_open(f->path, &f->st, &err) != LETHE_OK) {
		fprintf(stderr, "store_open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
store_teardown(void **state)
{
	struct sfix *f = *state;

	store_close(f->st);
	tu_rm_rf(f->dir);
	free(f);
	return 0;
}

/* Insert a request of @subject in @state_name at @now, due @due; its id. */
static int64_t
add(struct store *st, const char *code, const char *subject, const char *state_name, int64_t now,
    int64_t due)
{
	struct store_request_new n = {
	    .code = code,
	    .kind = "erasure",
	    .scope = "account",
	    .source = "app",
	    .policy = "p",
	    .subject = subject,
	    .state = state_name,
	    .actor = "app:test",
	    .box = (const uint8_t *)"box",
	    .boxlen = 3,
	    .now = now,
	    .due_at = due,
	};
	struct lethe_err err = {0};
	int64_t id = 0;

	if (strcmp(state_name, "scheduled") == 0)
		n.not_before = now + 100;
	if (strcmp(state_name, "awaiting_verification") == 0)
		n.expires_at = now + 50;
	assert_int_equal(store_request_insert(st, &n, &id, &err), LETHE_OK);
	return id;
}

static void
count_event(void *arg, int64_t at, const char *state, const char *actor, const char *reason)
{
	(void)at;
	(void)actor;
	(void)reason;
	(void)state;
	(*(int *)arg)++;
}

static void
test_store_insert_find(void **state)
{
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id = add(f->st, "code1", "anon:s1", "scheduled", 1000, 5000);
	int events = 0;

	assert_int_equal(store_request_find_open(f->st, "anon:s1", "erasure", "account", &r, &err),
	                 LETHE_OK);
	assert_int_equal(r.id, id);
	assert_string_equal(r.state, "scheduled");
	assert_string_equal(r.source, "app");
	assert_string_equal(r.app, "");
	assert_int_equal(r.due_at, 5000);
	assert_int_equal(r.not_before, 1100);
	/* Another scope or kind is another request. */
	assert_int_equal(store_request_find_open(f->st, "anon:s1", "erasure", "meta", &r, &err),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_request_find_open(f->st, "anon:s2", "erasure", "account", &r, &err),
	                 LETHE_E_NOTFOUND);
	/* The move from received to scheduled is in the history. */
	assert_int_equal(store_request_events(f->st, id, count_event, &events, &err), LETHE_OK);
	assert_int_equal(events, 1);
	assert_int_equal(store_request_by_code(f->st, "code1", &r, &err), LETHE_OK);
	assert_int_equal(r.id, id);
}

static void
test_store_transition_race(void **state)
{
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id = add(f->st, "code2", "anon:s3", "scheduled", 1000, 5000);
	struct store_transition cancel = {.from = "scheduled,awaiting_review",
	                                  .to = "cancelled",
	                                  .actor = "person",
	                                  .reason = "changed my mind",
	                                  .now = 1050,
	                                  .not_before = 0,
	                                  .expires_at = -1,
	                                  .completed_at = 1050,
	                                  .effects = -2};
	struct store_transition claim = {.from = "scheduled",
	                                 .to = "running",
	                                 .actor = "lethe",
	                                 .now = 1100,
	                                 .not_before = 0,
	                                 .expires_at = -1,
	                                 .effects = -1};
	bool applied = false;
	int events = 0;

	assert_int_equal(
	    store_request_set_effects(f->st, id, 0, STORE_EFFECTS_APPLIED, &applied, &err),
	    LETHE_OK);
	assert_true(applied);
	assert_int_equal(store_request_transition(f->st, id, &cancel, &applied, &err), LETHE_OK);
	assert_true(applied);
	/* The end of grace comes second: it loses. */
	assert_int_equal(store_request_transition(f->st, id, &claim, &applied, &err), LETHE_OK);
	assert_false(applied);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.state, "cancelled");
	assert_string_equal(r.reason, "changed my mind");
	/* Applied effects are to be undone; the request is open no more. */
	assert_int_equal(r.effects, STORE_EFFECTS_UNDO);
	assert_int_equal(store_request_find_open(f->st, "anon:s3", "erasure", "account", &r, &err),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_request_events(f->st, id, count_event, &events, &err), LETHE_OK);
	assert_int_equal(events, 2);
	/* Not wiped while its effects are to be undone; wiped once they are. */
	assert_int_equal(store_request_wipe(f->st, id, &err), LETHE_OK);
	{
		uint8_t *box = NULL;
		size_t len = 0;

		assert_int_equal(store_request_box(f->st, id, &box, &len, &err), LETHE_OK);
		assert_int_equal(len, 3);
		free(box);
		assert_int_equal(
		    store_request_set_effects(f->st, id, STORE_EFFECTS_UNDO, 0, &applied, &err),
		    LETHE_OK);
		assert_int_equal(store_request_wipe(f->st, id, &err), LETHE_OK);
		assert_int_equal(store_request_box(f->st, id, &box, &len, &err), LETHE_OK);
		assert_int_equal(len, 0);
		free(box);
	}
}

/* An extension's reason goes into the history only; a retry clears the failure's. */
static void
test_store_reason_column(void **state)
{
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id = add(f->st, "code7", "anon:s8", "scheduled", 1000, 5000);
	struct store_transition ext = {.from = "scheduled",
	                               .to = "scheduled",
	                               .event = "extended",
	                               .actor = "admin:ops",
	                               .reason = "backlog",
	                               .now = 1100,
	                               .not_before = -1,
	                               .expires_at = -1,
	                               .due_at = 9000,
	                               .effects = -1,
	                               .reason_col = STORE_REASON_KEEP};
	struct store_transition fail = {.from = "scheduled",
	                                .to = "failed",
	                                .actor = "lethe",
	                                .reason = "disk full",
	                                .now = 1200,
	                                .not_before = -1,
	                                .expires_at = -1,
	                                .effects = -1};
	struct store_transition retry = {.from = "failed",
	                                 .to = "scheduled",
	                                 .actor = "cli",
	                                 .reason = "disk replaced",
	                                 .now = 1300,
	                                 .not_before = 1300,
	                                 .expires_at = -1,
	                                 .effects = -1,
	                                 .reason_col = STORE_REASON_CLEAR};
	bool applied = false;

	assert_int_equal(store_request_transition(f->st, id, &ext, &applied, &err), LETHE_OK);
	assert_true(applied);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.reason, "");
	assert_int_equal(r.due_at, 9000);
	assert_int_equal(store_request_transition(f->st, id, &fail, &applied, &err), LETHE_OK);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.reason, "disk full");
	assert_int_equal(store_request_transition(f->st, id, &retry, &applied, &err), LETHE_OK);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.state, "scheduled");
	assert_string_equal(r.reason, "");
}

static void
test_store_next(void **state)
{
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	uint8_t *box = NULL;
	size_t len = 0;
	int64_t sched = add(f->st, "code3", "anon:s4", "scheduled", 1000, 9000);

	add(f->st, "code4", "anon:s5", "awaiting_review", 1000, 9000);
	/* In grace: nothing to run. */
	assert_int_equal(store_request_next(f->st, 0, 1099, false, &r, &box, &len, &err),
	                 LETHE_E_NOTFOUND);
	assert_null(box);
	/* Grace over: it runs, with its box. */
	assert_int_equal(store_request_next(f->st, 0, 1100, false, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, sched);
	assert_int_equal(len, 3);
	free(box);
}

static void
test_store_expire_due(void **state)
{
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id = add(f->st, "code5", "anon:s6", "awaiting_verification", 1000, 2000);
	int64_t n = 0;
	int events = 0;

	add(f->st, "code6", "anon:s7", "scheduled", 1000, 1500);
	assert_int_equal(store_request_expire(f->st, 1049, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_request_expire(f->st, 1050, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.state, "expired");
	assert_int_equal(store_request_events(f->st, id, count_event, &events, &err), LETHE_OK);
	assert_int_equal(events, 2); /* awaiting_verification, expired */
	/* The scheduled one is overdue at 1501; the expired one is not open. */
	assert_int_equal(store_request_overdue(f->st, 1501, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_request_overdue(f->st, 1500, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
}

static void
on_listed(void *arg, const struct store_request *r)
{
	int64_t *ids = arg;

	ids[++ids[0]] = r->id;
}

static void
test_store_list(void **state)
{
	struct sfix *f = *state;
	struct lethe_err err = {0};
	int64_t ids[16] = {0};
	int64_t a, b, c;
	struct store_request_filter fl = {
	    .after_due = INT64_MIN, .due_after = INT64_MIN, .limit = 2};

	c = add(f->st, "l3", "anon:l3", "scheduled", 1000, 3000);
	a = add(f->st, "l1", "anon:l1", "scheduled", 1000, 1000);
	b = add(f->st, "l2", "anon:l2", "awaiting_review", 1000, 2000);
	/* By due date, two a page. */
	assert_int_equal(store_request_list(f->st, &fl, on_listed, ids, &err), LETHE_OK);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], a);
	assert_int_equal(ids[2], b);
	fl.after_due = 2000;
	fl.after_id = b;
	ids[0] = 0;
	assert_int_equal(store_request_list(f->st, &fl, on_listed, ids, &err), LETHE_OK);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], c);
	/* By state and due date. */
	memset(ids, 0, sizeof(ids));
	fl.after_due = INT64_MIN;
	fl.after_id = 0;
	fl.state = "scheduled";
	fl.due_before = 3000;
	fl.limit = 10;
	assert_int_equal(store_request_list(f->st, &fl, on_listed, ids, &err), LETHE_OK);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], a);
	fl.source = "email";
	ids[0] = 0;
	assert_int_equal(store_request_list(f->st, &fl, on_listed, ids, &err), LETHE_OK);
	assert_int_equal(ids[0], 0);
}

/* Count SQLite's virtual machine steps (in hundreds) on the store's connection. */
static int
count_steps(void *arg)
{
	(*(int64_t *)arg)++;
	return 0;
}

/*
 * A page of the listing costs its own rows, not the store's: SQLite seeks to
 * the later of the cursor and due_after and stops at due_before.  In a store
 * of 20,000 completed requests due at 1 ... 20,000 (ids the same), each page
 * below runs in a few hundred steps; walking every entry before due_after
 * (the first page) or after due_before (the last) takes over 100,000.
 */
static void
test_store_list_seeks(void **state)
{
	struct sfix *f = *state;
	struct lethe_err err = {0};
	int64_t ids[16] = {0};
	int64_t steps = 0;
	struct store_request_filter fl = {
	    .state = "completed", .after_due = INT64_MIN, .due_after = 19991, .limit = 5};

	assert_int_equal(
	    sqlite3_exec(sq_sqlite_handle(f->st->c),
	                 "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	                 "WHERE i < 20000) INSERT INTO requests (id, code, app, subject, "
	                 "identity_box, state, received_at, due_at) SELECT i, 'c' || i, '', "
	                 "'anon:' || i, x'', 'completed', 1, i FROM n; COMMIT;",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_progress_handler(sq_sqlite_handle(f->st->c), 100, count_steps, &steps);
	/* First page from due_after: the rows due 19991 on. */
	assert_int_equal(store_request_list(f->st, &fl, on_listed, ids, &err), LETHE_OK);
	assert_int_equal(ids[0], 5);
	assert_int_equal(ids[1], 19991);
	assert_int_equal(ids[5], 19995);
	assert_true(steps < 50);
	/* The same without a state (requests_due). */
	fl.state = NULL;
	steps = 0;
	ids[0] = 0;
	assert_int_equal(store_request_list(f->st, &fl, on_listed, ids, &err), LETHE_OK);
	assert_int_equal(ids[0], 5);
	assert_int_equal(ids[1], 19991);
	assert_true(steps < 50);
	/* A cursor later than due_after wins; the row at the cursor is excluded. */
	fl.state = "completed";
	fl.after_due = 19993;
	fl.after_id = 19993;
	steps = 0;
	ids[0] = 0;
	assert_int_equal(store_request_list(f->st, &fl, on_listed, ids, &err), LETHE_OK);
	assert_int_equal(ids[0], 5);
	assert_int_equal(ids[1], 19994);
	assert_true(steps < 50);
	/* The last page of a window stops at due_before (excluded). */
	fl.after_due = INT64_MIN;
	fl.after_id = 0;
	fl.due_after = 5;
	fl.due_before = 8;
	steps = 0;
	ids[0] = 0;
	assert_int_equal(store_request_list(f->st, &fl, on_listed, ids, &err), LETHE_OK);
	assert_int_equal(ids[0], 3);
	assert_int_equal(ids[1], 5);
	assert_int_equal(ids[3], 7);
	assert_true(steps < 50);
	sqlite3_progress_handler(sq_sqlite_handle(f->st->c), 0, NULL, NULL);
}

/*
 * The runner's next request costs the same however many wait in grace: in a
 * store of 20,000 scheduled requests (grace until 1,000,000 + id) the one
 * whose grace is over is found through requests_grace in a few hundred
 * steps; through requests_state_due every scheduled row is read and sorted
 * (about 100,000).
 */
static void
test_store_next_seeks(void **state)
{
	struct sfix *f = *state;
	struct lethe_err err = {0};
	struct store_request r;
	uint8_t *box = NULL;
	size_t boxlen = 0;
	int64_t steps = 0;

	assert_int_equal(
	    sqlite3_exec(sq_sqlite_handle(f->st->c),
	                 "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	                 "WHERE i < 20000) INSERT INTO requests (id, code, app, subject, "
	                 "identity_box, state, received_at, due_at, not_before) SELECT i, 'g' || "
	                 "i, '', 'anon:' || i, x'01', 'scheduled', 1, 9000000, 1000000 + i FROM n; "
	                 "UPDATE requests SET not_before = 500 WHERE id = 12345; COMMIT;",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_progress_handler(sq_sqlite_handle(f->st->c), 100, count_steps, &steps);
	assert_int_equal(store_request_next(f->st, 0, 1000, false, &r, &box, &boxlen, &err),
	                 LETHE_OK);
	assert_int_equal(r.id, 12345);
	assert_int_equal(boxlen, 1);
	free(box);
	assert_true(steps < 50);
	/* In grace, all of them: none is runnable, just as cheaply. */
	assert_int_equal(sqlite3_exec(sq_sqlite_handle(f->st->c),
	                              "UPDATE requests SET state = 'cancelled' WHERE id = 12345",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	steps = 0;
	assert_int_equal(store_request_next(f->st, 0, 1000, false, &r, &box, &boxlen, &err),
	                 LETHE_E_NOTFOUND);
	assert_true(steps < 50);
	sqlite3_progress_handler(sq_sqlite_handle(f->st->c), 0, NULL, NULL);
}

/* A store of schema version 9 with one Meta request moves it into requests. */
static void
test_store_migrate_v9(void **state)
{
	char dir[64] = "/tmp/lethe-test-request-v9-XXXXXX";
	char path[128];
	struct store *st = NULL;
	struct store_request r;
	struct lethe_err err = {0};

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	tu_exec_sql(path, "CREATE TABLE meta_requests (id INTEGER PRIMARY KEY, code TEXT NOT NULL "
	                  "UNIQUE, app TEXT NOT NULL, subject TEXT NOT NULL, identity_box BLOB NOT "
	                  "NULL, state TEXT NOT NULL, job_id INTEGER, no_data INTEGER NOT NULL "
	                  "DEFAULT 0, received_at INTEGER NOT NULL, completed_at INTEGER, runs "
	                  "INTEGER NOT NULL DEFAULT 1, job_run INTEGER NOT NULL DEFAULT 0, run_at "
	                  "INTEGER);"
	                  "CREATE INDEX meta_requests_state ON meta_requests(state);"
	                  "CREATE INDEX meta_requests_received ON meta_requests(received_at);"
	                  "INSERT INTO meta_requests (code, app, subject, identity_box, state, "
	                  "received_at) VALUES ('oldcode', 'facebook', 'anon:x', x'01', "
	                  "'received', 1000);"
	                  "PRAGMA user_version = 9;");
	assert_int_equal(store_open(path, &st, &err), LETHE_OK);
	assert_int_equal(store_request_by_code(st, "oldcode", &r, &err), LETHE_OK);
	assert_string_equal(r.app, "facebook");
	assert_string_equal(r.source, "meta");
	assert_string_equal(r.kind, "erasure");
	assert_int_equal(r.due_at, 1000 + 30 * 86400);
	store_close(st);
	tu_rm_rf(dir);
}

/* A transition of @act from @r's state (as the service makes it); whether it applied. */
static bool
act_on(struct store *st, int64_t id, enum request_act act, int64_t now)
{
	struct request_policy p = {.name = "p", .kind = "erasure", .deadline_s = 86400};
	struct store_transition t = {.from = request_act_from(act, "erasure"),
	                             .to = request_act_to(act, &p),
	                             .actor = "test",
	                             .reason = "because",
	                             .now = now,
	                             .not_before = -1,
	                             .expires_at = -1,
	                             .effects = -1};
	struct lethe_err err = {0};
	bool applied = false;

	if (act == REQUEST_EXTEND) {
		t.to = "failed"; /* the service keeps the state; only failed ones are made here */
		t.event = "extended";
		t.due_at = now + 86400;
	}
	assert_int_equal(store_request_transition(st, id, &t, &applied, &err), LETHE_OK);
	return applied;
}

static void
test_store_final_states_stay(void **state)
{
	static const char *const finals[] = {
	    "completed", "completed_with_retention", "refused", "cancelled", "expired", "failed"};
	static const enum request_act acts[] = {REQUEST_VERIFY, REQUEST_APPROVE, REQUEST_REFUSE,
	                                        REQUEST_CANCEL, REQUEST_RETRY,   REQUEST_EXTEND};
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	size_t i, j;

	/* A finished request moves no more; only a failed one is retried or extended. */
	for (i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
		char code[16], subject[16];
		int64_t id;
		bool failed = strcmp(finals[i], "failed") == 0;

		snprintf(code, sizeof(code), "final%zu", i);
		snprintf(subject, sizeof(subject), "anon:f%zu", i);
		id = add(f->st, code, subject, finals[i], 1000, 5000);
		assert_true(request_state_final(finals[i]));
		for (j = 0; j < sizeof(acts) / sizeof(acts[0]); j++) {
			bool ok = failed && (acts[j] == REQUEST_RETRY || acts[j] == REQUEST_EXTEND);

			if (failed && acts[j] == REQUEST_RETRY)
				continue; /* below, last */
			assert_int_equal(act_on(f->st, id, acts[j], 1001), ok);
		}
		assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
		assert_string_equal(r.state, finals[i]);
		if (failed) {
			assert_true(act_on(f->st, id, REQUEST_RETRY, 1002));
			assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
			assert_string_equal(r.state, "scheduled");
		}
	}
}

static void
test_store_claim_then_cancel(void **state)
{
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id = add(f->st, "claim1", "anon:c1", "scheduled", 1000, 5000);
	struct store_transition claim = {.from = "scheduled",
	                                 .to = "running",
	                                 .actor = "lethe",
	                                 .now = 1100,
	                                 .not_before = 0,
	                                 .expires_at = -1,
	                                 .effects = -1};
	bool applied = false;
	int events = 0;

	assert_int_equal(
	    store_request_set_effects(f->st, id, 0, STORE_EFFECTS_APPLIED, &applied, &err),
	    LETHE_OK);
	/* The end of grace first: the cancel (and a refusal) lose, the effects stay. */
	assert_int_equal(store_request_transition(f->st, id, &claim, &applied, &err), LETHE_OK);
	assert_true(applied);
	assert_false(act_on(f->st, id, REQUEST_CANCEL, 1101));
	assert_false(act_on(f->st, id, REQUEST_REFUSE, 1101));
	assert_false(act_on(f->st, id, REQUEST_APPROVE, 1101));
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.state, "running");
	assert_int_equal(r.effects, STORE_EFFECTS_APPLIED);
	assert_int_equal(r.reason[0], '\0');
	assert_int_equal(store_request_events(f->st, id, count_event, &events, &err), LETHE_OK);
	assert_int_equal(events, 2); /* scheduled, running */
	/* Running is still open: a repeat resolves to it. */
	assert_int_equal(store_request_find_open(f->st, "anon:c1", "erasure", "account", &r, &err),
	                 LETHE_OK);
	assert_int_equal(r.id, id);
}

/* The number of keys of @job marked removed (kept for a residual scan). */
static size_t
scan_keys(struct store *st, int64_t job)
{
	struct store_media_key *k = NULL;
	struct lethe_err err = {0};
	size_t n = 0;

	assert_int_equal(store_media_removed(st, job, &k, &n, &err), LETHE_OK);
	store_media_keys_free(k, n);
	return n;
}

/*
 * A request that ends for good (cancelled, refused) forgets the keys its job
 * kept for the residual scan, not those still to remove, and not while
 * another request that may still scan (a failed one) shares the job.
 */
static void
test_store_cancel_forgets_scan_keys(void **state)
{
	struct sfix *f = *state;
	struct store_media_key *k = NULL;
	struct lethe_err err = {0};
	size_t n = 0;
	int64_t a = add(f->st, "mk1", "anon:m1", "scheduled", 1000, 5000);
	int64_t b = add(f->st, "mk2", "anon:m2", "scheduled", 1000, 5000);
	int64_t c = add(f->st, "mk3", "anon:m3", "failed", 1000, 5000);
	char sql[160];

	snprintf(sql, sizeof(sql),
	         "UPDATE requests SET job_id = 7 WHERE id = %lld;"
	         "UPDATE requests SET job_id = 8 WHERE id IN (%lld, %lld);",
	         (long long)a, (long long)b, (long long)c);
	tu_exec_sql(f->path, sql);
	assert_int_equal(store_media_add(f->st, 7, "media", "local", "u1/a.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_add(f->st, 7, "media", "local", "u1/b.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_done(f->st, 7, "media", "local", "u1/a.jpg", true, &err),
	                 LETHE_OK);
	assert_int_equal(store_media_add(f->st, 8, "media", "s3", "u2/c.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_done(f->st, 8, "media", "s3", "u2/c.jpg", true, &err),
	                 LETHE_OK);
	assert_int_equal(scan_keys(f->st, 7), 1);
	assert_int_equal(scan_keys(f->st, 8), 1);

	assert_true(act_on(f->st, a, REQUEST_CANCEL, 1100));
	assert_int_equal(scan_keys(f->st, 7), 0);
	/* The object not removed yet stays recorded for the job's resumption. */
	assert_int_equal(store_media_list(f->st, 7, "media", &k, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(k[0].key, "u1/b.jpg");
	store_media_keys_free(k, n);

	/* The failed request sharing job 8 may be retried and scan: its keys stay. */
	assert_true(act_on(f->st, b, REQUEST_REFUSE, 1100));
	assert_int_equal(scan_keys(f->st, 8), 1);
}

static void
test_store_cancel_before_effects(void **state)
{
	struct sfix *f = *state;
	struct store_request_new n = {
	    .code = "due1",
	    .kind = "erasure",
	    .scope = "account",
	    .source = "app",
	    .policy = "p",
	    .subject = "anon:d1",
	    .state = "scheduled",
	    .actor = "app:test",
	    .box = (const uint8_t *)"box",
	    .boxlen = 3,
	    .now = 1000,
	    .due_at = 5000,
	    .not_before = 2000,
	    .effects = STORE_EFFECTS_APPLY,
	};
	struct store_transition cancel = {.from = "scheduled",
	                                  .to = "cancelled",
	                                  .actor = "person",
	                                  .now = 1050,
	                                  .not_before = 0,
	                                  .expires_at = 0,
	                                  .completed_at = 1050,
	                                  .effects = -2};
	struct store_request r;
	struct lethe_err err = {0};
	uint8_t *box = NULL;
	size_t len = 0;
	bool applied = false;
	int64_t id = 0;

	assert_int_equal(store_request_insert(f->st, &n, &id, &err), LETHE_OK);
	/* Effects due, not applied yet: the runner finds them. */
	assert_int_equal(store_request_effects_next(f->st, 0, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, id);
	assert_int_equal(len, 3);
	free(box);
	/*
	 * Cancelled while they may be being applied (or were, before a crash):
	 * an undo is due (undoing what was never applied is harmless), and the
	 * identity stays until it is done.
	 */
	assert_int_equal(store_request_transition(f->st, id, &cancel, &applied, &err), LETHE_OK);
	assert_true(applied);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_int_equal(r.effects, STORE_EFFECTS_UNDO);
	assert_int_equal(store_request_effects_next(f->st, 0, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, id);
	free(box);
	assert_int_equal(store_request_wipe(f->st, id, &err), LETHE_OK);
	assert_int_equal(store_request_box(f->st, id, &box, &len, &err), LETHE_OK);
	assert_int_equal(len, 3);
	free(box);
	/* A runner that was applying them meanwhile finds "applied" refused: it leaves them. */
	assert_int_equal(store_request_set_effects(f->st, id, STORE_EFFECTS_APPLY,
	                                           STORE_EFFECTS_APPLIED, &applied, &err),
	                 LETHE_OK);
	assert_false(applied);
	/* Once undone, the identity goes. */
	assert_int_equal(store_request_set_effects(f->st, id, STORE_EFFECTS_UNDO,
	                                           STORE_EFFECTS_NONE, &applied, &err),
	                 LETHE_OK);
	assert_true(applied);
	assert_int_equal(store_request_wipe(f->st, id, &err), LETHE_OK);
	assert_int_equal(store_request_box(f->st, id, &box, &len, &err), LETHE_OK);
	assert_int_equal(len, 0);
	free(box);
	/* Its grace period would be over: it never runs. */
	assert_int_equal(store_request_next(f->st, 0, 3000, false, &r, &box, &len, &err),
	                 LETHE_E_NOTFOUND);
	free(box);
}

/*
 * A restriction in force keeps its identity (its lift undoes the effects
 * with it) and is the repeat of a new one; lifted, its undo is due, and a
 * restriction asked since has its apply after that undo (effects by id).
 */
static void
test_store_restriction_in_force(void **state)
{
	struct sfix *f = *state;
	struct store_request_new n = {
	    .code = "res1",
	    .kind = "restriction",
	    .scope = "account",
	    .source = "app",
	    .policy = "restriction",
	    .subject = "anon:r1",
	    .state = "scheduled",
	    .actor = "app:test",
	    .box = (const uint8_t *)"box",
	    .boxlen = 3,
	    .now = 1000,
	    .due_at = 5000,
	    .not_before = 1000,
	    .effects = STORE_EFFECTS_APPLY,
	};
	struct store_transition run = {.from = "scheduled",
	                               .to = "running",
	                               .actor = "lethe",
	                               .now = 1001,
	                               .not_before = 0,
	                               .expires_at = -1,
	                               .effects = -1};
	struct store_transition done = {.from = "running",
	                                .to = "completed",
	                                .actor = "lethe",
	                                .now = 1002,
	                                .not_before = -1,
	                                .expires_at = -1,
	                                .completed_at = 1002,
	                                .effects = -1};
	struct store_transition lift = {.from = request_act_from(REQUEST_LIFT, "restriction"),
	                                .to = request_act_to(REQUEST_LIFT, NULL),
	                                .actor = "cli",
	                                .now = 1003,
	                                .not_before = -1,
	                                .expires_at = -1,
	                                .completed_at = 1003,
	                                .effects = -2};
	struct store_request r;
	struct lethe_err err = {0};
	uint8_t *box = NULL;
	size_t len = 0;
	bool applied = false;
	int64_t id = 0, id2 = 0;

	assert_int_equal(store_request_insert(f->st, &n, &id, &err), LETHE_OK);
	assert_int_equal(store_request_set_effects(f->st, id, STORE_EFFECTS_APPLY,
	                                           STORE_EFFECTS_APPLIED, &applied, &err),
	                 LETHE_OK);
	assert_int_equal(store_request_transition(f->st, id, &run, &applied, &err), LETHE_OK);
	assert_int_equal(store_request_transition(f->st, id, &done, &applied, &err), LETHE_OK);
	assert_true(applied);
	/* In force: finished, effects settled, yet the identity stays. */
	assert_int_equal(store_request_wipe(f->st, id, &err), LETHE_OK);
	assert_int_equal(store_request_box(f->st, id, &box, &len, &err), LETHE_OK);
	assert_int_equal(len, 3);
	free(box);
	/* A repeat of the same person, kind and scope is this one. */
	assert_int_equal(
	    store_request_find_open(f->st, "anon:r1", "restriction", "account", &r, &err),
	    LETHE_OK);
	assert_int_equal(r.id, id);
	/* Lifted: the undo is due, no longer a repeat. */
	assert_int_equal(store_request_transition(f->st, id, &lift, &applied, &err), LETHE_OK);
	assert_true(applied);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.state, "lifted");
	assert_int_equal(r.effects, STORE_EFFECTS_UNDO);
	assert_int_equal(
	    store_request_find_open(f->st, "anon:r1", "restriction", "account", &r, &err),
	    LETHE_E_NOTFOUND);
	/* Asked again before the undo ran: the older's undo comes first. */
	n.code = "res2";
	n.now = 1004;
	assert_int_equal(store_request_insert(f->st, &n, &id2, &err), LETHE_OK);
	assert_true(id2 > id);
	assert_int_equal(store_request_effects_next(f->st, 0, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, id);
	assert_int_equal(r.effects, STORE_EFFECTS_UNDO);
	free(box);
	assert_int_equal(store_request_effects_next(f->st, id, &r, &box, &len, &err), LETHE_OK);
	assert_int_equal(r.id, id2);
	free(box);
	/* Undone: the lifted one's identity goes; a second lift matches nothing. */
	assert_int_equal(store_request_set_effects(f->st, id, STORE_EFFECTS_UNDO,
	                                           STORE_EFFECTS_NONE, &applied, &err),
	                 LETHE_OK);
	assert_int_equal(store_request_wipe(f->st, id, &err), LETHE_OK);
	assert_int_equal(store_request_box(f->st, id, &box, &len, &err), LETHE_OK);
	assert_int_equal(len, 0);
	free(box);
	assert_int_equal(store_request_transition(f->st, id, &lift, &applied, &err), LETHE_OK);
	assert_false(applied);
}

static void
test_store_restart_keeps_failed(void **state)
{
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id = add(f->st, "fail1", "anon:x1", "scheduled", 1000, 5000);
	struct store_transition fail = {.from = "received,scheduled,running",
	                                .to = "failed",
	                                .actor = "lethe",
	                                .reason = "the erasure failed 3 times in a row",
	                                .now = 1200,
	                                .not_before = -1,
	                                .expires_at = -1,
	                                .completed_at = 1200,
	                                .effects = -1};
	bool applied = false;
	int64_t n = -1;
	int events = 0;

	assert_int_equal(store_request_transition(f->st, id, &fail, &applied, &err), LETHE_OK);
	assert_true(applied);
	/* A start of the runner retries failed Meta requests only: this one waits. */
	assert_int_equal(store_meta_retry_failed(f->st, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.state, "failed");
	assert_int_equal(r.completed_at, 1200);
	/* The operator's retry is a transition, in the history. */
	assert_true(act_on(f->st, id, REQUEST_RETRY, 1300));
	assert_int_equal(store_request_events(f->st, id, count_event, &events, &err), LETHE_OK);
	assert_int_equal(events, 3); /* scheduled, failed, scheduled */
}

static void
count_request(void *arg, const struct store_request *r)
{
	(void)r;
	(*(int *)arg)++;
}

static void
test_store_extend_warns_again(void **state)
{
	struct sfix *f = *state;
	struct store_request r;
	struct lethe_err err = {0};
	int64_t id = add(f->st, "ext1", "anon:e1", "awaiting_review", 1000, 5000);
	struct store_transition extend = {.from = "awaiting_review",
	                                  .to = "awaiting_review",
	                                  .event = "extended",
	                                  .actor = "cli",
	                                  .reason = "complex request",
	                                  .now = 4000,
	                                  .not_before = -1,
	                                  .expires_at = -1,
	                                  .due_at = 90000,
	                                  .effects = -1};
	bool applied = false;
	int n = 0;

	/* Warned once as the deadline nears... */
	assert_int_equal(store_request_due_soon(f->st, 5000, count_request, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_request_set_warned(f->st, id, &err), LETHE_OK);
	n = 0;
	assert_int_equal(store_request_due_soon(f->st, 5000, count_request, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	/* ... and again as the extended one nears. */
	assert_int_equal(store_request_transition(f->st, id, &extend, &applied, &err), LETHE_OK);
	assert_true(applied);
	assert_int_equal(store_request_get(f->st, id, &r, &err), LETHE_OK);
	assert_string_equal(r.state, "awaiting_review");
	assert_int_equal(r.due_at, 90000);
	assert_false(r.warned);
	assert_int_equal(store_request_due_soon(f->st, 5000, count_request, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_request_due_soon(f->st, 90000, count_request, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_initial_states),
	    cmocka_unit_test(test_act_from),
	    cmocka_unit_test(test_subject_order),
	    cmocka_unit_test(test_ids_box),
	    cmocka_unit_test_setup_teardown(test_store_insert_find, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_transition_race, store_setup,
	                                    store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_reason_column, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_next, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_expire_due, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_list, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_list_seeks, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_next_seeks, store_setup, store_teardown),
	    cmocka_unit_test(test_store_migrate_v9),
	    cmocka_unit_test_setup_teardown(test_store_final_states_stay, store_setup,
	                                    store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_claim_then_cancel, store_setup,
	                                    store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_cancel_before_effects, store_setup,
	                                    store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_cancel_forgets_scan_keys, store_setup,
	                                    store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_restriction_in_force, store_setup,
	                                    store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_restart_keeps_failed, store_setup,
	                                    store_teardown),
	    cmocka_unit_test_setup_teardown(test_store_extend_warns_again, store_setup,
	                                    store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
