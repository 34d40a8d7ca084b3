/* SPDX-License-Identifier: MIT */
/*
 * intake.c - durable intake of Meta requests through an append-only log
 * (see intake.h; the design and its measurements: docs/internals/jobs.md).
 *
 * Three threads and two log files, STATE-intake0 and STATE-intake1, each
 * written with zeros to LOG_PREALLOC at start and locked (flock):
 *
 *  - the committer (writer) takes the queue as one group, resolves repeats
 *    (the pending map below, then meta/seen.h confirmed in the store),
 *    gives each new request a code, appends the group to the active log
 *    file in one pwrite (a header with the epoch and a BLAKE2b checksum,
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
 * (log_reset: end 0, a new epoch); replay reads a file's groups only while
 * they carry its first group's epoch.  Past LOG_ROTATE the writer switches
 * to the other file once that one is free.  While idle, the writer
 * overwrites fully indexed bytes with zeros, top down (log_scrub), so no
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

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/intake.h"
#include "meta/seen.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/worker.h"

#define EXPIRE_EVERY_MS 60000.0  /* forget requests older than the window this often */
#define INTAKE_CACHE_KIB 512     /* page cache of the indexer's connection */
#define CKPT_CACHE_KIB 64        /* page cache of the checkpointer's and committer's connections */
#define CHECKPOINT_S 1           /* the checkpointer runs this often (seconds) */
#define INDEX_BATCH 4096         /* requests per indexer transaction, at most */
#define INDEX_GATHER 1024        /* the indexer waits for this many ... */
#define INDEX_DELAY_MS 20        /* ... or this long, whichever comes first */
#define INDEX_RETRY_MS 200       /* pause after a failed indexer transaction */
#define LOG_ROTATE (8u << 20)    /* switch files past this */
#define LOG_PREALLOC (9u << 20)  /* each file is written with zeros to this size first */
#define SCRUB_CHUNK (256u << 10) /* zeros written per step while the writer is idle */
#define SCRUB_IDLE_MS 200.0      /* ... that long after its last group */
#define GATHER_N 32              /* under a flood the committer waits for this many ... */
#define GATHER_US 200            /* ... or this long, whichever comes first */
#define LOG_MAGIC 0x3149544cu    /* "LTI1" */
#define LOG_HDR 32               /* magic, count, payload length, epoch, checksum */
#define LOG_SUM 16               /* BLAKE2b checksum bytes */
#define LOG_MAX_GROUP (64u << 20)
#define LOG_APP_MAX 255
#define REC_RERUN 0x8000u /* in a record's box length: a rerun, its run number first */
#define REC_RUN 4         /* bytes of that run number */
#define LOG_BOX_MAX (0x7fff - REC_RUN)
/* Fixed part of a record: time, app length, box length, code, subject. */
#define REC_FIXED (8 + 1 + 2 + META_CODE_LEN + HASH_TEXT_LEN)

/* A request written to the log and not yet in the store. */
struct pend {
	struct pend *next;               /* indexer list */
	struct pend *hnext;              /* pending-map chain */
	uint32_t fp;                     /* hash of the subject */
	int file;                        /* log file it is in (0 or 1) */
	int64_t now;                     /* receipt time */
	int64_t id;                      /* its store id, once indexed */
	uint32_t run;                    /* 0: a new request; else a rerun asking for this run */
	const char *app;                 /* app family (the configuration's string) */
	char subject[HASH_TEXT_LEN + 1]; /* keyed hash of (app, user id) */
	char code[META_CODE_LEN + 1];    /* its confirmation code */
	size_t boxlen;                   /* sealed identity */
	uint8_t box[];
};

struct logfile {
	char *path;        /* STATE-intakeN */
	int fd;            /* open read-write, locked (flock) */
	uint64_t end;      /* bytes written in this epoch (the next group goes there) */
	uint64_t hw;       /* bytes that may hold records not yet overwritten with zeros */
	uint32_t epoch;    /* the epoch its groups are written with */
	int64_t unindexed; /* records written and not yet in the store */
};

struct intake {
	int64_t repeat_window;     /* seconds */
	void (*on_commit)(void *); /* after an indexer batch */
	void *arg;                 /* for on_commit */
	pthread_mutex_t mu;        /* guards the fields up to smu, and the workers' flags */
	struct worker wc;          /* the committer: queue became non-empty, or stop */
	struct intake_req *head;   /* queue, oldest first */
	struct intake_req *tail;   /* last queued */
	int64_t groups;            /* groups written */
	bool sync_failed;          /* a write or fsync failed: refuse everything until restart */
	int64_t syncs;             /* fsyncs done */
	struct pend *idx_head;     /* durable, waiting for the indexer, oldest first */
	struct pend *idx_tail;     /* last of them */
	size_t idx_n;              /* how many */
	bool writer_done;          /* the committer exited: the indexer drains and exits */
	struct worker wi;          /* the indexer: idx_head became non-empty, writer_done,
	                              or indexed grew (intake_settle waits on it too) */
	int64_t written;           /* requests written to the log */
	int64_t indexed;           /* of them, in the store */
	bool index_failed;         /* the indexer's last transaction failed */
	int settling;              /* intake_settle() callers waiting: index at once */
	bool hold;                 /* intake_hold_index(): the indexer waits */
	int64_t submitted;         /* requests submitted */
	int64_t queued;            /* requests in the queue */
	bool gathering;            /* the committer waits for GATHER_N of them */
	int64_t rate_count;        /* submitted at rate_at */
	double rate_at;            /* monotonic ms of rate_update()'s last measure */
	bool busy;                 /* its verdict: INTAKE_BUSY_RATE or more */
	struct logfile files[2];   /* the log */
	struct worker wk;          /* the checkpointer (naps CHECKPOINT_S, until stop) */
	pthread_mutex_t smu;       /* guards seen, pmap, pcap, pn */
	struct seen *seen;         /* the window's indexed requests */
	struct pend **pmap;        /* pending requests by fp (chains, newest first) */
	size_t pcap;               /* buckets (a power of two) */
	size_t pn;                 /* pending requests in the map */
	/* Committer only (and start and stop, when it does not run). */
	int active;        /* the file groups go to */
	uint32_t epoch;    /* the last epoch given to a file */
	struct store *st;  /* lookups */
	uint8_t *buf;      /* the group being written */
	size_t bufcap;     /* its capacity */
	double expired_at; /* monotonic ms of the last seen_expire() */
	/* Indexer only. */
	struct store *ix;      /* inserts (deferred sync) */
	struct store_wal *wal; /* the state store's WAL, synced after each commit */
	/* Checkpointer only. */
	struct store *ck; /* its connection */
};

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
	size_t nr = p->run > 0 ? REC_RUN : 0;
	uint8_t *b;

	buf_reserve(in, used, REC_FIXED + na + nr + p->boxlen);
	b = in->buf + used;
	put_le(b, (uint64_t)p->now, 8);
	b[8] = (uint8_t)na;
	put_le(b + 9, (nr + p->boxlen) | (p->run > 0 ? REC_RERUN : 0), 2);
	memcpy(b + 11, p->code, META_CODE_LEN);
	memcpy(b + 11 + META_CODE_LEN, p->subject, HASH_TEXT_LEN);
	memcpy(b + REC_FIXED, p->app, na);
	if (nr > 0)
		put_le(b + REC_FIXED + na, p->run, REC_RUN);
	memcpy(b + REC_FIXED + na + nr, p->box, p->boxlen);
	return used + REC_FIXED + na + nr + p->boxlen;
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
group_seal(uint8_t *g, uint32_t count, size_t len, uint32_t epoch)
{
	put_le(g, LOG_MAGIC, 4);
	put_le(g + 4, count, 4);
	put_le(g + 8, len, 4);
	put_le(g + 12, epoch, 4);
	group_sum(g, g + LOG_HDR, len, g + 16);
}

/*
 * Write (@writing) or read all of @n bytes at @off of @fd; false on any
 * error, a short write, or a short read.
 */
static bool
pio_all(int fd, uint8_t *p, size_t n, uint64_t off, bool writing)
{
	while (n > 0) {
		ssize_t r = writing ? pwrite(fd, p, n, (off_t)off) : pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return true;
}

static bool
pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	return pio_all(fd, (uint8_t *)(uintptr_t)p, n, off, true); /* not written to */
}

/*
 * Start file @i over: the next group goes to its start with a new epoch.
 * Nothing is written: replay reads a file only while its groups carry the
 * epoch of its first group, so whatever an earlier epoch left further on
 * is never read again.  (Groups are written in order and each is fsynced
 * before the next is written, so the first group on disk is the newest
 * epoch's if any of that epoch's groups is on disk.)
 */
static void
log_reset(struct intake *in, int i)
{
	in->files[i].end = 0;
	if (++in->epoch == 0) /* 0 means "no group" to replay */
		in->epoch = 1;
	in->files[i].epoch = in->epoch;
}

/*
 * Overwrite bytes [@from, hw) of file @i with zeros, top down, at most
 * @budget bytes (all of them if 0), then fsync: records already in the
 * store, whose sealed identities must not outlive their erasure on disk.
 * Committer only (or start and stop), and only for a file whose records
 * are all in the store.  Returns false on an I/O error.
 */
static bool
log_scrub(struct intake *in, int i, uint64_t from, uint64_t budget)
{
	static const uint8_t zero[SCRUB_CHUNK];
	struct logfile *f = &in->files[i];
	uint64_t done = 0;

	while (f->hw > from && (budget == 0 || done < budget)) {
		uint64_t n = f->hw - from < SCRUB_CHUNK ? f->hw - from : SCRUB_CHUNK;

		if (!pwrite_all(f->fd, zero, n, f->hw - n)) {
			log_warn("intake: cannot overwrite %s", f->path);
			return false;
		}
		f->hw -= n;
		done += n;
	}
	if (done > 0 && fdatasync(f->fd) != 0) {
		log_warn("intake: cannot sync %s", f->path);
		return false;
	}
	return true;
}

/*
 * Before a group is written: start over a file whose records are all in
 * the store, and switch files once the active one is past LOG_ROTATE (if
 * the other is free).  Under a trickle the active file starts over at
 * every group, so groups keep landing in its first pages.
 */
static void
log_maintain(struct intake *in)
{
	int a = in->active, b = 1 - a;
	int64_t ua, ub;

	pthread_mutex_lock(&in->mu);
	ua = in->files[a].unindexed;
	ub = in->files[b].unindexed;
	pthread_mutex_unlock(&in->mu);
	/* Only this thread adds records, so a count seen at 0 stays 0 until it writes. */
	if (in->files[b].end > 0 && ub == 0)
		in->files[b].end = 0; /* free: it gets an epoch when it becomes active */
	if (in->files[a].end >= LOG_ROTATE && in->files[b].end == 0) {
		in->active = b;
		log_reset(in, b);
	} else if (in->files[a].end > 0 && ua == 0) {
		log_reset(in, a);
	}
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
	struct store_meta_req found;
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
	buf_reserve(in, 0, LOG_HDR);
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
		used = rec_put(in, used, p);
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
	log_maintain(in);
	/* The active file may have changed: the group goes where log_maintain() says. */
	for (struct pend *p = head; p != NULL; p = p->next)
		p->file = in->active;
	group_seal(in->buf, count, used - LOG_HDR, in->files[in->active].epoch);
	if (!pwrite_all(in->files[in->active].fd, in->buf, used, in->files[in->active].end)) {
		log_warn_limited(&write_log, "intake: cannot write to %s",
		                 in->files[in->active].path);
		goto fail;
	}
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

/*
 * The committer: takes the whole queue as one group, writes its new
 * requests to the log, fsyncs, hands them to the indexer and answers;
 * meanwhile the next group gathers in the queue.  A failed write answers
 * 503 to its group.  A failed fsync is permanent (in->sync_failed): after a
 * writeback error Linux may mark the pages clean, so a later fdatasync could
 * succeed without those pages on disk, and a repeat would then find a
 * request that was never written and answer 200 with its code.
 */
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
			log_reset(in, i);
		f->end = 0;
		if (!log_scrub(in, i, 0, SCRUB_CHUNK))
			f->hw = 0; /* warned; do not retry in a loop */
		return true;
	}
	return false;
}

/*
 * Under in->mu: measure the submission rate (every 100 ms at most) and
 * return whether it is INTAKE_BUSY_RATE or more.
 */
static bool
rate_update(struct intake *in, double now)
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
static void
committer(struct worker *w, void *arg)
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
		if (rate_update(in, time_mono_ms()) && in->queued < GATHER_N)
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
			                            p->boxlen, p->now, &p->id, &added, err);
	}
	if (rc == LETHE_OK)
		rc = store_commit(in->ix, err);
	if (rc != LETHE_OK) {
		store_rollback(in->ix);
		return rc;
	}
	if (!store_wal_sync(in->wal)) {
		*fatal = true; /* as for the log: a later fsync could "succeed" without the pages */
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
static void
indexer(struct worker *w, void *arg)
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
static void
checkpointer(struct worker *w, void *arg)
{
	struct intake *in = arg;
	struct lethe_err err = {0};

	while (!worker_nap(w, CHECKPOINT_S * 1000)) {
		if (store_wal_checkpoint(in->ck, in->wal, &err) != LETHE_OK)
			log_warnx_limited(&ckpt_log, "intake: %s", err.msg);
		malloc_trim(0);
	}
}

/* ---- start: replay ------------------------------------------------------- */

char *
intake_log_path(const char *path, int i)
{
	return xasprintf("%s-intake%d", path, i);
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

/* Insert the records of one group's payload @g (@len bytes, @nrec records) into the store. */
static lethe_rc
replay_group(struct intake *in, const char *path, uint64_t at, const uint8_t *g, size_t len,
             uint32_t nrec, int64_t *count, struct lethe_err *err)
{
	size_t pos = 0;
	lethe_rc rc = LETHE_OK;

	for (uint32_t k = 0; rc == LETHE_OK && k < nrec; k++) {
		const uint8_t *rec = g + pos;
		int64_t id = 0;
		bool added = false, rerun;
		size_t na, nb, nr;
		char code[META_CODE_LEN + 1], subject[HASH_TEXT_LEN + 1], app[LOG_APP_MAX + 1];

		if (len - pos < REC_FIXED)
			goto bad;
		na = rec[8];
		nb = get_le(rec + 9, 2);
		rerun = (nb & REC_RERUN) != 0;
		nb &= ~(size_t)REC_RERUN;
		nr = rerun ? REC_RUN : 0;
		if (len - pos - REC_FIXED < na + nb || na == 0 || nb < nr)
			goto bad;
		memcpy(code, rec + 11, META_CODE_LEN);
		code[META_CODE_LEN] = '\0';
		memcpy(subject, rec + 11 + META_CODE_LEN, HASH_TEXT_LEN);
		subject[HASH_TEXT_LEN] = '\0';
		memcpy(app, rec + REC_FIXED, na);
		app[na] = '\0';
		if (!meta_code_ok(code) || !printable((const uint8_t *)subject, HASH_TEXT_LEN) ||
		    !printable((const uint8_t *)app, na))
			goto bad;
		if (rerun)
			rc = store_meta_rerun(in->ix, code,
			                      (int64_t)get_le(rec + REC_FIXED + na, REC_RUN),
			                      rec + REC_FIXED + na + nr, nb - nr,
			                      (int64_t)get_le(rec, 8), &added, err);
		else
			rc =
			    store_meta_insert_once(in->ix, code, app, subject, rec + REC_FIXED + na,
			                           nb, (int64_t)get_le(rec, 8), &id, &added, err);
		*count += added;
		pos += REC_FIXED + na + nb;
	}
	return rc;
bad:
	/* The checksum held, so this is no torn write: refuse to guess. */
	return lethe_err_set(err, LETHE_E_IO,
	                     "intake log %s: a bad record in the group at offset %llu; move the "
	                     "file away to start without it (its requests are then lost)",
	                     path, (unsigned long long)at);
}

/*
 * Insert the requests of log file @i into the store (a code already there
 * is skipped): its groups from the start, while each carries the epoch of
 * the first and its checksum holds (the first that does not is where the
 * epoch's writing ended, or a write cut short).  Reads one group at a time.
 */
static lethe_rc
replay(struct intake *in, int i, uint32_t epoch, int64_t *count, struct lethe_err *err)
{
	struct logfile *f = &in->files[i];
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t off = 0;
	struct stat sb;
	lethe_rc rc = LETHE_OK;

	if (fstat(f->fd, &sb) != 0)
		return lethe_err_set(err, LETHE_E_IO, "cannot read %s", f->path);
	while (rc == LETHE_OK && (uint64_t)sb.st_size - off >= LOG_HDR) {
		uint8_t h[LOG_HDR], sum[LOG_SUM];
		size_t len;

		if (!pio_all(f->fd, h, sizeof(h), off, false))
			return lethe_err_set(err, LETHE_E_IO, "cannot read %s", f->path);
		len = get_le(h + 8, 4);
		if (get_le(h, 4) != LOG_MAGIC || get_le(h + 12, 4) != epoch ||
		    len > LOG_MAX_GROUP || len > (uint64_t)sb.st_size - off - LOG_HDR)
			break;
		if (len > cap) {
			cap = len;
			buf = xrealloc(buf, cap);
		}
		if (!pio_all(f->fd, buf, len, off + LOG_HDR, false)) {
			free(buf);
			return lethe_err_set(err, LETHE_E_IO, "cannot read %s", f->path);
		}
		group_sum(h, buf, len, sum);
		if (sodium_memcmp(sum, h + 16, LOG_SUM) != 0)
			break;
		rc = replay_group(in, f->path, off, buf, len, (uint32_t)get_le(h + 4, 4), count,
		                  err);
		off += LOG_HDR + len;
	}
	free(buf);
	return rc;
}

/* The epoch of log file @fd (its first group's), or 0 if it starts with no group. */
static uint32_t
file_epoch(int fd)
{
	uint8_t h[LOG_HDR];

	if (!pio_all(fd, h, sizeof(h), 0, false) || get_le(h, 4) != LOG_MAGIC)
		return 0;
	return (uint32_t)get_le(h + 12, 4);
}

/* Write zeros to file @i up to LOG_PREALLOC: later fsyncs then write data only. */
static bool
log_prealloc(struct intake *in, int i)
{
	static const uint8_t zero[65536];
	struct logfile *f = &in->files[i];
	struct stat sb;
	uint64_t have;

	if (fstat(f->fd, &sb) != 0)
		return false;
	have = (uint64_t)sb.st_size;
	if (have >= LOG_PREALLOC)
		return true;
	for (size_t off = have; off < LOG_PREALLOC; off += sizeof(zero))
		if (!pwrite_all(f->fd, zero, sizeof(zero), off))
			return false;
	return fdatasync(f->fd) == 0;
}

/*
 * Open both log files, move what they hold into the store (the older
 * epoch first, so ids follow receipt order), make that durable, mark the
 * files empty, and write them out to LOG_PREALLOC.
 */
static lethe_rc
log_open_replay(struct intake *in, const char *path, struct lethe_err *err)
{
	uint32_t ep[2];
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
		if (flock(f->fd, LOCK_EX | LOCK_NB) != 0)
			return lethe_err_set(err, LETHE_E_BUSY,
			                     "the intake log %s is in use (is another lethe serve "
			                     "running on this state store?)",
			                     f->path);
		ep[i] = file_epoch(f->fd);
	}
	if (ep[1] != 0 && (ep[0] == 0 || ep[1] < ep[0])) {
		order[0] = 1;
		order[1] = 0;
	}
	in->epoch = ep[0] > ep[1] ? ep[0] : ep[1];
	if (ep[0] != 0 || ep[1] != 0) {
		rc = store_begin(in->ix, err);
		for (int k = 0; rc == LETHE_OK && k < 2; k++)
			if (ep[order[k]] != 0)
				rc = replay(in, order[k], ep[order[k]], &count, err);
		if (rc == LETHE_OK)
			rc = store_commit(in->ix, err);
		if (rc != LETHE_OK) {
			store_rollback(in->ix);
			return rc;
		}
		if (!store_wal_sync(in->wal))
			return lethe_err_set(err, LETHE_E_IO, "cannot sync the state store's WAL");
		/* Everything is in the store now: no sealed identity stays behind in the log. */
		for (int i = 0; i < 2; i++) {
			struct stat sb;

			if (ep[i] == 0)
				continue; /* a zero first header: scrubbed to the end (top down) */
			if (fstat(in->files[i].fd, &sb) != 0)
				return lethe_err_set(err, LETHE_E_IO, "cannot read %s",
				                     in->files[i].path);
			in->files[i].hw = (uint64_t)sb.st_size;
			if (!log_scrub(in, i, 0, 0))
				return lethe_err_set(err, LETHE_E_IO, "cannot overwrite %s",
				                     in->files[i].path);
		}
		if (count > 0)
			log_info("intake: %lld requests recovered from the intake log",
			         (long long)count);
	}
	for (int i = 0; i < 2; i++)
		if (!log_prealloc(in, i))
			return lethe_err_set(err, LETHE_E_IO, "cannot write the intake log %s: %s",
			                     in->files[i].path, strerror(errno));
	if (created && !store_sync_dir(path))
		return lethe_err_set(err, LETHE_E_IO, "cannot sync the directory of %s", path);
	in->active = 0;
	log_reset(in, 0);
	return LETHE_OK;
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
intake_start(const char *path, int64_t repeat_window, void (*on_commit)(void *), void *arg,
             struct intake **out, struct lethe_err *err)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	lethe_rc rc;

	*out = NULL;
	in->files[0].fd = in->files[1].fd = -1;
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
	/* The three threads share in->mu (their predicates are in->mu's fields). */
	worker_init(&in->wc, &in->mu);
	worker_init(&in->wi, &in->mu);
	worker_init(&in->wk, &in->mu);
	if (!worker_start(&in->wi, "lethe-index", indexer, in))
		goto fail_threads;
	if (!worker_start(&in->wc, "lethe-intake", committer, in)) {
		pthread_mutex_lock(&in->mu);
		in->writer_done = true;
		pthread_mutex_unlock(&in->mu);
		worker_stop(&in->wi);
		goto fail_threads;
	}
	/* Without it other connections still checkpoint (autocheckpoint): not fatal. */
	if (!worker_start(&in->wk, "lethe-ckpt", checkpointer, in))
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
			(void)log_scrub(in, i, 0, 0);
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
	busy = rate_update(in, now);
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
	else if (in->written - in->indexed >= INTAKE_PENDING_MAX)
		why = "too many deletion requests wait for the state store: new ones are refused";
	else if (in->index_failed)
		why = "the state store cannot be written (its last transaction failed; a full "
		      "disk?): deletion requests wait in the intake log";
	pthread_mutex_unlock(&in->mu);
	return why;
}
