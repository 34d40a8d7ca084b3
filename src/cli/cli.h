/* SPDX-License-Identifier: MIT */
/*
 * cli.h - shared pieces of the lethe command line.
 *
 * Each command lives in cmd_<name>.c and has the signature of cli_cmd_fn:
 * it parses its own arguments and returns a process exit status
 * (0 ok, 1 failure, 2 usage, 3 configuration or data map invalid).
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

typedef int (*cli_cmd_fn)(int argc, char **argv);

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
 * After getopt: no operands left (@rest, @nrest of them), a --scope and at
 * least one --id; LETHE_E_USAGE with detail otherwise.
 */
lethe_rc cli_check_target(const struct cli_opts *o, int nrest, char **rest, struct lethe_err *err);
/*
 * Load configuration, open the app database, load and validate the data
 * map, and open the service over them (env->svc).
 */
lethe_rc cli_env_open(struct cli_env *env, const char *config, struct lethe_err *err);
void cli_env_close(struct cli_env *env);
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

/* A progress bar on stderr when it is a terminal; no-op otherwise. */
struct progress;
struct progress *progress_new(bool enabled);
void progress_update(struct progress *p, const char *label, int64_t done, int64_t total);
void progress_done(struct progress *p);

int cmd_demo(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_erase(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_disconnect(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_apikey(int argc, char **argv);
int cmd_sweep(int argc, char **argv);

#endif /* LETHE_CLI_H */
