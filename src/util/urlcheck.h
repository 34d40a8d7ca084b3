/* SPDX-License-Identifier: MIT */
/*
 * urlcheck.h - the one shape lethe accepts for an HTTP endpoint in its
 * configuration (platforms' base_url, a Cloudinary store's api_url and
 * delivery_url): one rule, so the two loaders cannot drift apart.
 */
#ifndef LETHE_UTIL_URLCHECK_H
#define LETHE_UTIL_URLCHECK_H

#include "util/fmacros.h"

#include <stdbool.h>

/*
 * True if @u is http(s)://host[:port][/path] without query, fragment,
 * userinfo, backslash or white space: credentials never sit in a URL of
 * lethe.yaml, and a query would be silently dropped by the callers.
 */
bool url_http_ok(const char *u);

#endif
