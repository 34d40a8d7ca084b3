/* SPDX-License-Identifier: MIT */
/*
 * test_export.c - unit tests of src/engine/export*: the archive of a demo
 * user read back with libarchive's reader: its entries in order, every
 * mapped row of the person (counted in SQL), the kept marks, the
 * manifest's checksums, the media files, no token or secret value of the
 * whole demo anywhere in it, JSON Lines, a person with no rows, a symbolic
 * link out of media_root, the JSON escaping, the encrypted file and its
 * atomic writing, and stop/cancel.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "demo/demo.h"
#include "engine/export.h"
#include "engine/export_internal.h"
#include "engine/plan.h"
#include "media/media.h"
#include "util/mem.h"
#include "util/rc.h"

#define USERS 6

/* The demo, its map, and an archive read back. */
struct fx {
	struct tu_fixture *f;  /* the temp directory */
	struct appdb *db;      /* the demo database */
	struct datamap *dm;    /* the demo's map, validated */
	char media[160];       /* the demo's media_root */
	struct media_set *set; /* its store "local" (media_open() reads through it) */
};

/* One entry of an archive read back. */
struct entry {
	char *path;    /* its name */
	uint8_t *data; /* its bytes */
	size_t len;    /* how many */
};

struct zip {
	struct entry *e; /* entries in archive order */
	size_t n;        /* how many */
};

static int
setup(void **state)
{
	static const char *const scripts[] = {"CREATE TABLE unused(x);", NULL};

	return tu_fixture_setup(state, "export", scripts, NULL);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/*
 * The media stores of a lethe.yaml holding @yaml (its media_stores, if
 * any), with app.media_root @root as the store "local"; relative roots
 * resolve against @dir.
 */
static struct media_set *
media_set_of(const char *dir, const char *root, const char *yaml)
{
	struct lethe_err err = {0};
	struct media_set *set = NULL;
	struct ydoc y;

	if (ydoc_load(&y, "lethe.yaml", yaml, LETHE_E_CONFIG, &err) != LETHE_OK)
		fail_msg("yaml: %s", err.msg);
	if (media_set_parse(dir, root, &y, ydoc_root(&y), &set, &err) != LETHE_OK)
		fail_msg("media: %s", err.msg);
	ydoc_free(&y);
	return set;
}

static void
fx_open(void **state, struct fx *x)
{
	struct lethe_err err = {0};

	memset(x, 0, sizeof(*x));
	x->f = *state;
	x->db = tu_demo_open(x->f->dir, USERS);
	x->dm = datamap_load("datamap.yaml", demo_datamap_yaml, &err);
	if (x->dm == NULL)
		fail_msg("map: %s", err.msg);
	if (datamap_validate(x->dm, x->db, &err) != LETHE_OK)
		fail_msg("validate: %s", err.msg);
	snprintf(x->media, sizeof(x->media), "%s/demo/media", x->f->dir);
	/* lethe.yaml without media_stores: the set is the one store "local". */
	x->set = media_set_of(x->f->dir, x->media, "{}\n");
}

static void
fx_close(struct fx *x)
{
	media_set_free(x->set);
	datamap_free(x->dm);
	appdb_close(x->db);
}

/* A sink into memory. */
struct membuf {
	uint8_t *p; /* bytes */
	size_t n;   /* used */
	size_t cap; /* allocated */
};

static lethe_rc
mem_sink(void *arg, const void *buf, size_t len, struct lethe_err *err)
{
	struct membuf *m = arg;

	(void)err;
	m->p = xgrow(m->p, &m->cap, m->n + len, 1);
	memcpy(m->p + m->n, buf, len);
	m->n += len;
	return LETHE_OK;
}

/* The plan of @email's person in @scope, counted. */
static struct plan *
plan_of(struct fx *x, const char *scope, const char *kind, const char *value)
{
	struct plan_id id = {.kind = kind, .value = value};
	struct lethe_err err = {0};
	struct plan *p = NULL;

	if (plan_build(x->dm, x->db, scope, &id, 1, true, &p, &err) != LETHE_OK)
		fail_msg("plan: %s", err.msg);
	return p;
}

/* Read the zip @p (@n bytes) back with libarchive into @z. */
static void
zip_read(const uint8_t *p, size_t n, struct zip *z)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	memset(z, 0, sizeof(*z));
	archive_read_support_format_zip(a);
	assert_int_equal(archive_read_open_memory(a, p, n), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		struct entry *en;
		uint8_t buf[8192];
		la_ssize_t got;
		size_t cap = 0;

		z->e = xrealloc(z->e, (z->n + 1) * sizeof(*z->e));
		en = &z->e[z->n++];
		memset(en, 0, sizeof(*en));
		en->path = xstrdup(archive_entry_pathname(e));
		while ((got = archive_read_data(a, buf, sizeof(buf))) > 0) {
			en->data = xgrow(en->data, &cap, en->len + (size_t)got + 1, 1);
			memcpy(en->data + en->len, buf, (size_t)got);
			en->len += (size_t)got;
		}
		assert_int_equal(got, 0);
		if (en->data == NULL)
			en->data = xcalloc(1, 1);
		en->data[en->len] = '\0';
	}
	archive_read_free(a);
}

static void
zip_free(struct zip *z)
{
	size_t i;

	for (i = 0; i < z->n; i++) {
		free(z->e[i].path);
		free(z->e[i].data);
	}
	free(z->e);
}

static const struct entry *
zip_get(const struct zip *z, const char *path)
{
	size_t i;

	for (i = 0; i < z->n; i++)
		if (strcmp(z->e[i].path, path) == 0)
			return &z->e[i];
	return NULL;
}

/* Export @plan into memory and read it back. */
static void
export_mem(struct fx *x, const struct plan *plan, const struct export_opts *o, struct zip *z,
           struct export_result *res)
{
	struct lethe_err err = {0};
	struct membuf m = {0};
	unsigned char sum[32];
	char hex[65];

	if (export_write(plan, x->db, o, mem_sink, &m, res, &err) != LETHE_OK)
		fail_msg("export_write: %s", err.msg);
	assert_int_equal(res->bytes, (int64_t)m.n);
	crypto_hash_sha256(sum, m.p, m.n);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	assert_string_equal(hex, res->sha256);
	zip_read(m.p, m.n, z);
	free(m.p);
}

/* memmem(), which the feature macros leave out. */
static const void *
mem_find(const void *hay, size_t n, const void *needle, size_t m)
{
	const uint8_t *h = hay;
	size_t i;

	for (i = 0; m <= n && i <= n - m; i++)
		if (h[i] == *(const uint8_t *)needle && memcmp(h + i, needle, m) == 0)
			return h + i;
	return NULL;
}

static int64_t
count(struct fx *x, const char *sql)
{
	struct lethe_err err = {0};
	int64_t n = -1;

	if (appdb_query_int(x->db, sql, NULL, 0, &n, &err) != LETHE_OK)
		fail_msg("%s: %s", sql, err.msg);
	return n;
}

/* Rows of one table file, JSON array or JSON Lines; each must be an object. */
static size_t
rows_in(const struct entry *e, bool jsonl, json_t **first)
{
	json_error_t je;
	size_t n = 0;

	*first = NULL;
	if (!jsonl) {
		json_t *arr = json_loadb((const char *)e->data, e->len, 0, &je);

		if (arr == NULL)
			fail_msg("%s: %s", e->path, je.text);
		assert_true(json_is_array(arr));
		n = json_array_size(arr);
		if (n > 0)
			*first = json_incref(json_array_get(arr, 0));
		json_decref(arr);
		return n;
	}
	{
		const char *p = (const char *)e->data, *end = p + e->len;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			json_t *o;

			assert_non_null(nl);
			o = json_loadb(p, (size_t)(nl - p), 0, &je);
			if (o == NULL)
				fail_msg("%s line %zu: %s", e->path, n + 1, je.text);
			assert_true(json_is_object(o));
			if (*first == NULL)
				*first = o;
			else
				json_decref(o);
			n++;
			p = nl + 1;
		}
	}
	return n;
}

/* Every token and secret value of the whole demo, non-empty: none may be in an archive. */
static char **
secret_values(struct fx *x, size_t *n)
{
	static const char *const queries[] = {
	    "SELECT access_token FROM channels", "SELECT refresh_token FROM channels",
	    "SELECT password_hash FROM users", "SELECT token_hash FROM preview_links",
	    "SELECT password_hash FROM preview_links"};
	struct lethe_err err = {0};
	char **v = NULL;
	size_t cap = 0, i;

	*n = 0;
	for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct appdb_stmt *st = NULL;

		assert_int_equal(appdb_prepare(x->db, queries[i], &st, &err), LETHE_OK);
		while (appdb_step(x->db, st, &err) == APPDB_ROW) {
			struct appdb_val val;

			appdb_column(x->db, st, 0, &val);
			if (val.type != APPDB_TEXT || strlen(val.s) < 8)
				continue;
			v = xgrow(v, &cap, *n + 1, sizeof(*v));
			v[(*n)++] = xstrdup(val.s);
		}
		appdb_finalize(x->db, st);
	}
	assert_true(*n > 3 * USERS);
	return v;
}

static void
assert_no_secret(const struct zip *z, char **secrets, size_t nsecrets)
{
	static const char *const names[] = {"\"access_token\"", "\"refresh_token\"",
	                                    "\"password_hash\"", "\"token_hash\""};
	size_t i, s;

	for (i = 0; i < z->n; i++) {
		for (s = 0; s < nsecrets; s++)
			if (mem_find(z->e[i].data, z->e[i].len, secrets[s], strlen(secrets[s])) !=
			    NULL)
				fail_msg("a secret value is in %s", z->e[i].path);
		if (strncmp(z->e[i].path, "tables/", 7) == 0)
			for (s = 0; s < sizeof(names) / sizeof(names[0]); s++)
				assert_null(mem_find(z->e[i].data, z->e[i].len, names[s],
				                     strlen(names[s])));
	}
}

static void
test_export_archive_of_a_demo_user(void **state)
{
	struct export_opts o = {.jsonl_from = 10000, .now = 1700000000, .app_name = "Demo <App>"};
	struct export_result res;
	struct fx x;
	struct zip z;
	struct plan *plan;
	json_t *man, *files, *f, *tabs, *t;
	json_error_t je;
	char **secrets;
	size_t nsecrets, i, ntab = 0, nmedia = 0;
	int64_t want_rows = 0, want_media;
	const struct entry *e;

	fx_open(state, &x);
	o.media = x.set;
	plan = plan_of(&x, "account", "email", "user1@example.com");
	export_mem(&x, plan, &o, &z, &res);
	/* Order: tables (map order), media, index.html, manifest.json last. */
	assert_true(z.n > 4);
	assert_string_equal(z.e[0].path, "tables/users.json");
	assert_string_equal(z.e[z.n - 2].path, "index.html");
	assert_string_equal(z.e[z.n - 1].path, "manifest.json");
	for (i = 0; i + 2 < z.n; i++) {
		bool table = strncmp(z.e[i].path, "tables/", 7) == 0;

		assert_true(table || strncmp(z.e[i].path, "media/media/", 12) == 0);
		if (table) {
			assert_int_equal(nmedia, 0); /* no table after a media file */
			ntab++;
		} else {
			nmedia++;
		}
	}
	assert_int_equal(ntab, x.dm->ntables);
	/* Every mapped row of the person, counted independently in SQL. */
	for (i = 0; i < plan->nsteps; i++)
		want_rows += plan->steps[i].rows;
	assert_int_equal(res.rows, want_rows);
	assert_true(want_rows > 20);
	man = json_loadb((const char *)z.e[z.n - 1].data, z.e[z.n - 1].len, 0, &je);
	assert_non_null(man);
	assert_string_equal(json_string_value(json_object_get(man, "format")), "lethe-export/1");
	assert_string_equal(json_string_value(json_object_get(man, "created_at")),
	                    "2023-11-14T22:13:20Z");
	assert_string_equal(json_string_value(json_object_get(man, "scope")), "account");
	assert_true(json_is_null(json_object_get(man, "code")));
	assert_int_equal(json_integer_value(json_object_get(man, "rows")), want_rows);
	tabs = json_object_get(man, "tables");
	assert_int_equal(json_array_size(tabs), x.dm->ntables);
	json_array_foreach(tabs, i, t)
	{
		const char *file = json_string_value(json_object_get(t, "file"));
		json_t *first = NULL;
		char sql[256];
		size_t rows;

		e = zip_get(&z, file);
		assert_non_null(e);
		rows = rows_in(e, false, &first);
		assert_int_equal(rows, json_integer_value(json_object_get(t, "rows")));
		if (strcmp(json_string_value(json_object_get(t, "table")), "users") == 0) {
			assert_int_equal(rows, 1);
			assert_string_equal(json_string_value(json_object_get(first, "email")),
			                    "user1@example.com");
			/* Every column but the secret one, in the table's order. */
			assert_int_equal(json_object_size(first), 7);
			assert_null(json_object_get(first, "password_hash"));
		}
		if (strcmp(json_string_value(json_object_get(t, "table")), "invoices") == 0) {
			json_t *kept = json_object_get(first, "lethe:kept");

			snprintf(sql, sizeof(sql),
			         "SELECT COUNT(*) FROM invoices WHERE user_id = 1");
			assert_int_equal((int64_t)rows, count(&x, sql));
			assert_true(rows > 0);
			assert_int_equal(json_integer_value(json_object_get(t, "kept")), rows);
			assert_non_null(kept);
			assert_string_equal(json_string_value(json_object_get(kept, "for")), "10y");
			assert_string_equal(json_string_value(json_object_get(kept, "from")),
			                    "issued_at");
			assert_non_null(strstr(json_string_value(json_object_get(kept, "reason")),
			                       "tax records"));
		} else {
			assert_int_equal(json_integer_value(json_object_get(t, "kept")), 0);
			if (first != NULL)
				assert_null(json_object_get(first, "lethe:kept"));
		}
		if (strcmp(json_string_value(json_object_get(t, "table")), "channels") == 0)
			assert_int_equal((int64_t)rows,
			                 count(&x,
			                       "SELECT COUNT(*) FROM channels WHERE project_id IN "
			                       "(SELECT id FROM projects WHERE user_id = 1)"));
		json_decref(first);
	}
	assert_int_equal(res.kept, count(&x, "SELECT COUNT(*) FROM invoices WHERE user_id = 1"));
	/* Media: every file of the person's media rows, stored, with its bytes. */
	want_media = count(&x, "SELECT COUNT(*) FROM media WHERE project_id IN "
	                       "(SELECT id FROM projects WHERE user_id = 1)");
	assert_int_equal(res.media, want_media);
	assert_int_equal((int64_t)nmedia, want_media);
	assert_int_equal(res.media_missing, 0);
	/* The manifest's files: every entry but itself, with its size and SHA-256. */
	files = json_object_get(man, "files");
	assert_int_equal(json_array_size(files), z.n - 1);
	json_array_foreach(files, i, f)
	{
		unsigned char sum[32];
		char hex[65];

		e = &z.e[i];
		assert_string_equal(json_string_value(json_object_get(f, "path")), e->path);
		assert_int_equal(json_integer_value(json_object_get(f, "bytes")), (int64_t)e->len);
		crypto_hash_sha256(sum, e->data, e->len);
		sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
		assert_string_equal(json_string_value(json_object_get(f, "sha256")), hex);
	}
	/* index.html: escaped, self-contained, links to every table file. */
	e = zip_get(&z, "index.html");
	assert_non_null(strstr((const char *)e->data, "Demo &lt;App&gt;"));
	assert_null(strstr((const char *)e->data, "<App>"));
	assert_null(strstr((const char *)e->data, "<script"));
	assert_null(strstr((const char *)e->data, "http"));
	assert_non_null(strstr((const char *)e->data, "href=\"tables/invoices.json\""));
	assert_non_null(strstr((const char *)e->data, "Data received from Meta"));
	assert_non_null(strstr((const char *)e->data, "tax records"));
	/* No token or secret of any demo user, anywhere. */
	secrets = secret_values(&x, &nsecrets);
	assert_no_secret(&z, secrets, nsecrets);
	for (i = 0; i < nsecrets; i++)
		free(secrets[i]);
	free(secrets);
	assert_int_equal(json_integer_value(json_object_get(res.detail, "rows")), want_rows);
	json_decref(man);
	export_result_free(&res);
	zip_free(&z);
	plan_free(plan);
	fx_close(&x);
}

static void
test_export_jsonl_and_a_person_without_rows(void **state)
{
	struct export_opts o = {.jsonl_from = 2, .now = 1700000000};
	struct export_result res;
	struct fx x;
	struct zip z;
	struct plan *plan;
	const struct entry *e;
	json_t *first = NULL;
	size_t i;

	fx_open(state, &x);
	o.media = x.set;
	plan = plan_of(&x, "account", "user_id", "2");
	export_mem(&x, plan, &o, &z, &res);
	/* More than 2 rows: JSON Lines, one object per line; 2 or fewer: an array. */
	assert_null(zip_get(&z, "tables/users.jsonl"));
	assert_non_null(zip_get(&z, "tables/users.json"));
	e = zip_get(&z, "tables/messages.jsonl");
	assert_non_null(e);
	assert_int_equal((int64_t)rows_in(e, true, &first),
	                 count(&x, "SELECT COUNT(*) FROM messages WHERE channel_id IN (SELECT id "
	                           "FROM channels WHERE project_id IN (SELECT id FROM projects "
	                           "WHERE user_id = 2))"));
	assert_non_null(json_object_get(first, "body"));
	json_decref(first);
	export_result_free(&res);
	zip_free(&z);
	plan_free(plan);
	/* Nobody: every table's file, each empty, and a manifest saying 0. */
	plan = plan_of(&x, "account", "email", "nobody@example.com");
	export_mem(&x, plan, &o, &z, &res);
	assert_int_equal(res.rows, 0);
	assert_int_equal(res.media, 0);
	for (i = 0; i + 2 < z.n; i++) {
		assert_true(strncmp(z.e[i].path, "tables/", 7) == 0);
		assert_string_equal((const char *)z.e[i].data, "[\n]\n");
	}
	assert_non_null(strstr((const char *)zip_get(&z, "index.html")->data, "No data"));
	export_result_free(&res);
	zip_free(&z);
	plan_free(plan);
	fx_close(&x);
}

static void
test_export_media_never_leaves_media_root(void **state)
{
	struct export_opts o = {.jsonl_from = 10000};
	struct export_result res;
	struct lethe_err err = {0};
	struct appdb_stmt *st = NULL;
	struct appdb_val v;
	char path[512], outside[256];
	struct fx x;
	struct zip z;
	struct plan *plan;
	size_t i;
	int fd;

	fx_open(state, &x);
	o.media = x.set;
	/* user1's first media file becomes a symbolic link to a file outside media_root. */
	snprintf(outside, sizeof(outside), "%s/outside-secret.txt", x.f->dir);
	fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "OUTSIDE-BYTES", 13), 13);
	close(fd);
	assert_int_equal(appdb_prepare(x.db,
	                               "SELECT storage_key FROM media WHERE project_id IN (SELECT "
	                               "id FROM projects WHERE user_id = 1) ORDER BY id",
	                               &st, &err),
	                 LETHE_OK);
	assert_int_equal(appdb_step(x.db, st, &err), APPDB_ROW);
	appdb_column(x.db, st, 0, &v);
	snprintf(path, sizeof(path), "%s/%s", x.media, v.s);
	appdb_finalize(x.db, st);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(outside, path), 0);
	/* And a row naming a path that climbs out. */
	assert_int_equal(appdb_exec(x.db,
	                            "UPDATE media SET storage_key = '../outside-secret.txt' WHERE "
	                            "id = (SELECT MAX(id) FROM media WHERE project_id IN (SELECT "
	                            "id FROM projects WHERE user_id = 1))",
	                            NULL, 0, NULL, &err),
	                 LETHE_OK);
	plan = plan_of(&x, "account", "email", "user1@example.com");
	export_mem(&x, plan, &o, &z, &res);
	assert_int_equal(res.media_missing, 2);
	for (i = 0; i < z.n; i++)
		assert_null(mem_find(z.e[i].data, z.e[i].len, "OUTSIDE-BYTES", 13));
	/* The manifest counts them by table, never naming the path. */
	assert_non_null(strstr((const char *)z.e[z.n - 1].data, "\"media_missing\": 2"));
	assert_null(strstr((const char *)z.e[z.n - 1].data, "outside-secret"));
	export_result_free(&res);
	zip_free(&z);
	plan_free(plan);
	fx_close(&x);
}

static void
test_export_json_escaping(void **state)
{
	static const char in[] = "a\"b\\c\n\t\x01\x1f\x7f"
	                         "\xc3\xa9"         /* é */
	                         "\xe2\x82\xac"     /* € */
	                         "\xf0\x9f\x98\x80" /* 😀 */
	                         "\xff"             /* invalid */
	                         "\xc3"             /* cut short */
	                         "x\xed\xa0\x80"    /* a surrogate */
	                         "\xc0\xaf";        /* overlong */
	struct export_buf b = {0};
	json_error_t je;
	json_t *s;

	(void)state;
	export_json_str(&b, in, sizeof(in) - 1);
	export_buf_add(&b, "", 1);
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\x7f\xc3\xa9\xe2\x82\xac"
	                         "\xf0\x9f\x98\x80\\ufffd\\ufffdx\\ufffd\\ufffd\\ufffd\\ufffd"
	                         "\\ufffd\"");
	s = json_loads(b.p, JSON_DECODE_ANY, &je);
	assert_non_null(s);
	json_decref(s);
	/* A NUL inside text is data, escaped. */
	b.n = 0;
	export_json_str(&b, "a\0b", 3);
	export_buf_add(&b, "", 1);
	assert_string_equal(b.p, "\"a\\u0000b\"");
	free(b.p);
}

/* A sink that fails (a full disk) once it has taken @arg's limit of bytes. */
static lethe_rc
full_sink(void *arg, const void *buf, size_t len, struct lethe_err *err)
{
	size_t *left = arg;

	(void)buf;
	if (len > *left)
		return lethe_err_set(err, LETHE_E_IO, "disk full (test)");
	*left -= len;
	return LETHE_OK;
}

static void
test_export_sink_failure_is_the_result(void **state)
{
	struct export_opts o = {.jsonl_from = 10000, .now = 1700000000};
	struct export_result res;
	struct lethe_err err = {0};
	struct plan *plan;
	struct fx x;
	size_t limits[4], i, full = SIZE_MAX;

	fx_open(state, &x);
	o.media = x.set;
	plan = plan_of(&x, "account", "user_id", "2");
	/* Fails at once, early, midway, and on the archive's very last byte. */
	assert_int_equal(export_write(plan, x.db, &o, full_sink, &full, &res, &err), LETHE_OK);
	full = SIZE_MAX - full;
	assert_int_equal((int64_t)full, res.bytes);
	export_result_free(&res);
	limits[0] = 0;
	limits[1] = 100;
	limits[2] = full / 2;
	limits[3] = full - 1;
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		size_t left = limits[i];

		memset(&err, 0, sizeof(err));
		assert_int_equal(export_write(plan, x.db, &o, full_sink, &left, &res, &err),
		                 LETHE_E_IO);
		assert_int_equal(err.rc, LETHE_E_IO);
		assert_string_equal(err.msg, "disk full (test)");
		assert_null(res.detail);
	}
	plan_free(plan);
	fx_close(&x);
}

/* ---- large steps: both ways of reading, keep rules ------------------------ */

/*
 * notes 1..250000: user 1 owns 1..70000 (over a quarter of the key range:
 * read in key order), user 2 every third of 70001..160000 (30,000 spread
 * keys: collected through the index in two batches, read by IN lists),
 * user 3 the block 160001..181000 (21,000 close keys: read by ranges),
 * user 4 the rest.  invoices: a keep rule (paid) makes two steps of one
 * table.
 */
static const char big_schema[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT);"
    "CREATE TABLE notes(id INTEGER PRIMARY KEY, user_id INTEGER, body TEXT, data BLOB, "
    "score REAL);"
    "CREATE INDEX notes_user ON notes(user_id);"
    "CREATE TABLE invoices(id INTEGER PRIMARY KEY, user_id INTEGER, paid INTEGER);"
    "CREATE INDEX invoices_user ON invoices(user_id);"
    "INSERT INTO users VALUES (1, 'a@example.com'), (2, 'b@example.com'), "
    "(3, 'c@example.com'), (4, 'd@example.com');"
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 250000) "
    "INSERT INTO notes SELECT i, CASE WHEN i <= 70000 THEN 1 "
    "WHEN i <= 160000 AND i % 3 = 0 THEN 2 WHEN i > 160000 AND i <= 181000 THEN 3 ELSE 4 "
    "END, 'n' || i, CASE WHEN i = 1 THEN x'00ff41' END, i * 0.5 FROM c;"
    "INSERT INTO invoices VALUES (1, 1, 1), (2, 1, 0), (3, 1, 1), (4, 2, 0);"
    "CREATE TABLE pics(id TEXT PRIMARY KEY, user_id INTEGER, avatar TEXT, cover TEXT);"
    "INSERT INTO pics VALUES ('p/1', 4, 'a/1.png', 'c/1.png'), ('.p2', 4, 'a/2.png', NULL);";

static const char big_map[] = "version: 1\n"
                              "identities:\n"
                              "  user_id: \"users.id\"\n"
                              "tables:\n"
                              "  users:\n"
                              "    category: account\n"
                              "    links:\n"
                              "      - {identity: user_id, column: id}\n"
                              "    erase: delete\n"
                              "  notes:\n"
                              "    category: content\n"
                              "    links:\n"
                              "      - {parent: users, column: user_id}\n"
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
                              "  pics:\n"
                              "    category: media\n"
                              "    links:\n"
                              "      - {parent: users, column: user_id}\n"
                              "    media: [avatar, cover]\n"
                              "    erase: delete\n"
                              "scopes:\n"
                              "  account:\n"
                              "    description: everything\n"
                              "    identities: [user_id]\n"
                              "    tables: all\n";

static int
setup_big(void **state)
{
	static const char *const scripts[] = {big_schema, NULL};

	return tu_fixture_setup(state, "export-big", scripts, big_map);
}

/* True if note @id is user @u's. */
static bool
note_of(int64_t id, int u)
{
	int owner = id <= 70000                   ? 1
	            : id <= 160000 && id % 3 == 0 ? 2
	            : id > 160000 && id <= 181000 ? 3
	                                          : 4;

	return owner == u;
}

static void
test_export_large_steps_read_every_row_once_in_key_order(void **state)
{
	static const int64_t want[] = {0, 70000, 30000, 21000};
	struct tu_fixture *f = *state;
	struct export_opts o = {.jsonl_from = 10000, .now = 1700000000};
	int u;

	for (u = 1; u <= 3; u++) {
		struct plan_id id = {.kind = "user_id"};
		struct lethe_err err = {0};
		struct export_result res;
		struct membuf m = {0};
		struct plan *plan = NULL;
		const struct entry *e;
		const char *p, *end;
		char val[8];
		int64_t n = 0, last = 0;
		struct zip z;

		snprintf(val, sizeof(val), "%d", u);
		id.value = val;
		assert_int_equal(plan_build(f->dm, f->db, "account", &id, 1, true, &plan, &err),
		                 LETHE_OK);
		if (export_write(plan, f->db, &o, mem_sink, &m, &res, &err) != LETHE_OK)
			fail_msg("export_write: %s", err.msg);
		zip_read(m.p, m.n, &z);
		free(m.p);
		e = zip_get(&z, "tables/notes.jsonl");
		assert_non_null(e);
		for (p = (const char *)e->data, end = p + e->len; p < end; n++) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			json_t *row;
			json_error_t je;
			int64_t rid;

			assert_non_null(nl);
			row = json_loadb(p, (size_t)(nl - p), 0, &je);
			assert_non_null(row);
			rid = json_integer_value(json_object_get(row, "id"));
			assert_true(rid > last); /* key order, no row twice */
			assert_true(note_of(rid, u));
			assert_int_equal(json_integer_value(json_object_get(row, "user_id")), u);
			if (rid == 1) {
				/* Values typed: text, blob as base64, real. */
				assert_string_equal(json_string_value(json_object_get(row, "body")),
				                    "n1");
				assert_string_equal(json_string_value(json_object_get(
				                        json_object_get(row, "data"), "base64")),
				                    "AP9B");
				assert_true(json_real_value(json_object_get(row, "score")) == 0.5);
			}
			last = rid;
			json_decref(row);
			p = nl + 1;
		}
		assert_int_equal(n, want[u]);
		if (u == 1) {
			/* Two steps (the keep rule's and the rest) in one file; only paid rows
			 * kept. */
			json_t *inv, *row;
			json_error_t je;
			size_t i;

			e = zip_get(&z, "tables/invoices.json");
			assert_non_null(e);
			inv = json_loadb((const char *)e->data, e->len, 0, &je);
			assert_int_equal(json_array_size(inv), 3);
			json_array_foreach(inv, i, row)
			{
				json_t *kept = json_object_get(row, "lethe:kept");

				assert_int_equal(kept != NULL, json_integer_value(json_object_get(
				                                   row, "paid")) == 1);
				if (kept != NULL)
					assert_string_equal(
					    json_string_value(json_object_get(kept, "reason")),
					    "tax law");
			}
			json_decref(inv);
			assert_int_equal(res.kept, 2);
		}
		zip_free(&z);
		export_result_free(&res);
		plan_free(plan);
	}
}

/* Write @text into @dir/@rel, making the one directory between. */
static void
put_file(const char *dir, const char *sub, const char *name, const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	(void)mkdir(dir, 0700);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
test_export_media_names_never_clash(void **state)
{
	struct tu_fixture *f = *state;
	struct export_opts o = {.jsonl_from = 10000, .now = 1700000000};
	struct plan_id id = {.kind = "user_id", .value = "4"};
	struct lethe_err err = {0};
	struct export_result res;
	struct membuf m = {0};
	struct plan *plan = NULL;
	struct media_set *set;
	char media[128];
	struct zip z;

	snprintf(media, sizeof(media), "%s/media", f->dir);
	put_file(media, "a", "1.png", "AVATAR-1");
	put_file(media, "c", "1.png", "COVER-1");
	put_file(media, "a", "2.png", "AVATAR-2");
	set = media_set_of(f->dir, media, "{}\n");
	o.media = set;
	assert_int_equal(plan_build(f->dm, f->db, "account", &id, 1, true, &plan, &err), LETHE_OK);
	assert_int_equal(export_write(plan, f->db, &o, mem_sink, &m, &res, &err), LETHE_OK);
	zip_read(m.p, m.n, &z);
	free(m.p);
	/* Keys made safe path segments; the cover's name clashes with the avatar's. */
	assert_string_equal((const char *)zip_get(&z, "media/pics/_.p2/2.png")->data, "AVATAR-2");
	assert_string_equal((const char *)zip_get(&z, "media/pics/p_1/1.png")->data, "AVATAR-1");
	assert_string_equal((const char *)zip_get(&z, "media/pics/p_1/cover-1.png")->data,
	                    "COVER-1");
	assert_int_equal(res.media, 3);
	assert_int_equal(res.media_missing, 0);
	zip_free(&z);
	export_result_free(&res);
	plan_free(plan);
	media_set_free(set);
}

/*
 * A map whose two media columns name two stores: each file is read from
 * its own column's store (a cover of the same name in the avatars'
 * directory is never taken), and a column whose store the set lacks
 * counts its files missing instead of reading them from elsewhere.
 */
static void
test_export_media_from_each_columns_store(void **state)
{
	struct tu_fixture *f = *state;
	struct export_opts o = {.jsonl_from = 10000, .now = 1700000000};
	struct plan_id id = {.kind = "user_id", .value = "4"};
	struct lethe_err err = {0};
	struct export_result res;
	struct membuf m = {0};
	struct plan *plan = NULL;
	struct datamap *dm;
	struct media_set *set;
	char media[128], covers[128], *map;
	struct zip z;
	const char *from = "media: [avatar, cover]", *at;

	/* The same map, its media columns in two stores. */
	at = strstr(big_map, from);
	assert_non_null(at);
	map = xasprintf("%.*smedia: {avatar: local, cover: covers}%s", (int)(at - big_map), big_map,
	                at + strlen(from));
	dm = datamap_load("datamap.yaml", map, &err);
	free(map);
	if (dm == NULL)
		fail_msg("map: %s", err.msg);
	assert_int_equal(datamap_validate(dm, f->db, &err), LETHE_OK);
	snprintf(media, sizeof(media), "%s/media2", f->dir);
	snprintf(covers, sizeof(covers), "%s/covers2", f->dir);
	put_file(media, "a", "1.png", "AVATAR-1");
	put_file(media, "a", "2.png", "AVATAR-2");
	put_file(media, "c", "1.png", "NOT-THE-COVER");
	put_file(covers, "c", "1.png", "COVER-1");
	set = media_set_of(f->dir, media,
	                   "media_stores:\n  covers:\n    type: local\n"
	                   "    root: covers2\n");
	o.media = set;
	assert_int_equal(plan_build(dm, f->db, "account", &id, 1, true, &plan, &err), LETHE_OK);
	assert_int_equal(export_write(plan, f->db, &o, mem_sink, &m, &res, &err), LETHE_OK);
	zip_read(m.p, m.n, &z);
	free(m.p);
	assert_string_equal((const char *)zip_get(&z, "media/pics/p_1/1.png")->data, "AVATAR-1");
	assert_string_equal((const char *)zip_get(&z, "media/pics/p_1/cover-1.png")->data,
	                    "COVER-1");
	assert_int_equal(res.media, 3);
	assert_int_equal(res.media_missing, 0);
	zip_free(&z);
	export_result_free(&res);
	media_set_free(set);
	/* Without the store "covers": the cover is missing, never read from "local". */
	m.p = NULL;
	m.n = m.cap = 0;
	set = media_set_of(f->dir, media, "{}\n");
	o.media = set;
	assert_int_equal(export_write(plan, f->db, &o, mem_sink, &m, &res, &err), LETHE_OK);
	zip_read(m.p, m.n, &z);
	free(m.p);
	assert_null(zip_get(&z, "media/pics/p_1/cover-1.png"));
	for (size_t i = 0; i < z.n; i++)
		assert_null(mem_find(z.e[i].data, z.e[i].len, "NOT-THE-COVER", 13));
	assert_int_equal(res.media, 2);
	assert_int_equal(res.media_missing, 1);
	zip_free(&z);
	export_result_free(&res);
	media_set_free(set);
	plan_free(plan);
	datamap_free(dm);
}

static int cancel_after;

static bool
cancel_cb(void *arg)
{
	(void)arg;
	return --cancel_after < 0;
}

/* Names in @dir (but . and ..). */
static int
dir_count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_export_to_file_encrypted_and_atomic(void **state)
{
	struct export_opts o = {.jsonl_from = 10000, .now = 1700000000};
	struct export_result res;
	struct lethe_err err = {0};
	uint8_t key[SEALSTREAM_KEY_LEN], other[SEALSTREAM_KEY_LEN];
	struct sealstream_r *r;
	struct membuf m = {0};
	char dir[128], path[192];
	unsigned char sum[32];
	char hex[65];
	struct stat sb;
	struct fx x;
	struct zip z;
	struct plan *plan;
	volatile int stop = 1;
	int64_t n = -1;
	int fd;

	fx_open(state, &x);
	o.media = x.set;
	snprintf(dir, sizeof(dir), "%s/exports", x.f->dir);
	sealstream_keygen(key);
	sealstream_keygen(other);
	plan = plan_of(&x, "account", "email", "user1@example.com");
	assert_int_equal(export_to_file(plan, x.db, &o, dir, "a.lx", key, &res, &err), LETHE_OK);
	snprintf(path, sizeof(path), "%s/a.lx", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(dir_count(dir), 1);
	/* Decrypted, it is the zip whose SHA-256 and size the result gives. */
	fd = open(path, O_RDONLY);
	r = sealstream_r_open(fd, key, &err);
	assert_non_null(r);
	for (;;) {
		uint8_t buf[10000];
		size_t got = 0;

		assert_int_equal(sealstream_read(r, buf, sizeof(buf), &got, &err), LETHE_OK);
		if (got == 0)
			break;
		mem_sink(&m, buf, got, &err);
	}
	sealstream_r_close(r);
	close(fd);
	assert_int_equal((int64_t)m.n, res.bytes);
	crypto_hash_sha256(sum, m.p, m.n);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	assert_string_equal(hex, res.sha256);
	zip_read(m.p, m.n, &z);
	assert_string_equal(z.e[z.n - 1].path, "manifest.json");
	zip_free(&z);
	free(m.p);
	export_result_free(&res);
	/* Another key does not open it. */
	fd = open(path, O_RDONLY);
	r = sealstream_r_open(fd, other, &err);
	if (r != NULL) {
		uint8_t buf[100];
		size_t got;

		assert_int_equal(sealstream_read(r, buf, sizeof(buf), &got, &err),
		                 LETHE_E_FORBIDDEN);
		sealstream_r_close(r);
	}
	close(fd);
	/* Stopped, or cancelled midway: no file, no .part left. */
	o.stop = &stop;
	assert_int_equal(export_to_file(plan, x.db, &o, dir, "b.lx", key, &res, &err),
	                 LETHE_E_UNAVAILABLE);
	o.stop = NULL;
	o.cancelled = cancel_cb;
	cancel_after = 5;
	assert_int_equal(export_to_file(plan, x.db, &o, dir, "c.lx", key, &res, &err),
	                 LETHE_E_CONFLICT);
	assert_int_equal(dir_count(dir), 1);
	/* A crash's .part files are swept; archives stay. */
	snprintf(path, sizeof(path), "%s/d.lx.part", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(export_clean_parts(dir, &n, &err), LETHE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(dir_count(dir), 1);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(export_clean_parts(path, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	plan_free(plan);
	fx_close(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_export_archive_of_a_demo_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_export_jsonl_and_a_person_without_rows, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_export_media_never_leaves_media_root, setup,
	                                    teardown),
	    cmocka_unit_test(test_export_json_escaping),
	    cmocka_unit_test_setup_teardown(test_export_sink_failure_is_the_result, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_export_to_file_encrypted_and_atomic, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_export_large_steps_read_every_row_once_in_key_order, setup_big, teardown),
	    cmocka_unit_test_setup_teardown(test_export_media_from_each_columns_store, setup_big,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_export_media_names_never_clash, setup_big,
	                                    teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
