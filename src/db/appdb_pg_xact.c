/* SPDX-License-Identifier: MIT */
/*
 * appdb_pg_xact.c - the PostgreSQL driver's look at the oldest open
 * transaction (ops->oldest_xact, see appdb.h).
 *
 * A transaction left open (a psql session after BEGIN, an app that forgot
 * to commit, an idle-in-transaction connection of a pool) pins the
 * database's xmin horizon: vacuum keeps every row version deleted after it
 * began, so the dead rows of lethe's erasures and of its queue pile up and
 * every scan over them slows down.  lethe cannot end that transaction; it
 * can say which session holds it (jobs/pg_watch.c warns).
 *
 * One query on pg_stat_activity: sessions of this database other than our
 * own whose transaction holds a transaction id or a snapshot, the oldest
 * first.  Only who holds it is read (pid, role, application_name, state),
 * never the statement text, which may hold personal data.  A role without
 * pg_read_all_stats sees other roles' sessions without their transaction
 * times: those are not found (docs/scale-out.md says which grant helps).
 * Runs through the driver's own ops, so it needs nothing of its internals.
 */
#include "util/fmacros.h"

#include <stdio.h>
#include <stdlib.h>

#include "db/appdb.h"

/* Every column as text, so the driver's mapping of integer types does not matter. */
static const char OLDEST_SQL[] =
    "SELECT pid::text, "
    "(floor(extract(epoch FROM clock_timestamp() - xact_start) * 1000))::bigint::text, "
    "coalesce(state, ''), coalesce(usename::text, ''), coalesce(application_name, '') "
    "FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND xact_start IS NOT NULL AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL) "
    "ORDER BY xact_start LIMIT 1";

/* Column @i of the current row as text ("" if NULL or not text). */
static const char *
col_text(struct appdb *db, struct appdb_stmt *q, int i)
{
	struct appdb_val v;

	appdb_column(db, q, i, &v);
	return v.type == APPDB_TEXT && v.s != NULL ? v.s : "";
}

/* Copy @s into @dst (@cap bytes), printable ASCII only: anything else becomes '?'. */
static void
copy_printable(char *dst, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < cap; s++)
		dst[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	dst[n] = '\0';
}

lethe_rc
appdb_pg_oldest_xact(struct appdb *db, struct appdb_xact *out, struct lethe_err *err)
{
	struct appdb_stmt *q = NULL;
	enum appdb_step s;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	rc = appdb_prepare(db, OLDEST_SQL, &q, err);
	if (rc != LETHE_OK)
		return rc;
	s = appdb_step(db, q, err);
	if (s == APPDB_ROW) {
		out->pid = (int)strtol(col_text(db, q, 0), NULL, 10);
		out->age_ms = strtoll(col_text(db, q, 1), NULL, 10);
		copy_printable(out->state, sizeof(out->state), col_text(db, q, 2));
		copy_printable(out->user, sizeof(out->user), col_text(db, q, 3));
		copy_printable(out->app, sizeof(out->app), col_text(db, q, 4));
	} else if (s == APPDB_DONE) {
		rc = LETHE_E_NOTFOUND;
	} else {
		rc = err != NULL && err->rc != LETHE_OK ? err->rc : LETHE_E_DB;
	}
	appdb_finalize(db, q);
	return rc;
}
