/* SPDX-License-Identifier: MIT */
/*
 * platform_probe.c - a test driver for the platform clients: one real
 * platform_call() against the base URLs of a `platforms:` YAML file, its
 * result printed as one JSON line.  tests/e2e/test_platform_clients.py runs
 * it against tests/e2e/fake_platform.py over loopback.
 *
 *   platform_probe FILE PLATFORM revoke|unsubscribe TOKEN|- ACCOUNT_ID|-
 *
 * FILE holds a mapping with a `platforms:` key (the lethe.yaml syntax).
 * Exit 0 when the call ran (whatever its outcome), 2 on bad arguments or a
 * bad FILE (the error on stderr).
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <libgen.h>

#include "config/config.h"
#include "platform/platform.h"
#include "platform/platform_config.h"
#include "util/mem.h"

int
main(int argc, char **argv)
{
	struct lethe_config cfg;
	struct lethe_err err = {0};
	struct platforms *p = NULL;
	struct platform_result res;
	struct ydoc y;
	enum platform_op op;
	char *tmp = NULL;
	json_t *j = NULL;
	char *line = NULL;
	int status = 2;

	memset(&cfg, 0, sizeof(cfg));
	memset(&y, 0, sizeof(y));
	if (argc != 6 || (strcmp(argv[3], "revoke") != 0 && strcmp(argv[3], "unsubscribe") != 0)) {
		fprintf(stderr, "usage: platform_probe FILE PLATFORM revoke|unsubscribe TOKEN|- "
		                "ACCOUNT_ID|-\n");
		return 2;
	}
	op = strcmp(argv[3], "revoke") == 0 ? PLATFORM_REVOKE : PLATFORM_UNSUBSCRIBE;
	tmp = xstrdup(argv[1]);
	cfg.dir = xstrdup(dirname(tmp));
	if (ydoc_load(&y, argv[1], NULL, LETHE_E_CONFIG, &err) != LETHE_OK ||
	    platforms_parse(cfg.dir, &y, ydoc_root(&y), &p, &err) != LETHE_OK) {
		fprintf(stderr, "platform_probe: %s\n", err.msg);
		goto out;
	}
	platform_call(p, argv[2], op, strcmp(argv[4], "-") == 0 ? NULL : argv[4],
	              strcmp(argv[5], "-") == 0 ? NULL : argv[5], &res);
	j = json_pack("{s:s, s:I, s:s}", "outcome", platform_outcome_str(res.outcome),
	              "http_status", (json_int_t)res.http_status, "detail", res.detail);
	line = json_dumps(j, JSON_COMPACT);
	printf("%s\n", line);
	status = 0;
out:
	free(line);
	json_decref(j);
	platforms_free(p);
	ydoc_free(&y);
	free(cfg.dir);
	free(tmp);
	return status;
}
