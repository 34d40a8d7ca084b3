/* SPDX-License-Identifier: MIT */
/*
 * signed_request.c - verify and build Meta signed_requests (see signed_request.h).
 *
 * Order of checks in sr_verify(), cheapest and least trusting first:
 * size cap, shape (one '.', two non-empty base64url segments), base64
 * decoding of both segments, signature length, HMAC in constant time, and
 * only then the JSON parse of the (now authenticated) payload.  All buffers
 * are bounded by SR_MAX_LEN before they are allocated.
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <sodium.h>

#include "meta/signed_request.h"
#include "util/hash.h"
#include "util/mem.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

static bool
b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * Check the segment @s (@n bytes): up to two trailing '=' of padding, before
 * them at least one byte and only base64url characters.  Sets *@textlen to
 * the length without padding.
 */
static bool
segment_ok(const char *s, size_t n, size_t *textlen)
{
	size_t i, pad = 0;

	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	n -= pad;
	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (!b64url_char((unsigned char)s[i]))
			return false;
	*textlen = n;
	return true;
}

/* base64url character -> its 6 bits, or -1. */
static const int8_t B64URL[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/*
 * Decode all @n characters of unpadded base64url @s into @bin (@cap bytes).
 * As strict as libsodium's decoder (sr_sign() encodes with it): a length
 * of 4k+1 or non-zero bits left over in the last character fail.  Not
 * constant-time, which needs no secrecy here: both segments are what the
 * caller sent.  A table instead of sodium_base642bin() because that was 3%
 * of an event thread's time per callback.
 */
static bool
b64url_decode(const char *s, size_t n, uint8_t *bin, size_t cap, size_t *binlen)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, out = 0;

	if (n % 4 == 1 || n / 4 * 3 + 2 > cap)
		return false;
	for (i = 0; i < n; i++) {
		int8_t c = B64URL[(unsigned char)s[i]];

		if (c < 0)
			return false;
		acc = (acc << 6) | (uint32_t)c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			bin[out++] = (uint8_t)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return false;
	*binlen = out;
	return true;
}

/*
 * True if arrays and objects in the JSON text @p (@n bytes) nest at most
 * @max deep.  Only a guard before the real parser: it does not validate.
 */
static bool
json_depth_ok(const uint8_t *p, size_t n, int max)
{
	bool in_str = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (in_str) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_str = false;
		} else if (p[i] == '"') {
			in_str = true;
		} else if (p[i] == '[' || p[i] == '{') {
			depth++;
			if (depth > max)
				return false;
		} else if (p[i] == ']' || p[i] == '}') {
			depth--;
		}
	}
	return true;
}

/* One member of the payload that lethe reads, from either parser. */
struct field {
	enum { F_ABSENT, F_STRING, F_INT, F_OTHER } type;
	const char *s; /* F_STRING: its characters (not NUL-terminated) */
	size_t n;      /* ... and how many */
	int64_t i;     /* F_INT: its value */
};

/* The members lethe reads. */
struct fields {
	struct field alg, user, profile, issued, expires;
};

/* The field of @f that member @key (@n bytes) fills, or NULL. */
static struct field *
field_of(struct fields *f, const char *key, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
	    {"algorithm", offsetof(struct fields, alg)},
	    {"user_id", offsetof(struct fields, user)},
	    {"profile_id", offsetof(struct fields, profile)},
	    {"issued_at", offsetof(struct fields, issued)},
	    {"expires", offsetof(struct fields, expires)},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && memcmp(names[i].name, key, n) == 0)
			return (struct field *)((char *)f + names[i].off);
	return NULL;
}

#define FAST_MAX_MEMBERS 16 /* more members: jansson decides */

static const uint8_t *
skip_ws(const uint8_t *p, const uint8_t *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* A string of printable ASCII without escapes at @p; its end, or NULL. */
static const uint8_t *
fast_string(const uint8_t *p, const uint8_t *end)
{
	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\' || *p < 0x20 || *p > 0x7e)
			return NULL;
	}
	return NULL;
}

/* A value other than an object or array at @p into @v; its end, or NULL. */
static const uint8_t *
fast_value(const uint8_t *p, const uint8_t *end, struct field *v)
{
	const uint8_t *q;
	uint64_t n = 0;
	bool neg;
	int digits = 0;

	if (p >= end)
		return NULL;
	if (*p == '"') {
		q = fast_string(p, end);
		if (q != NULL) {
			v->type = F_STRING;
			v->s = (const char *)p + 1;
			v->n = (size_t)(q - p) - 2;
		}
		return q;
	}
	for (size_t k = 0; k < 3; k++) {
		static const char *const words[] = {"true", "false", "null"};
		size_t wl = strlen(words[k]);

		if ((size_t)(end - p) >= wl && memcmp(p, words[k], wl) == 0) {
			v->type = F_OTHER;
			return p + wl;
		}
	}
	/* An integer of at most 18 digits, no leading zero, no fraction or exponent. */
	neg = *p == '-';
	q = p + (neg ? 1 : 0);
	if (q < end && *q == '0') {
		q++;
		digits = 1;
	} else {
		while (q < end && *q >= '0' && *q <= '9' && digits < 19) {
			n = n * 10 + (uint64_t)(*q - '0');
			q++;
			digits++;
		}
	}
	if (digits == 0 || digits > 18 ||
	    (q < end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E')))
		return NULL;
	v->type = F_INT;
	v->i = neg ? -(int64_t)n : (int64_t)n;
	return q;
}

/*
 * The common payload, read without jansson: a flat object of at most
 * FAST_MAX_MEMBERS members whose keys and strings are printable ASCII
 * without escapes and whose numbers are integers of at most 18 digits.
 * Returns true and fills @f only for such a text, with exactly what
 * jansson would read; anything else (nesting, escapes, UTF-8, floats,
 * duplicates, errors) returns false and jansson decides.  jansson was 7% of
 * an event thread's time per callback.  tests/fuzz/fuzz_signed_request.c
 * checks every answer against jansson.
 */
static bool
fast_parse(const uint8_t *p, size_t len, struct fields *f)
{
	const uint8_t *end = p + len, *keys[FAST_MAX_MEMBERS];
	size_t klen[FAST_MAX_MEMBERS], nkeys = 0;

	memset(f, 0, sizeof(*f));
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return false;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}') {
		p++;
	} else {
		for (;;) {
			const uint8_t *k = p, *q;
			struct field v = {0}, *dst;

			if (nkeys == FAST_MAX_MEMBERS || (q = fast_string(p, end)) == NULL)
				return false;
			keys[nkeys] = k + 1;
			klen[nkeys] = (size_t)(q - k) - 2;
			for (size_t j = 0; j < nkeys; j++)
				if (klen[j] == klen[nkeys] &&
				    memcmp(keys[j], keys[nkeys], klen[j]) == 0)
					return false;
			p = skip_ws(q, end);
			if (p >= end || *p != ':')
				return false;
			p = fast_value(skip_ws(p + 1, end), end, &v);
			if (p == NULL)
				return false;
			dst = field_of(f, (const char *)keys[nkeys], klen[nkeys]);
			if (dst != NULL)
				*dst = v;
			nkeys++;
			p = skip_ws(p, end);
			if (p < end && *p == ',') {
				p = skip_ws(p + 1, end);
				continue;
			}
			if (p < end && *p == '}') {
				p++;
				break;
			}
			return false;
		}
	}
	return skip_ws(p, end) == end;
}

/* @v of @root's member @key as a field (pointing into @root). */
static void
field_from_json(const json_t *root, const char *key, struct field *v)
{
	const json_t *j = json_object_get(root, key);

	memset(v, 0, sizeof(*v));
	if (j == NULL) {
		v->type = F_ABSENT;
	} else if (json_is_string(j)) {
		v->type = F_STRING;
		v->s = json_string_value(j);
		v->n = json_string_length(j);
	} else if (json_is_integer(j)) {
		v->type = F_INT;
		v->i = (int64_t)json_integer_value(j);
	} else {
		v->type = F_OTHER;
	}
}

/* Copy @v into @dst (SR_ID_MAX + 1 bytes) if it is a valid id. */
static bool
id_copy(const struct field *v, char *dst)
{
	if (v->type != F_STRING || v->n == 0 || v->n > SR_ID_MAX)
		return false;
	for (size_t i = 0; i < v->n; i++)
		if (!b64url_char((unsigned char)v->s[i]))
			return false;
	memcpy(dst, v->s, v->n);
	dst[v->n] = '\0';
	return true;
}

/*
 * Read the optional member @v, Unix seconds; false if present but not a
 * non-negative integer (so callers may subtract it from "now" safely).
 */
static bool
int_get(const struct field *v, int64_t *val, bool *has)
{
	if (v->type == F_ABSENT)
		return true;
	if (v->type != F_INT || v->i < 0)
		return false;
	*val = v->i;
	*has = true;
	return true;
}

/* Check the members @f read from the payload and fill @p. */
static lethe_rc
fields_check(const struct fields *f, struct sr_payload *p, struct lethe_err *err)
{
	lethe_rc rc = LETHE_E_INVALID;

	if (f->alg.type != F_STRING || f->alg.n != strlen(SR_ALGORITHM) ||
	    memcmp(f->alg.s, SR_ALGORITHM, f->alg.n) != 0)
		return lethe_err_set(err, rc, "signed_request: algorithm is not %s", SR_ALGORITHM);
	if (!id_copy(&f->user, p->user_id))
		return lethe_err_set(err, rc,
		                     "signed_request: user_id missing or not a string of 1 to %d "
		                     "characters [A-Za-z0-9_-]",
		                     SR_ID_MAX);
	if (f->profile.type != F_ABSENT && !id_copy(&f->profile, p->profile_id))
		return lethe_err_set(err, rc,
		                     "signed_request: profile_id not a string of 1 to %d "
		                     "characters [A-Za-z0-9_-]",
		                     SR_ID_MAX);
	if (!int_get(&f->issued, &p->issued_at, &p->has_issued_at) ||
	    !int_get(&f->expires, &p->expires, &p->has_expires))
		return lethe_err_set(
		    err, rc, "signed_request: issued_at or expires is not a non-negative integer");
	return LETHE_OK;
}

/* Fill @p from the authenticated JSON text @json (@n bytes). */
static lethe_rc
payload_parse(const uint8_t *json, size_t n, struct sr_payload *p, struct lethe_err *err)
{
	struct fields f;
	json_error_t jerr;
	json_t *root;
	lethe_rc rc;

	if (memchr(json, '\0', n) != NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "signed_request: payload holds a NUL byte");
	if (fast_parse(json, n, &f))
		return fields_check(&f, p, err);
	if (!json_depth_ok(json, n, SR_JSON_MAX_DEPTH))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "signed_request: payload nests deeper than %d",
		                     SR_JSON_MAX_DEPTH);
	/* jerr.text may quote the payload: it never reaches the message. */
	root = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "signed_request: payload is not a JSON object");
	}
	field_from_json(root, "algorithm", &f.alg);
	field_from_json(root, "user_id", &f.user);
	field_from_json(root, "profile_id", &f.profile);
	field_from_json(root, "issued_at", &f.issued);
	field_from_json(root, "expires", &f.expires);
	rc = fields_check(&f, p, err);
	json_decref(root);
	return rc;
}

lethe_rc
sr_verify(const char *sr, size_t len, const uint8_t *secret, size_t secret_len,
          struct sr_payload *out, struct lethe_err *err)
{
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	uint8_t sig[SR_SIG_LEN];
	struct sr_payload p;
	const char *dot, *payload;
	size_t sig_n, payload_n, sig_text, payload_text, bin_len = 0;
	uint8_t bin[SR_MAX_LEN / 4 * 3 + 3]; /* either segment, decoded (no malloc per request) */
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	if (secret == NULL || secret_len == 0)
		return lethe_err_set(err, LETHE_E_CONFIG, "signed_request: no app secret");
	if (sodium_init() < 0)
		return lethe_err_set(err, LETHE_E_INTERNAL, "libsodium failed to initialise");
	if (len > SR_MAX_LEN)
		return lethe_err_set(err, LETHE_E_TOOBIG, "signed_request: longer than %d bytes",
		                     SR_MAX_LEN);
	dot = sr != NULL ? memchr(sr, '.', len) : NULL;
	if (dot == NULL || memchr(dot + 1, '.', len - (size_t)(dot + 1 - sr)) != NULL)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "signed_request: not two segments joined by one '.'");
	sig_n = (size_t)(dot - sr);
	payload = dot + 1;
	payload_n = len - sig_n - 1;
	if (!segment_ok(sr, sig_n, &sig_text) || !segment_ok(payload, payload_n, &payload_text))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "signed_request: a segment is empty or not base64url");

	if (!b64url_decode(sr, sig_text, bin, sizeof(bin), &bin_len)) {
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "signed_request: signature segment is not base64url");
		goto out;
	}
	if (bin_len != SR_SIG_LEN) {
		rc = lethe_err_set(err, LETHE_E_FORBIDDEN,
		                   "signed_request: signature is not %d bytes", SR_SIG_LEN);
		goto out;
	}
	memcpy(sig, bin, SR_SIG_LEN);
	if (!b64url_decode(payload, payload_text, bin, sizeof(bin), &bin_len)) {
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "signed_request: payload segment is not base64url");
		goto out;
	}

	/* The payload segment exactly as received, padding and all. */
	hash_hmac_init(&st, secret, secret_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)payload, payload_n);
	crypto_auth_hmacsha256_final(&st, mac);
	_Static_assert(SR_SIG_LEN == crypto_auth_hmacsha256_BYTES, "crypto_verify_32 compares 32");
	if (crypto_verify_32(mac, sig) != 0) { /* constant time */
		rc = lethe_err_set(err, LETHE_E_FORBIDDEN,
		                   "signed_request: signature does not verify");
		goto out;
	}

	rc = payload_parse(bin, bin_len, &p, err);
	if (rc == LETHE_OK)
		*out = p;
out:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(mac, sizeof(mac));
	sodium_memzero(&p, sizeof(p));
	/* The payload holds the user id: zero what either decode may have written. */
	sodium_memzero(bin, len / 4 * 3 + 3 < sizeof(bin) ? len / 4 * 3 + 3 : sizeof(bin));
	return rc;
}

char *
sr_sign(const char *payload_json, size_t payload_len, const uint8_t *secret, size_t secret_len)
{
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	size_t sig_sz = sodium_base64_ENCODED_LEN(SR_SIG_LEN, B64_VARIANT);
	size_t payload_sz;
	char *out;

	if (secret == NULL || secret_len == 0 || payload_len > SIZE_MAX / 2 || sodium_init() < 0)
		return NULL;
	payload_sz = sodium_base64_ENCODED_LEN(payload_len, B64_VARIANT);
	/* "sig" '.' "payload" NUL: the two encoded sizes count one NUL each. */
	out = xmalloc(sig_sz + payload_sz);
	sodium_bin2base64(out + sig_sz, payload_sz, (const unsigned char *)payload_json,
	                  payload_len, B64_VARIANT);
	crypto_auth_hmacsha256_init(&st, secret, secret_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)out + sig_sz, payload_sz - 1);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(out, sig_sz, mac, sizeof(mac), B64_VARIANT);
	out[sig_sz - 1] = '.';
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(mac, sizeof(mac));
	return out;
}
