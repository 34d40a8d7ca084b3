/* SPDX-License-Identifier: MIT */
/*
 * sq_sqlite.c - the SQLite backend of sq.h, and the public sq_* functions
 * of both backends.
 *
 * A connection and a statement of either backend begin with their enum
 * sq_kind; each sq_* function hands a PostgreSQL one to its sqpg_*
 * counterpart (sq_pg.h) and runs a SQLite one here, as a direct call into
 * SQLite: no table of function pointers, no copy of values.  The
 * statement cache is not here but in stmt.c, for both backends.
 *
 * A SQLite connection wraps the handle store.c opened and configured;
 * the statement wraps SQLite's prepared statement.  The transaction
 * watcher (sq_watch_txn) is SQLite's statement trace, so that it also sees
 * what runs on the handle directly (store.c's settings, the unit tests).
 */
#include "util/fmacros.h"

#include <sqlite3.h>

#include "store/sq.h"
#include "store/sq_pg.h"
#include "util/mem.h"

struct lite {
	enum sq_kind kind; /* SQ_SQLITE: first, as in every connection */
	sqlite3 *db;
	void (*watch)(void *arg); /* sq_watch_txn()'s */
	void *watch_arg;
};

struct lite_stmt {
	enum sq_kind kind; /* SQ_SQLITE: first, as in every statement */
	sqlite3_stmt *q;
};

#define KIND(x) (*(const enum sq_kind *)(const void *)(x))
#define LITE(c) ((struct lite *)(void *)(c))
#define LQ(q) (((struct lite_stmt *)(void *)(q))->q)

enum sq_kind
sq_kind(const struct sq *c)
{
	return KIND(c);
}

struct sq *
sq_sqlite_wrap(struct sqlite3 *db)
{
	struct lite *l = xcalloc(1, sizeof(*l));

	l->kind = SQ_SQLITE;
	l->db = db;
	return (struct sq *)(void *)l;
}

struct sqlite3 *
sq_sqlite_handle(struct sq *c)
{
	return KIND(c) == SQ_SQLITE ? LITE(c)->db : NULL;
}

lethe_rc
sq_prepare(struct sq *c, const char *sql, struct sq_stmt **q, struct lethe_err *err)
{
	sqlite3_stmt *s = NULL;
	struct lite_stmt *ls;

	if (KIND(c) == SQ_PG)
		return sqpg_prepare(c, sql, q, err);
	*q = NULL;
	if (sqlite3_prepare_v2(LITE(c)->db, sql, -1, &s, NULL) != SQLITE_OK)
		return lethe_err_set(err, LETHE_E_STATE, "%s", sqlite3_errmsg(LITE(c)->db));
	ls = xmalloc(sizeof(*ls));
	ls->kind = SQ_SQLITE;
	ls->q = s;
	*q = (struct sq_stmt *)(void *)ls;
	return LETHE_OK;
}

void
sq_bind_null(struct sq_stmt *q, int i)
{
	if (KIND(q) == SQ_PG)
		sqpg_bind_null(q, i);
	else
		sqlite3_bind_null(LQ(q), i);
}

void
sq_bind_int(struct sq_stmt *q, int i, int64_t v)
{
	if (KIND(q) == SQ_PG)
		sqpg_bind_int(q, i, v);
	else
		sqlite3_bind_int64(LQ(q), i, v);
}

void
sq_bind_text(struct sq_stmt *q, int i, const char *s, bool copy)
{
	if (KIND(q) == SQ_PG)
		sqpg_bind_text(q, i, s, copy);
	else
		sqlite3_bind_text(LQ(q), i, s, -1, copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
}

void
sq_bind_blob(struct sq_stmt *q, int i, const void *p, size_t n, bool copy)
{
	if (KIND(q) == SQ_PG)
		sqpg_bind_blob(q, i, p, n, copy);
	else
		sqlite3_bind_blob(LQ(q), i, p, (int)n, copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
}

enum sq_step
sq_step(struct sq_stmt *q)
{
	int r;

	if (KIND(q) == SQ_PG)
		return sqpg_step(q);
	r = sqlite3_step(LQ(q));
	return r == SQLITE_ROW ? SQ_ROW : r == SQLITE_DONE ? SQ_DONE : SQ_ERROR;
}

int
sq_col_count(struct sq_stmt *q)
{
	if (KIND(q) == SQ_PG)
		return sqpg_col_count(q);
	return sqlite3_column_count(LQ(q));
}

enum sq_type
sq_col_type(struct sq_stmt *q, int i)
{
	if (KIND(q) == SQ_PG)
		return sqpg_col_type(q, i);
	switch (sqlite3_column_type(LQ(q), i)) {
	case SQLITE_INTEGER:
		return SQ_INT;
	case SQLITE_FLOAT:
		return SQ_REAL;
	case SQLITE_TEXT:
		return SQ_TEXT;
	case SQLITE_BLOB:
		return SQ_BLOB;
	default:
		return SQ_NULL;
	}
}

int64_t
sq_col_int(struct sq_stmt *q, int i)
{
	if (KIND(q) == SQ_PG)
		return sqpg_col_int(q, i);
	return sqlite3_column_int64(LQ(q), i);
}

double
sq_col_real(struct sq_stmt *q, int i)
{
	if (KIND(q) == SQ_PG)
		return sqpg_col_real(q, i);
	return sqlite3_column_double(LQ(q), i);
}

const char *
sq_col_text(struct sq_stmt *q, int i)
{
	if (KIND(q) == SQ_PG)
		return sqpg_col_text(q, i);
	return (const char *)sqlite3_column_text(LQ(q), i);
}

const void *
sq_col_blob(struct sq_stmt *q, int i)
{
	if (KIND(q) == SQ_PG)
		return sqpg_col_blob(q, i);
	return sqlite3_column_blob(LQ(q), i);
}

size_t
sq_col_bytes(struct sq_stmt *q, int i)
{
	if (KIND(q) == SQ_PG)
		return sqpg_col_bytes(q, i);
	return (size_t)sqlite3_column_bytes(LQ(q), i);
}

void
sq_reset(struct sq_stmt *q)
{
	if (KIND(q) == SQ_PG) {
		sqpg_reset(q);
		return;
	}
	sqlite3_reset(LQ(q));
	sqlite3_clear_bindings(LQ(q));
}

void
sq_finalize(struct sq_stmt *q)
{
	if (q == NULL)
		return;
	if (KIND(q) == SQ_PG) {
		sqpg_finalize(q);
		return;
	}
	sqlite3_finalize(LQ(q));
	free(q);
}

lethe_rc
sq_exec(struct sq *c, const char *sql, struct lethe_err *err)
{
	if (KIND(c) == SQ_PG)
		return sqpg_exec(c, sql, err);
	if (sqlite3_exec(LITE(c)->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return lethe_err_set(err, LETHE_E_STATE, "%s", sqlite3_errmsg(LITE(c)->db));
	return LETHE_OK;
}

const char *
sq_errmsg(struct sq *c)
{
	if (KIND(c) == SQ_PG)
		return sqpg_errmsg(c);
	return sqlite3_errmsg(LITE(c)->db);
}

/* SQLite: never (a taken lock is waited for by the busy handler store.c sets). */
bool
sq_err_retry(struct sq *c)
{
	if (KIND(c) == SQ_PG)
		return sqpg_err_retry(c);
	return false;
}

int64_t
sq_changes(struct sq *c)
{
	if (KIND(c) == SQ_PG)
		return sqpg_changes(c);
	return sqlite3_changes(LITE(c)->db);
}

int64_t
sq_last_rowid(struct sq *c)
{
	if (KIND(c) == SQ_PG)
		return 0;
	return sqlite3_last_insert_rowid(LITE(c)->db);
}

bool
sq_in_txn(struct sq *c)
{
	if (KIND(c) == SQ_PG)
		return sqpg_in_txn(c);
	return sqlite3_get_autocommit(LITE(c)->db) == 0;
}

lethe_rc
sq_begin_write(struct sq *c, struct lethe_err *err)
{
	if (KIND(c) == SQ_PG)
		return sqpg_begin_write(c, err);
	return sq_exec(c, "BEGIN IMMEDIATE", err);
}

lethe_rc
sq_begin_read(struct sq *c, struct lethe_err *err)
{
	if (KIND(c) == SQ_PG)
		return sqpg_begin_read(c, err);
	return sq_exec(c, "BEGIN", err);
}

lethe_rc
sq_commit(struct sq *c, struct lethe_err *err)
{
	if (KIND(c) == SQ_PG)
		return sqpg_commit(c, err);
	return sq_exec(c, "COMMIT", err);
}

void
sq_rollback(struct sq *c)
{
	if (KIND(c) == SQ_PG) {
		sqpg_rollback(c);
		return;
	}
	if (!sqlite3_get_autocommit(LITE(c)->db))
		sqlite3_exec(LITE(c)->db, "ROLLBACK", NULL, NULL, NULL);
}

/* SQLITE_TRACE_STMT callback: @x is the statement's text. */
static int
lite_trace(unsigned type, void *ctx, void *p, void *x)
{
	struct lite *l = ctx;

	(void)type;
	(void)p;
	if (x != NULL && sq_txn_sql(x))
		l->watch(l->watch_arg);
	return 0;
}

void
sq_watch_txn(struct sq *c, void (*fn)(void *arg), void *arg)
{
	struct lite *l = LITE(c);

	if (KIND(c) == SQ_PG) {
		sqpg_watch_txn(c, fn, arg);
		return;
	}
	l->watch = fn;
	l->watch_arg = arg;
	sqlite3_trace_v2(l->db, fn != NULL ? SQLITE_TRACE_STMT : 0, fn != NULL ? lite_trace : NULL,
	                 l);
}

void
sq_close(struct sq *c)
{
	if (c == NULL)
		return;
	if (KIND(c) == SQ_PG) {
		sqpg_close(c);
		return;
	}
	sqlite3_close(LITE(c)->db);
	free(c);
}
