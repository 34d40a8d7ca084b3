/* SPDX-License-Identifier: MIT */
/*
 * rate.c - what the self-service page keeps in the state store (see
 * store.h): its rate limits, one fixed window per keyed hash of an
 * address or a client (table rate_hits), and the new expiry of a request
 * whose confirmation link is mailed again (never earlier than it was).
 *
 * A hit is one conditional upsert: a new window starts when the key is
 * unknown or its window ended, else the count grows while it is under the
 * limit; a refused hit changes nothing.  The keys are keyed hashes, never
 * an address or an IP address in the clear.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"

lethe_rc
store_rate_hit(struct store *st, const char *key, int64_t window_s, int64_t limit, int64_t now,
               bool *allowed, struct lethe_err *err)
{
	lethe_rc rc;

	*allowed = false;
	/*
	 * In SET and WHERE, rate_hits.window_start and rate_hits.n are the
	 * row's values before the update (named with the table: PostgreSQL
	 * finds a bare name ambiguous with excluded's).
	 */
	rc = store__execf(st, err,
	                  "INSERT INTO rate_hits (key, window_start, n) VALUES (?1, ?2, 1) "
	                  "ON CONFLICT (key) DO UPDATE SET "
	                  "n = CASE WHEN rate_hits.window_start + ?3 <= ?2 THEN 1 "
	                  "ELSE rate_hits.n + 1 END, "
	                  "window_start = CASE WHEN rate_hits.window_start + ?3 <= ?2 THEN ?2 "
	                  "ELSE rate_hits.window_start END "
	                  "WHERE rate_hits.window_start + ?3 <= ?2 OR rate_hits.n < ?4",
	                  "tiii", key, now, window_s, limit);
	if (rc == LETHE_OK)
		*allowed = sq_changes(st->c) > 0;
	return rc;
}

lethe_rc
store_rate_purge(struct store *st, int64_t before, struct lethe_err *err)
{
	return store__execf(st, err, "DELETE FROM rate_hits WHERE window_start < ?1", "i", before);
}

lethe_rc
store_request_renew(struct store *st, int64_t id, int64_t expires_at, bool *applied,
                    struct lethe_err *err)
{
	lethe_rc rc =
	    store__execf(st, err,
	                 SQ2(st->c,
	                     "UPDATE requests SET expires_at = MAX(COALESCE(expires_at, 0), ?2) "
	                     "WHERE id = ?1 AND state = 'awaiting_verification'",
	                     "UPDATE requests SET expires_at = GREATEST(COALESCE(expires_at, 0), "
	                     "?2) WHERE id = ?1 AND state = 'awaiting_verification'"),
	                 "ii", id, expires_at);

	*applied = rc == LETHE_OK && sq_changes(st->c) > 0;
	return rc;
}
