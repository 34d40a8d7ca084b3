/* SPDX-License-Identifier: MIT */
/*
 * file.h - small helpers for the files a configuration names: resolving a
 * relative path against the configuration's directory, and warning when a
 * secret or key file can be read by every user of the machine.
 *
 * Used by config/ and platform/ alike (both read secret files), so it sits
 * below both.  Stateless; thread-safe.
 */
#ifndef LETHE_FILE_H
#define LETHE_FILE_H

#include "util/fmacros.h"

/* @rel resolved against directory @dir (NULL: as is; absolute @rel: as is); caller frees. */
char *file_resolve(const char *dir, const char *rel);
/*
 * Warn if the secret or key file @path (@what names it: "anonymize key
 * file") can be read by every user of the machine.  Names the path and the
 * mode, never the content.
 */
void file_warn_readable(const char *path, const char *what);

#endif /* LETHE_FILE_H */
