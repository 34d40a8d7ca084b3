/* SPDX-License-Identifier: MIT */
/*
 * test_outbox.c - the outbox: sealed payloads, backoff with full jitter, the
 * job states and leases in the state store, channel ids, API keys and the
 * outbox configuration.
 */
#include "util/fmacros.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "testutil.h"

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/disconnect.h"
#include "jobs/outbox.h"
#include "store/store.h"
#include "util/hash.h"
#include "util/mem.h"

/* ---- sealing ------------------------------------------------------------ */

static void
test_outbox_seal_roundtrip(void **state)
{
	uint8_t key[HASH_KEY_LEN], other[HASH_KEY_LEN];
	struct outbox_payload in, out;
	uint8_t *box;
	size_t len = 0;

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	hash_key_random(key);
	hash_key_random(other);
	memset(&in, 0, sizeof(in));
	snprintf(in.channel, sizeof(in.channel), "42");
	snprintf(in.account, sizeof(in.account), "1040000000102");
	snprintf(in.token, sizeof(in.token), "ya29.secret-token");
	box = outbox_seal(key, "revoke", &in, &len);
	assert_non_null(box);
	assert_true(len > strlen(in.token));
	/* The token is not in the box in the clear. */
	for (size_t i = 0; i + 12 <= len; i++)
		assert_true(memcmp(box + i, "secret-token", 12) != 0);
	assert_int_equal(outbox_open(key, "revoke", box, len, &out), LETHE_OK);
	assert_string_equal(out.channel, "42");
	assert_string_equal(out.account, "1040000000102");
	assert_string_equal(out.token, "ya29.secret-token");
	/* Another kind, another key, a changed byte or a short box: refused. */
	assert_int_equal(outbox_open(key, "unsubscribe", box, len, &out), LETHE_E_FORBIDDEN);
	assert_string_equal(out.token, "");
	assert_int_equal(outbox_open(other, "revoke", box, len, &out), LETHE_E_FORBIDDEN);
	box[len - 1] ^= 1;
	assert_int_equal(outbox_open(key, "revoke", box, len, &out), LETHE_E_FORBIDDEN);
	assert_int_equal(outbox_open(key, "revoke", box, 10, &out), LETHE_E_FORBIDDEN);
	assert_int_equal(outbox_open(key, "revoke", NULL, 0, &out), LETHE_E_FORBIDDEN);
	free(box);
	/* Two seals of the same payload differ (random nonce). */
	{
		size_t l1 = 0, l2 = 0;
		uint8_t *b1 = outbox_seal(key, "revoke", &in, &l1);
		uint8_t *b2 = outbox_seal(key, "revoke", &in, &l2);

		assert_int_equal(l1, l2);
		assert_memory_not_equal(b1, b2, l1);
		free(b1);
		free(b2);
	}
}

/* ---- backoff ------------------------------------------------------------ */

static void
test_outbox_backoff_full_jitter(void **state)
{
	struct outbox_config o;
	int64_t n;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.base_ms = 100;
	o.cap_ms = 1000;
	/* The bound doubles from base up to cap; a draw is within [0, bound]. */
	assert_int_equal(outbox_backoff_ms(&o, 1, 0), 0);
	assert_int_equal(outbox_backoff_ms(&o, 1, UINT32_MAX), 100);
	assert_int_equal(outbox_backoff_ms(&o, 2, UINT32_MAX), 200);
	assert_int_equal(outbox_backoff_ms(&o, 3, UINT32_MAX), 400);
	assert_int_equal(outbox_backoff_ms(&o, 4, UINT32_MAX), 800);
	assert_int_equal(outbox_backoff_ms(&o, 5, UINT32_MAX), 1000);
	assert_int_equal(outbox_backoff_ms(&o, 1000000, UINT32_MAX), 1000);
	assert_int_equal(outbox_backoff_ms(&o, 3, UINT32_MAX / 2), 200);
	for (n = 1; n < 40; n++) {
		int64_t d = outbox_backoff_ms(&o, n, randombytes_random());

		assert_true(d >= 0 && d <= 1000);
	}
	/* A huge cap does not overflow. */
	o.cap_ms = INT64_MAX / 4;
	assert_true(outbox_backoff_ms(&o, 200, UINT32_MAX) <= o.cap_ms);
	assert_true(outbox_backoff_ms(&o, 200, UINT32_MAX) > 0);
}

/* ---- the store: states and leases ---------------------------------------- */

struct st_fixture {
	char dir[64];     /* temp directory */
	char path[128];   /* the state store file */
	struct store *st; /* open on path */
};

static int
st_setup(void **state)
{
	struct st_fixture *f = calloc(1, sizeof(*f));
	struct lethe_err err;

	snprintf(f->dir, sizeof(f->dir), TU_TMP_PREFIX "outbox-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	if (store_open(f->path, &f->st, &err) != LETHE_OK) {
		fprintf(stderr, "%s\n", err.msg);
		tu_rm_rf(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
st_teardown(void **state)
{
	struct st_fixture *f = *state;

	store_close(f->st);
	tu_rm_rf(f->dir);
	free(f);
	return 0;
}

static int64_t
add_disc(struct store *st)
{
	struct store_disc d;
	int64_t id = 0;
	uint8_t box[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	memset(&d, 0, sizeof(d));
	snprintf(d.subject, sizeof(d.subject), "anon:00112233445566778899aabbccddeeff");
	snprintf(d.state, sizeof(d.state), "staged");
	snprintf(d.source, sizeof(d.source), "api");
	snprintf(d.platform, sizeof(d.platform), "google");
	snprintf(d.token_mac, sizeof(d.token_mac), "anon:ffeeddccbbaa99887766554433221100");
	d.requested_at = 1000;
	d.effects = "{\"tokens_wiped\":1}";
	d.box = box;
	d.boxlen = sizeof(box);
	assert_int_equal(store_disc_add(st, &d, &id, NULL), LETHE_OK);
	return id;
}

static void
test_outbox_store_states(void **state)
{
	struct st_fixture *f = *state;
	struct store_outbox j, g;
	struct store_disc d;
	uint8_t box[16] = {9};
	int64_t disc, id = 0, next = 0;

	disc = add_disc(f->st);
	assert_int_equal(store_outbox_add(f->st, disc, "revoke", "google", "staged", 5000, box,
	                                  sizeof(box), &id, NULL),
	                 LETHE_OK);
	/* Staged: not runnable until the app transaction committed. */
	assert_int_equal(store_outbox_claim(f->st, 0, "h:1:a", 10000, 1000, &j, NULL),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_OK);
	assert_int_equal(d.id, disc);
	assert_int_equal(d.boxlen, 8);
	store_disc_clear(&d);
	assert_int_equal(store_disc_ready(f->st, disc, 2, 6000, NULL), LETHE_OK);
	assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_E_NOTFOUND);
	assert_int_equal(store_disc_find(f->st, "anon:00112233445566778899aabbccddeeff", &d, NULL),
	                 LETHE_OK);
	assert_string_equal(d.state, "disconnected");
	assert_null(d.box);
	assert_string_equal(d.token_mac, "");
	store_disc_clear(&d);
	/* Not yet due, then due. */
	assert_int_equal(store_outbox_claim(f->st, 0, "h:1:a", 5999, 1000, &j, NULL),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_outbox_next_due(f->st, &next, NULL), LETHE_OK);
	assert_int_equal(next, 6000);
	assert_int_equal(store_outbox_claim(f->st, disc + 1, "h:1:a", 6000, 1000, &j, NULL),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_outbox_claim(f->st, disc, "h:1:a", 6000, 1000, &j, NULL), LETHE_OK);
	assert_int_equal(j.id, id);
	assert_string_equal(j.state, "running");
	assert_int_equal(j.boxlen, sizeof(box));
	/* A retry: pending again later, the box kept. */
	snprintf(j.state, sizeof(j.state), "pending");
	snprintf(j.reason, sizeof(j.reason), "HTTP 500");
	j.attempts = 1;
	j.next_at_ms = 7000;
	assert_int_equal(store_outbox_update(f->st, &j, "h:1:a", 6001, NULL), LETHE_OK);
	store_outbox_clear(&j);
	assert_int_equal(store_outbox_get(f->st, id, &g, NULL), LETHE_OK);
	assert_true(g.has_box);
	assert_int_equal(g.attempts, 1);
	assert_string_equal(g.reason, "HTTP 500");
	/* Dead: the box is dropped. */
	assert_int_equal(store_outbox_claim(f->st, 0, "h:1:a", 7000, 1000, &j, NULL), LETHE_OK);
	snprintf(j.state, sizeof(j.state), "dead");
	j.attempts = 2;
	assert_int_equal(store_outbox_update(f->st, &j, "h:1:a", 7001, NULL), LETHE_OK);
	store_outbox_clear(&j);
	assert_int_equal(store_outbox_get(f->st, id, &g, NULL), LETHE_OK);
	assert_false(g.has_box);
	assert_string_equal(g.state, "dead");
	assert_int_equal(g.finished_at_ms, 7001);
	assert_int_equal(store_outbox_claim(f->st, 0, "h:1:a", 99999, 1000, &j, NULL),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_outbox_get(f->st, id + 100, &g, NULL), LETHE_E_NOTFOUND);
}

static void
test_outbox_store_leases(void **state)
{
	struct st_fixture *f = *state;
	struct store_outbox a, b;
	uint8_t box[4] = {1};
	int64_t disc, id = 0;
	char gone[300], host[200] = "";

	disc = add_disc(f->st);
	assert_int_equal(store_outbox_add(f->st, disc, "purge", NULL, "pending", 100, box,
	                                  sizeof(box), &id, NULL),
	                 LETHE_OK);
	assert_int_equal(store_outbox_claim(f->st, 0, "other-host:1:a", 100, 1000, &a, NULL),
	                 LETHE_OK);
	/* Held by a live lease: nobody else gets it. */
	assert_int_equal(store_outbox_claim(f->st, 0, "other-host:2:b", 500, 1000, &b, NULL),
	                 LETHE_E_NOTFOUND);
	/* Lapsed: taken over; the old holder's write-back is refused. */
	assert_int_equal(store_outbox_claim(f->st, 0, "other-host:2:b", 1101, 1000, &b, NULL),
	                 LETHE_OK);
	snprintf(a.state, sizeof(a.state), "done");
	assert_int_equal(store_outbox_update(f->st, &a, "other-host:1:a", 1200, NULL),
	                 LETHE_E_BUSY);
	snprintf(b.state, sizeof(b.state), "pending");
	b.next_at_ms = 1300;
	assert_int_equal(store_outbox_update(f->st, &b, "other-host:2:b", 1200, NULL), LETHE_OK);
	store_outbox_clear(&a);
	store_outbox_clear(&b);
	/* A holder on this host whose process is gone is taken over at once. */
	gethostname(host, sizeof(host) - 1);
	snprintf(gone, sizeof(gone), "%s:%d:dead", host, 0x3ffffff0);
	assert_int_equal(store_outbox_claim(f->st, 0, gone, 1300, 100000, &a, NULL), LETHE_OK);
	store_outbox_clear(&a);
	assert_int_equal(store_outbox_claim(f->st, 0, "h:9:c", 1400, 1000, &b, NULL), LETHE_OK);
	store_outbox_clear(&b);
}

static void
test_outbox_store_drop(void **state)
{
	struct st_fixture *f = *state;
	struct store_disc d;
	struct store_outbox j;
	uint8_t box[4] = {1};
	int64_t disc;

	disc = add_disc(f->st);
	assert_int_equal(
	    store_outbox_add(f->st, disc, "revoke", "x", "staged", 1, box, 4, NULL, NULL),
	    LETHE_OK);
	assert_int_equal(
	    store_outbox_add(f->st, disc, "unsubscribe", "x", "done", 1, NULL, 0, NULL, NULL),
	    LETHE_OK);
	assert_int_equal(store_disc_drop(f->st, disc, NULL), LETHE_OK);
	assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_E_NOTFOUND);
	assert_int_equal(store_outbox_claim(f->st, 0, "h:1:a", 100, 100, &j, NULL),
	                 LETHE_E_NOTFOUND);
}

/* ---- ids, API keys, configuration --------------------------------------- */

static void
test_outbox_channel_ids(void **state)
{
	char a[HASH_TEXT_LEN + 1], b[HASH_TEXT_LEN + 1];
	uint8_t key[HASH_KEY_LEN] = {1};

	(void)state;
	assert_true(disconnect_id_ok("1"));
	assert_true(disconnect_id_ok("42"));
	assert_true(disconnect_id_ok("9223372036854775807"));
	assert_false(disconnect_id_ok("9223372036854775808"));
	assert_false(disconnect_id_ok("0"));
	assert_false(disconnect_id_ok("00"));
	assert_false(disconnect_id_ok(""));
	assert_false(disconnect_id_ok(NULL));
	assert_false(disconnect_id_ok("-1"));
	assert_false(disconnect_id_ok("1x"));
	assert_false(disconnect_id_ok(" 1"));
	assert_false(disconnect_id_ok("12345678901234567890"));
	disconnect_subject(key, "42", a);
	disconnect_subject(key, "43", b);
	assert_true(hash_is_keyed(a));
	assert_string_not_equal(a, b);
	assert_null(strstr(a, "42"));
}

/* Write @text as DIR/lethe.yaml and load it into @cfg. */
static lethe_rc
load_config(const char *dir, const char *text, struct lethe_config *cfg, struct lethe_err *err)
{
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/lethe.yaml", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return config_load(cfg, path, err);
}

static void
test_outbox_config_and_api_keys(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	uint8_t h[32];
	char hex[65], *text;
	const char *key = "lk_0123456789";

	crypto_hash_sha256(h, (const uint8_t *)key, strlen(key));
	hash_hex(h, sizeof(h), hex);
	text = xasprintf("app: {database: app.db}\ndatamap: map.yaml\n"
	                 "outbox: {backoff_base: 250ms, backoff_cap: 2s, max_attempts: 4, "
	                 "max_age: 1h, key_file: var/ob.key}\n"
	                 "api:\n  keys:\n    - {name: a, sha256: %s}\n",
	                 hex);
	memset(&err, 0, sizeof(err));
	assert_int_equal(load_config(f->dir, text, &cfg, &err), LETHE_OK);
	free(text);
	assert_int_equal(cfg.outbox.base_ms, 250);
	assert_int_equal(cfg.outbox.cap_ms, 2000);
	assert_int_equal(cfg.outbox.max_attempts, 4);
	assert_int_equal(cfg.outbox.max_age_s, 3600);
	assert_non_null(strstr(cfg.outbox.key_file, "var/ob.key"));
	assert_int_equal(cfg.napi_keys, 1);
	assert_non_null(config_api_key(&cfg, key));
	assert_null(config_api_key(&cfg, "lk_0123456788"));
	assert_null(config_api_key(&cfg, ""));
	config_free(&cfg);

	/* Bad values name the file and line. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db}\ndatamap: map.yaml\n"
	                             "outbox:\n  backoff_base: soon\n",
	                             &cfg, &err),
	                 LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "lethe.yaml:4: backoff_base"));
	config_free(&cfg);
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db}\ndatamap: map.yaml\n"
	                             "outbox: {backoff_base: 2s, backoff_cap: 1s}\n",
	                             &cfg, &err),
	                 LETHE_E_CONFIG);
	config_free(&cfg);
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db}\ndatamap: map.yaml\n"
	                             "api: {keys: [{name: a, sha256: abc}]}\n",
	                             &cfg, &err),
	                 LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "sha256"));
	config_free(&cfg);
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db}\ndatamap: map.yaml\n"
	                             "api: {keys: [{name: a, key: abc}]}\n",
	                             &cfg, &err),
	                 LETHE_E_CONFIG);
	config_free(&cfg);
}

static void
test_outbox_key_file_created_0600(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct stat sb;
	uint8_t first[HASH_KEY_LEN];
	char path[160];

	memset(&err, 0, sizeof(err));
	unsetenv("LETHE_OUTBOX_KEY");
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db}\ndatamap: map.yaml\n"
	                             "outbox: {key_file: ob.key}\n",
	                             &cfg, &err),
	                 LETHE_OK);
	assert_int_equal(config_load_outbox_key(&cfg, &err), LETHE_OK);
	memcpy(first, cfg.outbox.key, sizeof(first));
	snprintf(path, sizeof(path), "%s/ob.key", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	config_free(&cfg);
	/* Read back: the same key. */
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db}\ndatamap: map.yaml\n"
	                             "outbox: {key_file: ob.key}\n",
	                             &cfg, &err),
	                 LETHE_OK);
	assert_int_equal(config_load_outbox_key(&cfg, &err), LETHE_OK);
	assert_memory_equal(first, cfg.outbox.key, sizeof(first));
	config_free(&cfg);
}

/* ---- crash recovery of staged disconnects -------------------------------- */

/* Stage a disconnect of channel @id as a crash between the state store's and the
 * app database's commits would leave it, with @token as the token that was read. */
static int64_t
stage(const struct lethe_config *cfg, struct store *st, const char *id, const char *token)
{
	struct outbox_payload pl;
	struct store_disc d;
	int64_t disc = 0;
	size_t len = 0;

	memset(&pl, 0, sizeof(pl));
	memset(&d, 0, sizeof(d));
	snprintf(pl.channel, sizeof(pl.channel), "%s", id);
	disconnect_subject(cfg->key, id, d.subject);
	snprintf(d.state, sizeof(d.state), "staged");
	snprintf(d.source, sizeof(d.source), "api");
	hash_keyed(cfg->outbox.key, token, strlen(token), d.token_mac);
	d.requested_at = 1;
	d.effects = "{}";
	d.box = outbox_seal(cfg->outbox.key, "channel", &pl, &len);
	d.boxlen = len;
	assert_int_equal(store_disc_add(st, &d, &disc, NULL), LETHE_OK);
	free(d.box);
	snprintf(pl.token, sizeof(pl.token), "%s", token);
	d.box = outbox_seal(cfg->outbox.key, "revoke", &pl, &len);
	assert_int_equal(
	    store_outbox_add(st, disc, "revoke", "google", "staged", 1, d.box, len, NULL, NULL),
	    LETHE_OK);
	free(d.box);
	return disc;
}

static char *
token_of(struct appdb *db, int64_t id)
{
	struct appdb_stmt *q = NULL;
	struct appdb_val v = {.type = APPDB_INT, .i = id};
	char *out = NULL;

	assert_int_equal(
	    appdb_prepare(db, "SELECT access_token FROM channels WHERE id = ?", &q, NULL),
	    LETHE_OK);
	appdb_bind_all(db, q, &v, 1);
	assert_int_equal(appdb_step(db, q, NULL), APPDB_ROW);
	appdb_column(db, q, 0, &v);
	if (v.type == APPDB_TEXT)
		out = xstrdup(v.s);
	appdb_finalize(db, q);
	return out;
}

static void
test_outbox_recover_staged(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm;
	struct appdb *db = tu_demo_open(f->dir, 3);
	struct store_disc d;
	struct store_outbox j;
	char *tok2, *tok3, *tok4;
	int64_t d2, d3, d4, n = 0;
	int fixed = 0;

	memset(&cfg, 0, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	hash_key_random(cfg.key);
	hash_key_random(cfg.outbox.key);
	dm = datamap_load("src/demo/datamap.yaml", NULL, &err);
	assert_non_null(dm);
	assert_int_equal(datamap_validate(dm, db, &err), LETHE_OK);
	tok2 = token_of(db, 2);
	tok3 = token_of(db, 3);
	tok4 = token_of(db, 4);
	assert_non_null(tok2);
	assert_non_null(tok3);
	assert_non_null(tok4);
	/* 2: the app commit never happened (same token): applied again, jobs pending. */
	d2 = stage(&cfg, f->st, "2", tok2);
	/* 3: it did happen (token gone): jobs pending, nothing else changes. */
	d3 = stage(&cfg, f->st, "3", tok3);
	assert_int_equal(appdb_exec(db, "UPDATE channels SET access_token = NULL WHERE id = 3",
	                            NULL, 0, NULL, NULL),
	                 LETHE_OK);
	/* 4: reconnected since (another token): the staged disconnect is dropped. */
	d4 = stage(&cfg, f->st, "4", "an-older-token");
	/* Too young: left alone. */
	assert_int_equal(disconnect_recover(&cfg, dm, db, f->st, INT64_C(1) << 40, &fixed, &err),
	                 LETHE_OK);
	assert_int_equal(fixed, 0);
	assert_int_equal(disconnect_recover(&cfg, dm, db, f->st, 0, &fixed, &err), LETHE_OK);
	assert_int_equal(fixed, 3);
	assert_null(token_of(db, 2));
	assert_int_equal(appdb_query_int(db,
	                                 "SELECT count(*) FROM channels WHERE id = 2 AND status = "
	                                 "'revoked' AND refresh_token IS NULL",
	                                 NULL, 0, &n, NULL),
	                 LETHE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(
	    appdb_query_int(db,
	                    "SELECT count(*) FROM posts WHERE channel_id = 2 AND status "
	                    "= 'scheduled'",
	                    NULL, 0, &n, NULL),
	    LETHE_OK);
	assert_int_equal(n, 0);
	{
		char *t4 = token_of(db, 4);

		assert_string_equal(t4, tok4);
		free(t4);
	}
	assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_E_NOTFOUND);
	/* 2 and 3 have a pending revoke holding the token read; 4 has nothing left. */
	assert_int_equal(store_outbox_claim(f->st, d2, "h:1:a", INT64_MAX / 2, 1000, &j, NULL),
	                 LETHE_OK);
	store_outbox_clear(&j);
	assert_int_equal(store_outbox_claim(f->st, d3, "h:1:a", INT64_MAX / 2, 1000, &j, NULL),
	                 LETHE_OK);
	store_outbox_clear(&j);
	assert_int_equal(store_outbox_claim(f->st, d4, "h:1:a", INT64_MAX / 2, 1000, &j, NULL),
	                 LETHE_E_NOTFOUND);
	free(tok2);
	free(tok3);
	free(tok4);
	datamap_free(dm);
	appdb_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outbox_seal_roundtrip),
	    cmocka_unit_test(test_outbox_backoff_full_jitter),
	    cmocka_unit_test_setup_teardown(test_outbox_store_states, st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_store_leases, st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_store_drop, st_setup, st_teardown),
	    cmocka_unit_test(test_outbox_channel_ids),
	    cmocka_unit_test_setup_teardown(test_outbox_config_and_api_keys, st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_key_file_created_0600, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_recover_staged, st_setup, st_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
