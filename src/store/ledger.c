/* SPDX-License-Identifier: MIT */
/*
 * ledger.c - the ledger of erased people in the state store (see store.h,
 * engine/ledger.h): one row per app-database row a request erased, as the
 * keyed hash of its key and the keyed hashes of its identity values, never
 * a value.  Entries are pending while their request runs and become erased
 * in the request's completion transaction ('unmatched' once a restore
 * found them but could not erase them again: never looked for again).
 * restore_epoch: the counter the app database's restore marker follows.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"
#include "util/buf.h"

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
store_ledger_lookup(struct store *st, const char *table, const char *const *key_hashes, size_t n,
                    store_ledger_fn fn, void *arg, struct lethe_err *err)
{
	static const char head[] = "SELECT key_hash, ids, scope, request_id FROM ledger "
	                           "WHERE tbl = ?1 AND state = 'erased'";
	struct sq_stmt *q = NULL;
	struct buf sql;
	lethe_rc rc = LETHE_OK;
	size_t i;
	enum sq_step r = SQ_DONE;

	if (key_hashes != NULL && n == 0)
		return LETHE_OK;
	if (n > 1000)
		return lethe_err_set(err, LETHE_E_INTERNAL, "ledger: %zu keys in one lookup", n);
	/* Built, not cached: the number of keys varies (the primary key covers the IN). */
	buf_init(&sql, 16384);
	buf_adds(&sql, head);
	if (key_hashes != NULL) {
		buf_adds(&sql, " AND key_hash IN (");
		for (i = 0; i < n; i++)
			buf_addf(&sql, "%s?%zu", i > 0 ? "," : "", i + 2);
		buf_adds(&sql, ")");
	}
	if (buf_adds(&sql, " ORDER BY key_hash, request_id") != LETHE_OK ||
	    sq_prepare(st->c, buf_str(&sql), &q, NULL) != LETHE_OK) {
		rc = lethe_err_set(err, LETHE_E_STATE, "reading the ledger: %s", sq_errmsg(st->c));
		goto out;
	}
	sq_bind_text(q, 1, table, true);
	for (i = 0; key_hashes != NULL && i < n; i++)
		sq_bind_text(q, (int)i + 2, key_hashes[i], true);
	while ((r = sq_step(q)) == SQ_ROW) {
		const char *kh = sq_col_text(q, 0);
		const char *ids = sq_col_text(q, 1);
		const char *scope = sq_col_text(q, 2);

		fn(arg, kh != NULL ? kh : "", ids != NULL ? ids : "[]", scope != NULL ? scope : "",
		   sq_col_int(q, 3));
	}
	if (r != SQ_DONE)
		rc = lethe_err_set(err, LETHE_E_STATE, "reading the ledger: %s", sq_errmsg(st->c));
out:
	sq_finalize(q);
	buf_free(&sql);
	return rc;
}

lethe_rc
store_ledger_unmatched(struct store *st, int64_t request_id, struct lethe_err *err)
{
	return store__execf(st, err,
	                    "UPDATE ledger SET state = 'unmatched' "
	                    "WHERE request_id = ?1 AND state = 'erased'",
	                    "i", request_id);
}

lethe_rc
store_ledger_count(struct store *st, const char *table, int64_t *n, struct lethe_err *err)
{
	int64_t v[1] = {0};
	lethe_rc rc;

	if (table != NULL)
		rc = store__one(st, err, "counting the ledger", store__row_ints, v,
		                "SELECT count(*) FROM ledger WHERE tbl = ?1 AND state = 'erased'",
		                "t", table);
	else
		rc = store__one(st, err, "counting the ledger", store__row_ints, v,
		                "SELECT count(*) FROM ledger WHERE state = 'erased'", "");
	*n = v[0];
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

lethe_rc
store_restore_epoch(struct store *st, bool bump, int64_t raise, int64_t *epoch,
                    struct lethe_err *err)
{
	int64_t v[1] = {0};
	lethe_rc rc = LETHE_OK;

	if (bump)
		rc = store__execf(st, err,
		                  "INSERT INTO restore_epoch (id, epoch) VALUES (1, 1) "
		                  "ON CONFLICT (id) DO UPDATE SET epoch = restore_epoch.epoch + 1",
		                  "");
	if (rc == LETHE_OK && raise > 0)
		rc = store__execf(
		    st, err,
		    SQ2(st->c,
		        "INSERT INTO restore_epoch (id, epoch) VALUES (1, ?1) ON "
		        "CONFLICT (id) DO UPDATE SET epoch = max(restore_epoch.epoch, ?1)",
		        "INSERT INTO restore_epoch (id, epoch) VALUES (1, ?1) ON "
		        "CONFLICT (id) DO UPDATE SET epoch = "
		        "GREATEST(restore_epoch.epoch, ?1)"),
		    "i", raise);
	if (rc == LETHE_OK)
		rc = store__one(st, err, "reading the restore epoch", store__row_ints, v,
		                "SELECT epoch FROM restore_epoch WHERE id = 1", "");
	*epoch = v[0];
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}
