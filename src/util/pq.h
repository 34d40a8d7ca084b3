/* SPDX-License-Identifier: MIT */
/*
 * pq.h - libpq (PostgreSQL's client library) loaded on first use.
 *
 * lethe is not linked against libpq: linked, libpq and what it pulls in
 * (OpenSSL, GSSAPI, LDAP) add about 5.5 MB to every lethe's memory (1.2 MB
 * -> 6.8 MB in a trivial program), and a lethe on SQLite never needs it.
 * The app database's PostgreSQL driver (db/appdb_pg.c), the PostgreSQL
 * state store (store/sq_pg.c) and the demo writer open it through
 * pq_lib() when a postgresql:// URL is first used.  Only the headers of
 * libpq-dev are used at build time (the types and constants).
 */
#ifndef LETHE_UTIL_PQ_H
#define LETHE_UTIL_PQ_H

#include "util/fmacros.h"

#include <libpq-fe.h>

#include "util/rc.h"

/* The libpq functions lethe calls, by their libpq names without "PQ". */
struct pq_api {
	PGconn *(*connectdb)(const char *conninfo);
	ConnStatusType (*status)(const PGconn *conn);
	char *(*errorMessage)(const PGconn *conn);
	void (*finish)(PGconn *conn);
	void (*reset)(PGconn *conn);
	PGresult *(*exec)(PGconn *conn, const char *query);
	PGresult *(*execParams)(PGconn *conn, const char *command, int nParams,
	                        const Oid *paramTypes, const char *const *paramValues,
	                        const int *paramLengths, const int *paramFormats, int resultFormat);
	PGresult *(*prepare)(PGconn *conn, const char *stmtName, const char *query, int nParams,
	                     const Oid *paramTypes);
	PGresult *(*execPrepared)(PGconn *conn, const char *stmtName, int nParams,
	                          const char *const *paramValues, const int *paramLengths,
	                          const int *paramFormats, int resultFormat);
	ExecStatusType (*resultStatus)(const PGresult *res);
	char *(*resultErrorMessage)(const PGresult *res);
	char *(*resultErrorField)(const PGresult *res, int fieldcode);
	int (*ntuples)(const PGresult *res);
	int (*nfields)(const PGresult *res);
	char *(*getvalue)(const PGresult *res, int tup_num, int field_num);
	int (*getlength)(const PGresult *res, int tup_num, int field_num);
	int (*getisnull)(const PGresult *res, int tup_num, int field_num);
	Oid (*ftype)(const PGresult *res, int field_num);
	char *(*fname)(const PGresult *res, int field_num);
	char *(*cmdTuples)(PGresult *res);
	void (*clear)(PGresult *res);
	unsigned char *(*unescapeBytea)(const unsigned char *strtext, size_t *retbuflen);
	void (*freemem)(void *ptr);
	PQnoticeProcessor (*setNoticeProcessor)(PGconn *conn, PQnoticeProcessor proc, void *arg);
	PGTransactionStatusType (*transactionStatus)(const PGconn *conn);
	int (*serverVersion)(const PGconn *conn);
	int (*putCopyData)(PGconn *conn, const char *buffer, int nbytes);
	int (*putCopyEnd)(PGconn *conn, const char *errormsg);
	PGresult *(*getResult)(PGconn *conn);
	char *(*escapeLiteral)(PGconn *conn, const char *str, size_t len);
	char *(*escapeIdentifier)(PGconn *conn, const char *str, size_t len);
	PQconninfoOption *(*conninfoParse)(const char *conninfo, char **errmsg);
	void (*conninfoFree)(PQconninfoOption *connOptions);
	int (*backendPID)(const PGconn *conn);
	int (*socket)(const PGconn *conn);
};

/*
 * libpq, opened on the first call (thread-safe, once per process); NULL
 * with LETHE_E_CONFIG in @err ("PostgreSQL support needs libpq
 * (libpq5): ...") if it cannot be loaded.
 */
const struct pq_api *pq_lib(struct lethe_err *err);

/* True if @url is a PostgreSQL URL ("postgresql://" or "postgres://"). */
bool pq_is_url(const char *url);

/*
 * @url with its password (userinfo's ":secret" and a "password=" query
 * parameter) replaced by "***", for messages and logs: a new string.
 */
char *pq_url_redacted(const char *url);

#endif /* LETHE_UTIL_PQ_H */
