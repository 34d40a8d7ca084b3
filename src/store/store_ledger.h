/* SPDX-License-Identifier: MIT */
/*
 * store_ledger.h - the state store's ledger section (ledger.c): the
 * erased people, by keyed hashes only, and the restore epoch
 * (docs/internals/proof.md).
 *
 * Part of store.h, which includes it at its end; kept apart so store.h
 * stays readable.  Include store/store.h (this file includes it too).
 */
#ifndef LETHE_STORE_LEDGER_H
#define LETHE_STORE_LEDGER_H

#include "store/store.h"

/* Add a pending entry: row @key_hash of @table, identity hashes @ids_json (a JSON array). */
lethe_rc store_ledger_add(struct store *st, const char *table, const char *key_hash,
                          const char *ids_json, const char *scope, int64_t request_id, int64_t now,
                          struct lethe_err *err);
/*
 * Request @request_id ended: its pending entries become erased (@erased)
 * or are dropped (it failed, or erased nothing).
 */
lethe_rc store_ledger_finish(struct store *st, int64_t request_id, bool erased,
                             struct lethe_err *err);
typedef void (*store_ledger_fn)(void *arg, const char *key_hash, const char *ids_json,
                                const char *scope, int64_t request_id);
/*
 * Call @fn for each erased entry of @table whose key hash is one of the @n
 * @key_hashes (at most 1,000), in key hash and request order; @key_hashes
 * NULL: every erased entry of @table (tests).
 */
lethe_rc store_ledger_lookup(struct store *st, const char *table, const char *const *key_hashes,
                             size_t n, store_ledger_fn fn, void *arg, struct lethe_err *err);
/* Erased entries of request @request_id become 'unmatched': never looked for again. */
lethe_rc store_ledger_unmatched(struct store *st, int64_t request_id, struct lethe_err *err);
/* *@n gets the number of erased entries (of @table; NULL: of all). */
lethe_rc store_ledger_count(struct store *st, const char *table, int64_t *n, struct lethe_err *err);
/*
 * The restore epoch: *@epoch gets it (0 before the first).  With @bump,
 * add one first (in the caller's transaction); with @raise > the epoch,
 * set it to @raise first.
 */
lethe_rc store_restore_epoch(struct store *st, bool bump, int64_t raise, int64_t *epoch,
                             struct lethe_err *err);

#endif /* LETHE_STORE_LEDGER_H */
