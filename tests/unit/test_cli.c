/* SPDX-License-Identifier: MIT */
/*
 * test_cli.c - unit tests of the command-line parser (src/cli/args.c,
 * cli_run()) against a command row of its own: the getopt_long forms it
 * takes (--name=VALUE, prefixes, -xVALUE, bundled flags, --), the option
 * kinds, required options, operands, --help, rows with subcommands, and
 * that every command-line error is exit status 2 without running the command.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/cli.h"

const char *cli_program = "lethe"; /* main.c's, which this test does not link */

/* What the test command saw when it ran. */
static struct {
	int runs;            /* times it ran */
	const char *config;  /* a->config */
	bool json;           /* a->json */
	const char *name;    /* --name */
	int64_t count;       /* --count (default -1) */
	bool quiet;          /* --quiet */
	bool quarter;        /* --quarter */
	const char *ids[4];  /* every --id */
	size_t nids;         /* how many */
	const char *mode;    /* --mode (--fast is --mode fast) */
	const char *operand; /* a->operand */
} seen;

static int
cmd_test(const struct cli_args *a)
{
	const char *const *ids;
	size_t i;

	seen.runs++;
	seen.config = a->config;
	seen.json = a->json;
	seen.name = cli_arg_str(a, "name", NULL);
	seen.count = cli_arg_int(a, "count", -1);
	seen.quiet = cli_arg_flag(a, "quiet");
	seen.quarter = cli_arg_flag(a, "quarter");
	ids = cli_arg_list(a, "id", &seen.nids);
	for (i = 0; i < seen.nids && i < 4; i++)
		seen.ids[i] = ids[i];
	seen.mode = cli_arg_str(a, "mode", "slow");
	seen.operand = a->operand;
	return 7;
}

/* The function of the rows without options: only the operand. */
static int
cmd_bare(const struct cli_args *a)
{
	seen.runs++;
	seen.operand = a->operand;
	return 7;
}

static const struct cli_option opts_test[] = {
    {.name = "name", .short_name = 'n', .kind = CLI_VALUE, .required = "--name is required"},
    {.name = "count",
     .short_name = 'k',
     .kind = CLI_INT,
     .min = 1,
     .max = 10,
     .bad = "--count must be 1..10"},
    {.name = "quiet", .short_name = 'q', .kind = CLI_FLAG},
    {.name = "quarter", .kind = CLI_FLAG},
    {.name = "id", .short_name = 'i', .kind = CLI_LIST},
    {.name = "mode", .kind = CLI_VALUE},
    {.name = "fast", .kind = CLI_FLAG, .alias_of = "mode", .alias_value = "fast"},
    {.name = NULL},
};

static const struct cli_command row_test = {
    .name = "test",
    .summary = "a command to test the parser",
    .usage = "usage: lethe test -c CONFIG --name N [FILE]\n\nText.\n",
    .common = CLI_CONFIG | CLI_JSON,
    .options = opts_test,
    .operand = "FILE",
    .operand_optional = true,
    .fn = cmd_test,
};

static const struct cli_command row_one = {
    .name = "one",
    .summary = "takes exactly one operand and nothing else",
    .usage = "usage: lethe one FILE\n\nText.\n",
    .operand = "FILE",
    .fn = cmd_bare,
};

static const struct cli_command row_none = {
    .name = "none",
    .summary = "takes nothing",
    .usage = "usage: lethe none\n\nText.\n",
    .fn = cmd_bare,
};

/* A row with subcommands ("group one", "group none"), as `lethe requests`. */
static const struct cli_command subs_group[] = {
    {.name = "group one",
     .usage = "usage: lethe group one FILE\n\nText.\n",
     .operand = "FILE",
     .fn = cmd_bare},
    {.name = "group none", .usage = "usage: lethe group none\n\nText.\n", .fn = cmd_bare},
    {.name = NULL},
};

static const struct cli_command row_group = {
    .name = "group",
    .summary = "a command with subcommands",
    .usage = "usage: lethe group SUBCOMMAND\n\nText.\n",
    .subs = subs_group,
};

/* Run @row with the NULL-terminated words after the command's name. */
static int
run(const struct cli_command *row, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	char *w;

	memset(&seen, 0, sizeof(seen));
	argv[argc++] = (char *)row->name;
	va_start(ap, row);
	while ((w = va_arg(ap, char *)) != NULL && argc < 31)
		argv[argc++] = w;
	va_end(ap);
	argv[argc] = NULL;
	return cli_run(row, argc, argv);
}

static void
test_cli_long_forms(void **state)
{
	assert_int_equal(run(&row_test, "-c", "x.yaml", "--name", "a", "--count=3", NULL), 7);
	assert_int_equal(seen.runs, 1);
	assert_string_equal(seen.config, "x.yaml");
	assert_string_equal(seen.name, "a");
	assert_int_equal(seen.count, 3);
	assert_false(seen.json);
	assert_string_equal(seen.mode, "slow");
	assert_null(seen.operand);
	/* --config=FILE, a unique prefix (--na), --json */
	assert_int_equal(run(&row_test, "--config=y.yaml", "--na", "b", "--json", NULL), 7);
	assert_string_equal(seen.config, "y.yaml");
	assert_string_equal(seen.name, "b");
	assert_int_equal(seen.count, -1);
	assert_true(seen.json);
}

static void
test_cli_short_forms(void **state)
{
	assert_int_equal(run(&row_test, "-cx.yaml", "-n", "a", "-qj", "-k10", NULL), 7);
	assert_string_equal(seen.config, "x.yaml");
	assert_true(seen.quiet && seen.json);
	assert_int_equal(seen.count, 10);
	/* A value option inside a bundle takes the rest of the word. */
	assert_int_equal(run(&row_test, "-c", "x", "-qnabc", NULL), 7);
	assert_true(seen.quiet);
	assert_string_equal(seen.name, "abc");
	/* A value that starts with a dash is still the value. */
	assert_int_equal(run(&row_test, "-c", "x", "-n", "-5", NULL), 7);
	assert_string_equal(seen.name, "-5");
}

static void
test_cli_list_and_last_value(void **state)
{
	assert_int_equal(run(&row_test, "-c", "x", "--name", "a", "--id", "1", "-i2", "--id=3",
	                     "--name", "b", NULL),
	                 7);
	assert_int_equal(seen.nids, 3);
	assert_string_equal(seen.ids[0], "1");
	assert_string_equal(seen.ids[1], "2");
	assert_string_equal(seen.ids[2], "3");
	assert_string_equal(seen.name, "b");
}

static void
test_cli_alias(void **state)
{
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--fast", NULL), 7);
	assert_string_equal(seen.mode, "fast");
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--fast", "--mode", "odd", NULL), 7);
	assert_string_equal(seen.mode, "odd");
}

static void
test_cli_operands(void **state)
{
	assert_int_equal(run(&row_test, "f.txt", "-c", "x", "-n", "a", NULL), 7);
	assert_string_equal(seen.operand, "f.txt");
	/* After --, a word starting with a dash is an operand; "-" always is. */
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--", "--json", NULL), 7);
	assert_string_equal(seen.operand, "--json");
	assert_false(seen.json);
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "-", NULL), 7);
	assert_string_equal(seen.operand, "-");
	assert_int_equal(run(&row_one, "f", NULL), 7);
	assert_string_equal(seen.operand, "f");
	assert_int_equal(run(&row_none, NULL), 7);
}

static void
test_cli_errors_exit_2(void **state)
{
	/* unknown, ambiguous (--qu: quiet or quarter), missing value, value to a flag */
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--bogus", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "-z", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--qu", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", "-n", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--quiet=1", NULL), 2);
	/* integers: out of range, not a number, trailing junk, empty */
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--count", "0", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--count", "11", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--count", "x", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--count", "3x", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "--count=", NULL), 2);
	/* required: -c (common) and --name (the row's) */
	assert_int_equal(run(&row_test, "-n", "a", NULL), 2);
	assert_int_equal(run(&row_test, "-c", "x", NULL), 2);
	/* operands: one too many, none where one is needed, any where none is taken */
	assert_int_equal(run(&row_test, "-c", "x", "-n", "a", "f", "g", NULL), 2);
	assert_int_equal(run(&row_one, NULL), 2);
	assert_int_equal(run(&row_one, "f", "g", NULL), 2);
	assert_int_equal(run(&row_none, "f", NULL), 2);
	/* common options a row does not ask for are unknown */
	assert_int_equal(run(&row_none, "--json", NULL), 2);
	assert_int_equal(run(&row_none, "-c", "x", NULL), 2);
	assert_int_equal(seen.runs, 0);
}

static void
test_cli_help(void **state)
{
	assert_int_equal(run(&row_test, "--help", NULL), 0);
	assert_int_equal(run(&row_none, "-h", NULL), 0);
	assert_int_equal(run(&row_test, "-qh", NULL), 0);
	assert_int_equal(run(&row_test, "--he", NULL), 0);
	/* --help counts before an error, not after one. */
	assert_int_equal(run(&row_test, "-h", "--bogus", NULL), 0);
	assert_int_equal(run(&row_test, "--bogus", "-h", NULL), 2);
	assert_int_equal(seen.runs, 0);
}

static void
test_cli_subcommands(void **state)
{
	/* The subcommand named runs, parsed against its own row. */
	assert_int_equal(run(&row_group, "one", "f", NULL), 7);
	assert_int_equal(seen.runs, 1);
	assert_string_equal(seen.operand, "f");
	assert_int_equal(run(&row_group, "none", NULL), 7);
	assert_int_equal(seen.runs, 1);
	/* Its own errors and help; the group's help; none or an unknown one: usage. */
	assert_int_equal(run(&row_group, "one", NULL), 2);
	assert_int_equal(run(&row_group, "none", "f", NULL), 2);
	assert_int_equal(run(&row_group, "one", "--help", NULL), 0);
	assert_int_equal(run(&row_group, "--help", NULL), 0);
	assert_int_equal(run(&row_group, "-h", NULL), 0);
	assert_int_equal(run(&row_group, NULL), 2);
	assert_int_equal(run(&row_group, "two", NULL), 2);
	assert_int_equal(run(&row_group, "group", "one", "f", NULL), 2);
	assert_int_equal(seen.runs, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cli_long_forms),
	    cmocka_unit_test(test_cli_short_forms),
	    cmocka_unit_test(test_cli_list_and_last_value),
	    cmocka_unit_test(test_cli_alias),
	    cmocka_unit_test(test_cli_operands),
	    cmocka_unit_test(test_cli_errors_exit_2),
	    cmocka_unit_test(test_cli_help),
	    cmocka_unit_test(test_cli_subcommands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
