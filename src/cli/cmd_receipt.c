/* SPDX-License-Identifier: MIT */
/*
 * cmd_receipt.c - `lethe receipt verify` and `lethe receipt show`
 * (docs/proof.md "Receipts").
 *
 * verify checks a receipt file offline against published public keys (a
 * keys document given with --keys, or the keys a configuration names with
 * -c: the signing key's public half and proof.previous_keys), then says in
 * one paragraph what the receipt states.  Exit 0 valid; 1 the signature
 * does not verify, or its key is not among the keys; 2 not a receipt (or a
 * usage error); 3 configuration invalid.  show prints (or writes to --out)
 * the signed receipt of a finished request of the state store.
 *
 * The file is anyone's: verify never writes a byte of it to the terminal
 * raw.  Every string of the receipt goes through safe_copy() before the
 * summary is made (control characters, C1 controls and Unicode bidi
 * controls escaped: \x1b, \u{202e}; a backslash doubled), error messages
 * through safe_msg(), a key id is printed only if it has a key id's form
 * (16 lower-case hex digits, else "(not a key id)"), and --json writes
 * ASCII only (JSON_ENSURE_ASCII, DEL escaped as \u007f).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit/keys.h"
#include "audit/receipt.h"
#include "cli/cli.h"
#include "meta/requests.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/mem.h"

#define RECEIPT_FILE_MAX (1 << 20) /* bytes of a receipt or keys file read */

/* ---- the subcommands' rows ------------------------------------------------- */

static const char usage_verify[] =
    "usage: lethe receipt verify FILE [--keys KEYS.json | -c CONFIG] [--json]\n"
    "\n"
    "Check a receipt file offline: that it was signed by one of the published\n"
    "keys and not changed since, then say what it states (the request, what\n"
    "was deleted, anonymized and kept and why, the residual scan, the audit\n"
    "chain entry).  The keys come from a keys document (the server's\n"
    "/.well-known/lethe/keys.json, saved to a file) or from a configuration's\n"
    "proof.signing_key_file and proof.previous_keys.\n"
    "\n"
    "  -k, --keys FILE     the published keys document ({\"keys\": [...]})\n"
    "  -c, --config FILE   lethe.yaml: its signing key's public half and previous keys\n"
    "      --json          {\"valid\", \"key\", \"receipt\"} on stdout (errors as\n"
    "                      {\"error\": {\"code\", \"message\"}})\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 the signature is valid, 1 it does not verify or its key is\n"
    "not among the keys, 2 the file is not a receipt (or a usage error),\n"
    "3 configuration invalid.\n";

static const char usage_show[] =
    "usage: lethe receipt show ID -c CONFIG [--out FILE]\n"
    "\n"
    "Print the signed receipt of a finished request (completed, completed with\n"
    "retention, refused or cancelled), as GET /v1/requests/{id}/receipt gives\n"
    "it.  ID is the request's number (as the receipt names it) or its\n"
    "confirmation code.  Changes nothing.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml (its proof.signing_key_file signs)\n"
    "  -o, --out FILE      write the receipt to FILE instead of stdout\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 printed, 1 no such request, not finished, or failure,\n"
    "2 usage error, 3 configuration invalid.\n";

static const struct cli_option opts_verify[] = {
    {.name = "keys", .short_name = 'k', .kind = CLI_VALUE},
    {.name = "config", .short_name = 'c', .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_show[] = {
    {.name = "out", .short_name = 'o', .kind = CLI_VALUE},
    {.name = NULL},
};

static int receipt_verify_cmd(const struct cli_args *a);
static int receipt_show_cmd(const struct cli_args *a);

const struct cli_command cli_receipt_subs[] = {
    {.name = "receipt verify",
     .usage = usage_verify,
     .common = CLI_JSON,
     .options = opts_verify,
     .operand = "FILE",
     .fn = receipt_verify_cmd},
    {.name = "receipt show",
     .usage = usage_show,
     .common = CLI_CONFIG,
     .options = opts_show,
     .operand = "ID",
     .fn = receipt_show_cmd},
    {.name = NULL},
};

/* ---- verify -------------------------------------------------------------------- */

/* The text of @path (at most RECEIPT_FILE_MAX bytes) into *@out (caller frees). */
static lethe_rc
read_text(const char *path, char **out, struct lethe_err *err)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	if (f == NULL)
		return lethe_err_set(err, LETHE_E_IO, "%s: %s", path, strerror(errno));
	buf_init(&b, RECEIPT_FILE_MAX);
	while (rc == LETHE_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n) != LETHE_OK)
			rc = lethe_err_set(err, LETHE_E_USAGE, "%s: over %d bytes: not a receipt",
			                   path, RECEIPT_FILE_MAX);
	if (rc == LETHE_OK && ferror(f))
		rc = lethe_err_set(err, LETHE_E_IO, "%s: cannot be read", path);
	fclose(f);
	if (rc == LETHE_OK && strlen(buf_str(&b)) != b.len)
		rc = lethe_err_set(err, LETHE_E_USAGE, "%s: holds a NUL byte: not a receipt", path);
	if (rc == LETHE_OK)
		*out = xstrdup(buf_str(&b));
	buf_free(&b);
	return rc;
}

/* The verifier's keys: --keys FILE, or -c CONFIG's public keys. */
static lethe_rc
load_ring(const struct cli_args *a, struct keys_ring *kr, struct lethe_err *err)
{
	const char *keys = cli_arg_str(a, "keys", NULL);
	const char *config = cli_arg_str(a, "config", NULL);
	struct lethe_config cfg;
	char *text = NULL;
	lethe_rc rc;

	if ((keys == NULL) == (config == NULL))
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "give the keys to check against: --keys KEYS.json (the "
		                     "server's /.well-known/lethe/keys.json) or -c CONFIG");
	if (keys != NULL) {
		rc = read_text(keys, &text, err);
		if (rc == LETHE_OK)
			rc = keys_ring_parse(kr, text, err);
		free(text);
		return rc;
	}
	memset(&cfg, 0, sizeof(cfg));
	rc = config_load(&cfg, config, err);
	if (rc == LETHE_OK) {
		const struct proof_config *p = &cfg.proof;

		rc = keys_ring_load(kr, p->signing_key_file, false,
		                    (const char *const *)p->previous_keys, p->nprevious_keys, err);
		/* No signing key yet: what older keys signed still verifies. */
		if (rc == LETHE_E_NOTFOUND)
			rc = keys_ring_load(kr, NULL, false, (const char *const *)p->previous_keys,
			                    p->nprevious_keys, err);
	}
	config_free(&cfg);
	return rc;
}

/* The code point of the UTF-8 sequence at @s (valid: jansson checked it), its length in *@n. */
static uint32_t
utf8_next(const unsigned char *s, size_t *n)
{
	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0 && s[1] != 0) {
		*n = 2;
		return ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
	}
	if ((s[0] & 0xf0) == 0xe0 && s[1] != 0 && s[2] != 0) {
		*n = 3;
		return ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) |
		       (s[2] & 0x3f);
	}
	if ((s[0] & 0xf8) == 0xf0 && s[1] != 0 && s[2] != 0 && s[3] != 0) {
		*n = 4;
		return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
		       ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
	}
	*n = 1;
	return 0xfffd; /* not UTF-8: escaped below as its byte */
}

/* True for a code point a terminal may act on: C0, DEL, C1, bidi controls. */
static bool
is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* @s with every control escaped (\xNN below U+0080, else \u{N}) and '\' doubled; caller frees. */
static char *
safe_copy(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b;
	char *out;

	buf_init(&b, 4 * strlen(s) + 1); /* \u{202e}: 8 bytes for 3, at most 4 per byte */
	while (*p != '\0') {
		size_t n = 1;
		uint32_t c = utf8_next(p, &n);

		if (c == 0xfffd && n == 1)
			buf_addf(&b, "\\x%02x", p[0]);
		else if (c == '\\')
			buf_adds(&b, "\\\\");
		else if (is_control(c) && c < 0x80)
			buf_addf(&b, "\\x%02x", (unsigned)c);
		else if (is_control(c))
			buf_addf(&b, "\\u{%04x}", (unsigned)c);
		else
			buf_add(&b, p, n);
		p += n;
	}
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

/* A copy of @v whose every string and object key went through safe_copy(). */
static json_t *
safe_tree(const json_t *v)
{
	json_t *out, *x;
	const char *k;
	char *s;
	size_t i;

	if (json_is_string(v)) {
		s = safe_copy(json_string_value(v));
		out = json_string(s);
		free(s);
		return out;
	}
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, x) json_array_append_new(out, safe_tree(x));
		return out;
	}
	if (json_is_object(v)) {
		out = json_object();
		json_object_foreach((json_t *)v, k, x)
		{
			s = safe_copy(k);
			json_object_set_new(out, s, safe_tree(x));
			free(s);
		}
		return out;
	}
	return json_deep_copy(v);
}

/* @err's message with its controls escaped (it may quote the file). */
static void
safe_msg(struct lethe_err *err)
{
	char *s = safe_copy(err->msg);

	snprintf(err->msg, sizeof(err->msg), "%s", s);
	free(s);
}

/* @id if it has a key id's form (16 lower-case hex digits), else "(not a key id)". */
static const char *
key_shown(const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < KEYS_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			break;
	return id != NULL && i == KEYS_ID_LEN && id[i] == '\0' ? id : "(not a key id)";
}

/* Member @k of object @o as a string, or @dflt. */
static const char *
str_of(const json_t *o, const char *k, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : dflt;
}

/* "; N media objects checked, M there again" of a scan's "media" @m, or "" if none. */
static const char *
scan_media_str(const json_t *m, char *out, size_t cap)
{
	if (!json_is_object(m))
		return "";
	snprintf(out, cap, "; %lld media objects checked, %lld there again",
	         (long long)json_integer_value(json_object_get(m, "checked")),
	         (long long)json_integer_value(json_object_get(m, "present")));
	return out;
}

/* The one-paragraph summary of receipt @r (its strings already safe_tree()'d). */
static void
print_summary(const json_t *r, const char *key)
{
	const json_t *req = json_object_get(r, "request");
	const json_t *counts = json_object_get(r, "counts");
	const json_t *scan = json_object_get(r, "scan");
	const json_t *audit = json_object_get(r, "audit");
	const json_t *v;
	const char *k;
	char scanned[96];
	size_t i, n = 0;

	printf("Receipt of request %lld (%s, scope %s, from %s), issued by %s: received %s",
	       (long long)json_integer_value(json_object_get(req, "id")), str_of(req, "kind", "?"),
	       str_of(req, "scope", "?"), str_of(req, "source", "?"), str_of(r, "issuer", "?"),
	       str_of(req, "received_at", "?"));
	if (json_object_get(req, "due_at") != NULL)
		printf(", due %s", str_of(req, "due_at", "?"));
	printf("; %s", str_of(req, "state", "?"));
	if (json_object_get(req, "completed_at") != NULL)
		printf(" %s", str_of(req, "completed_at", "?"));
	if (json_object_get(r, "reason") != NULL)
		printf(" (%s)", str_of(r, "reason", ""));
	printf(".");
	if (json_is_true(json_object_get(counts, "no_data")))
		printf(" No data of the person was found.");
	json_array_foreach(json_object_get(counts, "tables"), i, v)
	{
		int64_t media = json_integer_value(json_object_get(v, "media"));

		printf("%s %s: %s %lld row%s", n++ == 0 ? " Steps:" : ";", str_of(v, "part", "?"),
		       str_of(v, "action", "?"),
		       (long long)json_integer_value(json_object_get(v, "rows")),
		       json_integer_value(json_object_get(v, "rows")) == 1 ? "" : "s");
		if (media > 0)
			printf(" and %lld media file%s", (long long)media, media == 1 ? "" : "s");
	}
	if (n > 0)
		printf(".");
	n = 0;
	json_object_foreach((json_t *)json_object_get(counts, "categories"), k, v)
	{
		printf("%s %s %lld", n++ == 0 ? " Rows by category:" : ",", k,
		       (long long)json_integer_value(v));
	}
	if (n > 0)
		printf(".");
	json_array_foreach(json_object_get(r, "kept"), i, v)
	{
		const char *why = str_of(v, "reason", "");
		size_t wn = strlen(why);

		printf(" Kept %lld row%s of %s (%s)",
		       (long long)json_integer_value(json_object_get(v, "rows")),
		       json_integer_value(json_object_get(v, "rows")) == 1 ? "" : "s",
		       str_of(v, "table", "?"), str_of(v, "category", "?"));
		if (json_object_get(v, "until") != NULL)
			printf(" until %s", str_of(v, "until", "?"));
		printf(": %s%s", why, wn > 0 && why[wn - 1] == '.' ? "" : ".");
	}
	if (strcmp(str_of(scan, "result", "not_run"), "not_run") == 0)
		printf(" No residual scan ran.");
	else
		printf(" Residual scan: %s (%lld rows found, %lld tables checked%s; WAL %s; "
		       "secure_delete %s).",
		       str_of(scan, "result", "?"),
		       (long long)json_integer_value(json_object_get(scan, "rows")),
		       (long long)json_integer_value(json_object_get(scan, "tables")),
		       scan_media_str(json_object_get(scan, "media"), scanned, sizeof(scanned)),
		       str_of(scan, "wal", "?"), str_of(scan, "secure_delete", "?"));
	if (audit != NULL)
		printf(" Audit chain entry %lld, hash %s.",
		       (long long)json_integer_value(json_object_get(audit, "seq")),
		       str_of(audit, "hash", "?"));
	else
		printf(" No audit chain entry is named.");
	printf("\nsignature: valid (key %s)\n", key_shown(key));
}

static int
receipt_verify_cmd(const struct cli_args *a)
{
	struct keys_ring kr;
	struct lethe_err err = {0};
	char key[KEYS_ID_LEN + 1];
	char *text = NULL;
	json_t *r = NULL;
	lethe_rc rc;
	int status;

	memset(&kr, 0, sizeof(kr));
	rc = hash_init() == LETHE_OK ? LETHE_OK
	                             : lethe_err_set(&err, LETHE_E_INTERNAL, "libsodium failed");
	if (rc == LETHE_OK)
		rc = load_ring(a, &kr, &err);
	if (rc == LETHE_OK)
		rc = read_text(a->operand, &text, &err);
	if (rc == LETHE_OK)
		rc = receipt_verify(&kr, text, &r, key, &err);
	if (rc == LETHE_E_FORBIDDEN && strstr(err.msg, "real number") != NULL) {
		lethe_err_set(&err, LETHE_E_FORBIDDEN,
		              "signature does not verify: the receipt holds a real number, which "
		              "lethe never signs: it was changed");
	} else if (rc == LETHE_E_FORBIDDEN) {
		lethe_err_set(&err, LETHE_E_FORBIDDEN,
		              "signature does not verify: the receipt was changed after it was "
		              "signed, or it was not signed by this key");
	} else if (rc == LETHE_E_NOTFOUND && text != NULL) {
		json_t *doc = json_loads(text, 0, NULL);

		lethe_err_set(&err, LETHE_E_NOTFOUND,
		              "signed by key %s, which is not among the published keys",
		              key_shown(str_of(json_object_get(doc, "signature"), "key", NULL)));
		json_decref(doc);
	}
	if (rc != LETHE_OK) {
		safe_msg(&err);
		status = cli_fail(&err, a->json);
		goto out;
	}
	if (a->json) {
		json_t *o =
		    json_pack("{s:b, s:s, s:O}", "valid", 1, "key", key_shown(key), "receipt", r);
		char *d = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		const char *c;

		/* ASCII, and DEL (the one control jansson leaves raw) escaped too. */
		for (c = d != NULL ? d : "{}"; *c != '\0'; c++)
			if (*c == 0x7f)
				fputs("\\u007f", stdout);
			else
				fputc(*c, stdout);
		fputc('\n', stdout);
		free(d);
		json_decref(o);
	} else {
		json_t *safe = safe_tree(r);

		print_summary(safe, key);
		json_decref(safe);
	}
	status = 0;
out:
	json_decref(r);
	free(text);
	keys_ring_wipe(&kr);
	return status;
}

/* ---- show ------------------------------------------------------------------------ */

static int
receipt_show_cmd(const struct cli_args *a)
{
	struct cli_env env;
	struct lethe_err err = {0};
	const char *out = cli_arg_str(a, "out", NULL);
	const char *id = a->operand;
	const char *code = NULL;
	int64_t num = 0;
	json_t *env_json = NULL;
	char *text = NULL;
	lethe_rc rc;
	int status = 1;

	if (meta_code_ok(id)) {
		code = id;
	} else {
		char *end = NULL;

		errno = 0;
		num = strtoll(id, &end, 10);
		if (id[0] < '0' || id[0] > '9' || *end != '\0' || errno != 0 || num <= 0)
			return cli_usage_fail(a,
			                      "ID must be a request's number or its confirmation "
			                      "code");
	}
	rc = cli_env_open(&env, a->config, &err);
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	if (rc == LETHE_OK) {
		rc = config_load_signing_keys(&env.cfg, false, &err);
		if (rc == LETHE_E_NOTFOUND)
			lethe_err_set(
			    &err, LETHE_E_CONFIG,
			    "no signing key at %s (proof.signing_key_file): `lethe serve` "
			    "makes one at its first start",
			    env.cfg.proof.signing_key_file);
		if (rc == LETHE_E_NOTFOUND)
			rc = LETHE_E_CONFIG;
	}
	if (rc == LETHE_OK)
		rc = service_receipt(env.svc, code, num, &env_json, &err);
	if (rc == LETHE_OK) {
		text = json_dumps(env_json, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (text == NULL)
			rc = lethe_err_set(&err, LETHE_E_INTERNAL, "cannot encode the receipt");
	}
	if (rc == LETHE_OK && out != NULL) {
		FILE *f = fopen(out, "w");

		if (f == NULL) {
			rc = lethe_err_set(&err, LETHE_E_IO, "%s: %s", out, strerror(errno));
		} else {
			bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;

			if (fclose(f) != 0 || !ok)
				rc = lethe_err_set(&err, LETHE_E_IO, "%s: cannot be written", out);
		}
	} else if (rc == LETHE_OK) {
		printf("%s\n", text);
	}
	if (rc == LETHE_OK)
		status = 0;
	else
		status = cli_fail(&err, false);
	free(text);
	json_decref(env_json);
	cli_env_close(&env);
	return status;
}
