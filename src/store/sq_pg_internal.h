/* SPDX-License-Identifier: MIT */
/*
 * sq_pg_internal.h - what the PostgreSQL backend of sq.h shares between
 * its three files: sq_pg.c (connections, errors, transactions, the write
 * lock, sqpg_exec()), sq_pg_stmt.c (statements: prepare, the server-side
 * prepared statements, binding, step, columns) and sq_pg_sql.c (the SQL's
 * rewriting and the keyword scanning the others use).  Only these three
 * files include it.  The keyword and rewriting functions are pure functions
 * of their arguments: any thread may call them.  The functions on a
 * struct pgc are called by the thread that uses the connection (sq.h: one
 * at a time).
 */
#ifndef LETHE_STORE_SQ_PG_INTERNAL_H
#define LETHE_STORE_SQ_PG_INTERNAL_H

#include "util/fmacros.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/sq.h"
#include "util/pq.h"

#define SETS_MAX 16 /* session settings remembered */

/* A server-side prepared statement of a connection, by its SQL and parameter types. */
struct prep {
	uint64_t hash; /* of key */
	char *key;     /* types, '\n', SQL */
	char name[24]; /* the server's name for it */
};

/* A PostgreSQL connection (sq.h's struct sq). */
struct pgc {
	enum sq_kind kind;       /* SQ_PG: first, as sq.h's dispatch reads it */
	const struct pq_api *pq; /* libpq (pq_lib()) */
	PGconn *conn;            /* the session */
	char *shown;             /* the URL, password redacted */
	char *msg;               /* the last error's message */
	bool retry;              /* the last error is worth retrying */
	bool lost;               /* the connection was lost: reset before the next statement */
	bool txn;                /* a transaction is open (as far as lethe knows) */
	bool locked;             /* it holds the write lock (SQ_WRITE_LOCK) */
	bool async;              /* its write transactions' commits are not waited for */
	char *sp_outer;          /* the SAVEPOINT that opened it (SQLite's way), or NULL */
	int64_t changes;         /* rows changed by the last INSERT, UPDATE or DELETE */
	unsigned gen;            /* bumped at every reconnect: older prepared names are gone */
	unsigned nextname;       /* the number of the next prepared name (lethe_N) */
	struct prep *preps;      /* the server-side prepared statements of this session */
	size_t nprep;            /* preps in use */
	size_t capprep;          /* preps allocated */
	char *sets[SETS_MAX];    /* the session's SETs, the last per name: repeated on reconnect */
	void (*watch)(void *);   /* sqpg_watch_txn(): called before a transaction statement */
	void *watch_arg;         /* watch's argument */
};

#define PGC(x) ((struct pgc *)(void *)(x))

/* What sqpg_sql_rewrite() learned of a statement. */
struct sqpg_sql {
	bool txn;      /* a transaction statement: sqpg_watch_txn()'s callback runs first */
	bool unlocked; /* SQ_UNLOCKED: a write without the write lock */
	int np;        /* the highest parameter number ($1..$np) */
	unsigned char used[1000]; /* used[i]: the statement refers to $(i + 1) */
	bool write;               /* INSERT, UPDATE, DELETE (or a WITH holding one) or DDL */
	bool dml;                 /* INSERT, UPDATE or DELETE: sets the changes count */
};

/* True if @ch can be part of an SQL word (a letter, a digit or '_'). */
bool sqpg_word_char(char ch);
/*
 * True if @p starts with @kw (upper case) as a whole word,
 * case-insensitively.  @p is NUL-terminated.
 */
bool sqpg_is_kw(const char *p, const char *kw);
/* @p past its leading white space (a pointer into @p). */
const char *sqpg_skip_space(const char *p);
/* True if @sql opens, ends or rolls back a transaction or savepoint. */
bool sqpg_txn_sql(const char *sql);
/*
 * @sql rewritten for PostgreSQL, as sqpg_rewrite() (sq_pg.h) says: a new
 * string the caller frees.  *@rw (caller-owned, overwritten) gets what the
 * rewriting learned of the statement.
 */
char *sqpg_sql_rewrite(const char *sql, struct sqpg_sql *rw);

/* ---- sq_pg.c: what sq_pg_stmt.c calls on a connection ---------------------- */

/*
 * Record in @c the failure of @res (may be NULL: the connection's
 * message): its primary message and SQLSTATE (never its DETAIL, which may
 * quote values), whether it is worth retrying, whether the connection is
 * gone.  @res stays the caller's.
 */
void sqpg_fail_res(struct pgc *c, PGresult *res);
/*
 * After a round trip on @c: note what the server says of the transaction
 * (open, or ended: the write lock and outer savepoint go with it; unknown
 * if the connection is lost).
 */
void sqpg_note_txn(struct pgc *c);
/*
 * Run @sql (no parameters) on @c as a simple query.  True on success;
 * false with the message recorded (sqpg_errmsg()).
 */
bool sqpg_run(struct pgc *c, const char *sql);
/*
 * Before a statement on @c: true if the connection can take it.  A lost
 * connection is reset (its session settings repeated, its prepared
 * statements forgotten) if no transaction is open; one that was open is
 * gone, and this fails (the message recorded) until it is rolled back.
 */
bool sqpg_ready(struct pgc *c);
/*
 * Take the store's write lock (SQ_WRITE_LOCK) in @c's open transaction
 * (held until it ends).  False with the message recorded.
 */
bool sqpg_lock(struct pgc *c);
/*
 * BEGIN and the store's write lock on @c, in one round trip; on a
 * connection whose commits are not waited for (sqpg_async_commits()), said
 * in the transaction itself: a session setting would outlive it behind a
 * pooler.  False with the message recorded (the caller rolls back).
 */
bool sqpg_begin_locked(struct pgc *c);
/*
 * Run @sql, a statement that opens, ends or undoes part of a transaction
 * (sqpg_txn_sql()), on @c with SQLite's meaning: BEGIN IMMEDIATE takes the
 * write lock, COMMIT of a failed transaction fails, and a SAVEPOINT outside
 * a transaction opens one (with the write lock) that its RELEASE commits.
 * LETHE_OK, or LETHE_E_STATE with the message in *@err (may be NULL).
 */
lethe_rc sqpg_txn_stmt(struct pgc *c, const char *sql, struct lethe_err *err);

#endif /* LETHE_STORE_SQ_PG_INTERNAL_H */
