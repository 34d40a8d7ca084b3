/* SPDX-License-Identifier: MIT */
/*
 * seen.c - the repeat window's requests in memory (see seen.h).
 *
 * Open addressing with linear probing over a power-of-two table; a slot
 * with id 0 is free (request ids start at 1).  Removal (seen_expire)
 * rebuilds the table, so probing never meets tombstones.
 */
#include "util/fmacros.h"

#include "meta/seen.h"
#include "util/mem.h"

#define SEEN_MIN 1024 /* initial slots */

struct seen_slot {
	uint64_t fp;         /* fingerprint of the subject */
	int64_t id;          /* request id; 0 = free slot */
	int64_t received_at; /* receipt time */
};

struct seen {
	struct seen_slot *slots; /* the table */
	size_t cap;              /* slots (a power of two) */
	size_t n;                /* used slots */
};

/* FNV-1a, 64 bits, of the subject (a keyed hash: already uniform, any mix will do). */
static uint64_t
fingerprint(const char *subject)
{
	uint64_t v = 1469598103934665603u;

	for (; *subject != '\0'; subject++)
		v = (v ^ (unsigned char)*subject) * 1099511628211u;
	return v;
}

static void
put(struct seen *sn, uint64_t fp, int64_t id, int64_t at)
{
	size_t i = (size_t)(fp ^ (fp >> 29)) & (sn->cap - 1);

	while (sn->slots[i].id != 0)
		i = (i + 1) & (sn->cap - 1);
	sn->slots[i].fp = fp;
	sn->slots[i].id = id;
	sn->slots[i].received_at = at;
	sn->n++;
}

/* Rebuild into @cap slots, keeping entries received at or after @keep_from. */
static void
rebuild(struct seen *sn, size_t cap, int64_t keep_from)
{
	struct seen_slot *old = sn->slots;
	size_t oldcap = sn->cap, i;

	sn->slots = xcalloc(cap, sizeof(*sn->slots));
	sn->cap = cap;
	sn->n = 0;
	for (i = 0; i < oldcap; i++)
		if (old[i].id != 0 && old[i].received_at >= keep_from)
			put(sn, old[i].fp, old[i].id, old[i].received_at);
	free(old);
}

struct seen *
seen_new(void)
{
	struct seen *sn = xcalloc(1, sizeof(*sn));

	sn->cap = SEEN_MIN;
	sn->slots = xcalloc(sn->cap, sizeof(*sn->slots));
	return sn;
}

void
seen_free(struct seen *sn)
{
	if (sn == NULL)
		return;
	free(sn->slots);
	free(sn);
}

void
seen_add(struct seen *sn, const char *subject, int64_t id, int64_t received_at)
{
	if ((sn->n + 1) * 10 > sn->cap * 7)
		rebuild(sn, sn->cap * 2, INT64_MIN);
	put(sn, fingerprint(subject), id, received_at);
}

size_t
seen_find(const struct seen *sn, const char *subject, int64_t since, int64_t *ids, size_t max)
{
	uint64_t fp = fingerprint(subject);
	size_t i = (size_t)(fp ^ (fp >> 29)) & (sn->cap - 1), n = 0, j;

	for (; sn->slots[i].id != 0; i = (i + 1) & (sn->cap - 1)) {
		const struct seen_slot *e = &sn->slots[i];

		if (e->fp != fp || e->received_at < since)
			continue;
		/* Keep the newest @max, newest first (insertion sort; n is tiny). */
		if (n < max)
			j = n++;
		else if (max == 0 || ids[max - 1] >= e->id)
			continue;
		else
			j = max - 1;
		for (; j > 0 && ids[j - 1] < e->id; j--)
			ids[j] = ids[j - 1];
		ids[j] = e->id;
	}
	return n;
}

void
seen_expire(struct seen *sn, int64_t before)
{
	size_t cap = sn->cap;

	/* Shrink while a quarter full or less after the expiry (rough: counted before). */
	rebuild(sn, cap, before);
	while (cap > SEEN_MIN && sn->n * 4 < cap)
		cap /= 2;
	if (cap != sn->cap)
		rebuild(sn, cap, before);
}

size_t
seen_count(const struct seen *sn)
{
	return sn->n;
}

static void
on_row(void *arg, int64_t id, const char *subject, int64_t received_at)
{
	seen_add(arg, subject, id, received_at);
}

lethe_rc
seen_load(struct seen *sn, struct store *st, int64_t since, struct lethe_err *err)
{
	rebuild(sn, SEEN_MIN, INT64_MAX); /* empty */
	return store_meta_since(st, since, on_row, sn, err);
}
