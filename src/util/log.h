/* SPDX-License-Identifier: MIT */
/*
 * log.h - logging to stderr (after OpenBSD's log.c).
 *
 * Rule: no personal data and no secret ever goes into a log line; log table
 * names, counts, job ids and error codes, never identifiers or row values.
 * log_warn appends strerror(errno); log_warnx does not.  fatal/fatalx exit(1).
 * A warning that can repeat per request or per retry goes through a
 * struct log_limit (log_warnx_limited), so a flood cannot flood the log.
 */
#ifndef LETHE_LOG_H
#define LETHE_LOG_H

#include "util/fmacros.h"

#include <pthread.h>

/* Set the lowest level printed: 0 warnings, 1 info (default), 2 debug. */
void log_set_verbosity(int v);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * A rate limit for one kind of warning that can repeat per request or per
 * failed try (a full disk, a flood of bad clients): at most @burst lines per
 * @window_ms; the lines over it are counted, and the count is said at the
 * end of the next line logged.  Declare one per call site, static:
 *   static struct log_limit lim = LOG_LIMIT_INIT(10, 60000);
 */
struct log_limit {
	pthread_mutex_t mu; /* guards the three below */
	int burst;          /* lines per window */
	double window_ms;   /* the window */
	double start;       /* monotonic ms when the current window began */
	int lines;          /* lines logged in it */
	long dropped;       /* lines not logged since the last one logged */
};
#define LOG_LIMIT_INIT(burst, window_ms)                                                           \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, (burst), (window_ms), -1e18, 0, 0                       \
	}
/* Initialise @l at run time (for a limit inside a struct); no free needed. */
void log_limit_init(struct log_limit *l, int burst, double window_ms);
/* log_warnx / log_warn through @l.  Thread-safe. */
void log_warnx_limited(struct log_limit *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_warn_limited(struct log_limit *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* LETHE_LOG_H */
