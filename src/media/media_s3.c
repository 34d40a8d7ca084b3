/* SPDX-License-Identifier: MIT */
/* media_s3.c - scaffold: replaced by its implementation (issue 19). */
#include "util/fmacros.h"

#include "media/media_internal.h"
