/* SPDX-License-Identifier: MIT */
/*
 * mailin.h - the front ends of the privacy mailbox: an LMTP listener
 * (RFC 2033; lmtp.c) inside `lethe serve`, and a Maildir reader (maildir.c)
 * for `lethe serve` and `lethe mail-intake`.  Both hand every message to
 * ONE service call, service_mailin_deliver(), and acknowledge it (LMTP
 * 250, the Maildir file unlinked) only once that call says it is durable;
 * a temporary failure leaves the message with its sender (LMTP 451, the
 * file stays) for the next try.  docs/internals/mail-intake.md, "Front
 * ends: LMTP and Maildir".
 *
 * Nothing here parses a mail or logs a word of one: log lines carry sizes,
 * outcomes and row numbers, never an address or a header.
 */
#ifndef LETHE_MAILIN_H
#define LETHE_MAILIN_H

#include "util/fmacros.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mail/mailbox.h"
#include "service/service.h"
#include "util/rc.h"

#define MAILIN_IDLE_MS (300 * 1000)     /* an LMTP session silent this long is closed */
#define MAILIN_SEND_MS (300 * 1000)     /* a reply the client does not take this long: closed */
#define MAILIN_DATA_MS (600 * 1000)     /* a DATA body must end this long after 354 (RFC 5321) */
#define MAILIN_SESSION_MS (1800 * 1000) /* an LMTP session lasts at most this long */
#define MAILIN_LINE_MAX 1000            /* bytes of an LMTP command line with its CRLF */
#define MAILIN_RCPT_MAX 100             /* recipients of one LMTP transaction */
#define MAILIN_PRUNE_S 3600             /* service_mailbox_prune() this often in serve */
#define MAILIN_INFLIGHT_MAILS 4         /* LMTP bodies held at once, x (max_size + 1) */

/* The outcomes a delivery can have (service_mailin_result.outcome), in this order. */
enum {
	MAILIN_O_REQUEST,
	MAILIN_O_REVIEW,
	MAILIN_O_STATUS,
	MAILIN_O_UNMATCHED,
	MAILIN_O_ROBOT,
	MAILIN_O_REFUSED,
	MAILIN_O_DUPLICATE,
	MAILIN_NOUTCOMES,
};

/* What a Maildir pass did (counts only, no personal data). */
struct mailin_counts {
	int64_t delivered;  /* recorded (LETHE_OK, neither refused nor a duplicate): unlinked */
	int64_t duplicates; /* already recorded before (a redelivery): unlinked */
	int64_t refused;    /* recorded as refused (too large, unreadable): unlinked */
	int64_t failed;     /* failed temporarily: the file stays for the next pass */
	int64_t outcome[MAILIN_NOUTCOMES]; /* per outcome name (mailin_outcome_name()) */
};

/* The name of outcome @i (MAILIN_O_*): "request", ..., "duplicate". */
const char *mailin_outcome_name(int i);

/*
 * Check that @dir is a Maildir (a directory with new/ and cur/) and take
 * the exclusive flock on @dir/.lethe-intake.lock (created 0600) that keeps
 * two readers apart; the open lock descriptor into *@lockfd.  LETHE_E_IO
 * for a missing directory or one without new/ and cur/, LETHE_E_BUSY when
 * another process holds the lock.  Release with mailin_maildir_unlock().
 */
lethe_rc mailin_maildir_lock(const char *dir, int *lockfd, struct lethe_err *err);
/* Release the lock of mailin_maildir_lock() (-1 is a no-op). */
void mailin_maildir_unlock(int lockfd);
/*
 * One pass over the Maildir @dir (locked by the caller): the files of
 * new/ then of cur/ (names not starting with "."), each directory oldest
 * first (mtime, then name); a file modified less than 2 s ago, or whose
 * size or mtime changes while it is read, is left for a later pass (it
 * may still be written in place); each read (at most @max_size + 1 bytes),
 * handed to service_mailin_deliver(@svc, ..., NULL, "maildir", ...) and
 * unlinked once that returns LETHE_OK; a temporary failure leaves it and
 * the pass goes on; a file gone meanwhile is skipped.  Counts added to
 * @c.  Stops early when @stop (may be NULL) becomes true.  LETHE_E_IO only
 * when a directory cannot be listed.  Blocking; one thread per @dir.
 */
lethe_rc mailin_maildir_pass(struct service *svc, const char *dir, int64_t max_size,
                             const atomic_bool *stop, struct mailin_counts *c,
                             struct lethe_err *err);

/* An LMTP listener with its session threads. */
struct mailin_lmtp;

/*
 * Listen on @mb->lmtp ("HOST:PORT", "[V6]:PORT" or "unix:PATH": a stale
 * socket file is removed first, the new one made mode 0660) and serve LMTP
 * sessions, at most @mb->lmtp_connections at once (one thread each; the
 * next is answered "421 4.3.2" and closed), each message delivered through
 * @svc (borrowed: it outlives the listener); a session is closed ("421
 * 4.4.2") at the first of MAILIN_IDLE_MS, MAILIN_SEND_MS, MAILIN_DATA_MS,
 * MAILIN_SESSION_MS (shortened by LETHE_TEST_LMTP_MS under a test clock
 * only).  The address actually bound
 * (the port when 0 was asked) is logged once: "LMTP on ADDR".  LETHE_E_IO
 * with the address and the reason when it cannot listen.
 */
lethe_rc mailin_lmtp_start(struct service *svc, const struct mailbox_config *mb,
                           struct mailin_lmtp **out, struct lethe_err *err);
/*
 * Stop: close the listener, shut the sessions' sockets down (a message in
 * DATA is not delivered: the MTA retries it), join every thread, remove a
 * Unix socket file, free @l.  NULL is a no-op.
 */
void mailin_lmtp_stop(struct mailin_lmtp *l);

/* The front ends `lethe serve` runs: LMTP, the Maildir, housekeeping. */
struct mailin;

/*
 * Start what @mb asks of `lethe serve` (nothing, *@out NULL, when the
 * section is absent): the LMTP listener (mailbox.lmtp), and one thread that
 * reads mailbox.maildir every mailbox.poll (its lock taken here: a second
 * reader is a start failure) and calls service_mailbox_prune() at start
 * and every MAILIN_PRUNE_S.  Call after service_start(); stop with
 * mailin_stop() before service_stop().
 */
lethe_rc mailin_start(struct service *svc, const struct mailbox_config *mb, struct mailin **out,
                      struct lethe_err *err);
/* Stop and free what mailin_start() started.  NULL is a no-op. */
void mailin_stop(struct mailin *m);

#endif /* LETHE_MAILIN_H */
