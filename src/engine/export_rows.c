/* SPDX-License-Identifier: MIT */
/*
 * export_rows.c - the archive's rows and media (docs/export.md): each
 * table's columns and counts, its rows (read by export_walk.c in keyset
 * batches on its key) written as JSON by hand into one reusable buffer (no
 * object per row), then the media files those rows name, read again the
 * same way and read through each column's media store (media_open(): a
 * local file beneath its root, one path segment at a time, never through
 * a symbolic link; a remote object downloaded into an unlinked temporary
 * file).  Memory: one batch and the buffer.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <math.h>
#include <unistd.h>

#include "db/sql.h"
#include "engine/export_internal.h"
#include "util/mem.h"

/* ---- buffers and JSON ------------------------------------------------------ */

void
export_buf_need(struct export_buf *b, size_t extra)
{
	if (b->n + extra > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->n + extra)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
}

void
export_buf_add(struct export_buf *b, const void *p, size_t n)
{
	export_buf_need(b, n);
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

void
export_buf_adds(struct export_buf *b, const char *s)
{
	export_buf_add(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at @s (@n bytes left, s[0] >= 0x80), 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0; /* overlong, surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0; /* overlong, above U+10FFFF */
		return 4;
	}
	return 0;
}

void
export_json_str(struct export_buf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	/* At most 6 bytes out per byte in ("\u00XX"), and the quotes. */
	export_buf_need(b, n * 6 + 2);
	b->p[b->n++] = '"';
	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		char *o;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			run++;
			continue;
		}
		memcpy(b->p + b->n, s + i - run, run);
		b->n += run;
		run = 0;
		o = b->p + b->n;
		if (c >= 0x80) {
			len = utf8_seq(s + i, n - i);
			if (len > 0) {
				memcpy(o, s + i, len);
				b->n += len;
				i += len;
			} else {
				memcpy(o, "\\ufffd", 6);
				b->n += 6;
				i++;
			}
			continue;
		}
		o[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			o[1] = (char)c;
			break;
		case '\n':
			o[1] = 'n';
			break;
		case '\r':
			o[1] = 'r';
			break;
		case '\t':
			o[1] = 't';
			break;
		case '\b':
			o[1] = 'b';
			break;
		case '\f':
			o[1] = 'f';
			break;
		default:
			memcpy(o + 1, "u00", 3);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			b->n += 4;
			break;
		}
		b->n += 2;
		i++;
	}
	memcpy(b->p + b->n, s + i - run, run);
	b->n += run;
	b->p[b->n++] = '"';
}

void
export_buf_duration(struct export_buf *b, int64_t secs)
{
	static const struct {
		int64_t s;
		char u;
	} units[] = {{365 * 86400, 'y'}, {7 * 86400, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}};
	char num[32];
	size_t i;
	char u = 's';
	int64_t v = secs;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (secs > 0 && secs % units[i].s == 0) {
			v = secs / units[i].s;
			u = units[i].u;
			break;
		}
	}
	snprintf(num, sizeof(num), "%lld%c", (long long)v, u);
	export_buf_adds(b, num);
}

/* Append integer @v. */
static void
buf_int(struct export_buf *b, int64_t v)
{
	char tmp[24];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	size_t k = sizeof(tmp);

	do {
		tmp[--k] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		tmp[--k] = '-';
	export_buf_add(b, tmp + k, sizeof(tmp) - k);
}

/* Append value @v as JSON: integer, real (null if not finite), text, {"base64": ...}. */
static void
buf_val(struct export_buf *b, const struct appdb_val *v)
{
	char num[40];

	switch (v->type) {
	case APPDB_INT:
		buf_int(b, v->i);
		break;
	case APPDB_REAL:
		if (!isfinite(v->r)) {
			export_buf_add(b, "null", 4);
			break;
		}
		snprintf(num, sizeof(num), "%.17g", v->r);
		export_buf_adds(b, num);
		if (strpbrk(num, ".eE") == NULL)
			export_buf_add(b, ".0", 2);
		break;
	case APPDB_TEXT:
		if (v->blob) {
			size_t need =
			    sodium_base64_encoded_len(v->len, sodium_base64_VARIANT_ORIGINAL);

			export_buf_adds(b, "{\"base64\":\"");
			export_buf_need(b, need);
			sodium_bin2base64(b->p + b->n, need, (const unsigned char *)v->s, v->len,
			                  sodium_base64_VARIANT_ORIGINAL);
			b->n += need - 1;
			export_buf_add(b, "\"}", 2);
		} else {
			/* len: bytes with any NUL inside; a driver that leaves it 0 gives C text.
			 */
			export_json_str(b, v->s, v->len > 0 ? v->len : strlen(v->s));
		}
		break;
	case APPDB_NULL:
	default:
		export_buf_add(b, "null", 4);
		break;
	}
}

/* ---- tables ---------------------------------------------------------------- */

lethe_rc
export_check_stop(struct export_ctx *x)
{
	if (x->o->stop != NULL && *x->o->stop)
		return lethe_err_set(x->err, LETHE_E_UNAVAILABLE,
		                     "export: stopped; the archive is made again when run again");
	if (x->o->cancelled != NULL && x->o->cancelled(x->o->arg))
		return lethe_err_set(x->err, LETHE_E_CONFLICT, "export: the request was cancelled");
	return LETHE_OK;
}

/* Rows of step @ps: its count if the plan has one, else counted now. */
static lethe_rc
step_rows(struct export_ctx *x, const struct plan_step *ps, int64_t *out)
{
	struct sql q;
	lethe_rc rc;

	if (ps->rows >= 0) {
		*out = ps->rows;
		return LETHE_OK;
	}
	sql_init(&q, x->db, EXPORT_SQL_CAP);
	sql_add(&q, "SELECT COUNT(*) FROM ");
	sql_ident(&q, ps->table->name);
	sql_add(&q, " WHERE ");
	sql_fragment(&q, ps->where, ps->params, ps->nparams);
	rc = sql_rc(&q);
	if (rc != LETHE_OK)
		rc = lethe_err_set(x->err, rc, "export: the count query of '%s' is too long",
		                   ps->table->name);
	else
		rc = appdb_query_int(x->db, sql_str(&q), sql_vals(&q), sql_nvals(&q), out, x->err);
	sql_free(&q);
	return rc;
}

/* Fill @tab's columns from the catalogue: every exportable column, in the table's order. */
static lethe_rc
table_columns(struct export_ctx *x, struct export_table *tab)
{
	struct appdb_table cat;
	struct export_buf k = {0};
	lethe_rc rc;
	size_t i;

	memset(&cat, 0, sizeof(cat));
	rc = appdb_table_info(x->db, tab->t->name, &cat, x->err);
	if (rc != LETHE_OK)
		return rc;
	tab->names = xcalloc(cat.ncols + 1, sizeof(char *));
	tab->keys = xcalloc(cat.ncols + 1, sizeof(char *));
	for (i = 0; i < cat.ncols; i++) {
		if (!dm_column_exportable(tab->t, cat.cols[i].name) ||
		    !appdb_ident_ok(cat.cols[i].name))
			continue;
		k.n = 0;
		export_json_str(&k, cat.cols[i].name, strlen(cat.cols[i].name));
		export_buf_add(&k, ":", 2); /* with the NUL */
		tab->names[tab->ncols] = xstrdup(cat.cols[i].name);
		tab->keys[tab->ncols] = xstrdup(k.p);
		tab->ncols++;
	}
	free(k.p);
	appdb_table_free(&cat);
	return LETHE_OK;
}

lethe_rc
export_tables_init(struct export_ctx *x)
{
	const struct datamap *dm = x->plan->dm;
	lethe_rc rc = LETHE_OK;
	size_t i, s;

	x->tabs = xcalloc(dm->ntables + 1, sizeof(*x->tabs));
	for (i = 0; i < dm->ntables && rc == LETHE_OK; i++) {
		struct export_table *tab = &x->tabs[x->ntabs];
		bool any = false;

		for (s = 0; s < x->plan->nsteps && rc == LETHE_OK; s++) {
			int64_t n = 0;

			if (x->plan->steps[s].table != &dm->tables[i])
				continue;
			any = true;
			rc = step_rows(x, &x->plan->steps[s], &n);
			tab->planned += n;
		}
		if (!any || rc != LETHE_OK)
			continue;
		tab->t = &dm->tables[i];
		x->ntabs++;
		tab->jsonl = x->o->jsonl_from >= 0 && tab->planned > x->o->jsonl_from;
		snprintf(tab->file, sizeof(tab->file), "tables/%s.%s", tab->t->name,
		         tab->jsonl ? "jsonl" : "json");
		rc = table_columns(x, tab);
	}
	return rc;
}

void
export_tables_free(struct export_ctx *x)
{
	size_t i, c;

	for (i = 0; i < x->ntabs; i++) {
		for (c = 0; c < x->tabs[i].ncols; c++) {
			free(x->tabs[i].names[c]);
			free(x->tabs[i].keys[c]);
		}
		free(x->tabs[i].names);
		free(x->tabs[i].keys);
	}
	free(x->tabs);
	x->tabs = NULL;
	x->ntabs = 0;
}

/* The "lethe:kept" member of rows of a retain part, with its leading comma. */
static char *
kept_member(const struct dm_erase *part)
{
	struct export_buf b = {0};

	export_buf_adds(&b, ",\"lethe:kept\":{\"reason\":");
	export_json_str(&b, part->reason ? part->reason : "",
	                part->reason ? strlen(part->reason) : 0);
	export_buf_adds(&b, ",\"for\":\"");
	export_buf_duration(&b, part->retain_for);
	export_buf_add(&b, "\"", 1);
	if (part->retain_from != NULL) {
		export_buf_adds(&b, ",\"from\":");
		export_json_str(&b, part->retain_from, strlen(part->retain_from));
	}
	export_buf_add(&b, "}", 2); /* with the NUL */
	return b.p;
}

/* One row of a table file: its object, marked if its step keeps it. */
static lethe_rc
row_out(struct export_ctx *x, struct export_table *tab, struct appdb *db, struct appdb_stmt *st)
{
	struct appdb_val v;
	size_t c;

	if (tab->rows > 0)
		export_buf_add(&x->out, tab->jsonl ? "\n" : ",\n", tab->jsonl ? 1 : 2);
	export_buf_add(&x->out, "{", 1);
	for (c = 0; c < tab->ncols; c++) {
		if (c > 0)
			export_buf_add(&x->out, ",", 1);
		export_buf_adds(&x->out, tab->keys[c]);
		appdb_column(db, st, (int)c + 1, &v);
		buf_val(&x->out, &v);
	}
	if (tab->kept_json != NULL) {
		export_buf_adds(&x->out, tab->kept_json);
		tab->kept++;
	}
	export_buf_add(&x->out, "}", 1);
	tab->rows++;
	return export_entry_flush(x, EXPORT_FLUSH);
}

/* Write the rows of step @ps into the open entry of @tab. */
static lethe_rc
rows_of_step(struct export_ctx *x, struct export_table *tab, const struct plan_step *ps)
{
	lethe_rc rc;

	tab->kept_json = NULL;
	if (ps->part != NULL && ps->part->action == DM_RETAIN)
		tab->kept_json = kept_member(ps->part);
	rc = export_step_walk(x, tab, ps, ps->rows >= 0 ? ps->rows : tab->planned, tab->names,
	                      tab->ncols, row_out);
	free(tab->kept_json);
	tab->kept_json = NULL;
	return rc;
}

lethe_rc
export_rows_write(struct export_ctx *x, struct export_table *tab)
{
	lethe_rc rc;
	size_t s;

	rc = export_entry_begin(x, tab->file, -1, false);
	if (rc == LETHE_OK && !tab->jsonl)
		export_buf_add(&x->out, "[\n", 2);
	for (s = 0; s < x->plan->nsteps && rc == LETHE_OK; s++)
		if (x->plan->steps[s].table == tab->t)
			rc = rows_of_step(x, tab, &x->plan->steps[s]);
	if (rc == LETHE_OK) {
		if (!tab->jsonl)
			export_buf_add(&x->out, tab->rows > 0 ? "\n]\n" : "]\n",
			               tab->rows > 0 ? 3 : 2);
		else if (tab->rows > 0)
			export_buf_add(&x->out, "\n", 1);
		rc = export_entry_end(x, false);
	}
	x->res->rows += tab->rows;
	x->res->kept += tab->kept;
	return rc;
}

/* ---- media ----------------------------------------------------------------- */

/*
 * Open media object @key of column @c of @tab through its store
 * (media_open(): a local file beneath its root, or a remote object
 * downloaded into x->tmpdir).  *@fd -1 and LETHE_OK if it is not there (or
 * its store is not configured): counted missing by the caller.  Any other
 * failure of the store fails the archive: a partial one is never written.
 */
static lethe_rc
media_obj_open(struct export_ctx *x, struct export_table *tab, size_t c, const char *key, int *fd,
               int64_t *size)
{
	const struct media_store *m =
	    x->o->media != NULL ? media_set_get(x->o->media, tab->t->media_store[c]) : NULL;
	char why[LETHE_ERR_MAX];
	lethe_rc rc;

	*fd = -1;
	*size = 0;
	if (m == NULL)
		return LETHE_OK;
	rc = media_open(m, key, x->tmpdir, EXPORT_MEDIA_MAX, fd, size, x->err);
	if (rc == LETHE_OK || rc == LETHE_E_NOTFOUND) {
		if (rc != LETHE_OK)
			*fd = -1;
		return LETHE_OK;
	}
	*fd = -1;
	/*
	 * The store's message names it (never the key): the table is added.
	 * LETHE_E_IO whatever the store said: LETHE_E_UNAVAILABLE means
	 * "stopped" to the exporter, which would neither log nor count it.
	 */
	snprintf(why, sizeof(why), "%s", x->err->msg);
	snprintf(x->res->media_failure, sizeof(x->res->media_failure),
	         "a media object of table %s could not be read (%s)", tab->t->name, why);
	return lethe_err_set(x->err, LETHE_E_IO, "export: a media file of '%s' cannot be read: %s",
	                     tab->t->name, why);
}

/* Append @s to @b as a safe path segment: [A-Za-z0-9._-], others '_', never "." or "..". */
static void
buf_segment(struct export_buf *b, const char *s)
{
	size_t i, n = strlen(s);

	if (n > 120)
		n = 120;
	if (n == 0 || s[0] == '.')
		export_buf_add(b, "_", 1);
	for (i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		export_buf_add(b, ok ? &c : "_", 1);
	}
}

/* Write media file @fd (@size bytes) as entry media/<table>/<key>/<basename of @skey>. */
static lethe_rc
media_entry(struct export_ctx *x, struct export_table *tab, const struct appdb_val *key,
            const char *skey, const char *prefix, int fd, int64_t size)
{
	struct export_buf path = {0};
	const char *base = strrchr(skey, '/');
	int64_t done = 0;
	char num[32], extra;
	lethe_rc rc;

	export_buf_adds(&path, "media/");
	buf_segment(&path, tab->t->name);
	export_buf_add(&path, "/", 1);
	if (key->type == APPDB_INT) {
		snprintf(num, sizeof(num), "%lld", (long long)key->i);
		export_buf_adds(&path, num);
	} else if (key->type == APPDB_TEXT) {
		buf_segment(&path, key->s);
	} else {
		export_buf_add(&path, "_", 1);
	}
	export_buf_add(&path, "/", 1);
	if (prefix != NULL) {
		buf_segment(&path, prefix);
		export_buf_add(&path, "-", 1);
	}
	buf_segment(&path, base != NULL ? base + 1 : skey);
	export_buf_add(&path, "", 1);
	rc = export_entry_begin(x, path.p, size, true);
	free(path.p);
	/* Exactly @size bytes: a file that shrinks or grows meanwhile fails the export. */
	while (rc == LETHE_OK && done < size) {
		size_t want = size - done < EXPORT_FLUSH ? (size_t)(size - done) : EXPORT_FLUSH;
		ssize_t n;

		export_buf_need(&x->out, want);
		n = read(fd, x->out.p + x->out.n, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = lethe_err_set(x->err, LETHE_E_IO,
			                   "export: cannot read a media file of '%s': %s",
			                   tab->t->name, strerror(errno));
		if (n <= 0)
			break;
		x->out.n += (size_t)n;
		done += n;
		rc = export_entry_flush(x, 0);
	}
	if (rc == LETHE_OK && (done != size || read(fd, &extra, 1) != 0))
		rc = lethe_err_set(x->err, LETHE_E_IO,
		                   "export: a media file of '%s' changed size while read",
		                   tab->t->name);
	if (rc == LETHE_OK)
		rc = export_entry_end(x, false);
	if (rc == LETHE_OK) {
		tab->media++;
		x->res->media++;
		x->res->media_bytes += size;
	}
	return rc;
}

/* True if stored keys @a and @b end in names buf_segment() writes alike. */
static bool
same_file_name(const char *a, const char *b)
{
	struct export_buf sa = {0}, sb = {0};
	const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
	bool same;

	buf_segment(&sa, ba != NULL ? ba + 1 : a);
	buf_segment(&sb, bb != NULL ? bb + 1 : b);
	same = sa.n == sb.n && memcmp(sa.p, sb.p, sa.n) == 0;
	free(sa.p);
	free(sb.p);
	return same;
}

/*
 * The media files one row names (its media columns).  A file whose name
 * an earlier column of the row gave already gets the column's name in
 * front ("cover-1.png"), so no two entries share a path.
 */
static lethe_rc
media_row(struct export_ctx *x, struct export_table *tab, struct appdb *db, struct appdb_stmt *st)
{
	const char *seen[EXPORT_MEDIA_COLS];
	struct appdb_val key, v;
	lethe_rc rc = LETHE_OK;
	size_t c, k, nseen = 0;

	appdb_column(db, st, 0, &key);
	for (c = 0; c < tab->t->nmedia && rc == LETHE_OK; c++) {
		const char *prefix = NULL;
		int64_t size = 0;
		int fd = -1;

		appdb_column(db, st, (int)c + 1, &v);
		if (v.type != APPDB_TEXT || v.blob || v.s[0] == '\0')
			continue;
		for (k = 0; k < nseen && prefix == NULL; k++)
			if (same_file_name(seen[k], v.s))
				prefix = tab->t->media[c];
		if (nseen < EXPORT_MEDIA_COLS)
			seen[nseen++] = v.s; /* valid until the next step: columns differ */
		rc = media_obj_open(x, tab, c, v.s, &fd, &size);
		if (rc != LETHE_OK)
			break;
		if (fd < 0) {
			tab->media_missing++;
			x->res->media_missing++;
			continue;
		}
		rc = media_entry(x, tab, &key, v.s, prefix, fd, size);
		close(fd);
	}
	return rc;
}

lethe_rc
export_media_write(struct export_ctx *x, struct export_table *tab)
{
	lethe_rc rc = LETHE_OK;
	size_t s;

	if (tab->t->nmedia == 0)
		return LETHE_OK;
	for (s = 0; s < x->plan->nsteps && rc == LETHE_OK; s++)
		if (x->plan->steps[s].table == tab->t)
			rc = export_step_walk(x, tab, &x->plan->steps[s],
			                      x->plan->steps[s].rows >= 0 ? x->plan->steps[s].rows
			                                                  : tab->planned,
			                      tab->t->media, tab->t->nmedia, media_row);
	return rc;
}
