/* SPDX-License-Identifier: MIT */
/*
 * fuzz_signed_request.c - libFuzzer target for src/meta/signed_request.
 *
 * Each input is used twice:
 *  1. as a signed_request, verified under a fixed secret: must never crash,
 *     and must give one of the documented results;
 *  2. as a payload, signed with sr_sign() and verified again: an independent
 *     oracle (jansson's tree, not sr_verify's own checks) says whether it must
 *     be accepted, and if so with which fields; if not, the refusal must be
 *     INVALID or TOOBIG, never FORBIDDEN (it was signed correctly).
 * Any disagreement aborts, which libFuzzer reports as a crash.
 * Build and run with tests/fuzz/run.
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "meta/signed_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t secret[] = "fuzz-app-secret";
#define SECRET_LEN (sizeof(secret) - 1)

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_signed_request: %s\n", what);
		abort();
	}
}

static bool
id_ok(const json_t *v)
{
	const char *s;
	size_t i, n;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n < 1 || n > SR_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
		           s[i]) == NULL ||
		    s[i] == '\0')
			return false;
	return true;
}

/* Depth of the parsed tree: a scalar 0, a container 1 + its deepest child. */
static int
tree_depth(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;
	int d, max = 0;

	if (json_is_object(j)) {
		json_object_foreach(j, k, v)
		{
			d = tree_depth(v);
			max = d > max ? d : max;
		}
		return 1 + max;
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			d = tree_depth(v);
			max = d > max ? d : max;
		}
		return 1 + max;
	}
	return 0;
}

static bool
int_ok(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return v == NULL || (json_is_integer(v) && json_integer_value(v) >= 0);
}

/* Round trip of @data as a payload, checked against the oracle. */
static void
round_trip(const uint8_t *data, size_t size)
{
	struct sr_payload p;
	json_error_t jerr;
	json_t *root, *alg, *pid;
	bool want_ok = false;
	lethe_rc rc;
	char *sr;

	sr = sr_sign((const char *)data, size, secret, SECRET_LEN);
	check(sr != NULL, "sr_sign returned NULL");
	check(strchr(sr, '=') == NULL, "sr_sign padded its output");
	rc = sr_verify(sr, strlen(sr), secret, SECRET_LEN, &p, NULL);

	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (size > 0 && memchr(data, '\0', size) == NULL && json_is_object(root) &&
	    tree_depth(root) <= SR_JSON_MAX_DEPTH) {
		alg = json_object_get(root, "algorithm");
		pid = json_object_get(root, "profile_id");
		want_ok = json_is_string(alg) &&
		          strcmp(json_string_value(alg), SR_ALGORITHM) == 0 &&
		          id_ok(json_object_get(root, "user_id")) && (pid == NULL || id_ok(pid)) &&
		          int_ok(root, "issued_at") && int_ok(root, "expires");
	}
	if (strlen(sr) > SR_MAX_LEN) {
		check(rc == LETHE_E_TOOBIG, "over SR_MAX_LEN but not TOOBIG");
	} else if (want_ok) {
		check(rc == LETHE_OK, "valid signed payload refused");
		check(strcmp(p.user_id, json_string_value(json_object_get(root, "user_id"))) == 0,
		      "user_id differs");
		pid = json_object_get(root, "profile_id");
		check(strcmp(p.profile_id, pid != NULL ? json_string_value(pid) : "") == 0,
		      "profile_id differs");
		check(p.has_issued_at == (json_object_get(root, "issued_at") != NULL),
		      "has_issued_at differs");
		check(!p.has_issued_at ||
		          p.issued_at == json_integer_value(json_object_get(root, "issued_at")),
		      "issued_at differs");
		check(p.has_expires == (json_object_get(root, "expires") != NULL),
		      "has_expires differs");
		check(!p.has_expires ||
		          p.expires == json_integer_value(json_object_get(root, "expires")),
		      "expires differs");
	} else {
		check(rc == LETHE_E_INVALID, "invalid signed payload not refused as INVALID");
		check(p.user_id[0] == '\0', "user_id left behind on failure");
	}
	json_decref(root);
	free(sr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lethe_err err = {0};
	struct sr_payload p;
	lethe_rc rc;
	size_t i;

	rc = sr_verify((const char *)data, size, secret, SECRET_LEN, &p, &err);
	check(rc == LETHE_OK || rc == LETHE_E_INVALID || rc == LETHE_E_FORBIDDEN ||
	          rc == LETHE_E_TOOBIG,
	      "unexpected result");
	check((rc == LETHE_E_TOOBIG) == (size > SR_MAX_LEN), "TOOBIG iff over SR_MAX_LEN");
	if (rc != LETHE_OK) {
		check(err.rc == rc && err.msg[0] != '\0', "failure without detail");
	} else {
		check(p.user_id[0] != '\0', "accepted without user_id");
		for (i = 0; p.user_id[i] != '\0'; i++)
			check(i < SR_ID_MAX, "user_id too long");
	}
	round_trip(data, size);
	return 0;
}
