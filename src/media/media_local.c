/* SPDX-License-Identifier: MIT */
/*
 * media_local.c - the store kind "local": media files under a directory
 * (app.media_root, or a `type: local` store's root).
 *
 * A key is a relative path beneath the root.  Every operation walks it one
 * segment at a time with openat(O_NOFOLLOW): a key with an empty or ".."
 * segment, or one that passes through a symbolic link, is refused, so no
 * key reaches a file outside the root.  A file already gone at removal time
 * counts as MEDIA_REMOVED, not MEDIA_GONE: it was there when the engine
 * recorded it (the engine's own lstat before the commit is what counts a
 * file the app removed itself as missing), so only lethe's earlier,
 * interrupted removal can have taken it.  Stateless; thread-safe.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media/media_internal.h"
#include "util/file.h"
#include "util/mem.h"

/* Longest path segment a key may have. */
#define SEG_MAX 255

/* Is @k a relative path of non-empty segments, none of them ".."? */
static bool
key_safe(const char *k)
{
	const char *p = k;

	if (k[0] == '\0' || k[0] == '/')
		return false;
	while (*p != '\0') {
		size_t seg = strcspn(p, "/");

		if (seg == 0 || seg > SEG_MAX || (seg == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += seg;
		if (*p == '/')
			p++;
	}
	return true;
}

/* Is @name in directory @dfd a symbolic link? */
static bool
is_link(int dfd, const char *name)
{
	struct stat sb;

	return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode);
}

/*
 * Open the directory holding @key's last segment beneath @m's root, one
 * segment at a time without following a symbolic link; *@base points at
 * the last segment in @key.  The directory's fd, or -1 with errno set
 * (EINVAL: an unsafe key; ENOENT/ENOTDIR: a directory on the way is
 * missing; ELOOP: a symbolic link on the way).
 */
static int
open_parent(const struct media_store *m, const char *key, const char **base)
{
	const char *p = key;
	int dfd;

	if (!key_safe(key)) {
		errno = EINVAL;
		return -1;
	}
	dfd = open(m->u.local.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (dfd >= 0) {
		size_t seg = strcspn(p, "/");
		char name[SEG_MAX + 1];
		int nfd, e;

		if (p[seg] != '/')
			break;
		memcpy(name, p, seg);
		name[seg] = '\0';
		nfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		/* Linux says ENOTDIR for a symbolic link here: it is in the way, not gone. */
		if (nfd < 0 && e == ENOTDIR && is_link(dfd, name))
			e = ELOOP;
		close(dfd);
		errno = e;
		dfd = nfd;
		p += seg + 1;
	}
	*base = p;
	return dfd;
}

static lethe_rc
local_remove(const struct media_store *m, const char *const *keys, size_t n,
             enum media_outcome *out, struct lethe_err *err)
{
	size_t i, bad = 0;
	int last = 0;

	for (i = 0; i < n; i++) {
		const char *base = NULL;
		int dfd = open_parent(m, keys[i], &base);

		if (dfd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
			out[i] = MEDIA_REMOVED;
			continue;
		}
		if (dfd >= 0 && (unlinkat(dfd, base, 0) == 0 || errno == ENOENT)) {
			out[i] = MEDIA_REMOVED;
		} else {
			last = errno;
			out[i] = MEDIA_FAILED;
			bad++;
		}
		if (dfd >= 0)
			close(dfd);
	}
	if (bad == 0)
		return LETHE_OK;
	return lethe_err_set(err, LETHE_E_IO, "media store '%s': %zu of %zu files not removed: %s",
	                     m->name, bad, n,
	                     last == EINVAL ? "a key is not a safe relative path" : strerror(last));
}

static lethe_rc
local_probe(const struct media_store *m, const char *const *keys, size_t n,
            enum media_presence *out, struct lethe_err *err)
{
	size_t i, bad = 0;
	int last = 0;

	for (i = 0; i < n; i++) {
		const char *base = NULL;
		int dfd = open_parent(m, keys[i], &base);
		struct stat sb;

		if (dfd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
			out[i] = MEDIA_ABSENT;
			continue;
		}
		if (dfd >= 0 && fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			out[i] = MEDIA_PRESENT;
		} else if (dfd >= 0 && (errno == ENOENT || errno == ENOTDIR)) {
			out[i] = MEDIA_ABSENT;
		} else {
			last = errno;
			out[i] = MEDIA_UNKNOWN;
			bad++;
		}
		if (dfd >= 0)
			close(dfd);
	}
	if (bad == 0)
		return LETHE_OK;
	return lethe_err_set(err, LETHE_E_IO, "media store '%s': %zu of %zu files not checked: %s",
	                     m->name, bad, n,
	                     last == EINVAL ? "a key is not a safe relative path" : strerror(last));
}

static lethe_rc
local_open(const struct media_store *m, const char *key, const char *tmpdir, int64_t max_bytes,
           int *fd, int64_t *size, struct lethe_err *err)
{
	const char *base = NULL;
	int dfd = open_parent(m, key, &base), f = -1;
	struct stat sb;

	(void)tmpdir;
	if (dfd >= 0) {
		/* O_NONBLOCK: a FIFO planted under the root must not hang the export. */
		f = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		close(dfd);
	}
	if (f >= 0 && (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode))) {
		close(f);
		f = -1;
	}
	if (f < 0)
		return lethe_err_set(err, LETHE_E_NOTFOUND,
		                     "media store '%s': a file is missing or not a regular file",
		                     m->name);
	if ((int64_t)sb.st_size > max_bytes) {
		close(f);
		return lethe_err_set(err, LETHE_E_TOOBIG,
		                     "media store '%s': a file is over %lld bytes", m->name,
		                     (long long)max_bytes);
	}
	*fd = f;
	*size = (int64_t)sb.st_size;
	return LETHE_OK;
}

static lethe_rc
local_check(const struct media_store *m, struct lethe_err *err)
{
	const char *root = m->u.local.root;
	struct stat sb;

	if (stat(root, &sb) != 0)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "media store '%s': %s: %s (it must be an existing directory)",
		                     m->name, root, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return lethe_err_set(err, LETHE_E_CONFIG, "media store '%s': %s is not a directory",
		                     m->name, root);
	if (access(root, W_OK | X_OK) != 0)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "media store '%s': %s: lethe cannot remove files there: %s",
		                     m->name, root, strerror(errno));
	return LETHE_OK;
}

static void
local_free(struct media_store *m)
{
	free(m->u.local.root);
}

const struct media_ops media_local_ops = {
    .kind = MEDIA_LOCAL,
    .remove = local_remove,
    .probe = local_probe,
    .open = local_open,
    .check = local_check,
    .free = local_free,
};

/* Fill the members every local store has, @root already resolved (taken). */
static void
local_init(struct media_store *m, char *root)
{
	m->ops = &media_local_ops;
	m->u.local.root = root;
	m->where = xasprintf("directory %s", root);
	m->batch = MEDIA_BATCH_MAX;
}

struct media_store *
media_local_new(const char *name, const char *root)
{
	struct media_store *m = xcalloc(1, sizeof(*m));

	m->name = xstrdup(name);
	m->connect_timeout_ms = 5000;
	m->timeout_ms = 30000;
	m->retries = 4;
	m->backoff_ms = 200;
	local_init(m, xstrdup(root));
	return m;
}

lethe_rc
media_local_parse(const char *dir, struct ydoc *y, yaml_node_t *n, struct media_store *m,
                  struct lethe_err *err)
{
	static const char *const keys[] = {"root", NULL};
	const char *const *c;
	yaml_node_t *v = ymap_get(y, n, "root");
	const char *root = ynode_str(v);
	size_t i;

	/* The kind's keys plus the common ones; anything else is a typo. */
	for (i = 0; i < ynode_len(n); i++) {
		const char *k = ynode_str(ymap_key(y, n, i));
		bool ok = k != NULL && strcmp(k, keys[0]) == 0;

		for (c = media_common_keys; !ok && k != NULL && *c != NULL; c++)
			ok = strcmp(k, *c) == 0;
		if (!ok)
			return ynode_fail(y, ymap_key(y, n, i), LETHE_E_CONFIG, err,
			                  "media_stores.%s: unknown key '%.64s' for a local store",
			                  m->name, k != NULL ? k : "?");
	}
	if (root == NULL || root[0] == '\0')
		return ynode_fail(y, v != NULL ? v : n, LETHE_E_CONFIG, err,
		                  "media_stores.%s: root: (a directory) is required", m->name);
	if (strstr(root, "://") != NULL)
		return ynode_fail(y, v, LETHE_E_CONFIG, err,
		                  "media_stores.%s: root is a directory, not a URL (use type: s3)",
		                  m->name);
	local_init(m, file_resolve(dir, root));
	return LETHE_OK;
}
