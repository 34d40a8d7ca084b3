/* SPDX-License-Identifier: MIT */
/*
 * buf.c - capped growable buffer (see buf.h).
 */
#include "util/fmacros.h"

#include <stdarg.h>

#include "util/buf.h"
#include "util/mem.h"

void
buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

lethe_rc
buf_add(struct buf *b, const void *p, size_t n)
{
	size_t need;

	if (n > b->cap || b->len > b->cap - n)
		return LETHE_E_TOOBIG;
	need = b->len + n + 1;
	if (need > b->alloc) {
		size_t a = b->alloc ? b->alloc : 64;

		while (a < need)
			a *= 2;
		b->data = xrealloc(b->data, a);
		b->alloc = a;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return LETHE_OK;
}

lethe_rc
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

lethe_rc
buf_addf(struct buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;
	char *big;
	lethe_rc rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return LETHE_E_INTERNAL;
	if ((size_t)n < sizeof(small))
		return buf_add(b, small, (size_t)n);
	if ((size_t)n > b->cap)
		return LETHE_E_TOOBIG;
	big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = buf_add(b, big, (size_t)n);
	free(big);
	return rc;
}

const char *
buf_str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}
