/* SPDX-License-Identifier: MIT */
/*
 * mem.h - allocation wrappers.
 *
 * Policy: small internal allocations never fail from the caller's point of
 * view: the wrappers abort the process on out-of-memory (there is no sane
 * recovery for a CLI or a server mid-request).  Sizes that come from input
 * are bounded by the caller *before* they reach these wrappers.
 */
#ifndef LETHE_MEM_H
#define LETHE_MEM_H

#include "util/fmacros.h"

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array of @size-byte items to at least @need items; updates *@cap. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh allocation the caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* LETHE_MEM_H */
