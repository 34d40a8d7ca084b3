/* SPDX-License-Identifier: MIT */
/*
 * sq_pg.c - the PostgreSQL backend of sq.h, through libpq (util/pq.h,
 * loaded on first use, never linked): its connections, their errors,
 * transactions and the store's write lock, and sqpg_exec().  Its
 * statements are in sq_pg_stmt.c, the SQL's rewriting in sq_pg_sql.c;
 * the three share struct pgc and their helpers through sq_pg_internal.h.
 *
 * Writes are serialized across every worker of a store as SQLite
 * serializes them: sqpg_begin_write() is BEGIN + pg_advisory_xact_lock
 * (SQ_WRITE_LOCK), and a write outside a transaction runs in one of its own
 * that takes the same lock (transaction-scoped: safe behind a pooler in
 * transaction mode).  A lost connection fails the statement that saw it;
 * the next statement outside a transaction reconnects (PQreset) and
 * repeats the session's settings (search_path, and every "SET" given to
 * sqpg_exec()).  The URL's password never appears in a message.  A
 * connection is used by one thread at a time (sq.h).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/sq_pg.h"
#include "store/sq_pg_internal.h"
#include "util/mem.h"
#include "util/pq.h"

static void
silent(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* ---- errors ---------------------------------------------------------------- */

static void set_msg(struct pgc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_msg(struct pgc *c, const char *fmt, ...)
{
	char tmp[LETHE_ERR_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == ' '))
		tmp[--n] = '\0';
	free(c->msg);
	c->msg = xstrdup(tmp);
}

void
sqpg_fail_res(struct pgc *c, PGresult *res)
{
	const struct pq_api *pq = c->pq;
	const char *state = res != NULL ? pq->resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *prim = res != NULL ? pq->resultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (pq->status(c->conn) == CONNECTION_BAD)
		c->lost = true;
	c->retry = c->lost || (state != NULL &&
	                       (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	                        strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0));
	if (prim != NULL)
		set_msg(c, "%s (SQLSTATE %s)", prim, state != NULL ? state : "?");
	else
		set_msg(c, "%s",
		        c->lost ? "connection to the server lost" : pq->errorMessage(c->conn));
}

void
sqpg_note_txn(struct pgc *c)
{
	PGTransactionStatusType t = c->pq->transactionStatus(c->conn);

	if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE) {
		c->txn = true;
	} else if (t == PQTRANS_IDLE) {
		c->txn = false;
		c->locked = false;
		free(c->sp_outer);
		c->sp_outer = NULL;
	}
}

bool
sqpg_run(struct pgc *c, const char *sql)
{
	PGresult *res = c->pq->exec(c->conn, sql);
	ExecStatusType s = res != NULL ? c->pq->resultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;

	if (!ok)
		sqpg_fail_res(c, res);
	sqpg_note_txn(c);
	if (res != NULL)
		c->pq->clear(res);
	return ok;
}

static void
forget_preps(struct pgc *c)
{
	size_t i;

	for (i = 0; i < c->nprep; i++)
		free(c->preps[i].key);
	c->nprep = 0;
}

/*
 * True if the connection's statements resolve to schema SQPG_SCHEMA (or,
 * before the first migration made it, would: the search_path names it).
 * Behind a transaction-mode pooler the session's SET does not stick and
 * the next statement may meet a server connection whose search_path is
 * the default, where the store's tables would be the app's in "public":
 * refused (not retried) unless the role's own setting names the schema.
 */
static bool
schema_ok(struct pgc *c)
{
	const struct pq_api *pq = c->pq;
	PGresult *res = pq->exec(
	    c->conn, "SELECT COALESCE(current_schema() = '" SQPG_SCHEMA "' OR (current_schema() IS "
	             "NULL AND to_regnamespace('" SQPG_SCHEMA "') IS NULL AND "
	             "current_setting('search_path') = '" SQPG_SCHEMA "'), FALSE), "
	             "COALESCE(current_schema(), 'none')");
	bool ok = false;

	if (res == NULL || pq->resultStatus(res) != PGRES_TUPLES_OK || pq->ntuples(res) != 1) {
		sqpg_fail_res(c, res);
	} else if (strcmp(pq->getvalue(res, 0, 0), "t") == 0) {
		ok = true;
	} else {
		set_msg(
		    c,
		    "the state store's search_path is not " SQPG_SCHEMA
		    " (its statements would use schema %.64s): behind a transaction-mode pooler "
		    "set it on the role (ALTER ROLE ... SET search_path = " SQPG_SCHEMA
		    "); see docs/scale-out.md",
		    pq->getvalue(res, 0, 1));
		c->retry = false;
	}
	sqpg_note_txn(c);
	if (res != NULL)
		pq->clear(res);
	return ok;
}

/* The session's settings: the schema, then every SET the store gave; then the schema checked. */
static bool
setup(struct pgc *c)
{
	int i;

	if (!sqpg_run(c, "SET search_path = " SQPG_SCHEMA))
		return false;
	for (i = 0; i < SETS_MAX && c->sets[i] != NULL; i++)
		if (!sqpg_run(c, c->sets[i]))
			return false;
	return schema_ok(c);
}

bool
sqpg_ready(struct pgc *c)
{
	const struct pq_api *pq = c->pq;

	if (!c->lost && pq->status(c->conn) != CONNECTION_BAD)
		return true;
	c->lost = true;
	c->retry = true;
	if (c->txn) {
		set_msg(c, "connection to the server lost inside a transaction");
		return false;
	}
	pq->reset(c->conn);
	if (pq->status(c->conn) != CONNECTION_OK) {
		set_msg(c, "cannot reconnect to %s: %s", c->shown, pq->errorMessage(c->conn));
		return false;
	}
	c->lost = false;
	c->gen++;
	forget_preps(c);
	if (!setup(c)) {
		c->lost =
		    true; /* never run on a session not set up: the next statement tries again */
		return false;
	}
	c->retry = false;
	return true;
}

static void
watched(struct pgc *c)
{
	if (c->watch != NULL)
		c->watch(c->watch_arg);
}

/* ---- connections ------------------------------------------------------------ */

lethe_rc
sq_pg_open(const char *url, struct sq **out, struct lethe_err *err)
{
	char *conninfo;
	const struct pq_api *pq = pq_lib(err);
	struct pgc *c;

	*out = NULL;
	if (pq == NULL)
		return err != NULL ? err->rc : LETHE_E_CONFIG;
	c = xcalloc(1, sizeof(*c));
	c->kind = SQ_PG;
	c->pq = pq;
	c->shown = pq_url_redacted(url);
	/* Named in pg_stat_activity, unless the URL names it otherwise. */
	conninfo = xasprintf("%s%cfallback_application_name=lethe", url,
	                     strchr(url, '?') != NULL ? '&' : '?');
	c->conn = pq->connectdb(conninfo);
	free(conninfo);
	if (c->conn == NULL || pq->status(c->conn) != CONNECTION_OK) {
		char why[LETHE_ERR_MAX];
		size_t n;

		snprintf(why, sizeof(why), "%s",
		         c->conn != NULL ? pq->errorMessage(c->conn) : "out of memory");
		n = strlen(why);
		while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
			why[--n] = '\0';
		lethe_err_set(err, LETHE_E_STATE, "cannot connect to state store %s: %s", c->shown,
		              why);
		sqpg_close((struct sq *)(void *)c);
		return LETHE_E_STATE;
	}
	pq->setNoticeProcessor(c->conn, silent, NULL);
	if (!setup(c)) {
		lethe_err_set(err, LETHE_E_STATE, "state store %s: %s", c->shown, c->msg);
		sqpg_close((struct sq *)(void *)c);
		return LETHE_E_STATE;
	}
	*out = (struct sq *)(void *)c;
	return LETHE_OK;
}

void
sqpg_watch_txn(struct sq *sc, void (*fn)(void *), void *arg)
{
	PGC(sc)->watch = fn;
	PGC(sc)->watch_arg = arg;
}

const char *
sqpg_url(struct sq *sc)
{
	return PGC(sc)->shown;
}

void
sqpg_close(struct sq *sc)
{
	struct pgc *c = PGC(sc);

	if (c == NULL)
		return;
	if (c->conn != NULL)
		c->pq->finish(c->conn);
	forget_preps(c);
	free(c->preps);
	for (int i = 0; i < SETS_MAX; i++)
		free(c->sets[i]);
	free(c->sp_outer);
	free(c->shown);
	free(c->msg);
	free(c);
}

const char *
sqpg_errmsg(struct sq *sc)
{
	struct pgc *c = PGC(sc);

	return c->msg != NULL ? c->msg : "no error";
}

bool
sqpg_err_retry(struct sq *sc)
{
	return PGC(sc)->retry;
}

int64_t
sqpg_changes(struct sq *sc)
{
	return PGC(sc)->changes;
}

bool
sqpg_in_txn(struct sq *sc)
{
	return PGC(sc)->txn;
}

static lethe_rc
fail(struct pgc *c, struct lethe_err *err, const char *what)
{
	return lethe_err_set(err, LETHE_E_STATE, "state store: %s: %s", what,
	                     sqpg_errmsg((void *)c));
}

bool
sqpg_lock(struct pgc *c)
{
	char sql[96];

	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)", (long long)SQ_WRITE_LOCK);
	if (!sqpg_run(c, sql))
		return false;
	c->locked = true;
	return true;
}

bool
sqpg_begin_locked(struct pgc *c)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "BEGIN; %sSELECT pg_advisory_xact_lock(%lld)",
	         c->async ? "SET LOCAL synchronous_commit = off; " : "", (long long)SQ_WRITE_LOCK);
	if (!sqpg_run(c, sql))
		return false;
	c->locked = true;
	return true;
}

void
sqpg_async_commits(struct sq *sc, bool on)
{
	PGC(sc)->async = on;
}

lethe_rc
sqpg_begin_write(struct sq *sc, struct lethe_err *err)
{
	struct pgc *c = PGC(sc);

	if (!sqpg_ready(c))
		return fail(c, err, "begin");
	watched(c);
	if (!sqpg_begin_locked(c)) {
		lethe_rc rc = fail(c, err, "begin");

		sqpg_rollback(sc);
		return rc;
	}
	return LETHE_OK;
}

lethe_rc
sqpg_begin_read(struct sq *sc, struct lethe_err *err)
{
	struct pgc *c = PGC(sc);

	if (!sqpg_ready(c))
		return fail(c, err, "begin");
	watched(c);
	if (!sqpg_run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
		return fail(c, err, "begin");
	return LETHE_OK;
}

lethe_rc
sqpg_commit(struct sq *sc, struct lethe_err *err)
{
	struct pgc *c = PGC(sc);

	watched(c);
	/* COMMIT of a failed transaction "succeeds" as a ROLLBACK: say it failed. */
	if (c->lost || c->pq->transactionStatus(c->conn) == PQTRANS_INERROR) {
		if (!c->lost)
			set_msg(c, "the transaction failed earlier and was rolled back");
		sqpg_rollback(sc);
		return fail(c, err, "commit");
	}
	if (!sqpg_run(c, "COMMIT")) {
		lethe_rc rc = fail(c, err, "commit");

		sqpg_rollback(sc);
		return rc;
	}
	return LETHE_OK;
}

void
sqpg_rollback(struct sq *sc)
{
	struct pgc *c = PGC(sc);
	char *keep = c->msg;
	bool retry = c->retry;

	watched(c);
	/* The error that led here stays the one reported. */
	c->msg = NULL;
	if (!c->lost && c->pq->transactionStatus(c->conn) != PQTRANS_IDLE)
		sqpg_run(c, "ROLLBACK");
	c->txn = false;
	c->locked = false;
	free(c->sp_outer);
	c->sp_outer = NULL;
	free(c->msg);
	c->msg = keep;
	c->retry = retry;
}

/* Keep "SET @name..." (@sql) for a reconnect: the last one of each name. */
static void
remember_set(struct pgc *c, const char *name, const char *sql)
{
	size_t n = 0;
	int i;

	while (sqpg_word_char(name[n]))
		n++;
	for (i = 0; i < SETS_MAX && c->sets[i] != NULL; i++) {
		const char *q = sqpg_skip_space(c->sets[i] + 3);

		if (strncasecmp(q, name, n) == 0 && !sqpg_word_char(q[n]))
			break;
	}
	if (i == SETS_MAX)
		return;
	free(c->sets[i]);
	c->sets[i] = xstrdup(sql);
}

/* The name a SAVEPOINT, RELEASE or ROLLBACK TO statement @p (at its first word) names. */
static void
savepoint_name(const char *p, char *out, size_t cap)
{
	size_t n = 0;

	while (sqpg_word_char(*p))
		p++; /* the statement's word */
	p = sqpg_skip_space(p);
	if (sqpg_is_kw(p, "TO"))
		p = sqpg_skip_space(p + 2);
	if (sqpg_is_kw(p, "SAVEPOINT"))
		p = sqpg_skip_space(p + 9);
	while (sqpg_word_char(p[n]) && n + 1 < cap) {
		out[n] = p[n];
		n++;
	}
	out[n] = '\0';
}

lethe_rc
sqpg_txn_stmt(struct pgc *c, const char *sql, struct lethe_err *err)
{
	const char *p = sqpg_skip_space(sql);
	char name[64];

	if (sqpg_is_kw(p, "BEGIN") && sqpg_is_kw(sqpg_skip_space(p + 5), "IMMEDIATE"))
		return sqpg_begin_write((struct sq *)(void *)c, err);
	if (sqpg_is_kw(p, "COMMIT") || sqpg_is_kw(p, "END"))
		return sqpg_commit((struct sq *)(void *)c, err);
	if (sqpg_is_kw(p, "ROLLBACK") && !sqpg_is_kw(sqpg_skip_space(p + 8), "TO")) {
		sqpg_rollback((struct sq *)(void *)c);
		return LETHE_OK;
	}
	if (!sqpg_ready(c))
		return fail(c, err, "exec");
	watched(c);
	if (sqpg_is_kw(p, "SAVEPOINT") && !c->txn) {
		if (!sqpg_begin_locked(c)) {
			lethe_rc rc = fail(c, err, "savepoint");

			sqpg_rollback((struct sq *)(void *)c);
			return rc;
		}
		savepoint_name(p, name, sizeof(name));
		c->sp_outer = xstrdup(name);
	}
	if (!sqpg_run(c, sql))
		return fail(c, err, "exec");
	if (sqpg_is_kw(p, "RELEASE") && c->sp_outer != NULL) {
		savepoint_name(p, name, sizeof(name));
		if (strcmp(name, c->sp_outer) == 0)
			return sqpg_commit((struct sq *)(void *)c, err);
	}
	return LETHE_OK;
}

lethe_rc
sqpg_exec(struct sq *sc, const char *sql, struct lethe_err *err)
{
	struct pgc *c = PGC(sc);
	const char *p = sqpg_skip_space(sql);

	if (sqpg_txn_sql(sql))
		return sqpg_txn_stmt(c, sql, err);
	if (!sqpg_ready(c))
		return fail(c, err, "exec");
	if (!sqpg_run(c, sql))
		return fail(c, err, "exec");
	/* A session setting: repeated on the connection a reconnect makes. */
	if (sqpg_is_kw(p, "SET") && !sqpg_is_kw(sqpg_skip_space(p + 3), "LOCAL") &&
	    !sqpg_is_kw(sqpg_skip_space(p + 3), "TRANSACTION"))
		remember_set(c, sqpg_skip_space(p + 3), sql);
	return LETHE_OK;
}
