/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - process-wide counters and histograms (see metrics.h).
 */
#include "util/fmacros.h"

#include <pthread.h>

#include "http/metrics.h"

#define MAX_SERIES 64

static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
static const double done_bounds[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400};
#define NB (sizeof(lat_bounds) / sizeof(lat_bounds[0]))
#define ND (sizeof(done_bounds) / sizeof(done_bounds[0]))

struct series {
	const char *route; /* static route name */
	unsigned status;   /* HTTP status */
	uint64_t n;        /* requests */
};

static struct {
	pthread_mutex_t mu;          /* guards everything */
	struct series s[MAX_SERIES]; /* requests by route and status */
	size_t ns;                   /* series in use */
	uint64_t lat[NB + 1];        /* latency buckets (+Inf last) */
	double lat_sum;              /* seconds */
	uint64_t lat_n;              /* observations */
	uint64_t done[ND + 1];       /* completion buckets */
	double done_sum;             /* seconds */
	uint64_t done_n;             /* completions */
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

void
metrics_http(const char *route, unsigned status, double seconds)
{
	size_t i;

	pthread_mutex_lock(&m.mu);
	for (i = 0; i < m.ns; i++)
		if (m.s[i].status == status && strcmp(m.s[i].route, route) == 0)
			break;
	if (i == m.ns && m.ns < MAX_SERIES) {
		m.s[i].route = route;
		m.s[i].status = status;
		m.ns++;
	}
	if (i < m.ns)
		m.s[i].n++;
	for (i = 0; i < NB && seconds > lat_bounds[i]; i++)
		;
	m.lat[i]++;
	m.lat_sum += seconds;
	m.lat_n++;
	pthread_mutex_unlock(&m.mu);
}

void
metrics_completion(double seconds, const char *state)
{
	size_t i;

	(void)state;
	pthread_mutex_lock(&m.mu);
	for (i = 0; i < ND && seconds > done_bounds[i]; i++)
		;
	m.done[i]++;
	m.done_sum += seconds;
	m.done_n++;
	pthread_mutex_unlock(&m.mu);
}

static void
histogram(struct buf *b, const char *name, const double *bounds, size_t nb, const uint64_t *counts,
          double sum, uint64_t n)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < nb; i++) {
		cum += counts[i];
		buf_addf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
		         (unsigned long long)cum);
	}
	cum += counts[nb];
	buf_addf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	buf_addf(b, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)n);
}

void
metrics_render(struct buf *b)
{
	size_t i;

	pthread_mutex_lock(&m.mu);
	buf_adds(b, "# HELP lethe_http_requests_total HTTP requests by route and status.\n"
	            "# TYPE lethe_http_requests_total counter\n");
	for (i = 0; i < m.ns; i++)
		buf_addf(b, "lethe_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
		         m.s[i].route, m.s[i].status, (unsigned long long)m.s[i].n);
	buf_adds(b, "# HELP lethe_http_request_duration_seconds Time to answer a request.\n"
	            "# TYPE lethe_http_request_duration_seconds histogram\n");
	histogram(b, "lethe_http_request_duration_seconds", lat_bounds, NB, m.lat, m.lat_sum,
	          m.lat_n);
	buf_adds(b, "# HELP lethe_deletion_completion_seconds Time from a data-deletion request "
	            "to its completion.\n"
	            "# TYPE lethe_deletion_completion_seconds histogram\n");
	histogram(b, "lethe_deletion_completion_seconds", done_bounds, ND, m.done, m.done_sum,
	          m.done_n);
	pthread_mutex_unlock(&m.mu);
}
