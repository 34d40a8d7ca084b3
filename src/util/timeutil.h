/* SPDX-License-Identifier: MIT */
/*
 * timeutil.h - clocks, durations and timestamps.
 *
 * Durations are written like "30d", "24h", "90m", "45s", "2w", "10y"
 * (y = 365 days, m = minutes), optionally combined: "1d12h".  Timestamps in
 * app databases are UTC "YYYY-MM-DD HH:MM:SS" text (SQLite's datetime()).
 */
#ifndef LETHE_TIMEUTIL_H
#define LETHE_TIMEUTIL_H

#include "util/fmacros.h"

#include <pthread.h>
#include <time.h>

#include <jansson.h>
#include "util/rc.h"

/* @ms milliseconds from now on CLOCK_REALTIME, for pthread_cond_timedwait(). */
void time_deadline(struct timespec *ts, int64_t ms);
/* The same @us microseconds from now. */
void time_deadline_us(struct timespec *ts, int64_t us);
/*
 * @us microseconds from now on CLOCK_MONOTONIC, for a condition variable
 * made by time_cond_init_mono() (a step of the wall clock does not move it).
 */
void time_deadline_mono_us(struct timespec *ts, int64_t us);
void time_cond_init_mono(pthread_cond_t *cv);
/* Monotonic milliseconds (CLOCK_MONOTONIC), for measuring. */
double time_mono_ms(void);
/*
 * Wall-clock seconds since the epoch.  TEST ONLY: if the environment has
 * LETHE_TEST_NOW, it is the time instead: epoch seconds ("1792627200"), or
 * "file:PATH" naming a file that holds epoch seconds, re-read at every call
 * so tests can move the clock of a running process.  A file caught
 * unreadable returns the last test time read (the real clock if none was).
 * Thread-safe.
 */
int64_t time_now(void);
/*
 * At the start of a command that acts on time (serve, sweep, erase): if
 * LETHE_TEST_NOW is set, warn (log_warnx) that a test clock runs, or
 * return LETHE_E_CONFIG if it cannot be read.
 */
lethe_rc time_test_clock_check(struct lethe_err *err);
/* True if LETHE_TEST_NOW is set (the sweeper then re-checks the clock often). */
bool time_is_test_clock(void);
/*
 * A crash point for tests: if the test clock runs (LETHE_TEST_NOW) and
 * LETHE_TEST_CRASH equals @point, the process kills itself (SIGKILL) here,
 * so a test can stop it between two writes that no signal from outside hits
 * reliably.  Never acts without the test clock.
 */
void time_test_crash(const char *point);
/*
 * Parse duration @s into seconds in *@out.  Returns LETHE_OK, or
 * LETHE_E_USAGE for an empty, malformed, zero, negative or overflowing value.
 */
lethe_rc duration_parse(const char *s, int64_t *out);
/* Format @t (epoch seconds, UTC) as "YYYY-MM-DD HH:MM:SS" into @out (>= 20 bytes). */
void time_format(int64_t t, char *out, size_t n);
/* Format @t (epoch seconds, UTC) as ISO 8601 "YYYY-MM-DDTHH:MM:SSZ" into @out (>= 21 bytes). */
void time_format_iso(int64_t t, char *out, size_t n);
/* @t (epoch seconds) as a JSON ISO 8601 string (time_format_iso()), or JSON null if <= 0. */
json_t *time_json(int64_t t);
/* Parse "YYYY-MM-DD HH:MM:SS" / "YYYY-MM-DDTHH:MM:SSZ" / "YYYY-MM-DD"; LETHE_E_USAGE if not. */
lethe_rc time_parse(const char *s, int64_t *out);

#endif /* LETHE_TIMEUTIL_H */
