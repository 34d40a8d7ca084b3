/* SPDX-License-Identifier: MIT */
/*
 * mailer.h - the mail outbox's thread: sends the notices the state store
 * queued (store_mail_*), one at a time, through one SMTP connection.
 *
 * Each mail is claimed under a lease (a mailer that dies loses it to the
 * next), its recipient opened, its message composed by the service (the
 * compose function: templates, the request's facts, fresh links) and
 * handed to SMTP.  Accepted: sent.  A temporary failure (no connection,
 * timeout, 4xx) is retried with exponential backoff and full jitter
 * (mail.backoff_base, mail.backoff_cap); after mail.max_attempts tries or
 * mail.max_age it is a dead letter, logged as a warning with the request's
 * number, as is a permanent refusal (5xx) at once.  A notice the compose
 * function says must not go (an address not confirmed) is skipped.  The
 * recipient is wiped from the store once the mail is sent, dead or
 * skipped.  Nothing is logged of an address or a body.  See
 * docs/internals/mail.md.
 */
#ifndef LETHE_JOBS_MAILER_H
#define LETHE_JOBS_MAILER_H

#include "util/fmacros.h"

#include "mail/mail.h"
#include "store/store.h"
#include "util/hash.h"
#include "util/rc.h"

/*
 * Compose mail @m (its recipient @to, already opened) into @out (out->to
 * set by the mailer).  *@skip true: this notice must not be sent (its
 * reason in err->msg, no address in it); the mailer marks it skipped.  An
 * error other than LETHE_OK is retried as a temporary failure.  Called on
 * the mailer's thread.
 */
typedef lethe_rc (*mailer_compose_fn)(void *arg, const struct store_mail *m, const char *to,
                                      struct mail_msg *out, bool *skip, struct lethe_err *err);

/* What a mailer needs; everything borrowed, outliving the mailer. */
struct mailer_opts {
	const char *state_db;           /* the state store (the mailer opens its own connection) */
	const struct mail_config *mail; /* SMTP and the retry policy */
	const uint8_t *key;             /* the anonymize key (HASH_KEY_LEN): opens to_box */
	mailer_compose_fn compose;      /* composes a message */
	void *arg;                      /* its argument */
	int64_t lease_ms;               /* how long a claimed mail is held (0: 2 min) */
};

struct mailer;

/* Start the mailer thread.  On failure nothing runs and *@out is NULL. */
lethe_rc mailer_start(const struct mailer_opts *o, struct mailer **out, struct lethe_err *err);
/* Wake it: a notice was queued. */
void mailer_kick(struct mailer *m);
/* Stop the thread (a mail being sent finishes or times out) and free @m.  NULL is a no-op. */
void mailer_stop(struct mailer *m);
/*
 * Delay before the next try after @failures failed tries (>= 1): a uniform
 * draw from [0, min(cap, base * 2^(failures-1))] ms using @rnd.
 */
int64_t mailer_backoff_ms(const struct mail_config *mc, int64_t failures, uint32_t rnd);
/* Append "lethe_mail_sent_total" and the like of this process to @b (may be empty). */
void mailer_metrics(struct mailer *m, struct buf *b);

#endif /* LETHE_JOBS_MAILER_H */
