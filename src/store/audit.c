/* SPDX-License-Identifier: MIT */
/* audit.c - PLACEHOLDER(issue 15): the chain owner writes this file. */
#include "util/fmacros.h"

#include "store/store_internal.h"

lethe_rc
store_audit_job(struct store *st, int64_t request_id, int64_t job_id, const struct store_scan *scan,
                int64_t now, struct lethe_err *err)
{
	(void)st, (void)request_id, (void)job_id, (void)scan, (void)now, (void)err;
	return LETHE_OK;
}

lethe_rc
store_audit_append(struct store *st, int64_t request_id, const char *type, const char *state,
                   int64_t now, const char *fields, int64_t *seq, struct lethe_err *err)
{
	(void)st, (void)request_id, (void)type, (void)state, (void)now, (void)fields, (void)err;
	if (seq != NULL)
		*seq = 0;
	return LETHE_OK;
}
