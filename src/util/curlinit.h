/* SPDX-License-Identifier: MIT */
/*
 * curlinit.h - libcurl's global initialisation, once for the whole process.
 *
 * curl_global_init() is not thread-safe and must run once before the first
 * easy handle; the platform calls (platform/platform.c), the mail sender
 * (mail/smtp.c) and the notices to recipients (jobs/notify.c) all go
 * through curlinit_once(), whose one pthread_once guard makes that so.
 * Nothing calls curl_global_cleanup(): the process ends instead.
 */
#ifndef LETHE_UTIL_CURLINIT_H
#define LETHE_UTIL_CURLINIT_H

#include <curl/curl.h>

/*
 * Run curl_global_init(CURL_GLOBAL_DEFAULT) once per process (the first
 * caller runs it, every other waits for it) and return its result, the
 * same for every caller: CURLE_OK, or why libcurl cannot be used.
 * Thread-safe.
 */
CURLcode curlinit_once(void);

#endif /* LETHE_UTIL_CURLINIT_H */
