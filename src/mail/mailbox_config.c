/* SPDX-License-Identifier: MIT */
/*
 * mailbox_config.c - the mailbox: section of lethe.yaml (mail/mailbox.h).
 *
 * PLACEHOLDER(issue 17): part B replaces this file.
 */
#include "util/fmacros.h"

#include <string.h>

#include "mail/mailbox.h"
#include "util/yamlutil.h"

lethe_rc
mailbox_config_parse(struct mailbox_config *mb, const char *dir, struct ydoc *y, yaml_node_t *root,
                     struct lethe_err *err)
{
	yaml_node_t *n;

	(void)dir;
	memset(mb, 0, sizeof(*mb));
	n = ymap_get(y, root, "mailbox");
	if (n == NULL)
		return LETHE_OK;
	return lethe_err_set(err, LETHE_E_CONFIG, "%s:%d: mailbox: PLACEHOLDER(issue 17)", y->path,
	                     (int)n->start_mark.line + 1);
}

void
mailbox_config_free(struct mailbox_config *mb)
{
	memset(mb, 0, sizeof(*mb));
}

const struct mailbox_claim_conf *
mailbox_claim(const struct mailbox_config *mb, const char *name)
{
	(void)mb;
	(void)name;
	return NULL;
}
