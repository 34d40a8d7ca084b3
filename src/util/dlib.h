/* SPDX-License-Identifier: MIT */
/*
 * dlib.h - a shared library opened on first use: dlopen() once, each
 * function looked up into its caller's table, and why it failed.
 *
 * lethe is not linked against the libraries that bring heavy
 * dependencies for one feature (libarchive for exports: ICU, libxml2;
 * GMime for mail: GLib, GObject, GIO, GPGME): engine/export_lib.c and
 * mail/mime_lib.c open them through this when first needed, so a lethe
 * that never exports or reads mail does not carry them in memory.  A
 * struct dlib is filled once (its owner's pthread_once) and only read
 * afterwards; the handle is kept for the process's life.
 */
#ifndef LETHE_UTIL_DLIB_H
#define LETHE_UTIL_DLIB_H

#include "util/fmacros.h"

#include <stdbool.h>

#define DLIB_WHY_MAX 256 /* bytes of why it could not be loaded */

/* One library being opened (caller-owned; zero it first). */
struct dlib {
	const char *soname;     /* the library's file name, e.g. "libarchive.so.13" (borrowed) */
	void *h;                /* its dlopen() handle, NULL until opened */
	char why[DLIB_WHY_MAX]; /* why it could not be opened or a symbol is missing */
};

/*
 * Open @soname (RTLD_NOW | RTLD_LOCAL) into @d; false with d->why set to
 * dlerror() if it cannot be.
 */
bool dlib_open(struct dlib *d, const char *soname);
/*
 * Look @name up in @d (and the libraries it depends on) and store the
 * function pointer in *@slot (a pointer to a function pointer); false
 * with d->why "SONAME has no NAME" if it is missing.
 */
bool dlib_sym(struct dlib *d, const char *name, void *slot);

#endif /* LETHE_UTIL_DLIB_H */
