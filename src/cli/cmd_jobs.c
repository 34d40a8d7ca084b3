/* SPDX-License-Identifier: MIT */
/*
 * cmd_jobs.c - `lethe jobs`: the outbox's jobs (revoke, unsubscribe, purge,
 * notify) by state, dead letters with their reason; then the mail outbox's
 * mails (notices about requests) the same way, when there are any.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"
#include "util/hash.h"
#include "util/timeutil.h"

/* The states a job shows (disconnect_job_state()) and the stored state each lists from. */
static const struct {
	const char *shown;  /* as the API shows it */
	const char *stored; /* store_outbox.state */
} states[] = {
    {"staged", "staged"},
    {"pending", "pending"},
    {"running", "running"},
    {"retrying", "pending"},
    {"dead", "dead"},
    {"done", "done"},
    {"already_revoked", "done"},
    {"already_unsubscribed", "done"},
    {"unsupported", "done"},
    {"no_token", "done"},
    {"sending", NULL},
    {"sent", NULL},
    {"skipped", NULL},
};

/* A mail state @state may name (store_mail.state); NULL: none (an outbox job's only). */
static const char *
mail_state(const char *state)
{
	static const char *const mail[] = {"pending", "sending", "sent", "dead", "skipped"};
	size_t i;

	for (i = 0; state != NULL && i < sizeof(mail) / sizeof(mail[0]); i++)
		if (strcmp(mail[i], state) == 0)
			return mail[i];
	return NULL;
}

struct list_acc {
	bool json;         /* JSON lines */
	const char *state; /* only jobs showing this state, or NULL */
	int n;             /* jobs listed */
	int nmail;         /* mails listed */
};

/* @ms as ISO 8601 UTC into @out, or "" when @ms is 0 (not set). */
static void
fmt_ms(int64_t ms, char *out, size_t n)
{
	out[0] = '\0';
	if (ms > 0)
		time_format_iso(ms / 1000, out, n);
}

/* @s as a JSON string, or null when empty. */
static json_t *
jstr(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

static void
on_job(void *arg, const struct store_outbox *j, const char *state)
{
	struct list_acc *a = arg;
	char next[32], fin[32], disc[24];

	if (a->state != NULL && strcmp(a->state, state) != 0)
		return;
	/* A notice to a recipient belongs to no disconnect. */
	snprintf(disc, sizeof(disc), "%lld", (long long)j->disconnect_id);
	if (j->disconnect_id == 0)
		snprintf(disc, sizeof(disc), "-");
	a->n++;
	fmt_ms(strcmp(j->state, "pending") == 0 ? j->next_at_ms : 0, next, sizeof(next));
	fmt_ms(j->finished_at_ms, fin, sizeof(fin));
	if (a->json) {
		json_t *o =
		    json_pack("{s:I, s:o, s:s, s:o, s:s, s:o, s:I, s:o, s:o, s:o, s:o, s:b}", "id",
		              (json_int_t)j->id, "disconnect",
		              j->disconnect_id > 0 ? json_integer(j->disconnect_id) : json_null(),
		              "kind", j->kind, "platform", jstr(j->platform), "state", state,
		              "outcome", jstr(j->outcome), "attempts", (json_int_t)j->attempts,
		              "next_try", jstr(next), "finished_at", jstr(fin), "http_status",
		              j->http_status > 0 ? json_integer(j->http_status) : json_null(),
		              "reason", jstr(j->reason), "sealed_payload", j->has_box);
		char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

		printf("%s\n", text != NULL ? text : "{}");
		free(text);
		json_decref(o);
		return;
	}
	printf("%-6lld %-6s %-12s %-10s %-20s %-22s %-3lld %-20s %s\n", (long long)j->id, disc,
	       j->kind, j->platform[0] ? j->platform : "-", state, j->outcome[0] ? j->outcome : "-",
	       (long long)j->attempts, next[0] ? next : "-", j->reason[0] ? j->reason : "");
}

/* One mail: its number, its request's number, notice, state, tries, next try, last error. */
static void
on_mail(void *arg, const struct store_mail *m)
{
	struct list_acc *a = arg;
	char next[32], done[32];

	if (!a->json && a->nmail == 0)
		printf("\n%-6s %-6s %-24s %-8s %-3s %-20s %s\n", "MAIL", "REQ", "NOTICE", "STATE",
		       "TRY", "NEXT TRY", "LAST ERROR");
	a->nmail++;
	fmt_ms(strcmp(m->state, "pending") == 0 ? m->next_at : 0, next, sizeof(next));
	if (strcmp(m->state, "pending") == 0 && m->next_at == 0)
		snprintf(next, sizeof(next), "now");
	done[0] = '\0';
	if (m->done_at > 0)
		time_format_iso(m->done_at, done, sizeof(done));
	if (a->json) {
		json_t *o = json_pack("{s:I, s:o, s:s, s:s, s:I, s:o, s:o, s:o}", "mail",
		                      (json_int_t)m->id, "request",
		                      m->request_id > 0 ? json_integer(m->request_id) : json_null(),
		                      "notice", m->notice, "state", m->state, "attempts",
		                      (json_int_t)m->attempts, "next_try", jstr(next), "done_at",
		                      jstr(done), "last_error", jstr(m->last_error));
		char *text;

		/* A reply to an incoming mail (lethe mailbox list): which one. */
		if (o != NULL && m->mail_in_id != 0)
			json_object_set_new(o, "incoming_mail", json_integer(m->mail_in_id));
		text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

		printf("%s\n", text != NULL ? text : "{}");
		free(text);
		json_decref(o);
		return;
	}
	if (m->request_id <= 0) {
		printf("%-6lld %-6s %-24s %-8s %-3lld %-20s %s\n", (long long)m->id, "-", m->notice,
		       m->state, (long long)m->attempts, next[0] ? next : "-", m->last_error);
		return;
	}
	printf("%-6lld %-6lld %-24s %-8s %-3lld %-20s %s\n", (long long)m->id,
	       (long long)m->request_id, m->notice, m->state, (long long)m->attempts,
	       next[0] ? next : "-", m->last_error);
}

int
cmd_jobs(const struct cli_args *a)
{
	const char *config = NULL, *state = NULL, *stored = NULL;
	struct list_acc acc = {false, NULL, 0, 0};
	struct lethe_config cfg;
	struct lethe_err err = {0};
	struct service *svc = NULL;
	bool cfg_loaded = false, known = false;
	int status = 0;
	size_t i;
	lethe_rc rc = LETHE_OK;

	config = a->config;
	state = cli_arg_str(a, "state", NULL);
	acc.json = a->json;
	for (i = 0; rc == LETHE_OK && state != NULL && i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(states[i].shown, state) == 0) {
			stored = states[i].stored;
			known = true;
		}
	if (rc == LETHE_OK && state != NULL && !known)
		rc =
		    lethe_err_set(&err, LETHE_E_USAGE,
		                  "--state must be staged, pending, running, retrying, dead, done, "
		                  "already_revoked, already_unsubscribed, unsupported, no_token, "
		                  "or a mail's sending, sent or skipped");
	acc.state = state;
	if (rc == LETHE_OK && hash_init() != LETHE_OK)
		rc = lethe_err_set(&err, LETHE_E_INTERNAL, "libsodium failed to initialise");
	if (rc == LETHE_OK) {
		rc = config_load(&cfg, config, &err);
		cfg_loaded = true;
	}
	if (rc == LETHE_OK)
		rc = cli_load_key(&cfg, &err);
	if (rc == LETHE_OK) {
		svc = service_open(&cfg, NULL, NULL);
		rc = service_store_open(svc, &err);
	}
	if (rc == LETHE_OK && !acc.json)
		printf("%-6s %-6s %-12s %-10s %-20s %-22s %-3s %-20s %s\n", "JOB", "DISC", "KIND",
		       "PLATFORM", "STATE", "OUTCOME", "TRY", "NEXT TRY", "REASON");
	/* A mail state only outbox jobs have (retrying...) lists no outbox job. */
	if (rc == LETHE_OK && (state == NULL || stored != NULL))
		rc = service_jobs_list(svc, stored, on_job, &acc, &err);
	/* Mail: every one, or those of the state asked (a job-only state lists none). */
	if (rc == LETHE_OK && (state == NULL || mail_state(state) != NULL))
		rc = service_mail_list(svc, mail_state(state), on_mail, &acc, &err);
	if (rc != LETHE_OK)
		status = cli_fail(&err, acc.json);
	service_close(svc);
	if (cfg_loaded)
		config_free(&cfg);
	return status;
}
