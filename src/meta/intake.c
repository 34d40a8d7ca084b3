/* SPDX-License-Identifier: MIT */
/*
 * intake.c - group-commit intake of Meta requests (see intake.h).
 *
 * Two threads.  The committer takes the queue as one group and finds or
 * creates its requests in one transaction on a connection that does not
 * sync (store_set_deferred_sync); the syncer takes every committed group,
 * makes them durable with one fdatasync of the WAL and only then calls
 * their completions.  So one group's fsync overlaps the next group's
 * SQLite work, and a request is answered only once it survives a crash.
 * A failed group is answered at once (it wrote nothing).
 *
 * New requests are appended without the subject index; the committer keeps
 * the unmerged ones in memory (the tail) to find repeats, and merges them
 * into the index in one sorted statement now and then (commit_group).
 *
 * Locking: in->mu guards the queue, the committed-but-unsynced list, the
 * flags and the counters; each thread works on a list it detached under the
 * lock and calls completions outside it (a completion may free its request,
 * so the next link is read first).  The tail belongs to the committer.
 */
#include "util/fmacros.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "meta/intake.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define TAIL_MAX 4096        /* merge the subject index at this many unmerged requests */
#define TAIL_SLOTS 8192      /* hash slots of the tail (power of two, > TAIL_MAX) */
#define MERGE_EVERY_MS 500.0 /* and at least this often while some are unmerged */
#define GROUP_EAGER 32       /* commit while the syncer is busy only from this many on */
#define CHECKPOINT_MS 1000.0 /* the syncer checkpoints at most this often */

/* A request appended but not yet in the subject index (see store_meta_append). */
struct tail_entry {
	const char *app;                 /* app family (configuration's string) */
	char subject[HASH_TEXT_LEN + 1]; /* keyed hash */
	char code[META_CODE_LEN + 1];    /* its confirmation code */
	int64_t received_at;             /* receipt time */
};

struct intake {
	struct store *st;             /* the committer's connection */
	struct tail_entry *unmerged;  /* unmerged requests, oldest first (committer only) */
	int32_t *slots;               /* hash of the tail: index + 1, 0 = free (committer only) */
	size_t ntail;                 /* entries in tail */
	double merged_at;             /* monotonic ms of the last merge */
	bool need_merge;              /* the store may hold unmerged requests the tail lacks */
	int64_t repeat_window;        /* seconds */
	void (*on_commit)(void *);    /* after a group that created requests */
	void *arg;                    /* for on_commit */
	pthread_t thr;                /* the committer */
	pthread_mutex_t mu;           /* guards everything below */
	pthread_cond_t work;          /* queue became non-empty, or stop */
	struct intake_req *head;      /* queue, oldest first */
	struct intake_req *tail;      /* last queued */
	bool stop;                    /* finish and exit */
	int64_t groups;               /* groups committed */
	struct intake_req *sync_head; /* committed groups awaiting the fsync, oldest first */
	struct intake_req *sync_tail; /* last of them */
	bool sync_created;            /* one of them created a request */
	bool committer_done;          /* the committer exited: the syncer drains and exits */
	bool syncing;                 /* the syncer is in an fsync */
	size_t queued;                /* requests in the queue (head..tail) */
	pthread_cond_t sync_cv;       /* sync_head became non-empty, or committer_done */
	int64_t syncs;                /* fsyncs done */
	pthread_t sync_thr;           /* the syncer */
	struct store *ck;             /* the syncer's connection, for checkpoints */
	char *walpath;                /* the state store's WAL file */
	int walfd;                    /* open on walpath once it exists, or -1 */
};

/* ---- the unmerged tail ------------------------------------------------- */

static size_t
tail_hash(const char *subject)
{
	size_t h = 1469598103934665603u;

	for (; *subject != '\0'; subject++)
		h = (h ^ (unsigned char)*subject) * 1099511628211u;
	return h & (TAIL_SLOTS - 1);
}

/* The newest tail entry of (@app, @subject) received at or after @since, or NULL. */
static const struct tail_entry *
tail_find(const struct intake *in, const char *app, const char *subject, int64_t since)
{
	const struct tail_entry *best = NULL;
	size_t i;

	for (i = tail_hash(subject); in->slots[i] != 0; i = (i + 1) & (TAIL_SLOTS - 1)) {
		const struct tail_entry *e = &in->unmerged[in->slots[i] - 1];

		if (strcmp(e->subject, subject) == 0 && strcmp(e->app, app) == 0 &&
		    e->received_at >= since && (best == NULL || e > best))
			best = e;
	}
	return best;
}

static void
tail_index(struct intake *in, size_t k)
{
	size_t i = tail_hash(in->unmerged[k].subject);

	while (in->slots[i] != 0)
		i = (i + 1) & (TAIL_SLOTS - 1);
	in->slots[i] = (int32_t)k + 1;
}

static void
tail_add(struct intake *in, const struct intake_req *r)
{
	struct tail_entry *e = &in->unmerged[in->ntail];

	e->app = r->app;
	memcpy(e->subject, r->subject, sizeof(e->subject));
	memcpy(e->code, r->code, sizeof(e->code));
	e->received_at = r->now;
	tail_index(in, in->ntail++);
}

/* Keep the first @n entries only (a rolled-back group added the others). */
static void
tail_truncate(struct intake *in, size_t n)
{
	size_t k;

	memset(in->slots, 0, TAIL_SLOTS * sizeof(in->slots[0]));
	in->ntail = n;
	for (k = 0; k < n; k++)
		tail_index(in, k);
}

/* ---- group commit ------------------------------------------------------- */

/* A repeat of @r within the window: its code from the tail or the index. */
static lethe_rc
find_repeat(struct intake *in, struct intake_req *r, struct lethe_err *err)
{
	int64_t since = r->now - in->repeat_window;
	const struct tail_entry *e = tail_find(in, r->app, r->subject, since);
	struct store_meta_req found;
	lethe_rc rc;

	if (e != NULL) {
		memcpy(r->code, e->code, sizeof(r->code));
		return LETHE_OK;
	}
	rc = store_meta_find_merged(in->st, r->app, r->subject, since, &found, err);
	if (rc == LETHE_OK)
		snprintf(r->code, sizeof(r->code), "%.*s", META_CODE_LEN, found.code);
	return rc;
}

/*
 * Find or create each request of @group in one transaction.  New requests
 * are appended without indexing; at TAIL_MAX of them, every MERGE_EVERY_MS,
 * and first thing after a failed merge or a start (in->need_merge), the same
 * transaction also merges them into the index.  The in-memory tail always
 * holds exactly the committed unmerged requests of this process, or
 * need_merge is set and the next transaction merges before any lookup.
 */
static lethe_rc
commit_group(struct intake *in, struct intake_req *group, bool *created)
{
	struct intake_req *r;
	struct lethe_err err = {0};
	size_t ntail0 = in->ntail;
	bool merged = false, end_merge = false;
	int64_t rows = 0;
	lethe_rc rc;

	*created = false;
	rc = store_begin(in->st, &err);
	for (r = group; rc == LETHE_OK && r != NULL; r = r->next) {
		if (in->need_merge || in->ntail == TAIL_MAX) {
			rc = store_meta_merge(in->st, &rows, &err);
			if (rc != LETHE_OK)
				break;
			merged = true;
			in->need_merge = false;
			tail_truncate(in, 0);
		}
		rc = find_repeat(in, r, &err);
		if (rc == LETHE_OK) {
			r->created = false;
			continue;
		}
		if (rc != LETHE_E_NOTFOUND)
			break;
		meta_code_new(r->code, r->now);
		r->created = true;
		*created = true;
		rc = store_meta_append(in->st, r->code, r->app, r->subject, r->box, r->boxlen,
		                       r->now, &err);
		if (rc == LETHE_OK)
			tail_add(in, r);
	}
	if (rc == LETHE_OK && in->ntail > 0 && time_mono_ms() - in->merged_at >= MERGE_EVERY_MS) {
		rc = store_meta_merge(in->st, &rows, &err);
		merged = end_merge = true;
	}
	if (rc == LETHE_OK)
		rc = store_commit(in->st, &err);
	if (rc != LETHE_OK) {
		store_rollback(in->st);
		if (merged) {
			/* The merge rolled back: what it indexed is unmerged again. */
			in->need_merge = true;
			tail_truncate(in, 0);
		} else {
			tail_truncate(in, ntail0);
		}
		log_warnx("intake: a group of requests could not be stored: %s", err.msg);
		return rc;
	}
	if (end_merge)
		tail_truncate(in, 0);
	if (merged)
		in->merged_at = time_mono_ms();
	return rc;
}

/* Call the completion of every request of @list with @rc. */
static void
complete(struct intake_req *list, lethe_rc rc)
{
	while (list != NULL) {
		struct intake_req *next = list->next;

		list->rc = rc;
		list->done(list);
		list = next;
	}
}

static void *
committer(void *arg)
{
	struct intake *in = arg;

	prctl(PR_SET_NAME, "lethe-intake", 0, 0, 0); /* name in top and perf */
	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct intake_req *group, *last;
		bool created = false;
		lethe_rc rc;

		/*
		 * While the syncer is busy, let a group grow (up to GROUP_EAGER): it
		 * could not be answered before that fsync ends anyway, and one
		 * bigger commit writes fewer WAL pages than several small ones.
		 */
		while ((in->head == NULL || (in->syncing && in->queued < GROUP_EAGER)) && !in->stop)
			pthread_cond_wait(&in->work, &in->mu);
		if (in->head == NULL)
			break;
		group = in->head;
		last = in->tail;
		in->head = in->tail = NULL;
		in->queued = 0;
		pthread_mutex_unlock(&in->mu);

		rc = commit_group(in, group, &created);

		pthread_mutex_lock(&in->mu);
		in->groups++;
		if (rc != LETHE_OK) {
			pthread_mutex_unlock(&in->mu);
			complete(group, rc);
			pthread_mutex_lock(&in->mu);
			continue;
		}
		/* Committed, not yet durable: the syncer answers once it is. */
		if (in->sync_tail != NULL)
			in->sync_tail->next = group;
		else
			in->sync_head = group;
		in->sync_tail = last;
		in->sync_created |= created;
		pthread_cond_signal(&in->sync_cv);
	}
	in->committer_done = true;
	pthread_cond_signal(&in->sync_cv);
	pthread_mutex_unlock(&in->mu);
	return NULL;
}

/* fdatasync the WAL: every commit the committer made before is then durable. */
static lethe_rc
wal_sync(struct intake *in)
{
	if (in->walfd < 0) {
		in->walfd = open(in->walpath, O_RDONLY | O_CLOEXEC);
		if (in->walfd < 0) {
			log_warn("intake: cannot open %s", in->walpath);
			return LETHE_E_IO;
		}
	}
	if (fdatasync(in->walfd) != 0) {
		log_warn("intake: fdatasync of the state store's WAL failed");
		return LETHE_E_IO;
	}
	return LETHE_OK;
}

/*
 * The syncer: takes every committed group, makes them durable with one
 * fdatasync of the WAL while the committer already works on the next group,
 * then answers them.  It also checkpoints (on its own, syncing connection),
 * since the committer's connection never does.
 */
static void *
syncer(void *arg)
{
	struct intake *in = arg;
	struct lethe_err err = {0};
	double ckpt_at = time_mono_ms();

	prctl(PR_SET_NAME, "lethe-sync", 0, 0, 0);
	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct intake_req *list;
		bool created;
		lethe_rc rc;

		while (in->sync_head == NULL && !in->committer_done)
			pthread_cond_wait(&in->sync_cv, &in->mu);
		if (in->sync_head == NULL)
			break;
		list = in->sync_head;
		created = in->sync_created;
		in->sync_head = in->sync_tail = NULL;
		in->sync_created = false;
		in->syncing = true;
		pthread_mutex_unlock(&in->mu);

		rc = wal_sync(in);
		complete(list, rc);
		if (rc == LETHE_OK && created && in->on_commit != NULL)
			in->on_commit(in->arg);
		if (time_mono_ms() - ckpt_at >= CHECKPOINT_MS) {
			ckpt_at = time_mono_ms();
			if (store_checkpoint(in->ck, &err) != LETHE_OK)
				log_warnx("intake: %s", err.msg);
		}
		pthread_mutex_lock(&in->mu);
		in->syncs++;
		in->syncing = false;
		if (in->head != NULL)
			pthread_cond_signal(&in->work);
	}
	pthread_mutex_unlock(&in->mu);
	return NULL;
}

lethe_rc
intake_start(const char *path, int64_t repeat_window, void (*on_commit)(void *), void *arg,
             struct intake **out, struct lethe_err *err)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	lethe_rc rc;

	*out = NULL;
	in->walfd = -1;
	in->walpath = xasprintf("%s%s", path, STORE_WAL_SUFFIX);
	rc = store_open(path, &in->st, err);
	if (rc == LETHE_OK)
		rc = store_set_deferred_sync(in->st, err);
	if (rc == LETHE_OK)
		rc = store_open(path, &in->ck, err);
	if (rc != LETHE_OK)
		goto fail;
	in->unmerged = xcalloc(TAIL_MAX, sizeof(*in->unmerged));
	in->slots = xcalloc(TAIL_SLOTS, sizeof(*in->slots));
	in->need_merge = true; /* a crash may have left a tail */
	in->merged_at = time_mono_ms();
	in->repeat_window = repeat_window;
	in->on_commit = on_commit;
	in->arg = arg;
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->work, NULL);
	pthread_cond_init(&in->sync_cv, NULL);
	if (pthread_create(&in->thr, NULL, committer, in) != 0) {
		rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the intake thread");
		goto fail_sync;
	}
	if (pthread_create(&in->sync_thr, NULL, syncer, in) != 0) {
		pthread_mutex_lock(&in->mu);
		in->stop = true;
		pthread_cond_broadcast(&in->work);
		pthread_mutex_unlock(&in->mu);
		pthread_join(in->thr, NULL);
		rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the intake thread");
		goto fail_sync;
	}
	*out = in;
	return LETHE_OK;
fail_sync:
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->work);
	pthread_cond_destroy(&in->sync_cv);
fail:
	store_close(in->st);
	store_close(in->ck);
	free(in->unmerged);
	free(in->slots);
	free(in->walpath);
	free(in);
	return rc;
}

void
intake_submit(struct intake *in, struct intake_req *r)
{
	r->rc = LETHE_E_UNAVAILABLE;
	r->next = NULL;
	pthread_mutex_lock(&in->mu);
	if (in->stop) {
		pthread_mutex_unlock(&in->mu);
		r->done(r);
		return;
	}
	if (in->tail != NULL)
		in->tail->next = r;
	else
		in->head = r;
	in->tail = r;
	in->queued++;
	if (in->head == r || in->queued == GROUP_EAGER)
		pthread_cond_signal(&in->work);
	pthread_mutex_unlock(&in->mu);
}

void
intake_stop(struct intake *in)
{
	if (in == NULL)
		return;
	pthread_mutex_lock(&in->mu);
	if (in->stop) {
		pthread_mutex_unlock(&in->mu);
		return;
	}
	in->stop = true;
	pthread_cond_broadcast(&in->work);
	pthread_mutex_unlock(&in->mu);
	pthread_join(in->thr, NULL);
	pthread_join(in->sync_thr, NULL);
}

void
intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	intake_stop(in);
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->work);
	pthread_cond_destroy(&in->sync_cv);
	if (in->walfd >= 0)
		close(in->walfd);
	store_close(in->st);
	store_close(in->ck);
	free(in->unmerged);
	free(in->slots);
	free(in->walpath);
	free(in);
}

int64_t
intake_groups(struct intake *in)
{
	int64_t n;

	pthread_mutex_lock(&in->mu);
	n = in->groups;
	pthread_mutex_unlock(&in->mu);
	return n;
}

int64_t
intake_syncs(struct intake *in)
{
	int64_t n;

	pthread_mutex_lock(&in->mu);
	n = in->syncs;
	pthread_mutex_unlock(&in->mu);
	return n;
}
