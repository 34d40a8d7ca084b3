/* SPDX-License-Identifier: MIT */
/* urlcheck.c - see urlcheck.h. */
#include "util/fmacros.h"

#include <string.h>

#include "util/urlcheck.h"

bool
url_http_ok(const char *u)
{
	const char *rest;

	if (strncmp(u, "https://", 8) == 0)
		rest = u + 8;
	else if (strncmp(u, "http://", 7) == 0)
		rest = u + 7;
	else
		return false;
	if (rest[0] == '\0' || rest[0] == '/')
		return false;
	return strpbrk(rest, "?#@ \t\r\n\\") == NULL;
}
