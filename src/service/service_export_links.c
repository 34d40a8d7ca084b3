/* SPDX-License-Identifier: MIT */
/*
 * service_export_links.c - the links that download an export's archive
 * (service.h, docs/export.md "Downloads"): purpose "download" in the links
 * table, minted for the "ready" mail (service_mail.c) or by the status
 * page's Download button (service_export_link_new()), expiring with the
 * archive, and used once: each download needs a fresh link.
 *
 * Showing a link (the page with the Download button) never uses it: mail
 * scanners fetch links.  Using it is one conditional update of the links
 * table (of two uses one applies), then the archive is opened through
 * service__export_open_id(), which counts the download.  An unknown, used
 * or expired link gets one answer that never says which; a link still
 * unused whose archive was deleted (expired, or the request cancelled)
 * says so, since whoever holds it was sent it.  Tokens are never logged.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "service/service_internal.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/timeutil.h"

#define LINK_PURPOSE "download"
#define LINK_INVALID "this link is no longer valid"
#define CODE_MAX 64 /* bytes of a confirmation code (struct store_request's code) */

/* LETHE_E_GONE for the deleted archive of @v: why it was deleted, in the person's words. */
static lethe_rc
gone(const struct service_export_view *v, struct lethe_err *err)
{
	if (strcmp(v->state, "cancelled") == 0)
		return lethe_err_set(err, LETHE_E_GONE,
		                     "the archive was deleted: the request was withdrawn");
	return lethe_err_set(err, LETHE_E_GONE, "the archive was deleted: its time ran out");
}

/*
 * The download link of @token: unused, of purpose download, its request an
 * export; its request's code into @code and id into *@id, the link's end
 * into *@expires.  LETHE_E_NOTFOUND (one message) otherwise.
 */
static lethe_rc
link_lookup(struct service *svc, const char *token, char code[CODE_MAX], int64_t *id,
            int64_t *expires, struct lethe_err *err)
{
	char hash[HASH_TEXT_LEN + 1];
	struct store_link l;
	struct store_request r;
	lethe_rc rc;

	if (!service_link_token_ok(token))
		return lethe_err_set(err, LETHE_E_NOTFOUND, LINK_INVALID);
	service__link_hash(svc, token, hash);
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_link_get(svc->st, hash, &l, err);
	if (rc == LETHE_OK)
		rc = store_request_get(svc->st, l.request_id, &r, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_OK && (strcmp(l.purpose, LINK_PURPOSE) != 0 || l.used_at != 0 ||
	                       strcmp(r.kind, "export") != 0))
		rc = LETHE_E_NOTFOUND;
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, LINK_INVALID);
	if (rc == LETHE_OK) {
		snprintf(code, CODE_MAX, "%s", r.code);
		*id = r.id;
		*expires = l.expires_at;
	}
	return rc;
}

/*
 * What the link of @token opens at @now into @out: OK if its archive is
 * ready and the link not expired, GONE if the archive was deleted,
 * NOTFOUND for anything else.
 */
static lethe_rc
link_view(struct service *svc, const char *token, int64_t now, struct service_export_view *out,
          int64_t *id, struct lethe_err *err)
{
	char code[CODE_MAX];
	int64_t expires = 0;
	lethe_rc rc = link_lookup(svc, token, code, id, &expires, err);

	if (rc == LETHE_OK)
		rc = service_export_view(svc, code, out, err);
	if (rc == LETHE_OK && out->deleted)
		return gone(out, err);
	if (rc == LETHE_OK && (!out->ready || expires <= now))
		rc = LETHE_E_NOTFOUND;
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, LINK_INVALID);
	return rc;
}

lethe_rc
service_export_link_show(struct service *svc, const char *token, struct service_export_view *out,
                         struct lethe_err *err)
{
	int64_t id = 0;

	memset(out, 0, sizeof(*out));
	return link_view(svc, token, time_now(), out, &id, err);
}

lethe_rc
service_export_link_use(struct service *svc, const char *token, struct service_download **out,
                        struct service_export_view *view, struct lethe_err *err)
{
	char hash[HASH_TEXT_LEN + 1];
	bool applied = false;
	int64_t now = time_now(), id = 0;
	lethe_rc rc;

	*out = NULL;
	memset(view, 0, sizeof(*view));
	rc = link_view(svc, token, now, view, &id, err);
	if (rc != LETHE_OK)
		return rc;
	/* Used first, then opened: of two uses one downloads. */
	service__link_hash(svc, token, hash);
	pthread_mutex_lock(&svc->st_mu);
	rc = store_link_use(svc->st, hash, now, &applied, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_OK && !applied)
		return lethe_err_set(err, LETHE_E_NOTFOUND, LINK_INVALID);
	if (rc == LETHE_OK)
		rc = service__export_open_id(svc, id, out, view, err);
	if (rc == LETHE_E_GONE)
		return gone(view, err);
	/* Not ready any more (a race with a cancel): the link was for nothing. */
	if (rc == LETHE_E_CONFLICT || rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, LINK_INVALID);
	if (rc == LETHE_OK)
		log_info("request %lld: download link followed by the person", (long long)id);
	return rc;
}

lethe_rc
service_export_link_new(struct service *svc, const char *code, char *url, struct lethe_err *err)
{
	struct service_export_view v;
	struct store_request r;
	lethe_rc rc;

	url[0] = '\0';
	rc = service_export_view(svc, code, &v, err);
	if (rc != LETHE_OK)
		return rc;
	if (v.deleted)
		return gone(&v, err);
	if (!v.ready || v.expires_at <= time_now())
		return lethe_err_set(err, LETHE_E_CONFLICT,
		                     "the archive is not ready (the request is %s)", v.state);
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_request_by_code(svc->st, code, &r, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_OK)
		rc = service__link_mint(svc, r.id, LINK_PURPOSE, v.expires_at, url, err);
	return rc;
}
