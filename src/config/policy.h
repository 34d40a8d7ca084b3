/* SPDX-License-Identifier: MIT */
/*
 * policy.h - request policies: the `requests:` section of lethe.yaml.
 *
 * A policy says what a privacy request of one kind, in one data map scope,
 * from one source goes through before and after it runs: whether the
 * person's identity must be verified, whether an operator must approve,
 * a grace (recovery) period during which it can be cancelled, the data
 * map effects applied at once when it is accepted (and undone if it is
 * cancelled), and the deadline by which it must be complete.  The first
 * policy whose kind, scope and sources match a request applies; a request
 * no policy matches gets the built-in default (no verification, no review,
 * no grace, no effects, due in 30 days).  An erasure of source restore
 * (an erasure re-applied after a backup restore, docs/proof.md) always gets
 * the built-in policy "restore", which is the same: its person was
 * verified, reviewed and given a grace period the first time.  docs/requests.md documents the
 * section; README.md "Configuration" lists its keys.
 */
#ifndef LETHE_CONFIG_POLICY_H
#define LETHE_CONFIG_POLICY_H

#include "util/fmacros.h"
#include "util/rc.h"

struct lethe_config;
struct datamap;
struct ydoc;
struct yaml_node_s;

#define POLICY_DEADLINE_DEFAULT_S (30 * 86400)   /* 30 days */
#define POLICY_VERIFY_TTL_DEFAULT_S (7 * 86400)  /* an emailed link lives a week */
#define POLICY_WARN_BEFORE_DEFAULT_S (3 * 86400) /* warn 3 days before a deadline */

/* The sources a request can come from (store column `source`). */
#define POLICY_SOURCES "meta, import, app, self-service, email, operator, restore"
/* The kinds of request (store column `kind`). */
#define POLICY_KINDS "erasure, export, restriction"

struct request_policy {
	char *name;      /* policy name (requests.policies[].name), shown in the API */
	char *kind;      /* erasure, export, restriction */
	char *scope;     /* data map scope it applies to, or NULL: any */
	char **sources;  /* sources it applies to (POLICY_SOURCES) */
	size_t nsources; /* 0: every source */
	bool verify;     /* the identity must be verified (emailed link) unless the app vouches */
	bool review;     /* an operator must approve before it is scheduled */
	int64_t grace_s; /* grace / recovery period before it runs, 0: none */
	int64_t deadline_s; /* due date = receipt + this */
	char **effects;     /* data map effects applied at acceptance, undone on cancel */
	size_t neffects;    /* number of effects */
	int line;           /* line in lethe.yaml, 0 for the built-in default */
};

/* requests: in lethe.yaml (struct lethe_config member `requests`). */
struct requests_config {
	struct request_policy *policies; /* requests.policies, file order */
	size_t npolicies;                /* number of policies */
	int64_t verify_ttl_s;            /* requests.verify_ttl: unverified requests expire after */
	int64_t warn_before_s;           /* requests.warn_before: deadline warnings start */
};

/*
 * Parse the `requests:` section of the configuration document @y (root
 * mapping @root) into @rq (caller-owned storage, overwritten): defaults when
 * the section is absent.  LETHE_E_CONFIG "lethe.yaml:LINE: what" for an
 * unknown key, a bad duration, kind or source, a policy named twice, a
 * deadline shorter than the grace period, or a policy that an earlier one
 * always wins over.  Free @rq with policy_free(), whatever the result.
 * Called by config_load().
 */
lethe_rc policy_parse(struct requests_config *rq, struct ydoc *y, struct yaml_node_s *root,
                      struct lethe_err *err);
/* Free what @rq holds and zero it (config_free()). */
void policy_free(struct requests_config *rq);
/*
 * The policy for a request of @kind in @scope from @source: the first of
 * cfg's policies that matches, else the built-in default (name "default").
 * An erasure from source "restore" gets the built-in "restore" whatever
 * the configured policies say.  Matching: the kind is equal; a policy
 * without a scope matches any scope
 * (one with a scope only that scope); a policy without sources matches any
 * source.  The default has the kind asked for (erasure for a kind lethe
 * does not know).  @cfg may be NULL (the default).  Never NULL; the pointer
 * lives as long as @cfg (or forever).  Read-only: any thread.
 */
const struct request_policy *policy_for(const struct lethe_config *cfg, const char *kind,
                                        const char *scope, const char *source);
/* True if @s is a source (POLICY_SOURCES) / a kind (POLICY_KINDS). */
bool policy_source_ok(const char *s);
bool policy_kind_ok(const char *s);
/*
 * Check cfg's policies against the data map @dm: every scope and effect a
 * policy names exists.  LETHE_E_CONFIG with "lethe.yaml:LINE: what" (the
 * line of the policy), naming the scopes or effects the map has.
 */
lethe_rc policy_check(const struct lethe_config *cfg, const struct datamap *dm,
                      struct lethe_err *err);

#endif /* LETHE_CONFIG_POLICY_H */
