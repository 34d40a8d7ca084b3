/* SPDX-License-Identifier: MIT */
/*
 * callback.c - Meta's rules for its callbacks' signed_request (see
 * callback.h): the signature, what a forged request gets, the issued_at
 * window, and the id a request is about.
 */
#include "util/fmacros.h"

#include <stdlib.h>

#include "meta/callback.h"

lethe_rc
meta_callback_verify(const char *sr, size_t len, const uint8_t *secret, size_t secret_len,
                     int64_t max_age, int64_t now, struct sr_payload *p, struct lethe_err *err)
{
	lethe_rc rc = sr_verify(sr, len, secret, secret_len, p, err);

	/* Meta expects 400 for a forged request as for a malformed one. */
	if (rc == LETHE_E_FORBIDDEN)
		rc = LETHE_E_INVALID;
	if (rc == LETHE_OK && max_age > 0 &&
	    (!p->has_issued_at || llabs((long long)(now - p->issued_at)) > (long long)max_age)) {
		rc = lethe_err_set(err, LETHE_E_INVALID,
		                   "issued_at is missing or outside the accepted window");
	}
	return rc;
}

const char *
meta_callback_id(const struct sr_payload *p)
{
	if (strcmp(p->user_id, "0") == 0 && p->profile_id[0] != '\0')
		return p->profile_id;
	return p->user_id;
}
