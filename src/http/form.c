/* SPDX-License-Identifier: MIT */
/*
 * form.c - application/x-www-form-urlencoded field lookup (see form.h).
 *
 * One pass over the body: each pair's name is decoded on the fly and
 * compared with the wanted name; the wanted value is decoded into the
 * caller's buffer, every other value is only checked.  Nothing is allocated,
 * so a client cannot make this grow anything.
 */
#include "util/fmacros.h"

#include "http/form.h"

static int
hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode the byte of @s (@n bytes) at *@i and step past it.  Returns the
 * byte (0..255), or -1 for a bad %-escape or a NUL byte, raw or escaped.
 */
static int
next_byte(const char *s, size_t n, size_t *i)
{
	unsigned char c = (unsigned char)s[*i];
	int hi, lo;

	if (c == '%') {
		if (n - *i < 3)
			return -1;
		hi = hex_val((unsigned char)s[*i + 1]);
		lo = hex_val((unsigned char)s[*i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		c = (unsigned char)(hi << 4 | lo);
		*i += 3;
	} else {
		if (c == '+')
			c = ' ';
		*i += 1;
	}
	return c == '\0' ? -1 : c;
}

/* 1 if @s (@n bytes) decodes to @name, 0 if to something else, -1 if malformed. */
static int
span_match(const char *s, size_t n, const char *name)
{
	size_t i = 0, k = 0;
	bool same = true;
	int c;

	while (i < n) {
		c = next_byte(s, n, &i);
		if (c < 0)
			return -1;
		if (same && name[k] != '\0' && (unsigned char)name[k] == c)
			k++;
		else
			same = false;
	}
	return same && name[k] == '\0';
}

/*
 * Decode @s (@n bytes) into @out (@cap bytes, NUL added) and set *@outlen to
 * the decoded length; with @outlen NULL only check it (@out unused).
 * Returns 0 done, 1 does not fit (checked to the end anyway), -1 malformed.
 */
static int
span_decode(const char *s, size_t n, char *out, size_t cap, size_t *outlen)
{
	size_t i = 0, k = 0;
	int c;

	while (i < n) {
		c = next_byte(s, n, &i);
		if (c < 0)
			return -1;
		if (outlen != NULL && k + 1 < cap)
			out[k] = (char)c;
		k++;
	}
	if (outlen == NULL)
		return 0;
	*outlen = k;
	if (k >= cap)
		return 1;
	out[k] = '\0';
	return 0;
}

/* Leave @out empty and *@outlen 0; return @rc. */
static lethe_rc
form_fail(char *out, size_t cap, size_t *outlen, lethe_rc rc)
{
	if (cap > 0)
		out[0] = '\0';
	if (outlen != NULL)
		*outlen = 0;
	return rc;
}

lethe_rc
form_get(const char *body, size_t len, const char *name, char *out, size_t cap, size_t *outlen)
{
	const char *pair, *amp, *eq, *val;
	size_t pos = 0, pair_n, name_n, val_n, got = 0;
	bool found = false, toobig = false;
	int m, d;

	while (body != NULL && pos < len) {
		pair = body + pos;
		amp = memchr(pair, '&', len - pos);
		pair_n = amp != NULL ? (size_t)(amp - pair) : len - pos;
		pos += pair_n + 1;
		if (pair_n == 0)
			continue;
		eq = memchr(pair, '=', pair_n);
		name_n = eq != NULL ? (size_t)(eq - pair) : pair_n;
		val = pair + name_n + (eq != NULL);
		val_n = pair_n - name_n - (eq != NULL);
		m = span_match(pair, name_n, name);
		if (m < 0 || (m == 1 && found))
			return form_fail(out, cap, outlen, LETHE_E_INVALID);
		if (m == 1) {
			found = true;
			d = span_decode(val, val_n, out, cap, &got);
		} else {
			d = span_decode(val, val_n, NULL, 0, NULL);
		}
		if (d < 0)
			return form_fail(out, cap, outlen, LETHE_E_INVALID);
		if (d > 0)
			toobig = true;
	}
	if (toobig)
		return form_fail(out, cap, outlen, LETHE_E_TOOBIG);
	if (!found)
		return form_fail(out, cap, outlen, LETHE_E_NOTFOUND);
	if (outlen != NULL)
		*outlen = got;
	return LETHE_OK;
}
