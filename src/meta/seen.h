/* SPDX-License-Identifier: MIT */
/*
 * seen.h - the Meta requests of the repeat window, in memory: how a repeat
 * finds the request (and code) it repeats without an index on the subject.
 *
 * An index on a keyed hash puts every insert on a random page: in the state
 * store that was about 6 KB of WAL per request under load.  This map keeps,
 * per request, 32 bits of a fingerprint of its subject and its id in a
 * 4-byte slot of a segment (segments of 2^18 slots, at most 3/4 full: about
 * 5.3 bytes a request, grown a segment at a time; see seen.c); a
 * fingerprint match is only a candidate, confirmed against the store
 * (store_meta_match, which also gives the receipt time to check against the
 * window), so a collision costs one lookup, never a wrong answer.  It is a
 * cache of the store: seen_load() rebuilds it from the requests received
 * since a time.  Not thread-safe: the intake guards it with a mutex.
 */
#ifndef LETHE_META_SEEN_H
#define LETHE_META_SEEN_H

#include "store/store.h"
#include "util/fmacros.h"

struct seen;

/* The 32-bit fingerprint the map keeps of @subject (FNV-1a of a keyed hash). */
uint32_t seen_fingerprint(const char *subject);
/* An empty map.  Free with seen_free(). */
struct seen *seen_new(void);
void seen_free(struct seen *sn);
/* Replace the content with every request of @st received at or after @since. */
lethe_rc seen_load(struct seen *sn, struct store *st, int64_t since, struct lethe_err *err);
/* Remember request @id (ids grow) of keyed hash @subject. */
void seen_add(struct seen *sn, const char *subject, int64_t id);
/*
 * Candidates for @subject: up to @max ids into @ids, newest first; returns
 * how many.  Confirm each with store_meta_match() and its receipt time.
 */
size_t seen_find(const struct seen *sn, const char *subject, int64_t *ids, size_t max);
/*
 * The newest request of (@app, @subject) received at or after @since, found
 * through the map and confirmed in @st; LETHE_E_NOTFOUND if none.
 */
lethe_rc seen_lookup(const struct seen *sn, struct store *st, const char *app, const char *subject,
                     int64_t since, struct store_request *out, struct lethe_err *err);
/* Forget requests with ids below @first_id (store_meta_first_since() gives it). */
void seen_expire(struct seen *sn, int64_t first_id);
/* Requests remembered (for tests and logs). */
size_t seen_count(const struct seen *sn);

#endif /* LETHE_META_SEEN_H */
