/* SPDX-License-Identifier: MIT */
/*
 * mail_config.c - the `mail:` section of lethe.yaml (see mail.h).
 *
 * Parsed once by config_load(); the SMTP user and password are read later
 * by mail_config_load_secrets() (config_load_secrets()), from an
 * environment variable or a file, never from lethe.yaml itself: a `user:`
 * or `password:` key there is refused by name.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "mail/mail.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

#define SECRET_MAX 1024 /* bytes of an SMTP user or password */

/* Fail with "PATH:LINE: mail.what" for node @n (NULL: the section's line @line). */
static lethe_rc
mfail(struct ydoc *y, yaml_node_t *n, int line, struct lethe_err *err, const char *what)
{
	return lethe_err_set(err, LETHE_E_CONFIG, "%s:%d: mail.%s", y->path,
	                     n != NULL ? ynode_line(n) : line, what);
}

/* String key @key of @map into *@out (NULL if absent); an empty value is an error. */
static lethe_rc
mget_str(struct ydoc *y, yaml_node_t *map, const char *key, char **out, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);

	*out = NULL;
	if (v == NULL)
		return LETHE_OK;
	if (s == NULL || s[0] == '\0')
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: mail.%s must be a non-empty value", y->path,
		                     ynode_line(v), key);
	*out = xstrdup(s);
	return LETHE_OK;
}

/* A file key: its value resolved against @dir. */
static lethe_rc
mget_file(struct ydoc *y, yaml_node_t *map, const char *dir, const char *key, char **out,
          struct lethe_err *err)
{
	char *s = NULL;
	lethe_rc rc = mget_str(y, map, key, &s, err);

	*out = NULL;
	if (rc == LETHE_OK && s != NULL)
		*out = file_resolve(dir, s);
	free(s);
	return rc;
}

/* Duration key @key in milliseconds ("250ms" or a duration like "10s"), at least 1 ms. */
static lethe_rc
mget_ms(struct ydoc *y, yaml_node_t *map, const char *key, int64_t *out, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);
	size_t n = s != NULL ? strlen(s) : 0;
	int64_t x = 0;

	if (v == NULL)
		return LETHE_OK;
	if (n > 2 && strcmp(s + n - 2, "ms") == 0 && strspn(s, "0123456789") == n - 2 && n < 12) {
		char *end = NULL;

		x = strtoll(s, &end, 10);
	} else if (s != NULL && duration_parse(s, &x) == LETHE_OK && x < INT64_MAX / 1000) {
		x *= 1000;
	} else {
		x = 0;
	}
	if (x <= 0)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: mail.%s must be a duration like 500ms, 10s, 1h",
		                     y->path, ynode_line(v), key);
	*out = x;
	return LETHE_OK;
}

/* Duration key @key in seconds, at least 1 s. */
static lethe_rc
mget_s(struct ydoc *y, yaml_node_t *map, const char *key, int64_t *out, struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);

	if (v == NULL)
		return LETHE_OK;
	if (s == NULL || duration_parse(s, out) != LETHE_OK)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: mail.%s must be a duration like 30s, 24h, 3d", y->path,
		                     ynode_line(v), key);
	return LETHE_OK;
}

/* Integer key @key from @min to @max. */
static lethe_rc
mget_int(struct ydoc *y, yaml_node_t *map, const char *key, int64_t min, int64_t max, int64_t *out,
         struct lethe_err *err)
{
	yaml_node_t *v = ymap_get(y, map, key);
	const char *s = ynode_str(v);
	char *end = NULL;
	long long x = 0;

	if (v == NULL)
		return LETHE_OK;
	errno = 0;
	if (s != NULL)
		x = strtoll(s, &end, 10);
	if (s == NULL || s[0] == '\0' || errno != 0 || *end != '\0' || x < min || x > max)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: mail.%s must be an integer from %lld to %lld", y->path,
		                     ynode_line(v), key, (long long)min, (long long)max);
	*out = x;
	return LETHE_OK;
}

/* True if @url is smtp://HOST[...] or smtps://HOST[...] with no space or control character. */
static bool
url_ok(const char *url)
{
	const char *host;
	size_t i;

	if (strncmp(url, "smtp://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "smtps://", 8) == 0)
		host = url + 8;
	else
		return false;
	/* No user:password@ either: secrets never sit in lethe.yaml. */
	if (host[0] == '\0' || host[0] == '/' || host[0] == ':' || strchr(host, '@') != NULL)
		return false;
	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
			return false;
	return true;
}

/* True if @s is one header line's worth of text: no control character, at most 200 bytes. */
static bool
name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return i <= 200;
}

/* The env/file pair @what (user, password): at most one of them. */
static lethe_rc
parse_secret(struct ydoc *y, yaml_node_t *sec, const char *dir, const char *what, char **env,
             char **file, struct lethe_err *err)
{
	char k_env[32], k_file[32];
	lethe_rc rc;

	snprintf(k_env, sizeof(k_env), "%s_env", what);
	snprintf(k_file, sizeof(k_file), "%s_file", what);
	rc = mget_str(y, sec, k_env, env, err);
	if (rc == LETHE_OK)
		rc = mget_file(y, sec, dir, k_file, file, err);
	if (rc == LETHE_OK && *env != NULL && *file != NULL)
		rc = lethe_err_set(err, LETHE_E_CONFIG, "%s:%d: mail: give %s or %s, not both",
		                   y->path, ynode_line(ymap_get(y, sec, k_file)), k_env, k_file);
	return rc;
}

lethe_rc
mail_config_parse(struct mail_config *mc, const char *dir, struct ydoc *y, yaml_node_t *root,
                  struct lethe_err *err)
{
	static const char *const keys[] = {"url",
	                                   "from",
	                                   "from_name",
	                                   "reply_to",
	                                   "starttls",
	                                   "ca_file",
	                                   "user_env",
	                                   "user_file",
	                                   "password_env",
	                                   "password_file",
	                                   "connect_timeout",
	                                   "timeout",
	                                   "backoff_base",
	                                   "backoff_cap",
	                                   "max_attempts",
	                                   "max_age",
	                                   "link_ttl",
	                                   "identity",
	                                   NULL};
	static const char *const literal[] = {"user", "password"};
	yaml_node_t *sec, *v;
	char *tls = NULL;
	size_t i;
	lethe_rc rc = LETHE_OK;

	memset(mc, 0, sizeof(*mc));
	mc->starttls = MAIL_TLS_REQUIRED;
	mc->connect_timeout_ms = 10 * 1000;
	mc->timeout_ms = 60 * 1000;
	mc->backoff_base_ms = 30 * 1000;
	mc->backoff_cap_ms = 3600 * 1000;
	mc->max_attempts = 10;
	mc->max_age_s = 3 * 86400;
	mc->link_ttl_s = 86400;
	mc->identity = xstrdup("email");

	sec = ymap_get(y, root, "mail");
	if (sec == NULL)
		return LETHE_OK;
	/* The line of the key: a block mapping starts at its first key. */
	for (i = 0; i < ynode_len(root); i++)
		if (ymap_val(y, root, i) == sec)
			mc->line = ynode_line(ymap_key(y, root, i));
	if (!ynode_is_map(sec))
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: mail must be a mapping (url, from, ...)", y->path,
		                     mc->line);
	for (i = 0; i < sizeof(literal) / sizeof(literal[0]); i++) {
		v = ymap_get(y, sec, literal[i]);
		if (v != NULL)
			return lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "%s:%d: mail.%s: the SMTP %s is not written in lethe.yaml; "
			    "name an environment variable (%s_env) or a file "
			    "(%s_file) that holds it",
			    y->path, ynode_line(v), literal[i], literal[i], literal[i], literal[i]);
	}
	rc = ymap_check_keys(y, sec, keys, "mail", LETHE_E_CONFIG, err);
	if (rc == LETHE_OK)
		rc = ymap_check_dups(y, sec, "mail", LETHE_E_CONFIG, err);
	if (rc != LETHE_OK)
		return rc;
	mc->enabled = true;

	rc = mget_str(y, sec, "url", &mc->url, err);
	if (rc == LETHE_OK && mc->url == NULL)
		rc = mfail(y, NULL, mc->line, err,
		           "url is missing (smtp://HOST:PORT or smtps://HOST:PORT)");
	if (rc == LETHE_OK && !url_ok(mc->url))
		rc = mfail(y, ymap_get(y, sec, "url"), 0, err,
		           "url must be smtp://HOST[:PORT] or smtps://HOST[:PORT] (no user or "
		           "password in it)");
	if (rc == LETHE_OK)
		rc = mget_str(y, sec, "from", &mc->from, err);
	if (rc == LETHE_OK && mc->from == NULL)
		rc = mfail(y, NULL, mc->line, err, "from is missing (the sender's address)");
	if (rc == LETHE_OK && !mail_address_ok(mc->from))
		rc = mfail(y, ymap_get(y, sec, "from"), 0, err,
		           "from must be an email address like privacy@example.com");
	if (rc == LETHE_OK)
		rc = mget_str(y, sec, "from_name", &mc->from_name, err);
	if (rc == LETHE_OK && mc->from_name != NULL && !name_ok(mc->from_name))
		rc = mfail(y, ymap_get(y, sec, "from_name"), 0, err,
		           "from_name must be one line of at most 200 bytes");
	if (rc == LETHE_OK)
		rc = mget_str(y, sec, "reply_to", &mc->reply_to, err);
	if (rc == LETHE_OK && mc->reply_to != NULL && !mail_address_ok(mc->reply_to))
		rc = mfail(y, ymap_get(y, sec, "reply_to"), 0, err,
		           "reply_to must be an email address like privacy@example.com");
	if (rc == LETHE_OK)
		rc = mget_str(y, sec, "starttls", &tls, err);
	if (rc == LETHE_OK && tls != NULL) {
		if (strcmp(tls, "required") == 0)
			mc->starttls = MAIL_TLS_REQUIRED;
		else if (strcmp(tls, "optional") == 0)
			mc->starttls = MAIL_TLS_OPTIONAL;
		else if (strcmp(tls, "off") == 0)
			mc->starttls = MAIL_TLS_OFF;
		else
			rc = mfail(y, ymap_get(y, sec, "starttls"), 0, err,
			           "starttls must be required, optional or off");
	}
	free(tls);
	if (rc == LETHE_OK)
		rc = mget_file(y, sec, dir, "ca_file", &mc->ca_file, err);
	if (rc == LETHE_OK)
		rc = parse_secret(y, sec, dir, "user", &mc->user_env, &mc->user_file, err);
	if (rc == LETHE_OK)
		rc = parse_secret(y, sec, dir, "password", &mc->password_env, &mc->password_file,
		                  err);
	if (rc == LETHE_OK && (mc->user_env != NULL || mc->user_file != NULL) !=
	                          (mc->password_env != NULL || mc->password_file != NULL))
		rc = mfail(y, NULL, mc->line, err,
		           "user_* and password_* go together: give both (AUTH) or neither");
	if (rc == LETHE_OK)
		rc = mget_ms(y, sec, "connect_timeout", &mc->connect_timeout_ms, err);
	if (rc == LETHE_OK)
		rc = mget_ms(y, sec, "timeout", &mc->timeout_ms, err);
	if (rc == LETHE_OK)
		rc = mget_ms(y, sec, "backoff_base", &mc->backoff_base_ms, err);
	if (rc == LETHE_OK)
		rc = mget_ms(y, sec, "backoff_cap", &mc->backoff_cap_ms, err);
	if (rc == LETHE_OK && mc->backoff_cap_ms < mc->backoff_base_ms)
		rc = mfail(y, NULL, mc->line, err, "backoff_cap must be at least backoff_base");
	if (rc == LETHE_OK)
		rc = mget_int(y, sec, "max_attempts", 1, 1000, &mc->max_attempts, err);
	if (rc == LETHE_OK)
		rc = mget_s(y, sec, "max_age", &mc->max_age_s, err);
	if (rc == LETHE_OK)
		rc = mget_s(y, sec, "link_ttl", &mc->link_ttl_s, err);
	if (rc == LETHE_OK && ymap_get(y, sec, "identity") != NULL) {
		free(mc->identity);
		rc = mget_str(y, sec, "identity", &mc->identity, err);
	}
	return rc;
}

/* Read one secret from environment variable @env or file @file into *@out (NULL if neither). */
static lethe_rc
load_one(const char *what, const char *env, const char *file, char **out, struct lethe_err *err)
{
	char buf[SECRET_MAX + 2];
	size_t n = 0;

	if (env == NULL && file == NULL)
		return LETHE_OK;
	if (env != NULL) {
		const char *v = getenv(env);

		if (v == NULL || v[0] == '\0')
			return lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "mail: environment variable %s is not set (it must hold "
			    "the SMTP %s)",
			    env, what);
		n = strlen(v);
		if (n > SECRET_MAX)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "mail: %s is too long (at most %d bytes)", env,
			                     SECRET_MAX);
		memcpy(buf, v, n);
	} else {
		FILE *f = fopen(file, "r");

		if (f == NULL)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "mail: cannot read the SMTP %s file %s: %s", what,
			                     file, strerror(errno));
		file_warn_readable(file, "SMTP secret file");
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		if (n > SECRET_MAX) {
			sodium_memzero(buf, sizeof(buf));
			return lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "mail: the SMTP %s file %s is too long (at most %d bytes)", what, file,
			    SECRET_MAX);
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		if (n == 0)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "mail: the SMTP %s file %s is empty", what, file);
	}
	buf[n] = '\0';
	if (memchr(buf, '\n', n) != NULL || memchr(buf, '\r', n) != NULL || strlen(buf) != n) {
		sodium_memzero(buf, sizeof(buf));
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "mail: the SMTP %s in %s holds a line break", what,
		                     env != NULL ? env : file);
	}
	*out = xstrdup(buf);
	sodium_memzero(buf, sizeof(buf));
	return LETHE_OK;
}

lethe_rc
mail_config_load_secrets(struct mail_config *mc, struct lethe_err *err)
{
	lethe_rc rc;

	if (!mc->enabled || mc->user != NULL)
		return LETHE_OK;
	rc = load_one("user", mc->user_env, mc->user_file, &mc->user, err);
	if (rc == LETHE_OK)
		rc = load_one("password", mc->password_env, mc->password_file, &mc->password, err);
	if (rc != LETHE_OK) {
		free(mc->user);
		mc->user = NULL;
	}
	return rc;
}

void
mail_config_free(struct mail_config *mc)
{
	free(mc->url);
	free(mc->from);
	free(mc->from_name);
	free(mc->reply_to);
	free(mc->ca_file);
	free(mc->user_env);
	free(mc->user_file);
	free(mc->password_env);
	free(mc->password_file);
	if (mc->user != NULL)
		sodium_memzero(mc->user, strlen(mc->user));
	free(mc->user);
	if (mc->password != NULL)
		sodium_memzero(mc->password, strlen(mc->password));
	free(mc->password);
	free(mc->identity);
	memset(mc, 0, sizeof(*mc));
}
