/* SPDX-License-Identifier: MIT */
/*
 * store.c - the SQLite state store (see store.h).
 *
 * Schema versions are tracked with PRAGMA user_version; store_open() brings
 * an older file up to date inside one transaction.  The connection runs WAL
 * with synchronous=NORMAL: a process crash loses nothing committed; the
 * executor is written so that a lost last commit (power loss) only repeats
 * idempotent work.  secure_delete is on (and checked) on every connection:
 * a wiped identity box or a forgotten row is overwritten with zeros in the
 * file, whatever the SQLite build's default.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdarg.h>
#include <libgen.h>
#include <sodium.h>
#include <sqlite3.h>
#include <time.h>
#include <sys/stat.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/lease.h"
#include "util/mem.h"

#define SCHEMA_VERSION 8

#define STMT_CACHE 32

struct store {
	sqlite3 *db; /* the connection */
	struct {
		const char *sql; /* the statement's text (a string literal: compared by address) */
		sqlite3_stmt *q; /* prepared once */
	} cache[STMT_CACHE];     /* statements of this connection, prepared on first use */
	bool deferred;           /* store_set_deferred_sync() was called */
};

static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL," /* erase */
    "  scope TEXT NOT NULL,"
    "  subject TEXT NOT NULL," /* keyed hash of the identities */
    "  state TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  finished_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS jobs_subject ON jobs(subject, scope, kind);"
    "CREATE TABLE IF NOT EXISTS job_steps ("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id),"
    "  table_name TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  done INTEGER NOT NULL DEFAULT 0,"
    "  media INTEGER NOT NULL DEFAULT 0,"
    "  cursor TEXT,"
    "  pending_rows INTEGER NOT NULL DEFAULT 0,"
    "  pending_key TEXT,"
    "  pending_cursor TEXT,"
    "  pending_media INTEGER NOT NULL DEFAULT 0,"
    "  finished INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (job_id, table_name));"
    "CREATE TABLE IF NOT EXISTS holds ("
    "  table_name TEXT NOT NULL,"
    "  row_key TEXT NOT NULL,"
    "  job_id INTEGER NOT NULL,"
    "  until INTEGER NOT NULL,"
    "  PRIMARY KEY (table_name, row_key));"
    "CREATE INDEX IF NOT EXISTS holds_until ON holds(until);"
    "CREATE INDEX IF NOT EXISTS holds_job ON holds(job_id);";

/* Version 2: media files to remove once their rows' deletion has committed. */
static const char schema_v2[] = "CREATE TABLE IF NOT EXISTS media_pending ("
                                "  job_id INTEGER NOT NULL,"
                                "  table_name TEXT NOT NULL,"
                                "  object_key TEXT NOT NULL,"
                                "  PRIMARY KEY (job_id, table_name, object_key));";

/*
 * Version 3: Meta data-deletion requests and deauthorizations.  The
 * person's app-scoped id is kept only encrypted (identity_box, for the job
 * runner) and only until the request completes; subject is a keyed hash.
 */
static const char schema_v3[] =
    "CREATE TABLE IF NOT EXISTS meta_requests ("
    "  id INTEGER PRIMARY KEY,"
    "  code TEXT NOT NULL UNIQUE,"
    "  app TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  identity_box BLOB NOT NULL,"
    "  state TEXT NOT NULL,"
    "  job_id INTEGER,"
    "  no_data INTEGER NOT NULL DEFAULT 0,"
    "  received_at INTEGER NOT NULL,"
    "  completed_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS meta_requests_subject ON meta_requests(app, subject);"
    "CREATE INDEX IF NOT EXISTS meta_requests_state ON meta_requests(state);"
    "CREATE TABLE IF NOT EXISTS deauthorizations ("
    "  id INTEGER PRIMARY KEY,"
    "  app TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  rows_revoked INTEGER NOT NULL,"
    "  received_at INTEGER NOT NULL);";

/* Version 4: a job is run by one process at a time, which holds its lease. */
static const char schema_v4[] = "ALTER TABLE jobs ADD COLUMN lease_owner TEXT;"
                                "ALTER TABLE jobs ADD COLUMN lease_until INTEGER;";

/*
 * Version 5: channel disconnects and the outbox of their upstream work
 * (docs/internals/outbox.md).  A disconnect names its channel by a keyed
 * hash; the channel id (while staged) and each job's token and account id
 * are kept only sealed (XChaCha20-Poly1305 under the outbox key) and the
 * boxes are wiped (NULL) as soon as they are no longer needed.  Times of
 * the outbox are epoch milliseconds, so backoffs can be short in tests.
 */
static const char schema_v5[] =
    "CREATE TABLE IF NOT EXISTS channel_disconnects ("
    "  id INTEGER PRIMARY KEY,"
    "  subject TEXT NOT NULL," /* keyed hash of the channel id */
    "  state TEXT NOT NULL,"   /* staged, disconnected, aborted */
    "  source TEXT NOT NULL,"  /* api, cli, deauthorize */
    "  platform TEXT,"         /* canonical platform name, or as stored */
    "  requested_at INTEGER NOT NULL,"
    "  disconnected_at INTEGER,"
    "  effects TEXT NOT NULL," /* JSON: tokens wiped, rows per effect */
    "  token_mac TEXT,"        /* staged only: keyed hash of the token read */
    "  box BLOB);"             /* staged only: the sealed channel id */
    "CREATE INDEX IF NOT EXISTS channel_disconnects_subject ON channel_disconnects(subject);"
    "CREATE INDEX IF NOT EXISTS channel_disconnects_state ON channel_disconnects(state);"
    "CREATE TABLE IF NOT EXISTS outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  disconnect_id INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"  /* revoke, unsubscribe, purge */
    "  platform TEXT,"       /* canonical platform name */
    "  state TEXT NOT NULL," /* staged, pending, running, done, dead */
    "  outcome TEXT,"        /* ok, already_revoked, unsupported, failed, expired... */
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"    /* ms */
    "  created_at INTEGER NOT NULL," /* ms */
    "  updated_at INTEGER NOT NULL," /* ms */
    "  finished_at INTEGER,"         /* ms */
    "  http_status INTEGER,"
    "  reason TEXT,"       /* last failure, never a secret */
    "  erase_job INTEGER," /* purge: the erase job */
    "  lease_owner TEXT,"
    "  lease_until INTEGER," /* ms */
    "  box BLOB);"           /* sealed payload; NULL once the job ends */
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);"
    "CREATE INDEX IF NOT EXISTS outbox_disconnect ON outbox(disconnect_id);"
    "CREATE TABLE IF NOT EXISTS outbox_key ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  fingerprint TEXT NOT NULL);"; /* keyed hash of a constant: which key seals */

/*
 * Version 6: meta_requests loses its (app, subject) index.  The subject is a
 * keyed hash, so every insert into that index dirtied a random page: about
 * 6 KB of WAL per request under load.  Repeats are found through an
 * in-memory map of the repeat window's requests (meta/seen.h), loaded
 * through received_at, which grows with the rowid.
 */
static const char schema_v6[] =
    "DROP INDEX IF EXISTS meta_requests_subject;"
    "CREATE INDEX IF NOT EXISTS meta_requests_received ON meta_requests(received_at);";

/*
 * Version 7: a Meta request may be run more than once.  A repeat of a
 * request already in the store asks for one more run (store_meta_rerun):
 * runs counts the runs asked for, job_run is the run job_id belongs to (0:
 * none started), run_at the receipt time of the latest repeat (NULL: none;
 * received_at stays the first request's, which the repeat window counts
 * from).
 */
static const char schema_v7[] =
    "ALTER TABLE meta_requests ADD COLUMN runs INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE meta_requests ADD COLUMN job_run INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE meta_requests ADD COLUMN run_at INTEGER;"
    "UPDATE meta_requests SET job_run = 1 WHERE job_id IS NOT NULL;";

/*
 * Version 8: the fingerprint of every key whose hashes or boxes the store
 * holds (the outbox key's, until now in outbox_key, and the anonymize
 * key's), so another key is refused instead of orphaning them.
 */
static const char schema_v8[] =
    "CREATE TABLE IF NOT EXISTS key_fingerprints ("
    "  name TEXT PRIMARY KEY,"      /* anonymize, outbox */
    "  fingerprint TEXT NOT NULL);" /* keyed hash of a constant under the key */
    "INSERT OR IGNORE INTO key_fingerprints (name, fingerprint) "
    "  SELECT 'outbox', fingerprint FROM outbox_key;"
    "DROP TABLE IF EXISTS outbox_key;";

/* migrations[i] brings a store from version i to i + 1. */
static const char *const migrations[SCHEMA_VERSION] = {schema_v1, schema_v2, schema_v3, schema_v4,
                                                       schema_v5, schema_v6, schema_v7, schema_v8};

static lethe_rc
sfail(struct store *st, struct lethe_err *err, const char *what)
{
	return lethe_err_set(err, LETHE_E_STATE, "state store: %s: %s", what,
	                     sqlite3_errmsg(st->db));
}

static int
mkdirs(const char *dir)
{
	char *tmp = xstrdup(dir);
	char *p;
	int rc = 0;

	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		rc = -1;
	free(tmp);
	return rc;
}

/*
 * SQLite's own busy timeout sleeps 1, 2, 5, 10 ... 100 ms between tries, so
 * the intake, whose answers wait on its write lock, could sleep 100 ms
 * behind a 1 ms transaction of the runner.  Retry every 200 us instead
 * (cheap: a try is one lock attempt), for up to BUSY_TRIES (10 s).
 */
#define BUSY_SLEEP_US 200
#define BUSY_TRIES (10 * 1000 * 1000 / BUSY_SLEEP_US)

static int
on_busy(void *arg, int tries)
{
	struct timespec ts = {0, BUSY_SLEEP_US * 1000L};

	(void)arg;
	if (tries >= BUSY_TRIES)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

/* PRAGMA secure_delete=ON on @db; false if the connection did not take it. */
static bool
secure_delete_on(sqlite3 *db)
{
	sqlite3_stmt *q = NULL;
	bool on = false;

	if (sqlite3_prepare_v2(db, "PRAGMA secure_delete=ON", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		on = sqlite3_column_int(q, 0) == 1;
	sqlite3_finalize(q);
	return on;
}

lethe_rc
store_open(const char *path, struct store **out, struct lethe_err *err)
{
	struct store *st = xcalloc(1, sizeof(*st));
	char *tmp = xstrdup(path);
	sqlite3_stmt *q = NULL;
	int version = 0, fd;
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	if (mkdirs(dirname(tmp)) != 0) {
		rc = lethe_err_set(err, LETHE_E_STATE, "cannot create directory for %s: %s", path,
		                   strerror(errno));
		free(tmp);
		free(st);
		return rc;
	}
	free(tmp);
	/*
	 * A new store is created 0600 here, not by SQLite (0644 less the umask):
	 * its -wal and -shm files get the database file's mode.
	 */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	if (sqlite3_open_v2(path, &st->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		rc = lethe_err_set(err, LETHE_E_STATE, "cannot open state store %s: %s", path,
		                   sqlite3_errmsg(st->db));
		goto fail;
	}
	sqlite3_busy_handler(st->db, on_busy, NULL);
	if (sqlite3_exec(st->db,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
	                 "PRAGMA journal_size_limit=" STORE_WAL_LIMIT_TEXT "; "
	                 "PRAGMA cache_size=-" STORE_CACHE_KIB_TEXT ";",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		rc = sfail(st, err, "setup");
		goto fail;
	}
	if (!secure_delete_on(st->db)) {
		rc = lethe_err_set(
		    err, LETHE_E_STATE,
		    "state store %s: PRAGMA secure_delete=ON did not take (this "
		    "SQLite build refuses it); wiped identities would stay in the file",
		    path);
		goto fail;
	}
	/*
	 * Read the version and migrate inside one write transaction: two
	 * processes opening a new store at once must not both migrate it.
	 */
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = sfail(st, err, "begin");
		goto fail;
	}
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (version > SCHEMA_VERSION) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		rc = lethe_err_set(err, LETHE_E_STATE,
		                   "state store %s has schema version %d; this lethe knows %d "
		                   "(upgrade lethe)",
		                   path, version, SCHEMA_VERSION);
		goto fail;
	}
	if (version < SCHEMA_VERSION) {
		struct buf b;
		char *sql;
		int v;

		buf_init(&b, 1u << 20);
		for (v = version; v < SCHEMA_VERSION; v++)
			buf_adds(&b, migrations[v]);
		buf_addf(&b, "PRAGMA user_version=%d;", SCHEMA_VERSION);
		sql = xstrdup(buf_str(&b));
		buf_free(&b);
		int r = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

		free(sql);
		if (r != SQLITE_OK) {
			rc = sfail(st, err, "creating schema");
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
	}
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = sfail(st, err, "creating schema");
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	*out = st;
	return LETHE_OK;
fail:
	sqlite3_close(st->db);
	free(st);
	return rc;
}

void
store_close(struct store *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(st->cache[i].q);
	/* Closing may checkpoint (the last connection does): let that one sync. */
	if (st->deferred)
		sqlite3_exec(st->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	sqlite3_close(st->db);
	free(st);
}

lethe_rc
store_begin(struct store *st, struct lethe_err *err)
{
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sfail(st, err, "begin");
	return LETHE_OK;
}

lethe_rc
store_commit(struct store *st, struct lethe_err *err)
{
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return sfail(st, err, "commit");
	return LETHE_OK;
}

void
store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Prepare @sql and bind its parameters 1..n in order as @types says, one
 * variadic argument each: 't' const char * (NULL binds NULL), 'i' int64_t,
 * 'b' a const void * and a size_t.  Texts and blobs are bound with @how:
 * SQLITE_TRANSIENT copies them, SQLITE_STATIC (only where the statement
 * runs and is reset before the arguments go) does not.  The caller
 * finalizes *@q.
 */
static void unprep(struct store *st, sqlite3_stmt *q);

static lethe_rc
vprepf(struct store *st, sqlite3_stmt **q, struct lethe_err *err, sqlite3_destructor_type how,
       const char *sql, const char *types, va_list ap)
{
	int i;

	*q = NULL;
	for (i = 0; i < STMT_CACHE && st->cache[i].sql != NULL; i++)
		if (st->cache[i].sql == sql) {
			*q = st->cache[i].q;
			break;
		}
	if (*q == NULL && sqlite3_prepare_v2(st->db, sql, -1, q, NULL) != SQLITE_OK)
		return sfail(st, err, "prepare");
	if (i < STMT_CACHE && st->cache[i].sql == NULL) {
		st->cache[i].sql = sql;
		st->cache[i].q = *q;
	}
	for (i = 0; types[i] != '\0'; i++) {
		if (types[i] == 't') {
			const char *s = va_arg(ap, const char *);

			if (s == NULL)
				sqlite3_bind_null(*q, i + 1);
			else
				sqlite3_bind_text(*q, i + 1, s, -1, how);
		} else if (types[i] == 'i') {
			sqlite3_bind_int64(*q, i + 1, va_arg(ap, int64_t));
		} else {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);

			sqlite3_bind_blob(*q, i + 1, p, (int)n, how);
		}
	}
	return LETHE_OK;
}

static lethe_rc
prepf(struct store *st, sqlite3_stmt **q, struct lethe_err *err, const char *sql, const char *types,
      ...)
{
	va_list ap;
	lethe_rc rc;

	va_start(ap, types);
	rc = vprepf(st, q, err, SQLITE_TRANSIENT, sql, types, ap);
	va_end(ap);
	return rc;
}

/*
 * prepf, one step, reset or finalize: for statements that return no rows.
 * Binds without copying: the arguments outlive the statement's use.
 */
static lethe_rc
execf(struct store *st, struct lethe_err *err, const char *sql, const char *types, ...)
{
	sqlite3_stmt *q = NULL;
	va_list ap;
	lethe_rc rc;
	int r;

	va_start(ap, types);
	rc = vprepf(st, &q, err, SQLITE_STATIC, sql, types, ap);
	va_end(ap);
	if (rc == LETHE_OK) {
		r = sqlite3_step(q);
		if (r != SQLITE_DONE && r != SQLITE_ROW)
			rc = sfail(st, err, "write");
	}
	unprep(st, q);
	return rc;
}

/* Done with @q: a cached statement is reset for its next use, another finalized. */
static void
unprep(struct store *st, sqlite3_stmt *q)
{
	int i;

	if (q == NULL)
		return;
	for (i = 0; i < STMT_CACHE && st->cache[i].sql != NULL; i++)
		if (st->cache[i].q == q) {
			sqlite3_reset(q);
			sqlite3_clear_bindings(q);
			return;
		}
	sqlite3_finalize(q);
}

static char *
col_dup(sqlite3_stmt *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	return s ? xstrdup((const char *)s) : NULL;
}

lethe_rc
store_job_find_active(struct store *st, const char *kind, const char *scope, const char *subject,
                      int64_t *job, int64_t *created_at, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	*job = 0;
	*created_at = 0;
	rc = prepf(st, &q, err,
	           "SELECT id, created_at FROM jobs WHERE subject = ?1 AND scope = ?2 AND "
	           "kind = ?3 AND state IN ('pending', 'running') ORDER BY id DESC LIMIT 1",
	           "ttt", subject, scope, kind);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW) {
		*job = sqlite3_column_int64(q, 0);
		*created_at = sqlite3_column_int64(q, 1);
	}
	unprep(st, q);
	return rc;
}

lethe_rc
store_job_create(struct store *st, const char *kind, const char *scope, const char *subject,
                 int64_t now, int64_t *job, struct lethe_err *err)
{
	lethe_rc rc;

	rc = execf(st, err,
	           "INSERT INTO jobs (kind, scope, subject, state, created_at, updated_at) "
	           "VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
	           "ttti", kind, scope, subject, now);
	if (rc == LETHE_OK)
		*job = sqlite3_last_insert_rowid(st->db);
	return rc;
}

lethe_rc
store_job_set_state(struct store *st, int64_t job, const char *state, int64_t finished_at,
                    struct lethe_err *err)
{
	return execf(st, err,
	             "UPDATE jobs SET state = ?2, updated_at = strftime('%s','now'), "
	             "finished_at = CASE WHEN ?3 > 0 THEN ?3 ELSE finished_at END WHERE id = ?1",
	             "iti", job, state, finished_at);
}

lethe_rc
store_job_get(struct store *st, int64_t id, struct store_job *out, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	rc = prepf(st, &q, err,
	           "SELECT id, scope, state, created_at, finished_at FROM jobs WHERE id = ?1", "i",
	           id);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW) {
		out->id = sqlite3_column_int64(q, 0);
		out->scope = col_dup(q, 1);
		out->state = col_dup(q, 2);
		out->created_at = sqlite3_column_int64(q, 3);
		out->finished_at = sqlite3_column_int64(q, 4);
	} else if (rc == LETHE_OK) {
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no job %lld", (long long)id);
	}
	unprep(st, q);
	return rc;
}

void
store_job_clear(struct store_job *j)
{
	free(j->scope);
	free(j->state);
	memset(j, 0, sizeof(*j));
}

lethe_rc
store_step_get(struct store *st, int64_t job, const char *table, const char *action,
               struct store_step *out, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	rc = execf(st, err,
	           "INSERT INTO job_steps (job_id, table_name, action) VALUES (?1, ?2, ?3) "
	           "ON CONFLICT (job_id, table_name) DO NOTHING",
	           "itt", job, table, action);
	if (rc == LETHE_OK)
		rc = prepf(st, &q, err,
		           "SELECT done, media, cursor, pending_rows, pending_key, pending_media, "
		           "finished, pending_cursor FROM job_steps WHERE job_id = ?1 AND "
		           "table_name = ?2",
		           "it", job, table);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW) {
		out->done = sqlite3_column_int64(q, 0);
		out->media = sqlite3_column_int64(q, 1);
		out->cursor = col_dup(q, 2);
		out->pending_rows = sqlite3_column_int64(q, 3);
		out->pending_key = col_dup(q, 4);
		out->pending_media = sqlite3_column_int64(q, 5);
		out->finished = sqlite3_column_int(q, 6) != 0;
		out->pending_cursor = col_dup(q, 7);
	} else if (rc == LETHE_OK) {
		rc = sfail(st, err, "reading step");
	}
	unprep(st, q);
	return rc;
}

void
store_step_clear(struct store_step *s)
{
	free(s->cursor);
	free(s->pending_key);
	free(s->pending_cursor);
	memset(s, 0, sizeof(*s));
}

lethe_rc
store_step_put(struct store *st, int64_t job, const char *table, const struct store_step *s,
               struct lethe_err *err)
{
	return execf(st, err,
	             "UPDATE job_steps SET done = ?3, media = ?4, cursor = ?5, pending_rows = ?6, "
	             "pending_key = ?7, pending_media = ?8, finished = ?9, pending_cursor = ?10 "
	             "WHERE job_id = ?1 AND table_name = ?2",
	             "itiititiit", job, table, s->done, s->media, s->cursor, s->pending_rows,
	             s->pending_key, s->pending_media, (int64_t)(s->finished ? 1 : 0),
	             s->pending_cursor);
}

lethe_rc
store_hold_add(struct store *st, const char *table, const char *key, int64_t job, int64_t until,
               struct lethe_err *err)
{
	return execf(
	    st, err,
	    "INSERT INTO holds (table_name, row_key, job_id, until) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (table_name, row_key) DO UPDATE SET job_id = excluded.job_id, "
	    "until = max(until, excluded.until)",
	    "ttii", table, key, job, until);
}

/* The first column of the first row of @sql with one integer parameter, as an integer. */
static lethe_rc
query_int(struct store *st, const char *sql, int64_t arg, int64_t *out, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	*out = 0;
	rc = prepf(st, &q, err, sql, "i", arg);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		*out = sqlite3_column_int64(q, 0);
	unprep(st, q);
	return rc;
}

lethe_rc
store_hold_due(struct store *st, int64_t now, size_t limit, struct store_hold **out, size_t *n,
               struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	size_t cap = 0;
	lethe_rc rc;

	*out = NULL;
	*n = 0;
	rc = prepf(st, &q, err,
	           "SELECT table_name, row_key, job_id, until FROM holds WHERE until <= ?1 "
	           "ORDER BY until, table_name, row_key LIMIT ?2",
	           "ii", now, (int64_t)limit);
	while (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW) {
		struct store_hold *h;

		*out = xgrow(*out, &cap, *n + 1, sizeof(**out));
		h = &(*out)[(*n)++];
		h->table = col_dup(q, 0);
		h->key = col_dup(q, 1);
		h->job = sqlite3_column_int64(q, 2);
		h->until = sqlite3_column_int64(q, 3);
	}
	unprep(st, q);
	return rc;
}

void
store_holds_free(struct store_hold *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(h[i].table);
		free(h[i].key);
	}
	free(h);
}

lethe_rc
store_hold_remove(struct store *st, const char *table, const char *key, int64_t until,
                  struct lethe_err *err)
{
	return execf(st, err,
	             "DELETE FROM holds WHERE table_name = ?1 AND row_key = ?2 AND until <= ?3",
	             "tti", table, key, until);
}

lethe_rc
store_hold_due_count(struct store *st, int64_t now, int64_t *out, struct lethe_err *err)
{
	return query_int(st, "SELECT count(*) FROM holds WHERE until <= ?1", now, out, err);
}

lethe_rc
store_media_add(struct store *st, int64_t job, const char *table, const char *key,
                struct lethe_err *err)
{
	return execf(
	    st, err,
	    "INSERT INTO media_pending (job_id, table_name, object_key) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT DO NOTHING",
	    "itt", job, table, key);
}

lethe_rc
store_media_list(struct store *st, int64_t job, const char *table, char ***keys, size_t *n,
                 struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	size_t cap = 0;
	lethe_rc rc;

	*keys = NULL;
	*n = 0;
	rc = prepf(st, &q, err,
	           "SELECT object_key FROM media_pending WHERE job_id = ?1 AND table_name = ?2 "
	           "ORDER BY object_key",
	           "it", job, table);
	while (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW) {
		*keys = xgrow(*keys, &cap, *n + 1, sizeof(char *));
		(*keys)[(*n)++] = col_dup(q, 0);
	}
	unprep(st, q);
	return rc;
}

lethe_rc
store_media_remove(struct store *st, int64_t job, const char *table, const char *key,
                   struct lethe_err *err)
{
	return execf(st, err,
	             "DELETE FROM media_pending WHERE job_id = ?1 AND table_name = ?2 AND "
	             "object_key = ?3",
	             "itt", job, table, key);
}

lethe_rc
store_media_clear(struct store *st, int64_t job, const char *table, struct lethe_err *err)
{
	return execf(st, err, "DELETE FROM media_pending WHERE job_id = ?1 AND table_name = ?2",
	             "it", job, table);
}

/* ---- Meta requests ------------------------------------------------------ */

#define META_COLS                                                                                  \
	"id, code, app, state, received_at, completed_at, job_id, no_data, runs, job_run, run_at"
#define META_NCOLS 11

static void
meta_row(sqlite3_stmt *q, struct store_meta_req *out)
{
	const unsigned char *s;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(q, 0);
	s = sqlite3_column_text(q, 1);
	snprintf(out->code, sizeof(out->code), "%s", s ? (const char *)s : "");
	s = sqlite3_column_text(q, 2);
	snprintf(out->app, sizeof(out->app), "%s", s ? (const char *)s : "");
	s = sqlite3_column_text(q, 3);
	snprintf(out->state, sizeof(out->state), "%s", s ? (const char *)s : "");
	out->received_at = sqlite3_column_int64(q, 4);
	out->completed_at = sqlite3_column_int64(q, 5);
	out->job = sqlite3_column_int64(q, 6);
	out->no_data = sqlite3_column_int(q, 7) != 0;
	out->runs = sqlite3_column_int64(q, 8);
	out->job_run = sqlite3_column_int64(q, 9);
	out->run_at = sqlite3_column_int64(q, 10);
}

/*
 * One request row from a prepared @q (META_COLS first), LETHE_E_NOTFOUND if
 * there is none, or LETHE_E_STATE if the query failed (a busy or broken store
 * must not read as "no such request": a status page would say 404).
 */
static lethe_rc
meta_one(struct store *st, sqlite3_stmt *q, lethe_rc rc, struct store_meta_req *out,
         struct lethe_err *err)
{
	int s;

	if (rc != LETHE_OK)
		return rc;
	s = sqlite3_step(q);
	if (s == SQLITE_ROW) {
		meta_row(q, out);
		return LETHE_OK;
	}
	return s == SQLITE_DONE ? LETHE_E_NOTFOUND : sfail(st, err, "reading a request");
}

lethe_rc
store_meta_match(struct store *st, int64_t id, const char *app, const char *subject,
                 struct store_meta_req *out, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = prepf(st, &q, err,
	           "SELECT " META_COLS " FROM meta_requests WHERE id = ?1 AND app = ?2 "
	           "AND subject = ?3",
	           "itt", id, app, subject);
	rc = meta_one(st, q, rc, out, err);
	unprep(st, q);
	return rc;
}

lethe_rc
store_meta_first_since(struct store *st, int64_t since, int64_t *id, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	*id = 0;
	rc = prepf(st, &q, err,
	           "SELECT id FROM meta_requests WHERE received_at >= ?1 ORDER BY received_at, id "
	           "LIMIT 1",
	           "i", since);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		*id = sqlite3_column_int64(q, 0);
	else if (rc == LETHE_OK)
		*id = INT64_MAX; /* nothing received since: every request may go */
	unprep(st, q);
	return rc;
}

lethe_rc
store_meta_since(struct store *st, int64_t since, store_meta_fn fn, void *arg,
                 struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;
	int s = SQLITE_DONE;

	rc = prepf(st, &q, err,
	           "SELECT id, subject, received_at FROM meta_requests WHERE received_at >= ?1",
	           "i", since);
	while (rc == LETHE_OK && (s = sqlite3_step(q)) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(q, 0), (const char *)sqlite3_column_text(q, 1),
		   sqlite3_column_int64(q, 2));
	if (rc == LETHE_OK && s != SQLITE_DONE)
		rc = sfail(st, err, "meta requests");
	unprep(st, q);
	return rc;
}

lethe_rc
store_meta_insert_once(struct store *st, const char *code, const char *app, const char *subject,
                       const uint8_t *box, size_t boxlen, int64_t now, int64_t *id, bool *added,
                       struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc = execf(st, err,
	                    "INSERT INTO meta_requests (code, app, subject, identity_box, state, "
	                    "received_at) VALUES (?1, ?2, ?3, ?4, 'received', ?5) "
	                    "ON CONFLICT(code) DO NOTHING",
	                    "tttbi", code, app, subject, (const void *)box, boxlen, now);

	if (rc != LETHE_OK)
		return rc;
	*added = sqlite3_changes(st->db) > 0;
	if (*added) {
		*id = sqlite3_last_insert_rowid(st->db);
		return LETHE_OK;
	}
	rc = prepf(st, &q, err, "SELECT id FROM meta_requests WHERE code = ?1", "t", code);
	if (rc == LETHE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			*id = sqlite3_column_int64(q, 0);
		else
			rc = lethe_err_set(err, LETHE_E_STATE,
			                   "request vanished while being stored");
	}
	unprep(st, q);
	return rc;
}

lethe_rc
store_meta_by_code(struct store *st, const char *code, struct store_meta_req *out,
                   struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = prepf(st, &q, err, "SELECT " META_COLS " FROM meta_requests WHERE code = ?1", "t",
	           code);
	rc = meta_one(st, q, rc, out, err);
	unprep(st, q);
	return rc;
}

lethe_rc
store_meta_next(struct store *st, int64_t after, struct store_meta_req *out, uint8_t **box,
                size_t *boxlen, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	*box = NULL;
	*boxlen = 0;
	rc = prepf(st, &q, err,
	           "SELECT " META_COLS ", identity_box FROM meta_requests WHERE state IN "
	           "('received', 'running') AND id > ?1 ORDER BY id LIMIT 1",
	           "i", after);
	rc = meta_one(st, q, rc, out, err);
	if (rc == LETHE_OK) {
		const void *b = sqlite3_column_blob(q, META_NCOLS);
		int n = sqlite3_column_bytes(q, META_NCOLS);

		*box = xmalloc(n > 0 ? (size_t)n : 1);
		if (n > 0)
			memcpy(*box, b, (size_t)n);
		*boxlen = n > 0 ? (size_t)n : 0;
	}
	unprep(st, q);
	return rc;
}

/* A final state a later run asked for turns back into 'received' (store_meta_update). */
#define META_LATER "(runs > ?6 AND ?2 <> 'running')"
/* The states of a request that is done (a rerun starts it again). */
#define META_DONE "state IN ('completed', 'completed_with_retention', 'failed')"

lethe_rc
store_meta_update(struct store *st, int64_t id, const char *state, int64_t job, bool no_data,
                  int64_t completed_at, int64_t run, struct lethe_err *err)
{
	/*
	 * A finished request no longer needs the identity: wipe it, unless a
	 * later run was asked for meanwhile: then the request goes back to
	 * 'received' (keeping this run's job) with the identity that run
	 * brought, and runs again.
	 */
	return execf(st, err,
	             "UPDATE meta_requests SET "
	             "state = CASE WHEN " META_LATER " THEN 'received' ELSE ?2 END, "
	             "job_id = nullif(?3, 0), job_run = ?6, "
	             "no_data = CASE WHEN " META_LATER " THEN 0 ELSE ?4 END, "
	             "completed_at = CASE WHEN " META_LATER " THEN NULL WHEN ?5 > 0 THEN ?5 "
	             "ELSE completed_at END, "
	             "identity_box = CASE WHEN NOT " META_LATER " AND ?2 IN ('completed', "
	             "'completed_with_retention') THEN x'' ELSE identity_box END WHERE id = ?1",
	             "itiiii", id, state, job, (int64_t)(no_data ? 1 : 0), completed_at, run);
}

lethe_rc
store_meta_rerun(struct store *st, const char *code, int64_t run, const uint8_t *box, size_t boxlen,
                 int64_t now, bool *applied, struct lethe_err *err)
{
	lethe_rc rc;

	/* A done request starts over; a waiting or running one runs once more after. */
	rc = execf(st, err,
	           "UPDATE meta_requests SET runs = ?2, run_at = ?4, identity_box = ?3, "
	           "no_data = CASE WHEN " META_DONE " THEN 0 ELSE no_data END, "
	           "completed_at = CASE WHEN " META_DONE " THEN NULL ELSE completed_at END, "
	           "state = CASE WHEN " META_DONE " THEN 'received' ELSE state END "
	           "WHERE code = ?1 AND runs < ?2",
	           "tibi", code, run, (const void *)box, boxlen, now);
	if (applied != NULL)
		*applied = rc == LETHE_OK && sqlite3_changes(st->db) > 0;
	return rc;
}

lethe_rc
store_meta_retry_failed(struct store *st, int64_t *n, struct lethe_err *err)
{
	lethe_rc rc = execf(st, err,
	                    "UPDATE meta_requests SET state = 'received', completed_at = NULL "
	                    "WHERE state = 'failed' AND length(identity_box) > 0",
	                    "");

	*n = rc == LETHE_OK ? sqlite3_changes(st->db) : 0;
	return rc;
}

lethe_rc
store_meta_steps(struct store *st, int64_t job, store_step_fn fn, void *arg, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = prepf(st, &q, err,
	           "SELECT s.table_name, s.action, s.done, (SELECT max(until) FROM holds h "
	           "WHERE h.job_id = s.job_id AND h.table_name = s.table_name) FROM job_steps s "
	           "WHERE s.job_id = ?1 ORDER BY s.rowid",
	           "i", job);
	while (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(q, 0),
		   (const char *)sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2),
		   sqlite3_column_int64(q, 3));
	unprep(st, q);
	return rc;
}

lethe_rc
store_deauth_add(struct store *st, const char *app, const char *subject, int64_t rows, int64_t now,
                 struct lethe_err *err)
{
	return execf(st, err,
	             "INSERT INTO deauthorizations (app, subject, rows_revoked, received_at) "
	             "VALUES (?1, ?2, ?3, ?4)",
	             "ttii", app, subject, rows, now);
}

/* Call @fn with each state of @sql's (state, count) rows. */
static lethe_rc
state_counts(struct store *st, const char *sql, store_count_fn fn, void *arg, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = prepf(st, &q, err, sql, "");
	while (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1));
	unprep(st, q);
	return rc;
}

lethe_rc
store_meta_state_counts(struct store *st, store_count_fn fn, void *arg, struct lethe_err *err)
{
	return state_counts(st, "SELECT state, count(*) FROM meta_requests GROUP BY state", fn, arg,
	                    err);
}

lethe_rc
store_job_state_counts(struct store *st, store_count_fn fn, void *arg, struct lethe_err *err)
{
	return state_counts(st, "SELECT state, count(*) FROM jobs GROUP BY state", fn, arg, err);
}

lethe_rc
store_set_durable(struct store *st, struct lethe_err *err)
{
	if (sqlite3_exec(st->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
		return sfail(st, err, "synchronous");
	return LETHE_OK;
}

lethe_rc
store_set_deferred_sync(struct store *st, struct lethe_err *err)
{
	if (sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0", NULL,
	                 NULL, NULL) != SQLITE_OK)
		return sfail(st, err, "synchronous");
	st->deferred = true;
	return LETHE_OK;
}

lethe_rc
store_set_cache(struct store *st, int kib, struct lethe_err *err)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", kib);
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sfail(st, err, "cache_size");
	return LETHE_OK;
}

lethe_rc
store_checkpoint(struct store *st, bool restart, struct lethe_err *err)
{
	int rc = sqlite3_wal_checkpoint_v2(
	    st->db, NULL, restart ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE, NULL,
	    NULL);

	if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
		return sfail(st, err, "checkpoint");
	return LETHE_OK;
}

lethe_rc
store_job_claim(struct store *st, int64_t job, const char *owner, int64_t now, int64_t lease_s,
                struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	char *holder = NULL;
	lethe_rc rc;

	rc = execf(st, err,
	           "UPDATE jobs SET lease_owner = ?2, lease_until = ?3 + ?4 WHERE id = ?1 AND "
	           "(lease_owner IS NULL OR lease_owner = ?2 OR lease_until < ?3)",
	           "itii", job, owner, now, lease_s);
	if (rc != LETHE_OK || sqlite3_changes(st->db) == 1)
		return rc;
	rc = prepf(st, &q, err, "SELECT lease_owner FROM jobs WHERE id = ?1", "i", job);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		holder = col_dup(q, 0);
	unprep(st, q);
	if (rc == LETHE_OK && holder != NULL && lease_owner_dead(holder)) {
		/* Its process is gone (a crash): take over at once instead of waiting. */
		rc = execf(st, err,
		           "UPDATE jobs SET lease_owner = ?2, lease_until = ?3 + ?4 WHERE id = ?1 "
		           "AND lease_owner = ?5",
		           "itiit", job, owner, now, lease_s, holder);
		if (rc == LETHE_OK && sqlite3_changes(st->db) == 1) {
			free(holder);
			return LETHE_OK;
		}
	}
	free(holder);
	if (rc == LETHE_OK)
		rc = lethe_err_set(err, LETHE_E_BUSY,
		                   "job %lld is being run by another lethe process; it finishes "
		                   "there (or run again after %lld s)",
		                   (long long)job, (long long)lease_s);
	return rc;
}

lethe_rc
store_job_release(struct store *st, int64_t job, const char *owner, struct lethe_err *err)
{
	return execf(st, err,
	             "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND "
	             "lease_owner = ?2",
	             "it", job, owner);
}

lethe_rc
store_ping(struct store *st, struct lethe_err *err)
{
	int64_t n = 0;

	return query_int(st, "SELECT count(*) FROM jobs WHERE id = ?1", 0, &n, err);
}

/* ---- channel disconnects and the outbox (schema v5) ---------------------- */

#define DISC_COLS                                                                                  \
	"id, subject, state, source, platform, requested_at, disconnected_at, effects, "           \
	"token_mac, "                                                                              \
	"box"

static void
copy_text(sqlite3_stmt *q, int i, char *out, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	snprintf(out, cap, "%s", s ? (const char *)s : "");
}

static void
copy_blob(sqlite3_stmt *q, int i, uint8_t **box, size_t *boxlen)
{
	const void *b = sqlite3_column_blob(q, i);
	int n = sqlite3_column_bytes(q, i);

	*box = NULL;
	*boxlen = 0;
	if (b == NULL || n <= 0)
		return;
	*box = xmalloc((size_t)n);
	memcpy(*box, b, (size_t)n);
	*boxlen = (size_t)n;
}

static void
disc_row(sqlite3_stmt *q, struct store_disc *out)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(q, 0);
	copy_text(q, 1, out->subject, sizeof(out->subject));
	copy_text(q, 2, out->state, sizeof(out->state));
	copy_text(q, 3, out->source, sizeof(out->source));
	copy_text(q, 4, out->platform, sizeof(out->platform));
	out->requested_at = sqlite3_column_int64(q, 5);
	out->disconnected_at = sqlite3_column_int64(q, 6);
	out->effects = col_dup(q, 7);
	copy_text(q, 8, out->token_mac, sizeof(out->token_mac));
	copy_blob(q, 9, &out->box, &out->boxlen);
}

void
store_disc_clear(struct store_disc *d)
{
	free(d->effects);
	if (d->box != NULL)
		sodium_memzero(d->box, d->boxlen);
	free(d->box);
	memset(d, 0, sizeof(*d));
}

lethe_rc
store_disc_add(struct store *st, const struct store_disc *d, int64_t *id, struct lethe_err *err)
{
	lethe_rc rc;

	rc = execf(st, err,
	           "INSERT INTO channel_disconnects (subject, state, source, platform, "
	           "requested_at, disconnected_at, effects, token_mac, box) VALUES (?1, ?2, ?3, "
	           "nullif(?4, ''), ?5, nullif(?6, 0), ?7, nullif(?8, ''), ?9)",
	           "ttttiittb", d->subject, d->state, d->source, d->platform, d->requested_at,
	           d->disconnected_at, d->effects ? d->effects : "{}", d->token_mac,
	           (const void *)d->box, d->boxlen);
	if (rc == LETHE_OK)
		*id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

/* One disconnect row from a prepared @q (DISC_COLS first), or LETHE_E_NOTFOUND. */
static lethe_rc
disc_one(sqlite3_stmt *q, lethe_rc rc, struct store_disc *out)
{
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		disc_row(q, out);
	else if (rc == LETHE_OK)
		rc = LETHE_E_NOTFOUND;
	return rc;
}

lethe_rc
store_disc_find(struct store *st, const char *subject, struct store_disc *out,
                struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = prepf(st, &q, err,
	           "SELECT " DISC_COLS " FROM channel_disconnects WHERE subject = ?1 AND "
	           "state != 'aborted' ORDER BY id DESC LIMIT 1",
	           "t", subject);
	rc = disc_one(q, rc, out);
	unprep(st, q);
	return rc;
}

lethe_rc
store_disc_next_staged(struct store *st, int64_t after, struct store_disc *out,
                       struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = prepf(st, &q, err,
	           "SELECT " DISC_COLS " FROM channel_disconnects WHERE state IN ('staged', "
	           "'aborted') AND id > ?1 ORDER BY id LIMIT 1",
	           "i", after);
	rc = disc_one(q, rc, out);
	unprep(st, q);
	return rc;
}

/*
 * A savepoint around the statements of one state change, so that it happens
 * whole or not at all, inside a caller's transaction or on its own.
 */
static lethe_rc
sp_begin(struct store *st, struct lethe_err *err)
{
	if (sqlite3_exec(st->db, "SAVEPOINT disc", NULL, NULL, NULL) != SQLITE_OK)
		return sfail(st, err, "savepoint");
	return LETHE_OK;
}

/* Release the savepoint on success (@rc LETHE_OK), else undo it; returns the result. */
static lethe_rc
sp_end(struct store *st, lethe_rc rc, struct lethe_err *err)
{
	if (rc == LETHE_OK && sqlite3_exec(st->db, "RELEASE disc", NULL, NULL, NULL) != SQLITE_OK)
		rc = sfail(st, err, "release");
	if (rc != LETHE_OK) {
		sqlite3_exec(st->db, "ROLLBACK TO disc", NULL, NULL, NULL);
		sqlite3_exec(st->db, "RELEASE disc", NULL, NULL, NULL);
	}
	return rc;
}

lethe_rc
store_disc_ready(struct store *st, int64_t id, int64_t now, int64_t now_ms, struct lethe_err *err)
{
	lethe_rc rc;

	rc = sp_begin(st, err);
	if (rc != LETHE_OK)
		return rc;
	rc = execf(st, err,
	           "UPDATE channel_disconnects SET state = 'disconnected', disconnected_at = ?2, "
	           "token_mac = NULL, box = NULL WHERE id = ?1 AND state = 'staged'",
	           "ii", id, now);
	if (rc == LETHE_OK)
		rc = execf(st, err,
		           "UPDATE outbox SET state = 'pending', next_at = ?2, updated_at = ?2 "
		           "WHERE disconnect_id = ?1 AND state = 'staged' AND ?1 IN (SELECT id "
		           "FROM channel_disconnects WHERE state = 'disconnected')",
		           "ii", id, now_ms);
	return sp_end(st, rc, err);
}

lethe_rc
store_disc_abort(struct store *st, int64_t id, struct lethe_err *err)
{
	return execf(st, err,
	             "UPDATE channel_disconnects SET state = 'aborted' WHERE id = ?1 AND state = "
	             "'staged'",
	             "i", id);
}

lethe_rc
store_disc_drop(struct store *st, int64_t id, struct lethe_err *err)
{
	lethe_rc rc;

	rc = sp_begin(st, err);
	if (rc != LETHE_OK)
		return rc;
	rc = execf(st, err,
	           "DELETE FROM outbox WHERE disconnect_id = ?1 AND ?1 IN (SELECT id FROM "
	           "channel_disconnects WHERE state IN ('staged', 'aborted'))",
	           "i", id);
	if (rc == LETHE_OK)
		rc = execf(st, err,
		           "DELETE FROM channel_disconnects WHERE id = ?1 AND state IN ('staged', "
		           "'aborted')",
		           "i", id);
	return sp_end(st, rc, err);
}

lethe_rc
store_disc_job_count(struct store *st, int64_t id, int64_t *n, struct lethe_err *err)
{
	return query_int(st, "SELECT count(*) FROM outbox WHERE disconnect_id = ?1", id, n, err);
}

lethe_rc
store_outbox_unstage(struct store *st, int64_t now_ms, int64_t *n, struct lethe_err *err)
{
	lethe_rc rc;

	*n = 0;
	rc = sp_begin(st, err);
	if (rc != LETHE_OK)
		return rc;
	rc = execf(st, err,
	           "UPDATE outbox SET state = 'pending', next_at = ?1, updated_at = ?1 WHERE state "
	           "= 'staged' AND disconnect_id IN (SELECT id FROM channel_disconnects WHERE "
	           "state = 'disconnected')",
	           "i", now_ms);
	if (rc == LETHE_OK)
		*n += sqlite3_changes(st->db);
	if (rc == LETHE_OK)
		rc = execf(st, err,
		           "DELETE FROM outbox WHERE state = 'staged' AND disconnect_id NOT IN "
		           "(SELECT id FROM channel_disconnects)",
		           "");
	if (rc == LETHE_OK)
		*n += sqlite3_changes(st->db);
	return sp_end(st, rc, err);
}

/*
 * A revoke waits while an unsubscribe of its disconnect has not ended: the
 * revoke (Facebook: of all the person's tokens) would kill the token the
 * unsubscribe needs.
 */
#define REVOKE_WAITS                                                                               \
	"(outbox.kind = 'revoke' AND EXISTS (SELECT 1 FROM outbox u WHERE u.disconnect_id = "      \
	"outbox.disconnect_id AND u.kind = 'unsubscribe' AND u.state IN ('staged', 'pending', "    \
	"'running')))"

#define OUTBOX_COLS                                                                                \
	"id, disconnect_id, kind, platform, state, outcome, attempts, next_at, created_at, "       \
	"finished_at, http_status, reason, erase_job, box"

static void
outbox_row(sqlite3_stmt *q, struct store_outbox *out, bool with_box)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(q, 0);
	out->disconnect_id = sqlite3_column_int64(q, 1);
	copy_text(q, 2, out->kind, sizeof(out->kind));
	copy_text(q, 3, out->platform, sizeof(out->platform));
	copy_text(q, 4, out->state, sizeof(out->state));
	copy_text(q, 5, out->outcome, sizeof(out->outcome));
	out->attempts = sqlite3_column_int64(q, 6);
	out->next_at_ms = sqlite3_column_int64(q, 7);
	out->created_at_ms = sqlite3_column_int64(q, 8);
	out->finished_at_ms = sqlite3_column_int64(q, 9);
	out->http_status = (long)sqlite3_column_int64(q, 10);
	copy_text(q, 11, out->reason, sizeof(out->reason));
	out->erase_job = sqlite3_column_int64(q, 12);
	out->has_box = sqlite3_column_bytes(q, 13) > 0;
	if (with_box)
		copy_blob(q, 13, &out->box, &out->boxlen);
}

void
store_outbox_clear(struct store_outbox *j)
{
	if (j->box != NULL)
		sodium_memzero(j->box, j->boxlen);
	free(j->box);
	memset(j, 0, sizeof(*j));
}

lethe_rc
store_outbox_add(struct store *st, int64_t disconnect_id, const char *kind, const char *platform,
                 const char *state, int64_t now_ms, const uint8_t *box, size_t boxlen, int64_t *id,
                 struct lethe_err *err)
{
	lethe_rc rc;

	rc = execf(st, err,
	           "INSERT INTO outbox (disconnect_id, kind, platform, state, next_at, created_at, "
	           "updated_at, box) VALUES (?1, ?2, nullif(?3, ''), ?4, ?5, ?5, ?5, ?6)",
	           "itttib", disconnect_id, kind, platform ? platform : "", state, now_ms,
	           (const void *)box, boxlen);
	if (rc == LETHE_OK && id != NULL)
		*id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

lethe_rc
store_outbox_list(struct store *st, int64_t disconnect_id, const char *state, store_outbox_fn fn,
                  void *arg, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	struct store_outbox j;
	lethe_rc rc;

	rc = prepf(st, &q, err,
	           "SELECT " OUTBOX_COLS " FROM outbox WHERE (?1 = 0 OR disconnect_id = ?1) AND "
	           "(?2 IS NULL OR state = ?2) ORDER BY id",
	           "it", disconnect_id, state);
	while (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW) {
		outbox_row(q, &j, false);
		fn(arg, &j);
	}
	unprep(st, q);
	return rc;
}

lethe_rc
store_outbox_get(struct store *st, int64_t id, struct store_outbox *out, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = prepf(st, &q, err, "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1", "i", id);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		outbox_row(q, out, false);
	else if (rc == LETHE_OK)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no outbox job %lld", (long long)id);
	unprep(st, q);
	return rc;
}

/* Take job @id for @owner if it is still due (state @state, lease free or lapsed). */
static lethe_rc
outbox_take(struct store *st, int64_t id, const char *owner, int64_t now_ms, int64_t lease_ms,
            const char *holder, bool *taken, struct lethe_err *err)
{
	lethe_rc rc;

	rc = execf(st, err,
	           "UPDATE outbox SET state = 'running', lease_owner = ?2, lease_until = ?3 + ?4, "
	           "updated_at = ?3 WHERE id = ?1 AND ((state = 'pending' AND next_at <= ?3) OR "
	           "(state = 'running' AND (lease_until < ?3 OR lease_owner = ?5)))",
	           "itiit", id, owner, now_ms, lease_ms, holder);
	*taken = rc == LETHE_OK && sqlite3_changes(st->db) == 1;
	return rc;
}

lethe_rc
store_outbox_claim(struct store *st, int64_t disconnect_id, const char *owner, int64_t now_ms,
                   int64_t lease_ms, struct store_outbox *out, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	int64_t ids[32];
	char *holders[32];
	size_t n = 0, i;
	bool taken = false;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	rc = prepf(st, &q, err,
	           "SELECT id, lease_owner FROM outbox WHERE (?1 = 0 OR disconnect_id = ?1) AND "
	           "((state = 'pending' AND next_at <= ?2) OR state = 'running') AND "
	           "NOT " REVOKE_WAITS " ORDER BY next_at, id LIMIT 32",
	           "ii", disconnect_id, now_ms);
	while (rc == LETHE_OK && n < 32 && sqlite3_step(q) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(q, 0);
		holders[n++] = col_dup(q, 1);
	}
	unprep(st, q);
	for (i = 0; rc == LETHE_OK && !taken && i < n; i++) {
		/* A running job is taken over when its lease lapsed or its process died. */
		const char *dead = holders[i] != NULL && strcmp(holders[i], owner) != 0 &&
		                           lease_owner_dead(holders[i])
		                       ? holders[i]
		                       : "";

		rc = outbox_take(st, ids[i], owner, now_ms, lease_ms, dead, &taken, err);
		if (rc == LETHE_OK && taken) {
			sqlite3_stmt *g = NULL;

			rc = prepf(st, &g, err, "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1",
			           "i", ids[i]);
			if (rc == LETHE_OK && sqlite3_step(g) == SQLITE_ROW)
				outbox_row(g, out, true);
			unprep(st, g);
		}
	}
	for (i = 0; i < n; i++)
		free(holders[i]);
	if (rc == LETHE_OK && !taken)
		rc = LETHE_E_NOTFOUND;
	return rc;
}

lethe_rc
store_outbox_update(struct store *st, const struct store_outbox *j, const char *owner,
                    int64_t now_ms, struct lethe_err *err)
{
	bool final = strcmp(j->state, "done") == 0 || strcmp(j->state, "dead") == 0;
	lethe_rc rc;

	/* A job that ended, either way, no longer needs its token: the box goes. */
	rc = execf(st, err,
	           "UPDATE outbox SET state = ?2, outcome = nullif(?3, ''), attempts = ?4, "
	           "next_at = ?5, updated_at = ?6, finished_at = CASE WHEN ?7 THEN ?6 ELSE NULL "
	           "END, http_status = nullif(?8, 0), reason = nullif(?9, ''), erase_job = "
	           "nullif(?10, 0), lease_owner = NULL, lease_until = NULL, box = CASE WHEN ?7 "
	           "THEN NULL ELSE box END WHERE id = ?1 AND ((?11 IS NULL AND lease_owner IS "
	           "NULL AND state != 'running') OR (state = 'running' AND lease_owner = ?11))",
	           "ittiiiiitit", j->id, j->state, j->outcome, j->attempts, j->next_at_ms, now_ms,
	           (int64_t)(final ? 1 : 0), (int64_t)j->http_status, j->reason, j->erase_job,
	           owner);
	if (rc == LETHE_OK && sqlite3_changes(st->db) != 1)
		rc = lethe_err_set(err, LETHE_E_BUSY, "outbox job %lld was taken over",
		                   (long long)j->id);
	return rc;
}

lethe_rc
store_outbox_renew(struct store *st, int64_t id, const char *owner, int64_t now_ms,
                   int64_t lease_ms, struct lethe_err *err)
{
	lethe_rc rc;

	rc = execf(st, err,
	           "UPDATE outbox SET lease_until = ?3 + ?4, updated_at = ?3 WHERE id = ?1 AND "
	           "state = 'running' AND lease_owner = ?2",
	           "itii", id, owner, now_ms, lease_ms);
	if (rc == LETHE_OK && sqlite3_changes(st->db) != 1)
		rc = lethe_err_set(err, LETHE_E_BUSY, "outbox job %lld was taken over",
		                   (long long)id);
	return rc;
}

lethe_rc
store_outbox_set_erase_job(struct store *st, int64_t id, int64_t erase_job, struct lethe_err *err)
{
	return execf(st, err, "UPDATE outbox SET erase_job = ?2 WHERE id = ?1", "ii", id,
	             erase_job);
}

lethe_rc
store_outbox_counts(struct store *st, store_outbox_count_fn fn, void *arg, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = prepf(st, &q, err,
	           "SELECT kind, state, count(*) FROM outbox GROUP BY kind, state ORDER BY 1, 2",
	           "");
	while (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(q, 0),
		   (const char *)sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2));
	unprep(st, q);
	return rc;
}

lethe_rc
store_key_get(struct store *st, const char *name, char *out, size_t cap, bool *found,
              struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	*found = false;
	if (cap > 0)
		out[0] = '\0';
	rc = prepf(st, &q, err, "SELECT fingerprint FROM key_fingerprints WHERE name = ?1", "t",
	           name);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW) {
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
		*found = true;
	}
	unprep(st, q);
	return rc;
}

lethe_rc
store_key_check(struct store *st, const char *name, const char *fingerprint, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = execf(st, err,
	           "INSERT INTO key_fingerprints (name, fingerprint) VALUES (?1, ?2) "
	           "ON CONFLICT (name) DO NOTHING",
	           "tt", name, fingerprint);
	if (rc == LETHE_OK)
		rc = prepf(st, &q, err, "SELECT fingerprint FROM key_fingerprints WHERE name = ?1",
		           "t", name);
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(q, 0), fingerprint) != 0)
		rc = lethe_err_set(err, LETHE_E_CONFIG,
		                   "the %s key is not the one this state store records", name);
	unprep(st, q);
	return rc;
}

lethe_rc
store_outbox_next_due(struct store *st, int64_t *next_ms, struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	*next_ms = 0;
	rc = prepf(st, &q, err,
	           "SELECT min(CASE WHEN state = 'running' THEN lease_until ELSE next_at END) "
	           "FROM outbox WHERE state IN ('pending', 'running') AND NOT " REVOKE_WAITS,
	           "");
	if (rc == LETHE_OK && sqlite3_step(q) == SQLITE_ROW)
		*next_ms = sqlite3_column_int64(q, 0);
	unprep(st, q);
	return rc;
}
