/* SPDX-License-Identifier: MIT */
/*
 * config.h - lethe.yaml, the configuration file (config.c; the keys and
 * secrets it names in config_keys.c).
 *
 * Relative paths in the file are relative to the file's directory, so a
 * configuration can be moved with its data.  Secrets (the anonymize key) are
 * read from an environment variable or a file, never written in lethe.yaml.
 * README.md "Configuration" documents every key.
 */
#ifndef LETHE_CONFIG_H
#define LETHE_CONFIG_H

#include "config/policy.h"
#include "mail/mail.h"
#include "mail/mailbox.h"
#include "util/fmacros.h"
#include "util/hash.h"
#include "util/rc.h"

/* One Meta app family (Facebook Login, Instagram Login...). */
struct meta_app {
	char *name;        /* path segment: /api/meta/{name}/... */
	char *secret_env;  /* env var holding the app secret, or NULL */
	char *secret_file; /* resolved file holding it, or NULL */
	char *identity;    /* identity kind its user_id means (data map) */
	char *scope;       /* data map scope a deletion runs in */
	uint8_t *secret;   /* the secret once loaded */
	size_t secret_len; /* its length */
	int line;          /* line in the configuration */
};

/* An app API key: its name and the SHA-256 of the key (the key itself is never stored). */
struct api_key {
	char *name;         /* who holds it, for logs */
	uint8_t sha256[32]; /* SHA-256 of the key as presented */
	int line;           /* line in the configuration */
};

/* The outbox of upstream jobs (docs/internals/outbox.md). */
struct outbox_config {
	int64_t base_ms;           /* first backoff bound */
	int64_t cap_ms;            /* largest backoff bound */
	int64_t max_attempts;      /* calls before a job is dead */
	int64_t max_age_s;         /* age after which a job is dead */
	int64_t lease_ms;          /* how long a running job is held */
	char *key_env;             /* env var holding the sealing key (hex) */
	char *key_file;            /* resolved key file, or NULL */
	uint8_t key[HASH_KEY_LEN]; /* the sealing key once loaded */
	bool key_loaded;           /* key is valid */
};

/* One choice of the self-service page (selfservice.offers). */
struct selfservice_offer {
	char *id;    /* the form's value, e.g. "close-account" */
	char *kind;  /* the request kind: erasure (POLICY_KINDS) */
	char *scope; /* the data map scope */
	char *label; /* what the page shows the person */
	int line;    /* line in lethe.yaml, 0 for the default */
};

/* The self-service page: the `selfservice:` section (docs/selfservice.md). */
struct selfservice_config {
	bool enabled;                     /* selfservice.enabled (default: mail is configured) */
	char *path;                       /* selfservice.path, default "/privacy" */
	struct selfservice_offer *offers; /* selfservice.offers (default: close-account) */
	size_t noffers;                   /* number of offers */
	int64_t per_address;              /* selfservice.limits.per_address: asks per window (5) */
	int64_t per_client;               /* selfservice.limits.per_client: asks per window (30) */
	int64_t total;                    /* selfservice.limits.total: all asks per window (1000) */
	int64_t window_s;                 /* selfservice.limits.window (1 h) */
	int line;                         /* line of the section, 0 if absent */
};

struct keys_ring; /* audit/keys.h */

/* One recipient of erasure notices (GDPR Art. 19): proof.recipients. */
struct proof_recipient {
	char *name;         /* shown in logs, metrics and the outbox */
	char *url;          /* http:// or https:// URL the notice is POSTed to */
	bool insecure;      /* insecure: true: plain http:// to another host allowed */
	char **identities;  /* identity kinds whose values the notice carries (may be none) */
	size_t nidentities; /* number of them */
	char **events;      /* request states notified: completed, completed_with_retention */
	size_t nevents;     /* number of them */
	int line;           /* line in lethe.yaml */
};

/* Exports: the `export:` section (docs/export.md). */
struct export_config {
	char *dir;            /* archives, resolved; default exports/ beside the state store */
	int64_t link_ttl_s;   /* an archive and its download links expire after this (7d) */
	int64_t rate_limit_s; /* one export per person within this (7d); 0: no limit */
	int64_t jsonl_from;   /* a table of more rows than this is JSON Lines (10000) */
	int line;             /* line of the section, 0 if absent */
};

/* Proof: the `proof:` section (docs/proof.md). */
struct proof_config {
	char *signing_key_file;      /* resolved; default signing.key beside the state store */
	char **previous_keys;        /* resolved files of older keys still published */
	size_t nprevious_keys;       /* number of them */
	int64_t checkpoint_interval; /* s between signed checkpoints of the chain (60) */
	bool scan;                   /* residual scan after each request's erasure (true) */
	bool reapply_at_start;       /* lethe serve looks for restored people at start (true) */
	struct proof_recipient *recipients; /* Art. 19 recipients, file order */
	size_t nrecipients;                 /* number of them */
	int64_t notify_timeout_ms;          /* one notice's HTTP call at most (10 s) */
	struct keys_ring *keys;             /* loaded by config_load_signing_keys(), or NULL */
	char *path;                         /* the configuration file (for messages) */
	int line;                           /* line of the section, 0 if absent */
};

struct platforms; /* platform/platform_config.h */
struct media_set; /* media/media.h */

struct lethe_config {
	char *path;                  /* the file read */
	char *dir;                   /* its directory */
	char *app_db;                /* app database URL or path, as written */
	char *media_root;            /* resolved media directory, a URL as written, or NULL */
	struct media_set *media;     /* media stores: "local" (media_root) and media_stores: */
	int64_t long_xact_warn_s;    /* app.long_transaction_warn_s: PostgreSQL (300; 0 off) */
	char *datamap_path;          /* resolved data map path */
	char *state_db;              /* resolved state store path, or a postgresql:// URL */
	char *state_files;           /* local path its files are named after (var/state.db on PG) */
	char *state_shown;           /* state_db for messages: a URL's password redacted */
	char *key_env;               /* env var holding the anonymize key (hex) */
	char *key_file;              /* resolved key file, or NULL */
	uint8_t key[HASH_KEY_LEN];   /* the anonymize key once loaded */
	bool key_loaded;             /* key is valid */
	int64_t batch_rows;          /* 0 = adaptive */
	int max_txn_ms;              /* adaptive batches aim below this */
	int yield_ms;                /* pause after a batch while the app writes */
	char *listen;                /* server.listen "ADDR:PORT" */
	char *public_url;            /* server.public_url, base of status URLs (no trailing /) */
	bool public_url_default;     /* public_url not configured: it is http://LISTEN */
	char *contact;               /* server.contact, shown on pages */
	char *app_name;              /* server.app_name, shown on pages */
	char *status_template;       /* server.status_template, resolved, or NULL */
	char *templates_dir;         /* server.templates: the operator's template set, or NULL */
	int64_t conns_per_ip;        /* server.max_connections_per_ip; 0 = no limit */
	int64_t meta_max_age;        /* meta.issued_at_max_age in s; 0 = not checked */
	int64_t meta_repeat;         /* meta.repeat_window in s: repeats get the same code */
	struct meta_app *apps;       /* meta.apps in file order */
	size_t napps;                /* number of apps */
	struct outbox_config outbox; /* outbox: section */
	struct api_key *api_keys;    /* api.keys */
	size_t napi_keys;            /* number of API keys */
	struct api_key *admin_keys;  /* api.admin_keys: the operator API's keys */
	size_t nadmin_keys;          /* number of admin keys */
	struct requests_config requests;       /* requests: policies, verify_ttl, warn_before */
	struct platforms *platforms;           /* the platforms: section (defaults when absent) */
	struct mail_config mail;               /* mail: outgoing mail (disabled when absent) */
	struct selfservice_config selfservice; /* selfservice: the page */
	struct proof_config proof;             /* proof: keys, checkpoints, scan, recipients */
	struct export_config exports;          /* export: archives, links, rate limit */
	struct mailbox_config mailbox;         /* mailbox: requests by email (disabled if absent) */
	bool sweep_enabled;       /* sweep.enabled: lethe serve runs TTL sweeps (default true) */
	int64_t sweep_interval_s; /* sweep.interval: pause between passes with no backlog */
	int64_t sweep_max_rows;   /* sweep.max_rows_per_pass: rows per table per pass */
	int sweep_max_ms;         /* sweep.max_ms_per_pass: ms per table per pass */
};

/* Read @path into @cfg (caller-owned storage).  Free with config_free(). */
lethe_rc config_load(struct lethe_config *cfg, const char *path, struct lethe_err *err);
void config_free(struct lethe_config *cfg);
/*
 * Check app.media_root for a command that may remove media files: unset is
 * fine (the data map check asks for it where a table has media columns);
 * otherwise it must be an existing directory lethe can remove files in.  A
 * URL (anything with "://": s3://, gs://, https://) is refused: object
 * storage is configured under media_stores:, never as app.media_root.
 * LETHE_E_CONFIG says which and why.
 */
lethe_rc config_check_media_root(const struct lethe_config *cfg, struct lethe_err *err);
/*
 * Load the anonymize key: the environment variable if set, else the key
 * file; a missing key file is created with a fresh random key (mode 0600).
 */
lethe_rc config_load_key(struct lethe_config *cfg, struct lethe_err *err);
/*
 * As config_load_key(), but with @create false a missing key file is
 * LETHE_E_NOTFOUND and nothing is written (cli_load_key(): the state store
 * records the fingerprint of the key it was used with).
 */
lethe_rc config_load_key_opt(struct lethe_config *cfg, bool create, struct lethe_err *err);
/*
 * The fingerprint of @key, named @name ("anonymize", "outbox"): the keyed
 * hash under it of "lethe-NAME-key-fingerprint-v1".  It tells keys apart
 * and reveals nothing of them; the state store records it
 * (store_key_check()).
 */
void config_key_fingerprint(const uint8_t key[HASH_KEY_LEN], const char *name,
                            char out[HASH_TEXT_LEN + 1]);
/*
 * Read every Meta app's secret from its environment variable or file, and
 * check that every secret the platforms: section configures can be read.
 * LETHE_E_CONFIG names the app or platform and the variable (never the secret).
 */
lethe_rc config_load_secrets(struct lethe_config *cfg, struct lethe_err *err);
/*
 * Load the outbox sealing key: outbox.key_env if set, else outbox.key_file;
 * a missing key file is created with a fresh random key (mode 0600) if
 * @create, else LETHE_E_NOTFOUND (service_load_outbox_key() decides).
 */
lethe_rc config_load_outbox_key_opt(struct lethe_config *cfg, bool create, struct lethe_err *err);
/* config_load_outbox_key_opt() with @create true. */
lethe_rc config_load_outbox_key(struct lethe_config *cfg, struct lethe_err *err);
/*
 * The API key matching @presented (compared by SHA-256 in constant time), or
 * NULL.  Thread-safe.
 */
const struct api_key *config_api_key(const struct lethe_config *cfg, const char *presented);
/* The same over the @n keys @keys (a server's reloaded api.keys).  Thread-safe. */
const struct api_key *config_api_key_find(const struct api_key *keys, size_t n,
                                          const char *presented);
/* The app named @name, or NULL. */
const struct meta_app *config_meta_app(const struct lethe_config *cfg, const char *name);
/*
 * Parse the `selfservice:` section of @y (root mapping @root) into @ss
 * (caller-owned, overwritten; defaults when absent, enabled only when
 * @mail_enabled).  LETHE_E_CONFIG "lethe.yaml:LINE: what" for an unknown
 * key, a path that is not "/word", a bad duration or limit, an offer
 * without id, kind, scope or label, or an offer id twice.  Free with
 * selfservice_free().  Called by config_load() (config/selfservice.c).
 */
lethe_rc selfservice_parse(struct selfservice_config *ss, bool mail_enabled, struct ydoc *y,
                           struct yaml_node_s *root, struct lethe_err *err);
void selfservice_free(struct selfservice_config *ss);
/* The offer with id @id, or NULL. */
const struct selfservice_offer *selfservice_offer(const struct lethe_config *cfg, const char *id);
/*
 * Check the page's offers against the data map @dm: each scope exists and
 * the mail identity kind (mail.identity) names the person in it.
 * LETHE_E_CONFIG "lethe.yaml:LINE: what".  At start, with policy_check().
 */
lethe_rc selfservice_check(const struct lethe_config *cfg, const struct datamap *dm,
                           struct lethe_err *err);

/*
 * Check the mailbox: section against the data map @dm and the mail:
 * section (config/mailbox.c): it needs mail:, each rule's scope exists and
 * allows the identity kind of each of its identities (MAILBOX_SENDER is
 * mail.identity), each claim's identity kind is declared.  LETHE_E_CONFIG
 * "lethe.yaml:LINE: what".  At start (lethe serve, lethe mail-intake),
 * with selfservice_check().  OK when the section is absent.
 */
lethe_rc mailbox_config_check(const struct lethe_config *cfg, const struct datamap *dm,
                              struct lethe_err *err);

/* @rel resolved against the configuration's directory; caller frees. */
char *config_resolve(const struct lethe_config *cfg, const char *rel);

/*
 * Parse the `proof:` section of @root into @p (defaults when absent),
 * resolving files against @dir; the signing key defaults to signing.key in
 * the directory of @state_db (config/proof.c).
 */
lethe_rc proof_config_parse(struct proof_config *p, const char *dir, const char *state_db,
                            struct ydoc *y, struct yaml_node_s *root, struct lethe_err *err);
void proof_config_free(struct proof_config *p);
/*
 * Parse the `export:` section of @root into @e (defaults when absent),
 * resolving export.dir against @dir; it defaults to exports/ in the
 * directory of @state_db (config/export.c).
 */
lethe_rc export_config_parse(struct export_config *e, const char *dir, const char *state_db,
                             struct ydoc *y, struct yaml_node_s *root, struct lethe_err *err);
void export_config_free(struct export_config *e);
/*
 * Load the signing keys into @cfg->proof.keys: the current key (created,
 * mode 0600, if missing and @create; else LETHE_E_NOTFOUND) and the
 * previous ones.  A second call is a no-op.
 */
lethe_rc config_load_signing_keys(struct lethe_config *cfg, bool create, struct lethe_err *err);
/*
 * The identity kinds of @p's recipients must be the data map's: LETHE_E_CONFIG
 * names one.  Warns (log) about each recipient that gets plain http:// to
 * another host because it says insecure: true (its name, never the URL).
 */
lethe_rc proof_config_check(const struct proof_config *p, const struct datamap *dm,
                            struct lethe_err *err);

#endif /* LETHE_CONFIG_H */
