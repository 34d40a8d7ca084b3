/* SPDX-License-Identifier: MIT */
/*
 * sq_pg.c - the PostgreSQL backend of sq.h, through libpq (util/pq.h,
 * loaded on first use, never linked).
 *
 * Results come in text format: integers are parsed, booleans ('t'/'f')
 * read as 1/0 like SQLite's integers, bytea ("\x" hex) is decoded for
 * sq_col_blob() and sq_col_text().  Parameters are typed by what was bound:
 * integers int8, texts text, blobs bytea (sent in binary), a NULL text or
 * blob as such, sq_bind_null() unknown (the server infers it, or text
 * where it cannot), a parameter the statement never uses text.  A
 * statement's SQL is rewritten once at prepare (sq_pg_sql.c: "?N" to "$N",
 * INSERT OR IGNORE to ON CONFLICT DO NOTHING, SQLite's index hints
 * dropped); the server-side statement is prepared at its first step, when
 * the parameters' types are known, and kept per connection by (SQL, types)
 * so that every later run is one round trip.
 *
 * Writes are serialized across every worker of a store as SQLite
 * serializes them: sqpg_begin_write() is BEGIN + pg_advisory_xact_lock
 * (SQ_WRITE_LOCK), and a write outside a transaction runs in one of its own
 * that takes the same lock (transaction-scoped: safe behind a pooler in
 * transaction mode).  A lost connection fails the statement that saw it;
 * the next statement outside a transaction reconnects (PQreset) and
 * repeats the session's settings (search_path, and every "SET" given to
 * sqpg_exec()).  The URL's password never appears in a message.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/sq_pg.h"
#include "store/sq_pg_internal.h"
#include "util/mem.h"
#include "util/pq.h"

/* PostgreSQL's type oids (pg_type.h) of the parameters and results read here. */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

#define SETS_MAX 16 /* session settings remembered */

/* A server-side prepared statement of a connection, by its SQL and parameter types. */
struct prep {
	uint64_t hash; /* of key */
	char *key;     /* types, '\n', SQL */
	char name[24]; /* the server's name for it */
};

struct pgc {
	enum sq_kind kind; /* SQ_PG: first, as sq.h's dispatch reads it */
	const struct pq_api *pq;
	PGconn *conn;
	char *shown;     /* the URL, password redacted */
	char *msg;       /* the last error's message */
	bool retry;      /* the last error is worth retrying */
	bool lost;       /* the connection was lost: reset before the next statement */
	bool txn;        /* a transaction is open (as far as lethe knows) */
	bool locked;     /* it holds the write lock (SQ_WRITE_LOCK) */
	bool async;      /* its write transactions' commits are not waited for */
	char *sp_outer;  /* the SAVEPOINT that opened it (SQLite's way), or NULL */
	int64_t changes; /* rows changed by the last INSERT, UPDATE or DELETE */
	unsigned gen;    /* bumped at every reconnect: older prepared names are gone */
	unsigned nextname;
	struct prep *preps;
	size_t nprep, capprep;
	char *sets[SETS_MAX];  /* the session's SETs, the last per name: repeated on reconnect */
	void (*watch)(void *); /* sqpg_watch_txn(): called before a transaction statement */
	void *watch_arg;
};

struct param {
	char type; /* 0 unbound, 'n' NULL, 'i', 't', 'b' */
	const char *val;
	int len;
	char *own; /* a copy of val, freed at reset */
	char num[24];
};

struct pgst {
	enum sq_kind kind; /* SQ_PG: first, as sq.h's dispatch reads it */
	struct pgc *c;
	char *sql;           /* rewritten */
	int np;              /* parameters: $1..$np */
	unsigned char *used; /* np flags: the statement refers to $i */
	bool write;          /* INSERT, UPDATE, DELETE (or a WITH holding one) or DDL */
	bool dml;            /* INSERT, UPDATE or DELETE: sets changes */
	bool txn;            /* BEGIN, COMMIT, SAVEPOINT...: the watch callback runs first */
	bool unlocked;       /* SQ_UNLOCKED: written without the write lock */
	struct param *p;
	char *types;   /* the types the statement was last prepared with */
	char name[24]; /* its server-side name ("" : none yet) */
	unsigned gen;  /* the connection's generation it was prepared in */
	PGresult *res;
	int row, nrows;
	bool ran;
	char **dec; /* per column: the current row's bytea decoded, or NULL */
	size_t *declen;
	int ndec;
};

#define PGC(x) ((struct pgc *)(void *)(x))
#define PGST(x) ((struct pgst *)(void *)(x))

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

/*
 * Record the failure of @res (may be NULL: the connection's message): its
 * primary message and SQLSTATE (never its DETAIL, which may quote values),
 * whether it is worth retrying, whether the connection is gone.
 */
static void
fail_res(struct pgc *c, PGresult *res)
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

/* After a round trip: what the server says of the transaction (unknown if lost). */
static void
note_txn(struct pgc *c)
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

/* Run @sql (no parameters) as a simple query; false with the message recorded. */
static bool
run(struct pgc *c, const char *sql)
{
	PGresult *res = c->pq->exec(c->conn, sql);
	ExecStatusType s = res != NULL ? c->pq->resultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;

	if (!ok)
		fail_res(c, res);
	note_txn(c);
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

/* The session's settings: the schema, then every SET the store gave. */
static bool
setup(struct pgc *c)
{
	int i;

	if (!run(c, "SET search_path = " SQPG_SCHEMA))
		return false;
	for (i = 0; i < SETS_MAX && c->sets[i] != NULL; i++)
		if (!run(c, c->sets[i]))
			return false;
	return true;
}

/*
 * Before a statement: a lost connection is reset if no transaction is
 * open (one that was open is gone: it fails until rolled back).
 */
static bool
ready(struct pgc *c)
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
	if (!setup(c))
		return false;
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

/* The store's write lock, in the open transaction (held until it ends). */
static bool
lock(struct pgc *c)
{
	char sql[96];

	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)", (long long)SQ_WRITE_LOCK);
	if (!run(c, sql))
		return false;
	c->locked = true;
	return true;
}

/*
 * BEGIN and the store's write lock, in one round trip; on a connection
 * whose commits are not waited for (sqpg_async_commits()), said in the
 * transaction itself: a session setting would outlive it behind a pooler.
 */
static bool
begin_locked(struct pgc *c)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "BEGIN; %sSELECT pg_advisory_xact_lock(%lld)",
	         c->async ? "SET LOCAL synchronous_commit = off; " : "", (long long)SQ_WRITE_LOCK);
	if (!run(c, sql))
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

	if (!ready(c))
		return fail(c, err, "begin");
	watched(c);
	if (!begin_locked(c)) {
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

	if (!ready(c))
		return fail(c, err, "begin");
	watched(c);
	if (!run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
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
	if (!run(c, "COMMIT")) {
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
		run(c, "ROLLBACK");
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

/*
 * A statement that opens, ends or undoes part of a transaction, with
 * SQLite's meaning: BEGIN IMMEDIATE takes the write lock, COMMIT of a
 * failed transaction fails, and a SAVEPOINT outside a transaction opens
 * one (with the write lock) that its RELEASE commits.
 */
static lethe_rc
txn_stmt(struct pgc *c, const char *sql, struct lethe_err *err)
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
	if (!ready(c))
		return fail(c, err, "exec");
	watched(c);
	if (sqpg_is_kw(p, "SAVEPOINT") && !c->txn) {
		if (!begin_locked(c)) {
			lethe_rc rc = fail(c, err, "savepoint");

			sqpg_rollback((struct sq *)(void *)c);
			return rc;
		}
		savepoint_name(p, name, sizeof(name));
		c->sp_outer = xstrdup(name);
	}
	if (!run(c, sql))
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
		return txn_stmt(c, sql, err);
	if (!ready(c))
		return fail(c, err, "exec");
	if (!run(c, sql))
		return fail(c, err, "exec");
	/* A session setting: repeated on the connection a reconnect makes. */
	if (sqpg_is_kw(p, "SET") && !sqpg_is_kw(sqpg_skip_space(p + 3), "LOCAL") &&
	    !sqpg_is_kw(sqpg_skip_space(p + 3), "TRANSACTION"))
		remember_set(c, sqpg_skip_space(p + 3), sql);
	return LETHE_OK;
}

/* ---- statements ---------------------------------------------------------------- */

lethe_rc
sqpg_prepare(struct sq *sc, const char *sql, struct sq_stmt **out, struct lethe_err *err)
{
	struct pgc *c = PGC(sc);
	struct pgst *q = xcalloc(1, sizeof(*q));
	struct sqpg_sql *rw = xmalloc(sizeof(*rw));
	int i;

	q->kind = SQ_PG;
	q->c = c;
	q->sql = sqpg_sql_rewrite(sql, rw);
	q->np = rw->np;
	q->write = rw->write;
	q->dml = rw->dml;
	q->txn = rw->txn;
	q->unlocked = rw->unlocked;
	q->p = xcalloc((size_t)q->np + 1, sizeof(*q->p));
	q->used = xcalloc((size_t)q->np + 1, 1);
	for (i = 0; i < q->np && i < (int)sizeof(rw->used); i++)
		q->used[i] = rw->used[i];
	q->types = xcalloc((size_t)q->np + 1, 1);
	free(rw);
	(void)err;
	*out = (struct sq_stmt *)(void *)q;
	return LETHE_OK;
}

static struct param *
param(struct pgst *q, int i)
{
	struct param *p;

	if (i < 1 || i > q->np)
		return NULL;
	p = &q->p[i - 1];
	free(p->own);
	p->own = NULL;
	return p;
}

void
sqpg_bind_null(struct sq_stmt *sq, int i)
{
	struct param *p = param(PGST(sq), i);

	if (p != NULL) {
		p->type = 'n';
		p->val = NULL;
		p->len = 0;
	}
}

void
sqpg_bind_int(struct sq_stmt *sq, int i, int64_t v)
{
	struct param *p = param(PGST(sq), i);

	if (p != NULL) {
		p->type = 'i';
		snprintf(p->num, sizeof(p->num), "%lld", (long long)v);
		p->val = p->num;
		p->len = 0;
	}
}

void
sqpg_bind_text(struct sq_stmt *sq, int i, const char *s, bool copy)
{
	struct param *p = param(PGST(sq), i);

	if (p == NULL)
		return;
	/* NULL: a NULL of type text (the server could not type "?1 IS NULL" alone). */
	p->type = 't';
	if (s != NULL && copy)
		s = p->own = xstrdup(s);
	p->val = s;
	p->len = 0;
}

void
sqpg_bind_blob(struct sq_stmt *sq, int i, const void *v, size_t n, bool copy)
{
	struct param *p = param(PGST(sq), i);

	if (p == NULL)
		return;
	/* NULL: a NULL of type bytea; an empty blob is an empty bytea. */
	p->type = 'b';
	if (v != NULL && copy) {
		p->own = xmalloc(n + 1);
		if (n > 0)
			memcpy(p->own, v, n);
		v = p->own;
	}
	p->val = v;
	p->len = (int)n;
}

static uint64_t
fnv(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *a != '\0'; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ULL;
	h = (h ^ '\n') * 1099511628211ULL;
	for (; *b != '\0'; b++)
		h = (h ^ (unsigned char)*b) * 1099511628211ULL;
	return h;
}

/* PREPARE @sql as @name with parameter types @oids; false with the error recorded. */
static bool
prepare_once(struct pgc *c, const char *name, const char *sql, int np, const Oid *oids,
             bool *untyped)
{
	PGresult *res = c->pq->prepare(c->conn, name, sql, np, oids);
	ExecStatusType s = res != NULL ? c->pq->resultStatus(res) : PGRES_FATAL_ERROR;
	const char *state;

	*untyped = false;
	if (s != PGRES_COMMAND_OK) {
		state = res != NULL ? c->pq->resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		*untyped = state != NULL && strcmp(state, "42P08") == 0;
		fail_res(c, res);
	}
	note_txn(c);
	if (res != NULL)
		c->pq->clear(res);
	return s == PGRES_COMMAND_OK;
}

/*
 * PREPARE, where NULL parameters are sent untyped for the server to infer
 * (@nulls: there are some).  Where it cannot ("?1 IS NULL OR x = ?1" meets
 * the IS NULL first: SQLSTATE 42P08), they are text.  In a transaction the
 * first try runs under a savepoint, so that its failure does not abort it.
 */
static bool
server_prepare(struct pgc *c, const char *name, const char *sql, int np, Oid *oids, bool nulls)
{
	bool sp = nulls && c->txn, untyped = false, ok;
	int i;

	if (sp && !run(c, "SAVEPOINT sqpg_prepare"))
		return false;
	ok = prepare_once(c, name, sql, np, oids, &untyped);
	if (sp)
		run(c,
		    ok ? "RELEASE SAVEPOINT sqpg_prepare" : "ROLLBACK TO SAVEPOINT sqpg_prepare");
	if (ok || !untyped || !nulls)
		return ok;
	for (i = 0; i < np; i++)
		if (oids[i] == 0)
			oids[i] = OID_TEXT;
	return prepare_once(c, name, sql, np, oids, &untyped);
}

/* The server-side statement of @q for its bound types: found, or prepared now. */
static bool
prepared(struct pgst *q)
{
	struct pgc *c = q->c;
	char *types = xmalloc((size_t)q->np + 1);
	Oid *oids = NULL;
	struct prep *pr = NULL;
	uint64_t h;
	size_t k, keylen;
	int i;
	bool ok = true;

	for (i = 0; i < q->np; i++) {
		char t = q->p[i].type;

		types[i] = !q->used[i] ? 'u' : t == 0 ? 'n' : t;
	}
	types[q->np] = '\0';
	if (q->name[0] != '\0' && q->gen == c->gen && strcmp(types, q->types) == 0) {
		free(types);
		return true;
	}
	h = fnv(types, q->sql);
	keylen = (size_t)q->np + 1;
	for (k = 0; k < c->nprep; k++)
		if (c->preps[k].hash == h && strncmp(c->preps[k].key, types, (size_t)q->np) == 0 &&
		    c->preps[k].key[q->np] == '\n' &&
		    strcmp(c->preps[k].key + keylen, q->sql) == 0) {
			pr = &c->preps[k];
			break;
		}
	if (pr == NULL) {
		char name[24];
		bool nulls = strchr(types, 'n') != NULL;

		oids = xcalloc((size_t)q->np + 1, sizeof(*oids));
		for (i = 0; i < q->np; i++)
			oids[i] = types[i] == 'i'   ? OID_INT8
			          : types[i] == 't' ? OID_TEXT
			          : types[i] == 'b' ? OID_BYTEA
			          : types[i] == 'u' ? OID_TEXT
			                            : 0;
		snprintf(name, sizeof(name), "lethe_%u", c->nextname++);
		ok = server_prepare(c, name, q->sql, q->np, oids, nulls);
		if (ok) {
			c->preps = xgrow(c->preps, &c->capprep, c->nprep + 1, sizeof(*c->preps));
			pr = &c->preps[c->nprep++];
			pr->hash = h;
			pr->key = xasprintf("%s\n%s", types, q->sql);
			snprintf(pr->name, sizeof(pr->name), "%s", name);
		}
	}
	if (ok) {
		snprintf(q->name, sizeof(q->name), "%s", pr->name);
		q->gen = c->gen;
		memcpy(q->types, types, (size_t)q->np + 1);
	}
	free(types);
	free(oids);
	return ok;
}

static void
drop_row(struct pgst *q)
{
	int i;

	for (i = 0; i < q->ndec; i++) {
		free(q->dec[i]);
		q->dec[i] = NULL;
	}
}

static enum sq_step
first_step(struct pgst *q)
{
	struct pgc *c = q->c;
	const struct pq_api *pq = c->pq;
	const char **vals = NULL;
	int *lens = NULL, *fmts = NULL;
	bool own = false;
	ExecStatusType s;
	int i;

	c->retry = false;
	/* BEGIN, COMMIT, SAVEPOINT...: run as they are, with SQLite's meaning. */
	if (q->txn) {
		q->ran = true;
		return txn_stmt(c, q->sql, NULL) == LETHE_OK ? SQ_DONE : SQ_ERROR;
	}
	if (!ready(c))
		return SQ_ERROR;
	if (!prepared(q))
		return SQ_ERROR;
	/* A write takes the write lock: in the open transaction, or in one of its own. */
	if (q->write && !q->unlocked && c->txn && !c->locked && !lock(c))
		return SQ_ERROR;
	if (q->write && !q->unlocked && !c->txn) {
		if (!begin_locked(c)) {
			sqpg_rollback((struct sq *)(void *)c);
			return SQ_ERROR;
		}
		own = true;
	}
	vals = xcalloc((size_t)q->np + 1, sizeof(*vals));
	lens = xcalloc((size_t)q->np + 1, sizeof(*lens));
	fmts = xcalloc((size_t)q->np + 1, sizeof(*fmts));
	for (i = 0; i < q->np; i++) {
		struct param *p = &q->p[i];

		vals[i] = p->type == 'n' || p->type == 0 ? NULL : p->val;
		lens[i] = p->len;
		fmts[i] = p->type == 'b' ? 1 : 0;
	}
	q->res = pq->execPrepared(c->conn, q->name, q->np, vals, lens, fmts, 0);
	free(vals);
	free(lens);
	free(fmts);
	s = q->res != NULL ? pq->resultStatus(q->res) : PGRES_FATAL_ERROR;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		fail_res(c, q->res);
		note_txn(c);
		if (own)
			sqpg_rollback((struct sq *)(void *)c);
		return SQ_ERROR;
	}
	note_txn(c);
	if (q->dml) {
		const char *n = pq->cmdTuples(q->res);

		c->changes = n != NULL && *n != '\0' ? strtoll(n, NULL, 10) : 0;
	}
	if (own && !run(c, "COMMIT")) {
		sqpg_rollback((struct sq *)(void *)c);
		return SQ_ERROR;
	}
	q->ran = true;
	q->row = 0;
	q->nrows = s == PGRES_TUPLES_OK ? pq->ntuples(q->res) : 0;
	if (q->nrows > 0) {
		int nf = pq->nfields(q->res);

		if (nf > q->ndec) {
			q->dec = xrealloc(q->dec, (size_t)nf * sizeof(*q->dec));
			q->declen = xrealloc(q->declen, (size_t)nf * sizeof(*q->declen));
			for (i = q->ndec; i < nf; i++) {
				q->dec[i] = NULL;
				q->declen[i] = 0;
			}
			q->ndec = nf;
		}
	}
	return q->nrows > 0 ? SQ_ROW : SQ_DONE;
}

enum sq_step
sqpg_step(struct sq_stmt *sq)
{
	struct pgst *q = PGST(sq);

	if (!q->ran)
		return first_step(q);
	drop_row(q);
	if (q->row < q->nrows)
		q->row++;
	return q->row < q->nrows ? SQ_ROW : SQ_DONE;
}

/* True if column @i of @q's current row can be read. */
static bool
has(struct pgst *q, int i)
{
	return q->res != NULL && q->row < q->nrows && i >= 0 && i < q->c->pq->nfields(q->res);
}

int
sqpg_col_count(struct sq_stmt *sq)
{
	struct pgst *q = PGST(sq);

	return q->res != NULL ? q->c->pq->nfields(q->res) : 0;
}

enum sq_type
sqpg_col_type(struct sq_stmt *sq, int i)
{
	struct pgst *q = PGST(sq);
	const struct pq_api *pq = q->c->pq;
	Oid t;

	if (!has(q, i) || pq->getisnull(q->res, q->row, i))
		return SQ_NULL;
	t = pq->ftype(q->res, i);
	switch (t) {
	case OID_BOOL:
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		return SQ_INT;
	case OID_FLOAT4:
	case OID_FLOAT8:
		return SQ_REAL;
	case OID_NUMERIC:
		return strpbrk(pq->getvalue(q->res, q->row, i), ".eEN") != NULL ? SQ_REAL : SQ_INT;
	case OID_BYTEA:
		return SQ_BLOB;
	default:
		return SQ_TEXT;
	}
}

int64_t
sqpg_col_int(struct sq_stmt *sq, int i)
{
	struct pgst *q = PGST(sq);
	const struct pq_api *pq = q->c->pq;
	const char *v;
	char *end;
	long long n;

	if (!has(q, i) || pq->getisnull(q->res, q->row, i))
		return 0;
	v = pq->getvalue(q->res, q->row, i);
	if (pq->ftype(q->res, i) == OID_BOOL)
		return v[0] == 't';
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E')
		return (int64_t)strtod(v, NULL);
	return (int64_t)n;
}

double
sqpg_col_real(struct sq_stmt *sq, int i)
{
	struct pgst *q = PGST(sq);
	const struct pq_api *pq = q->c->pq;

	if (!has(q, i) || pq->getisnull(q->res, q->row, i))
		return 0;
	if (pq->ftype(q->res, i) == OID_BOOL)
		return pq->getvalue(q->res, q->row, i)[0] == 't';
	return strtod(pq->getvalue(q->res, q->row, i), NULL);
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Column @i (bytea) of the current row decoded, NUL-terminated, kept until the next row. */
static const char *
decoded(struct pgst *q, int i)
{
	const struct pq_api *pq = q->c->pq;
	const char *v = pq->getvalue(q->res, q->row, i);
	size_t n = (size_t)pq->getlength(q->res, q->row, i), k;
	char *out;

	if (q->dec[i] != NULL)
		return q->dec[i];
	if (n >= 2 && v[0] == '\\' && v[1] == 'x') {
		out = xmalloc((n - 2) / 2 + 1);
		for (k = 0; 2 + 2 * k + 1 < n; k++) {
			int hi = hexval(v[2 + 2 * k]), lo = hexval(v[3 + 2 * k]);

			if (hi < 0 || lo < 0)
				break;
			out[k] = (char)(hi * 16 + lo);
		}
	} else {
		/* The old escape format (bytea_output = escape). */
		unsigned char *raw = pq->unescapeBytea((const unsigned char *)v, &k);

		out = xmalloc(k + 1);
		if (raw != NULL && k > 0)
			memcpy(out, raw, k);
		if (raw == NULL)
			k = 0;
		pq->freemem(raw);
	}
	out[k] = '\0';
	q->dec[i] = out;
	q->declen[i] = k;
	return out;
}

const char *
sqpg_col_text(struct sq_stmt *sq, int i)
{
	struct pgst *q = PGST(sq);
	const struct pq_api *pq = q->c->pq;
	Oid t;

	if (!has(q, i) || pq->getisnull(q->res, q->row, i))
		return NULL;
	t = pq->ftype(q->res, i);
	if (t == OID_BOOL)
		return pq->getvalue(q->res, q->row, i)[0] == 't' ? "1" : "0";
	if (t == OID_BYTEA)
		return decoded(q, i);
	return pq->getvalue(q->res, q->row, i);
}

const void *
sqpg_col_blob(struct sq_stmt *sq, int i)
{
	return sqpg_col_text(sq, i);
}

size_t
sqpg_col_bytes(struct sq_stmt *sq, int i)
{
	struct pgst *q = PGST(sq);
	const struct pq_api *pq = q->c->pq;
	Oid t;

	if (!has(q, i) || pq->getisnull(q->res, q->row, i))
		return 0;
	t = pq->ftype(q->res, i);
	if (t == OID_BOOL)
		return 1;
	if (t == OID_BYTEA) {
		decoded(q, i);
		return q->declen[i];
	}
	return (size_t)pq->getlength(q->res, q->row, i);
}

void
sqpg_reset(struct sq_stmt *sq)
{
	struct pgst *q = PGST(sq);
	int i;

	drop_row(q);
	if (q->res != NULL)
		q->c->pq->clear(q->res);
	q->res = NULL;
	q->ran = false;
	q->row = q->nrows = 0;
	for (i = 0; i < q->np; i++) {
		free(q->p[i].own);
		memset(&q->p[i], 0, sizeof(q->p[i]));
	}
}

void
sqpg_finalize(struct sq_stmt *sq)
{
	struct pgst *q = PGST(sq);

	if (q == NULL)
		return;
	sqpg_reset(sq);
	free(q->dec);
	free(q->declen);
	free(q->p);
	free(q->used);
	free(q->types);
	free(q->sql);
	free(q);
}
