/* SPDX-License-Identifier: MIT */
/*
 * service_reapply.c - erasures re-applied after a backup restore (see
 * service.h, docs/proof.md): `lethe reapply` and the look `lethe serve`
 * takes at start, in a thread of its own, when it detects a restore.
 *
 * Detecting a restore: the state store keeps a restore epoch, bumped by
 * every completion that erased rows (jobs/runner.c), and the app database
 * a one-row table lethe_restore_marker that follows it
 * (ledger_work_marker()).  An app database restored from a backup brings
 * back an older marker (or none): behind the state store's epoch.  At
 * start, a marker equal to the epoch means no restore: no look.
 *
 * The ledger (engine/ledger.h) finds the people a request erased whose
 * rows are back; each becomes one new erasure request through the normal
 * request path (service_request_create()), of source restore, under the
 * built-in policy "restore" (config/policy.h).  The values read from the
 * rows are held in memory only while the request is made (sealed in it
 * as any request's identities) and wiped; the output, the log and the
 * audit chain get counts and request numbers only.
 *
 * The daemon's thread uses connections of its own to both databases for
 * the scan (a large app database takes a while: the server's handlers
 * must not wait on db_mu meanwhile), polls svc->reapply_stop between
 * batches, and is joined by service_stop() before the runner stops.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "engine/ledger.h"
#include "service/service_internal.h"
#include "util/buf.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/timeutil.h"

#define REASON_MAX 96                  /* bytes of "re-applied after a restore: request #N" */
#define REAPPLY_LEASE_MS (3600 * 1000) /* the look at start: an hour at most */

/*
 * Make the request of hit @h; its entry of "requests" into @req.  True if
 * it cannot be made for good (to be set aside).
 */
static bool
reapply_hit(struct service *svc, const struct ledger_hit *h, bool dry_run, json_t *req, int *failed)
{
	char reason[REASON_MAX];
	struct service_request_in in;
	struct lethe_err e = {0};
	json_t *out = NULL;
	bool repeat = false;
	lethe_rc rc;

	json_object_set_new(req, "erased_by", json_integer(h->request_id));
	json_object_set_new(req, "scope", json_string(h->scope));
	json_object_set_new(req, "rows", json_integer(h->rows));
	json_object_set_new(req, "request", json_null());
	json_object_set_new(req, "repeat", json_false());
	if (datamap_scope(svc->dm, h->scope) == NULL) {
		json_object_set_new(req, "error",
		                    json_string("its scope is no longer in the data map"));
		(*failed)++;
		return true;
	}
	if (h->nids == 0) {
		json_object_set_new(req, "error",
		                    json_string("no identity its scope takes could be read from "
		                                "the rows found"));
		(*failed)++;
		return true;
	}
	if (dry_run)
		return false;
	snprintf(reason, sizeof(reason), "re-applied after a restore: request #%lld",
	         (long long)h->request_id);
	memset(&in, 0, sizeof(in));
	in.kind = "erasure";
	in.scope = h->scope;
	in.source = "restore";
	in.ids = h->ids;
	in.nids = h->nids;
	in.verified = true;
	in.actor = "lethe";
	in.reason = reason;
	in.quiet = true;
	rc = service_request_create(svc, &in, &out, &repeat, &e);
	if (rc == LETHE_OK) {
		json_object_set(req, "request", json_object_get(out, "number"));
		json_object_set_new(req, "repeat", json_boolean(repeat));
	} else {
		/* The messages of a refused request name kinds and positions, never values. */
		json_object_set_new(req, "error", json_string(e.msg));
		(*failed)++;
	}
	json_decref(out);
	/* Refused for what the identities are, not for a passing failure: for good. */
	return rc == LETHE_E_INVALID || rc == LETHE_E_USAGE || rc == LETHE_E_CONFIG;
}

/* The audit chain's entry of a run that found someone (no value: counts and numbers). */
static lethe_rc
reapply_audit(struct service *svc, const struct ledger_found *f, json_t *reqs, int64_t rows,
              struct lethe_err *err)
{
	struct buf b;
	bool first = true;
	size_t i;
	lethe_rc rc;

	buf_init(&b, 1u << 20);
	/* Canonical members, sorted: erased_by, found, requests, rows. */
	buf_adds(&b, "\"erased_by\":[");
	for (i = 0; i < f->nhits; i++)
		buf_addf(&b, "%s%lld", i > 0 ? "," : "", (long long)f->hits[i].request_id);
	buf_addf(&b, "],\"found\":%zu,\"requests\":[", f->nhits);
	for (i = 0; i < json_array_size(reqs); i++) {
		json_t *n = json_object_get(json_array_get(reqs, i), "request");

		if (json_is_integer(n))
			buf_addf(&b, "%s%lld", first ? "" : ",", (long long)json_integer_value(n));
		first = first && !json_is_integer(n);
	}
	rc = buf_addf(&b, "],\"rows\":%lld", (long long)rows);
	if (rc != LETHE_OK) {
		buf_free(&b);
		return lethe_err_set(err, rc, "reapply: the audit entry is too long");
	}
	pthread_mutex_lock(&svc->st_mu);
	rc = store_audit_append(svc->st, 0, "reapply", NULL, time_now(), buf_str(&b), NULL, err);
	pthread_mutex_unlock(&svc->st_mu);
	buf_free(&b);
	return rc;
}

/*
 * Make the requests of what @f found (unless @dry_run) and describe it
 * (service_reapply()'s JSON); frees @f.  A request that cannot be made is
 * counted in "failed" with its reason, and the others are still made.
 */
static json_t *
reapply_make(struct service *svc, struct ledger_found *f, bool dry_run)
{
	json_t *o, *tables, *reqs;
	int64_t rows = 0;
	int failed = 0, aside = 0;
	size_t i;

	tables = json_array();
	for (i = 0; i < f->ncounts; i++) {
		json_t *t = json_object();

		json_object_set_new(t, "table", json_string(f->counts[i].table));
		json_object_set_new(t, "scope", json_string(f->counts[i].scope));
		json_object_set_new(t, "rows", json_integer(f->counts[i].rows));
		json_array_append_new(tables, t);
		rows += f->counts[i].rows;
	}
	reqs = json_array();
	for (i = 0; i < f->nhits; i++) {
		json_t *r = json_object();

		/* Set aside: never looked for again, so told once, not at every look. */
		if (reapply_hit(svc, &f->hits[i], dry_run, r, &failed) && !dry_run) {
			struct lethe_err e = {0};
			lethe_rc rc;

			pthread_mutex_lock(&svc->st_mu);
			rc = store_ledger_unmatched(svc->st, f->hits[i].request_id, &e);
			pthread_mutex_unlock(&svc->st_mu);
			if (rc == LETHE_OK) {
				json_object_set_new(r, "set_aside", json_true());
				aside++;
			} else {
				log_warnx("reapply: %s", e.msg);
			}
		}
		json_array_append_new(reqs, r);
	}
	/* The requests are made: a failed audit entry is told, not taken for a failed run. */
	if (!dry_run && f->nhits > 0) {
		struct lethe_err e = {0};

		if (reapply_audit(svc, f, reqs, rows, &e) != LETHE_OK)
			log_warnx("reapply: the audit chain's entry of this run could not be "
			          "appended: %s",
			          e.msg);
	}
	o = json_object();
	json_object_set_new(o, "dry_run", json_boolean(dry_run));
	json_object_set_new(o, "entries", json_integer(f->entries));
	json_object_set_new(o, "scanned", json_integer(f->scanned));
	json_object_set_new(o, "found", json_integer((json_int_t)f->nhits));
	json_object_set_new(o, "rows", json_integer(rows));
	json_object_set_new(o, "tables", tables);
	json_object_set_new(o, "requests", reqs);
	json_object_set_new(o, "failed", json_integer(failed));
	json_object_set_new(o, "set_aside", json_integer(aside));
	ledger_found_free(f);
	return o;
}

/*
 * The state store's restore epoch into *@epoch and the app database's
 * marker into *@marker; LETHE_E_NOTFOUND if there is no marker (*@marker
 * 0), another failure as it is.
 */
static lethe_rc
marker_read(struct store *st, struct appdb *db, int64_t *epoch, int64_t *marker,
            struct lethe_err *err)
{
	lethe_rc rc = store_restore_epoch(st, false, 0, epoch, err);

	*marker = 0;
	return rc != LETHE_OK ? rc : appdb_marker_get(db, marker, err);
}

/*
 * After a look that left nobody to try again: the marker (created if
 * needed) and the state store's epoch both at the higher of the two, so
 * the next start sees no restore.
 */
static lethe_rc
marker_settle(struct store *st, struct appdb *db, int64_t epoch, int64_t marker,
              struct lethe_err *err)
{
	int64_t e = epoch > marker ? epoch : marker, now = 0;
	lethe_rc rc = store_restore_epoch(st, false, e, &e, err);
	int tries;

	/*
	 * The runner moves the marker only from the epoch before its own
	 * (ledger_work_marker()): an erasure that commits while the marker is
	 * still behind leaves it behind, and the next start would look again
	 * for nothing.  So read the epoch again after writing the marker until
	 * it stands still: from then on the runner's own moves succeed.
	 */
	for (tries = 0; rc == LETHE_OK && tries < 8; tries++) {
		rc = appdb_marker_set(db, e, -1, err);
		if (rc == LETHE_OK)
			rc = store_restore_epoch(st, false, 0, &now, err);
		if (rc != LETHE_OK || now <= e)
			break;
		e = now;
	}
	return rc;
}

lethe_rc
service_reapply(struct service *svc, bool dry_run, const volatile int *stop, json_t **out,
                struct lethe_err *err)
{
	struct ledger_found f;
	int64_t epoch = 0, marker = 0;
	bool detected = true;
	lethe_rc rc, mrc;

	*out = NULL;
	if (svc->db == NULL)
		return lethe_err_set(err, LETHE_E_INTERNAL, "reapply needs the app database");
	/* The scan under both locks, released before the requests are made (they take them). */
	pthread_mutex_lock(&svc->db_mu);
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK) {
		struct lethe_err e = {0};

		/* Told, not obeyed: the operator asked, so it looks either way. */
		mrc = marker_read(svc->st, svc->db, &epoch, &marker, &e);
		detected = mrc != LETHE_OK || marker != epoch;
		rc = ledger_find(svc->dm, svc->db, svc->st, svc->cfg->key, stop, &f, err);
	}
	pthread_mutex_unlock(&svc->st_mu);
	pthread_mutex_unlock(&svc->db_mu);
	if (rc != LETHE_OK)
		return rc;
	*out = reapply_make(svc, &f, dry_run);
	json_object_set_new(*out, "restore_detected", json_boolean(detected));
	if (!dry_run && json_integer_value(json_object_get(*out, "failed")) ==
	                    json_integer_value(json_object_get(*out, "set_aside"))) {
		struct lethe_err e = {0};

		pthread_mutex_lock(&svc->db_mu);
		pthread_mutex_lock(&svc->st_mu);
		if (marker_settle(svc->st, svc->db, epoch, marker, &e) != LETHE_OK)
			log_debug("reapply: the restore marker was not set: %s", e.msg);
		pthread_mutex_unlock(&svc->st_mu);
		pthread_mutex_unlock(&svc->db_mu);
	}
	return LETHE_OK;
}

/* ---- the look lethe serve takes at start ------------------------------------------ */

/* "#12, #13" of the requests in @o's "requests" into @b. */
static void
numbers(json_t *o, struct buf *b)
{
	json_t *reqs = json_object_get(o, "requests");
	size_t i;

	for (i = 0; i < json_array_size(reqs); i++) {
		json_t *n = json_object_get(json_array_get(reqs, i), "request");

		if (json_is_integer(n))
			buf_addf(b, "%s#%lld", buf_str(b)[0] != '\0' ? ", " : "",
			         (long long)json_integer_value(n));
	}
}

/*
 * Whether the start-up look is due: the app database's marker behind (or
 * ahead of) the state store's epoch, or missing while the ledger holds
 * erased entries.  Logs why it looks or not.  False, with a warning, if
 * the marker can be neither read nor created (a read-only database user):
 * no automatic look then.
 */
static bool
look_due(struct store *st, struct appdb *db, int64_t *epoch, int64_t *marker)
{
	struct lethe_err err = {0};
	int64_t n = 0;
	lethe_rc rc;

	rc = store_ledger_count(st, NULL, &n, &err);
	if (rc == LETHE_OK)
		rc = marker_read(st, db, epoch, marker, &err);
	if (rc == LETHE_OK && *marker == *epoch) {
		log_info("no restore of the app database detected (restore marker %lld): no look "
		         "for restored people at start",
		         (long long)*marker);
		return false;
	}
	if (rc == LETHE_OK || (rc == LETHE_E_NOTFOUND && n > 0)) {
		/* Can the marker be kept at all?  Created (never lowered) before the look. */
		rc = appdb_marker_set(db, 0, -1, &err);
		if (rc != LETHE_OK)
			goto unkept;
		if (n == 0) {
			/* Nobody in the ledger to look for: the marker catches up. */
			if (marker_settle(st, db, *epoch, *marker, &err) != LETHE_OK)
				goto unkept;
			return false;
		}
		if (*marker > *epoch)
			log_warnx("the app database's restore marker (%lld) is ahead of the state "
			          "store's (%lld): was the state store restored to an older copy? "
			          "Erasures made since are not in the ledger",
			          (long long)*marker, (long long)*epoch);
		else
			log_info(
			    "the app database's restore marker (%lld) is behind the state "
			    "store's (%lld): it was restored from a backup; looking for people "
			    "erased before",
			    (long long)*marker, (long long)*epoch);
		return true;
	}
	if (rc == LETHE_E_NOTFOUND)
		return false; /* nobody erased yet: the first erasure creates the marker */
	log_warnx("looking for people erased before in the app database: %s", err.msg);
	return false;
unkept:
	log_warnx("cannot keep the restore marker in the app database (%s): lethe serve will not "
	          "look for people erased before at start; run `lethe reapply` after restoring a "
	          "backup",
	          err.msg);
	return false;
}

static void *
reapply_main(void *arg)
{
	struct service *svc = arg;
	const struct lethe_config *cfg = svc->cfg;
	struct lethe_err err = {0};
	struct ledger_found f;
	struct appdb *db = NULL;
	struct store *st = NULL;
	json_t *o = NULL;
	int64_t epoch = 0, marker = 0;
	char owner[LEASE_OWNER_MAX];
	bool held = false;
	lethe_rc rc;

	memset(&f, 0, sizeof(f));
	rc = store_open(cfg->state_db, &st, &err);
	if (rc != LETHE_OK)
		goto out;
	/* One worker of a store looks (the "reapply" singleton); it gives the lease back after. */
	lease_owner_format(owner, sizeof(owner));
	rc = store_singleton_take(st, "reapply", owner, time_now() * 1000, REAPPLY_LEASE_MS, &held,
	                          &err);
	if (rc != LETHE_OK || !held)
		goto out;
	db = appdb_open(cfg->app_db, cfg->dir, &err);
	if (db == NULL) {
		rc = err.rc;
		goto out;
	}
	if (!look_due(st, db, &epoch, &marker))
		goto out;
	rc = ledger_find(svc->dm, db, st, cfg->key, &svc->reapply_stop, &f, &err);
	if (rc == LETHE_OK)
		o = reapply_make(svc, &f, false);
	if (rc == LETHE_OK && json_integer_value(json_object_get(o, "found")) > 0) {
		struct buf b;

		buf_init(&b, 4096);
		numbers(o, &b);
		log_warnx(
		    "the app database holds %lld people erased before: it was restored from a "
		    "backup; erasing them again (requests %s)",
		    (long long)json_integer_value(json_object_get(o, "found")),
		    buf_str(&b)[0] != '\0' ? buf_str(&b) : "none could be made");
		if (json_integer_value(json_object_get(o, "failed")) > 0)
			log_warnx(
			    "%lld of them could not be re-applied: run `lethe reapply` to see why",
			    (long long)json_integer_value(json_object_get(o, "failed")));
		buf_free(&b);
	} else if (rc == LETHE_OK) {
		log_info("nobody erased before is back in the app database");
	}
	/* Settled unless someone is to be tried again: the next start looks only after a restore.
	 */
	if (rc == LETHE_OK && json_integer_value(json_object_get(o, "failed")) ==
	                          json_integer_value(json_object_get(o, "set_aside")))
		rc = marker_settle(st, db, epoch, marker, &err);
out:
	if (rc != LETHE_OK && rc != LETHE_E_UNAVAILABLE)
		log_warnx("looking for people erased before in the app database: %s", err.msg);
	if (held && store_singleton_release(st, "reapply", owner, &err) != LETHE_OK)
		log_warnx("reapply: %s", err.msg);
	json_decref(o);
	appdb_close(db);
	store_close(st);
	return NULL;
}

void
service__reapply_start(struct service *svc)
{
	svc->reapply_stop = 0;
	if (pthread_create(&svc->reapply, NULL, reapply_main, svc) != 0) {
		log_warnx("cannot start the thread that looks for people erased before; "
		          "run `lethe reapply`");
		return;
	}
	svc->reapply_started = true;
}

void
service__reapply_stop(struct service *svc)
{
	if (!svc->reapply_started)
		return;
	svc->reapply_stop = 1;
	pthread_join(svc->reapply, NULL);
	svc->reapply_started = false;
}
