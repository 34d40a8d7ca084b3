/* SPDX-License-Identifier: MIT */
/*
 * fuzz_form.c - libFuzzer target for src/http/form.
 *
 * The input is a form body.  For a handful of field names, form_get() is
 * compared with a deliberately plain reference parser (split, decode into
 * fresh buffers, count matches) at several buffer sizes: the exact fit, one
 * byte short, no room at all and plenty.  Any disagreement aborts.
 * Build and run with tests/fuzz/run.
 */
#include "util/fmacros.h"

#include "http/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"signed_request", "a", "", "a b", "=", "&", "%", "\xff"};

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_form: %s\n", what);
		abort();
	}
}

static int
ref_hex(uint8_t c)
{
	static const char digits[] = "0123456789abcdef";
	const char *p;

	if (c >= 'A' && c <= 'F')
		c = (uint8_t)(c - 'A' + 'a');
	p = c != '\0' ? strchr(digits, c) : NULL;
	return p != NULL ? (int)(p - digits) : -1;
}

/* Decode @s (@n bytes) into @out (>= @n bytes); false on a bad escape or a NUL. */
static bool
ref_decode(const uint8_t *s, size_t n, uint8_t *out, size_t *outlen)
{
	size_t i, k = 0;
	uint8_t c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '%') {
			if (i + 2 >= n || ref_hex(s[i + 1]) < 0 || ref_hex(s[i + 2]) < 0)
				return false;
			c = (uint8_t)(ref_hex(s[i + 1]) * 16 + ref_hex(s[i + 2]));
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == '\0')
			return false;
		out[k++] = c;
	}
	*outlen = k;
	return true;
}

/*
 * The reference: LETHE_OK with the value in @val/@vlen, LETHE_E_NOTFOUND or
 * LETHE_E_INVALID (no size limit here).
 */
static lethe_rc
ref_get(const uint8_t *body, size_t len, const char *name, uint8_t *val, size_t *vlen)
{
	uint8_t *tmp = malloc(len + 1);
	size_t start = 0, end, eq, n;
	lethe_rc rc = LETHE_E_NOTFOUND;
	bool match;

	check(tmp != NULL, "out of memory");
	for (start = 0; start <= len; start = end + 1) {
		for (end = start; end < len && body[end] != '&'; end++)
			;
		if (end == start)
			continue;
		for (eq = start; eq < end && body[eq] != '='; eq++)
			;
		if (!ref_decode(body + start, eq - start, tmp, &n)) {
			rc = LETHE_E_INVALID;
			break;
		}
		match = n == strlen(name) && memcmp(tmp, name, n) == 0;
		n = 0;
		if (eq < end && !ref_decode(body + eq + 1, end - eq - 1, tmp, &n)) {
			rc = LETHE_E_INVALID;
			break;
		}
		if (match && rc == LETHE_OK) {
			rc = LETHE_E_INVALID;
			break;
		}
		if (match) {
			memcpy(val, tmp, n);
			*vlen = n;
			rc = LETHE_OK;
		}
	}
	free(tmp);
	return rc;
}

static void
compare(const uint8_t *data, size_t size, const char *name)
{
	uint8_t *want = malloc(size + 1);
	char *out = malloc(size + 2);
	size_t wlen = 0, got = 12345, caps[4];
	lethe_rc wrc, rc;
	size_t i;

	check(want != NULL && out != NULL, "out of memory");
	wrc = ref_get(data, size, name, want, &wlen);
	caps[0] = size + 2;
	caps[1] = wlen + 1;
	caps[2] = wlen;
	caps[3] = 0;
	for (i = 0; i < 4; i++) {
		rc = form_get((const char *)data, size, name, caps[i] ? out : NULL, caps[i], &got);
		if (wrc == LETHE_OK && caps[i] < wlen + 1) {
			check(rc == LETHE_E_TOOBIG, "value that does not fit not TOOBIG");
		} else {
			check(rc == wrc, "result differs from the reference");
		}
		if (rc == LETHE_OK) {
			check(got == wlen, "length differs");
			check(memcmp(out, want, wlen) == 0, "value differs");
			check(out[wlen] == '\0', "value not NUL-terminated");
		} else {
			check(got == 0, "length left behind on failure");
			check(caps[i] == 0 || out[0] == '\0', "value left behind on failure");
		}
	}
	free(want);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		compare(data, size, names[i]);
	return 0;
}
