/* SPDX-License-Identifier: MIT */
/*
 * callback.h - the rules of Meta's data-deletion and deauthorize callbacks
 * that are Meta's, not HTTP's: which signed_request is accepted (signature,
 * the issued_at window), what a forged one gets, and which id a request is
 * about.  The HTTP routes (http/meta_routes.c) parse the form around it.
 * Thread-safe; allocates nothing.
 */
#ifndef LETHE_META_CALLBACK_H
#define LETHE_META_CALLBACK_H

#include "meta/signed_request.h"
#include "util/fmacros.h"
#include "util/rc.h"

/*
 * Verify the signed_request @sr (@len bytes) of an app with secret @secret
 * (@secret_len bytes) received at @now (Unix s), into *@p.  With @max_age
 * > 0 its issued_at must be present and within @max_age seconds of @now.
 * A forged request (a signature that does not verify) gets LETHE_E_INVALID
 * as a malformed one does: Meta expects 400 for both.  Other results as
 * sr_verify(); @err says why.
 */
lethe_rc meta_callback_verify(const char *sr, size_t len, const uint8_t *secret, size_t secret_len,
                              int64_t max_age, int64_t now, struct sr_payload *p,
                              struct lethe_err *err);
/* The id a verified request is about: user_id, or profile_id for a Page removal (user_id "0"). */
const char *meta_callback_id(const struct sr_payload *p);

#endif /* LETHE_META_CALLBACK_H */
