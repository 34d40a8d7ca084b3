/* SPDX-License-Identifier: MIT */
/*
 * media_http.c - one HTTP exchange of a remote media store (media_http.h).
 *
 * A fresh libcurl easy handle per call: calls come from any thread, are
 * few (one per chunk of up to 1,000 keys, or one per exported object) and
 * slow next to a handshake's cost, so a shared handle's lock and state are
 * not worth having.  The answer's status is taken from the header callback
 * (the last status line: an interim 1xx is replaced by the final one), so
 * the write callback knows whether the body is an object's bytes for
 * out_fd or an error document for memory.  Thread-safe: nothing is shared.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "media/media_http.h"
#include "util/curlinit.h"

/* A non-2xx answer's body is kept up to this (S3's <Error> documents are small). */
#define ERROR_BODY_MAX (64 * 1024)
/* Retry-After beyond this is not believed (media_backoff() caps at 10 s anyway). */
#define RETRY_AFTER_MAX_MS (3600L * 1000)

/* The state of one exchange, shared by the callbacks. */
struct xfer {
	const struct media_http_req *q; /* the request */
	struct media_http_resp *r;      /* the answer being filled */
	bool cut;                       /* our own cap stopped the transfer, the status stands */
	int write_errno;                /* out_fd refused a write (errno), 0 if not */
};

void
media_http_resp_init(struct media_http_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, ERROR_BODY_MAX);
}

void
media_http_resp_free(struct media_http_resp *r)
{
	buf_free(&r->body);
}

static bool
ok_status(long status)
{
	return status >= 200 && status < 300;
}

/* Retry-After's value @v (@n bytes): delta-seconds or an HTTP date; 0 if neither. */
static long
parse_retry_after(const char *v, size_t n)
{
	char tmp[64];
	long ms = 0;

	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n == 0 || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	if (strspn(tmp, "0123456789") == n) {
		long s = n > 7 ? RETRY_AFTER_MAX_MS / 1000 : strtol(tmp, NULL, 10);

		ms = s * 1000;
	} else {
		time_t when = curl_getdate(tmp, NULL);
		time_t now = time(NULL);

		if (when != (time_t)-1 && when > now)
			ms = (long)(when - now) * 1000;
	}
	return ms > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : ms;
}

/* One header line: a status line resets what the previous answer set; Retry-After is kept. */
static size_t
header_cb(char *p, size_t size, size_t nitems, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nitems;
	static const char ra[] = "retry-after:";

	if (n > 5 && memcmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', n);

		x->r->status = 0;
		x->r->retry_after_ms = 0;
		if (sp != NULL && (size_t)(sp - p) + 4 <= n)
			x->r->status = strtol(sp + 1, NULL, 10);
	} else if (n > sizeof(ra) - 1 && strncasecmp(p, ra, sizeof(ra) - 1) == 0) {
		x->r->retry_after_ms = parse_retry_after(p + sizeof(ra) - 1, n - (sizeof(ra) - 1));
	}
	return n;
}

/* Write all of @p to @fd, resuming after short writes and EINTR; false with errno set. */
static bool
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* The body: a 2xx answer's into out_fd (when given), anything else into memory, capped. */
static size_t
body_cb(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	struct media_http_resp *r = x->r;
	size_t n = size * nmemb;

	if (x->q->out_fd >= 0 && ok_status(r->status)) {
		if (r->written + (int64_t)n > x->q->max_body) {
			r->too_big = true;
			x->cut = true;
			return 0; /* stops the transfer: the cap is hard */
		}
		if (!write_all(x->q->out_fd, p, n)) {
			x->write_errno = errno;
			return 0;
		}
		r->written += (int64_t)n;
		return n;
	}
	if (buf_add(&r->body, p, n) != LETHE_OK) {
		if (ok_status(r->status))
			r->too_big = true;
		x->cut = true;
		return 0;
	}
	return n;
}

/*
 * r->error for a transfer that failed: libcurl's own text for this call
 * (it names a host and port at most) unless it holds a '/' or '?', which
 * could quote a URL's path or query -- an object key -- and is replaced by
 * the code's generic text; the system's reason is added when missing.
 */
static void
set_error(struct media_http_resp *r, CURLcode cc, const char *errbuf, long os_errno,
          int write_errno)
{
	bool own = errbuf[0] != '\0' && strpbrk(errbuf, "/?") == NULL;
	const char *sys = os_errno > 0 ? strerror((int)os_errno) : NULL;
	size_t n;

	if (write_errno != 0) {
		snprintf(r->error, sizeof(r->error), "cannot write the temporary file: %s",
		         strerror(write_errno));
		return;
	}
	snprintf(r->error, sizeof(r->error), "%s", own ? errbuf : curl_easy_strerror(cc));
	n = strlen(r->error);
	while (n > 0 && (r->error[n - 1] == '\n' || r->error[n - 1] == ' '))
		r->error[--n] = '\0';
	if (sys != NULL && strstr(r->error, sys) == NULL)
		snprintf(r->error + n, sizeof(r->error) - n, " (%s)", sys);
}

void
media_http_headers_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i != NULL; i = i->next) {
		size_t n = strlen(i->data);

		sodium_memzero(i->data, n);
		if (media_wiped_hook != NULL)
			media_wiped_hook(i->data, n);
	}
	curl_slist_free_all(l);
}

/* Our copy of the caller's headers plus "Expect:" (no 100-continue round trip); NULL on OOM. */
static struct curl_slist *
headers_copy(const struct curl_slist *in)
{
	struct curl_slist *out = NULL, *t;

	for (; in != NULL; in = in->next) {
		t = curl_slist_append(out, in->data);
		if (t == NULL)
			goto fail;
		out = t;
	}
	t = curl_slist_append(out, "Expect:");
	if (t == NULL)
		goto fail;
	return t;
fail:
	media_http_headers_free(out);
	return NULL;
}

static void
set_method(CURL *h, const struct media_http_req *q)
{
	if (strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(q->method, "GET") == 0 && q->body == NULL)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	if (q->body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	}
}

CURLcode
media_http(const struct media_store *m, const struct media_http_req *q, struct media_http_resp *r)
{
	struct xfer x = {.q = q, .r = r, .cut = false, .write_errno = 0};
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE];
	long os_errno = 0;
	CURL *h = NULL;
	CURLcode cc;

	buf_free(&r->body);
	buf_init(&r->body, q->out_fd < 0 && q->max_body > 0 ? (size_t)q->max_body : ERROR_BODY_MAX);
	r->status = 0;
	r->written = 0;
	r->retry_after_ms = 0;
	r->too_big = false;
	r->error[0] = '\0';
	errbuf[0] = '\0';
	cc = curlinit_once();
	if (cc == CURLE_OK) {
		h = curl_easy_init();
		hdrs = headers_copy(q->headers);
		if (h == NULL || hdrs == NULL)
			cc = h == NULL ? CURLE_FAILED_INIT : CURLE_OUT_OF_MEMORY;
	}
	if (cc != CURLE_OK) {
		set_error(r, cc, errbuf, 0, 0);
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, q->url);
	set_method(h, q);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (q->userpwd != NULL) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, q->userpwd);
	}
	curl_easy_setopt(h, CURLOPT_USERAGENT, "lethe/0.1");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	/* The path as built and signed: an object key may hold "./" or "../" segments. */
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, m->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, m->timeout_ms);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(h);
	if (cc == CURLE_WRITE_ERROR && x.cut && r->status > 0) {
		cc = CURLE_OK; /* our cap, not the transfer, ended it: the answer stands */
	} else if (cc != CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		set_error(r, cc, errbuf, os_errno, x.write_errno);
		/* A local write failure is no reason to ask again; anything else had no whole
		 * answer. */
		if (x.write_errno == 0)
			r->status = 0;
	}
out:
	/* Our copy holds what the caller's did: an Authorization, a session token. */
	media_http_headers_free(hdrs);
	if (h != NULL)
		curl_easy_cleanup(h);
	return cc;
}

/* S3 answers some throttling and internal errors with these codes in its <Error> document. */
static bool
s3_transient_code(const struct buf *b)
{
	static const char *const codes[] = {"<Code>SlowDown</Code>", "<Code>InternalError</Code>",
	                                    "<Code>RequestTimeout</Code>", NULL};

	for (size_t i = 0; codes[i] != NULL; i++)
		if (strstr(buf_str(b), codes[i]) != NULL)
			return true;
	return false;
}

bool
media_http_transient(const struct media_http_resp *r)
{
	switch (r->status) {
	case 0: /* no answer (a local write failure keeps the status: not retried) */
		return true;
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return true;
	default:
		return r->status >= 400 && s3_transient_code(&r->body);
	}
}
