/* SPDX-License-Identifier: MIT */
/*
 * sql.c - the SQL fragment builder (see sql.h).
 *
 * A thin layer over util/buf: the dialect spells identifiers, placeholders
 * and the storage-form predicates; this file keeps the parameter vector in
 * step with the placeholders and the first error.
 */
#include "util/fmacros.h"

#include <stdarg.h>

#include "db/sql.h"
#include "util/mem.h"

void
sql_init(struct sql *q, struct appdb *db, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->d = appdb_dialect(db);
	buf_init(&q->text, cap);
}

void
sql_free(struct sql *q)
{
	buf_free(&q->text);
	free(q->params);
	q->params = NULL;
	q->nparams = q->nvals = q->cap = 0;
}

void
sql_reset(struct sql *q)
{
	buf_reset(&q->text);
	q->nparams = q->nvals = 0;
	q->rc = LETHE_OK;
}

/*
 * A statement cut short by an error (text over the cap) must never run: a
 * DELETE cut before its WHERE would empty the table.  So a builder in error
 * yields text no database accepts, and whoever prepares it gets an error
 * even without checking sql_rc() first.
 */
#define SQL_BROKEN "LETHE_SQL_BUILD_FAILED"

const char *
sql_str(const struct sql *q)
{
	return q->rc == LETHE_OK ? buf_str(&q->text) : SQL_BROKEN;
}

size_t
sql_len(const struct sql *q)
{
	return q->text.len;
}

const struct appdb_val *
sql_vals(const struct sql *q)
{
	return q->params;
}

size_t
sql_nvals(const struct sql *q)
{
	return q->nvals;
}

size_t
sql_nparams(const struct sql *q)
{
	return q->nparams;
}

lethe_rc
sql_rc(const struct sql *q)
{
	return q->rc;
}

struct appdb_val *
sql_params_take(struct sql *q, size_t *n)
{
	struct appdb_val *p = q->params;

	*n = q->nvals;
	q->params = NULL;
	q->nparams = q->nvals = q->cap = 0;
	return p;
}

/* Keep the first failure. */
static void
note(struct sql *q, lethe_rc rc)
{
	if (q->rc == LETHE_OK)
		q->rc = rc;
}

void
sql_add(struct sql *q, const char *s)
{
	if (q->rc == LETHE_OK)
		note(q, buf_adds(&q->text, s));
}

void
sql_addf(struct sql *q, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	if (q->rc != LETHE_OK)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(small)) {
		note(q, LETHE_E_INTERNAL);
		return;
	}
	note(q, buf_add(&q->text, small, (size_t)n));
}

void
sql_ident(struct sql *q, const char *name)
{
	if (q->rc == LETHE_OK)
		note(q, q->d->quote(&q->text, name));
}

void
sql_idents(struct sql *q, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			sql_add(q, ", ");
		sql_ident(q, names[i]);
	}
}

void
sql_slot(struct sql *q, int n)
{
	q->nparams++;
	if (q->rc == LETHE_OK)
		note(q, q->d->param(&q->text, n));
}

void
sql_value(struct sql *q, struct appdb_val v)
{
	q->params = xgrow(q->params, &q->cap, q->nvals + 1, sizeof(*q->params));
	q->params[q->nvals++] = v;
	sql_slot(q, (int)q->nparams + 1);
}

void
sql_fragment(struct sql *q, const char *text, const struct appdb_val *v, size_t n)
{
	sql_add(q, text);
	if (n == 0)
		return;
	q->params = xgrow(q->params, &q->cap, q->nvals + n, sizeof(*q->params));
	memcpy(q->params + q->nvals, v, n * sizeof(*v));
	q->nvals += n;
	q->nparams += n;
}

void
sql_in(struct sql *q, const char *col, const struct appdb_val *v, size_t n)
{
	size_t i;

	sql_ident(q, col);
	sql_add(q, " IN (");
	for (i = 0; i < n; i++) {
		if (i > 0)
			sql_add(q, ", ");
		sql_value(q, v[i]);
	}
	sql_add(q, ")");
}

void
sql_true(struct sql *q)
{
	sql_add(q, q->d->true_lit);
}

void
sql_is(struct sql *q, bool not )
{
	sql_add(q, not ? q->d->is_not_op : q->d->is_op);
}

bool
sql_bind_once(const struct sql *q)
{
	return q->d->bind_once;
}

void
sql_false(struct sql *q)
{
	sql_add(q, q->d->false_lit);
}

void
sql_text_range(struct sql *q, const char *col)
{
	if (q->rc == LETHE_OK)
		note(q, q->d->text_range(&q->text, col));
}

void
sql_is_integer(struct sql *q, const char *col)
{
	if (q->rc == LETHE_OK)
		note(q, q->d->is_integer(&q->text, col));
}

void
sql_is_datetime_text(struct sql *q, const char *col)
{
	if (q->rc == LETHE_OK)
		note(q, q->d->is_datetime_text(&q->text, col));
}

void
sql_is_hex_text(struct sql *q, const char *col, const char *prefix, size_t len)
{
	if (q->rc == LETHE_OK)
		note(q, q->d->is_hex_text(&q->text, col, prefix, len));
}

void
sql_no_index(struct sql *q, const char *pred)
{
	if (q->rc == LETHE_OK)
		note(q, q->d->no_index(&q->text, pred));
}
