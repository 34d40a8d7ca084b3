/* SPDX-License-Identifier: MIT */
/*
 * proof_work.c - the runner's share of the audit chain: a signed
 * checkpoint of the chain's head every proof.checkpoint_interval, when the
 * head moved (docs/internals/proof.md "The audit chain").  Without loaded
 * signing keys (cfg->proof.keys NULL) it does nothing.  Of several workers
 * sharing a store, the one holding the "proof" singleton signs.
 */
#include "util/fmacros.h"

#include "audit/chain.h"
#include "jobs/proof_work.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/timeutil.h"

#define PROOF_WARN_MS (10 * 60 * 1000.0) /* one warning about failed checkpoints at most */

void
proof_work_tick(const struct lethe_config *cfg, struct store *st, double *last_ms)
{
	static double warned; /* time_mono_ms() of the last warning (runner thread only) */
	static char owner[LEASE_OWNER_MAX]; /* this process's owner text (runner thread only) */
	bool held = false;
	struct lethe_err err = {0};
	double now = time_mono_ms();
	int64_t seq = 0;

	if (cfg->proof.keys == NULL || st == NULL)
		return;
	if (*last_ms != 0 && now - *last_ms < (double)cfg->proof.checkpoint_interval * 1000.0)
		return;
	*last_ms = now;
	/*
	 * One worker of a store signs the checkpoints (the "proof" singleton):
	 * it keeps the lease while it ticks, another takes over once it lapses.
	 */
	if (owner[0] == '\0')
		lease_owner_format(owner, sizeof(owner));
	if (store_singleton_take(st, "proof", owner, time_now() * 1000,
	                         cfg->proof.checkpoint_interval * 2000 + 60000, &held,
	                         &err) != LETHE_OK ||
	    !held) {
		if (!held)
			log_debug("audit: another worker signs the checkpoints (%s)",
			          err.msg[0] != '\0' ? err.msg : "it holds the lease");
		return;
	}
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
