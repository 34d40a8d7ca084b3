/* SPDX-License-Identifier: MIT */
/*
 * demo_pg.c - the demo app database on PostgreSQL (`lethe demo --database
 * postgresql://...`): the connection (libpq, opened on first use through
 * util/pq.h), the check that the database does not already hold the demo's
 * tables, the rows sent by COPY ... FROM STDIN in text format (each table's
 * rows queue in a buffer and go out a megabyte at a time), and, after the
 * load, the identity sequences moved past the ids the generator assigned.
 * demo.c runs all of it in one transaction, so a failure leaves nothing.
 * Every table is in schema public.  No message carries the URL's password.
 */
#include "util/fmacros.h"

#include "demo/demo_internal.h"
#include "util/mem.h"

#define COPY_SEND_BYTES (1024 * 1024)           /* a table's queued rows go out past this */
#define COPY_BUF_CAP ((size_t)64 * 1024 * 1024) /* > COPY_SEND_BYTES + one row */
#define CONNECT_TIMEOUT "10"                    /* seconds, unless the URL says otherwise */

/* Notices (e.g. "table does not exist, skipping") are not the user's business. */
static void
quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Set g->rc from a failed result (or the connection's error when @res is NULL). */
static void
fail_res(struct gen *g, const char *what, const PGresult *res)
{
	const char *msg, *src;
	char *m, *end, c;

	if (g->rc != LETHE_OK)
		return;
	msg = res != NULL ? g->pq->resultErrorMessage(res) : g->pq->errorMessage(g->pg);
	m = xstrdup(msg != NULL && msg[0] != '\0' ? msg : "unknown error");
	/* libpq's hints go on one line: each run of newlines, tabs and spaces one space */
	for (src = end = m; *src != '\0'; src++) {
		c = *src == '\n' || *src == '\t' ? ' ' : *src;
		if (c != ' ' || end == m || end[-1] != ' ')
			*end++ = c;
	}
	*end = '\0';
	while (end > m && end[-1] == ' ')
		*--end = '\0';
	g->rc = lethe_err_set(g->err, LETHE_E_DB, "demo database: %s: %s", what, m);
	free(m);
}

lethe_rc
demo_pg_connect(struct gen *g, const char *url)
{
	char *conninfo, *red;
	const char *sep;

	g->pq = pq_lib(g->err);
	if (g->pq == NULL)
		return g->rc = LETHE_E_CONFIG;
	/* A server that does not answer must not hang the demo. */
	if (strstr(url, "connect_timeout=") != NULL)
		conninfo = xstrdup(url);
	else {
		sep = strchr(url, '?') != NULL ? "&" : "?";
		conninfo = xasprintf("%s%sconnect_timeout=%s", url, sep, CONNECT_TIMEOUT);
	}
	g->pg = g->pq->connectdb(conninfo);
	free(conninfo);
	if (g->pg == NULL) {
		g->rc = lethe_err_set(g->err, LETHE_E_INTERNAL, "demo database: out of memory");
		return g->rc;
	}
	if (g->pq->status(g->pg) != CONNECTION_OK) {
		red = pq_url_redacted(url);
		fail_res(g, red, NULL);
		free(red);
		g->pq->finish(g->pg);
		g->pg = NULL;
		return g->rc;
	}
	g->pq->setNoticeProcessor(g->pg, quiet_notice, NULL);
	return demo_pg_exec(g, "SET client_min_messages = warning");
}

lethe_rc
demo_pg_exec(struct gen *g, const char *sql)
{
	PGresult *res;
	ExecStatusType st;

	if (g->rc != LETHE_OK)
		return g->rc;
	res = g->pq->exec(g->pg, sql);
	st = res != NULL ? g->pq->resultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_res(g, sql, res);
	g->pq->clear(res);
	return g->rc;
}

lethe_rc
demo_pg_check_tables(struct gen *g, bool force)
{
	struct buf sql, names;
	PGresult *res = NULL;
	int t, i, n;

	if (g->rc != LETHE_OK)
		return g->rc;
	buf_init(&sql, 64 * 1024);
	buf_init(&names, 64 * 1024);
	buf_adds(&sql, "SELECT table_name FROM information_schema.tables WHERE "
	               "table_schema = 'public' AND table_name IN (");
	for (t = 0; t < T_COUNT; t++)
		buf_addf(&sql, "%s'%s'", t > 0 ? ", " : "", demo_table_name((enum tbl)t));
	buf_adds(&sql, ") ORDER BY table_name");
	res = g->pq->exec(g->pg, buf_str(&sql));
	if (res == NULL || g->pq->resultStatus(res) != PGRES_TUPLES_OK) {
		fail_res(g, "reading its tables", res);
		goto out;
	}
	n = g->pq->ntuples(res);
	if (n == 0 || force)
		goto out;
	for (i = 0; i < n; i++)
		buf_addf(&names, "%s%s", i > 0 ? ", " : "", g->pq->getvalue(res, i, 0));
	g->rc = lethe_err_set(g->err, LETHE_E_USAGE,
	                      "the database already has the demo's tables (%s); --force "
	                      "drops and rewrites them",
	                      buf_str(&names));
out:
	if (res != NULL)
		g->pq->clear(res);
	buf_free(&sql);
	buf_free(&names);
	return g->rc;
}

/* Send table @t's queued rows: COPY public.T (id, cols) FROM STDIN. */
static void
copy_send(struct gen *g, enum tbl t)
{
	PGresult *res;
	char *sql;
	struct buf *b = &g->copy[t];
	ExecStatusType st;

	if (g->rc != LETHE_OK || b->len == 0)
		return;
	sql =
	    xasprintf("COPY public.%s (id, %s) FROM STDIN", demo_table_name(t), demo_table_cols(t));
	res = g->pq->exec(g->pg, sql);
	free(sql);
	st = res != NULL ? g->pq->resultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COPY_IN) {
		fail_res(g, demo_table_name(t), res);
		g->pq->clear(res);
		return;
	}
	g->pq->clear(res);
	if (g->pq->putCopyData(g->pg, b->data, (int)b->len) != 1)
		fail_res(g, demo_table_name(t), NULL);
	if (g->pq->putCopyEnd(g->pg, g->rc == LETHE_OK ? NULL : "demo: aborted") != 1)
		fail_res(g, demo_table_name(t), NULL);
	/* The COPY's outcome, then the NULL that ends the command. */
	while ((res = g->pq->getResult(g->pg)) != NULL) {
		if (g->pq->resultStatus(res) != PGRES_COMMAND_OK)
			fail_res(g, demo_table_name(t), res);
		g->pq->clear(res);
	}
	buf_reset(b);
}

void
demo_pg_row_end(struct gen *g, enum tbl t)
{
	struct buf *b = &g->copy[t];
	lethe_rc rc = LETHE_OK;
	int c;

	if (b->cap == 0)
		buf_init(b, COPY_BUF_CAP);
	for (c = 0; c < g->ncols[t] && g->rc == LETHE_OK; c++) {
		if (c > 0)
			rc = buf_add(b, "\t", 1);
		if (rc == LETHE_OK)
			rc = buf_adds(b, g->cell[t][c] != NULL ? g->cell[t][c] : "\\N");
		if (rc != LETHE_OK)
			g->rc = lethe_err_set(g->err, rc, "demo database: %s: row too large",
			                      demo_table_name(t));
	}
	if (g->rc == LETHE_OK && buf_add(b, "\n", 1) != LETHE_OK)
		g->rc = lethe_err_set(g->err, LETHE_E_TOOBIG, "demo database: %s: row too large",
		                      demo_table_name(t));
	for (c = 0; c < DEMO_COLS_MAX; c++) {
		free(g->cell[t][c]);
		g->cell[t][c] = NULL;
	}
	if (g->rc != LETHE_OK)
		return;
	g->rows[t]++;
	if (b->len >= COPY_SEND_BYTES)
		copy_send(g, t);
}

lethe_rc
demo_pg_flush(struct gen *g)
{
	int t;

	for (t = 0; t < T_COUNT && g->rc == LETHE_OK; t++)
		copy_send(g, (enum tbl)t);
	return g->rc;
}

lethe_rc
demo_pg_finish_load(struct gen *g)
{
	char *sql;
	int t;

	for (t = 0; t < T_COUNT && g->rc == LETHE_OK; t++) {
		/* The app's own inserts take the ids after the demo's. */
		sql = xasprintf("SELECT setval(pg_get_serial_sequence('public.%s', 'id'), "
		                "COALESCE(max(id), 0) + 1, false) FROM public.%s",
		                demo_table_name((enum tbl)t), demo_table_name((enum tbl)t));
		demo_pg_exec(g, sql);
		free(sql);
	}
	for (t = 0; t < T_COUNT && g->rc == LETHE_OK; t++) {
		/* The planner's statistics now, not at autovacuum's next round. */
		sql = xasprintf("ANALYZE public.%s", demo_table_name((enum tbl)t));
		demo_pg_exec(g, sql);
		free(sql);
	}
	return g->rc;
}

void
demo_pg_close(struct gen *g)
{
	int t, c;

	for (t = 0; t < T_COUNT; t++) {
		buf_free(&g->copy[t]);
		for (c = 0; c < DEMO_COLS_MAX; c++) {
			free(g->cell[t][c]);
			g->cell[t][c] = NULL;
		}
	}
	if (g->pg != NULL)
		g->pq->finish(g->pg);
	g->pg = NULL;
}
