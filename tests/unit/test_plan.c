/* SPDX-License-Identifier: MIT */
/*
 * test_plan.c - unit tests of src/engine/plan: step order, scopes, identity
 * checks, predicates with bound values, row counts on a seeded SQLite
 * database, JSON and text output.
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
#include "engine/plan.h"
#include "util/rc.h"

/* ---- the database and the map ------------------------------------------ */

static const char schema[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT);"
    "CREATE TABLE projects(id INTEGER PRIMARY KEY, user_id INTEGER);"
    "CREATE TABLE channels(id INTEGER PRIMARY KEY, project_id INTEGER, platform TEXT,"
    " platform_user_id TEXT, access_token TEXT);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, channel_id INTEGER, body TEXT);"
    "CREATE TABLE media(id INTEGER PRIMARY KEY, project_id INTEGER, storage_key TEXT);"
    "CREATE TABLE invoices(id INTEGER PRIMARY KEY, user_id INTEGER, email TEXT,"
    " issued_at TEXT);"
    /* The diamond: d links to b and c, both to a; e to d and to a. */
    "CREATE TABLE a(id INTEGER PRIMARY KEY, email TEXT);"
    "CREATE TABLE b(id INTEGER PRIMARY KEY, a_id INTEGER);"
    "CREATE TABLE c(id INTEGER PRIMARY KEY, a_id INTEGER);"
    "CREATE TABLE d(id INTEGER PRIMARY KEY, b_id INTEGER, c_id INTEGER);"
    "CREATE TABLE e(id INTEGER PRIMARY KEY, d_id INTEGER, a_id INTEGER);"
    /* An app table whose user_id column has no declared type (SQLite allows it). */
    "CREATE TABLE events(id INTEGER PRIMARY KEY, user_id, what TEXT);"
    "CREATE INDEX i15 ON events(user_id);"
    "CREATE INDEX i1 ON projects(user_id); CREATE INDEX i2 ON channels(project_id);"
    "CREATE INDEX i3 ON channels(platform_user_id); CREATE INDEX i4 ON messages(channel_id);"
    "CREATE INDEX i5 ON media(project_id); CREATE INDEX i6 ON invoices(user_id);"
    "CREATE INDEX i7 ON users(email); CREATE INDEX i8 ON a(email);"
    "CREATE INDEX i9 ON b(a_id); CREATE INDEX i10 ON c(a_id); CREATE INDEX i11 ON d(b_id);"
    "CREATE INDEX i12 ON d(c_id); CREATE INDEX i13 ON e(d_id); CREATE INDEX i14 ON e(a_id);";

/*
 * alice (1): projects 10, 11; channels 100 (instagram IG1), 101 (facebook,
 * also IG1), 102 (instagram IG2); messages 3 + 2 + 1; media 2; invoices 2.
 * bob (2): project 20; channels 200 (instagram IG3), 201 (facebook FB9);
 * messages 4 + 1; media 1; invoices 1.
 * o'brien (3): project 30, nothing else.
 */
static const char seed[] =
    "INSERT INTO users VALUES (1, 'alice@example.com'), (2, 'bob@example.com'),"
    " (3, 'o''brien@example.com');"
    "INSERT INTO projects VALUES (10, 1), (11, 1), (20, 2), (30, 3);"
    "INSERT INTO channels VALUES (100, 10, 'instagram', 'IG1', 't1'),"
    " (101, 10, 'facebook', 'IG1', 't2'), (102, 11, 'instagram', 'IG2', 't3'),"
    " (200, 20, 'instagram', 'IG3', 't4'), (201, 20, 'facebook', 'FB9', 't5');"
    "INSERT INTO messages(channel_id, body) VALUES (100, 'm'), (100, 'm'), (100, 'm'),"
    " (101, 'm'), (101, 'm'), (102, 'm'), (200, 'm'), (200, 'm'), (200, 'm'), (200, 'm'),"
    " (201, 'm');"
    "INSERT INTO media(project_id, storage_key) VALUES (10, 'k1'), (11, 'k2'), (20, 'k3');"
    "INSERT INTO invoices(user_id, email, issued_at) VALUES"
    " (1, 'alice@example.com', '2020-01-01 00:00:00'),"
    " (1, 'alice@example.com', '2021-01-01 00:00:00'),"
    " (2, 'bob@example.com', '2021-06-01 00:00:00');"
    /* Diamond: a1 is x@example.com, a2 someone else. */
    "INSERT INTO a VALUES (1, 'x@example.com'), (2, 'y@example.com');"
    "INSERT INTO b VALUES (1, 1), (2, 1), (3, 2);"
    "INSERT INTO c VALUES (1, 1), (2, 2);"
    /* d1 via b1 and c1 (counted once), d2 via b2 only, d3 via c1 only, d4 neither. */
    "INSERT INTO d VALUES (1, 1, 1), (2, 2, 2), (3, 3, 1), (4, 3, 2);"
    /* e1 via d1, e2 via a directly, e3 via both, e4 neither. */
    "INSERT INTO e VALUES (1, 1, 2), (2, 4, 1), (3, 2, 1), (4, 4, 2);"
    "INSERT INTO events(user_id, what) VALUES (2, 'login'), (2, 'logout'), (1, 'login');";

/* Parents first in the file: the planner must still put children first. */
static const char map_text[] =
    "version: 1\n"
    "identities:\n"
    "  email: \"sign-in address\"\n"
    "  user_id: \"users.id\"\n"
    "  instagram_user_id: \"Instagram id\"\n"
    "  meta_asid: \"Facebook id\"\n"
    "  channel_id: \"channels.id\"\n"
    "tables:\n"
    "  users:\n"
    "    category: account\n"
    "    links:\n"
    "      - identity: email\n"
    "        column: email\n"
    "      - identity: user_id\n"
    "        column: id\n"
    "    erase: delete\n"
    "  projects:\n"
    "    category: account\n"
    "    links:\n"
    "      - parent: users\n"
    "        column: user_id\n"
    "    erase: delete\n"
    "  channels:\n"
    "    category: meta-sourced\n"
    "    links:\n"
    "      - parent: projects\n"
    "        column: project_id\n"
    "      - identity: instagram_user_id\n"
    "        column: platform_user_id\n"
    "        when: {platform: instagram}\n"
    "      - identity: meta_asid\n"
    "        column: platform_user_id\n"
    "        when: {platform: facebook}\n"
    "      - identity: channel_id\n"
    "        column: id\n"
    "    tokens: [access_token]\n"
    "    erase: delete\n"
    "  messages:\n"
    "    category: messages\n"
    "    links:\n"
    "      - parent: channels\n"
    "        column: channel_id\n"
    "    erase: delete\n"
    "  media:\n"
    "    category: media\n"
    "    links:\n"
    "      - parent: projects\n"
    "        column: project_id\n"
    "    media: [storage_key]\n"
    "    erase: delete\n"
    "  invoices:\n"
    "    category: billing\n"
    "    links:\n"
    "      - parent: users\n"
    "        column: user_id\n"
    "    erase:\n"
    "      action: retain\n"
    "      reason: \"Tax law\"\n"
    "      for: 10y\n"
    "      from: issued_at\n"
    "      columns:\n"
    "        email: hash\n"
    "  a:\n"
    "    category: other\n"
    "    links:\n"
    "      - identity: email\n"
    "        column: email\n"
    "    erase: delete\n"
    "  b:\n"
    "    category: other\n"
    "    links:\n"
    "      - parent: a\n"
    "        column: a_id\n"
    "    erase: delete\n"
    "  c:\n"
    "    category: other\n"
    "    links:\n"
    "      - parent: a\n"
    "        column: a_id\n"
    "    erase: delete\n"
    "  d:\n"
    "    category: other\n"
    "    links:\n"
    "      - parent: b\n"
    "        column: b_id\n"
    "      - parent: c\n"
    "        column: c_id\n"
    "    erase: delete\n"
    "  e:\n"
    "    category: other\n"
    "    links:\n"
    "      - parent: d\n"
    "        column: d_id\n"
    "      - parent: a\n"
    "        column: a_id\n"
    "    erase: delete\n"
    "  events:\n"
    "    category: logs\n"
    "    links:\n"
    "      - identity: user_id\n"
    "        column: user_id\n"
    "    erase: delete\n"
    "scopes:\n"
    "  account:\n"
    "    description: \"The whole account\"\n"
    "    identities: [email, user_id]\n"
    "    tables: [users, projects, channels, messages, media, invoices]\n"
    "  meta:\n"
    "    description: \"Meta data\"\n"
    "    identities: [instagram_user_id, meta_asid]\n"
    "    tables: [channels, messages]\n"
    "  channel:\n"
    "    description: \"One channel\"\n"
    "    identities: [channel_id]\n"
    "    tables: [messages]\n"
    "  support:\n"
    "    description: \"A channel and the account row\"\n"
    "    identities: [channel_id]\n"
    "    tables: [users, messages, channels]\n"
    "  diamond:\n"
    "    description: \"The diamond\"\n"
    "    identities: [email]\n"
    "    tables: [a, b, c, d, e]\n"
    "  events:\n"
    "    description: \"App events\"\n"
    "    identities: [user_id]\n"
    "    tables: [events]\n"
    "  everything:\n"
    "    description: \"All tables\"\n"
    "    identities: [email, user_id, instagram_user_id, meta_asid, channel_id]\n"
    "    tables: all\n";

static int
setup(void **state)
{
	static const char *const scripts[] = {schema, seed, NULL};

	return tu_fixture_setup(state, "plan", scripts, map_text);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/* ---- helpers ----------------------------------------------------------- */

static struct plan *
build_ok(struct tu_fixture *f, const char *scope, const struct plan_id *ids, size_t n, bool count)
{
	struct lethe_err err;
	struct plan *p = NULL;

	memset(&err, 0, sizeof(err));
	if (plan_build(f->dm, f->db, scope, ids, n, count, &p, &err) != LETHE_OK)
		fail_msg("plan_build(%s): %s", scope, err.msg);
	assert_non_null(p);
	return p;
}

static const struct plan_step *
step_of(const struct plan *p, const char *table)
{
	size_t i;

	for (i = 0; i < p->nsteps; i++)
		if (strcmp(p->steps[i].table->name, table) == 0)
			return &p->steps[i];
	return NULL;
}

static int
pos_of(const struct plan *p, const char *table)
{
	size_t i;

	for (i = 0; i < p->nsteps; i++)
		if (strcmp(p->steps[i].table->name, table) == 0)
			return (int)i;
	return -1;
}

static int64_t
rows_of(const struct plan *p, const char *table)
{
	const struct plan_step *s = step_of(p, table);

	if (s == NULL)
		fail_msg("no step for table '%s'", table);
	return s->rows;
}

/* The tables of @p in order, as "a,b,c". */
static void
order_str(const struct plan *p, char *out, size_t n)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < p->nsteps && len < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "",
		                        p->steps[i].table->name);
}

/* Every table in @p comes before each of its parents that is in @p too. */
static void
check_children_first(const struct plan *p)
{
	size_t i, j;

	for (i = 0; i < p->nsteps; i++) {
		const struct dm_table *t = p->steps[i].table;

		for (j = 0; j < t->nlinks; j++) {
			int pp;

			if (t->links[j].parent == NULL)
				continue;
			pp = pos_of(p, t->links[j].parent->name);
			if (pp >= 0 && pp <= (int)i)
				fail_msg("step %zu '%s' runs after its parent '%s' (step %d)",
				         i + 1, t->name, t->links[j].parent->name, pp + 1);
		}
	}
}

/* ---- order ------------------------------------------------------------- */

static void
test_plan_order_children_first(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan *p = build_ok(f, "account", &id, 1, false);
	char order[256];

	assert_ptr_equal(p->dm, f->dm);
	assert_string_equal(p->scope->name, "account");
	assert_int_equal(p->nsteps, 6);
	order_str(p, order, sizeof(order));
	check_children_first(p);
	assert_true(pos_of(p, "messages") < pos_of(p, "channels"));
	assert_true(pos_of(p, "channels") < pos_of(p, "projects"));
	assert_true(pos_of(p, "media") < pos_of(p, "projects"));
	assert_true(pos_of(p, "projects") < pos_of(p, "users"));
	assert_true(pos_of(p, "invoices") < pos_of(p, "users"));
	/* Deterministic: Kahn's algorithm, ties in file order. */
	assert_string_equal(order, "messages,channels,media,projects,invoices,users");
	/* Not counted: rows are -1. */
	assert_int_equal(rows_of(p, "users"), -1);
	plan_free(p);
	plan_free(NULL);
}

static void
test_plan_order_diamond(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "x@example.com"};
	struct plan *p = build_ok(f, "diamond", &id, 1, true);
	char order[256];

	order_str(p, order, sizeof(order));
	check_children_first(p);
	assert_string_equal(order, "e,d,b,c,a");
	plan_free(p);

	/* The whole map: every link respected. */
	p = build_ok(f, "everything", &id, 1, false);
	assert_int_equal(p->nsteps, f->dm->ntables);
	check_children_first(p);
	plan_free(p);
}

/* The order does not depend on the file listing parents first. */
static void
test_plan_order_children_first_in_file(void **state)
{
	static const char text[] =
	    "version: 1\n"
	    "identities: {email: e}\n"
	    "tables:\n"
	    "  messages:\n"
	    "    category: messages\n"
	    "    links: [{parent: channels, column: channel_id}]\n"
	    "    erase: delete\n"
	    "  users:\n"
	    "    category: account\n"
	    "    links: [{identity: email, column: email}]\n"
	    "    erase: delete\n"
	    "  channels:\n"
	    "    category: meta-sourced\n"
	    "    links: [{parent: projects, column: project_id}]\n"
	    "    erase: delete\n"
	    "  projects:\n"
	    "    category: account\n"
	    "    links: [{parent: users, column: user_id}]\n"
	    "    erase: delete\n"
	    "scopes:\n"
	    "  account: {description: d, identities: [email], tables: all}\n";
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct lethe_err err;
	struct datamap *dm;
	struct plan *p = NULL;
	char order[256];

	memset(&err, 0, sizeof(err));
	dm = datamap_load("test.yaml", text, &err);
	assert_non_null(dm);
	assert_int_equal(datamap_validate(dm, f->db, &err), LETHE_OK);
	assert_int_equal(plan_build(dm, f->db, "account", &id, 1, true, &p, &err), LETHE_OK);
	order_str(p, order, sizeof(order));
	assert_string_equal(order, "messages,channels,projects,users");
	assert_int_equal(rows_of(p, "messages"), 6);
	assert_int_equal(rows_of(p, "channels"), 3);
	assert_int_equal(rows_of(p, "projects"), 2);
	assert_int_equal(rows_of(p, "users"), 1);
	plan_free(p);
	datamap_free(dm);
}

/* ---- scopes and identities --------------------------------------------- */

static void
test_plan_scope_filters_tables(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"instagram_user_id", "IG1"};
	struct plan *p = build_ok(f, "meta", &id, 1, true);
	char order[256];

	order_str(p, order, sizeof(order));
	assert_string_equal(order, "messages,channels");
	assert_null(step_of(p, "users"));
	assert_null(step_of(p, "projects"));
	plan_free(p);

	id.kind = "channel_id";
	id.value = "101";
	p = build_ok(f, "channel", &id, 1, true);
	assert_int_equal(p->nsteps, 1);
	assert_string_equal(p->steps[0].table->name, "messages");
	/* Through channels, which is not in the scope. */
	assert_int_equal(p->steps[0].rows, 2);
	plan_free(p);
}

static void
test_plan_identity_not_accepted(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct lethe_err err;
	struct plan *p = (struct plan *)&err; /* must be reset to NULL */

	memset(&err, 0, sizeof(err));
	assert_int_equal(plan_build(f->dm, f->db, "meta", &id, 1, true, &p, &err), LETHE_E_USAGE);
	assert_null(p);
	assert_int_equal(err.rc, LETHE_E_USAGE);
	assert_non_null(strstr(err.msg, "scope 'meta' does not accept identity kind 'email'"));
	assert_non_null(strstr(err.msg, "instagram_user_id, meta_asid"));
	/* The value is personal data: never in a message. */
	assert_null(strstr(err.msg, "alice"));

	/* One accepted and one not: still refused. */
	{
		struct plan_id two[2] = {{"instagram_user_id", "IG1"}, {"email", "a@b"}};

		assert_int_equal(plan_build(f->dm, f->db, "meta", two, 2, true, &p, &err),
		                 LETHE_E_USAGE);
		assert_null(p);
	}
	/* An undeclared kind. */
	id.kind = "phone";
	id.value = "555";
	assert_int_equal(plan_build(f->dm, f->db, "account", &id, 1, true, &p, &err),
	                 LETHE_E_USAGE);
	assert_null(p);
	assert_non_null(strstr(err.msg, "'phone'"));
}

static void
test_plan_unknown_scope(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct lethe_err err;
	struct plan *p = NULL;

	memset(&err, 0, sizeof(err));
	assert_int_equal(plan_build(f->dm, f->db, "acount", &id, 1, true, &p, &err), LETHE_E_USAGE);
	assert_null(p);
	assert_non_null(strstr(err.msg, "unknown scope 'acount'"));
	assert_int_equal(plan_build(f->dm, f->db, "", &id, 1, true, &p, NULL), LETHE_E_USAGE);
	assert_null(p);
}

static void
test_plan_bad_identities(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", ""};
	struct lethe_err err;
	struct plan *p = NULL;

	memset(&err, 0, sizeof(err));
	/* None. */
	assert_int_equal(plan_build(f->dm, f->db, "account", &id, 0, true, &p, &err),
	                 LETHE_E_USAGE);
	assert_null(p);
	/* Empty value. */
	assert_int_equal(plan_build(f->dm, f->db, "account", &id, 1, true, &p, &err),
	                 LETHE_E_USAGE);
	assert_null(p);
	assert_non_null(strstr(err.msg, "empty value"));
	id.value = NULL;
	assert_int_equal(plan_build(f->dm, f->db, "account", &id, 1, true, &p, &err),
	                 LETHE_E_USAGE);
	assert_null(p);
}

/* ---- predicates and counts --------------------------------------------- */

static void
test_plan_counts_account(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan *p = build_ok(f, "account", &id, 1, true);
	size_t i;

	assert_int_equal(rows_of(p, "users"), 1);
	assert_int_equal(rows_of(p, "projects"), 2);
	assert_int_equal(rows_of(p, "channels"), 3);
	assert_int_equal(rows_of(p, "messages"), 6);
	assert_int_equal(rows_of(p, "media"), 2);
	assert_int_equal(rows_of(p, "invoices"), 2);
	for (i = 0; i < p->nsteps; i++)
		assert_true(p->steps[i].reachable);
	plan_free(p);

	/* By user id: a text value matches the integer key. */
	id.kind = "user_id";
	id.value = "2";
	p = build_ok(f, "account", &id, 1, true);
	assert_int_equal(rows_of(p, "users"), 1);
	assert_int_equal(rows_of(p, "projects"), 1);
	assert_int_equal(rows_of(p, "channels"), 2);
	assert_int_equal(rows_of(p, "messages"), 5);
	assert_int_equal(rows_of(p, "media"), 1);
	assert_int_equal(rows_of(p, "invoices"), 1);
	plan_free(p);
}

static void
test_plan_counts_several_identities(void **state)
{
	struct tu_fixture *f = *state;
	/* Two people named at once (two kinds), and the same person twice. */
	struct plan_id ids[3] = {
	    {"email", "alice@example.com"},
	    {"user_id", "2"},
	    {"email", "bob@example.com"},
	};
	struct plan *p = build_ok(f, "account", ids, 3, true);
	const struct plan_step *s;

	assert_int_equal(rows_of(p, "users"), 2);
	assert_int_equal(rows_of(p, "projects"), 3);
	assert_int_equal(rows_of(p, "channels"), 5);
	assert_int_equal(rows_of(p, "messages"), 11);
	assert_int_equal(rows_of(p, "media"), 3);
	assert_int_equal(rows_of(p, "invoices"), 3);
	s = step_of(p, "users");
	/* The integer-looking user_id is bound twice: as text and as an integer. */
	assert_string_equal(s->where, "((\"email\" IN (?, ?)) OR (\"id\" IN (?, ?)))");
	assert_int_equal(s->nparams, 4);
	assert_int_equal(s->params[2].type, APPDB_TEXT);
	assert_int_equal(s->params[3].type, APPDB_INT);
	assert_int_equal(s->params[3].i, 2);
	assert_ptr_equal(s->params[0].s, ids[0].value);
	assert_ptr_equal(s->params[1].s, ids[2].value);
	assert_ptr_equal(s->params[2].s, ids[1].value);
	plan_free(p);
}

/* Several identities must lead to one person (plan_check_one_person). */
static void
test_plan_one_person(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err = {0};
	struct plan_id same[3] = {
	    {"email", "alice@example.com"},
	    {"user_id", "1"},
	    {"email", "nobody@example.com"}, /* leads nowhere: adds nothing */
	};
	struct plan_id two[2] = {{"email", "alice@example.com"}, {"email", "bob@example.com"}};
	/* Instagram IG1 (channel 100) and Facebook IG1 (101): alice's, through project 10. */
	struct plan_id meta_same[2] = {{"instagram_user_id", "IG1"}, {"meta_asid", "IG1"}};
	/* IG2 is alice's (102), IG3 bob's (200); channel 102 is alice's too. */
	struct plan_id meta_two[3] = {
	    {"instagram_user_id", "IG2"}, {"channel_id", "102"}, {"instagram_user_id", "IG3"}};

	(void)state;
	assert_int_equal(plan_check_one_person(f->dm, f->db, same, 3, &err), LETHE_OK);
	assert_int_equal(plan_check_one_person(f->dm, f->db, same, 1, &err), LETHE_OK);
	assert_int_equal(plan_check_one_person(f->dm, f->db, meta_same, 2, &err), LETHE_OK);
	assert_int_equal(plan_check_one_person(f->dm, f->db, meta_two, 2, &err), LETHE_OK);

	assert_int_equal(plan_check_one_person(f->dm, f->db, two, 2, &err), LETHE_E_USAGE);
	assert_non_null(strstr(err.msg, "--id 1 (email) and --id 2 (email) name different people"));
	assert_null(strstr(err.msg, "alice"));
	assert_null(strstr(err.msg, "bob"));
	assert_int_equal(plan_check_one_person(f->dm, f->db, meta_two, 3, &err), LETHE_E_USAGE);
	assert_non_null(strstr(err.msg, "--id 1 (instagram_user_id) and --id 3 "
	                                "(instagram_user_id)"));
	assert_null(strstr(err.msg, "IG"));
}

/* The address on file: the email column of the one top row the identities lead to. */
static void
test_plan_identity_on_file(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err = {0};
	struct plan_id uid = {"user_id", "1"};
	struct plan_id ig = {"instagram_user_id", "IG1"}; /* channel 100, project 10: alice */
	struct plan_id nobody = {"user_id", "999999"};
	struct plan_id two[2] = {{"user_id", "1"}, {"email", "bob@example.com"}};
	char out[256];

	assert_int_equal(
	    plan_identity_on_file(f->dm, f->db, &uid, 1, "email", out, sizeof(out), &err),
	    LETHE_OK);
	assert_string_equal(out, "alice@example.com");
	assert_int_equal(
	    plan_identity_on_file(f->dm, f->db, &ig, 1, "email", out, sizeof(out), &err), LETHE_OK);
	assert_string_equal(out, "alice@example.com");
	assert_int_equal(
	    plan_identity_on_file(f->dm, f->db, &nobody, 1, "email", out, sizeof(out), &err),
	    LETHE_E_NOTFOUND);
	assert_string_equal(out, "");
	/* Two people: no address (the request is refused elsewhere; mail never guesses). */
	assert_int_equal(
	    plan_identity_on_file(f->dm, f->db, two, 2, "email", out, sizeof(out), &err),
	    LETHE_E_NOTFOUND);
	/* A kind no table links, and an address that does not fit. */
	assert_int_equal(
	    plan_identity_on_file(f->dm, f->db, &uid, 1, "phone", out, sizeof(out), &err),
	    LETHE_E_NOTFOUND);
	assert_int_equal(plan_identity_on_file(f->dm, f->db, &uid, 1, "email", out, 5, &err),
	                 LETHE_E_NOTFOUND);
}

static void
test_plan_predicate_text(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan *p = build_ok(f, "account", &id, 1, false);
	const struct plan_step *s;

	s = step_of(p, "users");
	assert_string_equal(s->where, "((\"email\" IN (?)))");
	assert_int_equal(s->nparams, 1);
	assert_int_equal(s->params[0].type, APPDB_TEXT);
	assert_string_equal(s->params[0].s, "alice@example.com");
	/* Parent links nest to any depth; each level is (link OR link ...). */
	s = step_of(p, "messages");
	assert_string_equal(s->where, "((\"channel_id\" IN (SELECT \"id\" FROM \"channels\" WHERE "
	                              "((\"project_id\" IN (SELECT \"id\" FROM \"projects\" WHERE "
	                              "((\"user_id\" IN (SELECT \"id\" FROM \"users\" WHERE "
	                              "((\"email\" IN (?))))))))))))");
	assert_int_equal(s->nparams, 1);
	/* The value is never part of the SQL. */
	assert_null(strstr(s->where, "alice"));
	plan_free(p);
}

static void
test_plan_conditional_link(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"instagram_user_id", "IG1"};
	struct plan *p = build_ok(f, "meta", &id, 1, true);
	const struct plan_step *s;

	/* IG1 is also the platform_user_id of a facebook channel: not matched. */
	assert_int_equal(rows_of(p, "channels"), 1);
	assert_int_equal(rows_of(p, "messages"), 3);
	s = step_of(p, "channels");
	assert_string_equal(s->where, "((\"platform_user_id\" IN (?) AND \"platform\" IN (?)))");
	assert_int_equal(s->nparams, 2);
	assert_string_equal(s->params[0].s, "IG1");
	assert_int_equal(s->params[1].type, APPDB_TEXT);
	assert_string_equal(s->params[1].s, "instagram");
	plan_free(p);

	/* The same id as a Facebook id matches only the facebook channel. */
	id.kind = "meta_asid";
	p = build_ok(f, "meta", &id, 1, true);
	assert_int_equal(rows_of(p, "channels"), 1);
	assert_int_equal(rows_of(p, "messages"), 2);
	plan_free(p);

	/* An instagram id that exists only on facebook matches nothing. */
	id.kind = "instagram_user_id";
	id.value = "FB9";
	p = build_ok(f, "meta", &id, 1, true);
	assert_int_equal(rows_of(p, "channels"), 0);
	assert_int_equal(rows_of(p, "messages"), 0);
	plan_free(p);

	/* Both kinds at once. */
	{
		struct plan_id two[2] = {{"instagram_user_id", "IG3"}, {"meta_asid", "FB9"}};

		p = build_ok(f, "meta", two, 2, true);
		assert_int_equal(rows_of(p, "channels"), 2);
		assert_int_equal(rows_of(p, "messages"), 5);
		plan_free(p);
	}
}

static void
test_plan_unreachable_table(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"channel_id", "100"};
	struct plan *p = build_ok(f, "support", &id, 1, true);
	const struct plan_step *s;

	/* users cannot be reached from a channel id. */
	s = step_of(p, "users");
	assert_non_null(s);
	assert_false(s->reachable);
	assert_string_equal(s->where, "0");
	assert_int_equal(s->nparams, 0);
	assert_int_equal(s->rows, 0);
	s = step_of(p, "channels");
	assert_true(s->reachable);
	assert_int_equal(s->rows, 1);
	assert_string_equal(s->where, "((\"id\" IN (?, ?)))");
	assert_int_equal(rows_of(p, "messages"), 3);
	plan_free(p);
}

static void
test_plan_diamond_counts(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "x@example.com"};
	struct plan *p = build_ok(f, "diamond", &id, 1, true);

	assert_int_equal(rows_of(p, "a"), 1);
	assert_int_equal(rows_of(p, "b"), 2);
	assert_int_equal(rows_of(p, "c"), 1);
	/* d1 (both paths, once), d2 (b2), d3 (c1). */
	assert_int_equal(rows_of(p, "d"), 3);
	/* e1 (d1), e2 (a1), e3 (d2 and a1). */
	assert_int_equal(rows_of(p, "e"), 3);
	plan_free(p);
}

static void
test_plan_nobody_matches(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "nobody@example.com"};
	struct plan *p = build_ok(f, "everything", &id, 1, true);
	size_t i;

	assert_int_equal(p->nsteps, f->dm->ntables);
	for (i = 0; i < p->nsteps; i++) {
		if (p->steps[i].rows != 0)
			fail_msg("table '%s': %lld rows for nobody", p->steps[i].table->name,
			         (long long)p->steps[i].rows);
	}
	plan_free(p);

	id.kind = "user_id";
	id.value = "999";
	p = build_ok(f, "account", &id, 1, true);
	for (i = 0; i < p->nsteps; i++)
		assert_int_equal(p->steps[i].rows, 0);
	plan_free(p);
}

/* Values are bound: SQL in a value is data, and a quote matches a quote. */
static void
test_plan_values_are_bound(void **state)
{
	static const char *const evil[] = {
	    "x' OR '1'='1",
	    "x\" OR \"1\"=\"1",
	    "') OR 1=1 --",
	    "1) OR (1=1",
	    "%",
	    "*",
	    "alice@example.com' --",
	    "alice@example.com;DELETE FROM users",
	};
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", NULL};
	struct lethe_err err;
	struct plan *p;
	int64_t n = -1;
	size_t i, j;

	for (i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		id.value = evil[i];
		p = build_ok(f, "everything", &id, 1, true);
		for (j = 0; j < p->nsteps; j++) {
			if (p->steps[j].rows != 0)
				fail_msg("value '%s' matched %lld rows in '%s'", evil[i],
				         (long long)p->steps[j].rows, p->steps[j].table->name);
			assert_null(strstr(p->steps[j].where, evil[i]));
		}
		plan_free(p);
	}
	/* user_id values too (the key column is an integer). */
	id.kind = "user_id";
	id.value = "1 OR 1=1";
	p = build_ok(f, "account", &id, 1, true);
	for (j = 0; j < p->nsteps; j++)
		assert_int_equal(p->steps[j].rows, 0);
	plan_free(p);

	/* A real address with a quote is found. */
	id.kind = "email";
	id.value = "o'brien@example.com";
	p = build_ok(f, "account", &id, 1, true);
	assert_int_equal(rows_of(p, "users"), 1);
	assert_int_equal(rows_of(p, "projects"), 1);
	assert_int_equal(rows_of(p, "channels"), 0);
	plan_free(p);

	/* Nothing was changed by any of it. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(appdb_query_int(f->db, "SELECT count(*) FROM users", NULL, 0, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 3);
}

static void
test_plan_recount(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan *p = build_ok(f, "account", &id, 1, false);
	struct lethe_err err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(plan_count(p, f->db, &err), LETHE_OK);
	assert_int_equal(rows_of(p, "messages"), 6);
	assert_int_equal(
	    appdb_exec(f->db, "DELETE FROM messages WHERE channel_id = 100", NULL, 0, NULL, &err),
	    LETHE_OK);
	assert_int_equal(plan_count(p, f->db, &err), LETHE_OK);
	assert_int_equal(rows_of(p, "messages"), 3);
	assert_int_equal(rows_of(p, "channels"), 3);
	plan_free(p);
}

/* The SQLite driver, its dialect made PostgreSQL's in the one member tested. */
static struct appdb_dialect lacks_key_dialect;
static struct appdb_ops lacks_key_ops;
static char *counted_sql[16];
static size_t ncounted;

/* Record each statement's text, then prepare it with SQLite. */
static lethe_rc
recording_prepare(struct appdb *db, const char *sql, struct appdb_stmt **st, struct lethe_err *err)
{
	if (ncounted < sizeof(counted_sql) / sizeof(counted_sql[0]))
		counted_sql[ncounted++] = strdup(sql);
	return appdb_sqlite_ops.prepare(db, sql, st, err);
}

static void
counted_free(void)
{
	while (ncounted > 0)
		free(counted_sql[--ncounted]);
}

/*
 * Where secondary indexes do not end in the key (PostgreSQL), a step's
 * count also takes the span of its keys, so that a delete step's windows
 * start without reading the person's rows a second time; a step with no
 * rows is spanned and empty.  Where they do (SQLite), the count's text is
 * unchanged and no span is taken.
 */
static void
test_plan_count_spans_where_indexes_lack_the_key(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan_id nobody = {"email", "o'brien@example.com"};
	const struct appdb_ops *saved = f->db->ops;
	const struct plan_step *s;
	struct plan *p;
	size_t i;

	lacks_key_ops = appdb_sqlite_ops;
	lacks_key_dialect = *appdb_sqlite_ops.dialect;
	lacks_key_dialect.index_ends_in_key = false;
	lacks_key_ops.dialect = &lacks_key_dialect;
	lacks_key_ops.prepare = recording_prepare;

	/* SQLite: count(*) alone, as before. */
	f->db->ops = &lacks_key_ops;
	lacks_key_dialect.index_ends_in_key = true;
	p = build_ok(f, "account", &id, 1, true);
	f->db->ops = saved;
	assert_true(ncounted > 0);
	for (i = 0; i < ncounted; i++)
		assert_int_equal(strncmp(counted_sql[i], "SELECT count(*) FROM ", 21), 0);
	s = step_of(p, "messages");
	assert_int_equal(s->rows, 6);
	assert_false(s->spanned);
	plan_free(p);
	counted_free();

	/* Indexes lacking the key: count, min and max in one statement. */
	lacks_key_dialect.index_ends_in_key = false;
	f->db->ops = &lacks_key_ops;
	p = build_ok(f, "account", &id, 1, true);
	f->db->ops = saved;
	assert_true(ncounted > 0);
	for (i = 0; i < ncounted; i++)
		assert_non_null(strstr(counted_sql[i], "SELECT count(*), min("));
	counted_free();
	s = step_of(p, "messages");
	assert_int_equal(s->rows, 6);
	assert_true(s->spanned);
	assert_int_equal(s->key_lo, 1);
	assert_int_equal(s->key_hi, 6);
	s = step_of(p, "channels");
	assert_int_equal(s->rows, 3);
	assert_true(s->spanned);
	assert_int_equal(s->key_lo, 100);
	assert_int_equal(s->key_hi, 102);
	plan_free(p);

	/* Nobody's messages: spanned, with no rows. */
	f->db->ops = &lacks_key_ops;
	p = build_ok(f, "account", &nobody, 1, true);
	f->db->ops = saved;
	counted_free();
	s = step_of(p, "messages");
	assert_int_equal(s->rows, 0);
	assert_true(s->spanned);
	plan_free(p);
}

/*
 * Identity values arrive as text (--id user_id=2) and are bound as TEXT.  A
 * column without a declared type has no affinity, so SQLite compares the
 * stored integer 2 with the text '2' as unequal: the person's rows are
 * silently not found and an erasure would leave them behind.
 */
static void
test_plan_identity_matches_untyped_integer_column(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"user_id", "2"};
	struct plan *p = build_ok(f, "events", &id, 1, true);
	int64_t rows = rows_of(p, "events");

	plan_free(p);
	if (rows != 2)
		fail_msg("user_id=2 matched %lld rows of events (user_id declared without a "
		         "type, holding integers); expected 2",
		         (long long)rows);
}

/*
 * A map where every level links twice to the level above doubles the
 * predicate per level: past the 1 MiB cap plan_build must refuse with
 * LETHE_E_TOOBIG, free everything, and leave *out NULL.
 */
static void
test_plan_predicate_too_big(void **state)
{
	static char text[16384];
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "x@example.com"};
	struct lethe_err err;
	struct datamap *dm;
	struct plan *p = (struct plan *)&err;
	size_t len;
	int i;
	lethe_rc rc;

	len = (size_t)snprintf(text, sizeof(text),
	                       "version: 1\n"
	                       "identities: {email: e}\n"
	                       "tables:\n"
	                       "  t0:\n"
	                       "    key: id\n"
	                       "    category: other\n"
	                       "    links: [{identity: email, column: email}]\n"
	                       "    erase: delete\n");
	for (i = 1; i <= 16; i++)
		len += (size_t)snprintf(
		    text + len, sizeof(text) - len,
		    "  t%d:\n"
		    "    key: id\n"
		    "    category: other\n"
		    "    links: [{parent: t%d, column: a}, {parent: t%d, column: b}]\n"
		    "    erase: delete\n",
		    i, i - 1, i - 1);
	snprintf(text + len, sizeof(text) - len,
	         "scopes:\n"
	         "  all: {description: d, identities: [email], tables: all}\n"
	         "  small: {description: d, identities: [email], tables: [t0, t1, t2, t3]}\n");
	memset(&err, 0, sizeof(err));
	dm = datamap_load("test.yaml", text, &err);
	if (dm == NULL)
		fail_msg("load: %s", err.msg);
	/* The first levels are fine: t3's predicate has 2^3 identity parameters. */
	rc = plan_build(dm, f->db, "small", &id, 1, false, &p, &err);
	if (rc == LETHE_OK) {
		assert_int_equal(p->nsteps, 4);
		assert_string_equal(p->steps[0].table->name, "t3");
		assert_int_equal(p->steps[0].nparams, 8);
		plan_free(p);
	}
	assert_int_equal(rc, LETHE_OK);
	rc = plan_build(dm, f->db, "all", &id, 1, false, &p, &err);
	if (rc == LETHE_OK)
		plan_free(p);
	else
		assert_null(p);
	datamap_free(dm);
	assert_int_equal(rc, LETHE_E_TOOBIG);
	assert_int_equal(err.rc, LETHE_E_TOOBIG);
	assert_non_null(strstr(err.msg, "too long"));
}

/* ---- output ------------------------------------------------------------ */

static void
test_plan_to_json(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan *p = build_ok(f, "account", &id, 1, true);
	json_t *j = plan_to_json(p), *steps, *s;
	char *text;
	size_t i;

	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "scope")), "account");
	assert_string_equal(json_string_value(json_object_get(j, "description")),
	                    "The whole account");
	steps = json_object_get(j, "steps");
	assert_true(json_is_array(steps));
	assert_int_equal(json_array_size(steps), p->nsteps);
	for (i = 0; i < json_array_size(steps); i++) {
		s = json_array_get(steps, i);
		assert_int_equal(json_integer_value(json_object_get(s, "step")), (int)i + 1);
		assert_string_equal(json_string_value(json_object_get(s, "table")),
		                    p->steps[i].table->name);
		assert_string_equal(json_string_value(json_object_get(s, "category")),
		                    p->steps[i].table->category);
		assert_string_equal(json_string_value(json_object_get(s, "action")),
		                    dm_action_str(p->steps[i].table->action));
		assert_int_equal(json_integer_value(json_object_get(s, "rows")), p->steps[i].rows);
	}
	s = json_array_get(steps, (size_t)pos_of(p, "invoices"));
	assert_string_equal(json_string_value(json_object_get(s, "action")), "retain");
	assert_string_equal(json_string_value(json_object_get(s, "reason")), "Tax law");
	assert_int_equal(json_integer_value(json_object_get(s, "retain_seconds")),
	                 (int64_t)10 * 365 * 86400);
	assert_int_equal(json_integer_value(json_object_get(s, "rows")), 2);
	assert_null(json_object_get(s, "removes_media_files"));
	s = json_array_get(steps, (size_t)pos_of(p, "media"));
	assert_true(json_is_true(json_object_get(s, "removes_media_files")));
	assert_null(json_object_get(s, "reason"));
	s = json_array_get(steps, 0);
	assert_string_equal(json_string_value(json_object_get(s, "table")), "messages");
	assert_string_equal(json_string_value(json_object_get(s, "category")), "messages");
	assert_string_equal(json_string_value(json_object_get(s, "action")), "delete");
	assert_int_equal(json_integer_value(json_object_get(s, "rows")), 6);

	/* No personal data and no SQL in the JSON. */
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(text);
	assert_null(strstr(text, "alice"));
	assert_null(strstr(text, "SELECT"));
	free(text);
	json_decref(j);
	plan_free(p);

	/* Uncounted plans say -1. */
	p = build_ok(f, "meta", &(struct plan_id){"instagram_user_id", "IG1"}, 1, false);
	j = plan_to_json(p);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(j, "steps"), 0), "rows")),
	                 -1);
	json_decref(j);
	plan_free(p);
}

static void
test_plan_print(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan *p = build_ok(f, "account", &id, 1, true);
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	assert_non_null(fp);
	plan_print(p, fp);
	fclose(fp);
	assert_non_null(strstr(out, "Plan for scope 'account': The whole account"));
	assert_non_null(strstr(out, "messages"));
	/* 1 + 2 + 3 + 6 + 2 + 2 */
	assert_non_null(strstr(out, "16 rows in 6 tables."));
	assert_non_null(strstr(out, "Retained: invoices (2 rows): Tax law"));
	assert_null(strstr(out, "alice"));
	free(out);
	plan_free(p);
}

/* ---- the demo ---------------------------------------------------------- */

static void
test_plan_demo(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	struct datamap *dm;
	struct appdb *db;
	struct plan *p = NULL;
	char email[64];
	struct plan_id id = {"email", email};
	size_t i;

	memset(&err, 0, sizeof(err));
	db = tu_demo_open(f->dir, 3);
	dm = datamap_load("src/demo/datamap.yaml", NULL, &err);
	assert_non_null(dm);
	assert_int_equal(datamap_validate(dm, db, &err), LETHE_OK);
	demo_user_email(1, email, sizeof(email));
	assert_int_equal(plan_build(dm, db, "account", &id, 1, true, &p, &err), LETHE_OK);
	assert_int_equal(p->nsteps, dm->ntables);
	check_children_first(p);
	assert_string_equal(p->steps[p->nsteps - 1].table->name, "users");
	assert_int_equal(rows_of(p, "users"), 1);
	assert_true(rows_of(p, "projects") > 0);
	for (i = 0; i < p->nsteps; i++)
		assert_true(p->steps[i].rows >= 0);
	plan_free(p);

	/* The meta scope with a real Instagram id of the demo. */
	{
		int64_t total = -1;
		struct appdb_stmt *st = NULL;
		struct appdb_val v;
		char igid[64];

		assert_int_equal(appdb_prepare(db,
		                               "SELECT platform_user_id FROM channels "
		                               "WHERE platform = 'instagram' ORDER BY id LIMIT 1",
		                               &st, &err),
		                 LETHE_OK);
		assert_int_equal(appdb_step(db, st, &err), APPDB_ROW);
		appdb_column(db, st, 0, &v);
		assert_int_equal(v.type, APPDB_TEXT);
		snprintf(igid, sizeof(igid), "%s", v.s);
		appdb_finalize(db, st);
		id.kind = "instagram_user_id";
		id.value = igid;
		assert_int_equal(plan_build(dm, db, "meta", &id, 1, true, &p, &err), LETHE_OK);
		check_children_first(p);
		assert_int_equal(p->nsteps, 7);
		assert_null(step_of(p, "users"));
		assert_int_equal(appdb_query_int(db,
		                                 "SELECT count(*) FROM channels WHERE "
		                                 "platform_user_id = ? AND platform = 'instagram'",
		                                 &(struct appdb_val){.type = APPDB_TEXT, .s = igid},
		                                 1, &total, &err),
		                 LETHE_OK);
		assert_true(total >= 1);
		assert_int_equal(rows_of(p, "channels"), total);
		plan_free(p);
	}
	datamap_free(dm);
	appdb_close(db);
}

/* ---- erase actions per scope and keep rules ------------------------------ */

/*
 * Seed 003 and 001 in miniature: error logs are kept for security, the
 * rest deleted; a profile-scope request clears the bio an account closure
 * deletes.  alice (1) has logs error, error, info and one without a level;
 * bob (2) one error.
 */
static const char split_schema[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT, bio TEXT);"
    "CREATE TABLE logs(id INTEGER PRIMARY KEY, user_id INTEGER, level TEXT, created_at TEXT);"
    "CREATE INDEX l1 ON logs(user_id); CREATE INDEX u1 ON users(email);";
static const char split_seed[] =
    "INSERT INTO users VALUES (1, 'alice@example.com', 'hi'), (2, 'bob@example.com', 'yo');"
    "INSERT INTO logs(user_id, level, created_at) VALUES (1, 'error', '2026-01-01 00:00:00'),"
    " (1, 'error', '2026-01-02 00:00:00'), (1, 'info', '2026-01-03 00:00:00'),"
    " (1, NULL, '2026-01-04 00:00:00'), (2, 'error', '2026-01-05 00:00:00');";
static const char split_map[] = "version: 1\n"
                                "identities:\n"
                                "  email: \"sign-in address\"\n"
                                "tables:\n"
                                "  users:\n"
                                "    category: account\n"
                                "    links: [{identity: email, column: email}]\n"
                                "    erase: delete\n"
                                "    erase_in:\n"
                                "      profile: {action: anonymize, columns: {bio: null}}\n"
                                "  logs:\n"
                                "    category: logs\n"
                                "    links: [{parent: users, column: user_id}]\n"
                                "    erase:\n"
                                "      action: delete\n"
                                "      keep:\n"
                                "        - when: {level: [error, fatal]}\n"
                                "          reason: \"Kept for security\"\n"
                                "          for: 90d\n"
                                "          from: created_at\n"
                                "    erase_in:\n"
                                "      profile: delete\n"
                                "scopes:\n"
                                "  account:\n"
                                "    description: \"The account\"\n"
                                "    identities: [email]\n"
                                "    tables: all\n"
                                "  profile:\n"
                                "    description: \"Profile fields\"\n"
                                "    identities: [email]\n"
                                "    tables: [users, logs]\n";

static int
split_setup(void **state)
{
	static const char *const scripts[] = {split_schema, split_seed, NULL};

	return tu_fixture_setup(state, "plan-split", scripts, split_map);
}

static void
test_plan_keep_rule_splits_table(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan *p = build_ok(f, "account", &id, 1, true);
	json_t *j, *s;

	/* The keep rule's part, then the rest, then the parent. */
	assert_int_equal(p->nsteps, 3);
	assert_string_equal(p->steps[0].name, "logs#1");
	assert_int_equal(p->steps[0].part->action, DM_RETAIN);
	assert_string_equal(p->steps[0].part->reason, "Kept for security");
	assert_int_equal(p->steps[0].rows, 2);
	assert_string_equal(p->steps[1].name, "logs");
	assert_int_equal(p->steps[1].part->action, DM_DELETE);
	/* A NULL level matches no rule: it is deleted with the rest. */
	assert_int_equal(p->steps[1].rows, 2);
	assert_string_equal(p->steps[2].name, "users");
	assert_int_equal(p->steps[2].rows, 1);
	j = plan_to_json(p);
	s = json_array_get(json_object_get(j, "steps"), 0);
	assert_string_equal(json_string_value(json_object_get(s, "part")), "logs#1");
	assert_string_equal(json_string_value(json_object_get(s, "reason")), "Kept for security");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(json_object_get(s, "when"), "level"), 1)),
	                    "fatal");
	assert_null(json_object_get(json_array_get(json_object_get(j, "steps"), 1), "part"));
	json_decref(j);
	{
		char *out = NULL;
		size_t len = 0;
		FILE *fp = open_memstream(&out, &len);

		assert_non_null(fp);
		plan_print(p, fp);
		fclose(fp);
		assert_non_null(strstr(out, "logs#1"));
		assert_non_null(strstr(out, "5 rows in 2 tables."));
		assert_non_null(strstr(out, "Retained: logs (2 rows): Kept for security"));
		free(out);
	}
	plan_free(p);
}

static void
test_plan_erase_in_scope(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", "alice@example.com"};
	struct plan *p = build_ok(f, "profile", &id, 1, true);

	/* The profile scope: the bio is cleared, every log deleted (no keep rule there). */
	assert_int_equal(p->nsteps, 2);
	assert_string_equal(p->steps[0].name, "logs");
	assert_int_equal(p->steps[0].part->action, DM_DELETE);
	assert_int_equal(p->steps[0].rows, 4);
	assert_string_equal(p->steps[1].name, "users");
	assert_int_equal(p->steps[1].part->action, DM_ANONYMIZE);
	assert_string_equal(p->steps[1].part->anon[0].column, "bio");
	plan_free(p);
	/* The table's default stays what the account scope does. */
	p = build_ok(f, "account", &id, 1, false);
	assert_int_equal(p->steps[2].part->action, DM_DELETE);
	plan_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plan_order_children_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_order_diamond, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_order_children_first_in_file, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plan_scope_filters_tables, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_identity_not_accepted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_unknown_scope, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_bad_identities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_counts_account, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_counts_several_identities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_predicate_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_conditional_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_unreachable_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_diamond_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_nobody_matches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_values_are_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_recount, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_count_spans_where_indexes_lack_the_key, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plan_identity_matches_untyped_integer_column,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_predicate_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_to_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_print, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_demo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_identity_on_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_one_person, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_keep_rule_splits_table, split_setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plan_erase_in_scope, split_setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
