/* SPDX-License-Identifier: MIT */
/*
 * runner_end.h - the end of a request's run, for the runner (runner.c):
 * the residual scan (scan_work.h), then, in one state-store transaction,
 * the scan's record, the audit chain's entries, the ledger, the media keys
 * kept for the scan forgotten, the final transition and the notices.
 */
#ifndef LETHE_JOBS_RUNNER_END_H
#define LETHE_JOBS_RUNNER_END_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/plan.h"
#include "jobs/runner.h"
#include "store/store.h"

/* What a request's run ends with (runner_finish()). */
struct run_finish {
	const char *state; /* completed, completed_with_retention (before the scan) */
	int64_t job;       /* the job to show, 0 if none */
	/*
	 * An earlier job of this run whose erasure ended but not the request
	 * (a crash, a scan that could not run): its kept media keys are
	 * scanned and forgotten with this one's.  0 if none.
	 */
	int64_t prev_job;
	bool no_data;              /* nothing of the person was found */
	bool erased;               /* this run erased rows (the restore epoch moves on) */
	const struct plan_id *ids; /* the person's identities (in memory only) */
	size_t nids;               /* their number */
	const char *scope;         /* the request's scope */
	int64_t run;               /* the run being done */
	int64_t since;             /* when the run was asked for (the duration's start) */
	/*
	 * Where the scan says which media store it could not check, for the
	 * request's reason (scan_work_after()'s @media_why), or NULL.
	 */
	char *media_why;
};

/*
 * End request @req's run as @f says: the residual scan (and the app
 * database's WAL checkpoint), then, in one state-store transaction, the
 * scan's record, the audit chain's entries of the job and the scan, the
 * ledger, the media keys the erasure kept forgotten, the final transition
 * (failed, with the scan's reason, if rows or objects remain) and the
 * notices to recipients; then @done (may be NULL) with the run's duration
 * unless it failed.  *@state gets the state entered.  An error if the scan
 * could not run or the transaction failed: nothing recorded, run again.
 */
lethe_rc runner_finish(const struct lethe_config *cfg, const struct datamap *dm,
                       runner_done_fn done, struct appdb *db, struct store *st,
                       const struct store_request *req, const struct run_finish *f,
                       const char **state, struct lethe_err *err);

#endif /* LETHE_JOBS_RUNNER_END_H */
