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
 * Repeats are found through meta/seen.h, an in-memory map of the window's
 * requests the committer owns (the state store has no subject index).
 *
 * Locking: in->mu guards the queue, the committed-but-unsynced list, the
 * flags and the counters; each thread works on a list it detached under the
 * lock and calls completions outside it (a completion may free its request,
 * so the next link is read first).
 */
#include "util/fmacros.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/intake.h"
#include "meta/seen.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define EXPIRE_EVERY_MS 60000.0 /* forget requests older than the window this often */
#define INTAKE_CACHE_KIB 512    /* page cache of the committer's connection */
#define CKPT_CACHE_KIB 64       /* page cache of the checkpointer's connection */
#define GROUP_EAGER 8           /* commit while the syncer is busy only from this many on */
#define CHECKPOINT_S 1          /* the checkpointer runs this often (seconds) */

struct intake {
	struct store *st;             /* the committer's connection */
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
	bool sync_failed;             /* an fsync failed: refuse everything until restart */
	size_t queued;                /* requests in the queue (head..tail) */
	pthread_cond_t sync_cv;       /* sync_head became non-empty, or committer_done */
	int64_t syncs;                /* fsyncs done */
	struct seen *seen;            /* the window's requests (committer only) */
	double expired_at;            /* monotonic ms of the last seen_expire() */
	pthread_t ck_thr;             /* the checkpointer */
	bool ck_started;              /* ck_thr runs */
	pthread_cond_t ck_cv;         /* signalled at stop */
	pthread_t sync_thr;           /* the syncer */
	struct store *ck;             /* the syncer's connection, for checkpoints */
	char *walpath;                /* the state store's WAL file */
	int walfd;                    /* open on walpath once it exists, or -1 */
};

/* ---- group commit ------------------------------------------------------- */

/* The code of a request of @group before @r that repeats it (created in this group), or NULL. */
static const char *
repeat_in_group(struct intake_req *group, const struct intake_req *r, int64_t since)
{
	const struct intake_req *q;

	for (q = group; q != r; q = q->next)
		if (q->created && q->now >= since && strcmp(q->subject, r->subject) == 0 &&
		    strcmp(q->app, r->app) == 0)
			return q->code;
	return NULL;
}

/* A request of the window that @r repeats: its code into r->code. */
static lethe_rc
find_repeat(struct intake *in, struct intake_req *group, struct intake_req *r,
            struct lethe_err *err)
{
	int64_t since = r->now - in->repeat_window;
	const char *code = repeat_in_group(group, r, since);
	struct store_meta_req found;
	lethe_rc rc;

	if (code != NULL) {
		memcpy(r->code, code, sizeof(r->code));
		return LETHE_OK;
	}
	rc = seen_lookup(in->seen, in->st, r->app, r->subject, since, &found, err);
	if (rc == LETHE_OK)
		snprintf(r->code, sizeof(r->code), "%.*s", META_CODE_LEN, found.code);
	return rc;
}

/*
 * Find or create each request of @group in one transaction.  New requests
 * join the in-memory map only once the transaction committed.
 */
static lethe_rc
commit_group(struct intake *in, struct intake_req *group, bool *created)
{
	struct intake_req *r;
	struct lethe_err err = {0};
	lethe_rc rc;

	*created = false;
	for (r = group; r != NULL; r = r->next)
		r->created = false;
	rc = store_begin(in->st, &err);
	for (r = group; rc == LETHE_OK && r != NULL; r = r->next) {
		rc = find_repeat(in, group, r, &err);
		if (rc == LETHE_OK)
			continue;
		if (rc != LETHE_E_NOTFOUND)
			break;
		meta_code_new(r->code, r->now);
		rc = store_meta_insert(in->st, r->code, r->app, r->subject, r->box, r->boxlen,
		                       r->now, &r->id, &err);
		r->created = rc == LETHE_OK;
		*created |= r->created;
	}
	if (rc == LETHE_OK)
		rc = store_commit(in->st, &err);
	if (rc != LETHE_OK) {
		store_rollback(in->st);
		log_warnx("intake: a group of requests could not be stored: %s", err.msg);
		return rc;
	}
	for (r = group; r != NULL; r = r->next)
		if (r->created)
			seen_add(in->seen, r->subject, r->id);
	if (time_mono_ms() - in->expired_at >= EXPIRE_EVERY_MS) {
		int64_t first = 0;

		in->expired_at = time_mono_ms();
		if (store_meta_first_since(in->st, group->now - in->repeat_window, &first, &err) ==
		    LETHE_OK)
			seen_expire(in->seen, first);
	}
	return LETHE_OK;
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
		if (rc != LETHE_OK) {
			pthread_mutex_unlock(&in->mu);
			complete(group, rc);
			pthread_mutex_lock(&in->mu);
			continue;
		}
		/* Committed, not yet durable: the syncer answers once it is. */
		in->groups++;
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

/* fsync the directory holding @path (a new file's entry must be durable too). */
static bool
sync_dir_of(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd;
	bool ok;

	if (slash == NULL)
		memcpy(dir, ".", 2);
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ok = fd >= 0 && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	free(dir);
	return ok;
}

/*
 * fdatasync the WAL: every commit the committer made before is then
 * durable.  A failure is permanent (in->sync_failed): after a writeback
 * error Linux may mark the pages clean, so a later fdatasync could succeed
 * without those pages on disk, and a repeat would then find a row that was
 * never written and answer 200 with its code.
 */
static lethe_rc
wal_sync(struct intake *in)
{
	if (in->walfd < 0) {
		in->walfd = open(in->walpath, O_RDONLY | O_CLOEXEC);
		if (in->walfd < 0) {
			log_warn("intake: cannot open the state store's WAL");
			return LETHE_E_IO;
		}
		if (!sync_dir_of(in->walpath)) {
			log_warn("intake: cannot sync the state store's directory");
			close(in->walfd);
			in->walfd = -1;
			return LETHE_E_IO;
		}
	}
	if (fdatasync(in->walfd) != 0) {
		log_warn("intake: fdatasync of the state store's WAL failed; answering 503 to "
		         "every deletion request until lethe is restarted");
		pthread_mutex_lock(&in->mu);
		in->sync_failed = true;
		pthread_mutex_unlock(&in->mu);
		return LETHE_E_IO;
	}
	return LETHE_OK;
}

/*
 * The syncer: takes every committed group, makes them durable with one
 * fdatasync of the WAL while the committer already works on the next group,
 * then answers them.
 */
static void *
syncer(void *arg)
{
	struct intake *in = arg;

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
		pthread_mutex_lock(&in->mu);
		if (rc == LETHE_OK)
			in->syncs++;
		in->syncing = false;
		if (in->head != NULL)
			pthread_cond_signal(&in->work);
	}
	pthread_mutex_unlock(&in->mu);
	return NULL;
}

/* True once the WAL file is past STORE_WAL_LIMIT (time for a restart). */
static bool
wal_too_big(const struct intake *in)
{
	struct stat sb;

	return stat(in->walpath, &sb) == 0 && sb.st_size > STORE_WAL_LIMIT;
}

/*
 * The checkpointer: a passive checkpoint every CHECKPOINT_S on its own,
 * syncing connection, since the committer's connection never checkpoints;
 * once the WAL is past STORE_WAL_LIMIT, a restart checkpoint instead (it
 * holds the intake's commits back for as long as it takes to copy the
 * frames since the last one: under a flood of callbacks a WAL that only
 * gets passive checkpoints grows without bound, and so does its index).
 * Its own thread, because a checkpoint (copying pages, then an fsync of the
 * database file) can take tens of ms, and answers must not wait for it.
 */
static void *
checkpointer(void *arg)
{
	struct intake *in = arg;
	struct lethe_err err = {0};

	prctl(PR_SET_NAME, "lethe-ckpt", 0, 0, 0);
	pthread_mutex_lock(&in->mu);
	while (!in->stop) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += CHECKPOINT_S;
		pthread_cond_timedwait(&in->ck_cv, &in->mu, &until);
		if (in->stop)
			break;
		pthread_mutex_unlock(&in->mu);
		if (store_checkpoint(in->ck, wal_too_big(in), &err) != LETHE_OK)
			log_warnx("intake: %s", err.msg);
		pthread_mutex_lock(&in->mu);
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
	/*
	 * Small page caches: the committer appends (its hot pages are the last
	 * leaves of a few b-trees) and the checkpointer reads nothing; 2 MB
	 * each would be a quarter of the server's memory.
	 */
	if (rc == LETHE_OK)
		rc = store_set_cache(in->st, INTAKE_CACHE_KIB, err);
	if (rc == LETHE_OK)
		rc = store_set_cache(in->ck, CKPT_CACHE_KIB, err);
	if (rc != LETHE_OK)
		goto fail;
	in->seen = seen_new();
	rc = seen_load(in->seen, in->st, time_now() - repeat_window, err);
	if (rc != LETHE_OK)
		goto fail;
	in->expired_at = time_mono_ms();
	in->repeat_window = repeat_window;
	in->on_commit = on_commit;
	in->arg = arg;
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->work, NULL);
	pthread_cond_init(&in->sync_cv, NULL);
	pthread_cond_init(&in->ck_cv, NULL);
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
	/* Without it other connections still checkpoint (autocheckpoint): not fatal. */
	in->ck_started = pthread_create(&in->ck_thr, NULL, checkpointer, in) == 0;
	if (!in->ck_started)
		log_warnx("intake: cannot start the checkpoint thread");
	*out = in;
	return LETHE_OK;
fail_sync:
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->work);
	pthread_cond_destroy(&in->sync_cv);
	pthread_cond_destroy(&in->ck_cv);
fail:
	store_close(in->st);
	store_close(in->ck);
	seen_free(in->seen);
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
	if (in->stop || in->sync_failed) {
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
	pthread_cond_signal(&in->ck_cv);
	pthread_mutex_unlock(&in->mu);
	pthread_join(in->thr, NULL);
	pthread_join(in->sync_thr, NULL);
	if (in->ck_started)
		pthread_join(in->ck_thr, NULL);
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
	pthread_cond_destroy(&in->ck_cv);
	if (in->walfd >= 0)
		close(in->walfd);
	store_close(in->st);
	store_close(in->ck);
	seen_free(in->seen);
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
