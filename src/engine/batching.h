/* SPDX-License-Identifier: MIT */
/*
 * batching.h - what the executor (erase.c) and the sweeper (sweep.c) share
 * about running work as many short write transactions on the app database:
 * the adaptive batch size, the busy retries when opening a transaction, the
 * pauses that let the app's own writers in.  (Media objects: media_use.h.)
 *
 * One struct batching per worker; not shared between threads.
 */
#ifndef LETHE_ENGINE_BATCHING_H
#define LETHE_ENGINE_BATCHING_H

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "util/fmacros.h"
#include "util/hash.h"
#include "util/rc.h"

#define BATCHING_MIN 16
#define BATCHING_MAX 100000
#define BATCHING_START 256

/* Batch size and politeness state of one worker. */
struct batching {
	int64_t batch;       /* rows in the next batch */
	int64_t fixed;       /* fixed batch size, or 0 = adaptive */
	int max_txn_ms;      /* adaptive batches aim at 60% of this */
	int yield_ms;        /* pause after a batch while the app writes */
	bool pause_as_long;  /* while the app writes, pause at least as long as the last batch */
	double max_growth;   /* a batch is at most this many times the last (default 2) */
	int64_t last_dv;     /* app database data_version after our last commit */
	double polite_until; /* monotonic ms: keep pausing until then */
	double last_pause;   /* monotonic ms of the last pause */
	double max_ms;       /* longest transaction so far */
	int64_t txns;        /* transactions so far */
};

/* Start @b: @fixed rows per batch (0 = adaptive), aiming below @max_txn_ms. */
void batching_init(struct batching *b, int64_t fixed, int max_txn_ms, int yield_ms);
/*
 * Open a write transaction on @db, retrying with backoff while another
 * writer holds the lock (about 6 s in all).  LETHE_E_BUSY if it never frees.
 */
lethe_rc batching_begin(struct appdb *db, struct lethe_err *err);
/*
 * After a committed batch of @rows that held the write lock @ms: record the
 * transaction, adapt the batch size (only if @full: the size, not the data,
 * ended the batch), run the database's housekeeping, and pause yield_ms
 * while the app writes (and every 500 ms anyway so a waiting writer gets in).
 */
void batching_after(struct batching *b, struct appdb *db, double ms, int64_t rows, bool full);
/*
 * Decode a row key stored as a tag ("i:42", "t:abc", "r:1.5"; the state
 * store's form) into @v; text points into @tag.
 */
void batching_tag_val(const char *tag, struct appdb_val *v);
/* An owned copy of a value (text duplicated); free buf when done. */
struct batching_val {
	struct appdb_val v; /* the value; v.s points to buf */
	char *buf;          /* owned text, or NULL */
};

/* Copy @v into @o (which must not hold text: its buf is overwritten, not freed). */
void batching_val_set(struct batching_val *o, const struct appdb_val *v);
/* Equal values: NULL only equals NULL; others compare as text ("5" = 5). */
bool batching_val_equal(const struct appdb_val *a, const struct appdb_val *b);
/*
 * The value anonymizing writes over @cur: NULL (DM_ANON_NULL), @set
 * (DM_ANON_SET), or the keyed hash of @cur under @key (DM_ANON_HASH; NULL
 * stays NULL and a keyed hash is never hashed again), into @out as with
 * batching_val_set().
 */
void batching_anon_target(const uint8_t key[HASH_KEY_LEN], enum dm_anon how,
                          const struct dm_value *set, const struct appdb_val *cur,
                          struct batching_val *out);
/* Sleep @ms milliseconds (restarted after signals). */
void batching_sleep_ms(int ms);

#endif /* LETHE_ENGINE_BATCHING_H */
