/* SPDX-License-Identifier: MIT */
/*
 * args.c - the command-line parser every command goes through (cli_run():
 * options and operands checked against the command's row of commands.c,
 * --help, command-line errors reported the same way for all), and what
 * the commands share after it: identities, opening the configured
 * databases and data map, the anonymize key check, reporting errors.
 *
 * The parser takes what GNU getopt_long takes: --name VALUE, --name=VALUE,
 * a unique prefix of a long name, -x VALUE, -xVALUE, flags bundled as -qh,
 * options and operands in any order, and -- before operands that start
 * with a dash.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>

#include "cli/cli.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

lethe_rc
cli_add_id(struct cli_opts *o, const char *arg, struct lethe_err *err)
{
	const char *eq = strchr(arg, '=');
	char *kind;

	if (o->nids >= CLI_MAX_IDS)
		return lethe_err_set(err, LETHE_E_USAGE, "at most %d --id options", CLI_MAX_IDS);
	if (eq == NULL || eq == arg || eq[1] == '\0')
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "--id needs KIND=VALUE, e.g. --id email=alice@example.com");
	if (strlen(eq + 1) > CLI_MAX_ID_LEN)
		return lethe_err_set(err, LETHE_E_USAGE, "--id value longer than %d bytes",
		                     CLI_MAX_ID_LEN);
	kind = xstrndup(arg, (size_t)(eq - arg));
	if (!appdb_ident_ok(kind)) {
		free(kind);
		return lethe_err_set(err, LETHE_E_USAGE, "--id: bad identity kind");
	}
	o->ids[o->nids].kind = kind;
	o->ids[o->nids].value = xstrdup(eq + 1);
	o->nids++;
	return LETHE_OK;
}

void
cli_opts_free(struct cli_opts *o)
{
	size_t i;

	for (i = 0; i < o->nids; i++) {
		free((char *)o->ids[i].kind);
		free((char *)o->ids[i].value);
	}
	o->nids = 0;
}

lethe_rc
cli_env_open(struct cli_env *env, const char *config, struct lethe_err *err)
{
	lethe_rc rc;

	memset(env, 0, sizeof(*env));
	if (config == NULL)
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "-c CONFIG is required (e.g. -c demo/lethe.yaml)");
	if (hash_init() != LETHE_OK)
		return lethe_err_set(err, LETHE_E_INTERNAL, "libsodium failed to initialise");
	rc = config_load(&env->cfg, config, err);
	env->cfg_loaded = true;
	if (rc != LETHE_OK)
		return rc;
	env->db = appdb_open(env->cfg.app_db, env->cfg.dir, err);
	if (env->db == NULL)
		return err ? err->rc : LETHE_E_DB;
	env->dm = datamap_load(env->cfg.datamap_path, NULL, err);
	if (env->dm == NULL)
		return err ? err->rc : LETHE_E_DATAMAP;
	rc = datamap_validate(env->dm, env->db, err);
	if (rc == LETHE_OK)
		env->svc = service_open(&env->cfg, env->dm, env->db);
	return rc;
}

lethe_rc
cli_load_key(struct lethe_config *cfg, struct lethe_err *err)
{
	return service_load_key(cfg, err);
}

void
cli_env_close(struct cli_env *env)
{
	service_close(env->svc);
	datamap_free(env->dm);
	appdb_close(env->db);
	if (env->cfg_loaded)
		config_free(&env->cfg);
	memset(env, 0, sizeof(*env));
}

int
cli_fail(const struct lethe_err *err, bool json)
{
	fprintf(stderr, "lethe: error: %s\n", err->msg);
	if (json) {
		json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", lethe_rc_str(err->rc),
		                      "message", err->msg);

		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
	}
	return lethe_rc_exit(err->rc);
}

int
cli_service_fail(struct lethe_err *err, bool json)
{
	if (err->rc == LETHE_E_INVALID)
		err->rc = LETHE_E_USAGE;
	return cli_fail(err, json);
}

lethe_rc
cli_env_open_state(struct cli_env *env, const char *config, struct lethe_err *err)
{
	lethe_rc rc;

	rc = cli_env_open(env, config, err);
	if (rc == LETHE_OK)
		rc = time_test_clock_check(err);
	if (rc == LETHE_OK)
		rc = cli_load_key(&env->cfg, err);
	if (rc == LETHE_OK)
		rc = service_load_outbox_key(&env->cfg, err);
	if (rc == LETHE_OK)
		rc = service_store_open(env->svc, err);
	return rc;
}

lethe_rc
cli_target_get(const struct cli_args *a, struct cli_opts *o, struct lethe_err *err)
{
	const char *const *ids;
	size_t i, n;
	lethe_rc rc = LETHE_OK;

	o->config = a->config;
	o->json = a->json;
	o->scope = cli_arg_str(a, "scope", NULL);
	ids = cli_arg_list(a, "id", &n);
	for (i = 0; rc == LETHE_OK && i < n; i++)
		rc = cli_add_id(o, ids[i], err);
	return rc;
}

/* ---- the parser ---------------------------------------------------------------- */

/* The options cli_command.common stands for, and --help that every row has. */
static const struct cli_option opt_config = {
    .name = "config",
    .short_name = 'c',
    .kind = CLI_VALUE,
    .required = "-c CONFIG is required (e.g. -c demo/lethe.yaml)",
};
static const struct cli_option opt_json = {.name = "json", .short_name = 'j', .kind = CLI_FLAG};
static const struct cli_option opt_help = {.name = "help", .short_name = 'h', .kind = CLI_FLAG};

/* What the command line gave one option. */
struct cli_value {
	const char *str;   /* the last value given (an argv string), or NULL */
	int64_t num;       /* CLI_INT: @str as a number */
	bool set;          /* given at least once */
	const char **list; /* CLI_LIST: every value given, in order */
	size_t n, cap;     /* CLI_LIST: values in @list, and room */
};

/* Every option a row takes and what the command line gave each. */
struct cli_parsed {
	const struct cli_option **opts; /* the common ones, the row's own, --help */
	struct cli_value *vals;         /* what each of @opts got */
	size_t n;                       /* options in both */
	int noperands;                  /* operands seen */
	const char *extra;              /* the first operand the row has no room for */
};

static void
parsed_init(struct cli_parsed *p, const struct cli_command *cmd)
{
	size_t n = 3, i; /* -c, --json and --help, then the row's own */

	memset(p, 0, sizeof(*p));
	for (i = 0; cmd->options != NULL && cmd->options[i].name != NULL; i++)
		n++;
	p->opts = xcalloc(n, sizeof(*p->opts));
	p->vals = xcalloc(n, sizeof(*p->vals));
	if (cmd->common & CLI_CONFIG)
		p->opts[p->n++] = &opt_config;
	if (cmd->common & CLI_JSON)
		p->opts[p->n++] = &opt_json;
	for (i = 0; cmd->options != NULL && cmd->options[i].name != NULL; i++)
		p->opts[p->n++] = &cmd->options[i];
	p->opts[p->n++] = &opt_help;
}

static void
parsed_free(struct cli_parsed *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->vals[i].list);
	free(p->opts);
	free(p->vals);
	memset(p, 0, sizeof(*p));
}

/* The index of option @name in @p, or p->n. */
static size_t
parsed_find(const struct cli_parsed *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->opts[i]->name, name) == 0)
			break;
	return i;
}

/* The value of option @name, which @a's row must declare (a typo is a bug: fatalx). */
static const struct cli_value *
arg_value(const struct cli_args *a, const char *name, enum cli_kind kind)
{
	size_t i = parsed_find(a->parsed, name);

	if (i == a->parsed->n || a->parsed->opts[i]->kind != kind)
		fatalx("lethe %s: no option --%s of this kind in the command table", a->cmd->name,
		       name);
	return &a->parsed->vals[i];
}

const char *
cli_arg_str(const struct cli_args *a, const char *name, const char *dflt)
{
	const struct cli_value *v = arg_value(a, name, CLI_VALUE);

	return v->set ? v->str : dflt;
}

int64_t
cli_arg_int(const struct cli_args *a, const char *name, int64_t dflt)
{
	const struct cli_value *v = arg_value(a, name, CLI_INT);

	return v->set ? v->num : dflt;
}

bool
cli_arg_flag(const struct cli_args *a, const char *name)
{
	return arg_value(a, name, CLI_FLAG)->set;
}

const char *const *
cli_arg_list(const struct cli_args *a, const char *name, size_t *n)
{
	const struct cli_value *v = arg_value(a, name, CLI_LIST);

	*n = v->n;
	return v->list;
}

/* Option --@name (@len bytes of it): an exact name, or a prefix of exactly one. */
static lethe_rc
option_long(const struct cli_parsed *p, const char *name, size_t len, size_t *idx,
            struct lethe_err *err)
{
	size_t i, nfound = 0;

	for (i = 0; len > 0 && i < p->n; i++) {
		if (strncmp(p->opts[i]->name, name, len) != 0)
			continue;
		if (p->opts[i]->name[len] == '\0') {
			*idx = i;
			return LETHE_OK;
		}
		*idx = i;
		nfound++;
	}
	if (nfound == 1)
		return LETHE_OK;
	return lethe_err_set(err, LETHE_E_USAGE, "%s option '--%.*s'",
	                     nfound == 0 ? "unknown" : "ambiguous", (int)len, name);
}

/* Option -@c. */
static lethe_rc
option_short(const struct cli_parsed *p, char c, size_t *idx, struct lethe_err *err)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->opts[i]->short_name == c) {
			*idx = i;
			return LETHE_OK;
		}
	return lethe_err_set(err, LETHE_E_USAGE, "unknown option '-%c'", c);
}

/* Option @i was given, with @val (NULL for a flag). */
static lethe_rc
value_add(struct cli_parsed *p, size_t i, const char *val, struct lethe_err *err)
{
	const struct cli_option *o = p->opts[i];
	struct cli_value *v = &p->vals[i];
	char *end = NULL;

	v->set = true;
	if (o->alias_of != NULL) { /* --dead: --state dead */
		val = o->alias_value;
		i = parsed_find(p, o->alias_of);
		if (i == p->n)
			fatalx("option --%s: no option --%s to stand for", o->name, o->alias_of);
		o = p->opts[i];
		v = &p->vals[i];
		v->set = true;
	}
	v->str = val;
	if (o->kind == CLI_INT) {
		errno = 0;
		v->num = strtoll(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || v->num < o->min || v->num > o->max)
			return lethe_err_set(err, LETHE_E_USAGE, "%s", o->bad);
	} else if (o->kind == CLI_LIST) {
		v->list = xgrow(v->list, &v->cap, v->n + 1, sizeof(*v->list));
		v->list[v->n++] = val;
	}
	return LETHE_OK;
}

/* Operand @s: the row's one operand, or one too many. */
static void
operand_add(struct cli_args *a, const char *s)
{
	struct cli_parsed *p = a->parsed;

	if (a->cmd->operand != NULL && p->noperands == 0)
		a->operand = s;
	else if (p->extra == NULL)
		p->extra = s;
	p->noperands++;
}

/* One word -@s (not "-" or "--"), and the next one when it is the option's value. */
static lethe_rc
word_scan(struct cli_args *a, int argc, char **argv, int *i, bool *help, struct lethe_err *err)
{
	struct cli_parsed *p = a->parsed;
	const char *s = argv[*i], *val = NULL;
	size_t k = 0, j;
	lethe_rc rc;

	if (s[1] == '-') { /* --name, --name=value, --name value */
		const char *eq = strchr(s + 2, '=');

		rc = option_long(p, s + 2, eq != NULL ? (size_t)(eq - s - 2) : strlen(s + 2), &k,
		                 err);
		if (rc != LETHE_OK)
			return rc;
		if (p->opts[k]->kind == CLI_FLAG && eq != NULL)
			return lethe_err_set(err, LETHE_E_USAGE, "option '--%s' takes no value",
			                     p->opts[k]->name);
		if (p->opts[k]->kind != CLI_FLAG && eq == NULL && *i + 1 >= argc)
			return lethe_err_set(err, LETHE_E_USAGE, "option '--%s' needs a value",
			                     p->opts[k]->name);
		if (p->opts[k]->kind != CLI_FLAG)
			val = eq != NULL ? eq + 1 : argv[++*i];
		*help = *help || p->opts[k] == &opt_help;
		return value_add(p, k, val, err);
	}
	for (j = 1; s[j] != '\0'; j++) { /* -x, -xVALUE, -x VALUE, -qh */
		rc = option_short(p, s[j], &k, err);
		if (rc != LETHE_OK)
			return rc;
		*help = *help || p->opts[k] == &opt_help;
		if (p->opts[k]->kind == CLI_FLAG) {
			rc = value_add(p, k, NULL, err);
			if (rc != LETHE_OK)
				return rc;
			continue;
		}
		if (s[j + 1] == '\0' && *i + 1 >= argc)
			return lethe_err_set(err, LETHE_E_USAGE, "option '-%c' needs a value",
			                     s[j]);
		return value_add(p, k, s[j + 1] != '\0' ? s + j + 1 : argv[++*i], err);
	}
	return LETHE_OK;
}

/*
 * Every word of @argv: options into a->parsed, operands into a->operand.
 * The first error goes into @err and scanning goes on (so that a --json
 * after it still counts); *@help when --help came before any error.
 */
static lethe_rc
args_scan(struct cli_args *a, int argc, char **argv, bool *help, struct lethe_err *err)
{
	struct lethe_err later = {0};
	bool dashdash = false, h = false;
	lethe_rc rc = LETHE_OK;
	int i;

	for (i = 1; i < argc; i++) {
		const char *s = argv[i];
		lethe_rc r;

		if (dashdash || s[0] != '-' || s[1] == '\0') {
			operand_add(a, s);
			continue;
		}
		if (strcmp(s, "--") == 0) {
			dashdash = true;
			continue;
		}
		r = word_scan(a, argc, argv, &i, &h, rc == LETHE_OK ? err : &later);
		if (rc == LETHE_OK && h) {
			*help = true;
			break;
		}
		if (rc == LETHE_OK)
			rc = r;
	}
	if (a->cmd->common & CLI_CONFIG)
		a->config = a->parsed->vals[parsed_find(a->parsed, "config")].str;
	if (a->cmd->common & CLI_JSON)
		a->json = a->parsed->vals[parsed_find(a->parsed, "json")].set;
	return rc;
}

/* After a clean scan: every required option given, the operands the row takes. */
static lethe_rc
args_check(const struct cli_args *a, struct lethe_err *err)
{
	const struct cli_parsed *p = a->parsed;
	const struct cli_command *cmd = a->cmd;
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->opts[i]->required != NULL && !p->vals[i].set)
			return lethe_err_set(err, LETHE_E_USAGE, "%s", p->opts[i]->required);
	if (cmd->operand != NULL && !cmd->operand_optional &&
	    (p->noperands == 0 || p->extra != NULL))
		return lethe_err_set(err, LETHE_E_USAGE, "give exactly one %s", cmd->operand);
	if (p->extra != NULL)
		return lethe_err_set(err, LETHE_E_USAGE, "unexpected argument '%s'", p->extra);
	return LETHE_OK;
}

/* The subcommand of @cmd named @word, or NULL. */
static const struct cli_command *
find_sub(const struct cli_command *cmd, const char *word)
{
	const struct cli_command *sub;
	size_t n = strlen(cmd->name);

	for (sub = cmd->subs; sub->name != NULL; sub++)
		if (strncmp(sub->name, cmd->name, n) == 0 && sub->name[n] == ' ' &&
		    strcmp(sub->name + n + 1, word) == 0)
			return sub;
	return NULL;
}

/* A row with subcommands: run the one @argv[1] names. */
static int
run_sub(const struct cli_command *cmd, int argc, char **argv)
{
	const struct cli_command *sub = argc >= 2 ? find_sub(cmd, argv[1]) : NULL;
	const char *blank = strstr(cmd->usage, "\n\n");

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(cmd->usage, stdout);
		return 0;
	}
	if (sub != NULL)
		return cli_run(sub, argc - 1, argv + 1);
	if (argc < 2)
		fprintf(stderr, "lethe: error: %s needs a subcommand\n", cmd->name);
	else
		fprintf(stderr, "lethe: error: unknown subcommand '%s %s'\n", cmd->name, argv[1]);
	fprintf(stderr, "%.*s\nRun '%s %s --help' for every subcommand.\n",
	        blank != NULL ? (int)(blank - cmd->usage) : (int)strlen(cmd->usage), cmd->usage,
	        cli_program, cmd->name);
	return 2;
}

int
cli_run(const struct cli_command *cmd, int argc, char **argv)
{
	struct cli_parsed parsed;
	struct cli_args a;
	struct lethe_err err = {0};
	bool help = false;
	int status;
	lethe_rc rc;

	/* A row with a function of its own runs it unless a subcommand is named (lethe keys). */
	if (cmd->subs != NULL && (cmd->fn == NULL || (argc >= 2 && find_sub(cmd, argv[1]) != NULL)))
		return run_sub(cmd, argc, argv);
	memset(&a, 0, sizeof(a));
	parsed_init(&parsed, cmd);
	a.cmd = cmd;
	a.parsed = &parsed;
	rc = args_scan(&a, argc, argv, &help, &err);
	if (help) {
		fputs(cmd->usage, stdout);
		status = 0;
		goto out;
	}
	if (rc == LETHE_OK)
		rc = args_check(&a, &err);
	if (rc != LETHE_OK) {
		/* The error, then the synopsis: the usage text up to its first blank line. */
		const char *blank = strstr(cmd->usage, "\n\n");

		status = cli_fail(&err, a.json);
		fprintf(stderr, "%.*s\nRun '%s %s --help' for every option.\n",
		        blank != NULL ? (int)(blank - cmd->usage) : (int)strlen(cmd->usage),
		        cmd->usage, cli_program, cmd->name);
		goto out;
	}
	status = cmd->fn(&a);
out:
	parsed_free(&parsed);
	return status;
}

int
cli_usage_fail(const struct cli_args *a, const char *fmt, ...)
{
	struct lethe_err err = {0};
	va_list ap;

	err.rc = LETHE_E_USAGE;
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	return cli_fail(&err, a->json);
}
