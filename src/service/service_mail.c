/* SPDX-License-Identifier: MIT */
/*
 * service_mail.c - what a mail about a privacy request says (see
 * service_internal.h and docs/internals/mail.md): the mailer's compose
 * function decides whether a notice still goes, fills the template
 * context with the request's facts as its status page shows them, mints
 * the link the notice carries (if any) and renders the notice from the
 * template set.  It also wakes the mailer and makes a status page's URL.
 *
 * For kind export, the completed notice is the "ready" mail
 * (mail/export_completed.*): the archive's size, rows, media files and
 * counts per category, its end, and a fresh single-use download link
 * expiring with it; skipped once the archive is gone.
 *
 * Skip rules (the mailer marks a skipped notice "skipped"):
 *   address                 only while the address given is unconfirmed
 *   awaiting_verification   only to the person's own address (IDENTITY),
 *                           while the request still awaits verification
 *   scheduled, delayed, extended   what is to come: only while the request
 *                           is not finished (its later notice tells the end)
 *   every notice but address and awaiting_verification: only once the
 *                           address may hear of the request (notify_ok)
 * A message carries no personal data: never the address, never an
 * identity; only the code, dates, counts per category and reasons written
 * for the person.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "datamap/datamap.h"
#include "engine/receipt.h"
#include "engine/request.h"
#include "mail/templates.h"
#include "service/service_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/template.h"
#include "util/timeutil.h"

#define CODE_GROUP 4 /* characters per group of a code as the page shows it */

void
service__mail_kick(struct service *svc)
{
	if (svc != NULL && svc->mailer != NULL)
		mailer_kick(svc->mailer);
}

void
service__status_url(const struct service *svc, const char *code, char url[SERVICE_URL_MAX])
{
	snprintf(url, SERVICE_URL_MAX, "%s/data-deletion/status?id=%s", svc->cfg->public_url, code);
}

const struct tplset *
service_templates(const struct service *svc)
{
	return svc->tpl;
}

/* ---- the context ------------------------------------------------------------------ */

/* @name, @name_date and @name_iso of @t, as the status page has them, and flag has_@name. */
static void
add_date(struct tpl_ctx *ctx, const char *name, int64_t t)
{
	char key[64];

	tpl_ctx_add_time(ctx, name, t);
	snprintf(key, sizeof(key), "has_%s", name);
	tpl_ctx_add_bool(ctx, key, true);
}

void
service__mail_add_code(struct tpl_ctx *ctx, const char *code)
{
	char grouped[96];
	size_t i, o = 0;

	for (i = 0; code[i] != '\0' && o + 2 < sizeof(grouped); i++) {
		if (i > 0 && i % CODE_GROUP == 0)
			grouped[o++] = ' ';
		grouped[o++] = code[i];
	}
	grouped[o] = '\0';
	tpl_ctx_add_str(ctx, "code", code);
	tpl_ctx_add_str(ctx, "code_grouped", grouped);
}

/* The outcome per category of @r's latest run (st_mu held): categories, retained, totals. */
static lethe_rc
add_result(struct service *svc, const struct store_request *r, struct tpl_ctx *ctx,
           struct lethe_err *err)
{
	struct service_status *s = xcalloc(1, sizeof(*s));
	lethe_rc rc = LETHE_OK;

	if (r->job > 0 && r->job_run >= r->runs)
		rc = service__status_steps(svc, r, s, err);
	service_status_vars(ctx, s->cats, rc == LETHE_OK ? s->ncats : 0);
	free(s);
	return rc;
}

/* The reason of the request's latest "extended" event, for the extended notice. */
static void
on_event(void *arg, int64_t at, const char *state, const char *actor, const char *reason)
{
	char *out = arg;

	(void)at;
	(void)actor;
	if (state != NULL && strcmp(state, "extended") == 0)
		snprintf(out, SERVICE_REQ_REASON_MAX + 1, "%s", reason != NULL ? reason : "");
}

void
service__mail_add_app(const struct service *svc, struct tpl_ctx *ctx)
{
	const struct lethe_config *cfg = svc->cfg;

	tpl_ctx_add_str(ctx, "app_name", cfg->app_name);
	tpl_ctx_add_str(ctx, "app_label",
	                cfg->app_name != NULL && cfg->app_name[0] != '\0' ? cfg->app_name
	                                                                  : "this app");
	tpl_ctx_add_str(ctx, "contact", cfg->contact);
	/* As the status page links it: a URL as it is, an address as mailto:. */
	if (cfg->contact != NULL && cfg->contact[0] != '\0') {
		bool is_url = strncmp(cfg->contact, "https://", 8) == 0 ||
		              strncmp(cfg->contact, "http://", 7) == 0;

		if (is_url)
			tpl_ctx_add_str(ctx, "contact_href", cfg->contact);
		else
			tpl_ctx_add_strf(ctx, "contact_href", "mailto:%s", cfg->contact);
		tpl_ctx_add_bool(ctx, "contact_is_url", is_url);
	}
}

/*
 * The facts of @r for notice @notice at @now into @ctx (st_mu held): the
 * status page's variables that apply, and notice, status_url.
 */
static lethe_rc
fill_ctx(struct service *svc, const struct store_request *r, const char *notice, int64_t now,
         struct tpl_ctx *ctx, struct lethe_err *err)
{
	const struct lethe_config *cfg = svc->cfg;
	const struct request_policy *p =
	    request_policy_of(cfg, r->policy, r->kind, r->scope, r->source);
	char url[SERVICE_URL_MAX];
	char *why = xcalloc(1, SERVICE_REQ_REASON_MAX + 1);
	lethe_rc rc = LETHE_OK;

	tpl_ctx_add_str(ctx, "notice", notice);
	service__mail_add_app(svc, ctx);
	service__mail_add_code(ctx, r->code);
	service__status_url(svc, r->code, url);
	tpl_ctx_add_str(ctx, "status_url", url);
	/* A finished request's signed receipt (service_proof.c), linked from its notice. */
	if (receipt_state_finished(r->state)) {
		tpl_ctx_add_bool(ctx, "has_receipt", true);
		tpl_ctx_add_strf(ctx, "receipt_url", "%s/data-deletion/status/receipt?id=%s",
		                 cfg->public_url, r->code);
	}
	tpl_ctx_add_str(ctx, "state", r->state);
	tpl_ctx_add_str(ctx, "kind", r->kind[0] != '\0' ? r->kind : "erasure");
	tpl_ctx_add_bool(ctx, "is_export", strcmp(r->kind, "export") == 0);
	tpl_ctx_add_bool(ctx, "is_restriction", strcmp(r->kind, "restriction") == 0);
	tpl_ctx_add_str(ctx, "scope", r->scope);
	add_date(ctx, "received_at", r->received_at);
	/* The status page's flags: has_due, has_grace (not has_due_at, has_grace_until). */
	if (r->due_at > 0) {
		add_date(ctx, "due_at", r->due_at);
		tpl_ctx_add_bool(ctx, "has_due",
		                 !request_state_final(r->state) || strcmp(r->state, "failed") == 0);
	}
	/*
	 * Only while the grace period lasts: the templates offer the cancel link
	 * under has_grace, and skip_reason() mints it on the same condition (a
	 * retry after the end must not promise an empty link).
	 */
	if (strcmp(r->state, "scheduled") == 0 && p->grace_s > 0 && r->not_before > now) {
		add_date(ctx, "grace_until", r->not_before);
		tpl_ctx_add_bool(ctx, "has_grace", true);
	}
	if (strcmp(r->state, "awaiting_verification") == 0 && r->expires_at > 0)
		add_date(ctx, "expires_at", r->expires_at);
	if (r->completed_at > 0 && (strcmp(r->state, "completed") == 0 ||
	                            strcmp(r->state, "completed_with_retention") == 0))
		add_date(ctx, "completed_at", r->completed_at);
	if (r->completed_at > 0 &&
	    (strcmp(r->state, "refused") == 0 || strcmp(r->state, "cancelled") == 0 ||
	     strcmp(r->state, "expired") == 0))
		add_date(ctx, "closed_at", r->completed_at);
	/* Only an erasure erases: an export's or a restriction's scope covers the account too. */
	tpl_ctx_add_bool(ctx, "erases_account",
	                 (r->kind[0] == '\0' || strcmp(r->kind, "erasure") == 0) &&
	                     service__erases_account(svc, r->scope));
	tpl_ctx_add_bool(ctx, "no_data", r->no_data);
	/* Refusal and cancellation reasons are written for the person; a failure's is not. */
	if ((strcmp(r->state, "refused") == 0 || strcmp(r->state, "cancelled") == 0) &&
	    r->reason[0] != '\0') {
		tpl_ctx_add_str(ctx, "request_reason", r->reason);
		tpl_ctx_add_bool(ctx, "has_request_reason", true);
	}
	if (strcmp(notice, "extended") == 0) {
		rc = store_request_events(svc->st, r->id, on_event, why, err);
		/* The extension's reason (its history's), under both names templates use. */
		if (rc == LETHE_OK && why[0] != '\0') {
			tpl_ctx_add_str(ctx, "request_reason", why);
			tpl_ctx_add_bool(ctx, "has_request_reason", true);
			tpl_ctx_add_str(ctx, "extension_reason", why);
		}
	}
	free(why);
	if (rc == LETHE_OK)
		rc = add_result(svc, r, ctx, err);
	return rc;
}

/* ---- an export's archive ------------------------------------------------------------ */

/* One category's rows and media files in an archive. */
struct cat_sum {
	const char *category; /* borrowed from the detail JSON */
	int64_t rows;         /* the category's rows in the archive, over its tables */
	int64_t media;        /* its media files in the archive */
};

#define EXPORT_CATS_MAX 32 /* categories a ready mail lists at most */

/*
 * The archive of export request @r (st_mu held) into @ctx for its "ready"
 * mail: size, rows, media, the archive's end (into *@expires, the
 * download link's too) and export_categories [{label, rows, media,
 * has_media}] from the archive's detail.  LETHE_E_GONE if the archive is
 * not there any more (deleted, or expired by @now).
 */
static lethe_rc
add_export(struct service *svc, const struct store_request *r, int64_t now, struct tpl_ctx *ctx,
           int64_t *expires, struct lethe_err *err)
{
	struct store_export e;
	struct cat_sum sums[EXPORT_CATS_MAX];
	size_t nsums = 0, i, j;
	char size[SERVICE_SIZE_TEXT_MAX];
	json_t *detail = NULL, *tables;
	lethe_rc rc;

	memset(&e, 0, sizeof(e));
	rc = store_export_get(svc->st, r->id, &e, err);
	if (rc == LETHE_OK && (e.deleted_at != 0 || e.expires_at <= now))
		rc = lethe_err_set(err, LETHE_E_GONE, "the archive is no longer there");
	if (rc != LETHE_OK)
		goto out;
	*expires = e.expires_at;
	tpl_ctx_add_count(ctx, "export_rows", e.rows);
	tpl_ctx_add_count(ctx, "export_media", e.media);
	tpl_ctx_add_bool(ctx, "export_has_media", e.media > 0);
	add_date(ctx, "export_expires", e.expires_at);
	service_export_size_text(e.bytes, size, sizeof(size));
	tpl_ctx_add_str(ctx, "export_size", size);
	detail = e.detail != NULL ? json_loads(e.detail, 0, NULL) : NULL;
	tables = json_object_get(detail, "tables");
	for (i = 0; i < json_array_size(tables); i++) {
		json_t *t = json_array_get(tables, i);
		const char *cat = json_string_value(json_object_get(t, "category"));

		if (cat == NULL)
			continue;
		for (j = 0; j < nsums && strcmp(sums[j].category, cat) != 0; j++)
			;
		if (j == nsums && nsums < EXPORT_CATS_MAX) {
			sums[nsums].category = cat;
			sums[nsums].rows = sums[nsums].media = 0;
			nsums++;
		}
		if (j < nsums) {
			sums[j].rows += json_integer_value(json_object_get(t, "rows"));
			sums[j].media += json_integer_value(json_object_get(t, "media"));
		}
	}
	tpl_ctx_add_list(ctx, "export_categories");
	for (j = 0; j < nsums; j++) {
		struct tpl_ctx *it = tpl_ctx_add_item(ctx, "export_categories");

		tpl_ctx_add_str(it, "label", datamap_category_label(sums[j].category));
		tpl_ctx_add_count(it, "rows", sums[j].rows);
		tpl_ctx_add_count(it, "media", sums[j].media);
		tpl_ctx_add_bool(it, "has_media", sums[j].media > 0);
	}
	tpl_ctx_add_bool(ctx, "has_export_categories", nsums > 0);
out:
	json_decref(detail);
	store_export_clear(&e);
	return rc;
}

/* ---- skip rules and links ------------------------------------------------------------- */

/*
 * Whether notice @notice about @r goes now: NULL if it does (its link's
 * purpose into *@purpose and the link's end into *@expires, or *@purpose
 * NULL for none), else why not.
 */
static const char *
skip_reason(const struct service *svc, const struct store_request *r, const char *notice,
            int64_t now, const char **purpose, int64_t *expires)
{
	bool over = request_state_final(r->state) && strcmp(r->state, "failed") != 0;

	*purpose = NULL;
	*expires = 0;
	if (strcmp(notice, "address") == 0) {
		if (r->notify_kind != STORE_NOTIFY_ADDRESS || r->notify_ok)
			return "the address needs no confirmation any more";
		*purpose = "address";
		*expires = now + svc->cfg->mail.link_ttl_s;
		return NULL;
	}
	if (strcmp(notice, "awaiting_verification") == 0) {
		if (r->notify_kind != STORE_NOTIFY_IDENTITY)
			return "a request is confirmed only through the person's own address";
		if (strcmp(r->state, "awaiting_verification") != 0 || r->expires_at <= now)
			return "the request no longer awaits verification";
		*purpose = "verify";
		*expires = r->expires_at;
		return NULL;
	}
	if (!r->notify_ok)
		return "the address is not confirmed";
	if (over && (strcmp(notice, "scheduled") == 0 || strcmp(notice, "delayed") == 0 ||
	             strcmp(notice, "extended") == 0))
		return "the request is finished: a later notice tells how";
	if (strcmp(notice, "scheduled") == 0 && strcmp(r->state, "scheduled") == 0 &&
	    r->not_before > now) {
		*purpose = "cancel";
		*expires = r->not_before;
	}
	return NULL;
}

lethe_rc
service__mail_compose(void *arg, const struct store_mail *m, const char *to, struct mail_msg *out,
                      bool *skip, struct lethe_err *err)
{
	struct service *svc = arg;
	struct store_request r;
	struct tpl_ctx ctx;
	const char *purpose = NULL, *why, *tpl;
	char url[SERVICE_URL_MAX];
	int64_t now = time_now(), expires = 0;
	lethe_rc rc;

	(void)to; /* never in a message's body: the mailer puts it in the envelope and To */
	*skip = false;
	if (m->mail_in_id != 0)
		return service__mail_reply_compose(svc, m, out, skip, err);
	tpl_ctx_init(&ctx);
	if (svc->tpl == NULL) {
		rc = lethe_err_set(err, LETHE_E_INTERNAL, "no template set loaded");
		goto out;
	}
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_request_get(svc->st, m->request_id, &r, err);
	if (rc == LETHE_E_NOTFOUND) {
		pthread_mutex_unlock(&svc->st_mu);
		*skip = true;
		rc = lethe_err_set(err, LETHE_OK, "the request is gone");
		goto out;
	}
	why = rc == LETHE_OK ? skip_reason(svc, &r, m->notice, now, &purpose, &expires) : NULL;
	if (rc == LETHE_OK && why == NULL)
		rc = fill_ctx(svc, &r, m->notice, now, &ctx, err);
	/* An export's "ready" mail: its archive's facts and a download link, while it is there. */
	tpl = rc == LETHE_OK ? mail_template_for(m->notice, r.kind) : m->notice;
	if (rc == LETHE_OK && why == NULL && strcmp(tpl, "export_completed") == 0) {
		rc = add_export(svc, &r, now, &ctx, &expires, err);
		purpose = "download";
		if (rc == LETHE_E_GONE || rc == LETHE_E_NOTFOUND) {
			why = "the archive is no longer there: a later notice tells";
			rc = LETHE_OK;
		}
	}
	pthread_mutex_unlock(&svc->st_mu);
	if (rc != LETHE_OK)
		goto out;
	if (why != NULL) {
		*skip = true;
		lethe_err_set(err, LETHE_OK, "%s", why);
		goto out;
	}
	/* A fresh link, minted now: its token lives only in this mail. */
	tpl_ctx_add_bool(&ctx, "has_link", purpose != NULL);
	if (purpose != NULL) {
		rc = service__link_mint(svc, r.id, purpose, expires, url, err);
		if (rc != LETHE_OK)
			goto out;
		tpl_ctx_add_str(&ctx, "link_url", url);
		add_date(&ctx, "link_expires", expires);
		sodium_memzero(url, sizeof(url));
	}
	rc = mail_templates_render(svc->tpl, tpl, &ctx, out, err);
out:
	tpl_ctx_free(&ctx);
	return rc;
}
