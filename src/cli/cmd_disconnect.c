/* SPDX-License-Identifier: MIT */
/*
 * cmd_disconnect.c - `lethe disconnect`: disconnect one channel (tokens
 * wiped and the data map's effects applied at once, upstream revocation,
 * webhook removal and purge queued), then drive its jobs to the end.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"
#include "platform/platform_config.h"

#define EXIT_PENDING 4 /* disconnected; some upstream job is dead or still retrying */

/* Human summary of a channel's state JSON. */
static void
print_state(const json_t *j)
{
	const json_t *t, *v;
	size_t i;

	printf("channel %s: %s", json_string_value(json_object_get(j, "channel")),
	       json_string_value(json_object_get(j, "state")));
	v = json_object_get(j, "platform");
	if (json_string_value(v) != NULL && json_string_value(v)[0] != '\0')
		printf(" (%s)", json_string_value(v));
	printf("\n");
	t = json_object_get(json_object_get(j, "effects"), "tokens_wiped");
	if (t != NULL)
		printf("  tokens wiped: %lld\n", (long long)json_integer_value(t));
	json_array_foreach(json_object_get(json_object_get(j, "effects"), "tables"), i, v)
	    printf("  %s: %lld row(s) changed\n", json_string_value(json_object_get(v, "table")),
	           (long long)json_integer_value(json_object_get(v, "rows")));
	v = json_object_get(j, "revoke");
	if (v != NULL)
		printf("  revoke: %s%s%s\n", json_string_value(json_object_get(v, "state")),
		       json_object_get(v, "detail") ? " - " : "",
		       json_object_get(v, "detail")
		           ? json_string_value(json_object_get(v, "detail"))
		           : "");
	json_array_foreach(json_object_get(j, "unsubscribe"), i, v) printf(
	    "  unsubscribe: %s%s%s\n", json_string_value(json_object_get(v, "state")),
	    json_object_get(v, "detail") ? " - " : "",
	    json_object_get(v, "detail") ? json_string_value(json_object_get(v, "detail")) : "");
	v = json_object_get(j, "purge");
	if (v != NULL) {
		const char *k;
		json_t *n;

		printf("  purge: %s\n", json_string_value(json_object_get(v, "state")));
		json_object_foreach(json_object_get(v, "tables"), k, n)
		    printf("    %s: %lld\n", k, (long long)json_integer_value(n));
	}
}

int
cmd_disconnect(const struct cli_args *a)
{
	const char *config = NULL, *channel = NULL;
	bool json = false, wait = true;
	long long timeout_s = 60;
	struct cli_env env;
	struct lethe_err err = {0};
	struct service_disconnect d = {0};
	int status = 0;
	lethe_rc rc = LETHE_OK;

	memset(&env, 0, sizeof(env));
	config = a->config;
	channel = cli_arg_str(a, "channel", NULL);
	json = a->json;
	wait = !cli_arg_flag(a, "no-wait");
	timeout_s = cli_arg_int(a, "timeout", timeout_s);
	if (rc == LETHE_OK && !service_channel_id_ok(channel))
		rc = lethe_err_set(&err, LETHE_E_USAGE,
		                   "--channel must be a positive integer (the channel's key)");
	if (rc == LETHE_OK)
		rc = cli_env_open(&env, config, &err);
	if (rc == LETHE_OK)
		rc = service_media_check(env.svc, &err);
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = service_load_outbox_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = platforms_check_secrets(env.cfg.platforms, &err);
	if (rc == LETHE_OK && env.dm->channel == NULL)
		rc = lethe_err_set(&err, LETHE_E_DATAMAP,
		                   "%s: no table has 'connection:', so lethe does not know the "
		                   "channel table",
		                   env.dm->path);
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = service_channel_disconnect_wait(env.svc, channel, wait,
		                                     (int64_t)timeout_s * 1000, &d, &err);
	if (rc == LETHE_E_NOTFOUND)
		lethe_err_set(&err, rc, "no channel with this id in the app database");
	if (rc != LETHE_OK) {
		status = cli_fail(&err, json);
		goto out;
	}
	if (json) {
		json_dumpf(d.state, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		if (d.already)
			printf("(already disconnected: nothing changed)\n");
		print_state(d.state);
	}
	/* Without --no-wait, a job still retrying is not done either. */
	if (d.dead > 0 || (wait && d.unfinished > 0)) {
		fprintf(stderr,
		        "lethe: %d upstream job(s) are dead letters, %d still pending; see `lethe "
		        "jobs -c %s`\n",
		        d.dead, d.unfinished, config);
		status = EXIT_PENDING;
	}
out:
	json_decref(d.state);
	cli_env_close(&env);
	return status;
}
