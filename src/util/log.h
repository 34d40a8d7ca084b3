/* SPDX-License-Identifier: MIT */
/*
 * log.h - logging to stderr (after OpenBSD's log.c).
 *
 * Rule: no personal data and no secret ever goes into a log line; log table
 * names, counts, job ids and error codes, never identifiers or row values.
 * log_warn appends strerror(errno); log_warnx does not.  fatal/fatalx exit(1).
 */
#ifndef LETHE_LOG_H
#define LETHE_LOG_H

#include "util/fmacros.h"

/* Set the lowest level printed: 0 warnings, 1 info (default), 2 debug. */
void log_set_verbosity(int v);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* LETHE_LOG_H */
