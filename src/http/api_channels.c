/* SPDX-License-Identifier: MIT */
/*
 * api_channels.c - the app API under /v1/ (see api_channels.h).
 *
 * Every /v1/ request is authenticated first: "Authorization: Bearer KEY",
 * the SHA-256 of KEY compared in constant time with each configured key's
 * (config_api_key_find) of the keyring in force, which a reload of the
 * configuration replaces without a lock (api_keys_replace).  No header, another scheme or an empty
 * key: 401 with "WWW-Authenticate: Bearer"; a key that matches none: 403.
 * api_auth() also checks the operator API's keys (api.admin_keys, their
 * own ring) for api_requests.c.  Then:
 *
 *   GET  /v1/channels/{id}             the channel's state (service_channel_state)
 *   POST /v1/channels/{id}/disconnect  disconnect it (idempotent), then its state
 *
 * The handler runs on a worker thread: the service's channel actions
 * (service_channel_state(), service_channel_disconnect()) block on both
 * databases.  Nothing a client sent
 * is echoed back; ids never reach a log.
 */
#include "util/fmacros.h"

#include <microhttpd.h>
#include <strings.h>

#include "http/api_channels.h"
#include "util/log.h"
#include "util/mem.h"

#define API_KEY_MAX 256 /* longer bearer keys are refused without hashing */

const struct api_key *
api_auth(struct server *s, struct request *r, bool admin)
{
	const char *h = http_header(r, "Authorization");
	const struct api_ring *ring;
	const struct api_key *found;
	const char *key;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		r->www_auth = "Bearer";
		http_reply_error(r, LETHE_E_UNAUTHORIZED,
		                 admin
		                     ? "this API needs an admin key: Authorization: Bearer KEY"
		                     : "this API needs an app API key: Authorization: Bearer KEY");
		return NULL;
	}
	key = h + 7;
	while (*key == ' ')
		key++;
	if (*key == '\0') {
		r->www_auth = "Bearer";
		http_reply_error(r, LETHE_E_UNAUTHORIZED, "the bearer key is empty");
		return NULL;
	}
	ring = atomic_load_explicit(admin ? &s->admin_keys : &s->keys, memory_order_acquire);
	found = strlen(key) > API_KEY_MAX ? NULL : config_api_key_find(ring->keys, ring->n, key);
	if (found == NULL)
		http_reply_error(r, LETHE_E_FORBIDDEN,
		                 admin ? "this admin API key is not valid"
		                       : "this API key is not valid");
	return found;
}

/* Reply with channel @id's state (locks taken here). */
static void
reply_state(struct server *s, struct request *r, const char *id)
{
	struct lethe_err err = {0};
	json_t *j = NULL;
	lethe_rc rc;

	rc = service_channel_state(s->svc, id, &j, &err);
	if (rc == LETHE_E_NOTFOUND) {
		http_reply_error(r, rc, "no channel with this id");
		return;
	}
	if (rc != LETHE_OK) {
		static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);

		log_warnx_limited(&lim, "channel state: %s", err.msg);
		http_reply_error(r, LETHE_E_UNAVAILABLE, "the channel's state cannot be read now");
		return;
	}
	http_reply_json(r, MHD_HTTP_OK, j);
}

static void
channel_disconnect(struct server *s, struct request *r, const char *id)
{
	struct lethe_err err = {0};
	lethe_rc rc;

	rc = service_channel_disconnect(s->svc, id, "api", &err);
	if (rc == LETHE_E_NOTFOUND || rc == LETHE_E_BUSY) {
		http_reply_error(r, rc,
		                 rc == LETHE_E_NOTFOUND
		                     ? "no channel with this id"
		                     : "a disconnect of this channel is in progress");
		return;
	}
	if (rc == LETHE_E_INVALID) {
		/* disconnect_channel's own words: never a token, an id or an account. */
		http_reply_error(r, rc, err.msg);
		return;
	}
	if (rc != LETHE_OK) {
		static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);

		log_warnx_limited(&lim, "channel disconnect: %s", err.msg);
		http_reply_error(r, LETHE_E_UNAVAILABLE,
		                 "the disconnect could not be applied; nothing changed, try again");
		return;
	}
	reply_state(s, r, id);
}

void
api_v1(struct server *s, struct request *r)
{
	const char *rest;
	char id[SERVICE_CHANNEL_ID_MAX + 2];
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;

	r->route = "api_channels";
	if (api_auth(s, r, false) == NULL)
		return;
	if (r->too_big) {
		http_reply_error(r, LETHE_E_TOOBIG, "request body too large");
		return;
	}
	if (strncmp(r->path, "/v1/channels/", 13) != 0) {
		http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
		return;
	}
	rest = r->path + 13;
	if (!http_path_id(r, &rest, id, SERVICE_CHANNEL_ID_MAX + 1, service_channel_id_ok,
	                  "the channel id must be a positive integer"))
		return;
	if (rest[0] == '\0') {
		if (!get)
			http_reply_method(s, r, "GET, HEAD");
		else
			reply_state(s, r, id);
		return;
	}
	if (strcmp(rest, "/disconnect") == 0) {
		if (strcmp(r->method, "POST") != 0)
			http_reply_method(s, r, "POST");
		else
			channel_disconnect(s, r, id);
		return;
	}
	http_reply_status(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

/* ---- the keyring -------------------------------------------------------------- */

/* A ring of the @n keys @keys, @borrowed or owned. */
static struct api_ring *
ring_new(struct api_key *keys, size_t n, bool borrowed)
{
	struct api_ring *ring = xcalloc(1, sizeof(*ring));

	ring->keys = keys;
	ring->n = n;
	ring->borrowed = borrowed;
	return ring;
}

void
api_keys_init(struct server *s, const struct lethe_config *cfg)
{
	atomic_init(&s->keys, ring_new(cfg->api_keys, cfg->napi_keys, true));
	atomic_init(&s->admin_keys, ring_new(cfg->admin_keys, cfg->nadmin_keys, true));
}

/* Put a ring of @keys in force in *@slot, keeping the one it replaces. */
static void
ring_replace(struct api_ring *_Atomic *slot, struct api_key *keys, size_t n)
{
	struct api_ring *ring = ring_new(keys, n, false);

	ring->older = atomic_load_explicit(slot, memory_order_relaxed);
	/* Release: a reader that sees the new ring sees its keys written. */
	atomic_store_explicit(slot, ring, memory_order_release);
}

void
api_keys_replace(struct server *s, struct api_key *keys, size_t n)
{
	ring_replace(&s->keys, keys, n);
}

void
api_admin_keys_replace(struct server *s, struct api_key *keys, size_t n)
{
	ring_replace(&s->admin_keys, keys, n);
}

/* Free the ring in *@slot and every older one. */
static void
ring_free(struct api_ring *_Atomic *slot)
{
	struct api_ring *ring = atomic_load_explicit(slot, memory_order_relaxed);
	size_t i;

	while (ring != NULL) {
		struct api_ring *older = ring->older;

		if (!ring->borrowed) {
			for (i = 0; i < ring->n; i++)
				free(ring->keys[i].name);
			free(ring->keys);
		}
		free(ring);
		ring = older;
	}
	atomic_store_explicit(slot, NULL, memory_order_relaxed);
}

void
api_keys_free(struct server *s)
{
	ring_free(&s->keys);
	ring_free(&s->admin_keys);
}
