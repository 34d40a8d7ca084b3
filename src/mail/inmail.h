/* SPDX-License-Identifier: MIT */
/*
 * inmail.h - an incoming mail, parsed: what the mail intake needs of a
 * message delivered to the privacy mailbox (docs/mail-intake.md), taken
 * from its raw RFC 5322 bytes with GMime (mail/mime_lib.c opens it on
 * first use).
 *
 * The parse decodes what a person may have written in any of the ways
 * mail programs write it: RFC 2047 encoded words, quoted-printable and
 * base64, any charset iconv or GMime knows (converted to UTF-8; each byte
 * invalid in the part's charset replaced by U+FFFD, never dropped),
 * multipart/alternative (the text/plain part), HTML-only mail (converted
 * to text), forwarded mail (message/rfc822 parts walked into).  Nothing here decides what the mail
 * means (mail/mailbox.h does) and nothing is logged: every string is personal data.  Thread-safe: a
 * struct mail_in belongs to its caller; GMime is initialised once (pthread_once) and its objects
 * are never shared.
 */
#ifndef LETHE_MAIL_INMAIL_H
#define LETHE_MAIL_INMAIL_H

#include "util/fmacros.h"

#include <stdbool.h>
#include <stddef.h>

#include "util/rc.h"

#define MAIL_IN_TEXT_MAX (1024 * 1024)   /* bytes of text kept (the rest cut) */
#define MAIL_IN_SUBJECT_MAX 998          /* bytes of the decoded subject kept */
#define MAIL_IN_DEPTH_MAX 8              /* nesting of multiparts and forwarded mails */
#define MAIL_IN_HEADERS_MAX (256 * 1024) /* bytes of the header block read by the head parse */

/* The limits a parse checks (mailbox.max_size, mailbox.max_parts). */
struct mail_in_limits {
	size_t max_size;  /* raw bytes at most */
	size_t max_parts; /* MIME parts (leaves and containers) at most */
};

/* Why a message is a robot's (RFC 3834 and practice); 0 if none. */
enum mail_in_robot {
	MAIL_IN_HUMAN = 0,      /* nothing says a program sent it */
	MAIL_IN_AUTO_SUBMITTED, /* Auto-Submitted: present and not "no" */
	MAIL_IN_PRECEDENCE,     /* Precedence: bulk, junk or list */
	MAIL_IN_LIST,           /* List-Id, List-Unsubscribe or List-Post */
	MAIL_IN_NULL_SENDER,    /* empty envelope sender or Return-Path: <> (a bounce) */
	MAIL_IN_REPORT,         /* Content-Type multipart/report (a delivery report) */
	MAIL_IN_AUTORESPONDER,  /* X-Auto-Response-Suppress, X-Autoreply, X-Autorespond */
	MAIL_IN_DAEMON,         /* From: MAILER-DAEMON or postmaster */
};

/* One parsed message; every string owned, NUL-terminated, UTF-8 (mail_in_free()). */
struct mail_in {
	char *from;               /* the From: address (addr-spec, as written), or NULL */
	char *reply_to;           /* the first Reply-To: address, or NULL */
	char *return_path;        /* the envelope sender: the one handed to the parse, else the
	                             first Return-Path: header's address; "" for a null sender
	                             <>; NULL if neither says */
	char *to;                 /* the To: header as decoded text (for the operator), or NULL */
	char *date;               /* the Date: header as written, or NULL */
	char *message_id;         /* the Message-ID without <>, or NULL */
	char *subject;            /* decoded, controls as spaces, "" if none */
	char *text;               /* the readable text (see the file comment), "" if none */
	bool text_cut;            /* text was longer than MAIL_IN_TEXT_MAX */
	bool from_html;           /* text came from HTML (no text/plain part) */
	size_t parts;             /* MIME parts seen */
	size_t forwarded;         /* message/rfc822 parts walked into */
	size_t bytes;             /* raw size */
	enum mail_in_robot robot; /* why it is a robot's, MAIL_IN_HUMAN if not */
};

/*
 * Parse the @len raw bytes at @raw (an RFC 5322 message, CRLF or LF line
 * ends) into @out (caller-owned storage, overwritten).  @envelope_from is
 * the envelope sender as the front end knows it (LMTP's MAIL FROM: "" for
 * <>), or NULL when it does not (a Maildir: the Return-Path header says).
 * LETHE_E_TOOBIG if @len > @lim->max_size or the message has more than
 * @lim->max_parts parts or nests deeper than MAIL_IN_DEPTH_MAX (err->msg
 * says which, with the figures, never the content); LETHE_E_INVALID if it
 * is not a message at all (no header block GMime can read); LETHE_E_INTERNAL
 * if GMime cannot be loaded.  Lenient otherwise: a broken part is skipped,
 * an unknown charset read as UTF-8 with invalid bytes replaced.  Free @out
 * with mail_in_free() whatever the result.  Blocking (CPU only).
 */
lethe_rc mail_in_parse(const char *raw, size_t len, const char *envelope_from,
                       const struct mail_in_limits *lim, struct mail_in *out,
                       struct lethe_err *err);
/*
 * Parse only the header block of @raw (at most MAIL_IN_HEADERS_MAX bytes,
 * whatever @len): from, reply_to, return_path, to, date, message_id,
 * subject and robot (the report check reads the top Content-Type only) into
 * @out; text "".  For a message refused for its size: enough to answer
 * it.  Results as mail_in_parse() without the limits.
 */
lethe_rc mail_in_parse_head(const char *raw, size_t len, const char *envelope_from,
                            struct mail_in *out, struct lethe_err *err);
/* Free (wiping) the strings of @m and zero it.  Safe on a zeroed struct. */
void mail_in_free(struct mail_in *m);
/* A short English name of @r ("auto-submitted", "precedence", ...), for rows and logs. */
const char *mail_in_robot_str(enum mail_in_robot r);
/*
 * The HTML @html (@len bytes) as text into a new string (caller frees):
 * tags dropped, block ends as newlines, script and style content dropped,
 * entities decoded; at most @cap bytes of output.  Exposed for the tests.
 */
char *mail_in_html_text(const char *html, size_t len, size_t cap);

#endif /* LETHE_MAIL_INMAIL_H */
