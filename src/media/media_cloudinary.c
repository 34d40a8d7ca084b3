/* SPDX-License-Identifier: MIT */
/*
 * media_cloudinary.c - scaffold: the cloudinary kind is refused until its implementation
 * replaces this file (issue 19).
 */
#include "util/fmacros.h"

#include "media/media_internal.h"

const struct media_ops media_cloudinary_ops = {.kind = MEDIA_CLOUDINARY};

lethe_rc
media_cloudinary_parse(const char *dir, struct ydoc *y, yaml_node_t *n, struct media_store *m,
                       struct lethe_err *err)
{
	(void)dir;
	(void)m;
	return ynode_fail(y, n, LETHE_E_CONFIG, err,
	                  "media store kind 'cloudinary' is not built yet");
}
