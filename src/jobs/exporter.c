/* SPDX-License-Identifier: MIT */
/*
 * exporter.c - the thread that builds export requests' archives (see
 * exporter.h).
 *
 * Locking: the thread is a util/worker; nothing else is shared.  The
 * archive is written without any lock and polls the worker's stop_flag,
 * and whether the request is still running (a cancel), between batches.
 * The failure counts are the thread's own.
 */
#include "util/fmacros.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db/appdb.h"
#include "engine/export.h"
#include "engine/plan.h"
#include "engine/request.h"
#include "jobs/exporter.h"
#include "jobs/job.h"
#include "store/store.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pq.h"
#include "util/seal.h"
#include "util/timeutil.h"
#include "util/worker.h"

#define IDLE_MS 1000       /* look for work and expired archives at least this often */
#define RETRY_MS 2000      /* after a failed attempt, when nothing else is waiting */
#define OPEN_RETRY_MS 5000 /* the databases cannot be opened */
#define EXPIRE_BATCH 64    /* archives deleted per tick at most */
#define EXPORT_LEASE_MS (60 * 60 * 1000) /* an export's build on a shared store, renewed: */
#define RENEW_MS 60000.0                 /* once a minute while it is built */
#define SWEEP_MS 60000    /* orphaned archives looked for at start, then this often */
#define SWEEP_GRACE_S 600 /* shared export.dir: files younger than this are kept */
#define LOCK_TRIES 20     /* shared lock: tries, LOCK_NAP_NS apart (a sibling's start) */
#define LOCK_NAP_NS 50000000L
#define FILE_SUFFIX ".lx"       /* an archive's file: "<request id>-<16 hex>.lx" */
#define LOCK_NAME ".lethe.lock" /* export.dir's lock file (exporter_dir_lock()) */

struct exporter {
	const struct lethe_config *cfg; /* configuration (keys, export: section) */
	const struct datamap *dm;       /* the validated data map */
	runner_done_fn done;            /* completion callback (metrics), or NULL */
	int lock_fd;                    /* export.dir's lock (exporter_dir_lock()), or -1 */
	char *store_id;                 /* its shared lock's store id (PostgreSQL), or NULL */
	struct worker w;                /* the thread */
	double last_tick;               /* time_mono_ms() of the last expiry pass */
	double last_sweep;              /* time_mono_ms() of the last exporter_sweep(), 0: none */
	struct job_fails fails;         /* exports failed in a row: the thread's only */
	char owner[LEASE_OWNER_MAX];    /* its owner text for the exports it takes (shared store) */
};

/* Mark export @id failed with @reason if it is still being built (or about to be). */
static lethe_rc
fail_export(struct store *st, int64_t id, const char *reason, struct lethe_err *err)
{
	return job_fail(st, id, "scheduled,running", reason, err);
}

void
exporter_unlink(const char *dir, const char *name)
{
	char path[4096];

	if (!export_file_path(dir, name, path, sizeof(path)))
		return;
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("exporter: cannot remove an archive of %s", dir);
}

/*
 * True if @name is one the exporter makes: "<digits>-<16 lowercase
 * hex>.lx", or that with ".part" (^[0-9]+-[0-9a-f]{16}\.lx(\.part)?$);
 * *@part says which.
 */
static bool
archive_name(const char *name, bool *part)
{
	const char *p = name;
	size_t i;

	while (*p >= '0' && *p <= '9')
		p++;
	if (p == name || *p++ != '-')
		return false;
	for (i = 0; i < 16; i++, p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	if (strncmp(p, FILE_SUFFIX, strlen(FILE_SUFFIX)) != 0)
		return false;
	p += strlen(FILE_SUFFIX);
	*part = strcmp(p, ".part") == 0;
	return *part || *p == '\0';
}

/* Whether file @name of @dir was changed less than @grace_s seconds ago (or cannot be read). */
static bool
young(const char *dir, const char *name, int64_t grace_s)
{
	struct stat sb;
	char *path = xasprintf("%s/%s", dir, name);
	bool r = stat(path, &sb) != 0 || (int64_t)time(NULL) - (int64_t)sb.st_mtime < grace_s;

	free(path);
	return r;
}

lethe_rc
exporter_sweep(struct store *st, const char *dir, int64_t grace_s, int64_t *n,
               struct lethe_err *err)
{
	DIR *d;
	struct dirent *e;
	lethe_rc rc = LETHE_OK;
	int64_t removed = 0;

	if (n != NULL)
		*n = 0;
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT || errno == ENOTDIR
		           ? LETHE_OK
		           : lethe_err_set(err, LETHE_E_IO, "export.dir %s: %s", dir,
		                           strerror(errno));
	while (rc == LETHE_OK && (e = readdir(d)) != NULL) {
		bool live = true, part = false;

		/* Only names this thread makes: a shared or wrong dir keeps its other files. */
		if (!archive_name(e->d_name, &part))
			continue;
		/* A sibling's archive between its rename and its commit is young. */
		if (grace_s > 0 && young(dir, e->d_name, grace_s))
			continue;
		if (part)
			live = false;
		else
			rc = store_export_file_live(st, e->d_name, &live, err);
		if (rc == LETHE_OK && !live) {
			exporter_unlink(dir, e->d_name);
			removed++;
		}
	}
	closedir(d);
	if (n != NULL)
		*n = removed;
	return rc;
}

/*
 * Take the lock of @fd (lock file @path) shared between the lethes of store
 * @id: the first takes it exclusively, writes @id into it and converts to
 * shared; later ones take it shared and check the id they read.  A
 * sibling starting at the same time holds it exclusively for a moment:
 * retried LOCK_TRIES times before LETHE_E_BUSY.
 */
static lethe_rc
lock_shared(int fd, const char *dir, const char *path, const char *id, struct lethe_err *err)
{
	char got[128] = {0};
	size_t len = strlen(id);
	ssize_t n;
	int r = -1;

	if (len >= sizeof(got))
		return lethe_err_set(err, LETHE_E_INTERNAL, "a store id is too long");
	for (int i = 0; i < LOCK_TRIES && r != 0; i++) {
		struct timespec nap = {0, LOCK_NAP_NS};

		if (i > 0)
			nanosleep(&nap, NULL);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (ftruncate(fd, 0) != 0 || pwrite(fd, id, len, 0) != (ssize_t)len)
				return lethe_err_set(err, LETHE_E_IO, "cannot write %s: %s", path,
				                     strerror(errno));
			(void)fsync(fd);
		}
		/* Converting is not atomic: the id is read back once it is shared. */
		r = flock(fd, LOCK_SH | LOCK_NB);
		if (r != 0 && errno != EWOULDBLOCK)
			break;
	}
	if (r != 0)
		return errno == EWOULDBLOCK
		           ? lethe_err_set(err, LETHE_E_BUSY,
		                           "export.dir %s is used by another lethe (its lock %s is "
		                           "held); give each lethe serve its own export.dir",
		                           dir, path)
		           : lethe_err_set(err, LETHE_E_IO, "cannot lock %s: %s", path,
		                           strerror(errno));
	n = pread(fd, got, sizeof(got) - 1, 0);
	if (n < 0)
		return lethe_err_set(err, LETHE_E_IO, "cannot read %s: %s", path, strerror(errno));
	if ((size_t)n != len || memcmp(got, id, len) != 0)
		return lethe_err_set(err, LETHE_E_BUSY,
		                     "export.dir %s is used by a lethe of another state store "
		                     "(its lock %s names another); give it its own export.dir",
		                     dir, path);
	return LETHE_OK;
}

lethe_rc
exporter_dir_lock(const char *dir, const char *shared_id, int *fd, struct lethe_err *err)
{
	struct stat sb;
	char *path = NULL;
	lethe_rc rc = LETHE_OK;

	*fd = -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return lethe_err_set(err, LETHE_E_IO, "cannot create export.dir %s: %s", dir,
		                     strerror(errno));
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return lethe_err_set(err, LETHE_E_IO, "export.dir %s is not a directory", dir);
	/* The archives are encrypted, but their names, sizes and times are not. */
	if ((sb.st_mode & 077) != 0)
		log_warnx("export.dir %s allows group or other access (mode %03o); "
		          "chmod 700 it",
		          dir, (unsigned)(sb.st_mode & 0777));
	path = xasprintf("%s/%s", dir, LOCK_NAME);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "cannot open %s: %s", path, strerror(errno));
	} else if (shared_id != NULL) {
		rc = lock_shared(*fd, dir, path, shared_id, err);
		if (rc != LETHE_OK) {
			close(*fd);
			*fd = -1;
		}
	} else if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK
		         ? lethe_err_set(err, LETHE_E_BUSY,
		                         "export.dir %s is used by another lethe (its lock %s is "
		                         "held); give each lethe serve its own export.dir",
		                         dir, path)
		         : lethe_err_set(err, LETHE_E_IO, "cannot lock %s: %s", path,
		                         strerror(errno));
		close(*fd);
		*fd = -1;
	}
	free(path);
	return rc;
}

void
exporter_dir_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* An archive due for deletion (store_export_expired()). */
struct expired {
	int64_t ids[EXPIRE_BATCH]; /* requests */
	size_t n;                  /* how many */
};

static void
on_expired(void *arg, int64_t request_id, const char *file)
{
	struct expired *a = arg;

	(void)file;
	if (a->n < EXPIRE_BATCH)
		a->ids[a->n++] = request_id;
}

/*
 * Delete the archives past their expiry: each row marked deleted in a
 * transaction of its own, then its file unlinked (a crash in between
 * leaves an orphan the next start removes).
 */
static void
expire_archives(struct exporter *x, struct store *st)
{
	struct expired a = {.n = 0};
	struct lethe_err err = {0};
	size_t i;
	lethe_rc rc;

	rc = store_export_expired(st, time_now(), EXPIRE_BATCH, on_expired, &a, &err);
	for (i = 0; rc == LETHE_OK && i < a.n; i++) {
		char file[128];

		rc = store_begin(st, &err);
		if (rc == LETHE_OK)
			rc =
			    store_export_delete(st, a.ids[i], time_now(), file, sizeof(file), &err);
		if (rc == LETHE_OK)
			rc = store_commit(st, &err);
		else
			store_rollback(st);
		if (rc == LETHE_OK && file[0] != '\0') {
			exporter_unlink(x->cfg->exports.dir, file);
			log_info("request %lld: its export archive expired and was deleted",
			         (long long)a.ids[i]);
		}
	}
	if (rc != LETHE_OK) {
		static struct log_limit lim = LOG_LIMIT_INIT(1, 60000.);

		log_warnx_limited(&lim, "exporter: %s", err.msg);
	}
}

/* What export_opts.cancelled asks: is the request still running? */
struct still {
	struct store *st;  /* the exporter's store */
	int64_t id;        /* the request */
	const char *owner; /* the export's lease owner (store_item_take()) */
	double renewed;    /* time_mono_ms() of its last renewal */
	bool lost;         /* another worker took the export over */
};

/*
 * Polled between tables and batches: true stops the build, when the
 * request was cancelled, or when the export's lease (renewed here once a
 * minute, so a long build keeps it) went to another worker.
 */
static bool
cancelled(void *arg)
{
	struct still *s = arg;
	struct store_request r;
	struct lethe_err err = {0};
	lethe_rc rc;

	if (time_mono_ms() - s->renewed >= RENEW_MS) {
		bool held = true;

		if (store_item_take(s->st, "export", s->id, s->owner, EXPORT_LEASE_MS, &held,
		                    &err) != LETHE_OK)
			log_warnx("exporter: %s", err.msg); /* the commit decides */
		s->renewed = time_mono_ms();
		if (!held) {
			s->lost = true;
			return true;
		}
	}
	rc = store_request_get(s->st, s->id, &r, &err);

	/* A store that cannot be read says nothing: go on, the commit decides. */
	return rc == LETHE_E_NOTFOUND || (rc == LETHE_OK && strcmp(r.state, "running") != 0);
}

/*
 * The completion transaction of export @req: its archive's row (key
 * sealed), running -> completed, its identities wiped.  *@won false if it
 * is no longer running (cancelled meanwhile): nothing recorded.
 */
static lethe_rc
record_export(struct exporter *x, struct store *st, const struct store_request *req,
              const char *name, const uint8_t key[SEALSTREAM_KEY_LEN],
              const struct export_result *res, int64_t now, bool *won, struct lethe_err *err)
{
	struct store_transition t = job_final("running", "completed", NULL, now);
	struct store_export e;
	uint8_t *box;
	size_t boxlen = 0;
	lethe_rc rc;

	*won = false;
	memset(&e, 0, sizeof(e));
	box = seal_bytes(x->cfg->key, "export-key", key, SEALSTREAM_KEY_LEN, &boxlen);
	if (boxlen > sizeof(e.key_box)) {
		free(box);
		return lethe_err_set(err, LETHE_E_INTERNAL, "a sealed export key is too long");
	}
	memcpy(e.key_box, box, boxlen);
	e.key_boxlen = boxlen;
	sodium_memzero(box, boxlen);
	free(box);
	e.request_id = req->id;
	snprintf(e.file, sizeof(e.file), "%s", name);
	e.bytes = res->bytes;
	snprintf(e.sha256, sizeof(e.sha256), "%s", res->sha256);
	e.rows = res->rows;
	e.media = res->media;
	e.detail = res->detail != NULL ? json_dumps(res->detail, JSON_COMPACT) : NULL;
	e.created_at = now;
	e.expires_at = now + x->cfg->exports.link_ttl_s;
	rc = store_begin(st, err);
	if (rc == LETHE_OK)
		rc = store_request_transition(st, req->id, &t, won, err);
	if (rc == LETHE_OK && *won)
		rc = store_export_put(st, &e, err);
	if (rc == LETHE_OK && *won)
		rc = store_request_wipe(st, req->id, err);
	if (rc == LETHE_OK && *won)
		rc = store_commit(st, err);
	else
		store_rollback(st);
	if (rc != LETHE_OK)
		*won = false;
	store_export_clear(&e);
	return rc;
}

/*
 * Build the archive of export request @req (scheduled or left running)
 * and record it.  LETHE_E_UNAVAILABLE if stopped; another failure is
 * counted (JOB_FAILS_MAX in a row: failed) and returned.
 */
static lethe_rc
build_export(struct exporter *x, struct appdb *db, struct store *st, struct store_request *req,
             const uint8_t *box, size_t boxlen)
{
	const struct lethe_config *cfg = x->cfg;
	struct plan_id *ids = NULL;
	size_t nids = 0;
	struct plan *plan = NULL;
	struct export_opts o;
	struct export_result res;
	struct still still = {
	    .st = st, .id = req->id, .owner = x->owner, .renewed = time_mono_ms()};
	struct lethe_err err = {0};
	uint8_t key[SEALSTREAM_KEY_LEN];
	uint8_t rnd[8];
	char name[64], hex[17];
	bool won = false;
	int64_t now;
	lethe_rc rc;

	memset(&res, 0, sizeof(res));
	if (strcmp(req->state, "scheduled") == 0) {
		struct store_transition t = {
		    .from = "scheduled",
		    .to = "running",
		    .actor = "lethe",
		    .now = time_now(),
		    .not_before = 0,
		    .expires_at = -1,
		    .effects = -1,
		};

		/* Of a cancel and the end of its grace exactly one wins. */
		rc = job_transition(st, req->id, &t, &won, &err);
		if (rc != LETHE_OK || !won)
			return rc;
	}
	if (request_ids_open(cfg->key, box, boxlen, &ids, &nids) != LETHE_OK)
		return fail_export(st, req->id,
		                   "its identities could not be opened (was the anonymize key "
		                   "changed?)",
		                   &err);
	rc = plan_build(x->dm, db, req->scope, ids, nids, true, &plan, &err);
	if (rc == LETHE_OK) {
		memset(&o, 0, sizeof(o));
		o.media = cfg->media;
		o.jsonl_from = cfg->exports.jsonl_from;
		o.now = time_now();
		o.app_name = cfg->app_name;
		o.code = req->code;
		o.stop = &x->w.stop_flag;
		o.cancelled = cancelled;
		o.arg = &still;
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
		snprintf(name, sizeof(name), "%lld-%s%s", (long long)req->id, hex, FILE_SUFFIX);
		sealstream_keygen(key);
		/* export.dir could not be locked at start: not written until it is. */
		if (x->lock_fd < 0)
			rc = exporter_dir_lock(cfg->exports.dir, x->store_id, &x->lock_fd, &err);
		if (rc == LETHE_OK)
			rc = export_to_file(plan, db, &o, cfg->exports.dir, name, key, &res, &err);
	}
	if (rc == LETHE_OK) {
		now = time_now();
		rc = record_export(x, st, req, name, key, &res, now, &won, &err);
		if (rc != LETHE_OK || !won)
			exporter_unlink(cfg->exports.dir, name); /* unreachable: never kept */
		if (rc == LETHE_OK && won && x->done != NULL)
			x->done((double)(now - (req->run_at > 0 ? req->run_at : req->received_at)),
			        "completed", "export");
		if (rc == LETHE_OK && won)
			log_info(
			    "request %lld: export completed (%lld rows, %lld media, %lld bytes, "
			    "%.0f ms)",
			    (long long)req->id, (long long)res.rows, (long long)res.media,
			    (long long)res.bytes, res.elapsed_ms);
		else if (rc == LETHE_OK)
			log_info("request %lld: cancelled while its export was built",
			         (long long)req->id);
	} else if (rc == LETHE_E_CONFLICT && still.lost) {
		/* Its lease lapsed and another worker builds it: .part thrown away. */
		log_warnx("request %lld: another worker took its export over", (long long)req->id);
		rc = LETHE_OK;
	} else if (rc == LETHE_E_CONFLICT) {
		/* Cancelled between batches: export_to_file() threw the .part away. */
		log_info("request %lld: cancelled while its export was built", (long long)req->id);
		rc = LETHE_OK;
	}
	sodium_memzero(key, sizeof(key));
	if (rc != LETHE_OK && rc != LETHE_E_UNAVAILABLE) {
		static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);

		log_warnx_limited(&lim, "request %lld: export failed, will retry: %s",
		                  (long long)req->id, err.msg);
	}
	/* The reason names a media store that failed (never a key); other failures: the log. */
	if (rc != LETHE_E_UNAVAILABLE && job_fails_count(&x->fails, req->id, rc == LETHE_OK)) {
		char reason[JOB_REASON_MAX];

		job_fail_reason("export", rc != LETHE_OK ? res.media_failure : NULL, reason);
		fail_export(st, req->id, reason, NULL);
	}
	export_result_free(&res);
	plan_free(plan);
	request_ids_free(ids, nids);
	return rc;
}

static void
exporter_main(struct worker *w, void *arg)
{
	struct exporter *x = arg;
	struct appdb *db = NULL;
	struct store *st = NULL;
	struct lethe_err err = {0};
	bool failed = false; /* an export failed in this round */
	/*
	 * Running exports up to this id were tried in this round: a failing
	 * one waits for the round's end (RETRY_MS) while the others go on.
	 */
	int64_t after = 0;

	for (;;) {
		struct store_request req;
		uint8_t *box = NULL;
		size_t boxlen = 0;
		double now;
		lethe_rc rc;

		if (db == NULL)
			db = appdb_open(x->cfg->app_db, x->cfg->dir, &err);
		if (st == NULL && store_open(x->cfg->state_db, &st, &err) != LETHE_OK)
			st = NULL;
		if (db == NULL || st == NULL) {
			static struct log_limit lim = LOG_LIMIT_INIT(1, 60000.);

			log_warnx_limited(&lim, "exporter: %s; retrying", err.msg);
			if (worker_nap(w, OPEN_RETRY_MS))
				break;
			continue;
		}
		now = time_mono_ms();
		/*
		 * A crash's leftovers (.part files, archives whose row never
		 * committed) at start; then now and again the files of archives
		 * withdrawn by a path that did not unlink them.  Safe: on SQLite
		 * only this thread writes archives in export.dir (the daemon holds
		 * its lock exclusively, exporter_dir_lock()), and none is between
		 * its rename and its commit here.  On PostgreSQL the workers of the
		 * store share the dir: a sibling's file younger than SWEEP_GRACE_S
		 * may be between its rename and its commit (or being written), and
		 * stays.  Not before the lock is taken (the first build takes it if
		 * the start could not).
		 */
		if (x->lock_fd >= 0 && (x->last_sweep == 0 || now - x->last_sweep >= SWEEP_MS)) {
			int64_t n = 0;

			x->last_sweep = now;
			if (exporter_sweep(st, x->cfg->exports.dir,
			                   x->store_id != NULL ? SWEEP_GRACE_S : 0, &n,
			                   &err) != LETHE_OK)
				log_warnx("exporter: %s", err.msg);
			else if (n > 0)
				log_info("exporter: removed %lld unfinished or orphaned archives",
				         (long long)n);
		}
		if (x->last_tick == 0 || now - x->last_tick >= IDLE_MS) {
			x->last_tick = now;
			expire_archives(x, st);
		}
		rc = store_export_next(st, after, time_now(), &req, &box, &boxlen, &err);
		if (rc == LETHE_OK) {
			bool held = false;

			after = req.id;
			/* On a store several workers share, one builds each export. */
			if (x->owner[0] == '\0')
				lease_owner_format(x->owner, sizeof(x->owner));
			rc = store_item_take(st, "export", req.id, x->owner, EXPORT_LEASE_MS, &held,
			                     &err);
			if (rc == LETHE_OK && held) {
				/*
				 * Read again under the lease: another worker may have
				 * built (or the person withdrawn) it since it was read.
				 */
				if (box != NULL)
					sodium_memzero(box, boxlen);
				free(box);
				box = NULL;
				boxlen = 0;
				rc = store_request_get_box(st, req.id, &req, &box, &boxlen, &err);
				if (rc == LETHE_OK && strcmp(req.kind, "export") == 0 &&
				    (strcmp(req.state, "running") == 0 ||
				     (strcmp(req.state, "scheduled") == 0 &&
				      req.not_before <= time_now())))
					rc = build_export(x, db, st, &req, box, boxlen);
				else if (rc == LETHE_OK || rc == LETHE_E_NOTFOUND)
					rc = LETHE_OK; /* done meanwhile: nothing to build */
				else
					log_warnx("exporter: %s", err.msg);
				if (store_item_release(st, "export", req.id, x->owner, &err) !=
				    LETHE_OK)
					log_warnx("exporter: %s", err.msg);
			} else if (rc != LETHE_OK) {
				log_warnx("exporter: %s", err.msg);
			}
			if (rc != LETHE_OK && rc != LETHE_E_UNAVAILABLE)
				failed = true;
		} else if (rc == LETHE_E_NOTFOUND) {
			int64_t ms = failed ? RETRY_MS : IDLE_MS;

			after = 0;
			failed = false;
			if (worker_nap(w, ms))
				rc = LETHE_E_UNAVAILABLE;
		} else {
			static struct log_limit lim = LOG_LIMIT_INIT(1, 60000.);

			log_warnx_limited(&lim, "exporter: %s", err.msg);
			if (worker_nap(w, RETRY_MS))
				rc = LETHE_E_UNAVAILABLE;
		}
		if (box != NULL)
			sodium_memzero(box, boxlen);
		free(box);
		if (rc == LETHE_E_UNAVAILABLE || worker_stopping(w))
			break;
	}
	appdb_close(db);
	store_close(st);
}

/*
 * The id a PostgreSQL store's workers write in export.dir's lock: a keyed
 * hash of the state store's URL (password redacted) under the anonymize
 * key, so that only lethes of one store and one key share the dir.
 */
static char *
store_id_of(const struct lethe_config *cfg)
{
	uint8_t h[16];
	char hex[2 * sizeof(h) + 1];

	crypto_generichash(h, sizeof(h), (const uint8_t *)cfg->state_shown,
	                   strlen(cfg->state_shown), cfg->key, sizeof(cfg->key));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return xasprintf("lethe-store %s\n", hex);
}

lethe_rc
exporter_start(const struct lethe_config *cfg, const struct datamap *dm, runner_done_fn done,
               struct exporter **out, struct lethe_err *err)
{
	struct exporter *x = xcalloc(1, sizeof(*x));

	struct lethe_err lerr = {0};
	lethe_rc rc;

	*out = NULL;
	x->cfg = cfg;
	x->dm = dm;
	x->done = done;
	/*
	 * Another lethe's archives would look like orphans to the sweep: its
	 * lock refuses the start (but not a worker of the same PostgreSQL
	 * store's: store_id_of()).  A dir that cannot be made (yet) does not:
	 * exports fail, and the lock is taken again once it can be.
	 */
	if (pq_is_url(cfg->state_db))
		x->store_id = store_id_of(cfg);
	rc = exporter_dir_lock(cfg->exports.dir, x->store_id, &x->lock_fd, &lerr);
	if (rc == LETHE_E_BUSY) {
		free(x->store_id);
		free(x);
		return lethe_err_set(err, rc, "%s", lerr.msg);
	}
	if (rc != LETHE_OK)
		log_warnx("exporter: %s; exports fail until it is fixed", lerr.msg);
	worker_init(&x->w, NULL);
	if (!worker_start(&x->w, "lethe-exporter", exporter_main, x)) {
		worker_destroy(&x->w);
		exporter_dir_unlock(x->lock_fd);
		free(x->store_id);
		free(x);
		return lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the exporter");
	}
	*out = x;
	return LETHE_OK;
}

void
exporter_kick(void *arg)
{
	struct exporter *x = arg;

	if (x != NULL)
		worker_kick(&x->w);
}

void
exporter_stop(struct exporter *x)
{
	if (x == NULL)
		return;
	worker_stop(&x->w);
	worker_destroy(&x->w);
	exporter_dir_unlock(x->lock_fd); /* the thread is joined: no archive is written now */
	free(x->store_id);
	free(x);
}
