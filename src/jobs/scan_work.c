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
#include "engine/scan_media.h"
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

/*
 * "N media objects still in store S, M ... in store T": the stores of
 * @detail's media found again (none: nothing added), after @sep, into @b.
 */
static void
residual_stores(const char *detail, const char *sep, struct buf *b)
{
	json_t *d = json_loads(detail != NULL ? detail : "{}", 0, NULL);
	json_t *stores = json_object_get(json_object_get(d, "media"), "stores"), *s;
	size_t i, n = 0;

	json_array_foreach(stores, i, s)
	{
		json_int_t present = json_integer_value(json_object_get(s, "present"));
		const char *name = json_string_value(json_object_get(s, "store"));

		if (present <= 0 || name == NULL)
			continue;
		buf_addf(b, "%s%lld media object%s still in store %s", n++ ? ", " : sep,
		         (long long)present, present == 1 ? "" : "s", name);
	}
	json_decref(d);
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

/*
 * The objects jobs @job and @prev_job removed, asked about again
 * (scan_media.h), added to detail @j as "media"; @out->result becomes
 * residual if one is there.
 */
static lethe_rc
scan_objects(const struct lethe_config *cfg, struct store *st, int64_t request_id, int64_t job,
             int64_t prev_job, json_t *j, struct store_scan *out, char *media_why,
             struct lethe_err *err)
{
	int64_t jobs[2] = {job, prev_job != job ? prev_job : 0};
	struct scan_media m;
	lethe_rc rc = scan_media_run(cfg->media, st, jobs, 2, &m, err);

	if (rc == LETHE_OK) {
		json_object_set_new(j, "media", scan_media_json(&m));
		if (m.present > 0) {
			snprintf(out->result, sizeof(out->result), "residual");
			json_object_set_new(j, "result", json_string("residual"));
			log_warnx("request %lld: the residual scan found %lld of the %lld media "
			          "objects its erasure removed back in their store",
			          (long long)request_id, (long long)m.present,
			          (long long)m.checked);
		}
	}
	/*
	 * Stores are asked once the records are read: a failure with one begun
	 * is that store's (its message names it, never a key); before, the
	 * state store's, which the log tells.
	 */
	if (rc != LETHE_OK && m.nstores > 0 && media_why != NULL && err != NULL)
		snprintf(media_why, SCAN_WORK_WHY_MAX,
		         "the residual scan could not check the objects removed from media store "
		         "'%s' (%s)",
		         m.stores[m.nstores - 1].store, err->msg);
	scan_media_free(&m);
	/*
	 * The scan could not run: LETHE_E_IO whatever the store said, as a
	 * failed erasure (LETHE_E_UNAVAILABLE means "stopped" to the runner,
	 * LETHE_E_CONFIG would not be retried the same way).
	 */
	if (rc != LETHE_OK && err != NULL)
		err->rc = LETHE_E_IO;
	return rc != LETHE_OK ? LETHE_E_IO : LETHE_OK;
}

lethe_rc
scan_work_after(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                struct store *st, int64_t request_id, int64_t job, int64_t prev_job,
                const char *scope, const struct plan_id *ids, size_t nids, bool changed,
                struct store_scan *out, char *media_why, struct lethe_err *err)
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
		scan_result_free(&res);
		rc = scan_objects(cfg, st, request_id, job, prev_job, j, out, media_why, err);
		if (rc == LETHE_OK)
			out->detail = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
		if (rc != LETHE_OK)
			return rc;
	}
	if (out->detail == NULL)
		out->detail = xstrdup("{}");
	appdb_files(db, changed, out->wal, sizeof(out->wal), &out->secure_delete);
	if (strcmp(out->result, "residual") == 0)
		atomic_fetch_add(&residual_found, 1);
	if (strcmp(out->result, "residual") == 0 && out->rows > 0) {
		struct buf b;

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
	struct buf b, t;
	char *r;

	buf_init(&b, 4096);
	if (s->rows > 0) {
		buf_init(&t, 4096);
		residual_tables(s->detail, &t);
		buf_addf(&b, "%lld row%s in %s", (long long)s->rows, s->rows == 1 ? "" : "s",
		         buf_str(&t)[0] != '\0' ? buf_str(&t) : "the app database");
		buf_free(&t);
	}
	/* Objects its erasure removed, back in their store: counts and store names only. */
	residual_stores(s->detail, s->rows > 0 ? "; " : "", &b);
	r = xasprintf("the residual scan found %s",
	              buf_str(&b)[0] != '\0' ? buf_str(&b) : "0 rows in the app database");
	buf_free(&b);
	return r;
}

lethe_rc
scan_work_forget(struct store *st, int64_t job, int64_t prev_job, struct lethe_err *err)
{
	lethe_rc rc = store_media_forget(st, job, err);

	if (rc == LETHE_OK && prev_job != 0 && prev_job != job)
		rc = store_media_forget(st, prev_job, err);
	return rc;
}
