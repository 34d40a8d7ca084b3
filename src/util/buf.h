/* SPDX-License-Identifier: MIT */
/*
 * buf.h - a growable byte buffer with a hard cap (after curl's dynbuf).
 *
 * A buf always holds a NUL-terminated string.  Appending past the cap fails
 * with LETHE_E_TOOBIG and leaves the buffer as it was: input a client
 * controls can never grow one without bound.  Not thread-safe; one owner.
 */
#ifndef LETHE_BUF_H
#define LETHE_BUF_H

#include "util/fmacros.h"
#include "util/rc.h"

struct buf {
	char *data;   /* NUL-terminated contents, or NULL while empty */
	size_t len;   /* bytes used, excluding the NUL */
	size_t alloc; /* bytes allocated */
	size_t cap;   /* hard limit on len */
};

/* Prepare @b (caller-owned storage) with a hard cap of @cap bytes. */
void buf_init(struct buf *b, size_t cap);
/* Release the contents; @b may be re-initialised. */
void buf_free(struct buf *b);
/* Empty @b, keeping its allocation. */
void buf_reset(struct buf *b);
lethe_rc buf_add(struct buf *b, const void *p, size_t n);
lethe_rc buf_adds(struct buf *b, const char *s);
lethe_rc buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents as a string ("" when empty); valid until the next change. */
const char *buf_str(const struct buf *b);

#endif /* LETHE_BUF_H */
