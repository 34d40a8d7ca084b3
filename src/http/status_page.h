/* SPDX-License-Identifier: MIT */
/*
 * status_page.h - the page a person reads to check a privacy request.
 *
 * Meta's Data Deletion Request Callback answers with a URL where the person
 * checks the status of their request; the page must be human-readable and
 * give a legitimate justification for any refusal to delete; every other
 * request (the app's, an operator's, the person's own) has the same page,
 * saying where it stands in plain words, its deadline, the end of its
 * grace period and how to cancel it meanwhile.  This module
 * turns a struct status_view into that page (HTML, from a template the
 * operator may replace; see docs/status-page.md), into the same facts as
 * JSON, and renders the page shown for an unknown confirmation code.
 *
 * The view never carries personal data: no user id, username, email or
 * name, only the confirmation code, the state, dates and counts per
 * category.  Keep it that way: the URL is unauthenticated.
 *
 * Every function only reads its arguments and is thread-safe.
 */
#ifndef LETHE_STATUS_PAGE_H
#define LETHE_STATUS_PAGE_H

#include "util/fmacros.h"

#include <jansson.h>

#include "service/service.h" /* struct status_category */
#include "util/rc.h"

struct status_view {
	const char *code;                   /* the confirmation code (alphanumeric) */
	const char *state;                  /* received | awaiting_verification |
	                                       awaiting_review | scheduled | running |
	                                       completed | completed_with_retention |
	                                       refused | cancelled | failed | expired |
	                                       lifted (a restriction) */
	int64_t received_at;                /* Unix s */
	int64_t completed_at;               /* Unix s, 0 if not completed (a lifted
	                                       restriction: when it was lifted) */
	const char *platform;               /* "Facebook" or "Instagram" (app family label) */
	bool no_data;                       /* the id matched nobody: say no data was found */
	const struct status_category *cats; /* per category outcome */
	size_t ncats;                       /* number of entries in cats */
	const char *app_name;               /* the operator's app name, e.g. "Social Coworker" */
	const char *contact;                /* operator contact address (email or https URL) */
	bool account_remains;               /* the request's scope leaves the app account in
	                                       place: say so and how to close it */
	const char *kind;                   /* erasure, export, restriction (NULL: erasure) */
	const char *scope;                  /* the data map scope it covers (may be NULL) */
	const char *source;                 /* meta, import, app, self-service, email,
	                                       operator (NULL or "": meta) */
	int64_t due_at;                     /* its deadline (Unix s), 0 if none */
	int64_t grace_until;                /* scheduled: the grace period ends (Unix s), 0 */
	int64_t expires_at;                 /* awaiting_verification: it expires (Unix s), 0 */
	const char *reason;                 /* refusal or cancellation reason, written for
	                                       the person (NULL: none) */
	bool overdue;                       /* open and past its deadline */
	bool erases_account;                /* its scope covers the person's whole account */
	bool cancellable;                   /* the person may still cancel it: show how */
	bool cancel_by_mail;                /* mail is configured: its notices carry a cancel
	                                       link (say to use it) */
	bool mail_failed;                   /* a mail about it could not be sent: say so */
	int verify_mail;                    /* the mail with its verification link
	                                       (SERVICE_VERIFY_MAIL_*): sent, being sent, none */
	const struct service_export_view *export; /* kind export: its archive, else NULL */
	const char *download_csrf; /* kind export: the Download button's CSRF token */
};

/*
 * Render the HTML status page of @v with template @tpl (NULL = the embedded
 * web/status.html; the variables are listed in docs/status-page.md).
 * Returns the page, which the caller frees, or NULL with detail in @err
 * (LETHE_E_CONFIG for a malformed template, LETHE_E_TOOBIG over 1 MiB).
 */
char *status_page_html(const struct status_view *v, const char *tpl, struct lethe_err *err);

/*
 * The same facts as JSON:
 *   {"confirmation_code", "state", "received_at" (ISO 8601 UTC),
 *    "completed_at" (ISO 8601 UTC or null), "platform", "no_data",
 *    "categories": [{"category", "deleted", "anonymized", "retained",
 *                    "reason", "retained_until"}], "contact",
 *    "kind", "scope", "source" (meta when not set), "due_at", "grace_until"
 *    (ISO 8601 UTC or null), "reason" (refusal or cancellation, or null),
 *    "cancellable", "mail_failed"}
 * Absent strings are null.  The caller json_decref()s the result.
 */
json_t *status_page_json(const struct status_view *v);

/*
 * The page for an unknown confirmation code (the code is not echoed back).
 * @app_name and @contact may be NULL.  Returns a page the caller frees, or
 * NULL with detail in @err.
 */
char *status_page_not_found_html(const char *app_name, const char *contact, struct lethe_err *err);

/*
 * The confirmation code a person typed, @in, as it is stored: spaces, tabs,
 * dashes and '+' (the groups the page shows, or a space sent as '+') are
 * dropped, A-Z folded to a-z.  Writes at most @cap - 1 characters and a NUL
 * to @out.  False (and @out empty) when more would be needed or @in is NULL;
 * the caller still checks the result with meta_code_ok().
 */
bool status_page_code_parse(const char *in, char *out, size_t cap);

/*
 * A plain error page for the HTML routes (405, 431, 503 and the like):
 * @title as heading, @message below it, the app's name and contact around
 * (@app_name and @contact may be NULL).  All escaped.  Returns a page the
 * caller frees, or NULL with detail in @err.
 */
char *status_page_error_html(const char *app_name, const char *contact, const char *title,
                             const char *message, struct lethe_err *err);

/* The embedded stylesheet (web/style.css), served at /static/style.css.  Static storage. */
const char *status_page_css(void);
struct tpl_ctx;
/*
 * Add the variables every page has (app_name, app_label, contact,
 * contact_href, contact_is_url, css) to @ctx: for the self-service pages.
 */
void status_page_ctx_common(struct tpl_ctx *ctx, const char *app_name, const char *contact);

/*
 * The label a person reads for category @category ("meta-sourced" ->
 * "Data received from Meta"); an unknown category is returned as it is.
 */
const char *status_page_category_label(const char *category);

#endif /* LETHE_STATUS_PAGE_H */
