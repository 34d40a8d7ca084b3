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
#include "jobs/request_work.h"
#include "service/service.h"
#include "service/service_internal.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "testutil.h"
#include "util/timeutil.h"

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

/* ---- delivery ---------------------------------------------------------------- */

#define MAILBOX_YAML                                                                               \
	"mailbox:\n"                                                                               \
	"  addresses: [privacy@demo-social.example]\n"                                             \
	"  max_size: 64KiB\n"                                                                      \
	"  replies: {per_address: 3, total: 200, window: 1h}\n"                                    \
	"  rules:\n"                                                                               \
	"    - name: account-deletion-request\n"                                                   \
	"      subjects: [\"Account Deletion Request\"]\n"                                         \
	"      kind: erasure\n"                                                                    \
	"      scope: account\n"                                                                   \
	"      identities: [account_name]\n"                                                       \
	"    - name: account-deletion\n"                                                           \
	"      subjects: [\"Account deletion\"]\n"                                                 \
	"      kind: erasure\n"                                                                    \
	"      scope: account\n"                                                                   \
	"      identities: [sender]\n"                                                             \
	"    - name: data-export\n"                                                                \
	"      subjects: [\"Data export\"]\n"                                                      \
	"      kind: export\n"                                                                     \
	"      scope: account\n"                                                                   \
	"      identities: [account_name]\n"                                                       \
	"    - name: meta-deletion\n"                                                              \
	"      subjects: [\"Meta Data Deletion Request\"]\n"                                       \
	"      kind: erasure\n"                                                                    \
	"      scope: meta\n"                                                                      \
	"      identities: [instagram_username]\n"                                                 \
	"      notify_from_body: true\n"                                                           \
	"  claims:\n"                                                                              \
	"    account_name:\n"                                                                      \
	"      identity: account_name\n"                                                           \
	"      labels: [\"account name\"]\n"                                                       \
	"      proof: address_on_file\n"                                                           \
	"    instagram_username:\n"                                                                \
	"      identity: instagram_username\n"                                                     \
	"      labels: [\"instagram username\"]\n"                                                 \
	"      proof: review\n"

#define MARKER "Zebra-Quokka-7731" /* in every body: never in the state store in the clear */

/* A message from @from with @subject, @body and extra headers @extra (may be ""); @n numbers it. */
static char *
msg(const char *from, const char *subject, const char *body, const char *extra, int n)
{
	char *m = NULL;
	size_t cap = strlen(body) + strlen(extra) + 1024;

	m = malloc(cap);
	assert_non_null(m);
	snprintf(m, cap,
	         "Return-Path: <%s>\r\nFrom: Someone <%s>\r\nTo: privacy@demo-social.example\r\n"
	         "Subject: %s\r\nDate: Mon, 7 Dec 2026 05:00:00 +0000\r\n"
	         "Message-ID: <m%d.test@example.net>\r\nMIME-Version: 1.0\r\n"
	         "Content-Type: text/plain; charset=utf-8\r\n%s\r\n%s\r\n" MARKER "\r\n",
	         from, from, subject, n, extra, body);
	return m;
}

/* Deliver @m by @via into @r; the result. */
static lethe_rc
deliver(struct fx *x, const char *m, const char *via, struct service_mailin_result *r)
{
	struct lethe_err err = {0};

	return service_mailin_deliver(x->svc, m, strlen(m), NULL, via, r, &err);
}

/* The integer @sql gives, with %lld replaced by @id. */
static long long
q_id(struct fx *x, const char *fmt, long long id)
{
	char sql[400];

	snprintf(sql, sizeof(sql), fmt, id);
	return sql_int(x->state, sql);
}

/* The text @sql gives, with %lld replaced by @id. */
static void
t_id(struct fx *x, const char *fmt, long long id, char *out, size_t cap)
{
	char sql[400];

	snprintf(sql, sizeof(sql), fmt, id);
	sql_text(x->state, sql, out, cap);
}

/* True if the file @path contains @needle. */
static bool
file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	size_t n = strlen(needle), cap = 0, len = 0;
	char *buf = NULL;
	bool found = false;
	size_t i;

	if (fp == NULL)
		return false;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + len, 1, cap - len, fp);
		if (r == 0)
			break;
		len += r;
	}
	fclose(fp);
	for (i = 0; i + n <= len && !found; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

/* Neither the state store nor its WAL holds @needle in the clear. */
static void
assert_store_lacks(struct fx *x, const char *needle)
{
	char wal[260];

	assert_false(file_has(x->state, needle));
	snprintf(wal, sizeof(wal), "%s-wal", x->state);
	assert_false(file_has(wal, needle));
}

static void
test_deliver_sender(void **state)
{
	struct service_mailin_result r;
	struct fx x;
	char *m, s[256];

	fx_open(state, &x, MAILBOX_YAML);
	m = msg(x.email, "Account deletion", "Please delete my account.", "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	assert_string_equal(r.outcome, "request");
	assert_true(r.id > 0);
	assert_true(r.request_id > 0);
	assert_false(r.replied); /* the verify mail is the answer */
	t_id(&x,
	     "SELECT state || ',' || source || ',' || notify_kind FROM requests WHERE id = %lld",
	     r.request_id, s, sizeof(s));
	assert_string_equal(s, "awaiting_verification,email,1");
	t_id(&x, "SELECT group_concat(notice) FROM mail WHERE request_id = %lld", r.request_id, s,
	     sizeof(s));
	assert_string_equal(s, "awaiting_verification");
	t_id(&x,
	     "SELECT outcome || ',' || rule || ',' || state || ',' || (raw_box IS NOT NULL) || "
	     "',' || (reply_box IS NULL) || ',' || request_id FROM mail_in WHERE id = %lld",
	     r.id, s, sizeof(s));
	{
		char want[128];

		snprintf(want, sizeof(want), "request,account-deletion,open,1,1,%lld",
		         (long long)r.request_id);
		assert_string_equal(s, want);
	}
	/* Sealed at rest: neither the body nor the sender's address in the clear. */
	assert_store_lacks(&x, MARKER);
	assert_store_lacks(&x, x.email);
	free(m);
	fx_close(&x);
}

static void
test_deliver_on_file_repeat_duplicate(void **state)
{
	struct service_mailin_result r, r2, r3;
	struct fx x;
	char body[300], *m, *m2, s[256];

	fx_open(state, &x, MAILBOX_YAML);
	snprintf(body, sizeof(body), "Hello,\r\nAccount name: %s\r\nThanks", x.name);
	/* A stranger names the account: the link goes to the address on file, not to him. */
	m = msg("stranger@example.net", "Account Deletion Request", body, "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	assert_string_equal(r.outcome, "request");
	assert_true(r.replied);
	t_id(&x, "SELECT state || ',' || notify_kind FROM requests WHERE id = %lld", r.request_id,
	     s, sizeof(s));
	assert_string_equal(s, "awaiting_verification,1");
	t_id(&x,
	     "SELECT group_concat(notice) FROM (SELECT notice FROM mail WHERE request_id = %lld "
	     "ORDER BY id)",
	     r.request_id, s, sizeof(s));
	assert_string_equal(s, "awaiting_verification,reply_request");
	assert_int_equal(q_id(&x, "SELECT count(*) FROM mail WHERE mail_in_id = %lld", r.id), 1);
	/* Redelivered (the ack was lost): nothing new. */
	assert_int_equal(deliver(&x, m, "lmtp", &r2), LETHE_OK);
	assert_string_equal(r2.outcome, "duplicate");
	assert_int_equal(r2.id, r.id);
	assert_int_equal(r2.request_id, r.request_id);
	assert_false(r2.replied);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM mail_in"), 1);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM requests"), 1);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM mail"), 2);
	/* The same ask in a new mail: the open request, its news mailed again. */
	m2 = msg("stranger@example.net", "Re: Account Deletion Request", body, "", 2);
	assert_int_equal(deliver(&x, m2, "maildir", &r3), LETHE_OK);
	assert_string_equal(r3.outcome, "request");
	assert_int_equal(r3.request_id, r.request_id);
	assert_true(r3.id != r.id);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM requests"), 1);
	t_id(&x,
	     "SELECT group_concat(notice) FROM (SELECT notice FROM mail WHERE request_id = %lld "
	     "ORDER BY id)",
	     r.request_id, s, sizeof(s));
	assert_string_equal(s, "awaiting_verification,reply_request,reply_request,"
	                       "awaiting_verification");
	assert_store_lacks(&x, MARKER);
	assert_store_lacks(&x, x.name);
	free(m);
	free(m2);
	fx_close(&x);
}

static void
test_deliver_review_and_wipe(void **state)
{
	struct service_request_action a = {
	    .act = SERVICE_REQ_REFUSE, .actor = "cli:alice", .reason = "not the owner"};
	struct service_mailin_result r;
	struct lethe_err err = {0};
	struct fx x;
	json_t *out = NULL;
	char *m, s[256], code[64];

	fx_open(state, &x, MAILBOX_YAML);
	m = msg("fan@example.net", "Meta Data Deletion Request",
	        "Instagram username: @some.creator\r\nAn email address where we can confirm: "
	        "confirm-me@example.org",
	        "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	assert_string_equal(r.outcome, "review");
	assert_true(r.replied);
	t_id(&x,
	     "SELECT state || ',' || notify_kind || ',' || verified FROM requests WHERE id = %lld",
	     r.request_id, s, sizeof(s));
	assert_string_equal(s, "awaiting_review,2,0");
	t_id(&x,
	     "SELECT group_concat(notice) FROM (SELECT notice FROM mail WHERE request_id = %lld "
	     "ORDER BY id)",
	     r.request_id, s, sizeof(s));
	assert_string_equal(s, "address,reply_review");
	assert_int_equal(q_id(&x, "SELECT raw_box IS NOT NULL FROM mail_in WHERE id = %lld", r.id),
	                 1);
	/* The request ends: its mail is closed and its raw message wiped with it. */
	t_id(&x, "SELECT code FROM requests WHERE id = %lld", r.request_id, code, sizeof(code));
	assert_int_equal(service_request_act(x.svc, code, &a, &out, &err), LETHE_OK);
	json_decref(out);
	t_id(&x,
	     "SELECT state || ',' || closed_by || ',' || (raw_box IS NULL) || ',' || "
	     "(reply_box IS NULL) FROM mail_in WHERE id = %lld",
	     r.id, s, sizeof(s));
	assert_string_equal(s, "closed,request,1,1");
	free(m);
	fx_close(&x);
}

static void
test_deliver_expiry_wipes(void **state)
{
	struct service_mailin_result r;
	struct lethe_err err = {0};
	struct fx x;
	char *m, s[256];

	fx_open(state, &x, MAILBOX_YAML);
	m = msg(x.email, "Account deletion", "Please.", "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	/* Never verified: the request expires, and its mail goes with it. */
	assert_int_equal(request_work_tick(&x.cfg, x.svc->st, time_now() + 400 * 86400, &err),
	                 LETHE_OK);
	t_id(&x, "SELECT state FROM requests WHERE id = %lld", r.request_id, s, sizeof(s));
	assert_string_equal(s, "expired");
	t_id(&x, "SELECT state || ',' || (raw_box IS NULL) FROM mail_in WHERE id = %lld", r.id, s,
	     sizeof(s));
	/* Closed by the request (and kept mailbox.keep from now before it is forgotten). */
	assert_string_equal(s, "closed,1");
	free(m);
	fx_close(&x);
}

static void
test_deliver_export_limit(void **state)
{
	struct store_transition t = {
	    .from = "awaiting_verification",
	    .to = "completed",
	    .actor = "lethe",
	    .not_before = -1,
	    .expires_at = -1,
	    .effects = -1,
	};
	struct service_mailin_result r, r2;
	struct lethe_err err = {0};
	struct fx x;
	char body[300], *m, *m2, s[256];
	bool applied = false;

	fx_open(state, &x, MAILBOX_YAML);
	snprintf(body, sizeof(body), "Account name: %s", x.name);
	m = msg("stranger@example.net", "Data export", body, "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	assert_string_equal(r.outcome, "request");
	assert_true(r.request_id > 0);
	t.now = time_now();
	assert_int_equal(store_request_transition(x.svc->st, r.request_id, &t, &applied, &err),
	                 LETHE_OK);
	assert_true(applied);
	/* Within export.rate_limit: the same answer, nothing made, nothing kept. */
	m2 = msg("stranger@example.net", "Data export", body, "", 2);
	assert_int_equal(deliver(&x, m2, "lmtp", &r2), LETHE_OK);
	assert_string_equal(r2.outcome, "request");
	assert_int_equal(r2.request_id, 0);
	assert_true(r2.replied);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM requests"), 1);
	t_id(&x, "SELECT state || ',' || (raw_box IS NULL) FROM mail_in WHERE id = %lld", r2.id, s,
	     sizeof(s));
	assert_string_equal(s, "closed,1");
	t_id(&x, "SELECT notice FROM mail WHERE mail_in_id = %lld", r2.id, s, sizeof(s));
	assert_string_equal(s, "reply_request");
	free(m);
	free(m2);
	fx_close(&x);
}

/* The connection's PRAGMA synchronous (1 NORMAL, 2 FULL). */
static int
sync_level(struct store *st)
{
	sqlite3_stmt *q = NULL;
	int v = -1;

	assert_int_equal(
	    sqlite3_prepare_v2(sq_sqlite_handle(st->c), "PRAGMA synchronous", -1, &q, NULL),
	    SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* in_txn hook: the connection's synchronous inside the request's transaction into *@arg. */
static lethe_rc
sync_hook(void *arg, struct store *st, int64_t request_id, bool repeat, struct lethe_err *err)
{
	(void)request_id;
	(void)repeat;
	(void)err;
	*(int *)arg = sync_level(st);
	return LETHE_OK;
}

/*
 * in.durable: the request's transaction commits with synchronous=FULL (the
 * WAL synced before service_request_create() returns), and only that one:
 * the connection is back to NORMAL afterwards; without it, NORMAL.
 */
static void
test_in_txn_durable(void **state)
{
	struct plan_id id = {.kind = "email", .value = "durable@example.net"};
	struct service_request_in in;
	struct lethe_err err = {0};
	json_t *out = NULL;
	bool repeat = false;
	int seen = 0, durable;
	struct fx x;

	fx_open(state, &x, MAILBOX_YAML);
	for (durable = 1; durable >= 0; durable--) {
		memset(&in, 0, sizeof(in));
		in.kind = "erasure";
		in.scope = "account";
		in.source = "email";
		in.actor = "email";
		in.ids = &id;
		in.nids = 1;
		in.verify_by_link = true;
		in.in_txn = sync_hook;
		in.in_txn_arg = &seen;
		in.durable = durable;
		assert_int_equal(service_request_create(x.svc, &in, &out, &repeat, &err), LETHE_OK);
		json_decref(out);
		assert_int_equal(seen, durable ? 2 : 1);
		assert_int_equal(sync_level(x.svc->st), 1);
	}
	fx_close(&x);
}

/* MAILBOX_YAML with @from replaced by @to (one occurrence) into a new string. */
static char *
yaml_with(const char *from, const char *to)
{
	const char *base = MAILBOX_YAML, *at = strstr(base, from);
	size_t cap = strlen(base) + strlen(to) + 1;
	char *y = malloc(cap);

	assert_non_null(at);
	assert_non_null(y);
	snprintf(y, cap, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
	return y;
}

/* Request @id's own mails (not replies) that will go: pending, not skipped. */
static long long
request_mails_to_go(struct fx *x, long long id)
{
	return q_id(x,
	            "SELECT count(*) FROM mail WHERE request_id = %lld AND mail_in_id IS NULL AND "
	            "state = 'pending'",
	            id);
}

/*
 * Every mail a delivered mail causes is metered (mailbox.replies): ten
 * mails forged From: one address make its request once, mail its link
 * once and its news again once per window (the rest are recorded, and
 * mail nothing); per_address 1 skips even that repeat.
 */
static void
test_deliver_forged_from_metered(void **state)
{
	struct service_mailin_result r;
	struct fx x;
	char *m, *y;
	long long req = 0;
	int i, per;

	for (per = 3; per >= 1; per -= 2) {
		char with[64];

		snprintf(with, sizeof(with), "per_address: %d, total: 200", per);
		y = yaml_with("per_address: 3, total: 200", with);
		fx_open(state, &x, y);
		for (i = 1; i <= 10; i++) {
			m = msg(x.email, "Account deletion", "Please delete my account.", "", i);
			assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
			free(m);
			assert_string_equal(r.outcome, "request");
			assert_false(r.replied);
			if (i == 1)
				req = r.request_id;
			assert_int_equal(r.request_id, req);
		}
		assert_int_equal(sql_int(x.state, "SELECT count(*) FROM mail_in"), 10);
		assert_int_equal(request_mails_to_go(&x, req), per == 3 ? 2 : 1);
		assert_int_equal(q_id(&x,
		                      "SELECT count(*) FROM mail WHERE request_id = %lld AND "
		                      "state = 'skipped' AND last_error = 'over mailbox.replies'",
		                      req),
		                 per == 3 ? 0 : 1);
		fx_close(&x);
		free(y);
		/* The next round opens a fresh demo. */
		teardown(state);
		setup(state);
	}
}

/*
 * A claim's link to the address on file counts in a total of its own: the
 * sender's replies stop at the same mail whether or not the account
 * exists (replies total 2: the third reply is not sent, in both cases).
 */
static void
test_deliver_on_file_unobservable(void **state)
{
	struct service_mailin_result r;
	struct fx x;
	char *m, *y, body[300], from[64];
	bool got[2][3];
	int known, i;

	for (known = 1; known >= 0; known--) {
		y = yaml_with("per_address: 3, total: 200", "per_address: 2, total: 2");
		fx_open(state, &x, y);
		for (i = 0; i < 3; i++) {
			snprintf(body, sizeof(body), "Account name: %s",
			         known ? x.name : "nobody here");
			snprintf(from, sizeof(from), "stranger%d@example.net", i);
			m = msg(from, "Account Deletion Request", body, "", i + 1);
			assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
			free(m);
			assert_string_equal(r.outcome, "request");
			got[known][i] = r.replied;
		}
		if (known)
			/* The link went to the address on file: the first notice, its news once. */
			assert_int_equal(request_mails_to_go(&x, r.request_id), 2);
		fx_close(&x);
		free(y);
		teardown(state);
		setup(state);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(got[1][i], got[0][i]);
	assert_true(got[1][0] && got[1][1] && !got[1][2]);
}

/*
 * The reply to a claim is claimed by the mailer before the link to the
 * address on file it caused: the reply comes first whether or not an
 * account exists.
 */
static void
test_deliver_reply_goes_first(void **state)
{
	struct service_mailin_result r;
	struct store_mail ml;
	struct lethe_err err = {0};
	struct fx x;
	char *m, body[300];
	uint8_t *to = NULL;
	size_t tolen = 0;

	fx_open(state, &x, MAILBOX_YAML);
	snprintf(body, sizeof(body), "Account name: %s", x.name);
	m = msg("stranger@example.net", "Account Deletion Request", body, "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	free(m);
	assert_true(r.replied);
	assert_int_equal(request_mails_to_go(&x, r.request_id), 1);
	assert_int_equal(
	    store_mail_claim(x.svc->st, "test", time_now() * 1000, 60000, &ml, &to, &tolen, &err),
	    LETHE_OK);
	free(to);
	assert_int_equal(ml.mail_in_id, r.id);
	assert_string_equal(ml.notice, "reply_request");
	assert_int_equal(
	    store_mail_claim(x.svc->st, "test", time_now() * 1000, 60000, &ml, &to, &tolen, &err),
	    LETHE_OK);
	free(to);
	assert_int_equal(ml.mail_in_id, 0);
	assert_string_equal(ml.notice, "awaiting_verification");
	fx_close(&x);
}

/*
 * The sender path over export.rate_limit: recorded (closed, nothing kept),
 * no request, and nothing mailed at all: the link would have gone to the
 * From: address's owner, so silence tells the sender nothing.
 */
static void
test_deliver_sender_export_limit(void **state)
{
	struct store_transition t = {
	    .from = "awaiting_verification",
	    .to = "completed",
	    .actor = "lethe",
	    .not_before = -1,
	    .expires_at = -1,
	    .effects = -1,
	};
	struct service_mailin_result r, r2;
	struct lethe_err err = {0};
	struct fx x;
	char *m, *y, s[256];
	bool applied = false;
	long long mails;

	y = yaml_with("  rules:\n", "  rules:\n"
	                            "    - name: my-export\n"
	                            "      subjects: [\"Export my data\"]\n"
	                            "      kind: export\n"
	                            "      scope: account\n"
	                            "      identities: [sender]\n");
	fx_open(state, &x, y);
	m = msg(x.email, "Export my data", "Please send me my data.", "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	free(m);
	assert_string_equal(r.outcome, "request");
	assert_true(r.request_id > 0);
	assert_int_equal(request_mails_to_go(&x, r.request_id), 1);
	t.now = time_now();
	assert_int_equal(store_request_transition(x.svc->st, r.request_id, &t, &applied, &err),
	                 LETHE_OK);
	assert_true(applied);
	mails = sql_int(x.state, "SELECT count(*) FROM mail");
	m = msg(x.email, "Export my data", "Please send me my data again.", "", 2);
	assert_int_equal(deliver(&x, m, "lmtp", &r2), LETHE_OK);
	free(m);
	assert_string_equal(r2.outcome, "request");
	assert_int_equal(r2.request_id, 0);
	assert_false(r2.replied);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM requests"), 1);
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM mail"), mails);
	t_id(&x,
	     "SELECT state || ',' || (raw_box IS NULL) || ',' || (reply_box IS NULL) || ',' || "
	     "reason FROM mail_in WHERE id = %lld",
	     r2.id, s, sizeof(s));
	assert_string_equal(s, "closed,1,1,over export.rate_limit: nothing made");
	fx_close(&x);
	free(y);
}

static void
test_deliver_unmatched_status_robot(void **state)
{
	struct service_mailin_result r;
	struct fx x;
	char *m, s[256], body[200], code[64];
	int i;

	fx_open(state, &x, MAILBOX_YAML);
	/* Unmatched: the operator's queue, raw kept, a reply. */
	m = msg("lost@example.net", "Hello", "What do you do with my data?", "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	free(m);
	assert_string_equal(r.outcome, "unmatched");
	assert_int_equal(r.request_id, 0);
	assert_true(r.replied);
	t_id(&x, "SELECT state || ',' || (raw_box IS NOT NULL) FROM mail_in WHERE id = %lld", r.id,
	     s, sizeof(s));
	assert_string_equal(s, "open,1");
	t_id(&x, "SELECT notice || ',' || request_id FROM mail WHERE mail_in_id = %lld", r.id, s,
	     sizeof(s));
	assert_string_equal(s, "reply_unmatched,0");
	/* Replies to one address are counted: the fourth within the window gets none. */
	for (i = 2; i <= 4; i++) {
		m = msg("lost@example.net", "Hello again", "Still there?", "", i);
		assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
		free(m);
		assert_string_equal(r.outcome, "unmatched");
		assert_true(r.replied == (i <= 3));
	}
	t_id(&x, "SELECT (reply_box IS NULL) || ',' || replied FROM mail_in WHERE id = %lld", r.id,
	     s, sizeof(s));
	assert_string_equal(s, "1,0");
	/* A status question: the code's link, whether it exists or not; nothing kept. */
	snprintf(code, sizeof(code), "abcdefghijklmnopqrstuvwxyz234567");
	snprintf(body, sizeof(body), "My confirmation code: %s", code);
	m = msg("asker@example.net", "Where is my request", body, "", 10);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	free(m);
	assert_string_equal(r.outcome, "status");
	assert_true(r.replied);
	t_id(&x, "SELECT state || ',' || (raw_box IS NULL) FROM mail_in WHERE id = %lld", r.id, s,
	     sizeof(s));
	assert_string_equal(s, "closed,1");
	/* A robot's: recorded, never answered, nothing kept. */
	m = msg("x@example.net", "Account deletion", "Out of office",
	        "Auto-Submitted: auto-replied\r\n", 11);
	assert_int_equal(deliver(&x, m, "lmtp", &r), LETHE_OK);
	free(m);
	assert_string_equal(r.outcome, "robot");
	assert_false(r.replied);
	assert_int_equal(r.request_id, 0);
	assert_int_equal(q_id(&x, "SELECT count(*) FROM mail WHERE mail_in_id = %lld", r.id), 0);
	t_id(&x, "SELECT state || ',' || (raw_box IS NULL) FROM mail_in WHERE id = %lld", r.id, s,
	     sizeof(s));
	assert_string_equal(s, "closed,1");
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM requests"), 0);
	assert_store_lacks(&x, MARKER);
	fx_close(&x);
}

static void
test_deliver_too_big(void **state)
{
	struct service_mailin_result r;
	struct lethe_err err = {0};
	struct fx x;
	size_t n = 70 * 1024;
	char *big, *m, s[256];

	fx_open(state, &x, MAILBOX_YAML);
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'a', n);
	for (size_t i = 76; i < n; i += 78)
		big[i] = '\n';
	big[n] = '\0';
	m = msg("big@example.net", "Account deletion", big, "", 1);
	/* LMTP: refused, nothing stored (the MTA tells the sender). */
	assert_int_equal(
	    service_mailin_deliver(x.svc, m, strlen(m), "big@example.net", "lmtp", &r, &err),
	    LETHE_E_TOOBIG);
	assert_null(strstr(err.msg, "big@"));
	assert_int_equal(sql_int(x.state, "SELECT count(*) FROM mail_in"), 0);
	/* Maildir: recorded as refused, and answered. */
	assert_int_equal(deliver(&x, m, "maildir", &r), LETHE_OK);
	assert_string_equal(r.outcome, "refused");
	assert_true(r.replied);
	t_id(&x,
	     "SELECT reason || ',' || state || ',' || (raw_box IS NULL) FROM mail_in WHERE id = "
	     "%lld",
	     r.id, s, sizeof(s));
	assert_non_null(strstr(s, "too large"));
	assert_non_null(strstr(s, ",closed,1"));
	t_id(&x, "SELECT notice FROM mail WHERE mail_in_id = %lld", r.id, s, sizeof(s));
	assert_string_equal(s, "reply_refused");
	free(big);
	free(m);
	/* Too many parts over LMTP: 554 (LETHE_E_INVALID), nothing stored. */
	{
		size_t cap = 64 * 1024, o = 0;
		int i;

		m = malloc(cap);
		assert_non_null(m);
		o += (size_t)snprintf(m + o, cap - o,
		                      "From: parts@example.net\r\nSubject: Account deletion\r\n"
		                      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
		                      "boundary=\"b\"\r\n\r\n");
		for (i = 0; i < 150; i++)
			o += (size_t)snprintf(m + o, cap - o,
			                      "--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n",
			                      i);
		snprintf(m + o, cap - o, "--b--\r\n");
		assert_int_equal(service_mailin_deliver(x.svc, m, strlen(m), "parts@example.net",
		                                        "lmtp", &r, &err),
		                 LETHE_E_INVALID);
		assert_non_null(strstr(err.msg, "parts"));
		assert_int_equal(
		    sql_int(x.state, "SELECT count(*) FROM mail_in WHERE via = 'lmtp'"), 0);
		free(m);
	}
	fx_close(&x);
}

static void
test_mailbox_queue(void **state)
{
	struct service_mailin_result r1, r2;
	struct lethe_err err = {0};
	struct fx x;
	json_t *out = NULL, *mails;
	char *m;

	fx_open(state, &x, MAILBOX_YAML);
	m = msg("lost@example.net", "Hello", "Who are you?", "", 1);
	assert_int_equal(deliver(&x, m, "lmtp", &r1), LETHE_OK);
	free(m);
	m = msg("x@example.net", "Hi", "auto", "Precedence: bulk\r\n", 2);
	assert_int_equal(deliver(&x, m, "lmtp", &r2), LETHE_OK);
	free(m);
	/* All, newest first, one per page. */
	assert_int_equal(service_mailbox_list(x.svc, NULL, NULL, NULL, 1, &out, &err), LETHE_OK);
	mails = json_object_get(out, "mails");
	assert_int_equal(json_array_size(mails), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mails, 0), "id")),
	                 r2.id);
	assert_non_null(json_string_value(json_object_get(out, "next")));
	{
		char next[32];

		snprintf(next, sizeof(next), "%s", json_string_value(json_object_get(out, "next")));
		json_decref(out);
		assert_int_equal(service_mailbox_list(x.svc, NULL, NULL, next, 1, &out, &err),
		                 LETHE_OK);
	}
	mails = json_object_get(out, "mails");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mails, 0), "id")),
	                 r1.id);
	json_decref(out);
	assert_int_equal(service_mailbox_list(x.svc, "open", NULL, NULL, 0, &out, &err), LETHE_OK);
	assert_int_equal(json_array_size(json_object_get(out, "mails")), 1);
	/* No personal data in the listing. */
	{
		char *dump = json_dumps(out, 0);

		assert_null(strstr(dump, "lost@"));
		assert_null(strstr(dump, "Who are"));
		free(dump);
	}
	json_decref(out);
	assert_int_equal(service_mailbox_list(x.svc, "maybe", NULL, NULL, 0, &out, &err),
	                 LETHE_E_INVALID);
	assert_int_equal(service_mailbox_list(x.svc, NULL, "spam", NULL, 0, &out, &err),
	                 LETHE_E_INVALID);
	assert_int_equal(service_mailbox_list(x.svc, NULL, NULL, "x1", 0, &out, &err),
	                 LETHE_E_INVALID);
	/* Show: what it says, for the operator. */
	assert_int_equal(service_mailbox_show(x.svc, r1.id, &out, &err), LETHE_OK);
	assert_string_equal(json_string_value(json_object_get(out, "from")), "lost@example.net");
	assert_string_equal(json_string_value(json_object_get(out, "subject")), "Hello");
	assert_non_null(strstr(json_string_value(json_object_get(out, "text")), "Who are you?"));
	json_decref(out);
	/* Close: raw wiped, once. */
	assert_int_equal(
	    service_mailbox_close(x.svc, r1.id, "cli:alice", "answered by hand", &out, &err),
	    LETHE_OK);
	assert_string_equal(json_string_value(json_object_get(out, "state")), "closed");
	assert_false(json_is_true(json_object_get(out, "raw_kept")));
	json_decref(out);
	assert_int_equal(service_mailbox_close(x.svc, r1.id, "cli:alice", NULL, &out, &err),
	                 LETHE_E_CONFLICT);
	assert_int_equal(service_mailbox_close(x.svc, 9999, "cli:alice", NULL, &out, &err),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(service_mailbox_show(x.svc, r1.id, &out, &err), LETHE_OK);
	assert_null(json_object_get(out, "text"));
	json_decref(out);
	assert_int_equal(service_mailbox_show(x.svc, 9999, &out, &err), LETHE_E_NOTFOUND);
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
	    cmocka_unit_test_setup_teardown(test_deliver_sender, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_on_file_repeat_duplicate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_review_and_wipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_expiry_wipes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_export_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_txn_durable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_forged_from_metered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_on_file_unobservable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_reply_goes_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_sender_export_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_unmatched_status_robot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mailbox_queue, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
