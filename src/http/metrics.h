/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - counters and histograms for /metrics (Prometheus text format).
 *
 * Process-wide and thread-safe (one mutex; every update is a few adds).
 * Labels are fixed route names and numeric statuses, never request data.
 */
#ifndef LETHE_HTTP_METRICS_H
#define LETHE_HTTP_METRICS_H

#include "util/buf.h"
#include "util/fmacros.h"

/* Count one HTTP request of @route answered with @status after @seconds. */
void metrics_http(const char *route, unsigned status, double seconds);
/*
 * A privacy request of kind @kind ("erasure", ...) finished in @state
 * (completed, completed_with_retention) @seconds after it was received.
 * Matches runner_done_fn.
 */
void metrics_completion(double seconds, const char *state, const char *kind);
/* Append the metrics in Prometheus text format (plus @extra, already formatted). */
void metrics_render(struct buf *b);

#endif /* LETHE_HTTP_METRICS_H */
