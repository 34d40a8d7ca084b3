/* SPDX-License-Identifier: MIT */
/*
 * test_outbox.c - the outbox: sealed payloads, backoff with full jitter, the
 * job states and leases in the state store, channel ids, API keys and the
 * outbox configuration.
 */
#include "util/fmacros.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "testutil.h"

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/disconnect.h"
#include "jobs/engine_opts.h"
#include "jobs/outbox.h"
#include "service/service.h"
#include "store/store.h"
#include "util/hash.h"
#include "util/lease.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* The disconnect options of @c, as the service builds them (jobs/engine_opts.h). */
static const struct disconnect_opts *
dopts(const struct lethe_config *c)
{
	static struct disconnect_opts o;

	engine_opts_disconnect(c, &o);
	return &o;
}

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
	snprintf(gone, sizeof(gone), "%s:%d:n%llu:dead", host, 0x3ffffff0, lease_pidns_here());
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

/* app.media_root: unset, a directory, missing, a file, a URL (config_check_media_root). */
static void
test_outbox_config_media_root_check(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	char path[160];
	FILE *fp;

	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    load_config(f->dir, "app: {database: app.db}\ndatamap: map.yaml\n", &cfg, &err),
	    LETHE_OK);
	assert_int_equal(config_check_media_root(&cfg, &err), LETHE_OK);
	config_free(&cfg);

	snprintf(path, sizeof(path), "%s/media", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(
	    load_config(f->dir, "app: {database: app.db, media_root: media}\ndatamap: map.yaml\n",
	                &cfg, &err),
	    LETHE_OK);
	assert_int_equal(config_check_media_root(&cfg, &err), LETHE_OK);
	config_free(&cfg);

	assert_int_equal(
	    load_config(f->dir, "app: {database: app.db, media_root: gone}\ndatamap: map.yaml\n",
	                &cfg, &err),
	    LETHE_OK);
	assert_int_equal(config_check_media_root(&cfg, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "gone"));
	assert_non_null(strstr(err.msg, "existing directory"));
	config_free(&cfg);

	snprintf(path, sizeof(path), "%s/plain", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(
	    load_config(f->dir, "app: {database: app.db, media_root: plain}\ndatamap: map.yaml\n",
	                &cfg, &err),
	    LETHE_OK);
	assert_int_equal(config_check_media_root(&cfg, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "not a directory"));
	config_free(&cfg);

	/* A URL is kept as written (not resolved against the directory) and refused. */
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db, media_root: "
	                             "'s3://KEY:s3cr3t@bucket/prefix'}\n"
	                             "datamap: map.yaml\n",
	                             &cfg, &err),
	                 LETHE_OK);
	assert_string_equal(cfg.media_root, "s3://KEY:s3cr3t@bucket/prefix");
	assert_int_equal(config_check_media_root(&cfg, &err), LETHE_E_CONFIG);
	/* Only the scheme is named: a URL may carry credentials. */
	assert_non_null(strstr(err.msg, "s3://..."));
	assert_null(strstr(err.msg, "s3cr3t"));
	assert_non_null(strstr(err.msg, "object storage is not supported"));
	config_free(&cfg);
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
	/* A lease not longer than a platform call: refused (default timeout 15 s). */
	memset(&err, 0, sizeof(err));
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db}\ndatamap: map.yaml\n"
	                             "outbox: {lease: 15s}\n",
	                             &cfg, &err),
	                 LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "outbox.lease"));
	config_free(&cfg);
	assert_int_equal(load_config(f->dir,
	                             "app: {database: app.db}\ndatamap: map.yaml\n"
	                             "outbox: {lease: 16s}\n",
	                             &cfg, &err),
	                 LETHE_OK);
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
	if (token[0] != '\0')
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

/* Open the demo app database and its data map for a recovery test. */
static struct appdb *
recover_setup(struct st_fixture *f, struct lethe_config *cfg, struct datamap **dm)
{
	struct lethe_err err;
	struct appdb *db = tu_demo_open(f->dir, 3);

	memset(cfg, 0, sizeof(*cfg));
	memset(&err, 0, sizeof(err));
	hash_key_random(cfg->key);
	hash_key_random(cfg->outbox.key);
	*dm = datamap_load("src/demo/datamap.yaml", NULL, &err);
	assert_non_null(*dm);
	assert_int_equal(datamap_validate(*dm, db, &err), LETHE_OK);
	return db;
}

/* Another process's disconnect, staged until @disc is released (aborted here). */
struct release_later {
	const char *path; /* the state store */
	int64_t disc;     /* the staged disconnect */
};

static void *
release_after_100ms(void *arg)
{
	struct release_later *rl = arg;
	struct store *st = NULL;

	usleep(100 * 1000);
	if (store_open(rl->path, &st, NULL) == LETHE_OK)
		store_disc_abort(st, rl->disc, NULL);
	store_close(st);
	return NULL;
}

/*
 * A disconnect that finds another process's disconnect of the channel
 * staged (from before its app commit until it releases its jobs,
 * milliseconds): the engine's one try says LETHE_E_BUSY at once (Meta's
 * deauthorize answers 503 and is retried), the service's disconnect looks
 * again, without holding its locks, until the other one is released.
 * Under load the window widened enough for two concurrent disconnects to
 * fail.
 */
static void
test_outbox_disconnect_waits_for_a_staged_one(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err = {0};
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	struct service *svc = NULL;
	struct release_later rl;
	pthread_t thr;
	int64_t disc = 0;
	bool already = false;
	double t0;
	lethe_rc rc;
	char *tok;

	tok = token_of(db, 2);
	assert_non_null(tok);
	rl.path = f->path;
	rl.disc = stage(&cfg, f->st, "2", tok);
	t0 = time_mono_ms();
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "2", "api", &disc, &already, &err),
	    LETHE_E_BUSY);
	assert_true(time_mono_ms() - t0 < 1000);

	cfg.state_db = f->path;
	svc = service_open(&cfg, dm, db);
	assert_int_equal(service_store_open(svc, &err), LETHE_OK);
	assert_int_equal(pthread_create(&thr, NULL, release_after_100ms, &rl), 0);
	rc = service_channel_disconnect(svc, "2", "api", &err);
	pthread_join(thr, NULL); /* before any assertion: the thread uses the fixture */
	assert_int_equal(rc, LETHE_OK);
	assert_null(token_of(db, 2));
	service_close(svc);
	cfg.state_db = NULL;
	free(tok);
	datamap_free(dm);
	appdb_close(db);
}

static void
test_outbox_recover_staged(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err = {0};
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	struct store_disc d;
	struct store_outbox j;
	char *tok2, *tok3, *tok4;
	int64_t d2, d3, d4, n = 0;
	int fixed = 0;

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
	assert_int_equal(
	    disconnect_recover(dopts(&cfg), dm, db, f->st, INT64_C(1) << 40, &fixed, &err),
	    LETHE_OK);
	assert_int_equal(fixed, 0);
	assert_int_equal(disconnect_recover(dopts(&cfg), dm, db, f->st, 0, &fixed, &err), LETHE_OK);
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

/* ---- review findings: crash windows, sealing, ordering, leases ---------- */

/* The sealed fields are bytes: invalid UTF-8 (from an app database) seals and opens whole. */
static void
test_outbox_seal_binary_safe(void **state)
{
	uint8_t key[HASH_KEY_LEN];
	struct outbox_payload *in = calloc(1, sizeof(*in)), *out = calloc(1, sizeof(*out));
	uint8_t *box;
	size_t len = 0;

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	hash_key_random(key);
	snprintf(in->channel, sizeof(in->channel), "7");
	/* A UTF-8 sequence cut in the middle, a lone continuation byte, 0xff. */
	snprintf(in->account, sizeof(in->account), "page\xc3");
	memset(in->token, 0xff, sizeof(in->token) - 1);
	in->token[10] = (char)0x80;
	box = outbox_seal(key, "unsubscribe", in, &len);
	assert_non_null(box);
	assert_int_equal(outbox_open(key, "unsubscribe", box, len, out), LETHE_OK);
	assert_string_equal(out->account, "page\xc3");
	assert_int_equal(strlen(out->token), sizeof(in->token) - 1);
	assert_memory_equal(out->token, in->token, sizeof(in->token));
	/* A cut box does not open. */
	assert_int_equal(outbox_open(key, "unsubscribe", box, len - 1, out), LETHE_E_FORBIDDEN);
	assert_string_equal(out->token, "");
	free(box);
	free(in);
	free(out);
}

/* A revoke is claimed only after the unsubscribes of its disconnect ended. */
static void
test_outbox_revoke_after_unsubscribe(void **state)
{
	struct st_fixture *f = *state;
	struct store_outbox j, k;
	uint8_t box[4] = {1};
	int64_t disc, other, rev = 0, uns = 0, rev2 = 0, next = 0;

	disc = add_disc(f->st);
	other = add_disc(f->st);
	/* The revoke first (lower id, same due time), as the old order queued it. */
	assert_int_equal(store_outbox_add(f->st, disc, "revoke", "facebook", "pending", 100, box,
	                                  sizeof(box), &rev, NULL),
	                 LETHE_OK);
	assert_int_equal(store_outbox_add(f->st, disc, "unsubscribe", "facebook", "pending", 100,
	                                  box, sizeof(box), &uns, NULL),
	                 LETHE_OK);
	/* Another disconnect's revoke does not wait for it. */
	assert_int_equal(store_outbox_add(f->st, other, "revoke", "google", "pending", 100, box,
	                                  sizeof(box), &rev2, NULL),
	                 LETHE_OK);
	assert_int_equal(store_outbox_claim(f->st, disc, "h:1:a", 200, 1000, &j, NULL), LETHE_OK);
	assert_int_equal(j.id, uns);
	/* While it runs, the revoke waits, and it is not "due" either. */
	assert_int_equal(store_outbox_claim(f->st, disc, "h:1:b", 200, 1000, &k, NULL),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_outbox_claim(f->st, 0, "h:1:b", 200, 1000, &k, NULL), LETHE_OK);
	assert_int_equal(k.id, rev2);
	snprintf(k.state, sizeof(k.state), "done");
	assert_int_equal(store_outbox_update(f->st, &k, "h:1:b", 201, NULL), LETHE_OK);
	store_outbox_clear(&k);
	assert_int_equal(store_outbox_next_due(f->st, &next, NULL), LETHE_OK);
	assert_int_equal(next, 200 + 1000); /* the running unsubscribe's lease, not the revoke */
	/* A retry of the unsubscribe keeps the revoke waiting. */
	snprintf(j.state, sizeof(j.state), "pending");
	j.attempts = 1;
	j.next_at_ms = 500;
	assert_int_equal(store_outbox_update(f->st, &j, "h:1:a", 202, NULL), LETHE_OK);
	store_outbox_clear(&j);
	assert_int_equal(store_outbox_claim(f->st, disc, "h:1:b", 300, 1000, &k, NULL),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_outbox_next_due(f->st, &next, NULL), LETHE_OK);
	assert_int_equal(next, 500);
	assert_int_equal(store_outbox_claim(f->st, disc, "h:1:a", 500, 1000, &j, NULL), LETHE_OK);
	assert_int_equal(j.id, uns);
	snprintf(j.state, sizeof(j.state), "dead");
	assert_int_equal(store_outbox_update(f->st, &j, "h:1:a", 501, NULL), LETHE_OK);
	store_outbox_clear(&j);
	/* Ended (even as a dead letter): the revoke runs. */
	assert_int_equal(store_outbox_claim(f->st, disc, "h:1:a", 502, 1000, &j, NULL), LETHE_OK);
	assert_int_equal(j.id, rev);
	store_outbox_clear(&j);
}

/* A writer whose lease lapsed cannot overwrite a job another process finished. */
static void
test_outbox_update_needs_live_lease(void **state)
{
	struct st_fixture *f = *state;
	struct store_outbox a, b, g;
	uint8_t box[4] = {1};
	int64_t disc, id = 0;

	disc = add_disc(f->st);
	assert_int_equal(store_outbox_add(f->st, disc, "purge", NULL, "pending", 100, box,
	                                  sizeof(box), &id, NULL),
	                 LETHE_OK);
	assert_int_equal(store_outbox_claim(f->st, 0, "other-host:1:a", 100, 1000, &a, NULL),
	                 LETHE_OK);
	assert_int_equal(store_outbox_claim(f->st, 0, "other-host:2:b", 1101, 1000, &b, NULL),
	                 LETHE_OK);
	snprintf(b.state, sizeof(b.state), "done");
	snprintf(b.outcome, sizeof(b.outcome), "purged");
	assert_int_equal(store_outbox_update(f->st, &b, "other-host:2:b", 1200, NULL), LETHE_OK);
	/* The first holder wakes up late: refused, the job stays done. */
	snprintf(a.state, sizeof(a.state), "pending");
	a.next_at_ms = 1300;
	assert_int_equal(store_outbox_update(f->st, &a, "other-host:1:a", 1250, NULL),
	                 LETHE_E_BUSY);
	assert_int_equal(store_outbox_get(f->st, id, &g, NULL), LETHE_OK);
	assert_string_equal(g.state, "done");
	assert_string_equal(g.outcome, "purged");
	/* Nor can an update without an owner touch it while it runs. */
	store_outbox_clear(&a);
	store_outbox_clear(&b);
}

static int64_t
count_of(struct appdb *db, const char *sql)
{
	int64_t n = -1;

	assert_int_equal(appdb_query_int(db, sql, NULL, 0, &n, NULL), LETHE_OK);
	return n;
}

/* The state of the newest job of disconnect @disc ("" if none). */
static const char *
job_state(struct store *st, int64_t disc)
{
	static char state[16];
	struct store_outbox j;
	int64_t id;

	state[0] = '\0';
	for (id = 1; id < 200; id++)
		if (store_outbox_get(st, id, &j, NULL) == LETHE_OK && j.disconnect_id == disc)
			snprintf(state, sizeof(state), "%s", j.state);
	return state;
}

/*
 * Crash windows of the at-once sequence: the record released but its jobs
 * still staged; a drop cut short (record without jobs); an aborted record
 * (the app commit failed, the caller was told so).
 */
static void
test_outbox_recover_interrupted_release_and_drop(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	struct store_outbox j;
	char *tok2, *tok3, *t;
	int64_t d1, d2, d3;
	int fixed = 0;

	memset(&err, 0, sizeof(err));
	tok2 = token_of(db, 2);
	tok3 = token_of(db, 3);
	/* 1: committed, released, but the jobs' half of the release never ran. */
	d1 = stage(&cfg, f->st, "1", "t1");
	assert_int_equal(appdb_exec(db,
	                            "UPDATE channels SET access_token = NULL, refresh_token = "
	                            "NULL WHERE id = 1",
	                            NULL, 0, NULL, NULL),
	                 LETHE_OK);
	assert_int_equal(store_disc_ready(f->st, d1, 5, 5000, NULL), LETHE_OK);
	/* A job still staged under the released record: the window of the old release. */
	assert_int_equal(
	    store_outbox_add(f->st, d1, "purge", NULL, "staged", 1, NULL, 0, NULL, NULL), LETHE_OK);
	/* 2: a drop cut short: the record is left staged without its jobs. */
	d2 = stage(&cfg, f->st, "2", tok2);
	assert_int_equal(store_disc_drop(f->st, d2, NULL), LETHE_OK);
	{
		struct store_disc d;

		memset(&d, 0, sizeof(d));
		disconnect_subject(cfg.key, "2", d.subject);
		snprintf(d.state, sizeof(d.state), "staged");
		snprintf(d.source, sizeof(d.source), "api");
		hash_keyed(cfg.outbox.key, tok2, strlen(tok2), d.token_mac);
		d.requested_at = 1;
		d.effects = "{}";
		assert_int_equal(store_disc_add(f->st, &d, &d2, NULL), LETHE_OK);
	}
	/* 3: the app commit failed; the record was marked aborted, the drop did not happen. */
	d3 = stage(&cfg, f->st, "3", tok3);
	assert_int_equal(store_disc_abort(f->st, d3, NULL), LETHE_OK);
	/* An aborted record is not the channel's disconnect, nor released by mistake. */
	{
		char subj[HASH_TEXT_LEN + 1];
		struct store_disc d;

		disconnect_subject(cfg.key, "3", subj);
		assert_int_equal(store_disc_find(f->st, subj, &d, NULL), LETHE_E_NOTFOUND);
		assert_int_equal(store_disc_ready(f->st, d3, 5, 5000, NULL), LETHE_OK);
		assert_string_equal(job_state(f->st, d3), "staged");
	}

	assert_int_equal(disconnect_recover(dopts(&cfg), dm, db, f->st, 0, &fixed, &err), LETHE_OK);
	assert_int_equal(fixed, 2);
	/* 1: its staged job is pending now. */
	assert_string_equal(job_state(f->st, d1), "pending");
	/* 2 and 3: dropped, never applied: the tokens stay. */
	t = token_of(db, 2);
	assert_string_equal(t, tok2);
	free(t);
	t = token_of(db, 3);
	assert_string_equal(t, tok3);
	free(t);
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE id IN (2, 3) AND "
	                              "status = 'revoked'"),
	                 0);
	assert_int_equal(store_outbox_claim(f->st, d3, "h:1:a", INT64_MAX / 2, 1000, &j, NULL),
	                 LETHE_E_NOTFOUND);
	{
		struct store_disc d;

		assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_E_NOTFOUND);
	}
	free(tok2);
	free(tok3);
	datamap_free(dm);
	appdb_close(db);
}

/* Recovery decides by every token column, not by the revoke token alone. */
static void
test_outbox_recover_by_all_tokens(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	int64_t d2;
	int fixed = 0;

	memset(&err, 0, sizeof(err));
	/* Channel 2 had no revoke token but a refresh token; the app commit never happened. */
	assert_int_equal(appdb_exec(db,
	                            "UPDATE channels SET access_token = NULL, refresh_token = "
	                            "'still-here' WHERE id = 2",
	                            NULL, 0, NULL, NULL),
	                 LETHE_OK);
	d2 = stage(&cfg, f->st, "2", "");
	assert_int_equal(disconnect_recover(dopts(&cfg), dm, db, f->st, 0, &fixed, &err), LETHE_OK);
	assert_int_equal(fixed, 1);
	/* Applied again: no token left, the channel revoked. */
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE id = 2 AND "
	                              "refresh_token IS NULL AND status = 'revoked'"),
	                 1);
	assert_string_equal(job_state(f->st, d2), "pending");
	datamap_free(dm);
	appdb_close(db);
}

/* A token or account id a job cannot carry whole: the disconnect is refused, nothing changes. */
static void
test_outbox_disconnect_refuses_uncarriable(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	struct appdb_val v = {.type = APPDB_TEXT};
	char *big = xmalloc(OUTBOX_TOKEN_MAX + 1), *t;
	int64_t disc = 0;
	bool already = false;

	memset(&err, 0, sizeof(err));
	memset(big, 'a', OUTBOX_TOKEN_MAX);
	big[OUTBOX_TOKEN_MAX] = '\0';
	v.s = big;
	assert_int_equal(
	    appdb_exec(db, "UPDATE channels SET access_token = ? WHERE id = 2", &v, 1, NULL, NULL),
	    LETHE_OK);
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "2", "api", &disc, &already, &err),
	    LETHE_E_INVALID);
	assert_non_null(strstr(err.msg, "nothing changed"));
	assert_null(strstr(err.msg, "aaaa"));
	t = token_of(db, 2);
	assert_string_equal(t, big);
	free(t);
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE id = 2 AND status = "
	                              "'revoked'"),
	                 0);
	/* A binary (BLOB) token: refused too, not sent cut at its first NUL nor taken for none. */
	assert_int_equal(appdb_exec(db, "UPDATE channels SET access_token = X'7400ff' WHERE id = 4",
	                            NULL, 0, NULL, NULL),
	                 LETHE_OK);
	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "4", "api", &disc, &already, &err),
	    LETHE_E_INVALID);
	assert_non_null(strstr(err.msg, "binary"));
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE id = 4 AND "
	                              "access_token IS NOT NULL AND status != 'revoked'"),
	                 1);
	/* An account id over 255 bytes: refused, not cut. */
	big[300] = '\0';
	assert_int_equal(appdb_exec(db, "UPDATE channels SET platform_user_id = ? WHERE id = 3", &v,
	                            1, NULL, NULL),
	                 LETHE_OK);
	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "3", "api", &disc, &already, &err),
	    LETHE_E_INVALID);
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE id = 3 AND "
	                              "access_token IS NOT NULL"),
	                 1);
	{
		struct store_disc d;

		assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_E_NOTFOUND);
	}
	free(big);
	datamap_free(dm);
	appdb_close(db);
}

/* Every process of a state store seals with one outbox key: a fingerprint checks it. */
static void
test_outbox_key_fingerprint(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;

	memset(&cfg, 0, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	hash_key_random(cfg.outbox.key);
	assert_int_equal(outbox_key_check(&cfg, f->st, &err), LETHE_OK);
	assert_int_equal(outbox_key_check(&cfg, f->st, &err), LETHE_OK);
	cfg.outbox.key[0] ^= 1;
	assert_int_equal(outbox_key_check(&cfg, f->st, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "outbox key"));
}

/* A job sealed under another key waits for a process with that key; it is not given up. */
static void
test_outbox_unopenable_job_waits(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct outbox_payload pl;
	struct store_outbox g;
	uint8_t other[HASH_KEY_LEN], *box;
	size_t len = 0;
	int64_t disc, id = 0;
	int ran = 0;

	memset(&cfg, 0, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	memset(&pl, 0, sizeof(pl));
	hash_key_random(cfg.outbox.key);
	hash_key_random(other);
	cfg.outbox.base_ms = 10;
	cfg.outbox.cap_ms = 10;
	cfg.outbox.max_attempts = 1;
	cfg.outbox.max_age_s = 1;
	cfg.outbox.lease_ms = 1000;
	snprintf(pl.token, sizeof(pl.token), "tok");
	box = outbox_seal(other, "revoke", &pl, &len);
	disc = add_disc(f->st);
	assert_int_equal(
	    store_outbox_add(f->st, disc, "revoke", "google", "pending", 1, box, len, &id, NULL),
	    LETHE_OK);
	free(box);
	assert_int_equal(outbox_run_due(&cfg, NULL, NULL, f->st, 0, "h:1:a", NULL, 0, &ran, &err),
	                 LETHE_OK);
	assert_int_equal(store_outbox_get(f->st, id, &g, NULL), LETHE_OK);
	assert_string_equal(g.state, "pending");
	assert_true(g.has_box);
	assert_int_equal(g.attempts, 0);
	assert_non_null(strstr(g.reason, "outbox key"));
}

/* A long purge keeps its lease: renewed, nobody else takes the job. */
static void
test_outbox_lease_renew(void **state)
{
	struct st_fixture *f = *state;
	struct store_outbox a, b;
	uint8_t box[4] = {1};
	int64_t disc, id = 0;

	disc = add_disc(f->st);
	assert_int_equal(store_outbox_add(f->st, disc, "purge", NULL, "pending", 100, box,
	                                  sizeof(box), &id, NULL),
	                 LETHE_OK);
	assert_int_equal(store_outbox_claim(f->st, 0, "other-host:1:a", 100, 1000, &a, NULL),
	                 LETHE_OK);
	assert_int_equal(store_outbox_renew(f->st, id, "other-host:1:a", 900, 1000, NULL),
	                 LETHE_OK);
	assert_int_equal(store_outbox_renew(f->st, id, "other-host:2:b", 900, 1000, NULL),
	                 LETHE_E_BUSY);
	assert_int_equal(store_outbox_claim(f->st, 0, "other-host:2:b", 1500, 1000, &b, NULL),
	                 LETHE_E_NOTFOUND);
	assert_int_equal(store_outbox_claim(f->st, 0, "other-host:2:b", 1901, 1000, &b, NULL),
	                 LETHE_OK);
	store_outbox_clear(&a);
	store_outbox_clear(&b);
}

/* The at-once commit on the app database is durable (synchronous FULL), then back to NORMAL. */
static void
test_outbox_disconnect_commit_durable(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	int64_t disc = 0;
	bool already = false;

	memset(&err, 0, sizeof(err));
	assert_int_equal(count_of(db, "PRAGMA synchronous"), 1);
	appdb_durable(db, true);
	assert_int_equal(count_of(db, "PRAGMA synchronous"), 2);
	appdb_durable(db, false);
	assert_int_equal(count_of(db, "PRAGMA synchronous"), 1);
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "2", "api", &disc, &already, &err),
	    LETHE_OK);
	assert_true(disc > 0);
	assert_int_equal(count_of(db, "PRAGMA synchronous"), 1);
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE id = 2 AND "
	                              "access_token IS NULL AND status = 'revoked'"),
	                 1);
	datamap_free(dm);
	appdb_close(db);
}

/* A deauthorization disconnects every channel of the person, not only the first 256. */
static void
test_outbox_identity_disconnects_every_channel(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	int64_t rows = 0;

	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    appdb_exec(db,
	               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	               "WHERE i < 300) INSERT INTO channels (project_id, platform, "
	               "platform_user_id, access_token, status) SELECT 1, "
	               "'facebook', '99887766', 'tok-' || i, 'active' FROM n",
	               NULL, 0, NULL, NULL),
	    LETHE_OK);
	assert_int_equal(disconnect_identity(dopts(&cfg), dm, db, f->st, "meta_asid", "99887766",
	                                     NULL, NULL, &rows, &err),
	                 LETHE_OK);
	assert_int_equal(rows, 300);
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE platform_user_id = "
	                              "'99887766' AND access_token IS NOT NULL"),
	                 0);
	datamap_free(dm);
	appdb_close(db);
}

/* More webhook subscriptions than a disconnect queues: refused, none silently skipped. */
static void
test_outbox_too_many_subscriptions_refused(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	int64_t disc = 0;
	bool already = false;

	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    appdb_exec(db,
	               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	               "WHERE i < 40) INSERT INTO webhook_subscriptions (channel_id, "
	               "object, account_id, status) SELECT 2, 'page', 'p' || i, "
	               "'active' FROM n",
	               NULL, 0, NULL, NULL),
	    LETHE_OK);
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "2", "api", &disc, &already, &err),
	    LETHE_E_INVALID);
	assert_non_null(strstr(err.msg, "webhook subscriptions"));
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE id = 2 AND "
	                              "access_token IS NOT NULL"),
	                 1);
	datamap_free(dm);
	appdb_close(db);
}

/* Run @sql on the state store file @path through a connection of its own. */
static void
state_sql(const char *path, const char *sql)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/*
 * The state store fails right after the app commit (step 4): the disconnect
 * happened, so the caller gets success and the state (disconnecting), never
 * "nothing changed"; recovery releases the jobs later.
 */
static void
test_outbox_disconnect_release_fails_after_commit(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	struct store_disc d;
	json_t *st = NULL;
	int64_t disc = 0;
	bool already = false;
	int fixed = 0;

	memset(&err, 0, sizeof(err));
	state_sql(f->path, "CREATE TRIGGER no_ready BEFORE UPDATE OF state ON channel_disconnects "
	                   "WHEN NEW.state = 'disconnected' BEGIN SELECT RAISE(ABORT, "
	                   "'injected'); END");
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "2", "api", &disc, &already, &err),
	    LETHE_OK);
	assert_true(disc > 0);
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels WHERE id = 2 AND "
	                              "access_token IS NULL AND status = 'revoked'"),
	                 1);
	assert_int_equal(disconnect_state(dopts(&cfg), dm, db, f->st, "2", &st, &err), LETHE_OK);
	assert_string_equal(json_string_value(json_object_get(st, "state")), "disconnecting");
	json_decref(st);
	/* Its jobs stay staged (not runnable) until recovery releases them. */
	assert_string_equal(job_state(f->st, disc), "staged");
	state_sql(f->path, "DROP TRIGGER no_ready");
	assert_int_equal(disconnect_recover(dopts(&cfg), dm, db, f->st, 0, &fixed, &err), LETHE_OK);
	assert_int_equal(fixed, 1);
	assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_E_NOTFOUND);
	assert_string_equal(job_state(f->st, disc), "pending");
	datamap_free(dm);
	appdb_close(db);
}

/*
 * The app commit fails (step 3): the caller is told so, the staged record is
 * aborted and dropped; when even the drop fails, recovery drops the aborted
 * record and never applies the disconnect.
 */
static void
test_outbox_disconnect_app_commit_fails(void **state)
{
	struct st_fixture *f = *state;
	struct lethe_config cfg;
	struct lethe_err err;
	struct datamap *dm = NULL;
	struct appdb *db = recover_setup(f, &cfg, &dm);
	struct store_disc d;
	char *tok2 = NULL, *t;
	int64_t disc = 0, n = -1, aborted = 0;
	bool already = false;
	int fixed = 0;

	memset(&err, 0, sizeof(err));
	tok2 = token_of(db, 2);
	/* A deferred foreign key the disconnect's UPDATE violates: COMMIT fails. */
	{
		static const char *const sql[] = {
		    "CREATE TABLE fk_parent (id INTEGER PRIMARY KEY)",
		    "CREATE TABLE fk_child (p INTEGER REFERENCES fk_parent(id) DEFERRABLE "
		    "INITIALLY DEFERRED)",
		    "CREATE TRIGGER fk_fail AFTER UPDATE ON channels BEGIN INSERT INTO fk_child "
		    "VALUES (42); END",
		    "PRAGMA foreign_keys = ON"};

		for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
			assert_int_equal(appdb_exec(db, sql[i], NULL, 0, NULL, NULL), LETHE_OK);
	}
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "2", "api", &disc, &already, &err),
	    LETHE_E_DB);
	t = token_of(db, 2);
	assert_string_equal(t, tok2);
	free(t);
	assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_E_NOTFOUND);
	/* Now the drop fails too: the record is left aborted, never redone. */
	state_sql(f->path, "CREATE TRIGGER no_drop BEFORE DELETE ON channel_disconnects BEGIN "
	                   "SELECT RAISE(ABORT, 'injected'); END");
	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    disconnect_channel(dopts(&cfg), dm, db, f->st, "2", "api", &disc, &already, &err),
	    LETHE_E_DB);
	assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_OK);
	assert_string_equal(d.state, "aborted");
	aborted = d.id;
	store_disc_clear(&d);
	assert_int_equal(store_disc_job_count(f->st, aborted, &n, NULL), LETHE_OK);
	assert_true(n > 0); /* the failed drop left it whole, jobs included */
	state_sql(f->path, "DROP TRIGGER no_drop");
	assert_int_equal(appdb_exec(db, "DROP TRIGGER fk_fail", NULL, 0, NULL, NULL), LETHE_OK);
	assert_int_equal(disconnect_recover(dopts(&cfg), dm, db, f->st, 0, &fixed, &err), LETHE_OK);
	assert_int_equal(fixed, 1);
	t = token_of(db, 2);
	assert_string_equal(t, tok2);
	free(t);
	assert_int_equal(store_disc_next_staged(f->st, 0, &d, NULL), LETHE_E_NOTFOUND);
	assert_int_equal(store_disc_job_count(f->st, aborted, &n, NULL), LETHE_OK);
	assert_int_equal(n, 0);
	free(tok2);
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
	    cmocka_unit_test_setup_teardown(test_outbox_config_media_root_check, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_key_file_created_0600, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_recover_staged, st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_disconnect_waits_for_a_staged_one, st_setup,
	                                    st_teardown),
	    cmocka_unit_test(test_outbox_seal_binary_safe),
	    cmocka_unit_test_setup_teardown(test_outbox_revoke_after_unsubscribe, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_update_needs_live_lease, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_recover_interrupted_release_and_drop,
	                                    st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_recover_by_all_tokens, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_disconnect_refuses_uncarriable, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_key_fingerprint, st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_unopenable_job_waits, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_lease_renew, st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_disconnect_commit_durable, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_identity_disconnects_every_channel,
	                                    st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_too_many_subscriptions_refused, st_setup,
	                                    st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_disconnect_release_fails_after_commit,
	                                    st_setup, st_teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_disconnect_app_commit_fails, st_setup,
	                                    st_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
