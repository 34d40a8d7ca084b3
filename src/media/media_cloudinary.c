/* SPDX-License-Identifier: MIT */
/* media_cloudinary.c - scaffold: replaced by its implementation (issue 19). */
#include "util/fmacros.h"

#include "media/media_internal.h"
