/* SPDX-License-Identifier: MIT */
/*
 * runner_end.c - the end of a request's run (see runner_end.h): the
 * residual scan, then the one state-store transaction that records it.
 * Runs in the runner's thread, on its connections.
 */
#include "util/fmacros.h"

#include <string.h>

#include "jobs/exporter.h"
#include "jobs/job.h"
#include "jobs/ledger_work.h"
#include "jobs/notify.h"
#include "jobs/request_work.h"
#include "jobs/runner_end.h"
#include "jobs/scan_work.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/*
 * End request @req's run: the residual scan (and the app database's WAL
 * checkpoint), then, in one state-store transaction, the scan's record,
 * the audit chain's entries of the job and the scan, the ledger, the media
 * keys kept for the scan forgotten, the final transition (failed, with the
 * scan's reason, if rows or objects remain) and the notices to recipients.
 * *@state gets the state entered.
 */
static lethe_rc
finish_request(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
               struct store *st, const struct store_request *req, const struct run_finish *f,
               const char **state, struct lethe_err *err)
{
	bool meta = req->app[0] != '\0';
	struct request_work_ended ended = {.files = NULL, .nfiles = 0, .lifted = 0};
	struct store_scan scan;
	char *reason = NULL;
	int64_t now, epoch = 0;
	lethe_rc rc;

	*state = f->state;
	rc = scan_work_after(cfg, dm, db, st, req->id, f->job, f->prev_job, f->scope, f->ids,
	                     f->nids, f->erased, &scan, f->media_why, err);
	if (rc != LETHE_OK)
		return rc;
	now = time_now();
	scan.at = now;
	if (strcmp(scan.result, "residual") == 0) {
		*state = "failed";
		reason = scan_work_reason(&scan);
	}
	rc = store_begin(st, err);
	if (rc == LETHE_OK)
		rc = store_scan_put(st, &scan, err);
	if (rc == LETHE_OK)
		rc = store_audit_job(st, req->id, f->erased ? f->job : 0, &scan, now, err);
	/*
	 * Whatever the path, a run that ends well leaves its pending entries
	 * erased: their rows are gone (this run's, or an earlier failed run's).
	 */
	if (rc == LETHE_OK && reason == NULL)
		rc = store_ledger_finish(st, req->id, true, err);
	/* Rows were erased: the restore epoch moves (the app database's marker follows). */
	if (rc == LETHE_OK && f->erased)
		rc = store_restore_epoch(st, true, 0, &epoch, err);
	/*
	 * The object keys the erasure kept for the scan (they may name the
	 * person) go with the run, whatever the scan found.  Only a job this
	 * pass ended: one shown from an earlier run may still have objects to
	 * remove when run again.
	 */
	if (rc == LETHE_OK && f->erased && f->job != 0)
		rc = scan_work_forget(st, f->job, f->prev_job, err);
	if (rc == LETHE_OK && reason != NULL && !meta) {
		struct store_transition t =
		    job_final("received,scheduled,running", "failed", reason, now);
		bool applied = false;

		rc = store_request_transition(st, req->id, &t, &applied, err);
	} else if (rc == LETHE_OK) {
		rc = store_meta_update(st, req->id, *state, f->job, f->no_data, now, f->run, err);
	}
	if (rc == LETHE_OK && reason == NULL && !f->no_data)
		rc = notify_queue(cfg, dm, st, req->id, *state, f->ids, f->nids, now, err);
	/* The person's account is erased: their export archives and restrictions go with it. */
	if (rc == LETHE_OK && reason == NULL)
		rc = request_work_erased(st, req, now, &ended, err);
	if (rc == LETHE_OK)
		rc = store_commit(st, err);
	else
		store_rollback(st);
	for (size_t i = 0; rc == LETHE_OK && i < ended.nfiles; i++)
		exporter_unlink(cfg->exports.dir, ended.files[i]);
	if (rc == LETHE_OK && (ended.nfiles > 0 || ended.lifted > 0))
		log_info("request %lld: the person's %zu export archives deleted and %lld "
		         "restrictions lifted with their account",
		         (long long)req->id, ended.nfiles, (long long)ended.lifted);
	request_work_ended_free(&ended);
	/* A crash before this only makes the next start look once for nothing. */
	if (rc == LETHE_OK && f->erased)
		ledger_work_marker(db, epoch);
	if (rc == LETHE_OK && reason != NULL)
		log_warnx("request %lld: failed: %s", (long long)req->id, reason);
	free(reason);
	store_scan_clear(&scan);
	return rc;
}

lethe_rc
runner_finish(const struct lethe_config *cfg, const struct datamap *dm, runner_done_fn done,
              struct appdb *db, struct store *st, const struct store_request *req,
              const struct run_finish *f, const char **state, struct lethe_err *err)
{
	lethe_rc rc = finish_request(cfg, dm, db, st, req, f, state, err);

	if (rc == LETHE_OK && done != NULL && strcmp(*state, "failed") != 0)
		done((double)(time_now() - f->since), *state,
		     req->kind[0] != '\0' ? req->kind : "erasure");
	return rc;
}
