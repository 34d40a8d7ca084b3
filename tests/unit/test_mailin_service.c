/* SPDX-License-Identifier: MIT */
/*
 * test_mailin_service.c - unit tests of requests by email in the service,
 * on a command's service over the demo (service_open()): the hooks of
 * service_request_create() the mail intake uses (link_on_file: the verify
 * link goes to the address on file for a claimed account, or nowhere;
 * review: awaiting_review whatever the policy, approval verifies it;
 * in_txn: what it writes commits with the request, its error rolls both
 * back, a repeat resolves to the open request), and the operator's queue
 * (service_mailbox.c: list filters and cursor, close).
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

#include <sqlite3.h>

#include "config/config.h"
#include "datamap/datamap.h"
#include "demo/demo.h"
#include "service/service.h"
#include "service/service_internal.h"
#include "store/store.h"
#include "testutil.h"

#define USERS 20

/* The demo, its configuration and a command's service on it. */
struct fx {
	struct tu_fixture *f;
	struct appdb *db;
	struct datamap *dm;
	struct lethe_config cfg;
	struct service *svc;
	char app[160];   /* the demo's app.db */
	char state[200]; /* the state store */
	char name[128];  /* a user's account name, unique */
	char email[256]; /* that user's address on file */
};

static int
setup(void **state)
{
	static const char *const scripts[] = {"CREATE TABLE unused(x);", NULL};

	return tu_fixture_setup(state, "mailin", scripts, NULL);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/* One text of the first row of @sql on the SQLite file @path into @out ("" if none). */
static void
sql_text(const char *path, const char *sql, char *out, size_t cap)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) != NULL)
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

/* The integer of the first row of @sql on @path. */
static long long
sql_int(const char *path, const char *sql)
{
	char s[64];

	sql_text(path, sql, s, sizeof(s));
	return strtoll(s, NULL, 10);
}

static void
fx_open(void **state, struct fx *x, const char *extra_yaml)
{
	struct lethe_err err = {0};
	char path[200];
	FILE *fp;

	memset(x, 0, sizeof(*x));
	x->f = *state;
	x->db = tu_demo_open(x->f->dir, USERS);
	snprintf(x->app, sizeof(x->app), "%s/demo/app.db", x->f->dir);
	snprintf(path, sizeof(path), "%s/demo/lethe.yaml", x->f->dir);
	if (extra_yaml != NULL) {
		fp = fopen(path, "a");
		assert_non_null(fp);
		fputs(extra_yaml, fp);
		fclose(fp);
	}
	if (config_load(&x->cfg, path, &err) != LETHE_OK)
		fail_msg("config: %s", err.msg);
	if (config_load_key(&x->cfg, &err) != LETHE_OK)
		fail_msg("key: %s", err.msg);
	x->dm = datamap_load("datamap.yaml", demo_datamap_yaml, &err);
	if (x->dm == NULL)
		fail_msg("map: %s", err.msg);
	if (datamap_validate(x->dm, x->db, &err) != LETHE_OK)
		fail_msg("validate: %s", err.msg);
	if (mailbox_config_check(&x->cfg, x->dm, &err) != LETHE_OK)
		fail_msg("mailbox: %s", err.msg);
	x->svc = service_open(&x->cfg, x->dm, x->db);
	assert_int_equal(service_store_open(x->svc, &err), LETHE_OK);
	snprintf(x->state, sizeof(x->state), "%s", x->cfg.state_db);
	sql_text(x->app,
	         "SELECT name FROM users WHERE email <> '' GROUP BY name HAVING count(*) = 1 "
	         "ORDER BY name LIMIT 1",
	         x->name, sizeof(x->name));
	assert_true(x->name[0] != '\0');
	{
		char sql[400];

		snprintf(sql, sizeof(sql), "SELECT email FROM users WHERE name = '%s'", x->name);
		sql_text(x->app, sql, x->email, sizeof(x->email));
	}
	assert_true(strchr(x->email, '@') != NULL);
}

static void
fx_close(struct fx *x)
{
	service_close(x->svc);
	config_free(&x->cfg);
	datamap_free(x->dm);
	appdb_close(x->db);
}

/* Request @code's column @col as text into @out. */
static void
req_col(struct fx *x, const char *code, const char *col, char *out, size_t cap)
{
	char sql[300];

	snprintf(sql, sizeof(sql), "SELECT %s FROM requests WHERE code = '%s'", col, code);
	sql_text(x->state, sql, out, cap);
}

/* The notices queued for request @code, comma-separated in order. */
static void
notices(struct fx *x, const char *code, char *out, size_t cap)
{
	char sql[300];

	snprintf(sql, sizeof(sql),
	         "SELECT group_concat(notice, ',') FROM (SELECT m.notice FROM mail m JOIN "
	         "requests r ON r.id = m.request_id WHERE r.code = '%s' ORDER BY m.id)",
	         code);
	sql_text(x->state, sql, out, cap);
}

/* What the in_txn hook saw, and what it returns. */
struct hook {
	int calls;
	int64_t request_id;
	bool repeat;
	lethe_rc fail; /* LETHE_OK: write a row of its own */
};

static lethe_rc
hook_fn(void *arg, struct store *st, int64_t request_id, bool repeat, struct lethe_err *err)
{
	struct hook *h = arg;
	struct store_mailin_new n = {
	    .hash = repeat ? "anon:hook-repeat" : "anon:hook",
	    .via = "lmtp",
	    .now = 1,
	    .outcome = "request",
	    .request_id = request_id,
	    .state = "open",
	};
	int64_t id = 0;

	h->calls++;
	h->request_id = request_id;
	h->repeat = repeat;
	if (h->fail != LETHE_OK)
		return lethe_err_set(err, h->fail, "the hook failed");
	return store_mailin_insert(st, &n, &id, err);
}

/* Make a request by email of @kind naming @idkind @value; its code into @code. */
static lethe_rc
create(struct fx *x, const char *idkind, const char *value, bool on_file, bool review,
       const char *notify, struct hook *h, char code[64], bool *repeat)
{
	struct plan_id id = {.kind = idkind, .value = value};
	struct service_request_in in;
	struct lethe_err err = {0};
	json_t *out = NULL;
	lethe_rc rc;

	memset(&in, 0, sizeof(in));
	in.kind = "erasure";
	in.scope = "account";
	in.source = "email";
	in.actor = "email";
	in.ids = &id;
	in.nids = 1;
	in.verify_by_link = !review;
	in.link_on_file = on_file;
	in.review = review;
	in.notify = notify;
	in.in_txn = h != NULL ? hook_fn : NULL;
	in.in_txn_arg = h;
	rc = service_request_create(x->svc, &in, &out, repeat, &err);
	code[0] = '\0';
	if (rc == LETHE_OK)
		snprintf(code, 64, "%s", json_string_value(json_object_get(out, "id")));
	json_decref(out);
	return rc;
}

static void
test_link_on_file(void **state)
{
	struct fx x;
	char code[64], s[256];
	bool repeat = false;

	fx_open(state, &x, NULL);
	/* The account named has an address on file: the verify link goes there. */
	assert_int_equal(create(&x, "account_name", x.name, true, false, NULL, NULL, code, &repeat),
	                 LETHE_OK);
	req_col(&x, code, "state", s, sizeof(s));
	assert_string_equal(s, "awaiting_verification");
	req_col(&x, code, "notify_kind", s, sizeof(s));
	assert_string_equal(s, "1"); /* the identity's own address */
	notices(&x, code, s, sizeof(s));
	assert_string_equal(s, "awaiting_verification");
	req_col(&x, code, "expires_at - received_at", s, sizeof(s));
	assert_int_equal(strtoll(s, NULL, 10), x.cfg.mail.link_ttl_s);
	/* Nothing on file for the name: made all the same, nobody mailed, it expires. */
	assert_int_equal(create(&x, "account_name", "nobody-has-this-name", true, false, NULL, NULL,
	                        code, &repeat),
	                 LETHE_OK);
	req_col(&x, code, "state", s, sizeof(s));
	assert_string_equal(s, "awaiting_verification");
	req_col(&x, code, "notify_kind", s, sizeof(s));
	assert_string_equal(s, "0");
	notices(&x, code, s, sizeof(s));
	assert_string_equal(s, "");
	req_col(&x, code, "expires_at - received_at", s, sizeof(s));
	assert_int_equal(strtoll(s, NULL, 10), x.cfg.requests.verify_ttl_s);
	fx_close(&x);
}

static void
test_verify_by_link_alone_reads_nothing(void **state)
{
	struct fx x;
	char code[64], s[256];
	bool repeat = false;

	fx_open(state, &x, NULL);
	/* Without link_on_file (the self-service page's way) nothing is looked up. */
	assert_int_equal(
	    create(&x, "account_name", x.name, false, false, NULL, NULL, code, &repeat), LETHE_OK);
	req_col(&x, code, "notify_kind", s, sizeof(s));
	assert_string_equal(s, "0");
	notices(&x, code, s, sizeof(s));
	assert_string_equal(s, "");
	fx_close(&x);
}

static void
test_review_and_approve(void **state)
{
	struct service_request_action a = {.act = SERVICE_REQ_APPROVE, .actor = "cli:alice"};
	struct lethe_err err = {0};
	struct fx x;
	json_t *out = NULL;
	char code[64], s[256];
	bool repeat = false;

	fx_open(state, &x, NULL);
	assert_int_equal(create(&x, "account_name", x.name, false, true, "claimant@example.net",
	                        NULL, code, &repeat),
	                 LETHE_OK);
	req_col(&x, code, "state", s, sizeof(s));
	assert_string_equal(s, "awaiting_review"); /* the built-in policy has no review */
	req_col(&x, code, "verified", s, sizeof(s));
	assert_string_equal(s, "0");
	req_col(&x, code, "notify_kind", s, sizeof(s));
	assert_string_equal(s, "2"); /* an address given: confirmed by its own link first */
	notices(&x, code, s, sizeof(s));
	assert_string_equal(s, "address");
	/* Approving is the verification. */
	assert_int_equal(service_request_act(x.svc, code, &a, &out, &err), LETHE_OK);
	json_decref(out);
	req_col(&x, code, "state", s, sizeof(s));
	assert_string_equal(s, "scheduled");
	req_col(&x, code, "verified", s, sizeof(s));
	assert_string_equal(s, "1");
	fx_close(&x);
}

static void
test_in_txn(void **state)
{
	struct hook h = {0};
	struct fx x;
	char code[64], code2[64], s[256];
	bool repeat = true;

	fx_open(state, &x, NULL);
	/* Its error rolls the request back and is the result. */
	h.fail = LETHE_E_STATE;
	assert_int_equal(create(&x, "account_name", x.name, true, false, NULL, &h, code, &repeat),
	                 LETHE_E_STATE);
	assert_int_equal(h.calls, 1);
	assert_true(h.request_id > 0);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM requests"), 0);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM mail"), 0);
	/* What it writes commits with the request. */
	h.fail = LETHE_OK;
	assert_int_equal(create(&x, "account_name", x.name, true, false, NULL, &h, code, &repeat),
	                 LETHE_OK);
	assert_false(repeat);
	assert_int_equal(h.calls, 2);
	assert_false(h.repeat);
	req_col(&x, code, "id", s, sizeof(s));
	assert_int_equal(strtoll(s, NULL, 10), h.request_id);
	assert_int_equal(
	    sql_int(x.state, "SELECT request_id FROM mail_in WHERE hash = 'anon:hook'"),
	    h.request_id);
	/* A repeat resolves to the open request, and the hook is told. */
	assert_int_equal(create(&x, "account_name", x.name, true, false, NULL, &h, code2, &repeat),
	                 LETHE_OK);
	assert_true(repeat);
	assert_true(h.repeat);
	assert_string_equal(code2, code);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM requests"), 1);
	assert_int_equal(
	    sql_int(x.state, "SELECT request_id FROM mail_in WHERE hash = 'anon:hook-repeat'"),
	    h.request_id);
	fx_close(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_link_on_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_by_link_alone_reads_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_review_and_approve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_txn, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
