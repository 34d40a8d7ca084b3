/* SPDX-License-Identifier: MIT */
/*
 * media_internal.h - what media.c (the set, the dispatch, secrets) shares
 * with the store kinds: media_local.c, media_s3.c, media_cloudinary.c.
 * Not for use outside src/media/.
 */
#ifndef LETHE_MEDIA_INTERNAL_H
#define LETHE_MEDIA_INTERNAL_H

#include "media/media.h"
#include "util/fmacros.h"
#include "util/rc.h"
#include "util/yamlutil.h"

/* Where a secret lives; exactly one of the two is set for a remote store. */
struct media_secret {
	char *env;  /* environment variable holding it, or NULL */
	char *file; /* resolved file holding it, or NULL */
};

/* Bounds a secret's bytes. */
#define MEDIA_SECRET_MAX 4096
/* The size of every buffer media_secret_read() hands out (the string, its NUL, one byte to
 * tell a file over the limit): media_secret_free() wipes all of it. */
#define MEDIA_SECRET_BUF (MEDIA_SECRET_MAX + 2)

/* One kind's operations (media.h documents each; @m is never NULL, 1 <= n <= batch). */
struct media_ops {
	enum media_kind kind;
	lethe_rc (*remove)(const struct media_store *m, const char *const *keys, size_t n,
	                   enum media_outcome *out, struct lethe_err *err);
	lethe_rc (*probe)(const struct media_store *m, const char *const *keys, size_t n,
	                  enum media_presence *out, struct lethe_err *err);
	lethe_rc (*open)(const struct media_store *m, const char *key, const char *tmpdir,
	                 int64_t max_bytes, int *fd, int64_t *size, struct lethe_err *err);
	/* media_set_check() for this store: no network call. */
	lethe_rc (*check)(const struct media_store *m, struct lethe_err *err);
	/* Free the kind's own members (not the struct, nor name/where). */
	void (*free)(struct media_store *m);
};

struct media_local {
	char *root; /* resolved directory */
};

struct media_s3 {
	char *endpoint;                  /* scheme://host[:port], no trailing '/' */
	char *region;                    /* e.g. "eu-west-1" (SigV4's region) */
	char *bucket;                    /* bucket name */
	char *prefix;                    /* prepended to every key ("" if none) */
	bool path_style;                 /* endpoint/bucket/key, else bucket.host/key */
	struct media_secret credentials; /* "ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]", or env "AWS" */
};

struct media_cloudinary {
	char *api_url;       /* Admin API base, default https://api.cloudinary.com */
	char *delivery_url;  /* where asset URLs may point, default https://res.cloudinary.com */
	char *cloud_name;    /* the product environment's cloud name */
	char *resource_type; /* image (default), video or raw */
	char *delivery_type; /* Cloudinary's "type": upload (default), private, authenticated */
	char *prefix;        /* prepended to every public id ("" if none) */
	struct media_secret credentials; /* "cloudinary://API_KEY:API_SECRET@CLOUD" */
};

struct media_store {
	const struct media_ops *ops;
	char *name;              /* the name lethe.yaml gives it */
	char *where;             /* media_store_where() */
	size_t batch;            /* media_store_batch() */
	long connect_timeout_ms; /* per attempt: DNS + TCP + TLS (default 5000) */
	long timeout_ms;         /* per attempt, the whole call (default 30000) */
	int retries;             /* tries after the first for a transient failure (default 4) */
	long backoff_ms;         /* the first pause, doubled each try, jittered (default 200) */
	union {
		struct media_local local;
		struct media_s3 s3;
		struct media_cloudinary cld;
	} u;
};

extern const struct media_ops media_local_ops;
extern const struct media_ops media_s3_ops;
extern const struct media_ops media_cloudinary_ops;

/*
 * Each kind's parser: fill @m's kind members from mapping @n (its common
 * keys -- type, timeouts, retries, backoff_ms -- are media.c's and already
 * set), set @m->where and @m->batch.  @dir resolves relative paths.  Keys
 * are checked with ymap_check_keys() against the kind's own list plus
 * media_common_keys.
 */
lethe_rc media_local_parse(const char *dir, struct ydoc *y, yaml_node_t *n, struct media_store *m,
                           struct lethe_err *err);
lethe_rc media_s3_parse(const char *dir, struct ydoc *y, yaml_node_t *n, struct media_store *m,
                        struct lethe_err *err);
lethe_rc media_cloudinary_parse(const char *dir, struct ydoc *y, yaml_node_t *n,
                                struct media_store *m, struct lethe_err *err);
/* The local store of app.media_root (already resolved), named MEDIA_DEFAULT. */
struct media_store *media_local_new(const char *name, const char *root);
/* Keys every kind accepts (NULL-terminated): type, connect_timeout_ms, timeout_ms, retries,
 * backoff_ms. */
extern const char *const media_common_keys[];

/*
 * Parse `credentials_env` / `credentials_file` of mapping @n into @s
 * (exactly one required); relative files resolve against @dir.
 */
lethe_rc media_secret_parse(const char *dir, struct ydoc *y, yaml_node_t *n, struct media_secret *s,
                            struct lethe_err *err);
/*
 * Read secret @s of store @m: a fresh NUL-terminated copy with surrounding
 * white space trimmed, in a buffer of MEDIA_SECRET_BUF bytes which the
 * caller may split or cut in place; media_secret_free() wipes the whole
 * buffer, then frees it.  NULL
 * with LETHE_E_CONFIG in @err (naming the variable or file) if unset,
 * unreadable, empty or over MEDIA_SECRET_MAX.
 */
char *media_secret_read(const struct media_store *m, const struct media_secret *s,
                        struct lethe_err *err);
void media_secret_free(char *secret);
void media_secret_clear(struct media_secret *s);

/* Wipe @n bytes at @p (sodium_memzero), then free it; NULL is nothing to do. */
void media_wipe_free(void *p, size_t n);
/*
 * Tests only: when set, called by media_wipe_free() with each block just
 * wiped, before it is freed, so a test can see that all of it is zero.
 */
extern void (*media_wiped_hook)(const void *p, size_t n);

/*
 * Sleep before try @attempt (1 = the first retry): backoff_ms * 2^(attempt-1)
 * with +-25% jitter, or @retry_after_ms if larger (capped at 10 s).
 */
void media_backoff(const struct media_store *m, int attempt, long retry_after_ms);

#endif /* LETHE_MEDIA_INTERNAL_H */
