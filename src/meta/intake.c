/* SPDX-License-Identifier: MIT */
/*
 * intake.c - durable intake of Meta requests through an append-only log
 * (see intake.h).
 *
 * Three threads and two log files, STATE-intake0 and STATE-intake1:
 *
 *  - the committer takes the queue as one group, resolves repeats (the
 *    pending map below, then meta/seen.h confirmed in the store), gives
 *    each new request a code and appends the group to the active log file
 *    in one pwrite: a header with a BLAKE2b checksum, then one record per
 *    new request (receipt time, code, app, subject, sealed identity);
 *  - the syncer takes every written group, makes it durable with one
 *    fdatasync of the file(s) written and only then calls the completions,
 *    so one group's fsync overlaps the next group's work;
 *  - the indexer moves durable requests into the state store, up to
 *    INDEX_BATCH in one transaction on a connection that does not sync on
 *    commit, then fsyncs the store's WAL; from then on the store has them
 *    and their log records are no longer needed.
 *
 * A request costs the answer path a record of ~150 bytes instead of a
 * SQLite transaction that rewrote the tail pages of four b-trees per group.
 *
 * Requests written but not yet in the store are "pending": they stay in
 * memory (struct pend, found by (app, subject) through a chained hash) so a
 * repeat finds them; once indexed they move to the seen map by id.  A
 * lookup by code that finds nothing in the store waits for the indexer
 * (intake_settle).
 *
 * The log is cut back only when every record in a file is in the store
 * and the WAL holding them is synced: the active file is truncated once it
 * is past LOG_SHRINK and fully indexed; past LOG_ROTATE the committer
 * switches to the other file (if that one is empty) and truncates the
 * first once its last record is indexed.  So under a sustained flood the
 * files stay near LOG_ROTATE, and at rest they stay small.  Truncations are
 * fsynced before the next write.  intake_start() replays both files: each
 * group whose checksum holds, into the store (a code already there is
 * skipped), then empties them.  Only a file's last group can be torn (a
 * group is answered only after its fsync), and such a group was never
 * answered.
 *
 * Locking: in->mu guards the queue, the lists between the threads, the
 * flags, the counters and the files' unindexed counts; in->smu guards the
 * seen map and the pending map (committer lookups, indexer moves).  No
 * thread holds both.  Completions run outside the locks (a completion may
 * free its request, so the next link is read first).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/intake.h"
#include "meta/seen.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define EXPIRE_EVERY_MS 60000.0 /* forget requests older than the window this often */
#define INTAKE_CACHE_KIB 512    /* page cache of the indexer's connection */
#define CKPT_CACHE_KIB 64       /* page cache of the checkpointer's and committer's connections */
#define GROUP_EAGER 8           /* write while the syncer is busy only from this many on */
#define CHECKPOINT_S 1          /* the checkpointer runs this often (seconds) */
#define INDEX_BATCH 4096        /* requests per indexer transaction, at most */
#define INDEX_GATHER 512        /* the indexer waits for this many ... */
#define INDEX_DELAY_MS 10       /* ... or this long, whichever comes first */
#define INDEX_RETRY_MS 200      /* pause after a failed indexer transaction */
#define LOG_SHRINK (1u << 20)   /* truncate the fully indexed active file past this */
#define LOG_ROTATE (8u << 20)   /* switch files past this */
#define LOG_MAGIC 0x3149544cu   /* "LTI1" */
#define LOG_HDR 32              /* magic, count, payload length, 0, checksum */
#define LOG_SUM 16              /* BLAKE2b checksum bytes */
#define LOG_MAX_GROUP (64u << 20)
#define LOG_APP_MAX 255
#define LOG_BOX_MAX 65535
/* Fixed part of a record: time, app length, box length, code, subject. */
#define REC_FIXED (8 + 1 + 2 + META_CODE_LEN + HASH_TEXT_LEN)

/* A request written to the log and not yet in the store. */
struct pend {
	struct pend *next;               /* syncer / indexer list */
	struct pend *hnext;              /* pending-map chain */
	uint32_t fp;                     /* hash of the subject */
	int file;                        /* log file it is in (0 or 1) */
	int64_t now;                     /* receipt time */
	int64_t id;                      /* its store id, once indexed */
	const char *app;                 /* app family (the configuration's string) */
	char subject[HASH_TEXT_LEN + 1]; /* keyed hash of (app, user id) */
	char code[META_CODE_LEN + 1];    /* its confirmation code */
	size_t boxlen;                   /* sealed identity */
	uint8_t box[];
};

struct logfile {
	char *path;        /* STATE-intakeN */
	int fd;            /* open read-write */
	uint64_t end;      /* bytes written (the next group goes there) */
	int64_t unindexed; /* records written and not yet in the store */
	bool dirty;        /* written since the syncer last synced it */
};

struct intake {
	int64_t repeat_window;        /* seconds */
	void (*on_commit)(void *);    /* after an indexer batch */
	void *arg;                    /* for on_commit */
	pthread_mutex_t mu;           /* guards the fields up to smu */
	pthread_cond_t work;          /* queue became non-empty, or stop */
	struct intake_req *head;      /* queue, oldest first */
	struct intake_req *tail;      /* last queued */
	size_t queued;                /* requests in the queue (head..tail) */
	bool stop;                    /* finish and exit */
	int64_t groups;               /* groups written */
	struct intake_req *sync_head; /* written groups awaiting the fsync, oldest first */
	struct intake_req *sync_tail; /* last of them */
	struct pend *syncp_head;      /* their new requests */
	struct pend *syncp_tail;      /* last of them */
	bool committer_done;          /* the committer exited: the syncer drains and exits */
	bool syncing;                 /* the syncer is in an fsync */
	bool sync_failed;             /* an fsync failed: refuse everything until restart */
	pthread_cond_t sync_cv;       /* sync_head became non-empty, or committer_done */
	int64_t syncs;                /* fsyncs done */
	struct pend *idx_head;        /* durable, waiting for the indexer, oldest first */
	struct pend *idx_tail;        /* last of them */
	size_t idx_n;                 /* how many */
	bool syncer_done;             /* the syncer exited: the indexer drains and exits */
	pthread_cond_t idx_cv;        /* idx_head became non-empty, syncer_done, or indexed grew */
	int64_t written;              /* requests written to the log */
	int64_t indexed;              /* of them, in the store */
	bool index_failed;            /* the indexer's last transaction failed */
	int settling;                 /* intake_settle() callers waiting: index at once */
	bool hold;                    /* intake_hold_index(): the indexer waits */
	int64_t submitted;            /* requests submitted */
	int64_t rate_count;           /* submitted at rate_at */
	double rate_at;               /* monotonic ms of intake_busy()'s last measure */
	bool busy;                    /* its verdict */
	struct logfile files[2];      /* the log */
	int active;                   /* the file groups go to */
	pthread_cond_t ck_cv;         /* signalled at stop */
	pthread_mutex_t smu;          /* guards seen, pmap, pcap, pn */
	struct seen *seen;            /* the window's indexed requests */
	struct pend **pmap;           /* pending requests by fp (chains, newest first) */
	size_t pcap;                  /* buckets (a power of two) */
	size_t pn;                    /* pending requests in the map */
	/* Committer only. */
	struct store *st;  /* lookups */
	uint8_t *buf;      /* the group being written */
	size_t bufcap;     /* its capacity */
	double expired_at; /* monotonic ms of the last seen_expire() */
	/* Indexer only. */
	struct store *ix; /* inserts (deferred sync) */
	char *walpath;    /* the state store's WAL file */
	int walfd;        /* open on walpath once it exists, or -1 */
	/* Threads. */
	pthread_t thr;      /* the committer */
	pthread_t sync_thr; /* the syncer */
	pthread_t idx_thr;  /* the indexer */
	pthread_t ck_thr;   /* the checkpointer */
	bool ck_started;    /* ck_thr runs */
	struct store *ck;   /* the checkpointer's connection */
};

/* ---- the pending map ----------------------------------------------------- */

/* FNV-1a of the subject folded to 32 bits (a keyed hash: already uniform). */
static uint32_t
subject_fp(const char *subject)
{
	uint64_t v = 1469598103934665603u;

	for (; *subject != '\0'; subject++)
		v = (v ^ (unsigned char)*subject) * 1099511628211u;
	return (uint32_t)(v ^ (v >> 32));
}

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

/* ---- the log ------------------------------------------------------------- */

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Room for @more bytes in the group buffer. */
static void
buf_reserve(struct intake *in, size_t used, size_t more)
{
	if (used + more <= in->bufcap)
		return;
	while (used + more > in->bufcap)
		in->bufcap = in->bufcap == 0 ? 65536 : in->bufcap * 2;
	in->buf = xrealloc(in->buf, in->bufcap);
}

/* Append the record of @p to the group buffer at @used; returns the new length. */
static size_t
rec_put(struct intake *in, size_t used, const struct pend *p)
{
	size_t na = strlen(p->app);
	uint8_t *b;

	buf_reserve(in, used, REC_FIXED + na + p->boxlen);
	b = in->buf + used;
	put_le(b, (uint64_t)p->now, 8);
	b[8] = (uint8_t)na;
	put_le(b + 9, p->boxlen, 2);
	memcpy(b + 11, p->code, META_CODE_LEN);
	memcpy(b + 11 + META_CODE_LEN, p->subject, HASH_TEXT_LEN);
	memcpy(b + REC_FIXED, p->app, na);
	memcpy(b + REC_FIXED + na, p->box, p->boxlen);
	return used + REC_FIXED + na + p->boxlen;
}

/* The checksum of a group: its header's first 16 bytes, then the payload. */
static void
group_sum(const uint8_t *hdr, const uint8_t *payload, size_t len, uint8_t out[LOG_SUM])
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, NULL, 0, LOG_SUM);
	crypto_generichash_update(&h, hdr, 16);
	crypto_generichash_update(&h, payload, len);
	crypto_generichash_final(&h, out, LOG_SUM);
}

/* Fill the header of a group of @count records, @len payload bytes after it. */
static void
group_seal(uint8_t *g, uint32_t count, size_t len)
{
	put_le(g, LOG_MAGIC, 4);
	put_le(g + 4, count, 4);
	put_le(g + 8, len, 4);
	put_le(g + 12, 0, 4);
	group_sum(g, g + LOG_HDR, len, g + 16);
}

/* Write all of @n bytes at @off; false on any error or short write. */
static bool
pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return true;
}

/* Empty log file @i for good (truncate, then fdatasync).  Committer or start only. */
static bool
log_truncate(struct intake *in, int i)
{
	struct logfile *f = &in->files[i];

	if (ftruncate(f->fd, 0) != 0 || fdatasync(f->fd) != 0) {
		log_warn("intake: cannot truncate %s", f->path);
		return false;
	}
	f->end = 0;
	return true;
}

/*
 * Before a group is written: empty what is fully indexed, and switch files
 * once the active one is past LOG_ROTATE.  A failed truncation counts as a
 * failed fsync (the file's state on disk is then unknown).
 */
static bool
log_maintain(struct intake *in)
{
	int a = in->active, b = 1 - a;
	int64_t ua, ub;

	pthread_mutex_lock(&in->mu);
	ua = in->files[a].unindexed;
	ub = in->files[b].unindexed;
	pthread_mutex_unlock(&in->mu);
	/* Only this thread adds records, so a count seen at 0 stays 0 until it writes. */
	if (in->files[b].end > 0 && ub == 0 && !log_truncate(in, b))
		return false;
	if (in->files[a].end >= LOG_ROTATE && in->files[b].end == 0)
		in->active = b;
	else if (in->files[a].end >= LOG_SHRINK && ua == 0 && !log_truncate(in, a))
		return false;
	return true;
}

/* ---- the committer ------------------------------------------------------- */

/* A request of the window that @r repeats: its code into r->code.  Under smu. */
static lethe_rc
find_repeat(struct intake *in, struct intake_req *r, uint32_t fp, struct lethe_err *err)
{
	int64_t since = r->now - in->repeat_window;
	const struct pend *p = pmap_find(in, r->app, r->subject, fp, since);
	struct store_meta_req found;
	lethe_rc rc;

	if (p != NULL) {
		memcpy(r->code, p->code, sizeof(r->code));
		return LETHE_OK;
	}
	rc = seen_lookup(in->seen, in->st, r->app, r->subject, since, &found, err);
	if (rc == LETHE_OK)
		snprintf(r->code, sizeof(r->code), "%.*s", META_CODE_LEN, found.code);
	return rc;
}

/* Forget the new requests of a group that could not be written. */
static void
drop_pends(struct intake *in, struct pend *list)
{
	pthread_mutex_lock(&in->smu);
	for (struct pend *p = list; p != NULL; p = p->next)
		pmap_remove(in, p);
	pthread_mutex_unlock(&in->smu);
	while (list != NULL) {
		struct pend *next = list->next;

		free(list);
		list = next;
	}
}

/*
 * Resolve each request of @group (a repeat, or a new request with a new
 * code) and write the new ones to the log as one group.  Sets each
 * request's rc (LETHE_OK: answer once synced) and the group's new requests
 * to *@pends.  false if the write failed (every request's rc says so).
 */
static bool
write_group(struct intake *in, struct intake_req *group, struct pend **pends, size_t *npend)
{
	struct pend *head = NULL, **tailp = &head;
	struct lethe_err err = {0};
	struct intake_req *r;
	size_t used = LOG_HDR;
	uint32_t count = 0;

	*pends = NULL;
	*npend = 0;
	buf_reserve(in, 0, LOG_HDR);
	pthread_mutex_lock(&in->smu);
	for (r = group; r != NULL; r = r->next) {
		uint32_t fp = subject_fp(r->subject);
		struct pend *p;
		lethe_rc rc;

		r->created = false;
		if (strlen(r->app) > LOG_APP_MAX || r->boxlen > LOG_BOX_MAX ||
		    used > LOG_MAX_GROUP - REC_FIXED - LOG_APP_MAX - LOG_BOX_MAX) {
			r->rc = LETHE_E_INVALID;
			continue;
		}
		rc = find_repeat(in, r, fp, &err);
		if (rc == LETHE_OK || rc != LETHE_E_NOTFOUND) {
			if (rc != LETHE_OK)
				log_warnx("intake: repeat lookup failed: %s", err.msg);
			r->rc = rc;
			continue;
		}
		p = xmalloc(sizeof(*p) + r->boxlen);
		p->next = NULL;
		p->fp = fp;
		p->file = in->active;
		p->now = r->now;
		p->id = 0;
		p->app = r->app;
		memcpy(p->subject, r->subject, sizeof(p->subject));
		meta_code_new(p->code, r->now);
		p->boxlen = r->boxlen;
		memcpy(p->box, r->box, r->boxlen);
		pmap_add(in, p);
		used = rec_put(in, used, p);
		count++;
		*tailp = p;
		tailp = &p->next;
		memcpy(r->code, p->code, sizeof(r->code));
		r->created = true;
		r->rc = LETHE_OK;
	}
	pthread_mutex_unlock(&in->smu);
	if (count == 0)
		return true;
	if (!log_maintain(in)) {
		pthread_mutex_lock(&in->mu);
		in->sync_failed = true;
		pthread_mutex_unlock(&in->mu);
		goto fail;
	}
	/* The active file may have changed: the group goes where log_maintain() says. */
	for (struct pend *p = head; p != NULL; p = p->next)
		p->file = in->active;
	group_seal(in->buf, count, used - LOG_HDR);
	if (!pwrite_all(in->files[in->active].fd, in->buf, used, in->files[in->active].end)) {
		log_warn("intake: cannot write to %s", in->files[in->active].path);
		goto fail;
	}
	in->files[in->active].end += used;
	*pends = head;
	*npend = count;
	return true;
fail:
	drop_pends(in, head);
	for (r = group; r != NULL; r = r->next)
		r->rc = LETHE_E_IO;
	return false;
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

static void *
committer(void *arg)
{
	struct intake *in = arg;

	prctl(PR_SET_NAME, "lethe-intake", 0, 0, 0); /* name in top and perf */
	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct intake_req *group, *last;
		struct pend *pends, *plast;
		size_t npend;
		bool ok;

		/*
		 * While the syncer is busy, let a group grow (up to GROUP_EAGER): it
		 * could not be answered before that fsync ends anyway.
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

		ok = write_group(in, group, &pends, &npend);
		maybe_expire(in, group->now);

		pthread_mutex_lock(&in->mu);
		if (!ok) {
			pthread_mutex_unlock(&in->mu);
			complete(group);
			pthread_mutex_lock(&in->mu);
			continue;
		}
		/* Written (or nothing to write), not yet durable: the syncer answers. */
		if (npend > 0) {
			in->groups++;
			in->written += (int64_t)npend;
			in->files[pends->file].unindexed += (int64_t)npend;
			in->files[pends->file].dirty = true;
			for (plast = pends; plast->next != NULL; plast = plast->next)
				;
			if (in->syncp_tail != NULL)
				in->syncp_tail->next = pends;
			else
				in->syncp_head = pends;
			in->syncp_tail = plast;
		}
		if (in->sync_tail != NULL)
			in->sync_tail->next = group;
		else
			in->sync_head = group;
		in->sync_tail = last;
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

/* ---- the syncer ---------------------------------------------------------- */

/*
 * The syncer: takes every written group, makes it durable with one
 * fdatasync of each file written since, while the committer already works
 * on the next group, then answers them and hands their new requests to the
 * indexer.  A failure is permanent (in->sync_failed): after a writeback
 * error Linux may mark the pages clean, so a later fdatasync could succeed
 * without those pages on disk, and a repeat would then find a request that
 * was never written and answer 200 with its code.
 */
static void *
syncer(void *arg)
{
	struct intake *in = arg;

	prctl(PR_SET_NAME, "lethe-sync", 0, 0, 0);
	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct intake_req *list, *r;
		struct pend *pends, *plast;
		bool dirty[2], ok = true;

		while (in->sync_head == NULL && !in->committer_done)
			pthread_cond_wait(&in->sync_cv, &in->mu);
		if (in->sync_head == NULL)
			break;
		list = in->sync_head;
		pends = in->syncp_head;
		plast = in->syncp_tail;
		in->sync_head = in->sync_tail = NULL;
		in->syncp_head = in->syncp_tail = NULL;
		for (int i = 0; i < 2; i++) {
			dirty[i] = in->files[i].dirty;
			in->files[i].dirty = false;
		}
		in->syncing = true;
		pthread_mutex_unlock(&in->mu);

		for (int i = 0; i < 2 && ok; i++)
			if (dirty[i] && fdatasync(in->files[i].fd) != 0) {
				log_warn("intake: fdatasync of %s failed; answering 503 to every "
				         "deletion request until lethe is restarted",
				         in->files[i].path);
				ok = false;
			}
		if (!ok)
			for (r = list; r != NULL; r = r->next)
				r->rc = LETHE_E_IO;
		complete(list);

		pthread_mutex_lock(&in->mu);
		if (ok) {
			if (dirty[0] || dirty[1])
				in->syncs++;
		} else {
			in->sync_failed = true;
		}
		/* Durable or not, they are in the log: the indexer moves them (a restart would). */
		if (pends != NULL) {
			if (in->idx_tail != NULL)
				in->idx_tail->next = pends;
			else
				in->idx_head = pends;
			in->idx_tail = plast;
			for (struct pend *p = pends; p != NULL; p = p->next)
				in->idx_n++;
			if (in->idx_n >= INDEX_GATHER)
				pthread_cond_broadcast(&in->idx_cv);
			else if (in->idx_head == pends)
				pthread_cond_broadcast(
				    &in->idx_cv); /* the indexer starts its clock */
		}
		in->syncing = false;
		if (in->head != NULL)
			pthread_cond_signal(&in->work);
	}
	in->syncer_done = true;
	pthread_cond_broadcast(&in->idx_cv);
	pthread_mutex_unlock(&in->mu);
	return NULL;
}

/* ---- the indexer --------------------------------------------------------- */

/*
 * fdatasync the store's WAL: every commit the indexer made before is then
 * durable, and so the log records behind them may go.
 */
static bool
wal_sync(struct intake *in)
{
	if (in->walfd < 0) {
		in->walfd = open(in->walpath, O_RDONLY | O_CLOEXEC);
		if (in->walfd < 0) {
			log_warn("intake: cannot open the state store's WAL");
			return false;
		}
		if (!sync_dir_of(in->walpath)) {
			log_warn("intake: cannot sync the state store's directory");
			close(in->walfd);
			in->walfd = -1;
			return false;
		}
	}
	if (fdatasync(in->walfd) != 0) {
		log_warn("intake: fdatasync of the state store's WAL failed");
		return false;
	}
	return true;
}

/* Insert @batch (@n requests) in one transaction and make it durable. */
static lethe_rc
index_batch(struct intake *in, struct pend *batch, struct lethe_err *err)
{
	lethe_rc rc = store_begin(in->ix, err);

	for (struct pend *p = batch; rc == LETHE_OK && p != NULL; p = p->next)
		rc = store_meta_insert(in->ix, p->code, p->app, p->subject, p->box, p->boxlen,
		                       p->now, &p->id, err);
	if (rc == LETHE_OK)
		rc = store_commit(in->ix, err);
	if (rc != LETHE_OK) {
		store_rollback(in->ix);
		return rc;
	}
	if (!wal_sync(in))
		return lethe_err_set(err, LETHE_E_IO, "fdatasync of the state store's WAL failed");
	return LETHE_OK;
}

/*
 * The indexer: moves durable requests into the store, INDEX_BATCH at most
 * per transaction, then from the pending map to the seen map.  A failed
 * transaction is retried after INDEX_RETRY_MS (the requests are safe in the
 * log meanwhile); at stop, what it could not move stays in the log for the
 * next start.
 */
static void *
indexer(void *arg)
{
	struct intake *in = arg;
	struct lethe_err err = {0};
	double warned = -1e9;

	prctl(PR_SET_NAME, "lethe-index", 0, 0, 0);
	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct pend *batch, *p, **pp;
		size_t n = 0;
		lethe_rc rc;

		while ((in->idx_head == NULL || in->hold) && !in->syncer_done)
			pthread_cond_wait(&in->idx_cv, &in->mu);
		if (in->idx_head == NULL || in->hold)
			break;
		/*
		 * Gather: one transaction for many requests writes each b-tree's
		 * tail pages once instead of once per group.  Nobody waits on it
		 * but a status lookup (intake_settle) and the runner.
		 */
		if (in->idx_n < INDEX_GATHER && !in->syncer_done && !in->settling) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += INDEX_DELAY_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (in->idx_n < INDEX_GATHER && !in->syncer_done && !in->settling)
				if (pthread_cond_timedwait(&in->idx_cv, &in->mu, &until) != 0)
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

		rc = index_batch(in, batch, &err);
		if (rc != LETHE_OK) {
			bool stopping;

			if (time_mono_ms() - warned > 10000.0) {
				log_warnx(
				    "intake: %zu requests could not be moved into the state store "
				    "(they are safe in the intake log; retrying): %s",
				    n, err.msg);
				warned = time_mono_ms();
			}
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
			stopping = in->syncer_done;
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
			seen_add(in->seen, p->subject, p->id);
		}
		pthread_mutex_unlock(&in->smu);
		pthread_mutex_lock(&in->mu);
		in->index_failed = false;
		for (p = batch; p != NULL; p = p->next)
			in->files[p->file].unindexed--;
		in->indexed += (int64_t)n;
		pthread_cond_broadcast(&in->idx_cv);
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
	return NULL;
}

/* ---- the checkpointer ---------------------------------------------------- */

/* True once the WAL file is past STORE_WAL_LIMIT (time for a restart). */
static bool
wal_too_big(const struct intake *in)
{
	struct stat sb;

	return stat(in->walpath, &sb) == 0 && sb.st_size > STORE_WAL_LIMIT;
}

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

/* ---- start: replay ------------------------------------------------------- */

char *
intake_log_path(const char *path, int i)
{
	return xasprintf("%s-intake%d", path, i);
}

/* Read all of file @fd (at most @max bytes) into *@out; its length to *@n. */
static bool
read_file(int fd, uint8_t **out, size_t *n)
{
	struct stat sb;
	size_t got = 0;

	*out = NULL;
	*n = 0;
	if (fstat(fd, &sb) != 0)
		return false;
	*out = xmalloc(sb.st_size > 0 ? (size_t)sb.st_size : 1);
	while (got < (size_t)sb.st_size) {
		ssize_t r = pread(fd, *out + got, (size_t)sb.st_size - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	*n = got;
	return got == (size_t)sb.st_size;
}

/* True if the @n bytes at @s are printable ASCII without spaces. */
static bool
printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/*
 * Insert the records of log @data (@n bytes) into the store (a code already
 * there is skipped); the count to *@count.  Stops at the first group that
 * does not check out (a torn last write).
 */
static lethe_rc
replay(struct intake *in, const char *path, const uint8_t *data, size_t n, int64_t *count,
       struct lethe_err *err)
{
	size_t off = 0;
	lethe_rc rc = LETHE_OK;

	while (rc == LETHE_OK && n - off >= LOG_HDR) {
		const uint8_t *g = data + off;
		uint32_t nrec = (uint32_t)get_le(g + 4, 4);
		size_t len = get_le(g + 8, 4), pos = 0;
		uint8_t sum[LOG_SUM];

		if (get_le(g, 4) != LOG_MAGIC || len > n - off - LOG_HDR)
			break;
		group_sum(g, g + LOG_HDR, len, sum);
		if (sodium_memcmp(sum, g + 16, LOG_SUM) != 0)
			break;
		for (uint32_t k = 0; rc == LETHE_OK && k < nrec; k++) {
			const uint8_t *rec = g + LOG_HDR + pos;
			size_t na, nb;
			char code[META_CODE_LEN + 1], subject[HASH_TEXT_LEN + 1],
			    app[LOG_APP_MAX + 1];

			if (len - pos < REC_FIXED)
				return lethe_err_set(err, LETHE_E_IO,
				                     "intake log %s: bad record at %zu", path, off);
			na = rec[8];
			nb = get_le(rec + 9, 2);
			if (len - pos - REC_FIXED < na + nb || na == 0)
				return lethe_err_set(err, LETHE_E_IO,
				                     "intake log %s: bad record at %zu", path, off);
			memcpy(code, rec + 11, META_CODE_LEN);
			code[META_CODE_LEN] = '\0';
			memcpy(subject, rec + 11 + META_CODE_LEN, HASH_TEXT_LEN);
			subject[HASH_TEXT_LEN] = '\0';
			memcpy(app, rec + REC_FIXED, na);
			app[na] = '\0';
			if (!meta_code_ok(code) ||
			    !printable((const uint8_t *)subject, HASH_TEXT_LEN) ||
			    !printable((const uint8_t *)app, na))
				return lethe_err_set(err, LETHE_E_IO,
				                     "intake log %s: bad record at %zu", path, off);
			rc = store_meta_restore(in->ix, code, app, subject, rec + REC_FIXED + na,
			                        nb, (int64_t)get_le(rec, 8), count, err);
			pos += REC_FIXED + na + nb;
		}
		off += LOG_HDR + len;
	}
	if (rc == LETHE_OK && off < n)
		log_warnx("intake: ignoring the last %zu bytes of %s (a write cut short)", n - off,
		          path);
	return rc;
}

/* The receipt time of the first record of log @data, or INT64_MAX. */
static int64_t
first_time(const uint8_t *data, size_t n)
{
	if (n < LOG_HDR + REC_FIXED || get_le(data, 4) != LOG_MAGIC)
		return INT64_MAX;
	return (int64_t)get_le(data + LOG_HDR, 8);
}

/*
 * Open both log files, move what they hold into the store (the older file
 * first, so ids follow receipt order), make that durable, then empty them.
 */
static lethe_rc
log_open_replay(struct intake *in, const char *path, struct lethe_err *err)
{
	uint8_t *data[2] = {NULL, NULL};
	size_t len[2] = {0, 0};
	bool created = false;
	int64_t count = 0;
	lethe_rc rc = LETHE_OK;
	int order[2] = {0, 1};

	for (int i = 0; i < 2; i++) {
		struct logfile *f = &in->files[i];

		f->path = intake_log_path(path, i);
		f->fd = open(f->path, O_RDWR | O_CLOEXEC);
		if (f->fd < 0 && errno == ENOENT) {
			f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			created = true;
		}
		if (f->fd < 0)
			return lethe_err_set(err, LETHE_E_IO, "cannot open the intake log %s: %s",
			                     f->path, strerror(errno));
		if (!read_file(f->fd, &data[i], &len[i])) {
			rc = lethe_err_set(err, LETHE_E_IO, "cannot read the intake log %s",
			                   f->path);
			goto out;
		}
	}
	if (created && !sync_dir_of(path)) {
		rc = lethe_err_set(err, LETHE_E_IO, "cannot sync the directory of %s", path);
		goto out;
	}
	if (len[0] + len[1] > 0) {
		if (first_time(data[1], len[1]) < first_time(data[0], len[0])) {
			order[0] = 1;
			order[1] = 0;
		}
		rc = store_begin(in->ix, err);
		for (int k = 0; rc == LETHE_OK && k < 2; k++)
			rc = replay(in, in->files[order[k]].path, data[order[k]], len[order[k]],
			            &count, err);
		if (rc == LETHE_OK)
			rc = store_commit(in->ix, err);
		if (rc != LETHE_OK) {
			store_rollback(in->ix);
			goto out;
		}
		if (!wal_sync(in)) {
			rc = lethe_err_set(err, LETHE_E_IO, "cannot sync the state store's WAL");
			goto out;
		}
		for (int i = 0; i < 2; i++)
			if (len[i] > 0 && !log_truncate(in, i)) {
				rc = lethe_err_set(err, LETHE_E_IO, "cannot truncate %s",
				                   in->files[i].path);
				goto out;
			}
		if (count > 0)
			log_info("intake: %lld requests recovered from the intake log",
			         (long long)count);
	}
out:
	free(data[0]);
	free(data[1]);
	return rc;
}

/* ---- interface ----------------------------------------------------------- */

static void
intake_release(struct intake *in)
{
	for (int i = 0; i < 2; i++) {
		if (in->files[i].fd >= 0)
			close(in->files[i].fd);
		free(in->files[i].path);
	}
	if (in->walfd >= 0)
		close(in->walfd);
	store_close(in->st);
	store_close(in->ix);
	store_close(in->ck);
	seen_free(in->seen);
	free(in->pmap);
	free(in->buf);
	free(in->walpath);
	free(in);
}

lethe_rc
intake_start(const char *path, int64_t repeat_window, void (*on_commit)(void *), void *arg,
             struct intake **out, struct lethe_err *err)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	lethe_rc rc;

	*out = NULL;
	in->walfd = -1;
	in->files[0].fd = in->files[1].fd = -1;
	in->walpath = xasprintf("%s%s", path, STORE_WAL_SUFFIX);
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
		rc = log_open_replay(in, path, err);
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
	pthread_cond_init(&in->work, NULL);
	pthread_cond_init(&in->sync_cv, NULL);
	pthread_cond_init(&in->idx_cv, NULL);
	pthread_cond_init(&in->ck_cv, NULL);
	if (pthread_create(&in->idx_thr, NULL, indexer, in) != 0)
		goto fail_threads;
	if (pthread_create(&in->sync_thr, NULL, syncer, in) != 0) {
		pthread_mutex_lock(&in->mu);
		in->syncer_done = true;
		pthread_cond_broadcast(&in->idx_cv);
		pthread_mutex_unlock(&in->mu);
		pthread_join(in->idx_thr, NULL);
		goto fail_threads;
	}
	if (pthread_create(&in->thr, NULL, committer, in) != 0) {
		pthread_mutex_lock(&in->mu);
		in->committer_done = true;
		pthread_cond_broadcast(&in->sync_cv);
		pthread_mutex_unlock(&in->mu);
		pthread_join(in->sync_thr, NULL);
		pthread_join(in->idx_thr, NULL);
		goto fail_threads;
	}
	/* Without it other connections still checkpoint (autocheckpoint): not fatal. */
	in->ck_started = pthread_create(&in->ck_thr, NULL, checkpointer, in) == 0;
	if (!in->ck_started)
		log_warnx("intake: cannot start the checkpoint thread");
	*out = in;
	return LETHE_OK;
fail_threads:
	rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the intake threads");
	pthread_mutex_destroy(&in->mu);
	pthread_mutex_destroy(&in->smu);
	pthread_cond_destroy(&in->work);
	pthread_cond_destroy(&in->sync_cv);
	pthread_cond_destroy(&in->idx_cv);
	pthread_cond_destroy(&in->ck_cv);
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
	in->submitted++;
	if (in->head == r || in->queued == GROUP_EAGER)
		pthread_cond_signal(&in->work);
	pthread_mutex_unlock(&in->mu);
}

void
intake_settle(struct intake *in, int timeout_ms)
{
	struct timespec until;
	int64_t target;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&in->mu);
	target = in->written;
	in->settling++;
	pthread_cond_broadcast(&in->idx_cv);
	while (in->indexed < target && !in->index_failed && !in->syncer_done)
		if (pthread_cond_timedwait(&in->idx_cv, &in->mu, &until) != 0)
			break;
	in->settling--;
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
	pthread_join(in->idx_thr, NULL);
	if (in->ck_started)
		pthread_join(in->ck_thr, NULL);
	/* Everything is in the store (and its WAL synced): the log may go. */
	if (in->idx_head == NULL && !in->sync_failed)
		for (int i = 0; i < 2; i++)
			if (in->files[i].end > 0)
				(void)log_truncate(in, i);
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
	pthread_mutex_destroy(&in->mu);
	pthread_mutex_destroy(&in->smu);
	pthread_cond_destroy(&in->work);
	pthread_cond_destroy(&in->sync_cv);
	pthread_cond_destroy(&in->idx_cv);
	pthread_cond_destroy(&in->ck_cv);
	intake_release(in);
}

void
intake_hold_index(struct intake *in, bool hold)
{
	pthread_mutex_lock(&in->mu);
	in->hold = hold;
	pthread_cond_broadcast(&in->idx_cv);
	pthread_mutex_unlock(&in->mu);
}

bool
intake_busy(void *arg)
{
	struct intake *in = arg;
	double now = time_mono_ms();
	bool busy;

	pthread_mutex_lock(&in->mu);
	if (now - in->rate_at >= 100.0) {
		in->busy =
		    (double)(in->submitted - in->rate_count) * 1000.0 / (now - in->rate_at) >=
		    INTAKE_BUSY_RATE;
		in->rate_at = now;
		in->rate_count = in->submitted;
	}
	busy = in->busy;
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
