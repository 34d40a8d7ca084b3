/* SPDX-License-Identifier: MIT */
/*
 * scan.h - the residual scan: after an erasure, is anything of the person
 * still in the app database? (docs/proof.md, docs/internals/proof.md)
 *
 * The scope's plan is rebuilt and counted: a step whose part deletes or
 * anonymizes and still matches rows is residual; a retain part's rows are
 * kept, as the erasure meant.  Every table outside the scope that a link
 * reaches from the identities and that still has rows is residual too (a
 * table the scope forgot).  Only reads the app database; the identities
 * are the caller's, held in memory.
 */
#ifndef LETHE_SCAN_H
#define LETHE_SCAN_H

#include <jansson.h>

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "engine/plan.h"

/* One table the scan found rows in. */
struct scan_table {
	const struct dm_table *table; /* the table */
	int64_t rows;                 /* rows still linked to the person */
	bool kept;                    /* kept by a retain part (expected, not residual) */
	bool outside;                 /* the table is outside the scope */
};

struct scan_result {
	bool residual;            /* some rows remain that should not */
	int64_t rows;             /* residual rows */
	int64_t kept;             /* rows kept by retain parts */
	int64_t tables;           /* tables checked */
	struct scan_table *found; /* tables with rows (residual or kept) */
	size_t nfound;            /* number of them */
};

/*
 * Scan @db for the person @ids (@nids) of scope @scope_name after an
 * erasure.  LETHE_E_USAGE for an unknown scope or identity kind.  Free
 * @res with scan_result_free().
 */
lethe_rc scan_run(const struct datamap *dm, struct appdb *db, const char *scope_name,
                  const struct plan_id *ids, size_t nids, struct scan_result *res,
                  struct lethe_err *err);
void scan_result_free(struct scan_result *res);
/* @res as JSON: {"result","rows","kept","tables","found":[{"table","rows","kept","outside"}]}. */
json_t *scan_result_json(const struct scan_result *res);

#endif /* LETHE_SCAN_H */
