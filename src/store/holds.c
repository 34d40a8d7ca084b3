/* SPDX-License-Identifier: MIT */
/*
 * holds.c - legal holds in the state store (see store.h): a retained row
 * (table, key) is held until a time by the erase job that kept it; the
 * sweeper reads the holds that ended, deletes their rows and forgets them.
 */
#include "util/fmacros.h"

#include "store/store_internal.h"
#include "util/mem.h"

lethe_rc
store_hold_add(struct store *st, const char *table, const char *key, int64_t job, int64_t until,
               struct lethe_err *err)
{
	return store__execf(
	    st, err,
	    SQ2(st->c,
	        "INSERT INTO holds (table_name, row_key, job_id, until) VALUES (?1, ?2, ?3, ?4) "
	        "ON CONFLICT (table_name, row_key) DO UPDATE SET job_id = excluded.job_id, "
	        "until = max(holds.until, excluded.until)",
	        "INSERT INTO holds (table_name, row_key, job_id, until) VALUES (?1, ?2, ?3, ?4) "
	        "ON CONFLICT (table_name, row_key) DO UPDATE SET job_id = excluded.job_id, "
	        "until = GREATEST(holds.until, excluded.until)"),
	    "ttii", table, key, job, until);
}

lethe_rc
store_hold_due(struct store *st, int64_t now, size_t limit, struct store_hold **out, size_t *n,
               struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	size_t cap = 0;
	lethe_rc rc;

	*out = NULL;
	*n = 0;
	rc = store__prepf(st, &q, err,
	                  "SELECT table_name, row_key, job_id, until FROM holds WHERE until <= ?1 "
	                  "ORDER BY until, table_name, row_key LIMIT ?2",
	                  "ii", now, (int64_t)limit);
	while (store__row(st, q, &rc, err, "reading holds")) {
		struct store_hold *h;

		*out = xgrow(*out, &cap, *n + 1, sizeof(**out));
		h = &(*out)[(*n)++];
		h->table = store__col_dup(q, 0);
		h->key = store__col_dup(q, 1);
		h->job = sq_col_int(q, 2);
		h->until = sq_col_int(q, 3);
	}
	store__unprep(st, q);
	return rc;
}

void
store_holds_free(struct store_hold *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(h[i].table);
		free(h[i].key);
	}
	free(h);
}

lethe_rc
store_hold_remove(struct store *st, const char *table, const char *key, int64_t until,
                  struct lethe_err *err)
{
	return store__execf(
	    st, err, "DELETE FROM holds WHERE table_name = ?1 AND row_key = ?2 AND until <= ?3",
	    "tti", table, key, until);
}

lethe_rc
store_hold_due_count(struct store *st, int64_t now, int64_t *out, struct lethe_err *err)
{
	return store__query_int(st, "counting ended holds",
	                        "SELECT count(*) FROM holds WHERE until <= ?1", now, out, err);
}
