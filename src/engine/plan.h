/* SPDX-License-Identifier: MIT */
/*
 * plan.h - turning "erase person P in scope S" into ordered steps.
 *
 * A plan holds one step per table the scope acts on (one per part when
 * the table keeps some rows by a keep rule), children before parents,
 * each with the erase action of the scope and the SQL predicate that selects the person's rows of
 * that table.  The predicate follows the data map's links: identity columns
 * compared with the request's identities, parent links as
 * "fk IN (SELECT key FROM parent WHERE <parent's predicate>)", to any depth.
 * Every identifier in it comes from a validated data map and is quoted;
 * every value is a bound parameter.  Predicate parameters always come first
 * in the statements built from it.
 */
#ifndef LETHE_PLAN_H
#define LETHE_PLAN_H

#include <jansson.h>

#include "datamap/datamap.h"
#include "db/appdb.h"
#include "db/sql.h"

/* One identity of the person: kind (declared in the map) and value. */
struct plan_id {
	const char *kind;  /* identity kind, e.g. "email" */
	const char *value; /* its value; personal data: never logged */
};

/*
 * One step: what erasure does to the person's rows of a table, or, when
 * the table's erase in the scope has keep rules, to one part of them (the
 * rows a keep rule keeps, or the rest): its predicate then also selects
 * the part.
 */
struct plan_step {
	const struct dm_table *table; /* the table acted on */
	const struct dm_erase *part;  /* what erasure does to the step's rows */
	char *name;                   /* the step's name in a job (dm_part_name) */
	bool reachable;               /* some link applies to the given identities */
	char *where;                  /* predicate selecting the person's rows ("0" if none) */
	struct appdb_val *params;     /* its parameters (text borrowed from ids/map) */
	size_t nparams;               /* number of parameters */
	int64_t rows;                 /* rows matched when counted, else -1 */
	bool spanned;                 /* counted with the key span below (plan_count) */
	int64_t key_lo, key_hi;       /* if spanned: smallest and largest key matched */
};

struct plan {
	const struct datamap *dm;     /* the map planned from */
	const struct dm_scope *scope; /* the scope */
	struct plan_step *steps;      /* children before parents */
	size_t nsteps;                /* number of steps */
};

/*
 * Build the plan for @scope_name and identities @ids (@nids >= 1).  Fails
 * with LETHE_E_USAGE for an unknown scope or an identity kind the scope does
 * not accept.  If @count, each step's rows are counted in @db.  The plan
 * borrows @dm and the strings of @ids: they must outlive it.
 */
lethe_rc plan_build(const struct datamap *dm, struct appdb *db, const char *scope_name,
                    const struct plan_id *ids, size_t nids, bool count, struct plan **out,
                    struct lethe_err *err);
/*
 * plan_build(), where the identities from @ids[@first_any] on are accepted
 * whatever the scope accepts: lethe's own, never a user's (the channel keys
 * a deauthorize recorded for the person of a Meta deletion request).
 */
lethe_rc plan_build_any(const struct datamap *dm, struct appdb *db, const char *scope_name,
                        const struct plan_id *ids, size_t nids, size_t first_any, bool count,
                        struct plan **out, struct lethe_err *err);
void plan_free(struct plan *p);
/*
 * Check that the @nids identities @ids (kinds already checked by
 * plan_build()) name one person: from the rows each identity matches,
 * parent links are followed up to the tables without parent links
 * (whatever the scope); identities that reach a common top row are one
 * person's, and those that reach none add nothing (an erasure already done,
 * or a typo that erases nothing).  LETHE_E_USAGE, naming the --id positions
 * and kinds (never values), when the rest fall into more than one group.
 * Compares at most 1,000 top rows per table and identity.  Only reads @db.
 */
lethe_rc plan_check_one_person(const struct datamap *dm, struct appdb *db,
                               const struct plan_id *ids, size_t nids, struct lethe_err *err);
/*
 * The value of identity @kind ("email") the person named by @ids (@nids)
 * has on file: the table that links @kind directly must be a top table
 * (no parent link, as users is) that the identities lead to, and its one
 * row found there gives its @kind column, into @out (@cap bytes with the
 * NUL).  LETHE_E_NOTFOUND when the map has no such table, the identities
 * lead to no row of it or to several, or the column is empty or too long.
 * Only reads @db.
 */
lethe_rc plan_identity_on_file(const struct datamap *dm, struct appdb *db,
                               const struct plan_id *ids, size_t nids, const char *kind, char *out,
                               size_t cap, struct lethe_err *err);
/*
 * Append to @q the predicate selecting the rows of @t that link to the
 * person named by @ids (@nids), built as plan_build() builds a step's
 * (identity columns, parent links to any depth) but whatever the scope:
 * every identity kind of @ids counts.  The always-false predicate if no
 * link of @t reaches one of them.  Identifiers come from the (validated)
 * map and are quoted; the values are parameters borrowed from @ids.
 */
void plan_where_person(struct sql *q, const struct dm_table *t, const struct plan_id *ids,
                       size_t nids);
/* (Re)count every step's rows. */
lethe_rc plan_count(struct plan *p, struct appdb *db, struct lethe_err *err);
/*
 * Append " AND col IN (?, ...)" to @q for each of the @n conditions @w, their
 * values to @q's parameters (text borrowed from the map).
 */
void plan_add_conds(struct sql *q, const struct dm_cond *w, size_t n);
/* The @n conditions @w as JSON: {"column": [values...], ...}. */
json_t *plan_conds_json(const struct dm_cond *w, size_t n);
/* The plan as JSON: {"scope":..., "steps":[{table, category, action, rows, ...}]}. */
json_t *plan_to_json(const struct plan *p);
/* The plan as a readable table on @f. */
void plan_print(const struct plan *p, FILE *f);

#endif /* LETHE_PLAN_H */
