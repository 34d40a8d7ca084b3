/* SPDX-License-Identifier: MIT */
/*
 * sql.h - the one builder of SQL text for the app database: constant SQL,
 * quoted identifiers and identifier lists, IN lists, the dialect's
 * predicates, and the parameter vector that goes with the placeholders.
 *
 * Used by the planner, the executor, the sweeper and disconnects.  Every
 * identifier goes through the dialect's quoting (callers pass only names
 * validated against the catalogue); every value becomes a placeholder with
 * its value appended to the vector, in placeholder order, so the vector
 * binds with appdb_bind_all().  sql_slot() writes a placeholder whose
 * value the caller binds itself (limits, cursors, keys of a batch).
 *
 * The members are the builder's own: read them through the functions.
 * Errors are sticky, as in curl's dynbuf: the first failure (text past the
 * cap: LETHE_E_TOOBIG) is kept in the builder, later appends do nothing,
 * and sql_rc() reports it once the statement is complete.  Values are
 * copied as struct appdb_val: text stays borrowed from the caller.
 * One owner; not thread-safe.
 */
#ifndef LETHE_SQL_H
#define LETHE_SQL_H

#include "db/appdb.h"
#include "util/buf.h"
#include "util/fmacros.h"
#include "util/rc.h"

/* A statement (or a fragment of one) being built. */
struct sql {
	const struct appdb_dialect *d; /* how the text is spelled */
	struct buf text;               /* the SQL so far */
	struct appdb_val *params;      /* values of the placeholders, in order */
	size_t nparams;                /* placeholders so far (values and slots) */
	size_t nvals;                  /* values in params */
	size_t cap;                    /* capacity of params */
	lethe_rc rc;                   /* first failure, or LETHE_OK */
};

/* Start @q (caller-owned storage) for @db's dialect, text capped at @cap bytes. */
void sql_init(struct sql *q, struct appdb *db, size_t cap);
/* Release @q's text and parameter vector. */
void sql_free(struct sql *q);
/* Empty @q (text, parameters and error), keeping its allocations. */
void sql_reset(struct sql *q);
/*
 * The text so far ("" when empty); valid until the next change.  After an
 * error (sql_rc()), a text no database accepts, so a statement cut short
 * can never be prepared and run.
 */
const char *sql_str(const struct sql *q);
/* Length of the text so far. */
size_t sql_len(const struct sql *q);
/* The values to bind, in placeholder order (slots excluded); valid until the next change. */
const struct appdb_val *sql_vals(const struct sql *q);
/* Number of values in sql_vals(). */
size_t sql_nvals(const struct sql *q);
/* Number of placeholders so far (values, fragments' values and slots). */
size_t sql_nparams(const struct sql *q);
/* The first failure while building, or LETHE_OK. */
lethe_rc sql_rc(const struct sql *q);
/*
 * Take @q's parameter vector (caller frees; NULL when empty) and its length
 * in *@n; @q keeps its text and has no parameters afterwards.
 */
struct appdb_val *sql_params_take(struct sql *q, size_t *n);

/* Append constant SQL text @s (never data). */
void sql_add(struct sql *q, const char *s);
/* Append SQL text formatted from constants and numbers (never data). */
void sql_addf(struct sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append identifier @name, quoted. */
void sql_ident(struct sql *q, const char *name);
/* Append the @n identifiers @names, quoted, separated by ", ". */
void sql_idents(struct sql *q, const char *const *names, size_t n);
/* Append a placeholder for value @v and add @v to the vector. */
void sql_value(struct sql *q, struct appdb_val v);
/*
 * Append the placeholder of parameter @n (1-based) without a value: the
 * caller binds it.  Counts towards the placeholders, not the values.
 */
void sql_slot(struct sql *q, int n);
/*
 * Append fragment @text built earlier by another struct sql, with its @n
 * values @v.  Its placeholders must number on from this statement's (true
 * when it comes before any other placeholder, as a plan's predicate does).
 */
void sql_fragment(struct sql *q, const char *text, const struct appdb_val *v, size_t n);
/* Append "@col IN (?, ...)" for the @n values @v (n >= 1). */
void sql_in(struct sql *q, const char *col, const struct appdb_val *v, size_t n);

/* Append the dialect's always-true predicate. */
void sql_true(struct sql *q);
/* Append the dialect's null-safe " IS " (@not: " IS NOT "), before a value or NULL. */
void sql_is(struct sql *q, bool not );
/* True if the dialect binds an identity once, typed as its column (appdb_dialect.bind_once). */
bool sql_bind_once(const struct sql *q);
/* Append the dialect's always-false predicate. */
void sql_false(struct sql *q);
/* Append the dialect's "@col holds text" as an index range. */
void sql_text_range(struct sql *q, const char *col);
/* Append the dialect's "@col holds an integer". */
void sql_is_integer(struct sql *q, const char *col);
/* Append the dialect's "@col holds "YYYY-MM-DD HH:MM:SS..." text". */
void sql_is_datetime_text(struct sql *q, const char *col);
/* Append the dialect's "@col holds @prefix and hex digits, @len characters in all". */
void sql_is_hex_text(struct sql *q, const char *col, const char *prefix, size_t len);
/* Append predicate @pred as a term no index is used for. */
void sql_no_index(struct sql *q, const char *pred);

#endif /* LETHE_SQL_H */
