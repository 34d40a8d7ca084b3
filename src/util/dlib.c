/* SPDX-License-Identifier: MIT */
/*
 * dlib.c - a shared library opened on first use (util/dlib.h).
 */
#include "util/fmacros.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "util/dlib.h"

bool
dlib_open(struct dlib *d, const char *soname)
{
	const char *e;

	d->soname = soname;
	d->h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (d->h == NULL) {
		e = dlerror();
		snprintf(d->why, sizeof(d->why), "%s", e != NULL ? e : soname);
		return false;
	}
	return true;
}

bool
dlib_sym(struct dlib *d, const char *name, void *slot)
{
	void *f = d->h != NULL ? dlsym(d->h, name) : NULL;

	if (f == NULL) {
		snprintf(d->why, sizeof(d->why), "%s has no %s", d->soname, name);
		return false;
	}
	/* POSIX: a function pointer and void * share their representation (dlsym). */
	memcpy(slot, &f, sizeof(f));
	return true;
}
