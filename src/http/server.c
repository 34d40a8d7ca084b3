/* SPDX-License-Identifier: MIT */
/*
 * server.c - the HTTP server (see server.h).
 *
 * Each request gets a struct request (server_internal.h), made when its
 * request line is in (on_uri()) and freed by the completion callback; a
 * request that is wrong on its headers alone is refused before its body is
 * read (refuse_early()).  When its body is in, request_ready() copies what
 * handlers may read, routes it (routes[]), and either queues the reply at
 * once or suspends the connection while a worker (service_run()) or the intake
 * works; they resume it and on_request() queues the reply, recording its
 * metrics.  The request's accessors, the replies and their queueing with
 * lethe's headers are reply.c's, with http_status_of(), the one map from a
 * result to a status.
 * No handler logs or echoes a user id, a code or a secret.  The routes
 * live in their own files (meta_routes.c, pages.c, api_channels.c,
 * api_requests.c); the reaper of slow connections in conn.c.
 */
#include "util/fmacros.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/api_channels.h"
#include "http/metrics.h"
#include "http/server.h"
#include "http/server_internal.h"
#include "http/status_page.h"
#include "util/template.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define CONN_LIMIT 4096
#define FD_SPARE 256 /* descriptors besides connections: databases, logs, threads' */
#define CONN_TIMEOUT_S 30
/*
 * libmicrohttpd's buffer per connection: request line and headers, the
 * answer's headers (bodies go to lethe's own capped buffer).  Its default,
 * 32 KiB, cost 3 MB more resident at 256 connections.  16 KiB holds about
 * 16 KB of request headers (a Cookie header: half, as it is parsed into
 * it), more than lethe's own limit, HTTP_MAX_HEADER (8 KiB, as nginx's
 * default), which refuse_early() answers with lethe's 431.
 */
#define CONN_MEMORY (16u * 1024)
#define TEMPLATE_FILE_MAX (256u * 1024)
#define MHD_LOG_BURST 10         /* libmicrohttpd messages logged per window ... */
#define MHD_LOG_WINDOW_MS 60000. /* ... of a minute; the rest are counted */

/* ---- dispatch ------------------------------------------------------------ */

enum route_flags {
	ROUTE_PREFIX = 1,   /* match paths starting with the path (else exact) */
	ROUTE_GET = 2,      /* GET and HEAD only (the handler checks otherwise) */
	ROUTE_BLOCKING = 4, /* the handler may block: run it on a worker */
	ROUTE_FORM = 8,     /* a form's POST: Origin and Sec-Fetch-Site are copied */
};

/* Every route: path, metrics label, handler, flags.  First match wins. */
static const struct route {
	const char *path; /* exact path or prefix */
	const char *name; /* route label in /metrics */
	http_handler fn;  /* the handler */
	unsigned flags;   /* enum route_flags */
} routes[] = {
    {"/api/meta/", "meta", http_meta_routes, ROUTE_PREFIX},
    {"/data-deletion/status", "status", http_status_page, ROUTE_GET | ROUTE_BLOCKING},
    {"/data-deletion/status/receipt", "status_receipt", http_status_receipt,
     ROUTE_GET | ROUTE_BLOCKING},
    {"/data-deletion/status/download", "status_download", http_status_download,
     ROUTE_BLOCKING | ROUTE_FORM},
    {"/healthz", "healthz", http_healthz, ROUTE_GET},
    {"/readyz", "readyz", http_readyz, ROUTE_GET | ROUTE_BLOCKING},
    {"/metrics", "metrics", http_metrics_page, ROUTE_GET | ROUTE_BLOCKING},
    {"/static/style.css", "static", http_stylesheet, ROUTE_GET},
    {"/v1/requests", "api_requests", http_api_requests, ROUTE_PREFIX | ROUTE_BLOCKING},
    {"/v1/admin/", "api_admin", http_api_admin, ROUTE_PREFIX | ROUTE_BLOCKING},
    {"/v1/mailbox", "api_mailbox", http_api_mailbox, ROUTE_PREFIX | ROUTE_BLOCKING},
    {"/v1/", "api_channels", api_v1, ROUTE_PREFIX | ROUTE_BLOCKING},
    {"/.well-known/lethe/", "well_known", http_well_known,
     ROUTE_PREFIX | ROUTE_GET | ROUTE_BLOCKING},
    /*
     * Path NULL: selfservice.path and what is under it when the page is on,
     * its mailed links (PATH/l/TOKEN) always (selfservice_route()).
     */
    {NULL, "selfservice", http_selfservice, ROUTE_BLOCKING},
};

static char *
copy_header(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

	return v != NULL ? xstrdup(v) : NULL;
}

/*
 * True if @path is the self-service page's, or under it; its client as the
 * rate limit knows it into @r (http_selfservice_client()).
 */
static bool
selfservice_route(struct server *s, struct request *r)
{
	const union MHD_ConnectionInfo *ci;
	const char *p = s->cfg->selfservice.path;
	size_t n = p != NULL ? strlen(p) : 0;

	if (n == 0 || strncmp(r->path, p, n) != 0 || (r->path[n] != '\0' && r->path[n] != '/'))
		return false;
	/* Its mailed links (PATH/l/TOKEN) work whenever mail or a status page sent them. */
	if (!s->cfg->selfservice.enabled && strncmp(r->path + n, "/l/", 3) != 0)
		return false;
	/* Only its forms need where a POST came from: not copied on the callbacks' path. */
	r->h_origin = copy_header(r->conn, MHD_HTTP_HEADER_ORIGIN);
	r->h_fetch_site = copy_header(r->conn, "Sec-Fetch-Site");
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL)
		http_selfservice_client(ci->client_addr, r->client, sizeof(r->client));
	return true;
}

/* Set r->route and either the reply, or r->handler / r->finish with REQ_SUSPENDED. */
static void
dispatch(struct server *s, struct request *r)
{
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *rt = &routes[i];

		if (rt->path == NULL             ? !selfservice_route(s, r)
		    : (rt->flags & ROUTE_PREFIX) ? strncmp(r->path, rt->path, strlen(rt->path)) != 0
		                                 : strcmp(r->path, rt->path) != 0)
			continue;
		r->route = rt->name;
		if (rt->flags & ROUTE_FORM) {
			r->h_origin = copy_header(r->conn, MHD_HTTP_HEADER_ORIGIN);
			r->h_fetch_site = copy_header(r->conn, "Sec-Fetch-Site");
		}
		if ((rt->flags & ROUTE_GET) && !get) {
			http_reply_method(s, r, "GET, HEAD");
			return;
		}
		if (rt->flags & ROUTE_BLOCKING) {
			r->handler = rt->fn;
			r->phase = REQ_SUSPENDED;
			return;
		}
		rt->fn(s, r);
		return;
	}
	r->route = "other";
	http_reply_failure(s, r, MHD_HTTP_NOT_FOUND, "not_found", "no such page");
}

/* On a worker: run the blocking handler, then wake the connection. */
static void
run_blocking(struct pool_task *t)
{
	struct request *r = (struct request *)((char *)t - offsetof(struct request, task));

	r->handler(r->s, r);
	r->phase = REQ_READY;
	MHD_resume_connection(r->conn);
}

static enum MHD_Result
copy_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct request *r = cls;

	(void)kind;
	if (r->nargs >= HTTP_MAX_ARGS || key == NULL)
		return MHD_NO;
	r->args[r->nargs][0] = xstrdup(key);
	r->args[r->nargs][1] = xstrdup(value != NULL ? value : "");
	r->nargs++;
	return MHD_YES;
}

/* The body is in: copy what handlers may read, route, answer or suspend. */
static enum MHD_Result
request_ready(struct server *s, struct request *r)
{
	if (r->cn != NULL)
		atomic_store_explicit(&r->cn->since, 0, memory_order_relaxed); /* arrived */
	r->h_type = copy_header(r->conn, MHD_HTTP_HEADER_CONTENT_TYPE);
	r->h_accept = copy_header(r->conn, MHD_HTTP_HEADER_ACCEPT);
	r->h_auth = copy_header(r->conn, MHD_HTTP_HEADER_AUTHORIZATION);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, copy_arg, r);
	dispatch(s, r);
	if (r->phase != REQ_SUSPENDED)
		return http__queue_reply(r);
	/* Suspend first: the worker or the intake may resume it at once. */
	MHD_suspend_connection(r->conn);
	if (r->handler != NULL) {
		r->task.run = run_blocking;
		service_run(s->svc, &r->task);
	} else {
		service_meta_submit(s->svc, &r->in);
	}
	return MHD_YES;
}

/*
 * MHD_OPTION_URI_LOG_CALLBACK: the request line is in.  The request's
 * struct starts here (libmicrohttpd then calls on_completed() for it even
 * if it answers the request itself), with what only the raw path shows: a
 * %00, which libmicrohttpd's unescaping would turn into the path's end.
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct request *r = xcalloc(1, sizeof(*r));
	const char *q = strchr(uri, '?');
	const char *nul = strstr(uri, "%00");

	r->s = cls;
	r->conn = c;
	r->cn = ci != NULL ? ci->socket_context : NULL;
	r->nul_path = nul != NULL && (q == NULL || nul < q);
	return r;
}

/*
 * What can be refused on the request line and headers alone, before the
 * body is read: a %00 in the path (400: the path would end there and match
 * a shorter route), HTTP/1.1 without Host (400), request line and headers
 * over HTTP_MAX_HEADER (431), a Content-Length over HTTP_MAX_BODY (413,
 * at once rather than after the upload).  Sets the reply and returns true
 * if refused.  Costs a request a Host lookup, one MHD_get_connection_info()
 * and, unless GET or HEAD, a Content-Length lookup.
 */
static bool
refuse_early(struct server *s, struct request *r, const char *version)
{
	const union MHD_ConnectionInfo *ci;
	const char *cl;
	char *end = NULL;

	if (r->nul_path) {
		r->h_accept = copy_header(r->conn, MHD_HTTP_HEADER_ACCEPT);
		http_reply_failure_rc(s, r, LETHE_E_INVALID, "the path holds a NUL byte (%00)");
		return true;
	}
	if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST) == NULL) {
		r->h_accept = copy_header(r->conn, MHD_HTTP_HEADER_ACCEPT);
		http_reply_failure_rc(s, r, LETHE_E_INVALID,
		                      "an HTTP/1.1 request needs a Host header");
		return true;
	}
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci != NULL && ci->header_size > HTTP_MAX_HEADER) {
		r->h_accept = copy_header(r->conn, MHD_HTTP_HEADER_ACCEPT);
		http_reply_failure(s, r, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
		                   "header_too_large",
		                   "the request line and headers are larger than 8 KiB");
		return true;
	}
	if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)
		return false;
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && (strtoull(cl, &end, 10) > HTTP_MAX_BODY || end == cl)) {
		r->h_accept = copy_header(r->conn, MHD_HTTP_HEADER_ACCEPT);
		http_reply_failure_rc(s, r, LETHE_E_TOOBIG, "request body too large");
		return true;
	}
	return false;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct request *r = *con_cls;

	if (r == NULL) { /* on_uri() always makes one */
		r = on_uri(s, url, c);
		*con_cls = r;
	}
	if (r->method == NULL) { /* the headers are in */
		r->method = xstrdup(method);
		r->path = xstrdup(url);
		buf_init(&r->body, HTTP_MAX_BODY);
		r->t0 = time_mono_ms();
		r->route = "other";
		r->phase = REQ_BODY;
		if (refuse_early(s, r, version)) {
			if (r->cn != NULL)
				atomic_store_explicit(&r->cn->since, 0, memory_order_relaxed);
			return http__queue_reply(r);
		}
		return MHD_YES;
	}
	switch (r->phase) {
	case REQ_BODY:
		if (*upload_size > 0) {
			if (!r->too_big && buf_add(&r->body, upload, *upload_size) != LETHE_OK) {
				r->too_big = true;
				buf_free(&r->body);
			}
			*upload_size = 0;
			return MHD_YES;
		}
		return request_ready(s, r);
	case REQ_READY:
		if (r->finish != NULL)
			r->finish(s, r);
		return http__queue_reply(r);
	case REQ_SUSPENDED:
		return MHD_YES;
	case REQ_ANSWERED:
		/* Refused early (refuse_early()): a body that comes anyway is dropped. */
		if (*upload_size > 0) {
			*upload_size = 0;
			return MHD_YES;
		}
		return MHD_NO;
	default:
		return MHD_NO;
	}
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	size_t i;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	/* The connection waits for its next request from now on. */
	if (r->cn != NULL) {
		atomic_store_explicit(&r->cn->fresh, false, memory_order_relaxed);
		atomic_store_explicit(&r->cn->since, (int64_t)time_mono_ms(), memory_order_relaxed);
	}
	buf_free(&r->body);
	free(r->method);
	free(r->path);
	free(r->h_type);
	free(r->h_accept);
	if (r->h_auth != NULL)
		sodium_memzero(r->h_auth, strlen(r->h_auth));
	free(r->h_auth);
	free(r->h_origin);
	free(r->h_fetch_site);
	/* A Location may name a link whose token is a secret: wiped, as the URL. */
	if (r->location != NULL)
		sodium_memzero(r->location, strlen(r->location));
	free(r->location);
	for (i = 0; i < r->nargs; i++) {
		free(r->args[i][0]);
		free(r->args[i][1]);
	}
	free((void *)r->in.box);
	if (r->uid != NULL) {
		sodium_memzero(r->uid, strlen(r->uid));
		free(r->uid);
	}
	free(r->rbody);
	service_download_close(r->dl); /* a download never queued */
	free(r);
	*con_cls = NULL;
}

/* ---- libmicrohttpd's messages --------------------------------------------- */

/* See server_internal.h. */
void
http_redact_queries(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	while (*in != '\0' && o + 1 < cap) {
		size_t q = *in == '?' ? strcspn(in + 1, " '`\"") : 0;

		if (q == 0) {
			out[o++] = *in++;
			continue;
		}
		for (const char *r = "?..."; *r != '\0' && o + 1 < cap; r++)
			out[o++] = *r;
		in += 1 + q;
	}
	out[o] = '\0';
}

/*
 * libmicrohttpd's error log, through lethe's: at most MHD_LOG_BURST lines a
 * minute (a client that aborts, or sends 20 KB of headers, gets one line
 * each: a flood of them must not flood the log; log_warnx_limited() says
 * how many were left out), query strings cut.
 */
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct server *s = cls;
	char raw[512], msg[512];
	size_t n;

	vsnprintf(raw, sizeof(raw), fmt, ap);
	http_redact_queries(raw, msg, sizeof(msg));
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warnx_limited(&s->mhd_log, "libmicrohttpd: %s", msg);
}

/* ---- life cycle ---------------------------------------------------------- */

static lethe_rc
parse_listen(const char *listen, struct sockaddr_storage *ss, struct lethe_err *err)
{
	char host[128];
	const char *colon = strrchr(listen, ':');
	size_t hl;
	char *end = NULL;
	long port;

	if (colon == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "listen address '%s' needs ADDR:PORT",
		                     listen);
	port = strtol(colon + 1, &end, 10);
	hl = (size_t)(colon - listen);
	if (*end != '\0' || port < 0 || port > 65535 || hl == 0 || hl >= sizeof(host))
		return lethe_err_set(err, LETHE_E_CONFIG, "bad listen address '%s'", listen);
	memcpy(host, listen, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return lethe_err_set(err, LETHE_E_CONFIG, "bad IPv6 address in '%s'",
			                     listen);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (strcmp(host, "localhost") == 0)
			memcpy(host, "127.0.0.1", 10);
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return lethe_err_set(err, LETHE_E_CONFIG, "bad IPv4 address in '%s'",
			                     listen);
	}
	return LETHE_OK;
}

static char *
read_template(const char *path, struct lethe_err *err)
{
	FILE *f = fopen(path, "rb");
	char *text;
	size_t n;

	if (f == NULL) {
		lethe_err_set(err, LETHE_E_CONFIG, "cannot read status template %s", path);
		return NULL;
	}
	text = xmalloc(TEMPLATE_FILE_MAX + 2);
	n = fread(text, 1, TEMPLATE_FILE_MAX + 1, f);
	fclose(f);
	text[n] = '\0';
	if (n > TEMPLATE_FILE_MAX) {
		lethe_err_set(err, LETHE_E_CONFIG, "status template %s is larger than %u bytes",
		              path, TEMPLATE_FILE_MAX);
		free(text);
		return NULL;
	}
	/* A broken template stops the start, not a person's page view. */
	if (template_check(text, err) != LETHE_OK) {
		free(text);
		return NULL;
	}
	return text;
}

/* "@public_url/data-deletion/status?id=" as JSON string content (no quotes). */
static char *
status_url_json(const char *public_url)
{
	char *url = xasprintf("%s/data-deletion/status?id=", public_url);
	json_t *j = json_string(url);
	char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	size_t n;

	if (text == NULL) /* not UTF-8: config_load prevents it */
		fatalx("public_url cannot be encoded as JSON");
	n = strlen(text);
	memmove(text, text + 1, n - 2);
	text[n - 2] = '\0';
	json_decref(j);
	free(url);
	return text;
}

/* libmicrohttpd event threads: one per CPU, at least 1, at most 8. */
static int
event_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/*
 * Raise the soft limit on open files to what CONN_LIMIT connections need
 * (services often start with 1,024, and accept() would then fail long
 * before the cap); say so if the hard limit is lower.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = CONN_LIMIT + FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		log_warnx("the open files limit is %llu: fewer than %d connections fit (raise "
		          "LimitNOFILE or ulimit -n to %llu)",
		          (unsigned long long)rl.rlim_cur, CONN_LIMIT, (unsigned long long)want);
}

lethe_rc
server_new(const struct lethe_config *cfg, const char *listen, struct server **out,
           struct lethe_err *err)
{
	struct server *s = xcalloc(1, sizeof(*s));
	lethe_rc rc;

	*out = NULL;
	s->cfg = cfg;
	s->listen = listen ? listen : cfg->listen;
	api_keys_init(s, cfg);
	log_limit_init(&s->mhd_log, MHD_LOG_BURST, MHD_LOG_WINDOW_MS);
	pthread_mutex_init(&s->conn_mu, NULL);
	pthread_cond_init(&s->reap_cv, NULL);
	rc = parse_listen(s->listen, &s->addr, err);
	if (rc == LETHE_OK && cfg->status_template != NULL) {
		s->tpl = read_template(cfg->status_template, err);
		if (s->tpl == NULL)
			rc = LETHE_E_CONFIG;
	}
	if (rc == LETHE_OK) {
		s->status_url_json = status_url_json(cfg->public_url);
		s->status_url_len = strlen(s->status_url_json);
	}
	if (rc != LETHE_OK) {
		server_stop(s);
		return rc;
	}
	*out = s;
	return LETHE_OK;
}

lethe_rc
server_start(struct server *s, struct service *svc, struct lethe_err *err)
{
	const union MHD_DaemonInfo *info;
	lethe_rc rc = LETHE_OK;

	s->svc = svc;
	/*
	 * poll, not epoll.  In epoll mode libmicrohttpd takes a suspended
	 * connection out of its epoll set and adds it back on resume (two
	 * epoll_ctl() per data-deletion request), and under 256 connections some
	 * of them stalled for seconds in one bench run in four (p99 1.4-2.4 s);
	 * poll never stalled in a dozen runs and was 5-8% faster.  Its cost:
	 * every open connection is polled on every wake-up, so idle ones slow
	 * the rest (200 idle cut 64-connection throughput by a fifth, 2,000 by
	 * three fifths; bench/callbacks measures it with BENCH_IDLE).  Behind a
	 * TLS proxy lethe sees only the proxy's few connections.
	 */
	raise_fd_limit();
	/* The logger first: libmicrohttpd logs through it from its first option on. */
	s->d = MHD_start_daemon(
	    MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
	        MHD_USE_TURBO,
	    0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
	    MHD_OPTION_SOCK_ADDR, &s->addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)CONN_LIMIT, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)event_threads(),
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)CONN_MEMORY, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->cfg->conns_per_ip,
	    MHD_OPTION_NOTIFY_CONNECTION, http_conn_notify, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
	    s, MHD_OPTION_END);
	if (s->d == NULL)
		rc = lethe_err_set(err, LETHE_E_CONFIG,
		                   "cannot listen on %s (in use, or not an address of this "
		                   "machine?)",
		                   s->listen);
	if (rc == LETHE_OK) {
		if (pthread_create(&s->reap_thr, NULL, http_conn_reaper, s) == 0)
			s->reap_started = true;
		else
			rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot start the reaper thread");
	}
	if (rc != LETHE_OK)
		return rc;
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : 0;
	return LETHE_OK;
}

/*
 * Order matters: every suspended connection must be resumed before
 * libmicrohttpd stops.  Quiescing the service stops the pool and the
 * intake, which finishes their queues (resuming those connections) and
 * makes later submissions run or fail at once; only then is the daemon
 * stopped.
 */
void
server_stop(struct server *s)
{
	if (s == NULL)
		return;
	if (s->reap_started) {
		pthread_mutex_lock(&s->conn_mu);
		s->reap_stop = true;
		pthread_cond_signal(&s->reap_cv);
		pthread_mutex_unlock(&s->conn_mu);
		pthread_join(s->reap_thr, NULL);
	}
	service_quiesce(s->svc);
	if (s->d != NULL)
		MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->mhd_log.mu);
	pthread_mutex_destroy(&s->conn_mu);
	pthread_cond_destroy(&s->reap_cv);
	free(s->tpl);
	free(s->status_url_json);
	api_keys_free(s);
	free(s);
}

lethe_rc
server_reload(struct server *s, size_t *nkeys, struct lethe_err *err)
{
	struct lethe_config nc;
	lethe_rc rc;

	memset(&nc, 0, sizeof(nc));
	rc = config_load(&nc, s->cfg->path, err);
	if (rc == LETHE_OK) {
		/* The new file as a whole is valid; only api.keys and api.admin_keys are taken. */
		*nkeys = nc.napi_keys + nc.nadmin_keys;
		api_keys_replace(s, nc.api_keys, nc.napi_keys);
		api_admin_keys_replace(s, nc.admin_keys, nc.nadmin_keys);
		nc.api_keys = NULL;
		nc.napi_keys = 0;
		nc.admin_keys = NULL;
		nc.nadmin_keys = 0;
	}
	config_free(&nc);
	return rc;
}

int
server_port(const struct server *s)
{
	return s->port;
}
