/* SPDX-License-Identifier: MIT */
/*
 * test_appdb.c - unit tests of src/db: identifier checks and quoting, the
 * SQLite driver's catalogue queries, bound queries, opening.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/stat.h>

#include <unistd.h>

#include "testutil.h"

#include "db/appdb.h"
#include "util/buf.h"
#include "util/rc.h"

/* The fixture's app.db holds a tiny schema. */
static const char schema[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT);"
    "CREATE INDEX users_email ON users(email);"
    "CREATE TABLE projects(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL);"
    "CREATE TABLE channels(id INTEGER PRIMARY KEY, project_id INTEGER, platform TEXT,"
    " platform_user_id TEXT, access_token TEXT);"
    "CREATE INDEX channels_proj_plat ON channels(project_id, platform);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, channel_id INTEGER, body TEXT);"
    "CREATE TABLE invoices(id INTEGER PRIMARY KEY, user_id INTEGER, email TEXT,"
    " issued_at TEXT);"
    "CREATE TABLE pairs(a INTEGER NOT NULL, b TEXT, note, PRIMARY KEY(a, b));"
    "CREATE TABLE uniq(id INTEGER PRIMARY KEY, code TEXT UNIQUE);"
    "CREATE VIEW user_emails AS SELECT id, email FROM users;"
    "INSERT INTO users(id, email) VALUES (1, 'a@example.com'), (2, 'b@example.com'),"
    " (3, 'o''brien@example.com');";

static int
setup(void **state)
{
	static const char *const scripts[] = {schema, NULL};

	return tu_fixture_setup(state, "appdb", scripts, NULL);
}

static int
teardown(void **state)
{
	return tu_fixture_teardown(state);
}

/* ---- identifiers and dialect ------------------------------------------- */

static void
test_appdb_ident_ok(void **state)
{
	char name[80];

	(void)state;
	assert_true(appdb_ident_ok("users"));
	assert_true(appdb_ident_ok("_x"));
	assert_true(appdb_ident_ok("_"));
	assert_true(appdb_ident_ok("a1"));
	assert_true(appdb_ident_ok("A"));
	assert_true(appdb_ident_ok("platform_user_id"));
	assert_true(appdb_ident_ok("Users_2"));

	assert_false(appdb_ident_ok(NULL));
	assert_false(appdb_ident_ok(""));
	assert_false(appdb_ident_ok("1a"));
	assert_false(appdb_ident_ok("a-b"));
	assert_false(appdb_ident_ok("a b"));
	assert_false(appdb_ident_ok("a\"b"));
	assert_false(appdb_ident_ok("a'b"));
	assert_false(appdb_ident_ok("a`b"));
	assert_false(appdb_ident_ok("a.b"));
	assert_false(appdb_ident_ok("users;drop"));
	assert_false(appdb_ident_ok("users;drop table users"));
	assert_false(appdb_ident_ok(" users"));
	assert_false(appdb_ident_ok("users "));
	assert_false(appdb_ident_ok("us\ters"));
	assert_false(appdb_ident_ok("caf\xc3\xa9")); /* non-ASCII */
	assert_false(appdb_ident_ok("\xc3\xa9t\xc3\xa9"));

	/* Up to 63 characters; 64 and more rejected. */
	memset(name, 'a', sizeof(name));
	name[63] = '\0';
	assert_true(appdb_ident_ok(name));
	name[63] = 'a';
	name[64] = '\0';
	assert_false(appdb_ident_ok(name));
	name[79] = '\0';
	assert_false(appdb_ident_ok(name));
	name[0] = '_';
	name[63] = '\0';
	assert_true(appdb_ident_ok(name));
}

static void
test_appdb_quote(void **state)
{
	struct tu_fixture *f = *state;
	struct buf b;

	buf_init(&b, 1024);
	assert_int_equal(appdb_quote(f->db, &b, "users"), LETHE_OK);
	assert_string_equal(buf_str(&b), "\"users\"");
	buf_reset(&b);
	assert_int_equal(appdb_quote(f->db, &b, "a\"b"), LETHE_OK);
	assert_string_equal(buf_str(&b), "\"a\"\"b\"");
	buf_reset(&b);
	assert_int_equal(appdb_quote(f->db, &b, "\"\""), LETHE_OK);
	assert_string_equal(buf_str(&b), "\"\"\"\"\"\"");
	buf_reset(&b);
	assert_int_equal(appdb_quote(f->db, &b, ""), LETHE_OK);
	assert_string_equal(buf_str(&b), "\"\"");
	buf_reset(&b);
	/* Appends to what is there. */
	assert_int_equal(buf_adds(&b, "SELECT * FROM "), LETHE_OK);
	assert_int_equal(appdb_quote(f->db, &b, "users"), LETHE_OK);
	assert_string_equal(buf_str(&b), "SELECT * FROM \"users\"");
	buf_free(&b);

	/* Over the buffer's cap: an error, not an overflow. */
	buf_init(&b, 6);
	assert_int_equal(appdb_quote(f->db, &b, "abcdefgh"), LETHE_E_TOOBIG);
	buf_free(&b);
}

static void
test_appdb_quote_runs_in_sqlite(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	struct buf b;
	int64_t n = -1;

	/* A quoted name with an embedded quote really names that table. */
	assert_int_equal(appdb_exec(f->db, "CREATE TABLE \"we\"\"ird\"(x)", NULL, 0, NULL, &err),
	                 LETHE_OK);
	assert_int_equal(
	    appdb_exec(f->db, "INSERT INTO \"we\"\"ird\" VALUES (1), (2)", NULL, 0, NULL, &err),
	    LETHE_OK);
	buf_init(&b, 1024);
	buf_adds(&b, "SELECT count(*) FROM ");
	assert_int_equal(appdb_quote(f->db, &b, "we\"ird"), LETHE_OK);
	assert_int_equal(appdb_query_int(f->db, buf_str(&b), NULL, 0, &n, &err), LETHE_OK);
	assert_int_equal(n, 2);
	buf_free(&b);
}

static void
test_appdb_param(void **state)
{
	struct tu_fixture *f = *state;
	struct buf b;

	buf_init(&b, 64);
	assert_int_equal(appdb_param(f->db, &b, 1), LETHE_OK);
	assert_int_equal(buf_adds(&b, ","), LETHE_OK);
	assert_int_equal(appdb_param(f->db, &b, 2), LETHE_OK);
	assert_string_equal(buf_str(&b), "?,?");
	buf_free(&b);
}

/* ---- catalogue --------------------------------------------------------- */

static void
test_appdb_table_info(void **state)
{
	struct tu_fixture *f = *state;
	struct appdb_table t;
	struct lethe_err err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(appdb_table_info(f->db, "channels", &t, &err), LETHE_OK);
	assert_string_equal(t.name, "channels");
	assert_int_equal(t.ncols, 5);
	assert_string_equal(t.cols[0].name, "id");
	assert_string_equal(t.cols[0].type, "INTEGER");
	assert_true(t.cols[0].pk);
	assert_string_equal(t.cols[1].name, "project_id");
	assert_false(t.cols[1].pk);
	assert_string_equal(t.cols[2].name, "platform");
	assert_string_equal(t.cols[2].type, "TEXT");
	assert_string_equal(t.cols[3].name, "platform_user_id");
	assert_string_equal(t.cols[4].name, "access_token");
	assert_int_equal(appdb_table_find(&t, "platform"), 2);
	assert_int_equal(appdb_table_find(&t, "id"), 0);
	assert_int_equal(appdb_table_find(&t, "nope"), -1);
	assert_int_equal(appdb_table_find(&t, "Platform"), -1);
	appdb_table_free(&t);
	assert_null(t.cols);
	assert_int_equal(t.ncols, 0);

	/* NOT NULL, composite primary key, untyped column. */
	assert_int_equal(appdb_table_info(f->db, "projects", &t, &err), LETHE_OK);
	assert_true(t.cols[1].notnull);
	assert_false(t.cols[0].notnull);
	appdb_table_free(&t);
	assert_int_equal(appdb_table_info(f->db, "pairs", &t, &err), LETHE_OK);
	assert_int_equal(t.ncols, 3);
	assert_true(t.cols[0].pk);
	assert_true(t.cols[1].pk);
	assert_false(t.cols[2].pk);
	assert_string_equal(t.cols[2].type, "");
	appdb_table_free(&t);

	/* A view has columns too. */
	assert_int_equal(appdb_table_info(f->db, "user_emails", &t, &err), LETHE_OK);
	assert_int_equal(t.ncols, 2);
	appdb_table_free(&t);
}

static void
test_appdb_table_info_missing(void **state)
{
	struct tu_fixture *f = *state;
	struct appdb_table t;
	struct lethe_err err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(appdb_table_info(f->db, "nosuch", &t, &err), LETHE_E_NOTFOUND);
	assert_int_equal(err.rc, LETHE_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "nosuch"));
	assert_int_equal(t.ncols, 0);
	appdb_table_free(&t);

	/* The name is a value, not SQL. */
	assert_int_equal(appdb_table_info(f->db, "users') --", &t, &err), LETHE_E_NOTFOUND);
	appdb_table_free(&t);
	assert_int_equal(appdb_table_info(f->db, "", &t, &err), LETHE_E_NOTFOUND);
	appdb_table_free(&t);
	/* An index is not a table. */
	assert_int_equal(appdb_table_info(f->db, "users_email", &t, &err), LETHE_E_NOTFOUND);
	appdb_table_free(&t);
	/* err may be NULL. */
	assert_int_equal(appdb_table_info(f->db, "nosuch", &t, NULL), LETHE_E_NOTFOUND);
	appdb_table_free(&t);
}

static void
test_appdb_column_indexed(void **state)
{
	struct tu_fixture *f = *state;
	struct appdb *db = f->db;

	assert_true(db->ops->column_indexed(db, "users", "email"));
	/* First column of a composite index counts, later ones do not. */
	assert_true(db->ops->column_indexed(db, "channels", "project_id"));
	assert_false(db->ops->column_indexed(db, "channels", "platform"));
	assert_false(db->ops->column_indexed(db, "channels", "platform_user_id"));
	assert_false(db->ops->column_indexed(db, "projects", "user_id"));
	assert_false(db->ops->column_indexed(db, "messages", "channel_id"));
	/* UNIQUE makes an automatic index. */
	assert_true(db->ops->column_indexed(db, "uniq", "code"));
	/* Missing table or column. */
	assert_false(db->ops->column_indexed(db, "nosuch", "email"));
	assert_false(db->ops->column_indexed(db, "users", "nosuch"));
	/* An index added later is seen. */
	assert_int_equal(
	    appdb_exec(db, "CREATE INDEX m_ch ON messages(channel_id)", NULL, 0, NULL, NULL),
	    LETHE_OK);
	assert_true(db->ops->column_indexed(db, "messages", "channel_id"));
}

/* ---- queries ----------------------------------------------------------- */

static void
test_appdb_query_int_bound(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	struct appdb_val p[2];
	int64_t n = -1;

	memset(&err, 0, sizeof(err));
	memset(p, 0, sizeof(p));
	assert_int_equal(appdb_query_int(f->db, "SELECT count(*) FROM users", NULL, 0, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 3);

	p[0].type = APPDB_TEXT;
	p[0].s = "b@example.com";
	assert_int_equal(
	    appdb_query_int(f->db, "SELECT id FROM users WHERE email = ?", p, 1, &n, &err),
	    LETHE_OK);
	assert_int_equal(n, 2);

	/* A quote in a value is data. */
	p[0].s = "o'brien@example.com";
	assert_int_equal(
	    appdb_query_int(f->db, "SELECT id FROM users WHERE email = ?", p, 1, &n, &err),
	    LETHE_OK);
	assert_int_equal(n, 3);
	p[0].s = "x' OR '1'='1";
	assert_int_equal(
	    appdb_query_int(f->db, "SELECT count(*) FROM users WHERE email = ?", p, 1, &n, &err),
	    LETHE_OK);
	assert_int_equal(n, 0);

	/* Several parameters, INT and TEXT. */
	p[0].type = APPDB_INT;
	p[0].i = 1;
	p[1].type = APPDB_TEXT;
	p[1].s = "b@example.com";
	assert_int_equal(appdb_query_int(f->db,
	                                 "SELECT count(*) FROM users WHERE id = ? OR email = ?", p,
	                                 2, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 2);

	/* No row gives 0; a NULL or text result gives 0. */
	n = -1;
	p[0].i = 99;
	assert_int_equal(
	    appdb_query_int(f->db, "SELECT id FROM users WHERE id = ?", p, 1, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);
	n = -1;
	assert_int_equal(appdb_query_int(f->db, "SELECT NULL", NULL, 0, &n, &err), LETHE_OK);
	assert_int_equal(n, 0);

	/* Large integers survive. */
	p[0].i = INT64_MAX;
	assert_int_equal(appdb_query_int(f->db, "SELECT ?", p, 1, &n, &err), LETHE_OK);
	assert_int_equal(n, INT64_MAX);
	p[0].i = INT64_MIN;
	assert_int_equal(appdb_query_int(f->db, "SELECT ?", p, 1, &n, &err), LETHE_OK);
	assert_true(n == INT64_MIN);
}

static void
test_appdb_query_errors(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	struct appdb_val p[3];
	int64_t n = 5;

	memset(&err, 0, sizeof(err));
	memset(p, 0, sizeof(p));
	/* SQL that does not prepare. */
	assert_int_equal(appdb_query_int(f->db, "SELEC 1", NULL, 0, &n, &err), LETHE_E_DB);
	assert_int_equal(err.rc, LETHE_E_DB);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(appdb_query_int(f->db, "SELECT * FROM nosuch", NULL, 0, &n, NULL),
	                 LETHE_E_DB);
	assert_int_equal(appdb_exec(f->db, "DELET FROM users", NULL, 0, NULL, &err), LETHE_E_DB);
	/* More parameters than placeholders. */
	p[0].type = APPDB_INT;
	p[1].type = APPDB_INT;
	memset(&err, 0, sizeof(err));
	assert_int_equal(appdb_query_int(f->db, "SELECT ?", p, 2, &n, &err), LETHE_E_DB);
	assert_int_equal(err.rc, LETHE_E_DB);
	/* A constraint violation fails at step. */
	memset(&err, 0, sizeof(err));
	p[0].i = 1;
	assert_int_equal(
	    appdb_exec(f->db, "INSERT INTO users(id, email) VALUES (?, 'dup')", p, 1, NULL, &err),
	    LETHE_E_DB);
	assert_int_equal(err.rc, LETHE_E_DB);
	assert_non_null(strstr(err.msg, "UNIQUE"));
	assert_int_equal(
	    appdb_exec(f->db, "INSERT INTO users(id, email) VALUES (?, 'dup')", p, 1, NULL, NULL),
	    LETHE_E_DB);
	/* Nothing was changed. */
	assert_int_equal(appdb_query_int(f->db, "SELECT count(*) FROM users", NULL, 0, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 3);
}

static void
test_appdb_exec_bound(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	struct appdb_val p[4];
	int64_t changes = -1, n = -1;
	struct appdb_stmt *st = NULL;
	struct appdb_val v;

	memset(&err, 0, sizeof(err));
	memset(p, 0, sizeof(p));
	p[0].type = APPDB_INT;
	p[0].i = 10;
	p[1].type = APPDB_TEXT;
	p[1].s = "new'); DROP TABLE users; --";
	p[2].type = APPDB_NULL;
	p[3].type = APPDB_REAL;
	p[3].r = 2.5;
	assert_int_equal(appdb_exec(f->db,
	                            "INSERT INTO invoices(id, email, user_id, issued_at) "
	                            "VALUES (?, ?, ?, ?)",
	                            p, 4, &changes, &err),
	                 LETHE_OK);
	assert_int_equal(changes, 1);

	/* The row holds exactly what was bound. */
	assert_int_equal(appdb_prepare(f->db,
	                               "SELECT id, email, user_id, issued_at FROM invoices "
	                               "WHERE id = ?",
	                               &st, &err),
	                 LETHE_OK);
	assert_int_equal(appdb_bind_all(f->db, st, p, 1), LETHE_OK);
	assert_int_equal(appdb_step(f->db, st, &err), APPDB_ROW);
	assert_int_equal(f->db->ops->column_count(st), 4);
	appdb_column(f->db, st, 0, &v);
	assert_int_equal(v.type, APPDB_INT);
	assert_int_equal(v.i, 10);
	appdb_column(f->db, st, 1, &v);
	assert_int_equal(v.type, APPDB_TEXT);
	assert_string_equal(v.s, "new'); DROP TABLE users; --");
	appdb_column(f->db, st, 2, &v);
	assert_int_equal(v.type, APPDB_NULL);
	appdb_column(f->db, st, 3, &v);
	/* issued_at has TEXT affinity: the REAL is stored as text. */
	assert_int_equal(v.type, APPDB_TEXT);
	assert_string_equal(v.s, "2.5");
	assert_int_equal(appdb_step(f->db, st, &err), APPDB_DONE);
	/* Reset and run again with another value. */
	appdb_reset(f->db, st);
	p[0].i = 11;
	assert_int_equal(appdb_bind_all(f->db, st, p, 1), LETHE_OK);
	assert_int_equal(appdb_step(f->db, st, &err), APPDB_DONE);
	appdb_finalize(f->db, st);
	appdb_finalize(f->db, NULL);

	/* users survived the "injection". */
	assert_int_equal(appdb_query_int(f->db, "SELECT count(*) FROM users", NULL, 0, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 3);

	/* changes counts rows of an UPDATE / DELETE. */
	p[0].type = APPDB_TEXT;
	p[0].s = "%@example.com";
	assert_int_equal(appdb_exec(f->db, "UPDATE users SET email = email WHERE email LIKE ?", p,
	                            1, &changes, &err),
	                 LETHE_OK);
	assert_int_equal(changes, 3);
	p[0].type = APPDB_INT;
	p[0].i = 2;
	assert_int_equal(appdb_exec(f->db, "DELETE FROM users WHERE id = ?", p, 1, &changes, &err),
	                 LETHE_OK);
	assert_int_equal(changes, 1);
	assert_int_equal(appdb_exec(f->db, "DELETE FROM users WHERE id = ?", p, 1, &changes, &err),
	                 LETHE_OK);
	assert_int_equal(changes, 0);
	/* changes may be NULL; a statement yielding rows is run to the end. */
	assert_int_equal(appdb_exec(f->db, "SELECT * FROM users", NULL, 0, NULL, &err), LETHE_OK);
}

static void
test_appdb_transactions(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	int64_t n = -1;

	memset(&err, 0, sizeof(err));
	assert_int_equal(appdb_begin_write(f->db, &err), LETHE_OK);
	assert_int_equal(appdb_exec(f->db, "DELETE FROM users", NULL, 0, NULL, &err), LETHE_OK);
	appdb_rollback(f->db);
	assert_int_equal(appdb_query_int(f->db, "SELECT count(*) FROM users", NULL, 0, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 3);
	/* Rollback outside a transaction is harmless. */
	appdb_rollback(f->db);

	assert_int_equal(appdb_begin_write(f->db, &err), LETHE_OK);
	assert_int_equal(appdb_exec(f->db, "DELETE FROM users WHERE id = 1", NULL, 0, NULL, &err),
	                 LETHE_OK);
	assert_int_equal(appdb_commit(f->db, &err), LETHE_OK);
	assert_int_equal(appdb_query_int(f->db, "SELECT count(*) FROM users", NULL, 0, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 2);
	/* Commit without a transaction is an error, not a crash. */
	assert_int_equal(appdb_commit(f->db, &err), LETHE_E_DB);
	assert_true(f->db->ops->data_version(f->db) >= 0);
	f->db->ops->maintain(f->db);
}

/* Another connection's write is visible as a data_version change. */
static void
test_appdb_data_version(void **state)
{
	struct tu_fixture *f = *state;
	int64_t v1, v2;

	v1 = f->db->ops->data_version(f->db);
	assert_true(v1 >= 0);
	tu_exec_sql(f->path, "INSERT INTO users(email) VALUES ('c@example.com')");
	v2 = f->db->ops->data_version(f->db);
	assert_true(v2 != v1);
}

/* appdb_files(): the WAL truncated (or why not) and secure_delete read back. */
static void
test_appdb_files(void **state)
{
	struct tu_fixture *f = *state;
	char wal[16], walpath[160];
	int sd = -1;
	struct stat sb;

	appdb_files(f->db, false, wal, sizeof(wal), &sd);
	assert_string_equal(wal, "not_needed");
	assert_int_equal(sd, 1);
	appdb_files(f->db, true, wal, sizeof(wal), &sd);
	assert_string_equal(wal, "not_wal");
	assert_int_equal(appdb_exec(f->db, "PRAGMA journal_mode=WAL", NULL, 0, NULL, NULL),
	                 LETHE_OK);
	assert_int_equal(appdb_exec(f->db, "INSERT INTO users(email) VALUES ('w@example.com')",
	                            NULL, 0, NULL, NULL),
	                 LETHE_OK);
	snprintf(walpath, sizeof(walpath), "%s-wal", f->path);
	assert_int_equal(stat(walpath, &sb), 0);
	assert_true(sb.st_size > 0);
	sd = -1;
	appdb_files(f->db, true, wal, sizeof(wal), &sd);
	assert_string_equal(wal, "truncated");
	assert_int_equal(sd, 1);
	assert_int_equal(stat(walpath, &sb), 0);
	assert_int_equal(sb.st_size, 0);
}

/* ---- opening ----------------------------------------------------------- */

static void
test_appdb_open_forms(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	struct appdb *db;
	int64_t n = -1;

	memset(&err, 0, sizeof(err));
	/* A plain path. */
	db = appdb_open(f->path, NULL, &err);
	assert_non_null(db);
	assert_string_equal(db->target, f->path);
	assert_string_equal(db->ops->name, "sqlite");
	assert_int_equal(appdb_query_int(db, "SELECT count(*) FROM users", NULL, 0, &n, &err),
	                 LETHE_OK);
	assert_int_equal(n, 3);
	appdb_close(db);
	/* Relative to a base directory, with and without "sqlite:". */
	db = appdb_open("app.db", f->dir, &err);
	assert_non_null(db);
	assert_string_equal(db->target, f->path);
	appdb_close(db);
	db = appdb_open("sqlite:app.db", f->dir, &err);
	assert_non_null(db);
	assert_string_equal(db->target, f->path);
	appdb_close(db);
	/* An absolute path ignores the base directory. */
	db = appdb_open(f->url, "/nonexistent", &err);
	assert_non_null(db);
	appdb_close(db);
	appdb_close(NULL);
}

static void
test_appdb_open_not_a_database(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	char path[200], url[220];
	FILE *fp;
	size_t i;

	snprintf(path, sizeof(path), "%s/notes.txt", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (i = 0; i < 200; i++)
		fputs("this is not an SQLite database, just text\n", fp);
	fclose(fp);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	memset(&err, 0, sizeof(err));
	assert_null(appdb_open(url, NULL, &err));
	assert_int_equal(err.rc, LETHE_E_DB);
	assert_non_null(strstr(err.msg, path));
	/* With no detail wanted. */
	assert_null(appdb_open(url, NULL, NULL));
}

static void
test_appdb_open_missing_file(void **state)
{
	struct tu_fixture *f = *state;
	struct lethe_err err;
	char path[200];

	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	memset(&err, 0, sizeof(err));
	assert_null(appdb_open(path, NULL, &err));
	assert_int_equal(err.rc, LETHE_E_DB);
	/* Opening never creates the file. */
	assert_int_equal(access(path, F_OK), -1);
	/* A directory is not a database. */
	assert_null(appdb_open(f->dir, NULL, &err));
	assert_int_equal(err.rc, LETHE_E_DB);
}

static void
test_appdb_open_failures(void **state)
{
	struct lethe_err err;

	(void)state;
	memset(&err, 0, sizeof(err));
	/* PostgreSQL: nobody listens on port 1; the message names the URL without its password. */
	assert_null(
	    appdb_open("postgres://user:secret@127.0.0.1:1/app?connect_timeout=2", NULL, &err));
	assert_int_equal(err.rc, LETHE_E_DB);
	assert_null(strstr(err.msg, "secret"));
	assert_non_null(
	    strstr(err.msg, "cannot open app database postgres://user:***@127.0.0.1:1/app"));
	memset(&err, 0, sizeof(err));
	assert_null(appdb_open("postgresql://127.0.0.1:1/app?connect_timeout=2", NULL, &err));
	assert_int_equal(err.rc, LETHE_E_DB);
	memset(&err, 0, sizeof(err));
	assert_null(appdb_open("sqlite:", NULL, &err));
	assert_int_equal(err.rc, LETHE_E_CONFIG);
	memset(&err, 0, sizeof(err));
	assert_null(appdb_open("", NULL, &err));
	assert_int_equal(err.rc, LETHE_E_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_appdb_ident_ok),
	    cmocka_unit_test_setup_teardown(test_appdb_quote, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_quote_runs_in_sqlite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_param, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_table_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_table_info_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_column_indexed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_query_int_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_query_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_exec_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_transactions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_data_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_open_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_open_not_a_database, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_appdb_open_missing_file, setup, teardown),
	    cmocka_unit_test(test_appdb_open_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
