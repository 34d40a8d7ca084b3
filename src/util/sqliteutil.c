/* SPDX-License-Identifier: MIT */
/*
 * sqliteutil.c - helpers on a raw SQLite connection (see sqliteutil.h).
 *
 * The app database's SQLite dialect and the state store each open their own
 * connections and must refuse to run without secure_delete; the one check
 * lives here so that both ask SQLite the same question the same way.
 */
#include "util/fmacros.h"

#include "util/sqliteutil.h"

bool
sqliteutil_secure_delete(sqlite3 *h)
{
	sqlite3_stmt *st = NULL;
	bool on = false;

	if (sqlite3_prepare_v2(h, "PRAGMA secure_delete=ON", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		on = sqlite3_column_int(st, 0) == 1;
	sqlite3_finalize(st);
	return on;
}
