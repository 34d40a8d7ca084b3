/* SPDX-License-Identifier: MIT */
/*
 * cmd_serve.c - `lethe serve`: the HTTP server and its background runner,
 * until SIGINT or SIGTERM.  SIGHUP reloads api.keys from the configuration
 * file (server_reload); SIGUSR1 is logged and otherwise ignored.  Every
 * thread blocks these signals; the main thread takes them with sigwait().
 * With a mailbox: section it also runs the mailbox's front ends (mailin.h:
 * LMTP, the Maildir reader, pruning by mailbox.keep), started after the
 * service and stopped before it.
 */
#include "util/fmacros.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include "cli/cli.h"
#include "http/metrics.h"
#include "http/server.h"
#include "mailin/mailin.h"
#include "platform/platform_config.h"
#include "service/service.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/*
 * Apply --listen and --public-url to @cfg's public_url: an explicit URL wins,
 * else a public_url that defaulted to http://LISTEN follows the new LISTEN.
 */
static lethe_rc
set_public_url(struct lethe_config *cfg, const char *listen, const char *url, struct lethe_err *err)
{
	size_t n;

	if (url != NULL && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "--public-url must start with http:// or https://");
	if (url == NULL && (listen == NULL || !cfg->public_url_default))
		return LETHE_OK;
	free(cfg->public_url);
	cfg->public_url = url != NULL ? xstrdup(url) : xasprintf("http://%s", listen);
	n = strlen(cfg->public_url);
	while (n > 0 && cfg->public_url[n - 1] == '/')
		cfg->public_url[--n] = '\0';
	return LETHE_OK;
}

/* Every app's identity kind and scope must exist in the data map, and fit. */
static lethe_rc
check_apps(const struct lethe_config *cfg, const struct datamap *dm, struct lethe_err *err)
{
	size_t i;

	for (i = 0; i < cfg->napps; i++) {
		const struct meta_app *a = &cfg->apps[i];
		const struct dm_scope *sc = datamap_scope(dm, a->scope);

		if (!datamap_has_identity(dm, a->identity))
			return lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "%s:%d: app '%s': identity '%s' is not declared in the "
			    "data map",
			    cfg->path, a->line, a->name, a->identity);
		if (sc == NULL)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s:%d: app '%s': scope '%s' is not in the data map",
			                     cfg->path, a->line, a->name, a->scope);
		if (!dm_scope_has_identity(sc, a->identity))
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s:%d: app '%s': scope '%s' does not accept identity "
			                     "'%s'",
			                     cfg->path, a->line, a->name, a->scope, a->identity);
	}
	return LETHE_OK;
}

int
cmd_serve(const struct cli_args *a)
{
	const char *config = NULL, *listen = NULL, *public_url = NULL;
	struct cli_env env;
	struct lethe_err err = {0};
	struct server *srv = NULL;
	struct service *svc = NULL;
	struct mailin *mailin = NULL;
	sigset_t set;
	int sig = 0, status = 0;
	lethe_rc rc = LETHE_OK;

	memset(&env, 0, sizeof(env));
	config = a->config;
	listen = cli_arg_str(a, "listen", NULL);
	public_url = cli_arg_str(a, "public-url", NULL);
	/*
	 * Two malloc arenas for a dozen threads: each arena keeps its own free
	 * memory resident.  Four measured no faster under a callback flood.
	 */
	mallopt(M_ARENA_MAX, 2);
	/* Block the stop and reload signals in every thread; this one waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = cli_env_open(&env, config, &err);
	if (rc == LETHE_OK)
		rc = service_media_check(env.svc, &err);
	if (rc == LETHE_OK)
		rc = set_public_url(&env.cfg, listen, public_url, &err);
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = time_test_clock_check(&err);
	if (rc == LETHE_OK)
		rc = config_load_secrets(&env.cfg, &err);
	/*
	 * The outbox key seals disconnect jobs and notices to proof.recipients:
	 * needed once the map has a channel table or recipients are configured.
	 */
	if (rc == LETHE_OK && (env.dm->channel != NULL || env.cfg.proof.nrecipients > 0))
		rc = service_load_outbox_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = platforms_check_secrets(env.cfg.platforms, &err);
	if (rc == LETHE_OK)
		rc = check_apps(&env.cfg, env.dm, &err);
	/* Receipts, checkpoints and notices are signed: the key is made on first start. */
	if (rc == LETHE_OK)
		rc = config_load_signing_keys(&env.cfg, true, &err);
	if (rc == LETHE_OK)
		rc = proof_config_check(&env.cfg.proof, env.dm, &err);
	/* Address and template first: nothing is opened for a server that cannot start. */
	if (rc == LETHE_OK)
		rc = server_new(&env.cfg, listen, &srv, &err);
	if (rc == LETHE_OK)
		rc = service_start(&env.cfg, env.dm, metrics_completion, &svc, &err);
	if (rc == LETHE_OK)
		rc = server_start(srv, svc, &err);
	/* The mailbox's LMTP listener and Maildir reader deliver through the service. */
	if (rc == LETHE_OK)
		rc = mailin_start(svc, &env.cfg.mailbox, &mailin, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, false);
		goto out;
	}
	printf("lethe: serving on port %d; status pages at %s/data-deletion/status\n",
	       server_port(srv), env.cfg.public_url);
	fflush(stdout);
	for (;;) {
		size_t nkeys = 0;

		sigwait(&set, &sig);
		if (sig == SIGUSR1) {
			log_info(
			    "SIGUSR1 ignored (SIGHUP reloads api.keys, SIGINT or SIGTERM stop)");
			continue;
		}
		if (sig != SIGHUP)
			break;
		memset(&err, 0, sizeof(err));
		if (server_reload(srv, &nkeys, &err) == LETHE_OK)
			log_info(
			    "SIGHUP: reloaded %s: %zu API key%s in force (other settings change at "
			    "the next start)",
			    env.cfg.path, nkeys, nkeys == 1 ? "" : "s");
		else
			log_warnx("SIGHUP: %s not reloaded, the API keys in force stay: %s",
			          env.cfg.path, err.msg);
	}
	log_info("signal %d: stopping (unfinished work resumes at the next start)", sig);
out:
	mailin_stop(mailin);
	server_stop(srv);
	service_stop(svc);
	cli_env_close(&env);
	return status;
}
