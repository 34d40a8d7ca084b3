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

#define SEEN_MIN 1024           /* initial slots */
#define SEEN_EPOCH 1735689600LL /* 2025-01-01: receipt times are stored from here */

/* 16 bytes: a 32-bit fingerprint still makes a false candidate rare (1 in 4 billion per entry). */
struct seen_slot {
	int64_t id;  /* request id; 0 = free slot */
	uint32_t fp; /* fingerprint of the subject */
	uint32_t at; /* receipt time, seconds since SEEN_EPOCH (clamped) */
};

struct seen {
	struct seen_slot *slots; /* the table */
	size_t cap;              /* slots (a power of two) */
	size_t n;                /* used slots */
};

/* FNV-1a of the subject folded to 32 bits (a keyed hash: already uniform). */
static uint32_t
fingerprint(const char *subject)
{
	uint64_t v = 1469598103934665603u;

	for (; *subject != '\0'; subject++)
		v = (v ^ (unsigned char)*subject) * 1099511628211u;
	return (uint32_t)(v ^ (v >> 32));
}

/* Seconds since SEEN_EPOCH, clamped to what 32 bits hold (until 2161). */
static uint32_t
rel_time(int64_t t)
{
	t -= SEEN_EPOCH;
	return t < 0 ? 0 : t > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* The fingerprint also picks the slot (the table never exceeds 2^32 slots). */
static void
put(struct seen *sn, uint32_t fp, int64_t id, uint32_t at)
{
	size_t i = fp & (sn->cap - 1);

	while (sn->slots[i].id != 0)
		i = (i + 1) & (sn->cap - 1);
	sn->slots[i].fp = fp;
	sn->slots[i].id = id;
	sn->slots[i].at = at;
	sn->n++;
}

/* Rebuild into @cap slots, keeping entries received at or after @keep_from. */
static void
rebuild(struct seen *sn, size_t cap, uint32_t keep_from)
{
	struct seen_slot *old = sn->slots;
	size_t oldcap = sn->cap, i;

	sn->slots = xcalloc(cap, sizeof(*sn->slots));
	sn->cap = cap;
	sn->n = 0;
	for (i = 0; i < oldcap; i++)
		if (old[i].id != 0 && old[i].at >= keep_from)
			put(sn, old[i].fp, old[i].id, old[i].at);
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
		rebuild(sn, sn->cap * 2, 0);
	put(sn, fingerprint(subject), id, rel_time(received_at));
}

size_t
seen_find(const struct seen *sn, const char *subject, int64_t since, int64_t *ids, size_t max)
{
	uint32_t fp = fingerprint(subject), from = rel_time(since);
	size_t i = fp & (sn->cap - 1), n = 0, j;

	for (; sn->slots[i].id != 0; i = (i + 1) & (sn->cap - 1)) {
		const struct seen_slot *e = &sn->slots[i];

		if (e->fp != fp || e->at < from)
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

	/* Drop the old entries, then shrink while a quarter full or less. */
	rebuild(sn, cap, rel_time(before));
	while (cap > SEEN_MIN && sn->n * 4 < cap)
		cap /= 2;
	if (cap != sn->cap)
		rebuild(sn, cap, 0);
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
	free(sn->slots);
	sn->cap = SEEN_MIN;
	sn->slots = xcalloc(sn->cap, sizeof(*sn->slots));
	sn->n = 0;
	return store_meta_since(st, since, on_row, sn, err);
}
