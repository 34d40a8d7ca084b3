/* SPDX-License-Identifier: MIT */
/*
 * repeats.h - which (app, subject) pairs already have a Meta request within
 * the repeat window: the index that makes a repeat get the same code.
 *
 * It is a cache, not a record: the truth is the state store's
 * meta_requests, and repeats_open() rebuilds the index from the requests
 * received since a given time.  It lives in a private temporary SQLite
 * database (bounded page cache, spilling to an unlinked temp file), so it
 * costs no fsync and no write to the state store: an index on a keyed
 * hash puts every insert on a random page, and in the state store that was
 * one more 4 KB WAL frame to write and fsync per request.  Not thread-safe:
 * one owner (the intake's committer, or the import command).
 */
#ifndef LETHE_META_REPEATS_H
#define LETHE_META_REPEATS_H

#include "meta/requests.h"
#include "store/store.h"
#include "util/hash.h"

struct repeats;

/* Build the index from every request of @st received at or after @since. */
lethe_rc repeats_open(struct store *st, int64_t since, struct repeats **out, struct lethe_err *err);
void repeats_free(struct repeats *rp);
/* The code of the newest request of (@app, @subject) received at or after @since. */
lethe_rc repeats_find(struct repeats *rp, const char *app, const char *subject, int64_t since,
                      char code[META_CODE_LEN + 1], struct lethe_err *err);
/*
 * Record a request.  Adds are grouped until repeats_commit().  If the
 * state-store transaction that created them fails, call repeats_abandon()
 * and then rebuild: the index cannot forget adds (it has no journal, which
 * made adds 50% dearer), and the store is the truth.
 */
lethe_rc repeats_add(struct repeats *rp, const char *app, const char *subject, const char *code,
                     int64_t received_at, struct lethe_err *err);
lethe_rc repeats_commit(struct repeats *rp, struct lethe_err *err);
void repeats_abandon(struct repeats *rp);
/* Forget requests received before @before (they can no longer be repeated); a no-op while adds are
 * tentative. */
lethe_rc repeats_expire(struct repeats *rp, int64_t before, struct lethe_err *err);

#endif /* LETHE_META_REPEATS_H */
