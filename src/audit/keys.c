/* SPDX-License-Identifier: MIT */
/*
 * keys.c - Ed25519 signing keys (see keys.h).
 *
 * The secret key file holds only the seed (64 hex digits); the key pair is
 * derived from it with crypto_sign_seed_keypair().  Seeds and secret keys
 * are wiped from every buffer they pass through.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/keys.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/mem.h"

#define KEYFILE_MAX 512 /* bytes of a key file read */

static void
key_id(const uint8_t pk[crypto_sign_PUBLICKEYBYTES], char id[KEYS_ID_LEN + 1])
{
	uint8_t h[32];

	crypto_generichash(h, sizeof(h), pk, crypto_sign_PUBLICKEYBYTES, NULL, 0);
	hash_hex(h, KEYS_ID_LEN / 2, id);
}

/* Add public key @pk to @kr unless it is there already. */
static lethe_rc
ring_add_public(struct keys_ring *kr, const uint8_t *pk, const char *file, struct lethe_err *err)
{
	struct keys_key *k;
	size_t i;

	for (i = 0; i < kr->n; i++)
		if (memcmp(kr->keys[i].pk, pk, crypto_sign_PUBLICKEYBYTES) == 0)
			return LETHE_OK;
	if (kr->n >= KEYS_MAX)
		return lethe_err_set(err, LETHE_E_CONFIG, "%s: more than %d signing keys", file,
		                     KEYS_MAX);
	k = &kr->keys[kr->n++];
	memset(k, 0, sizeof(*k));
	memcpy(k->pk, pk, crypto_sign_PUBLICKEYBYTES);
	key_id(k->pk, k->id);
	return LETHE_OK;
}

/* Read @path (at most KEYFILE_MAX - 1 bytes) into @buf; errno-style failure as LETHE_E_*. */
static lethe_rc
read_small(const char *path, char *buf, size_t cap, struct lethe_err *err)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL && errno == ENOENT)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "key file %s does not exist", path);
	if (f == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "cannot open key file %s: %s", path,
		                     strerror(errno));
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return LETHE_OK;
}

/* Trim @s in place; returns it. */
static char *
trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* A seed (64 hex digits) into @seed; false if @s is not one. */
static bool
parse_seed(const char *s, uint8_t seed[crypto_sign_SEEDBYTES])
{
	size_t n = 0;

	return strlen(s) == 2 * crypto_sign_SEEDBYTES &&
	       sodium_hex2bin(seed, crypto_sign_SEEDBYTES, s, strlen(s), NULL, &n, NULL) == 0 &&
	       n == crypto_sign_SEEDBYTES;
}

/* A base64 public key into @pk; false if @s is not one. */
static bool
parse_public(const char *s, uint8_t pk[crypto_sign_PUBLICKEYBYTES])
{
	size_t n = 0;

	return sodium_base642bin(pk, crypto_sign_PUBLICKEYBYTES, s, strlen(s), NULL, &n, NULL,
	                         sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       n == crypto_sign_PUBLICKEYBYTES;
}

lethe_rc
keys_generate(const char *path, struct lethe_err *err)
{
	uint8_t seed[crypto_sign_SEEDBYTES];
	char hex[2 * crypto_sign_SEEDBYTES + 2];
	size_t n;
	int fd;
	lethe_rc rc = LETHE_OK;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return lethe_err_set(err, LETHE_E_CONFIG, "cannot create key file %s: %s", path,
		                     strerror(errno));
	randombytes_buf(seed, sizeof(seed));
	sodium_bin2hex(hex, sizeof(hex), seed, sizeof(seed));
	n = strlen(hex);
	hex[n] = '\n';
	if (write(fd, hex, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0)
		rc = lethe_err_set(err, LETHE_E_IO, "cannot write key file %s", path);
	close(fd);
	if (rc != LETHE_OK)
		unlink(path);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

/* Load the signing key of @path into keys[0] (creating it if @create). */
static lethe_rc
load_secret(struct keys_ring *kr, const char *path, bool create, struct lethe_err *err)
{
	char buf[KEYFILE_MAX];
	uint8_t seed[crypto_sign_SEEDBYTES];
	struct keys_key *k = &kr->keys[0];
	lethe_rc rc;

	rc = read_small(path, buf, sizeof(buf), err);
	if (rc == LETHE_E_NOTFOUND && create) {
		rc = keys_generate(path, err);
		if (rc == LETHE_OK)
			rc = read_small(path, buf, sizeof(buf), err);
	}
	if (rc != LETHE_OK)
		return rc;
	file_warn_readable(path, "signing key file");
	if (!parse_seed(trim(buf), seed)) {
		sodium_memzero(buf, sizeof(buf));
		return lethe_err_set(
		    err, LETHE_E_CONFIG,
		    "signing key file %s must hold 64 hex digits (an Ed25519 seed)", path);
	}
	sodium_memzero(buf, sizeof(buf));
	memset(k, 0, sizeof(*k));
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
	sodium_memzero(seed, sizeof(seed));
	k->has_secret = true;
	key_id(k->pk, k->id);
	kr->n = 1;
	return LETHE_OK;
}

/* Add the public half of the key in @path (a seed in hex or a public key in base64). */
static lethe_rc
load_previous(struct keys_ring *kr, const char *path, struct lethe_err *err)
{
	char buf[KEYFILE_MAX], *s;
	uint8_t seed[crypto_sign_SEEDBYTES];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	lethe_rc rc = read_small(path, buf, sizeof(buf), err);

	if (rc == LETHE_E_NOTFOUND)
		return lethe_err_set(err, LETHE_E_CONFIG, "previous key file %s does not exist",
		                     path);
	if (rc != LETHE_OK)
		return rc;
	s = trim(buf);
	if (parse_seed(s, seed)) {
		crypto_sign_seed_keypair(pk, sk, seed);
		sodium_memzero(seed, sizeof(seed));
		sodium_memzero(sk, sizeof(sk));
	} else if (!parse_public(s, pk)) {
		sodium_memzero(buf, sizeof(buf));
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "previous key file %s must hold an Ed25519 public key in "
		                     "base64 or a seed in hex",
		                     path);
	}
	sodium_memzero(buf, sizeof(buf));
	return ring_add_public(kr, pk, path, err);
}

lethe_rc
keys_ring_load(struct keys_ring *kr, const char *secret_path, bool create,
               const char *const *prev_paths, size_t nprev, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc = LETHE_OK;

	memset(kr, 0, sizeof(*kr));
	if (secret_path != NULL)
		rc = load_secret(kr, secret_path, create, err);
	for (i = 0; rc == LETHE_OK && i < nprev; i++)
		rc = load_previous(kr, prev_paths[i], err);
	if (rc != LETHE_OK)
		keys_ring_wipe(kr);
	return rc;
}

lethe_rc
keys_ring_parse(struct keys_ring *kr, const char *text, struct lethe_err *err)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr), *arr, *k;
	size_t i;
	lethe_rc rc = LETHE_OK;

	memset(kr, 0, sizeof(*kr));
	arr = json_is_object(doc) ? json_object_get(doc, "keys") : NULL;
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		json_decref(doc);
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "not a keys document: expected {\"keys\": [{\"id\", \"alg\", "
		                     "\"public\"}, ...]}");
	}
	json_array_foreach(arr, i, k)
	{
		const char *alg = json_string_value(json_object_get(k, "alg"));
		const char *pub = json_string_value(json_object_get(k, "public"));
		uint8_t pk[crypto_sign_PUBLICKEYBYTES];

		if (alg == NULL || strcmp(alg, "Ed25519") != 0 || pub == NULL ||
		    !parse_public(pub, pk)) {
			rc = lethe_err_set(err, LETHE_E_USAGE,
			                   "keys document: key %zu is not an Ed25519 public key in "
			                   "base64",
			                   i + 1);
			break;
		}
		rc = ring_add_public(kr, pk, "keys document", err);
		if (rc != LETHE_OK) {
			rc = LETHE_E_USAGE;
			break;
		}
	}
	json_decref(doc);
	return rc;
}

void
keys_ring_wipe(struct keys_ring *kr)
{
	sodium_memzero(kr, sizeof(*kr));
}

bool
keys_ring_can_sign(const struct keys_ring *kr)
{
	return kr != NULL && kr->n > 0 && kr->keys[0].has_secret;
}

json_t *
keys_ring_json(const struct keys_ring *kr)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < kr->n; i++) {
		char b64[sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES,
		                                   sodium_base64_VARIANT_ORIGINAL)];

		sodium_bin2base64(b64, sizeof(b64), kr->keys[i].pk, crypto_sign_PUBLICKEYBYTES,
		                  sodium_base64_VARIANT_ORIGINAL);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b}", "id", kr->keys[i].id,
		                                     "alg", "Ed25519", "public", b64, "current",
		                                     i == 0 && kr->keys[i].has_secret));
	}
	return json_pack("{s:o}", "keys", arr);
}

bool
keys_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || strlen(id) != KEYS_ID_LEN)
		return false;
	for (i = 0; i < KEYS_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

const struct keys_key *
keys_ring_find(const struct keys_ring *kr, const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < kr->n; i++)
		if (strcmp(kr->keys[i].id, id) == 0)
			return &kr->keys[i];
	return NULL;
}

lethe_rc
keys_sign(const struct keys_ring *kr, const void *msg, size_t len, char sig_b64[KEYS_SIG_B64],
          char key_id_out[KEYS_ID_LEN + 1], struct lethe_err *err)
{
	uint8_t sig[crypto_sign_BYTES];

	if (!keys_ring_can_sign(kr))
		return lethe_err_set(err, LETHE_E_CONFIG, "no signing key is loaded");
	crypto_sign_detached(sig, NULL, msg, len, kr->keys[0].sk);
	sodium_bin2base64(sig_b64, KEYS_SIG_B64, sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
	memcpy(key_id_out, kr->keys[0].id, KEYS_ID_LEN + 1);
	return LETHE_OK;
}

lethe_rc
keys_verify(const struct keys_ring *kr, const char *id, const void *msg, size_t len,
            const char *sig_b64, struct lethe_err *err)
{
	const struct keys_key *k = keys_ring_find(kr, id);
	uint8_t sig[crypto_sign_BYTES];
	size_t n = 0;

	if (k == NULL)
		return lethe_err_set(err, LETHE_E_NOTFOUND,
		                     "signed by key %s, which is not among the published keys",
		                     keys_id_ok(id) ? id : "(not a key id)");
	if (sig_b64 == NULL ||
	    sodium_base642bin(sig, sizeof(sig), sig_b64, strlen(sig_b64), NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != sizeof(sig) || crypto_sign_verify_detached(sig, msg, len, k->pk) != 0)
		return lethe_err_set(err, LETHE_E_FORBIDDEN,
		                     "the signature does not verify with key %s: the signed "
		                     "content was changed, or the signature is not its",
		                     k->id);
	return LETHE_OK;
}
