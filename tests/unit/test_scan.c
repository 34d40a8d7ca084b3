/* SPDX-License-Identifier: MIT */
/*
 * test_scan.c - unit tests of src/engine/scan: what the residual scan counts
 * as residual, kept, and outside the scope, on a seeded SQLite database
 * before and after a (simulated) erasure; its JSON; its errors.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/scan.h"
#include "engine/scan_media.h"
#include "jobs/scan_work.h"
#include "media/media.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/rc.h"
#include "util/yamlutil.h"

static const char schema[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT, name TEXT);"
    "CREATE TABLE projects(id INTEGER PRIMARY KEY, user_id INTEGER);"
    "CREATE TABLE contacts(id INTEGER PRIMARY KEY, project_id INTEGER);"
    "CREATE TABLE channels(id INTEGER PRIMARY KEY, project_id INTEGER);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, channel_id INTEGER);"
    "CREATE TABLE rules(id INTEGER PRIMARY KEY, channel_id INTEGER);"
    "CREATE TABLE invoices(id INTEGER PRIMARY KEY, user_id INTEGER, paid INTEGER);"
    "CREATE TABLE logs(id INTEGER PRIMARY KEY, user_id INTEGER, ip TEXT);"
    "CREATE TABLE newsletter(id INTEGER PRIMARY KEY, email TEXT);"
    "CREATE INDEX i1 ON users(email); CREATE INDEX i2 ON projects(user_id);"
    "CREATE INDEX i3 ON contacts(project_id); CREATE INDEX i4 ON channels(project_id);"
    "CREATE INDEX i5 ON messages(channel_id); CREATE INDEX i6 ON rules(channel_id);"
    "CREATE INDEX i7 ON invoices(user_id); CREATE INDEX i8 ON logs(user_id);"
    "CREATE INDEX i9 ON newsletter(email);";

/*
 * alice (1): projects 10, 11; contacts 2; channel 100 with 2 messages and a
 * rule; invoices 2 (one paid); logs 1; newsletter 1.  bob (2): project 20,
 * one invoice, one newsletter row.
 */
static const char seed[] =
    "INSERT INTO users VALUES (1, 'alice@example.com', 'Alice'), (2, 'bob@example.com', 'B');"
    "INSERT INTO projects VALUES (10, 1), (11, 1), (20, 2);"
    "INSERT INTO contacts VALUES (1, 10), (2, 11), (3, 20);"
    "INSERT INTO channels VALUES (100, 10), (200, 20);"
    "INSERT INTO messages VALUES (1, 100), (2, 100), (3, 200);"
    "INSERT INTO rules VALUES (1, 100), (2, 200);"
    "INSERT INTO invoices VALUES (1, 1, 1), (2, 1, 0), (3, 2, 1);"
    "INSERT INTO logs VALUES (1, 1, '10.0.0.1'), (2, 2, '10.0.0.2');"
    "INSERT INTO newsletter VALUES (1, 'alice@example.com'), (2, 'bob@example.com');";

static const char map_text[] =
    "version: 1\n"
    "identities:\n"
    "  email: \"sign-in address\"\n"
    "  user_id: \"users.id\"\n"
    "  channel_id: \"channels.id\"\n"
    "tables:\n"
    "  users:\n"
    "    category: account\n"
    "    links:\n"
    "      - {identity: email, column: email}\n"
    "      - {identity: user_id, column: id}\n"
    "    erase: delete\n"
    "  projects:\n"
    "    category: account\n"
    "    links:\n"
    "      - {parent: users, column: user_id}\n"
    "    erase: delete\n"
    "  contacts:\n"
    "    category: contacts\n"
    "    links:\n"
    "      - {parent: projects, column: project_id}\n"
    "    erase: delete\n"
    "  channels:\n"
    "    category: meta-sourced\n"
    "    links:\n"
    "      - {parent: projects, column: project_id}\n"
    "      - {identity: channel_id, column: id}\n"
    "    erase: delete\n"
    "  messages:\n"
    "    category: messages\n"
    "    links:\n"
    "      - {parent: channels, column: channel_id}\n"
    "    erase: delete\n"
    "  rules:\n"
    "    category: content\n"
    "    links:\n"
    "      - {parent: channels, column: channel_id}\n"
    "    erase: delete\n"
    "  invoices:\n"
    "    category: billing\n"
    "    links:\n"
    "      - {parent: users, column: user_id}\n"
    "    erase:\n"
    "      action: delete\n"
    "      keep:\n"
    "        - when: {paid: 1}\n"
    "          reason: tax law\n"
    "          for: 10y\n"
    "  logs:\n"
    "    category: logs\n"
    "    links:\n"
    "      - {parent: users, column: user_id}\n"
    "    erase:\n"
    "      action: anonymize\n"
    "      columns: {ip: null}\n"
    "  newsletter:\n"
    "    category: marketing\n"
    "    links:\n"
    "      - {identity: email, column: email}\n"
    "    erase: delete\n"
    "scopes:\n"
    "  account:\n"
    "    description: everything\n"
    "    identities: [email, user_id]\n"
    "    tables: all\n"
    "  forgetful:\n"
    "    description: an account scope that forgot contacts and newsletter\n"
    "    identities: [email, user_id]\n"
    "    tables: [users, projects, channels, messages, rules, invoices, logs]\n"
    "  content:\n"
    "    description: projects and below, the account stays\n"
    "    identities: [email]\n"
    "    tables: [projects, contacts, channels, messages, rules]\n"
    "  channel:\n"
    "    description: what one channel received\n"
    "    identities: [channel_id]\n"
    "    tables: [messages]\n";

static int
setup(void **state)
{
	const char *scripts[] = {schema, seed, NULL};

	return tu_fixture_setup(state, "scan", scripts, map_text);
}

static const struct plan_id alice[] = {{"email", "alice@example.com"}};

/* The entry of @res for table @name and kind @kept/@outside, or NULL. */
static const struct scan_table *
found(const struct scan_result *res, const char *name, bool kept, bool outside)
{
	size_t i;

	for (i = 0; i < res->nfound; i++)
		if (strcmp(res->found[i].table->name, name) == 0 && res->found[i].kept == kept &&
		    res->found[i].outside == outside)
			return &res->found[i];
	return NULL;
}

/* Erase alice as the account scope does, by hand (children first). */
static void
erase_alice(const char *path)
{
	tu_exec_sql(path, "DELETE FROM messages WHERE channel_id = 100;"
	                  "DELETE FROM rules WHERE channel_id = 100;"
	                  "DELETE FROM channels WHERE id = 100;"
	                  "DELETE FROM contacts WHERE project_id IN (10, 11);"
	                  "DELETE FROM invoices WHERE id = 2;"
	                  "UPDATE logs SET ip = NULL, user_id = NULL WHERE id = 1;"
	                  "DELETE FROM newsletter WHERE id = 1;"
	                  "DELETE FROM projects WHERE user_id = 1;");
}

static void
test_scan_before_erasure_is_residual(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result res;
	struct lethe_err err = {0};

	assert_int_equal(scan_run(f->dm, f->db, "account", alice, 1, &res, &err), LETHE_OK);
	assert_true(res.residual);
	assert_non_null(found(&res, "users", false, false));
	assert_int_equal(found(&res, "projects", false, false)->rows, 2);
	assert_int_equal(found(&res, "messages", false, false)->rows, 2);
	/* The paid invoice is kept; the unpaid one is residual. */
	assert_int_equal(found(&res, "invoices", true, false)->rows, 1);
	assert_int_equal(found(&res, "invoices", false, false)->rows, 1);
	assert_int_equal(res.kept, 1);
	/* users 1 + projects 2 + contacts 2 + channels 1 + messages 2 + rules 1 + invoice 1 + logs
	 * 1
	 * + newsletter 1 */
	assert_int_equal(res.rows, 12);
	assert_int_equal(res.tables, 9);
	scan_result_free(&res);
}

static void
test_scan_after_erasure_is_clean_and_kept(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result res;
	struct lethe_err err = {0};

	erase_alice(f->path);
	/* The users row last, with the paid invoice still linked to it: kept, not residual. */
	assert_int_equal(scan_run(f->dm, f->db, "account", alice, 1, &res, &err), LETHE_OK);
	assert_true(res.residual); /* the users row is still there */
	assert_int_equal(res.rows, 1);
	assert_non_null(found(&res, "users", false, false));
	assert_int_equal(found(&res, "invoices", true, false)->rows, 1);
	scan_result_free(&res);
	tu_exec_sql(f->path, "DELETE FROM users WHERE id = 1;");
	assert_int_equal(scan_run(f->dm, f->db, "account", alice, 1, &res, &err), LETHE_OK);
	assert_false(res.residual);
	assert_int_equal(res.rows, 0);
	assert_int_equal(res.nfound, 0);
	scan_result_free(&res);
}

static void
test_scan_anonymize_keeping_the_link_is_residual(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result res;
	struct lethe_err err = {0};
	const struct plan_id id[] = {{"user_id", "1"}};

	erase_alice(f->path);
	/* logs still linked to the (remaining) users row by user_id, its ip not removed: a row
	 * the app wrote after the erasure's batch, not in the part's target form. */
	tu_exec_sql(f->path, "INSERT INTO logs VALUES (3, 1, '10.0.0.9'); DELETE FROM invoices;");
	assert_int_equal(scan_run(f->dm, f->db, "account", id, 1, &res, &err), LETHE_OK);
	assert_true(res.residual);
	assert_int_equal(found(&res, "logs", false, false)->rows, 1);
	assert_false(found(&res, "logs", false, false)->anonymized);
	assert_int_equal(res.anonymized, 0);
	scan_result_free(&res);
	/* Once in target form (ip NULL), the linked row is anonymized, as the map says. */
	tu_exec_sql(f->path, "UPDATE logs SET ip = NULL WHERE id = 3;");
	assert_int_equal(scan_run(f->dm, f->db, "account", id, 1, &res, &err), LETHE_OK);
	assert_int_equal(found(&res, "logs", false, false)->rows, 1);
	assert_true(found(&res, "logs", false, false)->anonymized);
	assert_int_equal(res.anonymized, 1);
	scan_result_free(&res);
}

/*
 * docs/datamap.md's erase_in example: a Meta request anonymizes the channel
 * row (username null, status set, its token nulled, a display name hashed)
 * and keeps platform_user_id, the meta_asid identity it is found by; the
 * account scope deletes it.
 */
static const char meta_schema[] =
    "CREATE TABLE channels(id INTEGER PRIMARY KEY, platform_user_id TEXT, username TEXT,"
    " display TEXT, status TEXT, access_token TEXT);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, channel_id INTEGER);"
    "CREATE INDEX m1 ON channels(platform_user_id); CREATE INDEX m2 ON messages(channel_id);"
    "INSERT INTO channels VALUES (1, '10229000000102', 'alice_fb', 'Alice', 'active', 'tok'),"
    " (2, '10229000000202', 'bob_fb', 'Bob', 'active', 'tok2');"
    "INSERT INTO messages VALUES (1, 1), (2, 1), (3, 2);";

static const char meta_map[] = "version: 1\n"
                               "identities:\n"
                               "  meta_asid: \"app-scoped Facebook id\"\n"
                               "tables:\n"
                               "  channels:\n"
                               "    category: meta-sourced\n"
                               "    links:\n"
                               "      - {identity: meta_asid, column: platform_user_id}\n"
                               "    tokens: [access_token]\n"
                               "    erase: delete\n"
                               "    erase_in:\n"
                               "      meta:\n"
                               "        action: anonymize\n"
                               "        columns: {username: null, status: {set: erased},"
                               " display: hash}\n"
                               "  messages:\n"
                               "    category: messages\n"
                               "    links:\n"
                               "      - {parent: channels, column: channel_id}\n"
                               "    erase: delete\n"
                               "scopes:\n"
                               "  account:\n"
                               "    description: everything\n"
                               "    identities: [meta_asid]\n"
                               "    tables: all\n"
                               "  meta:\n"
                               "    description: a Meta deletion request\n"
                               "    identities: [meta_asid]\n"
                               "    tables: all\n";

static int
setup_meta(void **state)
{
	const char *scripts[] = {meta_schema, NULL};

	return tu_fixture_setup(state, "scanmeta", scripts, meta_map);
}

static void
test_scan_anonymize_in_target_form_is_anonymized(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result res;
	struct lethe_err err = {0};
	const struct plan_id id[] = {{"meta_asid", "10229000000102"}};
	json_t *j;
	char *s;
	const char *undo[] = {"UPDATE channels SET status = 'active' WHERE id = 1;",
	                      "UPDATE channels SET access_token = 'tok3' WHERE id = 1;",
	                      "UPDATE channels SET display = 'Alice' WHERE id = 1;",
	                      "UPDATE channels SET username = 'alice_fb' WHERE id = 1;"};
	const char *redo[] = {"UPDATE channels SET status = 'erased' WHERE id = 1;",
	                      "UPDATE channels SET access_token = NULL WHERE id = 1;",
	                      "UPDATE channels SET display = NULL WHERE id = 1;",
	                      "UPDATE channels SET username = NULL WHERE id = 1;"};
	size_t i;

	/* Before the erasure: the channel row and its messages remain. */
	assert_int_equal(scan_run(f->dm, f->db, "meta", id, 1, &res, &err), LETHE_OK);
	assert_true(res.residual);
	assert_int_equal(res.rows, 3);
	assert_int_equal(res.anonymized, 0);
	scan_result_free(&res);
	/* The erasure as the map says: the row stays, still found by platform_user_id. */
	tu_exec_sql(f->path, "DELETE FROM messages WHERE channel_id = 1;"
	                     "UPDATE channels SET username = NULL, status = 'erased',"
	                     " access_token = NULL,"
	                     " display = 'anon:0123456789abcdef0123456789abcdef' WHERE id = 1;");
	assert_int_equal(scan_run(f->dm, f->db, "meta", id, 1, &res, &err), LETHE_OK);
	assert_false(res.residual);
	assert_int_equal(res.rows, 0);
	assert_int_equal(res.anonymized, 1);
	assert_int_equal(res.nfound, 1);
	assert_true(found(&res, "channels", false, false)->anonymized);
	assert_int_equal(found(&res, "channels", false, false)->rows, 1);
	j = scan_result_json(&res);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "clean");
	assert_int_equal(json_integer_value(json_object_get(j, "anonymized")), 1);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(s, "\"anonymized\":true"));
	assert_null(strstr(s, "10229000000102"));
	free(s);
	json_decref(j);
	scan_result_free(&res);
	/* Any rewritten column not in target form makes the row residual: a set value, a
	 * token, a hashed column holding clear text. */
	for (i = 0; i < sizeof(undo) / sizeof(undo[0]); i++) {
		tu_exec_sql(f->path, undo[i]);
		assert_int_equal(scan_run(f->dm, f->db, "meta", id, 1, &res, &err), LETHE_OK);
		assert_true(res.residual);
		assert_int_equal(res.rows, 1);
		assert_int_equal(res.anonymized, 0);
		assert_false(found(&res, "channels", false, false)->anonymized);
		scan_result_free(&res);
		/* Back in target form (a NULL hashed column included): clean again. */
		tu_exec_sql(f->path, redo[i]);
		assert_int_equal(scan_run(f->dm, f->db, "meta", id, 1, &res, &err), LETHE_OK);
		assert_false(res.residual);
		assert_int_equal(res.anonymized, 1);
		scan_result_free(&res);
	}
	/* The account scope deletes the row: there, the same row is residual. */
	assert_int_equal(scan_run(f->dm, f->db, "account", id, 1, &res, &err), LETHE_OK);
	assert_true(res.residual);
	assert_int_equal(res.anonymized, 0);
	assert_int_equal(found(&res, "channels", false, false)->rows, 1);
	scan_result_free(&res);
}

static void
test_scan_table_the_scope_forgot(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result res;
	struct lethe_err err = {0};

	/* Everything the scope names is gone; contacts and newsletter were left. */
	tu_exec_sql(f->path, "DELETE FROM messages WHERE channel_id = 100;"
	                     "DELETE FROM rules WHERE channel_id = 100;"
	                     "DELETE FROM channels WHERE id = 100;"
	                     "DELETE FROM invoices WHERE user_id = 1;"
	                     "DELETE FROM logs WHERE user_id = 1;");
	/* Before the projects go, contacts hang off them: residual outside the scope. */
	assert_int_equal(scan_run(f->dm, f->db, "forgetful", alice, 1, &res, &err), LETHE_OK);
	assert_true(res.residual);
	assert_int_equal(found(&res, "contacts", false, true)->rows, 2);
	assert_int_equal(found(&res, "newsletter", false, true)->rows, 1);
	scan_result_free(&res);
	/* After: the contacts are orphans no link leads to; the newsletter row is named by email.
	 */
	tu_exec_sql(f->path,
	            "DELETE FROM projects WHERE user_id = 1; DELETE FROM users WHERE id = 1;");
	assert_int_equal(scan_run(f->dm, f->db, "forgetful", alice, 1, &res, &err), LETHE_OK);
	assert_true(res.residual);
	assert_null(found(&res, "contacts", false, true));
	assert_int_equal(found(&res, "newsletter", false, true)->rows, 1);
	assert_int_equal(res.rows, 1);
	scan_result_free(&res);
}

static void
test_scan_outside_tables_left_by_design(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result res;
	struct lethe_err err = {0};
	const struct plan_id chan[] = {{"channel_id", "100"}};

	/* The content scope leaves the account: users, above its tables, is not residual. */
	tu_exec_sql(f->path, "DELETE FROM messages WHERE channel_id = 100;"
	                     "DELETE FROM rules WHERE channel_id = 100;"
	                     "DELETE FROM channels WHERE id = 100;"
	                     "DELETE FROM contacts WHERE project_id IN (10, 11);"
	                     "DELETE FROM projects WHERE user_id = 1;");
	assert_int_equal(scan_run(f->dm, f->db, "content", alice, 1, &res, &err), LETHE_OK);
	assert_null(found(&res, "users", false, true));
	assert_null(found(&res, "invoices", false, true));
	/* ... but the newsletter row, named by the email the scope takes, is. */
	assert_int_equal(found(&res, "newsletter", false, true)->rows, 1);
	scan_result_free(&res);
	/* The channel scope leaves the channel row and its rules (not below an erased table). */
	tu_exec_sql(f->path,
	            "INSERT INTO channels VALUES (100, 10); INSERT INTO rules VALUES (9, 100);");
	assert_int_equal(scan_run(f->dm, f->db, "channel", chan, 1, &res, &err), LETHE_OK);
	assert_false(res.residual);
	assert_int_equal(res.nfound, 0);
	assert_int_equal(res.tables, 1);
	scan_result_free(&res);
}

static void
test_scan_json(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result res;
	struct lethe_err err = {0};
	json_t *j;
	char *s;

	assert_int_equal(scan_run(f->dm, f->db, "forgetful", alice, 1, &res, &err), LETHE_OK);
	j = scan_result_json(&res);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "residual");
	assert_int_equal(json_integer_value(json_object_get(j, "rows")), res.rows);
	assert_int_equal(json_integer_value(json_object_get(j, "kept")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "found")), res.nfound);
	s = json_dumps(j, JSON_COMPACT);
	/* Table names and counts, never a value. */
	assert_null(strstr(s, "alice"));
	assert_non_null(strstr(s, "\"outside\":true"));
	free(s);
	json_decref(j);
	scan_result_free(&res);
}

static void
test_scan_errors(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result res;
	struct lethe_err err = {0};
	const struct plan_id chan[] = {{"channel_id", "100"}};

	assert_int_equal(scan_run(f->dm, f->db, "nope", alice, 1, &res, &err), LETHE_E_USAGE);
	assert_int_equal(res.nfound, 0);
	assert_int_equal(scan_run(f->dm, f->db, "account", chan, 1, &res, &err), LETHE_E_USAGE);
	assert_null(strstr(err.msg, "100"));
	/* The runner's own identities are taken whatever the scope. */
	assert_int_equal(scan_run_any(f->dm, f->db, "account", chan, 1, 0, &res, &err), LETHE_OK);
	assert_true(res.residual);
	assert_non_null(found(&res, "channels", false, false));
	scan_result_free(&res);
}

/* The runner's scan, which `lethe scan` runs too (service_scan()): every id taken. */
static void
test_scan_work_run_is_the_runners_scan(void **state)
{
	struct tu_fixture *f = *state;
	struct scan_result a, b;
	struct lethe_err err = {0};
	const struct plan_id ids[] = {{"email", "alice@example.com"}, {"channel_id", "100"}};

	/* Kinds the scope takes: the same as scan_run(). */
	assert_int_equal(scan_run(f->dm, f->db, "account", ids, 1, &a, &err), LETHE_OK);
	assert_int_equal(scan_work_run(f->dm, f->db, "account", ids, 1, &b, &err), LETHE_OK);
	assert_int_equal(a.rows, b.rows);
	assert_int_equal(a.kept, b.kept);
	assert_int_equal(a.tables, b.tables);
	assert_int_equal(a.nfound, b.nfound);
	scan_result_free(&a);
	scan_result_free(&b);
	/* A kind the scope does not take (a Meta request's channel keys): taken, as the
	 * runner's own. */
	assert_int_equal(scan_run(f->dm, f->db, "account", ids, 2, &a, &err), LETHE_E_USAGE);
	assert_int_equal(scan_work_run(f->dm, f->db, "account", ids, 2, &b, &err), LETHE_OK);
	assert_true(b.residual);
	scan_result_free(&a);
	scan_result_free(&b);
}

/* Append @tail to path @p (@cap bytes). */
static void
path_add(char *p, size_t cap, const char *tail)
{
	size_t n = strlen(p);

	assert_true(n + strlen(tail) < cap);
	memcpy(p + n, tail, strlen(tail) + 1);
}

/* Write @name (bytes "x") under directory @dir, making @dir. */
static void
put(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f;

	(void)mkdir(dir, 0700);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
	free(p);
}

/*
 * The objects a job removed, asked about again: records of two jobs and
 * two local stores, one file written back; counts per store, keys nowhere;
 * the records of other jobs and the ones not yet removed are not asked
 * about; a store lethe.yaml no longer defines fails the scan.
 */
static void
test_scan_media_objects(void **state)
{
	struct tu_store *ts = *state;
	struct lethe_err err = {0};
	struct media_set *set = NULL;
	struct scan_media m;
	struct ydoc y;
	char root[128], other[128];
	int64_t jobs[2] = {7, 8};
	json_t *j;
	char *text;

	snprintf(root, sizeof(root), "%s/media", ts->dir);
	snprintf(other, sizeof(other), "%s/other", ts->dir);
	(void)mkdir(root, 0700);
	(void)mkdir(other, 0700);
	assert_int_equal(ydoc_load(&y, "lethe.yaml",
	                           "media_stores:\n  other:\n    type: local\n    root: other\n",
	                           LETHE_E_CONFIG, &err),
	                 LETHE_OK);
	if (media_set_parse(ts->dir, root, &y, ydoc_root(&y), &set, &err) != LETHE_OK)
		fail_msg("media: %s", err.msg);
	ydoc_free(&y);
	/* Job 7 removed a.jpg and b.jpg (local) and c.jpg (other); job 8 d.jpg (local). */
	assert_int_equal(store_begin(ts->st, &err), LETHE_OK);
	assert_int_equal(store_media_add(ts->st, 7, "media", "local", "u1/a.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_add(ts->st, 7, "media", "local", "u1/b.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_add(ts->st, 7, "posts", "other", "u1/c.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_add(ts->st, 8, "media", "local", "u1/d.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_add(ts->st, 7, "media", "local", "u1/pending.jpg", &err),
	                 LETHE_OK);
	assert_int_equal(store_media_add(ts->st, 9, "media", "local", "u1/e.jpg", &err), LETHE_OK);
	assert_int_equal(store_media_done(ts->st, 7, "media", "local", "u1/a.jpg", true, &err),
	                 LETHE_OK);
	assert_int_equal(store_media_done(ts->st, 7, "media", "local", "u1/b.jpg", true, &err),
	                 LETHE_OK);
	assert_int_equal(store_media_done(ts->st, 7, "posts", "other", "u1/c.jpg", true, &err),
	                 LETHE_OK);
	assert_int_equal(store_media_done(ts->st, 8, "media", "local", "u1/d.jpg", true, &err),
	                 LETHE_OK);
	assert_int_equal(store_media_done(ts->st, 9, "media", "local", "u1/e.jpg", true, &err),
	                 LETHE_OK);
	assert_int_equal(store_commit(ts->st, &err), LETHE_OK);
	/* Written back: b.jpg in local, c.jpg in other; pending.jpg and e.jpg are there too. */
	path_add(root, sizeof(root), "/u1");
	path_add(other, sizeof(other), "/u1");
	put(root, "b.jpg");
	put(root, "pending.jpg");
	put(root, "e.jpg");
	put(other, "c.jpg");

	assert_int_equal(scan_media_run(set, ts->st, jobs, 2, &m, &err), LETHE_OK);
	assert_int_equal(m.checked, 4);
	assert_int_equal(m.present, 2);
	j = scan_media_json(&m);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"checked\":4,\"present\":2,\"stores\":[{\"checked\":3,"
	                          "\"present\":1,\"store\":\"local\"},{\"checked\":1,"
	                          "\"present\":1,\"store\":\"other\"}]}");
	assert_null(strstr(text, ".jpg"));
	free(text);
	json_decref(j);
	scan_media_free(&m);
	/* One job only; a job without records. */
	assert_int_equal(scan_media_run(set, ts->st, jobs + 1, 1, &m, &err), LETHE_OK);
	assert_int_equal(m.checked, 1);
	assert_int_equal(m.present, 0);
	scan_media_free(&m);
	jobs[0] = 0;
	jobs[1] = 42;
	assert_int_equal(scan_media_run(set, ts->st, jobs, 2, &m, &err), LETHE_OK);
	assert_int_equal(m.checked, 0);
	assert_int_equal(m.nstores, 0);
	scan_media_free(&m);
	media_set_free(set);
	/* The store "other" no longer configured: the scan cannot run. */
	set = NULL;
	assert_int_equal(ydoc_load(&y, "lethe.yaml", "{}\n", LETHE_E_CONFIG, &err), LETHE_OK);
	snprintf(root, sizeof(root), "%s/media", ts->dir);
	assert_int_equal(media_set_parse(ts->dir, root, &y, ydoc_root(&y), &set, &err), LETHE_OK);
	ydoc_free(&y);
	jobs[0] = 7;
	assert_int_equal(scan_media_run(set, ts->st, jobs, 1, &m, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "'other'"));
	assert_null(strstr(err.msg, ".jpg"));
	scan_media_free(&m);
	media_set_free(set);
	/* Forgotten: nothing left of job 7. */
	assert_int_equal(store_media_forget(ts->st, 7, &err), LETHE_OK);
	assert_int_equal(scan_media_run(NULL, ts->st, jobs, 1, &m, &err), LETHE_OK);
	assert_int_equal(m.checked, 0);
	scan_media_free(&m);
}

/* The reason of a residual scan: rows, objects, both; counts and names only. */
static void
test_scan_work_reason_with_objects(void **state)
{
	struct store_scan s;
	char *r;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.detail = "{\"found\":[],\"media\":{\"checked\":5,\"present\":2,\"stores\":["
	           "{\"store\":\"local\",\"checked\":3,\"present\":1},"
	           "{\"store\":\"cdn\",\"checked\":1,\"present\":0},"
	           "{\"store\":\"uploads\",\"checked\":1,\"present\":1}]}}";
	r = scan_work_reason(&s);
	assert_string_equal(r, "the residual scan found 1 media object still in store local, 1 "
	                       "media object still in store uploads");
	free(r);
	s.rows = 2;
	s.detail = "{\"found\":[{\"table\":\"logs\",\"rows\":2}],\"media\":{\"checked\":4,"
	           "\"present\":3,\"stores\":[{\"store\":\"local\",\"checked\":4,"
	           "\"present\":3}]}}";
	r = scan_work_reason(&s);
	assert_string_equal(r, "the residual scan found 2 rows in logs; 3 media objects still in "
	                       "store local");
	free(r);
	s.detail = "{\"found\":[{\"table\":\"logs\",\"rows\":2}]}";
	r = scan_work_reason(&s);
	assert_string_equal(r, "the residual scan found 2 rows in logs");
	free(r);
}

static int
store_setup(void **state)
{
	return tu_store_setup(state, "scanm");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scan_before_erasure_is_residual, setup,
	                                    tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_after_erasure_is_clean_and_kept, setup,
	                                    tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_anonymize_keeping_the_link_is_residual, setup,
	                                    tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_anonymize_in_target_form_is_anonymized,
	                                    setup_meta, tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_table_the_scope_forgot, setup,
	                                    tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_outside_tables_left_by_design, setup,
	                                    tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_json, setup, tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_errors, setup, tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_work_run_is_the_runners_scan, setup,
	                                    tu_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_scan_media_objects, store_setup,
	                                    tu_store_teardown),
	    cmocka_unit_test(test_scan_work_reason_with_objects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
