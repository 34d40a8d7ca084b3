/* SPDX-License-Identifier: MIT */
/*
 * scan_work.c - the runner's share of the residual scan (see scan_work.h):
 * the scan of the person after a request's erasure (engine/scan.h), the
 * app database's WAL checkpoint and secure_delete check (db/appdb.h
 * appdb_files()), the warning and the count of scans that found rows.
 *
 * Thread safety: the count is one atomic counter; the rest runs on the
 * caller's connection, in the runner's thread.
 */
#include "util/fmacros.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "engine/scan.h"
#include "jobs/scan_work.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

/* Scans that found rows since the process started (lethe_residual_found_total). */
static atomic_llong residual_found;

int64_t
scan_work_residual_total(void)
{
	return (int64_t)atomic_load(&residual_found);
}

/* "T1, T2 (outside the scope)": the tables of @detail's residual rows, into @b. */
static void
residual_tables(const char *detail, struct buf *b)
{
	json_t *d = json_loads(detail != NULL ? detail : "{}", 0, NULL);
	json_t *found = json_object_get(d, "found"), *f;
	size_t i, n = 0;

	json_array_foreach(found, i, f)
	{
		const char *t = json_string_value(json_object_get(f, "table"));

		if (t == NULL || json_is_true(json_object_get(f, "kept")) ||
		    json_is_true(json_object_get(f, "anonymized")))
			continue;
		buf_addf(b, "%s%s%s", n++ ? ", " : "", t,
		         json_is_true(json_object_get(f, "outside")) ? " (outside the scope)" : "");
	}
	json_decref(d);
}

lethe_rc
scan_work_run(const struct datamap *dm, struct appdb *db, const char *scope,
              const struct plan_id *ids, size_t nids, struct scan_result *res,
              struct lethe_err *err)
{
	return scan_run_any(dm, db, scope, ids, nids, 0, res, err);
}

lethe_rc
scan_work_after(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                int64_t request_id, int64_t job, const char *scope, const struct plan_id *ids,
                size_t nids, bool changed, struct store_scan *out, struct lethe_err *err)
{
	struct scan_result res;
	lethe_rc rc = LETHE_OK;

	memset(out, 0, sizeof(*out));
	memset(&res, 0, sizeof(res));
	out->request_id = request_id;
	out->job_id = job;
	snprintf(out->result, sizeof(out->result), "skipped");
	if (cfg->proof.scan && nids > 0) {
		json_t *j;

		rc = scan_work_run(dm, db, scope, ids, nids, &res, err);
		if (rc != LETHE_OK)
			return rc;
		snprintf(out->result, sizeof(out->result), "%s",
		         res.residual ? "residual" : "clean");
		out->rows = res.rows;
		out->kept = res.kept;
		out->tables = res.tables;
		j = scan_result_json(&res);
		out->detail = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
		scan_result_free(&res);
	}
	if (out->detail == NULL)
		out->detail = xstrdup("{}");
	appdb_files(db, changed, out->wal, sizeof(out->wal), &out->secure_delete);
	if (strcmp(out->result, "residual") == 0) {
		struct buf b;

		atomic_fetch_add(&residual_found, 1);
		buf_init(&b, 4096);
		residual_tables(out->detail, &b);
		log_warnx("request %lld: the residual scan found %lld rows of the person after "
		          "its erasure, in %s",
		          (long long)request_id, (long long)out->rows, buf_str(&b));
		buf_free(&b);
	}
	return rc;
}

char *
scan_work_reason(const struct store_scan *s)
{
	struct buf b;
	char *r;

	buf_init(&b, 4096);
	residual_tables(s->detail, &b);
	r = xasprintf("the residual scan found %lld row%s in %s", (long long)s->rows,
	              s->rows == 1 ? "" : "s",
	              buf_str(&b)[0] != '\0' ? buf_str(&b) : "the app database");
	buf_free(&b);
	return r;
}
