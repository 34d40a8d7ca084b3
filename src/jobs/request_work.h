/* SPDX-License-Identifier: MIT */
/*
 * request_work.h - what the runner does for privacy requests besides
 * erasing (docs/requests.md): expire requests never verified, warn of
 * deadlines, apply a policy's effects when a request is accepted and undo
 * them when it is cancelled or refused, purge mailed links long expired.  Called by the runner's
 * thread (and `lethe import-meta-ids`'s drain) with its own connections.
 */
#ifndef LETHE_JOBS_REQUEST_WORK_H
#define LETHE_JOBS_REQUEST_WORK_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "store/store.h"
#include "util/fmacros.h"
#include "util/rc.h"

/*
 * Apply (r->effects STORE_EFFECTS_APPLY) or undo (STORE_EFFECTS_UNDO) the
 * effects of @r's policy for the person sealed in @box, and record it; an
 * undo also wipes the identity of a finished request.  Idempotent: a
 * crash before the record makes the next pass do it again.
 */
lethe_rc request_work_effects(const struct lethe_config *cfg, const struct datamap *dm,
                              struct appdb *db, struct store *st, const struct store_request *r,
                              const uint8_t *box, size_t boxlen, struct lethe_err *err);
/*
 * Expire unverified requests whose link expired by @now, and log a
 * warning (once per request) for each open request due within
 * requests.warn_before, and queue its "delayed" notice (store_mail_add());
 * without a mail: section, request_work_mail_off(); with a mailbox:
 * section, store_mailin_prune() of what mailbox.keep allows no longer.
 */
lethe_rc request_work_tick(const struct lethe_config *cfg, struct store *st, int64_t now,
                           struct lethe_err *err);

/* How long a mailed link is kept after it expired (s): request_work_purge_links(). */
#define REQUEST_WORK_LINK_KEEP_S 86400
/*
 * Delete the mailed links (store_link_purge()) that expired more than
 * REQUEST_WORK_LINK_KEEP_S before @now, used or not: a link past its end
 * acts on nothing, and its row only grows the store.
 */
lethe_rc request_work_purge_links(struct store *st, int64_t now, struct lethe_err *err);
/*
 * Without a mail: section nothing sends mail: skip every pending or sending
 * mail (store_mail_skip_all(), "mail is off"), so no sealed address waits
 * in the outbox for a mailer that never comes, and log how many.  At start
 * and on every tick (a request told of by mail before may move on).
 */
lethe_rc request_work_mail_off(struct store *st, int64_t now, struct lethe_err *err);

/* What an erasure of the person ended (request_work_erased()). */
struct request_work_ended {
	char **files;   /* export archives' file names, to unlink after the commit */
	size_t nfiles;  /* how many */
	int64_t lifted; /* restrictions lifted */
};
/*
 * At the end of erasure @req of the person's account (scope account, not
 * Meta's) that completed, in the caller's transaction: every export
 * archive of the same person (subject) not yet deleted is marked deleted
 * (store_export_delete(): its file name into @out->files, for the caller
 * to unlink under export.dir after its commit; a crash in between leaves
 * it to the exporter's sweep), and every restriction of the person in
 * force is lifted (completed -> lifted, its effects to be undone by the
 * runner's next pass, which then wipes its identities).  Nothing for
 * another kind or scope.  Free @out with request_work_ended_free().
 */
lethe_rc request_work_erased(struct store *st, const struct store_request *req, int64_t now,
                             struct request_work_ended *out, struct lethe_err *err);
/* Free what request_work_erased() put in @e. */
void request_work_ended_free(struct request_work_ended *e);

#endif /* LETHE_JOBS_REQUEST_WORK_H */
