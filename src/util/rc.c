/* SPDX-License-Identifier: MIT */
/*
 * rc.c - names of results, their exit codes, and error detail.
 */
#include "util/fmacros.h"

#include <stdarg.h>

#include "util/rc.h"

const char *
lethe_rc_str(lethe_rc rc)
{
	switch (rc) {
	case LETHE_OK:
		return "ok";
	case LETHE_E_USAGE:
		return "usage";
	case LETHE_E_CONFIG:
		return "config";
	case LETHE_E_DATAMAP:
		return "datamap";
	case LETHE_E_NOTFOUND:
		return "not_found";
	case LETHE_E_DB:
		return "database";
	case LETHE_E_STATE:
		return "state";
	case LETHE_E_IO:
		return "io";
	case LETHE_E_BUSY:
		return "busy";
	case LETHE_E_TOOBIG:
		return "too_big";
	case LETHE_E_INTERNAL:
		return "internal";
	case LETHE_E_INVALID:
		return "invalid_request";
	case LETHE_E_FORBIDDEN:
		return "forbidden";
	case LETHE_E_UNAVAILABLE:
		return "unavailable";
	case LETHE_E_UNAUTHORIZED:
		return "unauthorized";
	case LETHE_E_CONFLICT:
		return "conflict";
	case LETHE_E_LIMIT:
		return "rate_limited";
	case LETHE_E_GONE:
		return "gone";
	}
	return "unknown";
}

int
lethe_rc_exit(lethe_rc rc)
{
	switch (rc) {
	case LETHE_OK:
		return 0;
	case LETHE_E_USAGE:
		return 2;
	case LETHE_E_CONFIG:
	case LETHE_E_DATAMAP:
		return 3;
	default:
		return 1;
	}
}

lethe_rc
lethe_err_set(struct lethe_err *err, lethe_rc rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return rc;
	err->rc = rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}
