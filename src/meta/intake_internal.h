/* SPDX-License-Identifier: MIT */
/*
 * intake_internal.h - what the intake's files share (meta/intake.c,
 * meta/intake_log.c, meta/intake_threads.c): the tuning constants, the log
 * format's sizes, struct intake and the functions one file calls in
 * another.  Not for use outside src/meta/intake*.c.  The design, the
 * threads and the lock order are described at the top of intake.c.
 */
#ifndef LETHE_META_INTAKE_INTERNAL_H
#define LETHE_META_INTAKE_INTERNAL_H

#include "util/fmacros.h"

#include <pthread.h>

#include "meta/intake.h"
#include "meta/seen.h"
#include "store/store.h"
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
	int64_t deadline_s;        /* a request is due this long after its receipt */
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
	bool write_failed;         /* the committer's last log write failed (set, cleared by it) */
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

/* ---- the log (intake_log.c); committer only, or start and stop ---------- */

/* Room for @more bytes after @used in the group buffer in->buf. */
void intake_buf_reserve(struct intake *in, size_t used, size_t more);
/* Append the record of @p to the group buffer at @used; returns the new length. */
size_t intake_rec_put(struct intake *in, size_t used, const struct pend *p);
/* Fill the header of the group at @g: @count records, @len payload bytes after it. */
void intake_group_seal(uint8_t *g, uint32_t count, size_t len, uint32_t epoch);
/* Write all of @n bytes at @off of @fd; false on an error or a short write. */
bool intake_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off);
/* Start file @i over: the next group goes to its start with a new epoch (no I/O). */
void intake_log_reset(struct intake *in, int i);
/*
 * Overwrite bytes [@from, hw) of file @i with zeros, top down, at most
 * @budget bytes (all if 0), then fdatasync.  Only for a file whose records
 * are all in the store.  False on an I/O error (warned).
 */
bool intake_log_scrub(struct intake *in, int i, uint64_t from, uint64_t budget);
/*
 * Before a group is written: start over a file whose records are all in
 * the store, and switch files past LOG_ROTATE.  Takes in->mu briefly.
 */
void intake_log_maintain(struct intake *in);
/*
 * At start: open and lock both log files of the store at @path, replay
 * what they hold into the store on in->ix, sync the WAL, scrub and
 * preallocate the files.  LETHE_E_BUSY if another process holds them.
 */
lethe_rc intake_log_open(struct intake *in, const char *path, struct lethe_err *err);

/* ---- the threads (intake_threads.c), util/worker bodies on in->mu ------- */

/* The committer (worker in->wc): groups, writes, fsyncs, hands over, answers. */
void intake_committer(struct worker *w, void *arg);
/* The indexer (worker in->wi): moves durable requests into the state store. */
void intake_indexer(struct worker *w, void *arg);
/* The checkpointer (worker in->wk): checkpoints the store's WAL every CHECKPOINT_S. */
void intake_checkpointer(struct worker *w, void *arg);
/*
 * Under in->mu: measure the submission rate (every 100 ms at most) and
 * return whether it is INTAKE_BUSY_RATE or more.
 */
bool intake_rate_update(struct intake *in, double now);

#endif /* LETHE_META_INTAKE_INTERNAL_H */
