/* SPDX-License-Identifier: MIT */
/*
 * config_keys.c - the keys and secrets lethe.yaml names (see config.h):
 * the anonymize and outbox keys (an environment variable, else a key
 * file, created with a fresh random key where the caller allows), their
 * fingerprints, the API keys presented to the server (compared by
 * SHA-256 in constant time) and the Meta apps' secrets.  They are loaded
 * apart from config_load(), by the commands that need them; no key or
 * secret ever reaches a message.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "config/config.h"
#include "platform/platform_config.h"
#include "store/store.h"
#include "util/file.h"
#include "util/mem.h"

/*
 * A 32-byte key from environment variable @env if set, else from @file (64
 * hex digits), creating the file with a random key (mode 0600) if missing
 * and @create (else LETHE_E_NOTFOUND, nothing written).  @what names the
 * key in messages.
 */
static lethe_rc
load_hex_key(const char *env_name, const char *file, const char *what, const char *path,
             bool create, uint8_t key[HASH_KEY_LEN], struct lethe_err *err)
{
	const char *env = getenv(env_name);
	char hex[2 * HASH_KEY_LEN + 2];
	char buf[256];
	FILE *f = NULL;
	size_t n;
	int fd;

	if (env != NULL && env[0] != '\0') {
		if (hash_key_parse(env, key) != LETHE_OK)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s must hold 64 hex digits (a 32-byte key)",
			                     env_name);
		return LETHE_OK;
	}
	if (file == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "no %s key: set %s or %s.key_file in %s",
		                     what, env_name, what, path);
	f = fopen(file, "r");
	if (f == NULL && errno == ENOENT && !create)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "%s is not set and %s does not exist",
		                     env_name, file);
	if (f == NULL && errno == ENOENT) {
		uint8_t fresh[HASH_KEY_LEN];

		hash_key_random(fresh);
		hash_hex(fresh, HASH_KEY_LEN, hex);
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			return lethe_err_set(err, LETHE_E_CONFIG, "cannot create key file %s: %s",
			                     file, strerror(errno));
		n = strlen(hex);
		hex[n] = '\n';
		if (write(fd, hex, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0) {
			close(fd);
			return lethe_err_set(err, LETHE_E_CONFIG, "cannot write key file %s", file);
		}
		close(fd);
		memcpy(key, fresh, HASH_KEY_LEN);
		sodium_memzero(fresh, sizeof(fresh));
		sodium_memzero(hex, sizeof(hex));
		return LETHE_OK;
	}
	if (f == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG, "cannot open key file %s: %s", file,
		                     strerror(errno));
	snprintf(buf, sizeof(buf), "%s key file", what);
	file_warn_readable(file, buf);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (hash_key_parse(buf, key) != LETHE_OK)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "key file %s must hold 64 hex digits (a 32-byte key)", file);
	sodium_memzero(buf, sizeof(buf));
	return LETHE_OK;
}

lethe_rc
config_load_key_opt(struct lethe_config *cfg, bool create, struct lethe_err *err)
{
	lethe_rc rc;

	if (cfg->key_loaded)
		return LETHE_OK;
	rc = load_hex_key(cfg->key_env, cfg->key_file, "anonymize", cfg->path, create, cfg->key,
	                  err);
	cfg->key_loaded = rc == LETHE_OK;
	if (rc == LETHE_OK)
		store_audit_set_key(cfg->key); /* the audit chain's reason_mac */
	return rc;
}

lethe_rc
config_load_key(struct lethe_config *cfg, struct lethe_err *err)
{
	return config_load_key_opt(cfg, true, err);
}

void
config_key_fingerprint(const uint8_t key[HASH_KEY_LEN], const char *name,
                       char out[HASH_TEXT_LEN + 1])
{
	char constant[64];
	int n = snprintf(constant, sizeof(constant), "lethe-%s-key-fingerprint-v1", name);

	hash_keyed(key, constant, (size_t)n, out);
}

lethe_rc
config_load_outbox_key_opt(struct lethe_config *cfg, bool create, struct lethe_err *err)
{
	struct outbox_config *o = &cfg->outbox;
	lethe_rc rc;

	if (o->key_loaded)
		return LETHE_OK;
	rc = load_hex_key(o->key_env, o->key_file, "outbox", cfg->path, create, o->key, err);
	o->key_loaded = rc == LETHE_OK;
	return rc;
}

lethe_rc
config_load_outbox_key(struct lethe_config *cfg, struct lethe_err *err)
{
	return config_load_outbox_key_opt(cfg, true, err);
}

const struct api_key *
config_api_key(const struct lethe_config *cfg, const char *presented)
{
	return config_api_key_find(cfg->api_keys, cfg->napi_keys, presented);
}

const struct api_key *
config_api_key_find(const struct api_key *keys, size_t n, const char *presented)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	const struct api_key *found = NULL;
	size_t i;

	crypto_hash_sha256(h, (const unsigned char *)presented, strlen(presented));
	/* Every key is compared, in constant time, whatever matched. */
	for (i = 0; i < n; i++)
		if (crypto_verify_32(h, keys[i].sha256) == 0)
			found = &keys[i];
	sodium_memzero(h, sizeof(h));
	return found;
}

/* Read one app's secret into a->secret. */
static lethe_rc
load_secret(struct meta_app *a, struct lethe_err *err)
{
	char buf[1024];
	size_t n = 0;

	if (a->secret_env != NULL) {
		const char *v = getenv(a->secret_env);

		if (v == NULL || v[0] == '\0')
			return lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "Meta app '%s': environment variable %s is not set (it "
			    "must hold the app secret)",
			    a->name, a->secret_env);
		n = strlen(v);
		if (n >= sizeof(buf))
			return lethe_err_set(err, LETHE_E_CONFIG, "Meta app '%s': %s is too long",
			                     a->name, a->secret_env);
		memcpy(buf, v, n);
	} else {
		FILE *f = fopen(a->secret_file, "r");

		if (f == NULL)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "Meta app '%s': cannot read secret file %s: %s",
			                     a->name, a->secret_file, strerror(errno));
		file_warn_readable(a->secret_file, "secret file");
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
			n--;
		if (n == 0)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "Meta app '%s': secret file %s is empty", a->name,
			                     a->secret_file);
	}
	a->secret = xmalloc(n);
	memcpy(a->secret, buf, n);
	a->secret_len = n;
	sodium_memzero(buf, sizeof(buf));
	return LETHE_OK;
}

lethe_rc
config_load_secrets(struct lethe_config *cfg, struct lethe_err *err)
{
	size_t i;
	lethe_rc rc;

	for (i = 0; i < cfg->napps; i++) {
		if (cfg->apps[i].secret != NULL)
			continue;
		rc = load_secret(&cfg->apps[i], err);
		if (rc != LETHE_OK)
			return rc;
	}
	rc = mail_config_load_secrets(&cfg->mail, err);
	if (rc != LETHE_OK)
		return rc;
	return platforms_check_secrets(cfg->platforms, err);
}
