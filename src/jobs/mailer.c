/* SPDX-License-Identifier: MIT */
/*
 * mailer.c - the mail outbox's thread (see mailer.h and
 * docs/internals/mail.md).
 *
 * One thread, its own state-store connection and one SMTP sender.  A mail
 * is claimed in one statement (state sending, a lease as long as a send
 * can take), so two processes never send the same mail at the same time;
 * the recipient is opened, the message composed (the service's callback)
 * and sent with no lock held; the outcome is written back only while the
 * lease is still ours.  A process killed during a send leaves the mail
 * sending: the next claim takes it over (lapsed lease, or a dead process
 * on this host) and sends it again, so a mail goes out at least once.
 *
 * Times: next_at and leases are real-clock milliseconds (mail queued "at
 * once" has next_at 0); a mail's age is measured on time_now(), the clock
 * it was queued by.  Nothing of an address or a body reaches the log: a
 * line names the mail's and the request's numbers and the server's answer.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <time.h>

#include "engine/request.h"
#include "jobs/mailer.h"
#include "util/lease.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/worker.h"

#define IDLE_MS 1000            /* look for due mail at least this often */
#define RETRY_OPEN_MS 5000      /* the state store could not be opened */
#define ERROR_NAP_MAX_MS 60000  /* store errors in a row: naps double from IDLE_MS to this */
#define LEASE_DEFAULT_MS 120000 /* mailer_opts.lease_ms 0 */
#define LEASE_SLACK_MS 30000    /* a lease outlasts the longest send by this much */
#define BATCH_MAX 64            /* mails per wake-up before looking at the clock again */
#define MESSAGE_MAX (8u << 20)  /* bytes of one built message */
#define WHY_MAX 200             /* bytes of a failure's reason kept */

struct mailer {
	struct mailer_opts o;        /* options (borrowed strings) */
	int64_t lease_ms;            /* a claim's lease */
	struct worker w;             /* the thread */
	char owner[LEASE_OWNER_MAX]; /* this process's lease name */
	pthread_mutex_t mu;          /* guards the counters */
	int64_t sent;                /* mails handed to SMTP */
	int64_t retried;             /* tries that failed and were retried */
	int64_t dead;                /* dead letters made */
	int64_t skipped;             /* notices skipped */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
mailer_backoff_ms(const struct mail_config *mc, int64_t failures, uint32_t rnd)
{
	int64_t bound = mc->backoff_base_ms > 0 ? mc->backoff_base_ms : 1;
	int64_t cap = mc->backoff_cap_ms > 0 ? mc->backoff_cap_ms : bound;
	int64_t i;

	for (i = 1; i < failures && bound < cap; i++)
		bound *= 2;
	if (bound > cap)
		bound = cap;
	/* Full jitter: uniform in [0, bound]. */
	return (int64_t)(((uint64_t)rnd * (uint64_t)(bound + 1)) >> 32);
}

static void
count(struct mailer *m, int64_t *counter)
{
	pthread_mutex_lock(&m->mu);
	(*counter)++;
	pthread_mutex_unlock(&m->mu);
}

/* ---- one mail ------------------------------------------------------------------ */

/* What @ml is about, for a log line: "request N" or "incoming mail N" (a reply). */
static void
about(const struct store_mail *ml, char *out, size_t cap)
{
	if (ml->mail_in_id != 0)
		snprintf(out, cap, "incoming mail %lld", (long long)ml->mail_in_id);
	else
		snprintf(out, cap, "request %lld", (long long)ml->request_id);
}

/* End mail @ml as @state with @why; a dead letter is logged once (by the one who ended it). */
static lethe_rc
finish(struct mailer *m, struct store *st, const struct store_mail *ml, const char *state,
       const char *why, struct lethe_err *err)
{
	bool applied = false;
	char what[64];
	lethe_rc rc;

	rc = store_mail_finish(st, ml->id, m->owner, state, why, time_now(), &applied, err);
	if (rc != LETHE_OK || !applied)
		return rc;
	about(ml, what, sizeof(what));
	if (strcmp(state, "dead") == 0) {
		log_warnx("mail %lld about %s (%s) is a dead letter: %s", (long long)ml->id, what,
		          ml->notice, why != NULL ? why : "");
		count(m, &m->dead);
	} else if (strcmp(state, "sent") == 0) {
		log_info("mail %lld about %s (%s): sent", (long long)ml->id, what, ml->notice);
		count(m, &m->sent);
	} else {
		log_info("mail %lld about %s (%s): skipped: %s", (long long)ml->id, what,
		         ml->notice, why != NULL ? why : "");
		count(m, &m->skipped);
	}
	return LETHE_OK;
}

/* A try of @ml failed for a reason that may pass: retried after a backoff, or dead past limits. */
static lethe_rc
failed(struct mailer *m, struct store *st, const struct store_mail *ml, const char *why,
       struct lethe_err *err)
{
	const struct mail_config *mc = m->o.mail;
	char text[WHY_MAX + 64];

	if (mc->max_attempts > 0 && ml->attempts >= mc->max_attempts) {
		snprintf(text, sizeof(text), "gave up after %lld attempts: %.*s",
		         (long long)ml->attempts, WHY_MAX, why);
		return finish(m, st, ml, "dead", text, err);
	}
	if (mc->max_age_s > 0 && time_now() - ml->created_at >= mc->max_age_s) {
		snprintf(text, sizeof(text), "gave up after %lld s: %.*s", (long long)mc->max_age_s,
		         WHY_MAX, why);
		return finish(m, st, ml, "dead", text, err);
	}
	snprintf(text, sizeof(text), "%.*s", WHY_MAX, why);
	count(m, &m->retried);
	return store_mail_retry(
	    st, ml->id, m->owner,
	    now_ms() + mailer_backoff_ms(mc, ml->attempts, randombytes_random()), text, err);
}

/* Compose, build and send @ml to @to; its outcome recorded. */
static lethe_rc
deliver(struct mailer *m, struct store *st, struct mail_smtp *smtp, const struct store_mail *ml,
        const char *to, struct lethe_err *err)
{
	struct mail_msg msg;
	struct lethe_err e = {0};
	struct buf b;
	bool skip = false;
	lethe_rc rc;

	memset(&msg, 0, sizeof(msg));
	buf_init(&b, MESSAGE_MAX);
	rc = m->o.compose(m->o.arg, ml, to, &msg, &skip, &e);
	if (rc != LETHE_OK) {
		rc = failed(m, st, ml, e.msg[0] ? e.msg : lethe_rc_str(rc), err);
		goto out;
	}
	if (skip) {
		rc = finish(m, st, ml, "skipped", e.msg[0] ? e.msg : "not to be sent", err);
		goto out;
	}
	free(msg.to);
	msg.to = xstrdup(to);
	rc = mail_build(m->o.mail, &msg, time_now(), &b, &e);
	if (rc == LETHE_E_INVALID) {
		/* A value that cannot go into a header: never sendable, never retried. */
		rc = finish(m, st, ml, "dead", e.msg, err);
		goto out;
	}
	if (rc != LETHE_OK) {
		rc = failed(m, st, ml, e.msg, err);
		goto out;
	}
	rc = mail_smtp_send(smtp, to, buf_str(&b), b.len, &e);
	if (rc == LETHE_OK)
		rc = finish(m, st, ml, "sent", NULL, err);
	else if (rc == LETHE_E_INVALID) /* refused for good (5xx) */
		rc = finish(m, st, ml, "dead", e.msg, err);
	else
		rc = failed(m, st, ml, e.msg[0] ? e.msg : lethe_rc_str(rc), err);
out:
	if (b.data != NULL)
		sodium_memzero(b.data, b.len);
	buf_free(&b);
	mail_msg_free(&msg);
	return rc;
}

/* Claim one due mail and send it; LETHE_E_NOTFOUND if none is due. */
static lethe_rc
run_one(struct mailer *m, struct store *st, struct mail_smtp *smtp, struct lethe_err *err)
{
	struct store_mail ml;
	uint8_t *box = NULL;
	size_t boxlen = 0;
	char to[MAIL_ADDR_MAX + 1];
	lethe_rc rc;

	rc = store_mail_claim(st, m->owner, now_ms(), m->lease_ms, &ml, &box, &boxlen, err);
	if (rc != LETHE_OK)
		return rc;
	if (box == NULL)
		rc = finish(m, st, &ml, "skipped", "no recipient any more", err);
	else if (request_notify_open(m->o.key, box, boxlen, to, sizeof(to)) != LETHE_OK)
		/* The key is checked against the store at start: this box is damaged. */
		rc = finish(m, st, &ml, "dead", "its recipient cannot be opened", err);
	else
		rc = deliver(m, st, smtp, &ml, to, err);
	sodium_memzero(to, sizeof(to));
	if (box != NULL)
		sodium_memzero(box, boxlen);
	free(box);
	return rc;
}

/* ---- the thread ------------------------------------------------------------------- */

static void
mailer_main(struct worker *w, void *arg)
{
	static struct log_limit run_log = LOG_LIMIT_INIT(10, 60000.);
	struct mailer *m = arg;
	struct mail_smtp *smtp = mail_smtp_new(m->o.mail);
	struct store *st = NULL;
	struct lethe_err err = {0};
	int64_t error_nap = 0; /* the nap after the last error in a row, 0 after a success */

	for (;;) {
		int64_t next = 0, wait = IDLE_MS;
		int ran = 0;
		lethe_rc rc = LETHE_OK;

		if (st == NULL && store_open(m->o.state_db, &st, &err) != LETHE_OK) {
			static struct log_limit lim = LOG_LIMIT_INIT(1, 60000.);

			st = NULL;
			log_warnx_limited(&lim, "mailer: %s; retrying", err.msg);
			if (worker_nap(w, RETRY_OPEN_MS))
				break;
			continue;
		}
		while (rc == LETHE_OK && ran < BATCH_MAX && !w->stop_flag) {
			rc = run_one(m, st, smtp, &err);
			if (rc == LETHE_OK)
				ran++;
		}
		if (rc != LETHE_OK && rc != LETHE_E_NOTFOUND && rc != LETHE_E_BUSY)
			log_warnx_limited(&run_log, "mailer: %s", err.msg);
		if (w->stop_flag)
			break;
		if (store_mail_next_due(st, &next, NULL) == LETHE_OK && next > 0)
			wait = next - now_ms();
		if (wait > IDLE_MS)
			wait = IDLE_MS;
		if (ran >= BATCH_MAX || wait < 1)
			wait = 1;
		/*
		 * A failed claim or write leaves its mail due: without this, a store
		 * error that persists would be retried every millisecond.
		 */
		if (rc != LETHE_OK && rc != LETHE_E_NOTFOUND) {
			error_nap = error_nap == 0 ? IDLE_MS : error_nap * 2;
			if (error_nap > ERROR_NAP_MAX_MS)
				error_nap = ERROR_NAP_MAX_MS;
			wait = error_nap;
		} else {
			error_nap = 0;
		}
		if (worker_nap(w, wait))
			break;
	}
	mail_smtp_free(smtp);
	store_close(st);
}

lethe_rc
mailer_start(const struct mailer_opts *o, struct mailer **out, struct lethe_err *err)
{
	struct mailer *m;
	int64_t send_ms;

	*out = NULL;
	if (o->state_db == NULL || o->mail == NULL || o->key == NULL || o->compose == NULL)
		return lethe_err_set(err, LETHE_E_INTERNAL, "mailer: incomplete options");
	m = xcalloc(1, sizeof(*m));
	m->o = *o;
	/* The lease outlasts the longest send: no other mailer takes a mail being sent. */
	send_ms = o->mail->connect_timeout_ms + o->mail->timeout_ms + LEASE_SLACK_MS;
	m->lease_ms = o->lease_ms > 0 ? o->lease_ms : LEASE_DEFAULT_MS;
	if (m->lease_ms < send_ms)
		m->lease_ms = send_ms;
	lease_owner_format(m->owner, sizeof(m->owner));
	pthread_mutex_init(&m->mu, NULL);
	worker_init(&m->w, NULL);
	if (!worker_start(&m->w, "lethe-mailer", mailer_main, m)) {
		worker_destroy(&m->w);
		pthread_mutex_destroy(&m->mu);
		free(m);
		return lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the mailer thread");
	}
	*out = m;
	return LETHE_OK;
}

void
mailer_kick(struct mailer *m)
{
	if (m != NULL)
		worker_kick(&m->w);
}

void
mailer_stop(struct mailer *m)
{
	if (m == NULL)
		return;
	worker_stop(&m->w);
	worker_destroy(&m->w);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void
mailer_metrics(struct mailer *m, struct buf *b)
{
	int64_t sent, retried, dead, skipped;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	sent = m->sent;
	retried = m->retried;
	dead = m->dead;
	skipped = m->skipped;
	pthread_mutex_unlock(&m->mu);
	buf_addf(b,
	         "# HELP lethe_mail_sent_total Mails this process handed to SMTP.\n"
	         "# TYPE lethe_mail_sent_total counter\nlethe_mail_sent_total %lld\n"
	         "# HELP lethe_mail_retries_total Tries of this process that failed and were "
	         "retried.\n# TYPE lethe_mail_retries_total counter\nlethe_mail_retries_total "
	         "%lld\n"
	         "# HELP lethe_mail_dead_total Dead letters this process made.\n"
	         "# TYPE lethe_mail_dead_total counter\nlethe_mail_dead_total %lld\n"
	         "# HELP lethe_mail_skipped_total Notices this process skipped.\n"
	         "# TYPE lethe_mail_skipped_total counter\nlethe_mail_skipped_total %lld\n",
	         (long long)sent, (long long)retried, (long long)dead, (long long)skipped);
}
