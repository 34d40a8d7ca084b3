/* SPDX-License-Identifier: MIT */
/*
 * sq_pg.c - placeholder of the PostgreSQL backend of sq.h (sq_pg.h) until
 * it is written: opening a postgresql:// state store fails with a clear
 * message, so no SQ_PG connection or statement ever exists and the other
 * functions are never called.
 */
#include "util/fmacros.h"

#include <stdlib.h>

#include "store/sq_pg.h"

lethe_rc
sq_pg_open(const char *url, struct sq **out, struct lethe_err *err)
{
	(void)url;
	*out = NULL;
	return lethe_err_set(err, LETHE_E_CONFIG,
	                     "a PostgreSQL state store is not supported by this build");
}

/* Never reached: there is no SQ_PG connection. */
static void
never(void)
{
	abort();
}

lethe_rc
sqpg_prepare(struct sq *c, const char *sql, struct sq_stmt **q, struct lethe_err *err)
{
	(void)c, (void)sql, (void)q, (void)err;
	never();
	return LETHE_E_STATE;
}

void
sqpg_bind_null(struct sq_stmt *q, int i)
{
	(void)q, (void)i;
	never();
}

void
sqpg_bind_int(struct sq_stmt *q, int i, int64_t v)
{
	(void)q, (void)i, (void)v;
	never();
}

void
sqpg_bind_text(struct sq_stmt *q, int i, const char *s, bool copy)
{
	(void)q, (void)i, (void)s, (void)copy;
	never();
}

void
sqpg_bind_blob(struct sq_stmt *q, int i, const void *p, size_t n, bool copy)
{
	(void)q, (void)i, (void)p, (void)n, (void)copy;
	never();
}

enum sq_step
sqpg_step(struct sq_stmt *q)
{
	(void)q;
	never();
	return SQ_ERROR;
}

int
sqpg_col_count(struct sq_stmt *q)
{
	(void)q;
	never();
	return 0;
}

enum sq_type
sqpg_col_type(struct sq_stmt *q, int i)
{
	(void)q, (void)i;
	never();
	return SQ_NULL;
}

int64_t
sqpg_col_int(struct sq_stmt *q, int i)
{
	(void)q, (void)i;
	never();
	return 0;
}

double
sqpg_col_real(struct sq_stmt *q, int i)
{
	(void)q, (void)i;
	never();
	return 0;
}

const char *
sqpg_col_text(struct sq_stmt *q, int i)
{
	(void)q, (void)i;
	never();
	return "";
}

const void *
sqpg_col_blob(struct sq_stmt *q, int i)
{
	(void)q, (void)i;
	never();
	return NULL;
}

size_t
sqpg_col_bytes(struct sq_stmt *q, int i)
{
	(void)q, (void)i;
	never();
	return 0;
}

void
sqpg_reset(struct sq_stmt *q)
{
	(void)q;
	never();
}

void
sqpg_finalize(struct sq_stmt *q)
{
	(void)q;
	never();
}

lethe_rc
sqpg_exec(struct sq *c, const char *sql, struct lethe_err *err)
{
	(void)c, (void)sql, (void)err;
	never();
	return LETHE_E_STATE;
}

const char *
sqpg_errmsg(struct sq *c)
{
	(void)c;
	never();
	return "";
}

bool
sqpg_err_retry(struct sq *c)
{
	(void)c;
	never();
	return 0;
}

int64_t
sqpg_changes(struct sq *c)
{
	(void)c;
	never();
	return 0;
}

bool
sqpg_in_txn(struct sq *c)
{
	(void)c;
	never();
	return 0;
}

lethe_rc
sqpg_begin_write(struct sq *c, struct lethe_err *err)
{
	(void)c, (void)err;
	never();
	return LETHE_E_STATE;
}

lethe_rc
sqpg_begin_read(struct sq *c, struct lethe_err *err)
{
	(void)c, (void)err;
	never();
	return LETHE_E_STATE;
}

lethe_rc
sqpg_commit(struct sq *c, struct lethe_err *err)
{
	(void)c, (void)err;
	never();
	return LETHE_E_STATE;
}

void
sqpg_rollback(struct sq *c)
{
	(void)c;
	never();
}

void
sqpg_watch_txn(struct sq *c, void (*fn)(void *arg), void *arg)
{
	(void)c, (void)fn, (void)arg;
	never();
}

void
sqpg_close(struct sq *c)
{
	(void)c;
	never();
}
