/* SPDX-License-Identifier: MIT */
/*
 * export.h - the export archive of one person (docs/export.md): every
 * row the data map links to them in a scope, found by the same links and
 * plan as an erasure, plus the media files those rows name, written as one
 * zip (libarchive) streamed to a sink: memory does not grow with the
 * export's size.
 *
 * Layout (docs/export.md): tables/<table>.json (a JSON array) or, above
 * export.jsonl_from rows, tables/<table>.jsonl (JSON Lines); one object
 * per row with every exportable column (never the table's 'tokens' nor
 * its 'secrets'), rows a legal hold would keep marked with their reason;
 * media/<table>/<key>/<file name>; index.html, a page a person opens
 * offline; manifest.json last, with counts and the SHA-256 of every other
 * file.  Only reads the app database.
 */
#ifndef LETHE_EXPORT_H
#define LETHE_EXPORT_H

#include <jansson.h>

#include "db/appdb.h"
#include "engine/plan.h"
#include "media/media.h"
#include "util/fmacros.h"
#include "util/rc.h"
#include "util/sealstream.h"

/* How an archive is made. */
struct export_opts {
	/*
	 * The media stores (each media column names one), or NULL: rows only.
	 * A file whose store is not in the set counts as missing, as one not
	 * found in it does.
	 */
	const struct media_set *media;
	/*
	 * Where a remote store's object is downloaded to (an unlinked temporary
	 * file) before it goes into the archive; NULL: the archive's own
	 * directory for export_to_file()/export_to_path(), else $TMPDIR or /tmp.
	 */
	const char *tmpdir;
	int64_t jsonl_from;       /* a table of more rows than this is JSON Lines */
	int64_t now;              /* the archive's time (epoch s); 0 = real time */
	const char *app_name;     /* named in index.html ("" or NULL: none) */
	const char *code;         /* the request's confirmation code, or NULL (CLI) */
	const volatile int *stop; /* if set and non-zero, stop between batches */
	/* If set, polled between tables and batches: true stops (the request was cancelled). */
	bool (*cancelled)(void *arg);
	void *arg; /* for cancelled */
};

/* What was exported: counts only, no personal data. */
struct export_result {
	int64_t rows;          /* rows exported */
	int64_t kept;          /* of them, rows an erasure would keep (marked) */
	int64_t media;         /* media files exported */
	int64_t media_missing; /* media files named by a row but not found (listed by table) */
	int64_t media_bytes;   /* bytes of the media files */
	int64_t bytes;         /* the zip's size */
	char sha256[65];       /* the zip's SHA-256, hex */
	/*
	 * {"tables": [{"table", "category", "file", "rows", "kept", "media",
	 * "media_missing"}], "rows", "media", "bytes"}: what the status page,
	 * the receipt and the store keep.  NULL until built.
	 */
	json_t *detail;
	double elapsed_ms; /* wall time */
	/*
	 * Why a media object could not be read, for the reason of an export
	 * request that fails (jobs/exporter.c): "a media object of table T
	 * could not be read (the store's answer)".  The store's answer names
	 * the store, never a key (media.h), and nothing here names a person.
	 * "" when no store failed.
	 */
	char media_failure[LETHE_ERR_MAX + 128];
};

/*
 * Where the zip's bytes go, in order.  Called from the archive engine's
 * writer thread (not the caller's), one call at a time.
 */
typedef lethe_rc (*export_sink_fn)(void *arg, const void *buf, size_t len, struct lethe_err *err);

/*
 * Write the archive of @plan's person (plan_build() with the request's
 * scope and identities; counted or not) from @db to @sink.
 * LETHE_E_UNAVAILABLE if stopped, LETHE_E_CONFLICT if cancelled; a media
 * store that fails to answer (media_open()) fails the archive with its
 * error; on any failure the sink has had part of a zip, which the caller
 * throws away.
 */
lethe_rc export_write(const struct plan *plan, struct appdb *db, const struct export_opts *o,
                      export_sink_fn sink, void *arg, struct export_result *res,
                      struct lethe_err *err);
/*
 * export_write() into the file @dir/@name encrypted under @key
 * (sealstream.h): written as @name.part (mode 0600, @dir created 0700 if
 * missing), fsynced, renamed to @name, the directory fsynced.  On failure
 * the .part file is removed and @dir/@name never exists; a crash leaves at
 * most a .part file, which export_clean_parts() removes.
 */
lethe_rc export_to_file(const struct plan *plan, struct appdb *db, const struct export_opts *o,
                        const char *dir, const char *name, const uint8_t key[SEALSTREAM_KEY_LEN],
                        struct export_result *res, struct lethe_err *err);
/*
 * export_write() into the plain (unencrypted) file @path, atomically as
 * export_to_file(): @path.part (0600), fsynced, renamed, its directory
 * fsynced; on failure @path is untouched.  For `lethe export --out`.
 */
lethe_rc export_to_path(const struct plan *plan, struct appdb *db, const struct export_opts *o,
                        const char *path, struct export_result *res, struct lethe_err *err);
/* Remove every *.part file of @dir (a crash's leftovers); *@n gets how many (may be NULL). */
lethe_rc export_clean_parts(const char *dir, int64_t *n, struct lethe_err *err);
/*
 * The path of archive file @name of directory @dir, "@dir/@name", into
 * @out (@cap bytes): false if it does not fit or @name is no plain file
 * name (empty, starting with '.', or with a '/').  The one join of an
 * archive's path (the exporter, the download, the unlink of a cancel).
 */
bool export_file_path(const char *dir, const char *name, char *out, size_t cap);
void export_result_free(struct export_result *r);

#endif /* LETHE_EXPORT_H */
