/* SPDX-License-Identifier: MIT */
/*
 * test_ledger.c - unit tests of src/engine/ledger and src/store/ledger: the
 * keyed hashes (domain separation), what an erasure's entries cover (its
 * scope, its link conditions, not retained rows), and finding people again:
 * grouping by request, the identities a group gets, a reused key with
 * another email, a new account with an erased email, pending entries,
 * batches across keyset boundaries, stopping.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/ledger.h"
#include "store/store.h"
#include "util/hash.h"
#include "util/rc.h"

static const char schema[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT UNIQUE);"
    "CREATE TABLE projects(id INTEGER PRIMARY KEY, user_id INTEGER);"
    "CREATE TABLE channels(id INTEGER PRIMARY KEY, project_id INTEGER, platform TEXT,"
    " platform_user_id TEXT);"
    "CREATE TABLE subscribers(id INTEGER PRIMARY KEY, email TEXT);"
    "CREATE TABLE invites(id INTEGER PRIMARY KEY, inviter_email TEXT, invitee_email TEXT);"
    "CREATE INDEX i5 ON invites(inviter_email); CREATE INDEX i6 ON invites(invitee_email);"
    "CREATE INDEX i1 ON projects(user_id); CREATE INDEX i2 ON channels(project_id);"
    "CREATE INDEX i3 ON channels(platform_user_id); CREATE INDEX i4 ON subscribers(email);";

/*
 * alice (1): project 10, channels 100 (instagram IG1), 101 (facebook FB1);
 * subscribers row 7 (kept: retained).  bob (2): project 20, channel 200
 * (instagram IG2).  carol (3): nothing else.
 */
static const char seed[] =
    "INSERT INTO users VALUES (1, 'alice@example.com'), (2, 'bob@example.com'),"
    " (3, 'carol@example.com');"
    "INSERT INTO projects VALUES (10, 1), (20, 2);"
    "INSERT INTO channels VALUES (100, 10, 'instagram', 'IG1'), (101, 10, 'facebook', 'FB1'),"
    " (200, 20, 'instagram', 'IG2');"
    "INSERT INTO subscribers VALUES (7, 'alice@example.com');";

static const char map_text[] = "version: 1\n"
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
                               "    erase: delete\n"
                               "  subscribers:\n"
                               "    category: marketing\n"
                               "    links:\n"
                               "      - identity: email\n"
                               "        column: email\n"
                               "    erase:\n"
                               "      action: retain\n"
                               "      reason: \"Consent records\"\n"
                               "      for: 1y\n"
                               "      columns:\n"
                               "        email: hash\n"
                               "  invites:\n"
                               "    category: account\n"
                               "    links:\n"
                               "      - identity: email\n"
                               "        column: inviter_email\n"
                               "      - identity: email\n"
                               "        column: invitee_email\n"
                               "    erase: delete\n"
                               "scopes:\n"
                               "  account:\n"
                               "    description: \"The whole account\"\n"
                               "    identities: [email, user_id]\n"
                               "    tables: all\n"
                               "  meta:\n"
                               "    description: \"Meta data\"\n"
                               "    identities: [instagram_user_id, meta_asid]\n"
                               "    tables: [channels]\n";

static const uint8_t key[HASH_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

/* The fixture and a state store beside the app database. */
struct lfix {
	struct tu_fixture *f; /* app database and map */
	struct store *st;     /* state store */
};

static int
setup(void **state)
{
	const char *scripts[] = {schema, seed, NULL};
	struct lethe_err err = {0};
	struct lfix *l = calloc(1, sizeof(*l));
	char path[200];

	if (tu_fixture_setup(state, "ledger", scripts, map_text) != 0) {
		free(l);
		return -1;
	}
	l->f = *state;
	snprintf(path, sizeof(path), "%s/state.db", l->f->dir);
	if (store_open(path, &l->st, &err) != LETHE_OK) {
		fprintf(stderr, "store_open: %s\n", err.msg);
		tu_fixture_teardown(state);
		free(l);
		return -1;
	}
	*state = l;
	return 0;
}

static int
teardown(void **state)
{
	struct lfix *l = *state;

	store_close(l->st);
	*state = l->f;
	free(l);
	return tu_fixture_teardown(state);
}

/* Collect and record (pending) the entries of request @req for the @nids identities @ids. */
static int64_t
pending_entries(struct lfix *l, int64_t req, const char *scope, const struct plan_id *ids,
                size_t nids)
{
	struct ledger_entries e;
	struct lethe_err err = {0};
	int64_t n;

	assert_int_equal(ledger_collect(l->f->dm, l->f->db, key, scope, ids, nids, &e, &err),
	                 LETHE_OK);
	assert_int_equal(ledger_record(l->st, &e, scope, req, 1000, &err), LETHE_OK);
	n = (int64_t)e.n;
	ledger_entries_free(&e);
	return n;
}

/* Collect and finish (erased) the entries of request @req for identity @kind = @value. */
static int64_t
erase_entries(struct lfix *l, int64_t req, const char *scope, const char *kind, const char *value)
{
	struct plan_id id = {.kind = kind, .value = value};
	struct lethe_err err = {0};
	int64_t n = pending_entries(l, req, scope, &id, 1);

	assert_int_equal(store_ledger_finish(l->st, req, true, &err), LETHE_OK);
	return n;
}

/* Entries of one table, as store_ledger_lookup() gives them. */
struct seen {
	char key_hash[16][HASH_TEXT_LEN + 1]; /* key hashes */
	char ids[16][512];                    /* their ids */
	int64_t req[16];                      /* their requests */
	size_t n;                             /* how many */
};

static void
on_entry(void *arg, const char *key_hash, const char *ids, const char *scope, int64_t request_id)
{
	struct seen *s = arg;

	(void)scope;
	assert_true(s->n < 16);
	snprintf(s->key_hash[s->n], sizeof(s->key_hash[s->n]), "%s", key_hash);
	snprintf(s->ids[s->n], sizeof(s->ids[s->n]), "%s", ids);
	s->req[s->n++] = request_id;
}

static void
entries(struct lfix *l, const char *table, struct seen *s)
{
	struct lethe_err err = {0};

	memset(s, 0, sizeof(*s));
	assert_int_equal(store_ledger_lookup(l->st, table, NULL, 0, on_entry, s, &err), LETHE_OK);
}

static void
test_ledger_hashes_are_domain_separated(void **state)
{
	char a[HASH_TEXT_LEN + 1], b[HASH_TEXT_LEN + 1], c[HASH_TEXT_LEN + 1];
	char id1[128], id2[128];
	uint8_t other[HASH_KEY_LEN] = {9};

	(void)state;
	ledger_key_hash(key, "users", "1", a);
	ledger_key_hash(key, "projects", "1", b);
	hash_keyed(key, "1", 1, c);
	assert_true(hash_is_keyed(a));
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	ledger_key_hash(key, "users", "1", b);
	assert_string_equal(a, b); /* deterministic */
	ledger_key_hash(other, "users", "1", b);
	assert_string_not_equal(a, b); /* keyed */
	/* "users:1" as a table and a key cannot be told from "users" and ":1"... by design the
	 * table names are identifiers (no ':'), so the split is unique. */
	assert_true(ledger_id_hash(key, "email", "a@example.com", id1, sizeof(id1)));
	assert_int_equal(strncmp(id1, "email:anon:", 11), 0);
	assert_int_equal(strlen(id1), 6 + HASH_TEXT_LEN);
	assert_true(ledger_id_hash(key, "user_id", "a@example.com", id2, sizeof(id2)));
	assert_string_not_equal(id1 + 6, id2 + 8); /* the kind is in the hashed input */
	ledger_key_hash(key, "email", "a@example.com", a);
	assert_string_not_equal(id1 + 6, a); /* a key hash is never an id hash */
	assert_false(ledger_id_hash(key, "email", "x", id1, 20)); /* too small: refused */
}

static void
test_ledger_collect_covers_the_erased_rows(void **state)
{
	struct lfix *l = *state;
	char kh[HASH_TEXT_LEN + 1], h[128];
	struct seen s;
	size_t i;

	/* users 1, channels 100 and 101; not subscribers 7 (retained), not projects (no id). */
	assert_int_equal(erase_entries(l, 7, "account", "email", "alice@example.com"), 3);
	entries(l, "users", &s);
	assert_int_equal(s.n, 1);
	ledger_key_hash(key, "users", "1", kh);
	assert_string_equal(s.key_hash[0], kh);
	assert_int_equal(s.req[0], 7);
	assert_true(ledger_id_hash(key, "email", "alice@example.com", h, sizeof(h)));
	assert_non_null(strstr(s.ids[0], h));
	assert_true(ledger_id_hash(key, "user_id", "1", h, sizeof(h)));
	assert_non_null(strstr(s.ids[0], h));
	assert_null(strstr(s.ids[0], "alice"));
	entries(l, "subscribers", &s);
	assert_int_equal(s.n, 0);
	entries(l, "channels", &s);
	assert_int_equal(s.n, 2);
	for (i = 0; i < s.n; i++) {
		/* A link's value counts only where its 'when' holds. */
		bool insta = strstr(s.ids[i], "instagram_user_id:") != NULL;
		bool fb = strstr(s.ids[i], "meta_asid:") != NULL;

		assert_true(insta != fb);
		assert_non_null(strstr(s.ids[i], "channel_id:"));
	}
	assert_true(ledger_id_hash(key, "instagram_user_id", "IG1", h, sizeof(h)));
	assert_true(strstr(s.ids[0], h) != NULL || strstr(s.ids[1], h) != NULL);
	assert_true(ledger_id_hash(key, "meta_asid", "IG1", h, sizeof(h)));
	assert_true(strstr(s.ids[0], h) == NULL && strstr(s.ids[1], h) == NULL);
}

static void
test_ledger_collect_only_the_scope(void **state)
{
	struct lfix *l = *state;
	struct seen s;

	/* The meta scope erases channels only: users stays, so it is no erased person. */
	assert_int_equal(erase_entries(l, 8, "meta", "instagram_user_id", "IG2"), 1);
	entries(l, "users", &s);
	assert_int_equal(s.n, 0);
	entries(l, "channels", &s);
	assert_int_equal(s.n, 1);
}

static void
test_ledger_find_groups_by_request(void **state)
{
	struct lfix *l = *state;
	struct lethe_err err = {0};
	struct ledger_found f;

	erase_entries(l, 12, "account", "email", "bob@example.com");
	erase_entries(l, 7, "account", "email", "alice@example.com");
	/* Both are "back" (the rows were never deleted here). */
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, NULL, &f, &err), LETHE_OK);
	assert_int_equal(f.nhits, 2);
	assert_int_equal(f.entries, 5);
	assert_int_equal(f.hits[0].request_id, 7); /* by request */
	assert_int_equal(f.hits[0].rows, 3);
	assert_string_equal(f.hits[0].scope, "account");
	/* The key's identity names the row and no other: only user_id. */
	assert_int_equal(f.hits[0].nids, 1);
	assert_string_equal(f.hits[0].ids[0].kind, "user_id");
	assert_string_equal(f.hits[0].ids[0].value, "1");
	assert_int_equal(f.hits[1].request_id, 12);
	assert_int_equal(f.hits[1].rows, 2);
	assert_string_equal(f.hits[1].ids[0].value, "2");
	assert_int_equal(f.ncounts, 2);
	assert_string_equal(f.counts[0].table, "users");
	assert_int_equal(f.counts[0].rows, 2);
	assert_string_equal(f.counts[1].table, "channels");
	assert_int_equal(f.counts[1].rows, 3);
	ledger_found_free(&f);
	assert_int_equal(f.nhits, 0);
}

static void
test_ledger_find_meta_scope_identities(void **state)
{
	struct lfix *l = *state;
	struct lethe_err err = {0};
	struct ledger_found f;

	erase_entries(l, 8, "meta", "instagram_user_id", "IG2");
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, NULL, &f, &err), LETHE_OK);
	assert_int_equal(f.nhits, 1);
	/* channel_id (the key) is not a kind the meta scope takes: the row's other one. */
	assert_int_equal(f.hits[0].nids, 1);
	assert_string_equal(f.hits[0].ids[0].kind, "instagram_user_id");
	assert_string_equal(f.hits[0].ids[0].value, "IG2");
	ledger_found_free(&f);
}

static void
test_ledger_find_not_other_people(void **state)
{
	struct lfix *l = *state;
	struct lethe_err err = {0};
	struct ledger_found f;

	erase_entries(l, 7, "account", "email", "alice@example.com");
	/*
	 * Alice is erased; a new account reuses her key with another email, and she signs
	 * up again with her email under a new key; her channels went for good.
	 */
	tu_exec_sql(l->f->path, "DELETE FROM channels WHERE project_id = 10;"
	                        "DELETE FROM users WHERE id = 1;"
	                        "INSERT INTO users VALUES (1, 'dave@example.com');"
	                        "INSERT INTO users VALUES (4, 'alice@example.com');");
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, NULL, &f, &err), LETHE_OK);
	assert_int_equal(f.nhits, 0);
	assert_int_equal(f.scanned, 5); /* users 1-4 and channel 200: tables with entries */
	ledger_found_free(&f);
}

static void
test_ledger_pending_and_dropped_entries(void **state)
{
	struct lfix *l = *state;
	struct plan_id id = {.kind = "email", .value = "bob@example.com"};
	struct lethe_err err = {0};
	struct ledger_found f;
	int64_t n = 0;

	assert_int_equal(pending_entries(l, 9, "account", &id, 1), 2);
	/* Pending: the erasure has not completed; nobody is "erased before". */
	assert_int_equal(store_ledger_count(l->st, NULL, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, NULL, &f, &err), LETHE_OK);
	assert_int_equal(f.nhits, 0);
	ledger_found_free(&f);
	/* The request failed: its entries are dropped; a later success records them anew. */
	assert_int_equal(store_ledger_finish(l->st, 9, false, &err), LETHE_OK);
	assert_int_equal(store_ledger_finish(l->st, 9, true, &err), LETHE_OK);
	assert_int_equal(store_ledger_count(l->st, NULL, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	erase_entries(l, 9, "account", "email", "bob@example.com");
	/* A re-run replaces its entries: still two. */
	erase_entries(l, 9, "account", "email", "bob@example.com");
	assert_int_equal(store_ledger_count(l->st, NULL, &n, &err), LETHE_OK);
	assert_int_equal(n, 2);
}

static void
test_ledger_find_across_batches(void **state)
{
	struct lfix *l = *state;
	struct lethe_err err = {0};
	struct ledger_found f;
	volatile int stop = 0;
	char sql[256];
	int i;

	/* 2,600 users: the people sit at the edges of the 1,000-row batches. */
	tu_exec_sql(l->f->path, "WITH RECURSIVE n(i) AS (SELECT 4 UNION ALL SELECT i + 1 FROM n "
	                        "WHERE i < 2600) INSERT INTO users SELECT i, 'u' || i || "
	                        "'@example.com' FROM n;");
	for (i = 0; i < 3; i++) {
		static const int who[] = {1000, 1001, 2600};

		snprintf(sql, sizeof(sql), "u%d@example.com", who[i]);
		erase_entries(l, 100 + i, "account", "email", sql);
	}
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, &stop, &f, &err), LETHE_OK);
	assert_int_equal(f.nhits, 3);
	assert_string_equal(f.hits[0].ids[0].value, "1000");
	assert_string_equal(f.hits[1].ids[0].value, "1001");
	assert_string_equal(f.hits[2].ids[0].value, "2600");
	assert_int_equal(f.scanned, 2600); /* users only: no other table has entries */
	ledger_found_free(&f);
	/* Stopping: between batches, nothing half-made. */
	stop = 1;
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, &stop, &f, &err),
	                 LETHE_E_UNAVAILABLE);
	assert_int_equal(f.nhits, 0);
}

static void
test_ledger_relation_table_records_the_person_only(void **state)
{
	struct lfix *l = *state;
	struct lethe_err err = {0};
	struct ledger_found f;
	char bob[128], carol[128], alice[128];
	struct seen s;
	size_t i;

	/* Bob invited alice, alice invited carol: rows that relate two people each. */
	tu_exec_sql(l->f->path,
	            "INSERT INTO invites VALUES (1, 'bob@example.com', "
	            "'alice@example.com'), (2, 'alice@example.com', 'carol@example.com');");
	assert_int_equal(erase_entries(l, 7, "account", "email", "alice@example.com"), 5);
	assert_true(ledger_id_hash(key, "email", "alice@example.com", alice, sizeof(alice)));
	assert_true(ledger_id_hash(key, "email", "bob@example.com", bob, sizeof(bob)));
	assert_true(ledger_id_hash(key, "email", "carol@example.com", carol, sizeof(carol)));
	entries(l, "invites", &s);
	assert_int_equal(s.n, 2);
	for (i = 0; i < s.n; i++) {
		/* Only alice's own column: the other is another person's. */
		assert_non_null(strstr(s.ids[i], alice));
		assert_null(strstr(s.ids[i], bob));
		assert_null(strstr(s.ids[i], carol));
	}
	/* Found again (the rows are there): the request names alice and nobody else. */
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, NULL, &f, &err), LETHE_OK);
	assert_int_equal(f.nhits, 1);
	assert_int_equal(f.hits[0].rows, 5);
	for (i = 0; i < f.hits[0].nids; i++) {
		assert_string_not_equal(f.hits[0].ids[i].value, "bob@example.com");
		assert_string_not_equal(f.hits[0].ids[i].value, "carol@example.com");
	}
	ledger_found_free(&f);
	/* Only the invites are back: their email names alice, never the inviter bob. */
	tu_exec_sql(l->f->path, "DELETE FROM channels; DELETE FROM users WHERE id = 1;");
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, NULL, &f, &err), LETHE_OK);
	assert_int_equal(f.nhits, 1);
	assert_int_equal(f.hits[0].nids, 1);
	assert_string_equal(f.hits[0].ids[0].kind, "email");
	assert_string_equal(f.hits[0].ids[0].value, "alice@example.com");
	ledger_found_free(&f);
}

static void
test_ledger_key_alone_never_matches(void **state)
{
	struct lfix *l = *state;
	struct lethe_err err = {0};
	struct ledger_found f;
	int64_t n = 0;

	/* Bob's channel 202 has no identity but its key (no 'when' holds for youtube). */
	tu_exec_sql(l->f->path, "INSERT INTO channels VALUES (202, 20, 'youtube', 'YT2');");
	assert_int_equal(erase_entries(l, 12, "account", "email", "bob@example.com"), 3);
	/* Only channel 202's key is back (a channel id reused): nobody to erase again. */
	tu_exec_sql(l->f->path,
	            "DELETE FROM users WHERE id = 2; DELETE FROM channels WHERE id = 200;");
	assert_int_equal(ledger_find(l->f->dm, l->f->db, l->st, key, NULL, &f, &err), LETHE_OK);
	assert_int_equal(f.nhits, 0);
	assert_int_equal(f.scanned, 5); /* users 1, 3; channels 100, 101, 202 */
	ledger_found_free(&f);
	/* Set aside ('unmatched'): no longer an erased entry to look for. */
	assert_int_equal(store_ledger_count(l->st, NULL, &n, &err), LETHE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(store_ledger_unmatched(l->st, 12, &err), LETHE_OK);
	assert_int_equal(store_ledger_count(l->st, NULL, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
}

static void
test_ledger_lookup_by_keys(void **state)
{
	struct lfix *l = *state;
	struct lethe_err err = {0};
	char k1[HASH_TEXT_LEN + 1], k2[HASH_TEXT_LEN + 1], k9[HASH_TEXT_LEN + 1];
	const char *keys[3];
	struct seen s;

	erase_entries(l, 7, "account", "email", "alice@example.com");
	erase_entries(l, 12, "account", "email", "bob@example.com");
	ledger_key_hash(key, "users", "1", k1);
	ledger_key_hash(key, "users", "2", k2);
	ledger_key_hash(key, "users", "9", k9);
	keys[0] = k9;
	keys[1] = k2;
	memset(&s, 0, sizeof(s));
	/* Only the entries of the keys asked for. */
	assert_int_equal(store_ledger_lookup(l->st, "users", keys, 2, on_entry, &s, &err),
	                 LETHE_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.key_hash[0], k2);
	assert_int_equal(s.req[0], 12);
	keys[2] = k1;
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_ledger_lookup(l->st, "users", keys, 3, on_entry, &s, &err),
	                 LETHE_OK);
	assert_int_equal(s.n, 2);
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_ledger_lookup(l->st, "channels", keys, 3, on_entry, &s, &err),
	                 LETHE_OK);
	assert_int_equal(s.n, 0);
}

static void
test_ledger_restore_epoch(void **state)
{
	struct lfix *l = *state;
	struct lethe_err err = {0};
	int64_t e = -1, m = -1;

	assert_int_equal(store_restore_epoch(l->st, false, 0, &e, &err), LETHE_OK);
	assert_int_equal(e, 0);
	assert_int_equal(store_restore_epoch(l->st, true, 0, &e, &err), LETHE_OK);
	assert_int_equal(store_restore_epoch(l->st, true, 0, &e, &err), LETHE_OK);
	assert_int_equal(e, 2);
	assert_int_equal(store_restore_epoch(l->st, false, 1, &e, &err), LETHE_OK);
	assert_int_equal(e, 2); /* never lowered */
	assert_int_equal(store_restore_epoch(l->st, false, 5, &e, &err), LETHE_OK);
	assert_int_equal(e, 5);
	/* The app database's marker: none, created, moved only from the epoch before. */
	assert_int_equal(appdb_marker_get(l->f->db, &m, &err), LETHE_E_NOTFOUND);
	assert_int_equal(appdb_marker_set(l->f->db, 3, 2, &err), LETHE_E_NOTFOUND);
	assert_int_equal(appdb_marker_set(l->f->db, 5, -1, &err), LETHE_OK);
	assert_int_equal(appdb_marker_get(l->f->db, &m, &err), LETHE_OK);
	assert_int_equal(m, 5);
	assert_int_equal(appdb_marker_set(l->f->db, 7, 6, &err), LETHE_E_NOTFOUND);
	assert_int_equal(appdb_marker_set(l->f->db, 6, 5, &err), LETHE_OK);
	assert_int_equal(appdb_marker_set(l->f->db, 4, -1, &err), LETHE_OK); /* never lowered */
	assert_int_equal(appdb_marker_get(l->f->db, &m, &err), LETHE_OK);
	assert_int_equal(m, 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ledger_hashes_are_domain_separated),
	    cmocka_unit_test_setup_teardown(test_ledger_collect_covers_the_erased_rows, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_collect_only_the_scope, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_find_groups_by_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_find_meta_scope_identities, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_find_not_other_people, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_pending_and_dropped_entries, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_find_across_batches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_relation_table_records_the_person_only,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_key_alone_never_matches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_lookup_by_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ledger_restore_epoch, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
