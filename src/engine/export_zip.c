/* SPDX-License-Identifier: MIT */
/*
 * export_zip.c - the archive engine's zip writer (docs/internals/export.md):
 * libarchive writes the zip as a stream through our write callback, which
 * hashes every byte (the zip's SHA-256) and hands it to the sink; each
 * entry's bytes are hashed as they are written (the manifest's checksums).
 * Entries of unknown size (the tables) get a data descriptor; nothing
 * seeks.  JSON and HTML are deflated at level 1, media stored as they are.
 */
#include "util/fmacros.h"

#include <archive.h>
#include <archive_entry.h>

#include "engine/export_internal.h"
#include "util/mem.h"

/* zlib level of the deflated entries: level 1 keeps up with the database (docs/export.md). */
#define EXPORT_DEFLATE_LEVEL "1"

static la_ssize_t
zip_write_cb(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct export_ctx *x = arg;
	lethe_rc rc;

	(void)a;
	crypto_hash_sha256_update(&x->zh, buf, len);
	x->zbytes += (int64_t)len;
	rc = x->sink(x->sink_arg, buf, len, x->err);
	if (rc != LETHE_OK) {
		if (x->sink_rc == LETHE_OK)
			x->sink_rc = rc;
		return -1;
	}
	return (la_ssize_t)len;
}

/* The failure of a libarchive call: the sink's if it failed, else libarchive's (no data). */
static lethe_rc
zip_fail(struct export_ctx *x, const char *what)
{
	if (x->sink_rc != LETHE_OK)
		return x->sink_rc;
	return lethe_err_set(x->err, LETHE_E_INTERNAL, "export: the zip writer failed (%s)", what);
}

lethe_rc
export_zip_open(struct export_ctx *x)
{
	crypto_hash_sha256_init(&x->zh);
	x->a = archive_write_new();
	if (x->a == NULL)
		return lethe_err_set(x->err, LETHE_E_INTERNAL, "export: cannot start the zip");
	if (archive_write_set_format_zip(x->a) != ARCHIVE_OK ||
	    archive_write_set_format_option(x->a, "zip", "compression-level",
	                                    EXPORT_DEFLATE_LEVEL) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(x->a, EXPORT_FLUSH) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(x->a, 1) != ARCHIVE_OK)
		return zip_fail(x, "options");
	if (archive_write_open2(x->a, x, NULL, zip_write_cb, NULL, NULL) != ARCHIVE_OK)
		return zip_fail(x, "open");
	return LETHE_OK;
}

lethe_rc
export_entry_begin(struct export_ctx *x, const char *path, int64_t size, bool store)
{
	struct archive_entry *e;
	int r;

	if ((store ? archive_write_zip_set_compression_store(x->a)
	           : archive_write_zip_set_compression_deflate(x->a)) != ARCHIVE_OK)
		return zip_fail(x, "compression");
	e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, (time_t)x->now, 0);
	if (size >= 0)
		archive_entry_set_size(e, size);
	r = archive_write_header(x->a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return zip_fail(x, "entry header");
	x->in_entry = true;
	free(x->epath);
	x->epath = xstrdup(path);
	crypto_hash_sha256_init(&x->eh);
	x->ebytes = 0;
	x->out.n = 0;
	return LETHE_OK;
}

lethe_rc
export_entry_write(struct export_ctx *x, const void *p, size_t n)
{
	const char *c = p;

	crypto_hash_sha256_update(&x->eh, p, n);
	x->ebytes += (int64_t)n;
	while (n > 0) {
		la_ssize_t w = archive_write_data(x->a, c, n);

		if (w <= 0)
			return zip_fail(x, "data");
		c += w;
		n -= (size_t)w;
	}
	return LETHE_OK;
}

lethe_rc
export_entry_flush(struct export_ctx *x, size_t at_least)
{
	lethe_rc rc = LETHE_OK;

	if (x->out.n > 0 && x->out.n >= at_least) {
		rc = export_entry_write(x, x->out.p, x->out.n);
		x->out.n = 0;
	}
	return rc;
}

lethe_rc
export_entry_end(struct export_ctx *x, bool unlisted)
{
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1];
	lethe_rc rc = export_entry_flush(x, 0);

	if (rc != LETHE_OK)
		return rc;
	if (archive_write_finish_entry(x->a) != ARCHIVE_OK)
		return zip_fail(x, "entry end");
	x->in_entry = false;
	crypto_hash_sha256_final(&x->eh, sum);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	if (!unlisted)
		json_array_append_new(x->files,
		                      json_pack("{s:s, s:I, s:s}", "path", x->epath, "bytes",
		                                (json_int_t)x->ebytes, "sha256", hex));
	return LETHE_OK;
}

lethe_rc
export_zip_close(struct export_ctx *x)
{
	unsigned char sum[crypto_hash_sha256_BYTES];
	int r = archive_write_close(x->a);

	archive_write_free(x->a);
	x->a = NULL;
	if (r != ARCHIVE_OK)
		return zip_fail(x, "close");
	crypto_hash_sha256_final(&x->zh, sum);
	sodium_bin2hex(x->res->sha256, sizeof(x->res->sha256), sum, sizeof(sum));
	x->res->bytes = x->zbytes;
	return LETHE_OK;
}

void
export_zip_abort(struct export_ctx *x)
{
	if (x->a == NULL)
		return;
	/* Free without writing the rest: the sink's bytes are thrown away by the caller. */
	archive_write_fail(x->a);
	archive_write_free(x->a);
	x->a = NULL;
}
