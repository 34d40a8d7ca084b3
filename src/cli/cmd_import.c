/* SPDX-License-Identifier: MIT */
/*
 * cmd_import.c - `lethe import-meta-ids`: run Meta data deletions for every
 * id of a list downloaded from the App Dashboard.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <getopt.h>
#include <sodium.h>

#include "cli/cli.h"
#include "jobs/runner.h"
#include "meta/requests.h"
#include "meta/seen.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define LINE_MAX_LEN 4096
#define ID_MAX_LEN 64

static const char usage[] =
    "usage: lethe import-meta-ids -c CONFIG --app NAME FILE\n"
    "\n"
    "Run the data deletion of app NAME (a key of meta.apps) for every id in\n"
    "FILE, as if Meta had called the data-deletion callback for each: one id\n"
    "per line, or Meta's CSV (the first all-digit field of each line is the\n"
    "id; other lines, such as a header, are skipped).  An id already requested\n"
    "within meta.repeat_window keeps its request and code, and its erasure runs\n"
    "again (data may have come back since).  Ids that match nobody are\n"
    "recorded as such.  Prints a summary.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -a, --app NAME      the Meta app family the ids belong to\n"
    "  -h, --help          this text\n";

/* The first all-digit field of @line (comma, semicolon or tab separated) into @out. */
static bool
line_id(const char *line, char out[ID_MAX_LEN + 1])
{
	const char *p = line;

	while (*p != '\0') {
		const char *end;
		size_t n;

		while (*p == ' ' || *p == '"' || *p == '\'')
			p++;
		end = p;
		while (isdigit((unsigned char)*end))
			end++;
		n = (size_t)(end - p);
		while (*end == ' ' || *end == '"' || *end == '\'' || *end == '\r' || *end == '\n')
			end++;
		if (n > 0 && n <= ID_MAX_LEN && (*end == '\0' || strchr(",;\t", *end) != NULL)) {
			memcpy(out, p, n);
			out[n] = '\0';
			return true;
		}
		p += strcspn(p, ",;\t");
		if (*p != '\0')
			p++;
	}
	return false;
}

int
cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"app", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *appname = NULL;
	const struct meta_app *app = NULL;
	struct cli_env env;
	struct lethe_err err = {0};
	struct store *st = NULL;
	struct seen *sn = seen_new();
	char line[LINE_MAX_LEN], id[ID_MAX_LEN + 1];
	int64_t ids = 0, created = 0, repeats = 0, skipped = 0, done = 0, elsewhere = 0;
	FILE *f = NULL;
	int ch, status = 0;
	lethe_rc rc = LETHE_OK;

	memset(&env, 0, sizeof(env));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:a:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'a':
			appname = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (appname == NULL || optind != argc - 1) {
		fprintf(stderr, "lethe: error: %s\n",
		        appname == NULL ? "--app is required" : "give exactly one FILE");
		fputs(usage, stderr);
		return 2;
	}
	rc = cli_env_open(&env, config, &err);
	if (rc == LETHE_OK) {
		app = config_meta_app(&env.cfg, appname);
		if (app == NULL)
			rc = lethe_err_set(&err, LETHE_E_USAGE, "no app '%s' under meta.apps in %s",
			                   appname, env.cfg.path);
	}
	if (rc == LETHE_OK) {
		f = fopen(argv[optind], "r");
		if (f == NULL)
			rc = lethe_err_set(&err, LETHE_E_USAGE, "cannot read %s", argv[optind]);
	}
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK)
		rc = store_open(env.cfg.state_db, &st, &err);
	if (rc == LETHE_OK)
		rc = store_begin(st, &err);
	if (rc == LETHE_OK)
		rc = seen_load(sn, st, time_now() - env.cfg.meta_repeat, &err);
	while (rc == LETHE_OK && fgets(line, sizeof(line), f) != NULL) {
		char subject[HASH_TEXT_LEN + 1];
		char code[META_CODE_LEN + 1];
		struct store_meta_req found;
		int64_t now = time_now();

		if (!line_id(line, id)) {
			skipped++;
			continue;
		}
		ids++;
		meta_subject(env.cfg.key, app->name, id, subject);
		rc = seen_lookup(sn, st, app->name, subject, now - env.cfg.meta_repeat, &found,
		                 &err);
		if (rc == LETHE_OK || rc == LETHE_E_NOTFOUND) {
			size_t boxlen = 0;
			uint8_t *box = meta_box_seal(env.cfg.key, app->name, id, &boxlen);
			int64_t rid = 0;
			bool added = false;

			if (rc == LETHE_OK) {
				/* As a Meta repeat: the same request, run once more. */
				rc = store_meta_rerun(st, found.code, found.runs + 1, box, boxlen,
				                      now, NULL, &err);
				repeats++;
			} else {
				meta_code_new(code, now);
				rc = store_meta_insert_once(st, code, app->name, subject, box,
				                            boxlen, now, &rid, &added, &err);
				if (rc == LETHE_OK)
					seen_add(sn, subject, rid);
				created++;
			}
			sodium_memzero(box, boxlen);
			free(box);
		}
	}
	if (rc == LETHE_OK)
		rc = store_commit(st, &err);
	else if (st != NULL)
		store_rollback(st);
	if (rc == LETHE_OK)
		rc = runner_drain(&env.cfg, env.dm, &done, &elsewhere, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, false);
		goto out;
	}
	printf("%lld ids read (%lld lines skipped): %lld new requests, %lld already requested; "
	       "%lld requests processed here, %lld by a running server\n",
	       (long long)ids, (long long)skipped, (long long)created, (long long)repeats,
	       (long long)done, (long long)elsewhere);
out:
	if (f != NULL)
		fclose(f);
	seen_free(sn);
	store_close(st);
	cli_env_close(&env);
	return status;
}
