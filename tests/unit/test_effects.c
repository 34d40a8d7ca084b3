/* SPDX-License-Identifier: MIT */
/*
 * test_effects.c - unit tests of src/engine/effects.c against the demo
 * app's SQLite database: an effect applied to one person's rows and undone
 * (idempotent both ways, the count is the rows that changed, nobody
 * else's rows touched), rows found through parent links, all tables of an
 * effect in one transaction (a failing table leaves the others as they
 * were), the person's channels for a revoking effect, and bad identities.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "demo/demo.h"
#include "engine/effects.h"
#include "util/mem.h"
#include "util/rc.h"

#define USERS 4

/*
 * The demo map plus an effect on child tables (found through projects and
 * channels); channels come first so a failing automation_rules update
 * shows the transaction.
 */
static const char extra_effect[] =
    "  pause-automations:\n"
    "    description: \"Automations paused\"\n"
    "    tables:\n"
    "      channels: {set: {status: paused}}\n"
    "      automation_rules: {set: {enabled: 0}, undo: {enabled: 1}}\n";

struct fx {
	struct tu_fixture *f; /* the temp directory */
	struct appdb *db;     /* the demo database */
	struct datamap *dm;   /* the demo map with extra_effect, validated */
};

static int
setup(void **state)
{
	static const char *const scripts[] = {"CREATE TABLE unused(x);", NULL};

	return tu_fixture_setup(state, "effects", scripts, NULL);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/* Build the demo in the fixture's directory and load its map (with extra_effect). */
static void
fx_open(void **state, struct fx *x)
{
	struct lethe_err err;
	char *text;

	memset(x, 0, sizeof(*x));
	memset(&err, 0, sizeof(err));
	x->f = *state;
	x->db = tu_demo_open(x->f->dir, USERS);
	text = xasprintf("%s%s", demo_datamap_yaml, extra_effect);
	x->dm = datamap_load("datamap.yaml", text, &err);
	free(text);
	if (x->dm == NULL)
		fail_msg("map: %s", err.msg);
	if (datamap_validate(x->dm, x->db, &err) != LETHE_OK)
		fail_msg("validate: %s", err.msg);
}

static void
fx_close(struct fx *x)
{
	datamap_free(x->dm);
	appdb_close(x->db);
}

static int64_t
count(struct fx *x, const char *sql)
{
	struct lethe_err err;
	int64_t n = -1;

	memset(&err, 0, sizeof(err));
	if (appdb_query_int(x->db, sql, NULL, 0, &n, &err) != LETHE_OK)
		fail_msg("%s: %s", sql, err.msg);
	return n;
}

static int64_t
apply(struct fx *x, const char *effect, bool undo, const struct plan_id *ids, size_t nids)
{
	const struct dm_effect *e = datamap_effect(x->dm, effect);
	struct lethe_err err;
	int64_t rows = -1;

	assert_non_null(e);
	memset(&err, 0, sizeof(err));
	if (effects_apply(x->dm, e, undo, ids, nids, x->db, &rows, &err) != LETHE_OK)
		fail_msg("effects_apply: %s", err.msg);
	return rows;
}

#define USER1_CHANNELS "channels WHERE project_id IN (SELECT id FROM projects WHERE user_id = 1)"
#define USER1_RULES "automation_rules WHERE channel_id IN (SELECT id FROM " USER1_CHANNELS ")"

/* close-account on one user: applied once, undone once, nobody else touched. */
static void
test_effects_apply_undo(void **state)
{
	const struct plan_id by_email[] = {{"email", "user1@example.com"}};
	const struct plan_id by_id[] = {{"user_id", "2"}};
	const struct plan_id both[] = {{"email", "user3@example.com"}, {"user_id", "3"}};
	struct fx x;

	fx_open(state, &x);
	assert_int_equal(count(&x, "SELECT count(*) FROM users WHERE status = 'active'"), USERS);
	assert_int_equal(apply(&x, "close-account", false, by_email, 1), 1);
	assert_int_equal(
	    count(&x, "SELECT count(*) FROM users WHERE id = 1 AND status = 'closing'"), 1);
	assert_int_equal(count(&x, "SELECT count(*) FROM users WHERE status = 'active'"),
	                 USERS - 1);
	/* Again: nothing left to change. */
	assert_int_equal(apply(&x, "close-account", false, by_email, 1), 0);
	assert_int_equal(apply(&x, "close-account", true, by_email, 1), 1);
	assert_int_equal(count(&x, "SELECT count(*) FROM users WHERE status = 'active'"), USERS);
	assert_int_equal(apply(&x, "close-account", true, by_email, 1), 0);
	/* By user id (an integer column matched by a text identity), and by both at once. */
	assert_int_equal(apply(&x, "close-account", false, by_id, 1), 1);
	assert_int_equal(
	    count(&x, "SELECT count(*) FROM users WHERE id = 2 AND status = 'closing'"), 1);
	assert_int_equal(apply(&x, "close-account", false, both, 2), 1);
	assert_int_equal(count(&x, "SELECT count(*) FROM users WHERE status = 'closing'"), 2);
	/* Someone the database does not know: nothing. */
	assert_int_equal(apply(&x, "close-account", false,
	                       (const struct plan_id[]){{"email", "nobody@example.com"}}, 1),
	                 0);
	assert_int_equal(count(&x, "SELECT count(*) FROM users WHERE status = 'closing'"), 2);
	fx_close(&x);
}

/* Rows of child tables are found through their parent links; undo only where declared. */
static void
test_effects_parent_chain(void **state)
{
	const struct plan_id ids[] = {{"email", "user1@example.com"}};
	int64_t rules, rules_on, chans, others_on;
	struct fx x;

	fx_open(state, &x);
	chans = count(&x, "SELECT count(*) FROM " USER1_CHANNELS);
	rules = count(&x, "SELECT count(*) FROM " USER1_RULES);
	rules_on = count(&x, "SELECT count(*) FROM " USER1_RULES " AND enabled IS NOT 0");
	others_on =
	    count(&x, "SELECT count(*) FROM automation_rules WHERE enabled IS NOT 0") - rules_on;
	assert_true(chans > 0);
	assert_true(rules_on > 0);
	assert_int_equal(apply(&x, "pause-automations", false, ids, 1), chans + rules_on);
	assert_int_equal(count(&x, "SELECT count(*) FROM " USER1_CHANNELS " AND status = 'paused'"),
	                 chans);
	assert_int_equal(count(&x, "SELECT count(*) FROM " USER1_RULES " AND enabled IS NOT 0"), 0);
	assert_int_equal(count(&x, "SELECT count(*) FROM automation_rules WHERE enabled IS NOT 0"),
	                 others_on);
	assert_int_equal(count(&x, "SELECT count(*) FROM channels WHERE status = 'paused'"), chans);
	assert_int_equal(apply(&x, "pause-automations", false, ids, 1), 0);
	/* The undo puts back what it declares (every rule on), and nothing for channels. */
	assert_int_equal(apply(&x, "pause-automations", true, ids, 1), rules);
	assert_int_equal(count(&x, "SELECT count(*) FROM " USER1_RULES " AND enabled = 1"), rules);
	assert_int_equal(count(&x, "SELECT count(*) FROM " USER1_CHANNELS " AND status = 'paused'"),
	                 chans);
	fx_close(&x);
}

/* The tables of one effect change together or not at all. */
static void
test_effects_one_transaction(void **state)
{
	const struct plan_id ids[] = {{"email", "user1@example.com"}};
	const struct dm_effect *e;
	struct lethe_err err;
	int64_t rows = -1, paused;
	struct fx x;

	fx_open(state, &x);
	paused = count(&x, "SELECT count(*) FROM channels WHERE status = 'paused'");
	memset(&err, 0, sizeof(err));
	assert_int_equal(appdb_exec(x.db,
	                            "CREATE TRIGGER no_rules BEFORE UPDATE ON automation_rules "
	                            "BEGIN SELECT RAISE(ABORT, 'rules are read-only'); END",
	                            NULL, 0, NULL, &err),
	                 LETHE_OK);
	e = datamap_effect(x.dm, "pause-automations");
	assert_int_equal(effects_apply(x.dm, e, false, ids, 1, x.db, &rows, &err), LETHE_E_DB);
	assert_int_equal(rows, 0);
	assert_non_null(strstr(err.msg, "read-only"));
	assert_null(strstr(err.msg, "user1@example.com"));
	/* The channels updated before the failure were rolled back. */
	assert_int_equal(count(&x, "SELECT count(*) FROM channels WHERE status = 'paused'"),
	                 paused);
	/* The connection is usable again afterwards. */
	assert_int_equal(apply(&x, "close-account", false, ids, 1), 1);
	fx_close(&x);
}

/* The person's channel keys, as text in key order. */
static void
test_effects_channels(void **state)
{
	const struct plan_id ids[] = {{"email", "user1@example.com"}};
	const struct plan_id nobody[] = {{"email", "nobody@example.com"}};
	struct lethe_err err;
	char **keys = NULL;
	size_t n = 0, i;
	struct fx x;

	fx_open(state, &x);
	memset(&err, 0, sizeof(err));
	assert_int_equal(effects_channels(x.dm, ids, 1, x.db, &keys, &n, &err), LETHE_OK);
	assert_int_equal((int64_t)n, count(&x, "SELECT count(*) FROM " USER1_CHANNELS));
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		char *sql =
		    xasprintf("SELECT count(*) FROM " USER1_CHANNELS " AND id = %s", keys[i]);

		assert_int_equal(count(&x, sql), 1);
		free(sql);
		if (i > 0)
			assert_true(strtoll(keys[i - 1], NULL, 10) < strtoll(keys[i], NULL, 10));
	}
	effects_keys_free(keys, n);
	assert_int_equal(effects_channels(x.dm, nobody, 1, x.db, &keys, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	assert_null(keys);
	effects_keys_free(NULL, 0);
	fx_close(&x);
}

/* Identities the map cannot use are refused, naming the kind but never the value. */
static void
test_effects_bad_ids(void **state)
{
	const struct plan_id phone[] = {{"phone", "+4912345"}};
	const struct plan_id empty[] = {{"email", ""}};
	const struct dm_effect *e;
	struct lethe_err err;
	int64_t rows = -1;
	char **keys = NULL;
	size_t n = 1;
	struct fx x;

	fx_open(state, &x);
	e = datamap_effect(x.dm, "close-account");
	memset(&err, 0, sizeof(err));
	assert_int_equal(effects_apply(x.dm, e, false, phone, 0, x.db, &rows, &err), LETHE_E_USAGE);
	assert_int_equal(rows, 0);
	assert_int_equal(effects_apply(x.dm, e, false, phone, 1, x.db, &rows, &err), LETHE_E_USAGE);
	assert_non_null(strstr(err.msg, "'phone' is not declared"));
	assert_null(strstr(err.msg, "+4912345"));
	assert_int_equal(effects_apply(x.dm, e, false, empty, 1, x.db, &rows, &err), LETHE_E_USAGE);
	assert_int_equal(effects_channels(x.dm, phone, 1, x.db, &keys, &n, &err), LETHE_E_USAGE);
	assert_int_equal(n, 0);
	assert_null(keys);
	assert_int_equal(count(&x, "SELECT count(*) FROM users WHERE status = 'active'"), USERS);
	fx_close(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_effects_apply_undo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_effects_parent_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_effects_one_transaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_effects_channels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_effects_bad_ids, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
