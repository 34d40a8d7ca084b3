/* SPDX-License-Identifier: MIT */
/*
 * service_export_cli.c - `lethe export`: the archive of one person written
 * by the operator to a file of their choosing (or stdout), plain zip: the
 * operator chose where it goes (docs/export.md).  The same checks as an
 * erasure on the scope and the identities (plan_build(),
 * plan_check_one_person()); reads the app database only.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <unistd.h>

#include "service/service_internal.h"
#include "util/timeutil.h"

/* The archive into stdout. */
static lethe_rc
stdout_sink(void *arg, const void *buf, size_t len, struct lethe_err *err)
{
	const char *p = buf;

	(void)arg;
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lethe_err_set(err, LETHE_E_IO, "export: cannot write to stdout: %s",
			                     n < 0 ? strerror(errno) : "no progress");
		p += n;
		len -= (size_t)n;
	}
	return LETHE_OK;
}

lethe_rc
service_export_cli(struct service *svc, const char *scope, const struct plan_id *ids, size_t nids,
                   const char *out, char *where, size_t cap, struct export_result *res,
                   struct lethe_err *err)
{
	const struct lethe_config *cfg = svc->cfg;
	struct export_opts o;
	struct plan *plan = NULL;
	char name[64], when[32];
	lethe_rc rc;

	memset(res, 0, sizeof(*res));
	memset(&o, 0, sizeof(o));
	o.media = cfg->media;
	o.jsonl_from = cfg->exports.jsonl_from;
	o.now = time_now();
	o.app_name = cfg->app_name;
	rc = service__default_scope(svc->dm, scope, &scope, err);
	if (rc == LETHE_OK)
		rc = plan_build(svc->dm, svc->db, scope, ids, nids, true, &plan, err);
	if (rc == LETHE_OK)
		rc = plan_check_one_person(svc->dm, svc->db, ids, nids, err);
	if (rc != LETHE_OK)
		goto out;
	if (out == NULL) {
		time_format_iso(o.now, when, sizeof(when));
		/* "YYYY-MM-DDTHH:MM:SSZ" -> "YYYYMMDD-HHMMSS" */
		snprintf(name, sizeof(name), "lethe-export-%.4s%.2s%.2s-%.2s%.2s%.2s.zip", when,
		         when + 5, when + 8, when + 11, when + 14, when + 17);
		out = name;
	}
	snprintf(where, cap, "%s", strcmp(out, "-") == 0 ? "stdout" : out);
	if (strcmp(out, "-") == 0)
		rc = export_write(plan, svc->db, &o, stdout_sink, NULL, res, err);
	else
		rc = export_to_path(plan, svc->db, &o, out, res, err);
out:
	plan_free(plan);
	return rc;
}
