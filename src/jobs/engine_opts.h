/* SPDX-License-Identifier: MIT */
/*
 * engine_opts.h - the one place where the configuration becomes the
 * engine's option structs (struct erase_opts, struct sweep_opts, struct
 * disconnect_opts).
 *
 * The engine's entry points take option structs, never the configuration.
 * They are built here, in the jobs layer, because both the background
 * threads (runner, outbox, sweeper) and the service layer above them need
 * them, and no include may point up.  Callers set the per-run fields
 * (progress, stop flag, dry run) afterwards.  Thread-safe: reads @cfg only.
 */
#ifndef LETHE_JOBS_ENGINE_OPTS_H
#define LETHE_JOBS_ENGINE_OPTS_H

#include "config/config.h"
#include "engine/disconnect.h"
#include "engine/erase.h"
#include "engine/sweep.h"

/*
 * @o zeroed, then batch size, transaction budget, yield, media root and key
 * of @cfg, and (once the outbox key is loaded) what disconnecting the
 * channels an erasure acts on needs.
 */
void engine_opts_erase(const struct lethe_config *cfg, struct erase_opts *o);
/* @o zeroed, then the sweep's pass limits and the erase settings of @cfg. */
void engine_opts_sweep(const struct lethe_config *cfg, struct sweep_opts *o);

/* @o: the anonymize key, the outbox key and the platforms of @cfg (pointers into @cfg). */
void engine_opts_disconnect(const struct lethe_config *cfg, struct disconnect_opts *o);

#endif /* LETHE_JOBS_ENGINE_OPTS_H */
