/* SPDX-License-Identifier: MIT */
/*
 * links.c - mailed links in the state store (see store.h): a link is known
 * only by the keyed hash of its token (the token itself exists only in
 * the mail), with the request it acts on, what it does and until when.
 * Using one is a single conditional update, so of two uses exactly one
 * applies.  One connection, one thread, as the rest of the store.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"

lethe_rc
store_link_add(struct store *st, const char *hash, int64_t request_id, const char *purpose,
               int64_t now, int64_t expires_at, struct lethe_err *err)
{
	return store__execf(st, err,
	                    "INSERT INTO links (hash, request_id, purpose, created_at, expires_at) "
	                    "VALUES (?1, ?2, ?3, ?4, ?5)",
	                    "titii", hash, request_id, purpose, now, expires_at);
}

/* store__row_fn: a link row into the struct store_link @arg. */
static void
link_row(struct sq_stmt *q, void *arg)
{
	struct store_link *l = arg;

	memset(l, 0, sizeof(*l));
	l->request_id = sq_col_int(q, 0);
	store__col_text(q, 1, l->purpose, sizeof(l->purpose));
	l->created_at = sq_col_int(q, 2);
	l->expires_at = sq_col_int(q, 3);
	l->used_at = sq_col_int(q, 4);
}

lethe_rc
store_link_get(struct store *st, const char *hash, struct store_link *out, struct lethe_err *err)
{
	return store__one(
	    st, err, "reading a link", link_row, out,
	    "SELECT request_id, purpose, created_at, expires_at, coalesce(used_at, 0) "
	    "FROM links WHERE hash = ?1",
	    "t", hash);
}

lethe_rc
store_link_use(struct store *st, const char *hash, int64_t now, bool *applied,
               struct lethe_err *err)
{
	lethe_rc rc;

	*applied = false;
	rc = store__execf(st, err,
	                  "UPDATE links SET used_at = ?2 WHERE hash = ?1 AND used_at IS NULL AND "
	                  "expires_at > ?2",
	                  "ti", hash, now);
	if (rc == LETHE_OK)
		*applied = sq_changes(st->c) == 1;
	return rc;
}

lethe_rc
store_link_purge(struct store *st, int64_t before, int64_t *n, struct lethe_err *err)
{
	lethe_rc rc;

	*n = 0;
	rc = store__execf(st, err, "DELETE FROM links WHERE expires_at < ?1", "i", before);
	if (rc == LETHE_OK)
		*n = sq_changes(st->c);
	return rc;
}
