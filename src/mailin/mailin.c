/* SPDX-License-Identifier: MIT */
/*
 * mailin.c - the privacy mailbox's front ends inside `lethe serve`
 * (mailin.h): the LMTP listener, and one housekeeping thread that reads
 * mailbox.maildir every mailbox.poll and forgets what mailbox.keep allows
 * no longer (service_mailbox_prune()) at start and every MAILIN_PRUNE_S.
 */
#include "util/fmacros.h"

#include <pthread.h>
#include <time.h>

#include "mailin/mailin.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct mailin {
	struct service *svc;
	const struct mailbox_config *mb;
	struct mailin_lmtp *lmtp;
	int lockfd; /* the Maildir's lock, or -1 */
	pthread_t th;
	bool started;
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* Forget what mailbox.keep allows no longer; failures are logged (the next hour retries). */
static void
prune(struct mailin *m)
{
	struct lethe_err err = {0};
	int64_t n = 0;

	if (service_mailbox_prune(m->svc, time_now(), &n, &err) != LETHE_OK)
		log_warnx("mailbox: pruning by mailbox.keep failed (retried in an hour): %s",
		          err.msg);
	else if (n > 0)
		log_info("mailbox: %lld mails closed or forgotten (mailbox.keep)", (long long)n);
}

static void *
housekeeping(void *arg)
{
	struct mailin *m = arg;
	int64_t last_prune = 0;

	while (!atomic_load(&m->stop)) {
		int64_t now = time_now(), wait_ms;
		struct timespec ts;

		if (last_prune == 0 || now - last_prune >= MAILIN_PRUNE_S) {
			prune(m);
			last_prune = now;
		}
		if (m->mb->maildir != NULL) {
			struct mailin_counts c = {0};
			struct lethe_err err = {0};

			if (mailin_maildir_pass(m->svc, m->mb->maildir, m->mb->max_size, &m->stop,
			                        &c, &err) != LETHE_OK)
				log_warnx("mailbox.maildir: %s", err.msg);
		}
		wait_ms = m->mb->maildir != NULL ? m->mb->poll_ms : (int64_t)MAILIN_PRUNE_S * 1000;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&m->mu);
		if (!atomic_load(&m->stop))
			pthread_cond_timedwait(&m->cv, &m->mu, &ts);
		pthread_mutex_unlock(&m->mu);
	}
	return NULL;
}

lethe_rc
mailin_start(struct service *svc, const struct mailbox_config *mb, struct mailin **out,
             struct lethe_err *err)
{
	struct mailin *m;
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	if (!mb->enabled)
		return LETHE_OK;
	m = xcalloc(1, sizeof(*m));
	m->svc = svc;
	m->mb = mb;
	m->lockfd = -1;
	atomic_init(&m->stop, false);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if (mb->maildir != NULL)
		rc = mailin_maildir_lock(mb->maildir, &m->lockfd, err);
	if (rc == LETHE_OK && mb->lmtp != NULL)
		rc = mailin_lmtp_start(svc, mb, &m->lmtp, err);
	if (rc == LETHE_OK) {
		if (pthread_create(&m->th, NULL, housekeeping, m) != 0)
			rc =
			    lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the mailbox thread");
		else
			m->started = true;
	}
	if (rc != LETHE_OK) {
		mailin_stop(m);
		return rc;
	}
	if (mb->maildir != NULL)
		log_info("mailbox: reading the Maildir %s every %lld ms", mb->maildir,
		         (long long)mb->poll_ms);
	*out = m;
	return LETHE_OK;
}

void
mailin_stop(struct mailin *m)
{
	if (m == NULL)
		return;
	mailin_lmtp_stop(m->lmtp);
	pthread_mutex_lock(&m->mu);
	atomic_store(&m->stop, true);
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->started)
		pthread_join(m->th, NULL);
	mailin_maildir_unlock(m->lockfd);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
