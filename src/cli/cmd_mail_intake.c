/* SPDX-License-Identifier: MIT */
/*
 * cmd_mail_intake.c - `lethe mail-intake`: read a Maildir into the privacy
 * mailbox (mailin.h), once (for cron, after fetchmail, getmail or mbsync)
 * or every mailbox.poll until SIGINT or SIGTERM.  Every message goes
 * through service_mailin_deliver() and its file is removed once recorded;
 * one that failed temporarily stays for the next pass.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "cli/cli.h"
#include "mailin/mailin.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Print the counts of @c (text, or JSON with @json). */
static void
print_counts(const char *dir, const struct mailin_counts *c, bool json)
{
	int i;

	if (json) {
		json_t *o = json_object(), *oc = json_object();

		for (i = 0; i < MAILIN_NOUTCOMES; i++)
			json_object_set_new(oc, mailin_outcome_name(i),
			                    json_integer(c->outcome[i]));
		json_object_set_new(o, "delivered", json_integer(c->delivered));
		json_object_set_new(o, "duplicates", json_integer(c->duplicates));
		json_object_set_new(o, "refused", json_integer(c->refused));
		json_object_set_new(o, "failed", json_integer(c->failed));
		json_object_set_new(o, "outcomes", oc);
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
		return;
	}
	printf("Maildir %s: %lld delivered, %lld duplicates, %lld refused, %lld failed (left "
	       "for the next pass)\n",
	       dir, (long long)c->delivered, (long long)c->duplicates, (long long)c->refused,
	       (long long)c->failed);
	for (i = 0; i < MAILIN_NOUTCOMES; i++)
		if (c->outcome[i] > 0)
			printf("  %-10s %lld\n", mailin_outcome_name(i), (long long)c->outcome[i]);
}

/* Read @dir every poll until SIGINT or SIGTERM (blocked in @set). */
static lethe_rc
intake_forever(struct cli_env *env, const char *dir, const sigset_t *set, struct lethe_err *err)
{
	const struct mailbox_config *mb = &env->cfg.mailbox;
	int sig = 0;

	printf("lethe: reading the Maildir %s every %lld ms until SIGINT/SIGTERM\n", dir,
	       (long long)mb->poll_ms);
	fflush(stdout);
	for (;;) {
		struct mailin_counts c = {0};
		struct timespec ts = {.tv_sec = mb->poll_ms / 1000,
		                      .tv_nsec = (mb->poll_ms % 1000) * 1000000};
		lethe_rc rc = mailin_maildir_pass(env->svc, dir, mb->max_size, NULL, &c, err);

		if (rc != LETHE_OK)
			return rc;
		sig = sigtimedwait(set, NULL, &ts);
		if (sig < 0)
			continue; /* the poll interval passed (or EINTR) */
		if (sig == SIGINT || sig == SIGTERM)
			break;
		log_info("signal %d ignored (SIGINT or SIGTERM stop)", sig);
	}
	log_info("signal %d: stopping", sig);
	return LETHE_OK;
}

int
cmd_mail_intake(const struct cli_args *a)
{
	const char *dir = cli_arg_str(a, "maildir", NULL);
	bool once = cli_arg_flag(a, "once"), json = a->json;
	struct cli_env env;
	struct lethe_err err = {0};
	struct mailin_counts c = {0};
	sigset_t set;
	int lockfd = -1, status = 0;
	lethe_rc rc;

	memset(&env, 0, sizeof(env));
	if (json && !once)
		return cli_usage_fail(a, "--json needs --once");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (!once)
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = cli_env_open(&env, a->config, &err);
	if (rc == LETHE_OK && !env.cfg.mailbox.enabled)
		rc = lethe_err_set(&err, LETHE_E_CONFIG,
		                   "%s: no mailbox: section; lethe mail-intake needs one "
		                   "(docs/mail-intake.md)",
		                   env.cfg.path);
	if (rc == LETHE_OK)
		rc = mailbox_config_check(&env.cfg, env.dm, &err);
	if (rc == LETHE_OK)
		rc = time_test_clock_check(&err);
	/* The lock before the state store: a second reader changes nothing. */
	if (rc == LETHE_OK)
		rc = mailin_maildir_lock(dir, &lockfd, &err);
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = service_load_outbox_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = service_store_open(env.svc, &err);
	if (rc == LETHE_OK && once) {
		rc = mailin_maildir_pass(env.svc, dir, env.cfg.mailbox.max_size, NULL, &c, &err);
		if (rc == LETHE_OK) {
			print_counts(dir, &c, json);
			if (c.failed > 0)
				status = 1;
		}
	} else if (rc == LETHE_OK) {
		rc = intake_forever(&env, dir, &set, &err);
	}
	if (rc != LETHE_OK)
		status = cli_fail(&err, json);
	mailin_maildir_unlock(lockfd);
	cli_env_close(&env);
	return status;
}
