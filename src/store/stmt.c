/* SPDX-License-Identifier: MIT */
/*
 * stmt.c - the statement cache of a state-store connection and the helpers
 * every table family uses to run its SQL (see store_internal.h).
 *
 * A connection prepares each statement it runs once and keeps the first
 * STMT_CACHE of them, found by the address of their text (every statement
 * is a string literal); the others are finalized after use.  Parameters are
 * bound from a type string ("itb": integer, text, blob) so that a lookup
 * reads as its SQL and its arguments.
 */
#include "util/fmacros.h"

#include <stdarg.h>

#include "store/store_internal.h"
#include "util/mem.h"

lethe_rc
store__fail(struct store *st, struct lethe_err *err, const char *what)
{
	return lethe_err_set(err, LETHE_E_STATE, "state store: %s: %s", what, sq_errmsg(st->c));
}

bool
store__row(struct store *st, struct sq_stmt *q, lethe_rc *rc, struct lethe_err *err,
           const char *what)
{
	enum sq_step step;

	if (*rc != LETHE_OK)
		return false;
	step = sq_step(q);
	if (step == SQ_ROW)
		return true;
	if (step != SQ_DONE)
		*rc = store__fail(st, err, what);
	return false;
}

/*
 * store__prepf with texts and blobs copied if @copy, else borrowed (only
 * where the statement runs and is reset before the arguments go).
 */
static lethe_rc
vprepf(struct store *st, struct sq_stmt **q, struct lethe_err *err, bool copy, const char *sql,
       const char *types, va_list ap)
{
	int i;

	*q = NULL;
	for (i = 0; i < STMT_CACHE && st->cache[i].sql != NULL; i++)
		if (st->cache[i].sql == sql) {
			*q = st->cache[i].q;
			break;
		}
	if (*q == NULL && sq_prepare(st->c, sql, q, NULL) != LETHE_OK)
		return store__fail(st, err, "prepare");
	if (i < STMT_CACHE && st->cache[i].sql == NULL) {
		st->cache[i].sql = sql;
		st->cache[i].q = *q;
	}
	for (i = 0; types[i] != '\0'; i++) {
		if (types[i] == 't') {
			/* NULL binds NULL (of type text on PostgreSQL). */
			sq_bind_text(*q, i + 1, va_arg(ap, const char *), copy);
		} else if (types[i] == 'i') {
			sq_bind_int(*q, i + 1, va_arg(ap, int64_t));
		} else {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);

			sq_bind_blob(*q, i + 1, p, n, copy);
		}
	}
	return LETHE_OK;
}

lethe_rc
store__prepf(struct store *st, struct sq_stmt **q, struct lethe_err *err, const char *sql,
             const char *types, ...)
{
	va_list ap;
	lethe_rc rc;

	va_start(ap, types);
	rc = vprepf(st, q, err, true, sql, types, ap);
	va_end(ap);
	return rc;
}

/* Binds without copying: the arguments outlive the statement's use. */
lethe_rc
store__execf(struct store *st, struct lethe_err *err, const char *sql, const char *types, ...)
{
	struct sq_stmt *q = NULL;
	va_list ap;
	lethe_rc rc;

	va_start(ap, types);
	rc = vprepf(st, &q, err, false, sql, types, ap);
	va_end(ap);
	if (rc == LETHE_OK) {
		if (sq_step(q) == SQ_ERROR)
			rc = store__fail(st, err, "write");
	}
	store__unprep(st, q);
	return rc;
}

/* Done with @q: a cached statement is reset for its next use, another finalized. */
void
store__unprep(struct store *st, struct sq_stmt *q)
{
	int i;

	if (q == NULL)
		return;
	for (i = 0; i < STMT_CACHE && st->cache[i].sql != NULL; i++)
		if (st->cache[i].q == q) {
			sq_reset(q);
			return;
		}
	sq_finalize(q);
}

char *
store__col_dup(struct sq_stmt *q, int i)
{
	const char *s = sq_col_text(q, i);

	return s ? xstrdup(s) : NULL;
}

void
store__col_text(struct sq_stmt *q, int i, char *out, size_t cap)
{
	const char *s = sq_col_text(q, i);

	snprintf(out, cap, "%s", s ? s : "");
}

void
store__col_blob(struct sq_stmt *q, int i, uint8_t **box, size_t *boxlen)
{
	const void *b = sq_col_blob(q, i);
	size_t n = sq_col_bytes(q, i);

	*box = NULL;
	*boxlen = 0;
	if (b == NULL || n == 0)
		return;
	*box = xmalloc(n);
	memcpy(*box, b, n);
	*boxlen = n;
}

lethe_rc
store__one(struct store *st, struct lethe_err *err, const char *what, store__row_fn row, void *out,
           const char *sql, const char *types, ...)
{
	struct sq_stmt *q = NULL;
	va_list ap;
	lethe_rc rc;
	enum sq_step r;

	/* Borrowed binding: the statement is reset before the arguments go. */
	va_start(ap, types);
	rc = vprepf(st, &q, err, false, sql, types, ap);
	va_end(ap);
	if (rc == LETHE_OK) {
		r = sq_step(q);
		if (r == SQ_ROW)
			row(q, out);
		else if (r == SQ_DONE)
			rc = LETHE_E_NOTFOUND;
		else
			rc = store__fail(st, err, what != NULL ? what : "reading");
	}
	store__unprep(st, q);
	return rc;
}

void
store__row_ints(struct sq_stmt *q, void *out)
{
	int64_t *v = out;
	int i, n = sq_col_count(q);

	for (i = 0; i < n; i++)
		v[i] = sq_col_int(q, i);
}

void
store__row_dup(struct sq_stmt *q, void *out)
{
	*(char **)out = store__col_dup(q, 0);
}

lethe_rc
store__query_int(struct store *st, const char *what, const char *sql, int64_t arg, int64_t *out,
                 struct lethe_err *err)
{
	lethe_rc rc;

	*out = 0;
	rc = store__one(st, err, what, store__row_ints, out, sql, "i", arg);
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

/* Call @fn with each state of @sql's (state, count) rows. */
lethe_rc
store__state_counts(struct store *st, const char *sql, store_count_fn fn, void *arg,
                    struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(st, &q, err, sql, "");
	while (store__row(st, q, &rc, err, "counting"))
		fn(arg, sq_col_text(q, 0), sq_col_int(q, 1));
	store__unprep(st, q);
	return rc;
}

/* ---- transactions ---------------------------------------------------------- */

lethe_rc
store__tx_begin(struct store *st, bool *own, struct lethe_err *err)
{
	*own = !sq_in_txn(st->c);
	if (*own)
		return store_begin(st, err);
	return LETHE_OK;
}

lethe_rc
store__save(struct store *st, const char *savepoint, bool *own, struct lethe_err *err)
{
	*own = !sq_in_txn(st->c);
	if (*own)
		return store_begin(st, err);
	return store__execf(st, err, savepoint, "");
}

lethe_rc
store__save_end(struct store *st, const char *release, const char *undo, bool own, lethe_rc rc,
                struct lethe_err *err)
{
	if (own)
		return store__tx_end(st, own, rc, err);
	if (rc == LETHE_OK)
		rc = store__execf(st, err, release, "");
	if (rc != LETHE_OK) {
		store__execf(st, NULL, undo, "");
		store__execf(st, NULL, release, "");
	}
	return rc;
}

lethe_rc
store__tx_end(struct store *st, bool own, lethe_rc rc, struct lethe_err *err)
{
	if (!own)
		return rc;
	if (rc == LETHE_OK)
		rc = store_commit(st, err);
	if (rc != LETHE_OK)
		store_rollback(st);
	return rc;
}
