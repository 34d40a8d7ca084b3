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
#include <stddef.h>
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
	size_t cap, wcap;               /* of rep->breaks, rep->warnings */
	struct vcp *cps;                /* checkpoints, seq order */
	size_t ncps, cpcap, next_cp;    /* ... and the next one to meet */
	int64_t *cover_at;              /* [i]: the earliest signing time of trusted cps[i..] */
	int64_t newest_at;              /* the latest signing time of a trusted checkpoint */
	int64_t late_window;            /* 2 x checkpoint interval (s); 0: no warnings */
	int64_t late_first, late_last;  /* the run of late entries being gathered (0: none) */
	int64_t late_at;                /* the first one's time */
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

/* Record a warning about entries @first..@last. */
static void
add_warning(struct verify *v, int64_t first, int64_t last, int64_t at)
{
	struct chain_break *w;
	char when[40], newest[40];

	if (v->rep->nwarnings >= CHAIN_BREAKS_MAX) {
		v->rep->more_warnings++;
		return;
	}
	v->rep->warnings = xgrow(v->rep->warnings, &v->wcap, v->rep->nwarnings + 1, sizeof(*w));
	w = &v->rep->warnings[v->rep->nwarnings++];
	w->seq = first;
	time_format_iso(at, when, sizeof(when));
	time_format_iso(v->newest_at, newest, sizeof(newest));
	if (first == last)
		snprintf(w->what, sizeof(w->what),
		         "entry %lld (of %s) was covered by no checkpoint within twice the "
		         "checkpoint interval, though one was signed %s",
		         (long long)first, when, newest);
	else
		snprintf(w->what, sizeof(w->what),
		         "entries %lld..%lld (from %s) were covered by no checkpoint within twice "
		         "the checkpoint interval, though one was signed %s",
		         (long long)first, (long long)last, when, newest);
}

/* Close the run of late entries being gathered, as one warning. */
static void
late_flush(struct verify *v)
{
	if (v->late_first != 0)
		add_warning(v, v->late_first, v->late_last, v->late_at);
	v->late_first = v->late_last = 0;
}

/*
 * Entry @e is late if the latest checkpoint was signed more than the
 * window after it, yet the first checkpoint at or after it (cps[@cp]...)
 * was not signed within the window: checkpoints of it were deleted, or it
 * was appended while no `lethe serve` signed checkpoints.
 */
static void
check_late(struct verify *v, const struct store_audit_entry *e, size_t cp)
{
	int64_t cover = cp < v->ncps ? v->cover_at[cp] : INT64_MAX;
	bool late = v->late_window > 0 && v->newest_at - e->at > v->late_window &&
	            (cover == INT64_MAX || cover - e->at > v->late_window);

	if (late && v->late_first != 0 && v->late_last == e->seq - 1) {
		v->late_last = e->seq;
		return;
	}
	late_flush(v);
	if (late) {
		v->late_first = v->late_last = e->seq;
		v->late_at = e->at;
	}
}

/* ---- an entry's body against its row ------------------------------------------ */

/* The members of a body its row repeats as columns (text ones as their raw JSON). */
struct body_cols {
	const char *type, *state; /* between the quotes, escaped; NULL if absent */
	size_t type_len, state_len;
	int64_t seq, at, request;
	bool has_seq, has_at, bad_int; /* bad_int: seq, at or request not an integer */
};

/* @p just after a string's opening quote: the position after its closing one, or NULL. */
static const char *
skip_string(const char *p, const char *end)
{
	const char *q;

	while ((q = memchr(p, '"', (size_t)(end - p))) != NULL) {
		size_t bs = 0;

		while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
			bs++;
		if (bs % 2 == 0)
			return q + 1;
		p = q + 1;
	}
	return NULL;
}

/* The end of the JSON value at @p (a number, literal, string, array or object), or NULL. */
static const char *
skip_value(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		char c = *p;

		if (c == '"') {
			p = skip_string(p + 1, end);
			if (p == NULL || depth == 0)
				return p;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return p;
			if (--depth == 0)
				return p + 1;
		} else if (c == ',' && depth == 0) {
			return p;
		}
		p++;
	}
	return depth == 0 ? p : NULL;
}

/* The integer JSON value @p..@end into *@out; false if it is not one. */
static bool
json_int(const char *p, const char *end, int64_t *out)
{
	bool neg = p < end && *p == '-';
	uint64_t v = 0;

	if (neg)
		p++;
	if (p == end)
		return false;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return false;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

/* Read the top-level members of @body that its row repeats; false if it is no JSON object. */
static bool
body_cols_read(const char *body, size_t len, struct body_cols *c)
{
	const char *p = body, *end = body + len;

	memset(c, 0, sizeof(*c));
	if (p == end || *p++ != '{')
		return false;
	if (p < end && *p == '}')
		return p + 1 == end;
	for (;;) {
		const char *key, *val, *next;
		size_t klen;

		if (p >= end || *p != '"')
			return false;
		key = p + 1;
		p = skip_string(key, end);
		if (p == NULL || p >= end || *p != ':')
			return false;
		klen = (size_t)(p - 1 - key);
		val = p + 1;
		next = skip_value(val, end);
		if (next == NULL || next == val)
			return false;
		if (klen == 3 && memcmp(key, "seq", 3) == 0)
			c->has_seq = true, c->bad_int |= !json_int(val, next, &c->seq);
		else if (klen == 2 && memcmp(key, "at", 2) == 0)
			c->has_at = true, c->bad_int |= !json_int(val, next, &c->at);
		else if (klen == 7 && memcmp(key, "request", 7) == 0)
			c->bad_int |= !json_int(val, next, &c->request);
		else if (klen == 4 && memcmp(key, "type", 4) == 0 && *val == '"')
			c->type = val + 1, c->type_len = (size_t)(next - val - 2);
		else if (klen == 5 && memcmp(key, "state", 5) == 0 && *val == '"')
			c->state = val + 1, c->state_len = (size_t)(next - val - 2);
		p = next;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		return p < end && *p == '}' && p + 1 == end;
	}
}

/*
 * Whether the JSON string contents @raw (@n bytes, between the quotes) are
 * the text @s once unescaped (\uXXXX only below 0x80: lethe escapes no more).
 */
static bool
json_str_is(const char *raw, size_t n, const char *s)
{
	const char *end = raw + n;

	while (raw < end) {
		char c = *raw++;

		if (c == '\\') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *k;

			if (raw == end)
				return false;
			c = *raw++;
			if (c == 'u') {
				unsigned char u[2];
				size_t len = 0;

				if (end - raw < 4 ||
				    sodium_hex2bin(u, sizeof(u), raw, 4, NULL, &len, NULL) != 0 ||
				    len != 2 || u[0] != 0 || u[1] >= 0x80)
					return false;
				c = (char)u[1];
				raw += 4;
			} else if ((k = strchr(from, c)) != NULL && c != '\0') {
				c = to[k - from];
			} else {
				return false;
			}
		}
		if (*s == '\0' || *s++ != c)
			return false;
	}
	return *s == '\0';
}

/*
 * The columns of @e that its body contradicts, as "seq, state" into @out
 * ("" if none); false if the body is not a JSON object.
 */
static bool
columns_edited(const struct store_audit_entry *e, char *out, size_t cap)
{
	struct body_cols c;
	size_t n = 0;

	out[0] = '\0';
	if (!body_cols_read(e->body, e->body_len, &c))
		return false;
#define EDITED(cond, name)                                                                         \
	do {                                                                                       \
		if (cond)                                                                          \
			n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s",              \
			                      n > 0 ? ", " : "", name);                            \
	} while (0)
	EDITED(!c.has_seq || c.bad_int || c.seq != e->seq, "seq");
	EDITED(!c.has_at || c.at != e->at, "at");
	EDITED(c.request != e->request_id, "request_id");
	EDITED(e->type == NULL || c.type == NULL || !json_str_is(c.type, c.type_len, e->type),
	       "type");
	EDITED((e->state == NULL) != (c.state == NULL) ||
	           (c.state != NULL && !json_str_is(c.state, c.state_len, e->state)),
	       "state");
#undef EDITED
	return true;
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
	bool hash_ok = e->hash_len == STORE_AUDIT_HASH, checked = true, body_ok = true;

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
		body_ok = hash_ok && memcmp(h, e->hash, sizeof(h)) == 0;
		if (!body_ok)
			add_break(v, e->seq,
			          "entry %lld: its hash does not match its contents (edited, or "
			          "entries reordered)",
			          (long long)e->seq);
	}
	/* The columns against a body its hash vouches for (or, after a gap, the body as read). */
	if (body_ok) {
		char cols[64];

		if (!columns_edited(e, cols, sizeof(cols)))
			add_break(v, e->seq, "entry %lld: its body is not a JSON object",
			          (long long)e->seq);
		else if (cols[0] != '\0')
			add_break(v, e->seq,
			          "entry %lld: its columns do not match its body (%s edited)",
			          (long long)e->seq, cols);
	}
	if (hash_ok)
		memcpy(v->prev, e->hash, sizeof(v->prev));
	else if (checked)
		memcpy(v->prev, h, sizeof(v->prev));
	/* Checkpoints of missing entries were reported with them; then those of this one. */
	while (v->next_cp < v->ncps && v->cps[v->next_cp].seq < e->seq)
		v->next_cp++;
	check_late(v, e, v->next_cp);
	for (; v->next_cp < v->ncps && v->cps[v->next_cp].seq == e->seq; v->next_cp++) {
		const struct vcp *p = &v->cps[v->next_cp];

		if (p->trusted && (!hash_ok || memcmp(p->hash, e->hash, sizeof(p->hash)) != 0))
			cp_rewritten(v, p);
	}
	v->expect = e->seq + 1;
	return true;
}

/* Sort @n breaks by seq, keeping the order of those of one seq (as found). */
static void
breaks_sort(struct chain_break *b, size_t n)
{
	size_t i, k;

	for (i = 1; i < n; i++) {
		struct chain_break x = b[i];

		for (k = i; k > 0 && b[k - 1].seq > x.seq; k--)
			b[k] = b[k - 1];
		b[k] = x;
	}
}

/* v->cover_at and v->newest_at from the trusted checkpoints (v->cps sorted by seq). */
static void
cover_times(struct verify *v)
{
	int64_t min = INT64_MAX;
	size_t i;

	v->cover_at = xcalloc(v->ncps + 1, sizeof(*v->cover_at));
	v->newest_at = 0;
	for (i = v->ncps; i-- > 0;) {
		if (v->cps[i].trusted) {
			if (v->cps[i].at < min)
				min = v->cps[i].at;
			if (v->cps[i].at > v->newest_at)
				v->newest_at = v->cps[i].at;
		}
		v->cover_at[i] = min;
	}
}

lethe_rc
chain_verify(struct store *st, const struct keys_ring *kr, const json_t *head, int64_t interval,
             struct chain_report *rep, struct lethe_err *err)
{
	struct verify v = {.rep = rep, .kr = kr, .expect = 1};
	double t0 = time_mono_ms();
	lethe_rc rc;

	memset(rep, 0, sizeof(*rep));
	v.late_window = interval > 0 ? 2 * interval : 0;
	rc = store_audit_checkpoints(st, on_checkpoint, &v, err);
	if (rc == LETHE_OK && head != NULL)
		rc = add_head(&v, head, err);
	if (rc == LETHE_OK) {
		if (v.ncps > 1)
			qsort(v.cps, v.ncps, sizeof(*v.cps), vcp_cmp);
		cover_times(&v);
		rc = store_audit_each(st, 1, on_entry, &v, err);
		late_flush(&v);
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
	free(v.cover_at);
	breaks_sort(rep->breaks, rep->nbreaks);
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
	free(rep->warnings);
	rep->warnings = NULL;
	rep->nwarnings = 0;
}

/* @n breaks as the JSON array [{"seq", "what"}] (a new reference). */
static json_t *
breaks_json(const struct chain_break *b, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(
		    a, json_pack("{s:I, s:s}", "seq", (json_int_t)b[i].seq, "what", b[i].what));
	return a;
}

json_t *
chain_report_json(const struct chain_report *rep)
{
	return json_pack(
	    "{s:b, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:I}", "ok",
	    rep->nbreaks == 0 && rep->more_breaks == 0, "entries", (json_int_t)rep->entries, "last",
	    (json_int_t)rep->last, "checkpoints", (json_int_t)rep->checkpoints, "last_checkpoint",
	    (json_int_t)rep->last_checkpoint, "more_breaks", (json_int_t)rep->more_breaks, "breaks",
	    breaks_json(rep->breaks, rep->nbreaks), "more_warnings", (json_int_t)rep->more_warnings,
	    "warnings", breaks_json(rep->warnings, rep->nwarnings), "elapsed_ms",
	    (json_int_t)rep->elapsed_ms);
}

/* chain_checkpoint()'s look at the entries from the latest checkpoint to the head. */
struct since {
	struct verify v;
	struct chain_report rep;
	int64_t head;                            /* the seq to sign: entries past it are left */
	const struct store_audit_checkpoint *cp; /* the latest checkpoint (seq 0: none) */
};

/* Check one entry of the stretch; stop at the first break. */
static bool
on_since(void *arg, const struct store_audit_entry *e)
{
	struct since *s = arg;

	if (e->seq > s->head)
		return false;
	if (s->cp->seq > 0 && e->seq == s->cp->seq) {
		/* The checkpointed entry: its hash is the one signed; the links go on from it. */
		if (e->hash_len != STORE_AUDIT_HASH ||
		    memcmp(e->hash, s->cp->hash, STORE_AUDIT_HASH) != 0)
			add_break(&s->v, e->seq,
			          "checkpoint of entry %lld: the chain's hash there is not the one "
			          "signed",
			          (long long)e->seq);
		memcpy(s->v.prev, s->cp->hash, STORE_AUDIT_HASH);
		s->v.expect = e->seq + 1;
	} else {
		on_entry(&s->v, e);
	}
	return s->rep.nbreaks == 0;
}

/*
 * Verify the entries from the latest checkpoint @last (seq 0: none, then
 * from entry 1) to @head: LETHE_OK if they chain, else LETHE_E_CONFLICT
 * naming the first break.
 */
static lethe_rc
verify_since(struct store *st, const struct keys_ring *kr,
             const struct store_audit_checkpoint *last, int64_t head, struct lethe_err *err)
{
	struct since s = {.head = head, .cp = last};
	lethe_rc rc = LETHE_OK;

	s.v.rep = &s.rep;
	s.v.kr = kr;
	s.v.expect = last->seq > 0 ? last->seq : 1;
	if (last->seq > 0 && (last->bad || check_head_sig(kr, last->seq, last->hash, last->at,
	                                                  last->key_id, last->sig) != LETHE_OK))
		return lethe_err_set(
		    err, LETHE_E_CONFLICT,
		    "not signing a checkpoint: the latest one (of entry %lld) does "
		    "not verify (run lethe audit verify)",
		    (long long)last->seq);
	rc = store_audit_each(st, s.v.expect, on_since, &s, err);
	if (rc == LETHE_OK && s.rep.nbreaks == 0 && s.v.expect <= head)
		add_break(&s.v, s.v.expect, "entries %lld..%lld are missing", (long long)s.v.expect,
		          (long long)head);
	if (rc == LETHE_OK && s.rep.nbreaks > 0)
		rc = lethe_err_set(err, LETHE_E_CONFLICT,
		                   "not signing a checkpoint: %s (run lethe audit verify)",
		                   s.rep.breaks[0].what);
	chain_report_free(&s.rep);
	return rc;
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
	rc = verify_since(st, kr, &last, c.seq, err);
	if (rc != LETHE_OK)
		return rc;
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
