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
 * (store_ledger_add()) per row of the person @ids (@nids) that the erasure
 * in @scope deletes or anonymizes, in each table with identity links (rows
 * a keep rule retains, and tables outside the scope, stay as they are and
 * are not erased people), at most LEDGER_ROWS_MAX rows per table (more are
 * logged, by count), for request @request_id.  Identity values a link's
 * 'when' conditions do not hold for are not the row's identities.  *@n (may
 * be NULL) gets the number of entries.
 */
lethe_rc ledger_collect(const struct datamap *dm, struct appdb *db, struct store *st,
                        const uint8_t key[HASH_KEY_LEN], int64_t request_id, const char *scope,
                        const struct plan_id *ids, size_t nids, int64_t now, int64_t *n,
                        struct lethe_err *err);

/*
 * The keyed hash of the key @value of a row of @table, over the
 * domain-separated input "ledger-key:" TABLE ":" VALUE, into @out
 * (HASH_TEXT_LEN + 1 bytes).
 */
void ledger_key_hash(const uint8_t key[HASH_KEY_LEN], const char *table, const char *value,
                     char *out);
/*
 * The ledger's form of identity @kind = @value: "KIND:" and the keyed hash
 * of "ledger-id:" KIND ":" VALUE, into @out (@cap bytes); false if it does
 * not fit.
 */
bool ledger_id_hash(const uint8_t key[HASH_KEY_LEN], const char *kind, const char *value, char *out,
                    size_t cap);

/* A person of the ledger found in the app database: one per request that erased them. */
struct ledger_hit {
	int64_t request_id;  /* the request that erased them */
	char scope[64];      /* its scope */
	struct plan_id *ids; /* identities read from the rows (values owned: personal data) */
	size_t nids;         /* number of them (0: none the scope accepts could be read) */
	int64_t rows;        /* rows of the app database found for them */
};

/* Rows found in one table for requests of one scope. */
struct ledger_count {
	const char *table; /* the table (the data map's name) */
	char scope[64];    /* the scope of the requests that erased them */
	int64_t rows;      /* rows found */
};

/* What ledger_find() found. */
struct ledger_found {
	struct ledger_hit *hits;     /* one per request, by request id */
	size_t nhits;                /* number of them */
	struct ledger_count *counts; /* rows per table and scope */
	size_t ncounts;              /* number of them */
	int64_t entries;             /* erased ledger entries looked for */
	int64_t scanned;             /* rows of the app database read */
};

#define LEDGER_BATCH 1000 /* rows of a table read per statement */

/*
 * Scan every table with identity links, in key order, LEDGER_BATCH rows at
 * a time, for rows of erased ledger entries: a row whose key hashes to an
 * entry's and one of whose identity values (other than the key itself)
 * hashes to one of the entry's is that person back.  Found rows are
 * grouped by the request that erased them (the lowest, if several did);
 * each group's identities are the rows' values of the kinds its scope
 * accepts, those that name a row by its key first (they cannot reach
 * another account that shares an address).  Stops with
 * LETHE_E_UNAVAILABLE between batches once *@stop (may be NULL) is
 * non-zero.  Fill @out (free with ledger_found_free(), which wipes the
 * values).  Only reads @db and @st.
 */
lethe_rc ledger_find(const struct datamap *dm, struct appdb *db, struct store *st,
                     const uint8_t key[HASH_KEY_LEN], const volatile int *stop,
                     struct ledger_found *out, struct lethe_err *err);
/* Free (wiping identity values) what ledger_find() put in @f and zero it. */
void ledger_found_free(struct ledger_found *f);

#endif /* LETHE_LEDGER_H */
