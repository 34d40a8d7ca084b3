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
 * Apply effect @e of the validated map @dm (or, with @undo, its undo) to
 * the rows of the person named by @ids (@nids) in the app database @db, in
 * one write transaction of @db (not inside the caller's): each table's
 * `set` (or `undo`) updates the rows of that table that link to the person,
 * through identity columns and parent links as the planner finds them,
 * whatever the scope.  Rows that already hold the values are left alone,
 * so it is idempotent and *@rows gets the rows that changed (0 on
 * failure).  A table without `undo` is left as it is by an undo.
 * LETHE_E_USAGE if @ids is empty, has an empty value or a kind the map
 * does not declare; LETHE_E_DB on a database failure (nothing changed).
 * Messages never hold identity values.  @db is used by one thread.
 */
lethe_rc effects_apply(const struct datamap *dm, const struct dm_effect *e, bool undo,
                       const struct plan_id *ids, size_t nids, struct appdb *db, int64_t *rows,
                       struct lethe_err *err);
/*
 * The keys of the person's rows of the channel table (the one with
 * `connection:`) as decimal text, in key order, for an effect with
 * `revoke: true` (the service disconnects each).  *@keys (free with
 * effects_keys_free()) and *@n; 0 keys if the map has no channel table or
 * the person has none.  A key that is not a positive integer (which a
 * disconnect cannot name) is skipped with a warning.  Only reads @db.
 * LETHE_E_USAGE for @ids as effects_apply(), LETHE_E_TOOBIG past 4096
 * channels, LETHE_E_DB on a database failure (no keys then).
 */
lethe_rc effects_channels(const struct datamap *dm, const struct plan_id *ids, size_t nids,
                          struct appdb *db, char ***keys, size_t *n, struct lethe_err *err);
/* Free the @n keys @keys of effects_channels() and the array (NULL with 0 is fine). */
void effects_keys_free(char **keys, size_t n);

#endif /* LETHE_ENGINE_EFFECTS_H */
