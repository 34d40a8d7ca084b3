/* SPDX-License-Identifier: MIT */
/*
 * templates.c - a notice's mail from the template set (see templates.h).
 *
 * mail/NOTICE.txt is "Subject: ..." on its first line, a blank line, then
 * the plain-text body; both are rendered with template_render_text().  The
 * subject is rendered on its own and must come out as one line (a value
 * holding a line break is refused: mail_build() would refuse it anyway).
 * mail/NOTICE.html is rendered with template_render() (HTML escaping).
 */
#include "util/fmacros.h"

#include <string.h>

#include "mail/templates.h"
#include "util/mem.h"

#define SUBJECT_TAG "Subject:"

static const char *const notices[] = {"address",
                                      "awaiting_verification",
                                      "scheduled",
                                      "completed",
                                      "completed_with_retention",
                                      "refused",
                                      "cancelled",
                                      "failed",
                                      "delayed",
                                      "extended",
                                      NULL};

static const char *const replies[] = {"reply_request",   "reply_review",  "reply_status",
                                      "reply_unmatched", "reply_refused", NULL};

/* The templates a kind of request has in place of a notice's (MAIL_KIND_TEMPLATES). */
static const struct {
	const char *notice, *kind, *name;
} kind_templates[] = {
    {"completed", "export", "export_completed"},
    {NULL, NULL, NULL},
};

const char *
mail_template_for(const char *notice, const char *kind)
{
	size_t i;

	for (i = 0; notice != NULL && kind != NULL && kind_templates[i].notice != NULL; i++)
		if (strcmp(kind_templates[i].notice, notice) == 0 &&
		    strcmp(kind_templates[i].kind, kind) == 0)
			return kind_templates[i].name;
	return notice;
}

/* True if @name is a notice's template or a kind's (kind_templates). */
static bool
template_ok(const char *name)
{
	size_t i;

	if (mail_notice_ok(name) || mail_reply_ok(name))
		return true;
	for (i = 0; name != NULL && kind_templates[i].notice != NULL; i++)
		if (strcmp(kind_templates[i].name, name) == 0)
			return true;
	return false;
}

bool
mail_notice_ok(const char *notice)
{
	size_t i;

	for (i = 0; notice != NULL && notices[i] != NULL; i++)
		if (strcmp(notices[i], notice) == 0)
			return true;
	return false;
}

bool
mail_reply_ok(const char *notice)
{
	size_t i;

	for (i = 0; notice != NULL && replies[i] != NULL; i++)
		if (strcmp(replies[i], notice) == 0)
			return true;
	return false;
}

/*
 * Split @txt (a NOTICE.txt) into its subject template and body: *@subj is
 * a fresh copy of the Subject line's value (spaces trimmed), *@body points
 * into @txt after the blank line.  LETHE_E_CONFIG "@name:LINE: what".
 */
static lethe_rc
split_txt(const char *name, const char *txt, char **subj, const char **body, struct lethe_err *err)
{
	const char *eol, *v, *e;

	*subj = NULL;
	*body = NULL;
	if (strncmp(txt, SUBJECT_TAG, strlen(SUBJECT_TAG)) != 0)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:1: the first line must be \"Subject: ...\"", name);
	v = txt + strlen(SUBJECT_TAG);
	eol = strchr(v, '\n');
	if (eol == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:1: the Subject line must be followed by a blank line and "
		                     "the body",
		                     name);
	e = eol;
	if (e > v && e[-1] == '\r')
		e--;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == v)
		return lethe_err_set(err, LETHE_E_CONFIG, "%s:1: the subject is empty", name);
	eol++;
	if (eol[0] == '\r')
		eol++;
	if (eol[0] != '\n')
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:2: a blank line must follow the Subject line", name);
	*subj = xstrndup(v, (size_t)(e - v));
	*body = eol + 1;
	return LETHE_OK;
}

/* @e's "template:LINE: what" as "@name:LINE': what" (@offset lines before the body). */
static lethe_rc
rename_err(const char *name, unsigned offset, struct lethe_err *e, struct lethe_err *err)
{
	unsigned long line;
	char *end = NULL;

	if (strncmp(e->msg, "template:", 9) == 0) {
		line = strtoul(e->msg + 9, &end, 10);
		if (end != NULL && *end == ':')
			return lethe_err_set(err, e->rc, "%s:%lu:%s", name, line + offset, end + 1);
	}
	return lethe_err_set(err, e->rc, "%s: %s", name, e->msg);
}

/* Check mail/@name.txt (with its Subject line) and mail/@name.html of @set. */
static lethe_rc
check_one(const struct tplset *set, const char *name, struct lethe_err *err)
{
	struct lethe_err e = {LETHE_OK, ""};
	char *txt = xasprintf("mail/%s.txt", name);
	char *html = xasprintf("mail/%s.html", name);
	const char *t = tplset_get(set, txt), *h = tplset_get(set, html), *body = NULL;
	char *subj = NULL;
	lethe_rc rc = LETHE_OK;

	if (t == NULL || h == NULL)
		rc = lethe_err_set(err, LETHE_E_CONFIG, "%s: missing from the template set",
		                   t == NULL ? txt : html);
	if (rc == LETHE_OK)
		rc = split_txt(txt, t, &subj, &body, err);
	if (rc == LETHE_OK && template_check(subj, &e) != LETHE_OK)
		rc = rename_err(txt, 0, &e, err);
	if (rc == LETHE_OK && template_check(body, &e) != LETHE_OK)
		rc = rename_err(txt, 2, &e, err);
	if (rc == LETHE_OK && template_check(h, &e) != LETHE_OK)
		rc = rename_err(html, 0, &e, err);
	free(subj);
	free(txt);
	free(html);
	return rc;
}

lethe_rc
mail_templates_check(const struct tplset *set, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;
	size_t i;

	for (i = 0; rc == LETHE_OK && notices[i] != NULL; i++)
		rc = check_one(set, notices[i], err);
	for (i = 0; rc == LETHE_OK && replies[i] != NULL; i++)
		rc = check_one(set, replies[i], err);
	for (i = 0; rc == LETHE_OK && kind_templates[i].name != NULL; i++)
		rc = check_one(set, kind_templates[i].name, err);
	return rc;
}

lethe_rc
mail_templates_render(const struct tplset *set, const char *notice, const struct tpl_ctx *ctx,
                      struct mail_msg *out, struct lethe_err *err)
{
	char *txt = NULL, *html = NULL, *subj_tpl = NULL, *subj = NULL, *text = NULL, *page = NULL;
	const char *t, *h, *body = NULL;
	lethe_rc rc = LETHE_OK;

	if (!template_ok(notice))
		return lethe_err_set(err, LETHE_E_INVALID, "mail: unknown notice (one of: %s; %s)",
		                     MAIL_NOTICES, MAIL_REPLIES);
	txt = xasprintf("mail/%s.txt", notice);
	html = xasprintf("mail/%s.html", notice);
	t = tplset_get(set, txt);
	h = tplset_get(set, html);
	if (t == NULL || h == NULL) {
		rc = lethe_err_set(err, LETHE_E_CONFIG, "%s: missing from the template set",
		                   t == NULL ? txt : html);
		goto out;
	}
	rc = split_txt(txt, t, &subj_tpl, &body, err);
	if (rc != LETHE_OK)
		goto out;
	subj = template_render_text(subj_tpl, ctx, err);
	text = subj != NULL ? template_render_text(body, ctx, err) : NULL;
	page = text != NULL ? template_render(h, ctx, err) : NULL;
	if (page == NULL) {
		rc = err != NULL && err->rc != LETHE_OK ? err->rc : LETHE_E_CONFIG;
		goto out;
	}
	if (strpbrk(subj, "\r\n") != NULL) {
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "%s: the subject came out on several lines", txt);
		goto out;
	}
	free(out->subject);
	free(out->text);
	free(out->html);
	out->subject = subj;
	out->text = text;
	out->html = page;
	subj = text = page = NULL;
out:
	free(subj);
	free(text);
	free(page);
	free(subj_tpl);
	free(txt);
	free(html);
	return rc;
}
