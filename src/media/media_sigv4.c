/* SPDX-License-Identifier: MIT */
/*
 * media_sigv4.c - AWS Signature Version 4 (media_sigv4.h), after "Signature
 * Calculations for the Authorization Header: Transferring Payload in a
 * Single Chunk" of the S3 API reference
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html):
 *
 *   CanonicalRequest = METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n PAYLOAD_HASH
 *   StringToSign     = "AWS4-HMAC-SHA256" \n DATE \n SCOPE \n hex(SHA256(CanonicalRequest))
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" SECRET, YYYYMMDD), REGION), SERVICE),
 *                           "aws4_request")
 *   Signature        = hex(HMAC(SigningKey, StringToSign))
 *
 * The query's parameters are sorted by name then value (a parameter with no
 * '=' is "name="); headers by name, each "name:value" with the value
 * trimmed and runs of spaces folded.  Key material lives on the stack and
 * is wiped before return.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_sigv4.h"

/* Bounds the canonical request and the string to sign (keys are at most 1 KiB). */
#define CANONICAL_MAX (16 * 1024)

/* One query parameter: a slice of the query string. */
struct qpart {
	const char *name;  /* its name */
	size_t name_len;   /* bytes of name */
	const char *value; /* its value ("" if it had no '=') */
	size_t value_len;  /* bytes of value */
};

void
media_sigv4_sha256_hex(const void *p, size_t n, char hex[SIGV4_HEX_BYTES])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, p, n);
	sodium_bin2hex(hex, SIGV4_HEX_BYTES, h, sizeof(h));
}

void
media_sigv4_date(time_t t, char out[SIGV4_DATE_BYTES])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SIGV4_DATE_BYTES, "%Y%m%dT%H%M%SZ", &tm);
}

lethe_rc
media_sigv4_encode(struct buf *out, const char *s, size_t n, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3];
		lethe_rc rc;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
			rc = buf_add(out, &s[i], 1);
		} else {
			e[0] = '%';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			rc = buf_add(out, e, 3);
		}
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

static int
slice_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

static int
qpart_cmp(const void *pa, const void *pb)
{
	const struct qpart *a = pa, *b = pb;
	int c = slice_cmp(a->name, a->name_len, b->name, b->name_len);

	return c != 0 ? c : slice_cmp(a->value, a->value_len, b->value, b->value_len);
}

static int
hdr_cmp(const void *pa, const void *pb)
{
	const struct media_sigv4_hdr *a = pa, *b = pb;

	return strcmp(a->name, b->name);
}

/* Split @q at '&' into @parts (at most SIGV4_MAX_PARTS); -1 if there are more. */
static int
query_split(const char *q, struct qpart *parts)
{
	int n = 0;

	while (*q != '\0') {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);

		if (len > 0) {
			if (n == SIGV4_MAX_PARTS)
				return -1;
			parts[n].name = q;
			parts[n].name_len = eq != NULL ? (size_t)(eq - q) : len;
			parts[n].value = eq != NULL ? eq + 1 : "";
			parts[n].value_len = eq != NULL ? len - (size_t)(eq - q) - 1 : 0;
			n++;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	return n;
}

/* "name:value\n" with the value trimmed and runs of spaces folded to one. */
static lethe_rc
add_header(struct buf *out, const struct media_sigv4_hdr *h)
{
	const char *v = h->value;
	bool space = false;
	lethe_rc rc = buf_addf(out, "%s:", h->name);

	while (rc == LETHE_OK && (*v == ' ' || *v == '\t'))
		v++;
	for (; rc == LETHE_OK && *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			rc = buf_add(out, " ", 1);
		space = false;
		if (rc == LETHE_OK)
			rc = buf_add(out, v, 1);
	}
	return rc != LETHE_OK ? rc : buf_add(out, "\n", 1);
}

static bool
lower_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

/* The sorted headers of @s into @sorted; LETHE_E_INVALID if too many or a bad name. */
static lethe_rc
sort_headers(const struct media_sigv4 *s, struct media_sigv4_hdr *sorted, struct lethe_err *err)
{
	if (s->n_hdrs == 0 || s->n_hdrs > SIGV4_MAX_PARTS)
		return lethe_err_set(err, LETHE_E_INVALID, "sigv4: %zu headers to sign", s->n_hdrs);
	for (size_t i = 0; i < s->n_hdrs; i++) {
		if (!lower_name(s->hdrs[i].name))
			return lethe_err_set(err, LETHE_E_INVALID,
			                     "sigv4: header name not lower-case");
		sorted[i] = s->hdrs[i];
	}
	qsort(sorted, s->n_hdrs, sizeof(*sorted), hdr_cmp);
	return LETHE_OK;
}

static lethe_rc
add_signed_list(struct buf *out, const struct media_sigv4_hdr *sorted, size_t n)
{
	lethe_rc rc = LETHE_OK;

	for (size_t i = 0; rc == LETHE_OK && i < n; i++)
		rc = buf_addf(out, "%s%s", i > 0 ? ";" : "", sorted[i].name);
	return rc;
}

lethe_rc
media_sigv4_canonical(const struct media_sigv4 *s, struct buf *out, struct lethe_err *err)
{
	struct media_sigv4_hdr sorted[SIGV4_MAX_PARTS];
	struct qpart parts[SIGV4_MAX_PARTS];
	int nq = query_split(s->query, parts);
	lethe_rc rc;

	buf_reset(out);
	if (nq < 0)
		return lethe_err_set(err, LETHE_E_INVALID, "sigv4: too many query parameters");
	rc = sort_headers(s, sorted, err);
	if (rc != LETHE_OK)
		return rc;
	qsort(parts, (size_t)nq, sizeof(parts[0]), qpart_cmp);
	rc = buf_addf(out, "%s\n%s\n", s->method, s->uri);
	for (int i = 0; rc == LETHE_OK && i < nq; i++)
		rc = buf_addf(out, "%s%.*s=%.*s", i > 0 ? "&" : "", (int)parts[i].name_len,
		              parts[i].name, (int)parts[i].value_len, parts[i].value);
	if (rc == LETHE_OK)
		rc = buf_add(out, "\n", 1);
	for (size_t i = 0; rc == LETHE_OK && i < s->n_hdrs; i++)
		rc = add_header(out, &sorted[i]);
	if (rc == LETHE_OK)
		rc = buf_add(out, "\n", 1);
	if (rc == LETHE_OK)
		rc = add_signed_list(out, sorted, s->n_hdrs);
	if (rc == LETHE_OK)
		rc = buf_addf(out, "\n%s", s->payload_sha256);
	if (rc != LETHE_OK)
		return lethe_err_set(err, rc, "sigv4: canonical request over %d bytes",
		                     CANONICAL_MAX);
	return LETHE_OK;
}

static void
hmac(unsigned char out[crypto_auth_hmacsha256_BYTES], const void *key, size_t key_len,
     const void *msg, size_t msg_len)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, msg, msg_len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* hex(HMAC(SigningKey, @sts)) for @s's secret, date, region and service. */
static lethe_rc
signature(const struct media_sigv4 *s, const char *sts, size_t sts_len, char hex[SIGV4_HEX_BYTES],
          struct lethe_err *err)
{
	unsigned char k[crypto_auth_hmacsha256_BYTES];
	char first[4 + 256];
	size_t secret_len = strlen(s->secret);

	if (secret_len > sizeof(first) - 4)
		return lethe_err_set(err, LETHE_E_INVALID, "sigv4: secret key too long");
	memcpy(first, "AWS4", 4);
	memcpy(first + 4, s->secret, secret_len);
	hmac(k, first, 4 + secret_len, s->amz_date, 8);
	sodium_memzero(first, sizeof(first));
	hmac(k, k, sizeof(k), s->region, strlen(s->region));
	hmac(k, k, sizeof(k), s->service, strlen(s->service));
	hmac(k, k, sizeof(k), "aws4_request", 12);
	hmac(k, k, sizeof(k), sts, sts_len);
	sodium_bin2hex(hex, SIGV4_HEX_BYTES, k, sizeof(k));
	sodium_memzero(k, sizeof(k));
	return LETHE_OK;
}

lethe_rc
media_sigv4_sign(const struct media_sigv4 *s, struct buf *auth, struct lethe_err *err)
{
	struct media_sigv4_hdr sorted[SIGV4_MAX_PARTS];
	char creq_hex[SIGV4_HEX_BYTES], sig[SIGV4_HEX_BYTES];
	struct buf creq, sts;
	lethe_rc rc;

	buf_reset(auth);
	if (strlen(s->amz_date) != SIGV4_DATE_BYTES - 1)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "sigv4: x-amz-date is not YYYYMMDDTHHMMSSZ");
	buf_init(&creq, CANONICAL_MAX);
	buf_init(&sts, CANONICAL_MAX);
	rc = media_sigv4_canonical(s, &creq, err);
	if (rc == LETHE_OK) {
		media_sigv4_sha256_hex(buf_str(&creq), creq.len, creq_hex);
		rc = buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s",
		              s->amz_date, s->amz_date, s->region, s->service, creq_hex);
		if (rc != LETHE_OK)
			lethe_err_set(err, rc, "sigv4: string to sign too long");
	}
	if (rc == LETHE_OK)
		rc = signature(s, buf_str(&sts), sts.len, sig, err);
	if (rc == LETHE_OK)
		rc = sort_headers(s, sorted, err);
	if (rc == LETHE_OK) {
		rc = buf_addf(
		    auth, "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request,SignedHeaders=",
		    s->access_key, s->amz_date, s->region, s->service);
		if (rc == LETHE_OK)
			rc = add_signed_list(auth, sorted, s->n_hdrs);
		if (rc == LETHE_OK)
			rc = buf_addf(auth, ",Signature=%s", sig);
		if (rc != LETHE_OK)
			lethe_err_set(err, rc, "sigv4: Authorization header too long");
	}
	buf_free(&creq);
	buf_free(&sts);
	return rc;
}
