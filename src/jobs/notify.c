/* SPDX-License-Identifier: MIT */
/* notify.c - PLACEHOLDER(issue 15): the notify owner writes this file. */
#include "util/fmacros.h"

#include "jobs/notify.h"

lethe_rc
notify_queue(const struct lethe_config *cfg, const struct datamap *dm, struct store *st,
             int64_t request_id, const char *state, const struct plan_id *ids, size_t nids,
             int64_t now, struct lethe_err *err)
{
	(void)cfg, (void)dm, (void)st, (void)request_id, (void)state, (void)ids, (void)nids,
	    (void)now, (void)err;
	return LETHE_OK;
}
