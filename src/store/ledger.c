/* SPDX-License-Identifier: MIT */
/*
 * ledger.c - the ledger of erased people in the state store (see store.h,
 * engine/ledger.h): one row per app-database row a request erased, as the
 * keyed hash of its key and the keyed hashes of its identity values, never
 * a value.  Entries are pending while their request runs and become erased
 * in the request's completion transaction; those of a request that ends
 * without erasing are dropped.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"

lethe_rc
store_ledger_add(struct store *st, const char *table, const char *key_hash, const char *ids_json,
                 const char *scope, int64_t request_id, int64_t now, struct lethe_err *err)
{
	/*
	 * A re-run of the request replaces its entry; a row an earlier run of
	 * it already erased stays erased (a failed re-run must not forget it).
	 */
	return store__execf(st, err,
	                    "INSERT INTO ledger (tbl, key_hash, ids, scope, request_id, state, at) "
	                    "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6) "
	                    "ON CONFLICT (tbl, key_hash, request_id) DO UPDATE SET "
	                    "ids = excluded.ids, scope = excluded.scope, at = excluded.at",
	                    "ttttii", table, key_hash, ids_json, scope, request_id, now);
}

lethe_rc
store_ledger_finish(struct store *st, int64_t request_id, bool erased, struct lethe_err *err)
{
	if (erased)
		return store__execf(st, err,
		                    "UPDATE ledger SET state = 'erased' "
		                    "WHERE request_id = ?1 AND state = 'pending'",
		                    "i", request_id);
	return store__execf(st, err,
	                    "DELETE FROM ledger WHERE request_id = ?1 AND state = 'pending'", "i",
	                    request_id);
}

lethe_rc
store_ledger_erased(struct store *st, const char *table, store_ledger_fn fn, void *arg,
                    struct lethe_err *err)
{
	sqlite3_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(st, &q, err,
	                  "SELECT key_hash, ids, scope, request_id FROM ledger "
	                  "WHERE tbl = ?1 AND state = 'erased' ORDER BY key_hash, request_id",
	                  "t", table);
	while (store__row(st, q, &rc, err, "reading the ledger")) {
		const char *kh = (const char *)sqlite3_column_text(q, 0);
		const char *ids = (const char *)sqlite3_column_text(q, 1);
		const char *scope = (const char *)sqlite3_column_text(q, 2);

		fn(arg, kh != NULL ? kh : "", ids != NULL ? ids : "[]", scope != NULL ? scope : "",
		   sqlite3_column_int64(q, 3));
	}
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_ledger_count(struct store *st, int64_t *n, struct lethe_err *err)
{
	int64_t v[1] = {0};
	lethe_rc rc;

	rc = store__one(st, err, "counting the ledger", store__row_ints, v,
	                "SELECT count(*) FROM ledger WHERE state = 'erased'", "");
	*n = v[0];
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}
