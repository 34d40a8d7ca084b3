/* SPDX-License-Identifier: MIT */
/*
 * sq_pg.h - the PostgreSQL backend of sq.h (sq_pg.c; its statements in
 * sq_pg_stmt.c, its SQL rewriting in sq_pg_sql.c).
 *
 * sq.h's functions dispatch on the connection's kind: a connection and a
 * statement of either backend start with their enum sq_kind, and for
 * SQ_PG the public sq_* function calls the sqpg_* one of the same name
 * and arguments below.  Only src/store/ includes this header (and the
 * unit test of the SQL rewriting).
 */
#ifndef LETHE_STORE_SQ_PG_H
#define LETHE_STORE_SQ_PG_H

#include "util/fmacros.h"

#include "store/sq.h"

/* The schema lethe's tables live in; the connection's search_path. */
#define SQPG_SCHEMA "lethe"

lethe_rc sqpg_prepare(struct sq *c, const char *sql, struct sq_stmt **q, struct lethe_err *err);
void sqpg_bind_null(struct sq_stmt *q, int i);
void sqpg_bind_int(struct sq_stmt *q, int i, int64_t v);
void sqpg_bind_text(struct sq_stmt *q, int i, const char *s, bool copy);
void sqpg_bind_blob(struct sq_stmt *q, int i, const void *p, size_t n, bool copy);
enum sq_step sqpg_step(struct sq_stmt *q);
int sqpg_col_count(struct sq_stmt *q);
enum sq_type sqpg_col_type(struct sq_stmt *q, int i);
int64_t sqpg_col_int(struct sq_stmt *q, int i);
double sqpg_col_real(struct sq_stmt *q, int i);
const char *sqpg_col_text(struct sq_stmt *q, int i);
const void *sqpg_col_blob(struct sq_stmt *q, int i);
size_t sqpg_col_bytes(struct sq_stmt *q, int i);
void sqpg_reset(struct sq_stmt *q);
void sqpg_finalize(struct sq_stmt *q);
lethe_rc sqpg_exec(struct sq *c, const char *sql, struct lethe_err *err);
const char *sqpg_errmsg(struct sq *c);
bool sqpg_err_retry(struct sq *c);
int64_t sqpg_changes(struct sq *c);
bool sqpg_in_txn(struct sq *c);
lethe_rc sqpg_begin_write(struct sq *c, struct lethe_err *err);
lethe_rc sqpg_begin_read(struct sq *c, struct lethe_err *err);
lethe_rc sqpg_commit(struct sq *c, struct lethe_err *err);
void sqpg_rollback(struct sq *c);
void sqpg_close(struct sq *c);
void sqpg_watch_txn(struct sq *c, void (*fn)(void *), void *arg);
/*
 * Commits of @c's write transactions are not waited for (@on): each says
 * SET LOCAL synchronous_commit = off, so that nothing of it outlives the
 * transaction behind a pooler (store_set_deferred_sync()).
 */
void sqpg_async_commits(struct sq *c, bool on);

/*
 * @sql rewritten for PostgreSQL (a new string): "?" and "?N" parameters to
 * "$N" (not inside string literals, quoted names or comments), INSERT OR
 * IGNORE to INSERT ... ON CONFLICT DO NOTHING, SQLite's index hints (INDEXED
 * BY name, NOT INDEXED) dropped.  *@nparams gets the highest
 * parameter number.  Exposed for its unit test.
 */
char *sqpg_rewrite(const char *sql, int *nparams);

/*
 * The PostgreSQL session's redacted URL of @c (for messages): never the
 * password.
 */
const char *sqpg_url(struct sq *c);

#endif /* LETHE_STORE_SQ_PG_H */
