/* SPDX-License-Identifier: MIT */
/*
 * disconnect_internal.h - what the files of a channel disconnect share
 * (disconnect.c: the at-once transaction and its jobs; disconnect_app.c:
 * reading and changing the app database; disconnect_state.c: recovery and
 * the channel's state).  Not for use outside src/engine/disconnect*.c; the
 * API is disconnect.h.  Not thread-safe, as disconnect.h says.
 */
#ifndef LETHE_DISCONNECT_INTERNAL_H
#define LETHE_DISCONNECT_INTERNAL_H

#include <jansson.h>

#include "engine/disconnect.h"
#include "util/fmacros.h"

#define SQL_CAP (64u * 1024)
#define UNSUB_MAX 32     /* webhook subscriptions unsubscribed per disconnect */
#define IDENTITY_MAX 256 /* channels one deauthorization disconnects */
#define PURGE_SCOPE "channel"

/* What the channel row holds. */
struct chan_row {
	bool found;        /* the row exists */
	char platform[32]; /* platform name as stored (cut) */
	char account[256]; /* account id as stored, "" if NULL */
	bool account_bad;  /* the account id is too long to carry (never cut) */
	char *token;       /* the revoke token, NULL if none (wiped by chan_row_free) */
	bool token_bad;    /* a revoke token is there but too long for a job */
	int64_t tokens;    /* token columns that are not NULL */
};

/* One webhook subscription to remove. */
struct unsub {
	char *account; /* the page/account id */
	char *token;   /* its own (Page) token, NULL: the channel's revoke token (wiped on free) */
};

/*
 * Wipe the channel's tokens and apply every disconnect effect (if
 * @channel_only, an erasure's: only the channel row's, since an erasure's
 * disconnect changes nothing outside its scope, and not its columns the
 * erasure finds it by, disconnect_held_column()), inside the caller's
 * transaction; @effects gets {"tokens_wiped", "tables": [...]}.
 */
lethe_rc disconnect_apply_effects(const struct datamap *dm, struct appdb *db, const char *id,
                                  int64_t tokens, bool channel_only, json_t *effects,
                                  struct lethe_err *err);
/* Read the channel row @id (inside the caller's transaction). */
lethe_rc disconnect_chan_read(const struct datamap *dm, struct appdb *db, const char *id,
                              struct chan_row *out, struct lethe_err *err);
/* Free what @c owns, wiping its token. */
void disconnect_chan_row_free(struct chan_row *c);
/*
 * The webhook subscriptions of channel @id to remove; more than UNSUB_MAX, an
 * account id that does not fit or a Page token too long to carry is an error
 * (nothing is skipped silently).
 */
lethe_rc disconnect_unsub_accounts(const struct datamap *dm, struct appdb *db, const char *id,
                                   struct unsub **out, size_t *n, struct lethe_err *err);
/* Free the @n subscriptions @v, wiping their tokens. */
void disconnect_unsubs_free(struct unsub *v, size_t n);
/* Keyed hash of @token under the outbox key ("" for none). */
void disconnect_token_mac(const struct disconnect_opts *o, const char *token, char *out);
/*
 * One page of the channels linked to identity @value by link @l, keys above
 * @after in key order: at most IDENTITY_MAX ids into @ids (*@nids).
 */
lethe_rc disconnect_identity_page(const struct datamap *dm, struct appdb *db,
                                  const struct dm_link *l, const char *value, int64_t after,
                                  char **ids, size_t *nids, struct lethe_err *err);

#endif /* LETHE_DISCONNECT_INTERNAL_H */
