/* SPDX-License-Identifier: MIT */
/*
 * md5.h - MD5 (RFC 1321), for the one place a protocol demands it: the
 * Content-MD5 header S3's DeleteObjects requires (media/media_s3.c).  Not
 * for anything that needs collision resistance.  libsodium has no MD5 and
 * a hundred lines cost less than a new dependency (docs/internals/media.md).
 */
#ifndef LETHE_UTIL_MD5_H
#define LETHE_UTIL_MD5_H

#include "util/fmacros.h"

#include <stddef.h>
#include <stdint.h>

#define MD5_BYTES 16

/* The MD5 digest of @n bytes at @p into @out.  Thread-safe (no state). */
void md5_sum(const void *p, size_t n, uint8_t out[MD5_BYTES]);

#endif /* LETHE_UTIL_MD5_H */
