/* SPDX-License-Identifier: MIT */
/*
 * exports.c - export requests' archives in the state store (see store.h
 * and docs/export.md): the row of an archive (its file under export.dir,
 * its key sealed, its counts), the exporter's queue of export requests,
 * deleting an archive (expired, cancelled), the downloads count and the
 * rate limit's query.  The archive's bytes never enter the store; only
 * its row makes its file reachable.  One connection, one thread, as the
 * rest of the store.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "store/store_internal.h"
#include "util/mem.h"

/* A failed read is LETHE_E_STATE, never "no such archive". */
#define EXP_READ "reading an export"

#define EXPORT_COLS                                                                                \
	"request_id, file, key_box, bytes, sha256, rows, media, detail, created_at, expires_at, "  \
	"downloads, coalesce(deleted_at, 0), why"

void
store_export_clear(struct store_export *e)
{
	if (e == NULL)
		return;
	sodium_memzero(e->key_box, sizeof(e->key_box));
	e->key_boxlen = 0;
	free(e->detail);
	e->detail = NULL;
}

lethe_rc
store_export_put(struct store *st, const struct store_export *e, struct lethe_err *err)
{
	if (e->key_boxlen == 0 || e->key_boxlen > sizeof(e->key_box))
		return lethe_err_set(err, LETHE_E_INTERNAL, "state store: bad export key box");
	return store__execf(
	    st, err,
	    "INSERT INTO exports (request_id, file, key_box, bytes, sha256, rows, media, detail, "
	    "created_at, expires_at, downloads, deleted_at, why) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "?7, ?8, ?9, ?10, 0, NULL, 0) ON CONFLICT (request_id) DO UPDATE SET file = "
	    "excluded.file, key_box = excluded.key_box, bytes = excluded.bytes, sha256 = "
	    "excluded.sha256, rows = excluded.rows, media = excluded.media, detail = "
	    "excluded.detail, created_at = excluded.created_at, expires_at = excluded.expires_at, "
	    "downloads = 0, deleted_at = NULL, why = 0",
	    "itbitiitii", e->request_id, e->file, (const void *)e->key_box, e->key_boxlen, e->bytes,
	    e->sha256, e->rows, e->media, e->detail != NULL ? e->detail : "{}", e->created_at,
	    e->expires_at);
}

/* store__row_fn: an EXPORT_COLS row into the struct store_export @arg. */
static void
export_row(struct sq_stmt *q, void *arg)
{
	struct store_export *e = arg;
	const void *box = sq_col_blob(q, 2);
	size_t boxlen = sq_col_bytes(q, 2);

	memset(e, 0, sizeof(*e));
	e->request_id = sq_col_int(q, 0);
	store__col_text(q, 1, e->file, sizeof(e->file));
	if (box != NULL && boxlen > 0 && boxlen <= sizeof(e->key_box)) {
		memcpy(e->key_box, box, boxlen);
		e->key_boxlen = boxlen;
	}
	e->bytes = sq_col_int(q, 3);
	store__col_text(q, 4, e->sha256, sizeof(e->sha256));
	e->rows = sq_col_int(q, 5);
	e->media = sq_col_int(q, 6);
	e->detail = store__col_dup(q, 7);
	e->created_at = sq_col_int(q, 8);
	e->expires_at = sq_col_int(q, 9);
	e->downloads = sq_col_int(q, 10);
	e->deleted_at = sq_col_int(q, 11);
	e->why = (int)sq_col_int(q, 12);
}

lethe_rc
store_export_get(struct store *st, int64_t request_id, struct store_export *out,
                 struct lethe_err *err)
{
	memset(out, 0, sizeof(*out));
	return store__one(st, err, EXP_READ, export_row, out,
	                  "SELECT " EXPORT_COLS " FROM exports WHERE request_id = ?1", "i",
	                  request_id);
}

/* store__row_fn: the request, then its identity box, into the struct exp_boxed @arg. */
struct exp_boxed {
	struct store_request *req; /* the request */
	uint8_t **box;             /* its identity box */
	size_t *boxlen;            /* its length */
};

static void
exp_boxed_row(struct sq_stmt *q, void *arg)
{
	struct exp_boxed *m = arg;

	store__request_row(q, m->req);
	store__col_blob(q, STORE_REQ_NCOLS, m->box, m->boxlen);
}

lethe_rc
store_export_next(struct store *st, int64_t after, int64_t now, struct store_request *out,
                  uint8_t **box, size_t *boxlen, struct lethe_err *err)
{
	struct exp_boxed m = {.req = out, .box = box, .boxlen = boxlen};
	lethe_rc rc;

	*box = NULL;
	*boxlen = 0;
	/*
	 * Both through requests_exports (SQLite is told; PostgreSQL's planner
	 * picks): a running one first (a crash's), then grace over.
	 */
#define RUNNING(ix)                                                                                \
	"SELECT " STORE_REQ_COLS ", identity_box FROM requests" ix " WHERE kind = 'export' AND "   \
	"state = 'running' AND id > ?1 ORDER BY id LIMIT 1"
#define SCHEDULED(ix)                                                                              \
	"SELECT " STORE_REQ_COLS ", identity_box FROM requests" ix " WHERE kind = 'export' AND "   \
	"state = 'scheduled' AND not_before <= ?1 ORDER BY not_before, id LIMIT 1"
	rc = store__one(st, err, EXP_READ, exp_boxed_row, &m,
	                SQ2(st->c, RUNNING(" INDEXED BY requests_exports"), RUNNING("")), "i",
	                after);
	if (rc == LETHE_E_NOTFOUND)
		rc = store__one(
		    st, err, EXP_READ, exp_boxed_row, &m,
		    SQ2(st->c, SCHEDULED(" INDEXED BY requests_exports"), SCHEDULED("")), "i", now);
	return rc;
#undef RUNNING
#undef SCHEDULED
}

lethe_rc
store_export_delete(struct store *st, int64_t request_id, int64_t now, char *file, size_t cap,
                    struct lethe_err *err)
{
	char *name = NULL;
	bool marked;
	lethe_rc rc;

	if (file != NULL && cap > 0)
		file[0] = '\0';
	rc = store__one(st, err, EXP_READ, store__row_dup, &name,
	                "SELECT file FROM exports WHERE request_id = ?1 AND deleted_at IS NULL",
	                "i", request_id);
	if (rc == LETHE_E_NOTFOUND)
		return LETHE_OK;
	if (rc == LETHE_OK)
		rc = store__execf(st, err,
		                  "UPDATE exports SET key_box = NULL, deleted_at = ?2 "
		                  "WHERE request_id = ?1 AND deleted_at IS NULL",
		                  "ii", request_id, now);
	marked = rc == LETHE_OK && sq_changes(st->c) > 0;
	/* The address kept for the status page's new links goes with the key. */
	if (marked)
		rc = store__execf(st, err,
		                  "UPDATE requests SET notify_box = NULL WHERE id = ?1 AND kind = "
		                  "'export'",
		                  "i", request_id);
	if (rc == LETHE_OK && marked && name != NULL && file != NULL && cap > 0)
		snprintf(file, cap, "%s", name);
	free(name);
	return rc;
}

lethe_rc
store_export_expired(struct store *st, int64_t now, int limit, store_export_fn fn, void *arg,
                     struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

#define EXPIRED(ix)                                                                                \
	"SELECT request_id, file FROM exports" ix                                                  \
	" WHERE deleted_at IS NULL AND expires_at <= ?1 "                                          \
	"ORDER BY expires_at LIMIT ?2"
	rc = store__prepf(st, &q, err, SQ2(st->c, EXPIRED(" INDEXED BY exports_live"), EXPIRED("")),
	                  "ii", now, (int64_t)limit);
#undef EXPIRED
	if (rc != LETHE_OK)
		return rc;
	while (store__row(st, q, &rc, err, EXP_READ))
		fn(arg, sq_col_int(q, 0), sq_col_text(q, 1));
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_export_file_live(struct store *st, const char *file, bool *live, struct lethe_err *err)
{
	int64_t n = 0;
	lethe_rc rc;

	*live = false;
	rc = store__one(st, err, EXP_READ, store__row_ints, &n,
	                "SELECT count(*) FROM exports WHERE file = ?1 AND deleted_at IS NULL", "t",
	                file);
	if (rc == LETHE_OK)
		*live = n > 0;
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

lethe_rc
store_export_held(struct store *st, int64_t id, store_held_fn fn, void *arg, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	/* The person's requests through requests_person (subject, kind). */
	rc = store__prepf(st, &q, err,
	                  "SELECT r.id, r.kind FROM requests r LEFT JOIN exports e "
	                  "ON e.request_id = r.id WHERE r.subject = (SELECT subject FROM "
	                  "requests WHERE id = ?1) AND r.id <> ?1 AND r.app = '' AND "
	                  "((r.kind = 'export' AND e.request_id IS NOT NULL AND e.deleted_at IS "
	                  "NULL) OR (r.kind = 'restriction' AND r.state = 'completed')) "
	                  "ORDER BY r.id",
	                  "i", id);
	if (rc != LETHE_OK)
		return rc;
	while (store__row(st, q, &rc, err, EXP_READ))
		fn(arg, sq_col_int(q, 0), sq_col_text(q, 1));
	store__unprep(st, q);
	return rc;
}

lethe_rc
store_export_downloaded(struct store *st, int64_t request_id, struct lethe_err *err)
{
	return store__execf(st, err,
	                    "UPDATE exports SET downloads = downloads + 1 WHERE request_id = ?1 "
	                    "AND deleted_at IS NULL",
	                    "i", request_id);
}

lethe_rc
store_export_recent(struct store *st, const char *subject, int64_t since, int64_t *latest,
                    struct lethe_err *err)
{
	int64_t t = 0;
	lethe_rc rc;

	*latest = 0;
	/* subject and kind lead requests_person (app = ''). */
	rc = store__one(st, err, EXP_READ, store__row_ints, &t,
	                "SELECT coalesce(max(received_at), 0) FROM requests WHERE subject = ?1 "
	                "AND kind = 'export' AND app = '' AND received_at >= ?2 AND state NOT IN "
	                "('refused', 'cancelled', 'expired', 'failed') AND NOT EXISTS (SELECT 1 "
	                "FROM exports x WHERE x.request_id = requests.id AND x.why = 1)",
	                "ti", subject, since);
	if (rc == LETHE_OK)
		*latest = t;
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

lethe_rc
store_export_why(struct store *st, int64_t request_id, int why, struct lethe_err *err)
{
	return store__execf(st, err, "UPDATE exports SET why = ?2 WHERE request_id = ?1", "ii",
	                    request_id, (int64_t)why);
}
