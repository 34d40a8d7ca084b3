/* SPDX-License-Identifier: MIT */
/*
 * testutil.c - fixture helpers shared by the unit tests; see testutil.h.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "store/store.h"
#include "util/rc.h"

/* Run @sql on the SQLite file @path: 0, or -1 with SQLite's message in @why. */
static int
run_sql(const char *path, const char *sql, char *why, size_t n)
{
	sqlite3 *h = NULL;
	char *msg = NULL;
	int rc;

	rc = sqlite3_open(path, &h);
	if (rc != SQLITE_OK) {
		snprintf(why, n, "cannot open %s: %s", path,
		         h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
		sqlite3_close(h);
		return -1;
	}
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(why, n, "%s", msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close(h);
		return -1;
	}
	sqlite3_close(h);
	return 0;
}

void
tu_exec_sql(const char *path, const char *sql)
{
	char why[512];

	if (run_sql(path, sql, why, sizeof(why)) != 0)
		fail_msg("sqlite: %s", why);
}

/* Remove @path and everything under it. */
static void
rm_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[1024];

	assert_int_equal(lstat(path, &st), 0);
	if (S_ISDIR(st.st_mode)) {
		d = opendir(path);
		assert_non_null(d);
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			assert_true((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) <
			            sizeof(sub));
			rm_tree(sub);
		}
		closedir(d);
		assert_int_equal(rmdir(path), 0);
	} else {
		assert_int_equal(unlink(path), 0);
	}
}

void
tu_rm_rf(const char *dir)
{
	assert_true(strncmp(dir, TU_TMP_PREFIX, strlen(TU_TMP_PREFIX)) == 0);
	rm_tree(dir);
}

/* Whether an snprintf() that returned @len wrote all its text into @n bytes. */
static bool
fits(int len, size_t n)
{
	return len >= 0 && (size_t)len < n;
}

/* Free what @f holds (NULL members are skipped), remove its directory, free @f. */
static void
fixture_free(struct tu_fixture *f)
{
	datamap_free(f->dm);
	appdb_close(f->db);
	tu_rm_rf(f->dir);
	free(f);
}

int
tu_fixture_setup(void **state, const char *tag, const char *const *scripts, const char *map_text)
{
	struct tu_fixture *f = calloc(1, sizeof(*f));
	struct lethe_err err;
	char why[512];
	size_t i;

	if (f == NULL)
		return -1;
	if (!fits(snprintf(f->dir, sizeof(f->dir), TU_TMP_PREFIX "%s-XXXXXX", tag),
	          sizeof(f->dir)) ||
	    mkdtemp(f->dir) == NULL) {
		print_error("setup: cannot make a temp directory for '%s'\n", tag);
		free(f);
		return -1;
	}
	if (!fits(snprintf(f->path, sizeof(f->path), "%s/app.db", f->dir), sizeof(f->path)) ||
	    !fits(snprintf(f->url, sizeof(f->url), "sqlite:%s", f->path), sizeof(f->url))) {
		print_error("setup: path too long: %s\n", f->dir);
		goto fail;
	}
	for (i = 0; scripts != NULL && scripts[i] != NULL; i++) {
		if (run_sql(f->path, scripts[i], why, sizeof(why)) != 0) {
			print_error("setup: sqlite: %s\n", why);
			goto fail;
		}
	}
	memset(&err, 0, sizeof(err));
	f->db = appdb_open(f->url, NULL, &err);
	if (f->db == NULL) {
		print_error("setup: appdb_open: %s\n", err.msg);
		goto fail;
	}
	if (map_text != NULL) {
		f->dm = datamap_load("test.yaml", map_text, &err);
		if (f->dm == NULL || datamap_validate(f->dm, f->db, &err) != LETHE_OK) {
			print_error("setup: data map: %s\n", err.msg);
			goto fail;
		}
	}
	*state = f;
	return 0;

fail:
	fixture_free(f);
	return -1;
}

int
tu_fixture_teardown(void **state)
{
	fixture_free(*state);
	*state = NULL;
	return 0;
}

int
tu_store_setup(void **state, const char *tag)
{
	struct tu_store *f = calloc(1, sizeof(*f));
	char path[128];
	struct lethe_err err = {0};

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s%s-XXXXXX", TU_TMP_PREFIX, tag);
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	if (store_open(path, &f->st, &err) != LETHE_OK) {
		fprintf(stderr, "store_open: %s\n", err.msg);
		tu_rm_rf(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int
tu_store_teardown(void **state)
{
	struct tu_store *f = *state;

	store_close(f->st);
	tu_rm_rf(f->dir);
	free(f);
	*state = NULL;
	return 0;
}
