/* SPDX-License-Identifier: MIT */
/*
 * store_mailin.h - the state store's incoming mails (mailin.c): one row
 * per mail delivered to the privacy mailbox (docs/mail-intake.md,
 * docs/internals/mail-intake.md), schema v15's mail_in.
 *
 * Part of store.h, which includes it at its end.  A row holds no personal
 * data in the clear: its raw message and its reply's headers are sealed
 * boxes (made and opened by the service), wiped once nothing needs them.
 * Like the rest of the store, for one thread at a time (the service's
 * st_mu).
 */
#ifndef LETHE_STORE_MAILIN_H
#define LETHE_STORE_MAILIN_H

#include "store/store.h"

/* One incoming mail as the store has it (no personal data). */
struct store_mailin {
	int64_t id;          /* row id */
	char via[16];        /* lmtp, maildir */
	int64_t received_at; /* epoch s */
	int64_t bytes;       /* raw size */
	char outcome[16];    /* request, review, status, unmatched, robot, refused */
	char rule[64];       /* the rule that matched, "" if none */
	char reason[160];    /* why (refused, unmatched, robot), "" */
	int64_t request_id;  /* the request made or resolved to, 0 if none */
	char code[64];       /* that request's confirmation code, "" if none */
	bool replied;        /* a reply was queued */
	char state[8];       /* open, closed */
	bool raw_kept;       /* its raw message is still kept (sealed) */
	int64_t closed_at;   /* epoch s, 0 if open */
	char closed_by[80];  /* an actor, "request" (its request finished) or "keep", "" */
};

/* A new row (strings and boxes borrowed). */
struct store_mailin_new {
	const char *hash;         /* keyed hash of the raw bytes (HASH_TEXT_LEN) */
	const char *via;          /* lmtp, maildir */
	int64_t now;              /* received (epoch s) */
	int64_t bytes;            /* raw size */
	const char *outcome;      /* as struct store_mailin */
	const char *rule;         /* or NULL */
	const char *reason;       /* or NULL */
	int64_t request_id;       /* or 0 */
	bool replied;             /* a reply is queued with it */
	const char *state;        /* open, closed */
	const uint8_t *raw_box;   /* the sealed raw message, or NULL: not kept */
	size_t raw_len;           /* its length */
	const uint8_t *reply_box; /* the sealed reply headers, or NULL */
	size_t reply_len;         /* its length */
};

/*
 * Record @n; *@id gets its row id.  LETHE_E_CONFLICT if a row has its
 * hash already (a redelivery: the caller rolls back and reports a
 * duplicate).  In the caller's transaction.
 */
lethe_rc store_mailin_insert(struct store *st, const struct store_mailin_new *n, int64_t *id,
                             struct lethe_err *err);
/* The row whose hash is @hash into @out; LETHE_E_NOTFOUND if none. */
lethe_rc store_mailin_by_hash(struct store *st, const char *hash, struct store_mailin *out,
                              struct lethe_err *err);
/*
 * Row @id into @out and, for each of @raw and @reply that is not NULL, its
 * sealed box (caller frees; NULL and length 0 when wiped).
 * LETHE_E_NOTFOUND if no row has @id.
 */
lethe_rc store_mailin_get(struct store *st, int64_t id, struct store_mailin *out, uint8_t **raw,
                          size_t *raw_len, uint8_t **reply, size_t *reply_len,
                          struct lethe_err *err);

/* Which rows store_mailin_list() gives. */
struct store_mailin_filter {
	const char *state;   /* "open", "closed" or NULL (all) */
	const char *outcome; /* one outcome or NULL (all) */
	int64_t before_id;   /* keyset cursor: rows with a smaller id only; 0: from the newest */
	int64_t limit;       /* rows at most (>= 1) */
};
/* Called with each row store_mailin_list() reads. */
typedef void (*store_mailin_fn)(void *arg, const struct store_mailin *m);
/* The rows @f selects, newest (highest id) first, each to @fn. */
lethe_rc store_mailin_list(struct store *st, const struct store_mailin_filter *f,
                           store_mailin_fn fn, void *arg, struct lethe_err *err);
/*
 * Close open row @id at @now by @by (an actor, "keep"), with @reason (NULL:
 * the row's reason stays): state closed, raw_box and reply_box wiped.
 * *@applied false if the row is not open (or not there).  In the caller's
 * transaction or its own.
 */
lethe_rc store_mailin_close(struct store *st, int64_t id, int64_t now, const char *by,
                            const char *reason, bool *applied, struct lethe_err *err);
/*
 * If request @request_id is in a final state: its open rows closed at @now
 * by "request", the boxes of all its rows wiped; else nothing.  Called
 * after each change of a request's state (store_request_transition(),
 * store_request_expire(), store_meta_update()) in its transaction.
 */
lethe_rc store_mailin_request_finished(struct store *st, int64_t request_id, int64_t now,
                                       struct lethe_err *err);
/*
 * mailbox.keep (@keep_s) at @now: open unmatched rows received before
 * @now - @keep_s closed by "keep" (boxes wiped, reason "kept mailbox.keep"),
 * closed rows closed before then deleted.  The rows changed into *@n.
 */
lethe_rc store_mailin_prune(struct store *st, int64_t now, int64_t keep_s, int64_t *n,
                            struct lethe_err *err);

#endif /* LETHE_STORE_MAILIN_H */
