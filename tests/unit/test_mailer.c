/* SPDX-License-Identifier: MIT */
/*
 * test_mailer.c - unit tests of the mailer's retry policy (src/jobs/mailer.c):
 * exponential backoff with full jitter, capped, and the thread's pace when
 * its state store fails; the service's compose function for a "scheduled"
 * notice around the end of the grace period, and for each reply to an
 * incoming mail (reply_request ... reply_refused).  Sending is tested end to end
 * with a real SMTP server (tests/e2e/test_mail_outbox.py).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs/mailer.h"
#include "service/service_internal.h"
#include <sqlite3.h>

#include "store/store_internal.h"
#include "util/seal.h"
#include "util/tplset.h"
#include "testutil.h"

/* The bound doubles per failure from the base and stops at the cap; the draw is in [0, bound]. */
static void
test_mailer_backoff_full_jitter(void **state)
{
	struct mail_config mc;

	(void)state;
	memset(&mc, 0, sizeof(mc));
	mc.backoff_base_ms = 30000;
	mc.backoff_cap_ms = 3600000;
	assert_int_equal(mailer_backoff_ms(&mc, 1, 0), 0);
	assert_int_equal(mailer_backoff_ms(&mc, 1, UINT32_MAX), 30000);
	assert_int_equal(mailer_backoff_ms(&mc, 2, UINT32_MAX), 60000);
	assert_int_equal(mailer_backoff_ms(&mc, 3, UINT32_MAX), 120000);
	/* Half the draw range: about half the bound. */
	assert_in_range(mailer_backoff_ms(&mc, 3, UINT32_MAX / 2), 59999, 60001);
	/* Capped: 30 s * 2^7 = 3840 s > 1 h, and no overflow far past it. */
	assert_int_equal(mailer_backoff_ms(&mc, 8, UINT32_MAX), 3600000);
	assert_int_equal(mailer_backoff_ms(&mc, 1000000, UINT32_MAX), 3600000);
	assert_true(mailer_backoff_ms(&mc, 1000000, 12345) <= 3600000);
}

/* A compose function that must not be reached: every claim fails. */
static lethe_rc
compose_never(void *arg, const struct store_mail *m, const char *to, struct mail_msg *out,
              bool *skip, struct lethe_err *err)
{
	(void)m;
	(void)to;
	(void)out;
	(void)skip;
	(*(int *)arg)++;
	return lethe_err_set(err, LETHE_E_INTERNAL, "not to be composed");
}

/*
 * A store error that persists (every claim of the due mail fails) while a
 * mail stays due: the mailer naps at least a second between tries, not a
 * millisecond.  A trigger fails each claim (RAISE(FAIL) keeps its own
 * insert into claim_tries, so the tries are counted).
 */
static void
test_mailer_naps_after_store_error(void **state)
{
	static const uint8_t BOX[] = "sealed-address-box";
	struct store_request_new n;
	struct mail_config mc;
	struct mailer_opts o;
	struct mailer *m = NULL;
	struct lethe_err err = {0};
	struct store *st = NULL;
	uint8_t key[HASH_KEY_LEN];
	char dir[64], path[128];
	int64_t id = 0, tries[1] = {0};
	int composed = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%smailer-XXXXXX", TU_TMP_PREFIX);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	assert_int_equal(store_open(path, &st, &err), LETHE_OK);
	memset(&n, 0, sizeof(n));
	n.code = "MAILER1";
	n.kind = "erasure";
	n.scope = "account";
	n.source = "app";
	n.policy = "p";
	n.subject = "s";
	n.state = "completed";
	n.actor = "app:test";
	n.box = (const uint8_t *)"ids";
	n.boxlen = 3;
	n.notify_box = BOX;
	n.notify_len = sizeof(BOX);
	n.notify_kind = STORE_NOTIFY_IDENTITY;
	n.notify_ok = true;
	n.now = 1000;
	n.due_at = 1000 + 86400;
	assert_int_equal(store_begin(st, &err), LETHE_OK);
	assert_int_equal(store_request_insert(st, &n, &id, &err), LETHE_OK);
	assert_int_equal(store_commit(st, &err), LETHE_OK);
	assert_int_equal(sqlite3_exec(sq_sqlite_handle(st->c),
	                              "CREATE TABLE claim_tries (n INTEGER);"
	                              "CREATE TRIGGER claim_fails BEFORE UPDATE ON mail BEGIN "
	                              "INSERT INTO claim_tries VALUES (1); "
	                              "SELECT RAISE(FAIL, 'disk trouble'); END;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	memset(&mc, 0, sizeof(mc));
	mc.url = "smtp://127.0.0.1:9";
	mc.from = "privacy@example.com";
	mc.connect_timeout_ms = 1000;
	mc.timeout_ms = 1000;
	mc.backoff_base_ms = 1000;
	mc.backoff_cap_ms = 1000;
	memset(key, 7, sizeof(key));
	memset(&o, 0, sizeof(o));
	o.state_db = path;
	o.mail = &mc;
	o.key = key;
	o.compose = compose_never;
	o.arg = &composed;
	assert_int_equal(mailer_start(&o, &m, &err), LETHE_OK);
	usleep(600 * 1000);
	mailer_stop(m);
	assert_int_equal(store__one(st, &err, "counting", store__row_ints, tries,
	                            "SELECT count(*) FROM claim_tries", ""),
	                 LETHE_OK);
	/* One try at start, perhaps one more: never hundreds (1 ms naps). */
	assert_in_range(tries[0], 1, 2);
	assert_int_equal(composed, 0);
	store_close(st);
	tu_rm_rf(dir);
}

/*
 * Compose the "scheduled" notice of a request scheduled with a grace
 * period that ends at @not_before (epoch s) into @out.
 */
static void
compose_scheduled(int64_t not_before, struct mail_msg *out)
{
	static const uint8_t BOX[] = "sealed-address-box";
	struct request_policy pol;
	struct lethe_config cfg;
	struct datamap dm;
	struct store_request_new n;
	struct store_mail ml;
	struct service *svc;
	struct lethe_err err = {0};
	char dir[64], path[128];
	int64_t id = 0, now = (int64_t)time(NULL);
	bool skip = true;

	snprintf(dir, sizeof(dir), "%scompose-XXXXXX", TU_TMP_PREFIX);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	memset(&pol, 0, sizeof(pol));
	pol.name = "grace";
	pol.kind = "erasure";
	pol.grace_s = 7 * 86400;
	pol.deadline_s = 30 * 86400;
	memset(&cfg, 0, sizeof(cfg));
	cfg.requests.policies = &pol;
	cfg.requests.npolicies = 1;
	hash_key_random(cfg.key);
	cfg.state_db = path;
	cfg.public_url = "https://privacy.example.com";
	cfg.app_name = "Demo";
	cfg.contact = "privacy@example.com";
	cfg.mail.link_ttl_s = 86400;
	memset(&dm, 0, sizeof(dm));
	svc = service_open(&cfg, &dm, NULL);
	assert_int_equal(tplset_load(NULL, &svc->tpl, &err), LETHE_OK);
	assert_int_equal(service_store_open(svc, &err), LETHE_OK);
	memset(&n, 0, sizeof(n));
	n.code = "GRACE1";
	n.kind = "erasure";
	n.scope = "account";
	n.source = "app";
	n.policy = "grace";
	n.subject = "s";
	n.state = "scheduled";
	n.actor = "app:test";
	n.box = (const uint8_t *)"ids";
	n.boxlen = 3;
	n.notify_box = BOX;
	n.notify_len = sizeof(BOX);
	n.notify_kind = STORE_NOTIFY_IDENTITY;
	n.notify_ok = true;
	n.now = now - 7 * 86400;
	n.due_at = now + 86400;
	n.not_before = not_before;
	assert_int_equal(store_begin(svc->st, &err), LETHE_OK);
	assert_int_equal(store_request_insert(svc->st, &n, &id, &err), LETHE_OK);
	assert_int_equal(store_commit(svc->st, &err), LETHE_OK);
	memset(&ml, 0, sizeof(ml));
	ml.id = 1;
	ml.request_id = id;
	snprintf(ml.notice, sizeof(ml.notice), "scheduled");
	memset(out, 0, sizeof(*out));
	assert_int_equal(service__mail_compose(svc, &ml, "person@example.com", out, &skip, &err),
	                 LETHE_OK);
	assert_false(skip);
	assert_non_null(out->text);
	assert_non_null(out->html);
	tplset_free(svc->tpl);
	service_close(svc);
	tu_rm_rf(dir);
}

/*
 * A "scheduled" notice composed (a retry) after the grace period ended
 * offers no cancel link: no "cancel ... with this link" over an empty
 * line, no "valid until ." and no <a href="">; during the grace period it
 * does, with a link of the self-service path.
 */
static void
test_mailer_compose_scheduled_after_grace(void **state)
{
	struct mail_msg msg;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	compose_scheduled(now - 3600, &msg);
	assert_null(strstr(msg.text, "with this link"));
	assert_null(strstr(msg.text, "valid until"));
	assert_null(strstr(msg.text, "/privacy/l/"));
	assert_null(strstr(msg.html, "href=\"\""));
	assert_null(strstr(msg.html, "Cancel my request"));
	assert_non_null(strstr(msg.text, "We are deleting it now"));
	mail_msg_free(&msg);

	compose_scheduled(now + 3600, &msg);
	assert_non_null(strstr(msg.text, "with this link"));
	assert_non_null(strstr(msg.text, "https://privacy.example.com/privacy/l/"));
	assert_non_null(strstr(msg.html, "Cancel my request"));
	assert_null(strstr(msg.html, "href=\"\""));
	mail_msg_free(&msg);
}

/* ---- replies to incoming mails (service_mail_reply.c) ---- */

/* A service over a fresh state store for the reply tests, its directory into @dir. */
static struct service *
reply_service(struct lethe_config *cfg, struct datamap *dm, char dir[64], char path[128])
{
	static char *subjects[] = {(char *)"account deletion", (char *)"data deletion request"};
	static struct mailbox_rule rule;
	struct lethe_err err = {0};
	struct service *svc;

	snprintf(dir, 64, "%sreply-XXXXXX", TU_TMP_PREFIX);
	assert_non_null(mkdtemp(dir));
	snprintf(path, 128, "%s/state.db", dir);
	memset(&rule, 0, sizeof(rule));
	rule.name = (char *)"account-deletion";
	rule.subjects = subjects;
	rule.nsubjects = 2;
	memset(cfg, 0, sizeof(*cfg));
	hash_key_random(cfg->key);
	cfg->state_db = path;
	cfg->public_url = "https://privacy.example.com";
	cfg->app_name = "Demo";
	cfg->contact = "privacy@example.com";
	cfg->mail.enabled = true;
	cfg->mail.link_ttl_s = 86400;
	cfg->mailbox.enabled = true;
	cfg->mailbox.max_size = 10 * 1024 * 1024;
	cfg->mailbox.rules = &rule;
	cfg->mailbox.nrules = 1;
	memset(dm, 0, sizeof(*dm));
	svc = service_open(cfg, dm, NULL);
	assert_int_equal(tplset_load(NULL, &svc->tpl, &err), LETHE_OK);
	assert_int_equal(service_store_open(svc, &err), LETHE_OK);
	return svc;
}

/* How many incoming mails still hold reply headers (mail_in.reply_box). */
static int
reply_boxes_kept(struct service *svc)
{
	sqlite3_stmt *q = NULL;
	int n = -1;

	assert_int_equal(
	    sqlite3_prepare_v2(sq_sqlite_handle(svc->st->c),
	                       "SELECT count(*) FROM mail_in WHERE reply_box IS NOT NULL", -1, &q,
	                       NULL),
	    SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return n;
}

/*
 * Record an incoming mail (@outcome, @reason, about request @req) with the
 * reply box JSON @box_json (NULL: none), queue reply @notice to it, and
 * compose it into @out; *@skip says whether it was skipped.  The queued
 * row is read back from the outbox: it has the mail_in_id.
 */
static lethe_rc
compose_reply(struct service *svc, const char *outcome, const char *reason, int64_t req,
              const char *box_json, const char *notice, struct mail_msg *out, bool *skip,
              struct lethe_err *err)
{
	static int n;
	static const uint8_t TO[] = "sealed-sender";
	struct store_mailin_new in;
	struct store_mail ml;
	char hash[HASH_TEXT_LEN + 1];
	struct lethe_err e2 = {0};
	uint8_t *box = NULL;
	size_t boxlen = 0;
	int64_t id = 0, now = (int64_t)time(NULL);
	lethe_rc rc;

	memset(&in, 0, sizeof(in));
	snprintf(hash, sizeof(hash), "hmac:%032d", ++n);
	if (box_json != NULL)
		box = seal_bytes(svc->cfg->key, "mail-reply", box_json, strlen(box_json), &boxlen);
	in.hash = hash;
	in.via = "lmtp";
	in.now = now;
	in.bytes = 100;
	in.outcome = outcome;
	in.reason = reason;
	in.request_id = req;
	in.replied = true;
	in.state = "open";
	in.reply_box = box;
	in.reply_len = boxlen;
	assert_int_equal(store_begin(svc->st, err), LETHE_OK);
	assert_int_equal(store_mailin_insert(svc->st, &in, &id, err), LETHE_OK);
	assert_int_equal(store_mail_add_reply(svc->st, id, req, notice, TO, sizeof(TO), now, err),
	                 LETHE_OK);
	assert_int_equal(store_commit(svc->st, err), LETHE_OK);
	free(box);
	/* The outbox's row as the mailer claims it: the reply's incoming mail, its request. */
	{
		uint8_t *to = NULL;
		size_t tolen = 0;

		assert_int_equal(store_mail_claim(svc->st, "test", 0x7fffffffffffLL, 1000, &ml, &to,
		                                  &tolen, err),
		                 LETHE_OK);
		assert_int_equal(ml.mail_in_id, id);
		assert_int_equal(ml.request_id, req);
		assert_string_equal(ml.notice, notice);
		assert_int_equal(tolen, sizeof(TO));
		assert_memory_equal(to, TO, sizeof(TO));
		free(to);
	}
	memset(out, 0, sizeof(*out));
	*skip = true;
	rc = service__mail_compose(svc, &ml, "sender@example.org", out, skip, err);
	/* As the mailer: the mail ends once composed, and its reply box goes with it. */
	assert_int_equal(store_mail_finish(svc->st, ml.id, "test", "sent", NULL, now, NULL, &e2),
	                 LETHE_OK);
	assert_int_equal(reply_boxes_kept(svc), 0);
	return rc;
}

/*
 * Each reply composes from its template with the mailbox's facts: "Re: "
 * + the original subject and In-Reply-To from the sealed reply box,
 * auto_reply; no code in reply_request or reply_review, which go out the
 * same whether their request exists, is gone or was never made (over
 * export.rate_limit); the code asked about (reply_status), the rules' subjects
 * when the self-service page is off (reply_unmatched), the reason
 * (reply_refused); without a reply box the template's subject and no
 * In-Reply-To; a subject's control characters become spaces and a long
 * one is cut at 200 bytes; a reply whose incoming mail is gone is skipped.
 */
static void
test_mailer_compose_replies(void **state)
{
	static const uint8_t BOX[] = "sealed-address-box";
	struct lethe_config cfg;
	struct datamap dm;
	struct store_request_new n;
	struct service *svc;
	struct mail_msg m;
	struct store_mail ml;
	struct lethe_err err = {0};
	char dir[64], path[128], json[1024], longsub[400];
	int64_t req = 0, now = (int64_t)time(NULL);
	bool skip = true;

	(void)state;
	svc = reply_service(&cfg, &dm, dir, path);
	memset(&n, 0, sizeof(n));
	n.code = "MAILREPLY234";
	n.kind = "erasure";
	n.scope = "account";
	n.source = "email";
	n.subject = "s";
	n.state = "awaiting_verification";
	n.actor = "email";
	n.box = (const uint8_t *)"ids";
	n.boxlen = 3;
	n.notify_box = BOX;
	n.notify_len = sizeof(BOX);
	n.notify_kind = STORE_NOTIFY_IDENTITY;
	n.now = now;
	n.due_at = now + 86400;
	n.expires_at = now + 86400;
	assert_int_equal(store_begin(svc->st, &err), LETHE_OK);
	assert_int_equal(store_request_insert(svc->st, &n, &req, &err), LETHE_OK);
	assert_int_equal(store_commit(svc->st, &err), LETHE_OK);
	/* The request's own notice is not a reply. */
	{
		uint8_t *to = NULL;
		size_t tolen = 0;

		assert_int_equal(store_mail_claim(svc->st, "test", 0x7fffffffffffLL, 1000, &ml, &to,
		                                  &tolen, &err),
		                 LETHE_OK);
		assert_int_equal(ml.mail_in_id, 0);
		assert_int_equal(ml.request_id, req);
		free(to);
		assert_int_equal(
		    store_mail_finish(svc->st, ml.id, "test", "sent", NULL, now, NULL, &err),
		    LETHE_OK);
	}

	/* reply_request: Re: subject, In-Reply-To; no code, no claimed identity. */
	assert_int_equal(compose_reply(svc, "request", NULL, req,
	                               "{\"message_id\": \"<m1.abc@mail.example.org>\", "
	                               "\"subject\": \"Account Deletion Request\"}",
	                               "reply_request", &m, &skip, &err),
	                 LETHE_OK);
	assert_false(skip);
	assert_string_equal(m.subject, "Re: Account Deletion Request");
	assert_string_equal(m.in_reply_to, "<m1.abc@mail.example.org>");
	assert_true(m.auto_reply);
	assert_null(strstr(m.text, "MAILREPLY234"));
	assert_null(strstr(m.html, "MAILREPLY234"));
	assert_null(strstr(m.text, "/data-deletion/status"));
	assert_non_null(strstr(m.text, "If an account matches what you gave us"));
	assert_null(strstr(m.text, "sender@example.org"));
	mail_msg_free(&m);

	/* reply_review: an original "Re:" is not doubled. */
	assert_int_equal(compose_reply(svc, "review", NULL, req,
	                               "{\"message_id\": \"<m2@x>\", \"subject\": \"RE: Meta "
	                               "Data Deletion Request\"}",
	                               "reply_review", &m, &skip, &err),
	                 LETHE_OK);
	assert_false(skip);
	assert_string_equal(m.subject, "RE: Meta Data Deletion Request");
	assert_non_null(strstr(m.text, "will check what you told us"));
	assert_null(strstr(m.text, "MAILREPLY234"));
	assert_null(strstr(m.html, "MAILREPLY234"));
	mail_msg_free(&m);

	/*
	 * A reply to a request the mail could not make (over export.rate_limit)
	 * or whose request is gone: sent all the same, the same bytes as above.
	 */
	{
		struct mail_msg a, b;

		assert_int_equal(compose_reply(svc, "request", NULL, req,
		                               "{\"message_id\": \"<m9@x>\", \"subject\": \"x\"}",
		                               "reply_request", &a, &skip, &err),
		                 LETHE_OK);
		assert_false(skip);
		assert_int_equal(compose_reply(svc, "request", "over export.rate_limit", 0,
		                               "{\"message_id\": \"<m9@x>\", \"subject\": \"x\"}",
		                               "reply_request", &b, &skip, &err),
		                 LETHE_OK);
		assert_false(skip);
		assert_string_equal(a.subject, b.subject);
		assert_string_equal(a.text, b.text);
		assert_string_equal(a.html, b.html);
		assert_string_equal(a.in_reply_to, b.in_reply_to);
		mail_msg_free(&b);
		assert_int_equal(compose_reply(svc, "request", NULL, req + 1000,
		                               "{\"message_id\": \"<m9@x>\", \"subject\": \"x\"}",
		                               "reply_request", &b, &skip, &err),
		                 LETHE_OK);
		assert_false(skip);
		assert_string_equal(a.text, b.text);
		mail_msg_free(&b);
		assert_int_equal(compose_reply(svc, "review", NULL, 0,
		                               "{\"message_id\": \"<m9@x>\", \"subject\": \"x\"}",
		                               "reply_review", &b, &skip, &err),
		                 LETHE_OK);
		assert_false(skip);
		assert_non_null(strstr(b.text, "will check what you told us"));
		mail_msg_free(&b);
		mail_msg_free(&a);
	}

	/* reply_status about no request: the code asked about, from the reply box. */
	assert_int_equal(compose_reply(svc, "status", NULL, 0,
	                               "{\"message_id\": \"<m3@x>\", \"subject\": \"status?\", "
	                               "\"code\": \"ABCD2345EFGH\"}",
	                               "reply_status", &m, &skip, &err),
	                 LETHE_OK);
	assert_false(skip);
	assert_string_equal(m.subject, "Re: status?");
	assert_non_null(strstr(m.text, "status?id=ABCD2345EFGH"));
	assert_non_null(strstr(m.text, "code\nABCD2345EFGH."));
	mail_msg_free(&m);

	/* reply_unmatched, its box wiped: the template's subject, no In-Reply-To, the subjects. */
	assert_int_equal(compose_reply(svc, "unmatched", "no rule matched", 0, NULL,
	                               "reply_unmatched", &m, &skip, &err),
	                 LETHE_OK);
	assert_false(skip);
	assert_string_equal(m.subject, "Your message to Demo");
	assert_null(m.in_reply_to);
	assert_true(m.auto_reply);
	assert_non_null(strstr(m.text, "- account deletion\n- data deletion request\n"));
	assert_null(strstr(m.text, "/privacy"));
	mail_msg_free(&m);

	/* The self-service page on: pointed at instead of the subjects. */
	cfg.selfservice.enabled = true;
	cfg.selfservice.path = "/privacy";
	assert_int_equal(compose_reply(svc, "unmatched", "no rule matched", 0, NULL,
	                               "reply_unmatched", &m, &skip, &err),
	                 LETHE_OK);
	assert_non_null(strstr(m.text, "https://privacy.example.com/privacy\n"));
	assert_null(strstr(m.text, "- account deletion"));
	mail_msg_free(&m);

	/* reply_refused: the reason; control characters in the subject become spaces. */
	assert_int_equal(compose_reply(svc, "refused", "too large (12.3 MB; at most 10 MB)", 0,
	                               "{\"message_id\": \"<m4@x>\", \"subject\": "
	                               "\"big\\u0001one\\r\\nBcc: x@y\\u0085\"}",
	                               "reply_refused", &m, &skip, &err),
	                 LETHE_OK);
	assert_string_equal(m.subject, "Re: big one  Bcc: x@y");
	assert_non_null(strstr(m.text, "too large (12.3 MB; at most 10 MB)"));
	assert_non_null(strstr(m.text, "The reason: too large (12.3 MB; at most 10 MB).\n"));
	mail_msg_free(&m);

	/* A long subject is cut at 200 bytes, not inside a character. */
	memset(longsub, 0, sizeof(longsub));
	{
		size_t i;

		for (i = 0; i + 2 <= 300; i += 2)
			memcpy(longsub + i, "\xc3\xa9", 2); /* é */
	}
	snprintf(json, sizeof(json), "{\"message_id\": \"<m5@x>\", \"subject\": \"x%s\"}", longsub);
	assert_int_equal(
	    compose_reply(svc, "unmatched", NULL, 0, json, "reply_unmatched", &m, &skip, &err),
	    LETHE_OK);
	assert_true(strlen(m.subject) <= 4 + 200);
	assert_true(strlen(m.subject) >= 4 + 198);
	assert_int_equal((unsigned char)m.subject[strlen(m.subject) - 1], 0xa9);
	mail_msg_free(&m);

	/* The incoming mail gone: skipped, nothing rendered. */
	memset(&ml, 0, sizeof(ml));
	ml.id = 99;
	ml.mail_in_id = 4242;
	snprintf(ml.notice, sizeof(ml.notice), "reply_unmatched");
	memset(&m, 0, sizeof(m));
	skip = false;
	assert_int_equal(service__mail_compose(svc, &ml, "sender@example.org", &m, &skip, &err),
	                 LETHE_OK);
	assert_true(skip);
	assert_null(m.subject);

	tplset_free(svc->tpl);
	service_close(svc);
	tu_rm_rf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mailer_backoff_full_jitter),
	    cmocka_unit_test(test_mailer_naps_after_store_error),
	    cmocka_unit_test(test_mailer_compose_scheduled_after_grace),
	    cmocka_unit_test(test_mailer_compose_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
