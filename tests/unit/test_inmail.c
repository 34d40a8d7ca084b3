/* SPDX-License-Identifier: MIT */
/*
 * test_inmail.c - unit tests of src/mail/inmail.c and html_text.c:
 * incoming mail parsed with GMime (loaded by mail/mime_lib.c) into the
 * strings the mailbox rules see.  Transfer encodings, charsets (a byte
 * a charset cannot decode as U+FFFD), RFC 2047 subjects,
 * multipart/alternative, HTML-only mail, attachments, forwarded mail,
 * robots, the envelope sender, the limits and broken mail, each asserted
 * on exact strings.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail/inmail.h"
#include "mail/textbuf.h"
#include "util/buf.h"
#include "util/mem.h"

static const struct mail_in_limits lim = {1024 * 1024, 100};

/* @lf (LF line ends) with CRLF line ends, as a new string. */
static char *
crlf(const char *lf)
{
	size_t n = strlen(lf), i, j = 0;
	char *s = xmalloc(2 * n + 1);

	for (i = 0; i < n; i++) {
		if (lf[i] == '\n')
			s[j++] = '\r';
		s[j++] = lf[i];
	}
	s[j] = '\0';
	return s;
}

/* Parse @raw (LF line ends, sent with CRLF) with the test limits; the result. */
static lethe_rc
parse(const char *raw, const char *envelope, struct mail_in *m)
{
	char *s = crlf(raw);
	struct lethe_err err;
	lethe_rc rc = mail_in_parse(s, strlen(s), envelope, &lim, m, &err);

	free(s);
	return rc;
}

/* Parse @raw, which must succeed, and check its text. */
static void
want_text(const char *raw, const char *text)
{
	struct mail_in m;

	assert_int_equal(parse(raw, NULL, &m), LETHE_OK);
	assert_string_equal(m.text, text);
	mail_in_free(&m);
}

#define HDR "From: Ada <ada@example.com>\nTo: privacy@example.com\nSubject: Hi\n"

static void
test_plain_ascii(void **state)
{
	struct mail_in m;

	(void)state;
	assert_int_equal(parse("Return-Path: <bounce@example.net>\n"
	                       "From: Ada Lovelace <ada@example.com>\n"
	                       "Reply-To: \"Help\" <help@example.org>, other@example.org\n"
	                       "To: Privacy <privacy@example.com>, b@example.com\n"
	                       "Date: Mon, 7 Dec 2026 05:00:00 +0000\n"
	                       "Message-ID: <abc.123@mail.example.com>\n"
	                       "Subject: Account deletion\n"
	                       "\n"
	                       "Please delete my account.\n"
	                       "Thanks\n",
	                       NULL, &m),
	                 LETHE_OK);
	assert_string_equal(m.from, "ada@example.com");
	assert_string_equal(m.reply_to, "help@example.org");
	assert_string_equal(m.return_path, "bounce@example.net");
	assert_string_equal(m.to, "Privacy <privacy@example.com>, b@example.com");
	assert_string_equal(m.date, "Mon, 7 Dec 2026 05:00:00 +0000");
	assert_string_equal(m.message_id, "abc.123@mail.example.com");
	assert_string_equal(m.subject, "Account deletion");
	assert_string_equal(m.text, "Please delete my account.\nThanks\n");
	assert_int_equal(m.robot, MAIL_IN_HUMAN);
	assert_int_equal(m.parts, 1);
	assert_int_equal(m.forwarded, 0);
	assert_false(m.from_html);
	assert_false(m.text_cut);
	assert_true(m.bytes > 100);
	mail_in_free(&m);
	assert_null(m.text);
}

static void
test_lf_only(void **state)
{
	const char *raw = HDR "\nline one\nline two\n";
	struct mail_in m;
	struct lethe_err err;

	(void)state;
	assert_int_equal(mail_in_parse(raw, strlen(raw), NULL, &lim, &m, &err), LETHE_OK);
	assert_string_equal(m.subject, "Hi");
	assert_string_equal(m.from, "ada@example.com");
	assert_string_equal(m.text, "line one\nline two\n");
	assert_null(m.return_path);
	mail_in_free(&m);
}

static void
test_quoted_printable(void **state)
{
	(void)state;
	want_text(HDR "Content-Type: text/plain; charset=utf-8\n"
	              "Content-Transfer-Encoding: quoted-printable\n\n"
	              "Caf=C3=A9 account name: j=C3=B6rg=5Fx, a long line that is =\n"
	              "continued here.\n",
	          "Café account name: jörg_x, a long line that is continued here.\n");
}

static void
test_base64(void **state)
{
	(void)state;
	want_text(HDR "Content-Type: text/plain; charset=us-ascii\n"
	              "Content-Transfer-Encoding: base64\n\n"
	              "SGVsbG8sCnBsZWFzZSBkZWxldGUgbXkgYWNjb3VudC4KVGhhbmtzCg==\n",
	          "Hello,\nplease delete my account.\nThanks\n");
}

static void
test_charsets(void **state)
{
	(void)state;
	want_text(HDR "Content-Type: text/plain; charset=ISO-8859-1\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "J\366rg M\374ller\n",
	          "Jörg Müller\n");
	want_text(HDR "Content-Type: text/plain; charset=windows-1252\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "\223quoted\224 \200 5\n",
	          "“quoted” € 5\n");
	want_text(HDR "Content-Type: text/plain; charset=koi8-r\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "\360\322\311\327\305\324, \325\304\301\314\311\324\305\n",
	          "Привет, удалите\n");
	want_text(HDR "Content-Type: text/plain; charset=ISO-2022-JP\n"
	              "Content-Transfer-Encoding: 7bit\n\n"
	              "\033$B$3$s$K$A$O!\042:o=|$7$F$/$@$5$$\033(B\n",
	          "こんにちは、削除してください\n");
	want_text(HDR "Content-Type: text/plain; charset=Shift_JIS\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "\202\261\202\361\202\311\202\277\202\315\n",
	          "こんにちは\n");
}

static void
test_unknown_charset(void **state)
{
	(void)state;
	/* Read as UTF-8: valid sequences kept, each invalid byte as U+FFFD. */
	want_text(HDR "Content-Type: text/plain; charset=x-no-such-charset\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "caf\303\251 J\366rg\n",
	          "café J\357\277\275rg\n");
	/* Bytes that are not UTF-8 in a part that says UTF-8: each one U+FFFD, none dropped. */
	want_text(HDR "Content-Type: text/plain; charset=utf-8\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "a\377b\300\257c\355\240\200d\n",
	          "a\357\277\275b\357\277\275\357\277\275c"
	          "\357\277\275\357\277\275\357\277\275d\n");
	/* No charset parameter (us-ascii by RFC 2045): 8-bit bytes reach the check. */
	want_text(HDR "\nJ\366rg \303\251\n", "J\357\277\275rg \303\251\n");
}

/*
 * A byte the part's charset cannot decode becomes U+FFFD, never nothing:
 * GMime's charset filter dropped it, so a Latin-1 "M\374ller" in a part
 * labelled UTF-8 read "Mller" and could name another account.
 */
static void
test_invalid_bytes_replaced(void **state)
{
	(void)state;
	/* Labelled UTF-8, holding Latin-1: 8bit, quoted-printable, base64. */
	want_text(HDR "Content-Type: text/plain; charset=utf-8\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "Gr\374\337e, M\374ller.\n",
	          "Gr\357\277\275\357\277\275e, M\357\277\275ller.\n");
	want_text(HDR "Content-Type: text/plain; charset=UTF-8\n"
	              "Content-Transfer-Encoding: quoted-printable\n\n"
	              "M=FCller\n",
	          "M\357\277\275ller\n");
	want_text(HDR "Content-Type: text/plain; charset=utf8\n"
	              "Content-Transfer-Encoding: base64\n\n"
	              "TfxsbGVyCg==\n",
	          "M\357\277\275ller\n");
	/* Labelled US-ASCII: 8-bit bytes are checked as UTF-8 (valid UTF-8 kept). */
	want_text(HDR "Content-Type: text/plain; charset=us-ascii\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "M\374ller J\303\266rg\n",
	          "M\357\277\275ller J\303\266rg\n");
	/* Other charsets: the bytes iconv has no character for. */
	want_text(HDR "Content-Type: text/plain; charset=windows-1252\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "M\201ller \344\n",
	          "M\357\277\275ller \303\244\n");
	want_text(HDR "Content-Type: text/plain; charset=ISO-8859-7\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "a\256b \341\n",
	          "a\357\277\275b \316\261\n");
	want_text(HDR "Content-Type: text/plain; charset=Shift_JIS\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "x\202\n\202\261y\n",
	          "x\357\277\275\n\343\201\223y\n");
	want_text(HDR "Content-Type: text/plain; charset=ISO-2022-JP\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "a\200b\n",
	          "a\357\277\275b\n");
	/* An HTML part goes the same way before its tags are dropped. */
	want_text(HDR "Content-Type: text/html; charset=utf-8\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "<p>M\374ller</p>\n",
	          "M\357\277\275ller\n");
	/* KOI8-R and ISO-8859-1 decode every byte: nothing to replace, nothing lost. */
	want_text(HDR "Content-Type: text/plain; charset=koi8-r\n"
	              "Content-Transfer-Encoding: 8bit\n\n"
	              "a\377\376b\n",
	          "a\320\252\320\247b\n");
}

/* A converted part is read a chunk (4096 bytes) at a time: a CRLF across two is one line end. */
static void
test_convert_crlf_across_chunks(void **state)
{
	char *raw = xmalloc(8192), *want = xmalloc(8192);
	size_t n;

	(void)state;
	n = (size_t)snprintf(raw, 8192, HDR "Content-Type: text/plain; charset=windows-1252\n\n");
	memset(raw + n, 'a', 4095); /* sent with CRLF: the CR is the chunk's last byte */
	memcpy(raw + n + 4095, "\n\344\n", 4);
	memset(want, 'a', 4095);
	memcpy(want + 4095, "\n\303\244\n", 5);
	want_text(raw, want);
	free(raw);
	free(want);
}

/* A NUL byte in a part is a control like any other (a space); the text goes on. */
static void
test_nul_in_part(void **state)
{
	static const char raw[] = HDR "Content-Type: text/plain; charset=utf-8\n\n"
	                              "a\0b\n";
	struct mail_in m;
	struct lethe_err err;

	(void)state;
	assert_int_equal(mail_in_parse(raw, sizeof(raw) - 1, NULL, &lim, &m, &err), LETHE_OK);
	assert_string_equal(m.text, "a b\n");
	mail_in_free(&m);
}

static void
test_rfc2047_subjects(void **state)
{
	struct mail_in m;

	(void)state;
	assert_int_equal(
	    parse("From: a@example.com\nSubject: =?UTF-8?B?TMO2c2NodW5n?= request\n\nx\n", NULL,
	          &m),
	    LETHE_OK);
	assert_string_equal(m.subject, "Löschung request");
	mail_in_free(&m);
	assert_int_equal(parse("From: a@example.com\n"
	                       "Subject: =?ISO-8859-1?Q?J=F6rg_asks?= =?KOI8-R?B?8NLJ18XU?=\n"
	                       "\tand more\n\nx\n",
	                       NULL, &m),
	                 LETHE_OK);
	assert_string_equal(m.subject, "Jörg asksПривет and more");
	mail_in_free(&m);
	/* Controls as spaces. */
	assert_int_equal(
	    parse("From: a@example.com\nSubject: =?UTF-8?Q?a=07b=09c?=\n\nx\n", NULL, &m),
	    LETHE_OK);
	assert_string_equal(m.subject, "a b c");
	mail_in_free(&m);
	/* No subject at all: "". */
	assert_int_equal(parse("From: a@example.com\n\nx\n", NULL, &m), LETHE_OK);
	assert_string_equal(m.subject, "");
	mail_in_free(&m);
}

static void
test_alternative(void **state)
{
	struct mail_in m;

	(void)state;
	assert_int_equal(parse(HDR "MIME-Version: 1.0\n"
	                           "Content-Type: multipart/alternative; boundary=\"b1\"\n\n"
	                           "--b1\nContent-Type: text/html; charset=utf-8\n\n"
	                           "<p>the <b>HTML</b> one</p>\n"
	                           "--b1\nContent-Type: text/plain; charset=utf-8\n\n"
	                           "the plain one\n"
	                           "--b1--\n",
	                       NULL, &m),
	                 LETHE_OK);
	assert_string_equal(m.text, "the plain one");
	assert_int_equal(m.parts, 3);
	assert_false(m.from_html);
	mail_in_free(&m);
}

static void
test_html_only(void **state)
{
	struct mail_in m;

	(void)state;
	assert_int_equal(
	    parse(HDR "Content-Type: text/html; charset=utf-8\n\n"
	              "<html><head><style>p { color: red }</style>\n"
	              "<script type=\"text/javascript\">alert('x <b>')</script></head>\n"
	              "<body><p>Account   name:\n&nbsp;<b>J&ouml;rg &amp; Co</b></p>"
	              "<div>a&lt;b&gt;c &quot;d&quot; &#39;e&#x27; &#8364;</div>line<br>next<br/>"
	              "<ul><li>one</li><li>two</li></ul><!-- a <p> comment --><p>end</p>"
	              "<table><tr><td>x</td></tr></table></body></html>\n",
	          NULL, &m),
	    LETHE_OK);
	assert_string_equal(m.text, "Account name: J&ouml;rg & Co\n"
	                            "a<b>c \"d\" 'e' €\n"
	                            "line\nnext\none\ntwo\nend\nx\n");
	assert_true(m.from_html);
	mail_in_free(&m);
}

/* mail_in_html_text() on the string @h. */
static char *
html(const char *h, size_t cap)
{
	return mail_in_html_text(h, strlen(h), cap);
}

static void
test_html_text(void **state)
{
	char *t;

	(void)state;
	t = html("a<SCRIPT>x</script >b<STYLE a='>'>y</STYLE>c", 100);
	assert_string_equal(t, "abc");
	free(t);
	t = html("1 < 2 &unknown; &#0; &#xD800; &#1114112; &#9", 100);
	assert_string_equal(t, "1 < 2 &unknown; \357\277\275 \357\277\275 \357\277\275 &#9");
	free(t);
	t = html("abcdef", 3);
	assert_string_equal(t, "abc");
	free(t);
	t = html("<p unclosed", 100);
	assert_string_equal(t, "");
	free(t);
	t = html("<script>never closed", 100);
	assert_string_equal(t, "");
	free(t);
}

static void
test_attachment(void **state)
{
	struct mail_in m;

	(void)state;
	assert_int_equal(parse(HDR "Content-Type: multipart/mixed; boundary=mix\n\n"
	                           "preamble\n"
	                           "--mix\nContent-Type: text/plain\n\nthe body\n"
	                           "--mix\nContent-Type: text/plain; name=notes.txt\n"
	                           "Content-Disposition: attachment; filename=notes.txt\n\n"
	                           "account name: mallory\n"
	                           "--mix\nContent-Type: application/pdf\n"
	                           "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
	                           "--mix\nContent-Type: text/plain\n\nsecond inline\n"
	                           "--mix--\nepilogue\n",
	                       NULL, &m),
	                 LETHE_OK);
	assert_string_equal(m.text, "the body\nsecond inline");
	assert_int_equal(m.parts, 5);
	mail_in_free(&m);
}

static void
test_forwarded_rfc822(void **state)
{
	struct mail_in m;

	(void)state;
	assert_int_equal(
	    parse(
	        "From: helper@example.org\nTo: privacy@example.com\nSubject: Fwd: deletion\n"
	        "Content-Type: multipart/mixed; boundary=outer\n\n"
	        "--outer\nContent-Type: text/plain\n\nSee below.\n"
	        "--outer\nContent-Type: message/rfc822\n\n"
	        "From: Ada <ada@example.com>\nSubject: =?UTF-8?Q?Account_deletion_=E2=80=94_ada?=\n"
	        "Content-Type: text/html; charset=utf-8\n\n"
	        "<p>Account name: ada</p>\n"
	        "--outer--\n",
	        NULL, &m),
	    LETHE_OK);
	assert_string_equal(m.from, "helper@example.org");
	assert_string_equal(m.subject, "Fwd: deletion");
	assert_string_equal(m.text, "See below.\n"
	                            "Subject: Account deletion — ada\n"
	                            "Account name: ada\n");
	assert_int_equal(m.forwarded, 1);
	assert_int_equal(m.parts, 4);
	assert_false(m.from_html);
	mail_in_free(&m);
}

static void
test_forwarded_inline(void **state)
{
	(void)state;
	want_text(HDR "\nFYI\n\n---------- Forwarded message ---------\n"
	              "From: Ada <ada@example.com>\nSubject: Account deletion\n\n"
	              "Account name: ada\n",
	          "FYI\n\n---------- Forwarded message ---------\n"
	          "From: Ada <ada@example.com>\nSubject: Account deletion\n\n"
	          "Account name: ada\n");
}

/* The robot reason of the message with @headers. */
static enum mail_in_robot
robot_of(const char *headers, const char *envelope)
{
	char raw[1024];
	struct mail_in m;
	enum mail_in_robot r;

	snprintf(raw, sizeof(raw), "%sSubject: x\n\nbody\n", headers);
	assert_int_equal(parse(raw, envelope, &m), LETHE_OK);
	r = m.robot;
	mail_in_free(&m);
	return r;
}

static void
test_robots(void **state)
{
	(void)state;
	assert_int_equal(robot_of("From: a@x.org\nAuto-Submitted: no\n", NULL), MAIL_IN_HUMAN);
	assert_int_equal(robot_of("From: a@x.org\nAuto-Submitted: auto-replied\n", NULL),
	                 MAIL_IN_AUTO_SUBMITTED);
	assert_int_equal(robot_of("From: a@x.org\nPrecedence: bulk\n", NULL), MAIL_IN_PRECEDENCE);
	assert_int_equal(robot_of("From: a@x.org\nPrecedence: JUNK\n", NULL), MAIL_IN_PRECEDENCE);
	assert_int_equal(robot_of("From: a@x.org\nPrecedence: list\n", NULL), MAIL_IN_PRECEDENCE);
	assert_int_equal(robot_of("From: a@x.org\nPrecedence: first-class\n", NULL), MAIL_IN_HUMAN);
	assert_int_equal(robot_of("From: a@x.org\nList-Id: <l.x.org>\n", NULL), MAIL_IN_LIST);
	assert_int_equal(robot_of("From: a@x.org\nList-Unsubscribe: <mailto:u@x.org>\n", NULL),
	                 MAIL_IN_LIST);
	assert_int_equal(robot_of("From: a@x.org\nList-Post: NO\n", NULL), MAIL_IN_LIST);
	assert_int_equal(robot_of("From: a@x.org\nX-Auto-Response-Suppress: All\n", NULL),
	                 MAIL_IN_AUTORESPONDER);
	assert_int_equal(robot_of("From: a@x.org\nX-Auto-Response-Suppress: DR, OOF\n", NULL),
	                 MAIL_IN_AUTORESPONDER);
	assert_int_equal(robot_of("From: a@x.org\nX-Auto-Response-Suppress: DR\n", NULL),
	                 MAIL_IN_HUMAN);
	assert_int_equal(robot_of("From: a@x.org\nX-Autoreply: yes\n", NULL),
	                 MAIL_IN_AUTORESPONDER);
	assert_int_equal(robot_of("From: a@x.org\nX-Autorespond: 1\n", NULL),
	                 MAIL_IN_AUTORESPONDER);
	assert_int_equal(robot_of("From: MAILER-DAEMON@x.org\n", NULL), MAIL_IN_DAEMON);
	assert_int_equal(robot_of("From: Mail System <postmaster@x.org>\n", NULL), MAIL_IN_DAEMON);
	assert_int_equal(robot_of("From: postmasters@x.org\n", NULL), MAIL_IN_HUMAN);
	assert_int_equal(
	    robot_of("From: a@x.org\nContent-Type: multipart/report; report-type=delivery-status;"
	             " boundary=r\n",
	             NULL),
	    MAIL_IN_REPORT);
	/* The first reason in the enum's order wins. */
	assert_int_equal(robot_of("From: postmaster@x.org\nList-Id: <l>\nAuto-Submitted: auto-"
	                          "generated\n",
	                          NULL),
	                 MAIL_IN_AUTO_SUBMITTED);
	assert_string_equal(mail_in_robot_str(MAIL_IN_HUMAN), "human");
	assert_string_equal(mail_in_robot_str(MAIL_IN_AUTO_SUBMITTED), "auto-submitted");
	assert_string_equal(mail_in_robot_str(MAIL_IN_PRECEDENCE), "precedence");
	assert_string_equal(mail_in_robot_str(MAIL_IN_LIST), "list");
	assert_string_equal(mail_in_robot_str(MAIL_IN_NULL_SENDER), "null sender");
	assert_string_equal(mail_in_robot_str(MAIL_IN_REPORT), "delivery report");
	assert_string_equal(mail_in_robot_str(MAIL_IN_AUTORESPONDER), "autoresponder");
	assert_string_equal(mail_in_robot_str(MAIL_IN_DAEMON), "mailer daemon");
}

static void
test_null_sender(void **state)
{
	struct mail_in m;

	(void)state;
	/* From the envelope (LMTP MAIL FROM:<>). */
	assert_int_equal(parse(HDR "Return-Path: <someone@x.org>\n\nbody\n", "", &m), LETHE_OK);
	assert_string_equal(m.return_path, "");
	assert_int_equal(m.robot, MAIL_IN_NULL_SENDER);
	mail_in_free(&m);
	/* From the header (a Maildir file). */
	assert_int_equal(parse("Return-Path: <>\n" HDR "\nbody\n", NULL, &m), LETHE_OK);
	assert_string_equal(m.return_path, "");
	assert_int_equal(m.robot, MAIL_IN_NULL_SENDER);
	mail_in_free(&m);
	/* The envelope wins over the header, both ways. */
	assert_int_equal(parse("Return-Path: <>\n" HDR "\nbody\n", "env@x.org", &m), LETHE_OK);
	assert_string_equal(m.return_path, "env@x.org");
	assert_int_equal(m.robot, MAIL_IN_HUMAN);
	mail_in_free(&m);
	assert_int_equal(parse("Return-Path: <first@x.org>\nReturn-Path: <second@x.org>\n" HDR
	                       "\nbody\n",
	                       NULL, &m),
	                 LETHE_OK);
	assert_string_equal(m.return_path, "first@x.org");
	mail_in_free(&m);
}

static void
test_addresses(void **state)
{
	struct mail_in m;

	(void)state;
	/* A group is skipped; IDN left as written; no From at all: NULL. */
	assert_int_equal(parse("From: undisclosed:;, =?UTF-8?Q?J=C3=B6rg?= <j@b\303\274cher.de>\n"
	                       "Reply-To: team: a@x.org, b@x.org;\n"
	                       "Subject: x\n\nbody\n",
	                       NULL, &m),
	                 LETHE_OK);
	assert_string_equal(m.from, "j@bücher.de");
	assert_null(m.reply_to);
	assert_null(m.to);
	assert_null(m.message_id);
	mail_in_free(&m);
	assert_int_equal(parse("Subject: no from\n\nbody\n", NULL, &m), LETHE_OK);
	assert_null(m.from);
	assert_null(m.date);
	mail_in_free(&m);
}

/* A message of @n nested multipart/mixed levels around one text part. */
static char *
nested(int n)
{
	char *s = xstrdup(HDR), *t;
	int i;

	for (i = 0; i < n; i++) {
		t = xasprintf("%sContent-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", s, i, i);
		free(s);
		s = t;
	}
	t = xasprintf("%sContent-Type: text/plain\n\ndeep\n", s);
	free(s);
	s = t;
	for (i = n - 1; i >= 0; i--) {
		t = xasprintf("%s--b%d--\n", s, i);
		free(s);
		s = t;
	}
	return s;
}

static void
test_too_deep(void **state)
{
	struct mail_in m;
	char *raw;

	(void)state;
	raw = nested(MAIL_IN_DEPTH_MAX - 1); /* 7 containers + the text: 8 levels */
	assert_int_equal(parse(raw, NULL, &m), LETHE_OK);
	assert_string_equal(m.text, "deep");
	assert_int_equal(m.parts, MAIL_IN_DEPTH_MAX);
	mail_in_free(&m);
	free(raw);
	raw = nested(MAIL_IN_DEPTH_MAX);
	assert_int_equal(parse(raw, NULL, &m), LETHE_E_TOOBIG);
	assert_string_equal(m.text, "");
	mail_in_free(&m);
	free(raw);
}

/* A message of @n nested levels of multipart (@rfc822 false) or forwarded mail. */
static char *
bomb(int n, bool rfc822)
{
	size_t cap = (size_t)n * 80 + 256, len = 0;
	char *s = xmalloc(cap);
	int i;

	len += (size_t)snprintf(s, cap, "From: a@x.org\r\n");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(
		    s + len, cap - len,
		    rfc822 ? "Content-Type: message/rfc822\r\n\r\nFrom: a@x.org\r\n"
		           : "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
		             "--b%d\r\n",
		    i, i);
	snprintf(s + len, cap - len, "\r\nx\r\n");
	return s;
}

/* Parse bombs on a 256 KiB thread stack (GMime builds the whole tree first). */
static void *
parse_bombs(void *arg)
{
	static const struct mail_in_limits many = {16 * 1024 * 1024, 1000000};
	struct mail_in m;
	struct lethe_err err;
	int k;

	(void)arg;
	for (k = 0; k < 2; k++) {
		char *raw = bomb(k == 0 ? 5000 : 2000, k == 1);

		if (mail_in_parse(raw, strlen(raw), NULL, &many, &m, &err) != LETHE_E_TOOBIG ||
		    m.parts != MAIL_IN_DEPTH_MAX)
			return "not refused";
		mail_in_free(&m);
		free(raw);
	}
	return NULL;
}

static void
test_nesting_bomb(void **state)
{
	pthread_attr_t attr;
	pthread_t t;
	void *res = "not run";

	(void)state;
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
	assert_int_equal(pthread_create(&t, &attr, parse_bombs, NULL), 0);
	assert_int_equal(pthread_join(t, &res), 0);
	pthread_attr_destroy(&attr);
	assert_null(res);
}

static void
test_too_many_parts(void **state)
{
	struct mail_in_limits small = {1024 * 1024, 4};
	struct mail_in m;
	struct lethe_err err;
	char *raw;
	const char *four = HDR "Content-Type: multipart/mixed; boundary=m\n\n"
	                       "--m\n\none\n--m\n\ntwo\n--m\n\nthree\n--m--\n";
	const char *five = HDR "Content-Type: multipart/mixed; boundary=m\n\n"
	                       "--m\n\none\n--m\n\ntwo\n--m\n\nthree\n--m\n\nfour\n--m--\n";

	(void)state;
	raw = crlf(four);
	assert_int_equal(mail_in_parse(raw, strlen(raw), NULL, &small, &m, &err), LETHE_OK);
	assert_string_equal(m.text, "one\ntwo\nthree");
	assert_int_equal(m.parts, 4);
	mail_in_free(&m);
	free(raw);
	raw = crlf(five);
	assert_int_equal(mail_in_parse(raw, strlen(raw), NULL, &small, &m, &err), LETHE_E_TOOBIG);
	assert_string_equal(err.msg, "mail: too many MIME parts (more than 4)");
	mail_in_free(&m);
	free(raw);
}

/*
 * A message of many more parts than max_parts is refused from a scan of
 * its bytes, before GMime builds a node of any (m.parts stays 0: the walk
 * never ran); lines starting with "--" that are no declared boundary's
 * (a signature, a quoted ruler) do not count against the parts.
 */
static void
test_parts_scanned_first(void **state)
{
	struct mail_in_limits small = {1024 * 1024, 4};
	struct mail_in m;
	struct lethe_err err;
	struct buf b;
	char *raw;
	int i;

	(void)state;
	buf_init(&b, 64 * 1024);
	buf_addf(&b, "%s", HDR "Content-Type: multipart/mixed; boundary=\"z z\"\n\n");
	for (i = 0; i < 11; i++)
		buf_addf(&b, "--z z\n\npart %d\n", i);
	buf_addf(&b, "--z z--\n");
	raw = crlf(buf_str(&b));
	assert_int_equal(mail_in_parse(raw, strlen(raw), NULL, &small, &m, &err), LETHE_E_TOOBIG);
	assert_string_equal(err.msg, "mail: too many MIME parts (more than 4)");
	assert_int_equal(m.parts, 0);
	mail_in_free(&m);
	free(raw);
	buf_reset(&b);
	/* Three parts and a body full of "--" lines: read as usual. */
	buf_addf(&b, "%s", HDR "Content-Type: multipart/mixed; boundary=q\n\n--q\n\nhello\n");
	for (i = 0; i < 40; i++)
		buf_addf(&b, "-- \n--------\n");
	buf_addf(&b, "--q\n\nbye\n--q--\n");
	raw = crlf(buf_str(&b));
	assert_int_equal(mail_in_parse(raw, strlen(raw), NULL, &small, &m, &err), LETHE_OK);
	assert_int_equal(m.parts, 3);
	mail_in_free(&m);
	free(raw);
	buf_free(&b);
}

static void
test_too_big(void **state)
{
	struct mail_in_limits small = {64, 100};
	struct mail_in m;
	struct lethe_err err;
	const char *raw = HDR "\n0123456789012345678901234567890123456789\n";

	(void)state;
	assert_int_equal(mail_in_parse(raw, strlen(raw), NULL, &small, &m, &err), LETHE_E_TOOBIG);
	assert_string_equal(err.msg, "mail: message too large (106 bytes; at most 64)");
	assert_int_equal(m.bytes, 106);
	assert_string_equal(m.subject, "");
	assert_null(m.from);
	mail_in_free(&m);
	/* The head parse answers it all the same. */
	assert_int_equal(mail_in_parse_head(raw, strlen(raw), NULL, &m, &err), LETHE_OK);
	assert_string_equal(m.from, "ada@example.com");
	assert_string_equal(m.subject, "Hi");
	assert_string_equal(m.text, "");
	assert_int_equal(m.bytes, 106);
	mail_in_free(&m);
}

static void
test_head(void **state)
{
	struct mail_in m;
	struct lethe_err err;
	char *raw = crlf("From: a@x.org\nAuto-Submitted: auto-replied\n"
	                 "Content-Type: multipart/report; boundary=r\nSubject: away\n\n"
	                 "--r\n\nFrom: not-this@x.org\n\n--r--\n");

	(void)state;
	assert_int_equal(mail_in_parse_head(raw, strlen(raw), "", &m, &err), LETHE_OK);
	assert_string_equal(m.from, "a@x.org");
	assert_string_equal(m.subject, "away");
	assert_string_equal(m.return_path, "");
	assert_int_equal(m.robot, MAIL_IN_AUTO_SUBMITTED);
	assert_string_equal(m.text, "");
	assert_int_equal(m.parts, 0);
	mail_in_free(&m);
	free(raw);
	/* A delivery report with nothing else robot-like: its Content-Type tells. */
	raw = crlf("From: relay@x.org\nContent-Type: multipart/report; report-type=delivery-status;"
	           " boundary=r\nSubject: Undelivered Mail\n\n--r\n\nlost\n--r--\n");
	assert_int_equal(mail_in_parse_head(raw, strlen(raw), NULL, &m, &err), LETHE_OK);
	assert_int_equal(m.robot, MAIL_IN_REPORT);
	mail_in_free(&m);
	free(raw);
}

static void
test_not_a_message(void **state)
{
	static const char garbage[] = "\x00\x01\xff\xfe binary \x89PNG\r\n\x1a\n\x00\x00";
	struct mail_in m;
	struct lethe_err err;

	(void)state;
	assert_int_equal(mail_in_parse(garbage, sizeof(garbage) - 1, NULL, &lim, &m, &err),
	                 LETHE_E_INVALID);
	assert_string_equal(err.msg, "mail: not a readable message (no header block)");
	assert_string_equal(m.text, "");
	mail_in_free(&m);
	assert_int_equal(parse("no header here, just words\n\nand more\n", NULL, &m),
	                 LETHE_E_INVALID);
	mail_in_free(&m);
	assert_int_equal(mail_in_parse("", 0, NULL, &lim, &m, &err), LETHE_E_INVALID);
	mail_in_free(&m);
	/* An mbox "From " line before the headers is skipped. */
	assert_int_equal(
	    parse("From ada@example.com Mon Dec  7 05:00:00 2026\n" HDR "\nbody\n", NULL, &m),
	    LETHE_OK);
	assert_string_equal(m.from, "ada@example.com");
	assert_string_equal(m.text, "body\n");
	mail_in_free(&m);
}

static void
test_broken_mime(void **state)
{
	(void)state;
	/* No closing boundary: the last part runs to the end. */
	want_text(HDR "Content-Type: multipart/mixed; boundary=open\n\n"
	              "--open\nContent-Type: text/plain\n\nfirst\n"
	              "--open\nContent-Type: text/plain\n\nsecond, never closed\n",
	          "first\nsecond, never closed\n");
	/* Bad base64: what decodes is kept, the rest skipped. */
	want_text(HDR "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
	              "SGVs!!bG8=\n*** not base64 ***\n",
	          "Hello");
	/* A multipart without a boundary parameter. */
	want_text(HDR "Content-Type: multipart/mixed\n\nplain words\n", "");
}

static void
test_text_cut(void **state)
{
	size_t n = MAIL_IN_TEXT_MAX + 100, h = strlen(HDR) + 1, i;
	char *raw = xmalloc(h + n + 1);
	struct mail_in m;
	struct lethe_err err;
	struct mail_in_limits big = {4 * 1024 * 1024, 100};

	(void)state;
	memcpy(raw, HDR "\n", h);
	/* 'a' then two-byte characters, so the cut falls inside one. */
	raw[h] = 'a';
	for (i = 1; i + 1 < n; i += 2) {
		raw[h + i] = '\303';
		raw[h + i + 1] = '\251';
	}
	raw[h + i] = '\0';
	assert_int_equal(mail_in_parse(raw, h + i, NULL, &big, &m, &err), LETHE_OK);
	assert_true(m.text_cut);
	assert_int_equal(strlen(m.text), MAIL_IN_TEXT_MAX - 1);
	assert_string_equal(m.text + strlen(m.text) - 2, "\303\251");
	mail_in_free(&m);
	free(raw);
}

/*
 * An empty part's content may come as a NULL pointer with no bytes: added
 * as nothing, without arithmetic on the NULL (UBSan found it: fuzz_mail_parse).
 */
static void
test_textbuf_empty_null(void **state)
{
	struct textbuf tb;
	char *out;

	(void)state;
	textbuf_init(&tb, 64);
	textbuf_add_text(&tb, NULL, 0, false);
	textbuf_add_text(&tb, "ok", 2, true);
	textbuf_add_text(&tb, NULL, 0, true);
	out = textbuf_take(&tb);
	assert_string_equal(out, "ok");
	free(out);
	textbuf_free(&tb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_ascii),
	    cmocka_unit_test(test_lf_only),
	    cmocka_unit_test(test_quoted_printable),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_charsets),
	    cmocka_unit_test(test_unknown_charset),
	    cmocka_unit_test(test_invalid_bytes_replaced),
	    cmocka_unit_test(test_convert_crlf_across_chunks),
	    cmocka_unit_test(test_nul_in_part),
	    cmocka_unit_test(test_rfc2047_subjects),
	    cmocka_unit_test(test_alternative),
	    cmocka_unit_test(test_html_only),
	    cmocka_unit_test(test_html_text),
	    cmocka_unit_test(test_attachment),
	    cmocka_unit_test(test_forwarded_rfc822),
	    cmocka_unit_test(test_forwarded_inline),
	    cmocka_unit_test(test_robots),
	    cmocka_unit_test(test_null_sender),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_too_deep),
	    cmocka_unit_test(test_nesting_bomb),
	    cmocka_unit_test(test_too_many_parts),
	    cmocka_unit_test(test_parts_scanned_first),
	    cmocka_unit_test(test_textbuf_empty_null),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_head),
	    cmocka_unit_test(test_not_a_message),
	    cmocka_unit_test(test_broken_mime),
	    cmocka_unit_test(test_text_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
