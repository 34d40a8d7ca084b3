/* SPDX-License-Identifier: MIT */
/*
 * mailbox_config.c - the `mailbox:` section of lethe.yaml (mail/mailbox.h,
 * docs/mail-intake.md "Configuration").
 *
 * Strict like the rest of the configuration: an unknown key, a size or
 * duration out of range, an lmtp address that is not loopback (unless
 * lmtp_remote), a pattern regcomp() refuses, a name that is not
 * [a-z0-9_-] or appears twice, a rule naming a claim that does not exist,
 * no rule at all, or lmtp or maildir without addresses is LETHE_E_CONFIG
 * "lethe.yaml:LINE: what".  Texts the rules compare (addresses, labels,
 * subjects, phrases) are lower-cased and their runs of spaces collapsed
 * here, once, so that understand.c compares bytes.  The scopes and
 * identity kinds are the data map's, checked by mailbox_config_check()
 * (config/mailbox.c) at start.  server.contact is read here too when it
 * is an address (mb->contact: never the address a body gives to notify).
 */
#include "util/fmacros.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mailbox.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

#define MB_MAX_SIZE_DEFAULT (10 * 1024 * 1024)
#define MB_MAX_SIZE_MIN (64 * 1024)
#define MB_MAX_SIZE_MAX (64 * 1024 * 1024)
#define MB_TEXT_MAX 200    /* bytes of a subject, phrase or label */
#define MB_LIST_MAX 64     /* items of a list (subjects, phrases, labels, addresses) */
#define MB_PATTERN_MAX 512 /* bytes of a claim's pattern */
#define MB_CLAIMS_MAX MAILBOX_CLAIMS_MAX /* claims a mailbox declares: a decision lists all */

#define mbfail(y, n, err, ...) ynode_fail(y, n, LETHE_E_CONFIG, err, __VA_ARGS__)

/* Free the @n strings of @v and @v. */
static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A copy of @s lower-cased (ASCII), runs of spaces and tabs as one space, trimmed. */
static char *
fold(const char *s)
{
	char *out = xmalloc(strlen(s) + 1);
	size_t o = 0;
	bool space = false;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == ' ' || c == '\t') {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out[o] = '\0';
	return out;
}

/* True if @s is 1 to MAILBOX_NAME_MAX bytes of [a-z0-9_-]. */
static bool
name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= MAILBOX_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* True if @s has no control character but tabs. */
static bool
text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

/*
 * The list @v (a sequence of strings, or one string) of @what into *@out,
 * each folded; at most MB_LIST_MAX items of 1 to MB_TEXT_MAX bytes.
 */
static lethe_rc
get_list(struct ydoc *y, yaml_node_t *v, const char *what, char ***out, size_t *nout,
         struct lethe_err *err)
{
	size_t i, n;

	*out = NULL;
	*nout = 0;
	if (ynode_is_scalar(v)) {
		const char *s = ynode_str(v);

		if (s[0] == '\0' || strlen(s) > MB_TEXT_MAX || !text_ok(s))
			return mbfail(y, v, err, "%s must be a text of 1 to %d bytes", what,
			              MB_TEXT_MAX);
		*out = xcalloc(1, sizeof(char *));
		(*out)[0] = fold(s);
		*nout = 1;
		if ((*out)[0][0] == '\0')
			return mbfail(y, v, err, "%s must not be blank", what);
		return LETHE_OK;
	}
	if (!ynode_is_seq(v))
		return mbfail(y, v, err, "%s must be a list of texts", what);
	n = ynode_len(v);
	if (n > MB_LIST_MAX)
		return mbfail(y, v, err, "%s has %zu items (at most %d)", what, n, MB_LIST_MAX);
	*out = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		yaml_node_t *it = yseq_item(y, v, i);
		const char *s = ynode_str(it);
		char *f;

		if (s == NULL || s[0] == '\0' || strlen(s) > MB_TEXT_MAX || !text_ok(s))
			return mbfail(y, it, err, "%s: each item must be a text of 1 to %d bytes",
			              what, MB_TEXT_MAX);
		f = fold(s);
		if (f[0] == '\0') {
			free(f);
			return mbfail(y, it, err, "%s: an item is blank", what);
		}
		(*out)[(*nout)++] = f;
	}
	return LETHE_OK;
}

/* A boolean at @v into *@out. */
static lethe_rc
get_bool(struct ydoc *y, yaml_node_t *v, const char *what, bool *out, struct lethe_err *err)
{
	const char *s = ynode_str(v);

	if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0))
		*out = true;
	else if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0))
		*out = false;
	else
		return mbfail(y, v, err, "%s must be true or false", what);
	return LETHE_OK;
}

/* An integer from @min to @max at @v into *@out. */
static lethe_rc
get_int(struct ydoc *y, yaml_node_t *v, const char *what, int64_t min, int64_t max, int64_t *out,
        struct lethe_err *err)
{
	const char *s = ynode_str(v);
	char *end = NULL;
	long long x = 0;

	errno = 0;
	if (s != NULL)
		x = strtoll(s, &end, 10);
	if (s == NULL || s[0] == '\0' || errno != 0 || *end != '\0' || x < min || x > max)
		return mbfail(y, v, err, "%s must be an integer from %lld to %lld", what,
		              (long long)min, (long long)max);
	*out = x;
	return LETHE_OK;
}

/* A duration from @min to @max seconds at @v into *@out (seconds). */
static lethe_rc
get_duration(struct ydoc *y, yaml_node_t *v, const char *what, int64_t min, int64_t max,
             const char *range, int64_t *out, struct lethe_err *err)
{
	const char *s = ynode_str(v);
	int64_t n = 0;

	if (s == NULL || duration_parse(s, &n) != LETHE_OK || n < min || n > max)
		return mbfail(y, v, err, "%s must be a duration from %s", what, range);
	*out = n;
	return LETHE_OK;
}

/*
 * A size "N", "NKB"/"NKiB"/"NK", "NMB"/"NMiB"/"NM" (binary units: 1 KB =
 * 1024 bytes), optionally a space before the unit, into *@out; false if
 * malformed.
 */
static bool
size_parse(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t mul;
	} units[] = {{"", 1},       {"b", 1},           {"k", 1024},         {"kb", 1024},
	             {"kib", 1024}, {"m", 1024 * 1024}, {"mb", 1024 * 1024}, {"mib", 1024 * 1024}};
	char *end = NULL;
	long long x;
	size_t i;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || x < 0 || x > (1LL << 40))
		return false;
	if (*end == ' ')
		end++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(end, units[i].unit) == 0) {
			*out = x * units[i].mul;
			return true;
		}
	return false;
}

/* True if @host is a loopback host: localhost, 127.0.0.0/8 or ::1. */
static bool
loopback(const char *host, bool v6)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (v6)
		return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	if (strcmp(host, "localhost") == 0)
		return true;
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* The lmtp value at @v into mb->lmtp ("unix:PATH" resolved against @dir). */
static lethe_rc
parse_lmtp(struct mailbox_config *mb, const char *dir, struct ydoc *y, yaml_node_t *v,
           struct lethe_err *err)
{
	const char *s = ynode_str(v), *colon, *port;
	char host[256];
	size_t hl;
	bool v6 = false;
	char *end = NULL;
	long p;

	if (s == NULL || s[0] == '\0' || !text_ok(s) || strchr(s, ' ') != NULL)
		return mbfail(y, v, err, "mailbox.lmtp must be HOST:PORT, [::1]:PORT or unix:PATH");
	if (strncmp(s, "unix:", 5) == 0) {
		char *path;

		if (s[5] == '\0')
			return mbfail(y, v, err, "mailbox.lmtp: unix: needs a socket path");
		path = file_resolve(dir, s + 5);
		mb->lmtp = xasprintf("unix:%s", path);
		free(path);
		return LETHE_OK;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return mbfail(y, v, err, "mailbox.lmtp must be [V6ADDRESS]:PORT");
		hl = (size_t)(close - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return mbfail(y, v, err, "mailbox.lmtp must be [V6ADDRESS]:PORT");
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		v6 = true;
		port = close + 2;
		if (inet_pton(AF_INET6, host, &(struct in6_addr){0}) != 1)
			return mbfail(y, v, err, "mailbox.lmtp: '%s' is not an IPv6 address", host);
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return mbfail(y, v, err,
			              "mailbox.lmtp must be HOST:PORT, [::1]:PORT or unix:PATH");
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			return mbfail(y, v, err, "mailbox.lmtp: the host name is too long");
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (strspn(host,
		           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
		    hl)
			return mbfail(y, v, err, "mailbox.lmtp: '%s' is not a host name", host);
		port = colon + 1;
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (port[0] < '0' || port[0] > '9' || errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return mbfail(y, v, err, "mailbox.lmtp: the port must be from 1 to 65535");
	if (!mb->lmtp_remote && !loopback(host, v6))
		return mbfail(y, v, err,
		              "mailbox.lmtp: %s is not a loopback address (127.0.0.1, "
		              "[::1], localhost); set lmtp_remote: true to listen on it",
		              host);
	mb->lmtp = xstrdup(s);
	return LETHE_OK;
}

/* The replies: mapping at @v. */
static lethe_rc
parse_replies(struct mailbox_config *mb, struct ydoc *y, yaml_node_t *v, struct lethe_err *err)
{
	static const char *const keys[] = {"per_address", "total", "window", NULL};
	yaml_node_t *x;
	lethe_rc rc;

	if (!ynode_is_map(v))
		return mbfail(y, v, err,
		              "mailbox.replies must be a mapping (per_address, total, "
		              "window)");
	rc = ymap_check_keys(y, v, keys, "mailbox.replies", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK && (x = ymap_get(y, v, "per_address")) != NULL)
		rc = get_int(y, x, "mailbox.replies.per_address", 1, 1000, &mb->reply_per_address,
		             err);
	if (rc == LETHE_OK && (x = ymap_get(y, v, "total")) != NULL)
		rc = get_int(y, x, "mailbox.replies.total", 1, 1000000, &mb->reply_total, err);
	if (rc == LETHE_OK && (x = ymap_get(y, v, "window")) != NULL)
		rc = get_duration(y, x, "mailbox.replies.window", 60, 7 * 86400, "1m to 7d",
		                  &mb->reply_window_s, err);
	if (rc == LETHE_OK && mb->reply_total < mb->reply_per_address)
		rc = mbfail(y, v, err, "mailbox.replies.total must be at least per_address");
	return rc;
}

/* One claim: @kn its key (the name), @v its mapping, into @c. */
static lethe_rc
parse_claim(struct mailbox_claim_conf *c, struct ydoc *y, yaml_node_t *kn, yaml_node_t *v,
            struct lethe_err *err)
{
	static const char *const keys[] = {"identity", "labels",   "pattern",
	                                   "proof",    "strip_at", NULL};
	const char *name = ynode_str(kn), *s;
	yaml_node_t *x;
	lethe_rc rc;
	char what[96];
	int e;

	c->line = ynode_line(kn);
	c->strip_at = true;
	if (!name_ok(name))
		return mbfail(y, kn, err,
		              "mailbox.claims: a claim's name must be 1 to %d characters of a-z, "
		              "0-9, '_' and '-'",
		              MAILBOX_NAME_MAX);
	if (strcmp(name, MAILBOX_SENDER) == 0)
		return mbfail(y, kn, err,
		              "mailbox.claims: '%s' is the From: address, not a claim's name",
		              MAILBOX_SENDER);
	c->name = xstrdup(name);
	if (!ynode_is_map(v))
		return mbfail(y, v, err,
		              "mailbox.claims.%s must be a mapping (identity, labels, pattern, "
		              "proof, strip_at)",
		              name);
	snprintf(what, sizeof(what), "mailbox.claims.%s", name);
	rc = ymap_check_keys(y, v, keys, what, LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = ymap_check_dups(y, v, what, LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	x = ymap_get(y, v, "identity");
	s = ynode_str(x);
	if (x == NULL || s == NULL || s[0] == '\0' || !text_ok(s))
		return mbfail(y, x != NULL ? x : kn, err,
		              "mailbox.claims.%s.identity is missing (a data map identity kind)",
		              name);
	c->identity = xstrdup(s);
	x = ymap_get(y, v, "labels");
	if (x == NULL)
		return mbfail(y, kn, err,
		              "mailbox.claims.%s.labels is missing (what precedes the value, "
		              "like \"account name\")",
		              name);
	snprintf(what, sizeof(what), "mailbox.claims.%s.labels", name);
	rc = get_list(y, x, what, &c->labels, &c->nlabels, err);
	if (rc == LETHE_OK && c->nlabels == 0)
		rc = mbfail(y, x, err, "mailbox.claims.%s.labels must name at least one label",
		            name);
	if (rc != LETHE_OK)
		return rc;
	x = ymap_get(y, v, "proof");
	s = ynode_str(x);
	if (s != NULL && strcmp(s, "address_on_file") == 0)
		c->proof = MAILBOX_PROOF_ON_FILE;
	else if (s != NULL && strcmp(s, "review") == 0)
		c->proof = MAILBOX_PROOF_REVIEW;
	else
		return mbfail(y, x != NULL ? x : kn, err,
		              "mailbox.claims.%s.proof must be address_on_file (a link to the "
		              "address on file proves it) or review (an operator checks it)",
		              name);
	x = ymap_get(y, v, "strip_at");
	if (x != NULL) {
		snprintf(what, sizeof(what), "mailbox.claims.%s.strip_at", name);
		rc = get_bool(y, x, what, &c->strip_at, err);
		if (rc != LETHE_OK)
			return rc;
	}
	x = ymap_get(y, v, "pattern");
	if (x != NULL) {
		char *re;

		s = ynode_str(x);
		if (s == NULL || s[0] == '\0' || strlen(s) > MB_PATTERN_MAX)
			return mbfail(y, x, err,
			              "mailbox.claims.%s.pattern must be a POSIX extended regular "
			              "expression of 1 to %d bytes",
			              name, MB_PATTERN_MAX);
		re = xasprintf("^(%s)$", s);
		e = regcomp(&c->re, re, REG_EXTENDED | REG_NOSUB);
		free(re);
		if (e != 0) {
			char msg[128];

			regerror(e, &c->re, msg, sizeof(msg));
			return mbfail(y, x, err, "mailbox.claims.%s.pattern: %s", name, msg);
		}
		c->pattern = xstrdup(s);
	}
	return LETHE_OK;
}

/* The claims: mapping at @v. */
static lethe_rc
parse_claims(struct mailbox_config *mb, struct ydoc *y, yaml_node_t *v, struct lethe_err *err)
{
	size_t i, n;
	lethe_rc rc;

	if (!ynode_is_map(v))
		return mbfail(y, v, err, "mailbox.claims must be a mapping of claim names");
	rc = ymap_check_dups(y, v, "mailbox.claims", LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	n = ynode_len(v);
	if (n > MB_CLAIMS_MAX)
		return mbfail(y, v, err, "mailbox.claims: %zu claims (at most %d)", n,
		              MB_CLAIMS_MAX);
	mb->claims = xcalloc(n + 1, sizeof(*mb->claims));
	for (i = 0; i < n; i++) {
		rc = parse_claim(&mb->claims[i], y, ymap_key(y, v, i), ymap_val(y, v, i), err);
		mb->nclaims = i + 1;
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

/* One rule at @v into @r. */
static lethe_rc
parse_rule(struct mailbox_config *mb, struct mailbox_rule *r, struct ydoc *y, yaml_node_t *v,
           struct lethe_err *err)
{
	static const char *const keys[] = {"name",  "subjects",   "phrases",          "kind",
	                                   "scope", "identities", "notify_from_body", NULL};
	yaml_node_t *x;
	const char *s;
	char what[96];
	size_t i, j;
	lethe_rc rc;

	r->line = ynode_line(v);
	if (!ynode_is_map(v))
		return mbfail(y, v, err,
		              "mailbox.rules: each rule must be a mapping (name, subjects, "
		              "phrases, kind, scope, identities)");
	rc = ymap_check_keys(y, v, keys, "a mailbox rule", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = ymap_check_dups(y, v, "a mailbox rule", LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	x = ymap_get(y, v, "name");
	s = ynode_str(x);
	if (!name_ok(s))
		return mbfail(y, x != NULL ? x : v, err,
		              "mailbox.rules: a rule's name must be 1 to %d characters of a-z, "
		              "0-9, '_' and '-'",
		              MAILBOX_NAME_MAX);
	r->name = xstrdup(s);
	for (i = 0; mb->rules + i != r; i++)
		if (strcmp(mb->rules[i].name, r->name) == 0)
			return mbfail(y, x, err,
			              "mailbox.rules: rule '%s' is named twice (first at line %d)",
			              r->name, mb->rules[i].line);
	snprintf(what, sizeof(what), "mailbox rule '%s': subjects", r->name);
	if ((x = ymap_get(y, v, "subjects")) != NULL &&
	    (rc = get_list(y, x, what, &r->subjects, &r->nsubjects, err)) != LETHE_OK)
		return rc;
	snprintf(what, sizeof(what), "mailbox rule '%s': phrases", r->name);
	if ((x = ymap_get(y, v, "phrases")) != NULL &&
	    (rc = get_list(y, x, what, &r->phrases, &r->nphrases, err)) != LETHE_OK)
		return rc;
	if (r->nsubjects + r->nphrases == 0)
		return mbfail(y, v, err,
		              "mailbox rule '%s' needs subjects or phrases (what a mail that "
		              "asks for it says)",
		              r->name);
	x = ymap_get(y, v, "kind");
	s = ynode_str(x);
	if (s == NULL || s[0] == '\0' || !name_ok(s))
		return mbfail(y, x != NULL ? x : v, err,
		              "mailbox rule '%s': kind is missing (erasure, export or "
		              "restriction)",
		              r->name);
	r->kind = xstrdup(s);
	x = ymap_get(y, v, "scope");
	s = ynode_str(x);
	if (s == NULL || s[0] == '\0' || !text_ok(s))
		return mbfail(y, x != NULL ? x : v, err,
		              "mailbox rule '%s': scope is missing (a scope of the data map)",
		              r->name);
	r->scope = xstrdup(s);
	x = ymap_get(y, v, "identities");
	if (x == NULL)
		return mbfail(y, v, err,
		              "mailbox rule '%s': identities is missing (\"sender\" or claim "
		              "names, in order of preference)",
		              r->name);
	snprintf(what, sizeof(what), "mailbox rule '%s': identities", r->name);
	rc = get_list(y, x, what, &r->identities, &r->nidentities, err);
	if (rc != LETHE_OK)
		return rc;
	if (r->nidentities == 0)
		return mbfail(y, x, err, "mailbox rule '%s': identities must name at least one",
		              r->name);
	for (i = 0; i < r->nidentities; i++) {
		if (strcmp(r->identities[i], MAILBOX_SENDER) != 0 &&
		    mailbox_claim(mb, r->identities[i]) == NULL)
			return mbfail(y, x, err,
			              "mailbox rule '%s': identity '%s' is neither \"sender\" nor "
			              "a claim of mailbox.claims",
			              r->name, r->identities[i]);
		for (j = 0; j < i; j++)
			if (strcmp(r->identities[i], r->identities[j]) == 0)
				return mbfail(y, x, err,
				              "mailbox rule '%s': identity '%s' is named twice",
				              r->name, r->identities[i]);
	}
	x = ymap_get(y, v, "notify_from_body");
	if (x != NULL) {
		snprintf(what, sizeof(what), "mailbox rule '%s': notify_from_body", r->name);
		rc = get_bool(y, x, what, &r->notify_from_body, err);
	}
	if (rc == LETHE_OK && r->notify_from_body) {
		bool review = false;

		for (i = 0; i < r->nidentities; i++) {
			const struct mailbox_claim_conf *c = mailbox_claim(mb, r->identities[i]);

			review = review || (c != NULL && c->proof == MAILBOX_PROOF_REVIEW);
		}
		if (!review)
			rc = mbfail(y, x, err,
			            "mailbox rule '%s': notify_from_body is for review requests, "
			            "and none of its identities is a claim with proof: review",
			            r->name);
	}
	return rc;
}

/* The rules: sequence at @v. */
static lethe_rc
parse_rules(struct mailbox_config *mb, struct ydoc *y, yaml_node_t *v, struct lethe_err *err)
{
	size_t i, n;
	lethe_rc rc;

	if (!ynode_is_seq(v))
		return mbfail(y, v, err, "mailbox.rules must be a list of rules");
	n = ynode_len(v);
	if (n == 0)
		return mbfail(y, v, err, "mailbox.rules must have at least one rule");
	if (n > MAILBOX_RULES_MAX)
		return mbfail(y, v, err, "mailbox.rules: %zu rules (at most %d)", n,
		              MAILBOX_RULES_MAX);
	mb->rules = xcalloc(n, sizeof(*mb->rules));
	for (i = 0; i < n; i++) {
		mb->nrules = i + 1;
		rc = parse_rule(mb, &mb->rules[i], y, yseq_item(y, v, i), err);
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

/* The addresses: list at @v. */
static lethe_rc
parse_addresses(struct mailbox_config *mb, struct ydoc *y, yaml_node_t *v, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc = get_list(y, v, "mailbox.addresses", &mb->addresses, &mb->naddresses, err);

	for (i = 0; rc == LETHE_OK && i < mb->naddresses; i++)
		if (!mail_address_ok(mb->addresses[i]))
			rc = mbfail(y, v, err,
			            "mailbox.addresses: each must be an email address like "
			            "privacy@example.com");
	return rc;
}

/*
 * server.contact of @root into mb->contact when it is an email address
 * (lower-cased): a mail's body naming it does not make it the address to
 * notify.  Its type and presence are config.c's to check.
 */
static void
contact_address(struct mailbox_config *mb, struct ydoc *y, yaml_node_t *root)
{
	yaml_node_t *srv = ymap_get(y, root, "server"), *v;
	const char *s;

	if (srv == NULL || !ynode_is_map(srv) || (v = ymap_get(y, srv, "contact")) == NULL)
		return;
	s = ynode_str(v);
	if (s != NULL && mail_address_ok(s))
		mb->contact = fold(s);
}

lethe_rc
mailbox_config_parse(struct mailbox_config *mb, const char *dir, struct ydoc *y, yaml_node_t *root,
                     struct lethe_err *err)
{
	static const char *const keys[] = {
	    "addresses", "lmtp", "lmtp_remote", "lmtp_connections", "maildir", "poll",   "max_size",
	    "max_parts", "keep", "replies",     "code_labels",      "rules",   "claims", NULL};
	static const char *const code_labels[] = {"confirmation code", "request code", "code"};
	yaml_node_t *sec, *v;
	size_t i;
	lethe_rc rc = LETHE_OK;

	memset(mb, 0, sizeof(*mb));
	mb->lmtp_connections = 16;
	mb->poll_ms = 5000;
	mb->max_size = MB_MAX_SIZE_DEFAULT;
	mb->max_parts = 100;
	mb->keep_s = 30 * 86400;
	mb->reply_per_address = 3;
	mb->reply_total = 200;
	mb->reply_window_s = 3600;
	sec = ymap_get(y, root, "mailbox");
	if (sec == NULL)
		return LETHE_OK;
	for (i = 0; i < ynode_len(root); i++)
		if (ymap_val(y, root, i) == sec)
			mb->line = ynode_line(ymap_key(y, root, i));
	if (!ynode_is_map(sec))
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: mailbox must be a mapping (addresses, lmtp, rules, "
		                     "claims, ...)",
		                     y->path, mb->line);
	rc = ymap_check_keys(y, sec, keys, "mailbox", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = ymap_check_dups(y, sec, "mailbox", LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	mb->enabled = true;

	if ((v = ymap_get(y, sec, "addresses")) != NULL)
		rc = parse_addresses(mb, y, v, err);
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "lmtp_remote")) != NULL)
		rc = get_bool(y, v, "mailbox.lmtp_remote", &mb->lmtp_remote, err);
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "lmtp")) != NULL)
		rc = parse_lmtp(mb, dir, y, v, err);
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "lmtp_connections")) != NULL)
		rc = get_int(y, v, "mailbox.lmtp_connections", 1, 1024, &mb->lmtp_connections, err);
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "maildir")) != NULL) {
		const char *s = ynode_str(v);

		if (s == NULL || s[0] == '\0' || !text_ok(s))
			rc = mbfail(y, v, err, "mailbox.maildir must be a directory name");
		else
			mb->maildir = file_resolve(dir, s);
	}
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "poll")) != NULL) {
		rc = get_duration(y, v, "mailbox.poll", 1, 3600, "1s to 1h", &mb->poll_ms, err);
		mb->poll_ms *= 1000;
	}
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "max_size")) != NULL &&
	    (!size_parse(ynode_str(v), &mb->max_size) || mb->max_size < MB_MAX_SIZE_MIN ||
	     mb->max_size > MB_MAX_SIZE_MAX))
		rc = mbfail(y, v, err,
		            "mailbox.max_size must be a size from 64KB to 64MB (like "
		            "10MB; 1 KB = 1024 bytes)");
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "max_parts")) != NULL)
		rc = get_int(y, v, "mailbox.max_parts", 1, 10000, &mb->max_parts, err);
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "keep")) != NULL)
		rc = get_duration(y, v, "mailbox.keep", 3600, 366 * 86400, "1h to 366d",
		                  &mb->keep_s, err);
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "replies")) != NULL)
		rc = parse_replies(mb, y, v, err);
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "code_labels")) != NULL) {
		rc =
		    get_list(y, v, "mailbox.code_labels", &mb->code_labels, &mb->ncode_labels, err);
		if (rc == LETHE_OK && mb->ncode_labels == 0)
			rc = mbfail(y, v, err, "mailbox.code_labels must name at least one label");
	} else if (rc == LETHE_OK) {
		mb->ncode_labels = sizeof(code_labels) / sizeof(code_labels[0]);
		mb->code_labels = xcalloc(mb->ncode_labels, sizeof(char *));
		for (i = 0; i < mb->ncode_labels; i++)
			mb->code_labels[i] = xstrdup(code_labels[i]);
	}
	/* Claims before rules: a rule names claims. */
	if (rc == LETHE_OK && (v = ymap_get(y, sec, "claims")) != NULL)
		rc = parse_claims(mb, y, v, err);
	if (rc == LETHE_OK) {
		v = ymap_get(y, sec, "rules");
		if (v == NULL)
			rc = lethe_err_set(err, LETHE_E_CONFIG,
			                   "%s:%d: mailbox.rules is missing (at least one rule: "
			                   "which subjects or phrases ask for what)",
			                   y->path, mb->line);
		else
			rc = parse_rules(mb, y, v, err);
	}
	/* A mailbox that takes mail must know its own addresses: they are never replied to. */
	if (rc == LETHE_OK && (mb->lmtp != NULL || mb->maildir != NULL) && mb->naddresses == 0)
		rc = lethe_err_set(err, LETHE_E_CONFIG,
		                   "%s:%d: mailbox.addresses is missing: with lmtp or maildir, "
		                   "list the mailbox's own addresses (like [privacy@example.com]): "
		                   "lethe never replies to them",
		                   y->path, mb->line);
	if (rc == LETHE_OK)
		contact_address(mb, y, root);
	return rc;
}

void
mailbox_config_free(struct mailbox_config *mb)
{
	size_t i;

	strv_free(mb->addresses, mb->naddresses);
	free(mb->contact);
	free(mb->lmtp);
	free(mb->maildir);
	strv_free(mb->code_labels, mb->ncode_labels);
	for (i = 0; i < mb->nrules; i++) {
		struct mailbox_rule *r = &mb->rules[i];

		free(r->name);
		strv_free(r->subjects, r->nsubjects);
		strv_free(r->phrases, r->nphrases);
		free(r->kind);
		free(r->scope);
		strv_free(r->identities, r->nidentities);
	}
	free(mb->rules);
	for (i = 0; i < mb->nclaims; i++) {
		struct mailbox_claim_conf *c = &mb->claims[i];

		free(c->name);
		free(c->identity);
		strv_free(c->labels, c->nlabels);
		if (c->pattern != NULL)
			regfree(&c->re);
		free(c->pattern);
	}
	free(mb->claims);
	memset(mb, 0, sizeof(*mb));
}

const struct mailbox_claim_conf *
mailbox_claim(const struct mailbox_config *mb, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < mb->nclaims; i++)
		if (mb->claims[i].name != NULL && strcmp(mb->claims[i].name, name) == 0)
			return &mb->claims[i];
	return NULL;
}
