/* SPDX-License-Identifier: MIT */
/*
 * cmd_apikey.c - `lethe api-key`: a fresh random app API key and the
 * configuration that admits it (only its SHA-256 goes into lethe.yaml): the
 * whole api: section, valid YAML to paste over the demo's "keys: []", and
 * the same entry in flow style.  With --admin, a key of the operator API
 * and its api.admin_keys entry instead.
 */
#include "util/fmacros.h"

#include <sodium.h>

#include "cli/cli.h"
#include "util/hash.h"

#define KEY_BYTES 32

static bool
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789-_") == n;
}

int
cmd_apikey(const struct cli_args *a)
{
	const char *name = "app";
	uint8_t raw[KEY_BYTES], h[crypto_hash_sha256_BYTES];
	char key[2 * KEY_BYTES + 8], hex[2 * crypto_hash_sha256_BYTES + 1];

	bool admin = cli_arg_flag(a, "admin");

	name = cli_arg_str(a, "name", admin ? "admin" : name);
	if (!name_ok(name))
		return cli_usage_fail(a, "--name takes letters, digits, - and _ (at most 64)");
	if (hash_init() != LETHE_OK) {
		fprintf(stderr, "lethe: error: libsodium failed to initialise\n");
		return 1;
	}
	randombytes_buf(raw, sizeof(raw));
	memcpy(key, "lk_", 3);
	hash_hex(raw, sizeof(raw), key + 3);
	crypto_hash_sha256(h, (const uint8_t *)key, strlen(key));
	hash_hex(h, sizeof(h), hex);
	printf("%s\n", key);
	if (admin) {
		printf(
		    "# The key above opens the operator API (/v1/admin/...): keep it with the\n"
		    "# operators.  In lethe.yaml, under api:, add these lines (to a list that has\n"
		    "# keys already, only the line \"- {...}\"), then reload lethe serve (kill "
		    "-HUP):\n");
		printf("  admin_keys:\n    - {name: %s, sha256: %s}\n", name, hex);
		printf("# in flow style: admin_keys: [{name: %s, sha256: %s}]\n", name, hex);
		goto out;
	}
	printf("# Give the key above to the app.  In lethe.yaml, replace the api: section\n"
	       "# (in the demo: \"api:\" and \"keys: []\") with these lines, then reload\n"
	       "# lethe serve (kill -HUP):\n");
	printf("api:\n  keys:\n    - {name: %s, sha256: %s}\n", name, hex);
	printf("# To a list that has keys already, add only the line \"- {...}\" above;\n"
	       "# in flow style: keys: [{name: %s, sha256: %s}]\n",
	       name, hex);
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(key, sizeof(key));
	return 0;
}
