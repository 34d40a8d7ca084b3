/* SPDX-License-Identifier: MIT */
/*
 * erase.c - the executor (see erase.h and docs/internals/executor.md).
 *
 * Each step works in batches; each batch is one short write transaction on
 * the app database.  Crash safety rests on two rules:
 *
 *  1. Every batch is idempotent.  A delete batch deletes the rows of a key
 *     window that still match; an anonymize/retain batch walks the key
 *     order from a cursor and only rewrites values not yet in their target
 *     form (a keyed hash is recognisable by its "anon:" prefix, so it is
 *     never re-hashed).
 *
 *  2. Counts are exact.  When a batch changed rows, its counts are written
 *     to the state store as "pending" (with what tells whether the batch
 *     committed) *before* the app commit, and folded in after it.  On resume
 *     a pending batch is probed: a delete window that holds none of the
 *     person's rows, or an anonymized row already in target form, means the
 *     batch committed.
 *
 * One process runs a job at a time (a lease in the state store).
 *
 * Children run before parents (the plan's order), so the rows a resumed step
 * still has to find are always reachable through their parents.
 *
 * This file runs the job: lease, steps, verification and the result.  The
 * batches and key collection are in erase_batch.c, delete steps in
 * erase_delete.c, anonymize and retain steps in erase_rewrite.c.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "engine/erase_internal.h"
#include "engine/media_use.h"
#include "util/buf.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/*
 * Flush the objects an earlier run recorded.  Its remove call may have
 * reached the store before it died: an object now gone (Cloudinary's
 * not_found) was most likely removed by lethe, so it counts as removed, as
 * a local file does (docs/media.md "Counts after a crash").
 */
static lethe_rc
settle_flush(struct exec *x, const struct dm_table *t, struct store_step *ss, bool fold)
{
	int64_t failed = 0;
	lethe_rc rc;

	x->reflush = true;
	rc = erase_media_flush(x, t, ss, fold, &failed);
	x->reflush = false;
	return rc;
}

/* Settle a batch left pending by a crash: did its app transaction commit? */
static lethe_rc
settle_pending(struct exec *x, const struct plan_step *ps, struct store_step *ss)
{
	const struct dm_table *t = ps->table;
	bool committed = false;
	lethe_rc rc;

	if (ss->pending_rows == 0) {
		/* Files of committed batches that could not be removed last time. */
		if (t->nmedia > 0)
			return settle_flush(x, t, ss, false);
		return LETHE_OK;
	}
	if (ps->part->action == DM_DELETE) {
		int64_t left = 1;

		/* The batch's window [pending_key, pending_cursor] is empty iff it committed. */
		rc = erase_window_count(x, ps, ss->pending_key, ss->pending_cursor, &left);
		committed = left == 0;
		free(ss->pending_cursor);
		ss->pending_cursor = NULL;
	} else {
		size_t nc;
		struct col_action *c = erase_col_actions(t, ps->part, &nc);

		rc = erase_row_anonymized(x, t, c, nc, ss->pending_key, &committed);
		free(c);
	}
	if (rc != LETHE_OK)
		return rc;
	log_info("%s: a batch interrupted by a crash had %s", t->name,
	         committed ? "committed; counted it" : "not committed; redoing it");
	/* Committed: its files go now, counted with the batch in one state transaction. */
	if (committed && t->nmedia > 0)
		return settle_flush(x, t, ss, true);
	if (committed) {
		erase_fold_pending(ss);
		return store_step_put(x->st, x->job, ps->name, ss, x->err);
	}
	/* Not committed: the rows are still there; their files are recorded again. */
	ss->pending_rows = 0;
	ss->pending_missing = 0;
	free(ss->pending_key);
	ss->pending_key = NULL;
	free(ss->pending_cursor);
	ss->pending_cursor = NULL;
	rc = store_begin(x->st, x->err);
	if (rc == LETHE_OK && t->nmedia > 0)
		rc = store_media_clear(x->st, x->job, t->name, x->err);
	return erase_step_commit(x, ps->name, ss, rc);
}

static lethe_rc
run_step(struct exec *x, size_t i)
{
	const struct plan_step *ps = &x->plan->steps[i];
	struct erase_step_result *sr = &x->res->steps[i];
	struct store_step ss;
	lethe_rc rc;

	double t0 = time_mono_ms();
	int64_t b0 = x->res->batches;

	x->step = i;
	/* Tables differ in cost per row: start each step small and let it grow. */
	if (x->o->batch_rows == 0)
		x->pace.batch =
		    x->pace.batch / 4 > BATCHING_START ? x->pace.batch / 4 : BATCHING_START;
	rc = store_step_get(x->st, x->job, ps->name, dm_action_str(ps->part->action), &ss, x->err);
	if (rc != LETHE_OK)
		return rc;
	rc = settle_pending(x, ps, &ss);
	if (rc == LETHE_OK && !ps->reachable)
		ss.finished = true;
	/* And channels connected since the round began: queued before their tokens go. */
	if (rc == LETHE_OK && !ss.finished && ps->table == x->plan->dm->channel &&
	    x->o->disc.outbox_key != NULL)
		rc = erase_disconnect_channels(x, ps);
	if (rc == LETHE_OK && !ss.finished) {
		if (ps->part->action == DM_DELETE)
			rc = erase_run_delete(x, ps, &ss, sr);
		else
			rc = erase_run_rewrite(x, ps, &ss, sr);
	}
	/*
	 * The app database made the step wait (a lock the app holds, a timeout,
	 * a lost connection): the log names the table, never a row's values.
	 */
	if (rc == LETHE_E_BUSY && x->err != NULL && strncmp(x->err->msg, "table ", 6) != 0) {
		char why[LETHE_ERR_MAX];

		snprintf(why, sizeof(why), "%s", x->err->msg);
		lethe_err_set(x->err, rc, "table %s: %s", ps->table->name, why);
	}
	sr->rows = ss.done;
	sr->media = ss.media;
	sr->media_missing = ss.media_missing;
	store_step_clear(&ss);
	log_debug("step %s: %lld rows, %lld transactions, %.1f ms", ps->table->name,
	          (long long)sr->rows, (long long)(x->res->batches - b0), time_mono_ms() - t0);
	return rc;
}

/* After all steps: anything deletable left (new rows, a lost commit)?  Reopen those steps. */
static lethe_rc
verify(struct exec *x, bool *again)
{
	size_t i;
	lethe_rc rc;

	*again = false;
	rc = plan_count(x->plan, x->db, x->err);
	for (i = 0; rc == LETHE_OK && i < x->plan->nsteps; i++) {
		const struct plan_step *ps = &x->plan->steps[i];
		struct store_step ss;

		if (ps->part->action != DM_DELETE || ps->rows <= 0)
			continue;
		rc = store_step_get(x->st, x->job, ps->name, "delete", &ss, x->err);
		if (rc != LETHE_OK)
			break;
		ss.finished = false;
		rc = store_step_put(x->st, x->job, ps->name, &ss, x->err);
		store_step_clear(&ss);
		*again = true;
	}
	return rc;
}

void
erase_subject(const char *scope, const struct plan_id *ids, size_t nids,
              const uint8_t key[HASH_KEY_LEN], char out[HASH_TEXT_LEN + 1])
{
	struct buf b;
	size_t *order = xcalloc(nids ? nids : 1, sizeof(size_t));
	size_t i, j;

	for (i = 0; i < nids; i++)
		order[i] = i;
	/* Insertion sort by (kind, value): the subject must not depend on argument order. */
	for (i = 1; i < nids; i++)
		for (j = i; j > 0; j--) {
			const struct plan_id *a = &ids[order[j - 1]], *b2 = &ids[order[j]];
			int c = strcmp(a->kind, b2->kind);

			if (c < 0 || (c == 0 && strcmp(a->value, b2->value) <= 0))
				break;
			size_t tmp = order[j];
			order[j] = order[j - 1];
			order[j - 1] = tmp;
		}
	buf_init(&b, SQL_CAP);
	buf_add(&b, scope, strlen(scope) + 1);
	for (i = 0; i < nids; i++) {
		buf_add(&b, ids[order[i]].kind, strlen(ids[order[i]].kind) + 1);
		buf_add(&b, ids[order[i]].value, strlen(ids[order[i]].value) + 1);
	}
	hash_keyed(key, b.data, b.len, out);
	buf_free(&b);
	free(order);
}

lethe_rc
erase_run(struct plan *plan, const struct plan_id *ids, size_t nids, struct appdb *db,
          struct store *st, const struct erase_opts *o, struct erase_result *res,
          struct lethe_err *err)
{
	struct exec x;
	char subject[HASH_TEXT_LEN + 1];
	double t0 = time_mono_ms();
	int64_t held = 0, now = o->now ? o->now : time_now();
	size_t i, last_ch = SIZE_MAX;
	int round;
	bool again = false, claimed = false, created = false;
	lethe_rc rc;

	memset(res, 0, sizeof(*res));
	memset(&x, 0, sizeof(x));
	x.plan = plan;
	x.db = db;
	x.st = st;
	x.o = o;
	x.res = res;
	x.err = err;
	batching_init(&x.pace, o->batch_rows, o->max_txn_ms, o->yield_ms);
	res->state = "failed";
	res->nsteps = plan->nsteps;
	res->steps = xcalloc(plan->nsteps ? plan->nsteps : 1, sizeof(*res->steps));
	for (i = 0; i < plan->nsteps; i++) {
		res->steps[i].table = plan->steps[i].table;
		res->steps[i].part = plan->steps[i].part;
		rc = media_check_table(plan->steps[i].table, o->media, err);
		if (rc != LETHE_OK)
			return rc;
		if (plan->steps[i].rows > 0)
			x.planned_total += plan->steps[i].rows;
	}

	erase_subject(plan->scope->name, ids, nids, o->key, subject);
	rc = store_job_find_or_create(st, "erase", plan->scope->name, subject, now, &x.job,
	                              &x.job_created, &created, err);
	if (rc == LETHE_OK && !created) {
		res->resumed = true;
		log_info("resuming job %lld", (long long)x.job);
	}
	res->job = x.job;
	if (rc == LETHE_OK) {
		if (o->owner != NULL)
			snprintf(x.owner, sizeof(x.owner), "%s", o->owner);
		else
			lease_owner_format(x.owner, sizeof(x.owner));
		rc = store_job_claim(st, x.job, x.owner, time_now(), LEASE_S, err);
		if (rc == LETHE_OK)
			claimed = true;
		x.renewed = time_now();
	}
	if (rc == LETHE_OK && o->on_job != NULL)
		o->on_job(o->job_arg, x.job);
	if (rc == LETHE_OK)
		rc = store_job_set_state(st, x.job, "running", 0, err);
	for (i = 0; i < plan->nsteps; i++)
		if (plan->steps[i].table == plan->dm->channel)
			last_ch = i;
	for (round = 0; rc == LETHE_OK && round < VERIFY_ROUNDS; round++) {
		/*
		 * Upstream first: the person's channels are disconnected before any
		 * step deletes their webhook rows (children go first) or tokens.
		 */
		for (i = 0; rc == LETHE_OK && i < plan->nsteps; i++)
			if (plan->steps[i].table == plan->dm->channel && plan->steps[i].reachable &&
			    o->disc.outbox_key != NULL)
				rc = erase_disconnect_channels(&x, &plan->steps[i]);
		for (i = 0; rc == LETHE_OK && i < plan->nsteps; i++) {
			rc = run_step(&x, i);
			/*
			 * No channel this run matched may have slipped out of the plan
			 * meanwhile: looked at once the channel's steps ran, before its
			 * parents' (a kept channel stops matching when they go).
			 */
			if (rc == LETHE_OK && i == last_ch)
				rc = erase_check_channels(&x);
		}
		/* Then what the disconnects held back for the steps, on the rows kept. */
		for (i = 0; rc == LETHE_OK && i < plan->nsteps; i++)
			if (plan->steps[i].table == plan->dm->channel && plan->steps[i].reachable &&
			    o->disc.outbox_key != NULL)
				rc = erase_disconnect_finish(&x, &plan->steps[i]);
		/* Rows it just unlinked are no escape: the next round checks what it matches. */
		x.nchans = 0;
		if (rc == LETHE_OK)
			rc = verify(&x, &again);
		if (!again)
			break;
	}
	if (rc == LETHE_OK && again)
		rc = lethe_err_set(err, LETHE_E_DB,
		                   "rows kept appearing for this person during erasure; run again "
		                   "once the app stops writing them");
	if (db->ops->flush != NULL)
		db->ops->flush(db);
	if (rc == LETHE_OK) {
		for (i = 0; i < plan->nsteps; i++)
			if (plan->steps[i].part->action == DM_RETAIN)
				held += res->steps[i].rows;
		res->state = held > 0 ? "completed_with_retention" : "completed";
		rc = store_job_set_state(st, x.job, res->state, o->now ? o->now : time_now(), err);
	}
	/* Not given back (the store is gone for now): the next run here takes it at once. */
	if (claimed && store_job_release(st, x.job, x.owner, NULL) != LETHE_OK)
		lease_owner_abandon(x.owner);
	res->elapsed_ms = time_mono_ms() - t0;
	free(x.chans);
	return rc;
}

void
erase_result_add_disconnect(struct erase_result *r, int64_t disc)
{
	r->discs = xrealloc(r->discs, (r->ndiscs + 1) * sizeof(*r->discs));
	r->discs[r->ndiscs++] = disc;
}

void
erase_result_free(struct erase_result *r)
{
	free(r->discs);
	free(r->steps);
	memset(r, 0, sizeof(*r));
}

json_t *
erase_result_json(const struct erase_result *r)
{
	json_t *steps = json_array();
	size_t i;

	for (i = 0; i < r->nsteps; i++) {
		const struct erase_step_result *s = &r->steps[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "table", s->table->name, "category",
		                      s->table->category, "action", dm_action_str(s->part->action),
		                      "rows", (json_int_t)s->rows);

		if (s->table->nmedia > 0) {
			json_object_set_new(o, "media_files", json_integer(s->media));
			json_object_set_new(o, "media_missing", json_integer(s->media_missing));
			json_object_set_new(o, "media_failed", json_integer(s->media_failed));
		}
		if (s->part->action == DM_RETAIN)
			json_object_set_new(o, "reason", json_string(s->part->reason));
		if (s->part->nwhen > 0)
			json_object_set_new(o, "when",
			                    plan_conds_json(s->part->when, s->part->nwhen));
		json_array_append_new(steps, o);
	}
	return json_pack("{s:I, s:s, s:b, s:f, s:f, s:I, s:I, s:o}", "job", (json_int_t)r->job,
	                 "state", r->state, "resumed", r->resumed, "elapsed_ms", r->elapsed_ms,
	                 "max_transaction_ms", r->max_txn_ms, "transactions",
	                 (json_int_t)r->batches, "channels_disconnected", (json_int_t)r->ndiscs,
	                 "steps", steps);
}

void
erase_result_print(const struct erase_result *r, FILE *f)
{
	size_t i;
	int64_t total = 0;

	fprintf(f, "Job %lld %s%s in %.0f ms (%lld transactions, longest %.1f ms)\n\n",
	        (long long)r->job, r->state, r->resumed ? " (resumed)" : "", r->elapsed_ms,
	        (long long)r->batches, r->max_txn_ms);
	fprintf(f, "  %-24s %-14s %-10s %10s\n", "table", "category", "action", "rows");
	for (i = 0; i < r->nsteps; i++) {
		const struct erase_step_result *s = &r->steps[i];

		fprintf(f, "  %-24s %-14s %-10s %10lld", s->table->name, s->table->category,
		        dm_action_str(s->part->action), (long long)s->rows);
		if (s->table->nmedia > 0 && s->media_missing > 0)
			fprintf(f, "   (%lld media files removed, %lld missing)",
			        (long long)s->media, (long long)s->media_missing);
		else if (s->table->nmedia > 0)
			fprintf(f, "   (%lld media files removed)", (long long)s->media);
		fputc('\n', f);
		total += s->rows;
	}
	fprintf(f, "\n  %lld rows.\n", (long long)total);
	if (r->ndiscs > 0)
		fprintf(f,
		        "  Disconnected %zu channel%s: revoking the grants and removing the "
		        "webhooks upstream is queued in the outbox (see lethe jobs).\n",
		        r->ndiscs, r->ndiscs == 1 ? "" : "s");
	for (i = 0; i < r->nsteps; i++) {
		const struct erase_step_result *s = &r->steps[i];

		if (s->part->action == DM_RETAIN && s->rows > 0)
			fprintf(f, "  Retained %lld row%s of %s: %s\n", (long long)s->rows,
			        s->rows == 1 ? "" : "s", s->table->name, s->part->reason);
		if (s->media_missing > 0)
			fprintf(f,
			        "  NOTE: %lld media files of %s were already gone; lethe did not "
			        "remove them.\n",
			        (long long)s->media_missing, s->table->name);
		if (s->media_failed > 0)
			fprintf(f, "  WARNING: %lld media files of %s could not be removed.\n",
			        (long long)s->media_failed, s->table->name);
	}
}
