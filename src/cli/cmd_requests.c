/* SPDX-License-Identifier: MIT */
/*
 * cmd_requests.c - `lethe requests SUBCOMMAND`: privacy requests from the
 * command line (list, show, create, approve, refuse, cancel, retry,
 * extend, lift), the operator's side of the request model.
 *
 * `requests` is a row of the command table whose subcommands are rows of
 * their own (cli_requests_subs[], here), each parsed by cli_run() like any
 * command.  Every subcommand opens the configuration, the app database, the
 * data map and the state store as `lethe erase` does, makes one service
 * call (service.h, "privacy requests"; source "operator", actor "cli") and
 * prints the request as a block, a page of the listing as a table, or with
 * --json the service's JSON as it is.  The service's LETHE_E_INVALID (an
 * input only it can judge: a scope, an identity kind, a due date not
 * later) is a usage error, exit 2; no such request, or a state that does
 * not allow the action, exit 1.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "cli/cli.h"
#include "meta/requests.h"
#include "util/timeutil.h"

/* ---- the subcommands' rows ------------------------------------------------- */

static const char usage_list[] =
    "usage: lethe requests list -c CONFIG [--state S] [--source S] [--kind K]\n"
    "                           [--due-within DUR] [--limit N] [--cursor C] [--json]\n"
    "\n"
    "List privacy requests, by due date then id, a page at a time: confirmation\n"
    "code, kind, scope, source, state, due date (UTC).  When there are more, the\n"
    "last line gives the --cursor of the next page.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -s, --state S       only requests in state S (received, awaiting_verification,\n"
    "                      awaiting_review, scheduled, running, completed,\n"
    "                      completed_with_retention, refused, cancelled, failed, expired,\n"
    "                      lifted)\n"
    "      --source S      only from source S (meta, import, app, self-service, email,\n"
    "                      operator, restore)\n"
    "      --kind K        only of kind K (erasure, export, restriction)\n"
    "      --due-within DUR  only requests due before now + DUR (48h, 7d...), overdue\n"
    "                      ones included; combine with --state for open ones\n"
    "      --limit N       requests per page, 1 to 1000 (default 100)\n"
    "      --cursor C      the page after the one that printed C\n"
    "      --json          the page as JSON: {\"requests\": [...], \"next\": C or null}\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 listed, 1 failure, 2 usage error, 3 configuration invalid.\n";

static const char usage_show[] =
    "usage: lethe requests show -c CONFIG CODE [--json]\n"
    "\n"
    "Show the privacy request with confirmation code CODE: its kind, scope,\n"
    "source, policy, state, dates (UTC), every transition with who made it and\n"
    "why, and its result per category.  No personal data.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "      --json          the request as JSON (as GET /v1/requests/{id} answers)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 shown, 1 no such request or failure, 2 usage error,\n"
    "3 configuration invalid.\n";

static const char usage_create[] =
    "usage: lethe requests create -c CONFIG --scope SCOPE --id KIND=VALUE [--id ...]\n"
    "                             [--kind K] [--verified] [--notify ADDR] [--json]\n"
    "\n"
    "Record a privacy request of the person the ids name (source \"operator\"),\n"
    "under the policy for its kind, scope and source, and print it with its\n"
    "confirmation code.  `lethe serve` carries it out as its policy says\n"
    "(verification, review, grace period).  A request like an open one (same\n"
    "person, kind and scope) is that one: it is printed, nothing changes.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -s, --scope SCOPE   a scope of the data map (account, meta, channel, ...)\n"
    "  -i, --id KIND=VALUE an identity of the person; repeat for several (at most 8)\n"
    "      --kind K        erasure (default), export or restriction\n"
    "      --verified      you verified the person's identity: no e-mail check\n"
    "      --notify ADDR   where notices about the request go (kept sealed)\n"
    "      --json          the request as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 recorded (or the open one found), 1 failure, 2 usage error\n"
    "(also: a scope or identity kind the data map does not have), 3 configuration\n"
    "or data map invalid.\n";

static const char usage_approve[] =
    "usage: lethe requests approve -c CONFIG CODE [--reason TEXT] [--json]\n"
    "\n"
    "Approve request CODE, awaiting review: it is scheduled (grace period) or\n"
    "runs, as its policy says.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -r, --reason TEXT   a note for the request's history (at most 500 bytes)\n"
    "      --json          the request afterwards as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 no such request, a state that does not allow it, or\n"
    "failure, 2 usage error, 3 configuration invalid.\n";

static const char usage_refuse[] =
    "usage: lethe requests refuse -c CONFIG CODE --reason TEXT [--json]\n"
    "\n"
    "Refuse request CODE (awaiting verification or review, or scheduled), with\n"
    "the reason the person is shown on the status page.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -r, --reason TEXT   why (required, at most 500 bytes; no personal data)\n"
    "      --json          the request afterwards as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 no such request, a state that does not allow it, or\n"
    "failure, 2 usage error, 3 configuration invalid.\n";

static const char usage_cancel[] =
    "usage: lethe requests cancel -c CONFIG CODE [--reason TEXT] [--json]\n"
    "\n"
    "Cancel request CODE before it runs (in its grace period, say); the effects\n"
    "its policy applied at acceptance are undone.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -r, --reason TEXT   why (at most 500 bytes; no personal data)\n"
    "      --json          the request afterwards as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 no such request, a state that does not allow it, or\n"
    "failure, 2 usage error, 3 configuration invalid.\n";

static const char usage_retry[] =
    "usage: lethe requests retry -c CONFIG CODE [--reason TEXT] [--json]\n"
    "\n"
    "Run failed request CODE again (`lethe serve` picks it up).\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -r, --reason TEXT   a note for the request's history (at most 500 bytes)\n"
    "      --json          the request afterwards as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 no such request, a state that does not allow it, or\n"
    "failure, 2 usage error, 3 configuration invalid.\n";

static const char usage_lift[] =
    "usage: lethe requests lift -c CONFIG CODE [--reason TEXT] [--json]\n"
    "\n"
    "Lift restriction CODE, in force (completed): it becomes lifted, and\n"
    "`lethe serve` undoes the effects its policy applied, then wipes its\n"
    "identities.  Any other request (or a restriction not completed) is\n"
    "refused.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -r, --reason TEXT   a note for the request's history (at most 500 bytes)\n"
    "      --json          the request afterwards as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 no such request, a state that does not allow it, or\n"
    "failure, 2 usage error, 3 configuration invalid.\n";

static const char usage_extend[] =
    "usage: lethe requests extend -c CONFIG CODE (--by DUR | --due DATE) --reason TEXT\n"
    "                             [--json]\n"
    "\n"
    "Move the due date of open request CODE later, with the reason (the person\n"
    "is shown it on the status page).\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "      --by DUR        the new due date is the current one + DUR (14d, 48h...)\n"
    "      --due DATE      the new due date: 2026-12-31T00:00:00Z (UTC) or 2026-12-31\n"
    "  -r, --reason TEXT   why (required, at most 500 bytes; no personal data)\n"
    "      --json          the request afterwards as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 no such request, a state that does not allow it, or\n"
    "failure, 2 usage error (also: a due date not later), 3 configuration\n"
    "invalid.\n";

static const struct cli_option opts_list[] = {
    {.name = "state", .short_name = 's', .kind = CLI_VALUE},
    {.name = "source", .kind = CLI_VALUE},
    {.name = "kind", .kind = CLI_VALUE},
    {.name = "due-within", .kind = CLI_VALUE},
    {.name = "limit",
     .kind = CLI_INT,
     .min = 1,
     .max = SERVICE_REQ_LIST_MAX,
     .bad = "--limit must be a number from 1 to 1000"},
    {.name = "cursor", .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_create[] = {
    {.name = "scope", .short_name = 's', .kind = CLI_VALUE, .required = "--scope is required"},
    {.name = "id",
     .short_name = 'i',
     .kind = CLI_LIST,
     .required = "at least one --id KIND=VALUE is required"},
    {.name = "kind", .kind = CLI_VALUE},
    {.name = "verified", .kind = CLI_FLAG},
    {.name = "notify", .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_reason[] = {
    {.name = "reason", .short_name = 'r', .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_reason_required[] = {
    {.name = "reason", .short_name = 'r', .kind = CLI_VALUE, .required = "--reason is required"},
    {.name = NULL},
};

static const struct cli_option opts_extend[] = {
    {.name = "by", .kind = CLI_VALUE},
    {.name = "due", .kind = CLI_VALUE},
    {.name = "reason", .short_name = 'r', .kind = CLI_VALUE, .required = "--reason is required"},
    {.name = NULL},
};

static int requests_list(const struct cli_args *a);
static int requests_show(const struct cli_args *a);
static int requests_create(const struct cli_args *a);
static int requests_act(const struct cli_args *a);

#define SUB(n, u, o, op, f)                                                                        \
	{                                                                                          \
		.name = "requests " n, .usage = u, .common = CLI_CONFIG | CLI_JSON, .options = o,  \
		.operand = op, .fn = f                                                             \
	}

const struct cli_command cli_requests_subs[] = {
    SUB("list", usage_list, opts_list, NULL, requests_list),
    SUB("show", usage_show, NULL, "CODE", requests_show),
    SUB("create", usage_create, opts_create, NULL, requests_create),
    SUB("approve", usage_approve, opts_reason, "CODE", requests_act),
    SUB("refuse", usage_refuse, opts_reason_required, "CODE", requests_act),
    SUB("cancel", usage_cancel, opts_reason, "CODE", requests_act),
    SUB("retry", usage_retry, opts_reason, "CODE", requests_act),
    SUB("extend", usage_extend, opts_extend, "CODE", requests_act),
    SUB("lift", usage_lift, opts_reason, "CODE", requests_act),
    {.name = NULL},
};

/* ---- opening and printing ---------------------------------------------------- */

/* String member @k of @o, or @dflt when it is absent or not a string. */
static const char *
str_of(const json_t *o, const char *k, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : dflt;
}

static void
print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

/* The request @j as a block of "name: value" lines. */
static void
print_request(const json_t *j)
{
	static const char *const fields[] = {"kind",       "scope",        "source", "policy",
	                                     "state",      "received_at",  "due_at", "grace_until",
	                                     "expires_at", "completed_at", "reason", "status_url",
	                                     NULL};
	const json_t *ev, *cats, *c;
	size_t i;

	printf("request %s\n", str_of(j, "id", "?"));
	for (i = 0; fields[i] != NULL; i++) {
		const char *v = str_of(j, fields[i], NULL);

		if (v != NULL)
			printf("  %-13s %s\n", fields[i], v);
	}
	ev = json_object_get(j, "events");
	if (json_array_size(ev) > 0) {
		printf("  history:\n");
		json_array_foreach(ev, i, c)
		{
			const char *why = str_of(c, "reason", NULL);

			printf("    %-20s %-26s by %s%s%s\n", str_of(c, "at", "-"),
			       str_of(c, "state", "?"), str_of(c, "by", "-"), why ? ": " : "",
			       why ? why : "");
		}
	}
	cats = json_object_get(json_object_get(j, "result"), "categories");
	if (json_array_size(cats) > 0) {
		printf("  result:\n");
		json_array_foreach(cats, i, c)
		{
			char *text = json_dumps(c, JSON_COMPACT);

			printf("    %s\n", text != NULL ? text : "{}");
			free(text);
		}
	}
}

/* ---- the subcommands ------------------------------------------------------- */

static int
requests_list(const struct cli_args *a)
{
	struct service_request_filter f;
	struct cli_env env;
	struct lethe_err err = {0};
	const char *within = cli_arg_str(a, "due-within", NULL);
	json_t *out = NULL, *r;
	int64_t dur = 0;
	int status = 0;
	size_t i;
	lethe_rc rc;

	memset(&f, 0, sizeof(f));
	memset(&env, 0, sizeof(env));
	f.state = cli_arg_str(a, "state", NULL);
	f.source = cli_arg_str(a, "source", NULL);
	f.kind = cli_arg_str(a, "kind", NULL);
	f.cursor = cli_arg_str(a, "cursor", NULL);
	f.limit = (int)cli_arg_int(a, "limit", 0);
	if (within != NULL && duration_parse(within, &dur) != LETHE_OK)
		return cli_usage_fail(a, "--due-within needs a duration such as 48h or 7d");
	rc = cli_env_open_state(&env, a->config, &err);
	if (rc == LETHE_OK && within != NULL) {
		f.due_before = time_now() + dur;
		/* What is due soon is what is still owed: finished requests are not. */
		if (f.state == NULL)
			f.state = "open";
	}
	if (rc == LETHE_OK)
		rc = service_request_list(env.svc, &f, &out, &err);
	if (rc != LETHE_OK) {
		status = cli_service_fail(&err, a->json);
		goto out;
	}
	if (a->json) {
		print_json(out);
		goto out;
	}
	printf("%-34s %-11s %-10s %-12s %-24s %-20s %s\n", "ID", "KIND", "SCOPE", "SOURCE", "STATE",
	       "DUE", "RECEIVED");
	json_array_foreach(json_object_get(out, "requests"), i, r) printf(
	    "%-34s %-11s %-10s %-12s %-24s %-20s %s\n", str_of(r, "id", "?"),
	    str_of(r, "kind", "-"), str_of(r, "scope", "-"), str_of(r, "source", "-"),
	    str_of(r, "state", "-"), str_of(r, "due_at", "-"), str_of(r, "received_at", "-"));
	if (json_string_value(json_object_get(out, "next")) != NULL)
		printf("more: add --cursor %s\n", json_string_value(json_object_get(out, "next")));
out:
	json_decref(out);
	cli_env_close(&env);
	return status;
}

static int
requests_show(const struct cli_args *a)
{
	struct cli_env env;
	struct lethe_err err = {0};
	json_t *out = NULL;
	int status = 0;
	lethe_rc rc;

	memset(&env, 0, sizeof(env));
	if (!meta_code_ok(a->operand))
		return cli_usage_fail(a, "CODE must be a confirmation code");
	rc = cli_env_open_state(&env, a->config, &err);
	if (rc == LETHE_OK)
		rc = service_request_show(env.svc, a->operand, &out, &err);
	if (rc == LETHE_E_NOTFOUND)
		lethe_err_set(&err, rc, "no request with this code");
	if (rc != LETHE_OK)
		status = cli_service_fail(&err, a->json);
	else if (a->json)
		print_json(out);
	else
		print_request(out);
	json_decref(out);
	cli_env_close(&env);
	return status;
}

static int
requests_create(const struct cli_args *a)
{
	struct service_request_in in;
	struct cli_opts o;
	struct cli_env env;
	struct lethe_err err = {0};
	json_t *out = NULL;
	bool repeat = false;
	int status = 0;
	lethe_rc rc;

	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	memset(&in, 0, sizeof(in));
	rc = cli_target_get(a, &o, &err);
	if (rc == LETHE_OK && o.nids > SERVICE_REQ_IDS_MAX)
		rc = lethe_err_set(&err, LETHE_E_USAGE, "at most %d --id options",
		                   SERVICE_REQ_IDS_MAX);
	if (rc == LETHE_OK)
		rc = cli_env_open_state(&env, a->config, &err);
	if (rc == LETHE_OK) {
		in.kind = cli_arg_str(a, "kind", "erasure");
		in.scope = o.scope;
		in.source = "operator";
		in.ids = o.ids;
		in.nids = o.nids;
		in.verified = cli_arg_flag(a, "verified");
		in.notify = cli_arg_str(a, "notify", NULL);
		in.actor = "cli";
		rc = service_request_create(env.svc, &in, &out, &repeat, &err);
	}
	if (rc != LETHE_OK) {
		status = cli_service_fail(&err, a->json);
	} else if (a->json) {
		print_json(out);
	} else {
		if (repeat)
			printf("an open request of this person, kind and scope exists: nothing "
			       "changed\n");
		print_request(out);
	}
	json_decref(out);
	cli_env_close(&env);
	cli_opts_free(&o);
	return status;
}

/* The action a subcommand's name stands for. */
static enum service_request_act
act_of(const char *name)
{
	static const struct {
		const char *name;
		enum service_request_act act;
	} acts[] = {
	    {"requests approve", SERVICE_REQ_APPROVE}, {"requests refuse", SERVICE_REQ_REFUSE},
	    {"requests cancel", SERVICE_REQ_CANCEL},   {"requests retry", SERVICE_REQ_RETRY},
	    {"requests extend", SERVICE_REQ_EXTEND},   {"requests lift", SERVICE_REQ_LIFT},
	};
	size_t i;

	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (strcmp(acts[i].name, name) == 0)
			return acts[i].act;
	return SERVICE_REQ_CANCEL; /* not reached: every row using requests_act is above */
}

static int
requests_act(const struct cli_args *a)
{
	struct service_request_action act;
	struct cli_env env;
	struct lethe_err err = {0};
	const char *by = NULL, *due = NULL;
	json_t *out = NULL;
	int64_t dur = 0;
	int status = 0;
	lethe_rc rc;

	memset(&env, 0, sizeof(env));
	memset(&act, 0, sizeof(act));
	act.act = act_of(a->cmd->name);
	act.actor = "cli";
	act.reason = cli_arg_str(a, "reason", NULL);
	if (!meta_code_ok(a->operand))
		return cli_usage_fail(a, "CODE must be a confirmation code");
	if (act.act == SERVICE_REQ_EXTEND) {
		by = cli_arg_str(a, "by", NULL);
		due = cli_arg_str(a, "due", NULL);
		if ((by == NULL) == (due == NULL))
			return cli_usage_fail(a, "give exactly one of --by DUR and --due DATE");
		if (by != NULL && duration_parse(by, &dur) != LETHE_OK)
			return cli_usage_fail(a, "--by needs a duration such as 14d or 48h");
		if (due != NULL && time_parse(due, &act.due_at) != LETHE_OK)
			return cli_usage_fail(a, "--due needs a time in UTC, 2026-12-31T00:00:00Z, "
			                         "or a date, 2026-12-31");
	}
	rc = cli_env_open_state(&env, a->config, &err);
	if (by != NULL)
		act.extend_by = dur; /* the service adds it to the due date it holds */
	if (rc == LETHE_OK)
		rc = service_request_act(env.svc, a->operand, &act, &out, &err);
	if (rc == LETHE_OK && out == NULL)
		rc = service_request_show(env.svc, a->operand, &out, &err);
	if (rc == LETHE_E_NOTFOUND)
		lethe_err_set(&err, rc, "no request with this code");
	if (rc != LETHE_OK)
		status = cli_service_fail(&err, a->json);
	else if (a->json)
		print_json(out);
	else
		print_request(out);
	json_decref(out);
	cli_env_close(&env);
	return status;
}
