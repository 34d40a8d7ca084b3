/* SPDX-License-Identifier: MIT */
/*
 * outbox.c - channel disconnects and their outbox in the state store (see
 * store.h, docs/internals/outbox.md): the disconnect records, the upstream
 * jobs they stage, and the claims, leases and write-backs of the outbox
 * thread.  A state change of several statements runs in one savepoint.
 * Sealed boxes are wiped from memory when they are freed.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "store/store_internal.h"
#include "util/lease.h"
#include "util/mem.h"

#define DISC_COLS                                                                                  \
	"id, subject, state, source, platform, requested_at, disconnected_at, effects, "           \
	"token_mac, box, owner"

/* store__row_fn: a disconnect row (DISC_COLS) into the struct store_disc @arg. */
static void
disc_row(struct sq_stmt *q, void *arg)
{
	struct store_disc *out = arg;

	memset(out, 0, sizeof(*out));
	out->id = sq_col_int(q, 0);
	store__col_text(q, 1, out->subject, sizeof(out->subject));
	store__col_text(q, 2, out->state, sizeof(out->state));
	store__col_text(q, 3, out->source, sizeof(out->source));
	store__col_text(q, 4, out->platform, sizeof(out->platform));
	out->requested_at = sq_col_int(q, 5);
	out->disconnected_at = sq_col_int(q, 6);
	out->effects = store__col_dup(q, 7);
	store__col_text(q, 8, out->token_mac, sizeof(out->token_mac));
	store__col_blob(q, 9, &out->box, &out->boxlen);
	store__col_text(q, 10, out->owner, sizeof(out->owner));
}

void
store_disc_clear(struct store_disc *d)
{
	free(d->effects);
	if (d->box != NULL)
		sodium_memzero(d->box, d->boxlen);
	free(d->box);
	memset(d, 0, sizeof(*d));
}

lethe_rc
store_disc_add(struct store *st, const struct store_disc *d, int64_t *id, struct lethe_err *err)
{
	return store__one(
	    st, err, "write", store__row_ints, id,
	    "INSERT INTO channel_disconnects (subject, state, source, platform, "
	    "requested_at, disconnected_at, effects, token_mac, box, owner) VALUES (?1, ?2, "
	    "?3, nullif(?4, ''), ?5, nullif(?6, 0), ?7, nullif(?8, ''), ?9, nullif(?10, '')) "
	    "RETURNING id",
	    "ttttiittbt", d->subject, d->state, d->source, d->platform, d->requested_at,
	    d->disconnected_at, d->effects ? d->effects : "{}", d->token_mac, (const void *)d->box,
	    d->boxlen, d->owner);
}

lethe_rc
store_disc_find(struct store *st, const char *subject, struct store_disc *out,
                struct lethe_err *err)
{
	return store__one(st, err, "reading a disconnect", disc_row, out,
	                  "SELECT " DISC_COLS " FROM channel_disconnects WHERE subject = ?1 AND "
	                  "state != 'aborted' ORDER BY id DESC LIMIT 1",
	                  "t", subject);
}

lethe_rc
store_disc_next_staged(struct store *st, int64_t after, struct store_disc *out,
                       struct lethe_err *err)
{
	return store__one(st, err, "reading a disconnect", disc_row, out,
	                  "SELECT " DISC_COLS " FROM channel_disconnects WHERE state IN ('staged', "
	                  "'aborted') AND id > ?1 ORDER BY id LIMIT 1",
	                  "i", after);
}

/* Each change below happens whole or not at all (store__save()). */

lethe_rc
store_disc_ready(struct store *st, int64_t id, int64_t now, int64_t now_ms, struct lethe_err *err)
{
	bool own = false;
	lethe_rc rc;

	rc = store__save(st, "SAVEPOINT disc", &own, err);
	if (rc != LETHE_OK)
		return rc;
	rc = store__execf(
	    st, err,
	    "UPDATE channel_disconnects SET state = 'disconnected', disconnected_at = ?2, "
	    "token_mac = NULL, box = NULL, owner = NULL WHERE id = ?1 AND state = 'staged'",
	    "ii", id, now);
	if (rc == LETHE_OK)
		rc = store__execf(
		    st, err,
		    "UPDATE outbox SET state = 'pending', next_at = ?2, updated_at = ?2 "
		    "WHERE disconnect_id = ?1 AND state = 'staged' AND ?1 IN (SELECT id "
		    "FROM channel_disconnects WHERE state = 'disconnected')",
		    "ii", id, now_ms);
	return store__save_end(st, "RELEASE disc", "ROLLBACK TO disc", own, rc, err);
}

lethe_rc
store_disc_abort(struct store *st, int64_t id, struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    "UPDATE channel_disconnects SET state = 'aborted' WHERE id = ?1 AND state = "
	    "'staged'",
	    "i", id);
}

lethe_rc
store_disc_drop(struct store *st, int64_t id, struct lethe_err *err)
{
	bool own = false;
	lethe_rc rc;

	rc = store__save(st, "SAVEPOINT disc", &own, err);
	if (rc != LETHE_OK)
		return rc;
	rc = store__execf(st, err,
	                  "DELETE FROM outbox WHERE disconnect_id = ?1 AND ?1 IN (SELECT id FROM "
	                  "channel_disconnects WHERE state IN ('staged', 'aborted'))",
	                  "i", id);
	if (rc == LETHE_OK)
		rc = store__execf(
		    st, err,
		    "DELETE FROM channel_disconnects WHERE id = ?1 AND state IN ('staged', "
		    "'aborted')",
		    "i", id);
	return store__save_end(st, "RELEASE disc", "ROLLBACK TO disc", own, rc, err);
}

lethe_rc
store_disc_job_count(struct store *st, int64_t id, int64_t *n, struct lethe_err *err)
{
	return store__query_int(st, "counting a disconnect's jobs",
	                        "SELECT count(*) FROM outbox WHERE disconnect_id = ?1", id, n, err);
}

lethe_rc
store_outbox_unstage(struct store *st, int64_t now_ms, int64_t *n, struct lethe_err *err)
{
	bool own = false;
	lethe_rc rc;

	*n = 0;
	rc = store__save(st, "SAVEPOINT disc", &own, err);
	if (rc != LETHE_OK)
		return rc;
	rc = store__execf(
	    st, err,
	    "UPDATE outbox SET state = 'pending', next_at = ?1, updated_at = ?1 WHERE state "
	    "= 'staged' AND disconnect_id IN (SELECT id FROM channel_disconnects WHERE "
	    "state = 'disconnected')",
	    "i", now_ms);
	if (rc == LETHE_OK)
		*n += sq_changes(st->c);
	if (rc == LETHE_OK)
		rc = store__execf(
		    st, err,
		    "DELETE FROM outbox WHERE state = 'staged' AND disconnect_id NOT IN "
		    "(SELECT id FROM channel_disconnects)",
		    "");
	if (rc == LETHE_OK)
		*n += sq_changes(st->c);
	return store__save_end(st, "RELEASE disc", "ROLLBACK TO disc", own, rc, err);
}

/*
 * A revoke waits while an unsubscribe of its disconnect has not ended: the
 * revoke (Facebook: of all the person's tokens) would kill the token the
 * unsubscribe needs.
 */
#define REVOKE_WAITS                                                                               \
	"(outbox.kind = 'revoke' AND EXISTS (SELECT 1 FROM outbox u WHERE u.disconnect_id = "      \
	"outbox.disconnect_id AND u.kind = 'unsubscribe' AND u.state IN ('staged', 'pending', "    \
	"'running')))"

#define OUTBOX_COLS                                                                                \
	"id, disconnect_id, kind, platform, state, outcome, attempts, next_at, created_at, "       \
	"finished_at, http_status, reason, erase_job, box"

/* store__row_fn: an outbox row (OUTBOX_COLS) without its box into the struct store_outbox @arg. */
static void
outbox_row(struct sq_stmt *q, void *arg)
{
	struct store_outbox *out = arg;

	memset(out, 0, sizeof(*out));
	out->id = sq_col_int(q, 0);
	out->disconnect_id = sq_col_int(q, 1);
	store__col_text(q, 2, out->kind, sizeof(out->kind));
	store__col_text(q, 3, out->platform, sizeof(out->platform));
	store__col_text(q, 4, out->state, sizeof(out->state));
	store__col_text(q, 5, out->outcome, sizeof(out->outcome));
	out->attempts = sq_col_int(q, 6);
	out->next_at_ms = sq_col_int(q, 7);
	out->created_at_ms = sq_col_int(q, 8);
	out->finished_at_ms = sq_col_int(q, 9);
	out->http_status = (long)sq_col_int(q, 10);
	store__col_text(q, 11, out->reason, sizeof(out->reason));
	out->erase_job = sq_col_int(q, 12);
	out->has_box = sq_col_bytes(q, 13) > 0;
}

/* store__row_fn: outbox_row() and the sealed box. */
static void
outbox_boxed_row(struct sq_stmt *q, void *arg)
{
	struct store_outbox *out = arg;

	outbox_row(q, out);
	store__col_blob(q, 13, &out->box, &out->boxlen);
}

void
store_outbox_clear(struct store_outbox *j)
{
	if (j->box != NULL)
		sodium_memzero(j->box, j->boxlen);
	free(j->box);
	memset(j, 0, sizeof(*j));
}

lethe_rc
store_outbox_add(struct store *st, int64_t disconnect_id, const char *kind, const char *platform,
                 const char *state, int64_t now_ms, const uint8_t *box, size_t boxlen, int64_t *id,
                 struct lethe_err *err)
{
	int64_t made = 0;
	lethe_rc rc;

	rc = store__one(st, err, "write", store__row_ints, &made,
	                "INSERT INTO outbox (disconnect_id, kind, platform, state, next_at, "
	                "created_at, updated_at, box) VALUES (?1, ?2, nullif(?3, ''), ?4, ?5, ?5, "
	                "?5, ?6) RETURNING id",
	                "itttib", disconnect_id, kind, platform ? platform : "", state, now_ms,
	                (const void *)box, boxlen);
	if (rc == LETHE_OK && id != NULL)
		*id = made;
	return rc;
}

lethe_rc
store_outbox_list(struct store *st, int64_t disconnect_id, const char *state, store_outbox_fn fn,
                  void *arg, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	struct store_outbox j;
	lethe_rc rc;

	rc = store__prepf(st, &q, err,
	                  "SELECT " OUTBOX_COLS
	                  " FROM outbox WHERE (?1 = 0 OR disconnect_id = ?1) AND "
	                  "(?2 IS NULL OR state = ?2) ORDER BY id",
	                  "it", disconnect_id, state);
	while (store__row(st, q, &rc, err, "reading the outbox")) {
		outbox_row(q, &j);
		fn(arg, &j);
	}
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_outbox_get(struct store *st, int64_t id, struct store_outbox *out, struct lethe_err *err)
{
	lethe_rc rc;

	rc = store__one(st, err, "reading an outbox job", outbox_row, out,
	                "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1", "i", id);
	if (rc == LETHE_E_NOTFOUND)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no outbox job %lld", (long long)id);
	return rc;
}

/* Take job @id for @owner if it is still due (state @state, lease free or lapsed). */
static lethe_rc
outbox_take(struct store *st, int64_t id, const char *owner, int64_t now_ms, int64_t lease_ms,
            const char *holder, bool *taken, struct lethe_err *err)
{
	lethe_rc rc;

	rc = store__execf(
	    st, err,
	    "UPDATE outbox SET state = 'running', lease_owner = ?2, lease_until = ?3 + ?4, "
	    "updated_at = ?3 WHERE id = ?1 AND ((state = 'pending' AND next_at <= ?3) OR "
	    "(state = 'running' AND (lease_until < ?3 OR lease_owner = ?5)))",
	    "itiit", id, owner, now_ms, lease_ms, holder);
	*taken = rc == LETHE_OK && sq_changes(st->c) == 1;
	return rc;
}

lethe_rc
store_outbox_claim(struct store *st, int64_t disconnect_id, const char *owner, int64_t now_ms,
                   int64_t lease_ms, struct store_outbox *out, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	int64_t ids[32];
	char *holders[32];
	size_t n = 0, i;
	bool taken = false;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	/*
	 * A store several workers share (PostgreSQL): the first due job in one
	 * statement, skipping rows another worker is claiming this moment,
	 * without waiting for the write lock; the scan below then only looks
	 * for leases of dead processes of this host.
	 */
	if (store_shared(st)) {
		int64_t id = 0;

		rc = store__one(
		    st, err, "claiming an outbox job", store__row_ints, &id,
		    SQ_UNLOCKED
		    "UPDATE outbox SET state = 'running', lease_owner = ?3, "
		    "lease_until = ?2 + ?4, updated_at = ?2 WHERE id = (SELECT id FROM "
		    "outbox WHERE (?1 = 0 OR disconnect_id = ?1) AND ((state = 'pending' "
		    "AND next_at <= ?2) OR (state = 'running' AND lease_until < ?2)) AND "
		    "NOT " REVOKE_WAITS " ORDER BY next_at, id LIMIT 1 FOR UPDATE SKIP "
		    "LOCKED) RETURNING id",
		    "iiti", disconnect_id, now_ms, owner, lease_ms);
		if (rc == LETHE_OK) {
			rc =
			    store__one(st, err, "reading an outbox job", outbox_boxed_row, out,
			               "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1", "i", id);
			return rc;
		}
		if (rc != LETHE_E_NOTFOUND)
			return rc;
	}
	rc = store__prepf(
	    st, &q, err,
	    "SELECT id, lease_owner FROM outbox WHERE (?1 = 0 OR disconnect_id = ?1) AND "
	    "((state = 'pending' AND next_at <= ?2) OR state = 'running') AND "
	    "NOT " REVOKE_WAITS " ORDER BY next_at, id LIMIT 32",
	    "ii", disconnect_id, now_ms);
	while (n < 32 && store__row(st, q, &rc, err, "reading due outbox jobs")) {
		ids[n] = sq_col_int(q, 0);
		holders[n++] = store__col_dup(q, 1);
	}
	store__unprep(st, q);
	for (i = 0; rc == LETHE_OK && !taken && i < n; i++) {
		/* A running job is taken over when its lease lapsed or its process died. */
		const char *dead = holders[i] != NULL && strcmp(holders[i], owner) != 0 &&
		                           lease_owner_dead(holders[i])
		                       ? holders[i]
		                       : "";

		rc = outbox_take(st, ids[i], owner, now_ms, lease_ms, dead, &taken, err);
		if (rc == LETHE_OK && taken) {
			rc = store__one(st, err, "reading an outbox job", outbox_boxed_row, out,
			                "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1", "i",
			                ids[i]);
			if (rc == LETHE_E_NOTFOUND)
				rc = LETHE_OK;
		}
	}
	for (i = 0; i < n; i++)
		free(holders[i]);
	if (rc == LETHE_OK && !taken)
		rc = LETHE_E_NOTFOUND;
	return rc;
}

lethe_rc
store_outbox_update(struct store *st, const struct store_outbox *j, const char *owner,
                    int64_t now_ms, struct lethe_err *err)
{
	bool final = strcmp(j->state, "done") == 0 || strcmp(j->state, "dead") == 0;
	lethe_rc rc;

	/* A job that ended, either way, no longer needs its token: the box goes. */
	rc = store__execf(
	    st, err,
	    "UPDATE outbox SET state = ?2, outcome = nullif(?3, ''), attempts = ?4, "
	    "next_at = ?5, updated_at = ?6, finished_at = CASE WHEN ?7 <> 0 THEN ?6 ELSE NULL "
	    "END, http_status = nullif(?8, 0), reason = nullif(?9, ''), erase_job = "
	    "nullif(?10, 0), lease_owner = NULL, lease_until = NULL, box = CASE WHEN ?7 <> 0 "
	    "THEN NULL ELSE box END WHERE id = ?1 AND ((?11 IS NULL AND lease_owner IS "
	    "NULL AND state != 'running') OR (state = 'running' AND lease_owner = ?11))",
	    "ittiiiiitit", j->id, j->state, j->outcome, j->attempts, j->next_at_ms, now_ms,
	    (int64_t)(final ? 1 : 0), (int64_t)j->http_status, j->reason, j->erase_job, owner);
	if (rc == LETHE_OK && sq_changes(st->c) != 1)
		rc = lethe_err_set(err, LETHE_E_BUSY, "outbox job %lld was taken over",
		                   (long long)j->id);
	return rc;
}

lethe_rc
store_outbox_renew(struct store *st, int64_t id, const char *owner, int64_t now_ms,
                   int64_t lease_ms, struct lethe_err *err)
{
	lethe_rc rc;

	rc = store__execf(
	    st, err,
	    "UPDATE outbox SET lease_until = ?3 + ?4, updated_at = ?3 WHERE id = ?1 AND "
	    "state = 'running' AND lease_owner = ?2",
	    "itii", id, owner, now_ms, lease_ms);
	if (rc == LETHE_OK && sq_changes(st->c) != 1)
		rc = lethe_err_set(err, LETHE_E_BUSY, "outbox job %lld was taken over",
		                   (long long)id);
	return rc;
}

lethe_rc
store_outbox_set_erase_job(struct store *st, int64_t id, int64_t erase_job, struct lethe_err *err)
{
	return store__execf(st, err, "UPDATE outbox SET erase_job = ?2 WHERE id = ?1", "ii", id,
	                    erase_job);
}

lethe_rc
store_outbox_counts(struct store *st, store_outbox_count_fn fn, void *arg, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(
	    st, &q, err,
	    "SELECT kind, state, count(*) FROM outbox GROUP BY kind, state ORDER BY 1, 2", "");
	while (store__row(st, q, &rc, err, "counting outbox jobs"))
		fn(arg, sq_col_text(q, 0), sq_col_text(q, 1), sq_col_int(q, 2));
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_outbox_next_due(struct store *st, int64_t *next_ms, struct lethe_err *err)
{
	lethe_rc rc;

	*next_ms = 0;
	rc = store__one(st, err, "reading the outbox", store__row_ints, next_ms,
	                "SELECT min(CASE WHEN state = 'running' THEN lease_until ELSE next_at END) "
	                "FROM outbox WHERE state IN ('pending', 'running') AND NOT " REVOKE_WAITS,
	                "");
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}
