/* SPDX-License-Identifier: MIT */
/* scans.c - PLACEHOLDER(issue 15): the scan owner writes this file. */
#include "util/fmacros.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

lethe_rc
store_scan_put(struct store *st, const struct store_scan *s, struct lethe_err *err)
{
	(void)st, (void)s, (void)err;
	return LETHE_OK;
}

lethe_rc
store_scan_get(struct store *st, int64_t request_id, struct store_scan *out, struct lethe_err *err)
{
	(void)st, (void)request_id, (void)out, (void)err;
	return LETHE_E_NOTFOUND;
}

void
store_scan_clear(struct store_scan *s)
{
	free(s->detail);
	memset(s, 0, sizeof(*s));
}
