/* SPDX-License-Identifier: MIT */
/*
 * form.h - read one field of an application/x-www-form-urlencoded body.
 *
 * Meta's callbacks POST a form with one field, signed_request; lethe reads
 * the fields it needs by name instead of building a table of every field.
 * The whole body is checked on every call, so the answer for one field never
 * depends on where in the body a malformed pair sits.  Pure function: no
 * allocation, no globals, safe from any thread.
 */
#ifndef LETHE_HTTP_FORM_H
#define LETHE_HTTP_FORM_H

#include "util/fmacros.h"
#include "util/rc.h"

/*
 * Find field @name (NUL-terminated, compared with each field name after
 * decoding) in the application/x-www-form-urlencoded @body (@len bytes, not
 * NUL-terminated; pairs separated by '&', empty pairs skipped, a pair without
 * '=' has an empty value) and percent-decode its value ('+' is a space) into
 * @out (@cap bytes including the NUL).  *@outlen (if @outlen is not NULL)
 * gets the decoded length without the NUL.
 *
 * Results: LETHE_OK; LETHE_E_NOTFOUND if absent; LETHE_E_INVALID for a bad
 * %-escape or a NUL byte (raw or %00) anywhere in the body, or @name given
 * twice; LETHE_E_TOOBIG if the value does not fit (@cap == 0 included).
 * INVALID wins over TOOBIG.  On any failure @out holds "" (when @cap > 0)
 * and *@outlen is 0.
 */
lethe_rc form_get(const char *body, size_t len, const char *name, char *out, size_t cap,
                  size_t *outlen);

#endif /* LETHE_HTTP_FORM_H */
