/* SPDX-License-Identifier: MIT */
/*
 * test_datamap.c - unit tests of src/datamap: loading the data map on its
 * own (every error names file and line) and validating it against a live
 * SQLite database.
 *
 * Most invalid maps are the valid base map with one edit.  The line an error
 * must point at is marked in the edited text with a "# HERE" comment, so no
 * test counts lines by hand.
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
#include "util/rc.h"

#define DEMO_MAP "src/demo/datamap.yaml"

/* The valid base map; every table and column exists in the schema below. */
static const char base_map[] = "version: 1\n"
                               "identities:\n"
                               "  email: \"sign-in address\"\n"
                               "  user_id: \"users.id\"\n"
                               "  instagram_user_id: \"Instagram id\"\n"
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
                               "    key: id\n"
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
                               "    ttl: {column: created_at, after: 30d}\n"
                               "  media:\n"
                               "    category: media\n"
                               "    links:\n"
                               "      - parent: projects\n"
                               "        column: project_id\n"
                               "    media: [storage_key]\n"
                               "    erase: delete\n"
                               "  request_logs:\n"
                               "    category: logs\n"
                               "    links:\n"
                               "      - parent: users\n"
                               "        column: user_id\n"
                               "    erase:\n"
                               "      action: anonymize\n"
                               "      columns:\n"
                               "        user_id: null\n"
                               "        ip: hash\n"
                               "        user_agent: {set: \"[removed]\"}\n"
                               "  invoices:\n"
                               "    category: billing\n"
                               "    links:\n"
                               "      - parent: users\n"
                               "        column: user_id\n"
                               "    erase:\n"
                               "      action: retain\n"
                               "      reason: \"Tax law: kept for 10 years\"\n"
                               "      for: 10y\n"
                               "      from: issued_at\n"
                               "      columns:\n"
                               "        user_id: null\n"
                               "        email: hash\n"
                               "scopes:\n"
                               "  account:\n"
                               "    description: \"Everything\"\n"
                               "    identities: [email, user_id]\n"
                               "    tables: all\n"
                               "  meta:\n"
                               "    description: \"Meta data\"\n"
                               "    identities: [instagram_user_id]\n"
                               "    tables: [channels, messages]\n";

static const char schema[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT);"
    "CREATE TABLE projects(id INTEGER PRIMARY KEY, user_id INTEGER);"
    "CREATE TABLE channels(id INTEGER PRIMARY KEY, project_id INTEGER, platform TEXT,"
    " platform_user_id TEXT, access_token TEXT);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, channel_id INTEGER, body TEXT,"
    " created_at TEXT);"
    "CREATE TABLE media(id INTEGER PRIMARY KEY, project_id INTEGER, storage_key TEXT);"
    "CREATE TABLE request_logs(id INTEGER PRIMARY KEY, user_id INTEGER, ip TEXT,"
    " user_agent TEXT);"
    "CREATE TABLE invoices(id INTEGER PRIMARY KEY, user_id INTEGER, email TEXT,"
    " issued_at TEXT);"
    "CREATE TABLE events(user_id INTEGER, at TEXT, what TEXT);"
    "CREATE TABLE pairs(a INTEGER, b INTEGER, user_id INTEGER, PRIMARY KEY(a, b));"
    "CREATE INDEX projects_user ON projects(user_id);"
    "CREATE INDEX users_email ON users(email);"
    "CREATE INDEX channels_project ON channels(project_id);"
    "CREATE INDEX channels_puid ON channels(platform_user_id);"
    "CREATE INDEX messages_channel ON messages(channel_id);"
    "CREATE INDEX media_project ON media(project_id);"
    "CREATE INDEX request_logs_user ON request_logs(user_id);"
    "CREATE INDEX invoices_user ON invoices(user_id);"
    "CREATE INDEX events_user ON events(user_id);"
    "CREATE INDEX pairs_user ON pairs(user_id);";

/* ---- helpers ----------------------------------------------------------- */

/*
 * Edited map texts live in a ring of static buffers, so a failing assertion
 * (which longjmps out of the test) leaks nothing under LeakSanitizer.
 */
#define SCRATCH_N 4
#define SCRATCH_SIZE 16384

static char *
scratch(size_t need)
{
	static char bufs[SCRATCH_N][SCRATCH_SIZE];
	static unsigned next;

	if (need > SCRATCH_SIZE)
		fail_msg("scratch: %zu bytes needed", need);
	return bufs[next++ % SCRATCH_N];
}

/* @base with the one occurrence of @from replaced by @to (a scratch buffer). */
static char *
edit(const char *base, const char *from, const char *to)
{
	const char *at = strstr(base, from);
	size_t nb = strlen(base), nf = strlen(from), nt = strlen(to);
	char *out;

	if (at == NULL)
		fail_msg("edit: '%s' not in the base map", from);
	if (strstr(at + 1, from) != NULL)
		fail_msg("edit: '%s' occurs more than once", from);
	out = scratch(nb - nf + nt + 1);
	memcpy(out, base, (size_t)(at - base));
	memcpy(out + (at - base), to, nt);
	memcpy(out + (at - base) + nt, at + nf, nb - (size_t)(at - base) - nf + 1);
	return out;
}

/* 1-based line of the first line of @text containing @mark. */
static int
line_of(const char *text, const char *mark)
{
	const char *at = strstr(text, mark), *p;
	int line = 1;

	if (at == NULL)
		fail_msg("line_of: '%s' not in the text", mark);
	for (p = text; p < at; p++)
		if (*p == '\n')
			line++;
	return line;
}

/* Check @err says "test.yaml:<one of lines>: ...@what...". */
static void
check_err(const struct lethe_err *err, int line1, int line2, const char *what)
{
	char p1[32], p2[32];

	assert_int_equal(err->rc, LETHE_E_DATAMAP);
	snprintf(p1, sizeof(p1), "test.yaml:%d: ", line1);
	snprintf(p2, sizeof(p2), "test.yaml:%d: ", line2);
	if (strncmp(err->msg, p1, strlen(p1)) != 0 && strncmp(err->msg, p2, strlen(p2)) != 0) {
		if (line1 == line2)
			fail_msg("expected the error at line %d, got: %s", line1, err->msg);
		fail_msg("expected the error at line %d or %d, got: %s", line1, line2, err->msg);
	}
	if (what != NULL && strstr(err->msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, err->msg);
}

/* Load @text: must fail at one of the lines with @what in the message. */
static void
load_fails2(const char *text, int line1, int line2, const char *what)
{
	struct lethe_err err;
	struct datamap *dm;

	memset(&err, 0, sizeof(err));
	dm = datamap_load("test.yaml", text, &err);
	if (dm != NULL) {
		datamap_free(dm);
		fail_msg("the map loaded, expected an error%s%s%s", what ? " with '" : "",
		         what ? what : "", what ? "'" : "");
	}
	check_err(&err, line1, line2, what);
}

/* The base map with @from replaced by @to must fail at the "# HERE" line. */
static void
edit_fails(const char *from, const char *to, const char *what)
{
	char *text = edit(base_map, from, to);
	int line = line_of(text, "# HERE");

	load_fails2(text, line, line, what);
}

/* The base map up to (not including) "scopes:", then @tail (a scratch buffer). */
static char *
before_scopes(const char *tail)
{
	const char *at = strstr(base_map, "scopes:\n");
	size_t n = (size_t)(at - base_map), nt = strlen(tail);
	char *out = scratch(n + nt + 1);

	memcpy(out, base_map, n);
	memcpy(out + n, tail, nt + 1);
	return out;
}

static struct datamap *
load_ok(const char *text)
{
	struct lethe_err err;
	struct datamap *dm;

	memset(&err, 0, sizeof(err));
	dm = datamap_load("test.yaml", text, &err);
	if (dm == NULL)
		fail_msg("the map did not load: %s", err.msg);
	return dm;
}

static void
edit_loads(const char *from, const char *to)
{
	char *text = edit(base_map, from, to);

	datamap_free(load_ok(text));
}

/* ---- fixture: a temp directory with app.db ----------------------------- */

static int
setup(void **state)
{
	static const char *const scripts[] = {schema, NULL};

	return tu_fixture_setup(state, "datamap", scripts, NULL);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/* Load @text, which must validate against the fixture's database. */
static struct datamap *
validate_ok(struct tu_fixture *f, const char *text)
{
	struct datamap *dm = load_ok(text);
	struct lethe_err err;

	memset(&err, 0, sizeof(err));
	if (datamap_validate(dm, f->db, &err) != LETHE_OK) {
		datamap_free(dm);
		fail_msg("the map did not validate: %s", err.msg);
	}
	return dm;
}

/* Load @text (must load) and validate: must fail at one of the lines with @what. */
static void
validate_fails2(struct tu_fixture *f, const char *text, int line1, int line2, const char *what)
{
	struct datamap *dm = load_ok(text);
	struct lethe_err err;
	lethe_rc rc;

	memset(&err, 0, sizeof(err));
	rc = datamap_validate(dm, f->db, &err);
	datamap_free(dm);
	if (rc == LETHE_OK)
		fail_msg("the map validated, expected an error%s%s%s", what ? " with '" : "",
		         what ? what : "", what ? "'" : "");
	assert_int_equal(rc, LETHE_E_DATAMAP);
	check_err(&err, line1, line2, what);
}

/* The base map edited must validate-fail at the "# HERE" line. */
static void
edit_validate_fails(struct tu_fixture *f, const char *from, const char *to, const char *what)
{
	char *text = edit(base_map, from, to);
	int line = line_of(text, "# HERE");

	validate_fails2(f, text, line, line, what);
}

/* ---- the demo map ------------------------------------------------------ */

static void
test_datamap_demo_loads(void **state)
{
	struct lethe_err err;
	struct datamap *dm;
	const struct dm_table *t;
	const struct dm_scope *s;

	(void)state;
	memset(&err, 0, sizeof(err));
	dm = datamap_load(DEMO_MAP, NULL, &err);
	if (dm == NULL)
		fail_msg("%s: %s", DEMO_MAP, err.msg);
	assert_string_equal(dm->path, DEMO_MAP);
	assert_int_equal(dm->nidentities, 8);
	assert_int_equal(dm->ntables, 16);
	assert_int_equal(dm->nscopes, 3);
	assert_true(datamap_has_identity(dm, "email"));
	assert_true(datamap_has_identity(dm, "instagram_user_id"));
	/* What a mail to the privacy mailbox may name (docs/mail-intake.md). */
	assert_true(datamap_has_identity(dm, "account_name"));
	assert_true(datamap_has_identity(dm, "instagram_username"));
	assert_true(datamap_has_identity(dm, "facebook_page"));
	assert_false(datamap_has_identity(dm, "phone"));

	t = datamap_table(dm, "users");
	assert_non_null(t);
	assert_int_equal(t->index, 0);
	assert_string_equal(t->key, "id");
	assert_string_equal(t->category, "account");
	assert_int_equal(t->action, DM_DELETE);
	assert_int_equal(t->nlinks, 3);
	assert_int_equal(t->links[0].kind, DM_LINK_IDENTITY);
	assert_string_equal(t->links[0].identity, "email");
	assert_string_equal(t->links[0].column, "email");
	assert_string_equal(t->links[2].identity, "account_name");
	assert_string_equal(t->links[2].column, "name");

	t = datamap_table(dm, "channels");
	assert_non_null(t);
	assert_int_equal(t->nlinks, 6);
	assert_int_equal(t->links[0].kind, DM_LINK_PARENT);
	assert_string_equal(t->links[4].identity, "instagram_username");
	assert_string_equal(t->links[4].column, "username");
	assert_string_equal(t->links[4].when[0].values[0].s, "instagram");
	assert_string_equal(t->links[5].identity, "facebook_page");
	assert_ptr_equal(t->links[0].parent, datamap_table(dm, "projects"));
	assert_null(t->links[0].references);
	assert_int_equal(t->links[1].nwhen, 1);
	assert_string_equal(t->links[1].when[0].column, "platform");
	assert_int_equal(t->links[1].when[0].nvalues, 1);
	assert_false(t->links[1].when[0].values[0].is_int);
	assert_string_equal(t->links[1].when[0].values[0].s, "instagram");
	assert_int_equal(t->ntokens, 2);
	assert_string_equal(t->tokens[1], "refresh_token");

	t = datamap_table(dm, "media");
	assert_non_null(t);
	assert_int_equal(t->nmedia, 1);
	assert_string_equal(t->media[0], "storage_key");
	assert_true(t->ttl.present);
	assert_string_equal(t->ttl.column, "created_at");
	assert_int_equal(t->ttl.after, 30 * 86400);
	assert_int_equal(t->ttl.action, DM_DELETE);
	assert_int_equal(t->ttl.nwhen, 1);
	assert_true(t->ttl.when[0].values[0].is_int);
	assert_int_equal(t->ttl.when[0].values[0].i, 1);

	t = datamap_table(dm, "preview_links");
	assert_non_null(t);
	assert_int_equal(t->ttl.after, 24 * 3600);

	t = datamap_table(dm, "request_logs");
	assert_non_null(t);
	assert_int_equal(t->action, DM_ANONYMIZE);
	assert_int_equal(t->nanon, 3);
	assert_int_equal(t->anon[0].how, DM_ANON_NULL);
	assert_int_equal(t->anon[2].how, DM_ANON_SET);
	assert_string_equal(t->anon[2].column, "user_agent");
	assert_string_equal(t->anon[2].set.s, "[removed]");

	t = datamap_table(dm, "invoices");
	assert_non_null(t);
	assert_int_equal(t->action, DM_RETAIN);
	assert_int_equal(t->retain_for, (int64_t)10 * 365 * 86400);
	assert_string_equal(t->retain_from, "issued_at");
	assert_non_null(strstr(t->reason, "tax records"));
	assert_int_equal(t->nanon, 3);
	assert_int_equal(t->anon[1].how, DM_ANON_HASH);

	assert_null(datamap_table(dm, "nosuch"));

	s = datamap_scope(dm, "account");
	assert_non_null(s);
	assert_true(s->all);
	assert_true(dm_scope_has_table(s, datamap_table(dm, "invoices")));
	assert_true(dm_scope_has_identity(s, "email"));
	assert_false(dm_scope_has_identity(s, "meta_asid"));
	s = datamap_scope(dm, "meta");
	assert_non_null(s);
	assert_false(s->all);
	assert_int_equal(s->ntables, 7);
	assert_true(dm_scope_has_table(s, datamap_table(dm, "messages")));
	assert_false(dm_scope_has_table(s, datamap_table(dm, "users")));
	assert_false(dm_scope_has_table(s, datamap_table(dm, "posts")));
	assert_true(dm_scope_has_identity(s, "instagram_user_id"));
	assert_false(dm_scope_has_identity(s, "email"));
	assert_null(datamap_scope(dm, "nosuch"));

	assert_string_equal(dm_action_str(DM_DELETE), "delete");
	assert_string_equal(dm_action_str(DM_ANONYMIZE), "anonymize");
	assert_string_equal(dm_action_str(DM_RETAIN), "retain");
	datamap_free(dm);
	datamap_free(NULL);
}

/* The demo map validates against the demo app's own database. */
static void
test_datamap_demo_validates(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	struct datamap *dm;
	struct appdb *db;

	memset(&err, 0, sizeof(err));
	db = tu_demo_open(f->dir, 2);
	dm = datamap_load(DEMO_MAP, NULL, &err);
	assert_non_null(dm);
	if (datamap_validate(dm, db, &err) != LETHE_OK)
		fail_msg("validate: %s", err.msg);
	datamap_free(dm);
	appdb_close(db);
}

static void
test_datamap_missing_file(void **state)
{
	struct lethe_err err;

	(void)state;
	memset(&err, 0, sizeof(err));
	assert_null(datamap_load("/nonexistent/datamap.yaml", NULL, &err));
	/* A map that cannot be read is a data map problem (exit status 3). */
	assert_int_equal(err.rc, LETHE_E_DATAMAP);
	assert_non_null(strstr(err.msg, "/nonexistent/datamap.yaml"));
}

/* ---- the base map loads, and what it holds ----------------------------- */

static void
test_datamap_base_loads(void **state)
{
	struct datamap *dm;
	const struct dm_table *t;

	(void)state;
	dm = load_ok(base_map);
	assert_string_equal(dm->path, "test.yaml");
	assert_int_equal(dm->ntables, 7);
	assert_int_equal(dm->nscopes, 2);
	t = datamap_table(dm, "users");
	assert_null(t->key); /* defaulted by validate */
	assert_int_equal(t->line, line_of(base_map, "  users:"));
	t = datamap_table(dm, "projects");
	assert_string_equal(t->key, "id");
	assert_ptr_equal(t->links[0].parent, datamap_table(dm, "users"));
	assert_string_equal(t->links[0].parent_name, "users");
	t = datamap_table(dm, "request_logs");
	assert_int_equal(t->anon[1].how, DM_ANON_HASH);
	assert_int_equal(t->anon[1].line, line_of(base_map, "        ip: hash"));
	t = datamap_table(dm, "invoices");
	assert_string_equal(t->reason, "Tax law: kept for 10 years");
	assert_false(t->ttl.present);
	datamap_free(dm);
}

/* Condition values: plain integers are INT, quoted ones and words TEXT; lists. */
static void
test_datamap_condition_values(void **state)
{
	char *text;
	struct datamap *dm;
	const struct dm_cond *c;

	(void)state;
	text = edit(base_map, "        when: {platform: instagram}\n",
	            "        when: {platform: [instagram, \"7\", 42, -3, 0x10, 1.5]}\n");
	dm = load_ok(text);
	c = &datamap_table(dm, "channels")->links[1].when[0];
	assert_int_equal(c->nvalues, 6);
	assert_false(c->values[0].is_int);
	assert_string_equal(c->values[0].s, "instagram");
	assert_false(c->values[1].is_int); /* quoted */
	assert_string_equal(c->values[1].s, "7");
	assert_true(c->values[2].is_int);
	assert_int_equal(c->values[2].i, 42);
	assert_true(c->values[3].is_int);
	assert_int_equal(c->values[3].i, -3);
	assert_false(c->values[4].is_int);
	assert_false(c->values[5].is_int);
	assert_string_equal(c->values[5].s, "1.5");
	datamap_free(dm);
}

/* ---- invalid maps: structure ------------------------------------------- */

static void
test_datamap_empty_and_syntax(void **state)
{
	(void)state;
	load_fails2("", 1, 1, "empty");
	load_fails2("# only a comment\n", 1, 1, "empty");
	load_fails2("version: 1\ntables: [a, b\n", 3, 3, "YAML syntax error");
	load_fails2("- a\n- b\n", 1, 1, "must be a mapping");
	load_fails2("just text\n", 1, 1, "must be a mapping");
}

static void
test_datamap_unknown_top_level_key(void **state)
{
	(void)state;
	edit_fails("version: 1\n", "version: 1\nretention: 30d  # HERE\n",
	           "unknown key 'retention' in the data map");
	edit_fails("scopes:\n", "scope:  # HERE\n", "unknown key 'scope'");
}

static void
test_datamap_missing_version(void **state)
{
	(void)state;
	load_fails2(base_map + strlen("version: 1\n"), 1, 1, "version: 1");
	edit_fails("version: 1\n", "version: 2  # HERE\n", "version: 1");
	edit_fails("version: 1\n", "version: [1]  # HERE\n", "version: 1");
	/* "1" quoted is still version 1. */
	edit_loads("version: 1\n", "version: \"1\"\n");
}

static void
test_datamap_identities_section(void **state)
{
	(void)state;
	load_fails2("version: 1\nidentities: []\n", 2, 2, "'identities' must map");
	load_fails2("version: 1\ntables: {}\n", 1, 1, "'identities' must map");
	edit_fails("  email: \"sign-in address\"\n", "  e-mail: \"sign-in address\"  # HERE\n",
	           "not a plain identifier");
}

static void
test_datamap_tables_section(void **state)
{
	(void)state;
	edit_fails("  users:\n    category: account\n",
	           "  users-x:  # HERE\n    category: account\n",
	           "table name 'users-x' is not a plain identifier");
	edit_fails("  projects:\n    key: id\n    category: account\n    links:\n"
	           "      - parent: users\n        column: user_id\n    erase: delete\n",
	           "  projects: []  # HERE\n", "table 'projects' must be a mapping");
	/* No tables at all. */
	load_fails2("version: 1\nidentities: {email: e}\ntables: {}\nscopes: {}\n", 3, 3,
	            "'tables' must map");
	load_fails2("version: 1\nidentities: {email: e}\n", 1, 1, "'tables' must map");
}

static void
test_datamap_unknown_key_in_table(void **state)
{
	(void)state;
	edit_fails("    erase: delete\n  projects:\n",
	           "    eras: delete  # HERE\n    erase: delete\n  projects:\n",
	           "unknown key 'eras' in a table");
	edit_fails("    tokens: [access_token]\n", "    token: [access_token]  # HERE\n",
	           "unknown key 'token'");
}

static void
test_datamap_unknown_key_in_link_erase_ttl_scope(void **state)
{
	(void)state;
	edit_fails("      - parent: users\n        column: user_id\n    erase: delete\n",
	           "      - parent: users\n        column: user_id\n"
	           "        refrences: id  # HERE\n    erase: delete\n",
	           "unknown key 'refrences' in link");
	edit_fails("      from: issued_at\n", "      form: issued_at  # HERE\n",
	           "unknown key 'form' in erase");
	edit_fails("    ttl: {column: created_at, after: 30d}\n",
	           "    ttl: {column: created_at, afer: 30d}  # HERE\n",
	           "unknown key 'afer' in ttl");
	edit_fails("    tables: all\n", "    tables: all\n    table: all  # HERE\n",
	           "unknown key 'table' in a scope");
}

static void
test_datamap_table_without_links(void **state)
{
	char *text;
	int l;

	(void)state;
	/* Missing: the error points at the table (its name or its first key). */
	text = edit(base_map,
	            "    category: messages\n    links:\n      - parent: channels\n"
	            "        column: channel_id\n",
	            "    category: messages\n");
	l = line_of(text, "  messages:");
	load_fails2(text, l, l + 1, "table 'messages' needs 'links'");
	/* Empty list. */
	edit_fails("    category: messages\n    links:\n      - parent: channels\n"
	           "        column: channel_id\n",
	           "    category: messages\n    links: []  # HERE\n", "needs 'links'");
}

static void
test_datamap_table_without_category(void **state)
{
	char *text;
	int l;

	(void)state;
	text = edit(base_map, "  messages:\n    category: messages\n", "  messages:\n");
	l = line_of(text, "  messages:");
	load_fails2(text, l, l + 1, "needs a 'category'");
}

/* A table without 'erase' is an error at the table (not at line 0). */
static void
test_datamap_table_without_erase(void **state)
{
	char *text;
	int l;

	(void)state;
	text = edit(base_map, "        column: channel_id\n    erase: delete\n",
	            "        column: channel_id\n");
	l = line_of(text, "  messages:");
	load_fails2(text, l, l + 1, "needs 'erase'");
}

/* ---- invalid maps: links ----------------------------------------------- */

static void
test_datamap_link_identity_and_parent(void **state)
{
	(void)state;
	edit_fails("      - parent: users\n        column: user_id\n    erase: delete\n",
	           "      - parent: users  # HERE\n        identity: email\n"
	           "        column: user_id\n    erase: delete\n",
	           "exactly one of 'identity' or 'parent'");
	/* Neither. */
	edit_fails("      - parent: users\n        column: user_id\n    erase: delete\n",
	           "      - column: user_id  # HERE\n    erase: delete\n",
	           "exactly one of 'identity' or 'parent'");
	/* Not a mapping. */
	edit_fails("      - parent: users\n        column: user_id\n    erase: delete\n",
	           "      - users  # HERE\n    erase: delete\n", "a link must be a mapping");
}

static void
test_datamap_link_without_column(void **state)
{
	(void)state;
	edit_fails("      - parent: users\n        column: user_id\n    erase: delete\n",
	           "      - parent: users  # HERE\n    erase: delete\n", "a link needs 'column'");
	edit_fails("      - parent: users\n        column: user_id\n    erase: delete\n",
	           "      - parent: users\n        column: user id  # HERE\n    erase: delete\n",
	           "not a plain identifier");
}

static void
test_datamap_link_references_on_identity(void **state)
{
	(void)state;
	edit_fails("      - identity: channel_id\n        column: id\n",
	           "      - identity: channel_id  # HERE\n        column: id\n"
	           "        references: id\n",
	           "'references' belongs to parent links only");
}

static void
test_datamap_undeclared_identity(void **state)
{
	(void)state;
	edit_fails("      - identity: channel_id\n", "      - identity: phone  # HERE\n",
	           "identity 'phone' is not declared");
}

static void
test_datamap_parent_not_mapped(void **state)
{
	(void)state;
	edit_fails("      - parent: channels\n", "      - parent: teams  # HERE\n",
	           "parent 'teams', which is not mapped");
}

static void
test_datamap_bad_when(void **state)
{
	(void)state;
	edit_fails("        when: {platform: instagram}\n", "        when: {}  # HERE\n",
	           "'when' must map columns to values");
	edit_fails("        when: {platform: instagram}\n", "        when: [platform]  # HERE\n",
	           "'when' must map columns to values");
	edit_fails("        when: {platform: instagram}\n", "        when: {platform: ~}  # HERE\n",
	           "needs a value");
	edit_fails("        when: {platform: instagram}\n",
	           "        when: {platform: []}  # HERE\n", "needs a value");
	edit_fails("        when: {platform: instagram}\n",
	           "        when: {platform: [a, [b]]}  # HERE\n", "must be scalars");
	edit_fails("        when: {platform: instagram}\n",
	           "        when: {\"plat form\": x}  # HERE\n", "not a plain identifier");
}

/* ---- invalid maps: cycles ---------------------------------------------- */

static const char cycle_head[] = "version: 1\n"
                                 "identities:\n"
                                 "  email: \"e\"\n"
                                 "tables:\n"
                                 "  root:\n"
                                 "    category: account\n"
                                 "    links:\n"
                                 "      - identity: email\n"
                                 "        column: email\n"
                                 "    erase: delete\n";

static const char cycle_tail[] = "scopes:\n"
                                 "  account:\n"
                                 "    description: \"d\"\n"
                                 "    identities: [email]\n"
                                 "    tables: all\n";

static char *
cycle_map(const char *tables)
{
	size_t n = strlen(cycle_head) + strlen(tables) + strlen(cycle_tail) + 1;
	char *s = scratch(n);

	snprintf(s, n, "%s%s%s", cycle_head, tables, cycle_tail);
	return s;
}

static void
test_datamap_cycle(void **state)
{
	char *text;

	(void)state;
	text = cycle_map("  a:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - identity: email\n"
	                 "        column: email\n"
	                 "      - parent: b  # LINK-A\n"
	                 "        column: b_id\n"
	                 "    erase: delete\n"
	                 "  b:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - parent: a  # LINK-B\n"
	                 "        column: a_id\n"
	                 "    erase: delete\n");
	/* Either link of the cycle is a fair place to report it. */
	load_fails2(text, line_of(text, "# LINK-A"), line_of(text, "# LINK-B"),
	            "cycle in parent links");

	/* Longer: c -> d -> e -> c, with root and an innocent child of c. */
	text = cycle_map("  kid:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - parent: c\n"
	                 "        column: c_id\n"
	                 "    erase: delete\n"
	                 "  c:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - parent: root\n"
	                 "        column: root_id\n"
	                 "      - parent: d  # LINK\n"
	                 "        column: d_id\n"
	                 "    erase: delete\n"
	                 "  d:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - parent: e  # LINK\n"
	                 "        column: e_id\n"
	                 "    erase: delete\n"
	                 "  e:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - parent: c  # LINK\n"
	                 "        column: c_id\n"
	                 "    erase: delete\n");
	{
		struct lethe_err err;
		struct datamap *dm;
		int l1 = line_of(text, "- parent: d"), l2 = line_of(text, "- parent: e"),
		    l3 = line_of(text, "- parent: c  #");
		char p1[32], p2[32], p3[32];

		memset(&err, 0, sizeof(err));
		dm = datamap_load("test.yaml", text, &err);
		assert_null(dm);
		assert_int_equal(err.rc, LETHE_E_DATAMAP);
		assert_non_null(strstr(err.msg, "cycle in parent links"));
		snprintf(p1, sizeof(p1), "test.yaml:%d: ", l1);
		snprintf(p2, sizeof(p2), "test.yaml:%d: ", l2);
		snprintf(p3, sizeof(p3), "test.yaml:%d: ", l3);
		if (strncmp(err.msg, p1, strlen(p1)) != 0 &&
		    strncmp(err.msg, p2, strlen(p2)) != 0 && strncmp(err.msg, p3, strlen(p3)) != 0)
			fail_msg("cycle reported outside the cycle: %s", err.msg);
	}
}

static void
test_datamap_self_cycle(void **state)
{
	char *text;
	int l;

	(void)state;
	text = cycle_map("  tree:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - identity: email\n"
	                 "        column: email\n"
	                 "      - parent: tree  # HERE\n"
	                 "        column: parent_id\n"
	                 "    erase: delete\n");
	l = line_of(text, "# HERE");
	load_fails2(text, l, l, "cycle in parent links");
}

/* A diamond (two paths to the same parent) is not a cycle. */
static void
test_datamap_diamond_is_not_cycle(void **state)
{
	char *text;

	(void)state;
	text = cycle_map("  left:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - parent: root\n"
	                 "        column: root_id\n"
	                 "    erase: delete\n"
	                 "  right:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - parent: root\n"
	                 "        column: root_id\n"
	                 "    erase: delete\n"
	                 "  bottom:\n"
	                 "    category: other\n"
	                 "    links:\n"
	                 "      - parent: left\n"
	                 "        column: left_id\n"
	                 "      - parent: right\n"
	                 "        column: right_id\n"
	                 "      - parent: root\n"
	                 "        column: root_id\n"
	                 "    erase: delete\n");
	datamap_free(load_ok(text));
}

/* ---- invalid maps: erase and ttl --------------------------------------- */

static void
test_datamap_bad_duration(void **state)
{
	(void)state;
	edit_fails("      for: 10y\n", "      for: 10 years  # HERE\n",
	           "bad duration for retain 'for': '10 years'");
	edit_fails("      for: 10y\n", "      for: 0d  # HERE\n", "bad duration");
	edit_fails("      for: 10y\n", "      for: [10y]  # HERE\n", "bad duration");
	edit_fails("    ttl: {column: created_at, after: 30d}\n",
	           "    ttl: {column: created_at, after: 30x}  # HERE\n",
	           "bad duration for ttl 'after': '30x'");
	edit_fails("    ttl: {column: created_at, after: 30d}\n",
	           "    ttl: {column: created_at, after: -1d}  # HERE\n", "bad duration");
	edit_fails("    ttl: {column: created_at, after: 30d}\n",
	           "    ttl: {column: created_at, after: 99999999999999999999y}  # HERE\n",
	           "bad duration");
}

static void
test_datamap_retain_without_reason(void **state)
{
	(void)state;
	edit_fails("      action: retain\n      reason: \"Tax law: kept for 10 years\"\n",
	           "      action: retain  # HERE\n", "retain needs a 'reason'");
	edit_fails("      action: retain\n      reason: \"Tax law: kept for 10 years\"\n",
	           "      action: retain  # HERE\n      reason: \"\"\n", "retain needs a 'reason'");
	edit_fails("      action: retain\n      reason: \"Tax law: kept for 10 years\"\n",
	           "      action: retain  # HERE\n      reason: [a]\n", "retain needs a 'reason'");
}

static void
test_datamap_retain_without_for(void **state)
{
	(void)state;
	edit_fails("      action: retain\n      reason: \"Tax law: kept for 10 years\"\n"
	           "      for: 10y\n",
	           "      action: retain  # HERE\n      reason: \"Tax law: kept for 10 years\"\n",
	           "retain needs 'for'");
}

static void
test_datamap_anonymize_without_columns(void **state)
{
	(void)state;
	edit_fails("      action: anonymize\n      columns:\n        user_id: null\n"
	           "        ip: hash\n        user_agent: {set: \"[removed]\"}\n",
	           "      action: anonymize  # HERE\n", "anonymize needs 'columns'");
	edit_fails("      action: anonymize\n      columns:\n        user_id: null\n"
	           "        ip: hash\n        user_agent: {set: \"[removed]\"}\n",
	           "      action: anonymize\n      columns: {}  # HERE\n", "'columns' must map");
	/* The short form needs details. */
	edit_fails("    erase:\n      action: anonymize\n      columns:\n        user_id: null\n"
	           "        ip: hash\n        user_agent: {set: \"[removed]\"}\n",
	           "    erase: anonymize  # HERE\n", "needs details");
	edit_fails(
	    "    erase:\n      action: retain\n      reason: \"Tax law: kept for 10 years\"\n"
	    "      for: 10y\n      from: issued_at\n      columns:\n        user_id: null\n"
	    "        email: hash\n",
	    "    erase: retain  # HERE\n", "needs details");
}

static void
test_datamap_bad_anonymize_column(void **state)
{
	(void)state;
	edit_fails("        ip: hash\n", "        ip: sha1  # HERE\n", "write null, hash or {set");
	edit_fails("        ip: hash\n", "        ip: {set: ~}  # HERE\n", "'set' needs a value");
	edit_fails("        ip: hash\n", "        ip: {sett: x}  # HERE\n",
	           "unknown key 'sett' in column action");
	edit_fails("        ip: hash\n", "        ip: [null]  # HERE\n", "write null, hash or");
	/* A quoted "null" is a value, not null: not valid as a bare action. */
	edit_fails("        ip: hash\n", "        ip: \"null\"  # HERE\n", "write null, hash or");
	/* Alternative nulls and set values. */
	edit_loads("        ip: hash\n", "        ip: ~\n");
	edit_loads("        ip: hash\n", "        ip:\n");
	edit_loads("        ip: hash\n", "        ip: {set: 0}\n");
	edit_loads("        ip: hash\n", "        ip: {set: \"\"}\n");
}

static void
test_datamap_unknown_erase_action(void **state)
{
	(void)state;
	edit_fails("    erase: delete\n  projects:\n", "    erase: destroy  # HERE\n  projects:\n",
	           "unknown erase action 'destroy'");
	edit_fails("      action: anonymize\n", "      action: scramble  # HERE\n",
	           "unknown erase action 'scramble'");
	edit_fails("    erase: delete\n  projects:\n", "    erase: [delete]  # HERE\n  projects:\n",
	           "'erase' must be 'delete' or a mapping");
	/* The mapping form of delete works; columns or retain keys on it do not. */
	edit_loads("    erase: delete\n  projects:\n",
	           "    erase: {action: delete}\n  projects:\n");
	edit_fails("    erase: delete\n  projects:\n",
	           "    erase: {action: delete, columns: {email: null}}  # HERE\n  projects:\n",
	           "'columns' does not apply to delete");
	edit_fails("    erase: delete\n  projects:\n",
	           "    erase: {action: delete, reason: x}  # HERE\n  projects:\n",
	           "'reason' belongs to 'action: retain' only");
	edit_fails("      action: anonymize\n", "      action: anonymize\n      for: 1d  # HERE\n",
	           "'for' belongs to 'action: retain' only");
}

static void
test_datamap_media_requires_delete(void **state)
{
	(void)state;
	edit_fails("    media: [storage_key]\n    erase: delete\n",
	           "    media: [storage_key]  # HERE\n"
	           "    erase: {action: anonymize, columns: {storage_key: null}}\n",
	           "media columns, so its erase action must be delete");
	/* A retain keeps the files with their row (they go when the hold ends)... */
	datamap_free(load_ok(edit(base_map, "    media: [storage_key]\n    erase: delete\n",
	                          "    media: [storage_key]\n"
	                          "    erase: {action: retain, reason: r, for: 1y}\n")));
	/* ...but may not rewrite the key that finds them. */
	edit_fails("    media: [storage_key]\n    erase: delete\n",
	           "    media: [storage_key]\n"
	           "    erase: {action: retain, reason: r, for: 1y, columns: {storage_key: null}}"
	           "  # HERE\n",
	           "media column 'storage_key' cannot be rewritten");
	edit_fails("    media: [storage_key]\n    erase: delete\n",
	           "    media: [storage_key]  # HERE\n    erase: delete\n"
	           "    erase_in: {account: {action: anonymize, columns: {project_id: null}}}\n",
	           "erase action must be delete or retain");
	edit_fails("    media: [storage_key]\n", "    media: storage_key  # HERE\n",
	           "must be a list of names");
}

/* media: a list (store "local") or a mapping column -> store, parallel in media_store. */
static void
test_datamap_media_stores(void **state)
{
	struct datamap *dm;
	const struct dm_table *t;

	(void)state;
	dm = load_ok(edit(base_map, "    media: [storage_key]\n", "    media: [storage_key]\n"));
	t = datamap_table(dm, "media");
	assert_int_equal(t->nmedia, 1);
	assert_string_equal(t->media_store[0], "local");
	assert_string_equal(dm_media_store(t, 0), "local");
	datamap_free(dm);
	dm = load_ok(
	    edit(base_map, "    media: [storage_key]\n", "    media: {storage_key: uploads}\n"));
	t = datamap_table(dm, "media");
	assert_int_equal(t->nmedia, 1);
	assert_string_equal(t->media[0], "storage_key");
	assert_string_equal(t->media_store[0], "uploads");
	assert_string_equal(dm_media_store(t, 0), "uploads");
	datamap_free(dm);
	edit_fails("    media: [storage_key]\n", "    media: {storage_key: Up/Loads}  # HERE\n",
	           "a media store name is 1 to 64 of a-z");
	edit_fails("    media: [storage_key]\n", "    media: {storage_key: ''}  # HERE\n",
	           "a media store name");
	edit_fails("    media: [storage_key]\n",
	           "    media: {storage_key: a, storage_key: b}  # HERE\n", "storage_key");
	edit_fails("    media: [storage_key]\n", "    media: {\"bad col\": uploads}  # HERE\n",
	           "not a plain identifier");
}

static void
test_datamap_bad_ttl(void **state)
{
	(void)state;
	edit_fails("    ttl: {column: created_at, after: 30d}\n",
	           "    ttl: {column: created_at}  # HERE\n", "'ttl' needs 'after'");
	edit_fails("    ttl: {column: created_at, after: 30d}\n", "    ttl: 30d  # HERE\n",
	           "'ttl' must be a mapping");
	edit_fails("    ttl: {column: created_at, after: 30d}\n",
	           "    ttl: {column: created_at, after: 30d, action: purge}  # HERE\n",
	           "ttl action must be delete or anonymize");
	/* anonymize needs the table's anonymize columns. */
	edit_fails("    ttl: {column: created_at, after: 30d}\n",
	           "    ttl: {column: created_at, after: 30d, action: anonymize}  # HERE\n",
	           "ttl 'action: anonymize'");
	edit_loads("        user_agent: {set: \"[removed]\"}\n",
	           "        user_agent: {set: \"[removed]\"}\n"
	           "    ttl: {column: ip, after: 1w, action: anonymize, when: {ip: [a, b]}}\n");
	edit_fails("    ttl: {column: created_at, after: 30d}\n",
	           "    ttl: {column: created_at, after: 30d, when: {}}  # HERE\n",
	           "'when' must map");
}

/* A ttl without 'column' points at the ttl (not at line 0). */
static void
test_datamap_ttl_without_column(void **state)
{
	(void)state;
	edit_fails("    ttl: {column: created_at, after: 30d}\n", "    ttl: {after: 30d}  # HERE\n",
	           "ttl column");
}

/* ---- invalid maps: categories ------------------------------------------ */

static void
test_datamap_unknown_category(void **state)
{
	(void)state;
	edit_fails("    category: billing\n", "    category: secrets  # HERE\n",
	           "unknown category 'secrets'");
	/* Case matters. */
	edit_fails("    category: billing\n", "    category: Billing  # HERE\n",
	           "unknown category 'Billing'");
	edit_fails("    category: billing\n", "    category: [billing]  # HERE\n",
	           "category must be text");
}

static void
test_datamap_declared_category(void **state)
{
	char *text, *text2;
	struct datamap *dm;

	(void)state;
	text = edit(base_map, "tables:\n", "categories: [secrets, payments-eu]\ntables:\n");
	text2 = edit(text, "    category: billing\n", "    category: payments-eu\n");
	dm = load_ok(text2);
	assert_string_equal(datamap_table(dm, "invoices")->category, "payments-eu");
	/* Built-in categories still work next to declared ones. */
	assert_string_equal(datamap_table(dm, "users")->category, "account");
	datamap_free(dm);

	edit_fails("version: 1\n", "version: 1\ncategories: payments  # HERE\n",
	           "'categories' must be a list");
}

/*
 * A bad item after good ones in 'categories': an error at the item, and
 * (under LeakSanitizer) nothing leaked -- the names already copied must be
 * freed with the list.
 */
static void
test_datamap_categories_bad_item(void **state)
{
	(void)state;
	edit_fails("version: 1\n", "version: 1\ncategories: [payments, \"\"]  # HERE\n",
	           "a category must be a non-empty name");
	edit_fails("version: 1\n",
	           "version: 1\ncategories:\n  - payments\n  - support\n  - [x]  # HERE\n",
	           "a category must be a non-empty name");
}

/* ---- invalid maps: scopes ---------------------------------------------- */

static void
test_datamap_scope_unmapped_table(void **state)
{
	(void)state;
	edit_fails("    tables: [channels, messages]\n", "    tables: [channels, posts]  # HERE\n",
	           "scope 'meta': table 'posts' is not mapped");
	edit_fails("    tables: [channels, messages]\n", "    tables: everything  # HERE\n",
	           "must be a list of names");
}

/* In a block list the error points at the offending item, not the list. */
static void
test_datamap_scope_unmapped_table_block_list(void **state)
{
	(void)state;
	edit_fails("    tables: [channels, messages]\n",
	           "    tables:\n      - channels\n      - messages\n      - posts  # HERE\n",
	           "table 'posts' is not mapped");
}

static void
test_datamap_scope_undeclared_identity(void **state)
{
	(void)state;
	edit_fails("    identities: [instagram_user_id]\n",
	           "    identities: [instagram_user_id, meta_asid]  # HERE\n",
	           "scope 'meta': identity 'meta_asid' is not declared");
	edit_fails("    identities: [instagram_user_id]\n",
	           "    identities: [instagram_user_id, 7up]  # HERE\n", "not a plain identifier");
}

static void
test_datamap_scope_missing_parts(void **state)
{
	char *text;
	int l;

	(void)state;
	edit_fails("  meta:\n    description: \"Meta data\"\n",
	           "  meta:\n    descr: \"Meta data\"  # HERE\n", "unknown key 'descr'");
	edit_fails("  meta:\n    description: \"Meta data\"\n    identities: [instagram_user_id]\n",
	           "  meta:\n    identities: [instagram_user_id]  # HERE\n",
	           "needs a 'description'");
	edit_fails("    description: \"Meta data\"\n    identities: [instagram_user_id]\n",
	           "    description: \"Meta data\"  # HERE\n", "needs 'identities'");
	text = edit(base_map,
	            "    identities: [instagram_user_id]\n    tables: [channels, messages]\n",
	            "    identities: [instagram_user_id]\n");
	l = line_of(text, "  meta:");
	load_fails2(text, l, l + 1, "scope 'meta' needs 'tables'");
	text = before_scopes("scopes: {}  # HERE\n");
	l = line_of(text, "# HERE");
	load_fails2(text, l, l, "'scopes' must map");
	text = before_scopes("");
	load_fails2(text, 1, 1, "'scopes' must map");
}

/* ---- duplicates -------------------------------------------------------- */

static void
test_datamap_table_mapped_twice(void **state)
{
	(void)state;
	/* libyaml does not reject the duplicate key; the loader must ("...twice..."). */
	edit_fails("scopes:\n",
	           "  users:  # HERE\n"
	           "    category: account\n"
	           "    links:\n"
	           "      - identity: email\n"
	           "        column: email\n"
	           "    erase: delete\n"
	           "scopes:\n",
	           "twice");
}

/*
 * YAML duplicate keys elsewhere: lookups (ymap_get) find only the first
 * occurrence, so a second one would be silently ignored; a second top-level
 * 'tables:' block would drop every table in it from erasure.  It must be an
 * error (the map's promise: nothing is ever silently ignored).
 */
static void
test_datamap_duplicate_top_level_key_rejected(void **state)
{
	(void)state;
	edit_fails("scopes:\n",
	           "tables:  # HERE\n"
	           "  secrets:\n"
	           "    category: security\n"
	           "    links:\n"
	           "      - parent: users\n"
	           "        column: user_id\n"
	           "    erase: delete\n"
	           "scopes:\n",
	           NULL);
}

/*
 * The same inside a table and among scopes: a second 'erase:' would lose to
 * the first; a second scope of the same name would be unreachable.
 */
static void
test_datamap_duplicate_key_in_table_rejected(void **state)
{
	(void)state;
	edit_fails("    erase: delete\n  projects:\n",
	           "    erase: delete\n"
	           "    erase: {action: retain, reason: r, for: 1y}  # HERE\n"
	           "  projects:\n",
	           NULL);
}

static void
test_datamap_duplicate_scope_rejected(void **state)
{
	(void)state;
	edit_fails("    tables: [channels, messages]\n",
	           "    tables: [channels, messages]\n"
	           "  account:  # HERE\n"
	           "    description: \"Only the user row\"\n"
	           "    identities: [email]\n"
	           "    tables: [users]\n",
	           NULL);
}

/* ---- validate against the database ------------------------------------- */

static void
test_datamap_validate_ok(void **state)
{
	struct tu_fixture *f = *state;
	struct datamap *dm = validate_ok(f, base_map);

	/* key defaults to the single-column primary key. */
	assert_string_equal(datamap_table(dm, "users")->key, "id");
	assert_string_equal(datamap_table(dm, "messages")->key, "id");
	assert_string_equal(datamap_table(dm, "projects")->key, "id");
	/* Validating twice is harmless. */
	assert_int_equal(datamap_validate(dm, f->db, NULL), LETHE_OK);
	datamap_free(dm);
}

static void
test_datamap_validate_unknown_table(void **state)
{
	struct tu_fixture *f = *state;

	edit_validate_fails(f, "scopes:\n",
	                    "  posts:  # HERE\n"
	                    "    category: content\n"
	                    "    links:\n"
	                    "      - parent: users\n"
	                    "        column: user_id\n"
	                    "    erase: delete\n"
	                    "scopes:\n",
	                    "no table 'posts' in the app database");
}

static void
test_datamap_validate_unknown_link_column(void **state)
{
	struct tu_fixture *f = *state;
	char *text;
	int l;

	/* The link's line or its column's line. */
	text = edit(base_map, "      - parent: users\n        column: user_id\n    erase: delete\n",
	            "      - parent: users  # LINK\n        column: owner_id  # COL\n"
	            "    erase: delete\n");
	l = line_of(text, "# LINK");
	validate_fails2(f, text, l, l + 1, "table 'projects' has no column 'owner_id'");
	/* The message lists the real columns. */
	text = edit(base_map, "      - identity: email\n        column: email\n",
	            "      - identity: email\n        column: mail\n");
	l = line_of(text, "column: mail");
	validate_fails2(f, text, l - 1, l, "(link column; columns: id, email)");
	/* A parent link's 'references' must exist in the parent. */
	text = edit(base_map, "      - parent: users\n        column: user_id\n    erase: delete\n",
	            "      - parent: users  # LINK\n        column: user_id\n"
	            "        references: uid\n    erase: delete\n");
	l = line_of(text, "# LINK");
	validate_fails2(f, text, l, l + 2, "table 'users' has no column 'uid'");
	/* references naming a real column is fine. */
	text = edit(base_map, "      - parent: users\n        column: user_id\n    erase: delete\n",
	            "      - parent: users\n        column: user_id\n"
	            "        references: id\n    erase: delete\n");
	datamap_free(validate_ok(f, text));
}

static void
test_datamap_validate_unknown_when_column(void **state)
{
	struct tu_fixture *f = *state;

	edit_validate_fails(f, "        when: {platform: instagram}\n",
	                    "        when: {platfrom: instagram}  # HERE\n",
	                    "table 'channels' has no column 'platfrom' (condition");
	edit_validate_fails(f, "    ttl: {column: created_at, after: 30d}\n",
	                    "    ttl: {column: created_at, after: 30d, when: {kind: x}}  # HERE\n",
	                    "no column 'kind'");
}

static void
test_datamap_validate_unknown_token_media_columns(void **state)
{
	struct tu_fixture *f = *state;
	char *text;
	int lt, lk;

	/* The table's line or the 'tokens' line. */
	text = edit(base_map, "    tokens: [access_token]\n", "    tokens: [access_tokn]\n");
	lt = line_of(text, "  channels:");
	lk = line_of(text, "tokens:");
	validate_fails2(f, text, lt, lk, "no column 'access_tokn' (token column");
	text = edit(base_map, "    media: [storage_key]\n", "    media: [object_key]\n");
	lt = line_of(text, "  media:\n");
	lk = line_of(text, "    media: [");
	validate_fails2(f, text, lt, lk, "no column 'object_key' (media column");
	text = edit(base_map, "      from: issued_at\n", "      from: issued\n");
	lt = line_of(text, "  invoices:");
	lk = line_of(text, "from: issued");
	validate_fails2(f, text, lt, lk, "no column 'issued'");
}

static void
test_datamap_validate_unknown_anonymize_column(void **state)
{
	struct tu_fixture *f = *state;

	edit_validate_fails(f, "        ip: hash\n", "        ip_addr: hash  # HERE\n",
	                    "no column 'ip_addr' (erase column");
	edit_validate_fails(f, "        email: hash\n", "        name: null  # HERE\n",
	                    "table 'invoices' has no column 'name'");
}

static void
test_datamap_validate_unknown_ttl_column(void **state)
{
	struct tu_fixture *f = *state;

	edit_validate_fails(f, "    ttl: {column: created_at, after: 30d}\n",
	                    "    ttl: {column: received_at, after: 30d}  # HERE\n",
	                    "no column 'received_at' (ttl column");
}

static void
test_datamap_validate_anonymize_key(void **state)
{
	struct tu_fixture *f = *state;

	/* The defaulted key. */
	edit_validate_fails(f, "        user_id: null\n        ip: hash\n",
	                    "        user_id: null\n        id: hash  # HERE\n",
	                    "the key column 'id' cannot be anonymized");
	/* An explicit key. */
	{
		char *t1 = edit(base_map, "  request_logs:\n    category: logs\n",
		                "  request_logs:\n    key: ip\n    category: logs\n");
		char *t2 = edit(t1, "        ip: hash\n", "        ip: hash  # HERE\n");
		int l = line_of(t2, "# HERE");

		validate_fails2(f, t2, l, l, "the key column 'ip' cannot be anonymized");
	}
}

/* A column listed twice: refused when loading or at the latest when validating. */
static void
test_datamap_validate_duplicate_anonymize_column(void **state)
{
	struct tu_fixture *f = *state;
	char *text = edit(base_map, "        user_agent: {set: \"[removed]\"}\n",
	                  "        user_agent: {set: \"[removed]\"}\n"
	                  "        ip: null  # HERE\n");
	int l = line_of(text, "# HERE");
	struct lethe_err err;
	struct datamap *dm;
	lethe_rc rc;

	memset(&err, 0, sizeof(err));
	dm = datamap_load("test.yaml", text, &err);
	if (dm != NULL) {
		rc = datamap_validate(dm, f->db, &err);
		datamap_free(dm);
		if (rc == LETHE_OK)
			fail_msg("column 'ip' listed twice was accepted");
	}
	check_err(&err, l, l, "'ip'");
	assert_non_null(strstr(err.msg, "twice"));
}

static void
test_datamap_validate_key(void **state)
{
	struct tu_fixture *f = *state;
	char *text;
	struct datamap *dm;
	int l;

	/* An explicit key that does not exist. */
	text = edit(base_map, "  projects:\n    key: id\n", "  projects:\n    key: pid\n");
	l = line_of(text, "  projects:");
	validate_fails2(f, text, l, l + 1, "no column 'pid' (key");

	/* No primary key and no 'key'. */
	text = edit(base_map, "scopes:\n",
	            "  events:  # HERE\n"
	            "    category: logs\n"
	            "    links:\n"
	            "      - parent: users\n"
	            "        column: user_id\n"
	            "    erase: delete\n"
	            "scopes:\n");
	l = line_of(text, "# HERE");
	validate_fails2(f, text, l, l, "no 'key' and no single-column primary key");

	/* A composite primary key is not a key either. */
	text = edit(base_map, "scopes:\n",
	            "  pairs:  # HERE\n"
	            "    category: logs\n"
	            "    links:\n"
	            "      - parent: users\n"
	            "        column: user_id\n"
	            "    erase: delete\n"
	            "scopes:\n");
	l = line_of(text, "# HERE");
	validate_fails2(f, text, l, l, "no single-column primary key");

	/* With an explicit key both are fine. */
	text = edit(base_map, "scopes:\n",
	            "  events:\n"
	            "    key: at\n"
	            "    category: logs\n"
	            "    links:\n"
	            "      - parent: users\n"
	            "        column: user_id\n"
	            "    erase: delete\n"
	            "scopes:\n");
	dm = validate_ok(f, text);
	assert_string_equal(datamap_table(dm, "events")->key, "at");
	datamap_free(dm);
}

/* ---- channel disconnect: connection, disconnect effects, unsubscribe ---- */

#define CH_TOKENS "    tokens: [access_token]\n    erase: delete\n  messages:\n"
#define CH_CONN                                                                                    \
	"    tokens: [access_token]\n"                                                             \
	"    connection: {platform: platform, account: platform_user_id, revoke_token: "           \
	"access_token}\n"                                                                          \
	"    disconnect: {set: {platform: gone}}\n"                                                \
	"    erase: delete\n  messages:\n"

static void
test_datamap_disconnect_effects(void **state)
{
	struct tu_fixture *f = *state;
	struct datamap *dm;
	const struct dm_table *m;
	char *text;

	/* The channel table, and an effect on a child table through its parent link. */
	text = edit(base_map, CH_TOKENS, CH_CONN);
	text = edit(text, "        column: channel_id\n    erase: delete\n",
	            "        column: channel_id\n    disconnect: {set: {body: null}, when: {body: "
	            "x}}\n    erase: delete\n");
	dm = validate_ok(f, text);
	assert_non_null(dm->channel);
	assert_string_equal(dm->channel->name, "channels");
	assert_string_equal(dm->channel->conn.revoke_token, "access_token");
	m = datamap_table(dm, "messages");
	assert_non_null(m->disc_link);
	assert_int_equal(m->ndisc, 1);
	assert_int_equal(m->ndisc_when, 1);
	datamap_free(dm);
	/* A table without a link to the channel table names the channel column. */
	text = edit(base_map, CH_TOKENS, CH_CONN);
	text = edit(text, "    media: [storage_key]\n",
	            "    media: [storage_key]\n    disconnect: {column: project_id, set: "
	            "{storage_key: null}}\n");
	datamap_free(validate_ok(f, text));
}

/* Maps from before channel disconnects: 'disconnect: {set}' on the token table alone. */
static void
test_datamap_disconnect_legacy(void **state)
{
	struct datamap *dm;

	(void)state;
	dm = load_ok(edit(base_map, CH_TOKENS,
	                  "    tokens: [access_token]\n    disconnect: {set: {platform: x}}\n"
	                  "    erase: delete\n  messages:\n"));
	assert_null(dm->channel);
	assert_int_equal(datamap_table(dm, "channels")->ndisc, 1);
	datamap_free(dm);
}

static void
test_datamap_disconnect_errors(void **state)
{
	char *text;

	(void)state;
	/* An effect on another table, or with 'when', needs the channel table. */
	text =
	    edit(base_map, "    media: [storage_key]\n",
	         "    media: [storage_key]\n    disconnect: {set: {storage_key: null}}  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "needs the channel table");
	edit_fails(
	    CH_TOKENS,
	    "    tokens: [access_token]\n    disconnect: {set: {platform: x}, when: {platform: "
	    "y}}  # HERE\n    erase: delete\n  messages:\n",
	    "needs the channel table");
	/* revoke_token must be a token column. */
	edit_fails(CH_TOKENS,
	           "    tokens: [access_token]\n    connection: {platform: platform, account: "
	           "platform_user_id,\n      revoke_token: platform}  # HERE\n    erase: delete\n"
	           "  messages:\n",
	           "must be one of the table's 'tokens'");
	/* Unknown keys are refused. */
	edit_fails(CH_TOKENS,
	           "    tokens: [access_token]\n    connection: {platform: platform, account: "
	           "platform_user_id, revoke_token: access_token, secret: x}  # HERE\n"
	           "    erase: delete\n  messages:\n",
	           "unknown key 'secret'");
	/* A table that does not link to the channel table must say which column does. */
	text = edit(base_map, CH_TOKENS, CH_CONN);
	text =
	    edit(text, "    media: [storage_key]\n",
	         "    media: [storage_key]\n    disconnect: {set: {storage_key: null}}  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "does not link to the channel table");
	/* unsubscribe needs a parent link to the channel table. */
	text = edit(base_map, CH_TOKENS, CH_CONN);
	text = edit(text, "    media: [storage_key]\n",
	            "    media: [storage_key]\n    unsubscribe: {account: storage_key}  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "no parent link to the channel table");
}

static void
test_datamap_validate_disconnect_columns(void **state)
{
	struct tu_fixture *f = *state;
	char *text;

	text = edit(base_map, CH_TOKENS,
	            "    tokens: [access_token]\n    connection: {platform: network,  # HERE\n"
	            "      account: platform_user_id, revoke_token: access_token}\n"
	            "    erase: delete\n  messages:\n");
	validate_fails2(f, text, line_of(text, "# HERE"), line_of(text, "# HERE"), "network");
	text = edit(base_map, CH_TOKENS, CH_CONN);
	text = edit(text, "        column: channel_id\n    erase: delete\n",
	            "        column: channel_id\n    disconnect: {set: {state: x}}  # HERE\n"
	            "    erase: delete\n");
	validate_fails2(f, text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	                "no column 'state'");
	text = edit(base_map, CH_TOKENS, CH_CONN);
	text = edit(text, "        column: channel_id\n    erase: delete\n",
	            "        column: channel_id\n    disconnect: {set: {id: 0}}\n"
	            "    erase: delete\n");
	validate_fails2(f, text, line_of(text, "set: {id: 0}"), line_of(text, "set: {id: 0}"),
	                "cannot set the key column");
}

/* ---- erase_in and keep rules --------------------------------------------- */

/* The messages table with @erase (its "erase: delete" line replaced). */
static char *
messages_erase(const char *erase)
{
	return edit(base_map, "        column: channel_id\n    erase: delete\n", erase);
}

static void
test_datamap_erase_in_loads(void **state)
{
	struct datamap *dm;
	const struct dm_table *t;
	const struct dm_erase_set *set;

	(void)state;
	dm = load_ok(
	    messages_erase("        column: channel_id\n"
	                   "    erase:\n"
	                   "      action: delete\n"
	                   "      keep:\n"
	                   "        - when: {body: [x, y]}\n"
	                   "          reason: \"Security\"\n"
	                   "          for: 10d\n"
	                   "    erase_in:\n"
	                   "      meta: {action: retain, reason: \"Recovery\", for: 1d}\n"));
	t = datamap_table(dm, "messages");
	assert_int_equal(t->nerase, 2);
	assert_int_equal(t->action, DM_DELETE);
	set = dm_erase_in(t, datamap_scope(dm, "account"));
	assert_ptr_equal(set, &t->erase[0]);
	assert_int_equal(set->nparts, 2);
	assert_int_equal(set->parts[0].action, DM_RETAIN);
	assert_int_equal(set->parts[0].nwhen, 1);
	assert_int_equal(set->parts[0].when[0].nvalues, 2);
	assert_int_equal(set->parts[0].retain_for, 10 * 86400);
	assert_int_equal(set->parts[1].action, DM_DELETE);
	set = dm_erase_in(t, datamap_scope(dm, "meta"));
	assert_string_equal(set->scope, "meta");
	assert_int_equal(set->nparts, 1);
	assert_string_equal(set->parts[0].reason, "Recovery");
	assert_true(dm_table_retains(t));
	assert_false(dm_table_retains(datamap_table(dm, "users")));
	/* Step names find their part again (the status page reads them). */
	assert_ptr_equal(dm_part_find(dm, "account", "messages#1", NULL), &t->erase[0].parts[0]);
	assert_ptr_equal(dm_part_find(dm, NULL, "messages", NULL), &t->erase[0].parts[1]);
	assert_ptr_equal(dm_part_find(dm, "meta", "messages", NULL), &t->erase[1].parts[0]);
	assert_null(dm_part_find(dm, "account", "messages#2", NULL));
	assert_null(dm_part_find(dm, "account", "messages#x", NULL));
	assert_null(dm_part_find(dm, "account", "nosuch", NULL));
	datamap_free(dm);
}

static void
test_datamap_erase_in_bad_scope(void **state)
{
	char *text;

	(void)state;
	text = messages_erase("        column: channel_id\n    erase: delete\n"
	                      "    erase_in:\n      nosuch: delete  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "erase_in names scope 'nosuch', which is not declared");
	/* A scope that does not act on the table. */
	edit_fails(
	    "        column: id\n    erase: delete\n",
	    "        column: id\n    erase: delete\n"
	    "    erase_in:\n      meta: {action: anonymize, columns: {email: null}}  # HERE\n",
	    "scope 'meta', which does not act on this table");
	edit_fails("        column: id\n    erase: delete\n",
	           "        column: id\n    erase: delete\n    erase_in: [account]  # HERE\n",
	           "'erase_in' must map scope names");
	edit_fails("        column: id\n    erase: delete\n",
	           "        column: id\n    erase: delete\n"
	           "    erase_in:\n      account: keep  # HERE\n",
	           "unknown erase action 'keep'");
	edit_fails("        column: id\n    erase: delete\n",
	           "        column: id\n    erase: delete\n"
	           "    erase_in:\n      account: {action: retain, for: 1d}  # HERE\n",
	           "retain needs a 'reason'");
}

static void
test_datamap_keep_errors(void **state)
{
	char *text;

	(void)state;
	text = messages_erase("        column: channel_id\n"
	                      "    erase:\n      action: delete\n      keep:\n"
	                      "        - {when: {body: x}, for: 10d}  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "retain needs a 'reason'");
	text = messages_erase("        column: channel_id\n"
	                      "    erase:\n      action: delete\n      keep:\n"
	                      "        - {reason: r, for: 10d}  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "a keep rule needs 'when'");
	text =
	    messages_erase("        column: channel_id\n"
	                   "    erase:\n      action: delete\n      keep:\n"
	                   "        - {when: {body: x}, reason: r, for: 10d, action: x}  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "unknown key 'action' in a keep rule");
	text = messages_erase("        column: channel_id\n"
	                      "    erase:\n      action: delete\n      keep: []  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "'keep' must be a list of rules");
	text = messages_erase("        column: channel_id\n"
	                      "    erase:\n      action: delete\n      keep:\n"
	                      "        - {when: {body: x}, reason: r, for: 10d,\n"
	                      "           columns: {body: null}}  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "column 'body' is tested by a keep rule");
}

static void
test_datamap_validate_keep_columns(void **state)
{
	struct tu_fixture *f = *state;
	char *text;

	/* A condition on a column that does not exist. */
	text = messages_erase("        column: channel_id\n"
	                      "    erase:\n      action: delete\n      keep:\n"
	                      "        - when: {level: error}  # HERE\n"
	                      "          reason: r\n          for: 10d\n");
	validate_fails2(f, text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	                "table 'messages' has no column 'level'");
	/* A keep rule's 'from' column. */
	text = messages_erase("        column: channel_id\n"
	                      "    erase:\n      action: delete\n      keep:\n"
	                      "        - when: {body: x}  # HERE\n"
	                      "          reason: r\n          for: 10d\n          from: sent_at\n");
	validate_fails2(f, text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	                "no column 'sent_at'");
	/* A delete ttl shorter than a keep rule's (or a scope's) retention. */
	text = messages_erase("        column: channel_id\n"
	                      "    erase:\n      action: delete\n      keep:\n"
	                      "        - {when: {body: x}, reason: r, for: 90d}\n");
	validate_fails2(f, text, line_of(text, "    ttl:"), line_of(text, "    ttl:"),
	                "shorter than the retention period");
	text = messages_erase("        column: channel_id\n    erase: delete\n"
	                      "    erase_in: {meta: {action: retain, reason: r, for: 90d}}\n");
	validate_fails2(f, text, line_of(text, "    ttl:"), line_of(text, "    ttl:"),
	                "shorter than the retention period");
	/* A hold counted from the erasure (or another column) could outlast the ttl's cut. */
	text = messages_erase("        column: channel_id\n"
	                      "    erase:\n      action: delete\n      keep:\n"
	                      "        - {when: {body: x}, reason: r, for: 10d}\n");
	validate_fails2(f, text, line_of(text, "    ttl:"), line_of(text, "    ttl:"),
	                "the ttl on 'created_at' could delete rows held by the retain of line");
	text = messages_erase("        column: channel_id\n    erase: delete\n"
	                      "    erase_in: {meta: {action: retain, reason: r, for: 1d}}\n");
	validate_fails2(f, text, line_of(text, "    ttl:"), line_of(text, "    ttl:"),
	                "give that retain 'from: created_at'");
	/* A scope's anonymize names a column that does not exist. */
	text = messages_erase("        column: channel_id\n    erase: delete\n"
	                      "    erase_in:\n      meta:\n        action: anonymize\n"
	                      "        columns: {text: null}  # HERE\n");
	validate_fails2(f, text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	                "no column 'text'");
	datamap_free(
	    validate_ok(f, messages_erase("        column: channel_id\n"
	                                  "    erase:\n      action: delete\n      keep:\n"
	                                  "        - {when: {body: x}, reason: r, for: 10d,\n"
	                                  "           from: created_at}\n")));
}

/* ---- effects ------------------------------------------------------------ */

/* @base (a map text) with @tail appended (a scratch buffer). */
static char *
append(const char *base, const char *tail)
{
	size_t nb = strlen(base), nt = strlen(tail);
	char *out = scratch(nb + nt + 1);

	memcpy(out, base, nb);
	memcpy(out + nb, tail, nt + 1);
	return out;
}

/* A valid effects section: a column set and put back, a second table, an integer value. */
#define EFFECTS_OK                                                                                 \
	"effects:\n"                                                                               \
	"  close-account:\n"                                                                       \
	"    description: \"Sign-in is disabled\"\n"                                               \
	"    tables:\n"                                                                            \
	"      request_logs:\n"                                                                    \
	"        set: {user_agent: closing, ip: null}\n"                                           \
	"        undo: {user_agent: open}\n"                                                       \
	"      messages: {set: {body: 0}}\n"                                                       \
	"    revoke: true\n"                                                                       \
	"  hide_invoices:\n"                                                                       \
	"    description: \"Invoices hidden\"\n"                                                   \
	"    tables: {invoices: {set: {email: hidden}, undo: {email: shown}}}\n"

static void
test_datamap_effects_parse(void **state)
{
	const struct dm_effect *e;
	struct datamap *dm;

	(void)state;
	dm = load_ok(append(edit(base_map, CH_TOKENS, CH_CONN), EFFECTS_OK));
	assert_int_equal(dm->neffects, 2);
	e = datamap_effect(dm, "close-account");
	assert_ptr_equal(e, &dm->effects[0]);
	assert_string_equal(e->description, "Sign-in is disabled");
	assert_true(e->revoke);
	assert_int_equal(e->nsets, 2);
	assert_string_equal(e->sets[0].table_name, "request_logs");
	assert_ptr_equal(e->sets[0].table, datamap_table(dm, "request_logs"));
	assert_int_equal(e->sets[0].nset, 2);
	assert_string_equal(e->sets[0].set[0].column, "user_agent");
	assert_int_equal(e->sets[0].set[0].how, DM_ANON_SET);
	assert_string_equal(e->sets[0].set[0].set.s, "closing");
	assert_int_equal(e->sets[0].set[1].how, DM_ANON_NULL);
	assert_int_equal(e->sets[0].nundo, 1);
	assert_string_equal(e->sets[0].undo[0].set.s, "open");
	assert_ptr_equal(e->sets[1].table, datamap_table(dm, "messages"));
	assert_int_equal(e->sets[1].nundo, 0);
	assert_true(e->sets[1].set[0].set.is_int);
	assert_int_equal(e->sets[1].set[0].set.i, 0);
	e = datamap_effect(dm, "hide_invoices");
	assert_non_null(e);
	assert_false(e->revoke);
	assert_null(datamap_effect(dm, "nosuch"));
	datamap_free(dm);
	/* No effects section: none; an effect may only revoke. */
	dm = load_ok(base_map);
	assert_int_equal(dm->neffects, 0);
	assert_null(datamap_effect(dm, "close-account"));
	datamap_free(dm);
	dm = load_ok(append(edit(base_map, CH_TOKENS, CH_CONN),
	                    "effects:\n  revoke-all: {description: \"Grants revoked\", revoke: "
	                    "true}\n"));
	assert_int_equal(dm->effects[0].nsets, 0);
	assert_true(dm->effects[0].revoke);
	datamap_free(dm);
}

/* The base map (with the channel table) and @tail: must fail at "# HERE" with @what. */
static void
effects_fail(const char *tail, const char *what)
{
	char *text = append(edit(base_map, CH_TOKENS, CH_CONN), tail);
	int line = line_of(text, "# HERE");

	load_fails2(text, line, line, what);
}

static void
test_datamap_effects_errors(void **state)
{
	char *text;

	(void)state;
	effects_fail("effects: [close]  # HERE\n", "'effects' must map effect names");
	effects_fail("effects:\n  close account:  # HERE\n    description: x\n    revoke: true\n",
	             "effect name 'close account' must be 1 to 63 letters");
	effects_fail("effects:\n  close:  # HERE\n    revoke: true\n",
	             "effect 'close' needs a 'description'");
	effects_fail("effects:\n  close:\n    description: x\n    revoke: true\n"
	             "    when: {a: b}  # HERE\n",
	             "unknown key 'when' in an effect");
	effects_fail("effects:\n  close:  # HERE\n    description: x\n",
	             "effect 'close' does nothing");
	effects_fail("effects:\n  close:\n    description: x\n    revoke: yes  # HERE\n",
	             "'revoke' must be true or false");
	effects_fail("effects:\n  close:\n    description: x\n    tables:\n"
	             "      accounts: {set: {status: closing}}  # HERE\n",
	             "effect 'close': table 'accounts' is not mapped under 'tables'");
	effects_fail("effects:\n  close:\n    description: x\n    tables:\n"
	             "      request_logs: {undo: {ip: x}}  # HERE\n",
	             "table 'request_logs' needs 'set'");
	effects_fail("effects:\n  close:\n    description: x\n    tables:\n"
	             "      request_logs: {set: {ip: x}, also: {ip: y}}  # HERE\n",
	             "unknown key 'also'");
	effects_fail("effects:\n  close:\n    description: x\n    tables:\n"
	             "      request_logs:\n        set: {ip: x}\n"
	             "        undo: {user_agent: y}  # HERE\n",
	             "'undo' puts back column 'user_agent' of 'request_logs', which its 'set' "
	             "does not change");
	effects_fail("effects:\n  close:\n    description: x\n    tables:\n"
	             "      request_logs:\n        set: {ip: x}\n        undo: []  # HERE\n",
	             "'undo' of table 'request_logs' must map columns");
	effects_fail("effects:\n  close:\n    description: x\n    tables:\n"
	             "      request_logs:\n        set:\n          user_id: null  # HERE\n",
	             "column 'user_id' links the rows of 'request_logs' to a person");
	effects_fail("effects:\n  close:\n    description: x\n    tables:\n"
	             "      request_logs:\n        set: {ip: [a, b]}  # HERE\n",
	             "effect set: column 'ip' needs a value or null");
	effects_fail("effects:\n  close:\n    description: x\n    revoke: true\n"
	             "  close:  # HERE\n    description: y\n    revoke: true\n",
	             "appears twice");
	effects_fail("effects:\n  close:\n    description: x\n    tables:\n"
	             "      request_logs: {set: {ip: x}}\n"
	             "      request_logs: {set: {ip: y}}  # HERE\n",
	             "appears twice");
	/* 'revoke' needs the channel table. */
	text =
	    append(base_map, "effects:\n  close:\n    description: x\n    revoke: true  # HERE\n");
	load_fails2(text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	            "'revoke: true' needs the channel table");
}

static void
test_datamap_validate_effects(void **state)
{
	struct tu_fixture *f = *state;
	char *text;

	datamap_free(validate_ok(f, append(edit(base_map, CH_TOKENS, CH_CONN), EFFECTS_OK)));
	text = append(base_map, "effects:\n  close:\n    description: x\n    tables:\n"
	                        "      users: {set: {status: closing}}  # HERE\n");
	validate_fails2(f, text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	                "table 'users' has no column 'status' (effect column");
	text = append(base_map, "effects:\n  close:\n    description: x\n    tables:\n"
	                        "      request_logs: {set: {id: 0}}  # HERE\n");
	validate_fails2(f, text, line_of(text, "# HERE"), line_of(text, "# HERE"),
	                "effect 'close': table 'request_logs': an effect cannot set the key "
	                "column 'id'");
}

/* The demo map's effect, as the demo's lethe.yaml names it. */
static void
test_datamap_demo_effects(void **state)
{
	const struct dm_effect *e;
	struct lethe_err err;
	struct datamap *dm;

	(void)state;
	memset(&err, 0, sizeof(err));
	dm = datamap_load(DEMO_MAP, NULL, &err);
	if (dm == NULL)
		fail_msg("%s: %s", DEMO_MAP, err.msg);
	e = datamap_effect(dm, "close-account");
	assert_non_null(e);
	assert_true(e->revoke);
	assert_int_equal(e->nsets, 1);
	assert_ptr_equal(e->sets[0].table, datamap_table(dm, "users"));
	assert_string_equal(e->sets[0].set[0].column, "status");
	assert_string_equal(e->sets[0].set[0].set.s, "closing");
	assert_string_equal(e->sets[0].undo[0].set.s, "active");
	datamap_free(dm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_datamap_demo_loads),
	    cmocka_unit_test_setup_teardown(test_datamap_demo_validates, setup, teardown),
	    cmocka_unit_test(test_datamap_missing_file),
	    cmocka_unit_test(test_datamap_base_loads),
	    cmocka_unit_test(test_datamap_condition_values),
	    cmocka_unit_test(test_datamap_empty_and_syntax),
	    cmocka_unit_test(test_datamap_unknown_top_level_key),
	    cmocka_unit_test(test_datamap_missing_version),
	    cmocka_unit_test(test_datamap_identities_section),
	    cmocka_unit_test(test_datamap_tables_section),
	    cmocka_unit_test(test_datamap_unknown_key_in_table),
	    cmocka_unit_test(test_datamap_unknown_key_in_link_erase_ttl_scope),
	    cmocka_unit_test(test_datamap_table_without_links),
	    cmocka_unit_test(test_datamap_table_without_category),
	    cmocka_unit_test(test_datamap_table_without_erase),
	    cmocka_unit_test(test_datamap_link_identity_and_parent),
	    cmocka_unit_test(test_datamap_link_without_column),
	    cmocka_unit_test(test_datamap_link_references_on_identity),
	    cmocka_unit_test(test_datamap_undeclared_identity),
	    cmocka_unit_test(test_datamap_parent_not_mapped),
	    cmocka_unit_test(test_datamap_bad_when),
	    cmocka_unit_test(test_datamap_cycle),
	    cmocka_unit_test(test_datamap_self_cycle),
	    cmocka_unit_test(test_datamap_diamond_is_not_cycle),
	    cmocka_unit_test(test_datamap_bad_duration),
	    cmocka_unit_test(test_datamap_retain_without_reason),
	    cmocka_unit_test(test_datamap_retain_without_for),
	    cmocka_unit_test(test_datamap_anonymize_without_columns),
	    cmocka_unit_test(test_datamap_bad_anonymize_column),
	    cmocka_unit_test(test_datamap_unknown_erase_action),
	    cmocka_unit_test(test_datamap_media_requires_delete),
	    cmocka_unit_test(test_datamap_media_stores),
	    cmocka_unit_test(test_datamap_erase_in_loads),
	    cmocka_unit_test(test_datamap_erase_in_bad_scope),
	    cmocka_unit_test(test_datamap_keep_errors),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_keep_columns, setup, teardown),
	    cmocka_unit_test(test_datamap_bad_ttl),
	    cmocka_unit_test(test_datamap_ttl_without_column),
	    cmocka_unit_test(test_datamap_unknown_category),
	    cmocka_unit_test(test_datamap_declared_category),
	    cmocka_unit_test(test_datamap_categories_bad_item),
	    cmocka_unit_test(test_datamap_scope_unmapped_table),
	    cmocka_unit_test(test_datamap_scope_unmapped_table_block_list),
	    cmocka_unit_test(test_datamap_scope_undeclared_identity),
	    cmocka_unit_test(test_datamap_scope_missing_parts),
	    cmocka_unit_test(test_datamap_table_mapped_twice),
	    cmocka_unit_test(test_datamap_duplicate_top_level_key_rejected),
	    cmocka_unit_test(test_datamap_duplicate_key_in_table_rejected),
	    cmocka_unit_test(test_datamap_duplicate_scope_rejected),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_unknown_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_unknown_link_column, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_unknown_when_column, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_unknown_token_media_columns,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_unknown_anonymize_column, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_unknown_ttl_column, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_anonymize_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_duplicate_anonymize_column, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_datamap_disconnect_effects, setup, teardown),
	    cmocka_unit_test(test_datamap_disconnect_errors),
	    cmocka_unit_test(test_datamap_disconnect_legacy),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_disconnect_columns, setup,
	                                    teardown),
	    cmocka_unit_test(test_datamap_effects_parse),
	    cmocka_unit_test(test_datamap_effects_errors),
	    cmocka_unit_test_setup_teardown(test_datamap_validate_effects, setup, teardown),
	    cmocka_unit_test(test_datamap_demo_effects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
