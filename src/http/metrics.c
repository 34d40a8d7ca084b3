/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - process-wide counters and histograms (see metrics.h).
 *
 * Every completion is observed twice, with the same seconds: in
 * lethe_deletion_completion_seconds (all requests, fine buckets for Meta's
 * seconds-long runs) and in lethe_request_duration_seconds of its kind
 * (buckets from a second to 45 days, for requests with grace and review),
 * so the counts of the per-kind histograms add up to the former's.
 */
#include "util/fmacros.h"

#include <pthread.h>

#include "http/metrics.h"

#define MAX_SERIES 64

static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
static const double done_bounds[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400};
/* Time to completion per kind: a second (no grace) to 45 days (a deadline extended). */
static const double dur_bounds[] = {1,     10,     60,     300,     3600,    21600,
                                    86400, 172800, 604800, 1209600, 2592000, 3888000};
/* The kinds of request (config/policy.h POLICY_KINDS): each has its histogram. */
static const char *const kinds[] = {"erasure", "export", "restriction"};
#define NB (sizeof(lat_bounds) / sizeof(lat_bounds[0]))
#define ND (sizeof(done_bounds) / sizeof(done_bounds[0]))
#define NU (sizeof(dur_bounds) / sizeof(dur_bounds[0]))
#define NK (sizeof(kinds) / sizeof(kinds[0]))

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
	struct {
		uint64_t b[NU + 1]; /* buckets (+Inf last) */
		double sum;         /* seconds */
		uint64_t n;         /* completions */
	} dur[NK];                  /* time to completion per kind */
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
metrics_completion(double seconds, const char *state, const char *kind)
{
	size_t i, k;

	(void)state;
	for (k = 0; k < NK; k++)
		if (kind != NULL && strcmp(kinds[k], kind) == 0)
			break;
	pthread_mutex_lock(&m.mu);
	for (i = 0; i < ND && seconds > done_bounds[i]; i++)
		;
	m.done[i]++;
	m.done_sum += seconds;
	m.done_n++;
	/* The same observation in its kind's histogram (an unknown kind has none). */
	if (k < NK) {
		for (i = 0; i < NU && seconds > dur_bounds[i]; i++)
			;
		m.dur[k].b[i]++;
		m.dur[k].sum += seconds;
		m.dur[k].n++;
	}
	pthread_mutex_unlock(&m.mu);
}

/*
 * Histogram @name; @label, if not NULL, is a label pair (kind="erasure")
 * every series carries before le.
 */
static void
histogram_labelled(struct buf *b, const char *name, const char *label, const double *bounds,
                   size_t nb, const uint64_t *counts, double sum, uint64_t n)
{
	const char *sep = label != NULL ? "," : "";
	uint64_t cum = 0;
	size_t i;

	if (label == NULL)
		label = "";
	for (i = 0; i < nb; i++) {
		cum += counts[i];
		buf_addf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label, sep, bounds[i],
		         (unsigned long long)cum);
	}
	cum += counts[nb];
	buf_addf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, sep, (unsigned long long)cum);
	if (label[0] != '\0')
		buf_addf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, label, sum, name, label,
		         (unsigned long long)n);
	else
		buf_addf(b, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)n);
}

static void
histogram(struct buf *b, const char *name, const double *bounds, size_t nb, const uint64_t *counts,
          double sum, uint64_t n)
{
	histogram_labelled(b, name, NULL, bounds, nb, counts, sum, n);
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
	buf_adds(b, "# HELP lethe_request_duration_seconds Time from a privacy request's receipt "
	            "to its completion, by kind.\n"
	            "# TYPE lethe_request_duration_seconds histogram\n");
	for (i = 0; i < NK; i++) {
		char label[48];

		snprintf(label, sizeof(label), "kind=\"%s\"", kinds[i]);
		histogram_labelled(b, "lethe_request_duration_seconds", label, dur_bounds, NU,
		                   m.dur[i].b, m.dur[i].sum, m.dur[i].n);
	}
	pthread_mutex_unlock(&m.mu);
}
