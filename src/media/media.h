/* SPDX-License-Identifier: MIT */
/*
 * media.h - media stores: where the app keeps the objects its media columns
 * name, and the four things lethe does with them (docs/media.md,
 * docs/internals/media.md).
 *
 * A store is named in lethe.yaml (`media_stores:`) and used by name from
 * the data map (`media: {column: store}`); `app.media_root` is the store
 * named "local".  Three kinds:
 *   - local:       files under a directory (a key is a relative path, never
 *                  "..", never through a symbolic link);
 *   - s3:          S3-compatible object storage (endpoint, region, bucket,
 *                  key prefix, path-style), SigV4-signed over libcurl;
 *   - cloudinary:  Cloudinary's Admin API (delete and read by public id,
 *                  per resource type and delivery type).
 *
 * Calls block, are bounded by the store's timeouts, and retry a transient
 * failure (a 5xx, a throttling answer, a timeout, a lost connection) with
 * backoff within the call before giving up on it.  Secrets are read from
 * their variable or file when a call needs them and wiped afterwards; no
 * secret and no key reaches a message or a log line (a store is named by
 * its name and media_store_where()).
 *
 * A struct media_set is immutable once parsed: any number of threads may
 * call these functions with it at once.
 */
#ifndef LETHE_MEDIA_H
#define LETHE_MEDIA_H

#include "util/fmacros.h"
#include "util/rc.h"
#include "util/yamlutil.h"

/* The store of a media column that names none: app.media_root. */
#define MEDIA_DEFAULT "local"
/* The most keys one media_remove() or media_probe() call takes (S3's DeleteObjects cap). */
#define MEDIA_BATCH_MAX 1000

enum media_kind {
	MEDIA_LOCAL,      /* a directory */
	MEDIA_S3,         /* S3-compatible object storage */
	MEDIA_CLOUDINARY, /* Cloudinary */
};

/* What became of one key of a media_remove(). */
enum media_outcome {
	MEDIA_FAILED = 0, /* not removed: the store refused or never answered; retried later */
	MEDIA_REMOVED,    /* removed (S3: removed or already gone: DeleteObjects cannot tell) */
	MEDIA_GONE,       /* already gone, the store said so: done, counted as missing */
};

/* What media_probe() learned of one key. */
enum media_presence {
	MEDIA_UNKNOWN = 0, /* the store did not say (an error; @err of the call says why) */
	MEDIA_ABSENT,      /* not there */
	MEDIA_PRESENT,     /* there */
};

struct media_set;   /* every configured store (opaque) */
struct media_store; /* one store (opaque) */

/*
 * Parse the optional `media_stores:` key of mapping @root of @y into *@out,
 * plus the store "local" for @media_root (the resolved app.media_root, or
 * NULL: no local store; a URL: none either, config_check_media_root()
 * refuses it).  Relative paths (a local root, a *_file) resolve against
 * @dir.  On error *@out is NULL and @err says "file:line: what".
 */
lethe_rc media_set_parse(const char *dir, const char *media_root, struct ydoc *y, yaml_node_t *root,
                         struct media_set **out, struct lethe_err *err);
/* Free @s and every store; NULL is fine. */
void media_set_free(struct media_set *s);
/* The store named @name (NULL: MEDIA_DEFAULT), or NULL if none has that name. */
const struct media_store *media_set_get(const struct media_set *s, const char *name);
/* Number of stores, and the @i-th (in the order lethe.yaml gives them, "local" first). */
size_t media_set_count(const struct media_set *s);
const struct media_store *media_set_at(const struct media_set *s, size_t i);
/*
 * Check every store can be used: a local root is an existing directory
 * lethe may remove files in; a remote store's credentials can be read (the
 * variable is set, the file readable and well-formed).  Makes no network
 * call.  LETHE_E_CONFIG naming the store and the variable or file, never a
 * value.
 */
lethe_rc media_set_check(const struct media_set *s, struct lethe_err *err);

const char *media_store_name(const struct media_store *m);
enum media_kind media_store_kind(const struct media_store *m);
/* "local", "s3" or "cloudinary". */
const char *media_kind_str(enum media_kind k);
/* Keys one media_remove() sends at most: local 1000, S3 1000, Cloudinary 100. */
size_t media_store_batch(const struct media_store *m);
/*
 * Whether media_probe() is cheap enough to ask before every batch's commit
 * (which objects the app removed itself): true for local only.
 */
bool media_store_probe_cheap(const struct media_store *m);
/*
 * Where the store is, for messages: "directory /srv/media", "s3 bucket b
 * at https://host", "cloudinary cloud c": never a credential or a key.
 */
const char *media_store_where(const struct media_store *m);

/*
 * Remove @n keys (1..media_store_batch(@m)) from @m; @out[i] is what became
 * of @keys[i].  Transient failures are retried within the call with backoff
 * (the store's `retries`, `backoff_ms`, Retry-After honoured up to 10 s).
 * LETHE_OK when no key is MEDIA_FAILED; otherwise LETHE_E_UNAVAILABLE (the
 * store did not answer, or answered 5xx/throttled to the end) or
 * LETHE_E_FORBIDDEN (it refused the credentials) or LETHE_E_IO (local), and
 * @err says why, naming the store, never a key.  @out is filled either way.
 */
lethe_rc media_remove(const struct media_store *m, const char *const *keys, size_t n,
                      enum media_outcome *out, struct lethe_err *err);
/*
 * Is each of @n keys (1..MEDIA_BATCH_MAX) there?  Local: lstat; S3: HEAD
 * per key; Cloudinary: resources by public ids, 100 a call.  Retries as
 * media_remove().  LETHE_OK when no entry is MEDIA_UNKNOWN.
 */
lethe_rc media_probe(const struct media_store *m, const char *const *keys, size_t n,
                     enum media_presence *out, struct lethe_err *err);
/*
 * Open @key for reading: *@fd a descriptor at offset 0, *@size its bytes.
 * Local: the file itself, opened beneath the root one segment at a time,
 * never following a symbolic link, a regular file only.  Remote: an
 * unlinked temporary file in directory @tmpdir holding the object's bytes
 * (at most @max_bytes; more is LETHE_E_TOOBIG).  LETHE_E_NOTFOUND if the
 * object is not there or @key is unsafe for the store; other failures as
 * media_remove().  The caller closes *@fd.
 */
lethe_rc media_open(const struct media_store *m, const char *key, const char *tmpdir,
                    int64_t max_bytes, int *fd, int64_t *size, struct lethe_err *err);

#endif /* LETHE_MEDIA_H */
