/* SPDX-License-Identifier: MIT */
/*
 * api_channels.h - the app API: channel state and channel disconnect,
 * authenticated with app API keys (README "The app API").
 */
#ifndef LETHE_HTTP_API_CHANNELS_H
#define LETHE_HTTP_API_CHANNELS_H

#include "http/server_internal.h"

/*
 * Blocking handler of every path under /v1/: checks the API key, then
 * GET /v1/channels/{id} and POST /v1/channels/{id}/disconnect, through
 * the service (service_channel_state(), service_channel_disconnect()).
 */
void api_v1(struct server *s, struct request *r);
/*
 * The configured key @r presents ("Authorization: Bearer KEY"): one of
 * api.keys, or with @admin one of api.admin_keys (never the other list).
 * NULL with the reply set when there is none: 401 with "WWW-Authenticate:
 * Bearer" without a bearer key, 403 for a key that matches none.  The key
 * lives until the server stops.
 */
const struct api_key *api_auth(struct server *s, struct request *r, bool admin);

/*
 * api.keys (and, in a ring of their own, api.admin_keys) as the server
 * checks them: one immutable ring, replaced whole
 * when the configuration is reloaded.  A reader loads the current ring with
 * one atomic acquire load and takes no lock; a replaced ring is kept (on
 * @older) until the server stops, so a reader still holding it never sees
 * it freed.  A reload adds one ring of a few hundred bytes.
 */
struct api_ring {
	struct api_key *keys;   /* the keys (owned unless @borrowed) */
	size_t n;               /* number of keys */
	bool borrowed;          /* the start configuration's keys, freed with it */
	struct api_ring *older; /* the ring this one replaced, or NULL */
};

/* Install @cfg's keys (borrowed: @cfg outlives the server) as s->keys and s->admin_keys. */
void api_keys_init(struct server *s, const struct lethe_config *cfg);
/*
 * Make the @n keys @keys (ownership taken) the ones checked from now on.
 * One caller at a time (the thread that handles SIGHUP); readers may run.
 */
void api_keys_replace(struct server *s, struct api_key *keys, size_t n);
/* The same for api.admin_keys (s->admin_keys). */
void api_admin_keys_replace(struct server *s, struct api_key *keys, size_t n);
/* Free every ring; no request may run any more. */
void api_keys_free(struct server *s);

#endif /* LETHE_HTTP_API_CHANNELS_H */
