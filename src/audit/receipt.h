/* SPDX-License-Identifier: MIT */
/*
 * receipt.h - a finished request's receipt: canonical JSON of what was
 * done, signed with Ed25519 (docs/proof.md).
 *
 * A receipt is made on demand from facts the state store keeps (the
 * service gathers them into struct receipt_facts); Ed25519 signatures are
 * deterministic, so the same facts under the same key give the same bytes.
 * It holds no personal data: request id, kind, scope, times, counts,
 * reasons from the configuration, the scan's result, an audit chain entry.
 */
#ifndef LETHE_AUDIT_RECEIPT_H
#define LETHE_AUDIT_RECEIPT_H

#include "util/fmacros.h"

#include <jansson.h>

#include "audit/keys.h"
#include "util/rc.h"

/* One step of the request's erasure as the receipt counts it. */
struct receipt_table {
	const char *table;    /* table name */
	const char *part;     /* the step's name (dm_part_name) */
	const char *category; /* the table's category */
	const char *action;   /* delete, anonymize, retain */
	int64_t rows;         /* rows acted on */
	int64_t media;        /* media files removed */
	const char *reason;   /* retain: the data map's reason, else NULL */
	int64_t until;        /* retain: latest end of the hold (epoch s), 0 if none */
};

/* Everything a receipt states (strings borrowed). */
struct receipt_facts {
	const char *issuer;           /* server.public_url */
	int64_t id;                   /* request id */
	const char *kind;             /* erasure, ... */
	const char *scope;            /* the data map scope */
	const char *source;           /* meta, app, person, operator, restore, ... */
	const char *state;            /* completed, completed_with_retention, refused, cancelled */
	int64_t received_at;          /* epoch s */
	int64_t completed_at;         /* epoch s */
	int64_t due_at;               /* epoch s, 0 if none */
	const char *reason;           /* refused/cancelled: what the receipt says why, or NULL */
	struct receipt_table *tables; /* the job's steps, or none */
	size_t ntables;               /* number of them */
	bool no_data;                 /* nothing of the person was found */
	bool has_scan;                /* a residual scan ran */
	const char *scan_result;      /* clean, residual */
	int64_t scan_rows;            /* rows found */
	int64_t scan_tables;          /* tables checked */
	const char *scan_wal;         /* truncated, busy, not_wal, not_needed */
	int scan_secure_delete;       /* 1 on, 0 off, -1 not applicable */
	bool scan_media;              /* the scan asked media stores (objects were removed) */
	int64_t scan_media_checked;   /* objects the erasure removed, asked about again */
	int64_t scan_media_present;   /* of them, there again */
	int64_t audit_seq;            /* the chain entry of the final transition, 0 if none */
	const char *audit_hash;       /* its hash in hex, or NULL */
};

/*
 * The fixed sentence a receipt gives as the reason of a request that ended
 * in @state (refused, cancelled, lifted), or NULL for other states.  Never the
 * text a person typed: that stays in the state store, its keyed hash in
 * the audit chain.
 */
const char *receipt_reason(const char *state);
/* The receipt's value (not yet signed); NULL only on a bug. */
json_t *receipt_json(const struct receipt_facts *f);
/* The signed receipt envelope of @f; NULL with @err if @kr cannot sign. */
json_t *receipt_sign(const struct keys_ring *kr, const struct receipt_facts *f,
                     struct lethe_err *err);
/*
 * Verify receipt file text @text against @kr: LETHE_OK, or the error of
 * canon_verify() / LETHE_E_USAGE (not a receipt).  *@receipt (may be NULL)
 * gets the receipt value (a new reference), *@key_id the key's id.
 */
lethe_rc receipt_verify(const struct keys_ring *kr, const char *text, json_t **receipt,
                        char key_id[KEYS_ID_LEN + 1], struct lethe_err *err);

#endif /* LETHE_AUDIT_RECEIPT_H */
