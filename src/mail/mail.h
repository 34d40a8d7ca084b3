/* SPDX-License-Identifier: MIT */
/*
 * mail.h - outgoing mail: the `mail:` section of lethe.yaml, one message
 * built as RFC 5322 text (plain text and HTML), and sending it to an SMTP
 * server through libcurl (smtp:// with STARTTLS, or smtps://).
 *
 * Nothing here knows requests or templates: the mail outbox (jobs/mailer.c,
 * store/mail.c) decides what is sent when, the service composes the
 * message (mail/templates.h).  A message carries no secret beyond its
 * links; this module never logs an address or a body, and its errors name
 * the server's answer, never the recipient.  See docs/internals/mail.md.
 *
 * A struct mail_config is immutable once parsed and its secrets loaded:
 * any thread may read it.  A struct mail_smtp (one connection, reused) is
 * for one thread.
 */
#ifndef LETHE_MAIL_H
#define LETHE_MAIL_H

#include "util/fmacros.h"

#include <yaml.h>

#include "util/buf.h"
#include "util/rc.h"

struct ydoc;

#define MAIL_ADDR_MAX 254  /* bytes of an address (RFC 5321 path limit) */
#define MAIL_MSGID_MAX 250 /* bytes of a Message-ID a reply refers to */

/* How an smtp:// connection uses STARTTLS (smtps:// is TLS from the start). */
enum mail_tls {
	MAIL_TLS_REQUIRED, /* STARTTLS or no mail (the default) */
	MAIL_TLS_OPTIONAL, /* STARTTLS when the server offers it */
	MAIL_TLS_OFF,      /* plain text: loopback relays and tests only */
};

/* The `mail:` section (README "Configuration"); all strings owned. */
struct mail_config {
	bool enabled;               /* the section is present: lethe sends mail */
	char *url;                  /* smtp://HOST[:PORT] or smtps://HOST[:PORT] */
	char *from;                 /* the From address (addr-spec) */
	char *from_name;            /* its display name, or NULL */
	char *reply_to;             /* Reply-To address, or NULL */
	enum mail_tls starttls;     /* mail.starttls: required | optional | off */
	char *ca_file;              /* resolved CA bundle to verify the server with, or NULL */
	char *user_env;             /* env var holding the SMTP user, or NULL */
	char *user_file;            /* resolved file holding it, or NULL */
	char *password_env;         /* env var holding the SMTP password, or NULL */
	char *password_file;        /* resolved file holding it, or NULL */
	char *user;                 /* the user once loaded (mail_config_load_secrets), or NULL */
	char *password;             /* the password once loaded, or NULL (wiped when freed) */
	int64_t connect_timeout_ms; /* mail.connect_timeout (default 10 s) */
	int64_t timeout_ms;         /* mail.timeout: one message at most (default 60 s) */
	int64_t backoff_base_ms; /* mail.backoff_base: retry n waits up to base * 2^(n-1) (30 s) */
	int64_t backoff_cap_ms;  /* mail.backoff_cap (1 h) */
	int64_t max_attempts;    /* mail.max_attempts, then a dead letter (10) */
	int64_t max_age_s;       /* mail.max_age, then a dead letter (3 d) */
	int64_t link_ttl_s;      /* mail.link_ttl: a mailed confirmation link lives this long
	                            (default 24 h); an unconfirmed request expires with it */
	char *identity;          /* mail.identity: the data map identity kind that is an
	                            email address (default "email") */
	int line;                /* line of the section in lethe.yaml, 0 if absent */
};

/*
 * Parse the `mail:` section of @y (root mapping @root) into @mc
 * (caller-owned storage, overwritten; disabled when absent).  Relative
 * files are resolved against @dir.  LETHE_E_CONFIG "lethe.yaml:LINE: what"
 * for an unknown key, a URL that is not smtp:// or smtps://, a bad From
 * address, a bad duration, or a user or password written in the file
 * itself (they come from an environment variable or a file).  Free @mc
 * with mail_config_free(), whatever the result.  Called by config_load().
 */
lethe_rc mail_config_parse(struct mail_config *mc, const char *dir, struct ydoc *y,
                           yaml_node_t *root, struct lethe_err *err);
/*
 * Read the SMTP user and password from their variables or files (either
 * may be unset: no authentication).  LETHE_E_CONFIG names the variable or
 * file that could not be read, never its content.
 */
lethe_rc mail_config_load_secrets(struct mail_config *mc, struct lethe_err *err);
/* Free what @mc holds (the password wiped) and zero it. */
void mail_config_free(struct mail_config *mc);

/* True if @addr is an address lethe sends to: an addr-spec of 3 to MAIL_ADDR_MAX bytes,
 * local@domain, no space, control character, '<', '>', ',' or quote. */
bool mail_address_ok(const char *addr);

/* One message to send; every string owned (mail_msg_free()). */
struct mail_msg {
	char *to;          /* the recipient's address */
	char *subject;     /* the subject (UTF-8, one line) */
	char *text;        /* the plain-text body (UTF-8) */
	char *html;        /* the HTML body (UTF-8), or NULL for text only */
	char *in_reply_to; /* a reply: the Message-ID it answers, with its <>, or NULL */
	bool auto_reply;   /* a reply to a mail (RFC 3834): Auto-Submitted: auto-replied */
};
/* Free the strings of @m (the address wiped) and zero it. */
void mail_msg_free(struct mail_msg *m);

/*
 * The RFC 5322 message of @m from @mc's sender at @now (epoch s) into @b:
 * Date, From, To, Subject (RFC 2047 encoded when not ASCII), Message-ID,
 * MIME-Version, Auto-Submitted (auto-replied when @m->auto_reply, else
 * auto-generated), In-Reply-To and References when @m->in_reply_to is one
 * line of at most MAIL_MSGID_MAX printable ASCII bytes (else left out: it
 * came from someone else's mail), and a multipart/alternative
 * body (text/plain then text/html, UTF-8, quoted-printable; text only when
 * @m->html is NULL), CRLF line ends, no line over 998 bytes.
 * LETHE_E_INVALID if a value that goes into a header (address, name,
 * subject) holds CR, LF or another control character: no header injection.
 */
lethe_rc mail_build(const struct mail_config *mc, const struct mail_msg *m, int64_t now,
                    struct buf *b, struct lethe_err *err);

struct mail_smtp;

/* A sender for @mc (borrowed: it outlives the sender); no connection yet. */
struct mail_smtp *mail_smtp_new(const struct mail_config *mc);
/*
 * Send the message @data (@len bytes, as mail_build() made it) to @to:
 * LETHE_OK once the server accepted it (250 after DATA); LETHE_E_UNAVAILABLE
 * for what may pass (no connection, timeout, TLS required but not offered,
 * a 4xx answer): retry later; LETHE_E_INVALID for a permanent refusal (5xx)
 * of this message: a dead letter.  err->msg says what the server answered,
 * without the address.  The connection is kept for the next message.
 */
lethe_rc mail_smtp_send(struct mail_smtp *s, const char *to, const char *data, size_t len,
                        struct lethe_err *err);
/* Close the connection and free @s.  NULL is a no-op. */
void mail_smtp_free(struct mail_smtp *s);

#endif /* LETHE_MAIL_H */
