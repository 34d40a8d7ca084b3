/* SPDX-License-Identifier: MIT */
/*
 * test_mailbox.c - unit tests of the privacy mailbox's configuration and
 * understanding: the `mailbox:` section (mail/mailbox_config.c: every
 * default, every refusal with its line), its checks against the demo data
 * map (config/mailbox.c), the seed pages' sections of docs/mail-intake.md
 * (read from the source tree, so the docs cannot rot), and what
 * mailbox_understand() decides for mails filled in by hand: each seed's
 * wording, reply and forward prefixes, labels in odd forms, patterns,
 * confirmation codes, robots, every reason not to reply, first match wins.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "datamap/datamap.h"
#include "demo/demo.h"
#include "mail/mailbox.h"
#include "testutil.h"

#define CONFIG_HEAD "app: {database: app.db}\ndatamap: datamap.yaml\n"
#define MAIL "mail: {url: \"smtp://127.0.0.1:2525\", from: lethe@example.com, starttls: off}\n"
#define MAIL_FROM "lethe@example.com"
/* The mailbox: section starts on line 4 after CONFIG_HEAD and MAIL. */
#define HEAD CONFIG_HEAD MAIL

#define CODE34 "abcdefghijklmnopqrstuvwxyz234567ab"
#define CODE32 "abcdefghijklmnopqrstuvwxyz234567"

struct fx {
	char dir[64];
	struct datamap *dm;
	struct lethe_config cfg;
	bool loaded;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lethe_err err;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%smb-XXXXXX", TU_TMP_PREFIX);
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	memset(&err, 0, sizeof(err));
	f->dm = datamap_load("datamap.yaml", demo_datamap_yaml, &err);
	if (f->dm == NULL) {
		fprintf(stderr, "demo map: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->loaded)
		config_free(&f->cfg);
	datamap_free(f->dm);
	tu_rm_rf(f->dir);
	free(f);
	return 0;
}

/* Write @text as DIR/lethe.yaml and load it into f->cfg (freeing the last one). */
static lethe_rc
load(struct fx *f, const char *text, struct lethe_err *err)
{
	char path[160];
	FILE *fp;
	lethe_rc rc;

	if (f->loaded)
		config_free(&f->cfg);
	snprintf(path, sizeof(path), "%s/lethe.yaml", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	memset(err, 0, sizeof(*err));
	rc = config_load(&f->cfg, path, err);
	f->loaded = true;
	return rc;
}

/* Load @text, expect it loads and checks against the demo map. */
static const struct mailbox_config *
load_ok(struct fx *f, const char *text)
{
	struct lethe_err err;

	if (load(f, text, &err) != LETHE_OK)
		fail_msg("load: %s", err.msg);
	if (mailbox_config_check(&f->cfg, f->dm, &err) != LETHE_OK)
		fail_msg("check: %s", err.msg);
	return &f->cfg.mailbox;
}

/* Expect the mailbox: @section (after HEAD) to be refused at line @line with @what. */
static void
refused(struct fx *f, const char *section, int line, const char *what)
{
	char *text = NULL, at[32];
	struct lethe_err err;
	size_t n = strlen(HEAD) + strlen(section) + 1;

	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "%s%s", HEAD, section);
	if (load(f, text, &err) != LETHE_E_CONFIG)
		fail_msg("not refused: %s", section);
	snprintf(at, sizeof(at), "lethe.yaml:%d: ", line);
	if (strstr(err.msg, at) == NULL || strstr(err.msg, what) == NULL)
		fail_msg("'%s' lacks '%s' or '%s'", err.msg, at, what);
	free(text);
}

/* Expect the mailbox: @section (after @head) to load but fail the check at @line with @what. */
static void
check_refused(struct fx *f, const char *head, const char *section, int line, const char *what)
{
	char text[4096], at[32];
	struct lethe_err err;

	snprintf(text, sizeof(text), "%s%s", head, section);
	if (load(f, text, &err) != LETHE_OK)
		fail_msg("load: %s", err.msg);
	memset(&err, 0, sizeof(err));
	assert_int_equal(mailbox_config_check(&f->cfg, f->dm, &err), LETHE_E_CONFIG);
	snprintf(at, sizeof(at), "lethe.yaml:%d: ", line);
	if (strstr(err.msg, at) == NULL || strstr(err.msg, what) == NULL)
		fail_msg("'%s' lacks '%s' or '%s'", err.msg, at, what);
}

/* One rule (the section's "rules:" key and its list). */
#define RULES                                                                                      \
	"  rules:\n"                                                                               \
	"    - {name: del, subjects: [\"Account deletion\"], kind: erasure, scope: account, "      \
	"identities: [sender]}\n"
#define MINIMAL "mailbox:\n" RULES

/* ---- the mailbox: section ---- */

static void
test_config_absent(void **state)
{
	struct fx *f = *state;
	const struct mailbox_config *mb = load_ok(f, HEAD);

	assert_false(mb->enabled);
	assert_int_equal(mb->line, 0);
	assert_int_equal(mb->nrules, 0);
	/* Absent: the check passes even without mail:. */
	mb = load_ok(f, CONFIG_HEAD);
	assert_false(mb->enabled);
}

static void
test_config_defaults(void **state)
{
	struct fx *f = *state;
	const struct mailbox_config *mb = load_ok(f, HEAD MINIMAL);

	assert_true(mb->enabled);
	assert_int_equal(mb->line, 4);
	assert_int_equal(mb->naddresses, 0);
	assert_null(mb->lmtp);
	assert_false(mb->lmtp_remote);
	assert_int_equal(mb->lmtp_connections, 16);
	assert_null(mb->maildir);
	assert_int_equal(mb->poll_ms, 5000);
	assert_int_equal(mb->max_size, 10 * 1024 * 1024);
	assert_int_equal(mb->max_parts, 100);
	assert_int_equal(mb->keep_s, 30 * 86400);
	assert_int_equal(mb->reply_per_address, 3);
	assert_int_equal(mb->reply_total, 200);
	assert_int_equal(mb->reply_window_s, 3600);
	assert_int_equal(mb->ncode_labels, 3);
	assert_string_equal(mb->code_labels[0], "confirmation code");
	assert_string_equal(mb->code_labels[1], "request code");
	assert_string_equal(mb->code_labels[2], "code");
	assert_int_equal(mb->nclaims, 0);
	assert_int_equal(mb->nrules, 1);
	assert_string_equal(mb->rules[0].name, "del");
	assert_int_equal(mb->rules[0].nsubjects, 1);
	assert_string_equal(mb->rules[0].subjects[0], "account deletion"); /* lower-cased */
	assert_int_equal(mb->rules[0].nphrases, 0);
	assert_string_equal(mb->rules[0].kind, "erasure");
	assert_string_equal(mb->rules[0].scope, "account");
	assert_int_equal(mb->rules[0].nidentities, 1);
	assert_string_equal(mb->rules[0].identities[0], MAILBOX_SENDER);
	assert_false(mb->rules[0].notify_from_body);
	assert_int_equal(mb->rules[0].line, 6);
	assert_null(mailbox_claim(mb, "nothing"));
}

static void
test_config_full(void **state)
{
	struct fx *f = *state;
	const struct mailbox_config *mb;
	const struct mailbox_claim_conf *c;
	char want[256];

	mb = load_ok(f, HEAD "mailbox:\n"
	                     "  addresses: [Privacy@Example.COM, help@example.com]\n"
	                     "  lmtp: unix:run/lmtp.sock\n"
	                     "  lmtp_connections: 4\n"
	                     "  maildir: mail/privacy\n"
	                     "  poll: 2m\n"
	                     "  max_size: 64KiB\n"
	                     "  max_parts: 20\n"
	                     "  keep: 7d\n"
	                     "  replies: {per_address: 1, total: 10, window: 2h}\n"
	                     "  code_labels: [\"Ticket  Code\"]\n"
	                     "  claims:\n"
	                     "    ig:\n"
	                     "      identity: instagram_username\n"
	                     "      labels: [\"Instagram   Username\", handle]\n"
	                     "      pattern: \"[a-z._]{1,30}\"\n"
	                     "      proof: review\n"
	                     "      strip_at: false\n"
	                     "    acct:\n"
	                     "      identity: account_name\n"
	                     "      labels: account name\n"
	                     "      proof: address_on_file\n"
	                     "  rules:\n"
	                     "    - name: meta_1\n"
	                     "      phrases: [\"Delete  my\\tInstagram\"]\n"
	                     "      kind: erasure\n"
	                     "      scope: meta\n"
	                     "      identities: [ig]\n"
	                     "      notify_from_body: true\n"
	                     "    - name: acct-2\n"
	                     "      subjects: [Close]\n"
	                     "      kind: restriction\n"
	                     "      scope: account\n"
	                     "      identities: [acct, sender]\n");
	assert_int_equal(mb->naddresses, 2);
	assert_string_equal(mb->addresses[0], "privacy@example.com");
	snprintf(want, sizeof(want), "unix:%s/run/lmtp.sock", f->dir);
	assert_string_equal(mb->lmtp, want);
	snprintf(want, sizeof(want), "%s/mail/privacy", f->dir);
	assert_string_equal(mb->maildir, want);
	assert_int_equal(mb->lmtp_connections, 4);
	assert_int_equal(mb->poll_ms, 120000);
	assert_int_equal(mb->max_size, 65536);
	assert_int_equal(mb->max_parts, 20);
	assert_int_equal(mb->keep_s, 7 * 86400);
	assert_int_equal(mb->reply_per_address, 1);
	assert_int_equal(mb->reply_total, 10);
	assert_int_equal(mb->reply_window_s, 7200);
	assert_int_equal(mb->ncode_labels, 1);
	assert_string_equal(mb->code_labels[0], "ticket code");
	assert_int_equal(mb->nclaims, 2);
	c = mailbox_claim(mb, "ig");
	assert_non_null(c);
	assert_string_equal(c->identity, "instagram_username");
	assert_int_equal(c->nlabels, 2);
	assert_string_equal(c->labels[0], "instagram username");
	assert_string_equal(c->labels[1], "handle");
	assert_string_equal(c->pattern, "[a-z._]{1,30}");
	assert_false(c->strip_at);
	assert_int_equal(c->proof, MAILBOX_PROOF_REVIEW);
	assert_int_equal(c->line, 16);
	c = mailbox_claim(mb, "acct");
	assert_non_null(c);
	assert_int_equal(c->nlabels, 1);
	assert_null(c->pattern);
	assert_true(c->strip_at);
	assert_int_equal(c->proof, MAILBOX_PROOF_ON_FILE);
	assert_string_equal(mb->rules[0].phrases[0], "delete my instagram");
	assert_true(mb->rules[0].notify_from_body);
	assert_string_equal(mb->rules[1].identities[0], "acct");
	assert_string_equal(mb->rules[1].kind, "restriction");
}

static void
test_config_lmtp(void **state)
{
	struct fx *f = *state;
	static const char *const ok[] = {"127.0.0.1:2424", "127.1.2.3:24", "localhost:2424",
	                                 "\"[::1]:2424\""};
	char text[512];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text),
		         HEAD "mailbox:\n  addresses: [p@example.com]\n  lmtp: %s\n" RULES, ok[i]);
		assert_non_null(load_ok(f, text)->lmtp);
	}
	refused(f, "mailbox:\n  lmtp: 192.0.2.1:2424\n" RULES, 5,
	        "192.0.2.1 is not a loopback address");
	refused(f, "mailbox:\n  lmtp: \"[2001:db8::1]:24\"\n" RULES, 5,
	        "is not a loopback address");
	refused(f, "mailbox:\n  lmtp: mail.example.com:24\n" RULES, 5, "lmtp_remote: true");
	/* With lmtp_remote, any host. */
	load_ok(f, HEAD "mailbox:\n  addresses: [p@example.com]\n  lmtp: 0.0.0.0:2424\n"
	                "  lmtp_remote: true\n" RULES);
	assert_string_equal(f->cfg.mailbox.lmtp, "0.0.0.0:2424");
	refused(f, "mailbox:\n  lmtp: 127.0.0.1\n" RULES, 5, "HOST:PORT");
	refused(f, "mailbox:\n  lmtp: 127.0.0.1:0\n" RULES, 5, "port must be from 1");
	refused(f, "mailbox:\n  lmtp: 127.0.0.1:70000\n" RULES, 5, "port must be from 1");
	refused(f, "mailbox:\n  lmtp: \"[::1:24\"\n" RULES, 5, "[V6ADDRESS]:PORT");
	refused(f, "mailbox:\n  lmtp: \"[nope]:24\"\n" RULES, 5, "not an IPv6 address");
	refused(f, "mailbox:\n  lmtp: \"unix:\"\n" RULES, 5, "needs a socket path");
	refused(f, "mailbox:\n  lmtp: \"a b:24\"\n" RULES, 5, "HOST:PORT");
	/* A mailbox that takes mail must name its own addresses (never replied to). */
	refused(f, "mailbox:\n  lmtp: 127.0.0.1:2424\n" RULES, 4, "mailbox.addresses is missing");
	refused(f, "mailbox:\n  maildir: mail/privacy\n" RULES, 4, "mailbox.addresses is missing");
	refused(f, "mailbox:\n  addresses: []\n  lmtp: 127.0.0.1:2424\n" RULES, 4,
	        "mailbox.addresses is missing");
	/* Without lmtp or maildir (lethe mail-intake feeds it), none are needed. */
	assert_int_equal(load_ok(f, HEAD MINIMAL)->naddresses, 0);
}

static void
test_config_errors(void **state)
{
	struct fx *f = *state;

	refused(f, "mailbox: [1]\n", 4, "mailbox must be a mapping");
	refused(f, "mailbox:\n  lmpt: 1\n" RULES, 5, "unknown key 'lmpt'");
	refused(f, "mailbox:\n  addresses: [nope]\n" RULES, 5, "email address");
	refused(f, "mailbox:\n  lmtp_remote: maybe\n" RULES, 5, "true or false");
	refused(f, "mailbox:\n  lmtp_connections: 0\n" RULES, 5, "from 1 to 1024");
	refused(f, "mailbox:\n  poll: 2h\n" RULES, 5, "mailbox.poll must be a duration");
	refused(f, "mailbox:\n  max_size: 1MB2\n" RULES, 5, "mailbox.max_size");
	refused(f, "mailbox:\n  max_size: 65535\n" RULES, 5, "from 64KB to 64MB");
	refused(f, "mailbox:\n  max_size: 65MB\n" RULES, 5, "from 64KB to 64MB");
	refused(f, "mailbox:\n  max_parts: -1\n" RULES, 5, "mailbox.max_parts");
	refused(f, "mailbox:\n  keep: 10m\n" RULES, 5, "1h to 366d");
	refused(f, "mailbox:\n  replies: 3\n" RULES, 5, "replies must be a mapping");
	refused(f, "mailbox:\n  replies: {per: 3}\n" RULES, 5, "unknown key 'per'");
	refused(f, "mailbox:\n  replies: {per_address: 5, total: 4}\n" RULES, 5,
	        "total must be at least per_address");
	refused(f, "mailbox:\n  code_labels: []\n" RULES, 5, "at least one label");
	refused(f, "mailbox:\n  addresses: [a@b.c]\n", 4, "mailbox.rules is missing");
	refused(f, "mailbox:\n  rules: []\n", 5, "at least one rule");
	refused(f, "mailbox:\n  rules: x\n", 5, "list of rules");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: Del, subjects: [x], kind: erasure, scope: "
	        "account, identities: [sender]}\n",
	        6, "a rule's name must be");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	        "account, identities: [sender]}\n    - {name: a, subjects: [y], kind: "
	        "erasure, scope: account, identities: [sender]}\n",
	        7, "rule 'a' is named twice (first at line 6)");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, kind: erasure, scope: account, "
	        "identities: [sender]}\n",
	        6, "needs subjects or phrases");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [\"  \"], kind: erasure, scope: "
	        "account, identities: [sender]}\n",
	        6, "blank");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], scope: account, "
	        "identities: [sender]}\n",
	        6, "kind is missing");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, "
	        "identities: [sender]}\n",
	        6, "scope is missing");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	        "account}\n",
	        6, "identities is missing");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	        "account, identities: [nick]}\n",
	        6, "identity 'nick' is neither \"sender\" nor a claim");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	        "account, identities: [sender, sender]}\n",
	        6, "named twice");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	        "account, identities: [sender], notify_from_body: 2}\n",
	        6, "true or false");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	        "account, identities: [sender], notify_from_body: true}\n",
	        6, "notify_from_body is for review requests");
	refused(f,
	        "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	        "account, identities: [sender], extra: 1}\n",
	        6, "unknown key 'extra'");
	/* Claims. */
	refused(f,
	        "mailbox:\n  claims:\n    Bad: {identity: email, labels: [x], proof: review}\n"
	        "  rules: []\n",
	        6, "a claim's name must be");
	refused(f,
	        "mailbox:\n  claims:\n    sender: {identity: email, labels: [x], proof: "
	        "review}\n  rules: []\n",
	        6, "is the From: address");
	refused(f, "mailbox:\n  claims:\n    a: {labels: [x], proof: review}\n  rules: []\n", 6,
	        "identity is missing");
	refused(f, "mailbox:\n  claims:\n    a: {identity: email, proof: review}\n  rules: []\n", 6,
	        "labels is missing");
	refused(f,
	        "mailbox:\n  claims:\n    a: {identity: email, labels: [], proof: review}\n"
	        "  rules: []\n",
	        6, "at least one label");
	refused(f, "mailbox:\n  claims:\n    a: {identity: email, labels: [x]}\n  rules: []\n", 6,
	        "proof must be address_on_file");
	refused(f,
	        "mailbox:\n  claims:\n    a: {identity: email, labels: [x], proof: trust}\n"
	        "  rules: []\n",
	        6, "proof must be address_on_file");
	refused(f,
	        "mailbox:\n  claims:\n    a: {identity: email, labels: [x], proof: review, "
	        "pattern: \"[a-\"}\n  rules: []\n",
	        6, "mailbox.claims.a.pattern: ");
	refused(f,
	        "mailbox:\n  claims:\n    a: {identity: email, labels: [x], proof: review, "
	        "strip_at: 1}\n  rules: []\n",
	        6, "true or false");
	refused(f,
	        "mailbox:\n  claims:\n    a: {identity: email, labels: [x], proof: review, "
	        "size: 1}\n  rules: []\n",
	        6, "unknown key 'size'");
	refused(f,
	        "mailbox:\n  claims:\n    a: {identity: email, labels: [x], proof: review}\n"
	        "    a: {identity: email, labels: [y], proof: review}\n  rules: []\n",
	        7, "appears twice");
	{
		char many[4096] = "mailbox:\n  claims:\n";
		size_t n = strlen(many);
		int i;

		for (i = 0; i <= MAILBOX_CLAIMS_MAX; i++)
			n += (size_t)snprintf(
			    many + n, sizeof(many) - n,
			    "    c%d: {identity: email, labels: [x], proof: review}\n", i);
		refused(f, many, 6, "17 claims (at most 16)");
	}
}

/* ---- the checks against the data map ---- */

static void
test_check(void **state)
{
	struct fx *f = *state;

	/* mailbox: without mail:. */
	check_refused(f, CONFIG_HEAD, MINIMAL, 3, "mailbox needs the mail: section");
	check_refused(f, HEAD,
	              "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erase, scope: "
	              "account, identities: [sender]}\n",
	              6, "kind 'erase' is not one of erasure, export, restriction");
	check_refused(f, HEAD,
	              "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	              "everything, identities: [sender]}\n",
	              6, "scope 'everything' is not in the data map");
	/* The meta scope has no email: the sender cannot name a person there. */
	check_refused(f, HEAD,
	              "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	              "meta, identities: [sender]}\n",
	              6, "scope 'meta' does not name a person by 'email' (identity 'sender'");
	check_refused(f, HEAD,
	              "mailbox:\n  claims:\n    nick: {identity: nickname, labels: [x], proof: "
	              "review}\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	              "account, identities: [sender]}\n",
	              6, "identity 'nickname' is not an identity kind of the data map");
	check_refused(f, HEAD,
	              "mailbox:\n  claims:\n    ig: {identity: instagram_username, labels: [x], "
	              "proof: review}\n  rules:\n    - {name: a, subjects: [x], kind: erasure, "
	              "scope: account, identities: [sender, ig]}\n",
	              8, "scope 'account' does not name a person by 'instagram_username'");
	/* mail.identity is what the sender is. */
	check_refused(f,
	              CONFIG_HEAD "mail: {url: \"smtp://127.0.0.1:2525\", from: a@example.com, "
	                          "identity: user_id}\n",
	              "mailbox:\n  rules:\n    - {name: a, subjects: [x], kind: erasure, scope: "
	              "channel, identities: [sender]}\n",
	              6, "by 'user_id' (identity 'sender', mail.identity)");
	/* And every kind is known. */
	load_ok(f, HEAD "mailbox:\n  rules:\n"
	                "    - {name: a, subjects: [x], kind: export, scope: account, identities: "
	                "[sender]}\n"
	                "    - {name: b, subjects: [y], kind: restriction, scope: account, "
	                "identities: [sender]}\n");
}

/* ---- the seed pages' sections in docs/mail-intake.md ---- */

#define SEEDS 5

/* The yaml block after "<!-- mailbox: seed-00@n -->" in docs/mail-intake.md (caller frees). */
static char *
seed_block(int n)
{
	char mark[64], *doc, *p, *end, *out;
	FILE *fp = fopen("docs/mail-intake.md", "r");
	long len;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	assert_true(len > 0);
	rewind(fp);
	doc = calloc(1, (size_t)len + 1);
	assert_non_null(doc);
	assert_int_equal(fread(doc, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	snprintf(mark, sizeof(mark), "<!-- mailbox: seed-%03d -->\n```yaml\n", n);
	p = strstr(doc, mark);
	if (p == NULL)
		fail_msg("docs/mail-intake.md has no %s", mark);
	p += strlen(mark);
	end = strstr(p, "\n```\n");
	assert_non_null(end);
	out = calloc(1, strlen(HEAD) + (size_t)(end - p) + 2);
	assert_non_null(out);
	memcpy(out, HEAD, strlen(HEAD));
	memcpy(out + strlen(HEAD), p, (size_t)(end - p) + 1);
	free(doc);
	return out;
}

/* Load seed @n's section from the docs, checked against the demo map. */
static const struct mailbox_config *
seed(struct fx *f, int n)
{
	char *text = seed_block(n);
	const struct mailbox_config *mb = load_ok(f, text);

	free(text);
	assert_true(mb->enabled);
	assert_true(mb->nrules >= 1);
	assert_null(mb->lmtp);
	assert_null(mb->maildir);
	return mb;
}

static void
test_seed_configs_load(void **state)
{
	int i;

	for (i = 0; i < SEEDS; i++)
		seed(*state, i);
}

/* ---- understanding ---- */

/* A human's mail from @from with @subject and @text. */
static struct mail_in
mail(const char *from, const char *subject, const char *text)
{
	struct mail_in m;

	memset(&m, 0, sizeof(m));
	m.from = (char *)from;
	m.return_path = (char *)from;
	m.subject = (char *)(subject != NULL ? subject : "");
	m.text = (char *)(text != NULL ? text : "");
	return m;
}

static void
understand(const struct mailbox_config *mb, const struct mail_in *m, struct mailbox_decision *d)
{
	mailbox_understand(mb, MAIL_FROM, m, d);
}

/* The value of claim @name in @d, or NULL. */
static const char *
claim_of(const struct mailbox_decision *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nclaims; i++)
		if (strcmp(d->claims[i].conf->name, name) == 0)
			return d->claims[i].value;
	return NULL;
}

static void
test_seed_000(void **state)
{
	const struct mailbox_config *mb = seed(*state, 0);
	struct mailbox_decision d;
	struct mail_in m =
	    mail("ana@example.org", "Account deletion", "Hello,\nplease delete my account.\nAna\n");

	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_string_equal(d.rule->name, "account-deletion");
	assert_null(d.who.conf);
	assert_string_equal(d.who.value, "ana@example.org");
	assert_string_equal(d.identity, MAILBOX_SENDER);
	assert_string_equal(d.reply_to, "ana@example.org");
	assert_null(d.no_reply);
	assert_null(d.reason);
	assert_string_equal(mailbox_outcome_str(d.outcome), "request");
	mailbox_decision_wipe(&d);
	assert_int_equal(d.who.value[0], 0);
	/* Re:, Fwd:, AW:, tags and odd case and spacing. */
	m.subject = "RE: Fwd: [EXT] AW:  account   DELETION please";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	m.subject = "Re[2]: TR : Account deletion";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	/* Another subject: nothing matches. */
	m.subject = "Account question";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	assert_null(d.rule);
	assert_string_equal(d.reason, "no rule matched");
	assert_string_equal(d.reply_to, "ana@example.org");
	/* The subject is not read from the text (no phrases). */
	m.text = "Account deletion";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	/* A From: that is not an address: the rule finds no identity. */
	m = mail("not an address", "Account deletion", "");
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	assert_string_equal(d.rule->name, "account-deletion");
	assert_string_equal(d.reason, "the rule found no identity");
	assert_string_equal(d.no_reply, "no valid address");
	/* The mailbox's own address is never the sender. */
	m = mail("HOLA@comartinvi.com", "Account deletion", "");
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	assert_string_equal(d.no_reply, "our own address");
}

static void
test_seed_001(void **state)
{
	const struct mailbox_config *mb = seed(*state, 1);
	struct mailbox_decision d;
	struct mail_in m = mail("ana@example.org", "Instagram data deletion",
	                        "Hi, the email on my SocioGenie account is ana@example.org.\n"
	                        "Instagram user ID: 17841400000000001\n");

	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_string_equal(d.rule->name, "instagram-data-deletion");
	assert_non_null(d.who.conf);
	assert_string_equal(d.who.conf->name, "instagram_user_id");
	assert_int_equal(d.who.conf->proof, MAILBOX_PROOF_ON_FILE);
	assert_string_equal(d.who.value, "17841400000000001");
	assert_string_equal(d.identity, "instagram_user_id");
	assert_string_equal(d.notify, "");
	/* A confirmation code instead: a status question. */
	m.text = "My account email is ana@example.org\nConfirmation code: " CODE34 "\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_STATUS);
	assert_string_equal(d.code, CODE34);
	/* Only the address: the operator reads it. */
	m.text = "My account email is ana@example.org. Please delete my Instagram data.\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	assert_string_equal(d.reason, "the rule found no identity");
	/* A user id that is not digits is no claim. */
	m.text = "Instagram user ID: @ana.photos\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	assert_int_equal(d.nclaims, 0);
}

static void
test_seed_002(void **state)
{
	const struct mailbox_config *mb = seed(*state, 2);
	struct mailbox_decision d;
	struct mail_in m = mail("bo@example.net", "Account Deletion Request",
	                        "Hello,\n\nAccount name: Acme Studio\n\nThanks, Bo\n");

	/* The account name: the link goes to the address on file. */
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_string_equal(d.rule->name, "account-deletion");
	assert_string_equal(d.who.conf->name, "account_name");
	assert_string_equal(d.who.value, "Acme Studio");
	assert_string_equal(d.identity, "account_name");
	/* Tenant/site name, the label alone on its line. */
	m.text = "Tenant/site name:\n\n   acme-eu\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_string_equal(d.who.value, "acme-eu");
	/* No account name: the sender. */
	m.text = "Please delete everything.";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_null(d.who.conf);
	assert_string_equal(d.who.value, "bo@example.net");
	/* Prose is no claim: the owner writing from the registered address gets the link. */
	m.text = "Hello,\nMy account is registered to this address.\nThe site is down too.\n"
	         "Tenant is acme.\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_null(d.who.conf);
	assert_string_equal(d.who.value, "bo@example.net");
	assert_string_equal(d.identity, MAILBOX_SENDER);
	assert_int_equal(d.nclaims, 0);
	/* Two-word labels keep the "is" form. */
	m.text = "My account name is Acme Studio.\n";
	understand(mb, &m, &d);
	assert_string_equal(d.who.conf->name, "account_name");
	assert_string_equal(d.who.value, "Acme Studio");
	/* Meta: an Instagram username goes to review, notified at From:. */
	m.subject = "Fwd: Meta Data Deletion Request";
	m.text = "Instagram username - @bo.sounds\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REVIEW);
	assert_string_equal(d.rule->name, "meta-data-deletion");
	assert_string_equal(d.who.conf->name, "instagram_username");
	assert_string_equal(d.who.value, "bo.sounds");
	assert_string_equal(d.identity, "instagram_username");
	assert_string_equal(d.notify, "bo@example.net");
	assert_string_equal(mailbox_outcome_str(d.outcome), "review");
	/* A Facebook Page name (no pattern: spaces and UTF-8 kept). */
	m.text = "Our Facebook Page name is Bo's Caf\xc3\xa9 Sounds.\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REVIEW);
	assert_string_equal(d.who.conf->name, "facebook_page");
	assert_string_equal(d.who.value, "Bo's Caf\xc3\xa9 Sounds");
	/* Both: the rule's order (the username first), both listed for the operator. */
	m.text = "Facebook page: Bo Sounds\nInstagram: bo.sounds\n";
	understand(mb, &m, &d);
	assert_string_equal(d.who.conf->name, "instagram_username");
	assert_int_equal(d.nclaims, 2);
	assert_string_equal(claim_of(&d, "facebook_page"), "Bo Sounds");
	/* A username failing its pattern is no claim: nothing names the person. */
	m.text = "Instagram username: bo sounds!!\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	assert_string_equal(d.reason, "the rule found no identity");
	assert_string_equal(d.rule->name, "meta-data-deletion");
}

static void
test_seed_003(void **state)
{
	const struct mailbox_config *mb = seed(*state, 3);
	struct mailbox_decision d;
	struct mail_in m = mail("cy@example.com", "Instagram data",
	                        "Hello PickrTech (contact@pickrtech.com),\n"
	                        "\xe2\x80\xa2 Your Instagram username: @cy_shots\n"
	                        "\xe2\x80\xa2 I want my Instagram-related app data deleted.\n"
	                        "\xe2\x80\xa2 Confirm to: <mailto:Cy.Other@example.org>.\n");

	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REVIEW);
	assert_string_equal(d.rule->name, "instagram-data-deletion");
	assert_string_equal(d.who.value, "cy_shots");
	assert_string_equal(d.identity, "instagram_username");
	/* The address the body gives, not the mailbox's own. */
	assert_string_equal(d.notify, "Cy.Other@example.org");
	assert_string_equal(d.reply_to, "cy@example.com");
	/* No address in the body: the From: address. */
	m.text = "My Instagram username is cy_shots. Please delete my data.\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REVIEW);
	assert_string_equal(d.who.value, "cy_shots");
	assert_string_equal(d.notify, "cy@example.com");
	/* Only a no-reply or our own address in the body: From: as well. */
	m.text = "Instagram: cy_shots\ndelete it, reply to noreply@example.com or "
	         "contact@pickrtech.com or lethe@example.com\n";
	understand(mb, &m, &d);
	assert_string_equal(d.notify, "cy@example.com");
	/* No statement: no rule. */
	m.text = "Instagram username: cy_shots\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	assert_string_equal(d.reason, "no rule matched");
	/* The claim is listed for the operator all the same. */
	assert_int_equal(d.nclaims, 1);
	assert_string_equal(claim_of(&d, "instagram_username"), "cy_shots");
}

static void
test_seed_004(void **state)
{
	const struct mailbox_config *mb = seed(*state, 4);
	struct mailbox_decision d;
	struct mail_in m = mail("di@example.com", "Data Deletion Request", "");

	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_string_equal(d.rule->name, "data-deletion");
	assert_string_equal(d.rule->kind, "erasure");
	m.subject = "Hello";
	m.text = "Could you send me an export of my data, please?";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_string_equal(d.rule->name, "data-export");
	assert_string_equal(d.rule->kind, "export");
	assert_string_equal(d.who.value, "di@example.com");
	m.subject = "Data export";
	m.text = "";
	understand(mb, &m, &d);
	assert_string_equal(d.rule->name, "data-export");
}

/* The notify address of seed 003's mail with @text, sent from cy@example.com. */
static void
expect_notify(const struct mailbox_config *mb, const char *text, const char *want)
{
	struct mailbox_decision d;
	struct mail_in m = mail("cy@example.com", "Instagram data", text);

	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REVIEW);
	if (strcmp(d.notify, want) != 0)
		fail_msg("'%s': notify '%s', want '%s'", text, d.notify, want);
	mailbox_decision_wipe(&d);
}

/* notify_from_body: the address given to confirm, not a quoted or signed one. */
static void
test_notify_from_body(void **state)
{
	struct fx *f = *state;
	const struct mailbox_config *mb = seed(f, 3);
	char *block, *text;
	size_t n;

	/* A quoted attribution, a quoted line and a signature come first. */
	expect_notify(mb,
	              "On Mon, 1 Dec 2025 at 10:00, Alice <alice@example.org> wrote:\n"
	              "> write to bob@example.org\n"
	              "Please delete my data.\nInstagram username: cy_shots\n"
	              "Confirm at: cy.confirm@example.net\n",
	              "cy.confirm@example.net");
	expect_notify(mb,
	              "Please delete my data.\nInstagram: cy_shots\n"
	              "-- \nCy, assistant to dan@example.org\n"
	              "An email address where you can confirm completion:\n\n"
	              "  cy.confirm@example.net\n",
	              "cy.confirm@example.net");
	/* An attribution over two lines. */
	expect_notify(mb,
	              "On Mon, 1 Dec 2025 at 10:00, Alice <alice@example.org>\nwrote:\n"
	              "Delete it.\nInstagram: cy_shots\n",
	              "cy@example.com");
	/* No label: the first address not quoted. */
	expect_notify(mb,
	              "> Bob <bob@example.org> asked\nDelete it.\nInstagram: cy_shots\n"
	              "Reach me at cy.other@example.net or dan@example.org\n",
	              "cy.other@example.net");
	/* "contact me at", "e-mail" */
	expect_notify(mb,
	              "Delete it (see dan@example.org).\nInstagram: cy_shots\n"
	              "Contact me at cy.other@example.net\n",
	              "cy.other@example.net");
	expect_notify(mb, "Delete it.\nInstagram: cy_shots\nE-mail: <cy.other@example.net>\n",
	              "cy.other@example.net");
	/* The server's contact address is never the one notified. */
	block = seed_block(3);
	n = strlen(block) + 64;
	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "server: {contact: Help@PickrTech.com}\n%s", block);
	free(block);
	mb = load_ok(f, text);
	free(text);
	assert_string_equal(mb->contact, "help@pickrtech.com");
	expect_notify(mb, "Delete it.\nInstagram: cy_shots\nConfirm to help@pickrtech.com\n",
	              "cy@example.com");
	expect_notify(mb,
	              "Delete it.\nInstagram: cy_shots\nConfirm: HELP@pickrtech.com or "
	              "cy.other@example.net\n",
	              "cy.other@example.net");
}

/* "Meta Data Deletion Request" contains "Data Deletion Request": the first rule wins. */
static void
test_first_match_wins(void **state)
{
	struct fx *f = *state;
	const char *rules =
	    HEAD "mailbox:\n  rules:\n"
	         "    - {name: %s, subjects: [\"%s\"], kind: erasure, scope: account, identities: "
	         "[sender]}\n"
	         "    - {name: %s, subjects: [\"%s\"], kind: export, scope: account, identities: "
	         "[sender]}\n";
	char text[1024];
	struct mailbox_decision d;
	struct mail_in m = mail("a@example.com", "Meta Data Deletion Request", "");

	snprintf(text, sizeof(text), rules, "meta", "Meta Data Deletion Request", "data",
	         "Data Deletion Request");
	understand(load_ok(f, text), &m, &d);
	assert_string_equal(d.rule->name, "meta");
	m.subject = "Data Deletion Request";
	understand(&f->cfg.mailbox, &m, &d);
	assert_string_equal(d.rule->name, "data");
	/* In the other order the short wording takes both. */
	snprintf(text, sizeof(text), rules, "data", "Data Deletion Request", "meta",
	         "Meta Data Deletion Request");
	m.subject = "Meta Data Deletion Request";
	understand(load_ok(f, text), &m, &d);
	assert_string_equal(d.rule->name, "data");
}

#define CLAIMS_CONF                                                                                \
	HEAD                                                                                       \
	    "mailbox:\n"                                                                           \
	    "  claims:\n"                                                                          \
	    "    name:\n"                                                                          \
	    "      identity: account_name\n"                                                       \
	    "      labels: [\"account name\", \"name\"]\n"                                         \
	    "      pattern: \"[A-Za-z0-9 ._-]{1,64}\"\n"                                           \
	    "      proof: address_on_file\n"                                                       \
	    "    user:\n"                                                                          \
	    "      identity: user_id\n"                                                            \
	    "      labels: [\"user id\", \"user\"]\n"                                              \
	    "      strip_at: false\n"                                                              \
	    "      proof: address_on_file\n"                                                       \
	    "  rules:\n"                                                                           \
	    "    - {name: a, phrases: [close], kind: erasure, scope: account, identities: [name, " \
	    "user]}\n"

/* The value of claim @name in @text under CLAIMS_CONF, or NULL. */
static void
expect_claim(struct fx *f, const char *text, const char *name, const char *want)
{
	struct mailbox_decision d;
	struct mail_in m = mail("a@example.com", "close", text);
	const char *got;

	understand(&f->cfg.mailbox, &m, &d);
	got = claim_of(&d, name);
	if (want == NULL && got != NULL)
		fail_msg("'%s': %s found '%s'", text, name, got);
	if (want != NULL && (got == NULL || strcmp(got, want) != 0))
		fail_msg("'%s': %s: '%s', want '%s'", text, name, got != NULL ? got : "(none)",
		         want);
}

static void
test_claim_forms(void **state)
{
	struct fx *f = *state;

	load_ok(f, CLAIMS_CONF);
	expect_claim(f, "Account name: acme", "name", "acme");
	expect_claim(f, "ACCOUNT  NAME=acme", "name", "acme");
	expect_claim(f, "account name - acme", "name", "acme");
	expect_claim(f, "account name \xe2\x80\x93 acme", "name", "acme");
	expect_claim(f, "account name is acme.", "name", "acme");
	expect_claim(f, "account name is: acme;", "name", "acme");
	expect_claim(f, "  > * - my account name: acme studio,", "name", "acme studio");
	expect_claim(f, "The account name is @acme", "name", "acme");
	expect_claim(f, "Account name:\r\n\r\n  acme\r\n", "name", "acme");
	expect_claim(f, "Account name\nacme\n", "name", "acme");
	expect_claim(f, "Account name:", "name", NULL);
	/* Not at the start of the line, or without a separator. */
	expect_claim(f, "I think the account name: acme", "name", NULL);
	expect_claim(f, "Account names: acme", "name", NULL);
	expect_claim(f, "Account name acme", "name", NULL);
	/* "LABEL is value" for labels of two or more words only. */
	expect_claim(f, "Name is acme", "name", NULL);
	expect_claim(f, "My user is 42", "user", NULL);
	expect_claim(f, "Name is: acme", "name", NULL);
	expect_claim(f, "Name - acme", "name", "acme");
	/* The longest label: "account name" not "name"... */
	expect_claim(f, "Name: acme", "name", "acme");
	/* ...and "user id" before "user". */
	expect_claim(f, "User ID: @42", "user", "@42"); /* strip_at: false */
	/* A value failing the pattern is no claim; a later valid one is. */
	expect_claim(f, "Account name: acme!\nAccount name: acme2", "name", "acme2");
	/* The first valid value wins. */
	expect_claim(f, "Account name: one\nAccount name: two", "name", "one");
	/* At most 128 bytes. */
	expect_claim(
	    f,
	    "user: "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    "user", NULL);
	expect_claim(
	    f,
	    "user: "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    "user",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static void
test_codes(void **state)
{
	struct fx *f = *state;
	const struct mailbox_config *mb = load_ok(f, HEAD MINIMAL);
	struct mailbox_decision d;
	struct mail_in m = mail("a@example.com", "Question", NULL);

	m.text = "Hi,\nmy confirmation code is ABCD EFGH-IJKL MNOP QRST UVWX YZ23 4567 AB.\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_STATUS);
	assert_string_equal(d.code, CODE34);
	assert_null(d.reason);
	assert_string_equal(d.reply_to, "a@example.com");
	assert_string_equal(mailbox_outcome_str(d.outcome), "status");
	/* A 32-character code, the label alone on its line. */
	m.text = "Request code\n" CODE32 "\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_STATUS);
	assert_string_equal(d.code, CODE32);
	/* A status page link anywhere. */
	m.text = "I got https://privacy.example.com/data-deletion/status?id=" CODE34
	         "&x=1 from Meta, what now?";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_STATUS);
	assert_string_equal(d.code, CODE34);
	/* Not a code: wrong length, a 1 or 8, no label. */
	m.text = "code: " CODE34 "c\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	assert_string_equal(d.code, "");
	m.text = "code: abcdefghijklmnopqrstuvwxyz234561\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	m.text = CODE34 "\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	m.text = "status?id=" CODE34 "x\n";
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_UNMATCHED);
	/* A rule that matches with its identity wins over a code. */
	m.subject = "Account deletion";
	m.text = "code: " CODE34;
	understand(mb, &m, &d);
	assert_int_equal(d.outcome, MAILBOX_REQUEST);
	assert_string_equal(d.code, "");
}

static void
test_robots(void **state)
{
	struct fx *f = *state;
	const struct mailbox_config *mb = load_ok(f, HEAD MINIMAL);
	struct mailbox_decision d;
	struct mail_in m = mail("a@example.com", "Account deletion", "code: " CODE34);
	enum mail_in_robot r;

	for (r = MAIL_IN_AUTO_SUBMITTED; r <= MAIL_IN_DAEMON; r++) {
		m.robot = r;
		understand(mb, &m, &d);
		assert_int_equal(d.outcome, MAILBOX_ROBOT);
		assert_null(d.rule);
		assert_string_equal(d.reason, mail_in_robot_str(r));
		assert_string_equal(d.no_reply, "a robot's mail");
		assert_string_equal(d.reply_to, "");
		assert_string_equal(d.code, "");
		assert_string_equal(mailbox_outcome_str(d.outcome), "robot");
	}
}

/* The no_reply of a human's mail whose envelope sender is @rp and From: @from. */
static void
expect_no_reply(const struct mailbox_config *mb, const char *rp, const char *from, const char *want,
                const char *reply_to)
{
	struct mailbox_decision d;
	struct mail_in m = mail(from, "x", "");

	m.return_path = (char *)rp;
	understand(mb, &m, &d);
	if (want == NULL)
		assert_null(d.no_reply);
	else if (d.no_reply == NULL || strcmp(d.no_reply, want) != 0)
		fail_msg("%s / %s: no_reply '%s', want '%s'", rp != NULL ? rp : "NULL",
		         from != NULL ? from : "NULL", d.no_reply != NULL ? d.no_reply : "NULL",
		         want);
	assert_string_equal(d.reply_to, reply_to);
}

static void
test_no_reply(void **state)
{
	struct fx *f = *state;
	const struct mailbox_config *mb =
	    load_ok(f, HEAD "mailbox:\n  addresses: [privacy@example.com]\n" RULES);

	/* The envelope sender first, the From: address when there is none. */
	expect_no_reply(mb, "bounce+1@example.net", "a@example.com", NULL, "bounce+1@example.net");
	expect_no_reply(mb, NULL, "a@example.com", NULL, "a@example.com");
	expect_no_reply(mb, "", "a@example.com", "null sender", "");
	expect_no_reply(mb, NULL, NULL, "no valid address", "");
	expect_no_reply(mb, NULL, "a@", "no valid address", "");
	expect_no_reply(mb, "a b@example.com", "a@example.com", "no valid address", "");
	expect_no_reply(mb, "Privacy@Example.com", NULL, "our own address", "");
	expect_no_reply(mb, "LETHE@example.com", NULL, "our own address", "");
	expect_no_reply(mb, "MAILER-DAEMON@example.com", NULL, "no-reply address", "");
	expect_no_reply(mb, "postmaster@example.com", NULL, "no-reply address", "");
	expect_no_reply(mb, "owner-list@example.com", NULL, "no-reply address", "");
	expect_no_reply(mb, "list-request@example.com", NULL, "no-reply address", "");
	expect_no_reply(mb, "noreply@example.com", NULL, "no-reply address", "");
	expect_no_reply(mb, "No-Reply@example.com", NULL, "no-reply address", "");
	expect_no_reply(mb, "do-not-reply@example.com", NULL, "no-reply address", "");
	/* Near misses are people. */
	expect_no_reply(mb, "owner@example.com", NULL, NULL, "owner@example.com");
	expect_no_reply(mb, "request@example.com", NULL, NULL, "request@example.com");
	expect_no_reply(mb, "noreplyfan@example.com", NULL, NULL, "noreplyfan@example.com");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_absent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_lmtp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seed_configs_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seed_000, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seed_001, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seed_002, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seed_003, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seed_004, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_from_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_match_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_codes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_robots, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_reply, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
