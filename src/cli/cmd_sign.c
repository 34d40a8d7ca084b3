/* SPDX-License-Identifier: MIT */
/*
 * cmd_sign.c - `lethe sign-request`: build a Meta signed_request, to test
 * lethe's Meta callbacks (or any other receiver) without Meta.
 *
 * The secret comes from an environment variable or a file, never from the
 * command line (where ps and shell history would show it); it is wiped from
 * memory once used and never printed.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <time.h>

#include "cli/cli.h"
#include "meta/signed_request.h"

#define SIGN_SECRET_MAX 4096 /* longest secret read from --secret-file, bytes */

/* Read the secret in @path into @buf (SIGN_SECRET_MAX + 1 bytes); *@n its length. */
static lethe_rc
secret_read_file(const char *path, char *buf, size_t *n, struct lethe_err *err)
{
	FILE *f = fopen(path, "rb");
	size_t got;
	bool bad;

	if (f == NULL)
		return lethe_err_set(err, LETHE_E_IO, "--secret-file %s: %s", path,
		                     strerror(errno));
	got = fread(buf, 1, SIGN_SECRET_MAX + 1, f);
	bad = ferror(f) != 0;
	fclose(f);
	if (bad)
		return lethe_err_set(err, LETHE_E_IO, "--secret-file %s: read error", path);
	if (got > SIGN_SECRET_MAX)
		return lethe_err_set(err, LETHE_E_TOOBIG, "--secret-file %s: longer than %d bytes",
		                     path, SIGN_SECRET_MAX);
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	*n = got;
	return LETHE_OK;
}

int
cmd_sign(const struct cli_args *a)
{
	const char *env_var = NULL, *file = NULL, *user_id = NULL, *alg = SR_ALGORITHM;
	const char *env_val;
	char secret[SIGN_SECRET_MAX + 1];
	size_t secret_len = 0;
	struct lethe_err err = {0};
	int64_t issued_at = (int64_t)time(NULL);
	json_t *payload = NULL;
	char *json = NULL, *sr = NULL;
	int status = 0;
	lethe_rc rc = LETHE_OK;

	env_var = cli_arg_str(a, "secret-env", NULL);
	file = cli_arg_str(a, "secret-file", NULL);
	user_id = cli_arg_str(a, "user-id", NULL);
	issued_at = cli_arg_int(a, "issued-at", issued_at);
	alg = cli_arg_str(a, "algorithm", alg);
	if ((env_var == NULL) == (file == NULL))
		rc = lethe_err_set(&err, LETHE_E_USAGE,
		                   "give exactly one of --secret-env VAR and --secret-file PATH");
	else if (user_id == NULL || user_id[0] == '\0')
		rc = lethe_err_set(&err, LETHE_E_USAGE, "--user-id ID is required");
	if (rc == LETHE_OK && env_var != NULL) {
		env_val = getenv(env_var);
		if (env_val == NULL || env_val[0] == '\0') {
			rc = lethe_err_set(&err, LETHE_E_USAGE,
			                   "environment variable %s is unset or empty", env_var);
		} else if (strlen(env_val) > SIGN_SECRET_MAX) {
			rc = lethe_err_set(&err, LETHE_E_USAGE, "%s: longer than %d bytes", env_var,
			                   SIGN_SECRET_MAX);
		} else {
			secret_len = strlen(env_val);
			memcpy(secret, env_val, secret_len);
		}
	} else if (rc == LETHE_OK) {
		rc = secret_read_file(file, secret, &secret_len, &err);
		if (rc == LETHE_OK && secret_len == 0)
			rc = lethe_err_set(&err, LETHE_E_USAGE, "--secret-file %s is empty", file);
	}
	if (rc == LETHE_OK) {
		/* Insertion order is kept: user_id, algorithm, issued_at. */
		payload = json_pack("{s:s, s:s, s:I}", "user_id", user_id, "algorithm", alg,
		                    "issued_at", (json_int_t)issued_at);
		if (payload == NULL)
			rc = lethe_err_set(&err, LETHE_E_USAGE,
			                   "--user-id and --algorithm must be UTF-8 text");
	}
	if (rc == LETHE_OK) {
		json = json_dumps(payload, JSON_COMPACT);
		if (json != NULL)
			sr = sr_sign(json, strlen(json), (const uint8_t *)secret, secret_len);
		if (sr == NULL)
			rc = lethe_err_set(&err, LETHE_E_INTERNAL, "cannot sign the request");
	}
	if (rc != LETHE_OK) {
		status = cli_fail(&err, false);
		goto out;
	}
	printf("%s\n", sr);
	if (fflush(stdout) != 0)
		status = 1;
out:
	sodium_memzero(secret, sizeof(secret));
	free(sr);
	free(json);
	json_decref(payload);
	return status;
}
