/* SPDX-License-Identifier: MIT */
/*
 * test_secure_delete.c - erased values do not stay in the bytes of the
 * database files, whatever the SQLite build's default for secure_delete.
 *
 * Debian builds SQLite with SQLITE_SECURE_DELETE, upstream does not.  To
 * test as an upstream build would run, main() registers an automatic
 * extension that runs "PRAGMA secure_delete=OFF" on every new connection
 * of this process, before lethe's own setup runs.  Then a person is erased
 * through lethe's own open functions and engine (appdb_open, erase_run;
 * store_open, store_meta_update), the WAL is checkpointed and truncated, and
 * the raw bytes of the files are scanned for the person's values.  The
 * control cases delete the same rows on a plain connection (secure_delete
 * left off) and show that the scan finds them: so the scan can fail.
 */
#include "util/fmacros.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/erase.h"
#include "engine/plan.h"
#include "store/store.h"
#include "testutil.h"
#include "util/hash.h"
#include "util/mem.h"

/* The person's values: each must be gone from the files after the erasure. */
static const char *const secrets[] = {
    "zebulon.quartermaine.3141@example.com", /* users.email */
    "Zebulon Quartermaine-Secret",           /* users.name */
    "17841400000031415",                     /* channels.platform_user_id */
    "zeb_q_secret_handle",                   /* channels.username */
    "EAAGsecretTOKENzebulon3141592653",      /* channels.access_token */
    "private message from zebulon 31415",    /* messages.body */
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT, name TEXT);"
    "CREATE INDEX users_email ON users(email);"
    "CREATE TABLE channels(id INTEGER PRIMARY KEY, user_id INTEGER, platform TEXT,"
    " platform_user_id TEXT, username TEXT, access_token TEXT);"
    "CREATE INDEX channels_user ON channels(user_id);"
    "CREATE INDEX channels_puid ON channels(platform_user_id);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, channel_id INTEGER, body TEXT);"
    "CREATE INDEX messages_channel ON messages(channel_id);"
    "INSERT INTO users VALUES (1, 'other.person@example.com', 'Other Person');"
    "INSERT INTO users VALUES (2, 'zebulon.quartermaine.3141@example.com',"
    " 'Zebulon Quartermaine-Secret');"
    "INSERT INTO users VALUES (3, 'third.person@example.com', 'Third Person');"
    "INSERT INTO channels VALUES (1, 1, 'instagram', '17841400000000001', 'other_handle',"
    " 'EAAGothertoken');"
    "INSERT INTO channels VALUES (2, 2, 'instagram', '17841400000031415',"
    " 'zeb_q_secret_handle', 'EAAGsecretTOKENzebulon3141592653');"
    "INSERT INTO channels VALUES (3, 3, 'instagram', '17841400000000003', 'third_handle',"
    " 'EAAGthirdtoken');"
    "INSERT INTO messages VALUES (1, 1, 'hello from other');"
    "INSERT INTO messages VALUES (2, 2, 'private message from zebulon 31415');"
    "INSERT INTO messages VALUES (3, 3, 'hello from third');";

static const char map_text[] = "version: 1\n"
                               "identities: {email: e}\n"
                               "tables:\n"
                               "  users:\n"
                               "    key: id\n"
                               "    category: account\n"
                               "    links: [{identity: email, column: email}]\n"
                               "    erase: delete\n"
                               "  channels:\n"
                               "    key: id\n"
                               "    category: meta-sourced\n"
                               "    links: [{parent: users, column: user_id}]\n"
                               "    erase: delete\n"
                               "  messages:\n"
                               "    key: id\n"
                               "    category: content\n"
                               "    links: [{parent: channels, column: channel_id}]\n"
                               "    erase: delete\n"
                               "scopes:\n"
                               "  account: {description: d, identities: [email], tables: all}\n";

static const uint8_t key[HASH_KEY_LEN] = {7, 7, 7};

/* The automatic extension: every new connection starts with secure_delete off. */
static int
force_secure_delete_off(sqlite3 *db, const char **msg, const struct sqlite3_api_routines *api)
{
	(void)msg;
	(void)api;
	return sqlite3_exec(db, "PRAGMA secure_delete=OFF", NULL, NULL, NULL);
}

static int
setup(void **state)
{
	static const char *const scripts[] = {schema, NULL};

	return tu_fixture_setup(state, "sdel", scripts, map_text);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/* The whole content of @path into *@len bytes (NULL, *len 0 if it does not exist). */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		if (*len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + *len, 1, cap - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return buf;
}

/* True if the @nl bytes at @needle occur in the @len bytes at @b. */
static bool
contains(const uint8_t *b, size_t len, const char *needle, size_t nl)
{
	for (size_t i = 0; i + nl <= len; i++)
		if (b[i] == (uint8_t)needle[0] && memcmp(b + i, needle, nl) == 0)
			return true;
	return false;
}

/* How many of the @n needles occur in @path, @path-wal or @path-journal. */
static int
found_in_files(const char *path, const char *const *needles, const size_t *lens, size_t n)
{
	static const char *const suffix[] = {"", "-wal", "-journal"};
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		bool hit = false;

		for (size_t s = 0; s < 3 && !hit; s++) {
			char file[512];
			size_t len;
			uint8_t *b;

			snprintf(file, sizeof(file), "%s%s", path, suffix[s]);
			b = slurp(file, &len);
			hit = b != NULL && contains(b, len, needles[i], lens[i]);
			free(b);
		}
		found += hit;
	}
	return found;
}

static int
secrets_found(const char *path)
{
	size_t lens[sizeof(secrets) / sizeof(secrets[0])];

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		lens[i] = strlen(secrets[i]);
	return found_in_files(path, secrets, lens, sizeof(secrets) / sizeof(secrets[0]));
}

/* Checkpoint the WAL of @path into the database and truncate it (a plain connection). */
static void
checkpoint(const char *path)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(h);
}

/* A new connection of this process really starts with secure_delete off. */
static void
test_secure_delete_forced_off(void **state)
{
	struct tu_fixture *f = *state;
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;

	assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA secure_delete", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
}

/* Control: deleting on a plain connection leaves the values in the file's bytes. */
static void
test_secure_delete_off_leaves_bytes(void **state)
{
	struct tu_fixture *f = *state;

	checkpoint(f->path);
	assert_int_equal(secrets_found(f->path), 6);
	tu_exec_sql(f->path, "DELETE FROM messages WHERE channel_id = 2;"
	                     "DELETE FROM channels WHERE user_id = 2;"
	                     "DELETE FROM users WHERE id = 2;");
	checkpoint(f->path);
	/* The rows are gone from the tables but not from the file. */
	assert_true(secrets_found(f->path) > 0);
}

/* An erasure through lethe's connection leaves none of the person's values in app.db. */
static void
test_secure_delete_appdb_erase(void **state)
{
	struct tu_fixture *f = *state;
	struct plan_id id = {"email", secrets[0]};
	struct lethe_err err = {0};
	struct plan *p = NULL;
	struct store *st = NULL;
	struct erase_opts eo;
	struct erase_result res;
	char spath[256];

	checkpoint(f->path);
	assert_int_equal(secrets_found(f->path), 6);
	snprintf(spath, sizeof(spath), "%s/state.db", f->dir);
	assert_int_equal(store_open(spath, &st, &err), LETHE_OK);
	assert_int_equal(plan_build(f->dm, f->db, "account", &id, 1, true, &p, &err), LETHE_OK);
	memset(&eo, 0, sizeof(eo));
	eo.batch_rows = 10;
	eo.max_txn_ms = 1000;
	eo.key = key;
	assert_int_equal(erase_run(p, &id, 1, f->db, st, &eo, &res, &err), LETHE_OK);
	assert_string_equal(res.state, "completed");
	erase_result_free(&res);
	plan_free(p);
	store_close(st);
	checkpoint(f->path);
	assert_int_equal(secrets_found(f->path), 0);
	/* The others are still there (the scan reads the right file). */
	{
		const char *other = "other.person@example.com";
		size_t len = strlen(other);

		assert_int_equal(found_in_files(f->path, &other, &len, 1), 1);
	}
}

/* The sealed identity a request carries, recognisable in the file. */
static const char box_marker[] = "SEALED-IDENTITY-BOX-MARKER-0123456789abcdef";

/*
 * Record a request whose box starts with the marker and finish it; @plain:
 * wipe it on a plain connection.  The box is long: the row rewritten
 * without it is placed at the end of the space the old row freed, so the
 * box's first bytes are left to show whether the freed space was zeroed.
 */
static void
store_wipe(const char *spath, bool plain)
{
	struct lethe_err err = {0};
	struct store *st = NULL;
	uint8_t box[600];
	int64_t id = 0;
	bool added = false;
	size_t len = sizeof(box_marker) - 1;
	const char *needle = box_marker;

	memset(box, 'x', sizeof(box));
	memcpy(box, box_marker, len);

	assert_int_equal(store_open(spath, &st, &err), LETHE_OK);
	assert_int_equal(store_meta_insert_once(st, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	                                        "instagram",
	                                        "anon:0123456789abcdef0123456789abcdef", box,
	                                        sizeof(box), 1000, 86400, &id, &added, &err),
	                 LETHE_OK);
	store_close(st);
	checkpoint(spath);
	assert_int_equal(found_in_files(spath, &needle, &len, 1), 1);
	if (plain) {
		tu_exec_sql(spath, "UPDATE requests SET state = 'completed', identity_box = x''");
	} else {
		assert_int_equal(store_open(spath, &st, &err), LETHE_OK);
		assert_int_equal(store_meta_update(st, id, "completed", 0, true, 1001, 1, &err),
		                 LETHE_OK);
		store_close(st);
	}
	checkpoint(spath);
}

/* A completed request's identity box is wiped from state.db's bytes too. */
static void
test_secure_delete_store_box(void **state)
{
	struct tu_fixture *f = *state;
	const char *needle = box_marker;
	size_t len = sizeof(box_marker) - 1;
	char spath[256];

	snprintf(spath, sizeof(spath), "%s/plain.db", f->dir);
	store_wipe(spath, true);
	assert_int_equal(found_in_files(spath, &needle, &len, 1), 1); /* control */
	snprintf(spath, sizeof(spath), "%s/state.db", f->dir);
	store_wipe(spath, false);
	assert_int_equal(found_in_files(spath, &needle, &len, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_secure_delete_forced_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secure_delete_off_leaves_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secure_delete_appdb_erase, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secure_delete_store_box, setup, teardown),
	};

	/* As an upstream SQLite build: secure_delete off unless lethe turns it on. */
	sqlite3_auto_extension((void (*)(void))force_secure_delete_off);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
