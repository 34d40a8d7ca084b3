/* SPDX-License-Identifier: MIT */
/*
 * export_lib.c - libarchive loaded on first use (export_lib.h).
 */
#include "util/fmacros.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/export_lib.h"
#include "util/dlib.h"

#define EXPORT_LIB_SONAME "libarchive.so.13" /* Debian 12's libarchive13 */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct export_lib lib;
static bool loaded;
static struct dlib dl; /* the library and why it could not be loaded */

static void
load(void)
{
	if (!dlib_open(&dl, EXPORT_LIB_SONAME))
		return;
	/* Kept open for the process's life: archives may be written at any time. */
	loaded =
	    dlib_sym(&dl, "archive_write_new", &lib.write_new) &&
	    dlib_sym(&dl, "archive_write_set_format_zip", &lib.write_set_format_zip) &&
	    dlib_sym(&dl, "archive_write_set_format_option", &lib.write_set_format_option) &&
	    dlib_sym(&dl, "archive_write_set_bytes_per_block", &lib.write_set_bytes_per_block) &&
	    dlib_sym(&dl, "archive_write_set_bytes_in_last_block",
	             &lib.write_set_bytes_in_last_block) &&
	    dlib_sym(&dl, "archive_write_open2", &lib.write_open2) &&
	    dlib_sym(&dl, "archive_write_zip_set_compression_store",
	             &lib.write_zip_set_compression_store) &&
	    dlib_sym(&dl, "archive_write_zip_set_compression_deflate",
	             &lib.write_zip_set_compression_deflate) &&
	    dlib_sym(&dl, "archive_write_header", &lib.write_header) &&
	    dlib_sym(&dl, "archive_write_data", &lib.write_data) &&
	    dlib_sym(&dl, "archive_write_finish_entry", &lib.write_finish_entry) &&
	    dlib_sym(&dl, "archive_write_close", &lib.write_close) &&
	    dlib_sym(&dl, "archive_write_fail", &lib.write_fail) &&
	    dlib_sym(&dl, "archive_write_free", &lib.write_free) &&
	    dlib_sym(&dl, "archive_entry_new", &lib.entry_new) &&
	    dlib_sym(&dl, "archive_entry_free", &lib.entry_free) &&
	    dlib_sym(&dl, "archive_entry_set_pathname", &lib.entry_set_pathname) &&
	    dlib_sym(&dl, "archive_entry_set_filetype", &lib.entry_set_filetype) &&
	    dlib_sym(&dl, "archive_entry_set_perm", &lib.entry_set_perm) &&
	    dlib_sym(&dl, "archive_entry_set_mtime", &lib.entry_set_mtime) &&
	    dlib_sym(&dl, "archive_entry_set_size", &lib.entry_set_size);
}

const struct export_lib *
export_lib(struct lethe_err *err)
{
	pthread_once(&once, load);
	if (!loaded) {
		lethe_err_set(err, LETHE_E_INTERNAL,
		              "export: libarchive cannot be loaded (%s); install libarchive13",
		              dl.why);
		return NULL;
	}
	return &lib;
}
