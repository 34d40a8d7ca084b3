/* SPDX-License-Identifier: MIT */
/*
 * media_use.h - what the executor (erase_delete.c) and the sweeper
 * (sweep_media.c) share about the media objects of the rows they delete
 * (docs/internals/media.md): the check that every media column's store is
 * configured, the cheap look before the app commit at which objects the
 * app removed itself, and the removal after it, grouped by store in chunks
 * of the store's batch.
 *
 * Stateless; the media set is read only, so any thread may call these.
 */
#ifndef LETHE_ENGINE_MEDIA_USE_H
#define LETHE_ENGINE_MEDIA_USE_H

#include "datamap/datamap.h"
#include "media/media.h"
#include "store/store.h"
#include "util/fmacros.h"
#include "util/rc.h"

/*
 * Every media column of table @t names a store of @set (NULL: none
 * configured).  LETHE_E_CONFIG otherwise: "table 'media' column 'thumb'
 * names media store 'cdn', which lethe.yaml's media_stores does not
 * define" (for "local": app.media_root is not configured).
 */
lethe_rc media_check_table(const struct dm_table *t, const struct media_set *set,
                           struct lethe_err *err);
/* media_check_table() for every table of @dm. */
lethe_rc media_check_stores(const struct datamap *dm, const struct media_set *set,
                            struct lethe_err *err);
/*
 * Before the commit that deletes their rows: @missing[i] is true when
 * key @k[i] is in a store whose probe is cheap (local) and is not there:
 * the app removed it itself; it is counted missing, not recorded.  Keys
 * of other stores, and any the probe cannot answer, are false (recorded:
 * the removal reports them).
 */
void media_use_missing(const struct media_set *set, const struct store_media_key *k, size_t n,
                       bool *missing);
/*
 * Remove the @n objects @k from their stores, grouped by store, in chunks
 * of media_store_batch(); @out[i] is what became of @k[i] (a store @set
 * does not define: MEDIA_FAILED).  LETHE_OK when none is MEDIA_FAILED,
 * otherwise the first failure's code with @err naming the store (never a
 * key).
 */
lethe_rc media_use_remove(const struct media_set *set, const struct store_media_key *k, size_t n,
                          enum media_outcome *out, struct lethe_err *err);

#endif /* LETHE_ENGINE_MEDIA_USE_H */
