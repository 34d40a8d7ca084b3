/* SPDX-License-Identifier: MIT */
/*
 * server.c - the HTTP server (see server.h).
 *
 * Each request gets a struct request (the body, capped at HTTP_MAX_BODY,
 * and its start time) freed by the completion callback; respond() records
 * its metrics when the answer is queued.  Handlers answer through respond()/respond_error(); the
 * status code of every failure comes from http_status_of().  No handler logs or echoes a user id, a
 * code or a secret.
 */
#include "util/fmacros.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <strings.h>
#include <sys/socket.h>

#include "db/appdb.h"
#include "engine/revoke.h"
#include "http/form.h"
#include "http/metrics.h"
#include "http/server.h"
#include "http/status_page.h"
#include "http/template.h"
#include "jobs/runner.h"
#include "jobs/sweeper.h"
#include "meta/intake.h"
#include "meta/requests.h"
#include "meta/signed_request.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define THREAD_STACK (256u * 1024)
#define CONN_LIMIT 2048
#define CONN_TIMEOUT_S 30
#define TEMPLATE_FILE_MAX (256u * 1024)

struct server {
	const struct lethe_config *cfg; /* configuration, secrets loaded */
	const struct datamap *dm;       /* validated data map */
	struct MHD_Daemon *d;           /* libmicrohttpd */
	struct intake *intake;          /* durable intake of deletion requests */
	struct runner *runner;          /* background erasures */
	struct sweeper *sweeper;        /* TTL sweeps, or NULL if off */
	pthread_mutex_t db_mu;          /* guards db */
	struct appdb *db;               /* app database, for deauthorize */
	pthread_mutex_t st_mu;          /* guards st */
	struct store *st;               /* state store, for pages, readiness, records */
	char *tpl;                      /* operator's status template, or NULL */
	int port;                       /* bound port */
};

/* One HTTP request. */
struct request {
	struct buf body;   /* the request body, capped */
	bool too_big;      /* the body went over the cap */
	double t0;         /* monotonic ms at arrival */
	const char *route; /* metrics label */
	unsigned status;   /* status answered */
};

unsigned
http_status_of(lethe_rc rc)
{
	switch (rc) {
	case LETHE_OK:
		return MHD_HTTP_OK;
	case LETHE_E_USAGE:
	case LETHE_E_INVALID:
		return MHD_HTTP_BAD_REQUEST;
	case LETHE_E_FORBIDDEN:
		return MHD_HTTP_FORBIDDEN;
	case LETHE_E_NOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case LETHE_E_TOOBIG:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case LETHE_E_BUSY:
	case LETHE_E_DB:
	case LETHE_E_STATE:
	case LETHE_E_IO:
	case LETHE_E_UNAVAILABLE:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* ---- responses ---------------------------------------------------------- */

static enum MHD_Result
respond(struct MHD_Connection *c, struct request *r, unsigned status, const char *type,
        const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (type != NULL && strncmp(type, "text/html", 9) == 0)
		MHD_add_response_header(
		    resp, "Content-Security-Policy",
		    "default-src 'none'; style-src 'self'; img-src 'self'; "
		    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		                        strncmp(r->route, "meta", 4) == 0 ? "POST" : "GET, HEAD");
	r->status = status;
	/*
	 * Count it now, not in the completion callback: a client that reads
	 * /metrics right after this answer must already see it.
	 */
	metrics_http(r->route, status, (time_mono_ms() - r->t0) / 1000.0);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
respond_json(struct MHD_Connection *c, struct request *r, unsigned status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	enum MHD_Result ret;

	json_decref(j);
	if (text == NULL)
		return MHD_NO;
	ret = respond(c, r, status, "application/json", text, strlen(text));
	free(text);
	return ret;
}

/* {"error": {"code", "message"}} with the status http_status_of(@rc) says. */
static enum MHD_Result
respond_error(struct MHD_Connection *c, struct request *r, lethe_rc rc, const char *msg)
{
	return respond_json(
	    c, r, http_status_of(rc),
	    json_pack("{s:{s:s, s:s}}", "error", "code", lethe_rc_str(rc), "message", msg));
}

static enum MHD_Result
respond_status(struct MHD_Connection *c, struct request *r, unsigned status, const char *code,
               const char *msg)
{
	return respond_json(c, r, status,
	                    json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

/* ---- Meta callbacks ------------------------------------------------------ */

/*
 * Check method, content type and body; verify the signed_request of @app.
 * On failure the error response is queued and *@ret set; returns false.
 */
static bool
meta_verify(struct server *s, struct MHD_Connection *c, struct request *r, const char *method,
            const struct meta_app *app, struct sr_payload *p, enum MHD_Result *ret)
{
	const char *ctype;
	char *sr = NULL;
	size_t srlen = 0;
	struct lethe_err err = {0};
	lethe_rc rc;

	if (strcmp(method, "POST") != 0) {
		*ret = respond_status(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
		                      "use POST");
		return false;
	}
	if (r->too_big) {
		*ret = respond_error(c, r, LETHE_E_TOOBIG, "request body too large");
		return false;
	}
	ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ctype == NULL || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0 ||
	    (ctype[33] != '\0' && ctype[33] != ';' && ctype[33] != ' ')) {
		*ret =
		    respond_status(c, r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
		                   "Content-Type must be application/x-www-form-urlencoded");
		return false;
	}
	sr = xmalloc(SR_MAX_LEN + 2);
	rc = form_get(r->body.data ? r->body.data : "", r->body.len, "signed_request", sr,
	              SR_MAX_LEN + 2, &srlen);
	if (rc == LETHE_E_NOTFOUND) {
		rc = LETHE_E_INVALID;
		lethe_err_set(&err, rc, "the form has no signed_request field");
	} else if (rc == LETHE_E_TOOBIG) {
		lethe_err_set(&err, rc, "signed_request is too long");
	} else if (rc != LETHE_OK) {
		lethe_err_set(&err, rc, "the form body is malformed");
	} else {
		rc = sr_verify(sr, srlen, app->secret, app->secret_len, p, &err);
	}
	free(sr);
	/* Meta expects 400 for a forged request as for a malformed one. */
	if (rc == LETHE_E_FORBIDDEN)
		rc = LETHE_E_INVALID;
	if (rc == LETHE_OK && s->cfg->meta_max_age > 0 &&
	    (!p->has_issued_at ||
	     llabs((long long)(time_now() - p->issued_at)) > (long long)s->cfg->meta_max_age)) {
		rc = lethe_err_set(&err, LETHE_E_INVALID,
		                   "issued_at is missing or outside the accepted window");
	}
	if (rc != LETHE_OK) {
		*ret = respond_error(c, r, rc, err.msg);
		return false;
	}
	return true;
}

/* The id a request is about: user_id, or profile_id for a Page removal (user_id "0"). */
static const char *
meta_id(const struct sr_payload *p)
{
	if (strcmp(p->user_id, "0") == 0 && p->profile_id[0] != '\0')
		return p->profile_id;
	return p->user_id;
}

static enum MHD_Result
meta_deletion(struct server *s, struct MHD_Connection *c, struct request *r, const char *method,
              const struct meta_app *app)
{
	struct sr_payload p;
	struct intake_req in;
	char subject[HASH_TEXT_LEN + 1];
	char *url;
	enum MHD_Result ret;

	r->route = "meta_data_deletion";
	if (!meta_verify(s, c, r, method, app, &p, &ret))
		return ret;
	memset(&in, 0, sizeof(in));
	meta_subject(s->cfg->key, app->name, meta_id(&p), subject);
	in.app = app->name;
	in.subject = subject;
	in.box = meta_box_seal(s->cfg->key, app->name, meta_id(&p), &in.boxlen);
	in.now = time_now();
	intake_submit(s->intake, &in);
	free((void *)in.box);
	sodium_memzero(&p, sizeof(p));
	if (in.rc != LETHE_OK)
		return respond_error(c, r, LETHE_E_UNAVAILABLE,
		                     "the request could not be recorded; try again");
	url = xasprintf("%s/data-deletion/status?id=%s", s->cfg->public_url, in.code);
	ret = respond_json(c, r, MHD_HTTP_OK,
	                   json_pack("{s:s, s:s}", "url", url, "confirmation_code", in.code));
	free(url);
	return ret;
}

static enum MHD_Result
meta_deauthorize(struct server *s, struct MHD_Connection *c, struct request *r, const char *method,
                 const struct meta_app *app)
{
	struct sr_payload p;
	struct lethe_err err = {0};
	char subject[HASH_TEXT_LEN + 1];
	int64_t rows = 0;
	enum MHD_Result ret;
	lethe_rc rc;

	r->route = "meta_deauthorize";
	if (!meta_verify(s, c, r, method, app, &p, &ret))
		return ret;
	meta_subject(s->cfg->key, app->name, meta_id(&p), subject);
	pthread_mutex_lock(&s->db_mu);
	rc = revoke_tokens(s->dm, s->db, app->identity, meta_id(&p), &rows, &err);
	pthread_mutex_unlock(&s->db_mu);
	sodium_memzero(&p, sizeof(p));
	if (rc == LETHE_OK) {
		pthread_mutex_lock(&s->st_mu);
		rc = store_deauth_add(s->st, app->name, subject, rows, time_now(), &err);
		pthread_mutex_unlock(&s->st_mu);
	}
	if (rc != LETHE_OK) {
		log_warnx("deauthorize (%s): %s", app->name, lethe_rc_str(rc));
		return respond_error(c, r, LETHE_E_UNAVAILABLE,
		                     "the deauthorization could not be applied; try again");
	}
	return respond(c, r, MHD_HTTP_OK, NULL, "", 0);
}

/* ---- the status page ----------------------------------------------------- */

struct cat_acc {
	const struct datamap *dm;        /* for categories and reasons */
	struct status_category cats[32]; /* per category */
	char until[32][16];              /* retained_until texts */
	size_t n;                        /* categories used */
};

static void
on_step(void *arg, const char *table, const char *action, int64_t done, int64_t hold_until)
{
	struct cat_acc *a = arg;
	const struct dm_table *t = datamap_table(a->dm, table);
	struct status_category *c = NULL;
	size_t i;

	if (t == NULL || done <= 0)
		return;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->cats[i].category, t->category) == 0)
			c = &a->cats[i];
	if (c == NULL && a->n < 32) {
		c = &a->cats[a->n++];
		c->category = t->category;
	}
	if (c == NULL)
		return;
	if (strcmp(action, "delete") == 0) {
		c->deleted += done;
	} else if (strcmp(action, "anonymize") == 0) {
		c->anonymized += done;
	} else {
		c->retained += done;
		c->reason = t->reason;
		if (hold_until > 0) {
			char full[32];

			time_format(hold_until, full, sizeof(full));
			snprintf(a->until[c - a->cats], sizeof(a->until[0]), "%.10s", full);
			c->retained_until = a->until[c - a->cats];
		}
	}
}

static const char *
platform_label(const char *app)
{
	if (strcmp(app, "facebook") == 0)
		return "Facebook";
	if (strcmp(app, "instagram") == 0)
		return "Instagram";
	return app;
}

static enum MHD_Result
status_page(struct server *s, struct MHD_Connection *c, struct request *r, const char *method)
{
	const char *code = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id");
	const char *accept =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	bool json = accept != NULL && strstr(accept, "application/json") != NULL;
	struct store_meta_req req;
	struct status_view v;
	struct cat_acc *acc = NULL;
	struct lethe_err err = {0};
	enum MHD_Result ret;
	char *html;
	lethe_rc rc = LETHE_E_NOTFOUND;

	r->route = "status";
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond_status(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
		                      "use GET");
	acc = xcalloc(1, sizeof(*acc));
	acc->dm = s->dm;
	if (code != NULL && meta_code_ok(code)) {
		pthread_mutex_lock(&s->st_mu);
		rc = store_meta_by_code(s->st, code, &req, &err);
		if (rc == LETHE_OK && req.job > 0)
			rc = store_meta_steps(s->st, req.job, on_step, acc, &err);
		pthread_mutex_unlock(&s->st_mu);
	}
	if (rc == LETHE_E_NOTFOUND) {
		free(acc);
		if (json)
			return respond_status(c, r, MHD_HTTP_NOT_FOUND, "not_found",
			                      "no request has this confirmation code");
		html = status_page_not_found_html(s->cfg->app_name, s->cfg->contact, &err);
		if (html == NULL)
			return respond_error(c, r, LETHE_E_INTERNAL, "cannot render the page");
		ret = respond(c, r, MHD_HTTP_NOT_FOUND, "text/html; charset=utf-8", html,
		              strlen(html));
		free(html);
		return ret;
	}
	if (rc != LETHE_OK) {
		free(acc);
		return respond_error(c, r, LETHE_E_UNAVAILABLE, "the status cannot be read now");
	}
	memset(&v, 0, sizeof(v));
	v.code = req.code;
	v.state = req.state;
	v.received_at = req.received_at;
	v.completed_at = req.completed_at;
	v.platform = platform_label(req.app);
	v.no_data = req.no_data;
	v.cats = acc->cats;
	v.ncats = acc->n;
	v.app_name = s->cfg->app_name;
	v.contact = s->cfg->contact;
	if (json) {
		json_t *j = status_page_json(&v);

		free(acc);
		return respond_json(c, r, MHD_HTTP_OK, j);
	}
	html = status_page_html(&v, s->tpl, &err);
	free(acc);
	if (html == NULL)
		return respond_error(c, r, LETHE_E_INTERNAL, "cannot render the page");
	ret = respond(c, r, MHD_HTTP_OK, "text/html; charset=utf-8", html, strlen(html));
	free(html);
	return ret;
}

/* ---- health, readiness, metrics ------------------------------------------ */

static void
count_state(void *arg, const char *state, int64_t n)
{
	buf_addf(arg, "lethe_deletion_requests{state=\"%s\"} %lld\n", state, (long long)n);
}

static void
count_job(void *arg, const char *state, int64_t n)
{
	buf_addf(arg, "lethe_jobs{state=\"%s\"} %lld\n", state, (long long)n);
}

static enum MHD_Result
metrics_page(struct server *s, struct MHD_Connection *c, struct request *r)
{
	struct buf b;
	enum MHD_Result ret;

	buf_init(&b, 1u << 20);
	metrics_render(&b);
	buf_adds(&b, "# HELP lethe_deletion_requests Meta data-deletion requests by state.\n"
	             "# TYPE lethe_deletion_requests gauge\n");
	pthread_mutex_lock(&s->st_mu);
	store_meta_state_counts(s->st, count_state, &b, NULL);
	buf_adds(&b, "# HELP lethe_jobs Erasure jobs by state.\n# TYPE lethe_jobs gauge\n");
	store_job_state_counts(s->st, count_job, &b, NULL);
	pthread_mutex_unlock(&s->st_mu);
	buf_addf(&b,
	         "# HELP lethe_intake_groups_total Group commits of the request intake.\n"
	         "# TYPE lethe_intake_groups_total counter\nlethe_intake_groups_total %lld\n",
	         (long long)intake_groups(s->intake));
	sweeper_metrics(s->sweeper, &b);
	ret = respond(c, r, MHD_HTTP_OK, "text/plain; version=0.0.4", buf_str(&b), b.len);
	buf_free(&b);
	return ret;
}

static enum MHD_Result
readyz(struct server *s, struct MHD_Connection *c, struct request *r)
{
	int64_t n = 0;
	lethe_rc rc;

	pthread_mutex_lock(&s->st_mu);
	rc = store_ping(s->st, NULL);
	pthread_mutex_unlock(&s->st_mu);
	if (rc == LETHE_OK) {
		pthread_mutex_lock(&s->db_mu);
		rc = appdb_query_int(s->db, "SELECT 1", NULL, 0, &n, NULL);
		pthread_mutex_unlock(&s->db_mu);
	}
	if (rc != LETHE_OK)
		return respond(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "not ready\n", 10);
	return respond(c, r, MHD_HTTP_OK, "text/plain", "ready\n", 6);
}

static enum MHD_Result
healthz(struct server *s, struct MHD_Connection *c, struct request *r)
{
	(void)s;
	return respond(c, r, MHD_HTTP_OK, "text/plain", "ok\n", 3);
}

static enum MHD_Result
stylesheet(struct server *s, struct MHD_Connection *c, struct request *r)
{
	const char *css = status_page_css();

	(void)s;
	return respond(c, r, MHD_HTTP_OK, "text/css; charset=utf-8", css, strlen(css));
}

/* ---- dispatch ------------------------------------------------------------ */

/* GET (and HEAD) pages without parameters: path, metrics label, handler. */
static const struct {
	const char *path; /* exact path */
	const char *name; /* route label in /metrics */
	enum MHD_Result (*fn)(struct server *, struct MHD_Connection *, struct request *);
} get_routes[] = {
    {"/healthz", "healthz", healthz},
    {"/readyz", "readyz", readyz},
    {"/metrics", "metrics", metrics_page},
    {"/static/style.css", "static", stylesheet},
};

static enum MHD_Result
dispatch(struct server *s, struct MHD_Connection *c, struct request *r, const char *url,
         const char *method)
{
	const struct meta_app *app = NULL;
	const char *rest;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	size_t i;

	if (strncmp(url, "/api/meta/", 10) == 0) {
		rest = url + 10;
		if (s->cfg->napps > 0 && strcmp(rest, "data-deletion") == 0)
			return meta_deletion(s, c, r, method, &s->cfg->apps[0]);
		if (s->cfg->napps > 0 && strcmp(rest, "deauthorize") == 0)
			return meta_deauthorize(s, c, r, method, &s->cfg->apps[0]);
		for (i = 0; i < s->cfg->napps; i++) {
			size_t n = strlen(s->cfg->apps[i].name);

			if (strncmp(rest, s->cfg->apps[i].name, n) == 0 && rest[n] == '/') {
				app = &s->cfg->apps[i];
				rest += n + 1;
				break;
			}
		}
		if (app != NULL && strcmp(rest, "data-deletion") == 0)
			return meta_deletion(s, c, r, method, app);
		if (app != NULL && strcmp(rest, "deauthorize") == 0)
			return meta_deauthorize(s, c, r, method, app);
		r->route = "other";
		return respond_status(c, r, MHD_HTTP_NOT_FOUND, "not_found",
		                      "no such endpoint (is the app configured under meta.apps?)");
	}
	if (strcmp(url, "/data-deletion/status") == 0)
		return status_page(s, c, r, method);
	for (i = 0; i < sizeof(get_routes) / sizeof(get_routes[0]); i++) {
		if (strcmp(url, get_routes[i].path) != 0)
			continue;
		r->route = get_routes[i].name;
		if (!get)
			return respond_status(c, r, MHD_HTTP_METHOD_NOT_ALLOWED,
			                      "method_not_allowed", "use GET");
		return get_routes[i].fn(s, c, r);
	}
	r->route = "other";
	return respond_status(c, r, MHD_HTTP_NOT_FOUND, "not_found", "no such page");
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct request *r = *con_cls;

	(void)version;
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		buf_init(&r->body, HTTP_MAX_BODY);
		r->t0 = time_mono_ms();
		r->route = "other";
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!r->too_big && buf_add(&r->body, upload, *upload_size) != LETHE_OK) {
			r->too_big = true;
			buf_free(&r->body);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return dispatch(s, c, r, url, method);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	buf_free(&r->body);
	free(r);
	*con_cls = NULL;
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

static void
on_done(double seconds, const char *state)
{
	metrics_completion(seconds, state);
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

lethe_rc
server_start(const struct lethe_config *cfg, const struct datamap *dm, const char *listen,
             struct server **out, struct lethe_err *err)
{
	struct server *s = xcalloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	lethe_rc rc;

	*out = NULL;
	s->cfg = cfg;
	s->dm = dm;
	pthread_mutex_init(&s->db_mu, NULL);
	pthread_mutex_init(&s->st_mu, NULL);
	rc = parse_listen(listen ? listen : cfg->listen, &ss, err);
	if (rc == LETHE_OK && cfg->status_template != NULL) {
		s->tpl = read_template(cfg->status_template, err);
		if (s->tpl == NULL)
			rc = LETHE_E_CONFIG;
	}
	if (rc == LETHE_OK) {
		s->db = appdb_open(cfg->app_db, cfg->dir, err);
		if (s->db == NULL)
			rc = err->rc;
	}
	if (rc == LETHE_OK)
		rc = store_open(cfg->state_db, &s->st, err);
	if (rc == LETHE_OK)
		rc = runner_start(cfg, dm, on_done, &s->runner, err);
	if (rc == LETHE_OK)
		rc = sweeper_start(cfg, dm, &s->sweeper, err);
	if (rc == LETHE_OK)
		rc = intake_start(cfg->state_db, cfg->meta_repeat, runner_kick, s->runner,
		                  &s->intake, err);
	if (rc == LETHE_OK) {
		s->d = MHD_start_daemon(
		    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		        MHD_USE_ERROR_LOG,
		    0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned)CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
		    MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK, MHD_OPTION_END);
		if (s->d == NULL)
			rc = lethe_err_set(err, LETHE_E_CONFIG,
			                   "cannot listen on %s (in use, or not an address of this "
			                   "machine?)",
			                   listen ? listen : cfg->listen);
	}
	if (rc != LETHE_OK) {
		server_stop(s);
		return rc;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : 0;
	*out = s;
	return LETHE_OK;
}

void
server_stop(struct server *s)
{
	if (s == NULL)
		return;
	if (s->d != NULL)
		MHD_stop_daemon(s->d);
	intake_stop(s->intake);
	runner_stop(s->runner);
	sweeper_stop(s->sweeper);
	appdb_close(s->db);
	store_close(s->st);
	pthread_mutex_destroy(&s->db_mu);
	pthread_mutex_destroy(&s->st_mu);
	free(s->tpl);
	free(s);
}

int
server_port(const struct server *s)
{
	return s->port;
}
