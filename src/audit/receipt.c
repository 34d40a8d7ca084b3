/* SPDX-License-Identifier: MIT */
/*
 * receipt.c - a finished request's receipt (see receipt.h and
 * docs/proof.md "Receipts").
 *
 * The receipt is a jansson object of strings, integers and booleans only
 * (times as RFC 3339 UTC strings, never reals), so its canonical bytes
 * (audit/canon.h) are the same in every language.  It names no person and
 * carries no text a person typed: a refusal's or cancellation's reason
 * appears as one of lethe's fixed sentences (receipt_reason()); the text
 * itself stays in the state store, and the audit chain entry the receipt
 * points to holds its keyed hash.
 */
#include "util/fmacros.h"

#include <string.h>

#include "audit/canon.h"
#include "audit/receipt.h"
#include "util/timeutil.h"

#define RECEIPT_VERSION 1 /* "lethe_receipt" */

/* @t (epoch s) as an RFC 3339 UTC string. */
static json_t *
iso_time(int64_t t)
{
	char s[32];

	time_format_iso(t, s, sizeof(s));
	return json_string(s);
}

/* Set @key of @o to time @t unless @t is 0 (absent). */
static void
set_time(json_t *o, const char *key, int64_t t)
{
	if (t > 0)
		json_object_set_new(o, key, iso_time(t));
}

/* The category total of @cats for @cat, created at 0. */
static void
add_category(json_t *cats, const char *cat, int64_t rows)
{
	json_t *n = json_object_get(cats, cat);

	json_object_set_new(cats, cat,
	                    json_integer((n != NULL ? json_integer_value(n) : 0) + rows));
}

/* The scan's secure_delete as a word. */
static const char *
secure_delete_str(int v)
{
	return v > 0 ? "on" : v == 0 ? "off" : "not_applicable";
}

const char *
receipt_reason(const char *state)
{
	if (state == NULL)
		return NULL;
	if (strcmp(state, "refused") == 0)
		return "refused by the operator; the reason was given to the person, and the "
		       "audit chain holds only its keyed hash";
	if (strcmp(state, "cancelled") == 0)
		return "cancelled before it was carried out; nothing was erased";
	if (strcmp(state, "lifted") == 0)
		return "a restriction lifted: the effects it applied were undone; nothing was "
		       "erased";
	return NULL;
}

json_t *
receipt_json(const struct receipt_facts *f)
{
	json_t *r = json_object(), *req = json_object(), *counts = json_object();
	json_t *cats = json_object(), *tables = json_array(), *kept = json_array();
	json_t *scan = json_object();
	size_t i;

	json_object_set_new(r, "lethe_receipt", json_integer(RECEIPT_VERSION));
	json_object_set_new(r, "issuer", json_string(f->issuer != NULL ? f->issuer : ""));
	json_object_set_new(req, "id", json_integer(f->id));
	json_object_set_new(req, "kind", json_string(f->kind != NULL ? f->kind : ""));
	json_object_set_new(req, "scope", json_string(f->scope != NULL ? f->scope : ""));
	json_object_set_new(req, "source", json_string(f->source != NULL ? f->source : ""));
	json_object_set_new(req, "state", json_string(f->state != NULL ? f->state : ""));
	set_time(req, "received_at", f->received_at);
	set_time(req, "completed_at", f->completed_at);
	set_time(req, "due_at", f->due_at);
	json_object_set_new(r, "request", req);

	for (i = 0; i < f->ntables; i++) {
		const struct receipt_table *t = &f->tables[i];
		const char *cat = t->category != NULL ? t->category : "";

		add_category(cats, cat, t->rows);
		json_array_append_new(
		    tables, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "table", t->table, "part",
		                      t->part != NULL ? t->part : t->table, "category", cat,
		                      "action", t->action, "rows", (json_int_t)t->rows, "media",
		                      (json_int_t)t->media));
		if (strcmp(t->action, "retain") == 0 && t->rows > 0) {
			json_t *k = json_pack("{s:s, s:s, s:I, s:s}", "table", t->table, "category",
			                      cat, "rows", (json_int_t)t->rows, "reason",
			                      t->reason != NULL ? t->reason : "");

			set_time(k, "until", t->until);
			json_array_append_new(kept, k);
		}
	}
	json_object_set_new(counts, "no_data", json_boolean(f->no_data));
	json_object_set_new(counts, "categories", cats);
	json_object_set_new(counts, "tables", tables);
	json_object_set_new(r, "counts", counts);
	json_object_set_new(r, "kept", kept);

	if (f->has_scan) {
		json_object_set_new(scan, "result", json_string(f->scan_result));
		json_object_set_new(scan, "rows", json_integer(f->scan_rows));
		json_object_set_new(scan, "tables", json_integer(f->scan_tables));
		json_object_set_new(scan, "wal", json_string(f->scan_wal));
		json_object_set_new(scan, "secure_delete",
		                    json_string(secure_delete_str(f->scan_secure_delete)));
		if (f->scan_media)
			json_object_set_new(scan, "media",
			                    json_pack("{s:I, s:I}", "checked",
			                              (json_int_t)f->scan_media_checked, "present",
			                              (json_int_t)f->scan_media_present));
	} else {
		json_object_set_new(scan, "result", json_string("not_run"));
	}
	json_object_set_new(r, "scan", scan);
	if (f->audit_seq > 0 && f->audit_hash != NULL)
		json_object_set_new(r, "audit",
		                    json_pack("{s:I, s:s}", "seq", (json_int_t)f->audit_seq, "hash",
		                              f->audit_hash));
	if (f->reason != NULL)
		json_object_set_new(r, "reason", json_string(f->reason));
	return r;
}

json_t *
receipt_sign(const struct keys_ring *kr, const struct receipt_facts *f, struct lethe_err *err)
{
	json_t *r;

	if (kr == NULL || !keys_ring_can_sign(kr)) {
		lethe_err_set(err, LETHE_E_CONFIG,
		              "no signing key is loaded (proof.signing_key_file): receipts cannot "
		              "be signed");
		return NULL;
	}
	r = receipt_json(f);
	if (r == NULL) {
		lethe_err_set(err, LETHE_E_INTERNAL, "the receipt could not be built");
		return NULL;
	}
	return canon_sign(kr, "receipt", r, err);
}

lethe_rc
receipt_verify(const struct keys_ring *kr, const char *text, json_t **receipt,
               char key_id[KEYS_ID_LEN + 1], struct lethe_err *err)
{
	json_error_t jerr;
	json_t *doc = NULL;
	const json_t *r = NULL, *v;
	const char *id = NULL;
	lethe_rc rc;

	if (receipt != NULL)
		*receipt = NULL;
	if (key_id != NULL)
		key_id[0] = '\0';
	doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		rc = lethe_err_set(err, LETHE_E_USAGE, "not a receipt: not JSON (line %d: %s)",
		                   jerr.line, jerr.text);
		goto out;
	}
	v = json_object_get(json_object_get(doc, "receipt"), "lethe_receipt");
	if (!json_is_object(doc) || v == NULL) {
		rc = lethe_err_set(
		    err, LETHE_E_USAGE,
		    "not a receipt: expected {\"receipt\": {\"lethe_receipt\": 1, ...}, "
		    "\"signature\": {...}}");
		goto out;
	}
	rc = canon_verify(kr, doc, "receipt", &r, &id, err);
	if (rc != LETHE_OK)
		goto out;
	/* The signed "lethe_receipt": 1 is what makes it a receipt (canon.h): not a head. */
	if (!json_is_integer(v) || json_integer_value(v) != RECEIPT_VERSION) {
		rc = lethe_err_set(err, LETHE_E_USAGE,
		                   "receipt version %s is not one this lethe reads",
		                   json_is_integer(v) ? "other than 1" : "(not a number)");
		goto out;
	}
	if (key_id != NULL)
		snprintf(key_id, KEYS_ID_LEN + 1, "%s", id);
	if (receipt != NULL)
		*receipt = json_incref((json_t *)r);
out:
	json_decref(doc);
	return rc;
}
