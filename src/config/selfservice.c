/* SPDX-License-Identifier: MIT */
/*
 * selfservice.c - the `selfservice:` section of lethe.yaml: the
 * self-service page's path, the choices it offers and its rate limits
 * (config.h, docs/selfservice.md).
 *
 * Parsing is strict like the rest of the configuration: an unknown key, a
 * path that is not "/word[/word...]" or that another route owns, an offer
 * without id, kind, scope or label, an offer id twice or a limit out of
 * range is LETHE_E_CONFIG "lethe.yaml:LINE: what".  Without the section the
 * page offers one choice (close-account: erasure of scope account) and is
 * on exactly when mail is configured; it cannot be on without mail, since
 * a request made on it is confirmed by a mailed link.  The offers' scopes
 * live in the data map: selfservice_check() checks them at start.  A parsed
 * section is read-only, so any thread may read it.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <string.h>

#include "config/config.h"
#include "config/policy.h"
#include "datamap/datamap.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

#define SS_PATH_MAX 64   /* bytes of selfservice.path */
#define SS_ID_MAX 32     /* bytes of an offer's id */
#define SS_LABEL_MAX 200 /* bytes of an offer's label */
#define SS_OFFERS_MAX 8  /* offers a page shows at most */
#define SS_LIMIT_MAX 1000000

/* A configuration error at @n: "lethe.yaml:LINE: what". */
#define sfail(y, n, err, ...) ynode_fail(y, n, LETHE_E_CONFIG, err, __VA_ARGS__)

/*
 * True if @p is a path of the page: "/" then segments of lower-case
 * letters, digits, '-' and '_' separated by single '/', no trailing '/',
 * at most SS_PATH_MAX bytes, and not under a route lethe already serves.
 */
static bool
path_ok(const char *p)
{
	static const char *const taken[] = {"/api",     "/v1",     "/data-deletion", "/static",
	                                    "/healthz", "/readyz", "/metrics",       NULL};
	size_t n = p != NULL ? strlen(p) : 0, i;

	if (n < 2 || n > SS_PATH_MAX || p[0] != '/' || p[n - 1] == '/' ||
	    strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-_/") != n || strstr(p, "//") != NULL)
		return false;
	for (i = 0; taken[i] != NULL; i++) {
		size_t t = strlen(taken[i]);

		if (strncmp(p, taken[i], t) == 0 && (p[t] == '\0' || p[t] == '/'))
			return false;
	}
	return true;
}

/* True if @s is an offer id: 1 to SS_ID_MAX lower-case letters, digits or '-'. */
static bool
id_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= SS_ID_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* True if @s is 1 to @max bytes without control characters. */
static bool
text_ok(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0, i;

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Scalar @key of offer mapping @m into *@out (a copy) if @ok holds; else the error. */
static lethe_rc
offer_str(struct ydoc *y, yaml_node_t *m, const char *key, bool (*ok)(const char *), char **out,
          const char *what, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, m, key);
	const char *s = ynode_str(v);

	if (v == NULL)
		return sfail(y, m, err, "selfservice.offers: an offer needs '%s'", key);
	if (s == NULL || !ok(s))
		return sfail(y, v, err, "selfservice.offers: %s must be %s", key, what);
	*out = xstrdup(s);
	return LETHE_OK;
}

static bool
label_ok(const char *s)
{
	return text_ok(s, SS_LABEL_MAX);
}

static bool
kind_ok(const char *s)
{
	return policy_kind_ok(s);
}

static bool
scope_ok(const char *s)
{
	return text_ok(s, 63);
}

static lethe_rc
parse_offers(struct selfservice_config *ss, struct ydoc *y, yaml_node_t *v, struct lethe_err *err)
{
	static const char *const keys[] = {"id", "kind", "scope", "label", NULL};
	size_t i, j, n = ynode_len(v);
	lethe_rc rc = LETHE_OK;

	if (!ynode_is_seq(v) || n == 0 || n > SS_OFFERS_MAX)
		return sfail(y, v, err, "selfservice.offers must be a list of 1 to %d offers",
		             SS_OFFERS_MAX);
	ss->offers = xcalloc(n, sizeof(*ss->offers));
	for (i = 0; rc == LETHE_OK && i < n; i++) {
		yaml_node_t *m = yseq_item(y, v, i);
		struct selfservice_offer *o = &ss->offers[i];

		if (!ynode_is_map(m)) {
			rc = sfail(y, m, err,
			           "selfservice.offers: an offer is a mapping "
			           "{id, kind, scope, label}");
			break;
		}
		ss->noffers = i + 1;
		o->line = ynode_line(m);
		rc = ymap_check_keys(y, m, keys, "an offer", LETHE_E_CONFIG, err);
		if (rc == LETHE_OK)
			rc = offer_str(y, m, "id", id_ok, &o->id,
			               "1 to 32 lower-case letters, digits or '-'", err);
		if (rc == LETHE_OK)
			rc = offer_str(y, m, "kind", kind_ok, &o->kind, "one of: " POLICY_KINDS,
			               err);
		if (rc == LETHE_OK)
			rc = offer_str(y, m, "scope", scope_ok, &o->scope, "a data map scope", err);
		if (rc == LETHE_OK)
			rc = offer_str(y, m, "label", label_ok, &o->label,
			               "1 to 200 bytes of text without control characters", err);
		for (j = 0; rc == LETHE_OK && j < i; j++)
			if (strcmp(ss->offers[j].id, o->id) == 0)
				rc = sfail(y, m, err,
				           "selfservice.offers: offer '%s' appears twice", o->id);
	}
	return rc;
}

/* limits: {per_address, per_client, total, window}. */
static lethe_rc
parse_limits(struct selfservice_config *ss, struct ydoc *y, yaml_node_t *v, struct lethe_err *err)
{
	static const char *const keys[] = {"per_address", "per_client", "total", "window", NULL};
	static const char *const names[] = {"per_address", "per_client", "total"};
	int64_t *dst[] = {&ss->per_address, &ss->per_client, &ss->total};
	yaml_node_t *w;
	size_t i;
	lethe_rc rc;

	if (!ynode_is_map(v))
		return sfail(y, v, err, "selfservice.limits must be a mapping");
	rc = ymap_check_keys(y, v, keys, "selfservice.limits", LETHE_E_CONFIG, err);
	for (i = 0; rc == LETHE_OK && i < 3; i++) {
		yaml_node_t *n = ymap_get(y, v, names[i]);
		const char *s = ynode_str(n);
		char *end = NULL;
		long long x;

		if (n == NULL)
			continue;
		x = s != NULL ? strtoll(s, &end, 10) : 0;
		if (s == NULL || s[0] == '\0' || *end != '\0' || x < 1 || x > SS_LIMIT_MAX)
			return sfail(y, n, err,
			             "selfservice.limits.%s must be an integer from 1 to %d",
			             names[i], SS_LIMIT_MAX);
		*dst[i] = x;
	}
	w = ymap_get(y, v, "window");
	if (rc == LETHE_OK && w != NULL) {
		const char *s = ynode_str(w);

		if (s == NULL || duration_parse(s, &ss->window_s) != LETHE_OK || ss->window_s < 1 ||
		    ss->window_s > 7 * 86400)
			return sfail(y, w, err,
			             "selfservice.limits.window must be a duration like 10m, 1h "
			             "(1 s to 7 d)");
	}
	return rc;
}

lethe_rc
selfservice_parse(struct selfservice_config *ss, bool mail_enabled, struct ydoc *y,
                  struct yaml_node_s *root, struct lethe_err *err)
{
	static const char *const keys[] = {"enabled", "path", "offers", "limits", NULL};
	yaml_node_t *sec = ymap_get(y, root, "selfservice"), *v;
	lethe_rc rc = LETHE_OK;

	memset(ss, 0, sizeof(*ss));
	ss->enabled = mail_enabled;
	ss->per_address = 5;
	ss->per_client = 30;
	ss->total = 1000;
	ss->window_s = 3600;
	if (sec != NULL && !ynode_is_null(sec)) {
		ss->line = ynode_line(sec);
		if (!ynode_is_map(sec))
			return sfail(y, sec, err, "expected a mapping for selfservice");
		rc = ymap_check_keys(y, sec, keys, "selfservice", LETHE_E_CONFIG, err);
		v = ymap_get(y, sec, "enabled");
		if (rc == LETHE_OK && v != NULL) {
			const char *s = ynode_str(v);

			if (s != NULL && strcmp(s, "true") == 0)
				ss->enabled = true;
			else if (s != NULL && strcmp(s, "false") == 0)
				ss->enabled = false;
			else
				rc = sfail(y, v, err, "selfservice.enabled must be true or false");
			if (rc == LETHE_OK && ss->enabled && !mail_enabled)
				rc =
				    sfail(y, v, err,
				          "selfservice.enabled needs the mail: section (the page's "
				          "requests are confirmed by a mailed link)");
		}
		v = ymap_get(y, sec, "path");
		if (rc == LETHE_OK && v != NULL) {
			if (!path_ok(ynode_str(v)))
				rc = sfail(
				    y, v, err,
				    "selfservice.path must be like /privacy: '/', then lower-case "
				    "letters, digits, '-', '_' or '/', not under a route lethe "
				    "serves (/api, /v1, /data-deletion, /static, ...)");
			else
				ss->path = xstrdup(ynode_str(v));
		}
		v = ymap_get(y, sec, "offers");
		if (rc == LETHE_OK && v != NULL)
			rc = parse_offers(ss, y, v, err);
		v = ymap_get(y, sec, "limits");
		if (rc == LETHE_OK && v != NULL)
			rc = parse_limits(ss, y, v, err);
	}
	if (rc == LETHE_OK && ss->path == NULL)
		ss->path = xstrdup("/privacy");
	if (rc == LETHE_OK && ss->noffers == 0) {
		ss->offers = xcalloc(1, sizeof(*ss->offers));
		ss->offers[0].id = xstrdup("close-account");
		ss->offers[0].kind = xstrdup("erasure");
		ss->offers[0].scope = xstrdup("account");
		ss->offers[0].label = xstrdup("Close my account and delete my data");
		ss->noffers = 1;
	}
	return rc;
}

void
selfservice_free(struct selfservice_config *ss)
{
	size_t i;

	for (i = 0; i < ss->noffers; i++) {
		free(ss->offers[i].id);
		free(ss->offers[i].kind);
		free(ss->offers[i].scope);
		free(ss->offers[i].label);
	}
	free(ss->offers);
	free(ss->path);
	memset(ss, 0, sizeof(*ss));
}

const struct selfservice_offer *
selfservice_offer(const struct lethe_config *cfg, const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < cfg->selfservice.noffers; i++)
		if (strcmp(cfg->selfservice.offers[i].id, id) == 0)
			return &cfg->selfservice.offers[i];
	return NULL;
}

lethe_rc
selfservice_check(const struct lethe_config *cfg, const struct datamap *dm, struct lethe_err *err)
{
	const struct selfservice_config *ss = &cfg->selfservice;
	const char *ident = cfg->mail.identity != NULL ? cfg->mail.identity : "email";
	size_t i;

	if (!ss->enabled)
		return LETHE_OK;
	for (i = 0; i < ss->noffers; i++) {
		const struct selfservice_offer *o = &ss->offers[i];
		const struct dm_scope *sc = datamap_scope(dm, o->scope);
		int line = o->line > 0 ? o->line : ss->line;

		if (strcmp(o->kind, "erasure") != 0 && strcmp(o->kind, "export") != 0)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s:%d: selfservice offer '%s': requests of kind '%s' "
			                     "cannot be asked on the page (erasure and export can)",
			                     cfg->path, line, o->id, o->kind);
		if (sc == NULL)
			return lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "%s:%d: selfservice offer '%s': scope '%s' is not in the "
			    "data map %s",
			    cfg->path, line, o->id, o->scope, dm->path);
		if (!dm_scope_has_identity(sc, ident))
			return lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "%s:%d: selfservice offer '%s': scope '%s' does not name "
			    "a person by identity '%s' (mail.identity)",
			    cfg->path, line, o->id, o->scope, ident);
	}
	return LETHE_OK;
}
