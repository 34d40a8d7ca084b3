/* SPDX-License-Identifier: MIT */
/*
 * export_lib.h - libarchive, loaded when the first archive is written
 * (private to the archive engine; docs/internals/export.md).
 *
 * libarchive brings ICU, libxml2, libstdc++ and five compression
 * libraries with it: linked into lethe, their start-up alone added about
 * 2 MB to every lethe serve's resident memory (bench/callbacks' RSS under
 * 256 connections, whose target is 32 MB), whether it ever exports or
 * not.  So lethe is not linked against it: export_lib() opens
 * libarchive.so.13 with dlopen() once and hands out the few functions the
 * zip writer calls.  Thread-safe (pthread_once).
 */
#ifndef LETHE_EXPORT_LIB_H
#define LETHE_EXPORT_LIB_H

#include <archive.h>
#include <archive_entry.h>

#include "util/fmacros.h"
#include "util/rc.h"

/* The libarchive functions the zip writer uses. */
struct export_lib {
	struct archive *(*write_new)(void);
	int (*write_set_format_zip)(struct archive *);
	int (*write_set_format_option)(struct archive *, const char *, const char *, const char *);
	int (*write_set_bytes_per_block)(struct archive *, int);
	int (*write_set_bytes_in_last_block)(struct archive *, int);
	int (*write_open2)(struct archive *, void *, archive_open_callback *,
	                   archive_write_callback *, archive_close_callback *,
	                   archive_free_callback *);
	int (*write_zip_set_compression_store)(struct archive *);
	int (*write_zip_set_compression_deflate)(struct archive *);
	int (*write_header)(struct archive *, struct archive_entry *);
	la_ssize_t (*write_data)(struct archive *, const void *, size_t);
	int (*write_finish_entry)(struct archive *);
	int (*write_close)(struct archive *);
	int (*write_fail)(struct archive *);
	int (*write_free)(struct archive *);
	struct archive_entry *(*entry_new)(void);
	void (*entry_free)(struct archive_entry *);
	void (*entry_set_pathname)(struct archive_entry *, const char *);
	void (*entry_set_filetype)(struct archive_entry *, unsigned int);
	void (*entry_set_perm)(struct archive_entry *, __LA_MODE_T);
	void (*entry_set_mtime)(struct archive_entry *, time_t, long);
	void (*entry_set_size)(struct archive_entry *, la_int64_t);
};

/*
 * libarchive's functions, loaded on the first call; NULL (and @err:
 * LETHE_E_INTERNAL naming the library and dlerror()) if it cannot be
 * loaded: every later call fails the same way.
 */
const struct export_lib *export_lib(struct lethe_err *err);

#endif /* LETHE_EXPORT_LIB_H */
