/* SPDX-License-Identifier: MIT */
/*
 * service_mailin.c - requests by email: one incoming mail understood and
 * recorded with its request and reply in one transaction (service.h,
 * docs/mail-intake.md, docs/internals/mail-intake.md).
 *
 * service_mailin_deliver() is the one door of both front ends (LMTP,
 * Maildir): size check, keyed hash of the bytes (a redelivery after a
 * crash finds its row and makes nothing new), parse (mail/inmail.h),
 * decision (mail/mailbox.h), then the mail_in row, the request and the
 * reply in ONE state-store transaction: the request through
 * service_request_create() with an in-transaction hook, every other
 * outcome in a transaction of its own.  The sender is never trusted: a
 * request is confirmed by a link mailed to the address the identity has
 * (the From: address only when that is the identity named, the address
 * on file for a claimed account), or reviewed by an operator.  Every
 * string of a mail is personal data: none reaches a log, an error message
 * or the row in the clear (the raw message and the reply's headers are
 * sealed boxes), and the copies made here are wiped after use.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "engine/request.h"
#include "mail/inmail.h"
#include "mail/mailbox.h"
#include "service/service_internal.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/seal.h"
#include "util/timeutil.h"

#define MAILIN_SEAL_RAW "mail-in"      /* seal kind of the raw message */
#define MAILIN_SEAL_REPLY "mail-reply" /* seal kind of the reply's headers (JSON) */
#define REPLY_SUBJECT_KEEP 400         /* bytes of the subject kept for the reply */
#define REPLY_MSGID_MAX 900            /* bytes of a Message-ID kept for In-Reply-To */

/* One delivery's row, reply and result: what the transaction records. */
struct delivery {
	struct service *svc;
	const char *via;
	int64_t now;
	size_t len;                       /* raw bytes */
	char hash[HASH_TEXT_LEN + 1];     /* keyed hash of the bytes */
	const char *outcome;              /* the row's outcome */
	const char *rule;                 /* or NULL */
	const char *reason;               /* or NULL */
	const char *state;                /* open, closed */
	uint8_t *raw_box;                 /* the sealed raw message, or NULL: not kept */
	size_t raw_len;                   /* its length */
	uint8_t *reply_box;               /* the sealed reply headers, or NULL */
	size_t reply_len;                 /* its length */
	const char *notice;               /* the reply's notice, or NULL: none */
	char reply_to[MAIL_ADDR_MAX + 1]; /* where the reply goes, "" for nowhere */
	bool repeat_news;                 /* a repeat: its request's news mailed again */
	bool on_file;                     /* the request's mail goes to an address on file */
	int64_t request_id;               /* out: the request made or resolved to */
	int64_t id;                       /* out: the row */
	bool replied;                     /* out: a reply was queued */
	lethe_rc txn_rc;                  /* out: what record_txn() returned */
};

/* Wipe and free what @d holds of the mail. */
static void
delivery_clear(struct delivery *d)
{
	if (d->raw_box != NULL)
		sodium_memzero(d->raw_box, d->raw_len);
	free(d->raw_box);
	d->raw_box = NULL;
	if (d->reply_box != NULL)
		sodium_memzero(d->reply_box, d->reply_len);
	free(d->reply_box);
	d->reply_box = NULL;
	sodium_memzero(d->reply_to, sizeof(d->reply_to));
}

/* The keyed hash of "mail-in:" + the @len bytes at @raw into @out (hash_keyed()'s form). */
static void
mail_hash(const struct service *svc, const char *raw, size_t len, char out[HASH_TEXT_LEN + 1])
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	hash_hmac_init(&st, svc->cfg->key, HASH_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)"mail-in:", 8);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)raw, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, HASH_PREFIX, 5);
	hash_hex(mac, 16, out + 5);
	sodium_memzero(&st, sizeof(st));
}

/* The keyed rate key of @prefix + @s (lower-cased) into @out. */
static void
rate_key(const struct service *svc, const char *prefix, const char *s, char out[HASH_TEXT_LEN + 1])
{
	char buf[16 + MAIL_ADDR_MAX + 1];
	size_t n = strlen(prefix), i;

	memcpy(buf, prefix, n);
	for (i = 0; s[i] != '\0' && n < sizeof(buf) - 1; i++)
		buf[n++] = (char)tolower((unsigned char)s[i]);
	buf[n] = '\0';
	hash_keyed(svc->cfg->key, buf, n, out);
	sodium_memzero(buf, sizeof(buf));
}

/*
 * The reply's headers of @m sealed into @d (JSON {"message_id",
 * "subject"}, plus "code" for a status reply: the code asked about).
 */
static lethe_rc
seal_reply(struct delivery *d, const struct mail_in *m, const char *code, struct lethe_err *err)
{
	char subject[REPLY_SUBJECT_KEEP + 1], mid[REPLY_MSGID_MAX + 3];
	json_t *o = json_object();
	size_t n = m->subject != NULL ? strlen(m->subject) : 0;
	char *s;

	/* Enough for "Re: " + 200 bytes, cut on a UTF-8 character's boundary. */
	if (n > REPLY_SUBJECT_KEEP) {
		n = REPLY_SUBJECT_KEEP;
		while (n > 0 && ((unsigned char)m->subject[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(subject, n > 0 ? m->subject : "", n);
	subject[n] = '\0';
	/* In-Reply-To and References take it with its brackets; a silly length: none. */
	if (m->message_id != NULL && m->message_id[0] != '\0' &&
	    strlen(m->message_id) <= REPLY_MSGID_MAX) {
		snprintf(mid, sizeof(mid), "<%s>", m->message_id);
		json_object_set_new(o, "message_id", json_string(mid));
	} else {
		json_object_set_new(o, "message_id", json_null());
	}
	json_object_set_new(o, "subject", json_string(subject));
	sodium_memzero(subject, sizeof(subject));
	sodium_memzero(mid, sizeof(mid));
	if (code != NULL && code[0] != '\0')
		json_object_set_new(o, "code", json_string(code));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return lethe_err_set(err, LETHE_E_INTERNAL, "out of memory");
	d->reply_box = seal_bytes(d->svc->cfg->key, MAILIN_SEAL_REPLY, s, strlen(s), &d->reply_len);
	sodium_memzero(s, strlen(s));
	free(s);
	if (d->reply_box == NULL)
		return lethe_err_set(err, LETHE_E_INTERNAL, "out of memory");
	return LETHE_OK;
}

/* The raw message sealed into @d (kept while the request or the operator needs it). */
static lethe_rc
seal_raw(struct delivery *d, const char *raw, size_t len, struct lethe_err *err)
{
	d->raw_box = seal_bytes(d->svc->cfg->key, MAILIN_SEAL_RAW, raw, len, &d->raw_len);
	return d->raw_box != NULL ? LETHE_OK
	                          : lethe_err_set(err, LETHE_E_INTERNAL, "out of memory");
}

/*
 * One more mail to @addr under mailbox.replies: its address window
 * ("reply:" + the address) and the total window @total ("reply-total:" or
 * "on-file-total:"), counted only while both allow it; *@ok says whether.
 */
static lethe_rc
mail_allowed(struct delivery *d, struct store *st, const char *addr, const char *total, bool *ok,
             struct lethe_err *err)
{
	const struct mailbox_config *mb = &d->svc->cfg->mailbox;
	char ka[HASH_TEXT_LEN + 1], kt[HASH_TEXT_LEN + 1];
	bool ok_a = false, ok_t = false;
	lethe_rc rc;

	rate_key(d->svc, "reply:", addr, ka);
	rate_key(d->svc, total, "", kt);
	rc = store_rate_hit(st, ka, mb->reply_window_s, mb->reply_per_address, d->now, &ok_a, err);
	if (rc == LETHE_OK && ok_a)
		rc =
		    store_rate_hit(st, kt, mb->reply_window_s, mb->reply_total, d->now, &ok_t, err);
	*ok = rc == LETHE_OK && ok_a && ok_t;
	return rc;
}

/*
 * The mails of request @request_id this delivery queued (ids above @after:
 * its first notice, or its news again), each counted against its
 * recipient's windows: skipped when over one, else claimed after the reply
 * queued with them (the reply comes first whether or not a notice went).
 * A request confirmed at an address on file counts in a total of its own
 * ("on-file-total:"): the sender's reply windows never move with what is
 * on file, so its replies cannot tell whether an account exists.
 */
static lethe_rc
meter_request_mail(struct delivery *d, struct store *st, int64_t request_id, int64_t after,
                   struct lethe_err *err)
{
	char addr[MAIL_ADDR_MAX + 1];
	uint8_t *box = NULL;
	size_t boxlen = 0;
	int64_t id = 0;
	bool ok;
	lethe_rc rc;

	for (;;) {
		rc = store_mail_request_next(st, request_id, after, &id, &box, &boxlen, err);
		if (rc != LETHE_OK)
			break;
		after = id;
		ok = true;
		if (box != NULL && request_notify_open(d->svc->cfg->key, box, boxlen, addr,
		                                       sizeof(addr)) == LETHE_OK)
			rc = mail_allowed(d, st, addr,
			                  d->on_file ? "on-file-total:" : "reply-total:", &ok, err);
		sodium_memzero(addr, sizeof(addr));
		if (box != NULL)
			sodium_memzero(box, boxlen);
		free(box);
		box = NULL;
		if (rc == LETHE_OK)
			rc = ok ? store_mail_after_replies(st, id, err)
			        : store_mail_skip(st, id, "over mailbox.replies", d->now, err);
		if (rc != LETHE_OK)
			break;
	}
	return rc == LETHE_E_NOTFOUND ? LETHE_OK : rc;
}

/*
 * A repeat's news mailed again at most once per mailbox.replies window per
 * request ("news:" + its id): *@ok says whether now.
 */
static lethe_rc
news_allowed(struct delivery *d, struct store *st, int64_t request_id, bool *ok,
             struct lethe_err *err)
{
	char id[32], k[HASH_TEXT_LEN + 1];

	snprintf(id, sizeof(id), "%lld", (long long)request_id);
	rate_key(d->svc, "news:", id, k);
	return store_rate_hit(st, k, d->svc->cfg->mailbox.reply_window_s, 1, d->now, ok, err);
}

/*
 * Inside the caller's transaction: the reply's rate windows, the row, the
 * reply queued, and for a request the mails it queued (its first notice,
 * or for a repeat its news again, at most once per window) metered.
 * LETHE_E_CONFLICT if the mail was recorded already.
 */
static lethe_rc
record_txn(struct delivery *d, struct store *st, int64_t request_id, struct lethe_err *err)
{
	struct store_mailin_new n;
	uint8_t *to = NULL;
	size_t tolen = 0;
	int64_t after = 0;
	bool news = false;
	lethe_rc rc = LETHE_OK;

	d->replied = false;
	if (d->notice != NULL && d->reply_to[0] != '\0')
		rc = mail_allowed(d, st, d->reply_to, "reply-total:", &d->replied, err);
	memset(&n, 0, sizeof(n));
	n.hash = d->hash;
	n.via = d->via;
	n.now = d->now;
	n.bytes = (int64_t)d->len;
	n.outcome = d->outcome;
	n.rule = d->rule;
	n.reason = d->reason;
	n.request_id = request_id;
	n.replied = d->replied;
	n.state = d->state;
	n.raw_box = d->raw_box;
	n.raw_len = d->raw_len;
	n.reply_box = d->replied ? d->reply_box : NULL;
	n.reply_len = d->replied ? d->reply_len : 0;
	if (rc == LETHE_OK)
		rc = store_mailin_insert(st, &n, &d->id, err);
	if (rc == LETHE_OK && d->replied) {
		to = request_notify_seal(d->svc->cfg->key, d->reply_to, &tolen);
		rc = to != NULL ? store_mail_add_reply(st, d->id, request_id, d->notice, to, tolen,
		                                       d->now, err)
		                : lethe_err_set(err, LETHE_E_INTERNAL, "out of memory");
	}
	if (rc == LETHE_OK && d->repeat_news && request_id > 0) {
		struct store_request r;

		rc = news_allowed(d, st, request_id, &news, err);
		if (rc == LETHE_OK && news)
			rc = store_mail_last_id(st, &after, err);
		if (rc == LETHE_OK && news)
			rc = store_request_get(st, request_id, &r, err);
		if (rc == LETHE_OK && news)
			rc = service__repeat_news_txn(d->svc, &r, d->now, err);
	}
	/* A new request's mails are all this transaction's (after 0). */
	if (rc == LETHE_OK && request_id > 0 && (!d->repeat_news || news))
		rc = meter_request_mail(d, st, request_id, after, err);
	if (to != NULL)
		sodium_memzero(to, tolen);
	free(to);
	d->txn_rc = rc;
	return rc;
}

/* service_request_in's in_txn: the row and reply recorded with the request. */
static lethe_rc
request_txn(void *arg, struct store *st, int64_t request_id, bool repeat, struct lethe_err *err)
{
	struct delivery *d = arg;

	d->repeat_news = repeat;
	d->request_id = request_id;
	return record_txn(d, st, request_id, err);
}

/* The row and reply of an outcome without a request, in a transaction of its own. */
static lethe_rc
record_alone(struct delivery *d, struct lethe_err *err)
{
	struct service *svc = d->svc;
	lethe_rc rc;

	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	/* Durable before the front end acknowledges it: this commit only is synced. */
	if (rc == LETHE_OK)
		rc = store_set_durable(svc->st, err);
	if (rc == LETHE_OK)
		rc = store_begin(svc->st, err);
	if (rc == LETHE_OK) {
		rc = record_txn(d, svc->st, 0, err);
		if (rc == LETHE_OK)
			rc = store_commit(svc->st, err);
		else
			store_rollback(svc->st);
	}
	if (svc->st != NULL)
		store_set_normal_sync(svc->st);
	pthread_mutex_unlock(&svc->st_mu);
	return rc;
}

/* The row of the mail whose hash @d has, into @out; LETHE_E_NOTFOUND if none. */
static lethe_rc
find_earlier(struct delivery *d, struct service_mailin_result *out, struct lethe_err *err)
{
	struct service *svc = d->svc;
	struct store_mailin m;
	lethe_rc rc;

	pthread_mutex_lock(&svc->st_mu);
	rc = svc->st != NULL ? LETHE_OK : service_store_open(svc, err);
	if (rc == LETHE_OK)
		rc = store_mailin_by_hash(svc->st, d->hash, &m, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc == LETHE_OK)
		log_info("mail %lld: delivered again; recorded already", (long long)m.id);
	if (rc == LETHE_OK && out != NULL) {
		out->id = m.id;
		snprintf(out->outcome, sizeof(out->outcome), "duplicate");
		out->request_id = m.request_id;
		out->replied = false;
	}
	return rc;
}

/*
 * The request @dec asks for, with @d's row and reply in its transaction.
 * LETHE_E_INVALID or LETHE_E_LIMIT (the request cannot be made: the
 * identity names two people, an export too soon) leave nothing stored,
 * for the caller to record the mail as unmatched.
 */
static lethe_rc
make_request(struct delivery *d, const struct mailbox_decision *dec, int64_t *request_id,
             struct lethe_err *err)
{
	struct service_request_in in;
	struct plan_id id;
	json_t *out = NULL;
	bool repeat = false;
	lethe_rc rc;

	memset(&in, 0, sizeof(in));
	/* The sender's address is the person's email identity (mail.identity). */
	id.kind = dec->who.conf != NULL                ? dec->identity
	          : d->svc->cfg->mail.identity != NULL ? d->svc->cfg->mail.identity
	                                               : "email";
	id.value = dec->who.value;
	in.kind = dec->rule->kind;
	in.scope = dec->rule->scope;
	in.source = "email";
	in.actor = "email";
	in.ids = &id;
	in.nids = 1;
	if (dec->outcome == MAILBOX_REVIEW) {
		in.review = true;
		in.notify =
		    dec->notify[0] != '\0' && service__address_ok(dec->notify) ? dec->notify : NULL;
	} else {
		in.verify_by_link = true;
		in.link_on_file = dec->who.conf != NULL; /* a claim: the address on file */
	}
	in.in_txn = request_txn;
	in.in_txn_arg = d;
	in.durable = true; /* LMTP's 250 and Maildir's unlink come after the commit */
	d->on_file = in.link_on_file;
	d->txn_rc = LETHE_OK;
	rc = service_request_create(d->svc, &in, &out, &repeat, err);
	if (rc == LETHE_OK)
		*request_id = d->request_id;
	json_decref(out);
	return rc;
}

/*
 * LMTP's refusal of a message over a limit or unreadable, nothing stored:
 * LETHE_E_TOOBIG over max_size (552 5.3.4), LETHE_E_INVALID for too many
 * parts or not a message (554 5.6.0).
 */
static lethe_rc
lmtp_refusal(lethe_rc prc, size_t len, const struct mailbox_config *mb, struct lethe_err *err)
{
	if (prc == LETHE_E_INVALID)
		return lethe_err_set(err, LETHE_E_INVALID, "not a readable message");
	if (len > (size_t)mb->max_size)
		return lethe_err_set(err, LETHE_E_TOOBIG, "message too large (at most %lld bytes)",
		                     (long long)mb->max_size);
	return lethe_err_set(err, LETHE_E_INVALID, "too many MIME parts (at most %lld)",
	                     (long long)mb->max_parts);
}

/* @n bytes as a short text: "12.3 MB" from 1 MiB on (MiB, as mailbox.max_size), else "71 KB". */
static void
size_text(int64_t n, char *out, size_t cap)
{
	if (n >= 1024 * 1024) {
		snprintf(out, cap, "%.1f MB", (double)n / (1024.0 * 1024.0));
		/* "10.0 MB" reads "10 MB". */
		if (strlen(out) > 5 && strcmp(out + strlen(out) - 5, ".0 MB") == 0)
			memmove(out + strlen(out) - 5, " MB", 4);
	} else {
		snprintf(out, cap, "%lld KB", (long long)((n + 1023) / 1024));
	}
}

/* The refusal's reason for the row and the reply, without content. */
static void
refusal_reason(lethe_rc prc, size_t len, const struct mailbox_config *mb, char *out, size_t cap)
{
	char got[32], max[32];

	if (prc == LETHE_E_INVALID) {
		snprintf(out, cap, "not a readable message");
	} else if (len > (size_t)mb->max_size) {
		size_text((int64_t)len, got, sizeof(got));
		size_text(mb->max_size, max, sizeof(max));
		/* A front end that stops reading at max_size + 1 bytes does not know the size. */
		if (len == (size_t)mb->max_size + 1)
			snprintf(out, cap, "too large (at most %s)", max);
		else
			snprintf(out, cap, "too large (%s; at most %s)", got, max);
	} else {
		snprintf(out, cap, "too many parts");
	}
}

lethe_rc
service_mailin_deliver(struct service *svc, const char *raw, size_t len, const char *envelope_from,
                       const char *via, struct service_mailin_result *out, struct lethe_err *err)
{
	const struct lethe_config *cfg = svc->cfg;
	const struct mailbox_config *mb = &cfg->mailbox;
	struct mail_in_limits lim = {.max_size = (size_t)mb->max_size,
	                             .max_parts = (size_t)mb->max_parts};
	struct mailbox_decision dec;
	struct delivery d;
	struct mail_in m;
	char reason[160];
	int64_t request_id = 0;
	bool maildir = via != NULL && strcmp(via, "maildir") == 0;
	lethe_rc rc, prc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!mb->enabled)
		return lethe_err_set(err, LETHE_E_UNAVAILABLE,
		                     "lethe.yaml has no mailbox: section");
	if (raw == NULL || via == NULL || (!maildir && strcmp(via, "lmtp") != 0))
		return lethe_err_set(err, LETHE_E_INTERNAL, "bad arguments to the mail intake");
	/* Refused at the door: LMTP's 552 stores nothing, not even the hash. */
	if (!maildir && len > (size_t)mb->max_size)
		return lmtp_refusal(LETHE_E_TOOBIG, len, mb, err);
	memset(&d, 0, sizeof(d));
	memset(&m, 0, sizeof(m));
	memset(&dec, 0, sizeof(dec));
	d.svc = svc;
	d.via = via;
	d.now = time_now();
	d.len = len;
	reason[0] = '\0';
	mail_hash(svc, raw, len, d.hash);
	/* A redelivery after a crash (the commit made, the ack lost): nothing new. */
	rc = find_earlier(&d, out, err);
	if (rc == LETHE_OK)
		goto done;
	if (rc != LETHE_E_NOTFOUND)
		goto done;
	/* The replies' rate windows that ended are forgotten now and then. */
	pthread_mutex_lock(&svc->st_mu);
	rc = service__rate_purge(svc, d.now, err);
	pthread_mutex_unlock(&svc->st_mu);
	if (rc != LETHE_OK)
		goto done;
	prc = len > (size_t)mb->max_size ? LETHE_E_TOOBIG
	                                 : mail_in_parse(raw, len, envelope_from, &lim, &m, err);
	if (prc == LETHE_E_TOOBIG || prc == LETHE_E_INVALID) {
		if (!maildir) {
			rc = lmtp_refusal(prc, len, mb, err);
			goto done;
		}
		/* A Maildir's refusal is recorded and answered (its head says where). */
		refusal_reason(prc, len, mb, reason, sizeof(reason));
		mail_in_free(&m);
		d.outcome = "refused";
		d.reason = reason;
		d.state = "closed";
		if (mail_in_parse_head(raw, len, envelope_from, &m, err) == LETHE_OK) {
			mailbox_understand(mb, cfg->mail.from, &m, &dec);
			if (m.robot == MAIL_IN_HUMAN && dec.no_reply == NULL &&
			    dec.reply_to[0] != '\0') {
				d.notice = "reply_refused";
				snprintf(d.reply_to, sizeof(d.reply_to), "%s", dec.reply_to);
				rc = seal_reply(&d, &m, NULL, err);
				if (rc != LETHE_OK)
					goto done;
			}
		}
		rc = record_alone(&d, err);
		goto recorded;
	}
	if (prc != LETHE_OK) {
		rc = prc; /* GMime missing, memory: deliver again later */
		goto done;
	}
	mailbox_understand(mb, cfg->mail.from, &m, &dec);
	d.outcome = mailbox_outcome_str(dec.outcome);
	d.rule = dec.rule != NULL ? dec.rule->name : NULL;
	d.reason = dec.reason;
	if (dec.no_reply == NULL && dec.reply_to[0] != '\0')
		snprintf(d.reply_to, sizeof(d.reply_to), "%s", dec.reply_to);
	switch (dec.outcome) {
	case MAILBOX_REQUEST:
	case MAILBOX_REVIEW:
		/* Sender: the verify mail is the answer; a claim: the same reply whatever exists.
		 */
		d.notice = dec.outcome == MAILBOX_REVIEW ? "reply_review"
		           : dec.who.conf != NULL        ? "reply_request"
		                                         : NULL;
		d.state = "open";
		rc = seal_raw(&d, raw, len, err);
		if (rc == LETHE_OK && d.notice != NULL)
			rc = seal_reply(&d, &m, NULL, err);
		if (rc != LETHE_OK)
			goto done;
		rc = make_request(&d, &dec, &request_id, err);
		if (rc == LETHE_E_CONFLICT && d.txn_rc == LETHE_E_CONFLICT) {
			/* Delivered twice at once: the other delivery recorded it. */
			rc = find_earlier(&d, out, err);
			goto done;
		}
		if (rc == LETHE_OK || d.txn_rc != LETHE_OK ||
		    (rc != LETHE_E_INVALID && rc != LETHE_E_LIMIT))
			goto recorded;
		/*
		 * Over export.rate_limit: the answer any such mail gets, nothing
		 * made or kept (saying so would tell that the person asked before).
		 */
		if (rc == LETHE_E_LIMIT) {
			d.reason = "over export.rate_limit: nothing made";
			d.state = "closed";
			sodium_memzero(d.raw_box, d.raw_len);
			free(d.raw_box);
			d.raw_box = NULL;
			d.raw_len = 0;
			rc = record_alone(&d, err);
			break;
		}
		/* No request can be made of it: the operator's queue. */
		d.outcome = "unmatched";
		d.reason = "no request could be made of what it names";
		d.notice = "reply_unmatched";
		if (d.reply_box == NULL)
			rc = seal_reply(&d, &m, NULL, err);
		else
			rc = LETHE_OK;
		if (rc == LETHE_OK)
			rc = record_alone(&d, err);
		break;
	case MAILBOX_STATUS:
		d.notice = "reply_status";
		d.state = "closed";
		rc = seal_reply(&d, &m, dec.code, err);
		if (rc == LETHE_OK)
			rc = record_alone(&d, err);
		break;
	case MAILBOX_UNMATCHED:
		d.notice = "reply_unmatched";
		d.state = "open";
		rc = seal_raw(&d, raw, len, err);
		if (rc == LETHE_OK)
			rc = seal_reply(&d, &m, NULL, err);
		if (rc == LETHE_OK)
			rc = record_alone(&d, err);
		break;
	case MAILBOX_ROBOT:
	case MAILBOX_REFUSED:
	default:
		/* A robot's mail: recorded, never answered, nothing kept. */
		d.reply_to[0] = '\0';
		d.state = "closed";
		rc = record_alone(&d, err);
		break;
	}
recorded:
	if (rc == LETHE_E_CONFLICT && d.txn_rc == LETHE_E_CONFLICT) {
		rc = find_earlier(&d, out, err);
		goto done;
	}
	if (rc == LETHE_OK) {
		if (out != NULL) {
			out->id = d.id;
			snprintf(out->outcome, sizeof(out->outcome), "%s", d.outcome);
			out->request_id = request_id;
			out->replied = d.replied;
		}
		if (request_id > 0)
			log_info("mail %lld: %s (rule %s), request %lld", (long long)d.id,
			         d.outcome, d.rule != NULL ? d.rule : "none",
			         (long long)request_id);
		else
			log_info("mail %lld: %s (rule %s)%s%s", (long long)d.id, d.outcome,
			         d.rule != NULL ? d.rule : "none", d.reason != NULL ? ": " : "",
			         d.reason != NULL ? d.reason : "");
		if (d.replied || request_id > 0)
			service__mail_kick(svc);
	}
done:
	mailbox_decision_wipe(&dec);
	sodium_memzero(&dec, sizeof(dec));
	mail_in_free(&m);
	delivery_clear(&d);
	return rc;
}
