/* SPDX-License-Identifier: MIT */
/*
 * test_form.c - unit tests of src/http/form: one field of an
 * application/x-www-form-urlencoded body, percent-decoded, with every
 * malformed body refused the same way wherever the damage sits; and the
 * query-string redaction of libmicrohttpd's messages (http/server.c).
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/form.h"
#include "http/server_internal.h"

/* form_get on a NUL-terminated @body into a 128-byte buffer. */
static lethe_rc
get(const char *body, const char *name, char out[128], size_t *n)
{
	return form_get(body, strlen(body), name, out, 128, n);
}

static void
want_value(const char *body, const char *name, const char *want)
{
	char out[128];
	size_t n = 999;

	assert_int_equal(get(body, name, out, &n), LETHE_OK);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void
want_rc(const char *body, const char *name, lethe_rc want)
{
	char out[128];
	size_t n = 999;

	memcpy(out, "junk", 5);
	assert_int_equal(get(body, name, out, &n), want);
	assert_string_equal(out, "");
	assert_int_equal(n, 0);
}

static void
test_form_simple(void **state)
{
	(void)state;
	want_value("signed_request=abc.def", "signed_request", "abc.def");
	want_value("a=1&b=2&c=3", "a", "1");
	want_value("a=1&b=2&c=3", "b", "2");
	want_value("a=1&b=2&c=3", "c", "3");
	/* The real thing: Meta's body holds only base64url, '.' and '='. */
	want_value(
	    "signed_request=Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCJ9",
	    "signed_request", "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCJ9");
}

static void
test_form_decoding(void **state)
{
	(void)state;
	want_value("q=hello+world", "q", "hello world");
	want_value("q=%41%62%2b%2B%20%25", "q", "Ab++ %");
	want_value("q=a%3Db%26c", "q", "a=b&c");
	want_value("q=%e2%82%ac", "q", "\xe2\x82\xac");
	want_value("q=%C3%A9t%C3%A9", "q", "\xc3\xa9t\xc3\xa9");
	/* A raw '=' after the first one belongs to the value. */
	want_value("sr=abc==&x=1", "sr", "abc==");
	want_value("sr=a=b=c", "sr", "a=b=c");
}

static void
test_form_name_decoded(void **state)
{
	(void)state;
	want_value("signed%5Frequest=v", "signed_request", "v");
	want_value("my+name=v", "my name", "v");
	want_value("a%3Db=v", "a=b", "v");
	want_value("a%26b=v", "a&b", "v");
	/* Encoded and raw spellings are the same field. */
	want_rc("signed_request=1&signed%5frequest=2", "signed_request", LETHE_E_INVALID);
}

static void
test_form_empty_values(void **state)
{
	(void)state;
	want_value("a=&b=2", "a", "");
	want_value("a&b=2", "a", "");
	want_value("b=2&a", "a", "");
	want_value("b=2&a=", "a", "");
	/* Empty pairs are skipped. */
	want_value("&&a=1&&", "a", "1");
	want_value("=x&a=1", "a", "1");
	want_value("=x&a=1", "", "x");
}

static void
test_form_not_found(void **state)
{
	(void)state;
	want_rc("", "a", LETHE_E_NOTFOUND);
	want_rc("&&&", "a", LETHE_E_NOTFOUND);
	want_rc("b=1&c=2", "a", LETHE_E_NOTFOUND);
	/* Prefixes, suffixes and case differ. */
	want_rc("ab=1&ba=2&A=3", "a", LETHE_E_NOTFOUND);
	want_rc("signed_request_x=1", "signed_request", LETHE_E_NOTFOUND);
	want_rc("signed_reques=1", "signed_request", LETHE_E_NOTFOUND);
	/* A value equal to the name is not the name. */
	want_rc("x=a", "a", LETHE_E_NOTFOUND);
	{
		char out[4];

		assert_int_equal(form_get(NULL, 0, "a", out, sizeof(out), NULL), LETHE_E_NOTFOUND);
	}
}

static void
test_form_bad_escape(void **state)
{
	static const char *bad[] = {
	    "a=%", "a=%4", "a=%g0", "a=%0g",     "a=%%41",  "a=1%",    "a=%+1",    "a=% 1",
	    "%=1", "a%=1", "a%4=1", "a=1&b=%zz", "b=%&a=1", "%zz&a=1", "a=1&b=%4", "a=%-1&b=2",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		want_rc(bad[i], "a", LETHE_E_INVALID);
}

static void
test_form_nul_byte(void **state)
{
	static const char raw[] = "a=1\0&b=2";
	static const char raw_name[] = "b\0=2&a=1";
	char out[64];
	size_t n;

	(void)state;
	want_rc("a=%00", "a", LETHE_E_INVALID);
	want_rc("a=1&b=x%00y", "a", LETHE_E_INVALID);
	want_rc("a%00=1", "a", LETHE_E_INVALID);
	assert_int_equal(form_get(raw, sizeof(raw) - 1, "a", out, sizeof(out), &n),
	                 LETHE_E_INVALID);
	assert_int_equal(form_get(raw, sizeof(raw) - 1, "b", out, sizeof(out), &n),
	                 LETHE_E_INVALID);
	assert_int_equal(form_get(raw_name, sizeof(raw_name) - 1, "a", out, sizeof(out), &n),
	                 LETHE_E_INVALID);
}

static void
test_form_duplicate_field(void **state)
{
	(void)state;
	want_rc("a=1&a=2", "a", LETHE_E_INVALID);
	want_rc("a=1&a=1", "a", LETHE_E_INVALID);
	want_rc("a=1&b=2&a", "a", LETHE_E_INVALID);
	want_rc("a&a", "a", LETHE_E_INVALID);
	/* Another field given twice does not matter. */
	want_value("b=1&a=x&b=2", "a", "x");
}

static void
test_form_too_big(void **state)
{
	char out[4];
	size_t n = 99;

	(void)state;
	/* 3 bytes and the NUL fit, 4 do not. */
	assert_int_equal(form_get("a=abc", 5, "a", out, sizeof(out), &n), LETHE_OK);
	assert_string_equal(out, "abc");
	assert_int_equal(n, 3);
	assert_int_equal(form_get("a=%41%42%43", 11, "a", out, sizeof(out), &n), LETHE_OK);
	assert_string_equal(out, "ABC");
	assert_int_equal(form_get("a=abcd", 6, "a", out, sizeof(out), &n), LETHE_E_TOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(n, 0);
	/* The empty value needs one byte for the NUL. */
	assert_int_equal(form_get("a=", 2, "a", out, 1, &n), LETHE_OK);
	assert_int_equal(form_get("a=", 2, "a", NULL, 0, &n), LETHE_E_TOOBIG);
	/* Malformed wins over too big, wherever it sits. */
	assert_int_equal(form_get("a=abcd&b=%", 10, "a", out, sizeof(out), &n), LETHE_E_INVALID);
	assert_int_equal(form_get("a=abcd&a=1", 10, "a", out, sizeof(out), &n), LETHE_E_INVALID);
	/* Another field's size does not matter. */
	assert_int_equal(form_get("b=abcdefgh&a=1", 14, "a", out, sizeof(out), &n), LETHE_OK);
	assert_string_equal(out, "1");
}

static void
test_form_not_nul_terminated(void **state)
{
	static const char body[] = "a=1&b=22&c=333";
	char out[64];
	size_t n;

	(void)state;
	/* Only the first 6 bytes ("a=1&b=") are the body. */
	assert_int_equal(form_get(body, 6, "b", out, sizeof(out), &n), LETHE_OK);
	assert_string_equal(out, "");
	assert_int_equal(form_get(body, 6, "c", out, sizeof(out), &n), LETHE_E_NOTFOUND);
	assert_int_equal(form_get(body, 5, "b", out, sizeof(out), &n), LETHE_OK);
	/* An escape cut by the end of the body is malformed. */
	assert_int_equal(form_get("a=%41", 4, "a", out, sizeof(out), &n), LETHE_E_INVALID);
	assert_int_equal(form_get("a=%41", 5, "a", out, sizeof(out), NULL), LETHE_OK);
	assert_string_equal(out, "A");
}

static void
test_form_failure_independent_of_position(void **state)
{
	(void)state;
	/* The same malformed pair is refused before, after and without the field. */
	want_rc("x=%zz&a=1", "a", LETHE_E_INVALID);
	want_rc("a=1&x=%zz", "a", LETHE_E_INVALID);
	want_rc("x=%zz", "a", LETHE_E_INVALID);
}

static void
test_redact_queries(void **state)
{
	char out[64];

	(void)state;
	http_redact_queries("GET `/data-deletion/status?id=abc' failed", out, sizeof(out));
	assert_string_equal(out, "GET `/data-deletion/status?...' failed");
	http_redact_queries("a?b c?d?e \"x?\" end?", out, sizeof(out));
	assert_string_equal(out, "a?... c?... \"x?\" end?");
	http_redact_queries("no query at all", out, sizeof(out));
	assert_string_equal(out, "no query at all");
	/* Short queries grow to "?...": the copy stays within @cap. */
	http_redact_queries("?a ?b ?c ?d ?e ?f ?g ?h", out, 9);
	assert_string_equal(out, "?... ?..");
	http_redact_queries("?a?b?c", out, sizeof(out)); /* one query up to the end */
	assert_string_equal(out, "?...");
	http_redact_queries("abcdefghij", out, 4);
	assert_string_equal(out, "abc");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_simple),
	    cmocka_unit_test(test_form_decoding),
	    cmocka_unit_test(test_form_name_decoded),
	    cmocka_unit_test(test_form_empty_values),
	    cmocka_unit_test(test_form_not_found),
	    cmocka_unit_test(test_form_bad_escape),
	    cmocka_unit_test(test_form_nul_byte),
	    cmocka_unit_test(test_form_duplicate_field),
	    cmocka_unit_test(test_form_too_big),
	    cmocka_unit_test(test_form_not_nul_terminated),
	    cmocka_unit_test(test_form_failure_independent_of_position),
	    cmocka_unit_test(test_redact_queries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
