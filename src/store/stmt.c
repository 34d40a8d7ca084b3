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
	return lethe_err_set(err, LETHE_E_STATE, "state store: %s: %s", what,
	                     sqlite3_errmsg(st->db));
}

bool
store__row(struct store *st, sqlite3_stmt *q, lethe_rc *rc, struct lethe_err *err, const char *what)
{
	int step;

	if (*rc != LETHE_OK)
		return false;
	step = sqlite3_step(q);
	if (step == SQLITE_ROW)
		return true;
	if (step != SQLITE_DONE)
		*rc = store__fail(st, err, what);
	return false;
}

/*
 * store__prepf with the binding of texts and blobs as @how says:
 * SQLITE_TRANSIENT copies them, SQLITE_STATIC (only where the statement
 * runs and is reset before the arguments go) does not.
 */
static lethe_rc
vprepf(struct store *st, sqlite3_stmt **q, struct lethe_err *err, sqlite3_destructor_type how,
       const char *sql, const char *types, va_list ap)
{
	int i;

	*q = NULL;
	for (i = 0; i < STMT_CACHE && st->cache[i].sql != NULL; i++)
		if (st->cache[i].sql == sql) {
			*q = st->cache[i].q;
			break;
		}
	if (*q == NULL && sqlite3_prepare_v2(st->db, sql, -1, q, NULL) != SQLITE_OK)
		return store__fail(st, err, "prepare");
	if (i < STMT_CACHE && st->cache[i].sql == NULL) {
		st->cache[i].sql = sql;
		st->cache[i].q = *q;
	}
	for (i = 0; types[i] != '\0'; i++) {
		if (types[i] == 't') {
			const char *s = va_arg(ap, const char *);

			if (s == NULL)
				sqlite3_bind_null(*q, i + 1);
			else
				sqlite3_bind_text(*q, i + 1, s, -1, how);
		} else if (types[i] == 'i') {
			sqlite3_bind_int64(*q, i + 1, va_arg(ap, int64_t));
		} else {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);

			sqlite3_bind_blob(*q, i + 1, p, (int)n, how);
		}
	}
	return LETHE_OK;
}

lethe_rc
store__prepf(struct store *st, sqlite3_stmt **q, struct lethe_err *err, const char *sql,
             const char *types, ...)
{
	va_list ap;
	lethe_rc rc;

	va_start(ap, types);
	rc = vprepf(st, q, err, SQLITE_TRANSIENT, sql, types, ap);
	va_end(ap);
	return rc;
}

/* Binds with SQLITE_STATIC: the arguments outlive the statement's use. */
lethe_rc
store__execf(struct store *st, struct lethe_err *err, const char *sql, const char *types, ...)
{
	sqlite3_stmt *q = NULL;
	va_list ap;
	lethe_rc rc;
	int r;

	va_start(ap, types);
	rc = vprepf(st, &q, err, SQLITE_STATIC, sql, types, ap);
	va_end(ap);
	if (rc == LETHE_OK) {
		r = sqlite3_step(q);
		if (r != SQLITE_DONE && r != SQLITE_ROW)
			rc = store__fail(st, err, "write");
	}
	store__unprep(st, q);
	return rc;
}

/* Done with @q: a cached statement is reset for its next use, another finalized. */
void
store__unprep(struct store *st, sqlite3_stmt *q)
{
	int i;

	if (q == NULL)
		return;
	for (i = 0; i < STMT_CACHE && st->cache[i].sql != NULL; i++)
		if (st->cache[i].q == q) {
			sqlite3_reset(q);
			sqlite3_clear_bindings(q);
			return;
		}
	sqlite3_finalize(q);
}

char *
store__col_dup(sqlite3_stmt *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	return s ? xstrdup((const char *)s) : NULL;
}

void
store__col_text(sqlite3_stmt *q, int i, char *out, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	snprintf(out, cap, "%s", s ? (const char *)s : "");
}

void
store__col_blob(sqlite3_stmt *q, int i, uint8_t **box, size_t *boxlen)
{
	const void *b = sqlite3_column_blob(q, i);
	int n = sqlite3_column_bytes(q, i);

	*box = NULL;
	*boxlen = 0;
	if (b == NULL || n <= 0)
		return;
	*box = xmalloc((size_t)n);
	memcpy(*box, b, (size_t)n);
	*boxlen = (size_t)n;
}

lethe_rc
store__one(struct store *st, struct lethe_err *err, const char *what, store__row_fn row, void *out,
           const char *sql, const char *types, ...)
{
	sqlite3_stmt *q = NULL;
	va_list ap;
	lethe_rc rc;
	int r;

	/* Static binding: the statement is reset before the arguments go. */
	va_start(ap, types);
	rc = vprepf(st, &q, err, SQLITE_STATIC, sql, types, ap);
	va_end(ap);
	if (rc == LETHE_OK) {
		r = sqlite3_step(q);
		if (r == SQLITE_ROW)
			row(q, out);
		else if (r == SQLITE_DONE)
			rc = LETHE_E_NOTFOUND;
		else
			rc = store__fail(st, err, what != NULL ? what : "reading");
	}
	store__unprep(st, q);
	return rc;
}

void
store__row_ints(sqlite3_stmt *q, void *out)
{
	int64_t *v = out;
	int i, n = sqlite3_column_count(q);

	for (i = 0; i < n; i++)
		v[i] = sqlite3_column_int64(q, i);
}

void
store__row_dup(sqlite3_stmt *q, void *out)
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
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(st, &q, err, sql, "");
	while (store__row(st, q, &rc, err, "counting"))
		fn(arg, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1));
	store__unprep(st, q);
	return rc;
}

/* ---- transactions ---------------------------------------------------------- */

lethe_rc
store__tx_begin(struct store *st, bool *own, struct lethe_err *err)
{
	*own = sqlite3_get_autocommit(st->db) != 0;
	if (*own)
		return store_begin(st, err);
	return LETHE_OK;
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
