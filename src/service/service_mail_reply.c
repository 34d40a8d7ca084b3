/* SPDX-License-Identifier: MIT */
/*
 * service_mail_reply.c - what a reply to an incoming mail says (see
 * service_internal.h, docs/internals/mail.md and docs/mail-intake.md): the
 * mailer's compose function hands it every outbox row that answers a mail
 * of the privacy mailbox (mail.mail_in_id).
 *
 * The reply is rendered from web/mail/NOTICE.* (MAIL_REPLIES) with the
 * mailbox's facts: the code asked about and its status page
 * (reply_status; reply_request and reply_review tell no code: see
 * service__mail_reply_compose()), the self-service
 * page or the subjects the rules know (reply_unmatched), why the mail could
 * not be taken (reply_refused).  Its headers come from the incoming mail's
 * sealed reply box ({"message_id", "subject"}): "Re: " + the subject and
 * In-Reply-To; once the box is wiped (the request ended, the operator
 * closed the mail) the reply has the template's subject and no
 * In-Reply-To.  Every reply is marked Auto-Submitted: auto-replied (RFC
 * 3834).  Nothing in a reply depends on whether an account exists, and no
 * string of the incoming mail but its subject and Message-ID goes into it.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <strings.h>

#include "mail/templates.h"
#include "service/service_internal.h"
#include "util/mem.h"
#include "util/seal.h"
#include "util/template.h"

#define REPLY_BOX_MAX 4096    /* bytes of a reply box's JSON */
#define REPLY_SUBJECT_MAX 200 /* bytes of the original subject a reply repeats */
#define REPLY_SEAL_KIND "mail-reply"

/* What the incoming mail's reply box says (every string owned, NULL if absent). */
struct reply_box {
	char *message_id; /* its Message-ID, with <> */
	char *subject;    /* its subject, decoded */
	char *code;       /* a status question: the code it asked about */
};

static void
reply_box_free(struct reply_box *b)
{
	free(b->message_id);
	if (b->subject != NULL)
		sodium_memzero(b->subject, strlen(b->subject));
	free(b->subject);
	free(b->code);
	memset(b, 0, sizeof(*b));
}

/* A string member @name of @o, copied, or NULL. */
static char *
json_dup(json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
}

/* Open the sealed @box (@len bytes; NULL: wiped) into @out; a damaged box is as wiped. */
static void
reply_box_open(const struct service *svc, const uint8_t *box, size_t len, struct reply_box *out)
{
	uint8_t *plain;
	size_t n = 0;
	json_t *o;

	memset(out, 0, sizeof(*out));
	if (box == NULL || len == 0)
		return;
	plain = seal_open_bytes(svc->cfg->key, REPLY_SEAL_KIND, box, len, REPLY_BOX_MAX, &n);
	if (plain == NULL)
		return;
	o = json_loadb((const char *)plain, n, 0, NULL);
	sodium_memzero(plain, n);
	free(plain);
	if (o == NULL)
		return;
	out->message_id = json_dup(o, "message_id");
	out->subject = json_dup(o, "subject");
	out->code = json_dup(o, "code");
	json_decref(o);
}

/*
 * The subject of a reply to a mail whose subject is @orig: "Re: " + @orig
 * with control characters (C0, DEL, C1) as spaces, spaces trimmed, cut at
 * REPLY_SUBJECT_MAX bytes on a character's boundary; @orig as it is if it
 * starts with "Re:" already.  NULL if @orig is NULL, empty once cleaned,
 * or not UTF-8 (the template's subject is used then).
 */
static char *
reply_subject(const char *orig)
{
	const unsigned char *p = (const unsigned char *)orig;
	char clean[REPLY_SUBJECT_MAX + 1];
	size_t o = 0;

	if (orig == NULL)
		return NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p != '\0') {
		size_t len = 1, k;

		if (*p >= 0xf0 && *p <= 0xf4)
			len = 4;
		else if (*p >= 0xe0 && *p <= 0xef)
			len = 3;
		else if (*p >= 0xc2 && *p <= 0xdf)
			len = 2;
		else if (*p >= 0x80)
			return NULL;
		for (k = 1; k < len; k++)
			if ((p[k] & 0xc0) != 0x80)
				return NULL;
		if (o + len > REPLY_SUBJECT_MAX)
			break;
		if (*p < 0x20 || *p == 0x7f || (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			clean[o++] = ' ';
		} else {
			memcpy(clean + o, p, len);
			o += len;
		}
		p += len;
	}
	while (o > 0 && clean[o - 1] == ' ')
		o--;
	clean[o] = '\0';
	if (o == 0)
		return NULL;
	if (strncasecmp(clean, "re:", 3) == 0)
		return xstrdup(clean);
	return xasprintf("Re: %s", clean);
}

/* The self-service page (has_selfservice, selfservice_url) when it is on. */
static void
add_selfservice(const struct service *svc, struct tpl_ctx *ctx)
{
	const struct lethe_config *cfg = svc->cfg;
	bool on = cfg->selfservice.enabled && cfg->mail.enabled;

	tpl_ctx_add_bool(ctx, "has_selfservice", on);
	if (on)
		tpl_ctx_add_strf(ctx, "selfservice_url", "%s%s", cfg->public_url,
		                 cfg->selfservice.path != NULL ? cfg->selfservice.path
		                                               : "/privacy");
}

/* The subjects the rules understand, each once (for reply_unmatched). */
static void
add_subjects(const struct service *svc, struct tpl_ctx *ctx)
{
	const struct mailbox_config *mb = &svc->cfg->mailbox;
	size_t i, j, n = 0;

	tpl_ctx_add_list(ctx, "subjects");
	for (i = 0; i < mb->nrules; i++)
		for (j = 0; j < mb->rules[i].nsubjects; j++) {
			struct tpl_ctx *it = tpl_ctx_add_item(ctx, "subjects");

			tpl_ctx_add_str(it, "subject", mb->rules[i].subjects[j]);
			n++;
		}
	tpl_ctx_add_bool(ctx, "has_subjects", n > 0);
}

/* A code and its status page into @ctx. */
static void
add_status(const struct service *svc, struct tpl_ctx *ctx, const char *code)
{
	char url[SERVICE_URL_MAX];

	service__mail_add_code(ctx, code);
	service__status_url(svc, code, url);
	tpl_ctx_add_str(ctx, "status_url", url);
}

lethe_rc
service__mail_reply_compose(struct service *svc, const struct store_mail *m, struct mail_msg *out,
                            bool *skip, struct lethe_err *err)
{
	struct store_mailin row;
	struct store_request r;
	struct reply_box rb;
	struct tpl_ctx ctx;
	uint8_t *box = NULL;
	size_t boxlen = 0;
	char size[SERVICE_SIZE_TEXT_MAX], *subject = NULL;
	const char *why = NULL;
	lethe_rc rc;

	*skip = false;
	memset(&rb, 0, sizeof(rb));
	memset(&r, 0, sizeof(r));
	tpl_ctx_init(&ctx);
	if (svc->tpl == NULL || !mail_reply_ok(m->notice)) {
		rc = lethe_err_set(err, LETHE_E_INTERNAL, "no template set loaded, or not a reply");
		goto out;
	}
	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_mailin_get(svc->st, m->mail_in_id, &row, NULL, NULL, &box, &boxlen, err);
	if (rc == LETHE_E_NOTFOUND) {
		why = "the incoming mail is gone";
		rc = LETHE_OK;
	}
	/*
	 * Only a status reply tells a code (the one asked about).  A reply to a
	 * request (reply_request, reply_review) tells none and never looks at
	 * the request: the same words go out whether a request was made, was
	 * refused over export.rate_limit, has ended or is gone, so the sender
	 * learns nothing of the account named.
	 */
	if (rc == LETHE_OK && why == NULL && m->request_id > 0 &&
	    strcmp(m->notice, "reply_status") == 0) {
		rc = store_request_get(svc->st, m->request_id, &r, err);
		if (rc == LETHE_E_NOTFOUND) {
			why = "the request is gone";
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
	reply_box_open(svc, box, boxlen, &rb);
	if (strcmp(m->notice, "reply_status") == 0 && m->request_id <= 0 && rb.code == NULL) {
		*skip = true;
		lethe_err_set(err, LETHE_OK, "the code asked about is no longer known");
		goto out;
	}
	tpl_ctx_add_str(&ctx, "notice", m->notice);
	service__mail_add_app(svc, &ctx);
	add_selfservice(svc, &ctx);
	if (strcmp(m->notice, "reply_status") == 0)
		add_status(svc, &ctx, m->request_id > 0 ? r.code : rb.code);
	if (strcmp(m->notice, "reply_unmatched") == 0)
		add_subjects(svc, &ctx);
	if (strcmp(m->notice, "reply_refused") == 0) {
		tpl_ctx_add_str(&ctx, "reason",
		                row.reason[0] != '\0' ? row.reason : "not a readable message");
		service_export_size_text(svc->cfg->mailbox.max_size, size, sizeof(size));
		tpl_ctx_add_str(&ctx, "max_size", size);
	}
	rc = mail_templates_render(svc->tpl, m->notice, &ctx, out, err);
	if (rc != LETHE_OK)
		goto out;
	subject = reply_subject(rb.subject);
	if (subject != NULL) {
		free(out->subject);
		out->subject = subject;
	}
	free(out->in_reply_to);
	out->in_reply_to = rb.message_id;
	rb.message_id = NULL;
	out->auto_reply = true;
out:
	if (box != NULL)
		sodium_memzero(box, boxlen);
	free(box);
	reply_box_free(&rb);
	tpl_ctx_free(&ctx);
	return rc;
}
