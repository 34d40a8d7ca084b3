/* SPDX-License-Identifier: MIT */
/*
 * sq.h - the state store's connection to its database, SQLite or
 * PostgreSQL, behind one small statement interface.
 *
 * Every file of src/store/ runs its SQL through this and never through
 * sqlite3_* or libpq directly (store.c's open and the backends excepted).
 * Statements are written once, in the common subset of both dialects:
 * "?" and "?N" parameters, ON CONFLICT upserts, RETURNING, COALESCE,
 * integers for truth values compared explicitly ("x <> 0", never a bare
 * integer in WHERE).  The PostgreSQL backend (sq_pg.c) rewrites the
 * parameters to "$N" and INSERT OR IGNORE to ON CONFLICT DO NOTHING at
 * prepare; where the two dialects cannot share a text, the caller gives
 * both: SQ2("sqlite text", "postgresql text") picks by the connection.
 *
 * A connection is used by one thread at a time.  Backends:
 *   sq_sqlite.c  SQLite (a file path), and the sq_* functions below: a
 *                connection or statement of either backend begins with its
 *                enum sq_kind, and a PostgreSQL one goes on to its sqpg_*
 *                function (sq_pg.h)
 *   sq_pg.c      PostgreSQL (a postgresql:// URL), libpq through util/pq.h
 */
#ifndef LETHE_STORE_SQ_H
#define LETHE_STORE_SQ_H

#include "util/fmacros.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

struct sq;      /* a connection */
struct sq_stmt; /* a prepared statement of one connection */

enum sq_kind { SQ_SQLITE, SQ_PG };

/* Result of sq_step(). */
enum sq_step { SQ_ROW, SQ_DONE, SQ_ERROR };

/* Value types of sq_col_type(). */
enum sq_type { SQ_NULL, SQ_INT, SQ_TEXT, SQ_BLOB, SQ_REAL };

/* Which backend @c is. */
enum sq_kind sq_kind(const struct sq *c);
/* The SQL text for @c's backend: SQ2(sqlite, postgresql) (both string literals). */
#define SQ2(c, lite, pg) (sq_kind(c) == SQ_PG ? (pg) : (lite))
/* An empty blob, for SQ2: SQLite's literal and PostgreSQL's. */
#define SQ_EMPTY_BLOB_LITE "x''"
#define SQ_EMPTY_BLOB_PG "'\\x'::bytea"

/*
 * Prepare @sql (for PostgreSQL: rewritten as said above; the server-side
 * statement is made at the first step, when the parameters' types are
 * known).  LETHE_E_STATE with the database's message on failure.
 */
lethe_rc sq_prepare(struct sq *c, const char *sql, struct sq_stmt **q, struct lethe_err *err);
/*
 * Bind parameter @i (1-based).  Text and blobs are copied if @copy, else
 * borrowed until the statement is reset.  A NULL @s or @p binds NULL, of
 * the type text or blob (PostgreSQL types a parameter by its first
 * binding: a NULL of no type in "?1 IS NULL" or an unused parameter could
 * not be typed).
 */
void sq_bind_null(struct sq_stmt *q, int i);
void sq_bind_int(struct sq_stmt *q, int i, int64_t v);
void sq_bind_text(struct sq_stmt *q, int i, const char *s, bool copy);
void sq_bind_blob(struct sq_stmt *q, int i, const void *p, size_t n, bool copy);
/*
 * Run @q (its first step) or move to its next row.  SQ_ERROR leaves the
 * message for sq_errmsg(); a lost connection (PostgreSQL) is an error too,
 * and the next statement reconnects.
 */
enum sq_step sq_step(struct sq_stmt *q);
/* Columns of the current row: count, type, and value (NULL reads as 0, NULL, 0 bytes). */
int sq_col_count(struct sq_stmt *q);
enum sq_type sq_col_type(struct sq_stmt *q, int i);
int64_t sq_col_int(struct sq_stmt *q, int i);
double sq_col_real(struct sq_stmt *q, int i);
/* Text valid until the next step or reset; NULL if the value is NULL. */
const char *sq_col_text(struct sq_stmt *q, int i);
const void *sq_col_blob(struct sq_stmt *q, int i);
size_t sq_col_bytes(struct sq_stmt *q, int i);
/* Ready @q to run again: rows dropped, bindings cleared. */
void sq_reset(struct sq_stmt *q);
void sq_finalize(struct sq_stmt *q);

/* Run @sql (no parameters, any number of statements, rows ignored). */
lethe_rc sq_exec(struct sq *c, const char *sql, struct lethe_err *err);
/* The last error's message of @c (never NULL). */
const char *sq_errmsg(struct sq *c);
/* True if the last error was a lost connection or a serialization failure worth retrying. */
bool sq_err_retry(struct sq *c);
/* Rows changed by the last INSERT, UPDATE or DELETE of @c. */
int64_t sq_changes(struct sq *c);
/*
 * SQLite: the rowid of the last row inserted on @c (a write that inserted
 * nothing leaves it as it was: check sq_changes()).  PostgreSQL: 0 (use
 * RETURNING there).  SQLite runs an INSERT ... RETURNING through an
 * ephemeral table opened and closed at each execution: a statement of a
 * hot path reads the rowid here instead.
 */
int64_t sq_last_rowid(struct sq *c);
/* True if @c is inside a transaction (BEGIN without its COMMIT or ROLLBACK yet). */
bool sq_in_txn(struct sq *c);

/*
 * Transactions.  sq_begin_write() takes the store's write lock at once:
 * SQLite BEGIN IMMEDIATE; PostgreSQL BEGIN and
 * pg_advisory_xact_lock(SQ_WRITE_LOCK), so that lethe's write transactions
 * on one store are serialized across every worker as SQLite serializes
 * them (the audit chain's head is one row everyone appends after).
 * sq_begin_read() is a read-only snapshot (SQLite BEGIN; PostgreSQL BEGIN
 * ISOLATION LEVEL REPEATABLE READ READ ONLY).
 */
#define SQ_WRITE_LOCK 0x6c65746865L /* "lethe" */
/*
 * First in a statement that writes outside a transaction without the write
 * lock (PostgreSQL; SQLite reads a comment): a claim of one row, UPDATE ...
 * WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING, which
 * its row lock makes safe and which must not queue behind every worker's
 * write transactions.
 */
#define SQ_UNLOCKED "/* sq:unlocked */ "
lethe_rc sq_begin_write(struct sq *c, struct lethe_err *err);
lethe_rc sq_begin_read(struct sq *c, struct lethe_err *err);
lethe_rc sq_commit(struct sq *c, struct lethe_err *err);
void sq_rollback(struct sq *c);

/*
 * Have @fn(@arg) called before each statement of @c that opens, ends or
 * undoes part of a transaction (sq_txn_sql() says which), whoever runs it:
 * the audit chain's cached head (audit.c) never outlives its transaction.
 * One watcher per connection; @fn NULL removes it.
 */
void sq_watch_txn(struct sq *c, void (*fn)(void *arg), void *arg);
/*
 * True if @sql opens, ends or undoes part of a transaction: it begins with
 * BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT or RELEASE (any case).
 */
static inline bool
sq_txn_sql(const char *sql)
{
	static const char *const words[] = {"BEGIN",    "COMMIT",    "END",
	                                    "ROLLBACK", "SAVEPOINT", "RELEASE"};
	size_t i, j;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		for (j = 0; words[i][j] != '\0'; j++)
			if ((sql[j] & ~0x20) != words[i][j])
				break;
		if (words[i][j] == '\0')
			return true;
	}
	return false;
}

/* Close @c (NULL: nothing) with its statements. */
void sq_close(struct sq *c);

/* ---- opening: one function per backend ------------------------------------ */

struct sqlite3;
/*
 * sq_sqlite.c: a connection over the SQLite handle @db that store.c opened
 * and configured (pragmas, busy handler); @db is closed by sq_close().
 */
struct sq *sq_sqlite_wrap(struct sqlite3 *db);
/* The SQLite handle of @c (SQ_SQLITE only), for store.c's SQLite-only settings. */
struct sqlite3 *sq_sqlite_handle(struct sq *c);
/*
 * sq_pg.c: connect to @url (postgresql://...) with the session settings
 * the store needs (docs/internals/store.md, "PostgreSQL").  LETHE_E_STATE
 * (or LETHE_E_CONFIG if libpq is missing) with the URL's password never in
 * the message.
 */
lethe_rc sq_pg_open(const char *url, struct sq **out, struct lethe_err *err);

#endif /* LETHE_STORE_SQ_H */
