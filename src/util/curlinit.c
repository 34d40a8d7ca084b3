/* SPDX-License-Identifier: MIT */
/*
 * curlinit.c - libcurl's global initialisation, once per process (see
 * curlinit.h).  Safe because pthread_once() runs init() exactly once and
 * makes its write of init_rc visible to every caller that returns from it.
 */
#include "util/fmacros.h"

#include <pthread.h>

#include "util/curlinit.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT; /* curl_global_init()'s result */

static void
init(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURLcode
curlinit_once(void)
{
	pthread_once(&once, init);
	return init_rc;
}
