/* SPDX-License-Identifier: MIT */
/*
 * service_mailbox.c - the operator's queue of incoming mails: list, show,
 * close, prune (service.h, docs/mail-intake.md).
 *
 * PLACEHOLDER(issue 17): part C replaces this file.
 */
#include "util/fmacros.h"

#include "service/service_internal.h"

lethe_rc
service_mailbox_list(struct service *svc, const char *state, const char *outcome,
                     const char *cursor, int limit, json_t **out, struct lethe_err *err)
{
	(void)svc;
	(void)state;
	(void)outcome;
	(void)cursor;
	(void)limit;
	*out = NULL;
	return lethe_err_set(err, LETHE_E_UNAVAILABLE, "PLACEHOLDER(issue 17): mailbox");
}

lethe_rc
service_mailbox_show(struct service *svc, int64_t id, json_t **out, struct lethe_err *err)
{
	(void)svc;
	(void)id;
	*out = NULL;
	return lethe_err_set(err, LETHE_E_UNAVAILABLE, "PLACEHOLDER(issue 17): mailbox");
}

lethe_rc
service_mailbox_close(struct service *svc, int64_t id, const char *actor, const char *reason,
                      json_t **out, struct lethe_err *err)
{
	(void)svc;
	(void)id;
	(void)actor;
	(void)reason;
	if (out != NULL)
		*out = NULL;
	return lethe_err_set(err, LETHE_E_UNAVAILABLE, "PLACEHOLDER(issue 17): mailbox");
}

lethe_rc
service_mailbox_prune(struct service *svc, int64_t now, int64_t *n, struct lethe_err *err)
{
	(void)svc;
	(void)now;
	(void)err;
	if (n != NULL)
		*n = 0;
	return LETHE_OK;
}
