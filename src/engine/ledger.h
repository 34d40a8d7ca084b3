/* SPDX-License-Identifier: MIT */
/*
 * ledger.h - the ledger of erased people, as keyed hashes only, and finding
 * them again in an app database restored from a backup (docs/proof.md).
 *
 * Before an erasure, each row of a table with identity links that belongs
 * to the person gives one entry: the keyed hash of the row's key and the
 * keyed hashes of its identity columns' values.  After a restore, a row
 * whose key hash is an erased entry's and one of whose identity values
 * hashes to one of the entry's is that person back.  Only reads the app
 * database.
 */
#ifndef LETHE_LEDGER_H
#define LETHE_LEDGER_H

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/plan.h"
#include "store/store.h"
#include "util/hash.h"

#define LEDGER_ROWS_MAX 10000 /* rows per table a request's entries cover */

/*
 * Add to the store, in the caller's transaction, one pending ledger entry
 * (store_ledger_add()) per row of the person @ids (@nids) in each table with
 * identity links, for request @request_id of scope @scope.  *@n (may be
 * NULL) gets the number of entries.
 */
lethe_rc ledger_collect(const struct datamap *dm, struct appdb *db, struct store *st,
                        const uint8_t key[HASH_KEY_LEN], int64_t request_id, const char *scope,
                        const struct plan_id *ids, size_t nids, int64_t now, int64_t *n,
                        struct lethe_err *err);

/* A person of the ledger found in the app database. */
struct ledger_hit {
	int64_t request_id;  /* the request that erased them */
	char scope[64];      /* its scope */
	struct plan_id *ids; /* identities read from the row (values owned: personal data) */
	size_t nids;         /* number of them */
};

/*
 * Scan every table with identity links for rows of erased ledger entries.
 * *@hits (free with ledger_hits_free(), which wipes the values) gets one
 * hit per request whose person is back, *@n their number.
 */
lethe_rc ledger_find(const struct datamap *dm, struct appdb *db, struct store *st,
                     const uint8_t key[HASH_KEY_LEN], struct ledger_hit **hits, size_t *n,
                     struct lethe_err *err);
void ledger_hits_free(struct ledger_hit *hits, size_t n);

#endif /* LETHE_LEDGER_H */
