/* SPDX-License-Identifier: MIT */
/*
 * media_sigv4.h - AWS Signature Version 4 for S3 requests (media_s3.c),
 * header-based, single-chunk signed payload: the canonical request, the
 * string to sign, the signing key and the Authorization header's value, with
 * libsodium's HMAC-SHA256 and SHA-256.  Our own rather than libcurl's
 * CURLOPT_AWS_SIGV4 so that it can be checked against AWS's published
 * examples (tests/unit/test_media_s3.c) and does not change with libcurl's
 * version (docs/internals/media.md).  Not for use outside src/media/.
 * Thread-safe: no state.
 */
#ifndef LETHE_MEDIA_SIGV4_H
#define LETHE_MEDIA_SIGV4_H

#include <time.h>

#include "util/buf.h"
#include "util/fmacros.h"
#include "util/rc.h"

/* A hex SHA-256 and its NUL. */
#define SIGV4_HEX_BYTES 65
/* "YYYYMMDDTHHMMSSZ" and its NUL. */
#define SIGV4_DATE_BYTES 17
/* The most headers and query parameters one request signs. */
#define SIGV4_MAX_PARTS 16

/* A header to sign. */
struct media_sigv4_hdr {
	const char *name;  /* lower-case name, e.g. "x-amz-date" */
	const char *value; /* its value as sent (trimmed, runs of spaces folded when signed) */
};

/* One request to sign; every string is the caller's. */
struct media_sigv4 {
	const char *method; /* "GET", "HEAD", "POST"... */
	const char *uri;    /* the path, already URI-encoded ("/" at least) */
	const char *query;  /* the query, already URI-encoded, without '?'; "" if none */
	const struct media_sigv4_hdr
	    *hdrs;                  /* the headers to sign (host, x-amz-date, ...), any order */
	size_t n_hdrs;              /* their number, at most SIGV4_MAX_PARTS */
	const char *payload_sha256; /* hex SHA-256 of the body (x-amz-content-sha256) */
	const char *access_key;     /* the access key id */
	const char *secret;         /* the secret access key */
	const char *region;         /* e.g. "us-east-1" */
	const char *service;        /* "s3" */
	const char *amz_date;       /* x-amz-date: "YYYYMMDDTHHMMSSZ" */
};

/* Hex SHA-256 of @n bytes at @p. */
void media_sigv4_sha256_hex(const void *p, size_t n, char hex[SIGV4_HEX_BYTES]);
/* @t as x-amz-date wants it (UTC). */
void media_sigv4_date(time_t t, char out[SIGV4_DATE_BYTES]);
/*
 * Append @n bytes of @s to @out URI-encoded as SigV4 wants: unreserved
 * characters (A-Z a-z 0-9 - . _ ~) as they are, every other byte as %XX
 * (upper-case hex), '/' kept when @keep_slash (an object key's path).
 */
lethe_rc media_sigv4_encode(struct buf *out, const char *s, size_t n, bool keep_slash);
/*
 * The canonical request of @s into @out (reset first), exactly as signed.
 * LETHE_E_INVALID if a part is malformed (too many headers or parameters, a
 * header name not lower-case), LETHE_E_TOOBIG if @out's cap is passed.
 */
lethe_rc media_sigv4_canonical(const struct media_sigv4 *s, struct buf *out, struct lethe_err *err);
/*
 * The Authorization header's value for @s into @auth (reset first):
 * "AWS4-HMAC-SHA256 Credential=ID/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b;c,Signature=HEX".  Errors as media_sigv4_canonical().
 */
lethe_rc media_sigv4_sign(const struct media_sigv4 *s, struct buf *auth, struct lethe_err *err);

#endif /* LETHE_MEDIA_SIGV4_H */
