/* SPDX-License-Identifier: MIT */
/*
 * disconnect.c - disconnecting a channel (see disconnect.h).
 *
 * Order of writes, so that a crash at any instant loses no revocation:
 *   1. app database: BEGIN (write lock held from the start); read the
 *      channel's platform, account and tokens; wipe tokens and apply the
 *      map's disconnect effects (not yet committed);
 *   2. state store, one durable transaction: the disconnect record
 *      (state staged, the sealed channel id, a keyed hash of the token read)
 *      and its jobs (staged, secrets sealed);
 *   3. app database: COMMIT;
 *   4. state store: the record becomes disconnected, its jobs pending.
 * disconnect_recover() finishes what a crash interrupted between 2 and 4.
 * Identifiers from the data map are quoted; every value is bound.
 *
 * This file holds the transaction and the queuing of jobs; the statements
 * on the app database are in disconnect_app.c, recovery and the state
 * shown to the API in disconnect_state.c.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <sodium.h>

#include "engine/disconnect_internal.h"
#include "engine/revoke.h"
#include "platform/platform.h"
#include "util/hash.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/seal.h"
#include "util/timeutil.h"

/* The state store failing around a disconnect: one line each, rate-limited (recovery acts). */
static struct log_limit disc_log = LOG_LIMIT_INIT(10, 60000.);

bool
disconnect_id_ok(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0, i;
	bool nonzero = false;

	if (n == 0 || n > DISCONNECT_ID_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)id[i]))
			return false;
		nonzero = nonzero || id[i] != '0';
	}
	return nonzero && (n < DISCONNECT_ID_MAX || strcmp(id, "9223372036854775807") <= 0);
}

void
disconnect_subject(const uint8_t key[HASH_KEY_LEN], const char *id, char *out)
{
	char *v = xasprintf("channel\x1f%s", id);

	hash_keyed(key, v, strlen(v), out);
	free(v);
}

static lethe_rc
job_done(struct store *st, int64_t disc, const char *kind, const char *platform,
         const char *outcome, const char *reason, int64_t now_ms, struct lethe_err *err)
{
	struct store_outbox j;
	lethe_rc rc;

	memset(&j, 0, sizeof(j));
	rc = store_outbox_add(st, disc, kind, platform, "done", now_ms, NULL, 0, &j.id, err);
	snprintf(j.state, sizeof(j.state), "done");
	snprintf(j.outcome, sizeof(j.outcome), "%s", outcome);
	snprintf(j.reason, sizeof(j.reason), "%s", reason);
	j.next_at_ms = now_ms;
	if (rc == LETHE_OK)
		rc = store_outbox_update(st, &j, NULL, now_ms, err);
	return rc;
}

/*
 * The jobs a disconnect queues: a normal one (API, CLI, erasure) every call;
 * Meta's deauthorize none (Meta's tokens are dead).  DISC_OWED adds to an
 * earlier disconnect of the channel what it left out (the unsubscribes a
 * deauthorize did not queue, the purge a deauthorize or an erasure did not
 * queue), at once pending: no app transaction goes with it.  Whether a
 * purge is queued is the caller's.
 */
enum disc_mode { DISC_NORMAL, DISC_DEAUTH, DISC_OWED };

/* A job with a call to make, its secrets sealed; staged until the app commit. */
static lethe_rc
job_staged(const struct disconnect_opts *o, struct store *st, int64_t disc, const char *kind,
           const char *platform, const struct seal_payload *pl, bool owed, int64_t now_ms,
           struct lethe_err *err)
{
	size_t len = 0;
	uint8_t *box = seal_box(o->outbox_key, kind, pl, &len);
	lethe_rc rc;

	/* Owed jobs of a disconnect that committed long ago are due at once. */
	rc = store_outbox_add(st, disc, kind, platform, owed ? "pending" : "staged", now_ms, box,
	                      len, NULL, err);
	sodium_memzero(box, len);
	free(box);
	return rc;
}

/*
 * Queue the jobs of a disconnect (inside the caller's state store
 * transaction).  The unsubscribes come first: a Facebook revoke invalidates
 * every token of the person, the Page token the unsubscribe needs too; the
 * outbox claims a revoke only once its sibling unsubscribes ended.
 */
static lethe_rc
queue_jobs(const struct disconnect_opts *o, const struct datamap *dm, struct store *st,
           int64_t disc, const char *id, enum disc_mode mode, bool purge, const struct chan_row *c,
           const struct unsub *unsubs, size_t nunsubs, int64_t now_ms, struct lethe_err *err)
{
	const char *canon = platform_canonical(c->platform);
	bool deauth = mode == DISC_DEAUTH, owed = mode == DISC_OWED;
	struct seal_payload *pl = xcalloc(1, sizeof(*pl));
	char reason[160];
	size_t i;
	lethe_rc rc = LETHE_OK;

	snprintf(pl->channel, sizeof(pl->channel), "%s", id);
	for (i = 0; rc == LETHE_OK && !deauth && i < nunsubs; i++) {
		const char *tok = unsubs[i].token != NULL ? unsubs[i].token : c->token;

		if (canon == NULL || !platform_supports(canon, PLATFORM_UNSUBSCRIBE)) {
			rc = job_done(st, disc, "unsubscribe", canon, "unsupported",
			              "the platform documents no call to remove this subscription",
			              now_ms, err);
		} else if (tok == NULL && owed) {
			rc = job_done(
			    st, disc, "unsubscribe", canon, "no_token",
			    "Meta deauthorized the app: no valid token is left to call with, "
			    "and Meta stops delivering webhooks to an app the person removed",
			    now_ms, err);
		} else if (tok == NULL) {
			rc = job_done(st, disc, "unsubscribe", canon, "no_token",
			              "no token to call the platform with", now_ms, err);
		} else {
			snprintf(pl->token, sizeof(pl->token), "%s", tok);
			snprintf(pl->account, sizeof(pl->account), "%s", unsubs[i].account);
			rc = job_staged(o, st, disc, "unsubscribe", canon, pl, owed, now_ms, err);
		}
	}
	memset(pl->token, 0, sizeof(pl->token));
	pl->account[0] = '\0';
	if (rc != LETHE_OK || owed) {
		/* nothing more: the earlier disconnect has its revoke */
	} else if (deauth) {
		rc =
		    job_done(st, disc, "revoke", canon, "already_revoked",
		             "Meta deauthorized the app: its tokens are already invalid; the token "
		             "was deleted",
		             now_ms, err);
	} else if (c->token == NULL && canon != NULL && strcmp(canon, "facebook") == 0 &&
	           c->account[0] != '\0' && platform_has_app_token(o->platforms, canon)) {
		/* No user token: Facebook removes the permissions with the app token. */
		snprintf(pl->account, sizeof(pl->account), "%s", c->account);
		rc = job_staged(o, st, disc, "revoke", canon, pl, false, now_ms, err);
	} else if (c->token == NULL) {
		rc = job_done(st, disc, "revoke", canon, "no_token",
		              "the channel held no token to revoke", now_ms, err);
	} else if (canon == NULL) {
		rc = job_done(st, disc, "revoke", NULL, "unsupported",
		              "lethe knows no revoke call for this platform; the token was deleted",
		              now_ms, err);
	} else if (!platform_supports(canon, PLATFORM_REVOKE)) {
		snprintf(reason, sizeof(reason),
		         "%s documents no revoke endpoint; the token was deleted",
		         platform_label(canon, false));
		rc = job_done(st, disc, "revoke", canon, "unsupported", reason, now_ms, err);
	} else {
		snprintf(pl->token, sizeof(pl->token), "%s", c->token);
		snprintf(pl->account, sizeof(pl->account), "%s", c->account);
		rc = job_staged(o, st, disc, "revoke", canon, pl, false, now_ms, err);
	}
	if (rc == LETHE_OK && purge && datamap_scope(dm, PURGE_SCOPE) != NULL) {
		memset(pl->token, 0, sizeof(pl->token));
		pl->account[0] = '\0';
		rc = job_staged(o, st, disc, "purge", NULL, pl, owed, now_ms, err);
	}
	sodium_memzero(pl, sizeof(*pl));
	free(pl);
	return rc;
}

/* Counts an earlier disconnect's jobs by kind. */
struct kinds {
	int64_t unsub; /* unsubscribe jobs */
	int64_t purge; /* purge jobs */
};

static void
count_kinds(void *arg, const struct store_outbox *j)
{
	struct kinds *k = arg;

	if (strcmp(j->kind, "unsubscribe") == 0)
		k->unsub++;
	else if (strcmp(j->kind, "purge") == 0)
		k->purge++;
}

/*
 * Channel @id was disconnected before by @prev and holds no token: add to
 * that disconnect what it left out and a disconnect by @source owes, once.
 * After Meta's deauthorize (no call, no purge), any later disconnect owes
 * the webhook unsubscribes; a disconnect the person asked for (API, CLI)
 * owes the purge of the channel's data, which neither a deauthorize nor an
 * erasure (deleting the data itself) queued.  One state store transaction,
 * the jobs pending at once; the app database is only read (its write lock,
 * held by the caller, keeps a concurrent disconnect out).  *@already is
 * true if nothing was owed.
 */
static lethe_rc
queue_owed(const struct disconnect_opts *o, const struct datamap *dm, struct appdb *db,
           struct store *st, const struct store_disc *prev, const char *id, const char *source,
           const struct chan_row *c, bool *already, struct lethe_err *err)
{
	struct kinds k = {0, 0};
	struct unsub *unsubs = NULL;
	size_t nunsubs = 0;
	bool purge, unsub;
	lethe_rc rc;

	*already = true;
	rc = store_outbox_list(st, prev->id, NULL, count_kinds, &k, err);
	unsub = k.unsub == 0 && strcmp(prev->source, "deauthorize") == 0;
	purge =
	    k.purge == 0 && strcmp(source, "erase") != 0 && datamap_scope(dm, PURGE_SCOPE) != NULL;
	if (rc == LETHE_OK && unsub)
		rc = disconnect_unsub_accounts(dm, db, id, &unsubs, &nunsubs, err);
	if (rc != LETHE_OK || (nunsubs == 0 && !purge))
		goto out;
	/* Durable before the caller is told they are queued. */
	rc = store_set_durable(st, err);
	if (rc == LETHE_OK)
		rc = store_begin(st, err);
	if (rc == LETHE_OK) {
		rc = queue_jobs(o, dm, st, prev->id, id, DISC_OWED, purge, c, unsubs, nunsubs,
		                (int64_t)time_now() * 1000, err);
		if (rc == LETHE_OK)
			rc = store_commit(st, err);
		if (rc != LETHE_OK)
			store_rollback(st);
	}
	store_set_normal_sync(st);
	if (rc == LETHE_OK) {
		*already = false;
		log_info("channel disconnect %lld (%s): %zu unsubscribe(s)%s owed by the earlier "
		         "disconnect queued",
		         (long long)prev->id, source, nunsubs, purge ? " and the purge" : "");
	}
out:
	disconnect_unsubs_free(unsubs, nunsubs);
	return rc;
}

/* Keyed hash of @token under the outbox key ("" for none). */
void
disconnect_token_mac(const struct disconnect_opts *o, const char *token, char *out)
{
	out[0] = '\0';
	if (token != NULL)
		hash_keyed(o->outbox_key, token, strlen(token), out);
}

lethe_rc
disconnect_channel(const struct disconnect_opts *o, const struct datamap *dm, struct appdb *db,
                   struct store *st, const char *id, const char *source, int64_t *disc,
                   bool *already, struct lethe_err *err)
{
	char subject[HASH_TEXT_LEN + 1];
	struct store_disc prev, d;
	struct chan_row c;
	struct seal_payload *pl = NULL;
	struct unsub *unsubs = NULL;
	size_t nunsubs = 0;
	json_t *effects = NULL;
	bool have_prev = false, app_open = false, st_open = false, durable = false;
	bool deauth = strcmp(source, "deauthorize") == 0, erase = strcmp(source, "erase") == 0;
	enum disc_mode mode = deauth ? DISC_DEAUTH : DISC_NORMAL;
	int64_t now = time_now(), now_ms = (int64_t)time_now() * 1000;
	lethe_rc rc;

	*disc = 0;
	*already = false;
	memset(&c, 0, sizeof(c));
	memset(&prev, 0, sizeof(prev));
	memset(&d, 0, sizeof(d));
	if (dm->channel == NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "the data map has no channel table (give one table "
		                     "'connection:')");
	disconnect_subject(o->key, id, subject);
	/*
	 * The app write lock first: a disconnect of the same channel by another
	 * process has then either finished or not started, and its record says so.
	 * Its commit is durable (a power loss must not undo what the state store,
	 * FULL, says happened).
	 */
	appdb_durable(db, true);
	rc = appdb_begin_write(db, err);
	app_open = rc == LETHE_OK;
	if (rc == LETHE_OK) {
		rc = store_disc_find(st, subject, &prev, err);
		have_prev = rc == LETHE_OK;
		if (rc == LETHE_E_NOTFOUND)
			rc = LETHE_OK;
	}
	/*
	 * Staged by another process (between its app commit and the release of
	 * its jobs) or left staged by a crash: its jobs are durable, and
	 * recovery releases them once the tokens or the row are gone.  An
	 * erasure, which only needs the revocation durable, goes on.
	 */
	if (rc == LETHE_OK && have_prev && strcmp(prev.state, "staged") == 0 && erase) {
		*already = true;
		*disc = prev.id;
		goto out;
	}
	if (rc == LETHE_OK && have_prev && strcmp(prev.state, "staged") == 0)
		rc = lethe_err_set(err, LETHE_E_BUSY,
		                   "a disconnect of this channel is in progress; try again");
	if (rc == LETHE_OK)
		rc = disconnect_chan_read(dm, db, id, &c, err);
	if (rc == LETHE_OK && !c.found && !have_prev)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no channel with this id");
	if (rc == LETHE_OK && have_prev && c.tokens == 0) {
		/* Also when the row is gone since (erased): its disconnect stands. */
		/* Disconnected before and not reconnected since: the same state again, */
		*disc = prev.id;
		/* with what the earlier disconnect left out still owed (once). */
		if (c.found && !deauth)
			rc = queue_owed(o, dm, db, st, &prev, id, source, &c, already, err);
		else
			*already = true;
		goto out;
	}
	/* A value a job cannot carry whole: refused, never cut or treated as "no token". */
	if (rc == LETHE_OK && c.account_bad && !deauth)
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "the channel's account id is longer than %zu bytes; nothing "
		                   "changed",
		                   sizeof(c.account) - 1);
	if (rc == LETHE_OK && c.token_bad && !deauth)
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "the channel's token is binary or %d bytes or longer and cannot "
		                   "be carried by a revoke job; nothing changed",
		                   SEAL_TOKEN_MAX);
	if (rc == LETHE_OK && !deauth)
		rc = disconnect_unsub_accounts(dm, db, id, &unsubs, &nunsubs, err);
	effects = json_object();
	if (rc == LETHE_OK)
		rc = disconnect_apply_effects(dm, db, id, c.tokens, erase, effects, err);

	/* The jobs are durable before the commit that removes the token. */
	if (rc == LETHE_OK)
		rc = store_set_durable(st, err);
	durable = rc == LETHE_OK;
	if (rc == LETHE_OK)
		rc = store_begin(st, err);
	st_open = rc == LETHE_OK;
	if (rc == LETHE_OK) {
		size_t len = 0;
		const char *canon = platform_canonical(c.platform);

		pl = xcalloc(1, sizeof(*pl));
		snprintf(pl->channel, sizeof(pl->channel), "%s", id);
		snprintf(d.subject, sizeof(d.subject), "%s", subject);
		snprintf(d.state, sizeof(d.state), "staged");
		snprintf(d.source, sizeof(d.source), "%s", source);
		snprintf(d.platform, sizeof(d.platform), "%s", canon ? canon : c.platform);
		d.requested_at = now;
		d.effects = json_dumps(effects, JSON_COMPACT);
		disconnect_token_mac(o, c.token, d.token_mac);
		/* Recovery redoes a record whose owner died at once (disconnect_recover()). */
		lease_owner_format(d.owner, sizeof(d.owner));
		d.box = seal_box(o->outbox_key, "channel", pl, &len);
		d.boxlen = len;
		rc = store_disc_add(st, &d, disc, err);
	}
	if (rc == LETHE_OK)
		rc = queue_jobs(o, dm, st, *disc, id, mode, !deauth && !erase, &c, unsubs, nunsubs,
		                now_ms, err);
	if (rc == LETHE_OK)
		rc = store_commit(st, err);
	st_open = st_open && rc != LETHE_OK;
	/* Staged, the app commit not yet made: the window recovery must close. */
	if (rc == LETHE_OK)
		time_test_crash("disconnect-staged");
	if (st_open)
		store_rollback(st);
	if (rc == LETHE_OK) {
		rc = appdb_commit(db, err);
		app_open = false;
		if (rc != LETHE_OK) {
			struct lethe_err e2 = {0};

			/*
			 * The token stays: so must not its jobs.  Aborted first (one
			 * statement), so that recovery drops the record and never
			 * applies it again, then dropped whole.
			 */
			appdb_rollback(db);
			if (store_disc_abort(st, *disc, &e2) != LETHE_OK)
				log_warnx_limited(
				    &disc_log,
				    "disconnect %lld: the app commit failed and the staged "
				    "record cannot be marked aborted (%s); recovery may apply "
				    "this disconnect again",
				    (long long)*disc, e2.msg);
			else if (store_disc_drop(st, *disc, &e2) != LETHE_OK)
				log_warnx_limited(
				    &disc_log,
				    "disconnect %lld: the app commit failed; the aborted "
				    "record cannot be dropped now (%s); recovery drops it",
				    (long long)*disc, e2.msg);
			*disc = 0;
		}
	}
	if (rc == LETHE_OK) {
		struct lethe_err e2 = {0};

		/* The app commit happened: the disconnect stands whatever follows. */
		if (store_disc_ready(st, *disc, now, now_ms, &e2) != LETHE_OK)
			log_warnx_limited(
			    &disc_log,
			    "disconnect %lld: tokens wiped, but its jobs cannot be released "
			    "now (%s); recovery releases them",
			    (long long)*disc, e2.msg);
		else
			log_info("channel disconnect %lld (%s): tokens wiped, jobs queued",
			         (long long)*disc, source);
	}
out:
	if (app_open)
		appdb_rollback(db);
	appdb_durable(db, false);
	/* Back to the connection's usual syncing (an erasure goes on with it). */
	if (durable)
		store_set_normal_sync(st);
	if (pl != NULL) {
		sodium_memzero(pl, sizeof(*pl));
		free(pl);
	}
	free(d.effects);
	if (d.box != NULL)
		free(d.box);
	json_decref(effects);
	disconnect_unsubs_free(unsubs, nunsubs);
	disconnect_chan_row_free(&c);
	store_disc_clear(&prev);
	return rc;
}

lethe_rc
disconnect_identity(const struct disconnect_opts *o, const struct datamap *dm, struct appdb *db,
                    struct store *st, const char *kind, const char *value,
                    void (*on_channel)(void *arg, const char *id), void *arg, int64_t *rows,
                    struct lethe_err *err)
{
	const struct dm_table *ch = dm->channel;
	char **ids = NULL;
	size_t nids = 0, i, k;
	lethe_rc rc = LETHE_OK;

	*rows = 0;
	if (ch == NULL)
		return revoke_tokens(dm, db, kind, value, rows, err);
	ids = xcalloc(IDENTITY_MAX, sizeof(char *));
	for (i = 0; rc == LETHE_OK && i < ch->nlinks; i++) {
		const struct dm_link *l = &ch->links[i];
		int64_t after = 0, last;

		if (l->kind != DM_LINK_IDENTITY || strcmp(l->identity, kind) != 0)
			continue;
		/* Page by key: every linked channel, however many, is disconnected. */
		do {
			rc = disconnect_identity_page(dm, db, l, value, after, ids, &nids, err);
			for (k = 0; rc == LETHE_OK && k < nids; k++) {
				int64_t disc = 0;
				bool already = false;

				/* Noted first: the disconnect may clear that identity. */
				if (on_channel != NULL)
					on_channel(arg, ids[k]);
				rc = disconnect_channel(o, dm, db, st, ids[k], "deauthorize", &disc,
				                        &already, err);
				if (rc == LETHE_OK && !already)
					(*rows)++;
			}
			last = after;
			if (nids > 0)
				after = strtoll(ids[nids - 1], NULL, 10);
			for (k = 0; k < nids; k++)
				free(ids[k]);
			/* Keys that do not compare as integers would page forever. */
		} while (rc == LETHE_OK && nids == IDENTITY_MAX && after > last);
		nids = 0;
	}
	free(ids);
	return rc;
}
