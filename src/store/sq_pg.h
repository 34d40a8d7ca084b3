/* SPDX-License-Identifier: MIT */
/*
 * sq_pg.h - the PostgreSQL backend's side of sq.h: sq_sqlite.c's public
 * sq_* functions hand a PostgreSQL connection or statement (its kind
 * SQ_PG, the first member) to these, arguments unchanged.  Only the two
 * backends include it.
 */
#ifndef LETHE_STORE_SQ_PG_H
#define LETHE_STORE_SQ_PG_H

#include "store/sq.h"

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
void sqpg_watch_txn(struct sq *c, void (*fn)(void *arg), void *arg);
void sqpg_close(struct sq *c);

#endif /* LETHE_STORE_SQ_PG_H */
