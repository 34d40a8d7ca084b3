/* SPDX-License-Identifier: MIT */
/*
 * lmtp_conn.c - the connection I/O and the DATA body of an LMTP session
 * (lmtp_internal.h; the sessions themselves are in lmtp.c): reading
 * command lines through a session's fixed read buffer, writing replies,
 * each wait a poll() of at most LMTP_POLL_MS bounded by the stop flag and
 * the session's deadlines, and reading a DATA body with dot-unstuffing
 * into a buffer grown in LMTP_BODY_STEP steps taken from the listener's
 * budget of held bytes (the rest only counted), wiped when freed.  No byte
 * read is logged.
 *
 * Thread safety: a connection and a body belong to one session thread;
 * the stop flag is read atomically and the listener's count of held bytes
 * is updated only by compare-and-swap (budget_take()) and fetch-sub
 * (lmtp_body_free()), so any number of sessions run at once.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "mailin/lmtp_internal.h"
#include "mailin/mailin.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- reading and writing -------------------------------------------------------- */

/*
 * The milliseconds left before @until and the session's deadlines, at most
 * LMTP_POLL_MS (the stop flag is looked at that often); <= 0 when one passed
 * (the connection is then marked dead by a timeout).
 */
static int
conn_left(struct lmtp_conn *c, double until)
{
	double now = time_mono_ms(), left = until - now;

	if (c->end - now < left)
		left = c->end - now;
	if (c->data_end > 0 && c->data_end - now < left)
		left = c->data_end - now;
	if (left <= 0) {
		c->dead = true;
		c->timedout = true;
		return 0;
	}
	return left < LMTP_POLL_MS ? (int)left + 1 : LMTP_POLL_MS;
}

/*
 * Fill the buffer (it is empty): false on EOF, error, stop, or a timeout
 * (idle, the DATA deadline, the session's deadline).
 */
static bool
conn_fill(struct lmtp_conn *c)
{
	double until = time_mono_ms() + c->lim->idle;

	if (c->dead)
		return false;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int r, left;
		ssize_t n;

		if (atomic_load(c->stop)) {
			c->dead = true;
			return false;
		}
		left = conn_left(c, until);
		if (left <= 0)
			return false;
		r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			c->dead = true;
			return false;
		}
		if (r == 0)
			continue;
		n = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			c->dead = true;
			return false;
		}
		c->off = 0;
		c->len = (size_t)n;
		return true;
	}
}

/* The next byte, or -1 when the connection is gone. */
static int
conn_byte(struct lmtp_conn *c)
{
	if (c->off == c->len && !conn_fill(c))
		return -1;
	return (unsigned char)c->buf[c->off++];
}

/*
 * One command line without its CRLF or LF into @line (NUL-terminated, at
 * most MAILIN_LINE_MAX bytes): 1, or 0 when the connection is gone, or -1
 * for a line too long (read to its end and dropped).
 */
int
lmtp_conn_line(struct lmtp_conn *c, char *line, size_t *n)
{
	size_t len = 0;
	bool toolong = false;

	for (;;) {
		int ch = conn_byte(c);

		if (ch < 0)
			return 0;
		if (ch == '\n')
			break;
		if (len + 1 < MAILIN_LINE_MAX)
			line[len++] = (char)ch;
		else
			toolong = true;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	*n = len;
	return toolong ? -1 : 1;
}

/*
 * Write all of @s; false when the peer is gone, on stop, or when it does
 * not take the bytes within the send timeout or the session's deadlines
 * (a client that never reads cannot hold the session in send()).
 */
bool
lmtp_conn_write(struct lmtp_conn *c, const char *s)
{
	size_t len = strlen(s), off = 0;
	double until = time_mono_ms() + c->lim->send;

	while (off < len) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		int r, left;
		ssize_t n;

		if (c->dead || atomic_load(c->stop)) {
			c->dead = true;
			return false;
		}
		left = conn_left(c, until);
		if (left <= 0)
			return false;
		r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			c->dead = true;
			return false;
		}
		if (r == 0)
			continue;
		n = send(c->fd, s + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			c->dead = true;
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

/* ---- the DATA body ----------------------------------------------------------- */

/*
 * Take @n bytes from the listener's budget of @b: false (nothing taken)
 * when that would pass it.
 */
static bool
budget_take(atomic_int_fast64_t *inflight, int64_t budget, int64_t n)
{
	int_fast64_t cur = atomic_load(inflight);

	do {
		if (cur + n > budget)
			return false;
	} while (!atomic_compare_exchange_weak(inflight, &cur, cur + n));
	return true;
}

/*
 * Grow @b by up to 64 KB (at most max): a new buffer, the old one wiped
 * before it is freed (a realloc would leave the message in freed heap).
 */
static void
body_grow(struct lmtp_body *b)
{
	size_t cap = b->len + LMTP_BODY_STEP < b->max ? b->len + LMTP_BODY_STEP : b->max;
	char *p;

	if (!budget_take(b->inflight, b->budget, (int64_t)(cap - b->cap))) {
		b->over = true;
		return;
	}
	p = xmalloc(cap);

	if (b->len > 0)
		memcpy(p, b->p, b->len);
	if (b->p != NULL) {
		sodium_memzero(b->p, b->len);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
}

static void
body_add(struct lmtp_body *b, char ch)
{
	b->total++;
	if (b->len >= b->max || b->over)
		return;
	if (b->len == b->cap)
		body_grow(b);
	if (b->over)
		return;
	b->p[b->len++] = ch;
}

/* Wipe and free the message of @b (personal data). */
void
lmtp_body_free(struct lmtp_body *b)
{
	if (b->p != NULL) {
		sodium_memzero(b->p, b->len);
		free(b->p);
	}
	atomic_fetch_sub(b->inflight, (int_fast64_t)b->cap);
	b->p = NULL;
	b->len = b->cap = 0;
}

/*
 * Read the DATA body to the line "." with dot-unstuffing (a leading dot
 * of a line dropped), CRLF and bare LF line ends kept as sent.  false when
 * the connection went away before the end (nothing is delivered).
 */
bool
lmtp_body_read(struct lmtp_conn *c, struct lmtp_body *b)
{
	enum { BOL, MID, DOT, DOTCR } st = BOL;

	for (;;) {
		int ch = conn_byte(c);

		if (ch < 0)
			return false;
		switch (st) {
		case BOL:
			if (ch == '.') {
				st = DOT;
				break;
			}
			body_add(b, (char)ch);
			st = ch == '\n' ? BOL : MID;
			break;
		case MID:
			body_add(b, (char)ch);
			if (ch == '\n')
				st = BOL;
			break;
		case DOT:
			if (ch == '\n')
				return true;
			if (ch == '\r') {
				st = DOTCR;
				break;
			}
			body_add(b, (char)ch);
			st = MID;
			break;
		case DOTCR:
			if (ch == '\n')
				return true;
			body_add(b, '\r');
			body_add(b, (char)ch);
			st = MID;
			break;
		}
	}
}
