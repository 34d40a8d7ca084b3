/* SPDX-License-Identifier: MIT */
/*
 * disconnect.h - disconnecting a channel: the at-once part and its state.
 *
 * The channel table is the data map's table with `connection:`.  One short
 * write transaction on the app database reads the channel's platform,
 * account and token, wipes every token column, and applies every table's
 * `disconnect:` effect to that channel's rows (status revoked, scheduled
 * posts cancelled, automation rules disabled...).  Before that transaction
 * commits, the upstream work (revoke, unsubscribe, purge) is written to the
 * state store's outbox as staged jobs whose secrets are sealed; after the
 * commit the jobs are made pending.  A crash in between is repaired by
 * disconnect_recover() (docs/internals/outbox.md).
 *
 * Not thread-safe: the caller serializes the use of @db and @st.
 */
#ifndef LETHE_DISCONNECT_H
#define LETHE_DISCONNECT_H

#include <jansson.h>

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "store/store.h"
#include "util/hash.h"

struct platforms; /* platform/platform_config.h */

#define DISCONNECT_ID_MAX 19 /* digits of a channel id */

/* True if @id is a channel id lethe accepts: 1 to 19 decimal digits, not all zero. */
bool disconnect_id_ok(const char *id);
/* The keyed hash naming channel @id in the state store (HASH_TEXT_LEN + 1 bytes). */
void disconnect_subject(const uint8_t key[HASH_KEY_LEN], const char *id, char *out);

/* What a disconnect needs of the configuration (jobs/engine_opts.h builds it). */
struct disconnect_opts {
	const uint8_t *key;        /* anonymize key (HASH_KEY_LEN bytes): channel subjects */
	const uint8_t *outbox_key; /* outbox sealing key (HASH_KEY_LEN bytes) */
	const struct platforms *platforms; /* the configured platforms (app tokens) */
};

/*
 * Disconnect channel @id (@source: "api", "cli", "deauthorize" or "erase"):
 * the at-once transaction and the queuing of its jobs.  "deauthorize"
 * queues no call and no purge, "erase" no purge (the erasure deletes the
 * data).  *@disc gets the disconnect's id; *@already is true if the channel
 * was disconnected before and nothing was done now (idempotent).  A channel
 * disconnected before still gets, added to that disconnect and once, what
 * it left out: after Meta's deauthorize, the webhook unsubscribes (any
 * source but a deauthorize); after a deauthorize or an erasure, the purge
 * (source "api" or "cli").  LETHE_E_NOTFOUND if the app
 * database has no such channel, LETHE_E_INVALID if the map has no channel
 * table, LETHE_E_BUSY if another process's disconnect of it is staged (for
 * milliseconds, between its app commit and the release of its jobs; the
 * service looks again, holding no lock meanwhile; an erasure, which needs
 * only the revocation durable, takes it as *@already).  @o's anonymize and
 * outbox keys must be loaded.
 */
lethe_rc disconnect_channel(const struct disconnect_opts *o, const struct datamap *dm,
                            struct appdb *db, struct store *st, const char *id, const char *source,
                            int64_t *disc, bool *already, struct lethe_err *err);

/*
 * Does an erasure find the channel table's rows by @column (a link's
 * column or condition, a keep rule's condition, the column a child's link
 * references)?  An erasure's own disconnect (source "erase") leaves such a
 * column of the channel row as it is, whatever its `disconnect: set` says,
 * so that the erasure's steps still find the row and its children; the
 * erasure writes the held values after its steps, to the disconnected rows
 * it keeps (docs/datamap.md).
 */
bool disconnect_held_column(const struct datamap *dm, const char *column);

/*
 * Meta's deauthorize: disconnect every channel whose identity link of kind
 * @kind matches @value (source "deauthorize": tokens wiped, effects applied,
 * no upstream call since the tokens are dead).  *@rows gets the channels
 * disconnected; @on_channel (or NULL) is called with @arg and the key of
 * every channel matched, before it is disconnected (now or before).
 * Without a channel table in the map, falls back to wiping tokens
 * (revoke_tokens()).
 */
lethe_rc disconnect_identity(const struct disconnect_opts *o, const struct datamap *dm,
                             struct appdb *db, struct store *st, const char *kind,
                             const char *value, void (*on_channel)(void *arg, const char *id),
                             void *arg, int64_t *rows, struct lethe_err *err);

/*
 * Is channel @id still the person's whose identity of kind @kind is
 * @value?  *@ours is true if its row exists and each of its identity
 * columns of that kind holds @value or nothing (a disconnect may have
 * cleared it); false if the row is gone or names someone else (the key
 * reused, or another account connected).  Only reads @db.
 */
lethe_rc disconnect_chan_owned(const struct datamap *dm, struct appdb *db, const char *id,
                               const char *kind, const char *value, bool *ours,
                               struct lethe_err *err);

/*
 * Repair disconnects left staged by a crash, older than @min_age_s or whose
 * staging process is dead (this host and pid namespace): if the
 * channel's token is gone, the app transaction committed (the jobs become
 * pending); if the very token read is still there, it did not (the
 * disconnect is applied again and its jobs become pending); if another token
 * is there (reconnected since), the staged disconnect is dropped.
 * *@fixed gets the number repaired.
 */
lethe_rc disconnect_recover(const struct disconnect_opts *o, const struct datamap *dm,
                            struct appdb *db, struct store *st, int64_t min_age_s, int *fixed,
                            struct lethe_err *err);

/*
 * The state of channel @id as JSON (GET /v1/channels/{id}, `lethe
 * disconnect --json`): connected or disconnected, when, each effect and each
 * job's progress.  LETHE_E_NOTFOUND if neither the app database nor the
 * state store knows the channel.
 */
lethe_rc disconnect_state(const struct disconnect_opts *o, const struct datamap *dm,
                          struct appdb *db, struct store *st, const char *id, json_t **out,
                          struct lethe_err *err);

/*
 * The state job @j shows in the API, `lethe disconnect --json` and `lethe
 * jobs`: "retrying" for a pending job that has been tried, the outcome of a
 * job that ended another way than success ("already_revoked",
 * "unsupported", "no_token"...), else the stored state (staged, pending,
 * running, done, dead).  Points into @j or to a static string.
 */
const char *disconnect_job_state(const struct store_outbox *j);

#endif /* LETHE_DISCONNECT_H */
