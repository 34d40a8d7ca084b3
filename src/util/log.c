/* SPDX-License-Identifier: MIT */
/*
 * log.c - stderr logging with levels (see log.h for the rules).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <stdarg.h>

#include "util/log.h"
#include "util/timeutil.h"

static int verbosity = 1;

void
log_set_verbosity(int v)
{
	verbosity = v;
}

/* One line; @dropped > 0 says how many like it a struct log_limit left out. */
static void
vlog_n(const char *prefix, const char *fmt, va_list ap, int with_errno, int saved, long dropped,
       const struct log_limit *l)
{
	flockfile(stderr); /* one line at a time, whatever the threads */
	fputs("lethe: ", stderr);
	if (prefix != NULL)
		fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	if (with_errno)
		fprintf(stderr, ": %s", strerror(saved));
	if (dropped > 0)
		fprintf(stderr, " (%ld more like this not logged: at most %d every %.0f s)",
		        dropped, l->burst, l->window_ms / 1000.0);
	fputc('\n', stderr);
	funlockfile(stderr);
}

static void
vlog(const char *prefix, const char *fmt, va_list ap, int with_errno)
{
	vlog_n(prefix, fmt, ap, with_errno, errno, 0, NULL);
}

void
log_limit_init(struct log_limit *l, int burst, double window_ms)
{
	pthread_mutex_init(&l->mu, NULL);
	l->burst = burst;
	l->window_ms = window_ms;
	l->start = -1e18;
	l->lines = 0;
	l->dropped = 0;
}

/* True if a line may be logged now; *@dropped: lines left out before it. */
static bool
limit_take(struct log_limit *l, long *dropped)
{
	double now = time_mono_ms();
	bool ok = false;

	pthread_mutex_lock(&l->mu);
	if (now - l->start >= l->window_ms) {
		l->start = now;
		l->lines = 0;
	}
	if (l->lines < l->burst) {
		l->lines++;
		*dropped = l->dropped;
		l->dropped = 0;
		ok = true;
	} else {
		l->dropped++;
	}
	pthread_mutex_unlock(&l->mu);
	return ok;
}

void
log_warnx_limited(struct log_limit *l, const char *fmt, ...)
{
	va_list ap;
	long dropped = 0;

	if (!limit_take(l, &dropped))
		return;
	va_start(ap, fmt);
	vlog_n("warning: ", fmt, ap, 0, 0, dropped, l);
	va_end(ap);
}

void
log_warn_limited(struct log_limit *l, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	long dropped = 0;

	if (!limit_take(l, &dropped))
		return;
	va_start(ap, fmt);
	vlog_n("warning: ", fmt, ap, 1, saved, dropped, l);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 1)
		return;
	va_start(ap, fmt);
	vlog(NULL, fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 2)
		return;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", fmt, ap, 0);
	va_end(ap);
	exit(1);
}
