/* SPDX-License-Identifier: MIT */
/*
 * canon.c - canonical JSON and signed envelopes (see canon.h).
 *
 * jansson writes a control character as \u001B, Python's json.dumps() (the
 * definition published in docs/proof.md) as \u001b: canon_dump() lowers the
 * hex digits of every \u escape, the one place the two differ for the
 * values lethe signs (no reals; both leave other non-ASCII unescaped).
 */
#include "util/fmacros.h"

#include <string.h>

#include "audit/canon.h"
#include "util/mem.h"

/* True if @v holds a real anywhere. */
static bool
has_real(const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_real(v))
		return true;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x)
		{
			if (has_real(x))
				return true;
		}
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (has_real(x))
				return true;
		}
	}
	return false;
}

/* Lower the hex digits of each \uXXXX escape of jansson's output @s, in place. */
static void
lower_escapes(char *s)
{
	size_t i, j;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] != '\\')
			continue;
		i++; /* the escaped character: '\\' itself is skipped as a pair */
		if (s[i] == '\0')
			break;
		if (s[i] != 'u')
			continue;
		for (j = 1; j <= 4 && s[i + j] != '\0'; j++)
			if (s[i + j] >= 'A' && s[i + j] <= 'F')
				s[i + j] = (char)(s[i + j] - 'A' + 'a');
	}
}

char *
canon_dump(const json_t *v)
{
	char *s;

	if (v == NULL || has_real(v))
		return NULL;
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (s != NULL)
		lower_escapes(s);
	return s;
}

json_t *
canon_sign(const struct keys_ring *kr, const char *field, json_t *v, struct lethe_err *err)
{
	char sig[KEYS_SIG_B64], id[KEYS_ID_LEN + 1];
	char *bytes = canon_dump(v);
	json_t *doc = NULL;

	if (bytes == NULL) {
		lethe_err_set(err, LETHE_E_INTERNAL, "a signed value may not hold a real number");
		goto out;
	}
	if (keys_sign(kr, bytes, strlen(bytes), sig, id, err) != LETHE_OK)
		goto out;
	doc = json_pack("{s:O, s:{s:s, s:s, s:s}}", field, v, "signature", "alg", "Ed25519", "key",
	                id, "value", sig);
out:
	free(bytes);
	json_decref(v);
	return doc;
}

lethe_rc
canon_verify(const struct keys_ring *kr, const json_t *doc, const char *field, const json_t **v,
             const char **key_id, struct lethe_err *err)
{
	const json_t *val = json_is_object(doc) ? json_object_get(doc, field) : NULL;
	const json_t *sig = json_is_object(doc) ? json_object_get(doc, "signature") : NULL;
	const char *alg = json_string_value(json_object_get(sig, "alg"));
	const char *id = json_string_value(json_object_get(sig, "key"));
	const char *value = json_string_value(json_object_get(sig, "value"));
	char *bytes;
	lethe_rc rc;

	if (!json_is_object(val) || !json_is_object(sig) || id == NULL || value == NULL)
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "not a signed %s: expected {\"%s\": {...}, \"signature\": "
		                     "{\"alg\", \"key\", \"value\"}}",
		                     field, field);
	/* The file's text is never echoed: it may hold terminal escapes. */
	if (alg == NULL || strcmp(alg, "Ed25519") != 0)
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "the signature's algorithm %s is not Ed25519",
		                     alg == NULL ? "(none)" : "(another)");
	bytes = canon_dump(val);
	if (bytes == NULL)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "the %s holds a real number: lethe never signs one, so it "
		                     "was changed",
		                     field);
	rc = keys_verify(kr, id, bytes, strlen(bytes), value, err);
	free(bytes);
	if (rc == LETHE_OK) {
		if (v != NULL)
			*v = val;
		if (key_id != NULL)
			*key_id = id;
	}
	return rc;
}
