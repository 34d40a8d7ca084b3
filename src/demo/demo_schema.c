/* SPDX-License-Identifier: MIT */
/*
 * demo_schema.c - the demo app database's schema and row plumbing: the
 * sixteen tables (column definitions and insert lists), the indexes created
 * after the bulk load, one prepared insert statement per table, and the
 * helpers that bind a row's columns and insert it.  Failures are sticky in
 * the generator's rc (demo_internal.h).  On PostgreSQL (g->pg) the same
 * tables get PostgreSQL's types (pg_defs[]) and the rows go out by COPY
 * (demo_pg.c): a bound value is kept as a COPY text cell.
 */
#include "util/fmacros.h"

#include "demo/demo_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

static const struct {
	const char *name;
	const char *defs; /* column definitions after id */
	const char *cols; /* the same columns, for INSERT */
} tables[T_COUNT] = {
    [T_USERS] =
        {"users",
         "email TEXT UNIQUE NOT NULL, name TEXT, password_hash TEXT, plan TEXT, created_at TEXT, "
         "status TEXT NOT NULL DEFAULT 'active', "
         "processing_restricted INTEGER NOT NULL DEFAULT 0",
         "email, name, password_hash, plan, created_at"},
    [T_PROJECTS] = {"projects", "user_id INTEGER, name TEXT, created_at TEXT",
                    "user_id, name, created_at"},
    [T_CHANNELS] =
        {"channels",
         "project_id INTEGER, platform TEXT, platform_user_id TEXT, username TEXT, "
         "access_token TEXT, refresh_token TEXT, token_expires_at TEXT, status TEXT, "
         "connected_at TEXT",
         "project_id, platform, platform_user_id, username, access_token, refresh_token, "
         "token_expires_at, status, connected_at"},
    [T_POSTS] =
        {"posts",
         "project_id INTEGER, channel_id INTEGER, body TEXT, status TEXT, scheduled_at TEXT, "
         "published_at TEXT, created_at TEXT",
         "project_id, channel_id, body, status, scheduled_at, published_at, created_at"},
    [T_MEDIA] = {"media",
                 "project_id INTEGER, post_id INTEGER, storage_key TEXT, mime TEXT, bytes INTEGER, "
                 "cached INTEGER, created_at TEXT",
                 "project_id, post_id, storage_key, mime, bytes, cached, created_at"},
    [T_MESSAGES] = {"messages",
                    "channel_id INTEGER, sender_platform_id TEXT, sender_name TEXT, body TEXT, "
                    "received_at TEXT",
                    "channel_id, sender_platform_id, sender_name, body, received_at"},
    [T_COMMENTS] =
        {"comments",
         "channel_id INTEGER, post_id INTEGER, author_platform_id TEXT, author_name TEXT, "
         "body TEXT, sentiment TEXT, created_at TEXT",
         "channel_id, post_id, author_platform_id, author_name, body, sentiment, created_at"},
    [T_ANALYTICS] =
        {"analytics",
         "channel_id INTEGER, day TEXT, followers INTEGER, impressions INTEGER, engagement REAL",
         "channel_id, day, followers, impressions, engagement"},
    [T_RULES] =
        {"automation_rules",
         "channel_id INTEGER, name TEXT, \"trigger\" TEXT, \"action\" TEXT, enabled INTEGER",
         "channel_id, name, \"trigger\", \"action\", enabled"},
    [T_WEBHOOKS] =
        {"webhook_subscriptions",
         "channel_id INTEGER, object TEXT, account_id TEXT, callback_url TEXT, status TEXT, "
         "created_at TEXT",
         "channel_id, object, account_id, callback_url, status, created_at"},
    [T_PREVIEWS] = {"preview_links",
                    "project_id INTEGER, token_hash TEXT, password_hash TEXT, created_at TEXT, "
                    "expires_at TEXT, decision TEXT",
                    "project_id, token_hash, password_hash, created_at, expires_at, decision"},
    [T_REQLOGS] = {"request_logs",
                   "user_id INTEGER, ip TEXT, user_agent TEXT, path TEXT, created_at TEXT",
                   "user_id, ip, user_agent, path, created_at"},
    [T_PUBLOGS] = {"publishing_logs",
                   "channel_id INTEGER, post_id INTEGER, level TEXT, status TEXT, detail TEXT, "
                   "created_at TEXT",
                   "channel_id, post_id, level, status, detail, created_at"},
    [T_CONTACTS] =
        {"contacts",
         "project_id INTEGER, email TEXT, name TEXT, platform_handle TEXT, created_at TEXT",
         "project_id, email, name, platform_handle, created_at"},
    [T_CAMPAIGNS] = {"campaigns",
                     "project_id INTEGER, name TEXT, subject TEXT, body TEXT, sent_at TEXT",
                     "project_id, name, subject, body, sent_at"},
    [T_INVOICES] =
        {"invoices",
         "user_id INTEGER, email TEXT, name TEXT, tax_id TEXT, amount INTEGER, issued_at TEXT",
         "user_id, email, name, tax_id, amount, issued_at"},
};

/*
 * The same columns in the types a PostgreSQL app would use: times are
 * timestamptz (the SQLite text is UTC), analytics.day a date, REAL double
 * precision, ids and counts bigint; the 0/1 flags stay integer, as the
 * data map's when/set values (cached: 1, enabled: 0) are numbers.
 */
static const char *const pg_defs[T_COUNT] = {
    [T_USERS] = "email text UNIQUE NOT NULL, name text, password_hash text, plan text, "
                "created_at timestamptz, status text NOT NULL DEFAULT 'active', "
                "processing_restricted integer NOT NULL DEFAULT 0",
    [T_PROJECTS] = "user_id bigint, name text, created_at timestamptz",
    [T_CHANNELS] = "project_id bigint, platform text, platform_user_id text, username text, "
                   "access_token text, refresh_token text, token_expires_at timestamptz, "
                   "status text, connected_at timestamptz",
    [T_POSTS] = "project_id bigint, channel_id bigint, body text, status text, "
                "scheduled_at timestamptz, published_at timestamptz, created_at timestamptz",
    [T_MEDIA] = "project_id bigint, post_id bigint, storage_key text, mime text, bytes bigint, "
                "cached integer, created_at timestamptz",
    [T_MESSAGES] = "channel_id bigint, sender_platform_id text, sender_name text, body text, "
                   "received_at timestamptz",
    [T_COMMENTS] = "channel_id bigint, post_id bigint, author_platform_id text, "
                   "author_name text, body text, sentiment text, created_at timestamptz",
    [T_ANALYTICS] = "channel_id bigint, day date, followers bigint, impressions bigint, "
                    "engagement double precision",
    [T_RULES] = "channel_id bigint, name text, \"trigger\" text, \"action\" text, enabled integer",
    [T_WEBHOOKS] = "channel_id bigint, object text, account_id text, callback_url text, "
                   "status text, created_at timestamptz",
    [T_PREVIEWS] = "project_id bigint, token_hash text, password_hash text, "
                   "created_at timestamptz, expires_at timestamptz, decision text",
    [T_REQLOGS] = "user_id bigint, ip text, user_agent text, path text, created_at timestamptz",
    [T_PUBLOGS] = "channel_id bigint, post_id bigint, level text, status text, detail text, "
                  "created_at timestamptz",
    [T_CONTACTS] = "project_id bigint, email text, name text, platform_handle text, "
                   "created_at timestamptz",
    [T_CAMPAIGNS] = "project_id bigint, name text, subject text, body text, sent_at timestamptz",
    [T_INVOICES] = "user_id bigint, email text, name text, tax_id text, amount bigint, "
                   "issued_at timestamptz",
};

/* Indexes, created after the bulk load: every foreign key, the identity columns. */
static const char *const indexes[][2] = {
    {"projects", "user_id"},
    {"channels", "project_id"},
    {"channels", "platform_user_id"},
    {"channels", "username"},
    {"users", "name"},
    {"posts", "project_id"},
    {"posts", "channel_id"},
    {"media", "project_id"},
    {"media", "post_id"},
    {"messages", "channel_id"},
    {"comments", "channel_id"},
    {"comments", "post_id"},
    {"analytics", "channel_id"},
    {"automation_rules", "channel_id"},
    {"webhook_subscriptions", "channel_id"},
    {"preview_links", "project_id"},
    {"request_logs", "user_id"},
    {"publishing_logs", "channel_id"},
    {"publishing_logs", "post_id"},
    {"contacts", "project_id"},
    {"campaigns", "project_id"},
    {"invoices", "user_id"},
    /* the ttl time columns of the data map: sweeps walk these (media: below) */
    {"messages", "received_at"},
    {"comments", "created_at"},
    {"publishing_logs", "created_at"},
    {"preview_links", "created_at"},
    {"request_logs", "created_at"},
};

/*
 * Indexes of the ttl tables with `when`: the when columns, then the time
 * column, so a sweep reads only matching expired rows (the index
 * `lethe sweep` recommends).  {name, table, columns}
 */
static const char *const ttl_indexes[][3] = {
    {"media_cached_created_at_idx", "media", "cached, created_at"},
};

/*
 * Row helpers.  A row is begun (its id bound as parameter 1), its other
 * columns bound by position, and ended (stepped and reset).  Failures are
 * sticky in g->rc: after the first one nothing more is inserted, and the
 * loops check g->rc to stop early.
 */

static void
fail_db(struct gen *g, const char *what)
{
	if (g->pg != NULL) {
		if (g->rc == LETHE_OK)
			g->rc = lethe_err_set(g->err, LETHE_E_DB, "demo database: %s: %s", what,
			                      g->pq->errorMessage(g->pg));
		return;
	}
	if (g->rc == LETHE_OK)
		g->rc = lethe_err_set(g->err, LETHE_E_DB, "demo database: %s: %s", what,
		                      sqlite3_errmsg(g->db));
}

const char *
demo_table_name(enum tbl t)
{
	return tables[t].name;
}

const char *
demo_table_cols(enum tbl t)
{
	return tables[t].cols;
}

const char *
demo_pg_defs(enum tbl t)
{
	return pg_defs[t];
}

/*
 * PostgreSQL: keep @text (or NULL) as column @col's COPY text cell, with
 * backslash, tab, newline and carriage return escaped.
 */
static void
pg_cell(struct gen *g, enum tbl t, int col, const char *text)
{
	char *out, *o;
	const char *s;

	if (col < 1 || col > g->ncols[t])
		return;
	free(g->cell[t][col - 1]);
	g->cell[t][col - 1] = NULL;
	if (text == NULL)
		return;
	o = out = xmalloc(strlen(text) * 2 + 1);
	for (s = text; *s != '\0'; s++) {
		switch (*s) {
		case '\\':
			*o++ = '\\';
			*o++ = '\\';
			break;
		case '\t':
			*o++ = '\\';
			*o++ = 't';
			break;
		case '\n':
			*o++ = '\\';
			*o++ = 'n';
			break;
		case '\r':
			*o++ = '\\';
			*o++ = 'r';
			break;
		default:
			*o++ = *s;
		}
	}
	*o = '\0';
	g->cell[t][col - 1] = out;
}

static void
pg_int(struct gen *g, enum tbl t, int col, int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	pg_cell(g, t, col, s);
}

int64_t
demo_row_begin(struct gen *g, enum tbl t)
{
	int64_t id = g->rows[t] + 1;

	if (g->pg != NULL)
		pg_int(g, t, 1, id);
	else
		sqlite3_bind_int64(g->st[t], 1, id);
	return id;
}

void
demo_row_end(struct gen *g, enum tbl t)
{
	sqlite3_stmt *st = g->st[t];

	if (g->pg != NULL) {
		demo_pg_row_end(g, t);
		return;
	}
	if (g->rc == LETHE_OK) {
		if (sqlite3_step(st) == SQLITE_DONE)
			g->rows[t]++;
		else
			fail_db(g, tables[t].name);
	}
	sqlite3_reset(st);
}

void
demo_bind_int(struct gen *g, enum tbl t, int col, int64_t v)
{
	if (g->pg != NULL)
		pg_int(g, t, col, v);
	else
		sqlite3_bind_int64(g->st[t], col, v);
}

void
demo_bind_double(struct gen *g, enum tbl t, int col, double v)
{
	char s[40];

	if (g->pg != NULL) {
		snprintf(s, sizeof(s), "%.17g", v); /* round-trips exactly */
		pg_cell(g, t, col, s);
	} else {
		sqlite3_bind_double(g->st[t], col, v);
	}
}

/* Bind @v, or NULL if @v is 0 (no row has id 0). */
void
demo_bind_ref(struct gen *g, enum tbl t, int col, int64_t v)
{
	if (g->pg != NULL && v == 0)
		pg_cell(g, t, col, NULL);
	else if (g->pg != NULL)
		pg_int(g, t, col, v);
	else if (v == 0)
		sqlite3_bind_null(g->st[t], col);
	else
		sqlite3_bind_int64(g->st[t], col, v);
}

void
demo_bind_text(struct gen *g, enum tbl t, int col, const char *s)
{
	if (g->pg != NULL)
		pg_cell(g, t, col, s);
	else if (s == NULL)
		sqlite3_bind_null(g->st[t], col);
	else
		sqlite3_bind_text(g->st[t], col, s, -1, SQLITE_TRANSIENT);
}

/* Bind @v as "YYYY-MM-DD HH:MM:SS" UTC, or NULL for NO_TIME. */
void
demo_bind_time(struct gen *g, enum tbl t, int col, int64_t v)
{
	char ts[40];

	if (v == NO_TIME) {
		if (g->pg != NULL)
			pg_cell(g, t, col, NULL);
		else
			sqlite3_bind_null(g->st[t], col);
		return;
	}
	time_format(v, ts, sizeof(ts));
	if (g->pg != NULL) {
		/* timestamptz: the same UTC instant, its zone explicit */
		snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), "+00");
		pg_cell(g, t, col, ts);
		return;
	}
	sqlite3_bind_text(g->st[t], col, ts, -1, SQLITE_TRANSIENT);
}

/* A random post of @ch, or 0 (NULL) if it has none. */
lethe_rc
demo_exec(struct gen *g, const char *sql)
{
	if (g->pg != NULL)
		return demo_pg_exec(g, sql);
	if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_db(g, sql);
	return g->rc;
}

/* Create the tables and prepare one insert statement per table. */
lethe_rc
demo_schema_create(struct gen *g)
{
	char *sql = NULL, *ph;
	size_t len;
	int t, ncol, k;
	const char *s;

	for (t = 0; t < T_COUNT && g->rc == LETHE_OK; t++) {
		if (g->pg != NULL)
			sql = xasprintf("CREATE TABLE public.%s (id bigint GENERATED BY DEFAULT AS "
			                "IDENTITY PRIMARY KEY, %s)",
			                tables[t].name, pg_defs[t]);
		else
			sql = xasprintf("CREATE TABLE %s (id INTEGER PRIMARY KEY, %s)",
			                tables[t].name, tables[t].defs);
		demo_exec(g, sql);
		free(sql);

		ncol = 2; /* id and the first column */
		for (s = tables[t].cols; *s != '\0'; s++)
			if (*s == ',')
				ncol++;
		g->ncols[t] = ncol;
		if (g->pg != NULL)
			continue; /* rows go out by COPY: nothing to prepare */
		len = (size_t)ncol * 5 + 1;
		ph = xmalloc(len);
		ph[0] = '\0';
		for (k = 1; k <= ncol; k++)
			snprintf(ph + strlen(ph), len - strlen(ph), "%s?%d", k > 1 ? ", " : "", k);
		sql = xasprintf("INSERT INTO %s (id, %s) VALUES (%s)", tables[t].name,
		                tables[t].cols, ph);
		free(ph);
		if (g->rc == LETHE_OK &&
		    sqlite3_prepare_v3(g->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &g->st[t],
		                       NULL) != SQLITE_OK)
			fail_db(g, tables[t].name);
		free(sql);
	}
	return g->rc;
}

lethe_rc
demo_indexes_create(struct gen *g)
{
	char *sql;
	size_t i;

	for (i = 0; i < NELEM(indexes) && g->rc == LETHE_OK; i++) {
		sql = xasprintf("CREATE INDEX %s_%s_idx ON %s%s (%s)", indexes[i][0], indexes[i][1],
		                g->pg != NULL ? "public." : "", indexes[i][0], indexes[i][1]);
		demo_exec(g, sql);
		free(sql);
	}
	for (i = 0; i < NELEM(ttl_indexes) && g->rc == LETHE_OK; i++) {
		sql =
		    xasprintf("CREATE INDEX %s ON %s%s (%s)", ttl_indexes[i][0],
		              g->pg != NULL ? "public." : "", ttl_indexes[i][1], ttl_indexes[i][2]);
		demo_exec(g, sql);
		free(sql);
	}
	return g->rc;
}

int64_t
demo_rows_total(const struct gen *g)
{
	int64_t n = 0;
	int t;

	for (t = 0; t < T_COUNT; t++)
		n += g->rows[t];
	return n;
}

/* Finalize the statements and close g->db (if open); LETHE_E_DB if that fails. */
lethe_rc
demo_db_close(struct gen *g)
{
	int t;

	if (g->pg != NULL) {
		demo_pg_close(g);
		return LETHE_OK;
	}
	for (t = 0; t < T_COUNT; t++) {
		sqlite3_finalize(g->st[t]);
		g->st[t] = NULL;
	}
	if (g->db != NULL && sqlite3_close(g->db) != SQLITE_OK) {
		fail_db(g, "close");
		sqlite3_close_v2(g->db);
		g->db = NULL;
		return LETHE_E_DB;
	}
	g->db = NULL;
	return LETHE_OK;
}
