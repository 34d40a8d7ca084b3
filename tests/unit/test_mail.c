/* SPDX-License-Identifier: MIT */
/*
 * test_mail.c - unit tests of the mail library: src/mail/message.c (the
 * address check, mail_build's headers and encodings, header injection
 * refused, quoted-printable decoded back by a decoder here, line lengths),
 * src/mail/mail_config.c through config_load() (defaults, every key, every
 * error at its line, secrets from a variable or a file), src/util/tplset.c
 * (the embedded table, an operator's override, an unknown or malformed
 * file), template_render_text(), and src/mail/templates.c (the check and
 * every notice rendered).
 *
 * Sending is tested against a real SMTP server by tests/e2e/test_mail_smtp.py.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "testutil.h"

#include "config/config.h"
#include "mail/mail.h"
#include "mail/templates.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/template.h"
#include "util/tplset.h"

#define NOW 1792627200 /* Thu, 22 Oct 2026 00:00:00 UTC */

/* ---- helpers ------------------------------------------------------------ */

/* A fresh temp directory (removed with tu_rm_rf). */
static void
tmpdir(char *out, size_t n)
{
	snprintf(out, n, TU_TMP_PREFIX "mail-XXXXXX");
	assert_non_null(mkdtemp(out));
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A sender for mail_build(): the strings are borrowed from static storage. */
static struct mail_config
sender(const char *name)
{
	struct mail_config mc;

	memset(&mc, 0, sizeof(mc));
	mc.enabled = true;
	mc.from = (char *)"privacy@example.com";
	mc.from_name = (char *)name;
	return mc;
}

/* mail_build() of the given parts; the caller frees @b. */
static lethe_rc
build(const struct mail_config *mc, const char *to, const char *subject, const char *text,
      const char *html, struct buf *b, struct lethe_err *err)
{
	struct mail_msg m = {.to = (char *)to,
	                     .subject = (char *)subject,
	                     .text = (char *)text,
	                     .html = (char *)html};

	buf_init(b, 1u << 20);
	memset(err, 0, sizeof(*err));
	return mail_build(mc, &m, NOW, b, err);
}

/* The header block of @msg (up to the first blank line), a fresh string. */
static char *
headers_of(const char *msg)
{
	const char *end = strstr(msg, "\r\n\r\n");

	assert_non_null(end);
	return xstrndup(msg, (size_t)(end - msg) + 2);
}

/* The value of header @name in @hdrs with folding undone, a fresh string, or NULL. */
static char *
header(const char *hdrs, const char *name)
{
	size_t n = strlen(name);
	const char *p = hdrs;
	struct buf b;
	char *res;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			buf_init(&b, 1u << 16);
			for (;;) {
				const char *eol = strstr(p, "\r\n");

				buf_add(&b, p, (size_t)(eol - p));
				p = eol + 2;
				if (*p != ' ' && *p != '\t')
					break;
			}
			res = xstrdup(buf_str(&b));
			buf_free(&b);
			return res;
		}
		p = strstr(p, "\r\n");
		if (p != NULL)
			p += 2;
	}
	return NULL;
}

/* RFC 2047 "B" words of @v decoded and concatenated (other text kept, spaces between words
 * dropped). */
static char *
decode_words(const char *v)
{
	struct buf b;
	char *res;

	buf_init(&b, 1u << 16);
	while (*v != '\0') {
		if (strncmp(v, "=?UTF-8?B?", 10) == 0) {
			const char *end = strstr(v + 10, "?=");
			unsigned char raw[256];
			size_t n = 0;

			assert_non_null(end);
			assert_true(end - v + 2 <= 75); /* RFC 2047: a word is at most 75 bytes */
			assert_int_equal(sodium_base642bin(raw, sizeof(raw), v + 10,
			                                   (size_t)(end - v - 10), NULL, &n, NULL,
			                                   sodium_base64_VARIANT_ORIGINAL),
			                 0);
			buf_add(&b, raw, n);
			v = end + 2;
			while (*v == ' ' && strncmp(v + 1, "=?UTF-8?B?", 10) == 0)
				v++;
			continue;
		}
		buf_add(&b, v, 1);
		v++;
	}
	res = xstrdup(buf_str(&b));
	buf_free(&b);
	return res;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Quoted-printable @qp (RFC 2045) decoded, hard line breaks as "\n"; fails
 * the test on a malformed escape or a line over 76 bytes.
 */
static char *
qp_decode(const char *qp, size_t len)
{
	struct buf b;
	size_t i = 0, col = 0;
	char *res;

	buf_init(&b, 1u << 20);
	while (i < len) {
		if (qp[i] == '\r') {
			assert_true(i + 1 < len && qp[i + 1] == '\n');
			buf_adds(&b, "\n");
			i += 2;
			col = 0;
			continue;
		}
		assert_true(qp[i] != '\n'); /* no bare LF */
		if (qp[i] == '=') {
			if (i + 2 < len && qp[i + 1] == '\r' && qp[i + 2] == '\n') {
				assert_true(col + 1 <= 76);
				i += 3;
				col = 0;
				continue;
			}
			assert_true(i + 2 < len);
			assert_true(hexval(qp[i + 1]) >= 0 && hexval(qp[i + 2]) >= 0);
			{
				char c = (char)(hexval(qp[i + 1]) * 16 + hexval(qp[i + 2]));

				buf_add(&b, &c, 1);
			}
			i += 3;
			col += 3;
		} else {
			/* Only printable ASCII, space and tab go as they are. */
			assert_true((qp[i] >= 33 && qp[i] <= 126) || qp[i] == ' ' || qp[i] == '\t');
			buf_add(&b, &qp[i], 1);
			i++;
			col++;
		}
		assert_true(col <= 76);
	}
	res = xstrdup(buf_str(&b));
	buf_free(&b);
	return res;
}

/* The body of the part after "Content-Type: @ctype" in @msg, up to @end_mark, decoded. */
static char *
part_body(const char *msg, const char *ctype, const char *end_mark)
{
	char want[128];
	const char *p, *body, *end;

	snprintf(want, sizeof(want), "Content-Type: %s; charset=UTF-8\r\n", ctype);
	p = strstr(msg, want);
	assert_non_null(p);
	body = strstr(p, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	end = end_mark != NULL ? strstr(body, end_mark) : body + strlen(body);
	assert_non_null(end);
	return qp_decode(body, (size_t)(end - body));
}

/* Every line of @msg ends in CRLF and is at most @max bytes. */
static void
assert_lines(const char *msg, size_t max)
{
	const char *p = msg;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");

		assert_non_null(eol);
		assert_null(memchr(p, '\n', (size_t)(eol - p)));
		if ((size_t)(eol - p) > max)
			fail_msg("line of %zu bytes (max %zu): %.*s", (size_t)(eol - p), max,
			         (int)(eol - p), p);
		p = eol + 2;
	}
}

/* ---- addresses ------------------------------------------------------------ */

static void
test_mail_address_ok(void **state)
{
	char long_addr[300];

	(void)state;
	assert_true(mail_address_ok("a@b"));
	assert_true(mail_address_ok("jane.doe+privacy@example.co.uk"));
	assert_true(mail_address_ok("o'brien@example.com"));
	assert_false(mail_address_ok(NULL));
	assert_false(mail_address_ok(""));
	assert_false(mail_address_ok("a@"));
	assert_false(mail_address_ok("@b.c"));
	assert_false(mail_address_ok("noat"));
	assert_false(mail_address_ok("a@b@c"));
	assert_false(mail_address_ok("a b@c.d"));
	assert_false(mail_address_ok("a@c.d\r\nBcc: x@y.z"));
	assert_false(mail_address_ok("a@c.d\n"));
	assert_false(mail_address_ok("a\t@c.d"));
	assert_false(mail_address_ok("<a@c.d>"));
	assert_false(mail_address_ok("a@c.d,b@e.f"));
	assert_false(mail_address_ok("\"a\"@c.d"));
	assert_false(mail_address_ok("a@c.d\x7f"));
	assert_false(mail_address_ok("j\xc3\xb6rg@example.com")); /* no SMTPUTF8 */
	memset(long_addr, 'a', sizeof(long_addr));
	memcpy(long_addr + 240, "@example.com", 13); /* 252 bytes */
	assert_true(mail_address_ok(long_addr));
	memset(long_addr, 'a', sizeof(long_addr));
	memcpy(long_addr + 243, "@example.com", 13); /* 255 bytes */
	assert_false(mail_address_ok(long_addr));
}

/* ---- mail_build ------------------------------------------------------------ */

static void
test_mail_build_headers(void **state)
{
	struct mail_config mc = sender("Example privacy team");
	struct lethe_err err;
	struct buf b, b2;
	char *h, *v, *text, *html, *boundary, *mark;

	(void)state;
	mc.reply_to = (char *)"help@example.com";
	assert_int_equal(build(&mc, "jane@example.org", "Your request is scheduled",
	                       "Hello,\nline two\n", "<p>Hello &amp; welcome</p>\n", &b, &err),
	                 LETHE_OK);
	assert_lines(b.data, 998);
	h = headers_of(b.data);
	assert_lines(h, 78); /* RFC 5322's recommended line length */
	v = header(h, "Date");
	assert_string_equal(v, "Thu, 22 Oct 2026 00:00:00 +0000");
	free(v);
	v = header(h, "From");
	assert_string_equal(v, "Example privacy team <privacy@example.com>");
	free(v);
	v = header(h, "To");
	assert_string_equal(v, "jane@example.org");
	free(v);
	v = header(h, "Reply-To");
	assert_string_equal(v, "help@example.com");
	free(v);
	v = header(h, "Subject");
	assert_string_equal(v, "Your request is scheduled");
	free(v);
	v = header(h, "MIME-Version");
	assert_string_equal(v, "1.0");
	free(v);
	v = header(h, "Auto-Submitted");
	assert_string_equal(v, "auto-generated");
	free(v);
	/* Message-ID: <32 random hex digits @ the From domain>. */
	v = header(h, "Message-ID");
	assert_int_equal(strlen(v), 1 + 32 + 1 + strlen("example.com") + 1);
	assert_int_equal(v[0], '<');
	assert_int_equal(strspn(v + 1, "0123456789abcdef"), 32);
	assert_string_equal(v + 33, "@example.com>");
	free(v);
	v = header(h, "Content-Type");
	assert_non_null(strstr(v, "multipart/alternative; boundary=\""));
	boundary = xstrndup(strchr(v, '"') + 1, strlen(strchr(v, '"') + 1) - 1);
	assert_true(strlen(boundary) >= 24);
	free(v);
	/* Text first, then HTML, each quoted-printable UTF-8, then the closing boundary. */
	mark = xasprintf("\r\n--%s", boundary);
	text = part_body(b.data, "text/plain", mark);
	html = part_body(b.data, "text/html", mark);
	assert_string_equal(text, "Hello,\nline two\n");
	assert_string_equal(html, "<p>Hello &amp; welcome</p>\n");
	assert_true(strstr(b.data, "text/plain") < strstr(b.data, "text/html"));
	free(mark);
	mark = xasprintf("\r\n--%s--\r\n", boundary);
	assert_non_null(strstr(b.data, mark));
	free(mark);
	free(text);
	free(html);
	/* Another message: another boundary and Message-ID. */
	assert_int_equal(build(&mc, "jane@example.org", "s", "t", "<p>h</p>", &b2, &err), LETHE_OK);
	assert_null(strstr(b2.data, boundary));
	v = header(h, "Message-ID");
	assert_null(strstr(b2.data, v));
	free(v);
	free(boundary);
	free(h);
	buf_free(&b);
	buf_free(&b2);
}

static void
test_mail_build_text_only(void **state)
{
	struct mail_config mc = sender(NULL);
	struct lethe_err err;
	struct buf b;
	char *h, *v, *text;

	(void)state;
	assert_int_equal(build(&mc, "jane@example.org", "Hi", "only text", NULL, &b, &err),
	                 LETHE_OK);
	h = headers_of(b.data);
	v = header(h, "From");
	assert_string_equal(v, "privacy@example.com");
	free(v);
	assert_null(header(h, "Reply-To"));
	v = header(h, "Content-Type");
	assert_string_equal(v, "text/plain; charset=UTF-8");
	free(v);
	v = header(h, "Content-Transfer-Encoding");
	assert_string_equal(v, "quoted-printable");
	free(v);
	assert_null(strstr(b.data, "multipart"));
	text = part_body(b.data, "text/plain", NULL);
	assert_string_equal(text, "only text\n");
	free(text);
	free(h);
	buf_free(&b);
}

/*
 * A reply (RFC 3834): Auto-Submitted: auto-replied, In-Reply-To and
 * References with the id it answers; an id that is not one clean <...>
 * (a line break, a space, a control character, over 250 bytes) is left
 * out and adds no header; a notice stays auto-generated with neither.
 */
static void
test_mail_build_reply_headers(void **state)
{
	static const char *const bad[] = {"<a@b>\r\nBcc: victim@example.net",
	                                  "<a b@c>",
	                                  "<a@b>\x01",
	                                  "a@b",
	                                  "<a@b",
	                                  "<>",
	                                  "",
	                                  "<a<b@c>"};
	struct mail_config mc = sender(NULL);
	struct mail_msg m = {0};
	struct lethe_err err = {0};
	struct buf b;
	char *h, *v, *long_id;
	size_t i;

	(void)state;
	m.to = (char *)"jane@example.org";
	m.subject = (char *)"Re: Account deletion";
	m.text = (char *)"hello";
	m.in_reply_to = (char *)"<CAF=abc.123@mail.example.org>";
	m.auto_reply = true;
	buf_init(&b, 1u << 20);
	assert_int_equal(mail_build(&mc, &m, NOW, &b, &err), LETHE_OK);
	h = headers_of(b.data);
	v = header(h, "Auto-Submitted");
	assert_string_equal(v, "auto-replied");
	free(v);
	v = header(h, "In-Reply-To");
	assert_string_equal(v, "<CAF=abc.123@mail.example.org>");
	free(v);
	v = header(h, "References");
	assert_string_equal(v, "<CAF=abc.123@mail.example.org>");
	free(v);
	v = header(h, "Subject");
	assert_string_equal(v, "Re: Account deletion");
	free(v);
	free(h);
	buf_free(&b);
	/* Ids that cannot go into a header: the reply goes without them. */
	long_id = xcalloc(1, 260);
	long_id[0] = '<';
	memset(long_id + 1, 'a', 248);
	long_id[249] = '>'; /* 250 bytes: still fine */
	m.in_reply_to = long_id;
	buf_init(&b, 1u << 20);
	assert_int_equal(mail_build(&mc, &m, NOW, &b, &err), LETHE_OK);
	h = headers_of(b.data);
	v = header(h, "In-Reply-To");
	assert_string_equal(v, long_id);
	free(v);
	free(h);
	buf_free(&b);
	long_id[249] = 'a';
	long_id[250] = '>'; /* 251 bytes: too long */
	buf_init(&b, 1u << 20);
	assert_int_equal(mail_build(&mc, &m, NOW, &b, &err), LETHE_OK);
	assert_null(strstr(b.data, "In-Reply-To"));
	buf_free(&b);
	free(long_id);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.in_reply_to = (char *)bad[i];
		buf_init(&b, 1u << 20);
		assert_int_equal(mail_build(&mc, &m, NOW, &b, &err), LETHE_OK);
		assert_null(strstr(b.data, "In-Reply-To"));
		assert_null(strstr(b.data, "References"));
		assert_null(strstr(b.data, "Bcc"));
		assert_non_null(strstr(b.data, "Auto-Submitted: auto-replied\r\n"));
		buf_free(&b);
	}
	/* Not a reply: auto-generated, no reference. */
	m.in_reply_to = NULL;
	m.auto_reply = false;
	buf_init(&b, 1u << 20);
	assert_int_equal(mail_build(&mc, &m, NOW, &b, &err), LETHE_OK);
	assert_non_null(strstr(b.data, "Auto-Submitted: auto-generated\r\n"));
	assert_null(strstr(b.data, "auto-replied"));
	assert_null(strstr(b.data, "In-Reply-To"));
	buf_free(&b);
	/* mail_msg_free() frees the id. */
	m.to = xstrdup("jane@example.org");
	m.subject = xstrdup("x");
	m.text = xstrdup("y");
	m.in_reply_to = xstrdup("<a@b>");
	mail_msg_free(&m);
	assert_null(m.in_reply_to);
}

/* Non-ASCII subject and name: RFC 2047 words that decode back; a quoted ASCII name. */
static void
test_mail_build_encoded_words(void **state)
{
	const char *subject = "Votre demande à Exämple est programmée — merci, "
	                      "et une ligne assez longue pour être coupée en plusieurs mots";
	struct mail_config mc = sender("Équipe \"vie privée\"");
	struct lethe_err err;
	struct buf b;
	char *h, *v, *d;

	(void)state;
	assert_int_equal(build(&mc, "jane@example.org", subject, "x", NULL, &b, &err), LETHE_OK);
	assert_lines(b.data, 998);
	h = headers_of(b.data);
	/* Header lines are 7-bit. */
	for (v = h; *v != '\0'; v++)
		assert_true((unsigned char)*v < 0x80);
	v = header(h, "Subject");
	d = decode_words(v);
	assert_string_equal(d, subject);
	free(d);
	free(v);
	v = header(h, "From");
	d = decode_words(v);
	assert_string_equal(d, "Équipe \"vie privée\" <privacy@example.com>");
	free(d);
	free(v);
	free(h);
	buf_free(&b);

	/* ASCII name with specials: a quoted string with \" escapes. */
	mc = sender("Example, \"privacy\" team");
	assert_int_equal(build(&mc, "jane@example.org", "s", "x", NULL, &b, &err), LETHE_OK);
	h = headers_of(b.data);
	v = header(h, "From");
	assert_string_equal(v, "\"Example, \\\"privacy\\\" team\" <privacy@example.com>");
	free(v);
	free(h);
	buf_free(&b);

	/* A long ASCII subject is folded at spaces, lines near 78 bytes, and unfolds back. */
	mc = sender(NULL);
	subject = "Your request to Example Corporation International Holdings is scheduled and "
	          "will be carried out on the twentieth of November";
	assert_int_equal(build(&mc, "jane@example.org", subject, "x", NULL, &b, &err), LETHE_OK);
	h = headers_of(b.data);
	assert_lines(h, 78);
	v = header(h, "Subject");
	assert_string_equal(v, subject);
	free(v);
	free(h);
	buf_free(&b);

	/* Text that looks like an encoded word is encoded itself, so it reads back as written. */
	subject = "=?UTF-8?B?SGk=?= is not a word here";
	assert_int_equal(build(&mc, "jane@example.org", subject, "x", NULL, &b, &err), LETHE_OK);
	h = headers_of(b.data);
	v = header(h, "Subject");
	d = decode_words(v);
	assert_string_equal(d, subject);
	free(d);
	free(v);
	free(h);
	buf_free(&b);
}

/* Quoted-printable: UTF-8, '=', trailing spaces, long lines, dots and "From " decode back. */
static void
test_mail_build_qp_round_trip(void **state)
{
	struct mail_config mc = sender(NULL);
	struct lethe_err err;
	struct buf b, text;
	char *got;
	int i;

	(void)state;
	buf_init(&text, 1u << 16);
	buf_adds(&text, "Grüße aus Köln — ✓ 😀\n");
	buf_adds(&text, "a=b and =41 stay as written\n");
	buf_adds(&text, "trailing spaces   \n");
	buf_adds(&text, "trailing tab\t\n");
	buf_adds(&text, ".\n");
	buf_adds(&text, ".. a line that starts with dots\n");
	buf_adds(&text, "From here on, mbox would mangle this line\n");
	buf_adds(&text, "https://example.com/privacy/l/");
	for (i = 0; i < 6; i++)
		buf_adds(&text, "abcdefghijklmnopqrstuvwxyz234567");
	buf_adds(&text, "\n");
	for (i = 0; i < 40; i++)
		buf_adds(&text, "ééééé ");
	buf_adds(&text, "\n");
	for (i = 0; i < 300; i++)
		buf_adds(&text, "x");
	buf_adds(&text, "\r\nCRLF line\r\nno final line end");
	assert_int_equal(build(&mc, "jane@example.org", "s", buf_str(&text), NULL, &b, &err),
	                 LETHE_OK);
	assert_lines(b.data, 76);
	/* No line of the message starts with a '.' (SMTP's end of data) or "From ". */
	assert_null(strstr(b.data, "\r\n."));
	assert_null(strstr(b.data, "\r\nFrom "));
	got = part_body(b.data, "text/plain", NULL);
	{
		/* The decoder gives "\n" line ends; the input had some CRLF and no final one. */
		struct buf want;
		const char *p;

		buf_init(&want, 1u << 16);
		for (p = buf_str(&text); *p != '\0'; p++)
			if (!(*p == '\r' && p[1] == '\n'))
				buf_add(&want, p, 1);
		buf_adds(&want, "\n");
		assert_string_equal(got, buf_str(&want));
		buf_free(&want);
	}
	free(got);
	buf_free(&b);
	buf_free(&text);
}

/* Header injection: CR, LF or another control character in a header value is refused. */
static void
test_mail_build_injection_refused(void **state)
{
	static const char *const subjects[] = {
	    "Hi\r\nBcc: victim@example.net",
	    "Hi\nBcc: victim@example.net",
	    "Hi\rthere",
	    "tab\there",
	    "nul-less \x01 control",
	    "del \x7f",
	    "C1 \xc2\x85 next line",
	    "bad UTF-8 \xff\xfe",
	    "truncated \xc3",
	};
	static const char *const tos[] = {
	    "victim@example.net\r\nBcc: x@example.net",
	    "a@b.c\n",
	    "a@b.c>",
	    "<a@b.c",
	    "a@b.c, d@e.f",
	    "",
	    "a b@c.d",
	};
	struct mail_config mc = sender(NULL);
	struct lethe_err err;
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		assert_int_equal(build(&mc, "jane@example.org", subjects[i], "x", NULL, &b, &err),
		                 LETHE_E_INVALID);
		assert_null(strstr(err.msg, "victim"));
		buf_free(&b);
	}
	for (i = 0; i < sizeof(tos) / sizeof(tos[0]); i++) {
		assert_int_equal(build(&mc, tos[i], "s", "x", NULL, &b, &err), LETHE_E_INVALID);
		/* The error never holds the address. */
		assert_null(strstr(err.msg, "victim"));
		assert_null(strstr(err.msg, "@"));
		buf_free(&b);
	}
	mc = sender("Team\r\nBcc: victim@example.net");
	assert_int_equal(build(&mc, "jane@example.org", "s", "x", NULL, &b, &err), LETHE_E_INVALID);
	buf_free(&b);
	mc = sender(NULL);
	mc.reply_to = (char *)"help@example.com\r\nBcc: victim@example.net";
	assert_int_equal(build(&mc, "jane@example.org", "s", "x", NULL, &b, &err), LETHE_E_INVALID);
	buf_free(&b);
	/* Without a subject or text: refused, not a crash. */
	mc = sender(NULL);
	assert_int_equal(build(&mc, "jane@example.org", NULL, "x", NULL, &b, &err),
	                 LETHE_E_INVALID);
	buf_free(&b);
	assert_int_equal(build(&mc, "jane@example.org", "s", NULL, NULL, &b, &err),
	                 LETHE_E_INVALID);
	buf_free(&b);
}

static void
test_mail_msg_free(void **state)
{
	struct mail_msg m;

	(void)state;
	m.to = xstrdup("jane@example.org");
	m.subject = xstrdup("s");
	m.text = xstrdup("t");
	m.html = NULL;
	m.in_reply_to = NULL;
	m.auto_reply = false;
	mail_msg_free(&m);
	assert_null(m.to);
	assert_null(m.subject);
	assert_null(m.text);
	mail_msg_free(&m); /* twice is harmless */
}

/* ---- mail: in lethe.yaml ------------------------------------------------------ */

#define CONFIG_HEAD "app: {database: app.db}\ndatamap: datamap.yaml\n"

/* Write CONFIG_HEAD + @rest as @dir/lethe.yaml and config_load() it. */
static lethe_rc
load(const char *dir, const char *rest, struct lethe_config *cfg, struct lethe_err *err)
{
	char path[512];

	write_file(dir, "lethe.yaml", CONFIG_HEAD);
	snprintf(path, sizeof(path), "%s/lethe.yaml", dir);
	{
		FILE *f = fopen(path, "a");

		assert_non_null(f);
		fputs(rest, f);
		fclose(f);
	}
	memset(err, 0, sizeof(*err));
	return config_load(cfg, path, err);
}

/* @rest must fail with LETHE_E_CONFIG at its "# HERE" line (0: no line check), @what in it. */
static void
load_fails(const char *dir, const char *rest, const char *what)
{
	struct lethe_config cfg;
	struct lethe_err err;
	const char *at = strstr(rest, "# HERE"), *p;
	char want[64];
	int line = 3;
	lethe_rc rc;

	rc = load(dir, rest, &cfg, &err);
	config_free(&cfg);
	if (rc == LETHE_OK)
		fail_msg("the configuration loaded, expected an error with '%s':\n%s", what, rest);
	assert_int_equal(rc, LETHE_E_CONFIG);
	if (at != NULL) {
		for (p = rest; p < at; p++)
			if (*p == '\n')
				line++;
		snprintf(want, sizeof(want), "lethe.yaml:%d: ", line);
		if (strstr(err.msg, want) == NULL)
			fail_msg("expected the error at line %d, got: %s", line, err.msg);
	}
	if (strstr(err.msg, what) == NULL)
		fail_msg("expected '%s' in: %s", what, err.msg);
}

static void
test_mail_config_defaults(void **state)
{
	struct lethe_config cfg;
	struct lethe_err err;
	char dir[64];

	(void)state;
	tmpdir(dir, sizeof(dir));
	/* No mail: section: disabled, the defaults still readable. */
	assert_int_equal(load(dir, "", &cfg, &err), LETHE_OK);
	assert_false(cfg.mail.enabled);
	assert_int_equal(cfg.mail.line, 0);
	assert_string_equal(cfg.mail.identity, "email");
	assert_null(cfg.templates_dir);
	assert_int_equal(config_load_secrets(&cfg, &err), LETHE_OK);
	config_free(&cfg);

	assert_int_equal(load(dir,
	                      "mail:\n"
	                      "  url: smtp://127.0.0.1:2525\n"
	                      "  from: privacy@example.com\n",
	                      &cfg, &err),
	                 LETHE_OK);
	assert_true(cfg.mail.enabled);
	assert_int_equal(cfg.mail.line, 3);
	assert_string_equal(cfg.mail.url, "smtp://127.0.0.1:2525");
	assert_string_equal(cfg.mail.from, "privacy@example.com");
	assert_null(cfg.mail.from_name);
	assert_null(cfg.mail.reply_to);
	assert_int_equal(cfg.mail.starttls, MAIL_TLS_REQUIRED);
	assert_null(cfg.mail.ca_file);
	assert_int_equal(cfg.mail.connect_timeout_ms, 10000);
	assert_int_equal(cfg.mail.timeout_ms, 60000);
	assert_int_equal(cfg.mail.backoff_base_ms, 30000);
	assert_int_equal(cfg.mail.backoff_cap_ms, 3600000);
	assert_int_equal(cfg.mail.max_attempts, 10);
	assert_int_equal(cfg.mail.max_age_s, 3 * 86400);
	assert_int_equal(cfg.mail.link_ttl_s, 86400);
	assert_string_equal(cfg.mail.identity, "email");
	assert_int_equal(config_load_secrets(&cfg, &err), LETHE_OK);
	assert_null(cfg.mail.user);
	assert_null(cfg.mail.password);
	config_free(&cfg);
	tu_rm_rf(dir);
}

static void
test_mail_config_every_key(void **state)
{
	struct lethe_config cfg;
	struct lethe_err err;
	char dir[64], want[256];

	(void)state;
	tmpdir(dir, sizeof(dir));
	snprintf(want, sizeof(want), "%s/tpl", dir);
	assert_int_equal(mkdir(want, 0700), 0);
	write_file(dir, "smtp-password", "s3cret pass\n");
	snprintf(want, sizeof(want), "%s/smtp-password", dir);
	assert_int_equal(chmod(want, 0600), 0);
	setenv("LETHE_TEST_SMTP_USER", "mailer", 1);
	assert_int_equal(load(dir,
	                      "server:\n"
	                      "  templates: tpl\n"
	                      "mail:\n"
	                      "  url: smtps://mail.example.com:465\n"
	                      "  from: privacy@example.com\n"
	                      "  from_name: Example privacy team\n"
	                      "  reply_to: help@example.com\n"
	                      "  starttls: optional\n"
	                      "  ca_file: ca.pem\n"
	                      "  user_env: LETHE_TEST_SMTP_USER\n"
	                      "  password_file: smtp-password\n"
	                      "  connect_timeout: 500ms\n"
	                      "  timeout: 2m\n"
	                      "  backoff_base: 5s\n"
	                      "  backoff_cap: 10m\n"
	                      "  max_attempts: 3\n"
	                      "  max_age: 1d\n"
	                      "  link_ttl: 2h\n"
	                      "  identity: mail\n",
	                      &cfg, &err),
	                 LETHE_OK);
	snprintf(want, sizeof(want), "%s/tpl", dir);
	assert_string_equal(cfg.templates_dir, want);
	assert_string_equal(cfg.mail.url, "smtps://mail.example.com:465");
	assert_string_equal(cfg.mail.from_name, "Example privacy team");
	assert_string_equal(cfg.mail.reply_to, "help@example.com");
	assert_int_equal(cfg.mail.starttls, MAIL_TLS_OPTIONAL);
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	assert_string_equal(cfg.mail.ca_file, want);
	assert_string_equal(cfg.mail.user_env, "LETHE_TEST_SMTP_USER");
	snprintf(want, sizeof(want), "%s/smtp-password", dir);
	assert_string_equal(cfg.mail.password_file, want);
	assert_int_equal(cfg.mail.connect_timeout_ms, 500);
	assert_int_equal(cfg.mail.timeout_ms, 120000);
	assert_int_equal(cfg.mail.backoff_base_ms, 5000);
	assert_int_equal(cfg.mail.backoff_cap_ms, 600000);
	assert_int_equal(cfg.mail.max_attempts, 3);
	assert_int_equal(cfg.mail.max_age_s, 86400);
	assert_int_equal(cfg.mail.link_ttl_s, 7200);
	assert_string_equal(cfg.mail.identity, "mail");
	/* The secrets are read at config_load_secrets(), not before. */
	assert_null(cfg.mail.user);
	assert_int_equal(config_load_secrets(&cfg, &err), LETHE_OK);
	assert_string_equal(cfg.mail.user, "mailer");
	assert_string_equal(cfg.mail.password, "s3cret pass"); /* the final newline dropped */
	config_free(&cfg);

	/* A missing variable or file is named, its content never. */
	unsetenv("LETHE_TEST_SMTP_USER");
	assert_int_equal(load(dir,
	                      "mail:\n"
	                      "  url: smtp://127.0.0.1\n"
	                      "  from: privacy@example.com\n"
	                      "  user_env: LETHE_TEST_SMTP_USER\n"
	                      "  password_file: smtp-password\n",
	                      &cfg, &err),
	                 LETHE_OK);
	assert_int_equal(config_load_secrets(&cfg, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "LETHE_TEST_SMTP_USER"));
	assert_null(cfg.mail.user);
	config_free(&cfg);
	setenv("LETHE_TEST_SMTP_USER", "mailer", 1);
	assert_int_equal(load(dir,
	                      "mail:\n"
	                      "  url: smtp://127.0.0.1\n"
	                      "  from: privacy@example.com\n"
	                      "  user_env: LETHE_TEST_SMTP_USER\n"
	                      "  password_file: no-such-file\n",
	                      &cfg, &err),
	                 LETHE_OK);
	assert_int_equal(config_load_secrets(&cfg, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "no-such-file"));
	assert_null(strstr(err.msg, "mailer"));
	config_free(&cfg);
	unsetenv("LETHE_TEST_SMTP_USER");
	tu_rm_rf(dir);
}

static void
test_mail_config_errors(void **state)
{
	char dir[64];

	(void)state;
	tmpdir(dir, sizeof(dir));
	write_file(dir, "not-a-dir", "x");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  password: hunter2 # HERE\n",
	           "mail.password: the SMTP password is not written in lethe.yaml");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  user: bob # HERE\n",
	           "mail.user: the SMTP user is not written in lethe.yaml");
	load_fails(dir, "mail: {password: x} # HERE\n", "password_env");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  colour: blue # HERE\n",
	           "unknown key 'colour'");
	load_fails(dir, "mail: # HERE\n  from: a@b.c\n", "url is missing");
	load_fails(dir, "mail:\n  url: http://h # HERE\n  from: a@b.c\n",
	           "url must be smtp://HOST[:PORT] or smtps://HOST[:PORT]");
	load_fails(dir, "mail:\n  url: smtp://bob:hunter2@h # HERE\n  from: a@b.c\n",
	           "no user or password in it");
	load_fails(dir, "mail:\n  url: smtp:// # HERE\n  from: a@b.c\n", "url must be");
	load_fails(dir, "mail: # HERE\n  url: smtp://h\n", "from is missing");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: not-an-address # HERE\n",
	           "from must be an email address");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  reply_to: x y@z # HERE\n",
	           "reply_to must be an email address");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  starttls: maybe # HERE\n",
	           "starttls must be required, optional or off");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  timeout: soon # HERE\n",
	           "mail.timeout must be a duration");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  connect_timeout: 0 # HERE\n",
	           "mail.connect_timeout must be a duration");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  link_ttl: -1h # HERE\n",
	           "mail.link_ttl must be a duration");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  max_age: x # HERE\n",
	           "mail.max_age must be a duration");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  max_attempts: 0 # HERE\n",
	           "mail.max_attempts must be an integer from 1");
	load_fails(dir,
	           "mail: # HERE\n  url: smtp://h\n  from: a@b.c\n  backoff_base: 1h\n"
	           "  backoff_cap: 1m\n",
	           "backoff_cap must be at least backoff_base");
	load_fails(dir,
	           "mail:\n  url: smtp://h\n  from: a@b.c\n  password_env: P\n"
	           "  password_file: p # HERE\n",
	           "give password_env or password_file, not both");
	load_fails(dir, "mail: # HERE\n  url: smtp://h\n  from: a@b.c\n  user_env: U\n",
	           "user_* and password_* go together");
	load_fails(dir, "mail:\n  url: smtp://h\n  from: a@b.c\n  identity: '' # HERE\n",
	           "mail.identity must be a non-empty value");
	load_fails(dir, "mail: [smtp] # HERE\n", "mail must be a mapping");
	load_fails(dir, "server:\n  templates: no-such-dir # HERE\n", "server.templates: ");
	load_fails(dir, "server:\n  templates: not-a-dir # HERE\n", "is not a directory");
	tu_rm_rf(dir);
}

/* ---- templates ------------------------------------------------------------ */

static void
test_template_render_text(void **state)
{
	struct tpl_ctx ctx;
	struct lethe_err err = {0};
	char *html, *text;

	(void)state;
	tpl_ctx_init(&ctx);
	tpl_ctx_add_str(&ctx, "reason", "Tom & Jerry's <b>\"deal\"</b>");
	html = template_render("{{reason}}|{{{reason}}}", &ctx, &err);
	text = template_render_text("{{reason}}|{{{reason}}}{{#reason}}!{{/reason}}", &ctx, &err);
	assert_string_equal(html, "Tom &amp; Jerry&#39;s &lt;b&gt;&quot;deal&quot;&lt;/b&gt;|"
	                          "Tom & Jerry's <b>\"deal\"</b>");
	assert_string_equal(text, "Tom & Jerry's <b>\"deal\"</b>|Tom & Jerry's <b>\"deal\"</b>!");
	free(html);
	free(text);
	/* Malformed: the same error as template_render(). */
	assert_null(template_render_text("a\n{{#x}}", &ctx, &err));
	assert_int_equal(err.rc, LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "template:2:"));
	tpl_ctx_free(&ctx);
}

static void
test_tplset_builtin(void **state)
{
	struct tplset *t = NULL;
	struct lethe_err err = {0};
	size_t i, n = 0;
	extern const char web_status_html[];

	(void)state;
	for (i = 0; tplset_builtin[i].name != NULL; i++) {
		assert_non_null(tplset_builtin[i].text);
		assert_true(tplset_builtin[i].name[0] != '/');
		n++;
	}
	assert_true(n >= 23);
	assert_int_equal(tplset_load(NULL, &t, &err), LETHE_OK);
	/* Today's symbols are the same texts. */
	assert_ptr_equal(tplset_get(t, "status.html"), web_status_html);
	assert_non_null(tplset_get(t, "not_found.html"));
	assert_non_null(tplset_get(t, "style.css"));
	assert_non_null(tplset_get(t, "mail/scheduled.txt"));
	assert_non_null(tplset_get(t, "mail/scheduled.html"));
	assert_null(tplset_get(t, "mail/nope.txt"));
	assert_null(tplset_get(t, "web/status.html"));
	assert_false(tplset_custom(t, "status.html"));
	assert_int_equal(mail_templates_check(t, &err), LETHE_OK);
	tplset_free(t);
	tplset_free(NULL);
}

static void
test_tplset_override(void **state)
{
	struct tplset *t = NULL;
	struct lethe_err err = {0};
	char dir[64], sub[96], want[160];

	(void)state;
	tmpdir(dir, sizeof(dir));
	snprintf(sub, sizeof(sub), "%s/mail", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file(dir, "mail/scheduled.txt",
	           "Subject: Ihre Anfrage an {{app_label}}\n\nHallo, {{link_url}}\n");
	write_file(dir, "not_found.html", "<p>Weg.</p>\n");
	assert_int_equal(tplset_load(dir, &t, &err), LETHE_OK);
	assert_string_equal(tplset_get(t, "not_found.html"), "<p>Weg.</p>\n");
	assert_true(tplset_custom(t, "not_found.html"));
	assert_true(tplset_custom(t, "mail/scheduled.txt"));
	assert_false(tplset_custom(t, "mail/scheduled.html"));
	assert_false(tplset_custom(t, "status.html"));
	assert_int_equal(mail_templates_check(t, &err), LETHE_OK);
	{
		struct mail_msg m = {0};
		struct tpl_ctx ctx;

		tpl_ctx_init(&ctx);
		tpl_ctx_add_str(&ctx, "app_label", "Exämple");
		tpl_ctx_add_str(&ctx, "link_url", "https://x.example/privacy/l/abc");
		assert_int_equal(mail_templates_render(t, "scheduled", &ctx, &m, &err), LETHE_OK);
		assert_string_equal(m.subject, "Ihre Anfrage an Exämple");
		assert_string_equal(m.text, "Hallo, https://x.example/privacy/l/abc\n");
		assert_non_null(strstr(m.html, "lang=\"en\"")); /* the embedded one */
		mail_msg_free(&m);
		tpl_ctx_free(&ctx);
	}
	tplset_free(t);

	/* A file lethe does not know (a typo) is refused by name. */
	write_file(dir, "mail/sheduled.txt", "Subject: x\n\ny\n");
	assert_int_equal(tplset_load(dir, &t, &err), LETHE_E_CONFIG);
	assert_null(t);
	snprintf(want, sizeof(want), "%s/mail/sheduled.txt: not a template lethe uses", dir);
	assert_string_equal(err.msg, want);
	snprintf(want, sizeof(want), "%s/mail/sheduled.txt", dir);
	unlink(want);
	/* So is a file in a directory lethe does not know. */
	snprintf(sub, sizeof(sub), "%s/images", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file(dir, "images/logo.png", "PNG");
	assert_int_equal(tplset_load(dir, &t, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "/images/logo.png: not a template lethe uses"));
	snprintf(want, sizeof(want), "%s/images/logo.png", dir);
	unlink(want);
	rmdir(sub);

	/* A malformed template: its file and line. */
	write_file(dir, "mail/refused.html", "<p>\n{{#reason}}\n</p>\n");
	assert_int_equal(tplset_load(dir, &t, &err), LETHE_E_CONFIG);
	snprintf(want, sizeof(want), "%s/mail/refused.html:2: ", dir);
	if (strstr(err.msg, want) == NULL)
		fail_msg("expected '%s' in: %s", want, err.msg);
	assert_non_null(strstr(err.msg, "never closed"));
	write_file(dir, "mail/refused.html", "<p>{{reason}}</p>\n");

	/* A .txt without its Subject line: mail_templates_check() names the file. */
	write_file(dir, "mail/refused.txt", "Hello\n\nbody\n");
	assert_int_equal(tplset_load(dir, &t, &err), LETHE_OK);
	assert_int_equal(mail_templates_check(t, &err), LETHE_E_CONFIG);
	assert_string_equal(err.msg, "mail/refused.txt:1: the first line must be \"Subject: ...\"");
	tplset_free(t);
	write_file(dir, "mail/refused.txt", "Subject: x\nno blank line\n");
	assert_int_equal(tplset_load(dir, &t, &err), LETHE_OK);
	assert_int_equal(mail_templates_check(t, &err), LETHE_E_CONFIG);
	assert_non_null(strstr(err.msg, "mail/refused.txt:2: a blank line"));
	tplset_free(t);
	write_file(dir, "mail/refused.txt", "Subject: x\n\nline 3\n{{^a}}\n");
	assert_int_equal(tplset_load(dir, &t, &err), LETHE_E_CONFIG);
	snprintf(want, sizeof(want), "%s/mail/refused.txt:4: ", dir);
	if (strstr(err.msg, want) == NULL)
		fail_msg("expected '%s' in: %s", want, err.msg);
	tu_rm_rf(dir);
}

/* A context as the service fills it for a completed request with kept records. */
static void
fill_ctx(struct tpl_ctx *ctx)
{
	struct tpl_ctx *c;

	tpl_ctx_add_str(ctx, "app_name", "Exämple & Co");
	tpl_ctx_add_str(ctx, "app_label", "Exämple & Co");
	tpl_ctx_add_str(ctx, "contact", "privacy@example.com");
	tpl_ctx_add_str(ctx, "contact_href", "mailto:privacy@example.com");
	tpl_ctx_add_str(ctx, "code", "ABCD2345EFGH");
	tpl_ctx_add_str(ctx, "code_grouped", "ABCD 2345 EFGH");
	tpl_ctx_add_bool(ctx, "erases_account", true);
	tpl_ctx_add_str(ctx, "status_url",
	                "https://privacy.example.com/data-deletion/status?id=ABCD2345EFGH");
	tpl_ctx_add_str(ctx, "link_url",
	                "https://privacy.example.com/privacy/l/abcdefghijklmnopqrstuvwxyz234567");
	tpl_ctx_add_str(ctx, "link_expires", "21 November 2026 at 09:30 UTC");
	tpl_ctx_add_bool(ctx, "has_grace", true);
	tpl_ctx_add_str(ctx, "grace_until", "20 December 2026 at 09:30 UTC");
	tpl_ctx_add_bool(ctx, "has_due", true);
	tpl_ctx_add_str(ctx, "due_at_date", "20 December 2026");
	tpl_ctx_add_bool(ctx, "has_completed_at", true);
	tpl_ctx_add_str(ctx, "completed_at_date", "22 November 2026");
	tpl_ctx_add_bool(ctx, "has_closed_at", true);
	tpl_ctx_add_str(ctx, "closed_at_date", "22 November 2026");
	tpl_ctx_add_bool(ctx, "has_request_reason", true);
	tpl_ctx_add_str(ctx, "request_reason", "We need <proof> & more");
	tpl_ctx_add_bool(ctx, "has_categories", true);
	tpl_ctx_add_bool(ctx, "has_retained", true);
	tpl_ctx_add_bool(ctx, "any_kept", true);
	c = tpl_ctx_add_item(ctx, "categories");
	tpl_ctx_add_str(c, "label", "Your profile");
	tpl_ctx_add_str(c, "deleted", "12");
	tpl_ctx_add_bool(c, "has_retained", false);
	c = tpl_ctx_add_item(ctx, "categories");
	tpl_ctx_add_str(c, "label", "Invoices");
	tpl_ctx_add_str(c, "deleted", "0");
	tpl_ctx_add_str(c, "retained", "3");
	tpl_ctx_add_bool(c, "has_retained", true);
	c = tpl_ctx_add_item(ctx, "retained");
	tpl_ctx_add_str(c, "label", "Invoices");
	tpl_ctx_add_str(c, "retained", "3");
	tpl_ctx_add_str(c, "reason", "Tax law keeps invoices for 10 years");
	tpl_ctx_add_bool(c, "has_retained_until", true);
	tpl_ctx_add_str(c, "retained_until", "22 November 2036");
}

/* Every notice renders: one-line subject, its facts in both parts, HTML escaped, text not. */
static void
test_mail_templates_every_notice(void **state)
{
	static const char *const all[] = {"address",
	                                  "awaiting_verification",
	                                  "scheduled",
	                                  "completed",
	                                  "completed_with_retention",
	                                  "refused",
	                                  "cancelled",
	                                  "failed",
	                                  "delayed",
	                                  "extended"};
	static const char *const with_link[] = {"address", "awaiting_verification", "scheduled"};
	struct tplset *t = NULL;
	struct lethe_err err = {0};
	struct tpl_ctx ctx;
	size_t i, j;

	(void)state;
	assert_int_equal(tplset_load(NULL, &t, &err), LETHE_OK);
	tpl_ctx_init(&ctx);
	fill_ctx(&ctx);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		struct mail_msg m = {0};
		bool link = false;

		assert_true(mail_notice_ok(all[i]));
		assert_non_null(strstr(MAIL_NOTICES, all[i]));
		if (mail_templates_render(t, all[i], &ctx, &m, &err) != LETHE_OK)
			fail_msg("%s: %s", all[i], err.msg);
		assert_null(m.to);
		assert_true(strlen(m.subject) > 10);
		assert_null(strpbrk(m.subject, "\r\n"));
		assert_non_null(strstr(m.subject, "Exämple & Co"));
		assert_null(strstr(m.text, "{{"));
		assert_null(strstr(m.html, "{{"));
		assert_non_null(strstr(m.text, "Exämple & Co"));
		assert_non_null(strstr(m.html, "Exämple &amp; Co"));
		assert_non_null(strstr(m.html, "<html lang=\"en\">"));
		assert_non_null(strstr(m.text, "privacy@example.com"));
		assert_non_null(strstr(m.html, "<a href=\"mailto:privacy@example.com\""));
		for (j = 0; j < sizeof(with_link) / sizeof(with_link[0]); j++)
			link = link || strcmp(with_link[j], all[i]) == 0;
		if (link) {
			assert_non_null(
			    strstr(m.text, "/privacy/l/abcdefghijklmnopqrstuvwxyz234567"));
			assert_non_null(strstr(
			    m.html, "href=\"https://privacy.example.com/privacy/l/abcdefghij"));
			assert_non_null(strstr(m.text, "21 November 2026 at 09:30 UTC"));
		} else {
			assert_null(strstr(m.text, "/privacy/l/"));
			assert_null(strstr(m.html, "/privacy/l/"));
		}
		/* The status page, except to a not yet confirmed address. */
		if (strcmp(all[i], "address") == 0) {
			assert_null(strstr(m.text, "status?id="));
			assert_null(strstr(m.text, "ABCD"));
		} else {
			assert_non_null(strstr(m.text, "/data-deletion/status?id=ABCD2345EFGH"));
			assert_non_null(strstr(m.html, "/data-deletion/status?id=ABCD2345EFGH"));
		}
		/* Built into a message: it passes mail_build's checks. */
		{
			struct mail_config mc = sender("Exämple");
			struct buf b;

			m.to = xstrdup("jane@example.org");
			buf_init(&b, 1u << 20);
			assert_int_equal(mail_build(&mc, &m, NOW, &b, &err), LETHE_OK);
			assert_lines(b.data, 998);
			buf_free(&b);
		}
		mail_msg_free(&m);
	}
	/* The facts of the notices that carry them. */
	{
		struct mail_msg m = {0};

		assert_int_equal(mail_templates_render(t, "scheduled", &ctx, &m, &err), LETHE_OK);
		assert_non_null(strstr(m.text, "20 December 2026 at 09:30 UTC"));
		mail_msg_free(&m);
		assert_int_equal(
		    mail_templates_render(t, "completed_with_retention", &ctx, &m, &err), LETHE_OK);
		assert_non_null(strstr(
		    m.text, "\n- Your profile: 12 deleted\n- Invoices: 0 deleted, 3 kept\n"));
		assert_non_null(strstr(m.text, "Invoices: Tax law keeps invoices for 10 years"));
		assert_non_null(strstr(m.text, "22 November 2036"));
		assert_non_null(strstr(m.html, "Tax law keeps invoices for 10 years"));
		mail_msg_free(&m);
		assert_int_equal(mail_templates_render(t, "refused", &ctx, &m, &err), LETHE_OK);
		assert_non_null(strstr(m.text, "We need <proof> & more"));
		assert_non_null(strstr(m.html, "We need &lt;proof&gt; &amp; more"));
		assert_null(strstr(m.html, "<proof>"));
		mail_msg_free(&m);
		assert_int_equal(mail_templates_render(t, "extended", &ctx, &m, &err), LETHE_OK);
		assert_non_null(strstr(m.text, "20 December 2026"));
		mail_msg_free(&m);
	}
	/* An unknown notice; a subject value with a line break. */
	{
		struct mail_msg m = {0};

		assert_false(mail_notice_ok("expired"));
		assert_false(mail_notice_ok(NULL));
		assert_int_equal(mail_templates_render(t, "expired", &ctx, &m, &err),
		                 LETHE_E_INVALID);
		tpl_ctx_add_str(&ctx, "app_label", "Evil\r\nBcc: victim@example.net");
		assert_int_equal(mail_templates_render(t, "scheduled", &ctx, &m, &err),
		                 LETHE_E_INVALID);
		assert_null(m.subject);
	}
	tpl_ctx_free(&ctx);
	tplset_free(t);
}

/*
 * Every reply renders and builds: one-line subject, no {{ left, the
 * app's name; reply_request and reply_review without any code or status
 * page, reply_request's words the same whatever was named; reply_status
 * the code asked about; reply_unmatched the self-service page when on,
 * else the subjects; reply_refused the reason; none holds an address
 * but the contact, and mail_templates_check() knows them.
 */
static void
test_mail_templates_replies(void **state)
{
	static const char *const all[] = {"reply_request", "reply_review", "reply_status",
	                                  "reply_unmatched", "reply_refused"};
	struct tplset *t = NULL;
	struct lethe_err err = {0};
	struct tpl_ctx ctx;
	struct mail_msg m = {0};
	size_t i;

	(void)state;
	assert_int_equal(tplset_load(NULL, &t, &err), LETHE_OK);
	assert_int_equal(mail_templates_check(t, &err), LETHE_OK);
	tpl_ctx_init(&ctx);
	fill_ctx(&ctx);
	tpl_ctx_add_bool(&ctx, "has_selfservice", true);
	tpl_ctx_add_str(&ctx, "selfservice_url", "https://privacy.example.com/privacy");
	tpl_ctx_add_str(&ctx, "reason", "too large (12.3 MB; at most 10 MB)");
	tpl_ctx_add_str(&ctx, "max_size", "10 MB");
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		struct mail_config mc = sender("Exämple");
		struct buf b;

		assert_true(mail_reply_ok(all[i]));
		assert_false(mail_notice_ok(all[i]));
		assert_non_null(strstr(MAIL_REPLIES, all[i]));
		if (mail_templates_render(t, all[i], &ctx, &m, &err) != LETHE_OK)
			fail_msg("%s: %s", all[i], err.msg);
		assert_null(strpbrk(m.subject, "\r\n"));
		assert_non_null(strstr(m.subject, "Exämple & Co"));
		assert_null(strstr(m.text, "{{"));
		assert_null(strstr(m.html, "{{"));
		assert_non_null(strstr(m.text, "privacy@example.com"));
		assert_non_null(strstr(m.html, "Exämple &amp; Co"));
		assert_null(strstr(m.text, "/privacy/l/")); /* never a link that acts */
		if (i == 2) {
			assert_non_null(strstr(m.text, "/data-deletion/status?id=ABCD2345EFGH"));
			assert_non_null(strstr(m.html, "/data-deletion/status?id=ABCD2345EFGH"));
			assert_non_null(strstr(m.text, "ABCD2345EFGH."));
		} else if (i < 2) {
			/* A reply to a request tells no code: it would tell whether one exists. */
			assert_null(strstr(m.text, "ABCD2345EFGH"));
			assert_null(strstr(m.html, "ABCD2345EFGH"));
			assert_null(strstr(m.text, "/data-deletion/status"));
		}
		m.to = xstrdup("jane@example.org");
		m.auto_reply = true;
		buf_init(&b, 1u << 20);
		assert_int_equal(mail_build(&mc, &m, NOW, &b, &err), LETHE_OK);
		assert_lines(b.data, 998);
		buf_free(&b);
		mail_msg_free(&m);
	}
	assert_int_equal(mail_templates_render(t, "reply_request", &ctx, &m, &err), LETHE_OK);
	assert_non_null(strstr(m.text, "If an account matches what you gave us"));
	assert_non_null(strstr(m.text, "address on file"));
	mail_msg_free(&m);
	assert_int_equal(mail_templates_render(t, "reply_refused", &ctx, &m, &err), LETHE_OK);
	assert_non_null(strstr(m.text, "too large (12.3 MB; at most 10 MB)"));
	assert_non_null(strstr(m.text, "https://privacy.example.com/privacy\n"));
	mail_msg_free(&m);
	assert_int_equal(mail_templates_render(t, "reply_unmatched", &ctx, &m, &err), LETHE_OK);
	assert_non_null(strstr(m.text, "https://privacy.example.com/privacy\n"));
	assert_null(strstr(m.text, "account deletion"));
	mail_msg_free(&m);
	/* The page off: the subjects the mailbox understands instead. */
	{
		struct tpl_ctx *it;

		tpl_ctx_add_bool(&ctx, "has_selfservice", false);
		tpl_ctx_add_bool(&ctx, "has_subjects", true);
		it = tpl_ctx_add_item(&ctx, "subjects");
		tpl_ctx_add_str(it, "subject", "account deletion");
		it = tpl_ctx_add_item(&ctx, "subjects");
		tpl_ctx_add_str(it, "subject", "data <deletion> request");
	}
	assert_int_equal(mail_templates_render(t, "reply_unmatched", &ctx, &m, &err), LETHE_OK);
	assert_null(strstr(m.text, "/privacy\n"));
	assert_non_null(strstr(m.text, "- account deletion\n- data <deletion> request\n"));
	assert_non_null(strstr(m.html, "<li>data &lt;deletion&gt; request</li>"));
	mail_msg_free(&m);
	tpl_ctx_free(&ctx);
	tplset_free(t);
}

/*
 * An export's notices: its completed notice renders mail/export_completed
 * (the ready mail: link, size, counts per category), the other notices
 * say "a copy of your data" and never that anything is deleted, and the
 * template-set check knows the kind's files.
 */
static void
test_mail_templates_export(void **state)
{
	static const char *const other[] = {"awaiting_verification",
	                                    "scheduled",
	                                    "cancelled",
	                                    "failed",
	                                    "delayed",
	                                    "extended",
	                                    "refused"};
	/* What an erasure's notices say, which would be untrue of an export. */
	static const char *const erasing[] = {"delete your data",   "close your account",
	                                      "nothing is deleted", "not delete your data",
	                                      "We will delete",     "deleting it now"};
	struct tplset *t = NULL;
	struct lethe_err err = {0};
	struct tpl_ctx ctx, *c;
	struct mail_msg m = {0};
	char dir[64], sub[96];
	size_t i, j;

	(void)state;
	assert_string_equal(mail_template_for("completed", "export"), "export_completed");
	assert_string_equal(mail_template_for("completed", "erasure"), "completed");
	assert_string_equal(mail_template_for("cancelled", "export"), "cancelled");
	assert_string_equal(mail_template_for("completed", NULL), "completed");
	assert_false(mail_notice_ok("export_completed")); /* a template, not a notice */
	assert_int_equal(tplset_load(NULL, &t, &err), LETHE_OK);
	assert_non_null(tplset_get(t, "mail/export_completed.txt"));
	assert_non_null(tplset_get(t, "mail/export_completed.html"));
	tpl_ctx_init(&ctx);
	fill_ctx(&ctx);
	tpl_ctx_add_bool(&ctx, "erases_account", false);
	tpl_ctx_add_bool(&ctx, "is_export", true);
	tpl_ctx_add_str(&ctx, "export_size", "1.2 MB");
	tpl_ctx_add_str(&ctx, "export_rows", "1,234");
	tpl_ctx_add_str(&ctx, "export_media", "7");
	tpl_ctx_add_bool(&ctx, "export_has_media", true);
	tpl_ctx_add_str(&ctx, "export_expires", "29 November 2026 at 09:30 UTC");
	tpl_ctx_add_bool(&ctx, "has_export_categories", true);
	c = tpl_ctx_add_item(&ctx, "export_categories");
	tpl_ctx_add_str(c, "label", "Posts <and> media");
	tpl_ctx_add_str(c, "rows", "1,200");
	tpl_ctx_add_str(c, "media", "7");
	tpl_ctx_add_bool(c, "has_media", true);
	assert_int_equal(mail_templates_render(t, "export_completed", &ctx, &m, &err), LETHE_OK);
	assert_non_null(strstr(m.subject, "ready"));
	assert_non_null(strstr(m.text, "/privacy/l/abcdefghijklmnopqrstuvwxyz234567"));
	assert_non_null(strstr(m.html, "href=\"https://privacy.example.com/privacy/l/abcdefghij"));
	assert_non_null(strstr(m.text, "1.2 MB"));
	assert_non_null(strstr(m.text, "29 November 2026 at 09:30 UTC"));
	assert_non_null(strstr(m.text, "- Posts <and> media: 1,200 records, 7 files"));
	assert_non_null(strstr(m.html, "Posts &lt;and&gt; media"));
	assert_null(strstr(m.text, "{{"));
	assert_null(strstr(m.text, "delete your data"));
	mail_msg_free(&m);
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		if (mail_templates_render(t, other[i], &ctx, &m, &err) != LETHE_OK)
			fail_msg("%s: %s", other[i], err.msg);
		if (strstr(m.text, "copy of your data") == NULL)
			fail_msg("%s says:\n%s", other[i], m.text);
		for (j = 0; j < sizeof(erasing) / sizeof(erasing[0]); j++)
			if (strstr(m.text, erasing[j]) != NULL ||
			    strstr(m.html, erasing[j]) != NULL)
				fail_msg("%s says \"%s\":\n%s", other[i], erasing[j], m.text);
		mail_msg_free(&m);
	}
	tpl_ctx_free(&ctx);
	tplset_free(t);

	/* An operator's export_completed.txt without its Subject line refuses the start. */
	tmpdir(dir, sizeof(dir));
	snprintf(sub, sizeof(sub), "%s/mail", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file(dir, "mail/export_completed.txt", "Hello\n\nbody\n");
	assert_int_equal(tplset_load(dir, &t, &err), LETHE_OK);
	assert_int_equal(mail_templates_check(t, &err), LETHE_E_CONFIG);
	assert_string_equal(err.msg,
	                    "mail/export_completed.txt:1: the first line must be \"Subject: ...\"");
	tplset_free(t);
	tu_rm_rf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mail_address_ok),
	    cmocka_unit_test(test_mail_build_headers),
	    cmocka_unit_test(test_mail_build_text_only),
	    cmocka_unit_test(test_mail_build_encoded_words),
	    cmocka_unit_test(test_mail_build_qp_round_trip),
	    cmocka_unit_test(test_mail_build_injection_refused),
	    cmocka_unit_test(test_mail_build_reply_headers),
	    cmocka_unit_test(test_mail_msg_free),
	    cmocka_unit_test(test_mail_config_defaults),
	    cmocka_unit_test(test_mail_config_every_key),
	    cmocka_unit_test(test_mail_config_errors),
	    cmocka_unit_test(test_template_render_text),
	    cmocka_unit_test(test_tplset_builtin),
	    cmocka_unit_test(test_tplset_override),
	    cmocka_unit_test(test_mail_templates_every_notice),
	    cmocka_unit_test(test_mail_templates_export),
	    cmocka_unit_test(test_mail_templates_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
