/* SPDX-License-Identifier: MIT */
/*
 * test_util.c - unit tests of src/util: durations, timestamps, the capped
 * buffer, keyed hashes, result codes and rate-limited log lines.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/dlib.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/rc.h"
#include "util/timeutil.h"

/* ---- duration_parse ---------------------------------------------------- */

static void
expect_duration(const char *s, int64_t want)
{
	int64_t got = -1;

	assert_int_equal(duration_parse(s, &got), LETHE_OK);
	assert_int_equal(got, want);
}

static void
expect_duration_bad(const char *s)
{
	int64_t got = 12345;

	assert_int_equal(duration_parse(s, &got), LETHE_E_USAGE);
	/* A failed parse leaves the output alone. */
	assert_int_equal(got, 12345);
}

static void
test_util_duration_parse_units(void **state)
{
	(void)state;
	expect_duration("30d", 30 * 86400);
	expect_duration("24h", 24 * 3600);
	expect_duration("90m", 90 * 60);
	expect_duration("45s", 45);
	expect_duration("2w", 2 * 7 * 86400);
	expect_duration("10y", (int64_t)10 * 365 * 86400);
	expect_duration("1s", 1);
}

static void
test_util_duration_parse_combined(void **state)
{
	(void)state;
	expect_duration("1d12h", 86400 + 12 * 3600);
	expect_duration("1h30m", 3600 + 30 * 60);
	expect_duration("1w1d1h1m1s", 7 * 86400 + 86400 + 3600 + 60 + 1);
	/* A zero part is fine as long as the total is positive. */
	expect_duration("0d1h", 3600);
	/* Leading zeros are just digits. */
	expect_duration("007d", 7 * 86400);
}

static void
test_util_duration_parse_rejects(void **state)
{
	(void)state;
	expect_duration_bad("");
	expect_duration_bad("0d");
	expect_duration_bad("0s0m");
	expect_duration_bad("10x");
	expect_duration_bad("d");
	expect_duration_bad("-1d");
	expect_duration_bad("+1d");
	expect_duration_bad("1.5d");
	expect_duration_bad("10");  /* no unit */
	expect_duration_bad("1d2"); /* trailing number without unit */
	expect_duration_bad(" 1d");
	expect_duration_bad("1d ");
	expect_duration_bad("1 d");
	expect_duration_bad("1D"); /* units are lower case */
	expect_duration_bad("1M");
	expect_duration_bad("1dd");
	expect_duration_bad("30days");
	expect_duration_bad(NULL);
}

static void
test_util_duration_parse_overflow(void **state)
{
	(void)state;
	expect_duration_bad("99999999999999999999y");
	expect_duration_bad("99999999999999999999s");
	/* Number fits in int64 but number * unit does not. */
	expect_duration_bad("106751991167301d");
	expect_duration_bad("999999999999y");
	/* Each part fits but the sum does not. */
	expect_duration_bad("200000000000y200000000000y");
	/* Large but representable. */
	expect_duration("106751991167300d", (int64_t)106751991167300 * 86400);
}

/* ---- time_parse / time_format ------------------------------------------ */

static void
test_util_time_format_known(void **state)
{
	char out[32];

	(void)state;
	time_format(0, out, sizeof(out));
	assert_string_equal(out, "1970-01-01 00:00:00");
	time_format(1700000000, out, sizeof(out));
	assert_string_equal(out, "2023-11-14 22:13:20");
	time_format(951782400, out, sizeof(out)); /* leap day 2000 */
	assert_string_equal(out, "2000-02-29 00:00:00");
}

static void
test_util_time_parse_forms(void **state)
{
	int64_t t = -1;

	(void)state;
	assert_int_equal(time_parse("2023-11-14 22:13:20", &t), LETHE_OK);
	assert_int_equal(t, 1700000000);
	t = -1;
	assert_int_equal(time_parse("2023-11-14T22:13:20Z", &t), LETHE_OK);
	assert_int_equal(t, 1700000000);
	t = -1;
	assert_int_equal(time_parse("2023-11-14", &t), LETHE_OK);
	assert_int_equal(t, 1700000000 - (22 * 3600 + 13 * 60 + 20));
	assert_int_equal(time_parse("1970-01-01 00:00:00", &t), LETHE_OK);
	assert_int_equal(t, 0);
}

static void
test_util_time_round_trip(void **state)
{
	static const int64_t samples[] = {
	    0,          1,
	    59,         86399,
	    86400,      951782400,
	    1700000000, 1709251199,
	    4102444800, (int64_t)253402300799, /* 9999-12-31 23:59:59 */
	};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		int64_t back = -1;

		time_format(samples[i], out, sizeof(out));
		assert_int_equal(strlen(out), 19);
		assert_int_equal(time_parse(out, &back), LETHE_OK);
		assert_int_equal(back, samples[i]);
	}
}

static void
test_util_time_parse_rejects(void **state)
{
	static const char *const bad[] = {
	    "",
	    "2023",
	    "2023-11",
	    "2023-11-1",
	    "2023-1-14",
	    "23-11-14",
	    "2023/11/14",
	    "2023-11-14X22:13:20",
	    "2023-11-14 22:13",
	    "2023-11-14 22-13-20",
	    "2023-11-14 ",
	    "2023-00-10",
	    "2023-13-10",
	    "2023-11-00",
	    "2023-11-32",
	    "2023-11-14 24:00:00",
	    "2023-11-14 22:60:00",
	    "2023-11-14 22:13:61",
	    "abcd-ef-gh",
	    "2023-11-1a",
	    "2023-11-14 2a:13:20",
	    "-023-11-14",
	    " 2023-11-14",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 777;

		if (time_parse(bad[i], &t) != LETHE_E_USAGE)
			fail_msg("time_parse accepted '%s'", bad[i]);
		assert_int_equal(t, 777);
	}
}

/*
 * time.h promises LETHE_E_USAGE for anything but the three forms.  Text after
 * the seconds must not be ignored: an ISO offset would otherwise be read as
 * UTC and the time would be off by the offset.
 */
static void
test_util_time_parse_rejects_trailing_text(void **state)
{
	int64_t t = 777, utc = 0;

	(void)state;
	assert_int_equal(time_parse("2023-11-14 07:00:00", &utc), LETHE_OK);
	if (time_parse("2023-11-14 12:00:00+05:00", &t) == LETHE_OK && t != utc)
		fail_msg("time_parse read '2023-11-14 12:00:00+05:00' as %lld, i.e. "
		         "ignored the +05:00 offset (expected a rejection or %lld)",
		         (long long)t, (long long)utc);
	t = 777;
	if (time_parse("2023-11-14 12:00:00 garbage", &t) == LETHE_OK)
		fail_msg("time_parse accepted trailing garbage in "
		         "'2023-11-14 12:00:00 garbage' (got %lld)",
		         (long long)t);
}

/*
 * Day numbers that do not exist in their month are not timestamps either;
 * accepting them would silently move the time (timegm normalizes 02-30 to
 * 03-02).  Leap days of leap years are fine.
 */
static void
test_util_time_parse_rejects_impossible_date(void **state)
{
	static const char *const bad[] = {
	    "2023-02-29", "2023-02-30",          "2024-02-30",
	    "2023-04-31", "2023-06-31 12:00:00", "1900-02-29",
	};
	int64_t t;
	size_t i;

	(void)state;
	assert_int_equal(time_parse("2024-02-29", &t), LETHE_OK);
	assert_int_equal(time_parse("2000-02-29 23:59:59", &t), LETHE_OK);
	assert_int_equal(time_parse("2023-01-31", &t), LETHE_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char back[32] = "";

		t = 777;
		if (time_parse(bad[i], &t) == LETHE_OK) {
			time_format(t, back, sizeof(back));
			fail_msg("time_parse accepted '%s' as %s", bad[i], back);
		}
	}
}

/* ---- buf --------------------------------------------------------------- */

static void
test_util_buf_basic(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_adds(&b, "hello"), LETHE_OK);
	assert_int_equal(buf_add(&b, ", ", 2), LETHE_OK);
	assert_int_equal(buf_addf(&b, "%s %d", "world", 42), LETHE_OK);
	assert_string_equal(buf_str(&b), "hello, world 42");
	assert_int_equal(b.len, strlen("hello, world 42"));
	assert_int_equal(buf_add(&b, "", 0), LETHE_OK);
	assert_string_equal(buf_str(&b), "hello, world 42");
	buf_reset(&b);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_adds(&b, "again"), LETHE_OK);
	assert_string_equal(buf_str(&b), "again");
	buf_free(&b);
	assert_string_equal(buf_str(&b), "");
}

static void
test_util_buf_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_adds(&b, "12345"), LETHE_OK);
	/* Past the cap: refused, contents unchanged. */
	assert_int_equal(buf_adds(&b, "678901"), LETHE_E_TOOBIG);
	assert_string_equal(buf_str(&b), "12345");
	assert_int_equal(b.len, 5);
	assert_int_equal(buf_addf(&b, "%s", "abcdef"), LETHE_E_TOOBIG);
	assert_string_equal(buf_str(&b), "12345");
	assert_int_equal(b.len, 5);
	/* Exactly up to the cap is fine. */
	assert_int_equal(buf_adds(&b, "67890"), LETHE_OK);
	assert_string_equal(buf_str(&b), "1234567890");
	assert_int_equal(b.len, 10);
	/* Even one byte more is not; nor is a huge size that would wrap. */
	assert_int_equal(buf_add(&b, "x", 1), LETHE_E_TOOBIG);
	assert_int_equal(buf_add(&b, "x", SIZE_MAX), LETHE_E_TOOBIG);
	assert_string_equal(buf_str(&b), "1234567890");
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_add(&b, "", 0), LETHE_OK);
	buf_free(&b);

	/* A cap of zero takes nothing but the empty string. */
	buf_init(&b, 0);
	assert_int_equal(buf_adds(&b, "a"), LETHE_E_TOOBIG);
	assert_string_equal(buf_str(&b), "");
	buf_free(&b);
}

static void
test_util_buf_addf_long(void **state)
{
	struct buf b;
	char big[1001];

	(void)state;
	memset(big, 'z', 1000);
	big[1000] = '\0';
	buf_init(&b, 4096);
	assert_int_equal(buf_adds(&b, "<"), LETHE_OK);
	/* Longer than buf_addf's stack buffer. */
	assert_int_equal(buf_addf(&b, "%s|%s", big, "end"), LETHE_OK);
	assert_int_equal(b.len, 1 + 1000 + 4);
	assert_memory_equal(buf_str(&b) + 1, big, 1000);
	assert_string_equal(buf_str(&b) + 1001, "|end");
	buf_free(&b);

	buf_init(&b, 500);
	assert_int_equal(buf_adds(&b, "keep"), LETHE_OK);
	assert_int_equal(buf_addf(&b, "%s", big), LETHE_E_TOOBIG);
	assert_string_equal(buf_str(&b), "keep");
	/* Fits in the stack buffer but not under the cap after existing data. */
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(buf_adds(&b, "keep"), LETHE_OK);
	assert_int_equal(buf_addf(&b, "%d", 12345), LETHE_E_TOOBIG);
	assert_string_equal(buf_str(&b), "keep");
	buf_free(&b);
}

static void
test_util_buf_grows(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 1u << 20);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_add(&b, "ab", 2), LETHE_OK);
	assert_int_equal(b.len, 20000);
	assert_true(b.alloc > b.len);
	assert_int_equal(buf_str(&b)[20000], '\0');
	assert_int_equal(buf_str(&b)[19998], 'a');
	assert_int_equal(buf_str(&b)[19999], 'b');
	buf_free(&b);
}

/* ---- hash -------------------------------------------------------------- */

static void
key_fill(uint8_t key[HASH_KEY_LEN], uint8_t start)
{
	size_t i;

	for (i = 0; i < HASH_KEY_LEN; i++)
		key[i] = (uint8_t)(start + i);
}

static void
test_util_hash_keyed_known_vector(void **state)
{
	uint8_t key[HASH_KEY_LEN];
	char out[HASH_TEXT_LEN + 1];

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	key_fill(key, 0);
	/* HMAC-SHA256(key=00..1f, "alice@example.com"), first 16 bytes. */
	hash_keyed(key, "alice@example.com", strlen("alice@example.com"), out);
	assert_string_equal(out, "anon:a59fc578d4cb46faab1d6eb348e7c74b");
}

static void
test_util_hash_keyed_properties(void **state)
{
	uint8_t k1[HASH_KEY_LEN], k2[HASH_KEY_LEN];
	char a[HASH_TEXT_LEN + 1], b[HASH_TEXT_LEN + 1], c[HASH_TEXT_LEN + 1];
	char d[HASH_TEXT_LEN + 1];
	size_t i;

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	key_fill(k1, 1);
	key_fill(k2, 2);
	hash_keyed(k1, "bob@example.com", 15, a);
	hash_keyed(k1, "bob@example.com", 15, b);
	hash_keyed(k2, "bob@example.com", 15, c);
	hash_keyed(k1, "bob@example.org", 15, d);
	/* Deterministic. */
	assert_string_equal(a, b);
	/* Form: "anon:" + 32 lowercase hex. */
	assert_int_equal(strlen(a), HASH_TEXT_LEN);
	assert_memory_equal(a, "anon:", 5);
	for (i = 5; i < HASH_TEXT_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	/* Depends on the key and on the value. */
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	/* Length matters: a prefix of the value hashes differently. */
	hash_keyed(k1, "bob@example.com", 14, b);
	assert_string_not_equal(a, b);
	/* Empty value is fine. */
	hash_keyed(k1, "", 0, b);
	assert_true(hash_is_keyed(b));
	/* Hashing a hash never gives back the same text. */
	hash_keyed(k1, a, strlen(a), b);
	assert_string_not_equal(a, b);
}

static void
test_util_hash_is_keyed(void **state)
{
	uint8_t key[HASH_KEY_LEN];
	char h[HASH_TEXT_LEN + 1];
	char t[64];

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	key_fill(key, 7);
	hash_keyed(key, "x", 1, h);
	assert_true(hash_is_keyed(h));
	assert_true(hash_is_keyed("anon:0123456789abcdef0123456789abcdef"));

	assert_false(hash_is_keyed(NULL));
	assert_false(hash_is_keyed(""));
	assert_false(hash_is_keyed("anon:"));
	assert_false(hash_is_keyed("alice@example.com"));
	/* 31 and 33 hex digits. */
	assert_false(hash_is_keyed("anon:0123456789abcdef0123456789abcde"));
	assert_false(hash_is_keyed("anon:0123456789abcdef0123456789abcdef0"));
	/* Non-hex digit. */
	assert_false(hash_is_keyed("anon:0123456789abcdef0123456789abcdeg"));
	assert_false(hash_is_keyed("anon:0123456789abcdef 123456789abcdef"));
	/* Wrong prefix. */
	assert_false(hash_is_keyed("anom:0123456789abcdef0123456789abcdef"));
	assert_false(hash_is_keyed("ANON:0123456789abcdef0123456789abcdef"));
	assert_false(hash_is_keyed(" anon:0123456789abcdef0123456789abcde"));
	/* Trailing text after a valid hash. */
	snprintf(t, sizeof(t), "%s ", h);
	assert_false(hash_is_keyed(t));
	snprintf(t, sizeof(t), "x%s", h);
	assert_false(hash_is_keyed(t));
}

static void
test_util_hash_key_parse(void **state)
{
	static const char hex[] =
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	uint8_t key[HASH_KEY_LEN], want[HASH_KEY_LEN];
	char text[200];

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	key_fill(want, 0);
	memset(key, 0xee, sizeof(key));
	assert_int_equal(hash_key_parse(hex, key), LETHE_OK);
	assert_memory_equal(key, want, HASH_KEY_LEN);

	/* Upper case and surrounding whitespace. */
	memset(key, 0xee, sizeof(key));
	assert_int_equal(hash_key_parse("  000102030405060708090A0B0C0D0E0F"
	                                "101112131415161718191A1B1C1D1E1F\n",
	                                key),
	                 LETHE_OK);
	assert_memory_equal(key, want, HASH_KEY_LEN);

	/* 63 and 65 digits. */
	snprintf(text, sizeof(text), "%.63s", hex);
	assert_int_equal(hash_key_parse(text, key), LETHE_E_CONFIG);
	snprintf(text, sizeof(text), "%s0", hex);
	assert_int_equal(hash_key_parse(text, key), LETHE_E_CONFIG);
	/* Non-hex digit in the right length. */
	snprintf(text, sizeof(text), "%.63sg", hex);
	assert_int_equal(hash_key_parse(text, key), LETHE_E_CONFIG);
	snprintf(text, sizeof(text), "x%.63s", hex);
	assert_int_equal(hash_key_parse(text, key), LETHE_E_CONFIG);
	/* Inner whitespace in the right length. */
	snprintf(text, sizeof(text), "%.31s %.32s", hex, hex + 32);
	assert_int_equal(hash_key_parse(text, key), LETHE_E_CONFIG);
	/* Empty and only whitespace. */
	assert_int_equal(hash_key_parse("", key), LETHE_E_CONFIG);
	assert_int_equal(hash_key_parse("   \n", key), LETHE_E_CONFIG);
	/* An all-ones key. */
	assert_int_equal(hash_key_parse("ffffffffffffffffffffffffffffffff"
	                                "ffffffffffffffffffffffffffffffff",
	                                key),
	                 LETHE_OK);
	memset(want, 0xff, sizeof(want));
	assert_memory_equal(key, want, HASH_KEY_LEN);
}

static void
test_util_hash_hex_and_random(void **state)
{
	static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	uint8_t k1[HASH_KEY_LEN], k2[HASH_KEY_LEN];
	char out[2 * sizeof(bytes) + 1];

	(void)state;
	assert_int_equal(hash_init(), LETHE_OK);
	hash_hex(bytes, sizeof(bytes), out);
	assert_string_equal(out, "00017f80abff");
	hash_hex(bytes, 0, out);
	assert_string_equal(out, "");
	hash_key_random(k1);
	hash_key_random(k2);
	assert_memory_not_equal(k1, k2, HASH_KEY_LEN);
}

/* ---- rc ---------------------------------------------------------------- */

static void
test_util_rc_str(void **state)
{
	(void)state;
	assert_string_equal(lethe_rc_str(LETHE_OK), "ok");
	assert_string_equal(lethe_rc_str(LETHE_E_USAGE), "usage");
	assert_string_equal(lethe_rc_str(LETHE_E_CONFIG), "config");
	assert_string_equal(lethe_rc_str(LETHE_E_DATAMAP), "datamap");
	assert_string_equal(lethe_rc_str(LETHE_E_NOTFOUND), "not_found");
	assert_string_equal(lethe_rc_str(LETHE_E_DB), "database");
	assert_string_equal(lethe_rc_str(LETHE_E_STATE), "state");
	assert_string_equal(lethe_rc_str(LETHE_E_IO), "io");
	assert_string_equal(lethe_rc_str(LETHE_E_BUSY), "busy");
	assert_string_equal(lethe_rc_str(LETHE_E_TOOBIG), "too_big");
	assert_string_equal(lethe_rc_str(LETHE_E_INTERNAL), "internal");
	assert_string_equal(lethe_rc_str((lethe_rc)999), "unknown");
}

static void
test_util_rc_exit(void **state)
{
	(void)state;
	assert_int_equal(lethe_rc_exit(LETHE_OK), 0);
	assert_int_equal(lethe_rc_exit(LETHE_E_USAGE), 2);
	assert_int_equal(lethe_rc_exit(LETHE_E_CONFIG), 3);
	assert_int_equal(lethe_rc_exit(LETHE_E_DATAMAP), 3);
	assert_int_equal(lethe_rc_exit(LETHE_E_NOTFOUND), 1);
	assert_int_equal(lethe_rc_exit(LETHE_E_DB), 1);
	assert_int_equal(lethe_rc_exit(LETHE_E_STATE), 1);
	assert_int_equal(lethe_rc_exit(LETHE_E_IO), 1);
	assert_int_equal(lethe_rc_exit(LETHE_E_BUSY), 1);
	assert_int_equal(lethe_rc_exit(LETHE_E_TOOBIG), 1);
	assert_int_equal(lethe_rc_exit(LETHE_E_INTERNAL), 1);
}

static void
test_util_rc_err_set(void **state)
{
	struct lethe_err err;
	char longarg[2 * LETHE_ERR_MAX];

	(void)state;
	memset(&err, 0, sizeof(err));
	assert_int_equal(lethe_err_set(&err, LETHE_E_IO, "%s:%d: %s", "f.yaml", 3, "bad"),
	                 LETHE_E_IO);
	assert_int_equal(err.rc, LETHE_E_IO);
	assert_string_equal(err.msg, "f.yaml:3: bad");
	/* NULL detail is allowed. */
	assert_int_equal(lethe_err_set(NULL, LETHE_E_DB, "x"), LETHE_E_DB);
	/* Long messages are truncated, still terminated. */
	memset(longarg, 'a', sizeof(longarg) - 1);
	longarg[sizeof(longarg) - 1] = '\0';
	assert_int_equal(lethe_err_set(&err, LETHE_E_TOOBIG, "%s", longarg), LETHE_E_TOOBIG);
	assert_int_equal(strlen(err.msg), LETHE_ERR_MAX - 1);
}

/* ---- log_warnx_limited --------------------------------------------------- */

/* Run @n limited warnings through @l with stderr in a file; the file's text. */
static char *
limited_lines(struct log_limit *l, int n, int *lines)
{
	FILE *f = tmpfile();
	int saved = dup(2);
	static char text[8192];
	size_t len;

	assert_non_null(f);
	fflush(stderr);
	assert_true(dup2(fileno(f), 2) >= 0);
	for (int i = 0; i < n; i++)
		log_warnx_limited(l, "disk full, try %d", i);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	fclose(f);
	*lines = 0;
	for (char *p = text; *p != '\0'; p++)
		*lines += *p == '\n';
	return text;
}

static void
test_util_log_limited_burst_then_count(void **state)
{
	struct log_limit l;
	int lines = 0;
	char *text;

	(void)state;
	log_limit_init(&l, 3, 200.);
	text = limited_lines(&l, 25, &lines);
	/* Three lines of 25 in one window, and nothing about the others yet. */
	assert_int_equal(lines, 3);
	assert_non_null(strstr(text, "try 0"));
	assert_non_null(strstr(text, "try 2"));
	assert_null(strstr(text, "try 3"));
	assert_null(strstr(text, "not logged"));
	/* The next window's first line says how many were left out. */
	usleep(250 * 1000);
	text = limited_lines(&l, 1, &lines);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(text, "try 0 (22 more like this not logged"));
	pthread_mutex_destroy(&l.mu);
}

static void
test_util_log_limited_static_initialiser(void **state)
{
	static struct log_limit l = LOG_LIMIT_INIT(2, 60000.);
	int lines = 0;

	(void)state;
	(void)limited_lines(&l, 10, &lines);
	assert_int_equal(lines, 2);
	(void)limited_lines(&l, 10, &lines);
	assert_int_equal(lines, 0);
}

/* time_json(): the one JSON form of a time (API, status JSON, exports). */
static void
test_util_time_json(void **state)
{
	json_t *j;

	(void)state;
	j = time_json(1792627200);
	assert_true(json_is_string(j));
	assert_string_equal(json_string_value(j), "2026-10-22T00:00:00Z");
	json_decref(j);
	assert_true(json_is_null(time_json(0)));
	assert_true(json_is_null(time_json(-5)));
}

/* A library opened on first use: its functions, a missing one, a missing library. */
static void
test_util_dlib(void **state)
{
	struct dlib d, none;
	size_t (*len)(const char *) = NULL;
	void (*missing)(void) = NULL;

	(void)state;
	memset(&d, 0, sizeof(d));
	assert_true(dlib_open(&d, "libc.so.6"));
	assert_true(dlib_sym(&d, "strlen", &len));
	assert_int_equal(len("lethe"), 5);
	assert_false(dlib_sym(&d, "lethe_no_such_function", &missing));
	assert_null(missing);
	assert_string_equal(d.why, "libc.so.6 has no lethe_no_such_function");
	memset(&none, 0, sizeof(none));
	assert_false(dlib_open(&none, "liblethe-no-such-library.so.0"));
	assert_non_null(strstr(none.why, "liblethe-no-such-library.so.0"));
	assert_false(dlib_sym(&none, "strlen", &len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_util_duration_parse_units),
	    cmocka_unit_test(test_util_time_json),
	    cmocka_unit_test(test_util_duration_parse_combined),
	    cmocka_unit_test(test_util_duration_parse_rejects),
	    cmocka_unit_test(test_util_duration_parse_overflow),
	    cmocka_unit_test(test_util_time_format_known),
	    cmocka_unit_test(test_util_time_parse_forms),
	    cmocka_unit_test(test_util_time_round_trip),
	    cmocka_unit_test(test_util_time_parse_rejects),
	    cmocka_unit_test(test_util_time_parse_rejects_trailing_text),
	    cmocka_unit_test(test_util_time_parse_rejects_impossible_date),
	    cmocka_unit_test(test_util_buf_basic),
	    cmocka_unit_test(test_util_buf_cap),
	    cmocka_unit_test(test_util_buf_addf_long),
	    cmocka_unit_test(test_util_buf_grows),
	    cmocka_unit_test(test_util_hash_keyed_known_vector),
	    cmocka_unit_test(test_util_hash_keyed_properties),
	    cmocka_unit_test(test_util_hash_is_keyed),
	    cmocka_unit_test(test_util_hash_key_parse),
	    cmocka_unit_test(test_util_hash_hex_and_random),
	    cmocka_unit_test(test_util_rc_str),
	    cmocka_unit_test(test_util_rc_exit),
	    cmocka_unit_test(test_util_rc_err_set),
	    cmocka_unit_test(test_util_log_limited_burst_then_count),
	    cmocka_unit_test(test_util_log_limited_static_initialiser),
	    cmocka_unit_test(test_util_dlib),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
