/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - fixture helpers shared by the cmocka unit tests in tests/unit.
 *
 * testutil.c is compiled into every unit test binary (tests/unit/meson.build).
 * Except tu_fixture_setup(), which returns -1, the helpers report problems
 * with cmocka's assertions: a failure inside one fails the running test like
 * an assertion in the test itself.
 * Every name starts with "tu_" so that no test file's own helpers collide.
 */
#ifndef LETHE_TESTUTIL_H
#define LETHE_TESTUTIL_H

struct appdb;
struct datamap;

/* Every temp directory the helpers make, and the only ones tu_rm_rf removes. */
#define TU_TMP_PREFIX "/tmp/lethe-test-"

/*
 * A temp directory holding an SQLite database "app.db", opened with
 * appdb_open(), and optionally a data map loaded and validated against it.
 * Made by tu_fixture_setup(), freed by tu_fixture_teardown(); tests reach it
 * through cmocka's state: `struct tu_fixture *f = *state;`.
 */
struct tu_fixture {
	char dir[64];       /* TU_TMP_PREFIX "<tag>-XXXXXX", made by mkdtemp() */
	char path[128];     /* dir "/app.db" */
	char url[160];      /* "sqlite:" path, the URL db was opened with */
	struct appdb *db;   /* open on path; never NULL after a successful setup */
	struct datamap *dm; /* the validated map, or NULL if setup was given none */
};

/*
 * Open the SQLite file @path (creating it if missing) and run @sql, which may
 * hold several statements.  Any SQLite error fails the running test with the
 * SQLite message; the connection is closed on every path.
 */
void tu_exec_sql(const char *path, const char *sql);

/*
 * Remove @dir and everything under it (symbolic links are removed, never
 * followed).  @dir must start with TU_TMP_PREFIX, so a bad path can never
 * remove anything else; that and any failure to remove fail the running test.
 */
void tu_rm_rf(const char *dir);

/*
 * cmocka setup body: make a struct tu_fixture and store it in *@state.
 *  - @tag names the temp directory: TU_TMP_PREFIX "<tag>-XXXXXX" (keep it short);
 *  - @scripts is a NULL-terminated list of SQL texts run in order on app.db
 *    (as tu_exec_sql does) before it is opened; NULL runs none;
 *  - @map_text, if not NULL, is loaded as "test.yaml" with datamap_load() and
 *    must validate against the database; NULL leaves dm NULL.
 * Returns 0, or -1 after printing why (a failing script, open or map) and
 * freeing and removing all it made; cmocka then reports the setup as failed.
 */
int tu_fixture_setup(void **state, const char *tag, const char *const *scripts,
                     const char *map_text);

/* cmocka teardown body: free the map, close the database, remove the directory. */
int tu_fixture_teardown(void **state);

/* A temp directory with lethe's state store "state.db" open in it. */
struct store;
struct tu_store {
	char dir[64];     /* TU_TMP_PREFIX "<tag>-XXXXXX" */
	struct store *st; /* store_open() of dir "/state.db" */
};

/* cmocka setup body: make a struct tu_store in *@state; 0, or -1 after printing why. */
int tu_store_setup(void **state, const char *tag);
/* cmocka teardown body: close the store, remove the directory. */
int tu_store_teardown(void **state);

/*
 * (testutil_demo.c: only in the tests that link the demo, see meson.build.)
 * Build the demo application (demo_build(), seed 1, quiet) with @users users in
 * "@parent/demo" and return it opened with appdb_open(); the caller closes it.
 * A failing build or open fails the running test.  @parent is normally
 * f->dir, so the fixture's teardown removes the demo as well.
 */
struct appdb *tu_demo_open(const char *parent, int users);

#endif /* LETHE_TESTUTIL_H */
