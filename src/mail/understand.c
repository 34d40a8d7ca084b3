/* SPDX-License-Identifier: MIT */
/*
 * understand.c - what an incoming mail means under the mailbox: section
 * (mail/mailbox.h; the user's contract is docs/mail-intake.md).
 *
 * Pure: no I/O, no clock, no log, nothing kept between calls, so any
 * thread may call it.  The subject and the text are compared lower-cased
 * (ASCII; other UTF-8 bytes as they are) with every run of white space as
 * one space, after the reply and forward prefixes of the subject ("Re:",
 * "Fwd:", "AW:", "[EXT]", ...) are dropped.  Identities are read line by
 * line: a label of a claim at the start of a line (after bullets, quote
 * marks and "my", "our", "your", "the"), a separator, and the value up to
 * the end of the line, or on the next non-empty line when the label ends
 * its line.  The copies of the mail's strings this makes are wiped before
 * they are freed; the decision holds copies too (mailbox_decision_wipe()).
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/mailbox.h"
#include "util/mem.h"

#define TAG_MAX 16 /* bytes inside a "[EXT]"-style subject tag dropped */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* True for a space or a tab (the white space inside a line). */
static bool
sp(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * @s (@n bytes) lower-cased with every run of white space (line ends and
 * U+00A0 too) as one space, trimmed, into a new string (wipe and free).
 */
static char *
fold(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t i, o = 0;
	bool space = false;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
			space = o > 0;
			continue;
		}
		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0xa0) {
			i++;
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = (char)lower(c);
	}
	out[o] = '\0';
	return out;
}

/* Wipe and free @s. */
static void
wipe_free(char *s)
{
	if (s != NULL)
		sodium_memzero(s, strlen(s));
	free(s);
}

/* The folded subject @s past its reply and forward prefixes and tags. */
static const char *
subject_core(const char *s)
{
	static const char *const prefixes[] = {"re", "fwd", "fw", "aw", "wg", "sv", "tr", "rv"};
	size_t i;

	for (;;) {
		const char *q = NULL;

		while (*s == ' ')
			s++;
		if (*s == '[') {
			const char *close = strchr(s, ']');

			if (close != NULL && close - s - 1 <= TAG_MAX &&
			    memchr(s, ' ', (size_t)(close - s)) == NULL) {
				s = close + 1;
				continue;
			}
		}
		for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			size_t n = strlen(prefixes[i]);

			if (strncmp(s, prefixes[i], n) != 0)
				continue;
			q = s + n;
			if (*q == '[') { /* "Re[2]:" */
				q++;
				while (*q >= '0' && *q <= '9')
					q++;
				if (*q != ']') {
					q = NULL;
					continue;
				}
				q++;
			}
			if (*q == ' ') /* "TR :" */
				q++;
			if (*q == ':')
				break;
			q = NULL;
		}
		if (q == NULL)
			return s;
		s = q + 1;
	}
}

/* True if the folded @hay contains one of the @n folded @needles. */
static bool
contains_any(const char *hay, char *const *needles, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strstr(hay, needles[i]) != NULL)
			return true;
	return false;
}

/*
 * The start of a line's words: past white space, bullets ("-", "*", "•"),
 * quote marks (">") and one of "my ", "our ", "your ", "the ".
 */
static const char *
line_start(const char *p, const char *le)
{
	static const char *const words[] = {"my ", "our ", "your ", "the "};
	size_t i;

	for (;;) {
		if (p < le && (sp(*p) || *p == '-' || *p == '*' || *p == '>'))
			p++;
		else if (le - p >= 3 && memcmp(p, "\xe2\x80\xa2", 3) == 0)
			p += 3;
		else
			break;
	}
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(le - p) > n && strncasecmp(p, words[i], n) == 0) {
			p += n;
			while (p < le && sp(*p))
				p++;
			break;
		}
	}
	return p;
}

/* Past the folded @label at @p (a space in it: one or more in the text), or NULL. */
static const char *
match_label(const char *p, const char *le, const char *label)
{
	for (; *label != '\0'; label++) {
		if (*label == ' ') {
			if (p >= le || !sp(*p))
				return NULL;
			while (p < le && sp(*p))
				p++;
		} else {
			if (p >= le || lower((unsigned char)*p) != (unsigned char)*label)
				return NULL;
			p++;
		}
	}
	return p;
}

/* The end of the line starting at @p (its '\n' or the end of the text @end). */
static const char *
line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? nl : end;
}

/*
 * After a label ending at @p on the line ending at @le: a separator (":",
 * "=", "-", "–", "—", and " is " when @is_ok) and the value to the end of
 * the line, or nothing and the value on the next non-empty line of the
 * text ending at @end.  The value's span, trimmed of white space, into
 * *@vs, *@ve; false if no separator follows the label or no value is there.
 */
static bool
label_value(const char *p, const char *le, const char *end, bool is_ok, const char **vs,
            const char **ve)
{
	while (p < le && sp(*p))
		p++;
	if (p < le && (*p == ':' || *p == '=' || *p == '-')) {
		p++;
	} else if (le - p >= 3 &&
	           (memcmp(p, "\xe2\x80\x93", 3) == 0 || memcmp(p, "\xe2\x80\x94", 3) == 0)) {
		p += 3;
	} else if (is_ok && le - p >= 2 && lower((unsigned char)p[0]) == 'i' &&
	           lower((unsigned char)p[1]) == 's' && (le - p == 2 || sp(p[2]) || p[2] == ':')) {
		p += 2;
		while (p < le && sp(*p))
			p++;
		if (p < le && *p == ':')
			p++;
	} else if (p != le) {
		return false;
	}
	while (p < le && sp(*p))
		p++;
	while (p == le && le < end) { /* the label ends its line: the next non-empty one */
		p = le + 1;
		le = line_end(p, end);
		while (p < le && sp(*p))
			p++;
	}
	while (le > p && sp(le[-1]))
		le--;
	if (p == le)
		return false;
	*vs = p;
	*ve = le;
	return true;
}

/*
 * The value at [@vs, @ve) as claim @c's into @out: a leading '@' dropped
 * (strip_at), trailing ".,;:" and white space dropped, 1 to
 * MAILBOX_VALUE_MAX bytes, matching the pattern; false if not a claim.
 * When the whole rest of the line fails the pattern, its first sentence
 * part (up to ". ", ", " or "; ") is tried: "cy_shots. Please delete it".
 */
static bool
claim_value(const struct mailbox_claim_conf *c, const char *vs, const char *ve,
            char out[MAILBOX_VALUE_MAX + 1])
{
	const char *p;
	size_t n;

	if (c->strip_at && vs < ve && *vs == '@')
		vs++;
	for (;;) {
		while (ve > vs && (strchr(".,;:", ve[-1]) != NULL || sp(ve[-1])))
			ve--;
		n = (size_t)(ve - vs);
		if (n == 0 || memchr(vs, '\0', n) != NULL)
			return false;
		if (n <= MAILBOX_VALUE_MAX) {
			memcpy(out, vs, n);
			out[n] = '\0';
			if (c->pattern == NULL || regexec(&c->re, out, 0, NULL, 0) == 0)
				return true;
			sodium_memzero(out, n);
			if (c->pattern == NULL)
				return false;
		}
		/* The first part of the sentence, if there is a shorter one. */
		for (p = vs; p + 1 < ve; p++)
			if (strchr(".,;", *p) != NULL && sp(p[1]))
				break;
		if (p + 1 >= ve)
			return false;
		ve = p;
	}
}

/*
 * Every claim of @mb the text names (the first valid value of each) into
 * @out.  "LABEL is value" counts for labels of two or more words only: a
 * one-word label ("account", "site") would turn prose ("My account is
 * registered to this address") into a claim.
 */
static void
find_claims(const struct mailbox_config *mb, const char *text, struct mailbox_decision *out)
{
	const char *end = text + strlen(text), *ls = text;

	while (ls < end && out->nclaims < MAILBOX_CLAIMS_MAX) {
		const char *le = line_end(ls, end), *p = line_start(ls, le), *best_end = NULL;
		const char *best_label = NULL;
		const struct mailbox_claim_conf *best = NULL;
		size_t best_len = 0, i, j, k;

		for (i = 0; i < mb->nclaims; i++)
			for (j = 0; j < mb->claims[i].nlabels; j++) {
				const char *label = mb->claims[i].labels[j], *q;
				size_t n = strlen(label);

				if (n <= best_len || (q = match_label(p, le, label)) == NULL)
					continue;
				best = &mb->claims[i];
				best_label = label;
				best_len = n;
				best_end = q;
			}
		if (best != NULL) {
			const char *vs, *ve;
			bool seen = false;

			for (k = 0; k < out->nclaims; k++)
				seen = seen || out->claims[k].conf == best;
			if (!seen &&
			    label_value(best_end, le, end, strchr(best_label, ' ') != NULL, &vs,
			                &ve) &&
			    claim_value(best, vs, ve, out->claims[out->nclaims].value))
				out->claims[out->nclaims++].conf = best;
		}
		ls = le + 1;
	}
}

/*
 * True if [@s, @e) with spaces and dashes removed is a confirmation code
 * (32 or 34 characters of [a-z2-7], any case): into @code lower-cased.
 */
static bool
code_ok(const char *s, const char *e, char code[64])
{
	char buf[35];
	size_t n = 0;

	while (e > s && strchr(".,;:", e[-1]) != NULL)
		e--;
	for (; s < e; s++) {
		int c = lower((unsigned char)*s);

		if (sp(*s) || c == '-')
			continue;
		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) || n >= 34)
			return false;
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	if (n != 32 && n != 34)
		return false;
	memcpy(code, buf, n + 1);
	return true;
}

/* The confirmation code the text names (after a code label, or in a status URL) into @code. */
static bool
find_code(const struct mailbox_config *mb, const char *text, const char *folded, char code[64])
{
	const char *end = text + strlen(text), *ls = text, *u;

	while (ls < end) {
		const char *le = line_end(ls, end), *p = line_start(ls, le), *best_end = NULL;
		size_t best_len = 0, i;

		for (i = 0; i < mb->ncode_labels; i++) {
			const char *q;
			size_t n = strlen(mb->code_labels[i]);

			if (n > best_len && (q = match_label(p, le, mb->code_labels[i])) != NULL) {
				best_len = n;
				best_end = q;
			}
		}
		if (best_end != NULL) {
			const char *vs, *ve;

			if (label_value(best_end, le, end, true, &vs, &ve) && code_ok(vs, ve, code))
				return true;
		}
		ls = le + 1;
	}
	/* ".../data-deletion/status?id=CODE" anywhere. */
	for (u = strstr(folded, "status?id="); u != NULL; u = strstr(u + 1, "status?id=")) {
		const char *s = u + strlen("status?id="), *e = s;

		while ((*e >= 'a' && *e <= 'z') || (*e >= '0' && *e <= '9') || *e == '-')
			e++;
		if (code_ok(s, e, code))
			return true;
	}
	return false;
}

/* True if @addr is one of the mailbox's own addresses or @mail_from. */
static bool
own_address(const struct mailbox_config *mb, const char *mail_from, const char *addr)
{
	size_t i;

	for (i = 0; i < mb->naddresses; i++)
		if (strcasecmp(mb->addresses[i], addr) == 0)
			return true;
	return mail_from != NULL && strcasecmp(mail_from, addr) == 0;
}

/* Why no mail may go to @addr (static text), or NULL if one may. */
static const char *
no_reply_why(const struct mailbox_config *mb, const char *mail_from, const char *addr)
{
	static const char *const locals[] = {"mailer-daemon", "postmaster",   "noreply",
	                                     "no-reply",      "do-not-reply", "donotreply"};
	const char *at;
	size_t n, i;

	if (!mail_address_ok(addr))
		return "no valid address";
	if (own_address(mb, mail_from, addr))
		return "our own address";
	at = strrchr(addr, '@');
	n = (size_t)(at - addr);
	for (i = 0; i < sizeof(locals) / sizeof(locals[0]); i++)
		if (strlen(locals[i]) == n && strncasecmp(addr, locals[i], n) == 0)
			return "no-reply address";
	if ((n > 6 && strncasecmp(addr, "owner-", 6) == 0) ||
	    (n > 8 && strncasecmp(at - 8, "-request", 8) == 0))
		return "no-reply address";
	return NULL;
}

/* True if the line [@p, @le) ends with "wrote:" (white space after it aside). */
static bool
ends_wrote(const char *p, const char *le)
{
	while (le > p && sp(le[-1]))
		le--;
	return le - p >= 6 && strncasecmp(le - 6, "wrote:", 6) == 0;
}

/*
 * True if the line [@p, @le) of the text ending at @end quotes another
 * mail: it starts with '>' (after white space), or it is an attribution
 * ("On Mon, 1 Dec 2025, Alice <alice@example.org> wrote:", also over two
 * lines, or any line ending with "wrote:").
 */
static bool
quoted_line(const char *p, const char *le, const char *end)
{
	while (p < le && sp(*p))
		p++;
	if ((p < le && *p == '>') || ends_wrote(p, le))
		return true;
	return le - p >= 3 && strncasecmp(p, "on ", 3) == 0 && le < end &&
	       ends_wrote(le + 1, line_end(le + 1, end));
}

/*
 * The first address in [@p, @le) a notice may go to (not the mailbox's
 * own, nor @mail_from, nor server.contact, nor a no-reply one) into @out:
 * tokens split at white space and ",;<>()[]\"'", "mailto:" and trailing
 * ".:!?" dropped.
 */
static bool
address_in(const struct mailbox_config *mb, const char *mail_from, const char *p, const char *le,
           char out[MAIL_ADDR_MAX + 1])
{
	static const char seps[] = " \t\r\n\f\v,;<>()[]\"'";

	while (p < le) {
		const char *s;
		size_t n;

		while (p < le && strchr(seps, *p) != NULL)
			p++;
		s = p;
		while (p < le && strchr(seps, *p) == NULL)
			p++;
		n = (size_t)(p - s);
		if (n > 7 && strncasecmp(s, "mailto:", 7) == 0) {
			s += 7;
			n -= 7;
		}
		while (n > 0 && strchr(".:!?", s[n - 1]) != NULL)
			n--;
		if (n < 3 || n > MAIL_ADDR_MAX || memchr(s, '@', n) == NULL)
			continue;
		memcpy(out, s, n);
		out[n] = '\0';
		if (no_reply_why(mb, mail_from, out) == NULL &&
		    (mb->contact == NULL || strcasecmp(mb->contact, out) != 0))
			return true;
		sodium_memzero(out, MAIL_ADDR_MAX + 1);
	}
	return false;
}

/* Past the first occurrence of @label (ASCII, any case) in [@p, @le), or NULL. */
static const char *
find_word(const char *p, const char *le, const char *label)
{
	size_t n = strlen(label);

	for (; (size_t)(le - p) >= n; p++)
		if (strncasecmp(p, label, n) == 0)
			return p + n;
	return NULL;
}

/* True if [@p, @le) has no ASCII letter or digit (white space and punctuation only). */
static bool
no_words(const char *p, const char *le)
{
	for (; p < le; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

/* True if [@p, @le) ends with ':' (white space after it aside). */
static bool
ends_colon(const char *p, const char *le)
{
	while (le > p && sp(le[-1]))
		le--;
	return le > p && le[-1] == ':';
}

/*
 * The address @text gives to confirm (notify_from_body) into @out: the
 * first address after a confirmation label ("confirm", then "contact me
 * at", "e-mail", "email", "address", in that order), on the label's line
 * or, when the line ends with ':' or nothing but punctuation follows the
 * label, on the next non-empty line; else the first address of the text.  Lines quoting
 * another mail (quoted_line()) are never read: a quoted header or
 * signature is a third party's.  Addresses as address_in().
 */
static bool
body_address(const struct mailbox_config *mb, const char *mail_from, const char *text,
             char out[MAIL_ADDR_MAX + 1])
{
	static const char *const labels[] = {"confirm", "contact me at", "e-mail", "email",
	                                     "address"};
	const char *end = text + strlen(text), *ls, *le, *q, *ns, *ne;
	size_t i;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		for (ls = text; ls < end; ls = le + 1) {
			le = line_end(ls, end);
			if (quoted_line(ls, le, end) || (q = find_word(ls, le, labels[i])) == NULL)
				continue;
			if (address_in(mb, mail_from, q, le, out))
				return true;
			if (!no_words(q, le) && !ends_colon(q, le))
				continue;
			/* The label's line ends with ':' or the label: the next non-empty line. */
			for (ns = le; ns < end; ns = ne) {
				ne = line_end(ns + 1, end);
				if (no_words(ns + 1, ne))
					continue;
				if (!quoted_line(ns + 1, ne, end) &&
				    address_in(mb, mail_from, ns + 1, ne, out))
					return true;
				break;
			}
		}
	for (ls = text; ls < end; ls = le + 1) {
		le = line_end(ls, end);
		if (!quoted_line(ls, le, end) && address_in(mb, mail_from, ls, le, out))
			return true;
	}
	return false;
}

/* Where a reply may go, or why none may, into @out. */
static void
reply_address(const struct mailbox_config *mb, const char *mail_from, const struct mail_in *m,
              struct mailbox_decision *out)
{
	const char *addr = m->return_path != NULL ? m->return_path : m->from;

	if (m->robot != MAIL_IN_HUMAN)
		out->no_reply = "a robot's mail";
	else if (addr != NULL && addr[0] == '\0')
		out->no_reply = "null sender";
	else if (addr == NULL)
		out->no_reply = "no valid address";
	else
		out->no_reply = no_reply_why(mb, mail_from, addr);
	if (out->no_reply == NULL)
		snprintf(out->reply_to, sizeof(out->reply_to), "%s", addr);
}

/*
 * The first of @r's identities the mail provides into out->who and
 * out->identity; false if none.
 */
static bool
pick_identity(const struct mailbox_config *mb, const char *mail_from, const struct mail_in *m,
              const struct mailbox_rule *r, struct mailbox_decision *out)
{
	size_t i, k;

	for (i = 0; i < r->nidentities; i++) {
		const char *id = r->identities[i];

		if (strcmp(id, MAILBOX_SENDER) == 0) {
			if (m->from == NULL || !mail_address_ok(m->from) ||
			    strlen(m->from) > MAILBOX_VALUE_MAX ||
			    own_address(mb, mail_from, m->from))
				continue;
			out->who.conf = NULL;
			snprintf(out->who.value, sizeof(out->who.value), "%s", m->from);
			out->identity = MAILBOX_SENDER;
			return true;
		}
		for (k = 0; k < out->nclaims; k++)
			if (strcmp(out->claims[k].conf->name, id) == 0) {
				out->who = out->claims[k];
				out->identity = out->claims[k].conf->identity;
				return true;
			}
	}
	return false;
}

void
mailbox_understand(const struct mailbox_config *mb, const char *mail_from, const struct mail_in *m,
                   struct mailbox_decision *out)
{
	const char *text = m->text != NULL ? m->text : "";
	char *subject = NULL, *folded = NULL;
	const char *core;
	size_t i;

	memset(out, 0, sizeof(*out));
	reply_address(mb, mail_from, m, out);
	if (m->robot != MAIL_IN_HUMAN) {
		out->outcome = MAILBOX_ROBOT;
		out->reason = mail_in_robot_str(m->robot);
		return;
	}
	subject =
	    fold(m->subject != NULL ? m->subject : "", m->subject != NULL ? strlen(m->subject) : 0);
	folded = fold(text, strlen(text));
	core = subject_core(subject);
	for (i = 0; i < mb->nrules && out->rule == NULL; i++) {
		const struct mailbox_rule *r = &mb->rules[i];

		if (contains_any(core, r->subjects, r->nsubjects) ||
		    contains_any(core, r->phrases, r->nphrases) ||
		    contains_any(folded, r->phrases, r->nphrases))
			out->rule = r;
	}
	find_claims(mb, text, out);
	if (out->rule != NULL && pick_identity(mb, mail_from, m, out->rule, out)) {
		if (out->who.conf == NULL || out->who.conf->proof == MAILBOX_PROOF_ON_FILE) {
			out->outcome = MAILBOX_REQUEST;
		} else {
			out->outcome = MAILBOX_REVIEW;
			if (!out->rule->notify_from_body ||
			    !body_address(mb, mail_from, text, out->notify)) {
				if (m->from != NULL && no_reply_why(mb, mail_from, m->from) == NULL)
					snprintf(out->notify, sizeof(out->notify), "%s", m->from);
			}
		}
	} else if (find_code(mb, text, folded, out->code)) {
		out->outcome = MAILBOX_STATUS;
	} else {
		out->outcome = MAILBOX_UNMATCHED;
		out->reason = out->rule != NULL ? "the rule found no identity" : "no rule matched";
	}
	wipe_free(subject);
	wipe_free(folded);
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
