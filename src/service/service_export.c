/* SPDX-License-Identifier: MIT */
/*
 * service_export.c - export requests' archives as actions of the service
 * (see service.h and docs/export.md): what a request's archive is (the
 * status page, the API, the request's JSON), opening it for a download
 * (the app API, a download link), reading it decrypted chunk by chunk,
 * withdrawing it when the request is cancelled, and the rate limit of new
 * export requests.
 *
 * An archive is reachable only through its row in exports: a download
 * opens the file its row names with the key its row holds sealed; once
 * the row is marked deleted (expired, cancelled) the key is gone and the
 * file is unlinked.  Only st_mu is taken here, never while a download is
 * read: a struct service_download holds its own file and key stream.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "engine/request.h"
#include "meta/requests.h"
#include "service/service_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pq.h"
#include "util/seal.h"
#include "util/sealstream.h"
#include "util/timeutil.h"

#define DAY_S 86400

/* An archive opened for download. */
struct service_download {
	int fd;                  /* the archive's file */
	struct sealstream_r *rd; /* its decrypting reader */
	bool failed;             /* a read failed: every later read fails too */
};

/* The file name a download is offered as: "<app>-export-YYYY-MM-DD.zip", app name made safe. */
static void
download_name(const struct lethe_config *cfg, int64_t created, char *out, size_t cap)
{
	char app[48], day[32];
	const char *a = cfg->app_name != NULL ? cfg->app_name : "";
	size_t i, n = 0;

	for (i = 0; a[i] != '\0' && n + 1 < sizeof(app); i++) {
		unsigned char c = (unsigned char)a[i];

		if (isalnum(c))
			app[n++] = (char)tolower(c);
		else if ((c == ' ' || c == '-' || c == '_') && n > 0 && app[n - 1] != '-')
			app[n++] = '-';
	}
	while (n > 0 && app[n - 1] == '-')
		n--;
	app[n] = '\0';
	time_format_iso(created > 0 ? created : time_now(), day, sizeof(day));
	day[10] = '\0'; /* YYYY-MM-DD */
	snprintf(out, cap, "%s%sexport-%s.zip", app, n > 0 ? "-" : "", day);
}

/*
 * The view of export request @r and its archive row @e (NULL if none was
 * made) at @now: ready only while completed, not deleted, not expired.
 */
static void
view_of(const struct service *svc, const struct store_request *r, const struct store_export *e,
        int64_t now, struct service_export_view *v)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->state, sizeof(v->state), "%s", r->state);
	if (e == NULL) {
		/* Ended before it was built (cancelled, refused, expired): none will be, 410. */
		v->deleted = request_state_final(r->state) && strcmp(r->state, "completed") != 0 &&
		             strcmp(r->state, "failed") != 0;
		download_name(svc->cfg, 0, v->filename, sizeof(v->filename));
		return;
	}
	/* Past its expiry it is gone, whether the exporter's tick deleted it yet or not. */
	v->deleted = e->deleted_at > 0 || e->expires_at <= now || e->key_boxlen == 0;
	v->ready = !v->deleted && strcmp(r->state, "completed") == 0;
	v->lost = v->deleted && e->why == STORE_EXPORT_LOST;
	v->erased = v->deleted && e->why == STORE_EXPORT_ERASED;
	v->mailable = v->ready && svc->cfg->mail.enabled && r->notify_kind != STORE_NOTIFY_NONE &&
	              r->notify_ok;
	v->created_at = e->created_at;
	v->expires_at = e->expires_at;
	v->bytes = e->bytes;
	v->rows = e->rows;
	v->media = e->media;
	v->downloads = e->downloads;
	download_name(svc->cfg, e->created_at, v->filename, sizeof(v->filename));
}

/*
 * Export request @r's archive row into @e (*@has false if none); st_mu
 * held.  LETHE_E_NOTFOUND if @r is not an export.
 */
static lethe_rc
row_of(struct service *svc, const struct store_request *r, struct store_export *e, bool *has,
       struct lethe_err *err)
{
	lethe_rc rc;

	*has = false;
	memset(e, 0, sizeof(*e));
	if (strcmp(r->kind, "export") != 0)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no export request has this id");
	rc = store_export_get(svc->st, r->id, e, err);
	if (rc == LETHE_E_NOTFOUND)
		return LETHE_OK;
	*has = rc == LETHE_OK;
	return rc;
}

lethe_rc
service_export_view(struct service *svc, const char *code, struct service_export_view *out,
                    struct lethe_err *err)
{
	struct store_request r;
	struct store_export e;
	bool has = false;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	if (code == NULL || !meta_code_ok(code))
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no export request has this id");
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_request_by_code(svc->st, code, &r, err);
	if (rc == LETHE_OK)
		rc = row_of(svc, &r, &e, &has, err);
	if (rc == LETHE_OK)
		view_of(svc, &r, has ? &e : NULL, time_now(), out);
	pthread_mutex_unlock(&svc->st_mu);
	store_export_clear(&e);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no export request has this id");
	return rc;
}

json_t *
service__export_json(struct service *svc, const struct store_request *r, struct lethe_err *err,
                     lethe_rc *rc)
{
	struct service_export_view v;
	struct store_export e;
	bool has = false;
	json_t *o;

	if (strcmp(r->kind, "export") != 0)
		return NULL;
	*rc = row_of(svc, r, &e, &has, err);
	if (*rc != LETHE_OK)
		return NULL;
	view_of(svc, r, has ? &e : NULL, time_now(), &v);
	store_export_clear(&e);
	o = json_object();
	json_object_set_new(o, "ready", json_boolean(v.ready));
	json_object_set_new(o, "deleted", json_boolean(v.deleted));
	json_object_set_new(o, "created_at", time_json(v.created_at));
	json_object_set_new(o, "expires_at", time_json(v.expires_at));
	json_object_set_new(o, "bytes", json_integer(v.bytes));
	json_object_set_new(o, "rows", json_integer(v.rows));
	json_object_set_new(o, "media", json_integer(v.media));
	json_object_set_new(o, "downloads", json_integer(v.downloads));
	return o;
}

/*
 * The archive of ready export @r has no file (an operator's rm, a restore,
 * another process): its row is marked deleted, so nothing says "ready"
 * any more, with a warning naming only the request (st_mu held).
 * LETHE_E_GONE "the copy could not be found; ask again".
 */
static lethe_rc
lose(struct service *svc, const struct store_request *r, struct service_export_view *view,
     struct lethe_err *err)
{
	struct lethe_err e2 = {0};
	lethe_rc rc = store_begin(svc->st, &e2);

	if (rc == LETHE_OK)
		rc = store_export_delete(svc->st, r->id, time_now(), NULL, 0, &e2);
	if (rc == LETHE_OK)
		rc = store_export_why(svc->st, r->id, STORE_EXPORT_LOST, &e2);
	if (rc == LETHE_OK)
		rc = store_commit(svc->st, &e2);
	else
		store_rollback(svc->st);
	if (rc == LETHE_OK)
		log_warnx("request %lld: its export archive file is missing; marked deleted",
		          (long long)r->id);
	else
		log_warnx("request %lld: its export archive file is missing: %s", (long long)r->id,
		          e2.msg);
	view->ready = false;
	view->mailable = false;
	view->deleted = true;
	view->lost = true;
	return lethe_err_set(err, LETHE_E_GONE, "the copy could not be found; ask again");
}

/*
 * Open the archive of @r for a download (st_mu held): checks its state
 * (LETHE_E_CONFLICT not ready, LETHE_E_GONE deleted), opens its file with
 * its key, counts the download.  *@view gets what it is.
 */
static lethe_rc
open_locked(struct service *svc, const struct store_request *r, struct service_download **out,
            struct service_export_view *view, struct lethe_err *err)
{
	struct store_export e;
	struct service_download *d = NULL;
	uint8_t *key = NULL;
	size_t klen = 0;
	char path[4096];
	bool has = false;
	int fd = -1;
	lethe_rc rc;

	*out = NULL;
	rc = row_of(svc, r, &e, &has, err);
	if (rc != LETHE_OK)
		goto out;
	view_of(svc, r, has ? &e : NULL, time_now(), view);
	if (view->deleted && !has) {
		rc = lethe_err_set(err, LETHE_E_GONE,
		                   "the request was %s before its archive was made", r->state);
		goto out;
	}
	if (view->deleted) {
		rc = service__export_gone(view, err);
		goto out;
	}
	if (!view->ready) {
		rc = lethe_err_set(err, LETHE_E_CONFLICT,
		                   "the archive of this export is not ready (the request is %s)",
		                   r->state);
		goto out;
	}
	if (!export_file_path(svc->cfg->exports.dir, e.file, path, sizeof(path))) {
		rc = lethe_err_set(err, LETHE_E_IO, "an archive's path is too long");
		goto out;
	}
	key = seal_open_bytes(svc->cfg->key, "export-key", e.key_box, e.key_boxlen,
	                      SEALSTREAM_KEY_LEN, &klen);
	if (key == NULL || klen != SEALSTREAM_KEY_LEN) {
		rc = lethe_err_set(
		    err, LETHE_E_FORBIDDEN,
		    "the archive's key does not open (was the anonymize key changed?)");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	/*
	 * On a PostgreSQL state store several workers share the rows: a file
	 * missing here may be on another worker's disk (an export.dir not
	 * shared, a misrouted download), so it is an error answer, never a
	 * deletion.  On SQLite this lethe is the only one: the file is lost.
	 */
	if (fd < 0 && errno == ENOENT && pq_is_url(svc->cfg->state_db)) {
		log_warnx("request %lld: its export archive file is not in this worker's "
		          "export.dir",
		          (long long)r->id);
		view->absent = true;
		rc = lethe_err_set(err, LETHE_E_UNAVAILABLE,
		                   "the archive is not on this worker; try again later "
		                   "(the workers must share export.dir)");
		goto out;
	}
	if (fd < 0 && errno == ENOENT) {
		rc = lose(svc, r, view, err);
		goto out;
	}
	if (fd < 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "the archive cannot be opened");
		goto out;
	}
	/*
	 * Read once, front to back, by the event thread (http/download.c): let
	 * the kernel read ahead so that a chunk seldom waits for the disk.
	 * Advice only: its failure changes nothing.
	 */
#ifdef POSIX_FADV_SEQUENTIAL
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	d = xcalloc(1, sizeof(*d));
	d->fd = fd;
	d->rd = sealstream_r_open(fd, key, err);
	if (d->rd == NULL) {
		rc = err->rc != LETHE_OK ? err->rc : LETHE_E_FORBIDDEN;
		goto out;
	}
	fd = -1;
	rc = store_export_downloaded(svc->st, r->id, err);
	if (rc == LETHE_OK) {
		view->downloads++;
		*out = d;
		d = NULL;
	}
out:
	if (d != NULL) {
		fd = d->fd;
		if (d->rd != NULL)
			sealstream_r_close(d->rd);
		free(d);
	}
	if (fd >= 0)
		close(fd);
	if (key != NULL) {
		sodium_memzero(key, klen);
		free(key);
	}
	store_export_clear(&e);
	return rc;
}

lethe_rc
service_export_open_api(struct service *svc, const char *code, const char *source,
                        const char *actor, struct service_download **out,
                        struct service_export_view *view, struct lethe_err *err)
{
	struct store_request r;
	lethe_rc rc;

	*out = NULL;
	memset(view, 0, sizeof(*view));
	if (code == NULL || !meta_code_ok(code))
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no export request has this id");
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_request_by_code(svc->st, code, &r, err);
	/* The app acts on its own requests only, as its other actions: another's is unknown. */
	if (rc == LETHE_OK && source != NULL && strcmp(r.source, source) != 0)
		rc = LETHE_E_NOTFOUND;
	if (rc == LETHE_OK)
		rc = open_locked(svc, &r, out, view, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no export request has this id");
	if (rc == LETHE_OK)
		log_info("request %lld: export downloaded by %s", (long long)r.id,
		         actor != NULL ? actor : "app");
	return rc;
}

lethe_rc
service__export_open_id(struct service *svc, int64_t request_id, struct service_download **out,
                        struct service_export_view *view, struct lethe_err *err)
{
	struct store_request r;
	lethe_rc rc;

	*out = NULL;
	memset(view, 0, sizeof(*view));
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_request_get(svc->st, request_id, &r, err);
	if (rc == LETHE_OK)
		rc = open_locked(svc, &r, out, view, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no export request has this id");
	if (rc == LETHE_OK)
		log_info("request %lld: export downloaded through a link", (long long)r.id);
	return rc;
}

lethe_rc
service_download_read(struct service_download *d, void *buf, size_t cap, size_t *n,
                      struct lethe_err *err)
{
	lethe_rc rc;

	*n = 0;
	if (d->failed)
		return lethe_err_set(err, LETHE_E_FORBIDDEN, "the archive did not verify");
	rc = sealstream_read(d->rd, buf, cap, n, err);
	if (rc != LETHE_OK) {
		d->failed = true;
		*n = 0;
	}
	return rc;
}

void
service_download_close(struct service_download *d)
{
	if (d == NULL)
		return;
	sealstream_r_close(d->rd);
	close(d->fd);
	free(d);
}

/* "N days" (or hours, minutes, seconds) of @s, into @out. */
static void
span_text(int64_t s, char *out, size_t cap)
{
	if (s % DAY_S == 0)
		snprintf(out, cap, "%lld day%s", (long long)(s / DAY_S), s == DAY_S ? "" : "s");
	else if (s % 3600 == 0)
		snprintf(out, cap, "%lld hour%s", (long long)(s / 3600), s == 3600 ? "" : "s");
	else if (s % 60 == 0)
		snprintf(out, cap, "%lld minute%s", (long long)(s / 60), s == 60 ? "" : "s");
	else
		snprintf(out, cap, "%lld seconds", (long long)s);
}

lethe_rc
service__export_limit(struct service *svc, const struct service_request_in *in, const char *subject,
                      int64_t now, struct lethe_err *err)
{
	int64_t window = svc->cfg->exports.rate_limit_s, latest = 0;
	char span[32], next[32];
	lethe_rc rc;

	/* Only the person's own asks are limited: an operator's export is exempt. */
	if (strcmp(in->kind, "export") != 0 || window <= 0 || strcmp(in->source, "operator") == 0)
		return LETHE_OK;
	rc = store_export_recent(svc->st, subject, now - window, &latest, err);
	if (rc != LETHE_OK || latest == 0)
		return rc;
	span_text(window, span, sizeof(span));
	time_format_iso(latest + window, next, sizeof(next));
	next[10] = '\0';
	if (in->retry_after != NULL)
		*in->retry_after = latest + window - now > 0 ? latest + window - now : 1;
	return lethe_err_set(err, LETHE_E_LIMIT, "one export per %s; the next from %s", span, next);
}

lethe_rc
service__export_withdraw(struct service *svc, const struct store_request *r,
                         enum service_request_act act, int64_t now, struct lethe_err *err)
{
	if (act != SERVICE_REQ_CANCEL || strcmp(r->kind, "export") != 0)
		return LETHE_OK;
	return store_export_delete(svc->st, r->id, now, NULL, 0, err);
}

void
service__export_unlink(struct service *svc, int64_t request_id)
{
	struct store_export e;
	struct lethe_err err = {0};
	char path[4096];

	if (store_export_get(svc->st, request_id, &e, &err) != LETHE_OK)
		return;
	if (e.deleted_at > 0 &&
	    export_file_path(svc->cfg->exports.dir, e.file, path, sizeof(path)) &&
	    unlink(path) == 0)
		log_info("request %lld: its export archive was deleted", (long long)request_id);
	store_export_clear(&e);
}

void
service_export_size_text(int64_t bytes, char *out, size_t cap)
{
	/* Each unit from where the smaller one would round to 1000. */
	if (bytes >= 999950000)
		snprintf(out, cap, "%.1f GB", (double)bytes / 1e9);
	else if (bytes >= 999500)
		snprintf(out, cap, "%.1f MB", (double)bytes / 1e6);
	else if (bytes >= 1000)
		snprintf(out, cap, "%lld kB", (long long)((bytes + 500) / 1000));
	else
		snprintf(out, cap, "%lld byte%s", (long long)bytes, bytes == 1 ? "" : "s");
}

lethe_rc
service__export_gone(const struct service_export_view *v, struct lethe_err *err)
{
	if (strcmp(v->state, "cancelled") == 0)
		return lethe_err_set(err, LETHE_E_GONE,
		                     "the archive was deleted: the request was withdrawn");
	if (v->created_at == 0)
		return lethe_err_set(err, LETHE_E_GONE, "no copy was made: the request was %s",
		                     v->state);
	if (v->lost)
		return lethe_err_set(err, LETHE_E_GONE, "the copy could not be found; ask again");
	if (v->erased)
		return lethe_err_set(err, LETHE_E_GONE,
		                     "the archive was deleted with the account it was made of");
	return lethe_err_set(err, LETHE_E_GONE, "the archive was deleted: its time ran out");
}
