/* SPDX-License-Identifier: MIT */
/*
 * cmd_demo.c - `lethe demo`: write the reference app database.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <getopt.h>

#include "cli/cli.h"
#include "demo/demo.h"

static const char usage[] =
    "usage: lethe demo --dir DIR [--users N] [--seed S] [--heavy ROWS] [--quiet]\n"
    "\n"
    "Write the demo social-media app into DIR: app.db (SQLite), media/ (files the\n"
    "media table points to), datamap.yaml and lethe.yaml.  The data is synthetic\n"
    "and deterministic: the same options give the same rows.\n"
    "\n"
    "  -d, --dir DIR       output directory (must not already hold app.db)\n"
    "  -u, --users N       ordinary users, user1@example.com ... (default 50)\n"
    "  -s, --seed S        random seed (default 1)\n"
    "  -H, --heavy ROWS    add heavy@example.com owning about ROWS rows\n"
    "  -q, --quiet         print nothing\n"
    "  -h, --help          this text\n";

static int
parse_num(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
cmd_demo(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"users", required_argument, NULL, 'u'},
	    {"seed", required_argument, NULL, 's'},
	    {"heavy", required_argument, NULL, 'H'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct demo_opts d = {.users = 50, .seed = 1};
	struct lethe_err err = {0};
	int64_t v;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:u:s:H:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			d.dir = optarg;
			break;
		case 'u':
			if (parse_num(optarg, 1, 10000000, &v) != 0) {
				fprintf(stderr, "lethe: error: --users must be 1..10000000\n");
				return 2;
			}
			d.users = (int)v;
			break;
		case 's':
			if (parse_num(optarg, 0, INT64_MAX, &v) != 0) {
				fprintf(stderr,
				        "lethe: error: --seed must be a non-negative integer\n");
				return 2;
			}
			d.seed = (uint64_t)v;
			break;
		case 'H':
			if (parse_num(optarg, 1, 100000000, &v) != 0) {
				fprintf(stderr, "lethe: error: --heavy must be 1..100000000\n");
				return 2;
			}
			d.heavy = v;
			break;
		case 'q':
			d.quiet = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc || d.dir == NULL) {
		fprintf(stderr, "lethe: error: %s\n",
		        d.dir == NULL ? "--dir is required" : "unexpected argument");
		fputs(usage, stderr);
		return 2;
	}
	if (demo_build(&d, &err) != LETHE_OK)
		return cli_fail(&err, false);
	if (!d.quiet)
		printf("\nTry:\n  %s plan -c %s/lethe.yaml --scope account --id "
		       "email=user1@example.com\n",
		       cli_program, d.dir);
	return 0;
}
