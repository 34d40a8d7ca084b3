/* SPDX-License-Identifier: MIT */
/*
 * request.h - the privacy request's state machine and what a request is
 * made of (docs/requests.md): which action is allowed in which state and
 * where it leads under a policy, and the person's identities as the state
 * store keeps them (a keyed hash naming the person, and the identities
 * sealed until the request is finished).  Pure functions, thread-safe.
 *
 *   received -> (awaiting_verification) -> (awaiting_review) -> scheduled
 *   -> running -> completed | completed_with_retention | failed;
 *   refused, cancelled (before running; an export also after), expired
 *   (never verified), lifted (a restriction whose effects were undone).
 */
#ifndef LETHE_ENGINE_REQUEST_H
#define LETHE_ENGINE_REQUEST_H

#include "config/policy.h"
#include "engine/plan.h"
#include "util/fmacros.h"
#include "util/hash.h"
#include "util/rc.h"

#define REQUEST_ID_VALUE_MAX 256 /* bytes of one identity's value */
#define REQUEST_IDS_MAX 8        /* identities of one request */

/* What can be done to a request (service.h maps its actions onto these). */
enum request_act {
	REQUEST_VERIFY,  /* the identity was verified */
	REQUEST_APPROVE, /* an operator approved */
	REQUEST_REFUSE,  /* refused, with a reason */
	REQUEST_CANCEL,  /* cancelled before it ran */
	REQUEST_RETRY,   /* a failed request runs again */
	REQUEST_EXTEND,  /* a later deadline */
	REQUEST_LIFT,    /* a restriction in force is lifted: its effects are undone */
};

struct lethe_config;

/*
 * The policy a recorded request follows: the configured policy named
 * @name if there still is one, else policy_for(@kind, @scope, @source)
 * (the configuration changed since).  Never NULL.
 */
const struct request_policy *request_policy_of(const struct lethe_config *cfg, const char *name,
                                               const char *kind, const char *scope,
                                               const char *source);
#define REQUEST_NSTATES 12 /* states of the machine */

/* True if @s names a state of the machine. */
bool request_state_ok(const char *s);
/* The name of state @i (0 .. REQUEST_NSTATES - 1, in the machine's order), NULL past them. */
const char *request_state_at(size_t i);
/* True if a request in state @s is finished (nothing more happens to it). */
bool request_state_final(const char *s);
/*
 * The state a new request of policy @p enters: awaiting_verification
 * (the policy verifies and @verified is false), else request_accepted().
 */
const char *request_initial(const struct request_policy *p, bool verified);
/* The state after verification: awaiting_review (the policy reviews) or scheduled. */
const char *request_accepted(const struct request_policy *p);
/*
 * The states (comma-separated, as store_request_transition() takes them)
 * from which @a is allowed for a request of kind @kind (an export may also
 * be cancelled while running or completed: its archive is deleted; only a
 * completed restriction may be lifted), and the state it leads to under
 * @p (NULL for REQUEST_EXTEND: the state stays).
 */
const char *request_act_from(enum request_act a, const char *kind);
const char *request_act_to(enum request_act a, const struct request_policy *p);
/* The action's name: "verify", "approve", ... */
const char *request_act_name(enum request_act a);

/*
 * The subject of a request naming the person by @ids (@n): the keyed hash
 * of the identities sorted, so the same set in any order is the same
 * person.
 */
void request_subject(const uint8_t key[HASH_KEY_LEN], const struct plan_id *ids, size_t n,
                     char out[HASH_TEXT_LEN + 1]);
/*
 * Seal @ids (@n) for the state store: a malloc'd box and its length in
 * *@len (XChaCha20-Poly1305 under a subkey of @key).
 */
uint8_t *request_ids_seal(const uint8_t key[HASH_KEY_LEN], const struct plan_id *ids, size_t n,
                          size_t *len);
/*
 * Open a box of request_ids_seal() into *@ids and *@n (free with
 * request_ids_free(): the values are wiped).  LETHE_E_FORBIDDEN if it does
 * not open (another key), LETHE_E_NOTFOUND if it is empty (wiped).
 */
lethe_rc request_ids_open(const uint8_t key[HASH_KEY_LEN], const uint8_t *box, size_t len,
                          struct plan_id **ids, size_t *n);
void request_ids_free(struct plan_id *ids, size_t n);
/* Seal / open a notification address (@cap bytes with NUL). */
uint8_t *request_notify_seal(const uint8_t key[HASH_KEY_LEN], const char *addr, size_t *len);
lethe_rc request_notify_open(const uint8_t key[HASH_KEY_LEN], const uint8_t *box, size_t len,
                             char *out, size_t cap);

#endif /* LETHE_ENGINE_REQUEST_H */
