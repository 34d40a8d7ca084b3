/* SPDX-License-Identifier: MIT */
/*
 * mailbox.c - the mailbox: section checked against the data map
 * (config.h, mailbox_config_check()).
 *
 * PLACEHOLDER(issue 17): part B replaces this file.
 */
#include "util/fmacros.h"

#include "config/config.h"

lethe_rc
mailbox_config_check(const struct lethe_config *cfg, const struct datamap *dm,
                     struct lethe_err *err)
{
	(void)cfg;
	(void)dm;
	(void)err;
	return LETHE_OK;
}
