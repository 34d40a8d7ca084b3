/* SPDX-License-Identifier: MIT */
/*
 * export.c - the archive engine's entry points (export.h, docs/export.md):
 * export_write() runs the archive in its order (the tables, their media,
 * index.html, manifest.json) into a sink; export_to_file() and
 * export_to_path() put it in a file atomically (NAME.part, fsync, rename,
 * the directory fsynced), encrypted with a sealstream or plain; and the
 * sweep of a crash's .part files.
 */
#include "util/fmacros.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/export_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

void
export_result_free(struct export_result *r)
{
	if (r == NULL)
		return;
	json_decref(r->detail);
	r->detail = NULL;
}

/* $TMPDIR if an absolute path, else /tmp: where a sink's remote media are downloaded. */
static const char *
default_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t != NULL && t[0] == '/' ? t : "/tmp";
}

lethe_rc
export_write(const struct plan *plan, struct appdb *db, const struct export_opts *o,
             export_sink_fn sink, void *arg, struct export_result *res, struct lethe_err *err)
{
	struct export_ctx x;
	double t0 = time_mono_ms();
	lethe_rc rc;
	size_t i;

	memset(res, 0, sizeof(*res));
	memset(&x, 0, sizeof(x));
	x.plan = plan;
	x.db = db;
	x.o = o;
	x.err = err;
	x.sink = sink;
	x.sink_arg = arg;
	x.res = res;
	x.now = o->now > 0 ? o->now : time_now();
	x.files = json_array();
	x.tmpdir = o->tmpdir != NULL ? o->tmpdir : default_tmpdir();
	if (sodium_init() < 0)
		rc = lethe_err_set(err, LETHE_E_INTERNAL, "libsodium failed to initialise");
	else
		rc = export_tables_init(&x);
	if (rc == LETHE_OK)
		rc = export_zip_open(&x);
	for (i = 0; i < x.ntabs && rc == LETHE_OK; i++)
		rc = export_rows_write(&x, &x.tabs[i]);
	for (i = 0; i < x.ntabs && rc == LETHE_OK; i++)
		rc = export_media_write(&x, &x.tabs[i]);
	if (rc == LETHE_OK)
		rc = export_check_stop(&x);
	if (rc == LETHE_OK)
		rc = export_index_write(&x);
	if (rc == LETHE_OK)
		rc = export_manifest_write(&x);
	if (rc == LETHE_OK)
		rc = export_zip_close(&x);
	if (rc == LETHE_OK)
		res->detail = json_pack("{s:o, s:I, s:I, s:I}", "tables", export_tables_json(&x),
		                        "rows", (json_int_t)res->rows, "media",
		                        (json_int_t)res->media, "bytes", (json_int_t)res->bytes);
	export_zip_abort(&x);
	export_tables_free(&x);
	json_decref(x.files);
	free(x.out.p);
	res->elapsed_ms = time_mono_ms() - t0;
	return rc;
}

/* ---- files ----------------------------------------------------------------- */

/* A sink into a file: plain (fd) or encrypted (sealstream). */
struct file_sink {
	int fd;                  /* the .part file */
	struct sealstream_w *ss; /* encrypting writer, or NULL: plain */
};

static lethe_rc
file_sink_cb(void *arg, const void *buf, size_t len, struct lethe_err *err)
{
	struct file_sink *f = arg;
	const char *p = buf;

	if (f->ss != NULL)
		return sealstream_write(f->ss, buf, len, err);
	while (len > 0) {
		ssize_t n = write(f->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lethe_err_set(err, LETHE_E_IO,
			                     "export: cannot write the archive: %s",
			                     n < 0 ? strerror(errno) : "no progress");
		p += n;
		len -= (size_t)n;
	}
	return LETHE_OK;
}

/* fsync directory @dir. */
static lethe_rc
dir_sync(const char *dir, struct lethe_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	lethe_rc rc = LETHE_OK;

	if (fd < 0 || fsync(fd) != 0)
		rc = lethe_err_set(err, LETHE_E_IO, "export: cannot sync the directory %s: %s", dir,
		                   strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * The archive into @path atomically: @path.part (0600), encrypted under
 * @key if not NULL, fsynced, renamed to @path, @dir (its directory) synced.
 * Remote media are downloaded into @dir unless @o says where.
 */
static lethe_rc
write_atomic(const struct plan *plan, struct appdb *db, const struct export_opts *o,
             const char *dir, const char *path, const uint8_t *key, struct export_result *res,
             struct lethe_err *err)
{
	struct file_sink f = {.fd = -1, .ss = NULL};
	char *part = xasprintf("%s.part", path);
	struct export_opts oo = *o;
	lethe_rc rc = LETHE_OK;
	int fd;

	memset(res, 0, sizeof(*res));
	(void)unlink(part);
	f.fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f.fd < 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "export: cannot create %s: %s", part,
		                   strerror(errno));
		goto out;
	}
	if (key != NULL) {
		f.ss = sealstream_w_open(f.fd, key, err);
		if (f.ss == NULL) {
			rc = err->rc != LETHE_OK ? err->rc : LETHE_E_IO;
			goto fail;
		}
	}
	/* A remote object's download lands beside the archive: same disk, same care. */
	if (oo.tmpdir == NULL)
		oo.tmpdir = dir;
	rc = export_write(plan, db, &oo, file_sink_cb, &f, res, err);
	if (f.ss != NULL && rc == LETHE_OK)
		rc = sealstream_w_finish(f.ss, err); /* frees f.ss */
	else
		sealstream_w_abort(f.ss);
	f.ss = NULL;
	if (rc != LETHE_OK)
		goto fail;
	/* A failed fsync leaves the fd open: the fail path closes it. */
	if (fsync(f.fd) != 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "export: cannot sync %s: %s", part,
		                   strerror(errno));
		goto fail;
	}
	fd = f.fd;
	f.fd = -1; /* closed below, whatever close() says */
	if (close(fd) != 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "export: cannot sync %s: %s", part,
		                   strerror(errno));
		goto fail;
	}
	if (rename(part, path) != 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "export: cannot rename %s: %s", part,
		                   strerror(errno));
		goto fail;
	}
	rc = dir_sync(dir, err);
	goto out;
fail:
	sealstream_w_abort(f.ss);
	if (f.fd >= 0)
		close(f.fd);
	(void)unlink(part);
	export_result_free(res);
out:
	free(part);
	return rc;
}

lethe_rc
export_to_file(const struct plan *plan, struct appdb *db, const struct export_opts *o,
               const char *dir, const char *name, const uint8_t key[SEALSTREAM_KEY_LEN],
               struct export_result *res, struct lethe_err *err)
{
	char *path;
	lethe_rc rc;

	memset(res, 0, sizeof(*res));
	if (name[0] == '\0' || strchr(name, '/') != NULL || name[0] == '.')
		return lethe_err_set(err, LETHE_E_INTERNAL, "export: bad archive name");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return lethe_err_set(err, LETHE_E_IO, "export: cannot create %s: %s", dir,
		                     strerror(errno));
	path = xasprintf("%s/%s", dir, name);
	rc = write_atomic(plan, db, o, dir, path, key, res, err);
	free(path);
	return rc;
}

lethe_rc
export_to_path(const struct plan *plan, struct appdb *db, const struct export_opts *o,
               const char *path, struct export_result *res, struct lethe_err *err)
{
	char *copy = xstrdup(path);
	lethe_rc rc;

	rc = write_atomic(plan, db, o, dirname(copy), path, NULL, res, err);
	free(copy);
	return rc;
}

lethe_rc
export_clean_parts(const char *dir, int64_t *n, struct lethe_err *err)
{
	struct dirent *de;
	int64_t removed = 0;
	lethe_rc rc = LETHE_OK;
	DIR *d;

	if (n != NULL)
		*n = 0;
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT
		           ? LETHE_OK
		           : lethe_err_set(err, LETHE_E_IO, "export: cannot read %s: %s", dir,
		                           strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len <= 5 || strcmp(de->d_name + len - 5, ".part") != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
		else if (errno != ENOENT)
			rc = lethe_err_set(err, LETHE_E_IO,
			                   "export: cannot remove a part file in %s: %s", dir,
			                   strerror(errno));
	}
	closedir(d);
	if (n != NULL)
		*n = removed;
	return rc;
}

bool
export_file_path(const char *dir, const char *name, char *out, size_t cap)
{
	int n;

	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL)
		return false;
	n = snprintf(out, cap, "%s/%s", dir, name);
	return n > 0 && (size_t)n < cap;
}
