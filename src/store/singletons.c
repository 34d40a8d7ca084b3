/* SPDX-License-Identifier: MIT */
/*
 * singletons.c - work that one worker of a store does at a time, under a
 * lease in the singletons table (see store.h, store_singleton_take()).
 *
 * Several lethe serve processes, on one host or many, may share a store
 * (PostgreSQL).  The sweeper, the proof checkpoints and the ledger's work
 * must not run in two of them at once: each names its work ("sweep",
 * "proof", ...) and takes the row of that name for its owner text
 * (util/lease.h) until a time it renews while it works.  A lease is taken
 * over when it lapsed, or at once when its holder is a process of this
 * host that no longer exists; a live holder elsewhere is never robbed.
 * The row is small and written in a transaction of its own (no session
 * state: safe behind a pooler in transaction mode).  store_item_take()
 * uses the same rows ("request:ID", "export:ID") for the items of a queue
 * that several workers of a shared store read, around the steps that no
 * lease of the item's own covers.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"
#include "util/lease.h"
#include "util/timeutil.h"

lethe_rc
store_singleton_take(struct store *st, const char *name, const char *owner, int64_t now_ms,
                     int64_t lease_ms, bool *held, struct lethe_err *err)
{
	char *holder = NULL;
	lethe_rc rc;

	*held = false;
	rc = store__execf(st, err,
	                  "INSERT INTO singletons (name, owner, until_ms) VALUES (?1, ?2, ?3 + ?4) "
	                  "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
	                  "until_ms = excluded.until_ms WHERE singletons.owner = excluded.owner "
	                  "OR singletons.until_ms < ?3",
	                  "ttii", name, owner, now_ms, lease_ms);
	if (rc != LETHE_OK)
		return rc;
	if (sq_changes(st->c) > 0) {
		*held = true;
		return LETHE_OK;
	}
	/* Held by another: taken over at once if that process of this host is gone. */
	rc = store__one(st, err, "reading a singleton's lease", store__row_dup, &holder,
	                "SELECT owner FROM singletons WHERE name = ?1", "t", name);
	if (rc == LETHE_E_NOTFOUND)
		rc = LETHE_OK;
	if (rc == LETHE_OK && holder != NULL && lease_owner_dead(holder)) {
		rc = store__execf(st, err,
		                  "UPDATE singletons SET owner = ?2, until_ms = ?3 + ?4 "
		                  "WHERE name = ?1 AND owner = ?5",
		                  "ttiit", name, owner, now_ms, lease_ms, holder);
		*held = rc == LETHE_OK && sq_changes(st->c) > 0;
	}
	free(holder);
	return rc;
}

lethe_rc
store_singleton_release(struct store *st, const char *name, const char *owner,
                        struct lethe_err *err)
{
	return store__execf(st, err, "DELETE FROM singletons WHERE name = ?1 AND owner = ?2", "tt",
	                    name, owner);
}

bool
store_shared(const struct store *st)
{
	return sq_kind(st->c) == SQ_PG;
}

lethe_rc
store_item_take(struct store *st, const char *kind, int64_t id, const char *owner, int64_t lease_ms,
                bool *held, struct lethe_err *err)
{
	char name[64];

	*held = true;
	if (!store_shared(st))
		return LETHE_OK;
	snprintf(name, sizeof(name), "%s:%lld", kind, (long long)id);
	return store_singleton_take(st, name, owner, time_now() * 1000, lease_ms, held, err);
}

lethe_rc
store_item_release(struct store *st, const char *kind, int64_t id, const char *owner,
                   struct lethe_err *err)
{
	char name[64];

	if (!store_shared(st))
		return LETHE_OK;
	snprintf(name, sizeof(name), "%s:%lld", kind, (long long)id);
	return store_singleton_release(st, name, owner, err);
}
