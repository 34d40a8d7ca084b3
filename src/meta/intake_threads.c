/* SPDX-License-Identifier: MIT */
/*
 * intake_threads.c - the intake's three threads (see intake.c for the
 * design): the committer, which groups submitted requests, resolves
 * repeats through the pending map, writes and fsyncs each group and
 * answers it; the indexer, which moves durable requests into the state
 * store; and the checkpointer.  Each is the body of a util/worker started
 * by intake_start().
 *
 * Thread safety: as described at the top of intake.c (in->mu for the
 * queue, lists, flags and counters; in->smu for the seen and pending maps;
 * no thread holds both).
 */
#include "util/fmacros.h"

#include <malloc.h>
#include <sodium.h>
#include <unistd.h>

#include "meta/intake_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- the pending map ----------------------------------------------------- */

static void
pmap_add(struct intake *in, struct pend *p)
{
	size_t b;

	if (in->pn + 1 > in->pcap) {
		size_t cap = in->pcap * 2, i;
		struct pend **map = xcalloc(cap, sizeof(*map));

		/* Rehash, keeping each chain newest first (walk oldest first). */
		for (i = 0; i < in->pcap; i++) {
			struct pend *q = in->pmap[i], *rev = NULL;

			while (q != NULL) {
				struct pend *n = q->hnext;

				q->hnext = rev;
				rev = q;
				q = n;
			}
			while (rev != NULL) {
				struct pend *n = rev->hnext;

				rev->hnext = map[rev->fp & (cap - 1)];
				map[rev->fp & (cap - 1)] = rev;
				rev = n;
			}
		}
		free(in->pmap);
		in->pmap = map;
		in->pcap = cap;
	}
	b = p->fp & (in->pcap - 1);
	p->hnext = in->pmap[b];
	in->pmap[b] = p;
	in->pn++;
}

static void
pmap_remove(struct intake *in, struct pend *p)
{
	struct pend **pp = &in->pmap[p->fp & (in->pcap - 1)];

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp == p) {
		*pp = p->hnext;
		in->pn--;
	}
}

/* The newest pending request of (@app, @subject) received at or after @since, or NULL. */
static const struct pend *
pmap_find(const struct intake *in, const char *app, const char *subject, uint32_t fp, int64_t since)
{
	const struct pend *p;

	for (p = in->pmap[fp & (in->pcap - 1)]; p != NULL; p = p->hnext)
		if (p->fp == fp && p->now >= since && strcmp(p->subject, subject) == 0 &&
		    strcmp(p->app, app) == 0)
			return p;
	return NULL;
}

/* ---- the committer ------------------------------------------------------- */

/* Warnings that can repeat per request or per try (a full disk): rate-limited. */
static struct log_limit lookup_log = LOG_LIMIT_INIT(10, 60000.);
static struct log_limit write_log = LOG_LIMIT_INIT(10, 60000.);
static struct log_limit full_log = LOG_LIMIT_INIT(1, 10000.);
static struct log_limit index_log = LOG_LIMIT_INIT(1, 10000.);
static struct log_limit ckpt_log = LOG_LIMIT_INIT(1, 60000.);

/*
 * A request of the window that @r repeats: its code into r->code, and into
 * *@run 0 if it is still in the log (not run yet: this is the same run), or
 * the next run's number if it is in the store (it may have run, or be
 * running: the repeat asks for one more run, see store_meta_rerun()).
 * LETHE_E_NOTFOUND if none.  Under smu.
 */
static lethe_rc
find_repeat(struct intake *in, struct intake_req *r, uint32_t fp, uint32_t *run,
            struct lethe_err *err)
{
	int64_t since = r->now - in->repeat_window;
	const struct pend *p = pmap_find(in, r->app, r->subject, fp, since);
	struct store_request found;
	lethe_rc rc;

	*run = 0;
	if (p != NULL) {
		memcpy(r->code, p->code, sizeof(r->code));
		return LETHE_OK;
	}
	rc = seen_lookup(in->seen, in->st, r->app, r->subject, since, &found, err);
	if (rc == LETHE_OK) {
		snprintf(r->code, sizeof(r->code), "%.*s", META_CODE_LEN, found.code);
		*run = (uint32_t)found.runs + 1;
	}
	return rc;
}

/* Take @list out of the pending map (a failed fsync: no repeat may find them). */
static void
unmap_pends(struct intake *in, struct pend *list)
{
	pthread_mutex_lock(&in->smu);
	for (struct pend *p = list; p != NULL; p = p->next)
		pmap_remove(in, p);
	pthread_mutex_unlock(&in->smu);
}

/* Forget the new requests of a group that could not be written. */
static void
drop_pends(struct intake *in, struct pend *list)
{
	unmap_pends(in, list);
	while (list != NULL) {
		struct pend *next = list->next;

		free(list);
		list = next;
	}
}

/*
 * Record whether the last log write failed, for intake_trouble().  Only
 * the committer writes the flag, so it reads it without the lock and takes
 * the lock only to change it (not once per group).
 */
static void
set_write_failed(struct intake *in, bool failed)
{
	if (in->write_failed == failed)
		return;
	pthread_mutex_lock(&in->mu);
	in->write_failed = failed;
	pthread_mutex_unlock(&in->mu);
}

/*
 * Resolve each request of @group (a repeat, or a new request with a new
 * code) and write the new ones to the log as one group.  Sets each
 * request's rc (LETHE_OK: answer once synced) and the group's new requests
 * to *@pends (none if the write failed: every request's rc then says so).
 */
static void
write_group(struct intake *in, struct intake_req *group, struct pend **pends, size_t *npend)
{
	struct pend *head = NULL, **tailp = &head;
	struct lethe_err err = {0};
	struct intake_req *r;
	size_t used = LOG_HDR;
	uint32_t count = 0;

	*pends = NULL;
	*npend = 0;
	intake_buf_reserve(in, 0, LOG_HDR);
	pthread_mutex_lock(&in->smu);
	for (r = group; r != NULL; r = r->next) {
		uint32_t fp = seen_fingerprint(r->subject), run = 0;
		struct pend *p;
		lethe_rc rc;

		r->created = false;
		if (strlen(r->app) > LOG_APP_MAX || r->boxlen > LOG_BOX_MAX ||
		    used > LOG_MAX_GROUP - REC_FIXED - LOG_APP_MAX - LOG_BOX_MAX) {
			r->rc = LETHE_E_INVALID;
			continue;
		}
		rc = find_repeat(in, r, fp, &run, &err);
		if (rc != LETHE_OK && rc != LETHE_E_NOTFOUND)
			log_warnx_limited(&lookup_log, "intake: repeat lookup failed: %s", err.msg);
		if ((rc == LETHE_OK && run == 0) || (rc != LETHE_OK && rc != LETHE_E_NOTFOUND)) {
			r->rc = rc;
			continue;
		}
		/*
		 * New, or a repeat of a request in the store (rare: Meta repeats
		 * only when the person asks again): a rerun record with the
		 * repeat's identity, as durable as a new request before the answer.
		 */
		p = xmalloc(sizeof(*p) + r->boxlen);
		p->next = NULL;
		p->fp = fp;
		p->file = in->active;
		p->now = r->now;
		p->id = 0;
		p->run = run;
		p->app = r->app;
		memcpy(p->subject, r->subject, sizeof(p->subject));
		if (run > 0)
			memcpy(p->code, r->code, sizeof(p->code));
		else
			meta_code_new(p->code, r->now);
		p->boxlen = r->boxlen;
		memcpy(p->box, r->box, r->boxlen);
		pmap_add(in, p);
		used = intake_rec_put(in, used, p);
		count++;
		*tailp = p;
		tailp = &p->next;
		memcpy(r->code, p->code, sizeof(r->code));
		r->created = run == 0;
		r->rc = LETHE_OK;
	}
	pthread_mutex_unlock(&in->smu);
	if (count == 0)
		return;
	intake_log_maintain(in);
	/* The active file may have changed: the group goes where intake_log_maintain() says. */
	for (struct pend *p = head; p != NULL; p = p->next)
		p->file = in->active;
	intake_group_seal(in->buf, count, used - LOG_HDR, in->files[in->active].epoch);
	if (!intake_pwrite_all(in->files[in->active].fd, in->buf, used,
	                       in->files[in->active].end)) {
		log_warn_limited(&write_log, "intake: cannot write to %s",
		                 in->files[in->active].path);
		set_write_failed(in, true);
		goto fail;
	}
	set_write_failed(in, false);
	in->files[in->active].end += used;
	if (in->files[in->active].hw < in->files[in->active].end)
		in->files[in->active].hw = in->files[in->active].end;
	*pends = head;
	*npend = count;
	return;
fail:
	drop_pends(in, head);
	for (r = group; r != NULL; r = r->next)
		r->rc = LETHE_E_IO;
	return;
}

/* Drop requests older than the window from the seen map, once a minute. */
static void
maybe_expire(struct intake *in, int64_t now)
{
	struct lethe_err err = {0};
	int64_t first = 0;

	if (time_mono_ms() - in->expired_at < EXPIRE_EVERY_MS)
		return;
	in->expired_at = time_mono_ms();
	if (store_meta_first_since(in->st, now - in->repeat_window, &first, &err) != LETHE_OK)
		return;
	pthread_mutex_lock(&in->smu);
	seen_expire(in->seen, first);
	pthread_mutex_unlock(&in->smu);
}

/* Call the completion of every request of @list. */
static void
complete(struct intake_req *list)
{
	while (list != NULL) {
		struct intake_req *next = list->next;

		list->done(list);
		list = next;
	}
}

/* True if a file has bytes to scrub (under in->mu, on the committer). */
static bool
scrub_pending(const struct intake *in)
{
	for (int i = 0; i < 2; i++)
		if (in->files[i].hw > 0 && in->files[i].unindexed == 0)
			return true;
	return false;
}

/*
 * While the writer is idle: overwrite with zeros, one SCRUB_CHUNK at a
 * time, the log bytes whose requests are all in the store (starting the
 * active file over if it is one of them).  Returns true if it did some.
 */
static bool
scrub_step(struct intake *in)
{
	for (int i = 0; i < 2; i++) {
		struct logfile *f = &in->files[i];
		int64_t unindexed;

		if (f->hw == 0)
			continue;
		pthread_mutex_lock(&in->mu);
		unindexed = f->unindexed;
		pthread_mutex_unlock(&in->mu);
		if (unindexed != 0)
			continue;
		if (i == in->active && f->end > 0)
			intake_log_reset(in, i);
		f->end = 0;
		if (!intake_log_scrub(in, i, 0, SCRUB_CHUNK))
			f->hw = 0; /* warned; do not retry in a loop */
		return true;
	}
	return false;
}

/*
 * Under in->mu: measure the submission rate (every 100 ms at most) and
 * return whether it is INTAKE_BUSY_RATE or more.
 */
bool
intake_rate_update(struct intake *in, double now)
{
	if (now - in->rate_at >= 100.0) {
		in->busy =
		    (double)(in->submitted - in->rate_count) * 1000.0 / (now - in->rate_at) >=
		    INTAKE_BUSY_RATE;
		in->rate_at = now;
		in->rate_count = in->submitted;
	}
	return in->busy;
}

/*
 * Under in->mu, with requests queued during a flood: wait up to GATHER_US
 * for GATHER_N of them.  A group's fsync costs about as much for 1 request
 * as for 50, and so do the wakeups it causes, so fewer, larger groups leave
 * more CPU to the event threads; 200 us is small against the fsync.
 */
static void
gather(struct intake *in)
{
	struct timespec until;

	worker_deadline_us(&until, GATHER_US);
	in->gathering = true;
	while (in->queued < GATHER_N && !in->wc.stop)
		if (!worker_wait_locked(&in->wc, &until))
			break;
	in->gathering = false;
}

/* Answer @group with @rc at once (nothing written). */
static void
refuse(struct intake_req *group, lethe_rc rc)
{
	for (struct intake_req *r = group; r != NULL; r = r->next)
		r->rc = rc;
	complete(group);
}

/*
 * The committer: takes the whole queue as one group, writes its new
 * requests to the log, fsyncs, hands them to the indexer and answers;
 * meanwhile the next group gathers in the queue.  A failed write answers
 * 503 to its group.  A failed fsync is permanent (in->sync_failed): after a
 * writeback error Linux may mark the pages clean, so a later fdatasync could
 * succeed without those pages on disk, and a repeat would then find a
 * request that was never written and answer 200 with its code.  While more
 * than INTAKE_PENDING_MAX requests wait for the indexer (the state store fails),
 * groups are answered 503: Meta retries, and memory and the log stay
 * bounded.  When idle it scrubs the log (scrub_step).
 */
void
intake_committer(struct worker *w, void *arg)
{
	struct intake *in = arg;
	double wrote_at = 0;

	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct intake_req *group, *r;
		struct pend *pends, *plast;
		size_t npend;
		bool ok, full;

		/*
		 * Idle: scrub, but only SCRUB_IDLE_MS after the last group (a step
		 * is a 256 KB write and an fsync, which a flood should not wait for).
		 */
		while (in->head == NULL && !w->stop) {
			double idle = time_mono_ms() - wrote_at;

			if (!scrub_pending(in)) {
				(void)worker_wait_locked(w, NULL);
			} else if (idle < SCRUB_IDLE_MS) {
				struct timespec until;

				worker_deadline_us(&until,
				                   ((int64_t)(SCRUB_IDLE_MS - idle) + 1) * 1000);
				(void)worker_wait_locked(w, &until);
			} else {
				pthread_mutex_unlock(&in->mu);
				(void)scrub_step(in);
				pthread_mutex_lock(&in->mu);
			}
		}
		if (in->head == NULL)
			break;
		if (intake_rate_update(in, time_mono_ms()) && in->queued < GATHER_N)
			gather(in);
		group = in->head;
		in->head = in->tail = NULL;
		in->queued = 0;
		full = in->written - in->indexed >= INTAKE_PENDING_MAX;
		if (in->sync_failed || full) {
			pthread_mutex_unlock(&in->mu);
			if (full)
				log_warnx_limited(&full_log,
				                  "intake: %d requests wait for the state store; "
				                  "answering 503 until it takes them",
				                  INTAKE_PENDING_MAX);
			refuse(group, LETHE_E_UNAVAILABLE);
			pthread_mutex_lock(&in->mu);
			continue;
		}
		pthread_mutex_unlock(&in->mu);

		/* A failed write fails its group (the next group overwrites it). */
		write_group(in, group, &pends, &npend);
		if (npend > 0)
			wrote_at = time_mono_ms();
		ok = true;
		if (npend > 0 && fdatasync(in->files[pends->file].fd) != 0) {
			log_warn("intake: fdatasync of %s failed; answering 503 to every deletion "
			         "request until lethe is restarted",
			         in->files[pends->file].path);
			ok = false;
			for (r = group; r != NULL; r = r->next)
				r->rc = LETHE_E_IO;
			unmap_pends(in, pends);
		}

		/*
		 * Hand the new requests to the indexer before answering: a status
		 * lookup of an answered code must find it counted (intake_settle).
		 */
		pthread_mutex_lock(&in->mu);
		if (!ok)
			in->sync_failed = true;
		if (npend > 0) {
			/* In the log (durable or not): the indexer moves them (a restart would). */
			if (ok) {
				in->groups++;
				in->syncs++;
			}
			in->written += (int64_t)npend;
			in->files[pends->file].unindexed += (int64_t)npend;
			for (plast = pends; plast->next != NULL; plast = plast->next)
				;
			if (in->idx_tail != NULL)
				in->idx_tail->next = pends;
			else
				in->idx_head = pends;
			in->idx_tail = plast;
			in->idx_n += npend;
			if (in->idx_n >= INDEX_GATHER || in->idx_head == pends)
				worker_broadcast_locked(&in->wi); /* enough, or the clock starts */
		}
		pthread_mutex_unlock(&in->mu);
		complete(group);
		maybe_expire(in, time_now());
		pthread_mutex_lock(&in->mu);
	}
	in->writer_done = true;
	worker_broadcast_locked(&in->wi);
	pthread_mutex_unlock(&in->mu);
}

/* ---- the indexer --------------------------------------------------------- */

/* Insert @batch (@n requests) in one transaction and make it durable. */
static lethe_rc
index_batch(struct intake *in, struct pend *batch, bool *fatal, struct lethe_err *err)
{
	lethe_rc rc = store_begin(in->ix, err);

	/*
	 * By code, once: a batch retried after its commit finds its rows (and
	 * ids); a rerun by its run number, once.
	 */
	for (struct pend *p = batch; rc == LETHE_OK && p != NULL; p = p->next) {
		bool added;

		if (p->run > 0)
			rc = store_meta_rerun(in->ix, p->code, p->run, p->box, p->boxlen, p->now,
			                      NULL, err);
		else
			rc = store_meta_insert_once(in->ix, p->code, p->app, p->subject, p->box,
			                            p->boxlen, p->now, in->deadline_s, &p->id,
			                            &added, err);
	}
	if (rc == LETHE_OK)
		rc = store_commit(in->ix, err);
	if (rc != LETHE_OK) {
		store_rollback(in->ix);
		return rc;
	}
	if (!store_wal_sync(in->wal)) {
		/* As for the log: a later fsync could "succeed" without the pages (SQLite). */
		*fatal = store_wal_final(in->wal);
		return lethe_err_set(err, LETHE_E_IO, "fdatasync of the state store's WAL failed");
	}
	return LETHE_OK;
}

/*
 * The indexer: moves durable requests into the store, INDEX_BATCH at most
 * per transaction, then from the pending map to the seen map.  A failed
 * transaction is retried after INDEX_RETRY_MS (the requests are safe in the
 * log meanwhile); at stop, what it could not move stays in the log for the
 * next start.
 */
void
intake_indexer(struct worker *w, void *arg)
{
	struct intake *in = arg;
	struct lethe_err err = {0};
	bool fatal = false;

	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct pend *batch, *p, **pp;
		size_t n = 0;
		lethe_rc rc;

		while ((in->idx_head == NULL || in->hold) && !in->writer_done)
			(void)worker_wait_locked(w, NULL);
		if (in->idx_head == NULL || in->hold)
			break;
		/*
		 * Gather: one transaction for many requests writes each b-tree's
		 * tail pages once instead of once per group.  Nobody waits on it
		 * but a status lookup (intake_settle) and the runner.
		 */
		if (in->idx_n < INDEX_GATHER && !in->writer_done && !in->settling) {
			struct timespec until;

			worker_deadline_us(&until, INDEX_DELAY_MS * 1000);
			while (in->idx_n < INDEX_GATHER && !in->writer_done && !in->settling)
				if (!worker_wait_locked(w, &until))
					break;
		}
		batch = in->idx_head;
		for (pp = &batch; *pp != NULL && n < INDEX_BATCH; pp = &(*pp)->next)
			n++;
		in->idx_head = *pp;
		if (in->idx_head == NULL)
			in->idx_tail = NULL;
		in->idx_n -= n;
		*pp = NULL;
		pthread_mutex_unlock(&in->mu);

		rc = index_batch(in, batch, &fatal, &err);
		if (rc != LETHE_OK) {
			bool stopping;

			log_warnx_limited(&index_log,
			                  "intake: %zu requests could not be moved into the state "
			                  "store (they are safe in the intake log; retrying): %s",
			                  n, err.msg);
			pthread_mutex_lock(&in->mu);
			/* Put the batch back in front, in order. */
			for (p = batch; p->next != NULL; p = p->next)
				;
			p->next = in->idx_head;
			if (in->idx_head == NULL)
				in->idx_tail = p;
			in->idx_head = batch;
			in->idx_n += n;
			in->index_failed = true;
			worker_broadcast_locked(w); /* intake_settle: do not wait for us */
			if (fatal) {
				/* Refuse new requests; the next start replays these from the log.
				 */
				log_warnx(
				    "intake: answering 503 to every deletion request until lethe "
				    "is restarted");
				in->sync_failed = true;
				break;
			}
			stopping = in->writer_done;
			if (stopping)
				break; /* the next start replays them from the log */
			pthread_mutex_unlock(&in->mu);
			usleep(INDEX_RETRY_MS * 1000);
			pthread_mutex_lock(&in->mu);
			continue;
		}

		pthread_mutex_lock(&in->smu);
		for (p = batch; p != NULL; p = p->next) {
			pmap_remove(in, p);
			if (p->run == 0) /* a rerun's request is in the map already */
				seen_add(in->seen, p->subject, p->id);
		}
		pthread_mutex_unlock(&in->smu);
		pthread_mutex_lock(&in->mu);
		in->index_failed = false;
		for (p = batch; p != NULL; p = p->next)
			in->files[p->file].unindexed--;
		in->indexed += (int64_t)n;
		worker_broadcast_locked(w);
		/* A file whose records are all in the store now: the idle writer scrubs it. */
		if (in->files[0].unindexed == 0 || in->files[1].unindexed == 0)
			worker_signal_locked(&in->wc);
		pthread_mutex_unlock(&in->mu);
		while (batch != NULL) {
			struct pend *next = batch->next;

			sodium_memzero(batch->box, batch->boxlen);
			free(batch);
			batch = next;
		}
		if (in->on_commit != NULL)
			in->on_commit(in->arg);
		pthread_mutex_lock(&in->mu);
	}
	pthread_mutex_unlock(&in->mu);
}

/* ---- the checkpointer ---------------------------------------------------- */

/*
 * The checkpointer: a passive checkpoint every CHECKPOINT_S on its own,
 * syncing connection, since the indexer's connection never checkpoints;
 * once the WAL is past STORE_WAL_LIMIT, a restart checkpoint instead (it
 * holds the indexer's commits back for as long as it takes to copy the
 * frames since the last one: under a flood a WAL that only gets passive
 * checkpoints grows without bound, and so does its index).  Its own thread,
 * because a checkpoint (copying pages, then an fsync of the database file)
 * can take tens of ms.
 */
void
intake_checkpointer(struct worker *w, void *arg)
{
	struct intake *in = arg;
	struct lethe_err err = {0};

	while (!worker_nap(w, CHECKPOINT_S * 1000)) {
		if (store_wal_checkpoint(in->ck, in->wal, &err) != LETHE_OK)
			log_warnx_limited(&ckpt_log, "intake: %s", err.msg);
		malloc_trim(0);
	}
}
