/* SPDX-License-Identifier: MIT */
/*
 * config.h - lethe.yaml, the configuration file.
 *
 * Relative paths in the file are relative to the file's directory, so a
 * configuration can be moved with its data.  Secrets (the anonymize key) are
 * read from an environment variable or a file, never written in lethe.yaml.
 * README.md "Configuration" documents every key.
 */
#ifndef LETHE_CONFIG_H
#define LETHE_CONFIG_H

#include "util/fmacros.h"
#include "util/hash.h"
#include "util/rc.h"

struct lethe_config {
	char *path;                /* the file read */
	char *dir;                 /* its directory */
	char *app_db;              /* app database URL or path, as written */
	char *media_root;          /* resolved media directory, or NULL */
	char *datamap_path;        /* resolved data map path */
	char *state_db;            /* resolved state store path */
	char *key_env;             /* env var holding the anonymize key (hex) */
	char *key_file;            /* resolved key file, or NULL */
	uint8_t key[HASH_KEY_LEN]; /* the anonymize key once loaded */
	bool key_loaded;           /* key is valid */
	int64_t batch_rows;        /* 0 = adaptive */
	int max_txn_ms;            /* adaptive batches aim below this */
	int yield_ms;              /* pause after a batch while the app is writing */
};

/* Read @path into @cfg (caller-owned storage).  Free with config_free(). */
lethe_rc config_load(struct lethe_config *cfg, const char *path, struct lethe_err *err);
void config_free(struct lethe_config *cfg);
/*
 * Load the anonymize key: the environment variable if set, else the key
 * file; a missing key file is created with a fresh random key (mode 0600).
 */
lethe_rc config_load_key(struct lethe_config *cfg, struct lethe_err *err);
/* @rel resolved against the configuration's directory; caller frees. */
char *config_resolve(const struct lethe_config *cfg, const char *rel);

#endif /* LETHE_CONFIG_H */
