/* SPDX-License-Identifier: MIT */
/*
 * canon.h - canonical JSON and the signed envelopes of receipts and audit
 * heads (docs/proof.md "How to check a signature yourself").
 *
 * The canonical bytes of a JSON value are jansson's JSON_COMPACT |
 * JSON_SORT_KEYS serialization: no whitespace, object keys sorted, UTF-8
 * unescaped.  Signed values hold integers and strings only (never reals),
 * so the bytes equal Python's json.dumps(v, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False).  An envelope is
 * {"FIELD": VALUE, "signature": {"alg": "Ed25519", "key": ID, "value": B64}},
 * the signature over the canonical bytes of VALUE.  Thread-safe.
 *
 * FIELD is not in the signed bytes: what a signed value is comes from its
 * own mandatory members, which each verifier checks after canon_verify()
 * ("lethe_receipt": 1 for a receipt, receipt_verify(); "type":
 * "lethe-audit-head" for a head, audit/chain.c).  The other thing signed
 * with the same key, a notice's "T.BODY" (jobs/notify.c), starts with a
 * digit where canonical JSON of an object starts with '{'.
 */
#ifndef LETHE_AUDIT_CANON_H
#define LETHE_AUDIT_CANON_H

#include "util/fmacros.h"

#include <jansson.h>

#include "audit/keys.h"
#include "util/rc.h"

/* The canonical bytes of @v (caller frees); NULL if @v holds a real. */
char *canon_dump(const json_t *v);
/*
 * The envelope {"@field": @v, "signature": {...}} signed by @kr's current
 * key; @v's reference is stolen.  NULL with @err set if @kr cannot sign or
 * @v holds a real.
 */
json_t *canon_sign(const struct keys_ring *kr, const char *field, json_t *v, struct lethe_err *err);
/*
 * Verify envelope @doc against @kr: *@v (borrowed from @doc) gets its
 * @field, *@key_id (may be NULL) the signing key's id.  LETHE_E_USAGE if
 * @doc is not such an envelope, LETHE_E_NOTFOUND if the key is not in @kr,
 * LETHE_E_FORBIDDEN if the signature does not verify; @err says which.
 */
lethe_rc canon_verify(const struct keys_ring *kr, const json_t *doc, const char *field,
                      const json_t **v, const char **key_id, struct lethe_err *err);

#endif /* LETHE_AUDIT_CANON_H */
