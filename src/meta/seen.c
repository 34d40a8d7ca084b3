/* SPDX-License-Identifier: MIT */
/*
 * seen.c - the repeat window's requests in memory (see seen.h).
 *
 * Open addressing with linear probing over a power-of-two table of 8-byte
 * slots: a 32-bit fingerprint (which also picks the slot) and the request
 * id as an offset from a base (ids grow with time, so offsets stay small);
 * offset 0 is a free slot.  Removal (seen_expire) rebuilds the table, so
 * probing never meets tombstones.
 */
#include "util/fmacros.h"

#include "meta/seen.h"
#include "util/mem.h"

#define SEEN_MIN 1024     /* initial slots */
#define SEEN_CANDIDATES 8 /* fingerprint matches checked per lookup */

struct seen_slot {
	uint32_t fp;  /* fingerprint of the subject */
	uint32_t off; /* request id - base; 0 = free slot */
};

struct seen {
	struct seen_slot *slots; /* the table */
	size_t cap;              /* slots (a power of two) */
	size_t n;                /* used slots */
	int64_t base;            /* ids are base + off; -1 until the first add */
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

static void
put(struct seen *sn, uint32_t fp, uint32_t off)
{
	size_t i = fp & (sn->cap - 1);

	while (sn->slots[i].off != 0)
		i = (i + 1) & (sn->cap - 1);
	sn->slots[i].fp = fp;
	sn->slots[i].off = off;
	sn->n++;
}

/* Rebuild into @cap slots around @base, keeping ids at or above @keep_from. */
static void
rebuild(struct seen *sn, size_t cap, int64_t base, int64_t keep_from)
{
	struct seen_slot *old = sn->slots;
	size_t oldcap = sn->cap, i;
	int64_t oldbase = sn->base;

	sn->slots = xcalloc(cap, sizeof(*sn->slots));
	sn->cap = cap;
	sn->n = 0;
	sn->base = base;
	for (i = 0; i < oldcap; i++) {
		int64_t id = oldbase + old[i].off;

		if (old[i].off != 0 && id >= keep_from && id - base > 0 &&
		    id - base <= (int64_t)UINT32_MAX)
			put(sn, old[i].fp, (uint32_t)(id - base));
	}
	free(old);
}

struct seen *
seen_new(void)
{
	struct seen *sn = xcalloc(1, sizeof(*sn));

	sn->cap = SEEN_MIN;
	sn->slots = xcalloc(sn->cap, sizeof(*sn->slots));
	sn->base = -1;
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
seen_add(struct seen *sn, const char *subject, int64_t id)
{
	if (sn->base < 0)
		sn->base = id - 1;
	if (id - sn->base <= 0 || id - sn->base > (int64_t)UINT32_MAX)
		return; /* out of range of this base (4 billion requests later): see seen_expire */
	if ((sn->n + 1) * 10 > sn->cap * 8)
		rebuild(sn, sn->cap * 2, sn->base, 0);
	put(sn, fingerprint(subject), (uint32_t)(id - sn->base));
}

size_t
seen_find(const struct seen *sn, const char *subject, int64_t *ids, size_t max)
{
	uint32_t fp = fingerprint(subject);
	size_t i = fp & (sn->cap - 1), n = 0, j;

	for (; sn->slots[i].off != 0; i = (i + 1) & (sn->cap - 1)) {
		int64_t id = sn->base + sn->slots[i].off;

		if (sn->slots[i].fp != fp)
			continue;
		/* Keep the newest @max, newest first (insertion sort; n is tiny). */
		if (n < max)
			j = n++;
		else if (max == 0 || ids[max - 1] >= id)
			continue;
		else
			j = max - 1;
		for (; j > 0 && ids[j - 1] < id; j--)
			ids[j] = ids[j - 1];
		ids[j] = id;
	}
	return n;
}

void
seen_expire(struct seen *sn, int64_t first_id)
{
	size_t cap = sn->cap;
	int64_t base;

	if (first_id == INT64_MAX) { /* nothing left in the window: start over */
		free(sn->slots);
		sn->cap = SEEN_MIN;
		sn->slots = xcalloc(sn->cap, sizeof(*sn->slots));
		sn->n = 0;
		sn->base = -1;
		return;
	}
	base = sn->base < first_id - 1 ? first_id - 1 : sn->base;

	/* Drop what is below @first_id, move the base up, shrink while a quarter full. */
	rebuild(sn, cap, base, first_id);
	while (cap > SEEN_MIN && sn->n * 4 < cap)
		cap /= 2;
	if (cap != sn->cap)
		rebuild(sn, cap, sn->base, 0);
}

size_t
seen_count(const struct seen *sn)
{
	return sn->n;
}

static void
on_row(void *arg, int64_t id, const char *subject, int64_t received_at)
{
	(void)received_at;
	seen_add(arg, subject, id);
}

lethe_rc
seen_load(struct seen *sn, struct store *st, int64_t since, struct lethe_err *err)
{
	free(sn->slots);
	sn->cap = SEEN_MIN;
	sn->slots = xcalloc(sn->cap, sizeof(*sn->slots));
	sn->n = 0;
	sn->base = -1;
	return store_meta_since(st, since, on_row, sn, err);
}

lethe_rc
seen_lookup(const struct seen *sn, struct store *st, const char *app, const char *subject,
            int64_t since, struct store_meta_req *out, struct lethe_err *err)
{
	int64_t ids[SEEN_CANDIDATES];
	size_t n = seen_find(sn, subject, ids, SEEN_CANDIDATES), i;

	for (i = 0; i < n; i++) {
		lethe_rc rc = store_meta_match(st, ids[i], app, subject, out, err);

		if (rc == LETHE_OK && out->received_at < since)
			break; /* newest first: the others are older still */
		if (rc != LETHE_E_NOTFOUND)
			return rc;
	}
	return LETHE_E_NOTFOUND;
}
