/* SPDX-License-Identifier: MIT */
/*
 * export_lib.c - libarchive loaded on first use (export_lib.h).
 */
#include "util/fmacros.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/export_lib.h"

#define EXPORT_LIB_SONAME "libarchive.so.13" /* Debian 12's libarchive13 */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct export_lib lib;
static bool loaded;
static char why[256]; /* why it could not be loaded */

/* dlsym() @name into *@slot; false (why set) if it is missing. */
static bool
sym(void *h, const char *name, void *slot)
{
	void *f = dlsym(h, name);

	if (f == NULL) {
		snprintf(why, sizeof(why), "%s has no %s", EXPORT_LIB_SONAME, name);
		return false;
	}
	/* POSIX: a function pointer and void * share their representation (dlsym). */
	memcpy(slot, &f, sizeof(f));
	return true;
}

static void
load(void)
{
	void *h = dlopen(EXPORT_LIB_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *e;

	if (h == NULL) {
		e = dlerror();
		snprintf(why, sizeof(why), "%s", e != NULL ? e : EXPORT_LIB_SONAME);
		return;
	}
	/* Kept open for the process's life: archives may be written at any time. */
	loaded =
	    sym(h, "archive_write_new", &lib.write_new) &&
	    sym(h, "archive_write_set_format_zip", &lib.write_set_format_zip) &&
	    sym(h, "archive_write_set_format_option", &lib.write_set_format_option) &&
	    sym(h, "archive_write_set_bytes_per_block", &lib.write_set_bytes_per_block) &&
	    sym(h, "archive_write_set_bytes_in_last_block", &lib.write_set_bytes_in_last_block) &&
	    sym(h, "archive_write_open2", &lib.write_open2) &&
	    sym(h, "archive_write_zip_set_compression_store",
	        &lib.write_zip_set_compression_store) &&
	    sym(h, "archive_write_zip_set_compression_deflate",
	        &lib.write_zip_set_compression_deflate) &&
	    sym(h, "archive_write_header", &lib.write_header) &&
	    sym(h, "archive_write_data", &lib.write_data) &&
	    sym(h, "archive_write_finish_entry", &lib.write_finish_entry) &&
	    sym(h, "archive_write_close", &lib.write_close) &&
	    sym(h, "archive_write_fail", &lib.write_fail) &&
	    sym(h, "archive_write_free", &lib.write_free) &&
	    sym(h, "archive_entry_new", &lib.entry_new) &&
	    sym(h, "archive_entry_free", &lib.entry_free) &&
	    sym(h, "archive_entry_set_pathname", &lib.entry_set_pathname) &&
	    sym(h, "archive_entry_set_filetype", &lib.entry_set_filetype) &&
	    sym(h, "archive_entry_set_perm", &lib.entry_set_perm) &&
	    sym(h, "archive_entry_set_mtime", &lib.entry_set_mtime) &&
	    sym(h, "archive_entry_set_size", &lib.entry_set_size);
}

const struct export_lib *
export_lib(struct lethe_err *err)
{
	pthread_once(&once, load);
	if (!loaded) {
		lethe_err_set(err, LETHE_E_INTERNAL,
		              "export: libarchive cannot be loaded (%s); install libarchive13",
		              why);
		return NULL;
	}
	return &lib;
}
