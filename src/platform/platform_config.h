/* SPDX-License-Identifier: MIT */
/*
 * platform_config.h - the `platforms:` section of lethe.yaml.
 *
 * Per platform: base URL (default: the production endpoint of
 * platform-facts.md), Graph API version for Facebook and Instagram, client
 * id / key, and where the client secret lives (`*_env` or `*_file`, never
 * inline).  Secrets are not kept in memory: platform_call() reads one when a
 * call needs it and wipes it afterwards; platforms_check_secrets() checks at
 * start-up that every configured secret can be read.  Plus the timeouts and
 * the cap on an answer's body.  README.md "Configuration" documents every key.
 *
 * A struct platforms is immutable once parsed, so any number of threads may
 * call platform_call() with it at once.
 */
#ifndef LETHE_PLATFORM_CONFIG_H
#define LETHE_PLATFORM_CONFIG_H

#include "util/fmacros.h"
#include "util/rc.h"
#include "util/yamlutil.h"

/* Indexes of the platforms in struct platforms. */
enum platform_id {
	PLATFORM_GOOGLE,    /* Google / YouTube */
	PLATFORM_FACEBOOK,  /* Facebook (Graph API) */
	PLATFORM_INSTAGRAM, /* Instagram Login (graph.instagram.com) */
	PLATFORM_LINKEDIN,  /* LinkedIn */
	PLATFORM_X,         /* X (Twitter) */
	PLATFORM_TIKTOK,    /* TikTok */
	PLATFORM_COUNT,     /* number of platforms */
};

/* Where a secret lives; at most one of the two is set. */
struct platform_secret {
	char *env;  /* environment variable holding it, or NULL */
	char *file; /* resolved file holding it, or NULL */
};

/* One platform's settings. */
struct platform_conf {
	const char *name;              /* canonical name ("google"...) */
	char *base_url;                /* scheme://host[:port][/prefix], no trailing '/' */
	char *api_version;             /* Graph API version ("v21.0"), Facebook/Instagram only */
	char *client_id;               /* client id (TikTok: client key), or NULL */
	struct platform_secret secret; /* client secret (Facebook: app secret) */
};

struct platforms {
	struct platform_conf conf[PLATFORM_COUNT]; /* indexed by enum platform_id */
	long connect_timeout_ms;                   /* bound on connecting (DNS + TCP + TLS) */
	long timeout_ms;                           /* bound on the whole call */
	size_t max_body;                           /* answers longer than this are cut (bytes) */
};

/* Bounds the secret a file or variable may hold (bytes). */
#define PLATFORM_SECRET_MAX 1024

/*
 * A fresh struct platforms with the defaults (production URLs, no client
 * ids, 5 s connect / 15 s total timeouts, 64 KiB answers).  Free with
 * platforms_free().
 */
struct platforms *platforms_new(void);
/*
 * Parse the optional `platforms:` key of mapping @root of @y into *@out
 * (defaults when absent); relative `*_file` paths resolve against @dir
 * (the configuration's directory; NULL: as written).  On error *@out is NULL and @err says
 * "file:line: what".
 */
lethe_rc platforms_parse(const char *dir, struct ydoc *y, yaml_node_t *root, struct platforms **out,
                         struct lethe_err *err);
/* Free @p and everything it owns; NULL is fine. */
void platforms_free(struct platforms *p);
/*
 * Check that every configured secret can be read (the variable is set, the
 * file readable and non-empty).  LETHE_E_CONFIG names the platform and the
 * variable or file, never the value.
 */
lethe_rc platforms_check_secrets(const struct platforms *p, struct lethe_err *err);
/*
 * Read the secret of @s into @out (at least PLATFORM_SECRET_MAX + 1 bytes),
 * NUL-terminated, trailing newlines removed.  The caller wipes @out with
 * sodium_memzero().  @what names it in errors ("platforms.linkedin").
 */
lethe_rc platform_secret_read(const struct platform_secret *s, const char *what, char *out,
                              struct lethe_err *err);
/* The platform_id of canonical name @name, or -1. */
int platform_id_of(const char *name);

#endif /* LETHE_PLATFORM_CONFIG_H */
