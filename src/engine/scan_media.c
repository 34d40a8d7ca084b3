/* SPDX-License-Identifier: MIT */
/*
 * scan_media.c - the residual scan's objects (scan_media.h): the removed
 * objects a job recorded, grouped by store, asked about in chunks of
 * MEDIA_BATCH_MAX with media_probe().
 */
#include "util/fmacros.h"

#include <stdlib.h>
#include <string.h>

#include "engine/scan_media.h"
#include "util/mem.h"

/* Order records by store name (then key: a stable order for the chunks). */
static int
key_cmp(const void *a, const void *b)
{
	const struct store_media_key *x = a, *y = b;
	int c = strcmp(x->store, y->store);

	return c != 0 ? c : strcmp(x->key, y->key);
}

/* Probe keys @k[0..@n) of store @m in chunks; counts into @s. */
static lethe_rc
probe_store(const struct media_store *m, const struct store_media_key *k, size_t n,
            struct scan_media_store *s, struct lethe_err *err)
{
	const char **keys = xcalloc(MEDIA_BATCH_MAX, sizeof(*keys));
	enum media_presence *got = xcalloc(MEDIA_BATCH_MAX, sizeof(*got));
	lethe_rc rc = LETHE_OK;
	size_t at, i;

	for (at = 0; at < n && rc == LETHE_OK; at += MEDIA_BATCH_MAX) {
		size_t c = n - at < MEDIA_BATCH_MAX ? n - at : MEDIA_BATCH_MAX;

		for (i = 0; i < c; i++) {
			keys[i] = k[at + i].key;
			got[i] = MEDIA_UNKNOWN;
		}
		rc = media_probe(m, keys, c, got, err);
		/* LETHE_OK promises an answer for each: one missing fails, never "absent". */
		for (i = 0; rc == LETHE_OK && i < c; i++)
			if (got[i] == MEDIA_UNKNOWN)
				rc = lethe_err_set(err, LETHE_E_INTERNAL,
				                   "media store '%s' left an object unanswered",
				                   media_store_name(m));
		for (i = 0; rc == LETHE_OK && i < c; i++) {
			s->checked++;
			if (got[i] == MEDIA_PRESENT)
				s->present++;
		}
	}
	free(keys);
	free(got);
	return rc;
}

/* The removed records of the @njobs jobs @jobs, one array (*@k, *@n). */
static lethe_rc
records_of(struct store *st, const int64_t *jobs, size_t njobs, struct store_media_key **k,
           size_t *n, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;
	size_t i;

	*k = NULL;
	*n = 0;
	for (i = 0; i < njobs && rc == LETHE_OK; i++) {
		struct store_media_key *more = NULL;
		size_t nmore = 0;

		if (jobs[i] == 0)
			continue;
		rc = store_media_removed(st, jobs[i], &more, &nmore, err);
		if (rc != LETHE_OK || nmore == 0) {
			free(more);
			continue;
		}
		*k = xrealloc(*k, (*n + nmore) * sizeof(**k));
		memcpy(*k + *n, more, nmore * sizeof(*more));
		*n += nmore;
		free(more); /* its strings are *@k's now */
	}
	return rc;
}

lethe_rc
scan_media_run(const struct media_set *set, struct store *st, const int64_t *jobs, size_t njobs,
               struct scan_media *out, struct lethe_err *err)
{
	struct store_media_key *k = NULL;
	size_t n = 0, i, j;
	lethe_rc rc;

	memset(out, 0, sizeof(*out));
	rc = records_of(st, jobs, njobs, &k, &n, err);
	if (rc != LETHE_OK) {
		store_media_keys_free(k, n);
		return rc;
	}
	if (n > 1) /* k is NULL when the job removed no object: qsort's arguments must not be */
		qsort(k, n, sizeof(*k), key_cmp);
	out->stores = xcalloc(n + 1, sizeof(*out->stores));
	for (i = 0; i < n && rc == LETHE_OK; i = j) {
		const struct media_store *m = set != NULL ? media_set_get(set, k[i].store) : NULL;
		struct scan_media_store *s = &out->stores[out->nstores++];

		for (j = i + 1; j < n && strcmp(k[j].store, k[i].store) == 0; j++)
			;
		s->store = xstrdup(k[i].store);
		if (m == NULL)
			rc = lethe_err_set(err, LETHE_E_CONFIG,
			                   "objects were removed from media store '%s', which "
			                   "lethe.yaml no longer defines",
			                   k[i].store);
		else
			rc = probe_store(m, k + i, j - i, s, err);
		out->checked += s->checked;
		out->present += s->present;
	}
	store_media_keys_free(k, n);
	return rc;
}

void
scan_media_free(struct scan_media *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nstores; i++)
		free(m->stores[i].store);
	free(m->stores);
	memset(m, 0, sizeof(*m));
}

json_t *
scan_media_json(const struct scan_media *m)
{
	json_t *stores = json_array();
	size_t i;

	for (i = 0; i < m->nstores; i++)
		json_array_append_new(stores,
		                      json_pack("{s:s, s:I, s:I}", "store", m->stores[i].store,
		                                "checked", (json_int_t)m->stores[i].checked,
		                                "present", (json_int_t)m->stores[i].present));
	return json_pack("{s:I, s:I, s:o}", "checked", (json_int_t)m->checked, "present",
	                 (json_int_t)m->present, "stores", stores);
}
