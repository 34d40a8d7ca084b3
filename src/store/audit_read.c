/* SPDX-License-Identifier: MIT */
/*
 * audit_read.c - reading the audit chain back (store.h "audit chain",
 * docs/internals/proof.md): its entries in seq order, its head, the entry
 * of a request's final transition (checked against its body), and the
 * signed checkpoints audit/chain.c makes and checks.  Appending is
 * audit.c's.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store_internal.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/mem.h"

/* ---- reading ------------------------------------------------------------------ */

lethe_rc
store_audit_each(struct store *st, int64_t from, store_audit_fn fn, void *arg,
                 struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	struct store_audit_entry e;
	lethe_rc rc;

	rc = store__prepf(st, &q, err,
	                  "SELECT seq, at, request_id, type, state, body, hash FROM audit "
	                  "WHERE seq >= ?1 ORDER BY seq",
	                  "i", from);
	while (store__row(st, q, &rc, err, "reading the audit chain")) {
		e.seq = sq_col_int(q, 0);
		e.at = sq_col_int(q, 1);
		e.request_id = sq_col_int(q, 2);
		e.type = sq_col_text(q, 3);
		e.state = sq_col_text(q, 4);
		e.body = sq_col_text(q, 5);
		e.body_len = sq_col_bytes(q, 5);
		e.hash = sq_col_blob(q, 6);
		e.hash_len = sq_col_bytes(q, 6);
		if (e.body == NULL)
			e.body = "";
		if (!fn(arg, &e))
			break;
	}
	store__unprep(st, q);
	return rc;
}

/* The seq and hash of an entry, as head_row() reads them. */
struct seq_hash {
	int64_t seq;
	uint8_t hash[STORE_AUDIT_HASH];
};

/* store__row_fn: seq and hash into the struct seq_hash @out (hash zeros if malformed). */
static void
head_row(struct sq_stmt *q, void *out)
{
	struct seq_hash *h = out;
	const void *p = sq_col_blob(q, 1);

	h->seq = sq_col_int(q, 0);
	memset(h->hash, 0, sizeof(h->hash));
	if (p != NULL && sq_col_bytes(q, 1) == STORE_AUDIT_HASH)
		memcpy(h->hash, p, STORE_AUDIT_HASH);
}

lethe_rc
store_audit_head(struct store *st, int64_t *seq, uint8_t hash[STORE_AUDIT_HASH],
                 struct lethe_err *err)
{
	struct seq_hash h = {0};
	lethe_rc rc = store__one(st, err, "reading the audit chain's head", head_row, &h,
	                         "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "");

	if (rc == LETHE_E_NOTFOUND) {
		memset(&h, 0, sizeof(h));
		rc = LETHE_OK;
	}
	*seq = h.seq;
	memcpy(hash, h.hash, STORE_AUDIT_HASH);
	return rc;
}

/* A request's final entry as final_row() reads it. */
struct final_entry {
	int64_t seq;
	char hash[2 * STORE_AUDIT_HASH + 1];
	bool hash_ok, body_ok;
};

/* store__row_fn: its seq, hash and whether its body says what its columns say. */
static void
final_row(struct sq_stmt *q, void *out)
{
	static const char *const states[] = {"completed", "completed_with_retention", "refused",
	                                     "cancelled"};
	struct final_entry *f = out;
	const void *h = sq_col_blob(q, 1);
	const char *body = sq_col_text(q, 2);
	const char *state = sq_col_text(q, 3);
	int64_t request_id = sq_col_int(q, 4);
	char want[96];
	size_t i;

	f->seq = sq_col_int(q, 0);
	f->hash_ok = h != NULL && sq_col_bytes(q, 1) == STORE_AUDIT_HASH;
	if (f->hash_ok)
		hash_hex(h, STORE_AUDIT_HASH, f->hash);
	/* The body names the same request, seq and state (a request body's members, in order). */
	f->body_ok = false;
	for (i = 0; body != NULL && state != NULL && i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(state, states[i]) == 0)
			break;
	if (body == NULL || state == NULL || i == sizeof(states) / sizeof(states[0]))
		return;
	snprintf(want, sizeof(want), ",\"request\":%lld,", (long long)request_id);
	if (strstr(body, want) == NULL)
		return;
	snprintf(want, sizeof(want), ",\"seq\":%lld,", (long long)f->seq);
	if (strstr(body, want) == NULL)
		return;
	snprintf(want, sizeof(want), ",\"state\":\"%s\",", states[i]);
	if (strstr(body, want) == NULL || strstr(body, ",\"type\":\"request\"}") == NULL)
		return;
	f->body_ok = true;
}

lethe_rc
store_audit_final(struct store *st, int64_t request_id, int64_t *seq, char hash[65],
                  struct lethe_err *err)
{
	struct final_entry f = {0};
	lethe_rc rc;

	*seq = 0;
	hash[0] = '\0';
	rc = store__one(st, err, "reading a request's final audit entry", final_row, &f,
	                "SELECT seq, hash, body, state, request_id FROM audit WHERE request_id = "
	                "?1 AND type = 'request' AND state IN ('completed', "
	                "'completed_with_retention', 'refused', 'cancelled') ORDER BY seq DESC "
	                "LIMIT 1",
	                "i", request_id);
	if (rc != LETHE_OK)
		return rc;
	if (!f.hash_ok)
		return lethe_err_set(err, LETHE_E_STATE,
		                     "state store: audit entry %lld has no 32-byte hash",
		                     (long long)f.seq);
	if (!f.body_ok)
		return lethe_err_set(err, LETHE_E_STATE,
		                     "state store: audit entry %lld: its columns do not match its "
		                     "body (run lethe audit verify)",
		                     (long long)f.seq);
	*seq = f.seq;
	memcpy(hash, f.hash, sizeof(f.hash));
	return LETHE_OK;
}

lethe_rc
store_audit_checkpoint_add(struct store *st, const struct store_audit_checkpoint *c, bool replace,
                           struct lethe_err *err)
{
	if (replace)
		return store__execf(st, err,
		                    "INSERT INTO audit_checkpoints (seq, hash, at, key_id, sig) "
		                    "VALUES (?1, ?2, ?3, "
		                    "?4, ?5) ON CONFLICT (seq) DO UPDATE SET hash = excluded.hash, "
		                    "at = excluded.at, "
		                    "key_id = excluded.key_id, sig = excluded.sig",
		                    "ibitb", c->seq, (const void *)c->hash, sizeof(c->hash), c->at,
		                    c->key_id, (const void *)c->sig, sizeof(c->sig));
	return store__execf(st, err,
	                    "INSERT INTO audit_checkpoints (seq, hash, at, key_id, sig) "
	                    "VALUES (?1, ?2, ?3, ?4, ?5)",
	                    "ibitb", c->seq, (const void *)c->hash, sizeof(c->hash), c->at,
	                    c->key_id, (const void *)c->sig, sizeof(c->sig));
}

static void
checkpoint_row(struct sq_stmt *q, void *out)
{
	struct store_audit_checkpoint *c = out;
	const void *h = sq_col_blob(q, 1), *s = sq_col_blob(q, 4);

	memset(c, 0, sizeof(*c));
	c->seq = sq_col_int(q, 0);
	c->at = sq_col_int(q, 2);
	store__col_text(q, 3, c->key_id, sizeof(c->key_id));
	if (h != NULL && sq_col_bytes(q, 1) == STORE_AUDIT_HASH)
		memcpy(c->hash, h, STORE_AUDIT_HASH);
	else
		c->bad = true;
	if (s != NULL && sq_col_bytes(q, 4) == STORE_AUDIT_SIG)
		memcpy(c->sig, s, STORE_AUDIT_SIG);
	else
		c->bad = true;
}

lethe_rc
store_audit_checkpoint_latest(struct store *st, struct store_audit_checkpoint *out,
                              struct lethe_err *err)
{
	return store__one(st, err, "reading the audit checkpoints", checkpoint_row, out,
	                  "SELECT seq, hash, at, key_id, sig FROM audit_checkpoints "
	                  "ORDER BY seq DESC LIMIT 1",
	                  "");
}

lethe_rc
store_audit_checkpoints(struct store *st, store_audit_checkpoint_fn fn, void *arg,
                        struct lethe_err *err)
{
	struct store_audit_checkpoint c;
	struct sq_stmt *q = NULL;
	lethe_rc rc;

	rc = store__prepf(st, &q, err,
	                  "SELECT seq, hash, at, key_id, sig FROM audit_checkpoints ORDER BY seq",
	                  "");
	while (store__row(st, q, &rc, err, "reading the audit checkpoints")) {
		checkpoint_row(q, &c);
		fn(arg, &c);
	}
	store__unprep(st, q);
	return rc;
}
