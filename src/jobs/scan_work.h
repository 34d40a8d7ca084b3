/* SPDX-License-Identifier: MIT */
/*
 * scan_work.h - the runner's share of the residual scan: after a request's
 * erasure, scan the app database for the person (engine/scan.h), then
 * checkpoint the app database's WAL and read its secure_delete setting, so
 * erased values do not linger in its files (docs/proof.md).
 */
#ifndef LETHE_JOBS_SCAN_WORK_H
#define LETHE_JOBS_SCAN_WORK_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/plan.h"
#include "store/store.h"

struct scan_result; /* engine/scan.h */

/* Room for scan_work_after()'s @media_why: its words, a store's name and message. */
#define SCAN_WORK_WHY_MAX (LETHE_ERR_MAX + 192)

/*
 * The runner's scan of the person @ids (@nids) for scope @scope, into @res
 * (free with scan_result_free()): every identity taken whatever the scope
 * (scan_run_any(..., 0)), as a request's kinds were checked when it was
 * taken and a Meta request's deauthorized channels are lethe's own.  Used
 * by scan_work_after() and by `lethe scan` (service_scan(), which checks
 * the kinds it is given first), so the two are one check.
 */
lethe_rc scan_work_run(const struct datamap *dm, struct appdb *db, const char *scope,
                       const struct plan_id *ids, size_t nids, struct scan_result *res,
                       struct lethe_err *err);
/*
 * After request @request_id's erasure (job @job, 0 if none ran; @changed:
 * it changed rows): the scan of scope @scope for the @nids identities @ids
 * (result "skipped" when proof.scan is off), then the media objects job
 * @job removed asked about again in their stores (engine/scan_media.h,
 * from @st's records: detail "media"), and those of @prev_job (0: none),
 * an earlier job of the same run whose erasure ended before its request
 * did (a crash, a scan that could not run), then, if @changed, the app
 * database's WAL checkpoint, and its secure_delete setting; all into @out
 * (free with store_scan_clear()).  LETHE_OK whatever the scan found
 * (@out->result says: residual if rows remain or an object is back); an
 * error only if it could not run (a store that cannot say is one).  Logs
 * one warning naming the request and the tables or counts (never a value
 * nor a key) when something remains.  @media_why (SCAN_WORK_WHY_MAX bytes,
 * or NULL): when it could not run because a media store could not say,
 * "the residual scan could not check the objects removed from media store
 * S (the store's message)", for the request's reason (the store named,
 * never a key: media.h); else left as it was.
 */
lethe_rc scan_work_after(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                         struct store *st, int64_t request_id, int64_t job, int64_t prev_job,
                         const char *scope, const struct plan_id *ids, size_t nids, bool changed,
                         struct store_scan *out, char *media_why, struct lethe_err *err);
/*
 * The reason a request fails with when scan @s found rows or objects: "the
 * residual scan found N rows in T1, T2 (outside the scope); M media
 * objects still in store S" (table and store names and counts, never a
 * value nor a key); caller frees.
 */
char *scan_work_reason(const struct store_scan *s);
/*
 * Forget the media keys jobs @job and @prev_job (0: none; equal: one job)
 * kept for the scan (store_media_forget()): when their request ends, with
 * or without its scan.  Only jobs that ended: a job still running needs its
 * records to remove what it has not removed yet.
 */
lethe_rc scan_work_forget(struct store *st, int64_t job, int64_t prev_job, struct lethe_err *err);
/* Scans since the process started that found rows (lethe_residual_found_total); thread-safe. */
int64_t scan_work_residual_total(void);

#endif /* LETHE_JOBS_SCAN_WORK_H */
