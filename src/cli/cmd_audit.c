/* SPDX-License-Identifier: MIT */
/*
 * cmd_audit.c - `lethe audit verify|checkpoint|head` (the audit chain) and
 * `lethe keys [generate FILE]` (the signing keys): their rows
 * (cli_audit_subs[], cli_keys_subs[]) and functions.  Each opens the
 * configuration and the signing keys without creating any key file (a
 * missing one is said plainly, exit 3) and the state store; none needs the
 * app database or the anonymize key (docs/proof.md).
 */
#include "util/fmacros.h"

#include <jansson.h>

#include "audit/chain.h"
#include "audit/keys.h"
#include "cli/cli.h"
#include "util/hash.h"

/* ---- the rows ---------------------------------------------------------------- */

static const char usage_verify[] =
    "usage: lethe audit verify -c CONFIG [--head FILE] [--json]\n"
    "\n"
    "Check the whole audit chain: recompute every entry's hash, check that no\n"
    "entry is missing, check every signed checkpoint (its signature against the\n"
    "signing keys, current and previous, and the chain's hash at its entry) and\n"
    "that the chain still reaches the latest checkpoint.  Changes nothing.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "      --head FILE     also check a signed head published earlier (a copy of\n"
    "                      /.well-known/lethe/audit-head.json): catches a tail\n"
    "                      deleted together with its checkpoints\n"
    "      --json          the report as JSON: {\"ok\", \"entries\", \"checkpoints\",\n"
    "                      \"breaks\": [{\"seq\", \"what\"}], \"warnings\": [...], ...}\n"
    "  -h, --help          this text\n"
    "\n"
    "Also checks that each entry's columns (seq, at, request_id, type, state)\n"
    "say what its body says.  Entries that no checkpoint covered within twice\n"
    "proof.checkpoint_interval, though later checkpoints exist, are warnings\n"
    "(\"lethe: warning: ...\" on stderr, \"warnings\" in --json): checkpoints may\n"
    "have been deleted, or no `lethe serve` ran then.  Warnings alone do not\n"
    "break the chain (exit 0, \"ok\": true).  Checkpoints deleted together with\n"
    "the tail of the chain are only caught with --head.\n"
    "\n"
    "Exit status: 0 the chain is whole, 1 it is broken (one line per break, each\n"
    "naming its entry) or the state store failed, 2 usage error (also: a --head\n"
    "FILE that is not a signed head), 3 configuration invalid or signing key\n"
    "missing.\n";

static const char usage_checkpoint[] =
    "usage: lethe audit checkpoint -c CONFIG\n"
    "\n"
    "Sign a checkpoint of the audit chain's head now, if it moved since the last\n"
    "one (`lethe serve` signs one every proof.checkpoint_interval and when it\n"
    "stops).  Prints the entry signed.  The entries since the latest checkpoint\n"
    "are checked first: if they do not chain (or that checkpoint does not\n"
    "verify), nothing is signed and the first break is said (exit 1).\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 signed (or nothing new to sign), 1 failure, 2 usage error,\n"
    "3 configuration invalid or signing key missing.\n";

static const char usage_head[] =
    "usage: lethe audit head -c CONFIG\n"
    "\n"
    "Print the latest signed head of the audit chain, as\n"
    "/.well-known/lethe/audit-head.json publishes it.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 printed, 1 none signed yet or failure, 2 usage error,\n"
    "3 configuration invalid or signing key missing.\n";

static const char usage_generate[] =
    "usage: lethe keys generate FILE\n"
    "\n"
    "Write a new Ed25519 signing key (its seed in hex) to FILE, a new file of mode\n"
    "0600, and print its key id.  To rotate keys: add the current\n"
    "proof.signing_key_file to proof.previous_keys (so what it signed stays\n"
    "verifiable) and make FILE the signing_key_file.\n"
    "\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 written, 1 failure, 2 usage error, 3 FILE exists already.\n";

static const struct cli_option opts_verify[] = {
    {.name = "head", .kind = CLI_VALUE},
    {.name = NULL},
};

static int audit_verify(const struct cli_args *a);
static int audit_checkpoint(const struct cli_args *a);
static int audit_head(const struct cli_args *a);
static int keys_generate_cmd(const struct cli_args *a);

const struct cli_command cli_audit_subs[] = {
    {.name = "audit verify",
     .usage = usage_verify,
     .common = CLI_CONFIG | CLI_JSON,
     .options = opts_verify,
     .fn = audit_verify},
    {.name = "audit checkpoint",
     .usage = usage_checkpoint,
     .common = CLI_CONFIG,
     .fn = audit_checkpoint},
    {.name = "audit head", .usage = usage_head, .common = CLI_CONFIG, .fn = audit_head},
    {.name = NULL},
};

const struct cli_command cli_keys_subs[] = {
    {.name = "keys generate", .usage = usage_generate, .operand = "FILE", .fn = keys_generate_cmd},
    {.name = NULL},
};

/* ---- opening --------------------------------------------------------------- */

/* What an audit command opens: the configuration, its keys, a service. */
struct audit_env {
	struct lethe_config cfg;
	bool cfg_loaded;
	struct service *svc;
};

/* Load @config and its signing keys (never created) and open a service over them. */
static lethe_rc
audit_open(struct audit_env *e, const char *config, struct lethe_err *err)
{
	lethe_rc rc;

	memset(e, 0, sizeof(*e));
	if (hash_init() != LETHE_OK)
		return lethe_err_set(err, LETHE_E_INTERNAL, "libsodium failed to initialise");
	rc = config_load(&e->cfg, config, err);
	e->cfg_loaded = true;
	if (rc == LETHE_OK) {
		rc = config_load_signing_keys(&e->cfg, false, err);
		if (rc == LETHE_E_NOTFOUND)
			rc = lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "the signing key file %s does not exist: `lethe serve` creates it at "
			    "its first start; if it was lost, restore it from a backup (what it "
			    "signed can only be checked against its public key)",
			    e->cfg.proof.signing_key_file);
	}
	if (rc == LETHE_OK)
		e->svc = service_open(&e->cfg, NULL, NULL);
	return rc;
}

static void
audit_close(struct audit_env *e)
{
	service_close(e->svc);
	if (e->cfg_loaded)
		config_free(&e->cfg);
}

/* ---- the commands ------------------------------------------------------------ */

static int
audit_verify(const struct cli_args *a)
{
	const char *head_path = cli_arg_str(a, "head", NULL);
	struct lethe_err err = {0};
	struct chain_report rep = {0};
	struct audit_env e;
	json_t *head = NULL;
	json_error_t jerr;
	size_t i;
	int status = 0;
	lethe_rc rc;

	rc = audit_open(&e, a->config, &err);
	if (rc == LETHE_OK && head_path != NULL) {
		head = json_load_file(head_path, 0, &jerr);
		if (head == NULL)
			rc = lethe_err_set(&err, LETHE_E_USAGE, "--head %s: not JSON: %s",
			                   head_path, jerr.text);
	}
	if (rc == LETHE_OK)
		rc = service_audit_verify(e.svc, head, &rep, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, a->json);
		goto out;
	}
	status = rep.nbreaks > 0 || rep.more_breaks > 0 ? 1 : 0;
	if (a->json) {
		json_t *o = chain_report_json(&rep);

		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
		goto out;
	}
	for (i = 0; i < rep.nbreaks; i++)
		printf("%s\n", rep.breaks[i].what);
	if (rep.more_breaks > 0)
		printf("... and %lld more breaks\n", (long long)rep.more_breaks);
	for (i = 0; i < rep.nwarnings; i++)
		fprintf(stderr, "lethe: warning: %s\n", rep.warnings[i].what);
	if (rep.more_warnings > 0)
		fprintf(stderr, "lethe: warning: ... and %lld more\n",
		        (long long)rep.more_warnings);
	if (status == 0)
		printf("the audit chain is whole: %lld entries, %lld checkpoints (latest: entry "
		       "%lld)%s, checked in %.0f ms%s\n",
		       (long long)rep.entries, (long long)rep.checkpoints,
		       (long long)rep.last_checkpoint, head != NULL ? ", the published head" : "",
		       rep.elapsed_ms,
		       rep.nwarnings > 0 ? " (see the warnings: they do not break it)" : "");
	else
		fprintf(stderr,
		        "lethe: the audit chain is broken: %lld breaks (%lld entries read)\n",
		        (long long)(rep.nbreaks + (size_t)rep.more_breaks), (long long)rep.entries);
out:
	chain_report_free(&rep);
	json_decref(head);
	audit_close(&e);
	return status;
}

static int
audit_checkpoint(const struct cli_args *a)
{
	struct lethe_err err = {0};
	struct audit_env e;
	int64_t seq = 0;
	bool made = false;
	int status = 0;
	lethe_rc rc;

	rc = audit_open(&e, a->config, &err);
	if (rc == LETHE_OK)
		rc = service_audit_checkpoint(e.svc, &seq, &made, &err);
	if (rc != LETHE_OK)
		status = cli_fail(&err, false);
	else if (made)
		printf("checkpoint of entry %lld signed (key %s)\n", (long long)seq,
		       e.cfg.proof.keys->keys[0].id);
	else if (seq > 0)
		printf("the head (entry %lld) is signed already\n", (long long)seq);
	else
		printf("the audit chain is empty: nothing to sign\n");
	audit_close(&e);
	return status;
}

/* Where a command gets the JSON document it prints (a new reference into *@out). */
typedef lethe_rc (*doc_fn)(struct service *svc, json_t **out, struct lethe_err *err);

/* Open what @a names, print the document @get gives (keys sorted); the exit status. */
static int
print_doc(const struct cli_args *a, doc_fn get)
{
	struct lethe_err err = {0};
	struct audit_env e;
	json_t *doc = NULL;
	int status = 0;
	lethe_rc rc;

	rc = audit_open(&e, a->config, &err);
	if (rc == LETHE_OK)
		rc = get(e.svc, &doc, &err);
	if (rc != LETHE_OK) {
		status = cli_fail(&err, false);
	} else {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
	}
	json_decref(doc);
	audit_close(&e);
	return status;
}

/* doc_fn: the published keys document. */
static lethe_rc
keys_doc(struct service *svc, json_t **out, struct lethe_err *err)
{
	*out = service_keys_json(svc);
	if (*out == NULL)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "the signing keys are not loaded (proof.signing_key_file)");
	return LETHE_OK;
}

static int
audit_head(const struct cli_args *a)
{
	return print_doc(a, service_audit_head);
}

int
cmd_keys(const struct cli_args *a)
{
	return print_doc(a, keys_doc);
}

static int
keys_generate_cmd(const struct cli_args *a)
{
	struct lethe_err err = {0};
	struct keys_ring kr;
	lethe_rc rc;

	if (hash_init() != LETHE_OK) {
		lethe_err_set(&err, LETHE_E_INTERNAL, "libsodium failed to initialise");
		return cli_fail(&err, false);
	}
	rc = keys_generate(a->operand, &err);
	if (rc == LETHE_OK)
		rc = keys_ring_load(&kr, a->operand, false, NULL, 0, &err);
	if (rc != LETHE_OK)
		return cli_fail(&err, false);
	printf("new signing key written to %s (mode 0600), key id %s\n", a->operand, kr.keys[0].id);
	keys_ring_wipe(&kr);
	return 0;
}
