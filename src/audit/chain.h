/* SPDX-License-Identifier: MIT */
/*
 * chain.h - checking and signing the audit chain (docs/internals/proof.md).
 *
 * The chain itself lives in the state store (store.h, "audit chain"):
 * entries appended in the transaction of the change they record, each
 * hash = BLAKE2b-256(previous hash || body).  This module verifies it end
 * to end against its signed checkpoints and signs new checkpoints of its
 * head.  Functions take the caller's store connection; not thread-safe per
 * connection.
 */
#ifndef LETHE_AUDIT_CHAIN_H
#define LETHE_AUDIT_CHAIN_H

#include "util/fmacros.h"

#include <jansson.h>

#include "audit/keys.h"
#include "store/store.h"
#include "util/rc.h"

#define CHAIN_BREAKS_MAX 100 /* breaks a report lists at most */

/* One place where the chain is broken. */
struct chain_break {
	int64_t seq;    /* the entry (or checkpointed entry) concerned */
	char what[240]; /* what is wrong, one line, no personal data */
};

/* What audit_verify() found. */
struct chain_report {
	int64_t entries;            /* entries read */
	int64_t first, last;        /* first and last seq read (0 if none) */
	int64_t checkpoints;        /* checkpoints checked */
	int64_t last_checkpoint;    /* seq of the latest checkpoint, 0 if none */
	struct chain_break *breaks; /* up to CHAIN_BREAKS_MAX breaks, in seq order */
	size_t nbreaks;             /* number listed */
	int64_t more_breaks;        /* breaks found beyond those listed */
	/* Warnings (entries no checkpoint covered in time): not breaks, the chain may be whole. */
	struct chain_break *warnings; /* up to CHAIN_BREAKS_MAX, in seq order */
	size_t nwarnings;             /* number listed */
	int64_t more_warnings;        /* found beyond those listed */
	double elapsed_ms;            /* time taken */
};

/*
 * Verify the whole chain of @st: every hash recomputed, seq continuity,
 * each entry's columns (seq, at, request_id, type, state) against its body,
 * each checkpoint's signature (against @kr) and hash, and that the chain
 * reaches the latest checkpoint.  @head, if not NULL, is a signed head
 * envelope published earlier, checked the same way.  With @interval > 0
 * (proof.checkpoint_interval, s), entries older than 2 x @interval before
 * the latest checkpoint that no checkpoint covered within 2 x @interval
 * are warnings.  LETHE_OK when it ran (whole or broken: see
 * @rep->nbreaks); an error only if it could not read.  Free @rep with
 * chain_report_free().
 */
lethe_rc chain_verify(struct store *st, const struct keys_ring *kr, const json_t *head,
                      int64_t interval, struct chain_report *rep, struct lethe_err *err);
void chain_report_free(struct chain_report *rep);
/*
 * @rep as JSON: {"ok" (no break; warnings do not count), "entries",
 * "checkpoints", "breaks":[{"seq","what"}], "warnings":[{"seq","what"}], ...}.
 */
json_t *chain_report_json(const struct chain_report *rep);
/*
 * Sign the chain's head now if it moved since the latest checkpoint (or
 * always, if @force) and store the checkpoint; *@seq (may be NULL) gets
 * the checkpointed seq, 0 if none was made.  The entries since the latest
 * checkpoint are verified first (that checkpoint's signature, then each
 * link from its hash to the head, and each entry's columns): if they do not
 * chain, nothing is signed and LETHE_E_CONFLICT names the first break.
 */
lethe_rc chain_checkpoint(struct store *st, const struct keys_ring *kr, int64_t now, bool force,
                          int64_t *seq, struct lethe_err *err);
/* The latest signed head as an envelope (field "head"); LETHE_E_NOTFOUND if none. */
lethe_rc chain_head_json(struct store *st, json_t **out, struct lethe_err *err);

#endif /* LETHE_AUDIT_CHAIN_H */
