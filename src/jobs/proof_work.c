/* SPDX-License-Identifier: MIT */
/* proof_work.c - PLACEHOLDER(issue 15): the chain owner writes this file. */
#include "util/fmacros.h"

#include "jobs/proof_work.h"

void
proof_work_tick(const struct lethe_config *cfg, struct store *st, double *last_ms)
{
	(void)cfg, (void)st, (void)last_ms;
}
