/* SPDX-License-Identifier: MIT */
/*
 * service_mailin.c - requests by email: one incoming mail understood and
 * recorded with its request and reply in one transaction (service.h,
 * docs/mail-intake.md).
 *
 * PLACEHOLDER(issue 17): part C replaces this file.
 */
#include "util/fmacros.h"

#include "service/service_internal.h"

lethe_rc
service_mailin_deliver(struct service *svc, const char *raw, size_t len, const char *envelope_from,
                       const char *via, struct service_mailin_result *out, struct lethe_err *err)
{
	(void)svc;
	(void)raw;
	(void)len;
	(void)envelope_from;
	(void)via;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	return lethe_err_set(err, LETHE_E_UNAVAILABLE, "PLACEHOLDER(issue 17): mail intake");
}
