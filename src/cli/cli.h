/* SPDX-License-Identifier: MIT */
/*
 * cli.h - shared pieces of the lethe command line.
 *
 * Every command is one row of the command table (commands.c: name, summary,
 * usage text, options) plus its function in cmd_<name>.c, of the type
 * cli_cmd_fn.  cli_run() parses the command line against the row (args.c),
 * answers --help and reports command-line errors itself, then calls the
 * function with the parsed options; the function returns a process exit
 * status (0 ok, 1 failure, 2 usage, 3 configuration or data map invalid).
 * docs/internals/cli.md says how to add a command.
 */
#ifndef LETHE_CLI_H
#define LETHE_CLI_H

#include "config/config.h"
#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/plan.h"
#include "service/service.h"
#include "util/rc.h"

#define CLI_MAX_IDS 64
#define CLI_MAX_ID_LEN 1024

/* How an option of the command table takes its value. */
enum cli_kind {
	CLI_FLAG,  /* no value: --quiet */
	CLI_VALUE, /* one value, the last one given counts: --scope NAME */
	CLI_INT,   /* a decimal integer from min to max: --batch N */
	CLI_LIST,  /* one value, repeatable, every one kept in order: --id KIND=VALUE */
};

/* One option of a command (a row of struct cli_command.options). */
struct cli_option {
	const char *name;        /* long name without "--"; NULL ends the list */
	char short_name;         /* 'b' for -b, or 0 for none */
	enum cli_kind kind;      /* how it takes its value */
	int64_t min, max;        /* CLI_INT: the accepted range */
	const char *bad;         /* CLI_INT: the error for a value out of range or not a number */
	const char *required;    /* the error when the option is missing, or NULL: optional */
	const char *alias_of;    /* CLI_FLAG: set this other option instead (--dead) ... */
	const char *alias_value; /* ... to this value (--state dead) */
};

/* Common options a row asks for (struct cli_command.common); --help/-h every row has. */
#define CLI_CONFIG 0x1u /* -c, --config FILE, required */
#define CLI_JSON 0x2u   /* -j, --json: errors as {"error": {"code", "message"}} too */

struct cli_args;
typedef int (*cli_cmd_fn)(const struct cli_args *a);

/* One row of the command table: everything about a command but its function's body. */
struct cli_command {
	const char *name;                 /* what the user types */
	const char *summary;              /* one line for `lethe help` */
	const char *usage;                /* --help text: the synopsis, a blank line, the rest */
	unsigned common;                  /* CLI_CONFIG | CLI_JSON */
	const struct cli_option *options; /* its own options, ended by a NULL name; may be NULL */
	const char *operand;              /* the one operand it takes ("FILE"), or NULL: none */
	bool operand_optional;            /* the operand may be left out */
	cli_cmd_fn fn;                    /* what runs */
	const struct cli_command *subs;   /* subcommands (rows named "CMD SUB", ended by a NULL
	                                     name): cli_run() runs the one argv[1] names */
};

/* A command line parsed against its row; what a command function receives. */
struct cli_args {
	const struct cli_command *cmd; /* the row */
	const char *config;            /* -c FILE (CLI_CONFIG), or NULL */
	bool json;                     /* --json given (CLI_JSON) */
	const char *operand;           /* the operand, or NULL */
	struct cli_parsed *parsed;     /* every option's value (args.c) */
};

/* The command table, in the order `lethe help` lists it. */
extern const struct cli_command cli_commands[];
/* The subcommands of `lethe requests` (cmd_requests.c), ended by a NULL name. */
extern const struct cli_command cli_requests_subs[];
/* The subcommands of `lethe mailbox` (cmd_mailbox.c), ended by a NULL name. */
extern const struct cli_command cli_mailbox_subs[];
/* The subcommands of `lethe receipt` (cmd_receipt.c), ended by a NULL name. */
extern const struct cli_command cli_receipt_subs[];
/* The subcommands of `lethe audit` and `lethe keys` (cmd_audit.c). */
extern const struct cli_command cli_audit_subs[];
extern const struct cli_command cli_keys_subs[];
extern const size_t cli_ncommands;

/* The row named @name, or NULL. */
const struct cli_command *cli_command_find(const char *name);
/* The top-level help (`lethe help`): synopsis, every row's summary, examples. */
void cli_help_print(FILE *f);
/*
 * Run @cmd with @argv (@argv[0] is the command's name): for a row with
 * subcommands, the one @argv[1] names (its usage for --help, exit 0; a
 * usage error, exit 2, for none or an unknown one); else parse against the
 * row, then print the usage on stdout and return 0 for --help, report a
 * command-line error and return 2 ("lethe: error: ..." and the synopsis on
 * stderr; with --json also the JSON error on stdout), or return what the
 * command's function returns.
 */
int cli_run(const struct cli_command *cmd, int argc, char **argv);
/* The last value of option @name, or @dflt when it was not given. */
const char *cli_arg_str(const struct cli_args *a, const char *name, const char *dflt);
/* The value of CLI_INT option @name (checked against its range), or @dflt. */
int64_t cli_arg_int(const struct cli_args *a, const char *name, int64_t dflt);
/* Whether CLI_FLAG option @name was given. */
bool cli_arg_flag(const struct cli_args *a, const char *name);
/* Every value of CLI_LIST option @name in order; *@n of them (the array is @a's). */
const char *const *cli_arg_list(const struct cli_args *a, const char *name, size_t *n);
/*
 * A usage error a command finds in its options after parsing (a bad value
 * only it can judge): reported as cli_fail() does with LETHE_E_USAGE and
 * @a's --json; returns 2.
 */
int cli_usage_fail(const struct cli_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* How the user ran lethe (main's argv[0], e.g. "build/lethe"), for example command lines
 * that work when pasted; set once by main() before any command runs. */
extern const char *cli_program;

/* Options common to plan and erase. */
struct cli_opts {
	const char *config;              /* -c FILE */
	const char *scope;               /* --scope NAME */
	struct plan_id ids[CLI_MAX_IDS]; /* --id KIND=VALUE (strings owned) */
	size_t nids;                     /* number of ids */
	bool json;                       /* --json */
	bool quiet;                      /* --quiet */
	bool no_progress;                /* --no-progress */
	int64_t batch;                   /* --batch N (0: from config) */
};

/* What commands open: configuration, data map, app database, and the service over them. */
struct cli_env {
	struct lethe_config cfg; /* lethe.yaml */
	struct datamap *dm;      /* validated data map */
	struct appdb *db;        /* app database */
	struct service *svc;     /* the actions on them (service/service.h) */
	bool cfg_loaded;         /* cfg must be freed */
};

/* Parse "KIND=VALUE" into @o->ids; LETHE_E_USAGE with detail on error. */
lethe_rc cli_add_id(struct cli_opts *o, const char *arg, struct lethe_err *err);
void cli_opts_free(struct cli_opts *o);
/*
 * Fill @o's config, json, scope and ids from @a (every --id through
 * cli_add_id()); LETHE_E_USAGE with detail on a bad --id.  The table makes
 * --scope and --id required.
 */
lethe_rc cli_target_get(const struct cli_args *a, struct cli_opts *o, struct lethe_err *err);
/*
 * Load configuration, open the app database, load and validate the data
 * map, and open the service over them (env->svc).
 */
lethe_rc cli_env_open(struct cli_env *env, const char *config, struct lethe_err *err);
void cli_env_close(struct cli_env *env);
/*
 * cli_env_open() for a command that acts through the state store (lethe
 * requests, lethe mailbox): also refuse a test clock outside tests, load
 * the anonymize key (cli_load_key()) and the outbox key, and open the
 * state store.
 */
lethe_rc cli_env_open_state(struct cli_env *env, const char *config, struct lethe_err *err);
/*
 * Load the anonymize key of @cfg and check it against the fingerprint the
 * state store records (recording it if none is): a store that records one
 * gets exactly that key back or the command stops with LETHE_E_CONFIG
 * (exit 3) saying which file or variable to restore; a missing key file is
 * then never replaced by a new one.  A store that records none (a new one)
 * may create the key file as config_load_key() does.  Every command that
 * opens the state store calls this instead of config_load_key().  The
 * check itself is service_load_key().
 */
lethe_rc cli_load_key(struct lethe_config *cfg, struct lethe_err *err);
/*
 * Report @err: "lethe: error: ..." on stderr, and with @json also
 * {"error": {"code", "message"}} on stdout.  Returns the exit status.
 */
int cli_fail(const struct lethe_err *err, bool json);
/* cli_fail() for a failed service call: its invalid input is a usage error (exit 2). */
int cli_service_fail(struct lethe_err *err, bool json);

/* A progress bar on stderr when it is a terminal; no-op otherwise. */
struct progress;
struct progress *progress_new(bool enabled);
void progress_update(struct progress *p, const char *label, int64_t done, int64_t total);
void progress_done(struct progress *p);

/* The command functions of the table's rows (cmd_<name>.c; help and version: commands.c). */
int cmd_demo(const struct cli_args *a);
int cmd_plan(const struct cli_args *a);
int cmd_erase(const struct cli_args *a);
int cmd_export(const struct cli_args *a);
int cmd_sign(const struct cli_args *a);
int cmd_serve(const struct cli_args *a);
int cmd_import(const struct cli_args *a);
int cmd_disconnect(const struct cli_args *a);
int cmd_jobs(const struct cli_args *a);
int cmd_apikey(const struct cli_args *a);
int cmd_sweep(const struct cli_args *a);
int cmd_mail_intake(const struct cli_args *a);
int cmd_reapply(const struct cli_args *a);
int cmd_scan(const struct cli_args *a);
int cmd_keys(const struct cli_args *a);
int cmd_help(const struct cli_args *a);
int cmd_version(const struct cli_args *a);

#endif /* LETHE_CLI_H */
