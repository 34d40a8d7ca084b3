/* SPDX-License-Identifier: MIT */
/*
 * repeats.c - the repeat index of Meta requests (see repeats.h).
 *
 * One private temporary SQLite database (filename ""): SQLite keeps it in
 * its page cache (capped at CACHE_KIB) and spills to an unlinked temp file.
 * Nothing is synced and there is no journal (journal_mode=OFF: copying
 * each page into a memory journal cost more than the insert): a rollback
 * therefore rebuilds the index from the store, which is the truth anyway.
 */
#include "util/fmacros.h"

#include <sqlite3.h>

#include "meta/repeats.h"
#include "util/mem.h"

#define CACHE_KIB 4096

enum { Q_FIND, Q_ADD, Q_EXPIRE, Q_N };

static const char *const sqls[Q_N] = {
    "SELECT code FROM seen WHERE app = ?1 AND subject = ?2 AND received_at >= ?3 "
    "ORDER BY received_at DESC, code DESC LIMIT 1",
    "INSERT OR IGNORE INTO seen (app, subject, received_at, code) VALUES (?1, ?2, ?3, ?4)",
    "DELETE FROM seen WHERE received_at < ?1",
};

struct repeats {
	sqlite3 *db;          /* the temporary database */
	sqlite3_stmt *q[Q_N]; /* prepared statements */
	bool in_txn;          /* tentative adds are pending */
};

static lethe_rc
rfail(struct repeats *rp, struct lethe_err *err, const char *what)
{
	return lethe_err_set(err, LETHE_E_STATE, "repeat index: %s: %s", what,
	                     sqlite3_errmsg(rp->db));
}

static lethe_rc
run(struct repeats *rp, sqlite3_stmt *q, struct lethe_err *err, const char *what)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return rfail(rp, err, what);
	return LETHE_OK;
}

static lethe_rc
begin(struct repeats *rp, struct lethe_err *err)
{
	if (rp->in_txn)
		return LETHE_OK;
	if (sqlite3_exec(rp->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return rfail(rp, err, "begin");
	rp->in_txn = true;
	return LETHE_OK;
}

/* store_meta_since() callback: one request into the index. */
static lethe_rc
on_request(void *arg, const char *app, const char *subject, const char *code, int64_t received_at,
           struct lethe_err *err)
{
	return repeats_add(arg, app, subject, code, received_at, err);
}

lethe_rc
repeats_open(struct store *st, int64_t since, struct repeats **out, struct lethe_err *err)
{
	struct repeats *rp = xcalloc(1, sizeof(*rp));
	char pragma[64];
	lethe_rc rc = LETHE_OK;
	int i;

	*out = NULL;
	if (sqlite3_open_v2("", &rp->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = lethe_err_set(err, LETHE_E_STATE, "cannot open the repeat index");
		goto fail;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA cache_size=-%d", CACHE_KIB);
	if (sqlite3_exec(rp->db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(rp->db,
	                 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	                 "CREATE TABLE seen (app TEXT NOT NULL, subject TEXT NOT NULL,"
	                 " received_at INTEGER NOT NULL, code TEXT NOT NULL,"
	                 " PRIMARY KEY (app, subject, received_at, code)) WITHOUT ROWID;"
	                 "CREATE INDEX seen_received ON seen (received_at);",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		rc = rfail(rp, err, "setup");
		goto fail;
	}
	for (i = 0; i < Q_N; i++)
		if (sqlite3_prepare_v2(rp->db, sqls[i], -1, &rp->q[i], NULL) != SQLITE_OK) {
			rc = rfail(rp, err, "prepare");
			goto fail;
		}
	rc = store_meta_since(st, since, on_request, rp, err);
	if (rc == LETHE_OK)
		rc = repeats_commit(rp, err);
	if (rc != LETHE_OK)
		goto fail;
	*out = rp;
	return LETHE_OK;
fail:
	repeats_free(rp);
	return rc;
}

void
repeats_free(struct repeats *rp)
{
	int i;

	if (rp == NULL)
		return;
	for (i = 0; i < Q_N; i++)
		sqlite3_finalize(rp->q[i]);
	sqlite3_close(rp->db);
	free(rp);
}

lethe_rc
repeats_find(struct repeats *rp, const char *app, const char *subject, int64_t since,
             char code[META_CODE_LEN + 1], struct lethe_err *err)
{
	sqlite3_stmt *q = rp->q[Q_FIND];
	lethe_rc rc = LETHE_E_NOTFOUND;
	int s;

	sqlite3_bind_text(q, 1, app, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, since);
	s = sqlite3_step(q);
	if (s == SQLITE_ROW) {
		snprintf(code, META_CODE_LEN + 1, "%s", (const char *)sqlite3_column_text(q, 0));
		rc = LETHE_OK;
	} else if (s != SQLITE_DONE) {
		rc = rfail(rp, err, "find");
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

lethe_rc
repeats_add(struct repeats *rp, const char *app, const char *subject, const char *code,
            int64_t received_at, struct lethe_err *err)
{
	sqlite3_stmt *q = rp->q[Q_ADD];
	lethe_rc rc = begin(rp, err);

	if (rc != LETHE_OK)
		return rc;
	sqlite3_bind_text(q, 1, app, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, received_at);
	sqlite3_bind_text(q, 4, code, -1, SQLITE_STATIC);
	return run(rp, q, err, "add");
}

lethe_rc
repeats_commit(struct repeats *rp, struct lethe_err *err)
{
	if (!rp->in_txn)
		return LETHE_OK;
	rp->in_txn = false;
	if (sqlite3_exec(rp->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(rp->db, "ROLLBACK", NULL, NULL, NULL);
		return rfail(rp, err, "commit");
	}
	return LETHE_OK;
}

void
repeats_abandon(struct repeats *rp)
{
	/* Without a journal there is no rollback: the caller rebuilds. */
	if (rp->in_txn)
		sqlite3_exec(rp->db, "COMMIT", NULL, NULL, NULL);
	rp->in_txn = false;
}

lethe_rc
repeats_expire(struct repeats *rp, int64_t before, struct lethe_err *err)
{
	sqlite3_stmt *q = rp->q[Q_EXPIRE];
	lethe_rc rc;

	if (rp->in_txn) /* never commit tentative adds here */
		return LETHE_OK;
	rc = begin(rp, err);
	if (rc != LETHE_OK)
		return rc;
	sqlite3_bind_int64(q, 1, before);
	rc = run(rp, q, err, "expire");
	if (rc == LETHE_OK)
		rc = repeats_commit(rp, err);
	return rc;
}
