/* SPDX-License-Identifier: MIT */
/*
 * chain.c - checking and signing the audit chain (audit/chain.h,
 * docs/internals/proof.md "The audit chain").
 *
 * chain_verify() reads the checkpoints first (checking each signature),
 * then every entry in seq order in one pass: a gap in seq is "missing
 * entries", a hash that is not BLAKE2b-256(previous stored hash || body)
 * an edited or moved entry, a checkpoint whose entry's hash is not the one
 * it signed a rewritten chain, a checkpoint past the chain's end a deleted
 * tail.  Each break names its entry; the previous hash used for the next
 * entry is always the stored one, so one edit reports one entry.
 *
 * A checkpoint signs the head value {"at", "hash" (hex), "seq", "type":
 * "lethe-audit-head"}; the published head is that value in an envelope of
 * field "head" (audit/canon.h), built from the stored signature.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>

#include "audit/canon.h"
#include "audit/chain.h"
#include "util/hash.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define CHAIN_HEAD_TYPE "lethe-audit-head"

/* The head value a checkpoint signs (a new reference). */
static json_t *
head_value(int64_t seq, const uint8_t hash[STORE_AUDIT_HASH], int64_t at)
{
	char hex[2 * STORE_AUDIT_HASH + 1];

	hash_hex(hash, STORE_AUDIT_HASH, hex);
	return json_pack("{s:I, s:s, s:I, s:s}", "at", (json_int_t)at, "hash", hex, "seq",
	                 (json_int_t)seq, "type", CHAIN_HEAD_TYPE);
}

/* A checkpoint (or a published head) as the verifier uses it. */
struct vcp {
	int64_t seq, at;
	uint8_t hash[STORE_AUDIT_HASH];
	const char *label; /* "checkpoint", "published head" */
	bool trusted;      /* its signature verified */
};

/* The state of one verification. */
struct verify {
	struct chain_report *rep;
	size_t cap;                     /* of rep->breaks */
	struct vcp *cps;                /* checkpoints, seq order */
	size_t ncps, cpcap, next_cp;    /* ... and the next one to meet */
	const struct keys_ring *kr;     /* the keys that signed them */
	int64_t expect;                 /* the seq the next entry should have */
	uint8_t prev[STORE_AUDIT_HASH]; /* the hash it extends */
};

static void add_break(struct verify *v, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
add_break(struct verify *v, int64_t seq, const char *fmt, ...)
{
	struct chain_break *b;
	va_list ap;

	if (v->rep->nbreaks >= CHAIN_BREAKS_MAX) {
		v->rep->more_breaks++;
		return;
	}
	v->rep->breaks = xgrow(v->rep->breaks, &v->cap, v->rep->nbreaks + 1, sizeof(*b));
	b = &v->rep->breaks[v->rep->nbreaks++];
	b->seq = seq;
	va_start(ap, fmt);
	vsnprintf(b->what, sizeof(b->what), fmt, ap);
	va_end(ap);
}

/* Check @sig of the head (@seq, @hash, @at) by key @key_id: LETHE_OK or why not. */
static lethe_rc
check_head_sig(const struct keys_ring *kr, int64_t seq, const uint8_t hash[STORE_AUDIT_HASH],
               int64_t at, const char *key_id, const uint8_t sig[STORE_AUDIT_SIG])
{
	char b64[sodium_base64_ENCODED_LEN(STORE_AUDIT_SIG, sodium_base64_VARIANT_ORIGINAL)];
	json_t *v = head_value(seq, hash, at);
	char *bytes = canon_dump(v);
	lethe_rc rc = LETHE_E_FORBIDDEN;

	sodium_bin2base64(b64, sizeof(b64), sig, STORE_AUDIT_SIG, sodium_base64_VARIANT_ORIGINAL);
	if (bytes != NULL)
		rc = keys_verify(kr, key_id, bytes, strlen(bytes), b64, NULL);
	free(bytes);
	json_decref(v);
	return rc;
}

/* Record a checkpoint, after checking its signature. */
static void
on_checkpoint(void *arg, const struct store_audit_checkpoint *c)
{
	struct verify *v = arg;
	struct vcp *p;
	lethe_rc rc = LETHE_E_FORBIDDEN;

	v->rep->checkpoints++;
	if (c->seq > v->rep->last_checkpoint)
		v->rep->last_checkpoint = c->seq;
	if (!c->bad)
		rc = check_head_sig(v->kr, c->seq, c->hash, c->at, c->key_id, c->sig);
	if (rc == LETHE_E_NOTFOUND)
		add_break(v, c->seq, "checkpoint of entry %lld: signed by an unknown key (%s)",
		          (long long)c->seq, c->key_id);
	else if (rc != LETHE_OK)
		add_break(v, c->seq, "checkpoint of entry %lld: signature does not verify",
		          (long long)c->seq);
	v->cps = xgrow(v->cps, &v->cpcap, v->ncps + 1, sizeof(*v->cps));
	p = &v->cps[v->ncps++];
	p->seq = c->seq;
	p->at = c->at;
	memcpy(p->hash, c->hash, sizeof(p->hash));
	p->label = "checkpoint";
	p->trusted = rc == LETHE_OK;
}

/* Check a published head @doc (an envelope of field "head") and add it as a checkpoint. */
static lethe_rc
add_head(struct verify *v, const json_t *doc, struct lethe_err *err)
{
	const json_t *val = NULL;
	const char *kid = NULL, *hex, *type;
	json_int_t seq, at;
	struct vcp *p;
	size_t n = 0;
	lethe_rc rc;

	val = json_object_get(doc, "head");
	hex = json_string_value(json_object_get(val, "hash"));
	type = json_string_value(json_object_get(val, "type"));
	seq = json_integer_value(json_object_get(val, "seq"));
	at = json_integer_value(json_object_get(val, "at"));
	if (!json_is_object(val) || hex == NULL || type == NULL ||
	    strcmp(type, CHAIN_HEAD_TYPE) != 0 || seq < 1 ||
	    !json_is_integer(json_object_get(val, "at")) ||
	    !json_is_object(json_object_get(doc, "signature")))
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "not a published audit head: expected {\"head\": {\"at\", "
		                     "\"hash\", \"seq\", \"type\": \"" CHAIN_HEAD_TYPE
		                     "\"}, \"signature\": {...}}");
	v->cps = xgrow(v->cps, &v->cpcap, v->ncps + 1, sizeof(*v->cps));
	p = &v->cps[v->ncps];
	memset(p, 0, sizeof(*p));
	if (strlen(hex) != 2 * STORE_AUDIT_HASH ||
	    sodium_hex2bin(p->hash, sizeof(p->hash), hex, strlen(hex), NULL, &n, NULL) != 0 ||
	    n != STORE_AUDIT_HASH)
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "not a published audit head: its hash is not 64 hex digits");
	v->ncps++;
	p->seq = seq;
	p->at = at;
	p->label = "published head";
	rc = canon_verify(v->kr, doc, "head", &val, &kid, NULL);
	if (rc == LETHE_E_NOTFOUND) {
		kid = json_string_value(json_object_get(json_object_get(doc, "signature"), "key"));
		add_break(v, seq, "published head of entry %lld: signed by an unknown key (%.16s)",
		          (long long)seq, kid != NULL ? kid : "?");
	} else if (rc != LETHE_OK) {
		add_break(v, seq, "published head of entry %lld: signature does not verify",
		          (long long)seq);
	}
	p->trusted = rc == LETHE_OK;
	return LETHE_OK;
}

static int
vcp_cmp(const void *a, const void *b)
{
	const struct vcp *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
break_cmp(const void *a, const void *b)
{
	const struct chain_break *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* "checkpoint of entry N" or "published head of entry N" (with "of" for both). */
static void
cp_rewritten(struct verify *v, const struct vcp *p)
{
	if (strcmp(p->label, "checkpoint") == 0)
		add_break(v, p->seq,
		          "checkpoint of entry %lld: the chain's hash there is not the one signed "
		          "(entries up to %lld were rewritten)",
		          (long long)p->seq, (long long)p->seq);
	else
		add_break(v, p->seq,
		          "published head of entry %lld: the chain's hash there is not the one "
		          "signed (entries up to %lld were rewritten)",
		          (long long)p->seq, (long long)p->seq);
}

/* Check each entry against the one before it and the checkpoints of its seq. */
static bool
on_entry(void *arg, const struct store_audit_entry *e)
{
	struct verify *v = arg;
	uint8_t h[STORE_AUDIT_HASH];
	bool hash_ok = e->hash_len == STORE_AUDIT_HASH, checked = true;

	if (v->rep->entries++ == 0)
		v->rep->first = e->seq;
	v->rep->last = e->seq;
	if (e->seq != v->expect) {
		/* Its predecessor is gone: its own hash cannot be checked. */
		if (e->seq == v->expect + 1)
			add_break(v, v->expect, "entry %lld is missing", (long long)v->expect);
		else
			add_break(v, v->expect, "entries %lld..%lld are missing",
			          (long long)v->expect, (long long)(e->seq - 1));
		checked = false;
	}
	if (checked) {
		crypto_generichash_state s;

		crypto_generichash_init(&s, NULL, 0, sizeof(h));
		crypto_generichash_update(&s, v->prev, sizeof(v->prev));
		crypto_generichash_update(&s, (const unsigned char *)e->body, e->body_len);
		crypto_generichash_final(&s, h, sizeof(h));
		if (!hash_ok || memcmp(h, e->hash, sizeof(h)) != 0)
			add_break(v, e->seq,
			          "entry %lld: its hash does not match its contents (edited, or "
			          "entries reordered)",
			          (long long)e->seq);
	}
	if (hash_ok)
		memcpy(v->prev, e->hash, sizeof(v->prev));
	else if (checked)
		memcpy(v->prev, h, sizeof(v->prev));
	/* Checkpoints of missing entries were reported with them; then those of this one. */
	while (v->next_cp < v->ncps && v->cps[v->next_cp].seq < e->seq)
		v->next_cp++;
	for (; v->next_cp < v->ncps && v->cps[v->next_cp].seq == e->seq; v->next_cp++) {
		const struct vcp *p = &v->cps[v->next_cp];

		if (p->trusted && (!hash_ok || memcmp(p->hash, e->hash, sizeof(p->hash)) != 0))
			cp_rewritten(v, p);
	}
	v->expect = e->seq + 1;
	return true;
}

lethe_rc
chain_verify(struct store *st, const struct keys_ring *kr, const json_t *head,
             struct chain_report *rep, struct lethe_err *err)
{
	struct verify v = {.rep = rep, .kr = kr, .expect = 1};
	double t0 = time_mono_ms();
	lethe_rc rc;

	memset(rep, 0, sizeof(*rep));
	rc = store_audit_checkpoints(st, on_checkpoint, &v, err);
	if (rc == LETHE_OK && head != NULL)
		rc = add_head(&v, head, err);
	if (rc == LETHE_OK) {
		qsort(v.cps, v.ncps, sizeof(*v.cps), vcp_cmp);
		rc = store_audit_each(st, 1, on_entry, &v, err);
	}
	/* Checkpoints past the chain's end: its tail was deleted. */
	for (; rc == LETHE_OK && v.next_cp < v.ncps; v.next_cp++) {
		const struct vcp *p = &v.cps[v.next_cp];
		char when[40];

		if (!p->trusted || p->seq < v.expect)
			continue;
		time_format_iso(p->at, when, sizeof(when));
		if (p->seq == v.expect)
			add_break(&v, p->seq,
			          "%s of entry %lld (signed %s): the chain ends at entry %lld: "
			          "entry %lld was deleted",
			          p->label, (long long)p->seq, when, (long long)(v.expect - 1),
			          (long long)p->seq);
		else
			add_break(&v, p->seq,
			          "%s of entry %lld (signed %s): the chain ends at entry %lld: "
			          "entries %lld..%lld were deleted",
			          p->label, (long long)p->seq, when, (long long)(v.expect - 1),
			          (long long)v.expect, (long long)p->seq);
	}
	free(v.cps);
	if (rep->breaks != NULL)
		qsort(rep->breaks, rep->nbreaks, sizeof(*rep->breaks), break_cmp);
	rep->elapsed_ms = time_mono_ms() - t0;
	if (rc != LETHE_OK)
		chain_report_free(rep);
	return rc;
}

void
chain_report_free(struct chain_report *rep)
{
	if (rep == NULL)
		return;
	free(rep->breaks);
	rep->breaks = NULL;
	rep->nbreaks = 0;
}

json_t *
chain_report_json(const struct chain_report *rep)
{
	json_t *breaks = json_array(), *o;
	size_t i;

	for (i = 0; i < rep->nbreaks; i++)
		json_array_append_new(breaks,
		                      json_pack("{s:I, s:s}", "seq", (json_int_t)rep->breaks[i].seq,
		                                "what", rep->breaks[i].what));
	o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:o, s:I}", "ok",
	              rep->nbreaks == 0 && rep->more_breaks == 0, "entries",
	              (json_int_t)rep->entries, "last", (json_int_t)rep->last, "checkpoints",
	              (json_int_t)rep->checkpoints, "last_checkpoint",
	              (json_int_t)rep->last_checkpoint, "more_breaks", (json_int_t)rep->more_breaks,
	              "breaks", breaks, "elapsed_ms", (json_int_t)rep->elapsed_ms);
	return o;
}

lethe_rc
chain_checkpoint(struct store *st, const struct keys_ring *kr, int64_t now, bool force,
                 int64_t *seq, struct lethe_err *err)
{
	struct store_audit_checkpoint c = {0}, last = {0};
	char sig[KEYS_SIG_B64];
	json_t *v = NULL;
	char *bytes = NULL;
	size_t n = 0;
	lethe_rc rc;

	if (seq != NULL)
		*seq = 0;
	if (kr == NULL || !keys_ring_can_sign(kr))
		return lethe_err_set(err, LETHE_E_CONFIG, "no signing key to sign a checkpoint");
	rc = store_audit_head(st, &c.seq, c.hash, err);
	if (rc != LETHE_OK || c.seq == 0)
		return rc; /* an empty chain has nothing to sign */
	rc = store_audit_checkpoint_latest(st, &last, err);
	if (rc == LETHE_E_NOTFOUND) {
		last.seq = 0;
		rc = LETHE_OK;
	}
	if (rc != LETHE_OK)
		return rc;
	if (last.seq > c.seq)
		return lethe_err_set(err, LETHE_E_CONFLICT,
		                     "the audit chain ends at entry %lld, before its checkpoint of "
		                     "entry %lld: not signing it (run lethe audit verify)",
		                     (long long)c.seq, (long long)last.seq);
	if (last.seq == c.seq && !force)
		return LETHE_OK;
	c.at = now;
	v = head_value(c.seq, c.hash, c.at);
	bytes = canon_dump(v);
	if (bytes == NULL)
		rc = lethe_err_set(err, LETHE_E_INTERNAL, "checkpoint: cannot serialize the head");
	if (rc == LETHE_OK)
		rc = keys_sign(kr, bytes, strlen(bytes), sig, c.key_id, err);
	if (rc == LETHE_OK && (sodium_base642bin(c.sig, sizeof(c.sig), sig, strlen(sig), NULL, &n,
	                                         NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	                       n != sizeof(c.sig)))
		rc = lethe_err_set(err, LETHE_E_INTERNAL, "checkpoint: a signature of odd length");
	if (rc == LETHE_OK)
		rc = store_audit_checkpoint_add(st, &c, force, err);
	if (rc == LETHE_OK && seq != NULL)
		*seq = c.seq;
	free(bytes);
	json_decref(v);
	return rc;
}

lethe_rc
chain_head_json(struct store *st, json_t **out, struct lethe_err *err)
{
	char b64[sodium_base64_ENCODED_LEN(STORE_AUDIT_SIG, sodium_base64_VARIANT_ORIGINAL)];
	struct store_audit_checkpoint c;
	lethe_rc rc;

	*out = NULL;
	rc = store_audit_checkpoint_latest(st, &c, err);
	if (rc != LETHE_OK)
		return rc;
	sodium_bin2base64(b64, sizeof(b64), c.sig, sizeof(c.sig), sodium_base64_VARIANT_ORIGINAL);
	*out = json_pack("{s:o, s:{s:s, s:s, s:s}}", "head", head_value(c.seq, c.hash, c.at),
	                 "signature", "alg", "Ed25519", "key", c.key_id, "value", b64);
	return LETHE_OK;
}
