/* SPDX-License-Identifier: MIT */
/*
 * proof.c - the `proof:` section of lethe.yaml: the signing keys, the audit
 * chain's checkpoints, the residual scan, the restore check and the
 * recipients of erasure notices (config.h, docs/proof.md).
 *
 * Parsing is strict like the rest of the configuration: an unknown key, a
 * bad duration, a recipient without name or URL, a name of more than 31
 * characters (the outbox's platform column), a URL that is not http:// or
 * https:// with a host, a name twice, an unknown event or an empty events
 * list is LETHE_E_CONFIG "lethe.yaml:LINE: what" (never the URL itself: it
 * may hold a token).  A notice carries identity values, so plain http:// is
 * refused unless its host is this machine (127.0.0.0/8, ::1, localhost) or
 * the recipient says `insecure: true`, which proof_config_check() then
 * warns about at start, naming the recipient only.  The recipients'
 * identity kinds live in the data map: proof_config_check() checks them at
 * start.  The keys are loaded apart (config_load_signing_keys()), as the
 * other keys are, so a command that signs nothing never creates a key
 * file.
 */
#include "util/fmacros.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "audit/keys.h"
#include "config/config.h"
#include "datamap/datamap.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

#define PROOF_RECIPIENTS_MAX 16
#define PROOF_NAME_MAX 31 /* the outbox's platform column (struct store_outbox) holds 31 */
#define PROOF_URL_MAX 2048

static const char *const proof_events[] = {"completed", "completed_with_retention", NULL};

/* A configuration error at @n: "lethe.yaml:LINE: what". */
#define pfail(y, n, err, ...) ynode_fail(y, n, LETHE_E_CONFIG, err, __VA_ARGS__)

/* @s resolved against @dir unless absolute; caller frees. */
static char *
resolve(const char *dir, const char *s)
{
	return s[0] == '/' ? xstrdup(s) : xasprintf("%s/%s", dir, s);
}

static lethe_rc
get_bool(struct ydoc *y, yaml_node_t *v, const char *what, bool *out, struct lethe_err *err)
{
	const char *s = ynode_str(v);

	if (s != NULL && strcmp(s, "true") == 0)
		*out = true;
	else if (s != NULL && strcmp(s, "false") == 0)
		*out = false;
	else
		return pfail(y, v, err, "%s must be true or false", what);
	return LETHE_OK;
}

/* A sequence of non-empty scalars into *@out (*@n of them). */
static lethe_rc
get_list(struct ydoc *y, yaml_node_t *v, const char *what, char ***out, size_t *n,
         struct lethe_err *err)
{
	size_t i, len;

	if (!ynode_is_seq(v))
		return pfail(y, v, err, "%s must be a list", what);
	len = ynode_len(v);
	*out = xcalloc(len + 1, sizeof(**out));
	for (i = 0; i < len; i++) {
		const char *s = ynode_str(yseq_item(y, v, i));

		if (s == NULL || s[0] == '\0')
			return pfail(y, yseq_item(y, v, i), err,
			             "%s: item %zu must be a non-empty "
			             "string",
			             what, i + 1);
		(*out)[(*n)++] = xstrdup(s);
	}
	return LETHE_OK;
}

static bool
name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > PROOF_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return false;
	return true;
}

/* True if host @name (as libcurl gives it: IPv6 in brackets) is this machine. */
static bool
host_loopback(const char *name)
{
	unsigned char a[16];
	char v6[64];
	size_t n = strlen(name);

	if (strcasecmp(name, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, name, a) == 1)
		return a[0] == 127;
	if (n < 3 || n - 2 >= sizeof(v6) || name[0] != '[' || name[n - 1] != ']')
		return false;
	memcpy(v6, name + 1, n - 2);
	v6[n - 2] = '\0';
	return inet_pton(AF_INET6, v6, a) == 1 && memcmp(a, &in6addr_loopback, sizeof(a)) == 0;
}

/*
 * An http:// or https:// URL with a host, as libcurl reads it; *@plain
 * says whether it is http:// to a host other than this machine.
 */
static bool
url_ok(const char *s, bool *plain)
{
	const char *host = strstr(s, "://");
	CURLU *u = NULL;
	char *scheme = NULL, *name = NULL;
	bool ok = false;

	*plain = false;
	/* libcurl would read "http:///x" as host x: an authority must come first. */
	if (strlen(s) > PROOF_URL_MAX || strpbrk(s, " \t\r\n") != NULL ||
	    (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) || host == NULL ||
	    host[3] == '/' || host[3] == '\0')
		return false;
	u = curl_url();
	if (u != NULL && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &name, 0) == CURLUE_OK)
		ok = (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
		     name[0] != '\0';
	if (ok)
		*plain = strcmp(scheme, "http") == 0 && !host_loopback(name);
	curl_free(scheme);
	curl_free(name);
	curl_url_cleanup(u);
	return ok;
}

static lethe_rc
parse_recipient(struct proof_config *p, struct ydoc *y, yaml_node_t *r, struct lethe_err *err)
{
	static const char *const keys[] = {"name", "url", "identities", "events", "insecure", NULL};
	struct proof_recipient *pr = &p->recipients[p->nrecipients];
	yaml_node_t *v;
	const char *s;
	size_t i, j;
	bool plain = false;
	lethe_rc rc;

	if (!ynode_is_map(r))
		return pfail(y, r, err, "each proof.recipients item must be a mapping");
	rc = ymap_check_keys(y, r, keys, "a proof recipient", LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	p->nrecipients++;
	pr->line = ynode_line(r);
	s = ynode_str(ymap_get(y, r, "name"));
	if (s == NULL || !name_ok(s))
		return pfail(y, r, err,
		             "a proof recipient needs a name of lower-case letters, digits, '-' "
		             "or '_' (at most %d)",
		             PROOF_NAME_MAX);
	for (i = 0; i + 1 < p->nrecipients; i++)
		if (strcmp(p->recipients[i].name, s) == 0)
			return pfail(y, r, err, "proof recipient '%s' is named twice", s);
	pr->name = xstrdup(s);
	s = ynode_str(ymap_get(y, r, "url"));
	if (s == NULL || !url_ok(s, &plain))
		return pfail(y, r, err,
		             "proof recipient '%s' needs a url: http:// or https://, a host, "
		             "no spaces, at most %d characters",
		             pr->name, PROOF_URL_MAX);
	pr->url = xstrdup(s);
	v = ymap_get(y, r, "insecure");
	if (v != NULL) {
		char *what = xasprintf("proof recipient '%s': insecure", pr->name);

		rc = get_bool(y, v, what, &pr->insecure, err);
		free(what);
		if (rc != LETHE_OK)
			return rc;
	}
	if (plain && !pr->insecure)
		return pfail(y, r, err,
		             "proof recipient '%s': its url is plain http:// to another host, "
		             "and a notice carries personal data: use https:// (or, knowingly, "
		             "insecure: true)",
		             pr->name);
	v = ymap_get(y, r, "identities");
	if (v != NULL)
		rc = get_list(y, v, "identities", &pr->identities, &pr->nidentities, err);
	v = ymap_get(y, r, "events");
	if (rc == LETHE_OK && v != NULL)
		rc = get_list(y, v, "events", &pr->events, &pr->nevents, err);
	/* An empty list would silently mean every event (the default below). */
	if (rc == LETHE_OK && v != NULL && pr->nevents == 0)
		rc = pfail(y, v, err,
		           "proof recipient '%s': events must name at least one of completed, "
		           "completed_with_retention (or be left out: both)",
		           pr->name);
	for (i = 0; rc == LETHE_OK && i < pr->nevents; i++) {
		bool known = false;

		for (j = 0; proof_events[j] != NULL; j++)
			known = known || strcmp(proof_events[j], pr->events[i]) == 0;
		if (!known)
			rc = pfail(y, v, err,
			           "proof recipient '%s': unknown event '%s' (expected: completed, "
			           "completed_with_retention)",
			           pr->name, pr->events[i]);
	}
	if (rc == LETHE_OK && pr->nevents == 0) {
		pr->events = xcalloc(3, sizeof(*pr->events));
		pr->events[pr->nevents++] = xstrdup("completed");
		pr->events[pr->nevents++] = xstrdup("completed_with_retention");
	}
	return rc;
}

lethe_rc
proof_config_parse(struct proof_config *p, const char *dir, const char *state_db, struct ydoc *y,
                   struct yaml_node_s *root, struct lethe_err *err)
{
	static const char *const keys[] = {
	    "signing_key_file", "previous_keys", "checkpoint_interval", "scan",
	    "reapply_at_start", "recipients",    "notify_timeout",      NULL};
	yaml_node_t *sec = ymap_get(y, root, "proof"), *v;
	lethe_rc rc = LETHE_OK;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->path = xstrdup(y->path);
	p->checkpoint_interval = 60;
	p->scan = true;
	p->reapply_at_start = true;
	p->notify_timeout_ms = 10000;
	if (sec != NULL && !ynode_is_null(sec)) {
		p->line = ynode_line(sec);
		if (!ynode_is_map(sec))
			return pfail(y, sec, err, "expected a mapping for proof");
		rc = ymap_check_keys(y, sec, keys, "proof", LETHE_E_CONFIG, err);
		v = ymap_get(y, sec, "signing_key_file");
		if (rc == LETHE_OK && v != NULL) {
			const char *s = ynode_str(v);

			if (s == NULL || s[0] == '\0')
				rc = pfail(y, v, err, "proof.signing_key_file must be a file name");
			else
				p->signing_key_file = resolve(dir, s);
		}
		v = ymap_get(y, sec, "previous_keys");
		if (rc == LETHE_OK && v != NULL) {
			rc = get_list(y, v, "proof.previous_keys", &p->previous_keys,
			              &p->nprevious_keys, err);
			for (i = 0; rc == LETHE_OK && i < p->nprevious_keys; i++) {
				char *r = resolve(dir, p->previous_keys[i]);

				free(p->previous_keys[i]);
				p->previous_keys[i] = r;
			}
		}
		v = ymap_get(y, sec, "checkpoint_interval");
		if (rc == LETHE_OK && v != NULL) {
			const char *s = ynode_str(v);
			int64_t n = 0;

			if (s == NULL || duration_parse(s, &n) != LETHE_OK || n < 1 || n > 86400)
				rc = pfail(
				    y, v, err,
				    "proof.checkpoint_interval must be a duration from 1s to 1d");
			p->checkpoint_interval = n;
		}
		v = ymap_get(y, sec, "notify_timeout");
		if (rc == LETHE_OK && v != NULL) {
			const char *s = ynode_str(v);
			int64_t n = 0;

			if (s == NULL || duration_parse(s, &n) != LETHE_OK || n < 1 || n > 300)
				rc = pfail(y, v, err,
				           "proof.notify_timeout must be a duration from 1s to 5m");
			p->notify_timeout_ms = n * 1000;
		}
		v = ymap_get(y, sec, "scan");
		if (rc == LETHE_OK && v != NULL)
			rc = get_bool(y, v, "proof.scan", &p->scan, err);
		v = ymap_get(y, sec, "reapply_at_start");
		if (rc == LETHE_OK && v != NULL)
			rc = get_bool(y, v, "proof.reapply_at_start", &p->reapply_at_start, err);
		v = ymap_get(y, sec, "recipients");
		if (rc == LETHE_OK && v != NULL) {
			if (!ynode_is_seq(v) || ynode_len(v) > PROOF_RECIPIENTS_MAX)
				rc = pfail(y, v, err,
				           "proof.recipients must be a list of at most %d",
				           PROOF_RECIPIENTS_MAX);
			else
				p->recipients = xcalloc(ynode_len(v) + 1, sizeof(*p->recipients));
			for (i = 0; rc == LETHE_OK && i < ynode_len(v); i++)
				rc = parse_recipient(p, y, yseq_item(y, v, i), err);
		}
	}
	if (rc == LETHE_OK && p->signing_key_file == NULL) {
		char *copy = xstrdup(state_db);

		p->signing_key_file = xasprintf("%s/signing.key", dirname(copy));
		free(copy);
	}
	return rc;
}

static void
free_list(char **l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void
proof_config_free(struct proof_config *p)
{
	size_t i;

	for (i = 0; i < p->nrecipients; i++) {
		free(p->recipients[i].name);
		free(p->recipients[i].url);
		free_list(p->recipients[i].identities, p->recipients[i].nidentities);
		free_list(p->recipients[i].events, p->recipients[i].nevents);
	}
	free(p->recipients);
	free(p->signing_key_file);
	free(p->path);
	free_list(p->previous_keys, p->nprevious_keys);
	if (p->keys != NULL) {
		keys_ring_wipe(p->keys);
		free(p->keys);
	}
	memset(p, 0, sizeof(*p));
}

lethe_rc
config_load_signing_keys(struct lethe_config *cfg, bool create, struct lethe_err *err)
{
	struct proof_config *p = &cfg->proof;
	struct keys_ring *kr;
	lethe_rc rc;

	if (p->keys != NULL)
		return LETHE_OK;
	kr = xcalloc(1, sizeof(*kr));
	rc = keys_ring_load(kr, p->signing_key_file, create, (const char *const *)p->previous_keys,
	                    p->nprevious_keys, err);
	if (rc != LETHE_OK) {
		free(kr);
		return rc;
	}
	p->keys = kr;
	return LETHE_OK;
}

lethe_rc
proof_config_check(const struct proof_config *p, const struct datamap *dm, struct lethe_err *err)
{
	size_t i, j;

	for (i = 0; i < p->nrecipients; i++)
		for (j = 0; j < p->recipients[i].nidentities; j++)
			if (!datamap_has_identity(dm, p->recipients[i].identities[j]))
				return lethe_err_set(err, LETHE_E_CONFIG,
				                     "%s:%d: proof recipient '%s': "
				                     "identity kind '%s' is not "
				                     "declared in the data map",
				                     p->path != NULL ? p->path : "lethe.yaml",
				                     p->recipients[i].line, p->recipients[i].name,
				                     p->recipients[i].identities[j]);
	for (i = 0; i < p->nrecipients; i++) {
		bool plain = false;

		if (p->recipients[i].insecure && url_ok(p->recipients[i].url, &plain) && plain)
			log_warnx("%s:%d: proof recipient '%s' gets its notices over plain http "
			          "(insecure: true): the identities and receipts in them cross the "
			          "network unencrypted",
			          p->path != NULL ? p->path : "lethe.yaml", p->recipients[i].line,
			          p->recipients[i].name);
	}
	return LETHE_OK;
}
