/* SPDX-License-Identifier: MIT */
/*
 * receipt.h (engine) - the signed receipt of a finished request, made from
 * what the state store records of it (docs/proof.md "Receipts").
 *
 * The facts: the request row (id, kind, scope, source, state, times), the
 * steps of its latest erase job (rows and media per step; categories and
 * retain reasons from the data map; hold ends), its residual scan and the
 * audit chain entry of its final transition.  audit/receipt.h turns them
 * into canonical JSON and signs it.  The caller serializes use of @st (one
 * thread at a time, e.g. the service's store lock); the data map and key
 * ring are read-only.
 */
#ifndef LETHE_ENGINE_RECEIPT_H
#define LETHE_ENGINE_RECEIPT_H

#include "util/fmacros.h"

#include <jansson.h>

#include "audit/keys.h"
#include "datamap/datamap.h"
#include "store/store.h"
#include "util/rc.h"

/*
 * True if a request in @state has a receipt: completed(_with_retention),
 * refused, cancelled, lifted (a restriction).
 */
bool receipt_state_finished(const char *state);

/*
 * The signed receipt envelope ({"receipt": {...}, "signature": {...}}) of
 * request @request_id into *@envelope (caller decrefs), @issuer (the
 * server's public URL) named in it, signed with @kr's current key.  Its
 * scope is the request's own (a Meta request has none recorded: "" —
 * use receipt_for_request_scope() with its app's scope).
 * LETHE_E_NOTFOUND: no such request; LETHE_E_CONFLICT: it is not finished;
 * LETHE_E_CONFIG: @kr cannot sign; LETHE_E_STATE: the store failed.
 */
lethe_rc receipt_for_request(const struct datamap *dm, struct store *st, const struct keys_ring *kr,
                             const char *issuer, int64_t request_id, json_t **envelope,
                             struct lethe_err *err);
/*
 * As receipt_for_request(), with @scope (NULL: the request's own) naming
 * the data map scope its steps ran in: a Meta request's is its app's.
 */
lethe_rc receipt_for_request_scope(const struct datamap *dm, struct store *st,
                                   const struct keys_ring *kr, const char *issuer,
                                   int64_t request_id, const char *scope, json_t **envelope,
                                   struct lethe_err *err);

#endif /* LETHE_ENGINE_RECEIPT_H */
