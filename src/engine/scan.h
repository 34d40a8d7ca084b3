/* SPDX-License-Identifier: MIT */
/*
 * scan.h - the residual scan: after an erasure, is anything of the person
 * still in the app database? (docs/proof.md, docs/internals/proof.md)
 *
 * The scope's plan is rebuilt and counted: a step whose part deletes and
 * still matches rows is residual; an anonymize part's rows still matched are
 * anonymized (expected, counted apart) when already in the part's target
 * form (erase_col_done(): every column the rewrite writes holds what it
 * writes there, the executor's own test), residual otherwise (a row planted
 * after its batch); a retain part's rows are kept, as the erasure meant.  Then the tables outside
 * the scope that must not hold the person's rows either (a table the scope forgot), counted with
 * plan_where_person() (every link, every identity given):
 *   - a table with a parent link to a table the scope deletes or
 *     anonymizes (some part of it): its rows hang off rows the erasure
 *     removes or unlinks;
 *   - a table an identity kind the scope takes names directly (an identity
 *     link), unless it is above the scope's tables (a parent of one, to any
 *     depth: the row the scope erases under, as the channel scope's
 *     channels row or a content scope's users row, stays by design).
 * Not checked: tables outside the scope reached only through tables the
 * scope leaves alone or only retains (the channel scope leaves channels and
 * its automation_rules; rows under a kept invoice stay with it).
 *
 * Parent links after the erasure.  A link is followed through the parent
 * rows as they are now.  A kept (retained) parent row still matching the
 * person leads to its children: those in the scope are counted by their
 * own step (residual if their part deletes, or anonymizes and they are not
 * in target form), as the erasure erased them.  An anonymized row that
 * still matches (its anonymize left the linking column in place) is
 * anonymized when in target form, residual otherwise, and leads to its
 * children either way.  A deleted parent leads nowhere: a row left under it (an
 * orphan whose parent key no identity names) cannot be traced back to the
 * person after the erasure and is not seen; `lethe scan` before an erasure
 * shows such a table as "outside the scope" while its parent still exists.
 *
 * Only reads the app database; the identities are the caller's, held in
 * memory.  Queries: one count per step and per checked table, and one read
 * of the rewritten columns per anonymize step that still matches rows, each
 * bounded by the person's rows (the plan's predicates).
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
	bool anonymized;              /* anonymized, in target form (expected, not residual) */
	bool outside;                 /* the table is outside the scope */
};

struct scan_result {
	bool residual;            /* some rows remain that should not */
	int64_t rows;             /* residual rows */
	int64_t kept;             /* rows kept by retain parts */
	int64_t anonymized;       /* rows of anonymize parts in their target form */
	int64_t tables;           /* tables checked */
	struct scan_table *found; /* tables with rows (residual, kept or anonymized) */
	size_t nfound;            /* number of them */
};

/*
 * Scan @db for the person @ids (@nids) of scope @scope_name after an
 * erasure.  LETHE_E_USAGE for an unknown scope or an identity kind the
 * scope does not take (as plan_build()).  Free @res with
 * scan_result_free(), also after a failure.
 */
lethe_rc scan_run(const struct datamap *dm, struct appdb *db, const char *scope_name,
                  const struct plan_id *ids, size_t nids, struct scan_result *res,
                  struct lethe_err *err);
/*
 * scan_run(), where the identities from @ids[@first_any] on are accepted
 * whatever the scope accepts (as plan_build_any(): lethe's own, never a
 * user's); @first_any 0 for a request the runner already checked.
 */
lethe_rc scan_run_any(const struct datamap *dm, struct appdb *db, const char *scope_name,
                      const struct plan_id *ids, size_t nids, size_t first_any,
                      struct scan_result *res, struct lethe_err *err);
/* Free what scan_run() put in @res (nothing else: the tables are the map's). */
void scan_result_free(struct scan_result *res);
/*
 * @res as JSON: {"result","rows","kept","anonymized","tables","found":[{"table",
 * "rows","kept","outside","anonymized"?}]} ("anonymized": true only on the
 * entries of anonymized rows).
 */
json_t *scan_result_json(const struct scan_result *res);

#endif /* LETHE_SCAN_H */
