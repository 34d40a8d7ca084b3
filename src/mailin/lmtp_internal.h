/* SPDX-License-Identifier: MIT */
/*
 * lmtp_internal.h - what the LMTP listener's two files share, private to
 * src/mailin/ (lmtp.c: the sessions, the listeners, start and stop;
 * lmtp_conn.c: a session's connection I/O and its DATA body).  A session
 * reads through a fixed buffer (struct lmtp_conn), command lines at most
 * MAILIN_LINE_MAX bytes; every wait, to read or to write, is a poll() of at
 * most LMTP_POLL_MS that gives up at stop or at the first deadline of
 * struct lmtp_limits.  The DATA body (struct lmtp_body) is kept up to its
 * max bytes, grown in LMTP_BODY_STEP steps each first taken from the
 * listener's budget of held bytes, the rest only counted.
 *
 * Thread safety: a struct lmtp_conn and a struct lmtp_body belong to one
 * session thread.  What they share with other threads is read or updated
 * atomically only: the listener's stop flag (read) and its count of held
 * body bytes (compare-and-swap to take, fetch-sub to give back).
 */
#ifndef LETHE_LMTP_INTERNAL_H
#define LETHE_LMTP_INTERNAL_H

#include "util/fmacros.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMTP_RBUF 8192       /* a session's read buffer */
#define LMTP_POLL_MS 500     /* ms between looks at the stop flag while waiting */
#define LMTP_BODY_STEP 65536 /* a DATA body grows by this much */

/* How long a session may wait (ms): MAILIN_*_MS, or LETHE_TEST_LMTP_MS in tests. */
struct lmtp_limits {
	double idle;    /* without a byte from the client */
	double send;    /* for the client to take a reply */
	double data;    /* from 354 to the end of the body */
	double session; /* from the greeting to the end */
};

/* A session's connection and bounded read buffer. */
struct lmtp_conn {
	int fd;                        /* the session's socket (not owned) */
	const atomic_bool *stop;       /* the listener's stop flag */
	const struct lmtp_limits *lim; /* the session timeouts */
	double end;                    /* time_mono_ms() when the session must end */
	double data_end;               /* when the DATA body must have ended, 0 outside DATA */
	char buf[LMTP_RBUF];           /* bytes read, not yet taken */
	size_t off, len;               /* the next byte of buf, and its fill */
	bool dead;                     /* EOF, error, timeout or stop */
	bool timedout;                 /* dead by a timeout (told "421 4.4.2" if it still can) */
};

/* The message being received: kept up to cap bytes, the rest only counted. */
struct lmtp_body {
	char *p;                       /* the bytes kept (personal data), or NULL */
	size_t len, cap, max;          /* max: bytes kept at most (max_size + 1) */
	uint64_t total;                /* bytes seen */
	atomic_int_fast64_t *inflight; /* the listener's count of held bytes (cap is in it) */
	int64_t budget;                /* what inflight may reach */
	bool over;                     /* the budget was spent: the rest only counted */
};

/*
 * One command line of @c without its CRLF or LF into @line (at least
 * MAILIN_LINE_MAX bytes; NUL-terminated), its length in *@n: 1, or 0 when
 * the connection is gone (EOF, error, stop, a timeout: c->dead set), or -1
 * for a line too long (read to its end and dropped).  Blocks in poll()
 * steps of at most LMTP_POLL_MS.  Call from the session's thread only.
 */
int lmtp_conn_line(struct lmtp_conn *c, char *line, size_t *n);

/*
 * Write all of @s to @c: true, or false (c->dead set) when the peer is
 * gone, on stop, or when it does not take the bytes within the send
 * timeout or the session's deadlines (a client that never reads cannot
 * hold the session in send()).  Call from the session's thread only.
 */
bool lmtp_conn_write(struct lmtp_conn *c, const char *s);

/*
 * Read a DATA body from @c into @b (zeroed but for max, inflight and
 * budget) to the line "." with dot-unstuffing (a leading dot of a line
 * dropped), CRLF and bare LF line ends kept as sent; kept up to b->max
 * bytes and as far as the budget allows (b->over set when it did not),
 * every byte counted in b->total.  false when the connection went away
 * before the end (nothing is to be delivered).  Either way the caller
 * frees @b with lmtp_body_free().  Call from the session's thread only.
 */
bool lmtp_body_read(struct lmtp_conn *c, struct lmtp_body *b);

/*
 * Wipe and free the message of @b (personal data) and give its bytes back
 * to the listener's budget; @b is left empty.  Safe on a body never grown.
 */
void lmtp_body_free(struct lmtp_body *b);

#endif
