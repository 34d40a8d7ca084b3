/* SPDX-License-Identifier: MIT */
/* ledger.c - PLACEHOLDER(issue 15): the ledger owner writes this file. */
#include "util/fmacros.h"

#include "store/store_internal.h"

lethe_rc
store_ledger_finish(struct store *st, int64_t request_id, bool erased, struct lethe_err *err)
{
	(void)st, (void)request_id, (void)erased, (void)err;
	return LETHE_OK;
}
