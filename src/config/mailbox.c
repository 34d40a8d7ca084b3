/* SPDX-License-Identifier: MIT */
/*
 * mailbox.c - the mailbox: section checked against the data map and the
 * mail: section (config.h, mailbox_config_check()).
 *
 * mail/mailbox_config.c parses the section without the data map; here, at
 * start, every name it holds that the map or the rest of the
 * configuration defines is looked up: the mail: section (a request made
 * by mail is confirmed by a mailed link, and replies are mailed), each
 * claim's identity kind, each rule's kind, scope, and the identity kind
 * of each of its identities ("sender" is mail.identity).
 */
#include "util/fmacros.h"

#include <string.h>

#include "config/config.h"
#include "config/policy.h"
#include "datamap/datamap.h"

lethe_rc
mailbox_config_check(const struct lethe_config *cfg, const struct datamap *dm,
                     struct lethe_err *err)
{
	const struct mailbox_config *mb = &cfg->mailbox;
	const char *ident = cfg->mail.identity != NULL ? cfg->mail.identity : "email";
	size_t i, j;

	if (!mb->enabled)
		return LETHE_OK;
	if (!cfg->mail.enabled)
		return lethe_err_set(err, LETHE_E_CONFIG,
		                     "%s:%d: mailbox needs the mail: section (a request made by "
		                     "mail is confirmed by a mailed link, and replies are mailed)",
		                     cfg->path, mb->line);
	for (i = 0; i < mb->nclaims; i++) {
		const struct mailbox_claim_conf *c = &mb->claims[i];

		if (!datamap_has_identity(dm, c->identity))
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s:%d: mailbox claim '%s': identity '%s' is not an "
			                     "identity kind of the data map %s",
			                     cfg->path, c->line, c->name, c->identity, dm->path);
	}
	for (i = 0; i < mb->nrules; i++) {
		const struct mailbox_rule *r = &mb->rules[i];
		const struct dm_scope *sc = datamap_scope(dm, r->scope);

		if (!policy_kind_ok(r->kind))
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s:%d: mailbox rule '%s': kind '%s' is not one of "
			                     "%s",
			                     cfg->path, r->line, r->name, r->kind, POLICY_KINDS);
		if (sc == NULL)
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "%s:%d: mailbox rule '%s': scope '%s' is not in the "
			                     "data map %s",
			                     cfg->path, r->line, r->name, r->scope, dm->path);
		for (j = 0; j < r->nidentities; j++) {
			const char *name = r->identities[j];
			const struct mailbox_claim_conf *c = mailbox_claim(mb, name);
			const char *kind = c != NULL ? c->identity : ident;

			if (!dm_scope_has_identity(sc, kind))
				return lethe_err_set(
				    err, LETHE_E_CONFIG,
				    "%s:%d: mailbox rule '%s': scope '%s' does not name a person "
				    "by '%s' (identity '%s'%s); its identities in the data map %s "
				    "are listed under scopes.%s",
				    cfg->path, r->line, r->name, r->scope, kind, name,
				    c != NULL ? "" : ", mail.identity", dm->path, r->scope);
		}
	}
	return LETHE_OK;
}
