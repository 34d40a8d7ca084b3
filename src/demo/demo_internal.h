/* SPDX-License-Identifier: MIT */
/*
 * demo_internal.h - what the files of the demo generator share (src/demo/
 * only): the demo's constants and fixed instant, its private random
 * generator, the platforms and tables it knows, the generator's state, and
 * the functions one file offers the others.
 *
 * demo.c builds the demo directory and decides what each user owns;
 * demo_rows.c inserts one row of a table at a time (and the media files);
 * demo_schema.c creates the tables and indexes and binds the rows;
 * demo_pg.c is the PostgreSQL side of that (COPY, through util/pq.h).
 */
#ifndef LETHE_DEMO_INTERNAL_H
#define LETHE_DEMO_INTERNAL_H

#include "util/fmacros.h"

#include <sqlite3.h>
#include <sys/types.h>

#include "demo/demo.h"
#include "util/buf.h"
#include "util/pq.h"
#include "util/rc.h"

#define DEMO_BASE INT64_C(1792627200) /* "now" of the demo: 2026-10-22 00:00:00 UTC */
#define MINUTE INT64_C(60)
#define HOUR INT64_C(3600)
#define DAY INT64_C(86400)
#define NO_TIME INT64_MIN      /* binds as NULL */
#define RECENT_SPAN (60 * DAY) /* messages, comments, logs: last 60 days */
#define PREVIEW_SPAN (3 * DAY) /* preview links: last 3 days */

#define USERS_MAX 1000000 /* ids are padded to 7 digits */
#define HEAVY_MAX INT64_C(100000000)
#define HEAVY_MEDIA_MAX 2000 /* media rows (= files) of the heavy user */

#define STREAM_KEY UINT64_C(0xffffffffffffffff)
#define STREAM_HEAVY UINT64_C(0xfffffffffffffffe)

#define HEX "0123456789abcdef"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define B64URL ALNUM "-_"
#define B64 ALNUM "+/"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define DEMO_COLS_MAX 12 /* columns of the widest table, id included */

/*
 * The private generator: splitmix64.  Small, fast, and good enough for fake
 * data; its only job is to be the same everywhere.
 */
struct rng {
	uint64_t s;
};

static inline uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Seed @r for stream @stream of @seed; distinct streams are independent. */
static inline void
rng_init(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = mix64(seed ^ mix64(stream + UINT64_C(0x6a09e667f3bcc909)));
}

static inline uint64_t
rng_next(struct rng *r)
{
	r->s += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(r->s);
}

/* Uniform in [@lo, @hi] (@lo <= @hi); modulo bias does not matter here. */
static inline int64_t
rng_range(struct rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* True with probability @percent / 100. */
static inline bool
rng_chance(struct rng *r, int percent)
{
	return rng_next(r) % 100 < (uint64_t)percent;
}

static inline const char *
rng_pick(struct rng *r, const char *const *v, size_t n)
{
	return v[rng_next(r) % n];
}

#define PICK(r, a) rng_pick((r), (a), NELEM(a))

/* Fill @out (which holds @n + 1 bytes) with @n characters of @alphabet. */
static inline void
rng_chars(struct rng *r, char *out, size_t n, const char *alphabet)
{
	size_t k = strlen(alphabet), i;

	for (i = 0; i < n; i++)
		out[i] = alphabet[rng_next(r) % k];
	out[n] = '\0';
}

/* A moment in the @span seconds before DEMO_BASE. */
static inline int64_t
rng_recent(struct rng *r, int64_t span)
{
	return DEMO_BASE - rng_range(r, MINUTE, span - 1);
}

enum platform { P_FACEBOOK, P_INSTAGRAM, P_YOUTUBE, P_LINKEDIN, P_X, P_TIKTOK, P_COUNT };

/*
 * The schema.  Every table has an INTEGER PRIMARY KEY id (bound by us as
 * parameter 1); the insert statement is built from @cols.  Foreign keys are
 * plain INTEGER columns without REFERENCES so no delete is ever blocked.
 */
enum tbl {
	T_USERS,
	T_PROJECTS,
	T_CHANNELS,
	T_POSTS,
	T_MEDIA,
	T_MESSAGES,
	T_COMMENTS,
	T_ANALYTICS,
	T_RULES,
	T_WEBHOOKS,
	T_PREVIEWS,
	T_REQLOGS,
	T_PUBLOGS,
	T_CONTACTS,
	T_CAMPAIGNS,
	T_INVOICES,
	T_COUNT
};

/* The generator's state. */
struct gen {
	sqlite3 *db; /* SQLite: the app database; NULL with pg */
	sqlite3_stmt *st[T_COUNT];
	/* PostgreSQL (demo_pg.c): the connection, and per table the row being
	 * bound (COPY text cells, NULL: \N) and the COPY data not yet sent. */
	const struct pq_api *pq;
	PGconn *pg;
	char *cell[T_COUNT][DEMO_COLS_MAX];
	struct buf copy[T_COUNT];
	int ncols[T_COUNT];    /* columns of each table, id included */
	int64_t rows[T_COUNT]; /* rows inserted so far; also the last id */
	uint64_t seed;
	const char *media_dir; /* DIR/media */
	int64_t files;         /* media files written */
	unsigned cycle;        /* position in rotation[] */
	int64_t contact_no;    /* numbers contact<n>@example.net */
	int64_t heavy_rows;    /* rows owned by the heavy user */
	lethe_rc rc;           /* first failure; once set, inserts stop */
	struct lethe_err *err;
};

/* One connected channel while its rows are generated. */
struct chan {
	int64_t id;
	int64_t project_id;
	enum platform plat;
	char account[48];         /* the subscribed account: Facebook page id, else the user id */
	int64_t post_lo, post_hi; /* its posts' ids; none if post_lo > post_hi */
	int64_t days;             /* analytics days written so far */
};

/* demo.c: the files. */

/* mkdir -p @path (mode 0755).  LETHE_E_IO on failure. */
lethe_rc demo_mkdir_p(const char *path, struct lethe_err *err);
/* Write @len bytes of @data to @path (created or truncated) with @mode; LETHE_E_IO on failure. */
lethe_rc demo_write_file(const char *path, const void *data, size_t len, mode_t mode,
                         struct lethe_err *err);

/*
 * demo_schema.c: the database.  Failures are sticky in g->rc (with detail
 * in g->err): after the first one nothing more is inserted.
 */

/* Run @sql on g->db; returns g->rc. */
lethe_rc demo_exec(struct gen *g, const char *sql);
/* Create the tables and prepare one insert statement per table; returns g->rc. */
lethe_rc demo_schema_create(struct gen *g);
/* Create the indexes (after the bulk load); returns g->rc. */
lethe_rc demo_indexes_create(struct gen *g);
/* Finalize the statements and close g->db (if open); LETHE_E_DB if that fails. */
lethe_rc demo_db_close(struct gen *g);
/* Rows inserted into all tables so far. */
int64_t demo_rows_total(const struct gen *g);
/* Begin a row of @t: its id (the next one) bound as parameter 1, and returned. */
int64_t demo_row_begin(struct gen *g, enum tbl t);
/* Insert the row of @t bound so far (unless g->rc is set) and reset the statement. */
void demo_row_end(struct gen *g, enum tbl t);
/* Bind column @col (1-based, id is 1) of the row of @t being built. */
void demo_bind_int(struct gen *g, enum tbl t, int col, int64_t v);
/* ... @v, or NULL if @v is 0 (no row has id 0). */
void demo_bind_ref(struct gen *g, enum tbl t, int col, int64_t v);
/* ... @s (copied), or NULL if @s is NULL. */
void demo_bind_text(struct gen *g, enum tbl t, int col, const char *s);
/* ... @v as "YYYY-MM-DD HH:MM:SS" UTC, or NULL for NO_TIME. */
void demo_bind_time(struct gen *g, enum tbl t, int col, int64_t v);
/* ... @v (a REAL column). */
void demo_bind_double(struct gen *g, enum tbl t, int col, double v);
/* The name of table @t. */
const char *demo_table_name(enum tbl t);
/* Its columns after id, as an INSERT or COPY lists them. */
const char *demo_table_cols(enum tbl t);

/*
 * demo_pg.c: the PostgreSQL side.  Like the rest, failures are sticky in
 * g->rc.  Every table lives in schema public.
 */

/* Connect g->pg to @url (its password, if any, never in a message); g->rc. */
lethe_rc demo_pg_connect(struct gen *g, const char *url);
/* Run @sql on g->pg (one or more statements, no parameters); g->rc. */
lethe_rc demo_pg_exec(struct gen *g, const char *sql);
/* LETHE_E_USAGE unless @force if public holds a demo table (named in the message). */
lethe_rc demo_pg_check_tables(struct gen *g, bool force);
/* Queue the row of @t bound so far as a COPY line; sends when enough has queued. */
void demo_pg_row_end(struct gen *g, enum tbl t);
/* Send what is queued for every table (COPY ... FROM STDIN); g->rc. */
lethe_rc demo_pg_flush(struct gen *g);
/* After the load: identity sequences past the ids used, then ANALYZE; g->rc. */
lethe_rc demo_pg_finish_load(struct gen *g);
/* Drop the queued rows and close g->pg (an open transaction rolls back). */
void demo_pg_close(struct gen *g);
/* The CREATE TABLE column list of @t for PostgreSQL (after id). */
const char *demo_pg_defs(enum tbl t);

/*
 * demo_rows.c: one row per call, its values drawn from @r; those that
 * return an int64_t return the new row's id.
 */

/* A user with @email, @name and @plan, created at @created. */
int64_t demo_emit_user(struct gen *g, struct rng *r, const char *email, const char *name,
                       const char *plan, int64_t created);
/* A project of user @uid. */
int64_t demo_emit_project(struct gen *g, struct rng *r, int64_t uid, int64_t created);
/* Channel number @idx on @plat of user @uid (whose handle is @handle) in project @pid,
 * connected after @created; described into @ch for the rows that follow. */
void demo_emit_channel(struct gen *g, struct rng *r, int64_t uid, const char *handle, int64_t pid,
                       int idx, enum platform plat, int64_t created, struct chan *ch);
/* A post on @ch; extends the channel's post range (posts come in blocks). */
void demo_emit_post(struct gen *g, struct rng *r, struct chan *ch);
/* A message a third party sent to @ch. */
void demo_emit_message(struct gen *g, struct rng *r, const struct chan *ch);
/* A third party's comment on one of @ch's posts. */
void demo_emit_comment(struct gen *g, struct rng *r, const struct chan *ch);
/* The channel's next analytics day, walking back from the day before DEMO_BASE. */
void demo_emit_analytics(struct gen *g, struct rng *r, struct chan *ch);
/* An automation rule of @ch. */
void demo_emit_rule(struct gen *g, struct rng *r, const struct chan *ch);
/* @ch's webhook subscription, created after @after. */
void demo_emit_webhook(struct gen *g, struct rng *r, const struct chan *ch, int64_t after);
/* A publishing log line of @ch. */
void demo_emit_publog(struct gen *g, struct rng *r, const struct chan *ch);
/* Create DIR/media/u<uid>/p<pid>; sticky error on failure. */
void demo_media_dir(struct gen *g, int64_t uid, int64_t pid);
/*
 * A media row of project @pid (of user @uid), optionally attached to a post
 * in [@post_lo, @post_hi], and its file DIR/media/<storage_key>; the
 * directory must exist (demo_media_dir()).
 */
void demo_emit_media(struct gen *g, struct rng *r, int64_t uid, int64_t pid, int64_t post_lo,
                     int64_t post_hi);
/* A preview link of project @pid. */
void demo_emit_preview(struct gen *g, struct rng *r, int64_t pid);
/* A contact of project @pid, added after @after. */
void demo_emit_contact(struct gen *g, struct rng *r, int64_t pid, int64_t after);
/* A campaign of project @pid. */
void demo_emit_campaign(struct gen *g, struct rng *r, int64_t pid);
/* A request log line of user @uid (in project @pid, channel @chid: 0 for none). */
void demo_emit_reqlog(struct gen *g, struct rng *r, int64_t uid, int64_t pid, int64_t chid);
/* Invoice @k (0-based, newest first) of a user; amounts include 21% VAT. */
void demo_emit_invoice(struct gen *g, struct rng *r, int64_t uid, const char *email,
                       const char *name, const char *plan, const char *tax_id, int64_t k);
/* A fake tax id into @out (@n bytes). */
void demo_fake_tax_id(struct rng *r, char *out, size_t n);

#endif /* LETHE_DEMO_INTERNAL_H */
