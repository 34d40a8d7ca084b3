/* SPDX-License-Identifier: MIT */
/*
 * exporter.h - the thread of `lethe serve` that builds export requests'
 * archives (docs/export.md, docs/internals/export.md).
 *
 * One thread (a util/worker) with its own app-database and state-store
 * connections, apart from the runner: an export that fails or takes long
 * never holds an erasure back, nor one failing export the others.  Per
 * export: claim it (scheduled -> running), open its sealed identities,
 * plan as an erasure would (plan_build() with the request's scope), write
 * the archive encrypted under a fresh key (export_to_file()), then in one
 * state-store transaction its row in exports (the key sealed), the
 * transition to completed (history, audit entry and the "completed" mail
 * notice come with it) and the identities wiped.  An export left running
 * by a crash or a stop is built again from scratch; one that fails three
 * times in a row is marked failed with a reason (`lethe requests retry`).
 * Once a second (and when kicked), archives past their expiry are deleted:
 * the row marked, then the file unlinked.  At start and once a minute,
 * .part files and archives no live row names (a crash between the rename
 * and the commit, a cancel before its unlink) are removed: only names the
 * exporter makes, in an export.dir it has locked (exporter_dir_lock()), so
 * no other lethe's archives are taken for orphans.  The workers of one
 * PostgreSQL state store share export.dir (a shared lock): their sweeps
 * keep files changed in the last ten minutes, a sibling's fresh archive.
 * exporter_kick() is thread-safe.
 */
#ifndef LETHE_JOBS_EXPORTER_H
#define LETHE_JOBS_EXPORTER_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "jobs/runner.h"

struct exporter;
struct store;

/*
 * Start the exporter; @cfg and @dm must outlive it.  @done (or NULL) is
 * called on its thread when an export completes, as the runner's
 * (runner.h: seconds since receipt, "completed", "export").  It locks
 * export.dir first (exporter_dir_lock(), held until exporter_stop()):
 * LETHE_E_BUSY if another lethe holds it (a worker of the same
 * PostgreSQL state store and anonymize key may share it); a dir that cannot be made is
 * warned about and locked by the first build that can (exports fail
 * until then, nothing is swept).  LETHE_E_INTERNAL if the thread cannot
 * be started.  Start it only once the intake holds the state store's lock.
 */
lethe_rc exporter_start(const struct lethe_config *cfg, const struct datamap *dm,
                        runner_done_fn done, struct exporter **out, struct lethe_err *err);
/* Wake the exporter: a request changed (created, cancelled, retried).  Any thread. */
void exporter_kick(void *exporter);
/* Stop between batches and join (an export being built is built again next start). */
void exporter_stop(struct exporter *x);

/*
 * Lock export.dir @dir for this process: create it (0700) if missing,
 * warn (log_warnx) if its mode lets group or other in, and take a flock
 * on @dir/.lethe.lock, kept open in *@fd until exporter_dir_unlock().
 * @shared_id NULL (a SQLite state store): the lock is exclusive.  Else
 * (the workers of one PostgreSQL store) it is shared between the lethes
 * that give the same @shared_id, which the first writes into the lock
 * file.  LETHE_E_BUSY if another process holds it (exclusively, or with
 * another id: its sweep would delete this one's archives), LETHE_E_IO if
 * @dir cannot be made, is no directory or the lock file cannot be opened.
 * For exporter_start() and its tests.
 */
lethe_rc exporter_dir_lock(const char *dir, const char *shared_id, int *fd, struct lethe_err *err);
/* Release the lock exporter_dir_lock() took (-1: none). */
void exporter_dir_unlock(int fd);
/*
 * Unlink archive file @name (a plain name) of export.dir @dir, after the
 * commit that marked its row deleted; a file already gone is no error,
 * another failure is logged.  Any thread.
 */
void exporter_unlink(const char *dir, const char *name);

/*
 * Remove from @dir every archive file that no live exports row of @st
 * names, and every unfinished one (.part); *@n gets how many (may be
 * NULL).  Only names the exporter makes ("<id>-<16 hex>.lx", and with
 * ".part") are looked at: other files stay, and so does a file changed
 * less than @grace_s seconds ago (0: none kept; a shared export.dir's
 * sibling may be between its rename and its commit).  A missing @dir is
 * no error.  For the exporter and its tests; the caller holds
 * exporter_dir_lock().
 */
lethe_rc exporter_sweep(struct store *st, const char *dir, int64_t grace_s, int64_t *n,
                        struct lethe_err *err);

#endif /* LETHE_JOBS_EXPORTER_H */
