/* SPDX-License-Identifier: MIT */
/*
 * proof_work.c - the runner's share of the audit chain: a signed
 * checkpoint of the chain's head every proof.checkpoint_interval, when the
 * head moved (docs/internals/proof.md "The audit chain").  Without loaded
 * signing keys (cfg->proof.keys NULL) it does nothing.
 */
#include "util/fmacros.h"

#include "audit/chain.h"
#include "jobs/proof_work.h"
#include "util/log.h"
#include "util/timeutil.h"

#define PROOF_WARN_MS (10 * 60 * 1000.0) /* one warning about failed checkpoints at most */

void
proof_work_tick(const struct lethe_config *cfg, struct store *st, double *last_ms)
{
	static double warned; /* time_mono_ms() of the last warning (runner thread only) */
	struct lethe_err err = {0};
	double now = time_mono_ms();
	int64_t seq = 0;

	if (cfg->proof.keys == NULL || st == NULL)
		return;
	if (*last_ms != 0 && now - *last_ms < (double)cfg->proof.checkpoint_interval * 1000.0)
		return;
	*last_ms = now;
	if (chain_checkpoint(st, cfg->proof.keys, time_now(), false, &seq, &err) != LETHE_OK) {
		if (warned == 0 || now - warned >= PROOF_WARN_MS) {
			warned = now;
			log_warnx("audit: no checkpoint signed: %s", err.msg);
		}
		return;
	}
	if (seq > 0)
		log_debug("audit: checkpoint of entry %lld signed", (long long)seq);
}
