/* SPDX-License-Identifier: MIT */
/*
 * sq_pg_sql.c - the SQL's rewriting of the PostgreSQL backend of sq.h
 * (sq_pg.c, sq_pg_stmt.c): a statement written in the SQLite subset sq.h
 * takes is rewritten once, at prepare, for PostgreSQL ("?N" to "$N",
 * INSERT OR IGNORE to ON CONFLICT DO NOTHING, SQLite's index hints
 * dropped), and what sq_pg_stmt.c needs to know of it (parameters used, a
 * write, a transaction statement) is noted on the way.  Pure functions of
 * their arguments: any thread may call them.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/sq_pg.h"
#include "store/sq_pg_internal.h"
#include "util/buf.h"
#include "util/mem.h"

bool
sqpg_word_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_';
}

bool
sqpg_is_kw(const char *p, const char *kw)
{
	size_t n = strlen(kw);

	return strncasecmp(p, kw, n) == 0 && !sqpg_word_char(p[n]);
}

const char *
sqpg_skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

bool
sqpg_txn_sql(const char *sql)
{
	const char *p = sqpg_skip_space(sql);

	return sqpg_is_kw(p, "BEGIN") || sqpg_is_kw(p, "COMMIT") || sqpg_is_kw(p, "END") ||
	       sqpg_is_kw(p, "ROLLBACK") || sqpg_is_kw(p, "SAVEPOINT") ||
	       sqpg_is_kw(p, "RELEASE") || sqpg_is_kw(p, "START");
}

char *
sqpg_sql_rewrite(const char *sql, struct sqpg_sql *rw)
{
	struct buf b;
	const char *p = sql;
	bool ignore = false, first = true, with = false;
	size_t ret_at = 0; /* where a top-level RETURNING starts in the output (0: none) */
	int depth = 0;

	memset(rw, 0, sizeof(*rw));
	rw->txn = sqpg_txn_sql(sql);
	rw->unlocked = strncmp(sql, SQ_UNLOCKED, strlen(SQ_UNLOCKED)) == 0;
	buf_init(&b, 1u << 20);
	while (*p != '\0') {
		const char *s = p;

		if (*p == '\'' || *p == '"') {
			char quote = *p++;

			while (*p != '\0' && !(*p == quote && p[1] != quote)) {
				if (*p == quote)
					p++; /* a doubled quote */
				p++;
			}
			if (*p != '\0')
				p++;
			buf_add(&b, s, (size_t)(p - s));
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p != '\0' && *p != '\n')
				p++;
			buf_add(&b, s, (size_t)(p - s));
		} else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");

			p = end != NULL ? end + 2 : p + strlen(p);
			buf_add(&b, s, (size_t)(p - s));
		} else if (*p == '?') {
			int n;

			p++;
			if (isdigit((unsigned char)*p)) {
				n = 0;
				while (isdigit((unsigned char)*p) && n < 100000)
					n = n * 10 + (*p++ - '0');
			} else {
				n = rw->np + 1;
			}
			if (n > rw->np)
				rw->np = n;
			if (n > 0 && n <= (int)sizeof(rw->used))
				rw->used[n - 1] = 1;
			buf_addf(&b, "$%d", n);
		} else if (sqpg_word_char(*p) && (p == sql || !sqpg_word_char(p[-1]))) {
			while (sqpg_word_char(*p))
				p++;
			if (first) {
				first = false;
				with = sqpg_is_kw(s, "WITH");
				rw->dml = sqpg_is_kw(s, "INSERT") || sqpg_is_kw(s, "UPDATE") ||
				          sqpg_is_kw(s, "DELETE");
				rw->write = rw->dml || sqpg_is_kw(s, "CREATE") ||
				            sqpg_is_kw(s, "ALTER") || sqpg_is_kw(s, "DROP");
			} else if (with && (sqpg_is_kw(s, "INSERT") || sqpg_is_kw(s, "UPDATE") ||
			                    sqpg_is_kw(s, "DELETE"))) {
				rw->dml = rw->write = true;
			}
			if (depth == 0 && ret_at == 0 && sqpg_is_kw(s, "RETURNING"))
				ret_at = b.len;
			/* SQLite's index hints: PostgreSQL's planner takes none. */
			if (sqpg_is_kw(s, "INDEXED") && sqpg_is_kw(sqpg_skip_space(p), "BY")) {
				p = sqpg_skip_space(sqpg_skip_space(p) + 2);
				while (sqpg_word_char(*p))
					p++;
				continue;
			}
			if (sqpg_is_kw(s, "NOT") && sqpg_is_kw(sqpg_skip_space(p), "INDEXED")) {
				p = sqpg_skip_space(p) + 7;
				continue;
			}
			buf_add(&b, s, (size_t)(p - s));
			if (sqpg_is_kw(s, "INSERT")) {
				const char *q = sqpg_skip_space(p);

				if (sqpg_is_kw(q, "OR") &&
				    sqpg_is_kw(sqpg_skip_space(q + 2), "IGNORE")) {
					ignore = true;
					p = sqpg_skip_space(q + 2) + 6; /* "INSERT INTO ..." */
				}
			}
		} else {
			if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			buf_add(&b, p, 1);
			p++;
		}
	}
	if (ignore) {
		char *out;

		if (ret_at > 0) {
			out = xasprintf("%.*sON CONFLICT DO NOTHING %s", (int)ret_at, buf_str(&b),
			                buf_str(&b) + ret_at);
		} else {
			size_t n = b.len;

			while (n > 0 &&
			       (isspace((unsigned char)b.data[n - 1]) || b.data[n - 1] == ';'))
				n--;
			out = xasprintf("%.*s ON CONFLICT DO NOTHING", (int)n, buf_str(&b));
		}
		buf_free(&b);
		return out;
	}
	{
		char *out = xstrdup(buf_str(&b));

		buf_free(&b);
		return out;
	}
}

char *
sqpg_rewrite(const char *sql, int *nparams)
{
	struct sqpg_sql rw;
	char *out = sqpg_sql_rewrite(sql, &rw);

	*nparams = rw.np;
	return out;
}
