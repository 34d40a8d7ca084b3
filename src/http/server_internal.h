/* SPDX-License-Identifier: MIT */
/*
 * server_internal.h - what route handlers of the HTTP server see: the server's
 * shared resources, the request, and the reply functions.
 *
 * A handler is a plain function that reads a struct request and sets its
 * reply with one of the http_reply*() functions.  It never calls MHD itself:
 * the server copies everything a handler may read (method, path, body, the
 * headers http_header() knows, the GET arguments) before calling it, so a
 * handler registered as blocking can run on a worker thread while its
 * connection is suspended.  See docs/internals/server.md.
 */
#ifndef LETHE_HTTP_SERVER_INTERNAL_H
#define LETHE_HTTP_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include <sys/socket.h>

#include "config/config.h"
#include "http/server.h"
#include "jobs/pool.h"
#include "meta/intake.h"
#include "service/service.h"
#include "util/buf.h"
#include "util/log.h"

struct api_ring;

/*
 * One TCP connection, for the bound on the time a request may take to
 * arrive (server.c, reap_slow()).  The event threads write @since and
 * @fresh; the reaper reads them and owns the rest; the list is guarded by
 * the server's conn_mu.
 */
struct http_conn {
	struct http_conn *prev, *next; /* the server's list */
	int fd;                        /* its socket */
	_Atomic int64_t since;         /* monotonic ms since it waits for a request; 0: has one */
	_Atomic bool fresh;            /* no request answered on it yet */
	int64_t seen;                  /* reaper: the @since it last saw */
	int64_t checked;               /* reaper: when it last looked at the socket */
	int64_t started;               /* reaper: when the request's first byte came (0: not yet) */
};

struct server {
	const struct lethe_config *cfg; /* configuration, secrets loaded */
	struct service *svc;            /* the actions handlers ask for (service.h) */
	struct MHD_Daemon *d;           /* libmicrohttpd */
	struct sockaddr_storage addr;   /* the address to listen on */
	const char *listen;             /* ... as given, for messages */
	struct api_ring *_Atomic keys;  /* api.keys in force (http/api_channels.h) */
	char *tpl;                      /* operator's status template, or NULL */
	char *status_url_json;          /* status URL prefix, escaped for JSON */
	size_t status_url_len;          /* its length */
	int port;                       /* bound port */
	struct log_limit mhd_log;       /* libmicrohttpd's messages: MHD_LOG_BURST a minute */
	pthread_mutex_t conn_mu;        /* guards conns and reap_stop */
	pthread_cond_t reap_cv;         /* signalled at stop */
	struct http_conn *conns;        /* open connections */
	bool reap_stop;                 /* the reaper exits */
	bool reap_started;              /* reap_thr runs */
	pthread_t reap_thr;             /* closes connections whose request is too slow */

	struct api_ring *_Atomic admin_keys; /* api.admin_keys in force: the operator API's */
};

#define HTTP_MAX_ARGS 8 /* GET arguments kept per request; more are ignored */

/* Where a request is in its life. */
enum request_phase {
	REQ_BODY,      /* receiving the body */
	REQ_SUSPENDED, /* a worker or the intake has it; the connection is suspended */
	REQ_READY,     /* the reply is set (or @finish will set it); queue it */
	REQ_ANSWERED,  /* the reply was queued */
};

/* One HTTP request and its reply. */
struct request {
	struct server *s;             /* the server */
	struct MHD_Connection *conn;  /* its connection (server.c only) */
	struct http_conn *cn;         /* its TCP connection's record (server.c only) */
	char *method;                 /* request method (copy) */
	char *path;                   /* path without the query (copy) */
	struct buf body;              /* the request body, capped */
	bool too_big;                 /* the body went over the cap */
	bool nul_path;                /* the path as sent holds %00 */
	char *h_type;                 /* Content-Type, or NULL */
	char *h_accept;               /* Accept, or NULL */
	char *h_auth;                 /* Authorization, or NULL */
	char *h_origin;               /* Origin, or NULL */
	char *h_fetch_site;           /* Sec-Fetch-Site, or NULL */
	char client[48];              /* the self-service route: http_selfservice_client(), or "" */
	char *args[HTTP_MAX_ARGS][2]; /* GET arguments: name, value (copies) */
	size_t nargs;                 /* number of arguments kept */
	double t0;                    /* monotonic ms at arrival */
	const char *route;            /* metrics label, set by the handler */
	enum request_phase phase;     /* see enum request_phase */
	void (*handler)(struct server *, struct request *); /* blocking handler to run */
	void (*finish)(struct server *, struct request *);  /* sets the reply after resume */
	struct intake_req in;                               /* the deletion route's intake record */
	const struct meta_app *app;                         /* Meta routes: the app */
	char *uid;             /* deauthorize: the verified user id (wiped when freed) */
	struct pool_task task; /* its worker task while blocking */
	unsigned status;       /* reply: HTTP status */
	const char *type;      /* reply: Content-Type (static string) or NULL */
	char *rbody;           /* reply: body (owned) */
	size_t rlen;           /* reply: body length */
	const char *allow;     /* reply: Allow header for 405, or NULL */
	const char *www_auth;  /* reply: WWW-Authenticate header, or NULL */
	char retry_after[24];  /* reply: Retry-After header (seconds), or "" */
	bool form_self;        /* reply: a page that posts a form here (CSP form-action 'self') */
	char disposition[96];  /* reply: Content-Disposition header, or "" */
	/* reply: an archive streamed as the body (http_reply_download()), or NULL; owned */
	struct service_download *dl;
	int64_t dl_len; /* reply: the streamed body's length (Content-Length) */
	char *location; /* reply: Location header (owned, wiped when freed), or NULL */
};

/* A handler: reads @r, sets its reply. */
typedef void (*http_handler)(struct server *s, struct request *r);

/*
 * The value of header @name ("Authorization", "Content-Type", "Accept",
 * "Origin" or "Sec-Fetch-Site", case-insensitive), or NULL when absent or
 * not one of those.
 */
const char *http_header(const struct request *r, const char *name);
/* The GET argument @name, or NULL. */
const char *http_query(const struct request *r, const char *name);
/*
 * The path segment at *@rest (up to the next '/' or the end) into @out
 * (@cap bytes with its NUL), *@rest moved past it, if it is 1 to @cap - 1
 * bytes and @ok(@out) holds; otherwise a 400 with @msg is the reply and
 * false.  For ids in routes: /v1/channels/{id}, /v1/requests/{id}.
 */
bool http_path_id(struct request *r, const char **rest, char *out, size_t cap,
                  bool (*ok)(const char *), const char *msg);
/* Set the reply: @body (@len bytes) is copied; @type must be a static string. */
void http_reply(struct request *r, unsigned status, const char *type, const char *body, size_t len);
/* Set a JSON reply; steals @j (NULL gives a 500). */
void http_reply_json(struct request *r, unsigned status, json_t *j);
/* {"error": {"code", "message"}} with the status http_status_of(@rc) says. */
void http_reply_error(struct request *r, lethe_rc rc, const char *msg);
/* What a failed service call was about, for http_reply_failed(). */
struct http_failure {
	const char *log_as;   /* the log line's subject: "privacy request", "mailbox" */
	const char *subject;  /* the 503 message's: "the request", "the mailbox" */
	const char *notfound; /* the 404 message: "no request with this id" */
};
/*
 * The reply for a service call that failed with @rc while @what ("listed",
 * "changed", ...): @err's message where the service says it is safe to
 * show (invalid input, a state that does not allow the action, a limit,
 * a thing gone: no personal data), @f->notfound for LETHE_E_NOTFOUND, and
 * 503 "@f->subject could not be @what now; nothing changed, try again" for
 * the rest, logged with err->msg (at most 10 lines a minute per @lim).
 */
void http_reply_failed(struct request *r, lethe_rc rc, const struct lethe_err *err,
                       const char *what, const struct http_failure *f, struct log_limit *lim);
/* {"error": {"code": @code, "message": @msg}} with @status. */
void http_reply_status(struct request *r, unsigned status, const char *code, const char *msg);

/*
 * An error answer with @status: a readable page where the client wants one
 * (a browser outside /api/ and /v1/, or the status page's route unless JSON
 * is asked for), else {"error": {"code": @code, "message": @msg}}.
 */
void http_reply_failure(struct server *s, struct request *r, unsigned status, const char *code,
                        const char *msg);
/* http_reply_failure() with the status and code of @rc (http_status_of()). */
void http_reply_failure_rc(struct server *s, struct request *r, lethe_rc rc, const char *msg);
/*
 * A signed receipt envelope @env (stolen) as a 200 download: indented JSON,
 * Content-Disposition attachment "lethe-receipt-ID.json" (pages.c).
 */
void http_reply_receipt(struct request *r, json_t *env);
/*
 * An export archive as a 200 download (download.c): @d (stolen: closed
 * once the reply is sent or the connection ends) is streamed as the body,
 * decrypted chunk by chunk as libmicrohttpd asks for it (memory constant),
 * Content-Length @v->bytes, Content-Type application/zip,
 * Content-Disposition attachment with @v->filename.  A chunk that does not
 * verify aborts the connection: a client never gets a complete bad body.
 */
void http_reply_download(struct request *r, struct service_download *d,
                         const struct service_export_view *v);
/* 405 with the methods @allow lists (also in the Allow header): "POST" or "GET, HEAD". */
void http_reply_method(struct server *s, struct request *r, const char *allow);

/* ---- the routes (server.c's routes[]), one file each ---- */

/* /api/meta/[{app}/](data-deletion|deauthorize): Meta's callbacks (meta_routes.c). */
void http_meta_routes(struct server *s, struct request *r);
/* Blocking: GET /data-deletion/status?id=CODE, HTML or JSON when asked for (pages.c). */
void http_status_page(struct server *s, struct request *r);
/*
 * Blocking: GET /data-deletion/status/receipt?id=CODE, the signed receipt of
 * a finished request, or an HTML page saying why there is none (pages.c).
 */
void http_status_receipt(struct server *s, struct request *r);
/* Blocking: GET /metrics, Prometheus text (pages.c). */
void http_metrics_page(struct server *s, struct request *r);
/* Blocking: GET /readyz, 200 or 503 with why not (pages.c). */
void http_readyz(struct server *s, struct request *r);
/* GET /healthz: the process answers (pages.c). */
void http_healthz(struct server *s, struct request *r);
/* GET /static/style.css: the status page's stylesheet (pages.c). */
void http_stylesheet(struct server *s, struct request *r);
/* Blocking: /v1/requests[/...], the app API's privacy requests (api_requests.c). */
void http_api_requests(struct server *s, struct request *r);
/* Blocking: /v1/admin/..., the operator API, with admin keys (api_requests.c). */
void http_api_admin(struct server *s, struct request *r);
/*
 * Blocking: GET /v1/mailbox, POST /v1/mailbox/{id}/close, the operator's
 * queue of the privacy mailbox, with admin keys (api_mailbox.c).
 */
void http_api_mailbox(struct server *s, struct request *r);
/* Blocking: GET /.well-known/lethe/{keys,audit-head}.json, public (well_known.c). */
void http_well_known(struct server *s, struct request *r);
/* Blocking: selfservice.path[/l/TOKEN], the self-service page and mailed links (selfservice.c). */
void http_selfservice(struct server *s, struct request *r);
/*
 * POST /data-deletion/status/download (selfservice.c): the status page's
 * Download button; a fresh download link for the export, 303 to its page.
 */
void http_status_download(struct server *s, struct request *r);
/*
 * The client at @sa (may be NULL) as the self-service rate limit counts it,
 * into @out (@cap >= 48): an IPv4 address as is, an IPv4-mapped IPv6 one as
 * IPv4, any other IPv6 address as its /64 ("2001:db8:1:2::/64"); "" if none
 * (selfservice.c).
 */
void http_selfservice_client(const struct sockaddr *sa, char *out, size_t cap);

/*
 * MHD_OPTION_NOTIFY_CONNECTION (conn.c), with the server as @cls: a
 * connection opened or closed.  Its record is on the reaper's list while
 * it is open; libmicrohttpd calls this with CLOSED before it closes the
 * socket, and the reaper shuts sockets down only under conn_mu, so it never
 * touches a descriptor reused since.
 */
void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
/*
 * The reaper thread (conn.c), @arg the server: closes connections whose
 * request takes too long to arrive, once a second, until s->reap_stop.
 */
void *http_conn_reaper(void *arg);

/*
 * Copy @in to @out (@cap > 0 bytes, always terminated, cut if need be) with
 * each query string ("?" and what follows up to a quote, a space or the
 * end) replaced by "?...": a status URL's query holds a confirmation code.
 * For libmicrohttpd's messages before they are logged.
 */
void http_redact_queries(const char *in, char *out, size_t cap);

/*
 * Queue @r's reply on its connection with lethe's headers (content type,
 * no-store, nosniff, no referrer, the page's CSP, Retry-After, Allow,
 * WWW-Authenticate, Content-Disposition) and count it in the metrics now,
 * so a client reading /metrics right after sees it (reply.c).
 */
enum MHD_Result http__queue_reply(struct request *r);
/*
 * @r's download (r->dl) as a callback response of r->dl_len bytes, which
 * then owns it (r->dl NULL); NULL if libmicrohttpd cannot make one (r->dl
 * stays @r's).  For http__queue_reply() (download.c).
 */
struct MHD_Response *http__download_response(struct request *r);

#endif /* LETHE_HTTP_SERVER_INTERNAL_H */
