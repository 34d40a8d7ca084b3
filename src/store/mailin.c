/* SPDX-License-Identifier: MIT */
/*
 * mailin.c - the state store's incoming mails (store_mailin.h).
 *
 * PLACEHOLDER(issue 17): part C1 replaces this file.
 */
#include "util/fmacros.h"

#include <string.h>

#include "store/store_internal.h"

lethe_rc
store_mailin_insert(struct store *st, const struct store_mailin_new *n, int64_t *id,
                    struct lethe_err *err)
{
	(void)st;
	(void)n;
	*id = 0;
	return lethe_err_set(err, LETHE_E_STATE, "PLACEHOLDER(issue 17): mail_in");
}

lethe_rc
store_mailin_by_hash(struct store *st, const char *hash, struct store_mailin *out,
                     struct lethe_err *err)
{
	(void)st;
	(void)hash;
	memset(out, 0, sizeof(*out));
	(void)err;
	return LETHE_E_NOTFOUND;
}

lethe_rc
store_mailin_get(struct store *st, int64_t id, struct store_mailin *out, uint8_t **raw,
                 size_t *raw_len, uint8_t **reply, size_t *reply_len, struct lethe_err *err)
{
	(void)st;
	(void)id;
	memset(out, 0, sizeof(*out));
	if (raw != NULL)
		*raw = NULL;
	if (raw_len != NULL)
		*raw_len = 0;
	if (reply != NULL)
		*reply = NULL;
	if (reply_len != NULL)
		*reply_len = 0;
	(void)err;
	return LETHE_E_NOTFOUND;
}
