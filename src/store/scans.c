/* SPDX-License-Identifier: MIT */
/*
 * scans.c - the residual scans in the state store (see store.h): each
 * request's latest scan after its erasure (engine/scan.h), with what became
 * of the app database's files (its WAL checkpoint, its secure_delete
 * setting).  A scan row holds counts and table names, never a value.
 */
#include "util/fmacros.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/mem.h"

lethe_rc
store_scan_put(struct store *st, const struct store_scan *s, struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    "INSERT INTO scans (request_id, job_id, at, result, rows, kept, tables, "
	    "detail, wal, secure_delete) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
	    "?9, ?10) ON CONFLICT (request_id) DO UPDATE SET job_id = "
	    "excluded.job_id, at = excluded.at, result = excluded.result, rows = "
	    "excluded.rows, kept = excluded.kept, tables = excluded.tables, detail = "
	    "excluded.detail, wal = excluded.wal, secure_delete = "
	    "excluded.secure_delete",
	    "iiitiiitti", s->request_id, s->job_id, s->at, s->result, s->rows, s->kept, s->tables,
	    s->detail != NULL ? s->detail : "{}", s->wal, (int64_t)s->secure_delete);
}

/* store__row_fn: a scans row into the struct store_scan @arg. */
static void
scan_row(struct sq_stmt *q, void *arg)
{
	struct store_scan *s = arg;

	s->request_id = sq_col_int(q, 0);
	s->job_id = sq_col_int(q, 1);
	s->at = sq_col_int(q, 2);
	store__col_text(q, 3, s->result, sizeof(s->result));
	s->rows = sq_col_int(q, 4);
	s->kept = sq_col_int(q, 5);
	s->tables = sq_col_int(q, 6);
	s->detail = store__col_dup(q, 7);
	store__col_text(q, 8, s->wal, sizeof(s->wal));
	s->secure_delete = (int)sq_col_int(q, 9);
}

lethe_rc
store_scan_get(struct store *st, int64_t request_id, struct store_scan *out, struct lethe_err *err)
{
	memset(out, 0, sizeof(*out));
	return store__one(st, err, "reading a scan", scan_row, out,
	                  "SELECT request_id, job_id, at, result, rows, kept, tables, detail, wal, "
	                  "secure_delete FROM scans WHERE request_id = ?1",
	                  "i", request_id);
}

lethe_rc
store_scan_residual_count(struct store *st, int64_t *out, struct lethe_err *err)
{
	lethe_rc rc;

	*out = 0;
	rc = store__one(st, err, "counting residual scans", store__row_ints, out,
	                "SELECT count(*) FROM scans s JOIN requests r ON r.id = s.request_id "
	                "WHERE s.result = 'residual' AND r.state = 'failed'",
	                "");
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

void
store_scan_clear(struct store_scan *s)
{
	free(s->detail);
	memset(s, 0, sizeof(*s));
}
