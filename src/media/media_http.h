/* SPDX-License-Identifier: MIT */
/*
 * media_http.h - one HTTP exchange of a remote media store over libcurl
 * (media_s3.c, media_cloudinary.c): the store's timeouts, no redirects,
 * http and https only, the answer's body into memory (capped) or a file
 * descriptor, and the classification a retry loop needs.  Signing and the
 * retry loop itself are the caller's (a SigV4 signature names its time, so
 * each try is signed again).  Not for use outside src/media/.
 */
#ifndef LETHE_MEDIA_HTTP_H
#define LETHE_MEDIA_HTTP_H

#include <curl/curl.h>

#include "media/media_internal.h"
#include "util/buf.h"
#include "util/fmacros.h"

/* One request. */
struct media_http_req {
	const char *method;               /* "GET", "HEAD", "POST", "DELETE", "PUT" */
	const char *url;                  /* full URL, query included, already percent-encoded */
	const struct curl_slist *headers; /* extra headers, or NULL */
	const void *body;                 /* request body, or NULL */
	size_t body_len;                  /* its bytes */
	const char *userpwd;              /* "user:password" for Basic auth, or NULL */
	int out_fd;       /* >= 0: write a 2xx answer's body there; -1: into resp.body */
	int64_t max_body; /* cap on the body kept or written (bytes) */
};

/* What came back. */
struct media_http_resp {
	long status;     /* HTTP status, 0 when there was no answer */
	struct buf body; /* the body (when out_fd < 0, or a non-2xx answer's, capped at 64 KiB) */
	int64_t written; /* bytes written to out_fd */
	long retry_after_ms; /* Retry-After of the answer, 0 if none */
	bool too_big;        /* the body passed max_body */
	char error[160];     /* libcurl's reason when status is 0, never a URL's path or query */
};

/* Initialise @r (empty body). */
/*
 * Wipe every line of header list @l (an Authorization, a session token),
 * then free it.  libcurl's own copies -- the request it assembles, and
 * CURLOPT_USERPWD's -- are freed by libcurl unwiped: docs/internals/media.md.
 */
void media_http_headers_free(struct curl_slist *l);

void media_http_resp_init(struct media_http_resp *r);
void media_http_resp_free(struct media_http_resp *r);
/*
 * Perform @q for store @m (its connect and total timeouts) into @r, which
 * is reset first.  Returns the libcurl code (CURLE_OK when an answer of any
 * status came).
 */
CURLcode media_http(const struct media_store *m, const struct media_http_req *q,
                    struct media_http_resp *r);
/*
 * Whether to try again: no answer (timeout, refused, reset), 408, 429,
 * 500, 502, 503, 504, or an S3 error code of SlowDown/InternalError/
 * RequestTimeout in the body.
 */
bool media_http_transient(const struct media_http_resp *r);

#endif /* LETHE_MEDIA_HTTP_H */
