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
 * GET /v1/channels/{id} and POST /v1/channels/{id}/disconnect.  Takes
 * s->db_mu then s->st_mu; kicks s->outbox after a disconnect.
 */
void api_v1(struct server *s, struct request *r);

#endif /* LETHE_HTTP_API_CHANNELS_H */
