/* SPDX-License-Identifier: MIT */
/*
 * receipt.c (engine) - gather a finished request's facts from the state
 * store and the data map and sign its receipt (see engine/receipt.h).
 *
 * Counts are of the request's latest run only, as its status page shows
 * them.  A step the data map no longer knows keeps its counts with the
 * category "(not in the data map)".  A request no scan ran for (nothing
 * found, or scans off) says so; one the audit chain has no final entry
 * for carries no "audit" member.
 */
#include "util/fmacros.h"

#include <string.h>

#include "audit/receipt.h"
#include "engine/receipt.h"
#include "util/mem.h"

#define RECEIPT_STEPS_MAX 4096 /* steps of one job a receipt lists at most */

/* The steps read so far (strings owned). */
struct steps_acc {
	const struct datamap *dm;     /* the data map */
	const char *scope;            /* the scope the steps ran in, or NULL */
	struct receipt_table *tables; /* the steps */
	size_t n, cap;                /* used, allocated */
};

bool
receipt_state_finished(const char *state)
{
	return state != NULL &&
	       (strcmp(state, "completed") == 0 || strcmp(state, "completed_with_retention") == 0 ||
	        strcmp(state, "refused") == 0 || strcmp(state, "cancelled") == 0 ||
	        strcmp(state, "lifted") == 0);
}

/* One step of the job, added to @arg (a steps_acc). */
static void
on_step(void *arg, const char *name, const char *action, int64_t done, int64_t media,
        int64_t hold_until)
{
	struct steps_acc *a = arg;
	const struct dm_table *t = NULL;
	const struct dm_erase *part;
	struct receipt_table *rt;
	const char *hash;

	if (name == NULL || action == NULL || a->n >= RECEIPT_STEPS_MAX)
		return;
	part = dm_part_find(a->dm, a->scope, name, &t);
	a->tables = xgrow(a->tables, &a->cap, a->n + 1, sizeof(*a->tables));
	rt = &a->tables[a->n++];
	memset(rt, 0, sizeof(*rt));
	hash = strchr(name, '#');
	rt->table = hash != NULL ? xstrndup(name, (size_t)(hash - name)) : xstrdup(name);
	rt->part = xstrdup(name);
	rt->category = xstrdup(t != NULL ? t->category : "(not in the data map)");
	rt->action = xstrdup(action);
	rt->rows = done > 0 ? done : 0;
	rt->media = media > 0 ? media : 0;
	if (strcmp(action, "retain") == 0) {
		/* The step's own reason (its scope's action, or the keep rule's). */
		const char *why = part != NULL && part->reason != NULL ? part->reason
		                  : t != NULL                          ? t->reason
		                                                       : NULL;

		rt->reason = xstrdup(why != NULL ? why : "");
		rt->until = hold_until > 0 ? hold_until : 0;
	}
}

static void
steps_free(struct steps_acc *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free((char *)a->tables[i].table);
		free((char *)a->tables[i].part);
		free((char *)a->tables[i].category);
		free((char *)a->tables[i].action);
		free((char *)a->tables[i].reason);
	}
	free(a->tables);
}

/* The scan's objects (detail "media", if it has one) into @f: counts only. */
static void
scan_media_facts(const char *detail, struct receipt_facts *f)
{
	json_t *d = detail != NULL ? json_loads(detail, 0, NULL) : NULL;
	json_t *m = json_object_get(d, "media");

	if (json_is_object(m)) {
		f->scan_media = true;
		f->scan_media_checked = json_integer_value(json_object_get(m, "checked"));
		f->scan_media_present = json_integer_value(json_object_get(m, "present"));
	}
	json_decref(d);
}

lethe_rc
receipt_for_request_scope(const struct datamap *dm, struct store *st, const struct keys_ring *kr,
                          const char *issuer, int64_t request_id, const char *scope,
                          json_t **envelope, struct lethe_err *err)
{
	struct store_request req;
	struct store_scan scan;
	struct steps_acc acc = {dm, NULL, NULL, 0, 0};
	struct receipt_facts f;
	char hash[65] = "";
	int64_t seq = 0;
	lethe_rc rc;

	*envelope = NULL;
	memset(&scan, 0, sizeof(scan));
	memset(&f, 0, sizeof(f));
	rc = store_request_get(st, request_id, &req, err);
	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, rc, "no request %lld", (long long)request_id);
	if (rc != LETHE_OK)
		return rc;
	if (!receipt_state_finished(req.state))
		return lethe_err_set(
		    err, LETHE_E_CONFLICT,
		    "request %lld is %s, not finished: it has a receipt once it is "
		    "completed, refused, cancelled or lifted",
		    (long long)request_id, req.state);
	if (scope == NULL)
		scope = req.scope;
	acc.scope = scope[0] != '\0' ? scope : NULL;
	/* Counts of the latest run only (not of a run before a repeat). */
	if (req.job > 0 && req.job_run >= req.runs)
		rc = store_receipt_steps(st, req.job, on_step, &acc, err);
	if (rc == LETHE_OK) {
		rc = store_scan_get(st, request_id, &scan, err);
		f.has_scan = rc == LETHE_OK;
		if (rc == LETHE_E_NOTFOUND)
			rc = LETHE_OK;
	}
	if (rc == LETHE_OK) {
		rc = store_audit_final(st, request_id, &seq, hash, err);
		if (rc == LETHE_E_NOTFOUND)
			rc = LETHE_OK;
	}
	if (rc != LETHE_OK)
		goto out;
	f.issuer = issuer;
	f.id = req.id;
	f.kind = req.kind[0] != '\0' ? req.kind : "erasure";
	f.scope = scope;
	f.source = req.source[0] != '\0' ? req.source : "meta";
	f.state = req.state;
	f.received_at = req.received_at;
	f.completed_at = req.completed_at;
	f.due_at = req.due_at;
	f.reason = receipt_reason(req.state);
	f.tables = acc.tables;
	f.ntables = acc.n;
	f.no_data = req.no_data;
	f.scan_result = scan.result;
	f.scan_rows = scan.rows;
	f.scan_tables = scan.tables;
	f.scan_wal = scan.wal;
	f.scan_secure_delete = scan.secure_delete;
	scan_media_facts(f.has_scan ? scan.detail : NULL, &f);
	f.audit_seq = seq;
	f.audit_hash = seq > 0 ? hash : NULL;
	*envelope = receipt_sign(kr, &f, err);
	if (*envelope == NULL)
		rc = err != NULL && err->rc != LETHE_OK ? err->rc : LETHE_E_INTERNAL;
out:
	if (f.has_scan)
		store_scan_clear(&scan);
	steps_free(&acc);
	return rc;
}

lethe_rc
receipt_for_request(const struct datamap *dm, struct store *st, const struct keys_ring *kr,
                    const char *issuer, int64_t request_id, json_t **envelope,
                    struct lethe_err *err)
{
	return receipt_for_request_scope(dm, st, kr, issuer, request_id, NULL, envelope, err);
}
