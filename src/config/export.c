/* SPDX-License-Identifier: MIT */
/*
 * export.c - the `export:` section of lethe.yaml: where export archives
 * are kept, how long they and their links live, how often a person may
 * ask, and when a table's file becomes JSON Lines (config.h,
 * docs/export.md).  Strict like the rest of the configuration: an unknown
 * key or a bad duration is LETHE_E_CONFIG "lethe.yaml:LINE: what".
 */
#include "util/fmacros.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

#define EXPORT_TTL_DEFAULT (7 * 86400)  /* the archive and its links: 7 days */
#define EXPORT_RATE_DEFAULT (7 * 86400) /* one export per person per 7 days */
#define EXPORT_JSONL_DEFAULT 10000      /* a table with more rows: JSON Lines */
#define EXPORT_TTL_MAX (90 * 86400)     /* longer than this is an archive left lying about */
#define EXPORT_RATE_MAX (366 * 86400)

#define efail(y, n, err, ...) ynode_fail(y, n, LETHE_E_CONFIG, err, __VA_ARGS__)

/* A duration from @min to @max seconds at @v into *@out. */
static lethe_rc
get_duration(struct ydoc *y, yaml_node_t *v, const char *what, int64_t min, int64_t max,
             const char *range, int64_t *out, struct lethe_err *err)
{
	const char *s = ynode_str(v);
	int64_t n = 0;

	if (s == NULL || duration_parse(s, &n) != LETHE_OK || n < min || n > max)
		return efail(y, v, err, "%s must be a duration from %s", what, range);
	*out = n;
	return LETHE_OK;
}

lethe_rc
export_config_parse(struct export_config *e, const char *dir, const char *state_db, struct ydoc *y,
                    struct yaml_node_s *root, struct lethe_err *err)
{
	static const char *const keys[] = {"dir", "link_ttl", "rate_limit", "jsonl_from", NULL};
	yaml_node_t *sec = ymap_get(y, root, "export"), *v;
	lethe_rc rc = LETHE_OK;

	memset(e, 0, sizeof(*e));
	e->link_ttl_s = EXPORT_TTL_DEFAULT;
	e->rate_limit_s = EXPORT_RATE_DEFAULT;
	e->jsonl_from = EXPORT_JSONL_DEFAULT;
	if (sec != NULL && !ynode_is_null(sec)) {
		e->line = ynode_line(sec);
		if (!ynode_is_map(sec))
			return efail(y, sec, err, "expected a mapping for export");
		rc = ymap_check_keys(y, sec, keys, "export", LETHE_E_CONFIG, err);
		v = ymap_get(y, sec, "dir");
		if (rc == LETHE_OK && v != NULL) {
			const char *s = ynode_str(v);

			if (s == NULL || s[0] == '\0')
				rc = efail(y, v, err, "export.dir must be a directory name");
			else
				e->dir = s[0] == '/' ? xstrdup(s) : xasprintf("%s/%s", dir, s);
		}
		v = ymap_get(y, sec, "link_ttl");
		if (rc == LETHE_OK && v != NULL)
			rc = get_duration(y, v, "export.link_ttl", 3600, EXPORT_TTL_MAX,
			                  "1h to 90d", &e->link_ttl_s, err);
		v = ymap_get(y, sec, "rate_limit");
		if (rc == LETHE_OK && v != NULL) {
			const char *s = ynode_str(v);

			/* 0 (or "off"): no limit. */
			if (s != NULL && (strcmp(s, "0") == 0 || strcmp(s, "off") == 0))
				e->rate_limit_s = 0;
			else
				rc = get_duration(y, v, "export.rate_limit", 60, EXPORT_RATE_MAX,
				                  "1m to 366d (or 0: no limit)", &e->rate_limit_s,
				                  err);
		}
		v = ymap_get(y, sec, "jsonl_from");
		if (rc == LETHE_OK && v != NULL) {
			const char *s = ynode_str(v);
			char *end = NULL;
			long long n = s != NULL ? strtoll(s, &end, 10) : -1;

			if (s == NULL || end == s || *end != '\0' || n < 0 || n > 1000000000LL)
				rc = efail(y, v, err,
				           "export.jsonl_from must be a number of rows from 0 to "
				           "1000000000");
			else
				e->jsonl_from = n;
		}
	}
	if (rc == LETHE_OK && e->dir == NULL) {
		char *copy = xstrdup(state_db);

		e->dir = xasprintf("%s/exports", dirname(copy));
		free(copy);
	}
	return rc;
}

void
export_config_free(struct export_config *e)
{
	free(e->dir);
	memset(e, 0, sizeof(*e));
}
