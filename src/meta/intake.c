/* SPDX-License-Identifier: MIT */
/*
 * intake.c - durable intake of Meta requests through an append-only log
 * (see intake.h; the design and its measurements: docs/internals/jobs.md):
 * the public functions, start and stop.  The log's format, writing,
 * scrubbing and replay are in intake_log.c, the three threads in
 * intake_threads.c; what they share in intake_internal.h.
 *
 * Three threads and two log files, STATE-intake0 and STATE-intake1, each
 * written with zeros to LOG_PREALLOC at start and locked (flock):
 *
 *  - the committer (writer) takes the queue as one group, resolves repeats
 *    (the pending map in intake_threads.c, then meta/seen.h confirmed in
 *    the store), gives each new request a code, appends the group to the
 *    active log file in one pwrite (a header with the epoch and a BLAKE2b checksum,
 *    then one record per new request: receipt time, code, app, subject,
 *    sealed identity; or per rerun, a repeat of a request already in the
 *    store: the same with REC_RERUN and the run number, see find_repeat()),
 *    fdatasyncs it, hands the new requests to the indexer and only then
 *    calls the completions;
 *  - the indexer moves durable requests into the state store, up to
 *    INDEX_BATCH in one transaction on a connection that does not sync on
 *    commit, then fsyncs the store's WAL; from then on the store has them
 *    and their log records are no longer needed;
 *  - the checkpointer checkpoints the store's WAL.
 *
 * Requests written but not yet in the store are "pending": they stay in
 * memory (struct pend, found by (app, subject) through a chained hash) so a
 * repeat finds them; once indexed they move to the seen map by id.  A
 * lookup by code that finds nothing in the store waits for the indexer
 * (intake_settle).  Past INTAKE_PENDING_MAX pending requests new ones get
 * 503.
 *
 * A file whose records are all in the store is started over without I/O
 * (intake_log_reset: end 0, a new epoch); replay reads a file's groups only while
 * they carry its first group's epoch.  Past LOG_ROTATE the writer switches
 * to the other file once that one is free.  While idle, the writer
 * overwrites fully indexed bytes with zeros, top down (intake_log_scrub), so no
 * sealed identity outlives its request on disk for long, and a file whose
 * first header is zero holds nothing.  intake_start() replays both files
 * (older epoch first; a code already in the store is skipped), then scrubs
 * them.  Only a file's last group can be torn (a group is answered only
 * after its fsync, and the next is written only after that), and such a
 * group was never answered.
 *
 * Threads: each is a util/worker (in->wc, in->wi, in->wk), all three on
 * in->mu, so each waits on its own predicate with worker_wait_locked() (or,
 * the checkpointer, naps) and is woken by worker_signal_locked() from
 * whoever changed that predicate; intake_submit() thus costs one lock and
 * at most one signal, as a bare condition variable would.
 *
 * Locking: in->mu guards the queue, the lists between the threads, the
 * flags, the counters and the files' unindexed counts; in->smu guards the
 * seen map and the pending map (committer lookups, indexer moves).  No
 * thread holds both.  Completions run outside the locks (a completion may
 * free its request, so the next link is read first).  The files' end, hw
 * and epoch belong to the committer (and to start and stop, when it does
 * not run).
 */
#include "util/fmacros.h"

#include <unistd.h>

#include "meta/intake_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- interface ----------------------------------------------------------- */

static void
intake_release(struct intake *in)
{
	for (int i = 0; i < 2; i++) {
		if (in->files[i].fd >= 0)
			close(in->files[i].fd);
		free(in->files[i].path);
	}
	store_close(in->st);
	store_close(in->ix);
	store_close(in->ck);
	seen_free(in->seen);
	free(in->pmap);
	free(in->buf);
	store_wal_free(in->wal);
	free(in);
}

lethe_rc
intake_start(const char *path, const char *files, int64_t repeat_window, int64_t deadline_s,
             void (*on_commit)(void *), void *arg, struct intake **out, struct lethe_err *err)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	lethe_rc rc;

	*out = NULL;
	in->files[0].fd = in->files[1].fd = -1;
	in->deadline_s = deadline_s; /* before the replay of the log, which inserts requests */
	in->wal = store_wal_new(path);
	rc = store_open(path, &in->ix, err);
	if (rc == LETHE_OK)
		rc = store_set_deferred_sync(in->ix, err);
	if (rc == LETHE_OK)
		rc = store_open(path, &in->st, err);
	if (rc == LETHE_OK)
		rc = store_open(path, &in->ck, err);
	/*
	 * Small page caches: the indexer appends (its hot pages are the last
	 * leaves of a few b-trees), the committer reads a row now and then and
	 * the checkpointer reads nothing; 2 MB each would be a quarter of the
	 * server's memory.
	 */
	if (rc == LETHE_OK)
		rc = store_set_cache(in->ix, INTAKE_CACHE_KIB, err);
	if (rc == LETHE_OK)
		rc = store_set_cache(in->st, CKPT_CACHE_KIB, err);
	if (rc == LETHE_OK)
		rc = store_set_cache(in->ck, CKPT_CACHE_KIB, err);
	if (rc == LETHE_OK)
		rc = intake_log_open(in, files, err);
	if (rc != LETHE_OK)
		goto fail;
	in->seen = seen_new();
	rc = seen_load(in->seen, in->st, time_now() - repeat_window, err);
	if (rc != LETHE_OK)
		goto fail;
	in->pcap = 1024;
	in->pmap = xcalloc(in->pcap, sizeof(*in->pmap));
	in->expired_at = time_mono_ms();
	in->rate_at = in->expired_at;
	in->repeat_window = repeat_window;
	in->on_commit = on_commit;
	in->arg = arg;
	pthread_mutex_init(&in->mu, NULL);
	pthread_mutex_init(&in->smu, NULL);
	/* The three threads share in->mu (their predicates are in->mu's fields). */
	worker_init(&in->wc, &in->mu);
	worker_init(&in->wi, &in->mu);
	worker_init(&in->wk, &in->mu);
	if (!worker_start(&in->wi, "lethe-index", intake_indexer, in))
		goto fail_threads;
	if (!worker_start(&in->wc, "lethe-intake", intake_committer, in)) {
		pthread_mutex_lock(&in->mu);
		in->writer_done = true;
		pthread_mutex_unlock(&in->mu);
		worker_stop(&in->wi);
		goto fail_threads;
	}
	/* Without it other connections still checkpoint (autocheckpoint): not fatal. */
	if (!worker_start(&in->wk, "lethe-ckpt", intake_checkpointer, in))
		log_warnx("intake: cannot start the checkpoint thread");
	*out = in;
	return LETHE_OK;
fail_threads:
	rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the intake threads");
	worker_destroy(&in->wc);
	worker_destroy(&in->wi);
	worker_destroy(&in->wk);
	pthread_mutex_destroy(&in->mu);
	pthread_mutex_destroy(&in->smu);
fail:
	intake_release(in);
	return rc;
}

void
intake_submit(struct intake *in, struct intake_req *r)
{
	r->rc = LETHE_E_UNAVAILABLE;
	r->next = NULL;
	pthread_mutex_lock(&in->mu);
	if (in->wc.stop || in->sync_failed) {
		pthread_mutex_unlock(&in->mu);
		r->done(r);
		return;
	}
	if (in->tail != NULL)
		in->tail->next = r;
	else
		in->head = r;
	in->tail = r;
	in->submitted++;
	in->queued++;
	if (in->head == r || (in->gathering && in->queued == GATHER_N))
		worker_signal_locked(&in->wc); /* a pthread_cond_signal, inline */
	pthread_mutex_unlock(&in->mu);
}

void
intake_settle(struct intake *in, int timeout_ms)
{
	struct timespec until;
	int64_t target;

	worker_deadline_us(&until, (int64_t)timeout_ms * 1000);
	pthread_mutex_lock(&in->mu);
	target = in->written;
	in->settling++;
	worker_broadcast_locked(&in->wi);
	while (in->indexed < target && !in->index_failed && !in->writer_done)
		if (!worker_wait_locked(&in->wi, &until))
			break;
	in->settling--;
	pthread_mutex_unlock(&in->mu);
}

void
intake_stop(struct intake *in)
{
	if (in == NULL)
		return;
	if (worker_stopping(&in->wc))
		return;
	/*
	 * The committer first (submits fail from here; it answers what is
	 * queued), then the indexer (it drains once the committer is done),
	 * then the checkpointer.
	 */
	worker_stop(&in->wc);
	worker_stop(&in->wi);
	worker_stop(&in->wk);
	/* Everything is in the store (and its WAL synced): the log may go. */
	if (in->idx_head == NULL && !in->sync_failed)
		for (int i = 0; i < 2; i++) {
			in->files[i].end = 0;
			(void)intake_log_scrub(in, i, 0, 0);
		}
}

void
intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	intake_stop(in);
	/* Requests the indexer could not move (they stay in the log). */
	while (in->idx_head != NULL) {
		struct pend *next = in->idx_head->next;

		free(in->idx_head);
		in->idx_head = next;
	}
	worker_destroy(&in->wc);
	worker_destroy(&in->wi);
	worker_destroy(&in->wk);
	pthread_mutex_destroy(&in->mu);
	pthread_mutex_destroy(&in->smu);
	intake_release(in);
}

void
intake_hold_index(struct intake *in, bool hold)
{
	pthread_mutex_lock(&in->mu);
	in->hold = hold;
	worker_broadcast_locked(&in->wi);
	pthread_mutex_unlock(&in->mu);
}

bool
intake_busy(void *arg)
{
	struct intake *in = arg;
	double now = time_mono_ms();
	bool busy;

	pthread_mutex_lock(&in->mu);
	busy = intake_rate_update(in, now);
	pthread_mutex_unlock(&in->mu);
	return busy;
}

static int64_t
counter(struct intake *in, const int64_t *v)
{
	int64_t n;

	pthread_mutex_lock(&in->mu);
	n = *v;
	pthread_mutex_unlock(&in->mu);
	return n;
}

int64_t
intake_groups(struct intake *in)
{
	return counter(in, &in->groups);
}

int64_t
intake_syncs(struct intake *in)
{
	return counter(in, &in->syncs);
}

int64_t
intake_pending(struct intake *in)
{
	int64_t n;

	pthread_mutex_lock(&in->mu);
	n = in->written - in->indexed;
	pthread_mutex_unlock(&in->mu);
	return n;
}

bool
intake_find_code(struct intake *in, const char *code, struct intake_found *out)
{
	bool found = false;

	pthread_mutex_lock(&in->smu);
	for (size_t b = 0; b < in->pcap && !found; b++)
		for (const struct pend *p = in->pmap[b]; p != NULL; p = p->hnext)
			if (strcmp(p->code, code) == 0) {
				snprintf(out->app, sizeof(out->app), "%s", p->app);
				out->received_at = p->now;
				found = true;
				break;
			}
	pthread_mutex_unlock(&in->smu);
	return found;
}

const char *
intake_trouble(struct intake *in)
{
	const char *why = NULL;

	pthread_mutex_lock(&in->mu);
	if (in->sync_failed)
		why = "the intake log or the state store failed to sync: deletion requests are "
		      "refused until lethe is restarted";
	else if (in->write_failed)
		why = "the intake log cannot be written (its last write failed): deletion "
		      "requests are answered 503";
	else if (in->written - in->indexed >= INTAKE_PENDING_MAX)
		why = "too many deletion requests wait for the state store: new ones are refused";
	else if (in->index_failed)
		why = "the state store cannot be written (its last transaction failed; a full "
		      "disk?): deletion requests wait in the intake log";
	pthread_mutex_unlock(&in->mu);
	return why;
}
