/* SPDX-License-Identifier: MIT */
/* scan_work.c - PLACEHOLDER(issue 15): the scan owner writes this file. */
#include "util/fmacros.h"

#include <stdio.h>
#include <string.h>

#include "jobs/scan_work.h"
#include "util/mem.h"

lethe_rc
scan_work_after(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                int64_t request_id, int64_t job, const char *scope, const struct plan_id *ids,
                size_t nids, bool changed, struct store_scan *out, struct lethe_err *err)
{
	(void)cfg, (void)dm, (void)db, (void)scope, (void)ids, (void)nids, (void)changed, (void)err;
	memset(out, 0, sizeof(*out));
	out->request_id = request_id;
	out->job_id = job;
	snprintf(out->result, sizeof(out->result), "skipped");
	snprintf(out->wal, sizeof(out->wal), "not_needed");
	out->secure_delete = -1;
	out->detail = xstrdup("{}");
	return LETHE_OK;
}

char *
scan_work_reason(const struct store_scan *s)
{
	return xasprintf("the residual scan found %lld rows", (long long)s->rows);
}
