/* SPDX-License-Identifier: MIT */
/*
 * mailbox.h - the privacy mailbox: the `mailbox:` section of lethe.yaml
 * (mail/mailbox_config.c) and what an incoming mail means under it
 * (mail/understand.c): which request kind and scope its subject or words
 * ask for, which identity names the person, whether it is a robot's,
 * where a reply may go.  docs/mail-intake.md is the user's contract.
 *
 * Nothing here reads a database or trusts the sender: the decision says
 * what the mail claims, and the service (service_mailin.c) makes a request
 * that only a link mailed to the address on file, or an operator, can
 * confirm.  The data-map checks of the section (scopes, identity kinds)
 * are config/'s (mailbox_config_check() in config/config.h), which sees
 * both this and the map.  A parsed struct mailbox_config is immutable:
 * any thread may read it; mailbox_understand() is pure and thread-safe.
 */
#ifndef LETHE_MAIL_MAILBOX_H
#define LETHE_MAIL_MAILBOX_H

#include "util/fmacros.h"

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "mail/inmail.h"
#include "mail/mail.h"
#include "util/rc.h"

struct ydoc;

#define MAILBOX_VALUE_MAX 128   /* bytes of a claimed identity's value */
#define MAILBOX_CLAIMS_MAX 16   /* claims a decision lists at most */
#define MAILBOX_RULES_MAX 64    /* rules a mailbox has at most */
#define MAILBOX_NAME_MAX 63     /* bytes of a rule's or claim's name: [a-z0-9_-] */
#define MAILBOX_SENDER "sender" /* the identity name that means the From: address */

/* How a claimed identity is proven. */
enum mailbox_proof {
	MAILBOX_PROOF_ON_FILE, /* a link mailed to the address on file for it */
	MAILBOX_PROOF_REVIEW,  /* no link can prove it: an operator reviews it */
};

/* How the body names an identity (mailbox.claims.NAME); strings owned. */
struct mailbox_claim_conf {
	char *name;               /* the claim's name (rules' identities name it) */
	char *identity;           /* the data map identity kind it gives */
	char **labels;            /* what precedes the value, lower-case */
	size_t nlabels;           /* >= 1 */
	char *pattern;            /* the POSIX ERE the whole value must match, or NULL */
	regex_t re;               /* compiled "^(pattern)$" when pattern is set */
	bool strip_at;            /* a leading '@' is dropped from the value (default true) */
	enum mailbox_proof proof; /* how it is proven */
	int line;                 /* line in lethe.yaml */
};

/* One rule (mailbox.rules[i]); strings owned. */
struct mailbox_rule {
	char *name;      /* unique */
	char **subjects; /* the subject contains one (case-insensitive), lower-case */
	size_t nsubjects;
	char **phrases; /* or the subject or text contains one, lower-case */
	size_t nphrases;
	char *kind;            /* erasure, export, restriction */
	char *scope;           /* a data map scope */
	char **identities;     /* MAILBOX_SENDER or claim names, in order of preference */
	size_t nidentities;    /* >= 1 */
	bool notify_from_body; /* a review request is notified at the address the body gives */
	int line;              /* line in lethe.yaml */
};

/* The `mailbox:` section (docs/mail-intake.md); all strings owned. */
struct mailbox_config {
	bool enabled;     /* the section is present */
	char **addresses; /* the mailbox's own addresses, lower-case (never replied to) */
	size_t naddresses;
	char *contact;             /* server.contact when it is an address, lower-case, or
	                              NULL: never taken as the address a body gives to notify */
	char *lmtp;                /* "HOST:PORT", "[V6]:PORT" or "unix:PATH" (resolved), or NULL */
	bool lmtp_remote;          /* a non-loopback lmtp address is allowed */
	int64_t lmtp_connections;  /* concurrent LMTP sessions at most (default 16) */
	char *maildir;             /* a Maildir lethe serve reads (resolved), or NULL */
	int64_t poll_ms;           /* how often the Maildir is looked at (default 5 s) */
	int64_t max_size;          /* raw bytes at most (default 10 MiB) */
	int64_t max_parts;         /* MIME parts at most (default 100) */
	int64_t keep_s;            /* an unmatched mail waits this long (default 30 d) */
	int64_t reply_per_address; /* replies to one address per window (default 3) */
	int64_t reply_total;       /* replies in all per window (default 200) */
	int64_t reply_window_s;    /* the window (default 1 h) */
	char **code_labels;        /* what precedes a confirmation code, lower-case */
	size_t ncode_labels;
	struct mailbox_rule *rules; /* first match wins */
	size_t nrules;
	struct mailbox_claim_conf *claims;
	size_t nclaims;
	int line; /* line of the section, 0 if absent */
};

/*
 * Parse the `mailbox:` section of @y (root mapping @root) into @mb
 * (caller-owned storage, overwritten; disabled when absent); relative
 * paths (maildir, a unix: socket) resolved against @dir.  LETHE_E_CONFIG
 * "lethe.yaml:LINE: what" for an unknown key, a bad size, duration,
 * address or pattern, a rule naming an unknown claim, a duplicate name,
 * no rules, a non-loopback lmtp address without lmtp_remote, or lmtp or
 * maildir without addresses.  mb->contact is server.contact when it is an
 * email address.  Free @mb with mailbox_config_free() whatever the
 * result.  Called by config_load().
 */
lethe_rc mailbox_config_parse(struct mailbox_config *mb, const char *dir, struct ydoc *y,
                              yaml_node_t *root, struct lethe_err *err);
/* Free what @mb holds and zero it. */
void mailbox_config_free(struct mailbox_config *mb);
/* The claim named @name, or NULL. */
const struct mailbox_claim_conf *mailbox_claim(const struct mailbox_config *mb, const char *name);

/* What a mail is. */
enum mailbox_outcome {
	MAILBOX_ROBOT,     /* a program's: never answered, nothing made */
	MAILBOX_REQUEST,   /* a request confirmed by a mailed link (sender or address on file) */
	MAILBOX_REVIEW,    /* a request an operator must review (a claim no link proves) */
	MAILBOX_STATUS,    /* asks about a request by its confirmation code */
	MAILBOX_UNMATCHED, /* fits nothing: the operator's queue */
	MAILBOX_REFUSED,   /* over a limit or unreadable (decided by the caller, not here) */
};

/* One identity the mail names. */
struct mailbox_claim {
	const struct mailbox_claim_conf *conf; /* its claim, NULL for the sender's address */
	char value[MAILBOX_VALUE_MAX + 1];     /* the value as found */
};

/* The decision about one mail (caller-owned; strings are copies: wipe after use). */
struct mailbox_decision {
	enum mailbox_outcome outcome;
	const struct mailbox_rule *rule;  /* the rule that matched, or NULL */
	struct mailbox_claim who;         /* REQUEST, REVIEW: the identity naming the person
	                                     (conf NULL: the sender's From: address) */
	const char *identity;             /* REQUEST, REVIEW: its data map identity kind;
	                                     MAILBOX_SENDER for the From: address (the
	                                     caller's mail.identity) */
	char notify[MAIL_ADDR_MAX + 1];   /* REVIEW: the address to confirm and notify, "" */
	char code[64];                    /* STATUS: the code asked about (lower-case, no
	                                     spaces), "" */
	char reply_to[MAIL_ADDR_MAX + 1]; /* where a reply may go, "" for none */
	const char *no_reply;             /* why no reply may go (static text), or NULL */
	const char *reason;               /* ROBOT, UNMATCHED: why (static, no personal data) */
	struct mailbox_claim claims[MAILBOX_CLAIMS_MAX]; /* every claim found, for the operator */
	size_t nclaims;
};

/*
 * Decide what @m means under @mb: a robot's (m->robot), else the first
 * rule whose subjects or phrases match, with the first of its identities
 * the mail provides (MAILBOX_SENDER: a valid From: address; a claim: its
 * label and a value passing its pattern) -> REQUEST (sender, or a claim
 * proven on file) or REVIEW (a claim proven by review; notify, when the
 * rule says notify_from_body: the first address after a confirmation label
 * of the text ("confirm", "contact me at", "e-mail", "email", "address"),
 * else its first address, never on a quoted line ('>') or an "On ...
 * wrote:" attribution, never the mailbox's own, @mail_from, mb->contact or
 * a no-reply one; else the From: address); a claim's "LABEL is value"
 * form counts for labels of two or more words only; a rule that matched
 * but found no identity, or no rule: STATUS if the text gives a confirmation code
 * after one of code_labels (32 or 34 characters of [a-z2-7], spaces and
 * dashes between groups allowed, case-insensitive), else UNMATCHED.
 * reply_to: m->return_path, or m->from when return_path is NULL; "" with
 * no_reply set for a robot, a null sender, an address that is not valid,
 * the mailbox's own addresses, @mail_from, and local parts MAILER-DAEMON,
 * postmaster, owner-*, *-request, noreply, no-reply, do-not-reply.  Into
 * @out (zeroed first).  Never fails.
 */
void mailbox_understand(const struct mailbox_config *mb, const char *mail_from,
                        const struct mail_in *m, struct mailbox_decision *out);
/* "robot", "request", "review", "status", "unmatched", "refused". */
const char *mailbox_outcome_str(enum mailbox_outcome o);
/* Wipe the copies of personal data in @d. */
void mailbox_decision_wipe(struct mailbox_decision *d);

#endif /* LETHE_MAIL_MAILBOX_H */
