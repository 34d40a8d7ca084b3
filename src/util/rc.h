/* SPDX-License-Identifier: MIT */
/*
 * rc.h - lethe's one result type.
 *
 * Every fallible function returns a lethe_rc; LETHE_OK is zero.  Detail for a
 * human goes into a struct lethe_err the caller passes in (or NULL).  The
 * mapping from result to process exit status lives in lethe_rc_exit(); a
 * later HTTP layer adds the one mapping to HTTP status next to it.
 */
#ifndef LETHE_RC_H
#define LETHE_RC_H

#include "util/fmacros.h"

typedef enum lethe_rc {
	LETHE_OK = 0,
	LETHE_E_USAGE,        /* bad command line or argument */
	LETHE_E_CONFIG,       /* configuration file invalid */
	LETHE_E_DATAMAP,      /* data map invalid or does not match the database */
	LETHE_E_NOTFOUND,     /* a named thing does not exist */
	LETHE_E_DB,           /* the app database failed */
	LETHE_E_STATE,        /* lethe's state store failed */
	LETHE_E_IO,           /* file system error */
	LETHE_E_BUSY,         /* a lock could not be had in time; retry */
	LETHE_E_TOOBIG,       /* input over a hard cap */
	LETHE_E_INTERNAL,     /* a bug */
	LETHE_E_INVALID,      /* malformed input from a client (HTTP 400) */
	LETHE_E_FORBIDDEN,    /* a signature or credential that does not verify */
	LETHE_E_UNAVAILABLE,  /* cannot serve now (state store down, shutting down) */
	LETHE_E_UNAUTHORIZED, /* no credential where one is required (HTTP 401) */
	LETHE_E_CONFLICT,     /* the thing's state does not allow the action (HTTP 409) */
	LETHE_E_LIMIT,        /* too many requests from one address or client (HTTP 429) */
	LETHE_E_GONE,         /* the thing existed and was deleted (an expired archive, HTTP 410) */
} lethe_rc;

#define LETHE_ERR_MAX 512

/* Human-readable detail of a failure; never holds personal data. */
struct lethe_err {
	lethe_rc rc;             /* the result this detail belongs to */
	char msg[LETHE_ERR_MAX]; /* "file:line: what is wrong" or similar */
};

/* Short constant name of @rc ("usage", "datamap"...). */
const char *lethe_rc_str(lethe_rc rc);

/* Exit status for the CLI: 0 ok, 2 usage, 3 config/data map, 1 otherwise. */
int lethe_rc_exit(lethe_rc rc);

/*
 * Record @rc and a printf-formatted message in @err (which may be NULL).
 * Returns @rc so callers can write `return lethe_err_set(err, ...)`.
 */
lethe_rc lethe_err_set(struct lethe_err *err, lethe_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* LETHE_RC_H */
