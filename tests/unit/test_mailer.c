/* SPDX-License-Identifier: MIT */
/*
 * test_mailer.c - unit tests of the mailer's retry policy (src/jobs/mailer.c):
 * exponential backoff with full jitter, capped, and the thread's pace when
 * its state store fails; the service's compose function for a "scheduled"
 * notice around the end of the grace period.  Sending is tested end to end
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
#include "store/store_internal.h"
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
	assert_int_equal(sqlite3_exec(st->db,
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mailer_backoff_full_jitter),
	    cmocka_unit_test(test_mailer_naps_after_store_error),
	    cmocka_unit_test(test_mailer_compose_scheduled_after_grace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
