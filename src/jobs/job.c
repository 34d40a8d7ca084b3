/* SPDX-License-Identifier: MIT */
/*
 * job.c - the request threads' shared bookkeeping (see job.h): failure
 * counts in a row, and transitions in a transaction of their own.
 */
#include "util/fmacros.h"

#include <stdio.h>
#include <string.h>

#include "jobs/job.h"
#include "util/log.h"
#include "util/timeutil.h"

bool
job_fails_count(struct job_fails *f, int64_t id, bool ok)
{
	size_t i, slot = 0;

	for (i = 0; i < JOB_FAILS_TRACKED; i++)
		if (f->t[i].id == id)
			break;
	if (i == JOB_FAILS_TRACKED) {
		if (ok)
			return false;
		for (i = 0; i < JOB_FAILS_TRACKED; i++)
			if (f->t[i].n < f->t[slot].n)
				slot = i;
		i = slot;
		f->t[i].id = id;
		f->t[i].n = 0;
	}
	if (ok || ++f->t[i].n >= JOB_FAILS_MAX) {
		bool give_up = !ok;

		f->t[i].id = 0;
		f->t[i].n = 0;
		return give_up;
	}
	return false;
}

lethe_rc
job_transition(struct store *st, int64_t id, const struct store_transition *t, bool *applied,
               struct lethe_err *err)
{
	lethe_rc rc = store_begin(st, err);

	*applied = false;
	if (rc == LETHE_OK)
		rc = store_request_transition(st, id, t, applied, err);
	if (rc == LETHE_OK)
		rc = store_commit(st, err);
	else
		store_rollback(st);
	return rc;
}

struct store_transition
job_final(const char *from, const char *to, const char *reason, int64_t now)
{
	struct store_transition t = {
	    .from = from,
	    .to = to,
	    .actor = "lethe",
	    .reason = reason,
	    .now = now,
	    .not_before = -1,
	    .expires_at = -1,
	    .completed_at = now,
	    .effects = -1,
	};

	return t;
}

lethe_rc
job_finish(struct store *st, int64_t id, const char *from, const char *to, const char *reason,
           bool *applied, struct lethe_err *err)
{
	struct store_transition t = job_final(from, to, reason, time_now());
	bool done = false;
	lethe_rc rc = job_transition(st, id, &t, &done, err);

	if (applied != NULL)
		*applied = done;
	return rc;
}

void
job_fail_reason(const char *what, const char *why, char out[JOB_REASON_MAX])
{
	if (why != NULL && why[0] != '\0')
		snprintf(out, JOB_REASON_MAX,
		         "the %s failed %d times in a row: %s; retry the request", what,
		         JOB_FAILS_MAX, why);
	else
		snprintf(out, JOB_REASON_MAX,
		         "the %s failed %d times in a row; see the log, then retry it", what,
		         JOB_FAILS_MAX);
}

lethe_rc
job_fail(struct store *st, int64_t id, const char *from, const char *reason, struct lethe_err *err)
{
	bool applied = false;
	lethe_rc rc = job_finish(st, id, from, "failed", reason, &applied, err);

	if (rc == LETHE_OK && applied)
		log_warnx("request %lld: failed: %s", (long long)id, reason);
	return rc;
}

lethe_rc
job_ended_state(struct store *st, int64_t job, const char **state, struct lethe_err *err)
{
	struct store_job j;
	lethe_rc rc;

	*state = NULL;
	memset(&j, 0, sizeof(j));
	rc = store_job_get(st, job, &j, err);
	if (rc == LETHE_E_NOTFOUND)
		return LETHE_OK;
	if (rc == LETHE_OK && strcmp(j.state, "completed") == 0)
		*state = "completed";
	else if (rc == LETHE_OK && strcmp(j.state, "completed_with_retention") == 0)
		*state = "completed_with_retention";
	store_job_clear(&j);
	return rc;
}
