/* SPDX-License-Identifier: MIT */
/*
 * export_html.c - the archive's two small files (docs/export.md):
 * index.html, a self-contained page a person opens offline (inline CSS, no
 * script, no external URL, every value escaped), and manifest.json, last,
 * with the counts and the SHA-256 of every other entry.
 */
#include "util/fmacros.h"

#include "engine/export_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

static const char page_css[] =
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;"
    "color:#222;line-height:1.5}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}"
    "th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left}"
    "td.n{text-align:right}.kept{background:#fff8e1;padding:.5rem 1rem;border-radius:4px}"
    "small{color:#666}";

void
export_html_str(struct export_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			export_buf_adds(b, "&amp;");
			break;
		case '<':
			export_buf_adds(b, "&lt;");
			break;
		case '>':
			export_buf_adds(b, "&gt;");
			break;
		case '"':
			export_buf_adds(b, "&quot;");
			break;
		case '\'':
			export_buf_adds(b, "&#39;");
			break;
		default:
			export_buf_add(b, s, 1);
			break;
		}
	}
}

/* Append @v as decimal text. */
static void
html_int(struct export_buf *b, int64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", (long long)v);
	export_buf_adds(b, num);
}

/* The rows of category @cat: one table row per archive table. */
static void
html_category(struct export_ctx *x, const char *cat)
{
	struct export_buf *b = &x->out;
	size_t i;

	export_buf_adds(b, "<h2>");
	export_html_str(b, datamap_category_label(cat));
	export_buf_adds(b, "</h2>\n<table><tr><th>Data</th><th>Rows</th><th>File</th>"
	                   "<th>Media files</th></tr>\n");
	for (i = 0; i < x->ntabs; i++) {
		const struct export_table *tab = &x->tabs[i];

		if (strcmp(tab->t->category, cat) != 0)
			continue;
		export_buf_adds(b, "<tr><td>");
		export_html_str(b, tab->t->name);
		export_buf_adds(b, "</td><td class=\"n\">");
		html_int(b, tab->rows);
		export_buf_adds(b, "</td><td><a href=\"");
		export_html_str(b, tab->file);
		export_buf_adds(b, "\">");
		export_html_str(b, tab->file);
		export_buf_adds(b, "</a></td><td class=\"n\">");
		if (tab->media > 0) {
			export_buf_adds(b, "<a href=\"media/");
			export_html_str(b, tab->t->name);
			export_buf_adds(b, "/\">");
			html_int(b, tab->media);
			export_buf_adds(b, "</a>");
		} else {
			html_int(b, tab->media);
		}
		if (tab->media_missing > 0) {
			export_buf_adds(b, " <small>(");
			html_int(b, tab->media_missing);
			export_buf_adds(b, " not found)</small>");
		}
		export_buf_adds(b, "</td></tr>\n");
	}
	export_buf_adds(b, "</table>\n");
}

/* "What was kept and why": each retain part of a table with kept rows. */
static void
html_kept(struct export_ctx *x)
{
	struct export_buf *b = &x->out;
	bool any = false;
	size_t i, s;

	for (i = 0; i < x->ntabs; i++) {
		const struct export_table *tab = &x->tabs[i];

		if (tab->kept == 0)
			continue;
		if (!any)
			export_buf_adds(b, "<h2>What is kept and why</h2>\n");
		any = true;
		for (s = 0; s < x->plan->nsteps; s++) {
			const struct plan_step *ps = &x->plan->steps[s];

			if (ps->table != tab->t || ps->part == NULL ||
			    ps->part->action != DM_RETAIN)
				continue;
			export_buf_adds(b, "<div class=\"kept\"><p><strong>");
			export_html_str(b, tab->t->name);
			export_buf_adds(b, "</strong>: kept for ");
			export_buf_duration(b, ps->part->retain_for);
			if (ps->part->retain_from != NULL) {
				export_buf_adds(b, " from ");
				export_html_str(b, ps->part->retain_from);
			}
			export_buf_adds(b, " even if you ask for your data to be erased. ");
			export_html_str(b, ps->part->reason != NULL ? ps->part->reason : "");
			export_buf_adds(b, "</p><p><small>Such rows carry \"lethe:kept\" in ");
			export_html_str(b, tab->file);
			export_buf_adds(b, ".</small></p></div>\n");
		}
	}
}

lethe_rc
export_index_write(struct export_ctx *x)
{
	struct export_buf *b = &x->out;
	const char *app =
	    x->o->app_name != NULL && x->o->app_name[0] != '\0' ? x->o->app_name : NULL;
	char when[32];
	size_t i, j;
	lethe_rc rc;

	rc = export_entry_begin(x, "index.html", -1, false);
	if (rc != LETHE_OK)
		return rc;
	time_format(x->now, when, sizeof(when));
	export_buf_adds(b,
	                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	                "<title>Your data");
	if (app != NULL) {
		export_buf_adds(b, " from ");
		export_html_str(b, app);
	}
	export_buf_adds(b, "</title>\n<style>");
	export_buf_adds(b, page_css);
	export_buf_adds(b, "</style></head>\n<body>\n<h1>Your data");
	if (app != NULL) {
		export_buf_adds(b, " from ");
		export_html_str(b, app);
	}
	export_buf_adds(b, "</h1>\n<p>Made on ");
	export_html_str(b, when);
	export_buf_adds(b, " UTC. It holds ");
	html_int(b, x->res->rows);
	export_buf_adds(b, " rows and ");
	html_int(b, x->res->media);
	export_buf_adds(b, " media files: everything this service holds that is linked to you");
	export_buf_adds(b, ", grouped by kind below.  Each file under <code>tables/</code> is "
	                   "JSON (one object per row; <code>.jsonl</code>: one per line), "
	                   "readable by any program; <code>manifest.json</code> lists every "
	                   "file with its SHA-256 checksum.  Passwords and access tokens are "
	                   "never included.</p>\n");
	if (x->ntabs == 0 || x->res->rows == 0)
		export_buf_adds(b, "<p>No data linked to you was found.</p>\n");
	for (i = 0; i < x->ntabs; i++) {
		bool seen = false;

		for (j = 0; j < i && !seen; j++)
			seen = strcmp(x->tabs[j].t->category, x->tabs[i].t->category) == 0;
		if (!seen)
			html_category(x, x->tabs[i].t->category);
	}
	html_kept(x);
	export_buf_adds(b, "</body></html>\n");
	return export_entry_end(x, false);
}

json_t *
export_tables_json(const struct export_ctx *x)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < x->ntabs; i++) {
		const struct export_table *t = &x->tabs[i];

		json_array_append_new(arr,
		                      json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "table",
		                                t->t->name, "category", t->t->category, "file",
		                                t->file, "rows", (json_int_t)t->rows, "kept",
		                                (json_int_t)t->kept, "media", (json_int_t)t->media,
		                                "media_missing", (json_int_t)t->media_missing));
	}
	return arr;
}

lethe_rc
export_manifest_write(struct export_ctx *x)
{
	char when[32];
	json_t *m;
	char *text;
	lethe_rc rc;

	/* x->files is the writer thread's until every entry before this one is written. */
	rc = export_zip_sync(x);
	if (rc != LETHE_OK)
		return rc;
	time_format_iso(x->now, when, sizeof(when));
	m = json_pack("{s:s, s:s, s:s, s:o, s:o, s:O, s:I, s:I}", "format", "lethe-export/1",
	              "created_at", when, "scope", x->plan->scope->name, "code",
	              x->o->code != NULL ? json_string(x->o->code) : json_null(), "tables",
	              export_tables_json(x), "files", x->files, "rows", (json_int_t)x->res->rows,
	              "media", (json_int_t)x->res->media);
	text = m != NULL ? json_dumps(m, JSON_INDENT(2)) : NULL;
	json_decref(m);
	if (text == NULL)
		return lethe_err_set(x->err, LETHE_E_INTERNAL, "export: cannot build the manifest");
	rc = export_entry_begin(x, "manifest.json", (int64_t)strlen(text) + 1, false);
	if (rc == LETHE_OK) {
		export_buf_adds(&x->out, text);
		export_buf_add(&x->out, "\n", 1);
		rc = export_entry_end(x, true);
	}
	free(text);
	return rc;
}
