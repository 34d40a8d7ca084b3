/* SPDX-License-Identifier: MIT */
/*
 * understand.c - what an incoming mail means under the mailbox: section
 * (mail/mailbox.h).
 *
 * PLACEHOLDER(issue 17): part B replaces this file.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <string.h>

#include "mail/mailbox.h"

void
mailbox_understand(const struct mailbox_config *mb, const char *mail_from, const struct mail_in *m,
                   struct mailbox_decision *out)
{
	(void)mb;
	(void)mail_from;
	(void)m;
	memset(out, 0, sizeof(*out));
	out->outcome = MAILBOX_UNMATCHED;
	out->reason = "PLACEHOLDER(issue 17)";
	out->no_reply = "PLACEHOLDER(issue 17)";
}

const char *
mailbox_outcome_str(enum mailbox_outcome o)
{
	static const char *const names[] = {"robot",  "request",   "review",
	                                    "status", "unmatched", "refused"};

	return (size_t)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unmatched";
}

void
mailbox_decision_wipe(struct mailbox_decision *d)
{
	sodium_memzero(d, sizeof(*d));
}
