/* SPDX-License-Identifier: MIT */
/*
 * effects.h - a data map effect applied to one person's rows: what a
 * request does at once when it is accepted (disable the login, mark the
 * account closing...) and what a cancellation puts back.  The effects are
 * declared in the data map's `effects:` section (docs/datamap.md); a
 * policy names those a request applies (config/policy.h).
 */
#ifndef LETHE_ENGINE_EFFECTS_H
#define LETHE_ENGINE_EFFECTS_H

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/plan.h"
#include "util/fmacros.h"
#include "util/rc.h"

/*
 * Apply effect @e (or, with @undo, its undo) to the rows of the person
 * named by @ids (@nids) in the app database @db, in one transaction of
 * @db: each `set` of the effect updates the rows of its table that link to
 * the person (as the planner links them).  *@rows gets the rows changed.
 * Idempotent.  LETHE_E_DB on a database failure (nothing changed).
 */
lethe_rc effects_apply(const struct datamap *dm, const struct dm_effect *e, bool undo,
                       const struct plan_id *ids, size_t nids, struct appdb *db, int64_t *rows,
                       struct lethe_err *err);
/*
 * The keys of the person's rows of the channel table (the one with
 * `connection:`) as decimal text, for an effect with `revoke: true` (the
 * service disconnects each).  *@keys (free each and the array) and *@n; 0
 * keys if the map has no channel table or the person has none.
 */
lethe_rc effects_channels(const struct datamap *dm, const struct plan_id *ids, size_t nids,
                          struct appdb *db, char ***keys, size_t *n, struct lethe_err *err);

#endif /* LETHE_ENGINE_EFFECTS_H */
