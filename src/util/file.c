/* SPDX-License-Identifier: MIT */
/*
 * file.c - paths and modes of the files a configuration names (see file.h).
 */
#include "util/fmacros.h"

#include <sys/stat.h>

#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

char *
file_resolve(const char *dir, const char *rel)
{
	if (rel[0] == '/' || dir == NULL)
		return xstrdup(rel);
	return xasprintf("%s/%s", dir, rel);
}

void
file_warn_readable(const char *path, const char *what)
{
	struct stat sb;

	if (stat(path, &sb) == 0 && (sb.st_mode & S_IROTH) != 0)
		log_warnx("%s %s can be read by every user of this machine (mode %03o): chmod 600 "
		          "it",
		          what, path, (unsigned)(sb.st_mode & 0777));
}
