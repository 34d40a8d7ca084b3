/* SPDX-License-Identifier: MIT */
/*
 * media_use.c - the engine's side of media stores (media_use.h): checking
 * the data map's store names against lethe.yaml, the pre-commit look at
 * cheap stores, and removals grouped by store.
 */
#include "util/fmacros.h"

#include "engine/media_use.h"
#include "util/mem.h"

lethe_rc
media_check_table(const struct dm_table *t, const struct media_set *set, struct lethe_err *err)
{
	size_t i;

	for (i = 0; i < t->nmedia; i++) {
		const char *name = dm_media_store(t, i);

		if (media_set_get(set, name) != NULL)
			continue;
		if (strcmp(name, DM_MEDIA_DEFAULT) == 0)
			return lethe_err_set(
			    err, LETHE_E_CONFIG,
			    "table '%s' has media columns but app.media_root is not "
			    "configured (column '%s' names no media store: the "
			    "default, 'local', is app.media_root)",
			    t->name, t->media[i]);
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "table '%s' column '%s' names media store '%s', which "
		                     "lethe.yaml's media_stores does not define",
		                     t->name, t->media[i], name);
	}
	return LETHE_OK;
}

lethe_rc
media_check_stores(const struct datamap *dm, const struct media_set *set, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;
	size_t i;

	for (i = 0; rc == LETHE_OK && i < dm->ntables; i++)
		rc = media_check_table(&dm->tables[i], set, err);
	return rc;
}

/*
 * The indexes of the keys of store @name among @k[from..n) not yet @taken,
 * at most @max of them, into @idx (marked taken); their count.
 */
static size_t
take_chunk(const struct store_media_key *k, size_t from, size_t n, const char *name, bool *taken,
           size_t *idx, size_t max)
{
	size_t i, c = 0;

	for (i = from; i < n && c < max; i++) {
		if (taken[i] || strcmp(k[i].store, name) != 0)
			continue;
		taken[i] = true;
		idx[c++] = i;
	}
	return c;
}

void
media_use_missing(const struct media_set *set, const struct store_media_key *k, size_t n,
                  bool *missing)
{
	bool *taken = xcalloc(n ? n : 1, sizeof(*taken));
	size_t *idx = xcalloc(n ? n : 1, sizeof(*idx));
	const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
	enum media_presence *pr = xcalloc(n ? n : 1, sizeof(*pr));
	size_t i, j, c;

	for (i = 0; i < n; i++)
		missing[i] = false;
	for (i = 0; i < n; i++) {
		const struct media_store *m;

		if (taken[i])
			continue;
		m = media_set_get(set, k[i].store);
		if (m == NULL || !media_store_probe_cheap(m)) {
			taken[i] = true;
			continue;
		}
		while ((c = take_chunk(k, i, n, k[i].store, taken, idx, MEDIA_BATCH_MAX)) > 0) {
			struct lethe_err err = {0};

			for (j = 0; j < c; j++)
				keys[j] = k[idx[j]].key;
			/* An unanswered key is recorded: its removal reports it. */
			(void)media_probe(m, keys, c, pr, &err);
			for (j = 0; j < c; j++)
				missing[idx[j]] = pr[j] == MEDIA_ABSENT;
		}
	}
	free(taken);
	free(idx);
	free(keys);
	free(pr);
}

lethe_rc
media_use_remove(const struct media_set *set, const struct store_media_key *k, size_t n,
                 enum media_outcome *out, struct lethe_err *err)
{
	bool *taken = xcalloc(n ? n : 1, sizeof(*taken));
	size_t *idx = xcalloc(n ? n : 1, sizeof(*idx));
	const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
	enum media_outcome *o = xcalloc(n ? n : 1, sizeof(*o));
	lethe_rc rc = LETHE_OK;
	size_t i, j, c;

	for (i = 0; i < n; i++)
		out[i] = MEDIA_FAILED;
	for (i = 0; i < n; i++) {
		const struct media_store *m;

		if (taken[i])
			continue;
		m = media_set_get(set, k[i].store);
		if (m == NULL) {
			/* The configuration lost the store since the keys were recorded. */
			take_chunk(k, i, n, k[i].store, taken, idx, n);
			if (rc == LETHE_OK)
				rc = lethe_err_set(
				    err, LETHE_E_CONFIG,
				    "media store '%s' is not configured any more; its "
				    "objects stay recorded",
				    k[i].store);
			continue;
		}
		while ((c = take_chunk(k, i, n, k[i].store, taken, idx, media_store_batch(m))) >
		       0) {
			struct lethe_err e = {0};
			lethe_rc r;

			for (j = 0; j < c; j++)
				keys[j] = k[idx[j]].key;
			r = media_remove(m, keys, c, o, &e);
			for (j = 0; j < c; j++)
				out[idx[j]] = o[j];
			if (r != LETHE_OK && rc == LETHE_OK) {
				rc = r;
				if (err != NULL)
					*err = e;
			}
		}
	}
	free(taken);
	free(idx);
	free(keys);
	free(o);
	return rc;
}
