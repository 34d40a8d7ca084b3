/* SPDX-License-Identifier: MIT */
/*
 * appdb_pg.c - the PostgreSQL driver of the appdb interface.
 *
 * One libpq connection per struct appdb; libpq is loaded on first use
 * (util/pq.h), never linked.  At connect the session gets TimeZone UTC and
 * DateStyle ISO (the engine's datetime text is "YYYY-MM-DD HH:MM:SS" UTC),
 * and lock_timeout 2 s, statement_timeout 30 s,
 * idle_in_transaction_session_timeout 60 s and application_name "lethe"
 * unless the role, the database or the URL (options=-c...) sets them: lethe
 * never queues long behind the app's locks.
 *
 * Statements run with PQexecParams, every value sent as text with no type
 * (the server types each parameter from the column it meets: a value is
 * bound once, with its column's type), results in text.  The engine binds
 * parameters by position in the order they appear, as SQLite numbers "?",
 * so prepare numbers the placeholders in order.  A statement runs at its
 * first step and its rows are kept until reset.  Values come back typed by
 * the column: integers and booleans as APPDB_INT, floats as APPDB_REAL,
 * bytea as binary text (blob), timestamps and dates as "YYYY-MM-DD
 * HH:MM:SS" (whole seconds, UTC) like SQLite's datetime text, the rest as
 * text.
 *
 * Failures: a lock or statement timeout, a deadlock or a serialization
 * failure is LETHE_E_BUSY (the work is retried later); a lost connection is
 * LETHE_E_BUSY too, the transaction is gone, and the next begin (or the next
 * statement outside a transaction) reconnects with PQreset.  Messages carry
 * the SQLSTATE and the server's primary message, never its detail (which
 * can quote row values); a data exception (class 22) is reported without
 * the message, which can quote the offending value.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <inttypes.h>

#include "db/appdb.h"
#include "util/mem.h"
#include "util/pq.h"

/* PostgreSQL type OIDs (pg_type.h; stable across releases). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_DATE 1082
#define OID_TIMESTAMP 1114
#define OID_TIMESTAMPTZ 1184

/* Seconds a connection attempt waits for the server (unless the URL says). */
#define CONNECT_TIMEOUT_S 10

/* Session settings lethe wants unless the role, database or URL set them. */
static const char SESSION_SQL[] =
    "SELECT set_config(d.name, d.v, false) FROM (VALUES "
    "('lock_timeout', '2s'), ('statement_timeout', '30s'), "
    "('idle_in_transaction_session_timeout', '60s'), ('application_name', 'lethe')) "
    "AS d(name, v) JOIN pg_settings s ON s.name = d.name "
    "WHERE s.source IN ('default', 'configuration file')";
static const char SESSION_FIXED_SQL[] =
    "SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'; SET bytea_output TO 'hex'; "
    "SET IntervalStyle TO 'postgres'";

/* Driver state behind appdb.handle. */
struct pg_conn {
	const struct pq_api *pq; /* libpq */
	PGconn *c;               /* the connection */
	bool in_tx;              /* between begin_write and commit/rollback */
	bool lost;               /* the connection broke: reconnect before the next use */
	int64_t changes;         /* rows changed by the last completed statement */
};

struct appdb_stmt {
	struct pg_conn *conn; /* its connection */
	char *sql;            /* the text, placeholders numbered in order */
	int nparams;          /* placeholders in sql */
	char **vals;          /* bound values as text (owned), NULL: SQL NULL */
	PGresult *res;        /* rows of the current run, or NULL before the first step */
	int row;              /* the current row: -1 before the first */
	char **scratch;       /* per column: converted values of the current row (owned) */
	size_t *scratch_len;  /* their lengths */
	int ncols;            /* columns of res */
};

static struct pg_conn *
C(struct appdb *db)
{
	return db->handle;
}

/* Ignore the server's notices ("relation already exists, skipping" and the like). */
static void
pg_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/*
 * The failure of @res (NULL: the connection's) into @err, prefixed @what:
 * LETHE_E_BUSY for timeouts, lock conflicts and a lost connection, else
 * LETHE_E_DB.  Marks the connection lost when it is.
 */
static lethe_rc
pg_fail(struct pg_conn *pc, const PGresult *res, struct lethe_err *err, const char *what)
{
	const struct pq_api *pq = pc->pq;
	const char *state = res != NULL ? pq->resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? pq->resultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	lethe_rc rc = LETHE_E_DB;

	if (pq->status(pc->c) == CONNECTION_BAD) {
		pc->lost = true;
		pc->in_tx = false;
		return lethe_err_set(err, LETHE_E_BUSY,
		                     "%s: the connection to the app database was lost (the "
		                     "transaction in flight is rolled back); the next attempt "
		                     "reconnects",
		                     what);
	}
	if (state == NULL)
		state = "";
	if (msg == NULL)
		msg = res != NULL ? pq->resultErrorMessage(res) : pq->errorMessage(pc->c);
	if (strcmp(state, "55P03") == 0)
		return lethe_err_set(err, LETHE_E_BUSY,
		                     "%s: waited longer than lock_timeout for a row the app holds "
		                     "(SQLSTATE 55P03); the batch is rolled back, to be retried",
		                     what);
	if (strcmp(state, "57014") == 0)
		return lethe_err_set(err, LETHE_E_BUSY,
		                     "%s: ran longer than statement_timeout (SQLSTATE 57014); the "
		                     "batch is rolled back, to be retried",
		                     what);
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		rc = LETHE_E_BUSY;
	if (strncmp(state, "22", 2) == 0)
		return lethe_err_set(err, LETHE_E_DB,
		                     "%s: a value does not fit its column's type (SQLSTATE %s)",
		                     what, state);
	return lethe_err_set(err, rc, "%s: %s (SQLSTATE %s)", what, msg, state);
}

/* Session settings (see the top of the file); false if the server refused them. */
static bool
pg_session(struct pg_conn *pc)
{
	const struct pq_api *pq = pc->pq;
	PGresult *r;
	bool ok;

	r = pq->exec(pc->c, SESSION_SQL);
	ok = pq->resultStatus(r) == PGRES_TUPLES_OK;
	pq->clear(r);
	if (!ok)
		return false;
	r = pq->exec(pc->c, SESSION_FIXED_SQL);
	ok = pq->resultStatus(r) == PGRES_COMMAND_OK;
	pq->clear(r);
	return ok;
}

/* Reconnect a lost connection (outside a transaction). */
static lethe_rc
pg_revive(struct pg_conn *pc, struct lethe_err *err)
{
	if (!pc->lost && pc->pq->status(pc->c) != CONNECTION_BAD)
		return LETHE_OK;
	pc->pq->reset(pc->c);
	if (pc->pq->status(pc->c) != CONNECTION_OK || !pg_session(pc)) {
		pc->lost = true;
		return lethe_err_set(err, LETHE_E_BUSY,
		                     "the app database cannot be reached; retried later");
	}
	pc->lost = false;
	pc->in_tx = false;
	return LETHE_OK;
}

static lethe_rc
pg_open(struct appdb *db, const char *target, struct lethe_err *err)
{
	const struct pq_api *pq = pq_lib(err);
	struct pg_conn *pc;
	PGconn *c;

	if (pq == NULL)
		return LETHE_E_CONFIG;
	/* libpq waits for a server that does not answer forever unless told otherwise. */
	if (strstr(target, "connect_timeout=") == NULL) {
		char *t = xasprintf("%s%sconnect_timeout=%d", target,
		                    strchr(target, '?') != NULL ? "&" : "?", CONNECT_TIMEOUT_S);

		c = pq->connectdb(t);
		free(t);
	} else {
		c = pq->connectdb(target);
	}
	if (c == NULL || pq->status(c) != CONNECTION_OK) {
		char *red = pq_url_redacted(target);
		const char *m = c != NULL ? pq->errorMessage(c) : "out of memory";
		size_t n = strlen(m);

		while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
			n--;
		lethe_err_set(err, LETHE_E_DB, "cannot open app database %s: %.*s", red, (int)n, m);
		free(red);
		if (c != NULL)
			pq->finish(c);
		return LETHE_E_DB;
	}
	pq->setNoticeProcessor(c, pg_notice, NULL);
	pc = xcalloc(1, sizeof(*pc));
	pc->pq = pq;
	pc->c = c;
	/*
	 * A connection dropped during the session's set-up (a failover, an
	 * administrator's pg_terminate_backend) is reset and set up again, as
	 * pg_revive does later; a server that refuses the settings is an error.
	 */
	for (int tries = 0; !pg_session(pc); tries++) {
		lethe_rc rc;

		if (pq->status(c) == CONNECTION_BAD && tries < 3) {
			pq->reset(c);
			if (pq->status(c) == CONNECTION_OK)
				continue;
		}
		if (pq->status(c) == CONNECTION_BAD)
			rc = lethe_err_set(
			    err, LETHE_E_BUSY,
			    "cannot set up the session on app database %s: the connection "
			    "to the app database was lost; run again to retry",
			    db->target);
		else
			rc = lethe_err_set(err, LETHE_E_DB,
			                   "cannot set up the session on app database %s: %s",
			                   db->target, pq->errorMessage(c));
		pq->finish(c);
		free(pc);
		return rc;
	}
	db->handle = pc;
	return LETHE_OK;
}

static void
pg_close(struct appdb *db)
{
	struct pg_conn *pc = C(db);

	pc->pq->finish(pc->c);
	free(pc);
	db->handle = NULL;
}

/* Run @sql (no parameters, no rows) on @pc; its failure into @err. */
static lethe_rc
pg_simple(struct pg_conn *pc, const char *sql, struct lethe_err *err, const char *what)
{
	PGresult *r = pc->pq->exec(pc->c, sql);
	lethe_rc rc = LETHE_OK;

	if (pc->pq->resultStatus(r) != PGRES_COMMAND_OK)
		rc = pg_fail(pc, r, err, what);
	pc->pq->clear(r);
	return rc;
}

static void pg_rollback(struct appdb *db);

static lethe_rc
pg_begin_write(struct appdb *db, struct lethe_err *err)
{
	struct pg_conn *pc = C(db);
	lethe_rc rc = pg_revive(pc, err);

	if (rc == LETHE_OK)
		rc = pg_simple(pc, "BEGIN", err, "begin");
	pc->in_tx = rc == LETHE_OK;
	return rc;
}

static lethe_rc
pg_commit(struct appdb *db, struct lethe_err *err)
{
	struct pg_conn *pc = C(db);
	PGTransactionStatusType ts = pc->pq->transactionStatus(pc->c);
	PGresult *r;
	lethe_rc rc = LETHE_OK;

	/* COMMIT of a failed transaction rolls it back: report that as no commit. */
	if (ts != PQTRANS_INTRANS) {
		pg_rollback(db);
		if (pc->pq->status(pc->c) == CONNECTION_BAD)
			return pg_fail(pc, NULL, err, "commit");
		return lethe_err_set(err, LETHE_E_DB, "commit: the transaction had failed");
	}
	r = pc->pq->exec(pc->c, "COMMIT");
	if (pc->pq->resultStatus(r) != PGRES_COMMAND_OK)
		rc = pg_fail(pc, r, err, "commit");
	pc->pq->clear(r);
	pc->in_tx = false;
	return rc;
}

static void
pg_rollback(struct appdb *db)
{
	struct pg_conn *pc = C(db);
	PGTransactionStatusType ts = pc->pq->transactionStatus(pc->c);

	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		PGresult *r = pc->pq->exec(pc->c, "ROLLBACK");

		pc->pq->clear(r);
	}
	if (pc->pq->status(pc->c) == CONNECTION_BAD)
		pc->lost = true;
	pc->in_tx = false;
}

char *
appdb_pg_numbered(const char *sql, int *n)
{
	struct buf b;
	const char *p = sql;
	char quote = 0;
	char *out;

	*n = 0;
	buf_init(&b, strlen(sql) * 2 + 64);
	while (*p != '\0') {
		if (quote != 0) {
			if (*p == quote)
				quote = 0;
			buf_add(&b, p++, 1);
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
			buf_add(&b, p++, 1);
		} else if (*p == '?' || (*p == '$' && isdigit((unsigned char)p[1]))) {
			p++;
			while (isdigit((unsigned char)*p))
				p++;
			buf_addf(&b, "$%d", ++*n);
		} else {
			buf_add(&b, p++, 1);
		}
	}
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

static lethe_rc
pg_prepare(struct appdb *db, const char *sql, struct appdb_stmt **out, struct lethe_err *err)
{
	struct appdb_stmt *s = xcalloc(1, sizeof(*s));

	(void)err;
	s->conn = C(db);
	s->sql = appdb_pg_numbered(sql, &s->nparams);
	s->vals = xcalloc(s->nparams > 0 ? (size_t)s->nparams : 1, sizeof(*s->vals));
	s->row = -1;
	*out = s;
	return LETHE_OK;
}

static lethe_rc
pg_bind(struct appdb_stmt *s, int idx, const struct appdb_val *v)
{
	char num[64];

	if (idx < 1 || idx > s->nparams)
		return LETHE_E_DB;
	free(s->vals[idx - 1]);
	s->vals[idx - 1] = NULL;
	switch (v->type) {
	case APPDB_NULL:
		break;
	case APPDB_INT:
		snprintf(num, sizeof(num), "%" PRId64, v->i);
		s->vals[idx - 1] = xstrdup(num);
		break;
	case APPDB_REAL:
		snprintf(num, sizeof(num), "%.17g", v->r);
		s->vals[idx - 1] = xstrdup(num);
		break;
	case APPDB_TEXT:
	default:
		s->vals[idx - 1] = xstrdup(v->s != NULL ? v->s : "");
		break;
	}
	return LETHE_OK;
}

static void
pg_scratch_clear(struct appdb_stmt *s)
{
	int i;

	for (i = 0; i < s->ncols && s->scratch != NULL; i++) {
		free(s->scratch[i]);
		s->scratch[i] = NULL;
	}
}

/* As SQLite's reset and clear_bindings: no rows, every parameter NULL again. */
static void
pg_reset(struct appdb_stmt *s)
{
	int i;

	for (i = 0; i < s->nparams; i++) {
		free(s->vals[i]);
		s->vals[i] = NULL;
	}
	pg_scratch_clear(s);
	free(s->scratch);
	free(s->scratch_len);
	s->scratch = NULL;
	s->scratch_len = NULL;
	if (s->res != NULL)
		s->conn->pq->clear(s->res);
	s->res = NULL;
	s->ncols = 0;
	s->row = -1;
}

static enum appdb_step
pg_step(struct appdb_stmt *s, struct lethe_err *err)
{
	struct pg_conn *pc = s->conn;
	const struct pq_api *pq = pc->pq;

	if (s->res == NULL) {
		ExecStatusType st;
		const char *tuples;

		if (!pc->in_tx && pg_revive(pc, err) != LETHE_OK)
			return APPDB_ERROR;
		s->res = pq->execParams(pc->c, s->sql, s->nparams, NULL,
		                        (const char *const *)s->vals, NULL, NULL, 0);
		st = pq->resultStatus(s->res);
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			pg_fail(pc, s->res, err, "query");
			pq->clear(s->res);
			s->res = NULL;
			return APPDB_ERROR;
		}
		tuples = pq->cmdTuples(s->res);
		pc->changes = tuples != NULL && tuples[0] != '\0' ? strtoll(tuples, NULL, 10) : 0;
		s->ncols = pq->nfields(s->res);
		s->scratch = xcalloc(s->ncols > 0 ? (size_t)s->ncols : 1, sizeof(*s->scratch));
		s->scratch_len =
		    xcalloc(s->ncols > 0 ? (size_t)s->ncols : 1, sizeof(*s->scratch_len));
		s->row = -1;
	}
	pg_scratch_clear(s);
	if (s->row + 1 >= pq->ntuples(s->res)) {
		s->row = pq->ntuples(s->res);
		return APPDB_DONE;
	}
	s->row++;
	return APPDB_ROW;
}

/* "YYYY-MM-DD HH:MM:SS..." of a timestamp or date @v as lethe's datetime text, or NULL. */
static char *
pg_datetime(const char *v, Oid type)
{
	size_t n = strlen(v);

	if (n < 10 || !isdigit((unsigned char)v[0]) || v[4] != '-' || v[7] != '-')
		return NULL; /* infinity, BC dates, years past 9999: as the server wrote them */
	if (type == OID_DATE)
		return n == 10 ? xasprintf("%s 00:00:00", v) : NULL;
	if (n < 19 || v[10] != ' ' || v[13] != ':' || v[16] != ':')
		return NULL;
	return xasprintf("%.19s", v);
}

static void
pg_column(struct appdb_stmt *s, int i, struct appdb_val *out)
{
	const struct pq_api *pq = s->conn->pq;
	const char *v;
	Oid type;

	memset(out, 0, sizeof(*out));
	out->type = APPDB_NULL;
	if (s->res == NULL || s->row < 0 || s->row >= pq->ntuples(s->res) || i < 0 ||
	    i >= s->ncols || pq->getisnull(s->res, s->row, i))
		return;
	v = pq->getvalue(s->res, s->row, i);
	type = pq->ftype(s->res, i);
	switch (type) {
	case OID_BOOL:
		out->type = APPDB_INT;
		out->i = v[0] == 't';
		return;
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		out->type = APPDB_INT;
		out->i = strtoll(v, NULL, 10);
		return;
	case OID_FLOAT4:
	case OID_FLOAT8:
		out->type = APPDB_REAL;
		out->r = strtod(v, NULL);
		return;
	case OID_BYTEA:
		if (s->scratch[i] == NULL) {
			size_t n = 0;
			unsigned char *u = pq->unescapeBytea((const unsigned char *)v, &n);

			s->scratch[i] = xmalloc(n + 1);
			if (u != NULL) {
				memcpy(s->scratch[i], u, n);
				pq->freemem(u);
			} else {
				n = 0;
			}
			s->scratch[i][n] = '\0';
			s->scratch_len[i] = n;
		}
		out->type = APPDB_TEXT;
		out->blob = true;
		out->s = s->scratch[i];
		out->len = s->scratch_len[i];
		return;
	case OID_DATE:
	case OID_TIMESTAMP:
	case OID_TIMESTAMPTZ:
		if (s->scratch[i] == NULL)
			s->scratch[i] = pg_datetime(v, type);
		if (s->scratch[i] != NULL)
			v = s->scratch[i];
		break;
	default:
		break;
	}
	out->type = APPDB_TEXT;
	out->s = v;
	out->len = strlen(v);
}

static int
pg_column_count(struct appdb_stmt *s)
{
	return s->res != NULL ? s->ncols : 0;
}

static void
pg_finalize(struct appdb_stmt *s)
{
	pg_reset(s);
	free(s->vals);
	free(s->sql);
	free(s);
}

static int64_t
pg_changes(struct appdb *db)
{
	return C(db)->changes;
}

/* A catalogue query with text parameters; NULL (and @err) on failure. */
static PGresult *
pg_catalogue(struct pg_conn *pc, const char *sql, int n, const char *const *vals,
             struct lethe_err *err)
{
	PGresult *r;

	if (!pc->in_tx && pg_revive(pc, err) != LETHE_OK)
		return NULL;
	r = pc->pq->execParams(pc->c, sql, n, NULL, vals, NULL, NULL, 0);
	if (pc->pq->resultStatus(r) != PGRES_TUPLES_OK) {
		pg_fail(pc, r, err, "catalogue");
		pc->pq->clear(r);
		return NULL;
	}
	return r;
}

/* @table ("t" or "schema.t", spelled exactly) as a quoted name for to_regclass(). */
static char *
pg_regname(const char *table)
{
	struct buf b;
	char *out;

	buf_init(&b, strlen(table) * 2 + 16);
	appdb_pg_dialect.quote(&b, table);
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

static lethe_rc
pg_table_info(struct appdb *db, const char *table, struct appdb_table *t, struct lethe_err *err)
{
	struct pg_conn *pc = C(db);
	const struct pq_api *pq = pc->pq;
	char *reg = pg_regname(table);
	const char *vals[1] = {reg};
	PGresult *r;
	int i, n;
	lethe_rc rc = LETHE_OK;

	r = pg_catalogue(pc,
	                 "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
	                 "COALESCE(a.attnum = ANY (i.indkey::int2[]), false), a.attnotnull, "
	                 "a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) "
	                 "FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid "
	                 "AND i.indisprimary WHERE a.attrelid = to_regclass($1) "
	                 "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
	                 1, vals, err);
	free(reg);
	if (r == NULL)
		return err != NULL ? err->rc : LETHE_E_DB;
	n = pq->ntuples(r);
	if (n > 0)
		t->cols = xcalloc((size_t)n, sizeof(*t->cols));
	for (i = 0; i < n; i++) {
		struct appdb_column *c = &t->cols[t->ncols++];

		c->name = xstrdup(pq->getvalue(r, i, 0));
		c->type = xstrdup(pq->getvalue(r, i, 1));
		c->pk = pq->getvalue(r, i, 2)[0] == 't';
		c->notnull = pq->getvalue(r, i, 3)[0] == 't';
		c->integer = pq->getvalue(r, i, 4)[0] == 't';
	}
	pq->clear(r);
	if (t->ncols == 0)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no table '%s' in the app database",
		                   table);
	else
		t->name = xstrdup(table);
	return rc;
}

static bool
pg_column_indexed(struct appdb *db, const char *table, const char *column)
{
	struct pg_conn *pc = C(db);
	char *reg = pg_regname(table);
	const char *vals[2] = {reg, column};
	PGresult *r;
	bool found;

	r = pg_catalogue(pc,
	                 "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
	                 "i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = "
	                 "to_regclass($1) AND a.attname = $2 LIMIT 1",
	                 2, vals, NULL);
	free(reg);
	if (r == NULL)
		return false;
	found = pc->pq->ntuples(r) > 0;
	pc->pq->clear(r);
	return found;
}

static bool
pg_index_leads(struct appdb *db, const char *table, const char *const *lead, size_t nlead,
               const char *column)
{
	struct pg_conn *pc = C(db);
	const struct pq_api *pq = pc->pq;
	char *reg = pg_regname(table);
	const char *vals[1] = {reg};
	struct appdb_leads m = {0};
	bool found = false;
	PGresult *r;
	int i;

	/* Full indexes' columns in order (an expression's column has no name). */
	r = pg_catalogue(pc,
	                 "SELECT i.indexrelid::bigint::text, k.ord - 1, "
	                 "COALESCE(a.attname, '') FROM pg_index i CROSS JOIN LATERAL "
	                 "unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
	                 "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = "
	                 "k.attnum WHERE i.indrelid = to_regclass($1) AND i.indpred IS NULL "
	                 "ORDER BY i.indexrelid, k.ord",
	                 1, vals, NULL);
	free(reg);
	if (r == NULL)
		return false;
	for (i = 0; !found && i < pq->ntuples(r); i++) {
		const char *idx = pq->getvalue(r, i, 0);
		int64_t seq = strtoll(pq->getvalue(r, i, 1), NULL, 10);
		const char *col = pq->getvalue(r, i, 2);

		found = appdb_leads_row(&m, idx, seq, col, lead, nlead, column);
	}
	appdb_leads_done(&m);
	pq->clear(r);
	return found;
}

static int64_t
pg_data_version(struct appdb *db)
{
	(void)db;
	return -1;
}

static void
pg_durable(struct appdb *db, bool on)
{
	struct pg_conn *pc = C(db);

	pg_simple(pc, on ? "SET synchronous_commit TO on" : "RESET synchronous_commit", NULL,
	          "durable");
}

/* The restore marker (appdb.h marker_get); a missing table reads as no row. */
static lethe_rc
pg_marker_get(struct appdb *db, int64_t *epoch, struct lethe_err *err)
{
	struct pg_conn *pc = C(db);
	const struct pq_api *pq = pc->pq;
	PGresult *r;
	lethe_rc rc = LETHE_E_NOTFOUND;

	*epoch = 0;
	if (pg_revive(pc, err) != LETHE_OK)
		return err != NULL ? err->rc : LETHE_E_BUSY;
	r = pq->exec(pc->c, "SELECT epoch FROM lethe_restore_marker WHERE id = 1");
	if (pq->resultStatus(r) == PGRES_TUPLES_OK) {
		if (pq->ntuples(r) > 0) {
			*epoch = strtoll(pq->getvalue(r, 0, 0), NULL, 10);
			rc = LETHE_OK;
		}
	} else {
		const char *state = pq->resultErrorField(r, PG_DIAG_SQLSTATE);

		/* No such table: never created here (or the database predates it). */
		if (state == NULL || strcmp(state, "42P01") != 0)
			rc = pg_fail(pc, r, err, "reading the restore marker");
	}
	pq->clear(r);
	return rc;
}

/* The restore marker (appdb.h marker_set). */
static lethe_rc
pg_marker_set(struct appdb *db, int64_t epoch, int64_t if_was, struct lethe_err *err)
{
	struct pg_conn *pc = C(db);
	const struct pq_api *pq = pc->pq;
	char e[32], w[32];
	const char *vals[2] = {e, w};
	PGresult *r;
	lethe_rc rc = LETHE_OK;

	if (pg_revive(pc, err) != LETHE_OK)
		return err != NULL ? err->rc : LETHE_E_BUSY;
	snprintf(e, sizeof(e), "%" PRId64, epoch);
	snprintf(w, sizeof(w), "%" PRId64, if_was);
	if (if_was < 0) {
		rc = pg_simple(pc,
		               "CREATE TABLE IF NOT EXISTS lethe_restore_marker ("
		               "id INTEGER PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL)",
		               err, "creating the restore marker");
		if (rc != LETHE_OK)
			return rc;
		r = pq->execParams(pc->c,
		                   "INSERT INTO lethe_restore_marker (id, epoch) VALUES (1, $1) "
		                   "ON CONFLICT (id) DO UPDATE SET epoch = "
		                   "GREATEST(lethe_restore_marker.epoch, EXCLUDED.epoch)",
		                   1, NULL, vals, NULL, NULL, 0);
	} else {
		r = pq->execParams(pc->c,
		                   "UPDATE lethe_restore_marker SET epoch = $1 "
		                   "WHERE id = 1 AND epoch = $2",
		                   2, NULL, vals, NULL, NULL, 0);
	}
	if (pq->resultStatus(r) != PGRES_COMMAND_OK) {
		const char *state = pq->resultErrorField(r, PG_DIAG_SQLSTATE);

		if (if_was >= 0 && state != NULL && strcmp(state, "42P01") == 0)
			rc = LETHE_E_NOTFOUND;
		else
			rc = pg_fail(pc, r, err, "writing the restore marker");
	} else if (if_was >= 0 && strcmp(pq->cmdTuples(r), "0") == 0) {
		rc = LETHE_E_NOTFOUND;
	}
	pq->clear(r);
	return rc;
}

const struct appdb_ops appdb_pg_ops = {
    .name = "postgresql",
    .dialect = &appdb_pg_dialect,
    .open = pg_open,
    .close = pg_close,
    .begin_write = pg_begin_write,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .prepare = pg_prepare,
    .bind = pg_bind,
    .step = pg_step,
    .column = pg_column,
    .column_count = pg_column_count,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .changes = pg_changes,
    .table_info = pg_table_info,
    .column_indexed = pg_column_indexed,
    .index_leads = pg_index_leads,
    .data_version = pg_data_version,
    .maintain = NULL,
    .flush = NULL,
    .bulk = NULL,
    .durable = pg_durable,
    .files = NULL,
    .marker_get = pg_marker_get,
    .marker_set = pg_marker_set,
    .oldest_xact = appdb_pg_oldest_xact,
};
