/* SPDX-License-Identifier: MIT */
/*
 * pq.c - libpq loaded on first use (pq.h).
 */
#include "util/fmacros.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/dlib.h"
#include "util/mem.h"
#include "util/pq.h"

#define PQ_SONAME "libpq.so.5" /* Debian 12's libpq5 */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct pq_api lib;
static bool loaded;
static struct dlib dl; /* the library and why it could not be loaded */

#define SYM(field) dlib_sym(&dl, "PQ" #field, &lib.field)

static void
load(void)
{
	if (!dlib_open(&dl, PQ_SONAME))
		return;
	/* Kept open for the process's life. */
	loaded = SYM(connectdb) && SYM(status) && SYM(errorMessage) && SYM(finish) && SYM(reset) &&
	         SYM(exec) && SYM(execParams) && SYM(prepare) && SYM(execPrepared) &&
	         SYM(resultStatus) && SYM(resultErrorMessage) && SYM(resultErrorField) &&
	         SYM(ntuples) && SYM(nfields) && SYM(getvalue) && SYM(getlength) &&
	         SYM(getisnull) && SYM(ftype) && SYM(fname) && SYM(cmdTuples) && SYM(clear) &&
	         SYM(unescapeBytea) && SYM(freemem) && SYM(setNoticeProcessor) &&
	         SYM(transactionStatus) && SYM(serverVersion) && SYM(putCopyData) &&
	         SYM(putCopyEnd) && SYM(getResult) && SYM(escapeLiteral) && SYM(escapeIdentifier) &&
	         SYM(conninfoParse) && SYM(conninfoFree) && SYM(backendPID) && SYM(socket);
}

const struct pq_api *
pq_lib(struct lethe_err *err)
{
	pthread_once(&once, load);
	if (!loaded) {
		lethe_err_set(err, LETHE_E_CONFIG,
		              "PostgreSQL support needs libpq, which cannot be loaded (%s); "
		              "install libpq5",
		              dl.why);
		return NULL;
	}
	return &lib;
}

bool
pq_is_url(const char *url)
{
	return url != NULL &&
	       (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
}

char *
pq_url_redacted(const char *url)
{
	const char *start = strstr(url, "://");
	const char *at, *colon, *slash, *pw;
	char *out, *q;

	if (start == NULL)
		return xstrdup(url);
	start += 3;
	slash = strchr(start, '/');
	at = strchr(start, '@');
	if (at != NULL && slash != NULL && at > slash)
		at = NULL; /* an '@' in the path or query is not userinfo */
	if (at != NULL) {
		colon = memchr(start, ':', (size_t)(at - start));
		if (colon != NULL) {
			out = xasprintf("%.*s:***%s", (int)(colon - url), url, at);
		} else {
			out = xstrdup(url);
		}
	} else {
		out = xstrdup(url);
	}
	/* A password= parameter in the query: its value up to the next '&'. */
	pw = strstr(out, "password=");
	if (pw != NULL) {
		const char *end = strchr(pw, '&');

		q = xasprintf("%.*spassword=***%s", (int)(pw - out), out, end != NULL ? end : "");
		free(out);
		out = q;
	}
	return out;
}
