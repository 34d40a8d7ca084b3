/* SPDX-License-Identifier: MIT */
/*
 * receipts.c - what a request's receipt reads from the state store besides
 * the request row and its scan (docs/proof.md "Receipts"): the steps of
 * its erase job with their media counts and hold ends (the audit chain
 * entry of its final transition is audit.c's store_audit_final()).
 * Read-only.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"

lethe_rc
store_receipt_steps(struct store *st, int64_t job, store_receipt_step_fn fn, void *arg,
                    struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	/* As store_meta_steps(): a keep rule's step "TABLE#N" holds rows of TABLE. */
#define STEPS(instr)                                                                               \
	"SELECT s.table_name, s.action, s.done, s.media, (SELECT max(until) FROM holds h "         \
	"WHERE h.job_id = s.job_id AND h.table_name = " STORE_STEP_TABLE(                          \
	    instr) ") "                                                                            \
	           "FROM job_steps s WHERE s.job_id = ?1 ORDER BY s.rowid"
	rc = store__prepf(st, &q, err, SQ2(st->c, STEPS("instr"), STEPS("strpos")), "i", job);
#undef STEPS
	while (store__row(st, q, &rc, err, "reading a job's steps for a receipt"))
		fn(arg, sq_col_text(q, 0), sq_col_text(q, 1), sq_col_int(q, 2), sq_col_int(q, 3),
		   sq_col_int(q, 4));
	store__unprep(st, q);
	return rc;
}
