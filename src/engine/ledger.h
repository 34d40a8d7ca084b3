/* SPDX-License-Identifier: MIT */
/*
 * ledger.h - the ledger of erased people, as keyed hashes only, and finding
 * them again in an app database restored from a backup (docs/proof.md).
 *
 * Before an erasure, each row of a table with identity links that belongs
 * to the person gives one entry: the keyed hash of the row's key and the
 * keyed hashes of its identity columns' values (the person's own only).
 * After a restore, a row whose key hash is an erased entry's and one of
 * whose identity values hashes to one of the entry's is that person back.
 * Only reads the app database.
 */
#ifndef LETHE_LEDGER_H
#define LETHE_LEDGER_H

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/plan.h"
#include "store/store.h"
#include "util/hash.h"

#define LEDGER_ROWS_MAX 10000 /* rows per table a request's entries cover */
#define LEDGER_BATCH 1000     /* rows of a table read, or entries written, per statement */

/* One entry collected before an erasure: a row of the person. */
struct ledger_entry {
	const char *table;                /* the data map's name (borrowed from the map) */
	char key_hash[HASH_TEXT_LEN + 1]; /* ledger_key_hash() of the row's key */
	char *ids;                        /* JSON array of ledger_id_hash()es (owned) */
};

/* What ledger_collect() read: at most LEDGER_ROWS_MAX entries per table. */
struct ledger_entries {
	struct ledger_entry *e; /* the entries */
	size_t n, cap;          /* number of them, capacity */
};

/*
 * Read, into @out (free with ledger_entries_free()), one entry per row of
 * the person @ids (@nids) that the erasure in @scope deletes or anonymizes,
 * in each table with identity links (rows a keep rule retains, and tables
 * outside the scope, stay as they are and are not erased people), at most
 * LEDGER_ROWS_MAX rows per table (more are logged, by count).  An entry's
 * ids are the row's identity values, except in a relation table (one
 * identity kind linked through more than one column: inviter_email,
 * invitee_email), where only the values that are one of @ids are
 * recorded: the others name other people.  Identity values a link's
 * 'when' conditions do not hold for are not the row's identities.  Only
 * reads @db.
 */
lethe_rc ledger_collect(const struct datamap *dm, struct appdb *db, const uint8_t key[HASH_KEY_LEN],
                        const char *scope, const struct plan_id *ids, size_t nids,
                        struct ledger_entries *out, struct lethe_err *err);
/*
 * Write @in to the store as pending entries of request @request_id in
 * @scope (store_ledger_add()), LEDGER_BATCH per state-store transaction of
 * its own (the write lock is held for a few milliseconds at a time).
 */
lethe_rc ledger_record(struct store *st, const struct ledger_entries *in, const char *scope,
                       int64_t request_id, int64_t now, struct lethe_err *err);
/* Free what ledger_collect() put in @l and zero it. */
void ledger_entries_free(struct ledger_entries *l);

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

/*
 * Scan every table with identity links, in key order, LEDGER_BATCH rows at
 * a time, for rows of erased ledger entries (looked up in @st for each
 * batch's keys): a row whose key hashes to an entry's and one of whose
 * identity values (other than the key itself) hashes to one of the
 * entry's is that person back; an entry with no identity but its key's
 * never matches.  Found rows are grouped by the request that erased them
 * (the lowest, if several did); each group's identities are the rows'
 * values of the kinds its scope accepts whose hash is in the entry's set
 * (never another person's column of the row), those that name a row by
 * its key first (they cannot reach another account that shares an
 * address).  Stops with
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
