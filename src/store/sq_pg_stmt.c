/* SPDX-License-Identifier: MIT */
/*
 * sq_pg_stmt.c - the statements of the PostgreSQL backend of sq.h
 * (sq_pg.c): prepare, the server-side prepared statements each connection
 * keeps, binding, stepping and reading the results' columns.
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
 * so that every later run is one round trip.  A write outside a
 * transaction runs in one of its own that takes the store's write lock
 * (sq_pg.c).  A statement is used by its connection's thread only (sq.h).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A parameter of a statement, as last bound. */
struct param {
	char type;       /* 0 unbound, 'n' NULL, 'i', 't', 'b' */
	const char *val; /* its value (text, or the blob's bytes), or NULL */
	int len;         /* a blob's length in bytes; 0 otherwise */
	char *own;       /* a copy of val, freed at reset */
	char num[24];    /* an integer's text: val points here */
};

/* A statement of a PostgreSQL connection (sq.h's struct sq_stmt). */
struct pgst {
	enum sq_kind kind;   /* SQ_PG: first, as sq.h's dispatch reads it */
	struct pgc *c;       /* its connection */
	char *sql;           /* rewritten */
	int np;              /* parameters: $1..$np */
	unsigned char *used; /* np flags: the statement refers to $i */
	bool write;          /* INSERT, UPDATE, DELETE (or a WITH holding one) or DDL */
	bool dml;            /* INSERT, UPDATE or DELETE: sets changes */
	bool txn;            /* BEGIN, COMMIT, SAVEPOINT...: the watch callback runs first */
	bool unlocked;       /* SQ_UNLOCKED: written without the write lock */
	struct param *p;     /* np + 1 parameters, as bound */
	char *types;         /* the types the statement was last prepared with */
	char name[24];       /* its server-side name ("" : none yet) */
	unsigned gen;        /* the connection's generation it was prepared in */
	PGresult *res;       /* the last run's result, or NULL */
	int row;             /* the current row of res */
	int nrows;           /* res's rows */
	bool ran;            /* it ran since the last reset */
	char **dec;          /* per column: the current row's bytea decoded, or NULL */
	size_t *declen;      /* per column: dec's length */
	int ndec;            /* columns dec and declen have room for */
};

#define PGST(x) ((struct pgst *)(void *)(x))

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
		sqpg_fail_res(c, res);
	}
	sqpg_note_txn(c);
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

	if (sp && !sqpg_run(c, "SAVEPOINT sqpg_prepare"))
		return false;
	ok = prepare_once(c, name, sql, np, oids, &untyped);
	if (sp)
		sqpg_run(c, ok ? "RELEASE SAVEPOINT sqpg_prepare"
		               : "ROLLBACK TO SAVEPOINT sqpg_prepare");
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
	/* Stepped again after a failure without sq_reset: nothing of the last run kept. */
	drop_row(q);
	if (q->res != NULL) {
		pq->clear(q->res);
		q->res = NULL;
	}
	q->row = q->nrows = 0;
	/* BEGIN, COMMIT, SAVEPOINT...: run as they are, with SQLite's meaning. */
	if (q->txn) {
		q->ran = true;
		return sqpg_txn_stmt(c, q->sql, NULL) == LETHE_OK ? SQ_DONE : SQ_ERROR;
	}
	if (!sqpg_ready(c))
		return SQ_ERROR;
	if (!prepared(q))
		return SQ_ERROR;
	/* A write takes the write lock: in the open transaction, or in one of its own. */
	if (q->write && !q->unlocked && c->txn && !c->locked && !sqpg_lock(c))
		return SQ_ERROR;
	if (q->write && !q->unlocked && !c->txn) {
		if (!sqpg_begin_locked(c)) {
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
		sqpg_fail_res(c, q->res);
		if (q->res != NULL)
			pq->clear(q->res);
		q->res = NULL;
		sqpg_note_txn(c);
		if (own)
			sqpg_rollback((struct sq *)(void *)c);
		return SQ_ERROR;
	}
	sqpg_note_txn(c);
	if (q->dml) {
		const char *n = pq->cmdTuples(q->res);

		c->changes = n != NULL && *n != '\0' ? strtoll(n, NULL, 10) : 0;
	}
	if (own && !sqpg_run(c, "COMMIT")) {
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
