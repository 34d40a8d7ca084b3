/* SPDX-License-Identifier: MIT */
/*
 * timeutil.c - clocks, durations and UTC timestamps (see timeutil.h).
 *
 * time_now() honours the test-only LETHE_TEST_NOW variable.  It is looked
 * up once (an atomic flag); unset, time_now() costs one relaxed atomic load
 * more than time(2).  Set, every call parses it, and "file:PATH" re-reads
 * PATH, so a test can move the clock of a running server.
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/timeutil.h"

static void time_add_us(struct timespec *ts, int64_t us);

void
time_deadline(struct timespec *ts, int64_t ms)
{
	time_deadline_us(ts, ms * 1000);
}

void
time_deadline_us(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_REALTIME, ts);
	time_add_us(ts, us);
}

void
time_deadline_mono_us(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	time_add_us(ts, us);
}

void
time_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
}

static void
time_add_us(struct timespec *ts, int64_t us)
{
	ts->tv_sec += (time_t)(us / 1000000);
	ts->tv_nsec += (long)(us % 1000000) * 1000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

double
time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* LETHE_TEST_NOW: 0 not looked up yet, 1 unset, 2 set. */
static atomic_int test_clock_state;
static _Atomic int64_t test_clock_last; /* the last test time read, 0 if none */

/* Epoch seconds from the decimal text @s (spaces around allowed); false if none. */
static bool
clock_parse(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v < 0)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return false;
	*out = (int64_t)v;
	return true;
}

/* The test clock's time in *@out; false (use the real clock) if unreadable. */
static bool
test_clock(int64_t *out)
{
	const char *v = getenv("LETHE_TEST_NOW");
	char text[64];
	ssize_t n;
	int fd;

	if (v == NULL)
		return false;
	if (strncmp(v, "file:", 5) != 0)
		return clock_parse(v, out);
	fd = open(v + 5, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	return clock_parse(text, out);
}

int64_t
time_now(void)
{
	int state = atomic_load_explicit(&test_clock_state, memory_order_relaxed);
	int64_t t;

	if (state == 1)
		return (int64_t)time(NULL);
	if (state == 0) {
		state = getenv("LETHE_TEST_NOW") != NULL ? 2 : 1;
		atomic_store_explicit(&test_clock_state, state, memory_order_relaxed);
	}
	if (state == 2 && test_clock(&t)) {
		atomic_store_explicit(&test_clock_last, t, memory_order_relaxed);
		return t;
	}
	/* A clock file caught mid-rewrite: stay at the last good test time. */
	t = atomic_load_explicit(&test_clock_last, memory_order_relaxed);
	return state == 2 && t != 0 ? t : (int64_t)time(NULL);
}

lethe_rc
time_test_clock_check(struct lethe_err *err)
{
	const char *v = getenv("LETHE_TEST_NOW");
	int64_t t = 0;

	if (v == NULL)
		return LETHE_OK;
	if (!test_clock(&t))
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "LETHE_TEST_NOW is set but %s; unset it outside tests",
		                     strncmp(v, "file:", 5) == 0
		                         ? "its file cannot be read or holds no epoch seconds"
		                         : "is not epoch seconds or file:PATH");
	atomic_store_explicit(&test_clock_last, t, memory_order_relaxed);
	log_warnx("LETHE_TEST_NOW is set: running on a TEST clock (now = %lld), not the real "
	          "time; never in production",
	          (long long)t);
	return LETHE_OK;
}

bool
time_is_test_clock(void)
{
	time_now();
	return atomic_load_explicit(&test_clock_state, memory_order_relaxed) == 2;
}

lethe_rc
duration_parse(const char *s, int64_t *out)
{
	int64_t total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return LETHE_E_USAGE;
	while (*p != '\0') {
		int64_t n = 0, unit;

		if (!isdigit((unsigned char)*p))
			return LETHE_E_USAGE;
		while (isdigit((unsigned char)*p)) {
			if (n > (INT64_MAX - 9) / 10)
				return LETHE_E_USAGE;
			n = n * 10 + (*p - '0');
			p++;
		}
		switch (*p) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		case 'w':
			unit = 7 * 86400;
			break;
		case 'y':
			unit = 365 * 86400;
			break;
		default:
			return LETHE_E_USAGE;
		}
		p++;
		if (n > (INT64_MAX - total) / unit)
			return LETHE_E_USAGE;
		total += n * unit;
	}
	if (total <= 0)
		return LETHE_E_USAGE;
	*out = total;
	return LETHE_OK;
}

/* Unix time @t as UTC in strftime format @fmt into @out (@n bytes). */
static void
format_utc(int64_t t, const char *fmt, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, n, fmt, &tm);
}

void
time_format(int64_t t, char *out, size_t n)
{
	format_utc(t, "%Y-%m-%d %H:%M:%S", out, n);
}

void
time_format_iso(int64_t t, char *out, size_t n)
{
	format_utc(t, "%Y-%m-%dT%H:%M:%SZ", out, n);
}

static int
digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

lethe_rc
time_parse(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, se = 0;
	size_t len = strlen(s);

	if (len < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d))
		return LETHE_E_USAGE;
	if (len != 10 && len != 19 && !(len == 20 && s[19] == 'Z'))
		return LETHE_E_USAGE;
	if (len > 10) {
		if ((s[10] != ' ' && s[10] != 'T') || digits(s + 11, 2, &h) || s[13] != ':' ||
		    digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
			return LETHE_E_USAGE;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return LETHE_E_USAGE;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = (int64_t)timegm(&tm);
	/* timegm() normalises 2023-02-30 to March: refuse dates that do not exist. */
	{
		time_t back = (time_t)*out;
		struct tm chk;

		gmtime_r(&back, &chk);
		if (chk.tm_mday != d || chk.tm_mon != mo - 1 || chk.tm_year != y - 1900)
			return LETHE_E_USAGE;
	}
	return LETHE_OK;
}

json_t *
time_json(int64_t t)
{
	char iso[32];

	if (t <= 0)
		return json_null();
	time_format_iso(t, iso, sizeof(iso));
	return json_string(iso);
}

void
time_test_crash(const char *point)
{
	const char *v = getenv("LETHE_TEST_CRASH");

	if (v == NULL || strcmp(v, point) != 0 || !time_is_test_clock())
		return;
	log_warnx("LETHE_TEST_CRASH=%s: killed at this TEST crash point", point);
	raise(SIGKILL);
}
