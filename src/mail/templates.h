/* SPDX-License-Identifier: MIT */
/*
 * templates.h - the mails lethe sends about a privacy request, from the
 * template set (util/tplset.h: web/mail/NOTICE.txt and NOTICE.html).
 *
 * A notice is what happened to the request (docs/internals/mail.md):
 *   address                   confirm a notification address (its link)
 *   awaiting_verification     confirm the request (its link)
 *   scheduled                 accepted; erased on DATE, cancel link during grace
 *   completed, completed_with_retention   what was deleted, kept and why
 *   refused, cancelled        with the reason
 *   failed, delayed           the deadline is at risk
 *   extended                  the deadline was moved, with the reason
 * A kind of request may have its own template for a notice
 * (MAIL_KIND_TEMPLATES, mail_template_for()): export_completed (the
 * archive is ready, with a download link) for an export's completed.
 * NOTICE.txt starts with one "Subject: ..." line and a blank line; the rest
 * is the plain-text body.  NOTICE.html is the HTML body.  Text is rendered
 * without HTML escaping ({{name}} as is), HTML with it.  The variables are
 * the status page's (docs/status-page.md) plus link_url, status_url and
 * notice; docs/internals/mail.md lists them.
 */
#ifndef LETHE_MAIL_TEMPLATES_H
#define LETHE_MAIL_TEMPLATES_H

#include "util/fmacros.h"

#include "mail/mail.h"
#include "util/rc.h"
#include "util/template.h"
#include "util/tplset.h"

/* Every notice, in the order above. */
#define MAIL_NOTICES                                                                               \
	"address, awaiting_verification, scheduled, completed, completed_with_retention, "         \
	"refused, cancelled, failed, delayed, extended"

/*
 * The replies to an incoming mail (requests by email, docs/mail-intake.md),
 * queued with store_mail_add_reply() and rendered like a notice, with the
 * variables docs/internals/mail.md lists: the request recorded and a link
 * sent to the address on file if an account matches (reply_request), the
 * request awaits an operator's review (reply_review), a confirmation
 * code's status page (reply_status), a mail nothing fitted (reply_unmatched),
 * a mail that could not be taken (reply_refused).
 */
#define MAIL_REPLIES "reply_request, reply_review, reply_status, reply_unmatched, reply_refused"

/* The templates kinds have in place of a notice's: kind export's completed. */
#define MAIL_KIND_TEMPLATES "export_completed"

/* True if @notice is one of MAIL_NOTICES. */
bool mail_notice_ok(const char *notice);
/* True if @notice is one of MAIL_REPLIES. */
bool mail_reply_ok(const char *notice);
/*
 * The template notice @notice about a request of @kind is rendered with:
 * the kind's own (MAIL_KIND_TEMPLATES) if it has one, else @notice.
 */
const char *mail_template_for(const char *notice, const char *kind);
/*
 * Check that @set holds a well-formed NOTICE.txt (with its Subject line)
 * and NOTICE.html for every notice, every reply and every kind's template.  LETHE_E_CONFIG naming
 * the file.  At start, with the status page's check.
 */
lethe_rc mail_templates_check(const struct tplset *set, struct lethe_err *err);
/*
 * Render @notice (a notice, a reply, or a kind's template) with @ctx into @out's
 * subject, text and html (@out->to, in_reply_to and auto_reply are left
 * alone).  LETHE_E_CONFIG /
 * LETHE_E_TOOBIG as template_render(); LETHE_E_INVALID for an unknown
 * notice.
 */
lethe_rc mail_templates_render(const struct tplset *set, const char *notice,
                               const struct tpl_ctx *ctx, struct mail_msg *out,
                               struct lethe_err *err);

#endif /* LETHE_MAIL_TEMPLATES_H */
