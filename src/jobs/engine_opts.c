/* SPDX-License-Identifier: MIT */
/*
 * engine_opts.c - the configuration as the engine's option structs (see
 * engine_opts.h): every line that turns a setting of lethe.yaml into an
 * option of erase_run() or sweep_new() is here.
 */
#include "util/fmacros.h"

#include "jobs/engine_opts.h"

void
engine_opts_erase(const struct lethe_config *cfg, struct erase_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->batch_rows = cfg->batch_rows;
	o->max_txn_ms = cfg->max_txn_ms;
	o->yield_ms = cfg->yield_ms;
	o->media = cfg->media;
	o->key = cfg->key;
	/* The channel rows an erasure acts on are disconnected (outbox) once the key is there. */
	if (cfg->outbox.key_loaded)
		engine_opts_disconnect(cfg, &o->disc);
}

void
engine_opts_sweep(const struct lethe_config *cfg, struct sweep_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_rows_per_pass = cfg->sweep_max_rows;
	o->max_ms_per_pass = cfg->sweep_max_ms;
	o->batch_rows = cfg->batch_rows;
	o->max_txn_ms = cfg->max_txn_ms;
	o->yield_ms = cfg->yield_ms;
	o->media = cfg->media;
	o->key = cfg->key;
}

void
engine_opts_disconnect(const struct lethe_config *cfg, struct disconnect_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->key = cfg->key;
	o->outbox_key = cfg->outbox.key;
	o->platforms = cfg->platforms;
}
