/* SPDX-License-Identifier: MIT */
/*
 * appdb.c - driver selection, the dialect's quoting and placeholders, and
 * convenience queries over the appdb vtable (see appdb.h).
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <stdio.h>

#include "db/appdb.h"
#include "util/mem.h"
#include "util/pq.h"

struct appdb *
appdb_open(const char *url, const char *base_dir, struct lethe_err *err)
{
	struct appdb *db;
	const char *path = url;
	char *full = NULL;
	lethe_rc rc;

	if (pq_is_url(url)) {
		/* libpq reads the URL itself; target is for messages: no password. */
		db = xcalloc(1, sizeof(*db));
		db->ops = &appdb_pg_ops;
		db->target = pq_url_redacted(url);
		rc = db->ops->open(db, url, err);
		if (rc != LETHE_OK) {
			free(db->target);
			free(db);
			return NULL;
		}
		return db;
	}
	if (strncmp(url, "sqlite:", 7) == 0)
		path = url + 7;
	if (path[0] == '\0') {
		lethe_err_set(err, LETHE_E_CONFIG, "empty database path");
		return NULL;
	}
	if (path[0] != '/' && base_dir != NULL && base_dir[0] != '\0')
		full = xasprintf("%s/%s", base_dir, path);
	else
		full = xstrdup(path);
	db = xcalloc(1, sizeof(*db));
	db->ops = &appdb_sqlite_ops;
	db->target = full;
	rc = db->ops->open(db, full, err);
	if (rc != LETHE_OK) {
		free(db->target);
		free(db);
		return NULL;
	}
	return db;
}

void
appdb_close(struct appdb *db)
{
	if (db == NULL)
		return;
	db->ops->close(db);
	free(db->target);
	free(db);
}

bool
appdb_ident_ok(const char *name)
{
	size_t i;

	if (name == NULL || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
		return false;
	for (i = 1; name[i] != '\0'; i++) {
		if (i >= 63)
			return false;
		if (!(isalnum((unsigned char)name[i]) || name[i] == '_'))
			return false;
	}
	return true;
}

/* Is @name one of the @n strings @v? */
static bool
in_list(const char *name, const char *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, v[i]) == 0)
			return true;
	return false;
}

bool
appdb_leads_row(struct appdb_leads *m, const char *idx, int64_t seq, const char *col,
                const char *const *lead, size_t nlead, const char *column)
{
	if (idx == NULL)
		return false;
	if (m->cur == NULL || strcmp(m->cur, idx) != 0) {
		free(m->cur);
		m->cur = xstrdup(idx);
		m->ok = 0;
	}
	if (col == NULL || seq != (int64_t)m->ok || m->ok > nlead)
		return false;
	if (m->ok < nlead && in_list(col, lead, nlead))
		m->ok++;
	else if (m->ok == nlead && strcmp(col, column) == 0)
		return true;
	else
		m->ok = nlead + 1; /* this index does not fit */
	return false;
}

void
appdb_leads_done(struct appdb_leads *m)
{
	free(m->cur);
	m->cur = NULL;
}

const struct appdb_dialect *
appdb_dialect(const struct appdb *db)
{
	return db->ops->dialect;
}

lethe_rc
appdb_quote(struct appdb *db, struct buf *b, const char *name)
{
	return db->ops->dialect->quote(b, name);
}

lethe_rc
appdb_param(struct appdb *db, struct buf *b, int n)
{
	return db->ops->dialect->param(b, n);
}

lethe_rc
appdb_prepare(struct appdb *db, const char *sql, struct appdb_stmt **st, struct lethe_err *err)
{
	return db->ops->prepare(db, sql, st, err);
}

lethe_rc
appdb_bind_all(struct appdb *db, struct appdb_stmt *st, const struct appdb_val *v, size_t n)
{
	size_t i;
	lethe_rc rc;

	for (i = 0; i < n; i++) {
		rc = db->ops->bind(st, (int)i + 1, &v[i]);
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

enum appdb_step
appdb_step(struct appdb *db, struct appdb_stmt *st, struct lethe_err *err)
{
	return db->ops->step(st, err);
}

void
appdb_column(struct appdb *db, struct appdb_stmt *st, int i, struct appdb_val *out)
{
	db->ops->column(st, i, out);
}

void
appdb_reset(struct appdb *db, struct appdb_stmt *st)
{
	db->ops->reset(st);
}

void
appdb_finalize(struct appdb *db, struct appdb_stmt *st)
{
	if (st != NULL)
		db->ops->finalize(st);
}

lethe_rc
appdb_query_int(struct appdb *db, const char *sql, const struct appdb_val *p, size_t n,
                int64_t *out, struct lethe_err *err)
{
	struct appdb_stmt *st = NULL;
	struct appdb_val v;
	enum appdb_step s;
	lethe_rc rc;

	*out = 0;
	rc = appdb_prepare(db, sql, &st, err);
	if (rc != LETHE_OK)
		return rc;
	rc = appdb_bind_all(db, st, p, n);
	if (rc != LETHE_OK) {
		lethe_err_set(err, rc, "cannot bind parameters");
		goto out;
	}
	s = appdb_step(db, st, err);
	if (s == APPDB_ERROR) {
		rc = err ? err->rc : LETHE_E_DB;
		goto out;
	}
	if (s == APPDB_ROW) {
		appdb_column(db, st, 0, &v);
		*out = v.type == APPDB_INT ? v.i : 0;
	}
out:
	appdb_finalize(db, st);
	return rc;
}

lethe_rc
appdb_exec(struct appdb *db, const char *sql, const struct appdb_val *p, size_t n, int64_t *changes,
           struct lethe_err *err)
{
	struct appdb_stmt *st = NULL;
	enum appdb_step s;
	lethe_rc rc;

	rc = appdb_prepare(db, sql, &st, err);
	if (rc != LETHE_OK)
		return rc;
	rc = appdb_bind_all(db, st, p, n);
	if (rc != LETHE_OK) {
		lethe_err_set(err, rc, "cannot bind parameters");
		goto out;
	}
	do
		s = appdb_step(db, st, err);
	while (s == APPDB_ROW);
	if (s == APPDB_ERROR) {
		rc = err ? err->rc : LETHE_E_DB;
		goto out;
	}
	if (changes != NULL)
		*changes = db->ops->changes(db);
out:
	appdb_finalize(db, st);
	return rc;
}

lethe_rc
appdb_table_info(struct appdb *db, const char *table, struct appdb_table *t, struct lethe_err *err)
{
	memset(t, 0, sizeof(*t));
	return db->ops->table_info(db, table, t, err);
}

void
appdb_table_free(struct appdb_table *t)
{
	size_t i;

	for (i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].type);
	}
	free(t->cols);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

int
appdb_table_find(const struct appdb_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return (int)i;
	return -1;
}

void
appdb_bulk(struct appdb *db, bool on)
{
	if (db->ops->bulk != NULL)
		db->ops->bulk(db, on);
}

void
appdb_flush(struct appdb *db)
{
	if (db->ops->flush != NULL)
		db->ops->flush(db);
}

void
appdb_files(struct appdb *db, bool checkpoint, char *wal, size_t cap, int *secure_delete)
{
	if (db->ops->files != NULL) {
		db->ops->files(db, checkpoint, wal, cap, secure_delete);
		return;
	}
	snprintf(wal, cap, "not_sqlite");
	*secure_delete = -1;
}

lethe_rc
appdb_marker_get(struct appdb *db, int64_t *epoch, struct lethe_err *err)
{
	*epoch = 0;
	if (db->ops->marker_get == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "the %s driver keeps no restore marker",
		                     db->ops->name);
	return db->ops->marker_get(db, epoch, err);
}

lethe_rc
appdb_marker_set(struct appdb *db, int64_t epoch, int64_t if_was, struct lethe_err *err)
{
	if (db->ops->marker_set == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "the %s driver keeps no restore marker",
		                     db->ops->name);
	return db->ops->marker_set(db, epoch, if_was, err);
}

lethe_rc
appdb_oldest_xact(struct appdb *db, struct appdb_xact *out, struct lethe_err *err)
{
	if (db->ops->oldest_xact == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "the %s driver has no transaction horizon to look at",
		                     db->ops->name);
	return db->ops->oldest_xact(db, out, err);
}
