/* SPDX-License-Identifier: MIT */
/*
 * mail.c - the durable mail outbox in the state store (see store.h, the
 * mail section, and docs/internals/mail.md): queueing a notice about a
 * request (here, and from the request transitions in requests.c and
 * meta.c, in their transaction), the mailer's claim under a lease, its
 * retry and its end (sent, dead, skipped), and what /metrics, `lethe jobs`,
 * a request's JSON and its status page read.
 *
 * A mail row copies the request's sealed notification address (to_box)
 * when it is queued, so the request may wipe its own box at once; the
 * row's copy is wiped (secure_delete overwrites it in the file) as soon as
 * the mail is sent, dead or skipped (all mail still to go is skipped while
 * mail is off).  No address is ever stored in the clear.  Like the rest of
 * the store: one connection, one thread.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"
#include "util/lease.h"
#include "util/mem.h"

/*
 * A mail row with its request's code (a LEFT JOIN: the code is "" if the
 * request is gone, or for a reply about no request: request_id 0).
 */
#define MAIL_COLS                                                                                  \
	"m.id, m.request_id, coalesce(r.code, ''), m.notice, m.state, m.attempts, m.next_at, "     \
	"m.created_at, coalesce(m.done_at, 0), coalesce(m.last_error, ''), "                       \
	"coalesce(m.mail_in_id, 0)"
#define MAIL_FROM " FROM mail m LEFT JOIN requests r ON r.id = m.request_id AND m.request_id > 0 "
#define MAIL_NCOLS 11

/* store__row_fn: a MAIL_COLS row into the struct store_mail @arg. */
static void
mail_row(struct sq_stmt *q, void *arg)
{
	struct store_mail *m = arg;

	memset(m, 0, sizeof(*m));
	m->id = sq_col_int(q, 0);
	m->request_id = sq_col_int(q, 1);
	store__col_text(q, 2, m->code, sizeof(m->code));
	store__col_text(q, 3, m->notice, sizeof(m->notice));
	store__col_text(q, 4, m->state, sizeof(m->state));
	m->attempts = sq_col_int(q, 5);
	m->next_at = sq_col_int(q, 6);
	m->created_at = sq_col_int(q, 7);
	m->done_at = sq_col_int(q, 8);
	store__col_text(q, 9, m->last_error, sizeof(m->last_error));
	m->mail_in_id = sq_col_int(q, 10);
}

/* A claimed mail and its sealed recipient, for store__one(). */
struct mail_boxed {
	struct store_mail *m; /* the mail */
	uint8_t **box;        /* its to_box (NULL once wiped) */
	size_t *boxlen;       /* its length */
};

static void
mail_boxed_row(struct sq_stmt *q, void *arg)
{
	struct mail_boxed *b = arg;

	mail_row(q, b->m);
	store__col_blob(q, MAIL_NCOLS, b->box, b->boxlen);
}

lethe_rc
store_mail_add(struct store *st, int64_t id, const char *notice, int64_t now, bool *queued,
               struct lethe_err *err)
{
	lethe_rc rc;

	if (queued != NULL)
		*queued = false;
	/*
	 * Due at once (next_at 0: due whatever the clock, and in the order
	 * queued).  Only a request with an address gets mail; the box is copied.
	 * A restriction gets only its awaiting_verification (the link that
	 * confirms it, worded for a restriction): every other notice tells of
	 * an erasure, and an address confirmed for it would get no news.
	 */
	rc = store__execf(st, err,
	                  "INSERT INTO mail (request_id, notice, state, to_box, next_at, "
	                  "created_at) SELECT id, ?2, 'pending', notify_box, 0, ?3 FROM requests "
	                  "WHERE id = ?1 AND notify_kind <> 0 AND length(notify_box) > 0 "
	                  "AND (kind <> 'restriction' OR ?2 = 'awaiting_verification')",
	                  "iti", id, notice, now);
	if (rc == LETHE_OK && queued != NULL)
		*queued = sq_changes(st->c) > 0;
	return rc;
}

lethe_rc
store_mail_add_reply(struct store *st, int64_t mail_in_id, int64_t request_id, const char *notice,
                     const uint8_t *to_box, size_t to_len, int64_t now, struct lethe_err *err)
{
	if (mail_in_id <= 0 || to_box == NULL || to_len == 0 || notice == NULL)
		return lethe_err_set(err, LETHE_E_INTERNAL,
		                     "a reply needs its incoming mail, a notice and a recipient");
	/* Due at once, like a notice; the box is the caller's (wiped from the row once done). */
	return store__execf(st, err,
	                    "INSERT INTO mail (request_id, notice, state, to_box, next_at, "
	                    "created_at, mail_in_id) VALUES (?1, ?2, 'pending', ?3, 0, ?4, ?5)",
	                    "itbii", request_id > 0 ? request_id : (int64_t)0, notice, to_box,
	                    to_len, now, mail_in_id);
}

/* The states (and the "extended" event) whose entry a request's transition tells of. */
static const char *const state_notices[] = {
    "awaiting_verification",
    "scheduled",
    "completed",
    "completed_with_retention",
    "refused",
    "cancelled",
    "failed",
    "extended",
};

const char *
store_mail_state_notice(const char *state)
{
	size_t i;

	for (i = 0; state != NULL && i < sizeof(state_notices) / sizeof(state_notices[0]); i++)
		if (strcmp(state, state_notices[i]) == 0)
			return state_notices[i];
	return NULL;
}

lethe_rc
store__mail_state(struct store *st, int64_t id, const char *state, int64_t now,
                  struct lethe_err *err)
{
	const char *notice = store_mail_state_notice(state);

	return notice != NULL ? store_mail_add(st, id, notice, now, NULL, err) : LETHE_OK;
}

/* Take mail @id for @owner if it is still due (pending and due, or its lease lapsed or dead). */
static lethe_rc
mail_take(struct store *st, int64_t id, const char *owner, int64_t now_ms, int64_t lease_ms,
          const char *dead, bool *taken, struct lethe_err *err)
{
	lethe_rc rc;

	rc = store__execf(
	    st, err,
	    "UPDATE mail SET state = 'sending', owner = ?2, next_at = ?3 + ?4, "
	    "attempts = attempts + 1 WHERE id = ?1 AND ((state = 'pending' AND next_at <= ?3) "
	    "OR (state = 'sending' AND (next_at < ?3 OR owner = ?5)))",
	    "itiit", id, owner, now_ms, lease_ms, dead);
	*taken = rc == LETHE_OK && sq_changes(st->c) == 1;
	return rc;
}

#define MAIL_CLAIM_SCAN 16 /* candidates looked at per claim */

lethe_rc
store_mail_claim(struct store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
                 struct store_mail *out, uint8_t **box, size_t *boxlen, struct lethe_err *err)
{
	struct mail_boxed b = {.m = out, .box = box, .boxlen = boxlen};
	struct sq_stmt *q = NULL;
	int64_t ids[MAIL_CLAIM_SCAN];
	char *holders[MAIL_CLAIM_SCAN];
	size_t n = 0, i;
	bool taken = false;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	*box = NULL;
	*boxlen = 0;
	/*
	 * A store several workers share (PostgreSQL): the first due mail in one
	 * statement, skipping rows another worker is claiming this moment, and
	 * without waiting for the write lock; the scan below then only looks
	 * for leases of dead processes of this host.
	 */
	if (store_shared(st)) {
		int64_t id = 0;

		rc =
		    store__one(st, err, "claiming a mail", store__row_ints, &id,
		               SQ_UNLOCKED
		               "UPDATE mail SET state = 'sending', owner = ?2, next_at = ?1 + ?3, "
		               "attempts = attempts + 1 WHERE id = (SELECT id FROM mail WHERE "
		               "(state = 'pending' AND next_at <= ?1) OR (state = 'sending' AND "
		               "next_at < ?1) ORDER BY next_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
		               "RETURNING id",
		               "iti", now_ms, owner, lease_ms);
		if (rc == LETHE_OK) {
			rc = store__one(
			    st, err, "reading a mail", mail_boxed_row, &b,
			    "SELECT " MAIL_COLS ", m.to_box" MAIL_FROM "WHERE m.id = ?1", "i", id);
			return rc == LETHE_E_NOTFOUND
			           ? lethe_err_set(err, LETHE_E_STATE, "a claimed mail vanished")
			           : rc;
		}
		if (rc != LETHE_E_NOTFOUND)
			return rc;
	}
	/* The due ones first; a sending one is a candidate if its lease lapsed or may be dead. */
	rc = store__prepf(st, &q, err,
	                  "SELECT id, owner FROM mail WHERE state IN ('pending', 'sending') AND "
	                  "(next_at <= ?1 OR state = 'sending') ORDER BY next_at, id LIMIT 16",
	                  "i", now_ms);
	while (n < MAIL_CLAIM_SCAN && store__row(st, q, &rc, err, "reading due mail")) {
		ids[n] = sq_col_int(q, 0);
		holders[n++] = store__col_dup(q, 1);
	}
	store__unprep(st, q);
	for (i = 0; rc == LETHE_OK && !taken && i < n; i++) {
		/* A sending mail whose process on this host died is taken over at once. */
		const char *dead = holders[i] != NULL && strcmp(holders[i], owner) != 0 &&
		                           lease_owner_dead(holders[i])
		                       ? holders[i]
		                       : "";

		rc = mail_take(st, ids[i], owner, now_ms, lease_ms, dead, &taken, err);
		if (rc == LETHE_OK && taken) {
			rc =
			    store__one(st, err, "reading a mail", mail_boxed_row, &b,
			               "SELECT " MAIL_COLS ", m.to_box" MAIL_FROM "WHERE m.id = ?1",
			               "i", ids[i]);
			if (rc == LETHE_E_NOTFOUND)
				rc = lethe_err_set(err, LETHE_E_STATE, "a claimed mail vanished");
		}
	}
	for (i = 0; i < n; i++)
		free(holders[i]);
	if (rc == LETHE_OK && !taken)
		rc = LETHE_E_NOTFOUND;
	return rc;
}

lethe_rc
store_mail_finish(struct store *st, int64_t id, const char *owner, const char *state,
                  const char *why, int64_t now, bool *applied, struct lethe_err *err)
{
	bool own = false;
	lethe_rc rc;

	if (applied != NULL)
		*applied = false;
	if (strcmp(state, "sent") != 0 && strcmp(state, "dead") != 0 &&
	    strcmp(state, "skipped") != 0)
		return lethe_err_set(err, LETHE_E_INTERNAL, "mail %lld cannot end as '%s'",
		                     (long long)id, state);
	/* The end and the reply box's wipe: both or neither (a savepoint nests). */
	rc = store__save(st, "SAVEPOINT mail_finish", &own, err);
	if (rc != LETHE_OK)
		return rc;
	/* Done either way: the recipient goes (secure_delete zeroes it in the file). */
	rc = store__execf(st, err,
	                  "UPDATE mail SET state = ?3, last_error = coalesce(?4, last_error), "
	                  "done_at = ?5, to_box = NULL, owner = NULL WHERE id = ?1 AND "
	                  "state = 'sending' AND owner = ?2",
	                  "ittti", id, owner, state, why, now);
	if (rc == LETHE_OK && applied != NULL)
		*applied = sq_changes(st->c) == 1;
	/* A reply's headers (the sender's subject, Message-ID) served it: they go too. */
	if (rc == LETHE_OK && sq_changes(st->c) == 1)
		rc = store__execf(
		    st, err,
		    "UPDATE mail_in SET reply_box = NULL WHERE reply_box IS NOT NULL AND "
		    "id = (SELECT mail_in_id FROM mail WHERE id = ?1)",
		    "i", id);
	return store__save_end(st, "RELEASE mail_finish", "ROLLBACK TO mail_finish", own, rc, err);
}

lethe_rc
store_mail_retry(struct store *st, int64_t id, const char *owner, int64_t next_ms, const char *why,
                 struct lethe_err *err)
{
	lethe_rc rc;

	rc = store__execf(st, err,
	                  "UPDATE mail SET state = 'pending', next_at = ?3, owner = NULL, "
	                  "last_error = ?4 WHERE id = ?1 AND state = 'sending' AND owner = ?2",
	                  "itit", id, owner, next_ms, why);
	if (rc == LETHE_OK && sq_changes(st->c) != 1)
		rc = lethe_err_set(err, LETHE_E_BUSY, "mail %lld was taken over", (long long)id);
	return rc;
}

lethe_rc
store_mail_skip_all(struct store *st, const char *why, int64_t now, int64_t *n,
                    struct lethe_err *err)
{
	bool own = false;
	lethe_rc rc;

	*n = 0;
	rc = store__save(st, "SAVEPOINT mail_skip_all", &own, err);
	if (rc != LETHE_OK)
		return rc;
	/* As store_mail_finish(): the replies' headers go first, then the recipients. */
	rc = store__execf(
	    st, err,
	    "UPDATE mail_in SET reply_box = NULL WHERE reply_box IS NOT NULL AND id IN "
	    "(SELECT mail_in_id FROM mail WHERE state IN ('pending', 'sending') AND "
	    "mail_in_id > 0)",
	    "");
	if (rc == LETHE_OK)
		rc = store__execf(
		    st, err,
		    "UPDATE mail SET state = 'skipped', last_error = ?1, done_at = ?2, "
		    "to_box = NULL, owner = NULL WHERE state IN ('pending', 'sending')",
		    "ti", why, now);
	if (rc == LETHE_OK)
		*n = sq_changes(st->c);
	return store__save_end(st, "RELEASE mail_skip_all", "ROLLBACK TO mail_skip_all", own, rc,
	                       err);
}

lethe_rc
store_mail_request_next(struct store *st, int64_t request_id, int64_t after, int64_t *id,
                        uint8_t **box, size_t *boxlen, struct lethe_err *err)
{
	struct store_mail m;
	struct mail_boxed b = {.m = &m, .box = box, .boxlen = boxlen};
	lethe_rc rc;

	*id = 0;
	*box = NULL;
	*boxlen = 0;
	rc = store__one(st, err, "reading a queued mail", mail_boxed_row, &b,
	                "SELECT " MAIL_COLS ", m.to_box" MAIL_FROM
	                "WHERE m.request_id = ?1 AND m.id > ?2 AND m.state = 'pending' AND "
	                "m.mail_in_id IS NULL ORDER BY m.id LIMIT 1",
	                "ii", request_id, after);
	if (rc == LETHE_OK)
		*id = m.id;
	return rc;
}

lethe_rc
store_mail_last_id(struct store *st, int64_t *id, struct lethe_err *err)
{
	int64_t v[2] = {0, 0};
	lethe_rc rc;

	rc = store__one(st, err, "reading the mail outbox", store__row_ints, v,
	                "SELECT coalesce(max(id), 0), 0 FROM mail", "");
	*id = rc == LETHE_OK ? v[0] : 0;
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

lethe_rc
store_mail_skip(struct store *st, int64_t id, const char *why, int64_t now, struct lethe_err *err)
{
	return store__execf(st, err,
	                    "UPDATE mail SET state = 'skipped', last_error = ?2, done_at = ?3, "
	                    "to_box = NULL, owner = NULL WHERE id = ?1 AND state = 'pending'",
	                    "iti", id, why, now);
}

lethe_rc
store_mail_after_replies(struct store *st, int64_t id, struct lethe_err *err)
{
	/* Replies are due at 0: 1 is as "at once" for the mailer, but claimed after them. */
	return store__execf(st, err,
	                    "UPDATE mail SET next_at = 1 WHERE id = ?1 AND state = 'pending' AND "
	                    "next_at = 0",
	                    "i", id);
}

lethe_rc
store_mail_next_due(struct store *st, int64_t *next_ms, struct lethe_err *err)
{
	int64_t v[2] = {0, 0};
	lethe_rc rc;

	*next_ms = 0;
	rc = store__one(st, err, "reading the mail outbox", store__row_ints, v,
	                "SELECT count(*), coalesce(min(next_at), 0) FROM mail WHERE state IN "
	                "('pending', 'sending')",
	                "");
	/* Mail queued "at once" has next_at 0: still an answer, not "none". */
	if (rc == LETHE_OK && v[0] > 0)
		*next_ms = v[1] > 0 ? v[1] : 1;
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

lethe_rc
store_mail_counts(struct store *st, store_count_fn fn, void *arg, struct lethe_err *err)
{
	return store__state_counts(st, "SELECT state, count(*) FROM mail GROUP BY state ORDER BY 1",
	                           fn, arg, err);
}

lethe_rc
store_mail_list(struct store *st, const char *state, int64_t request_id, int limit,
                store_mail_fn fn, void *arg, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	struct store_mail m;
	lethe_rc rc;

	if (request_id > 0)
		rc = store__prepf(st, &q, err,
		                  "SELECT " MAIL_COLS MAIL_FROM
		                  "WHERE m.request_id = ?1 ORDER BY m.id",
		                  "i", request_id);
	else
		rc = store__prepf(st, &q, err,
		                  "SELECT " MAIL_COLS MAIL_FROM
		                  "WHERE (?1 IS NULL OR m.state = ?1) ORDER BY m.id LIMIT ?2",
		                  /* No limit: the largest (PostgreSQL refuses SQLite's -1). */
		                  "ti", state, limit > 0 ? (int64_t)limit : INT64_MAX);
	while (store__row(st, q, &rc, err, "reading the mail outbox")) {
		mail_row(q, &m);
		fn(arg, &m);
	}
	store__unprep(st, q);
	return rc;
}
