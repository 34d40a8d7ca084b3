/* SPDX-License-Identifier: MIT */
/*
 * export_internal.h - what the parts of the archive engine share (see
 * export.h, docs/export.md and docs/internals/export.md): one struct
 * export_ctx per archive being written, the zip writer and its thread
 * (export_zip.c), the rows and media (export_rows.c), reading a plan step
 * (export_walk.c), and index.html and manifest.json (export_html.c).
 * Private to src/engine/export*.c.  One thread uses a context; the zip
 * writer's thread touches only what export_zip.c says.
 */
#ifndef LETHE_ENGINE_EXPORT_INTERNAL_H
#define LETHE_ENGINE_EXPORT_INTERNAL_H

#include <sodium.h>

#include "engine/export.h"
#include "util/fmacros.h"

#define EXPORT_KEYS 20000        /* keys collected per keyset batch */
#define EXPORT_FETCH 500         /* rows read per statement, by key */
#define EXPORT_SCAN 2000         /* rows read per statement, in key order (dense) */
#define EXPORT_FLUSH 65536       /* entry bytes buffered before they go to the zip */
#define EXPORT_SQL_CAP (1 << 20) /* longest statement built */
#define EXPORT_MEDIA_COLS 16     /* media columns of a row compared for name clashes */
#define EXPORT_QUEUE 8           /* buffers queued to the zip writer's thread at most */
/* The largest media object a remote store's download takes (its temporary file). */
#define EXPORT_MEDIA_MAX ((int64_t)8 << 30)

/* A growable byte buffer, reused for every entry: memory is its largest fill. */
struct export_buf {
	char *p;    /* bytes */
	size_t n;   /* bytes used */
	size_t cap; /* bytes allocated */
};

/* One table of the archive: the steps of the plan that act on it, in one file. */
struct export_table {
	const struct dm_table *t; /* the mapped table */
	char file[160];           /* "tables/<name>.json" or ".jsonl" */
	bool jsonl;               /* JSON Lines (more rows than jsonl_from) */
	int64_t planned;          /* rows counted before writing */
	int64_t rows;             /* rows written */
	int64_t kept;             /* of them, rows an erasure keeps (marked) */
	int64_t media;            /* media files written */
	int64_t media_missing;    /* media files named but not found (or no such store) */
	char **names;             /* exportable columns, in the table's order */
	char **keys;              /* each one's JSON key, escaped, with its colon */
	size_t ncols;             /* number of them */
	char *kept_json;          /* the step being written keeps its rows: their mark */
};

struct export_pipe;

/* One archive being written. */
struct export_ctx {
	const struct plan *plan;     /* the person's plan */
	struct appdb *db;            /* the app database (read only) */
	const struct export_opts *o; /* how */
	struct lethe_err *err;       /* where failures go */
	export_sink_fn sink;         /* where the zip's bytes go */
	void *sink_arg;              /* for sink */
	struct export_pipe *pipe;    /* the zip writer's thread (export_zip.c) */
	int64_t ebytes;              /* bytes of the open entry so far */
	struct export_buf out;       /* its bytes not yet written */
	json_t *files;               /* the manifest's "files" */
	struct export_table *tabs;   /* the archive's tables, in the map's order */
	size_t ntabs;                /* number of them */
	const char *tmpdir;          /* where remote objects are downloaded (export.h) */
	int64_t now;                 /* the archive's time */
	struct export_result *res;   /* the totals */
};

/* Make room for @extra more bytes in @b. */
void export_buf_need(struct export_buf *b, size_t extra);
/* Append @n bytes. */
void export_buf_add(struct export_buf *b, const void *p, size_t n);
/* Append NUL-terminated @s. */
void export_buf_adds(struct export_buf *b, const char *s);
/*
 * Append @s (@n bytes) as a JSON string, quoted: '"' and '\' escaped,
 * every control character escaped (\n, \t... or \u00XX), and every byte
 * that is not part of valid UTF-8 replaced by U+FFFD (written \ufffd).
 */
void export_json_str(struct export_buf *b, const char *s, size_t n);
/* Append @s as HTML text, escaped (& < > " '). */
void export_html_str(struct export_buf *b, const char *s);
/* Append a duration in seconds as the map writes it ("10y", "30d", "90s"). */
void export_buf_duration(struct export_buf *b, int64_t secs);

/*
 * Start the zip on x->sink, written by a thread of its own: libarchive,
 * deflate, the SHA-256 of each entry and of the zip, and the sink run
 * there while this thread reads the database and writes JSON (on two
 * cores, the archive then takes about as long as the slower half).  The
 * functions below queue their work to it (at most EXPORT_QUEUE buffers in
 * flight) and report its failure at the next call.
 */
lethe_rc export_zip_open(struct export_ctx *x);
/*
 * Start entry @path: @size bytes if known (else -1), stored as they are
 * (@store: media) or deflated.
 */
lethe_rc export_entry_begin(struct export_ctx *x, const char *path, int64_t size, bool store);
/* Hand x->out to the open entry (x->out is then empty) if it holds @at_least bytes. */
lethe_rc export_entry_flush(struct export_ctx *x, size_t at_least);
/* Flush and close the open entry; unless @unlisted, list it in the manifest's files. */
lethe_rc export_entry_end(struct export_ctx *x, bool unlisted);
/* Wait until every entry queued is written (x->files is then complete). */
lethe_rc export_zip_sync(struct export_ctx *x);
/* Finish the zip (central directory) and the thread; res->bytes and res->sha256 set. */
lethe_rc export_zip_close(struct export_ctx *x);
/* Stop the thread and free the writer without finishing (after a failure). */
void export_zip_abort(struct export_ctx *x);

/* Fill x->tabs from the plan: one per table in the map's order, columns, counts. */
lethe_rc export_tables_init(struct export_ctx *x);
void export_tables_free(struct export_ctx *x);
/* Write tables/<table>.json(l) of @tab. */
lethe_rc export_rows_write(struct export_ctx *x, struct export_table *tab);
/* Row callback of export_step_walk(): the current row of @st is (key, the columns asked for). */
typedef lethe_rc (*export_row_fn)(struct export_ctx *x, struct export_table *tab, struct appdb *db,
                                  struct appdb_stmt *st);

/*
 * Every row of step @ps of @tab, in key order, as (key, the @ncols
 * columns @cols), to @fn (export_walk.c); @planned is the step's row
 * count or more.  Polls export_check_stop() between batches.  Memory:
 * EXPORT_KEYS keys.
 */
lethe_rc export_step_walk(struct export_ctx *x, struct export_table *tab,
                          const struct plan_step *ps, int64_t planned, char *const *cols,
                          size_t ncols, export_row_fn fn);
/* Write the media files the rows of @tab name. */
lethe_rc export_media_write(struct export_ctx *x, struct export_table *tab);
/* LETHE_E_UNAVAILABLE if stopped, LETHE_E_CONFLICT if cancelled, else LETHE_OK. */
lethe_rc export_check_stop(struct export_ctx *x);

/* Write index.html. */
lethe_rc export_index_write(struct export_ctx *x);
/* Write manifest.json (last). */
lethe_rc export_manifest_write(struct export_ctx *x);
/* The tables as JSON: [{"table","category","file","rows","kept","media","media_missing"}]. */
json_t *export_tables_json(const struct export_ctx *x);

#endif /* LETHE_ENGINE_EXPORT_INTERNAL_H */
