/* SPDX-License-Identifier: MIT */
/*
 * progress.c - a one-line progress bar on stderr, only on a terminal, redrawn
 * at most ten times a second.
 */
#include "util/fmacros.h"

#include <unistd.h>

#include "cli/cli.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct progress {
	bool enabled; /* stderr is a terminal and the user did not say no */
	double last;  /* monotonic ms of the last redraw */
	bool drawn;   /* something is on the line */
};

struct progress *
progress_new(bool enabled)
{
	struct progress *p = xcalloc(1, sizeof(*p));

	p->enabled = enabled && isatty(STDERR_FILENO);
	return p;
}

void
progress_update(struct progress *p, const char *label, int64_t done, int64_t total)
{
	char bar[31];
	double now = time_mono_ms(), frac;
	int i, fill;

	if (p == NULL || !p->enabled || now - p->last < 100.0)
		return;
	p->last = now;
	frac = total > 0 ? (double)done / (double)total : 1.0;
	if (frac > 1.0)
		frac = 1.0;
	fill = (int)(frac * 30.0);
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %3d%%  %-22.22s %lld/%lld rows", bar, (int)(frac * 100.0), label,
	        (long long)done, (long long)total);
	fflush(stderr);
	p->drawn = true;
}

void
progress_done(struct progress *p)
{
	if (p == NULL)
		return;
	if (p->drawn)
		fputs("\r\033[K", stderr);
	free(p);
}
