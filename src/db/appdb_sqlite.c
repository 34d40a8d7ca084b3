/* SPDX-License-Identifier: MIT */
/*
 * appdb_sqlite.c - the SQLite driver of the appdb interface.
 *
 * One sqlite3 connection per struct appdb.  Writes take the lock up front
 * (BEGIN IMMEDIATE) so a transaction never fails half-way on a lock upgrade;
 * a busy timeout of 5 s covers the app's own short writes.  The connection
 * runs with synchronous=NORMAL: in WAL mode a commit then costs no fsync and
 * the WAL is synced at checkpoints.  Automatic checkpoints are off for this
 * connection so none lands inside a timed transaction: the executor calls
 * maintain() between batches instead.  secure_delete is on (and checked), so
 * the bytes of an erased row are overwritten with zeros in the file instead
 * of lingering in free space, whatever the SQLite build's default.
 */
#include "util/fmacros.h"

#include <sqlite3.h>

#include "db/appdb.h"
#include "util/mem.h"
#include "util/sqliteutil.h"

/*
 * Page cache of an app-database connection outside bulk mode (KiB; SQLite's
 * default is 2000).  A server keeps four open for as long as it runs (runner,
 * sweeper, outbox, deauthorize); the operating system caches the file too.
 */
#define APP_CACHE_KIB "512"

#define BUSY_TIMEOUT_MS 5000

#define CHECKPOINT_FRAMES 16384 /* checkpoint once the WAL holds this many pages (64 MiB) */

/*
 * How long a job's final checkpoint waits for the app's readers and
 * writers (ms): the app's writers wait behind it meanwhile.
 */
#define FLUSH_BUSY_MS 100

/* Driver state behind appdb.handle. */
struct sq_conn {
	sqlite3 *h;     /* the connection */
	int wal_frames; /* pages in the WAL after our last commit */
};

struct appdb_stmt {
	sqlite3_stmt *st; /* the prepared statement */
	sqlite3 *db;      /* its connection, for error messages */
};

static sqlite3 *
H(struct appdb *db)
{
	return ((struct sq_conn *)db->handle)->h;
}

/* After each commit SQLite reports the WAL's size; remember it for sq_maintain. */
static int
sq_wal_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
	(void)h;
	(void)name;
	((struct sq_conn *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

static lethe_rc
sq_fail(sqlite3 *h, struct lethe_err *err, const char *what)
{
	int code = sqlite3_errcode(h);
	lethe_rc rc = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? LETHE_E_BUSY : LETHE_E_DB;

	return lethe_err_set(err, rc, "%s: %s", what, sqlite3_errmsg(h));
}

static lethe_rc
sq_open(struct appdb *db, const char *target, struct lethe_err *err)
{
	sqlite3 *h = NULL;
	struct sq_conn *conn;
	int rc;

	rc = sqlite3_open_v2(target, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		lethe_err_set(err, LETHE_E_DB, "cannot open app database %s: %s", target,
		              h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
		sqlite3_close(h);
		return LETHE_E_DB;
	}
	sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(h, 0);
	/* Fails cleanly if the file is not a database. */
	rc = sqlite3_exec(h,
	                  "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; "
	                  "PRAGMA cache_size=-" APP_CACHE_KIB
	                  "; SELECT count(*) FROM sqlite_master;",
	                  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		lethe_err_set(err, LETHE_E_DB, "cannot use app database %s: %s", target,
		              sqlite3_errmsg(h));
		sqlite3_close(h);
		return LETHE_E_DB;
	}
	/* Erased values must not stay readable in the file's free space. */
	if (!sqliteutil_secure_delete(h)) {
		lethe_err_set(err, LETHE_E_DB,
		              "app database %s: PRAGMA secure_delete=ON did not take (this SQLite "
		              "build refuses it); erased values would stay in the file",
		              target);
		sqlite3_close(h);
		return LETHE_E_DB;
	}
	conn = xcalloc(1, sizeof(*conn));
	conn->h = h;
	sqlite3_wal_hook(h, sq_wal_hook, conn);
	db->handle = conn;
	return LETHE_OK;
}

static void
sq_close(struct appdb *db)
{
	struct sq_conn *conn = db->handle;

	sqlite3_close(conn->h);
	free(conn);
	db->handle = NULL;
}

static lethe_rc
sq_begin_write(struct appdb *db, struct lethe_err *err)
{
	if (sqlite3_exec(H(db), "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(H(db), err, "begin");
	return LETHE_OK;
}

static lethe_rc
sq_commit(struct appdb *db, struct lethe_err *err)
{
	if (sqlite3_exec(H(db), "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(H(db), err, "commit");
	return LETHE_OK;
}

static void
sq_rollback(struct appdb *db)
{
	if (!sqlite3_get_autocommit(H(db)))
		sqlite3_exec(H(db), "ROLLBACK", NULL, NULL, NULL);
}

static lethe_rc
sq_prepare(struct appdb *db, const char *sql, struct appdb_stmt **out, struct lethe_err *err)
{
	sqlite3_stmt *st = NULL;
	struct appdb_stmt *s;

	if (sqlite3_prepare_v2(H(db), sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(H(db), err, "prepare");
	s = xmalloc(sizeof(*s));
	s->st = st;
	s->db = H(db);
	*out = s;
	return LETHE_OK;
}

static lethe_rc
sq_bind(struct appdb_stmt *s, int idx, const struct appdb_val *v)
{
	int rc;

	switch (v->type) {
	case APPDB_NULL:
		rc = sqlite3_bind_null(s->st, idx);
		break;
	case APPDB_INT:
		rc = sqlite3_bind_int64(s->st, idx, v->i);
		break;
	case APPDB_REAL:
		rc = sqlite3_bind_double(s->st, idx, v->r);
		break;
	case APPDB_TEXT:
	default:
		rc = sqlite3_bind_text(s->st, idx, v->s, -1, SQLITE_TRANSIENT);
		break;
	}
	return rc == SQLITE_OK ? LETHE_OK : LETHE_E_DB;
}

static enum appdb_step
sq_step(struct appdb_stmt *s, struct lethe_err *err)
{
	int rc = sqlite3_step(s->st);

	if (rc == SQLITE_ROW)
		return APPDB_ROW;
	if (rc == SQLITE_DONE)
		return APPDB_DONE;
	sq_fail(s->db, err, "query");
	return APPDB_ERROR;
}

static void
sq_column(struct appdb_stmt *s, int i, struct appdb_val *out)
{
	memset(out, 0, sizeof(*out));
	switch (sqlite3_column_type(s->st, i)) {
	case SQLITE_NULL:
		out->type = APPDB_NULL;
		break;
	case SQLITE_INTEGER:
		out->type = APPDB_INT;
		out->i = sqlite3_column_int64(s->st, i);
		break;
	case SQLITE_FLOAT:
		out->type = APPDB_REAL;
		out->r = sqlite3_column_double(s->st, i);
		break;
	default:
		out->type = APPDB_TEXT;
		out->blob = sqlite3_column_type(s->st, i) == SQLITE_BLOB;
		out->s = (const char *)sqlite3_column_text(s->st, i);
		out->len = (size_t)sqlite3_column_bytes(s->st, i);
		if (out->s == NULL)
			out->s = "";
		break;
	}
}

static int
sq_column_count(struct appdb_stmt *s)
{
	return sqlite3_column_count(s->st);
}

static void
sq_reset(struct appdb_stmt *s)
{
	sqlite3_reset(s->st);
	sqlite3_clear_bindings(s->st);
}

static void
sq_finalize(struct appdb_stmt *s)
{
	sqlite3_finalize(s->st);
	free(s);
}

static int64_t
sq_changes(struct appdb *db)
{
	return sqlite3_changes64(H(db));
}

/* SQLite's affinity rule: a declared type holding "INT" (any case) is an integer column. */
static bool
has_int(const char *type)
{
	size_t i;

	for (i = 0; type[i] != '\0' && type[i + 1] != '\0' && type[i + 2] != '\0'; i++)
		if ((type[i] | 0x20) == 'i' && (type[i + 1] | 0x20) == 'n' &&
		    (type[i + 2] | 0x20) == 't')
			return true;
	return false;
}

static lethe_rc
sq_table_info(struct appdb *db, const char *table, struct appdb_table *t, struct lethe_err *err)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	lethe_rc rc = LETHE_OK;

	/* pragma_table_info takes the table name as a bound value: no SQL injection. */
	if (sqlite3_prepare_v2(H(db),
	                       "SELECT name, type, pk, \"notnull\" FROM pragma_table_info(?1) "
	                       "WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE type IN "
	                       "('table','view') AND name = ?1) ORDER BY cid",
	                       -1, &st, NULL) != SQLITE_OK)
		return sq_fail(H(db), err, "catalogue");
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct appdb_column *c;

		t->cols = xgrow(t->cols, &cap, t->ncols + 1, sizeof(*t->cols));
		c = &t->cols[t->ncols++];
		c->name = xstrdup((const char *)sqlite3_column_text(st, 0));
		c->type = xstrdup(
		    sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
		c->pk = sqlite3_column_int(st, 2) > 0;
		c->notnull = sqlite3_column_int(st, 3) != 0;
		c->integer = has_int(c->type);
	}
	sqlite3_finalize(st);
	if (t->ncols == 0)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no table '%s' in the app database",
		                   table);
	else
		t->name = xstrdup(table);
	return rc;
}

static bool
sq_column_indexed(struct appdb *db, const char *table, const char *column)
{
	sqlite3_stmt *st = NULL;
	bool found = false;

	if (sqlite3_prepare_v2(H(db),
	                       "SELECT 1 FROM pragma_index_list(?1) AS il, "
	                       "pragma_index_info(il.name) AS ii "
	                       "WHERE ii.seqno = 0 AND ii.name = ?2 LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static bool
sq_index_leads(struct appdb *db, const char *table, const char *const *lead, size_t nlead,
               const char *column)
{
	sqlite3_stmt *st = NULL;
	struct appdb_leads m = {0};
	bool found = false;

	if (sqlite3_prepare_v2(
	        H(db),
	        "SELECT il.name, ii.seqno, ii.name FROM pragma_index_list(?1) AS il, "
	        "pragma_index_info(il.name) AS ii WHERE il.partial = 0 "
	        "ORDER BY il.name, ii.seqno",
	        -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (!found && sqlite3_step(st) == SQLITE_ROW) {
		const char *idx = (const char *)sqlite3_column_text(st, 0);
		int64_t seq = sqlite3_column_int64(st, 1);
		const char *col = (const char *)sqlite3_column_text(st, 2);

		found = appdb_leads_row(&m, idx, seq, col, lead, nlead, column);
	}
	appdb_leads_done(&m);
	sqlite3_finalize(st);
	return found;
}

static int64_t
sq_data_version(struct appdb *db)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(H(db), "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
sq_maintain(struct appdb *db)
{
	struct sq_conn *conn = db->handle;

	if (conn->wal_frames < CHECKPOINT_FRAMES)
		return;
	sqlite3_wal_checkpoint_v2(conn->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	conn->wal_frames = 0;
}

/*
 * A job's end: the WAL still holds the old images of every page the job
 * changed (secure_delete zeroes only the database file's pages), erased
 * values included, until the WAL starts over.  So checkpoint and truncate
 * it, waiting at most FLUSH_BUSY_MS for the app's readers; if the app keeps
 * a read open longer, a passive checkpoint now and a truncating one at the
 * next job's end (the WAL is then also started over by SQLite's next
 * checkpoint that finds no reader).
 */
static void
sq_flush(struct appdb *db)
{
	struct sq_conn *conn = db->handle;
	int rc;

	sqlite3_busy_timeout(conn->h, FLUSH_BUSY_MS);
	rc = sqlite3_wal_checkpoint_v2(conn->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(conn->h, BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		sqlite3_wal_checkpoint_v2(conn->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	conn->wal_frames = 0;
}

/*
 * After a job (the residual scan): "PRAGMA wal_checkpoint(TRUNCATE)" answers
 * (busy, log frames, checkpointed frames): busy 1 when a reader kept the WAL
 * from being truncated, log -1 when the database is not in WAL mode.  Then
 * "PRAGMA secure_delete" read back (the connection set it on at open).
 */
static void
sq_files(struct appdb *db, bool checkpoint, char *wal, size_t cap, int *secure_delete)
{
	struct sq_conn *conn = db->handle;
	sqlite3_stmt *st = NULL;
	const char *what = "not_needed";

	if (checkpoint) {
		what = "busy";
		sqlite3_busy_timeout(conn->h, FLUSH_BUSY_MS);
		if (sqlite3_prepare_v2(conn->h, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL) ==
		        SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW) {
			if (sqlite3_column_int(st, 1) == -1)
				what = "not_wal";
			else if (sqlite3_column_int(st, 0) == 0)
				what = "truncated";
		}
		sqlite3_finalize(st);
		st = NULL;
		sqlite3_busy_timeout(conn->h, BUSY_TIMEOUT_MS);
		conn->wal_frames = 0;
	}
	snprintf(wal, cap, "%s", what);
	*secure_delete = 0;
	if (sqlite3_prepare_v2(conn->h, "PRAGMA secure_delete", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		*secure_delete = sqlite3_column_int(st, 0) == 1 ? 1 : 0;
	sqlite3_finalize(st);
}

static void
sq_durable(struct appdb *db, bool on)
{
	sqlite3_exec(H(db), on ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL,
	             NULL, NULL);
}

static void
sq_bulk(struct appdb *db, bool on)
{
	sqlite3_exec(H(db),
	             on ? "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456"
	                : "PRAGMA cache_size=-" APP_CACHE_KIB "; PRAGMA mmap_size=0",
	             NULL, NULL, NULL);
}

/* The restore marker (appdb.h marker_get); a missing table reads as no row. */
static lethe_rc
sq_marker_get(struct appdb *db, int64_t *epoch, struct lethe_err *err)
{
	sqlite3_stmt *st = NULL;
	lethe_rc rc = LETHE_E_NOTFOUND;
	int r;

	*epoch = 0;
	if (sqlite3_prepare_v2(H(db), "SELECT epoch FROM lethe_restore_marker WHERE id = 1", -1,
	                       &st, NULL) != SQLITE_OK) {
		/* No such table: never created here (or the database predates it). */
		sqlite3_finalize(st);
		return LETHE_E_NOTFOUND;
	}
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*epoch = sqlite3_column_int64(st, 0);
		rc = LETHE_OK;
	} else if (r != SQLITE_DONE) {
		rc = lethe_err_set(err, LETHE_E_DB, "reading the restore marker: %s",
		                   sqlite3_errmsg(H(db)));
	}
	sqlite3_finalize(st);
	return rc;
}

/* The restore marker (appdb.h marker_set). */
static lethe_rc
sq_marker_set(struct appdb *db, int64_t epoch, int64_t if_was, struct lethe_err *err)
{
	sqlite3_stmt *st = NULL;
	lethe_rc rc = LETHE_OK;

	if (if_was < 0 &&
	    sqlite3_exec(H(db),
	                 "CREATE TABLE IF NOT EXISTS lethe_restore_marker ("
	                 "id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL)",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return lethe_err_set(err, LETHE_E_DB, "creating the restore marker: %s",
		                     sqlite3_errmsg(H(db)));
	if (sqlite3_prepare_v2(H(db),
	                       if_was < 0
	                           ? "INSERT INTO lethe_restore_marker (id, epoch) VALUES (1, ?1) "
	                             "ON CONFLICT (id) DO UPDATE SET epoch = max(epoch, ?1)"
	                           : "UPDATE lethe_restore_marker SET epoch = ?1 "
	                             "WHERE id = 1 AND epoch = ?2",
	                       -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return if_was < 0 ? lethe_err_set(err, LETHE_E_DB, "writing the restore marker: %s",
		                                  sqlite3_errmsg(H(db)))
		                  : LETHE_E_NOTFOUND;
	}
	sqlite3_bind_int64(st, 1, epoch);
	if (if_was >= 0)
		sqlite3_bind_int64(st, 2, if_was);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = lethe_err_set(err, LETHE_E_DB, "writing the restore marker: %s",
		                   sqlite3_errmsg(H(db)));
	else if (if_was >= 0 && sqlite3_changes(H(db)) == 0)
		rc = LETHE_E_NOTFOUND;
	sqlite3_finalize(st);
	return rc;
}

const struct appdb_ops appdb_sqlite_ops = {
    .name = "sqlite",
    .dialect = &appdb_sqlite_dialect,
    .open = sq_open,
    .close = sq_close,
    .begin_write = sq_begin_write,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .prepare = sq_prepare,
    .bind = sq_bind,
    .step = sq_step,
    .column = sq_column,
    .column_count = sq_column_count,
    .reset = sq_reset,
    .finalize = sq_finalize,
    .changes = sq_changes,
    .table_info = sq_table_info,
    .column_indexed = sq_column_indexed,
    .index_leads = sq_index_leads,
    .data_version = sq_data_version,
    .maintain = sq_maintain,
    .flush = sq_flush,
    .bulk = sq_bulk,
    .durable = sq_durable,
    .files = sq_files,
    .marker_get = sq_marker_get,
    .marker_set = sq_marker_set,
};
