/* SPDX-License-Identifier: MIT */
/*
 * cmd_mailbox.c - `lethe mailbox list|show|close`: the operator's queue of
 * the mails the privacy mailbox took (docs/mail-intake.md, "The operator's
 * queue").
 *
 * `mailbox` is a row of the command table whose subcommands are rows of
 * their own (cli_mailbox_subs[], here), each parsed by cli_run().  Each
 * opens the configuration and the state store as `lethe requests` does,
 * makes one service call (service_mailbox_list/show/close; actor "cli")
 * and prints a table, a block, or with --json the service's JSON as it
 * is.  `show` decrypts the mail and prints what it says: personal data, on
 * the operator's terminal only (never logged).  A bad filter is a usage
 * error, exit 2; no such mail, or one already closed, exit 1.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <jansson.h>

#include "cli/cli.h"
#include "util/timeutil.h"

/* ---- the subcommands' rows ------------------------------------------------- */

static const char usage_list[] =
    "usage: lethe mailbox list -c CONFIG [--state open|closed|all] [--outcome O]\n"
    "                          [--limit N] [--cursor C] [--json]\n"
    "\n"
    "List the mails the privacy mailbox took, newest first, a page at a time:\n"
    "number, when it came (UTC), how (lmtp, maildir), its outcome, the rule\n"
    "that matched, the request it made (confirmation code), whether it was\n"
    "answered, its state and whether its raw message is still kept (sealed).\n"
    "No personal data.  When there are more, the last line gives the --cursor\n"
    "of the next page.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -s, --state S       open (default: what waits for you or for its request),\n"
    "                      closed or all\n"
    "      --outcome O     only mails with outcome O (request, review, status,\n"
    "                      unmatched, robot, refused)\n"
    "      --limit N       mails per page, 1 to 1000 (default 100)\n"
    "      --cursor C      the page after the one that printed C\n"
    "      --json          the page as JSON: {\"mails\": [...], \"next\": C or null}\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 listed, 1 failure, 2 usage error, 3 configuration invalid.\n";

static const char usage_show[] =
    "usage: lethe mailbox show -c CONFIG N [--json]\n"
    "\n"
    "Show mail N as the privacy mailbox understood it: the list's fields, and\n"
    "while its raw message is kept, its From, To, Date and Subject, the claims\n"
    "found in it with their values, and its text.  That is personal data: it is\n"
    "printed here for you and never logged.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "      --json          the mail as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 shown, 1 no such mail or failure, 2 usage error,\n"
    "3 configuration invalid.\n";

static const char usage_close[] =
    "usage: lethe mailbox close -c CONFIG N [--reason TEXT] [--json]\n"
    "\n"
    "Close mail N of the queue: you dealt with it.  Its raw message is wiped,\n"
    "who closed it and why are recorded.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -r, --reason TEXT   why (one line, at most 160 bytes; no personal data)\n"
    "      --json          the mail afterwards as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 closed, 1 no such mail, already closed, or failure, 2 usage\n"
    "error, 3 configuration invalid.\n";

#define MAILBOX_LIST_MAX 1000 /* mails per page at most */
#define MAILBOX_REASON_MAX 160

static const struct cli_option opts_list[] = {
    {.name = "state", .short_name = 's', .kind = CLI_VALUE},
    {.name = "outcome", .kind = CLI_VALUE},
    {.name = "limit",
     .kind = CLI_INT,
     .min = 1,
     .max = MAILBOX_LIST_MAX,
     .bad = "--limit must be a number from 1 to 1000"},
    {.name = "cursor", .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_close[] = {
    {.name = "reason", .short_name = 'r', .kind = CLI_VALUE},
    {.name = NULL},
};

static int mailbox_list(const struct cli_args *a);
static int mailbox_show(const struct cli_args *a);
static int mailbox_close(const struct cli_args *a);

#define SUB(n, u, o, op, f)                                                                        \
	{                                                                                          \
		.name = "mailbox " n, .usage = u, .common = CLI_CONFIG | CLI_JSON, .options = o,   \
		.operand = op, .fn = f                                                             \
	}

const struct cli_command cli_mailbox_subs[] = {
    SUB("list", usage_list, opts_list, NULL, mailbox_list),
    SUB("show", usage_show, NULL, "N", mailbox_show),
    SUB("close", usage_close, opts_close, "N", mailbox_close),
    {.name = NULL},
};

/* ---- opening and printing ---------------------------------------------------- */

static void
print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

/*
 * Member @k of @o as text into @out (@cap bytes): a string as it is, an
 * integer in decimal (a time "received_at"/"closed_at" in UTC), true/false
 * as yes/no, absent or null as "-".
 */
static const char *
text_of(const json_t *o, const char *k, char *out, size_t cap)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_string(v))
		snprintf(out, cap, "%s", json_string_value(v));
	else if (json_is_integer(v) &&
	         (strcmp(k, "received_at") == 0 || strcmp(k, "closed_at") == 0))
		time_format_iso((int64_t)json_integer_value(v), out, cap);
	else if (json_is_integer(v))
		snprintf(out, cap, "%lld", (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(out, cap, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(out, cap, "-");
	if (out[0] == '\0')
		snprintf(out, cap, "-");
	return out;
}

/* N of a subcommand: a mail's number, 1 or more; 0 if @s is not one. */
static int64_t
mail_number(const char *s)
{
	char *end = NULL;
	long long v;

	if (s == NULL || *s < '1' || *s > '9')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno == 0 && end != NULL && *end == '\0' && v > 0 ? (int64_t)v : 0;
}

/* The mail @j as a block of "name: value" lines, then what it says (show). */
static void
print_mail(const json_t *j)
{
	static const char *const fields[] = {
	    "via",       "received_at", "bytes",   "outcome", "rule",     "reason",
	    "decision",  "request",     "replied", "state",   "raw_kept", "closed_at",
	    "closed_by", "from",        "to",      "date",    "subject",  NULL};
	const json_t *claims, *c;
	char v[1024], w[512], x[512];
	const char *text;
	size_t i;

	printf("mail %s\n", text_of(j, "id", v, sizeof(v)));
	for (i = 0; fields[i] != NULL; i++)
		if (json_object_get(j, fields[i]) != NULL)
			printf("  %-12s %s\n", fields[i], text_of(j, fields[i], v, sizeof(v)));
	claims = json_object_get(j, "claims");
	if (json_array_size(claims) > 0) {
		printf("  claims:\n");
		json_array_foreach(claims, i, c)
		    printf("    %s (%s): %s\n", text_of(c, "name", w, sizeof(w)),
		           text_of(c, "identity", x, sizeof(x)), text_of(c, "value", v, sizeof(v)));
	}
	text = json_string_value(json_object_get(j, "text"));
	if (text != NULL)
		printf("  text:\n%s%s", text,
		       text[0] != '\0' && text[strlen(text) - 1] == '\n' ? "" : "\n");
}

/* ---- the subcommands ------------------------------------------------------- */

static int
mailbox_list(const struct cli_args *a)
{
	struct cli_env env;
	struct lethe_err err = {0};
	const char *state = cli_arg_str(a, "state", "open");
	json_t *out = NULL, *m;
	char c[8][80];
	int status = 0;
	size_t i;
	lethe_rc rc;

	memset(&env, 0, sizeof(env));
	if (strcmp(state, "open") != 0 && strcmp(state, "closed") != 0 && strcmp(state, "all") != 0)
		return cli_usage_fail(a, "--state must be open, closed or all");
	rc = cli_env_open_state(&env, a->config, &err);
	if (rc == LETHE_OK)
		rc = service_mailbox_list(env.svc, strcmp(state, "all") == 0 ? NULL : state,
		                          cli_arg_str(a, "outcome", NULL),
		                          cli_arg_str(a, "cursor", NULL),
		                          (int)cli_arg_int(a, "limit", 0), &out, &err);
	if (rc != LETHE_OK) {
		status = cli_service_fail(&err, a->json);
		goto out;
	}
	if (a->json) {
		print_json(out);
		goto out;
	}
	printf("%-6s %-20s %-7s %-9s %-20s %-34s %-7s %-6s %s\n", "ID", "RECEIVED", "VIA",
	       "OUTCOME", "RULE", "REQUEST", "REPLIED", "STATE", "RAW KEPT");
	json_array_foreach(json_object_get(out, "mails"), i, m)
	    printf("%-6s %-20s %-7s %-9s %-20s %-34s %-7s %-6s %s\n", text_of(m, "id", c[0], 80),
	           text_of(m, "received_at", c[1], 80), text_of(m, "via", c[2], 80),
	           text_of(m, "outcome", c[3], 80), text_of(m, "rule", c[4], 80),
	           text_of(m, "request", c[5], 80), text_of(m, "replied", c[6], 80),
	           text_of(m, "state", c[7], 80),
	           json_is_true(json_object_get(m, "raw_kept")) ? "yes" : "no");
	if (json_object_get(out, "next") != NULL && !json_is_null(json_object_get(out, "next")))
		printf("more: add --cursor %s\n", text_of(out, "next", c[0], 80));
out:
	json_decref(out);
	cli_env_close(&env);
	return status;
}

static int
mailbox_show(const struct cli_args *a)
{
	struct cli_env env;
	struct lethe_err err = {0};
	int64_t id = mail_number(a->operand);
	json_t *out = NULL;
	int status = 0;
	lethe_rc rc;

	memset(&env, 0, sizeof(env));
	if (id <= 0)
		return cli_usage_fail(a, "N must be a mail's number (1 or more)");
	rc = cli_env_open_state(&env, a->config, &err);
	if (rc == LETHE_OK)
		rc = service_mailbox_show(env.svc, id, &out, &err);
	if (rc == LETHE_E_NOTFOUND)
		lethe_err_set(&err, rc, "no mail with this number");
	if (rc != LETHE_OK)
		status = cli_service_fail(&err, a->json);
	else if (a->json)
		print_json(out);
	else
		print_mail(out);
	json_decref(out);
	cli_env_close(&env);
	return status;
}

static int
mailbox_close(const struct cli_args *a)
{
	struct cli_env env;
	struct lethe_err err = {0};
	int64_t id = mail_number(a->operand);
	const char *reason = cli_arg_str(a, "reason", NULL);
	json_t *out = NULL;
	int status = 0;
	lethe_rc rc;

	memset(&env, 0, sizeof(env));
	if (id <= 0)
		return cli_usage_fail(a, "N must be a mail's number (1 or more)");
	if (reason != NULL && strlen(reason) > MAILBOX_REASON_MAX)
		return cli_usage_fail(a, "--reason is at most 160 bytes");
	rc = cli_env_open_state(&env, a->config, &err);
	if (rc == LETHE_OK)
		rc = service_mailbox_close(env.svc, id, "cli", reason, &out, &err);
	if (rc == LETHE_E_NOTFOUND)
		lethe_err_set(&err, rc, "no mail with this number");
	else if (rc == LETHE_E_CONFLICT)
		lethe_err_set(&err, rc, "mail %lld is closed already", (long long)id);
	if (rc != LETHE_OK)
		status = cli_service_fail(&err, a->json);
	else if (a->json && out != NULL)
		print_json(out);
	else if (out != NULL)
		print_mail(out);
	else
		printf("mail %lld closed\n", (long long)id);
	json_decref(out);
	cli_env_close(&env);
	return status;
}
