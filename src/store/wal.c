/* SPDX-License-Identifier: MIT */
/*
 * wal.c - making a deferred-sync connection's commits durable, and
 * checkpointing (see store.h, store_set_deferred_sync()).
 *
 * A connection in deferred-sync mode commits without an fsync and never
 * checkpoints; its owner (the intake's indexer) makes its commits durable
 * by fdatasync of the store's WAL file, through a struct store_wal that
 * keeps that file open, and leaves checkpoints to another connection that
 * calls store_wal_checkpoint() now and then: passive while the WAL is
 * small, a restart once it is past STORE_WAL_LIMIT.  store_sync_dir()
 * makes a new file's directory entry durable (the WAL's, the intake log's).
 *
 * A struct store_wal belongs to one thread (or to start-up and shutdown,
 * when that thread does not run); store_wal_too_big() and
 * store_wal_checkpoint() only read its path and may run on another.
 *
 * A PostgreSQL store has no WAL file of lethe's: there the deferred
 * connection commits with synchronous_commit off, and store_wal_sync()
 * makes one tiny commit that waits for the server's WAL to be flushed past
 * its own commit record, and so past every commit before it (on a
 * connection of its own, opened at the first sync).  The server
 * checkpoints: the checkpoint calls do nothing.
 */
#include "util/fmacros.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sq.h"
#include "store/store.h"
#include "util/log.h"
#include "util/pq.h"
#include "util/mem.h"

struct store_wal {
	char *path;    /* the state store's WAL file (STORE_WAL_SUFFIX after its path) */
	int fd;        /* open read-only on path once it exists, or -1 */
	char *url;     /* PostgreSQL: the store's URL (path unused), else NULL */
	struct sq *pg; /* PostgreSQL: the connection of the durable commits, once opened */
};

bool
store_sync_dir(const char *path)
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

struct store_wal *
store_wal_new(const char *path)
{
	struct store_wal *w = xcalloc(1, sizeof(*w));

	w->path = xasprintf("%s%s", path, STORE_WAL_SUFFIX);
	w->fd = -1;
	if (pq_is_url(path))
		w->url = xstrdup(path);
	return w;
}

void
store_wal_free(struct store_wal *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	sq_close(w->pg);
	free(w->url);
	free(w->path);
	free(w);
}

/* PostgreSQL: one durable commit with a commit record (an xid), flushed past the others. */
static bool
pg_sync(struct store_wal *w)
{
	struct lethe_err err = {0};

	if (w->pg == NULL && sq_pg_open(w->url, &w->pg, &err) != LETHE_OK) {
		log_warnx("store: the durable commit: %s", err.msg);
		return false;
	}
	/* One round trip; SET LOCAL: nothing of it outlives the transaction behind a pooler. */
	if (sq_exec(w->pg,
	            "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT",
	            &err) != LETHE_OK) {
		log_warnx("store: the durable commit failed: %s", err.msg);
		return false;
	}
	return true;
}

bool
store_wal_final(const struct store_wal *w)
{
	return w->url == NULL;
}

bool
store_wal_sync(struct store_wal *w)
{
	if (w->url != NULL)
		return pg_sync(w);
	if (w->fd < 0) {
		w->fd = open(w->path, O_RDONLY | O_CLOEXEC);
		if (w->fd < 0) {
			log_warn("store: cannot open the state store's WAL");
			return false;
		}
		if (!store_sync_dir(w->path)) {
			log_warn("store: cannot sync the state store's directory");
			close(w->fd);
			w->fd = -1;
			return false;
		}
	}
	if (fdatasync(w->fd) != 0) {
		log_warn("store: fdatasync of the state store's WAL failed");
		return false;
	}
	return true;
}

bool
store_wal_too_big(const struct store_wal *w)
{
	struct stat sb;

	return w->url == NULL && stat(w->path, &sb) == 0 && sb.st_size > STORE_WAL_LIMIT;
}

lethe_rc
store_wal_checkpoint(struct store *st, const struct store_wal *w, struct lethe_err *err)
{
	return store_checkpoint(st, store_wal_too_big(w), err);
}
