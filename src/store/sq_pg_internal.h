/* SPDX-License-Identifier: MIT */
/*
 * sq_pg_internal.h - what the PostgreSQL backend of sq.h shares between
 * its two files: sq_pg.c (connections, statements, transactions) and
 * sq_pg_sql.c (the SQL's rewriting and the keyword scanning both use).
 * Only these two files include it.  Every function here is a pure
 * function of its arguments: any thread may call it.
 */
#ifndef LETHE_STORE_SQ_PG_INTERNAL_H
#define LETHE_STORE_SQ_PG_INTERNAL_H

#include "util/fmacros.h"

#include <stdbool.h>

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

#endif /* LETHE_STORE_SQ_PG_INTERNAL_H */
