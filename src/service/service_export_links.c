/* SPDX-License-Identifier: MIT */
/*
 * service_export_links.c - the links that download an export's archive
 * (service.h, docs/export.md "Downloads"): purpose "download" in the links
 * table, minted for each "ready" mail (service_mail.c), expiring with the
 * archive, and used once: each download needs a fresh link.  The status
 * page's button queues the "ready" mail again (service_export_resend()):
 * a new link goes only to the request's confirmed address, never to
 * whoever holds its confirmation code.
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
		return service__export_gone(out, err);
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
		return service__export_gone(view, err);
	/* Not ready any more (a race with a cancel): the link was for nothing. */
	if (rc == LETHE_E_CONFLICT || rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, LINK_INVALID);
	if (rc == LETHE_OK)
		log_info("request %lld: download link followed by the person", (long long)id);
	return rc;
}

/* The "ready" mails of an export so far: how many, and when the latest re-send was queued. */
struct resent {
	int64_t n;    /* "completed" mails */
	int64_t last; /* creation (epoch s) of the latest after the first, 0 if none */
};

/* store_mail_fn: count "completed" mail @m into the struct resent @arg (oldest first). */
static void
count_ready(void *arg, const struct store_mail *m)
{
	struct resent *r = arg;

	if (strcmp(m->notice, "completed") != 0)
		return;
	/* The first is the completion's own "ready" mail, not a re-send. */
	if (++r->n > 1 && m->created_at > r->last)
		r->last = m->created_at;
}

lethe_rc
service_export_resend(struct service *svc, const char *code, struct lethe_err *err)
{
	struct service_export_view v;
	struct store_request r;
	struct resent sent = {0, 0};
	int64_t now = time_now();
	bool queued = false;
	lethe_rc rc;

	rc = service_export_view(svc, code, &v, err);
	if (rc != LETHE_OK)
		return rc;
	if (v.deleted)
		return service__export_gone(&v, err);
	if (!v.ready)
		return lethe_err_set(err, LETHE_E_CONFLICT,
		                     "the archive is not ready (the request is %s)", v.state);
	if (!v.mailable)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "no link can be mailed for this export");
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_request_by_code(svc->st, code, &r, err);
	if (rc == LETHE_OK)
		rc = store_mail_list(svc->st, NULL, r.id, 0, count_ready, &sent, err);
	if (rc == LETHE_OK && sent.n > 1 && sent.last > now - SERVICE_EXPORT_RESEND_S)
		rc =
		    lethe_err_set(err, LETHE_E_LIMIT, "a new link was sent less than a minute ago");
	else if (rc == LETHE_OK)
		rc = store_mail_add(svc->st, r.id, "completed", now, &queued, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_OK && !queued)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "no link can be mailed for this export");
	if (rc == LETHE_OK) {
		service__mail_kick(svc);
		log_info("request %lld: a new download link is mailed (asked on its status page)",
		         (long long)r.id);
	}
	return rc;
}
