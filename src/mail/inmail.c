/* SPDX-License-Identifier: MIT */
/*
 * inmail.c - an incoming mail parsed with GMime (mail/inmail.h).
 *
 * PLACEHOLDER(issue 17): part A replaces this file.
 */
#include "util/fmacros.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "mail/inmail.h"

lethe_rc
mail_in_parse(const char *raw, size_t len, const char *envelope_from,
              const struct mail_in_limits *lim, struct mail_in *out, struct lethe_err *err)
{
	(void)raw;
	(void)len;
	(void)envelope_from;
	(void)lim;
	memset(out, 0, sizeof(*out));
	return lethe_err_set(err, LETHE_E_INTERNAL, "PLACEHOLDER(issue 17): mail parsing");
}

lethe_rc
mail_in_parse_head(const char *raw, size_t len, const char *envelope_from, struct mail_in *out,
                   struct lethe_err *err)
{
	(void)raw;
	(void)len;
	(void)envelope_from;
	memset(out, 0, sizeof(*out));
	return lethe_err_set(err, LETHE_E_INTERNAL, "PLACEHOLDER(issue 17): mail parsing");
}

void
mail_in_free(struct mail_in *m)
{
	memset(m, 0, sizeof(*m));
}

const char *
mail_in_robot_str(enum mail_in_robot r)
{
	(void)r;
	return "human";
}

char *
mail_in_html_text(const char *html, size_t len, size_t cap)
{
	(void)html;
	(void)len;
	(void)cap;
	return NULL;
}
