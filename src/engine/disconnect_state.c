/* SPDX-License-Identifier: MIT */
/*
 * disconnect_state.c - repairing staged disconnects after a crash, and a
 * channel's disconnect state for the API (see disconnect.h and
 * docs/internals/outbox.md).
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "engine/disconnect_internal.h"
#include "util/hash.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "platform/platform.h"
#include "util/seal.h"
#include "util/timeutil.h"

/*
 * What recovery does with staged disconnect @d whose channel row is @c: redo
 * (the app commit never happened), drop (reconnected since) or, when no
 * token column is left, nothing but release its jobs (it committed).
 */
enum recover_act { RECOVER_READY, RECOVER_REDO, RECOVER_DROP };

static enum recover_act
recover_decide(const struct disconnect_opts *o, const struct store_disc *d,
               const struct chan_row *c)
{
	char mac[HASH_TEXT_LEN + 1];

	/* The row gone (erased since) or every token column empty: it committed. */
	if (!c->found || c->tokens == 0)
		return RECOVER_READY;
	if (c->token_bad)
		return RECOVER_DROP;
	if (d->token_mac[0] == '\0')
		/* No revoke token was read: the same still holds only if there is none now. */
		return c->token == NULL ? RECOVER_REDO : RECOVER_DROP;
	if (c->token == NULL)
		return RECOVER_DROP;
	disconnect_token_mac(o, c->token, mac);
	return strcmp(mac, d->token_mac) == 0 ? RECOVER_REDO : RECOVER_DROP;
}

static const char *
recover_str(enum recover_act a)
{
	return a == RECOVER_DROP   ? "not applied and the channel holds its tokens: dropped"
	       : a == RECOVER_REDO ? "applied again"
	                           : "it had committed";
}

lethe_rc
disconnect_recover(const struct disconnect_opts *o, const struct datamap *dm, struct appdb *db,
                   struct store *st, int64_t min_age_s, int *fixed, struct lethe_err *err)
{
	int64_t after = 0, now = time_now(), unstaged = 0;
	lethe_rc rc;

	*fixed = 0;
	/* Jobs an interrupted release or drop left staged. */
	rc = store_outbox_unstage(st, (int64_t)now * 1000, &unstaged, err);
	if (rc == LETHE_OK && unstaged > 0)
		log_info("outbox: %lld staged job(s) of finished disconnects repaired",
		         (long long)unstaged);
	while (rc == LETHE_OK && dm->channel != NULL) {
		struct store_disc d;
		struct seal_payload *pl = NULL;
		struct chan_row c;
		enum recover_act act = RECOVER_READY;
		int64_t njobs = 0;

		rc = store_disc_next_staged(st, after, &d, err);
		if (rc == LETHE_E_NOTFOUND) {
			rc = LETHE_OK;
			break;
		}
		if (rc != LETHE_OK)
			break;
		after = d.id;
		memset(&c, 0, sizeof(c));
		pl = xcalloc(1, sizeof(*pl));
		if (strcmp(d.state, "aborted") == 0) {
			/* Its app commit failed and the caller was told so: never redone. */
			act = RECOVER_DROP;
			goto act;
		}
		/*
		 * Not while the process that staged it may still be between its
		 * staging and its app commit: at once if that process is dead (a
		 * crash, this host), else once it is older than @min_age_s (another
		 * host, an older record naming none).
		 */
		if (!lease_owner_dead(d.owner) && d.requested_at > now - min_age_s)
			goto next;
		rc = store_disc_job_count(st, d.id, &njobs, err);
		if (rc == LETHE_OK && njobs == 0) {
			/* A drop that was cut short: the record without its jobs. */
			act = RECOVER_DROP;
			goto act;
		}
		if (rc == LETHE_OK &&
		    seal_open(o->outbox_key, "channel", d.box, d.boxlen, pl) != LETHE_OK) {
			log_warnx("disconnect %lld: its channel id cannot be opened under this "
			          "outbox key; left staged for a process with the right key",
			          (long long)d.id);
			goto next;
		}
		appdb_durable(db, true);
		if (rc == LETHE_OK)
			rc = appdb_begin_write(db, err);
		if (rc == LETHE_OK)
			rc = disconnect_chan_read(dm, db, pl->channel, &c, err);
		if (rc == LETHE_OK)
			act = recover_decide(o, &d, &c);
		if (rc == LETHE_OK && act == RECOVER_REDO) {
			json_t *effects = json_object();

			/* The app commit never happened: apply the disconnect again. */
			rc = disconnect_apply_effects(dm, db, pl->channel, c.tokens,
			                              strcmp(d.source, "erase") == 0, effects, err);
			json_decref(effects);
		}
		if (rc == LETHE_OK && act == RECOVER_REDO)
			rc = appdb_commit(db, err);
		else
			appdb_rollback(db);
		if (rc != LETHE_OK)
			appdb_rollback(db);
		appdb_durable(db, false);
	act:
		if (rc == LETHE_OK && act == RECOVER_DROP)
			rc = store_disc_drop(st, d.id, err);
		else if (rc == LETHE_OK)
			rc =
			    store_disc_ready(st, d.id, time_now(), (int64_t)time_now() * 1000, err);
		if (rc == LETHE_OK) {
			(*fixed)++;
			log_info("disconnect %lld: recovered after a crash (%s)", (long long)d.id,
			         recover_str(act));
		}
	next:
		if (rc != LETHE_OK)
			appdb_rollback(db);
		disconnect_chan_row_free(&c);
		sodium_memzero(pl, sizeof(*pl));
		free(pl);
		store_disc_clear(&d);
	}
	return rc;
}

/* ---- state ------------------------------------------------------------------ */

static void
iso_time(int64_t t, char *out, size_t n)
{
	char s[32];

	time_format(t, s, sizeof(s));
	if (strlen(s) == 19)
		s[10] = 'T';
	snprintf(out, n, "%sZ", s);
}

const char *
disconnect_job_state(const struct store_outbox *j)
{
	/* Success is "done"; the other ways a job ended say which. */
	if (strcmp(j->state, "done") == 0 && j->outcome[0] != '\0' &&
	    strcmp(j->outcome, "revoked") != 0 && strcmp(j->outcome, "unsubscribed") != 0 &&
	    strcmp(j->outcome, "purged") != 0 && strcmp(j->outcome, "delivered") != 0)
		return j->outcome;
	if (strcmp(j->state, "pending") == 0 && j->attempts > 0)
		return "retrying";
	return j->state;
}

/* The state one job shows. */
static json_t *
job_json(const struct store_outbox *j)
{
	json_t *o = json_object();
	char when[40];
	const char *state = disconnect_job_state(j);

	json_object_set_new(o, "state", json_string(state));
	if (j->outcome[0] != '\0')
		json_object_set_new(o, "outcome", json_string(j->outcome));
	json_object_set_new(o, "attempts", json_integer(j->attempts));
	if (strcmp(state, "retrying") == 0 || strcmp(j->state, "pending") == 0) {
		iso_time(j->next_at_ms / 1000, when, sizeof(when));
		json_object_set_new(o, "next_try", json_string(when));
	}
	if (j->finished_at_ms > 0) {
		iso_time(j->finished_at_ms / 1000, when, sizeof(when));
		json_object_set_new(o, "finished_at", json_string(when));
	}
	if (j->http_status > 0)
		json_object_set_new(o, "http_status", json_integer(j->http_status));
	if (j->reason[0] != '\0')
		json_object_set_new(o, "detail", json_string(j->reason));
	json_object_set_new(o, "job", json_integer(j->id));
	return o;
}

/* Collects a disconnect's jobs into the state JSON. */
struct state_acc {
	struct store *st;  /* for purge steps */
	json_t *root;      /* the state object */
	json_t *unsub;     /* the unsubscribe list */
	int64_t purge_job; /* erase job of the purge, 0 if none */
	json_t *purge;     /* the purge object, or NULL */
};

static void
on_job(void *arg, const struct store_outbox *j)
{
	struct state_acc *a = arg;

	if (strcmp(j->kind, "revoke") == 0) {
		json_object_set_new(a->root, "revoke", job_json(j));
	} else if (strcmp(j->kind, "unsubscribe") == 0) {
		json_array_append_new(a->unsub, job_json(j));
	} else if (strcmp(j->kind, "purge") == 0) {
		a->purge = job_json(j);
		a->purge_job = j->erase_job;
		json_object_set_new(a->root, "purge", a->purge);
	}
}

static void
on_step(void *arg, const char *table, const char *action, int64_t done, int64_t hold_until)
{
	json_t *tables = arg;

	(void)action;
	(void)hold_until;
	json_object_set_new(tables, table, json_integer(done));
}

lethe_rc
disconnect_state(const struct disconnect_opts *opts, const struct datamap *dm, struct appdb *db,
                 struct store *st, const char *id, json_t **out, struct lethe_err *err)
{
	char subject[HASH_TEXT_LEN + 1], when[40];
	struct store_disc d;
	struct chan_row c;
	struct state_acc acc;
	bool have = false;
	json_t *o = NULL;
	lethe_rc rc;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	if (dm->channel == NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "the data map has no channel table (give one table "
		                     "'connection:')");
	disconnect_subject(opts->key, id, subject);
	rc = disconnect_chan_read(dm, db, id, &c, err);
	if (rc == LETHE_OK) {
		rc = store_disc_find(st, subject, &d, err);
		have = rc == LETHE_OK;
		if (rc == LETHE_E_NOTFOUND)
			rc = LETHE_OK;
	}
	if (rc == LETHE_OK && !have && !c.found)
		rc = lethe_err_set(err, LETHE_E_NOTFOUND, "no channel with this id");
	if (rc != LETHE_OK)
		goto out;
	o = json_object();
	json_object_set_new(o, "channel", json_string(id));
	if (!have || (c.found && c.tokens > 0 && strcmp(d.state, "disconnected") == 0)) {
		/* Never disconnected, or connected again since. */
		const char *canon = c.found ? platform_canonical(c.platform) : NULL;

		json_object_set_new(o, "state", json_string("connected"));
		json_object_set_new(o, "platform",
		                    json_string(canon     ? canon
		                                : c.found ? c.platform
		                                          : ""));
		*out = o;
		goto out;
	}
	json_object_set_new(
	    o, "state",
	    json_string(strcmp(d.state, "staged") == 0 ? "disconnecting" : "disconnected"));
	json_object_set_new(o, "platform", json_string(d.platform));
	json_object_set_new(o, "source", json_string(d.source));
	iso_time(d.requested_at, when, sizeof(when));
	json_object_set_new(o, "requested_at", json_string(when));
	if (d.disconnected_at > 0) {
		iso_time(d.disconnected_at, when, sizeof(when));
		json_object_set_new(o, "disconnected_at", json_string(when));
	}
	json_object_set_new(o, "effects",
	                    d.effects ? json_loads(d.effects, 0, NULL) : json_object());
	memset(&acc, 0, sizeof(acc));
	acc.st = st;
	acc.root = o;
	acc.unsub = json_array();
	json_object_set_new(o, "unsubscribe", acc.unsub);
	rc = store_outbox_list(st, d.id, NULL, on_job, &acc, err);
	if (rc == LETHE_OK && acc.purge != NULL) {
		json_t *tables = json_object();

		json_object_set_new(acc.purge, "tables", tables);
		if (acc.purge_job > 0)
			rc = store_meta_steps(st, acc.purge_job, on_step, tables, err);
	}
	if (rc == LETHE_OK)
		*out = o;
	else
		json_decref(o);
out:
	disconnect_chan_row_free(&c);
	store_disc_clear(&d);
	return rc;
}
