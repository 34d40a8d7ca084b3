/* SPDX-License-Identifier: MIT */
/*
 * mailin.c - the state store's incoming mails (store_mailin.h): the
 * mail_in row of each mail delivered to the privacy mailbox, found again
 * by the keyed hash of its bytes (a redelivery makes nothing new), the
 * operator's queue (a keyset-paged list, closing a row), the wipe of the
 * sealed boxes once the request a mail made is finished, and the prune of
 * what mailbox.keep allows no longer.  A row holds no personal data in the
 * clear; its boxes are sealed by the service and wiped here (secure_delete
 * is on for the store's file).  One connection, one thread, as the rest of
 * the store.
 */
#include "util/fmacros.h"

#include <string.h>

#include "store/store_internal.h"

/* A failed read is LETHE_E_STATE, never "no such mail". */
#define MAILIN_READ "reading an incoming mail"

#define MAILIN_COLS                                                                                \
	"m.id, m.via, m.received_at, m.bytes, m.outcome, m.rule, m.reason, m.request_id, "         \
	"r.code, m.replied, m.state, m.raw_box IS NOT NULL, m.closed_at, m.closed_by"
#define MAILIN_FROM " FROM mail_in m LEFT JOIN requests r ON r.id = m.request_id "

/* store__row_fn: a MAILIN_COLS row into the struct store_mailin @arg. */
static void
mailin_row(struct sq_stmt *q, void *arg)
{
	struct store_mailin *m = arg;

	memset(m, 0, sizeof(*m));
	m->id = sq_col_int(q, 0);
	store__col_text(q, 1, m->via, sizeof(m->via));
	m->received_at = sq_col_int(q, 2);
	m->bytes = sq_col_int(q, 3);
	store__col_text(q, 4, m->outcome, sizeof(m->outcome));
	store__col_text(q, 5, m->rule, sizeof(m->rule));
	store__col_text(q, 6, m->reason, sizeof(m->reason));
	m->request_id = sq_col_int(q, 7);
	store__col_text(q, 8, m->code, sizeof(m->code));
	m->replied = sq_col_int(q, 9) != 0;
	store__col_text(q, 10, m->state, sizeof(m->state));
	m->raw_kept = sq_col_int(q, 11) != 0;
	m->closed_at = sq_col_int(q, 12);
	store__col_text(q, 13, m->closed_by, sizeof(m->closed_by));
}

lethe_rc
store_mailin_insert(struct store *st, const struct store_mailin_new *n, int64_t *id,
                    struct lethe_err *err)
{
	int64_t found = 0;
	lethe_rc rc;

	*id = 0;
	/* A redelivery: the caller's transaction has not written anything of it yet. */
	rc = store__one(st, err, MAILIN_READ, store__row_ints, &found,
	                "SELECT id FROM mail_in WHERE hash = ?1", "t", n->hash);
	if (rc == LETHE_OK)
		return lethe_err_set(err, LETHE_E_CONFLICT, "this mail was recorded already");
	if (rc != LETHE_E_NOTFOUND)
		return rc;
	rc = store__one(
	    st, err, "write", store__row_ints, id,
	    "INSERT INTO mail_in (hash, via, received_at, bytes, outcome, rule, reason, "
	    "request_id, replied, state, raw_box, reply_box, closed_at) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, nullif(?8, 0), ?9, ?10, ?11, ?12, CASE ?10 WHEN 'closed' THEN ?3 END) "
	    "RETURNING id",
	    "ttiitttiitbb", n->hash, n->via, n->now, n->bytes, n->outcome, n->rule, n->reason,
	    n->request_id, (int64_t)(n->replied ? 1 : 0), n->state, (const void *)n->raw_box,
	    n->raw_box != NULL ? n->raw_len : 0, (const void *)n->reply_box,
	    n->reply_box != NULL ? n->reply_len : 0);

	return rc;
}

lethe_rc
store_mailin_by_hash(struct store *st, const char *hash, struct store_mailin *out,
                     struct lethe_err *err)
{
	memset(out, 0, sizeof(*out));
	return store__one(st, err, MAILIN_READ, mailin_row, out,
	                  "SELECT " MAILIN_COLS MAILIN_FROM "WHERE m.hash = ?1", "t", hash);
}

/* What store_mailin_get() reads besides the row. */
struct mailin_boxed {
	struct store_mailin *m;
	uint8_t **raw, **reply;
	size_t *raw_len, *reply_len;
};

/* store__row_fn: MAILIN_COLS, raw_box, reply_box into the struct mailin_boxed @arg. */
static void
mailin_boxed_row(struct sq_stmt *q, void *arg)
{
	struct mailin_boxed *b = arg;

	mailin_row(q, b->m);
	if (b->raw != NULL)
		store__col_blob(q, 14, b->raw, b->raw_len);
	if (b->reply != NULL)
		store__col_blob(q, 15, b->reply, b->reply_len);
}

lethe_rc
store_mailin_get(struct store *st, int64_t id, struct store_mailin *out, uint8_t **raw,
                 size_t *raw_len, uint8_t **reply, size_t *reply_len, struct lethe_err *err)
{
	struct mailin_boxed b = {
	    .m = out, .raw = raw, .reply = reply, .raw_len = raw_len, .reply_len = reply_len};
	size_t dummy_raw = 0, dummy_reply = 0;

	memset(out, 0, sizeof(*out));
	if (raw != NULL) {
		*raw = NULL;
		if (raw_len == NULL)
			b.raw_len = &dummy_raw;
		else
			*raw_len = 0;
	}
	if (reply != NULL) {
		*reply = NULL;
		if (reply_len == NULL)
			b.reply_len = &dummy_reply;
		else
			*reply_len = 0;
	}
	return store__one(st, err, MAILIN_READ, mailin_boxed_row, &b,
	                  "SELECT " MAILIN_COLS ", m.raw_box, m.reply_box" MAILIN_FROM
	                  "WHERE m.id = ?1",
	                  "i", id);
}

lethe_rc
store_mailin_list(struct store *st, const struct store_mailin_filter *f, store_mailin_fn fn,
                  void *arg, struct lethe_err *err)
{
	struct store_mailin m;
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(st, &q, err,
	                  "SELECT " MAILIN_COLS MAILIN_FROM
	                  "WHERE (?1 IS NULL OR m.state = ?1) AND (?2 IS NULL OR m.outcome = ?2) "
	                  "AND (?3 <= 0 OR m.id < ?3) ORDER BY m.id DESC LIMIT ?4",
	                  "ttii", f->state, f->outcome, f->before_id, f->limit);
	while (store__row(st, q, &rc, err, "listing incoming mails")) {
		mailin_row(q, &m);
		fn(arg, &m);
	}
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_mailin_close(struct store *st, int64_t id, int64_t now, const char *by, const char *reason,
                   bool *applied, struct lethe_err *err)
{
	lethe_rc rc =
	    store__execf(st, err,
	                 "UPDATE mail_in SET state = 'closed', closed_at = ?2, closed_by = ?3, "
	                 "reason = coalesce(?4, reason), raw_box = NULL, reply_box = NULL "
	                 "WHERE id = ?1 AND state = 'open'",
	                 "iitt", id, now, by, reason);

	*applied = rc == LETHE_OK && sq_changes(st->c) > 0;
	return rc;
}

lethe_rc
store_mailin_request_finished(struct store *st, int64_t request_id, int64_t now,
                              struct lethe_err *err)
{
	/* Every row of the request: a repeat's row is closed already but may keep nothing. */
	return store__execf(st, err,
	                    "UPDATE mail_in SET state = 'closed', "
	                    "closed_at = CASE state WHEN 'open' THEN ?2 ELSE closed_at END, "
	                    "closed_by = CASE state WHEN 'open' THEN 'request' ELSE closed_by END, "
	                    "raw_box = NULL, reply_box = NULL "
	                    "WHERE request_id = ?1 AND (state = 'open' OR raw_box IS NOT NULL OR "
	                    "reply_box IS NOT NULL) AND EXISTS (SELECT 1 FROM requests WHERE id = "
	                    "?1 AND state IN ('completed', 'completed_with_retention', 'refused', "
	                    "'cancelled', 'failed', 'expired', 'lifted'))",
	                    "ii", request_id, now);
}

lethe_rc
store_mailin_prune(struct store *st, int64_t now, int64_t keep_s, int64_t *n, struct lethe_err *err)
{
	int64_t before = now - keep_s, changed = 0;
	bool own = false;
	lethe_rc rc;

	*n = 0;
	rc = store__tx_begin(st, &own, err);
	if (rc != LETHE_OK)
		return rc;
	/* Closed rows first: those closed now by keep stay as long as keep again. */
	rc = store__execf(st, err,
	                  "DELETE FROM mail_in WHERE state = 'closed' AND "
	                  "coalesce(closed_at, received_at) < ?1",
	                  "i", before);
	if (rc == LETHE_OK) {
		changed += sq_changes(st->c);
		rc = store__execf(
		    st, err,
		    "UPDATE mail_in SET state = 'closed', closed_at = ?2, "
		    "closed_by = 'keep', reason = 'kept mailbox.keep', raw_box = NULL, "
		    "reply_box = NULL WHERE state = 'open' AND outcome = 'unmatched' "
		    "AND received_at < ?1",
		    "ii", before, now);
	}
	if (rc == LETHE_OK)
		changed += sq_changes(st->c);
	rc = store__tx_end(st, own, rc, err);
	if (rc == LETHE_OK)
		*n = changed;
	return rc;
}
