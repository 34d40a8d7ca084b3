/* SPDX-License-Identifier: MIT */
/*
 * scan_media.h - the residual scan's objects (docs/proof.md): after a
 * request's erasure, is any media object it removed back in its store?
 *
 * The erasure of a request whose scan will run keeps a record of every
 * object it removed (erase_opts.keep_removed_media: media_pending rows
 * with removed = 1, store_media_removed()).  This asks each store about
 * them again, MEDIA_BATCH_MAX keys a call (media_probe()): an object there
 * again (the app wrote it back, a replica restored it) makes the scan
 * residual; a store that cannot say makes the scan fail to run, and the
 * request is retried as for a database error.  Counts only: a key never
 * leaves this module (nor the state store).
 *
 * `lethe scan` on demand has no erasure behind it and so no keys: it
 * checks rows only.
 */
#ifndef LETHE_SCAN_MEDIA_H
#define LETHE_SCAN_MEDIA_H

#include <jansson.h>

#include "media/media.h"
#include "store/store.h"
#include "util/fmacros.h"
#include "util/rc.h"

/* One store the scan asked about. */
struct scan_media_store {
	char *store;     /* its name (lethe.yaml's), owned */
	int64_t checked; /* objects asked about */
	int64_t present; /* of them, there again */
};

struct scan_media {
	int64_t checked;                 /* objects asked about, every store */
	int64_t present;                 /* of them, there again */
	struct scan_media_store *stores; /* per store, by name */
	size_t nstores;                  /* number of them */
};

/*
 * Ask the stores of @set about every object the @njobs jobs @jobs (0s are
 * skipped) removed and kept a record of, into @out (free with
 * scan_media_free(), also after a failure).  LETHE_OK whatever it found
 * (@out->present says); the store's error (LETHE_E_UNAVAILABLE,
 * LETHE_E_FORBIDDEN, LETHE_E_IO...) if one could not say for some object,
 * or LETHE_E_CONFIG if a store recorded is no longer configured.  Memory:
 * the jobs' records.
 */
lethe_rc scan_media_run(const struct media_set *set, struct store *st, const int64_t *jobs,
                        size_t njobs, struct scan_media *out, struct lethe_err *err);
void scan_media_free(struct scan_media *m);
/*
 * @m as JSON: {"checked", "present", "stores": [{"store", "checked",
 * "present"}]}: store names and counts, never a key.
 */
json_t *scan_media_json(const struct scan_media *m);

#endif /* LETHE_SCAN_MEDIA_H */
