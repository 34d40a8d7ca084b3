/* SPDX-License-Identifier: MIT */
/*
 * request_work.c - the runner's bookkeeping of privacy requests (see
 * request_work.h): expiry of unverified requests, deadline warnings, and
 * the effects a policy applies when a request is accepted and undoes when
 * it is cancelled or refused, and the purge of mailed links long expired.
 *
 * Effects are recorded before they are carried out (column effects: 1 to
 * apply, 3 to undo), so a crash between leaves them to be done again;
 * applying and undoing are idempotent (the same columns set to the same
 * values; a channel already disconnected stays so).  A cancellation or
 * refusal turns "to apply" and "applied" alike into "to undo" (undoing
 * what was never applied is harmless), so one that lands while effects
 * are being applied, or a crash in between, still gets them undone; the
 * identity stays until then.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "engine/disconnect.h"
#include "engine/effects.h"
#include "engine/request.h"
#include "jobs/engine_opts.h"
#include "jobs/request_work.h"
#include "util/log.h"
#include "util/mem.h"

/* Log what happened to @r's effects; never the person's identities. */
static void
effects_log(const struct store_request *r, bool undo, int64_t rows, size_t channels)
{
	log_info("request %lld: effects %s (%lld rows, %zu channels disconnected)",
	         (long long)r->id, undo ? "undone" : "applied", (long long)rows, channels);
}

#define STAGED_AGE_S 10 /* a staged disconnect older than this is left by a crash */

/*
 * disconnect_channel(); if a disconnect of the channel is staged by a process
 * that died (a crash before this restart), repaired first and tried again:
 * the outbox worker's recovery may not have run yet.
 */
static lethe_rc
disconnect_or_repair(const struct disconnect_opts *dop, const struct datamap *dm, struct appdb *db,
                     struct store *st, const char *id, int64_t *disc, bool *already,
                     struct lethe_err *err)
{
	struct lethe_err e2 = {0};
	int fixed = 0;
	lethe_rc rc = disconnect_channel(dop, dm, db, st, id, "request", disc, already, err);

	if (rc == LETHE_E_BUSY &&
	    disconnect_recover(dop, dm, db, st, STAGED_AGE_S, &fixed, &e2) == LETHE_OK && fixed > 0)
		rc = disconnect_channel(dop, dm, db, st, id, "request", disc, already, err);
	return rc;
}

/* Disconnect every channel of the person (an effect with revoke). */
static lethe_rc
revoke_all(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
           struct store *st, const struct plan_id *ids, size_t nids, size_t *count,
           struct lethe_err *err)
{
	struct disconnect_opts dop;
	char **keys = NULL;
	size_t n = 0, i;
	lethe_rc rc;

	/* A command that did not load the outbox key (it seals the tokens) leaves it to serve. */
	if (!cfg->outbox.key_loaded)
		return lethe_err_set(err, LETHE_E_UNAVAILABLE,
		                     "revoking grants needs the outbox key; lethe serve does it");
	engine_opts_disconnect(cfg, &dop);
	rc = effects_channels(dm, ids, nids, db, &keys, &n, err);
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		int64_t disc = 0;
		bool already = false;

		rc = disconnect_or_repair(&dop, dm, db, st, keys[i], &disc, &already, err);
		if (rc == LETHE_OK && !already)
			(*count)++;
	}
	effects_keys_free(keys, n);
	return rc;
}

/* Apply (or undo) every effect of @p for the person of @ids. */
static lethe_rc
effects_do(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
           struct store *st, const struct request_policy *p, bool undo, const struct plan_id *ids,
           size_t nids, int64_t *rows, size_t *channels, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;
	size_t i;

	for (i = 0; rc == LETHE_OK && i < p->neffects; i++) {
		const struct dm_effect *e = datamap_effect(dm, p->effects[i]);
		int64_t n = 0;

		if (e == NULL) /* policy_check() refuses this at start; a reload may not */
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "policy %s names effect '%s', which the data map "
			                     "does not declare",
			                     p->name, p->effects[i]);
		rc = effects_apply(dm, e, undo, ids, nids, db, &n, err);
		*rows += n;
		/* A revoked grant cannot be given back: the person reconnects. */
		if (rc == LETHE_OK && e->revoke && !undo)
			rc = revoke_all(cfg, dm, db, st, ids, nids, channels, err);
	}
	return rc;
}

lethe_rc
request_work_effects(const struct lethe_config *cfg, const struct datamap *dm, struct appdb *db,
                     struct store *st, const struct store_request *r, const uint8_t *box,
                     size_t boxlen, struct lethe_err *err)
{
	const struct request_policy *p =
	    request_policy_of(cfg, r->policy, r->kind, r->scope, r->source);
	bool undo = r->effects == STORE_EFFECTS_UNDO;
	struct plan_id *ids = NULL;
	size_t nids = 0, channels = 0;
	int64_t rows = 0;
	bool applied = false;
	lethe_rc rc;

	rc = request_ids_open(cfg->key, box, boxlen, &ids, &nids);
	if (rc != LETHE_OK) {
		/* No identity to act on (wiped, or another key): nothing can be done. */
		log_warnx("request %lld: its identity cannot be opened; its effects are dropped",
		          (long long)r->id);
		return store_request_set_effects(st, r->id, r->effects, STORE_EFFECTS_NONE,
		                                 &applied, err);
	}
	rc = effects_do(cfg, dm, db, st, p, undo, ids, nids, &rows, &channels, err);
	if (rc == LETHE_OK && !undo) {
		rc = store_request_set_effects(st, r->id, STORE_EFFECTS_APPLY,
		                               STORE_EFFECTS_APPLIED, &applied, err);
		/*
		 * Not "to apply" any more: cancelled or refused meanwhile (which
		 * records "to undo": the next pass undoes what was just done), or
		 * another process applied them first.  Either way nothing to do.
		 */
		if (rc == LETHE_OK && !applied) {
			request_ids_free(ids, nids);
			return LETHE_OK;
		}
	} else if (rc == LETHE_OK) {
		rc = store_request_set_effects(st, r->id, STORE_EFFECTS_UNDO, STORE_EFFECTS_NONE,
		                               &applied, err);
	}
	if (rc == LETHE_OK)
		effects_log(r, undo, rows, channels);
	if (rc == LETHE_OK && undo)
		rc = store_request_wipe(st, r->id, err);
	request_ids_free(ids, nids);
	return rc;
}

/* Log a request nearing (or past) its deadline, once. */
struct warn_acc {
	int64_t now;      /* the time */
	int64_t ids[100]; /* the requests warned of */
	size_t n;         /* how many */
};

static void
on_due(void *arg, const struct store_request *r)
{
	struct warn_acc *a = arg;
	int64_t left = r->due_at - a->now;

	if (left < 0)
		log_warnx("request %lld (%s, %s) is overdue: it was due %lld hours ago",
		          (long long)r->id, r->state, r->source[0] ? r->source : "meta",
		          (long long)(-left / 3600));
	else
		log_warnx("request %lld (%s, %s) is due in %lld hours", (long long)r->id, r->state,
		          r->source[0] ? r->source : "meta", (long long)(left / 3600));
	if (a->n < sizeof(a->ids) / sizeof(a->ids[0]))
		a->ids[a->n++] = r->id;
}

lethe_rc
request_work_tick(const struct lethe_config *cfg, struct store *st, int64_t now,
                  struct lethe_err *err)
{
	struct warn_acc acc = {.now = now};
	int64_t n = 0;
	size_t i;
	lethe_rc rc;

	/*
	 * One transaction: the history rows and the state change together, so
	 * a verification landing in between (another connection) cannot leave
	 * an "expired" event on a request that went on.
	 */
	rc = store_begin(st, err);
	if (rc == LETHE_OK) {
		rc = store_request_expire(st, now, &n, err);
		if (rc == LETHE_OK)
			rc = store_commit(st, err);
		else
			store_rollback(st);
	}
	if (rc == LETHE_OK && n > 0)
		log_info("requests: %lld never verified in time; expired", (long long)n);
	if (rc == LETHE_OK)
		rc = store_request_due_soon(st, now + cfg->requests.warn_before_s, on_due, &acc,
		                            err);
	/* Warned once, and the person told ("delayed") in the same transaction. */
	for (i = 0; rc == LETHE_OK && i < acc.n; i++) {
		rc = store_begin(st, err);
		if (rc != LETHE_OK)
			break;
		rc = store_request_set_warned(st, acc.ids[i], err);
		if (rc == LETHE_OK)
			rc = store_mail_add(st, acc.ids[i], "delayed", now, NULL, err);
		if (rc == LETHE_OK)
			rc = store_commit(st, err);
		else
			store_rollback(st);
	}
	if (rc == LETHE_OK && !cfg->mail.enabled)
		rc = request_work_mail_off(st, now, err);
	/* The privacy mailbox's mails past mailbox.keep: closed (raw wiped), then forgotten. */
	if (rc == LETHE_OK && cfg->mailbox.enabled) {
		rc = store_mailin_prune(st, now, cfg->mailbox.keep_s, &n, err);
		if (rc == LETHE_OK && n > 0)
			log_info("mailbox: %lld mails past mailbox.keep closed or forgotten",
			         (long long)n);
	}
	return rc;
}

lethe_rc
request_work_purge_links(struct store *st, int64_t now, struct lethe_err *err)
{
	int64_t n = 0;
	lethe_rc rc;

	rc = store_link_purge(st, now - REQUEST_WORK_LINK_KEEP_S, &n, err);
	if (rc == LETHE_OK && n > 0)
		log_info("links: %lld expired more than a day ago; purged", (long long)n);
	return rc;
}

lethe_rc
request_work_mail_off(struct store *st, int64_t now, struct lethe_err *err)
{
	int64_t n = 0;
	lethe_rc rc;

	rc = store_mail_skip_all(st, "mail is off", now, &n, err);
	if (rc == LETHE_OK && n > 0)
		log_info("mail: %lld mails not sent: mail is off (no mail: section); "
		         "skipped, their recipients wiped",
		         (long long)n);
	return rc;
}

/* The person's requests an erasure ends (store_export_held()). */
struct held {
	int64_t *ids;  /* requests */
	bool *export;  /* each: an export (else a restriction) */
	size_t n, cap; /* used, allocated */
};

static void
on_held(void *arg, int64_t request_id, const char *kind)
{
	struct held *h = arg;

	if (h->n == h->cap) {
		h->cap = h->cap == 0 ? 8 : 2 * h->cap;
		h->ids = xrealloc(h->ids, h->cap * sizeof(*h->ids));
		h->export = xrealloc(h->export, h->cap * sizeof(*h->export));
	}
	h->ids[h->n] = request_id;
	h->export[h->n] = strcmp(kind, "export") == 0;
	h->n++;
}

lethe_rc
request_work_erased(struct store *st, const struct store_request *req, int64_t now,
                    struct request_work_ended *out, struct lethe_err *err)
{
	struct held h = {.ids = NULL, .export = NULL, .n = 0, .cap = 0};
	lethe_rc rc = LETHE_OK;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (req->app[0] != '\0' || strcmp(req->scope, "account") != 0 ||
	    (req->kind[0] != '\0' && strcmp(req->kind, "erasure") != 0))
		return LETHE_OK;
	rc = store_export_held(st, req->id, on_held, &h, err);
	for (i = 0; rc == LETHE_OK && i < h.n; i++) {
		if (h.export[i]) {
			char file[128];

			rc = store_export_delete(st, h.ids[i], now, file, sizeof(file), err);
			if (rc == LETHE_OK)
				rc = store_export_why(st, h.ids[i], STORE_EXPORT_ERASED, err);
			if (rc == LETHE_OK && file[0] != '\0') {
				out->files =
				    xrealloc(out->files, (out->nfiles + 1) * sizeof(*out->files));
				out->files[out->nfiles++] = xstrdup(file);
			}
		} else {
			/* As `lethe requests lift` does: the effects undone, then the identities
			 * wiped. */
			struct store_transition t = {
			    .from = "completed",
			    .to = "lifted",
			    .actor = "lethe",
			    .reason = "the person's account was erased",
			    .reason_col = STORE_REASON_KEEP,
			    .now = now,
			    .not_before = -1,
			    .expires_at = -1,
			    .completed_at = now,
			    .effects = -2,
			};
			bool applied = false;

			rc = store_request_transition(st, h.ids[i], &t, &applied, err);
			if (rc == LETHE_OK && applied)
				out->lifted++;
		}
	}
	free(h.ids);
	free(h.export);
	if (rc != LETHE_OK)
		request_work_ended_free(out);
	return rc;
}

void
request_work_ended_free(struct request_work_ended *e)
{
	size_t i;

	for (i = 0; i < e->nfiles; i++)
		free(e->files[i]);
	free(e->files);
	memset(e, 0, sizeof(*e));
}
