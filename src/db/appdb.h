/* SPDX-License-Identifier: MIT */
/*
 * appdb.h - the one interface between lethe's engine and an app database.
 *
 * The engine never calls a database library directly.  It builds SQL with
 * db/sql.h, which spells every database-specific construct through the
 * driver's struct appdb_dialect, and runs it through the driver's struct
 * appdb_ops.  Two drivers: SQLite (appdb_sqlite.c, dialect_sqlite.c) and
 * PostgreSQL (appdb_pg.c, dialect_pg.c): a struct appdb_ops and a struct
 * appdb_dialect each, one engine.
 *
 * Values cross the interface as struct appdb_val.  A connection is used by
 * one thread at a time.
 */
#ifndef LETHE_APPDB_H
#define LETHE_APPDB_H

#include "util/buf.h"
#include "util/fmacros.h"
#include "util/rc.h"

enum appdb_type { APPDB_NULL, APPDB_INT, APPDB_TEXT, APPDB_REAL };

/* A bound parameter or a result value.  Text is borrowed, not owned. */
struct appdb_val {
	enum appdb_type type; /* which member is set */
	int64_t i;            /* APPDB_INT */
	double r;             /* APPDB_REAL */
	const char *s;        /* APPDB_TEXT, NUL-terminated */
	bool blob;            /* result only: APPDB_TEXT read from a binary value (may be cut) */
	size_t len;           /* result only: APPDB_TEXT's bytes (a blob's may hold NULs) */
};

/* One column of a table as the catalogue describes it. */
struct appdb_column {
	char *name;   /* column name as declared */
	char *type;   /* declared type, may be "" */
	bool pk;      /* part of the primary key */
	bool notnull; /* declared NOT NULL */
	bool integer; /* holds integers (SQLite: INTEGER affinity; PostgreSQL: int2/4/8) */
};

/* The catalogue's view of one table. */
struct appdb_table {
	char *name;                /* table name */
	struct appdb_column *cols; /* columns in declaration order */
	size_t ncols;              /* number of columns */
};

struct appdb;
struct appdb_stmt;

/*
 * An open transaction of another session (ops->oldest_xact): who holds it,
 * never what it ran (its statements may hold personal data).
 */
struct appdb_xact {
	int pid;        /* the server process of that session */
	int64_t age_ms; /* how long the transaction has been open */
	char state[32]; /* "idle in transaction", "active", ... */
	char user[64];  /* its role */
	char app[64];   /* its application_name, printable ASCII only, may be "" */
};

/*
 * A dialect: how SQL text is spelled for one database.  The engine builds
 * its statements with db/sql.h, which asks the connection's dialect for
 * every construct that differs between databases: identifier quoting,
 * placeholders, and the few predicates on a value's storage form that the
 * sweeper needs.  Each function appends to @b and returns LETHE_OK or
 * LETHE_E_TOOBIG (the buffer's cap).  @col is an identifier the caller
 * validated against the catalogue; the dialect quotes it.  Stateless.
 */
struct appdb_dialect {
	const char *name; /* "sqlite" */
	/* Identifier @name quoted ("name", inner quotes doubled). */
	lethe_rc (*quote)(struct buf *b, const char *name);
	/* The placeholder of 1-based parameter @n ("?" or "$n"). */
	lethe_rc (*param)(struct buf *b, int n);
	const char *true_lit;  /* an always-true predicate ("1") */
	const char *false_lit; /* an always-false predicate ("0") */
	/* " IS " and " IS NOT " between a column and a value or NULL (null-safe equality). */
	const char *is_op;
	const char *is_not_op;
	/*
	 * Bind an identity's value once, typed as its column (true), or as text
	 * and, when it looks like one, also as an integer (false: SQLite, where a
	 * column without a declared type holding 2 never equals '2').
	 */
	bool bind_once;
	/*
	 * True where @col holds text, as an index range: the database sorts
	 * every text after every number (SQLite: "col" >= '').
	 */
	lethe_rc (*text_range)(struct buf *b, const char *col);
	/* True where @col holds an integer (not text, not real). */
	lethe_rc (*is_integer)(struct buf *b, const char *col);
	/* True where @col holds text shaped "YYYY-MM-DD HH:MM:SS..." (by its separators). */
	lethe_rc (*is_datetime_text)(struct buf *b, const char *col);
	/*
	 * True where @col holds text of exactly @len characters: @prefix and
	 * then lowercase hexadecimal digits (a keyed hash, util/hash.h).
	 */
	lethe_rc (*is_hex_text)(struct buf *b, const char *col, const char *prefix, size_t len);
	/*
	 * The predicate @pred (SQL text) as a term the query planner does not
	 * use an index for, so rows are found by the other terms.
	 */
	lethe_rc (*no_index)(struct buf *b, const char *pred);
	/*
	 * True if every secondary index ends in the table's key (SQLite: the
	 * rowid), so an indexed column's term and a key range read one index
	 * range.  False (PostgreSQL): such a statement reads all the rows the
	 * term matches and filters them on the key, whatever the range.
	 */
	bool index_ends_in_key;
	/*
	 * True if a delete leaves its rows' index entries behind until a later
	 * vacuum (PostgreSQL), so an index walk from the start of a range reads
	 * every row deleted there before; false (SQLite) if they go at once.
	 */
	bool deletes_keep_index_entries;
};

/* Result of appdb_step(). */
enum appdb_step { APPDB_ROW, APPDB_DONE, APPDB_ERROR };

/* A driver.  Every function reports failure detail through @err. */
struct appdb_ops {
	const char *name;                    /* "sqlite" */
	const struct appdb_dialect *dialect; /* how its SQL is spelled */
	lethe_rc (*open)(struct appdb *db, const char *target, struct lethe_err *err);
	void (*close)(struct appdb *db);
	/* Start a write transaction that holds the write lock from the start. */
	lethe_rc (*begin_write)(struct appdb *db, struct lethe_err *err);
	lethe_rc (*commit)(struct appdb *db, struct lethe_err *err);
	void (*rollback)(struct appdb *db);
	lethe_rc (*prepare)(struct appdb *db, const char *sql, struct appdb_stmt **st,
	                    struct lethe_err *err);
	lethe_rc (*bind)(struct appdb_stmt *st, int idx, const struct appdb_val *v);
	enum appdb_step (*step)(struct appdb_stmt *st, struct lethe_err *err);
	/* Column @i of the current row; text valid until the next step/reset. */
	void (*column)(struct appdb_stmt *st, int i, struct appdb_val *out);
	int (*column_count)(struct appdb_stmt *st);
	void (*reset)(struct appdb_stmt *st);
	void (*finalize)(struct appdb_stmt *st);
	/* Rows changed by the last completed statement. */
	int64_t (*changes)(struct appdb *db);
	/* Fill @t from the catalogue; LETHE_E_NOTFOUND if there is no such table. */
	lethe_rc (*table_info)(struct appdb *db, const char *table, struct appdb_table *t,
	                       struct lethe_err *err);
	/* True if some index of @table starts with @column. */
	bool (*column_indexed)(struct appdb *db, const char *table, const char *column);
	/*
	 * True if some full (not partial) index of @table has the @nlead
	 * columns @lead first, in any order, and @column right after them
	 * (nlead = 0: an index starting with @column).
	 */
	bool (*index_leads)(struct appdb *db, const char *table, const char *const *lead,
	                    size_t nlead, const char *column);
	/* A counter that changes when another connection commits; -1 if unknown. */
	int64_t (*data_version)(struct appdb *db);
	/*
	 * Housekeeping between transactions, never inside one: SQLite runs a
	 * passive WAL checkpoint once the WAL holds 64 MiB.
	 */
	void (*maintain)(struct appdb *db);
	/*
	 * Make every commit so far durable and finish background housekeeping;
	 * called when a job ends.  SQLite: a checkpoint that truncates the WAL
	 * (its old page images hold what the job erased), waiting at most 100 ms
	 * for the app's readers, else a passive one, which syncs the WAL.
	 */
	void (*flush)(struct appdb *db);
	/*
	 * Bulk mode for a long erasure by the CLI: a large page cache and
	 * memory-mapped reads (SQLite: 64 MiB cache, 256 MiB mmap).  Off by
	 * default, so a long-running server stays small.
	 */
	void (*bulk)(struct appdb *db, bool on);
	/*
	 * Durable commits on (@on) or back to the default, outside a
	 * transaction; may be NULL.  SQLite: synchronous FULL (the WAL is
	 * synced at each commit) instead of NORMAL.
	 */
	void (*durable)(struct appdb *db, bool on);
	/*
	 * What became of the database's files after a job (the residual scan,
	 * jobs/scan_work.h); may be NULL.  If @checkpoint, checkpoint the WAL
	 * and truncate it, waiting at most 100 ms for the app's readers: @wal
	 * gets "truncated", "busy" (a reader kept it) or "not_wal" (the
	 * database is not in WAL mode); else "not_needed".  *@secure_delete
	 * gets the setting read back: 1 on, 0 off.  Outside a transaction.
	 */
	void (*files)(struct appdb *db, bool checkpoint, char *wal, size_t cap, int *secure_delete);
	/*
	 * The restore marker lethe keeps in the app database (jobs/ledger_work.h):
	 * a one-row table lethe_restore_marker(id 1, epoch).  marker_get: *@epoch
	 * gets it; LETHE_E_NOTFOUND if there is no such table or row (@err
	 * untouched).  marker_set: with @if_was < 0, create the table if needed
	 * and raise the epoch to @epoch (never lowers it); else set it to @epoch
	 * only where it is @if_was (creates nothing: LETHE_E_NOTFOUND if no row
	 * changed).  Outside a transaction; may be NULL.
	 */
	lethe_rc (*marker_get)(struct appdb *db, int64_t *epoch, struct lethe_err *err);
	lethe_rc (*marker_set)(struct appdb *db, int64_t epoch, int64_t if_was,
	                       struct lethe_err *err);
	/*
	 * The oldest transaction another session of this database keeps open
	 * while it holds back vacuum (a transaction id or a snapshot), into
	 * @out; LETHE_E_NOTFOUND if there is none (@err untouched).  Outside a
	 * transaction; may be NULL (SQLite: no such horizon).
	 */
	lethe_rc (*oldest_xact)(struct appdb *db, struct appdb_xact *out, struct lethe_err *err);
};

/* A connection.  Drivers keep their handle in @handle. */
struct appdb {
	const struct appdb_ops *ops; /* the driver */
	void *handle;                /* driver's connection */
	char *target;                /* what was opened, for messages (no secrets) */
};

/*
 * Open @url: "postgresql://..." or "postgres://..." (PostgreSQL, through
 * libpq loaded on first use; @db->target is the URL without its password),
 * "sqlite:PATH", or a plain path (SQLite).  Relative paths are taken
 * relative to @base_dir (may be NULL).  Returns NULL on failure with
 * detail in @err.  Free with appdb_close().
 */
struct appdb *appdb_open(const char *url, const char *base_dir, struct lethe_err *err);
void appdb_close(struct appdb *db);

/* Quote identifier @name for SQL into @b in @db's dialect ("name", doubled inner quotes). */
lethe_rc appdb_quote(struct appdb *db, struct buf *b, const char *name);
/* Append the placeholder for 1-based parameter @n in @db's dialect ("?" or "$n"). */
lethe_rc appdb_param(struct appdb *db, struct buf *b, int n);
/* The dialect of @db's driver. */
const struct appdb_dialect *appdb_dialect(const struct appdb *db);
/* True if @name is a plain identifier: [A-Za-z_][A-Za-z0-9_]{0,62}. */
bool appdb_ident_ok(const char *name);

/*
 * The drivers' index_leads(), fed the rows of their catalogue one by one:
 * the full indexes' columns, ordered by index and position.  Zero @m
 * first, call appdb_leads_row() per row until it returns true (an index
 * has the @nlead columns @lead first, in any order, then @column), then
 * appdb_leads_done().  @idx names the row's index (NULL: skipped), @seq is
 * the column's 0-based position, @col its name (NULL: an expression).
 */
struct appdb_leads {
	char *cur; /* the index whose columns are being read */
	size_t ok; /* its leading columns matched so far (nlead + 1: it does not fit) */
};
bool appdb_leads_row(struct appdb_leads *m, const char *idx, int64_t seq, const char *col,
                     const char *const *lead, size_t nlead, const char *column);
void appdb_leads_done(struct appdb_leads *m);

/* Convenience wrappers over the vtable. */
static inline lethe_rc
appdb_begin_write(struct appdb *db, struct lethe_err *err)
{
	return db->ops->begin_write(db, err);
}
static inline lethe_rc
appdb_commit(struct appdb *db, struct lethe_err *err)
{
	return db->ops->commit(db, err);
}
/* Make the next commits durable (@on) or back to the default; call outside a transaction. */
static inline void
appdb_durable(struct appdb *db, bool on)
{
	if (db->ops->durable != NULL)
		db->ops->durable(db, on);
}
static inline void
appdb_rollback(struct appdb *db)
{
	db->ops->rollback(db);
}

lethe_rc appdb_prepare(struct appdb *db, const char *sql, struct appdb_stmt **st,
                       struct lethe_err *err);
/* Bind @n values to parameters 1..n of @st. */
lethe_rc appdb_bind_all(struct appdb *db, struct appdb_stmt *st, const struct appdb_val *v,
                        size_t n);
enum appdb_step appdb_step(struct appdb *db, struct appdb_stmt *st, struct lethe_err *err);
void appdb_column(struct appdb *db, struct appdb_stmt *st, int i, struct appdb_val *out);
void appdb_reset(struct appdb *db, struct appdb_stmt *st);
void appdb_finalize(struct appdb *db, struct appdb_stmt *st);
/*
 * Run @sql with @n bound params; if it yields a row, the first column as an
 * integer goes into *@out (0 if no row).  For COUNT(*) and the like.
 */
lethe_rc appdb_query_int(struct appdb *db, const char *sql, const struct appdb_val *p, size_t n,
                         int64_t *out, struct lethe_err *err);
/* Run @sql (no result rows expected) with @n params; *@changes gets rows changed (may be NULL). */
lethe_rc appdb_exec(struct appdb *db, const char *sql, const struct appdb_val *p, size_t n,
                    int64_t *changes, struct lethe_err *err);

lethe_rc appdb_table_info(struct appdb *db, const char *table, struct appdb_table *t,
                          struct lethe_err *err);
void appdb_table_free(struct appdb_table *t);
/* Index of column @name in @t, or -1. */
int appdb_table_find(const struct appdb_table *t, const char *name);

extern const struct appdb_ops appdb_sqlite_ops;
extern const struct appdb_dialect appdb_sqlite_dialect;
extern const struct appdb_ops appdb_pg_ops;
extern const struct appdb_dialect appdb_pg_dialect;
/*
 * @sql with every placeholder ("$n" or "?") outside string literals and
 * quoted identifiers numbered $1, $2, ... in order of appearance, as the
 * engine binds them (SQLite's "?"): what the PostgreSQL driver runs.
 * *@n gets their count.  Caller frees.
 */
char *appdb_pg_numbered(const char *sql, int *n);

/* Bulk mode on or off (ops->bulk), for a one-off batch job; a no-op where the driver has none. */
void appdb_bulk(struct appdb *db, bool on);
/* Make every commit so far durable (ops->flush); a no-op where the driver has none. */
void appdb_flush(struct appdb *db);
/*
 * ops->files: the WAL checkpointed and truncated (if @checkpoint) and the
 * secure_delete setting read back.  A driver without it: @wal "not_sqlite",
 * *@secure_delete -1 (not applicable).
 */
void appdb_files(struct appdb *db, bool checkpoint, char *wal, size_t cap, int *secure_delete);
/* ops->marker_get; LETHE_E_CONFIG (@err set) where the driver has none. */
lethe_rc appdb_marker_get(struct appdb *db, int64_t *epoch, struct lethe_err *err);
/* ops->marker_set; LETHE_E_CONFIG (@err set) where the driver has none. */
lethe_rc appdb_marker_set(struct appdb *db, int64_t epoch, int64_t if_was, struct lethe_err *err);
/*
 * ops->oldest_xact: the oldest transaction of another session holding back
 * vacuum; LETHE_E_NOTFOUND if none, LETHE_E_CONFIG (@err set) where the
 * driver has no such look (SQLite).
 */
lethe_rc appdb_oldest_xact(struct appdb *db, struct appdb_xact *out, struct lethe_err *err);
/* The PostgreSQL driver's ops->oldest_xact (appdb_pg_xact.c): pg_stat_activity. */
lethe_rc appdb_pg_oldest_xact(struct appdb *db, struct appdb_xact *out, struct lethe_err *err);

#endif /* LETHE_APPDB_H */
