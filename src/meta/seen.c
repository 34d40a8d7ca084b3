/* SPDX-License-Identifier: MIT */
/*
 * seen.c - the repeat window's requests in memory (see seen.h).
 *
 * A list of segments, each an open-addressing table (linear probing) of
 * SEG_SLOTS 4-byte slots over a range of ids: the low SEG_BITS bits of a
 * slot are the id's offset from the segment's base (0 = free slot), the
 * high bits the top of the subject's 32-bit fingerprint, whose low SEG_BITS
 * bits pick the home slot.  New ids go to the newest segment until it is
 * SEG_FILL full or the offset would not fit; then a new segment starts.  So
 * the map grows a segment (1 MiB) at a time instead of doubling (which
 * briefly needed three times the table), holds a request in about 5.3
 * bytes, and a lookup probes each segment once (a few segments for a
 * million requests).  Expiry drops the segments below the window and turns
 * the expired entries of the one that straddles it into tombstones (probes
 * go on past them; they count towards SEG_FILL, so a segment never fills up
 * with them); that segment is freed once none of its entries is left.
 */
#include "util/fmacros.h"

#include "meta/seen.h"
#include "util/mem.h"

#define SEG_BITS 18                  /* offset bits of a slot */
#define SEG_SLOTS (1u << SEG_BITS)   /* slots per segment */
#define SEG_FILL (SEG_SLOTS / 4 * 3) /* entries per segment at most */
#define SEG_OFF_MAX (SEG_SLOTS - 1)  /* mask of the offset bits */
#define SEG_TOMB SEG_OFF_MAX         /* offset of an expired slot (ids use 1 .. SEG_TOMB - 1) */
#define SEEN_CANDIDATES 8            /* fingerprint matches checked per lookup */

struct seg {
	int64_t base;    /* ids are base + offset */
	int64_t min_id;  /* smallest id in it */
	int64_t max_id;  /* largest id in it */
	size_t n;        /* live entries */
	size_t used;     /* occupied slots: live entries and tombstones */
	uint32_t *slots; /* SEG_SLOTS of them */
};

struct seen {
	struct seg *segs; /* oldest first; the last takes new ids */
	size_t nseg;      /* segments */
	size_t cap;       /* allocated segments */
	size_t n;         /* requests in all */
};

/* FNV-1a of the subject folded to 32 bits (a keyed hash: already uniform). */
uint32_t
seen_fingerprint(const char *subject)
{
	uint64_t v = 1469598103934665603u;

	for (; *subject != '\0'; subject++)
		v = (v ^ (unsigned char)*subject) * 1099511628211u;
	return (uint32_t)(v ^ (v >> 32));
}

static void
seg_put(struct seg *g, uint32_t fp, int64_t id)
{
	uint32_t i = fp & SEG_OFF_MAX;

	while (g->slots[i] != 0)
		i = (i + 1) & SEG_OFF_MAX;
	g->slots[i] = (fp & ~(uint32_t)SEG_OFF_MAX) | (uint32_t)(id - g->base);
	if (g->n == 0 || id < g->min_id)
		g->min_id = id;
	if (g->n == 0 || id > g->max_id)
		g->max_id = id;
	g->n++;
	g->used++;
}

/* A new, empty segment at the end, for ids above @base. */
static struct seg *
seg_new(struct seen *sn, int64_t base)
{
	struct seg *g;

	if (sn->nseg == sn->cap) {
		sn->cap = sn->cap == 0 ? 8 : sn->cap * 2;
		sn->segs = xrealloc(sn->segs, sn->cap * sizeof(*sn->segs));
	}
	g = &sn->segs[sn->nseg++];
	memset(g, 0, sizeof(*g));
	g->base = base;
	g->slots = xcalloc(SEG_SLOTS, sizeof(*g->slots));
	return g;
}

static void
clear(struct seen *sn)
{
	for (size_t i = 0; i < sn->nseg; i++)
		free(sn->segs[i].slots);
	sn->nseg = 0;
	sn->n = 0;
}

struct seen *
seen_new(void)
{
	return xcalloc(1, sizeof(struct seen));
}

void
seen_free(struct seen *sn)
{
	if (sn == NULL)
		return;
	clear(sn);
	free(sn->segs);
	free(sn);
}

/* A segment that can take @id: the newest if it fits, else one whose range holds it. */
static struct seg *
seg_for(struct seen *sn, int64_t id)
{
	for (size_t k = sn->nseg; k > 0; k--) {
		struct seg *g = &sn->segs[k - 1];

		/* Tombstones count: probes run through them as through entries. */
		if (g->used < SEG_FILL && id > g->base && id - g->base < SEG_TOMB)
			return g;
		if (k == sn->nseg && id > g->max_id)
			break; /* the usual case: newer than everything, and the newest is full */
	}
	return seg_new(sn, id - 1);
}

void
seen_add(struct seen *sn, const char *subject, int64_t id)
{
	seg_put(seg_for(sn, id), seen_fingerprint(subject), id);
	sn->n++;
}

size_t
seen_find(const struct seen *sn, const char *subject, int64_t *ids, size_t max)
{
	uint32_t fp = seen_fingerprint(subject), top = fp & ~(uint32_t)SEG_OFF_MAX;
	size_t n = 0, j;

	for (size_t k = 0; k < sn->nseg; k++) {
		const struct seg *g = &sn->segs[k];

		for (uint32_t i = fp & SEG_OFF_MAX; g->slots[i] != 0; i = (i + 1) & SEG_OFF_MAX) {
			int64_t id = g->base + (g->slots[i] & SEG_OFF_MAX);

			if ((g->slots[i] & ~(uint32_t)SEG_OFF_MAX) != top ||
			    (g->slots[i] & SEG_OFF_MAX) == SEG_TOMB)
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
	}
	return n;
}

void
seen_expire(struct seen *sn, int64_t first_id)
{
	size_t k, kept = 0;

	for (k = 0; k < sn->nseg; k++) {
		struct seg *g = &sn->segs[k];

		if (g->n > 0 && g->min_id < first_id && g->max_id >= first_id) {
			/* Straddles the window: the old ids become tombstones (probes go on past
			 * them). */
			for (uint32_t i = 0; i < SEG_SLOTS; i++) {
				uint32_t off = g->slots[i] & SEG_OFF_MAX;

				if (g->slots[i] != 0 && off != SEG_TOMB &&
				    g->base + off < first_id) {
					g->slots[i] =
					    (g->slots[i] & ~(uint32_t)SEG_OFF_MAX) | SEG_TOMB;
					g->n--;
					sn->n--;
				}
			}
			g->min_id = first_id;
		} else if (g->n > 0 && g->max_id < first_id) {
			sn->n -= g->n;
			g->n = 0;
		}
		if (g->n == 0) { /* nothing of the window left in it */
			free(g->slots);
			continue;
		}
		sn->segs[kept++] = *g;
	}
	sn->nseg = kept;
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
	clear(sn);
	return store_meta_since(st, since, on_row, sn, err);
}

lethe_rc
seen_lookup(const struct seen *sn, struct store *st, const char *app, const char *subject,
            int64_t since, struct store_request *out, struct lethe_err *err)
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
