/* SPDX-License-Identifier: MIT */
/*
 * service_sweep.c - the data map's TTLs swept from the command line (see
 * service.h): once (`lethe sweep --once`, `--dry-run`) on the calling
 * thread, or by the sweeper thread until the command stops.  `lethe serve`
 * runs the same sweeper from service_start().
 */
#include "util/fmacros.h"

#include "jobs/engine_opts.h"
#include "service/service_internal.h"
#include "util/timeutil.h"

bool
service_sweep_wanted(const struct service *svc)
{
	return sweep_wanted(svc->dm);
}

size_t
service_sweep_ntables(const struct service *svc)
{
	return sweep_ntables(svc->dm);
}

lethe_rc
service_sweep_check(const struct service *svc, struct lethe_err *err)
{
	return sweep_check_config(svc->dm, svc->cfg->media, err);
}

lethe_rc
service_sweep_once(struct service *svc, bool dry, struct sweep **out, int64_t *now,
                   int64_t *unremoved, struct lethe_err *err)
{
	struct sweep *s = NULL;
	struct sweep_opts o;
	bool more = true;
	size_t i;
	lethe_rc rc, prc; /* prc: the first failure of a table (the others go on) */

	*out = NULL;
	*now = time_now();
	sweep_check_indexes(svc->dm, svc->db);
	rc = service_store_open(svc, err);
	if (rc != LETHE_OK)
		return rc;
	engine_opts_sweep(svc->cfg, &o);
	o.dry_run = dry;
	/* A one-off batch job, like `lethe erase`: a large page cache and mmap reads. */
	if (!dry)
		appdb_bulk(svc->db, true);
	s = sweep_new(svc->dm, svc->db, svc->st, &o);
	/* Backlog and lag before the sweep: what it found to do (in the JSON). */
	prc = sweep_measure(s, *now, err);
	if (!dry)
		rc = sweep_recover(s, err);
	/* A failing table does not stop the others: passes go on, the first error is kept. */
	while (rc == LETHE_OK && more) {
		struct lethe_err e = {0};
		lethe_rc r = sweep_pass(s, *now, &more, &e);

		if (r != LETHE_OK && prc == LETHE_OK) {
			prc = r;
			*err = e;
		}
	}
	if (rc == LETHE_OK)
		rc = prc;
	if (!dry)
		appdb_flush(svc->db);
	for (i = 0; i < sweep_ntables(svc->dm); i++) {
		struct sweep_table_stats ts;

		sweep_table_get(s, i, &ts);
		*unremoved += ts.media_failed;
	}
	*out = s;
	return rc;
}

lethe_rc
service_sweep_start(struct service *svc, struct lethe_err *err)
{
	return sweeper_start(svc->cfg, svc->dm, &svc->sweeper, err);
}
