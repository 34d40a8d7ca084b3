/* SPDX-License-Identifier: MIT */
/*
 * receipts.c - what a request's receipt reads from the state store besides
 * the request row and its scan (docs/proof.md "Receipts"): the steps of
 * its erase job with their media counts and hold ends, and the audit chain
 * entry of its final transition.  Read-only.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"
#include "util/hash.h"

lethe_rc
store_receipt_steps(struct store *st, int64_t job, store_receipt_step_fn fn, void *arg,
                    struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(
	    st, &q, err,
	    /* As store_meta_steps(): a keep rule's step "TABLE#N" holds rows of TABLE. */
	    "SELECT s.table_name, s.action, s.done, s.media, (SELECT max(until) FROM holds h "
	    "WHERE h.job_id = s.job_id AND h.table_name = CASE WHEN instr(s.table_name, '#') > 0 "
	    "THEN substr(s.table_name, 1, instr(s.table_name, '#') - 1) ELSE s.table_name END) "
	    "FROM job_steps s WHERE s.job_id = ?1 ORDER BY s.rowid",
	    "i", job);
	while (store__row(st, q, &rc, err, "reading a job's steps for a receipt"))
		fn(arg, (const char *)sqlite3_column_text(q, 0),
		   (const char *)sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2),
		   sqlite3_column_int64(q, 3), sqlite3_column_int64(q, 4));
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_audit_final(struct store *st, int64_t request_id, int64_t *seq, char hash[65],
                  struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;
	const void *h;

	*seq = 0;
	hash[0] = '\0';
	rc = store__prepf(st, &q, err,
	                  "SELECT seq, hash FROM audit WHERE request_id = ?1 AND type = 'request' "
	                  "AND state IN ('completed', 'completed_with_retention', 'refused', "
	                  "'cancelled') ORDER BY seq DESC LIMIT 1",
	                  "i", request_id);
	if (store__row(st, q, &rc, err, "reading a request's final audit entry")) {
		h = sqlite3_column_blob(q, 1);
		if (h != NULL && sqlite3_column_bytes(q, 1) == 32) {
			*seq = sqlite3_column_int64(q, 0);
			hash_hex(h, 32, hash);
		} else {
			rc = lethe_err_set(err, LETHE_E_STATE,
			                   "state store: audit entry %lld has no 32-byte hash",
			                   (long long)sqlite3_column_int64(q, 0));
		}
	} else if (rc == LETHE_OK) {
		rc = LETHE_E_NOTFOUND;
	}
	store__unprep(st, q);
	return rc;
}
