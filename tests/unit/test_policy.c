/* SPDX-License-Identifier: MIT */
/*
 * test_policy.c - unit tests of src/config/policy.c: the `requests:`
 * section of lethe.yaml (defaults, every field, every error at its line),
 * which policy a request gets (policy_for: first match by kind, scope and
 * source, else the built-in default), and the check of the policies
 * against the data map (policy_check), the demo's included.
 *
 * A configuration is a minimal one plus a requests: section; the line an
 * error must point at is marked with "# HERE".
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "config/config.h"
#include "config/policy.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "util/rc.h"

#define CONFIG_HEAD "app: {database: app.db}\ndatamap: datamap.yaml\n"

/* A map with two scopes and one effect, for policy_check(). */
static const char map_text[] =
    "version: 1\n"
    "identities: {email: \"sign-in address\"}\n"
    "tables:\n"
    "  users:\n"
    "    category: account\n"
    "    links: [{identity: email, column: email}]\n"
    "    erase: delete\n"
    "scopes:\n"
    "  account: {description: all, identities: [email], tables: all}\n"
    "  profile: {description: one, identities: [email], tables: [users]}\n"
    "effects:\n"
    "  close-account:\n"
    "    description: \"Sign-in disabled\"\n"
    "    tables: {users: {set: {status: closing}}}\n";

static int
setup(void **state)
{
	static const char *const scripts[] = {
	    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT, status TEXT);", NULL};

	return tu_fixture_setup(state, "policy", scripts, NULL);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/* Write CONFIG_HEAD and @requests as DIR/lethe.yaml and load it into @cfg. */
static lethe_rc
load(struct tu_fixture *f, const char *requests, struct lethe_config *cfg, struct lethe_err *err)
{
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/lethe.yaml", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(CONFIG_HEAD, fp);
	fputs(requests, fp);
	fclose(fp);
	memset(err, 0, sizeof(*err));
	return config_load(cfg, path, err);
}

/* @requests must load; the caller frees @cfg. */
static void
load_ok(struct tu_fixture *f, const char *requests, struct lethe_config *cfg)
{
	struct lethe_err err;

	if (load(f, requests, cfg, &err) != LETHE_OK)
		fail_msg("config did not load: %s", err.msg);
}

/* @requests must fail with LETHE_E_CONFIG at its "# HERE" line, @what in the message. */
static void
load_fails(struct tu_fixture *f, const char *requests, const char *what)
{
	struct lethe_config cfg;
	struct lethe_err err;
	const char *at = strstr(requests, "# HERE"), *p;
	char want[64];
	int line = 3; /* CONFIG_HEAD is two lines */
	lethe_rc rc;

	if (at == NULL)
		fail_msg("no # HERE in: %s", requests);
	for (p = requests; p < at; p++)
		if (*p == '\n')
			line++;
	rc = load(f, requests, &cfg, &err);
	config_free(&cfg);
	if (rc == LETHE_OK)
		fail_msg("the configuration loaded, expected an error with '%s'", what);
	assert_int_equal(rc, LETHE_E_CONFIG);
	snprintf(want, sizeof(want), "lethe.yaml:%d: ", line);
	if (strstr(err.msg, want) == NULL)
		fail_msg("expected the error at line %d, got: %s", line, err.msg);
	if (strstr(err.msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, err.msg);
}

/* No requests: section: the defaults, and every request gets the built-in default. */
static void
test_policy_defaults(void **state)
{
	struct tu_fixture *f = *state;
	const struct request_policy *p;
	struct lethe_config cfg;

	load_ok(f, "", &cfg);
	assert_int_equal(cfg.requests.npolicies, 0);
	assert_int_equal(cfg.requests.verify_ttl_s, 7 * 86400);
	assert_int_equal(cfg.requests.warn_before_s, 3 * 86400);
	p = policy_for(&cfg, "erasure", "account", "app");
	assert_string_equal(p->name, "default");
	assert_string_equal(p->kind, "erasure");
	assert_false(p->verify);
	assert_false(p->review);
	assert_int_equal(p->grace_s, 0);
	assert_int_equal(p->deadline_s, 30 * 86400);
	assert_int_equal(p->neffects, 0);
	assert_int_equal(p->line, 0);
	assert_string_equal(policy_for(&cfg, "export", NULL, "meta")->kind, "export");
	assert_string_equal(policy_for(&cfg, "restriction", NULL, NULL)->kind, "restriction");
	assert_string_equal(policy_for(NULL, "erasure", NULL, NULL)->name, "default");
	assert_string_equal(policy_for(&cfg, "nosuch", NULL, NULL)->kind, "erasure");
	config_free(&cfg);
	/* An empty section and an empty policy list are the defaults too. */
	load_ok(f, "requests:\n", &cfg);
	assert_int_equal(cfg.requests.verify_ttl_s, 7 * 86400);
	config_free(&cfg);
	load_ok(f, "requests: {policies: []}\n", &cfg);
	assert_int_equal(cfg.requests.npolicies, 0);
	config_free(&cfg);
}

/* Every key of a policy, and the section's own. */
static void
test_policy_parse(void **state)
{
	struct tu_fixture *f = *state;
	const struct request_policy *p;
	struct lethe_config cfg;

	load_ok(f,
	        "requests:\n"
	        "  verify_ttl: 2d\n"
	        "  warn_before: 0\n"
	        "  policies:\n"
	        "    - name: account-closure\n"
	        "      kind: erasure\n"
	        "      scope: account\n"
	        "      sources: [app, self-service, email, operator]\n"
	        "      verify: true\n"
	        "      review: true\n"
	        "      grace: 30d\n"
	        "      deadline: 31d\n"
	        "      effects: [close-account, hide_profile]\n"
	        "    - {name: exports, kind: export, deadline: 48h}\n",
	        &cfg);
	assert_int_equal(cfg.requests.verify_ttl_s, 2 * 86400);
	assert_int_equal(cfg.requests.warn_before_s, 0);
	assert_int_equal(cfg.requests.npolicies, 2);
	p = &cfg.requests.policies[0];
	assert_string_equal(p->name, "account-closure");
	assert_string_equal(p->kind, "erasure");
	assert_string_equal(p->scope, "account");
	assert_int_equal(p->nsources, 4);
	assert_string_equal(p->sources[1], "self-service");
	assert_true(p->verify);
	assert_true(p->review);
	assert_int_equal(p->grace_s, 30 * 86400);
	assert_int_equal(p->deadline_s, 31 * 86400);
	assert_int_equal(p->neffects, 2);
	assert_string_equal(p->effects[0], "close-account");
	assert_string_equal(p->effects[1], "hide_profile");
	assert_int_equal(p->line, 7);
	p = &cfg.requests.policies[1];
	assert_string_equal(p->name, "exports");
	assert_null(p->scope);
	assert_int_equal(p->nsources, 0);
	assert_false(p->verify);
	assert_false(p->review);
	assert_int_equal(p->grace_s, 0);
	assert_int_equal(p->deadline_s, 48 * 3600);
	assert_int_equal(p->neffects, 0);
	assert_int_equal(p->line, 16);
	config_free(&cfg);
	/* grace: 0 and a grace equal to the deadline are fine. */
	load_ok(f, "requests: {policies: [{name: a, kind: erasure, grace: 0, deadline: 2d}]}\n",
	        &cfg);
	assert_int_equal(cfg.requests.policies[0].grace_s, 0);
	config_free(&cfg);
	load_ok(f, "requests: {policies: [{name: a, kind: erasure, grace: 30d}]}\n", &cfg);
	assert_int_equal(cfg.requests.policies[0].deadline_s, 30 * 86400);
	config_free(&cfg);
}

/* Every error, at its line. */
static void
test_policy_errors(void **state)
{
	struct tu_fixture *f = *state;

	load_fails(f, "requests: [a]  # HERE\n", "expected a mapping for requests");
	load_fails(f, "requests:\n  verify_ttll: 7d  # HERE\n", "unknown key 'verify_ttll'");
	load_fails(f, "requests:\n  verify_ttl: 0  # HERE\n",
	           "requests.verify_ttl must be a duration");
	load_fails(f, "requests:\n  verify_ttl: week  # HERE\n", "requests.verify_ttl");
	load_fails(f, "requests:\n  warn_before: -1d  # HERE\n", "requests.warn_before");
	load_fails(f, "requests:\n  verify_ttl: 1d\n  verify_ttl: 2d  # HERE\n", "appears twice");
	load_fails(f, "requests:\n  policies: {name: a}  # HERE\n",
	           "requests.policies must be a list");
	load_fails(f, "requests:\n  policies:\n    - closure  # HERE\n",
	           "a policy must be a mapping");
	load_fails(f, "requests:\n  policies:\n    - {kind: erasure}  # HERE\n",
	           "a policy needs a name");
	load_fails(f, "requests:\n  policies:\n    - {name: \"a b\", kind: erasure}  # HERE\n",
	           "policy name 'a b' must be");
	load_fails(f, "requests:\n  policies:\n    - {name: a, kind: erasure, when: x}  # HERE\n",
	           "unknown key 'when' in a policy");
	load_fails(f, "requests:\n  policies:\n    - {name: a}  # HERE\n",
	           "policy 'a' needs a kind (erasure, export, restriction)");
	load_fails(f, "requests:\n  policies:\n    - name: a\n      kind: delete  # HERE\n",
	           "policy 'a': unknown kind 'delete'");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      scope: \"my scope\"  # HERE\n",
	           "policy 'a': scope must name a data map scope");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      sources: [app, web]  # HERE\n",
	           "policy 'a': bad source 'web' (expected: meta, import, app");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      sources:\n        - app\n        - app  # HERE\n",
	           "policy 'a': sources names 'app' twice");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      sources: []  # HERE\n",
	           "sources must be a list with at least one source");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      verify: yes  # HERE\n",
	           "expected true or false for verify");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      review: 1  # HERE\n",
	           "expected true or false for review");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      grace: soon  # HERE\n",
	           "grace must be a duration");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      deadline: 0  # HERE\n",
	           "deadline must be a duration");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      grace: 30d\n      deadline: 7d  # HERE\n",
	           "policy 'a': deadline 7d is shorter than grace 30d");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a  # HERE\n      kind: erasure\n"
	           "      grace: 31d\n",
	           "policy 'a': deadline 30d (the default) is shorter than grace 31d");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      effects: [close account]  # HERE\n",
	           "policy 'a': bad effect name 'close account'");
	load_fails(f,
	           "requests:\n  policies:\n    - name: a\n      kind: erasure\n"
	           "      effects: [close, close]  # HERE\n",
	           "effects names 'close' twice");
	/* A restriction is its effects: a policy of that kind names at least one. */
	load_fails(f, "requests:\n  policies:\n    - name: r  # HERE\n      kind: restriction\n",
	           "a restriction policy needs effects: policy 'r' names none");
	load_fails(f,
	           "requests:\n  policies:\n    - {name: a, kind: erasure}\n"
	           "    - {name: a, kind: export}  # HERE\n",
	           "policy 'a' is defined twice (first at line 5)");
	/* A policy an earlier one always wins over is never used. */
	load_fails(f,
	           "requests:\n  policies:\n    - {name: a, kind: erasure}\n"
	           "    - {name: b, kind: erasure, scope: account}  # HERE\n",
	           "policy 'b' never applies: policy 'a' (line 5) comes first");
	load_fails(f,
	           "requests:\n  policies:\n    - {name: a, kind: erasure, sources: [app, email]}\n"
	           "    - {name: b, kind: erasure, sources: [app]}  # HERE\n",
	           "policy 'b' never applies");
	load_fails(f,
	           "requests:\n  policies:\n    - {name: a, kind: erasure, scope: account}\n"
	           "    - {name: b, kind: erasure, scope: account, verify: true}  # HERE\n",
	           "policy 'b' never applies");
}

/* The first match by kind, scope (none: any) and sources (none: any), else the default. */
static void
test_policy_for_order(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_config cfg;

	load_ok(f,
	        "requests:\n"
	        "  policies:\n"
	        "    - {name: app-closure, kind: erasure, scope: account, sources: [app]}\n"
	        "    - {name: closure, kind: erasure, scope: account}\n"
	        "    - {name: meta, kind: erasure, sources: [meta, import]}\n"
	        "    - {name: other-erasure, kind: erasure}\n"
	        "    - {name: self-export, kind: export, sources: [self-service]}\n",
	        &cfg);
	assert_string_equal(policy_for(&cfg, "erasure", "account", "app")->name, "app-closure");
	assert_string_equal(policy_for(&cfg, "erasure", "account", "email")->name, "closure");
	assert_string_equal(policy_for(&cfg, "erasure", "account", "meta")->name, "closure");
	assert_string_equal(policy_for(&cfg, "erasure", "meta", "meta")->name, "meta");
	assert_string_equal(policy_for(&cfg, "erasure", "meta", "import")->name, "meta");
	assert_string_equal(policy_for(&cfg, "erasure", "meta", "app")->name, "other-erasure");
	assert_string_equal(policy_for(&cfg, "erasure", NULL, "app")->name, "other-erasure");
	assert_string_equal(policy_for(&cfg, "export", NULL, "self-service")->name, "self-export");
	assert_string_equal(policy_for(&cfg, "export", "account", "self-service")->name,
	                    "self-export");
	/* No policy for this kind and source: the built-in default of the kind. */
	assert_string_equal(policy_for(&cfg, "export", NULL, "app")->name, "default");
	assert_string_equal(policy_for(&cfg, "export", NULL, "app")->kind, "export");
	assert_string_equal(policy_for(&cfg, "restriction", "account", "app")->name, "default");
	/* The pointer is cfg's own policy. */
	assert_ptr_equal(policy_for(&cfg, "erasure", "account", "app"), &cfg.requests.policies[0]);
	config_free(&cfg);
}

/* An erasure re-applied after a restore: the built-in policy, whatever is configured. */
static void
test_policy_restore_is_built_in(void **state)
{
	struct tu_fixture *f = *state;
	const struct request_policy *p;
	struct lethe_config cfg;

	load_ok(f,
	        "requests:\n"
	        "  policies:\n"
	        "    - {name: all, kind: erasure, verify: true, review: true, grace: 7d}\n",
	        &cfg);
	assert_string_equal(policy_for(&cfg, "erasure", "account", "app")->name, "all");
	p = policy_for(&cfg, "erasure", "account", "restore");
	assert_string_equal(p->name, "restore");
	assert_false(p->verify);
	assert_false(p->review);
	assert_int_equal(p->grace_s, 0);
	assert_int_equal(p->neffects, 0);
	assert_int_equal(p->deadline_s, POLICY_DEADLINE_DEFAULT_S);
	assert_ptr_equal(policy_for(NULL, "erasure", NULL, "restore"), p);
	config_free(&cfg);
	assert_true(policy_source_ok("restore"));
	load_fails(f, "requests:\n  policies:\n    - {name: restore, kind: erasure}  # HERE\n",
	           "policy name 'restore' is the built-in policy");
	load_fails(f,
	           "requests:\n  policies:\n    - name: r\n      kind: erasure\n"
	           "      sources: [app, restore]  # HERE\n",
	           "bad source 'restore'");
}

static void
test_policy_kinds_sources(void **state)
{
	(void)state;
	assert_true(policy_kind_ok("erasure"));
	assert_true(policy_kind_ok("export"));
	assert_true(policy_kind_ok("restriction"));
	assert_false(policy_kind_ok("delete"));
	assert_false(policy_kind_ok(""));
	assert_false(policy_kind_ok(NULL));
	assert_true(policy_source_ok("meta"));
	assert_true(policy_source_ok("import"));
	assert_true(policy_source_ok("app"));
	assert_true(policy_source_ok("self-service"));
	assert_true(policy_source_ok("email"));
	assert_true(policy_source_ok("operator"));
	assert_false(policy_source_ok("web"));
	assert_false(policy_source_ok("App"));
	assert_false(policy_source_ok(NULL));
}

/* Scopes and effects a policy names must be in the data map. */
static void
test_policy_check(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm;

	memset(&err, 0, sizeof(err));
	dm = datamap_load("map.yaml", map_text, &err);
	if (dm == NULL)
		fail_msg("map: %s", err.msg);
	load_ok(f,
	        "requests:\n  policies:\n"
	        "    - {name: a, kind: erasure, scope: account, effects: [close-account]}\n"
	        "    - {name: b, kind: erasure}\n",
	        &cfg);
	assert_int_equal(policy_check(&cfg, dm, &err), LETHE_OK);
	config_free(&cfg);
	load_ok(f,
	        "requests:\n  policies:\n    - {name: a, kind: export}\n"
	        "    - {name: b, kind: erasure, scope: acount}\n",
	        &cfg);
	assert_int_equal(policy_check(&cfg, dm, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "lethe.yaml:6: policy 'b': scope 'acount' is not in the "
	                                "data map map.yaml (scopes: account, profile)"));
	config_free(&cfg);
	load_ok(f,
	        "requests:\n  policies:\n"
	        "    - {name: a, kind: erasure, effects: [close-account, lock]}\n",
	        &cfg);
	assert_int_equal(policy_check(&cfg, dm, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "lethe.yaml:5: policy 'a': effect 'lock' is not declared "
	                                "under 'effects' in the data map map.yaml (effects: "
	                                "close-account)"));
	config_free(&cfg);
	datamap_free(dm);
}

/* The demo's lethe.yaml: its account-closure policy fits the demo's data map. */
static void
test_policy_demo(void **state)
{
	struct tu_fixture *f = *state;
	const struct request_policy *p;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm;
	struct appdb *db;
	char path[160];

	memset(&err, 0, sizeof(err));
	db = tu_demo_open(f->dir, 2);
	snprintf(path, sizeof(path), "%s/demo/lethe.yaml", f->dir);
	if (config_load(&cfg, path, &err) != LETHE_OK)
		fail_msg("demo config: %s", err.msg);
	dm = datamap_load(cfg.datamap_path, NULL, &err);
	if (dm == NULL)
		fail_msg("demo map: %s", err.msg);
	assert_int_equal(datamap_validate(dm, db, &err), LETHE_OK);
	assert_int_equal(policy_check(&cfg, dm, &err), LETHE_OK);
	p = policy_for(&cfg, "erasure", "account", "app");
	assert_string_equal(p->name, "account-closure");
	assert_false(p->verify);
	assert_false(p->review);
	assert_int_equal(p->grace_s, 30 * 86400);
	assert_int_equal(p->deadline_s, 31 * 86400);
	assert_int_equal(p->neffects, 1);
	assert_non_null(datamap_effect(dm, p->effects[0]));
	/* Meta's callbacks are not the app's: the default applies to them. */
	assert_string_equal(policy_for(&cfg, "erasure", "meta", "meta")->name, "default");
	datamap_free(dm);
	config_free(&cfg);
	appdb_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_policy_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_parse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_for_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_restore_is_built_in, setup, teardown),
	    cmocka_unit_test(test_policy_kinds_sources),
	    cmocka_unit_test_setup_teardown(test_policy_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_demo, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
