/* SPDX-License-Identifier: MIT */
/*
 * sqliteutil.h - small helpers on a raw SQLite connection that both the app
 * database dialect (db/) and the state store (store/) need.
 */
#ifndef LETHE_UTIL_SQLITEUTIL_H
#define LETHE_UTIL_SQLITEUTIL_H

#include <stdbool.h>

#include <sqlite3.h>

/*
 * Turn secure_delete on for connection @h and check that it took: SQLite's
 * upstream default is off (Debian's build turns it on), and a build may cap
 * it (SQLITE_SECURE_DELETE off, or "fast" only).  Returns false if the
 * connection did not take it; sets no error (the caller words the refusal).
 */
bool sqliteutil_secure_delete(sqlite3 *h);

#endif /* LETHE_UTIL_SQLITEUTIL_H */
