/* SPDX-License-Identifier: MIT */
/*
 * message.c - one outgoing message as RFC 5322 text (see mail.h).
 *
 * Headers are checked before anything is written: an address must pass
 * mail_address_ok(), a display name or subject must be one line of UTF-8
 * without control characters (no header injection).  Non-ASCII header text
 * becomes RFC 2047 "B" encoded words of at most 75 bytes, never splitting
 * a UTF-8 sequence; bodies are quoted-printable (RFC 2045) with lines of at
 * most 76 bytes, so the message is 7-bit and no line nears the 998-byte
 * limit.  The multipart boundary and the Message-ID's left part are random.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "mail/mail.h"
#include "util/mem.h"
#include "util/rand.h"

#define QP_LINE 76  /* longest quoted-printable line, soft break included */
#define WORD_MAX 75 /* longest RFC 2047 encoded word */
#define SUBJECT_MAX 998

bool
mail_address_ok(const char *addr)
{
	const char *at;
	size_t n, i;

	if (addr == NULL)
		return false;
	n = strlen(addr);
	if (n < 3 || n > MAIL_ADDR_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>,\"\\;:()[]", c) != NULL)
			return false;
	}
	at = strchr(addr, '@');
	return at != NULL && at != addr && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
	       at[1] != '.' && addr[n - 1] != '.';
}

void
mail_msg_free(struct mail_msg *m)
{
	if (m->to != NULL)
		sodium_memzero(m->to, strlen(m->to));
	free(m->to);
	free(m->subject);
	free(m->text);
	free(m->html);
	free(m->in_reply_to);
	memset(m, 0, sizeof(*m));
}

/* True if @s is valid UTF-8 with no control character (one header line). */
static bool
header_text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t k, len;

		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				return false;
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			len = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			len = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			len = 4;
		else
			return false;
		for (k = 1; k < len; k++)
			if ((p[k] & 0xc0) != 0x80)
				return false;
		/* C1 controls (U+0080..U+009F) are control characters too. */
		if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)
			return false;
		p += len;
	}
	return true;
}

static bool
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Length of the UTF-8 sequence starting at @p (1 for a stray byte). */
static size_t
utf8_len(const unsigned char *p)
{
	if (*p >= 0xf0)
		return 4;
	if (*p >= 0xe0)
		return 3;
	if (*p >= 0xc0)
		return 2;
	return 1;
}

/*
 * @s as RFC 2047 "B" encoded words, each at most WORD_MAX bytes, separated
 * by CRLF SP (folding).
 */
static lethe_rc
add_encoded_words(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	/* "=?UTF-8?B?" + "?=" is 12 bytes: 63 left for base64, i.e. 45 raw bytes. */
	const size_t raw_max = (WORD_MAX - 12) / 4 * 3;
	lethe_rc rc = LETHE_OK;
	bool first = true;

	while (*p != '\0' && rc == LETHE_OK) {
		char b64[sodium_base64_ENCODED_LEN((WORD_MAX - 12) / 4 * 3,
		                                   sodium_base64_VARIANT_ORIGINAL)];
		size_t n = 0;

		while (p[n] != '\0') {
			size_t l = utf8_len(p + n);

			if (n + l > raw_max)
				break;
			n += l;
		}
		sodium_bin2base64(b64, sizeof(b64), p, n, sodium_base64_VARIANT_ORIGINAL);
		rc = buf_addf(b, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", b64);
		first = false;
		p += n;
	}
	return rc;
}

/* ASCII @s folded at spaces so lines stay near 78 bytes; @used is the line so far. */
static lethe_rc
add_folded(struct buf *b, const char *s, size_t used)
{
	lethe_rc rc = LETHE_OK;
	size_t col = used;

	while (*s != '\0' && rc == LETHE_OK) {
		size_t sp = strspn(s, " ");
		size_t w = strcspn(s + sp, " ");

		if (col + sp + w > 78 && col > used && sp > 0) {
			rc = buf_adds(b, "\r\n");
			col = 0;
		}
		if (rc == LETHE_OK)
			rc = buf_add(b, s, sp + w);
		col += sp + w;
		s += sp + w;
	}
	return rc;
}

/* The longest run of non-space characters in @s. */
static size_t
longest_word(const char *s)
{
	size_t best = 0;

	while (*s != '\0') {
		size_t w = strcspn(s, " ");

		if (w > best)
			best = w;
		s += w;
		s += strspn(s, " ");
	}
	return best;
}

/* Header @name with unstructured text @value (checked), encoded as needed. */
static lethe_rc
add_text_header(struct buf *b, const char *name, const char *value)
{
	lethe_rc rc = buf_addf(b, "%s: ", name);
	size_t used = strlen(name) + 2;

	if (rc != LETHE_OK)
		return rc;
	if (is_ascii(value) && longest_word(value) < 70 && strstr(value, "=?") == NULL &&
	    value[0] != ' ' && (value[0] == '\0' || value[strlen(value) - 1] != ' '))
		rc = add_folded(b, value, used);
	else
		rc = add_encoded_words(b, value);
	if (rc == LETHE_OK)
		rc = buf_adds(b, "\r\n");
	return rc;
}

/* True if @s holds only RFC 5322 atext and spaces (a display name needing no quotes). */
static bool
is_atext_phrase(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (!(c == ' ' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL))
			return false;
	}
	return true;
}

/* Bytes of the last line of @b so far. */
static size_t
line_len(const struct buf *b)
{
	const char *s = buf_str(b), *nl = NULL, *p;

	for (p = s; (p = strstr(p, "\r\n")) != NULL; p += 2)
		nl = p + 2;
	return strlen(nl != NULL ? nl : s);
}

/* "From: NAME <ADDR>" with the name quoted or encoded as it needs. */
static lethe_rc
add_from(struct buf *b, const char *name, const char *addr)
{
	lethe_rc rc = LETHE_OK;

	if (name == NULL || name[0] == '\0')
		return buf_addf(b, "From: %s\r\n", addr);
	rc = buf_adds(b, "From: ");
	if (is_ascii(name) && strlen(name) < 60 && strstr(name, "=?") == NULL) {
		if (is_atext_phrase(name) && name[0] != ' ') {
			rc = buf_adds(b, name);
		} else {
			const char *p;

			rc = buf_adds(b, "\"");
			for (p = name; *p != '\0' && rc == LETHE_OK; p++) {
				if (*p == '"' || *p == '\\')
					rc = buf_adds(b, "\\");
				if (rc == LETHE_OK)
					rc = buf_add(b, p, 1);
			}
			if (rc == LETHE_OK)
				rc = buf_adds(b, "\"");
		}
	} else if (rc == LETHE_OK) {
		rc = add_encoded_words(b, name);
	}
	if (rc == LETHE_OK)
		rc = buf_addf(b, "%s<%s>\r\n", line_len(b) + 2 + strlen(addr) > 78 ? "\r\n " : " ",
		              addr);
	return rc;
}

/* The RFC 5322 date of @now (UTC): "Sun, 06 Dec 2026 20:30:47 +0000". */
static lethe_rc
add_date(struct buf *b, int64_t now)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)now;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	return buf_addf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday % 7],
	                tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
	                tm.tm_min, tm.tm_sec);
}

/* @n random bytes as lowercase hex into @out (2n+1 bytes). */
static void
rand_hex(char *out, size_t n)
{
	unsigned char r[32];

	rand_bytes(r, n);
	sodium_bin2hex(out, 2 * n + 1, r, n);
}

/*
 * @text as quoted-printable: line ends (LF or CRLF) become CRLF hard
 * breaks, long lines get "=" soft breaks so no line exceeds QP_LINE bytes.
 * Printable ASCII stays as is except '='; a space or tab before a line end,
 * a '.' or "From " at the start of a line are encoded too.
 */
static lethe_rc
add_qp(struct buf *b, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	lethe_rc rc = LETHE_OK;
	size_t col = 0;

	while (*p != '\0' && rc == LETHE_OK) {
		char enc[4];
		size_t n;
		bool eol_next;

		if (*p == '\r' && p[1] == '\n')
			p++;
		if (*p == '\n') {
			rc = buf_adds(b, "\r\n");
			col = 0;
			p++;
			continue;
		}
		eol_next = p[1] == '\0' || p[1] == '\n' || (p[1] == '\r' && p[2] == '\n');
		if ((*p >= 33 && *p <= 126 && *p != '=') ||
		    ((*p == ' ' || *p == '\t') && !eol_next)) {
			enc[0] = (char)*p;
			n = 1;
		} else {
			snprintf(enc, sizeof(enc), "=%02X", *p);
			n = 3;
		}
		if (col == 0 && n == 1 &&
		    (*p == '.' || (*p == 'F' && strncmp((const char *)p, "From ", 5) == 0))) {
			snprintf(enc, sizeof(enc), "=%02X", *p);
			n = 3;
		}
		/* Keep room for the soft break "=" unless this is the line's last character. */
		if (col + n > (eol_next ? QP_LINE : QP_LINE - 1)) {
			rc = buf_adds(b, "=\r\n");
			col = 0;
			if (rc == LETHE_OK && n == 1 && (*p == '.' || *p == 'F')) {
				snprintf(enc, sizeof(enc), "=%02X", *p);
				n = 3;
			}
		}
		if (rc == LETHE_OK)
			rc = buf_add(b, enc, n);
		col += n;
		p++;
	}
	if (rc == LETHE_OK && col > 0)
		rc = buf_adds(b, "\r\n");
	return rc;
}

/*
 * True if @id may go into In-Reply-To and References: "<...>" of at most
 * MAIL_MSGID_MAX bytes, printable ASCII without space, one '<' and '>'.
 */
static bool
msgid_ok(const char *id)
{
	size_t n = strlen(id), i;

	if (n < 3 || n > MAIL_MSGID_MAX || id[0] != '<' || id[n - 1] != '>')
		return false;
	for (i = 1; i + 1 < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

/* One body part: its headers, a blank line, @body quoted-printable. */
static lethe_rc
add_part(struct buf *b, const char *ctype, const char *body)
{
	lethe_rc rc = buf_addf(b,
	                       "Content-Type: %s; charset=UTF-8\r\n"
	                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
	                       ctype);

	if (rc == LETHE_OK)
		rc = add_qp(b, body);
	return rc;
}

lethe_rc
mail_build(const struct mail_config *mc, const struct mail_msg *m, int64_t now, struct buf *b,
           struct lethe_err *err)
{
	char boundary[64], id[33];
	const char *domain;
	lethe_rc rc;

	if (!mail_address_ok(m->to))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "mail: the recipient is not an address "
		                     "lethe sends to");
	if (mc->from == NULL || !mail_address_ok(mc->from) ||
	    (mc->reply_to != NULL && !mail_address_ok(mc->reply_to)))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "mail: the From or Reply-To address is "
		                     "not valid");
	if (mc->from_name != NULL && !header_text_ok(mc->from_name))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "mail: the sender's name holds a control character or is "
		                     "not UTF-8");
	if (m->subject == NULL || !header_text_ok(m->subject) || strlen(m->subject) > SUBJECT_MAX)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "mail: the subject holds a control character, is not UTF-8 "
		                     "or is too long");
	if (m->text == NULL)
		return lethe_err_set(err, LETHE_E_INVALID, "mail: the message has no text");
	domain = strchr(mc->from, '@') + 1;
	rand_hex(id, 16);
	memcpy(boundary, "=_lethe_", 8);
	rand_hex(boundary + 8, 16);

	rc = add_date(b, now);
	if (rc == LETHE_OK)
		rc = add_from(b, mc->from_name, mc->from);
	if (rc == LETHE_OK)
		rc = buf_addf(b, "To: %s\r\n", m->to);
	if (rc == LETHE_OK && mc->reply_to != NULL)
		rc = buf_addf(b, "Reply-To: %s\r\n", mc->reply_to);
	if (rc == LETHE_OK)
		rc = add_text_header(b, "Subject", m->subject);
	if (rc == LETHE_OK)
		rc = buf_addf(b,
		              "Message-ID: <%s@%s>\r\n"
		              "MIME-Version: 1.0\r\n"
		              "Auto-Submitted: %s\r\n",
		              id, domain, m->auto_reply ? "auto-replied" : "auto-generated");
	/* The id comes from someone else's mail: left out unless it is one clean line. */
	if (rc == LETHE_OK && m->in_reply_to != NULL && msgid_ok(m->in_reply_to))
		rc = buf_addf(b, "In-Reply-To: %s\r\nReferences: %s\r\n", m->in_reply_to,
		              m->in_reply_to);
	if (rc == LETHE_OK && m->html == NULL) {
		rc = add_part(b, "text/plain", m->text);
	} else if (rc == LETHE_OK) {
		rc = buf_addf(b,
		              "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n"
		              "This is a message in MIME format.\r\n\r\n--%s\r\n",
		              boundary, boundary);
		if (rc == LETHE_OK)
			rc = add_part(b, "text/plain", m->text);
		if (rc == LETHE_OK)
			rc = buf_addf(b, "\r\n--%s\r\n", boundary);
		if (rc == LETHE_OK)
			rc = add_part(b, "text/html", m->html);
		if (rc == LETHE_OK)
			rc = buf_addf(b, "\r\n--%s--\r\n", boundary);
	}
	if (rc != LETHE_OK)
		return lethe_err_set(err, rc, "mail: the message is too big");
	return LETHE_OK;
}
