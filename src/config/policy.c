/* SPDX-License-Identifier: MIT */
/*
 * policy.c - request policies: parsing the `requests:` section of
 * lethe.yaml, choosing the policy of a request, and checking the policies
 * against the data map (see policy.h).
 *
 * Parsing is strict like the rest of the configuration: an unknown key, a
 * kind or source lethe does not know, a policy named twice, a deadline
 * shorter than the grace period, a restriction policy without effects or
 * a policy an earlier one always wins over is a LETHE_E_CONFIG error
 * "lethe.yaml:LINE: what".  The scopes and
 * effects a policy names live in the data map, which the configuration
 * does not read: policy_check() checks them once both are loaded.  A loaded
 * policy set is read-only, so any thread may call policy_for().
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <string.h>

#include "config/config.h"
#include "config/policy.h"
#include "datamap/datamap.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

#define POLICY_NAME_MAX 63 /* characters of a policy name */

static const char *const sources[] = {"meta",  "import",   "app",     "self-service",
                                      "email", "operator", "restore", NULL};
static const char *const kinds[] = {"erasure", "export", "restriction", NULL};

/* The built-in default of each kind (policy.h): no verification, review, grace or effects. */
static const struct request_policy defaults[] = {
    {.name = "default", .kind = "erasure", .deadline_s = POLICY_DEADLINE_DEFAULT_S},
    {.name = "default", .kind = "export", .deadline_s = POLICY_DEADLINE_DEFAULT_S},
    {.name = "default", .kind = "restriction", .deadline_s = POLICY_DEADLINE_DEFAULT_S},
};
/*
 * An erasure re-applied after a backup restore (source restore): its
 * person was verified, reviewed and given a grace period the first time,
 * so nothing is asked again; no configured policy applies to it.
 */
static const struct request_policy restore_policy = {
    .name = "restore", .kind = "erasure", .deadline_s = POLICY_DEADLINE_DEFAULT_S};

static bool
in_list(const char *const *list, const char *s)
{
	for (; s != NULL && *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

bool
policy_source_ok(const char *s)
{
	return in_list(sources, s);
}

bool
policy_kind_ok(const char *s)
{
	return in_list(kinds, s);
}

/* True if @n of the @nv strings @v is @s. */
static bool
has_name(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

const struct request_policy *
policy_for(const struct lethe_config *cfg, const char *kind, const char *scope, const char *source)
{
	size_t i;

	if (kind != NULL && source != NULL && strcmp(kind, "erasure") == 0 &&
	    strcmp(source, "restore") == 0)
		return &restore_policy;
	for (i = 0; cfg != NULL && kind != NULL && i < cfg->requests.npolicies; i++) {
		const struct request_policy *p = &cfg->requests.policies[i];

		if (strcmp(p->kind, kind) != 0)
			continue;
		if (p->scope != NULL && (scope == NULL || strcmp(p->scope, scope) != 0))
			continue;
		if (p->nsources > 0 &&
		    (source == NULL || !has_name(p->sources, p->nsources, source)))
			continue;
		return p;
	}
	for (i = 0; kind != NULL && i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (strcmp(defaults[i].kind, kind) == 0)
			return &defaults[i];
	return &defaults[0];
}

/* ---- parsing ------------------------------------------------------------ */

/* A configuration error at @n: "lethe.yaml:LINE: what". */
#define pfail(y, n, err, ...) ynode_fail(y, n, LETHE_E_CONFIG, err, __VA_ARGS__)

/* A policy or effect name: 1 to POLICY_NAME_MAX letters, digits, '-' or '_'. */
static bool
name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= POLICY_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

/* A source a configured policy may name: any but restore (its policy is built in). */
static bool
source_conf_ok(const char *s)
{
	return policy_source_ok(s) && strcmp(s, "restore") != 0;
}

/* Duration @v (present) into *@out: "0" or a duration; at least @min seconds. */
static lethe_rc
get_duration(struct ydoc *y, yaml_node_t *v, const char *key, int64_t min, int64_t *out,
             struct lethe_err *err)
{
	const char *s = ynode_str(v);
	int64_t x = 0;

	if (s == NULL || (strcmp(s, "0") != 0 && duration_parse(s, &x) != LETHE_OK) || x < min)
		return pfail(y, v, err, "%s must be a duration like 48h, 30d, 2w%s", key,
		             min > 0 ? "" : " (or 0)");
	*out = x;
	return LETHE_OK;
}

static lethe_rc
get_bool(struct ydoc *y, yaml_node_t *v, const char *key, bool *out, struct lethe_err *err)
{
	const char *s = ynode_str(v);

	if (s != NULL && strcmp(s, "true") == 0)
		*out = true;
	else if (s != NULL && strcmp(s, "false") == 0)
		*out = false;
	else
		return pfail(y, v, err, "expected true or false for %s", key);
	return LETHE_OK;
}

/*
 * A list @v of @key of policy @pname into *@out / *@n: at least one item,
 * each a @what that @ok accepts (@expect says which are), none twice.
 */
static lethe_rc
get_list(struct ydoc *y, yaml_node_t *v, const char *pname, const char *key, const char *what,
         bool (*ok)(const char *), const char *expect, char ***out, size_t *n,
         struct lethe_err *err)
{
	size_t i, len = ynode_len(v);

	if (!ynode_is_seq(v) || len == 0)
		return pfail(y, v, err,
		             "policy '%s': %s must be a list with at least one %s (leave it out "
		             "for %s)",
		             pname, key, what,
		             strcmp(key, "sources") == 0 ? "every source" : "none");
	*out = xcalloc(len, sizeof(char *));
	for (i = 0; i < len; i++) {
		yaml_node_t *item = yseq_item(y, v, i);
		const char *s = ynode_str(item);

		if (s == NULL || !ok(s))
			return pfail(y, item, err, "policy '%s': bad %s '%s' (%s)", pname, what,
			             s ? s : "", expect);
		if (has_name(*out, *n, s))
			return pfail(y, item, err, "policy '%s': %s names '%s' twice", pname, key,
			             s);
		(*out)[(*n)++] = xstrdup(s);
	}
	return LETHE_OK;
}

/* True if every request @q matches, @p (earlier in the file) matches too. */
static bool
covers(const struct request_policy *p, const struct request_policy *q)
{
	size_t i;

	if (strcmp(p->kind, q->kind) != 0)
		return false;
	if (p->scope != NULL && (q->scope == NULL || strcmp(p->scope, q->scope) != 0))
		return false;
	if (p->nsources == 0)
		return true;
	if (q->nsources == 0)
		return false;
	for (i = 0; i < q->nsources; i++)
		if (!has_name(p->sources, p->nsources, q->sources[i]))
			return false;
	return true;
}

static lethe_rc
parse_policy(struct ydoc *y, yaml_node_t *n, struct requests_config *rq, struct request_policy *p,
             struct lethe_err *err)
{
	static const char *const keys[] = {"name",   "kind",  "scope",    "sources", "verify",
	                                   "review", "grace", "deadline", "effects", NULL};
	yaml_node_t *v;
	const char *s;
	size_t i;
	lethe_rc rc;

	p->line = ynode_line(n);
	p->deadline_s = POLICY_DEADLINE_DEFAULT_S;
	if (!ynode_is_map(n))
		return pfail(y, n, err, "a policy must be a mapping with name and kind");
	rc = ymap_check_keys(y, n, keys, "a policy", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = ymap_check_dups(y, n, "a policy", LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	v = ymap_get(y, n, "name");
	s = ynode_str(v);
	if (v == NULL)
		return pfail(y, n, err, "a policy needs a name");
	if (!name_ok(s))
		return pfail(y, v, err,
		             "policy name '%s' must be 1 to %d letters, digits, '-' or '_'",
		             s ? s : "", POLICY_NAME_MAX);
	if (strcmp(s, restore_policy.name) == 0)
		return pfail(y, v, err,
		             "policy name '%s' is the built-in policy of erasures re-applied "
		             "after a restore: choose another",
		             s);
	for (i = 0; i < rq->npolicies; i++)
		if (strcmp(rq->policies[i].name, s) == 0)
			return pfail(y, v, err, "policy '%s' is defined twice (first at line %d)",
			             s, rq->policies[i].line);
	p->name = xstrdup(s);
	v = ymap_get(y, n, "kind");
	s = ynode_str(v);
	if (v == NULL)
		return pfail(y, n, err, "policy '%s' needs a kind (%s)", p->name, POLICY_KINDS);
	if (!policy_kind_ok(s))
		return pfail(y, v, err, "policy '%s': unknown kind '%s' (expected: %s)", p->name,
		             s ? s : "", POLICY_KINDS);
	p->kind = xstrdup(s);
	v = ymap_get(y, n, "scope");
	if (v != NULL) {
		s = ynode_str(v);
		if (!appdb_ident_ok(s ? s : ""))
			return pfail(y, v, err, "policy '%s': scope must name a data map scope",
			             p->name);
		p->scope = xstrdup(s);
	}
	v = ymap_get(y, n, "sources");
	if (v != NULL)
		rc = get_list(y, v, p->name, "sources", "source", source_conf_ok,
		              "expected: meta, import, app, self-service, email, operator (restore "
		              "requests follow the built-in policy 'restore')",
		              &p->sources, &p->nsources, err);
	v = ymap_get(y, n, "verify");
	if (rc == LETHE_OK && v != NULL)
		rc = get_bool(y, v, "verify", &p->verify, err);
	v = ymap_get(y, n, "review");
	if (rc == LETHE_OK && v != NULL)
		rc = get_bool(y, v, "review", &p->review, err);
	v = ymap_get(y, n, "grace");
	if (rc == LETHE_OK && v != NULL)
		rc = get_duration(y, v, "grace", 0, &p->grace_s, err);
	v = ymap_get(y, n, "deadline");
	if (rc == LETHE_OK && v != NULL)
		rc = get_duration(y, v, "deadline", 1, &p->deadline_s, err);
	if (rc == LETHE_OK && p->deadline_s < p->grace_s)
		rc = pfail(y, v != NULL ? v : n, err,
		           "policy '%s': deadline %s is shorter than grace %s: the request would "
		           "be overdue before it may run",
		           p->name, v != NULL ? ynode_str(v) : "30d (the default)",
		           ynode_str(ymap_get(y, n, "grace")));
	v = ymap_get(y, n, "effects");
	if (rc == LETHE_OK && v != NULL)
		rc = get_list(y, v, p->name, "effects", "effect name", name_ok,
		              "a name from the data map's 'effects'", &p->effects, &p->neffects,
		              err);
	/* A restriction is its effects: one without any would complete having done nothing. */
	if (rc == LETHE_OK && strcmp(p->kind, "restriction") == 0 && p->neffects == 0)
		rc = pfail(y, v != NULL ? v : n, err,
		           "a restriction policy needs effects: policy '%s' names none (list the "
		           "data map's effects it applies, e.g. effects: [restrict-processing])",
		           p->name);
	for (i = 0; rc == LETHE_OK && i < rq->npolicies; i++)
		if (covers(&rq->policies[i], p))
			rc = pfail(y, n, err,
			           "policy '%s' never applies: policy '%s' (line %d) comes first "
			           "and matches every request it would",
			           p->name, rq->policies[i].name, rq->policies[i].line);
	return rc;
}

lethe_rc
policy_parse(struct requests_config *rq, struct ydoc *y, yaml_node_t *root, struct lethe_err *err)
{
	static const char *const keys[] = {"verify_ttl", "warn_before", "policies", NULL};
	yaml_node_t *sec, *v;
	size_t i;
	lethe_rc rc;

	memset(rq, 0, sizeof(*rq));
	rq->verify_ttl_s = POLICY_VERIFY_TTL_DEFAULT_S;
	rq->warn_before_s = POLICY_WARN_BEFORE_DEFAULT_S;
	sec = ymap_get(y, root, "requests");
	if (sec == NULL || ynode_is_null(sec))
		return LETHE_OK;
	if (!ynode_is_map(sec))
		return pfail(y, sec, err, "expected a mapping for requests");
	rc = ymap_check_keys(y, sec, keys, "requests", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = ymap_check_dups(y, sec, "requests", LETHE_E_CONFIG, err);
	v = ymap_get(y, sec, "verify_ttl");
	if (rc == LETHE_OK && v != NULL)
		rc = get_duration(y, v, "requests.verify_ttl", 1, &rq->verify_ttl_s, err);
	v = ymap_get(y, sec, "warn_before");
	if (rc == LETHE_OK && v != NULL)
		rc = get_duration(y, v, "requests.warn_before", 0, &rq->warn_before_s, err);
	v = ymap_get(y, sec, "policies");
	if (rc != LETHE_OK || v == NULL || ynode_is_null(v))
		return rc;
	if (!ynode_is_seq(v))
		return pfail(y, v, err, "requests.policies must be a list of policies");
	rq->policies = xcalloc(ynode_len(v) ? ynode_len(v) : 1, sizeof(*rq->policies));
	for (i = 0; rc == LETHE_OK && i < ynode_len(v); i++) {
		struct request_policy p;

		memset(&p, 0, sizeof(p));
		rc = parse_policy(y, yseq_item(y, v, i), rq, &p, err);
		/* Kept even when it failed, so policy_free() frees what it holds. */
		rq->policies[rq->npolicies++] = p;
	}
	return rc;
}

void
policy_free(struct requests_config *rq)
{
	size_t i, j;

	for (i = 0; i < rq->npolicies; i++) {
		struct request_policy *p = &rq->policies[i];

		free(p->name);
		free(p->kind);
		free(p->scope);
		for (j = 0; j < p->nsources; j++)
			free(p->sources[j]);
		free(p->sources);
		for (j = 0; j < p->neffects; j++)
			free(p->effects[j]);
		free(p->effects);
	}
	free(rq->policies);
	memset(rq, 0, sizeof(*rq));
}

/* ---- against the data map ------------------------------------------------ */

lethe_rc
policy_check(const struct lethe_config *cfg, const struct datamap *dm, struct lethe_err *err)
{
	const struct requests_config *rq = &cfg->requests;
	struct buf names;
	size_t i, j;
	lethe_rc rc = LETHE_OK;

	buf_init(&names, 4096);
	for (i = 0; rc == LETHE_OK && i < rq->npolicies; i++) {
		const struct request_policy *p = &rq->policies[i];

		if (p->scope != NULL && datamap_scope(dm, p->scope) == NULL) {
			for (j = 0; j < dm->nscopes; j++)
				buf_addf(&names, "%s%s", j ? ", " : "", dm->scopes[j].name);
			rc = lethe_err_set(err, LETHE_E_CONFIG,
			                   "%s:%d: policy '%s': scope '%s' is not in the data map "
			                   "%s (scopes: %s)",
			                   cfg->path, p->line, p->name, p->scope, dm->path,
			                   buf_str(&names));
		}
		for (j = 0; rc == LETHE_OK && j < p->neffects; j++) {
			size_t k;

			if (datamap_effect(dm, p->effects[j]) != NULL)
				continue;
			for (k = 0; k < dm->neffects; k++)
				buf_addf(&names, "%s%s", k ? ", " : "", dm->effects[k].name);
			rc = lethe_err_set(err, LETHE_E_CONFIG,
			                   "%s:%d: policy '%s': effect '%s' is not declared under "
			                   "'effects' in the data map %s (effects: %s)",
			                   cfg->path, p->line, p->name, p->effects[j], dm->path,
			                   dm->neffects ? buf_str(&names) : "none");
		}
	}
	buf_free(&names);
	return rc;
}
