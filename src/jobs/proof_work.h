/* SPDX-License-Identifier: MIT */
/*
 * proof_work.h - the runner's share of the audit chain: signed checkpoints
 * of its head (docs/internals/proof.md).
 */
#ifndef LETHE_JOBS_PROOF_WORK_H
#define LETHE_JOBS_PROOF_WORK_H

#include "config/config.h"
#include "store/store.h"

/*
 * From the runner's tick: sign a checkpoint of the chain's head when
 * proof.checkpoint_interval has passed since @*last_ms (time_mono_ms(),
 * updated) and the head moved.  Failures are logged (rate-limited), never
 * fatal.  Runner thread only.
 */
void proof_work_tick(const struct lethe_config *cfg, struct store *st, double *last_ms);

#endif /* LETHE_JOBS_PROOF_WORK_H */
