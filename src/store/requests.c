/* SPDX-License-Identifier: MIT */
/*
 * requests.c - privacy requests of every source in the state store (see
 * store.h and docs/requests.md): recording one, finding an open repeat,
 * conditional state transitions with their history (request_events), the
 * runner's queue (runnable requests, effects to apply or undo, expiry,
 * deadline warnings) and the operator's listing.  A request names its
 * person by a keyed hash; identities are kept only sealed, and only until
 * the request is finished.  Meta's own paths (insert, rerun) are in meta.c.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"
#include "util/mem.h"

/* A failed read is LETHE_E_STATE, never "no such request" (see meta.c). */
#define REQ_READ "reading a request"

/* The states a finished request is in. */
#define REQ_FINAL                                                                                  \
	"('completed', 'completed_with_retention', 'refused', 'cancelled', 'failed', 'expired', "  \
	"'lifted')"

/* The states whose requests are open for deadlines: requests_open_due's predicate. */
#define REQ_OPEN                                                                                   \
	"state NOT IN ('completed', 'completed_with_retention', 'refused', 'cancelled', "          \
	"'expired', 'lifted')"

void
store__request_row(struct sq_stmt *q, void *arg)
{
	struct store_request *out = arg;

	memset(out, 0, sizeof(*out));
	out->id = sq_col_int(q, 0);
	store__col_text(q, 1, out->code, sizeof(out->code));
	store__col_text(q, 2, out->app, sizeof(out->app));
	store__col_text(q, 3, out->state, sizeof(out->state));
	out->received_at = sq_col_int(q, 4);
	out->completed_at = sq_col_int(q, 5);
	out->job = sq_col_int(q, 6);
	out->no_data = sq_col_int(q, 7) != 0;
	out->runs = sq_col_int(q, 8);
	out->job_run = sq_col_int(q, 9);
	out->run_at = sq_col_int(q, 10);
	store__col_text(q, 11, out->kind, sizeof(out->kind));
	store__col_text(q, 12, out->scope, sizeof(out->scope));
	store__col_text(q, 13, out->source, sizeof(out->source));
	store__col_text(q, 14, out->policy, sizeof(out->policy));
	out->due_at = sq_col_int(q, 15);
	out->not_before = sq_col_int(q, 16);
	out->expires_at = sq_col_int(q, 17);
	store__col_text(q, 18, out->reason, sizeof(out->reason));
	out->effects = (int)sq_col_int(q, 19);
	out->warned = sq_col_int(q, 20) != 0;
	out->verified = sq_col_int(q, 21) != 0;
	out->notify_kind = (int)sq_col_int(q, 22);
	out->notify_ok = sq_col_int(q, 23) != 0;
}

lethe_rc
store_request_insert(struct store *st, const struct store_request_new *n, int64_t *id,
                     struct lethe_err *err)
{
	bool own = false;
	lethe_rc rc;

	/* The request, its history and its audit entry: one transaction. */
	rc = store__tx_begin(st, &own, err);
	if (rc != LETHE_OK)
		return rc;
	rc = store__one(
	    st, err, "write", store__row_ints, id,
	    "INSERT INTO requests (code, app, subject, identity_box, state, received_at, "
	    "kind, scope, source, policy, due_at, not_before, expires_at, effects, "
	    "verified, notify_box, notify_kind, notify_ok) VALUES (?1, '', ?2, ?3, ?4, ?5, ?6, "
	    "?7, ?8, ?9, ?10, nullif(?11, 0), nullif(?12, 0), ?13, ?14, ?15, ?16, ?17) "
	    "RETURNING id",
	    "ttbtittttiiiiibii", n->code, n->subject, (const void *)n->box, n->boxlen, n->state,
	    n->now, n->kind, n->scope, n->source, n->policy, n->due_at, n->not_before,
	    n->expires_at, (int64_t)n->effects, (int64_t)(n->verified ? 1 : 0),
	    (const void *)n->notify_box, n->notify_len,
	    (int64_t)(n->notify_box != NULL ? n->notify_kind : STORE_NOTIFY_NONE),
	    (int64_t)(n->notify_ok ? 1 : 0));
	if (rc != LETHE_OK)
		return store__tx_end(st, own, rc, err);
	/*
	 * The receipt is received_at; a request that moved on at once records
	 * where to.  The chain has an entry either way: the state entered.
	 */
	if (strcmp(n->state, "received") != 0)
		rc = store__execf(
		    st, err,
		    "INSERT INTO request_events (request_id, at, state, actor, reason) "
		    "VALUES (?1, ?2, ?3, ?4, NULL)",
		    "iitt", *id, n->now, n->state, n->actor);
	if (rc == LETHE_OK)
		rc = store__audit_request(st, *id, n->now, n->state, n->actor, NULL, err);
	/* Its notices, in this transaction: an address given is confirmed first. */
	if (rc == LETHE_OK && n->notify_kind == STORE_NOTIFY_ADDRESS)
		rc = store_mail_add(st, *id, "address", n->now, NULL, err);
	if (rc == LETHE_OK)
		rc = store__mail_state(st, *id, n->state, n->now, err);
	return store__tx_end(st, own, rc, err);
}

lethe_rc
store_request_find_open(struct store *st, const char *subject, const char *kind, const char *scope,
                        struct store_request *out, struct lethe_err *err)
{
	/*
	 * app = '' and the columns in this order: the partial index requests_person.
	 * A restriction in force (completed, not lifted) is open for a repeat too.
	 */
	return store__one(st, err, REQ_READ, store__request_row, out,
	                  "SELECT " STORE_REQ_COLS
	                  " FROM requests WHERE subject = ?1 AND kind = ?2 "
	                  "AND scope = ?3 AND app = '' AND (" REQ_OPEN
	                  " OR (kind = 'restriction' AND state = 'completed')) ORDER BY id LIMIT 1",
	                  "ttt", subject, kind, scope);
}

lethe_rc
store_request_get(struct store *st, int64_t id, struct store_request *out, struct lethe_err *err)
{
	return store__one(st, err, REQ_READ, store__request_row, out,
	                  "SELECT " STORE_REQ_COLS " FROM requests WHERE id = ?1", "i", id);
}

lethe_rc
store_request_by_code(struct store *st, const char *code, struct store_request *out,
                      struct lethe_err *err)
{
	return store__one(st, err, REQ_READ, store__request_row, out,
	                  "SELECT " STORE_REQ_COLS " FROM requests WHERE code = ?1", "t", code);
}

/* store__row_fn: the request, then its identity box, into the struct req_boxed @arg. */
struct req_boxed {
	struct store_request *req; /* the request */
	uint8_t **box;             /* its identity box (NULL once wiped) */
	size_t *boxlen;            /* its length */
};

static void
req_boxed_row(struct sq_stmt *q, void *arg)
{
	struct req_boxed *m = arg;

	store__request_row(q, m->req);
	store__col_blob(q, STORE_REQ_NCOLS, m->box, m->boxlen);
}

/*
 * The scheduled request whose grace ended first, with its box.  It names
 * requests_grace: left to itself, SQLite takes requests_state_due (state =
 * ?) and reads and sorts every scheduled request on each call (28 ms at
 * 70,000 in grace or in the queue), where requests_grace gives the first
 * one in order.
 */
static lethe_rc
next_scheduled(struct store *st, int64_t now, struct req_boxed *m, struct lethe_err *err)
{
#define NEXT(ix)                                                                                   \
	"SELECT " STORE_REQ_COLS ", identity_box FROM requests" ix " WHERE state = 'scheduled' "   \
	"AND not_before <= ?1 AND kind != 'export' ORDER BY not_before, id LIMIT 1"
	return store__one(st, err, REQ_READ, req_boxed_row, m,
	                  SQ2(st->c, NEXT(" INDEXED BY requests_grace"), NEXT("")), "i", now);
#undef NEXT
}

lethe_rc
store_request_next(struct store *st, int64_t after, int64_t now, bool scheduled_first,
                   struct store_request *out, uint8_t **box, size_t *boxlen, struct lethe_err *err)
{
	struct req_boxed m = {.req = out, .box = box, .boxlen = boxlen};
	lethe_rc rc;

	*box = NULL;
	*boxlen = 0;
	/* Two lookups, each through its own index: received or running, and grace over. */
	if (scheduled_first) {
		rc = next_scheduled(st, now, &m, err);
		if (rc != LETHE_E_NOTFOUND)
			return rc;
	}
	rc = store__one(
	    st, err, REQ_READ, req_boxed_row, &m,
	    "SELECT " STORE_REQ_COLS ", identity_box FROM requests WHERE state IN "
	    "('received', 'running') AND id > ?1 AND kind != 'export' ORDER BY id LIMIT 1",
	    "i", after);
	if (rc != LETHE_E_NOTFOUND || scheduled_first)
		return rc;
	return next_scheduled(st, now, &m, err);
}

lethe_rc
store_request_box(struct store *st, int64_t id, uint8_t **box, size_t *boxlen,
                  struct lethe_err *err)
{
	struct store_request r;
	struct req_boxed m = {.req = &r, .box = box, .boxlen = boxlen};

	*box = NULL;
	*boxlen = 0;
	return store__one(st, err, REQ_READ, req_boxed_row, &m,
	                  "SELECT " STORE_REQ_COLS ", identity_box FROM requests WHERE id = ?1",
	                  "i", id);
}

lethe_rc
store_request_get_box(struct store *st, int64_t id, struct store_request *out, uint8_t **box,
                      size_t *boxlen, struct lethe_err *err)
{
	struct req_boxed m = {.req = out, .box = box, .boxlen = boxlen};

	*box = NULL;
	*boxlen = 0;
	return store__one(st, err, REQ_READ, req_boxed_row, &m,
	                  "SELECT " STORE_REQ_COLS ", identity_box FROM requests WHERE id = ?1",
	                  "i", id);
}

bool
store_request_runnable(const struct store_request *r, int64_t now)
{
	if (strcmp(r->state, "received") == 0 || strcmp(r->state, "running") == 0)
		return true;
	return strcmp(r->state, "scheduled") == 0 && r->not_before <= now;
}

lethe_rc
store_request_effects_next(struct store *st, int64_t after, struct store_request *out,
                           uint8_t **box, size_t *boxlen, struct lethe_err *err)
{
	struct req_boxed m = {.req = out, .box = box, .boxlen = boxlen};

	*box = NULL;
	*boxlen = 0;
	return store__one(st, err, REQ_READ, req_boxed_row, &m,
	                  "SELECT " STORE_REQ_COLS ", identity_box FROM requests WHERE effects IN "
	                  "(1, 3) AND id > ?1 ORDER BY id LIMIT 1",
	                  "i", after);
}

/*
 * Request @id ended for good (cancelled, refused, expired: never retried or
 * scanned): the object keys its job kept only for its residual scan
 * (removed = 1) go, unless another request that may still scan shares the
 * job.  Keys not removed yet stay: they are the only record of objects whose
 * rows are gone, removed when the job is resumed (a retry, the same erasure
 * again).
 */
static lethe_rc
forget_scan_keys(struct store *st, int64_t id, struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    "DELETE FROM media_pending WHERE removed = 1 AND job_id IN (SELECT r.job_id FROM "
	    "requests r WHERE r.id = ?1 AND r.job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
	    "requests o WHERE o.job_id = r.job_id AND o.id <> r.id AND o.state NOT IN "
	    "('completed', 'completed_with_retention', 'refused', 'cancelled', 'expired', "
	    "'lifted')))",
	    "i", id);
}

lethe_rc
store_request_transition(struct store *st, int64_t id, const struct store_transition *t,
                         bool *applied, struct lethe_err *err)
{
	bool own = false;
	lethe_rc rc;

	*applied = false;
	/* The change, its history and its audit entry: one transaction. */
	rc = store__tx_begin(st, &own, err);
	if (rc != LETHE_OK)
		return rc;
		/*
		 * One statement decides: the request is in one of t->from (a
		 * comma-separated list of states) or nothing changes, so of two
		 * transitions racing (a cancel and the end of grace) exactly one wins.
		 */
		/*
		 * The due date moved: warn of the new one (warned). The person's own
		 * address hears of the request once it is verified (notify_ok).
		 */
#define MOVE(instr)                                                                                \
	"UPDATE requests SET state = ?2, "                                                         \
	"reason = CASE ?11 WHEN 1 THEN reason WHEN 2 THEN NULL ELSE coalesce(?4, reason) END, "    \
	"not_before = CASE WHEN ?5 >= 0 THEN nullif(?5, 0) ELSE not_before END, "                  \
	"expires_at = CASE WHEN ?6 >= 0 THEN nullif(?6, 0) ELSE expires_at END, "                  \
	"due_at = CASE WHEN ?7 > 0 THEN ?7 ELSE due_at END, "                                      \
	"warned = CASE WHEN ?7 > 0 THEN 0 ELSE warned END, "                                       \
	"verified = CASE WHEN ?8 <> 0 THEN 1 ELSE verified END, "                                  \
	"notify_ok = CASE WHEN ?8 <> 0 AND notify_kind = 1 THEN 1 ELSE notify_ok END, "            \
	"effects = CASE ?9 WHEN -1 THEN effects WHEN -2 THEN "                                     \
	"  (CASE effects WHEN 2 THEN 3 WHEN 1 THEN 3 ELSE effects END) ELSE ?9 END, "              \
	"completed_at = CASE WHEN ?10 > 0 THEN ?10 WHEN ?10 < 0 THEN NULL "                        \
	"ELSE completed_at END "                                                                   \
	"WHERE id = ?1 AND " instr "(',' || ?3 || ',', ',' || state || ',') > 0"
	rc = store__execf(st, err, SQ2(st->c, MOVE("instr"), MOVE("strpos")), "itttiiiiiii", id,
	                  t->to, t->from, t->reason, t->not_before, t->expires_at, t->due_at,
	                  (int64_t)(t->verified ? 1 : 0), (int64_t)t->effects, t->completed_at,
	                  (int64_t)t->reason_col);
#undef MOVE
	if (rc != LETHE_OK || sq_changes(st->c) == 0)
		return store__tx_end(st, own, rc, err);
	rc = store__execf(st, err,
	                  "INSERT INTO request_events (request_id, at, state, actor, reason) "
	                  "VALUES (?1, ?2, ?3, ?4, ?5)",
	                  "iittt", id, t->now, t->event != NULL ? t->event : t->to, t->actor,
	                  t->reason);
	if (rc == LETHE_OK)
		rc = store__audit_request(st, id, t->now, t->event != NULL ? t->event : t->to,
		                          t->actor, t->reason, err);
	/* Its notice, in the caller's transaction, before anything wipes the address. */
	if (rc == LETHE_OK)
		rc = store__mail_state(st, id, t->event != NULL ? t->event : t->to, t->now, err);
	/* Finished: the mails that made it are needed no more (their raw messages wiped). */
	if (rc == LETHE_OK)
		rc = store_mailin_request_finished(st, id, t->now, err);
	if (rc == LETHE_OK && (strcmp(t->to, "cancelled") == 0 || strcmp(t->to, "refused") == 0 ||
	                       strcmp(t->to, "expired") == 0))
		rc = forget_scan_keys(st, id, err);
	rc = store__tx_end(st, own, rc, err);
	*applied = rc == LETHE_OK;
	return rc;
}

lethe_rc
store_request_set_effects(struct store *st, int64_t id, int from, int to, bool *applied,
                          struct lethe_err *err)
{
	lethe_rc rc =
	    store__execf(st, err, "UPDATE requests SET effects = ?3 WHERE id = ?1 AND effects = ?2",
	                 "iii", id, (int64_t)from, (int64_t)to);

	*applied = rc == LETHE_OK && sq_changes(st->c) > 0;
	return rc;
}

lethe_rc
store_request_wipe(struct store *st, int64_t id, struct lethe_err *err)
{
	/*
	 * A finished request whose effects are settled needs no identity any
	 * more; a restriction in force does, to be lifted (its effects undone).
	 * A completed export keeps its address while its archive is there: the
	 * status page's button mails a new link to it (store_export_delete()
	 * wipes it with the archive's key).
	 */
#define WIPE(empty)                                                                                \
	"UPDATE requests SET identity_box = " empty ", notify_box = CASE WHEN kind = 'export' "    \
	"AND state = 'completed' AND EXISTS (SELECT 1 FROM exports x WHERE x.request_id = "        \
	"requests.id AND x.deleted_at IS NULL) THEN notify_box ELSE NULL END WHERE id = ?1 "       \
	"AND state IN " REQ_FINAL " AND effects IN (0, 2) "                                        \
	"AND NOT (kind = 'restriction' AND state = 'completed')"
	return store__execf(st, err, SQ2(st->c, WIPE(SQ_EMPTY_BLOB_LITE), WIPE(SQ_EMPTY_BLOB_PG)),
	                    "i", id);
#undef WIPE
}

lethe_rc
store_request_notify_ok(struct store *st, int64_t id, struct lethe_err *err)
{
	return store__execf(st, err, "UPDATE requests SET notify_ok = 1 WHERE id = ?1", "i", id);
}

lethe_rc
store_request_events(struct store *st, int64_t id, store_event_fn fn, void *arg,
                     struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(
	    st, &q, err,
	    "SELECT at, state, actor, reason FROM request_events WHERE request_id = ?1 "
	    "ORDER BY rowid",
	    "i", id);
	while (store__row(st, q, &rc, err, "reading a request's history"))
		fn(arg, sq_col_int(q, 0), sq_col_text(q, 1), sq_col_text(q, 2), sq_col_text(q, 3));
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_request_list(struct store *st, const struct store_request_filter *f, store_request_fn fn,
                   void *arg, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	struct store_request r;
	int64_t lo_due = f->after_due, lo_id = f->after_id, hi_due = INT64_MAX;
	lethe_rc rc;

	/*
	 * Keyset pagination by (due_at, id): with a state, through
	 * requests_state_due; without, through requests_due.  source and kind
	 * are off when NULL.  The index is walked between one lower and one
	 * upper bound only, so that SQLite seeks to the first row of the page
	 * and stops after the last due date asked for: the lower bound is the
	 * later of the cursor and due_after (?5, ?6: the row after (due, id)),
	 * the upper bound due_before made inclusive (?4).  With due_after and
	 * the cursor as two terms, SQLite seeks to the cursor, (INT64_MIN, 0)
	 * on a first page, and filters every earlier entry of the state one by
	 * one (tens of ms a page in a store of a million requests).
	 */
	if (f->due_after > lo_due) {
		lo_due = f->due_after; /* inclusive: every id of that due date */
		lo_id = INT64_MIN;
	}
	if (f->due_before == INT64_MIN)
		return LETHE_OK; /* nothing is due before that */
	if (f->due_before != 0)
		hi_due = f->due_before - 1;
		/* SQLite is told the index (above); PostgreSQL's planner picks. */
#define PAGE(ix, where)                                                                            \
	"SELECT " STORE_REQ_COLS " FROM requests" ix " WHERE " where                               \
	"(?2 IS NULL OR source = ?2) AND (?3 IS NULL OR kind = ?3) "                               \
	"AND due_at <= ?4 AND (due_at > ?5 OR (due_at = ?5 AND id > ?6)) "                         \
	"ORDER BY due_at, id LIMIT ?7"
	if (f->open)
		rc =
		    store__prepf(st, &q, err,
		                 SQ2(st->c, PAGE(" INDEXED BY requests_open_due", REQ_OPEN " AND "),
		                     PAGE("", REQ_OPEN " AND ")),
		                 "tttiiii", (const char *)NULL, f->source, f->kind, hi_due, lo_due,
		                 lo_id, (int64_t)f->limit);
	else if (f->state != NULL)
		rc = store__prepf(st, &q, err,
		                  SQ2(st->c,
		                      PAGE(" INDEXED BY requests_state_due", "state = ?1 AND "),
		                      PAGE("", "state = ?1 AND ")),
		                  "tttiiii", f->state, f->source, f->kind, hi_due, lo_due, lo_id,
		                  (int64_t)f->limit);
	else
		rc = store__prepf(st, &q, err,
		                  SQ2(st->c, PAGE(" INDEXED BY requests_due", ""), PAGE("", "")),
		                  "tttiiii", (const char *)NULL, f->source, f->kind, hi_due, lo_due,
		                  lo_id, (int64_t)f->limit);
#undef PAGE
	while (store__row(st, q, &rc, err, "listing requests")) {
		store__request_row(q, &r);
		fn(arg, &r);
	}
	store__unprep(st, q);
	return rc;
}

lethe_rc
store__move_each(struct store *st, const char *select, int64_t arg, int64_t now, const char *state,
                 const char *reason, const char *update, int64_t *n, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	int64_t *ids = NULL;
	size_t cap = 0, nids = 0, i;
	bool own = false;
	lethe_rc rc;

	*n = 0;
	rc = store__tx_begin(st, &own, err);
	if (rc != LETHE_OK)
		return rc;
	rc = store__prepf(st, &q, err, select, "i", arg);
	while (store__row(st, q, &rc, err, "reading requests to move")) {
		ids = xgrow(ids, &cap, nids + 1, sizeof(*ids));
		ids[nids++] = sq_col_int(q, 0);
	}
	store__unprep(st, q);
	for (i = 0; rc == LETHE_OK && i < nids; i++) {
		rc = store__execf(
		    st, err,
		    "INSERT INTO request_events (request_id, at, state, actor, reason) "
		    "VALUES (?1, ?2, ?3, 'lethe', ?4)",
		    "iitt", ids[i], now, state, reason);
		if (rc == LETHE_OK)
			rc = store__audit_request(st, ids[i], now, state, "lethe", reason, err);
		if (rc == LETHE_OK)
			rc = store__execf(st, err, update, "ii", ids[i], now);
		if (rc == LETHE_OK)
			rc = store_mailin_request_finished(st, ids[i], now, err);
	}
	free(ids);
	rc = store__tx_end(st, own, rc, err);
	if (rc == LETHE_OK)
		*n = (int64_t)nids;
	return rc;
}

lethe_rc
store_request_expire(struct store *st, int64_t now, int64_t *n, struct lethe_err *err)
{
	/* Each request that expires gets its history row and its audit entry. */
	return store__move_each(
	    st,
	    "SELECT id FROM requests WHERE state = 'awaiting_verification' AND expires_at <= ?1 "
	    "ORDER BY id",
	    now, now, "expired", "the identity was never verified",
	    SQ2(st->c,
	        "UPDATE requests SET state = 'expired', completed_at = ?2, reason = 'the identity "
	        "was never verified', identity_box = " SQ_EMPTY_BLOB_LITE ", notify_box = NULL "
	        "WHERE id = ?1",
	        "UPDATE requests SET state = 'expired', completed_at = ?2, reason = 'the identity "
	        "was never verified', identity_box = " SQ_EMPTY_BLOB_PG ", notify_box = NULL "
	        "WHERE id = ?1"),
	    n, err);
}

lethe_rc
store_request_due_soon(struct store *st, int64_t until, store_request_fn fn, void *arg,
                       struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	struct store_request r;
	lethe_rc rc;

	rc = store__prepf(st, &q, err,
	                  "SELECT " STORE_REQ_COLS " FROM requests WHERE " REQ_OPEN
	                  " AND due_at <= ?1 AND warned = 0 ORDER BY due_at LIMIT 100",
	                  "i", until);
	while (store__row(st, q, &rc, err, "reading requests near their deadline")) {
		store__request_row(q, &r);
		fn(arg, &r);
	}
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_request_set_warned(struct store *st, int64_t id, struct lethe_err *err)
{
	return store__execf(st, err, "UPDATE requests SET warned = 1 WHERE id = ?1", "i", id);
}

lethe_rc
store_request_overdue(struct store *st, int64_t now, int64_t *n, struct lethe_err *err)
{
	return store__query_int(st, "counting overdue requests",
	                        "SELECT count(*) FROM requests WHERE " REQ_OPEN " AND due_at < ?1",
	                        now, n, err);
}
