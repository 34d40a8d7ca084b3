/* SPDX-License-Identifier: MIT */
/*
 * service_mailbox.c - the operator's queue of incoming mails: list, show,
 * close, prune (service.h, docs/mail-intake.md).
 *
 * list and close answer without personal data (the API shows them);
 * show opens the sealed raw message, parses it again and decides about it
 * again (mail/mailbox.h) for the claims it makes: personal data for the
 * operator's terminal only (the CLI), never logged.
 */
#include "util/fmacros.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "mail/inmail.h"
#include "mail/mailbox.h"
#include "service/service_internal.h"
#include "util/log.h"
#include "util/seal.h"
#include "util/timeutil.h"

#define MAILBOX_LIST_MAX 1000
#define MAILBOX_LIST_DEFAULT 100
#define SHOW_RAW_MAX ((size_t)64 * 1024 * 1024 + 1) /* mailbox.max_size's upper bound, + 1 */

/* The state store of @svc, opened if this is a command's service that has not yet. */
static lethe_rc
store_ready(struct service *svc, struct lethe_err *err)
{
	return svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
}

/* A string or JSON null for "". */
static json_t *
jstr(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* Row @m as the list shows it (no personal data). */
static json_t *
mailin_json(const struct store_mailin *m)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(m->id));
	json_object_set_new(o, "via", json_string(m->via));
	json_object_set_new(o, "received_at", json_integer(m->received_at));
	json_object_set_new(o, "bytes", json_integer(m->bytes));
	json_object_set_new(o, "outcome", json_string(m->outcome));
	json_object_set_new(o, "rule", jstr(m->rule));
	json_object_set_new(o, "reason", jstr(m->reason));
	json_object_set_new(o, "request", jstr(m->code));
	json_object_set_new(o, "replied", json_boolean(m->replied));
	json_object_set_new(o, "state", json_string(m->state));
	json_object_set_new(o, "raw_kept", json_boolean(m->raw_kept));
	return o;
}

/* True if @s is one of the outcomes a row has. */
static bool
outcome_ok(const char *s)
{
	static const char *const o[] = {"request",   "review", "status",
	                                "unmatched", "robot",  "refused"};
	size_t i;

	for (i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		if (strcmp(s, o[i]) == 0)
			return true;
	return false;
}

/* What service_mailbox_list() collects. */
struct listing {
	json_t *mails;
	int64_t last; /* id of the last row */
	int64_t n;
};

/* store_mailin_fn: one row into the listing @arg. */
static void
on_listed(void *arg, const struct store_mailin *m)
{
	struct listing *l = arg;

	json_array_append_new(l->mails, mailin_json(m));
	l->last = m->id;
	l->n++;
}

lethe_rc
service_mailbox_list(struct service *svc, const char *state, const char *outcome,
                     const char *cursor, int limit, json_t **out, struct lethe_err *err)
{
	struct store_mailin_filter f;
	struct listing l = {0};
	char *end = NULL;
	lethe_rc rc;

	*out = NULL;
	memset(&f, 0, sizeof(f));
	if (state != NULL && strcmp(state, "open") != 0 && strcmp(state, "closed") != 0)
		return lethe_err_set(err, LETHE_E_INVALID, "state must be open, closed or all");
	if (outcome != NULL && !outcome_ok(outcome))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "outcome must be one of: request, review, status, unmatched, "
		                     "robot, refused");
	if (limit < 0 || limit > MAILBOX_LIST_MAX)
		return lethe_err_set(err, LETHE_E_INVALID, "limit must be 1 to %d",
		                     MAILBOX_LIST_MAX);
	if (cursor != NULL && cursor[0] != '\0') {
		long long v = strtoll(cursor, &end, 10);

		/* Digits only: strtoll() would take a leading space ("+" in a query) or sign. */
		if (strspn(cursor, "0123456789") != strlen(cursor) || end == cursor ||
		    *end != '\0' || v <= 0)
			return lethe_err_set(err, LETHE_E_INVALID, "bad cursor");
		f.before_id = (int64_t)v;
	}
	f.state = state;
	f.outcome = outcome;
	f.limit = limit > 0 ? limit : MAILBOX_LIST_DEFAULT;
	l.mails = json_array();
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = store_mailin_list(svc->st, &f, on_listed, &l, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc != LETHE_OK) {
		json_decref(l.mails);
		return rc;
	}
	*out = json_object();
	json_object_set_new(*out, "mails", l.mails);
	if (l.n == f.limit && l.last > 1) {
		char next[24];

		snprintf(next, sizeof(next), "%" PRId64, l.last);
		json_object_set_new(*out, "next", json_string(next));
	} else {
		json_object_set_new(*out, "next", json_null());
	}
	return LETHE_OK;
}

/* The claims of decision @d as JSON (personal data). */
static json_t *
claims_json(const struct mailbox_decision *d)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < d->nclaims; i++) {
		const struct mailbox_claim *c = &d->claims[i];
		json_t *o = json_object();

		json_object_set_new(o, "name",
		                    json_string(c->conf != NULL ? c->conf->name : MAILBOX_SENDER));
		json_object_set_new(o, "identity",
		                    c->conf != NULL ? json_string(c->conf->identity) : json_null());
		json_object_set_new(o, "value", json_string(c->value));
		json_array_append_new(a, o);
	}
	return a;
}

/* The raw message of row @m opened (@box) and understood into @o (personal data). */
static lethe_rc
show_raw(struct service *svc, const uint8_t *box, size_t boxlen, json_t *o, struct lethe_err *err)
{
	const struct mailbox_config *mb = &svc->cfg->mailbox;
	struct mail_in_limits lim = {.max_size = SIZE_MAX, .max_parts = SIZE_MAX};
	struct mailbox_decision d;
	struct mail_in m;
	uint8_t *raw;
	size_t len = 0;
	lethe_rc rc;

	raw = seal_open_bytes(svc->cfg->key, "mail-in", box, boxlen, SHOW_RAW_MAX, &len);
	if (raw == NULL)
		return lethe_err_set(err, LETHE_E_STATE,
		                     "the raw message does not open under this lethe's key");
	memset(&m, 0, sizeof(m));
	memset(&d, 0, sizeof(d));
	if (mb->max_parts > 0)
		lim.max_parts = (size_t)mb->max_parts * 2;
	rc = mail_in_parse((const char *)raw, len, NULL, &lim, &m, err);
	if (rc == LETHE_OK) {
		mailbox_understand(mb, svc->cfg->mail.from, &m, &d);
		json_object_set_new(o, "from", m.from != NULL ? json_string(m.from) : json_null());
		json_object_set_new(o, "to", m.to != NULL ? json_string(m.to) : json_null());
		json_object_set_new(o, "date", m.date != NULL ? json_string(m.date) : json_null());
		json_object_set_new(o, "subject", json_string(m.subject != NULL ? m.subject : ""));
		json_object_set_new(o, "decision", json_string(mailbox_outcome_str(d.outcome)));
		json_object_set_new(o, "claims", claims_json(&d));
		json_object_set_new(o, "text", json_string(m.text != NULL ? m.text : ""));
	}
	mailbox_decision_wipe(&d);
	mail_in_free(&m);
	sodium_memzero(raw, len);
	free(raw);
	return rc;
}

lethe_rc
service_mailbox_show(struct service *svc, int64_t id, json_t **out, struct lethe_err *err)
{
	struct store_mailin m;
	uint8_t *box = NULL;
	size_t boxlen = 0;
	json_t *o;
	lethe_rc rc;

	*out = NULL;
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = store_mailin_get(svc->st, id, &m, &box, &boxlen, NULL, NULL, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no mail has this id");
	if (rc != LETHE_OK)
		return rc;
	o = mailin_json(&m);
	if (box != NULL) {
		rc = show_raw(svc, box, boxlen, o, err);
		sodium_memzero(box, boxlen);
		free(box);
	}
	if (rc != LETHE_OK) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return LETHE_OK;
}

lethe_rc
service_mailbox_close(struct service *svc, int64_t id, const char *actor, const char *reason,
                      json_t **out, struct lethe_err *err)
{
	struct store_mailin m;
	bool applied = false;
	lethe_rc rc;

	if (out != NULL)
		*out = NULL;
	if (reason != NULL && (strlen(reason) > 160 || strpbrk(reason, "\r\n\t") != NULL))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "a reason is at most 160 bytes of text on one line");
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = store_mailin_get(svc->st, id, &m, NULL, NULL, NULL, NULL, err);
	if (rc == LETHE_OK)
		rc = store_mailin_close(svc->st, id, time_now(), actor != NULL ? actor : "operator",
		                        reason != NULL && reason[0] != '\0' ? reason : NULL,
		                        &applied, err);
	if (rc == LETHE_OK && !applied)
		rc = lethe_err_set(err, LETHE_E_CONFLICT, "mail %lld is closed already",
		                   (long long)id);
	if (rc == LETHE_OK)
		rc = store_mailin_get(svc->st, id, &m, NULL, NULL, NULL, NULL, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no mail has this id");
	if (rc != LETHE_OK)
		return rc;
	log_info("mail %lld: closed by %s", (long long)id, actor != NULL ? actor : "operator");
	if (out != NULL)
		*out = mailin_json(&m);
	return LETHE_OK;
}

lethe_rc
service_mailbox_prune(struct service *svc, int64_t now, int64_t *n, struct lethe_err *err)
{
	int64_t changed = 0;
	lethe_rc rc;

	if (n != NULL)
		*n = 0;
	if (!svc->cfg->mailbox.enabled)
		return LETHE_OK;
	pthread_mutex_lock(&svc->st_mu);
	rc = store_ready(svc, err);
	if (rc == LETHE_OK)
		rc = store_mailin_prune(svc->st, now, svc->cfg->mailbox.keep_s, &changed, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_OK && changed > 0)
		log_info("mailbox: %lld mails past mailbox.keep closed or forgotten",
		         (long long)changed);
	if (rc == LETHE_OK && n != NULL)
		*n = changed;
	return rc;
}
