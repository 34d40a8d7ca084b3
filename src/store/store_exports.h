/* SPDX-License-Identifier: MIT */
/*
 * store_exports.h - the state store's exports section (exports.c): the
 * archives of export requests (docs/export.md, docs/internals/export.md).
 *
 * Part of store.h, which includes it at its end; kept apart so store.h
 * stays readable.  Include store/store.h (this file includes it too).
 */
#ifndef LETHE_STORE_EXPORTS_H
#define LETHE_STORE_EXPORTS_H

#include "store/store.h"

/*
 * An export request's archive (a row of exports).  The archive's key is
 * kept only sealed (key_box, seal_bytes() "export-key"); a deleted
 * archive's row stays, without its key, for what the request shows.
 */
struct store_export {
	int64_t request_id;  /* the export request */
	char file[128];      /* the archive's file name under export.dir */
	uint8_t key_box[96]; /* its key, sealed; key_boxlen 0 once deleted */
	size_t key_boxlen;   /* bytes of key_box */
	int64_t bytes;       /* the zip's size (decrypted) */
	char sha256[65];     /* the zip's SHA-256, hex */
	int64_t rows;        /* rows exported */
	int64_t media;       /* media files exported */
	char *detail;        /* JSON without personal data (tables, counts); store_export_clear() */
	int64_t created_at;  /* made (epoch s) */
	int64_t expires_at;  /* the archive and its links expire (epoch s) */
	int64_t downloads;   /* downloads so far */
	int64_t deleted_at;  /* deleted (epoch s), 0 if it exists */
	int why;             /* STORE_EXPORT_LOST, _ERASED: why deleted early; 0 otherwise */
};
#define STORE_EXPORT_KEY_BOX_MAX 96 /* bytes a sealed archive key may take */

/* Free what store_export_get() allocated in @e (detail) and wipe its key box. */
void store_export_clear(struct store_export *e);
/*
 * Record the archive @e of export request e->request_id (created_at,
 * expires_at, file, key_box, counts; downloads and deleted_at start at 0),
 * replacing any earlier row of the request.  In the caller's transaction
 * (the exporter's completion transaction, with the request's transition).
 */
lethe_rc store_export_put(struct store *st, const struct store_export *e, struct lethe_err *err);
/* The archive of export request @request_id into @out; LETHE_E_NOTFOUND if none was made. */
lethe_rc store_export_get(struct store *st, int64_t request_id, struct store_export *out,
                          struct lethe_err *err);
/*
 * The next export request to build, with its identity box (caller frees):
 * one left running (a crash's or a stop's: built again from scratch) with
 * an id above @after, else the scheduled one whose grace ended first
 * (not_before <= @now).  Only kind 'export' (the runner never takes
 * them).  LETHE_E_NOTFOUND if none.
 */
lethe_rc store_export_next(struct store *st, int64_t after, int64_t now, struct store_request *out,
                           uint8_t **box, size_t *boxlen, struct lethe_err *err);
/*
 * Mark the archive of @request_id deleted at @now (its key box wiped, with
 * its request's notification box) if it is not yet; *@file gets its file
 * name (@cap bytes) when this call marked it, "" otherwise (none, or
 * deleted before).  The caller unlinks the file after its transaction
 * commits (a crash in between leaves an orphan, which the exporter's
 * start-up sweep removes).
 */
lethe_rc store_export_delete(struct store *st, int64_t request_id, int64_t now, char *file,
                             size_t cap, struct lethe_err *err);
/* store_export_expired() calls this for each archive. */
typedef void (*store_export_fn)(void *arg, int64_t request_id, const char *file);
/* Call @fn for up to @limit archives not deleted whose expires_at <= @now, oldest first. */
lethe_rc store_export_expired(struct store *st, int64_t now, int limit, store_export_fn fn,
                              void *arg, struct lethe_err *err);
/* *@live true if a row not deleted names the file @file. */
lethe_rc store_export_file_live(struct store *st, const char *file, bool *live,
                                struct lethe_err *err);
/* store_export_held() calls this for each request: its id and kind. */
typedef void (*store_held_fn)(void *arg, int64_t request_id, const char *kind);
/*
 * Call @fn, by id, for each request (app "") of the same person (subject)
 * as request @id, @id aside, that still holds something of theirs: an
 * export whose archive is not deleted (kind "export") and a restriction in
 * force (kind "restriction", completed).  For the end of an erasure of the
 * person (request_work_erased()); @fn must not use @st.
 */
lethe_rc store_export_held(struct store *st, int64_t id, store_held_fn fn, void *arg,
                           struct lethe_err *err);
/* Why an archive was deleted before its end, besides a cancel (column why). */
#define STORE_EXPORT_LOST 1   /* its file was found missing: the person may ask again at once */
#define STORE_EXPORT_ERASED 2 /* deleted with the person's account (an erasure completed) */
/* Record why the archive of @request_id was deleted early (in the caller's transaction). */
lethe_rc store_export_why(struct store *st, int64_t request_id, int why, struct lethe_err *err);
/* Count one download of the archive of @request_id (if it is not deleted). */
lethe_rc store_export_downloaded(struct store *st, int64_t request_id, struct lethe_err *err);
/*
 * The rate limit's query: the latest receipt time (epoch s) of an export
 * request of @subject (any scope, not Meta's) received at or after @since
 * that was not refused, cancelled, expired or failed, nor had its archive
 * lost (STORE_EXPORT_LOST), into *@latest (0 if none).
 */
lethe_rc store_export_recent(struct store *st, const char *subject, int64_t since, int64_t *latest,
                             struct lethe_err *err);

#endif /* LETHE_STORE_EXPORTS_H */
