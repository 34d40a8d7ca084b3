/* SPDX-License-Identifier: MIT */
/*
 * store.c - the state store (see store.h): opening and closing a
 * connection, transactions, the connection's settings, and the key
 * fingerprints.  The tables live in one file per family (store_internal.h).
 * A postgresql:// path opens a PostgreSQL store instead (sq_pg.c; its
 * settings below are the PostgreSQL ones: docs/internals/store.md).
 *
 * The connection runs WAL with synchronous=NORMAL: a process crash loses
 * nothing committed; the executor is written so that a lost last commit
 * (power loss) only repeats idempotent work.  secure_delete is on (and
 * checked) on every connection: a wiped identity box or a forgotten row is
 * overwritten with zeros in the file, whatever the SQLite build's default.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store/sq_pg.h"
#include "store/store_internal.h"
#include "util/mem.h"
#include "util/pq.h"
#include "util/sqliteutil.h"
#include "util/timeutil.h"

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
 * (cheap: a try is one lock attempt) until st->busy_ms have passed since
 * the first try, measured on the monotonic clock: counting tries instead
 * assumed every sleep lasts 200 us, and a sleep oversleeps (about 270 us on
 * an idle machine, milliseconds on a loaded one), so "10 s" took 14 s idle
 * and longer than an LMTP test client's 90 s under load, with no 451 yet.
 */
#define BUSY_SLEEP_US 200

static int
on_busy(void *arg, int tries)
{
	struct store *st = arg;
	double now = time_mono_ms(), left;
	struct timespec ts = {0, BUSY_SLEEP_US * 1000L};

	if (tries == 0)
		st->busy_since = now;
	left = st->busy_since + (double)st->busy_ms - now;
	if (left <= 0)
		return 0;
	if (left * 1000.0 < BUSY_SLEEP_US)
		ts.tv_nsec = (long)(left * 1e6);
	nanosleep(&ts, NULL);
	return 1;
}

/* PostgreSQL: the write lock's wait is the session's lock_timeout. */
static lethe_rc
pg_busy(struct store *st, struct lethe_err *err)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SET lock_timeout = %lld", (long long)st->busy_ms);
	return sq_exec(st->c, sql, err);
}

void
store_set_busy_timeout(struct store *st, int64_t ms)
{
	st->busy_ms = ms;
	if (sq_kind(st->c) == SQ_PG)
		pg_busy(st, NULL);
}

/*
 * A PostgreSQL store (docs/internals/store.md "PostgreSQL"): no pragmas,
 * no file; the schema made or upgraded under the write lock.
 */
static lethe_rc
open_pg(const char *url, struct store **out, struct lethe_err *err)
{
	struct store *st = xcalloc(1, sizeof(*st));
	lethe_rc rc = sq_pg_open(url, &st->c, err);

	if (rc != LETHE_OK) {
		free(st);
		return rc;
	}
	st->busy_ms = STORE_BUSY_MS;
	store__audit_watch(st);
	rc = pg_busy(st, err);
	if (rc == LETHE_OK)
		rc = store__migrate(st, url, err);
	if (rc != LETHE_OK) {
		sq_close(st->c);
		free(st);
		return rc;
	}
	*out = st;
	return LETHE_OK;
}

lethe_rc
store_open(const char *path, struct store **out, struct lethe_err *err)
{
	struct store *st;
	char *tmp;
	sqlite3 *db = NULL;
	int fd;
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	if (pq_is_url(path))
		return open_pg(path, out, err);
	st = xcalloc(1, sizeof(*st));
	tmp = xstrdup(path);
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
	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		rc = lethe_err_set(err, LETHE_E_STATE, "cannot open state store %s: %s", path,
		                   sqlite3_errmsg(db));
		sqlite3_close(db);
		free(st);
		return rc;
	}
	st->c = sq_sqlite_wrap(db);
	st->busy_ms = STORE_BUSY_MS;
	sqlite3_busy_handler(db, on_busy, st);
	store__audit_watch(st);
	if (sq_exec(st->c,
	            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
	            "PRAGMA journal_size_limit=" STORE_WAL_LIMIT_TEXT "; "
	            "PRAGMA cache_size=-" STORE_CACHE_KIB_TEXT ";",
	            NULL) != LETHE_OK) {
		rc = store__fail(st, err, "setup");
		goto fail;
	}
	if (!sqliteutil_secure_delete(db)) {
		rc = lethe_err_set(
		    err, LETHE_E_STATE,
		    "state store %s: PRAGMA secure_delete=ON did not take (this "
		    "SQLite build refuses it); wiped identities would stay in the file",
		    path);
		goto fail;
	}
	rc = store__migrate(st, path, err);
	if (rc != LETHE_OK)
		goto fail;
	*out = st;
	return LETHE_OK;
fail:
	sq_close(st->c);
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
		sq_finalize(st->cache[i].q);
	buf_free(&st->audit_buf);
	/* Closing may checkpoint (the last connection does): let that one sync. */
	if (st->deferred && sq_kind(st->c) == SQ_SQLITE)
		sq_exec(st->c, "PRAGMA synchronous=FULL", NULL);
	sq_close(st->c);
	free(st);
}

lethe_rc
store_begin(struct store *st, struct lethe_err *err)
{
	if (sq_begin_write(st->c, NULL) != LETHE_OK)
		return store__fail(st, err, "begin");
	return LETHE_OK;
}

lethe_rc
store_commit(struct store *st, struct lethe_err *err)
{
	if (sq_commit(st->c, NULL) != LETHE_OK)
		return store__fail(st, err, "commit");
	return LETHE_OK;
}

void
store_rollback(struct store *st)
{
	sq_rollback(st->c);
}

/*
 * On PostgreSQL every commit is durable (synchronous_commit on, the
 * server's default) but on the deferred connection, whose transactions say
 * otherwise themselves: nothing to set.
 */
lethe_rc
store_set_durable(struct store *st, struct lethe_err *err)
{
	if (sq_kind(st->c) == SQ_PG)
		return LETHE_OK; /* a PostgreSQL commit waits for its WAL flush (the default) */
	if (sq_exec(st->c, "PRAGMA synchronous=FULL", NULL) != LETHE_OK)
		return store__fail(st, err, "synchronous");
	return LETHE_OK;
}

void
store_set_normal_sync(struct store *st)
{
	if (sq_kind(st->c) == SQ_SQLITE)
		sq_exec(st->c, "PRAGMA synchronous=NORMAL", NULL);
}

lethe_rc
store_set_deferred_sync(struct store *st, struct lethe_err *err)
{
	/* PostgreSQL: commits not waited for; store_wal_sync() makes them durable. */
	if (sq_kind(st->c) == SQ_PG)
		sqpg_async_commits(st->c, true);
	else if (sq_exec(st->c, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0", NULL) !=
	         LETHE_OK)
		return store__fail(st, err, "synchronous");
	st->deferred = true;
	return LETHE_OK;
}

lethe_rc
store_set_cache(struct store *st, int kib, struct lethe_err *err)
{
	char sql[64];

	if (sq_kind(st->c) == SQ_PG)
		return LETHE_OK; /* the server's cache */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", kib);
	if (sq_exec(st->c, sql, NULL) != LETHE_OK)
		return store__fail(st, err, "cache_size");
	return LETHE_OK;
}

lethe_rc
store_checkpoint(struct store *st, bool restart, struct lethe_err *err)
{
	int rc;

	if (sq_kind(st->c) == SQ_PG)
		return LETHE_OK; /* the server checkpoints */
	rc = sqlite3_wal_checkpoint_v2(
	    sq_sqlite_handle(st->c), NULL,
	    restart ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
		return store__fail(st, err, "checkpoint");
	return LETHE_OK;
}

lethe_rc
store_ping(struct store *st, struct lethe_err *err)
{
	int64_t n = 0;

	return store__query_int(st, "ping", "SELECT count(*) FROM jobs WHERE id = ?1", 0, &n, err);
}

lethe_rc
store_key_get(struct store *st, const char *name, char *out, size_t cap, bool *found,
              struct lethe_err *err)
{
	char *fp = NULL;
	lethe_rc rc;

	*found = false;
	if (cap > 0)
		out[0] = '\0';
	rc = store__one(st, err, "reading a key fingerprint", store__row_dup, &fp,
	                "SELECT fingerprint FROM key_fingerprints WHERE name = ?1", "t", name);
	if (rc == LETHE_OK) {
		snprintf(out, cap, "%s", fp != NULL ? fp : "");
		*found = true;
	}
	free(fp);
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

lethe_rc
store_key_check(struct store *st, const char *name, const char *fingerprint, struct lethe_err *err)
{
	char *fp = NULL;
	lethe_rc rc;

	rc = store__execf(st, err,
	                  "INSERT INTO key_fingerprints (name, fingerprint) VALUES (?1, ?2) "
	                  "ON CONFLICT (name) DO NOTHING",
	                  "tt", name, fingerprint);
	if (rc == LETHE_OK)
		rc = store__one(st, err, "reading a key fingerprint", store__row_dup, &fp,
		                "SELECT fingerprint FROM key_fingerprints WHERE name = ?1", "t",
		                name);
	if (rc == LETHE_E_NOTFOUND)
		rc = LETHE_OK;
	else if (rc == LETHE_OK && (fp == NULL || strcmp(fp, fingerprint) != 0))
		rc = lethe_err_set(err, LETHE_E_CONFIG,
		                   "the %s key is not the one this state store records", name);
	free(fp);
	return rc;
}

lethe_rc
store_has_keyed_rows(struct store *st, bool *any, struct lethe_err *err)
{
	int64_t n = 0;
	lethe_rc rc;

	/* A failed read is an error here (never "nothing"): a new key must not follow it. */
	rc = store__one(st, err, "the state store's requests and jobs", store__row_ints, &n,
	                "SELECT EXISTS (SELECT 1 FROM requests) OR EXISTS (SELECT 1 FROM jobs) "
	                "OR EXISTS (SELECT 1 FROM channel_disconnects)",
	                "");
	*any = rc == LETHE_OK && n != 0;
	return rc;
}
