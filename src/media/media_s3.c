/* SPDX-License-Identifier: MIT */
/*
 * media_s3.c - the store kind "s3": S3-compatible object storage (AWS S3,
 * and stores that speak its REST API), reached with our SigV4 signature
 * (media_sigv4.c) over libcurl (media_http.c).  docs/media.md says how to
 * configure one, docs/internals/media.md why it works this way.
 *
 *   remove: DeleteObjects, POST /?delete, up to 1,000 keys, <Quiet>true:
 *           the answer lists only the keys it could not delete (<Error>);
 *           S3 deletes a missing key without a word, so every other key is
 *           MEDIA_REMOVED.  Keys failing with a transient code (SlowDown,
 *           InternalError...) are sent again within the call.
 *   probe:  HeadBucket first (200 required: a wrong bucket must not make
 *           every object look absent), then HEAD per key: 200 present, 404
 *           absent.
 *   open:   GET into an unlinked temporary file, capped.
 *
 * Each try is signed afresh (a signature names its second).  Credentials
 * are read for each call and wiped after it.  A key is the store's prefix
 * plus the app's key; an empty one or one over 1,024 bytes cannot exist
 * in S3, one with a control character cannot be written in DeleteObjects'
 * XML and is refused.  No key and no credential reaches a message.
 * Stateless; thread-safe.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media/media_http.h"
#include "media/media_s3.h"
#include "media/media_sigv4.h"
#include "util/md5.h"
#include "util/mem.h"

/* Bounds a request's URL and its canonical URI (a key of 1,024 bytes encodes to 3 KiB). */
#define URL_MAX (8 * 1024)
/* Bounds a DeleteObjects answer (1,000 <Error> entries of long keys fit). */
#define ANSWER_MAX (4 * 1024 * 1024)
/* Bounds DeleteObjects' request body: 1,000 keys of 1,024 bytes, escaped. */
#define DELETE_BODY_MAX (7 * 1024 * 1024)
/* Distinct error codes a message names. */
#define CODES_NAMED 4

/* ---- keys and targets ------------------------------------------------------------- */

/* What a key is to S3. */
enum key_state {
	KEY_OK,      /* can be named */
	KEY_NEVER,   /* cannot exist in S3: empty, or over MEDIA_S3_KEY_MAX with the prefix */
	KEY_REFUSED, /* holds a control character: not sent */
};

static enum key_state
key_state(const struct media_s3 *s, const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || strlen(s->prefix) + n > MEDIA_S3_KEY_MAX)
		return KEY_NEVER;
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return KEY_REFUSED;
	return KEY_OK;
}

lethe_rc
media_s3_target(const struct media_store *m, const char *key, const char *query, struct buf *url,
                struct buf *uri, struct buf *host)
{
	const struct media_s3 *s = &m->u.s3;
	const char *sep = strstr(s->endpoint, "://");
	const char *hostport = sep != NULL ? sep + 3 : s->endpoint;
	int scheme_len = sep != NULL ? (int)(sep - s->endpoint) : 0;
	lethe_rc rc;

	buf_reset(url);
	buf_reset(uri);
	buf_reset(host);
	if (s->path_style)
		rc = buf_addf(host, "%s", hostport);
	else
		rc = buf_addf(host, "%s.%s", s->bucket, hostport);
	if (rc == LETHE_OK)
		rc = s->path_style ? buf_addf(uri, "/%s", s->bucket) : LETHE_OK;
	if (rc == LETHE_OK && (key != NULL || !s->path_style))
		rc = buf_add(uri, "/", 1);
	if (rc == LETHE_OK && key != NULL)
		rc = media_sigv4_encode(uri, key, strlen(key), true);
	if (rc == LETHE_OK)
		rc = buf_addf(url, "%.*s://%s%s%s%s", scheme_len, s->endpoint, buf_str(host),
		              buf_str(uri), query[0] != '\0' ? "?" : "", query);
	return rc;
}

/* ---- credentials ------------------------------------------------------------------ */

/* Credentials of one call: "ID:SECRET[:TOKEN]" split in place. */
struct s3_cred {
	char *raw;          /* the secret as read (wiped by cred_free) */
	const char *id;     /* access key id */
	const char *secret; /* secret access key */
	const char *token;  /* session token, or NULL */
};

static bool
token_chars(const char *s, bool alnum_only)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (alnum_only ? !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		                   (c >= '0' && c <= '9'))
		               : (c <= 0x20 || c == 0x7f))
			return false;
	}
	return true;
}

static void
cred_free(struct s3_cred *c)
{
	media_secret_free(c->raw);
	c->raw = NULL;
}

/* Read and split @m's credentials; LETHE_E_CONFIG naming the variable or file, never a value. */
static lethe_rc
cred_read(const struct media_store *m, struct s3_cred *c, struct lethe_err *err)
{
	const struct media_secret *sec = &m->u.s3.credentials;
	char *p;

	memset(c, 0, sizeof(*c));
	c->raw = media_secret_read(m, sec, err);
	if (c->raw == NULL)
		return LETHE_E_CONFIG;
	c->id = c->raw;
	p = strchr(c->raw, ':');
	if (p != NULL) {
		*p = '\0';
		c->secret = p + 1;
		p = strchr(p + 1, ':');
		if (p != NULL) {
			*p = '\0';
			c->token = p + 1;
		}
	}
	if (c->secret == NULL || !token_chars(c->id, true) || !token_chars(c->secret, false) ||
	    strlen(c->secret) > 128 || (c->token != NULL && !token_chars(c->token, false))) {
		cred_free(c);
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "media store '%s': %s does not hold "
		                     "ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]",
		                     m->name,
		                     sec->env != NULL && strcmp(sec->env, "AWS") == 0
		                         ? "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
		                         : (sec->env != NULL ? sec->env : sec->file));
	}
	return LETHE_OK;
}

/* ---- one signed exchange ---------------------------------------------------------- */

/* One request to the store. */
struct s3_req {
	const char *method;      /* "POST", "HEAD", "GET" */
	const char *key;         /* the full key (prefix included), or NULL: the bucket */
	const char *query;       /* encoded query, "" if none */
	const void *body;        /* request body, or NULL */
	size_t body_len;         /* its bytes */
	const char *content_md5; /* base64 MD5 of the body, or NULL */
	int out_fd;              /* as media_http_req */
	int64_t max_body;        /* as media_http_req */
};

static struct curl_slist *
add_hdr(struct curl_slist *l, bool *oom, const char *name, const char *value)
{
	char *line = xasprintf("%s: %s", name, value);
	struct curl_slist *t = curl_slist_append(l, line);

	sodium_memzero(line, strlen(line));
	free(line);
	if (t == NULL)
		*oom = true;
	return t != NULL ? t : l;
}

/* The headers of @q signed for now; NULL with @err on failure. */
static struct curl_slist *
signed_headers(const struct media_store *m, const struct s3_cred *c, const struct s3_req *q,
               const char *host, const char *uri, struct lethe_err *err)
{
	char payload[SIGV4_HEX_BYTES], date[SIGV4_DATE_BYTES];
	struct media_sigv4_hdr h[5];
	struct curl_slist *l = NULL;
	struct buf auth;
	bool oom = false;
	size_t nh = 0;

	media_sigv4_sha256_hex(q->body != NULL ? q->body : "", q->body_len, payload);
	media_sigv4_date(time(NULL), date);
	h[nh++] = (struct media_sigv4_hdr){"host", host};
	h[nh++] = (struct media_sigv4_hdr){"x-amz-content-sha256", payload};
	h[nh++] = (struct media_sigv4_hdr){"x-amz-date", date};
	if (q->content_md5 != NULL)
		h[nh++] = (struct media_sigv4_hdr){"content-md5", q->content_md5};
	if (c->token != NULL)
		h[nh++] = (struct media_sigv4_hdr){"x-amz-security-token", c->token};
	buf_init(&auth, 1024);
	if (media_sigv4_sign(&(struct media_sigv4){.method = q->method,
	                                           .uri = uri,
	                                           .query = q->query,
	                                           .hdrs = h,
	                                           .n_hdrs = nh,
	                                           .payload_sha256 = payload,
	                                           .access_key = c->id,
	                                           .secret = c->secret,
	                                           .region = m->u.s3.region,
	                                           .service = "s3",
	                                           .amz_date = date},
	                     &auth, err) != LETHE_OK) {
		buf_free(&auth);
		return NULL;
	}
	for (size_t i = 0; i < nh; i++)
		l = add_hdr(l, &oom, h[i].name, h[i].value);
	l = add_hdr(l, &oom, "authorization", buf_str(&auth));
	if (q->body != NULL)
		l = add_hdr(l, &oom, "content-type", "application/xml");
	buf_free(&auth);
	if (oom) {
		media_http_headers_free(l);
		lethe_err_set(err, LETHE_E_INTERNAL, "media store '%s': out of memory", m->name);
		return NULL;
	}
	return l;
}

/* Sign and send @q once.  LETHE_OK when the exchange ran (any status), else why not. */
static lethe_rc
s3_send(const struct media_store *m, const struct s3_cred *c, const struct s3_req *q,
        struct media_http_resp *r, CURLcode *cc, struct lethe_err *err)
{
	struct buf url, uri, host;
	struct curl_slist *hdrs = NULL;
	lethe_rc rc;

	buf_init(&url, URL_MAX);
	buf_init(&uri, URL_MAX);
	buf_init(&host, 512);
	rc = media_s3_target(m, q->key, q->query, &url, &uri, &host);
	if (rc != LETHE_OK) {
		lethe_err_set(err, rc, "media store '%s': a request's URL is too long", m->name);
		goto out;
	}
	hdrs = signed_headers(m, c, q, buf_str(&host), buf_str(&uri), err);
	if (hdrs == NULL) {
		rc = err != NULL ? err->rc : LETHE_E_INTERNAL;
		goto out;
	}
	*cc = media_http(m,
	                 &(struct media_http_req){.method = q->method,
	                                          .url = buf_str(&url),
	                                          .headers = hdrs,
	                                          .body = q->body,
	                                          .body_len = q->body_len,
	                                          .userpwd = NULL,
	                                          .out_fd = q->out_fd,
	                                          .max_body = q->max_body},
	                 r);
out:
	media_http_headers_free(hdrs);
	buf_free(&url);
	buf_free(&uri);
	buf_free(&host);
	return rc;
}

/* What the last try of an exchange means, with @err saying why when it is not LETHE_OK. */
static lethe_rc
verdict(const struct media_store *m, const char *method, CURLcode cc,
        const struct media_http_resp *r, int tries, struct lethe_err *err)
{
	char code[MEDIA_S3_CODE_MAX];
	/* Without s3:ListBucket, S3 answers 403 rather than 404 for a missing key (HeadObject's
	 * doc). */
	const char *hint =
	    strcmp(method, "POST") == 0
	        ? " (check the credentials, and that the policy allows s3:DeleteObject)"
	        : " (check the credentials, and that the policy allows s3:GetObject, "
	          "and s3:ListBucket for S3 to say 404 for a missing object)";

	if (cc != CURLE_OK && r->status == 0)
		return lethe_err_set(err, LETHE_E_UNAVAILABLE,
		                     "media store '%s': no answer from %s after %d tr%s: %s",
		                     m->name, m->where, tries, tries == 1 ? "y" : "ies", r->error);
	if (cc != CURLE_OK)
		return lethe_err_set(err, LETHE_E_IO, "media store '%s': %s", m->name, r->error);
	if (r->status >= 200 && r->status < 300)
		return LETHE_OK;
	media_s3_error_code(buf_str(&r->body), r->body.len, code);
	if (r->status == 404 && strcmp(code, "NoSuchBucket") != 0)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "media store '%s': no such object",
		                     m->name);
	return lethe_err_set(err, r->status == 403 ? LETHE_E_FORBIDDEN : LETHE_E_UNAVAILABLE,
	                     "media store '%s' answered HTTP %ld%s%s%s%s", m->name, r->status,
	                     code[0] != '\0' ? " " : "", code,
	                     media_http_transient(r) ? " to the end of its retries" : "",
	                     r->status == 403 ? hint : "");
}

/* Start over in @fd before a try: a failed try may have written some bytes. */
static lethe_rc
rewind_fd(const struct media_store *m, int fd, struct lethe_err *err)
{
	if (fd < 0 || (ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0))
		return LETHE_OK;
	return lethe_err_set(err, LETHE_E_IO, "media store '%s': temporary file: %s", m->name,
	                     strerror(errno));
}

/* Send @q, trying again after a transient failure (the store's retries and backoff). */
static lethe_rc
s3_exchange(const struct media_store *m, const struct s3_cred *c, const struct s3_req *q,
            struct media_http_resp *r, struct lethe_err *err)
{
	CURLcode cc = CURLE_OK;
	int attempt;
	lethe_rc rc;

	for (attempt = 0;; attempt++) {
		rc = rewind_fd(m, q->out_fd, err);
		if (rc == LETHE_OK)
			rc = s3_send(m, c, q, r, &cc, err);
		if (rc != LETHE_OK)
			return rc;
		if (!media_http_transient(r) || attempt >= m->retries)
			break;
		media_backoff(m, attempt + 1, r->retry_after_ms);
	}
	return verdict(m, q->method, cc, r, attempt + 1, err);
}

/* ---- remove ----------------------------------------------------------------------- */

/* Error codes of a DeleteObjects call worth sending the key again for. */
static bool
code_transient(const char *code)
{
	return strcmp(code, "SlowDown") == 0 || strcmp(code, "InternalError") == 0 ||
	       strcmp(code, "ServiceUnavailable") == 0 || strcmp(code, "RequestTimeout") == 0;
}

/* Counts of the codes keys failed with, for the message. */
struct tally {
	char code[CODES_NAMED][MEDIA_S3_CODE_MAX]; /* distinct codes */
	size_t count[CODES_NAMED];                 /* keys per code */
	size_t n_codes;                            /* codes in use */
	size_t other;                              /* keys of further codes */
	size_t total;                              /* keys failed */
	bool all_denied;                           /* every failure was AccessDenied */
};

static void
tally_add(struct tally *t, const char *code)
{
	size_t i;

	if (t->total++ == 0)
		t->all_denied = true;
	if (strcmp(code, "AccessDenied") != 0)
		t->all_denied = false;
	for (i = 0; i < t->n_codes; i++)
		if (strcmp(t->code[i], code) == 0)
			break;
	if (i == t->n_codes && t->n_codes < CODES_NAMED)
		snprintf(t->code[t->n_codes++], MEDIA_S3_CODE_MAX, "%s", code);
	if (i < t->n_codes)
		t->count[i]++;
	else
		t->other++;
}

/* The DeleteObjects body for the @n keys at @keys into @b (reset); their Content-MD5. */
static lethe_rc
delete_body(const char *const *keys, size_t n, struct buf *b, char md5_b64[32])
{
	uint8_t d[MD5_BYTES];
	lethe_rc rc;

	buf_reset(b);
	rc = buf_adds(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	                 "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	                 "<Quiet>true</Quiet>");
	for (size_t i = 0; rc == LETHE_OK && i < n; i++) {
		rc = buf_adds(b, "<Object><Key>");
		if (rc == LETHE_OK)
			rc = media_s3_xml_escape(b, keys[i]);
		if (rc == LETHE_OK)
			rc = buf_adds(b, "</Key></Object>");
	}
	if (rc == LETHE_OK)
		rc = buf_adds(b, "</Delete>");
	md5_sum(buf_str(b), b->len, d);
	sodium_bin2base64(md5_b64, 32, d, sizeof(d), sodium_base64_VARIANT_ORIGINAL);
	return rc;
}

/* The state of one media_remove(). */
struct rm {
	const struct media_store *m;        /* the store */
	char **full;                        /* per key: prefix + key, or NULL if not sent */
	size_t *pend;                       /* indexes of the keys still to send */
	size_t n_pend;                      /* their number */
	enum media_outcome *out;            /* per key: what became of it */
	struct tally fails;                 /* keys failed with an <Error> */
	size_t refused;                     /* keys with a control character */
	char retry_code[MEDIA_S3_CODE_MAX]; /* the transient code keys last failed with */
};

/* One DeleteObjects call for the pending keys; @settled: keys no longer pending. */
static lethe_rc
rm_try(struct rm *x, const struct s3_cred *c, struct buf *body, struct media_http_resp *r,
       bool *again, struct lethe_err *err)
{
	const char **sent = xcalloc(x->n_pend, sizeof(*sent));
	char(*codes)[MEDIA_S3_CODE_MAX] = xcalloc(x->n_pend, sizeof(*codes));
	struct lethe_err why = {0};
	char md5[32];
	CURLcode cc = CURLE_OK;
	size_t i, keep = 0;
	lethe_rc rc;

	for (i = 0; i < x->n_pend; i++)
		sent[i] = x->full[x->pend[i]];
	rc = delete_body(sent, x->n_pend, body, md5);
	if (rc != LETHE_OK) {
		rc = lethe_err_set(err, rc, "media store '%s': DeleteObjects body too long",
		                   x->m->name);
		goto out;
	}
	rc = s3_send(x->m, c,
	             &(struct s3_req){.method = "POST",
	                              .key = NULL,
	                              .query = "delete",
	                              .body = buf_str(body),
	                              .body_len = body->len,
	                              .content_md5 = md5,
	                              .out_fd = -1,
	                              .max_body = ANSWER_MAX},
	             r, &cc, err);
	*again = rc == LETHE_OK && media_http_transient(r);
	if (rc != LETHE_OK || *again)
		goto out;
	rc = verdict(x->m, "POST", cc, r, 1, err);
	if (rc == LETHE_E_NOTFOUND) /* a 404 to DeleteObjects is about the bucket, not a key */
		rc = lethe_err_set(err, LETHE_E_UNAVAILABLE,
		                   "media store '%s' answered HTTP 404 to DeleteObjects: check the "
		                   "bucket and the endpoint",
		                   x->m->name);
	/* Quiet mode: "If all keys are successfully deleted ..., Amazon S3 returns an empty
	 * response" (AWS's developer guide): a 200 without a body is every key deleted (codes
	 * are all ""); any other status must carry a DeleteResult. */
	if (rc == LETHE_OK && !(r->status == 200 && r->body.len == 0) &&
	    media_s3_delete_result(buf_str(&r->body), r->body.len, sent, x->n_pend, codes, &why) !=
	        LETHE_OK)
		rc = lethe_err_set(err, LETHE_E_UNAVAILABLE, "media store '%s': DeleteObjects: %s",
		                   x->m->name, why.msg);
	if (rc != LETHE_OK)
		goto out;
	for (i = 0; i < x->n_pend; i++) {
		size_t k = x->pend[i];

		if (codes[i][0] == '\0')
			x->out[k] = MEDIA_REMOVED;
		else if (code_transient(codes[i])) {
			x->pend[keep++] = k;
			snprintf(x->retry_code, sizeof(x->retry_code), "%s", codes[i]);
		} else
			tally_add(&x->fails, codes[i]);
	}
	x->n_pend = keep;
	*again = keep > 0;
out:
	free(sent);
	free(codes);
	return rc;
}

/* The message of a call that left keys FAILED. */
static lethe_rc
rm_fail_message(const struct rm *x, size_t n, lethe_rc rc, struct lethe_err *err)
{
	char codes[256] = "";
	size_t len = 0;

	if (rc != LETHE_OK)
		return rc; /* @err already says why the store did not do it */
	for (size_t i = 0; i < x->fails.n_codes && len < sizeof(codes); i++)
		len += (size_t)snprintf(codes + len, sizeof(codes) - len, "%s%s %zu",
		                        i > 0 ? ", " : "", x->fails.code[i], x->fails.count[i]);
	if (x->fails.other > 0 && len < sizeof(codes))
		snprintf(codes + len, sizeof(codes) - len, ", other %zu", x->fails.other);
	if (x->fails.total > 0)
		return lethe_err_set(err,
		                     x->fails.all_denied && x->refused == 0 ? LETHE_E_FORBIDDEN
		                                                            : LETHE_E_UNAVAILABLE,
		                     "media store '%s': %zu of %zu objects not removed (%s)%s",
		                     x->m->name, x->fails.total + x->refused, n, codes,
		                     x->refused > 0 ? "; some keys hold a control character" : "");
	return lethe_err_set(err, LETHE_E_INVALID,
	                     "media store '%s': %zu of %zu keys hold a control character, "
	                     "which S3's DeleteObjects cannot carry",
	                     x->m->name, x->refused, n);
}

static lethe_rc
s3_remove(const struct media_store *m, const char *const *keys, size_t n, enum media_outcome *out,
          struct lethe_err *err)
{
	struct rm x = {.m = m, .out = out};
	struct media_http_resp r;
	struct s3_cred c = {0};
	struct buf body;
	lethe_rc rc = LETHE_OK;
	bool again = false;

	x.full = xcalloc(n, sizeof(*x.full));
	x.pend = xcalloc(n, sizeof(*x.pend));
	media_http_resp_init(&r);
	buf_init(&body, DELETE_BODY_MAX);
	for (size_t i = 0; i < n; i++) {
		enum key_state ks = key_state(&m->u.s3, keys[i]);

		out[i] = ks == KEY_NEVER ? MEDIA_GONE : MEDIA_FAILED;
		x.refused += ks == KEY_REFUSED;
		if (ks == KEY_OK) {
			x.full[i] = xasprintf("%s%s", m->u.s3.prefix, keys[i]);
			x.pend[x.n_pend++] = i;
		}
	}
	if (x.n_pend > 0)
		rc = cred_read(m, &c, err);
	for (int attempt = 0; rc == LETHE_OK && x.n_pend > 0; attempt++) {
		rc = rm_try(&x, &c, &body, &r, &again, err);
		if (rc != LETHE_OK || !again)
			break;
		if (attempt >= m->retries) {
			/* Out of tries: the whole call's failure, or keys still failing
			 * transiently. */
			if (r.status < 200 || r.status >= 300)
				rc = verdict(m, "POST", CURLE_OK, &r, attempt + 1, err);
			if (r.status == 0)
				rc = lethe_err_set(
				    err, LETHE_E_UNAVAILABLE,
				    "media store '%s': no answer from %s after %d tries: %s",
				    m->name, m->where, attempt + 1, r.error);
			break;
		}
		media_backoff(m, attempt + 1, r.retry_after_ms);
	}
	/* Keys still pending after a final transient <Error> count with their code. */
	if (rc == LETHE_OK)
		for (size_t i = 0; i < x.n_pend; i++)
			tally_add(&x.fails, x.retry_code);
	if (rc != LETHE_OK || x.fails.total > 0 || x.refused > 0)
		rc = rm_fail_message(&x, n, rc, err);
	cred_free(&c);
	for (size_t i = 0; i < n; i++)
		free(x.full[i]);
	free(x.full);
	free(x.pend);
	buf_free(&body);
	media_http_resp_free(&r);
	return rc;
}

/* ---- probe and open --------------------------------------------------------------- */

/*
 * HeadBucket, once before a probe's first HeadObject.  A HEAD answer has no
 * body, so a 404 for a wrong bucket or endpoint (or a proxy's) could not be
 * told from "no such object": every object would read ABSENT and the scan
 * would pass.  Only a 200 lets the probe go on; a 404 or a redirect (301: the
 * bucket is in another region) is the store's failure, every key UNKNOWN.
 */
static lethe_rc
bucket_check(const struct media_store *m, const struct s3_cred *c, struct media_http_resp *r,
             struct lethe_err *err)
{
	lethe_rc rc = s3_exchange(
	    m, c,
	    &(struct s3_req){
	        .method = "HEAD", .key = NULL, .query = "", .out_fd = -1, .max_body = 0},
	    r, err);

	if ((rc == LETHE_OK && r->status != 200) || rc == LETHE_E_NOTFOUND ||
	    (r->status >= 300 && r->status < 400))
		return lethe_err_set(
		    err, LETHE_E_UNAVAILABLE,
		    "media store '%s': the bucket check (HeadBucket) answered HTTP "
		    "%ld: check the bucket, the region and the endpoint",
		    m->name, r->status);
	return rc;
}

static lethe_rc
s3_probe(const struct media_store *m, const char *const *keys, size_t n, enum media_presence *out,
         struct lethe_err *err)
{
	struct media_http_resp r;
	struct s3_cred c = {0};
	lethe_rc rc = LETHE_OK, first = LETHE_OK;

	for (size_t i = 0; i < n; i++)
		out[i] = MEDIA_UNKNOWN;
	media_http_resp_init(&r);
	for (size_t i = 0; i < n && rc == LETHE_OK; i++) {
		enum key_state ks = key_state(&m->u.s3, keys[i]);
		char *full;

		if (ks == KEY_NEVER) {
			out[i] = MEDIA_ABSENT;
			continue;
		}
		if (ks == KEY_REFUSED) {
			if (first == LETHE_OK)
				first = lethe_err_set(
				    err, LETHE_E_INVALID,
				    "media store '%s': a key holds a control character", m->name);
			continue;
		}
		if (c.raw == NULL) {
			rc = cred_read(m, &c, err);
			if (rc == LETHE_OK)
				rc = bucket_check(m, &c, &r, err);
			if (rc != LETHE_OK)
				break;
		}
		full = xasprintf("%s%s", m->u.s3.prefix, keys[i]);
		rc = s3_exchange(
		    m, &c,
		    &(struct s3_req){
		        .method = "HEAD", .key = full, .query = "", .out_fd = -1, .max_body = 0},
		    &r, err);
		free(full);
		if (rc == LETHE_OK || rc == LETHE_E_NOTFOUND) {
			out[i] = rc == LETHE_OK ? MEDIA_PRESENT : MEDIA_ABSENT;
			rc = LETHE_OK;
		}
		/* Otherwise the store failed: the remaining keys stay UNKNOWN, asked next time. */
	}
	cred_free(&c);
	media_http_resp_free(&r);
	return rc != LETHE_OK ? rc : first;
}

/*
 * An unlinked file in @dir to hold an object: mkstemp() then unlink(), so
 * nothing is left behind whatever happens to the process (O_TMPFILE would
 * need _GNU_SOURCE and a file system that has it).
 */
static int
tmpfile_in(const char *dir)
{
	char *path = xasprintf("%s/lethe-media-XXXXXX", dir);
	int fd = mkstemp(path), e = errno;

	if (fd >= 0) {
		unlink(path);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	free(path);
	errno = e;
	return fd;
}

static lethe_rc
s3_open(const struct media_store *m, const char *key, const char *tmpdir, int64_t max_bytes,
        int *fd, int64_t *size, struct lethe_err *err)
{
	struct media_http_resp r;
	struct s3_cred c = {0};
	char *full = NULL;
	int tfd = -1;
	lethe_rc rc;

	*fd = -1;
	*size = 0;
	if (key_state(&m->u.s3, key) != KEY_OK)
		return lethe_err_set(err, LETHE_E_NOTFOUND,
		                     "media store '%s': a key S3 cannot name", m->name);
	media_http_resp_init(&r);
	rc = cred_read(m, &c, err);
	if (rc != LETHE_OK)
		goto out;
	tfd = tmpfile_in(tmpdir);
	if (tfd < 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "media store '%s': temporary file in %s: %s",
		                   m->name, tmpdir, strerror(errno));
		goto out;
	}
	full = xasprintf("%s%s", m->u.s3.prefix, key);
	rc = s3_exchange(
	    m, &c,
	    &(struct s3_req){
	        .method = "GET", .key = full, .query = "", .out_fd = tfd, .max_body = max_bytes},
	    &r, err);
	if (rc == LETHE_OK && r.too_big)
		rc = lethe_err_set(err, LETHE_E_TOOBIG,
		                   "media store '%s': an object is over %lld bytes", m->name,
		                   (long long)max_bytes);
	if (rc == LETHE_OK && lseek(tfd, 0, SEEK_SET) != 0)
		rc = lethe_err_set(err, LETHE_E_IO, "media store '%s': temporary file: %s", m->name,
		                   strerror(errno));
	if (rc == LETHE_OK) {
		*fd = tfd;
		*size = r.written;
		tfd = -1;
	}
out:
	if (tfd >= 0)
		close(tfd);
	free(full);
	cred_free(&c);
	media_http_resp_free(&r);
	return rc;
}

static lethe_rc
s3_check(const struct media_store *m, struct lethe_err *err)
{
	struct s3_cred c;
	lethe_rc rc = cred_read(m, &c, err);

	cred_free(&c);
	return rc;
}

static void
s3_free(struct media_store *m)
{
	struct media_s3 *s = &m->u.s3;

	free(s->endpoint);
	free(s->region);
	free(s->bucket);
	free(s->prefix);
	media_secret_clear(&s->credentials);
}

const struct media_ops media_s3_ops = {
    .kind = MEDIA_S3,
    .remove = s3_remove,
    .probe = s3_probe,
    .open = s3_open,
    .check = s3_check,
    .free = s3_free,
};
